/*
 * stack.c - a stack of llama blocks (mb_model.h): loading a block range from
 * any GGUF under a tensor-name prefix, the per-conversation state (KV cache and
 * scratch, allocated once), and the forward pass, one backend op at a time:
 *
 *     xn = rmsnorm(h) * attn_norm
 *     q, k, v = xn Wq^T, xn Wk^T, xn Wv^T          one matmul op, three outputs
 *     rope(q), rope(k); store k, v at the rows' positions
 *     h += attention(q, cache) Wo^T                 residual fused into the matmul
 *     xn = rmsnorm(h) * ffn_norm
 *     g, u = xn Wgate^T, xn Wup^T                   one op, two outputs
 *     h += (silu(g) * u) Wdown^T
 *
 * This is llama.cpp's llm_build_llama graph with the residual adds folded into
 * the matmuls that produce them (same float operation: y = y + dot).
 */
#include "model_int.h"

#include <math.h>

struct block {
    const float *attn_norm, *ffn_norm;
    void *attn_norm_owned, *ffn_norm_owned;
    struct mb_tensor_ref q, k, v, o, gate, up, down;
};

struct mb_stack {
    struct mb_block_hparams hp;
    uint32_t n_blocks;
    struct mb_backend *be;
    struct block *blocks;
    uint64_t weight_bytes;
};

struct mb_stack_state {
    struct mb_backend *be;
    struct mb_block_hparams hp;
    uint32_t n_blocks;
    size_t n_ctx, n_batch, n_past;
    uint32_t kv_type;
    size_t kv_block_bytes; /* one K (or V) array of one block */
    uint8_t *kv;           /* n_blocks x {K, V}, backend memory */
    float *scratch;        /* backend memory, see the offsets below */
    float *xn, *q, *k, *v, *att, *gate, *up;
    int32_t *pos;      /* n_batch positions, backend memory */
    int32_t *pos_host; /* staging for uploads */
};

/* ------------------------------------------------------------ loading */

static void block_release(struct mb_backend *be, struct block *b)
{
    if (b->attn_norm_owned)
        mb_backend_buf_free(be, b->attn_norm_owned);
    if (b->ffn_norm_owned)
        mb_backend_buf_free(be, b->ffn_norm_owned);
    model_tensor_release(be, &b->q);
    model_tensor_release(be, &b->k);
    model_tensor_release(be, &b->v);
    model_tensor_release(be, &b->o);
    model_tensor_release(be, &b->gate);
    model_tensor_release(be, &b->up);
    model_tensor_release(be, &b->down);
}

/* "<prefix><idx>.<what>" */
static int tensor_name(char *buf, size_t cap, const char *prefix, uint32_t idx, const char *what,
                       struct mb_err *err)
{
    if (!mb_snprintf(buf, cap, "%s%u.%s", prefix, idx, what))
        return mb_fail(err, MB_E_USAGE, "tensor name prefix '%s' is too long", prefix);
    return 0;
}

/* Tensors a llama block may have that we would have to ignore: refuse them. */
static const char *const unsupported_suffixes[] = {
    "attn_q.bias", "attn_k.bias", "attn_v.bias", "attn_output.bias", "ffn_gate_inp.weight", NULL,
};

static int load_block(const struct mb_gguf *g, const struct mb_stack_spec *spec, uint32_t idx,
                      struct mb_backend *be, struct block *b, struct mb_err *err)
{
    const struct mb_block_hparams *hp = &spec->hp;
    const size_t d = hp->n_embd, dq = (size_t)hp->n_head * hp->head_dim,
                 dkv = (size_t)hp->n_head_kv * hp->head_dim, ff = hp->n_ff;
    char name[MB_GGUF_MAX_NAME + 64];
    int rc;
    for (size_t i = 0; unsupported_suffixes[i]; i++) {
        if ((rc = tensor_name(name, sizeof(name), spec->prefix, idx, unsupported_suffixes[i], err)))
            return rc;
        if (mb_gguf_find_tensor(g, name))
            return mb_fail(err, MB_E_UNSUPPORTED,
                           "%s: tensor '%s' is not supported (llama blocks without biases "
                           "or experts only)",
                           mb_gguf_name(g), name);
    }
#define VEC(field, what)                                                             \
    if ((rc = tensor_name(name, sizeof(name), spec->prefix, idx, what, err)) ||      \
        (rc = model_vector_load(g, be, name, d, &b->field, &b->field##_owned, err))) \
        return rc;
#define MAT(field, what, rows, cols)                                            \
    if ((rc = tensor_name(name, sizeof(name), spec->prefix, idx, what, err)) || \
        (rc = model_matrix_load(g, be, name, rows, cols, &b->field, err)))      \
        return rc;
    VEC(attn_norm, "attn_norm.weight")
    MAT(q, "attn_q.weight", dq, d)
    MAT(k, "attn_k.weight", dkv, d)
    MAT(v, "attn_v.weight", dkv, d)
    MAT(o, "attn_output.weight", d, dq)
    VEC(ffn_norm, "ffn_norm.weight")
    MAT(gate, "ffn_gate.weight", ff, d)
    MAT(up, "ffn_up.weight", ff, d)
    MAT(down, "ffn_down.weight", d, ff)
#undef VEC
#undef MAT
    return 0;
}

int mb_stack_load(const struct mb_gguf *g, const struct mb_stack_spec *spec, struct mb_backend *be,
                  struct mb_stack **out, struct mb_err *err)
{
    *out = NULL;
    char what[128];
    mb_snprintf(what, sizeof(what), "%s: blocks %s%u..", mb_gguf_name(g),
                spec->prefix ? spec->prefix : "", spec->first);
    if (!spec->prefix || strlen(spec->prefix) > MB_GGUF_MAX_NAME)
        return mb_fail(err, MB_E_USAGE, "stack: tensor name prefix is missing or too long");
    if (spec->n_blocks == 0 || spec->first > UINT32_MAX - spec->n_blocks)
        return mb_fail(err, MB_E_USAGE, "%s: block range of %u blocks is invalid", what,
                       spec->n_blocks);
    int rc = mb_block_hparams_check(&spec->hp, what, err);
    if (rc)
        return rc;
    struct mb_stack *s = mb_calloc(1, sizeof(*s));
    if (!s)
        return mb_fail(err, MB_E_NOMEM, "out of memory loading %s", what);
    s->hp = spec->hp;
    s->be = be;
    s->blocks = mb_calloc(spec->n_blocks, sizeof(*s->blocks));
    if (!s->blocks) {
        mb_free(s);
        return mb_fail(err, MB_E_NOMEM, "out of memory loading %s", what);
    }
    for (uint32_t i = 0; i < spec->n_blocks; i++) {
        s->n_blocks = i + 1; /* so mb_stack_free releases what was loaded */
        rc = load_block(g, spec, spec->first + i, be, &s->blocks[i], err);
        if (rc) {
            mb_stack_free(s);
            return rc;
        }
        const struct block *b = &s->blocks[i];
        const struct mb_tensor_ref *m[] = {
            &b->q, &b->k, &b->v, &b->o, &b->gate, &b->up, &b->down
        };
        for (size_t j = 0; j < MB_ARRAY_LEN(m); j++)
            s->weight_bytes += model_matrix_bytes(&m[j]->w);
        s->weight_bytes += 2 * (uint64_t)spec->hp.n_embd * sizeof(float);
    }
    *out = s;
    return 0;
}

void mb_stack_free(struct mb_stack *s)
{
    if (!s)
        return;
    for (uint32_t i = 0; i < s->n_blocks; i++)
        block_release(s->be, &s->blocks[i]);
    mb_free(s->blocks);
    mb_free(s);
}

const struct mb_block_hparams *mb_stack_hparams(const struct mb_stack *s)
{
    return &s->hp;
}

uint32_t mb_stack_n_blocks(const struct mb_stack *s)
{
    return s->n_blocks;
}

uint64_t mb_stack_weight_bytes(const struct mb_stack *s)
{
    return s->weight_bytes;
}

/* ------------------------------------------------------------ state */

/* Floats of scratch per row: xn, q, k, v, att, gate, up. */
static bool scratch_row_floats(const struct mb_block_hparams *hp, size_t *out)
{
    size_t dq = (size_t)hp->n_head * hp->head_dim, dkv = (size_t)hp->n_head_kv * hp->head_dim;
    *out = (size_t)hp->n_embd + 2 * dq + 2 * dkv + 2 * (size_t)hp->n_ff;
    return true;
}

bool mb_stack_state_bytes(const struct mb_block_hparams *hp, uint32_t n_blocks, size_t n_ctx,
                          size_t n_batch, uint32_t kv_type, uint64_t *kv_bytes,
                          uint64_t *scratch_bytes)
{
    size_t one, all, row, scratch;
    if (!mb_kv_cache_bytes(kv_type, n_ctx, hp->n_head_kv, hp->head_dim, &one) ||
        !mb_mul_ok(one, 2 * (size_t)n_blocks, &all) || !scratch_row_floats(hp, &row) ||
        !mb_mul_ok(row, n_batch, &scratch) || !mb_mul_ok(scratch, sizeof(float), &scratch))
        return false;
    *kv_bytes = all;
    *scratch_bytes = scratch;
    return true;
}

int mb_stack_state_new(const struct mb_stack *s, struct mb_backend *be, size_t n_ctx,
                       size_t n_batch, uint32_t kv_type, struct mb_stack_state **out,
                       struct mb_err *err)
{
    *out = NULL;
    if (n_ctx == 0 || n_ctx > INT32_MAX || n_batch == 0 || n_batch > (1u << 20))
        return mb_fail(err, MB_E_USAGE, "stack state: context %zu / batch %zu is invalid", n_ctx,
                       n_batch);
    if (kv_type != MB_DTYPE_F16 && kv_type != MB_DTYPE_F32)
        return mb_fail(err, MB_E_USAGE, "stack state: KV cache type %s is not supported",
                       mb_dtype_name(kv_type));
    if (!mb_backend_supports(be, MB_OP_ATTENTION, kv_type))
        return mb_fail(err, MB_E_UNSUPPORTED, "the %s backend has no %s KV cache", be->name,
                       mb_dtype_name(kv_type));
    uint64_t kv_bytes, scratch_bytes;
    if (!mb_stack_state_bytes(&s->hp, s->n_blocks, n_ctx, n_batch, kv_type, &kv_bytes,
                              &scratch_bytes) ||
        kv_bytes > SIZE_MAX / 2)
        return mb_fail(err, MB_E_LIMIT, "a KV cache of %zu positions overflows", n_ctx);
    struct mb_stack_state *st = mb_calloc(1, sizeof(*st));
    if (!st)
        return mb_fail(err, MB_E_NOMEM, "out of memory for a stack state");
    st->be = be;
    st->hp = s->hp;
    st->n_blocks = s->n_blocks;
    st->n_ctx = n_ctx;
    st->n_batch = n_batch;
    st->kv_type = kv_type;
    mb_kv_cache_bytes(kv_type, n_ctx, s->hp.n_head_kv, s->hp.head_dim, &st->kv_block_bytes);
    void *kv = NULL, *scratch = NULL, *pos = NULL;
    int rc = mb_backend_alloc(be, (size_t)kv_bytes, &kv, err);
    if (rc) {
        char sz[32];
        mb_fail(err, rc, "out of memory for a KV cache of %s for %zu positions (lower --ctx)",
                mb_format_size(kv_bytes, sz, sizeof(sz)), n_ctx);
        goto fail;
    }
    st->kv = kv;
    if ((rc = mb_backend_alloc(be, (size_t)scratch_bytes, &scratch, err)))
        goto fail;
    st->scratch = scratch;
    if ((rc = mb_backend_alloc(be, n_batch * sizeof(int32_t), &pos, err)))
        goto fail;
    st->pos = pos;
    st->pos_host = mb_calloc(n_batch, sizeof(int32_t));
    if (!st->pos_host) {
        rc = mb_fail(err, MB_E_NOMEM, "out of memory for a stack state");
        goto fail;
    }
    const size_t dq = (size_t)s->hp.n_head * s->hp.head_dim,
                 dkv = (size_t)s->hp.n_head_kv * s->hp.head_dim;
    float *p = st->scratch;
    st->xn = p;
    p += n_batch * s->hp.n_embd;
    st->q = p;
    p += n_batch * dq;
    st->k = p;
    p += n_batch * dkv;
    st->v = p;
    p += n_batch * dkv;
    st->att = p;
    p += n_batch * dq;
    st->gate = p;
    p += n_batch * s->hp.n_ff;
    st->up = p;
    *out = st;
    return 0;
fail:
    mb_stack_state_free(st);
    return rc;
}

void mb_stack_state_free(struct mb_stack_state *st)
{
    if (!st)
        return;
    if (st->kv)
        mb_backend_buf_free(st->be, st->kv);
    if (st->scratch)
        mb_backend_buf_free(st->be, st->scratch);
    if (st->pos)
        mb_backend_buf_free(st->be, st->pos);
    mb_free(st->pos_host);
    mb_free(st);
}

size_t mb_stack_state_n_ctx(const struct mb_stack_state *st)
{
    return st->n_ctx;
}

size_t mb_stack_state_n_past(const struct mb_stack_state *st)
{
    return st->n_past;
}

void mb_stack_state_truncate(struct mb_stack_state *st, size_t n)
{
    if (n < st->n_past)
        st->n_past = n;
}

/* ------------------------------------------------------------ forward */

static struct mb_kv_cache block_cache(const struct mb_stack_state *st, uint32_t i)
{
    uint8_t *k = st->kv + (size_t)2 * i * st->kv_block_bytes;
    return (struct mb_kv_cache){
        .k = k,
        .v = k + st->kv_block_bytes,
        .type = st->kv_type,
        .n_ctx = st->n_ctx,
        .n_kv_head = st->hp.n_head_kv,
        .head_dim = st->hp.head_dim,
    };
}

/* One block over m rows of h (positions already in st->pos). */
static int run_block(const struct block *b, struct mb_stack_state *st, uint32_t bi, float *h,
                     size_t m, struct mb_err *err)
{
    struct mb_backend *be = st->be;
    const struct mb_block_hparams *hp = &st->hp;
    const size_t d = hp->n_embd, dq = (size_t)hp->n_head * hp->head_dim,
                 dkv = (size_t)hp->n_head_kv * hp->head_dim, ff = hp->n_ff;
    int rc;

    struct mb_rmsnorm_args norm = {
        .x = h,
        .y = st->xn,
        .w = b->attn_norm,
        .m = m,
        .n = d,
        .x_stride = d,
        .y_stride = d,
        .eps = hp->norm_eps,
    };
    if ((rc = mb_backend_rmsnorm(be, &norm, err)))
        return rc;

    struct mb_matmul_args qkv = { .x = st->xn, .m = m, .k = d, .x_stride = d, .n_out = 3 };
    qkv.out[0] = (struct mb_matmul_out){ b->q.w, st->q, dq, false };
    qkv.out[1] = (struct mb_matmul_out){ b->k.w, st->k, dkv, false };
    qkv.out[2] = (struct mb_matmul_out){ b->v.w, st->v, dkv, false };
    if ((rc = mb_backend_matmul(be, &qkv, err)))
        return rc;

    struct mb_rope_args rope = {
        .x = st->q,
        .pos = st->pos,
        .m = m,
        .x_stride = dq,
        .n_head = hp->n_head,
        .head_dim = hp->head_dim,
        .n_rot = hp->n_rot,
        .mode = hp->rope_mode,
        .freq_base = hp->rope_freq_base,
        .freq_scale = hp->rope_freq_scale,
    };
    if ((rc = mb_backend_rope(be, &rope, err)))
        return rc;
    rope.x = st->k;
    rope.x_stride = dkv;
    rope.n_head = hp->n_head_kv;
    if ((rc = mb_backend_rope(be, &rope, err)))
        return rc;

    struct mb_kv_cache cache = block_cache(st, bi);
    struct mb_kv_store_args store = {
        .cache = cache,
        .k = st->k,
        .v = st->v,
        .pos = st->pos,
        .m = m,
        .k_stride = dkv,
        .v_stride = dkv,
    };
    if ((rc = mb_backend_kv_store(be, &store, err)))
        return rc;
    struct mb_attention_args att = {
        .cache = cache,
        .q = st->q,
        .pos = st->pos,
        .out = st->att,
        .m = m,
        .n_head = hp->n_head,
        .q_stride = dq,
        .out_stride = dq,
        .scale = 1.0f / sqrtf((float)hp->head_dim),
    };
    if ((rc = mb_backend_attention(be, &att, err)))
        return rc;

    struct mb_matmul_args wo = { .x = st->att, .m = m, .k = dq, .x_stride = dq, .n_out = 1 };
    wo.out[0] = (struct mb_matmul_out){ b->o.w, h, d, true };
    if ((rc = mb_backend_matmul(be, &wo, err)))
        return rc;

    norm.w = b->ffn_norm;
    if ((rc = mb_backend_rmsnorm(be, &norm, err)))
        return rc;
    struct mb_matmul_args gu = { .x = st->xn, .m = m, .k = d, .x_stride = d, .n_out = 2 };
    gu.out[0] = (struct mb_matmul_out){ b->gate.w, st->gate, ff, false };
    gu.out[1] = (struct mb_matmul_out){ b->up.w, st->up, ff, false };
    if ((rc = mb_backend_matmul(be, &gu, err)))
        return rc;
    struct mb_silu_mul_args act = { .gate = st->gate, .up = st->up, .y = st->gate, .n = m * ff };
    if ((rc = mb_backend_silu_mul(be, &act, err)))
        return rc;
    struct mb_matmul_args down = { .x = st->gate, .m = m, .k = ff, .x_stride = ff, .n_out = 1 };
    down.out[0] = (struct mb_matmul_out){ b->down.w, h, d, true };
    return mb_backend_matmul(be, &down, err);
}

int mb_stack_forward_begin(const struct mb_stack *s, struct mb_stack_state *st, size_t n,
                           size_t pos, struct mb_err *err)
{
    if (st->n_blocks != s->n_blocks || st->hp.n_embd != s->hp.n_embd)
        return mb_fail(err, MB_E_USAGE, "stack state does not belong to this stack");
    if (n == 0 || n > st->n_batch)
        return mb_fail(err, MB_E_USAGE, "stack forward: %zu rows (1 to %zu per step)", n,
                       st->n_batch);
    if (pos > st->n_past)
        return mb_fail(err, MB_E_USAGE,
                       "stack forward: position %zu leaves a hole after %zu cached positions", pos,
                       st->n_past);
    if (n > st->n_ctx || pos > st->n_ctx - n)
        return mb_fail(err, MB_E_LIMIT,
                       "the context is full: %zu + %zu positions do not fit in %zu", pos, n,
                       st->n_ctx);
    st->n_past = pos;
    for (size_t i = 0; i < n; i++)
        st->pos_host[i] = (int32_t)(pos + i);
    return mb_backend_upload(st->be, st->pos, st->pos_host, n * sizeof(int32_t), err);
}

int mb_stack_forward_ops(const struct mb_stack *s, struct mb_stack_state *st, float *h, size_t n,
                         struct mb_err *err)
{
    if (!h || n == 0 || n > st->n_batch)
        return mb_fail(err, MB_E_USAGE, "stack forward: %zu rows (1 to %zu per step)", n,
                       st->n_batch);
    for (uint32_t bi = 0; bi < s->n_blocks; bi++) {
        int rc = run_block(&s->blocks[bi], st, bi, h, n, err);
        if (rc)
            return rc;
    }
    return 0;
}

void mb_stack_forward_end(struct mb_stack_state *st, size_t n)
{
    st->n_past += n;
}

int mb_stack_forward(const struct mb_stack *s, struct mb_stack_state *st, float *h, size_t n,
                     size_t pos, struct mb_err *err)
{
    if (st->n_blocks != s->n_blocks || st->hp.n_embd != s->hp.n_embd)
        return mb_fail(err, MB_E_USAGE, "stack state does not belong to this stack");
    if (!h || n == 0)
        return mb_fail(err, MB_E_USAGE, "stack forward: no rows");
    if (pos > st->n_past)
        return mb_fail(err, MB_E_USAGE,
                       "stack forward: position %zu leaves a hole after %zu cached positions", pos,
                       st->n_past);
    if (n > st->n_ctx || pos > st->n_ctx - n)
        return mb_fail(err, MB_E_LIMIT,
                       "the context is full: %zu + %zu positions do not fit in %zu", pos, n,
                       st->n_ctx);
    st->n_past = pos;
    const size_t d = s->hp.n_embd;
    for (size_t c0 = 0; c0 < n; c0 += st->n_batch) {
        const size_t m = MB_MIN(st->n_batch, n - c0);
        int rc = mb_stack_forward_begin(s, st, m, pos + c0, err);
        if (!rc)
            rc = mb_stack_forward_ops(s, st, h + c0 * d, m, err);
        if (rc)
            return rc;
        mb_stack_forward_end(st, m);
    }
    return 0;
}
