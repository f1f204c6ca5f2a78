/*
 * quant_cli.c - the options, notes, progress and summaries that `gguf
 * quantize` and `pack quantize` share (quant_cli.h). The library decides
 * (runtime/mb_quant.h); this file explains: which tensors fell back to another
 * type and why, which are re-quantized, and what the result weighs.
 */
#include "gguf_print.h"
#include "quant_cli.h"

#include <math.h>

/* A type name from an option, checked against what the policy can write. */
static int parse_type(struct mb_ctx *ctx, const char *opt, const char *name, uint32_t *out)
{
    enum mb_dtype t;
    if (!mb_dtype_from_name(name, &t) || !mb_quant_type_ok(t))
        return mb_usage_error(ctx, "%s: unknown or unsupported type '%s' (supported: %s)", opt,
                              name, MB_QUANT_TYPE_NAMES);
    *out = t;
    return 0;
}

int quant_cli_policy(struct mb_ctx *ctx, const struct quant_args *a, struct mb_quant_policy *p)
{
    mb_quant_policy_init(p);
    if (!a->type)
        return mb_usage_error(ctx, "--type is required (%s)", MB_QUANT_TYPE_NAMES);
    int rc = parse_type(ctx, "--type", a->type, &p->type);
    if (!rc && a->embeddings)
        rc = parse_type(ctx, "--embeddings", a->embeddings, &p->embd_type);
    if (!rc && a->head)
        rc = parse_type(ctx, "--head", a->head, &p->head_type);
    if (!rc && a->adapters)
        rc = parse_type(ctx, "--keep-adapters", a->adapters, &p->adapter_type);
    if (!rc && a->threads > MB_POOL_MAX_THREADS)
        rc = mb_usage_error(ctx, "--threads %llu: at most %d", (unsigned long long)a->threads,
                            MB_POOL_MAX_THREADS);
    p->pure = a->pure;
    p->allow_requantize = a->allow_requantize;
    return rc;
}

const char *quant_cli_type_name(uint32_t t, char *buf, size_t cap)
{
    mb_strlcpy(buf, mb_dtype_name(t), cap);
    for (char *c = buf; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    return buf;
}

static void shape_str(const struct mb_gguf_tensor *t, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (uint32_t d = 0; d < t->n_dims && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%llu", d ? " x " : "",
                              (unsigned long long)t->dims[d]);
}

/* One line per tensor: name, shape, from -> to, role, why. */
static void print_item(FILE *f, const struct mb_quant_item *it, const struct mb_quant_stats *st)
{
    char shape[64], a[16], b[16], w[16];
    shape_str(it->t, shape, sizeof(shape));
    fprintf(f, "  %-34s %-14s %-5s -> %-5s %-9s", it->t->name, shape,
            quant_cli_type_name(it->t->type, a, sizeof(a)),
            quant_cli_type_name(it->type, b, sizeof(b)), mb_quant_role_name(it->role));
    if (it->fallback)
        fprintf(f, " fallback from %s", quant_cli_type_name(it->want, w, sizeof(w)));
    if (it->mixed)
        fprintf(f, " q4_k mix");
    if (it->requant)
        fprintf(f, " re-quantized");
    if (it->kept_wide)
        fprintf(f, " kept (already quantized)");
    if (st && st->n) {
        double rmse = sqrt(st->sse / (double)st->n);
        double rel = st->ss > 0 ? sqrt(st->sse / st->ss) : 0;
        fprintf(f, " rmse %.3g (%.2f%%) max %.3g", rmse, 100 * rel, st->max);
    }
    fputc('\n', f);
}

/* One note per (wanted type, written type, row length) group of fallbacks. */
static void note_fallbacks(struct mb_ctx *ctx, const struct mb_quant_plan *plan)
{
    bool *done = mb_calloc(plan->n ? plan->n : 1, 1);
    if (!done)
        return;
    for (size_t i = 0; i < plan->n; i++) {
        const struct mb_quant_item *it = &plan->items[i];
        if (!it->fallback || done[i])
            continue;
        size_t count = 0;
        for (size_t j = i; j < plan->n; j++) {
            const struct mb_quant_item *o = &plan->items[j];
            if (o->fallback && !done[j] && o->want == it->want && o->type == it->type &&
                o->t->dims[0] == it->t->dims[0]) {
                done[j] = true;
                count++;
            }
        }
        const struct mb_dtype_traits *tr = mb_dtype_traits(it->want);
        char a[16], b[16];
        mb_cli_note(ctx,
                    "%zu tensor%s with rows of %llu elements (not a multiple of %u) fall%s back "
                    "from %s to %s, as llama.cpp does (e.g. '%s')",
                    count, count == 1 ? "" : "s", (unsigned long long)it->t->dims[0],
                    tr ? tr->block_len : 0, count == 1 ? "s" : "",
                    quant_cli_type_name(it->want, a, sizeof(a)),
                    quant_cli_type_name(it->type, b, sizeof(b)), it->t->name);
    }
    mb_free(done);
}

int quant_cli_plan(struct mb_ctx *ctx, const struct quant_args *a, const struct mb_gguf *g,
                   const struct mb_quant_policy *p, struct mb_quant_plan *plan)
{
    int rc = mb_quant_plan_make(g, p, plan, &ctx->err);
    if (rc)
        return rc;
    note_fallbacks(ctx, plan);
    size_t kept = 0;
    for (size_t i = 0; i < plan->n; i++)
        kept += plan->items[i].kept_wide;
    if (kept)
        mb_cli_note(ctx,
                    "%zu adapter tensor%s already quantized: kept as %s (f16 would not restore "
                    "precision; --keep-adapters f16 forces it)",
                    kept, kept == 1 ? " is" : "s are", kept == 1 ? "it is" : "they are");
    if (plan->n_requant) {
        const struct mb_quant_item *first = NULL;
        for (size_t i = 0; i < plan->n && !first; i++)
            if (plan->items[i].requant)
                first = &plan->items[i];
        char from[16], to[16];
        quant_cli_type_name(first->t->type, from, sizeof(from));
        quant_cli_type_name(first->type, to, sizeof(to));
        if (!a->allow_requantize)
            return mb_usage_error(ctx,
                                  "%s: %zu tensor%s already quantized (e.g. '%s' is %s); "
                                  "re-quantizing to %s rounds twice and loses more than "
                                  "quantizing the original: pass --allow-requantize to do it "
                                  "anyway",
                                  mb_gguf_name(g), plan->n_requant,
                                  plan->n_requant == 1 ? " is" : "s are", first->t->name, from, to);
        mb_cli_warn(ctx,
                    "re-quantizing %zu tensor%s that %s already quantized (e.g. '%s': %s -> %s); "
                    "the rounding errors add up",
                    plan->n_requant, plan->n_requant == 1 ? "" : "s",
                    plan->n_requant == 1 ? "is" : "are", first->t->name, from, to);
    }
    return 0;
}

static void print_json(const struct quant_args *a, const struct mb_gguf *g,
                       const struct mb_quant_plan *plan, const struct mb_quant_policy *p,
                       const char *out_path, const struct mb_quant_stats *stats, double secs,
                       const char *json_extra)
{
    FILE *f = stdout;
    char b[16];
    fputs("{\n  \"input\": ", f);
    mb_cli_json_string(f, mb_gguf_name(g));
    fputs(",\n  \"output\": ", f);
    if (out_path)
        mb_cli_json_string(f, out_path);
    else
        fputs("null", f);
    fprintf(f, ",\n  \"type\": \"%s\",\n  \"pure\": %s,\n  \"dry_run\": %s,\n",
            quant_cli_type_name(p->type, b, sizeof(b)), p->pure ? "true" : "false",
            a->dry_run ? "true" : "false");
    fprintf(f, "  \"file_type\": %u,\n  \"tensors\": [\n", mb_quant_file_type(p));
    for (size_t i = 0; i < plan->n; i++) {
        const struct mb_quant_item *it = &plan->items[i];
        fputs("    {\"name\": ", f);
        mb_cli_json_string(f, it->t->name);
        fputs(", \"shape\": [", f);
        for (uint32_t d = 0; d < it->t->n_dims; d++)
            fprintf(f, "%s%llu", d ? ", " : "", (unsigned long long)it->t->dims[d]);
        fprintf(f, "], \"role\": \"%s\", \"from\": \"%s\"", mb_quant_role_name(it->role),
                quant_cli_type_name(it->t->type, b, sizeof(b)));
        fprintf(f, ", \"want\": \"%s\"", quant_cli_type_name(it->want, b, sizeof(b)));
        fprintf(f, ", \"to\": \"%s\", \"fallback\": %s, \"mixed\": %s, \"requantized\": %s",
                quant_cli_type_name(it->type, b, sizeof(b)), it->fallback ? "true" : "false",
                it->mixed ? "true" : "false", it->requant ? "true" : "false");
        fprintf(f, ", \"bytes_in\": %llu, \"bytes_out\": %llu", (unsigned long long)it->t->nbytes,
                (unsigned long long)it->nbytes);
        if (stats && stats[i].n) {
            fputs(", \"rmse\": ", f);
            mb_json_f64(f, sqrt(stats[i].sse / (double)stats[i].n));
            fputs(", \"rel_rmse\": ", f);
            mb_json_f64(f, stats[i].ss > 0 ? sqrt(stats[i].sse / stats[i].ss) : 0.0);
            fputs(", \"max_err\": ", f);
            mb_json_f64(f, stats[i].max);
        }
        fprintf(f, "}%s\n", i + 1 < plan->n ? "," : "");
    }
    fprintf(f, "  ],\n  \"converted\": %zu,\n  \"fallback\": %zu,\n  \"requantized\": %zu,\n",
            plan->n_convert, plan->n_fallback, plan->n_requant);
    fprintf(f, "  \"bytes_in\": %llu,\n  \"bytes_out\": %llu,\n  \"seconds\": ",
            (unsigned long long)plan->bytes_in, (unsigned long long)plan->bytes_out);
    mb_json_f64(f, secs);
    if (json_extra)
        fprintf(f, ",\n  %s", json_extra);
    fputs("\n}\n", f);
}

int quant_cli_write(struct mb_ctx *ctx, const struct quant_args *a, const struct mb_gguf *g,
                    const struct mb_quant_plan *plan, const struct mb_quant_policy *p,
                    const char *out_path, const char *const *set_str, const char *json_extra)
{
    char b[16], in_s[32], out_s[32];
    if (!a->json && (a->verbose || a->dry_run) && !a->stats)
        for (size_t i = 0; i < plan->n; i++)
            print_item(stdout, &plan->items[i], NULL);
    struct mb_quant_stats *stats = NULL;
    if (a->stats && !a->dry_run) {
        stats = mb_calloc(plan->n ? plan->n : 1, sizeof(*stats));
        if (!stats)
            return mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
    }
    uint64_t t0 = mb_now_ns();
    int rc = 0;
    if (!a->dry_run) {
        struct mb_cli_progress bar;
        mb_cli_progress_init(&bar, ctx);
        struct mb_progress prog = mb_cli_progress_cb(&bar);
        struct mb_quant_write_opts o = { (unsigned)a->threads, &prog, set_str, stats };
        rc = mb_quant_write_file(g, plan, p, &o, out_path, &ctx->err);
        mb_cli_progress_done(&bar);
    }
    double secs = (double)(mb_now_ns() - t0) / 1e9;
    if (rc) {
        mb_free(stats);
        return rc;
    }
    if (a->json) {
        print_json(a, g, plan, p, a->dry_run ? NULL : out_path, stats, secs, json_extra);
        mb_free(stats);
        return 0;
    }
    if (stats) {
        double sse = 0, ss = 0, n = 0;
        for (size_t i = 0; i < plan->n; i++) {
            if (a->verbose || stats[i].n)
                print_item(stdout, &plan->items[i], &stats[i]);
            sse += stats[i].sse;
            ss += stats[i].ss;
            n += (double)stats[i].n;
        }
        if (n > 0)
            printf("quantization error over %.0f converted elements: rmse %.4g, relative %.3f%%\n",
                   n, sqrt(sse / n), ss > 0 ? 100 * sqrt(sse / ss) : 0.0);
    }
    mb_format_size(plan->bytes_in, in_s, sizeof(in_s));
    mb_format_size(plan->bytes_out, out_s, sizeof(out_s));
    printf("%s %s: %zu tensors, %zu converted to %s%s (%zu fell back), %zu kept; tensor data %s "
           "-> %s (%.1f%%)",
           a->dry_run ? "would write" : "wrote", a->display_out ? a->display_out : out_path,
           plan->n, plan->n_convert, quant_cli_type_name(p->type, b, sizeof(b)),
           p->type == MB_DTYPE_Q4_K && !p->pure ? " mix" : "", plan->n_fallback,
           plan->n - plan->n_convert, in_s, out_s,
           plan->bytes_in ? 100.0 * (double)plan->bytes_out / (double)plan->bytes_in : 100.0);
    if (!a->dry_run)
        printf(" in %.1f s", secs);
    putchar('\n');
    mb_free(stats);
    return 0;
}
