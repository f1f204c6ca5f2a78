/*
 * packages.c - turns index records into the solver's packages and
 * incompatibilities: lazy loading through the source, each package's version
 * universe (yanked versions only when pinned), the virtual base package and
 * the "exactly one base" rule, the request, lock pins, and the dependencies,
 * base requirements and conflicts of a chosen version, collapsed over
 * adjacent versions that share them (pub's package_lister idea), plus the
 * version preference order.
 */
#include "solver_int.h"

static uint32_t hash_id(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static int table_insert(struct solver *s, uint32_t idx)
{
    if ((s->npkgs + 1) * 2 > s->table_cap) {
        uint32_t cap = s->table_cap ? s->table_cap * 2 : 1024;
        int32_t *t = mb_malloc(cap * sizeof(*t));
        if (!t)
            return mb_solver_nomem(s);
        for (uint32_t i = 0; i < cap; i++)
            t[i] = -1;
        for (uint32_t i = 0; i < s->table_cap; i++) {
            int32_t v = s->table[i];
            if (v < 0 || s->pkgs[v].type != PKG_REAL)
                continue;
            uint32_t h = hash_id(s->pkgs[v].id) & (cap - 1);
            while (t[h] >= 0)
                h = (h + 1) & (cap - 1);
            t[h] = v;
        }
        mb_free(s->table);
        s->table = t;
        s->table_cap = cap;
    }
    uint32_t h = hash_id(s->pkgs[idx].id) & (s->table_cap - 1);
    while (s->table[h] >= 0)
        h = (h + 1) & (s->table_cap - 1);
    s->table[h] = (int32_t)idx;
    return 0;
}

static int32_t table_find(const struct solver *s, const char *id)
{
    if (!s->table_cap)
        return -1;
    uint32_t h = hash_id(id) & (s->table_cap - 1);
    while (s->table[h] >= 0) {
        const struct pkg *p = &s->pkgs[s->table[h]];
        if (p->type == PKG_REAL && !strcmp(p->id, id))
            return s->table[h];
        h = (h + 1) & (s->table_cap - 1);
    }
    return -1;
}

static int32_t new_pkg(struct solver *s, const char *id, enum pkg_type type)
{
    if (s->npkgs == s->cappkgs) {
        uint32_t c = s->cappkgs ? s->cappkgs * 2 : 64;
        struct pkg *v = mb_reallocarray(s->pkgs, c, sizeof(*v));
        if (!v) {
            mb_solver_nomem(s);
            return -1;
        }
        s->pkgs = v;
        s->cappkgs = c;
    }
    struct pkg *p = &s->pkgs[s->npkgs];
    memset(p, 0, sizeof(*p));
    p->id = mb_arena_strndup(&s->arena, id, strlen(id));
    if (!p->id) {
        mb_solver_nomem(s);
        return -1;
    }
    p->type = type;
    p->decision = -1;
    p->prefer_lock = p->prefer_installed = p->lock_ver = -1;
    return (int32_t)s->npkgs++;
}

/* Allocate the universe-sized bitsets once nver is known. */
static int finish_universe(struct solver *s, struct pkg *p)
{
    /* One extra bit, after the real versions: the "phantom" version (see solver_int.h). */
    p->nwords = (p->nver + 1 + 63) / 64;
    p->full = mb_bits_new(s, p->nwords);
    p->deps_done = mb_bits_new(s, p->nwords);
    if (!p->full || !p->deps_done)
        return mb_solver_nomem(s);
    for (uint32_t i = 0; i <= p->nver; i++)
        mb_bits_set(p->full, i);
    return 0;
}

static const struct mb_lock_entry *lock_entry(const struct mb_lock *l, const char *id)
{
    return l ? mb_lock_find(l, id) : NULL;
}

/* Index of `version` in the package's universe, or -1. */
static int32_t find_version(const struct pkg *p, const char *version)
{
    struct mb_semver v;
    struct mb_err e;
    if (mb_semver_parse_cstr(version, &v, &e))
        return -1;
    for (uint32_t i = 0; i < p->nver; i++)
        if (!mb_semver_cmp(&p->vers[i].v->version, &v))
            return (int32_t)i;
    return -1;
}

/* A full term for package `pkg` (every version). */
static struct term full_term(struct solver *s, int32_t pkg, bool pos)
{
    struct term t = { pkg, pos, s->pkgs[pkg].full, NULL };
    return t;
}

int mb_solver_pkg(struct solver *s, const char *id, int32_t *out)
{
    int32_t found = table_find(s, id);
    if (found >= 0) {
        *out = found;
        return 0;
    }
    int32_t idx = new_pkg(s, id, PKG_REAL);
    if (idx < 0)
        return s->err->code;
    int rc = table_insert(s, (uint32_t)idx);
    if (rc)
        return rc;
    const struct mb_index_record *rec = NULL;
    const char *registry = NULL;
    uint64_t t0 = mb_now_ns();
    struct mb_err lerr;
    mb_err_init(&lerr);
    rc = s->src->load(s->src->ud, id, &rec, &registry, &lerr);
    s->stats.load_ns += mb_now_ns() - t0;
    struct pkg *p = &s->pkgs[idx];
    if (rc == MB_E_NOTFOUND) {
        p->unknown = true;
        rc = finish_universe(s, p);
        if (rc)
            return rc;
        struct term t = full_term(s, idx, true);
        *out = idx;
        return mb_solver_new_inc(s, &t, 1, C_UNKNOWN, -1, -1, true) < 0 ? s->err->code : 0;
    }
    if (rc) {
        if (s->err) {
            s->err->code = lerr.code;
            memcpy(s->err->msg, lerr.msg, sizeof(lerr.msg));
        }
        return rc;
    }
    s->stats.packages++;
    p->rec = rec;
    p->registry = registry;
    p->is_base = rec->kind == MB_PACK_BASE;
    const struct mb_resolve_opts *o = s->opts;
    const struct mb_lock_entry *le = lock_entry(o->lock, id);
    const struct mb_lock_entry *ie = lock_entry(o->installed, id);
    p->vers =
        mb_arena_alloc(&s->arena, (rec->nversions ? rec->nversions : 1) * sizeof(*p->vers), 8);
    if (!p->vers)
        return mb_solver_nomem(s);
    for (size_t i = 0; i < rec->nversions; i++) {
        const struct mb_index_version *v = &rec->versions[i];
        bool pinned = (le && !strcmp(le->version, v->version_text)) ||
                      (ie && !strcmp(ie->version, v->version_text));
        if (!pinned && (le || ie)) {
            /* Compare by precedence too: "1.0.0" pins "1.0.0+build". */
            struct mb_semver a;
            struct mb_err e;
            if (le && !mb_semver_parse_cstr(le->version, &a, &e))
                pinned |= !mb_semver_cmp(&a, &v->version);
            if (ie && !mb_semver_parse_cstr(ie->version, &a, &e))
                pinned |= !mb_semver_cmp(&a, &v->version);
        }
        if (v->yanked && !pinned)
            continue;
        struct uver *u = &p->vers[p->nver++];
        u->v = v;
        u->yanked = v->yanked;
        u->base_pkg = u->base_ver = -1;
    }
    rc = finish_universe(s, p);
    if (rc)
        return rc;
    if (le)
        p->prefer_lock = find_version(p, le->version);
    if (ie)
        p->prefer_installed = find_version(p, ie->version);
    *out = idx;
    if (o->locked && o->lock) {
        if (!le) {
            struct term t = full_term(s, idx, true);
            if (mb_solver_new_inc(s, &t, 1, C_NOT_LOCKED, -1, -1, true) < 0)
                return s->err->code;
        } else if (p->prefer_lock < 0) {
            struct term t = full_term(s, idx, true);
            int32_t id2 = mb_solver_new_inc(s, &t, 1, C_LOCK_GONE, -1, -1, true);
            if (id2 < 0)
                return s->err->code;
            s->incs[id2].note = le->version;
        } else {
            p->lock_ver = p->prefer_lock;
            struct term t = { idx, true, mb_bits_copy(s, p->full, p->nwords), NULL };
            if (!t.set)
                return mb_solver_nomem(s);
            t.set[p->lock_ver / 64] &= ~(1ull << (p->lock_ver % 64));
            int32_t id2 = mb_solver_new_inc(s, &t, 1, C_LOCK_PIN, -1, -1, true);
            if (id2 < 0)
                return s->err->code;
            s->incs[id2].note = p->vers[p->lock_ver].v->version_text;
        }
    }
    return 0;
}

uint64_t *mb_solver_range_set(struct solver *s, int32_t pkg, const struct mb_range *ranges,
                              size_t nranges)
{
    struct pkg *p = &s->pkgs[pkg];
    uint64_t *set = mb_bits_new(s, p->nwords);
    if (!set)
        return NULL;
    bool incpre = s->opts->include_prerelease, any = false;
    for (uint32_t i = 0; i < p->nver; i++) {
        const struct mb_semver *v = &p->vers[i].v->version;
        for (size_t r = 0; r < nranges; r++) {
            if (mb_range_satisfies(&ranges[r], v, incpre)) {
                mb_bits_set(set, i);
                any = true;
                break;
            }
        }
    }
    if (!any)
        mb_bits_set(set, p->nver); /* a range no known version matches: the phantom */
    return set;
}

/* ------------------------------------------------------------ bases */

static int cmp_entry_version(const struct uver *a, const struct uver *b, const struct solver *s)
{
    int c = mb_semver_cmp(&a->v->version, &b->v->version);
    if (c)
        return c;
    return strcmp(s->pkgs[a->base_pkg].id, s->pkgs[b->base_pkg].id);
}

static int add_base_candidate(struct solver *s, const char *id)
{
    int32_t idx;
    int rc = mb_solver_pkg(s, id, &idx);
    if (rc)
        return rc;
    struct pkg *p = &s->pkgs[idx];
    if (!p->is_base || p->in_base_universe)
        return 0;
    p->in_base_universe = true;
    int32_t *b = mb_reallocarray(s->bases, s->nbases + 1, sizeof(*b));
    if (!b)
        return mb_solver_nomem(s);
    s->bases = b;
    s->bases[s->nbases++] = idx;
    return 0;
}

/*
 * Fix the base universe before solving: the base packs among the requests
 * (then no other base can be chosen), else every base the source lists plus
 * the installed and locked ones. Then build the virtual package "base".
 */
int mb_solver_init_bases(struct solver *s)
{
    const struct mb_resolve_opts *o = s->opts;
    int rc;
    s->root = new_pkg(s, "you", PKG_ROOT);
    if (s->root < 0)
        return s->err->code;
    s->pkgs[s->root].nver = 1;
    s->pkgs[s->root].vers = mb_arena_alloc(&s->arena, sizeof(struct uver), 8);
    if (!s->pkgs[s->root].vers)
        return mb_solver_nomem(s);
    rc = finish_universe(s, &s->pkgs[s->root]);
    if (rc)
        return rc;
    s->vbase = new_pkg(s, "base", PKG_VBASE);
    if (s->vbase < 0)
        return s->err->code;
    for (size_t i = 0; i < o->nrequests; i++) {
        rc = add_base_candidate(s, o->requests[i].id);
        if (rc)
            return rc;
    }
    s->bases_restricted = s->nbases > 0;
    if (!s->bases_restricted) {
        for (size_t k = 0; k < 2; k++) {
            const struct mb_lock *l = k ? o->lock : o->installed;
            for (size_t i = 0; l && i < l->n; i++) {
                rc = add_base_candidate(s, l->v[i].id);
                if (rc)
                    return rc;
            }
        }
        if (s->src->list_bases) {
            char **ids = NULL;
            size_t n = 0;
            uint64_t t0 = mb_now_ns();
            rc = s->src->list_bases(s->src->ud, &ids, &n, s->err);
            s->stats.load_ns += mb_now_ns() - t0;
            for (size_t i = 0; !rc && i < n; i++)
                rc = add_base_candidate(s, ids[i]);
            for (size_t i = 0; i < n; i++)
                mb_free(ids[i]);
            mb_free(ids);
            if (rc)
                return rc;
        }
    }
    /* The virtual package's versions: every (base pack, version), by version then id. */
    struct pkg *vb = &s->pkgs[s->vbase];
    uint32_t total = 0;
    for (uint32_t i = 0; i < s->nbases; i++)
        total += s->pkgs[s->bases[i]].nver;
    vb->vers = mb_arena_alloc(&s->arena, (total ? total : 1) * sizeof(*vb->vers), 8);
    if (!vb->vers)
        return mb_solver_nomem(s);
    for (uint32_t i = 0; i < s->nbases; i++) {
        const struct pkg *b = &s->pkgs[s->bases[i]];
        for (uint32_t j = 0; j < b->nver; j++) {
            struct uver u = b->vers[j];
            u.base_pkg = s->bases[i];
            u.base_ver = (int32_t)j;
            /* insertion sort: the universe is small */
            uint32_t k = vb->nver++;
            while (k > 0 && cmp_entry_version(&vb->vers[k - 1], &u, s) > 0) {
                vb->vers[k] = vb->vers[k - 1];
                k--;
            }
            vb->vers[k] = u;
        }
    }
    return finish_universe(s, vb);
}

int mb_solver_add_root_incs(struct solver *s)
{
    struct term t = full_term(s, s->root, false);
    if (mb_solver_new_inc(s, &t, 1, C_ROOT, -1, -1, true) < 0)
        return s->err->code;
    return 0;
}

/* The root's "dependencies": the requests and the need for a base. */
static int root_incs(struct solver *s)
{
    const struct mb_resolve_opts *o = s->opts;
    for (size_t i = 0; i < o->nrequests; i++) {
        int32_t idx;
        int rc = mb_solver_pkg(s, o->requests[i].id, &idx);
        if (rc)
            return rc;
        s->pkgs[idx].requested = true;
        uint64_t *set = mb_solver_range_set(s, idx, &o->requests[i].range, 1);
        if (!set)
            return mb_solver_nomem(s);
        struct term terms[2] = { full_term(s, s->root, true),
                                 { idx, false, set, o->requests[i].range_text } };
        if (mb_solver_new_inc(s, terms, 2, C_REQUEST, -1, -1, true) < 0)
            return s->err->code;
    }
    struct term terms[2] = { full_term(s, s->root, true), full_term(s, s->vbase, false) };
    if (mb_solver_new_inc(s, terms, 2, C_BASE_NEEDED, -1, -1, true) < 0)
        return s->err->code;
    return 0;
}

/* ------------------------------------------------------------ a version's facts */

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static const struct mb_manifest_dep *find_dep(const struct mb_index_version *v, const char *id)
{
    for (size_t i = 0; i < v->ndeps; i++)
        if (!strcmp(v->deps[i].id, id))
            return &v->deps[i];
    return NULL;
}

static const struct mb_manifest_conflict *find_conflict(const struct mb_index_version *v,
                                                        const char *id)
{
    for (size_t i = 0; i < v->nconflicts; i++)
        if (!strcmp(v->conflicts[i].id, id))
            return &v->conflicts[i];
    return NULL;
}

static bool same_base_req(const struct mb_index_version *a, const struct mb_index_version *b)
{
    if (!same_str(a->base, b->base) || a->nbase_compat != b->nbase_compat)
        return false;
    for (size_t i = 0; i < a->nbase_compat; i++)
        if (strcmp(a->base_compat[i], b->base_compat[i]))
            return false;
    return true;
}

enum fact { F_DEP, F_CONFLICT, F_BASE };

/* Whether version `u` of the package has the same fact as `v` (for collapsing). */
static bool same_fact(const struct mb_index_version *u, const struct mb_index_version *v,
                      enum fact kind, const char *id)
{
    if (kind == F_BASE)
        return same_base_req(u, v);
    if (kind == F_DEP) {
        const struct mb_manifest_dep *a = find_dep(u, id), *b = find_dep(v, id);
        return a && b && !strcmp(a->version, b->version);
    }
    const struct mb_manifest_conflict *a = find_conflict(u, id), *b = find_conflict(v, id);
    return a && b && same_str(a->version, b->version);
}

/*
 * The run of adjacent versions around `ver` sharing the fact, as a set. Sets
 * *dup when a version of the run already had its facts added (then the same
 * incompatibility exists and is skipped).
 */
static uint64_t *fact_run(struct solver *s, int32_t pkg, uint32_t ver, enum fact kind,
                          const char *id, bool *dup)
{
    struct pkg *p = &s->pkgs[pkg];
    const struct mb_index_version *v = p->vers[ver].v;
    uint32_t lo = ver, hi = ver;
    while (lo > 0 && same_fact(p->vers[lo - 1].v, v, kind, id))
        lo--;
    while (hi + 1 < p->nver && same_fact(p->vers[hi + 1].v, v, kind, id))
        hi++;
    uint64_t *set = mb_bits_new(s, p->nwords);
    if (!set)
        return NULL;
    *dup = false;
    for (uint32_t i = lo; i <= hi; i++) {
        mb_bits_set(set, i);
        if (i != ver && mb_bits_has(p->deps_done, i))
            *dup = true;
    }
    return set;
}

static char *join_compat(struct solver *s, const struct mb_index_version *v)
{
    size_t len = 1;
    for (size_t i = 0; i < v->nbase_compat; i++)
        len += strlen(v->base_compat[i]) + 4;
    char *out = mb_arena_alloc(&s->arena, len, 1);
    if (!out)
        return NULL;
    out[0] = '\0';
    size_t o = 0;
    for (size_t i = 0; i < v->nbase_compat; i++) {
        int n = snprintf(out + o, len - o, "%s%s", i ? " || " : "", v->base_compat[i]);
        o += (size_t)n;
    }
    return out;
}

/* B provides the virtual base: {B any, not base <B's entries>}. */
static int add_provides(struct solver *s, int32_t pkg)
{
    struct pkg *p = &s->pkgs[pkg];
    if (p->provides_added)
        return 0;
    p->provides_added = true;
    if (!p->in_base_universe) {
        struct term t = full_term(s, pkg, true);
        return mb_solver_new_inc(s, &t, 1, C_OTHER_BASE, -1, -1, true) < 0 ? s->err->code : 0;
    }
    struct pkg *vb = &s->pkgs[s->vbase];
    uint64_t *set = mb_bits_new(s, vb->nwords);
    if (!set)
        return mb_solver_nomem(s);
    for (uint32_t i = 0; i < vb->nver; i++)
        if (vb->vers[i].base_pkg == pkg)
            mb_bits_set(set, i);
    struct term terms[2] = { full_term(s, pkg, true), { s->vbase, false, set, NULL } };
    return mb_solver_new_inc(s, terms, 2, C_PROVIDES, -1, -1, true) < 0 ? s->err->code : 0;
}

/* Whether version `ver` of pkg depends on `did` with a range no known version matches. */
static bool dep_impossible(struct solver *s, int32_t pkg, uint32_t ver, const char *did,
                           int32_t target)
{
    const struct mb_manifest_dep *d = find_dep(s->pkgs[pkg].vers[ver].v, did);
    if (!d)
        return false;
    const struct pkg *t = &s->pkgs[target];
    for (uint32_t i = 0; i < t->nver; i++)
        if (mb_range_satisfies(&d->range, &t->vers[i].v->version, s->opts->include_prerelease))
            return false;
    return true;
}

/*
 * Adjacent versions that each depend on `did` with a range matching none of
 * its versions (pub's package_lister does the same for versions that cannot
 * be selected): when the run spans several different ranges, one
 * incompatibility forbids it all, so 500 versions failing for 500 reasons
 * are explained in one line. Returns 1 when added (or already there), 0 when
 * the ordinary per-range dependency should be used, -1 on error.
 */
static int impossible_run(struct solver *s, int32_t pkg, uint32_t ver, const char *did,
                          int32_t target)
{
    struct pkg *p = &s->pkgs[pkg];
    uint32_t lo = ver, hi = ver;
    while (lo > 0 && dep_impossible(s, pkg, lo - 1, did, target))
        lo--;
    while (hi + 1 < p->nver && dep_impossible(s, pkg, hi + 1, did, target))
        hi++;
    bool varied = false;
    const char *r0 = find_dep(p->vers[lo].v, did)->version;
    for (uint32_t i = lo + 1; i <= hi && !varied; i++)
        varied = strcmp(find_dep(p->vers[i].v, did)->version, r0) != 0;
    if (!varied)
        return 0;
    for (uint32_t i = 0; i < p->nincs; i++) {
        const struct inc *in = &s->incs[p->incs[i]];
        if (in->cause == C_DEP_NONE && in->other == target && in->lo == lo && in->hi == hi)
            return 1;
    }
    uint64_t *set = mb_bits_new(s, p->nwords);
    if (!set) {
        mb_solver_nomem(s);
        return -1;
    }
    for (uint32_t i = lo; i <= hi; i++)
        mb_bits_set(set, i);
    struct term t = { pkg, true, set, NULL };
    int32_t id = mb_solver_new_inc(s, &t, 1, C_DEP_NONE, -1, -1, true);
    if (id < 0)
        return -1;
    s->incs[id].other = target;
    s->incs[id].lo = lo;
    s->incs[id].hi = hi;
    return 1;
}

int mb_solver_version_incs(struct solver *s, int32_t pkg, uint32_t ver, int32_t *first_new)
{
    *first_new = (int32_t)s->nincs;
    struct pkg *p = &s->pkgs[pkg];
    if (p->type == PKG_ROOT) {
        mb_bits_set(p->deps_done, ver);
        return root_incs(s);
    }
    if (p->type == PKG_VBASE) {
        /* The base (B, v) is provided by B v. */
        const struct uver *u = &p->vers[ver];
        struct pkg *b = &s->pkgs[u->base_pkg];
        uint64_t *one = mb_bits_new(s, p->nwords), *bset = mb_bits_new(s, b->nwords);
        if (!one || !bset)
            return mb_solver_nomem(s);
        mb_bits_set(one, ver);
        mb_bits_set(bset, (uint32_t)u->base_ver);
        struct term terms[2] = { { s->vbase, true, one, NULL },
                                 { u->base_pkg, false, bset, NULL } };
        if (mb_bits_has(p->deps_done, ver))
            return 0;
        mb_bits_set(p->deps_done, ver);
        return mb_solver_new_inc(s, terms, 2, C_BASE_ENTRY, -1, -1, true) < 0 ? s->err->code : 0;
    }
    if (mb_bits_has(p->deps_done, ver))
        return 0;
    const struct mb_index_version *v = p->vers[ver].v;
    int rc;
    if (p->is_base) {
        rc = add_provides(s, pkg);
        if (rc)
            return rc;
    } else if (v->nbase_compat) {
        bool dup;
        uint64_t *run = fact_run(s, pkg, ver, F_BASE, NULL, &dup);
        char *label = join_compat(s, v);
        if (!run || !label)
            return mb_solver_nomem(s);
        p = &s->pkgs[pkg];
        if (!dup) {
            int32_t target = s->vbase;
            enum cause cause = C_BASE_COMPAT;
            if (v->base) {
                rc = mb_solver_pkg(s, v->base, &target);
                if (rc)
                    return rc;
                cause = C_BASE_FAMILY;
                p = &s->pkgs[pkg];
                v = p->vers[ver].v;
            }
            uint64_t *set =
                s->pkgs[target].type == PKG_VBASE
                    ? NULL
                    : mb_solver_range_set(s, target, v->base_compat_ranges, v->nbase_compat);
            if (s->pkgs[target].type == PKG_VBASE) {
                struct pkg *vb = &s->pkgs[s->vbase];
                set = mb_bits_new(s, vb->nwords);
                if (!set)
                    return mb_solver_nomem(s);
                bool incpre = s->opts->include_prerelease, any = false;
                for (uint32_t i = 0; i < vb->nver; i++)
                    for (size_t r = 0; r < v->nbase_compat; r++)
                        if (mb_range_satisfies(&v->base_compat_ranges[r], &vb->vers[i].v->version,
                                               incpre)) {
                            mb_bits_set(set, i);
                            any = true;
                            break;
                        }
                if (!any)
                    mb_bits_set(set, vb->nver);
            }
            if (!set)
                return mb_solver_nomem(s);
            struct term terms[2] = { { pkg, true, run, NULL }, { target, false, set, label } };
            if (mb_solver_new_inc(s, terms, 2, cause, -1, -1, true) < 0)
                return s->err->code;
        }
    }
    for (size_t i = 0; i < v->ndeps; i++) {
        bool dup;
        const char *did = v->deps[i].id;
        uint64_t *run = fact_run(s, pkg, ver, F_DEP, did, &dup);
        if (!run)
            return mb_solver_nomem(s);
        if (dup)
            continue;
        int32_t target;
        rc = mb_solver_pkg(s, did, &target);
        if (rc)
            return rc;
        p = &s->pkgs[pkg];
        v = p->vers[ver].v;
        uint64_t *set = mb_solver_range_set(s, target, &v->deps[i].range, 1);
        if (!set)
            return mb_solver_nomem(s);
        if (!s->pkgs[target].unknown && dep_impossible(s, pkg, ver, did, target)) {
            int r2 = impossible_run(s, pkg, ver, did, target);
            if (r2 < 0)
                return s->err->code;
            if (r2 > 0)
                continue; /* covered by one incompatibility for the whole run */
        }
        struct term terms[2] = { { pkg, true, run, NULL },
                                 { target, false, set, v->deps[i].version } };
        if (mb_solver_new_inc(s, terms, 2, C_DEPENDENCY, -1, -1, true) < 0)
            return s->err->code;
    }
    for (size_t i = 0; i < v->nconflicts; i++) {
        bool dup;
        const char *cid = v->conflicts[i].id;
        uint64_t *run = fact_run(s, pkg, ver, F_CONFLICT, cid, &dup);
        if (!run)
            return mb_solver_nomem(s);
        if (dup)
            continue;
        int32_t target;
        rc = mb_solver_pkg(s, cid, &target);
        if (rc)
            return rc;
        p = &s->pkgs[pkg];
        v = p->vers[ver].v;
        if (s->pkgs[target].unknown)
            continue; /* conflicting with a pack that does not exist is vacuous */
        const struct mb_manifest_conflict *c = &v->conflicts[i];
        uint64_t *set = c->version ? mb_solver_range_set(s, target, &c->range, 1)
                                   : mb_bits_copy(s, s->pkgs[target].full, s->pkgs[target].nwords);
        if (!set)
            return mb_solver_nomem(s);
        struct term terms[2] = { { pkg, true, run, NULL }, { target, true, set, c->version } };
        if (mb_solver_new_inc(s, terms, 2, C_CONFLICTS, -1, -1, true) < 0)
            return s->err->code;
    }
    mb_bits_set(s->pkgs[pkg].deps_done, ver);
    return 0;
}

/* ------------------------------------------------------------ preferences */

int32_t mb_solver_pick_version(struct solver *s, int32_t pkg)
{
    const struct pkg *p = &s->pkgs[pkg];
    const uint64_t *allowed = p->acc.set;
    if (p->type == PKG_ROOT)
        return mb_bits_has(allowed, 0) ? 0 : -1;
    if (p->type == PKG_VBASE) {
        /* Follow a base pack that is already decided, then installed, then newest. */
        for (uint32_t i = 0; i < s->nbases; i++) {
            const struct pkg *b = &s->pkgs[s->bases[i]];
            if (b->decision < 0)
                continue;
            for (uint32_t k = 0; k < p->nver; k++)
                if (p->vers[k].base_pkg == s->bases[i] && p->vers[k].base_ver == b->decision &&
                    mb_bits_has(allowed, k))
                    return (int32_t)k;
        }
        if (!s->opts->upgrade) {
            for (uint32_t k = 0; k < p->nver; k++) {
                const struct pkg *b = &s->pkgs[p->vers[k].base_pkg];
                int32_t pref = b->prefer_lock >= 0 ? b->prefer_lock : b->prefer_installed;
                if (pref == p->vers[k].base_ver && mb_bits_has(allowed, k))
                    return (int32_t)k;
            }
        }
    } else if (!s->opts->upgrade || s->opts->locked) {
        if (p->prefer_lock >= 0 && mb_bits_has(allowed, (uint32_t)p->prefer_lock))
            return p->prefer_lock;
        if (!s->opts->upgrade && p->prefer_installed >= 0 &&
            mb_bits_has(allowed, (uint32_t)p->prefer_installed))
            return p->prefer_installed;
    }
    int32_t pre = -1;
    for (uint32_t k = p->nver; k-- > 0;) {
        if (!mb_bits_has(allowed, k))
            continue;
        if (!mb_semver_is_prerelease(&p->vers[k].v->version))
            return (int32_t)k;
        if (pre < 0)
            pre = (int32_t)k;
    }
    return pre;
}
