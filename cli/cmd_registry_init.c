/*
 * cmd_registry_init.c - `modularbase registry init DIR --name NAME --key
 * SECRET`: make DIR a registry: registry.json (name, maintainer keys,
 * threshold, publishers), index/, packs/ and a first signed snapshot.
 */
#include "registry_cli.h"

int mb_cmd_registry_init(struct mb_ctx *ctx, int argc, char **argv)
{
    const char *name = NULL, *description = NULL, *password_file = NULL, *expires = NULL;
    struct mb_strvec keys = { 0 }, pubs = { 0 };
    uint64_t threshold = 1;
    const struct mb_opt opts[] = {
        { "name", 'n', MB_OPT_STRING, &name, "NAME", "the registry's name (required)" },
        { "key", 'k', MB_OPT_LIST, &keys, "NAME|FILE",
          "a maintainer secret key (repeat for several; default: the default key)" },
        { "threshold", 0, MB_OPT_UINT, &threshold, "N",
          "signatures by distinct maintainer keys a snapshot needs (default 1)" },
        { "publisher-key", 0, MB_OPT_LIST, &pubs, "PUBKEY",
          "a key allowed to sign packs (repeat; default: the maintainer keys)" },
        { "description", 0, MB_OPT_STRING, &description, "TEXT", "a one-line description" },
        { "expires", 0, MB_OPT_STRING, &expires, "DURATION",
          "lifetime of the snapshot (default 7d)" },
        { "password-file", 0, MB_OPT_STRING, &password_file, "FILE",
          "read the key's password from FILE" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase registry init DIR --name NAME --key SECRET [--publisher-key PUB]...",
        "Create a registry in DIR: registry.json with the maintainer's public key(s), the "
        "signature threshold and the publishers whose keys may sign packs, empty index/ and "
        "packs/ directories, and snapshot.json version 1 signed with the maintainer key(s). "
        "Serve DIR with any web server (or use it as file://). See docs/registry.md.",
        "  modularbase registry init ./registry --name community --key maintainer\n"
        "  modularbase registry init /srv/reg --name team --key a.key --key b.key --threshold 2",
    };
    struct mb_seckey *sk[MB_REGISTRY_MAX_KEYS] = { 0 };
    size_t nsk = 0;
    struct mb_publisher *pp = NULL;
    int npos, rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        goto out;
    if (npos != 1) {
        rc = mb_usage_error(ctx, "'registry init' takes one DIR");
        goto out;
    }
    if (!name) {
        rc = mb_usage_error(ctx, "'registry init' needs --name NAME");
        goto out;
    }
    uint64_t life = 0;
    if (expires && (!mb_parse_duration(expires, &life) || life == 0 || life > 3650ull * 86400)) {
        rc =
            mb_usage_error(ctx, "--expires: '%s' is not a duration such as 12h, 7d or 4w", expires);
        goto out;
    }
    if (pubs.n > MB_REGISTRY_MAX_PUBLISHERS) {
        rc = mb_usage_error(ctx, "too many --publisher-key options");
        goto out;
    }
    rc = mb_registry_name_check(name, &ctx->err);
    if (rc)
        goto out;
    pp = mb_calloc(pubs.n ? pubs.n : 1, sizeof(*pp));
    if (!pp) {
        rc = mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
        goto out;
    }
    static char star[] = "*";
    static char *star_list[] = { star };
    static char pubname[] = "publisher";
    for (size_t i = 0; i < pubs.n && !rc; i++) {
        rc = mb_cli_pubkey_load(ctx, pubs.v[i], &pp[i].key);
        pp[i].name = pubname;
        pp[i].packs = star_list;
        pp[i].npacks = 1;
    }
    if (!rc)
        rc = mb_cli_load_seckeys(ctx, &keys, password_file, sk, &nsk);
    if (rc)
        goto out;
    struct mb_regdir_init_opts o = {
        name,   description,   (const struct mb_seckey *const *)sk, nsk, (unsigned)threshold, pp,
        pubs.n, (int64_t)life,
    };
    rc = mb_regdir_init(argv[0], &o, &ctx->err);
    if (!rc) {
        struct mb_pubkey pk;
        char hex[MB_SIGN_KEYID_HEX_LEN], b64[MB_SIGN_PUBKEY_B64_LEN];
        mb_sign_seckey_public(sk[0], &pk);
        mb_sign_keyid_hex(pk.keyid, hex);
        mb_sign_pubkey_base64(&pk, b64);
        printf("created registry '%s' in %s (snapshot version 1)\n", name, argv[0]);
        printf("maintainer key %s: users add it with\n", hex);
        printf("  modularbase registry add %s URL --key %s\n", name, b64);
    }
out:
    mb_cli_free_seckeys(sk, nsk);
    mb_free(pp);
    mb_strvec_release(&keys);
    mb_strvec_release(&pubs);
    return rc;
}
