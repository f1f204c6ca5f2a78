/*
 * semver_inc.c - version increments as node-semver's inc() does them (major,
 * minor, patch, premajor, preminor, prepatch, prerelease, with an optional
 * prerelease identifier), for `modularbase semver -i` and for tools that bump
 * pack versions.
 */
#include "mb_semver.h"

#include <ctype.h>

#define MAX_IDS 64

struct incv {
    uint64_t M, m, p;
    char *ids[MAX_IDS];
    size_t n;
};

static bool numeric(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

static void clear_pre(struct incv *v)
{
    for (size_t i = 0; i < v->n; i++)
        mb_free(v->ids[i]);
    v->n = 0;
}

static bool push_id(struct incv *v, const char *s)
{
    if (v->n >= MAX_IDS)
        return false;
    v->ids[v->n] = mb_strdup(s);
    return v->ids[v->n++] != NULL;
}

/* node's inc('pre', id): bump the last numeric identifier, else append 0. */
static bool inc_pre(struct incv *v, const char *preid)
{
    if (v->n == 0) {
        if (!push_id(v, "0"))
            return false;
    } else {
        size_t i = v->n;
        bool bumped = false;
        while (i-- > 0 && !bumped) {
            if (numeric(v->ids[i])) {
                uint64_t x;
                char buf[24];
                if (!mb_parse_u64(v->ids[i], &x) || x >= MB_SEMVER_MAX_NUM)
                    return false;
                snprintf(buf, sizeof(buf), "%llu", (unsigned long long)(x + 1));
                mb_free(v->ids[i]);
                v->ids[i] = mb_strdup(buf);
                if (!v->ids[i])
                    return false;
                bumped = true;
            }
        }
        if (!bumped && !push_id(v, "0"))
            return false;
    }
    if (preid && *preid) {
        bool same = !strcmp(v->ids[0], preid);
        if (!same || v->n < 2 || !numeric(v->ids[1])) {
            clear_pre(v);
            if (!push_id(v, preid) || !push_id(v, "0"))
                return false;
        }
    }
    return true;
}

static bool inc_step(struct incv *v, const char *level, const char *preid)
{
    if (!strcmp(level, "major")) {
        if (v->m || v->p || v->n == 0)
            v->M++;
        v->m = v->p = 0;
        clear_pre(v);
    } else if (!strcmp(level, "minor")) {
        if (v->p || v->n == 0)
            v->m++;
        v->p = 0;
        clear_pre(v);
    } else if (!strcmp(level, "patch")) {
        if (v->n == 0)
            v->p++;
        clear_pre(v);
    } else if (!strcmp(level, "premajor")) {
        clear_pre(v);
        v->p = v->m = 0;
        v->M++;
        return inc_pre(v, preid);
    } else if (!strcmp(level, "preminor")) {
        clear_pre(v);
        v->p = 0;
        v->m++;
        return inc_pre(v, preid);
    } else if (!strcmp(level, "prepatch")) {
        clear_pre(v);
        return inc_step(v, "patch", preid) && inc_pre(v, preid);
    } else if (!strcmp(level, "prerelease")) {
        if (v->n == 0 && !inc_step(v, "patch", preid))
            return false;
        return inc_pre(v, preid);
    } else {
        return false;
    }
    return true;
}

int mb_semver_inc(const struct mb_semver *in, const char *level, const char *preid, char *out,
                  size_t cap, struct mb_err *err)
{
    static const char *const levels[] = { "major",    "minor",    "patch",     "premajor",
                                          "preminor", "prepatch", "prerelease" };
    bool known = false;
    for (size_t i = 0; i < MB_ARRAY_LEN(levels); i++)
        known |= !strcmp(level, levels[i]);
    if (!known)
        return mb_fail(err, MB_E_USAGE,
                       "'%.32s' is not an increment (major, minor, patch, premajor, preminor, "
                       "prepatch or prerelease)",
                       level);
    for (const char *c = preid ? preid : ""; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '-')
            return mb_fail(err, MB_E_USAGE, "'%.32s' is not a prerelease identifier", preid);
    struct incv v = { in->major, in->minor, in->patch, { 0 }, 0 };
    bool ok = true;
    for (size_t i = 0, s = 0; ok && in->pre.n && i <= in->pre.n; i++) {
        if (i == in->pre.n || in->pre.p[i] == '.') {
            char *id = mb_strndup(in->pre.p + s, i - s);
            ok = id && v.n < MAX_IDS;
            if (ok)
                v.ids[v.n++] = id;
            else
                mb_free(id);
            s = i + 1;
        }
    }
    ok = ok && inc_step(&v, level, preid);
    if (ok && (v.M > MB_SEMVER_MAX_NUM || v.m > MB_SEMVER_MAX_NUM || v.p > MB_SEMVER_MAX_NUM))
        ok = false;
    size_t o = 0;
    if (ok) {
        int n = snprintf(out, cap, "%llu.%llu.%llu", (unsigned long long)v.M,
                         (unsigned long long)v.m, (unsigned long long)v.p);
        o = n > 0 ? (size_t)n : cap;
        for (size_t i = 0; i < v.n && o < cap; i++) {
            n = snprintf(out + o, cap - o, "%c%s", i ? '.' : '-', v.ids[i]);
            o += n > 0 ? (size_t)n : cap;
        }
        ok = o < cap;
    }
    clear_pre(&v);
    if (!ok)
        return mb_fail(err, MB_E_FORMAT,
                       "cannot increment the version (a number would exceed "
                       "2^53-1 or the result is too long)");
    return 0;
}
