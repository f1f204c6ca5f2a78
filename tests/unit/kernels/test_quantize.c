/*
 * test_quantize.c - the reference quantizers (mb_quantize.h):
 *  - byte identity with golden blocks recorded from gguf-py (F16, BF16, Q8_0,
 *    Q4_0, Q4_1, Q5_0, Q5_1) and from llama.cpp's ggml_quantize_chunk (Q4_K,
 *    Q6_K) on ten rows of varied distributions (tests/data/quantize/blocks.*,
 *    written by scripts/reference/quantize_golden.py);
 *  - blocks worked out by hand for Q8_0 and Q4_0 (they pin ggml's rounding);
 *  - dequantize(quantize(x)) error bounds per type, derived from each format
 *    (half a step, the clamped extreme of the signed types, the f16 rounding
 *    of the scales) on random data, and RMSE bounds for every type;
 *  - rows are independent, unsupported types and lengths write nothing, NaN
 *    and infinities are found and never cause undefined behaviour.
 */
#include "mb_test.h"
#include "mb_kernels.h"

#include <float.h>
#include <math.h>

#define NB 2560 /* floats in tests/data/quantize/blocks.f32 */

static uint64_t rng_state = 0x853c49e6748fea9bull;

static double urand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* Standard normal (Box-Muller). */
static float gauss(void)
{
    double u = urand(), v = urand();
    return (float)(sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v));
}

static void *load(const char *name, size_t *n)
{
    struct mb_buf b;
    struct mb_err err;
    mb_buf_init(&b, 1 << 20);
    MB_ASSERT_OK(mb_file_read_all(mb_test_data_path(name), 1 << 20, &b, &err), &err);
    *n = b.n;
    return mb_buf_detach(&b, NULL);
}

static const char *const golden_types[] = { "f16",  "bf16", "q8_0", "q4_0", "q4_1",
                                            "q5_0", "q5_1", "q4_k", "q6_k" };

static void test_golden_blocks(void **state)
{
    (void)state;
    size_t nx;
    float *x = load("quantize/blocks.f32", &nx);
    assert_int_equal(nx, NB * sizeof(float));
    for (size_t i = 0; i < MB_ARRAY_LEN(golden_types); i++) {
        char name[64];
        snprintf(name, sizeof(name), "quantize/blocks.%s", golden_types[i]);
        size_t ne;
        uint8_t *want = load(name, &ne);
        enum mb_dtype t;
        assert_true(mb_dtype_from_name(golden_types[i], &t));
        uint64_t bytes;
        assert_true(mb_dtype_row_size(t, NB, &bytes));
        assert_int_equal(bytes, ne);
        uint8_t *got = mb_malloc(ne);
        assert_true(mb_quantize_row(t, x, got, NB));
        const struct mb_dtype_traits *tr = mb_dtype_traits(t);
        for (size_t b = 0; b < ne / tr->block_size; b++)
            if (memcmp(got + b * tr->block_size, want + b * tr->block_size, tr->block_size))
                fail_msg("%s: block %zu differs from the reference", golden_types[i], b);
        mb_free(got);
        mb_free(want);
    }
    mb_free(x);
}

static uint16_t u16_at(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static void test_hand_blocks(void **state)
{
    (void)state;
    float x[32];
    uint8_t y[34];
    /* Q4_0: x = j - 16; the signed max is -16 (first of largest magnitude), d = 2 */
    for (int j = 0; j < 32; j++)
        x[j] = (float)(j - 16);
    mb_ref_quantize_q4_0(x, y, 32);
    assert_int_equal(u16_at(y), 0x4000); /* 2.0 */
    assert_int_equal(y[2], 0x80);        /* j=0: trunc(-8 + 8.5) = 0; j=16: 8 */
    assert_int_equal(y[2 + 15], 0xf8);   /* j=15: trunc(-0.5 + 8.5) = 8; j=31: 16 -> 15 */
    /* Q8_0: x = (j - 16) / 2, amax 8, d = 8/127, q = roundf(x * 127/8) */
    for (int j = 0; j < 32; j++)
        x[j] = (float)(j - 16) * 0.5f;
    mb_ref_quantize_q8_0(x, y, 32);
    assert_int_equal(u16_at(y), mb_f32_to_f16(8.0f / 127.0f));
    assert_int_equal((int8_t)y[2], -127);     /* -8 */
    assert_int_equal((int8_t)y[2 + 17], 8);   /* 0.5 * 15.875 = 7.94 -> 8 */
    assert_int_equal((int8_t)y[2 + 19], 24);  /* 1.5 * 15.875 = 23.8 -> 24 */
    assert_int_equal((int8_t)y[2 + 31], 119); /* 7.5 * 15.875 = 119.06 -> 119 */
    /* all zeros: d = 0, and ggml's midpoint codes */
    memset(x, 0, sizeof(x));
    mb_ref_quantize_q4_0(x, y, 32);
    assert_int_equal(u16_at(y), 0x8000); /* ggml: d = 0.0f / -8 = -0.0 */
    for (int j = 0; j < 16; j++)
        assert_int_equal(y[2 + j], 0x88);
    mb_ref_quantize_q8_0(x, y, 32);
    for (int j = 0; j < 34; j++)
        assert_int_equal(y[j], 0);
}

/* A row of n values from one of a few distributions. */
static void fill_row(float *x, size_t n, int kind)
{
    for (size_t i = 0; i < n; i++) {
        switch (kind % 4) {
        case 0:
            x[i] = gauss();
            break;
        case 1:
            x[i] = (float)(urand() * 2 - 1) * 0.05f;
            break;
        case 2:
            x[i] = gauss() * (urand() < 0.02 ? 30.0f : 1.0f);
            break;
        default:
            x[i] = (float)urand() + 2.0f; /* all positive, away from zero */
        }
    }
}

/*
 * Per-block error bounds of the 32-element types. e[j] = |x[j] - dequant|,
 * d the f32 scale before f16 rounding. Slack for the f16 rounding of the
 * scale (relative 2^-11) and float32 rounding (a few ulps of the block's range).
 */
static void check_block_bounds(uint32_t type, const float *x, const float *back)
{
    float amax = 0, mn = x[0], mx = x[0];
    for (int j = 0; j < 32; j++) {
        amax = fmaxf(amax, fabsf(x[j]));
        mn = fminf(mn, x[j]);
        mx = fmaxf(mx, x[j]);
    }
    const double h = 1.0 / 2048; /* f16 relative rounding */
    double bound;
    switch (type) {
    case MB_DTYPE_Q8_0: /* half a step of d = amax/127, plus 127 steps' f16 error */
        bound = amax / 127.0 * (0.5 + 127 * h);
        break;
    case MB_DTYPE_Q4_0: /* one step at the clamped extreme, plus 8 steps' f16 error */
        bound = amax / 8.0 * (1.0 + 8 * h);
        break;
    case MB_DTYPE_Q5_0:
        bound = amax / 16.0 * (1.0 + 16 * h);
        break;
    case MB_DTYPE_Q4_1: /* half a step of (max-min)/15, f16 error of d (15 steps) and of m */
        bound = (mx - mn) / 15.0 * (0.5 + 15 * h) + fabs(mn) * h;
        break;
    case MB_DTYPE_Q5_1:
        bound = (mx - mn) / 31.0 * (0.5 + 31 * h) + fabs(mn) * h;
        break;
    default:
        return;
    }
    bound = bound * (1 + 1e-5) + 4 * FLT_EPSILON * fmax(amax, 1e-30);
    for (int j = 0; j < 32; j++)
        if (fabs((double)x[j] - (double)back[j]) > bound)
            fail_msg("%s: |%g - %g| = %g exceeds the bound %g", mb_dtype_name(type), x[j], back[j],
                     fabs((double)x[j] - (double)back[j]), bound);
}

struct rmse_bound {
    uint32_t type;
    double max_rel; /* RMSE / RMS(x) on gaussian rows */
};

static void test_error_bounds(void **state)
{
    (void)state;
    /* relative RMSE on gaussian rows: measured (q4_K 0.071, q4_1 0.079, q4_0 0.085,
     * q5_1 0.039, q5_0 0.043, q6_K 0.018, q8_0 0.0053) plus about 15% */
    static const struct rmse_bound types[] = {
        { MB_DTYPE_F16, 0.0003 }, { MB_DTYPE_BF16, 0.002 }, { MB_DTYPE_Q8_0, 0.006 },
        { MB_DTYPE_Q6_K, 0.021 }, { MB_DTYPE_Q5_1, 0.045 }, { MB_DTYPE_Q5_0, 0.05 },
        { MB_DTYPE_Q4_K, 0.082 }, { MB_DTYPE_Q4_1, 0.09 },  { MB_DTYPE_Q4_0, 0.098 },
    };
    const size_t n = 4096;
    float *x = mb_malloc(n * sizeof(float)), *back = mb_malloc(n * sizeof(float));
    uint8_t *q = mb_malloc(n * 2);
    double rel_q4_0 = 0, rel_q4_k = 0;
    for (size_t ti = 0; ti < MB_ARRAY_LEN(types); ti++) {
        uint32_t t = types[ti].type;
        for (int kind = 0; kind < 4; kind++) {
            fill_row(x, n, kind);
            assert_true(mb_quantize_row(t, x, q, n));
            assert_true(mb_dequantize_row(t, q, back, n));
            double se = 0, ss = 0;
            for (size_t i = 0; i < n; i++) {
                double e = (double)x[i] - (double)back[i];
                se += e * e;
                ss += (double)x[i] * x[i];
            }
            if (t == MB_DTYPE_F16 || t == MB_DTYPE_BF16) {
                /* half an ulp; f16 subnormals have a fixed step of 2^-24 */
                double rel = t == MB_DTYPE_F16 ? 1.0 / 2048 : 1.0 / 256;
                double floor_ = t == MB_DTYPE_F16 ? ldexp(1.0, -25) : 0.0;
                for (size_t i = 0; i < n; i++)
                    assert_true(fabs((double)x[i] - back[i]) <=
                                fmax(fabs((double)x[i]) * rel, floor_));
            } else {
                for (size_t b = 0; b < n; b += 32)
                    check_block_bounds(t, x + b, back + b);
            }
            double rel = sqrt(se / ss);
            if (kind == 0) {
                if (getenv("MB_TEST_VERBOSE"))
                    print_message("%s: relative RMSE %.5f\n", mb_dtype_name(t), rel);
                if (rel > types[ti].max_rel)
                    fail_msg("%s: relative RMSE %.5f above %.5f", mb_dtype_name(t), rel,
                             types[ti].max_rel);
                if (t == MB_DTYPE_Q4_0)
                    rel_q4_0 = rel;
                if (t == MB_DTYPE_Q4_K)
                    rel_q4_k = rel;
            }
        }
    }
    /* the K-quant's scale search must beat the plain absmax scale at the same bits */
    assert_true(rel_q4_k > 0 && rel_q4_k < rel_q4_0);
    mb_free(x);
    mb_free(back);
    mb_free(q);
}

static void test_rows_independent(void **state)
{
    (void)state;
    static const uint32_t types[] = { MB_DTYPE_Q8_0, MB_DTYPE_Q4_0, MB_DTYPE_Q4_1, MB_DTYPE_Q5_0,
                                      MB_DTYPE_Q5_1, MB_DTYPE_Q4_K, MB_DTYPE_Q6_K, MB_DTYPE_F16 };
    const size_t row = 512, rows = 3;
    float x[512 * 3];
    fill_row(x, row * rows, 2);
    for (size_t i = 0; i < MB_ARRAY_LEN(types); i++) {
        uint64_t rb;
        assert_true(mb_dtype_row_size(types[i], row, &rb));
        uint8_t whole[2048 * 3], parts[2048 * 3];
        assert_true(mb_quantize_row(types[i], x, whole, row * rows));
        for (size_t r = 0; r < rows; r++)
            assert_true(mb_quantize_row(types[i], x + r * row, parts + r * rb, row));
        assert_memory_equal(whole, parts, rb * rows);
    }
}

static void test_unsupported(void **state)
{
    (void)state;
    float x[256] = { 1.0f };
    uint8_t y[1024];
    memset(y, 0xa5, sizeof(y));
    assert_false(mb_quantize_supported(MB_DTYPE_Q8_1));
    assert_false(mb_quantize_supported(MB_DTYPE_Q5_K));
    assert_false(mb_quantize_supported(MB_DTYPE_I8));
    assert_false(mb_quantize_supported(999));
    assert_false(mb_quantize_row(MB_DTYPE_Q5_K, x, y, 256));
    assert_false(mb_quantize_row(999, x, y, 256));
    assert_false(mb_quantize_row(MB_DTYPE_Q8_0, x, y, 33));  /* not whole blocks */
    assert_false(mb_quantize_row(MB_DTYPE_Q4_K, x, y, 224)); /* 256 does not divide */
    for (size_t i = 0; i < sizeof(y); i++)
        assert_int_equal(y[i], 0xa5);
    assert_true(mb_quantize_row(MB_DTYPE_Q4_K, x, y, 0)); /* zero elements: nothing to do */
    assert_true(mb_quantize_row(MB_DTYPE_F32, x, y, 4));
    assert_memory_equal(x, y, 16);
}

static void test_nonfinite(void **state)
{
    (void)state;
    static const uint32_t types[] = { MB_DTYPE_Q8_0, MB_DTYPE_Q4_0, MB_DTYPE_Q4_1,
                                      MB_DTYPE_Q5_0, MB_DTYPE_Q5_1, MB_DTYPE_Q4_K,
                                      MB_DTYPE_Q6_K, MB_DTYPE_F16,  MB_DTYPE_BF16 };
    float x[256];
    for (int i = 0; i < 256; i++)
        x[i] = (float)i / 100.0f;
    assert_int_equal(mb_quantize_find_nonfinite(x, 256), 256);
    const float bad[] = { NAN, INFINITY, -INFINITY, 3e38f };
    for (size_t b = 0; b < MB_ARRAY_LEN(bad); b++) {
        x[77] = bad[b];
        assert_int_equal(mb_quantize_find_nonfinite(x, 256), isfinite(bad[b]) ? 256 : 77);
        /* no undefined behaviour (UBSan) and no out-of-bounds write (ASan) */
        for (size_t i = 0; i < MB_ARRAY_LEN(types); i++) {
            uint8_t *y = mb_malloc(512);
            assert_true(mb_quantize_row(types[i], x, y, 256));
            mb_free(y);
        }
    }
}

static void test_f16_bf16(void **state)
{
    (void)state;
    const float x[4] = { 1.0f, 65520.0f, 1.0009765625f + 0.00048828125f, -0.0f };
    uint8_t y[8];
    assert_true(mb_quantize_row(MB_DTYPE_F16, x, y, 4));
    assert_int_equal(u16_at(y), 0x3c00);
    assert_int_equal(u16_at(y + 2), 0x7c00); /* rounds up to infinity */
    assert_int_equal(u16_at(y + 4), 0x3c02); /* tie between 0x3c01 and 0x3c02: to even */
    assert_int_equal(u16_at(y + 6), 0x8000);
    const float z[2] = { 1.00390625f, NAN }; /* 1 + 2^-8: a tie in bf16, to even (1.0) */
    assert_true(mb_quantize_row(MB_DTYPE_BF16, z, y, 2));
    assert_int_equal(u16_at(y), 0x3f80);
    assert_true((u16_at(y + 2) & 0x7fc0) == 0x7fc0); /* a quiet NaN */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_blocks), cmocka_unit_test(test_hand_blocks),
        cmocka_unit_test(test_error_bounds),  cmocka_unit_test(test_rows_independent),
        cmocka_unit_test(test_unsupported),   cmocka_unit_test(test_nonfinite),
        cmocka_unit_test(test_f16_bf16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
