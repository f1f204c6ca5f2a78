/*
 * alloc.c - the project's allocator entry points. With MB_DEBUG_ALLOC, the
 * environment variable MB_ALLOC_FAIL_AT=N makes the Nth allocation fail so
 * tests can walk every out-of-memory path (curl's torture tests).
 */
#include "mb_common.h"

#include <stdatomic.h>

#ifdef MB_DEBUG_ALLOC
static atomic_long alloc_count;
static long fail_at = -1;
static atomic_int fail_init;

/* True when this allocation should be made to fail. */
static bool should_fail(void)
{
    if (!atomic_exchange(&fail_init, 1)) {
        const char *s = getenv("MB_ALLOC_FAIL_AT");
        uint64_t v;
        if (s && mb_parse_u64(s, &v))
            fail_at = (long)v;
    }
    long n = atomic_fetch_add(&alloc_count, 1) + 1;
    return fail_at > 0 && n == fail_at;
}
/* In-process torture loops: count from zero again and fail the nth (0 = none). */
void mb_alloc_fail_at(long n)
{
    atomic_store(&fail_init, 1);
    fail_at = n;
    atomic_store(&alloc_count, 0);
}
#define FAIL_CHECK()       \
    do {                   \
        if (should_fail()) \
            return NULL;   \
    } while (0)
#else
#define FAIL_CHECK() \
    do {             \
    } while (0)
#endif

void *mb_malloc(size_t n)
{
    FAIL_CHECK();
    return malloc(n ? n : 1);
}

void *mb_calloc(size_t count, size_t size)
{
    FAIL_CHECK();
    if (!count || !size)
        return calloc(1, 1);
    return calloc(count, size);
}

void *mb_realloc(void *p, size_t n)
{
    FAIL_CHECK();
    return realloc(p, n ? n : 1);
}

void *mb_reallocarray(void *p, size_t count, size_t size)
{
    size_t total;
    if (!mb_mul_ok(count, size, &total))
        return NULL;
    return mb_realloc(p, total);
}

char *mb_strdup(const char *s)
{
    return mb_strndup(s, strlen(s));
}

char *mb_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = mb_malloc(len + 1);
    if (!p)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void mb_free(void *p)
{
    free(p);
}
