/*
 * cmd_pack_build.c - `modularbase pack build [DIR]`: validate pack.yaml and
 * its GGUF (whose modularbase.* keys must agree with the manifest), then write
 * the deterministic archive ID-VERSION.mbpack (registry/mb_archive.h) holding
 * pack.yaml, the weights and the top-level docs, and with --sign its minisign
 * signature ID-VERSION.mbpack.minisig. The signature is computed from the
 * BLAKE2b hash taken while the archive was written: no second pass.
 * With --base, a pack with routing.examples gets its routing keys computed by
 * running that base and written into the GGUF that goes into the archive
 * (pack_build_keys.c).
 */
#include "cli_keys.h"
#include "pack_build_keys.h"
#include "pack_meta.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

/* Top-level documentation files that travel with the pack. */
static bool is_doc(const char *name)
{
    static const char *const prefixes[] = { "README",  "LICENSE",   "LICENCE",
                                            "COPYING", "CHANGELOG", "NOTICE" };
    for (size_t i = 0; i < MB_ARRAY_LEN(prefixes); i++)
        if (!strncmp(name, prefixes[i], strlen(prefixes[i])))
            return true;
    return false;
}

struct inputs {
    struct mb_archive_input *v;
    char **owned; /* paths we allocated */
    size_t n;
    size_t cap;
};

static int add_input(struct mb_ctx *ctx, struct inputs *in, const char *name, char *src)
{
    if (!src)
        return mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
    for (size_t i = 0; i < in->n; i++)
        if (!strcmp(in->v[i].name, name)) {
            mb_free(src);
            return 0;
        }
    if (in->n == in->cap) {
        size_t cap = in->cap ? in->cap * 2 : 8;
        struct mb_archive_input *v = mb_reallocarray(in->v, cap, sizeof(*v));
        if (v)
            in->v = v;
        char **o = v ? mb_reallocarray(in->owned, cap, sizeof(*o)) : NULL;
        if (!v || !o) {
            mb_free(src);
            return mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
        }
        in->owned = o;
        in->cap = cap;
    }
    char *nm = mb_strdup(name);
    if (!nm) {
        mb_free(src);
        return mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
    }
    in->owned[in->n] = src;
    in->v[in->n].name = nm;
    in->v[in->n].src = src;
    in->n++;
    return 0;
}

static void inputs_release(struct inputs *in)
{
    for (size_t i = 0; i < in->n; i++) {
        mb_free((char *)(uintptr_t)in->v[i].name);
        mb_free(in->owned[i]);
    }
    mb_free(in->v);
    mb_free(in->owned);
}

/* pack.yaml, the weights, and top-level docs. */
static int collect_inputs(struct mb_ctx *ctx, const char *dir, const struct mb_pack_meta *m,
                          struct inputs *in)
{
    int rc = add_input(ctx, in, "pack.yaml", mb_path_join(dir, "pack.yaml"));
    if (!rc)
        rc = add_input(ctx, in, m->weights_file, mb_path_join(dir, m->weights_file));
    if (rc)
        return rc;
    DIR *d = opendir(dir);
    if (!d)
        return mb_fail_errno(&ctx->err, errno, "cannot read directory '%s'", dir);
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        if (!is_doc(de->d_name) || mb_archive_check_name(de->d_name, 255, NULL))
            continue;
        char *p = mb_path_join(dir, de->d_name);
        struct stat st;
        if (p && stat(p, &st) == 0 && S_ISREG(st.st_mode))
            rc = add_input(ctx, in, de->d_name, p);
        else
            mb_free(p);
    }
    closedir(d);
    return rc;
}

int mb_cmd_pack_build(struct mb_ctx *ctx, int argc, char **argv)
{
    const char *out_dir = ".", *key = NULL, *password_file = NULL, *base = NULL;
    uint64_t n_understanding = 0;
    bool sign = false, json = false;
    /* Accept --sign=KEY as a shorthand for --sign --key KEY. */
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], "--sign=", 7)) {
            key = argv[i] + 7;
            sign = true;
            for (int j = i; j + 1 < argc; j++)
                argv[j] = argv[j + 1];
            argc--;
            i--;
        }
    const struct mb_opt opts[] = {
        { "output", 'o', MB_OPT_STRING, &out_dir, "OUTDIR",
          "directory for the archive (default: the current directory)" },
        { "sign", 's', MB_OPT_FLAG, &sign, NULL,
          "sign the archive with the default key (writes ID-VERSION.mbpack.minisig)" },
        { "key", 'k', MB_OPT_STRING, &key, "NAME|FILE",
          "sign with this key: a name from 'key list' or a minisign secret key file" },
        { "password-file", 0, MB_OPT_STRING, &password_file, "FILE",
          "read the key's password from FILE (else $MODULARBASE_PASSWORD, else the terminal)" },
        { "base", 0, MB_OPT_STRING, &base, "DIR|ID|FILE",
          "compute the pack's routing keys from its routing.examples by running this base "
          "(a base pack directory, an installed base id, or a GGUF)" },
        { "understanding", 'u', MB_OPT_UINT, &n_understanding, "U",
          "with --base: understanding blocks to run (default: the base's)" },
        { "json", 0, MB_OPT_FLAG, &json, NULL, "print the result as JSON" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase pack build [DIR] [-o OUTDIR] [--sign | --key NAME|FILE] [--base DIR|ID]",
        "Validate DIR/pack.yaml (default DIR: the current directory) and its GGUF weights, "
        "whose modularbase.kind, modularbase.pack.id and modularbase.pack.version keys must "
        "agree with the manifest, then write OUTDIR/ID-VERSION.mbpack: a deterministic, "
        "zstd-compressed tar of pack.yaml, the weights and the top-level README/LICENSE/"
        "CHANGELOG files, with a MANIFEST.sha256 of every member. The same inputs always give "
        "the same bytes. With --sign (or --key) the archive is signed in minisign's format. "
        "With --base, a pack with routing.examples gets the tensor routing.keys (the "
        "normalised mean of its examples' routing embeddings under that base) added to the "
        "GGUF in the archive; the pack directory is not modified.",
        "  modularbase pack build\n"
        "  modularbase pack build packs/medicine -o dist --sign\n"
        "  modularbase pack build --key ~/.minisign/minisign.key\n"
        "  modularbase pack build packs/python --base smollm2-135m",
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        return rc;
    if (npos > 1)
        return mb_usage_error(ctx, "'pack build' takes at most one DIR");
    const char *dir = npos ? argv[0] : ".";
    if (key)
        sign = true;
    if (n_understanding > 4096)
        return mb_usage_error(ctx, "--understanding %llu is too large",
                              (unsigned long long)n_understanding);
    if (n_understanding && !base)
        return mb_usage_error(ctx, "--understanding needs --base");
    if (!mb_is_dir(dir))
        return mb_fail(&ctx->err, MB_E_NOTFOUND, "'%s' is not a directory", dir);
    if (!mb_is_dir(out_dir))
        return mb_fail(&ctx->err, MB_E_NOTFOUND, "output directory '%s' does not exist", out_dir);

    struct mb_pack_meta meta;
    struct mb_gguf_meta gmeta;
    struct inputs in = { 0 };
    struct mb_seckey *sk = NULL;
    struct mb_archive_info info;
    mb_archive_info_init(&info);
    char *yaml = mb_path_join(dir, "pack.yaml"), *gguf = NULL, *out = NULL, *sig_path = NULL;
    char *keyed = NULL; /* the GGUF with routing keys, written next to the archive */
    memset(&gmeta, 0, sizeof(gmeta));
    memset(&meta, 0, sizeof(meta));
    if (!yaml)
        return mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
    if (!mb_path_exists(yaml)) {
        rc = mb_fail(&ctx->err, MB_E_NOTFOUND,
                     "no pack.yaml in '%s' (create a pack with 'modularbase pack init')", dir);
        goto out;
    }
    rc = mb_pack_meta_load(yaml, &meta, &ctx->err);
    if (rc)
        goto out;
    gguf = mb_path_join(dir, meta.weights_file);
    if (!gguf) {
        rc = mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
        goto out;
    }
    if (!mb_path_exists(gguf)) {
        rc = mb_fail(&ctx->err, MB_E_NOTFOUND, "%s: field 'weights.file': '%s' does not exist",
                     yaml, gguf);
        goto out;
    }
    rc = mb_gguf_meta_load(gguf, &gmeta, &ctx->err);
    if (!rc)
        rc = mb_pack_meta_check_gguf(&meta, &gmeta, gguf, &ctx->err);
    if (!rc)
        rc = collect_inputs(ctx, dir, &meta, &in);
    /* Unlock the key before the (possibly long) build, so a typo fails fast. */
    if (!rc && sign) {
        bool is_file = key && (strchr(key, '/') || mb_path_exists(key));
        rc =
            mb_cli_seckey_load(ctx, is_file ? NULL : key, is_file ? key : NULL, password_file, &sk);
    }
    if (!rc && base) {
        char tmpname[512];
        bool wrote = false;
        if (!mb_snprintf(tmpname, sizeof(tmpname), ".%s-%s.keys.gguf", meta.id, meta.version))
            rc = mb_fail(&ctx->err, MB_E_LIMIT, "pack id and version too long");
        else if (!(keyed = mb_path_join(out_dir, tmpname)))
            rc = mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
        else
            rc = pack_build_routing_keys(ctx, yaml, gguf, base, (uint32_t)n_understanding, keyed,
                                         &wrote);
        if (!rc && wrote) {
            /* The archive member keeps its name; its bytes come from the keyed copy. */
            size_t wi = 0;
            while (wi < in.n && strcmp(in.v[wi].name, meta.weights_file))
                wi++;
            char *src = wi < in.n ? mb_strdup(keyed) : NULL;
            if (!src)
                rc = mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
            else {
                mb_free(in.owned[wi]);
                in.owned[wi] = src;
                in.v[wi].src = src;
            }
        } else if (!rc) {
            mb_free(keyed);
            keyed = NULL;
        }
    }
    if (rc)
        goto out;
    char fname[512];
    if (!mb_snprintf(fname, sizeof(fname), "%s-%s.mbpack", meta.id, meta.version)) {
        rc = mb_fail(&ctx->err, MB_E_LIMIT, "pack id and version too long");
        goto out;
    }
    out = mb_path_join(out_dir, fname);
    if (out)
        sig_path = mb_malloc(strlen(out) + sizeof(".minisig"));
    if (!out || !sig_path) {
        rc = mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
        goto out;
    }
    memcpy(sig_path, out, strlen(out));
    memcpy(sig_path + strlen(out), ".minisig", sizeof(".minisig"));

    struct mb_cli_progress prog;
    mb_cli_progress_init(&prog, ctx);
    /* Only the signature needs a whole-archive hash (BLAKE2b, taken while writing). */
    struct mb_archive_build_opts bo = { { NULL, NULL }, sk ? MB_ARCHIVE_HASH_BLAKE2B : 0 };
    if (ctx->stderr_tty && !json)
        bo.progress = mb_cli_progress_cb(&prog);
    rc = mb_archive_build(out, in.v, in.n, &bo, &info, &ctx->err);
    mb_cli_progress_done(&prog);
    if (rc)
        goto out;
    struct mb_sig sig;
    if (sk) {
        char tc[MB_SIGN_TRUSTED_MAX];
        struct mb_buf sb;
        mb_buf_init(&sb, 65536);
        rc = mb_sign_default_trusted_comment(out, mb_unix_time(), tc, sizeof(tc), &ctx->err);
        if (!rc)
            rc = mb_sign_prehashed(sk, info.blake2b, tc, NULL, &sig, &ctx->err);
        if (!rc)
            rc = mb_sign_sig_format(&sig, &sb, &ctx->err);
        if (!rc)
            rc = mb_file_write_atomic(sig_path, sb.p, sb.n, 0644, &ctx->err);
        mb_buf_release(&sb);
        if (rc)
            goto out;
    } else if (mb_path_exists(sig_path)) {
        /* A signature of the previous build would no longer match. */
        if (remove(sig_path) == 0)
            mb_cli_note(ctx, "removed the stale signature '%s'", sig_path);
    }
    if (json) {
        printf("{\"archive\": ");
        mb_cli_json_string(stdout, out);
        printf(", \"id\": ");
        mb_cli_json_string(stdout, meta.id);
        printf(", \"version\": ");
        mb_cli_json_string(stdout, meta.version);
        printf(", \"files\": %zu, \"total_size\": %llu, \"archive_size\": %llu", info.n_entries,
               (unsigned long long)info.total_size, (unsigned long long)info.archive_size);
        printf(", \"signature\": ");
        if (sk)
            mb_cli_json_string(stdout, sig_path);
        else
            printf("null");
        printf("}\n");
    } else {
        char a[32], b[32];
        printf("built %s (%zu files, %s unpacked, %s)\n", out, info.n_entries,
               mb_format_size(info.total_size, a, sizeof(a)),
               mb_format_size(info.archive_size, b, sizeof(b)));
        if (sk) {
            char id[MB_SIGN_KEYID_HEX_LEN];
            mb_sign_keyid_hex(sig.keyid, id);
            printf("signed %s (key %s)\n", sig_path, id);
        }
    }
out:
    if (keyed) {
        remove(keyed);
        mb_free(keyed);
    }
    mb_archive_info_release(&info);
    mb_sign_seckey_free(sk);
    inputs_release(&in);
    mb_pack_meta_release(&meta);
    mb_gguf_meta_release(&gmeta);
    mb_free(yaml);
    mb_free(gguf);
    mb_free(out);
    mb_free(sig_path);
    return rc;
}
