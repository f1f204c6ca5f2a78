/*
 * backend.cu - the CUDA backend's mb_backend_ops table: device memory charged
 * against a VRAM budget, uploads (small ones on the compute stream, large ones
 * through two pinned staging halves on a copy stream the compute stream then
 * waits for), downloads (into a pinned bounce buffer, copied out at sync),
 * sync (which also reads back the kernels' error flags), scratch buffers,
 * CUDA graphs, and the op entries, which validate, keep the fused-activation
 * cache honest and call the launchers of the other files.
 *
 * Every op is enqueued on one stream in call order; nothing here blocks
 * except sync, downloads larger than the bounce buffer, and a staging half
 * that is still being copied.
 */
#include "cuda_int.cuh"

#include <stdarg.h>

#define STAGE_HALF    ((size_t)8 << 20) /* pinned staging: two halves */
#define STAGED_MIN    ((size_t)1 << 20) /* uploads from this size go through staging */
#define BOUNCE_SIZE   ((size_t)4 << 20) /* pinned download bounce buffer */
#define SCRATCH_ALIGN ((size_t)256)

struct mb_graph {
    cudaGraphExec_t exec;
    uint64_t scratch_gen; /* scratch addresses it was recorded with */
};

int cu_fail(struct mb_err *err, cudaError_t e, const char *expr, const char *file, int line)
{
    const char *base = strrchr(file, '/');
    return mb_fail(err, MB_E_CUDA, "cuda: %s failed at %s:%d: %s (%s)", expr,
                   base ? base + 1 : file, line, cudaGetErrorString(e), cudaGetErrorName(e));
}

static bool is_cuda_backend(const struct mb_backend *be);

/* A call that cannot be recorded: refused, and the recording is spoiled. */
static int refused(struct cuda_backend *cb, const char *what, struct mb_err *err)
{
    cb->record_failed = true;
    return mb_fail(err, MB_E_STATE, "%s: %s while recording a graph", cb->base.name, what);
}

/* ------------------------------------------------------------ memory */

static int track(struct cuda_backend *cb, void *p, size_t n, struct mb_err *err)
{
    if (cb->n_allocs == cb->cap_allocs) {
        size_t cap = cb->cap_allocs ? 2 * cb->cap_allocs : 256;
        struct cu_alloc *a = (struct cu_alloc *)mb_reallocarray(cb->allocs, cap, sizeof(*a));
        if (!a)
            return mb_fail(err, MB_E_NOMEM, "cuda: out of host memory tracking allocations");
        cb->allocs = a;
        cb->cap_allocs = cap;
    }
    cb->allocs[cb->n_allocs++] = (struct cu_alloc){ p, n };
    cb->used += n;
    if (cb->used > cb->peak)
        cb->peak = cb->used;
    return 0;
}

/* cudaMalloc under the budget. */
static int dev_alloc(struct cuda_backend *cb, size_t n, void **out, struct mb_err *err)
{
    *out = NULL;
    if (cb->recording)
        return refused(cb, "allocation", err);
    if (n == 0)
        n = 1;
    if (n > cb->budget || cb->used > cb->budget - n) {
        char need[32], used[32], budget[32];
        return mb_fail(err, MB_E_NOMEM,
                       "%s: out of VRAM budget: %s more do not fit (%s of %s in use; "
                       "--vram-budget)",
                       cb->base.name, mb_format_size(n, need, sizeof(need)),
                       mb_format_size(cb->used, used, sizeof(used)),
                       mb_format_size(cb->budget, budget, sizeof(budget)));
    }
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, n);
    if (e != cudaSuccess) {
        cudaGetLastError();
        char need[32], used[32];
        size_t fr = 0, tot = 0;
        cudaMemGetInfo(&fr, &tot);
        char freebuf[32];
        return mb_fail(err, MB_E_NOMEM,
                       "%s: out of device memory: %s do not fit (%s in use by this process, %s "
                       "free on the device): %s",
                       cb->base.name, mb_format_size(n, need, sizeof(need)),
                       mb_format_size(cb->used, used, sizeof(used)),
                       mb_format_size(fr, freebuf, sizeof(freebuf)), cudaGetErrorString(e));
    }
    int rc = track(cb, p, n, err);
    if (rc) {
        cudaFree(p);
        return rc;
    }
    *out = p;
    return 0;
}

static void dev_free(struct cuda_backend *cb, void *p)
{
    if (!p)
        return;
    for (size_t i = cb->n_allocs; i-- > 0;) {
        if (cb->allocs[i].p == p) {
            cb->used -= cb->allocs[i].n;
            cb->allocs[i] = cb->allocs[--cb->n_allocs];
            break;
        }
    }
    /* Pending work may still use the buffer: finish it first (cudaFree would anyway). */
    cudaStreamSynchronize(cb->stream);
    cudaStreamSynchronize(cb->copy_stream);
    cudaFree(p);
}

void *cu_scratch(struct cuda_backend *cb, int slot, size_t n, struct mb_err *err)
{
    if (n <= cb->scr_size[slot] && cb->scr[slot])
        return cb->scr[slot];
    if (cb->recording) {
        mb_fail(err, MB_E_STATE, "cuda: scratch growth while recording a graph");
        return NULL;
    }
    size_t want = MB_MAX(n, 2 * cb->scr_size[slot]);
    want = (want + SCRATCH_ALIGN - 1) & ~(SCRATCH_ALIGN - 1);
    void *p;
    if (cb->scr[slot]) {
        dev_free(cb, cb->scr[slot]);
        cb->scr[slot] = NULL;
        cb->scr_size[slot] = 0;
    }
    if (dev_alloc(cb, want, &p, err) != 0) {
        /* geometric growth may not fit the budget where the request does */
        if (want == n || dev_alloc(cb, n, &p, err) != 0)
            return NULL;
        want = n;
    }
    cb->scr[slot] = p;
    cb->scr_size[slot] = want;
    cb->scratch_gen++;
    return p;
}

bool cu_fused_begin(struct cuda_backend *cb, const float *y, size_t m, size_t k, size_t stride,
                    struct cu_act *out)
{
    cb->fused.valid = false;
    memset(out, 0, sizeof(*out));
    if (k % 32 || m == 0)
        return false;
    size_t bytes;
    struct mb_err ignored;
    if (!cu_act_bytes(CU_ACT_Q8_1, m, k, &bytes))
        return false;
    void *buf = cu_scratch(cb, SCR_FUSED, bytes, &ignored);
    if (!buf)
        return false;
    cu_act_layout(out, CU_ACT_Q8_1, m, k, buf);
    cb->fused = (struct cu_fused){ true, y, m, k, m > 1 ? stride : k };
    return true;
}

static int be_alloc(struct mb_backend *be, size_t n, void **out, struct mb_err *err)
{
    return dev_alloc(cu_of(be), n, out, err);
}

static void be_free(struct mb_backend *be, void *p)
{
    dev_free(cu_of(be), p);
}

/*
 * Staged copy of n bytes: host memcpy into one pinned half while the other is
 * DMA'd on the copy stream; the compute stream then waits for the copy. With
 * `ordered`, the copy also waits for the ops issued so far (an upload keeps
 * stream order); without, it may overlap them (the caller vouches that they
 * do not use dst: a pack going into fresh buffers).
 */
static int staged_upload(struct cuda_backend *cb, uint8_t *dst, const uint8_t *src, size_t n,
                         bool ordered, struct mb_err *err)
{
    if (ordered) {
        CU_TRY(err, cudaEventRecord(cb->compute_mark, cb->stream));
        CU_TRY(err, cudaStreamWaitEvent(cb->copy_stream, cb->compute_mark, 0));
    }
    int half = 0;
    for (size_t off = 0; off < n;) {
        const size_t c = MB_MIN(cb->stage_half, n - off);
        if (cb->stage_busy[half])
            CU_TRY(err, cudaEventSynchronize(cb->stage_ev[half]));
        uint8_t *buf = cb->stage + (size_t)half * cb->stage_half;
        memcpy(buf, src + off, c);
        CU_TRY(err, cudaMemcpyAsync(dst + off, buf, c, cudaMemcpyHostToDevice, cb->copy_stream));
        CU_TRY(err, cudaEventRecord(cb->stage_ev[half], cb->copy_stream));
        cb->stage_busy[half] = true;
        off += c;
        half ^= 1;
    }
    CU_TRY(err, cudaEventRecord(cb->copy_done, cb->copy_stream));
    CU_TRY(err, cudaStreamWaitEvent(cb->stream, cb->copy_done, 0));
    return 0;
}

static int be_upload(struct mb_backend *be, void *dst, const void *src, size_t n,
                     struct mb_err *err)
{
    struct cuda_backend *cb = cu_of(be);
    if (cb->recording)
        return refused(cb, "upload", err);
    if (n && (!dst || !src))
        return mb_fail(err, MB_E_USAGE, "cuda: upload of %zu bytes with a NULL pointer", n);
    if (n == 0)
        return 0;
    cb->fused.valid = false;
    if (n >= STAGED_MIN)
        return staged_upload(cb, (uint8_t *)dst, (const uint8_t *)src, n, true, err);
    /* small: the driver stages pageable memory itself and returns once src is read */
    CU_TRY(err, cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, cb->stream));
    return 0;
}

static int be_download(struct mb_backend *be, void *dst, const void *src, size_t n,
                       struct mb_err *err)
{
    struct cuda_backend *cb = cu_of(be);
    if (cb->recording)
        return refused(cb, "download", err);
    if (n && (!dst || !src))
        return mb_fail(err, MB_E_USAGE, "cuda: download of %zu bytes with a NULL pointer", n);
    if (n == 0)
        return 0;
    const size_t off = (cb->bounce_used + 63) & ~(size_t)63;
    if (n <= cb->bounce_size && off <= cb->bounce_size - n &&
        cb->n_pending < MB_ARRAY_LEN(cb->pending)) {
        CU_TRY(err, cudaMemcpyAsync(cb->bounce + off, src, n, cudaMemcpyDeviceToHost, cb->stream));
        cb->pending[cb->n_pending].dst = dst;
        cb->pending[cb->n_pending].off = off;
        cb->pending[cb->n_pending].n = n;
        cb->n_pending++;
        cb->bounce_used = off + n;
        return 0;
    }
    /* large: straight into pageable memory (the call waits for the copy) */
    CU_TRY(err, cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, cb->stream));
    return 0;
}

static int be_sync(struct mb_backend *be, struct mb_err *err)
{
    struct cuda_backend *cb = cu_of(be);
    if (cb->recording)
        return refused(cb, "sync", err);
    CU_TRY(err, cudaMemcpyAsync(cb->hflags, cb->dflags, sizeof(struct cu_flags),
                                cudaMemcpyDeviceToHost, cb->stream));
    cudaError_t e = cudaStreamSynchronize(cb->stream);
    for (size_t i = 0; i < cb->n_pending; i++)
        memcpy(cb->pending[i].dst, cb->bounce + cb->pending[i].off, cb->pending[i].n);
    cb->n_pending = 0;
    cb->bounce_used = 0;
    if (e != cudaSuccess)
        return cu_fail(err, e, "cudaStreamSynchronize(stream)", __FILE__, __LINE__);
    const struct cu_flags f = *cb->hflags;
    if (f.code != CUF_NONE) {
        memset(cb->hflags, 0, sizeof(*cb->hflags));
        CU_TRY(err, cudaMemsetAsync(cb->dflags, 0, sizeof(struct cu_flags), cb->stream));
        if (f.code == CUF_BAD_ID)
            return mb_fail(err, MB_E_FORMAT, "%s: token id %d of row %d is outside the table of %d",
                           cb->base.name, f.value, f.row, f.limit);
        if (f.limit == 0)
            return mb_fail(err, MB_E_FORMAT, "%s: position %d of row %d is negative", cb->base.name,
                           f.value, f.row);
        return mb_fail(err, MB_E_FORMAT, "%s: position %d of row %d is outside the cache of %d",
                       cb->base.name, f.value, f.row, f.limit);
    }
    return 0;
}

/* ------------------------------------------------------------ ops */

static bool be_supports(const struct mb_backend *be, enum mb_op op, uint32_t type)
{
    (void)be;
    switch (op) {
    case MB_OP_MATMUL:
    case MB_OP_GET_ROWS:
        return mb_matmul_type_supported(type);
    case MB_OP_KV_STORE:
    case MB_OP_ATTENTION:
        return type == MB_DTYPE_F32 || type == MB_DTYPE_F16;
    case MB_OP_RMSNORM:
    case MB_OP_ROPE:
    case MB_OP_SOFTMAX:
    case MB_OP_SILU_MUL:
    case MB_OP_ADD:
    case MB_OP_SCALE:
    case MB_OP_AXPY:
    case MB_OP_TOPK:
        return true;
    default:
        return false;
    }
}

static int be_matmul(struct mb_backend *be, const struct mb_matmul_args *a, struct mb_err *err)
{
    struct cuda_backend *cb = cu_of(be);
    return cu_op_failed(cb, cu_matmul(cb, a, err));
}

/* Any op but a matmul ends the fused-activation cache (producers set it again). */
#define WRAP(op, args_t)                                                                  \
    static int be_##op(struct mb_backend *be, const struct args_t *a, struct mb_err *err) \
    {                                                                                     \
        struct cuda_backend *cb = cu_of(be);                                              \
        cb->fused.valid = false;                                                          \
        int rc = cu_##op(cb, a, err);                                                     \
        if (rc)                                                                           \
            cb->fused.valid = false;                                                      \
        return cu_op_failed(cb, rc);                                                      \
    }
WRAP(get_rows, mb_get_rows_args)
WRAP(rmsnorm, mb_rmsnorm_args)
WRAP(rope, mb_rope_args)
WRAP(kv_store, mb_kv_store_args)
WRAP(attention, mb_attention_args)
WRAP(softmax, mb_softmax_args)
WRAP(silu_mul, mb_silu_mul_args)
WRAP(add, mb_add_args)
WRAP(scale, mb_scale_args)
WRAP(axpy, mb_axpy_args)
WRAP(topk, mb_topk_args)

/* ------------------------------------------------------------ graphs */

static int be_graph_begin(struct mb_backend *be, struct mb_err *err)
{
    struct cuda_backend *cb = cu_of(be);
    if (cb->opts.no_graphs)
        return mb_fail(err, MB_E_UNSUPPORTED, "%s: graphs are disabled", be->name);
    if (cb->recording)
        return mb_fail(err, MB_E_STATE, "%s: already recording a graph", be->name);
    CU_TRY(err, cudaStreamBeginCapture(cb->stream, cudaStreamCaptureModeThreadLocal));
    cb->recording = true;
    cb->record_failed = false;
    return 0;
}

static int be_graph_end(struct mb_backend *be, struct mb_graph **out, struct mb_err *err)
{
    struct cuda_backend *cb = cu_of(be);
    *out = NULL;
    if (!cb->recording)
        return mb_fail(err, MB_E_STATE, "%s: not recording a graph", be->name);
    cudaGraph_t g = NULL;
    cudaError_t e = cudaStreamEndCapture(cb->stream, &g);
    cb->recording = false;
    const bool failed = cb->record_failed;
    cb->record_failed = false;
    if (e != cudaSuccess || failed) {
        if (g)
            cudaGraphDestroy(g);
        cudaGetLastError();
        cb->fused.valid = false;
        if (e != cudaSuccess)
            return cu_fail(err, e, "cudaStreamEndCapture(stream)", __FILE__, __LINE__);
        return mb_fail(err, MB_E_STATE, "%s: an op failed while recording a graph", be->name);
    }
    cudaGraphExec_t exec = NULL;
    e = cudaGraphInstantiate(&exec, g, 0);
    cudaGraphDestroy(g);
    if (e != cudaSuccess)
        return cu_fail(err, e, "cudaGraphInstantiate", __FILE__, __LINE__);
    struct mb_graph *gr = (struct mb_graph *)mb_calloc(1, sizeof(*gr));
    if (!gr) {
        cudaGraphExecDestroy(exec);
        return mb_fail(err, MB_E_NOMEM, "out of memory for a graph");
    }
    gr->exec = exec;
    gr->scratch_gen = cb->scratch_gen;
    cb->graph_captures++;
    *out = gr;
    return 0;
}

static int be_graph_launch(struct mb_backend *be, struct mb_graph *g, struct mb_err *err)
{
    struct cuda_backend *cb = cu_of(be);
    if (cb->recording)
        return mb_fail(err, MB_E_STATE, "%s: graph launch while recording", be->name);
    if (g->scratch_gen != cb->scratch_gen)
        return mb_fail(err, MB_E_STATE, "%s: the graph is stale (scratch memory moved)", be->name);
    CU_TRY(err, cudaGraphLaunch(g->exec, cb->stream));
    cb->graph_launches++;
    cb->fused.valid = false; /* host-side state no longer describes the last op */
    return 0;
}

static void be_graph_free(struct mb_backend *be, struct mb_graph *g)
{
    (void)be;
    if (!g)
        return;
    cudaGraphExecDestroy(g->exec);
    mb_free(g);
}

/* ------------------------------------------------------------ lifecycle */

static void be_destroy(struct mb_backend *be)
{
    struct cuda_backend *cb = cu_of(be);
    if (cb->recording) {
        cudaGraph_t g = NULL;
        cudaStreamEndCapture(cb->stream, &g);
        if (g)
            cudaGraphDestroy(g);
    }
    if (cb->stream)
        cudaStreamSynchronize(cb->stream);
    if (cb->copy_stream)
        cudaStreamSynchronize(cb->copy_stream);
    cu_blas_unload(cb);
    /* scratch, flags, and buffers the caller did not free */
    for (size_t i = 0; i < cb->n_allocs; i++)
        cudaFree(cb->allocs[i].p);
    mb_free(cb->allocs);
    if (cb->hflags)
        cudaFreeHost(cb->hflags);
    if (cb->stage)
        cudaFreeHost(cb->stage);
    if (cb->bounce)
        cudaFreeHost(cb->bounce);
    for (int i = 0; i < 2; i++)
        if (cb->stage_ev[i])
            cudaEventDestroy(cb->stage_ev[i]);
    if (cb->copy_done)
        cudaEventDestroy(cb->copy_done);
    if (cb->compute_mark)
        cudaEventDestroy(cb->compute_mark);
    if (cb->copy_stream)
        cudaStreamDestroy(cb->copy_stream);
    if (cb->stream)
        cudaStreamDestroy(cb->stream);
    mb_free(cb);
}

static const struct mb_backend_ops cuda_ops = {
    .supports = be_supports,
    .alloc = be_alloc,
    .free = be_free,
    .upload = be_upload,
    .download = be_download,
    .sync = be_sync,
    .matmul = be_matmul,
    .get_rows = be_get_rows,
    .rmsnorm = be_rmsnorm,
    .rope = be_rope,
    .kv_store = be_kv_store,
    .attention = be_attention,
    .softmax = be_softmax,
    .silu_mul = be_silu_mul,
    .add = be_add,
    .scale = be_scale,
    .axpy = be_axpy,
    .topk = be_topk,
    .destroy = be_destroy,
    .graph_begin = be_graph_begin,
    .graph_end = be_graph_end,
    .graph_launch = be_graph_launch,
    .graph_free = be_graph_free,
};

static bool is_cuda_backend(const struct mb_backend *be)
{
    return be && be->ops == &cuda_ops;
}

bool mb_backend_is_cuda(const struct mb_backend *be)
{
    return is_cuda_backend(be);
}

void mb_cuda_opts_init(struct mb_cuda_opts *o)
{
    memset(o, 0, sizeof(*o));
}

/* Stream, events, pinned buffers and flags; the budget. */
static int setup(struct cuda_backend *cb, struct mb_err *err)
{
    CU_TRY(err, cudaSetDevice(cb->device));
    cudaDeviceProp prop;
    CU_TRY(err, cudaGetDeviceProperties(&prop, cb->device));
    mb_strlcpy(cb->device_name, prop.name, sizeof(cb->device_name));
    cb->sm_count = prop.multiProcessorCount;
    cb->cc_major = prop.major;
    cb->cc_minor = prop.minor;
    if (prop.major < 6)
        return mb_fail(err, MB_E_UNSUPPORTED,
                       "cuda:%d: %s has compute capability %d.%d (6.1 or later is needed for "
                       "dp4a)",
                       cb->device, prop.name, prop.major, prop.minor);
    CU_TRY(err, cudaStreamCreateWithFlags(&cb->stream, cudaStreamNonBlocking));
    CU_TRY(err, cudaStreamCreateWithFlags(&cb->copy_stream, cudaStreamNonBlocking));
    CU_TRY(err, cudaEventCreateWithFlags(&cb->copy_done, cudaEventDisableTiming));
    CU_TRY(err, cudaEventCreateWithFlags(&cb->compute_mark, cudaEventDisableTiming));
    for (int i = 0; i < 2; i++)
        CU_TRY(err, cudaEventCreateWithFlags(&cb->stage_ev[i], cudaEventDisableTiming));
    cb->stage_half = STAGE_HALF;
    CU_TRY(err, cudaMallocHost((void **)&cb->stage, 2 * STAGE_HALF));
    cb->bounce_size = BOUNCE_SIZE;
    CU_TRY(err, cudaMallocHost((void **)&cb->bounce, BOUNCE_SIZE));
    CU_TRY(err, cudaMallocHost((void **)&cb->hflags, sizeof(struct cu_flags)));
    memset(cb->hflags, 0, sizeof(*cb->hflags));
    size_t fr = 0, total = 0;
    CU_TRY(err, cudaMemGetInfo(&fr, &total));
    if (cb->opts.vram_budget) {
        cb->budget = cb->opts.vram_budget;
    } else {
        uint64_t margin = MB_MAX(MB_CUDA_VRAM_MARGIN, (uint64_t)total / 20);
        cb->budget = fr > margin ? fr - margin : 0;
    }
    void *flags;
    int rc = dev_alloc(cb, sizeof(struct cu_flags), &flags, err);
    if (rc)
        return rc;
    cb->dflags = (struct cu_flags *)flags;
    CU_TRY(err, cudaMemsetAsync(cb->dflags, 0, sizeof(struct cu_flags), cb->stream));
    return 0;
}

int mb_backend_cuda_new(const struct mb_cuda_opts *opts, struct mb_backend **out,
                        struct mb_err *err)
{
    *out = NULL;
    int count = 0;
    int rc = mb_cuda_device_count(&count, err);
    if (rc)
        return rc;
    struct mb_cuda_opts def;
    mb_cuda_opts_init(&def);
    if (!opts)
        opts = &def;
    if (opts->device < 0 || opts->device >= count)
        return mb_fail(err, MB_E_USAGE, "cuda: no device %d (%d present)", opts->device, count);
    struct cuda_backend *cb = (struct cuda_backend *)mb_calloc(1, sizeof(*cb));
    if (!cb)
        return mb_fail(err, MB_E_NOMEM, "out of memory creating the cuda backend");
    cb->base.ops = &cuda_ops;
    cb->base.host_memory = false;
    mb_snprintf(cb->base.name, sizeof(cb->base.name), "cuda:%d", opts->device);
    cb->opts = *opts;
    if (cb->opts.gemm_min_rows == 0)
        cb->opts.gemm_min_rows = MB_CUDA_GEMM_MIN_ROWS;
    cb->device = opts->device;
    cb->budget = UINT64_MAX; /* until setup knows it */
    rc = setup(cb, err);
    if (rc) {
        be_destroy(&cb->base);
        return rc;
    }
    *out = &cb->base;
    return 0;
}

int mb_backend_cuda_info(struct mb_backend *be, struct mb_cuda_info *out, struct mb_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!is_cuda_backend(be))
        return mb_fail(err, MB_E_USAGE, "not a cuda backend");
    struct cuda_backend *cb = cu_of(be);
    mb_strlcpy(out->device_name, cb->device_name, sizeof(out->device_name));
    out->device = cb->device;
    out->cc_major = cb->cc_major;
    out->cc_minor = cb->cc_minor;
    out->sm_count = cb->sm_count;
    size_t fr = 0, total = 0;
    CU_TRY(err, cudaMemGetInfo(&fr, &total));
    out->vram_free = fr;
    out->vram_total = total;
    out->budget = cb->budget;
    out->used = cb->used;
    out->peak = cb->peak;
    out->gemm_min_rows = cb->opts.gemm_min_rows;
    out->cublas = cb->blas.loaded;
    mb_strlcpy(out->cublas_note, cb->blas.note, sizeof(out->cublas_note));
    out->graphs = !cb->opts.no_graphs;
    out->graph_launches = cb->graph_launches;
    out->graph_captures = cb->graph_captures;
    return 0;
}

int mb_backend_cuda_load_cublas(struct mb_backend *be, struct mb_err *err)
{
    if (!is_cuda_backend(be))
        return mb_fail(err, MB_E_USAGE, "not a cuda backend");
    return cu_blas_load(cu_of(be), err);
}

void mb_backend_cuda_reset_peak(struct mb_backend *be)
{
    if (is_cuda_backend(be))
        cu_of(be)->peak = cu_of(be)->used;
}

int mb_backend_cuda_upload_staged(struct mb_backend *be, void *dst, const void *src, size_t n,
                                  struct mb_err *err)
{
    if (!is_cuda_backend(be))
        return mb_fail(err, MB_E_USAGE, "not a cuda backend");
    struct cuda_backend *cb = cu_of(be);
    if (cb->recording)
        return mb_fail(err, MB_E_STATE, "cuda: upload while recording a graph");
    cb->fused.valid = false;
    return staged_upload(cb, (uint8_t *)dst, (const uint8_t *)src, n, false, err);
}
