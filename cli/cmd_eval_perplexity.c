/*
 * cmd_eval_perplexity.c - `modularbase eval perplexity --model FILE --text
 * FILE [--ctx 512]`: the chunked perplexity of a text under a model, computed
 * as llama.cpp's llama-perplexity computes it (runtime/mb_perplexity.h), with
 * the same per-chunk progress line ([1]12.3456,[2]...) and final estimate
 * ("PPL = X +/- E"), so quantized files can be compared with each other and
 * with llama.cpp's figures. --json prints the result and every chunk.
 */
#include "gguf_print.h"
#include "llm.h"

#include <inttypes.h>
#include <math.h>

#define TEXT_MAX   ((size_t)256 << 20)
#define TOKENS_MAX ((size_t)64 << 20)

struct progress {
    struct mb_ctx *ctx;
    bool json;
    double *chunk_ppl; /* running perplexity after each chunk, for --json */
    size_t n;
};

static int on_chunk(void *ud, const struct mb_ppl_chunk *c)
{
    struct progress *p = ud;
    if (p->chunk_ppl && c->index < p->n)
        p->chunk_ppl[c->index] = c->ppl;
    if (c->index == 0)
        fprintf(stderr, "perplexity: %.2f seconds per chunk - ETA %.2f minutes\n", c->seconds,
                c->seconds * (double)c->n_chunks / 60.0);
    fprintf(stderr, "[%zu]%.4f,", c->index + 1, c->ppl);
    if (c->index + 1 == c->n_chunks)
        fputc('\n', stderr);
    fflush(stderr);
    return 0;
}

int mb_cmd_eval_perplexity(struct mb_ctx *ctx, int argc, char **argv)
{
    struct llm_opts o;
    llm_opts_init(&o);
    const char *text_path = NULL;
    uint64_t chunks = 0;
    bool json = false;
    const struct mb_opt opts[] = {
        LLM_OPTS_MODEL(o),
        { "text", 'f', MB_OPT_STRING, &text_path, "FILE", "the text to score (UTF-8)" },
        { "chunks", 0, MB_OPT_UINT, &chunks, "N", "score only the first N chunks (default all)" },
        { "json", 0, MB_OPT_FLAG, &json, NULL, "print the result and per-chunk values as JSON" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase eval perplexity --model FILE.gguf --text FILE [--ctx 512] [--batch N] "
        "[--threads N] [--chunks N] [--json]",
        "The perplexity of a text under a model, computed as llama.cpp's llama-perplexity does: "
        "the text is tokenized once and cut into chunks of --ctx tokens (default 512); each "
        "chunk is evaluated from an empty context (its first token replaced by BOS when the "
        "vocabulary adds one) and only its second half is scored, so every scored token has at "
        "least ctx/2 tokens of context. Prints the running estimate after each chunk and "
        "'Final estimate: PPL = X +/- E'. The text needs at least 2 x ctx tokens.",
        "  modularbase eval perplexity -m model-q4_0.gguf -f wiki.test.raw\n"
        "  modularbase eval perplexity -m model.gguf -f text.txt --ctx 256 --chunks 10 --json",
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc) {
        llm_opts_release(&o);
        return rc;
    }
    if (npos)
        rc = mb_usage_error(ctx, "unexpected argument '%s'", argv[0]);
    else if (!o.model)
        rc = mb_usage_error(ctx, "--model FILE.gguf is required");
    else if (!text_path)
        rc = mb_usage_error(ctx, "--text FILE is required");
    if (!rc && !o.ctx)
        o.ctx = 512;
    if (!rc && (o.ctx < 16 || o.ctx % 2))
        rc = mb_usage_error(ctx, "--ctx must be an even number of at least 16 (got %" PRIu64 ")",
                            o.ctx);
    rc = rc ? rc : llm_check_opts(ctx, &o);
    if (rc) {
        llm_opts_release(&o);
        return rc;
    }

    struct mb_buf text;
    struct mb_tokens toks;
    struct llm l;
    struct progress prog = { ctx, json, NULL, 0 };
    memset(&l, 0, sizeof(l));
    mb_buf_init(&text, TEXT_MAX);
    mb_tokens_init(&toks, TOKENS_MAX);
    rc = mb_file_read_all(text_path, TEXT_MAX, &text, &ctx->err);
    if (!rc && text.n == 0)
        rc = mb_fail(&ctx->err, MB_E_FORMAT, "%s: the text is empty", text_path);
    rc = rc ? rc : llm_open(ctx, &o, 0, &l);
    if (rc)
        goto done;

    uint64_t t0 = mb_now_ns();
    rc = mb_tokenizer_encode(l.tok, text.p, text.n, MB_TOK_ADD_SPECIAL, &toks, &ctx->err);
    if (rc) {
        mb_err_prefix(&ctx->err, "%s", text_path);
        goto done;
    }
    double tok_s = (double)(mb_now_ns() - t0) / 1e9;
    struct mb_ppl_opts po;
    mb_ppl_opts_init(&po);
    po.n_ctx = (size_t)o.ctx;
    po.n_chunks = (size_t)chunks;
    po.bos = mb_tokenizer_adds_bos(l.tok) ? mb_tokenizer_bos(l.tok) : -1;
    size_t n_chunk = toks.n / po.n_ctx;
    if (po.n_chunks && po.n_chunks < n_chunk)
        n_chunk = po.n_chunks;
    if (json && n_chunk) {
        prog.chunk_ppl = mb_calloc(n_chunk, sizeof(double));
        prog.n = n_chunk;
        if (!prog.chunk_ppl) {
            rc = mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
            goto done;
        }
    }
    fprintf(stderr,
            "perplexity: %s: %zu tokens (tokenized in %.2f s); %zu chunks of %zu tokens, "
            "batch %zu, %u threads%s\n",
            text_path, toks.n, tok_s, n_chunk, po.n_ctx,
            o.batch ? (size_t)o.batch : (size_t)MB_SESSION_DEFAULT_BATCH,
            mb_backend_cpu_threads(l.be), po.bos >= 0 ? ", BOS at each chunk" : "");
    struct mb_ppl_source src;
    mb_ppl_source_session(l.sess, &src);
    struct mb_ppl_result res;
    rc = mb_perplexity(&src, toks.v, toks.n, &po, on_chunk, &prog, &res, &ctx->err);
    if (rc) {
        if (rc == MB_E_LIMIT)
            mb_err_prefix(&ctx->err, "%s", text_path);
        goto done;
    }
    if (json) {
        printf("{\n  \"model\": ");
        mb_cli_json_string(stdout, o.model);
        printf(",\n  \"text\": ");
        mb_cli_json_string(stdout, text_path);
        printf(",\n  \"tokens\": %zu,\n  \"n_ctx\": %zu,\n  \"chunks\": %zu,\n  \"scored\": %zu,\n",
               res.n_tokens, res.n_ctx, res.n_chunks, res.count);
        printf("  \"bos\": %s,\n  \"ppl\": ", po.bos >= 0 ? "true" : "false");
        mb_json_f64(stdout, res.ppl);
        printf(",\n  \"ppl_err\": ");
        mb_json_f64(stdout, res.ppl_err);
        printf(",\n  \"nll\": ");
        mb_json_f64(stdout, res.nll);
        printf(",\n  \"seconds\": ");
        mb_json_f64(stdout, res.seconds);
        printf(",\n  \"tokens_per_second\": ");
        mb_json_f64(stdout,
                    res.seconds > 0 ? (double)(res.n_chunks * res.n_ctx) / res.seconds : 0.0);
        printf(",\n  \"chunk_ppl\": [");
        for (size_t i = 0; i < res.n_chunks; i++) {
            printf("%s", i ? ", " : "");
            mb_json_f64(stdout, prog.chunk_ppl[i]);
        }
        printf("]\n}\n");
    } else {
        printf("Final estimate: PPL = %.4f +/- %.5f\n", res.ppl, res.ppl_err);
        fprintf(stderr, "perplexity: %zu tokens scored in %.1f s (%.0f tokens/s evaluated)\n",
                res.count, res.seconds,
                res.seconds > 0 ? (double)(res.n_chunks * res.n_ctx) / res.seconds : 0.0);
    }
done:
    mb_free(prog.chunk_ppl);
    if (l.model)
        llm_close(&l);
    mb_tokens_release(&toks);
    mb_buf_release(&text);
    llm_opts_release(&o);
    return rc;
}
