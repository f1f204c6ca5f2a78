/*
 * cmd_pack_list.c - `modularbase pack list [--json]`: the installed packs
 * (id, version, kind, size, explicit or automatic, resident), read from
 * state.json without taking the store lock, so it never waits for a running
 * install and never shows a half-installed pack.
 */
#include "store_cli.h"

int mb_cmd_pack_list(struct mb_ctx *ctx, int argc, char **argv)
{
    bool json = false;
    const struct mb_opt opts[] = {
        { "json", 0, MB_OPT_FLAG, &json, NULL, "print as JSON" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase pack list [--json]",
        "List the installed packs: id, version, kind (base, router, data), unpacked size, "
        "whether you asked for it (explicit) or it came as a dependency (auto), and whether "
        "the runtime keeps it resident. Never waits for a running install.",
        NULL,
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        return rc;
    if (npos)
        return mb_usage_error(ctx, "'pack list' takes no arguments (see 'pack info ID')");
    char *home = NULL;
    rc = mb_cli_store_home(ctx, &home);
    if (rc)
        return rc;
    struct mb_store_state st;
    rc = mb_store_state_load(home, &st, &ctx->err);
    mb_free(home);
    if (rc)
        return rc;
    if (json) {
        printf("{\"packs\": [");
        for (size_t i = 0; i < st.n; i++) {
            const struct mb_store_pack *p = &st.packs[i];
            printf("%s\n  {\"id\": ", i ? "," : "");
            mb_cli_json_string(stdout, p->id);
            printf(", \"version\": ");
            mb_cli_json_string(stdout, p->version);
            printf(", \"kind\": \"%s\", \"size\": %llu, \"automatic\": %s, \"resident\": %s, "
                   "\"source\": \"%s\"",
                   mb_pack_kind_name(p->kind), (unsigned long long)p->size,
                   p->automatic ? "true" : "false", p->resident ? "true" : "false",
                   mb_store_source_name(p->source));
            if (p->registry) {
                printf(", \"registry\": ");
                mb_cli_json_string(stdout, p->registry);
            }
            printf("}");
        }
        printf("%s]}\n", st.n ? "\n" : "");
    } else if (st.n == 0) {
        printf("No packs installed. Try 'modularbase pack install ID'.\n");
    } else {
        printf("%-24s %-14s %-6s %10s  %-8s %s\n", "ID", "VERSION", "KIND", "SIZE", "REASON",
               "RESIDENT");
        uint64_t total = 0;
        for (size_t i = 0; i < st.n; i++) {
            const struct mb_store_pack *p = &st.packs[i];
            char size[32];
            printf("%-24s %-14s %-6s %10s  %-8s %s\n", p->id, p->version,
                   mb_pack_kind_name(p->kind), mb_format_size(p->size, size, sizeof(size)),
                   p->automatic ? "auto" : "explicit", p->resident ? "yes" : "no");
            total += p->size;
        }
        char size[32];
        printf("%zu pack%s, %s\n", st.n, st.n == 1 ? "" : "s",
               mb_format_size(total, size, sizeof(size)));
    }
    mb_store_state_release(&st);
    return 0;
}
