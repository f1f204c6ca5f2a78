/*
 * cmd_gguf_inspect.c - `modularbase gguf inspect FILE [--json] [--tensors]`:
 * what a GGUF file holds, like llama.cpp's gguf-dump. Text: version, size,
 * architecture, every metadata key with its type and a one-line value (long
 * strings cut, long arrays summarised), totals by tensor type, and with
 * --tensors one line per tensor. JSON: everything, exact and complete
 * (value types, full arrays, tensor offsets), for scripts and tests. The file
 * is mapped, never read whole, so this is fast on any model size.
 */
#include "cli.h"
#include "gguf_print.h"
#include "mb_kernels.h"

#include <inttypes.h>

/* Per-type totals. */
struct type_total {
    uint64_t tensors, params, bytes;
};

static void totals(const struct mb_gguf *g, struct type_total *by_type, struct type_total *all)
{
    memset(by_type, 0, sizeof(*by_type) * MB_DTYPE_COUNT);
    memset(all, 0, sizeof(*all));
    for (size_t i = 0; i < mb_gguf_tensor_count(g); i++) {
        const struct mb_gguf_tensor *t = mb_gguf_tensor_at(g, i);
        /* Types are checked by the reader; sums of sizes inside one file cannot overflow. */
        struct type_total *tt = &by_type[t->type];
        tt->tensors++;
        tt->params += t->n_elements;
        tt->bytes += t->nbytes;
        all->tensors++;
        all->params += t->n_elements;
        all->bytes += t->nbytes;
    }
}

static void json_shape(FILE *f, const struct mb_gguf_tensor *t)
{
    fputc('[', f);
    for (uint32_t d = 0; d < t->n_dims; d++)
        fprintf(f, "%s%" PRIu64, d ? ", " : "", t->dims[d]);
    fputc(']', f);
}

static void print_json(FILE *f, const struct mb_gguf *g)
{
    fputs("{\n  \"file\": ", f);
    mb_json_str(f, mb_gguf_name(g), strlen(mb_gguf_name(g)));
    fprintf(f,
            ",\n  \"version\": %" PRIu32 ",\n  \"size\": %" PRIu64 ",\n  \"alignment\": %" PRIu32
            ",\n  \"data_offset\": %" PRIu64 ",\n  \"architecture\": ",
            mb_gguf_version(g), mb_gguf_size(g), mb_gguf_alignment(g), mb_gguf_data_offset(g));
    const struct mb_gguf_kv *arch = mb_gguf_find_kv(g, "general.architecture");
    if (arch && arch->value.type == MB_GGUF_TYPE_STRING)
        mb_json_str(f, arch->value.v.s.p, arch->value.v.s.n);
    else
        fputs("null", f);
    fputs(",\n  \"metadata\": [", f);
    for (size_t i = 0; i < mb_gguf_kv_count(g); i++) {
        const struct mb_gguf_kv *kv = mb_gguf_kv_at(g, i);
        fputs(i ? ",\n    {\"key\": " : "\n    {\"key\": ", f);
        mb_json_str(f, kv->key, kv->key_len);
        fprintf(f, ", \"offset\": %" PRIu64 ", \"type\": \"%s\"", kv->offset,
                mb_gguf_type_name(kv->value.type));
        if (kv->value.type == MB_GGUF_TYPE_ARRAY)
            fprintf(f, ", \"element_type\": \"%s\", \"count\": %zu",
                    mb_gguf_type_name(kv->value.v.arr.type), kv->value.v.arr.n);
        fputs(", \"value\": ", f);
        mb_json_gguf_value(f, &kv->value);
        fputc('}', f);
    }
    fputs(mb_gguf_kv_count(g) ? "\n  ],\n  \"tensors\": [" : "],\n  \"tensors\": [", f);
    for (size_t i = 0; i < mb_gguf_tensor_count(g); i++) {
        const struct mb_gguf_tensor *t = mb_gguf_tensor_at(g, i);
        fputs(i ? ",\n    {\"name\": " : "\n    {\"name\": ", f);
        mb_json_str(f, t->name, strlen(t->name));
        fprintf(f,
                ", \"type\": \"%s\", \"type_id\": %" PRIu32 ", \"shape\": ", mb_dtype_name(t->type),
                t->type);
        json_shape(f, t);
        fprintf(f,
                ", \"n_elements\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"offset\": %" PRIu64
                ", \"file_offset\": %" PRIu64 "}",
                t->n_elements, t->nbytes, t->offset, t->file_offset);
    }
    struct type_total by_type[MB_DTYPE_COUNT], all;
    totals(g, by_type, &all);
    fprintf(f,
            "%s],\n  \"totals\": {\"tensors\": %" PRIu64 ", \"parameters\": %" PRIu64
            ", \"bytes\": %" PRIu64 ", \"by_type\": {",
            mb_gguf_tensor_count(g) ? "\n  " : "", all.tensors, all.params, all.bytes);
    bool first = true;
    for (uint32_t t = 0; t < MB_DTYPE_COUNT; t++) {
        if (!by_type[t].tensors)
            continue;
        fprintf(f,
                "%s\"%s\": {\"tensors\": %" PRIu64 ", \"parameters\": %" PRIu64
                ", \"bytes\": %" PRIu64 "}",
                first ? "" : ", ", mb_dtype_name(t), by_type[t].tensors, by_type[t].params,
                by_type[t].bytes);
        first = false;
    }
    fputs("}}\n}\n", f);
}

/* "576 × 49152" */
static void text_shape(char *buf, size_t cap, const struct mb_gguf_tensor *t)
{
    size_t len = 0;
    buf[0] = '\0';
    for (uint32_t d = 0; d < t->n_dims && len < cap; d++)
        len +=
            (size_t)snprintf(buf + len, cap - len, "%s%" PRIu64, d ? " \xc3\x97 " : "", t->dims[d]);
}

/* 134515008 -> "134.5 M" */
static const char *human_count(uint64_t n, char *buf, size_t cap)
{
    if (n >= 1000000000ull)
        snprintf(buf, cap, "%.2f B", (double)n / 1e9);
    else if (n >= 1000000ull)
        snprintf(buf, cap, "%.1f M", (double)n / 1e6);
    else if (n >= 1000ull)
        snprintf(buf, cap, "%.1f K", (double)n / 1e3);
    else
        snprintf(buf, cap, "%" PRIu64, n);
    return buf;
}

static void print_text(FILE *f, const struct mb_gguf *g, bool list_tensors)
{
    char sz[32], hc[32];
    fprintf(f, "%s: GGUF v%" PRIu32 ", %" PRIu64 " bytes (%s)\n", mb_gguf_name(g),
            mb_gguf_version(g), mb_gguf_size(g), mb_format_size(mb_gguf_size(g), sz, sizeof(sz)));
    const struct mb_gguf_kv *kv = mb_gguf_find_kv(g, "general.architecture");
    if (kv && kv->value.type == MB_GGUF_TYPE_STRING) {
        fputs("  architecture: ", f);
        mb_text_gguf_value(f, &kv->value, 60);
        fputc('\n', f);
    }
    kv = mb_gguf_find_kv(g, "general.name");
    if (kv && kv->value.type == MB_GGUF_TYPE_STRING) {
        fputs("  name:         ", f);
        mb_text_gguf_value(f, &kv->value, 60);
        fputc('\n', f);
    }
    fprintf(f, "  alignment:    %" PRIu32 " (data section at offset %" PRIu64 ")\n",
            mb_gguf_alignment(g), mb_gguf_data_offset(g));

    size_t nkv = mb_gguf_kv_count(g), keyw = 10;
    for (size_t i = 0; i < nkv; i++)
        keyw = MB_MAX(keyw, mb_gguf_kv_at(g, i)->key_len);
    keyw = MB_MIN(keyw, 40);
    fprintf(f, "\nmetadata: %zu key%s\n", nkv, nkv == 1 ? "" : "s");
    for (size_t i = 0; i < nkv; i++) {
        kv = mb_gguf_kv_at(g, i);
        char key[128];
        struct mb_gguf_value kv_as_str;
        memset(&kv_as_str, 0, sizeof(kv_as_str));
        kv_as_str.type = MB_GGUF_TYPE_STRING;
        kv_as_str.v.s.p = kv->key;
        kv_as_str.v.s.n = kv->key_len;
        /* Keys are printed raw when printable (the usual case), else escaped. */
        bool plain = kv->key_len < sizeof(key);
        for (size_t k = 0; plain && k < kv->key_len; k++)
            plain = kv->key[k] > 0x20 && kv->key[k] < 0x7f;
        fputs("  ", f);
        if (plain)
            fprintf(f, "%-*s", (int)keyw, kv->key);
        else
            mb_text_gguf_value(f, &kv_as_str, 40);
        fprintf(f, "  %-8s ", mb_gguf_type_name(kv->value.type));
        mb_text_gguf_value(f, &kv->value, 100 - MB_MIN(keyw, 60));
        fputc('\n', f);
    }

    struct type_total by_type[MB_DTYPE_COUNT], all;
    totals(g, by_type, &all);
    fprintf(f, "\ntensors: %" PRIu64 ", %" PRIu64 " parameters (%s), %" PRIu64 " bytes (%s)\n",
            all.tensors, all.params, human_count(all.params, hc, sizeof(hc)), all.bytes,
            mb_format_size(all.bytes, sz, sizeof(sz)));
    if (all.tensors) {
        fprintf(f, "  %-6s %8s %14s %14s\n", "type", "tensors", "parameters", "bytes");
        for (uint32_t t = 0; t < MB_DTYPE_COUNT; t++)
            if (by_type[t].tensors)
                fprintf(f, "  %-6s %8" PRIu64 " %14" PRIu64 " %14" PRIu64 "\n", mb_dtype_name(t),
                        by_type[t].tensors, by_type[t].params, by_type[t].bytes);
    }
    if (!list_tensors || !all.tensors)
        return;
    size_t namew = 4;
    for (size_t i = 0; i < mb_gguf_tensor_count(g); i++)
        namew = MB_MAX(namew, strlen(mb_gguf_tensor_at(g, i)->name));
    fprintf(f, "\n  %5s  %-*s  %-6s %-24s %12s %12s\n", "#", (int)namew, "name", "type", "shape",
            "bytes", "offset");
    for (size_t i = 0; i < mb_gguf_tensor_count(g); i++) {
        const struct mb_gguf_tensor *t = mb_gguf_tensor_at(g, i);
        char shape[128];
        text_shape(shape, sizeof(shape), t);
        /* "×" is two bytes but one column: pad by display width. */
        int extra = 0;
        for (const char *p = shape; (p = strstr(p, "\xc3\x97")); p += 2)
            extra++;
        fprintf(f, "  %5zu  %-*s  %-6s %-*s %12" PRIu64 " %12" PRIu64 "\n", i, (int)namew, t->name,
                mb_dtype_name(t->type), 24 + extra, shape, t->nbytes, t->file_offset);
    }
}

int mb_cmd_gguf_inspect(struct mb_ctx *ctx, int argc, char **argv)
{
    bool json = false, tensors = false;
    const struct mb_opt opts[] = {
        { "json", 0, MB_OPT_FLAG, &json, NULL,
          "print everything as JSON (all values in full, with types and offsets)" },
        { "tensors", 't', MB_OPT_FLAG, &tensors, NULL, "list every tensor" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase gguf inspect [--json] [--tensors] FILE",
        "Show what a GGUF file holds: its version, architecture, metadata (long strings cut and "
        "long arrays summarised in text mode, complete with --json), totals per tensor type, and "
        "with --tensors every tensor's name, type, shape, size and offset. The file is checked "
        "completely (every count, length, offset and dimension) and mapped, not read.",
        "  modularbase gguf inspect model.gguf\n"
        "  modularbase gguf inspect --tensors model.gguf\n"
        "  modularbase gguf inspect --json model.gguf | jq '.metadata[].key'",
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        return rc;
    if (npos != 1)
        return mb_usage_error(ctx, "'gguf inspect' takes one FILE");
    struct mb_gguf *g;
    rc = mb_gguf_open(&g, argv[0], &ctx->err);
    if (rc)
        return rc;
    if (json)
        print_json(stdout, g);
    else
        print_text(stdout, g, tensors);
    mb_gguf_free(g);
    return 0;
}
