/*
 * mb_threadpool.h - a fork/join thread pool for the CPU kernels. A decode step
 * runs a few hundred small parallel ops, so the cost of one fork/join matters
 * more than anything else here: workers spin on a generation counter for a
 * short while after each job (MB_POOL_SPIN_US, default 200 microseconds) and
 * then sleep on a futex; the calling thread always takes part as thread 0.
 *
 * Usage:
 *     struct mb_pool *pool;
 *     if (mb_pool_new(0, &pool, &err) < 0) ...      // 0 = one thread per core
 *     mb_pool_run(pool, 0, fn, arg);                // fn(arg, ith, nth) on every thread
 *     mb_pool_for(pool, n, 16, range_fn, arg);      // chunks of [0, n) handed out dynamically
 *     mb_pool_free(pool);
 *
 * Thread safety: one pool serves one calling thread at a time (the runtime's
 * forward pass); jobs must not call back into the same pool.
 */
#ifndef MB_THREADPOOL_H
#define MB_THREADPOOL_H

#include "mb_common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MB_POOL_MAX_THREADS 256

struct mb_pool;

/* A job: runs on threads ith = 0 .. nth-1 at once. */
typedef void (*mb_pool_fn)(void *arg, unsigned ith, unsigned nth);
/* A range body of mb_pool_for: process [begin, end) on thread ith. */
typedef void (*mb_pool_range_fn)(void *arg, size_t begin, size_t end, unsigned ith);

/*
 * A pool of n_threads threads in total, the caller included (n_threads - 1
 * workers are started); 0 means mb_cpu_count(). Fails with MB_E_NOMEM, or
 * MB_E_USAGE for more than MB_POOL_MAX_THREADS. Free with mb_pool_free.
 */
int mb_pool_new(unsigned n_threads, struct mb_pool **out, struct mb_err *err);

/* Stop and join the workers, free the pool. NULL is a no-op. */
void mb_pool_free(struct mb_pool *pool);

/* Threads in the pool, the caller included. */
unsigned mb_pool_size(const struct mb_pool *pool);

/*
 * Run fn(arg, ith, nth) on nth threads (0 or more than the pool = all) and
 * return when every one has finished. nth == 1 calls fn directly.
 */
void mb_pool_run(struct mb_pool *pool, unsigned nth, mb_pool_fn fn, void *arg);

/*
 * Parallel for over [0, n): chunks of `grain` items (the last may be shorter)
 * are handed out dynamically, so a thread that falls behind (the machine is
 * shared) gets less work. Runs inline when n <= grain or the pool has one thread.
 */
void mb_pool_for(struct mb_pool *pool, size_t n, size_t grain, mb_pool_range_fn fn, void *arg);

#ifdef __cplusplus
}
#endif

#endif /* MB_THREADPOOL_H */
