/*
 * cmd_gguf_synth.c - `modularbase gguf synth` (hidden; for benchmarks and GPU
 * tests): write a llama GGUF of a real model's shape with random weights and
 * a real tokenizer copied from another GGUF, so that llama.cpp and
 * modularbase can be compared on 1B- and 7B-shaped models without
 * downloading them, and so that a GPU machine that cannot receive a large
 * file can make its own. Weights are random codes with per-type scales
 * chosen so that every matrix has an RMS of about 1/sqrt(fan-in) (the
 * activations neither vanish nor explode over the layers); norms are 1.
 * The bytes depend only on the shape, types and --seed, and are produced
 * while writing (a 7B file never sits in memory).
 *
 *   modularbase gguf synth --shape 7b --type q4_0 --tokenizer tok.gguf 7b-q4_0.gguf
 *   modularbase gguf synth --tokenizer-only --tokenizer SmolLM2.gguf tok.gguf
 */
#include "cli.h"
#include "mb_runtime.h"

#include <math.h>

struct shape {
    const char *name;
    uint32_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
    float rope_base;
    bool tied;
    uint32_t type, embd_type; /* defaults */
};

static const struct shape shapes[] = {
    /* SmolLM2-135M's exact shape (its GGUF: Q4_1 blocks, Q8_0 tied embedding) */
    { "smollm2", 576, 30, 9, 3, 1536, 8192, 100000.0f, true, MB_DTYPE_Q4_1, MB_DTYPE_Q8_0 },
    /* Llama-3.2-1B's shape (tied), with the tokenizer's vocabulary */
    { "1b", 2048, 16, 32, 8, 8192, 4096, 500000.0f, true, MB_DTYPE_Q4_0, 0 },
    /* Llama-2-7B's shape (separate output matrix) */
    { "7b", 4096, 32, 32, 32, 11008, 4096, 10000.0f, false, MB_DTYPE_Q4_0, 0 },
    /* small, for tests */
    { "tiny", 128, 2, 4, 2, 384, 1024, 10000.0f, true, MB_DTYPE_Q8_0, 0 },
};

/* One tensor's bytes, produced in the order the writer asks for them. */
struct fill {
    uint32_t type;
    uint64_t seed;
    uint64_t rows, cols;
    float d;    /* block scale */
    float m;    /* Q4_1/Q5_1 offset */
    float rms;  /* plain types */
    float base; /* plain types: added (norms: 1) */
};

static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A roughly normal value of unit variance from 64 random bits (sum of 4 uniforms). */
static float gauss(uint64_t r)
{
    float s = 0.0f;
    for (int i = 0; i < 4; i++)
        s += (float)((r >> (16 * i)) & 0xffff) / 65535.0f;
    return (s - 2.0f) * 1.7320508f;
}

static void put_f16(uint8_t *p, float v)
{
    mb_f16 h = mb_f32_to_f16(v);
    p[0] = (uint8_t)(h & 0xff);
    p[1] = (uint8_t)(h >> 8);
}

static int fill_cb(void *ud, uint64_t offset, void *buf, size_t n, struct mb_err *err)
{
    (void)err;
    const struct fill *f = ud;
    uint8_t *out = buf;
    if (f->type == MB_DTYPE_F32 || f->type == MB_DTYPE_F16) {
        const size_t es = f->type == MB_DTYPE_F32 ? 4 : 2;
        /* whole elements: the writer's chunks are large multiples of both sizes */
        for (size_t i = 0; i < n; i += es) {
            uint64_t el = (offset + i) / es;
            float v = f->base + f->rms * gauss(mix(f->seed ^ el));
            if (es == 4)
                memcpy(out + i, &v, 4);
            else
                put_f16(out + i, v);
        }
        return 0;
    }
    /* random code bytes, 8 per hash */
    for (size_t i = 0; i < n;) {
        uint64_t word = (offset + i) / 8, r = mix(f->seed ^ (word * 0x9e3779b97f4a7c15ull));
        size_t at = (size_t)((offset + i) % 8);
        for (; at < 8 && i < n; at++, i++)
            out[i] = (uint8_t)(r >> (8 * at));
    }
    /* then the scale fields of every block the chunk touches */
    const uint32_t bs = mb_dtype_traits(f->type)->block_size;
    const uint64_t b0 = offset / bs, b1 = (offset + n + bs - 1) / bs;
    for (uint64_t b = b0; b < b1; b++) {
        uint8_t blk[4];
        put_f16(blk, f->d);
        put_f16(blk + 2, f->m);
        int n_scale = f->type == MB_DTYPE_Q4_1 || f->type == MB_DTYPE_Q5_1 ? 4 : 2;
        for (int j = 0; j < n_scale; j++) {
            uint64_t at = b * bs + (uint64_t)j;
            if (at >= offset && at < offset + n)
                out[at - offset] = blk[j];
        }
    }
    return 0;
}

/* Scale fields for codes uniform over the type's range, giving an RMS of `rms`. */
static int set_scales(struct fill *f, float rms, struct mb_err *err)
{
    switch (f->type) {
    case MB_DTYPE_Q4_0: /* d (q - 8), q in 0..15: rms 4.64 d */
        f->d = rms / 4.64f;
        break;
    case MB_DTYPE_Q4_1: /* d q + m with m = -7.5 d: rms 4.61 d */
        f->d = rms / 4.61f;
        f->m = -7.5f * f->d;
        break;
    case MB_DTYPE_Q5_0: /* d (q - 16), q in 0..31: rms 9.25 d */
        f->d = rms / 9.25f;
        break;
    case MB_DTYPE_Q5_1:
        f->d = rms / 9.23f;
        f->m = -15.5f * f->d;
        break;
    case MB_DTYPE_Q8_0: /* d q, q in -128..127: rms 73.9 d */
        f->d = rms / 73.9f;
        break;
    case MB_DTYPE_F32:
    case MB_DTYPE_F16:
        f->rms = rms;
        break;
    default:
        return mb_fail(err, MB_E_UNSUPPORTED,
                       "gguf synth: weights of type %s (q4_0, q4_1, q5_0, q5_1, q8_0, f16, f32)",
                       mb_dtype_name(f->type));
    }
    return 0;
}

struct synth {
    struct mb_gguf_writer *w;
    struct fill *fills;
    size_t n_fills, cap;
    uint64_t seed;
};

static int add(struct synth *s, const char *name, uint32_t type, uint64_t rows, uint64_t cols,
               float rms, float base, struct mb_err *err)
{
    if (s->n_fills == s->cap)
        return mb_fail(err, MB_E_INTERNAL, "gguf synth: too many tensors");
    struct fill *f = &s->fills[s->n_fills++];
    memset(f, 0, sizeof(*f));
    f->type = type;
    f->rows = rows;
    f->cols = cols;
    f->base = base;
    f->seed = mix(s->seed ^ mix(s->n_fills));
    int rc = set_scales(f, rms, err);
    if (rc)
        return rc;
    uint64_t dims[2] = { cols, rows };
    return mb_gguf_writer_add_tensor_fn(s->w, name, type, rows == 1 ? 1 : 2, dims, fill_cb, f, err);
}

static int ftype_of(uint32_t t)
{
    switch (t) {
    case MB_DTYPE_F32:
        return 0;
    case MB_DTYPE_F16:
        return 1;
    case MB_DTYPE_Q4_0:
        return 2;
    case MB_DTYPE_Q4_1:
        return 3;
    case MB_DTYPE_Q8_0:
        return 7;
    case MB_DTYPE_Q5_0:
        return 8;
    case MB_DTYPE_Q5_1:
        return 9;
    default:
        return 0;
    }
}

static int write_model(struct mb_ctx *ctx, const struct shape *sh, uint32_t type,
                       uint32_t embd_type, const struct mb_gguf *tok, uint64_t seed,
                       const char *out)
{
    struct mb_err *err = &ctx->err;
    const struct mb_gguf_array *toks;
    int rc = mb_gguf_get_array(tok, "tokenizer.ggml.tokens", MB_GGUF_TYPE_STRING, &toks, err);
    if (rc)
        return rc;
    const uint32_t n_vocab = (uint32_t)toks->n;
    const uint32_t d = sh->n_embd, hd = d / sh->n_head, dkv = hd * sh->n_head_kv;
    struct synth s = { 0 };
    s.seed = seed;
    s.cap = 16 + 9 * (size_t)sh->n_layer;
    s.fills = mb_calloc(s.cap, sizeof(*s.fills));
    if (!s.fills)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    rc = mb_gguf_writer_new(&s.w, err);
    char name[96];
    mb_snprintf(name, sizeof(name), "synthetic %s %s", sh->name, mb_dtype_name(type));
    struct mb_gguf_writer *w = s.w;
#define SET(call) \
    if (!rc)      \
        rc = (call);
    SET(mb_gguf_writer_set_string(w, "general.architecture", "llama", err))
    SET(mb_gguf_writer_set_string(w, "general.name", name, err))
    SET(mb_gguf_writer_set_u32(w, "general.file_type", (uint32_t)ftype_of(type), err))
    SET(mb_gguf_writer_set_u32(w, "general.quantization_version", 2, err))
    SET(mb_gguf_writer_set_u32(w, "llama.block_count", sh->n_layer, err))
    SET(mb_gguf_writer_set_u32(w, "llama.context_length", sh->n_ctx, err))
    SET(mb_gguf_writer_set_u32(w, "llama.embedding_length", d, err))
    SET(mb_gguf_writer_set_u32(w, "llama.feed_forward_length", sh->n_ff, err))
    SET(mb_gguf_writer_set_u32(w, "llama.attention.head_count", sh->n_head, err))
    SET(mb_gguf_writer_set_u32(w, "llama.attention.head_count_kv", sh->n_head_kv, err))
    SET(mb_gguf_writer_set_f32(w, "llama.rope.freq_base", sh->rope_base, err))
    SET(mb_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f, err))
    SET(mb_gguf_writer_set_u32(w, "llama.rope.dimension_count", hd, err))
    SET(mb_gguf_writer_set_u32(w, "llama.vocab_size", n_vocab, err))
    SET(mb_gguf_writer_copy_kvs(w, tok, "tokenizer.", err))
    const float rd = 1.0f / sqrtf((float)d), rff = 1.0f / sqrtf((float)sh->n_ff);
    SET(add(&s, "token_embd.weight", embd_type, n_vocab, d, 0.2f, 0.0f, err))
    SET(add(&s, "output_norm.weight", MB_DTYPE_F32, 1, d, 0.0f, 1.0f, err))
    if (!sh->tied)
        SET(add(&s, "output.weight", type, n_vocab, d, rd, 0.0f, err))
    for (uint32_t l = 0; l < sh->n_layer && !rc; l++) {
        char t[64];
#define T(what) (mb_snprintf(t, sizeof(t), "blk.%u.%s", l, what), t)
        SET(add(&s, T("attn_norm.weight"), MB_DTYPE_F32, 1, d, 0.0f, 1.0f, err))
        SET(add(&s, T("attn_q.weight"), type, d, d, rd, 0.0f, err))
        SET(add(&s, T("attn_k.weight"), type, dkv, d, rd, 0.0f, err))
        SET(add(&s, T("attn_v.weight"), type, dkv, d, rd, 0.0f, err))
        SET(add(&s, T("attn_output.weight"), type, d, d, rd, 0.0f, err))
        SET(add(&s, T("ffn_norm.weight"), MB_DTYPE_F32, 1, d, 0.0f, 1.0f, err))
        SET(add(&s, T("ffn_gate.weight"), type, sh->n_ff, d, rd, 0.0f, err))
        SET(add(&s, T("ffn_up.weight"), type, sh->n_ff, d, rd, 0.0f, err))
        SET(add(&s, T("ffn_down.weight"), type, d, sh->n_ff, rff, 0.0f, err))
#undef T
    }
#undef SET
    if (!rc) {
        struct mb_cli_progress bar;
        mb_cli_progress_init(&bar, ctx);
        struct mb_progress p = mb_cli_progress_cb(&bar);
        rc = mb_gguf_writer_write(w, out, &p, err);
        mb_cli_progress_done(&bar);
    }
    mb_gguf_writer_free(s.w);
    mb_free(s.fills);
    return rc;
}

int mb_cmd_gguf_synth(struct mb_ctx *ctx, int argc, char **argv)
{
    const char *shape = "smollm2", *type = NULL, *embd_type = NULL, *tokenizer = NULL;
    uint64_t seed = 1, layers = 0;
    bool tok_only = false;
    const struct mb_opt opts[] = {
        { "shape", 0, MB_OPT_STRING, &shape, "NAME", "smollm2 (default), 1b, 7b or tiny" },
        { "type", 0, MB_OPT_STRING, &type, "TYPE",
          "block matrices: q4_0, q4_1, q5_0, q5_1, q8_0, f16 (default: the shape's)" },
        { "embd-type", 0, MB_OPT_STRING, &embd_type, "TYPE",
          "token embedding (default: q8_0 for smollm2, else --type)" },
        { "layers", 0, MB_OPT_UINT, &layers, "N", "blocks (default: the shape's)" },
        { "tokenizer", 0, MB_OPT_STRING, &tokenizer, "FILE",
          "GGUF whose tokenizer.* keys are copied (required)" },
        { "seed", 0, MB_OPT_UINT, &seed, "S", "random seed (default 1)" },
        { "tokenizer-only", 0, MB_OPT_FLAG, &tok_only, NULL,
          "write only the tokenizer keys of --tokenizer (a small file to carry around)" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase gguf synth [--shape NAME] [--type TYPE] --tokenizer FILE OUT",
        "Write a llama GGUF of a known shape with random weights and the tokenizer of FILE, "
        "for benchmarks and GPU tests (docs/cuda.md).",
        "  modularbase gguf synth --shape 7b --type q8_0 --tokenizer tok.gguf 7b-q8_0.gguf",
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        return rc;
    if (npos != 1)
        return mb_usage_error(ctx, "'gguf synth' takes OUT");
    if (!tokenizer)
        return mb_usage_error(ctx, "--tokenizer FILE is required");
    const struct shape *sh = NULL;
    for (size_t i = 0; i < MB_ARRAY_LEN(shapes); i++)
        if (!strcmp(shapes[i].name, shape))
            sh = &shapes[i];
    if (!sh)
        return mb_usage_error(ctx, "--shape must be smollm2, 1b, 7b or tiny (got '%s')", shape);
    enum mb_dtype t = (enum mb_dtype)sh->type, et;
    if (type && !mb_dtype_from_name(type, &t))
        return mb_usage_error(ctx, "--type: unknown type '%s'", type);
    et = sh->embd_type ? (enum mb_dtype)sh->embd_type : t;
    if (type && !sh->embd_type)
        et = t;
    if (embd_type && !mb_dtype_from_name(embd_type, &et))
        return mb_usage_error(ctx, "--embd-type: unknown type '%s'", embd_type);
    if (layers > 1024)
        return mb_usage_error(ctx, "--layers must be 1 to 1024");
    struct shape custom = *sh;
    if (layers)
        custom.n_layer = (uint32_t)layers;
    struct mb_gguf *g = NULL;
    rc = mb_gguf_open(&g, tokenizer, &ctx->err);
    if (rc)
        return rc;
    if (tok_only) {
        struct mb_gguf_writer *w = NULL;
        rc = mb_gguf_writer_new(&w, &ctx->err);
        if (!rc)
            rc = mb_gguf_writer_copy_kvs(w, g, "tokenizer.", &ctx->err);
        if (!rc)
            rc = mb_gguf_writer_write(w, argv[0], NULL, &ctx->err);
        mb_gguf_writer_free(w);
    } else {
        rc = write_model(ctx, &custom, t, et, g, seed, argv[0]);
    }
    mb_gguf_free(g);
    return rc;
}
