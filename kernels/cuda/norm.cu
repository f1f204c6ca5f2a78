/*
 * norm.cu - RMSNorm, one 256-thread block per row: the mean of squares in
 * double (as ggml and the CPU backend), scale = 1 / sqrt(mean + eps) in
 * float, y = (x * scale) * w. When the row length is a multiple of 32 the
 * kernel also quantizes y for the matmul that follows (cu_fused_begin): each
 * warp holds one 32-block per step, so this costs a few shuffles instead of
 * a separate pass over y.
 */
#include "cuda_common.cuh"
#include "cuda_int.cuh"

#define NT 256

__global__ void __launch_bounds__(NT)
    rmsnorm_kernel(const float *x, size_t x_stride, float *y, size_t y_stride,
                   const float *__restrict__ w, size_t n, float eps, int8_t *qs, float *qd,
                   float *qsum)
{
    __shared__ double part[NT / WARP];
    __shared__ float s_scale;
    const size_t r = blockIdx.x;
    const int t = threadIdx.x, lane = t % WARP, warp = t / WARP;
    const float *xr = x + r * x_stride;
    float *yr = y + r * y_stride;
    double sum = 0.0;
    for (size_t j = (size_t)t; j < n; j += NT)
        sum += (double)xr[j] * (double)xr[j];
    sum = warp_sum_d(sum);
    if (lane == 0)
        part[warp] = sum;
    __syncthreads();
    if (t == 0) {
        double total = 0.0;
        for (int i = 0; i < NT / WARP; i++)
            total += part[i];
        const float mean = (float)(total / (double)n);
        s_scale = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(mean, eps)));
    }
    __syncthreads();
    const float scale = s_scale;
    const size_t nb = n / 32;
    for (size_t base = 0; base < n; base += NT) {
        const size_t j = base + (size_t)t;
        const bool in = j < n;
        float v = 0.0f;
        if (in) {
            v = __fmul_rn(xr[j], scale);
            if (w)
                v = __fmul_rn(v, w[j]);
            yr[j] = v;
        }
        if (qs && base + (size_t)warp * WARP < n) { /* uniform per warp: n % 32 == 0 */
            const size_t b = j / 32;
            q8_1_warp(v, lane, qs + r * n + b * 32, qd + r * nb + b, qsum + r * nb + b);
        }
    }
}

int cu_rmsnorm(struct cuda_backend *cb, const struct mb_rmsnorm_args *a, struct mb_err *err)
{
    int rc = mb_rmsnorm_check(a, err);
    if (rc < 0)
        return rc;
    if (a->m > INT32_MAX)
        return mb_fail(err, MB_E_LIMIT, "cuda: rmsnorm of %zu rows", a->m);
    const size_t xs = a->m > 1 ? a->x_stride : a->n, ys = a->m > 1 ? a->y_stride : a->n;
    struct cu_act q = {};
    const bool fuse = cu_fused_begin(cb, a->y, a->m, a->n, ys, &q);
    rmsnorm_kernel<<<(unsigned)a->m, NT, 0, cb->stream>>>(a->x, xs, a->y, ys, a->w, a->n, a->eps,
                                                          fuse ? q.qs : NULL, q.d, q.s);
    CU_LAUNCHED(err);
    return 0;
}
