/*
 * modular_set.c - a set of pack folders that `chat` and `run` drive: the
 * folders of a --packs directory or the store's installed packs (the CLI
 * turns those into paths; runtime/ does not read the store). One base, the
 * router pack's parameters, and the data packs behind a pack cache
 * (runtime/mb_pack_cache.h): residents pinned, others loaded when selected and
 * evicted least-recently-used under the memory budget, with the fallback walk
 * (runtime/pack_fallback.c) for a selected pack that cannot be used.
 *
 * Threads: the cache may load and evict from its preload thread. Loading only
 * reads the base (its width); an evicted pack is not freed there but put on a
 * "grave" list that the driving thread empties at the next selection, after
 * making the modular model forget the pack, so a forward pass never sees a
 * pack disappear.
 */
#include "mb_manifests.h"
#include "mb_modular.h"
#include "mb_pack_cache.h"
#include "mb_semver.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>

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
    if (!rc && mb_gguf_find_kv(g, MB_MOD_KEY_ROUTER_TAU))
        rc = mb_gguf_get_f32(g, MB_MOD_KEY_ROUTER_TAU, &ps->tau, err);
    if (!rc && mb_gguf_find_kv(g, MB_MOD_KEY_ROUTER_TOPK))
        rc = mb_gguf_get_u32(g, MB_MOD_KEY_ROUTER_TOPK, &ps->top_k, err);
    if (!rc && mb_gguf_find_kv(g, MB_MOD_KEY_ROUTER_THR))
        rc = mb_gguf_get_f32(g, MB_MOD_KEY_ROUTER_THR, &ps->threshold, err);
    if (!rc && (!(ps->tau > 0.0f && ps->tau < 100.0f) || ps->top_k < 1 ||
                ps->top_k > MB_ROUTER_MAX_K || !(ps->threshold >= -1.0f && ps->threshold <= 1.0f)))
        rc = mb_fail(err, MB_E_FORMAT,
                     "%s: router parameters out of range (tau %g in (0, 100), top_k %u in 1..%u, "
                     "threshold %g in [-1, 1])",
                     path, (double)ps->tau, ps->top_k, MB_ROUTER_MAX_K, (double)ps->threshold);
    mb_gguf_free(g);
    mb_free(path);
    return rc;
}

/* ------------------------------------------------------------ the cache's callbacks */

struct grave {
    pthread_mutex_t mu;
    struct mb_data_pack **v;
    size_t n, cap;
};

static int cache_load(void *ud, const char *id, const char *path, void **obj, uint64_t *bytes,
                      struct mb_err *err)
{
    struct mb_packset *ps = ud;
    (void)id;
    struct mb_data_pack *p;
    int rc = mb_data_pack_open(path, ps->base, ps->be, &p, err);
    if (rc)
        return rc;
    mb_pack_prefault(mb_gguf_bytes(p->gguf), (size_t)mb_gguf_size(p->gguf));
    uint64_t kv = 0, scratch = 0;
    mb_stack_state_bytes(&p->hp, p->n_blocks, mb_session_n_ctx(mb_modular_session(ps->mod)),
                         MB_SESSION_DEFAULT_BATCH, MB_DTYPE_F16, &kv, &scratch);
    *bytes = mb_gguf_size(p->gguf) + kv; /* its KV cache lives as long as it is loaded */
    *obj = p;
    return 0;
}

static void cache_unload(void *ud, const char *id, void *obj)
{
    struct mb_packset *ps = ud;
    struct grave *g = ps->grave;
    (void)id;
    pthread_mutex_lock(&g->mu);
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 8;
        struct mb_data_pack **v = mb_reallocarray(g->v, cap, sizeof(*v));
        if (v) {
            g->v = v;
            g->cap = cap;
        }
    }
    if (g->n < g->cap)
        g->v[g->n++] = obj;
    else /* out of memory for the list: leak rather than free under a running pass */
        obj = NULL;
    pthread_mutex_unlock(&g->mu);
}

/* Free the packs the cache evicted (driving thread only). */
static void reap(struct mb_packset *ps)
{
    struct grave *g = ps->grave;
    if (!g)
        return;
    pthread_mutex_lock(&g->mu);
    for (size_t i = 0; i < g->n; i++) {
        if (ps->mod)
            mb_modular_forget(ps->mod, g->v[i]);
        mb_data_pack_free(g->v[i]);
    }
    g->n = 0;
    pthread_mutex_unlock(&g->mu);
}

/* ------------------------------------------------------------ open and free */

static uint64_t file_size(const char *path)
{
    struct mb_map m;
    struct mb_err e2;
    if (!path || mb_map_file(path, &m, &e2))
        return 0;
    uint64_t n = m.n;
    mb_unmap(&m);
    return n;
}

/* Read dir/pack.yaml into e (a failure is kept in e->manifest_error, not returned). */
static int entry_init(struct mb_packset_entry *e, const char *dir, struct mb_err *err)
{
    if (!(e->dir = mb_strdup(dir)))
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    char *yaml = mb_path_join(dir, "pack.yaml");
    struct mb_manifest *m = mb_calloc(1, sizeof(*m));
    if (!yaml || !m) {
        mb_free(yaml);
        mb_free(m);
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    mb_manifest_init(m);
    struct mb_err e2;
    if (mb_manifest_load(yaml, m, &e2)) {
        mb_free(m);
        mb_free(yaml);
        mb_strlcpy(e->id, mb_path_basename(dir), sizeof(e->id));
        e->kind = (int)MB_PACK_DATA;
        e->manifest_error = mb_strdup(e2.msg);
        return 0;
    }
    mb_free(yaml);
    e->manifest = m;
    mb_strlcpy(e->id, m->id, sizeof(e->id));
    mb_strlcpy(e->version, m->version_text, sizeof(e->version));
    e->kind = (int)m->kind;
    if ((m->domain && !(e->domain = mb_strdup(m->domain))) ||
        !(e->weights = mb_path_join(dir, m->weights_file)))
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    return 0;
}

int mb_packset_open(const char *const *dirs, size_t n, struct mb_backend *be,
                    const struct mb_session_opts *opts, uint64_t mem_budget,
                    struct mb_packset **out, struct mb_err *err)
{
    *out = NULL;
    struct mb_packset *ps = mb_calloc(1, sizeof(*ps));
    struct grave *g = mb_calloc(1, sizeof(*g));
    if (!ps || !g || !(ps->v = mb_calloc(MB_MAX(n, 1), sizeof(*ps->v)))) {
        mb_free(ps);
        mb_free(g);
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    pthread_mutex_init(&g->mu, NULL);
    ps->grave = g;
    ps->be = be;
    ps->general = ps->router = SIZE_MAX;
    ps->tau = MB_MOD_DEFAULT_TAU;
    ps->top_k = MB_MOD_DEFAULT_TOP_K;
    ps->threshold = MB_MOD_DEFAULT_THRESHOLD;
    size_t base = SIZE_MAX;
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        struct mb_packset_entry *e = &ps->v[ps->n++];
        rc = entry_init(e, dirs[i], err);
        for (size_t j = 0; !rc && j + 1 < ps->n; j++)
            if (!strcmp(ps->v[j].id, e->id))
                rc = mb_fail(err, MB_E_USAGE, "pack '%s' is in both %s and %s", e->id, ps->v[j].dir,
                             e->dir);
        if (rc || !e->manifest)
            continue;
        if (e->kind == (int)MB_PACK_BASE) {
            if (base != SIZE_MAX)
                rc = mb_fail(err, MB_E_USAGE, "two base packs: %s and %s (keep one)",
                             ps->v[base].dir, e->dir);
            base = ps->n - 1;
        } else if (e->kind == (int)MB_PACK_ROUTER) {
            ps->router = ps->n - 1;
        } else {
            bool gen = (e->domain && !strcmp(e->domain, "general")) || !strcmp(e->id, "general");
            if (gen && (ps->general == SIZE_MAX || !strcmp(e->id, "general")))
                ps->general = ps->n - 1;
        }
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
    if (!rc) {
        struct mb_pack_cache_ops ops = { cache_load, cache_unload };
        struct mb_pack_cache_opts co;
        mb_pack_cache_opts_init(&co);
        co.budget = mem_budget;
        co.reserved =
            mb_gguf_size(mb_base_gguf(ps->base)) + mb_session_kv_bytes(mb_modular_session(ps->mod));
        rc = mb_pack_cache_new(&ops, ps, &co, &ps->cache, err);
    }
    for (size_t i = 0; !rc && i < ps->n; i++) {
        const struct mb_packset_entry *e = &ps->v[i];
        if (e->kind == (int)MB_PACK_DATA)
            rc = mb_pack_cache_add(ps->cache, e->id, e->dir, file_size(e->weights),
                                   e->manifest && e->manifest->resident, err);
    }
    if (!rc)
        rc = mb_pack_cache_load_residents(ps->cache, err);
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
    ps->mod = NULL;
    for (size_t i = 0; i < ps->n; i++)
        if (ps->v[i].held && ps->cache)
            mb_pack_cache_put(ps->cache, ps->v[i].id);
    mb_pack_cache_free(ps->cache); /* unloads everything into the grave */
    reap(ps);
    for (size_t i = 0; i < ps->n; i++) {
        struct mb_packset_entry *e = &ps->v[i];
        if (e->manifest) {
            mb_manifest_release(e->manifest);
            mb_free(e->manifest);
        }
        mb_free(e->manifest_error);
        mb_free(e->weights);
        mb_free(e->dir);
        mb_free(e->domain);
    }
    mb_free(ps->v);
    mb_base_free(ps->base);
    struct grave *g = ps->grave;
    if (g) {
        pthread_mutex_destroy(&g->mu);
        mb_free(g->v);
        mb_free(g);
    }
    mb_free(ps);
}

size_t mb_packset_find(const struct mb_packset *ps, const char *id)
{
    for (size_t i = 0; i < ps->n; i++)
        if (!strcmp(ps->v[i].id, id))
            return i;
    return SIZE_MAX;
}

void mb_packset_preload(struct mb_packset *ps, const size_t *idx, size_t n)
{
    const char *ids[MB_MODULAR_MAX_PACKS];
    size_t k = 0;
    for (size_t i = 0; i < n && k < MB_MODULAR_MAX_PACKS; i++)
        if (idx[i] < ps->n && !ps->v[idx[i]].held)
            ids[k++] = ps->v[idx[i]].id;
    struct mb_err e2;
    if (k)
        mb_pack_cache_preload(ps->cache, ids, k, &e2);
}

/* ------------------------------------------------------------ selection */

static void warn(struct mb_packset *ps, const char *line)
{
    size_t n = strlen(ps->warn);
    if (n + 2 < sizeof(ps->warn))
        mb_snprintf(ps->warn + n, sizeof(ps->warn) - n, "%s%s", n ? "\n" : "", line);
}

/* The pack to use for entry `want`: itself, or where the fallback walk leads. */
static int fallback(struct mb_packset *ps, size_t want, const char *why, size_t *out,
                    struct mb_err *err)
{
    struct mb_fallback_pack *fp = mb_calloc(MB_MAX(ps->n, 1), sizeof(*fp));
    if (!fp)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    for (size_t i = 0; i < ps->n; i++)
        fp[i] = (struct mb_fallback_pack){ ps->v[i].id, ps->v[i].manifest, ps->v[i].manifest_error,
                                           ps->v[i].weights };
    const struct mb_packset_entry *be = NULL;
    for (size_t i = 0; i < ps->n; i++)
        if (ps->v[i].kind == (int)MB_PACK_BASE && ps->v[i].manifest &&
            !strcmp(ps->v[i].id, ps->base->id))
            be = &ps->v[i];
    struct mb_fallback_base fb = { ps->base->id, be ? &be->manifest->version : NULL,
                                   mb_base_width(ps->base) };
    struct mb_fallback_opts fo = { ps->general != SIZE_MAX ? ps->v[ps->general].id : NULL, NULL,
                                   NULL, false };
    struct mb_fallback_result res;
    int rc = 0;
    if (why) {
        /* the pack passed the checks but failed to load: walk on from it */
        char line[MB_ERR_MSG_MAX + 96];
        mb_snprintf(line, sizeof(line), "pack '%s' failed to load (%s)", ps->v[want].id, why);
        size_t next = SIZE_MAX;
        for (size_t i = 0; ps->v[want].manifest && i < ps->v[want].manifest->nfallback; i++) {
            size_t j = mb_packset_find(ps, ps->v[want].manifest->fallback[i]);
            if (j != SIZE_MAX && j != want &&
                mb_pack_fallback_pick(fp, ps->n, ps->v[j].id, &fb, &fo, &res, err) == 0) {
                next = (size_t)(res.pack - fp);
                break;
            }
        }
        if (next == SIZE_MAX && ps->general != SIZE_MAX && ps->general != want)
            next = ps->general;
        if (next == SIZE_MAX) {
            rc = mb_fail(err, MB_E_NOTFOUND, "%s and there is no pack to fall back to", line);
        } else {
            char full[sizeof(line) + 96];
            mb_snprintf(full, sizeof(full), "%s; using '%s' instead", line, ps->v[next].id);
            warn(ps, full);
            *out = next;
        }
    } else if ((rc = mb_pack_fallback_pick(fp, ps->n, ps->v[want].id, &fb, &fo, &res, err)) == 0) {
        *out = (size_t)(res.pack - fp);
        if (res.warning[0])
            warn(ps, res.warning);
    }
    mb_free(fp);
    return rc;
}

int mb_packset_select(struct mb_packset *ps, const size_t *idx, const float *w, size_t n,
                      struct mb_err *err)
{
    if (n < 1 || n > MB_MODULAR_MAX_PACKS)
        return mb_fail(err, MB_E_USAGE, "select 1 to %d packs, not %zu", MB_MODULAR_MAX_PACKS, n);
    ps->warn[0] = '\0';
    reap(ps);
    size_t use[MB_MODULAR_MAX_PACKS];
    float wu[MB_MODULAR_MAX_PACKS];
    bool got[MB_MODULAR_MAX_PACKS] = { false };
    size_t k = 0;
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        if (idx[i] >= ps->n)
            return mb_fail(err, MB_E_USAGE, "no pack %zu", idx[i]);
        size_t e = idx[i];
        /* a pack already held passed its checks; else walk the fallback list */
        if (!ps->v[e].held && (rc = fallback(ps, e, NULL, &e, err)))
            break;
        for (int tries = 0; !rc && !ps->v[e].held && tries < 8; tries++) {
            void *obj;
            struct mb_err le;
            if (mb_pack_cache_get(ps->cache, ps->v[e].id, &obj, &le) == 0) {
                ps->v[e].pack = obj;
                ps->v[e].held = true;
                got[k] = true;
            } else if (le.code == MB_E_LIMIT) {
                rc = mb_fail(err, MB_E_LIMIT, "%s", le.msg); /* the budget: no fallback helps */
            } else {
                rc = fallback(ps, e, le.msg, &e, err);
            }
        }
        if (!rc && !ps->v[e].held)
            rc = mb_fail(err, MB_E_NOTFOUND, "no usable pack for '%s'", ps->v[idx[i]].id);
        if (rc)
            break;
        size_t j = 0;
        while (j < k && use[j] != e)
            j++;
        if (j < k) {
            wu[j] += w[i]; /* two choices ended at the same pack */
        } else {
            use[k] = e;
            wu[k++] = w[i];
        }
    }
    if (!rc) {
        struct mb_data_pack *packs[MB_MODULAR_MAX_PACKS];
        for (size_t i = 0; i < k; i++)
            packs[i] = ps->v[use[i]].pack;
        rc = mb_modular_select(ps->mod, packs, wu, k, err);
    }
    if (rc) { /* release what this call took; the previous selection stays */
        for (size_t i = 0; i < k; i++)
            if (got[i]) {
                mb_pack_cache_put(ps->cache, ps->v[use[i]].id);
                ps->v[use[i]].held = false;
            }
        return rc;
    }
    /* packs of the previous selection that are not in this one go back to the cache */
    for (size_t i = 0; i < ps->n; i++) {
        if (!ps->v[i].held)
            continue;
        bool keep = false;
        for (size_t j = 0; j < k && !keep; j++)
            keep = use[j] == i;
        if (!keep) {
            mb_pack_cache_put(ps->cache, ps->v[i].id);
            ps->v[i].held = false;
        }
    }
    return 0;
}
