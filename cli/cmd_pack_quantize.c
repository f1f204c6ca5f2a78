/*
 * cmd_pack_quantize.c - `modularbase pack quantize DIR --type TYPE [-o OUT]`:
 * a quantized copy of a pack directory. The pack's GGUF is re-encoded with the
 * policy of runtime/mb_quant.h (expert blocks at TYPE, adapters F16, norms as
 * they are; quant_cli.h has the options), and the copy's manifest says so:
 * `weights.quantization` becomes the type and the version gets build metadata
 * naming it (1.2.0 -> 1.2.0+q4-0), as does the GGUF's modularbase.pack.version.
 *
 * The input is never written. Everything goes to a staging directory beside OUT
 * (OUT.tmp.<pid>) that is renamed into place only when complete, and removed
 * on any failure (disk full, read-only target, Ctrl-C): OUT appears whole or
 * not at all. The copy holds what `pack build` packs: pack.yaml, the weights
 * and the top-level README/LICENSE/... files.
 *
 * pack.yaml is edited as text (the version line and weights.quantization), so
 * its comments survive; the result is parsed and checked, and if the file's
 * layout defeats the edit (flow-style mappings) the manifest is re-emitted in
 * canonical form instead, with a note.
 */
#include "mb_manifests.h"
#include "quant_cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define DOC_MAX ((size_t)64 << 20) /* a README or LICENSE larger than this is not a doc */

/* The tag in build metadata for a type: "q4_0" -> "q4-0" (SemVer allows no '_'). */
static void build_tag(uint32_t type, char *buf, size_t cap)
{
    quant_cli_type_name(type, buf, cap);
    for (char *c = buf; *c; c++)
        if (*c == '_')
            *c = '-';
}

/* True when a build identifier is a tag that an earlier `pack quantize` added. */
static bool is_quant_tag(const char *id, size_t n)
{
    static const char *const tags[] = { "f32",  "f16",  "bf16", "q8-0", "q4-0",
                                        "q4-1", "q5-0", "q5-1", "q4-k", "q6-k" };
    for (size_t i = 0; i < MB_ARRAY_LEN(tags); i++)
        if (strlen(tags[i]) == n && !memcmp(tags[i], id, n))
            return true;
    return false;
}

/*
 * The version with the type's tag as the last build identifier: a tag from an
 * earlier quantization is replaced, other build metadata kept.
 */
static int new_version(struct mb_ctx *ctx, const char *old, uint32_t type, char *out, size_t cap)
{
    struct mb_semver v;
    int rc = mb_semver_parse_cstr(old, &v, &ctx->err);
    if (rc)
        return rc;
    char core[MB_SEMVER_STR_MAX], tag[16];
    mb_semver_format(&v, false, core, sizeof(core));
    build_tag(type, tag, sizeof(tag));
    size_t keep = v.build.n;
    if (keep) {
        const char *last = memrchr(v.build.p, '.', v.build.n);
        size_t start = last ? (size_t)(last - v.build.p) + 1 : 0;
        if (is_quant_tag(v.build.p + start, v.build.n - start))
            keep = start ? start - 1 : 0;
    }
    if (!mb_snprintf(out, cap, "%s+%.*s%s%s", core, (int)keep, v.build.p, keep ? "." : "", tag) ||
        strlen(out) > MB_SEMVER_MAX_LEN)
        return mb_fail(&ctx->err, MB_E_LIMIT, "version '%s' is too long to add '+%s'", old, tag);
    return mb_semver_parse_cstr(out, &v, &ctx->err);
}

/* Length of a YAML value up to a comment or the end of the line. */
static size_t value_len(const char *p, size_t n)
{
    size_t i = 0;
    char q = (n && (p[0] == '"' || p[0] == '\'')) ? p[0] : 0;
    if (q) {
        for (i = 1; i < n && p[i] != q; i++)
            if (q == '"' && p[i] == '\\')
                i++;
        return MB_MIN(i + 1, n);
    }
    while (i < n && p[i] != '\n' && p[i] != '\r' &&
           !(p[i] == '#' && i > 0 && (p[i - 1] == ' ' || p[i - 1] == '\t')))
        i++;
    while (i > 0 && (p[i - 1] == ' ' || p[i - 1] == '\t'))
        i--;
    return i;
}

/* Append line[0..n) with the value after "key:" (at vstart) replaced by val. */
static int put_replaced(struct mb_buf *o, const char *line, size_t n, size_t vstart,
                        const char *val, struct mb_err *err)
{
    size_t vn = value_len(line + vstart, n - vstart);
    bool quoted = vn && line[vstart] == '"';
    int rc = mb_buf_append(o, line, vstart, err);
    rc = rc ? rc : mb_buf_appendf(o, err, quoted ? "\"%s\"" : "%s", val);
    return rc ? rc : mb_buf_append(o, line + vstart + vn, n - vstart - vn, err);
}

/* Indentation of a line (spaces) and whether it is blank or a comment. */
static size_t line_indent(const char *p, size_t n, bool *blank)
{
    size_t ind = 0;
    while (ind < n && p[ind] == ' ')
        ind++;
    *blank = ind == n || p[ind] == '\n' || p[ind] == '\r' || p[ind] == '#';
    return ind;
}

/* Length of the line at p (with its newline) before end. */
static size_t line_len(const char *p, const char *end)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    return nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
}

/* True when the `weights:` block starting after `p` has a quantization: key. */
static bool block_has_quant(const char *p, const char *end)
{
    while (p < end) {
        size_t n = line_len(p, end);
        bool blank;
        size_t ind = line_indent(p, n, &blank);
        if (ind == 0 && !blank)
            return false;
        if (!blank && ind > 0 && n - ind > 13 && !strncmp(p + ind, "quantization:", 13))
            return true;
        p += n;
    }
    return false;
}

/*
 * Edit pack.yaml's text: the top-level `version:` value and `weights:`'s
 * `quantization:` (added after `file:` when absent). False when the layout is
 * not the block style this handles (the caller then re-emits the manifest).
 */
static bool edit_yaml(const char *text, size_t len, const char *version, const char *quant,
                      struct mb_buf *o, struct mb_err *err)
{
    bool in_weights = false, has_quant = false, did_version = false, did_quant = false;
    const char *p = text, *end = text + len;
    while (p < end) {
        size_t n = line_len(p, end);
        bool blank;
        size_t ind = line_indent(p, n, &blank);
        const char *c = p + ind;
        size_t cn = n - ind;
        int rc = 0;
        if (ind == 0 && !blank)
            in_weights = false;
        if (ind == 0 && cn > 8 && !strncmp(c, "version:", 8)) {
            size_t v = 8;
            while (v < cn && c[v] == ' ')
                v++;
            rc = put_replaced(o, p, n, v, version, err);
            did_version = true;
        } else if (ind == 0 && cn >= 8 && !strncmp(c, "weights:", 8)) {
            size_t v = 8;
            while (v < cn && c[v] == ' ')
                v++;
            if (value_len(c + v, cn - v))
                return false; /* flow style: weights: {file: ...} */
            in_weights = true;
            has_quant = block_has_quant(p + n, end);
            rc = mb_buf_append(o, p, n, err);
        } else if (in_weights && has_quant && !blank && cn > 13 &&
                   !strncmp(c, "quantization:", 13)) {
            size_t v = ind + 13;
            while (v < n && p[v] == ' ')
                v++;
            rc = put_replaced(o, p, n, v, quant, err);
            did_quant = true;
        } else if (in_weights && !has_quant && !blank && cn > 5 && !strncmp(c, "file:", 5)) {
            rc = mb_buf_append(o, p, n, err);
            if (!rc && p[n - 1] != '\n')
                rc = mb_buf_append(o, "\n", 1, err);
            rc = rc ? rc : mb_buf_appendf(o, err, "%*squantization: %s\n", (int)ind, "", quant);
            did_quant = true;
        } else {
            rc = mb_buf_append(o, p, n, err);
        }
        if (rc)
            return false;
        p += n;
    }
    return did_version && did_quant;
}

/* The new pack.yaml text: edited, or re-emitted when editing fails. */
static int manifest_text(struct mb_ctx *ctx, const char *yaml_path, struct mb_manifest *m,
                         const char *version, const char *quant, struct mb_buf *out)
{
    struct mb_buf orig;
    mb_buf_init(&orig, MB_MANIFEST_MAX_BYTES);
    int rc = mb_file_read_all(yaml_path, MB_MANIFEST_MAX_BYTES, &orig, &ctx->err);
    if (rc) {
        mb_buf_release(&orig);
        return rc;
    }
    mb_buf_init(out, MB_MANIFEST_MAX_BYTES + 4096);
    bool ok = edit_yaml(orig.p, orig.n, version, quant, out, &ctx->err);
    mb_buf_release(&orig);
    if (ok) {
        struct mb_manifest check;
        struct mb_err e;
        mb_err_init(&e);
        ok = !mb_manifest_parse("pack.yaml", out->p, out->n, &check, &e) &&
             !strcmp(check.version_text, version) && check.weights_quant &&
             !strcmp(check.weights_quant, quant);
        mb_manifest_release(&check);
    }
    if (ok)
        return 0;
    mb_buf_reset(out);
    char *v = mb_strdup(version), *q = mb_strdup(quant);
    if (!v || !q) {
        mb_free(v);
        mb_free(q);
        return mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
    }
    mb_free(m->version_text);
    mb_free(m->weights_quant);
    m->version_text = v;
    m->weights_quant = q;
    rc = mb_semver_parse_cstr(m->version_text, &m->version, &ctx->err);
    rc = rc ? rc : mb_manifest_emit(m, out, &ctx->err);
    if (!rc)
        mb_cli_note(ctx,
                    "%s: rewritten in canonical form (its layout could not be edited in "
                    "place; comments are not kept)",
                    yaml_path);
    return rc;
}

/* Copy a small regular file (a README or LICENSE). */
static int copy_doc(struct mb_ctx *ctx, const char *src, const char *dst)
{
    struct mb_buf b;
    mb_buf_init(&b, DOC_MAX);
    int rc = mb_file_read_all(src, DOC_MAX, &b, &ctx->err);
    if (!rc)
        rc = mb_file_write_atomic(dst, b.p ? b.p : "", b.n, 0644, &ctx->err);
    mb_buf_release(&b);
    return rc;
}

static bool is_doc(const char *name)
{
    static const char *const prefixes[] = { "README",  "LICENSE",   "LICENCE",
                                            "COPYING", "CHANGELOG", "NOTICE" };
    for (size_t i = 0; i < MB_ARRAY_LEN(prefixes); i++)
        if (!strncmp(name, prefixes[i], strlen(prefixes[i])))
            return true;
    return false;
}

/* The top-level docs of dir into stage. */
static int copy_docs(struct mb_ctx *ctx, const char *dir, const char *stage, const char *weights)
{
    DIR *d = opendir(dir);
    if (!d)
        return mb_fail_errno(&ctx->err, errno, "cannot read directory '%s'", dir);
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        if (!is_doc(de->d_name) || !strcmp(de->d_name, weights))
            continue;
        char *src = mb_path_join(dir, de->d_name), *dst = mb_path_join(stage, de->d_name);
        struct stat st;
        if (!src || !dst)
            rc = mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
        else if (lstat(src, &st) == 0 && S_ISREG(st.st_mode))
            rc = copy_doc(ctx, src, dst);
        mb_free(src);
        mb_free(dst);
    }
    closedir(d);
    return rc;
}

/* OUT must not exist, or be an empty directory (rename replaces it). */
static int check_out(struct mb_ctx *ctx, const char *dir, const char *out)
{
    struct stat so, sd;
    if (lstat(out, &so) != 0)
        return 0;
    if (stat(dir, &sd) == 0 && so.st_dev == sd.st_dev && so.st_ino == sd.st_ino)
        return mb_usage_error(ctx,
                              "-o '%s' is the input pack; pack quantize writes a new "
                              "directory",
                              out);
    if (!S_ISDIR(so.st_mode))
        return mb_fail(&ctx->err, MB_E_EXISTS, "'%s' already exists (choose another -o)", out);
    DIR *d = opendir(out);
    if (!d)
        return mb_fail_errno(&ctx->err, errno, "cannot read directory '%s'", out);
    struct dirent *de;
    bool empty = true;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            empty = false;
    closedir(d);
    if (!empty)
        return mb_fail(&ctx->err, MB_E_EXISTS,
                       "'%s' already exists and is not empty (choose "
                       "another -o)",
                       out);
    return 0;
}

/* The parent directory of a path ("." when none), into buf. */
static void parent_dir(const char *path, char *buf, size_t cap)
{
    mb_strlcpy(buf, path, cap);
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/')
        buf[--n] = '\0';
    char *slash = strrchr(buf, '/');
    if (!slash)
        mb_strlcpy(buf, ".", cap);
    else if (slash == buf)
        buf[1] = '\0';
    else
        *slash = '\0';
}

struct pack_job {
    const char *dir, *out, *stage;
    struct mb_manifest m;
    char yaml[4096], gguf[4096], quant[16];
    char version_in[MB_SEMVER_MAX_LEN + 1], version[MB_SEMVER_STR_MAX + 32];
    struct mb_gguf *g;
    struct mb_quant_plan plan;
    struct mb_buf yaml_text;
};

/* The "pack" member of --json: id, versions, quantization, output directory. */
static int json_extra_make(struct mb_ctx *ctx, const struct pack_job *j, char **out)
{
    struct mb_buf e;
    mb_buf_init(&e, 1 << 16);
    /* ids are [a-z0-9-] and versions SemVer: only the directory needs escaping */
    int rc = mb_buf_appendf(&e, &ctx->err,
                            "\"pack\": {\"id\": \"%s\", \"version_in\": \"%s\", \"version\": "
                            "\"%s\", \"quantization\": \"%s\", \"dir\": \"",
                            j->m.id, j->version_in, j->version, j->quant);
    for (const unsigned char *c = (const unsigned char *)j->out; !rc && *c; c++)
        rc = (*c == '"' || *c == '\\') ? mb_buf_appendf(&e, &ctx->err, "\\%c", *c)
             : *c < 0x20               ? mb_buf_appendf(&e, &ctx->err, "\\u%04x", *c)
                                       : mb_buf_append(&e, c, 1, &ctx->err);
    rc = rc ? rc : mb_buf_append_cstr(&e, "\"}", &ctx->err);
    *out = rc ? NULL : mb_buf_detach(&e, NULL);
    mb_buf_release(&e);
    return rc;
}

/* Fill the staging directory: pack.yaml, docs, quantized weights. */
static int write_stage(struct mb_ctx *ctx, const struct quant_args *a, struct pack_job *j,
                       const struct mb_quant_policy *p, const char *json_extra)
{
    char path[4096], wdir[4096];
    int rc = mb_mkdir_p(j->stage, 0755, &ctx->err);
    if (rc)
        return rc;
    if (!mb_snprintf(path, sizeof(path), "%s/pack.yaml", j->stage))
        return mb_fail(&ctx->err, MB_E_LIMIT, "path too long: '%s'", j->stage);
    rc = mb_file_write_atomic(path, j->yaml_text.p, j->yaml_text.n, 0644, &ctx->err);
    rc = rc ? rc : copy_docs(ctx, j->dir, j->stage, j->m.weights_file);
    if (rc)
        return rc;
    if (!mb_snprintf(path, sizeof(path), "%s/%s", j->stage, j->m.weights_file))
        return mb_fail(&ctx->err, MB_E_LIMIT, "path too long: '%s'", j->stage);
    parent_dir(path, wdir, sizeof(wdir));
    rc = mb_mkdir_p(wdir, 0755, &ctx->err);
    if (rc)
        return rc;
    char shown[4096];
    struct quant_args a2 = *a;
    if (mb_snprintf(shown, sizeof(shown), "%s/%s", j->out, j->m.weights_file))
        a2.display_out = shown;
    const char *set[] = { "modularbase.pack.version", j->version, NULL };
    bool has_key = mb_gguf_find_kv(j->g, "modularbase.pack.version") != NULL;
    return quant_cli_write(ctx, &a2, j->g, &j->plan, p, path, has_key ? set : NULL, json_extra);
}

int mb_cmd_pack_quantize(struct mb_ctx *ctx, int argc, char **argv)
{
    struct quant_args a;
    memset(&a, 0, sizeof(a));
    const char *out = NULL;
    const struct mb_opt opts[] = {
        { "output", 'o', MB_OPT_STRING, &out, "OUT",
          "the new pack directory (default: DIR-TYPE beside DIR); must not exist or be empty" },
        QUANT_OPTS(a),
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase pack quantize [DIR] --type TYPE [-o OUT] [options]",
        "Write a quantized copy of the pack in DIR (default: the current directory) to OUT: "
        "its GGUF weights re-encoded as TYPE with the pack policy (expert blocks at TYPE, "
        "adapters kept f16, norms as they are, the base's embedding and head per --embeddings "
        "and --head), pack.yaml's weights.quantization set to TYPE and its version given build "
        "metadata naming it (1.2.0 -> 1.2.0+q4-0; SemVer allows no '_'), also in the GGUF's "
        "modularbase.pack.version. DIR is never modified; OUT appears complete or not at all. "
        "See docs/quantization.md.",
        "  modularbase pack quantize packs/medicine --type q4_0\n"
        "  modularbase pack quantize . --type q8_0 -o ../medicine-q8\n"
        "  modularbase pack quantize base --type q4_k --head q8_0 --dry-run",
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        return rc;
    if (npos > 1)
        return mb_usage_error(ctx, "'pack quantize' takes at most one DIR");
    struct mb_quant_policy policy;
    rc = quant_cli_policy(ctx, &a, &policy);
    if (rc)
        return rc;

    struct pack_job j;
    memset(&j, 0, sizeof(j));
    mb_manifest_init(&j.m);
    mb_buf_init(&j.yaml_text, 0);
    char default_out[4096], stage[4096 + 32], tn[16], *json_extra = NULL;
    j.dir = npos ? argv[0] : ".";
    if (!mb_is_dir(j.dir))
        return mb_fail(&ctx->err, MB_E_NOTFOUND, "'%s' is not a directory", j.dir);
    if (!mb_snprintf(j.yaml, sizeof(j.yaml), "%s/pack.yaml", j.dir))
        return mb_fail(&ctx->err, MB_E_LIMIT, "path too long: '%s'", j.dir);
    if (!mb_path_exists(j.yaml))
        return mb_fail(&ctx->err, MB_E_NOTFOUND,
                       "no pack.yaml in '%s' (create a pack with 'modularbase pack init')", j.dir);
    rc = mb_manifest_load(j.yaml, &j.m, &ctx->err);
    if (rc)
        goto done;
    mb_strlcpy(j.version_in, j.m.version_text, sizeof(j.version_in));
    if (!mb_snprintf(j.gguf, sizeof(j.gguf), "%s/%s", j.dir, j.m.weights_file)) {
        rc = mb_fail(&ctx->err, MB_E_LIMIT, "path too long: '%s'", j.dir);
        goto done;
    }
    if (!mb_path_exists(j.gguf)) {
        rc = mb_fail(&ctx->err, MB_E_NOTFOUND, "%s: field 'weights.file': '%s' does not exist",
                     j.yaml, j.gguf);
        goto done;
    }
    quant_cli_type_name(policy.type, tn, sizeof(tn));
    if (!out) {
        char base[4096];
        mb_strlcpy(base, j.dir, sizeof(base));
        size_t n = strlen(base);
        while (n > 1 && base[n - 1] == '/')
            base[--n] = '\0';
        if (!strcmp(base, ".")) {
            if (!getcwd(base, sizeof(base))) {
                rc = mb_fail_errno(&ctx->err, errno, "cannot read the current directory");
                goto done;
            }
        }
        if (!mb_snprintf(default_out, sizeof(default_out), "%s-%s", base, tn)) {
            rc = mb_fail(&ctx->err, MB_E_LIMIT, "path too long: '%s'", base);
            goto done;
        }
        out = default_out;
    }
    j.out = out;
    rc = check_out(ctx, j.dir, out);
    rc = rc ? rc : new_version(ctx, j.m.version_text, policy.type, j.version, sizeof(j.version));
    if (rc)
        goto done;
    mb_strlcpy(j.quant, mb_dtype_name(policy.type), sizeof(j.quant));
    for (char *c = j.quant; *c; c++)
        if (*c >= 'a' && *c <= 'z')
            *c = (char)(*c - 'a' + 'A');
    rc = mb_gguf_open(&j.g, j.gguf, &ctx->err);
    rc = rc ? rc : quant_cli_plan(ctx, &a, j.g, &policy, &j.plan);
    rc = rc ? rc : manifest_text(ctx, j.yaml, &j.m, j.version, j.quant, &j.yaml_text);
    if (rc)
        goto done;

    rc = json_extra_make(ctx, &j, &json_extra);
    if (rc)
        goto done;
    if (a.dry_run) {
        rc = quant_cli_write(ctx, &a, j.g, &j.plan, &policy, j.gguf, NULL, json_extra);
        if (!rc && !a.json)
            printf("would write pack '%s' %s -> %s in '%s' (weights.quantization: %s)\n", j.m.id,
                   j.version_in, j.version, out, j.quant);
        goto done;
    }
    if (!mb_snprintf(stage, sizeof(stage), "%s.tmp.%ld", out, (long)getpid())) {
        rc = mb_fail(&ctx->err, MB_E_LIMIT, "path too long: '%s'", out);
        goto done;
    }
    j.stage = stage;
    if (!rc)
        rc = write_stage(ctx, &a, &j, &policy, json_extra);
    if (!rc && rename(stage, out) != 0)
        rc = mb_fail_errno(&ctx->err, errno, "cannot rename '%s' to '%s'", stage, out);
    if (rc) {
        struct mb_err ignore;
        mb_rm_rf(stage, &ignore);
        goto done;
    }
    char parent[4096];
    parent_dir(out, parent, sizeof(parent));
    rc = mb_fsync_dir(parent, &ctx->err);
    if (!rc && !a.json)
        printf("pack '%s' %s -> %s written to '%s' (weights.quantization: %s)\n", j.m.id,
               j.version_in, j.version, out, j.quant);
done:
    mb_free(json_extra);
    mb_buf_release(&j.yaml_text);
    mb_quant_plan_release(&j.plan);
    mb_gguf_free(j.g);
    mb_manifest_release(&j.m);
    return rc;
}
