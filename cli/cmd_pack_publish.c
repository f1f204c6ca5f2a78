/*
 * cmd_pack_publish.c - `modularbase pack publish FILE.mbpack --registry
 * NAME|URL`: upload a signed pack to a registry: into a file:// registry
 * directory, or with HTTP PUT (WebDAV) and a bearer token. With the
 * maintainer key the index and a re-signed snapshot are published too;
 * without, the maintainer runs `registry refresh` on the registry directory.
 * Versions are immutable: an existing one is refused.
 */
#include "registry_cli.h"

static void up_progress(void *ud, const char *label, uint64_t done, uint64_t total)
{
    struct mb_cli_progress *p = ud;
    mb_cli_progress_cb(p).fn(p, label, done, total);
}

int mb_cmd_pack_publish(struct mb_ctx *ctx, int argc, char **argv)
{
    const char *target = NULL, *token = NULL, *sig = NULL, *password_file = NULL, *expires = NULL;
    struct mb_strvec keys = { 0 };
    bool json = false;
    struct mb_cli_net net = MB_CLI_NET_INIT;
    const struct mb_opt opts[] = {
        { "registry", 'r', MB_OPT_STRING, &target, "NAME|URL",
          "a configured registry, a URL (https://, http://, file://) or a directory" },
        { "token", 't', MB_OPT_STRING, &token, "TOKEN",
          "bearer token for HTTP PUT (default: $MODULARBASE_TOKEN)" },
        { "key", 'k', MB_OPT_LIST, &keys, "NAME|FILE",
          "maintainer secret key: also update the index and re-sign the snapshot" },
        { "sig", 0, MB_OPT_STRING, &sig, "FILE",
          "the publisher signature (default: FILE.mbpack.minisig)" },
        { "expires", 0, MB_OPT_STRING, &expires, "DURATION",
          "lifetime of the re-signed snapshot (default 7d)" },
        { "password-file", 0, MB_OPT_STRING, &password_file, "FILE",
          "read the key's password from FILE" },
        MB_CLI_NET_OPTS(net),
        { "json", 0, MB_OPT_FLAG, &json, NULL, "print the result as JSON" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase pack publish FILE.mbpack --registry NAME|URL [--token T] [--key SECRET]",
        "Publish a pack built and signed with 'pack build --sign'. The archive and its "
        "signature are checked first: the signer must be a publisher of the pack's id in the "
        "registry's registry.json. Then they are written to packs/ID/ID-VERSION.mbpack of a "
        "file:// registry, or uploaded with HTTP PUT (WebDAV) and 'Authorization: Bearer "
        "TOKEN'. An existing version is refused (versions are immutable). With --key (the "
        "maintainer's key) the index file and a re-signed snapshot are published as well; "
        "without it the maintainer runs 'registry refresh' on the registry directory.",
        "  modularbase pack publish med-1.0.0.mbpack --registry ./registry --key maintainer\n"
        "  MODULARBASE_TOKEN=... modularbase pack publish med-1.0.0.mbpack --registry "
        "https://packs.example.org/",
    };
    struct mb_seckey *sk[MB_REGISTRY_MAX_KEYS] = { 0 };
    size_t nsk = 0;
    struct mb_client *c = NULL;
    int npos, rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        goto out;
    if (npos != 1) {
        rc = mb_usage_error(ctx, "'pack publish' takes one FILE.mbpack");
        goto out;
    }
    if (!target) {
        rc = mb_usage_error(ctx, "'pack publish' needs --registry NAME|URL");
        goto out;
    }
    if (!mb_path_exists(argv[0])) {
        rc = mb_fail(&ctx->err, MB_E_NOTFOUND, "'%s' does not exist", argv[0]);
        goto out;
    }
    uint64_t life = 0;
    if (expires && (!mb_parse_duration(expires, &life) || life == 0 || life > 3650ull * 86400)) {
        rc =
            mb_usage_error(ctx, "--expires: '%s' is not a duration such as 12h, 7d or 4w", expires);
        goto out;
    }
    if (keys.n)
        rc = mb_cli_load_seckeys(ctx, &keys, password_file, sk, &nsk);
    net.token = token;
    if (!rc)
        rc = mb_cli_client_open(ctx, &net, &c);
    if (rc)
        goto out;
    struct mb_cli_progress prog;
    mb_cli_progress_init(&prog, ctx);
    struct mb_publish_opts o = {
        argv[0], sig,           target,         (const struct mb_seckey *const *)sk,
        nsk,     (int64_t)life, { NULL, NULL },
    };
    if (ctx->stderr_tty && !json) {
        o.progress.fn = up_progress;
        o.progress.ud = &prog;
    }
    struct mb_publish_report rep;
    rc = mb_client_publish(c, &o, &rep, &ctx->err);
    mb_cli_progress_done(&prog);
    if (!rc) {
        if (json) {
            printf("{\"id\": ");
            mb_cli_json_string(stdout, rep.id);
            printf(", \"version\": ");
            mb_cli_json_string(stdout, rep.version);
            printf(", \"url\": ");
            mb_cli_json_string(stdout, rep.pack_url);
            printf(", \"indexed\": %s, \"snapshot_version\": %llu}\n",
                   rep.indexed ? "true" : "false", (unsigned long long)rep.snapshot_version);
        } else {
            printf("published %s %s to %s\n", rep.id, rep.version, rep.pack_url);
            if (rep.indexed)
                printf("index updated; snapshot version %llu\n",
                       (unsigned long long)rep.snapshot_version);
            else
                printf("not indexed yet: the registry's maintainer runs 'modularbase registry "
                       "refresh' on the registry directory\n");
        }
    }
    mb_publish_report_release(&rep);
out:
    mb_client_free(c);
    mb_cli_free_seckeys(sk, nsk);
    mb_strvec_release(&keys);
    return rc;
}
