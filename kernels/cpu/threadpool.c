/*
 * threadpool.c - the fork/join pool of mb_threadpool.h.
 *
 * Waking. One generation counter is the futex word: the caller publishes a
 * job and bumps it; workers spin on it for MB_POOL_SPIN_US, then sleep in
 * FUTEX_WAIT until the next bump. The sleeper count and the counter are both
 * sequentially consistent, so either the caller sees a sleeper and wakes it,
 * or the worker sees the new generation and never sleeps (and FUTEX_WAIT
 * itself rechecks the word).
 *
 * Two kinds of job, told apart by the low bit of the generation (so a worker
 * knows the kind of exactly the generation it observed):
 *  - mb_pool_run: every thread has a role (ith), so the caller waits until
 *    every worker has checked in.
 *  - mb_pool_for: chunks are claimed from a counter tagged with the job's
 *    generation, and the caller waits only until every chunk is done, not
 *    for every worker. On a shared machine a worker may be descheduled for a
 *    whole time slice; the caller then takes its chunks instead of waiting.
 *    A worker that wakes late reads the job's fields, then tries to claim
 *    with its generation's tag: if the caller has moved on, the tag differs,
 *    the claim fails, and the (possibly newer) fields it read are discarded.
 *    The caller writes the tag before the fields and the workers read the
 *    fields before the tag (a seqlock's fences), so a claim that succeeds
 *    always pairs with that job's fields.
 */
#include "mb_threadpool.h"
#include "mb_cpu.h"

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() __asm__ __volatile__("" ::: "memory")
#endif

/* The generation's low bit says which kind of job it publishes. */
enum job_kind { JOB_RUN = 0, JOB_FOR = 1 };

struct worker {
    pthread_t thread;
    struct mb_pool *pool;
    unsigned ith;
};

struct mb_pool {
    unsigned n;
    struct worker *workers; /* n - 1 */
    uint64_t spin_ns;

    _Alignas(64) unsigned gen; /* the futex word, accessed with __atomic builtins */
    atomic_uint sleepers;
    atomic_bool stop;

    /* mb_pool_run: written before gen is bumped, stable until every worker checked in */
    _Alignas(64) atomic_uint pending;
    mb_pool_fn fn;
    void *arg;
    unsigned nth;

    /* mb_pool_for: the claim counter is (generation << 32) | next chunk */
    _Alignas(64) _Atomic uint64_t claim;
    _Alignas(64) atomic_size_t done;
    _Atomic(mb_pool_range_fn) for_fn;
    _Atomic(void *) for_arg;
    atomic_size_t for_n, for_grain;
};

static void futex_wait(unsigned *word, unsigned expected)
{
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake_all(unsigned *word)
{
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Wait for the generation to move past `seen`: spin first, then sleep. */
static unsigned wait_gen(struct mb_pool *pool, unsigned seen)
{
    unsigned g;
    uint64_t start = 0;
    for (unsigned i = 0;; i++) {
        g = __atomic_load_n(&pool->gen, __ATOMIC_ACQUIRE);
        if (g != seen)
            return g;
        cpu_relax();
        if ((i & 255) == 255) {
            uint64_t now = mb_now_ns();
            if (!start)
                start = now;
            else if (now - start > pool->spin_ns)
                break;
        }
    }
    atomic_fetch_add(&pool->sleepers, 1);
    while ((g = __atomic_load_n(&pool->gen, __ATOMIC_SEQ_CST)) == seen)
        futex_wait(&pool->gen, seen);
    atomic_fetch_sub(&pool->sleepers, 1);
    return g;
}

/* Claim and run chunks of the parallel for published as generation `tag`. */
static void for_work(struct mb_pool *pool, unsigned tag, unsigned ith)
{
    mb_pool_range_fn fn = atomic_load_explicit(&pool->for_fn, memory_order_relaxed);
    void *arg = atomic_load_explicit(&pool->for_arg, memory_order_relaxed);
    size_t n = atomic_load_explicit(&pool->for_n, memory_order_relaxed);
    size_t grain = atomic_load_explicit(&pool->for_grain, memory_order_relaxed);
    atomic_thread_fence(memory_order_acquire); /* fields before the tag */
    const size_t chunks = grain ? (n + grain - 1) / grain : 0;
    uint64_t c = atomic_load_explicit(&pool->claim, memory_order_relaxed);
    for (;;) {
        if ((unsigned)(c >> 32) != tag || (size_t)(uint32_t)c >= chunks)
            return;
        if (!atomic_compare_exchange_weak_explicit(&pool->claim, &c, c + 1, memory_order_acquire,
                                                   memory_order_relaxed))
            continue;
        size_t b = (size_t)(uint32_t)c * grain;
        fn(arg, b, MB_MIN(b + grain, n), ith);
        atomic_fetch_add_explicit(&pool->done, 1, memory_order_release);
        c = atomic_load_explicit(&pool->claim, memory_order_relaxed);
    }
}

static void *worker_main(void *p)
{
    struct worker *w = p;
    struct mb_pool *pool = w->pool;
    unsigned seen = 0;
    for (;;) {
        seen = wait_gen(pool, seen);
        if (atomic_load_explicit(&pool->stop, memory_order_acquire))
            break;
        if ((seen & 1u) == JOB_FOR) {
            for_work(pool, seen, w->ith);
            continue;
        }
        if (w->ith < pool->nth)
            pool->fn(pool->arg, w->ith, pool->nth);
        atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_release);
    }
    return NULL;
}

/* The generation the next job of this kind will be published as. */
static unsigned next_gen(const struct mb_pool *pool, enum job_kind kind)
{
    unsigned g = __atomic_load_n(&pool->gen, __ATOMIC_RELAXED);
    return (((g >> 1) + 1) << 1) | (unsigned)kind;
}

int mb_pool_new(unsigned n_threads, struct mb_pool **out, struct mb_err *err)
{
    *out = NULL;
    if (n_threads == 0)
        n_threads = mb_cpu_count();
    if (n_threads > MB_POOL_MAX_THREADS)
        return mb_fail(err, MB_E_USAGE, "thread count %u is above the limit of %u", n_threads,
                       MB_POOL_MAX_THREADS);
    struct mb_pool *pool = mb_calloc(1, sizeof(*pool));
    if (!pool)
        return mb_fail(err, MB_E_NOMEM, "out of memory creating a thread pool");
    pool->n = n_threads;
    pool->nth = 1;
    pool->spin_ns = 200 * 1000;
    const char *env = getenv("MB_POOL_SPIN_US");
    uint64_t us;
    if (env && mb_parse_u64(env, &us) && us < 10u * 1000 * 1000)
        pool->spin_ns = us * 1000;
    atomic_init(&pool->sleepers, 0);
    atomic_init(&pool->stop, false);
    atomic_init(&pool->pending, 0);
    atomic_init(&pool->claim, 0);
    atomic_init(&pool->done, 0);
    atomic_init(&pool->for_fn, NULL);
    atomic_init(&pool->for_arg, NULL);
    atomic_init(&pool->for_n, 0);
    atomic_init(&pool->for_grain, 0);
    if (n_threads > 1) {
        pool->workers = mb_calloc(n_threads - 1, sizeof(*pool->workers));
        if (!pool->workers) {
            mb_free(pool);
            return mb_fail(err, MB_E_NOMEM, "out of memory creating a thread pool");
        }
    }
    for (unsigned i = 1; i < n_threads; i++) {
        struct worker *w = &pool->workers[i - 1];
        w->pool = pool;
        w->ith = i;
        int rc = pthread_create(&w->thread, NULL, worker_main, w);
        if (rc != 0) {
            pool->n = i; /* join the ones already started */
            mb_pool_free(pool);
            return mb_fail(err, MB_E_NOMEM, "cannot start worker thread %u of %u: %s", i, n_threads,
                           strerror(rc));
        }
    }
    *out = pool;
    return 0;
}

void mb_pool_free(struct mb_pool *pool)
{
    if (!pool)
        return;
    if (pool->n > 1) {
        atomic_store_explicit(&pool->stop, true, memory_order_release);
        __atomic_store_n(&pool->gen, next_gen(pool, JOB_RUN), __ATOMIC_SEQ_CST);
        futex_wake_all(&pool->gen);
        for (unsigned i = 1; i < pool->n; i++)
            pthread_join(pool->workers[i - 1].thread, NULL);
    }
    mb_free(pool->workers);
    mb_free(pool);
}

unsigned mb_pool_size(const struct mb_pool *pool)
{
    return pool->n;
}

/*
 * Move to generation g (publishing everything written before: only this
 * thread writes the counter) and wake sleepers.
 */
static void publish(struct mb_pool *pool, unsigned g)
{
    __atomic_store_n(&pool->gen, g, __ATOMIC_SEQ_CST);
    if (atomic_load(&pool->sleepers) > 0)
        futex_wake_all(&pool->gen);
}

void mb_pool_run(struct mb_pool *pool, unsigned nth, mb_pool_fn fn, void *arg)
{
    if (nth == 0 || nth > pool->n)
        nth = pool->n;
    if (nth == 1) {
        fn(arg, 0, 1);
        return;
    }
    pool->fn = fn;
    pool->arg = arg;
    pool->nth = nth;
    atomic_store_explicit(&pool->pending, pool->n - 1, memory_order_relaxed);
    publish(pool, next_gen(pool, JOB_RUN));
    fn(arg, 0, nth);
    for (unsigned i = 0; atomic_load_explicit(&pool->pending, memory_order_acquire) != 0; i++) {
        cpu_relax();
        if ((i & 1023) == 1023)
            sched_yield(); /* a worker was descheduled: let it run */
    }
}

void mb_pool_for(struct mb_pool *pool, size_t n, size_t grain, mb_pool_range_fn fn, void *arg)
{
    if (n == 0)
        return;
    if (grain == 0)
        grain = 1;
    if (n <= grain || pool->n == 1) {
        fn(arg, 0, n, 0);
        return;
    }
    size_t chunks = (n + grain - 1) / grain;
    if (chunks > UINT32_MAX) { /* the claim counter holds 32 bits of chunk index */
        grain = (n + UINT32_MAX - 1) / UINT32_MAX;
        chunks = (n + grain - 1) / grain;
    }
    /* The generation this job will be published as tags its claims. */
    const unsigned tag = next_gen(pool, JOB_FOR);
    atomic_store_explicit(&pool->done, 0, memory_order_relaxed);
    atomic_store_explicit(&pool->claim, (uint64_t)tag << 32, memory_order_relaxed);
    atomic_thread_fence(memory_order_release); /* the tag before the fields */
    atomic_store_explicit(&pool->for_fn, fn, memory_order_relaxed);
    atomic_store_explicit(&pool->for_arg, arg, memory_order_relaxed);
    atomic_store_explicit(&pool->for_n, n, memory_order_relaxed);
    atomic_store_explicit(&pool->for_grain, grain, memory_order_relaxed);
    publish(pool, tag);
    for_work(pool, tag, 0);
    for (unsigned i = 0; atomic_load_explicit(&pool->done, memory_order_acquire) < chunks; i++) {
        cpu_relax();
        if ((i & 1023) == 1023)
            sched_yield(); /* a worker holding a chunk was descheduled */
    }
}
