/*
 * generate.c - the generation loop (mb_generate.h): prompt evaluation with
 * prefix reuse, then sample -> decode text -> stop conditions -> emit ->
 * evaluate, one token at a time, with timings for --verbose and benchmarks.
 */
#include "mb_generate.h"

#include <math.h>

#define TEXT_CAP ((size_t)1 << 20) /* bytes of text one token may produce (a piece, held text) */

const char *mb_gen_end_name(enum mb_gen_end end)
{
    switch (end) {
    case MB_GEN_END_EOG:
        return "end of turn";
    case MB_GEN_END_STOP_STRING:
        return "stop string";
    case MB_GEN_END_MAX_TOKENS:
        return "token limit";
    case MB_GEN_END_CONTEXT_FULL:
        return "context full";
    case MB_GEN_END_INTERRUPTED:
        return "interrupted";
    }
    return "?";
}

void mb_generator_init(struct mb_generator *g, struct mb_session *sess,
                       const struct mb_tokenizer *tok, struct mb_sampler *smp)
{
    memset(g, 0, sizeof(*g));
    g->sess = sess;
    g->tok = tok;
    g->smp = smp;
    mb_buf_init(&g->piece, TEXT_CAP);
    mb_buf_init(&g->shown, TEXT_CAP);
}

void mb_generator_release(struct mb_generator *g)
{
    mb_free(g->eog_ids);
    mb_free(g->masked);
    mb_buf_release(&g->piece);
    mb_buf_release(&g->shown);
    g->eog_ids = NULL;
    g->masked = NULL;
}

static bool is_stop_id(const struct mb_generator *g, int32_t id)
{
    if (mb_tokenizer_is_eog(g->tok, id))
        return true;
    for (size_t i = 0; i < g->n_stop_ids; i++)
        if (g->stop_ids[i] == id)
            return true;
    return false;
}

/* For ignore_eog: the ids to mask (recomputed per call: stop_ids may change) and a
 * buffer for the masked logits (allocated once). */
static int prepare_mask(struct mb_generator *g, struct mb_err *err)
{
    const size_t n_vocab = mb_session_n_vocab(g->sess);
    const size_t n_tok = MB_MIN(n_vocab, mb_tokenizer_n_tokens(g->tok));
    if (!g->masked) {
        g->eog_ids = mb_calloc(n_tok ? n_tok : 1, sizeof(int32_t));
        g->masked = mb_calloc(n_vocab, sizeof(float));
        if (!g->eog_ids || !g->masked) {
            mb_free(g->eog_ids);
            mb_free(g->masked);
            g->eog_ids = NULL;
            g->masked = NULL;
            return mb_fail(err, MB_E_NOMEM, "out of memory for the logit mask");
        }
    }
    g->n_eog_ids = 0;
    for (size_t i = 0; i < n_tok; i++)
        if (is_stop_id(g, (int32_t)i))
            g->eog_ids[g->n_eog_ids++] = (int32_t)i;
    return 0;
}

/* Emit buf's contents (if any) and empty it. */
static int emit_buf(struct mb_buf *b, mb_gen_emit_fn emit, void *ud, struct mb_err *err)
{
    int rc = 0;
    if (b->n && emit)
        rc = emit(ud, b->p, b->n, err);
    mb_buf_reset(b);
    return rc;
}

/* The cached prefix shared with `prompt`. */
static size_t common_prefix(const struct mb_session *s, const int32_t *prompt, size_t n)
{
    const int32_t *cached = mb_session_tokens(s);
    size_t n_past = mb_session_n_past(s), k = 0;
    while (k < n_past && k < n && cached[k] == prompt[k])
        k++;
    return k;
}

int mb_generate(struct mb_generator *g, struct mb_stop *stop, const int32_t *prompt,
                size_t n_prompt, mb_gen_emit_fn emit, void *ud, struct mb_gen_stats *stats,
                struct mb_err *err)
{
    struct mb_gen_stats local;
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof(*stats));
    struct mb_session *s = g->sess;
    const size_t n_ctx = mb_session_n_ctx(s), n_vocab = mb_session_n_vocab(s);
    if (n_prompt == 0)
        return mb_fail(err, MB_E_USAGE, "the prompt has no tokens");
    if (n_prompt >= n_ctx)
        return mb_fail(err, MB_E_LIMIT,
                       "the prompt is %zu tokens, which does not fit in the context of %zu "
                       "tokens (raise --ctx)",
                       n_prompt, n_ctx);
    int rc = 0;
    if (g->ignore_eog && (rc = prepare_mask(g, err)))
        return rc;
    mb_stop_reset(stop);
    /*
     * On a device, bring back only the candidates the sampler needs (0: all
     * the logits; the mask of ignore_eog and penalties need the vocabulary).
     */
    size_t top = 0;
    if (mb_session_on_device(s) && !g->ignore_eog)
        top = mb_sampler_candidates_needed(g->smp, MB_MIN((size_t)MB_TOPK_MAX, n_vocab));

    /* Prompt: reuse the cached prefix; the last token is always evaluated for its logits. */
    size_t shared = common_prefix(s, prompt, n_prompt);
    size_t start = MB_MIN(shared, n_prompt - 1);
    mb_session_truncate(s, start);
    stats->n_prompt = n_prompt;
    stats->n_prompt_eval = n_prompt - start;
    uint64_t t0 = mb_now_ns();
    rc = top ? mb_session_eval_top(s, prompt + start, n_prompt - start, top, err)
             : mb_session_eval(s, prompt + start, n_prompt - start, NULL, err);
    stats->prompt_ns = mb_now_ns() - t0;
    if (rc)
        return rc;
    for (size_t i = shared; i < n_prompt; i++)
        mb_sampler_accept(g->smp, prompt[i]);

    struct mb_detok_stream ds;
    mb_detok_stream_init(&ds, g->tok, 0);
    mb_buf_reset(&g->piece);
    mb_buf_reset(&g->shown);
    uint64_t t_gen = mb_now_ns();
    enum mb_gen_end end = MB_GEN_END_MAX_TOKENS;
    for (;;) {
        if (mb_interrupted) {
            end = MB_GEN_END_INTERRUPTED;
            break;
        }
        int32_t id;
        if (top) {
            const int32_t *cids;
            const float *cvals;
            size_t k = mb_session_top(s, &cids, &cvals);
            rc = mb_sampler_sample_top(g->smp, cids, cvals, k, &id, err);
        } else {
            const float *logits = mb_session_logits(s);
            if (g->ignore_eog) {
                memcpy(g->masked, logits, n_vocab * sizeof(float));
                for (size_t i = 0; i < g->n_eog_ids; i++)
                    g->masked[g->eog_ids[i]] = -INFINITY;
                logits = g->masked;
            }
            rc = mb_sampler_sample(g->smp, logits, &id, err);
        }
        if (rc)
            break;
        mb_sampler_accept(g->smp, id);
        stats->n_gen++;
        const bool eog = is_stop_id(g, id);
        mb_buf_reset(&g->piece);
        if (!eog && (rc = mb_detok_stream_push(&ds, id, &g->piece, err)))
            break;
        enum mb_stop_reason reason;
        rc = mb_stop_push(stop, eog, g->piece.p ? g->piece.p : "", g->piece.n, &g->shown, &reason,
                          err);
        if (!rc)
            rc = emit_buf(&g->shown, emit, ud, err);
        if (rc)
            break;
        if (reason != MB_STOP_NONE) {
            end = reason == MB_STOP_EOG      ? MB_GEN_END_EOG
                  : reason == MB_STOP_STRING ? MB_GEN_END_STOP_STRING
                                             : MB_GEN_END_MAX_TOKENS;
            break;
        }
        if (mb_session_n_past(s) >= n_ctx) {
            end = MB_GEN_END_CONTEXT_FULL;
            break;
        }
        uint64_t td = mb_now_ns();
        rc = top ? mb_session_eval_top(s, &id, 1, top, err) : mb_session_eval(s, &id, 1, NULL, err);
        stats->decode_ns += mb_now_ns() - td;
        if (rc)
            break;
        stats->n_decode++;
    }
    stats->gen_ns = mb_now_ns() - t_gen;
    stats->end = end;
    if (rc)
        return rc;
    /* What is still held back comes out, unless a stop string cut it off. */
    if (end != MB_GEN_END_STOP_STRING) {
        if (end != MB_GEN_END_EOG && end != MB_GEN_END_MAX_TOKENS)
            rc = mb_stop_flush(stop, &g->shown, err);
        if (!rc)
            rc = mb_detok_stream_flush(&ds, &g->shown, err);
        if (!rc)
            rc = emit_buf(&g->shown, emit, ud, err);
    }
    return rc;
}
