/*
 * ops.c - the CPU backend's small ops (RMSNorm, RoPE, softmax, SwiGLU, add,
 * scale, axpy): validation, splitting over threads when an op is big enough
 * to pay for a fork/join (prefill), and the portable row kernels that the
 * SIMD levels (ops_avx2.c, ops_avx512.c) replace.
 */
#include "cpu_int.h"

#include <math.h>

/* Below this many elements an op runs on the calling thread (a fork/join costs ~1-2 us). */
#define PAR_MIN_ELEMS (32 * 1024)

/* ---------------------------------------------------------- scalar rows */

static void rmsnorm_row_scalar(const float *x, float *y, const float *w, size_t n, float eps)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += (double)x[i] * (double)x[i];
    const float mean = (float)(sum / (double)n);
    const float scale = 1.0f / sqrtf(mean + eps);
    if (w)
        for (size_t i = 0; i < n; i++)
            y[i] = (x[i] * scale) * w[i];
    else
        for (size_t i = 0; i < n; i++)
            y[i] = x[i] * scale;
}

static void silu_mul_scalar(const float *g, const float *u, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static void add_scalar(const float *a, const float *b, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

static void scale_scalar(const float *x, float *y, size_t n, float s)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] * s;
}

static void axpy_scalar(const float *x, float *y, size_t n, float w)
{
    for (size_t i = 0; i < n; i++)
        y[i] += w * x[i];
}

static void softmax_row_scalar(float *x, size_t n, float scale)
{
    float max = -INFINITY;
    for (size_t i = 0; i < n; i++)
        max = fmaxf(max, x[i] * scale);
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        float e = expf(x[i] * scale - max);
        x[i] = e;
        sum += (double)e;
    }
    const float inv = (float)(1.0 / sum);
    for (size_t i = 0; i < n; i++)
        x[i] *= inv;
}

static inline float cache_el(const void *base, uint32_t type, size_t i)
{
    if (type == MB_DTYPE_F16)
        return mb_f16_to_f32(((const mb_f16 *)base)[i]);
    return ((const float *)base)[i];
}

static void attn_scores_g_scalar(const float *q, size_t q_stride, size_t g, const void *k,
                                 uint32_t type, size_t n_keys, size_t d, float scale, float *scores,
                                 size_t s_stride)
{
    for (size_t j = 0; j < n_keys; j++)
        for (size_t h = 0; h < g; h++) {
            float s = 0.0f;
            for (size_t i = 0; i < d; i++)
                s += q[h * q_stride + i] * cache_el(k, type, j * d + i);
            scores[h * s_stride + j] = s * scale;
        }
}

static void attn_accum_g_scalar(const float *p, size_t p_stride, size_t g, const void *v,
                                uint32_t type, size_t n, size_t d, float *out, size_t o_stride)
{
    for (size_t j = 0; j < n; j++)
        for (size_t i = 0; i < d; i++) {
            const float vv = cache_el(v, type, j * d + i);
            for (size_t h = 0; h < g; h++)
                out[h * o_stride + i] += p[h * p_stride + j] * vv;
        }
}

static double exp_sum_scalar(float *x, size_t n, float max)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += (double)x[i];
    }
    return sum;
}

static void to_f16_scalar(const float *x, mb_f16 *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = mb_f32_to_f16(x[i]);
}

void ops_table_scalar(struct ops_table *t)
{
    t->rmsnorm_row = rmsnorm_row_scalar;
    t->silu_mul = silu_mul_scalar;
    t->add = add_scalar;
    t->scale = scale_scalar;
    t->axpy = axpy_scalar;
    t->softmax_row = softmax_row_scalar;
    t->attn_scores_g = attn_scores_g_scalar;
    t->attn_accum_g = attn_accum_g_scalar;
    t->exp_sum = exp_sum_scalar;
    t->to_f16 = to_f16_scalar;
}

/* ------------------------------------------------------------- RMSNorm */

struct rows_job {
    struct cpu_backend *cpu;
    const void *args;
};

static void rmsnorm_rows(void *arg, size_t begin, size_t end, unsigned ith)
{
    (void)ith;
    const struct rows_job *j = arg;
    const struct mb_rmsnorm_args *a = j->args;
    for (size_t r = begin; r < end; r++)
        j->cpu->ops.rmsnorm_row(a->x + r * a->x_stride, a->y + r * a->y_stride, a->w, a->n, a->eps);
}

int cpu_rmsnorm(struct cpu_backend *cpu, const struct mb_rmsnorm_args *a, struct mb_err *err)
{
    int rc = mb_rmsnorm_check(a, err);
    if (rc < 0)
        return rc;
    struct rows_job j = { cpu, a };
    if (a->m == 1) {
        cpu->ops.rmsnorm_row(a->x, a->y, a->w, a->n, a->eps);
        return 0;
    }
    size_t grain = MB_MAX((size_t)1, PAR_MIN_ELEMS / 4 / a->n);
    if (a->m * a->n < PAR_MIN_ELEMS)
        grain = a->m;
    mb_pool_for(cpu->pool, a->m, grain, rmsnorm_rows, &j);
    return 0;
}

/* ---------------------------------------------------------------- RoPE */

/*
 * Rotate one row (all heads) at position p. theta follows ggml's recurrence
 * in float (theta_{i+1} = theta_i * base^(-2/n_rot)) so the rounding matches
 * llama.cpp's; cos/sin are computed once per pair and applied to every head.
 */
static void rope_row(const struct mb_rope_args *a, float *x, int32_t p)
{
    const float theta_scale = powf(a->freq_base, -2.0f / (float)a->n_rot);
    const size_t half = a->n_rot / 2;
    float theta = (float)p;
    for (size_t i = 0; i < half; i++) {
        const float t = a->freq_scale * theta;
        const float c = cosf(t), s = sinf(t);
        theta *= theta_scale;
        size_t i0, i1;
        if (a->mode == MB_ROPE_NEOX) {
            i0 = i;
            i1 = i + half;
        } else {
            i0 = 2 * i;
            i1 = 2 * i + 1;
        }
        for (size_t h = 0; h < a->n_head; h++) {
            float *v = x + h * a->head_dim;
            const float x0 = v[i0], x1 = v[i1];
            v[i0] = x0 * c - x1 * s;
            v[i1] = x0 * s + x1 * c;
        }
    }
}

static void rope_rows(void *arg, size_t begin, size_t end, unsigned ith)
{
    (void)ith;
    const struct rows_job *j = arg;
    const struct mb_rope_args *a = j->args;
    for (size_t r = begin; r < end; r++)
        rope_row(a, a->x + r * a->x_stride, a->pos[r]);
}

int cpu_rope(struct cpu_backend *cpu, const struct mb_rope_args *a, struct mb_err *err)
{
    int rc = mb_rope_check(a, err);
    if (rc < 0)
        return rc;
    for (size_t r = 0; r < a->m; r++)
        if (a->pos[r] < 0)
            return mb_fail(err, MB_E_FORMAT, "rope: position %d of row %zu is negative",
                           (int)a->pos[r], r);
    struct rows_job j = { cpu, a };
    size_t width = a->n_head * a->head_dim;
    size_t grain = MB_MAX((size_t)1, PAR_MIN_ELEMS / 4 / width);
    if (a->m * width < PAR_MIN_ELEMS)
        grain = a->m;
    mb_pool_for(cpu->pool, a->m, grain, rope_rows, &j);
    return 0;
}

/* ------------------------------------------------------------- softmax */

static void softmax_rows(void *arg, size_t begin, size_t end, unsigned ith)
{
    (void)ith;
    const struct rows_job *j = arg;
    const struct mb_softmax_args *a = j->args;
    for (size_t r = begin; r < end; r++)
        j->cpu->ops.softmax_row(a->x + r * a->stride, a->n, a->scale);
}

int cpu_softmax(struct cpu_backend *cpu, const struct mb_softmax_args *a, struct mb_err *err)
{
    int rc = mb_softmax_check(a, err);
    if (rc < 0)
        return rc;
    struct rows_job j = { cpu, a };
    size_t grain = MB_MAX((size_t)1, PAR_MIN_ELEMS / 4 / a->n);
    if (a->m * a->n < PAR_MIN_ELEMS)
        grain = a->m;
    mb_pool_for(cpu->pool, a->m, grain, softmax_rows, &j);
    return 0;
}

/* ------------------------------------------------- element-wise vectors */

enum ew_kind { EW_SILU_MUL, EW_ADD, EW_SCALE, EW_AXPY };

struct ew_job {
    struct cpu_backend *cpu;
    enum ew_kind kind;
    const float *a, *b;
    float *y;
    float s;
};

static void ew_range(void *arg, size_t begin, size_t end, unsigned ith)
{
    (void)ith;
    const struct ew_job *j = arg;
    const struct ops_table *t = &j->cpu->ops;
    size_t n = end - begin;
    switch (j->kind) {
    case EW_SILU_MUL:
        t->silu_mul(j->a + begin, j->b + begin, j->y + begin, n);
        break;
    case EW_ADD:
        t->add(j->a + begin, j->b + begin, j->y + begin, n);
        break;
    case EW_SCALE:
        t->scale(j->a + begin, j->y + begin, n, j->s);
        break;
    case EW_AXPY:
        t->axpy(j->a + begin, j->y + begin, n, j->s);
        break;
    }
}

static void ew_run(struct cpu_backend *cpu, struct ew_job *j, size_t n)
{
    /* Chunks are multiples of 64 elements so SIMD bodies see whole vectors. */
    size_t grain = n < PAR_MIN_ELEMS ? n : MB_MAX((size_t)PAR_MIN_ELEMS / 2, (size_t)64);
    mb_pool_for(cpu->pool, n, grain, ew_range, j);
}

int cpu_silu_mul(struct cpu_backend *cpu, const struct mb_silu_mul_args *a, struct mb_err *err)
{
    int rc = mb_silu_mul_check(a, err);
    if (rc < 0)
        return rc;
    struct ew_job j = { cpu, EW_SILU_MUL, a->gate, a->up, a->y, 0.0f };
    ew_run(cpu, &j, a->n);
    return 0;
}

int cpu_add(struct cpu_backend *cpu, const struct mb_add_args *a, struct mb_err *err)
{
    int rc = mb_add_check(a, err);
    if (rc < 0)
        return rc;
    struct ew_job j = { cpu, EW_ADD, a->a, a->b, a->y, 0.0f };
    ew_run(cpu, &j, a->n);
    return 0;
}

int cpu_scale(struct cpu_backend *cpu, const struct mb_scale_args *a, struct mb_err *err)
{
    int rc = mb_scale_check(a, err);
    if (rc < 0)
        return rc;
    struct ew_job j = { cpu, EW_SCALE, a->x, NULL, a->y, a->s };
    ew_run(cpu, &j, a->n);
    return 0;
}

int cpu_axpy(struct cpu_backend *cpu, const struct mb_axpy_args *a, struct mb_err *err)
{
    int rc = mb_axpy_check(a, err);
    if (rc < 0)
        return rc;
    struct ew_job j = { cpu, EW_AXPY, a->x, NULL, a->y, a->w };
    ew_run(cpu, &j, a->n);
    return 0;
}
