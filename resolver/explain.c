/*
 * explain.c - PubGrub's error reporting (doc/solver.md "Error Reporting"):
 * walks the derivation graph of the failure and writes numbered prose in
 * pub's style ("Because A depends on B which depends on C, A requires C. So,
 * because you asked for both A and D, no solution was found."). Terms are
 * printed with the range text the user or pack author wrote when the set
 * still matches it, otherwise as runs of known versions. The request is
 * "you", never "root".
 */
#include "solver_int.h"

#define EXPLAIN_MAX_DEPTH 20000

struct line {
    char *text;
    int32_t number; /* 0 = unnumbered, -1 = blank separator */
};

struct explainer {
    struct solver *s;
    struct line *lines;
    size_t n, cap;
    int32_t next_number;
    int depth;
    int rc;
};

/* ------------------------------------------------------------ terms */

/* Whether the set holds every real version (the phantom bit is ignored). */
static bool covers_all(const struct pkg *p, const uint64_t *set)
{
    if (p->nver == 0)
        return false;
    for (uint32_t i = 0; i < p->nver; i++)
        if (!mb_bits_has(set, i))
            return false;
    return true;
}

static bool no_real(const struct pkg *p, const uint64_t *set)
{
    for (uint32_t i = 0; i < p->nver; i++)
        if (mb_bits_has(set, i))
            return false;
    return true;
}

static const char *pkg_name(const struct solver *s, int32_t pkg)
{
    return s->pkgs[pkg].id;
}

static const char *ver_text(const struct pkg *p, uint32_t i)
{
    return p->vers[i].v ? p->vers[i].v->version_text : "1.0.0";
}

/* The set as runs of adjacent known versions: ">=1.1.0 <2.0.0 || 3.0.0". */
static int describe_set(const struct pkg *p, const uint64_t *set, struct mb_buf *o,
                        struct mb_err *err)
{
    int rc = 0;
    bool first = true;
    for (uint32_t i = 0; i < p->nver && !rc;) {
        if (!mb_bits_has(set, i)) {
            i++;
            continue;
        }
        uint32_t j = i;
        while (j + 1 < p->nver && mb_bits_has(set, j + 1))
            j++;
        if (!first)
            rc = mb_buf_append_cstr(o, " || ", err);
        first = false;
        if (rc)
            break;
        if (i == j)
            rc = mb_buf_append_cstr(o, ver_text(p, i), err);
        else if (i == 0)
            rc = mb_buf_appendf(o, err, "<%s", ver_text(p, j + 1));
        else if (j == p->nver - 1)
            rc = mb_buf_appendf(o, err, ">=%s", ver_text(p, i));
        else
            rc = mb_buf_appendf(o, err, ">=%s <%s", ver_text(p, i), ver_text(p, j + 1));
        i = j + 1;
    }
    return rc;
}

/*
 * A term as a positive phrase: "foo ^1.0.0", "foo" (any version; "every
 * version of foo" when `every`), "base 1.0". Negative terms are described by
 * their inverse by the callers.
 */
int mb_term_describe(struct solver *s, const struct term *t, bool every, struct mb_buf *o)
{
    const struct pkg *p = &s->pkgs[t->pkg];
    struct mb_err *err = s->err;
    if (p->type == PKG_ROOT)
        return mb_buf_append_cstr(o, "you", err);
    bool full = covers_all(p, t->set);
    bool any_label = t->label && (!strcmp(t->label, "*") || !t->label[0]);
    if (any_label || (full && !t->label))
        return every && p->type == PKG_REAL ? mb_buf_appendf(o, err, "every version of %s", p->id)
                                            : mb_buf_append_cstr(o, p->id, err);
    int rc = mb_buf_appendf(o, err, "%s ", p->id);
    if (rc)
        return rc;
    if (t->label)
        return mb_buf_append_cstr(o, any_label ? "*" : t->label, err);
    if (no_real(p, t->set))
        return mb_buf_append_cstr(o, "(no known version)", err);
    return describe_set(p, t->set, o, err);
}

/* Append the description of the positive form of a term. */
static int put_pos(struct explainer *x, struct mb_buf *o, const struct term *t, bool every)
{
    struct term p = *t;
    p.pos = true;
    return mb_term_describe(x->s, &p, every, o);
}

/* ------------------------------------------------------------ incompatibilities */

static const struct term *only_pos(const struct inc *in)
{
    const struct term *r = NULL;
    for (uint32_t i = 0; i < in->nterms; i++)
        if (in->terms[i].pos) {
            if (r)
                return NULL;
            r = &in->terms[i];
        }
    return r;
}

static const struct term *only_neg(const struct inc *in)
{
    const struct term *r = NULL;
    for (uint32_t i = 0; i < in->nterms; i++)
        if (!in->terms[i].pos) {
            if (r)
                return NULL;
            r = &in->terms[i];
        }
    return r;
}

/* "depends on", "requires", "asked for" for "A <verb> B" phrasing. */
static const char *verb_of(const struct explainer *x, const struct inc *in)
{
    const struct term *p = only_pos(in);
    if (in->cause == C_REQUEST)
        return "asked for";
    if (p && p->pkg == x->s->root)
        return "need";
    if (in->cause == C_DEPENDENCY)
        return "depends on";
    if (in->cause == C_BASE_FAMILY)
        return "requires the base";
    return "requires";
}

/* Whether some yanked version of the package matches a range label. */
static bool yanked_matches(const struct explainer *x, const struct pkg *p, const char *label)
{
    if (!p->rec || !label)
        return false;
    struct mb_range r;
    struct mb_err e;
    if (mb_range_parse(label, x->s->opts->include_prerelease, &r, &e))
        return false;
    bool hit = false;
    for (size_t i = 0; i < p->rec->nversions && !hit; i++)
        hit = p->rec->versions[i].yanked &&
              mb_range_satisfies(&r, &p->rec->versions[i].version, x->s->opts->include_prerelease);
    mb_range_release(&r);
    return hit;
}

static int inc_text(struct explainer *x, int32_t id, struct mb_buf *o);

/* Text of an external incompatibility with a specific cause. */
static int external_text(struct explainer *x, const struct inc *in, struct mb_buf *o)
{
    struct solver *s = x->s;
    struct mb_err *err = s->err;
    const struct term *pos = only_pos(in), *neg = only_neg(in);
    const struct term *t0 = in->nterms ? &in->terms[0] : NULL;
    int rc = 0;
    switch (in->cause) {
    case C_ROOT:
        return mb_buf_append_cstr(o, "you asked for a solution", err);
    case C_REQUEST:
        rc = mb_buf_append_cstr(o, "you asked for ", err);
        return rc ? rc : put_pos(x, o, neg, false);
    case C_BASE_NEEDED:
        return mb_buf_append_cstr(o, "a solution needs a base pack", err);
    case C_DEPENDENCY:
    case C_BASE_COMPAT:
    case C_BASE_FAMILY:
    case C_BASE_ENTRY:
        rc = put_pos(x, o, pos, true);
        if (!rc)
            rc = mb_buf_append_cstr(o,
                                    in->cause == C_DEPENDENCY    ? " depends on "
                                    : in->cause == C_BASE_ENTRY  ? " is provided by "
                                    : in->cause == C_BASE_FAMILY ? " requires the base "
                                                                 : " requires ",
                                    err);
        return rc ? rc : put_pos(x, o, neg, false);
    case C_CONFLICTS:
        rc = put_pos(x, o, &in->terms[0], true);
        if (!rc)
            rc = mb_buf_append_cstr(o, " conflicts with ", err);
        return rc ? rc : put_pos(x, o, &in->terms[1], false);
    case C_PROVIDES:
        return mb_buf_appendf(o, err, "%s is a base pack (a solution has exactly one base)",
                              pkg_name(s, pos->pkg));
    case C_OTHER_BASE:
        return mb_buf_appendf(o, err, "%s is a base pack and you asked for a different base",
                              pkg_name(s, t0->pkg));
    case C_NO_VERSIONS: {
        const struct pkg *p = &s->pkgs[t0->pkg];
        bool full =
            (covers_all(p, t0->set) || p->nver == 0) && (!t0->label || !strcmp(t0->label, "*"));
        if (p->type == PKG_VBASE) {
            if (full || p->nver == 0)
                return mb_buf_append_cstr(o, "no base pack is available", err);
            rc = mb_buf_append_cstr(o, "no base pack matches ", err);
            if (!rc && t0->label)
                rc = mb_buf_append_cstr(o, t0->label, err);
            else if (!rc)
                rc = describe_set(p, t0->set, o, err);
            return rc;
        }
        if (full || p->nver == 0) {
            rc = mb_buf_appendf(o, err, "%s has no versions", p->id);
            if (!rc && p->rec && p->rec->nversions)
                rc = mb_buf_append_cstr(o, " that are not yanked", err);
            return rc;
        }
        rc = mb_buf_appendf(o, err, "no versions of %s match ", p->id);
        if (!rc && t0->label)
            rc = mb_buf_append_cstr(o, t0->label, err);
        else if (!rc)
            rc = describe_set(p, t0->set, o, err);
        if (!rc && yanked_matches(x, p, t0->label))
            rc = mb_buf_append_cstr(o, " (the matching versions are yanked)", err);
        return rc;
    }
    case C_UNKNOWN:
        return mb_buf_appendf(o, err, "%s doesn't exist (no registry has a pack with that id)",
                              pkg_name(s, t0->pkg));
    case C_NOT_LOCKED:
        return mb_buf_appendf(o, err, "%s is not in packs.lock", pkg_name(s, t0->pkg));
    case C_LOCK_PIN:
        return mb_buf_appendf(o, err, "packs.lock pins %s to %s", pkg_name(s, t0->pkg),
                              in->note ? in->note : "?");
    case C_LOCK_GONE:
        return mb_buf_appendf(o, err, "packs.lock pins %s to %s, which the index no longer has",
                              pkg_name(s, t0->pkg), in->note ? in->note : "?");
    case C_DERIVED:
        break;
    }
    return 0;
}

/* Text of a derived incompatibility from its terms. */
static int derived_text(struct explainer *x, const struct inc *in, struct mb_buf *o)
{
    struct solver *s = x->s;
    struct mb_err *err = s->err;
    int rc = 0;
    if (in->nterms == 0)
        return mb_buf_append_cstr(o, "no solution was found", err);
    if (in->nterms == 1) {
        const struct term *t = &in->terms[0];
        if (t->pos && t->pkg == s->root)
            return mb_buf_append_cstr(o, "no solution was found", err);
        rc = put_pos(x, o, t, false);
        return rc ? rc : mb_buf_append_cstr(o, t->pos ? " is forbidden" : " is required", err);
    }
    const struct term *pos = only_pos(in), *neg = only_neg(in);
    if (in->nterms == 2 && pos && neg) {
        if (pos->pkg == s->root) {
            rc = mb_buf_append_cstr(o, "you need ", err);
            return rc ? rc : put_pos(x, o, neg, false);
        }
        rc = put_pos(x, o, pos, true);
        if (!rc)
            rc = mb_buf_append_cstr(o, " requires ", err);
        return rc ? rc : put_pos(x, o, neg, false);
    }
    if (in->nterms == 2 && in->terms[0].pos && in->terms[1].pos) {
        rc = put_pos(x, o, &in->terms[0], false);
        if (!rc)
            rc = mb_buf_append_cstr(o, " is incompatible with ", err);
        return rc ? rc : put_pos(x, o, &in->terms[1], false);
    }
    uint32_t npos = 0, nneg = 0;
    for (uint32_t i = 0; i < in->nterms; i++)
        npos += in->terms[i].pos;
    nneg = in->nterms - npos;
    if (npos == 0) {
        rc = mb_buf_append_cstr(o, "one of ", err);
        for (uint32_t i = 0, k = 0; i < in->nterms && !rc; i++, k++) {
            if (k)
                rc = mb_buf_append_cstr(o, k + 1 == in->nterms ? " or " : ", ", err);
            if (!rc)
                rc = put_pos(x, o, &in->terms[i], false);
        }
        return rc ? rc : mb_buf_append_cstr(o, " is required", err);
    }
    if (nneg == 0) {
        for (uint32_t i = 0; i < in->nterms && !rc; i++) {
            if (i)
                rc = mb_buf_append_cstr(o, i + 1 == in->nterms ? " and " : ", ", err);
            if (!rc)
                rc = put_pos(x, o, &in->terms[i], false);
        }
        return rc ? rc : mb_buf_append_cstr(o, " are incompatible", err);
    }
    rc = mb_buf_append_cstr(o, "if ", err);
    for (uint32_t i = 0, k = 0; i < in->nterms && !rc; i++) {
        if (!in->terms[i].pos)
            continue;
        if (k++)
            rc = mb_buf_append_cstr(o, " and ", err);
        if (!rc)
            rc = put_pos(x, o, &in->terms[i], false);
    }
    if (!rc)
        rc = mb_buf_append_cstr(o, " then ", err);
    for (uint32_t i = 0, k = 0; i < in->nterms && !rc; i++) {
        if (in->terms[i].pos)
            continue;
        if (k++)
            rc = mb_buf_append_cstr(o, " or ", err);
        if (!rc)
            rc = put_pos(x, o, &in->terms[i], false);
    }
    return rc;
}

static int inc_text(struct explainer *x, int32_t id, struct mb_buf *o)
{
    const struct inc *in = &x->s->incs[id];
    if (in->cause == C_DERIVED)
        return derived_text(x, in, o);
    return external_text(x, in, o);
}

static bool yanked_matches(const struct explainer *x, const struct pkg *p, const char *label);

/* What makes a single forbidding term forbidden, for "requires X which ...". */
static int forbidden_phrase(const struct explainer *x, const struct inc *in, struct mb_buf *o)
{
    const struct pkg *p = &x->s->pkgs[in->terms[0].pkg];
    struct mb_err *err = x->s->err;
    switch (in->cause) {
    case C_NO_VERSIONS:
        if (p->type == PKG_VBASE)
            return mb_buf_append_cstr(o, "no available base pack matches", err);
        if (yanked_matches(x, p, in->terms[0].label))
            return mb_buf_append_cstr(o, "matches only yanked versions", err);
        return mb_buf_append_cstr(o, "doesn't match any versions", err);
    case C_UNKNOWN:
        return mb_buf_append_cstr(o, "doesn't exist", err);
    case C_NOT_LOCKED:
        return mb_buf_append_cstr(o, "is not in packs.lock", err);
    case C_OTHER_BASE:
        return mb_buf_append_cstr(o, "cannot be the base because you asked for a different one",
                                  err);
    case C_LOCK_PIN:
        return mb_buf_appendf(o, err, "packs.lock does not allow (it pins %s to %s)", p->id,
                              in->note ? in->note : "?");
    case C_LOCK_GONE:
        return mb_buf_appendf(o, err, "packs.lock pins to %s, a version the index no longer has",
                              in->note ? in->note : "?");
    default:
        return mb_buf_append_cstr(o, "is forbidden", err);
    }
}

/* Try the compact forms of "A and B" (pub's requiresBoth/Through/Forbidden). */
static int and_text(struct explainer *x, int32_t a, int32_t b, int32_t line_b, struct mb_buf *o)
{
    struct solver *s = x->s;
    struct mb_err *err = s->err;
    const struct inc *ia = &s->incs[a], *ib = &s->incs[b];
    const struct term *pa = only_pos(ia), *na = only_neg(ia), *pb = only_pos(ib),
                      *nb = only_neg(ib);
    int rc = 0;
    char num[24] = "";
    if (line_b > 0)
        snprintf(num, sizeof(num), " (%d)", line_b);
    if (ia->cause == C_PROVIDES && ib->cause == C_PROVIDES)
        return mb_buf_appendf(o, err,
                              "%s and %s are both base packs and a solution has exactly one "
                              "base%s",
                              pkg_name(s, pa->pkg), pkg_name(s, pb->pkg), num);
    bool compact = ia->cause != C_BASE_NEEDED && ib->cause != C_BASE_NEEDED;
    /* requires both: "A depends on both B and C" */
    if (compact && ia->nterms == 2 && ib->nterms == 2 && pa && na && pb && nb &&
        pa->pkg == pb->pkg && mb_bits_eq(pa->set, pb->set, s->pkgs[pa->pkg].nwords) &&
        (pa->pkg != s->root || (ia->cause == C_REQUEST && ib->cause == C_REQUEST) ||
         (ia->cause != C_REQUEST && ib->cause != C_REQUEST))) {
        const char *va = verb_of(x, ia), *vb = verb_of(x, ib);
        const char *verb = strcmp(va, vb) ? "requires" : va;
        if (pa->pkg == s->root)
            verb = strcmp(va, vb) ? "need" : va;
        rc = put_pos(x, o, pa, true);
        if (!rc)
            rc = mb_buf_appendf(o, err, " %s both ", verb);
        if (!rc)
            rc = put_pos(x, o, na, false);
        if (!rc)
            rc = mb_buf_append_cstr(o, " and ", err);
        if (!rc)
            rc = put_pos(x, o, nb, false);
        return rc ? rc : mb_buf_append_cstr(o, num, err);
    }
    for (int swap = 0; swap < 2 && compact; swap++) {
        const struct inc *i1 = swap ? ib : ia, *i2 = swap ? ia : ib;
        const struct term *p1 = swap ? pb : pa, *n1 = swap ? nb : na;
        const struct term *p2 = swap ? pa : pb, *n2 = swap ? na : nb;
        if (i1->nterms != 2 || !p1 || !n1)
            continue;
        struct term want = mb_term_inverse(n1);
        /* requires through: "A depends on B which depends on C" */
        if (i2->nterms == 2 && p2 && n2 && p2->pkg == n1->pkg &&
            mb_term_relation(s, &want, p2) == REL_SUBSET) {
            rc = put_pos(x, o, p1, true);
            if (!rc)
                rc = mb_buf_appendf(o, err, " %s ", verb_of(x, i1));
            if (!rc)
                rc = put_pos(x, o, n1, false);
            if (!rc)
                rc = mb_buf_appendf(o, err, " which %s ",
                                    !strcmp(verb_of(x, i2), "depends on") ? "depends on"
                                                                          : "requires");
            if (!rc)
                rc = put_pos(x, o, n2, false);
            return rc ? rc : mb_buf_append_cstr(o, swap ? "" : num, err);
        }
        /* requires forbidden: "A depends on B which doesn't exist" */
        if (i2->nterms == 1 && i2->terms[0].pos && i2->terms[0].pkg == n1->pkg &&
            mb_term_relation(s, &want, &i2->terms[0]) == REL_SUBSET) {
            rc = put_pos(x, o, p1, true);
            if (!rc)
                rc = mb_buf_appendf(o, err, " %s ", verb_of(x, i1));
            if (!rc)
                rc = put_pos(x, o, n1, false);
            if (!rc)
                rc = mb_buf_append_cstr(o, " which ", err);
            if (!rc)
                rc = forbidden_phrase(x, i2, o);
            return rc ? rc : mb_buf_append_cstr(o, swap ? "" : num, err);
        }
    }
    rc = inc_text(x, a, o);
    if (!rc)
        rc = mb_buf_append_cstr(o, " and ", err);
    if (!rc)
        rc = inc_text(x, b, o);
    return rc ? rc : mb_buf_append_cstr(o, num, err);
}

/* ------------------------------------------------------------ the walk */

static bool is_derived(const struct solver *s, int32_t id)
{
    return id >= 0 && s->incs[id].cause == C_DERIVED;
}

static void count_refs(struct solver *s, int32_t id, int depth)
{
    struct inc *in = &s->incs[id];
    if (in->refs++ > 0 || in->cause != C_DERIVED || depth > EXPLAIN_MAX_DEPTH)
        return;
    count_refs(s, in->c1, depth + 1);
    count_refs(s, in->c2, depth + 1);
}

static void add_line(struct explainer *x, struct mb_buf *text, int32_t id, bool numbered)
{
    if (x->rc)
        return;
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 32;
        struct line *l = mb_reallocarray(x->lines, cap, sizeof(*l));
        if (!l) {
            x->rc = mb_fail(x->s->err, MB_E_NOMEM, "out of memory");
            return;
        }
        x->lines = l;
        x->cap = cap;
    }
    struct line *l = &x->lines[x->n++];
    l->text = text ? mb_buf_detach(text, NULL) : NULL;
    l->number = text ? 0 : -1;
    if (text && !l->text)
        x->rc = mb_fail(x->s->err, MB_E_NOMEM, "out of memory");
    if (numbered && id >= 0 && text) {
        l->number = ++x->next_number;
        x->s->incs[id].line = l->number;
    }
}

/* Write "PREFIX <inc>." as one line. */
static void write_line(struct explainer *x, int32_t id, struct mb_buf *b, bool numbered)
{
    if (!x->rc)
        x->rc = inc_text(x, id, b);
    if (!x->rc)
        x->rc = mb_buf_append_cstr(b, ".", x->s->err);
    add_line(x, b, id, numbered);
}

static void visit(struct explainer *x, int32_t id, bool conclusion)
{
    struct solver *s = x->s;
    struct mb_err *err = s->err;
    if (x->rc)
        return;
    if (++x->depth > EXPLAIN_MAX_DEPTH) {
        x->rc = mb_fail(err, MB_E_LIMIT, "the explanation is too deep to print");
        return;
    }
    const struct inc *in = &s->incs[id];
    bool numbered = conclusion || in->refs > 1;
    const char *conj = conclusion || id == s->failure ? "So," : "And";
    struct mb_buf b;
    mb_buf_init(&b, 1u << 20);
    int32_t c1 = in->c1, c2 = in->c2;
    if (in->cause != C_DERIVED) {
        x->rc = mb_buf_append_cstr(&b, "", err);
        write_line(x, id, &b, numbered);
    } else if (is_derived(s, c1) && is_derived(s, c2)) {
        int32_t l1 = s->incs[c1].line, l2 = s->incs[c2].line;
        if (l1 && l2) {
            x->rc = mb_buf_append_cstr(&b, "Because ", err);
            if (!x->rc)
                x->rc = inc_text(x, c1, &b);
            if (!x->rc)
                x->rc = mb_buf_appendf(&b, err, " (%d) and ", l1);
            if (!x->rc)
                x->rc = inc_text(x, c2, &b);
            if (!x->rc)
                x->rc = mb_buf_appendf(&b, err, " (%d), ", l2);
            write_line(x, id, &b, numbered);
        } else if (l1 || l2) {
            int32_t with = l1 ? c1 : c2, without = l1 ? c2 : c1;
            visit(x, without, false);
            x->rc = x->rc ? x->rc : mb_buf_appendf(&b, err, "%s because ", conj);
            if (!x->rc)
                x->rc = inc_text(x, with, &b);
            if (!x->rc)
                x->rc = mb_buf_appendf(&b, err, " (%d), ", s->incs[with].line);
            write_line(x, id, &b, numbered);
        } else {
            const struct inc *i1 = &s->incs[c1], *i2 = &s->incs[c2];
            bool single1 = !is_derived(s, i1->c1) && !is_derived(s, i1->c2);
            bool single2 = !is_derived(s, i2->c1) && !is_derived(s, i2->c2);
            if (single1 || single2) {
                int32_t first = single2 ? c1 : c2, second = single2 ? c2 : c1;
                visit(x, first, false);
                visit(x, second, false);
                x->rc = x->rc ? x->rc : mb_buf_append_cstr(&b, "Thus, ", err);
                write_line(x, id, &b, numbered);
            } else {
                visit(x, c1, true);
                add_line(x, NULL, -1, false);
                visit(x, c2, false);
                x->rc = x->rc ? x->rc : mb_buf_appendf(&b, err, "%s because ", conj);
                if (!x->rc)
                    x->rc = inc_text(x, c1, &b);
                if (!x->rc)
                    x->rc = mb_buf_appendf(&b, err, " (%d), ", s->incs[c1].line);
                write_line(x, id, &b, numbered);
            }
        }
    } else if (is_derived(s, c1) || is_derived(s, c2)) {
        int32_t der = is_derived(s, c1) ? c1 : c2, ext = is_derived(s, c1) ? c2 : c1;
        const struct inc *d = &s->incs[der];
        if (d->line) {
            x->rc = mb_buf_append_cstr(&b, "Because ", err);
            if (!x->rc)
                x->rc = and_text(x, ext, der, d->line, &b);
            if (!x->rc)
                x->rc = mb_buf_append_cstr(&b, ", ", err);
            write_line(x, id, &b, numbered);
        } else if (d->refs <= 1 && (is_derived(s, d->c1) != is_derived(s, d->c2)) &&
                   !s->incs[is_derived(s, d->c1) ? d->c1 : d->c2].line) {
            int32_t dd = is_derived(s, d->c1) ? d->c1 : d->c2;
            int32_t de = is_derived(s, d->c1) ? d->c2 : d->c1;
            visit(x, dd, false);
            x->rc = x->rc ? x->rc : mb_buf_appendf(&b, err, "%s because ", conj);
            if (!x->rc)
                x->rc = and_text(x, de, ext, 0, &b);
            if (!x->rc)
                x->rc = mb_buf_append_cstr(&b, ", ", err);
            write_line(x, id, &b, numbered);
        } else {
            visit(x, der, false);
            x->rc = x->rc ? x->rc : mb_buf_appendf(&b, err, "%s because ", conj);
            if (!x->rc)
                x->rc = inc_text(x, ext, &b);
            if (!x->rc)
                x->rc = mb_buf_append_cstr(&b, ", ", err);
            write_line(x, id, &b, numbered);
        }
    } else {
        x->rc = mb_buf_append_cstr(&b, "Because ", err);
        if (!x->rc)
            x->rc = and_text(x, c1, c2, 0, &b);
        if (!x->rc)
            x->rc = mb_buf_append_cstr(&b, ", ", err);
        write_line(x, id, &b, numbered);
    }
    mb_buf_release(&b);
    x->depth--;
}

/* Capitalise the first letter of a line ("you asked for" -> "You asked for"). */
static void capitalise(char *s)
{
    if (s && s[0] >= 'a' && s[0] <= 'z')
        s[0] = (char)(s[0] - 'a' + 'A');
}

int mb_solver_explain(struct solver *s, int32_t failure, char **out)
{
    *out = NULL;
    struct explainer x;
    memset(&x, 0, sizeof(x));
    x.s = s;
    count_refs(s, failure, 0);
    visit(&x, failure, false);
    struct mb_buf o;
    mb_buf_init(&o, 64u << 20);
    int width = 0;
    if (x.next_number > 0)
        width = snprintf(NULL, 0, "(%d) ", x.next_number);
    for (size_t i = 0; i < x.n && !x.rc; i++) {
        struct line *l = &x.lines[i];
        if (l->number < 0) {
            x.rc = mb_buf_append_cstr(&o, "\n", s->err);
            continue;
        }
        capitalise(l->text);
        if (l->number > 0) {
            char num[24];
            snprintf(num, sizeof(num), "(%d) ", l->number);
            x.rc = mb_buf_appendf(&o, s->err, "%-*s%s\n", width, num, l->text);
        } else {
            x.rc = mb_buf_appendf(&o, s->err, "%*s%s\n", width, "", l->text);
        }
    }
    for (size_t i = 0; i < x.n; i++)
        mb_free(x.lines[i].text);
    mb_free(x.lines);
    if (x.rc) {
        mb_buf_release(&o);
        return x.rc;
    }
    *out = mb_buf_detach(&o, NULL);
    return *out ? 0 : mb_fail(s->err, MB_E_NOMEM, "out of memory");
}
