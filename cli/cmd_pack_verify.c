/*
 * cmd_pack_verify.c - `modularbase pack verify FILE.mbpack [--key PUB]`: one
 * streaming pass over the archive checks its structure and every member's
 * size and sha256 (mb_archive_verify) while hashing the whole file for the
 * minisign signature. With a key, the signature (FILE.mbpack.minisig, or
 * --sig) is checked in minisign's order and a signature failure is reported
 * before any structural one; without a key the output says the signature was
 * not checked. Exit statuses: 0 ok, 3 malformed archive, 5 trust failure.
 * With pack ids (or no argument) it checks installed packs instead
 * (pack_verify_installed.c).
 */
#include "cli_keys.h"
#include "store_cli.h"

/* An argument naming an archive rather than an installed pack (ids have no '.' or '/'). */
static bool is_file_arg(const char *a)
{
    return strchr(a, '.') || strchr(a, '/');
}

static void print_json(const char *file, const struct mb_archive_info *info, int rc,
                       const char *msg, bool sig_checked, const struct mb_sig *sig)
{
    printf("{\"file\": ");
    mb_cli_json_string(stdout, file);
    printf(", \"ok\": %s", rc == 0 ? "true" : "false");
    if (rc) {
        printf(", \"error\": ");
        mb_cli_json_string(stdout, msg);
    }
    char hex[MB_SHA256_HEX];
    if (rc == 0) {
        printf(", \"archive_size\": %llu, \"total_size\": %llu",
               (unsigned long long)info->archive_size, (unsigned long long)info->total_size);
        printf(", \"members\": [");
        for (size_t i = 0; i < info->n_entries; i++) {
            mb_hex_encode(info->entries[i].sha256, MB_SHA256_LEN, hex);
            printf("%s\n    {\"path\": ", i ? "," : "");
            mb_cli_json_string(stdout, info->entries[i].path);
            printf(", \"size\": %llu, \"sha256\": \"%s\"}",
                   (unsigned long long)info->entries[i].size, hex);
        }
        printf("%s]", info->n_entries ? "\n  " : "");
    }
    printf(", \"signature\": {\"checked\": %s", sig_checked ? "true" : "false");
    if (sig_checked && rc == 0) {
        char id[MB_SIGN_KEYID_HEX_LEN];
        mb_sign_keyid_hex(sig->keyid, id);
        printf(", \"key_id\": \"%s\", \"trusted_comment\": ", id);
        mb_cli_json_string(stdout, sig->trusted_comment);
    }
    printf("}}\n");
}

int mb_cmd_pack_verify(struct mb_ctx *ctx, int argc, char **argv)
{
    const char *key = NULL, *key_file = NULL, *sig_path = NULL;
    bool json = false, allow_legacy = false, repair = false;
    const struct mb_opt opts[] = {
        { "key", 'k', MB_OPT_STRING, &key, "PUB",
          "trusted public key: a .pub file, a key name from 'key list', or a base64 key" },
        { "key-file", 0, MB_OPT_STRING, &key_file, "FILE", "trusted public key file (.pub)" },
        { "sig", 0, MB_OPT_STRING, &sig_path, "FILE",
          "the signature (default FILE.mbpack.minisig)" },
        { "allow-legacy", 0, MB_OPT_FLAG, &allow_legacy, NULL,
          "accept legacy non-prehashed minisign signatures" },
        { "repair", 0, MB_OPT_FLAG, &repair, NULL,
          "installed packs: first rebuild a damaged state.json from <home>/packs" },
        { "json", 0, MB_OPT_FLAG, &json, NULL, "print the result as JSON" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase pack verify FILE.mbpack [--key PUB | --key-file FILE] [--json]\n"
        "   or: modularbase pack verify [--repair] [--json] [ID...]",
        "Check a pack archive: its structure (MANIFEST.sha256 first, only regular files and "
        "directories, safe names, nothing unlisted or missing) and every member's size and "
        "sha256. With a key, also its minisign signature (FILE.mbpack.minisig), checked in "
        "minisign's order (algorithm, key id, signature, trusted comment). Without a key the "
        "signature is not checked, and the output says so.\n\n"
        "With pack IDs, or no argument at all, check installed packs instead: every file is "
        "re-hashed against state.json and modified, missing and unexpected files are listed; "
        "--repair first rebuilds a damaged state.json from <home>/packs.\n\n"
        "Exit status: 0 verified, 3 malformed archive, 4 file or pack not found, 5 signature "
        "or hash mismatch (or a modified installed file).",
        "  modularbase pack verify demo-1.0.0.mbpack\n"
        "  modularbase pack verify demo-1.0.0.mbpack --key release.pub\n"
        "  modularbase pack verify              # every installed pack\n"
        "  modularbase pack verify --repair     # after 'state.json is damaged'",
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        return rc;
    if (npos == 0 || !is_file_arg(argv[0])) {
        if (key || key_file || sig_path || allow_legacy)
            return mb_usage_error(ctx, "--key, --key-file, --sig and --allow-legacy apply to a "
                                       ".mbpack file, not to installed packs");
        for (int i = 0; i < npos; i++)
            if (is_file_arg(argv[i]))
                return mb_usage_error(ctx, "give either pack IDs or one .mbpack file");
        return mb_cli_pack_verify_installed(ctx, argv, npos, json, repair);
    }
    if (repair)
        return mb_usage_error(ctx, "--repair applies to installed packs, not to a .mbpack file");
    if (npos != 1)
        return mb_usage_error(ctx, "'pack verify' takes one FILE.mbpack");
    if (key && key_file)
        return mb_usage_error(ctx, "give --key or --key-file, not both");
    if (sig_path && !key && !key_file)
        return mb_usage_error(ctx, "--sig needs a key to check it with (--key)");
    const char *file = argv[0];
    if (!mb_path_exists(file))
        return mb_fail(&ctx->err, MB_E_NOTFOUND, "'%s' does not exist", file);

    /* Load the key and the signature first: a bad key is a usage problem, not the pack's. */
    struct mb_pubkey pk;
    struct mb_sig sig;
    bool check_sig = key || key_file;
    char sig_default[4096];
    if (check_sig) {
        rc = key_file ? mb_sign_pubkey_load(key_file, &pk, &ctx->err)
                      : mb_cli_pubkey_load(ctx, key, &pk);
        if (rc)
            return rc;
        if (!sig_path) {
            if (!mb_snprintf(sig_default, sizeof(sig_default), "%s.minisig", file))
                return mb_fail(&ctx->err, MB_E_LIMIT, "path too long: '%s'", file);
            sig_path = sig_default;
        }
        if (!mb_path_exists(sig_path))
            return mb_fail(&ctx->err, MB_E_SIGNATURE, "%s: no signature file '%s'", file, sig_path);
        rc = mb_sign_sig_load(sig_path, &sig, &ctx->err);
        if (rc)
            return rc == MB_E_FORMAT ? MB_E_SIGNATURE : rc;
    }

    struct mb_cli_progress prog;
    mb_cli_progress_init(&prog, ctx);
    /* The signature needs the file's BLAKE2b; nothing else needs a whole-file hash. */
    struct mb_archive_read_opts ro = {
        NULL, { NULL, NULL }, false, check_sig ? MB_ARCHIVE_HASH_BLAKE2B : 0
    };
    if (!json && ctx->stderr_tty)
        ro.progress = mb_cli_progress_cb(&prog);
    struct mb_archive_info info;
    struct mb_err aerr;
    mb_err_init(&aerr);
    int arc = mb_archive_verify(file, &ro, &info, &aerr);
    mb_cli_progress_done(&prog);
    /* The signature first: if it fails, the bytes are not the publisher's. */
    if (check_sig) {
        unsigned flags = allow_legacy ? MB_SIGN_ALLOW_LEGACY : 0;
        if (sig.prehashed)
            rc = mb_sign_verify_prehashed(&pk, info.blake2b, &sig, sig_path, flags, &ctx->err);
        else
            rc = mb_sign_verify_file(&pk, file, &sig, sig_path, flags, &ctx->err);
    }
    if (!rc && arc) {
        rc = arc;
        ctx->err = aerr;
    }
    if (json) {
        print_json(file, &info, rc, ctx->err.msg, check_sig, &sig);
    } else if (!rc) {
        char total[32], size[32];
        printf("%s: ok\n", file);
        printf("  files:     %zu, %s unpacked\n", info.n_entries,
               mb_format_size(info.total_size, total, sizeof(total)));
        printf("  archive:   %s\n", mb_format_size(info.archive_size, size, sizeof(size)));
        if (check_sig) {
            char id[MB_SIGN_KEYID_HEX_LEN];
            mb_sign_keyid_hex(sig.keyid, id);
            printf("  signature: verified (key %s)\n", id);
            printf("  trusted comment: %s\n", sig.trusted_comment);
        } else {
            printf("  signature: not checked (no --key given)\n");
        }
    }
    if (!rc && check_sig) {
        /* minisign does not tie the comment to the file name; we only warn. */
        const char *f = strstr(sig.trusted_comment, "file:");
        const char *base = mb_path_basename(file);
        size_t bl = strlen(base);
        if (f && (strncmp(f + 5, base, bl) || (f[5 + bl] != '\0' && f[5 + bl] != '\t')))
            mb_cli_warn(ctx, "the trusted comment names another file than '%s'", base);
    }
    mb_archive_info_release(&info);
    return rc;
}
