/*
 * test_modular.c - the modular model (runtime/mb_modular.h) on small synthetic
 * files written with our GGUF writer: a 5-block llama model split by
 * mb_pack_import (U=2, F=1), a copy of its general pack under another id, and
 * a pack of another width (48) with adapter_in/adapter_out. Fusion of three
 * packs with weights is compared with a reference forward pass written here
 * independently at float64; so is a selection that changes mid-sequence (the
 * late pack catches up from the stored h_u; fusion keys and values of earlier
 * positions stay as computed). Weight 1 on the general pack must equal the
 * unsplit model bit for bit. Packs that do not fit the base are refused.
 */
#include "mb_test.h"
#include "mb_runtime.h"

#include <math.h>

#define D     64 /* base width */
#define VOCAB 64
#define NL    5  /* blocks of the full model */
#define PW    48 /* width of the synthetic pack */

struct shape {
    size_t d, n_head, n_head_kv, ff;
};
static const struct shape BASE = { D, 4, 2, 96 };
static const struct shape WIDE = { PW, 4, 2, 80 };

struct layer {
    double *attn_norm, *q, *k, *v, *o, *ffn_norm, *gate, *up, *down;
};

struct fixture {
    char dir[512], full[600], base[600], general[600], general2[600], wide[600], narrow[600];
    double *embd, *out_norm;
    struct layer L[NL], W[2];
    double *a_in, *a_out; /* PW x D, D x PW */
    void *keep[128];
    size_t n_keep;
};

static uint64_t rng = 0x2545f4914f6cdd1dull;
static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

/* An F32 tensor of rows x cols (scaled random, plus `bias`); returns its f64 copy. */
static double *add(struct fixture *f, struct mb_gguf_writer *w, const char *name, size_t rows,
                   size_t cols, double scale, double bias)
{
    float *v = mb_malloc(rows * cols * sizeof(float));
    double *d = mb_malloc(rows * cols * sizeof(double));
    assert_true(v && d);
    for (size_t i = 0; i < rows * cols; i++) {
        v[i] = (float)(urand() * scale + bias);
        d[i] = v[i];
    }
    uint64_t dims[2] = { cols, rows };
    struct mb_err err;
    MB_ASSERT_OK(mb_gguf_writer_add_tensor(w, name, MB_DTYPE_F32, rows == 1 ? 1 : 2, dims, v,
                                           rows * cols * sizeof(float), &err),
                 &err);
    assert_true(f->n_keep < MB_ARRAY_LEN(f->keep));
    f->keep[f->n_keep++] = v;
    return d;
}

static void add_layer(struct fixture *f, struct mb_gguf_writer *w, unsigned l,
                      const struct shape *s, struct layer *L)
{
    char n[64];
    const size_t d = s->d, hd = d / s->n_head, dq = d, dkv = s->n_head_kv * hd;
    const double sd = 1.0 / sqrt((double)d);
#define NM(x) (snprintf(n, sizeof(n), "blk.%u.%s", l, x), n)
    L->attn_norm = add(f, w, NM("attn_norm.weight"), 1, d, 0.3, 1.0);
    L->q = add(f, w, NM("attn_q.weight"), dq, d, sd, 0);
    L->k = add(f, w, NM("attn_k.weight"), dkv, d, sd, 0);
    L->v = add(f, w, NM("attn_v.weight"), dkv, d, sd, 0);
    L->o = add(f, w, NM("attn_output.weight"), d, dq, sd, 0);
    L->ffn_norm = add(f, w, NM("ffn_norm.weight"), 1, d, 0.3, 1.0);
    L->gate = add(f, w, NM("ffn_gate.weight"), s->ff, d, sd, 0);
    L->up = add(f, w, NM("ffn_up.weight"), s->ff, d, sd, 0);
    L->down = add(f, w, NM("ffn_down.weight"), d, s->ff, 1.0 / sqrt((double)s->ff), 0);
#undef NM
}

static void llama_keys(struct mb_gguf_writer *w, const struct shape *s, uint32_t n_layer)
{
    struct mb_err err;
    MB_ASSERT_OK(mb_gguf_writer_set_string(w, "general.architecture", "llama", &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_string(w, "general.name", "Tiny Test", &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_u32(w, "llama.block_count", n_layer, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_u32(w, "llama.context_length", 128, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)s->d, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)s->ff, &err),
                 &err);
    MB_ASSERT_OK(mb_gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)s->n_head, &err),
                 &err);
    MB_ASSERT_OK(
        mb_gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)s->n_head_kv, &err),
        &err);
    MB_ASSERT_OK(mb_gguf_writer_set_u32(w, "llama.vocab_size", VOCAB, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_f32(w, "llama.rope.freq_base", 10000.0f, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f, &err),
                 &err);
}

static void tokenizer_keys(struct mb_gguf_writer *w)
{
    static char texts[VOCAB][4];
    const char *toks[VOCAB];
    int32_t types[VOCAB];
    for (int i = 0; i < VOCAB; i++) {
        snprintf(texts[i], sizeof(texts[i]), "%c", (char)('0' + i));
        toks[i] = texts[i];
        types[i] = 1;
    }
    const char *merges[] = { "0 1" };
    struct mb_err err;
    MB_ASSERT_OK(mb_gguf_writer_set_string(w, "tokenizer.ggml.model", "gpt2", &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_str_array(w, "tokenizer.ggml.tokens", toks, VOCAB, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_array(w, "tokenizer.ggml.token_type", MB_GGUF_TYPE_INT32, types,
                                          VOCAB, &err),
                 &err);
    MB_ASSERT_OK(mb_gguf_writer_set_str_array(w, "tokenizer.ggml.merges", merges, 1, &err), &err);
}

static void write_file(struct mb_gguf_writer *w, const char *path)
{
    struct mb_err err;
    MB_ASSERT_OK(mb_gguf_writer_write(w, path, NULL, &err), &err);
    mb_gguf_writer_free(w);
}

/* The synthetic pack of width PW: blocks, adapters (unless no_adapters), modularbase keys. */
static void write_wide(struct fixture *f, const char *path, bool no_adapters, uint32_t base_width)
{
    struct mb_gguf_writer *w;
    struct mb_err err;
    MB_ASSERT_OK(mb_gguf_writer_new(&w, &err), &err);
    llama_keys(w, &WIDE, 2);
    MB_ASSERT_OK(mb_gguf_writer_set_string(w, MB_MOD_KEY_KIND, "data", &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_string(w, MB_MOD_KEY_PACK_ID, "wide", &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_string(w, MB_MOD_KEY_PACK_VERSION, "0.1.0", &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_u32(w, MB_MOD_KEY_PACK_WIDTH, PW, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_u32(w, MB_MOD_KEY_BASE_WIDTH, base_width, &err), &err);
    rng = 0x1234567u;
    struct layer tmp[2];
    for (unsigned l = 0; l < 2; l++)
        add_layer(f, w, l, &WIDE, no_adapters ? &tmp[l] : &f->W[l]);
    if (!no_adapters) {
        f->a_in = add(f, w, MB_MOD_ADAPTER_IN, PW, D, 1.0 / sqrt((double)D), 0);
        f->a_out = add(f, w, MB_MOD_ADAPTER_OUT, D, PW, 1.0 / sqrt((double)PW), 0);
    } else {
        for (unsigned l = 0; l < 2; l++) {
            double *all[] = { tmp[l].attn_norm, tmp[l].q,    tmp[l].k,  tmp[l].v,   tmp[l].o,
                              tmp[l].ffn_norm,  tmp[l].gate, tmp[l].up, tmp[l].down };
            for (size_t i = 0; i < MB_ARRAY_LEN(all); i++)
                mb_free(all[i]);
        }
    }
    write_file(w, path);
}

static int setup(void **state)
{
    struct fixture *f = mb_calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "%s/modular", mb_test_tmpdir());
    struct mb_err err;
    MB_ASSERT_OK(mb_mkdir_p(f->dir, 0755, &err), &err);
    snprintf(f->full, sizeof(f->full), "%s/full.gguf", f->dir);
    snprintf(f->wide, sizeof(f->wide), "%s/wide.gguf", f->dir);
    snprintf(f->narrow, sizeof(f->narrow), "%s/noadapt.gguf", f->dir);
    struct mb_gguf_writer *w;
    MB_ASSERT_OK(mb_gguf_writer_new(&w, &err), &err);
    llama_keys(w, &BASE, NL);
    tokenizer_keys(w);
    rng = 0x2545f4914f6cdd1dull;
    f->embd = add(f, w, "token_embd.weight", VOCAB, D, 1.0, 0);
    for (unsigned l = 0; l < NL; l++)
        add_layer(f, w, l, &BASE, &f->L[l]);
    f->out_norm = add(f, w, "output_norm.weight", 1, D, 0.3, 1.0);
    write_file(w, f->full);
    write_wide(f, f->wide, false, D);

    /* split: a/ (general) and b/ (the same split, general under id general2) */
    struct mb_pack_import_opts o;
    mb_pack_import_opts_init(&o);
    char a[560], b[560];
    snprintf(a, sizeof(a), "%s/a", f->dir);
    snprintf(b, sizeof(b), "%s/b", f->dir);
    o.model = f->full;
    o.n_understanding = 2;
    o.n_fusion = 1;
    o.out_dir = a;
    o.force = true;
    struct mb_pack_import_result r;
    MB_ASSERT_OK(mb_pack_import(&o, NULL, &r, &err), &err);
    assert_string_equal(r.base_id, "tiny-test");
    o.out_dir = b;
    o.general_id = "general2";
    MB_ASSERT_OK(mb_pack_import(&o, NULL, &r, &err), &err);
    snprintf(f->base, sizeof(f->base), "%s/base", a);
    snprintf(f->general, sizeof(f->general), "%s/general", a);
    snprintf(f->general2, sizeof(f->general2), "%s/general", b);
    *state = f;
    return 0;
}

static void free_layer(struct layer *L)
{
    double *all[] = { L->attn_norm, L->q, L->k, L->v, L->o, L->ffn_norm, L->gate, L->up, L->down };
    for (size_t i = 0; i < MB_ARRAY_LEN(all); i++)
        mb_free(all[i]);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    for (unsigned l = 0; l < NL; l++)
        free_layer(&f->L[l]);
    for (unsigned l = 0; l < 2; l++)
        free_layer(&f->W[l]);
    mb_free(f->embd);
    mb_free(f->out_norm);
    mb_free(f->a_in);
    mb_free(f->a_out);
    for (size_t i = 0; i < f->n_keep; i++)
        mb_free(f->keep[i]);
    mb_free(f);
    return 0;
}

/* ------------------------------------------------------------ float64 reference */

static void rmsnorm(const double *x, const double *w, size_t n, double *y)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i] * x[i];
    double r = 1.0 / sqrt(s / (double)n + 1e-5);
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] * r * w[i];
}

/* y = W x (W: rows x cols) */
static void matvec(const double *W, const double *x, size_t rows, size_t cols, double *y)
{
    for (size_t r = 0; r < rows; r++) {
        double s = 0;
        for (size_t k = 0; k < cols; k++)
            s += W[r * cols + k] * x[k];
        y[r] = s;
    }
}

static void rope(double *x, size_t n_head, size_t hd, size_t pos)
{
    for (size_t h = 0; h < n_head; h++)
        for (size_t i = 0; i < hd / 2; i++) {
            double th = (double)pos * pow(10000.0, -2.0 * (double)i / (double)hd);
            double *v = x + h * hd + 2 * i, x0 = v[0], x1 = v[1];
            v[0] = x0 * cos(th) - x1 * sin(th);
            v[1] = x0 * sin(th) + x1 * cos(th);
        }
}

/* One llama block over n positions (rows of X, from position 0), in place. */
static void block(const struct layer *L, const struct shape *s, double *X, size_t n)
{
    const size_t d = s->d, hd = d / s->n_head, dkv = s->n_head_kv * hd, ff = s->ff;
    double *Q = mb_calloc(n * d, 8), *K = mb_calloc(n * dkv, 8), *V = mb_calloc(n * dkv, 8);
    double *xn = mb_calloc(d, 8), *att = mb_calloc(d, 8), *o = mb_calloc(d, 8),
           *g = mb_calloc(ff, 8), *u = mb_calloc(ff, 8), *sc = mb_calloc(n, 8);
    assert_true(Q && K && V && xn && att && o && g && u && sc);
    for (size_t p = 0; p < n; p++) {
        rmsnorm(X + p * d, L->attn_norm, d, xn);
        matvec(L->q, xn, d, d, Q + p * d);
        matvec(L->k, xn, dkv, d, K + p * dkv);
        matvec(L->v, xn, dkv, d, V + p * dkv);
        rope(Q + p * d, s->n_head, hd, p);
        rope(K + p * dkv, s->n_head_kv, hd, p);
    }
    for (size_t p = 0; p < n; p++) {
        for (size_t h = 0; h < s->n_head; h++) {
            size_t kh = h / (s->n_head / s->n_head_kv);
            double mx = -INFINITY, sum = 0;
            for (size_t j = 0; j <= p; j++) {
                double dot = 0;
                for (size_t i = 0; i < hd; i++)
                    dot += Q[p * d + h * hd + i] * K[j * dkv + kh * hd + i];
                sc[j] = dot / sqrt((double)hd);
                mx = fmax(mx, sc[j]);
            }
            for (size_t j = 0; j <= p; j++)
                sum += (sc[j] = exp(sc[j] - mx));
            for (size_t i = 0; i < hd; i++) {
                double acc = 0;
                for (size_t j = 0; j <= p; j++)
                    acc += sc[j] / sum * V[j * dkv + kh * hd + i];
                att[h * hd + i] = acc;
            }
        }
        double *x = X + p * d;
        matvec(L->o, att, d, d, o);
        for (size_t i = 0; i < d; i++)
            x[i] += o[i];
        rmsnorm(x, L->ffn_norm, d, xn);
        matvec(L->gate, xn, ff, d, g);
        matvec(L->up, xn, ff, d, u);
        for (size_t i = 0; i < ff; i++)
            g[i] = g[i] / (1.0 + exp(-g[i])) * u[i];
        matvec(L->down, g, d, ff, o);
        for (size_t i = 0; i < d; i++)
            x[i] += o[i];
    }
    double *all[] = { Q, K, V, xn, att, o, g, u, sc };
    for (size_t i = 0; i < MB_ARRAY_LEN(all); i++)
        mb_free(all[i]);
}

/* The wide pack over n rows of h_u: adapter_in, its 2 blocks, adapter_out, into Y (n x D). */
static void ref_wide(const struct fixture *f, const double *HU, size_t n, double *Y)
{
    double *X = mb_calloc(n * PW, 8);
    assert_non_null(X);
    for (size_t p = 0; p < n; p++)
        matvec(f->a_in, HU + p * D, PW, D, X + p * PW);
    for (unsigned l = 0; l < 2; l++)
        block(&f->W[l], &WIDE, X, n);
    for (size_t p = 0; p < n; p++)
        matvec(f->a_out, X + p * PW, D, PW, Y + p * D);
    mb_free(X);
}

/*
 * Logits (n x VOCAB) of the modular model where position p uses weights
 * w[p >= switch_at][0..2] on (general, general2, wide).
 */
static double *ref_modular(const struct fixture *f, const int32_t *ids, size_t n,
                           const double w[2][3], size_t switch_at)
{
    double *HU = mb_calloc(n * D, 8), *G = mb_calloc(n * D, 8), *Wd = mb_calloc(n * D, 8),
           *H = mb_calloc(n * D, 8), *xn = mb_calloc(D, 8), *logits = mb_calloc(n * VOCAB, 8);
    assert_true(HU && G && Wd && H && xn && logits);
    for (size_t p = 0; p < n; p++)
        memcpy(HU + p * D, f->embd + (size_t)ids[p] * D, D * 8);
    for (unsigned l = 0; l < 2; l++)
        block(&f->L[l], &BASE, HU, n);
    memcpy(G, HU, n * D * 8);
    for (unsigned l = 2; l < 4; l++)
        block(&f->L[l], &BASE, G, n); /* general = general2 = blocks 2, 3 */
    ref_wide(f, HU, n, Wd);
    for (size_t p = 0; p < n; p++) {
        const double *wp = w[p >= switch_at];
        for (size_t i = 0; i < D; i++)
            H[p * D + i] = (wp[0] + wp[1]) * G[p * D + i] + wp[2] * Wd[p * D + i];
    }
    block(&f->L[4], &BASE, H, n);
    for (size_t p = 0; p < n; p++) {
        rmsnorm(H + p * D, f->out_norm, D, xn);
        matvec(f->embd, xn, VOCAB, D, logits + p * VOCAB); /* tied head */
    }
    double *all[] = { HU, G, Wd, H, xn };
    for (size_t i = 0; i < MB_ARRAY_LEN(all); i++)
        mb_free(all[i]);
    return logits;
}

/* ------------------------------------------------------------ tests */

static const int32_t IDS[] = { 5, 17, 63, 0, 42, 42, 9, 31, 2, 60, 11, 7 };
#define N MB_ARRAY_LEN(IDS)

static struct mb_backend *cpu(void)
{
    struct mb_backend *be;
    struct mb_cpu_opts o = { 0 };
    o.n_threads = 2;
    struct mb_err err;
    MB_ASSERT_OK(mb_backend_cpu_new(&o, &be, &err), &err);
    return be;
}

struct rig {
    struct mb_backend *be;
    struct mb_base *base;
    struct mb_data_pack *p[3];
    struct mb_modular *m;
};

static void rig_open(struct fixture *f, struct rig *r, size_t n_batch)
{
    struct mb_err err;
    r->be = cpu();
    MB_ASSERT_OK(mb_base_open(f->base, r->be, &r->base, &err), &err);
    assert_int_equal(r->base->n_understanding, 2);
    assert_int_equal(r->base->n_fusion, 1);
    MB_ASSERT_OK(mb_data_pack_open(f->general, r->base, r->be, &r->p[0], &err), &err);
    MB_ASSERT_OK(mb_data_pack_open(f->general2, r->base, r->be, &r->p[1], &err), &err);
    MB_ASSERT_OK(mb_data_pack_open(f->wide, r->base, r->be, &r->p[2], &err), &err);
    assert_string_equal(r->p[1]->id, "general2");
    assert_int_equal(r->p[2]->width, PW);
    struct mb_session_opts so;
    mb_session_opts_init(&so);
    so.n_ctx = 64;
    so.n_batch = n_batch;
    so.kv_type = MB_DTYPE_F32;
    MB_ASSERT_OK(mb_modular_new(r->base, &so, &r->m, &err), &err);
}

static void rig_close(struct rig *r)
{
    mb_modular_free(r->m);
    for (int i = 0; i < 3; i++)
        mb_data_pack_free(r->p[i]);
    mb_base_free(r->base);
    mb_backend_free(r->be);
}

static double max_diff(const float *a, const double *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* Weight 1 on the general pack: the unsplit model's logits, bit for bit. */
static void test_split_exact(void **state)
{
    struct fixture *f = *state;
    struct rig r;
    rig_open(f, &r, 5);
    struct mb_err err;
    float w1 = 1.0f;
    MB_ASSERT_OK(mb_modular_select(r.m, &r.p[0], &w1, 1, &err), &err);
    float *ours = mb_calloc(N * VOCAB, sizeof(float)), *full = mb_calloc(N * VOCAB, sizeof(float));
    assert_true(ours && full);
    MB_ASSERT_OK(mb_session_eval(mb_modular_session(r.m), IDS, N, ours, &err), &err);

    struct mb_model *model;
    MB_ASSERT_OK(mb_model_load(f->full, r.be, &model, &err), &err);
    struct mb_session_opts so;
    mb_session_opts_init(&so);
    so.n_ctx = 64;
    so.n_batch = 5;
    so.kv_type = MB_DTYPE_F32;
    struct mb_session *s;
    MB_ASSERT_OK(mb_session_new(model, &so, &s, &err), &err);
    MB_ASSERT_OK(mb_session_eval(s, IDS, N, full, &err), &err);
    assert_memory_equal(ours, full, N * VOCAB * sizeof(float));

    /* and against the float64 reference */
    const double w[2][3] = { { 1, 0, 0 }, { 1, 0, 0 } };
    double *ref = ref_modular(f, IDS, N, w, N);
    double dmax = max_diff(ours, ref, N * VOCAB);
    print_message("split vs float64 reference: max |diff| %.2e\n", dmax);
    assert_true(dmax < 1e-4);
    mb_free(ref);
    mb_session_free(s);
    mb_model_free(model);
    mb_free(ours);
    mb_free(full);
    rig_close(&r);
}

/* Three packs (general, its copy, the wide pack with adapters), weighted. */
static void test_fusion_three_packs(void **state)
{
    struct fixture *f = *state;
    struct rig r;
    rig_open(f, &r, 4); /* prompt in chunks of 4: the pack caches see several chunks */
    struct mb_err err;
    const float w[3] = { 0.5f, 0.3f, 0.2f };
    MB_ASSERT_OK(mb_modular_select(r.m, r.p, w, 3, &err), &err);
    float *ours = mb_calloc(N * VOCAB, sizeof(float));
    assert_non_null(ours);
    MB_ASSERT_OK(mb_session_eval(mb_modular_session(r.m), IDS, N, ours, &err), &err);
    const double wd[2][3] = { { 0.5, 0.3, 0.2 }, { 0.5, 0.3, 0.2 } };
    double *ref = ref_modular(f, IDS, N, wd, N);
    double dmax = max_diff(ours, ref, N * VOCAB);
    print_message("3-pack fusion vs float64 reference: max |diff| %.2e\n", dmax);
    assert_true(dmax < 1e-4);
    /* a different mixture gives different logits (the test can fail) */
    const double wo[2][3] = { { 1, 0, 0 }, { 1, 0, 0 } };
    double *other = ref_modular(f, IDS, N, wo, N);
    assert_true(max_diff(ours, other, N * VOCAB) > 1e-2);
    mb_free(other);
    mb_free(ref);
    mb_free(ours);
    rig_close(&r);
}

/*
 * The selection changes after 7 tokens: general alone, then general + wide.
 * The wide pack catches up from the stored h_u (7 positions); earlier fusion
 * keys and values are those of the first selection. Decoding one token at a
 * time after the switch.
 */
static void test_late_pack_catches_up(void **state)
{
    struct fixture *f = *state;
    struct rig r;
    rig_open(f, &r, 8);
    struct mb_err err;
    struct mb_session *s = mb_modular_session(r.m);
    const size_t K = 7;
    float w1 = 1.0f;
    MB_ASSERT_OK(mb_modular_select(r.m, &r.p[0], &w1, 1, &err), &err);
    float *ours = mb_calloc(N * VOCAB, sizeof(float));
    assert_non_null(ours);
    MB_ASSERT_OK(mb_session_eval(s, IDS, K, ours, &err), &err);
    struct mb_data_pack *two[2] = { r.p[0], r.p[2] };
    const float w2[2] = { 0.7f, 0.3f };
    MB_ASSERT_OK(mb_modular_select(r.m, two, w2, 2, &err), &err);
    for (size_t i = K; i < N; i++)
        MB_ASSERT_OK(mb_session_eval(s, IDS + i, 1, ours + i * VOCAB, &err), &err);
    assert_int_equal(mb_modular_catchup_count(r.m), K);
    size_t np;
    assert_non_null(mb_modular_hu(r.m, &np));
    assert_int_equal(np, N);
    const double wd[2][3] = { { 1, 0, 0 }, { 0.7, 0, 0.3 } };
    double *ref = ref_modular(f, IDS, N, wd, K);
    double dmax = max_diff(ours, ref, N * VOCAB);
    print_message("late selection vs float64 reference: max |diff| %.2e\n", dmax);
    assert_true(dmax < 1e-4);

    /* truncation (a chat turn re-rendered): positions past 9 forgotten everywhere */
    mb_session_truncate(s, 9);
    mb_modular_hu(r.m, &np);
    assert_int_equal(np, 9);
    MB_ASSERT_OK(mb_session_eval(s, IDS + 9, N - 9, ours + 9 * VOCAB, &err), &err);
    assert_true(max_diff(ours, ref, N * VOCAB) < 1e-4);

    /* forgetting a selected pack drops it from the selection */
    mb_modular_forget(r.m, r.p[2]);
    mb_session_truncate(s, 0);
    MB_ASSERT_OK(mb_session_eval(s, IDS, N, ours, &err), &err);
    const double wg[2][3] = { { 0.7, 0, 0 }, { 0.7, 0, 0 } };
    double *ref2 = ref_modular(f, IDS, N, wg, N);
    assert_true(max_diff(ours, ref2, N * VOCAB) < 1e-4);
    mb_free(ref2);
    mb_free(ref);
    mb_free(ours);
    rig_close(&r);
}

/* Packs that do not fit are refused with a message; bad selections too. */
static void test_errors(void **state)
{
    struct fixture *f = *state;
    struct rig r;
    rig_open(f, &r, 8);
    struct mb_err err;
    struct mb_data_pack *p = NULL;
    write_wide(f, f->narrow, true, D);
    assert_int_equal(mb_data_pack_open(f->narrow, r.base, r.be, &p, &err), MB_E_FORMAT);
    assert_non_null(strstr(err.msg, "adapter_in.weight"));
    write_wide(f, f->narrow, false, 32);
    assert_int_equal(mb_data_pack_open(f->narrow, r.base, r.be, &p, &err), MB_E_FORMAT);
    assert_non_null(strstr(err.msg, "base of width 32"));
    assert_int_equal(mb_data_pack_open(f->base, r.base, r.be, &p, &err), MB_E_FORMAT);
    assert_non_null(strstr(err.msg, "expected \"data\""));
    struct mb_base *b2 = NULL;
    assert_int_equal(mb_base_open(f->general, r.be, &b2, &err), MB_E_FORMAT);
    assert_null(b2);
    float z = 0.0f, nan_w = NAN;
    assert_int_equal(mb_modular_select(r.m, &r.p[0], &z, 1, &err), MB_E_USAGE);
    assert_int_equal(mb_modular_select(r.m, &r.p[0], &nan_w, 1, &err), MB_E_USAGE);
    /* nothing selected: evaluating is an error, not a crash */
    assert_int_equal(mb_session_eval(mb_modular_session(r.m), IDS, 2, NULL, &err), MB_E_STATE);
    assert_null(p);
    rig_close(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_exact),
        cmocka_unit_test(test_fusion_three_packs),
        cmocka_unit_test(test_late_pack_catches_up),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
