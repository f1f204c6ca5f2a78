/*
 * test_ops.c - every op x every type x several shapes on every backend
 * present, against the reference oracle of kernels/ref/ (ggml's
 * test-backend-ops). Inputs are fresh random data each run (the seed is
 * printed; MB_TEST_SEED=N replays one); outputs are poisoned with NaN before
 * each op, so a kernel that skips an element fails; padding between rows is
 * checked to be untouched. Backends: the CPU at every SIMD level this machine
 * runs, with 1 and 3 threads (3 > cores here, and row counts are chosen not to
 * divide by it), and, when a CUDA device is present, the CUDA backend three
 * ways: default (cuBLAS from 64 rows), cuBLAS from 2 rows, and without cuBLAS
 * (int8 kernels for every batch). Without a device the CUDA cases are
 * reported as skipped (test_cuda_present). MB_TEST_BACKENDS=cpu|cuda limits
 * the run to one kind (compute-sanitizer runs use cuda). All data moves
 * through the backend's alloc/upload/download; a device backend reports bad
 * ids and positions at the next sync instead of from the op.
 *
 * Error bounds (also in docs/kernels.md):
 *  - matmul, quantized weights: the kernels quantize the input to 8-bit blocks
 *    exactly as ggml does. mb_ref_quantize_act gives those values xq, and the
 *    kernel must equal the double-precision product W*xq up to float
 *    accumulation: |y - W xq| <= 2e-5 * sum|W||xq| (+ |m_b| * s_err_b for
 *    Q4_1/Q5_1, whose "+m" term uses ggml's f16-rounded block sum). This tight
 *    check catches any wrong bit of a layout. Against the exact product W*x
 *    the bound adds the activation quantization error sum |W||x - xq|,
 *    where |x - xq| <= 0.563 d_b per element (half a step plus the f16
 *    rounding of d_b, 127 * 2^-11 of a step).
 *  - matmul, F32/F16/BF16 weights: f32 accumulation, 2e-5 * sum|W||x|.
 *  - matmul through cuBLAS (CUDA, m >= its GEMM threshold, F16 and quantized
 *    weights): the weight dequantized to f16 and x converted to f16, f32
 *    accumulation, no 8-bit activations: |y - W x| <= 1.2e-3 * sum|W||x|
 *    (two f16 roundings of 2^-11 and the sum).
 *  - topk: exact (values and ids, ties by lower id, NaN as -inf).
 *  - get_rows: exact (bit-identical to mb_dequantize_row).
 *  - rmsnorm, silu_mul, add, scale, axpy: a few float ulps of the result's
 *    scale (1e-6 relative; exp within 2 ulp).
 *  - softmax: exp's argument scale*x - max is rounded in f32, so each
 *    probability carries a relative error up to 2 eps * max|scale*x|, and the
 *    normaliser the same: p * (2.4e-7 * max|scale*x| + 2e-6).
 *  - rope: the kernel steps theta like ggml (theta *= base^(-2/n_rot) in
 *    float), so the angle drifts by ~1e-7 * pos radians; bound
 *    (|x0| + |x1|) * (2e-6 + 2e-7 * pos).
 *  - kv_store: exact (f16 round-to-nearest-even, as mb_f32_to_f16).
 *  - attention: f32 score dots (error <= head_dim * eps * scale * sum|q||k|
 *    = ds) and f32 probabilities: max|V| * (2 ds + 1e-6) per row and head;
 *    with round_f16 plus max|V| * 2^-10 (a probability next to an f16
 *    rounding boundary may round either way).
 */
#include "mb_test.h"
#include "mb_kernels.h"

#include <math.h>

/* ------------------------------------------------------------ randomness */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Uniform in [-1, 1). */
static float frand(void)
{
    return (float)((double)(rnd() >> 11) / 4503599627370496.0 - 1.0);
}

/* Roughly normal, with an occasional outlier (as real activations have). */
static float grand(void)
{
    float v = (frand() + frand() + frand() + frand()) * 0.8f;
    if (rnd() % 64 == 0)
        v *= 12.0f;
    return v;
}

/* ------------------------------------------------------------ backends */

struct tb {
    struct mb_backend *be;
    char desc[48];
    bool cuda;
    size_t gemm_rows; /* CUDA: rows from which cuBLAS may run (SIZE_MAX: never) */
};

static bool have_cuda;
static char cuda_note[MB_ERR_MSG_MAX];

static struct tb backends[8];
static size_t n_backends;

static int backends_init(void **state)
{
    (void)state;
    const char *env = getenv("MB_TEST_SEED");
    uint64_t seed;
    if (!env || !mb_parse_u64(env, &seed) || seed == 0)
        seed = mb_now_ns() | 1;
    rng_state = seed;
    print_message("test_ops: seed %llu (MB_TEST_SEED to replay)\n", (unsigned long long)seed);
    const char *which = getenv("MB_TEST_BACKENDS");
    const bool want_cpu = !which || strcmp(which, "cuda") != 0;
    const bool want_cuda = !which || strcmp(which, "cpu") != 0;
    static const unsigned threads[] = { 1, 3 };
    for (int isa = 0; want_cpu && isa < MB_CPU_ISA_COUNT; isa++) {
        if (!mb_cpu_isa_supported((enum mb_cpu_isa)isa))
            continue;
        for (size_t t = 0; t < MB_ARRAY_LEN(threads); t++) {
            struct mb_cpu_opts o = { .n_threads = threads[t],
                                     .force_isa = true,
                                     .isa = (enum mb_cpu_isa)isa };
            struct mb_err err;
            struct tb *b = &backends[n_backends];
            if (mb_backend_cpu_new(&o, &b->be, &err) < 0)
                fail_msg("cpu backend: %s", err.msg);
            snprintf(b->desc, sizeof(b->desc), "%s x%u", b->be->name, threads[t]);
            n_backends++;
        }
    }
    /* CUDA: default, cuBLAS from 2 rows, int8 kernels only. */
    struct mb_err cerr;
    int count = 0;
    if (!want_cuda) {
        mb_snprintf(cuda_note, sizeof(cuda_note), "MB_TEST_BACKENDS=%s", which);
    } else if (mb_cuda_device_count(&count, &cerr) != 0) {
        mb_snprintf(cuda_note, sizeof(cuda_note), "no CUDA device (%s)", cerr.msg);
    } else {
        static const size_t rows[] = { 0, 2, SIZE_MAX };
        for (size_t i = 0; i < MB_ARRAY_LEN(rows); i++) {
            struct mb_cuda_opts co;
            mb_cuda_opts_init(&co);
            co.gemm_min_rows = rows[i];
            co.no_cublas = rows[i] == SIZE_MAX;
            struct tb *b = &backends[n_backends];
            if (mb_backend_cuda_new(&co, &b->be, &cerr) < 0)
                fail_msg("cuda backend: %s", cerr.msg);
            b->cuda = true;
            b->gemm_rows = rows[i] ? rows[i] : MB_CUDA_GEMM_MIN_ROWS;
            struct mb_err berr;
            if (!co.no_cublas && mb_backend_cuda_load_cublas(b->be, &berr) != 0)
                print_message("test_ops: %s: %s\n", b->be->name, berr.msg);
            snprintf(b->desc, sizeof(b->desc), "%s %s", b->be->name,
                     co.no_cublas ? "int8 only"
                     : rows[i]    ? "gemm>=2"
                                  : "default");
            n_backends++;
        }
        have_cuda = true;
    }
    if (!have_cuda)
        print_message("test_ops: skipped: %s\n", cuda_note);
    print_message("test_ops: %zu backends\n", n_backends);
    return 0;
}

static int backends_free(void **state)
{
    (void)state;
    for (size_t i = 0; i < n_backends; i++)
        mb_backend_free(backends[i].be);
    n_backends = 0;
    return 0;
}

/* Device buffers through the backend interface. */
static void *dev_new(struct mb_backend *be, size_t bytes)
{
    struct mb_err err;
    void *p;
    MB_ASSERT_OK(mb_backend_alloc(be, bytes, &p, &err), &err);
    return p;
}

static void *dev_from(struct mb_backend *be, const void *host, size_t bytes)
{
    struct mb_err err;
    void *p = dev_new(be, bytes);
    MB_ASSERT_OK(mb_backend_upload(be, p, host, bytes, &err), &err);
    return p;
}

static void dev_to_host(struct mb_backend *be, void *host, const void *dev, size_t bytes)
{
    struct mb_err err;
    MB_ASSERT_OK(mb_backend_download(be, host, dev, bytes, &err), &err);
    MB_ASSERT_OK(mb_backend_sync(be, &err), &err);
}

/* Device pointers kept in const descriptor fields: drop the const without a cast. */
static void *unconst(const void *p)
{
    void *q;
    memcpy(&q, &p, sizeof(q));
    return q;
}

static void dev_free(struct mb_backend *be, const void *p)
{
    mb_backend_buf_free(be, unconst(p));
}

/*
 * The result of an op whose data may be bad: the CPU reports it from the op,
 * a device backend from the next sync.
 */
static int op_then_sync(struct mb_backend *be, int rc, struct mb_err *err)
{
    return rc ? rc : mb_backend_sync(be, err);
}

static float *nan_filled(size_t n)
{
    float *p = mb_malloc(n * sizeof(float));
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = NAN;
    return p;
}

static float *rand_floats(size_t n)
{
    float *p = mb_malloc(n * sizeof(float));
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = grand();
    return p;
}

/* Worst observed error / bound per op family, for the log. */
static double worst_ratio[MB_OP_COUNT];

static void check_close(enum mb_op op, const char *what, float got, double want, double tol)
{
    double diff = fabs((double)got - want);
    if (!(diff <= tol)) /* NaN fails too */
        fail_msg("%s: got %.9g want %.9g (|diff| %.3g > bound %.3g)", what, (double)got, want, diff,
                 tol);
    if (tol > 0 && diff / tol > worst_ratio[op])
        worst_ratio[op] = diff / tol;
}

/* ------------------------------------------------------------ weights */

/* Offsets of a block's f16 scale fields (d, m/dmin), -1 when absent. */
static void scale_fields(uint32_t type, int *f0, int *f1)
{
    *f0 = 0;
    *f1 = -1;
    switch (type) {
    case MB_DTYPE_Q4_1:
    case MB_DTYPE_Q5_1:
    case MB_DTYPE_Q4_K:
    case MB_DTYPE_Q5_K:
        *f1 = 2;
        break;
    case MB_DTYPE_Q6_K:
        *f0 = 208;
        break;
    default:
        break;
    }
}

static void put_f16(uint8_t *p, float v)
{
    mb_f16 h = mb_f32_to_f16(v);
    memcpy(p, &h, 2);
}

/* Random weights of `type`: random codes, sane random scales (some zero). */
static uint8_t *rand_weights(uint32_t type, size_t rows, size_t cols, size_t *row_bytes)
{
    uint64_t rb;
    assert_true(mb_dtype_row_size(type, cols, &rb));
    *row_bytes = (size_t)rb;
    uint8_t *w = mb_malloc(rows * (size_t)rb);
    assert_non_null(w);
    const struct mb_dtype_traits *t = mb_dtype_traits(type);
    if (type == MB_DTYPE_F32 || type == MB_DTYPE_F16 || type == MB_DTYPE_BF16) {
        for (size_t i = 0; i < rows * cols; i++) {
            float v = grand() * 0.1f;
            if (type == MB_DTYPE_F32) {
                memcpy(w + 4 * i, &v, 4);
            } else {
                uint16_t h = type == MB_DTYPE_F16 ? mb_f32_to_f16(v) : mb_f32_to_bf16(v);
                memcpy(w + 2 * i, &h, 2);
            }
        }
        return w;
    }
    for (size_t i = 0; i < rows * (size_t)rb; i++)
        w[i] = (uint8_t)rnd();
    int f0, f1;
    scale_fields(type, &f0, &f1);
    size_t nblk = rows * cols / t->block_len;
    for (size_t b = 0; b < nblk; b++) {
        uint8_t *blk = w + b * t->block_size;
        bool zero = rnd() % 50 == 0;
        put_f16(blk + f0, zero ? 0.0f : frand() * 0.02f);
        if (f1 >= 0)
            put_f16(blk + f1, frand() * 0.05f);
    }
    return w;
}

/* The "+m" of block b of a Q4_1/Q5_1 row (0 for other types). */
static double block_m(uint32_t type, const uint8_t *row, size_t b)
{
    if (type != MB_DTYPE_Q4_1 && type != MB_DTYPE_Q5_1)
        return 0.0;
    const uint8_t *blk = row + b * mb_dtype_traits(type)->block_size;
    mb_f16 h;
    memcpy(&h, blk + 2, 2);
    return mb_f16_to_f32(h);
}

/* ------------------------------------------------------------ matmul */

struct mm_case {
    uint32_t types[MB_MATMUL_MAX_OUT];
    unsigned n_out;
    size_t m, k;
    size_t rows[MB_MATMUL_MAX_OUT];
    bool accumulate;
    size_t pad; /* extra elements per row of x and y */
};

static void run_matmul(struct tb *t, const struct mm_case *c)
{
    struct mb_backend *be = t->be;
    struct mb_err err;
    const size_t xs = c->k + c->pad;
    float *x = rand_floats(c->m * xs);
    struct mb_matmul_args args = { .m = c->m, .k = c->k, .x_stride = xs, .n_out = c->n_out };
    args.x = dev_from(be, x, c->m * xs * sizeof(float));

    uint8_t *w[MB_MATMUL_MAX_OUT];
    size_t row_bytes[MB_MATMUL_MAX_OUT];
    float *y0[MB_MATMUL_MAX_OUT];
    for (unsigned o = 0; o < c->n_out; o++) {
        w[o] = rand_weights(c->types[o], c->rows[o], c->k, &row_bytes[o]);
        size_t ys = c->rows[o] + c->pad;
        /* Initial y: random when accumulating, else NaN; padding always NaN. */
        y0[o] = nan_filled(c->m * ys);
        if (c->accumulate)
            for (size_t i = 0; i < c->m; i++)
                for (size_t r = 0; r < c->rows[o]; r++)
                    y0[o][i * ys + r] = grand();
        struct mb_matmul_out *out = &args.out[o];
        out->w = (struct mb_weight){ dev_from(be, w[o], c->rows[o] * row_bytes[o]), c->types[o],
                                     c->rows[o], c->k };
        out->y = dev_from(be, y0[o], c->m * ys * sizeof(float));
        out->y_stride = ys;
        out->accumulate = c->accumulate;
    }
    MB_ASSERT_OK(mb_backend_matmul(be, &args, &err), &err);
    bool cublas = false;
    if (t->cuda) {
        struct mb_cuda_info ci;
        MB_ASSERT_OK(mb_backend_cuda_info(be, &ci, &err), &err);
        cublas = ci.cublas;
    }

    float *xq = mb_malloc(c->k * sizeof(float));
    float *serr = mb_malloc((c->k / 32 + 1) * sizeof(float));
    float *wrow = mb_malloc(c->k * sizeof(float));
    assert_true(xq && serr && wrow);
    for (unsigned o = 0; o < c->n_out; o++) {
        const uint32_t type = c->types[o];
        const size_t ys = c->rows[o] + c->pad;
        float *y = mb_malloc(c->m * ys * sizeof(float));
        assert_non_null(y);
        dev_to_host(be, y, args.out[o].y, c->m * ys * sizeof(float));
        const bool has_serr = mb_matmul_act_type(type) == MB_DTYPE_Q8_1;
        /* through cuBLAS: f16 weights and activations, no 8-bit rounding of x */
        const bool gemm =
            cublas && c->m >= t->gemm_rows && type != MB_DTYPE_F32 && type != MB_DTYPE_BF16;
        for (size_t i = 0; i < c->m; i++) {
            const float *xi = x + i * xs;
            MB_ASSERT_OK(mb_ref_quantize_act(type, xi, c->k, xq, serr, &err), &err);
            for (size_t r = 0; r < c->rows[o]; r++) {
                const uint8_t *wr = w[o] + r * row_bytes[o];
                assert_true(mb_dequantize_row(type, wr, wrow, c->k));
                double exact = 0, quant = 0, mag = 0, qerr = 0, sterm = 0, magx = 0;
                for (size_t j = 0; j < c->k; j++) {
                    exact += (double)wrow[j] * xi[j];
                    magx += fabs((double)wrow[j] * xi[j]);
                    quant += (double)wrow[j] * xq[j];
                    mag += fabs((double)wrow[j] * xq[j]);
                    qerr += fabs((double)wrow[j]) * fabs((double)xi[j] - xq[j]);
                }
                if (has_serr)
                    for (size_t b = 0; b < c->k / 32; b++)
                        sterm += fabs(block_m(type, wr, b)) * serr[b];
                double base = c->accumulate ? (double)y0[o][i * ys + r] : 0.0;
                double tight = 2e-5 * mag + 1.0001 * sterm + 1e-30;
                char what[160];
                snprintf(what, sizeof(what), "%s: matmul %s m=%zu k=%zu rows=%zu out %u [%zu][%zu]",
                         t->desc, mb_dtype_name(type), c->m, c->k, c->rows[o], o, i, r);
                float got = y[i * ys + r];
                if (gemm) {
                    check_close(MB_OP_MATMUL, what, got, base + exact,
                                1.2e-3 * magx + 1e-6 * fabs(base) + 1e-30);
                    continue;
                }
                check_close(MB_OP_MATMUL, what, got, base + quant, tight + 1e-6 * fabs(base));
                /* The documented bound against the exact product. */
                assert_true(fabs((double)got - (base + exact)) <=
                            tight + qerr + 1e-6 * fabs(base) + 1e-30);
            }
            for (size_t r = c->rows[o]; r < ys; r++)
                if (!isnan(y[i * ys + r]))
                    fail_msg("%s: matmul %s wrote padding at [%zu][%zu]", t->desc,
                             mb_dtype_name(type), i, r);
        }
        mb_free(y);
    }
    /* The reference oracle agrees with itself on this case (and runs). */
    for (unsigned o = 0; o < c->n_out; o++) {
        dev_free(be, args.out[o].w.data);
        mb_backend_buf_free(be, args.out[o].y);
        mb_free(w[o]);
        mb_free(y0[o]);
    }
    dev_free(be, args.x);
    mb_free(x);
    mb_free(xq);
    mb_free(serr);
    mb_free(wrow);
}

static const uint32_t all_types[] = {
    MB_DTYPE_F32,  MB_DTYPE_F16,  MB_DTYPE_BF16, MB_DTYPE_Q4_0, MB_DTYPE_Q4_1, MB_DTYPE_Q5_0,
    MB_DTYPE_Q5_1, MB_DTYPE_Q8_0, MB_DTYPE_Q4_K, MB_DTYPE_Q5_K, MB_DTYPE_Q6_K,
};

static void test_matmul(void **state)
{
    (void)state;
    /* (m, k, rows): decode and prefill shapes, odd row counts, SmolLM2's widths. */
    static const size_t shapes[][3] = {
        { 1, 256, 1 },  { 1, 512, 67 },  { 1, 1536, 37 }, { 2, 256, 13 },
        { 3, 768, 30 }, { 5, 256, 129 }, { 17, 512, 41 }, { 64, 256, 9 },
    };
    for (size_t ti = 0; ti < MB_ARRAY_LEN(all_types); ti++)
        for (size_t s = 0; s < MB_ARRAY_LEN(shapes); s++)
            for (size_t b = 0; b < n_backends; b++) {
                struct mm_case c = { .types = { all_types[ti] },
                                     .n_out = 1,
                                     .m = shapes[s][0],
                                     .k = shapes[s][1],
                                     .rows = { shapes[s][2] },
                                     .accumulate = s % 3 == 1,
                                     .pad = s % 2 ? 3 : 0 };
                run_matmul(&backends[b], &c);
            }
}

/* Shapes only 32-element blocks and plain types allow (k not a multiple of 256). */
static void test_matmul_small_blocks(void **state)
{
    (void)state;
    static const size_t shapes[][3] = { { 1, 32, 5 }, { 1, 576, 31 }, { 4, 96, 11 }, { 9, 64, 7 } };
    for (size_t ti = 0; ti < MB_ARRAY_LEN(all_types); ti++) {
        if (mb_dtype_traits(all_types[ti])->block_len > 32)
            continue;
        for (size_t s = 0; s < MB_ARRAY_LEN(shapes); s++)
            for (size_t b = 0; b < n_backends; b++) {
                struct mm_case c = { .types = { all_types[ti] },
                                     .n_out = 1,
                                     .m = shapes[s][0],
                                     .k = shapes[s][1],
                                     .rows = { shapes[s][2] },
                                     .pad = 1 };
                run_matmul(&backends[b], &c);
            }
    }
    /* Plain types with widths that are not a multiple of any vector. */
    static const uint32_t plain[] = { MB_DTYPE_F32, MB_DTYPE_F16, MB_DTYPE_BF16 };
    for (size_t ti = 0; ti < MB_ARRAY_LEN(plain); ti++)
        for (size_t b = 0; b < n_backends; b++)
            for (size_t k = 1; k < 40; k += 7) {
                struct mm_case c = {
                    .types = { plain[ti] }, .n_out = 1, .m = 3, .k = k, .rows = { 5 }
                };
                run_matmul(&backends[b], &c);
            }
}

/* Several outputs sharing one input, of different types (Q/K/V, gate/up). */
static void test_matmul_multi(void **state)
{
    (void)state;
    static const uint32_t combos[][3] = {
        { MB_DTYPE_Q4_1, MB_DTYPE_Q4_1, MB_DTYPE_Q4_1 },
        { MB_DTYPE_Q4_0, MB_DTYPE_Q8_0, MB_DTYPE_Q5_0 },
        { MB_DTYPE_Q4_K, MB_DTYPE_Q6_K, MB_DTYPE_Q4_1 },
        { MB_DTYPE_F16, MB_DTYPE_Q5_1, MB_DTYPE_Q5_K },
    };
    for (size_t ci = 0; ci < MB_ARRAY_LEN(combos); ci++)
        for (size_t b = 0; b < n_backends; b++)
            for (size_t m = 1; m <= 7; m += 6) {
                struct mm_case c = { .types = { combos[ci][0], combos[ci][1], combos[ci][2] },
                                     .n_out = 3,
                                     .m = m,
                                     .k = 512,
                                     .rows = { 64, 21, 21 },
                                     .accumulate = ci % 2 == 1,
                                     .pad = 2 };
                run_matmul(&backends[b], &c);
            }
}

/* ------------------------------------------------------------ get_rows */

static void test_get_rows(void **state)
{
    (void)state;
    struct mb_err err;
    for (size_t ti = 0; ti < MB_ARRAY_LEN(all_types); ti++)
        for (size_t b = 0; b < n_backends; b++) {
            struct mb_backend *be = backends[b].be;
            const uint32_t type = all_types[ti];
            const size_t rows = 23, cols = 512, n = 9, ys = cols + 5;
            size_t rb;
            uint8_t *w = rand_weights(type, rows, cols, &rb);
            int32_t ids[9];
            for (size_t i = 0; i < n; i++)
                ids[i] = (int32_t)(rnd() % rows);
            ids[0] = 0;
            ids[1] = (int32_t)rows - 1;
            float *poison = nan_filled(n * ys);
            struct mb_get_rows_args a = {
                .w = { dev_from(be, w, rows * rb), type, rows, cols },
                .ids = dev_from(be, ids, sizeof(ids)),
                .n = n,
                .y = dev_from(be, poison, n * ys * sizeof(float)),
                .y_stride = ys,
            };
            MB_ASSERT_OK(mb_backend_get_rows(be, &a, &err), &err);
            float *y = nan_filled(n * ys), *want = nan_filled(cols);
            dev_to_host(be, y, a.y, n * ys * sizeof(float));
            for (size_t i = 0; i < n; i++) {
                assert_true(mb_dequantize_row(type, w + (size_t)ids[i] * rb, want, cols));
                if (memcmp(y + i * ys, want, cols * sizeof(float)) != 0)
                    fail_msg("%s: get_rows %s row %zu differs from mb_dequantize_row",
                             backends[b].desc, mb_dtype_name(type), i);
                for (size_t j = cols; j < ys; j++)
                    assert_true(isnan(y[i * ys + j]));
            }
            /* An id out of range is an error, not a read past the matrix. */
            ids[3] = (int32_t)rows;
            MB_ASSERT_OK(mb_backend_upload(be, unconst(a.ids), ids, sizeof(ids), &err), &err);
            assert_int_equal(op_then_sync(be, mb_backend_get_rows(be, &a, &err), &err),
                             MB_E_FORMAT);
            ids[3] = -1;
            MB_ASSERT_OK(mb_backend_upload(be, unconst(a.ids), ids, sizeof(ids), &err), &err);
            assert_int_equal(op_then_sync(be, mb_backend_get_rows(be, &a, &err), &err),
                             MB_E_FORMAT);
            MB_ASSERT_OK(mb_backend_sync(be, &err), &err); /* reported once */
            dev_free(be, a.w.data);
            dev_free(be, a.ids);
            mb_backend_buf_free(be, a.y);
            mb_free(w);
            mb_free(poison);
            mb_free(y);
            mb_free(want);
        }
}

/* ------------------------------------------------------------ rmsnorm */

static void test_rmsnorm(void **state)
{
    (void)state;
    struct mb_err err;
    static const size_t shapes[][2] = { { 1, 576 }, { 3, 7 }, { 5, 64 }, { 130, 576 } };
    for (size_t s = 0; s < MB_ARRAY_LEN(shapes); s++)
        for (size_t b = 0; b < n_backends; b++)
            for (int with_w = 0; with_w < 2; with_w++) {
                struct mb_backend *be = backends[b].be;
                const size_t m = shapes[s][0], n = shapes[s][1], xs = n + 2, ys = n + 1;
                float *x = rand_floats(m * xs), *w = rand_floats(n), *poison = nan_filled(m * ys);
                float *want = nan_filled(m * ys), *got = nan_filled(m * ys);
                struct mb_rmsnorm_args a = { .x = dev_from(be, x, m * xs * 4),
                                             .y = dev_from(be, poison, m * ys * 4),
                                             .w = with_w ? dev_from(be, w, n * 4) : NULL,
                                             .m = m,
                                             .n = n,
                                             .x_stride = xs,
                                             .y_stride = ys,
                                             .eps = 1e-5f };
                MB_ASSERT_OK(mb_backend_rmsnorm(be, &a, &err), &err);
                dev_to_host(be, got, a.y, m * ys * 4);
                struct mb_rmsnorm_args r = a;
                r.x = x;
                r.y = want;
                r.w = with_w ? w : NULL;
                MB_ASSERT_OK(mb_ref_rmsnorm(&r, &err), &err);
                for (size_t i = 0; i < m * ys; i++) {
                    if (i % ys >= n) {
                        assert_true(isnan(got[i]));
                        continue;
                    }
                    check_close(MB_OP_RMSNORM, backends[b].desc, got[i], want[i],
                                1e-6 * fabs((double)want[i]) + 1e-7);
                }
                /* In place. */
                struct mb_rmsnorm_args ip = a;
                ip.y = unconst(a.x);
                ip.y_stride = xs;
                MB_ASSERT_OK(mb_backend_rmsnorm(be, &ip, &err), &err);
                float *inplace = nan_filled(m * xs);
                dev_to_host(be, inplace, a.x, m * xs * 4);
                for (size_t i = 0; i < m; i++)
                    for (size_t j = 0; j < n; j++)
                        check_close(MB_OP_RMSNORM, "in place", inplace[i * xs + j],
                                    want[i * ys + j], 1e-6 * fabs((double)want[i * ys + j]) + 1e-7);
                dev_free(be, a.x);
                mb_backend_buf_free(be, a.y);
                dev_free(be, a.w);
                mb_free(x);
                mb_free(w);
                mb_free(poison);
                mb_free(want);
                mb_free(got);
                mb_free(inplace);
            }
}

/* ------------------------------------------------------------ rope */

static void test_rope(void **state)
{
    (void)state;
    struct mb_err err;
    struct shape {
        size_t m, n_head, head_dim, n_rot;
    };
    static const struct shape shapes[] = {
        { 1, 9, 64, 64 }, { 3, 3, 64, 64 }, { 7, 2, 128, 96 }, { 40, 4, 32, 32 }, { 2, 1, 10, 4 }
    };
    static const enum mb_rope_mode modes[] = { MB_ROPE_NORMAL, MB_ROPE_NEOX };
    for (size_t s = 0; s < MB_ARRAY_LEN(shapes); s++)
        for (size_t md = 0; md < 2; md++)
            for (size_t b = 0; b < n_backends; b++) {
                struct mb_backend *be = backends[b].be;
                const struct shape *sh = &shapes[s];
                const size_t width = sh->n_head * sh->head_dim, xs = width + 3;
                float *x = rand_floats(sh->m * xs);
                int32_t *pos = mb_malloc(sh->m * sizeof(int32_t));
                assert_non_null(pos);
                static const int32_t some[] = { 0, 1, 2, 17, 100, 511, 1000, 4095 };
                for (size_t i = 0; i < sh->m; i++)
                    pos[i] = some[(i + s) % MB_ARRAY_LEN(some)];
                struct mb_rope_args a = { .x = dev_from(be, x, sh->m * xs * 4),
                                          .pos = dev_from(be, pos, sh->m * 4),
                                          .m = sh->m,
                                          .x_stride = xs,
                                          .n_head = sh->n_head,
                                          .head_dim = sh->head_dim,
                                          .n_rot = sh->n_rot,
                                          .mode = modes[md],
                                          .freq_base = s % 2 ? 10000.0f : 100000.0f,
                                          .freq_scale = s == 2 ? 0.25f : 1.0f };
                MB_ASSERT_OK(mb_backend_rope(be, &a, &err), &err);
                float *got = nan_filled(sh->m * xs), *want = mb_malloc(sh->m * xs * 4);
                assert_non_null(want);
                dev_to_host(be, got, a.x, sh->m * xs * 4);
                memcpy(want, x, sh->m * xs * 4);
                struct mb_rope_args r = a;
                r.x = want;
                r.pos = pos;
                MB_ASSERT_OK(mb_ref_rope(&r, &err), &err);
                for (size_t i = 0; i < sh->m; i++)
                    for (size_t h = 0; h < sh->n_head; h++)
                        for (size_t d = 0; d < sh->head_dim; d++) {
                            size_t at = i * xs + h * sh->head_dim + d;
                            size_t half = sh->n_rot / 2, pair;
                            if (d >= sh->n_rot)
                                pair = d;
                            else if (modes[md] == MB_ROPE_NEOX)
                                pair = d < half ? d + half : d - half;
                            else
                                pair = d ^ 1;
                            double mag = fabs((double)x[at]) + fabs((double)x[at - d + pair]);
                            check_close(MB_OP_ROPE, backends[b].desc, got[at], want[at],
                                        mag * (2e-6 + 2e-7 * (double)pos[i]));
                        }
                /* Padding untouched. */
                for (size_t i = 0; i < sh->m; i++)
                    for (size_t j = width; j < xs; j++)
                        assert_true(got[i * xs + j] == x[i * xs + j]);
                mb_backend_buf_free(be, a.x);
                dev_free(be, a.pos);
                mb_free(x);
                mb_free(pos);
                mb_free(got);
                mb_free(want);
            }
}

/* ------------------------------------------------------------ softmax */

static void test_softmax(void **state)
{
    (void)state;
    struct mb_err err;
    static const size_t shapes[][2] = { { 1, 1 }, { 1, 49152 }, { 3, 13 }, { 9, 300 } };
    for (size_t s = 0; s < MB_ARRAY_LEN(shapes); s++)
        for (size_t b = 0; b < n_backends; b++) {
            struct mb_backend *be = backends[b].be;
            const size_t m = shapes[s][0], n = shapes[s][1], st = n + 4;
            float *x = rand_floats(m * st);
            for (size_t i = 0; i < m * st; i++)
                x[i] *= 8.0f; /* a wide range: exponentials from ~1e-30 to 1 */
            struct mb_softmax_args a = {
                .x = dev_from(be, x, m * st * 4), .m = m, .n = n, .stride = st, .scale = 0.7f
            };
            MB_ASSERT_OK(mb_backend_softmax(be, &a, &err), &err);
            float *got = nan_filled(m * st), *want = mb_malloc(m * st * 4);
            assert_non_null(want);
            dev_to_host(be, got, a.x, m * st * 4);
            memcpy(want, x, m * st * 4);
            struct mb_softmax_args r = a;
            r.x = want;
            MB_ASSERT_OK(mb_ref_softmax(&r, &err), &err);
            for (size_t i = 0; i < m; i++) {
                /* exp's argument scale*x - max carries the rounding of its terms. */
                double amax = 0, sum = 0;
                for (size_t j = 0; j < n; j++)
                    amax = fmax(amax, fabs(0.7 * x[i * st + j]));
                for (size_t j = 0; j < n; j++) {
                    check_close(MB_OP_SOFTMAX, backends[b].desc, got[i * st + j], want[i * st + j],
                                want[i * st + j] * (2.4e-7 * amax + 2e-6) + 1e-37);
                    sum += got[i * st + j];
                }
                assert_true(fabs(sum - 1.0) < 1e-5);
                for (size_t j = n; j < st; j++)
                    assert_true(got[i * st + j] == x[i * st + j]);
            }
            mb_backend_buf_free(be, a.x);
            mb_free(x);
            mb_free(got);
            mb_free(want);
        }
}

/* ------------------------------------------------- element-wise vectors */

static void test_elementwise(void **state)
{
    (void)state;
    struct mb_err err;
    static const size_t sizes[] = { 1, 7, 576, 1536, 100003 };
    for (size_t s = 0; s < MB_ARRAY_LEN(sizes); s++)
        for (size_t b = 0; b < n_backends; b++)
            for (int op = 0; op < 4; op++) {
                struct mb_backend *be = backends[b].be;
                const size_t n = sizes[s];
                float *p = rand_floats(n), *q = rand_floats(n), *y0 = rand_floats(n);
                if (op == 0)
                    for (size_t i = 0; i < n; i++)
                        p[i] *= 10.0f; /* silu over a wide range, both tails */
                float *dp = dev_from(be, p, n * 4), *dq = dev_from(be, q, n * 4);
                float *dy = dev_from(be, y0, n * 4);
                float *want = mb_malloc(n * 4), *got = nan_filled(n);
                assert_non_null(want);
                memcpy(want, y0, n * 4);
                const float wv = 0.37f;
                enum mb_op kind;
                if (op == 0) {
                    struct mb_silu_mul_args a = { dp, dq, dy, n };
                    MB_ASSERT_OK(mb_backend_silu_mul(be, &a, &err), &err);
                    struct mb_silu_mul_args r = { p, q, want, n };
                    MB_ASSERT_OK(mb_ref_silu_mul(&r, &err), &err);
                    kind = MB_OP_SILU_MUL;
                } else if (op == 1) {
                    struct mb_add_args a = { dp, dq, dy, n };
                    MB_ASSERT_OK(mb_backend_add(be, &a, &err), &err);
                    struct mb_add_args r = { p, q, want, n };
                    MB_ASSERT_OK(mb_ref_add(&r, &err), &err);
                    kind = MB_OP_ADD;
                } else if (op == 2) {
                    struct mb_scale_args a = { dp, dy, n, wv };
                    MB_ASSERT_OK(mb_backend_scale(be, &a, &err), &err);
                    struct mb_scale_args r = { p, want, n, wv };
                    MB_ASSERT_OK(mb_ref_scale(&r, &err), &err);
                    kind = MB_OP_SCALE;
                } else {
                    struct mb_axpy_args a = { dp, dy, n, wv };
                    MB_ASSERT_OK(mb_backend_axpy(be, &a, &err), &err);
                    struct mb_axpy_args r = { p, want, n, wv };
                    MB_ASSERT_OK(mb_ref_axpy(&r, &err), &err);
                    kind = MB_OP_AXPY;
                }
                dev_to_host(be, got, dy, n * 4);
                for (size_t i = 0; i < n; i++) {
                    double mag = fabs((double)want[i]);
                    if (op == 1)
                        mag = fabs((double)p[i]) + fabs((double)q[i]);
                    if (op == 3)
                        mag = fabs((double)y0[i]) + fabs((double)wv * p[i]);
                    check_close(kind, mb_op_name(kind), got[i], want[i], 1e-6 * mag + 1e-30);
                }
                mb_backend_buf_free(be, dp);
                mb_backend_buf_free(be, dq);
                mb_backend_buf_free(be, dy);
                mb_free(p);
                mb_free(q);
                mb_free(y0);
                mb_free(want);
                mb_free(got);
            }
}

/* ------------------------------------------------------------ attention */

struct attn_shape {
    size_t m, n_head, n_kv_head, head_dim, n_ctx, first_pos, pos_step; /* pos_step 0 = 1 */
};

static void run_attention(struct tb *t, const struct attn_shape *sh, uint32_t ktype, bool round)
{
    struct mb_backend *be = t->be;
    struct mb_err err;
    const size_t hd = sh->head_dim, kvw = sh->n_kv_head * hd, qw = sh->n_head * hd;
    size_t cache_bytes;
    assert_true(mb_kv_cache_bytes(ktype, sh->n_ctx, sh->n_kv_head, hd, &cache_bytes));

    /* Host reference cache filled with history, device cache with the same bytes. */
    uint8_t *hk = mb_malloc(cache_bytes), *hv = mb_malloc(cache_bytes);
    assert_true(hk && hv);
    memset(hk, 0xff, cache_bytes); /* f16 NaN / f32 NaN: unwritten slots must not be read */
    memset(hv, 0xff, cache_bytes);
    struct mb_kv_cache hc = { hk, hv, ktype, sh->n_ctx, sh->n_kv_head, hd };
    /* Rows sit at first_pos + i * step; history fills every position before the last. */
    const size_t step = sh->pos_step ? sh->pos_step : 1;
    const size_t hist = sh->first_pos + (sh->m - 1) * step;
    if (hist) {
        float *k = rand_floats(hist * kvw), *v = rand_floats(hist * kvw);
        int32_t *pos = mb_malloc(hist * sizeof(int32_t));
        assert_non_null(pos);
        for (size_t i = 0; i < hist; i++)
            pos[i] = (int32_t)i;
        struct mb_kv_store_args s = { hc, k, v, pos, hist, kvw, kvw };
        MB_ASSERT_OK(mb_ref_kv_store(&s, &err), &err);
        mb_free(k);
        mb_free(v);
        mb_free(pos);
    }
    struct mb_kv_cache dc = { dev_from(be, hk, cache_bytes),
                              dev_from(be, hv, cache_bytes),
                              ktype,
                              sh->n_ctx,
                              sh->n_kv_head,
                              hd };

    /* This block's K and V: stored by the backend and by the reference. */
    const size_t m = sh->m, ks = kvw + 1;
    float *k = rand_floats(m * ks), *v = rand_floats(m * ks);
    int32_t *pos = mb_malloc(m * sizeof(int32_t));
    assert_non_null(pos);
    for (size_t i = 0; i < m; i++)
        pos[i] = (int32_t)(sh->first_pos + i * step);
    void *dpos = dev_from(be, pos, m * sizeof(int32_t));
    struct mb_kv_store_args ds = {
        dc, dev_from(be, k, m * ks * 4), dev_from(be, v, m * ks * 4), dpos, m, ks, ks
    };
    MB_ASSERT_OK(mb_backend_kv_store(be, &ds, &err), &err);
    struct mb_kv_store_args hs = { hc, k, v, pos, m, ks, ks };
    MB_ASSERT_OK(mb_ref_kv_store(&hs, &err), &err);
    uint8_t *back = mb_malloc(cache_bytes);
    assert_non_null(back);
    dev_to_host(be, back, dc.k, cache_bytes);
    if (memcmp(back, hk, cache_bytes) != 0)
        fail_msg("%s: kv_store %s: K cache differs from the reference", t->desc,
                 mb_dtype_name(ktype));
    dev_to_host(be, back, dc.v, cache_bytes);
    if (memcmp(back, hv, cache_bytes) != 0)
        fail_msg("%s: kv_store %s: V cache differs from the reference", t->desc,
                 mb_dtype_name(ktype));

    /* Attention of the block's queries. */
    const size_t qs = qw + 2;
    float *q = rand_floats(m * qs), *poison = nan_filled(m * qs);
    struct mb_attention_args a = { .cache = dc,
                                   .q = dev_from(be, q, m * qs * 4),
                                   .pos = dpos,
                                   .out = dev_from(be, poison, m * qs * 4),
                                   .m = m,
                                   .n_head = sh->n_head,
                                   .q_stride = qs,
                                   .out_stride = qs,
                                   .scale = 1.0f / sqrtf((float)hd),
                                   .round_f16 = round };
    MB_ASSERT_OK(mb_backend_attention(be, &a, &err), &err);
    float *got = nan_filled(m * qs), *want = nan_filled(m * qs);
    dev_to_host(be, got, a.out, m * qs * 4);
    struct mb_attention_args r = a;
    r.cache = hc;
    r.q = q;
    r.pos = pos;
    r.out = want;
    MB_ASSERT_OK(mb_ref_attention(&r, &err), &err);
    /*
     * Bound per (row, head): a score's f32 dot errs by at most hd * eps of
     * scale * sum|q||k| (S), its product by eps of |s|; each probability's
     * relative error is at most twice the worst score error (its own and the
     * normaliser's), so the output errs by max|V| times that, plus f32
     * accumulation.
     */
    const size_t group = sh->n_head / sh->n_kv_head;
    char what[128];
    snprintf(what, sizeof(what), "%s: attention %s%s m=%zu heads %zu/%zu pos %zu", t->desc,
             mb_dtype_name(ktype), round ? " round_f16" : "", m, sh->n_head, sh->n_kv_head,
             sh->first_pos);
    const double eps = 0x1p-24;
    for (size_t i = 0; i < m; i++) {
        for (size_t h = 0; h < sh->n_head; h++) {
            size_t base = (h / group) * sh->n_ctx * hd;
            double big_s = 0, max_s = 0, max_v = 0;
            for (size_t j = 0; j <= (size_t)pos[i]; j++) {
                double sa = 0, sd = 0;
                for (size_t d = 0; d < hd; d++) {
                    size_t at = base + j * hd + d;
                    double kk = ktype == MB_DTYPE_F16 ? mb_f16_to_f32(((mb_f16 *)hk)[at])
                                                      : ((float *)hk)[at];
                    double vv = ktype == MB_DTYPE_F16 ? mb_f16_to_f32(((mb_f16 *)hv)[at])
                                                      : ((float *)hv)[at];
                    sa += fabs(q[i * qs + h * hd + d] * kk);
                    sd += q[i * qs + h * hd + d] * kk;
                    max_v = fmax(max_v, fabs(vv));
                }
                big_s = fmax(big_s, sa * a.scale);
                max_s = fmax(max_s, fabs(sd * a.scale));
            }
            double dsc = (double)hd * eps * big_s + 2 * eps * max_s;
            double tol = max_v * (2 * dsc + 1e-6);
            /* round_f16: a probability on an f16 rounding boundary may land either side */
            if (round && ktype == MB_DTYPE_F16)
                tol += max_v * 0x1p-10;
            for (size_t d = 0; d < hd; d++)
                check_close(MB_OP_ATTENTION, what, got[i * qs + h * hd + d],
                            want[i * qs + h * hd + d], tol);
        }
        for (size_t j = qw; j < qs; j++)
            assert_true(isnan(got[i * qs + j]));
    }
    /* A position outside the cache is an error. */
    pos[m - 1] = (int32_t)sh->n_ctx;
    MB_ASSERT_OK(mb_backend_upload(be, dpos, pos, m * sizeof(int32_t), &err), &err);
    assert_int_equal(op_then_sync(be, mb_backend_attention(be, &a, &err), &err), MB_E_FORMAT);
    assert_int_equal(op_then_sync(be, mb_backend_kv_store(be, &ds, &err), &err), MB_E_FORMAT);

    mb_backend_buf_free(be, dc.k);
    mb_backend_buf_free(be, dc.v);
    dev_free(be, ds.k);
    dev_free(be, ds.v);
    mb_backend_buf_free(be, dpos);
    dev_free(be, a.q);
    mb_backend_buf_free(be, a.out);
    mb_free(hk);
    mb_free(hv);
    mb_free(k);
    mb_free(v);
    mb_free(pos);
    mb_free(back);
    mb_free(q);
    mb_free(poison);
    mb_free(got);
    mb_free(want);
}

static void test_attention(void **state)
{
    (void)state;
    static const struct attn_shape shapes[] = {
        { 1, 9, 3, 64, 64, 0, 1 },        /* the first token */
        { 1, 9, 3, 64, 600, 517, 1 },     /* SmolLM2 decode */
        { 7, 9, 3, 64, 64, 20, 1 },       /* a prefill block after history */
        { 33, 4, 4, 32, 40, 0, 1 },       /* no grouping, prompt from the start */
        { 5, 8, 1, 128, 300, 111, 1 },    /* multi-query, wide heads */
        { 3, 2, 2, 20, 9, 6, 1 },         /* odd head size, cache filled to the end */
        { 2, 8, 1, 64, 600, 5, 395 },     /* rows 5 and 400: key chunks empty for row 0 */
        { 1, 32, 4, 128, 1100, 1050, 1 }, /* 8 query heads per KV head, long decode */
        { 1, 18, 2, 64, 300, 250, 1 },    /* 9 per KV head: more than one group */
    };
    static const uint32_t types[] = { MB_DTYPE_F32, MB_DTYPE_F16 };
    for (size_t s = 0; s < MB_ARRAY_LEN(shapes); s++)
        for (size_t ti = 0; ti < 2; ti++)
            for (size_t b = 0; b < n_backends; b++)
                for (int round = 0; round < 2; round++)
                    run_attention(&backends[b], &shapes[s], types[ti], round);
}

/* ------------------------------------------------------------ topk */

static void test_topk(void **state)
{
    (void)state;
    struct mb_err err;
    static const size_t ns[] = { 1, 5, 100, 2048, 2049, 49152, 131073 };
    static const size_t ks[] = { 1, 2, 40, 64, 100, 256 };
    for (size_t b = 0; b < n_backends; b++)
        for (size_t ni = 0; ni < MB_ARRAY_LEN(ns); ni++) {
            struct mb_backend *be = backends[b].be;
            const size_t n = ns[ni];
            float *x = mb_malloc(n * sizeof(float));
            assert_non_null(x);
            /* a coarse grid: many ties; a few NaN, -inf, +inf */
            for (size_t i = 0; i < n; i++) {
                x[i] = floorf(grand() * 8.0f) / 8.0f;
                uint64_t r = rnd() % 500;
                if (r == 0)
                    x[i] = NAN;
                else if (r == 1)
                    x[i] = -INFINITY;
                else if (r == 2 && n > 1000)
                    x[i] = INFINITY;
            }
            if (n == 5)
                for (size_t i = 0; i < n; i++)
                    x[i] = i % 2 ? NAN : -INFINITY; /* nothing finite */
            float *dx = dev_from(be, x, n * sizeof(float));
            float *dv = dev_new(be, MB_TOPK_MAX * sizeof(float));
            int32_t *di = dev_new(be, MB_TOPK_MAX * sizeof(int32_t));
            for (size_t ki = 0; ki < MB_ARRAY_LEN(ks); ki++) {
                const size_t k = ks[ki];
                if (k > n)
                    continue;
                float got_v[MB_TOPK_MAX], want_v[MB_TOPK_MAX];
                int32_t got_i[MB_TOPK_MAX], want_i[MB_TOPK_MAX];
                struct mb_topk_args a = { dx, n, k, dv, di };
                MB_ASSERT_OK(mb_backend_topk(be, &a, &err), &err);
                dev_to_host(be, got_v, dv, k * sizeof(float));
                dev_to_host(be, got_i, di, k * sizeof(int32_t));
                struct mb_topk_args r = { x, n, k, want_v, want_i };
                MB_ASSERT_OK(mb_ref_topk(&r, &err), &err);
                for (size_t i = 0; i < k; i++)
                    if (got_i[i] != want_i[i] || !(got_v[i] == want_v[i]))
                        fail_msg("%s: topk n=%zu k=%zu: candidate %zu is (%d, %g), want (%d, %g)",
                                 backends[b].desc, n, k, i, got_i[i], (double)got_v[i], want_i[i],
                                 (double)want_v[i]);
            }
            struct mb_topk_args bad = { dx, n, 0, dv, di };
            assert_int_equal(mb_backend_topk(be, &bad, &err), MB_E_USAGE);
            bad.k = MB_TOPK_MAX + 1;
            assert_int_equal(mb_backend_topk(be, &bad, &err), MB_E_USAGE);
            mb_backend_buf_free(be, dx);
            mb_backend_buf_free(be, dv);
            mb_backend_buf_free(be, di);
            mb_free(x);
        }
}

/* ------------------------------------------------------------ op chains */

/*
 * y = the backend's output of a producer op, then a matmul over y on the same
 * backend: must equal W * quant(y) with the tight bound (a backend may fuse
 * the quantization into the producer; a consumer must never see stale or
 * partial quantized activations).
 */
static void check_consumer(struct tb *t, const float *dy, size_t m, size_t k, uint32_t type,
                           const char *what)
{
    struct mb_backend *be = t->be;
    struct mb_err err;
    const size_t rows = 19;
    size_t rb;
    uint8_t *w = rand_weights(type, rows, k, &rb);
    float *y = nan_filled(m * k), *out = nan_filled(m * rows);
    dev_to_host(be, y, dy, m * k * sizeof(float));
    struct mb_matmul_args a = { .x = dy, .m = m, .k = k, .x_stride = k, .n_out = 1 };
    a.out[0] = (struct mb_matmul_out){ { dev_from(be, w, rows * rb), type, rows, k },
                                       dev_from(be, out, m * rows * sizeof(float)),
                                       rows,
                                       false };
    MB_ASSERT_OK(mb_backend_matmul(be, &a, &err), &err);
    dev_to_host(be, out, a.out[0].y, m * rows * sizeof(float));
    float *xq = mb_malloc(k * sizeof(float)), *wr = mb_malloc(k * sizeof(float));
    float *serr = mb_malloc((k / 32 + 1) * sizeof(float));
    assert_true(xq && wr && serr);
    for (size_t i = 0; i < m; i++) {
        MB_ASSERT_OK(mb_ref_quantize_act(type, y + i * k, k, xq, serr, &err), &err);
        for (size_t r = 0; r < rows; r++) {
            assert_true(mb_dequantize_row(type, w + r * rb, wr, k));
            double want = 0, mag = 0, sterm = 0;
            for (size_t j = 0; j < k; j++) {
                want += (double)wr[j] * xq[j];
                mag += fabs((double)wr[j] * xq[j]);
            }
            if (mb_matmul_act_type(type) == MB_DTYPE_Q8_1) /* f16 block sums (see run_matmul) */
                for (size_t bk = 0; bk < k / 32; bk++)
                    sterm += 1.0001 * fabs(block_m(type, w + r * rb, bk)) * serr[bk];
            char msg[160];
            snprintf(msg, sizeof(msg), "%s: %s then matmul %s [%zu][%zu]", t->desc, what,
                     mb_dtype_name(type), i, r);
            check_close(MB_OP_MATMUL, msg, out[i * rows + r], want, 2e-5 * mag + sterm + 1e-30);
        }
    }
    dev_free(be, a.out[0].w.data);
    mb_backend_buf_free(be, a.out[0].y);
    mb_free(w);
    mb_free(y);
    mb_free(out);
    mb_free(xq);
    mb_free(wr);
    mb_free(serr);
}

static void test_op_chains(void **state)
{
    (void)state;
    struct mb_err err;
    static const uint32_t types[] = { MB_DTYPE_Q4_0, MB_DTYPE_Q4_1, MB_DTYPE_Q8_0, MB_DTYPE_Q4_K };
    for (size_t b = 0; b < n_backends; b++) {
        struct tb *t = &backends[b];
        struct mb_backend *be = t->be;
        const size_t m = 3, k = 512;
        float *x = rand_floats(m * k), *w = rand_floats(k), *u = rand_floats(m * k);
        float *dx = dev_from(be, x, m * k * 4), *dw = dev_from(be, w, k * 4);
        float *dy = dev_new(be, m * k * 4), *du = dev_from(be, u, m * k * 4);
        for (size_t ti = 0; ti < MB_ARRAY_LEN(types); ti++) {
            /* rmsnorm -> matmul, for one row and for three */
            for (size_t rows = 1; rows <= m; rows += m - 1) {
                struct mb_rmsnorm_args n = { dx, dy, dw, rows, k, k, k, 1e-5f };
                MB_ASSERT_OK(mb_backend_rmsnorm(be, &n, &err), &err);
                check_consumer(t, dy, rows, k, types[ti], "rmsnorm");
            }
            /* silu_mul -> matmul over m rows (a flat producer) */
            MB_ASSERT_OK(mb_backend_upload(be, dy, x, m * k * 4, &err), &err);
            struct mb_silu_mul_args sm = { dy, du, dy, m * k };
            MB_ASSERT_OK(mb_backend_silu_mul(be, &sm, &err), &err);
            check_consumer(t, dy, m, k, types[ti], "silu_mul");
            /* rmsnorm, then an op that changes y: the consumer must see the new y */
            struct mb_rmsnorm_args n = { dx, dy, dw, m, k, k, k, 1e-5f };
            MB_ASSERT_OK(mb_backend_rmsnorm(be, &n, &err), &err);
            struct mb_scale_args sc = { dy, dy, m * k, -3.0f };
            MB_ASSERT_OK(mb_backend_scale(be, &sc, &err), &err);
            check_consumer(t, dy, m, k, types[ti], "rmsnorm, scale");
            /* rmsnorm, then a matmul accumulating into y, then y consumed */
            MB_ASSERT_OK(mb_backend_rmsnorm(be, &n, &err), &err);
            size_t rb;
            uint8_t *w2 = rand_weights(MB_DTYPE_Q8_0, k, k, &rb);
            struct mb_matmul_args acc = { .x = du, .m = m, .k = k, .x_stride = k, .n_out = 1 };
            acc.out[0] = (struct mb_matmul_out){
                { dev_from(be, w2, k * rb), MB_DTYPE_Q8_0, k, k }, dy, k, true
            };
            MB_ASSERT_OK(mb_backend_matmul(be, &acc, &err), &err);
            check_consumer(t, dy, m, k, types[ti], "rmsnorm, matmul into y");
            dev_free(be, acc.out[0].w.data);
            mb_free(w2);
            /* an upload over y */
            MB_ASSERT_OK(mb_backend_rmsnorm(be, &n, &err), &err);
            MB_ASSERT_OK(mb_backend_upload(be, dy, u, m * k * 4, &err), &err);
            check_consumer(t, dy, m, k, types[ti], "rmsnorm, upload");
        }
        mb_backend_buf_free(be, dx);
        mb_backend_buf_free(be, dw);
        mb_backend_buf_free(be, dy);
        mb_backend_buf_free(be, du);
        mb_free(x);
        mb_free(w);
        mb_free(u);
    }
}

/* Visible in the test report: CUDA ran, or why it did not. */
static void test_cuda_present(void **state)
{
    (void)state;
    if (!have_cuda) {
        print_message("skipped: %s\n", cuda_note);
        skip();
    }
}

/* ------------------------------------------------------------ bad input */

static void test_bad_descriptors(void **state)
{
    (void)state;
    struct mb_err err;
    for (size_t b = 0; b < n_backends; b++) {
        struct mb_backend *be = backends[b].be;
        float x[64] = { 0 }, y[64];
        uint8_t w[64 * 34] = { 0 };
        /* the one valid call runs: give a device backend its own buffers */
        float *dx = x, *dy = y;
        uint8_t *dw = w;
        if (!be->host_memory) {
            dx = dev_from(be, x, sizeof(x));
            dy = dev_new(be, sizeof(y));
            dw = dev_from(be, w, sizeof(w));
        }
        struct mb_matmul_args a = { .x = dx, .m = 1, .k = 32, .x_stride = 32, .n_out = 1 };
        a.out[0] = (struct mb_matmul_out){ { dw, MB_DTYPE_Q8_0, 2, 32 }, dy, 2, false };
        MB_ASSERT_OK(mb_backend_matmul(be, &a, &err), &err);
        if (!be->host_memory) {
            dev_to_host(be, y, dy, 2 * sizeof(float));
            mb_backend_buf_free(be, dx);
            mb_backend_buf_free(be, dy);
            mb_backend_buf_free(be, dw);
        }
        assert_true(y[0] == 0.0f && y[1] == 0.0f);
        struct mb_matmul_args bad = a;
        bad.out[0].w.cols = 64; /* k mismatch */
        assert_int_equal(mb_backend_matmul(be, &bad, &err), MB_E_USAGE);
        bad = a;
        bad.out[0].w.type = MB_DTYPE_Q2_K;
        assert_int_equal(mb_backend_matmul(be, &bad, &err), MB_E_UNSUPPORTED);
        assert_false(mb_backend_supports(be, MB_OP_MATMUL, MB_DTYPE_Q2_K));
        assert_true(mb_backend_supports(be, MB_OP_MATMUL, MB_DTYPE_Q4_K));
        bad = a;
        bad.k = bad.out[0].w.cols = 33; /* not a whole block */
        assert_int_equal(mb_backend_matmul(be, &bad, &err), MB_E_USAGE);
        bad = a;
        bad.n_out = 0;
        assert_int_equal(mb_backend_matmul(be, &bad, &err), MB_E_USAGE);
        bad = a;
        bad.m = 2;
        bad.x_stride = 16; /* rows overlap */
        assert_int_equal(mb_backend_matmul(be, &bad, &err), MB_E_USAGE);
        bad = a;
        bad.m = SIZE_MAX / 2;
        assert_int_equal(mb_backend_matmul(be, &bad, &err), MB_E_USAGE);
        assert_true(strlen(err.msg) > 0);

        struct mb_rope_args r = { .x = x,
                                  .pos = (const int32_t *)(const void *)w,
                                  .m = 1,
                                  .n_head = 1,
                                  .head_dim = 8,
                                  .n_rot = 9,
                                  .freq_base = 1e4f,
                                  .freq_scale = 1 };
        assert_int_equal(mb_backend_rope(be, &r, &err), MB_E_USAGE);
        struct mb_rmsnorm_args n = { .x = x, .y = y, .m = 1, .n = 8, .eps = -1.0f };
        assert_int_equal(mb_backend_rmsnorm(be, &n, &err), MB_E_USAGE);
        mb_f16 kc[64], vc[64];
        struct mb_attention_args at = { .cache = { kc, vc, MB_DTYPE_F16, 4, 2, 8 },
                                        .q = x,
                                        .pos = (const int32_t *)(const void *)w,
                                        .out = y,
                                        .m = 1,
                                        .n_head = 3, /* not a multiple of 2 KV heads */
                                        .scale = 1.0f };
        assert_int_equal(mb_backend_attention(be, &at, &err), MB_E_USAGE);
        at.n_head = 2;
        at.cache.type = MB_DTYPE_Q8_0;
        assert_int_equal(mb_backend_attention(be, &at, &err), MB_E_UNSUPPORTED);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul),       cmocka_unit_test(test_matmul_small_blocks),
        cmocka_unit_test(test_matmul_multi), cmocka_unit_test(test_get_rows),
        cmocka_unit_test(test_rmsnorm),      cmocka_unit_test(test_rope),
        cmocka_unit_test(test_softmax),      cmocka_unit_test(test_elementwise),
        cmocka_unit_test(test_attention),    cmocka_unit_test(test_bad_descriptors),
        cmocka_unit_test(test_topk),         cmocka_unit_test(test_op_chains),
        cmocka_unit_test(test_cuda_present),
    };
    int rc = cmocka_run_group_tests(tests, backends_init, backends_free);
    for (int op = 0; op < MB_OP_COUNT; op++)
        if (worst_ratio[op] > 0)
            print_message("test_ops: %-10s worst |error| / bound = %.3f\n",
                          mb_op_name((enum mb_op)op), worst_ratio[op]);
    return rc;
}
