/*
 * router.c - the router's arithmetic (mb_router.h): pooling and normalising
 * routing embeddings, keys as normalised means, the projection, cosine
 * similarity, and the per-turn decision (top-k above a threshold, the general
 * pack always eligible, softmax(score / tau) weights) with its one-line text.
 * Sums are taken in double so that results do not depend on summation order
 * more than float rounding of the final value.
 */
#include "mb_router.h"

#include <math.h>

void mb_router_normalize(float *v, uint32_t dim)
{
    double ss = 0;
    for (uint32_t i = 0; i < dim; i++)
        ss += (double)v[i] * (double)v[i];
    if (ss <= 0 || !isfinite(ss))
        return;
    double inv = 1.0 / sqrt(ss);
    for (uint32_t i = 0; i < dim; i++)
        v[i] = (float)((double)v[i] * inv);
}

/* Mean of n rows into out (double accumulation), then normalised. */
static void mean_rows(const float *x, size_t n, uint32_t dim, float *out)
{
    for (uint32_t j = 0; j < dim; j++) {
        double s = 0;
        for (size_t i = 0; i < n; i++)
            s += (double)x[i * dim + j];
        out[j] = n ? (float)(s / (double)n) : 0.0f;
    }
    mb_router_normalize(out, dim);
}

void mb_router_pool(const float *h, size_t n, uint32_t dim, float *out)
{
    memset(out, 0, (size_t)dim * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        const float *row = h + i * dim;
        double ss = 0;
        for (uint32_t j = 0; j < dim; j++)
            ss += (double)row[j] * (double)row[j];
        if (!(ss > 0) || !isfinite(ss))
            continue;
        double inv = 1.0 / sqrt(ss);
        for (uint32_t j = 0; j < dim; j++)
            out[j] += (float)((double)row[j] * inv);
    }
    mb_router_normalize(out, dim);
}

void mb_router_keys_mean(const float *x, size_t n, uint32_t dim, float *key)
{
    mean_rows(x, n, dim, key);
}

void mb_router_proj_release(struct mb_router_proj *p)
{
    if (!p)
        return;
    mb_free(p->w);
    mb_free(p->mu);
    memset(p, 0, sizeof(*p));
}

void mb_router_proj_apply(const struct mb_router_proj *p, const float *x, float *out)
{
    for (uint32_t r = 0; r < p->out_dim; r++) {
        const float *w = p->w + (size_t)r * p->in_dim;
        double s = 0;
        for (uint32_t j = 0; j < p->in_dim; j++)
            s += (double)w[j] * ((double)x[j] - (double)p->mu[j]);
        out[r] = (float)s;
    }
    mb_router_normalize(out, p->out_dim);
    for (uint32_t r = 0; r < p->out_dim; r++)
        if (!isfinite(out[r])) { /* a degenerate projection: no direction */
            memset(out, 0, (size_t)p->out_dim * sizeof(float));
            break;
        }
}

float mb_router_similarity(const struct mb_router_cand *c, const float *q, uint32_t dim)
{
    float best = -2.0f;
    for (uint32_t k = 0; k < c->n_keys; k++) {
        const float *key = c->keys + (size_t)k * dim;
        double s = 0;
        for (uint32_t j = 0; j < dim; j++)
            s += (double)key[j] * (double)q[j];
        if ((float)s > best) /* false for NaN: such a key never matches */
            best = (float)s;
    }
    return best;
}

void mb_router_softmax(const float *s, size_t n, float tau, float *w)
{
    if (!n)
        return;
    double mx = (double)s[0];
    for (size_t i = 1; i < n; i++)
        if ((double)s[i] > mx)
            mx = (double)s[i];
    double sum = 0;
    double e[MB_ROUTER_MAX_K + 1];
    for (size_t i = 0; i < n; i++) {
        double v = exp(((double)s[i] - mx) / (double)tau);
        if (i < MB_ARRAY_LEN(e))
            e[i] = v;
        sum += v;
    }
    for (size_t i = 0; i < n; i++) {
        double v = i < MB_ARRAY_LEN(e) ? e[i] : exp(((double)s[i] - mx) / (double)tau);
        w[i] = (float)(v / sum);
    }
}

void mb_router_params_init(struct mb_router_params *p)
{
    p->tau = MB_ROUTER_DEFAULT_TAU;
    p->top_k = MB_ROUTER_DEFAULT_TOP_K;
    p->threshold = MB_ROUTER_DEFAULT_THRESHOLD;
}

void mb_router_params_init_fit(struct mb_router_params *p)
{
    p->tau = MB_ROUTER_FIT_DEFAULT_TAU;
    p->top_k = MB_ROUTER_FIT_DEFAULT_TOP_K;
    p->threshold = MB_ROUTER_FIT_DEFAULT_THRESHOLD;
}

/* Insert choice c into the first n entries of v, kept sorted by sim (descending). */
static size_t insert_sorted(struct mb_route_choice *v, size_t n, size_t cap,
                            struct mb_route_choice c)
{
    size_t i = n;
    while (i > 0 && v[i - 1].sim < c.sim) {
        if (i < cap)
            v[i] = v[i - 1];
        i--;
    }
    if (i < cap)
        v[i] = c;
    return n < cap ? n + 1 : cap;
}

int mb_router_route(const struct mb_router_params *p, const struct mb_router_cand *cands,
                    size_t n_cands, const float *q, uint32_t dim, struct mb_route_decision *out,
                    struct mb_err *err)
{
    memset(out, 0, sizeof(*out));
    out->best = SIZE_MAX;
    out->best_sim = -2.0f;
    if (!(p->tau > 0.0f) || !isfinite(p->tau))
        return mb_fail(err, MB_E_USAGE, "router: tau must be a positive number (got %g)",
                       (double)p->tau);
    if (p->top_k > MB_ROUTER_MAX_K)
        return mb_fail(err, MB_E_USAGE, "router: top_k %u is more than %u", p->top_k,
                       MB_ROUTER_MAX_K);
    if (!isfinite(p->threshold))
        return mb_fail(err, MB_E_USAGE, "router: threshold must be a finite number");
    size_t general = SIZE_MAX;
    struct mb_route_choice sel[MB_ROUTER_MAX_K];
    size_t n_sel = 0;
    for (size_t i = 0; i < n_cands; i++) {
        const struct mb_router_cand *c = &cands[i];
        if (c->general) {
            if (general != SIZE_MAX)
                return mb_fail(err, MB_E_USAGE,
                               "router: two general packs ('%s' and '%s') among the candidates",
                               cands[general].id, c->id);
            general = i;
            continue;
        }
        float sim = mb_router_similarity(c, q, dim);
        if (c->n_keys && (out->best == SIZE_MAX || sim > out->best_sim)) {
            out->best = i;
            out->best_sim = sim;
        }
        if (!c->n_keys || sim < p->threshold || !p->top_k)
            continue;
        struct mb_route_choice ch = { i, sim, 0.0f };
        n_sel = insert_sorted(sel, n_sel, p->top_k, ch);
    }
    if (general != SIZE_MAX) {
        float gs =
            cands[general].n_keys ? mb_router_similarity(&cands[general], q, dim) : p->threshold;
        struct mb_route_choice ch = { general, gs, 0.0f };
        out->n = insert_sorted(out->v, 0, MB_ARRAY_LEN(out->v), ch);
    }
    for (size_t i = 0; i < n_sel; i++)
        out->n = insert_sorted(out->v, out->n, MB_ARRAY_LEN(out->v), sel[i]);
    float s[MB_ROUTER_MAX_K + 1], w[MB_ROUTER_MAX_K + 1];
    for (size_t i = 0; i < out->n; i++)
        s[i] = out->v[i].sim;
    mb_router_softmax(s, out->n, p->tau, w);
    for (size_t i = 0; i < out->n; i++)
        out->v[i].weight = w[i];
    return 0;
}

void mb_route_decision_format(const struct mb_route_decision *d, const struct mb_router_cand *cands,
                              char *buf, size_t size)
{
    if (!size)
        return;
    buf[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < d->n && used < size; i++) {
        int k = snprintf(buf + used, size - used, "%s%s %.2f", i ? ", " : "",
                         cands[d->v[i].cand].id, (double)d->v[i].weight);
        if (k < 0)
            break;
        used += (size_t)k;
    }
    if (used >= size)
        buf[size - 1] = '\0';
}

int mb_router_keys_read(const struct mb_gguf *g, float **keys, uint32_t *n_keys, uint32_t *dim,
                        struct mb_err *err)
{
    *keys = NULL;
    *n_keys = 0;
    *dim = 0;
    const struct mb_gguf_tensor *t = mb_gguf_find_tensor(g, MB_ROUTER_KEYS_TENSOR);
    if (!t)
        return mb_fail(err, MB_E_NOTFOUND, "%s: no tensor '%s' (the pack has no routing keys)",
                       mb_gguf_name(g), MB_ROUTER_KEYS_TENSOR);
    if (t->type != MB_DTYPE_F32)
        return mb_fail(err, MB_E_FORMAT, "%s: tensor '%s' has type %u, expected F32",
                       mb_gguf_name(g), MB_ROUTER_KEYS_TENSOR, t->type);
    if (t->n_dims > 2 || t->dims[0] == 0 || t->dims[0] > (1u << 20) || t->dims[1] == 0 ||
        t->dims[1] > MB_ROUTER_MAX_KEYS)
        return mb_fail(err, MB_E_FORMAT,
                       "%s: tensor '%s' has shape %llu x %llu, expected dim x n_keys with "
                       "n_keys <= %u",
                       mb_gguf_name(g), MB_ROUTER_KEYS_TENSOR, (unsigned long long)t->dims[0],
                       (unsigned long long)t->dims[1], MB_ROUTER_MAX_KEYS);
    size_t n = (size_t)t->n_elements, bytes;
    if (!mb_mul_ok(n, sizeof(float), &bytes) || bytes != t->nbytes)
        return mb_fail(err, MB_E_FORMAT, "%s: tensor '%s' has an inconsistent size",
                       mb_gguf_name(g), MB_ROUTER_KEYS_TENSOR);
    float *k = mb_malloc(bytes);
    if (!k)
        return mb_fail(err, MB_E_NOMEM, "out of memory reading routing keys");
    memcpy(k, t->data, bytes);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(k[i])) {
            mb_free(k);
            return mb_fail(err, MB_E_FORMAT, "%s: tensor '%s' element %zu is not finite",
                           mb_gguf_name(g), MB_ROUTER_KEYS_TENSOR, i);
        }
    *keys = k;
    *n_keys = (uint32_t)t->dims[1];
    *dim = (uint32_t)t->dims[0];
    return 0;
}
