/*
 * test_index.c - registry index records: a valid record parses (sorted,
 * defaults), emits canonically (a fixed point), versions can be added from a
 * manifest, and malformed records (types, unknown fields, duplicate keys and
 * versions, bad hashes, wrong id, bad ranges, oversize) are refused with a
 * message naming the file and field.
 */
#include "mb_test.h"
#include "mb_manifests.h"

static void test_valid(void **state)
{
    (void)state;
    struct mb_index_record r, r2;
    struct mb_err err;
    MB_ASSERT_OK(mb_index_load(mb_test_data_path("index/medical-en.json"), "medical-en", &r, &err),
                 &err);
    assert_int_equal(r.kind, MB_PACK_DATA);
    assert_int_equal(r.nversions, 2);
    assert_string_equal(r.versions[0].version_text, "1.0.0"); /* sorted ascending */
    assert_false(r.versions[0].yanked);
    assert_true(r.versions[1].yanked);
    assert_int_equal(r.versions[1].ndeps, 1);
    assert_string_equal(r.versions[1].deps[0].version, "^2.1.0");
    assert_null(r.versions[1].conflicts[0].version);
    assert_true(r.versions[1].size == 1048576);

    struct mb_buf a, b;
    mb_buf_init(&a, 1u << 20);
    mb_buf_init(&b, 1u << 20);
    MB_ASSERT_OK(mb_index_emit(&r, &a, &err), &err);
    MB_ASSERT_OK(mb_index_parse("emitted", a.p, a.n, NULL, &r2, &err), &err);
    MB_ASSERT_OK(mb_index_emit(&r2, &b, &err), &err);
    assert_string_equal(a.p, b.p);
    assert_non_null(strstr(a.p, "\"format\": 1,\n  \"id\": \"medical-en\""));

    /* Add a version built from a manifest. */
    struct mb_manifest m;
    MB_ASSERT_OK(mb_manifest_load(mb_test_data_path("manifests/full.yaml"), &m, &err), &err);
    struct mb_index_version v;
    MB_ASSERT_OK(mb_index_version_from_manifest(&m, &v, &err), &err);
    v.archive = mb_strdup("packs/medical-en/medical-en-1.2.0-rc.1.mbpack");
    memset(v.sha256, 'a', 64);
    v.sha256[64] = '\0';
    MB_ASSERT_OK(mb_index_record_put(&r2, &v, &err), &err);
    assert_int_equal(r2.nversions, 3);
    assert_string_equal(r2.versions[2].version_text, "1.2.0-rc.1+build.7");
    assert_string_equal(r2.versions[2].base, "smollm2-135m");
    mb_buf_reset(&a);
    MB_ASSERT_OK(mb_index_emit(&r2, &a, &err), &err);
    mb_index_record_release(&r);
    MB_ASSERT_OK(mb_index_parse("emitted", a.p, a.n, "medical-en", &r, &err), &err);
    assert_int_equal(r.versions[2].nconflicts, 2);
    mb_manifest_release(&m);
    mb_buf_release(&a);
    mb_buf_release(&b);
    mb_index_record_release(&r);
    mb_index_record_release(&r2);
}

#define V_OK                                                                               \
    "\"version\":\"1.0.0\",\"name\":\"M\",\"base_compatibility\":[\"1\"],\"archive\":\"p/" \
    "m.mbpack\","                                                                          \
    "\"sha256\":\"fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9\",\"size\":1"
#define REC(v) "{\"format\":1,\"id\":\"m\",\"kind\":\"data\",\"versions\":[" v "]}"

static void test_malformed(void **state)
{
    (void)state;
    struct {
        const char *json, *want;
    } bad[] = {
        { "", "idx.json:1:0: invalid JSON" },
        { "[]", "idx.json: (top level): expected an object, got an array" },
        { "{\"format\":1,\"format\":1}", "invalid JSON: duplicate object key" },
        { "{\"format\":2,\"id\":\"m\",\"kind\":\"data\",\"versions\":[]}",
          "format 2 is not supported" },
        { "{\"format\":1,\"id\":\"M\",\"kind\":\"data\",\"versions\":[]}",
          "id: \"M\" is not a valid pack id" },
        { "{\"format\":1,\"id\":\"other\",\"kind\":\"data\",\"versions\":[]}",
          "the record is for \"other\", expected \"m\"" },
        { "{\"format\":1,\"id\":\"m\",\"kind\":\"plugin\",\"versions\":[]}",
          "kind: \"plugin\" is not a pack kind" },
        { "{\"format\":1,\"id\":\"m\",\"kind\":\"data\",\"versions\":{}}",
          "versions: expected an array" },
        { "{\"format\":1,\"id\":\"m\",\"kind\":\"data\",\"versions\":[],\"extra\":1}",
          "unknown field \"extra\"" },
        { REC("1"), "versions[0]: expected an object, got an integer" },
        { REC("{" V_OK ",\"bogus\":true}"), "versions[0]: unknown field \"bogus\"" },
        { REC("{" V_OK "},{" V_OK "}"), "have the same precedence" },
        { REC("{\"version\":\"1.0\",\"name\":\"M\"}"),
          "versions[0].version: \"1.0\" is not a valid version" },
        { REC("{\"version\":\"1.0.0\",\"name\":\"M\",\"base_compatibility\":[\"1\"],\"archive\":"
              "\"p\",\"sha256\":\"XYZ\",\"size\":1}"),
          "\"sha256\": expected 64 lower-case hex digits" },
        { REC("{\"version\":\"1.0.0\",\"name\":\"M\",\"base_compatibility\":[\"1\"],\"archive\":\"."
              "./../etc/"
              "passwd\",\"sha256\":"
              "\"fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9\",\"size\":1}"),
          "\"archive\": \"../../etc/passwd\": '.' and '..' components are not allowed" },
        { REC("{\"version\":\"1.0.0\",\"name\":\"M\",\"base_compatibility\":[\"1\"],\"archive\":"
              "\"p\",\"sha256\":"
              "\"fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9\",\"size\":-1}"),
          "\"size\": expected a non-negative integer" },
        { REC("{\"version\":\"1.0.0\",\"name\":\"M\",\"base_compatibility\":[\"1\"],\"archive\":"
              "\"p\",\"sha256\":"
              "\"fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9\",\"size\":"
              "\"1\"}"),
          "\"size\": expected a non-negative integer, got a string" },
        { REC("{" V_OK ",\"dependencies\":[{\"id\":\"a\",\"version\":\"^1.x.y\"}]}"),
          "versions[0].dependencies[0].version: \"^1.x.y\" is not a valid range" },
        { REC("{" V_OK ",\"dependencies\":[{\"id\":\"a\"}]}"),
          "missing required field \"version\"" },
        { REC("{" V_OK ",\"yanked\":\"no\"}"), "\"yanked\": expected true or false, got a string" },
        { REC("{" V_OK ",\"published\":\"yesterday\"}"), "is not an RFC 3339 UTC time" },
        { REC("{" V_OK ",\"name\":\"a\\u0000b\"}"), "invalid JSON" },
        { REC("{\"version\":\"1.0.0\",\"name\":\"M\",\"archive\":\"p\",\"sha256\":"
              "\"fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9\",\"size\":1}"),
          "a data pack needs base_compatibility" },
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(bad); i++) {
        struct mb_index_record r;
        struct mb_err err;
        mb_err_init(&err);
        if (mb_index_parse("idx.json", bad[i].json, strlen(bad[i].json), "m", &r, &err) == 0)
            fail_msg("case %zu parsed but should fail: %s", i, bad[i].json);
        if (!strstr(err.msg, bad[i].want))
            fail_msg("case %zu: '%s' does not contain '%s'", i, err.msg, bad[i].want);
        if (strncmp(err.msg, "idx.json", 8))
            fail_msg("case %zu: message does not name the file: %s", i, err.msg);
        mb_index_record_release(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
