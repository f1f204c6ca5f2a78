/*
 * bench_forward.c - the kernels composed into a llama forward pass on a real
 * GGUF file (SmolLM2-135M by default), through the backend interface exactly
 * as the runtime calls it: prefill of N tokens in one batch, then decode of M
 * tokens one at a time (greedy), with the time spent per op family. It is a
 * kernel benchmark, not the runtime: no tokenizer, no sampler, token ids come
 * from the command line or are synthetic.
 *
 *   bench_forward MODEL.gguf [--threads N] [--isa LEVEL] [--prefill N] [--decode M]
 *                 [--ids 1,2,3] [--print-tokens] [--f32-cache] [--dump-logits FILE]
 *                 [--ggml-attention]   (round_f16 in attention, as llama.cpp does)
 *
 * Prints one JSON object: prefill and decode tokens/s, and the share of each
 * op family. With --ids and --print-tokens it also prints the greedy tokens
 * (used to check the composition against llama.cpp by hand).
 */
#include "mb_kernels.h"
#include "mb_gguf.h"

#include <math.h>

enum {
    T_EMB,
    T_NORM,
    T_QKV,
    T_ROPE,
    T_KV,
    T_ATTN,
    T_WO,
    T_FFN_UP,
    T_SILU,
    T_FFN_DOWN,
    T_HEAD,
    T_COUNT
};
static const char *const tnames[T_COUNT] = { "get_rows",    "rmsnorm",        "matmul_qkv",
                                             "rope",        "kv_store",       "attention",
                                             "matmul_o",    "matmul_gate_up", "silu_mul",
                                             "matmul_down", "matmul_lm_head" };
static double tspent[T_COUNT];
static bool round_f16; /* --ggml-attention */

static void die(const char *what, const struct mb_err *err)
{
    fprintf(stderr, "bench_forward: %s%s%s\n", what, err ? ": " : "", err ? err->msg : "");
    exit(1);
}

#define TIMED(slot, call)                                   \
    do {                                                    \
        uint64_t t0_ = mb_now_ns();                         \
        if ((call) < 0)                                     \
            die(#call, &err);                               \
        tspent[slot] += (double)(mb_now_ns() - t0_) * 1e-9; \
    } while (0)

struct layer {
    struct mb_weight q, k, v, o, gate, up, down;
    const float *attn_norm, *ffn_norm;
    struct mb_kv_cache cache;
};

struct model {
    struct mb_gguf *g;
    uint32_t n_layer, n_embd, n_ff, n_head, n_kv_head, head_dim, n_ctx;
    float eps, freq_base;
    struct mb_weight emb, head;
    const float *out_norm;
    struct layer *layers;
};

static struct mb_weight weight(struct model *m, const char *name)
{
    struct mb_err err;
    const struct mb_gguf_tensor *t;
    if (mb_gguf_get_tensor(m->g, name, &t, &err) < 0)
        die("tensor", &err);
    return (struct mb_weight){ t->data, t->type, (size_t)t->dims[1], (size_t)t->dims[0] };
}

static const float *vec(struct model *m, const char *name)
{
    struct mb_weight w = weight(m, name);
    if (w.type != MB_DTYPE_F32)
        die("norm weights must be f32", NULL);
    return w.data;
}

/* Scratch for m rows. */
struct bufs {
    float *h, *t, *q, *k, *v, *a, *g, *u, *logits;
    int32_t *pos, *ids;
};

static void forward(struct mb_backend *be, struct model *md, struct bufs *b, size_t m, int32_t pos0,
                    bool logits)
{
    struct mb_err err;
    const size_t E = md->n_embd, KV = (size_t)md->n_kv_head * md->head_dim, F = md->n_ff;
    for (size_t i = 0; i < m; i++)
        b->pos[i] = pos0 + (int32_t)i;
    struct mb_get_rows_args ga = { md->emb, b->ids, m, b->h, E };
    TIMED(T_EMB, mb_backend_get_rows(be, &ga, &err));
    for (uint32_t l = 0; l < md->n_layer; l++) {
        struct layer *L = &md->layers[l];
        struct mb_rmsnorm_args n1 = { b->h, b->t, L->attn_norm, m, E, E, E, md->eps };
        TIMED(T_NORM, mb_backend_rmsnorm(be, &n1, &err));
        struct mb_matmul_args qkv = { .x = b->t, .m = m, .k = E, .x_stride = E, .n_out = 3 };
        qkv.out[0] = (struct mb_matmul_out){ L->q, b->q, E, false };
        qkv.out[1] = (struct mb_matmul_out){ L->k, b->k, KV, false };
        qkv.out[2] = (struct mb_matmul_out){ L->v, b->v, KV, false };
        TIMED(T_QKV, mb_backend_matmul(be, &qkv, &err));
        struct mb_rope_args rq = {
            b->q,           b->pos,        m,   E, md->n_head, md->head_dim, md->head_dim,
            MB_ROPE_NORMAL, md->freq_base, 1.0f
        };
        TIMED(T_ROPE, mb_backend_rope(be, &rq, &err));
        struct mb_rope_args rk = rq;
        rk.x = b->k;
        rk.x_stride = KV;
        rk.n_head = md->n_kv_head;
        TIMED(T_ROPE, mb_backend_rope(be, &rk, &err));
        struct mb_kv_store_args st = { L->cache, b->k, b->v, b->pos, m, KV, KV };
        TIMED(T_KV, mb_backend_kv_store(be, &st, &err));
        struct mb_attention_args at = { .cache = L->cache,
                                        .q = b->q,
                                        .pos = b->pos,
                                        .out = b->a,
                                        .m = m,
                                        .n_head = md->n_head,
                                        .q_stride = E,
                                        .out_stride = E,
                                        .scale = 1.0f / sqrtf((float)md->head_dim),
                                        .round_f16 = round_f16 };
        TIMED(T_ATTN, mb_backend_attention(be, &at, &err));
        struct mb_matmul_args o = { .x = b->a, .m = m, .k = E, .x_stride = E, .n_out = 1 };
        o.out[0] = (struct mb_matmul_out){ L->o, b->h, E, true };
        TIMED(T_WO, mb_backend_matmul(be, &o, &err));
        struct mb_rmsnorm_args n2 = { b->h, b->t, L->ffn_norm, m, E, E, E, md->eps };
        TIMED(T_NORM, mb_backend_rmsnorm(be, &n2, &err));
        struct mb_matmul_args gu = { .x = b->t, .m = m, .k = E, .x_stride = E, .n_out = 2 };
        gu.out[0] = (struct mb_matmul_out){ L->gate, b->g, F, false };
        gu.out[1] = (struct mb_matmul_out){ L->up, b->u, F, false };
        TIMED(T_FFN_UP, mb_backend_matmul(be, &gu, &err));
        struct mb_silu_mul_args sm = { b->g, b->u, b->g, m * F };
        TIMED(T_SILU, mb_backend_silu_mul(be, &sm, &err));
        struct mb_matmul_args dn = { .x = b->g, .m = m, .k = F, .x_stride = F, .n_out = 1 };
        dn.out[0] = (struct mb_matmul_out){ L->down, b->h, E, true };
        TIMED(T_FFN_DOWN, mb_backend_matmul(be, &dn, &err));
    }
    if (!logits)
        return;
    /* Only the last row's logits, as a runtime does. */
    struct mb_rmsnorm_args nf = { b->h + (m - 1) * E, b->t, md->out_norm, 1, E, E, E, md->eps };
    TIMED(T_NORM, mb_backend_rmsnorm(be, &nf, &err));
    struct mb_matmul_args hd = { .x = b->t, .m = 1, .k = E, .x_stride = E, .n_out = 1 };
    hd.out[0] = (struct mb_matmul_out){ md->head, b->logits, md->head.rows, false };
    TIMED(T_HEAD, mb_backend_matmul(be, &hd, &err));
}

static int32_t argmax(const float *x, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return (int32_t)best;
}

static void *xalloc(size_t n)
{
    void *p = mb_calloc(1, n);
    if (!p)
        die("out of memory", NULL);
    return p;
}

int main(int argc, char **argv)
{
    const char *path = NULL, *isa = NULL, *ids_arg = NULL, *dump = NULL;
    uint64_t threads = 0, n_prefill = 512, n_decode = 128;
    bool print_tokens = false, f32_cache = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            mb_parse_u64(argv[++i], &threads);
        else if (!strcmp(argv[i], "--isa") && i + 1 < argc)
            isa = argv[++i];
        else if (!strcmp(argv[i], "--prefill") && i + 1 < argc)
            mb_parse_u64(argv[++i], &n_prefill);
        else if (!strcmp(argv[i], "--decode") && i + 1 < argc)
            mb_parse_u64(argv[++i], &n_decode);
        else if (!strcmp(argv[i], "--ids") && i + 1 < argc)
            ids_arg = argv[++i];
        else if (!strcmp(argv[i], "--print-tokens"))
            print_tokens = true;
        else if (!strcmp(argv[i], "--dump-logits") && i + 1 < argc)
            dump = argv[++i];
        else if (!strcmp(argv[i], "--ggml-attention"))
            round_f16 = true;
        else if (!strcmp(argv[i], "--f32-cache"))
            f32_cache = true;
        else if (!path && argv[i][0] != '-')
            path = argv[i];
        else {
            fprintf(stderr, "usage: bench_forward MODEL.gguf [--threads N] [--isa LEVEL] "
                            "[--prefill N] [--decode M] [--ids LIST] [--print-tokens] "
                            "[--f32-cache]\n");
            return 2;
        }
    }
    if (!path)
        die("no model given", NULL);
    struct mb_err err;
    struct model md = { 0 };
    if (mb_gguf_open(&md.g, path, &err) < 0)
        die("open", &err);
    if (mb_gguf_get_u32(md.g, "llama.block_count", &md.n_layer, &err) < 0 ||
        mb_gguf_get_u32(md.g, "llama.embedding_length", &md.n_embd, &err) < 0 ||
        mb_gguf_get_u32(md.g, "llama.feed_forward_length", &md.n_ff, &err) < 0 ||
        mb_gguf_get_u32(md.g, "llama.attention.head_count", &md.n_head, &err) < 0 ||
        mb_gguf_get_u32(md.g, "llama.attention.head_count_kv", &md.n_kv_head, &err) < 0 ||
        mb_gguf_get_f32(md.g, "llama.attention.layer_norm_rms_epsilon", &md.eps, &err) < 0)
        die("metadata", &err);
    if (mb_gguf_get_f32(md.g, "llama.rope.freq_base", &md.freq_base, &err) < 0)
        md.freq_base = 10000.0f;
    md.head_dim = md.n_embd / md.n_head;

    /* Token ids: given, or synthetic. */
    int32_t given[4096];
    size_t n_given = 0;
    if (ids_arg) {
        char buf[16384];
        mb_strlcpy(buf, ids_arg, sizeof(buf));
        for (char *tok = buf, *next; tok && *tok && n_given < 4096; tok = next) {
            next = strchr(tok, ',');
            if (next)
                *next++ = '\0';
            uint64_t v;
            if (!mb_parse_u64(tok, &v))
                die("bad --ids", NULL);
            given[n_given++] = (int32_t)v;
        }
        n_prefill = n_given;
    }
    if (n_prefill == 0 || n_prefill > 4096 || n_decode > 4096)
        die("--prefill must be 1..4096 and --decode <= 4096", NULL);
    md.n_ctx = (uint32_t)(n_prefill + n_decode + 1);

    struct mb_cpu_opts opts = { .n_threads = (unsigned)threads };
    if (isa) {
        if (!mb_cpu_isa_from_name(isa, &opts.isa))
            die("unknown --isa", NULL);
        opts.force_isa = true;
    }
    struct mb_backend *be;
    if (mb_backend_cpu_new(&opts, &be, &err) < 0)
        die("backend", &err);

    md.emb = weight(&md, "token_embd.weight");
    md.head = mb_gguf_find_tensor(md.g, "output.weight") ? weight(&md, "output.weight") : md.emb;
    md.out_norm = vec(&md, "output_norm.weight");
    md.layers = xalloc(md.n_layer * sizeof(*md.layers));
    const uint32_t ctype = f32_cache ? MB_DTYPE_F32 : MB_DTYPE_F16;
    size_t cache_bytes;
    if (!mb_kv_cache_bytes(ctype, md.n_ctx, md.n_kv_head, md.head_dim, &cache_bytes))
        die("cache size", NULL);
    for (uint32_t l = 0; l < md.n_layer; l++) {
        char name[64];
        struct layer *L = &md.layers[l];
#define W(field, suffix)                               \
    snprintf(name, sizeof(name), "blk.%u." suffix, l); \
    L->field = weight(&md, name)
        W(q, "attn_q.weight");
        W(k, "attn_k.weight");
        W(v, "attn_v.weight");
        W(o, "attn_output.weight");
        W(gate, "ffn_gate.weight");
        W(up, "ffn_up.weight");
        W(down, "ffn_down.weight");
#undef W
        snprintf(name, sizeof(name), "blk.%u.attn_norm.weight", l);
        L->attn_norm = vec(&md, name);
        snprintf(name, sizeof(name), "blk.%u.ffn_norm.weight", l);
        L->ffn_norm = vec(&md, name);
        void *k = NULL, *v = NULL;
        if (mb_backend_alloc(be, cache_bytes, &k, &err) < 0 ||
            mb_backend_alloc(be, cache_bytes, &v, &err) < 0)
            die("cache", &err);
        L->cache = (struct mb_kv_cache){ k, v, ctype, md.n_ctx, md.n_kv_head, md.head_dim };
    }

    const size_t P = n_prefill, E = md.n_embd, F = md.n_ff;
    struct bufs b = {
        .h = xalloc(P * E * 4),
        .t = xalloc(P * E * 4),
        .q = xalloc(P * E * 4),
        .k = xalloc(P * E * 4),
        .v = xalloc(P * E * 4),
        .a = xalloc(P * E * 4),
        .g = xalloc(P * F * 4),
        .u = xalloc(P * F * 4),
        .logits = xalloc(md.head.rows * 4),
        .pos = xalloc(P * 4),
        .ids = xalloc(P * 4),
    };
    for (size_t i = 0; i < P; i++)
        b.ids[i] = n_given ? given[i] : (int32_t)((i * 7919 + 13) % md.emb.rows);

    /* Warm-up: touches the weights once and grows the scratch to its size. */
    forward(be, &md, &b, P, 0, true);
    memset(tspent, 0, sizeof(tspent));

    uint64_t t0 = mb_now_ns();
    forward(be, &md, &b, P, 0, true);
    double t_prefill = (double)(mb_now_ns() - t0) * 1e-9;
    double spent_prefill[T_COUNT];
    memcpy(spent_prefill, tspent, sizeof(tspent));
    memset(tspent, 0, sizeof(tspent));

    if (dump) { /* the prompt's last-position logits, raw f32 */
        FILE *f = fopen(dump, "wb");
        if (!f || fwrite(b.logits, 4, md.head.rows, f) != md.head.rows || fclose(f) != 0)
            die("cannot write --dump-logits", NULL);
    }
    int32_t *out = xalloc((n_decode + 1) * 4);
    out[0] = argmax(b.logits, md.head.rows);
    t0 = mb_now_ns();
    for (size_t i = 0; i < n_decode; i++) {
        b.ids[0] = out[i];
        forward(be, &md, &b, 1, (int32_t)(P + i), true);
        out[i + 1] = argmax(b.logits, md.head.rows);
    }
    double t_decode = (double)(mb_now_ns() - t0) * 1e-9;

    printf("{\n  \"model\": \"%s\",\n  \"backend\": \"%s\",\n  \"threads\": %u,\n", path, be->name,
           mb_backend_cpu_threads(be));
    printf("  \"kv_cache\": \"%s\",\n", mb_dtype_name(ctype));
    printf("  \"prefill_tokens\": %zu,\n  \"prefill_s\": %.4f,\n  \"prefill_tok_s\": %.2f,\n", P,
           t_prefill, (double)P / t_prefill);
    printf("  \"decode_tokens\": %llu,\n  \"decode_s\": %.4f,\n  \"decode_tok_s\": %.2f,\n",
           (unsigned long long)n_decode, t_decode, (double)n_decode / t_decode);
    printf("  \"prefill_share\": {");
    for (int i = 0; i < T_COUNT; i++)
        printf("%s\"%s\": %.4f", i ? ", " : "", tnames[i], spent_prefill[i] / t_prefill);
    printf("},\n  \"decode_share\": {");
    for (int i = 0; i < T_COUNT; i++)
        printf("%s\"%s\": %.4f", i ? ", " : "", tnames[i], tspent[i] / t_decode);
    printf("}");
    if (print_tokens) {
        printf(",\n  \"tokens\": [");
        for (size_t i = 0; i <= n_decode; i++)
            printf("%s%d", i ? ", " : "", (int)out[i]);
        printf("]");
    }
    printf("\n}\n");
    for (uint32_t l = 0; l < md.n_layer; l++) {
        mb_backend_buf_free(be, md.layers[l].cache.k);
        mb_backend_buf_free(be, md.layers[l].cache.v);
    }
    mb_backend_free(be);
    mb_free(md.layers);
    mb_gguf_free(md.g);
    mb_free(b.h), mb_free(b.t), mb_free(b.q), mb_free(b.k), mb_free(b.v), mb_free(b.a);
    mb_free(b.g), mb_free(b.u), mb_free(b.logits), mb_free(b.pos), mb_free(b.ids), mb_free(out);
    return 0;
}
