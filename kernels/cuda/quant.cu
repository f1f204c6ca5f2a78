/*
 * quant.cu - quantization of activations for the int8 matrix-vector kernels
 * (layout in cuda_int.cuh), with the CPU backend's rounding exactly
 * (kernels/cpu/quant_act.c): the integers and scales equal the CPU's and
 * llama.cpp's, so an integer dot product per block is the same number on
 * every backend and only the float sum over blocks is ordered differently.
 *
 *   Q8_1 (also serves Q8_0): one warp per 32-block. amax = max |x|,
 *     d = amax / 127 (stored f16-rounded), q = round-half-even(x * (127 / amax)),
 *     s = f16(d * sum q) with the unrounded d.
 *   Q8_K: one 256-thread block per 256-block. max = the first x of largest
 *     |x|, iscale = -127 / max, q = min(127, round-half-even(iscale * x)),
 *     d = 1 / iscale, bsums over 16.
 */
#include "cuda_common.cuh"
#include "cuda_int.cuh"

bool cu_act_bytes(int fmt, size_t m, size_t k, size_t *bytes)
{
    size_t qs, nb = fmt == CU_ACT_Q8_K ? k / 256 : k / 32, f, total;
    if (!mb_mul_ok(m, k, &qs) || !mb_mul_ok(m, nb * sizeof(float), &f))
        return false;
    qs = (qs + 255) & ~(size_t)255;
    f = (f + 255) & ~(size_t)255;
    /* qs, d, then s (Q8_1) or bsums (Q8_K, m * k/16 int16 = m * k / 8 bytes) */
    size_t third = fmt == CU_ACT_Q8_K ? (m * k / 8 + 255) & ~(size_t)255 : f;
    if (!mb_add_ok(qs, f, &total) || !mb_add_ok(total, third, &total))
        return false;
    *bytes = total;
    return true;
}

void cu_act_layout(struct cu_act *a, int fmt, size_t m, size_t k, void *base)
{
    const size_t nb = fmt == CU_ACT_Q8_K ? k / 256 : k / 32;
    const size_t qs = (m * k + 255) & ~(size_t)255;
    const size_t f = (m * nb * sizeof(float) + 255) & ~(size_t)255;
    uint8_t *p = (uint8_t *)base;
    a->fmt = fmt;
    a->m = m;
    a->k = k;
    a->qs = (int8_t *)p;
    a->d = (float *)(p + qs);
    a->s = fmt == CU_ACT_Q8_1 ? (float *)(p + qs + f) : NULL;
    a->bsums = fmt == CU_ACT_Q8_K ? (int16_t *)(p + qs + f) : NULL;
}

/* One warp per 32-block: block index b over m * k/32 (row r = b / nb). */
__global__ void quant_q8_1_kernel(const float *__restrict__ x, size_t stride, size_t nb,
                                  size_t n_blocks, int8_t *__restrict__ qs, float *__restrict__ d,
                                  float *__restrict__ s)
{
    const size_t b = (size_t)blockIdx.x * (blockDim.x / WARP) + threadIdx.x / WARP;
    const int lane = threadIdx.x % WARP;
    if (b >= n_blocks)
        return;
    const size_t r = b / nb, j = b % nb;
    const float v = x[r * stride + j * 32 + lane];
    const float amax = warp_max(fabsf(v));
    const float db = __fdiv_rn(amax, 127.0f);
    const float id = amax != 0.0f ? __fdiv_rn(127.0f, amax) : 0.0f;
    const int q = __float2int_rn(__fmul_rn(v, id));
    qs[b * 32 + lane] = (int8_t)q;
    const int sum = warp_sum_int(q);
    if (lane == 0) {
        d[b] = f16_round(db);
        s[b] = f16_round(__fmul_rn(db, (float)sum));
    }
}

/* One 256-thread block per 256-block. */
__global__ void quant_q8_k_kernel(const float *__restrict__ x, size_t stride, size_t nb,
                                  int8_t *__restrict__ qs, float *__restrict__ d,
                                  int16_t *__restrict__ bsums)
{
    __shared__ float s_ax[8];
    __shared__ int s_ix[8];
    __shared__ float s_max;
    const size_t b = blockIdx.x, r = b / nb, j = b % nb;
    const int t = threadIdx.x, lane = t % WARP, w = t / WARP;
    const float v = x[r * stride + j * 256 + t];
    /* the largest |x|, first index on ties (the CPU scans with '>') */
    float ax = fabsf(v);
    int ix = t;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        float oa = __shfl_xor_sync(FULL_MASK, ax, o);
        int oi = __shfl_xor_sync(FULL_MASK, ix, o);
        if (oa > ax || (oa == ax && oi < ix)) {
            ax = oa;
            ix = oi;
        }
    }
    if (lane == 0) {
        s_ax[w] = ax;
        s_ix[w] = ix;
    }
    __syncthreads();
    if (t == 0) {
        float best = s_ax[0];
        int bi = s_ix[0];
        for (int i = 1; i < 8; i++)
            if (s_ax[i] > best) {
                best = s_ax[i];
                bi = s_ix[i];
            }
        s_max = best == 0.0f ? 0.0f : x[r * stride + j * 256 + bi];
    }
    __syncthreads();
    const float max = s_max;
    int q = 0;
    if (max != 0.0f) {
        const float iscale = __fdiv_rn(-127.0f, max);
        q = __float2int_rn(__fmul_rn(iscale, v));
        q = q > 127 ? 127 : q;
        if (t == 0)
            d[b] = __fdiv_rn(1.0f, iscale);
    } else if (t == 0) {
        d[b] = 0.0f;
    }
    qs[b * 256 + t] = (int8_t)q;
    /* sums of 16: half-warps */
    int sum = q;
#pragma unroll
    for (int o = 8; o > 0; o >>= 1)
        sum += __shfl_xor_sync(FULL_MASK, sum, o);
    if ((t % 16) == 0)
        bsums[b * 16 + t / 16] = (int16_t)sum;
}

int cu_quantize(struct cuda_backend *cb, const float *x, size_t m, size_t k, size_t stride,
                const struct cu_act *a, struct mb_err *err)
{
    if (m > 1 && stride < k)
        return mb_fail(err, MB_E_USAGE, "cuda: quantize: stride %zu < row length %zu", stride, k);
    if (a->fmt == CU_ACT_Q8_1) {
        const size_t nb = k / 32, n = m * nb;
        const unsigned per = 8; /* warps (blocks of 32) per thread block */
        const size_t grid = (n + per - 1) / per;
        quant_q8_1_kernel<<<(unsigned)grid, per * WARP, 0, cb->stream>>>(x, m > 1 ? stride : k, nb,
                                                                         n, a->qs, a->d, a->s);
    } else {
        const size_t nb = k / 256;
        quant_q8_k_kernel<<<(unsigned)(m * nb), 256, 0, cb->stream>>>(x, m > 1 ? stride : k, nb,
                                                                      a->qs, a->d, a->bsums);
    }
    CU_LAUNCHED(err);
    return 0;
}
