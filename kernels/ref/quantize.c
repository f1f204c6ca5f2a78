/*
 * quantize.c - the scalar reference quantizers of the 32-element block types
 * (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1), the F16/BF16 conversions and the dispatch
 * mb_quantize_row() (mb_quantize.h). Each block is computed with exactly the
 * float32 operations of ggml's quantize_row_*_ref(), in the same order, which is
 * also what gguf-py's numpy code does, so the bytes match both. The K-quants
 * live in quantize_k.c.
 *
 * Where ggml casts a float to an integer ((int8_t)(x + 8.5f)) the value is in
 * range for every finite input; trunc_code() gives the same result there and a
 * defined, clamped one for NaN and infinities instead of undefined behaviour.
 */
#include "mb_dtype.h"
#include "mb_quantize.h"
#include "quantize_int.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* ggml's (int)(v) truncation for a code expected in [0, hi], clamped (NaN -> 0). */
static inline uint8_t trunc_code(float v, int hi)
{
    if (!(v >= 0.0f))
        return 0;
    if (v >= (float)hi)
        return (uint8_t)hi;
    return (uint8_t)(int)v;
}

/* roundf() into an int8 code, clamped to [-127, 127] (NaN -> 0). */
static inline int8_t round_i8(float v)
{
    if (!(v > -127.0f))
        return (int8_t)(v != v ? 0 : -127);
    if (v >= 127.0f)
        return 127;
    return (int8_t)roundf(v);
}

/* Signed value of largest magnitude (the first one on ties), as ggml finds it. */
static inline float signed_absmax(const float *x, int n)
{
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    return max;
}

/* Q8_0: f16 d; i8 qs[32]. */
void mb_ref_quantize_q8_0(const float *x, void *vy, size_t k)
{
    uint8_t *y = vy;
    for (size_t b = 0; b < k / MB_QK8_0; b++, x += MB_QK8_0, y += 34) {
        float amax = 0.0f;
        for (int j = 0; j < MB_QK8_0; j++)
            amax = MB_MAX(amax, fabsf(x[j]));
        const float d = amax / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        put_f16(y, d);
        for (int j = 0; j < MB_QK8_0; j++)
            y[2 + j] = (uint8_t)round_i8(x[j] * id);
    }
}

/* Q4_0: f16 d; u8 qs[16] (low nibble element j, high nibble element j + 16). */
void mb_ref_quantize_q4_0(const float *x, void *vy, size_t k)
{
    uint8_t *y = vy;
    for (size_t b = 0; b < k / MB_QK4_0; b++, x += MB_QK4_0, y += 18) {
        const float max = signed_absmax(x, MB_QK4_0);
        const float d = max / -8;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        put_f16(y, d);
        for (int j = 0; j < MB_QK4_0 / 2; j++) {
            const float x0 = x[j] * id;
            const float x1 = x[j + MB_QK4_0 / 2] * id;
            const uint8_t q0 = trunc_code(x0 + 8.5f, 15);
            const uint8_t q1 = trunc_code(x1 + 8.5f, 15);
            y[2 + j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

/* Q4_1: f16 d, m; u8 qs[16]. */
void mb_ref_quantize_q4_1(const float *x, void *vy, size_t k)
{
    uint8_t *y = vy;
    for (size_t b = 0; b < k / MB_QK4_1; b++, x += MB_QK4_1, y += 20) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < MB_QK4_1; j++) {
            if (x[j] < min)
                min = x[j];
            if (x[j] > max)
                max = x[j];
        }
        const float d = (max - min) / 15;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        put_f16(y, d);
        put_f16(y + 2, min);
        for (int j = 0; j < MB_QK4_1 / 2; j++) {
            const float x0 = (x[j] - min) * id;
            const float x1 = (x[j + MB_QK4_1 / 2] - min) * id;
            const uint8_t q0 = trunc_code(x0 + 0.5f, 15);
            const uint8_t q1 = trunc_code(x1 + 0.5f, 15);
            y[4 + j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

/* Q5_0: f16 d; u8 qh[4] (bit j = fifth bit of element j); u8 qs[16]. */
void mb_ref_quantize_q5_0(const float *x, void *vy, size_t k)
{
    uint8_t *y = vy;
    for (size_t b = 0; b < k / MB_QK5_0; b++, x += MB_QK5_0, y += 22) {
        const float max = signed_absmax(x, MB_QK5_0);
        const float d = max / -16;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        put_f16(y, d);
        uint32_t qh = 0;
        for (int j = 0; j < MB_QK5_0 / 2; j++) {
            const float x0 = x[j] * id;
            const float x1 = x[j + MB_QK5_0 / 2] * id;
            const uint8_t q0 = trunc_code(x0 + 16.5f, 31);
            const uint8_t q1 = trunc_code(x1 + 16.5f, 31);
            y[6 + j] = (uint8_t)((q0 & 0x0f) | (q1 & 0x0f) << 4);
            qh |= (uint32_t)(q0 >> 4) << j;
            qh |= (uint32_t)(q1 >> 4) << (j + MB_QK5_0 / 2);
        }
        for (int i = 0; i < 4; i++)
            y[2 + i] = (uint8_t)(qh >> (8 * i));
    }
}

/* Q5_1: f16 d, m; u8 qh[4]; u8 qs[16]. */
void mb_ref_quantize_q5_1(const float *x, void *vy, size_t k)
{
    uint8_t *y = vy;
    for (size_t b = 0; b < k / MB_QK5_1; b++, x += MB_QK5_1, y += 24) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < MB_QK5_1; j++) {
            if (x[j] < min)
                min = x[j];
            if (x[j] > max)
                max = x[j];
        }
        const float d = (max - min) / 31;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        put_f16(y, d);
        put_f16(y + 2, min);
        uint32_t qh = 0;
        for (int j = 0; j < MB_QK5_1 / 2; j++) {
            const float x0 = (x[j] - min) * id;
            const float x1 = (x[j + MB_QK5_1 / 2] - min) * id;
            const uint8_t q0 = trunc_code(x0 + 0.5f, 31);
            const uint8_t q1 = trunc_code(x1 + 0.5f, 31);
            y[8 + j] = (uint8_t)((q0 & 0x0f) | (q1 & 0x0f) << 4);
            qh |= (uint32_t)(q0 >> 4) << j;
            qh |= (uint32_t)(q1 >> 4) << (j + MB_QK5_1 / 2);
        }
        for (int i = 0; i < 4; i++)
            y[4 + i] = (uint8_t)(qh >> (8 * i));
    }
}

static void row_f16(const float *x, uint8_t *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put_f16(y + 2 * i, x[i]);
}

static void row_bf16(const float *x, uint8_t *y, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        mb_bf16 h = mb_f32_to_bf16(x[i]);
        y[2 * i] = (uint8_t)(h & 0xff);
        y[2 * i + 1] = (uint8_t)(h >> 8);
    }
}

bool mb_quantize_supported(uint32_t type)
{
    switch (type) {
    case MB_DTYPE_F32:
    case MB_DTYPE_F16:
    case MB_DTYPE_BF16:
    case MB_DTYPE_Q8_0:
    case MB_DTYPE_Q4_0:
    case MB_DTYPE_Q4_1:
    case MB_DTYPE_Q5_0:
    case MB_DTYPE_Q5_1:
    case MB_DTYPE_Q4_K:
    case MB_DTYPE_Q6_K:
        return true;
    default:
        return false;
    }
}

bool mb_quantize_row(uint32_t type, const float *src, void *dst, size_t n)
{
    const struct mb_dtype_traits *t = mb_dtype_traits(type);
    if (!t || !mb_quantize_supported(type) || n % t->block_len)
        return false;
    switch (type) {
    case MB_DTYPE_F32:
        memcpy(dst, src, n * sizeof(float));
        break;
    case MB_DTYPE_F16:
        row_f16(src, dst, n);
        break;
    case MB_DTYPE_BF16:
        row_bf16(src, dst, n);
        break;
    case MB_DTYPE_Q8_0:
        mb_ref_quantize_q8_0(src, dst, n);
        break;
    case MB_DTYPE_Q4_0:
        mb_ref_quantize_q4_0(src, dst, n);
        break;
    case MB_DTYPE_Q4_1:
        mb_ref_quantize_q4_1(src, dst, n);
        break;
    case MB_DTYPE_Q5_0:
        mb_ref_quantize_q5_0(src, dst, n);
        break;
    case MB_DTYPE_Q5_1:
        mb_ref_quantize_q5_1(src, dst, n);
        break;
    case MB_DTYPE_Q4_K:
        mb_ref_quantize_q4_k(src, dst, n);
        break;
    case MB_DTYPE_Q6_K:
        mb_ref_quantize_q6_k(src, dst, n);
        break;
    default:
        return false;
    }
    return true;
}

size_t mb_quantize_find_nonfinite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return i;
    return n;
}
