/*
 * topk.c - the CPU backend's top-k op (mb_topk.h): a heap of the k best seen
 * so far (O(n log k)), then the k sorted. The logits are already in host
 * memory on the CPU, so the runtime rarely calls this; it exists so that the
 * op has the same meaning on every backend and the tests compare them.
 */
#include "cpu_int.h"

#include <math.h>

struct cand {
    float v;
    int32_t id;
};

static bool before(const struct cand *a, const struct cand *b)
{
    return a->v > b->v || (a->v == b->v && a->id < b->id);
}

/* Restore the min-heap (worst candidate at the root) below i. */
static void sift_down(struct cand *c, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && before(&c[w], &c[l]))
            w = l;
        if (r < n && before(&c[w], &c[r]))
            w = r;
        if (w == i)
            return;
        struct cand t = c[i];
        c[i] = c[w];
        c[w] = t;
        i = w;
    }
}

int cpu_topk(struct cpu_backend *cpu, const struct mb_topk_args *a, struct mb_err *err)
{
    int rc = mb_topk_check(a, err);
    if (rc < 0)
        return rc;
    (void)cpu;
    struct cand heap[MB_TOPK_MAX];
    const size_t k = a->k;
    for (size_t i = 0; i < k; i++)
        heap[i] = (struct cand){ isnan(a->x[i]) ? -INFINITY : a->x[i], (int32_t)i };
    for (size_t i = k / 2; i-- > 0;)
        sift_down(heap, k, i);
    for (size_t i = k; i < a->n; i++) {
        struct cand c = { isnan(a->x[i]) ? -INFINITY : a->x[i], (int32_t)i };
        if (before(&c, &heap[0])) {
            heap[0] = c;
            sift_down(heap, k, 0);
        }
    }
    /* Pop the worst to the back: the array ends sorted best first. */
    for (size_t n = k; n > 1; n--) {
        struct cand t = heap[0];
        heap[0] = heap[n - 1];
        heap[n - 1] = t;
        sift_down(heap, n - 1, 0);
    }
    for (size_t i = 0; i < k; i++) {
        a->vals[i] = heap[i].v;
        a->ids[i] = heap[i].id;
    }
    return 0;
}
