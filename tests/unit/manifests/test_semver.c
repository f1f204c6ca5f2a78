/*
 * test_semver.c - SemVer 2.0.0 parsing and precedence, and node-semver range
 * semantics driven by the tables in tests/data/semver/: ranges.txt (every
 * construct, prerelease and x-range edge cases, includePrerelease) and
 * invalid-ranges.txt (strings node-semver rejects).
 */
#include "mb_test.h"
#include "mb_manifests.h"

static void test_versions(void **state)
{
    (void)state;
    struct mb_semver a, b;
    struct mb_err err;
    static const char *const valid[] = { "0.0.0",       "1.2.3",          "1.2.3-alpha",
                                         "1.2.3-0.a.1", "1.2.3+build.5",  "1.2.3-rc.1+b.2",
                                         "10.20.30",    "1.0.0-x-y-z.--", "9007199254740991.0.0" };
    for (size_t i = 0; i < MB_ARRAY_LEN(valid); i++)
        MB_ASSERT_OK(mb_semver_parse_cstr(valid[i], &a, &err), &err);
    static const char *const invalid[] = {
        "",       "1",      "1.2",    "1.2.3.4", "01.2.3",   "1.02.3",
        "1.2.03", "v1.2.3", "1.2.3-", "1.2.3+",  "1.2.3-01", "1.2.3-a..b",
        "1.2.3 ", " 1.2.3", "a.b.c",  "-1.2.3",  "1.2.3-Ω",  "9007199254740992.0.0"
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(invalid); i++) {
        if (mb_semver_parse_cstr(invalid[i], &a, &err) == 0)
            fail_msg("'%s' should be invalid", invalid[i]);
        assert_non_null(strstr(err.msg, "is not a valid version"));
    }
    MB_ASSERT_OK(mb_semver_parse_loose(" v1.2.3 ", &a, &err), &err);
    assert_true(a.major == 1 && a.patch == 3);

    /* semver.org §11's precedence example, in order. */
    static const char *const order[] = { "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
                                         "1.0.0-beta",  "1.0.0-beta.2",  "1.0.0-beta.11",
                                         "1.0.0-rc.1",  "1.0.0",         "1.0.1",
                                         "1.1.0",       "2.0.0",         "10.0.0" };
    for (size_t i = 0; i + 1 < MB_ARRAY_LEN(order); i++) {
        MB_ASSERT_OK(mb_semver_parse_cstr(order[i], &a, &err), &err);
        MB_ASSERT_OK(mb_semver_parse_cstr(order[i + 1], &b, &err), &err);
        if (mb_semver_cmp(&a, &b) >= 0 || mb_semver_cmp(&b, &a) <= 0)
            fail_msg("%s should sort before %s", order[i], order[i + 1]);
    }
    /* Build metadata is ignored by precedence but breaks ties in the total order. */
    MB_ASSERT_OK(mb_semver_parse_cstr("1.0.0+a", &a, &err), &err);
    MB_ASSERT_OK(mb_semver_parse_cstr("1.0.0+b", &b, &err), &err);
    assert_int_equal(mb_semver_cmp(&a, &b), 0);
    assert_true(mb_semver_cmp_build(&a, &b) < 0);
    char buf[MB_SEMVER_STR_MAX];
    MB_ASSERT_OK(mb_semver_parse_cstr("1.2.3-rc.1+b.2", &a, &err), &err);
    assert_string_equal(mb_semver_format(&a, true, buf, sizeof(buf)), "1.2.3-rc.1+b.2");
    assert_string_equal(mb_semver_format(&a, false, buf, sizeof(buf)), "1.2.3-rc.1");
}

/* Every line of ranges.txt: RANGE \t VERSION \t yes|no \t [p]. */
static void test_range_table(void **state)
{
    (void)state;
    size_t n;
    struct mb_buf b;
    struct mb_err err;
    mb_buf_init(&b, 1u << 20);
    MB_ASSERT_OK(mb_file_read_all(mb_test_data_path("semver/ranges.txt"), 1u << 20, &b, &err),
                 &err);
    char *text = mb_buf_detach(&b, &n);
    size_t cases = 0, prerelease_cases = 0, failures = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#')
            continue;
        char *f[4] = { line, NULL, NULL, NULL };
        for (int i = 1; i < 4; i++) {
            char *tab = f[i - 1] ? strchr(f[i - 1], '\t') : NULL;
            if (tab) {
                *tab = '\0';
                f[i] = tab + 1;
            }
        }
        assert_non_null(f[2]);
        bool incpre = f[3] && !strcmp(f[3], "p");
        bool want = !strcmp(f[2], "yes");
        struct mb_range r;
        struct mb_semver v;
        if (mb_range_parse(f[0], incpre, &r, &err))
            fail_msg("range '%s' failed to parse: %s", f[0], err.msg);
        MB_ASSERT_OK(mb_semver_parse_loose(f[1], &v, &err), &err);
        bool got = mb_range_satisfies(&r, &v, incpre);
        if (got != want) {
            print_error("'%s' %s '%s'%s: got %s\n", f[1],
                        want ? "should satisfy" : "should not satisfy", f[0],
                        incpre ? " (include prerelease)" : "", got ? "yes" : "no");
            failures++;
        }
        cases++;
        prerelease_cases += strchr(f[1], '-') != NULL;
        mb_range_release(&r);
    }
    mb_free(text);
    assert_int_equal(failures, 0);
    assert_true(cases >= 300);
    assert_true(prerelease_cases >= 60);
}

static void test_invalid_ranges(void **state)
{
    (void)state;
    size_t n;
    struct mb_buf b;
    struct mb_err err;
    mb_buf_init(&b, 1u << 20);
    MB_ASSERT_OK(
        mb_file_read_all(mb_test_data_path("semver/invalid-ranges.txt"), 1u << 20, &b, &err), &err);
    char *text = mb_buf_detach(&b, &n);
    char *save = NULL;
    size_t count = 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#')
            continue;
        struct mb_range r;
        if (mb_range_parse(line, false, &r, &err) == 0)
            fail_msg("'%s' should be an invalid range", line);
        assert_non_null(strstr(err.msg, "is not a valid range"));
        count++;
    }
    mb_free(text);
    assert_true(count >= 20);
    /* Over-long text is a limit error, control characters a format error. */
    char big[MB_RANGE_MAX_LEN + 8];
    memset(big, '1', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    struct mb_range r;
    assert_int_equal(mb_range_parse(big, false, &r, &err), MB_E_LIMIT);
    assert_int_equal(mb_range_parse("1.2.3\x01", false, &r, &err), MB_E_FORMAT);
}

/* The named cases and the desugared forms node-semver prints. */
static void test_named_cases(void **state)
{
    (void)state;
    struct {
        const char *range, *expanded;
        bool p;
    } cases[] = {
        { "^0.0.3", ">=0.0.3 <0.0.4-0", false },
        { "^1.0.0", ">=1.0.0 <2.0.0-0", false },
        { "1.0", ">=1.0.0 <1.1.0-0", false },
        { "~1.2.3-beta.2", ">=1.2.3-beta.2 <1.3.0-0", false },
        { "1.2 - 2.3", ">=1.2.0 <2.4.0-0", false },
        { "1.2.3 - 2.3.4", ">=1.2.3-0 <2.3.5-0", true },
        { "*", "*", false },
        { ">*", "<0.0.0-0", false },
        { "* || 1.2.3-beta", "*", false },
        { "1.x || >=2.5.0 || 5.0.0 - 7.2.3", ">=1.0.0 <2.0.0-0||>=2.5.0||>=5.0.0 <=7.2.3", false },
        { "^0.x", "<1.0.0-0", false },
    };
    struct mb_err err;
    for (size_t i = 0; i < MB_ARRAY_LEN(cases); i++) {
        struct mb_range r;
        struct mb_buf b;
        mb_buf_init(&b, 4096);
        MB_ASSERT_OK(mb_range_parse(cases[i].range, cases[i].p, &r, &err), &err);
        MB_ASSERT_OK(mb_range_format(&r, &b, &err), &err);
        if (strcmp(b.p, cases[i].expanded))
            fail_msg("'%s' expands to '%s', want '%s'", cases[i].range, b.p, cases[i].expanded);
        mb_buf_release(&b);
        mb_range_release(&r);
    }
    struct mb_range r;
    struct mb_semver v;
    MB_ASSERT_OK(mb_range_parse("^0.0.3", false, &r, &err), &err);
    MB_ASSERT_OK(mb_semver_parse_cstr("0.0.4", &v, &err), &err);
    assert_false(mb_range_satisfies(&r, &v, false));
    mb_range_release(&r);
    MB_ASSERT_OK(mb_range_parse("^1.0.0", false, &r, &err), &err);
    MB_ASSERT_OK(mb_semver_parse_cstr("1.1.0-alpha", &v, &err), &err);
    assert_false(mb_range_satisfies(&r, &v, false));
    assert_true(mb_range_satisfies(&r, &v, true));
    mb_range_release(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_range_table),
        cmocka_unit_test(test_invalid_ranges),
        cmocka_unit_test(test_named_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
