/*
 * cmd_registry_download.c - `modularbase registry download SPEC...`: fetch and
 * verify packs from the configured registries without installing them (like
 * `apt-get download` or `ollama pull`): the newest non-yanked version matching
 * each ID[@RANGE], downloaded in parallel into the cache (resumable), checked
 * against the index's sha256 and size and the publisher's signature, and
 * optionally copied to a directory.
 */
#include "registry_cli.h"
#include "mb_resolver.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* Copy a verified file into `dir` (a hard link when possible). */
static int export_to(struct mb_ctx *ctx, const char *src, const char *dir, const char *name)
{
    char *dst = mb_path_join(dir, name);
    if (!dst)
        return mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
    unlink(dst);
    int rc = 0;
    if (link(src, dst)) {
        struct mb_map m;
        rc = mb_map_file(src, &m, &ctx->err);
        if (!rc) {
            rc = mb_file_write_atomic(dst, m.p ? (const void *)m.p : "", m.n, 0644, &ctx->err);
            mb_unmap(&m);
        }
    }
    mb_free(dst);
    return rc;
}

int mb_cmd_registry_download(struct mb_ctx *ctx, int argc, char **argv)
{
    const char *out_dir = NULL;
    bool json = false, quiet = false, offline = false;
    struct mb_cli_net net = MB_CLI_NET_INIT;
    const struct mb_opt opts[] = {
        { "output", 'o', MB_OPT_STRING, &out_dir, "DIR",
          "also put the archives and signatures in DIR" },
        MB_CLI_NET_OPTS(net),
        { "offline", 0, MB_OPT_FLAG, &offline, NULL, "use only what is cached" },
        { "quiet", 'q', MB_OPT_FLAG, &quiet, NULL, "no progress display" },
        { "json", 0, MB_OPT_FLAG, &json, NULL, "print the results as JSON" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase registry download ID[@RANGE]... [-o DIR] [--jobs N] [--limit-rate RATE]",
        "Download the newest non-yanked version of each pack that matches RANGE (default: any) "
        "from the configured registries, in parallel, into the cache: resumed with an HTTP "
        "Range request when an earlier run was cut off, hashed while it arrives, never read "
        "past the size the index declares, and checked against the index's sha256 and the "
        "publisher's signature before it is kept. Prints the verified paths.",
        "  modularbase registry download medical-en\n"
        "  modularbase registry download base@^1 medical-en@1.2 -o ./packs --jobs 2",
    };
    int npos, rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        return rc;
    if (npos == 0)
        return mb_usage_error(ctx, "'registry download' needs at least one ID[@RANGE]");
    if (out_dir && !mb_is_dir(out_dir))
        return mb_fail(&ctx->err, MB_E_NOTFOUND, "'%s' is not a directory", out_dir);
    net.offline = offline;
    size_t n = (size_t)npos;
    struct mb_request *reqs = mb_calloc(n, sizeof(*reqs));
    const char **ids = mb_calloc(n, sizeof(*ids));
    const struct mb_index_record **recs = mb_calloc(n, sizeof(*recs));
    const char **regs = mb_calloc(n, sizeof(*regs));
    struct mb_download *dl = mb_calloc(n, sizeof(*dl));
    struct mb_client *c = NULL;
    size_t nreq = 0;
    if (!reqs || !ids || !recs || !regs || !dl) {
        rc = mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        rc = mb_request_parse(argv[i], false, &reqs[i], &ctx->err);
        if (!rc) {
            ids[i] = reqs[i].id;
            nreq++;
        }
    }
    if (!rc)
        rc = mb_cli_client_open(ctx, &net, &c);
    if (!rc)
        rc = mb_client_get_index(c, ids, n, recs, regs, &ctx->err);
    for (size_t i = 0; !rc && i < n; i++) {
        if (!recs[i]) {
            rc = mb_fail(&ctx->err, MB_E_NOTFOUND, "no configured registry lists '%s'", ids[i]);
            break;
        }
        const struct mb_index_version *best = NULL;
        bool yanked_only = false;
        for (size_t k = recs[i]->nversions; k-- > 0 && !best;) {
            const struct mb_index_version *v = &recs[i]->versions[k];
            if (!mb_range_satisfies(&reqs[i].range, &v->version, false))
                continue;
            if (v->yanked) {
                yanked_only = true;
                continue;
            }
            best = v;
        }
        if (!best) {
            rc = mb_fail(&ctx->err, MB_E_NOTFOUND, "%s: no %sversion matches '%s'", ids[i],
                         yanked_only ? "non-yanked " : "", reqs[i].range_text);
            break;
        }
        dl[i].registry = regs[i];
        dl[i].id = ids[i];
        dl[i].version = best->version_text;
        dl[i].archive = best->archive;
        memcpy(dl[i].sha256, best->sha256, MB_SHA256_HEX);
        dl[i].size = best->size;
    }
    if (rc)
        goto out;
    struct mb_cli_dlprogress prog;
    mb_cli_dlprogress_init(&prog, ctx, quiet || json);
    struct mb_download_progress pcb = mb_cli_dlprogress_cb(&prog);
    rc = mb_client_download(c, dl, n, &pcb, &ctx->err);
    mb_cli_dlprogress_release(&prog);
    if (json)
        printf("[");
    for (size_t i = 0; i < n; i++) {
        struct mb_download *d = &dl[i];
        if (!d->rc && out_dir) {
            char name[600];
            snprintf(name, sizeof(name), "%s-%s.mbpack", d->id, d->version);
            int r2 = export_to(ctx, d->path, out_dir, name);
            if (!r2) {
                snprintf(name, sizeof(name), "%s-%s.mbpack.minisig", d->id, d->version);
                r2 = export_to(ctx, d->sig_path, out_dir, name);
            }
            if (r2 && !rc)
                rc = r2;
        }
        if (json) {
            printf("%s\n  {\"id\": ", i ? "," : "");
            mb_cli_json_string(stdout, d->id);
            printf(", \"version\": ");
            mb_cli_json_string(stdout, d->version);
            printf(", \"registry\": ");
            mb_cli_json_string(stdout, d->registry);
            printf(", \"ok\": %s", d->rc ? "false" : "true");
            if (d->rc) {
                printf(", \"error\": ");
                mb_cli_json_string(stdout, d->err.msg);
            } else {
                printf(", \"path\": ");
                mb_cli_json_string(stdout, d->path);
                printf(", \"sha256\": \"%s\", \"size\": %llu, \"signer\": \"%s\", \"cached\": %s, "
                       "\"resumed\": %s, \"fetched\": %llu",
                       d->out_sha256, (unsigned long long)d->size, d->signer,
                       d->cached ? "true" : "false", d->resumed ? "true" : "false",
                       (unsigned long long)d->fetched);
            }
            printf("}");
        } else if (!d->rc) {
            printf("%s %s %s%s\n", d->id, d->version, d->path, d->cached ? " (cached)" : "");
        } else if (n > 1) {
            fflush(stdout);
            fprintf(stderr, "error: %s\n", d->err.msg);
        }
    }
    if (json)
        printf("\n]\n");
    if (rc && n > 1 && !json)
        ctx->err.msg[0] = '\0'; /* each failure was printed above */
out:
    for (size_t i = 0; dl && i < n; i++)
        mb_download_release(&dl[i]);
    for (size_t i = 0; i < nreq; i++)
        mb_request_release(&reqs[i]);
    mb_client_free(c);
    mb_free(reqs);
    mb_free(ids);
    mb_free(recs);
    mb_free(regs);
    mb_free(dl);
    return rc;
}
