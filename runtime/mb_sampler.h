/*
 * mb_sampler.h - choosing the next token from the model's logits, and deciding
 * when generation stops.
 *
 * The sampler follows llama.cpp's default chain and semantics: repetition
 * penalties over the last N accepted tokens, then top-k, top-p, min-p,
 * temperature, and a draw from the resulting distribution (greedy when the
 * temperature is 0). Draws come from the sampler's own PRNG (xoshiro256**
 * seeded through splitmix64), so a seed reproduces a run exactly on every
 * machine; the draws are not llama.cpp's (it uses std::mt19937).
 *
 * The stop helper (struct mb_stop) applies the stop conditions to the decoded
 * text of each generated token: end-of-generation tokens, stop strings (matched
 * across token boundaries, withholding text that might be the start of one) and
 * a maximum number of tokens.
 *
 * A sampler is not thread-safe; use one per generation stream.
 */
#ifndef MB_SAMPLER_H
#define MB_SAMPLER_H

#include "mb_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* mb_sampler_params.seed value: draw a seed from the system's entropy source. */
#define MB_SAMPLER_SEED_RANDOM UINT64_MAX
/* Largest history the repetition penalty looks at (repeat_last_n = -1 means this). */
#define MB_SAMPLER_MAX_HISTORY 65536

struct mb_sampler_params {
    float temperature;     /* 0 = greedy; must be >= 0 */
    int32_t top_k;         /* keep the k most likely tokens; 0 = off; must be >= 0 */
    float top_p;           /* nucleus: smallest set with probability >= top_p; in (0, 1], 1 = off */
    float min_p;           /* drop tokens below min_p * p(most likely); in [0, 1], 0 = off */
    float repeat_penalty;  /* > 0; 1 = off (llama.cpp: logit > 0 ? /= : *=) */
    int32_t repeat_last_n; /* tokens of history penalised; 0 = off, -1 = all (capped) */
    float frequency_penalty; /* subtracted once per occurrence in the history; 0 = off */
    float presence_penalty;  /* subtracted once if present in the history; 0 = off */
    uint64_t seed;           /* MB_SAMPLER_SEED_RANDOM = random */
};

/* llama.cpp's defaults: temperature 0.8, top-k 40, top-p 0.95, min-p 0.05, no repetition
 * penalty (1.0) over the last 64 tokens, random seed. */
void mb_sampler_params_init(struct mb_sampler_params *p);

/*
 * Check the values; MB_E_USAGE with a message naming the parameter
 * ("temperature must be >= 0 (got -1)") when one is out of range or not finite.
 */
int mb_sampler_params_check(const struct mb_sampler_params *p, struct mb_err *err);

struct mb_sampler;

/*
 * A sampler for a vocabulary of n_vocab tokens (checks the params first).
 * Caller frees with mb_sampler_free().
 */
int mb_sampler_new(const struct mb_sampler_params *p, size_t n_vocab, struct mb_sampler **out,
                   struct mb_err *err);
void mb_sampler_free(struct mb_sampler *s);

/* Forget the history and restart the PRNG from the seed. */
void mb_sampler_reset(struct mb_sampler *s);

/* The seed in use (the drawn one when params asked for a random seed). */
uint64_t mb_sampler_seed(const struct mb_sampler *s);

/* Record a token in the history (prompt tokens too, as llama-cli does). */
void mb_sampler_accept(struct mb_sampler *s, int32_t token);

/*
 * Choose a token from n_vocab logits (not modified). Does not accept it: call
 * mb_sampler_accept() with the token actually used. MB_E_FORMAT when every
 * logit is NaN or -inf.
 */
int mb_sampler_sample(struct mb_sampler *s, const float *logits, int32_t *token,
                      struct mb_err *err);

/* ------------------------------------------------------------ stopping */

enum mb_stop_reason {
    MB_STOP_NONE = 0,       /* keep generating */
    MB_STOP_EOG = 1,        /* an end-of-generation / end-of-turn token */
    MB_STOP_STRING = 2,     /* a stop string appeared in the text */
    MB_STOP_MAX_TOKENS = 3, /* the token budget is spent */
};

#define MB_STOP_MAX_STRINGS 16

struct mb_stop {
    char *strings[MB_STOP_MAX_STRINGS]; /* owned copies */
    size_t n_strings;
    size_t max_tokens; /* 0 = no limit */
    size_t n_tokens;
    struct mb_buf held; /* text withheld because it may begin a stop string */
    enum mb_stop_reason reason;
};

/*
 * Set up the stop conditions: `n` stop strings (copied; each non-empty, at most
 * 256 bytes) and a token budget (0 = none). MB_E_USAGE for a bad string.
 */
int mb_stop_init(struct mb_stop *s, const char *const *strings, size_t n, size_t max_tokens,
                 struct mb_err *err);
void mb_stop_release(struct mb_stop *s);
/* Start a new answer with the same conditions. */
void mb_stop_reset(struct mb_stop *s);

/*
 * Feed one generated token: `is_eog` when it ends generation, `text` its decoded
 * text (from a struct mb_detok_stream, so complete UTF-8). Appends to `out` the
 * text that is safe to show now and sets *reason (MB_STOP_NONE: continue). Text
 * before a stop string is shown, the stop string and anything after it is not;
 * the text of an end-of-generation token is not shown either.
 */
int mb_stop_push(struct mb_stop *s, bool is_eog, const char *text, size_t n, struct mb_buf *out,
                 enum mb_stop_reason *reason, struct mb_err *err);

/* Generation ended for another reason (interrupted, context full): release held text. */
int mb_stop_flush(struct mb_stop *s, struct mb_buf *out, struct mb_err *err);

#ifdef __cplusplus
}
#endif

#endif /* MB_SAMPLER_H */
