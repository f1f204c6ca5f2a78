/*
 * cmd_eval_logits.c - `modularbase eval logits`: the model's raw logits for a
 * token sequence, for comparisons with other runtimes (the llama.cpp golden
 * tests), between our own configurations (batched vs one token at a time, f16
 * vs f32 KV cache) and, later, between a split model and the original. Prints
 * JSON: the tokens, the top-K logits of every position, optionally a greedy
 * continuation with each step's top-1 logit and margin over the second; the
 * full logits go to a binary file (little-endian f32, one row per position).
 */
#include "gguf_print.h"
#include "llm.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>

#define INPUT_MAX ((size_t)16 << 20)
#define TOP_MAX   1024

struct eval_args {
    const char *ids, *logits_path;
    uint64_t top, greedy;
    bool sequential;
};

/* "1, 2,3" -> ids */
static int parse_ids(struct mb_ctx *ctx, const char *s, struct mb_tokens *out)
{
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '[' || *p == ']' || *p == '\n')
            p++;
        if (!*p)
            break;
        char buf[24];
        size_t n = 0;
        while (p[n] && p[n] != ',' && p[n] != ' ' && p[n] != ']' && p[n] != '\n')
            n++;
        if (n == 0 || n >= sizeof(buf))
            return mb_usage_error(ctx, "--ids: '%.*s' is not a token id", (int)MB_MIN(n, 20), p);
        memcpy(buf, p, n);
        buf[n] = '\0';
        uint64_t v;
        if (!mb_parse_u64(buf, &v) || v > INT32_MAX)
            return mb_usage_error(ctx, "--ids: '%s' is not a token id", buf);
        int rc = mb_tokens_push(out, (int32_t)v, &ctx->err);
        if (rc)
            return rc;
        p += n;
    }
    if (out->n == 0)
        return mb_usage_error(ctx, "--ids: no token ids given");
    return 0;
}

/* Indices of the k largest of v[0..n) into idx, best first (ties: lower id first). */
static void top_k(const float *v, size_t n, size_t k, int32_t *idx)
{
    if (k == 0)
        return;
    size_t have = 0;
    for (size_t i = 0; i < n; i++) {
        if (have == k && !(v[i] > v[idx[k - 1]]))
            continue;
        size_t j = have < k ? have++ : k - 1;
        while (j > 0 && v[i] > v[idx[j - 1]]) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = (int32_t)i;
    }
}

static void print_top(const float *row, size_t n_vocab, size_t k, int32_t *idx)
{
    top_k(row, n_vocab, k, idx);
    fputc('[', stdout);
    for (size_t j = 0; j < k; j++) {
        fprintf(stdout, "%s[%d, ", j ? ", " : "", idx[j]);
        mb_json_f32(stdout, row[idx[j]]);
        fputc(']', stdout);
    }
    fputc(']', stdout);
}

static int run(struct mb_ctx *ctx, const struct llm_opts *o, const struct eval_args *a,
               const struct mb_tokens *in_ids, const char *text, size_t text_len)
{
    struct mb_err *err = &ctx->err;
    struct llm l;
    int rc = llm_open(ctx, o, 0, &l);
    if (rc)
        return rc;
    struct mb_tokens toks;
    mb_tokens_init(&toks, INPUT_MAX);
    FILE *lf = NULL;
    float *rows = NULL;
    const size_t n_vocab = mb_session_n_vocab(l.sess), k = MB_MIN((size_t)a->top, n_vocab);
    int32_t idx[TOP_MAX];
    if (in_ids) {
        for (size_t i = 0; i < in_ids->n && !rc; i++)
            rc = mb_tokens_push(&toks, in_ids->v[i], err);
    } else {
        rc = mb_tokenizer_encode(l.tok, text, text_len, MB_TOK_ADD_SPECIAL | MB_TOK_PARSE_SPECIAL,
                                 &toks, err);
    }
    if (!rc && toks.n == 0)
        rc = mb_usage_error(ctx, "the text has no tokens");
    for (size_t i = 0; i < toks.n && !rc; i++)
        if ((size_t)toks.v[i] >= n_vocab)
            rc = mb_fail(err, MB_E_FORMAT, "token id %d is outside the vocabulary of %zu",
                         toks.v[i], n_vocab);
    if (!rc && toks.n + a->greedy > mb_session_n_ctx(l.sess))
        rc = mb_fail(err, MB_E_LIMIT,
                     "%zu tokens and %" PRIu64 " greedy steps do not fit in the context of %zu "
                     "(raise --ctx)",
                     toks.n, a->greedy, mb_session_n_ctx(l.sess));
    if (rc)
        goto out;
    const size_t chunk = a->sequential ? 1 : MB_MIN(toks.n, (size_t)(o->batch ? o->batch : 512));
    rows = mb_calloc(chunk * n_vocab, sizeof(float));
    if (!rows) {
        rc = mb_fail(err, MB_E_NOMEM, "out of memory for %zu rows of logits", chunk);
        goto out;
    }
    if (a->logits_path && !(lf = fopen(a->logits_path, "wb"))) {
        rc = mb_fail_errno(err, errno, "cannot create '%s'", a->logits_path);
        goto out;
    }
    fprintf(stdout, "{\"model\": ");
    const char *what = o->model ? o->model : o->packs;
    mb_json_str(stdout, what, strlen(what));
    fprintf(stdout, ", \"n_vocab\": %zu, \"tokens\": [", n_vocab);
    for (size_t i = 0; i < toks.n; i++)
        fprintf(stdout, "%s%d", i ? ", " : "", toks.v[i]);
    fprintf(stdout, "], \"top\": [");
    uint64_t t0 = mb_now_ns();
    for (size_t c0 = 0; c0 < toks.n; c0 += chunk) {
        size_t m = MB_MIN(chunk, toks.n - c0);
        rc = mb_session_eval(l.sess, toks.v + c0, m, rows, err);
        if (rc)
            goto out;
        if (lf && fwrite(rows, sizeof(float), m * n_vocab, lf) != m * n_vocab) {
            rc = mb_fail_errno(err, errno, "cannot write '%s'", a->logits_path);
            goto out;
        }
        for (size_t i = 0; i < m; i++) {
            fputs(c0 + i ? ", " : "", stdout);
            print_top(rows + i * n_vocab, n_vocab, k, idx);
        }
    }
    uint64_t prompt_ns = mb_now_ns() - t0;
    fprintf(stdout, "], \"greedy\": [");
    for (uint64_t g = 0; g < a->greedy; g++) {
        const float *lg = mb_session_logits(l.sess);
        top_k(lg, n_vocab, 2, idx);
        if (n_vocab < 2)
            idx[1] = idx[0];
        fprintf(stdout, "%s{\"id\": %d, \"logit\": ", g ? ", " : "", idx[0]);
        mb_json_f32(stdout, lg[idx[0]]);
        fputs(", \"margin\": ", stdout);
        mb_json_f32(stdout, lg[idx[0]] - lg[idx[1]]);
        fputc('}', stdout);
        if (g + 1 < a->greedy && (rc = mb_session_eval(l.sess, &idx[0], 1, NULL, err)))
            goto out;
    }
    fprintf(stdout, "], \"prompt_ms\": %.3f}\n", (double)prompt_ns / 1e6);
out:
    if (lf && fclose(lf) != 0 && !rc)
        rc = mb_fail_errno(err, errno, "cannot write '%s'", a->logits_path);
    mb_free(rows);
    mb_tokens_release(&toks);
    llm_close(&l);
    return rc;
}

int mb_cmd_eval_logits(struct mb_ctx *ctx, int argc, char **argv)
{
    struct llm_opts o;
    llm_opts_init(&o);
    struct eval_args a = { NULL, NULL, 5, 0, false };
    const struct mb_opt opts[] = {
        LLM_OPTS_MODEL(o),
        LLM_OPTS_PACKS(o),
        { "ids", 0, MB_OPT_STRING, &a.ids, "LIST", "token ids (\"1,2,3\") instead of a text" },
        { "top", 'k', MB_OPT_UINT, &a.top, "K",
          "logits of the K best tokens per position (default 5)" },
        { "logits", 'o', MB_OPT_STRING, &a.logits_path, "FILE",
          "write every position's logits to FILE (f32, row per position)" },
        { "greedy", 'g', MB_OPT_UINT, &a.greedy, "N", "continue with N greedy tokens" },
        { "sequential", 0, MB_OPT_FLAG, &a.sequential, NULL,
          "evaluate one token at a time (the decode path) instead of in batches" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase eval logits --model FILE.gguf [--ids LIST | TEXT | -] [--top K]\n"
        "                               [--logits FILE] [--greedy N] [--sequential]",
        "Evaluate a token sequence and print the logits the model gives at every position,\n"
        "as JSON: {\"tokens\", \"top\": per position [[id, logit], ...], \"greedy\": [{\"id\",\n"
        "\"logit\", \"margin\"}]}. TEXT (or standard input for '-') is tokenized as\n"
        "`modularbase tokenize` does. Used to compare with llama.cpp (tests/data/golden).",
        "  modularbase eval logits -m model.gguf --ids 504,2365,6354 --top 3\n"
        "  modularbase eval logits -m model.gguf --greedy 64 'The capital of France is'",
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc == 0)
        rc = llm_check_opts(ctx, &o);
    if (rc)
        goto out;
    struct mb_tokens ids;
    mb_tokens_init(&ids, INPUT_MAX);
    struct mb_buf text;
    mb_buf_init(&text, INPUT_MAX);
    if (!o.model == !o.packs)
        rc = mb_usage_error(ctx, "give one of --model FILE.gguf or --packs DIR");
    else if (a.top > TOP_MAX)
        rc = mb_usage_error(ctx, "--top must be at most %d", TOP_MAX);
    else if ((a.ids != NULL) + npos != 1)
        rc = mb_usage_error(ctx, "give exactly one of --ids LIST, TEXT or '-'");
    else if (a.ids)
        rc = parse_ids(ctx, a.ids, &ids);
    else if (!strcmp(argv[0], "-"))
        rc = llm_read_stdin(&text, INPUT_MAX, &ctx->err);
    else
        rc = mb_buf_append_cstr(&text, argv[0], &ctx->err);
    if (!rc)
        rc = run(ctx, &o, &a, a.ids ? &ids : NULL, text.p ? text.p : "", text.n);
    mb_tokens_release(&ids);
    mb_buf_release(&text);
out:
    llm_opts_release(&o);
    return rc == MB_CLI_HELP_SHOWN ? 0 : rc;
}
