/*
 * cmd_registry_refresh.c - `modularbase registry refresh DIR --key SECRET`:
 * re-derive the index files of a registry directory from its archives and
 * publisher signatures, and sign a new snapshot (version + 1, new expiry).
 * Run it after packs were added (by `pack publish` without the maintainer
 * key, or copied in by hand) and regularly, before the snapshot expires.
 */
#include "registry_cli.h"

static void progress_note(void *ud, const char *label, uint64_t done, uint64_t total)
{
    struct mb_cli_progress *p = ud;
    if (total >= 20)
        mb_cli_progress_cb(p).fn(p, label, done, total);
}

int mb_cmd_registry_refresh(struct mb_ctx *ctx, int argc, char **argv)
{
    const char *password_file = NULL, *expires = NULL;
    struct mb_strvec keys = { 0 };
    bool json = false, verify_all = false;
    const struct mb_opt opts[] = {
        { "key", 'k', MB_OPT_LIST, &keys, "NAME|FILE",
          "a maintainer secret key (repeat up to the threshold; default: the default key)" },
        { "expires", 0, MB_OPT_STRING, &expires, "DURATION",
          "lifetime of the new snapshot (default 7d)" },
        { "verify-all", 0, MB_OPT_FLAG, &verify_all, NULL,
          "re-read every archive, not only new or changed ones" },
        { "password-file", 0, MB_OPT_STRING, &password_file, "FILE",
          "read the key's password from FILE" },
        { "json", 0, MB_OPT_FLAG, &json, NULL, "print the outcome as JSON" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase registry refresh DIR --key SECRET [--expires 7d] [--verify-all]",
        "Re-derive every DIR/index/<id>.json from the archives DIR/packs/<id>/<id>-<version>"
        ".mbpack: an archive is indexed when it verifies, its pack.yaml matches its file name, "
        "and its .minisig verifies with a publisher key of registry.json allowed for that id. "
        "Yanked flags are kept. Then write snapshot.json with the next version and a new "
        "expiry, signed with the maintainer key(s). Archives left out are listed with the "
        "reason. Index files are byte-identical between runs over the same archives.",
        "  modularbase registry refresh ./registry --key maintainer\n"
        "  modularbase registry refresh /srv/reg --key a.key --key b.key --expires 3d",
    };
    struct mb_seckey *sk[MB_REGISTRY_MAX_KEYS] = { 0 };
    size_t nsk = 0;
    int npos, rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        goto out;
    if (npos != 1) {
        rc = mb_usage_error(ctx, "'registry refresh' takes one DIR");
        goto out;
    }
    uint64_t life = 0;
    if (expires && (!mb_parse_duration(expires, &life) || life == 0 || life > 3650ull * 86400)) {
        rc =
            mb_usage_error(ctx, "--expires: '%s' is not a duration such as 12h, 7d or 4w", expires);
        goto out;
    }
    if (!mb_is_dir(argv[0])) {
        rc = mb_fail(&ctx->err, MB_E_NOTFOUND, "'%s' is not a directory", argv[0]);
        goto out;
    }
    rc = mb_cli_load_seckeys(ctx, &keys, password_file, sk, &nsk);
    if (rc)
        goto out;
    struct mb_cli_progress prog;
    mb_cli_progress_init(&prog, ctx);
    struct mb_regdir_refresh_opts o = {
        (const struct mb_seckey *const *)sk, nsk, (int64_t)life, verify_all, { NULL, NULL },
    };
    if (ctx->stderr_tty && !json) {
        o.progress.fn = progress_note;
        o.progress.ud = &prog;
    }
    struct mb_regdir_refresh_report rep;
    rc = mb_regdir_refresh(argv[0], &o, &rep, &ctx->err);
    mb_cli_progress_done(&prog);
    if (!rc) {
        char exp[96];
        mb_cli_format_expiry(rep.expires, exp, sizeof(exp));
        if (json) {
            printf("{\"old_version\": %llu, \"new_version\": %llu, \"packs\": %zu, "
                   "\"versions\": %zu, \"added\": %zu, \"removed\": %zu, \"hashed\": %zu, "
                   "\"reused\": %zu, \"changed\": %s, \"skipped\": [",
                   (unsigned long long)rep.old_version, (unsigned long long)rep.new_version,
                   rep.npacks, rep.nversions, rep.added, rep.removed, rep.hashed, rep.reused,
                   rep.changed ? "true" : "false");
            for (size_t i = 0; i < rep.nskipped; i++) {
                printf("%s{\"path\": ", i ? ", " : "");
                mb_cli_json_string(stdout, rep.skipped[i].path);
                printf(", \"why\": ");
                mb_cli_json_string(stdout, rep.skipped[i].why);
                printf("}");
            }
            printf("]}\n");
        } else {
            for (size_t i = 0; i < rep.nskipped; i++)
                mb_cli_warn(ctx, "left out %s: %s", rep.skipped[i].path, rep.skipped[i].why);
            printf("snapshot version %llu -> %llu: %zu pack%s, %zu version%s (%zu added, %zu "
                   "removed; %zu archive%s read, %zu unchanged), expires %s\n",
                   (unsigned long long)rep.old_version, (unsigned long long)rep.new_version,
                   rep.npacks, rep.npacks == 1 ? "" : "s", rep.nversions,
                   rep.nversions == 1 ? "" : "s", rep.added, rep.removed, rep.hashed,
                   rep.hashed == 1 ? "" : "s", rep.reused, exp);
        }
        mb_regdir_refresh_report_release(&rep);
    }
out:
    mb_cli_free_seckeys(sk, nsk);
    mb_strvec_release(&keys);
    return rc;
}
