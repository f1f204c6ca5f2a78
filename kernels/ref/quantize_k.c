/*
 * quantize_k.c - the scalar reference quantizers of the K-quant super-block
 * types Q4_K and Q6_K (256 elements per block), as ggml's
 * quantize_row_q4_K_ref() and quantize_row_q6_K_ref() compute them: the types
 * llama.cpp writes without an importance matrix for --type q4_k and for the
 * Q6_K output tensor of its Q4_K mixes.
 *
 * Both search, per sub-block, for the scale (and for Q4_K the min) that
 * minimises a weighted squared error over a fixed set of candidates, then
 * quantize the sub-block scales against one f16 super-block scale and requantize
 * the elements with the rounded scales. Every float32 operation below is
 * ggml's, in ggml's order, without contraction into FMA (quantize_int.h): the
 * searches compare sums of many products, and one differently rounded sum can
 * pick another candidate. Sub-blocks whose rounded scale is zero keep the codes
 * of the search, as in ggml.
 */
#include "mb_dtype.h"
#include "mb_quantize.h"
#include "quantize_int.h"

#include <math.h>
#include <string.h>

/* ggml's GROUP_MAX_EPS: a sub-block below this magnitude is all zero. */
#define GROUP_MAX_EPS 1e-15f

/*
 * ggml's make_qkx2_quants(): codes L[0..n) in [0, nmax] and (scale, min) with
 * x ~ scale * L - the_min, chosen among nstep + 1 candidate scales by weighted
 * squared error (use_mad is always false for Q4_K, so it is left out).
 */
static float make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                              float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep)
{
    float min = x[0];
    float max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min)
            min = x[i];
        if (x[i] > max)
            max = x[i];
        float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0)
        min = 0;
    if (max == min) {
        for (int i = 0; i < n; ++i)
            L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = (float)nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)MB_MAX(0, MB_MIN(nmax, l));
        float diff = scale * (float)L[i] + min - x[i];
        diff = diff * diff;
        float w = weights[i];
        best_error += w * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * (float)is + (float)nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale * (x[i] - min));
            l = MB_MAX(0, MB_MIN(nmax, l));
            Laux[i] = (uint8_t)l;
            float w = weights[i];
            sum_l += w * (float)l;
            sum_l2 += w * (float)l * (float)l;
            sum_xl += w * (float)l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; ++i) {
                float diff = this_scale * (float)Laux[i] + this_min - x[i];
                diff = diff * diff;
                float w = weights[i];
                cur_error += w * diff;
            }
            if (cur_error < best_error) {
                for (int i = 0; i < n; ++i)
                    L[i] = Laux[i];
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* Sub-block j's 6-bit scale and min from Q4_K's packed 12 bytes (ggml's get_scale_min_k4). */
static inline void get_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
    }
}

/* Q4_K: f16 d, dmin; u8 scales[12]; u8 qs[128]. */
void mb_ref_quantize_q4_k(const float *x, void *vy, size_t k)
{
    uint8_t *y = vy;
    uint8_t L[MB_QK_K];
    uint8_t Laux[32];
    float weights[32];
    float mins[MB_QK_K / 32];
    float scales[MB_QK_K / 32];

    for (size_t i = 0; i < k / MB_QK_K; i++, x += MB_QK_K, y += 144) {
        uint8_t *sc_bytes = y + 4;
        float max_scale = 0; /* as the min is subtracted, scales are positive */
        float max_min = 0;
        for (int j = 0; j < MB_QK_K / 32; ++j) {
            float sum_x2 = 0;
            for (int l = 0; l < 32; ++l)
                sum_x2 += x[32 * j + l] * x[32 * j + l];
            float av_x = sqrtf(sum_x2 / 32);
            for (int l = 0; l < 32; ++l)
                weights[l] = av_x + fabsf(x[32 * j + l]);
            scales[j] = make_qkx2_quants(32, 15, x + 32 * j, weights, L + 32 * j, &mins[j], Laux,
                                         -1.f, 0.1f, 20);
            float scale = scales[j];
            if (scale > max_scale)
                max_scale = scale;
            float min = mins[j];
            if (min > max_min)
                max_min = min;
        }

        float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
        float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
        for (int j = 0; j < MB_QK_K / 32; ++j) {
            /* ggml stores the int in a uint8_t before clamping: keep the wrap-around */
            uint8_t ls = (uint8_t)nearest_int(inv_scale * scales[j]);
            uint8_t lm = (uint8_t)nearest_int(inv_min * mins[j]);
            ls = (uint8_t)MB_MIN(63, ls);
            lm = (uint8_t)MB_MIN(63, lm);
            if (j < 4) {
                sc_bytes[j] = ls;
                sc_bytes[j + 4] = lm;
            } else {
                sc_bytes[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
                sc_bytes[j - 4] |= (uint8_t)((ls >> 4) << 6);
                sc_bytes[j - 0] |= (uint8_t)((lm >> 4) << 6);
            }
        }
        put_f16(y, max_scale / 63.f);
        put_f16(y + 2, max_min / 63.f);

        for (int j = 0; j < MB_QK_K / 32; ++j) {
            uint8_t sc, m;
            get_scale_min_k4(j, sc_bytes, &sc, &m);
            const float d = get_f16(y) * (float)sc;
            if (d == 0.0f)
                continue;
            const float dm = get_f16(y + 2) * (float)m;
            for (int ii = 0; ii < 32; ++ii) {
                int l = nearest_int((x[32 * j + ii] + dm) / d);
                l = MB_MAX(0, MB_MIN(15, l));
                L[32 * j + ii] = (uint8_t)l;
            }
        }

        uint8_t *q = y + 16;
        for (int j = 0; j < MB_QK_K; j += 64) {
            for (int l = 0; l < 32; ++l)
                q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
            q += 32;
        }
    }
}

/*
 * ggml's make_qx_quants() with rmse_type 1 and no importance weights: signed
 * codes L[0..n) in [0, 2 * nmax) (offset by nmax) and the scale, chosen among
 * 19 candidate scales by squared error weighted with x^2.
 */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L)
{
    float max = 0;
    float amax = 0;
    for (int i = 0; i < n; ++i) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; ++i)
            L[i] = 0;
        return 0.f;
    }
    float iscale = (float)-nmax / max;
    float sumlx = 0;
    float suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearest_int(iscale * x[i]);
        l = MB_MAX(-nmax, MB_MIN(nmax - 1, l));
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0)
            continue;
        iscale = -((float)nmax + 0.1f * (float)is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale * x[i]);
            l = MB_MAX(-nmax, MB_MIN(nmax - 1, l));
            float w = x[i] * x[i];
            sumlx += w * x[i] * (float)l;
            suml2 += w * (float)l * (float)l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) {
                int l = nearest_int(iscale * x[i]);
                L[i] = (int8_t)(nmax + MB_MAX(-nmax, MB_MIN(nmax - 1, l)));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Q6_K: u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d. */
void mb_ref_quantize_q6_k(const float *x, void *vy, size_t k)
{
    uint8_t *y = vy;
    int8_t L[MB_QK_K];
    float scales[MB_QK_K / 16];

    for (size_t i = 0; i < k / MB_QK_K; i++, x += MB_QK_K, y += 210) {
        uint8_t *ql = y;
        uint8_t *qh = y + 128;
        int8_t *sc = (int8_t *)(y + 192);
        uint8_t *dp = y + 208;

        float max_scale = 0;
        float max_abs_scale = 0;
        for (int ib = 0; ib < MB_QK_K / 16; ++ib) {
            const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
            scales[ib] = scale;
            const float abs_scale = fabsf(scale);
            if (abs_scale > max_abs_scale) {
                max_abs_scale = abs_scale;
                max_scale = scale;
            }
        }

        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(y, 0, 210);
            put_f16(dp, 0.f);
            continue;
        }

        float iscale = -128.f / max_scale;
        put_f16(dp, 1 / iscale);
        for (int ib = 0; ib < MB_QK_K / 16; ++ib)
            sc[ib] = (int8_t)MB_MIN(127, nearest_int(iscale * scales[ib]));

        for (int j = 0; j < MB_QK_K / 16; ++j) {
            float d = get_f16(dp) * (float)sc[j];
            if (d == 0.0f)
                continue;
            for (int ii = 0; ii < 16; ++ii) {
                int l = nearest_int(x[16 * j + ii] / d);
                l = MB_MAX(-32, MB_MIN(31, l));
                L[16 * j + ii] = (int8_t)(l + 32);
            }
        }

        for (int j = 0; j < MB_QK_K; j += 128) {
            for (int l = 0; l < 32; ++l) {
                const uint8_t q1 = (uint8_t)(L[j + l + 0] & 0xF);
                const uint8_t q2 = (uint8_t)(L[j + l + 32] & 0xF);
                const uint8_t q3 = (uint8_t)(L[j + l + 64] & 0xF);
                const uint8_t q4 = (uint8_t)(L[j + l + 96] & 0xF);
                ql[l + 0] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
                                  ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
            }
            ql += 64;
            qh += 32;
        }
    }
}
