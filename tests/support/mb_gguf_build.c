/*
 * mb_gguf_build.c - the byte-level GGUF builder of mb_gguf_build.h.
 */
#include "mb_gguf_build.h"
#include "mb_test.h"

void mb_gb_bytes(struct mb_buf *b, const void *p, size_t n)
{
    struct mb_err err;
    if (mb_buf_append(b, p, n, &err))
        fail_msg("mb_gb_bytes: %s", err.msg);
}

void mb_gb_u8(struct mb_buf *b, uint8_t v)
{
    mb_gb_bytes(b, &v, 1);
}

void mb_gb_u16(struct mb_buf *b, uint16_t v)
{
    uint8_t p[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
    mb_gb_bytes(b, p, 2);
}

void mb_gb_u32(struct mb_buf *b, uint32_t v)
{
    uint8_t p[4];
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    mb_gb_bytes(b, p, 4);
}

void mb_gb_u64(struct mb_buf *b, uint64_t v)
{
    uint8_t p[8];
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    mb_gb_bytes(b, p, 8);
}

void mb_gb_f32(struct mb_buf *b, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    mb_gb_u32(b, u);
}

void mb_gb_f64(struct mb_buf *b, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    mb_gb_u64(b, u);
}

void mb_gb_str(struct mb_buf *b, const char *s)
{
    size_t n = strlen(s);
    mb_gb_u64(b, n);
    mb_gb_bytes(b, s, n);
}

void mb_gb_header(struct mb_buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    mb_gb_bytes(b, "GGUF", 4);
    mb_gb_u32(b, version);
    mb_gb_u64(b, n_tensors);
    mb_gb_u64(b, n_kv);
}

void mb_gb_key(struct mb_buf *b, const char *key, uint32_t type)
{
    mb_gb_str(b, key);
    mb_gb_u32(b, type);
}

void mb_gb_tensor_info(struct mb_buf *b, const char *name, uint32_t n_dims, const uint64_t *dims,
                       uint32_t type, uint64_t offset)
{
    mb_gb_str(b, name);
    mb_gb_u32(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++)
        mb_gb_u64(b, dims[i]);
    mb_gb_u32(b, type);
    mb_gb_u64(b, offset);
}

void mb_gb_pad(struct mb_buf *b, size_t align)
{
    while (b->n % align)
        mb_gb_u8(b, 0);
}
