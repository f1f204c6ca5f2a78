/*
 * router_embed.c - routing embeddings (mb_router.h): a text is tokenized as
 * plain text, its tokens are looked up in the base's embedding and run through
 * the understanding blocks 0..U-1 (their own small KV cache, reset per text),
 * and the hidden states are pooled (mb_router_pool: each token's state
 * normalised, then averaged and normalised again).
 * Used by `pack build --base` (routing keys), `router fit` (training examples)
 * and the router at chat time (the prompt).
 */
#include "mb_router.h"

struct mb_router_embedder {
    struct mb_router_embedder_src src;
    struct mb_stack_state *st;
    uint32_t dim;
    int32_t *ids_dev; /* MB_ROUTER_MAX_TOKENS ids, backend memory */
    float *h_dev;     /* MB_ROUTER_MAX_TOKENS x dim, backend memory */
    float *h_host;    /* same, host copy for pooling */
    /* Set when opened from a GGUF: what we own. */
    struct mb_stack *own_stack;
    struct mb_embedding own_embd;
    bool has_embd;
    struct mb_tokenizer *own_tok;
};

#define EMBED_BATCH 512u

void mb_router_embedder_free(struct mb_router_embedder *e)
{
    if (!e)
        return;
    if (e->src.be) {
        mb_backend_buf_free(e->src.be, e->ids_dev);
        mb_backend_buf_free(e->src.be, e->h_dev);
    }
    mb_stack_state_free(e->st);
    mb_free(e->h_host);
    mb_stack_free(e->own_stack);
    if (e->has_embd)
        mb_embedding_release(&e->own_embd);
    mb_tokenizer_free(e->own_tok);
    mb_free(e);
}

/* Allocate state and buffers for the parts in e->src. */
static int embedder_setup(struct mb_router_embedder *e, struct mb_err *err)
{
    struct mb_backend *be = e->src.be;
    e->dim = mb_stack_hparams(e->src.stack)->n_embd;
    size_t hn;
    if (!mb_mul_ok((size_t)MB_ROUTER_MAX_TOKENS, (size_t)e->dim * sizeof(float), &hn))
        return mb_fail(err, MB_E_LIMIT, "router: width %u too large", e->dim);
    int rc = mb_stack_state_new(e->src.stack, be, MB_ROUTER_MAX_TOKENS, EMBED_BATCH, MB_DTYPE_F32,
                                &e->st, err);
    if (!rc)
        rc =
            mb_backend_alloc(be, MB_ROUTER_MAX_TOKENS * sizeof(int32_t), (void **)&e->ids_dev, err);
    if (!rc)
        rc = mb_backend_alloc(be, hn, (void **)&e->h_dev, err);
    if (!rc && !(e->h_host = mb_malloc(hn)))
        rc = mb_fail(err, MB_E_NOMEM, "out of memory for the router's hidden states");
    return rc;
}

int mb_router_embedder_new(const struct mb_router_embedder_src *src,
                           struct mb_router_embedder **out, struct mb_err *err)
{
    *out = NULL;
    if (!src->embd || !src->stack || !src->tok || !src->be)
        return mb_fail(err, MB_E_USAGE, "router: embedder needs embedding, stack, tokenizer");
    struct mb_router_embedder *e = mb_calloc(1, sizeof(*e));
    if (!e)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    e->src = *src;
    int rc = embedder_setup(e, err);
    if (rc) {
        mb_router_embedder_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

/* U from the first of MB_ROUTER_BASE_U_KEYS present in g. */
static int read_u(const struct mb_gguf *g, uint32_t *u, struct mb_err *err)
{
    static const char *const keys[] = MB_ROUTER_BASE_U_KEYS;
    for (size_t i = 0; i < MB_ARRAY_LEN(keys); i++)
        if (mb_gguf_find_kv(g, keys[i]))
            return mb_gguf_get_u32(g, keys[i], u, err);
    return mb_fail(err, MB_E_NOTFOUND,
                   "%s: no key '%s' saying how many understanding blocks the base has "
                   "(give the number explicitly for a plain model)",
                   mb_gguf_name(g), keys[0]);
}

int mb_router_embedder_open_gguf(const struct mb_gguf *g, uint32_t n_understanding,
                                 struct mb_backend *be, struct mb_router_embedder **out,
                                 struct mb_err *err)
{
    *out = NULL;
    struct mb_llama_hparams hp;
    int rc = mb_llama_hparams_read(g, &hp, err);
    uint32_t u = n_understanding;
    if (!rc && !u)
        rc = read_u(g, &u, err);
    if (rc)
        return rc;
    if (u == 0 || u > hp.n_layer)
        return mb_fail(err, MB_E_USAGE, "%s: %u understanding blocks asked, the file has %u",
                       mb_gguf_name(g), u, hp.n_layer);
    struct mb_router_embedder *e = mb_calloc(1, sizeof(*e));
    if (!e)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    struct mb_stack_spec spec = { "blk.", 0, u, hp.block };
    rc = mb_embedding_load(g, "token_embd.weight", hp.block.n_embd, hp.n_vocab, be, &e->own_embd,
                           err);
    if (!rc) {
        e->has_embd = true;
        rc = mb_stack_load(g, &spec, be, &e->own_stack, err);
    }
    if (!rc)
        rc = mb_tokenizer_load_gguf(g, NULL, &e->own_tok, err);
    if (!rc) {
        e->src.embd = &e->own_embd;
        e->src.stack = e->own_stack;
        e->src.tok = e->own_tok;
        e->src.be = be;
        rc = embedder_setup(e, err);
    }
    if (rc) {
        if (!e->src.be)
            e->src.be = be;
        mb_router_embedder_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

uint32_t mb_router_embedder_dim(const struct mb_router_embedder *e)
{
    return e->dim;
}

uint32_t mb_router_embedder_n_blocks(const struct mb_router_embedder *e)
{
    return mb_stack_n_blocks(e->src.stack);
}

int mb_router_embed(struct mb_router_embedder *e, const char *text, size_t len, float *out,
                    struct mb_err *err)
{
    struct mb_tokens toks;
    mb_tokens_init(&toks, MB_ROUTER_MAX_TOKENS);
    int rc = mb_tokenizer_encode(e->src.tok, text, len, 0, &toks, err);
    if (rc == MB_E_LIMIT && toks.n == MB_ROUTER_MAX_TOKENS)
        rc = 0; /* a longer text is routed by its first MB_ROUTER_MAX_TOKENS tokens */
    size_t n = toks.n;
    if (!rc && n == 0) {
        memset(out, 0, (size_t)e->dim * sizeof(float));
        goto done;
    }
    struct mb_backend *be = e->src.be;
    if (!rc)
        rc = mb_backend_upload(be, e->ids_dev, toks.v, n * sizeof(int32_t), err);
    if (!rc)
        rc = mb_embedding_lookup(e->src.embd, e->ids_dev, n, e->h_dev, err);
    if (!rc) {
        mb_stack_state_truncate(e->st, 0);
        rc = mb_stack_forward(e->src.stack, e->st, e->h_dev, n, 0, err);
    }
    if (!rc)
        rc = mb_backend_download(be, e->h_host, e->h_dev, n * e->dim * sizeof(float), err);
    if (!rc)
        rc = mb_backend_sync(be, err);
    if (!rc)
        mb_router_pool(e->h_host, n, e->dim, out);
done:
    mb_tokens_release(&toks);
    return rc;
}
