/*
 * fuzz_gguf.c - libFuzzer target for the GGUF reader: arbitrary bytes through
 * mb_gguf_open_memory(), then, when they parse, every accessor (typed getters,
 * value conversions, every array element, nested arrays, tensor lookup by
 * name), dequantization of small tensors, and a copy through the writer that
 * must read back with the same counts. Any crash, sanitizer report or
 * inconsistency (MB_BUG/abort) is a finding. Seeds: corpus/fuzz_gguf/
 * (tiny valid files made by gen_gguf_seeds.py).
 */
#include "mb_runtime.h"
#include "mb_kernels.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk_array(const struct mb_gguf_array *a, unsigned depth)
{
    for (size_t i = 0; i < a->n; i++) {
        int64_t iv;
        uint64_t uv;
        double dv;
        if (a->type == MB_GGUF_TYPE_STRING) {
            struct mb_str s = mb_gguf_array_str(a, i);
            if (s.n && s.p[s.n - 1] == 0x7f)
                continue; /* touch the last byte */
        } else if (a->type == MB_GGUF_TYPE_ARRAY) {
            if (depth > MB_GGUF_MAX_DEPTH)
                abort(); /* the reader must have refused this */
            walk_array(mb_gguf_array_sub(a, i), depth + 1);
        } else {
            (void)mb_gguf_array_i64(a, i, &iv);
            (void)mb_gguf_array_u64(a, i, &uv);
            (void)mb_gguf_array_f64(a, i, &dv);
            if (a->type == MB_GGUF_TYPE_FLOAT32)
                (void)mb_gguf_array_f32(a, i);
            if (a->type == MB_GGUF_TYPE_INT32)
                (void)mb_gguf_array_i32(a, i);
        }
    }
}

static void exercise(struct mb_gguf *g)
{
    struct mb_err err;
    for (size_t i = 0; i < mb_gguf_kv_count(g); i++) {
        const struct mb_gguf_kv *kv = mb_gguf_kv_at(g, i);
        if (mb_gguf_find_kv(g, kv->key) != kv)
            abort();
        if (kv->value.raw + kv->value.raw_size > mb_gguf_bytes(g) + mb_gguf_size(g))
            abort();
        uint32_t u32;
        int32_t i32;
        uint64_t u64;
        int64_t i64;
        float f;
        double d;
        bool b;
        struct mb_str s;
        const struct mb_gguf_array *a;
        (void)mb_gguf_get_u32(g, kv->key, &u32, &err);
        (void)mb_gguf_get_i32(g, kv->key, &i32, &err);
        (void)mb_gguf_get_u64(g, kv->key, &u64, &err);
        (void)mb_gguf_get_i64(g, kv->key, &i64, &err);
        (void)mb_gguf_get_f32(g, kv->key, &f, &err);
        (void)mb_gguf_get_f64(g, kv->key, &d, &err);
        (void)mb_gguf_get_bool(g, kv->key, &b, &err);
        (void)mb_gguf_get_str(g, kv->key, &s, &err);
        if (!mb_gguf_get_array(g, kv->key, MB_GGUF_TYPE_COUNT, &a, &err))
            walk_array(a, 1);
    }
    float buf[4096];
    for (size_t i = 0; i < mb_gguf_tensor_count(g); i++) {
        const struct mb_gguf_tensor *t = mb_gguf_tensor_at(g, i);
        if (mb_gguf_find_tensor(g, t->name) != t)
            abort();
        const uint8_t *end = (const uint8_t *)t->data + t->nbytes;
        if (end > mb_gguf_bytes(g) + mb_gguf_size(g) || t->offset % mb_gguf_alignment(g))
            abort();
        if (t->n_elements <= MB_ARRAY_LEN(buf) && mb_dequantize_supported(t->type))
            if (!mb_dequantize_row(t->type, t->data, buf, (size_t)t->n_elements))
                abort();
    }
}

/* Copy everything through the writer; the result must parse with the same counts. */
static void round_trip(struct mb_gguf *g)
{
    struct mb_err err;
    struct mb_gguf_writer *w;
    if (mb_gguf_writer_new(&w, &err))
        return;
    int rc = mb_gguf_writer_copy_kvs(w, g, NULL, &err);
    for (size_t i = 0; !rc && i < mb_gguf_tensor_count(g); i++)
        rc = mb_gguf_writer_copy_tensor(w, mb_gguf_tensor_at(g, i), &err);
    struct mb_buf out;
    mb_buf_init(&out, (size_t)16 << 20);
    if (!rc && !mb_gguf_writer_write_buf(w, &out, &err)) {
        struct mb_gguf *g2;
        if (mb_gguf_open_memory(&g2, out.p, out.n, "copy", &err))
            abort(); /* we wrote something we cannot read */
        if (mb_gguf_kv_count(g2) != mb_gguf_kv_count(g) ||
            mb_gguf_tensor_count(g2) != mb_gguf_tensor_count(g))
            abort();
        mb_gguf_free(g2);
    }
    mb_buf_release(&out);
    mb_gguf_writer_free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mb_gguf *g;
    struct mb_err err;
    if (mb_gguf_open_memory(&g, data, size, "fuzz.gguf", &err)) {
        if (!err.msg[0] || strchr(err.msg, '\n'))
            abort(); /* every failure has a one-line message */
        return 0;
    }
    exercise(g);
    round_trip(g);
    mb_gguf_free(g);
    return 0;
}
