/*
 * matmul.c - the CPU matmul driver: validates the op, quantizes the input
 * once per activation format the outputs need, then hands out chunks of
 * (weight rows x activation rows) to the thread pool dynamically. The type
 * kernels (mm_scalar.c, mm_avx2.c, mm_avx512.c) do the arithmetic.
 *
 * Chunking. Decode (few activation rows) is bound by reading the weights once:
 * chunks are runs of weight rows, about four per thread, claimed through
 * mb_pool_for, so a thread slowed by another process on the machine gets fewer
 * and one that is descheduled holds up at most the chunk it is in. Prefill keeps a chunk's weight
 * rows (<= 16 KiB) in L1 while it streams up to 256 activation rows from L2.
 */
#include "cpu_int.h"

#define COL_BLOCK 256
#define MAX_ACTS  MB_MATMUL_MAX_OUT

struct mm_op {
    unsigned n_out;
    struct mm_job jobs[MB_MATMUL_MAX_OUT];
    mm_fn run[MB_MATMUL_MAX_OUT];
    size_t rows[MB_MATMUL_MAX_OUT];
    size_t chunk_rows[MB_MATMUL_MAX_OUT];
    size_t n_rchunks[MB_MATMUL_MAX_OUT];
    size_t first[MB_MATMUL_MAX_OUT + 1]; /* first chunk index of each output */
    size_t m, n_cchunks;
    /* quantization */
    const float *x;
    size_t x_stride;
    unsigned n_acts;
    struct act acts[MAX_ACTS];
    void (*quant)(enum act_fmt fmt, const float *x, struct act *a, size_t row);
};

static void quant_rows(void *arg, size_t begin, size_t end, unsigned ith)
{
    (void)ith;
    struct mm_op *op = arg;
    for (unsigned i = 0; i < op->n_acts; i++)
        if (op->acts[i].fmt != ACT_F32)
            for (size_t r = begin; r < end; r++)
                op->quant(op->acts[i].fmt, op->x + r * op->x_stride, &op->acts[i], r);
}

/* Chunks [begin, end) of the op (a range of mb_pool_for). */
static void mm_chunks(void *arg, size_t begin, size_t end, unsigned ith)
{
    (void)ith;
    struct mm_op *op = arg;
    for (size_t idx = begin; idx < end; idx++) {
        unsigned o = 0;
        while (idx >= op->first[o + 1])
            o++;
        size_t local = idx - op->first[o];
        size_t rc = local % op->n_rchunks[o], cc = local / op->n_rchunks[o];
        size_t r0 = rc * op->chunk_rows[o], r1 = MB_MIN(r0 + op->chunk_rows[o], op->rows[o]);
        size_t c0 = cc * COL_BLOCK, c1 = MB_MIN(c0 + COL_BLOCK, op->m);
        op->run[o](&op->jobs[o], r0, r1, c0, c1);
    }
}

/* Rows per chunk for one output. */
static size_t chunk_rows_for(size_t rows, size_t row_bytes, size_t m, unsigned nth)
{
    size_t c;
    if (m <= 4) {
        size_t want = (size_t)nth * 4;
        c = (rows + want - 1) / want;
        c = MB_MAX(c, (size_t)16);
    } else {
        c = (16 * 1024) / MB_MAX(row_bytes, (size_t)1);
        c = MB_MAX(c, (size_t)4);
        c = MB_MIN(c, (size_t)64);
    }
    return (c + 3) & ~(size_t)3;
}

int cpu_matmul(struct cpu_backend *cpu, const struct mb_matmul_args *a, struct mb_err *err)
{
    int rc = mb_matmul_check(a, err);
    if (rc < 0)
        return rc;
    struct mm_op op;
    memset(&op, 0, sizeof(op));
    op.n_out = a->n_out;
    op.m = a->m;
    op.x = a->x;
    op.x_stride = a->m > 1 ? a->x_stride : a->k;
    op.quant = cpu->act_quant;
    size_t scratch = 0;

    /* One activation buffer per distinct (format, offset). */
    for (unsigned o = 0; o < a->n_out; o++) {
        const struct mb_matmul_out *out = &a->out[o];
        const struct mm_kernel *kern = &cpu->mm[out->w.type];
        if (!kern->run)
            return mb_fail(err, MB_E_UNSUPPORTED, "matmul: weight type %s has no CPU kernel",
                           mb_dtype_name(out->w.type));
        const struct act *found = NULL;
        for (unsigned i = 0; i < op.n_acts; i++)
            if (op.acts[i].fmt == kern->act && op.acts[i].off == kern->off)
                found = &op.acts[i];
        if (!found) {
            struct act *na = &op.acts[op.n_acts];
            if (!act_layout(na, kern->act, kern->off, a->k))
                return mb_fail(err, MB_E_USAGE, "matmul: input width %zu overflows", a->k);
            if (kern->act == ACT_F32) {
                na->x = a->x;
                na->x_stride = op.x_stride;
                na->m = a->m;
            } else {
                size_t bytes;
                if (!mb_mul_ok(na->row_bytes, a->m, &bytes) || !mb_add_ok(scratch, bytes, &scratch))
                    return mb_fail(err, MB_E_USAGE, "matmul: activations of %zu x %zu overflow",
                                   a->m, a->k);
                na->m = a->m;
            }
            found = na;
            op.n_acts++;
        }
        uint64_t row_bytes;
        mb_dtype_row_size(out->w.type, a->k, &row_bytes);
        op.jobs[o] = (struct mm_job){
            .w = out->w.data,
            .w_row_bytes = (size_t)row_bytes,
            .nb = a->k / mb_dtype_traits(out->w.type)->block_len,
            .a = found,
            .y = out->y,
            .y_stride = a->m > 1 ? out->y_stride : out->w.rows,
            .accumulate = out->accumulate,
        };
        op.run[o] = kern->run;
        op.rows[o] = out->w.rows;
    }

    /* Quantize the input into scratch (F32 formats read x directly). */
    if (scratch) {
        uint8_t *base = cpu_scratch(cpu, scratch, err);
        if (!base)
            return err ? err->code : MB_E_NOMEM;
        size_t off = 0;
        for (unsigned i = 0; i < op.n_acts; i++) {
            if (op.acts[i].fmt == ACT_F32)
                continue;
            op.acts[i].base = base + off;
            off += op.acts[i].row_bytes * a->m;
        }
        /* Decode-sized inputs are quantized faster than a fork/join takes. */
        if (a->m * a->k <= 32 * 1024 || cpu->n_threads == 1)
            quant_rows(&op, 0, a->m, 0);
        else
            mb_pool_for(cpu->pool, a->m, MB_MAX((size_t)1, 8192 / a->k), quant_rows, &op);
    }

    /* Chunks. */
    op.n_cchunks = (a->m + COL_BLOCK - 1) / COL_BLOCK;
    op.first[0] = 0;
    for (unsigned o = 0; o < a->n_out; o++) {
        op.chunk_rows[o] = chunk_rows_for(op.rows[o], op.jobs[o].w_row_bytes, a->m, cpu->n_threads);
        op.n_rchunks[o] = (op.rows[o] + op.chunk_rows[o] - 1) / op.chunk_rows[o];
        op.first[o + 1] = op.first[o] + op.n_rchunks[o] * op.n_cchunks;
    }
    mb_pool_for(cpu->pool, op.first[a->n_out], 1, mm_chunks, &op);
    return 0;
}
