/*
 * pubgrub.c - the PubGrub version solver (dart-lang/pub doc/solver.md): set
 * operations on terms, the partial solution (assignments, decision levels,
 * backtracking), unit propagation, conflict resolution with learned
 * incompatibilities, decision making, and mb_resolve() which turns the
 * decisions into a plan. Packages and their incompatibilities come from
 * packages.c; failures are explained by explain.c.
 */
#include "solver_int.h"

/* ------------------------------------------------------------ bitsets */

uint64_t *mb_bits_new(struct solver *s, uint32_t nwords)
{
    return mb_arena_alloc(&s->arena, (size_t)(nwords ? nwords : 1) * sizeof(uint64_t), 8);
}

uint64_t *mb_bits_copy(struct solver *s, const uint64_t *a, uint32_t nwords)
{
    uint64_t *b = mb_bits_new(s, nwords);
    if (b)
        memcpy(b, a, (size_t)nwords * sizeof(uint64_t));
    return b;
}

bool mb_bits_empty(const uint64_t *a, uint32_t nw)
{
    for (uint32_t i = 0; i < nw; i++)
        if (a[i])
            return false;
    return true;
}

bool mb_bits_subset(const uint64_t *a, const uint64_t *b, uint32_t nw)
{
    for (uint32_t i = 0; i < nw; i++)
        if (a[i] & ~b[i])
            return false;
    return true;
}

bool mb_bits_disjoint(const uint64_t *a, const uint64_t *b, uint32_t nw)
{
    for (uint32_t i = 0; i < nw; i++)
        if (a[i] & b[i])
            return false;
    return true;
}

bool mb_bits_eq(const uint64_t *a, const uint64_t *b, uint32_t nw)
{
    return !memcmp(a, b, (size_t)nw * sizeof(uint64_t));
}

uint32_t mb_bits_count(const uint64_t *a, uint32_t nw)
{
    uint32_t c = 0;
    for (uint32_t i = 0; i < nw; i++)
        c += (uint32_t)__builtin_popcountll(a[i]);
    return c;
}

/* ------------------------------------------------------------ terms */

enum rel mb_term_relation(const struct solver *s, const struct term *a, const struct term *b)
{
    uint32_t nw = s->pkgs[a->pkg].nwords;
    if (b->pos) {
        if (a->pos) {
            if (mb_bits_subset(a->set, b->set, nw))
                return REL_SUBSET;
            if (mb_bits_disjoint(a->set, b->set, nw))
                return REL_DISJOINT;
            return REL_OVERLAP;
        }
        /* not A vs B: disjoint when A covers B */
        if (mb_bits_subset(b->set, a->set, nw))
            return REL_DISJOINT;
        return REL_OVERLAP;
    }
    if (a->pos) {
        if (mb_bits_disjoint(a->set, b->set, nw))
            return REL_SUBSET;
        if (mb_bits_subset(a->set, b->set, nw))
            return REL_DISJOINT;
        return REL_OVERLAP;
    }
    /* not A vs not B: A ⊇ B means not A ⊆ not B */
    if (mb_bits_subset(b->set, a->set, nw))
        return REL_SUBSET;
    return REL_OVERLAP;
}

bool mb_term_intersect(struct solver *s, const struct term *a, const struct term *b,
                       struct term *out)
{
    uint32_t nw = s->pkgs[a->pkg].nwords;
    uint64_t *r = mb_bits_new(s, nw);
    if (!r)
        return false;
    out->pkg = a->pkg;
    out->label = NULL;
    if (a->pos && b->pos) {
        for (uint32_t i = 0; i < nw; i++)
            r[i] = a->set[i] & b->set[i];
        out->pos = true;
    } else if (a->pos || b->pos) {
        const struct term *p = a->pos ? a : b, *n = a->pos ? b : a;
        for (uint32_t i = 0; i < nw; i++)
            r[i] = p->set[i] & ~n->set[i];
        out->pos = true;
    } else {
        for (uint32_t i = 0; i < nw; i++)
            r[i] = a->set[i] | b->set[i];
        out->pos = false;
    }
    out->set = r;
    /* Keep a label when the set did not change. */
    if (mb_bits_eq(r, a->set, nw) && (a->pos == out->pos))
        out->label = a->label;
    else if (mb_bits_eq(r, b->set, nw) && (b->pos == out->pos))
        out->label = b->label;
    return true;
}

struct term mb_term_inverse(const struct term *t)
{
    struct term r = *t;
    r.pos = !t->pos;
    return r;
}

bool mb_term_is_empty_pos(const struct solver *s, const struct term *t)
{
    return t->pos && mb_bits_empty(t->set, s->pkgs[t->pkg].nwords);
}

bool mb_term_is_full_pos(const struct solver *s, const struct term *t)
{
    const struct pkg *p = &s->pkgs[t->pkg];
    return t->pos && p->nver > 0 && mb_bits_eq(t->set, p->full, p->nwords);
}

int mb_solver_nomem(struct solver *s)
{
    if (s->arena.used_total + (1u << 20) >= s->arena.max)
        return mb_fail(s->err, MB_E_LIMIT, "the resolver used more than %llu MiB of memory",
                       (unsigned long long)(s->arena.max >> 20));
    return mb_fail(s->err, MB_E_NOMEM, "out of memory while resolving");
}

/* ------------------------------------------------------------ incompatibilities */

/* Grow an int32 vector held in the arena-free heap part of the solver. */
static bool push_i32(int32_t **v, uint32_t *n, uint32_t *cap, int32_t x)
{
    if (*n == *cap) {
        uint32_t c = *cap ? *cap * 2 : 8;
        int32_t *nv = mb_reallocarray(*v, c, sizeof(**v));
        if (!nv)
            return false;
        *v = nv;
        *cap = c;
    }
    (*v)[(*n)++] = x;
    return true;
}

int mb_solver_index_inc(struct solver *s, int32_t id)
{
    struct inc *in = &s->incs[id];
    for (uint32_t i = 0; i < in->nterms; i++) {
        struct pkg *p = &s->pkgs[in->terms[i].pkg];
        if (!push_i32(&p->incs, &p->nincs, &p->capincs, id))
            return mb_solver_nomem(s);
    }
    return 0;
}

int32_t mb_solver_new_inc(struct solver *s, const struct term *terms, uint32_t nterms,
                          enum cause cause, int32_t c1, int32_t c2, bool index)
{
    if (s->nincs == s->capincs) {
        uint32_t c = s->capincs ? s->capincs * 2 : 256;
        struct inc *v = mb_reallocarray(s->incs, c, sizeof(*v));
        if (!v) {
            mb_solver_nomem(s);
            return -1;
        }
        s->incs = v;
        s->capincs = c;
    }
    /* Normalise: one term per package (intersected), and for derived
     * incompatibilities with several terms, no positive root term. */
    struct term *t = mb_arena_alloc(&s->arena, (nterms ? nterms : 1) * sizeof(*t), 8);
    if (!t) {
        mb_solver_nomem(s);
        return -1;
    }
    uint32_t n = 0;
    for (uint32_t i = 0; i < nterms; i++) {
        uint32_t j = 0;
        while (j < n && t[j].pkg != terms[i].pkg)
            j++;
        if (j == n) {
            t[n++] = terms[i];
        } else {
            struct term m;
            if (!mb_term_intersect(s, &t[j], &terms[i], &m)) {
                mb_solver_nomem(s);
                return -1;
            }
            t[j] = m;
        }
    }
    if (cause == C_DERIVED && n > 1) {
        uint32_t w = 0;
        for (uint32_t i = 0; i < n; i++)
            if (!(t[i].pos && t[i].pkg == s->root))
                t[w++] = t[i];
        n = w;
    }
    int32_t id = (int32_t)s->nincs++;
    struct inc *in = &s->incs[id];
    memset(in, 0, sizeof(*in));
    in->terms = t;
    in->nterms = n;
    in->cause = cause;
    in->c1 = c1;
    in->c2 = c2;
    in->line = 0;
    s->stats.incompatibilities++;
    if (index && mb_solver_index_inc(s, id))
        return -1;
    return id;
}

/* ------------------------------------------------------------ partial solution */

static int recompute_acc(struct solver *s, int32_t pkg)
{
    struct pkg *p = &s->pkgs[pkg];
    p->has_acc = false;
    for (uint32_t i = 0; i < p->nasg; i++) {
        const struct term *t = &s->asgs[p->asg[i]].t;
        if (!p->has_acc) {
            p->acc = *t;
            p->has_acc = true;
        } else {
            struct term m;
            if (!mb_term_intersect(s, &p->acc, t, &m))
                return mb_solver_nomem(s);
            p->acc = m;
        }
    }
    return 0;
}

static int assign(struct solver *s, const struct term *t, int32_t cause, bool decision)
{
    if (s->nasgs == s->capasgs) {
        uint32_t c = s->capasgs ? s->capasgs * 2 : 256;
        struct asg *v = mb_reallocarray(s->asgs, c, sizeof(*v));
        if (!v)
            return mb_solver_nomem(s);
        s->asgs = v;
        s->capasgs = c;
    }
    if (decision)
        s->ndecisions++;
    int32_t id = (int32_t)s->nasgs++;
    struct asg *a = &s->asgs[id];
    a->t = *t;
    a->level = s->ndecisions; /* pub: the root decision is level 1 */
    a->cause = decision ? -1 : cause;
    struct pkg *p = &s->pkgs[t->pkg];
    if (!push_i32(&p->asg, &p->nasg, &p->capasg, id))
        return mb_solver_nomem(s);
    if (!p->has_acc) {
        p->acc = *t;
        p->has_acc = true;
        return 0;
    }
    struct term m;
    if (!mb_term_intersect(s, &p->acc, t, &m))
        return mb_solver_nomem(s);
    p->acc = m;
    return 0;
}

static int backtrack(struct solver *s, int32_t level)
{
    while (s->nasgs > 0 && s->asgs[s->nasgs - 1].level > level) {
        struct asg *a = &s->asgs[--s->nasgs];
        struct pkg *p = &s->pkgs[a->t.pkg];
        if (a->cause < 0) {
            p->decision = -1;
            s->ndecisions--;
        }
        p->nasg--;
        p->has_acc = false; /* recomputed below */
    }
    for (uint32_t i = 0; i < s->npkgs; i++)
        if (!s->pkgs[i].has_acc && s->pkgs[i].nasg > 0) {
            int rc = recompute_acc(s, (int32_t)i);
            if (rc)
                return rc;
        }
    return 0;
}

/* relation of the partial solution to a term: satisfied, contradicted, or inconclusive */
static enum rel solution_relation(const struct solver *s, const struct term *t)
{
    const struct pkg *p = &s->pkgs[t->pkg];
    if (!p->has_acc)
        return REL_OVERLAP;
    return mb_term_relation(s, &p->acc, t);
}

/* The earliest assignment whose prefix of the package's assignments satisfies t. */
static int satisfier(struct solver *s, const struct term *t, int32_t *out)
{
    const struct pkg *p = &s->pkgs[t->pkg];
    struct term acc;
    for (uint32_t i = 0; i < p->nasg; i++) {
        const struct term *a = &s->asgs[p->asg[i]].t;
        if (i == 0) {
            acc = *a;
        } else {
            struct term m;
            if (!mb_term_intersect(s, &acc, a, &m))
                return mb_solver_nomem(s);
            acc = m;
        }
        if (mb_term_relation(s, &acc, t) == REL_SUBSET) {
            *out = p->asg[i];
            return 0;
        }
    }
    return mb_fail(s->err, MB_E_INTERNAL, "resolver: no satisfier for a term of '%s'", p->id);
}

/* ------------------------------------------------------------ conflict resolution */

#define RESULT_NONE     (-1)
#define RESULT_CONFLICT (-2)

/* Unit propagation on one incompatibility: derive its unsatisfied term's inverse. */
static int propagate_inc(struct solver *s, int32_t id, int32_t *result)
{
    const struct inc *in = &s->incs[id];
    const struct term *unsat = NULL;
    *result = RESULT_NONE;
    for (uint32_t i = 0; i < in->nterms; i++) {
        enum rel r = solution_relation(s, &in->terms[i]);
        if (r == REL_DISJOINT)
            return 0;
        if (r == REL_OVERLAP) {
            if (unsat)
                return 0;
            unsat = &in->terms[i];
        }
    }
    if (!unsat) {
        *result = RESULT_CONFLICT;
        return 0;
    }
    struct term inv = mb_term_inverse(unsat);
    int rc = assign(s, &inv, id, false);
    if (rc)
        return rc;
    *result = unsat->pkg;
    return 0;
}

static bool is_failure(const struct solver *s, const struct inc *in)
{
    return in->nterms == 0 || (in->nterms == 1 && in->terms[0].pos && in->terms[0].pkg == s->root);
}

/* Returns 0 with *out the root cause (already indexed), or MB_E_CONFLICT with s->failure set. */
static int resolve_conflict(struct solver *s, int32_t id, int32_t *out)
{
    bool created = false;
    s->stats.conflicts++;
    for (;;) {
        const struct inc *in = &s->incs[id];
        if (is_failure(s, in)) {
            s->failure = id;
            return MB_E_CONFLICT;
        }
        int32_t most_sat = -1, most_term = -1, prev_level = 1;
        bool have_diff = false;
        struct term diff = { 0, false, NULL, NULL };
        for (uint32_t i = 0; i < in->nterms; i++) {
            const struct term *t = &in->terms[i];
            int32_t sat;
            int rc = satisfier(s, t, &sat);
            if (rc)
                return rc;
            if (most_sat < 0) {
                most_sat = sat;
                most_term = (int32_t)i;
            } else if (most_sat < sat) {
                prev_level = MB_MAX(prev_level, s->asgs[most_sat].level);
                most_sat = sat;
                most_term = (int32_t)i;
                have_diff = false;
            } else {
                prev_level = MB_MAX(prev_level, s->asgs[sat].level);
            }
            if (most_term == (int32_t)i) {
                struct term inv = mb_term_inverse(t), d;
                if (!mb_term_intersect(s, &s->asgs[most_sat].t, &inv, &d))
                    return mb_solver_nomem(s);
                have_diff = !mb_bits_empty(d.set, s->pkgs[d.pkg].nwords);
                if (have_diff) {
                    diff = d;
                    struct term dinv = mb_term_inverse(&d);
                    int32_t sat2;
                    rc = satisfier(s, &dinv, &sat2);
                    if (rc)
                        return rc;
                    prev_level = MB_MAX(prev_level, s->asgs[sat2].level);
                }
            }
        }
        const struct asg *sa = &s->asgs[most_sat];
        if (sa->cause < 0 || prev_level < sa->level) {
            int rc = backtrack(s, prev_level);
            if (rc)
                return rc;
            if (created && mb_solver_index_inc(s, id))
                return s->err ? s->err->code : MB_E_NOMEM;
            *out = id;
            return 0;
        }
        /* Prior cause: the union of both incompatibilities minus the satisfier's package. */
        const struct inc *cause = &s->incs[sa->cause];
        uint32_t cap = in->nterms + cause->nterms + 1, n = 0;
        struct term *terms = mb_malloc(cap * sizeof(*terms));
        if (!terms)
            return mb_solver_nomem(s);
        for (uint32_t i = 0; i < in->nterms; i++)
            if ((int32_t)i != most_term)
                terms[n++] = in->terms[i];
        for (uint32_t i = 0; i < cause->nterms; i++)
            if (cause->terms[i].pkg != sa->t.pkg)
                terms[n++] = cause->terms[i];
        if (have_diff)
            terms[n++] = mb_term_inverse(&diff);
        int32_t cause_id = sa->cause;
        int32_t nid = mb_solver_new_inc(s, terms, n, C_DERIVED, id, cause_id, false);
        mb_free(terms);
        if (nid < 0)
            return s->err ? s->err->code : MB_E_NOMEM;
        id = nid;
        created = true;
    }
}

static int propagate(struct solver *s, int32_t start)
{
    int32_t *changed = NULL;
    uint32_t nch = 0, capch = 0;
    if (!push_i32(&changed, &nch, &capch, start))
        return mb_solver_nomem(s);
    int rc = 0;
    while (nch && !rc) {
        int32_t pkg = changed[--nch];
        struct pkg *p = &s->pkgs[pkg];
        for (uint32_t k = p->nincs; k-- > 0;) {
            int32_t id = p->incs[k];
            int32_t res;
            rc = propagate_inc(s, id, &res);
            if (rc)
                break;
            if (res == RESULT_CONFLICT) {
                int32_t cause = -1;
                rc = resolve_conflict(s, id, &cause);
                if (rc)
                    break;
                rc = propagate_inc(s, cause, &res);
                if (rc)
                    break;
                if (res < 0) {
                    rc = mb_fail(s->err, MB_E_INTERNAL,
                                 "resolver: a learned incompatibility did not propagate");
                    break;
                }
                nch = 0;
                if (!push_i32(&changed, &nch, &capch, res))
                    rc = mb_solver_nomem(s);
                break;
            }
            if (res >= 0 && !push_i32(&changed, &nch, &capch, res)) {
                rc = mb_solver_nomem(s);
                break;
            }
            p = &s->pkgs[pkg]; /* the package table may have grown */
        }
        if (mb_interrupted && !rc)
            rc = mb_fail(s->err, MB_E_INTERRUPTED, "interrupted");
    }
    mb_free(changed);
    return rc;
}

/* ------------------------------------------------------------ decisions */

/* Choose the next package and version. *next = -1 when the solution is complete. */
static int decide(struct solver *s, int32_t *next)
{
    int32_t best = -1;
    uint32_t best_count = UINT32_MAX;
    for (uint32_t i = 0; i < s->npkgs; i++) {
        const struct pkg *p = &s->pkgs[i];
        if (!p->has_acc || !p->acc.pos || p->decision >= 0)
            continue;
        uint32_t c = mb_bits_count(p->acc.set, p->nwords);
        if (c < best_count) {
            best_count = c;
            best = (int32_t)i;
            if (c <= 1)
                break;
        }
    }
    *next = best;
    if (best < 0)
        return 0;
    int32_t ver = mb_solver_pick_version(s, best);
    if (ver < 0) {
        struct term t = s->pkgs[best].acc;
        int32_t id = mb_solver_new_inc(s, &t, 1, C_NO_VERSIONS, -1, -1, true);
        return id < 0 ? (s->err ? s->err->code : MB_E_NOMEM) : 0;
    }
    int32_t first_new = (int32_t)s->nincs;
    int rc = mb_solver_version_incs(s, best, (uint32_t)ver, &first_new);
    if (rc)
        return rc;
    /* Decide unless one of the new incompatibilities would be satisfied at once. */
    bool conflict = false;
    for (uint32_t i = (uint32_t)first_new; i < s->nincs && !conflict; i++) {
        const struct inc *in = &s->incs[i];
        bool all = true;
        for (uint32_t k = 0; k < in->nterms && all; k++) {
            if (in->terms[k].pkg == best)
                continue;
            all = solution_relation(s, &in->terms[k]) == REL_SUBSET;
        }
        conflict = all;
    }
    if (conflict)
        return 0;
    struct pkg *p = &s->pkgs[best];
    struct term t = { best, true, mb_bits_new(s, p->nwords), NULL };
    if (!t.set)
        return mb_solver_nomem(s);
    mb_bits_set(t.set, (uint32_t)ver);
    p->decision = ver;
    s->stats.decisions++;
    return assign(s, &t, -1, true);
}

/* ------------------------------------------------------------ the plan */

const char *mb_plan_action_name(enum mb_plan_action a)
{
    switch (a) {
    case MB_PLAN_INSTALL:
        return "install";
    case MB_PLAN_KEEP:
        return "keep";
    case MB_PLAN_UPGRADE:
        return "upgrade";
    case MB_PLAN_DOWNGRADE:
        return "downgrade";
    case MB_PLAN_REMOVE:
        return "remove";
    }
    return "?";
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct mb_plan_entry *)a)->id, ((const struct mb_plan_entry *)b)->id);
}

void mb_resolution_release(struct mb_resolution *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        mb_free(r->entries[i].id);
        mb_free(r->entries[i].version);
        mb_free(r->entries[i].from_version);
        mb_free(r->entries[i].registry);
        mb_free(r->entries[i].archive);
    }
    mb_free(r->entries);
    mb_free(r->explanation);
    memset(r, 0, sizeof(*r));
}

static char *dup_or_null(const char *s, bool *bad)
{
    if (!s)
        return NULL;
    char *d = mb_strdup(s);
    *bad |= !d;
    return d;
}

static int build_plan(struct solver *s, struct mb_resolution *out)
{
    const struct mb_lock *inst = s->opts->installed;
    size_t cap = s->npkgs + (inst ? inst->n : 0) + 1;
    out->entries = mb_calloc(cap, sizeof(*out->entries));
    if (!out->entries)
        return mb_fail(s->err, MB_E_NOMEM, "out of memory");
    bool bad = false;
    for (uint32_t i = 0; i < s->npkgs; i++) {
        const struct pkg *p = &s->pkgs[i];
        if (p->type != PKG_REAL || p->decision < 0)
            continue;
        const struct uver *u = &p->vers[p->decision];
        struct mb_plan_entry *e = &out->entries[out->n++];
        e->id = dup_or_null(p->id, &bad);
        e->version = dup_or_null(u->v->version_text, &bad);
        e->kind = p->rec->kind;
        e->registry = dup_or_null(p->registry, &bad);
        memcpy(e->sha256, u->v->sha256, sizeof(e->sha256));
        e->size = u->v->size;
        e->archive = dup_or_null(u->v->archive, &bad);
        e->requested = p->requested;
        e->yanked = u->yanked;
        e->action = MB_PLAN_INSTALL;
        const struct mb_lock_entry *ie = inst ? mb_lock_find(inst, p->id) : NULL;
        if (ie) {
            e->from_version = dup_or_null(ie->version, &bad);
            struct mb_semver iv;
            struct mb_err tmp;
            if (mb_semver_parse_cstr(ie->version, &iv, &tmp) == 0) {
                int c = mb_semver_cmp(&u->v->version, &iv);
                e->action = c == 0 ? MB_PLAN_KEEP : c > 0 ? MB_PLAN_UPGRADE : MB_PLAN_DOWNGRADE;
            } else {
                e->action = MB_PLAN_UPGRADE;
            }
        }
    }
    for (size_t i = 0; inst && i < inst->n; i++) {
        bool found = false;
        for (size_t j = 0; j < out->n && !found; j++)
            found = !strcmp(out->entries[j].id, inst->v[i].id) &&
                    out->entries[j].action != MB_PLAN_REMOVE;
        if (found)
            continue;
        struct mb_plan_entry *e = &out->entries[out->n++];
        e->id = dup_or_null(inst->v[i].id, &bad);
        e->version = dup_or_null(inst->v[i].version, &bad);
        e->from_version = dup_or_null(inst->v[i].version, &bad);
        e->action = MB_PLAN_REMOVE;
        e->kind = MB_PACK_DATA;
        memcpy(e->sha256, inst->v[i].sha256, sizeof(e->sha256));
    }
    if (bad)
        return mb_fail(s->err, MB_E_NOMEM, "out of memory");
    qsort(out->entries, out->n, sizeof(*out->entries), cmp_entry);
    return 0;
}

/* --locked: the solution must be exactly the lock, with the same hashes and registries. */
static int check_locked(struct solver *s, struct mb_resolution *out)
{
    const struct mb_lock *l = s->opts->lock;
    for (size_t i = 0; i < l->n; i++) {
        const struct mb_lock_entry *le = &l->v[i];
        const struct mb_plan_entry *e = NULL;
        for (size_t j = 0; j < out->n && !e; j++)
            if (!strcmp(out->entries[j].id, le->id) && out->entries[j].action != MB_PLAN_REMOVE)
                e = &out->entries[j];
        if (!e) {
            char *x = NULL;
            struct mb_buf b;
            mb_buf_init(&b, 4096);
            if (mb_buf_appendf(&b, s->err,
                               "packs.lock lists %s %s, which the request no longer needs; run "
                               "without --locked to update packs.lock.\n",
                               le->id, le->version) == 0)
                x = mb_buf_detach(&b, NULL);
            mb_buf_release(&b);
            out->explanation = x;
            return mb_fail(s->err, MB_E_CONFLICT,
                           "--locked: packs.lock lists %s %s, which the request no longer needs",
                           le->id, le->version);
        }
        if (le->sha256[0] && strcmp(le->sha256, e->sha256))
            return mb_fail(s->err, MB_E_INTEGRITY,
                           "--locked: %s %s: sha256 %s in packs.lock but %s in the index of "
                           "registry '%s'",
                           le->id, le->version, le->sha256, e->sha256,
                           e->registry ? e->registry : "?");
        if (le->registry && e->registry && strcmp(le->registry, e->registry))
            return mb_fail(s->err, MB_E_INTEGRITY,
                           "--locked: %s %s comes from registry '%s' but packs.lock says '%s'",
                           le->id, le->version, e->registry, le->registry);
    }
    return 0;
}

int mb_resolve(const struct mb_resolve_source *src, const struct mb_resolve_opts *opts,
               struct mb_resolution *out, struct mb_err *err)
{
    memset(out, 0, sizeof(*out));
    uint64_t t0 = mb_now_ns();
    struct solver *s = mb_calloc(1, sizeof(*s));
    if (!s)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    mb_arena_init(&s->arena, MB_SOLVER_ARENA_MAX);
    s->src = src;
    s->opts = opts;
    s->err = err;
    s->failure = -1;
    s->root = s->vbase = -1;
    int rc = mb_solver_init_bases(s);
    if (!rc)
        rc = mb_solver_add_root_incs(s);
    int32_t next = s->root;
    while (!rc) {
        rc = propagate(s, next);
        if (rc)
            break;
        rc = decide(s, &next);
        if (rc || next < 0)
            break;
    }
    if (rc == MB_E_CONFLICT && s->failure >= 0) {
        char *text = NULL;
        int erc = mb_solver_explain(s, s->failure, &text);
        if (erc)
            rc = erc;
        else {
            out->explanation = text;
            mb_fail(err, MB_E_CONFLICT,
                    "no set of packs satisfies the request (the explanation "
                    "above says why)");
        }
    } else if (!rc) {
        rc = build_plan(s, out);
        if (!rc && opts->locked && opts->lock)
            rc = check_locked(s, out);
    }
    s->stats.solve_ns = mb_now_ns() - t0;
    out->stats = s->stats;
    for (uint32_t i = 0; i < s->npkgs; i++) {
        mb_free(s->pkgs[i].incs);
        mb_free(s->pkgs[i].asg);
    }
    mb_free(s->pkgs);
    mb_free(s->table);
    mb_free(s->incs);
    mb_free(s->asgs);
    mb_free(s->bases);
    mb_arena_release(&s->arena);
    mb_free(s);
    return rc;
}
