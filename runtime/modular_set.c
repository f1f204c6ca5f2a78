/*
 * modular_set.c - a set of pack folders that `chat` and `run` drive: the
 * folders of a --packs directory or the store's installed packs (the CLI
 * turns those into paths; runtime/ does not read the store). One base, the
 * router pack's parameters, and data packs opened when first selected.
 */
#include "mb_manifests.h"
#include "mb_modular.h"

#include <dirent.h>
#include <errno.h>

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int mb_packset_list_dir(const char *dir, char ***dirs, size_t *n, struct mb_err *err)
{
    *dirs = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return mb_fail_errno(err, errno, "cannot open pack folder %s", dir);
    char **v = NULL;
    size_t cnt = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *sub = mb_path_join(dir, e->d_name);
        char *yaml = sub ? mb_path_join(sub, "pack.yaml") : NULL;
        if (!sub || !yaml) {
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        } else if (mb_is_dir(sub) && mb_path_exists(yaml)) {
            if (cnt == 4096) {
                rc = mb_fail(err, MB_E_LIMIT, "%s: more than 4096 pack folders", dir);
            } else if (cnt == cap) {
                size_t nc = cap ? cap * 2 : 8;
                char **nv = mb_reallocarray(v, nc, sizeof(*nv));
                if (!nv)
                    rc = mb_fail(err, MB_E_NOMEM, "out of memory");
                else {
                    v = nv;
                    cap = nc;
                }
            }
            if (!rc) {
                v[cnt++] = sub;
                sub = NULL;
            }
        }
        mb_free(sub);
        mb_free(yaml);
    }
    closedir(d);
    if (!rc && cnt == 0)
        rc = mb_fail(err, MB_E_NOTFOUND, "%s: no pack folders (sub-folders with a pack.yaml)", dir);
    if (rc) {
        for (size_t i = 0; i < cnt; i++)
            mb_free(v[i]);
        mb_free(v);
        return rc;
    }
    qsort(v, cnt, sizeof(*v), cmp_str);
    *dirs = v;
    *n = cnt;
    return 0;
}

/* The router pack's tau, top_k and threshold (keys absent: the defaults). */
static int router_params(struct mb_packset *ps, const char *dir, struct mb_err *err)
{
    char *path = NULL;
    struct mb_gguf *g = NULL;
    int rc = mb_pack_weights_path(dir, &path, err);
    if (!rc)
        rc = mb_gguf_open(&g, path, err);
    struct mb_err e2;
    if (!rc && mb_gguf_find_kv(g, MB_MOD_KEY_ROUTER_TAU))
        rc = mb_gguf_get_f32(g, MB_MOD_KEY_ROUTER_TAU, &ps->tau, err);
    if (!rc && mb_gguf_find_kv(g, MB_MOD_KEY_ROUTER_TOPK))
        rc = mb_gguf_get_u32(g, MB_MOD_KEY_ROUTER_TOPK, &ps->top_k, err);
    if (!rc && mb_gguf_find_kv(g, MB_MOD_KEY_ROUTER_THR))
        rc = mb_gguf_get_f32(g, MB_MOD_KEY_ROUTER_THR, &ps->threshold, err);
    if (!rc && (!(ps->tau > 0.0f && ps->tau < 100.0f) || ps->top_k < 1 || ps->top_k > 16 ||
                !(ps->threshold >= -1.0f && ps->threshold <= 1.0f)))
        rc = mb_fail(err, MB_E_FORMAT,
                     "%s: router parameters out of range (tau %g in (0, 100), top_k %u in 1..16, "
                     "threshold %g in [-1, 1])",
                     path, (double)ps->tau, ps->top_k, (double)ps->threshold);
    (void)e2;
    mb_gguf_free(g);
    mb_free(path);
    return rc;
}

int mb_packset_open(const char *const *dirs, size_t n, struct mb_backend *be,
                    const struct mb_session_opts *opts, struct mb_packset **out, struct mb_err *err)
{
    *out = NULL;
    struct mb_packset *ps = mb_calloc(1, sizeof(*ps));
    if (!ps || !(ps->v = mb_calloc(MB_MAX(n, 1), sizeof(*ps->v)))) {
        mb_free(ps);
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    ps->be = be;
    ps->general = ps->router = SIZE_MAX;
    ps->tau = MB_MOD_DEFAULT_TAU;
    ps->top_k = MB_MOD_DEFAULT_TOP_K;
    ps->threshold = MB_MOD_DEFAULT_THRESHOLD;
    size_t base = SIZE_MAX;
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        struct mb_packset_entry *e = &ps->v[ps->n];
        char *yaml = mb_path_join(dirs[i], "pack.yaml");
        struct mb_manifest m;
        mb_manifest_init(&m);
        if (!yaml)
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        if (!rc)
            rc = mb_manifest_load(yaml, &m, err);
        mb_free(yaml);
        if (!rc && !(e->dir = mb_strdup(dirs[i])))
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        if (!rc && m.domain && !(e->domain = mb_strdup(m.domain)))
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        if (!rc) {
            ps->n++;
            mb_strlcpy(e->id, m.id, sizeof(e->id));
            mb_strlcpy(e->version, m.version_text, sizeof(e->version));
            e->kind = (int)m.kind;
            for (size_t j = 0; !rc && j + 1 < ps->n; j++)
                if (!strcmp(ps->v[j].id, e->id))
                    rc = mb_fail(err, MB_E_USAGE, "pack '%s' is in both %s and %s", e->id,
                                 ps->v[j].dir, e->dir);
        }
        if (!rc && m.kind == MB_PACK_BASE) {
            if (base != SIZE_MAX)
                rc = mb_fail(err, MB_E_USAGE, "two base packs: %s and %s (keep one)",
                             ps->v[base].dir, e->dir);
            base = ps->n - 1;
        } else if (!rc && m.kind == MB_PACK_ROUTER) {
            ps->router = ps->n - 1;
        } else if (!rc && m.kind == MB_PACK_DATA) {
            bool gen = (m.domain && !strcmp(m.domain, "general")) || !strcmp(m.id, "general");
            if (gen && (ps->general == SIZE_MAX || !strcmp(m.id, "general")))
                ps->general = ps->n - 1;
        }
        mb_manifest_release(&m);
    }
    if (!rc && base == SIZE_MAX)
        rc = mb_fail(err, MB_E_NOTFOUND, "no base pack among the %zu packs (pack import makes one)",
                     n);
    if (!rc && ps->router != SIZE_MAX)
        rc = router_params(ps, ps->v[ps->router].dir, err);
    if (!rc)
        rc = mb_base_open(ps->v[base].dir, be, &ps->base, err);
    if (!rc)
        rc = mb_modular_new(ps->base, opts, &ps->mod, err);
    if (rc) {
        mb_packset_free(ps);
        return rc;
    }
    *out = ps;
    return 0;
}

void mb_packset_free(struct mb_packset *ps)
{
    if (!ps)
        return;
    mb_packset_router_release(ps);
    mb_modular_free(ps->mod);
    for (size_t i = 0; i < ps->n; i++) {
        mb_data_pack_free(ps->v[i].pack);
        mb_free(ps->v[i].dir);
        mb_free(ps->v[i].domain);
    }
    mb_free(ps->v);
    mb_base_free(ps->base);
    mb_free(ps);
}

size_t mb_packset_find(const struct mb_packset *ps, const char *id)
{
    for (size_t i = 0; i < ps->n; i++)
        if (!strcmp(ps->v[i].id, id))
            return i;
    return SIZE_MAX;
}

int mb_packset_select(struct mb_packset *ps, const size_t *idx, const float *w, size_t n,
                      struct mb_err *err)
{
    struct mb_data_pack *packs[MB_MODULAR_MAX_PACKS];
    if (n < 1 || n > MB_MODULAR_MAX_PACKS)
        return mb_fail(err, MB_E_USAGE, "select 1 to %d packs, not %zu", MB_MODULAR_MAX_PACKS, n);
    for (size_t i = 0; i < n; i++) {
        if (idx[i] >= ps->n)
            return mb_fail(err, MB_E_USAGE, "no pack %zu", idx[i]);
        struct mb_packset_entry *e = &ps->v[idx[i]];
        if (e->kind != (int)MB_PACK_DATA)
            return mb_fail(err, MB_E_USAGE, "pack '%s' is not a data pack", e->id);
        if (!e->pack) {
            int rc = mb_data_pack_open(e->dir, ps->base, ps->be, &e->pack, err);
            if (rc)
                return rc;
        }
        packs[i] = e->pack;
    }
    return mb_modular_select(ps->mod, packs, w, n, err);
}
