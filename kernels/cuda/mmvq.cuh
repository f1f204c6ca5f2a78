/*
 * mmvq.cuh - the weight side of the int8 matrix-vector kernels (mmvq.cu):
 * one 32-element sub-block of any quantized type unpacked into eight words
 * of four int8 lanes that line up with the activation's words (elements
 * 4i..4i+3), plus the block's scales, and the integer dot products of such a
 * sub-block. __host__ __device__, so selftest.cu checks every layout on the
 * CPU against the reference dequantization.
 */
#ifndef MB_CUDA_MMVQ_CUH
#define MB_CUDA_MMVQ_CUH

#include "cuda_common.cuh"

/* A weight sub-block unpacked to int8 lanes matching x words 0..7. */
struct wsub {
    int v[8];
    float d, m;
    int sc0, sc1; /* K-quants: scale(s); Q4_K/Q5_K: sc0 = scale, sc1 = min */
};

/* Spread bits j..j+3 of qh to bit 4 of bytes 0..3. */
HD int hbits4(uint32_t qh, int j)
{
    const uint32_t b = qh >> j;
    return (int)(((b & 1u) << 4) | ((b & 2u) << 11) | ((b & 4u) << 18) | ((b & 8u) << 25));
}

template <int T> HD void wload(const uint8_t *row, size_t ib, wsub &w)
{
    if constexpr (T == MB_DTYPE_Q4_0) {
        const uint8_t *b = row + 18 * ib;
        w.d = f16_at(b);
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int q = ld32_a2(b + 2 + 4 * i);
            w.v[i] = vsub4(q & 0x0F0F0F0F, 0x08080808);
            w.v[i + 4] = vsub4((q >> 4) & 0x0F0F0F0F, 0x08080808);
        }
    } else if constexpr (T == MB_DTYPE_Q4_1) {
        const uint8_t *b = row + 20 * ib;
        w.d = f16_at(b);
        w.m = f16_at(b + 2);
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int q = ld32_a4(b + 4 + 4 * i);
            w.v[i] = q & 0x0F0F0F0F;
            w.v[i + 4] = (q >> 4) & 0x0F0F0F0F;
        }
    } else if constexpr (T == MB_DTYPE_Q5_0) {
        const uint8_t *b = row + 22 * ib;
        w.d = f16_at(b);
        const uint32_t qh = (uint32_t)ld32_a2(b + 2);
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int q = ld32_a2(b + 6 + 4 * i);
            w.v[i] = vsub4((q & 0x0F0F0F0F) | hbits4(qh, 4 * i), 0x10101010);
            w.v[i + 4] = vsub4(((q >> 4) & 0x0F0F0F0F) | hbits4(qh, 16 + 4 * i), 0x10101010);
        }
    } else if constexpr (T == MB_DTYPE_Q5_1) {
        const uint8_t *b = row + 24 * ib;
        w.d = f16_at(b);
        w.m = f16_at(b + 2);
        const uint32_t qh = (uint32_t)ld32_a4(b + 4);
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int q = ld32_a4(b + 8 + 4 * i);
            w.v[i] = (q & 0x0F0F0F0F) | hbits4(qh, 4 * i);
            w.v[i + 4] = ((q >> 4) & 0x0F0F0F0F) | hbits4(qh, 16 + 4 * i);
        }
    } else if constexpr (T == MB_DTYPE_Q8_0) {
        const uint8_t *b = row + 34 * ib;
        w.d = f16_at(b);
#pragma unroll
        for (int i = 0; i < 8; i++)
            w.v[i] = ld32_a2(b + 2 + 4 * i);
    } else if constexpr (T == MB_DTYPE_Q4_K || T == MB_DTYPE_Q5_K) {
        constexpr int bytes = blk<T>::bytes;
        const uint8_t *b = row + (size_t)bytes * (ib / 8);
        const int s = (int)(ib % 8);
        w.d = f16_at(b);
        w.m = f16_at(b + 2);
        k_scale_min(b + 4, s, &w.sc0, &w.sc1);
        const int4 *qs = (const int4 *)(b + (T == MB_DTYPE_Q4_K ? 16 : 48) + 32 * (s / 2));
        const int4 lo = qs[0], hi = qs[1];
        const int raw[8] = { lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w };
        const int shift = 4 * (s % 2);
#pragma unroll
        for (int i = 0; i < 8; i++) {
            w.v[i] = (raw[i] >> shift) & 0x0F0F0F0F;
            if constexpr (T == MB_DTYPE_Q5_K)
                w.v[i] |= ((ld32_a4(b + 16 + 4 * i) >> s) & 0x01010101) << 4;
        }
    } else if constexpr (T == MB_DTYPE_Q6_K) {
        const uint8_t *b = row + (size_t)210 * (ib / 8);
        const int s = (int)(ib % 8), h = s / 4, qq = s % 4;
        w.d = f16_at(b + 208);
        const int8_t *sc = (const int8_t *)(b + 192) + 8 * h + 2 * qq;
        w.sc0 = sc[0];
        w.sc1 = sc[1];
        const uint8_t *ql = b + 64 * h + 32 * (qq & 1);
        const uint8_t *qh = b + 128 + 32 * h;
        const int lshift = 4 * (qq >> 1), hshift = 2 * qq;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const int lo = (ld32_a2(ql + 4 * i) >> lshift) & 0x0F0F0F0F;
            const int hi = ((ld32_a2(qh + 4 * i) >> hshift) & 0x03030303) << 4;
            w.v[i] = vsub4(lo | hi, 0x20202020);
        }
    }
}

/*
 * The integer dot products of an unpacked sub-block with eight x words:
 * i0 over elements 0..15, i1 over 16..31 (Q6_K scales each half apart).
 */
HD void sub_dot(const wsub &w, const int *xw, int *i0, int *i1)
{
    int a = 0, b = 0;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        a = dp4a(w.v[i], xw[i], a);
        b = dp4a(w.v[i + 4], xw[i + 4], b);
    }
    *i0 = a;
    *i1 = b;
}

#endif /* MB_CUDA_MMVQ_CUH */
