/*
 * mb_dequant.h - dequantization of tensor rows to float32: the scalar
 * reference (kernels/ref/dequant.c) that every faster path and every test is
 * checked against.
 *
 * The results are bit-identical to ggml's dequantize_row_* and to gguf-py's
 * gguf.quants.dequantize for every type listed below: each element is computed
 * with the same float32 operations in the same order (Q4_K: d*sc and dmin*m
 * as float32 products first, then (d*sc)*q - dmin*m). The block layouts are
 * in mb_dtype.h.
 *
 * Thread safety: pure functions of their arguments; call from any thread.
 */
#ifndef MB_DEQUANT_H
#define MB_DEQUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * True when mb_dequantize_row() handles `type` (an enum mb_dtype value):
 * F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K.
 */
bool mb_dequantize_supported(uint32_t type);

/*
 * Dequantize n elements of `type` from `src` (n / block_len blocks of the
 * type's layout, little-endian, any alignment) into dst[0..n). Returns false,
 * writing nothing, when the type is not supported or n is not a multiple of
 * the type's block length (32 or 256 for quantized types, 1 otherwise).
 * src and dst must not overlap. A whole tensor is one call: its rows are
 * contiguous and each row is a whole number of blocks.
 */
bool mb_dequantize_row(uint32_t type, const void *src, float *dst, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* MB_DEQUANT_H */
