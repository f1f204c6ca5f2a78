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

struct attn_job {
    struct cpu_backend *cpu;
    const struct mb_attention_args *a;
    float *scratch; /* per thread: scores[max_keys] */
    size_t per_thread;
};

/* One (row, head) item. */
static void attn_one(const struct attn_job *j, size_t row, size_t head, float *scores)
{
    const struct mb_attention_args *a = j->a;
    const struct mb_kv_cache *c = &a->cache;
    const struct ops_table *t = &j->cpu->ops;
    const size_t hd = c->head_dim, es = el_size(c->type);
    const size_t group = a->n_head / c->n_kv_head, kvh = head / group;
    const size_t n_keys = (size_t)a->pos[row] + 1;
    const float *q = a->q + row * a->q_stride + head * hd;
    float *out = a->out + row * a->out_stride + head * hd;
    const uint8_t *k = (const uint8_t *)c->k + kvh * c->n_ctx * hd * es;
    const uint8_t *v = (const uint8_t *)c->v + kvh * c->n_ctx * hd * es;

    t->attn_scores(q, k, c->type, n_keys, hd, a->scale, scores);
    t->softmax_row(scores, n_keys, 1.0f); /* max subtracted, normalised */
    memset(out, 0, hd * sizeof(float));
    t->attn_accum(scores, v, c->type, n_keys, hd, out);
}

static void attn_range(void *arg, size_t begin, size_t end, unsigned ith)
{
    const struct attn_job *j = arg;
    float *scores = j->scratch + ith * j->per_thread;
    for (size_t it = begin; it < end; it++)
        attn_one(j, it / j->a->n_head, it % j->a->n_head, scores);
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
    struct attn_job j = { cpu, a, NULL, (max_keys + 15) & ~(size_t)15 };
    size_t bytes = j.per_thread * cpu->n_threads * sizeof(float);
    j.scratch = cpu_scratch(cpu, bytes, err);
    if (!j.scratch)
        return err ? err->code : MB_E_NOMEM;
    size_t items = a->m * a->n_head;
    /* Each key costs ~4 * head_dim flops; small problems stay on this thread. */
    work *= a->n_head * a->cache.head_dim;
    size_t grain = work < 64 * 1024 ? items : 1;
    mb_pool_for(cpu->pool, items, grain, attn_range, &j);
    return 0;
}
