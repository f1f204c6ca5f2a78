/*
 * cmd_registry_remove.c - `modularbase registry remove NAME`: drop a registry
 * from config.yaml and delete its cached trusted state and index files.
 * Installed packs are not touched.
 */
#include "registry_cli.h"

int mb_cmd_registry_remove(struct mb_ctx *ctx, int argc, char **argv)
{
    const struct mb_opt opts[] = { MB_OPT_END };
    const struct mb_cmd_help help = {
        "modularbase registry remove NAME",
        "Remove the registry NAME from config.yaml and delete its cache (trusted snapshot, "
        "index files). Installed packs stay installed.",
        NULL,
    };
    int npos, rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        return rc;
    if (npos != 1)
        return mb_usage_error(ctx, "'registry remove' takes one NAME");
    struct mb_client *c = NULL;
    rc = mb_cli_client_open(ctx, NULL, &c);
    if (!rc)
        rc = mb_client_remove(c, argv[0], &ctx->err);
    if (!rc)
        printf("removed registry '%s'\n", argv[0]);
    mb_client_free(c);
    return rc;
}
