/*
 * sampler.c - token sampling with llama.cpp's chain and semantics (see
 * mb_sampler.h): penalties -> top-k -> top-p -> min-p -> temperature -> draw.
 * Candidates are (id, logit) pairs; top-k keeps a heap of the k best so the
 * common case (k = 40 of ~50k) never sorts the whole vocabulary.
 */
#include "mb_sampler.h"

#include <math.h>
#include <unistd.h>

struct cand {
    float logit;
    int32_t id;
};

struct mb_sampler {
    struct mb_sampler_params p;
    size_t n_vocab;
    uint64_t seed;
    uint64_t rng[4];
    struct cand *cand;
    uint32_t *counts; /* per token, zero outside a penalty pass */
    int32_t *hist;    /* ring buffer of the last hist_cap accepted tokens */
    size_t hist_cap;
    size_t hist_n;
    size_t hist_pos;
};

void mb_sampler_params_init(struct mb_sampler_params *p)
{
    p->temperature = 0.8f;
    p->top_k = 40;
    p->top_p = 0.95f;
    p->min_p = 0.05f;
    p->repeat_penalty = 1.0f;
    p->repeat_last_n = 64;
    p->frequency_penalty = 0.0f;
    p->presence_penalty = 0.0f;
    p->seed = MB_SAMPLER_SEED_RANDOM;
}

int mb_sampler_params_check(const struct mb_sampler_params *p, struct mb_err *err)
{
    if (!isfinite(p->temperature) || p->temperature < 0)
        return mb_fail(err, MB_E_USAGE, "temperature must be >= 0 (got %g)", p->temperature);
    if (p->top_k < 0)
        return mb_fail(err, MB_E_USAGE, "top-k must be >= 0, 0 = off (got %d)", p->top_k);
    if (!isfinite(p->top_p) || p->top_p <= 0 || p->top_p > 1)
        return mb_fail(err, MB_E_USAGE, "top-p must be in (0, 1], 1 = off (got %g)", p->top_p);
    if (!isfinite(p->min_p) || p->min_p < 0 || p->min_p > 1)
        return mb_fail(err, MB_E_USAGE, "min-p must be in [0, 1], 0 = off (got %g)", p->min_p);
    if (!isfinite(p->repeat_penalty) || p->repeat_penalty <= 0)
        return mb_fail(err, MB_E_USAGE, "repeat penalty must be > 0, 1 = off (got %g)",
                       p->repeat_penalty);
    if (p->repeat_last_n < -1 || p->repeat_last_n > MB_SAMPLER_MAX_HISTORY)
        return mb_fail(err, MB_E_USAGE,
                       "repeat-last-n must be -1 (all), 0 (off) or up to %d "
                       "(got %d)",
                       MB_SAMPLER_MAX_HISTORY, p->repeat_last_n);
    if (!isfinite(p->frequency_penalty) || !isfinite(p->presence_penalty))
        return mb_fail(err, MB_E_USAGE, "frequency and presence penalties must be finite");
    return 0;
}

/* ------------------------------------------------------------ PRNG */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256** (Blackman & Vigna). */
static uint64_t next_u64(uint64_t s[4])
{
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static double next_double(uint64_t s[4])
{
    return (double)(next_u64(s) >> 11) * 0x1.0p-53;
}

void mb_sampler_reset(struct mb_sampler *s)
{
    uint64_t x = s->seed;
    for (int i = 0; i < 4; i++)
        s->rng[i] = splitmix64(&x);
    s->hist_n = s->hist_pos = 0;
}

int mb_sampler_new(const struct mb_sampler_params *p, size_t n_vocab, struct mb_sampler **out,
                   struct mb_err *err)
{
    *out = NULL;
    int rc = mb_sampler_params_check(p, err);
    if (rc)
        return rc;
    if (n_vocab == 0 || n_vocab > INT32_MAX)
        return mb_fail(err, MB_E_FORMAT, "sampler: bad vocabulary size %zu", n_vocab);
    struct mb_sampler *s = mb_calloc(1, sizeof(*s));
    if (!s)
        return mb_fail(err, MB_E_NOMEM, "sampler: out of memory");
    s->p = *p;
    s->n_vocab = n_vocab;
    s->hist_cap = p->repeat_last_n < 0 ? MB_SAMPLER_MAX_HISTORY : (size_t)p->repeat_last_n;
    s->cand = mb_calloc(n_vocab, sizeof(*s->cand));
    s->counts = mb_calloc(n_vocab, sizeof(*s->counts));
    s->hist = mb_calloc(s->hist_cap ? s->hist_cap : 1, sizeof(*s->hist));
    if (!s->cand || !s->counts || !s->hist) {
        mb_sampler_free(s);
        return mb_fail(err, MB_E_NOMEM, "sampler: out of memory for %zu tokens", n_vocab);
    }
    s->seed = p->seed;
    if (s->seed == MB_SAMPLER_SEED_RANDOM) {
        uint64_t v = 0;
        if (getentropy(&v, sizeof(v)) != 0)
            v = mb_now_ns() ^ ((uint64_t)getpid() << 32);
        s->seed = v == MB_SAMPLER_SEED_RANDOM ? v - 1 : v;
    }
    mb_sampler_reset(s);
    *out = s;
    return 0;
}

void mb_sampler_free(struct mb_sampler *s)
{
    if (!s)
        return;
    mb_free(s->cand);
    mb_free(s->counts);
    mb_free(s->hist);
    mb_free(s);
}

uint64_t mb_sampler_seed(const struct mb_sampler *s)
{
    return s->seed;
}

void mb_sampler_accept(struct mb_sampler *s, int32_t token)
{
    if (s->hist_cap == 0)
        return;
    s->hist[s->hist_pos] = token;
    s->hist_pos = (s->hist_pos + 1) % s->hist_cap;
    if (s->hist_n < s->hist_cap)
        s->hist_n++;
}

/* ------------------------------------------------------------ the chain */

/* Higher logit first; equal logits by lower id, so results never depend on sort order. */
static bool cand_before(const struct cand *a, const struct cand *b)
{
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

static int cand_cmp(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    return cand_before(x, y) ? -1 : cand_before(y, x) ? 1 : 0;
}

/* Restore the heap below i: the worst candidate of c[0..n) at the root. */
static void sift_down(struct cand *c, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && cand_before(&c[w], &c[l]))
            w = l;
        if (r < n && cand_before(&c[w], &c[r]))
            w = r;
        if (w == i)
            return;
        struct cand t = c[i];
        c[i] = c[w];
        c[w] = t;
        i = w;
    }
}

/* Leave the k best of n candidates in c[0..k), unordered: O(n log k). */
static void select_top(struct cand *c, size_t n, size_t k)
{
    for (size_t i = k / 2; i-- > 0;)
        sift_down(c, k, i);
    for (size_t i = k; i < n; i++) {
        if (cand_before(&c[i], &c[0])) {
            c[0] = c[i];
            sift_down(c, k, 0);
        }
    }
}

static void apply_penalties(struct mb_sampler *s, size_t n)
{
    const struct mb_sampler_params *p = &s->p;
    if (s->hist_n == 0 ||
        (p->repeat_penalty == 1.0f && p->frequency_penalty == 0.0f && p->presence_penalty == 0.0f))
        return;
    for (size_t i = 0; i < s->hist_n; i++) {
        int32_t t = s->hist[i];
        if (t >= 0 && (size_t)t < s->n_vocab)
            s->counts[t]++;
    }
    /* candidates are still in id order here: cand[t].id == t */
    for (size_t i = 0; i < s->hist_n; i++) {
        int32_t t = s->hist[i];
        if (t < 0 || (size_t)t >= n || s->counts[t] == 0)
            continue;
        float *l = &s->cand[t].logit;
        if (*l <= 0)
            *l *= p->repeat_penalty;
        else
            *l /= p->repeat_penalty;
        *l -= (float)s->counts[t] * p->frequency_penalty + p->presence_penalty;
        s->counts[t] = 0; /* each distinct token once; also resets the table */
    }
}

int mb_sampler_sample(struct mb_sampler *s, const float *logits, int32_t *token, struct mb_err *err)
{
    const struct mb_sampler_params *p = &s->p;
    size_t n = 0;
    for (size_t i = 0; i < s->n_vocab; i++) {
        s->cand[i].id = (int32_t)i;
        s->cand[i].logit = isnan(logits[i]) ? -INFINITY : logits[i];
    }
    n = s->n_vocab;
    apply_penalties(s, n);

    /* Greedy: the best logit (lowest id on ties). */
    if (p->temperature <= 0) {
        size_t best = 0;
        for (size_t i = 1; i < n; i++)
            if (cand_before(&s->cand[i], &s->cand[best]))
                best = i;
        if (s->cand[best].logit == -INFINITY)
            return mb_fail(err, MB_E_FORMAT, "sampler: every logit is -inf or NaN");
        *token = s->cand[best].id;
        return 0;
    }

    /* Drop impossible tokens first; they never survive any filter. */
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (s->cand[i].logit != -INFINITY)
            s->cand[m++] = s->cand[i];
    n = m;
    if (n == 0)
        return mb_fail(err, MB_E_FORMAT, "sampler: every logit is -inf or NaN");

    /* top-k, leaving the survivors sorted */
    if (p->top_k > 0 && (size_t)p->top_k < n) {
        select_top(s->cand, n, (size_t)p->top_k);
        n = (size_t)p->top_k;
    }
    qsort(s->cand, n, sizeof(*s->cand), cand_cmp);

    /* top-p over the softmax at temperature 1 */
    if (p->top_p < 1.0f) {
        double max = s->cand[0].logit, sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += exp((double)s->cand[i].logit - max);
        double cum = 0;
        for (size_t i = 0; i < n; i++) {
            cum += exp((double)s->cand[i].logit - max) / sum;
            if (cum >= p->top_p) {
                n = i + 1;
                break;
            }
        }
    }

    /* min-p: p_i >= min_p * p_max, i.e. logit_i >= logit_max + ln(min_p) */
    if (p->min_p > 0.0f) {
        float cut = s->cand[0].logit + logf(p->min_p);
        size_t keep = 1;
        while (keep < n && s->cand[keep].logit >= cut)
            keep++;
        n = keep;
    }

    /* temperature, then one draw */
    double max = (double)s->cand[0].logit / p->temperature, sum = 0;
    double *w = NULL;
    double stack_w[256];
    if (n <= MB_ARRAY_LEN(stack_w)) {
        w = stack_w;
    } else {
        w = mb_calloc(n, sizeof(*w));
        if (!w)
            return mb_fail(err, MB_E_NOMEM, "sampler: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        w[i] = exp((double)s->cand[i].logit / p->temperature - max);
        sum += w[i];
    }
    double r = next_double(s->rng) * sum, acc = 0;
    size_t pick = n - 1;
    for (size_t i = 0; i < n; i++) {
        acc += w[i];
        if (r < acc) {
            pick = i;
            break;
        }
    }
    if (w != stack_w)
        mb_free(w);
    *token = s->cand[pick].id;
    return 0;
}
