/*
 * cmd_pack_info.c - `modularbase pack info ID [--files] [--json]`: what the
 * store knows about an installed pack (version, kind, why it is installed,
 * where it came from, its files, what it depends on and what depends on it)
 * and, when registries are configured, which versions they offer. Reads
 * without the lock.
 */
#include "store_cli.h"

/* Installed packs whose pack.yaml depends on `id` (a newly allocated list). */
static size_t rdeps(const char *home, const struct mb_store_state *st, const char *id,
                    const char **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < st->n && n < max; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/packs/%s/%s/pack.yaml", home, st->packs[i].id,
                 st->packs[i].version);
        struct mb_manifest m;
        if (mb_manifest_load(path, &m, NULL))
            continue;
        for (size_t j = 0; j < m.ndeps; j++)
            if (!strcmp(m.deps[j].id, id)) {
                out[n++] = st->packs[i].id;
                break;
            }
        mb_manifest_release(&m);
    }
    return n;
}

static void json_kv(const char *key, const char *val, bool comma)
{
    printf("%s\"%s\": ", comma ? ", " : "", key);
    if (val)
        mb_cli_json_string(stdout, val);
    else
        printf("null");
}

static void print_available(struct mb_ctx *ctx, const char *home, const char *id, bool json,
                            bool installed)
{
    struct mb_cli_remote *r = NULL;
    if (mb_cli_remote_open(ctx, home, false, true, &r) || !mb_cli_remote_has_registries(r)) {
        mb_cli_remote_free(r);
        mb_err_init(&ctx->err);
        if (json)
            printf(", \"available\": []");
        return;
    }
    const struct mb_store_remote *rem = mb_cli_remote_get(r);
    const struct mb_index_record *rec = NULL;
    const char *reg = NULL;
    struct mb_err e;
    bool ok = rem->src.load && !rem->src.load(rem->src.ud, id, &rec, &reg, &e);
    if (json) {
        printf(", \"available\": [");
        for (size_t i = 0; ok && i < rec->nversions; i++) {
            printf("%s{\"version\": ", i ? ", " : "");
            mb_cli_json_string(stdout, rec->versions[i].version_text);
            printf(", \"registry\": ");
            mb_cli_json_string(stdout, reg);
            printf(", \"size\": %llu, \"yanked\": %s}", (unsigned long long)rec->versions[i].size,
                   rec->versions[i].yanked ? "true" : "false");
        }
        printf("]");
    } else if (ok) {
        printf("%s %s:", installed ? "  available" : "available in", reg);
        for (size_t i = 0; i < rec->nversions; i++)
            printf(" %s%s", rec->versions[i].version_text,
                   rec->versions[i].yanked ? "(yanked)" : "");
        printf("\n");
    }
    mb_cli_remote_free(r);
}

int mb_cmd_pack_info(struct mb_ctx *ctx, int argc, char **argv)
{
    bool json = false, files = false;
    const struct mb_opt opts[] = {
        { "files", 0, MB_OPT_FLAG, &files, NULL, "also list the installed files and their sha256" },
        { "json", 0, MB_OPT_FLAG, &json, NULL, "print as JSON (files always included)" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase pack info [--files] [--json] ID",
        "Show an installed pack: version, kind, explicit or automatic, resident, size, source "
        "(registry, file or bundle) and archive sha256, install time, directory, weights, "
        "the manifest's description and dependencies, and the installed packs that depend "
        "on it; for a pack that is not installed, the versions the configured registries "
        "offer (exit 4 when none does).",
        NULL,
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        return rc;
    if (npos != 1)
        return mb_usage_error(ctx, "'pack info' takes one pack ID");
    const char *id = argv[0];
    rc = mb_pack_id_check(id, &ctx->err);
    if (rc)
        return MB_E_USAGE;
    char *home = NULL;
    rc = mb_cli_store_home(ctx, &home);
    if (rc)
        return rc;
    struct mb_store_state st;
    rc = mb_store_state_load(home, &st, &ctx->err);
    if (rc) {
        mb_free(home);
        return rc;
    }
    const struct mb_store_pack *p = mb_store_state_find(&st, id);
    if (!p) {
        struct mb_cli_remote *r = NULL;
        bool any = false;
        if (!mb_cli_remote_open(ctx, home, false, true, &r) && mb_cli_remote_has_registries(r)) {
            const struct mb_store_remote *rem = mb_cli_remote_get(r);
            const struct mb_index_record *rec;
            const char *reg;
            struct mb_err e;
            any = rem->src.load && !rem->src.load(rem->src.ud, id, &rec, &reg, &e);
        }
        mb_cli_remote_free(r);
        mb_err_init(&ctx->err);
        if (any) {
            if (json)
                printf("{\"id\": \"%s\", \"installed\": false", id);
            else
                printf("%s: not installed\n", id);
            print_available(ctx, home, id, json, false);
            if (json)
                printf("}\n");
        } else {
            rc = mb_fail(&ctx->err, MB_E_NOTFOUND,
                         "'%s' is not installed, and no configured registry has it", id);
        }
        mb_store_state_release(&st);
        mb_free(home);
        return rc;
    }
    char dir[4096], when[64], size[32], asize[32];
    snprintf(dir, sizeof(dir), "%s/packs/%s/%s", home, p->id, p->version);
    mb_time_format_utc(p->installed_at, when, sizeof(when));
    char yaml[4200];
    snprintf(yaml, sizeof(yaml), "%s/pack.yaml", dir);
    struct mb_manifest m;
    struct mb_err merr;
    bool have_m = !mb_manifest_load(yaml, &m, &merr);
    const char *deps_of[256];
    size_t nr = rdeps(home, &st, p->id, deps_of, MB_ARRAY_LEN(deps_of));
    if (json) {
        printf("{");
        json_kv("id", p->id, false);
        json_kv("version", p->version, true);
        printf(", \"installed\": true, \"kind\": \"%s\", \"automatic\": %s, \"resident\": %s, "
               "\"size\": %llu",
               mb_pack_kind_name(p->kind), p->automatic ? "true" : "false",
               p->resident ? "true" : "false", (unsigned long long)p->size);
        json_kv("source", mb_store_source_name(p->source), true);
        json_kv("registry", p->registry, true);
        json_kv("origin", p->origin, true);
        json_kv("archive_sha256", p->archive_sha256[0] ? p->archive_sha256 : NULL, true);
        printf(", \"archive_size\": %llu", (unsigned long long)p->archive_size);
        json_kv("installed_at", when, true);
        json_kv("dir", dir, true);
        json_kv("weights", p->weights, true);
        json_kv("name", have_m ? m.name : NULL, true);
        json_kv("description", have_m ? m.description : NULL, true);
        printf(", \"dependencies\": [");
        for (size_t i = 0; have_m && i < m.ndeps; i++) {
            printf("%s{\"id\": ", i ? ", " : "");
            mb_cli_json_string(stdout, m.deps[i].id);
            printf(", \"version\": ");
            mb_cli_json_string(stdout, m.deps[i].version);
            printf("}");
        }
        printf("], \"required_by\": [");
        for (size_t i = 0; i < nr; i++) {
            printf("%s", i ? ", " : "");
            mb_cli_json_string(stdout, deps_of[i]);
        }
        printf("], \"files\": [");
        for (size_t i = 0; i < p->nfiles; i++) {
            printf("%s{\"path\": ", i ? ", " : "");
            mb_cli_json_string(stdout, p->files[i].path);
            printf(", \"size\": %llu, \"sha256\": \"%s\"}", (unsigned long long)p->files[i].size,
                   p->files[i].sha256);
        }
        printf("]");
        print_available(ctx, home, id, true, true);
        printf("}\n");
    } else {
        printf("%s %s (%s pack)\n", p->id, p->version, mb_pack_kind_name(p->kind));
        if (have_m && m.name)
            printf("  name:        %s\n", m.name);
        if (have_m && m.description)
            printf("  description: %s\n", m.description);
        printf("  reason:      %s\n",
               p->automatic ? "automatic (installed as a dependency)" : "explicit (you asked)");
        printf("  resident:    %s\n", p->resident ? "yes" : "no");
        printf("  size:        %s in %zu files\n", mb_format_size(p->size, size, sizeof(size)),
               p->nfiles);
        printf("  source:      %s%s%s\n", mb_store_source_name(p->source), p->registry ? " " : "",
               p->registry ? p->registry : "");
        if (p->origin)
            printf("  origin:      %s\n", p->origin);
        if (p->archive_sha256[0])
            printf("  archive:     sha256 %s, %s\n", p->archive_sha256,
                   mb_format_size(p->archive_size, asize, sizeof(asize)));
        printf("  installed:   %s\n", when);
        printf("  directory:   %s\n", dir);
        if (p->weights)
            printf("  weights:     %s/%s\n", dir, p->weights);
        if (have_m && m.ndeps) {
            printf("  depends on: ");
            for (size_t i = 0; i < m.ndeps; i++)
                printf(" %s@%s", m.deps[i].id, m.deps[i].version);
            printf("\n");
        }
        if (nr) {
            printf("  required by:");
            for (size_t i = 0; i < nr; i++)
                printf(" %s", deps_of[i]);
            printf("\n");
        }
        if (!have_m)
            printf("  warning:     %s\n", merr.msg);
        print_available(ctx, home, id, false, true);
        if (files)
            for (size_t i = 0; i < p->nfiles; i++)
                printf("  %s  %12llu  %s\n", p->files[i].sha256,
                       (unsigned long long)p->files[i].size, p->files[i].path);
    }
    if (have_m)
        mb_manifest_release(&m);
    mb_store_state_release(&st);
    mb_free(home);
    return 0;
}
