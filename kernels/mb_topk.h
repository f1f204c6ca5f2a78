/*
 * mb_topk.h - the k largest values of a row (a token's logits) with their
 * indices, computed where the logits live. A device backend hands the
 * sampler these few candidates instead of copying the whole vocabulary back
 * after every token: greedy decoding needs k = 1, llama.cpp's default chain
 * (top-k 40 first) needs k = 40.
 *
 * Order: larger value first; equal values by lower index, the sampler's own
 * order (runtime/sampler.c), so a candidate list and a full sort agree
 * exactly. NaN counts as -inf (the sampler's rule); -inf values are returned
 * like any other when fewer than k finite values exist.
 */
#ifndef MB_TOPK_H
#define MB_TOPK_H

#include "mb_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest k an op accepts. */
#define MB_TOPK_MAX 256

struct mb_topk_args {
    const float *x; /* n values, backend memory */
    size_t n;       /* 1 .. INT32_MAX */
    size_t k;       /* 1 .. min(n, MB_TOPK_MAX) */
    float *vals;    /* k values, best first (NaN written as -inf), backend memory */
    int32_t *ids;   /* k indices into x, backend memory */
};

/* MB_E_USAGE for NULL pointers, n == 0, k == 0, k > n or k > MB_TOPK_MAX. */
int mb_topk_check(const struct mb_topk_args *a, struct mb_err *err);
/* The reference oracle: insertion into a sorted list of k (O(n k)). */
int mb_ref_topk(const struct mb_topk_args *a, struct mb_err *err);

#ifdef __cplusplus
}
#endif

#endif /* MB_TOPK_H */
