/*
 * cmd_cache_clean.c - `modularbase cache clean`: delete downloaded pack
 * archives and partial downloads from <home>/cache (apt-get clean). Installed
 * packs are not affected; the registries' cached index files are kept.
 */
#include "store_cli.h"

int mb_cmd_cache_clean(struct mb_ctx *ctx, int argc, char **argv)
{
    bool dry_run = false, json = false, no_wait = false;
    const struct mb_opt opts[] = {
        { "dry-run", 'n', MB_OPT_FLAG, &dry_run, NULL, "only say what would be removed" },
        { "no-wait", 0, MB_OPT_FLAG, &no_wait, NULL,
          "fail (exit 8) instead of waiting when another modularbase holds the store" },
        { "json", 0, MB_OPT_FLAG, &json, NULL, "print the result as JSON" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase cache clean [--dry-run] [--json]",
        "Delete downloaded pack archives (<home>/cache/packs) and partial downloads "
        "(<home>/cache/partial). Installed packs and the registries' cached index files are "
        "kept; later installs download the archives again.",
        NULL,
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        return rc;
    if (npos)
        return mb_usage_error(ctx, "'cache clean' takes no arguments");
    struct mb_store *st = NULL;
    rc = mb_cli_store_open(ctx, no_wait, &st);
    if (rc)
        return rc;
    struct mb_store_clean_result res;
    rc = mb_store_cache_clean(st, dry_run, &res, &ctx->err);
    mb_store_close(st);
    if (rc)
        return rc;
    char size[32];
    mb_format_size(res.bytes, size, sizeof(size));
    if (json)
        printf("{\"files\": %zu, \"bytes\": %llu, \"dry_run\": %s}\n", res.files,
               (unsigned long long)res.bytes, dry_run ? "true" : "false");
    else
        printf("%s %zu file%s, %s\n", dry_run ? "would remove" : "removed", res.files,
               res.files == 1 ? "" : "s", size);
    return 0;
}
