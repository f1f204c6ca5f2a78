/*
 * pack_import.c - `pack import`: split a llama-family GGUF into the three pack
 * folders of the modular runtime (docs/modular.md):
 *
 *   base/     token_embd, blk.0 .. blk.U-1, blk.L-F .. blk.L-1 (original names),
 *             output_norm, output; every KV of the source (tokenizer, chat
 *             template, llama.* with the source's block_count) + modularbase.*
 *   general/  blk.U .. blk.L-F-1 renamed blk.0 .. ; general.* and llama.* keys
 *             with llama.block_count = L-U-F, llama.vocab_size set + modularbase.*
 *   router/   no tensors: modularbase.router.{tau,top_k,threshold}
 *
 * Tensors are copied byte for byte from the source's mapping (no conversion),
 * so base + general with weight 1 runs the same weights through the same
 * kernels as the unsplit file. Each folder is written under a temporary name
 * and renamed into place. pack.yaml is generated, parsed back with the manifest
 * library and written in its canonical form, so `pack build` accepts it.
 */
#include "mb_manifests.h"
#include "mb_modular.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

void mb_pack_import_opts_init(struct mb_pack_import_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->n_understanding = MB_MOD_DEFAULT_U;
    o->n_fusion = MB_MOD_DEFAULT_F;
}

/* "SmolLM2 135M Instruct" -> "smollm2-135m-instruct"; "" when nothing usable. */
static void id_from_name(struct mb_str name, char *out, size_t cap)
{
    size_t n = 0;
    bool dash = false;
    for (size_t i = 0; i < name.n && n + 2 < cap && n < 48; i++) {
        char c = name.p[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            if (dash && n)
                out[n++] = '-';
            dash = false;
            out[n++] = c;
        } else {
            dash = true;
        }
    }
    out[n] = '\0';
}

/* Block index of "blk.N.rest" into *idx and the rest's offset; false for other names. */
static bool block_of(const char *name, uint32_t *idx, size_t *rest)
{
    if (strncmp(name, "blk.", 4))
        return false;
    uint64_t v = 0;
    size_t i = 4;
    if (name[i] < '0' || name[i] > '9')
        return false;
    while (name[i] >= '0' && name[i] <= '9' && v < UINT32_MAX)
        v = v * 10 + (uint64_t)(name[i++] - '0');
    if (name[i] != '.' || v >= UINT32_MAX)
        return false;
    *idx = (uint32_t)v;
    *rest = i + 1;
    return true;
}

/* The modularbase.* keys every pack carries. */
static int common_keys(struct mb_gguf_writer *w, const char *kind, const char *id,
                       const struct mb_pack_import_opts *o, const struct mb_pack_import_result *r,
                       const char *sha, struct mb_err *err)
{
    int rc = mb_gguf_writer_set_string(w, MB_MOD_KEY_KIND, kind, err);
    if (!rc)
        rc = mb_gguf_writer_set_string(w, MB_MOD_KEY_PACK_ID, id, err);
    if (!rc)
        rc = mb_gguf_writer_set_string(w, MB_MOD_KEY_PACK_VERSION, r->version, err);
    if (!rc)
        rc = mb_gguf_writer_set_string(w, MB_MOD_KEY_BASE_ID, r->base_id, err);
    if (!rc)
        rc = mb_gguf_writer_set_string(w, MB_MOD_KEY_BASE_VERSION, r->version, err);
    if (!rc)
        rc = mb_gguf_writer_set_u32(w, MB_MOD_KEY_BASE_WIDTH, r->width, err);
    if (!rc)
        rc = mb_gguf_writer_set_u32(w, MB_MOD_KEY_U, o->n_understanding, err);
    if (!rc)
        rc = mb_gguf_writer_set_u32(w, MB_MOD_KEY_F, o->n_fusion, err);
    if (!rc)
        rc = mb_gguf_writer_set_string(w, MB_MOD_KEY_SRC_SHA256, sha, err);
    if (!rc)
        rc = mb_gguf_writer_set_u32(w, MB_MOD_KEY_SRC_BLOCKS, r->n_layer, err);
    return rc;
}

/* Parse the generated YAML (so a bug here cannot ship a bad manifest) and emit it canonically. */
static int write_manifest(const char *dir, const char *yaml, struct mb_err *err)
{
    struct mb_manifest m;
    mb_manifest_init(&m);
    int rc = mb_manifest_parse("pack.yaml", yaml, strlen(yaml), &m, err);
    if (rc)
        return mb_err_prefix(err, "pack import generated an invalid manifest");
    struct mb_buf b;
    mb_buf_init(&b, 1u << 20);
    rc = mb_buf_append_cstr(&b, "# Written by `modularbase pack import`.\n", err);
    if (!rc)
        rc = mb_manifest_emit(&m, &b, err);
    char *path = mb_path_join(dir, "pack.yaml");
    if (!rc && !path)
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
    if (!rc)
        rc = mb_file_write_atomic(path, b.p, b.n, 0644, err);
    mb_free(path);
    mb_buf_release(&b);
    mb_manifest_release(&m);
    return rc;
}

/* Write one pack folder: dir/.NAME.tmp.PID with GGUF + pack.yaml, renamed to dir/NAME. */
static int write_pack(const struct mb_pack_import_opts *o, const char *name,
                      struct mb_gguf_writer *w, const char *gguf_name, const char *yaml,
                      const struct mb_progress *progress, uint64_t *bytes, struct mb_err *err)
{
    char tmp_name[96], *tmp = NULL, *final = NULL, *gpath = NULL;
    mb_snprintf(tmp_name, sizeof(tmp_name), ".%s.tmp.%ld", name, (long)getpid());
    tmp = mb_path_join(o->out_dir, tmp_name);
    final = mb_path_join(o->out_dir, name);
    int rc = (!tmp || !final) ? mb_fail(err, MB_E_NOMEM, "out of memory") : 0;
    if (!rc)
        rc = mb_rm_rf(tmp, err);
    if (!rc)
        rc = mb_mkdir_p(tmp, 0755, err);
    if (!rc && !(gpath = mb_path_join(tmp, gguf_name)))
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
    if (!rc)
        rc = mb_gguf_writer_write(w, gpath, progress, err);
    if (!rc)
        rc = write_manifest(tmp, yaml, err);
    if (!rc) {
        struct mb_map map;
        if (mb_map_file(gpath, &map, err) == 0) {
            *bytes = map.n;
            mb_unmap(&map);
        } else {
            rc = err->code;
        }
    }
    if (!rc && mb_path_exists(final)) {
        if (!o->force)
            rc = mb_fail(err, MB_E_EXISTS, "%s already exists (use --force to replace it)", final);
        else
            rc = mb_rm_rf(final, err);
    }
    if (!rc && rename(tmp, final) != 0)
        rc = mb_fail_errno(err, errno, "cannot rename %s to %s", tmp, final);
    if (!rc)
        rc = mb_fsync_dir(o->out_dir, err);
    if (rc && tmp) {
        struct mb_err e2;
        mb_rm_rf(tmp, &e2);
    }
    mb_free(gpath);
    mb_free(tmp);
    mb_free(final);
    return rc;
}

/* "1.0" from "1.0.0" (the x-range any 1.0.x), into out. */
static void major_minor(const char *version, char *out, size_t cap)
{
    size_t dots = 0, i = 0;
    for (; version[i] && i + 1 < cap; i++) {
        if (version[i] == '.' && ++dots == 2)
            break;
        out[i] = version[i];
    }
    out[i] = '\0';
}

static int write_base(const struct mb_pack_import_opts *o, const struct mb_gguf *g,
                      const struct mb_llama_hparams *hp, struct mb_pack_import_result *r,
                      const char *sha, const char *display, const struct mb_progress *progress,
                      struct mb_err *err)
{
    struct mb_gguf_writer *w;
    int rc = mb_gguf_writer_new(&w, err);
    if (rc)
        return rc;
    const uint32_t L = hp->n_layer, U = o->n_understanding, F = o->n_fusion;
    rc = mb_gguf_writer_copy_kvs(w, g, NULL, err);
    if (!rc)
        rc = common_keys(w, "base", r->base_id, o, r, sha, err);
    if (!rc)
        rc = mb_gguf_writer_set_u32(w, MB_MOD_KEY_PACK_WIDTH, r->width, err);
    if (!rc)
        rc = mb_gguf_writer_set_u32(w, MB_MOD_KEY_FUSION_FIRST, L - F, err);
    for (size_t i = 0; !rc && i < mb_gguf_tensor_count(g); i++) {
        const struct mb_gguf_tensor *t = mb_gguf_tensor_at(g, i);
        uint32_t b;
        size_t rest;
        if (!block_of(t->name, &b, &rest) || b < U || b >= L - F)
            rc = mb_gguf_writer_copy_tensor(w, t, err);
    }
    char yaml[2048];
    if (!rc &&
        !mb_snprintf(yaml, sizeof(yaml),
                     "id: %s\nname: \"%s base\"\nversion: %s\nkind: base\n"
                     "description: \"The base of %s split by pack import: embedding, blocks "
                     "0..%u (understanding), blocks %u..%u (fusion), final norm and head, "
                     "tokenizer and chat template.\"\n"
                     "resident: true\nweights:\n  file: base.gguf\nwidth: %u\n",
                     r->base_id, display, r->version, display, U - 1, L - F, L - 1, r->width))
        rc = mb_fail(err, MB_E_LIMIT, "base manifest too long");
    if (!rc)
        rc = write_pack(o, "base", w, "base.gguf", yaml, progress, &r->bytes[0], err);
    mb_gguf_writer_free(w);
    return rc;
}

static int write_general(const struct mb_pack_import_opts *o, const struct mb_gguf *g,
                         const struct mb_llama_hparams *hp, struct mb_pack_import_result *r,
                         const char *sha, const char *display, const struct mb_progress *progress,
                         struct mb_err *err)
{
    struct mb_gguf_writer *w;
    int rc = mb_gguf_writer_new(&w, err);
    if (rc)
        return rc;
    const uint32_t L = hp->n_layer, U = o->n_understanding, F = o->n_fusion;
    rc = mb_gguf_writer_copy_kvs(w, g, "general.", err);
    if (!rc)
        rc = mb_gguf_writer_copy_kvs(w, g, "llama.", err);
    if (!rc)
        rc = mb_gguf_writer_set_u32(w, "llama.block_count", L - U - F, err);
    if (!rc)
        rc = mb_gguf_writer_set_u32(w, "llama.vocab_size", hp->n_vocab, err);
    if (!rc)
        rc = common_keys(w, "data", r->general_id, o, r, sha, err);
    if (!rc)
        rc = mb_gguf_writer_set_u32(w, MB_MOD_KEY_PACK_WIDTH, r->width, err);
    if (!rc)
        rc = mb_gguf_writer_set_u32(w, MB_MOD_KEY_PACK_BLOCKS, L - U - F, err);
    if (!rc)
        rc = mb_gguf_writer_set_u32(w, MB_MOD_KEY_SRC_FIRST, U, err);
    for (size_t i = 0; !rc && i < mb_gguf_tensor_count(g); i++) {
        const struct mb_gguf_tensor *t = mb_gguf_tensor_at(g, i);
        uint32_t b;
        size_t rest;
        if (!block_of(t->name, &b, &rest) || b < U || b >= L - F)
            continue;
        char name[MB_GGUF_MAX_NAME + 1];
        if (!mb_snprintf(name, sizeof(name), "blk.%u.%s", b - U, t->name + rest))
            rc = mb_fail(err, MB_E_LIMIT, "%s: tensor name '%s' too long", o->model, t->name);
        else
            rc = mb_gguf_writer_add_tensor(w, name, t->type, t->n_dims, t->dims, t->data, t->nbytes,
                                           err);
    }
    char yaml[2048], mm[64];
    major_minor(r->version, mm, sizeof(mm));
    if (!rc &&
        !mb_snprintf(yaml, sizeof(yaml),
                     "id: %s\nname: \"%s general\"\nversion: %s\nkind: data\ndomain: general\n"
                     "description: \"The middle blocks %u..%u of %s: with weight 1 on its base, "
                     "the original model exactly.\"\n"
                     "base: %s\nbase_compatibility:\n  - \"%s\"\n"
                     "dependencies:\n  - id: %s\n    version: \"%s\"\n  - id: %s\n    version: "
                     "\"%s\"\n"
                     "resident: true\nweights:\n  file: general.gguf\nwidth: %u\n",
                     r->general_id, display, r->version, U, L - F - 1, display, r->base_id, mm,
                     r->base_id, mm, r->router_id, mm, r->width))
        rc = mb_fail(err, MB_E_LIMIT, "general manifest too long");
    if (!rc)
        rc = write_pack(o, "general", w, "general.gguf", yaml, progress, &r->bytes[1], err);
    mb_gguf_writer_free(w);
    return rc;
}

static int write_router(const struct mb_pack_import_opts *o, struct mb_pack_import_result *r,
                        const char *sha, const char *display, const struct mb_progress *progress,
                        struct mb_err *err)
{
    struct mb_gguf_writer *w;
    int rc = mb_gguf_writer_new(&w, err);
    if (rc)
        return rc;
    rc = common_keys(w, "router", r->router_id, o, r, sha, err);
    if (!rc)
        rc = mb_gguf_writer_set_f32(w, MB_MOD_KEY_ROUTER_TAU, MB_MOD_DEFAULT_TAU, err);
    if (!rc)
        rc = mb_gguf_writer_set_u32(w, MB_MOD_KEY_ROUTER_TOPK, MB_MOD_DEFAULT_TOP_K, err);
    if (!rc)
        rc = mb_gguf_writer_set_f32(w, MB_MOD_KEY_ROUTER_THR, MB_MOD_DEFAULT_THRESHOLD, err);
    char yaml[2048], mm[64];
    major_minor(r->version, mm, sizeof(mm));
    if (!rc &&
        !mb_snprintf(yaml, sizeof(yaml),
                     "id: %s\nname: \"%s router\"\nversion: %s\nkind: router\n"
                     "description: \"Routing parameters (tau, top-k, threshold) for %s; "
                     "`router fit` adds a projection in the store.\"\n"
                     "base: %s\nbase_compatibility:\n  - \"%s\"\n"
                     "dependencies:\n  - id: %s\n    version: \"%s\"\n"
                     "resident: true\nweights:\n  file: router.gguf\n",
                     r->router_id, display, r->version, display, r->base_id, mm, r->base_id, mm))
        rc = mb_fail(err, MB_E_LIMIT, "router manifest too long");
    if (!rc)
        rc = write_pack(o, "router", w, "router.gguf", yaml, progress, &r->bytes[2], err);
    mb_gguf_writer_free(w);
    return rc;
}

/* A display name without characters that would need escaping in YAML. */
static void display_name(struct mb_str s, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < s.n && n + 1 < cap && n < 64; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            out[n++] = (char)c;
    }
    out[n] = '\0';
}

int mb_pack_import(const struct mb_pack_import_opts *o, const struct mb_progress *progress,
                   struct mb_pack_import_result *res, struct mb_err *err)
{
    struct mb_pack_import_result r;
    memset(&r, 0, sizeof(r));
    if (!o->model || !o->out_dir)
        return mb_fail(err, MB_E_USAGE, "pack import needs a model and an output folder");
    struct mb_gguf *g;
    int rc = mb_gguf_open(&g, o->model, err);
    if (rc)
        return rc;
    struct mb_llama_hparams hp;
    rc = mb_llama_hparams_read(g, &hp, err);
    const uint32_t U = o->n_understanding, F = o->n_fusion;
    if (!rc && (U < 1 || F < 1 || (uint64_t)U + F >= hp.n_layer))
        rc = mb_fail(err, MB_E_USAGE,
                     "%s: cannot split %u blocks into %u understanding + %u fusion blocks and "
                     "a general pack (need U >= 1, F >= 1, U + F < %u)",
                     o->model, hp.n_layer, U, F, hp.n_layer);
    if (!rc && mb_gguf_find_tensor(g, "rope_freqs.weight"))
        rc = mb_fail(err, MB_E_UNSUPPORTED, "%s: tensor 'rope_freqs.weight' is not supported",
                     o->model);
    char display[80] = "model";
    if (!rc) {
        /* "<basename> <size_label>" (SmolLM2 135M) when the file says, else general.name */
        struct mb_str name = { 0 }, basename = { 0 }, size = { 0 };
        struct mb_err e2;
        char both[160];
        if (mb_gguf_get_str(g, "general.basename", &basename, &e2) == 0 && basename.n &&
            basename.n < 64) {
            if (mb_gguf_get_str(g, "general.size_label", &size, &e2) || size.n >= 64)
                size.n = 0;
            mb_snprintf(both, sizeof(both), "%.*s%s%.*s", (int)basename.n, basename.p,
                        size.n ? " " : "", (int)size.n, size.p);
            name = mb_str_from(both);
        } else if (mb_gguf_get_str(g, "general.name", &name, &e2)) {
            name.n = 0;
        }
        if (name.n)
            display_name(name, display, sizeof(display));
        if (o->base_id)
            mb_strlcpy(r.base_id, o->base_id, sizeof(r.base_id));
        else
            id_from_name(name, r.base_id, sizeof(r.base_id));
        if (!r.base_id[0])
            mb_strlcpy(r.base_id, "base", sizeof(r.base_id));
        mb_strlcpy(r.general_id, o->general_id ? o->general_id : "general", sizeof(r.general_id));
        mb_strlcpy(r.router_id, o->router_id ? o->router_id : "router", sizeof(r.router_id));
        mb_strlcpy(r.version, o->version ? o->version : "1.0.0", sizeof(r.version));
        rc = mb_pack_id_check(r.base_id, err);
        if (!rc)
            rc = mb_pack_id_check(r.general_id, err);
        if (!rc)
            rc = mb_pack_id_check(r.router_id, err);
        if (!rc && (!strcmp(r.base_id, r.general_id) || !strcmp(r.base_id, r.router_id) ||
                    !strcmp(r.general_id, r.router_id)))
            rc = mb_fail(err, MB_E_USAGE, "the base, general and router ids must differ");
        r.n_layer = hp.n_layer;
        r.n_understanding = U;
        r.n_fusion = F;
        r.width = hp.block.n_embd;
    }
    /* refuse before writing anything when a folder exists */
    const char *const names[3] = { "base", "general", "router" };
    for (int i = 0; !rc && !o->force && i < 3; i++) {
        char *path = mb_path_join(o->out_dir, names[i]);
        if (!path)
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        else if (mb_path_exists(path))
            rc = mb_fail(err, MB_E_EXISTS, "%s already exists (use --force to replace it)", path);
        mb_free(path);
    }
    char sha[2 * MB_SHA256_LEN + 1];
    if (!rc) {
        uint8_t d[MB_SHA256_LEN];
        mb_progress_report(progress, "hashing the model", 0, mb_gguf_size(g));
        rc = mb_sha256_file(o->model, d, NULL, err);
        mb_hex_encode(d, sizeof(d), sha);
    }
    if (!rc)
        rc = mb_mkdir_p(o->out_dir, 0755, err);
    if (!rc)
        rc = write_base(o, g, &hp, &r, sha, display, progress, err);
    if (!rc)
        rc = write_general(o, g, &hp, &r, sha, display, progress, err);
    if (!rc)
        rc = write_router(o, &r, sha, display, progress, err);
    mb_gguf_free(g);
    if (!rc && res)
        *res = r;
    return rc;
}
