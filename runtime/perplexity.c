/*
 * perplexity.c - llama.cpp's chunked perplexity (mb_perplexity.h): the chunk
 * loop, the scoring of the second half of each chunk and the final estimate
 * with its error, over any source of logits; and the source for a plain
 * model's session. The arithmetic follows tools/perplexity/perplexity.cpp
 * (log_softmax, process_logits and the final estimate) operation for operation,
 * so that on the same logits the two tools print the same digits.
 */
#include "mb_model.h"
#include "mb_perplexity.h"

#include <math.h>

void mb_ppl_opts_init(struct mb_ppl_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->n_ctx = 512;
    o->bos = -1;
}

double mb_ppl_nll(const float *logits, size_t n_vocab, int32_t tok)
{
    float max_logit = logits[0];
    for (size_t i = 1; i < n_vocab; ++i)
        max_logit = MB_MAX(max_logit, logits[i]);
    double sum_exp = 0.0;
    for (size_t i = 0; i < n_vocab; ++i)
        sum_exp += (double)expf(logits[i] - max_logit);
    /* llama.cpp: logits[tok] - max_logit - log(sum_exp), a float minus a double */
    return -((double)(logits[tok] - max_logit) - log(sum_exp));
}

static int session_eval(void *ud, const int32_t *ids, size_t n, size_t first, float *logits,
                        struct mb_err *err)
{
    struct mb_session *s = ud;
    mb_session_reset(s);
    int rc = first ? mb_session_eval(s, ids, first, NULL, err) : 0;
    return rc ? rc : mb_session_eval(s, ids + first, n - first, logits, err);
}

void mb_ppl_source_session(struct mb_session *s, struct mb_ppl_source *out)
{
    out->ud = s;
    out->n_vocab = mb_session_n_vocab(s);
    out->eval_chunk = session_eval;
}

int mb_perplexity(const struct mb_ppl_source *src, const int32_t *tokens, size_t n_tokens,
                  const struct mb_ppl_opts *opts, mb_ppl_chunk_fn on_chunk, void *ud,
                  struct mb_ppl_result *res, struct mb_err *err)
{
    struct mb_ppl_opts dflt;
    mb_ppl_opts_init(&dflt);
    if (!opts)
        opts = &dflt;
    memset(res, 0, sizeof(*res));
    const size_t n_ctx = opts->n_ctx;
    if (n_ctx < 16 || n_ctx % 2 || n_ctx > ((size_t)1 << 24))
        return mb_fail(err, MB_E_USAGE,
                       "perplexity: the context must be an even number of 16 to "
                       "%zu tokens (got %zu)",
                       (size_t)1 << 24, n_ctx);
    if (src->n_vocab == 0)
        return mb_fail(err, MB_E_USAGE, "perplexity: the model has no vocabulary");
    if (opts->bos >= 0 && (size_t)opts->bos >= src->n_vocab)
        return mb_fail(err, MB_E_USAGE, "perplexity: BOS id %d is outside the vocabulary",
                       opts->bos);
    res->n_tokens = n_tokens;
    res->n_ctx = n_ctx;
    if (n_tokens < 2 * n_ctx)
        return mb_fail(err, MB_E_LIMIT,
                       "perplexity: the text has %zu tokens; a context of %zu needs at least "
                       "%zu (two chunks)",
                       n_tokens, n_ctx, 2 * n_ctx);
    for (size_t i = 0; i < n_tokens; i++)
        if (tokens[i] < 0 || (size_t)tokens[i] >= src->n_vocab)
            return mb_fail(err, MB_E_FORMAT,
                           "perplexity: token %zu has id %d, outside the "
                           "vocabulary of %zu",
                           i, tokens[i], src->n_vocab);
    size_t n_chunk = n_tokens / n_ctx;
    if (opts->n_chunks && opts->n_chunks < n_chunk)
        n_chunk = opts->n_chunks;
    const size_t first = n_ctx / 2;
    size_t rows = n_ctx - first, floats;
    if (!mb_mul_ok(rows, src->n_vocab, &floats) || floats > SIZE_MAX / sizeof(float))
        return mb_fail(err, MB_E_LIMIT, "perplexity: %zu x %zu logits do not fit in memory", rows,
                       src->n_vocab);
    float *logits = mb_malloc(floats * sizeof(float));
    int32_t *chunk = mb_malloc(n_ctx * sizeof(int32_t));
    if (!logits || !chunk) {
        mb_free(logits);
        mb_free(chunk);
        return mb_fail(err, MB_E_NOMEM, "out of memory for %zu x %zu logits", rows, src->n_vocab);
    }

    double nll = 0.0, nll2 = 0.0;
    size_t count = 0;
    int rc = 0;
    uint64_t t_all = mb_now_ns();
    for (size_t i = 0; i < n_chunk && !rc; i++) {
        if (mb_interrupted) {
            rc = mb_fail(err, MB_E_INTERRUPTED, "perplexity: interrupted after %zu of %zu chunks",
                         i, n_chunk);
            break;
        }
        const int32_t *start = tokens + i * n_ctx;
        memcpy(chunk, start, n_ctx * sizeof(int32_t));
        if (opts->bos >= 0)
            chunk[0] = opts->bos;
        uint64_t t0 = mb_now_ns();
        rc = src->eval_chunk(src->ud, chunk, n_ctx, first, logits, err);
        if (rc)
            break;
        double cnll = 0.0;
        /* logits row j is position first + j and predicts token first + j + 1 */
        for (size_t j = 0; j + 1 < rows; j++) {
            const double v =
                mb_ppl_nll(logits + j * src->n_vocab, src->n_vocab, start[first + j + 1]);
            nll += v;
            nll2 += v * v;
            cnll += v;
        }
        count += rows - 1;
        if (on_chunk) {
            struct mb_ppl_chunk c = { i, n_chunk, exp(nll / (double)count),
                                      exp(cnll / (double)(rows - 1)),
                                      (double)(mb_now_ns() - t0) / 1e9 };
            rc = on_chunk(ud, &c);
            if (rc && err && err->code == 0)
                mb_fail(err, rc, "perplexity: stopped after chunk %zu", i + 1);
        }
    }
    mb_free(logits);
    mb_free(chunk);
    if (rc)
        return rc;

    res->n_chunks = n_chunk;
    res->count = count;
    res->seconds = (double)(mb_now_ns() - t_all) / 1e9;
    nll2 /= (double)count;
    nll /= (double)count;
    res->nll = nll;
    res->nll2 = nll2;
    res->ppl = exp(nll);
    nll2 -= nll * nll;
    res->ppl_err = nll2 > 0 ? sqrt(nll2 / (double)(count - 1)) * res->ppl : 0.0;
    return 0;
}
