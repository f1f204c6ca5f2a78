/*
 * mb_norm.h - RMSNorm as llama uses it: per row,
 *
 *     y[j] = x[j] / sqrt(mean(x^2) + eps) * w[j]
 *
 * with the mean of squares accumulated in double (as ggml does), eps from the
 * model (llama.attention.layer_norm_rms_epsilon). All pointers in backend memory.
 */
#ifndef MB_NORM_H
#define MB_NORM_H

#include "mb_common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mb_rmsnorm_args {
    const float *x; /* m rows of n floats */
    float *y;       /* m rows of n floats; may be x (in place) */
    const float *w; /* n floats, or NULL for no scale */
    size_t m, n;
    size_t x_stride, y_stride; /* elements between rows (>= n; ignored when m == 1) */
    float eps;
};

/* MB_E_USAGE for NULL pointers, n == 0, short strides, overflow or eps < 0 / NaN. */
int mb_rmsnorm_check(const struct mb_rmsnorm_args *a, struct mb_err *err);
/* The reference oracle: double accumulation, double division. */
int mb_ref_rmsnorm(const struct mb_rmsnorm_args *a, struct mb_err *err);

#ifdef __cplusplus
}
#endif

#endif /* MB_NORM_H */
