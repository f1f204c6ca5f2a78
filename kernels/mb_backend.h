/*
 * mb_backend.h - the backend interface: one table of function pointers that
 * the runtime calls for every op of the forward pass, the same way on the CPU
 * and (later) on CUDA. No CUDA type appears here.
 *
 * Memory. A backend owns buffers (alloc/free) and moves bytes between them
 * and the host (upload/download). Op descriptors (mb_matmul.h, mb_norm.h,
 * mb_rope.h, mb_attention.h, mb_elementwise.h) hold plain pointers into such
 * buffers; pointer arithmetic inside a buffer is allowed (rows, layers). When
 * `host_memory` is true (the CPU backend) every host pointer is also a backend
 * pointer: weights are used straight from the GGUF mmap, nothing is uploaded,
 * and upload/download are memcpy.
 *
 * Ordering. Ops, uploads and downloads run in the order they are issued, as
 * on one CUDA stream. An op call may return before the work is done (CUDA);
 * `download`'s destination is valid only after `sync`. `upload` copies from
 * `src` before returning, so the caller may reuse it at once. On the CPU
 * every call is synchronous and `sync` does nothing.
 *
 * Decode steps. Op calls allocate nothing on the host and never synchronise;
 * everything that changes from token to token (token ids, positions) is read
 * from backend memory, so a CUDA backend can capture a decode step in a graph
 * and replay it after uploading new ids and positions. Scratch memory a
 * backend needs (quantized activations, attention scores) is grown on first
 * use and then kept: call `reserve`-sized work once (e.g. a warm-up prefill)
 * to avoid allocation later.
 *
 * Errors. Every entry returns 0 or a negative MB_E_* code with err filled:
 * MB_E_USAGE for an inconsistent descriptor (a bug in the caller; the shared
 * mb_*_check functions decide), MB_E_UNSUPPORTED for an op/type the backend
 * lacks (ask `supports` first), MB_E_NOMEM, MB_E_FORMAT for bad data the
 * backend can see (a token id or position out of range), MB_E_CUDA. Bad data
 * in backend memory is found where the data is: the CPU reports it from the
 * op itself, a device backend from the next `sync` (its kernels raise a flag
 * and skip the bad row instead of reading out of bounds).
 *
 * Graphs (optional entries, NULL on the CPU). A backend with launch overhead
 * (CUDA) can record a sequence of op calls once and replay it: between
 * graph_begin and graph_end the ops are recorded, not run; graph_launch runs
 * the recording with whatever the buffers hold at launch (new token ids and
 * positions uploaded before it). Uploads, downloads, sync and allocation are
 * refused while recording (MB_E_STATE), and so is scratch growth: run the
 * same sequence once without recording first. A graph names the buffers its
 * ops used: free it (graph_free) before freeing them.
 *
 * Thread safety: a backend is used by one thread at a time.
 */
#ifndef MB_BACKEND_H
#define MB_BACKEND_H

#include "mb_common.h"
#include "mb_attention.h"
#include "mb_cpu.h"
#include "mb_elementwise.h"
#include "mb_matmul.h"
#include "mb_norm.h"
#include "mb_rope.h"
#include "mb_topk.h"

#ifdef __cplusplus
extern "C" {
#endif

enum mb_op {
    MB_OP_MATMUL,
    MB_OP_GET_ROWS,
    MB_OP_RMSNORM,
    MB_OP_ROPE,
    MB_OP_KV_STORE,
    MB_OP_ATTENTION,
    MB_OP_SOFTMAX,
    MB_OP_SILU_MUL,
    MB_OP_ADD,
    MB_OP_SCALE,
    MB_OP_AXPY,
    MB_OP_TOPK,
    MB_OP_COUNT
};

/* "matmul", "get_rows", ... ("?" for anything else). */
const char *mb_op_name(enum mb_op op);

struct mb_backend;
struct mb_graph; /* a recorded op sequence (see Graphs above) */

/* The table a backend implements. Every entry is required unless it says otherwise. */
struct mb_backend_ops {
    /*
     * Whether the backend runs `op` on this type: the weight type for MATMUL
     * and GET_ROWS, the cache type for KV_STORE and ATTENTION; ignored (pass
     * 0) for the others.
     */
    bool (*supports)(const struct mb_backend *be, enum mb_op op, uint32_t type);

    /* A buffer of n bytes, aligned to 64 bytes, contents undefined. */
    int (*alloc)(struct mb_backend *be, size_t n, void **out, struct mb_err *err);
    /* Free a buffer from alloc; NULL is a no-op. */
    void (*free)(struct mb_backend *be, void *p);
    /* Host -> backend (src is free for reuse on return). */
    int (*upload)(struct mb_backend *be, void *dst, const void *src, size_t n, struct mb_err *err);
    /* Backend -> host (dst valid after sync). */
    int (*download)(struct mb_backend *be, void *dst, const void *src, size_t n,
                    struct mb_err *err);
    /* Wait for everything issued so far; reports errors of asynchronous work. */
    int (*sync)(struct mb_backend *be, struct mb_err *err);

    int (*matmul)(struct mb_backend *be, const struct mb_matmul_args *a, struct mb_err *err);
    int (*get_rows)(struct mb_backend *be, const struct mb_get_rows_args *a, struct mb_err *err);
    int (*rmsnorm)(struct mb_backend *be, const struct mb_rmsnorm_args *a, struct mb_err *err);
    int (*rope)(struct mb_backend *be, const struct mb_rope_args *a, struct mb_err *err);
    int (*kv_store)(struct mb_backend *be, const struct mb_kv_store_args *a, struct mb_err *err);
    int (*attention)(struct mb_backend *be, const struct mb_attention_args *a, struct mb_err *err);
    int (*softmax)(struct mb_backend *be, const struct mb_softmax_args *a, struct mb_err *err);
    int (*silu_mul)(struct mb_backend *be, const struct mb_silu_mul_args *a, struct mb_err *err);
    int (*add)(struct mb_backend *be, const struct mb_add_args *a, struct mb_err *err);
    int (*scale)(struct mb_backend *be, const struct mb_scale_args *a, struct mb_err *err);
    int (*axpy)(struct mb_backend *be, const struct mb_axpy_args *a, struct mb_err *err);
    int (*topk)(struct mb_backend *be, const struct mb_topk_args *a, struct mb_err *err);

    /* Release everything (called by mb_backend_free). */
    void (*destroy)(struct mb_backend *be);

    /*
     * Optional (NULL: no graphs). After graph_begin succeeds, graph_end must
     * follow, also when an op failed in between: it then abandons the
     * recording and returns an error. graph_free(NULL) is a no-op.
     */
    int (*graph_begin)(struct mb_backend *be, struct mb_err *err);
    int (*graph_end)(struct mb_backend *be, struct mb_graph **out, struct mb_err *err);
    int (*graph_launch)(struct mb_backend *be, struct mb_graph *g, struct mb_err *err);
    void (*graph_free)(struct mb_backend *be, struct mb_graph *g);
};

/* A backend instance; implementations embed it as their first member. */
struct mb_backend {
    const struct mb_backend_ops *ops;
    char name[32];    /* "cpu-avx512", "cuda:0" */
    bool host_memory; /* host pointers are backend pointers (see above) */
};

/* Options of the CPU backend. Zero-initialised = the defaults. */
struct mb_cpu_opts {
    unsigned n_threads;  /* 0 = mb_cpu_count() */
    bool force_isa;      /* use `isa` instead of mb_cpu_isa_default() */
    enum mb_cpu_isa isa; /* with force_isa; must be supported (else MB_E_UNSUPPORTED) */
    size_t max_scratch;  /* cap on the scratch memory it may grow to; 0 = 1 GiB */
};

/*
 * The CPU backend over host memory (kernels/cpu/): a thread pool of
 * opts->n_threads threads and the SIMD level of the CPU. opts may be NULL.
 * Free with mb_backend_free.
 */
int mb_backend_cpu_new(const struct mb_cpu_opts *opts, struct mb_backend **out, struct mb_err *err);

/* The CPU backend's SIMD level and thread count (be must come from mb_backend_cpu_new). */
enum mb_cpu_isa mb_backend_cpu_isa(const struct mb_backend *be);
unsigned mb_backend_cpu_threads(const struct mb_backend *be);

/* Destroy a backend; NULL is a no-op. */
void mb_backend_free(struct mb_backend *be);

/* Calls through the table, so call sites read mb_backend_matmul(be, &args, err). */
static inline int mb_backend_matmul(struct mb_backend *be, const struct mb_matmul_args *a,
                                    struct mb_err *err)
{
    return be->ops->matmul(be, a, err);
}
static inline int mb_backend_get_rows(struct mb_backend *be, const struct mb_get_rows_args *a,
                                      struct mb_err *err)
{
    return be->ops->get_rows(be, a, err);
}
static inline int mb_backend_rmsnorm(struct mb_backend *be, const struct mb_rmsnorm_args *a,
                                     struct mb_err *err)
{
    return be->ops->rmsnorm(be, a, err);
}
static inline int mb_backend_rope(struct mb_backend *be, const struct mb_rope_args *a,
                                  struct mb_err *err)
{
    return be->ops->rope(be, a, err);
}
static inline int mb_backend_kv_store(struct mb_backend *be, const struct mb_kv_store_args *a,
                                      struct mb_err *err)
{
    return be->ops->kv_store(be, a, err);
}
static inline int mb_backend_attention(struct mb_backend *be, const struct mb_attention_args *a,
                                       struct mb_err *err)
{
    return be->ops->attention(be, a, err);
}
static inline int mb_backend_softmax(struct mb_backend *be, const struct mb_softmax_args *a,
                                     struct mb_err *err)
{
    return be->ops->softmax(be, a, err);
}
static inline int mb_backend_silu_mul(struct mb_backend *be, const struct mb_silu_mul_args *a,
                                      struct mb_err *err)
{
    return be->ops->silu_mul(be, a, err);
}
static inline int mb_backend_add(struct mb_backend *be, const struct mb_add_args *a,
                                 struct mb_err *err)
{
    return be->ops->add(be, a, err);
}
static inline int mb_backend_scale(struct mb_backend *be, const struct mb_scale_args *a,
                                   struct mb_err *err)
{
    return be->ops->scale(be, a, err);
}
static inline int mb_backend_axpy(struct mb_backend *be, const struct mb_axpy_args *a,
                                  struct mb_err *err)
{
    return be->ops->axpy(be, a, err);
}
static inline int mb_backend_topk(struct mb_backend *be, const struct mb_topk_args *a,
                                  struct mb_err *err)
{
    return be->ops->topk(be, a, err);
}
static inline bool mb_backend_has_graphs(const struct mb_backend *be)
{
    return be->ops->graph_begin != NULL;
}
/* MB_E_UNSUPPORTED when the backend has no graphs. */
static inline int mb_backend_graph_begin(struct mb_backend *be, struct mb_err *err)
{
    if (!be->ops->graph_begin)
        return mb_fail(err, MB_E_UNSUPPORTED, "the %s backend has no graphs", be->name);
    return be->ops->graph_begin(be, err);
}
static inline int mb_backend_graph_end(struct mb_backend *be, struct mb_graph **out,
                                       struct mb_err *err)
{
    *out = NULL;
    if (!be->ops->graph_end)
        return mb_fail(err, MB_E_UNSUPPORTED, "the %s backend has no graphs", be->name);
    return be->ops->graph_end(be, out, err);
}
static inline int mb_backend_graph_launch(struct mb_backend *be, struct mb_graph *g,
                                          struct mb_err *err)
{
    if (!be->ops->graph_launch)
        return mb_fail(err, MB_E_UNSUPPORTED, "the %s backend has no graphs", be->name);
    return be->ops->graph_launch(be, g, err);
}
static inline void mb_backend_graph_free(struct mb_backend *be, struct mb_graph *g)
{
    if (g && be->ops->graph_free)
        be->ops->graph_free(be, g);
}
static inline bool mb_backend_supports(const struct mb_backend *be, enum mb_op op, uint32_t type)
{
    return be->ops->supports(be, op, type);
}
static inline int mb_backend_alloc(struct mb_backend *be, size_t n, void **out, struct mb_err *err)
{
    return be->ops->alloc(be, n, out, err);
}
static inline void mb_backend_buf_free(struct mb_backend *be, void *p)
{
    be->ops->free(be, p);
}
static inline int mb_backend_upload(struct mb_backend *be, void *dst, const void *src, size_t n,
                                    struct mb_err *err)
{
    return be->ops->upload(be, dst, src, n, err);
}
static inline int mb_backend_download(struct mb_backend *be, void *dst, const void *src, size_t n,
                                      struct mb_err *err)
{
    return be->ops->download(be, dst, src, n, err);
}
static inline int mb_backend_sync(struct mb_backend *be, struct mb_err *err)
{
    return be->ops->sync(be, err);
}

#ifdef __cplusplus
}
#endif

#endif /* MB_BACKEND_H */
