/*
 * cmd_registry_update.c - `modularbase registry update [NAME...]`: fetch each
 * registry's snapshot (If-None-Match), verify it, and re-fetch the cached
 * index files that changed. A registry whose new snapshot is refused keeps
 * its previous trusted state; the others are updated anyway.
 */
#include "registry_cli.h"

int mb_cmd_registry_update(struct mb_ctx *ctx, int argc, char **argv)
{
    bool json = false;
    struct mb_cli_net net = MB_CLI_NET_INIT;
    const struct mb_opt opts[] = {
        MB_CLI_NET_OPTS(net),
        { "json", 0, MB_OPT_FLAG, &json, NULL, "print the outcome per registry as JSON" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase registry update [NAME...] [--json]",
        "Fetch the signed snapshot of each registry (all when none is named), check its "
        "signatures against the pinned keys, its expiry (freeze) and its version (rollback), "
        "and re-fetch only the cached index files whose hash changed. Index files never "
        "fetched stay unfetched (they come on demand). A refused snapshot leaves that "
        "registry's previous trusted state in place (exit 5); others are still updated.",
        "  modularbase registry update\n  modularbase registry update community --json",
    };
    int npos, rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        return rc;
    struct mb_client *c = NULL;
    rc = mb_cli_client_open(ctx, &net, &c);
    if (rc)
        return rc;
    size_t n = npos ? (size_t)npos : mb_client_config(c)->nregistries;
    if (n == 0) {
        mb_client_free(c);
        return mb_fail(&ctx->err, MB_E_NOTFOUND,
                       "no registries configured (add one with 'modularbase registry add')");
    }
    struct mb_update_report *reps = mb_calloc(n, sizeof(*reps));
    if (!reps) {
        mb_client_free(c);
        return mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
    }
    rc = mb_client_update(c, (const char *const *)argv, (size_t)npos, reps, &ctx->err);
    if (json)
        printf("[");
    for (size_t i = 0; i < n; i++) {
        const struct mb_update_report *r = &reps[i];
        char exp[96], sz[32];
        mb_cli_format_expiry(r->expires, exp, sizeof(exp));
        mb_format_size(r->bytes, sz, sizeof(sz));
        if (json) {
            printf("%s\n  {\"name\": ", i ? "," : "");
            mb_cli_json_string(stdout, r->name);
            printf(", \"ok\": %s, \"old_version\": %llu, \"new_version\": %llu, "
                   "\"not_modified\": %s, \"packs\": %zu, \"index_fetched\": %zu, "
                   "\"index_dropped\": %zu, \"bytes\": %llu, \"requests\": %zu",
                   r->rc ? "false" : "true", (unsigned long long)r->old_version,
                   (unsigned long long)r->new_version, r->not_modified ? "true" : "false",
                   r->npacks, r->index_fetched, r->index_dropped, (unsigned long long)r->bytes,
                   r->requests);
            if (r->rc) {
                printf(", \"error\": ");
                mb_cli_json_string(stdout, r->err.msg);
            }
            printf("}");
            continue;
        }
        if (r->rc) {
            fflush(stdout);
            fprintf(stderr, "%s: refused, previous trusted state kept (version %llu): %s\n",
                    r->name, (unsigned long long)r->old_version, r->err.msg);
        } else if (r->not_modified || r->new_version == r->old_version) {
            printf("%s: up to date (version %llu, %zu packs, expires %s)\n", r->name,
                   (unsigned long long)r->new_version, r->npacks, exp);
        } else {
            printf("%s: version %llu -> %llu (%zu packs, expires %s); %zu cached index file%s "
                   "refreshed, %s in %zu requests\n",
                   r->name, (unsigned long long)r->old_version, (unsigned long long)r->new_version,
                   r->npacks, exp, r->index_fetched, r->index_fetched == 1 ? "" : "s", sz,
                   r->requests);
            if (r->err.msg[0])
                mb_cli_warn(ctx, "%s: fetched from a mirror; the URL failed: %s", r->name,
                            r->err.msg);
        }
    }
    if (json)
        printf("\n]\n");
    /* Each failure was reported above; keep the status, not a second message. */
    if (rc && !json)
        ctx->err.msg[0] = '\0';
    mb_free(reps);
    mb_client_free(c);
    return rc;
}
