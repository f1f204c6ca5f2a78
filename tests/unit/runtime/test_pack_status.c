/*
 * test_pack_status.c - the status files of the pack cache (runtime/
 * pack_status.c): HOME/run/status written from a real cache reads back with
 * the same states, sizes and counters; HOME/usage accumulates uses and last
 * use times across records; malformed files are refused with the line named.
 */
#include "mb_pack_cache.h"
#include "mb_test.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int load_cb(void *ud, const char *id, const char *path, void **obj, uint64_t *bytes,
                   struct mb_err *err)
{
    (void)ud;
    (void)path;
    (void)err;
    *obj = mb_strdup(id);
    *bytes = 0;
    return *obj ? 0 : MB_E_NOMEM;
}

static void unload_cb(void *ud, const char *id, void *obj)
{
    (void)ud;
    (void)id;
    mb_free(obj);
}

static void test_status_roundtrip(void **state)
{
    (void)state;
    const struct mb_pack_cache_ops ops = { load_cb, unload_cb };
    struct mb_pack_cache_opts o;
    mb_pack_cache_opts_init(&o);
    o.budget = 3000;
    o.reserved = 500;
    o.no_thread = true;
    struct mb_pack_cache *c;
    struct mb_err err;
    mb_err_init(&err);
    MB_ASSERT_OK(mb_pack_cache_new(&ops, NULL, &o, &c, &err), &err);
    MB_ASSERT_OK(mb_pack_cache_add(c, "general", NULL, 1000, true, &err), &err);
    MB_ASSERT_OK(mb_pack_cache_add(c, "python", NULL, 1000, false, &err), &err);
    MB_ASSERT_OK(mb_pack_cache_add(c, "medical", NULL, 1000, false, &err), &err);
    MB_ASSERT_OK(mb_pack_cache_load_residents(c, &err), &err);
    void *obj;
    MB_ASSERT_OK(mb_pack_cache_get(c, "python", &obj, &err), &err);
    mb_pack_cache_put(c, "python");
    MB_ASSERT_OK(mb_pack_cache_get(c, "medical", &obj, &err), &err); /* evicts python */
    mb_pack_cache_put(c, "medical");
    MB_ASSERT_OK(mb_pack_cache_get(c, "medical", &obj, &err), &err);
    mb_pack_cache_put(c, "medical");

    const char *home = mb_test_tmp_path("home1");
    MB_ASSERT_OK(mb_mkdir_p(home, 0755, &err), &err);
    MB_ASSERT_OK(mb_pack_cache_status_write(c, home, &err), &err);
    struct mb_pack_status st;
    MB_ASSERT_OK(mb_pack_status_read(home, &st, &err), &err);
    assert_int_equal(st.pid, getpid());
    assert_true(st.updated > 0);
    assert_int_equal(st.totals.budget, 3000);
    assert_int_equal(st.totals.reserved, 500);
    assert_int_equal(st.totals.used, 2500);
    assert_int_equal(st.n, 3);
    assert_string_equal(st.packs[0].id, "general");
    assert_int_equal(st.packs[0].state, MB_PACK_RESIDENT);
    assert_true(st.packs[0].resident);
    assert_string_equal(st.packs[1].id, "python");
    assert_int_equal(st.packs[1].state, MB_PACK_ON_DISK);
    assert_int_equal(st.packs[1].evictions, 1);
    assert_int_equal(st.packs[1].misses, 1);
    assert_string_equal(st.packs[2].id, "medical");
    assert_int_equal(st.packs[2].state, MB_PACK_LOADED);
    assert_int_equal(st.packs[2].hits, 1);
    assert_int_equal(st.packs[2].bytes, 1000);
    assert_true(st.packs[2].last_used > 0);
    mb_pack_status_release(&st);
    mb_pack_cache_free(c);
}

static void expect_bad_status(const char *home, const char *text, const char *what)
{
    char dir[600], path[700];
    snprintf(dir, sizeof(dir), "%s/run", home);
    snprintf(path, sizeof(path), "%s/status", dir);
    struct mb_err err;
    mb_err_init(&err);
    MB_ASSERT_OK(mb_mkdir_p(dir, 0755, &err), &err);
    mb_test_write_file(path, text, strlen(text));
    struct mb_pack_status st;
    int rc = mb_pack_status_read(home, &st, &err);
    assert_int_equal(rc, MB_E_FORMAT);
    if (!strstr(err.msg, what))
        fail_msg("message '%s' lacks '%s'", err.msg, what);
    assert_null(st.packs);
}

static void test_status_bad(void **state)
{
    (void)state;
    const char *home = mb_test_tmp_path("home2");
    struct mb_pack_status st;
    struct mb_err err;
    mb_err_init(&err);
    assert_int_equal(mb_pack_status_read(home, &st, &err), MB_E_NOTFOUND);
    const char *hdr = "modularbase-status 1\npid 5\nupdated 9\nbudget 0\nreserved 0\nused "
                      "0\npreloads_skipped 0\n";
    char buf[1024];
    expect_bad_status(home, "hello\n", ":1: not a modularbase-status 1 file");
    expect_bad_status(home, "modularbase-status 1\npid -5\n", ":2: expected 'pid <number>'");
    expect_bad_status(home, "modularbase-status 1\npid 5", ":2: the last line has no newline");
    snprintf(buf, sizeof(buf), "%spack a loaded 1 12 0 0 0 0 0\n", hdr);
    expect_bad_status(home, buf, ":8: expected 'pack ID STATE");
    snprintf(buf, sizeof(buf), "%spack a flying 1 12 0 0 0 0 0 0\n", hdr);
    expect_bad_status(home, buf, ":8:");
    snprintf(buf, sizeof(buf), "%spack a loaded 1 99999999999999999999 0 0 0 0 0 0\n", hdr);
    expect_bad_status(home, buf, ":8:");
    snprintf(buf, sizeof(buf), "%spack a loaded 1 12 0 0 0 0 0 0\n", hdr);
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/run/status", home);
    mb_test_write_file(dir, buf, strlen(buf));
    MB_ASSERT_OK(mb_pack_status_read(home, &st, &err), &err);
    assert_int_equal(st.n, 1);
    assert_int_equal(st.packs[0].bytes, 12);
    mb_pack_status_release(&st);
}

static void test_usage(void **state)
{
    (void)state;
    const char *home = mb_test_tmp_path("home3");
    struct mb_err err;
    mb_err_init(&err);
    MB_ASSERT_OK(mb_mkdir_p(home, 0755, &err), &err);
    struct mb_pack_usage *u;
    size_t n;
    MB_ASSERT_OK(mb_pack_usage_load(home, &u, &n, &err), &err);
    assert_int_equal(n, 0);
    const char *a[] = { "general", "python" };
    MB_ASSERT_OK(mb_pack_usage_record(home, a, 2, 1000, &err), &err);
    const char *b[] = { "python" };
    MB_ASSERT_OK(mb_pack_usage_record(home, b, 1, 2000, &err), &err);
    MB_ASSERT_OK(mb_pack_usage_load(home, &u, &n, &err), &err);
    assert_int_equal(n, 2);
    assert_string_equal(u[0].id, "general");
    assert_int_equal(u[0].last_used, 1000);
    assert_int_equal(u[0].uses, 1);
    assert_string_equal(u[1].id, "python");
    assert_int_equal(u[1].last_used, 2000);
    assert_int_equal(u[1].uses, 2);
    mb_free(u);
    const char *bad[] = { "a b" };
    assert_int_equal(mb_pack_usage_record(home, bad, 1, 1, &err), MB_E_USAGE);

    char path[600];
    snprintf(path, sizeof(path), "%s/usage", home);
    mb_test_write_file(path, "modularbase-usage 1\ngeneral x 1\n", 32);
    assert_int_equal(mb_pack_usage_load(home, &u, &n, &err), MB_E_FORMAT);
    assert_non_null(strstr(err.msg, ":2: expected 'ID LAST_USED USES'"));
    /* recording over a damaged file starts again */
    MB_ASSERT_OK(mb_pack_usage_record(home, b, 1, 3000, &err), &err);
    MB_ASSERT_OK(mb_pack_usage_load(home, &u, &n, &err), &err);
    assert_int_equal(n, 1);
    assert_int_equal(u[0].uses, 1);
    mb_free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_roundtrip),
        cmocka_unit_test(test_status_bad),
        cmocka_unit_test(test_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
