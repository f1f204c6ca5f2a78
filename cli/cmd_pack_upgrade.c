/*
 * cmd_pack_upgrade.c - `modularbase pack upgrade [ID...]`: move installed
 * packs to the newest versions the world's ranges and every pack's
 * dependencies allow (all packs, or only the named ones and what they need).
 */
#include "store_cli.h"

int mb_cmd_pack_upgrade(struct mb_ctx *ctx, int argc, char **argv)
{
    struct mb_cli_txn_opts o;
    memset(&o, 0, sizeof(o));
    bool incpre = false;
    const struct mb_opt opts[] = {
        { "yes", 'y', MB_OPT_FLAG, &o.yes, NULL, "do not ask for confirmation" },
        { "dry-run", 'n', MB_OPT_FLAG, &o.dry_run, NULL, "show the plan, change nothing" },
        { "offline", 0, MB_OPT_FLAG, &o.offline, NULL,
          "use no network: only the registries' cached index and the download cache" },
        { "include-prerelease", 'p', MB_OPT_FLAG, &incpre, NULL,
          "let ranges match prerelease versions" },
        { "no-wait", 0, MB_OPT_FLAG, &o.no_wait, NULL,
          "fail (exit 8) instead of waiting when another modularbase holds the store" },
        { "json", 0, MB_OPT_FLAG, &o.json, NULL, "print the plan and the result as JSON" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase pack upgrade [options] [ID...]",
        "Upgrade every installed pack (or only the named ones) to the newest versions that "
        "the world's ranges, the dependencies and the base compatibility rules allow, in one "
        "transaction. Run 'modularbase registry update' first to see new versions.",
        "  modularbase pack upgrade\n"
        "  modularbase pack upgrade medical-en --dry-run",
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        return rc;
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
            .offline = o.offline,
            .include_prerelease = incpre,
        };
        rc = mb_store_plan_upgrade(st, &req, &plan, &ctx->err);
        rc = mb_cli_run_plan(ctx, st, &plan, rc, &o, mb_cli_remote_get(remote));
    }
    mb_store_plan_release(&plan);
    mb_cli_remote_free(remote);
    mb_store_close(st);
    return rc;
}
