/*
 * router_cli.c - opening a base for routing and collecting routing examples
 * (router_cli.h), for `pack build --base` and `router fit`.
 */
#include "router_cli.h"

#include "mb_manifests.h"
#include "mb_store.h"

#include <dirent.h>
#include <errno.h>

void router_base_close(struct router_base *b)
{
    mb_router_embedder_free(b->emb);
    mb_base_free(b->base);
    mb_gguf_free(b->gguf);
    mb_backend_free(b->be);
    mb_free(b->id);
    mb_free(b->version);
    mb_free(b->path);
    memset(b, 0, sizeof(*b));
}

/* The base pack installed in ctx->home: `id`, or the only one of kind base. */
static int installed_base(struct mb_ctx *ctx, const char *id, struct router_base *out)
{
    struct mb_installed in;
    int rc = mb_store_installed_load(ctx->home, &in, &ctx->err);
    if (rc)
        return rc;
    const struct mb_installed_pack *p = NULL;
    for (size_t i = 0; i < in.n; i++)
        if (id ? !strcmp(in.v[i].id, id) : in.v[i].kind == MB_PACK_BASE) {
            p = &in.v[i];
            break;
        }
    if (!p)
        rc = id ? mb_fail(&ctx->err, MB_E_NOTFOUND,
                          "'%s' is neither a directory, a file nor an installed pack", id)
                : mb_fail(&ctx->err, MB_E_NOTFOUND,
                          "no base pack is installed (install one, or give --base DIR|ID|FILE)");
    else if (p->kind != MB_PACK_BASE)
        rc = mb_fail(&ctx->err, MB_E_USAGE, "installed pack '%s' is a %s pack, not a base", p->id,
                     mb_pack_kind_name(p->kind));
    else if (!p->weights)
        rc = mb_fail(&ctx->err, MB_E_NOTFOUND, "installed base '%s' has no weights", p->id);
    else if (!(out->id = mb_strdup(p->id)) || !(out->version = mb_strdup(p->version)) ||
             !(out->path = mb_strdup(p->weights)))
        rc = mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
    mb_installed_release(&in);
    return rc;
}

/* A base pack directory: its pack.yaml (kind base) names the GGUF. */
static int dir_base(struct mb_ctx *ctx, const char *dir, struct router_base *out)
{
    char *yaml = mb_path_join(dir, "pack.yaml");
    if (!yaml)
        return mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
    struct mb_manifest m;
    mb_manifest_init(&m);
    int rc = mb_manifest_load(yaml, &m, &ctx->err);
    if (!rc && m.kind != MB_PACK_BASE)
        rc = mb_fail(&ctx->err, MB_E_USAGE, "%s: field 'kind': '%s' is not a base pack", yaml,
                     mb_pack_kind_name(m.kind));
    if (!rc && (!(out->id = mb_strdup(m.id)) || !(out->version = mb_strdup(m.version_text)) ||
                !(out->path = mb_path_join(dir, m.weights_file))))
        rc = mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
    mb_manifest_release(&m);
    mb_free(yaml);
    return rc;
}

/* A copy of string key `key` of g, or "" when absent. */
static char *gguf_str_or_empty(const struct mb_gguf *g, const char *key)
{
    struct mb_str s = { "", 0 };
    if (mb_gguf_find_kv(g, key) && mb_gguf_get_str(g, key, &s, NULL))
        s = (struct mb_str){ "", 0 };
    return mb_strndup(s.p, s.n);
}

int router_base_open(struct mb_ctx *ctx, const char *spec, uint32_t n_understanding,
                     uint64_t threads, struct router_base *out)
{
    memset(out, 0, sizeof(*out));
    int rc;
    if (!spec)
        rc = installed_base(ctx, NULL, out);
    else if (mb_is_dir(spec))
        rc = dir_base(ctx, spec, out);
    else if (mb_path_exists(spec))
        rc = (out->path = mb_strdup(spec)) ? 0 : mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
    else
        rc = installed_base(ctx, spec, out);
    if (!rc)
        rc = mb_gguf_open(&out->gguf, out->path, &ctx->err);
    struct mb_str kind = { "", 0 };
    bool is_base = !rc && mb_gguf_find_kv(out->gguf, MB_MOD_KEY_KIND) &&
                   !mb_gguf_get_str(out->gguf, MB_MOD_KEY_KIND, &kind, NULL) &&
                   mb_str_eq_cstr(kind, "base");
    if (!rc && !out->id) {
        out->id = gguf_str_or_empty(out->gguf, MB_MOD_KEY_PACK_ID);
        out->version = gguf_str_or_empty(out->gguf, MB_MOD_KEY_PACK_VERSION);
        if (!out->id || !out->version)
            rc = mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
    }
    struct mb_cpu_opts copts = { 0 };
    if (threads > 256)
        threads = 256;
    copts.n_threads = (unsigned)threads;
    if (!rc)
        rc = mb_backend_cpu_new(&copts, &out->be, &ctx->err);
    if (!rc && is_base) {
        /* The base pack's own loader; the plain GGUF view is not needed. */
        mb_gguf_free(out->gguf);
        out->gguf = NULL;
        rc = mb_base_open(out->path, out->be, &out->base, &ctx->err);
        if (!rc && n_understanding && n_understanding != out->base->n_understanding)
            rc = mb_fail(&ctx->err, MB_E_USAGE,
                         "base '%s' has %u understanding blocks; routing keys must be computed "
                         "with those (not %u)",
                         out->path, out->base->n_understanding, n_understanding);
        if (!rc) {
            struct mb_router_embedder_src src = { &out->base->model->embd, out->base->understanding,
                                                  out->base->tok, out->be };
            rc = mb_router_embedder_new(&src, &out->emb, &ctx->err);
        }
    } else if (!rc) {
        rc =
            mb_router_embedder_open_gguf(out->gguf, n_understanding, out->be, &out->emb, &ctx->err);
    }
    if (rc)
        router_base_close(out);
    return rc;
}

void router_packs_release(struct router_packs *p)
{
    for (size_t i = 0; i < p->n; i++) {
        struct router_pack *r = &p->v[i];
        mb_free(r->id);
        mb_free(r->version);
        mb_free(r->domain);
        for (size_t j = 0; j < r->n_examples; j++)
            mb_free(r->examples[j]);
        mb_free(r->examples);
    }
    mb_free(p->v);
    memset(p, 0, sizeof(*p));
}

/* Append the pack of manifest `yaml` when it is a data pack with examples. */
static int add_pack(struct mb_ctx *ctx, const char *yaml, struct router_packs *out)
{
    struct mb_manifest m;
    mb_manifest_init(&m);
    int rc = mb_manifest_load(yaml, &m, &ctx->err);
    if (rc || m.kind != MB_PACK_DATA || !m.nexamples) {
        mb_manifest_release(&m);
        return rc;
    }
    for (size_t i = 0; i < out->n; i++)
        if (!strcmp(out->v[i].id, m.id)) {
            rc = mb_fail(&ctx->err, MB_E_USAGE, "%s: pack '%s' appears twice", yaml, m.id);
            mb_manifest_release(&m);
            return rc;
        }
    struct router_pack *v = mb_reallocarray(out->v, out->n + 1, sizeof(*v));
    if (!v) {
        mb_manifest_release(&m);
        return mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
    }
    out->v = v;
    struct router_pack *r = &v[out->n++];
    memset(r, 0, sizeof(*r));
    /* Take the strings over from the manifest. */
    r->id = m.id;
    r->version = m.version_text;
    r->domain = m.domain;
    r->examples = m.examples;
    r->n_examples = m.nexamples;
    m.id = m.version_text = m.domain = NULL;
    m.examples = NULL;
    m.nexamples = 0;
    mb_manifest_release(&m);
    return 0;
}

static int cmp_pack(const void *a, const void *b)
{
    return strcmp(((const struct router_pack *)a)->id, ((const struct router_pack *)b)->id);
}

int router_packs_collect(struct mb_ctx *ctx, const char *dir, struct router_packs *out)
{
    memset(out, 0, sizeof(*out));
    int rc = 0;
    if (dir) {
        DIR *d = opendir(dir);
        if (!d)
            return mb_fail_errno(&ctx->err, errno, "cannot read directory '%s'", dir);
        struct dirent *de;
        while (!rc && (de = readdir(d))) {
            if (de->d_name[0] == '.')
                continue;
            char *sub = mb_path_join(dir, de->d_name);
            char *yaml = sub ? mb_path_join(sub, "pack.yaml") : NULL;
            if (!yaml)
                rc = mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
            else if (mb_is_dir(sub) && mb_path_exists(yaml))
                rc = add_pack(ctx, yaml, out);
            mb_free(sub);
            mb_free(yaml);
        }
        closedir(d);
    } else {
        struct mb_installed in;
        rc = mb_store_installed_load(ctx->home, &in, &ctx->err);
        if (rc)
            return rc;
        for (size_t i = 0; !rc && i < in.n; i++)
            if (in.v[i].kind == MB_PACK_DATA)
                rc = add_pack(ctx, in.v[i].manifest, out);
        mb_installed_release(&in);
    }
    if (rc)
        router_packs_release(out);
    else if (out->n > 1)
        qsort(out->v, out->n, sizeof(*out->v), cmp_pack);
    return rc;
}

int router_embed_all(struct mb_ctx *ctx, struct router_base *b, char *const *texts, size_t n,
                     float *out)
{
    uint32_t dim = mb_router_embedder_dim(b->emb);
    for (size_t i = 0; i < n; i++) {
        if (mb_interrupted)
            return mb_fail(&ctx->err, MB_E_INTERRUPTED, "interrupted");
        int rc = mb_router_embed(b->emb, texts[i], strlen(texts[i]), out + i * dim, &ctx->err);
        if (rc)
            return rc;
    }
    return 0;
}
