/*
 * test_home.c - mb_home_resolve: --home wins, then $MODULARBASE_HOME, then
 * $XDG_DATA_HOME/modularbase (absolute only), then $HOME/.local/share/modularbase,
 * and a clear error when nothing is set.
 */
#include "mb_test.h"

static void expect_home(const char *override, const char *want)
{
    char *out = NULL;
    struct mb_err err;
    mb_err_init(&err);
    MB_ASSERT_OK(mb_home_resolve(override, &out, &err), &err);
    assert_string_equal(out, want);
    mb_free(out);
}

static void test_home(void **state)
{
    (void)state;
    setenv("HOME", "/home/u", 1);
    setenv("XDG_DATA_HOME", "/xdg", 1);
    setenv("MODULARBASE_HOME", "/mbh", 1);
    expect_home("/override", "/override");
    expect_home(NULL, "/mbh");
    expect_home("", "/mbh");
    unsetenv("MODULARBASE_HOME");
    expect_home(NULL, "/xdg/modularbase");
    setenv("XDG_DATA_HOME", "relative/ignored", 1);
    expect_home(NULL, "/home/u/.local/share/modularbase");
    unsetenv("XDG_DATA_HOME");
    expect_home(NULL, "/home/u/.local/share/modularbase");
    unsetenv("HOME");
    char *out = NULL;
    struct mb_err err;
    mb_err_init(&err);
    assert_int_equal(mb_home_resolve(NULL, &out, &err), MB_E_NOTFOUND);
    assert_null(out);
    assert_non_null(strstr(err.msg, "MODULARBASE_HOME"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_home),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
