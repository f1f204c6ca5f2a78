/*
 * modular_route.c - per-turn routing over a pack set (docs/routing.md,
 * docs/modular.md): the user's text is embedded by the base's understanding
 * blocks (mb_router_embed: tokens as plain text, per-token normalised mean of
 * h_u, the very procedure `pack build --base` used for the keys), projected by
 * the fitted router when its fit matches the installed packs, and scored
 * against each data pack's keys (mb_router_route). The general pack is always
 * eligible. The decision is returned; selecting the packs is the caller's
 * (so that the pack cache and the fallback walk sit in between).
 */
#include "mb_manifests.h"
#include "mb_modular.h"

#include <math.h>

static void router_release(struct mb_packset_router *r)
{
    mb_router_embedder_free(r->emb);
    for (size_t i = 0; i < r->n; i++)
        mb_free(r->keys ? r->keys[i] : NULL);
    mb_free(r->keys);
    mb_free(r->cands);
    mb_free(r->entry);
    mb_router_fit_release(&r->fit);
    mb_free(r->q);
    mb_free(r->qp);
    memset(r, 0, sizeof(*r));
}

void mb_packset_router_release(struct mb_packset *ps)
{
    router_release(&ps->route);
}

/* Append a note (what was left out) to r->note, "; "-separated. */
static void note(struct mb_packset_router *r, const char *what)
{
    size_t n = strlen(r->note);
    if (n + 3 < sizeof(r->note))
        mb_snprintf(r->note + n, sizeof(r->note) - n, "%s%s", n ? "; " : "", what);
}

/* The keys of data pack e (NULL, 0 when it has none or they do not fit the base). */
static int pack_keys(struct mb_packset *ps, const struct mb_packset_entry *e, float **keys,
                     uint32_t *n_keys, struct mb_err *err)
{
    *keys = NULL;
    *n_keys = 0;
    char *path = NULL;
    struct mb_gguf *g = NULL;
    int rc = mb_pack_weights_path(e->dir, &path, err);
    if (!rc)
        rc = mb_gguf_open(&g, path, err);
    if (rc) { /* unreadable now: the fallback walk deals with it when it is selected */
        char msg[MB_ERR_MSG_MAX];
        mb_snprintf(msg, sizeof(msg), "pack '%s' not routed (%s)", e->id, err->msg);
        note(&ps->route, msg);
        mb_err_init(err);
        mb_free(path);
        return 0;
    }
    uint32_t dim = 0, u = 0;
    struct mb_err e2;
    rc = mb_router_keys_read(g, keys, n_keys, &dim, &e2);
    if (rc == 0 && dim != mb_base_width(ps->base)) {
        char msg[MB_ERR_MSG_MAX];
        mb_snprintf(msg, sizeof(msg), "pack '%s' has %u-wide keys, the base is %u wide", e->id, dim,
                    mb_base_width(ps->base));
        note(&ps->route, msg);
        rc = MB_E_FORMAT;
    } else if (rc == 0 && mb_gguf_get_u32(g, MB_ROUTER_KEY_U, &u, &e2) == 0 &&
               u != ps->base->n_understanding) {
        char msg[MB_ERR_MSG_MAX];
        mb_snprintf(msg, sizeof(msg), "pack '%s' has keys for U=%u, the base runs U=%u", e->id, u,
                    ps->base->n_understanding);
        note(&ps->route, msg);
        rc = MB_E_FORMAT;
    } else if (rc && rc != MB_E_NOTFOUND) {
        char msg[MB_ERR_MSG_MAX];
        mb_snprintf(msg, sizeof(msg), "pack '%s' not routed (%s)", e->id, e2.msg);
        note(&ps->route, msg);
    }
    if (rc) {
        mb_free(*keys);
        *keys = NULL;
        *n_keys = 0;
    }
    mb_gguf_free(g);
    mb_free(path);
    return 0;
}

/* Use the fit when it names this base (and U) and exactly the routed data packs. */
static bool fit_matches(struct mb_packset *ps, const char *fit_path)
{
    struct mb_packset_router *r = &ps->route;
    struct mb_err e2;
    if (!fit_path || !mb_path_exists(fit_path))
        return false;
    if (mb_router_fit_read(fit_path, &r->fit, &e2)) {
        char msg[MB_ERR_MSG_MAX];
        mb_snprintf(msg, sizeof(msg), "router fit ignored (%s)", e2.msg);
        note(r, msg);
        return false;
    }
    const char *why = NULL;
    char buf[160];
    if (r->fit.proj.in_dim != mb_base_width(ps->base) ||
        r->fit.n_understanding != ps->base->n_understanding ||
        (r->fit.base_id[0] && strcmp(r->fit.base_id, ps->base->id)) ||
        (r->fit.base_version[0] && strcmp(r->fit.base_version, ps->base->version)))
        why = "it was fitted for another base";
    size_t with_keys = 0;
    for (size_t i = 0; !why && i < r->n; i++) {
        const struct mb_packset_entry *e = &ps->v[r->entry[i]];
        if (r->cands[i].n_keys == 0)
            continue; /* the general pack without keys */
        with_keys++;
        size_t j = mb_router_fit_find(&r->fit, e->id);
        if (j == SIZE_MAX || (r->fit.versions[j][0] && strcmp(r->fit.versions[j], e->version))) {
            mb_snprintf(buf, sizeof(buf), "pack '%s' %s is not in it", e->id, e->version);
            why = buf;
        }
    }
    if (!why && with_keys != r->fit.n_packs)
        why = "it names packs that are not installed";
    if (why) {
        char msg[MB_ERR_MSG_MAX];
        mb_snprintf(msg, sizeof(msg), "router fit ignored: %s (run `modularbase router fit`)", why);
        note(r, msg);
        mb_router_fit_release(&r->fit);
        return false;
    }
    return true;
}

int mb_packset_router_init(struct mb_packset *ps, const char *fit_path, struct mb_err *err)
{
    struct mb_packset_router *r = &ps->route;
    router_release(r);
    r->params.tau = ps->tau;
    r->params.top_k = ps->top_k;
    r->params.threshold = ps->threshold;
    r->dim = mb_base_width(ps->base);
    r->cands = mb_calloc(MB_MAX(ps->n, 1), sizeof(*r->cands));
    r->entry = mb_calloc(MB_MAX(ps->n, 1), sizeof(*r->entry));
    r->keys = mb_calloc(MB_MAX(ps->n, 1), sizeof(*r->keys));
    r->q = mb_calloc(r->dim, sizeof(float));
    if (!r->cands || !r->entry || !r->keys || !r->q) {
        router_release(r);
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    int rc = 0;
    for (size_t i = 0; !rc && i < ps->n; i++) {
        const struct mb_packset_entry *e = &ps->v[i];
        if (e->kind != (int)MB_PACK_DATA)
            continue;
        float *keys;
        uint32_t n_keys;
        rc = pack_keys(ps, e, &keys, &n_keys, err);
        if (rc || (n_keys == 0 && i != ps->general)) {
            mb_free(keys);
            continue; /* nothing to route on */
        }
        r->keys[r->n] = keys;
        r->cands[r->n] = (struct mb_router_cand){ e->id, keys, n_keys, i == ps->general };
        r->entry[r->n++] = i;
    }
    if (!rc && fit_matches(ps, fit_path)) {
        r->use_fit = true;
        r->params = r->fit.params;
        for (size_t i = 0; i < r->n; i++) {
            if (r->cands[i].n_keys == 0)
                continue;
            size_t j = mb_router_fit_find(&r->fit, r->cands[i].id);
            r->cands[i].keys = r->fit.keys + j * r->fit.proj.out_dim;
            r->cands[i].n_keys = 1;
        }
        if (!(r->qp = mb_calloc(r->fit.proj.out_dim, sizeof(float))))
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    if (!rc) {
        struct mb_router_embedder_src src = { &ps->base->model->embd, ps->base->understanding,
                                              ps->base->tok, ps->be };
        rc = mb_router_embedder_new(&src, &r->emb, err);
    }
    if (rc)
        router_release(r);
    return rc;
}

int mb_packset_route(struct mb_packset *ps, const char *text, size_t len,
                     struct mb_route_decision *d, char *desc, size_t desc_cap, struct mb_err *err)
{
    struct mb_packset_router *r = &ps->route;
    memset(d, 0, sizeof(*d));
    if (desc_cap)
        desc[0] = '\0';
    if (!r->emb)
        return mb_fail(err, MB_E_STATE, "routing is not set up");
    if (r->n == 0)
        return 0; /* nothing to route to: an empty decision */
    /* at most the embedder's window: the end of a long message is what it asks */
    int rc = mb_router_embed(r->emb, text, len, r->q, err);
    if (rc)
        return rc;
    const float *q = r->q;
    uint32_t dim = r->dim;
    if (r->use_fit) {
        mb_router_proj_apply(&r->fit.proj, r->q, r->qp);
        q = r->qp;
        dim = r->fit.proj.out_dim;
    }
    rc = mb_router_route(&r->params, r->cands, r->n, q, dim, d, err);
    if (!rc && desc_cap)
        mb_route_decision_format(d, r->cands, desc, desc_cap);
    return rc;
}
