/*
 * cmd_registry_add.c - `modularbase registry add NAME URL --key PUBKEY`: pin
 * the maintainer's public key(s) (no key, no registry), fetch and verify the
 * registry's snapshot once, and only then write it into config.yaml.
 */
#include "registry_cli.h"

int mb_cmd_registry_add(struct mb_ctx *ctx, int argc, char **argv)
{
    struct mb_strvec keys = { 0 }, key_files = { 0 }, mirrors = { 0 };
    int64_t priority = 0;
    uint64_t threshold = 1;
    bool json = false;
    struct mb_cli_net net = MB_CLI_NET_INIT;
    const struct mb_opt opts[] = {
        { "key", 'k', MB_OPT_LIST, &keys, "PUBKEY",
          "the maintainer's public key: base64 (minisign -P), a .pub file or a key name "
          "(repeat for several)" },
        { "key-file", 0, MB_OPT_LIST, &key_files, "FILE", "the maintainer's public key file" },
        { "mirror", 'm', MB_OPT_LIST, &mirrors, "URL",
          "a mirror serving the same files (tried in order when the URL fails)" },
        { "priority", 'p', MB_OPT_INT, &priority, "N",
          "higher wins when several registries list a pack id (default 0)" },
        { "threshold", 0, MB_OPT_UINT, &threshold, "N",
          "require N signatures by distinct pinned keys (default 1, or the registry's own)" },
        MB_CLI_NET_OPTS(net),
        { "json", 0, MB_OPT_FLAG, &json, NULL, "print the result as JSON" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase registry add NAME URL --key PUBKEY|--key-file FILE [--mirror URL]... "
        "[--priority N]",
        "Add a community registry under the local NAME. URL is https://, http://, file:// or a "
        "directory. The maintainer's public key is pinned in config.yaml: every snapshot must "
        "be signed by it, so a registry cannot be added without one (get it from the "
        "registry's maintainers, not from the registry itself). The snapshot and registry.json "
        "are fetched and verified once; nothing is written when that fails.",
        "  modularbase registry add community https://packs.example.org --key RWQf6LRC...\n"
        "  modularbase registry add local ./my-registry --key-file maintainer.pub --priority 10",
    };
    int npos, rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        goto out;
    if (npos != 2) {
        rc = mb_usage_error(ctx, "'registry add' takes NAME and URL");
        goto out;
    }
    if (keys.n + key_files.n == 0) {
        rc = mb_usage_error(ctx, "no key given: pin the maintainer's public key with --key or "
                                 "--key-file (no key, no registry)");
        goto out;
    }
    if (keys.n + key_files.n > MB_REGISTRY_MAX_KEYS || mirrors.n > MB_REGISTRY_MAX_MIRRORS) {
        rc = mb_usage_error(ctx, "too many keys (at most %d) or mirrors (at most %d)",
                            MB_REGISTRY_MAX_KEYS, MB_REGISTRY_MAX_MIRRORS);
        goto out;
    }
    if (priority < -1000000 || priority > 1000000 || threshold < 1 ||
        threshold > keys.n + key_files.n) {
        rc = mb_usage_error(ctx, "--priority must be within +-1000000 and --threshold from 1 to "
                                 "the number of keys");
        goto out;
    }
    struct mb_registry_conf conf;
    memset(&conf, 0, sizeof(conf));
    conf.name = argv[0];
    conf.url = argv[1];
    conf.mirrors = (char **)(uintptr_t)mirrors.v;
    conf.nmirrors = mirrors.n;
    conf.threshold = (unsigned)threshold;
    conf.priority = priority;
    for (size_t i = 0; i < keys.n + key_files.n && !rc; i++) {
        if (i < keys.n)
            rc = mb_cli_pubkey_load(ctx, keys.v[i], &conf.keys[i]);
        else
            rc = mb_sign_pubkey_load(key_files.v[i - keys.n], &conf.keys[i], &ctx->err);
        conf.nkeys++;
    }
    if (rc)
        goto out;
    rc = mb_registry_name_check(conf.name, &ctx->err);
    if (rc)
        goto out;
    struct mb_client *c = NULL;
    rc = mb_cli_client_open(ctx, &net, &c);
    if (rc)
        goto out;
    struct mb_update_report rep;
    rc = mb_client_add(c, &conf, &rep, &ctx->err);
    if (!rc) {
        const struct mb_registry_conf *added = mb_config_find(mb_client_config(c), conf.name);
        char exp[96], hex[MB_SIGN_KEYID_HEX_LEN];
        mb_cli_format_expiry(rep.expires, exp, sizeof(exp));
        mb_sign_keyid_hex(conf.keys[0].keyid, hex);
        if (json) {
            printf("{\"name\": ");
            mb_cli_json_string(stdout, conf.name);
            printf(", \"url\": ");
            mb_cli_json_string(stdout, added ? added->url : conf.url);
            printf(", \"version\": %llu, \"packs\": %zu, \"key_id\": \"%s\"}\n",
                   (unsigned long long)rep.new_version, rep.npacks, hex);
        } else {
            printf("added registry '%s' (%s)\n", conf.name, added ? added->url : conf.url);
            printf("  snapshot version %llu, %zu pack%s, expires %s\n",
                   (unsigned long long)rep.new_version, rep.npacks, rep.npacks == 1 ? "" : "s",
                   exp);
            printf("  pinned key %s%s\n", hex, conf.nkeys > 1 ? " (and others)" : "");
        }
    }
    mb_client_free(c);
out:
    mb_strvec_release(&keys);
    mb_strvec_release(&key_files);
    mb_strvec_release(&mirrors);
    return rc;
}
