/*
 * cmd_semver.c - `modularbase semver [-r RANGE]... [-p] VERSION...`: node-semver's
 * command-line tool for pack authors writing ranges. Prints the versions that
 * satisfy every range, sorted by precedence (exit 1 when none does); with
 * --expand, prints each range's desugared comparators instead.
 */
#include "cli.h"
#include "mb_manifests.h"

#include <stdlib.h>

struct ver_arg {
    struct mb_semver v;
    const char *text;
};

static int cmp_ver_arg(const void *a, const void *b)
{
    const struct ver_arg *x = a, *y = b;
    return mb_semver_cmp(&x->v, &y->v);
}

static int cmp_ver_arg_rev(const void *a, const void *b)
{
    return cmp_ver_arg(b, a);
}

int mb_cmd_semver(struct mb_ctx *ctx, int argc, char **argv)
{
    struct mb_strvec ranges = { 0 };
    bool incpre = false, json = false, expand = false, reverse = false;
    const char *inc = NULL, *preid = NULL;
    const struct mb_opt opts[] = {
        { "range", 'r', MB_OPT_LIST, &ranges, "RANGE",
          "keep only versions satisfying RANGE (repeatable: all must match)" },
        { "include-prerelease", 'p', MB_OPT_FLAG, &incpre, NULL,
          "let prerelease versions match ranges that do not name them" },
        { "reverse", 0, MB_OPT_FLAG, &reverse, NULL, "sort newest first" },
        { "increment", 'i', MB_OPT_STRING, &inc, "LEVEL",
          "print the version incremented by LEVEL: major, minor, patch, premajor, preminor, "
          "prepatch or prerelease (one version, no range)" },
        { "preid", 0, MB_OPT_STRING, &preid, "ID",
          "prerelease identifier for -i pre* (e.g. beta: 1.2.4-beta.0)" },
        { "expand", 0, MB_OPT_FLAG, &expand, NULL,
          "print each range's desugared comparators (e.g. ^1.2 -> >=1.2.0 <2.0.0-0)" },
        { "json", 0, MB_OPT_FLAG, &json, NULL, "print a JSON array" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase semver [-r RANGE]... [-p] [--reverse] [--json] VERSION...\n"
        "   or: modularbase semver -i LEVEL [--preid ID] VERSION\n"
        "   or: modularbase semver --expand [-p] RANGE...",
        "Print the valid versions that satisfy every RANGE, sorted by SemVer precedence, like "
        "node-semver's `semver` tool; exit 1 when none does. Ranges follow node-semver "
        "(comparators, ^, ~, x-ranges, hyphen ranges, ||); a prerelease version matches only "
        "a range that names a prerelease of the same MAJOR.MINOR.PATCH, unless "
        "--include-prerelease. Invalid versions or ranges are errors (exit 3). See "
        "docs/manifest.md \"Ranges\".",
        "  modularbase semver -r '^1.2' 1.1.0 1.2.5 1.9.0 2.0.0\n"
        "  modularbase semver -r '>=1.0.0-rc.1' 1.0.0-rc.2 1.0.0 1.1.0-beta\n"
        "  modularbase semver -i preminor --preid beta 1.2.3\n"
        "  modularbase semver --expand '~1.2' '1.x || >=2.5.0'",
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc) {
        mb_strvec_release(&ranges);
        return rc;
    }
    if (npos == 0) {
        mb_strvec_release(&ranges);
        return mb_usage_error(ctx, expand ? "'semver --expand' needs at least one RANGE"
                                          : "'semver' needs at least one VERSION");
    }
    if (inc) {
        if (npos != 1 || ranges.n) {
            mb_strvec_release(&ranges);
            return mb_usage_error(ctx, "--increment takes exactly one version and no range");
        }
        struct mb_semver v;
        char out[MB_SEMVER_STR_MAX];
        mb_strvec_release(&ranges);
        rc = mb_semver_parse_loose(argv[0], &v, &ctx->err);
        if (!rc)
            rc = mb_semver_inc(&v, inc, preid, out, sizeof(out), &ctx->err);
        if (rc)
            return rc;
        if (json) {
            printf("[");
            mb_cli_json_string(stdout, out);
            printf("]\n");
        } else {
            printf("%s\n", out);
        }
        return 0;
    }
    if (expand) {
        if (ranges.n) {
            mb_strvec_release(&ranges);
            return mb_usage_error(ctx, "--expand takes ranges as arguments, not -r");
        }
        if (json)
            printf("[");
        for (int i = 0; i < npos; i++) {
            struct mb_range r;
            struct mb_buf b;
            mb_buf_init(&b, 1u << 20);
            rc = mb_range_parse(argv[i], incpre, &r, &ctx->err);
            if (!rc)
                rc = mb_range_format(&r, &b, &ctx->err);
            if (!rc) {
                if (json) {
                    printf("%s", i ? ", " : "");
                    mb_cli_json_string(stdout, b.p ? b.p : "");
                } else {
                    printf("%s\n", b.p ? b.p : "");
                }
            }
            mb_range_release(&r);
            mb_buf_release(&b);
            if (rc)
                return rc;
        }
        if (json)
            printf("]\n");
        return 0;
    }

    struct mb_range *parsed = mb_calloc(ranges.n ? ranges.n : 1, sizeof(*parsed));
    struct ver_arg *vers = mb_calloc((size_t)npos, sizeof(*vers));
    size_t nparsed = 0, nkeep = 0;
    if (!parsed || !vers) {
        rc = mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < ranges.n; i++) {
        rc = mb_range_parse(ranges.v[i], incpre, &parsed[i], &ctx->err);
        if (rc)
            goto out;
        nparsed++;
    }
    for (int i = 0; i < npos; i++) {
        struct ver_arg *va = &vers[nkeep];
        rc = mb_semver_parse_loose(argv[i], &va->v, &ctx->err);
        if (rc)
            goto out;
        va->text = argv[i];
        bool ok = true;
        for (size_t j = 0; j < nparsed && ok; j++)
            ok = mb_range_satisfies(&parsed[j], &va->v, incpre);
        if (ok)
            nkeep++;
    }
    qsort(vers, nkeep, sizeof(*vers), reverse ? cmp_ver_arg_rev : cmp_ver_arg);
    if (json)
        printf("[");
    for (size_t i = 0; i < nkeep; i++) {
        char buf[MB_SEMVER_STR_MAX];
        /* Like node-semver's clean(): no leading 'v', no build metadata. */
        mb_semver_format(&vers[i].v, false, buf, sizeof(buf));
        if (json) {
            printf("%s", i ? ", " : "");
            mb_cli_json_string(stdout, buf);
        } else {
            printf("%s\n", buf);
        }
    }
    if (json)
        printf("]\n");
    rc = nkeep ? 0 : MB_E_FALSE;
out:
    for (size_t i = 0; i < nparsed; i++)
        mb_range_release(&parsed[i]);
    mb_free(parsed);
    mb_free(vers);
    mb_strvec_release(&ranges);
    return rc;
}
