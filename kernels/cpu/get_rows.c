/*
 * get_rows.c - the CPU embedding lookup: one dequantized weight row per token
 * id, with mb_dequantize_row (the exact ggml conversion). A decode step looks
 * up one row of a few hundred elements, so this stays scalar; a long prompt's
 * rows are spread over the pool.
 */
#include "cpu_int.h"
#include "mb_dequant.h"

struct rows_job {
    const struct mb_get_rows_args *a;
    size_t row_bytes;
};

static void get_range(void *arg, size_t begin, size_t end, unsigned ith)
{
    (void)ith;
    const struct rows_job *j = arg;
    const struct mb_get_rows_args *a = j->a;
    for (size_t i = begin; i < end; i++) {
        const uint8_t *src = (const uint8_t *)a->w.data + (size_t)a->ids[i] * j->row_bytes;
        mb_dequantize_row(a->w.type, src, a->y + i * a->y_stride, a->w.cols);
    }
}

int cpu_get_rows(struct cpu_backend *cpu, const struct mb_get_rows_args *a, struct mb_err *err)
{
    int rc = mb_get_rows_check(a, err);
    if (rc < 0)
        return rc;
    if (!mb_dequantize_supported(a->w.type))
        return mb_fail(err, MB_E_UNSUPPORTED, "get_rows: type %s cannot be dequantized",
                       mb_dtype_name(a->w.type));
    for (size_t i = 0; i < a->n; i++)
        if (a->ids[i] < 0 || (size_t)a->ids[i] >= a->w.rows)
            return mb_fail(err, MB_E_FORMAT, "get_rows: id %d of row %zu is outside 0..%zu",
                           (int)a->ids[i], i, a->w.rows - 1);
    uint64_t row_bytes;
    mb_dtype_row_size(a->w.type, a->w.cols, &row_bytes);
    struct rows_job j = { a, (size_t)row_bytes };
    size_t grain = a->n * a->w.cols < 32 * 1024 ? a->n : MB_MAX((size_t)1, 8192 / a->w.cols);
    mb_pool_for(cpu->pool, a->n, grain, get_range, &j);
    return 0;
}
