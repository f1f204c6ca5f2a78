/*
 * cmd_resolve.c - `modularbase resolve [REQUEST...]`: a dry run of version
 * solving (like `apt-get -s install` or `uv pip compile`): resolves the
 * requests against a directory of index files or the configured registries
 * (their trusted snapshots; index files fetched on demand), prints the plan
 * (or PubGrub's explanation of why there is none), and can write or enforce
 * packs.lock.
 */
#include "cli.h"
#include "mb_registry.h"
#include "mb_resolver.h"

static void print_json_plan(const struct mb_resolution *res)
{
    printf("{\n  \"packs\": [");
    for (size_t i = 0; i < res->n; i++) {
        const struct mb_plan_entry *e = &res->entries[i];
        printf("%s\n    {\"id\": ", i ? "," : "");
        mb_cli_json_string(stdout, e->id);
        printf(", \"version\": ");
        mb_cli_json_string(stdout, e->version);
        printf(", \"action\": \"%s\", \"kind\": \"%s\"", mb_plan_action_name(e->action),
               mb_pack_kind_name(e->kind));
        if (e->from_version) {
            printf(", \"from\": ");
            mb_cli_json_string(stdout, e->from_version);
        }
        if (e->registry) {
            printf(", \"registry\": ");
            mb_cli_json_string(stdout, e->registry);
            printf(", \"sha256\": \"%s\", \"size\": %llu, \"archive\": ", e->sha256,
                   (unsigned long long)e->size);
            mb_cli_json_string(stdout, e->archive ? e->archive : "");
        }
        printf(", \"requested\": %s, \"yanked\": %s}", e->requested ? "true" : "false",
               e->yanked ? "true" : "false");
    }
    printf("%s],\n", res->n ? "\n  " : "");
}

static void print_json_stats(const struct mb_resolution *res)
{
    const struct mb_resolve_stats *st = &res->stats;
    printf("  \"stats\": {\"packages_loaded\": %llu, \"decisions\": %llu, \"conflicts\": %llu, "
           "\"incompatibilities\": %llu, \"solve_ms\": %.3f, \"load_ms\": %.3f}\n}\n",
           (unsigned long long)st->packages, (unsigned long long)st->decisions,
           (unsigned long long)st->conflicts, (unsigned long long)st->incompatibilities,
           (double)st->solve_ns / 1e6, (double)st->load_ns / 1e6);
}

int mb_cmd_resolve(struct mb_ctx *ctx, int argc, char **argv)
{
    const char *index_dir = NULL, *installed_path = NULL, *lock_path = NULL, *locked_path = NULL,
               *write_lock = NULL, *registry = "local";
    bool json = false, incpre = false, upgrade = false, stats = false;
    const struct mb_opt opts[] = {
        { "index-dir", 0, MB_OPT_STRING, &index_dir, "DIR",
          "resolve against DIR/index/<id>.json (or DIR/<id>.json) files" },
        { "registry-name", 0, MB_OPT_STRING, &registry, "NAME",
          "the registry name recorded for --index-dir packs (default: local)" },
        { "installed", 0, MB_OPT_STRING, &installed_path, "FILE",
          "installed packs (packs.lock format): preferred, and kept when yanked" },
        { "lock", 0, MB_OPT_STRING, &lock_path, "FILE",
          "prefer the versions in FILE (a packs.lock); yanked versions it pins stay allowed" },
        { "locked", 0, MB_OPT_STRING, &locked_path, "FILE",
          "reproduce FILE exactly or fail explaining why (like cargo --locked)" },
        { "write-lock", 0, MB_OPT_STRING, &write_lock, "FILE", "write the result to FILE" },
        { "upgrade", 'U', MB_OPT_FLAG, &upgrade, NULL,
          "prefer the newest versions over installed and locked ones" },
        { "include-prerelease", 'p', MB_OPT_FLAG, &incpre, NULL,
          "let ranges match prerelease versions (node-semver's includePrerelease)" },
        { "stats", 0, MB_OPT_FLAG, &stats, NULL, "print solver statistics on stderr" },
        { "json", 0, MB_OPT_FLAG, &json, NULL, "print the plan as JSON" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase resolve [options] [--index-dir DIR] REQUEST...",
        "Resolve REQUESTs (ID or ID@RANGE, e.g. medical@^1.2) with the PubGrub solver and "
        "print the plan without installing anything: which version of each pack would be "
        "installed, kept, upgraded, downgraded or removed. Without --index-dir the configured "
        "registries are used (see 'registry add'). Every solution has exactly one base "
        "pack satisfying the base_compatibility of every selected pack. When no solution "
        "exists, prints why (exit 7). See docs/resolver.md.",
        "  modularbase resolve --index-dir ./registry medical-en code-python@^2\n"
        "  modularbase resolve --index-dir ./registry medical-en --write-lock packs.lock\n"
        "  modularbase resolve --index-dir ./registry --locked packs.lock medical-en",
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        return rc;
    if (npos == 0)
        return mb_usage_error(ctx, "'resolve' needs at least one REQUEST (ID or ID@RANGE)");
    if (lock_path && locked_path)
        return mb_usage_error(ctx, "use either --lock or --locked, not both");
    if (locked_path && upgrade)
        return mb_usage_error(ctx, "--locked and --upgrade contradict each other");

    struct mb_request *reqs = mb_calloc((size_t)npos, sizeof(*reqs));
    struct mb_lock installed, lock;
    mb_lock_init(&installed);
    mb_lock_init(&lock);
    struct mb_index_dir *dir = NULL;
    struct mb_client *client = NULL;
    struct mb_resolution res;
    memset(&res, 0, sizeof(res));
    size_t nreq = 0;
    if (!reqs)
        return mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
    for (int i = 0; i < npos; i++) {
        rc = mb_request_parse(argv[i], incpre, &reqs[nreq], &ctx->err);
        if (rc)
            goto out;
        for (size_t j = 0; j < nreq; j++)
            if (!strcmp(reqs[j].id, reqs[nreq].id)) {
                rc = mb_usage_error(ctx, "'%s' is requested twice (combine the ranges)",
                                    reqs[nreq].id);
                mb_request_release(&reqs[nreq]);
                goto out;
            }
        nreq++;
    }
    if (installed_path && (rc = mb_lock_load(installed_path, &installed, &ctx->err)))
        goto out;
    if ((lock_path || locked_path) &&
        (rc = mb_lock_load(lock_path ? lock_path : locked_path, &lock, &ctx->err)))
        goto out;
    struct mb_resolve_source src;
    if (index_dir) {
        rc = mb_index_dir_open(index_dir, registry, &dir, &ctx->err);
        if (rc)
            goto out;
        src = mb_index_dir_source(dir);
    } else {
        char *home = NULL;
        rc = mb_home_resolve(ctx->home, &home, &ctx->err);
        struct mb_client_opts co;
        memset(&co, 0, sizeof(co));
        co.home = home;
        if (!rc)
            rc = mb_client_open(&co, &client, &ctx->err);
        mb_free(home);
        if (!rc && mb_client_config(client)->nregistries == 0)
            rc = mb_usage_error(ctx, "no registries configured: add one with 'modularbase "
                                     "registry add', or pass --index-dir DIR");
        if (rc)
            goto out;
        src = mb_client_source(client);
    }
    struct mb_resolve_opts ro = {
        .requests = reqs,
        .nrequests = nreq,
        .installed = installed_path ? &installed : NULL,
        .lock = (lock_path || locked_path) ? &lock : NULL,
        .locked = locked_path != NULL,
        .include_prerelease = incpre,
        .upgrade = upgrade,
    };
    rc = mb_resolve(&src, &ro, &res, &ctx->err);
    if (stats)
        fprintf(stderr,
                "stats: %llu packages loaded, %llu decisions, %llu conflicts, %llu "
                "incompatibilities, %.3f ms (%.3f ms loading)\n",
                (unsigned long long)res.stats.packages, (unsigned long long)res.stats.decisions,
                (unsigned long long)res.stats.conflicts,
                (unsigned long long)res.stats.incompatibilities, (double)res.stats.solve_ns / 1e6,
                (double)res.stats.load_ns / 1e6);
    if (rc == MB_E_CONFLICT) {
        if (json) {
            printf("{\n  \"error\": \"conflict\",\n  \"explanation\": ");
            mb_cli_json_string(stdout, res.explanation ? res.explanation : "");
            printf(",\n");
            print_json_stats(&res);
        }
        fflush(stdout);
        if (res.explanation)
            fprintf(stderr, "%s\n", res.explanation);
        goto out;
    }
    if (rc)
        goto out;
    if (json) {
        print_json_plan(&res);
        print_json_stats(&res);
    } else {
        for (size_t i = 0; i < res.n; i++) {
            const struct mb_plan_entry *e = &res.entries[i];
            if (e->from_version && (e->action == MB_PLAN_UPGRADE || e->action == MB_PLAN_DOWNGRADE))
                printf("%-9s %s %s -> %s", mb_plan_action_name(e->action), e->id, e->from_version,
                       e->version);
            else
                printf("%-9s %s %s", mb_plan_action_name(e->action), e->id, e->version);
            if (e->kind == MB_PACK_BASE && e->action != MB_PLAN_REMOVE)
                printf(" (base)");
            if (e->yanked)
                printf(" (yanked, pinned)");
            printf("\n");
        }
    }
    if (write_lock) {
        struct mb_lock out;
        struct mb_buf b;
        mb_buf_init(&b, MB_INDEX_MAX_BYTES);
        rc = mb_resolution_to_lock(&res, &out, &ctx->err);
        if (!rc)
            rc = mb_lock_emit(&out, &b, &ctx->err);
        if (!rc)
            rc = mb_file_write_atomic(write_lock, b.p, b.n, 0644, &ctx->err);
        mb_lock_release(&out);
        mb_buf_release(&b);
    }
out:
    mb_resolution_release(&res);
    mb_index_dir_free(dir);
    mb_client_free(client);
    for (size_t i = 0; i < nreq; i++)
        mb_request_release(&reqs[i]);
    mb_free(reqs);
    mb_lock_release(&installed);
    mb_lock_release(&lock);
    return rc;
}
