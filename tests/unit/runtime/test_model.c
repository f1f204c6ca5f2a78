/*
 * test_model.c - model assembly and the forward pass on small synthetic llama
 * models written with the GGUF writer (random weights, grouped-query
 * attention, two blocks), against a reference forward pass written here
 * independently at float64: logits for F32, F16 and Q8_0 weights; batched
 * prefill vs one token at a time vs small batches; tied heads; running the
 * blocks as separate stacks (the modular runtime's split) bit-identically;
 * session truncation, context limits and bad ids; one-line errors for files
 * that are not llama models, miss tensors, have wrong shapes or unsupported
 * types; and the generation loop (prefix reuse, stop tokens, token limit,
 * full context, --ignore-eos) over a toy vocabulary.
 */
#include "mb_test.h"
#include "mb_runtime.h"

#include <math.h>

/* ------------------------------------------------------------ a tiny model */

struct cfg {
    uint32_t n_vocab, n_embd, n_head, n_head_kv, n_ff, n_layer, n_ctx_train;
    float rope_base, eps;
    uint32_t wtype; /* type of the block matrices: F32, F16 or Q8_0 */
    bool tied;
    const char *arch;
    const char *drop;      /* leave this tensor out */
    const char *bad_shape; /* give this matrix one row too many */
    const char *extra;     /* add this (1-D, n_embd) tensor */
    bool no_block_count;
    uint32_t block_count; /* key value when != 0 (else n_layer) */
};

static struct cfg default_cfg(void)
{
    struct cfg c = { 64,           64,    4,       2,    96,   2,    256,   10000.0f, 1e-5f,
                     MB_DTYPE_F32, false, "llama", NULL, NULL, NULL, false, 0 };
    return c;
}

/* float64 copies of every weight, as the file stores them (dequantized). */
struct ref_layer {
    double *attn_norm, *q, *k, *v, *o, *ffn_norm, *gate, *up, *down;
};
struct tiny {
    struct cfg c;
    uint8_t *file; /* 64-byte aligned copy of the GGUF bytes */
    void *file_raw;
    size_t file_n;
    double *embd, *out_norm, *out;
    struct ref_layer L[4];
    /* buffers the writer borrows until the write */
    void *keep[64];
    size_t n_keep;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double urand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

/* Add a tensor of rows x cols random values (scaled) in type `type`; returns its f64 copy. */
static double *add_matrix(struct tiny *t, struct mb_gguf_writer *w, const char *name, size_t rows,
                          size_t cols, uint32_t type, double scale)
{
    size_t n = rows * cols;
    float *f = mb_malloc(n * sizeof(float));
    double *d = mb_malloc(n * sizeof(double));
    assert_non_null(f);
    assert_non_null(d);
    for (size_t i = 0; i < n; i++)
        f[i] = (float)(urand() * scale);
    if (t->c.bad_shape && !strcmp(t->c.bad_shape, name))
        rows += 1; /* claims one row more than the data holds: the writer needs the bytes */
    uint64_t row_bytes;
    assert_true(mb_dtype_row_size(type, cols, &row_bytes));
    size_t nbytes = (size_t)row_bytes * rows;
    uint8_t *bytes = mb_calloc(1, nbytes);
    assert_non_null(bytes);
    if (type == MB_DTYPE_F32) {
        memcpy(bytes, f, n * sizeof(float));
    } else if (type == MB_DTYPE_F16) {
        for (size_t i = 0; i < n; i++) {
            mb_f16 h = mb_f32_to_f16(f[i]);
            memcpy(bytes + 2 * i, &h, 2);
        }
    } else { /* Q8_0: d = amax / 127, q = round(x / d) */
        assert_int_equal(type, MB_DTYPE_Q8_0);
        for (size_t b = 0; b < n / 32; b++) {
            float amax = 0;
            for (int i = 0; i < 32; i++)
                amax = fmaxf(amax, fabsf(f[b * 32 + (size_t)i]));
            float dd = amax / 127.0f, id = dd ? 1.0f / dd : 0.0f;
            mb_f16 h = mb_f32_to_f16(dd);
            uint8_t *blk = bytes + b * 34;
            memcpy(blk, &h, 2);
            for (int i = 0; i < 32; i++)
                blk[2 + i] = (uint8_t)(int8_t)lrintf(f[b * 32 + (size_t)i] * id);
        }
    }
    /* the reference sees exactly what the file holds */
    float *back = mb_malloc(n * sizeof(float));
    assert_non_null(back);
    assert_true(mb_dequantize_row(type, bytes, back, n));
    for (size_t i = 0; i < n; i++)
        d[i] = back[i];
    mb_free(back);
    mb_free(f);
    if (!(t->c.drop && !strcmp(t->c.drop, name))) {
        uint64_t dims[2] = { cols, rows };
        struct mb_err err;
        MB_ASSERT_OK(mb_gguf_writer_add_tensor(w, name, type, rows == 1 && cols == n ? 1 : 2, dims,
                                               bytes, nbytes, &err),
                     &err);
    }
    assert_true(t->n_keep < MB_ARRAY_LEN(t->keep));
    t->keep[t->n_keep++] = bytes;
    return d;
}

static double *add_vector(struct tiny *t, struct mb_gguf_writer *w, const char *name, size_t n)
{
    double *d = add_matrix(t, w, name, 1, n, MB_DTYPE_F32, 0.5);
    for (size_t i = 0; i < n; i++)
        d[i] += 1.0; /* norm weights around 1; the file gets the same values below */
    float *f = (float *)t->keep[t->n_keep - 1];
    for (size_t i = 0; i < n; i++)
        f[i] = (float)d[i];
    return d;
}

static void tiny_build(struct tiny *t, struct cfg c)
{
    memset(t, 0, sizeof(*t));
    t->c = c;
    rng_state = 0x9e3779b97f4a7c15ull;
    struct mb_err err;
    struct mb_gguf_writer *w;
    MB_ASSERT_OK(mb_gguf_writer_new(&w, &err), &err);
    const char *a = c.arch;
    char key[96];
#define KEYU32(suffix, v)                           \
    snprintf(key, sizeof(key), "%s.%s", a, suffix); \
    MB_ASSERT_OK(mb_gguf_writer_set_u32(w, key, (v), &err), &err)
    MB_ASSERT_OK(mb_gguf_writer_set_string(w, "general.architecture", a, &err), &err);
    if (!c.no_block_count) {
        KEYU32("block_count", c.block_count ? c.block_count : c.n_layer);
    }
    KEYU32("context_length", c.n_ctx_train);
    KEYU32("embedding_length", c.n_embd);
    KEYU32("feed_forward_length", c.n_ff);
    KEYU32("attention.head_count", c.n_head);
    KEYU32("attention.head_count_kv", c.n_head_kv);
    KEYU32("vocab_size", c.n_vocab);
    snprintf(key, sizeof(key), "%s.rope.freq_base", a);
    MB_ASSERT_OK(mb_gguf_writer_set_f32(w, key, c.rope_base, &err), &err);
    snprintf(key, sizeof(key), "%s.attention.layer_norm_rms_epsilon", a);
    MB_ASSERT_OK(mb_gguf_writer_set_f32(w, key, c.eps, &err), &err);
#undef KEYU32
    const size_t d = c.n_embd, hd = d / c.n_head, dq = c.n_head * hd, dkv = c.n_head_kv * hd;
    t->embd = add_matrix(t, w, "token_embd.weight", c.n_vocab, d, MB_DTYPE_F32, 1.0);
    for (uint32_t l = 0; l < c.n_layer; l++) {
        struct ref_layer *L = &t->L[l];
        char name[64];
#define NAME(s) (snprintf(name, sizeof(name), "blk.%u.%s", l, s), name)
        L->attn_norm = add_vector(t, w, NAME("attn_norm.weight"), d);
        L->q = add_matrix(t, w, NAME("attn_q.weight"), dq, d, c.wtype, 1.0 / sqrt((double)d));
        L->k = add_matrix(t, w, NAME("attn_k.weight"), dkv, d, c.wtype, 1.0 / sqrt((double)d));
        L->v = add_matrix(t, w, NAME("attn_v.weight"), dkv, d, c.wtype, 1.0 / sqrt((double)d));
        L->o = add_matrix(t, w, NAME("attn_output.weight"), d, dq, c.wtype, 1.0 / sqrt((double)dq));
        L->ffn_norm = add_vector(t, w, NAME("ffn_norm.weight"), d);
        L->gate =
            add_matrix(t, w, NAME("ffn_gate.weight"), c.n_ff, d, c.wtype, 1.0 / sqrt((double)d));
        L->up = add_matrix(t, w, NAME("ffn_up.weight"), c.n_ff, d, c.wtype, 1.0 / sqrt((double)d));
        L->down = add_matrix(t, w, NAME("ffn_down.weight"), d, c.n_ff, c.wtype,
                             1.0 / sqrt((double)c.n_ff));
#undef NAME
    }
    t->out_norm = add_vector(t, w, "output_norm.weight", d);
    if (c.tied)
        t->out = t->embd;
    else
        t->out = add_matrix(t, w, "output.weight", c.n_vocab, d, MB_DTYPE_F32, 1.0);
    if (c.extra)
        mb_free(add_vector(t, w, c.extra, d));
    struct mb_buf out;
    mb_buf_init(&out, (size_t)1 << 30);
    MB_ASSERT_OK(mb_gguf_writer_write_buf(w, &out, &err), &err);
    mb_gguf_writer_free(w);
    t->file_raw = mb_malloc(out.n + 64);
    assert_non_null(t->file_raw);
    t->file = (uint8_t *)(((uintptr_t)t->file_raw + 63) & ~(uintptr_t)63);
    memcpy(t->file, out.p, out.n);
    t->file_n = out.n;
    mb_buf_release(&out);
}

static void tiny_free(struct tiny *t)
{
    mb_free(t->embd);
    mb_free(t->out_norm);
    if (!t->c.tied)
        mb_free(t->out);
    for (uint32_t l = 0; l < t->c.n_layer; l++) {
        struct ref_layer *L = &t->L[l];
        double *all[] = {
            L->attn_norm, L->q, L->k, L->v, L->o, L->ffn_norm, L->gate, L->up, L->down
        };
        for (size_t i = 0; i < MB_ARRAY_LEN(all); i++)
            mb_free(all[i]);
    }
    for (size_t i = 0; i < t->n_keep; i++)
        mb_free(t->keep[i]);
    mb_free(t->file_raw);
}

/* Open the tiny file (at `shift` bytes past a 64-byte boundary) as a model. */
static int tiny_load(struct tiny *t, struct mb_backend *be, size_t shift, void **copy,
                     struct mb_model **m, struct mb_err *err)
{
    const uint8_t *p = t->file;
    *copy = NULL;
    if (shift) {
        *copy = mb_malloc(t->file_n + 64 + shift);
        assert_non_null(*copy);
        uint8_t *q = (uint8_t *)(((uintptr_t)*copy + 63) & ~(uintptr_t)63) + shift;
        memcpy(q, t->file, t->file_n);
        p = q;
    }
    struct mb_gguf *g;
    int rc = mb_gguf_open_memory(&g, p, t->file_n, "tiny.gguf", err);
    if (rc)
        return rc;
    return mb_model_load_gguf(g, be, m, err);
}

/* ------------------------------------------------------------ reference forward */

static void ref_rmsnorm(const double *x, const double *w, size_t n, double eps, double *y)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i] * x[i];
    double r = 1.0 / sqrt(s / (double)n + eps);
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] * r * w[i];
}

/*
 * y (+)= W x. For a quantized weight type the input is first rounded the way
 * the kernels round activations (8-bit blocks, ggml's rules), so the reference
 * differs from us only by float rounding, not by the quantization itself.
 */
static void ref_matvec(const double *W, const double *x, size_t rows, size_t cols, double *y,
                       bool acc, uint32_t wtype)
{
    double *xq = mb_malloc(cols * sizeof(double));
    float *xf = mb_malloc(cols * sizeof(float)), *qf = mb_malloc(cols * sizeof(float));
    assert_true(xq && xf && qf);
    for (size_t k = 0; k < cols; k++)
        xf[k] = (float)x[k];
    struct mb_err err;
    MB_ASSERT_OK(mb_ref_quantize_act(wtype, xf, cols, qf, NULL, &err), &err);
    for (size_t k = 0; k < cols; k++)
        xq[k] = wtype == MB_DTYPE_F32 || wtype == MB_DTYPE_F16 ? x[k] : (double)qf[k];
    for (size_t r = 0; r < rows; r++) {
        double s = 0;
        for (size_t k = 0; k < cols; k++)
            s += W[r * cols + k] * xq[k];
        y[r] = acc ? y[r] + s : s;
    }
    mb_free(xq);
    mb_free(xf);
    mb_free(qf);
}

static void ref_rope(double *x, size_t n_head, size_t hd, size_t pos, double base)
{
    for (size_t h = 0; h < n_head; h++)
        for (size_t i = 0; i < hd / 2; i++) {
            double theta = (double)pos * pow(base, -2.0 * (double)i / (double)hd);
            double *v = x + h * hd + 2 * i, x0 = v[0], x1 = v[1];
            v[0] = x0 * cos(theta) - x1 * sin(theta);
            v[1] = x0 * sin(theta) + x1 * cos(theta);
        }
}

/* Logits (n x n_vocab) of tokens ids[0..n) from position 0, in float64. */
static double *ref_forward(const struct tiny *t, const int32_t *ids, size_t n)
{
    const struct cfg *c = &t->c;
    const size_t d = c->n_embd, hd = d / c->n_head, dq = c->n_head * hd, dkv = c->n_head_kv * hd,
                 ff = c->n_ff, V = c->n_vocab;
    double *K = mb_calloc(c->n_layer * n * dkv, sizeof(double));
    double *Vc = mb_calloc(c->n_layer * n * dkv, sizeof(double));
    double *logits = mb_calloc(n * V, sizeof(double));
    double *x = mb_calloc(d, 8), *xn = mb_calloc(d, 8), *q = mb_calloc(dq, 8),
           *k = mb_calloc(dkv, 8), *v = mb_calloc(dkv, 8), *att = mb_calloc(dq, 8),
           *g = mb_calloc(ff, 8), *u = mb_calloc(ff, 8), *s = mb_calloc(n, 8);
    assert_true(K && Vc && logits && x && xn && q && k && v && att && g && u && s);
    for (size_t p = 0; p < n; p++) {
        memcpy(x, t->embd + (size_t)ids[p] * d, d * sizeof(double));
        for (uint32_t l = 0; l < c->n_layer; l++) {
            const struct ref_layer *L = &t->L[l];
            ref_rmsnorm(x, L->attn_norm, d, c->eps, xn);
            ref_matvec(L->q, xn, dq, d, q, false, c->wtype);
            ref_matvec(L->k, xn, dkv, d, k, false, c->wtype);
            ref_matvec(L->v, xn, dkv, d, v, false, c->wtype);
            ref_rope(q, c->n_head, hd, p, c->rope_base);
            ref_rope(k, c->n_head_kv, hd, p, c->rope_base);
            memcpy(K + (l * n + p) * dkv, k, dkv * 8);
            memcpy(Vc + (l * n + p) * dkv, v, dkv * 8);
            for (size_t h = 0; h < c->n_head; h++) {
                size_t kvh = h / (c->n_head / c->n_head_kv);
                double mx = -INFINITY, sum = 0;
                for (size_t j = 0; j <= p; j++) {
                    double dot = 0;
                    for (size_t i = 0; i < hd; i++)
                        dot += q[h * hd + i] * K[(l * n + j) * dkv + kvh * hd + i];
                    s[j] = dot / sqrt((double)hd);
                    mx = fmax(mx, s[j]);
                }
                for (size_t j = 0; j <= p; j++)
                    sum += (s[j] = exp(s[j] - mx));
                for (size_t i = 0; i < hd; i++) {
                    double o = 0;
                    for (size_t j = 0; j <= p; j++)
                        o += s[j] / sum * Vc[(l * n + j) * dkv + kvh * hd + i];
                    att[h * hd + i] = o;
                }
            }
            ref_matvec(L->o, att, d, dq, x, true, c->wtype);
            ref_rmsnorm(x, L->ffn_norm, d, c->eps, xn);
            ref_matvec(L->gate, xn, ff, d, g, false, c->wtype);
            ref_matvec(L->up, xn, ff, d, u, false, c->wtype);
            for (size_t i = 0; i < ff; i++)
                g[i] = g[i] / (1.0 + exp(-g[i])) * u[i];
            ref_matvec(L->down, g, d, ff, x, true, c->wtype);
        }
        ref_rmsnorm(x, t->out_norm, d, c->eps, xn);
        ref_matvec(t->out, xn, V, d, logits + p * V, false, MB_DTYPE_F32);
    }
    double *all[] = { K, Vc, x, xn, q, k, v, att, g, u, s };
    for (size_t i = 0; i < MB_ARRAY_LEN(all); i++)
        mb_free(all[i]);
    return logits;
}

static double max_diff(const float *a, const double *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static double max_diff_f(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - (double)b[i]));
    return m;
}

static const int32_t PROMPT[] = { 5, 17, 63, 0, 42, 42, 9, 31, 2, 60, 11 };
#define NP MB_ARRAY_LEN(PROMPT)

static struct mb_backend *cpu(unsigned threads)
{
    struct mb_backend *be;
    struct mb_cpu_opts o = { 0 };
    o.n_threads = threads;
    struct mb_err err;
    MB_ASSERT_OK(mb_backend_cpu_new(&o, &be, &err), &err);
    return be;
}

static struct mb_session *session(struct mb_model *m, size_t n_ctx, size_t n_batch, uint32_t kv)
{
    struct mb_session_opts so;
    mb_session_opts_init(&so);
    so.n_ctx = n_ctx;
    so.n_batch = n_batch;
    so.kv_type = kv;
    struct mb_session *s;
    struct mb_err err;
    MB_ASSERT_OK(mb_session_new(m, &so, &s, &err), &err);
    return s;
}

/* ------------------------------------------------------------ tests */

/* Our logits against the float64 reference, for each weight type. */
static void check_type(uint32_t wtype, double bound)
{
    struct cfg c = default_cfg();
    c.wtype = wtype;
    struct tiny t;
    tiny_build(&t, c);
    struct mb_backend *be = cpu(2);
    struct mb_model *m;
    void *copy;
    struct mb_err err;
    MB_ASSERT_OK(tiny_load(&t, be, 0, &copy, &m, &err), &err);
    assert_int_equal(m->hp.n_layer, 2);
    assert_int_equal(m->hp.block.head_dim, 16);
    struct mb_session *s = session(m, 64, 0, MB_DTYPE_F32);
    float *got = mb_calloc(NP * c.n_vocab, sizeof(float));
    MB_ASSERT_OK(mb_session_eval(s, PROMPT, NP, got, &err), &err);
    double *want = ref_forward(&t, PROMPT, NP);
    double d = max_diff(got, want, NP * c.n_vocab);
    print_message("weights %s: max |logit - float64 reference| = %.3g (bound %.3g)\n",
                  mb_dtype_name(wtype), d, bound);
    assert_true(d < bound);
    /* the last row is what mb_session_logits gives */
    assert_true(max_diff_f(mb_session_logits(s), got + (NP - 1) * c.n_vocab, c.n_vocab) == 0);
    mb_free(want);
    mb_free(got);
    mb_session_free(s);
    mb_model_free(m);
    mb_backend_free(be);
    tiny_free(&t);
}

static void test_forward_f32(void **state)
{
    (void)state;
    /* f32 everywhere: only float rounding separates us from float64 */
    check_type(MB_DTYPE_F32, 1e-4);
}

static void test_forward_f16(void **state)
{
    (void)state;
    /* f16 weights are exact in f32; activations stay f32 */
    check_type(MB_DTYPE_F16, 1e-4);
}

static void test_forward_q8_0(void **state)
{
    (void)state;
    /* Q8_0 quantizes the activations to 8 bits per 32-block (like ggml); the reference
     * rounds them the same way, so what is left is float rounding - and the odd
     * activation whose rounding flips because of it (one step = 1/127 of its block's
     * largest value), hence the looser bound. */
    check_type(MB_DTYPE_Q8_0, 2e-3);
}

/* Batched prefill, small batches, and one token at a time give the same logits. */
static void test_batching(void **state)
{
    (void)state;
    struct tiny t;
    tiny_build(&t, default_cfg());
    struct mb_backend *be = cpu(2);
    struct mb_model *m;
    void *copy;
    struct mb_err err;
    MB_ASSERT_OK(tiny_load(&t, be, 0, &copy, &m, &err), &err);
    const size_t V = t.c.n_vocab;
    float *a = mb_calloc(NP * V, sizeof(float)), *b = mb_calloc(NP * V, sizeof(float));
    struct mb_session *s1 = session(m, 64, 0, MB_DTYPE_F16);
    MB_ASSERT_OK(mb_session_eval(s1, PROMPT, NP, a, &err), &err);
    struct mb_session *s2 = session(m, 64, 3, MB_DTYPE_F16); /* chunks of 3 */
    MB_ASSERT_OK(mb_session_eval(s2, PROMPT, NP, b, &err), &err);
    assert_true(max_diff_f(a, b, NP * V) < 1e-5);
    mb_session_reset(s2);
    for (size_t i = 0; i < NP; i++)
        MB_ASSERT_OK(mb_session_eval(s2, PROMPT + i, 1, b + i * V, &err), &err);
    assert_true(max_diff_f(a, b, NP * V) < 1e-5);
    assert_int_equal(mb_session_n_past(s2), NP);
    assert_memory_equal(mb_session_tokens(s2), PROMPT, sizeof(PROMPT));
    mb_session_free(s1);
    mb_session_free(s2);
    mb_free(a);
    mb_free(b);
    mb_model_free(m);
    mb_backend_free(be);
    tiny_free(&t);
}

/* Thread counts and weights copied (misaligned file) vs borrowed give identical bits. */
static void test_threads_and_copies(void **state)
{
    (void)state;
    struct tiny t;
    tiny_build(&t, default_cfg());
    const size_t V = t.c.n_vocab;
    float *ref = NULL;
    unsigned threads[] = { 1, 2, 3 };
    size_t shifts[] = { 0, 4, 0 };
    for (size_t i = 0; i < MB_ARRAY_LEN(threads); i++) {
        struct mb_backend *be = cpu(threads[i]);
        struct mb_model *m;
        void *copy;
        struct mb_err err;
        MB_ASSERT_OK(tiny_load(&t, be, shifts[i], &copy, &m, &err), &err);
        struct mb_session *s = session(m, 32, 0, MB_DTYPE_F16);
        float *got = mb_calloc(NP * V, sizeof(float));
        MB_ASSERT_OK(mb_session_eval(s, PROMPT, NP, got, &err), &err);
        if (!ref)
            ref = got;
        else {
            assert_memory_equal(ref, got, NP * V * sizeof(float));
            mb_free(got);
        }
        mb_session_free(s);
        mb_model_free(m);
        mb_free(copy);
        mb_backend_free(be);
    }
    mb_free(ref);
    tiny_free(&t);
}

/* A tied head (no output.weight) multiplies by the embedding table. */
static void test_tied_head(void **state)
{
    (void)state;
    struct cfg c = default_cfg();
    c.tied = true;
    struct tiny t;
    tiny_build(&t, c);
    struct mb_backend *be = cpu(2);
    struct mb_model *m;
    void *copy;
    struct mb_err err;
    MB_ASSERT_OK(tiny_load(&t, be, 0, &copy, &m, &err), &err);
    assert_true(m->head.tied);
    struct mb_session *s = session(m, 32, 0, MB_DTYPE_F32);
    float *got = mb_calloc(NP * c.n_vocab, sizeof(float));
    MB_ASSERT_OK(mb_session_eval(s, PROMPT, NP, got, &err), &err);
    double *want = ref_forward(&t, PROMPT, NP);
    assert_true(max_diff(got, want, NP * c.n_vocab) < 1e-4);
    mb_free(want);
    mb_free(got);
    mb_session_free(s);
    mb_model_free(m);
    mb_backend_free(be);
    tiny_free(&t);
}

/*
 * The modular runtime's split: embedding -> stack of blk.0 -> stack of blk.1 ->
 * head, each stack with its own state, gives exactly the model's logits.
 */
static void test_stack_split(void **state)
{
    (void)state;
    struct tiny t;
    tiny_build(&t, default_cfg());
    struct mb_backend *be = cpu(2);
    struct mb_model *m;
    void *copy;
    struct mb_err err;
    MB_ASSERT_OK(tiny_load(&t, be, 0, &copy, &m, &err), &err);
    const size_t V = t.c.n_vocab, d = t.c.n_embd;
    struct mb_session *s = session(m, 32, 0, MB_DTYPE_F16);
    float *want = mb_calloc(NP * V, sizeof(float));
    MB_ASSERT_OK(mb_session_eval(s, PROMPT, NP, want, &err), &err);

    struct mb_stack *st[2];
    struct mb_stack_state *ss[2];
    for (uint32_t i = 0; i < 2; i++) {
        struct mb_stack_spec spec = { "blk.", i, 1, m->hp.block };
        MB_ASSERT_OK(mb_stack_load(m->gguf, &spec, be, &st[i], &err), &err);
        MB_ASSERT_OK(mb_stack_state_new(st[i], be, 32, 4, MB_DTYPE_F16, &ss[i], &err), &err);
        assert_int_equal(mb_stack_n_blocks(st[i]), 1);
        assert_true(mb_stack_weight_bytes(st[i]) * 2 <= mb_stack_weight_bytes(m->blocks));
    }
    float *h = mb_calloc(NP * d, sizeof(float)), *xn = mb_calloc(NP * d, sizeof(float));
    float *got = mb_calloc(NP * V, sizeof(float));
    /* prefill in two parts to exercise positions */
    MB_ASSERT_OK(mb_embedding_lookup(&m->embd, PROMPT, NP, h, &err), &err);
    MB_ASSERT_OK(mb_stack_forward(st[0], ss[0], h, 5, 0, &err), &err);
    MB_ASSERT_OK(mb_stack_forward(st[0], ss[0], h + 5 * d, NP - 5, 5, &err), &err);
    MB_ASSERT_OK(mb_stack_forward(st[1], ss[1], h, NP, 0, &err), &err);
    MB_ASSERT_OK(mb_lm_head_forward(&m->head, h, d, NP, xn, got, &err), &err);
    assert_true(max_diff_f(want, got, NP * V) < 1e-5);
    assert_int_equal(mb_stack_state_n_past(ss[0]), NP);
    /* a hole in the positions is refused; a full state too */
    assert_int_equal(mb_stack_forward(st[0], ss[0], h, 1, NP + 1, &err), MB_E_USAGE);
    assert_int_equal(mb_stack_forward(st[0], ss[0], h, 32 - NP + 1, NP, &err), MB_E_LIMIT);
    assert_non_null(strstr(err.msg, "context is full"));
    /* a state belongs to its stack's shape */
    struct mb_stack_spec both = { "blk.", 0, 2, m->hp.block };
    struct mb_stack *two;
    MB_ASSERT_OK(mb_stack_load(m->gguf, &both, be, &two, &err), &err);
    assert_int_equal(mb_stack_forward(two, ss[0], h, 1, 0, &err), MB_E_USAGE);
    mb_stack_free(two);
    /* blocks that are not in the file */
    struct mb_stack_spec past = { "blk.", 1, 2, m->hp.block };
    assert_int_equal(mb_stack_load(m->gguf, &past, be, &two, &err), MB_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "'blk.2.attn_norm.weight'"));
    struct mb_stack_spec other = { "pack.", 0, 1, m->hp.block };
    assert_int_equal(mb_stack_load(m->gguf, &other, be, &two, &err), MB_E_NOTFOUND);
    for (int i = 0; i < 2; i++) {
        mb_stack_state_free(ss[i]);
        mb_stack_free(st[i]);
    }
    mb_free(h);
    mb_free(xn);
    mb_free(got);
    mb_free(want);
    mb_session_free(s);
    mb_model_free(m);
    mb_backend_free(be);
    tiny_free(&t);
}

/* Truncation, context limits, bad ids. */
static void test_session(void **state)
{
    (void)state;
    struct tiny t;
    tiny_build(&t, default_cfg());
    struct mb_backend *be = cpu(2);
    struct mb_model *m;
    void *copy;
    struct mb_err err;
    MB_ASSERT_OK(tiny_load(&t, be, 0, &copy, &m, &err), &err);
    const size_t V = t.c.n_vocab;
    struct mb_session *s = session(m, 12, 0, MB_DTYPE_F16);
    assert_int_equal(mb_session_n_ctx(s), 12);
    float *a = mb_calloc(NP * V, sizeof(float)), *b = mb_calloc(NP * V, sizeof(float));
    MB_ASSERT_OK(mb_session_eval(s, PROMPT, NP, a, &err), &err);
    /* rewind to 6 and evaluate the rest again: same logits */
    mb_session_truncate(s, 6);
    assert_int_equal(mb_session_n_past(s), 6);
    MB_ASSERT_OK(mb_session_eval(s, PROMPT + 6, NP - 6, b, &err), &err);
    assert_true(max_diff_f(a + 6 * V, b, (NP - 6) * V) < 1e-6);
    /* 11 of 12 positions used: one more fits, two do not */
    int32_t two[2] = { 1, 2 };
    assert_int_equal(mb_session_eval(s, two, 2, NULL, &err), MB_E_LIMIT);
    assert_non_null(strstr(err.msg, "context is full"));
    assert_int_equal(mb_session_n_past(s), NP); /* nothing was run */
    MB_ASSERT_OK(mb_session_eval(s, two, 1, NULL, &err), &err);
    assert_int_equal(mb_session_eval(s, two, 1, NULL, &err), MB_E_LIMIT);
    /* bad ids and empty input */
    mb_session_reset(s);
    int32_t bad[2] = { 3, (int32_t)V };
    assert_int_equal(mb_session_eval(s, bad, 2, NULL, &err), MB_E_FORMAT);
    assert_non_null(strstr(err.msg, "outside the vocabulary"));
    bad[1] = -1;
    assert_int_equal(mb_session_eval(s, bad, 2, NULL, &err), MB_E_FORMAT);
    assert_int_equal(mb_session_eval(s, bad, 0, NULL, &err), MB_E_USAGE);
    assert_int_equal(mb_session_n_past(s), 0);
    /* the default context is the training context capped */
    mb_session_free(s);
    s = session(m, 0, 0, MB_DTYPE_F16);
    assert_int_equal(mb_session_n_ctx(s), MB_MIN(256, MB_SESSION_DEFAULT_CTX_CAP));
    assert_true(mb_session_kv_bytes(s) == 2ull * 2 * 256 * 2 * 16 * 2);
    mb_session_free(s);
    mb_free(a);
    mb_free(b);
    mb_model_free(m);
    mb_backend_free(be);
    tiny_free(&t);
}

/* A broken variant must fail to load with `code` and a message containing `what`. */
static void expect_load_error(struct cfg c, int code, const char *what)
{
    struct tiny t;
    tiny_build(&t, c);
    struct mb_backend *be = cpu(1);
    struct mb_model *m = NULL;
    void *copy;
    struct mb_err err;
    mb_err_init(&err);
    int rc = tiny_load(&t, be, 0, &copy, &m, &err);
    print_message("  %s -> %d: %s\n", what, rc, err.msg);
    assert_int_equal(rc, code);
    assert_null(m);
    assert_non_null(strstr(err.msg, what));
    assert_null(strchr(err.msg, '\n'));
    mb_backend_free(be);
    tiny_free(&t);
}

static void test_load_errors(void **state)
{
    (void)state;
    struct cfg c = default_cfg();
    c.arch = "gpt2";
    expect_load_error(c, MB_E_UNSUPPORTED, "architecture 'gpt2' is not a llama-family model");
    c = default_cfg();
    c.drop = "blk.1.ffn_up.weight";
    expect_load_error(c, MB_E_NOTFOUND, "missing tensor 'blk.1.ffn_up.weight'");
    c = default_cfg();
    c.drop = "token_embd.weight";
    expect_load_error(c, MB_E_NOTFOUND, "'token_embd.weight'");
    c = default_cfg();
    c.drop = "output_norm.weight";
    expect_load_error(c, MB_E_NOTFOUND, "missing tensor 'output_norm.weight'");
    c = default_cfg();
    c.bad_shape = "blk.0.attn_k.weight";
    expect_load_error(c, MB_E_FORMAT,
                      "tensor 'blk.0.attn_k.weight' has shape 64 x 33, expected "
                      "64 x 32");
    c = default_cfg();
    c.no_block_count = true;
    expect_load_error(c, MB_E_NOTFOUND, "'llama.block_count'");
    c = default_cfg();
    c.block_count = 3; /* the keys promise a block the file lacks */
    expect_load_error(c, MB_E_NOTFOUND, "missing tensor 'blk.2.attn_norm.weight'");
    c = default_cfg();
    c.block_count = 1; /* the file has a block past block_count */
    expect_load_error(c, MB_E_FORMAT, "'blk.1.attn_norm.weight' is past llama.block_count");
    c = default_cfg();
    c.n_head_kv = 3; /* does not divide 4 query heads */
    expect_load_error(c, MB_E_FORMAT, "4 query heads and 3 key/value heads");
    c = default_cfg();
    c.n_head = 5; /* 64 is not a multiple of 5 */
    c.n_head_kv = 5;
    expect_load_error(c, MB_E_FORMAT, "not a multiple of attention.head_count");
    c = default_cfg();
    c.extra = "blk.0.attn_q.bias";
    expect_load_error(c, MB_E_UNSUPPORTED, "'blk.0.attn_q.bias' is not supported");
    c = default_cfg();
    c.extra = "rope_freqs.weight";
    expect_load_error(c, MB_E_UNSUPPORTED, "'rope_freqs.weight'");
    c = default_cfg();
    c.eps = 0.0f;
    expect_load_error(c, MB_E_FORMAT, "layer_norm_rms_epsilon");
    c = default_cfg();
    c.drop = "output.weight"; /* untied but absent: falls back to the embedding */
    struct tiny t;
    tiny_build(&t, c);
    struct mb_backend *be = cpu(1);
    struct mb_model *m;
    void *copy;
    struct mb_err err;
    MB_ASSERT_OK(tiny_load(&t, be, 0, &copy, &m, &err), &err);
    assert_true(m->head.tied);
    mb_model_free(m);
    mb_backend_free(be);
    tiny_free(&t);
}

/* An unsupported weight type: an I8 matrix of the right shape. */
static void test_unsupported_type(void **state)
{
    (void)state;
    struct tiny t;
    tiny_build(&t, default_cfg());
    struct mb_err err;
    struct mb_gguf *g;
    MB_ASSERT_OK(mb_gguf_open_memory(&g, t.file, t.file_n, "tiny.gguf", &err), &err);
    struct mb_gguf_writer *w;
    MB_ASSERT_OK(mb_gguf_writer_new(&w, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_copy_kvs(w, g, NULL, &err), &err);
    void *q2 = NULL;
    for (size_t i = 0; i < mb_gguf_tensor_count(g); i++) {
        const struct mb_gguf_tensor *tt = mb_gguf_tensor_at(g, i);
        if (!strcmp(tt->name, "blk.0.ffn_down.weight")) {
            /* same shape, a type no backend multiplies */
            uint64_t dims[2] = { tt->dims[0], tt->dims[1] };
            size_t nb = (size_t)(dims[0] * dims[1]);
            q2 = mb_calloc(1, nb);
            MB_ASSERT_OK(mb_gguf_writer_add_tensor(w, tt->name, MB_DTYPE_I8, 2, dims, q2, nb, &err),
                         &err);
        } else {
            MB_ASSERT_OK(mb_gguf_writer_copy_tensor(w, tt, &err), &err);
        }
    }
    struct mb_buf out;
    mb_buf_init(&out, (size_t)1 << 30);
    MB_ASSERT_OK(mb_gguf_writer_write_buf(w, &out, &err), &err);
    mb_gguf_writer_free(w);
    mb_gguf_free(g);
    struct mb_backend *be = cpu(1);
    struct mb_model *m = NULL;
    MB_ASSERT_OK(mb_gguf_open_memory(&g, out.p, out.n, "tiny-i8.gguf", &err), &err);
    assert_int_equal(mb_model_load_gguf(g, be, &m, &err), MB_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "tensor 'blk.0.ffn_down.weight' has type i8"));
    assert_null(m);
    mb_backend_free(be);
    mb_buf_release(&out);
    mb_free(q2);
    tiny_free(&t);
}

/* ------------------------------------------------------------ generation */

/* A toy vocabulary for the tiny model: 0 = "<|end|>" (control, EOS), then '!' .. '_'. */
struct toy_vocab {
    char texts[64][16];
    struct mb_str tokens[64];
    int32_t types[64];
};

static struct mb_tokenizer *toy_tokenizer(struct toy_vocab *v)
{
    for (int i = 0; i < 64; i++) {
        if (i == 0)
            snprintf(v->texts[i], sizeof(v->texts[i]), "<|end|>");
        else
            snprintf(v->texts[i], sizeof(v->texts[i]), "%c", (char)('!' + i - 1));
        v->tokens[i] = mb_str_from(v->texts[i]);
        v->types[i] = i == 0 ? MB_TOK_TYPE_CONTROL : MB_TOK_TYPE_NORMAL;
    }
    struct mb_tokenizer_spec spec;
    mb_tokenizer_spec_init(&spec);
    spec.model = "gpt2";
    spec.tokens = v->tokens;
    spec.n_tokens = 64;
    spec.types = v->types;
    spec.eos_id = 0;
    spec.bos_id = MB_TOKEN_NONE;
    spec.add_bos = 0;
    struct mb_tokenizer *tok;
    struct mb_err err;
    MB_ASSERT_OK(mb_tokenizer_new(&spec, &tok, &err), &err);
    return tok;
}

struct sink {
    char text[4096];
    size_t n;
};

static int sink_emit(void *ud, const char *text, size_t n, struct mb_err *err)
{
    (void)err;
    struct sink *s = ud;
    assert_true(s->n + n < sizeof(s->text));
    memcpy(s->text + s->n, text, n);
    s->n += n;
    s->text[s->n] = '\0';
    return 0;
}

static void test_generate(void **state)
{
    (void)state;
    struct tiny t;
    tiny_build(&t, default_cfg());
    struct mb_backend *be = cpu(2);
    struct mb_model *m;
    void *copy;
    struct mb_err err;
    MB_ASSERT_OK(tiny_load(&t, be, 0, &copy, &m, &err), &err);
    struct toy_vocab v;
    struct mb_tokenizer *tok = toy_tokenizer(&v);
    struct mb_session *s = session(m, 32, 0, MB_DTYPE_F16);
    struct mb_sampler_params p;
    mb_sampler_params_init(&p);
    p.temperature = 0; /* greedy */
    struct mb_sampler *smp;
    MB_ASSERT_OK(mb_sampler_new(&p, 64, &smp, &err), &err);
    struct mb_stop stop;
    MB_ASSERT_OK(mb_stop_init(&stop, NULL, 0, 8, &err), &err);
    struct mb_generator gen;
    mb_generator_init(&gen, s, tok, smp);
    gen.ignore_eog = true; /* the random model may well pick token 0 */

    /* 8 greedy tokens, each the argmax of the reference logits of the sequence so far */
    struct sink out1 = { { 0 }, 0 };
    struct mb_gen_stats st;
    MB_ASSERT_OK(mb_generate(&gen, &stop, PROMPT, 5, sink_emit, &out1, &st, &err), &err);
    assert_int_equal(st.end, MB_GEN_END_MAX_TOKENS);
    assert_int_equal(st.n_gen, 8);
    assert_int_equal(st.n_decode, 7);
    assert_int_equal(st.n_prompt_eval, 5);
    assert_int_equal(out1.n, 8);
    int32_t seq[13];
    memcpy(seq, PROMPT, 5 * sizeof(int32_t));
    for (int i = 0; i < 8; i++) {
        double *ref = ref_forward(&t, seq, (size_t)(5 + i));
        const double *last = ref + (size_t)(4 + i) * 64;
        int32_t best = 1; /* token 0 is masked (ignore_eog) */
        for (int32_t j = 2; j < 64; j++)
            if (last[j] > last[best])
                best = j;
        int32_t ours = (int32_t)(out1.text[i] - '!' + 1);
        assert_true(ours >= 1 && ours < 64);
        assert_true(last[ours] >= last[best] - 1e-2); /* the argmax, or a near tie */
        seq[5 + i] = ours;
        mb_free(ref);
    }
    assert_int_equal(mb_session_n_past(s), 12);

    /* same prompt again: the cache is reused except the last prompt token */
    struct sink out2 = { { 0 }, 0 };
    mb_sampler_reset(smp);
    MB_ASSERT_OK(mb_generate(&gen, &stop, PROMPT, 5, sink_emit, &out2, &st, &err), &err);
    assert_int_equal(st.n_prompt_eval, 1);
    assert_string_equal(out1.text, out2.text);
    /* the prompt plus part of the answer: only the new tail is evaluated */
    struct sink out3 = { { 0 }, 0 };
    MB_ASSERT_OK(mb_generate(&gen, &stop, seq, 9, sink_emit, &out3, &st, &err), &err);
    assert_int_equal(st.n_prompt_eval, 1);
    assert_int_equal(strncmp(out3.text, out1.text + 4, 4), 0);

    /* a stop token: whatever the first generated token is, make it end the turn */
    int32_t first = seq[5];
    gen.ignore_eog = false;
    gen.stop_ids = &first;
    gen.n_stop_ids = 1;
    struct sink out4 = { { 0 }, 0 };
    MB_ASSERT_OK(mb_generate(&gen, &stop, PROMPT, 5, sink_emit, &out4, &st, &err), &err);
    assert_int_equal(st.end, MB_GEN_END_EOG);
    assert_int_equal(out4.n, 0);
    /* ignore_eog never samples it */
    gen.ignore_eog = true;
    out4.n = 0;
    MB_ASSERT_OK(mb_generate(&gen, &stop, PROMPT, 5, sink_emit, &out4, &st, &err), &err);
    assert_int_equal(st.end, MB_GEN_END_MAX_TOKENS);
    assert_null(memchr(out4.text, '!' + first - 1, out4.n));
    gen.stop_ids = NULL;
    gen.n_stop_ids = 0;

    /* the context fills: 32 positions, prompt 28, no token limit */
    mb_stop_release(&stop);
    MB_ASSERT_OK(mb_stop_init(&stop, NULL, 0, 0, &err), &err);
    int32_t long_prompt[31];
    for (int i = 0; i < 31; i++)
        long_prompt[i] = (int32_t)(1 + (i * 7) % 63);
    struct sink out5 = { { 0 }, 0 };
    MB_ASSERT_OK(mb_generate(&gen, &stop, long_prompt, 28, sink_emit, &out5, &st, &err), &err);
    assert_int_equal(st.end, MB_GEN_END_CONTEXT_FULL);
    assert_int_equal(st.n_gen, 5); /* positions 28..31 evaluated, then one more sampled */
    assert_int_equal(mb_session_n_past(s), 32);
    /* 31 of 32: fits, one token is sampled; 32 does not fit at all */
    out5.n = 0;
    MB_ASSERT_OK(mb_generate(&gen, &stop, long_prompt, 31, sink_emit, &out5, &st, &err), &err);
    assert_int_equal(st.n_gen, 2);
    mb_session_reset(s);
    int32_t too_long[32] = { 0 };
    assert_int_equal(mb_generate(&gen, &stop, too_long, 32, sink_emit, &out5, &st, &err),
                     MB_E_LIMIT);
    assert_non_null(strstr(err.msg, "the prompt is 32 tokens"));

    /* interrupted: ends the answer, the error code is the caller's choice */
    mb_interrupted = 1;
    MB_ASSERT_OK(mb_generate(&gen, &stop, PROMPT, 5, sink_emit, &out5, &st, &err), &err);
    assert_int_equal(st.end, MB_GEN_END_INTERRUPTED);
    assert_int_equal(st.n_gen, 0);
    mb_interrupted = 0;

    mb_generator_release(&gen);
    mb_stop_release(&stop);
    mb_sampler_free(smp);
    mb_tokenizer_free(tok);
    mb_session_free(s);
    mb_model_free(m);
    mb_backend_free(be);
    tiny_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_f32),        cmocka_unit_test(test_forward_f16),
        cmocka_unit_test(test_forward_q8_0),       cmocka_unit_test(test_batching),
        cmocka_unit_test(test_threads_and_copies), cmocka_unit_test(test_tied_head),
        cmocka_unit_test(test_stack_split),        cmocka_unit_test(test_session),
        cmocka_unit_test(test_load_errors),        cmocka_unit_test(test_unsupported_type),
        cmocka_unit_test(test_generate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
