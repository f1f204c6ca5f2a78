/*
 * elementwise.cu - softmax over rows and the vector ops (SwiGLU's
 * silu(gate) * up, add, scale, the fusion weighted sum y += w x), one
 * element per thread with the CPU's float operations (no contraction into
 * FMAs, so add/scale/axpy are bit-identical and silu differs only by expf's
 * last bit). silu_mul also quantizes its output for the down projection that
 * follows when the length is a multiple of 32 (cu_fused_begin).
 */
#include "cuda_common.cuh"
#include "cuda_int.cuh"

#define NT 256

static unsigned blocks_for(size_t n)
{
    return (unsigned)((n + NT - 1) / NT);
}

__global__ void silu_mul_kernel(const float *gate, const float *up, float *y, size_t n, int8_t *qs,
                                float *qd, float *qsum)
{
    const size_t i = (size_t)blockIdx.x * NT + threadIdx.x;
    float v = 0.0f;
    if (i < n) {
        const float g = gate[i];
        v = __fmul_rn(__fdiv_rn(g, __fadd_rn(1.0f, expf(-g))), up[i]);
        y[i] = v;
    }
    if (qs && i - (threadIdx.x % WARP) < n) { /* the warp's block is inside (n % 32 == 0) */
        const size_t b = i / 32;
        q8_1_warp(v, (int)(threadIdx.x % WARP), qs + b * 32, qd + b, qsum + b);
    }
}

__global__ void add_kernel(const float *a, const float *b, float *y, size_t n)
{
    const size_t i = (size_t)blockIdx.x * NT + threadIdx.x;
    if (i < n)
        y[i] = __fadd_rn(a[i], b[i]);
}

__global__ void scale_kernel(const float *x, float *y, size_t n, float s)
{
    const size_t i = (size_t)blockIdx.x * NT + threadIdx.x;
    if (i < n)
        y[i] = __fmul_rn(x[i], s);
}

__global__ void axpy_kernel(const float *__restrict__ x, float *y, size_t n, float w)
{
    const size_t i = (size_t)blockIdx.x * NT + threadIdx.x;
    if (i < n)
        y[i] = __fadd_rn(y[i], __fmul_rn(w, x[i]));
}

/* One block per row: max of scale*x, exp and a double sum, then the scaling. */
__global__ void softmax_kernel(float *x, size_t stride, size_t n, float scale)
{
    __shared__ float s_max[NT / WARP];
    __shared__ double s_sum[NT / WARP];
    float *xr = x + (size_t)blockIdx.x * stride;
    const int t = threadIdx.x, lane = t % WARP, warp = t / WARP;
    float mx = -INFINITY;
    for (size_t j = t; j < n; j += NT)
        mx = fmaxf(mx, __fmul_rn(xr[j], scale));
    mx = warp_max(mx);
    if (lane == 0)
        s_max[warp] = mx;
    __syncthreads();
    mx = s_max[0];
    for (int i = 1; i < NT / WARP; i++)
        mx = fmaxf(mx, s_max[i]);
    double sum = 0.0;
    for (size_t j = t; j < n; j += NT) {
        const float e = expf(__fsub_rn(__fmul_rn(xr[j], scale), mx));
        xr[j] = e;
        sum += (double)e;
    }
    sum = warp_sum_d(sum);
    if (lane == 0)
        s_sum[warp] = sum;
    __syncthreads();
    double total = 0.0;
    for (int i = 0; i < NT / WARP; i++)
        total += s_sum[i];
    const float inv = (float)(1.0 / total);
    for (size_t j = t; j < n; j += NT)
        xr[j] = __fmul_rn(xr[j], inv);
}

int cu_silu_mul(struct cuda_backend *cb, const struct mb_silu_mul_args *a, struct mb_err *err)
{
    int rc = mb_silu_mul_check(a, err);
    if (rc < 0)
        return rc;
    struct cu_act q = {};
    const bool fuse = cu_fused_begin(cb, a->y, 1, a->n, a->n, &q);
    silu_mul_kernel<<<blocks_for(a->n), NT, 0, cb->stream>>>(a->gate, a->up, a->y, a->n,
                                                             fuse ? q.qs : NULL, q.d, q.s);
    CU_LAUNCHED(err);
    return 0;
}

int cu_add(struct cuda_backend *cb, const struct mb_add_args *a, struct mb_err *err)
{
    int rc = mb_add_check(a, err);
    if (rc < 0)
        return rc;
    add_kernel<<<blocks_for(a->n), NT, 0, cb->stream>>>(a->a, a->b, a->y, a->n);
    CU_LAUNCHED(err);
    return 0;
}

int cu_scale(struct cuda_backend *cb, const struct mb_scale_args *a, struct mb_err *err)
{
    int rc = mb_scale_check(a, err);
    if (rc < 0)
        return rc;
    scale_kernel<<<blocks_for(a->n), NT, 0, cb->stream>>>(a->x, a->y, a->n, a->s);
    CU_LAUNCHED(err);
    return 0;
}

int cu_axpy(struct cuda_backend *cb, const struct mb_axpy_args *a, struct mb_err *err)
{
    int rc = mb_axpy_check(a, err);
    if (rc < 0)
        return rc;
    axpy_kernel<<<blocks_for(a->n), NT, 0, cb->stream>>>(a->x, a->y, a->n, a->w);
    CU_LAUNCHED(err);
    return 0;
}

int cu_softmax(struct cuda_backend *cb, const struct mb_softmax_args *a, struct mb_err *err)
{
    int rc = mb_softmax_check(a, err);
    if (rc < 0)
        return rc;
    if (a->m > INT32_MAX)
        return mb_fail(err, MB_E_LIMIT, "cuda: softmax of %zu rows", a->m);
    softmax_kernel<<<(unsigned)a->m, NT, 0, cb->stream>>>(a->x, a->m > 1 ? a->stride : a->n, a->n,
                                                          a->scale);
    CU_LAUNCHED(err);
    return 0;
}
