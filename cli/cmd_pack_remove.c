/*
 * cmd_pack_remove.c - `modularbase pack remove ID...`: take packs out of the
 * world and remove them, with every automatically installed pack nothing
 * needs any more (apt's autoremove). Refuses to remove a pack another
 * installed pack depends on, naming it, unless --cascade removes those too.
 */
#include "store_cli.h"

int mb_cmd_pack_remove(struct mb_ctx *ctx, int argc, char **argv)
{
    struct mb_cli_txn_opts o;
    memset(&o, 0, sizeof(o));
    bool cascade = false;
    const struct mb_opt opts[] = {
        { "yes", 'y', MB_OPT_FLAG, &o.yes, NULL, "do not ask for confirmation" },
        { "dry-run", 'n', MB_OPT_FLAG, &o.dry_run, NULL, "show the plan, change nothing" },
        { "cascade", 0, MB_OPT_FLAG, &cascade, NULL,
          "also remove the installed packs that depend on the named ones" },
        { "no-wait", 0, MB_OPT_FLAG, &o.no_wait, NULL,
          "fail (exit 8) instead of waiting when another modularbase holds the store" },
        { "json", 0, MB_OPT_FLAG, &o.json, NULL, "print the plan and the result as JSON" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase pack remove [options] ID...",
        "Remove installed packs and the dependencies nothing needs any more. A pack that "
        "another installed pack depends on is not removed (exit 7, naming the dependent) "
        "unless --cascade also removes every pack that depends on it. Needs no network.",
        "  modularbase pack remove medical-en\n"
        "  modularbase pack remove anatomy --cascade -y",
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        return rc;
    if (npos == 0)
        return mb_usage_error(ctx, "'pack remove' needs at least one pack ID");
    struct mb_store *st = NULL;
    rc = mb_cli_store_open(ctx, o.no_wait, &st);
    if (rc)
        return rc;
    struct mb_store_plan plan;
    struct mb_store_request req = {
        .specs = (const char *const *)argv,
        .nspecs = (size_t)npos,
        .cascade = cascade,
    };
    rc = mb_store_plan_remove(st, &req, &plan, &ctx->err);
    rc = mb_cli_run_plan(ctx, st, &plan, rc, &o, NULL);
    mb_store_plan_release(&plan);
    mb_store_close(st);
    return rc;
}
