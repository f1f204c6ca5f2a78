/*
 * fuzz_resolve.c - libFuzzer target for the solver: the input bytes are
 * decoded into a small registry (up to 6 data packs and 2 base packs, with
 * versions, dependencies, conflicts, base requirements, yanked flags) and a
 * request. mb_resolve must never crash or report an internal error; a plan
 * must satisfy every rule (request, dependencies, conflicts, exactly one base
 * and its compatibility, no yanked version); a failure must come with an
 * explanation that ends the pub way and never says "root".
 */
#include "mb_resolver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NP 8

static const char *const VERS[] = { "0.1.0", "1.0.0", "1.1.0", "1.2.0-rc.1", "2.0.0", "2.1.0" };
static const char *const RANGES[] = { "*",      "^1.0.0",         "1.x",         ">=1.1.0",
                                      "~2.0.0", ">=1.0.0 <2.0.0", "^0.1.0",      ">=9.0.0",
                                      "1.0.0",  "^1.2.0-rc.1",    "2.x || 0.1.0" };

struct fsrc {
    struct mb_index_record recs[NP];
    size_t n;
};

static int load(void *ud, const char *id, const struct mb_index_record **rec, const char **registry,
                struct mb_err *err)
{
    struct fsrc *f = ud;
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->recs[i].id, id)) {
            *rec = &f->recs[i];
            *registry = "fuzz";
            return 0;
        }
    return mb_fail(err, MB_E_NOTFOUND, "no %s", id);
}

static int bases(void *ud, char ***ids, size_t *n, struct mb_err *err)
{
    struct fsrc *f = ud;
    *ids = mb_calloc(NP, sizeof(char *));
    *n = 0;
    if (!*ids)
        return mb_fail(err, MB_E_NOMEM, "oom");
    for (size_t i = 0; i < f->n; i++)
        if (f->recs[i].kind == MB_PACK_BASE)
            (*ids)[(*n)++] = mb_strdup(f->recs[i].id);
    return 0;
}

struct reader {
    const uint8_t *p;
    size_t n, i;
};

static unsigned next(struct reader *r, unsigned mod)
{
    unsigned v = r->i < r->n ? r->p[r->i] : 0;
    r->i++;
    return mod ? v % mod : v;
}

static const char *pid(unsigned i)
{
    static const char *const ids[NP] = { "base-a", "base-b", "p0", "p1", "p2", "p3", "p4", "p5" };
    return ids[i % NP];
}

static const struct mb_index_version *find(const struct fsrc *f, const char *id, const char *v,
                                           enum mb_pack_kind *kind)
{
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->recs[i].id, id))
            for (size_t j = 0; j < f->recs[i].nversions; j++)
                if (!strcmp(f->recs[i].versions[j].version_text, v)) {
                    *kind = f->recs[i].kind;
                    return &f->recs[i].versions[j];
                }
    return NULL;
}

static const struct mb_plan_entry *entry(const struct mb_resolution *r, const char *id)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->entries[i].id, id))
            return &r->entries[i];
    return NULL;
}

/* Trap unless the plan obeys every rule. */
static void check_plan(const struct fsrc *f, const struct mb_request *req, size_t nreq,
                       const struct mb_resolution *r)
{
    const struct mb_plan_entry *base = NULL;
    for (size_t i = 0; i < r->n; i++) {
        enum mb_pack_kind k;
        const struct mb_index_version *v = find(f, r->entries[i].id, r->entries[i].version, &k);
        if (!v || v->yanked)
            __builtin_trap();
        if (k == MB_PACK_BASE) {
            if (base)
                __builtin_trap(); /* two bases */
            base = &r->entries[i];
        }
    }
    if (!base)
        __builtin_trap();
    struct mb_semver bv;
    struct mb_err e;
    if (mb_semver_parse_cstr(base->version, &bv, &e))
        __builtin_trap();
    for (size_t i = 0; i < nreq; i++) {
        const struct mb_plan_entry *pe = entry(r, req[i].id);
        struct mb_semver v;
        if (!pe || mb_semver_parse_cstr(pe->version, &v, &e) ||
            !mb_range_satisfies(&req[i].range, &v, false))
            __builtin_trap();
    }
    for (size_t i = 0; i < r->n; i++) {
        enum mb_pack_kind k;
        const struct mb_index_version *v = find(f, r->entries[i].id, r->entries[i].version, &k);
        if (k == MB_PACK_BASE)
            continue;
        bool ok = false;
        for (size_t j = 0; j < v->nbase_compat; j++)
            ok |= mb_range_satisfies(&v->base_compat_ranges[j], &bv, false);
        if (!ok || (v->base && strcmp(v->base, base->id)))
            __builtin_trap();
        for (size_t j = 0; j < v->ndeps; j++) {
            const struct mb_plan_entry *d = entry(r, v->deps[j].id);
            struct mb_semver dv;
            if (!d || mb_semver_parse_cstr(d->version, &dv, &e) ||
                !mb_range_satisfies(&v->deps[j].range, &dv, false))
                __builtin_trap();
        }
        for (size_t j = 0; j < v->nconflicts; j++) {
            const struct mb_plan_entry *c = entry(r, v->conflicts[j].id);
            struct mb_semver cv;
            if (c && !mb_semver_parse_cstr(c->version, &cv, &e) &&
                (!v->conflicts[j].version ||
                 mb_range_satisfies(&v->conflicts[j].range, &cv, false)))
                __builtin_trap();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct reader rd = { data, size, 0 };
    struct fsrc *f = calloc(1, sizeof(*f));
    struct mb_err err;
    char json[8192];
    unsigned npacks = 3 + next(&rd, 6);
    for (unsigned p = 0; p < npacks && p < NP; p++) {
        bool is_base = p < 2;
        size_t o = (size_t)snprintf(json, sizeof(json),
                                    "{\"format\":1,\"id\":\"%s\",\"kind\":\"%s\",\"versions\":[",
                                    pid(p), is_base ? "base" : "data");
        unsigned nv = 1 + next(&rd, 4), used = 0;
        for (unsigned k = 0; k < nv; k++) {
            unsigned vi = next(&rd, MB_ARRAY_LEN(VERS));
            if (used & (1u << vi))
                continue;
            used |= 1u << vi;
            o += (size_t)snprintf(json + o, sizeof(json) - o,
                                  "%s{\"version\":\"%s\",\"name\":\"x\",\"archive\":\"a\","
                                  "\"sha256\":\"%064d\",\"size\":1,\"yanked\":%s",
                                  k && o && json[o - 1] == '}' ? "," : "", VERS[vi], 0,
                                  next(&rd, 8) == 0 ? "true" : "false");
            if (!is_base) {
                o +=
                    (size_t)snprintf(json + o, sizeof(json) - o, ",\"base_compatibility\":[\"%s\"]",
                                     RANGES[next(&rd, MB_ARRAY_LEN(RANGES))]);
                if (next(&rd, 6) == 0)
                    o += (size_t)snprintf(json + o, sizeof(json) - o, ",\"base\":\"%s\"",
                                          pid(next(&rd, 2)));
                unsigned nd = next(&rd, 3), seen = 0;
                o += (size_t)snprintf(json + o, sizeof(json) - o, ",\"dependencies\":[");
                for (unsigned d = 0, w = 0; d < nd; d++) {
                    unsigned t = 2 + next(&rd, 6);
                    if (t == p || (seen & (1u << t)))
                        continue;
                    seen |= 1u << t;
                    o += (size_t)snprintf(json + o, sizeof(json) - o,
                                          "%s{\"id\":\"%s\",\"version\":\"%s\"}", w++ ? "," : "",
                                          pid(t), RANGES[next(&rd, MB_ARRAY_LEN(RANGES))]);
                }
                o += (size_t)snprintf(json + o, sizeof(json) - o, "]");
                if (next(&rd, 5) == 0) {
                    unsigned t = 2 + next(&rd, 6);
                    if (t != p)
                        o += (size_t)snprintf(json + o, sizeof(json) - o,
                                              ",\"conflicts\":[{\"id\":\"%s\"}]", pid(t));
                }
            }
            o += (size_t)snprintf(json + o, sizeof(json) - o, "}");
        }
        snprintf(json + o, sizeof(json) - o, "]}");
        if (mb_index_parse(pid(p), json, strlen(json), pid(p), &f->recs[f->n], &err))
            __builtin_trap(); /* the decoder only writes valid records */
        f->n++;
    }
    struct mb_request req[3];
    size_t nreq = 0;
    unsigned want = 1 + next(&rd, 3);
    for (unsigned i = 0; i < want; i++) {
        char spec[64];
        unsigned t = next(&rd, NP);
        snprintf(spec, sizeof(spec), "%s@%s", pid(t), RANGES[next(&rd, MB_ARRAY_LEN(RANGES))]);
        bool dup = false;
        for (size_t j = 0; j < nreq; j++)
            dup |= !strcmp(req[j].id, pid(t));
        if (!dup && mb_request_parse(spec, false, &req[nreq], &err) == 0)
            nreq++;
    }
    struct mb_resolve_source src = { load, bases, f };
    struct mb_resolve_opts opts = { .requests = req, .nrequests = nreq };
    struct mb_resolution res;
    int rc = mb_resolve(&src, &opts, &res, &err);
    if (rc == 0)
        check_plan(f, req, nreq, &res);
    else if (rc == MB_E_CONFLICT) {
        if (!res.explanation || !strstr(res.explanation, "no solution was found") ||
            strstr(res.explanation, "root"))
            __builtin_trap();
    } else if (rc != MB_E_NOMEM && rc != MB_E_LIMIT) {
        __builtin_trap(); /* MB_E_INTERNAL and friends are bugs */
    }
    mb_resolution_release(&res);
    for (size_t i = 0; i < nreq; i++)
        mb_request_release(&req[i]);
    for (size_t i = 0; i < f->n; i++)
        mb_index_record_release(&f->recs[i]);
    free(f);
    return 0;
}
