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

enum { T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64, T_I64, T_F64 };

/* A valid file with every value type and three tensors; returns the data offset. */
size_t mb_gb_sample(struct mb_buf *b, uint32_t version)
{
    mb_buf_init(b, 1 << 20);
    mb_gb_header(b, version, 3, MB_GB_SAMPLE_KV);
    mb_gb_key(b, "general.architecture", T_STR);
    mb_gb_str(b, "llama");
    mb_gb_key(b, "t.u8", T_U8);
    mb_gb_u8(b, 200);
    mb_gb_key(b, "t.i8", T_I8);
    mb_gb_u8(b, (uint8_t)-100);
    mb_gb_key(b, "t.u16", T_U16);
    mb_gb_u16(b, 60000);
    mb_gb_key(b, "t.i16", T_I16);
    mb_gb_u16(b, (uint16_t)-30000);
    mb_gb_key(b, "t.u32", T_U32);
    mb_gb_u32(b, 4000000000u);
    mb_gb_key(b, "t.i32", T_I32);
    mb_gb_u32(b, (uint32_t)-2000000000);
    mb_gb_key(b, "t.f32", T_F32);
    mb_gb_f32(b, 1.5f);
    mb_gb_key(b, "t.bool", T_BOOL);
    mb_gb_u8(b, 1);
    mb_gb_key(b, "t.str", T_STR);
    mb_gb_str(b, "h\xc3\xa9llo");
    mb_gb_key(b, "t.u64", T_U64);
    mb_gb_u64(b, UINT64_MAX);
    mb_gb_key(b, "t.i64", T_I64);
    mb_gb_u64(b, (uint64_t)INT64_MIN);
    mb_gb_key(b, "t.f64", T_F64);
    mb_gb_f64(b, 0.1);
    mb_gb_key(b, "t.arr.u32", T_ARR);
    mb_gb_u32(b, T_U32);
    mb_gb_u64(b, 3);
    mb_gb_u32(b, 1);
    mb_gb_u32(b, 2);
    mb_gb_u32(b, 3);
    mb_gb_key(b, "t.arr.str", T_ARR);
    mb_gb_u32(b, T_STR);
    mb_gb_u64(b, 3);
    mb_gb_str(b, "a");
    mb_gb_str(b, "bc");
    mb_gb_str(b, "");
    mb_gb_key(b, "t.arr.nested", T_ARR); /* [[1, -2] (int32), ["x"] (string)] */
    mb_gb_u32(b, T_ARR);
    mb_gb_u64(b, 2);
    mb_gb_u32(b, T_I32);
    mb_gb_u64(b, 2);
    mb_gb_u32(b, 1);
    mb_gb_u32(b, (uint32_t)-2);
    mb_gb_u32(b, T_STR);
    mb_gb_u64(b, 1);
    mb_gb_str(b, "x");
    mb_gb_key(b, "t.arr.bool", T_ARR);
    mb_gb_u32(b, T_BOOL);
    mb_gb_u64(b, 2);
    mb_gb_u8(b, 1);
    mb_gb_u8(b, 0);
    uint64_t d1[] = { 4 }, d2[] = { 32, 2 }, d3[] = { 256 };
    mb_gb_tensor_info(b, "a.f32", 1, d1, 0 /* f32 */, 0);
    mb_gb_tensor_info(b, "b.q8", 2, d2, 8 /* q8_0 */, 32);
    mb_gb_tensor_info(b, "c.q4k", 1, d3, 12 /* q4_K */, 128);
    mb_gb_pad(b, 32);
    size_t data = b->n;
    for (int i = 0; i < 4; i++)
        mb_gb_f32(b, (float)i + 0.25f);
    mb_gb_pad(b, 32);
    for (int i = 0; i < 68; i++)
        mb_gb_u8(b, (uint8_t)i);
    mb_gb_pad(b, 32);
    for (int i = 0; i < 144; i++)
        mb_gb_u8(b, (uint8_t)(255 - i));
    return data;
}
