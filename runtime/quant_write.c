/*
 * quant_write.c - executes a quantization plan (mb_quant.h): a GGUF writer
 * gets every tensor of the input, unchanged ones as borrowed views of the input
 * mapping and converted ones as fill callbacks. When the writer asks for the
 * next bytes of a converted tensor, a slab of whole rows is dequantized to
 * float32 (mb_dequant.h), checked for NaN and infinities, and quantized
 * (mb_quantize.h) on the kernels' thread pool, rows spread over the threads;
 * the writer then streams the slab to the temp file. Memory stays at one slab
 * (about 8 MiB) plus two float rows per thread, whatever the model's size.
 *
 * With stats requested, each quantized row is dequantized again and compared
 * with its input: the per-tensor squared error and largest error that `gguf
 * quantize --stats` prints and the tests assert on.
 */
#include "mb_dequant.h"
#include "mb_dtype.h"
#include "mb_quant.h"
#include "mb_quantize.h"
#include "mb_threadpool.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>

#define SLAB_BYTES     ((size_t)8 << 20) /* output bytes quantized per slab */
#define GRAIN_ELEMENTS 16384             /* elements per unit of work handed to a thread */
#define QUANT_VERSION  2u                /* general.quantization_version (ggml's QNT_VERSION) */

struct job;

/* One converted tensor: what its fill callback needs. */
struct tjob {
    struct job *job;
    size_t idx; /* plan index */
    const struct mb_quant_item *it;
    uint64_t row_len, n_rows;
    size_t src_row_bytes, dst_row_bytes;
    const uint8_t *src;
    uint64_t stat_from; /* rows below this were measured already */
};

/* Per-thread error sums (padded apart: threads write them in their loops). */
struct acc {
    double sse, ss, max;
    uint64_t n;
    char pad[32];
};

struct job {
    const struct mb_gguf *g;
    struct mb_pool *pool;
    unsigned nth;
    float *scratch; /* nth x 2 x max_row floats */
    size_t max_row;
    uint8_t *slab;
    size_t slab_cap;
    const struct tjob *slab_owner;
    uint64_t slab_first, slab_rows;
    struct mb_quant_stats *stats;
    struct acc *acc;
    /* the first failing row of a slab, reported after the threads join */
    pthread_mutex_t lock;
    bool failed;
    uint64_t fail_row;
    struct mb_err fail;
};

/* The arguments of one parallel slab. */
struct slab_task {
    struct job *job;
    const struct tjob *tj;
    uint64_t first;
};

static void record_failure(struct job *job, uint64_t row, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void record_failure(struct job *job, uint64_t row, int code, const char *fmt, ...)
{
    pthread_mutex_lock(&job->lock);
    if (!job->failed || row < job->fail_row) {
        va_list ap;
        va_start(ap, fmt);
        mb_failv(&job->fail, code, fmt, ap);
        va_end(ap);
        job->failed = true;
        job->fail_row = row;
    }
    pthread_mutex_unlock(&job->lock);
}

/* Rows [begin, end) of the slab on thread ith. */
static void slab_range(void *arg, size_t begin, size_t end, unsigned ith)
{
    const struct slab_task *st = arg;
    struct job *job = st->job;
    const struct tjob *tj = st->tj;
    float *x = job->scratch + (size_t)ith * 2 * job->max_row;
    float *back = x + job->max_row;
    size_t n = (size_t)tj->row_len;
    struct acc *a = &job->acc[ith];
    for (size_t r = begin; r < end; r++) {
        uint64_t row = st->first + r;
        const uint8_t *src = tj->src + row * tj->src_row_bytes;
        uint8_t *dst = job->slab + r * tj->dst_row_bytes;
        if (!mb_dequantize_row(tj->it->t->type, src, x, n)) {
            record_failure(job, row, MB_E_UNSUPPORTED, "%s: tensor '%s': cannot read type %s",
                           mb_gguf_name(job->g), tj->it->t->name, mb_dtype_name(tj->it->t->type));
            return;
        }
        size_t bad = mb_quantize_find_nonfinite(x, n);
        if (bad < n) {
            record_failure(job, row, MB_E_FORMAT,
                           "%s: tensor '%s' row %" PRIu64 ": element %zu is %s; refusing to "
                           "quantize it",
                           mb_gguf_name(job->g), tj->it->t->name, row, bad,
                           isnan(x[bad]) ? "nan" : "infinite");
            return;
        }
        if (!mb_quantize_row(tj->it->type, x, dst, n)) {
            record_failure(job, row, MB_E_INTERNAL, "%s: tensor '%s': cannot write type %s",
                           mb_gguf_name(job->g), tj->it->t->name, mb_dtype_name(tj->it->type));
            return;
        }
        if (job->stats && row >= tj->stat_from && mb_dequantize_row(tj->it->type, dst, back, n)) {
            for (size_t i = 0; i < n; i++) {
                double e = (double)x[i] - (double)back[i];
                a->sse += e * e;
                a->ss += (double)x[i] * (double)x[i];
                if (fabs(e) > a->max)
                    a->max = fabs(e);
            }
            a->n += n;
        }
    }
}

/* Quantize rows [first, first + rows) of tj into the slab. */
static int fill_slab(struct job *job, const struct tjob *tj, uint64_t first, uint64_t rows,
                     struct mb_err *err)
{
    struct slab_task st = { job, tj, first };
    job->failed = false;
    for (unsigned i = 0; i < job->nth; i++)
        memset(&job->acc[i], 0, sizeof(job->acc[i]));
    size_t grain = (size_t)MB_MAX((uint64_t)1, GRAIN_ELEMENTS / tj->row_len);
    mb_pool_for(job->pool, (size_t)rows, grain, slab_range, &st);
    job->slab_owner = NULL;
    if (job->failed) {
        if (err) {
            err->code = job->fail.code;
            memcpy(err->msg, job->fail.msg, sizeof(err->msg));
        }
        return job->fail.code;
    }
    if (job->stats) {
        struct mb_quant_stats *s = &job->stats[tj->idx];
        for (unsigned i = 0; i < job->nth; i++) {
            s->sse += job->acc[i].sse;
            s->ss += job->acc[i].ss;
            s->max = MB_MAX(s->max, job->acc[i].max);
            s->n += job->acc[i].n;
        }
    }
    job->slab_owner = tj;
    job->slab_first = first;
    job->slab_rows = rows;
    return 0;
}

/* mb_gguf_fill_fn: bytes [offset, offset + n) of a converted tensor. */
static int fill(void *ud, uint64_t offset, void *buf, size_t n, struct mb_err *err)
{
    struct tjob *tj = ud;
    struct job *job = tj->job;
    uint8_t *out = buf;
    while (n) {
        uint64_t row = offset / tj->dst_row_bytes;
        if (job->slab_owner != tj || row < job->slab_first ||
            row >= job->slab_first + job->slab_rows) {
            uint64_t rows = MB_MAX((uint64_t)1, job->slab_cap / tj->dst_row_bytes);
            rows = MB_MIN(rows, tj->n_rows - row);
            int rc = fill_slab(job, tj, row, rows, err);
            if (rc)
                return rc;
            tj->stat_from = row + rows;
        }
        uint64_t slab_off = offset - job->slab_first * tj->dst_row_bytes;
        size_t avail = (size_t)(job->slab_rows * tj->dst_row_bytes - slab_off);
        size_t k = MB_MIN(avail, n);
        memcpy(out, job->slab + slab_off, k);
        out += k;
        offset += k;
        n -= k;
    }
    return 0;
}

static int add_tensors(struct job *job, const struct mb_quant_plan *plan, struct tjob *tjobs,
                       struct mb_gguf_writer *w, struct mb_err *err)
{
    for (size_t i = 0; i < plan->n; i++) {
        const struct mb_quant_item *it = &plan->items[i];
        const struct mb_gguf_tensor *t = it->t;
        if (it->type == t->type) {
            int rc = mb_gguf_writer_copy_tensor(w, t, err);
            if (rc)
                return rc;
            continue;
        }
        struct tjob *tj = &tjobs[i];
        uint64_t src_row, dst_row;
        if (!mb_dtype_row_size(t->type, t->dims[0], &src_row) ||
            !mb_dtype_row_size(it->type, t->dims[0], &dst_row) || dst_row == 0)
            return mb_fail(err, MB_E_FORMAT, "%s: tensor '%s': bad row size", mb_gguf_name(job->g),
                           t->name);
        tj->job = job;
        tj->idx = i;
        tj->it = it;
        tj->row_len = t->dims[0];
        tj->n_rows = t->n_elements / t->dims[0];
        tj->src_row_bytes = (size_t)src_row;
        tj->dst_row_bytes = (size_t)dst_row;
        tj->src = t->data;
        int rc =
            mb_gguf_writer_add_tensor_fn(w, t->name, it->type, t->n_dims, t->dims, fill, tj, err);
        if (rc)
            return rc;
    }
    return 0;
}

static int set_kvs(const struct mb_gguf *g, const struct mb_quant_plan *plan,
                   const struct mb_quant_policy *p, const struct mb_quant_write_opts *o,
                   struct mb_gguf_writer *w, struct mb_err *err)
{
    int rc = mb_gguf_writer_copy_kvs(w, g, NULL, err);
    if (!rc && plan->n_convert) {
        rc = mb_gguf_writer_set_u32(w, "general.file_type", mb_quant_file_type(p), err);
        rc =
            rc ? rc : mb_gguf_writer_set_u32(w, "general.quantization_version", QUANT_VERSION, err);
    }
    for (size_t i = 0; !rc && o && o->set_str && o->set_str[i]; i += 2) {
        if (!o->set_str[i + 1])
            return mb_fail(err, MB_E_USAGE, "key '%s' has no value", o->set_str[i]);
        rc = mb_gguf_writer_set_string(w, o->set_str[i], o->set_str[i + 1], err);
    }
    return rc;
}

/* The pool, scratch rows and slab for a plan. */
static int job_init(struct job *job, const struct mb_gguf *g, const struct mb_quant_plan *plan,
                    const struct mb_quant_write_opts *o, struct mb_err *err)
{
    memset(job, 0, sizeof(*job));
    job->g = g;
    pthread_mutex_init(&job->lock, NULL);
    job->stats = o ? o->stats : NULL;
    size_t max_row_bytes = 0;
    for (size_t i = 0; i < plan->n; i++) {
        const struct mb_quant_item *it = &plan->items[i];
        if (it->type == it->t->type)
            continue;
        uint64_t dst_row = 0;
        mb_dtype_row_size(it->type, it->t->dims[0], &dst_row);
        if (it->t->dims[0] > SIZE_MAX / 4 || dst_row > SIZE_MAX / 4)
            return mb_fail(err, MB_E_LIMIT, "%s: tensor '%s' has rows too long to quantize",
                           mb_gguf_name(g), it->t->name);
        job->max_row = MB_MAX(job->max_row, (size_t)it->t->dims[0]);
        max_row_bytes = MB_MAX(max_row_bytes, (size_t)dst_row);
    }
    if (job->stats)
        memset(job->stats, 0, plan->n * sizeof(*job->stats));
    if (job->max_row == 0)
        return 0; /* nothing to convert: no pool needed */
    int rc = mb_pool_new(o ? o->n_threads : 0, &job->pool, err);
    if (rc)
        return rc;
    job->nth = mb_pool_size(job->pool);
    size_t floats;
    if (!mb_mul_ok((size_t)job->nth * 2, job->max_row, &floats))
        return mb_fail(err, MB_E_LIMIT, "quantization scratch too large");
    job->scratch = mb_malloc(floats * sizeof(float));
    job->slab_cap = MB_MAX(SLAB_BYTES, max_row_bytes);
    job->slab = mb_malloc(job->slab_cap);
    job->acc = mb_calloc(job->nth, sizeof(*job->acc));
    if (!job->scratch || !job->slab || !job->acc)
        return mb_fail(err, MB_E_NOMEM, "out of memory for quantization buffers");
    return 0;
}

static void job_release(struct job *job)
{
    mb_pool_free(job->pool);
    mb_free(job->scratch);
    mb_free(job->slab);
    mb_free(job->acc);
    pthread_mutex_destroy(&job->lock);
}

int mb_quant_write_file(const struct mb_gguf *g, const struct mb_quant_plan *plan,
                        const struct mb_quant_policy *p, const struct mb_quant_write_opts *opts,
                        const char *out_path, struct mb_err *err)
{
    if (plan->n_requant && !p->allow_requantize) {
        for (size_t i = 0; i < plan->n; i++)
            if (plan->items[i].requant)
                return mb_fail(err, MB_E_STATE,
                               "%s: tensor '%s' is already %s; re-quantizing it to %s rounds "
                               "twice (allow re-quantization to do it anyway)",
                               mb_gguf_name(g), plan->items[i].t->name,
                               mb_dtype_name(plan->items[i].t->type),
                               mb_dtype_name(plan->items[i].type));
    }
    struct job job;
    struct mb_gguf_writer *w = NULL;
    struct tjob *tjobs = mb_calloc(plan->n ? plan->n : 1, sizeof(*tjobs));
    if (!tjobs)
        return mb_fail(err, MB_E_NOMEM, "out of memory for the quantization plan");
    int rc = job_init(&job, g, plan, opts, err);
    rc = rc ? rc : mb_gguf_writer_new(&w, err);
    rc = rc ? rc : set_kvs(g, plan, p, opts, w, err);
    rc = rc ? rc : add_tensors(&job, plan, tjobs, w, err);
    rc = rc ? rc : mb_gguf_writer_write(w, out_path, opts ? opts->progress : NULL, err);
    mb_gguf_writer_free(w);
    job_release(&job);
    mb_free(tjobs);
    return rc;
}
