/*
 * mb_gguf_build.h - a byte-level GGUF builder for tests: it writes exactly the
 * bytes it is told (header, keys, values, tensor infos, padding, data), with
 * none of the writer's checks, so tests can build both valid files
 * independently of runtime/gguf_write.c and every kind of malformed one.
 */
#ifndef MB_GGUF_BUILD_H
#define MB_GGUF_BUILD_H

#include "mb_common.h"

/* Appenders (assert on allocation failure). Multi-byte values are little-endian. */
void mb_gb_bytes(struct mb_buf *b, const void *p, size_t n);
void mb_gb_u8(struct mb_buf *b, uint8_t v);
void mb_gb_u16(struct mb_buf *b, uint16_t v);
void mb_gb_u32(struct mb_buf *b, uint32_t v);
void mb_gb_u64(struct mb_buf *b, uint64_t v);
void mb_gb_f32(struct mb_buf *b, float v);
void mb_gb_f64(struct mb_buf *b, double v);
/* A GGUF string: u64 length + bytes. */
void mb_gb_str(struct mb_buf *b, const char *s);
/* Header: magic "GGUF", version, tensor count, kv count. */
void mb_gb_header(struct mb_buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv);
/* A key and its value type; the caller appends the value. */
void mb_gb_key(struct mb_buf *b, const char *key, uint32_t type);
/* A tensor info: name, n_dims, dims, type, offset. */
void mb_gb_tensor_info(struct mb_buf *b, const char *name, uint32_t n_dims, const uint64_t *dims,
                       uint32_t type, uint64_t offset);
/* Zero bytes up to the next multiple of `align` (of the buffer's length). */
void mb_gb_pad(struct mb_buf *b, size_t align);

/*
 * A small valid GGUF file (version 2 or 3) with one KV of every value type
 * (nested arrays included) and three tensors: "a.f32" f32 [4], "b.q8" q8_0
 * [32, 2], "c.q4k" q4_K [256], at offsets 0, 32 and 128 of the data section,
 * the last ending exactly at the end of the file. Initialises b; returns the
 * data section's offset.
 */
#define MB_GB_SAMPLE_KV 17
size_t mb_gb_sample(struct mb_buf *b, uint32_t version);

#endif /* MB_GGUF_BUILD_H */
