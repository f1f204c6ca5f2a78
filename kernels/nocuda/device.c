/*
 * device.c - the CUDA entry points of a build without the CUDA backend
 * (MB_CUDA=OFF): every one reports MB_E_UNSUPPORTED, so callers need no #ifdef.
 */
#include "mb_cuda.h"

#define NO_CUDA "this build of modularbase has no CUDA backend"

bool mb_cuda_compiled(void)
{
    return false;
}

int mb_cuda_device_count(int *count, struct mb_err *err)
{
    *count = 0;
    return mb_fail(err, MB_E_UNSUPPORTED, NO_CUDA);
}

void mb_cuda_opts_init(struct mb_cuda_opts *o)
{
    memset(o, 0, sizeof(*o));
}

int mb_backend_cuda_new(const struct mb_cuda_opts *opts, struct mb_backend **out,
                        struct mb_err *err)
{
    (void)opts;
    *out = NULL;
    return mb_fail(err, MB_E_UNSUPPORTED, NO_CUDA);
}

bool mb_backend_is_cuda(const struct mb_backend *be)
{
    (void)be;
    return false;
}

int mb_backend_cuda_info(struct mb_backend *be, struct mb_cuda_info *out, struct mb_err *err)
{
    (void)be;
    memset(out, 0, sizeof(*out));
    return mb_fail(err, MB_E_UNSUPPORTED, NO_CUDA);
}

int mb_backend_cuda_load_cublas(struct mb_backend *be, struct mb_err *err)
{
    (void)be;
    return mb_fail(err, MB_E_UNSUPPORTED, NO_CUDA);
}

void mb_backend_cuda_reset_peak(struct mb_backend *be)
{
    (void)be;
}

int mb_backend_cuda_upload_staged(struct mb_backend *be, void *dst, const void *src, size_t n,
                                  struct mb_err *err)
{
    (void)be;
    (void)dst;
    (void)src;
    (void)n;
    return mb_fail(err, MB_E_UNSUPPORTED, NO_CUDA);
}

int mb_backend_cuda_bench_copies(struct mb_backend *be, size_t bytes, int reps,
                                 struct mb_cuda_copy_times *out, struct mb_err *err)
{
    (void)be;
    (void)bytes;
    (void)reps;
    memset(out, 0, sizeof(*out));
    return mb_fail(err, MB_E_UNSUPPORTED, NO_CUDA);
}

int mb_cuda_host_selftest(uint64_t seed, struct mb_err *err)
{
    (void)seed;
    return mb_fail(err, MB_E_UNSUPPORTED, NO_CUDA);
}
