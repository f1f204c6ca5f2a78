/*
 * cmd_pack_export.c - `modularbase pack export ID... -o bundle.tar`: write
 * an offline bundle of installed packs and what they need, to carry to a
 * machine without network and install there with `pack install bundle.tar`.
 */
#include "store_cli.h"

int mb_cmd_pack_export(struct mb_ctx *ctx, int argc, char **argv)
{
    const char *out = NULL;
    bool no_deps = false, json = false;
    const struct mb_opt opts[] = {
        { "output", 'o', MB_OPT_STRING, &out, "FILE", "the bundle to write (a .tar)" },
        { "no-deps", 0, MB_OPT_FLAG, &no_deps, NULL,
          "only the named packs, not their dependencies and base" },
        { "json", 0, MB_OPT_FLAG, &json, NULL, "print the result as JSON" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase pack export [--no-deps] ID... -o FILE.tar",
        "Write an offline bundle: one tar holding the archives of the named installed packs "
        "and of everything they need (dependencies and the base), with their index records, "
        "so that 'modularbase pack install FILE.tar' installs them on a machine with no "
        "network. Archives are taken from where they were installed from when still "
        "present, else rebuilt from the installed files (pack archives are deterministic, "
        "so the bytes are the original ones); a pack whose installed files were modified is "
        "refused.",
        "  modularbase pack export medical-en -o medical.tar\n"
        "  modularbase pack install medical.tar --offline      # on the other machine",
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        return rc;
    if (!out)
        return mb_usage_error(ctx, "'pack export' needs -o FILE");
    if (npos == 0)
        return mb_usage_error(ctx, "'pack export' needs at least one pack ID");
    char *home = NULL;
    rc = mb_cli_store_home(ctx, &home);
    if (rc)
        return rc;
    struct mb_cli_progress prog;
    mb_cli_progress_init(&prog, ctx);
    struct mb_store_export_opts eo = { no_deps, { NULL, NULL } };
    if (!json && ctx->stderr_tty)
        eo.progress = mb_cli_progress_cb(&prog);
    struct mb_store_export_result res;
    rc = mb_store_export(home, (const char *const *)argv, (size_t)npos, out, &eo, &res, &ctx->err);
    mb_cli_progress_done(&prog);
    mb_free(home);
    if (rc)
        return rc;
    char size[32];
    if (json) {
        printf("{\"file\": ");
        mb_cli_json_string(stdout, out);
        printf(", \"packs\": %zu, \"bytes\": %llu, \"rebuilt\": %zu}\n", res.npacks,
               (unsigned long long)res.bytes, res.rebuilt);
    } else {
        printf("wrote %s: %zu pack%s, %s", out, res.npacks, res.npacks == 1 ? "" : "s",
               mb_format_size(res.bytes, size, sizeof(size)));
        if (res.rebuilt)
            printf(" (%zu archive%s rebuilt from the installed files)", res.rebuilt,
                   res.rebuilt == 1 ? "" : "s");
        printf("\n");
    }
    return 0;
}
