/*
 * topk.c - the top-k op's descriptor check (shared by every backend) and its
 * reference oracle (mb_topk.h): a sorted insertion list, obviously right.
 */
#include "mb_topk.h"

#include <math.h>

int mb_topk_check(const struct mb_topk_args *a, struct mb_err *err)
{
    if (!a || !a->x || !a->vals || !a->ids)
        return mb_fail(err, MB_E_USAGE, "topk: NULL pointer in the descriptor");
    if (a->n == 0 || a->n > INT32_MAX)
        return mb_fail(err, MB_E_USAGE, "topk: row length %zu is out of range", a->n);
    if (a->k == 0 || a->k > a->n || a->k > MB_TOPK_MAX)
        return mb_fail(err, MB_E_USAGE, "topk: k = %zu must be 1 to min(%zu, %d)", a->k, a->n,
                       MB_TOPK_MAX);
    return 0;
}

/* a before b in the sampler's order: larger value, then lower index. */
static bool before(float va, int32_t ia, float vb, int32_t ib)
{
    return va > vb || (va == vb && ia < ib);
}

int mb_ref_topk(const struct mb_topk_args *a, struct mb_err *err)
{
    int rc = mb_topk_check(a, err);
    if (rc)
        return rc;
    size_t have = 0;
    for (size_t i = 0; i < a->n; i++) {
        float v = isnan(a->x[i]) ? -INFINITY : a->x[i];
        int32_t id = (int32_t)i;
        if (have == a->k && !before(v, id, a->vals[have - 1], a->ids[have - 1]))
            continue;
        size_t j = have < a->k ? have++ : have - 1;
        while (j > 0 && before(v, id, a->vals[j - 1], a->ids[j - 1])) {
            a->vals[j] = a->vals[j - 1];
            a->ids[j] = a->ids[j - 1];
            j--;
        }
        a->vals[j] = v;
        a->ids[j] = id;
    }
    return 0;
}
