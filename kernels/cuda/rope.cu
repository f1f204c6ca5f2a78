/*
 * rope.cu - rotary position embedding in place, positions read from device
 * memory. The angle follows the CPU's recurrence exactly (theta starts at the
 * position and is multiplied by base^(-2/n_rot) once per pair, in float; the
 * factor itself is computed on the host with the same powf as the CPU), and
 * cos/sin are taken in double and rounded, which is the correctly rounded
 * value almost always. A negative position raises the error flag.
 */
#include "cuda_common.cuh"
#include "cuda_int.cuh"

#include <math.h>

/* grid (m), block 64: threads walk the rotated pairs; each pair turns every head. */
__global__ void rope_kernel(float *x, size_t x_stride, const int32_t *__restrict__ pos,
                            size_t n_head, size_t head_dim, size_t n_rot, int neox,
                            float theta_scale, float freq_scale, struct cu_flags *flags)
{
    const size_t r = blockIdx.x;
    const int32_t p = pos[r];
    if (p < 0) {
        if (threadIdx.x == 0 && atomicCAS(&flags->code, 0, CUF_BAD_POS) == 0) {
            flags->value = p;
            flags->row = (int)r;
            flags->limit = 0;
        }
        return;
    }
    float *xr = x + r * x_stride;
    const size_t half = n_rot / 2;
    for (size_t i = threadIdx.x; i < half; i += blockDim.x) {
        float theta = (float)p;
        for (size_t k = 0; k < i; k++)
            theta = __fmul_rn(theta, theta_scale);
        const float t = __fmul_rn(freq_scale, theta);
        const float c = (float)cos((double)t), s = (float)sin((double)t);
        const size_t i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
        for (size_t h = 0; h < n_head; h++) {
            float *v = xr + h * head_dim;
            const float x0 = v[i0], x1 = v[i1];
            v[i0] = __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s));
            v[i1] = __fadd_rn(__fmul_rn(x0, s), __fmul_rn(x1, c));
        }
    }
}

int cu_rope(struct cuda_backend *cb, const struct mb_rope_args *a, struct mb_err *err)
{
    int rc = mb_rope_check(a, err);
    if (rc < 0)
        return rc;
    if (a->m > INT32_MAX)
        return mb_fail(err, MB_E_LIMIT, "cuda: rope of %zu rows", a->m);
    /* the CPU's factor, bit for bit (same powf) */
    const float theta_scale = powf(a->freq_base, -2.0f / (float)a->n_rot);
    rope_kernel<<<(unsigned)a->m, 64, 0, cb->stream>>>(
        a->x, a->m > 1 ? a->x_stride : 0, a->pos, a->n_head, a->head_dim, a->n_rot,
        a->mode == MB_ROPE_NEOX, theta_scale, a->freq_scale, cb->dflags);
    CU_LAUNCHED(err);
    return 0;
}
