/*
 * test_common.c - unit tests of common/: errors and exit statuses, strict
 * number/size/duration parsing, capped buffers, the arena, atomic file
 * writes, rm -rf, SHA-256 against known vectors, hex, and UTC timestamps.
 */
#include "mb_test.h"

#include <errno.h>
#include <sys/stat.h>

static void test_err(void **state)
{
    (void)state;
    struct mb_err err;
    mb_err_init(&err);
    assert_int_equal(err.code, 0);
    int rc = mb_fail(&err, MB_E_FORMAT, "%s: field '%s' at offset %d", "a.gguf", "x", 12);
    assert_int_equal(rc, MB_E_FORMAT);
    assert_string_equal(err.msg, "a.gguf: field 'x' at offset 12");
    mb_err_prefix(&err, "loading %s", "model");
    assert_string_equal(err.msg, "loading model: a.gguf: field 'x' at offset 12");
    assert_string_equal(mb_err_name(MB_E_FORMAT), "FORMAT");
    assert_int_equal(mb_err_exit_status(MB_E_USAGE), 2);
    assert_int_equal(mb_err_exit_status(MB_E_OK), 0);
    assert_int_equal(mb_fail_errno(&err, ENOSPC, "writing '%s'", "f"), MB_E_NOSPACE);
    assert_non_null(strstr(err.msg, "writing 'f': "));
    assert_int_equal(mb_fail(NULL, MB_E_IO, "no err object"), MB_E_IO);
}

static void test_parse(void **state)
{
    (void)state;
    uint64_t u;
    int64_t i;
    double d;
    assert_true(mb_parse_u64("18446744073709551615", &u));
    assert_true(u == UINT64_MAX);
    assert_false(mb_parse_u64("18446744073709551616", &u));
    assert_false(mb_parse_u64("-1", &u));
    assert_false(mb_parse_u64("12x", &u));
    assert_false(mb_parse_u64("", &u));
    assert_false(mb_parse_u64(" 1", &u));
    assert_true(mb_parse_i64("-42", &i));
    assert_true(i == -42);
    assert_false(mb_parse_i64("4 2", &i));
    assert_true(mb_parse_double("0.5", &d));
    assert_true(d == 0.5);
    assert_false(mb_parse_double("nan", &d));
    assert_false(mb_parse_double("1e999", &d));
    assert_true(mb_parse_size("512", &u) && u == 512);
    assert_true(mb_parse_size("64K", &u) && u == 65536);
    assert_true(mb_parse_size("1.5G", &u) && u == 1610612736ull);
    assert_true(mb_parse_size("2GiB", &u) && u == 2147483648ull);
    assert_true(mb_parse_size("100MB", &u) && u == 104857600ull);
    assert_false(mb_parse_size("12Q", &u));
    assert_false(mb_parse_size("-5M", &u));
    assert_true(mb_parse_duration("7d", &u) && u == 604800);
    assert_true(mb_parse_duration("30", &u) && u == 30);
    assert_false(mb_parse_duration("7y", &u));
    char buf[32];
    assert_string_equal(mb_format_size(1536, buf, sizeof(buf)), "1.5 KiB");
    assert_string_equal(mb_format_size(12, buf, sizeof(buf)), "12 B");
    assert_int_equal(mb_edit_distance("instal", "install"), 1);
    assert_int_equal(mb_edit_distance("", "abc"), 3);
    assert_int_equal(mb_edit_distance("kitten", "sitting"), 3);
    char small[4];
    assert_false(mb_strlcpy(small, "hello", sizeof(small)));
    assert_string_equal(small, "hel");
    assert_true(mb_strlcpy(small, "hey", sizeof(small)));
}

static void test_buf(void **state)
{
    (void)state;
    struct mb_err err;
    struct mb_buf b;
    mb_buf_init(&b, 16);
    assert_int_equal(mb_buf_append_cstr(&b, "hello ", &err), 0);
    assert_int_equal(mb_buf_appendf(&b, &err, "%d", 12345), 0);
    assert_string_equal(b.p, "hello 12345");
    /* The cap is enforced, and a failed append leaves the content intact. */
    assert_int_equal(mb_buf_append_cstr(&b, "0123456789", &err), MB_E_LIMIT);
    assert_string_equal(b.p, "hello 12345");
    size_t n;
    char *p = mb_buf_detach(&b, &n);
    assert_int_equal(n, 11);
    assert_null(b.p);
    mb_free(p);
    mb_buf_release(&b);

    struct mb_arena a;
    mb_arena_init(&a, 1 << 20);
    char *s = mb_arena_strndup(&a, "abcdef", 3);
    assert_string_equal(s, "abc");
    uint64_t *x = mb_arena_alloc(&a, 100 * sizeof(uint64_t), 8);
    assert_non_null(x);
    assert_true(((uintptr_t)x & 7) == 0);
    assert_true(x[99] == 0);
    assert_null(mb_arena_alloc(&a, 2 << 20, 8)); /* over the cap */
    mb_arena_release(&a);
}

static void test_files(void **state)
{
    (void)state;
    struct mb_err err;
    const char *dir = mb_test_tmp_path("a/b/c");
    MB_ASSERT_OK(mb_mkdir_p(dir, 0755, &err), &err);
    assert_true(mb_is_dir(dir));
    const char *f = mb_test_tmp_path("a/b/c/state.json");
    MB_ASSERT_OK(mb_file_write_atomic(f, "{}", 2, 0644, &err), &err);
    MB_ASSERT_OK(mb_file_write_atomic(f, "{\"x\":1}", 7, 0644, &err), &err);
    struct mb_buf b;
    MB_ASSERT_OK(mb_file_read_all(f, 1024, &b, &err), &err);
    assert_string_equal(b.p, "{\"x\":1}");
    mb_buf_release(&b);
    assert_int_equal(mb_file_read_all(f, 3, &b, &err), MB_E_LIMIT);
    assert_int_equal(mb_file_read_all(mb_test_tmp_path("missing"), 10, &b, &err), MB_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "missing"));
    /* Atomic write into a missing directory fails and leaves nothing behind. */
    assert_int_equal(mb_file_write_atomic(mb_test_tmp_path("nodir/x"), "a", 1, 0644, &err),
                     MB_E_NOTFOUND);

    struct mb_map m;
    MB_ASSERT_OK(mb_map_file(f, &m, &err), &err);
    assert_int_equal(m.n, 7);
    assert_memory_equal(m.p, "{\"x\":1}", 7);
    mb_unmap(&m);

    char *j = mb_path_join("/x/", "y");
    assert_string_equal(j, "/x/y");
    mb_free(j);
    assert_string_equal(mb_path_basename("/a/b.gguf"), "b.gguf");

    MB_ASSERT_OK(mb_rm_rf(mb_test_tmp_path("a"), &err), &err);
    assert_false(mb_path_exists(mb_test_tmp_path("a")));
    MB_ASSERT_OK(mb_rm_rf(mb_test_tmp_path("a"), &err), &err); /* missing is fine */
}

static void test_hash(void **state)
{
    (void)state;
    uint8_t h[32];
    char hex[65];
    mb_sha256("abc", 3, h);
    mb_hex_encode(h, 32, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    struct mb_sha256 st;
    mb_sha256_init(&st);
    mb_sha256_update(&st, "a", 1);
    mb_sha256_update(&st, "bc", 2);
    uint8_t h2[32];
    mb_sha256_final(&st, h2);
    assert_memory_equal(h, h2, 32);
    uint8_t back[32];
    assert_true(mb_hex_decode(hex, back, 32));
    assert_memory_equal(back, h, 32);
    assert_false(mb_hex_decode("zz", back, 1));

    struct mb_err err;
    const char *f = mb_test_tmp_path("empty");
    mb_test_write_file(f, "", 0);
    uint64_t size = 99;
    MB_ASSERT_OK(mb_sha256_file(f, h, &size, &err), &err);
    mb_hex_encode(h, 32, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_true(size == 0);
}

static void test_time(void **state)
{
    (void)state;
    char buf[32];
    assert_true(mb_time_format_utc(0, buf, sizeof(buf)));
    assert_string_equal(buf, "1970-01-01T00:00:00Z");
    int64_t t;
    assert_true(mb_time_parse_utc("2026-11-23T07:47:00Z", &t));
    assert_true(mb_time_format_utc(t, buf, sizeof(buf)));
    assert_string_equal(buf, "2026-11-23T07:47:00Z");
    assert_true(mb_time_parse_utc("2000-02-29T12:00:00Z", &t));
    assert_true(t == 951825600);
    assert_false(mb_time_parse_utc("2026-13-01T00:00:00Z", &t));
    assert_false(mb_time_parse_utc("2026-11-23 07:47:00", &t));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err),   cmocka_unit_test(test_parse), cmocka_unit_test(test_buf),
        cmocka_unit_test(test_files), cmocka_unit_test(test_hash),  cmocka_unit_test(test_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
