/*
 * fuzz_matmul.c - libFuzzer target for the CPU matmul and embedding kernels
 * on hostile weight bytes (a pack's GGUF is untrusted input): the first bytes
 * choose the weight type, the shape and the thread count, the rest are the
 * weight blocks (any bit pattern: NaN or infinite scales included) and the
 * activations. Every SIMD level must run without a sanitizer report, and
 * where the weights and inputs are finite, agree with the reference oracle
 * within test_ops.c's bound.
 */
#include "mb_kernels.h"

#include <math.h>

static const uint32_t types[] = {
    MB_DTYPE_F32,  MB_DTYPE_F16,  MB_DTYPE_BF16, MB_DTYPE_Q4_0, MB_DTYPE_Q4_1, MB_DTYPE_Q5_0,
    MB_DTYPE_Q5_1, MB_DTYPE_Q8_0, MB_DTYPE_Q4_K, MB_DTYPE_Q5_K, MB_DTYPE_Q6_K,
};

static struct mb_backend *backends[MB_CPU_ISA_COUNT][2];

static void init(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    for (int isa = 0; isa < MB_CPU_ISA_COUNT; isa++)
        for (int t = 0; t < 2; t++) {
            struct mb_cpu_opts o = { .n_threads = (unsigned)t + 1,
                                     .force_isa = true,
                                     .isa = (enum mb_cpu_isa)isa };
            if (mb_cpu_isa_supported((enum mb_cpu_isa)isa) &&
                mb_backend_cpu_new(&o, &backends[isa][t], NULL) < 0)
                abort();
        }
}

/* Take n bytes from the input (zeros once it runs out). */
static void take(const uint8_t **p, size_t *left, void *dst, size_t n)
{
    size_t k = MB_MIN(n, *left);
    memcpy(dst, *p, k);
    memset((uint8_t *)dst + k, 0, n - k);
    *p += k;
    *left -= k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init();
    if (size < 4)
        return 0;
    const uint32_t type = types[data[0] % MB_ARRAY_LEN(types)];
    const size_t m = (size_t)(data[1] % 6) + 1, rows = (size_t)(data[2] % 9) + 1;
    const size_t blen = mb_dtype_traits(type)->block_len;
    const size_t k = blen == 1 ? (size_t)(data[3] % 70) + 1 : blen * ((size_t)(data[3] % 3) + 1);
    const unsigned threads = data[3] >> 7;
    const uint8_t *p = data + 4;
    size_t left = size - 4;

    uint64_t rb;
    if (!mb_dtype_row_size(type, k, &rb))
        return 0;
    uint8_t *w = mb_malloc(rows * (size_t)rb);
    float *x = mb_malloc(m * k * sizeof(float)), *y = mb_malloc(m * rows * sizeof(float));
    float *want = mb_malloc(m * rows * sizeof(float)), *wrow = mb_malloc(k * sizeof(float));
    float *xq = mb_malloc(k * sizeof(float)), *serr = mb_malloc((k / 32 + 1) * sizeof(float));
    if (!w || !x || !y || !want || !wrow || !xq || !serr)
        abort();
    take(&p, &left, w, rows * (size_t)rb);
    for (size_t i = 0; i < m * k; i++) {
        int8_t b = 0;
        take(&p, &left, &b, 1);
        x[i] = (float)b / 16.0f; /* finite activations; the weights carry the hostility */
    }

    /* Are the weights finite? Then the results must be too, and close to the oracle. */
    bool finite = true;
    for (size_t r = 0; r < rows && finite; r++) {
        if (!mb_dequantize_row(type, w + r * (size_t)rb, wrow, k))
            abort();
        for (size_t i = 0; i < k; i++)
            if (!isfinite(wrow[i]) || fabsf(wrow[i]) > 1e15f)
                finite = false;
    }
    struct mb_matmul_args a = { .x = x, .m = m, .k = k, .x_stride = k, .n_out = 1 };
    a.out[0] = (struct mb_matmul_out){ { w, type, rows, k }, want, rows, false };
    if (finite && mb_ref_matmul(&a, NULL) < 0)
        abort();
    for (int isa = 0; isa < MB_CPU_ISA_COUNT; isa++) {
        struct mb_backend *be = backends[isa][threads];
        if (!be)
            continue;
        a.out[0].y = y;
        if (mb_backend_matmul(be, &a, NULL) < 0)
            abort();
        if (!finite)
            continue;
        for (size_t i = 0; i < m; i++) {
            if (mb_ref_quantize_act(type, x + i * k, k, xq, serr, NULL) < 0)
                abort();
            for (size_t r = 0; r < rows; r++) {
                mb_dequantize_row(type, w + r * (size_t)rb, wrow, k);
                double mag = 0, quant = 0, qerr = 0, sterm = 0;
                for (size_t j = 0; j < k; j++) {
                    mag += fabs((double)wrow[j] * xq[j]);
                    quant += (double)wrow[j] * xq[j];
                    qerr += fabs((double)wrow[j]) * fabs((double)x[i * k + j] - xq[j]);
                }
                if (type == MB_DTYPE_Q4_1 || type == MB_DTYPE_Q5_1)
                    for (size_t b = 0; b < k / 32; b++) {
                        mb_f16 h;
                        memcpy(&h, w + r * (size_t)rb + b * mb_dtype_traits(type)->block_size + 2,
                               2);
                        sterm += fabs((double)mb_f16_to_f32(h)) * serr[b];
                    }
                double got = y[i * rows + r], tol = 2e-5 * mag + 1.0001 * sterm + 1e-30;
                if (!(fabs(got - quant) <= tol) ||
                    !(fabs(got - want[i * rows + r]) <= tol + qerr + 1e-6 * fabs(quant)))
                    abort();
            }
        }
    }

    /* Embedding rows of the same matrix: bit-identical to mb_dequantize_row. */
    int32_t ids[2] = { 0, (int32_t)(rows - 1) };
    struct mb_get_rows_args g = { { w, type, rows, k }, ids, 2, y, k };
    if (m * rows >= 2 * k && backends[0][0]) {
        if (mb_backend_get_rows(backends[0][0], &g, NULL) < 0)
            abort();
        mb_dequantize_row(type, w + (rows - 1) * (size_t)rb, wrow, k);
        if (memcmp(y + k, wrow, k * sizeof(float)) != 0 && finite)
            abort();
    }
    mb_free(w);
    mb_free(x);
    mb_free(y);
    mb_free(want);
    mb_free(wrow);
    mb_free(xq);
    mb_free(serr);
    return 0;
}
