/*
 * mb_cuda.h - the CUDA backend's host-side entry points that exist in every
 * build. With CUDA compiled out (MB_CUDA=OFF) they return MB_E_UNSUPPORTED
 * (kernels/nocuda/), so callers never need #ifdefs. No CUDA type appears here.
 *
 * The backend (kernels/cuda/, docs/cuda.md) implements the mb_backend.h table
 * over device memory on one stream: int8 (dp4a) matrix-vector kernels that
 * read GGUF blocks in place for decode and small batches, cuBLAS GEMM on
 * weights dequantized to f16 for prefill (libcublas.so.13 is dlopen'ed at
 * first use; without it prefill uses the int8 kernels), split-K attention,
 * top-k on the device, CUDA graphs (the optional graph entries), and a VRAM
 * budget every allocation is charged against.
 *
 * The CUDA runtime is linked statically: on a machine without a driver or GPU
 * these functions fail with MB_E_CUDA and a message saying why, never crash.
 */
#ifndef MB_CUDA_H
#define MB_CUDA_H

#include "mb_common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mb_backend;

/* True when this binary was built with the CUDA backend. */
bool mb_cuda_compiled(void);

/*
 * Number of usable CUDA devices. Fails with MB_E_CUDA (driver missing, no
 * device, version mismatch; the message says which) or MB_E_UNSUPPORTED when
 * compiled out. Never crashes on a machine without a GPU or driver.
 */
int mb_cuda_device_count(int *count, struct mb_err *err);

/* Default rows from which a prefill matmul goes through cuBLAS (see gemm_min_rows). */
#define MB_CUDA_GEMM_MIN_ROWS 64
/* Default VRAM kept free when no budget is given: max(this, 5% of the card). */
#define MB_CUDA_VRAM_MARGIN ((uint64_t)512 << 20)

struct mb_cuda_opts {
    int device; /* ordinal, default 0 */
    /*
     * Bytes of device memory this backend may hold (weights, KV caches,
     * scratch); an allocation past it fails with MB_E_NOMEM naming both
     * figures. 0 = the device's free memory at creation minus a margin.
     */
    uint64_t vram_budget;
    /*
     * Matmuls of at least this many rows (prefill) on F16 or quantized
     * weights dequantize the weight to f16 and call cuBLAS; smaller ones use
     * the int8 kernels (bit-for-bit the CPU's integer sums). 0 = the default
     * MB_CUDA_GEMM_MIN_ROWS; SIZE_MAX = never.
     */
    size_t gemm_min_rows;
    bool no_graphs; /* the graph entries report MB_E_UNSUPPORTED (comparisons) */
    bool no_cublas; /* never load cuBLAS (comparisons, tests) */
};

/* The defaults (device 0, automatic budget, default GEMM threshold). */
void mb_cuda_opts_init(struct mb_cuda_opts *o);

/*
 * A CUDA backend on opts->device (opts may be NULL). MB_E_CUDA when there is
 * no usable device (the message says why), MB_E_NOMEM when the budget cannot
 * hold the backend's own buffers, MB_E_USAGE for a bad ordinal. Free with
 * mb_backend_free.
 */
int mb_backend_cuda_new(const struct mb_cuda_opts *opts, struct mb_backend **out,
                        struct mb_err *err);

/* True when be came from mb_backend_cuda_new. */
bool mb_backend_is_cuda(const struct mb_backend *be);

struct mb_cuda_info {
    char device_name[128];
    int device, cc_major, cc_minor, sm_count;
    uint64_t vram_total, vram_free; /* the device, now */
    uint64_t budget, used, peak;    /* this backend's allocations (bytes) */
    size_t gemm_min_rows;
    bool cublas;           /* libcublas loaded (see mb_backend_cuda_load_cublas) */
    char cublas_note[200]; /* why not, when loading failed */
    bool graphs;           /* graph entries enabled */
    uint64_t graph_launches, graph_captures;
};

/* Figures of a CUDA backend (MB_E_USAGE for another backend, MB_E_CUDA). */
int mb_backend_cuda_info(struct mb_backend *be, struct mb_cuda_info *out, struct mb_err *err);

/*
 * Load libcublas.so.13 now rather than at the first large matmul (dlopen and
 * symbol lookup only; the handle is created at first use). MB_E_UNSUPPORTED
 * with the loader's message when it is missing or disabled: prefill then runs
 * on the int8 kernels (correct, slower).
 */
int mb_backend_cuda_load_cublas(struct mb_backend *be, struct mb_err *err);

/* Start peak-memory tracking afresh (peak = used). */
void mb_backend_cuda_reset_peak(struct mb_backend *be);

/*
 * Upload n bytes from host memory through the backend's pinned staging
 * buffers on its copy stream, without waiting for the ops already queued:
 * the copy overlaps them, and the compute stream waits for the copy before
 * the next op. The caller guarantees that no queued op uses dst (a pack
 * going into buffers just allocated). `upload` of mb_backend.h stages large
 * copies the same way but keeps stream order.
 */
int mb_backend_cuda_upload_staged(struct mb_backend *be, void *dst, const void *src, size_t n,
                                  struct mb_err *err);

/*
 * Run the CUDA kernels' block decoding on the host, no GPU needed
 * (kernels/cuda/selftest.cu): dequantization bit-exact against
 * mb_dequantize_row, the int8 kernels' unpacking and integer sums against
 * the reference product, for every weight type. MB_E_INTERNAL naming the
 * type and element on a mismatch; MB_E_UNSUPPORTED when compiled out.
 */
int mb_cuda_host_selftest(uint64_t seed, struct mb_err *err);

/* Measurements for scripts/bench/gpu.sh (milliseconds, medians of `reps` runs). */
struct mb_cuda_copy_times {
    double d2d_ms;          /* device-to-device copy of `bytes` */
    double d2d_gbps;        /* (read + write) / time, the bandwidth ceiling */
    double h2d_pinned_ms;   /* cudaMemcpy from pinned host memory */
    double h2d_pageable_ms; /* cudaMemcpy from ordinary host memory */
    double upload_ms;       /* mb_backend upload (staged) from ordinary host memory, + sync */
};
int mb_backend_cuda_bench_copies(struct mb_backend *be, size_t bytes, int reps,
                                 struct mb_cuda_copy_times *out, struct mb_err *err);

#ifdef __cplusplus
}
#endif

#endif /* MB_CUDA_H */
