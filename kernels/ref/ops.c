/*
 * ops.c (ref) - reference oracles of the norm, RoPE and element-wise families:
 * the formulas of the headers evaluated in double, one element at a time.
 */
#include "mb_elementwise.h"
#include "mb_norm.h"
#include "mb_rope.h"

#include <math.h>

int mb_ref_rmsnorm(const struct mb_rmsnorm_args *a, struct mb_err *err)
{
    int rc = mb_rmsnorm_check(a, err);
    if (rc < 0)
        return rc;
    for (size_t r = 0; r < a->m; r++) {
        const float *x = a->x + r * a->x_stride;
        float *y = a->y + r * a->y_stride;
        double ss = 0.0;
        for (size_t i = 0; i < a->n; i++)
            ss += (double)x[i] * (double)x[i];
        double inv = 1.0 / sqrt(ss / (double)a->n + (double)a->eps);
        for (size_t i = 0; i < a->n; i++)
            y[i] = (float)((double)x[i] * inv * (a->w ? (double)a->w[i] : 1.0));
    }
    return 0;
}

int mb_ref_rope(const struct mb_rope_args *a, struct mb_err *err)
{
    int rc = mb_rope_check(a, err);
    if (rc < 0)
        return rc;
    const size_t half = a->n_rot / 2;
    for (size_t r = 0; r < a->m; r++) {
        if (a->pos[r] < 0)
            return mb_fail(err, MB_E_FORMAT, "rope: position %d of row %zu is negative",
                           (int)a->pos[r], r);
        for (size_t h = 0; h < a->n_head; h++) {
            float *v = a->x + r * a->x_stride + h * a->head_dim;
            for (size_t i = 0; i < half; i++) {
                double theta = (double)a->pos[r] * (double)a->freq_scale *
                               pow((double)a->freq_base, -2.0 * (double)i / (double)a->n_rot);
                size_t i0 = a->mode == MB_ROPE_NEOX ? i : 2 * i;
                size_t i1 = a->mode == MB_ROPE_NEOX ? i + half : 2 * i + 1;
                double x0 = v[i0], x1 = v[i1];
                v[i0] = (float)(x0 * cos(theta) - x1 * sin(theta));
                v[i1] = (float)(x0 * sin(theta) + x1 * cos(theta));
            }
        }
    }
    return 0;
}

int mb_ref_softmax(const struct mb_softmax_args *a, struct mb_err *err)
{
    int rc = mb_softmax_check(a, err);
    if (rc < 0)
        return rc;
    for (size_t r = 0; r < a->m; r++) {
        float *x = a->x + r * a->stride;
        double max = -INFINITY, sum = 0.0;
        for (size_t i = 0; i < a->n; i++)
            max = fmax(max, (double)a->scale * x[i]);
        for (size_t i = 0; i < a->n; i++)
            sum += exp((double)a->scale * x[i] - max);
        for (size_t i = 0; i < a->n; i++)
            x[i] = (float)(exp((double)a->scale * x[i] - max) / sum);
    }
    return 0;
}

int mb_ref_silu_mul(const struct mb_silu_mul_args *a, struct mb_err *err)
{
    int rc = mb_silu_mul_check(a, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < a->n; i++) {
        double g = a->gate[i];
        a->y[i] = (float)(g / (1.0 + exp(-g)) * (double)a->up[i]);
    }
    return 0;
}

int mb_ref_add(const struct mb_add_args *a, struct mb_err *err)
{
    int rc = mb_add_check(a, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < a->n; i++)
        a->y[i] = (float)((double)a->a[i] + (double)a->b[i]);
    return 0;
}

int mb_ref_scale(const struct mb_scale_args *a, struct mb_err *err)
{
    int rc = mb_scale_check(a, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < a->n; i++)
        a->y[i] = (float)((double)a->x[i] * (double)a->s);
    return 0;
}

int mb_ref_axpy(const struct mb_axpy_args *a, struct mb_err *err)
{
    int rc = mb_axpy_check(a, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < a->n; i++)
        a->y[i] = (float)((double)a->y[i] + (double)a->w * (double)a->x[i]);
    return 0;
}
