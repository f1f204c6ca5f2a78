/*
 * mb_elementwise.h - the small element-wise ops of the forward pass: softmax
 * over rows, SwiGLU's silu(gate) * up, add, scale, and the weighted
 * accumulate the modular runtime fuses pack outputs with (y += w * x).
 * Vectors are contiguous f32 in backend memory; in-place use is allowed
 * where a comment says so.
 */
#ifndef MB_ELEMENTWISE_H
#define MB_ELEMENTWISE_H

#include "mb_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* In place, per row: x = softmax(scale * x), the max subtracted first. */
struct mb_softmax_args {
    float *x;
    size_t m, n;
    size_t stride; /* elements between rows (>= n; ignored when m == 1) */
    float scale;
};

/* y = silu(gate) * up = gate / (1 + exp(-gate)) * up; y may be gate or up. */
struct mb_silu_mul_args {
    const float *gate;
    const float *up;
    float *y;
    size_t n;
};

/* y = a + b; y may be a or b. */
struct mb_add_args {
    const float *a;
    const float *b;
    float *y;
    size_t n;
};

/* y = s * x; y may be x. */
struct mb_scale_args {
    const float *x;
    float *y;
    size_t n;
    float s;
};

/* y += w * x (weighted accumulate); x must not overlap y. */
struct mb_axpy_args {
    const float *x;
    float *y;
    size_t n;
    float w;
};

/* Shape checks shared by every backend (MB_E_USAGE). */
int mb_softmax_check(const struct mb_softmax_args *a, struct mb_err *err);
int mb_silu_mul_check(const struct mb_silu_mul_args *a, struct mb_err *err);
int mb_add_check(const struct mb_add_args *a, struct mb_err *err);
int mb_scale_check(const struct mb_scale_args *a, struct mb_err *err);
int mb_axpy_check(const struct mb_axpy_args *a, struct mb_err *err);

/* Reference oracles (double precision). */
int mb_ref_softmax(const struct mb_softmax_args *a, struct mb_err *err);
int mb_ref_silu_mul(const struct mb_silu_mul_args *a, struct mb_err *err);
int mb_ref_add(const struct mb_add_args *a, struct mb_err *err);
int mb_ref_scale(const struct mb_scale_args *a, struct mb_err *err);
int mb_ref_axpy(const struct mb_axpy_args *a, struct mb_err *err);

#ifdef __cplusplus
}
#endif

#endif /* MB_ELEMENTWISE_H */
