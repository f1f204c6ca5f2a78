/*
 * cuda_common.cuh - device helpers shared by the CUDA backend's kernels: warp
 * reductions, unaligned little-endian loads (GGUF blocks of 18, 34 or 210
 * bytes are only 2-byte aligned), f16 conversions, and the dequantization of
 * one 32-element sub-block of every weight type.
 *
 * Dequantization is bit-identical to kernels/ref/dequant.c: the same float32
 * operations in the same order, with the _rn intrinsics so that nvcc cannot
 * contract a multiply and an add into an FMA (which would round differently
 * where the product is inexact).
 *
 * The block-decoding functions are __host__ __device__ (HD) with host
 * versions of the few intrinsics they use, so selftest.cu can run them on
 * the CPU against the reference: their bit layouts are checked on machines
 * without a GPU too.
 */
#ifndef MB_CUDA_COMMON_CUH
#define MB_CUDA_COMMON_CUH

#include <cuda_fp16.h>
#include <stdint.h>
#include <string.h>

#include "mb_dtype.h"

#define WARP      32
#define FULL_MASK 0xffffffffu
#define HD        __host__ __device__ __forceinline__

/* Intrinsics with host versions (the host compiler does not contract these either). */
HD float fmul_rn(float a, float b)
{
#ifdef __CUDA_ARCH__
    return __fmul_rn(a, b);
#else
    volatile float r = a * b;
    return r;
#endif
}
HD float fadd_rn(float a, float b)
{
#ifdef __CUDA_ARCH__
    return __fadd_rn(a, b);
#else
    volatile float r = a + b;
    return r;
#endif
}
HD float fsub_rn(float a, float b)
{
#ifdef __CUDA_ARCH__
    return __fsub_rn(a, b);
#else
    volatile float r = a - b;
    return r;
#endif
}
/* Per-byte a - b, wrapping. */
HD int vsub4(int a, int b)
{
#ifdef __CUDA_ARCH__
    return (int)__vsub4((unsigned)a, (unsigned)b);
#else
    unsigned r = 0;
    for (int i = 0; i < 4; i++)
        r |= ((((unsigned)a >> (8 * i)) - ((unsigned)b >> (8 * i))) & 0xffu) << (8 * i);
    return (int)r;
#endif
}
/* c + the four signed byte products of a and b. */
HD int dp4a(int a, int b, int c)
{
#ifdef __CUDA_ARCH__
    return __dp4a(a, b, c);
#else
    for (int i = 0; i < 4; i++)
        c += (int)(int8_t)(a >> (8 * i)) * (int)(int8_t)(b >> (8 * i));
    return c;
#endif
}

__device__ __forceinline__ float warp_sum(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}

__device__ __forceinline__ int warp_sum_int(int v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, o));
    return v;
}

__device__ __forceinline__ double warp_sum_d(double v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}

/*
 * Quantize one 32-block held one value per lane (the whole warp calls this):
 * the CPU's Q8_1 rounding (quant.cu). Lane l writes qs[l]; lane 0 writes *d, *s.
 */
__device__ __forceinline__ void q8_1_warp(float v, int lane, int8_t *qs, float *d, float *s)
{
    const float amax = warp_max(fabsf(v));
    const float db = __fdiv_rn(amax, 127.0f);
    const float id = amax != 0.0f ? __fdiv_rn(127.0f, amax) : 0.0f;
    const int q = __float2int_rn(__fmul_rn(v, id));
    qs[lane] = (int8_t)q;
    const int sum = warp_sum_int(q);
    if (lane == 0) {
        *d = __half2float(__float2half_rn(db));
        *s = __half2float(__float2half_rn(__fmul_rn(db, (float)sum)));
    }
}

/* Loads of little-endian values at 2-byte aligned addresses. */
HD uint32_t ld_u16(const uint8_t *p)
{
    return *(const uint16_t *)p;
}
HD int ld32_a2(const uint8_t *p)
{
    const uint16_t *h = (const uint16_t *)p;
    return (int)((uint32_t)h[0] | ((uint32_t)h[1] << 16));
}
HD int ld32_a4(const uint8_t *p)
{
    return *(const int *)p;
}

HD float f16_bits(uint32_t bits)
{
    return __half2float(__ushort_as_half((unsigned short)bits));
}
HD float f16_at(const uint8_t *p)
{
    return f16_bits(ld_u16(p));
}
HD float f16_round(float x)
{
    return __half2float(__float2half_rn(x));
}
HD float bf16_bits(uint32_t bits)
{
#ifdef __CUDA_ARCH__
    return __uint_as_float(bits << 16);
#else
    const uint32_t u = bits << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
#endif
}

/* The 6-bit scale and min of sub-block j of a Q4_K/Q5_K super-block. */
HD void k_scale_min(const uint8_t *q, int j, int *sc, int *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* Block size in bytes and elements of a type (compile-time). */
template <int T> struct blk;
template <> struct blk<MB_DTYPE_Q4_0> {
    static constexpr int bytes = 18, len = 32;
};
template <> struct blk<MB_DTYPE_Q4_1> {
    static constexpr int bytes = 20, len = 32;
};
template <> struct blk<MB_DTYPE_Q5_0> {
    static constexpr int bytes = 22, len = 32;
};
template <> struct blk<MB_DTYPE_Q5_1> {
    static constexpr int bytes = 24, len = 32;
};
template <> struct blk<MB_DTYPE_Q8_0> {
    static constexpr int bytes = 34, len = 32;
};
template <> struct blk<MB_DTYPE_Q4_K> {
    static constexpr int bytes = 144, len = 256;
};
template <> struct blk<MB_DTYPE_Q5_K> {
    static constexpr int bytes = 176, len = 256;
};
template <> struct blk<MB_DTYPE_Q6_K> {
    static constexpr int bytes = 210, len = 256;
};
template <> struct blk<MB_DTYPE_F32> {
    static constexpr int bytes = 128, len = 32;
};
template <> struct blk<MB_DTYPE_F16> {
    static constexpr int bytes = 64, len = 32;
};
template <> struct blk<MB_DTYPE_BF16> {
    static constexpr int bytes = 64, len = 32;
};

/*
 * Dequantize sub-block ib (elements 32*ib .. 32*ib+31) of a weight row into
 * v[32], exactly as mb_dequantize_row does. For the plain types a
 * "sub-block" is 32 consecutive elements.
 */
template <int T> HD void dq_sub(const uint8_t *row, int ib, float *v)
{
    if constexpr (T == MB_DTYPE_F32) {
        const float *f = (const float *)row + 32 * ib;
#pragma unroll
        for (int j = 0; j < 32; j++)
            v[j] = f[j];
    } else if constexpr (T == MB_DTYPE_F16) {
        const uint8_t *p = row + 64 * ib;
#pragma unroll
        for (int j = 0; j < 32; j++)
            v[j] = f16_at(p + 2 * j);
    } else if constexpr (T == MB_DTYPE_BF16) {
        const uint8_t *p = row + 64 * ib;
#pragma unroll
        for (int j = 0; j < 32; j++)
            v[j] = bf16_bits(ld_u16(p + 2 * j));
    } else if constexpr (T == MB_DTYPE_Q4_0) {
        const uint8_t *b = row + 18 * ib;
        const float d = f16_at(b);
#pragma unroll
        for (int j = 0; j < 16; j++) {
            const int q = b[2 + j];
            v[j] = fmul_rn(d, (float)((q & 0xF) - 8));
            v[j + 16] = fmul_rn(d, (float)((q >> 4) - 8));
        }
    } else if constexpr (T == MB_DTYPE_Q4_1) {
        const uint8_t *b = row + 20 * ib;
        const float d = f16_at(b), m = f16_at(b + 2);
#pragma unroll
        for (int j = 0; j < 16; j++) {
            const int q = b[4 + j];
            v[j] = fadd_rn(fmul_rn(d, (float)(q & 0xF)), m);
            v[j + 16] = fadd_rn(fmul_rn(d, (float)(q >> 4)), m);
        }
    } else if constexpr (T == MB_DTYPE_Q5_0) {
        const uint8_t *b = row + 22 * ib;
        const float d = f16_at(b);
        const uint32_t qh = (uint32_t)ld32_a2(b + 2);
#pragma unroll
        for (int j = 0; j < 16; j++) {
            const int q = b[6 + j];
            const int x0 = (int)((q & 0xF) | (((qh >> j) & 1u) << 4)) - 16;
            const int x1 = (int)((q >> 4) | (((qh >> (j + 16)) & 1u) << 4)) - 16;
            v[j] = fmul_rn(d, (float)x0);
            v[j + 16] = fmul_rn(d, (float)x1);
        }
    } else if constexpr (T == MB_DTYPE_Q5_1) {
        const uint8_t *b = row + 24 * ib;
        const float d = f16_at(b), m = f16_at(b + 2);
        const uint32_t qh = (uint32_t)ld32_a4(b + 4);
#pragma unroll
        for (int j = 0; j < 16; j++) {
            const int q = b[8 + j];
            const uint32_t x0 = (q & 0xF) | (((qh >> j) & 1u) << 4);
            const uint32_t x1 = (q >> 4) | (((qh >> (j + 16)) & 1u) << 4);
            v[j] = fadd_rn(fmul_rn(d, (float)x0), m);
            v[j + 16] = fadd_rn(fmul_rn(d, (float)x1), m);
        }
    } else if constexpr (T == MB_DTYPE_Q8_0) {
        const uint8_t *b = row + 34 * ib;
        const float d = f16_at(b);
#pragma unroll
        for (int j = 0; j < 32; j++)
            v[j] = fmul_rn(d, (float)(int8_t)b[2 + j]);
    } else if constexpr (T == MB_DTYPE_Q4_K || T == MB_DTYPE_Q5_K) {
        constexpr int bytes = blk<T>::bytes;
        const uint8_t *b = row + (size_t)bytes * (ib / 8);
        const int s = ib % 8;
        const float d = f16_at(b), dmin = f16_at(b + 2);
        int sc, m;
        k_scale_min(b + 4, s, &sc, &m);
        const float d1 = fmul_rn(d, (float)sc), m1 = fmul_rn(dmin, (float)m);
        const uint8_t *qs = b + (T == MB_DTYPE_Q4_K ? 16 : 48) + 32 * (s / 2);
        const int shift = 4 * (s % 2);
#pragma unroll
        for (int l = 0; l < 32; l++) {
            uint32_t q = (qs[l] >> shift) & 0xF;
            if constexpr (T == MB_DTYPE_Q5_K)
                q |= ((uint32_t)(b[16 + l] >> s) & 1u) << 4;
            v[l] = fsub_rn(fmul_rn(d1, (float)q), m1);
        }
    } else if constexpr (T == MB_DTYPE_Q6_K) {
        const uint8_t *b = row + (size_t)210 * (ib / 8);
        const int s = ib % 8, h = s / 4, qq = s % 4;
        const float d = f16_at(b + 208);
        const int8_t *scales = (const int8_t *)(b + 192) + 8 * h + 2 * qq;
        const float d0 = fmul_rn(d, (float)scales[0]), d1 = fmul_rn(d, (float)scales[1]);
        const uint8_t *ql = b + 64 * h + 32 * (qq & 1);
        const uint8_t *qh = b + 128 + 32 * h;
        const int lshift = 4 * (qq >> 1), hshift = 2 * qq;
#pragma unroll
        for (int l = 0; l < 32; l++) {
            const int q = (int)(((ql[l] >> lshift) & 0xF) | (((qh[l] >> hshift) & 3) << 4)) - 32;
            v[l] = fmul_rn(l < 16 ? d0 : d1, (float)q);
        }
    }
}

#endif /* MB_CUDA_COMMON_CUH */
