/*
 * attention.c (ref) - reference oracles of the KV store and causal grouped
 * attention: the formulas of mb_attention.h in double, two-pass softmax.
 */
#include "mb_attention.h"

#include <math.h>

/* Element p of a cache array as double. */
static double cache_at(const void *base, uint32_t type, size_t i)
{
    if (type == MB_DTYPE_F16)
        return mb_f16_to_f32(((const mb_f16 *)base)[i]);
    return ((const float *)base)[i];
}

int mb_ref_kv_store(const struct mb_kv_store_args *a, struct mb_err *err)
{
    int rc = mb_kv_store_check(a, err);
    if (rc < 0)
        return rc;
    const struct mb_kv_cache *c = &a->cache;
    for (size_t i = 0; i < a->m; i++) {
        if (a->pos[i] < 0 || (size_t)a->pos[i] >= c->n_ctx)
            return mb_fail(err, MB_E_FORMAT,
                           "kv_store: position %d of row %zu is outside the cache of %zu",
                           (int)a->pos[i], i, c->n_ctx);
        for (size_t h = 0; h < c->n_kv_head; h++)
            for (size_t d = 0; d < c->head_dim; d++) {
                size_t at = (h * c->n_ctx + (size_t)a->pos[i]) * c->head_dim + d;
                float k = a->k[i * a->k_stride + h * c->head_dim + d];
                float v = a->v[i * a->v_stride + h * c->head_dim + d];
                if (c->type == MB_DTYPE_F16) {
                    ((mb_f16 *)c->k)[at] = mb_f32_to_f16(k);
                    ((mb_f16 *)c->v)[at] = mb_f32_to_f16(v);
                } else {
                    ((float *)c->k)[at] = k;
                    ((float *)c->v)[at] = v;
                }
            }
    }
    return 0;
}

int mb_ref_attention(const struct mb_attention_args *a, struct mb_err *err)
{
    int rc = mb_attention_check(a, err);
    if (rc < 0)
        return rc;
    const struct mb_kv_cache *c = &a->cache;
    const size_t hd = c->head_dim, group = a->n_head / c->n_kv_head;
    double *p = mb_malloc(c->n_ctx * sizeof(double));
    double *acc = mb_malloc(hd * sizeof(double));
    if (!p || !acc) {
        mb_free(p);
        mb_free(acc);
        return mb_fail(err, MB_E_NOMEM, "ref attention: out of memory");
    }
    for (size_t i = 0; i < a->m; i++) {
        if (a->pos[i] < 0 || (size_t)a->pos[i] >= c->n_ctx) {
            mb_free(p);
            mb_free(acc);
            return mb_fail(err, MB_E_FORMAT,
                           "attention: position %d of row %zu is outside the cache of %zu",
                           (int)a->pos[i], i, c->n_ctx);
        }
        size_t n = (size_t)a->pos[i] + 1;
        for (size_t h = 0; h < a->n_head; h++) {
            const float *q = a->q + i * a->q_stride + h * hd;
            const bool round = a->round_f16 && c->type == MB_DTYPE_F16;
            size_t base = (h / group) * c->n_ctx * hd;
            double max = -INFINITY, sum = 0.0;
            for (size_t j = 0; j < n; j++) {
                double s = 0.0;
                for (size_t d = 0; d < hd; d++) {
                    double qd = round ? mb_f16_to_f32(mb_f32_to_f16(q[d])) : q[d];
                    s += qd * cache_at(c->k, c->type, base + j * hd + d);
                }
                p[j] = s * (double)a->scale;
                max = fmax(max, p[j]);
            }
            for (size_t j = 0; j < n; j++) {
                p[j] = exp(p[j] - max);
                sum += p[j];
            }
            for (size_t d = 0; d < hd; d++)
                acc[d] = 0.0;
            for (size_t j = 0; j < n; j++) {
                double pj = p[j] / sum;
                if (round)
                    pj = mb_f16_to_f32(mb_f32_to_f16((float)pj));
                for (size_t d = 0; d < hd; d++)
                    acc[d] += pj * cache_at(c->v, c->type, base + j * hd + d);
            }
            float *out = a->out + i * a->out_stride + h * hd;
            for (size_t d = 0; d < hd; d++)
                out[d] = (float)acc[d];
        }
    }
    mb_free(p);
    mb_free(acc);
    return 0;
}
