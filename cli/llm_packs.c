/*
 * llm_packs.c - the modular side of `run`, `chat` and `eval logits` (llm.h):
 * with no --model they run the modular model (runtime/mb_modular.h) of the
 * pack folders in --packs DIR, or of the packs installed in the store, and
 * choose the data packs of each turn: forced with --pack ID[:W], else the
 * general pack (routing over the installed packs' keys: see llm_route).
 */
#include "llm.h"
#include "mb_pack_cache.h"
#include "mb_store.h"

#include <math.h>

/* "id" or "id:weight" */
static int parse_pack_arg(struct mb_ctx *ctx, const char *arg, char *id, size_t cap, float *w)
{
    const char *colon = strchr(arg, ':');
    size_t n = colon ? (size_t)(colon - arg) : strlen(arg);
    if (n == 0 || n >= cap)
        return mb_usage_error(ctx, "--pack '%s': expected ID or ID:WEIGHT", arg);
    memcpy(id, arg, n);
    id[n] = '\0';
    *w = 1.0f;
    if (colon) {
        double d;
        if (!mb_parse_double(colon + 1, &d) || !isfinite(d) || d < -1e6 || d > 1e6)
            return mb_usage_error(ctx, "--pack '%s': '%s' is not a weight", arg, colon + 1);
        *w = (float)d;
    }
    return 0;
}

/*
 * After a selection: its fallback warnings, then the status file (`modularbase
 * status` shows the live cache) and the usage record of the store.
 */
static void after_select(struct mb_ctx *ctx, struct llm *l)
{
    struct mb_packset *ps = l->ps;
    for (const char *p = ps->warn; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        mb_cli_warn(ctx, "%.*s", (int)len, p);
        p += len + (nl ? 1 : 0);
    }
    char *home = NULL;
    struct mb_err e2;
    if (mb_home_resolve(ctx->home, &home, &e2) || !mb_is_dir(home)) {
        mb_free(home);
        return;
    }
    const char *ids[MB_MODULAR_MAX_PACKS];
    size_t k = 0;
    for (size_t i = 0; i < ps->n && k < MB_MODULAR_MAX_PACKS; i++)
        if (ps->v[i].held)
            ids[k++] = ps->v[i].id;
    /* best effort: a read-only store must not stop a chat */
    mb_pack_cache_status_write(ps->cache, home, &e2);
    mb_pack_usage_record(home, ids, k, mb_unix_time(), &e2);
    mb_free(home);
}

/* Select the --pack packs (forced) or the general pack. */
static int initial_selection(struct mb_ctx *ctx, const struct llm_opts *o, struct llm *l)
{
    struct mb_packset *ps = l->ps;
    size_t idx[MB_MODULAR_MAX_PACKS];
    float w[MB_MODULAR_MAX_PACKS];
    size_t n = 0;
    if (o->pack_ids.n > MB_MODULAR_MAX_PACKS)
        return mb_usage_error(ctx, "at most %d --pack options", MB_MODULAR_MAX_PACKS);
    for (size_t i = 0; i < o->pack_ids.n; i++) {
        char id[65];
        int rc = parse_pack_arg(ctx, o->pack_ids.v[i], id, sizeof(id), &w[n]);
        if (rc)
            return rc;
        idx[n] = mb_packset_find(ps, id);
        if (idx[n] == SIZE_MAX)
            return mb_fail(&ctx->err, MB_E_NOTFOUND, "--pack %s: no such pack among the %zu packs",
                           id, ps->n);
        n++;
    }
    l->forced = n > 0;
    if (!n) {
        if (ps->general == SIZE_MAX)
            return mb_fail(&ctx->err, MB_E_NOTFOUND,
                           "no general data pack (domain: general) to start with; name the packs "
                           "with --pack ID");
        idx[0] = ps->general;
        w[0] = 1.0f;
        n = 1;
    }
    int rc = mb_packset_select(ps, idx, w, n, &ctx->err);
    if (!rc)
        after_select(ctx, l);
    return rc;
}

int llm_open_packs(struct mb_ctx *ctx, const struct llm_opts *o, struct llm *l)
{
    struct mb_err *err = &ctx->err;
    char **dirs = NULL;
    size_t n = 0;
    int rc = 0;
    struct mb_installed in = { 0 };
    if (o->packs) {
        rc = mb_packset_list_dir(o->packs, &dirs, &n, err);
    } else {
        rc = mb_store_installed_load(ctx->home, &in, err);
        if (!rc && in.n == 0)
            rc = mb_fail(err, MB_E_NOTFOUND,
                         "no packs are installed: install some (modularbase pack install "
                         "general), or give --model FILE.gguf or --packs DIR");
        if (!rc && !(dirs = mb_calloc(in.n, sizeof(*dirs))))
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        for (size_t i = 0; !rc && i < in.n; i++)
            if (!(dirs[n++] = mb_strdup(in.v[i].dir)))
                rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        mb_installed_release(&in);
    }
    if (!rc) {
        struct mb_session_opts so;
        mb_session_opts_init(&so);
        so.n_ctx = (size_t)o->ctx;
        so.n_batch = (size_t)o->batch;
        if (o->kv_type && !strcmp(o->kv_type, "f32"))
            so.kv_type = MB_DTYPE_F32;
        rc = mb_packset_open((const char *const *)dirs, n, l->be, &so, o->mem_budget, &l->ps, err);
    }
    for (size_t i = 0; i < n; i++)
        mb_free(dirs[i]);
    mb_free(dirs);
    if (rc)
        return rc;
    l->model = l->ps->base->model;
    l->sess = mb_modular_session(l->ps->mod);
    rc = initial_selection(ctx, o, l);
    if (!rc && !l->forced) {
        /* routing: the packs' keys, and the fit of `router fit` when it matches them */
        char *home = NULL, *fit = NULL;
        struct mb_err e2;
        if (mb_home_resolve(ctx->home, &home, &e2) == 0)
            fit = mb_path_join(home, "router/" MB_ROUTER_FIT_FILE);
        rc = mb_packset_router_init(l->ps, fit, err);
        if (!rc && o->verbose) {
            fflush(stdout);
            fprintf(stderr, "routing: %zu data pack%s, %s%s%s\n", l->ps->route.n,
                    l->ps->route.n == 1 ? "" : "s",
                    l->ps->route.use_fit ? "fitted projection" : "raw h_u keys",
                    l->ps->route.note[0] ? "; " : "", l->ps->route.note);
        }
        mb_free(fit);
        mb_free(home);
    }
    return rc;
}

int llm_route(struct mb_ctx *ctx, const struct llm_opts *o, struct llm *l, const char *text,
              size_t n)
{
    if (!l->ps)
        return 0;
    struct mb_packset *ps = l->ps;
    if (l->forced) {
        if (o->verbose) {
            fflush(stdout);
            fputs("packs:", stderr);
            for (size_t i = 0; i < o->pack_ids.n; i++)
                fprintf(stderr, "%s %s", i ? "," : "", o->pack_ids.v[i]);
            fputs(" (forced)\n", stderr);
        }
        return 0;
    }
    struct mb_route_decision d;
    char desc[512];
    int rc = mb_packset_route(ps, text, n, &d, desc, sizeof(desc), &ctx->err);
    if (rc)
        return rc;
    size_t idx[MB_MODULAR_MAX_PACKS];
    float w[MB_MODULAR_MAX_PACKS];
    size_t k = 0;
    for (size_t i = 0; i < d.n && k < MB_MODULAR_MAX_PACKS; i++) {
        idx[k] = ps->route.entry[d.v[i].cand];
        w[k++] = d.v[i].weight;
    }
    if (k == 0) { /* nothing routed (no keys anywhere): the general pack */
        if (ps->general == SIZE_MAX)
            return mb_fail(&ctx->err, MB_E_NOTFOUND,
                           "no data pack matches and there is no general pack; name one with "
                           "--pack ID");
        idx[0] = ps->general;
        w[0] = 1.0f;
        k = 1;
        mb_snprintf(desc, sizeof(desc), "%s 1.00", ps->v[ps->general].id);
    }
    mb_packset_preload(ps, idx, k); /* loads start now, in the background */
    rc = mb_packset_select(ps, idx, w, k, &ctx->err);
    if (!rc)
        after_select(ctx, l);
    if (!rc && o->verbose) {
        fflush(stdout);
        fprintf(stderr, "packs: %s\n", desc);
    }
    return rc;
}
