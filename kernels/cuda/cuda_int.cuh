/*
 * cuda_int.cuh - internals shared by the CUDA backend's files (nothing outside
 * kernels/cuda/ includes this): the backend state, the check macro every CUDA
 * call goes through, the device-side error flags, scratch buffers, the layout
 * of quantized activations, and the host-side launchers each op family's .cu
 * file provides to backend.cu.
 *
 * Files: backend.cu (the mb_backend_ops table, memory, streams, graphs,
 * budget), quant.cu (activation quantization), mmvq.cu (int8 matrix-vector
 * products reading GGUF blocks in place), gemm.cu (cuBLAS prefill on f16
 * weights), getrows.cu, norm.cu, rope.cu, attention.cu, elementwise.cu,
 * topk.cu, device.cu (discovery). Device functions shared by several files
 * (block decoding, warp reductions) are in cuda_common.cuh.
 */
#ifndef MB_CUDA_INT_CUH
#define MB_CUDA_INT_CUH

#include <cuda_runtime.h>
#include <stdint.h>

#include "mb_backend.h"
#include "mb_cuda.h"

/* ------------------------------------------------------------ errors */

/* MB_E_CUDA naming the failed expression, file and line, and CUDA's message. */
int cu_fail(struct mb_err *err, cudaError_t e, const char *expr, const char *file, int line);

/* Every CUDA call: returns MB_E_CUDA from the calling function on failure. */
#define CU_TRY(err, expr)                                            \
    do {                                                             \
        cudaError_t cu_e_ = (expr);                                  \
        if (cu_e_ != cudaSuccess)                                    \
            return cu_fail((err), cu_e_, #expr, __FILE__, __LINE__); \
    } while (0)

/* After a kernel launch: launch-configuration errors surface here. */
#define CU_LAUNCHED(err) CU_TRY(err, cudaGetLastError())

/*
 * Bad data a kernel finds in backend memory (a token id or position out of
 * range): the first one is recorded here and reported by the next sync as
 * MB_E_FORMAT; the kernel skips that row rather than reading out of bounds.
 */
enum { CUF_NONE = 0, CUF_BAD_ID = 1, CUF_BAD_POS = 2 };
struct cu_flags {
    int code;  /* CUF_* of the first problem */
    int value; /* the bad id or position */
    int row;   /* the row it was in */
    int limit; /* the bound it broke (rows of the table, cache size) */
};

/* ------------------------------------------------------------ activations */

/*
 * Quantized activations of m rows of k values, ggml's rounding (the CPU
 * backend's, kernels/cpu/cpu_int.h): with fmt CU_ACT_Q8_1, 32-blocks with
 * d = f16(amax/127) and q = round-half-even(x * 127/amax), plus
 * s = f16(d_unrounded * sum q) — a superset of Q8_0; with CU_ACT_Q8_K,
 * 256-blocks with d = 1/(-127/max) and bsums of 16. Field arrays, row r at:
 *   qs + r*k (int8), d + r*nb (f32), s + r*nb (f32, Q8_1), bsums + r*k/16 (i16, Q8_K)
 * where nb = k/32 (Q8_1) or k/256 (Q8_K).
 */
enum cu_act_fmt { CU_ACT_Q8_1 = 1, CU_ACT_Q8_K = 2 };

struct cu_act {
    int fmt;
    size_t m, k;
    int8_t *qs;
    float *d;
    float *s;
    int16_t *bsums;
};

/* Bytes an activation buffer of m x k needs; false on overflow. */
bool cu_act_bytes(int fmt, size_t m, size_t k, size_t *bytes);
/* Lay out fields over `base` (cu_act_bytes bytes, 256-byte aligned). */
void cu_act_layout(struct cu_act *a, int fmt, size_t m, size_t k, void *base);

/* ------------------------------------------------------------ the backend */

enum cu_scratch {
    SCR_ACT,    /* activations quantized by a matmul */
    SCR_ACT_K,  /* a second format in the same matmul (Q8_K next to Q8_1) */
    SCR_FUSED,  /* activations quantized by the op that produced them */
    SCR_GEMM_W, /* a weight dequantized to f16 for cuBLAS */
    SCR_GEMM_X, /* activations as f16 for cuBLAS */
    SCR_ATTN,   /* split-K partial results */
    SCR_TOPK,   /* top-k candidates (two ping-pong halves) */
    SCR_COUNT
};

/* A device allocation (for the budget: free needs the size). */
struct cu_alloc {
    void *p;
    size_t n;
};

/* cuBLAS, dlopen'ed (gemm.cu); opaque pointers keep its headers out of here. */
struct cu_blas {
    bool tried, loaded;
    void *lib;
    void *handle; /* cublasHandle_t, created at first use */
    void *fn_create, *fn_destroy, *fn_set_stream, *fn_gemm_ex, *fn_set_math;
    char note[200];
};

/*
 * What the last producer op (rmsnorm, silu_mul, attention) quantized as
 * CU_ACT_Q8_1 into SCR_FUSED together with its f32 output: the matmul that
 * consumes exactly that output skips its own quantization. Any op other
 * than a matmul, an upload, or a matmul writing over the range ends it.
 */
struct cu_fused {
    bool valid;
    const float *x;
    size_t m, k, stride;
};

struct cuda_backend {
    struct mb_backend base;
    struct mb_cuda_opts opts;
    int device;
    int sm_count, cc_major, cc_minor;
    char device_name[128];
    cudaStream_t stream;      /* every op, in order */
    cudaStream_t copy_stream; /* large uploads through pinned staging */
    cudaEvent_t copy_done;
    cudaEvent_t compute_mark; /* ordered uploads wait for the ops before them */
    /* error flags: device copy and a pinned host mirror */
    struct cu_flags *dflags;
    struct cu_flags *hflags;
    /* pinned staging for large uploads: two halves, each with an event */
    uint8_t *stage;
    size_t stage_half;
    cudaEvent_t stage_ev[2];
    bool stage_busy[2];
    /* pinned bounce buffer for downloads, copied out at sync */
    uint8_t *bounce;
    size_t bounce_size, bounce_used;
    struct {
        void *dst;
        size_t off, n;
    } pending[64];
    size_t n_pending;
    /* allocations and the budget */
    struct cu_alloc *allocs;
    size_t n_allocs, cap_allocs;
    uint64_t budget, used, peak;
    /* scratch */
    void *scr[SCR_COUNT];
    size_t scr_size[SCR_COUNT];
    uint64_t scratch_gen; /* bumped when a scratch buffer moves (graphs go stale) */
    /* state */
    bool recording;     /* between graph_begin and graph_end */
    bool record_failed; /* an op failed while recording */
    struct cu_fused fused;
    struct cu_blas blas;
    uint64_t graph_launches, graph_captures;
};

static inline struct cuda_backend *cu_of(struct mb_backend *be)
{
    return (struct cuda_backend *)be;
}

/*
 * At least n bytes of scratch slot `slot` (256-byte aligned, contents
 * undefined), grown geometrically and charged to the budget. Growth while
 * recording a graph is refused (MB_E_STATE). NULL with err filled on failure.
 */
void *cu_scratch(struct cuda_backend *cb, int slot, size_t n, struct mb_err *err);

/* An op failed: remember it if recording (graph_end then refuses the graph). */
static inline int cu_op_failed(struct cuda_backend *cb, int rc)
{
    if (rc && cb->recording)
        cb->record_failed = true;
    return rc;
}

/* ------------------------------------------------------------ launchers */

/* quant.cu: quantize x (m rows of k, stride apart) into a (fields laid out by the caller). */
int cu_quantize(struct cuda_backend *cb, const float *x, size_t m, size_t k, size_t stride,
                const struct cu_act *a, struct mb_err *err);

/* mmvq.cu: y (+)= W x for weights of any supported type, rows of x 1..8 per launch. */
int cu_matmul(struct cuda_backend *cb, const struct mb_matmul_args *a, struct mb_err *err);

/*
 * gemm.cu: cuBLAS on weights dequantized to f16. cu_gemm_applies says whether
 * output o goes that way (enough rows, a type it takes, cuBLAS loaded);
 * cu_gemm_x converts x to f16 once per op, then cu_gemm runs each output.
 */
bool cu_gemm_applies(struct cuda_backend *cb, const struct mb_matmul_args *a, unsigned o);
int cu_gemm_x(struct cuda_backend *cb, const struct mb_matmul_args *a, struct mb_err *err);
int cu_gemm(struct cuda_backend *cb, const struct mb_matmul_args *a, unsigned o,
            struct mb_err *err);
int cu_blas_load(struct cuda_backend *cb, struct mb_err *err);
void cu_blas_unload(struct cuda_backend *cb);

int cu_get_rows(struct cuda_backend *cb, const struct mb_get_rows_args *a, struct mb_err *err);
int cu_rmsnorm(struct cuda_backend *cb, const struct mb_rmsnorm_args *a, struct mb_err *err);
int cu_rope(struct cuda_backend *cb, const struct mb_rope_args *a, struct mb_err *err);
int cu_kv_store(struct cuda_backend *cb, const struct mb_kv_store_args *a, struct mb_err *err);
int cu_attention(struct cuda_backend *cb, const struct mb_attention_args *a, struct mb_err *err);
int cu_softmax(struct cuda_backend *cb, const struct mb_softmax_args *a, struct mb_err *err);
int cu_silu_mul(struct cuda_backend *cb, const struct mb_silu_mul_args *a, struct mb_err *err);
int cu_add(struct cuda_backend *cb, const struct mb_add_args *a, struct mb_err *err);
int cu_scale(struct cuda_backend *cb, const struct mb_scale_args *a, struct mb_err *err);
int cu_axpy(struct cuda_backend *cb, const struct mb_axpy_args *a, struct mb_err *err);
int cu_topk(struct cuda_backend *cb, const struct mb_topk_args *a, struct mb_err *err);

/*
 * For producers: the fused output buffer for m rows of k (Q8_1 layout) when
 * k is a multiple of 32 and scratch is available, else NULL (then the
 * consumer quantizes itself). Records the cache entry on success; the caller
 * must launch the producer kernel writing it.
 */
bool cu_fused_begin(struct cuda_backend *cb, const float *y, size_t m, size_t k, size_t stride,
                    struct cu_act *out);

#endif /* MB_CUDA_INT_CUH */
