/*
 * quant_act.c - the layout of quantized activations (cpu_int.h) and the
 * portable quantizers. The SIMD quantizers (quant_act_avx2.c) must produce
 * the same bytes; the tests compare them.
 */
#include "cpu_int.h"

#include <math.h>

static bool align_add(size_t *off, size_t n)
{
    size_t end;
    if (!mb_add_ok(*off, n, &end) || !mb_add_ok(end, 63, &end))
        return false;
    *off = end & ~(size_t)63;
    return true;
}

bool act_layout(struct act *a, enum act_fmt fmt, int off, size_t k)
{
    memset(a, 0, sizeof(*a));
    a->fmt = fmt;
    a->off = off;
    a->k = k;
    size_t blk = fmt == ACT_Q8_K ? MB_QK_K : 32;
    if (fmt == ACT_F32 || k % blk)
        return fmt == ACT_F32;
    a->nb = k / blk;
    size_t o = 0;
    if (!align_add(&o, k))
        return false;
    a->o_d = o;
    if (!align_add(&o, a->nb * sizeof(float)))
        return false;
    a->o_s = o;
    if (fmt == ACT_Q8_1 && !align_add(&o, a->nb * sizeof(float)))
        return false;
    a->o_g4 = o;
    if (off && !align_add(&o, k)) /* k/4 int32 */
        return false;
    a->o_bsums = o;
    if (fmt == ACT_Q8_K && !align_add(&o, k / 16 * sizeof(int16_t)))
        return false;
    a->row_bytes = o;
    return true;
}

/* The offset sums: g4[i] = -off * (q[4i] + ... + q[4i+3]). */
static void fill_g4(const int8_t *q, int32_t *g4, size_t k, int off)
{
    for (size_t i = 0; i < k / 4; i++)
        g4[i] = -off * (q[4 * i] + q[4 * i + 1] + q[4 * i + 2] + q[4 * i + 3]);
}

static void quant_q8_32(enum act_fmt fmt, const float *x, struct act *a, size_t row)
{
    int8_t *qs = (int8_t *)(a->base + row * a->row_bytes);
    float *d = (float *)(a->base + row * a->row_bytes + a->o_d);
    float *s = (float *)(a->base + row * a->row_bytes + a->o_s);
    for (size_t b = 0; b < a->nb; b++) {
        const float *xb = x + b * 32;
        float amax = 0.0f;
        for (int j = 0; j < 32; j++)
            amax = fmaxf(amax, fabsf(xb[j]));
        const float db = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            int q = round_even(xb[j] * id);
            qs[b * 32 + (size_t)j] = (int8_t)q;
            sum += q;
        }
        d[b] = f16_round(db);
        if (fmt == ACT_Q8_1)
            s[b] = f16_round(db * (float)sum);
    }
    if (a->off)
        fill_g4(qs, (int32_t *)(a->base + row * a->row_bytes + a->o_g4), a->k, a->off);
}

static void quant_q8_k(const float *x, struct act *a, size_t row)
{
    int8_t *qs = (int8_t *)(a->base + row * a->row_bytes);
    float *d = (float *)(a->base + row * a->row_bytes + a->o_d);
    int16_t *bsums = (int16_t *)(a->base + row * a->row_bytes + a->o_bsums);
    for (size_t b = 0; b < a->nb; b++) {
        const float *xb = x + b * MB_QK_K;
        int8_t *qb = qs + b * MB_QK_K;
        float max = 0.0f, amax = 0.0f;
        for (int j = 0; j < MB_QK_K; j++) {
            float ax = fabsf(xb[j]);
            if (ax > amax) {
                amax = ax;
                max = xb[j];
            }
        }
        if (amax == 0.0f) {
            d[b] = 0.0f;
            memset(qb, 0, MB_QK_K);
        } else {
            const float iscale = -127.0f / max;
            for (int j = 0; j < MB_QK_K; j++) {
                int q = round_even(iscale * xb[j]);
                qb[j] = (int8_t)(q > 127 ? 127 : q);
            }
            d[b] = 1.0f / iscale;
        }
        for (int g = 0; g < MB_QK_K / 16; g++) {
            int sum = 0;
            for (int j = 0; j < 16; j++)
                sum += qb[g * 16 + j];
            bsums[b * (MB_QK_K / 16) + (size_t)g] = (int16_t)sum;
        }
    }
}

void act_quant_scalar(enum act_fmt fmt, const float *x, struct act *a, size_t row)
{
    if (fmt == ACT_Q8_K)
        quant_q8_k(x, a, row);
    else
        quant_q8_32(fmt, x, a, row);
}
