/*
 * cmd_registry_yank.c - `modularbase registry yank DIR ID@VERSION` and
 * `registry unyank`: mark a version yanked (resolvers skip it unless a lock
 * file or the installed state pins it; the archive stays downloadable), then
 * refresh and re-sign the snapshot. Both commands live here: they differ in
 * one flag.
 */
#include "registry_cli.h"

static int yank_cmd(struct mb_ctx *ctx, int argc, char **argv, bool yank)
{
    const char *password_file = NULL, *expires = NULL;
    struct mb_strvec keys = { 0 };
    const struct mb_opt opts[] = {
        { "key", 'k', MB_OPT_LIST, &keys, "NAME|FILE",
          "a maintainer secret key (repeat up to the threshold; default: the default key)" },
        { "expires", 0, MB_OPT_STRING, &expires, "DURATION",
          "lifetime of the new snapshot (default 7d)" },
        { "password-file", 0, MB_OPT_STRING, &password_file, "FILE",
          "read the key's password from FILE" },
        MB_OPT_END,
    };
    const struct mb_cmd_help yhelp = {
        "modularbase registry yank DIR ID@VERSION [--key SECRET]",
        "Mark ID@VERSION yanked in DIR/index/ID.json and sign a new snapshot. Resolvers no "
        "longer choose a yanked version unless a lock file or the installed state pins it; "
        "its archive stays downloadable (like crates.io). Undo with 'registry unyank'.",
        "  modularbase registry yank ./registry medical-en@1.2.0 --key maintainer",
    };
    const struct mb_cmd_help uhelp = {
        "modularbase registry unyank DIR ID@VERSION [--key SECRET]",
        "Clear the yanked flag of ID@VERSION and sign a new snapshot.",
        "  modularbase registry unyank ./registry medical-en@1.2.0 --key maintainer",
    };
    struct mb_seckey *sk[MB_REGISTRY_MAX_KEYS] = { 0 };
    size_t nsk = 0;
    int npos, rc = mb_opts_parse(ctx, yank ? &yhelp : &uhelp, opts, argc, argv, &npos);
    if (rc)
        goto out;
    if (npos != 2) {
        rc =
            mb_usage_error(ctx, "'registry %s' takes DIR and ID@VERSION", yank ? "yank" : "unyank");
        goto out;
    }
    char *at = strchr(argv[1], '@');
    if (!at || at == argv[1] || !at[1]) {
        rc = mb_usage_error(ctx, "'%s' is not ID@VERSION", argv[1]);
        goto out;
    }
    *at = '\0';
    uint64_t life = 0;
    if (expires && (!mb_parse_duration(expires, &life) || life == 0 || life > 3650ull * 86400)) {
        rc =
            mb_usage_error(ctx, "--expires: '%s' is not a duration such as 12h, 7d or 4w", expires);
        goto out;
    }
    rc = mb_cli_load_seckeys(ctx, &keys, password_file, sk, &nsk);
    if (rc)
        goto out;
    struct mb_regdir_refresh_opts o = {
        (const struct mb_seckey *const *)sk, nsk, (int64_t)life, false, { NULL, NULL },
    };
    struct mb_regdir_refresh_report rep;
    rc = mb_regdir_yank(argv[0], argv[1], at + 1, yank, &o, &rep, &ctx->err);
    if (!rc) {
        printf("%s %s@%s; snapshot version %llu\n", yank ? "yanked" : "unyanked", argv[1], at + 1,
               (unsigned long long)rep.new_version);
        mb_regdir_refresh_report_release(&rep);
    }
out:
    mb_cli_free_seckeys(sk, nsk);
    mb_strvec_release(&keys);
    return rc;
}

int mb_cmd_registry_yank(struct mb_ctx *ctx, int argc, char **argv)
{
    return yank_cmd(ctx, argc, argv, true);
}

int mb_cmd_registry_unyank(struct mb_ctx *ctx, int argc, char **argv)
{
    return yank_cmd(ctx, argc, argv, false);
}
