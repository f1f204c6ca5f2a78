/*
 * model_int.h - internals shared by the model files of runtime/ (model_*.c,
 * stack.c, session.c): fetching a GGUF tensor as a checked weight matrix or
 * vector in backend memory. Nothing outside runtime/ includes this.
 */
#ifndef MB_MODEL_INT_H
#define MB_MODEL_INT_H

#include <inttypes.h>

#include "mb_model.h"

/*
 * The tensor `name` of g as a weight matrix of `rows` x `cols` (GGUF dims
 * [cols, rows]) whose type the backend multiplies. Borrowed from the mapping
 * when the backend uses host memory and the data is 32-byte aligned, else
 * copied into a backend buffer (out->owned). Errors name the tensor: missing
 * (MB_E_NOTFOUND), wrong shape (MB_E_FORMAT), unsupported type (MB_E_UNSUPPORTED).
 */
int model_matrix_load(const struct mb_gguf *g, struct mb_backend *be, const char *name, size_t rows,
                      size_t cols, struct mb_tensor_ref *out, struct mb_err *err);

/*
 * The 1-D tensor `name` of n elements as f32 in backend memory: F32 data is
 * borrowed like a matrix; F16/BF16 are converted into an owned buffer (*owned,
 * which the caller frees with mb_backend_buf_free).
 */
int model_vector_load(const struct mb_gguf *g, struct mb_backend *be, const char *name, size_t n,
                      const float **out, void **owned, struct mb_err *err);

/* Free an owned copy (no-op when borrowed). */
void model_tensor_release(struct mb_backend *be, struct mb_tensor_ref *t);

/* The row size of a matrix in bytes (rows * row bytes); 0 on overflow. */
uint64_t model_matrix_bytes(const struct mb_weight *w);

#endif /* MB_MODEL_INT_H */
