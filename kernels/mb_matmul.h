/*
 * mb_matmul.h - the matrix products of the forward pass and the embedding
 * lookup, as op descriptors that every backend (CPU, CUDA) runs the same way.
 *
 * A weight matrix is used exactly as GGUF stores it: `rows` rows (output
 * features, ggml's ne1) of `cols` elements (input features, ne0) in its own
 * type, rows packed one after another (row size = mb_dtype_row_size(type, cols)).
 * Quantized weights are never dequantized as a whole: like ggml, a backend
 * quantizes the activations once per op into 8-bit blocks (Q8_0 for Q4_0/Q5_0/
 * Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K for the K-quants) and takes integer dot
 * products block by block. F32, F16 and BF16 weights take f32 activations.
 *
 *     y[i][j] (+)= sum_k x[i][k] * W[j][k]        i < m (tokens), j < rows
 *
 * All pointers are in the backend's memory (host memory for the CPU backend,
 * device memory for CUDA). Activations and outputs are f32, row-major with a
 * stride in elements. The descriptors borrow everything; nothing is freed.
 */
#ifndef MB_MATMUL_H
#define MB_MATMUL_H

#include "mb_common.h"
#include "mb_dtype.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A weight matrix in its GGUF layout (see above). */
struct mb_weight {
    const void *data;
    uint32_t type; /* enum mb_dtype */
    size_t rows;   /* output features (ne1) */
    size_t cols;   /* input features (ne0), a multiple of the type's block length */
};

/* Up to this many products may share one input (Q/K/V, gate/up): one op, one fork/join. */
#define MB_MATMUL_MAX_OUT 3

/* One product of a matmul op: y (+)= x * w^T. */
struct mb_matmul_out {
    struct mb_weight w; /* w.cols == the op's k */
    float *y;           /* m rows of w.rows floats */
    size_t y_stride;    /* elements between rows of y (>= w.rows; ignored when m == 1) */
    bool accumulate;    /* y += x * w^T (a fused residual add) instead of y = */
};

/*
 * y_o = x * W_o^T for o < n_out, x being m rows of k floats. m == 1 is the
 * decode matvec; m > 1 (prefill) reuses each weight block across rows. The
 * outputs must not overlap x or each other.
 */
struct mb_matmul_args {
    const float *x;
    size_t m;
    size_t k;
    size_t x_stride; /* elements between rows of x (>= k; ignored when m == 1) */
    unsigned n_out;  /* 1 .. MB_MATMUL_MAX_OUT */
    struct mb_matmul_out out[MB_MATMUL_MAX_OUT];
};

/*
 * Embedding lookup: y[i] = dequantize(w row ids[i]) for i < n. ids live in
 * backend memory; an id >= w.rows is an error (MB_E_FORMAT) on the CPU.
 */
struct mb_get_rows_args {
    struct mb_weight w;
    const int32_t *ids;
    size_t n;
    float *y;
    size_t y_stride; /* elements between output rows (>= w.cols) */
};

/* Weight types the matmul and get_rows ops accept. */
bool mb_matmul_type_supported(uint32_t type);

/*
 * Check a descriptor's shapes and types (shared by every backend, never looks
 * at the data): MB_E_UNSUPPORTED for a weight type no backend multiplies,
 * MB_E_USAGE for inconsistent sizes, strides, overflow or NULL pointers.
 */
int mb_matmul_check(const struct mb_matmul_args *a, struct mb_err *err);
int mb_get_rows_check(const struct mb_get_rows_args *a, struct mb_err *err);

/*
 * The activation format a matmul of weight type `wtype` quantizes its input
 * to: MB_DTYPE_Q8_0 (Q4_0, Q5_0, Q8_0), MB_DTYPE_Q8_1 (Q4_1, Q5_1),
 * MB_DTYPE_Q8_K (Q4_K, Q5_K, Q6_K), MB_DTYPE_F32 (F32, F16, BF16: no
 * quantization); MB_DTYPE_COUNT for an unsupported type.
 */
uint32_t mb_matmul_act_type(uint32_t wtype);

/*
 * Reference activation quantization, for error bounds in tests: quantize x
 * (k floats) as a matmul with weight type `wtype` does (ggml's rules, see
 * kernels/cpu/cpu_int.h) and write the values the integer kernels multiply,
 * xq[i] = d_b * q_i. For Q8_1, the kernels use the stored f16 s_b instead of
 * d_b * sum(q) in the "+m" term; s_err[b] (k/32 floats, may be NULL)
 * receives |s_b - d_b * sum(q)|, else 0. MB_E_USAGE for an unsupported type
 * or a k that is not a multiple of the block length.
 */
int mb_ref_quantize_act(uint32_t wtype, const float *x, size_t k, float *xq, float *s_err,
                        struct mb_err *err);

/*
 * The reference oracle (kernels/ref/): dequantizes each weight row with
 * mb_dequantize_row and accumulates in double. Slow, simple, obviously right;
 * tests compare every backend against it. Returns mb_matmul_check's errors,
 * MB_E_NOMEM, or MB_E_FORMAT for a bad id.
 */
int mb_ref_matmul(const struct mb_matmul_args *a, struct mb_err *err);
int mb_ref_get_rows(const struct mb_get_rows_args *a, struct mb_err *err);

#ifdef __cplusplus
}
#endif

#endif /* MB_MATMUL_H */
