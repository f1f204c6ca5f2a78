/*
 * range.c - node-semver ranges: a hand-written parser for node-semver's range
 * grammar that desugars every construct (hyphen, x-range, tilde, caret) into
 * primitive comparators exactly as node-semver 7 does, its set normalisation
 * (duplicate, ANY and null-set handling), and matching with the prerelease
 * rule. See mb_semver.h and docs/manifest.md "Ranges".
 */
#include "mb_semver.h"
#include "semver_int.h"

#include <ctype.h>

/* A partial version from a range: "1", "1.x", "1.2.*", "v1.2.3-beta+b". */
struct partial {
    int given;     /* how many numeric-or-x parts were written (1..3) */
    bool x[3];     /* part is x, X, * or missing */
    uint64_t n[3]; /* value of numeric parts */
    struct mb_str pre, build;
    struct mb_str text; /* the whole partial as written (without the v/= prefix) */
};

struct parser {
    const char *t; /* the range text (owned copy) */
    size_t n;
    struct mb_comparator *cmps;
    size_t ncmps, cap;
    size_t *set_end;
    size_t nsets, set_cap;
    size_t set_start;
    bool incpre;
    const char *why; /* reason for a parse error */
    size_t at;       /* offset of the error */
};

static const struct mb_str ZERO_PRE = { "0", 1 };

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int push_cmp(struct parser *ps, enum mb_cmp_op op, uint64_t M, uint64_t m, uint64_t p,
                    struct mb_str pre, struct mb_str build)
{
    if (ps->ncmps == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 8;
        struct mb_comparator *c = mb_reallocarray(ps->cmps, cap, sizeof(*c));
        if (!c)
            return MB_E_NOMEM;
        ps->cmps = c;
        ps->cap = cap;
    }
    struct mb_comparator *c = &ps->cmps[ps->ncmps++];
    memset(c, 0, sizeof(*c));
    c->op = op;
    c->v.major = M;
    c->v.minor = m;
    c->v.patch = p;
    c->v.pre = pre;
    c->v.build = build;
    return 0;
}

static int push_any(struct parser *ps)
{
    struct mb_str none = { NULL, 0 };
    return push_cmp(ps, MB_CMP_ANY, 0, 0, 0, none, none);
}

static bool is_x_char(char c)
{
    return c == 'x' || c == 'X' || c == '*';
}

/*
 * Scan a partial version at p[0..n): node-semver's XRANGEPLAIN, including its
 * leading run of 'v' and '=' characters. Returns bytes consumed (0 on error).
 */
static size_t scan_partial(struct parser *ps, const char *p, size_t n, struct partial *out)
{
    memset(out, 0, sizeof(*out));
    size_t i = 0;
    while (i < n && (p[i] == 'v' || p[i] == '='))
        i++;
    size_t start = i;
    out->x[0] = out->x[1] = out->x[2] = true;
    for (int j = 0; j < 3; j++) {
        if (j > 0) {
            if (i >= n || p[i] != '.')
                break;
            i++;
        }
        if (i < n && is_x_char(p[i])) {
            i++;
        } else {
            const char *why = NULL;
            size_t k = mb_semver_scan_num(p + i, n - i, &out->n[j], &why);
            if (!k) {
                ps->why = j == 0 || !why || strcmp(why, "expected a number")
                              ? why
                              : "expected a number, 'x' or '*'";
                if (ps->why && !strcmp(ps->why, "expected a number"))
                    ps->why = "expected a version, 'x' or '*'";
                ps->at = (size_t)(p + i - ps->t);
                return 0;
            }
            out->x[j] = false;
            i += k;
        }
        out->given = j + 1;
    }
    if (out->given == 3) {
        const char *why = NULL;
        if (i < n && p[i] == '-') {
            size_t k = mb_semver_scan_idents(p + i + 1, n - i - 1, true, &why);
            if (!k) {
                ps->why = why;
                ps->at = (size_t)(p + i + 1 - ps->t);
                return 0;
            }
            out->pre.p = p + i + 1;
            out->pre.n = k;
            i += k + 1;
        }
        if (i < n && p[i] == '+') {
            size_t k = mb_semver_scan_idents(p + i + 1, n - i - 1, false, &why);
            if (!k) {
                ps->why = why;
                ps->at = (size_t)(p + i + 1 - ps->t);
                return 0;
            }
            out->build.p = p + i + 1;
            out->build.n = k;
            i += k + 1;
        }
    }
    out->text.p = p + start;
    out->text.n = i - start;
    return i;
}

/* A lower bound's prerelease: "-0" when prereleases are included, else none. */
static struct mb_str lower_pre(const struct parser *ps)
{
    struct mb_str none = { NULL, 0 };
    return ps->incpre ? ZERO_PRE : none;
}

static const struct mb_str NONE = { NULL, 0 };

/* node-semver's replaceXRange for one comparator with operator `op` ("", "=", "<", ...). */
static int desugar_xrange(struct parser *ps, const char *op, struct partial *v)
{
    bool xM = v->x[0], xm = xM || v->x[1], xp = xm || v->x[2];
    bool anyX = xp;
    uint64_t M = v->n[0], m = v->n[1], p = v->n[2];
    if (!strcmp(op, "=") && anyX)
        op = "";
    struct mb_str pr = lower_pre(ps);
    if (xM) {
        if (!strcmp(op, ">") || !strcmp(op, "<"))
            return push_cmp(ps, MB_CMP_LT, 0, 0, 0, ZERO_PRE, NONE); /* nothing allowed */
        return push_any(ps);
    }
    if (*op && anyX) {
        if (xm)
            m = 0;
        p = 0;
        if (!strcmp(op, ">")) {
            op = ">=";
            if (xm) {
                M++;
                m = 0;
            } else {
                m++;
            }
            p = 0;
        } else if (!strcmp(op, "<=")) {
            op = "<";
            if (xm)
                M++;
            else
                m++;
        }
        if (!strcmp(op, "<"))
            pr = ZERO_PRE;
        enum mb_cmp_op o = !strcmp(op, ">=") ? MB_CMP_GE : MB_CMP_LT;
        return push_cmp(ps, o, M, m, p, pr, NONE);
    }
    if (xm) {
        int rc = push_cmp(ps, MB_CMP_GE, M, 0, 0, pr, NONE);
        return rc ? rc : push_cmp(ps, MB_CMP_LT, M + 1, 0, 0, ZERO_PRE, NONE);
    }
    if (xp) {
        int rc = push_cmp(ps, MB_CMP_GE, M, m, 0, pr, NONE);
        return rc ? rc : push_cmp(ps, MB_CMP_LT, M, m + 1, 0, ZERO_PRE, NONE);
    }
    enum mb_cmp_op o = MB_CMP_EQ;
    if (!strcmp(op, "<"))
        o = MB_CMP_LT;
    else if (!strcmp(op, "<="))
        o = MB_CMP_LE;
    else if (!strcmp(op, ">"))
        o = MB_CMP_GT;
    else if (!strcmp(op, ">="))
        o = MB_CMP_GE;
    return push_cmp(ps, o, M, m, p, v->pre, v->build);
}

/* node-semver's replaceTilde: ~1.2.3 := >=1.2.3 <1.3.0-0, ~1 := >=1.0.0 <2.0.0-0. */
static int desugar_tilde(struct parser *ps, struct partial *v)
{
    uint64_t M = v->n[0], m = v->n[1], p = v->n[2];
    int rc;
    if (v->x[0])
        return push_any(ps);
    if (v->x[1]) {
        rc = push_cmp(ps, MB_CMP_GE, M, 0, 0, NONE, NONE);
        return rc ? rc : push_cmp(ps, MB_CMP_LT, M + 1, 0, 0, ZERO_PRE, NONE);
    }
    if (v->x[2]) {
        rc = push_cmp(ps, MB_CMP_GE, M, m, 0, NONE, NONE);
        return rc ? rc : push_cmp(ps, MB_CMP_LT, M, m + 1, 0, ZERO_PRE, NONE);
    }
    rc = push_cmp(ps, MB_CMP_GE, M, m, p, v->pre, NONE);
    return rc ? rc : push_cmp(ps, MB_CMP_LT, M, m + 1, 0, ZERO_PRE, NONE);
}

/* node-semver's replaceCaret: changes that do not modify the left-most non-zero part. */
static int desugar_caret(struct parser *ps, struct partial *v)
{
    uint64_t M = v->n[0], m = v->n[1], p = v->n[2];
    struct mb_str z = lower_pre(ps);
    int rc;
    if (v->x[0])
        return push_any(ps);
    if (v->x[1]) {
        rc = push_cmp(ps, MB_CMP_GE, M, 0, 0, z, NONE);
        return rc ? rc : push_cmp(ps, MB_CMP_LT, M + 1, 0, 0, ZERO_PRE, NONE);
    }
    if (v->x[2]) {
        rc = push_cmp(ps, MB_CMP_GE, M, m, 0, z, NONE);
        if (rc)
            return rc;
        if (M == 0)
            return push_cmp(ps, MB_CMP_LT, 0, m + 1, 0, ZERO_PRE, NONE);
        return push_cmp(ps, MB_CMP_LT, M + 1, 0, 0, ZERO_PRE, NONE);
    }
    if (v->pre.n)
        rc = push_cmp(ps, MB_CMP_GE, M, m, p, v->pre, NONE);
    else
        rc = push_cmp(ps, MB_CMP_GE, M, m, p, M == 0 ? z : NONE, NONE);
    if (rc)
        return rc;
    if (M == 0 && m == 0)
        return push_cmp(ps, MB_CMP_LT, 0, 0, p + 1, ZERO_PRE, NONE);
    if (M == 0)
        return push_cmp(ps, MB_CMP_LT, 0, m + 1, 0, ZERO_PRE, NONE);
    return push_cmp(ps, MB_CMP_LT, M + 1, 0, 0, ZERO_PRE, NONE);
}

/* node-semver's hyphenReplace: "1.2 - 2.3" := ">=1.2.0 <2.4.0-0". */
static int desugar_hyphen(struct parser *ps, struct partial *f, struct partial *t)
{
    int rc = 0;
    if (f->x[0])
        rc = 0; /* no lower bound */
    else if (f->x[1])
        rc = push_cmp(ps, MB_CMP_GE, f->n[0], 0, 0, lower_pre(ps), NONE);
    else if (f->x[2])
        rc = push_cmp(ps, MB_CMP_GE, f->n[0], f->n[1], 0, lower_pre(ps), NONE);
    else if (f->pre.n)
        rc = push_cmp(ps, MB_CMP_GE, f->n[0], f->n[1], f->n[2], f->pre, f->build);
    else
        rc = push_cmp(ps, MB_CMP_GE, f->n[0], f->n[1], f->n[2], lower_pre(ps), f->build);
    if (rc)
        return rc;
    if (t->x[0])
        rc = 0; /* no upper bound */
    else if (t->x[1])
        rc = push_cmp(ps, MB_CMP_LT, t->n[0] + 1, 0, 0, ZERO_PRE, NONE);
    else if (t->x[2])
        rc = push_cmp(ps, MB_CMP_LT, t->n[0], t->n[1] + 1, 0, ZERO_PRE, NONE);
    else if (t->pre.n)
        rc = push_cmp(ps, MB_CMP_LE, t->n[0], t->n[1], t->n[2], t->pre, NONE);
    else if (ps->incpre)
        rc = push_cmp(ps, MB_CMP_LT, t->n[0], t->n[1], t->n[2] + 1, ZERO_PRE, NONE);
    else
        rc = push_cmp(ps, MB_CMP_LE, t->n[0], t->n[1], t->n[2], NONE, t->build);
    if (rc)
        return rc;
    if (ps->ncmps == ps->set_start)
        return push_any(ps); /* "* - *" */
    return 0;
}

/* Try "A - B" over the whole alternative [a, b). Returns 1 if it was one, 0 if not, <0 on error. */
static int try_hyphen(struct parser *ps, size_t a, size_t b)
{
    struct partial f, t;
    const char *why = ps->why;
    size_t at = ps->at;
    size_t k = scan_partial(ps, ps->t + a, b - a, &f);
    ps->why = why;
    ps->at = at;
    if (!k)
        return 0;
    size_t i = a + k;
    size_t ws = i;
    while (i < b && is_ws(ps->t[i]))
        i++;
    if (i == ws || i >= b || ps->t[i] != '-')
        return 0;
    i++;
    ws = i;
    while (i < b && is_ws(ps->t[i]))
        i++;
    if (i == ws)
        return 0;
    k = scan_partial(ps, ps->t + i, b - i, &t);
    ps->why = why;
    ps->at = at;
    if (!k || i + k != b)
        return 0;
    int rc = desugar_hyphen(ps, &f, &t);
    return rc ? rc : 1;
}

/* Parse one comparator set (the text between "||"s), already trimmed to [a, b). */
static int parse_set(struct parser *ps, size_t a, size_t b)
{
    if (a == b)
        return push_any(ps); /* "" := "*" */
    int h = try_hyphen(ps, a, b);
    if (h)
        return h < 0 ? h : 0;
    size_t i = a;
    while (i < b) {
        while (i < b && is_ws(ps->t[i]))
            i++;
        if (i >= b)
            break;
        char op[3] = "";
        enum { PLAIN, TILDE, CARET } kind = PLAIN;
        size_t tok = i;
        if (ps->t[i] == '^') {
            kind = CARET;
            i++;
        } else if (ps->t[i] == '~') {
            kind = TILDE;
            i++;
            if (i < b && ps->t[i] == '>')
                i++;
        } else if (ps->t[i] == '<' || ps->t[i] == '>') {
            op[0] = ps->t[i++];
            if (i < b && ps->t[i] == '=')
                op[1] = ps->t[i++];
        } else if (ps->t[i] == '=') {
            op[0] = '=';
            i++;
        }
        if (i > tok) /* node allows spaces between an operator and its version */
            while (i < b && is_ws(ps->t[i]))
                i++;
        if (i >= b) {
            ps->why = "expected a version after the operator";
            ps->at = i;
            return MB_E_FORMAT;
        }
        struct partial v;
        size_t k = scan_partial(ps, ps->t + i, b - i, &v);
        if (!k)
            return MB_E_FORMAT;
        i += k;
        if (i < b && !is_ws(ps->t[i])) {
            ps->why = ps->t[i] == '-'   ? "a hyphen range needs spaces around '-' and only two "
                                          "versions"
                      : ps->t[i] == '|' ? "'|' is not an operator (use '||')"
                                        : "unexpected character";
            ps->at = i;
            return MB_E_FORMAT;
        }
        int rc = kind == CARET   ? desugar_caret(ps, &v)
                 : kind == TILDE ? desugar_tilde(ps, &v)
                                 : desugar_xrange(ps, op, &v);
        if (rc)
            return rc;
    }
    return 0;
}

static bool cmp_same(const struct mb_comparator *a, const struct mb_comparator *b)
{
    return a->op == b->op && (a->op == MB_CMP_ANY || mb_semver_cmp(&a->v, &b->v) == 0);
}

static bool is_null_cmp(const struct mb_comparator *c)
{
    return c->op == MB_CMP_LT && c->v.major == 0 && c->v.minor == 0 && c->v.patch == 0 &&
           c->v.pre.n == 1 && c->v.pre.p[0] == '0';
}

/* node-semver's per-set normalisation: null set wins, duplicates and extra ANYs go. */
static void normalize_set(struct parser *ps)
{
    struct mb_comparator *c = ps->cmps + ps->set_start;
    size_t n = ps->ncmps - ps->set_start;
    for (size_t i = 0; i < n; i++) {
        /* node's replaceGTE0: ">=0.0.0" (">=0.0.0-0" with prereleases) is "*". */
        const struct mb_semver *v = &c[i].v;
        if (c[i].op == MB_CMP_GE && !v->major && !v->minor && !v->patch &&
            (ps->incpre ? v->pre.n == 1 && v->pre.p[0] == '0' : v->pre.n == 0))
            c[i].op = MB_CMP_ANY;
    }
    for (size_t i = 0; i < n; i++) {
        if (is_null_cmp(&c[i])) {
            c[0] = c[i];
            ps->ncmps = ps->set_start + 1;
            return;
        }
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        bool dup = false;
        for (size_t j = 0; j < o && !dup; j++)
            dup = cmp_same(&c[j], &c[i]);
        if (!dup)
            c[o++] = c[i];
    }
    if (o > 1) {
        size_t w = 0;
        for (size_t i = 0; i < o; i++)
            if (c[i].op != MB_CMP_ANY)
                c[w++] = c[i];
        o = w;
    }
    ps->ncmps = ps->set_start + o;
}

static int end_set(struct parser *ps)
{
    normalize_set(ps);
    if (ps->nsets == ps->set_cap) {
        size_t cap = ps->set_cap ? ps->set_cap * 2 : 4;
        size_t *e = mb_reallocarray(ps->set_end, cap, sizeof(*e));
        if (!e)
            return MB_E_NOMEM;
        ps->set_end = e;
        ps->set_cap = cap;
    }
    ps->set_end[ps->nsets++] = ps->ncmps;
    ps->set_start = ps->ncmps;
    return 0;
}

/* node-semver's range-level normalisation: drop null sets; a lone "*" set wins. */
static void normalize_range(struct parser *ps)
{
    if (ps->nsets <= 1)
        return;
    size_t w_set = 0, w_cmp = 0, start = 0;
    size_t first_end = ps->set_end[0];
    for (size_t s = 0; s < ps->nsets; s++) {
        size_t end = ps->set_end[s];
        bool null_set = end - start == 1 && is_null_cmp(&ps->cmps[start]);
        if (!null_set) {
            memmove(ps->cmps + w_cmp, ps->cmps + start, (end - start) * sizeof(*ps->cmps));
            w_cmp += end - start;
            ps->set_end[w_set++] = w_cmp;
        }
        start = end;
    }
    if (w_set == 0) { /* every set was the null set: keep the first */
        ps->nsets = 1;
        ps->ncmps = first_end;
        ps->set_end[0] = first_end;
        return;
    }
    ps->nsets = w_set;
    ps->ncmps = w_cmp;
    start = 0;
    for (size_t s = 0; s < ps->nsets; s++) {
        size_t end = ps->set_end[s];
        if (end - start == 1 && ps->cmps[start].op == MB_CMP_ANY) {
            ps->cmps[0] = ps->cmps[start];
            ps->ncmps = 1;
            ps->nsets = 1;
            ps->set_end[0] = 1;
            return;
        }
        start = end;
    }
}

void mb_range_init(struct mb_range *r)
{
    memset(r, 0, sizeof(*r));
}

void mb_range_release(struct mb_range *r)
{
    if (!r)
        return;
    mb_free(r->text);
    mb_free(r->cmps);
    mb_free(r->set_end);
    mb_range_init(r);
}

int mb_range_parse(const char *text, bool include_prerelease, struct mb_range *out,
                   struct mb_err *err)
{
    mb_range_init(out);
    size_t n = strlen(text);
    char q[80];
    if (n > MB_RANGE_MAX_LEN)
        return mb_fail(err, MB_E_LIMIT, "\"%s\" is not a valid range (longer than %d bytes)",
                       mb_semver_quote(text, n, q, sizeof(q)), MB_RANGE_MAX_LEN);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)text[i] < 0x20 && !is_ws(text[i]))
            return mb_fail(err, MB_E_FORMAT,
                           "\"%s\" is not a valid range (control character at offset %zu)",
                           mb_semver_quote(text, n, q, sizeof(q)), i);
    struct parser ps;
    memset(&ps, 0, sizeof(ps));
    ps.incpre = include_prerelease;
    char *t = mb_strndup(text, n);
    if (!t)
        return mb_fail(err, MB_E_NOMEM, "out of memory parsing a range");
    ps.t = t;
    ps.n = n;
    int rc = 0;
    size_t a = 0;
    for (;;) {
        size_t b = a;
        while (b < n && !(t[b] == '|' && b + 1 < n && t[b + 1] == '|'))
            b++;
        size_t s = a, e = b;
        while (s < e && is_ws(t[s]))
            s++;
        while (e > s && is_ws(t[e - 1]))
            e--;
        rc = parse_set(&ps, s, e);
        if (!rc)
            rc = end_set(&ps);
        if (rc || b >= n)
            break;
        a = b + 2;
    }
    if (rc) {
        mb_free(t);
        mb_free(ps.cmps);
        mb_free(ps.set_end);
        if (rc == MB_E_NOMEM)
            return mb_fail(err, rc, "out of memory parsing a range");
        if (ps.at < n) {
            char q2[80];
            return mb_fail(err, MB_E_FORMAT, "\"%s\" is not a valid range (at \"%s\": %s)",
                           mb_semver_quote(text, n, q, sizeof(q)),
                           mb_semver_quote(text + ps.at, n - ps.at, q2, sizeof(q2)),
                           ps.why ? ps.why : "syntax error");
        }
        return mb_fail(err, MB_E_FORMAT, "\"%s\" is not a valid range (%s)",
                       mb_semver_quote(text, n, q, sizeof(q)), ps.why ? ps.why : "syntax error");
    }
    normalize_range(&ps);
    out->text = t;
    out->cmps = ps.cmps;
    out->ncmps = ps.ncmps;
    out->set_end = ps.set_end;
    out->nsets = ps.nsets;
    return 0;
}

static bool cmp_test(const struct mb_comparator *c, const struct mb_semver *v)
{
    if (c->op == MB_CMP_ANY)
        return true;
    int r = mb_semver_cmp(v, &c->v);
    switch (c->op) {
    case MB_CMP_EQ:
        return r == 0;
    case MB_CMP_LT:
        return r < 0;
    case MB_CMP_LE:
        return r <= 0;
    case MB_CMP_GT:
        return r > 0;
    case MB_CMP_GE:
        return r >= 0;
    case MB_CMP_ANY:
        break;
    }
    return true;
}

bool mb_range_satisfies(const struct mb_range *r, const struct mb_semver *v,
                        bool include_prerelease)
{
    size_t start = 0;
    for (size_t s = 0; s < r->nsets; s++) {
        size_t end = r->set_end[s];
        bool ok = true;
        for (size_t i = start; i < end && ok; i++)
            ok = cmp_test(&r->cmps[i], v);
        if (ok && v->pre.n && !include_prerelease) {
            /* The prerelease rule: some comparator must name a prerelease of this tuple. */
            bool allowed = false;
            for (size_t i = start; i < end && !allowed; i++) {
                const struct mb_semver *c = &r->cmps[i].v;
                if (r->cmps[i].op == MB_CMP_ANY || !c->pre.n)
                    continue;
                allowed = c->major == v->major && c->minor == v->minor && c->patch == v->patch;
            }
            ok = allowed;
        }
        if (ok)
            return true;
        start = end;
    }
    return false;
}

bool mb_range_is_any(const struct mb_range *r)
{
    return r->nsets == 1 && r->ncmps == 1 && r->cmps[0].op == MB_CMP_ANY;
}

int mb_range_format(const struct mb_range *r, struct mb_buf *out, struct mb_err *err)
{
    static const char *const ops[] = { "", "", "<", "<=", ">", ">=" };
    size_t start = 0;
    int rc = 0;
    for (size_t s = 0; s < r->nsets && !rc; s++) {
        if (s)
            rc = mb_buf_append_cstr(out, "||", err);
        for (size_t i = start; i < r->set_end[s] && !rc; i++) {
            char v[MB_SEMVER_STR_MAX];
            const struct mb_comparator *c = &r->cmps[i];
            if (i > start)
                rc = mb_buf_append_cstr(out, " ", err);
            if (!rc && c->op == MB_CMP_ANY)
                rc = mb_buf_append_cstr(out, "*", err);
            else if (!rc)
                rc = mb_buf_appendf(out, err, "%s%s", ops[c->op],
                                    mb_semver_format(&c->v, false, v, sizeof(v)));
        }
        start = r->set_end[s];
    }
    return rc;
}
