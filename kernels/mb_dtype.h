/*
 * mb_dtype.h - tensor element types, bit-compatible with ggml: the type ids
 * GGUF files store, the block layouts of the quantized types, and a traits
 * table (name, elements per block, bytes per block). fp16/bf16 scalar
 * conversions are exact IEEE (round to nearest even), matching ggml.
 *
 * Block layouts (little-endian, packed, as ggml-common.h defines them):
 *   Q4_0  32 el, 18 B: f16 d; u8 qs[16]              x = d * (q - 8)
 *   Q4_1  32 el, 20 B: f16 d, m; u8 qs[16]           x = d * q + m
 *   Q5_0  32 el, 22 B: f16 d; u8 qh[4]; u8 qs[16]    x = d * (q - 16)
 *   Q5_1  32 el, 24 B: f16 d, m; u8 qh[4]; u8 qs[16] x = d * q + m
 *   Q8_0  32 el, 34 B: f16 d; i8 qs[32]              x = d * q
 *   Q8_1  32 el, 36 B: f16 d, s; i8 qs[32]           (activations; s = d * sum(q))
 *   Q4_K 256 el,144 B: f16 d, dmin; u8 scales[12]; u8 qs[128]
 *   Q5_K 256 el,176 B: f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]
 *   Q6_K 256 el,210 B: u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d
 *   Q8_K 256 el,292 B: f32 d; i8 qs[256]; i16 bsums[16] (activations)
 * In Q4_0/Q4_1/Q5_x a byte's low nibble is element j, its high nibble element j+16.
 */
#ifndef MB_DTYPE_H
#define MB_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ggml's type ids (values stored in GGUF tensor infos; never renumber). */
enum mb_dtype {
    MB_DTYPE_F32 = 0,
    MB_DTYPE_F16 = 1,
    MB_DTYPE_Q4_0 = 2,
    MB_DTYPE_Q4_1 = 3,
    MB_DTYPE_Q5_0 = 6,
    MB_DTYPE_Q5_1 = 7,
    MB_DTYPE_Q8_0 = 8,
    MB_DTYPE_Q8_1 = 9,
    MB_DTYPE_Q2_K = 10,
    MB_DTYPE_Q3_K = 11,
    MB_DTYPE_Q4_K = 12,
    MB_DTYPE_Q5_K = 13,
    MB_DTYPE_Q6_K = 14,
    MB_DTYPE_Q8_K = 15,
    MB_DTYPE_I8 = 24,
    MB_DTYPE_I16 = 25,
    MB_DTYPE_I32 = 26,
    MB_DTYPE_I64 = 27,
    MB_DTYPE_F64 = 28,
    MB_DTYPE_BF16 = 30,
    MB_DTYPE_COUNT = 40 /* upper bound of the id space we know */
};

#define MB_QK4_0        32
#define MB_QK4_1        32
#define MB_QK5_0        32
#define MB_QK5_1        32
#define MB_QK8_0        32
#define MB_QK8_1        32
#define MB_QK_K         256
#define MB_K_SCALE_SIZE 12

typedef uint16_t mb_f16;  /* IEEE half, raw bits */
typedef uint16_t mb_bf16; /* bfloat16, raw bits */

struct mb_block_q4_0 {
    mb_f16 d;
    uint8_t qs[MB_QK4_0 / 2];
};
struct mb_block_q4_1 {
    mb_f16 d;
    mb_f16 m;
    uint8_t qs[MB_QK4_1 / 2];
};
struct mb_block_q5_0 {
    mb_f16 d;
    uint8_t qh[4];
    uint8_t qs[MB_QK5_0 / 2];
};
struct mb_block_q5_1 {
    mb_f16 d;
    mb_f16 m;
    uint8_t qh[4];
    uint8_t qs[MB_QK5_1 / 2];
};
struct mb_block_q8_0 {
    mb_f16 d;
    int8_t qs[MB_QK8_0];
};
struct mb_block_q8_1 {
    mb_f16 d;
    mb_f16 s;
    int8_t qs[MB_QK8_1];
};
struct mb_block_q4_k {
    mb_f16 d;
    mb_f16 dmin;
    uint8_t scales[MB_K_SCALE_SIZE];
    uint8_t qs[MB_QK_K / 2];
};
struct mb_block_q5_k {
    mb_f16 d;
    mb_f16 dmin;
    uint8_t scales[MB_K_SCALE_SIZE];
    uint8_t qh[MB_QK_K / 8];
    uint8_t qs[MB_QK_K / 2];
};
struct mb_block_q6_k {
    uint8_t ql[MB_QK_K / 2];
    uint8_t qh[MB_QK_K / 4];
    int8_t scales[MB_QK_K / 16];
    mb_f16 d;
};
struct mb_block_q8_k {
    float d;
    int8_t qs[MB_QK_K];
    int16_t bsums[MB_QK_K / 16];
};

#ifndef __cplusplus
_Static_assert(sizeof(struct mb_block_q4_0) == 18, "q4_0 block size");
_Static_assert(sizeof(struct mb_block_q4_1) == 20, "q4_1 block size");
_Static_assert(sizeof(struct mb_block_q5_0) == 22, "q5_0 block size");
_Static_assert(sizeof(struct mb_block_q5_1) == 24, "q5_1 block size");
_Static_assert(sizeof(struct mb_block_q8_0) == 34, "q8_0 block size");
_Static_assert(sizeof(struct mb_block_q8_1) == 36, "q8_1 block size");
_Static_assert(sizeof(struct mb_block_q4_k) == 144, "q4_K block size");
_Static_assert(sizeof(struct mb_block_q5_k) == 176, "q5_K block size");
_Static_assert(sizeof(struct mb_block_q6_k) == 210, "q6_K block size");
_Static_assert(sizeof(struct mb_block_q8_k) == 292, "q8_K block size");
#endif

struct mb_dtype_traits {
    const char *name;    /* ggml's name: "f32", "q4_0", "q4_K", "bf16" */
    uint32_t block_len;  /* elements per block (1 for plain types) */
    uint32_t block_size; /* bytes per block */
    bool quantized;
    bool supported; /* we read it (dequantize, matvec) */
};

/* Traits of a type id, or NULL for an id we do not know. */
const struct mb_dtype_traits *mb_dtype_traits(uint32_t type);
/* The type's name, or "unknown". */
const char *mb_dtype_name(uint32_t type);
/* Look a type up by name (case-insensitive: "q4_k" == "q4_K"); false if unknown. */
bool mb_dtype_from_name(const char *name, enum mb_dtype *out);
/*
 * Bytes of a row of n elements; false when the type is unknown, n is not a
 * multiple of the block length, or the size overflows.
 */
bool mb_dtype_row_size(uint32_t type, uint64_t n, uint64_t *bytes);

/* Exact IEEE conversions (round to nearest even; NaN stays NaN). */
float mb_f16_to_f32(mb_f16 h);
mb_f16 mb_f32_to_f16(float f);
float mb_bf16_to_f32(mb_bf16 h);
mb_bf16 mb_f32_to_bf16(float f);

#ifdef __cplusplus
}
#endif

#endif /* MB_DTYPE_H */
