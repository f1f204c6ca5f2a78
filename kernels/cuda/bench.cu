/*
 * bench.cu - copy measurements for scripts/bench/gpu.sh, taken inside the
 * backend so they use its stream and staging: the device-to-device copy that
 * gives the memory-bandwidth ceiling decode is compared against, and a pack
 * upload (the backend's staged upload from ordinary host memory) against a
 * plain cudaMemcpy of the same bytes from pinned and from pageable memory.
 */
#include "cuda_int.cuh"

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Time `reps` device copies with events; the median in ms. */
static int time_async(struct cuda_backend *cb, void *dst, const void *src, size_t n,
                      cudaMemcpyKind kind, int reps, double *ms, struct mb_err *err)
{
    cudaEvent_t e0, e1;
    CU_TRY(err, cudaEventCreate(&e0));
    CU_TRY(err, cudaEventCreate(&e1));
    double t[64];
    int rc = 0;
    for (int r = -1; r < reps && !rc; r++) { /* r = -1: warm-up */
        cudaError_t e;
        if ((e = cudaEventRecord(e0, cb->stream)) != cudaSuccess ||
            (e = cudaMemcpyAsync(dst, src, n, kind, cb->stream)) != cudaSuccess ||
            (e = cudaEventRecord(e1, cb->stream)) != cudaSuccess ||
            (e = cudaEventSynchronize(e1)) != cudaSuccess) {
            rc = cu_fail(err, e, "timed cudaMemcpyAsync", __FILE__, __LINE__);
            break;
        }
        float f = 0;
        cudaEventElapsedTime(&f, e0, e1);
        if (r >= 0)
            t[r] = f;
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    if (!rc)
        *ms = median(t, reps);
    return rc;
}

int mb_backend_cuda_bench_copies(struct mb_backend *be, size_t bytes, int reps,
                                 struct mb_cuda_copy_times *out, struct mb_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!mb_backend_is_cuda(be))
        return mb_fail(err, MB_E_USAGE, "not a cuda backend");
    if (reps < 1 || reps > 64 || bytes == 0)
        return mb_fail(err, MB_E_USAGE, "bench: 1..64 repetitions of a non-empty copy");
    struct cuda_backend *cb = cu_of(be);
    void *a = NULL, *b = NULL, *pinned = NULL;
    uint8_t *pageable = NULL;
    int rc = be->ops->alloc(be, bytes, &a, err);
    if (!rc)
        rc = be->ops->alloc(be, bytes, &b, err);
    if (!rc && cudaMallocHost(&pinned, bytes) != cudaSuccess) {
        cudaGetLastError();
        pinned = NULL;
        rc = mb_fail(err, MB_E_NOMEM, "bench: cannot pin %zu bytes of host memory", bytes);
    }
    if (!rc && !(pageable = (uint8_t *)mb_malloc(bytes)))
        rc = mb_fail(err, MB_E_NOMEM, "bench: out of host memory");
    if (!rc) {
        for (size_t i = 0; i < bytes; i++)
            pageable[i] = (uint8_t)(i * 2654435761u >> 13);
        memcpy(pinned, pageable, bytes);
        rc = be->ops->upload(be, a, pageable, bytes, err);
        if (!rc)
            rc = be->ops->sync(be, err);
    }
    if (!rc)
        rc = time_async(cb, b, a, bytes, cudaMemcpyDeviceToDevice, reps, &out->d2d_ms, err);
    if (!rc)
        rc = time_async(cb, a, pinned, bytes, cudaMemcpyHostToDevice, reps, &out->h2d_pinned_ms,
                        err);
    double t[64];
    for (int r = -1; r < reps && !rc; r++) {
        uint64_t t0 = mb_now_ns();
        cudaError_t e = cudaMemcpy(a, pageable, bytes, cudaMemcpyHostToDevice);
        if (e != cudaSuccess)
            rc = cu_fail(err, e, "cudaMemcpy(pageable)", __FILE__, __LINE__);
        if (r >= 0)
            t[r] = (double)(mb_now_ns() - t0) / 1e6;
    }
    if (!rc)
        out->h2d_pageable_ms = median(t, reps);
    for (int r = -1; r < reps && !rc; r++) {
        uint64_t t0 = mb_now_ns();
        rc = be->ops->upload(be, a, pageable, bytes, err);
        if (!rc)
            rc = be->ops->sync(be, err);
        if (r >= 0)
            t[r] = (double)(mb_now_ns() - t0) / 1e6;
    }
    if (!rc) {
        out->upload_ms = median(t, reps);
        out->d2d_gbps = out->d2d_ms > 0 ? 2.0 * (double)bytes / (out->d2d_ms * 1e6) : 0;
    }
    be->ops->free(be, a);
    be->ops->free(be, b);
    if (pinned)
        cudaFreeHost(pinned);
    mb_free(pageable);
    return rc;
}
