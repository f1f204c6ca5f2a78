/*
 * test_dtype.c - the type traits table and the fp16/bf16 conversions: every
 * one of the 65,536 half values round-trips through f32 exactly, rounding of
 * f32 to f16 is to nearest even, and bf16 rounding matches ggml's rule.
 */
#include "mb_test.h"
#include "mb_kernels.h"

#include <math.h>

static void test_traits(void **state)
{
    (void)state;
    assert_string_equal(mb_dtype_name(MB_DTYPE_Q4_K), "q4_K");
    assert_string_equal(mb_dtype_name(99), "unknown");
    assert_null(mb_dtype_traits(4)); /* removed ggml type id */
    enum mb_dtype t;
    assert_true(mb_dtype_from_name("Q4_k", &t));
    assert_int_equal(t, MB_DTYPE_Q4_K);
    assert_false(mb_dtype_from_name("q9_9", &t));
    uint64_t bytes;
    assert_true(mb_dtype_row_size(MB_DTYPE_Q4_1, 576, &bytes));
    assert_int_equal(bytes, 576 / 32 * 20);
    assert_false(mb_dtype_row_size(MB_DTYPE_Q4_K, 576, &bytes)); /* not a multiple of 256 */
    assert_false(mb_dtype_row_size(MB_DTYPE_F32, UINT64_MAX / 2, &bytes));
}

static void test_f16(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = mb_f16_to_f32((mb_f16)h);
        if (isnan(f))
            continue;
        assert_int_equal(mb_f32_to_f16(f), h);
    }
    assert_true(mb_f16_to_f32(0x3c00) == 1.0f);
    assert_true(mb_f16_to_f32(0x0001) == 5.9604644775390625e-08f);
    assert_int_equal(mb_f32_to_f16(65520.0f), 0x7c00); /* rounds to inf */
    assert_int_equal(mb_f32_to_f16(65519.0f), 0x7bff);
    /* 1 + 2^-11 is exactly halfway between 1 and 1+2^-10: ties to even (1.0). */
    assert_int_equal(mb_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);
    assert_int_equal(mb_f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
    assert_true(isnan(mb_f16_to_f32(mb_f32_to_f16(NAN))));
}

static void test_bf16(void **state)
{
    (void)state;
    assert_true(mb_bf16_to_f32(0x3f80) == 1.0f);
    assert_int_equal(mb_f32_to_bf16(1.0f), 0x3f80);
    /* 1 + 2^-8 is halfway: ties to even -> 1.0; slightly above rounds up. */
    assert_int_equal(mb_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);
    assert_int_equal(mb_f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);
    assert_true(isnan(mb_bf16_to_f32(mb_f32_to_bf16(NAN))));
}

static void test_cuda_probe(void **state)
{
    (void)state;
    struct mb_err err;
    int n = -1;
    int rc = mb_cuda_device_count(&n, &err);
    if (!mb_cuda_compiled()) {
        assert_int_equal(rc, MB_E_UNSUPPORTED);
    } else if (rc != 0) {
        /* No GPU or driver: an error, never a crash. */
        assert_int_equal(rc, MB_E_CUDA);
        assert_true(strlen(err.msg) > 0);
        print_message("skipped: no CUDA device (%s)\n", err.msg);
    } else {
        assert_true(n > 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_traits),
        cmocka_unit_test(test_f16),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_cuda_probe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
