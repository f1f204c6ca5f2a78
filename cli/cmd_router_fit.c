/*
 * cmd_router_fit.c - `modularbase router fit`: learn the router's projection
 * (regularised LDA, runtime/router_lda.c) from the routing examples of the
 * installed data packs (or of the pack directories under --packs DIR), run
 * through the base's understanding blocks; recompute every pack's key in the
 * projected space, and store the result in $MODULARBASE_HOME/router/fit.gguf
 * (installed packs are never modified). --eval FILE measures top-1 accuracy on
 * a labelled held-out set, with and without the projection.
 */
#include "router_cli.h"

#include <errno.h>
#include <math.h>

/* Index of the class whose key is most similar to unit vector q. */
static uint32_t nearest(const float *keys, uint32_t n_keys, uint32_t dim, const float *q)
{
    uint32_t best = 0;
    float bs = -3.0f;
    for (uint32_t c = 0; c < n_keys; c++) {
        struct mb_router_cand cand = { "", keys + (size_t)c * dim, 1, false };
        float s = mb_router_similarity(&cand, q, dim);
        if (s > bs) {
            bs = s;
            best = c;
        }
    }
    return best;
}

/* Keys (n_classes x dim) as the normalised class means of unit rows x. */
static void class_keys(const float *x, const uint32_t *labels, size_t n, uint32_t dim,
                       uint32_t n_classes, float *keys)
{
    for (uint32_t c = 0; c < n_classes; c++) {
        float *k = keys + (size_t)c * dim;
        memset(k, 0, (size_t)dim * sizeof(float));
        for (size_t i = 0; i < n; i++)
            if (labels[i] == c)
                for (uint32_t j = 0; j < dim; j++)
                    k[j] += x[i * dim + j];
        mb_router_normalize(k, dim);
    }
}

/* Mean similarity of rows x to their own class's key and to the best other key. */
static void sim_stats(const float *x, const uint32_t *labels, size_t n, const float *keys,
                      uint32_t n_classes, uint32_t dim, double *own, double *other)
{
    double so = 0, sw = 0;
    for (size_t i = 0; i < n; i++) {
        float bw = -2.0f;
        for (uint32_t c = 0; c < n_classes; c++) {
            struct mb_router_cand cand = { "", keys + (size_t)c * dim, 1, false };
            float s = mb_router_similarity(&cand, x + i * dim, dim);
            if (c == labels[i])
                so += (double)s;
            else if (s > bw)
                bw = s;
        }
        sw += (double)bw;
    }
    *own = n ? so / (double)n : 0;
    *other = n ? sw / (double)n : 0;
}

/* Accuracy of nearest-key classification of rows x (unit vectors). */
static double accuracy(const float *x, const uint32_t *labels, size_t n, const float *keys,
                       uint32_t n_classes, uint32_t dim)
{
    size_t ok = 0;
    for (size_t i = 0; i < n; i++)
        ok += nearest(keys, n_classes, dim, x + i * dim) == labels[i];
    return n ? (double)ok / (double)n : 0.0;
}

/* The labelled evaluation set: "label<TAB>prompt" lines ('#' comments, blank lines skipped). */
struct eval_set {
    struct mb_buf text;
    char **prompts;
    uint32_t *labels;
    size_t n;
};

static void eval_release(struct eval_set *e)
{
    mb_buf_release(&e->text);
    mb_free(e->prompts);
    mb_free(e->labels);
}

static int eval_load(struct mb_ctx *ctx, const char *path, const struct router_packs *packs,
                     struct eval_set *e)
{
    memset(e, 0, sizeof(*e));
    mb_buf_init(&e->text, 64u << 20);
    int rc = mb_file_read_all(path, 64u << 20, &e->text, &ctx->err);
    if (rc)
        return rc;
    if ((rc = mb_buf_append(&e->text, "", 1, &ctx->err)))
        return rc;
    size_t cap = 1;
    for (size_t i = 0; i + 1 < e->text.n; i++)
        cap += e->text.p[i] == '\n';
    e->prompts = mb_calloc(cap, sizeof(char *));
    e->labels = mb_calloc(cap, sizeof(uint32_t));
    if (!e->prompts || !e->labels)
        return mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
    char *p = (char *)e->text.p;
    size_t line = 0;
    while (*p) {
        line++;
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        size_t len = strlen(p);
        if (len && p[len - 1] == '\r')
            p[--len] = '\0';
        if (len && p[0] != '#') {
            char *tab = strchr(p, '\t');
            if (!tab || !tab[1])
                return mb_fail(&ctx->err, MB_E_FORMAT, "%s:%zu: expected 'label<TAB>prompt'", path,
                               line);
            *tab = '\0';
            size_t c = 0;
            while (c < packs->n && strcmp(packs->v[c].id, p) &&
                   !(packs->v[c].domain && !strcmp(packs->v[c].domain, p)))
                c++;
            if (c == packs->n)
                return mb_fail(&ctx->err, MB_E_FORMAT,
                               "%s:%zu: label '%s' is neither the id nor the domain of a pack "
                               "with routing examples",
                               path, line, p);
            e->prompts[e->n] = tab + 1;
            e->labels[e->n++] = (uint32_t)c;
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    if (!e->n)
        return mb_fail(&ctx->err, MB_E_FORMAT, "%s: no labelled prompts", path);
    return 0;
}

struct fit_result {
    size_t n_examples;
    double train_raw, train_fit;
    size_t n_eval;
    double eval_raw, eval_fit;
    /* mean similarity to the own key / the best other key (eval set, else train) */
    double own_raw, other_raw, own_fit, other_fit;
};

static void print_result(const struct router_packs *packs, const struct router_base *b,
                         const struct mb_router_fit *f, const struct fit_result *r,
                         const char *saved, bool json)
{
    uint32_t u = mb_router_embedder_n_blocks(b->emb);
    if (!json) {
        printf("fitted the router on %zu packs, %zu examples (base %s%s%s, U=%u, %u -> %u "
               "dimensions)\n",
               packs->n, r->n_examples, *b->id ? b->id : b->path, *b->version ? " " : "",
               b->version, u, f->proj.in_dim, f->proj.out_dim);
        printf("train accuracy: %.3f without fit, %.3f with fit\n", r->train_raw, r->train_fit);
        if (r->n_eval)
            printf("eval accuracy (%zu prompts): %.3f without fit, %.3f with fit\n", r->n_eval,
                   r->eval_raw, r->eval_fit);
        if (saved)
            printf("wrote %s\n", saved);
        return;
    }
    printf("{\"classes\": [");
    for (size_t i = 0; i < packs->n; i++) {
        printf("%s{\"id\": ", i ? ", " : "");
        mb_cli_json_string(stdout, packs->v[i].id);
        printf(", \"version\": ");
        mb_cli_json_string(stdout, packs->v[i].version);
        printf(", \"examples\": %zu}", packs->v[i].n_examples);
    }
    printf("], \"examples\": %zu, \"base\": ", r->n_examples);
    mb_cli_json_string(stdout, b->id);
    printf(", \"base_version\": ");
    mb_cli_json_string(stdout, b->version);
    printf(", \"understanding\": %u, \"dim\": %u, \"projected_dim\": %u, \"shrinkage\": %g", u,
           f->proj.in_dim, f->proj.out_dim, (double)f->shrinkage);
    printf(", \"train_accuracy\": %.4f, \"train_accuracy_without_fit\": %.4f", r->train_fit,
           r->train_raw);
    if (r->n_eval)
        printf(", \"eval\": {\"prompts\": %zu, \"accuracy\": %.4f, \"accuracy_without_fit\": "
               "%.4f}",
               r->n_eval, r->eval_fit, r->eval_raw);
    else
        printf(", \"eval\": null");
    printf(", \"similarity\": {\"own\": %.4f, \"best_other\": %.4f, \"own_without_fit\": "
           "%.4f, \"best_other_without_fit\": %.4f}",
           r->own_fit, r->other_fit, r->own_raw, r->other_raw);
    printf(", \"output\": ");
    if (saved)
        mb_cli_json_string(stdout, saved);
    else
        printf("null");
    printf("}\n");
}

/* Embed, fit, and fill f and r. */
static int fit(struct mb_ctx *ctx, struct router_base *b, const struct router_packs *packs,
               double shrinkage, const struct eval_set *ev, struct mb_router_fit *f,
               struct fit_result *r)
{
    uint32_t dim = mb_router_embedder_dim(b->emb), nc = (uint32_t)packs->n;
    size_t n = 0;
    for (size_t i = 0; i < packs->n; i++)
        n += packs->v[i].n_examples; /* each <= MB_MANIFEST_MAX_EXAMPLES */
    size_t rows = MB_MAX(n, ev ? ev->n : 0), cells;
    if (!mb_mul_ok(rows, dim, &cells))
        return mb_fail(&ctx->err, MB_E_LIMIT, "too many examples");
    float *x = mb_calloc(cells, sizeof(float));
    float *z = mb_calloc(cells, sizeof(float));
    float *raw_keys = mb_calloc((size_t)nc * dim, sizeof(float));
    uint32_t *labels = mb_calloc(n, sizeof(uint32_t));
    char **texts = mb_calloc(n, sizeof(char *));
    int rc = 0;
    if (!x || !z || !raw_keys || !labels || !texts) {
        rc = mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
        goto out;
    }
    size_t k = 0;
    for (uint32_t c = 0; c < nc; c++)
        for (size_t j = 0; j < packs->v[c].n_examples; j++) {
            labels[k] = c;
            texts[k++] = packs->v[c].examples[j];
        }
    rc = router_embed_all(ctx, b, texts, n, x);
    if (!rc)
        rc = mb_router_fit_lda(x, labels, n, dim, nc, shrinkage, &f->proj, &ctx->err);
    if (rc)
        goto out;
    uint32_t od = f->proj.out_dim;
    f->shrinkage = (float)shrinkage;
    mb_router_params_init_fit(&f->params);
    f->n_understanding = mb_router_embedder_n_blocks(b->emb);
    f->n_packs = nc;
    f->ids = mb_calloc(nc, sizeof(char *));
    f->versions = mb_calloc(nc, sizeof(char *));
    f->keys = mb_calloc((size_t)nc * od, sizeof(float));
    f->base_id = mb_strdup(b->id);
    f->base_version = mb_strdup(b->version);
    if (!f->ids || !f->versions || !f->keys || !f->base_id || !f->base_version) {
        rc = mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
        goto out;
    }
    for (uint32_t c = 0; c < nc; c++)
        if (!(f->ids[c] = mb_strdup(packs->v[c].id)) ||
            !(f->versions[c] = mb_strdup(packs->v[c].version))) {
            rc = mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
            goto out;
        }
    for (size_t i = 0; i < n; i++)
        mb_router_proj_apply(&f->proj, x + i * dim, z + i * od);
    class_keys(x, labels, n, dim, nc, raw_keys);
    class_keys(z, labels, n, od, nc, f->keys);
    r->n_examples = n;
    r->train_raw = accuracy(x, labels, n, raw_keys, nc, dim);
    r->train_fit = accuracy(z, labels, n, f->keys, nc, od);
    sim_stats(x, labels, n, raw_keys, nc, dim, &r->own_raw, &r->other_raw);
    sim_stats(z, labels, n, f->keys, nc, od, &r->own_fit, &r->other_fit);
    if (ev) {
        rc = router_embed_all(ctx, b, ev->prompts, ev->n, x);
        if (rc)
            goto out;
        for (size_t i = 0; i < ev->n; i++)
            mb_router_proj_apply(&f->proj, x + i * dim, z + i * od);
        r->n_eval = ev->n;
        r->eval_raw = accuracy(x, ev->labels, ev->n, raw_keys, nc, dim);
        r->eval_fit = accuracy(z, ev->labels, ev->n, f->keys, nc, od);
        sim_stats(x, ev->labels, ev->n, raw_keys, nc, dim, &r->own_raw, &r->other_raw);
        sim_stats(z, ev->labels, ev->n, f->keys, nc, od, &r->own_fit, &r->other_fit);
    }
out:
    mb_free(x);
    mb_free(z);
    mb_free(raw_keys);
    mb_free(labels);
    mb_free(texts);
    return rc;
}

int mb_cmd_router_fit(struct mb_ctx *ctx, int argc, char **argv)
{
    const char *base = NULL, *packs_dir = NULL, *eval_path = NULL, *output = NULL;
    uint64_t u = 0, threads = 0;
    double shrinkage = 0.5;
    bool json = false, no_save = false;
    const struct mb_opt opts[] = {
        { "base", 0, MB_OPT_STRING, &base, "DIR|ID|FILE",
          "the base to run (default: the installed base pack)" },
        { "understanding", 'u', MB_OPT_UINT, &u, "U",
          "understanding blocks to run (default: the base's; required for a plain model)" },
        { "packs", 0, MB_OPT_STRING, &packs_dir, "DIR",
          "fit on the pack directories under DIR instead of the installed packs" },
        { "shrinkage", 0, MB_OPT_DOUBLE, &shrinkage, "G",
          "LDA regularisation in (0, 1]: within-class scatter shrunk toward the identity "
          "(default 0.5)" },
        { "eval", 0, MB_OPT_STRING, &eval_path, "FILE",
          "measure top-1 accuracy on FILE ('pack-id-or-domain<TAB>prompt' lines)" },
        { "output", 'o', MB_OPT_STRING, &output, "FILE",
          "write the fit to FILE (default: $MODULARBASE_HOME/router/fit.gguf)" },
        { "no-save", 0, MB_OPT_FLAG, &no_save, NULL, "do not write the fit (measure only)" },
        { "threads", 't', MB_OPT_UINT, &threads, "N", "CPU threads (default: one per core)" },
        { "json", 0, MB_OPT_FLAG, &json, NULL, "print the result as JSON" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase router fit [--packs DIR] [--base DIR|ID|FILE] [--eval FILE] [--json]",
        "Learn the router's projection from the routing examples of the installed data packs "
        "(or of the pack directories under --packs DIR): each example is run through the "
        "base's understanding blocks, mean-pooled and normalised; a regularised linear "
        "discriminant analysis finds the directions that separate the packs, and every pack's "
        "routing key is recomputed in that space. The result goes to "
        "$MODULARBASE_HOME/router/fit.gguf; installed packs are not modified. Needs at least "
        "two data packs with routing examples.",
        "  modularbase router fit\n"
        "  modularbase router fit --packs packs/ --base smollm2-135m --json\n"
        "  modularbase router fit --packs packs/ --base model.gguf -u 4 --eval held-out.tsv "
        "--no-save",
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        return rc;
    if (npos)
        return mb_usage_error(ctx, "'router fit' takes no arguments");
    if (u > 4096)
        return mb_usage_error(ctx, "--understanding %llu is too large", (unsigned long long)u);
    if (!(shrinkage > 0 && shrinkage <= 1))
        return mb_usage_error(ctx, "--shrinkage must be in (0, 1]");
    if (packs_dir && !mb_is_dir(packs_dir))
        return mb_fail(&ctx->err, MB_E_NOTFOUND, "'%s' is not a directory", packs_dir);

    struct router_packs packs;
    struct router_base b;
    struct eval_set ev;
    struct mb_router_fit f;
    struct fit_result res;
    char *home = NULL, *dir = NULL, *out = NULL;
    memset(&b, 0, sizeof(b));
    memset(&ev, 0, sizeof(ev));
    memset(&f, 0, sizeof(f));
    memset(&res, 0, sizeof(res));
    rc = router_packs_collect(ctx, packs_dir, &packs);
    if (rc)
        return rc;
    if (packs.n < 2) {
        rc = mb_fail(&ctx->err, MB_E_USAGE,
                     "router fit needs at least two data packs with routing examples (found "
                     "%zu%s%s)",
                     packs.n, packs_dir ? " under " : " installed", packs_dir ? packs_dir : "");
        goto done;
    }
    if (eval_path)
        rc = eval_load(ctx, eval_path, &packs, &ev);
    if (!rc)
        rc = router_base_open(ctx, base, (uint32_t)u, threads, &b);
    if (!rc)
        rc = fit(ctx, &b, &packs, shrinkage, eval_path ? &ev : NULL, &f, &res);
    if (rc)
        goto done;
    if (!no_save) {
        if (output)
            out = mb_strdup(output);
        else if (!(rc = mb_home_resolve(ctx->home, &home, &ctx->err))) {
            dir = mb_path_join(home, "router");
            if (dir && !(rc = mb_mkdir_p(dir, 0755, &ctx->err)))
                out = mb_path_join(dir, MB_ROUTER_FIT_FILE);
        }
        if (!rc && !out)
            rc = mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
        if (!rc)
            rc = mb_router_fit_write(&f, out, &ctx->err);
        if (rc)
            goto done;
    }
    print_result(&packs, &b, &f, &res, out, json);
done:
    mb_router_fit_release(&f);
    router_base_close(&b);
    eval_release(&ev);
    router_packs_release(&packs);
    mb_free(home);
    mb_free(dir);
    mb_free(out);
    return rc;
}
