/*
 * mb_perplexity.h - the chunked perplexity of llama.cpp's `llama-perplexity`,
 * so that figures from the two tools compare directly:
 *
 *  - the text is tokenized once (with BOS/EOS as the vocabulary asks, as
 *    llama.cpp's common_tokenize(add_special = true) does) and cut into
 *    floor(n_tokens / n_ctx) chunks of n_ctx tokens; at least 2 * n_ctx
 *    tokens are needed;
 *  - each chunk is evaluated from an empty context; when the vocabulary adds a
 *    BOS token, the chunk's first token is replaced by BOS;
 *  - only the second half is scored: the logits at positions n_ctx/2 .. n_ctx-2
 *    predict tokens n_ctx/2 + 1 .. n_ctx-1 (n_ctx - n_ctx/2 - 1 per chunk), so
 *    every scored token has at least n_ctx/2 tokens of context;
 *  - nll = -log softmax(logits)[next], with llama.cpp's arithmetic (float
 *    differences, a double sum of expf); ppl = exp(mean nll) and its error
 *    ppl * sqrt((mean nll^2 - mean^2) / (count - 1)).
 *
 * The scoring loop knows nothing about models: it asks a struct
 * mb_ppl_source for a chunk's logits. mb_ppl_source_session() adapts a plain
 * model's session; the modular runtime provides its own source for base +
 * packs.
 *
 * Errors: 0 or a negative MB_E_* code with err filled. MB_E_USAGE for bad
 * options, MB_E_LIMIT when the text is shorter than two chunks (the message
 * says how many tokens it has), the source's errors, MB_E_INTERRUPTED (polled
 * between chunks).
 */
#ifndef MB_PERPLEXITY_H
#define MB_PERPLEXITY_H

#include "mb_common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mb_session;

/* Where logits come from. */
struct mb_ppl_source {
    void *ud;
    size_t n_vocab;
    /*
     * Evaluate ids[0..n) at positions 0..n-1 of a fresh context and write the
     * logits of positions first..n-1 into logits: (n - first) rows of n_vocab
     * floats. Return 0 or an MB_E_* code with err filled.
     */
    int (*eval_chunk)(void *ud, const int32_t *ids, size_t n, size_t first, float *logits,
                      struct mb_err *err);
};

/* A source over a session of a plain model (borrowed): reset, evaluate, logits. */
void mb_ppl_source_session(struct mb_session *s, struct mb_ppl_source *out);

struct mb_ppl_opts {
    size_t n_ctx;    /* tokens per chunk (default 512); even, at least 16 */
    size_t n_chunks; /* chunks to score, 0 = all */
    int32_t bos;     /* the BOS id put at the start of every chunk, or -1 for none */
};
void mb_ppl_opts_init(struct mb_ppl_opts *o);

/* What the progress callback sees after each chunk. */
struct mb_ppl_chunk {
    size_t index;     /* 0-based */
    size_t n_chunks;  /* chunks that will be scored */
    double ppl;       /* perplexity over the chunks so far */
    double chunk_ppl; /* this chunk alone */
    double seconds;   /* evaluating this chunk */
};
/* Called after every chunk; a non-zero return stops the run with that code. */
typedef int (*mb_ppl_chunk_fn)(void *ud, const struct mb_ppl_chunk *c);

struct mb_ppl_result {
    size_t n_tokens; /* tokens in the text */
    size_t n_ctx;
    size_t n_chunks; /* chunks scored */
    size_t count;    /* tokens scored */
    double nll;      /* mean negative log-likelihood (nats) */
    double nll2;     /* mean of its square */
    double ppl;      /* exp(nll) */
    double ppl_err;  /* llama.cpp's "+/-" */
    double seconds;  /* evaluating all chunks */
};

/*
 * Score tokens[0..n_tokens) (not modified) as described above, calling
 * on_chunk (may be NULL) after each chunk.
 */
int mb_perplexity(const struct mb_ppl_source *src, const int32_t *tokens, size_t n_tokens,
                  const struct mb_ppl_opts *opts, mb_ppl_chunk_fn on_chunk, void *ud,
                  struct mb_ppl_result *res, struct mb_err *err);

/* -log softmax(logits[0..n_vocab))[tok], computed exactly as llama.cpp does. */
double mb_ppl_nll(const float *logits, size_t n_vocab, int32_t tok);

#ifdef __cplusplus
}
#endif

#endif /* MB_PERPLEXITY_H */
