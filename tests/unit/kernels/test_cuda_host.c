/*
 * test_cuda_host.c - the CUDA backend's block decoding (dequantization and
 * the int8 kernels' unpacking of every weight type) compiled for the host and
 * checked against the reference, so those layouts are tested on machines
 * without a GPU too (mb_cuda_host_selftest). Exits 77 when the build has no
 * CUDA backend.
 */
#include "mb_test.h"
#include "mb_kernels.h"

static void test_host_selftest(void **state)
{
    (void)state;
    struct mb_err err;
    for (uint64_t seed = 1; seed <= 5; seed++)
        MB_ASSERT_OK(mb_cuda_host_selftest(seed * 0x9e3779b97f4a7c15ull, &err), &err);
}

int main(void)
{
    if (!mb_cuda_compiled()) {
        printf("skipped: this build has no CUDA backend\n");
        return MB_TEST_SKIP;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_selftest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
