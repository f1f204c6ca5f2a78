/*
 * model_hparams.c - the hyper-parameters of a llama-family GGUF, read from its
 * `<arch>.*` keys the way llama.cpp's llm_load_hparams does for LLM_ARCH_LLAMA,
 * with every value range-checked before the loader multiplies it into sizes.
 * The limits below are far above any real model and only stop hostile files
 * from asking for absurd allocations.
 */
#include "model_int.h"

#include <math.h>

#define MAX_EMBD   (1u << 16)
#define MAX_HEADS  1024u
#define MAX_HEAD_D 1024u
#define MAX_FF     (1u << 20)
#define MAX_LAYERS 4096u
#define MAX_CTX    (1u << 24)
#define MAX_VOCAB  (1u << 22)

/* The architectures whose blocks are llama blocks under `<arch>.*` keys. */
static const char *const llama_archs[] = { "llama", NULL };

static bool arch_known(const char *a)
{
    for (size_t i = 0; llama_archs[i]; i++)
        if (!strcmp(a, llama_archs[i]))
            return true;
    return false;
}

/* "<arch>.<suffix>" into buf. */
static const char *key_of(char *buf, size_t cap, const char *arch, const char *suffix)
{
    if (!mb_snprintf(buf, cap, "%s.%s", arch, suffix))
        buf[0] = '\0';
    return buf;
}

/* A required u32 in [lo, hi]. */
static int get_u32_range(const struct mb_gguf *g, const char *arch, const char *suffix, uint32_t lo,
                         uint32_t hi, uint32_t *out, struct mb_err *err)
{
    char key[128];
    key_of(key, sizeof(key), arch, suffix);
    int rc = mb_gguf_get_u32(g, key, out, err);
    if (rc)
        return rc;
    if (*out < lo || *out > hi)
        return mb_fail(err, MB_E_FORMAT, "%s: key '%s' is %u, outside %u..%u", mb_gguf_name(g), key,
                       *out, lo, hi);
    return 0;
}

/* An optional u32 in [lo, hi]; *out keeps its default when the key is absent. */
static int opt_u32_range(const struct mb_gguf *g, const char *arch, const char *suffix, uint32_t lo,
                         uint32_t hi, uint32_t *out, struct mb_err *err)
{
    char key[128];
    if (!mb_gguf_find_kv(g, key_of(key, sizeof(key), arch, suffix)))
        return 0;
    return get_u32_range(g, arch, suffix, lo, hi, out, err);
}

/* An optional finite float > 0 (and < hi). */
static int opt_f32_pos(const struct mb_gguf *g, const char *arch, const char *suffix, float hi,
                       float *out, struct mb_err *err)
{
    char key[128];
    key_of(key, sizeof(key), arch, suffix);
    if (!mb_gguf_find_kv(g, key))
        return 0;
    float v;
    int rc = mb_gguf_get_f32(g, key, &v, err);
    if (rc)
        return rc;
    if (!(v > 0.0f) || !(v < hi))
        return mb_fail(err, MB_E_FORMAT, "%s: key '%s' is %g, expected a number in (0, %g)",
                       mb_gguf_name(g), key, (double)v, (double)hi);
    *out = v;
    return 0;
}

int mb_block_hparams_check(const struct mb_block_hparams *hp, const char *what, struct mb_err *err)
{
    if (hp->n_embd == 0 || hp->n_embd > MAX_EMBD)
        return mb_fail(err, MB_E_FORMAT, "%s: width %u is outside 1..%u", what, hp->n_embd,
                       MAX_EMBD);
    if (hp->n_head == 0 || hp->n_head > MAX_HEADS || hp->n_head_kv == 0 ||
        hp->n_head_kv > hp->n_head || hp->n_head % hp->n_head_kv)
        return mb_fail(err, MB_E_FORMAT,
                       "%s: %u query heads and %u key/value heads (the second must divide "
                       "the first)",
                       what, hp->n_head, hp->n_head_kv);
    if (hp->head_dim == 0 || hp->head_dim > MAX_HEAD_D)
        return mb_fail(err, MB_E_FORMAT, "%s: head size %u is outside 1..%u", what, hp->head_dim,
                       MAX_HEAD_D);
    if (hp->n_ff == 0 || hp->n_ff > MAX_FF)
        return mb_fail(err, MB_E_FORMAT, "%s: FFN width %u is outside 1..%u", what, hp->n_ff,
                       MAX_FF);
    if (hp->n_rot == 0 || hp->n_rot % 2 || hp->n_rot > hp->head_dim)
        return mb_fail(err, MB_E_FORMAT,
                       "%s: %u rotated dimensions (must be even and at most the head size %u)",
                       what, hp->n_rot, hp->head_dim);
    if (hp->rope_mode != MB_ROPE_NORMAL && hp->rope_mode != MB_ROPE_NEOX)
        return mb_fail(err, MB_E_FORMAT, "%s: unknown RoPE mode %d", what, (int)hp->rope_mode);
    if (!(hp->rope_freq_base > 0.0f) || !isfinite(hp->rope_freq_base) ||
        !(hp->rope_freq_scale > 0.0f) || !isfinite(hp->rope_freq_scale))
        return mb_fail(err, MB_E_FORMAT, "%s: RoPE base %g / scale %g are invalid", what,
                       (double)hp->rope_freq_base, (double)hp->rope_freq_scale);
    if (!(hp->norm_eps > 0.0f) || !(hp->norm_eps < 1.0f))
        return mb_fail(err, MB_E_FORMAT, "%s: RMSNorm epsilon %g is outside (0, 1)", what,
                       (double)hp->norm_eps);
    return 0;
}

/* llama.rope.scaling.*: none or linear (freq_scale = 1/factor); anything else is refused. */
static int read_rope_scaling(const struct mb_gguf *g, const char *arch, float *freq_scale,
                             struct mb_err *err)
{
    char key[128];
    const char *type = "none";
    char tbuf[32];
    key_of(key, sizeof(key), arch, "rope.scaling.type");
    if (mb_gguf_find_kv(g, key)) {
        struct mb_str s;
        int rc = mb_gguf_get_str(g, key, &s, err);
        if (rc)
            return rc;
        if (s.n >= sizeof(tbuf) || memchr(s.p, '\0', s.n))
            return mb_fail(err, MB_E_UNSUPPORTED, "%s: key '%s': unknown RoPE scaling type",
                           mb_gguf_name(g), key);
        memcpy(tbuf, s.p, s.n);
        tbuf[s.n] = '\0';
        type = tbuf;
    }
    float factor = 1.0f;
    int rc = opt_f32_pos(g, arch, "rope.scaling.factor", 1e6f, &factor, err);
    if (rc)
        return rc;
    if (!strcmp(type, "none") || factor == 1.0f) {
        if (strcmp(type, "none") && strcmp(type, "linear"))
            return mb_fail(err, MB_E_UNSUPPORTED,
                           "%s: RoPE scaling '%s' is not supported (none or linear)",
                           mb_gguf_name(g), type);
        *freq_scale = 1.0f;
        return 0;
    }
    if (strcmp(type, "linear"))
        return mb_fail(err, MB_E_UNSUPPORTED,
                       "%s: RoPE scaling '%s' is not supported (none or linear)", mb_gguf_name(g),
                       type);
    *freq_scale = 1.0f / factor;
    return 0;
}

int mb_llama_hparams_read(const struct mb_gguf *g, struct mb_llama_hparams *hp, struct mb_err *err)
{
    memset(hp, 0, sizeof(*hp));
    const char *name = mb_gguf_name(g);
    struct mb_str arch;
    int rc = mb_gguf_get_str(g, "general.architecture", &arch, err);
    if (rc)
        return rc == MB_E_NOTFOUND ? mb_fail(err, MB_E_FORMAT,
                                             "%s: no key 'general.architecture': not a "
                                             "model file",
                                             name)
                                   : rc;
    if (arch.n >= sizeof(hp->arch) || memchr(arch.p, '\0', arch.n))
        return mb_fail(err, MB_E_UNSUPPORTED,
                       "%s: architecture '%.*s' is not a llama-family model (supported: llama)",
                       name, (int)MB_MIN(arch.n, (size_t)40), arch.p);
    memcpy(hp->arch, arch.p, arch.n);
    hp->arch[arch.n] = '\0';
    if (!arch_known(hp->arch))
        return mb_fail(err, MB_E_UNSUPPORTED,
                       "%s: architecture '%s' is not a llama-family model (supported: llama)", name,
                       hp->arch);
    const char *a = hp->arch;
    struct mb_block_hparams *b = &hp->block;

    if ((rc = get_u32_range(g, a, "block_count", 1, MAX_LAYERS, &hp->n_layer, err)) ||
        (rc = get_u32_range(g, a, "embedding_length", 1, MAX_EMBD, &b->n_embd, err)) ||
        (rc = get_u32_range(g, a, "feed_forward_length", 1, MAX_FF, &b->n_ff, err)) ||
        (rc = get_u32_range(g, a, "attention.head_count", 1, MAX_HEADS, &b->n_head, err)))
        return rc;
    b->n_head_kv = b->n_head;
    if ((rc = opt_u32_range(g, a, "attention.head_count_kv", 1, MAX_HEADS, &b->n_head_kv, err)))
        return rc;
    if (b->n_embd % b->n_head)
        return mb_fail(err, MB_E_FORMAT,
                       "%s: embedding_length %u is not a multiple of attention.head_count %u", name,
                       b->n_embd, b->n_head);
    b->head_dim = b->n_embd / b->n_head;
    if ((rc = opt_u32_range(g, a, "attention.key_length", 1, MAX_HEAD_D, &b->head_dim, err)))
        return rc;
    uint32_t v_len = b->head_dim;
    if ((rc = opt_u32_range(g, a, "attention.value_length", 1, MAX_HEAD_D, &v_len, err)))
        return rc;
    if (v_len != b->head_dim)
        return mb_fail(err, MB_E_UNSUPPORTED,
                       "%s: key length %u differs from value length %u (not supported)", name,
                       b->head_dim, v_len);
    b->n_rot = b->head_dim;
    if ((rc = opt_u32_range(g, a, "rope.dimension_count", 2, MAX_HEAD_D, &b->n_rot, err)))
        return rc;
    b->rope_mode = MB_ROPE_NORMAL; /* llama rotates adjacent pairs */
    b->rope_freq_base = 10000.0f;
    if ((rc = opt_f32_pos(g, a, "rope.freq_base", 1e12f, &b->rope_freq_base, err)) ||
        (rc = read_rope_scaling(g, a, &b->rope_freq_scale, err)))
        return rc;
    b->norm_eps = 1e-5f;
    char key[128];
    key_of(key, sizeof(key), a, "attention.layer_norm_rms_epsilon");
    if (!mb_gguf_find_kv(g, key))
        return mb_fail(err, MB_E_NOTFOUND, "%s: no key '%s'", name, key);
    if ((rc = opt_f32_pos(g, a, "attention.layer_norm_rms_epsilon", 1.0f, &b->norm_eps, err)))
        return rc;
    hp->n_ctx_train = 4096; /* llama.cpp's fallback when the key is missing */
    if ((rc = opt_u32_range(g, a, "context_length", 1, MAX_CTX, &hp->n_ctx_train, err)))
        return rc;

    /* The vocabulary size: the key, else the embedding's rows (a data pack of the
     * modular runtime has no embedding, only the key). */
    const struct mb_gguf_tensor *te = mb_gguf_find_tensor(g, "token_embd.weight");
    if (!te && !mb_gguf_find_kv(g, key_of(key, sizeof(key), a, "vocab_size")))
        return mb_fail(err, MB_E_NOTFOUND, "%s: no tensor 'token_embd.weight'", name);
    if (te && te->n_dims != 2)
        return mb_fail(err, MB_E_FORMAT,
                       "%s: tensor 'token_embd.weight' has %u dimensions, "
                       "expected 2",
                       name, te->n_dims);
    hp->n_vocab = te && te->dims[1] <= MAX_VOCAB ? (uint32_t)te->dims[1] : 0;
    if ((rc = opt_u32_range(g, a, "vocab_size", 1, MAX_VOCAB, &hp->n_vocab, err)))
        return rc;
    if (hp->n_vocab == 0)
        return mb_fail(err, MB_E_FORMAT,
                       "%s: tensor 'token_embd.weight' has %" PRIu64 " rows, outside 1..%u", name,
                       te ? te->dims[1] : 0, MAX_VOCAB);

    char what[160];
    mb_snprintf(what, sizeof(what), "%s (%s.*)", name, a);
    return mb_block_hparams_check(b, what, err);
}
