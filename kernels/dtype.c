/*
 * dtype.c - the type traits table and exact scalar fp16/bf16 conversions.
 * The conversions are the bit-level IEEE algorithms (round to nearest even),
 * so they agree with F16C hardware and with ggml's portable fallback.
 */
#include "mb_dtype.h"

#include <ctype.h>
#include <string.h>

static const struct mb_dtype_traits traits[MB_DTYPE_COUNT] = {
    [MB_DTYPE_F32] = { "f32", 1, 4, false, true },
    [MB_DTYPE_F16] = { "f16", 1, 2, false, true },
    [MB_DTYPE_Q4_0] = { "q4_0", MB_QK4_0, 18, true, true },
    [MB_DTYPE_Q4_1] = { "q4_1", MB_QK4_1, 20, true, true },
    [MB_DTYPE_Q5_0] = { "q5_0", MB_QK5_0, 22, true, true },
    [MB_DTYPE_Q5_1] = { "q5_1", MB_QK5_1, 24, true, true },
    [MB_DTYPE_Q8_0] = { "q8_0", MB_QK8_0, 34, true, true },
    [MB_DTYPE_Q8_1] = { "q8_1", MB_QK8_1, 36, true, false },
    [MB_DTYPE_Q2_K] = { "q2_K", MB_QK_K, 84, true, false },
    [MB_DTYPE_Q3_K] = { "q3_K", MB_QK_K, 110, true, false },
    [MB_DTYPE_Q4_K] = { "q4_K", MB_QK_K, 144, true, true },
    [MB_DTYPE_Q5_K] = { "q5_K", MB_QK_K, 176, true, true },
    [MB_DTYPE_Q6_K] = { "q6_K", MB_QK_K, 210, true, true },
    [MB_DTYPE_Q8_K] = { "q8_K", MB_QK_K, 292, true, false },
    [MB_DTYPE_I8] = { "i8", 1, 1, false, false },
    [MB_DTYPE_I16] = { "i16", 1, 2, false, false },
    [MB_DTYPE_I32] = { "i32", 1, 4, false, false },
    [MB_DTYPE_I64] = { "i64", 1, 8, false, false },
    [MB_DTYPE_F64] = { "f64", 1, 8, false, false },
    [MB_DTYPE_BF16] = { "bf16", 1, 2, false, true },
};

const struct mb_dtype_traits *mb_dtype_traits(uint32_t type)
{
    if (type >= MB_DTYPE_COUNT || !traits[type].name)
        return NULL;
    return &traits[type];
}

const char *mb_dtype_name(uint32_t type)
{
    const struct mb_dtype_traits *t = mb_dtype_traits(type);
    return t ? t->name : "unknown";
}

bool mb_dtype_from_name(const char *name, enum mb_dtype *out)
{
    for (uint32_t i = 0; i < MB_DTYPE_COUNT; i++) {
        if (traits[i].name && !strcasecmp(traits[i].name, name)) {
            *out = (enum mb_dtype)i;
            return true;
        }
    }
    return false;
}

bool mb_dtype_row_size(uint32_t type, uint64_t n, uint64_t *bytes)
{
    const struct mb_dtype_traits *t = mb_dtype_traits(type);
    if (!t || n % t->block_len)
        return false;
    return !__builtin_mul_overflow(n / t->block_len, (uint64_t)t->block_size, bytes);
}

static inline uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float mb_f16_to_f32(mb_f16 h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0x1f) /* inf / nan */
        return bits_f32(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        if (man == 0)
            return bits_f32(sign);
        /* subnormal: value = man * 2^-24 */
        float v = (float)man * 5.9604644775390625e-08f;
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

mb_f16 mb_f32_to_f16(float f)
{
    uint32_t x = f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t exp = (x >> 23) & 0xffu;
    uint32_t man = x & 0x7fffffu;
    if (exp == 0xff) /* inf / nan (keep nan quiet and non-zero) */
        return (mb_f16)(sign | 0x7c00u | (man ? 0x200u | (man >> 13) : 0));
    int32_t e = (int32_t)exp - 127 + 15;
    if (e >= 0x1f) /* overflow -> inf */
        return (mb_f16)(sign | 0x7c00u);
    if (e <= 0) {
        /* subnormal or zero in half precision */
        if (e < -10)
            return (mb_f16)sign;
        man |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t half_man = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t halfway = 1u << (shift - 1);
        if (rem > halfway || (rem == halfway && (half_man & 1)))
            half_man++;
        return (mb_f16)(sign | half_man);
    }
    uint32_t half = sign | ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (half & 1)))
        half++; /* may carry into the exponent, which is correct (up to inf) */
    return (mb_f16)half;
}

float mb_bf16_to_f32(mb_bf16 h)
{
    return bits_f32((uint32_t)h << 16);
}

mb_bf16 mb_f32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* nan: force quiet */
        return (mb_bf16)((u >> 16) | 64);
    return (mb_bf16)((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}
