/*
 * cmd_pack_install.c - `modularbase pack install SPEC...`: add packs to the
 * world and install what the world then needs, in one transaction (plan,
 * confirm, fetch, verify, unpack, commit; see registry/mb_store.h). A SPEC is
 * an id, id@RANGE, a .mbpack file, an offline bundle (.tar from `pack
 * export`), or a file:// URL of either.
 */
#include "store_cli.h"

int mb_cmd_pack_install(struct mb_ctx *ctx, int argc, char **argv)
{
    struct mb_cli_txn_opts o;
    memset(&o, 0, sizeof(o));
    const char *locked = NULL;
    bool reinstall = false, incpre = false;
    const struct mb_opt opts[] = {
        { "yes", 'y', MB_OPT_FLAG, &o.yes, NULL, "do not ask for confirmation" },
        { "dry-run", 'n', MB_OPT_FLAG, &o.dry_run, NULL, "show the plan, change nothing" },
        { "locked", 0, MB_OPT_STRING, &locked, "FILE",
          "install exactly the versions of FILE (a packs.lock) or fail explaining why" },
        { "offline", 0, MB_OPT_FLAG, &o.offline, NULL,
          "use no network: only local files, bundles and the download cache" },
        { "reinstall", 0, MB_OPT_FLAG, &reinstall, NULL,
          "unpack the named packs again even when that version is installed" },
        { "include-prerelease", 'p', MB_OPT_FLAG, &incpre, NULL,
          "let ranges match prerelease versions" },
        { "no-wait", 0, MB_OPT_FLAG, &o.no_wait, NULL,
          "fail (exit 8) instead of waiting when another modularbase holds the store" },
        { "json", 0, MB_OPT_FLAG, &o.json, NULL, "print the plan and the result as JSON" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase pack install [options] SPEC...",
        "Install packs and everything they need. A SPEC is a pack id (medical-en), an id "
        "with a SemVer range (medical-en@^1.2), a .mbpack file, an offline bundle written by "
        "'pack export', or a file:// URL of one. The requests are added to the world "
        "(<home>/world), the resolver picks one version of every needed pack and exactly one "
        "base pack, the plan is shown (added, upgraded, removed, download size, disk change) "
        "and, on a terminal, confirmed. Then every archive is fetched and verified, unpacked "
        "into a staging directory, fsynced, renamed into place, and state.json is replaced "
        "atomically: an interruption at any point leaves the previous state. See "
        "docs/store.md.",
        "  modularbase pack install medical-en\n"
        "  modularbase pack install 'code-python@^2' -y\n"
        "  modularbase pack install ./medical-en-1.2.0.mbpack\n"
        "  modularbase pack install bundle.tar --offline\n"
        "  modularbase pack install --locked packs.lock medical-en",
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        return rc;
    if (npos == 0)
        return mb_usage_error(ctx, "'pack install' needs at least one SPEC (an id, id@RANGE, a "
                                   ".mbpack or a bundle)");
    if (locked && reinstall)
        return mb_usage_error(ctx, "--locked and --reinstall contradict each other");
    struct mb_store *st = NULL;
    rc = mb_cli_store_open(ctx, o.no_wait, &st);
    if (rc)
        return rc;
    struct mb_cli_remote *remote = NULL;
    rc = mb_cli_remote_open(ctx, mb_store_home(st), o.offline, o.json, &remote);
    struct mb_store_plan plan;
    mb_store_plan_init(&plan);
    if (!rc) {
        struct mb_store_request req = {
            .specs = (const char *const *)argv,
            .nspecs = (size_t)npos,
            .remote = mb_cli_remote_get(remote),
            .locked = locked,
            .offline = o.offline,
            .include_prerelease = incpre,
            .reinstall = reinstall,
        };
        rc = mb_store_plan_install(st, &req, &plan, &ctx->err);
        rc = mb_cli_run_plan(ctx, st, &plan, rc, &o, mb_cli_remote_get(remote));
    }
    mb_store_plan_release(&plan);
    mb_cli_remote_free(remote);
    mb_store_close(st);
    return rc;
}
