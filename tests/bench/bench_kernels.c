/*
 * bench_kernels.c - micro-benchmark of the CPU matmul kernels (run through
 * scripts/bench/kernels.sh, which writes its JSON to scripts/bench/results/).
 *
 * For each weight type and shape it times the op through the backend
 * interface, as the runtime calls it:
 *   - decode, hot: one matrix, repeatedly (fits in L2/L3: compute bound);
 *   - decode, cold: cycling over copies of the matrix totalling >= 256 MiB,
 *     so every byte comes from DRAM, as a real model's layers do;
 *   - prefill: m = 512 activation rows (GFLOP/s).
 * GB/s counts weight bytes read; GFLOP/s counts 2 * rows * cols * m. It also
 * measures the machine's read bandwidth (the bound decode works against) and
 * the thread pool's fork/join cost. Prints one JSON object.
 *
 *   bench_kernels [--threads N] [--isa scalar|avx2|avx512] [--types q4_1,q8_0,...]
 *                 [--seconds S] [--no-prefill] [--hot-only]
 */
#include "mb_kernels.h"

#include <math.h>
#include <stdatomic.h>

static uint64_t rng = 88172645463325252ull;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static float frand(void)
{
    return (float)((double)(rnd() >> 11) / 4503599627370496.0 - 1.0);
}

static void die(const char *what, const struct mb_err *err)
{
    fprintf(stderr, "bench_kernels: %s: %s\n", what, err ? err->msg : "failed");
    exit(1);
}

/* Random weights: random codes with small finite f16 scales. */
static void fill_weights(uint8_t *w, uint32_t type, size_t rows, size_t cols)
{
    const struct mb_dtype_traits *t = mb_dtype_traits(type);
    uint64_t rb;
    mb_dtype_row_size(type, cols, &rb);
    size_t bytes = rows * (size_t)rb;
    if (!t->quantized) {
        for (size_t i = 0; i < rows * cols; i++) {
            float v = frand() * 0.1f;
            if (type == MB_DTYPE_F32)
                memcpy(w + 4 * i, &v, 4);
            else {
                uint16_t h = type == MB_DTYPE_F16 ? mb_f32_to_f16(v) : mb_f32_to_bf16(v);
                memcpy(w + 2 * i, &h, 2);
            }
        }
        return;
    }
    for (size_t i = 0; i < bytes; i++)
        w[i] = (uint8_t)rnd();
    size_t off = type == MB_DTYPE_Q6_K ? 208 : 0;
    bool two = type == MB_DTYPE_Q4_1 || type == MB_DTYPE_Q5_1 || type == MB_DTYPE_Q4_K ||
               type == MB_DTYPE_Q5_K;
    for (size_t b = 0; b < bytes / t->block_size; b++) {
        mb_f16 h = mb_f32_to_f16(frand() * 0.01f);
        memcpy(w + b * t->block_size + off, &h, 2);
        if (two)
            memcpy(w + b * t->block_size + 2, &h, 2);
    }
}

/*
 * Seconds per call: the best of many short batches (about 2 ms each) within
 * `seconds`, so that time slices lost to other processes on a shared machine
 * drop out of the minimum instead of inflating a long average.
 */
static double time_op(struct mb_backend *be, struct mb_matmul_args *a, const uint8_t *const *w,
                      size_t n_w, double seconds)
{
    struct mb_err err;
    size_t iters = 1, next = 0;
    for (;;) { /* calibrate a batch to ~2 ms */
        uint64_t t0 = mb_now_ns();
        for (size_t i = 0; i < iters; i++) {
            a->out[0].w.data = w[next++ % n_w];
            if (mb_backend_matmul(be, a, &err) < 0)
                die("matmul", &err);
        }
        double dt = (double)(mb_now_ns() - t0) * 1e-9;
        if (dt > 2e-3 || iters > (1u << 24))
            break;
        iters *= 2;
    }
    double best = INFINITY;
    uint64_t start = mb_now_ns();
    int batches = 0;
    while (batches < 5 || (double)(mb_now_ns() - start) * 1e-9 < seconds) {
        uint64_t t0 = mb_now_ns();
        for (size_t i = 0; i < iters; i++) {
            a->out[0].w.data = w[next++ % n_w];
            if (mb_backend_matmul(be, a, &err) < 0)
                die("matmul", &err);
        }
        best = fmin(best, (double)(mb_now_ns() - t0) * 1e-9 / (double)iters);
        batches++;
    }
    return best;
}

/* The machine's read bandwidth with nth threads (GB/s), summing 256 MiB a few times. */
static atomic_ullong sink;

struct bw_job {
    const uint64_t *p;
    size_t n;
};

static void bw_fn(void *arg, unsigned ith, unsigned nth)
{
    const struct bw_job *j = arg;
    size_t per = j->n / nth, b = ith * per;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = b; i + 4 <= b + per; i += 4) {
        s0 += j->p[i];
        s1 += j->p[i + 1];
        s2 += j->p[i + 2];
        s3 += j->p[i + 3];
    }
    atomic_fetch_add(&sink, s0 + s1 + s2 + s3);
}

static double read_bandwidth(struct mb_pool *pool)
{
    size_t n = ((size_t)256 << 20) / 8;
    uint64_t *p = mb_malloc(n * 8);
    if (!p)
        return 0;
    for (size_t i = 0; i < n; i++)
        p[i] = i;
    struct bw_job j = { p, n };
    double best = INFINITY;
    for (int r = 0; r < 4; r++) {
        uint64_t t0 = mb_now_ns();
        mb_pool_run(pool, 0, bw_fn, &j);
        best = fmin(best, (double)(mb_now_ns() - t0) * 1e-9);
    }
    mb_free(p);
    return (double)(n * 8) / best / 1e9;
}

static void nop(void *arg, unsigned ith, unsigned nth)
{
    (void)arg;
    (void)ith;
    (void)nth;
}

int main(int argc, char **argv)
{
    unsigned threads = 1;
    const char *types_arg = "f32,f16,bf16,q4_0,q4_1,q5_0,q5_1,q8_0,q4_K,q5_K,q6_K";
    const char *isa_arg = NULL;
    double seconds = 0.4;
    bool prefill = true, cold_runs = true;
    for (int i = 1; i < argc; i++) {
        uint64_t v;
        double dv;
        if (!strcmp(argv[i], "--threads") && i + 1 < argc && mb_parse_u64(argv[i + 1], &v)) {
            threads = (unsigned)v;
            i++;
        } else if (!strcmp(argv[i], "--types") && i + 1 < argc) {
            types_arg = argv[++i];
        } else if (!strcmp(argv[i], "--isa") && i + 1 < argc) {
            isa_arg = argv[++i];
        } else if (!strcmp(argv[i], "--seconds") && i + 1 < argc &&
                   mb_parse_double(argv[i + 1], &dv)) {
            seconds = dv;
            i++;
        } else if (!strcmp(argv[i], "--no-prefill")) {
            prefill = false;
        } else if (!strcmp(argv[i], "--hot-only")) {
            cold_runs = false; /* one copy of each matrix: for perf stat cycle counts */
        } else {
            fprintf(stderr, "usage: bench_kernels [--threads N] [--isa LEVEL] [--types LIST] "
                            "[--seconds S] [--no-prefill]\n");
            return 2;
        }
    }
    struct mb_err err;
    struct mb_cpu_opts opts = { .n_threads = threads };
    if (isa_arg) {
        if (!mb_cpu_isa_from_name(isa_arg, &opts.isa))
            die("unknown --isa", NULL);
        opts.force_isa = true;
    }
    struct mb_backend *be;
    if (mb_backend_cpu_new(&opts, &be, &err) < 0)
        die("backend", &err);

    struct mb_pool *pool;
    if (mb_pool_new(threads, &pool, &err) < 0)
        die("pool", &err);
    double bw = read_bandwidth(pool);
    uint64_t t0 = mb_now_ns();
    const int n_fj = 200000;
    for (int i = 0; i < n_fj; i++)
        mb_pool_run(pool, 0, nop, NULL);
    double fj_ns = (double)(mb_now_ns() - t0) / n_fj;
    mb_pool_free(pool);

    printf("{\n  \"isa\": \"%s\",\n  \"threads\": %u,\n  \"read_bandwidth_gbps\": %.2f,\n"
           "  \"fork_join_ns\": %.0f,\n  \"results\": [",
           mb_cpu_isa_name(mb_backend_cpu_isa(be)), threads, bw, fj_ns);

    /* (rows, cols): SmolLM2's attention, FFN down, FFN gate/up, LM head. */
    static const size_t shapes[][2] = {
        { 576, 576 }, { 576, 1536 }, { 1536, 576 }, { 49152, 576 }
    };
    bool first = true;
    char list[256];
    mb_strlcpy(list, types_arg, sizeof(list));
    for (char *tok = list, *next; tok && *tok; tok = next) {
        next = strchr(tok, ',');
        if (next)
            *next++ = '\0';
        enum mb_dtype type;
        if (!mb_dtype_from_name(tok, &type))
            die("unknown type in --types", NULL);
        for (size_t s = 0; s < MB_ARRAY_LEN(shapes); s++) {
            const size_t rows = shapes[s][0], cols = shapes[s][1];
            uint64_t rb;
            if (!mb_dtype_row_size(type, cols, &rb))
                continue; /* K-quants need widths that are multiples of 256 */
            if (rows == 49152 && type != MB_DTYPE_Q8_0 && strcmp(types_arg, tok) != 0)
                continue; /* the LM head is Q8_0 in SmolLM2 */
            const size_t bytes = rows * (size_t)rb;
            size_t copies = cold_runs ? (((size_t)256 << 20) + bytes - 1) / bytes : 1;
            uint8_t **w = mb_calloc(copies, sizeof(*w));
            for (size_t c = 0; c < copies; c++) {
                w[c] = mb_malloc(bytes);
                if (!w[c])
                    die("out of memory", NULL);
                fill_weights(w[c], type, rows, cols);
            }
            const size_t mmax = prefill ? 512 : 1;
            float *x = mb_malloc(mmax * cols * sizeof(float));
            float *y = mb_malloc(mmax * rows * sizeof(float));
            for (size_t i = 0; i < mmax * cols; i++)
                x[i] = frand();
            struct mb_matmul_args a = { .x = x, .m = 1, .k = cols, .x_stride = cols, .n_out = 1 };
            a.out[0] = (struct mb_matmul_out){ { w[0], type, rows, cols }, y, rows, false };
            double hot = time_op(be, &a, (const uint8_t *const *)w, 1, seconds);
            double cold =
                cold_runs ? time_op(be, &a, (const uint8_t *const *)w, copies, seconds) : hot;
            double pre = 0;
            if (prefill && rows <= 1536) {
                a.m = 512;
                pre = time_op(be, &a, (const uint8_t *const *)w, 1, seconds);
            }
            double flop = 2.0 * (double)rows * (double)cols;
            printf(
                "%s\n    {\"type\": \"%s\", \"rows\": %zu, \"cols\": %zu, \"weight_bytes\": %zu, "
                "\"decode_hot_us\": %.2f, \"decode_hot_gbps\": %.2f, \"decode_hot_gflops\": %.2f, "
                "\"decode_cold_us\": %.2f, \"decode_cold_gbps\": %.2f",
                first ? "" : ",", mb_dtype_name(type), rows, cols, bytes, hot * 1e6,
                (double)bytes / hot / 1e9, flop / hot / 1e9, cold * 1e6,
                (double)bytes / cold / 1e9);
            if (pre > 0)
                printf(", \"prefill512_ms\": %.3f, \"prefill512_gflops\": %.2f", pre * 1e3,
                       flop * 512 / pre / 1e9);
            printf("}");
            fflush(stdout);
            first = false;
            for (size_t c = 0; c < copies; c++)
                mb_free(w[c]);
            mb_free(w);
            mb_free(x);
            mb_free(y);
        }
    }
    printf("\n  ]\n}\n");
    mb_backend_free(be);
    return 0;
}
