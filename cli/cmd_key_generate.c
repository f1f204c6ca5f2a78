/*
 * cmd_key_generate.c - `modularbase key generate`: a new Ed25519 key pair in
 * minisign's formats at <home>/keys/<name>.key (mode 0600, encrypted with a
 * password unless --no-password) and <name>.pub, usable by minisign too.
 */
#include "cli_keys.h"

int mb_cmd_key_generate(struct mb_ctx *ctx, int argc, char **argv)
{
    const char *name = MB_CLI_DEFAULT_KEY;
    const char *password_file = NULL;
    bool no_password = false, force = false;
    const struct mb_opt opts[] = {
        { "name", 'n', MB_OPT_STRING, &name, "NAME", "key name (default \"default\")" },
        { "no-password", 0, MB_OPT_FLAG, &no_password, NULL,
          "store the secret key unencrypted (for CI; like minisign -W)" },
        { "password-file", 0, MB_OPT_STRING, &password_file, "FILE",
          "read the password from FILE's first line (else $MODULARBASE_PASSWORD, else the "
          "terminal)" },
        { "force", 'f', MB_OPT_FLAG, &force, NULL, "replace an existing key of that name" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase key generate [--name NAME] [--no-password] [--force]",
        "Create a signing key pair in <home>/keys/NAME.key (secret, encrypted with a password "
        "using scrypt unless --no-password) and NAME.pub (public). Both files use minisign's "
        "formats: `minisign -S -s NAME.key` signs with it and `minisign -V -p NAME.pub` "
        "verifies what modularbase signs.",
        "  modularbase key generate\n"
        "  MODULARBASE_PASSWORD=... modularbase key generate --name release\n"
        "  modularbase key generate --name ci --no-password",
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        return rc;
    if (npos)
        return mb_usage_error(ctx, "'key generate' takes no arguments (use --name NAME)");
    if (no_password && password_file)
        return mb_usage_error(ctx, "--no-password and --password-file contradict each other");

    char *sk_path = NULL, *pk_path = NULL, *dir = NULL, *pw = NULL;
    struct mb_seckey *sk = NULL;
    struct mb_buf sk_text, pk_text;
    mb_buf_init(&sk_text, 4096);
    mb_buf_init(&pk_text, 4096);
    rc = mb_cli_key_paths(ctx, name, &sk_path, &pk_path);
    if (!rc)
        rc = mb_cli_keys_dir(ctx, &dir);
    if (rc)
        goto out;
    if (!force && (mb_path_exists(sk_path) || mb_path_exists(pk_path))) {
        rc = mb_fail(&ctx->err, MB_E_EXISTS,
                     "key '%s' already exists (%s); use --force to replace it", name,
                     mb_path_exists(sk_path) ? sk_path : pk_path);
        goto out;
    }
    if (!no_password) {
        rc = mb_cli_password_read(ctx, password_file, "Password for the new key: ", true, &pw);
        if (rc)
            goto out;
    }
    rc = mb_mkdir_p(dir, 0700, &ctx->err);
    if (!rc)
        rc = mb_sign_seckey_generate(&sk, &ctx->err);
    if (rc)
        goto out;
    if (pw && ctx->stderr_tty)
        mb_cli_note(ctx, "encrypting the secret key (scrypt, a few seconds)");
    rc = mb_sign_seckey_format(sk, pw, 0, 0, &sk_text, &ctx->err);
    struct mb_pubkey pk;
    mb_sign_seckey_public(sk, &pk);
    if (!rc)
        rc = mb_sign_pubkey_format(&pk, &pk_text, &ctx->err);
    if (!rc)
        rc = mb_file_write_atomic(sk_path, sk_text.p, sk_text.n, 0600, &ctx->err);
    if (!rc)
        rc = mb_file_write_atomic(pk_path, pk_text.p, pk_text.n, 0644, &ctx->err);
    if (rc)
        goto out;
    char id[MB_SIGN_KEYID_HEX_LEN], b64[MB_SIGN_PUBKEY_B64_LEN];
    mb_sign_keyid_hex(pk.keyid, id);
    mb_sign_pubkey_base64(&pk, b64);
    printf("generated key '%s' (key id %s)\n", name, id);
    printf("  secret key: %s%s\n", sk_path, pw ? "" : " (unencrypted)");
    printf("  public key: %s\n", pk_path);
    printf("verify with: minisign -Vm FILE -P %s\n", b64);
out:
    if (sk_text.p)
        mb_sign_wipe(sk_text.p, sk_text.n);
    mb_buf_release(&sk_text);
    mb_buf_release(&pk_text);
    mb_sign_secure_free(pw);
    mb_sign_seckey_free(sk);
    mb_free(sk_path);
    mb_free(pk_path);
    mb_free(dir);
    return rc;
}
