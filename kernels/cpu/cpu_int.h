/*
 * cpu_int.h - internals of the CPU backend shared by its files: the layout of
 * quantized activations, the per-type matmul kernel tables of each SIMD level,
 * and the backend state. Nothing outside kernels/cpu/ includes this.
 *
 * Quantized activations ("act" rows). A matmul quantizes its input x once per
 * op, in the format ggml pairs with the weight type, with ggml's rounding
 * (x86 path: d = amax/127, q = round-half-even(x * 127/amax), d stored as f16;
 * Q8_1 adds s = f16(d * sum q); Q8_K: d = -max/127, q = min(127, rint(-127 x/max))),
 * so the integers and scales equal llama.cpp's. The layout is ours, split by
 * field so SIMD code loads 64 quants or 16 scales at once:
 *
 *     qs[k]      int8 quants, 64-byte aligned
 *     d[nb]      block scales as f32 (for Q8_0/Q8_1 the f16 value widened)
 *     s[nb]      Q8_1: f16(d * sum q) widened; unused otherwise
 *     g4[k/4]    offset types: -off * (q[4i] + .. + q[4i+3]) as int32, the
 *                initial value of an integer dot product so that a kernel
 *                multiplying unsigned weights u = q_w + off gets
 *                sum (u - off) * a exactly (Q4_0: off 8, Q5_0: 16, Q8_0: 128)
 *     bsums[k/16] Q8_K: sums of 16 quants as int16
 *
 * rows are `row_bytes` apart; every field of a row starts 64-byte aligned.
 */
#ifndef MB_CPU_INT_H
#define MB_CPU_INT_H

#include "mb_backend.h"
#include "mb_threadpool.h"

/* Activation formats. */
enum act_fmt {
    ACT_F32 = 0, /* no quantization: kernels read x directly */
    ACT_Q8_0,    /* 32-blocks, d */
    ACT_Q8_1,    /* 32-blocks, d, s */
    ACT_Q8_K,    /* 256-blocks, d, bsums */
};

/* Quantized activations of m rows (see the layout above). */
struct act {
    enum act_fmt fmt;
    int off; /* offset baked into g4 (0: no g4) */
    size_t k, nb, m;
    size_t row_bytes;
    size_t o_d, o_s, o_g4, o_bsums; /* field offsets inside a row */
    uint8_t *base;
    /* ACT_F32: x itself */
    const float *x;
    size_t x_stride;
};

static inline const int8_t *act_qs(const struct act *a, size_t row)
{
    return (const int8_t *)(a->base + row * a->row_bytes);
}
static inline const float *act_d(const struct act *a, size_t row)
{
    return (const float *)(a->base + row * a->row_bytes + a->o_d);
}
static inline const float *act_s(const struct act *a, size_t row)
{
    return (const float *)(a->base + row * a->row_bytes + a->o_s);
}
static inline const int32_t *act_g4(const struct act *a, size_t row)
{
    return (const int32_t *)(a->base + row * a->row_bytes + a->o_g4);
}
static inline const int16_t *act_bsums(const struct act *a, size_t row)
{
    return (const int16_t *)(a->base + row * a->row_bytes + a->o_bsums);
}
static inline const float *act_x(const struct act *a, size_t row)
{
    return a->x + row * a->x_stride;
}

/* Bytes of one quantized row, and the field offsets; false on overflow. */
bool act_layout(struct act *a, enum act_fmt fmt, int off, size_t k);

/* Quantize one row: x (a->k floats) into row `row` of a (a->base set). */
typedef void (*act_quant_fn)(const float *x, struct act *a, size_t row);

/* One matmul job as a type kernel sees it: one output of the op. */
struct mm_job {
    const uint8_t *w; /* weight rows */
    size_t w_row_bytes;
    size_t nb; /* weight blocks per row */
    const struct act *a;
    float *y;
    size_t y_stride;
    bool accumulate;
};

/*
 * Compute outputs for weight rows [r0, r1) and activation rows [c0, c1):
 * y[c][r] (+)= dot(W row r, act row c).
 */
typedef void (*mm_fn)(const struct mm_job *job, size_t r0, size_t r1, size_t c0, size_t c1);

/* A weight type's kernel at one SIMD level. */
struct mm_kernel {
    enum act_fmt act;
    int off; /* offset the kernel expects in g4 (0: none) */
    mm_fn run;
};

/* The per-level tables: index by weight type; run == NULL: not at this level. */
void mm_table_scalar(struct mm_kernel tab[MB_DTYPE_COUNT]);
void mm_table_avx2(struct mm_kernel tab[MB_DTYPE_COUNT]);
void mm_table_avx512(struct mm_kernel tab[MB_DTYPE_COUNT]);

/* Activation quantizers per level (index enum act_fmt; ACT_F32 unused). */
void act_quant_scalar(enum act_fmt fmt, const float *x, struct act *a, size_t row);
void act_quant_avx2(enum act_fmt fmt, const float *x, struct act *a, size_t row);

/* Element-wise and attention kernels per level (cpu/ops_*.c). */
struct ops_table {
    void (*rmsnorm_row)(const float *x, float *y, const float *w, size_t n, float eps);
    void (*silu_mul)(const float *g, const float *u, float *y, size_t n);
    void (*add)(const float *a, const float *b, float *y, size_t n);
    void (*scale)(const float *x, float *y, size_t n, float s);
    void (*axpy)(const float *x, float *y, size_t n, float w);
    void (*softmax_row)(float *x, size_t n, float scale);
    /*
     * Scores of g query heads (q + h * q_stride) against n_keys key rows of
     * dim d (f32 or f16): scores[h * s_stride + j] = scale * dot(q_h, k_j).
     * g <= 8.
     */
    void (*attn_scores_g)(const float *q, size_t q_stride, size_t g, const void *k, uint32_t type,
                          size_t n_keys, size_t d, float scale, float *scores, size_t s_stride);
    /* out[h * o_stride + i] += sum_j p[h * p_stride + j] * v_j[i] for h < g (<= 8), j < n */
    void (*attn_accum_g)(const float *p, size_t p_stride, size_t g, const void *v, uint32_t type,
                         size_t n, size_t d, float *out, size_t o_stride);
    /* x[i] = exp(x[i] - max) in place; returns the sum (accumulated in double) */
    double (*exp_sum)(float *x, size_t n, float max);
    /* f32 -> f16 row conversion (kv_store) */
    void (*to_f16)(const float *x, mb_f16 *y, size_t n);
};
void ops_table_scalar(struct ops_table *t);
void ops_table_avx2(struct ops_table *t);
void ops_table_avx512(struct ops_table *t);

/* The CPU backend. */
struct cpu_backend {
    struct mb_backend base;
    struct mb_pool *pool;
    unsigned n_threads;
    enum mb_cpu_isa isa;
    struct mm_kernel mm[MB_DTYPE_COUNT];
    void (*act_quant)(enum act_fmt fmt, const float *x, struct act *a, size_t row);
    struct ops_table ops;
    /* scratch, grown on demand up to max_scratch */
    uint8_t *scratch;
    size_t scratch_size, max_scratch;
};

/* At least n bytes of 64-byte aligned scratch (contents undefined); NULL + err on failure. */
void *cpu_scratch(struct cpu_backend *cpu, size_t n, struct mb_err *err);

/* The op entry points (cpu/matmul.c, cpu/attention.c, cpu/ops.c). */
int cpu_matmul(struct cpu_backend *cpu, const struct mb_matmul_args *a, struct mb_err *err);
int cpu_get_rows(struct cpu_backend *cpu, const struct mb_get_rows_args *a, struct mb_err *err);
int cpu_kv_store(struct cpu_backend *cpu, const struct mb_kv_store_args *a, struct mb_err *err);
int cpu_attention(struct cpu_backend *cpu, const struct mb_attention_args *a, struct mb_err *err);
int cpu_rmsnorm(struct cpu_backend *cpu, const struct mb_rmsnorm_args *a, struct mb_err *err);
int cpu_rope(struct cpu_backend *cpu, const struct mb_rope_args *a, struct mb_err *err);
int cpu_softmax(struct cpu_backend *cpu, const struct mb_softmax_args *a, struct mb_err *err);
int cpu_silu_mul(struct cpu_backend *cpu, const struct mb_silu_mul_args *a, struct mb_err *err);
int cpu_add(struct cpu_backend *cpu, const struct mb_add_args *a, struct mb_err *err);
int cpu_scale(struct cpu_backend *cpu, const struct mb_scale_args *a, struct mb_err *err);
int cpu_axpy(struct cpu_backend *cpu, const struct mb_axpy_args *a, struct mb_err *err);
int cpu_topk(struct cpu_backend *cpu, const struct mb_topk_args *a, struct mb_err *err);

/* Shared scalar helpers. */
static inline float f16_round(float x)
{
    return mb_f16_to_f32(mb_f32_to_f16(x));
}

/* The 6-bit scale and min of sub-block j of a Q4_K/Q5_K super-block (ggml's packing). */
static inline void k_scale_min(const uint8_t *q, int j, uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/*
 * Round half to even, as rint() in the default rounding mode and _mm*_round_ps
 * do (ggml's nearest_int): adding 1.5 * 2^23 leaves the rounded integer in the
 * low mantissa bits. Valid for |x| < 2^22.
 */
static inline int round_even(float x)
{
    float v = x + 12582912.0f;
    int32_t i;
    memcpy(&i, &v, sizeof(i));
    return (i & 0x007fffff) - 0x00400000;
}

#endif /* MB_CPU_INT_H */
