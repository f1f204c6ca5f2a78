/*
 * router_set.c - a router over one set of packs (struct mb_router in
 * mb_router.h): decides once, at setup, whether the fitted projection of
 * `router fit` covers the set (same base, every data pack with the same
 * version) or the packs' own routing keys are used, checks each pack's keys
 * against the base they were computed with, and then routes embeddings.
 */
#include "mb_router.h"

#include <stdarg.h>

static void note(struct mb_router *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct mb_router *r, const char *fmt, ...)
{
    if (r->note[0])
        return; /* keep the first reason */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->note, sizeof(r->note), fmt, ap);
    va_end(ap);
}

/* Whether string key `key` of g equals `want` ("" want: not checked). */
static bool gguf_str_is(const struct mb_gguf *g, const char *key, const char *want)
{
    if (!want || !*want)
        return true;
    struct mb_str s;
    if (!mb_gguf_find_kv(g, key) || mb_gguf_get_str(g, key, &s, NULL))
        return false;
    return mb_str_eq_cstr(s, want);
}

/* Whether the fit can route this set. */
static bool fit_covers(struct mb_router *r, const struct mb_router_pack_in *packs, size_t n,
                       const struct mb_router_base_info *base, const struct mb_router_fit *fit)
{
    if ((base->id && *base->id && strcmp(fit->base_id, base->id)) ||
        (base->version && *base->version && strcmp(fit->base_version, base->version)) ||
        fit->n_understanding != base->n_understanding || fit->proj.in_dim != base->dim) {
        note(r, "the router fit was made for base %s %s (U=%u); run 'modularbase router fit'",
             fit->base_id, fit->base_version, fit->n_understanding);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (packs[i].general)
            continue;
        size_t k = mb_router_fit_find(fit, packs[i].id);
        if (k == SIZE_MAX || strcmp(fit->versions[k], packs[i].version ? packs[i].version : "")) {
            note(r, "the router fit does not cover pack '%s' %s; run 'modularbase router fit'",
                 packs[i].id, packs[i].version ? packs[i].version : "");
            return false;
        }
    }
    return true;
}

/* The pack's own keys, when they were computed with this base. */
static int raw_keys(struct mb_router *r, size_t i, const struct mb_router_pack_in *p,
                    const struct mb_router_base_info *base, struct mb_err *err)
{
    if (!p->gguf || !mb_gguf_find_tensor(p->gguf, MB_ROUTER_KEYS_TENSOR)) {
        if (!p->general)
            note(r, "pack '%s' has no routing keys (build it with 'pack build --base')", p->id);
        return 0;
    }
    uint32_t u = 0;
    bool ok = gguf_str_is(p->gguf, MB_ROUTER_KEY_BASE_ID, base->id) &&
              gguf_str_is(p->gguf, MB_ROUTER_KEY_BASE_VER, base->version) &&
              mb_gguf_find_kv(p->gguf, MB_ROUTER_KEY_U) &&
              !mb_gguf_get_u32(p->gguf, MB_ROUTER_KEY_U, &u, NULL) && u == base->n_understanding;
    if (!ok) {
        note(r, "pack '%s' has routing keys for another base; it is not routed to", p->id);
        return 0;
    }
    float *k;
    uint32_t nk, dim;
    struct mb_err e2;
    int rc = mb_router_keys_read(p->gguf, &k, &nk, &dim, &e2);
    if (rc == MB_E_NOMEM)
        return mb_fail(err, rc, "%s", e2.msg);
    if (rc || dim != base->dim) {
        if (!rc)
            mb_free(k);
        note(r, "pack '%s': %s", p->id, rc ? e2.msg : "routing keys of another width");
        return 0;
    }
    r->keys[i] = k;
    r->cands[i].keys = k;
    r->cands[i].n_keys = nk;
    return 0;
}

int mb_router_init(struct mb_router *r, const struct mb_router_pack_in *packs, size_t n,
                   const struct mb_router_base_info *base, const struct mb_router_fit *fit,
                   const struct mb_router_params *raw_params, struct mb_err *err)
{
    memset(r, 0, sizeof(*r));
    r->cands = mb_calloc(n ? n : 1, sizeof(*r->cands));
    r->keys = mb_calloc(n ? n : 1, sizeof(*r->keys));
    if (!r->cands || !r->keys) {
        mb_router_release(r);
        return mb_fail(err, MB_E_NOMEM, "out of memory setting up the router");
    }
    r->n = n;
    r->in_dim = base->dim;
    for (size_t i = 0; i < n; i++) {
        r->cands[i].id = packs[i].id;
        r->cands[i].general = packs[i].general;
    }
    if (fit && fit_covers(r, packs, n, base, fit)) {
        r->proj = &fit->proj;
        r->dim = fit->proj.out_dim;
        r->params = fit->params;
        for (size_t i = 0; i < n; i++) {
            size_t k = mb_router_fit_find(fit, packs[i].id);
            if (k == SIZE_MAX)
                continue; /* the general pack, unless it had examples */
            r->cands[i].keys = fit->keys + k * r->dim;
            r->cands[i].n_keys = 1;
        }
        return 0;
    }
    r->dim = base->dim;
    if (raw_params)
        r->params = *raw_params;
    else
        mb_router_params_init(&r->params);
    for (size_t i = 0; i < n; i++) {
        int rc = raw_keys(r, i, &packs[i], base, err);
        if (rc) {
            mb_router_release(r);
            return rc;
        }
    }
    return 0;
}

void mb_router_release(struct mb_router *r)
{
    if (r->keys)
        for (size_t i = 0; i < r->n; i++)
            mb_free(r->keys[i]);
    mb_free(r->keys);
    mb_free(r->cands);
    memset(r, 0, sizeof(*r));
}

int mb_router_decide(const struct mb_router *r, const float *emb, struct mb_route_decision *out,
                     struct mb_err *err)
{
    if (!r->proj)
        return mb_router_route(&r->params, r->cands, r->n, emb, r->dim, out, err);
    float z[4096];
    if (r->dim > MB_ARRAY_LEN(z))
        return mb_fail(err, MB_E_LIMIT, "router: projection of %u dimensions", r->dim);
    mb_router_proj_apply(r->proj, emb, z);
    return mb_router_route(&r->params, r->cands, r->n, z, r->dim, out, err);
}
