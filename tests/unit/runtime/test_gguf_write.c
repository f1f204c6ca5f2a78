/*
 * test_gguf_write.c - the GGUF writer: a round trip through the reader of
 * every value type, nested arrays, borrowed and callback tensors and a custom
 * alignment; determinism (same inputs, same bytes, in memory and on disk);
 * byte-for-byte agreement with a file laid out by hand the way gguf-py lays
 * it out; replacing and removing keys; copying every KV and tensor of a
 * reader; the writer's own checks; and the atomic file write (no temp file
 * left, the old file untouched on failure or Ctrl-C, progress reported).
 */
#include "mb_test.h"
#include "mb_gguf_build.h"
#include "mb_runtime.h"
#include "mb_kernels.h"

#include <dirent.h>
#include <math.h>

static struct mb_err err;

static struct mb_gguf_writer *new_writer(void)
{
    struct mb_gguf_writer *w = NULL;
    mb_err_init(&err);
    MB_ASSERT_OK(mb_gguf_writer_new(&w, &err), &err);
    return w;
}

static struct mb_gguf *reopen(struct mb_gguf_writer *w, struct mb_buf *out)
{
    mb_buf_init(out, 1 << 26);
    MB_ASSERT_OK(mb_gguf_writer_write_buf(w, out, &err), &err);
    struct mb_gguf *g = NULL;
    MB_ASSERT_OK(mb_gguf_open_memory(&g, out->p, out->n, "w.gguf", &err), &err);
    return g;
}

struct fill_state {
    uint64_t calls;
    uint64_t next; /* the offset the writer must ask for next */
    int fail_at_call;
};

/* Produces byte i = (i * 7) & 0xff, checking the writer asks in order. */
static int fill_pattern(void *ud, uint64_t offset, void *buf, size_t n, struct mb_err *e)
{
    struct fill_state *st = ud;
    st->calls++;
    if (offset != st->next)
        return mb_fail(e, MB_E_INTERNAL, "fill asked for offset %llu, expected %llu",
                       (unsigned long long)offset, (unsigned long long)st->next);
    if (st->fail_at_call && st->calls == (uint64_t)st->fail_at_call)
        return mb_fail(e, MB_E_IO, "fill failed on purpose");
    for (size_t i = 0; i < n; i++)
        ((uint8_t *)buf)[i] = (uint8_t)((offset + i) * 7);
    st->next = offset + n;
    return 0;
}

static void test_round_trip(void **state)
{
    (void)state;
    struct mb_gguf_writer *w = new_writer();
    MB_ASSERT_OK(mb_gguf_writer_set_string(w, "general.architecture", "llama", &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_u32(w, "general.alignment", 64, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_u8(w, "k.u8", 255, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_i8(w, "k.i8", -128, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_u16(w, "k.u16", 65535, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_i16(w, "k.i16", -32768, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_i32(w, "k.i32", INT32_MIN, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_f32(w, "k.f32", -0.0f, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_bool(w, "k.bool", false, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_str(w, "k.bin", "a\0b", 3, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_u64(w, "k.u64", UINT64_MAX, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_i64(w, "k.i64", INT64_MIN, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_f64(w, "k.f64", 1e300, &err), &err);
    const float fl[] = { 1.0f, -2.5f, INFINITY };
    MB_ASSERT_OK(mb_gguf_writer_set_array(w, "k.arr.f32", MB_GGUF_TYPE_FLOAT32, fl, 3, &err), &err);
    const int16_t sh[] = { -1, 2 };
    MB_ASSERT_OK(mb_gguf_writer_set_array(w, "k.arr.i16", MB_GGUF_TYPE_INT16, sh, 2, &err), &err);
    const uint8_t bo[] = { 1, 0, 1 };
    MB_ASSERT_OK(mb_gguf_writer_set_array(w, "k.arr.bool", MB_GGUF_TYPE_BOOL, bo, 3, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_array(w, "k.arr.empty", MB_GGUF_TYPE_UINT64, NULL, 0, &err),
                 &err);
    const char *const strs[] = { "<unk>", "", "\xe2\x96\x81the" };
    MB_ASSERT_OK(mb_gguf_writer_set_str_array(w, "k.arr.str", strs, 3, &err), &err);
    /* [[7], []] as an array of uint8 arrays, given encoded */
    struct mb_buf raw;
    mb_buf_init(&raw, 1024);
    mb_gb_u32(&raw, MB_GGUF_TYPE_ARRAY);
    mb_gb_u64(&raw, 2);
    mb_gb_u32(&raw, MB_GGUF_TYPE_UINT8);
    mb_gb_u64(&raw, 1);
    mb_gb_u8(&raw, 7);
    mb_gb_u32(&raw, MB_GGUF_TYPE_UINT8);
    mb_gb_u64(&raw, 0);
    MB_ASSERT_OK(mb_gguf_writer_set_raw(w, "k.nested", MB_GGUF_TYPE_ARRAY, raw.p, raw.n, &err),
                 &err);

    float tdata[12];
    for (int i = 0; i < 12; i++)
        tdata[i] = (float)i * 0.5f;
    uint64_t d34[] = { 3, 4 };
    MB_ASSERT_OK(mb_gguf_writer_add_tensor(w, "t.f32", MB_DTYPE_F32, 2, d34, tdata, 48, &err),
                 &err);
    struct fill_state st = { 0, 0, 0 };
    uint64_t dq[] = { 256, 3, 2 };
    MB_ASSERT_OK(
        mb_gguf_writer_add_tensor_fn(w, "t.q6k", MB_DTYPE_Q6_K, 3, dq, fill_pattern, &st, &err),
        &err);
    assert_int_equal(mb_gguf_writer_kv_count(w), 19);
    assert_int_equal(mb_gguf_writer_tensor_count(w), 2);

    struct mb_buf out;
    struct mb_gguf *g = reopen(w, &out);
    assert_int_equal(mb_gguf_version(g), 3);
    assert_int_equal(mb_gguf_alignment(g), 64);
    assert_int_equal(mb_gguf_data_offset(g) % 64, 0);
    assert_int_equal(mb_gguf_kv_count(g), 19);
    assert_string_equal(mb_gguf_kv_at(g, 1)->key, "general.alignment");
    uint32_t u32;
    uint64_t u64;
    int64_t i64;
    int32_t i32;
    double d;
    float f;
    bool b;
    struct mb_str s;
    MB_ASSERT_OK(mb_gguf_get_u32(g, "k.u8", &u32, &err), &err);
    assert_int_equal(u32, 255);
    MB_ASSERT_OK(mb_gguf_get_i32(g, "k.i8", &i32, &err), &err);
    assert_int_equal(i32, -128);
    MB_ASSERT_OK(mb_gguf_get_u32(g, "k.u16", &u32, &err), &err);
    assert_int_equal(u32, 65535);
    MB_ASSERT_OK(mb_gguf_get_i32(g, "k.i16", &i32, &err), &err);
    assert_int_equal(i32, -32768);
    MB_ASSERT_OK(mb_gguf_get_i32(g, "k.i32", &i32, &err), &err);
    assert_true(i32 == INT32_MIN);
    MB_ASSERT_OK(mb_gguf_get_f32(g, "k.f32", &f, &err), &err);
    assert_true(f == 0.0f && signbit(f));
    MB_ASSERT_OK(mb_gguf_get_bool(g, "k.bool", &b, &err), &err);
    assert_false(b);
    MB_ASSERT_OK(mb_gguf_get_str(g, "k.bin", &s, &err), &err);
    assert_int_equal(s.n, 3);
    assert_memory_equal(s.p, "a\0b", 3);
    MB_ASSERT_OK(mb_gguf_get_u64(g, "k.u64", &u64, &err), &err);
    assert_true(u64 == UINT64_MAX);
    MB_ASSERT_OK(mb_gguf_get_i64(g, "k.i64", &i64, &err), &err);
    assert_true(i64 == INT64_MIN);
    MB_ASSERT_OK(mb_gguf_get_f64(g, "k.f64", &d, &err), &err);
    assert_true(d == 1e300);
    const struct mb_gguf_array *a;
    MB_ASSERT_OK(mb_gguf_get_array(g, "k.arr.f32", MB_GGUF_TYPE_FLOAT32, &a, &err), &err);
    assert_true(mb_gguf_array_f32(a, 1) == -2.5f && isinf(mb_gguf_array_f32(a, 2)));
    MB_ASSERT_OK(mb_gguf_get_array(g, "k.arr.i16", MB_GGUF_TYPE_INT16, &a, &err), &err);
    assert_true(mb_gguf_array_i64(a, 0, &i64) && i64 == -1);
    MB_ASSERT_OK(mb_gguf_get_array(g, "k.arr.bool", MB_GGUF_TYPE_BOOL, &a, &err), &err);
    assert_int_equal(a->n, 3);
    assert_int_equal(a->data[2], 1);
    MB_ASSERT_OK(mb_gguf_get_array(g, "k.arr.empty", MB_GGUF_TYPE_UINT64, &a, &err), &err);
    assert_int_equal(a->n, 0);
    MB_ASSERT_OK(mb_gguf_get_array(g, "k.arr.str", MB_GGUF_TYPE_STRING, &a, &err), &err);
    assert_true(mb_str_eq_cstr(mb_gguf_array_str(a, 2), "\xe2\x96\x81the"));
    MB_ASSERT_OK(mb_gguf_get_array(g, "k.nested", MB_GGUF_TYPE_ARRAY, &a, &err), &err);
    assert_int_equal(mb_gguf_array_sub(a, 0)->n, 1);
    assert_true(mb_gguf_array_u64(mb_gguf_array_sub(a, 0), 0, &u64) && u64 == 7);
    assert_int_equal(mb_gguf_array_sub(a, 1)->n, 0);

    const struct mb_gguf_tensor *t = mb_gguf_find_tensor(g, "t.f32");
    assert_non_null(t);
    assert_int_equal(t->offset, 0);
    assert_int_equal(t->dims[1], 4);
    assert_memory_equal(t->data, tdata, 48);
    t = mb_gguf_find_tensor(g, "t.q6k");
    assert_int_equal(t->offset, 64); /* 48 padded to 64 */
    assert_int_equal(t->n_dims, 3);
    assert_int_equal(t->nbytes, 6 * 210);
    for (uint64_t i = 0; i < t->nbytes; i++)
        assert_int_equal(((const uint8_t *)t->data)[i], (uint8_t)(i * 7));
    /* gguf-py's layout: the file ends with the last tensor padded to the alignment. */
    assert_int_equal(out.n, t->file_offset + 1280);
    for (size_t i = (size_t)(t->file_offset + t->nbytes); i < out.n; i++)
        assert_int_equal((uint8_t)out.p[i], 0);
    mb_gguf_free(g);

    /* Deterministic: the same writer written again gives the same bytes, on disk too. */
    struct mb_buf again;
    st.next = 0;
    g = reopen(w, &again);
    mb_gguf_free(g);
    assert_int_equal(again.n, out.n);
    assert_memory_equal(again.p, out.p, out.n);
    const char *path = mb_test_tmp_path("rt.gguf");
    st.next = 0;
    MB_ASSERT_OK(mb_gguf_writer_write(w, path, NULL, &err), &err);
    struct mb_buf disk;
    mb_buf_init(&disk, 1 << 26);
    MB_ASSERT_OK(mb_file_read_all(path, 1 << 26, &disk, &err), &err);
    assert_int_equal(disk.n, out.n);
    assert_memory_equal(disk.p, out.p, out.n);

    mb_buf_release(&disk);
    mb_buf_release(&again);
    mb_buf_release(&out);
    mb_buf_release(&raw);
    mb_gguf_writer_free(w);
}

/* Copying everything from the hand-built sample reproduces its bytes exactly. */
static void test_copy_matches_layout(void **state)
{
    (void)state;
    struct mb_buf sample;
    mb_gb_sample(&sample, 3);
    struct mb_gguf *src = NULL;
    MB_ASSERT_OK(mb_gguf_open_memory(&src, sample.p, sample.n, "s.gguf", &err), &err);
    struct mb_gguf_writer *w = new_writer();
    MB_ASSERT_OK(mb_gguf_writer_copy_kvs(w, src, NULL, &err), &err);
    for (size_t i = 0; i < mb_gguf_tensor_count(src); i++)
        MB_ASSERT_OK(mb_gguf_writer_copy_tensor(w, mb_gguf_tensor_at(src, i), &err), &err);
    struct mb_buf out;
    mb_buf_init(&out, 1 << 20);
    MB_ASSERT_OK(mb_gguf_writer_write_buf(w, &out, &err), &err);
    /* The sample stops right after its last tensor; we also pad that one. */
    assert_int_equal(out.n, sample.n + 16);
    assert_memory_equal(out.p, sample.p, sample.n);
    mb_gguf_writer_free(w);

    /* A prefix filter copies only the matching keys, in file order. */
    w = new_writer();
    MB_ASSERT_OK(mb_gguf_writer_copy_kvs(w, src, "t.arr.", &err), &err);
    assert_int_equal(mb_gguf_writer_kv_count(w), 4);
    struct mb_buf o2;
    struct mb_gguf *g = reopen(w, &o2);
    assert_string_equal(mb_gguf_kv_at(g, 0)->key, "t.arr.u32");
    assert_string_equal(mb_gguf_kv_at(g, 2)->key, "t.arr.nested");
    mb_gguf_free(g);
    mb_gguf_writer_free(w);

    mb_buf_release(&o2);
    mb_buf_release(&out);
    mb_gguf_free(src);
    mb_buf_release(&sample);
}

static void test_replace_remove(void **state)
{
    (void)state;
    struct mb_gguf_writer *w = new_writer();
    MB_ASSERT_OK(mb_gguf_writer_set_u32(w, "a", 1, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_u32(w, "b", 2, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_u32(w, "c", 3, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_string(w, "a", "now a string", &err), &err);
    assert_int_equal(mb_gguf_writer_kv_count(w), 3);
    assert_true(mb_gguf_writer_remove(w, "b"));
    assert_false(mb_gguf_writer_remove(w, "b"));
    struct mb_buf out;
    struct mb_gguf *g = reopen(w, &out);
    assert_int_equal(mb_gguf_kv_count(g), 2);
    assert_string_equal(mb_gguf_kv_at(g, 0)->key, "a"); /* kept its position */
    assert_int_equal(mb_gguf_kv_at(g, 0)->value.type, MB_GGUF_TYPE_STRING);
    assert_string_equal(mb_gguf_kv_at(g, 1)->key, "c");
    mb_gguf_free(g);
    mb_buf_release(&out);
    mb_gguf_writer_free(w);
}

static void test_writer_checks(void **state)
{
    (void)state;
    struct mb_gguf_writer *w = new_writer();
    assert_int_equal(mb_gguf_writer_set_u8(w, "", 1, &err), MB_E_USAGE);
    assert_int_equal(mb_gguf_writer_set_u32(w, "general.alignment", 48, &err), MB_E_USAGE);
    assert_int_equal(mb_gguf_writer_set_u32(w, "general.alignment", 0, &err), MB_E_USAGE);
    assert_int_equal(mb_gguf_writer_set_u64(w, "general.alignment", 64, &err), MB_E_USAGE);
    assert_non_null(strstr(err.msg, "must be a uint32 power of two"));
    const uint8_t bad_bool[] = { 0, 2 };
    assert_int_equal(mb_gguf_writer_set_array(w, "k", MB_GGUF_TYPE_BOOL, bad_bool, 2, &err),
                     MB_E_USAGE);
    assert_int_equal(mb_gguf_writer_set_array(w, "k", MB_GGUF_TYPE_STRING, bad_bool, 2, &err),
                     MB_E_USAGE);
    /* set_raw: truncated, trailing bytes, bad bool, unknown type */
    const uint8_t trunc[] = { 4, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0 };
    assert_int_equal(mb_gguf_writer_set_raw(w, "k", MB_GGUF_TYPE_ARRAY, trunc, sizeof(trunc), &err),
                     MB_E_FORMAT);
    assert_non_null(strstr(err.msg, "value for key 'k'"));
    const uint8_t two[] = { 1, 2 };
    assert_int_equal(mb_gguf_writer_set_raw(w, "k", MB_GGUF_TYPE_UINT8, two, 2, &err), MB_E_FORMAT);
    assert_non_null(strstr(err.msg, "1 bytes left over"));
    assert_int_equal(mb_gguf_writer_set_raw(w, "k", MB_GGUF_TYPE_BOOL, two + 1, 1, &err),
                     MB_E_FORMAT);
    assert_int_equal(mb_gguf_writer_set_raw(w, "k", 13, two, 1, &err), MB_E_FORMAT);
    assert_int_equal(mb_gguf_writer_kv_count(w), 0);

    float data[64] = { 0 };
    uint64_t d[] = { 32, 2 };
    assert_int_equal(mb_gguf_writer_add_tensor(w, "", MB_DTYPE_F32, 1, d, data, 128, &err),
                     MB_E_USAGE);
    char longname[66];
    memset(longname, 'x', 65);
    longname[65] = '\0';
    assert_int_equal(mb_gguf_writer_add_tensor(w, longname, MB_DTYPE_F32, 1, d, data, 128, &err),
                     MB_E_USAGE);
    assert_int_equal(mb_gguf_writer_add_tensor(w, "t", MB_DTYPE_F32, 0, d, data, 128, &err),
                     MB_E_USAGE);
    assert_int_equal(mb_gguf_writer_add_tensor(w, "t", MB_DTYPE_F32, 5, d, data, 128, &err),
                     MB_E_USAGE);
    assert_int_equal(mb_gguf_writer_add_tensor(w, "t", 99, 1, d, data, 128, &err), MB_E_USAGE);
    uint64_t d0[] = { 32, 0 };
    assert_int_equal(mb_gguf_writer_add_tensor(w, "t", MB_DTYPE_F32, 2, d0, data, 0, &err),
                     MB_E_USAGE);
    uint64_t d33[] = { 33 };
    assert_int_equal(mb_gguf_writer_add_tensor(w, "t", MB_DTYPE_Q8_0, 1, d33, data, 34, &err),
                     MB_E_USAGE);
    assert_non_null(strstr(err.msg, "not a multiple of the q8_0 block length 32"));
    assert_int_equal(mb_gguf_writer_add_tensor(w, "t", MB_DTYPE_F32, 2, d, data, 100, &err),
                     MB_E_USAGE);
    assert_non_null(strstr(err.msg, "100 bytes of data given, its type and shape need 256"));
    uint64_t huge[] = { 1ull << 40, 1ull << 40 };
    assert_int_equal(mb_gguf_writer_add_tensor(w, "t", MB_DTYPE_F32, 2, huge, data, 0, &err),
                     MB_E_LIMIT);
    assert_int_equal(mb_gguf_writer_tensor_count(w), 0);
    MB_ASSERT_OK(mb_gguf_writer_add_tensor(w, "t", MB_DTYPE_F32, 2, d, data, 256, &err), &err);
    assert_int_equal(mb_gguf_writer_add_tensor(w, "t", MB_DTYPE_F32, 2, d, data, 256, &err),
                     MB_E_EXISTS);
    assert_int_equal(mb_gguf_writer_tensor_count(w), 1);
    mb_gguf_writer_free(w);
}

static bool tmp_files_left(const char *dir, const char *prefix)
{
    DIR *dh = opendir(dir);
    assert_non_null(dh);
    struct dirent *de;
    bool found = false;
    while ((de = readdir(dh)))
        if (!strncmp(de->d_name, prefix, strlen(prefix)) && strstr(de->d_name, ".tmp."))
            found = true;
    closedir(dh);
    return found;
}

struct progress_log {
    uint64_t last_done, total;
    int calls;
    bool monotonic;
};

static void on_progress(void *ud, const char *label, uint64_t done, uint64_t total)
{
    struct progress_log *p = ud;
    assert_string_equal(label, "atomic.gguf");
    if (done < p->last_done)
        p->monotonic = false;
    p->last_done = done;
    p->total = total;
    p->calls++;
}

static void test_atomic_write(void **state)
{
    (void)state;
    const char *path = mb_test_tmp_path("atomic.gguf");
    mb_test_write_file(path, "old", 3);
    struct mb_gguf_writer *w = new_writer();
    struct fill_state st = { 0, 0, 2 }; /* the second chunk fails */
    uint64_t big[] = { 4u << 20, 2 };   /* 8 MiB of u8-sized... f32: 32 MiB, 8 chunks */
    MB_ASSERT_OK(
        mb_gguf_writer_add_tensor_fn(w, "big", MB_DTYPE_F32, 2, big, fill_pattern, &st, &err),
        &err);
    assert_int_equal(mb_gguf_writer_write(w, path, NULL, &err), MB_E_IO);
    assert_string_equal(err.msg, "fill failed on purpose");
    struct mb_buf got;
    mb_buf_init(&got, 1 << 27);
    MB_ASSERT_OK(mb_file_read_all(path, 1 << 27, &got, &err), &err);
    assert_int_equal(got.n, 3); /* untouched */
    assert_false(tmp_files_left(mb_test_tmpdir(), "atomic.gguf"));

    /* Ctrl-C between chunks */
    st = (struct fill_state){ 0, 0, 0 };
    mb_interrupted = 1;
    assert_int_equal(mb_gguf_writer_write(w, path, NULL, &err), MB_E_INTERRUPTED);
    mb_interrupted = 0;
    assert_non_null(strstr(err.msg, "interrupted while writing 'atomic.gguf'"));
    mb_buf_release(&got); /* mb_file_read_all initialises the buffer */
    MB_ASSERT_OK(mb_file_read_all(path, 1 << 27, &got, &err), &err);
    assert_int_equal(got.n, 3);
    assert_false(tmp_files_left(mb_test_tmpdir(), "atomic.gguf"));

    /* Success: progress is monotonic and ends at the total. */
    st = (struct fill_state){ 0, 0, 0 };
    struct progress_log log = { 0, 0, 0, true };
    struct mb_progress p = { on_progress, &log };
    MB_ASSERT_OK(mb_gguf_writer_write(w, path, &p, &err), &err);
    assert_true(log.monotonic);
    assert_int_equal(log.total, 32u << 20);
    assert_int_equal(log.last_done, 32u << 20);
    assert_true(log.calls >= 9);
    assert_int_equal(st.calls, 8); /* 4 MiB chunks */
    assert_false(tmp_files_left(mb_test_tmpdir(), "atomic.gguf"));
    struct mb_gguf *g = NULL;
    MB_ASSERT_OK(mb_gguf_open(&g, path, &err), &err);
    const struct mb_gguf_tensor *t = mb_gguf_find_tensor(g, "big");
    assert_int_equal(t->nbytes, 32u << 20);
    assert_int_equal(((const uint8_t *)t->data)[12345678], (uint8_t)(12345678u * 7));
    mb_gguf_free(g);

    /* A directory that does not exist: an error, nothing created. */
    assert_int_equal(mb_gguf_writer_write(w, mb_test_tmp_path("no/such/dir.gguf"), NULL, &err),
                     MB_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "cannot create"));

    mb_buf_release(&got);
    mb_gguf_writer_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),     cmocka_unit_test(test_copy_matches_layout),
        cmocka_unit_test(test_replace_remove), cmocka_unit_test(test_writer_checks),
        cmocka_unit_test(test_atomic_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
