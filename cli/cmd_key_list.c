/*
 * cmd_key_list.c - `modularbase key list`: the key pairs in <home>/keys with
 * their minisign key ids, whether the secret half is present and whether it
 * is password-protected.
 */
#include "cli_keys.h"

#include <dirent.h>

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of the <dir>/NAME.pub and NAME.key files (without the suffix), sorted and unique. */
static int collect(struct mb_ctx *ctx, const char *dir, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0; /* no keys directory yet: no keys */
    size_t cap = 0;
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 5 ||
            (strcmp(de->d_name + len - 4, ".pub") && strcmp(de->d_name + len - 4, ".key")))
            continue;
        char *name = mb_strndup(de->d_name, len - 4);
        if (!name) {
            rc = mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
            break;
        }
        if (!mb_cli_key_name_ok(name)) {
            mb_free(name);
            continue;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            char **v = mb_reallocarray(*names, cap, sizeof(*v));
            if (!v) {
                mb_free(name);
                rc = mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
                break;
            }
            *names = v;
        }
        (*names)[(*n)++] = name;
    }
    closedir(d);
    if (*n)
        qsort(*names, *n, sizeof(**names), cmp_str);
    size_t w = 0;
    for (size_t i = 0; i < *n; i++) {
        if (w && !strcmp((*names)[w - 1], (*names)[i]))
            mb_free((*names)[i]);
        else
            (*names)[w++] = (*names)[i];
    }
    *n = w;
    return rc;
}

int mb_cmd_key_list(struct mb_ctx *ctx, int argc, char **argv)
{
    bool json = false;
    const struct mb_opt opts[] = {
        { "json", 0, MB_OPT_FLAG, &json, NULL, "print as JSON" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase key list [--json]",
        "List the signing keys in <home>/keys: name, key id (as minisign prints it), and "
        "whether the secret key is present and encrypted.",
        NULL,
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        return rc;
    if (npos)
        return mb_usage_error(ctx, "'key list' takes no arguments");
    char *dir;
    rc = mb_cli_keys_dir(ctx, &dir);
    if (rc)
        return rc;
    char **names;
    size_t n;
    rc = collect(ctx, dir, &names, &n);
    if (json)
        printf("[");
    else if (!rc && n == 0)
        mb_cli_note(ctx, "no keys in %s; create one with 'modularbase key generate'", dir);
    for (size_t i = 0; !rc && i < n; i++) {
        char *sk_path, *pk_path;
        rc = mb_cli_key_paths(ctx, names[i], &sk_path, &pk_path);
        if (rc)
            break;
        struct mb_pubkey pk;
        struct mb_err kerr;
        mb_err_init(&kerr);
        bool have_pub = mb_path_exists(pk_path) && !mb_sign_pubkey_load(pk_path, &pk, &kerr);
        bool have_sec = mb_path_exists(sk_path);
        bool encrypted = false;
        bool sec_ok = have_sec && !mb_sign_seckey_is_encrypted(sk_path, &encrypted, &kerr);
        char id[MB_SIGN_KEYID_HEX_LEN] = "?", b64[MB_SIGN_PUBKEY_B64_LEN] = "";
        if (have_pub) {
            mb_sign_keyid_hex(pk.keyid, id);
            mb_sign_pubkey_base64(&pk, b64);
        }
        const char *state = !have_sec   ? "public key only"
                            : !sec_ok   ? "secret key unreadable"
                            : encrypted ? "secret key (encrypted)"
                                        : "secret key (unencrypted)";
        if (json) {
            printf("%s\n  {\"name\": ", i ? "," : "");
            mb_cli_json_string(stdout, names[i]);
            printf(", \"key_id\": ");
            if (have_pub)
                mb_cli_json_string(stdout, id);
            else
                printf("null");
            printf(", \"public_key\": ");
            if (have_pub)
                mb_cli_json_string(stdout, b64);
            else
                printf("null");
            printf(", \"public_key_file\": ");
            mb_cli_json_string(stdout, pk_path);
            printf(", \"secret_key_file\": ");
            if (have_sec)
                mb_cli_json_string(stdout, sk_path);
            else
                printf("null");
            printf(", \"encrypted\": %s}", !sec_ok ? "null" : encrypted ? "true" : "false");
        } else {
            printf("%-20s %-16s  %s\n", names[i], id, state);
            if (!have_pub && mb_path_exists(pk_path))
                mb_cli_warn(ctx, "%s", kerr.msg);
        }
        mb_free(sk_path);
        mb_free(pk_path);
    }
    if (json)
        printf("%s]\n", n ? "\n" : "");
    for (size_t i = 0; i < n; i++)
        mb_free(names[i]);
    mb_free(names);
    mb_free(dir);
    return rc;
}
