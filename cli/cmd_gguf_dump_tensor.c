/*
 * cmd_gguf_dump_tensor.c - `modularbase gguf dump-tensor FILE NAME...`: the
 * dequantized float32 values of tensors. Text: shape, statistics and the
 * first values; --json: every value (shortest exact decimal form); --raw:
 * the little-endian float32 bytes of every named tensor, one after the
 * other, to -o FILE or a pipe. Rows are dequantized one at a time, so any
 * tensor size works in constant memory. The tests use --raw to compare our
 * dequantization bit for bit with gguf-py's.
 */
#include "cli.h"
#include "gguf_print.h"
#include "mb_kernels.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <unistd.h>

struct stats {
    double sum, sumsq;
    float min, max;
    uint64_t n, nan, inf, zero;
};

static void stats_add(struct stats *st, const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float x = v[i];
        if (isnan(x)) {
            st->nan++;
            continue;
        }
        if (isinf(x)) {
            st->inf++;
            continue;
        }
        if (st->n == 0 || x < st->min)
            st->min = x;
        if (st->n == 0 || x > st->max)
            st->max = x;
        st->zero += x == 0.0f;
        st->sum += (double)x;
        st->sumsq += (double)x * (double)x;
        st->n++;
    }
}

static void print_header(FILE *f, const struct mb_gguf_tensor *t)
{
    fprintf(f, "%s: %s [", t->name, mb_dtype_name(t->type));
    for (uint32_t d = 0; d < t->n_dims; d++)
        fprintf(f, "%s%" PRIu64, d ? " \xc3\x97 " : "", t->dims[d]);
    fprintf(f, "], %" PRIu64 " elements\n", t->n_elements);
}

enum mode { MODE_TEXT, MODE_JSON, MODE_RAW };

/* Dequantize t row by row, handing every row to the mode's output. */
static int dump(struct mb_ctx *ctx, const struct mb_gguf *g, const struct mb_gguf_tensor *t,
                enum mode mode, uint64_t count, FILE *out, bool first)
{
    if (!mb_dequantize_supported(t->type))
        return mb_fail(&ctx->err, MB_E_UNSUPPORTED,
                       "%s: tensor '%s' has type %s, which cannot be dequantized", mb_gguf_name(g),
                       t->name, mb_dtype_name(t->type));
    size_t row = (size_t)t->dims[0];
    uint64_t rows = t->n_elements / t->dims[0];
    uint64_t row_bytes = t->nbytes / rows;
    float *buf = mb_malloc(row * sizeof(float));
    if (!buf)
        return mb_fail(&ctx->err, MB_E_NOMEM, "out of memory for a row of %zu floats", row);
    struct stats st;
    memset(&st, 0, sizeof(st));
    uint64_t shown = 0;
    if (mode == MODE_JSON) {
        fputs(first ? "[\n  {\"name\": " : ",\n  {\"name\": ", out);
        mb_json_str(out, t->name, strlen(t->name));
        fprintf(out, ", \"type\": \"%s\", \"shape\": [", mb_dtype_name(t->type));
        for (uint32_t d = 0; d < t->n_dims; d++)
            fprintf(out, "%s%" PRIu64, d ? ", " : "", t->dims[d]);
        fputs("], \"values\": [", out);
    }
    int rc = 0;
    for (uint64_t r = 0; r < rows && !rc; r++) {
        if (mb_interrupted) {
            rc = mb_fail(&ctx->err, MB_E_INTERRUPTED, "interrupted");
            break;
        }
        const uint8_t *src = (const uint8_t *)t->data + r * row_bytes;
        if (!mb_dequantize_row(t->type, src, buf, row)) {
            rc = mb_fail(&ctx->err, MB_E_INTERNAL, "cannot dequantize tensor '%s'", t->name);
            break;
        }
        if (mode == MODE_RAW) {
            if (fwrite(buf, sizeof(float), row, out) != row)
                rc = mb_fail_errno(&ctx->err, errno, "cannot write the values of '%s'", t->name);
            continue;
        }
        if (mode == MODE_TEXT)
            stats_add(&st, buf, row);
        for (size_t i = 0; i < row && shown < count; i++, shown++) {
            if (mode == MODE_JSON) {
                if (shown)
                    fputs(", ", out);
                mb_json_f32(out, buf[i]);
            } else {
                char num[48];
                mb_fmt_f32(buf[i], num, sizeof(num));
                fprintf(out, "%s%s", shown ? ", " : "  values: ", num);
            }
        }
        if (mode == MODE_JSON && shown >= count)
            break; /* nothing more to print */
    }
    mb_free(buf);
    if (rc)
        return rc;
    if (mode == MODE_JSON) {
        fputs("]}", out);
    } else if (mode == MODE_TEXT) {
        if (shown == 0)
            fputs("  values: ...\n", out);
        else
            fprintf(out, "%s\n", shown < t->n_elements ? ", ..." : "");
        char a[48], b[48];
        mb_fmt_f32(st.min, a, sizeof(a));
        mb_fmt_f32(st.max, b, sizeof(b));
        double mean = st.n ? st.sum / (double)st.n : 0.0;
        double var = st.n ? st.sumsq / (double)st.n - mean * mean : 0.0;
        fprintf(out,
                "  min %s, max %s, mean %.6g, std %.6g, zeros %" PRIu64 ", nan %" PRIu64
                ", inf %" PRIu64 "\n",
                a, b, mean, sqrt(var > 0 ? var : 0), st.zero, st.nan, st.inf);
    }
    return 0;
}

int mb_cmd_gguf_dump_tensor(struct mb_ctx *ctx, int argc, char **argv)
{
    bool json = false, raw = false;
    const char *output = NULL;
    uint64_t count = UINT64_MAX;
    const struct mb_opt opts[] = {
        { "json", 0, MB_OPT_FLAG, &json, NULL, "print every value as JSON" },
        { "raw", 0, MB_OPT_FLAG, &raw, NULL,
          "write the values as little-endian float32 bytes (to -o FILE or a pipe)" },
        { "output", 'o', MB_OPT_STRING, &output, "FILE", "write to FILE instead of stdout" },
        { "count", 'n', MB_OPT_UINT, &count, "N",
          "print at most N values per tensor (text: 8 by default)" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase gguf dump-tensor [--json | --raw] [-o FILE] [-n N] FILE NAME...",
        "Dequantize tensors of a GGUF file to float32 and print them: by default the shape, "
        "statistics and the first values; with --json every value; with --raw the float32 "
        "bytes of each named tensor in turn (bit-identical to gguf-py's dequantize).",
        "  modularbase gguf dump-tensor model.gguf output_norm.weight\n"
        "  modularbase gguf dump-tensor --raw -o embd.f32 model.gguf token_embd.weight",
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        return rc;
    if (npos < 2)
        return mb_usage_error(ctx, "'gguf dump-tensor' takes a FILE and at least one tensor NAME");
    if (json && raw)
        return mb_usage_error(ctx, "--json and --raw cannot be used together");
    enum mode mode = raw ? MODE_RAW : json ? MODE_JSON : MODE_TEXT;
    if (mode == MODE_TEXT && count == UINT64_MAX)
        count = 8;
    if (mode == MODE_RAW && !output && ctx->stdout_tty)
        return mb_usage_error(ctx, "refusing to write binary data to a terminal (use -o FILE)");

    struct mb_gguf *g;
    rc = mb_gguf_open(&g, argv[0], &ctx->err);
    if (rc)
        return rc;
    /* Resolve every name first: a typo fails before any output. */
    for (int i = 1; i < npos && !rc; i++) {
        const struct mb_gguf_tensor *t;
        rc = mb_gguf_get_tensor(g, argv[i], &t, &ctx->err);
    }
    FILE *out = stdout;
    if (!rc && output) {
        out = fopen(output, mode == MODE_RAW ? "wb" : "w");
        if (!out)
            rc = mb_fail_errno(&ctx->err, errno, "cannot create '%s'", output);
    }
    for (int i = 1; i < npos && !rc; i++) {
        if (mode == MODE_TEXT && i > 1)
            fputc('\n', out);
        const struct mb_gguf_tensor *t = mb_gguf_find_tensor(g, argv[i]);
        if (mode == MODE_TEXT)
            print_header(out, t);
        rc = dump(ctx, g, t, mode, count, out, i == 1);
    }
    if (!rc && mode == MODE_JSON)
        fputs("\n]\n", out);
    if (out && out != stdout) {
        if (fclose(out) != 0 && !rc)
            rc = mb_fail_errno(&ctx->err, errno, "cannot write '%s'", output);
        if (rc)
            unlink(output);
    }
    mb_gguf_free(g);
    return rc;
}
