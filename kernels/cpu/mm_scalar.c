/*
 * mm_scalar.c - the portable matmul kernels: one dot product of a weight row
 * (GGUF blocks) with an activation row (cpu_int.h) per output, in plain C
 * with exact integer sums per block. The fallback on CPUs without AVX2 and
 * the model the SIMD kernels follow.
 */
#include "cpu_int.h"

static inline float h2f(mb_f16 h)
{
    return mb_f16_to_f32(h);
}

static float dot_q4_0(const uint8_t *w, size_t nb, const struct act *a, size_t row)
{
    const struct mb_block_q4_0 *x = (const struct mb_block_q4_0 *)w;
    const int8_t *q = act_qs(a, row);
    const float *d = act_d(a, row);
    float sum = 0.0f;
    for (size_t b = 0; b < nb; b++, q += 32) {
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            isum += ((x[b].qs[j] & 0xF) - 8) * q[j];
            isum += ((x[b].qs[j] >> 4) - 8) * q[j + 16];
        }
        sum += h2f(x[b].d) * d[b] * (float)isum;
    }
    return sum;
}

static float dot_q4_1(const uint8_t *w, size_t nb, const struct act *a, size_t row)
{
    const struct mb_block_q4_1 *x = (const struct mb_block_q4_1 *)w;
    const int8_t *q = act_qs(a, row);
    const float *d = act_d(a, row);
    const float *s = act_s(a, row);
    float sum = 0.0f;
    for (size_t b = 0; b < nb; b++, q += 32) {
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            isum += (x[b].qs[j] & 0xF) * q[j];
            isum += (x[b].qs[j] >> 4) * q[j + 16];
        }
        sum += h2f(x[b].d) * d[b] * (float)isum + h2f(x[b].m) * s[b];
    }
    return sum;
}

static inline uint32_t load_u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static float dot_q5_0(const uint8_t *w, size_t nb, const struct act *a, size_t row)
{
    const struct mb_block_q5_0 *x = (const struct mb_block_q5_0 *)w;
    const int8_t *q = act_qs(a, row);
    const float *d = act_d(a, row);
    float sum = 0.0f;
    for (size_t b = 0; b < nb; b++, q += 32) {
        uint32_t qh = load_u32(x[b].qh);
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            int lo = (x[b].qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
            int hi = (x[b].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            isum += (lo - 16) * q[j] + (hi - 16) * q[j + 16];
        }
        sum += h2f(x[b].d) * d[b] * (float)isum;
    }
    return sum;
}

static float dot_q5_1(const uint8_t *w, size_t nb, const struct act *a, size_t row)
{
    const struct mb_block_q5_1 *x = (const struct mb_block_q5_1 *)w;
    const int8_t *q = act_qs(a, row);
    const float *d = act_d(a, row);
    const float *s = act_s(a, row);
    float sum = 0.0f;
    for (size_t b = 0; b < nb; b++, q += 32) {
        uint32_t qh = load_u32(x[b].qh);
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            int lo = (x[b].qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
            int hi = (x[b].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            isum += lo * q[j] + hi * q[j + 16];
        }
        sum += h2f(x[b].d) * d[b] * (float)isum + h2f(x[b].m) * s[b];
    }
    return sum;
}

static float dot_q8_0(const uint8_t *w, size_t nb, const struct act *a, size_t row)
{
    const struct mb_block_q8_0 *x = (const struct mb_block_q8_0 *)w;
    const int8_t *q = act_qs(a, row);
    const float *d = act_d(a, row);
    float sum = 0.0f;
    for (size_t b = 0; b < nb; b++, q += 32) {
        int isum = 0;
        for (int j = 0; j < 32; j++)
            isum += x[b].qs[j] * q[j];
        sum += h2f(x[b].d) * d[b] * (float)isum;
    }
    return sum;
}

static float dot_q4_k(const uint8_t *w, size_t nb, const struct act *a, size_t row)
{
    const struct mb_block_q4_k *x = (const struct mb_block_q4_k *)w;
    const int8_t *q = act_qs(a, row);
    const float *d8 = act_d(a, row);
    const int16_t *bs = act_bsums(a, row);
    float sum = 0.0f;
    for (size_t b = 0; b < nb; b++, q += MB_QK_K, bs += 16) {
        int sumi = 0, summ = 0;
        for (int s = 0; s < 8; s++) {
            uint8_t sc, m;
            k_scale_min(x[b].scales, s, &sc, &m);
            const uint8_t *qs = x[b].qs + 32 * (s / 2);
            const int shift = 4 * (s % 2);
            int isum = 0;
            for (int l = 0; l < 32; l++)
                isum += ((qs[l] >> shift) & 0xF) * q[32 * s + l];
            sumi += sc * isum;
            summ += m * (bs[2 * s] + bs[2 * s + 1]);
        }
        sum += d8[b] * (h2f(x[b].d) * (float)sumi - h2f(x[b].dmin) * (float)summ);
    }
    return sum;
}

static float dot_q5_k(const uint8_t *w, size_t nb, const struct act *a, size_t row)
{
    const struct mb_block_q5_k *x = (const struct mb_block_q5_k *)w;
    const int8_t *q = act_qs(a, row);
    const float *d8 = act_d(a, row);
    const int16_t *bs = act_bsums(a, row);
    float sum = 0.0f;
    for (size_t b = 0; b < nb; b++, q += MB_QK_K, bs += 16) {
        int sumi = 0, summ = 0;
        for (int s = 0; s < 8; s++) {
            uint8_t sc, m;
            k_scale_min(x[b].scales, s, &sc, &m);
            const uint8_t *qs = x[b].qs + 32 * (s / 2);
            const int shift = 4 * (s % 2);
            int isum = 0;
            for (int l = 0; l < 32; l++) {
                int v = ((qs[l] >> shift) & 0xF) | (((x[b].qh[l] >> s) & 1) << 4);
                isum += v * q[32 * s + l];
            }
            sumi += sc * isum;
            summ += m * (bs[2 * s] + bs[2 * s + 1]);
        }
        sum += d8[b] * (h2f(x[b].d) * (float)sumi - h2f(x[b].dmin) * (float)summ);
    }
    return sum;
}

static float dot_q6_k(const uint8_t *w, size_t nb, const struct act *a, size_t row)
{
    const struct mb_block_q6_k *x = (const struct mb_block_q6_k *)w;
    const int8_t *q = act_qs(a, row);
    const float *d8 = act_d(a, row);
    float sum = 0.0f;
    for (size_t b = 0; b < nb; b++, q += MB_QK_K) {
        int sumi = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[b].ql + 64 * h;
            const uint8_t *qh = x[b].qh + 32 * h;
            const int8_t *sc = x[b].scales + 8 * h;
            const int8_t *qa = q + 128 * h;
            int part[8] = { 0 };
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                part[is + 0] += q1 * qa[l];
                part[is + 2] += q2 * qa[l + 32];
                part[is + 4] += q3 * qa[l + 64];
                part[is + 6] += q4 * qa[l + 96];
            }
            for (int i = 0; i < 8; i++)
                sumi += sc[i] * part[i];
        }
        sum += d8[b] * h2f(x[b].d) * (float)sumi;
    }
    return sum;
}

static float dot_f32(const uint8_t *w, size_t n, const struct act *a, size_t row)
{
    const float *x = act_x(a, row);
    float acc[4] = { 0 };
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++) {
            float v;
            memcpy(&v, w + (i + (size_t)j) * 4, 4);
            acc[j] += v * x[i + (size_t)j];
        }
    for (; i < n; i++) {
        float v;
        memcpy(&v, w + i * 4, 4);
        acc[0] += v * x[i];
    }
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

static float dot_f16(const uint8_t *w, size_t n, const struct act *a, size_t row)
{
    const float *x = act_x(a, row);
    float acc[4] = { 0 };
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++) {
            mb_f16 h;
            memcpy(&h, w + (i + (size_t)j) * 2, 2);
            acc[j] += h2f(h) * x[i + (size_t)j];
        }
    for (; i < n; i++) {
        mb_f16 h;
        memcpy(&h, w + i * 2, 2);
        acc[0] += h2f(h) * x[i];
    }
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

static float dot_bf16(const uint8_t *w, size_t n, const struct act *a, size_t row)
{
    const float *x = act_x(a, row);
    float acc[4] = { 0 };
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++) {
            mb_bf16 h;
            memcpy(&h, w + (i + (size_t)j) * 2, 2);
            acc[j] += mb_bf16_to_f32(h) * x[i + (size_t)j];
        }
    for (; i < n; i++) {
        mb_bf16 h;
        memcpy(&h, w + i * 2, 2);
        acc[0] += mb_bf16_to_f32(h) * x[i];
    }
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

typedef float (*dot_fn)(const uint8_t *w, size_t nb, const struct act *a, size_t row);

static inline void run_dot(const struct mm_job *job, size_t r0, size_t r1, size_t c0, size_t c1,
                           dot_fn dot)
{
    for (size_t c = c0; c < c1; c++) {
        float *y = job->y + c * job->y_stride;
        for (size_t r = r0; r < r1; r++) {
            float v = dot(job->w + r * job->w_row_bytes, job->nb, job->a, c);
            y[r] = job->accumulate ? y[r] + v : v;
        }
    }
}

#define DEF_RUN(name)                                                                            \
    static void run_##name(const struct mm_job *job, size_t r0, size_t r1, size_t c0, size_t c1) \
    {                                                                                            \
        run_dot(job, r0, r1, c0, c1, dot_##name);                                                \
    }
DEF_RUN(q4_0)
DEF_RUN(q4_1)
DEF_RUN(q5_0)
DEF_RUN(q5_1)
DEF_RUN(q8_0)
DEF_RUN(q4_k)
DEF_RUN(q5_k)
DEF_RUN(q6_k)
DEF_RUN(f32)
DEF_RUN(f16)
DEF_RUN(bf16)

void mm_table_scalar(struct mm_kernel tab[MB_DTYPE_COUNT])
{
    tab[MB_DTYPE_F32] = (struct mm_kernel){ ACT_F32, 0, run_f32 };
    tab[MB_DTYPE_F16] = (struct mm_kernel){ ACT_F32, 0, run_f16 };
    tab[MB_DTYPE_BF16] = (struct mm_kernel){ ACT_F32, 0, run_bf16 };
    tab[MB_DTYPE_Q4_0] = (struct mm_kernel){ ACT_Q8_0, 0, run_q4_0 };
    tab[MB_DTYPE_Q4_1] = (struct mm_kernel){ ACT_Q8_1, 0, run_q4_1 };
    tab[MB_DTYPE_Q5_0] = (struct mm_kernel){ ACT_Q8_0, 0, run_q5_0 };
    tab[MB_DTYPE_Q5_1] = (struct mm_kernel){ ACT_Q8_1, 0, run_q5_1 };
    tab[MB_DTYPE_Q8_0] = (struct mm_kernel){ ACT_Q8_0, 0, run_q8_0 };
    tab[MB_DTYPE_Q4_K] = (struct mm_kernel){ ACT_Q8_K, 0, run_q4_k };
    tab[MB_DTYPE_Q5_K] = (struct mm_kernel){ ACT_Q8_K, 0, run_q5_k };
    tab[MB_DTYPE_Q6_K] = (struct mm_kernel){ ACT_Q8_K, 0, run_q6_k };
}
