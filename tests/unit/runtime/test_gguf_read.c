/*
 * test_gguf_read.c - the GGUF reader on files built byte by byte (so the
 * reader is not tested against our own writer): every value type, nested
 * arrays, the typed getters and their messages, v2 and v3, alignment, and the
 * hostile cases: truncation at every byte, absurd counts, lengths past the
 * end, unknown types, bad bools, deep nesting, duplicate keys and names, bad
 * dimensions, overflowing sizes, misaligned, overlapping and out-of-file
 * tensor data. Each must fail with one line naming the field and offset.
 */
#include "mb_test.h"
#include "mb_gguf_build.h"
#include "mb_runtime.h"
#include "mb_kernels.h"

#include <math.h>

enum { T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64, T_I64, T_F64 };

#define N_SAMPLE_KV MB_GB_SAMPLE_KV

static size_t build_sample(struct mb_buf *b, uint32_t version)
{
    return mb_gb_sample(b, version);
}

static struct mb_gguf *open_ok(const struct mb_buf *b)
{
    struct mb_gguf *g = NULL;
    struct mb_err err;
    mb_err_init(&err);
    MB_ASSERT_OK(mb_gguf_open_memory(&g, b->p, b->n, "t.gguf", &err), &err);
    return g;
}

/* Opening must fail with `code`, one line, starting "bad.gguf: ", containing each needle. */
static void expect_fail(const struct mb_buf *b, int code, const char *needle1, const char *needle2)
{
    struct mb_gguf *g = (struct mb_gguf *)1;
    struct mb_err err;
    mb_err_init(&err);
    int rc = mb_gguf_open_memory(&g, b->p, b->n, "bad.gguf", &err);
    if (rc != code)
        fail_msg("expected %s, got %d (%s) for '%s'", mb_err_name(code), rc, err.msg,
                 needle1 ? needle1 : "");
    assert_null(g);
    assert_int_equal(err.code, code);
    assert_null(strchr(err.msg, '\n'));
    if (strncmp(err.msg, "bad.gguf: ", 10))
        fail_msg("message does not start with the file name: %s", err.msg);
    if (needle1 && !strstr(err.msg, needle1))
        fail_msg("no '%s' in: %s", needle1, err.msg);
    if (needle2 && !strstr(err.msg, needle2))
        fail_msg("no '%s' in: %s", needle2, err.msg);
}

static void check_sample(struct mb_gguf *g, size_t data)
{
    struct mb_err err;
    mb_err_init(&err);
    assert_int_equal(mb_gguf_kv_count(g), N_SAMPLE_KV);
    assert_int_equal(mb_gguf_alignment(g), 32);
    assert_int_equal(mb_gguf_data_offset(g), data);
    assert_string_equal(mb_gguf_kv_at(g, 0)->key, "general.architecture");
    assert_int_equal(mb_gguf_kv_at(g, 0)->offset, 24);

    struct mb_str s;
    MB_ASSERT_OK(mb_gguf_get_str(g, "general.architecture", &s, &err), &err);
    assert_true(mb_str_eq_cstr(s, "llama"));
    MB_ASSERT_OK(mb_gguf_get_str(g, "t.str", &s, &err), &err);
    assert_true(mb_str_eq_cstr(s, "h\xc3\xa9llo"));

    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    int64_t i64;
    float f;
    double d;
    bool bo;
    MB_ASSERT_OK(mb_gguf_get_u32(g, "t.u8", &u32, &err), &err);
    assert_int_equal(u32, 200);
    MB_ASSERT_OK(mb_gguf_get_i32(g, "t.i8", &i32, &err), &err);
    assert_int_equal(i32, -100);
    MB_ASSERT_OK(mb_gguf_get_u32(g, "t.u16", &u32, &err), &err);
    assert_int_equal(u32, 60000);
    MB_ASSERT_OK(mb_gguf_get_i64(g, "t.i16", &i64, &err), &err);
    assert_int_equal(i64, -30000);
    MB_ASSERT_OK(mb_gguf_get_u32(g, "t.u32", &u32, &err), &err);
    assert_int_equal(u32, 4000000000u);
    MB_ASSERT_OK(mb_gguf_get_i32(g, "t.i32", &i32, &err), &err);
    assert_int_equal(i32, -2000000000);
    MB_ASSERT_OK(mb_gguf_get_f32(g, "t.f32", &f, &err), &err);
    assert_true(f == 1.5f);
    MB_ASSERT_OK(mb_gguf_get_bool(g, "t.bool", &bo, &err), &err);
    assert_true(bo);
    MB_ASSERT_OK(mb_gguf_get_u64(g, "t.u64", &u64, &err), &err);
    assert_true(u64 == UINT64_MAX);
    MB_ASSERT_OK(mb_gguf_get_i64(g, "t.i64", &i64, &err), &err);
    assert_true(i64 == INT64_MIN);
    MB_ASSERT_OK(mb_gguf_get_f64(g, "t.f64", &d, &err), &err);
    assert_true(d == 0.1);
    /* Integers and the other float width convert when they fit. */
    MB_ASSERT_OK(mb_gguf_get_f64(g, "t.f32", &d, &err), &err);
    assert_true(d == 1.5);
    MB_ASSERT_OK(mb_gguf_get_f32(g, "t.u16", &f, &err), &err);
    assert_true(f == 60000.0f);
    MB_ASSERT_OK(mb_gguf_get_u64(g, "t.u8", &u64, &err), &err);
    assert_int_equal(u64, 200);

    const struct mb_gguf_array *a;
    MB_ASSERT_OK(mb_gguf_get_array(g, "t.arr.u32", MB_GGUF_TYPE_UINT32, &a, &err), &err);
    assert_int_equal(a->n, 3);
    assert_true(mb_gguf_array_u64(a, 2, &u64) && u64 == 3);
    assert_true(mb_gguf_array_f64(a, 0, &d) && d == 1.0);
    MB_ASSERT_OK(mb_gguf_get_array(g, "t.arr.str", MB_GGUF_TYPE_STRING, &a, &err), &err);
    assert_int_equal(a->n, 3);
    assert_true(mb_str_eq_cstr(mb_gguf_array_str(a, 1), "bc"));
    assert_int_equal(mb_gguf_array_str(a, 2).n, 0);
    assert_false(mb_gguf_array_i64(a, 0, &i64)); /* strings are not numbers */
    MB_ASSERT_OK(mb_gguf_get_array(g, "t.arr.nested", MB_GGUF_TYPE_ARRAY, &a, &err), &err);
    assert_int_equal(a->n, 2);
    const struct mb_gguf_array *sub = mb_gguf_array_sub(a, 0);
    assert_int_equal(sub->type, MB_GGUF_TYPE_INT32);
    assert_int_equal(mb_gguf_array_i32(sub, 1), -2);
    assert_false(mb_gguf_array_u64(sub, 1, &u64)); /* -2 is not unsigned */
    sub = mb_gguf_array_sub(a, 1);
    assert_true(mb_str_eq_cstr(mb_gguf_array_str(sub, 0), "x"));
    MB_ASSERT_OK(mb_gguf_get_array(g, "t.arr.bool", MB_GGUF_TYPE_COUNT, &a, &err), &err);
    assert_int_equal(a->type, MB_GGUF_TYPE_BOOL);

    /* The raw encoding of a value is exactly its bytes in the file. */
    const struct mb_gguf_kv *kv = mb_gguf_find_kv(g, "t.arr.nested");
    assert_non_null(kv);
    assert_int_equal(kv->value.raw_size, 4 + 8 + (4 + 8 + 8) + (4 + 8 + 8 + 1));
    assert_ptr_equal(kv->value.raw, mb_gguf_bytes(g) + kv->value.offset);

    assert_int_equal(mb_gguf_tensor_count(g), 3);
    const struct mb_gguf_tensor *t = mb_gguf_find_tensor(g, "b.q8");
    assert_non_null(t);
    assert_int_equal(t->index, 1);
    assert_int_equal(t->type, MB_DTYPE_Q8_0);
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->dims[0], 32);
    assert_int_equal(t->dims[1], 2);
    assert_int_equal(t->dims[2], 1);
    assert_int_equal(t->n_elements, 64);
    assert_int_equal(t->nbytes, 68);
    assert_int_equal(t->offset, 32);
    assert_int_equal(t->file_offset, data + 32);
    assert_ptr_equal(t->data, mb_gguf_bytes(g) + data + 32);
    assert_int_equal(((const uint8_t *)t->data)[67], 67);
    t = mb_gguf_tensor_at(g, 0);
    float vals[4];
    assert_true(mb_dequantize_row(t->type, t->data, vals, 4));
    assert_true(vals[3] == 3.25f);
    t = mb_gguf_tensor_at(g, 2);
    assert_string_equal(t->name, "c.q4k");
    assert_int_equal(t->file_offset + t->nbytes, mb_gguf_size(g));
    assert_null(mb_gguf_find_tensor(g, "nope"));
    assert_int_equal(mb_gguf_get_tensor(g, "nope", &t, &err), MB_E_NOTFOUND);
    char want[512];
    snprintf(want, sizeof(want), "%s: no tensor 'nope'", mb_gguf_name(g));
    assert_string_equal(err.msg, want);
}

static void test_sample_v3_v2(void **state)
{
    (void)state;
    for (uint32_t version = 2; version <= 3; version++) {
        struct mb_buf b;
        size_t data = build_sample(&b, version);
        struct mb_gguf *g = open_ok(&b);
        assert_int_equal(mb_gguf_version(g), version);
        check_sample(g, data);
        mb_gguf_free(g);
        mb_buf_release(&b);
    }
}

static void test_getter_errors(void **state)
{
    (void)state;
    struct mb_buf b;
    build_sample(&b, 3);
    struct mb_gguf *g = open_ok(&b);
    struct mb_err err;
    uint32_t u32;
    int32_t i32;
    int64_t i64;
    float f;
    bool bo;
    struct mb_str s;
    const struct mb_gguf_array *a;
    assert_int_equal(mb_gguf_get_u32(g, "llama.block_count", &u32, &err), MB_E_NOTFOUND);
    assert_string_equal(err.msg, "t.gguf: no key 'llama.block_count'");
    assert_int_equal(mb_gguf_get_u32(g, "general.architecture", &u32, &err), MB_E_FORMAT);
    assert_string_equal(err.msg, "t.gguf: key 'general.architecture' at offset 24: expected an "
                                 "unsigned 32-bit integer, found string");
    assert_int_equal(mb_gguf_get_u32(g, "t.i8", &u32, &err), MB_E_FORMAT); /* -100 */
    assert_non_null(strstr(err.msg, "found int8 -100"));
    assert_int_equal(mb_gguf_get_u32(g, "t.u64", &u32, &err), MB_E_FORMAT); /* too big */
    assert_int_equal(mb_gguf_get_i64(g, "t.u64", &i64, &err), MB_E_FORMAT);
    assert_int_equal(mb_gguf_get_i32(g, "t.u32", &i32, &err), MB_E_FORMAT);
    assert_int_equal(mb_gguf_get_f32(g, "t.str", &f, &err), MB_E_FORMAT);
    assert_int_equal(mb_gguf_get_f32(g, "t.bool", &f, &err), MB_E_FORMAT);
    assert_int_equal(mb_gguf_get_bool(g, "t.u8", &bo, &err), MB_E_FORMAT);
    assert_int_equal(mb_gguf_get_str(g, "t.arr.str", &s, &err), MB_E_FORMAT);
    assert_non_null(strstr(err.msg, "expected a string, found array of 3 string"));
    assert_int_equal(mb_gguf_get_array(g, "t.arr.str", MB_GGUF_TYPE_FLOAT32, &a, &err),
                     MB_E_FORMAT);
    assert_non_null(strstr(err.msg, "expected an array of float32"));
    assert_int_equal(mb_gguf_get_array(g, "t.u8", MB_GGUF_TYPE_COUNT, &a, &err), MB_E_FORMAT);
    mb_gguf_free(g);
    mb_buf_release(&b);
}

/* Every strict prefix of a valid file must be refused cleanly. */
static void test_truncated_every_byte(void **state)
{
    (void)state;
    struct mb_buf b;
    build_sample(&b, 3);
    for (size_t n = 0; n < b.n; n++) {
        struct mb_gguf *g = NULL;
        struct mb_err err;
        mb_err_init(&err);
        /* A fresh copy of exactly n bytes so ASan sees any read past the end. */
        uint8_t *copy = mb_malloc(n ? n : 1);
        assert_non_null(copy);
        memcpy(copy, b.p, n);
        int rc = mb_gguf_open_memory(&g, copy, n, "cut.gguf", &err);
        if (rc != MB_E_FORMAT)
            fail_msg("prefix of %zu bytes: rc %d (%s)", n, rc, err.msg);
        assert_null(g);
        assert_null(strchr(err.msg, '\n'));
        assert_true(strstr(err.msg, "offset") || strstr(err.msg, "past the end") ||
                    strstr(err.msg, "bytes long"));
        mb_free(copy);
    }
    mb_buf_release(&b);
}

static void test_alignment(void **state)
{
    (void)state;
    struct mb_buf b;
    mb_buf_init(&b, 1 << 16);
    uint64_t dims[] = { 8 };
    mb_gb_header(&b, 3, 2, 1);
    mb_gb_key(&b, "general.alignment", T_U32);
    mb_gb_u32(&b, 64);
    mb_gb_tensor_info(&b, "x", 1, dims, MB_DTYPE_F32, 0);
    mb_gb_tensor_info(&b, "y", 1, dims, MB_DTYPE_F32, 64);
    mb_gb_pad(&b, 64);
    size_t data = b.n;
    for (int i = 0; i < 32; i++)
        mb_gb_f32(&b, (float)i);
    struct mb_gguf *g = open_ok(&b);
    assert_int_equal(mb_gguf_alignment(g), 64);
    assert_int_equal(mb_gguf_data_offset(g), data);
    assert_int_equal(mb_gguf_find_tensor(g, "y")->file_offset, data + 64);
    mb_gguf_free(g);

    /* offset 32 is not a multiple of 64 */
    mb_buf_reset(&b);
    mb_gb_header(&b, 3, 1, 1);
    mb_gb_key(&b, "general.alignment", T_U32);
    mb_gb_u32(&b, 64);
    mb_gb_tensor_info(&b, "x", 1, dims, MB_DTYPE_F32, 32);
    mb_gb_pad(&b, 64);
    for (int i = 0; i < 32; i++)
        mb_gb_f32(&b, 0);
    expect_fail(&b, MB_E_FORMAT, "tensor 0 'x': offset at offset",
                "not a multiple of the alignment 64");

    const uint32_t bad[] = { 0, 3, 48 };
    for (size_t i = 0; i < MB_ARRAY_LEN(bad); i++) {
        mb_buf_reset(&b);
        mb_gb_header(&b, 3, 0, 1);
        mb_gb_key(&b, "general.alignment", T_U32);
        mb_gb_u32(&b, bad[i]);
        expect_fail(&b, MB_E_FORMAT, "'general.alignment' at offset 24", "not a power of two");
    }
    mb_buf_reset(&b);
    mb_gb_header(&b, 3, 0, 1);
    mb_gb_key(&b, "general.alignment", T_I32);
    mb_gb_u32(&b, 32);
    expect_fail(&b, MB_E_FORMAT, "general.alignment", "must be uint32, not int32");
    mb_buf_release(&b);
}

static void test_bad_header(void **state)
{
    (void)state;
    struct mb_buf b;
    mb_buf_init(&b, 1 << 16);
    expect_fail(&b, MB_E_FORMAT, "not a GGUF file: only 0 bytes long", NULL);
    mb_gb_bytes(&b, "GGU", 3);
    expect_fail(&b, MB_E_FORMAT, "only 3 bytes long", NULL);
    mb_buf_reset(&b);
    mb_gb_bytes(&b, "GGML\x03\0\0\0", 8);
    expect_fail(&b, MB_E_FORMAT, "magic at offset 0 is 'GGML', not 'GGUF'", NULL);
    mb_buf_reset(&b);
    mb_gb_bytes(&b,
                "\x7f"
                "ELF",
                4);
    expect_fail(&b, MB_E_FORMAT, "magic at offset 0 is '\\x7fELF'", NULL);
    mb_buf_reset(&b);
    mb_gb_header(&b, 1, 0, 0);
    expect_fail(&b, MB_E_UNSUPPORTED, "version at offset 4", "GGUF version 1 is not supported");
    mb_buf_reset(&b);
    mb_gb_header(&b, 4, 0, 0);
    expect_fail(&b, MB_E_UNSUPPORTED, "version 4 is not supported", NULL);
    mb_buf_reset(&b);
    mb_gb_header(&b, 0x03000000u, 0, 0);
    expect_fail(&b, MB_E_UNSUPPORTED, "big-endian", NULL);
    mb_buf_reset(&b);
    mb_gb_header(&b, 3, 0, UINT64_MAX);
    expect_fail(&b, MB_E_FORMAT, "kv_count at offset 16", "cannot fit");
    mb_buf_reset(&b);
    mb_gb_header(&b, 3, 1000000, 0);
    expect_fail(&b, MB_E_FORMAT, "tensor_count at offset 8", "cannot fit");
    mb_buf_reset(&b);
    mb_gb_header(&b, 3, UINT64_MAX, 0);
    expect_fail(&b, MB_E_FORMAT, "tensor_count at offset 8", NULL);
    /* A count that fits the whole file but not what the metadata leaves. */
    mb_buf_reset(&b);
    mb_gb_header(&b, 3, 2, 1);
    mb_gb_key(&b, "k", T_STR);
    mb_gb_str(&b, "0123456789012345678901234567890123456789012345678901234567890123456789");
    expect_fail(&b, MB_E_FORMAT, "tensor_count at offset 8", "after the metadata");
    /* An empty file with no tensors and no metadata is valid. */
    mb_buf_reset(&b);
    mb_gb_header(&b, 3, 0, 0);
    struct mb_gguf *g = open_ok(&b);
    assert_int_equal(mb_gguf_kv_count(g), 0);
    assert_int_equal(mb_gguf_tensor_count(g), 0);
    assert_null(mb_gguf_find_kv(g, "x"));
    mb_gguf_free(g);
    mb_buf_release(&b);
}

/* A file with one KV: key, type and the raw value bytes given. */
static void one_kv(struct mb_buf *b, const char *key, uint32_t type, const void *val, size_t n)
{
    mb_buf_reset(b);
    mb_gb_header(b, 3, 0, 1);
    mb_gb_key(b, key, type);
    mb_gb_bytes(b, val, n);
}

static void test_bad_metadata(void **state)
{
    (void)state;
    struct mb_buf b, v;
    mb_buf_init(&b, 1 << 20);
    mb_buf_init(&v, 1 << 20);

    /* key length past the end, and absurd */
    mb_gb_header(&b, 3, 0, 1);
    mb_gb_u64(&b, 100);
    mb_gb_bytes(&b, "abcdefghijklmn", 14);
    expect_fail(&b, MB_E_FORMAT, "kv 0: key length at offset 24", "run past the end");
    mb_buf_reset(&b);
    mb_gb_header(&b, 3, 0, 1);
    mb_gb_u64(&b, UINT64_MAX);
    mb_gb_bytes(&b, "abcdefghijklmn", 14);
    expect_fail(&b, MB_E_FORMAT, "key length at offset 24", NULL);
    /* empty key, key with NUL */
    one_kv(&b, "", T_U32, "\1\0\0\0", 4);
    expect_fail(&b, MB_E_FORMAT, "kv 0: key at offset 24", "empty");
    mb_buf_reset(&b);
    mb_gb_header(&b, 3, 0, 1);
    mb_gb_u64(&b, 3);
    mb_gb_bytes(&b, "a\0b", 3);
    mb_gb_u32(&b, T_U8);
    mb_gb_u8(&b, 1);
    expect_fail(&b, MB_E_FORMAT, "key at offset 32", "NUL");
    /* unknown value types */
    one_kv(&b, "k", 13, "\1\1\1\1", 4);
    expect_fail(&b, MB_E_FORMAT, "kv 0 'k': value type at offset 33", "unknown value type 13");
    one_kv(&b, "k", 0xffffffffu, "\1\1\1\1", 4);
    expect_fail(&b, MB_E_FORMAT, "unknown value type 4294967295", NULL);
    /* bool not 0/1 */
    one_kv(&b, "k", T_BOOL, "\2", 1);
    expect_fail(&b, MB_E_FORMAT, "kv 0 'k': value at offset 37", "bool is 2");
    /* truncated scalar */
    one_kv(&b, "k", T_U64, "\1\2\3", 3);
    expect_fail(&b, MB_E_FORMAT, "value at offset 37", "8 bytes needed, 3 left");
    /* string value length past the end / absurd */
    mb_buf_reset(&v);
    mb_gb_u64(&v, 10);
    mb_gb_bytes(&v, "abc", 3);
    one_kv(&b, "k", T_STR, v.p, v.n);
    expect_fail(&b, MB_E_FORMAT, "value length at offset 37", "10 bytes run past the end");
    mb_buf_reset(&v);
    mb_gb_u64(&v, UINT64_MAX - 3);
    one_kv(&b, "k", T_STR, v.p, v.n);
    expect_fail(&b, MB_E_FORMAT, "value length at offset 37", NULL);
    /* arrays: unknown element type, absurd counts of each kind */
    mb_buf_reset(&v);
    mb_gb_u32(&v, 77);
    mb_gb_u64(&v, 1);
    one_kv(&b, "k", T_ARR, v.p, v.n);
    expect_fail(&b, MB_E_FORMAT, "array element type at offset 37", "unknown value type 77");
    const uint32_t ets[] = { T_U32, T_STR, T_ARR, T_U64 };
    for (size_t i = 0; i < MB_ARRAY_LEN(ets); i++) {
        mb_buf_reset(&v);
        mb_gb_u32(&v, ets[i]);
        mb_gb_u64(&v, UINT64_MAX / 2);
        mb_gb_u64(&v, 0);
        one_kv(&b, "k", T_ARR, v.p, v.n);
        expect_fail(&b, MB_E_FORMAT, "array length at offset 41", "cannot fit");
    }
    /* a string element whose length runs past the end */
    mb_buf_reset(&v);
    mb_gb_u32(&v, T_STR);
    mb_gb_u64(&v, 2);
    mb_gb_str(&v, "ok");
    mb_gb_u64(&v, 1000);
    one_kv(&b, "tokenizer.ggml.tokens", T_ARR, v.p, v.n);
    expect_fail(&b, MB_E_FORMAT, "kv 0 'tokenizer.ggml.tokens': array element 1 length at offset",
                "past the end");
    /* bool array element not 0/1 */
    mb_buf_reset(&v);
    mb_gb_u32(&v, T_BOOL);
    mb_gb_u64(&v, 3);
    mb_gb_bytes(&v, "\1\0\5", 3);
    one_kv(&b, "k", T_ARR, v.p, v.n);
    expect_fail(&b, MB_E_FORMAT, "array element at offset 51", "bool 2 is 5");
    /* nesting deeper than the limit */
    mb_buf_reset(&v);
    for (int i = 0; i < MB_GGUF_MAX_DEPTH + 1; i++) {
        mb_gb_u32(&v, T_ARR);
        mb_gb_u64(&v, 1);
    }
    mb_gb_u32(&v, T_U8);
    mb_gb_u64(&v, 0);
    one_kv(&b, "k", T_ARR, v.p, v.n);
    expect_fail(&b, MB_E_FORMAT, "nested more than 8 deep", NULL);
    /* nesting at the limit is fine */
    mb_buf_reset(&v);
    for (int i = 0; i < MB_GGUF_MAX_DEPTH - 1; i++) {
        mb_gb_u32(&v, T_ARR);
        mb_gb_u64(&v, 1);
    }
    mb_gb_u32(&v, T_U8);
    mb_gb_u64(&v, 1);
    mb_gb_u8(&v, 9);
    one_kv(&b, "k", T_ARR, v.p, v.n);
    struct mb_gguf *g = open_ok(&b);
    const struct mb_gguf_array *a = &mb_gguf_find_kv(g, "k")->value.v.arr;
    for (int i = 0; i < MB_GGUF_MAX_DEPTH - 1; i++)
        a = mb_gguf_array_sub(a, 0);
    uint64_t u;
    assert_true(mb_gguf_array_u64(a, 0, &u) && u == 9);
    mb_gguf_free(g);
    /* duplicate keys */
    mb_buf_reset(&b);
    mb_gb_header(&b, 3, 0, 3);
    mb_gb_key(&b, "a", T_U8);
    mb_gb_u8(&b, 1);
    mb_gb_key(&b, "b", T_U8);
    mb_gb_u8(&b, 1);
    mb_gb_key(&b, "a", T_U8);
    mb_gb_u8(&b, 1);
    expect_fail(&b, MB_E_FORMAT, "kv 2 'a': key at offset 52",
                "duplicate key (first defined at offset 24)");
    /* control characters in a key are escaped in the one-line message */
    one_kv(&b, "bad\nkey", 99, "", 0);
    expect_fail(&b, MB_E_FORMAT, "kv 0 'bad\\x0akey'", NULL);
    mb_buf_release(&v);
    mb_buf_release(&b);
}

/* A file with one tensor info and `data` bytes of zeros after the aligned data start. */
static void one_tensor(struct mb_buf *b, const char *name, uint32_t n_dims, const uint64_t *dims,
                       uint32_t type, uint64_t offset, size_t data)
{
    mb_buf_reset(b);
    mb_gb_header(b, 3, 1, 0);
    mb_gb_tensor_info(b, name, n_dims, dims, type, offset);
    mb_gb_pad(b, 32);
    for (size_t i = 0; i < data; i++)
        mb_gb_u8(b, 0);
}

static void test_bad_tensors(void **state)
{
    (void)state;
    struct mb_buf b;
    mb_buf_init(&b, 1 << 20);
    uint64_t d4[] = { 4, 1, 1, 1, 1 };
    one_tensor(&b, "w", 1, d4, MB_DTYPE_F32, 0, 16);
    mb_gguf_free(open_ok(&b));
    one_tensor(&b, "w", 0, d4, MB_DTYPE_F32, 0, 16);
    expect_fail(&b, MB_E_FORMAT, "tensor 0 'w': n_dims at offset 33", "0 (must be 1 to 4)");
    one_tensor(&b, "w", 5, d4, MB_DTYPE_F32, 0, 16);
    expect_fail(&b, MB_E_FORMAT, "n_dims at offset 33", "5 (must be 1 to 4)");
    uint64_t dz[] = { 4, 0 };
    one_tensor(&b, "w", 2, dz, MB_DTYPE_F32, 0, 16);
    expect_fail(&b, MB_E_FORMAT, "tensor 0 'w': dims[1] at offset 45", "a dimension of 0");
    uint64_t dov[] = { 1ull << 32, 1ull << 32 };
    one_tensor(&b, "w", 2, dov, MB_DTYPE_F32, 0, 16);
    expect_fail(&b, MB_E_FORMAT, "dims[1] at offset 45", "element count overflow");
    uint64_t dov2[] = { 1ull << 62, 4 };
    one_tensor(&b, "w", 2, dov2, MB_DTYPE_F32, 0, 16);
    expect_fail(&b, MB_E_FORMAT, "dims[1]", "overflow");
    /* element count fits, but the byte size does not */
    uint64_t dbytes[] = { 1ull << 31, 1ull << 31 };
    one_tensor(&b, "w", 2, dbytes, MB_DTYPE_F32, 0, 16);
    expect_fail(&b, MB_E_FORMAT, "tensor 0 'w': type at offset 53", "the data size overflows");
    uint64_t dbig[] = { 1ull << 30, 1ull << 30 };
    one_tensor(&b, "w", 2, dbig, MB_DTYPE_F32, 0, 16);
    expect_fail(&b, MB_E_FORMAT, "tensor 0 'w': data ends at", "past the end of the file");
    one_tensor(&b, "w", 1, d4, 99, 0, 16);
    expect_fail(&b, MB_E_FORMAT, "tensor 0 'w': type at offset 45", "unknown tensor type 99");
    one_tensor(&b, "w", 1, d4, 4, 0, 16); /* a removed ggml type id */
    expect_fail(&b, MB_E_FORMAT, "unknown tensor type 4", NULL);
    uint64_t d33[] = { 33 };
    one_tensor(&b, "w", 1, d33, MB_DTYPE_Q4_0, 0, 64);
    expect_fail(&b, MB_E_FORMAT, "type at offset 45",
                "dims[0] = 33 is not a multiple of the q4_0 block length 32");
    one_tensor(&b, "w", 1, d4, MB_DTYPE_F32, 8, 64);
    expect_fail(&b, MB_E_FORMAT, "offset at offset 49", "8 is not a multiple of the alignment 32");
    one_tensor(&b, "w", 1, d4, MB_DTYPE_F32, 0, 15);
    expect_fail(&b, MB_E_FORMAT, "tensor 0 'w': data ends at 80, past the end of the file (79)",
                NULL);
    one_tensor(&b, "w", 1, d4, MB_DTYPE_F32, UINT64_MAX - 31, 16);
    expect_fail(&b, MB_E_FORMAT, "tensor 0 'w'", "overflows");
    one_tensor(&b, "w", 1, d4, MB_DTYPE_F32, 1ull << 40, 16);
    expect_fail(&b, MB_E_FORMAT, "past the end of the file", NULL);
    one_tensor(&b, "", 1, d4, MB_DTYPE_F32, 0, 16);
    expect_fail(&b, MB_E_FORMAT, "tensor 0: name at offset 24", "empty");
    char longname[MB_GGUF_MAX_NAME + 2];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    one_tensor(&b, longname, 1, d4, MB_DTYPE_F32, 0, 16);
    expect_fail(&b, MB_E_FORMAT, "name at offset 24", "65 bytes long (the limit is 64)");
    longname[MB_GGUF_MAX_NAME] = '\0';
    one_tensor(&b, longname, 1, d4, MB_DTYPE_F32, 0, 16);
    mb_gguf_free(open_ok(&b));
    /* tensor info truncated inside the dims */
    mb_buf_reset(&b);
    mb_gb_header(&b, 3, 1, 0);
    mb_gb_str(&b, "w");
    mb_gb_u32(&b, 4);
    mb_gb_u64(&b, 4);
    mb_gb_u64(&b, 1);
    mb_gb_u64(&b, 1);
    mb_gb_bytes(&b, "\0\0\0\0\0\0\0", 7);
    expect_fail(&b, MB_E_FORMAT, "tensor 0 'w': dims[3] at offset 61", "truncated");

    /* duplicate names, overlapping data */
    mb_buf_reset(&b);
    mb_gb_header(&b, 3, 2, 0);
    mb_gb_tensor_info(&b, "w", 1, d4, MB_DTYPE_F32, 0);
    mb_gb_tensor_info(&b, "w", 1, d4, MB_DTYPE_F32, 32);
    mb_gb_pad(&b, 32);
    for (int i = 0; i < 64; i++)
        mb_gb_u8(&b, 0);
    expect_fail(&b, MB_E_FORMAT, "tensor 1 'w': name at offset 57",
                "duplicate tensor name (first defined at offset 24)");
    uint64_t d16[] = { 16 };
    mb_buf_reset(&b);
    mb_gb_header(&b, 3, 3, 0);
    mb_gb_tensor_info(&b, "c", 1, d4, MB_DTYPE_F32, 96);
    mb_gb_tensor_info(&b, "a", 1, d16, MB_DTYPE_F32, 0); /* 64 bytes: [0, 64) */
    mb_gb_tensor_info(&b, "b", 1, d4, MB_DTYPE_F32, 32); /* [32, 48) inside a */
    mb_gb_pad(&b, 32);
    for (int i = 0; i < 128; i++)
        mb_gb_u8(&b, 0);
    expect_fail(&b, MB_E_FORMAT, "tensor 2 'b': data at offset", "overlaps tensor 1 'a'");
    /* the same tensors without the overlap are fine, in any order */
    mb_buf_reset(&b);
    mb_gb_header(&b, 3, 3, 0);
    mb_gb_tensor_info(&b, "c", 1, d4, MB_DTYPE_F32, 96);
    mb_gb_tensor_info(&b, "a", 1, d16, MB_DTYPE_F32, 0);
    mb_gb_tensor_info(&b, "b", 1, d4, MB_DTYPE_F32, 64);
    mb_gb_pad(&b, 32);
    for (int i = 0; i < 128; i++)
        mb_gb_u8(&b, 0);
    struct mb_gguf *g = open_ok(&b);
    assert_string_equal(mb_gguf_tensor_at(g, 0)->name, "c");
    assert_int_equal(mb_gguf_find_tensor(g, "b")->offset, 64);
    mb_gguf_free(g);
    mb_buf_release(&b);
}

static void test_open_file(void **state)
{
    (void)state;
    struct mb_buf b;
    size_t data = build_sample(&b, 3);
    const char *path = mb_test_tmp_path("sample.gguf");
    mb_test_write_file(path, b.p, b.n);
    struct mb_gguf *g = NULL;
    struct mb_err err;
    mb_err_init(&err);
    MB_ASSERT_OK(mb_gguf_open(&g, path, &err), &err);
    assert_string_equal(mb_gguf_name(g), path);
    assert_int_equal(mb_gguf_size(g), b.n);
    check_sample(g, data);
    mb_gguf_free(g);
    assert_int_equal(mb_gguf_open(&g, mb_test_tmp_path("missing.gguf"), &err), MB_E_NOTFOUND);
    assert_null(g);
    assert_int_not_equal(mb_gguf_open(&g, mb_test_tmpdir(), &err), 0);
    const char *empty = mb_test_tmp_path("empty.gguf");
    mb_test_write_file(empty, "", 0);
    assert_int_equal(mb_gguf_open(&g, empty, &err), MB_E_FORMAT);
    assert_non_null(strstr(err.msg, "only 0 bytes long"));
    mb_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_v3_v2),         cmocka_unit_test(test_getter_errors),
        cmocka_unit_test(test_truncated_every_byte), cmocka_unit_test(test_alignment),
        cmocka_unit_test(test_bad_header),           cmocka_unit_test(test_bad_metadata),
        cmocka_unit_test(test_bad_tensors),          cmocka_unit_test(test_open_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
