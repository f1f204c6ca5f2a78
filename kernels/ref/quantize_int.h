/*
 * quantize_int.h - helpers shared by the reference quantizers (quantize.c,
 * quantize_k.c): f16 stores and loads, and ggml's nearest_int().
 */
#ifndef MB_QUANTIZE_INT_H
#define MB_QUANTIZE_INT_H

#include "mb_common.h"
#include "mb_dtype.h"

#include <float.h>
#include <stdint.h>
#include <string.h>

/* The compilers must not fuse a*b+c: ggml's reference rounds every operation. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* Store f as a little-endian f16 (round to nearest even, as ggml). */
static inline void put_f16(uint8_t *p, float f)
{
    mb_f16 h = mb_f32_to_f16(f);
    p[0] = (uint8_t)(h & 0xff);
    p[1] = (uint8_t)(h >> 8);
}

/* The f16 stored at p, as float32 (exact). */
static inline float get_f16(const uint8_t *p)
{
    return mb_f16_to_f32((mb_f16)(p[0] | p[1] << 8));
}

/*
 * ggml's nearest_int(): round to nearest (ties to even) by adding 1.5 * 2^23
 * and reading the low mantissa bits. Exact for |v| <= 4194303; beyond that it
 * returns what ggml returns (garbage that the callers clamp), never UB.
 */
static inline int nearest_int(float v)
{
    float val = v + 12582912.f;
    int32_t i;
    memcpy(&i, &val, sizeof(i));
    return (i & 0x007fffff) - 0x00400000;
}

#endif /* MB_QUANTIZE_INT_H */
