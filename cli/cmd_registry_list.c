/*
 * cmd_registry_list.c - `modularbase registry list [--json]`: the configured
 * registries with their URL, mirrors, priority, pinned keys and what is
 * trusted of each (snapshot version, pack count, expiry).
 */
#include "registry_cli.h"

static void print_json(struct mb_client *c, const struct mb_registry_conf *r,
                       const struct mb_registry_status *st, bool first)
{
    printf("%s\n  {\"name\": ", first ? "" : ",");
    mb_cli_json_string(stdout, r->name);
    printf(", \"url\": ");
    mb_cli_json_string(stdout, r->url);
    printf(", \"mirrors\": [");
    for (size_t i = 0; i < r->nmirrors; i++) {
        printf("%s", i ? ", " : "");
        mb_cli_json_string(stdout, r->mirrors[i]);
    }
    printf("], \"priority\": %lld, \"threshold\": %u, \"keys\": [", (long long)r->priority,
           r->threshold);
    for (size_t i = 0; i < r->nkeys; i++) {
        char hex[MB_SIGN_KEYID_HEX_LEN], b64[MB_SIGN_PUBKEY_B64_LEN];
        mb_sign_keyid_hex(r->keys[i].keyid, hex);
        mb_sign_pubkey_base64(&r->keys[i], b64);
        printf("%s{\"key_id\": \"%s\", \"public_key\": \"%s\"}", i ? ", " : "", hex, b64);
    }
    printf("]");
    if (st->have_snapshot) {
        char t[32], e[32];
        mb_time_format_utc(st->timestamp, t, sizeof(t));
        mb_time_format_utc(st->expires, e, sizeof(e));
        printf(", \"snapshot\": {\"version\": %llu, \"timestamp\": \"%s\", \"expires\": \"%s\", "
               "\"expired\": %s, \"packs\": %zu, \"index_cached\": %zu, \"publishers\": %zu}",
               (unsigned long long)st->version, t, e,
               mb_unix_time() >= st->expires ? "true" : "false", st->npacks, st->index_cached,
               st->npublishers);
    } else {
        printf(", \"snapshot\": null");
    }
    printf("}");
    (void)c;
}

int mb_cmd_registry_list(struct mb_ctx *ctx, int argc, char **argv)
{
    bool json = false;
    const struct mb_opt opts[] = {
        { "json", 0, MB_OPT_FLAG, &json, NULL, "print the registries as JSON" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase registry list [--json]",
        "List the configured registries (config.yaml), highest priority first: URL, mirrors, "
        "pinned key ids and the trusted snapshot (version, packs, expiry). Nothing is fetched; "
        "see 'registry update'.",
        NULL,
    };
    int npos, rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        return rc;
    if (npos)
        return mb_usage_error(ctx, "'registry list' takes no arguments");
    struct mb_client *c = NULL;
    rc = mb_cli_client_open(ctx, NULL, &c);
    if (rc)
        return rc;
    const struct mb_config *cfg = mb_client_config(c);
    const struct mb_registry_conf **order = NULL;
    rc = mb_config_by_priority(cfg, &order, &ctx->err);
    if (rc) {
        mb_client_free(c);
        return rc;
    }
    if (json)
        printf("[");
    else if (cfg->nregistries == 0)
        printf("no registries configured (add one with 'modularbase registry add NAME URL "
               "--key PUBKEY')\n");
    for (size_t i = 0; i < cfg->nregistries; i++) {
        const struct mb_registry_conf *r = order[i];
        struct mb_registry_status st;
        struct mb_err e;
        mb_err_init(&e);
        if (mb_client_status(c, r->name, &st, &e)) {
            memset(&st, 0, sizeof(st));
            if (!json)
                mb_cli_warn(ctx, "%s", e.msg);
        }
        if (json) {
            print_json(c, r, &st, i == 0);
            continue;
        }
        printf("%s  %s  (priority %lld)\n", r->name, r->url, (long long)r->priority);
        for (size_t m = 0; m < r->nmirrors; m++)
            printf("  mirror   %s\n", r->mirrors[m]);
        for (size_t k = 0; k < r->nkeys; k++) {
            char hex[MB_SIGN_KEYID_HEX_LEN];
            mb_sign_keyid_hex(r->keys[k].keyid, hex);
            printf("  key      %s%s\n", hex, r->nkeys > 1 && k == 0 ? "" : "");
        }
        if (r->threshold > 1)
            printf("  threshold %u signatures\n", r->threshold);
        if (st.have_snapshot) {
            char exp[96];
            mb_cli_format_expiry(st.expires, exp, sizeof(exp));
            printf("  snapshot version %llu, %zu pack%s (%zu index file%s cached), expires %s\n",
                   (unsigned long long)st.version, st.npacks, st.npacks == 1 ? "" : "s",
                   st.index_cached, st.index_cached == 1 ? "" : "s", exp);
        } else {
            printf("  no trusted snapshot (run 'modularbase registry update %s')\n", r->name);
        }
    }
    if (json)
        printf("%s]\n", cfg->nregistries ? "\n" : "");
    mb_free(order);
    mb_client_free(c);
    return 0;
}
