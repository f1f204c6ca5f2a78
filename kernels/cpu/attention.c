/*
 * attention.c - the CPU backend's KV-cache store and causal attention with
 * grouped KV heads (layout in mb_attention.h). Work items are (query row,
 * query head) pairs handed out dynamically; each computes the scaled scores
 * against its KV head's keys 0..pos, a softmax over them (max subtracted,
 * sum in double) and the probability-weighted sum of the values. Scores live
 * in per-thread scratch.
 */
#include "cpu_int.h"

#include <math.h>

static size_t el_size(uint32_t type)
{
    return type == MB_DTYPE_F16 ? 2 : 4;
}

int cpu_kv_store(struct cpu_backend *cpu, const struct mb_kv_store_args *a, struct mb_err *err)
{
    int rc = mb_kv_store_check(a, err);
    if (rc < 0)
        return rc;
    const struct mb_kv_cache *c = &a->cache;
    for (size_t i = 0; i < a->m; i++)
        if (a->pos[i] < 0 || (size_t)a->pos[i] >= c->n_ctx)
            return mb_fail(err, MB_E_FORMAT,
                           "kv_store: position %d of row %zu is outside the cache of %zu",
                           (int)a->pos[i], i, c->n_ctx);
    const size_t es = el_size(c->type), hd = c->head_dim;
    for (size_t i = 0; i < a->m; i++) {
        const float *k = a->k + i * a->k_stride;
        const float *v = a->v + i * a->v_stride;
        for (size_t h = 0; h < c->n_kv_head; h++) {
            size_t at = (h * c->n_ctx + (size_t)a->pos[i]) * hd * es;
            uint8_t *kd = (uint8_t *)c->k + at, *vd = (uint8_t *)c->v + at;
            if (c->type == MB_DTYPE_F16) {
                cpu->ops.to_f16(k + h * hd, (mb_f16 *)kd, hd);
                cpu->ops.to_f16(v + h * hd, (mb_f16 *)vd, hd);
            } else {
                memcpy(kd, k + h * hd, hd * sizeof(float));
                memcpy(vd, v + h * hd, hd * sizeof(float));
            }
        }
    }
    return 0;
}

/*
 * Work items are (query row, KV head, key chunk). An item handles the g
 * query heads that share its KV head together, so each K and V row is read
 * (and converted from f16) once for all of them. Decode has one row and few
 * KV heads, so its keys are split into chunks to keep every thread busy
 * (flash-decoding): each chunk leaves, per head, its max score, its sum of
 * exponentials and its unnormalised output, merged afterwards. With one chunk
 * (prefill: many rows already), the probabilities are normalised before V is
 * accumulated and the merge is a copy.
 */
#define GMAX 8 /* query heads per KV head handled at once (more: in groups) */

struct attn_job {
    struct cpu_backend *cpu;
    const struct mb_attention_args *a;
    size_t g;          /* query heads per KV head */
    size_t n_chunks;   /* key chunks per (row, KV head) */
    size_t chunk_keys; /* keys per chunk */
    float *scratch;    /* per thread: scores[GMAX][chunk_keys], q copy [GMAX][hd] */
    size_t per_thread; /* floats */
    float *partial;    /* per item and head: max, sum, out[hd] (n_chunks > 1) */
};

static inline float f16r(float x)
{
    return mb_f16_to_f32(mb_f32_to_f16(x));
}

/* Item (row, kvh, chunk), query heads h0 .. h0+gn-1 of the group. */
static void attn_item(const struct attn_job *j, size_t row, size_t kvh, size_t chunk, size_t h0,
                      size_t gn, float *scratch)
{
    const struct mb_attention_args *a = j->a;
    const struct mb_kv_cache *c = &a->cache;
    const struct ops_table *t = &j->cpu->ops;
    const size_t hd = c->head_dim, es = el_size(c->type);
    const size_t n_keys = (size_t)a->pos[row] + 1;
    const size_t k0 = chunk * j->chunk_keys;
    const size_t first_head = kvh * j->g + h0;
    const bool single = j->n_chunks == 1;
    float *scores = scratch, *qcopy = scratch + GMAX * j->chunk_keys;
    const size_t nk = k0 < n_keys ? MB_MIN(j->chunk_keys, n_keys - k0) : 0;
    float *part = NULL;
    if (!single)
        part = j->partial + ((row * c->n_kv_head + kvh) * j->n_chunks + chunk) * j->g * (hd + 2) +
               h0 * (hd + 2);
    if (nk == 0) { /* this row has fewer keys than the chunk starts at */
        for (size_t h = 0; h < gn; h++) {
            part[h * (hd + 2)] = -INFINITY;
            part[h * (hd + 2) + 1] = 0.0f;
        }
        return;
    }
    const float *q = a->q + row * a->q_stride + first_head * hd;
    size_t q_stride = hd;
    const bool round = a->round_f16 && c->type == MB_DTYPE_F16;
    if (round) { /* q through f16 */
        for (size_t i = 0; i < gn * hd; i++)
            qcopy[i] = f16r(q[i]);
        q = qcopy;
    }
    const uint8_t *k = (const uint8_t *)c->k + ((kvh * c->n_ctx) + k0) * hd * es;
    const uint8_t *v = (const uint8_t *)c->v + ((kvh * c->n_ctx) + k0) * hd * es;
    t->attn_scores_g(q, q_stride, gn, k, c->type, nk, hd, a->scale, scores, j->chunk_keys);
    float maxs[GMAX];
    double sums[GMAX];
    for (size_t h = 0; h < gn; h++) {
        float *s = scores + h * j->chunk_keys;
        float mx = -INFINITY;
        for (size_t i = 0; i < nk; i++)
            mx = s[i] > mx ? s[i] : mx;
        maxs[h] = mx;
        sums[h] = t->exp_sum(s, nk, mx);
        if (single) { /* normalise now: out is final */
            t->scale(s, s, nk, (float)(1.0 / sums[h]));
            if (round)
                for (size_t i = 0; i < nk; i++)
                    s[i] = f16r(s[i]);
        }
    }
    float *out;
    size_t out_stride;
    if (single) {
        out = a->out + row * a->out_stride + first_head * hd;
        out_stride = hd;
    } else {
        out = part + 2;
        out_stride = hd + 2;
    }
    for (size_t h = 0; h < gn; h++)
        memset(out + h * out_stride, 0, hd * sizeof(float));
    t->attn_accum_g(scores, j->chunk_keys, gn, v, c->type, nk, hd, out, out_stride);
    if (!single)
        for (size_t h = 0; h < gn; h++) {
            part[h * (hd + 2)] = maxs[h];
            part[h * (hd + 2) + 1] = (float)sums[h];
        }
}

static void attn_range(void *arg, size_t begin, size_t end, unsigned ith)
{
    const struct attn_job *j = arg;
    float *scratch = j->scratch + ith * j->per_thread;
    const size_t n_kv = j->a->cache.n_kv_head;
    for (size_t it = begin; it < end; it++) {
        size_t chunk = it % j->n_chunks, rest = it / j->n_chunks;
        size_t kvh = rest % n_kv, row = rest / n_kv;
        for (size_t h0 = 0; h0 < j->g; h0 += GMAX)
            attn_item(j, row, kvh, chunk, h0, MB_MIN((size_t)GMAX, j->g - h0), scratch);
    }
}

/* Combine the chunks of every (row, query head): softmax over all of them. */
static void attn_merge(const struct attn_job *j)
{
    const struct mb_attention_args *a = j->a;
    const size_t hd = a->cache.head_dim, n_kv = a->cache.n_kv_head;
    for (size_t row = 0; row < a->m; row++)
        for (size_t kvh = 0; kvh < n_kv; kvh++)
            for (size_t h = 0; h < j->g; h++) {
                const float *base =
                    j->partial + (row * n_kv + kvh) * j->n_chunks * j->g * (hd + 2) + h * (hd + 2);
                const size_t cstride = j->g * (hd + 2);
                float mx = -INFINITY;
                for (size_t c = 0; c < j->n_chunks; c++)
                    mx = MB_MAX(mx, base[c * cstride]);
                float *out = a->out + row * a->out_stride + (kvh * j->g + h) * hd;
                memset(out, 0, hd * sizeof(float));
                double total = 0.0;
                for (size_t c = 0; c < j->n_chunks; c++) {
                    const float *pc = base + c * cstride;
                    if (pc[1] == 0.0f)
                        continue; /* an empty chunk */
                    const float w = expf(pc[0] - mx);
                    total += (double)w * pc[1];
                    j->cpu->ops.axpy(pc + 2, out, hd, w);
                }
                j->cpu->ops.scale(out, out, hd, (float)(1.0 / total));
            }
}

int cpu_attention(struct cpu_backend *cpu, const struct mb_attention_args *a, struct mb_err *err)
{
    int rc = mb_attention_check(a, err);
    if (rc < 0)
        return rc;
    size_t max_keys = 0, work = 0;
    for (size_t i = 0; i < a->m; i++) {
        if (a->pos[i] < 0 || (size_t)a->pos[i] >= a->cache.n_ctx)
            return mb_fail(err, MB_E_FORMAT,
                           "attention: position %d of row %zu is outside the cache of %zu",
                           (int)a->pos[i], i, a->cache.n_ctx);
        max_keys = MB_MAX(max_keys, (size_t)a->pos[i] + 1);
        work += (size_t)a->pos[i] + 1;
    }
    const size_t hd = a->cache.head_dim, n_kv = a->cache.n_kv_head;
    struct attn_job j = { .cpu = cpu, .a = a, .g = a->n_head / n_kv, .n_chunks = 1 };
    /* Each key costs ~4 * head_dim flops per head; small problems stay on this thread. */
    work *= a->n_head * hd;
    const bool parallel = work >= 64 * 1024 && cpu->n_threads > 1;
    const size_t rows_items = a->m * n_kv;
    if (parallel && rows_items < 4 * (size_t)cpu->n_threads && !a->round_f16) {
        /* decode: split the keys so that there are ~4 items per thread (chunks >= 64 keys) */
        size_t want = (4 * (size_t)cpu->n_threads + rows_items - 1) / rows_items;
        j.n_chunks = MB_MAX((size_t)1, MB_MIN(want, (max_keys + 63) / 64));
    }
    j.chunk_keys = (max_keys + j.n_chunks - 1) / j.n_chunks;
    j.chunk_keys = (j.chunk_keys + 15) & ~(size_t)15;
    j.per_thread = GMAX * j.chunk_keys + GMAX * hd;
    size_t items = rows_items * j.n_chunks;
    size_t n_partial = j.n_chunks > 1 ? items * j.g * (hd + 2) : 0;
    size_t floats = j.per_thread * cpu->n_threads + n_partial;
    float *mem = cpu_scratch(cpu, floats * sizeof(float), err);
    if (!mem)
        return err ? err->code : MB_E_NOMEM;
    j.scratch = mem;
    j.partial = mem + j.per_thread * cpu->n_threads;
    mb_pool_for(cpu->pool, items, parallel ? 1 : items, attn_range, &j);
    if (j.n_chunks > 1)
        attn_merge(&j);
    return 0;
}
