/*
 * dequant.c - the scalar reference dequantization of every type we read
 * (mb_dequant.h). Each element is computed with exactly the float32
 * operations, in exactly the order, that ggml's dequantize_row_* and gguf-py's
 * numpy code use, so the results are bit-identical to both:
 *   Q4_0/Q5_0/Q8_0  d * q
 *   Q4_1/Q5_1       d * q + m
 *   Q4_K/Q5_K       (d * sc) * q - dmin * m
 *   Q6_K            (d * sc) * q
 * Every product here is exact in float32 (an f16 scale has 11 significant
 * bits, a sub-block scale at most 7 and a code at most 5, so even Q6_K's
 * (d * sc) * q needs at most 23 of float32's 24 bits), so the only rounding is
 * the final addition of Q4_1/Q5_1/Q4_K/Q5_K: fused multiply-add or another
 * evaluation order would give the same bits. We keep ggml's order anyway.
 * Blocks are read byte by byte (little-endian), so src may be unaligned.
 */
#include "mb_dequant.h"
#include "mb_dtype.h"

#include <string.h>

/* The little-endian f16 at p, as float32 (exact). */
static inline float f16_at(const uint8_t *p)
{
    return mb_f16_to_f32((mb_f16)(p[0] | (p[1] << 8)));
}

static inline uint32_t u32_at(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void row_f32(const uint8_t *src, float *dst, size_t n)
{
    memcpy(dst, src, n * sizeof(float));
}

static void row_f16(const uint8_t *src, float *dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = f16_at(src + 2 * i);
}

static void row_bf16(const uint8_t *src, float *dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = mb_bf16_to_f32((mb_bf16)(src[2 * i] | (src[2 * i + 1] << 8)));
}

/* Q4_0: f16 d; u8 qs[16]. Low nibbles are elements 0..15, high nibbles 16..31. */
static void row_q4_0(const uint8_t *src, float *dst, size_t nb)
{
    for (size_t b = 0; b < nb; b++, src += 18, dst += 32) {
        const float d = f16_at(src);
        const uint8_t *qs = src + 2;
        for (int j = 0; j < 16; j++) {
            dst[j] = d * (float)((qs[j] & 0x0f) - 8);
            dst[j + 16] = d * (float)((qs[j] >> 4) - 8);
        }
    }
}

/* Q4_1: f16 d, m; u8 qs[16]. */
static void row_q4_1(const uint8_t *src, float *dst, size_t nb)
{
    for (size_t b = 0; b < nb; b++, src += 20, dst += 32) {
        const float d = f16_at(src);
        const float m = f16_at(src + 2);
        const uint8_t *qs = src + 4;
        for (int j = 0; j < 16; j++) {
            float p0 = d * (float)(qs[j] & 0x0f);
            float p1 = d * (float)(qs[j] >> 4);
            dst[j] = p0 + m;
            dst[j + 16] = p1 + m;
        }
    }
}

/* Q5_0: f16 d; u8 qh[4] (bit j = high bit of element j); u8 qs[16]. */
static void row_q5_0(const uint8_t *src, float *dst, size_t nb)
{
    for (size_t b = 0; b < nb; b++, src += 22, dst += 32) {
        const float d = f16_at(src);
        const uint32_t qh = u32_at(src + 2);
        const uint8_t *qs = src + 6;
        for (int j = 0; j < 16; j++) {
            int x0 = (int)((qs[j] & 0x0fu) | (((qh >> j) & 1u) << 4)) - 16;
            int x1 = (int)((qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4)) - 16;
            dst[j] = d * (float)x0;
            dst[j + 16] = d * (float)x1;
        }
    }
}

/* Q5_1: f16 d, m; u8 qh[4]; u8 qs[16]. */
static void row_q5_1(const uint8_t *src, float *dst, size_t nb)
{
    for (size_t b = 0; b < nb; b++, src += 24, dst += 32) {
        const float d = f16_at(src);
        const float m = f16_at(src + 2);
        const uint32_t qh = u32_at(src + 4);
        const uint8_t *qs = src + 8;
        for (int j = 0; j < 16; j++) {
            uint32_t x0 = (qs[j] & 0x0fu) | (((qh >> j) & 1u) << 4);
            uint32_t x1 = (qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4);
            float p0 = d * (float)x0;
            float p1 = d * (float)x1;
            dst[j] = p0 + m;
            dst[j + 16] = p1 + m;
        }
    }
}

/* Q8_0: f16 d; i8 qs[32]. */
static void row_q8_0(const uint8_t *src, float *dst, size_t nb)
{
    for (size_t b = 0; b < nb; b++, src += 34, dst += 32) {
        const float d = f16_at(src);
        for (int j = 0; j < 32; j++)
            dst[j] = d * (float)(int8_t)src[2 + j];
    }
}

/*
 * The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block, packed
 * in 12 bytes: bytes 0..3 hold the low 6 bits of scales 0..3 (top 2 bits: high
 * bits of scales 4..7), bytes 4..7 the same for mins, bytes 8..11 the low
 * nibbles of scales 4..7 (low) and mins 4..7 (high).
 */
static inline void scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/*
 * Q4_K: f16 d, dmin; u8 scales[12]; u8 qs[128]. Sub-blocks of 32: qs bytes
 * 32g..32g+31 hold sub-block 2g in their low nibbles and 2g+1 in their high.
 */
static void row_q4_k(const uint8_t *src, float *dst, size_t nb)
{
    for (size_t b = 0; b < nb; b++, src += 144, dst += 256) {
        const float d = f16_at(src);
        const float dmin = f16_at(src + 2);
        const uint8_t *scales = src + 4;
        const uint8_t *qs = src + 16;
        for (int g = 0; g < 4; g++) {
            uint8_t sc, m;
            scale_min_k4(2 * g, scales, &sc, &m);
            const float d1 = d * (float)sc;
            const float m1 = dmin * (float)m;
            scale_min_k4(2 * g + 1, scales, &sc, &m);
            const float d2 = d * (float)sc;
            const float m2 = dmin * (float)m;
            float *y = dst + 64 * g;
            const uint8_t *q = qs + 32 * g;
            for (int l = 0; l < 32; l++) {
                float p1 = d1 * (float)(q[l] & 0x0f);
                float p2 = d2 * (float)(q[l] >> 4);
                y[l] = p1 - m1;
                y[l + 32] = p2 - m2;
            }
        }
    }
}

/*
 * Q5_K: f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]. As Q4_K, plus a
 * fifth bit: bit s of qh[l] is the high bit of element l of sub-block s.
 */
static void row_q5_k(const uint8_t *src, float *dst, size_t nb)
{
    for (size_t b = 0; b < nb; b++, src += 176, dst += 256) {
        const float d = f16_at(src);
        const float dmin = f16_at(src + 2);
        const uint8_t *scales = src + 4;
        const uint8_t *qh = src + 16;
        const uint8_t *qs = src + 48;
        for (int g = 0; g < 4; g++) {
            uint8_t sc, m;
            scale_min_k4(2 * g, scales, &sc, &m);
            const float d1 = d * (float)sc;
            const float m1 = dmin * (float)m;
            scale_min_k4(2 * g + 1, scales, &sc, &m);
            const float d2 = d * (float)sc;
            const float m2 = dmin * (float)m;
            float *y = dst + 64 * g;
            const uint8_t *q = qs + 32 * g;
            const int s1 = 2 * g, s2 = 2 * g + 1;
            for (int l = 0; l < 32; l++) {
                uint32_t x1 = (q[l] & 0x0fu) | (((uint32_t)(qh[l] >> s1) & 1u) << 4);
                uint32_t x2 = (uint32_t)(q[l] >> 4) | (((uint32_t)(qh[l] >> s2) & 1u) << 4);
                float p1 = d1 * (float)x1;
                float p2 = d2 * (float)x2;
                y[l] = p1 - m1;
                y[l + 32] = p2 - m2;
            }
        }
    }
}

/*
 * Q6_K: u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d. Each half of 128
 * elements uses 64 ql bytes (low nibbles: elements 0..63, high: 64..127) and
 * 32 qh bytes (2 bits per element, shifts 0,2,4,6 for the four quarters);
 * every 16 elements share one scale. x = (d * scale) * (q - 32).
 */
static void row_q6_k(const uint8_t *src, float *dst, size_t nb)
{
    for (size_t b = 0; b < nb; b++, src += 210, dst += 256) {
        const float d = f16_at(src + 208);
        const int8_t *sc = (const int8_t *)(src + 192);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = src + 64 * h;
            const uint8_t *qh = src + 128 + 32 * h;
            float *y = dst + 128 * h;
            const int8_t *s = sc + 8 * h;
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = (int)((ql[l] & 0x0f) | ((qh[l] >> 0) & 3) << 4) - 32;
                int q2 = (int)((ql[l + 32] & 0x0f) | ((qh[l] >> 2) & 3) << 4) - 32;
                int q3 = (int)((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
                int q4 = (int)((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
                const float d1 = d * (float)s[is + 0];
                const float d2 = d * (float)s[is + 2];
                const float d3 = d * (float)s[is + 4];
                const float d4 = d * (float)s[is + 6];
                y[l + 0] = d1 * (float)q1;
                y[l + 32] = d2 * (float)q2;
                y[l + 64] = d3 * (float)q3;
                y[l + 96] = d4 * (float)q4;
            }
        }
    }
}

bool mb_dequantize_supported(uint32_t type)
{
    switch (type) {
    case MB_DTYPE_F32:
    case MB_DTYPE_F16:
    case MB_DTYPE_BF16:
    case MB_DTYPE_Q4_0:
    case MB_DTYPE_Q4_1:
    case MB_DTYPE_Q5_0:
    case MB_DTYPE_Q5_1:
    case MB_DTYPE_Q8_0:
    case MB_DTYPE_Q4_K:
    case MB_DTYPE_Q5_K:
    case MB_DTYPE_Q6_K:
        return true;
    default:
        return false;
    }
}

bool mb_dequantize_row(uint32_t type, const void *src, float *dst, size_t n)
{
    if (!mb_dequantize_supported(type))
        return false;
    const struct mb_dtype_traits *t = mb_dtype_traits(type);
    if (!t || n % t->block_len)
        return false;
    const uint8_t *s = src;
    size_t nb = n / t->block_len;
    switch (type) {
    case MB_DTYPE_F32:
        row_f32(s, dst, n);
        break;
    case MB_DTYPE_F16:
        row_f16(s, dst, n);
        break;
    case MB_DTYPE_BF16:
        row_bf16(s, dst, n);
        break;
    case MB_DTYPE_Q4_0:
        row_q4_0(s, dst, nb);
        break;
    case MB_DTYPE_Q4_1:
        row_q4_1(s, dst, nb);
        break;
    case MB_DTYPE_Q5_0:
        row_q5_0(s, dst, nb);
        break;
    case MB_DTYPE_Q5_1:
        row_q5_1(s, dst, nb);
        break;
    case MB_DTYPE_Q8_0:
        row_q8_0(s, dst, nb);
        break;
    case MB_DTYPE_Q4_K:
        row_q4_k(s, dst, nb);
        break;
    case MB_DTYPE_Q5_K:
        row_q5_k(s, dst, nb);
        break;
    case MB_DTYPE_Q6_K:
        row_q6_k(s, dst, nb);
        break;
    default:
        return false;
    }
    return true;
}
