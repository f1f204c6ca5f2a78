/*
 * client_index.c - sparse index access (like cargo's sparse registries): the
 * index records of the pack ids a resolution needs, fetched on demand in
 * parallel and checked against the trusted snapshot (sha256 and size, never a
 * byte more than declared), or read from the cache when the cached file still
 * matches. Each id comes from the registry of highest priority whose snapshot
 * lists it. Also the resolver source built on it (mb_resolver.h), which
 * prefetches dependencies' index files a level ahead.
 */
#include "client_int.h"

static struct loaded_rec *find_loaded(struct mb_client *c, const char *id)
{
    for (size_t i = 0; i < c->nrecs; i++)
        if (!strcmp(c->recs[i]->id, id))
            return c->recs[i];
    return NULL;
}

/* The registry that serves `id`: highest priority first, config order on ties. */
static int pick_registry(struct mb_client *c, const char *id, struct regstate **out,
                         const struct mb_snapshot_entry **entry, struct mb_err *err)
{
    *out = NULL;
    *entry = NULL;
    const struct mb_registry_conf **order;
    int rc = mb_config_by_priority(&c->cfg, &order, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < c->cfg.nregistries && !rc; i++) {
        struct regstate *r = mb_client_reg(c, order[i]->name);
        rc = mb_client_check_fresh(c, r, err);
        if (rc)
            break;
        const struct mb_snapshot_entry *e = mb_snapshot_find(&r->snap, id);
        if (e) {
            *out = r;
            *entry = e;
            break;
        }
    }
    mb_free(order);
    return rc;
}

static int keep_record(struct mb_client *c, const char *id, struct regstate *r, const char *text,
                       size_t n, const char *origin, struct loaded_rec **out, struct mb_err *err)
{
    struct loaded_rec *lr = mb_calloc(1, sizeof(*lr));
    if (!lr)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    lr->id = mb_strdup(id);
    lr->reg = r;
    int rc = lr->id ? mb_index_parse(origin, text, n, id, &lr->rec, err)
                    : mb_fail(err, MB_E_NOMEM, "out of memory");
    if (!rc && c->nrecs == c->caprecs) {
        size_t cap = c->caprecs ? c->caprecs * 2 : 64;
        struct loaded_rec **v = mb_reallocarray(c->recs, cap, sizeof(*v));
        if (!v)
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        else {
            c->recs = v;
            c->caprecs = cap;
        }
    }
    if (rc) {
        mb_free(lr->id);
        mb_free(lr);
        return rc;
    }
    c->recs[c->nrecs++] = lr;
    *out = lr;
    return 0;
}

/* The cached index file, if it still has the snapshot's sha256 and size. */
static bool cached_ok(struct regstate *r, const struct mb_snapshot_entry *e, struct mb_buf *b)
{
    char *path = mb_client_index_path(r, e->id);
    bool ok = false;
    if (path && mb_path_exists(path) && !mb_file_read_all(path, (size_t)e->size, b, NULL) &&
        b->n == e->size)
        ok = !mb_client_check_entry(path, b->p, b->n, e->sha256, e->size, "index file", NULL);
    mb_free(path);
    return ok;
}

int mb_client_get_index(struct mb_client *c, const char *const *ids, size_t n,
                        const struct mb_index_record **out, const char **registry,
                        struct mb_err *err)
{
    struct pending {
        struct checked_fetch cf;
        struct regstate *r;
        const struct mb_snapshot_entry *e;
        size_t idx;
        char rel[MB_PACK_ID_MAX + 16];
    } *pend = NULL;
    size_t npend = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = NULL;
        if (registry)
            registry[i] = NULL;
    }
    pend = mb_calloc(n ? n : 1, sizeof(*pend));
    if (!pend)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        struct mb_err e;
        if (strlen(ids[i]) > MB_PACK_ID_MAX || mb_pack_id_check(ids[i], &e)) {
            rc = mb_fail(err, MB_E_FORMAT, "'%.80s' is not a valid pack id", ids[i]);
            break;
        }
        struct loaded_rec *lr = find_loaded(c, ids[i]);
        if (lr) {
            out[i] = &lr->rec;
            if (registry)
                registry[i] = lr->reg->conf->name;
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < npend && !dup; j++)
            dup = !strcmp(ids[pend[j].idx], ids[i]);
        if (dup)
            continue;
        struct regstate *r;
        const struct mb_snapshot_entry *se;
        rc = pick_registry(c, ids[i], &r, &se, err);
        if (rc || !r)
            continue;
        struct mb_buf b;
        mb_buf_init(&b, (size_t)se->size + 1);
        if (cached_ok(r, se, &b)) {
            char *origin = mb_client_index_path(r, se->id);
            rc = keep_record(c, ids[i], r, b.p, b.n, origin ? origin : se->id, &lr, err);
            mb_free(origin);
            mb_buf_release(&b);
            if (!rc) {
                out[i] = &lr->rec;
                if (registry)
                    registry[i] = r->conf->name;
            }
            continue;
        }
        mb_buf_release(&b);
        struct pending *p = &pend[npend++];
        p->r = r;
        p->e = se;
        p->idx = i;
        snprintf(p->rel, sizeof(p->rel), "index/%s.json", se->id);
        mb_client_checked_fetch_init(&p->cf, se->sha256, se->size, "index file");
        p->cf.m.x.bases = r->bases;
        p->cf.m.x.nbases = r->nbases;
        p->cf.m.x.rel = p->rel;
        p->cf.m.x.compressed = true;
    }
    if (!rc && npend) {
        struct http *h = NULL;
        struct xfer **xs = mb_calloc(npend, sizeof(*xs));
        if (!xs)
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        if (!rc)
            rc = mb_client_http(c, &h, err);
        if (rc && c->opts.offline) {
            rc = mb_fail(err, MB_E_NETWORK,
                         "offline: the index file of '%s' (registry '%s') is not cached",
                         ids[pend[0].idx], pend[0].r->conf->name);
        }
        for (size_t i = 0; !rc && i < npend; i++)
            xs[i] = &pend[i].cf.m.x;
        if (!rc)
            rc = http_run(h, xs, npend, NULL, err);
        for (size_t i = 0; !rc && i < npend; i++) {
            struct pending *p = &pend[i];
            if (p->cf.m.x.rc) {
                rc = p->cf.m.x.rc;
                *err = p->cf.m.x.err;
                break;
            }
            char *path = mb_client_index_path(p->r, p->e->id);
            char *dir = mb_path_join(p->r->dir, "index");
            if (!path || !dir)
                rc = mb_fail(err, MB_E_NOMEM, "out of memory");
            if (!rc)
                rc = mb_mkdir_p(dir, 0755, err);
            /* Parse before caching: a verified but invalid record is the registry's bug. */
            struct loaded_rec *lr = NULL;
            char origin[MB_REGISTRY_URL_MAX + MB_PACK_ID_MAX + 16];
            snprintf(origin, sizeof(origin), "%s%s", p->r->bases[0], p->rel);
            if (!rc)
                rc = keep_record(c, ids[p->idx], p->r, p->cf.m.body.p, p->cf.m.body.n, origin, &lr,
                                 err);
            if (!rc)
                rc = mb_file_write_atomic(path, p->cf.m.body.p, p->cf.m.body.n, 0644, err);
            if (!rc) {
                out[p->idx] = &lr->rec;
                if (registry)
                    registry[p->idx] = p->r->conf->name;
            }
            mb_free(path);
            mb_free(dir);
        }
        mb_free(xs);
    }
    for (size_t i = 0; i < npend; i++)
        memfetch_release(&pend[i].cf.m);
    mb_free(pend);
    /* Duplicates in `ids` resolve to the record loaded for the first. */
    for (size_t i = 0; !rc && i < n; i++) {
        if (out[i])
            continue;
        struct loaded_rec *lr = find_loaded(c, ids[i]);
        if (lr) {
            out[i] = &lr->rec;
            if (registry)
                registry[i] = lr->reg->conf->name;
        }
    }
    return rc;
}

/* ------------------------------------------------------------ resolver source */

static int src_load(void *ud, const char *id, const struct mb_index_record **rec,
                    const char **registry, struct mb_err *err)
{
    struct mb_client *c = ud;
    const char *ids[1] = { id };
    int rc = mb_client_get_index(c, ids, 1, rec, registry, err);
    if (rc)
        return rc;
    if (!*rec)
        return mb_fail(err, MB_E_NOTFOUND, "no configured registry lists '%s'", id);
    /* Prefetch what its versions depend on, in parallel (one level ahead). */
    const char **deps = NULL;
    size_t nd = 0, cap = 0;
    for (size_t i = 0; i < (*rec)->nversions; i++) {
        const struct mb_index_version *v = &(*rec)->versions[i];
        for (size_t j = 0; j < v->ndeps; j++) {
            const char *d = v->deps[j].id;
            bool seen = find_loaded(c, d) != NULL;
            for (size_t k = 0; k < nd && !seen; k++)
                seen = !strcmp(deps[k], d);
            if (seen)
                continue;
            if (nd == cap) {
                cap = cap ? cap * 2 : 16;
                const char **nv = mb_reallocarray(deps, cap, sizeof(*nv));
                if (!nv) {
                    mb_free(deps);
                    return 0; /* prefetching is an optimisation */
                }
                deps = nv;
            }
            deps[nd++] = d;
        }
    }
    if (nd) {
        const struct mb_index_record **tmp = mb_calloc(nd, sizeof(*tmp));
        struct mb_err ignore;
        if (tmp)
            mb_client_get_index(c, deps, nd, tmp, NULL, &ignore);
        mb_free(tmp);
    }
    mb_free(deps);
    return 0;
}

static int src_list_bases(void *ud, char ***ids, size_t *n, struct mb_err *err)
{
    struct mb_client *c = ud;
    *ids = NULL;
    *n = 0;
    const struct mb_registry_conf **order;
    int rc = mb_config_by_priority(&c->cfg, &order, err);
    if (rc)
        return rc;
    size_t cap = 0;
    for (size_t i = 0; !rc && i < c->cfg.nregistries; i++) {
        struct regstate *r = mb_client_reg(c, order[i]->name);
        rc = mb_client_check_fresh(c, r, err);
        for (size_t j = 0; !rc && j < r->snap.npacks; j++) {
            const struct mb_snapshot_entry *e = &r->snap.packs[j];
            if (e->kind != MB_PACK_BASE)
                continue;
            bool seen = false;
            for (size_t k = 0; k < *n && !seen; k++)
                seen = !strcmp((*ids)[k], e->id);
            if (seen)
                continue;
            if (*n == cap) {
                cap = cap ? cap * 2 : 8;
                char **v = mb_reallocarray(*ids, cap, sizeof(*v));
                if (!v) {
                    rc = mb_fail(err, MB_E_NOMEM, "out of memory");
                    break;
                }
                *ids = v;
            }
            if (!((*ids)[*n] = mb_strdup(e->id)))
                rc = mb_fail(err, MB_E_NOMEM, "out of memory");
            else
                (*n)++;
        }
    }
    mb_free(order);
    if (rc) {
        for (size_t i = 0; i < *n; i++)
            mb_free((*ids)[i]);
        mb_free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return rc;
}

struct mb_resolve_source mb_client_source(struct mb_client *c)
{
    struct mb_resolve_source s = { src_load, src_list_bases, c };
    return s;
}
