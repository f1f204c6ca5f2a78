/*
 * pack_meta.c - pack_meta.h over the two libraries: mb_manifest_load() reads
 * and validates pack.yaml (file:line:column messages), mb_gguf_open() reads
 * the GGUF with every offset bounds-checked; this file only copies out the
 * fields pack build compares and checks that they agree.
 */
#include "pack_meta.h"

#include "mb_manifests.h"
#include "mb_registry.h"
#include "mb_runtime.h"

void mb_pack_meta_release(struct mb_pack_meta *m)
{
    mb_free(m->id);
    mb_free(m->version);
    mb_free(m->kind);
    mb_free(m->weights_file);
    memset(m, 0, sizeof(*m));
    m->width = -1;
}

void mb_gguf_meta_release(struct mb_gguf_meta *g)
{
    mb_free(g->kind);
    mb_free(g->pack_id);
    mb_free(g->pack_version);
    memset(g, 0, sizeof(*g));
    g->pack_width = -1;
}

int mb_pack_meta_load(const char *yaml_path, struct mb_pack_meta *out, struct mb_err *err)
{
    memset(out, 0, sizeof(*out));
    out->width = -1;
    struct mb_manifest m;
    mb_manifest_init(&m);
    int rc = mb_manifest_load(yaml_path, &m, err);
    if (rc)
        return rc;
    if (!m.weights_file) {
        mb_manifest_release(&m);
        return mb_fail(err, MB_E_FORMAT, "%s: field 'weights.file' is required to build a pack",
                       yaml_path);
    }
    struct mb_err nerr;
    if (mb_archive_check_name(m.weights_file, 255, &nerr)) {
        mb_manifest_release(&m);
        return mb_fail(err, MB_E_FORMAT, "%s: field 'weights.file': %s", yaml_path, nerr.msg);
    }
    out->id = mb_strdup(m.id);
    out->version = mb_strdup(m.version_text);
    out->kind = mb_strdup(mb_pack_kind_name(m.kind));
    out->weights_file = mb_strdup(m.weights_file);
    out->width = m.width ? (int64_t)m.width : -1;
    mb_manifest_release(&m);
    if (!out->id || !out->version || !out->kind || !out->weights_file) {
        mb_pack_meta_release(out);
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    return 0;
}

/* A string key, copied; absent stays NULL; present with another type is an error. */
static int gguf_str(const struct mb_gguf *g, const char *key, char **out, struct mb_err *err)
{
    if (!mb_gguf_find_kv(g, key))
        return 0;
    struct mb_str v;
    int rc = mb_gguf_get_str(g, key, &v, err);
    if (rc)
        return rc;
    *out = mb_strndup(v.p, v.n);
    return *out ? 0 : mb_fail(err, MB_E_NOMEM, "out of memory");
}

int mb_gguf_meta_load(const char *path, struct mb_gguf_meta *out, struct mb_err *err)
{
    memset(out, 0, sizeof(*out));
    out->pack_width = -1;
    struct mb_gguf *g;
    int rc = mb_gguf_open(&g, path, err);
    if (rc)
        return rc;
    rc = gguf_str(g, "modularbase.kind", &out->kind, err);
    if (!rc)
        rc = gguf_str(g, "modularbase.pack.id", &out->pack_id, err);
    if (!rc)
        rc = gguf_str(g, "modularbase.pack.version", &out->pack_version, err);
    if (!rc && mb_gguf_find_kv(g, "modularbase.pack.width")) {
        uint64_t w;
        rc = mb_gguf_get_u64(g, "modularbase.pack.width", &w, err);
        if (!rc && (w == 0 || w > INT64_MAX))
            rc = mb_fail(err, MB_E_FORMAT, "%s: key 'modularbase.pack.width' must be positive",
                         path);
        if (!rc)
            out->pack_width = (int64_t)w;
    }
    out->n_tensors = (uint64_t)mb_gguf_tensor_count(g);
    mb_gguf_free(g);
    if (rc)
        mb_gguf_meta_release(out);
    return rc;
}

/* ------------------------------------------------------------ agreement */

static int need(const char *gguf, const char *key, const char *have, const char *want,
                struct mb_err *err)
{
    if (!have)
        return mb_fail(err, MB_E_FORMAT,
                       "%s: GGUF key '%s' is missing (the manifest says '%s'); add the "
                       "modularbase.* keys with 'modularbase pack import', or with gguf-py "
                       "(GGUFWriter.add_string(\"%s\", \"%s\"))",
                       gguf, key, want, key, want);
    if (strcmp(have, want) != 0)
        return mb_fail(err, MB_E_FORMAT, "%s: GGUF key '%s' is '%s' but pack.yaml says '%s'", gguf,
                       key, have, want);
    return 0;
}

int mb_pack_meta_check_gguf(const struct mb_pack_meta *m, const struct mb_gguf_meta *g,
                            const char *gguf_path, struct mb_err *err)
{
    int rc = need(gguf_path, "modularbase.kind", g->kind, m->kind, err);
    if (!rc)
        rc = need(gguf_path, "modularbase.pack.id", g->pack_id, m->id, err);
    if (!rc)
        rc = need(gguf_path, "modularbase.pack.version", g->pack_version, m->version, err);
    if (!rc && m->width > 0 && g->pack_width > 0 && m->width != g->pack_width)
        rc = mb_fail(err, MB_E_FORMAT,
                     "%s: GGUF key 'modularbase.pack.width' is %lld but pack.yaml says %lld",
                     gguf_path, (long long)g->pack_width, (long long)m->width);
    return rc;
}
