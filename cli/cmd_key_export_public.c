/*
 * cmd_key_export_public.c - `modularbase key export-public`: print a key's
 * public half in minisign's two-line .pub format (to hand to registry users,
 * or to `minisign -V -p`). Falls back to deriving it from the secret key when
 * the .pub file is missing.
 */
#include "cli_keys.h"

int mb_cmd_key_export_public(struct mb_ctx *ctx, int argc, char **argv)
{
    const char *name = MB_CLI_DEFAULT_KEY;
    const char *password_file = NULL;
    bool base64 = false;
    const struct mb_opt opts[] = {
        { "name", 'n', MB_OPT_STRING, &name, "NAME", "key name (default \"default\")" },
        { "base64", 0, MB_OPT_FLAG, &base64, NULL,
          "print only the base64 key (for minisign -P and registry.json)" },
        { "password-file", 0, MB_OPT_STRING, &password_file, "FILE",
          "password for the secret key, when the .pub file must be recreated" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase key export-public [--name NAME] [--base64]",
        "Print the public key of NAME in minisign's .pub format.",
        "  modularbase key export-public > release.pub\n"
        "  minisign -Vm pack.mbpack -p release.pub",
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        return rc;
    if (npos)
        return mb_usage_error(ctx, "'key export-public' takes no arguments (use --name NAME)");
    char *sk_path, *pk_path;
    rc = mb_cli_key_paths(ctx, name, &sk_path, &pk_path);
    if (rc)
        return rc;
    struct mb_pubkey pk;
    if (mb_path_exists(pk_path)) {
        rc = mb_sign_pubkey_load(pk_path, &pk, &ctx->err);
    } else if (mb_path_exists(sk_path)) {
        struct mb_seckey *sk;
        rc = mb_cli_seckey_load(ctx, name, NULL, password_file, &sk);
        if (!rc) {
            mb_sign_seckey_public(sk, &pk);
            mb_sign_seckey_free(sk);
        }
    } else {
        rc = mb_fail(&ctx->err, MB_E_NOTFOUND,
                     "no key '%s' (looked for %s); see 'modularbase key list'", name, pk_path);
    }
    if (!rc) {
        if (base64) {
            char b64[MB_SIGN_PUBKEY_B64_LEN];
            mb_sign_pubkey_base64(&pk, b64);
            printf("%s\n", b64);
        } else {
            struct mb_buf b;
            mb_buf_init(&b, 4096);
            rc = mb_sign_pubkey_format(&pk, &b, &ctx->err);
            if (!rc)
                fwrite(b.p, 1, b.n, stdout);
            mb_buf_release(&b);
        }
    }
    mb_free(sk_path);
    mb_free(pk_path);
    return rc;
}
