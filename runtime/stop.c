/*
 * stop.c - stop conditions for generation (see mb_sampler.h): end-of-generation
 * tokens, stop strings matched across token boundaries, and a token budget.
 * Text that could still turn out to be the start of a stop string is held back
 * until the next token decides it.
 */
#include "mb_sampler.h"

#define STOP_MAX_LEN 256

int mb_stop_init(struct mb_stop *s, const char *const *strings, size_t n, size_t max_tokens,
                 struct mb_err *err)
{
    memset(s, 0, sizeof(*s));
    mb_buf_init(&s->held, STOP_MAX_LEN * 4 + 64);
    s->max_tokens = max_tokens;
    if (n > MB_STOP_MAX_STRINGS)
        return mb_fail(err, MB_E_USAGE, "at most %d stop strings (got %zu)", MB_STOP_MAX_STRINGS,
                       n);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(strings[i]);
        if (len == 0 || len > STOP_MAX_LEN) {
            mb_stop_release(s);
            return mb_fail(err, MB_E_USAGE, "stop string %zu must be 1 to %d bytes long", i + 1,
                           STOP_MAX_LEN);
        }
        s->strings[i] = mb_strdup(strings[i]);
        if (!s->strings[i]) {
            mb_stop_release(s);
            return mb_fail(err, MB_E_NOMEM, "out of memory for stop strings");
        }
        s->n_strings = i + 1;
    }
    return 0;
}

void mb_stop_release(struct mb_stop *s)
{
    for (size_t i = 0; i < s->n_strings; i++)
        mb_free(s->strings[i]);
    s->n_strings = 0;
    mb_buf_release(&s->held);
}

void mb_stop_reset(struct mb_stop *s)
{
    s->n_tokens = 0;
    s->reason = MB_STOP_NONE;
    mb_buf_reset(&s->held);
}

/* The longest suffix of p[0..n) that is a proper prefix of some stop string. */
static size_t partial_suffix(const struct mb_stop *s, const char *p, size_t n)
{
    size_t best = 0;
    for (size_t i = 0; i < s->n_strings; i++) {
        size_t sl = strlen(s->strings[i]);
        size_t maxk = MB_MIN(sl - 1, n);
        for (size_t k = maxk; k > best; k--) {
            if (!memcmp(p + n - k, s->strings[i], k)) {
                best = k;
                break;
            }
        }
    }
    return best;
}

int mb_stop_flush(struct mb_stop *s, struct mb_buf *out, struct mb_err *err)
{
    int rc = s->held.n ? mb_buf_append(out, s->held.p, s->held.n, err) : 0;
    mb_buf_reset(&s->held);
    return rc;
}

int mb_stop_push(struct mb_stop *s, bool is_eog, const char *text, size_t n, struct mb_buf *out,
                 enum mb_stop_reason *reason, struct mb_err *err)
{
    *reason = s->reason;
    if (s->reason != MB_STOP_NONE)
        return 0;
    s->n_tokens++;
    int rc = 0;
    if (is_eog) {
        rc = mb_stop_flush(s, out, err);
        s->reason = MB_STOP_EOG;
        *reason = s->reason;
        return rc;
    }
    if (s->n_strings == 0) {
        rc = n ? mb_buf_append(out, text, n, err) : 0;
    } else {
        /* Held text is shorter than the longest stop string; a long piece is searched in
         * place with the held text in front of it. */
        struct mb_buf all;
        mb_buf_init(&all, (size_t)1 << 30);
        rc = mb_buf_append(&all, s->held.p ? s->held.p : "", s->held.n, err);
        if (!rc)
            rc = mb_buf_append(&all, text, n, err);
        if (rc) {
            mb_buf_release(&all);
            return rc;
        }
        size_t first = SIZE_MAX;
        for (size_t i = 0; i < s->n_strings; i++) {
            const char *m = memmem(all.p, all.n, s->strings[i], strlen(s->strings[i]));
            if (m && (size_t)(m - all.p) < first)
                first = (size_t)(m - all.p);
        }
        mb_buf_reset(&s->held);
        if (first != SIZE_MAX) {
            rc = mb_buf_append(out, all.p, first, err);
            s->reason = MB_STOP_STRING;
        } else {
            /* keep the tail that may begin a stop string, show the rest */
            size_t k = partial_suffix(s, all.p, all.n);
            rc = mb_buf_append(out, all.p, all.n - k, err);
            if (!rc)
                rc = mb_buf_append(&s->held, all.p + all.n - k, k, err);
        }
        mb_buf_release(&all);
    }
    if (!rc && s->reason == MB_STOP_NONE && s->max_tokens && s->n_tokens >= s->max_tokens) {
        rc = mb_stop_flush(s, out, err);
        s->reason = MB_STOP_MAX_TOKENS;
    }
    *reason = s->reason;
    return rc;
}
