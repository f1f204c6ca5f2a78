/*
 * test_alloc_fail.c - the debug allocator's in-process failure injection
 * (mb_alloc_fail_at, MB_DEBUG_ALLOC builds): the nth allocation after the
 * call fails, the others succeed, and 0 turns it off. Skipped (77) in builds
 * without MB_DEBUG_ALLOC.
 */
#include "mb_test.h"

#ifdef MB_DEBUG_ALLOC
static void test_nth_fails(void **unused)
{
    (void)unused;
    mb_alloc_fail_at(3);
    void *a = mb_malloc(8), *b = mb_calloc(2, 8), *c = mb_malloc(8), *d = mb_strdup("x");
    assert_non_null(a);
    assert_non_null(b);
    assert_null(c);
    assert_non_null(d);
    mb_free(a);
    mb_free(b);
    mb_free(d);
    mb_alloc_fail_at(0);
    for (int i = 0; i < 100; i++) {
        void *p = mb_malloc(16);
        assert_non_null(p);
        mb_free(p);
    }
}
#endif

int main(void)
{
#ifdef MB_DEBUG_ALLOC
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_nth_fails) };
    return cmocka_run_group_tests(tests, NULL, NULL);
#else
    return MB_TEST_SKIP;
#endif
}
