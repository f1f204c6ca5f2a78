/*
 * cmd_router_explain.c - `modularbase router explain [PROMPT...]`: show the
 * router's decision for prompts over the installed packs (or the pack folders
 * under --packs DIR) with the very code chat uses (mb_packset_router_init and
 * mb_packset_route, runtime/mb_modular.h): the base's routing embedding, the
 * fit of `router fit` when it matches the packs (else the packs' own routing
 * keys and the router pack's parameters), top-k above the threshold, the
 * general pack always eligible. One line per prompt ("python 0.85, general
 * 0.15"); prompts from the arguments, else one per line of stdin.
 */
#include "llm.h"
#include "router_cli.h"

#include "mb_store.h"

/* The pack folders: those under packs_dir, else the installed packs'. */
static int pack_dirs(struct mb_ctx *ctx, const char *packs_dir, char ***dirs, size_t *n)
{
    *dirs = NULL;
    *n = 0;
    if (packs_dir)
        return mb_packset_list_dir(packs_dir, dirs, n, &ctx->err);
    struct mb_installed in;
    int rc = mb_store_installed_load(ctx->home, &in, &ctx->err);
    if (rc)
        return rc;
    if (!in.n)
        rc = mb_fail(&ctx->err, MB_E_NOTFOUND, "no packs are installed");
    else if (!(*dirs = mb_calloc(in.n, sizeof(char *))))
        rc = mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
    for (size_t i = 0; !rc && i < in.n; i++) {
        if (!((*dirs)[i] = mb_strdup(in.v[i].dir)))
            rc = mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
        *n = i + 1;
    }
    mb_installed_release(&in);
    return rc;
}

static void print_decision(const struct mb_packset *ps, const struct mb_route_decision *d,
                           const char *desc, const char *prompt, bool json)
{
    const struct mb_packset_router *r = &ps->route;
    if (!json) {
        printf("%s\n", desc);
        return;
    }
    printf("{\"prompt\": ");
    mb_cli_json_string(stdout, prompt);
    printf(", \"space\": \"%s\", \"decision\": [", r->use_fit ? "fit" : "raw");
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

    char **dirs = NULL, *home = NULL, *fpath = NULL;
    size_t n_dirs = 0;
    struct mb_backend *be = NULL;
    struct mb_packset *ps = NULL;
    struct mb_buf input;
    mb_buf_init(&input, 16u << 20);
    rc = pack_dirs(ctx, packs_dir, &dirs, &n_dirs);
    /* The fit: --fit FILE, else the store's (used when present and matching). */
    if (!rc && !no_fit) {
        if (fit_path)
            fpath = mb_strdup(fit_path);
        else if (!(rc = mb_home_resolve(ctx->home, &home, &ctx->err)))
            fpath = mb_path_join(home, "router/" MB_ROUTER_FIT_FILE);
        if (!rc && !fpath)
            rc = mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
        if (!rc && fit_path && !mb_path_exists(fit_path))
            rc = mb_fail(&ctx->err, MB_E_NOTFOUND, "router fit '%s' does not exist", fit_path);
    }
    struct mb_cpu_opts copts = { 0 };
    copts.n_threads = (unsigned)MB_MIN(threads, 256);
    if (!rc)
        rc = mb_backend_cpu_new(&copts, &be, &ctx->err);
    struct mb_session_opts so;
    mb_session_opts_init(&so);
    so.n_ctx = 64; /* routing runs its own embedder; the model only needs to open */
    if (!rc)
        rc = mb_packset_open((const char *const *)dirs, n_dirs, be, &so, 0, &ps, &ctx->err);
    if (!rc)
        rc = mb_packset_router_init(ps, fpath, &ctx->err);
    if (!rc && ps->route.note[0])
        mb_cli_note(ctx, "%s", ps->route.note);
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
        char desc[1024];
        rc = mb_packset_route(ps, prompt, strlen(prompt), &d, desc, sizeof(desc), &ctx->err);
        if (!rc)
            print_decision(ps, &d, desc, prompt, json);
    }
    mb_packset_free(ps);
    mb_backend_free(be);
    for (size_t i = 0; i < n_dirs; i++)
        mb_free(dirs[i]);
    mb_free(dirs);
    mb_buf_release(&input);
    mb_free(home);
    mb_free(fpath);
    return rc;
}
