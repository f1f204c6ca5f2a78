/*
 * router_fit_file.c - the fitted router on disk (struct mb_router_fit in
 * mb_router.h): a small GGUF under $MODULARBASE_HOME/router/ written by
 * `router fit` and read by the runtime. Reading validates every shape and
 * count against the others, so a damaged file is an error, not a crash.
 */
#include "mb_router.h"

#include <math.h>

#define KEY_PACKS     "modularbase.router.packs"
#define KEY_VERSIONS  "modularbase.router.pack_versions"
#define KEY_SHRINKAGE "modularbase.router.shrinkage"
#define KEY_TAU       "modularbase.router.tau"
#define KEY_TOP_K     "modularbase.router.top_k"
#define KEY_THRESHOLD "modularbase.router.threshold"
#define T_PROJ        "router.proj.weight"
#define T_MEAN        "router.proj.mean"

static void free_strs(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        mb_free(v[i]);
    mb_free(v);
}

void mb_router_fit_release(struct mb_router_fit *f)
{
    if (!f)
        return;
    mb_router_proj_release(&f->proj);
    free_strs(f->ids, f->n_packs);
    free_strs(f->versions, f->n_packs);
    mb_free(f->keys);
    mb_free(f->base_id);
    mb_free(f->base_version);
    memset(f, 0, sizeof(*f));
}

size_t mb_router_fit_find(const struct mb_router_fit *f, const char *id)
{
    for (size_t i = 0; i < f->n_packs; i++)
        if (!strcmp(f->ids[i], id))
            return i;
    return SIZE_MAX;
}

int mb_router_fit_write(const struct mb_router_fit *f, const char *path, struct mb_err *err)
{
    struct mb_gguf_writer *w;
    int rc = mb_gguf_writer_new(&w, err);
    if (rc)
        return rc;
    uint32_t in = f->proj.in_dim, od = f->proj.out_dim;
    uint64_t dw[2] = { in, od }, dm[1] = { in }, dk[2] = { od, f->n_packs };
    if (!rc)
        rc = mb_gguf_writer_set_string(w, "general.architecture", "modularbase-router", err);
    if (!rc)
        rc = mb_gguf_writer_set_str_array(w, KEY_PACKS, (const char *const *)f->ids, f->n_packs,
                                          err);
    if (!rc)
        rc = mb_gguf_writer_set_str_array(w, KEY_VERSIONS, (const char *const *)f->versions,
                                          f->n_packs, err);
    if (!rc)
        rc = mb_gguf_writer_set_string(w, MB_ROUTER_KEY_BASE_ID, f->base_id ? f->base_id : "", err);
    if (!rc)
        rc = mb_gguf_writer_set_string(w, MB_ROUTER_KEY_BASE_VER,
                                       f->base_version ? f->base_version : "", err);
    if (!rc)
        rc = mb_gguf_writer_set_u32(w, MB_ROUTER_KEY_U, f->n_understanding, err);
    if (!rc)
        rc = mb_gguf_writer_set_f32(w, KEY_SHRINKAGE, f->shrinkage, err);
    if (!rc)
        rc = mb_gguf_writer_set_f32(w, KEY_TAU, f->params.tau, err);
    if (!rc)
        rc = mb_gguf_writer_set_u32(w, KEY_TOP_K, f->params.top_k, err);
    if (!rc)
        rc = mb_gguf_writer_set_f32(w, KEY_THRESHOLD, f->params.threshold, err);
    if (!rc)
        rc = mb_gguf_writer_add_tensor(w, T_PROJ, MB_DTYPE_F32, 2, dw, f->proj.w,
                                       (uint64_t)in * od * sizeof(float), err);
    if (!rc)
        rc = mb_gguf_writer_add_tensor(w, T_MEAN, MB_DTYPE_F32, 1, dm, f->proj.mu,
                                       (uint64_t)in * sizeof(float), err);
    if (!rc)
        rc = mb_gguf_writer_add_tensor(w, MB_ROUTER_KEYS_TENSOR, MB_DTYPE_F32, 2, dk, f->keys,
                                       (uint64_t)od * f->n_packs * sizeof(float), err);
    if (!rc)
        rc = mb_gguf_writer_write(w, path, NULL, err);
    mb_gguf_writer_free(w);
    return rc;
}

/* A copy of tensor `name`: F32 with exactly the given dims. */
static int read_f32(const struct mb_gguf *g, const char *name, uint64_t d0, uint64_t d1,
                    float **out, struct mb_err *err)
{
    const struct mb_gguf_tensor *t = mb_gguf_find_tensor(g, name);
    if (!t)
        return mb_fail(err, MB_E_FORMAT, "%s: no tensor '%s'", mb_gguf_name(g), name);
    if (t->type != MB_DTYPE_F32 || t->dims[0] != d0 || t->dims[1] != d1 || t->n_dims > 2)
        return mb_fail(err, MB_E_FORMAT, "%s: tensor '%s' is not F32 of shape %llu x %llu",
                       mb_gguf_name(g), name, (unsigned long long)d0, (unsigned long long)d1);
    size_t n = (size_t)(d0 * d1);
    *out = mb_malloc(n * sizeof(float));
    if (!*out)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    memcpy(*out, t->data, n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        if (!isfinite((*out)[i]))
            return mb_fail(err, MB_E_FORMAT, "%s: tensor '%s' element %zu is not finite",
                           mb_gguf_name(g), name, i);
    return 0;
}

static int read_strs(const struct mb_gguf *g, const char *key, size_t *n, char ***out,
                     struct mb_err *err)
{
    const struct mb_gguf_array *a;
    int rc = mb_gguf_get_array(g, key, MB_GGUF_TYPE_STRING, &a, err);
    if (rc)
        return rc == MB_E_NOTFOUND
                   ? mb_fail(err, MB_E_FORMAT, "%s: no key '%s'", mb_gguf_name(g), key)
                   : rc;
    if (a->n > 100000)
        return mb_fail(err, MB_E_FORMAT, "%s: key '%s' has too many entries", mb_gguf_name(g), key);
    *out = mb_calloc(a->n ? a->n : 1, sizeof(char *));
    if (!*out)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    for (size_t i = 0; i < a->n; i++) {
        struct mb_str s = mb_gguf_array_str(a, i);
        if (!((*out)[i] = mb_strndup(s.p, s.n))) {
            free_strs(*out, a->n);
            *out = NULL;
            return mb_fail(err, MB_E_NOMEM, "out of memory");
        }
    }
    *n = a->n;
    return 0;
}

static int read_str(const struct mb_gguf *g, const char *key, char **out, struct mb_err *err)
{
    struct mb_str s;
    int rc = mb_gguf_get_str(g, key, &s, err);
    if (rc)
        return rc == MB_E_NOTFOUND
                   ? mb_fail(err, MB_E_FORMAT, "%s: no key '%s'", mb_gguf_name(g), key)
                   : rc;
    *out = mb_strndup(s.p, s.n);
    return *out ? 0 : mb_fail(err, MB_E_NOMEM, "out of memory");
}

int mb_router_fit_read_gguf(const struct mb_gguf *g, struct mb_router_fit *out, struct mb_err *err)
{
    memset(out, 0, sizeof(*out));
    const char *path = mb_gguf_name(g);
    int rc = 0;
    size_t nv = 0;
    char **vers = NULL;
    rc = read_strs(g, KEY_PACKS, &out->n_packs, &out->ids, err);
    if (!rc) {
        rc = read_strs(g, KEY_VERSIONS, &nv, &vers, err);
        if (!rc && nv == out->n_packs)
            out->versions = vers;
        else if (!rc) {
            free_strs(vers, nv);
            rc = mb_fail(err, MB_E_FORMAT, "%s: key '%s' has %zu entries, '%s' %zu", path,
                         KEY_VERSIONS, nv, KEY_PACKS, out->n_packs);
        }
    }
    if (!rc)
        rc = read_str(g, MB_ROUTER_KEY_BASE_ID, &out->base_id, err);
    if (!rc)
        rc = read_str(g, MB_ROUTER_KEY_BASE_VER, &out->base_version, err);
    if (!rc)
        rc = mb_gguf_get_u32(g, MB_ROUTER_KEY_U, &out->n_understanding, err);
    if (!rc)
        rc = mb_gguf_get_f32(g, KEY_SHRINKAGE, &out->shrinkage, err);
    if (!rc)
        rc = mb_gguf_get_f32(g, KEY_TAU, &out->params.tau, err);
    if (!rc)
        rc = mb_gguf_get_u32(g, KEY_TOP_K, &out->params.top_k, err);
    if (!rc)
        rc = mb_gguf_get_f32(g, KEY_THRESHOLD, &out->params.threshold, err);
    if (!rc && (!(out->params.tau > 0) || !isfinite(out->params.tau) ||
                out->params.top_k > MB_ROUTER_MAX_K || !isfinite(out->params.threshold)))
        rc = mb_fail(err, MB_E_FORMAT, "%s: router parameters out of range (tau %g, top_k %u)",
                     path, (double)out->params.tau, out->params.top_k);
    const struct mb_gguf_tensor *tw = rc ? NULL : mb_gguf_find_tensor(g, T_PROJ);
    if (!rc && (!tw || tw->n_dims != 2 || tw->dims[0] == 0 || tw->dims[0] > (1u << 16) ||
                tw->dims[1] == 0 || tw->dims[1] > 4096))
        rc = mb_fail(err, MB_E_FORMAT, "%s: tensor '%s' is missing or has a bad shape", path,
                     T_PROJ);
    if (!rc) {
        out->proj.in_dim = (uint32_t)tw->dims[0];
        out->proj.out_dim = (uint32_t)tw->dims[1];
        rc = read_f32(g, T_PROJ, tw->dims[0], tw->dims[1], &out->proj.w, err);
    }
    if (!rc)
        rc = read_f32(g, T_MEAN, out->proj.in_dim, 1, &out->proj.mu, err);
    if (!rc)
        rc = read_f32(g, MB_ROUTER_KEYS_TENSOR, out->proj.out_dim, out->n_packs ? out->n_packs : 1,
                      &out->keys, err);
    if (rc)
        mb_router_fit_release(out);
    return rc;
}

int mb_router_fit_read(const char *path, struct mb_router_fit *out, struct mb_err *err)
{
    memset(out, 0, sizeof(*out));
    struct mb_gguf *g;
    int rc = mb_gguf_open(&g, path, err);
    if (rc)
        return rc;
    rc = mb_router_fit_read_gguf(g, out, err);
    mb_gguf_free(g);
    return rc;
}
