/*
 * check.c - descriptor validation shared by every backend and the reference
 * oracle: shapes, strides, types and overflow are checked here once, so a
 * backend's op entry only adds what it can see of the data (ids, positions).
 * These never touch the data, so they work on device pointers too.
 */
#include "mb_backend.h"

#include <math.h>

static const char *const op_names[MB_OP_COUNT] = {
    [MB_OP_MATMUL] = "matmul",   [MB_OP_GET_ROWS] = "get_rows", [MB_OP_RMSNORM] = "rmsnorm",
    [MB_OP_ROPE] = "rope",       [MB_OP_KV_STORE] = "kv_store", [MB_OP_ATTENTION] = "attention",
    [MB_OP_SOFTMAX] = "softmax", [MB_OP_SILU_MUL] = "silu_mul", [MB_OP_ADD] = "add",
    [MB_OP_SCALE] = "scale",     [MB_OP_AXPY] = "axpy",         [MB_OP_TOPK] = "topk",
};

const char *mb_op_name(enum mb_op op)
{
    if ((unsigned)op >= MB_OP_COUNT)
        return "?";
    return op_names[op];
}

/* True when m rows of n elements, stride apart, fit in size_t elements of `size` bytes. */
static bool span_ok(size_t m, size_t stride, size_t n, size_t size)
{
    size_t last, total, bytes;
    if (m == 0 || n == 0)
        return false;
    if (m > 1 && stride < n)
        return false;
    if (!mb_mul_ok(m - 1, m > 1 ? stride : 0, &last) || !mb_add_ok(last, n, &total))
        return false;
    return mb_mul_ok(total, size, &bytes);
}

bool mb_matmul_type_supported(uint32_t type)
{
    switch (type) {
    case MB_DTYPE_F32:
    case MB_DTYPE_F16:
    case MB_DTYPE_BF16:
    case MB_DTYPE_Q4_0:
    case MB_DTYPE_Q4_1:
    case MB_DTYPE_Q5_0:
    case MB_DTYPE_Q5_1:
    case MB_DTYPE_Q8_0:
    case MB_DTYPE_Q4_K:
    case MB_DTYPE_Q5_K:
    case MB_DTYPE_Q6_K:
        return true;
    default:
        return false;
    }
}

/* A weight matrix's type, shape and size. */
static int check_weight(const struct mb_weight *w, const char *op, struct mb_err *err)
{
    if (!mb_matmul_type_supported(w->type))
        return mb_fail(err, MB_E_UNSUPPORTED, "%s: weight type %s (%u) is not supported", op,
                       mb_dtype_name(w->type), w->type);
    if (!w->data)
        return mb_fail(err, MB_E_USAGE, "%s: weight data is NULL", op);
    uint64_t row_bytes, total;
    if (w->rows == 0 || w->cols == 0 || !mb_dtype_row_size(w->type, w->cols, &row_bytes))
        return mb_fail(err, MB_E_USAGE, "%s: weight shape %zux%zu is invalid for type %s", op,
                       w->rows, w->cols, mb_dtype_name(w->type));
    if (!mb_mul_u64_ok(row_bytes, w->rows, &total) || total > (uint64_t)SIZE_MAX)
        return mb_fail(err, MB_E_USAGE, "%s: weight of %zux%zu overflows", op, w->rows, w->cols);
    return 0;
}

int mb_matmul_check(const struct mb_matmul_args *a, struct mb_err *err)
{
    if (!a->x)
        return mb_fail(err, MB_E_USAGE, "matmul: input is NULL");
    if (a->n_out < 1 || a->n_out > MB_MATMUL_MAX_OUT)
        return mb_fail(err, MB_E_USAGE, "matmul: %u outputs (1 to %d allowed)", a->n_out,
                       MB_MATMUL_MAX_OUT);
    if (!span_ok(a->m, a->x_stride, a->k, sizeof(float)))
        return mb_fail(err, MB_E_USAGE, "matmul: input of %zu rows of %zu (stride %zu) is invalid",
                       a->m, a->k, a->x_stride);
    for (unsigned o = 0; o < a->n_out; o++) {
        const struct mb_matmul_out *out = &a->out[o];
        int rc = check_weight(&out->w, "matmul", err);
        if (rc < 0)
            return rc;
        if (out->w.cols != a->k)
            return mb_fail(err, MB_E_USAGE, "matmul: output %u has %zu columns, input has %zu", o,
                           out->w.cols, a->k);
        if (!out->y)
            return mb_fail(err, MB_E_USAGE, "matmul: output %u is NULL", o);
        if (!span_ok(a->m, out->y_stride, out->w.rows, sizeof(float)))
            return mb_fail(err, MB_E_USAGE,
                           "matmul: output %u of %zu rows of %zu (stride %zu) is invalid", o, a->m,
                           out->w.rows, out->y_stride);
    }
    return 0;
}

int mb_get_rows_check(const struct mb_get_rows_args *a, struct mb_err *err)
{
    int rc = check_weight(&a->w, "get_rows", err);
    if (rc < 0)
        return rc;
    if (!a->ids || !a->y)
        return mb_fail(err, MB_E_USAGE, "get_rows: ids or output is NULL");
    if (!span_ok(a->n, a->y_stride, a->w.cols, sizeof(float)))
        return mb_fail(err, MB_E_USAGE,
                       "get_rows: output of %zu rows of %zu (stride %zu) is invalid", a->n,
                       a->w.cols, a->y_stride);
    return 0;
}

int mb_rmsnorm_check(const struct mb_rmsnorm_args *a, struct mb_err *err)
{
    if (!a->x || !a->y)
        return mb_fail(err, MB_E_USAGE, "rmsnorm: input or output is NULL");
    if (!span_ok(a->m, a->x_stride, a->n, sizeof(float)) ||
        !span_ok(a->m, a->y_stride, a->n, sizeof(float)))
        return mb_fail(err, MB_E_USAGE, "rmsnorm: %zu rows of %zu (strides %zu, %zu) are invalid",
                       a->m, a->n, a->x_stride, a->y_stride);
    if (!(a->eps >= 0.0f) || isinf(a->eps))
        return mb_fail(err, MB_E_USAGE, "rmsnorm: epsilon %g is invalid", (double)a->eps);
    return 0;
}

int mb_rope_check(const struct mb_rope_args *a, struct mb_err *err)
{
    if (!a->x || !a->pos)
        return mb_fail(err, MB_E_USAGE, "rope: data or positions are NULL");
    size_t width;
    if (a->n_head == 0 || a->head_dim == 0 || !mb_mul_ok(a->n_head, a->head_dim, &width) ||
        !span_ok(a->m, a->x_stride, width, sizeof(float)))
        return mb_fail(err, MB_E_USAGE,
                       "rope: %zu rows of %zu heads of %zu (stride %zu) are invalid", a->m,
                       a->n_head, a->head_dim, a->x_stride);
    if (a->n_rot == 0 || a->n_rot % 2 || a->n_rot > a->head_dim)
        return mb_fail(err, MB_E_USAGE, "rope: %zu rotated dimensions of %zu is invalid", a->n_rot,
                       a->head_dim);
    if (a->mode != MB_ROPE_NORMAL && a->mode != MB_ROPE_NEOX)
        return mb_fail(err, MB_E_USAGE, "rope: mode %d is unknown", (int)a->mode);
    if (!(a->freq_base > 0.0f) || isinf(a->freq_base) || !(a->freq_scale > 0.0f) ||
        isinf(a->freq_scale))
        return mb_fail(err, MB_E_USAGE, "rope: frequency base %g / scale %g are invalid",
                       (double)a->freq_base, (double)a->freq_scale);
    return 0;
}

bool mb_kv_cache_bytes(uint32_t type, size_t n_ctx, size_t n_kv_head, size_t head_dim,
                       size_t *bytes)
{
    size_t el = type == MB_DTYPE_F32 ? 4 : type == MB_DTYPE_F16 ? 2 : 0;
    size_t a, b;
    return el && mb_mul_ok(n_ctx, n_kv_head, &a) && mb_mul_ok(a, head_dim, &b) &&
           mb_mul_ok(b, el, bytes);
}

static int check_cache(const struct mb_kv_cache *c, const char *op, struct mb_err *err)
{
    if (c->type != MB_DTYPE_F32 && c->type != MB_DTYPE_F16)
        return mb_fail(err, MB_E_UNSUPPORTED, "%s: cache type %s is not supported (f32, f16)", op,
                       mb_dtype_name(c->type));
    size_t bytes;
    if (!c->k || !c->v || c->n_ctx == 0 || c->n_kv_head == 0 || c->head_dim == 0 ||
        !mb_kv_cache_bytes(c->type, c->n_ctx, c->n_kv_head, c->head_dim, &bytes) ||
        c->n_ctx > INT32_MAX)
        return mb_fail(err, MB_E_USAGE, "%s: cache of %zu positions x %zu heads x %zu is invalid",
                       op, c->n_ctx, c->n_kv_head, c->head_dim);
    return 0;
}

int mb_kv_store_check(const struct mb_kv_store_args *a, struct mb_err *err)
{
    int rc = check_cache(&a->cache, "kv_store", err);
    if (rc < 0)
        return rc;
    size_t width = a->cache.n_kv_head * a->cache.head_dim;
    if (!a->k || !a->v || !a->pos)
        return mb_fail(err, MB_E_USAGE, "kv_store: k, v or positions are NULL");
    if (!span_ok(a->m, a->k_stride, width, sizeof(float)) ||
        !span_ok(a->m, a->v_stride, width, sizeof(float)))
        return mb_fail(err, MB_E_USAGE, "kv_store: %zu rows of %zu (strides %zu, %zu) are invalid",
                       a->m, width, a->k_stride, a->v_stride);
    return 0;
}

int mb_attention_check(const struct mb_attention_args *a, struct mb_err *err)
{
    int rc = check_cache(&a->cache, "attention", err);
    if (rc < 0)
        return rc;
    if (!a->q || !a->out || !a->pos)
        return mb_fail(err, MB_E_USAGE, "attention: q, output or positions are NULL");
    size_t width;
    if (a->n_head == 0 || a->n_head % a->cache.n_kv_head ||
        !mb_mul_ok(a->n_head, a->cache.head_dim, &width))
        return mb_fail(err, MB_E_USAGE, "attention: %zu query heads for %zu KV heads is invalid",
                       a->n_head, a->cache.n_kv_head);
    if (!span_ok(a->m, a->q_stride, width, sizeof(float)) ||
        !span_ok(a->m, a->out_stride, width, sizeof(float)))
        return mb_fail(err, MB_E_USAGE, "attention: %zu rows of %zu (strides %zu, %zu) are invalid",
                       a->m, width, a->q_stride, a->out_stride);
    if (!isfinite(a->scale))
        return mb_fail(err, MB_E_USAGE, "attention: scale %g is invalid", (double)a->scale);
    return 0;
}

int mb_softmax_check(const struct mb_softmax_args *a, struct mb_err *err)
{
    if (!a->x || !span_ok(a->m, a->stride, a->n, sizeof(float)))
        return mb_fail(err, MB_E_USAGE, "softmax: %zu rows of %zu (stride %zu) are invalid", a->m,
                       a->n, a->stride);
    if (!isfinite(a->scale))
        return mb_fail(err, MB_E_USAGE, "softmax: scale %g is invalid", (double)a->scale);
    return 0;
}

static int check_vec(const void *p, const void *q, const void *y, size_t n, const char *op,
                     struct mb_err *err)
{
    if (!p || !q || !y)
        return mb_fail(err, MB_E_USAGE, "%s: an operand is NULL", op);
    if (!span_ok(1, 0, n, sizeof(float)))
        return mb_fail(err, MB_E_USAGE, "%s: length %zu is invalid", op, n);
    return 0;
}

int mb_silu_mul_check(const struct mb_silu_mul_args *a, struct mb_err *err)
{
    return check_vec(a->gate, a->up, a->y, a->n, "silu_mul", err);
}

int mb_add_check(const struct mb_add_args *a, struct mb_err *err)
{
    return check_vec(a->a, a->b, a->y, a->n, "add", err);
}

int mb_scale_check(const struct mb_scale_args *a, struct mb_err *err)
{
    int rc = check_vec(a->x, a->x, a->y, a->n, "scale", err);
    if (rc == 0 && !isfinite(a->s))
        return mb_fail(err, MB_E_USAGE, "scale: factor %g is invalid", (double)a->s);
    return rc;
}

int mb_axpy_check(const struct mb_axpy_args *a, struct mb_err *err)
{
    int rc = check_vec(a->x, a->x, a->y, a->n, "axpy", err);
    if (rc == 0 && !isfinite(a->w))
        return mb_fail(err, MB_E_USAGE, "axpy: weight %g is invalid", (double)a->w);
    return rc;
}
