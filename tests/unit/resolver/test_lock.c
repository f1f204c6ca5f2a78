/*
 * test_lock.c - packs.lock parse/emit (deterministic, sorted, round trip,
 * malformed files refused), requests ("id@range"), the index-directory source
 * (lookup, NOTFOUND, wrong id, listing base packs), and a resolution written
 * as a lock.
 */
#include "mb_test.h"
#include "mb_resolver.h"

static void test_lock_roundtrip(void **state)
{
    (void)state;
    struct mb_lock l, l2;
    struct mb_err err;
    mb_lock_init(&l);
    MB_ASSERT_OK(mb_lock_put(&l, "zeta", "1.0.0", "main", NULL, &err), &err);
    MB_ASSERT_OK(mb_lock_put(&l, "alpha", "2.0.0-rc.1", "main",
                             "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9",
                             &err),
                 &err);
    MB_ASSERT_OK(mb_lock_put(&l, "mid", "0.1.0", NULL, NULL, &err), &err);
    MB_ASSERT_OK(mb_lock_put(&l, "zeta", "1.1.0", "main", NULL, &err), &err); /* replaces */
    assert_int_equal(l.n, 3);
    assert_string_equal(l.v[0].id, "alpha");
    assert_string_equal(l.v[2].version, "1.1.0");
    assert_non_null(mb_lock_find(&l, "mid"));
    assert_null(mb_lock_find(&l, "nope"));
    struct mb_buf a, b;
    mb_buf_init(&a, 1 << 20);
    mb_buf_init(&b, 1 << 20);
    MB_ASSERT_OK(mb_lock_emit(&l, &a, &err), &err);
    MB_ASSERT_OK(mb_lock_parse("packs.lock", a.p, a.n, &l2, &err), &err);
    MB_ASSERT_OK(mb_lock_emit(&l2, &b, &err), &err);
    assert_string_equal(a.p, b.p);
    assert_non_null(strstr(a.p,
                           "    {\n      \"id\": \"alpha\",\n      \"version\": "
                           "\"2.0.0-rc.1\",\n      \"registry\": \"main\",\n      \"sha256\""));
    assert_null(l2.v[1].registry);
    mb_buf_release(&a);
    mb_buf_release(&b);
    mb_lock_release(&l);
    mb_lock_release(&l2);

    struct {
        const char *json, *want;
    } bad[] = {
        { "[]", "expected a JSON object" },
        { "{\"lock_version\": 2, \"packs\": []}", "lock_version: expected 1" },
        { "{\"lock_version\": 1, \"packs\": {}}", "packs: expected an array" },
        { "{\"lock_version\": 1, \"packs\": [], \"x\": 1}", "unknown field \"x\"" },
        { "{\"lock_version\": 1, \"packs\": [{\"id\": \"A\", \"version\": \"1.0.0\"}]}",
          "packs[0].id: \"A\" is not a valid pack id" },
        { "{\"lock_version\": 1, \"packs\": [{\"id\": \"a\", \"version\": \"1\"}]}",
          "packs[0].version: \"1\" is not a valid version" },
        { "{\"lock_version\": 1, \"packs\": [{\"id\": \"a\", \"version\": \"1.0.0\", \"sha256\": "
          "\"xyz\"}]}",
          "sha256: expected 64 hex digits" },
        { "{\"lock_version\": 1, \"packs\": [{\"id\": \"a\", \"version\": \"1.0.0\"}, {\"id\": "
          "\"a\", \"version\": \"2.0.0\"}]}",
          "'a' is listed twice" },
        { "{\"lock_version\": 1, \"packs\": [{\"id\": \"a\", \"version\": \"1.0.0\", \"extra\": "
          "1}]}",
          "packs[0]: unknown field \"extra\"" },
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(bad); i++) {
        if (mb_lock_parse("packs.lock", bad[i].json, strlen(bad[i].json), &l, &err) == 0)
            fail_msg("lock case %zu should fail", i);
        if (!strstr(err.msg, bad[i].want) || strncmp(err.msg, "packs.lock", 10))
            fail_msg("lock case %zu: '%s' lacks '%s'", i, err.msg, bad[i].want);
    }
}

static void test_requests(void **state)
{
    (void)state;
    struct mb_request r;
    struct mb_err err;
    MB_ASSERT_OK(mb_request_parse("medical", false, &r, &err), &err);
    assert_string_equal(r.id, "medical");
    assert_string_equal(r.range_text, "*");
    mb_request_release(&r);
    MB_ASSERT_OK(mb_request_parse("medical@>=1.2 <2 || 3.x", false, &r, &err), &err);
    assert_string_equal(r.range_text, ">=1.2 <2 || 3.x");
    assert_int_equal(r.range.nsets, 2);
    mb_request_release(&r);
    assert_int_equal(mb_request_parse("Medical", false, &r, &err), MB_E_USAGE);
    assert_non_null(strstr(err.msg, "request 'Medical'"));
    assert_int_equal(mb_request_parse("medical@", false, &r, &err), MB_E_USAGE);
    assert_non_null(strstr(err.msg, "missing range"));
    assert_int_equal(mb_request_parse("medical@^1.x.y", false, &r, &err), MB_E_USAGE);
    assert_non_null(strstr(err.msg, "is not a valid range"));
    assert_int_equal(mb_request_parse("@1.0.0", false, &r, &err), MB_E_USAGE);
}

static void test_index_dir(void **state)
{
    (void)state;
    struct mb_index_dir *d;
    struct mb_err err;
    assert_int_equal(mb_index_dir_open(mb_test_tmp_path("nope"), "x", &d, &err), MB_E_NOTFOUND);
    MB_ASSERT_OK(mb_index_dir_open(mb_test_data_path("registry-small"), "main", &d, &err), &err);
    struct mb_resolve_source src = mb_index_dir_source(d);
    const struct mb_index_record *rec, *rec2;
    const char *reg;
    MB_ASSERT_OK(src.load(src.ud, "medical-en", &rec, &reg, &err), &err);
    assert_string_equal(reg, "main");
    assert_int_equal(rec->nversions, 3);
    MB_ASSERT_OK(src.load(src.ud, "medical-en", &rec2, &reg, &err), &err);
    assert_ptr_equal(rec, rec2); /* cached */
    assert_int_equal(src.load(src.ud, "no-such-pack", &rec, &reg, &err), MB_E_NOTFOUND);
    assert_int_equal(src.load(src.ud, "../etc", &rec, &reg, &err), MB_E_FORMAT);
    char **ids;
    size_t n;
    MB_ASSERT_OK(src.list_bases(src.ud, &ids, &n, &err), &err);
    assert_int_equal(n, 1);
    assert_string_equal(ids[0], "smollm2-135m");
    mb_free(ids[0]);
    mb_free(ids);

    /* A resolution turned into a lock. */
    struct mb_request req;
    MB_ASSERT_OK(mb_request_parse("medical-en@1.0.x", false, &req, &err), &err);
    struct mb_resolve_opts o = { .requests = &req, .nrequests = 1 };
    struct mb_resolution res;
    MB_ASSERT_OK(mb_resolve(&src, &o, &res, &err), &err);
    struct mb_lock l;
    MB_ASSERT_OK(mb_resolution_to_lock(&res, &l, &err), &err);
    assert_int_equal(l.n, 3); /* general, medical-en, smollm2-135m */
    assert_string_equal(l.v[1].id, "medical-en");
    assert_string_equal(l.v[1].version, "1.0.0");
    assert_string_equal(l.v[1].registry, "main");
    assert_int_equal(strlen(l.v[1].sha256), 64);
    assert_true(res.stats.packages >= 3 && res.stats.decisions >= 3);
    mb_lock_release(&l);
    mb_resolution_release(&res);
    mb_request_release(&req);
    mb_index_dir_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lock_roundtrip),
        cmocka_unit_test(test_requests),
        cmocka_unit_test(test_index_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
