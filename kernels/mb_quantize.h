/*
 * mb_quantize.h - quantization of float32 rows into ggml's block types: the
 * scalar reference quantizers (kernels/ref/quantize.c, quantize_k.c) that
 * `gguf quantize` and `pack quantize` run on every row of a weight tensor.
 *
 * Bit-compatibility. For the same float32 input the output bytes are those of
 * ggml's quantize_row_*_ref() - the functions llama.cpp's quantizer calls when
 * it has no importance matrix - and of gguf-py's gguf.quants.quantize() for the
 * types gguf-py implements:
 *   F16, BF16           round to nearest even (BF16: NaN forced quiet)
 *   Q8_0                d = amax / 127 (f32), q = roundf(x * (1/d)), d stored as f16
 *   Q4_0, Q5_0          d = signed max / -8 (-16), q = min(15 (31), trunc(x/d + 8.5 (16.5)))
 *   Q4_1, Q5_1          d = (max - min) / 15 (31), m = min, q = trunc((x - m)/d + 0.5)
 *   Q4_K                per 32-element sub-block a (scale, min) search over 20 candidate
 *                       scales weighted by sqrt(mean x^2) + |x| (make_qkx2_quants),
 *                       6-bit sub-block scales and mins against f16 super-block d, dmin
 *   Q6_K                per 16-element sub-block a scale search over 19 candidates
 *                       weighted by x^2 (make_qx_quants), 8-bit sub-block scales
 * Every division, product and sum is the float32 operation ggml performs, in
 * ggml's order, without fused multiply-add (this file set is compiled with
 * contraction off), so the results do not depend on the compiler or the CPU.
 * Whether llama.cpp's own binary reproduces them depends on how it was compiled
 * (a build that contracts a*b+c into FMA inside the K-quant searches can pick
 * another candidate in rare blocks); docs/quantization.md reports what we measured.
 *
 * Input. Rows must be finite: a NaN or infinity makes ggml's casts undefined and
 * its output meaningless. These functions never invoke undefined behaviour (they
 * clamp where ggml casts), but callers should refuse such rows first:
 * mb_quantize_find_nonfinite() finds the first bad element.
 *
 * Thread safety: pure functions of their arguments; call from any thread.
 */
#ifndef MB_QUANTIZE_H
#define MB_QUANTIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * True when mb_quantize_row() writes `type` (an enum mb_dtype value): F32,
 * F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K and Q6_K.
 */
bool mb_quantize_supported(uint32_t type);

/*
 * Quantize n float32 values from src into dst: n / block_len blocks of the
 * type's layout (mb_dtype.h), mb_dtype_row_size(type, n) bytes, little-endian.
 * Returns false, writing nothing, when the type is not supported or n is not
 * a multiple of its block length (32, or 256 for Q4_K and Q6_K). src and dst
 * must not overlap; dst needs no alignment. Blocks are independent, so a whole
 * tensor may be one call or one call per row with the same bytes.
 */
bool mb_quantize_row(uint32_t type, const float *src, void *dst, size_t n);

/* The index of the first NaN or infinity in x[0..n), or n when all are finite. */
size_t mb_quantize_find_nonfinite(const float *x, size_t n);

/*
 * The ggml block routines themselves, for tests and callers that already know
 * the type: k elements (a multiple of the block length), y the output blocks.
 */
void mb_ref_quantize_q8_0(const float *x, void *y, size_t k);
void mb_ref_quantize_q4_0(const float *x, void *y, size_t k);
void mb_ref_quantize_q4_1(const float *x, void *y, size_t k);
void mb_ref_quantize_q5_0(const float *x, void *y, size_t k);
void mb_ref_quantize_q5_1(const float *x, void *y, size_t k);
void mb_ref_quantize_q4_k(const float *x, void *y, size_t k);
void mb_ref_quantize_q6_k(const float *x, void *y, size_t k);

#ifdef __cplusplus
}
#endif

#endif /* MB_QUANTIZE_H */
