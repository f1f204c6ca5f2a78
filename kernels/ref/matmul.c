/*
 * matmul.c (ref) - the reference oracle of the matmul family: each weight row
 * is dequantized with mb_dequantize_row and multiplied with the f32 input in
 * double; plus the reference of the activation quantization the fast kernels
 * apply, written from ggml's rules (not from our SIMD code) so the two can
 * be checked against each other.
 */
#include "mb_matmul.h"
#include "mb_dequant.h"

#include <math.h>

uint32_t mb_matmul_act_type(uint32_t wtype)
{
    switch (wtype) {
    case MB_DTYPE_F32:
    case MB_DTYPE_F16:
    case MB_DTYPE_BF16:
        return MB_DTYPE_F32;
    case MB_DTYPE_Q4_0:
    case MB_DTYPE_Q5_0:
    case MB_DTYPE_Q8_0:
        return MB_DTYPE_Q8_0;
    case MB_DTYPE_Q4_1:
    case MB_DTYPE_Q5_1:
        return MB_DTYPE_Q8_1;
    case MB_DTYPE_Q4_K:
    case MB_DTYPE_Q5_K:
    case MB_DTYPE_Q6_K:
        return MB_DTYPE_Q8_K;
    default:
        return MB_DTYPE_COUNT;
    }
}

static float f16r(float x)
{
    return mb_f16_to_f32(mb_f32_to_f16(x));
}

int mb_ref_quantize_act(uint32_t wtype, const float *x, size_t k, float *xq, float *s_err,
                        struct mb_err *err)
{
    uint32_t act = mb_matmul_act_type(wtype);
    size_t blk = act == MB_DTYPE_Q8_K ? 256 : act == MB_DTYPE_F32 ? 1 : 32;
    if (act == MB_DTYPE_COUNT || k == 0 || k % blk)
        return mb_fail(err, MB_E_USAGE, "ref quantize: type %s with %zu elements",
                       mb_dtype_name(wtype), k);
    if (s_err && act != MB_DTYPE_Q8_K && act != MB_DTYPE_F32)
        for (size_t b = 0; b < k / 32; b++)
            s_err[b] = 0.0f;
    if (act == MB_DTYPE_F32) {
        memcpy(xq, x, k * sizeof(float));
        return 0;
    }
    for (size_t b = 0; b < k / blk; b++) {
        const float *xb = x + b * blk;
        float *qb = xq + b * blk;
        if (act == MB_DTYPE_Q8_K) {
            /* d = -max/127 where max is the element of largest magnitude. */
            float max = 0.0f, amax = 0.0f;
            for (size_t j = 0; j < blk; j++)
                if (fabsf(xb[j]) > amax) {
                    amax = fabsf(xb[j]);
                    max = xb[j];
                }
            if (amax == 0.0f) {
                for (size_t j = 0; j < blk; j++)
                    qb[j] = 0.0f;
                continue;
            }
            const float iscale = -127.0f / max;
            const float d = 1.0f / iscale;
            for (size_t j = 0; j < blk; j++) {
                float q = nearbyintf(iscale * xb[j]);
                qb[j] = d * fminf(q, 127.0f);
            }
            continue;
        }
        /* Q8_0 / Q8_1: d = amax/127 stored as f16, q = round-half-even(x * 127/amax). */
        float amax = 0.0f;
        for (size_t j = 0; j < blk; j++)
            amax = fmaxf(amax, fabsf(xb[j]));
        const float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
        const float d16 = f16r(d);
        float sum = 0.0f;
        for (size_t j = 0; j < blk; j++) {
            float q = nearbyintf(xb[j] * id);
            sum += q;
            qb[j] = d16 * q;
        }
        if (act == MB_DTYPE_Q8_1 && s_err)
            s_err[b] = (float)fabs((double)f16r(d * sum) - (double)d16 * (double)sum);
    }
    return 0;
}

int mb_ref_matmul(const struct mb_matmul_args *a, struct mb_err *err)
{
    int rc = mb_matmul_check(a, err);
    if (rc < 0)
        return rc;
    float *row = mb_malloc(a->k * sizeof(float));
    if (!row)
        return mb_fail(err, MB_E_NOMEM, "ref matmul: out of memory");
    for (unsigned o = 0; o < a->n_out; o++) {
        const struct mb_matmul_out *out = &a->out[o];
        uint64_t row_bytes;
        mb_dtype_row_size(out->w.type, a->k, &row_bytes);
        for (size_t r = 0; r < out->w.rows; r++) {
            const uint8_t *src = (const uint8_t *)out->w.data + r * (size_t)row_bytes;
            if (!mb_dequantize_row(out->w.type, src, row, a->k)) {
                mb_free(row);
                return mb_fail(err, MB_E_UNSUPPORTED, "ref matmul: cannot dequantize %s",
                               mb_dtype_name(out->w.type));
            }
            for (size_t i = 0; i < a->m; i++) {
                const float *x = a->x + i * a->x_stride;
                double s = 0.0;
                for (size_t j = 0; j < a->k; j++)
                    s += (double)x[j] * (double)row[j];
                float *y = out->y + i * out->y_stride + r;
                *y = out->accumulate ? (float)((double)*y + s) : (float)s;
            }
        }
    }
    mb_free(row);
    return 0;
}

int mb_ref_get_rows(const struct mb_get_rows_args *a, struct mb_err *err)
{
    int rc = mb_get_rows_check(a, err);
    if (rc < 0)
        return rc;
    uint64_t row_bytes;
    mb_dtype_row_size(a->w.type, a->w.cols, &row_bytes);
    for (size_t i = 0; i < a->n; i++) {
        if (a->ids[i] < 0 || (size_t)a->ids[i] >= a->w.rows)
            return mb_fail(err, MB_E_FORMAT, "get_rows: id %d of row %zu is outside 0..%zu",
                           (int)a->ids[i], i, a->w.rows - 1);
        const uint8_t *src = (const uint8_t *)a->w.data + (size_t)a->ids[i] * (size_t)row_bytes;
        if (!mb_dequantize_row(a->w.type, src, a->y + i * a->y_stride, a->w.cols))
            return mb_fail(err, MB_E_UNSUPPORTED, "get_rows: cannot dequantize %s",
                           mb_dtype_name(a->w.type));
    }
    return 0;
}
