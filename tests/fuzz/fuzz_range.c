/*
 * fuzz_range.c - libFuzzer target for versions and node-semver ranges: the
 * input is split at the first newline into a range and a version; parsing
 * must never crash, a parsed range must format and re-parse to the same
 * desugared form, and matching must be deterministic.
 */
#include "mb_semver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char buf[4097];
    memcpy(buf, data, size);
    buf[size] = '\0';
    if (strlen(buf) != size)
        return 0;
    char *nl = strchr(buf, '\n');
    const char *ver = "";
    if (nl) {
        *nl = '\0';
        ver = nl + 1;
    }
    struct mb_err err;
    struct mb_semver v;
    bool have_v = mb_semver_parse_loose(ver, &v, &err) == 0;
    if (have_v) {
        char out[MB_SEMVER_STR_MAX];
        struct mb_semver v2;
        mb_semver_format(&v, true, out, sizeof(out));
        if (mb_semver_parse_cstr(out, &v2, &err) || mb_semver_cmp_build(&v, &v2))
            __builtin_trap();
        static const char *const levels[] = { "major",    "minor",    "patch",     "premajor",
                                              "preminor", "prepatch", "prerelease" };
        for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
            char inc[MB_SEMVER_STR_MAX];
            struct mb_semver v3;
            /* An increment is a valid version, above the original unless a --preid
             * replaces a larger prerelease tag (node does the same: gamma -> beta.0). */
            const char *preid = i % 2 ? "beta" : NULL;
            if (mb_semver_inc(&v, levels[i], preid, inc, sizeof(inc), &err) == 0 &&
                (mb_semver_parse_cstr(inc, &v3, &err) || (!preid && mb_semver_cmp(&v3, &v) <= 0)))
                __builtin_trap();
        }
    }
    for (int pre = 0; pre < 2; pre++) {
        struct mb_range r, r2;
        if (mb_range_parse(buf, pre, &r, &err))
            continue;
        struct mb_buf a, b;
        mb_buf_init(&a, 1u << 20);
        mb_buf_init(&b, 1u << 20);
        if (mb_range_format(&r, &a, &err) == 0 && a.p) {
            /* The desugared form is itself a range with the same desugaring. */
            if (mb_range_parse(a.p, pre, &r2, &err) == 0) {
                if (mb_range_format(&r2, &b, &err) == 0 && strcmp(a.p, b.p ? b.p : ""))
                    __builtin_trap();
                if (have_v && mb_range_satisfies(&r, &v, pre) != mb_range_satisfies(&r2, &v, pre))
                    __builtin_trap();
                mb_range_release(&r2);
            }
        }
        mb_buf_release(&a);
        mb_buf_release(&b);
        mb_range_release(&r);
    }
    return 0;
}
