/*
 * model_tensor.c - GGUF tensors as weights in backend memory: look a tensor up
 * by name, check its shape and type against what the model needs, and either
 * borrow it from the file's mapping (a host-memory backend, aligned data: the
 * common case, zero copies) or copy it into a backend buffer once.
 */
#include "model_int.h"

#define WEIGHT_ALIGN 32u

uint64_t model_matrix_bytes(const struct mb_weight *w)
{
    uint64_t row, total;
    if (!mb_dtype_row_size(w->type, w->cols, &row) || !mb_mul_u64_ok(row, w->rows, &total))
        return 0;
    return total;
}

/* The tensor, or an error naming it. */
static int find(const struct mb_gguf *g, const char *name, const struct mb_gguf_tensor **t,
                struct mb_err *err)
{
    *t = mb_gguf_find_tensor(g, name);
    if (!*t)
        return mb_fail(err, MB_E_NOTFOUND, "%s: missing tensor '%s'", mb_gguf_name(g), name);
    return 0;
}

/* Borrow `data` or copy it into a new backend buffer (*owned). */
static int place(struct mb_backend *be, const void *data, size_t n, const void **out, void **owned,
                 struct mb_err *err)
{
    *owned = NULL;
    if (be->host_memory && ((uintptr_t)data % WEIGHT_ALIGN) == 0) {
        *out = data;
        return 0;
    }
    int rc = mb_backend_alloc(be, n, owned, err);
    if (rc)
        return rc;
    rc = mb_backend_upload(be, *owned, data, n, err);
    if (rc) {
        mb_backend_buf_free(be, *owned);
        *owned = NULL;
        return rc;
    }
    *out = *owned;
    return 0;
}

int model_matrix_load(const struct mb_gguf *g, struct mb_backend *be, const char *name, size_t rows,
                      size_t cols, struct mb_tensor_ref *out, struct mb_err *err)
{
    memset(out, 0, sizeof(*out));
    const struct mb_gguf_tensor *t;
    int rc = find(g, name, &t, err);
    if (rc)
        return rc;
    if (t->n_dims != 2 || t->dims[0] != cols || t->dims[1] != rows) {
        if (t->n_dims == 2)
            return mb_fail(err, MB_E_FORMAT,
                           "%s: tensor '%s' has shape %" PRIu64 " x %" PRIu64
                           ", expected %zu x %zu",
                           mb_gguf_name(g), name, t->dims[0], t->dims[1], cols, rows);
        return mb_fail(err, MB_E_FORMAT, "%s: tensor '%s' has %u dimensions, expected %zu x %zu",
                       mb_gguf_name(g), name, t->n_dims, cols, rows);
    }
    if (!mb_matmul_type_supported(t->type) || !mb_backend_supports(be, MB_OP_MATMUL, t->type))
        return mb_fail(err, MB_E_UNSUPPORTED,
                       "%s: tensor '%s' has type %s, which the %s backend cannot multiply",
                       mb_gguf_name(g), name, mb_dtype_name(t->type), be->name);
    out->w.type = t->type;
    out->w.rows = rows;
    out->w.cols = cols;
    uint64_t bytes = model_matrix_bytes(&out->w);
    if (bytes == 0 || bytes != t->nbytes || bytes > SIZE_MAX)
        return mb_fail(err, MB_E_FORMAT,
                       "%s: tensor '%s': %" PRIu64 " bytes do not match its shape", mb_gguf_name(g),
                       name, t->nbytes);
    return place(be, t->data, (size_t)bytes, &out->w.data, &out->owned, err);
}

int model_vector_load(const struct mb_gguf *g, struct mb_backend *be, const char *name, size_t n,
                      const float **out, void **owned, struct mb_err *err)
{
    *out = NULL;
    *owned = NULL;
    const struct mb_gguf_tensor *t;
    int rc = find(g, name, &t, err);
    if (rc)
        return rc;
    if (t->n_dims != 1 || t->dims[0] != n)
        return mb_fail(err, MB_E_FORMAT,
                       "%s: tensor '%s' has %" PRIu64 " elements in %u "
                       "dimensions, expected a vector of %zu",
                       mb_gguf_name(g), name, t->n_elements, t->n_dims, n);
    if (t->type == MB_DTYPE_F32) {
        const void *p;
        rc = place(be, t->data, n * sizeof(float), &p, owned, err);
        *out = p;
        return rc;
    }
    if (t->type != MB_DTYPE_F16 && t->type != MB_DTYPE_BF16)
        return mb_fail(err, MB_E_UNSUPPORTED,
                       "%s: tensor '%s' has type %s (expected f32, f16 or "
                       "bf16)",
                       mb_gguf_name(g), name, mb_dtype_name(t->type));
    /* Widen to f32 on the host, then place that copy. */
    float *tmp = mb_malloc(n * sizeof(float));
    if (!tmp)
        return mb_fail(err, MB_E_NOMEM, "out of memory converting tensor '%s'", name);
    mb_dequantize_row(t->type, t->data, tmp, n);
    rc = mb_backend_alloc(be, n * sizeof(float), owned, err);
    if (!rc)
        rc = mb_backend_upload(be, *owned, tmp, n * sizeof(float), err);
    mb_free(tmp);
    if (rc) {
        mb_backend_buf_free(be, *owned);
        *owned = NULL;
        return rc;
    }
    *out = *owned;
    return 0;
}

void model_tensor_release(struct mb_backend *be, struct mb_tensor_ref *t)
{
    if (t->owned)
        mb_backend_buf_free(be, t->owned);
    memset(t, 0, sizeof(*t));
}
