/*
 * test_threadpool.c - the fork/join pool and the CPU feature queries: every
 * index of a parallel for is visited exactly once over thousands of rounds
 * (races would double or drop indices), jobs see distinct thread numbers,
 * workers that went to sleep on the futex wake for the next job, and bad
 * thread counts are errors.
 */
#include "mb_test.h"
#include "mb_kernels.h"

#include <stdatomic.h>
#include <unistd.h>

#define MAXN 4096

static atomic_int hits[MAXN];
static atomic_int which[MB_POOL_MAX_THREADS];
static atomic_int bad; /* set by jobs (cmocka asserts only on the main thread) */

static void count_range(void *arg, size_t begin, size_t end, unsigned ith)
{
    (void)arg;
    if (ith >= MB_POOL_MAX_THREADS)
        atomic_store(&bad, 1);
    for (size_t i = begin; i < end; i++)
        atomic_fetch_add(&hits[i], 1);
}

static void mark_thread(void *arg, unsigned ith, unsigned nth)
{
    unsigned *expect_nth = arg;
    if (nth != *expect_nth || ith >= nth)
        atomic_store(&bad, 1);
    else
        atomic_fetch_add(&which[ith], 1);
}

static void test_for_covers_once(void **state)
{
    (void)state;
    struct mb_err err;
    for (unsigned threads = 1; threads <= 4; threads++) {
        struct mb_pool *pool;
        MB_ASSERT_OK(mb_pool_new(threads, &pool, &err), &err);
        assert_int_equal(mb_pool_size(pool), threads);
        for (int round = 0; round < 1000; round++) {
            size_t n = (size_t)(round * 37 % MAXN) + 1, grain = (size_t)(round % 13) + 1;
            for (size_t i = 0; i < n; i++)
                atomic_store(&hits[i], 0);
            mb_pool_for(pool, n, grain, count_range, NULL);
            for (size_t i = 0; i < n; i++)
                if (atomic_load(&hits[i]) != 1)
                    fail_msg("threads %u round %d: index %zu of %zu visited %d times", threads,
                             round, i, n, atomic_load(&hits[i]));
        }
        mb_pool_free(pool);
    }
    assert_int_equal(atomic_load(&bad), 0);
}

static void test_run_thread_ids(void **state)
{
    (void)state;
    struct mb_err err;
    struct mb_pool *pool;
    MB_ASSERT_OK(mb_pool_new(3, &pool, &err), &err);
    for (unsigned nth = 1; nth <= 3; nth++) {
        for (unsigned i = 0; i < 3; i++)
            atomic_store(&which[i], 0);
        for (int round = 0; round < 500; round++)
            mb_pool_run(pool, nth, mark_thread, &nth);
        for (unsigned i = 0; i < 3; i++)
            assert_int_equal(atomic_load(&which[i]), i < nth ? 500 : 0);
    }
    /* 0 and more than the pool mean "all threads". */
    unsigned all = 3;
    mb_pool_run(pool, 0, mark_thread, &all);
    mb_pool_run(pool, 99, mark_thread, &all);
    mb_pool_free(pool);
    assert_int_equal(atomic_load(&bad), 0);
}

static void test_wake_after_sleep(void **state)
{
    (void)state;
    struct mb_err err;
    struct mb_pool *pool;
    setenv("MB_POOL_SPIN_US", "0", 1); /* workers go straight to the futex */
    MB_ASSERT_OK(mb_pool_new(2, &pool, &err), &err);
    unsetenv("MB_POOL_SPIN_US");
    unsigned two = 2;
    for (int round = 0; round < 20; round++) {
        atomic_store(&which[1], 0);
        usleep(2000); /* the worker is asleep now */
        mb_pool_run(pool, 2, mark_thread, &two);
        assert_int_equal(atomic_load(&which[1]), 1);
    }
    mb_pool_free(pool);
}

static void test_bad_counts(void **state)
{
    (void)state;
    struct mb_err err;
    struct mb_pool *pool = (struct mb_pool *)&err; /* must be reset to NULL */
    assert_int_equal(mb_pool_new(MB_POOL_MAX_THREADS + 1, &pool, &err), MB_E_USAGE);
    assert_null(pool);
    assert_non_null(strstr(err.msg, "thread count"));
    MB_ASSERT_OK(mb_pool_new(0, &pool, &err), &err);
    assert_int_equal(mb_pool_size(pool), mb_cpu_count());
    mb_pool_free(pool);
    mb_pool_free(NULL);
}

static void test_cpu_features(void **state)
{
    (void)state;
    assert_true(mb_cpu_count() >= 1);
    assert_true(mb_cpu_isa_supported(MB_CPU_ISA_SCALAR));
    assert_true(mb_cpu_isa_supported(mb_cpu_isa_default()));
    for (int i = 0; i < MB_CPU_ISA_COUNT; i++) {
        enum mb_cpu_isa back;
        assert_true(mb_cpu_isa_from_name(mb_cpu_isa_name((enum mb_cpu_isa)i), &back));
        assert_int_equal(back, i);
        /* A level implies the ones below it. */
        if (mb_cpu_isa_supported((enum mb_cpu_isa)i) && i > 0)
            assert_true(mb_cpu_isa_supported((enum mb_cpu_isa)(i - 1)));
    }
    enum mb_cpu_isa x;
    assert_false(mb_cpu_isa_from_name("sse9", &x));
    assert_string_equal(mb_cpu_isa_name(MB_CPU_ISA_COUNT), "?");
    print_message("cpu: %u cores, default level %s\n", mb_cpu_count(),
                  mb_cpu_isa_name(mb_cpu_isa_default()));

    /* A backend forced to a level the CPU lacks is refused. */
    struct mb_err err;
    struct mb_backend *be;
    for (int i = 0; i < MB_CPU_ISA_COUNT; i++) {
        struct mb_cpu_opts o = { .n_threads = 1, .force_isa = true, .isa = (enum mb_cpu_isa)i };
        int rc = mb_backend_cpu_new(&o, &be, &err);
        if (mb_cpu_isa_supported((enum mb_cpu_isa)i)) {
            MB_ASSERT_OK(rc, &err);
            assert_int_equal(mb_backend_cpu_isa(be), i);
            assert_int_equal(mb_backend_cpu_threads(be), 1);
            assert_true(be->host_memory);
            mb_backend_free(be);
        } else {
            assert_int_equal(rc, MB_E_UNSUPPORTED);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_for_covers_once),  cmocka_unit_test(test_run_thread_ids),
        cmocka_unit_test(test_wake_after_sleep), cmocka_unit_test(test_bad_counts),
        cmocka_unit_test(test_cpu_features),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
