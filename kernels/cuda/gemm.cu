/*
 * gemm.cu - prefill matmuls through cuBLAS: the weight is dequantized to f16
 * into a scratch buffer (bit-exact f32 values, then one f16 rounding), the
 * activations converted to f16, and cublasGemmEx multiplies on the tensor
 * cores with f32 accumulation and f32 output. Used from gemm_min_rows rows of
 * x (mb_cuda.h), where re-reading the weight once per 8 rows in the int8
 * kernels costs more than one dequantization pass.
 *
 * cuBLAS has no static library in CUDA 13, so it is dlopen'ed at first use
 * (DESIGN.md §8); its types are declared here as plain integers and opaque
 * pointers, so no cuBLAS header or link dependency exists. Without it the
 * int8 kernels do the prefill (cu_gemm_applies says no).
 *
 * Numerics: unlike the int8 path this does not quantize the activations to
 * 8 bits, so it is closer to the exact product; its error is two f16
 * roundings (weight and activation, 2^-11 relative each) plus f32
 * accumulation: |y - W x| <= ~1e-3 * sum |W| |x| (tests/unit/kernels/test_ops.c).
 */
#include <dlfcn.h>
#include <limits.h>

#include "cuda_common.cuh"
#include "cuda_int.cuh"

/* cuBLAS's ABI, as its headers define it (cublas_api.h, library_types.h). */
typedef int (*blas_create_fn)(void **handle);
typedef int (*blas_destroy_fn)(void *handle);
typedef int (*blas_set_stream_fn)(void *handle, cudaStream_t stream);
typedef int (*blas_set_math_fn)(void *handle, int mode);
typedef int (*blas_gemm_ex_fn)(void *handle, int transa, int transb, int m, int n, int k,
                               const void *alpha, const void *A, int atype, int lda, const void *B,
                               int btype, int ldb, const void *beta, void *C, int ctype, int ldc,
                               int compute, int algo);
enum {
    BLAS_OP_N = 0,
    BLAS_OP_T = 1,
    BLAS_R_16F = 2,
    BLAS_R_32F = 0,
    BLAS_COMPUTE_32F = 68,
    BLAS_GEMM_DEFAULT = -1,
    BLAS_DEFAULT_MATH = 0,
};

static const char *const blas_paths[] = {
    "libcublas.so.13",
    "/usr/local/cuda/lib64/libcublas.so.13",
    "/usr/local/cuda-13.0/lib64/libcublas.so.13",
    "/usr/lib/x86_64-linux-gnu/libcublas.so.13",
};

int cu_blas_load(struct cuda_backend *cb, struct mb_err *err)
{
    struct cu_blas *b = &cb->blas;
    if (b->loaded)
        return 0;
    if (b->tried)
        return mb_fail(err, MB_E_UNSUPPORTED, "%s", b->note);
    b->tried = true;
    if (cb->opts.no_cublas) {
        mb_snprintf(b->note, sizeof(b->note), "cuBLAS is disabled");
        return mb_fail(err, MB_E_UNSUPPORTED, "%s", b->note);
    }
    const char *why = "not found";
    for (size_t i = 0; i < MB_ARRAY_LEN(blas_paths) && !b->lib; i++) {
        b->lib = dlopen(blas_paths[i], RTLD_NOW | RTLD_LOCAL);
        if (!b->lib && i == 0) {
            const char *e = dlerror();
            why = e ? e : why;
            mb_snprintf(b->note, sizeof(b->note), "cannot load libcublas.so.13: %s", why);
        }
    }
    if (!b->lib)
        return mb_fail(err, MB_E_UNSUPPORTED, "%s", b->note);
    b->fn_create = dlsym(b->lib, "cublasCreate_v2");
    b->fn_destroy = dlsym(b->lib, "cublasDestroy_v2");
    b->fn_set_stream = dlsym(b->lib, "cublasSetStream_v2");
    b->fn_set_math = dlsym(b->lib, "cublasSetMathMode");
    b->fn_gemm_ex = dlsym(b->lib, "cublasGemmEx");
    if (!b->fn_create || !b->fn_destroy || !b->fn_set_stream || !b->fn_set_math || !b->fn_gemm_ex) {
        mb_snprintf(b->note, sizeof(b->note), "libcublas.so.13 lacks cublasGemmEx or its helpers");
        dlclose(b->lib);
        b->lib = NULL;
        return mb_fail(err, MB_E_UNSUPPORTED, "%s", b->note);
    }
    b->loaded = true;
    b->note[0] = '\0';
    return 0;
}

void cu_blas_unload(struct cuda_backend *cb)
{
    struct cu_blas *b = &cb->blas;
    if (b->handle)
        ((blas_destroy_fn)b->fn_destroy)(b->handle);
    if (b->lib)
        dlclose(b->lib);
    memset(b, 0, sizeof(*b));
}

/* The handle, created at first use and bound to the backend's stream. */
static int blas_handle(struct cuda_backend *cb, struct mb_err *err)
{
    struct cu_blas *b = &cb->blas;
    if (b->handle)
        return 0;
    int st = ((blas_create_fn)b->fn_create)(&b->handle);
    if (st != 0) {
        b->handle = NULL;
        return mb_fail(err, MB_E_CUDA, "cuda: cublasCreate failed with status %d", st);
    }
    if ((st = ((blas_set_stream_fn)b->fn_set_stream)(b->handle, cb->stream)) != 0 ||
        (st = ((blas_set_math_fn)b->fn_set_math)(b->handle, BLAS_DEFAULT_MATH)) != 0)
        return mb_fail(err, MB_E_CUDA, "cuda: configuring the cuBLAS handle failed with status %d",
                       st);
    return 0;
}

static bool gemm_type(uint32_t t)
{
    switch (t) {
    case MB_DTYPE_F16:
    case MB_DTYPE_Q4_0:
    case MB_DTYPE_Q4_1:
    case MB_DTYPE_Q5_0:
    case MB_DTYPE_Q5_1:
    case MB_DTYPE_Q8_0:
    case MB_DTYPE_Q4_K:
    case MB_DTYPE_Q5_K:
    case MB_DTYPE_Q6_K:
        return true;
    default:
        return false;
    }
}

bool cu_gemm_applies(struct cuda_backend *cb, const struct mb_matmul_args *a, unsigned o)
{
    const struct mb_matmul_out *out = &a->out[o];
    if (cb->opts.no_cublas || a->m < cb->opts.gemm_min_rows || !gemm_type(out->w.type))
        return false;
    if (a->m > INT_MAX || a->k > INT_MAX || out->w.rows > INT_MAX || out->y_stride > INT_MAX)
        return false;
    struct mb_err ignored;
    return cu_blas_load(cb, &ignored) == 0;
}

/* One thread per 32-element sub-block: dequantize, round to f16, four 16-byte stores. */
template <int T>
__global__ void dequant_f16_kernel(const uint8_t *__restrict__ w, size_t row_bytes, size_t nsub,
                                   size_t total, __half *__restrict__ out)
{
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total)
        return;
    const size_t row = i / nsub, ib = i % nsub;
    float v[32];
    dq_sub<T>(w + row * row_bytes, (int)ib, v);
    uint4 *dst = (uint4 *)(out + row * nsub * 32 + ib * 32);
#pragma unroll
    for (int q = 0; q < 4; q++) {
        __half2 h[4];
#pragma unroll
        for (int j = 0; j < 4; j++)
            h[j] = __floats2half2_rn(v[8 * q + 2 * j], v[8 * q + 2 * j + 1]);
        dst[q] = *(const uint4 *)h;
    }
}

__global__ void x_f16_kernel(const float *__restrict__ x, size_t stride, size_t k, size_t total,
                             __half *__restrict__ out)
{
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total)
        return;
    const size_t r = i / k, j = i % k;
    out[i] = __float2half_rn(x[r * stride + j]);
}

int cu_gemm_x(struct cuda_backend *cb, const struct mb_matmul_args *a, struct mb_err *err)
{
    const size_t total = a->m * a->k; /* mb_matmul_check bounded it */
    __half *x16 = (__half *)cu_scratch(cb, SCR_GEMM_X, total * sizeof(__half), err);
    if (!x16)
        return err->code;
    x_f16_kernel<<<(unsigned)((total + 255) / 256), 256, 0, cb->stream>>>(
        a->x, a->m > 1 ? a->x_stride : a->k, a->k, total, x16);
    CU_LAUNCHED(err);
    return 0;
}

template <int T>
static void launch_dequant(const uint8_t *w, size_t row_bytes, size_t rows, size_t k, __half *out,
                           cudaStream_t st)
{
    const size_t nsub = k / 32, total = rows * nsub;
    dequant_f16_kernel<T>
        <<<(unsigned)((total + 255) / 256), 256, 0, st>>>(w, row_bytes, nsub, total, out);
}

int cu_gemm(struct cuda_backend *cb, const struct mb_matmul_args *a, unsigned o, struct mb_err *err)
{
    const struct mb_matmul_out *out = &a->out[o];
    const struct mb_weight *w = &out->w;
    int rc = blas_handle(cb, err);
    if (rc)
        return rc;
    uint64_t rb;
    mb_dtype_row_size(w->type, w->cols, &rb);
    const void *A = w->data;
    if (w->type != MB_DTYPE_F16) {
        __half *w16 = (__half *)cu_scratch(cb, SCR_GEMM_W, w->rows * w->cols * sizeof(__half), err);
        if (!w16)
            return err->code;
        const uint8_t *src = (const uint8_t *)w->data;
        switch (w->type) {
        case MB_DTYPE_Q4_0:
            launch_dequant<MB_DTYPE_Q4_0>(src, (size_t)rb, w->rows, w->cols, w16, cb->stream);
            break;
        case MB_DTYPE_Q4_1:
            launch_dequant<MB_DTYPE_Q4_1>(src, (size_t)rb, w->rows, w->cols, w16, cb->stream);
            break;
        case MB_DTYPE_Q5_0:
            launch_dequant<MB_DTYPE_Q5_0>(src, (size_t)rb, w->rows, w->cols, w16, cb->stream);
            break;
        case MB_DTYPE_Q5_1:
            launch_dequant<MB_DTYPE_Q5_1>(src, (size_t)rb, w->rows, w->cols, w16, cb->stream);
            break;
        case MB_DTYPE_Q8_0:
            launch_dequant<MB_DTYPE_Q8_0>(src, (size_t)rb, w->rows, w->cols, w16, cb->stream);
            break;
        case MB_DTYPE_Q4_K:
            launch_dequant<MB_DTYPE_Q4_K>(src, (size_t)rb, w->rows, w->cols, w16, cb->stream);
            break;
        case MB_DTYPE_Q5_K:
            launch_dequant<MB_DTYPE_Q5_K>(src, (size_t)rb, w->rows, w->cols, w16, cb->stream);
            break;
        case MB_DTYPE_Q6_K:
            launch_dequant<MB_DTYPE_Q6_K>(src, (size_t)rb, w->rows, w->cols, w16, cb->stream);
            break;
        default:
            return mb_fail(err, MB_E_UNSUPPORTED, "cuda: no f16 dequantization of %s",
                           mb_dtype_name(w->type));
        }
        CU_LAUNCHED(err);
        A = w16;
    }
    const float one = 1.0f, zero = 0.0f;
    const int m = (int)a->m, n = (int)w->rows, k = (int)a->k;
    const int ldc = a->m > 1 ? (int)out->y_stride : n;
    /* column-major: Y^T (n x m) = W (as k x n, transposed) * X^T (k x m) */
    int st = ((blas_gemm_ex_fn)cb->blas.fn_gemm_ex)(
        cb->blas.handle, BLAS_OP_T, BLAS_OP_N, n, m, k, &one, A, BLAS_R_16F, k, cb->scr[SCR_GEMM_X],
        BLAS_R_16F, k, out->accumulate ? &one : &zero, out->y, BLAS_R_32F, ldc, BLAS_COMPUTE_32F,
        BLAS_GEMM_DEFAULT);
    if (st != 0)
        return mb_fail(err, MB_E_CUDA,
                       "cuda: cublasGemmEx (%d x %d x %d, %s) failed with status %d", n, m, k,
                       mb_dtype_name(w->type), st);
    return 0;
}
