/*
 * cmd_router_explain.c - `modularbase router explain [PROMPT...]`: show the
 * router's decision for prompts over the installed packs (or the pack folders
 * under --packs DIR) exactly as chat makes it: the base's routing embedding,
 * the fit of `router fit` when it covers the packs (else the packs' own
 * routing keys and the router pack's parameters), top-k above the threshold,
 * the general pack always eligible. One line per prompt ("python 0.85,
 * general 0.15"); prompts from the arguments, else one per line of stdin.
 */
#include "llm.h"
#include "router_cli.h"

#include "mb_manifests.h"
#include "mb_store.h"

#include <dirent.h>
#include <errno.h>

struct xpack {
    char *dir, *id, *version;
    enum mb_pack_kind kind;
    bool general;
    struct mb_gguf *gguf; /* data and router packs */
};

struct xset {
    struct xpack *v;
    size_t n;
};

static void xset_release(struct xset *s)
{
    for (size_t i = 0; i < s->n; i++) {
        mb_free(s->v[i].dir);
        mb_free(s->v[i].id);
        mb_free(s->v[i].version);
        mb_gguf_free(s->v[i].gguf);
    }
    mb_free(s->v);
}

/* Read pack folder `dir` (its pack.yaml, and the GGUF of data and router packs). */
static int xset_add(struct mb_ctx *ctx, struct xset *s, const char *dir)
{
    char *yaml = mb_path_join(dir, "pack.yaml");
    if (!yaml)
        return mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
    struct mb_manifest m;
    mb_manifest_init(&m);
    int rc = mb_manifest_load(yaml, &m, &ctx->err);
    mb_free(yaml);
    if (rc)
        return rc;
    struct xpack *v = mb_reallocarray(s->v, s->n + 1, sizeof(*v));
    if (!v) {
        mb_manifest_release(&m);
        return mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
    }
    s->v = v;
    struct xpack *p = &v[s->n++];
    memset(p, 0, sizeof(*p));
    p->kind = m.kind;
    p->general = m.kind == MB_PACK_DATA &&
                 ((m.domain && !strcmp(m.domain, "general")) || !strcmp(m.id, "general"));
    p->dir = mb_strdup(dir);
    p->id = mb_strdup(m.id);
    p->version = mb_strdup(m.version_text);
    char *gguf = mb_path_join(dir, m.weights_file);
    if (!p->dir || !p->id || !p->version || !gguf)
        rc = mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
    else if (m.kind != MB_PACK_BASE && mb_path_exists(gguf))
        rc = mb_gguf_open(&p->gguf, gguf, &ctx->err);
    mb_free(gguf);
    mb_manifest_release(&m);
    return rc;
}

static int xset_load(struct mb_ctx *ctx, const char *packs_dir, struct xset *s)
{
    memset(s, 0, sizeof(*s));
    int rc = 0;
    if (packs_dir) {
        struct dirent **names;
        int nn = scandir(packs_dir, &names, NULL, alphasort);
        if (nn < 0)
            return mb_fail_errno(&ctx->err, errno, "cannot read directory '%s'", packs_dir);
        for (int i = 0; i < nn; i++) {
            char *sub = rc ? NULL : mb_path_join(packs_dir, names[i]->d_name);
            char *yaml = sub ? mb_path_join(sub, "pack.yaml") : NULL;
            if (!rc && names[i]->d_name[0] != '.' && yaml && mb_path_exists(yaml))
                rc = xset_add(ctx, s, sub);
            mb_free(sub);
            mb_free(yaml);
            free(names[i]); /* allocated by scandir */
        }
        free(names);
    } else {
        struct mb_installed in;
        rc = mb_store_installed_load(ctx->home, &in, &ctx->err);
        if (rc)
            return rc;
        for (size_t i = 0; !rc && i < in.n; i++)
            rc = xset_add(ctx, s, in.v[i].dir);
        mb_installed_release(&in);
    }
    return rc;
}

/* The router pack's parameters for the raw space (absent keys keep the defaults). */
static void router_pack_params(const struct xset *s, struct mb_router_params *p)
{
    mb_router_params_init(p);
    for (size_t i = 0; i < s->n; i++) {
        const struct mb_gguf *g = s->v[i].gguf;
        if (s->v[i].kind != MB_PACK_ROUTER || !g)
            continue;
        float f;
        uint32_t u;
        if (mb_gguf_find_kv(g, "modularbase.router.tau") &&
            !mb_gguf_get_f32(g, "modularbase.router.tau", &f, NULL) && f > 0)
            p->tau = f;
        if (mb_gguf_find_kv(g, "modularbase.router.top_k") &&
            !mb_gguf_get_u32(g, "modularbase.router.top_k", &u, NULL) && u <= MB_ROUTER_MAX_K)
            p->top_k = u;
        if (mb_gguf_find_kv(g, "modularbase.router.threshold") &&
            !mb_gguf_get_f32(g, "modularbase.router.threshold", &f, NULL))
            p->threshold = f;
    }
}

static void print_decision(const struct mb_router *r, const struct mb_route_decision *d,
                           const char *prompt, bool json)
{
    if (!json) {
        char line[1024];
        mb_route_decision_format(d, r->cands, line, sizeof(line));
        printf("%s\n", line);
        return;
    }
    printf("{\"prompt\": ");
    mb_cli_json_string(stdout, prompt);
    printf(", \"space\": \"%s\", \"decision\": [", r->proj ? "fit" : "raw");
    for (size_t i = 0; i < d->n; i++) {
        printf("%s{\"id\": ", i ? ", " : "");
        mb_cli_json_string(stdout, r->cands[d->v[i].cand].id);
        printf(", \"weight\": %.4f, \"score\": %.4f}", (double)d->v[i].weight, (double)d->v[i].sim);
    }
    printf("], \"best\": ");
    if (d->best < r->n) {
        mb_cli_json_string(stdout, r->cands[d->best].id);
        printf(", \"best_score\": %.4f}\n", (double)d->best_sim);
    } else {
        printf("null, \"best_score\": null}\n");
    }
}

int mb_cmd_router_explain(struct mb_ctx *ctx, int argc, char **argv)
{
    const char *packs_dir = NULL, *fit_path = NULL;
    bool json = false, no_fit = false;
    uint64_t threads = 0;
    const struct mb_opt opts[] = {
        { "packs", 0, MB_OPT_STRING, &packs_dir, "DIR",
          "route over the pack folders under DIR instead of the installed packs" },
        { "fit", 0, MB_OPT_STRING, &fit_path, "FILE",
          "the router fit to use (default: $MODULARBASE_HOME/router/fit.gguf when present)" },
        { "no-fit", 0, MB_OPT_FLAG, &no_fit, NULL, "ignore the router fit: use the packs' keys" },
        { "threads", 't', MB_OPT_UINT, &threads, "N", "CPU threads (default: one per core)" },
        { "json", 0, MB_OPT_FLAG, &json, NULL, "print one JSON object per prompt" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase router explain [PROMPT...] [--packs DIR] [--no-fit] [--json]",
        "Show which packs the router selects for each PROMPT (else for each line of standard "
        "input), with their weights, as chat does: the base's routing embedding of the "
        "prompt against the installed data packs' routing keys, in the space of the router "
        "fit when it covers the installed packs. A note on stderr says when the fit or a "
        "pack's keys could not be used.",
        "  modularbase router explain \"How do I reverse a list in Python?\"\n"
        "  modularbase router explain --json < prompts.txt",
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        return rc;
    if (no_fit && fit_path)
        return mb_usage_error(ctx, "--fit and --no-fit exclude each other");
    if (packs_dir && !mb_is_dir(packs_dir))
        return mb_fail(&ctx->err, MB_E_NOTFOUND, "'%s' is not a directory", packs_dir);

    struct xset s;
    struct router_base b;
    struct mb_router_fit fit;
    struct mb_router r;
    struct mb_router_pack_in *in = NULL;
    struct mb_buf input;
    char *home = NULL, *fpath = NULL;
    bool have_fit = false;
    float *emb = NULL;
    memset(&b, 0, sizeof(b));
    memset(&r, 0, sizeof(r));
    memset(&fit, 0, sizeof(fit));
    mb_buf_init(&input, 16u << 20);
    rc = xset_load(ctx, packs_dir, &s);
    size_t base = SIZE_MAX;
    for (size_t i = 0; !rc && i < s.n; i++)
        if (s.v[i].kind == MB_PACK_BASE)
            base = i;
    if (!rc && base == SIZE_MAX)
        rc = mb_fail(&ctx->err, MB_E_NOTFOUND, "no base pack among the %s packs",
                     packs_dir ? "given" : "installed");
    if (!rc)
        rc = router_base_open(ctx, s.v[base].dir, 0, threads, &b);
    /* The fit: --fit FILE, else the store's when present. */
    if (!rc && !no_fit) {
        if (fit_path)
            fpath = mb_strdup(fit_path);
        else if (!(rc = mb_home_resolve(ctx->home, &home, &ctx->err))) {
            char *dir = mb_path_join(home, "router");
            fpath = dir ? mb_path_join(dir, MB_ROUTER_FIT_FILE) : NULL;
            mb_free(dir);
        }
        if (!rc && !fpath)
            rc = mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
        if (!rc && (fit_path || mb_path_exists(fpath))) {
            rc = mb_router_fit_read(fpath, &fit, &ctx->err);
            have_fit = !rc;
        }
    }
    size_t n_in = 0;
    if (!rc && !(in = mb_calloc(s.n ? s.n : 1, sizeof(*in))))
        rc = mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
    for (size_t i = 0; !rc && i < s.n; i++)
        if (s.v[i].kind == MB_PACK_DATA)
            in[n_in++] = (struct mb_router_pack_in){ s.v[i].id, s.v[i].version, s.v[i].gguf,
                                                     s.v[i].general };
    struct mb_router_params raw;
    router_pack_params(&s, &raw);
    uint32_t dim = 0;
    if (!rc) {
        dim = mb_router_embedder_dim(b.emb);
        struct mb_router_base_info bi = { b.id, b.version, mb_router_embedder_n_blocks(b.emb),
                                          dim };
        rc = mb_router_init(&r, in, n_in, &bi, have_fit ? &fit : NULL, &raw, &ctx->err);
    }
    if (!rc && r.note[0])
        mb_cli_note(ctx, "%s", r.note);
    if (!rc && !(emb = mb_calloc(dim, sizeof(float))))
        rc = mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
    if (!rc && !npos) {
        rc = llm_read_stdin(&input, 16u << 20, &ctx->err);
        if (!rc)
            rc = mb_buf_append(&input, "", 1, &ctx->err);
    }
    /* Prompts: the arguments, else the non-empty lines of stdin. */
    char *p = npos ? NULL : (char *)input.p;
    for (int i = 0; !rc; i++) {
        const char *prompt;
        if (npos) {
            if (i >= npos)
                break;
            prompt = argv[i];
        } else {
            if (!p || !*p)
                break;
            char *nl = strchr(p, '\n');
            if (nl)
                *nl = '\0';
            prompt = p;
            p = nl ? nl + 1 : NULL;
            if (!*prompt)
                continue;
        }
        struct mb_route_decision d;
        rc = mb_router_embed(b.emb, prompt, strlen(prompt), emb, &ctx->err);
        if (!rc)
            rc = mb_router_decide(&r, emb, &d, &ctx->err);
        if (!rc)
            print_decision(&r, &d, prompt, json);
    }
    mb_free(emb);
    mb_router_release(&r);
    mb_free(in);
    mb_router_fit_release(&fit);
    router_base_close(&b);
    xset_release(&s);
    mb_buf_release(&input);
    mb_free(home);
    mb_free(fpath);
    return rc;
}
