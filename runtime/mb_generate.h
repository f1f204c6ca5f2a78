/*
 * mb_generate.h - the generation loop shared by `run`, `chat` and later the
 * modular runtime: evaluate a prompt (reusing the session's cached prefix),
 * then sample, stream and evaluate tokens until a stop condition.
 *
 *     struct mb_generator gen;
 *     mb_generator_init(&gen, session, tokenizer, sampler);    // borrows all three
 *     gen.stop_ids = ids; gen.n_stop_ids = n;                   // chat end-of-turn tokens
 *     mb_stop_init(&stop, strings, n_strings, max_tokens, err);
 *     rc = mb_generate(&gen, &stop, prompt_ids, n_prompt, emit, ud, &stats, err);
 *     mb_generator_release(&gen);
 *
 * Text reaches `emit` as it becomes safe to show: whole UTF-8 characters (the
 * streaming decoder holds back partial ones), with text that may begin a stop
 * string withheld until it is known not to (struct mb_stop). The loop never
 * allocates per token once the first call has sized its buffers.
 *
 * Prompt reuse: the prompt is compared with the tokens already cached in the
 * session; only the part after the common prefix is evaluated (a chat turn
 * re-renders the whole conversation but evaluates only the new message), the
 * rest of the cache is dropped.
 */
#ifndef MB_GENERATE_H
#define MB_GENERATE_H

#include "mb_common.h"
#include "mb_model.h"
#include "mb_sampler.h"
#include "mb_tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Why generation ended. */
enum mb_gen_end {
    MB_GEN_END_EOG = 1,          /* an end-of-generation / end-of-turn token */
    MB_GEN_END_STOP_STRING = 2,  /* a --stop string */
    MB_GEN_END_MAX_TOKENS = 3,   /* -n tokens generated */
    MB_GEN_END_CONTEXT_FULL = 4, /* no room for another token in the context */
    MB_GEN_END_INTERRUPTED = 5,  /* mb_interrupted was set (Ctrl-C); it is left set */
};

/* "end of turn", "stop string", "token limit", "context full", "interrupted". */
const char *mb_gen_end_name(enum mb_gen_end end);

struct mb_gen_stats {
    size_t n_prompt;      /* prompt tokens */
    size_t n_prompt_eval; /* of which evaluated (not reused from the cache) */
    uint64_t prompt_ns;   /* time evaluating them */
    size_t n_gen;         /* tokens sampled */
    size_t n_decode;      /* of which evaluated (all but a final stopping token) */
    uint64_t gen_ns;      /* time from the end of the prompt to the end of the loop */
    uint64_t decode_ns;   /* time inside the single-token evaluations */
    enum mb_gen_end end;
};

/*
 * Receives text that is safe to show; returns 0, or an MB_E_* code (with err
 * filled) to abort generation with that error.
 */
typedef int (*mb_gen_emit_fn)(void *ud, const char *text, size_t n, struct mb_err *err);

struct mb_generator {
    struct mb_session *sess;        /* borrowed */
    const struct mb_tokenizer *tok; /* borrowed */
    struct mb_sampler *smp;         /* borrowed */
    const int32_t *stop_ids;        /* extra tokens that end generation (borrowed), or NULL */
    size_t n_stop_ids;
    bool ignore_eog; /* never sample end-of-generation tokens (llama.cpp --ignore-eos) */
    /* internal */
    int32_t *eog_ids; /* every end-of-generation id of the vocabulary (ignore_eog) */
    size_t n_eog_ids;
    float *masked; /* n_vocab logits with eog ids at -inf (ignore_eog) */
    struct mb_buf piece, shown;
};

/* Set up a generator over borrowed objects (no allocation). */
void mb_generator_init(struct mb_generator *g, struct mb_session *sess,
                       const struct mb_tokenizer *tok, struct mb_sampler *smp);
void mb_generator_release(struct mb_generator *g);

/*
 * Evaluate `prompt` (n_prompt >= 1 tokens; the cached common prefix is reused),
 * reset `stop` (so one struct mb_stop serves every turn),
 * accept its new tokens into the sampler's history, then loop: sample, feed the
 * token's text through `stop` (which holds the -n budget and stop strings),
 * emit what is safe, stop or evaluate the token. Stats are filled (stats may be
 * NULL). Returns 0 when generation ended for any of the enum mb_gen_end reasons
 * (the held-back text is flushed to `emit`, except a stop string), or an error:
 * MB_E_LIMIT when the prompt alone does not fit in the context (nothing is
 * evaluated), MB_E_INTERRUPTED when Ctrl-C came during the prompt (the cache
 * keeps what was evaluated), the session's, sampler's and emit's errors.
 */
int mb_generate(struct mb_generator *g, struct mb_stop *stop, const int32_t *prompt,
                size_t n_prompt, mb_gen_emit_fn emit, void *ud, struct mb_gen_stats *stats,
                struct mb_err *err);

#ifdef __cplusplus
}
#endif

#endif /* MB_GENERATE_H */
