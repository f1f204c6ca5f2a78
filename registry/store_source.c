/*
 * store_source.c - the resolver source the store solves against. For each
 * pack id it merges, in this order of preference for a given version: the
 * installed version (its pack.yaml on disk, so dependencies are those of what
 * is really installed), local candidates (a .mbpack or bundle named on the
 * command line), and the registries (the remote adapter). The merged record
 * holds shallow copies of versions owned by those three, so it must not
 * outlive them; it only frees its own array.
 */
#include "store_int.h"

struct local_entry {
    char *id;
    enum mb_pack_kind kind;
    struct mb_index_version v;
    struct store_local loc;
};

struct inst_entry {
    char *id;
    bool have_manifest;
    struct mb_manifest m;
    struct mb_index_version v; /* built from the manifest, or a minimal stand-in */
};

struct merged {
    struct mb_index_record rec; /* versions: shallow copies */
    const char *registry;
};

struct store_source {
    const char *home;
    const struct mb_store_state *state;
    const struct mb_store_remote *remote;
    struct local_entry *locals;
    size_t nlocals;
    struct inst_entry *inst;
    size_t ninst;
    struct merged **recs;
    size_t nrecs;
};

void store_local_release(struct store_local *l)
{
    if (!l)
        return;
    mb_free(l->id);
    mb_free(l->version);
    mb_free(l->path);
    mb_free(l->member);
    mb_free(l->origin);
    memset(l, 0, sizeof(*l));
}

int store_source_new(const char *home, const struct mb_store_state *state,
                     const struct mb_store_remote *remote, struct store_source **out,
                     struct mb_err *err)
{
    *out = mb_calloc(1, sizeof(**out));
    if (!*out)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    (*out)->home = home;
    (*out)->state = state;
    (*out)->remote = remote;
    return 0;
}

void store_source_free(struct store_source *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nrecs; i++) {
        mb_free(s->recs[i]->rec.versions); /* shallow copies: contents not ours */
        mb_free(s->recs[i]->rec.id);
        mb_free(s->recs[i]);
    }
    mb_free(s->recs);
    for (size_t i = 0; i < s->nlocals; i++) {
        mb_free(s->locals[i].id);
        mb_index_version_release(&s->locals[i].v);
        store_local_release(&s->locals[i].loc);
    }
    mb_free(s->locals);
    for (size_t i = 0; i < s->ninst; i++) {
        mb_free(s->inst[i].id);
        mb_manifest_release(&s->inst[i].m);
        mb_index_version_release(&s->inst[i].v);
    }
    mb_free(s->inst);
    mb_free(s);
}

int store_source_add_local(struct store_source *s, const char *id, enum mb_pack_kind kind,
                           struct mb_index_version *v, struct store_local *loc, struct mb_err *err)
{
    for (size_t i = 0; i < s->nlocals; i++)
        if (!strcmp(s->locals[i].id, id) && !mb_semver_cmp(&s->locals[i].v.version, &v->version))
            return mb_fail(err, MB_E_USAGE, "'%s' %s is given twice (%s and %s)", id,
                           v->version_text, s->locals[i].loc.path, loc->path);
    struct local_entry *n = mb_reallocarray(s->locals, s->nlocals + 1, sizeof(*n));
    if (!n)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    s->locals = n;
    struct local_entry *e = &s->locals[s->nlocals];
    memset(e, 0, sizeof(*e));
    e->id = mb_strdup(id);
    if (!e->id)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    e->kind = kind;
    e->v = *v;
    e->loc = *loc;
    memset(v, 0, sizeof(*v));
    memset(loc, 0, sizeof(*loc));
    s->nlocals++;
    return 0;
}

const struct store_local *store_source_local(const struct store_source *s, const char *id,
                                             const char *version)
{
    struct mb_semver want;
    if (mb_semver_parse_cstr(version, &want, NULL))
        return NULL;
    for (size_t i = 0; i < s->nlocals; i++)
        if (!strcmp(s->locals[i].id, id) && !mb_semver_cmp(&s->locals[i].v.version, &want))
            return &s->locals[i].loc;
    return NULL;
}

/* The installed pack's entry: its manifest loaded from packs/ on first use. */
static struct inst_entry *installed(struct store_source *s, const char *id, struct mb_err *err)
{
    const struct mb_store_pack *p = mb_store_state_find(s->state, id);
    if (!p)
        return NULL;
    for (size_t i = 0; i < s->ninst; i++)
        if (!strcmp(s->inst[i].id, id))
            return &s->inst[i];
    struct inst_entry *n = mb_reallocarray(s->inst, s->ninst + 1, sizeof(*n));
    if (!n) {
        mb_fail(err, MB_E_NOMEM, "out of memory");
        return NULL;
    }
    s->inst = n;
    struct inst_entry *e = &s->inst[s->ninst];
    memset(e, 0, sizeof(*e));
    e->id = mb_strdup(id);
    if (!e->id) {
        mb_fail(err, MB_E_NOMEM, "out of memory");
        return NULL;
    }
    s->ninst++;
    char dir[STORE_PATH_MAX];
    char *yaml = NULL;
    if (mb_store_pack_dir(dir, sizeof(dir), s->home, p->id, p->version))
        yaml = mb_path_join(dir, "pack.yaml");
    struct mb_err e2;
    /*
     * A pack.yaml that is gone or damaged (pack verify reports it) must not
     * block the reinstall that fixes it: fall back to what state.json knows.
     */
    if (yaml && !mb_manifest_load(yaml, &e->m, &e2) && !strcmp(e->m.id, p->id) &&
        !strcmp(e->m.version_text, p->version) && e->m.kind == p->kind) {
        e->have_manifest = true;
        if (mb_index_version_from_manifest(&e->m, &e->v, err)) {
            mb_free(yaml);
            return NULL;
        }
    } else {
        mb_manifest_release(&e->m);
        e->v.version_text = mb_strdup(p->version);
        if (!e->v.version_text || mb_semver_parse_cstr(e->v.version_text, &e->v.version, err)) {
            mb_free(yaml);
            mb_fail(err, MB_E_NOMEM, "out of memory");
            return NULL;
        }
        e->v.resident = p->resident;
    }
    mb_free(yaml);
    e->v.size = p->archive_size;
    memcpy(e->v.sha256, p->archive_sha256, MB_SHA256_HEX);
    return e;
}

const struct mb_manifest *store_source_installed_manifest(struct store_source *s, const char *id,
                                                          struct mb_err *err)
{
    struct inst_entry *e = installed(s, id, err);
    return e && e->have_manifest ? &e->m : NULL;
}

static int cmp_ver(const void *a, const void *b)
{
    return mb_semver_cmp(&((const struct mb_index_version *)a)->version,
                         &((const struct mb_index_version *)b)->version);
}

/* Append a shallow copy unless a version of equal precedence is already there. */
static int merge_version(struct merged *m, const struct mb_index_version *v, struct mb_err *err)
{
    for (size_t i = 0; i < m->rec.nversions; i++)
        if (!mb_semver_cmp(&m->rec.versions[i].version, &v->version))
            return 0;
    if (m->rec.nversions >= MB_INDEX_MAX_VERSIONS * 2)
        return mb_fail(err, MB_E_LIMIT, "'%s': too many versions", m->rec.id);
    struct mb_index_version *n = mb_reallocarray(m->rec.versions, m->rec.nversions + 1, sizeof(*n));
    if (!n)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    m->rec.versions = n;
    m->rec.versions[m->rec.nversions++] = *v;
    return 0;
}

static int kind_check(struct merged *m, bool *have_kind, enum mb_pack_kind k, const char *where,
                      struct mb_err *err)
{
    if (*have_kind && m->rec.kind != k)
        return mb_fail(err, MB_E_FORMAT, "'%s' is a %s pack, but %s says it is a %s pack",
                       m->rec.id, mb_pack_kind_name(m->rec.kind), where, mb_pack_kind_name(k));
    m->rec.kind = k;
    *have_kind = true;
    return 0;
}

/* Registry failures that mean "cannot ask now" rather than "the answer is bad". */
static bool is_soft(int code)
{
    return code == MB_E_NETWORK || code == MB_E_STATE;
}

static int src_load(void *ud, const char *id, const struct mb_index_record **rec,
                    const char **registry, struct mb_err *err)
{
    struct store_source *s = ud;
    for (size_t i = 0; i < s->nrecs; i++)
        if (!strcmp(s->recs[i]->rec.id, id)) {
            *rec = &s->recs[i]->rec;
            *registry = s->recs[i]->registry;
            return 0;
        }
    struct merged *m = mb_calloc(1, sizeof(*m));
    if (!m)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    m->rec.id = mb_strdup(id);
    m->registry = "local";
    bool have_kind = false;
    int rc = m->rec.id ? 0 : mb_fail(err, MB_E_NOMEM, "out of memory");
    const struct mb_store_pack *ip = mb_store_state_find(s->state, id);
    if (!rc && ip) {
        struct inst_entry *e = installed(s, id, err);
        if (!e)
            rc = err ? err->code : MB_E_NOMEM;
        if (!rc)
            rc = kind_check(m, &have_kind, ip->kind, "state.json", err);
        if (!rc)
            rc = merge_version(m, &e->v, err);
    }
    for (size_t i = 0; !rc && i < s->nlocals; i++)
        if (!strcmp(s->locals[i].id, id)) {
            rc = kind_check(m, &have_kind, s->locals[i].kind, s->locals[i].loc.path, err);
            if (!rc)
                rc = merge_version(m, &s->locals[i].v, err);
        }
    if (!rc && s->remote && s->remote->src.load) {
        const struct mb_index_record *r;
        const char *reg;
        struct mb_err e2;
        mb_err_init(&e2);
        int lrc = s->remote->src.load(s->remote->src.ud, id, &r, &reg, &e2);
        if (!lrc) {
            m->registry = reg;
            rc = kind_check(m, &have_kind, r->kind, reg, err);
            for (size_t i = 0; !rc && i < r->nversions; i++)
                rc = merge_version(m, &r->versions[i], err);
        } else if (lrc != MB_E_NOTFOUND && (m->rec.nversions == 0 || !is_soft(lrc))) {
            rc = mb_fail(err, lrc, "%s", e2.msg);
        }
        /*
         * A registry that cannot answer right now (network, offline, expired
         * snapshot) does not block what is installed or given locally: such
         * an id is solved with those versions only.
         */
    }
    if (!rc && m->rec.nversions == 0)
        rc = mb_fail(err, MB_E_NOTFOUND, "unknown pack '%s': not installed%s", id,
                     s->remote ? ", and no configured registry has it" : " (and no registry used)");
    struct merged **n = rc ? NULL : mb_reallocarray(s->recs, s->nrecs + 1, sizeof(*n));
    if (!rc && !n)
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
    if (rc) {
        mb_free(m->rec.versions);
        mb_free(m->rec.id);
        mb_free(m);
        return rc;
    }
    qsort(m->rec.versions, m->rec.nversions, sizeof(*m->rec.versions), cmp_ver);
    s->recs = n;
    s->recs[s->nrecs++] = m;
    *rec = &m->rec;
    *registry = m->registry;
    return 0;
}

static int push_id(char ***ids, size_t *n, const char *id, struct mb_err *err)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*ids)[i], id))
            return 0;
    char **v = mb_reallocarray(*ids, *n + 1, sizeof(*v));
    if (!v)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    *ids = v;
    v[*n] = mb_strdup(id);
    if (!v[*n])
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    (*n)++;
    return 0;
}

static int src_list_bases(void *ud, char ***ids, size_t *n, struct mb_err *err)
{
    struct store_source *s = ud;
    *ids = NULL;
    *n = 0;
    int rc = 0;
    for (size_t i = 0; !rc && i < s->state->n; i++)
        if (s->state->packs[i].kind == MB_PACK_BASE)
            rc = push_id(ids, n, s->state->packs[i].id, err);
    for (size_t i = 0; !rc && i < s->nlocals; i++)
        if (s->locals[i].kind == MB_PACK_BASE)
            rc = push_id(ids, n, s->locals[i].id, err);
    if (!rc && s->remote && s->remote->src.list_bases) {
        char **r = NULL;
        size_t nr = 0;
        rc = s->remote->src.list_bases(s->remote->src.ud, &r, &nr, err);
        for (size_t i = 0; i < nr; i++) {
            if (!rc)
                rc = push_id(ids, n, r[i], err);
            mb_free(r[i]);
        }
        mb_free(r);
    }
    if (rc) {
        for (size_t i = 0; i < *n; i++)
            mb_free((*ids)[i]);
        mb_free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return rc;
}

struct mb_resolve_source store_source_get(struct store_source *s)
{
    struct mb_resolve_source src = { src_load, src_list_bases, s };
    return src;
}

const struct mb_index_version *store_source_version(const struct store_source *s, const char *id,
                                                    const char *version)
{
    struct mb_semver want;
    if (mb_semver_parse_cstr(version, &want, NULL))
        return NULL;
    for (size_t i = 0; i < s->nrecs; i++) {
        if (strcmp(s->recs[i]->rec.id, id))
            continue;
        for (size_t j = 0; j < s->recs[i]->rec.nversions; j++)
            if (!mb_semver_cmp(&s->recs[i]->rec.versions[j].version, &want))
                return &s->recs[i]->rec.versions[j];
    }
    return NULL;
}

const struct mb_index_version *store_source_remote_version(struct store_source *s, const char *id,
                                                           const char *version,
                                                           const char **registry)
{
    struct mb_semver want;
    if (!s->remote || !s->remote->src.load || mb_semver_parse_cstr(version, &want, NULL))
        return NULL;
    const struct mb_index_record *r;
    struct mb_err e;
    if (s->remote->src.load(s->remote->src.ud, id, &r, registry, &e))
        return NULL;
    for (size_t i = 0; i < r->nversions; i++)
        if (!mb_semver_cmp(&r->versions[i].version, &want))
            return &r->versions[i];
    return NULL;
}
