/*
 * pack_build_keys.c - the routing-keys step of `pack build --base`: run the
 * pack's routing.examples through the base's understanding blocks, average
 * them into the pack's key (runtime/mb_router.h) and write a copy of the
 * pack's GGUF with the tensor "routing.keys" and the modularbase.routing.*
 * keys (base id, version, U, width, example count) added. The copy is what
 * goes into the archive; the pack directory is not modified. Same inputs give
 * the same bytes: metadata and tensors keep their order, and the embedding is
 * deterministic.
 */
#include "pack_build_keys.h"

#include "mb_manifests.h"
#include "router_cli.h"

/* The base must be one the pack declares: manifest `base` and base_compatibility. */
static int check_base(struct mb_ctx *ctx, const char *yaml, const struct mb_manifest *m,
                      const struct router_base *b)
{
    if (m->base && *b->id && strcmp(m->base, b->id))
        return mb_fail(&ctx->err, MB_E_USAGE,
                       "%s: field 'base': the pack is for base '%s', not '%s'", yaml, m->base,
                       b->id);
    if (!m->nbase_compat || !*b->version)
        return 0;
    struct mb_semver v;
    if (mb_semver_parse_cstr(b->version, &v, NULL))
        return mb_fail(&ctx->err, MB_E_FORMAT, "base '%s' has an invalid version '%s'", b->id,
                       b->version);
    for (size_t i = 0; i < m->nbase_compat; i++)
        if (mb_range_satisfies(&m->base_compat_ranges[i], &v, false))
            return 0;
    return mb_fail(&ctx->err, MB_E_USAGE,
                   "%s: field 'base_compatibility' does not include base version %s: routing keys "
                   "computed with it would not be valid for the pack",
                   yaml, b->version);
}

static int write_copy(struct mb_ctx *ctx, const char *gguf, const struct router_base *b,
                      const float *key, uint32_t dim, size_t n_examples, const char *out)
{
    struct mb_gguf *g;
    int rc = mb_gguf_open(&g, gguf, &ctx->err);
    if (rc)
        return rc;
    struct mb_gguf_writer *w;
    if ((rc = mb_gguf_writer_new(&w, &ctx->err))) {
        mb_gguf_free(g);
        return rc;
    }
    rc = mb_gguf_writer_copy_kvs(w, g, NULL, &ctx->err);
    if (!rc)
        rc = mb_gguf_writer_set_string(w, MB_ROUTER_KEY_BASE_ID, b->id, &ctx->err);
    if (!rc)
        rc = mb_gguf_writer_set_string(w, MB_ROUTER_KEY_BASE_VER, b->version, &ctx->err);
    if (!rc)
        rc = mb_gguf_writer_set_u32(w, MB_ROUTER_KEY_U, mb_router_embedder_n_blocks(b->emb),
                                    &ctx->err);
    if (!rc)
        rc = mb_gguf_writer_set_u32(w, MB_ROUTER_KEY_DIM, dim, &ctx->err);
    if (!rc)
        rc = mb_gguf_writer_set_u32(w, MB_ROUTER_KEY_N_EXAMPLES, (uint32_t)n_examples, &ctx->err);
    size_t nt = mb_gguf_tensor_count(g);
    for (size_t i = 0; !rc && i < nt; i++) {
        const struct mb_gguf_tensor *t = mb_gguf_tensor_at(g, i);
        if (strcmp(t->name, MB_ROUTER_KEYS_TENSOR)) /* a rebuild replaces old keys */
            rc = mb_gguf_writer_copy_tensor(w, t, &ctx->err);
    }
    uint64_t dims[2] = { dim, 1 };
    if (!rc)
        rc = mb_gguf_writer_add_tensor(w, MB_ROUTER_KEYS_TENSOR, MB_DTYPE_F32, 2, dims, key,
                                       (uint64_t)dim * sizeof(float), &ctx->err);
    if (!rc)
        rc = mb_gguf_writer_write(w, out, NULL, &ctx->err);
    mb_gguf_writer_free(w);
    mb_gguf_free(g);
    return rc;
}

int pack_build_routing_keys(struct mb_ctx *ctx, const char *yaml, const char *gguf,
                            const char *base, uint32_t n_understanding, const char *out,
                            bool *wrote)
{
    *wrote = false;
    struct mb_manifest m;
    mb_manifest_init(&m);
    int rc = mb_manifest_load(yaml, &m, &ctx->err);
    if (rc)
        return rc;
    if (!m.nexamples) {
        mb_manifest_release(&m);
        return 0;
    }
    struct router_base b;
    float *x = NULL, *key = NULL;
    rc = router_base_open(ctx, base, n_understanding, 0, &b);
    if (rc) {
        mb_manifest_release(&m);
        return rc;
    }
    rc = check_base(ctx, yaml, &m, &b);
    uint32_t dim = mb_router_embedder_dim(b.emb);
    if (!rc) {
        x = mb_calloc(m.nexamples * dim, sizeof(float)); /* nexamples <= 10,000 */
        key = mb_calloc(dim, sizeof(float));
        if (!x || !key)
            rc = mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
    }
    if (!rc)
        rc = router_embed_all(ctx, &b, m.examples, m.nexamples, x);
    if (!rc) {
        mb_router_keys_mean(x, m.nexamples, dim, key);
        rc = write_copy(ctx, gguf, &b, key, dim, m.nexamples, out);
    }
    if (!rc)
        *wrote = true;
    mb_free(x);
    mb_free(key);
    router_base_close(&b);
    mb_manifest_release(&m);
    return rc;
}
