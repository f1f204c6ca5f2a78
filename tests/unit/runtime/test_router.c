/*
 * test_router.c - the router's arithmetic (runtime/mb_router.h): softmax,
 * pooling with per-token normalisation, the decision (top-k, threshold, the
 * general pack always eligible, ordering, parameter errors, the printed line),
 * regularised LDA on a synthetic separable set (and its error cases), routing
 * keys in a GGUF, and the fit file round trip with corrupted variants.
 */
#include "mb_test.h"
#include "mb_router.h"

#include <math.h>

/* |a - b| <= eps, in double, with both values in the message. */
#define ASSERT_NEAR(a, b, eps)                                                       \
    do {                                                                             \
        double a_ = (double)(a), b_ = (double)(b);                                   \
        if (!(fabs(a_ - b_) <= (eps)))                                               \
            fail_msg("%s = %.9g, expected %.9g (+- %g)", #a, a_, b_, (double)(eps)); \
    } while (0)

static void test_softmax(void **state)
{
    (void)state;
    float s[3] = { 1.0f, 2.0f, 3.0f }, w[3];
    mb_router_softmax(s, 3, 1.0f, w);
    double z = exp(1) + exp(2) + exp(3);
    ASSERT_NEAR(w[0], exp(1) / z, 1e-6);
    ASSERT_NEAR(w[2], exp(3) / z, 1e-6);
    ASSERT_NEAR(w[0] + w[1] + w[2], 1.0, 1e-6);
    /* Large scores do not overflow; a small tau sharpens. */
    float big[2] = { 1000.0f, 999.0f };
    mb_router_softmax(big, 2, 1.0f, w);
    ASSERT_NEAR(w[0], 1.0 / (1.0 + exp(-1)), 1e-6);
    mb_router_softmax(big, 2, 0.01f, w);
    assert_true(w[0] > 0.9999f && w[1] < 1e-4f);
    /* A huge tau flattens. */
    mb_router_softmax(s, 3, 1e6f, w);
    ASSERT_NEAR(w[0], 1.0 / 3, 1e-5);
}

static void test_normalize_pool(void **state)
{
    (void)state;
    float v[3] = { 3, 4, 0 };
    mb_router_normalize(v, 3);
    ASSERT_NEAR(v[0], 0.6, 1e-7);
    ASSERT_NEAR(v[1], 0.8, 1e-7);
    float zero[2] = { 0, 0 };
    mb_router_normalize(zero, 2);
    assert_true(zero[0] == 0 && zero[1] == 0);
    /* A row with a huge norm does not dominate: each row counts once. */
    float h[3 * 2] = { 1000, 0, 0, 1, 0, 0 }; /* rows: (1000,0), (0,1), (0,0) */
    float out[2];
    mb_router_pool(h, 3, 2, out);
    ASSERT_NEAR(out[0], sqrt(0.5), 1e-6);
    ASSERT_NEAR(out[1], sqrt(0.5), 1e-6);
    /* Keys are the normalised mean of unit vectors. */
    float x[2 * 2] = { 1, 0, 0, 1 };
    mb_router_keys_mean(x, 2, 2, out);
    ASSERT_NEAR(out[0], sqrt(0.5), 1e-6);
    mb_router_pool(h, 0, 2, out);
    assert_true(out[0] == 0 && out[1] == 0);
}

/* Four packs in 2-D: general (no keys), python, cooking, law; unit keys. */
static const float k_python[2] = { 1, 0 };
static const float k_cooking[2] = { 0, 1 };
static const float k_law[4] = { -1, 0, 0.6f, 0.8f }; /* two keys: the best counts */

static void cands_init(struct mb_router_cand c[4])
{
    c[0] = (struct mb_router_cand){ "general", NULL, 0, true };
    c[1] = (struct mb_router_cand){ "python", k_python, 1, false };
    c[2] = (struct mb_router_cand){ "cooking", k_cooking, 1, false };
    c[3] = (struct mb_router_cand){ "law", k_law, 2, false };
}

static void test_route(void **state)
{
    (void)state;
    struct mb_router_cand c[4];
    cands_init(c);
    struct mb_router_params p = { 1.0f, 2, 0.5f };
    struct mb_route_decision d;
    struct mb_err err;
    float q[2] = { 0.8f, 0.6f }; /* python 0.8, cooking 0.6, law max(-0.8, 0.96) = 0.96 */
    MB_ASSERT_OK(mb_router_route(&p, c, 4, q, 2, &d, &err), &err);
    assert_int_equal(d.n, 3); /* top-2 data packs + general */
    assert_int_equal(d.v[0].cand, 3);
    ASSERT_NEAR(d.v[0].sim, 0.96, 1e-6);
    assert_int_equal(d.v[1].cand, 1);
    assert_int_equal(d.v[2].cand, 0); /* general, scored at the threshold */
    ASSERT_NEAR(d.v[2].sim, 0.5, 1e-7);
    assert_int_equal(d.best, 3);
    double z = exp(0.96) + exp(0.8) + exp(0.5);
    ASSERT_NEAR(d.v[0].weight, exp(0.96) / z, 1e-6);
    ASSERT_NEAR(d.v[2].weight, exp(0.5) / z, 1e-6);
    ASSERT_NEAR(d.v[0].weight + d.v[1].weight + d.v[2].weight, 1.0, 1e-6);

    /* Threshold: only law passes. */
    p.threshold = 0.9f;
    MB_ASSERT_OK(mb_router_route(&p, c, 4, q, 2, &d, &err), &err);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.v[0].cand, 3);
    assert_int_equal(d.v[1].cand, 0);
    /* Nothing passes: the general pack alone, weight 1; best still reported. */
    p.threshold = 0.99f;
    MB_ASSERT_OK(mb_router_route(&p, c, 4, q, 2, &d, &err), &err);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.v[0].cand, 0);
    assert_true(d.v[0].weight == 1.0f);
    assert_int_equal(d.best, 3);
    /* top_k 0: general only; top_k 1: the best data pack and general. */
    p.threshold = 0.0f;
    p.top_k = 0;
    MB_ASSERT_OK(mb_router_route(&p, c, 4, q, 2, &d, &err), &err);
    assert_int_equal(d.n, 1);
    p.top_k = 1;
    MB_ASSERT_OK(mb_router_route(&p, c, 4, q, 2, &d, &err), &err);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.v[0].cand, 3);
    /* Without a general candidate, an empty decision is possible. */
    p.threshold = 0.99f;
    MB_ASSERT_OK(mb_router_route(&p, c + 1, 3, q, 2, &d, &err), &err);
    assert_int_equal(d.n, 0);
    /* General with keys is scored by them (here above the data packs). */
    static const float k_gen[2] = { 0.8f, 0.6f };
    c[0].keys = k_gen;
    c[0].n_keys = 1;
    p.threshold = 0.0f;
    p.top_k = 3;
    MB_ASSERT_OK(mb_router_route(&p, c, 4, q, 2, &d, &err), &err);
    assert_int_equal(d.n, 4);
    assert_int_equal(d.v[0].cand, 0);
}

static void test_route_errors(void **state)
{
    (void)state;
    struct mb_router_cand c[4];
    cands_init(c);
    struct mb_route_decision d;
    struct mb_err err;
    float q[2] = { 1, 0 };
    struct mb_router_params p = { 0.0f, 2, 0.5f };
    assert_int_equal(mb_router_route(&p, c, 4, q, 2, &d, &err), MB_E_USAGE);
    assert_non_null(strstr(err.msg, "tau"));
    p.tau = NAN;
    assert_int_equal(mb_router_route(&p, c, 4, q, 2, &d, &err), MB_E_USAGE);
    p.tau = 1;
    p.top_k = MB_ROUTER_MAX_K + 1;
    assert_int_equal(mb_router_route(&p, c, 4, q, 2, &d, &err), MB_E_USAGE);
    p.top_k = 2;
    p.threshold = INFINITY;
    assert_int_equal(mb_router_route(&p, c, 4, q, 2, &d, &err), MB_E_USAGE);
    p.threshold = 0.5f;
    c[2].general = true;
    assert_int_equal(mb_router_route(&p, c, 4, q, 2, &d, &err), MB_E_USAGE);
    assert_non_null(strstr(err.msg, "two general packs"));
    struct mb_router_params def;
    mb_router_params_init(&def);
    assert_true(def.tau == MB_ROUTER_DEFAULT_TAU && def.top_k == MB_ROUTER_DEFAULT_TOP_K);
    mb_router_params_init_fit(&def);
    assert_true(def.threshold == MB_ROUTER_FIT_DEFAULT_THRESHOLD);
}

static void test_format(void **state)
{
    (void)state;
    /* general (with keys) at g, python at s: w_general = 0.71 when (g - s) / tau = ln(.71/.29). */
    float tau = 0.1f, sp = 0.6f, g = sp + tau * (float)log(0.71 / 0.29);
    float kg[2] = { g, sqrtf(1 - g * g) }, kp[2] = { sp, sqrtf(1 - sp * sp) };
    struct mb_router_params p = { tau, 1, 0.5f };
    float q[2] = { 1, 0 };
    struct mb_router_cand only[2] = { { "general", kg, 1, true }, { "python", kp, 1, false } };
    struct mb_route_decision d;
    struct mb_err err;
    MB_ASSERT_OK(mb_router_route(&p, only, 2, q, 2, &d, &err), &err);
    char buf[128];
    mb_route_decision_format(&d, only, buf, sizeof(buf));
    assert_string_equal(buf, "general 0.71, python 0.29");
    /* Truncation keeps the string terminated. */
    char small[10];
    mb_route_decision_format(&d, only, small, sizeof(small));
    assert_int_equal(strlen(small), 9);
    assert_memory_equal(small, "general 0", 9);
    d.n = 0;
    mb_route_decision_format(&d, only, buf, sizeof(buf));
    assert_string_equal(buf, "");
}

/* A tiny deterministic generator (xorshift) for the synthetic data. */
static uint64_t rng_state = 88172645463325252ull;
static double rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0 - 0.5;
}

/*
 * Three classes in 40 dimensions: a large shared component (as in raw h_u),
 * a large nuisance variance on dimensions the classes do not differ in, and a
 * small class signal on three others. Raw cosine nearest-key is poor; LDA must
 * find the signal.
 */
#define SD  40
#define SC  3
#define SPC 30
static void synth(float *x, uint32_t *lab, size_t n_per, double signal)
{
    for (size_t c = 0; c < SC; c++)
        for (size_t i = 0; i < n_per; i++) {
            float *r = x + (c * n_per + i) * SD;
            lab[c * n_per + i] = (uint32_t)c;
            for (size_t j = 0; j < SD; j++)
                r[j] = (float)(5.0 + 0.05 * rnd()); /* shared offset, small noise */
            for (size_t j = 10; j < 20; j++)
                r[j] += (float)(4.0 * rnd()); /* nuisance */
            r[c] += (float)signal;
            mb_router_normalize(r, SD);
        }
}

static double nearest_acc(const float *z, const uint32_t *lab, size_t n, const float *keys,
                          uint32_t dim)
{
    size_t ok = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t best = 0;
        float bs = -3;
        for (uint32_t c = 0; c < SC; c++) {
            struct mb_router_cand cand = { "", keys + c * dim, 1, false };
            float s = mb_router_similarity(&cand, z + i * dim, dim);
            if (s > bs) {
                bs = s;
                best = c;
            }
        }
        ok += best == lab[i];
    }
    return (double)ok / (double)n;
}

static void class_keys(const float *z, const uint32_t *lab, size_t n, uint32_t dim, float *keys)
{
    for (uint32_t c = 0; c < SC; c++) {
        float *k = keys + c * dim;
        memset(k, 0, dim * sizeof(float));
        for (size_t i = 0; i < n; i++)
            if (lab[i] == c)
                for (uint32_t j = 0; j < dim; j++)
                    k[j] += z[i * dim + j];
        mb_router_normalize(k, dim);
    }
}

static void test_lda(void **state)
{
    (void)state;
    static float x[SC * SPC * SD], xt[SC * SPC * SD], z[SC * SPC * SD], keys[SC * SD];
    static uint32_t lab[SC * SPC], labt[SC * SPC];
    size_t n = SC * SPC;
    synth(x, lab, SPC, 0.6);
    synth(xt, labt, SPC, 0.6);
    struct mb_err err;
    struct mb_router_proj p;
    MB_ASSERT_OK(mb_router_fit_lda(x, lab, n, SD, SC, 0.1, &p, &err), &err);
    assert_int_equal(p.in_dim, SD);
    assert_int_equal(p.out_dim, SC - 1);
    /* Raw nearest-key accuracy on held-out data is poor; projected is perfect. */
    class_keys(x, lab, n, SD, keys);
    double raw = nearest_acc(xt, labt, n, keys, SD);
    for (size_t i = 0; i < n; i++)
        mb_router_proj_apply(&p, x + i * SD, z + i * p.out_dim);
    class_keys(z, lab, n, p.out_dim, keys);
    for (size_t i = 0; i < n; i++)
        mb_router_proj_apply(&p, xt + i * SD, z + i * p.out_dim);
    double fit = nearest_acc(z, labt, n, keys, p.out_dim);
    print_message("synthetic: raw %.3f, lda %.3f\n", raw, fit);
    assert_true(raw < 0.8);
    assert_true(fit >= 0.99);
    /* Projected vectors are unit length; the fit is deterministic. */
    double nn = 0;
    for (uint32_t j = 0; j < p.out_dim; j++)
        nn += (double)z[j] * z[j];
    ASSERT_NEAR(nn, 1.0, 1e-5);
    struct mb_router_proj p2;
    MB_ASSERT_OK(mb_router_fit_lda(x, lab, n, SD, SC, 0.1, &p2, &err), &err);
    assert_memory_equal(p.w, p2.w, (size_t)p.out_dim * SD * sizeof(float));
    mb_router_proj_release(&p2);
    mb_router_proj_release(&p);

    /* Errors. */
    assert_int_equal(mb_router_fit_lda(x, lab, n, SD, 1, 0.1, &p, &err), MB_E_USAGE);
    assert_int_equal(mb_router_fit_lda(x, lab, n, SD, SC, 0.0, &p, &err), MB_E_USAGE);
    assert_int_equal(mb_router_fit_lda(x, lab, n, SD, SC, 1.5, &p, &err), MB_E_USAGE);
    assert_int_equal(mb_router_fit_lda(x, lab, n, SD, SC + 1, 0.1, &p, &err), MB_E_USAGE);
    assert_non_null(strstr(err.msg, "no examples"));
    lab[0] = 7;
    assert_int_equal(mb_router_fit_lda(x, lab, n, SD, SC, 0.1, &p, &err), MB_E_USAGE);
    lab[0] = 0;
    /* Identical classes: no discriminant direction. */
    float same[4 * 2] = { 1, 0, 0, 1, 1, 0, 0, 1 };
    uint32_t ls[4] = { 0, 0, 1, 1 };
    assert_int_equal(mb_router_fit_lda(same, ls, 4, 2, 2, 0.5, &p, &err), MB_E_USAGE);
    assert_null(p.w);
}

static void test_keys_gguf(void **state)
{
    (void)state;
    struct mb_err err;
    struct mb_gguf_writer *w;
    MB_ASSERT_OK(mb_gguf_writer_new(&w, &err), &err);
    float k[2 * 3] = { 1, 0, 0, 0, 1, 0 };
    uint64_t dims[2] = { 3, 2 };
    MB_ASSERT_OK(mb_gguf_writer_add_tensor(w, MB_ROUTER_KEYS_TENSOR, MB_DTYPE_F32, 2, dims, k,
                                           sizeof(k), &err),
                 &err);
    struct mb_buf b;
    mb_buf_init(&b, 1 << 20);
    MB_ASSERT_OK(mb_gguf_writer_write_buf(w, &b, &err), &err);
    struct mb_gguf *g;
    MB_ASSERT_OK(mb_gguf_open_memory(&g, b.p, b.n, "keys.gguf", &err), &err);
    float *keys;
    uint32_t nk, dim;
    MB_ASSERT_OK(mb_router_keys_read(g, &keys, &nk, &dim, &err), &err);
    assert_int_equal(nk, 2);
    assert_int_equal(dim, 3);
    assert_memory_equal(keys, k, sizeof(k));
    mb_free(keys);
    mb_gguf_free(g);
    mb_buf_release(&b);

    /* F16 keys and a NaN are rejected; no tensor is MB_E_NOTFOUND. */
    mb_gguf_writer_free(w);
    MB_ASSERT_OK(mb_gguf_writer_new(&w, &err), &err);
    k[4] = NAN;
    MB_ASSERT_OK(mb_gguf_writer_add_tensor(w, MB_ROUTER_KEYS_TENSOR, MB_DTYPE_F32, 2, dims, k,
                                           sizeof(k), &err),
                 &err);
    mb_buf_init(&b, 1 << 20);
    MB_ASSERT_OK(mb_gguf_writer_write_buf(w, &b, &err), &err);
    MB_ASSERT_OK(mb_gguf_open_memory(&g, b.p, b.n, "nan.gguf", &err), &err);
    assert_int_equal(mb_router_keys_read(g, &keys, &nk, &dim, &err), MB_E_FORMAT);
    assert_non_null(strstr(err.msg, "not finite"));
    assert_null(keys);
    mb_gguf_free(g);
    mb_buf_release(&b);
    mb_gguf_writer_free(w);

    MB_ASSERT_OK(mb_gguf_writer_new(&w, &err), &err);
    uint16_t h[3] = { 0, 0, 0 };
    uint64_t d1[1] = { 3 };
    MB_ASSERT_OK(
        mb_gguf_writer_add_tensor(w, MB_ROUTER_KEYS_TENSOR, MB_DTYPE_F16, 1, d1, h, 6, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_add_tensor(w, "other", MB_DTYPE_F16, 1, d1, h, 6, &err), &err);
    mb_buf_init(&b, 1 << 20);
    MB_ASSERT_OK(mb_gguf_writer_write_buf(w, &b, &err), &err);
    MB_ASSERT_OK(mb_gguf_open_memory(&g, b.p, b.n, "f16.gguf", &err), &err);
    assert_int_equal(mb_router_keys_read(g, &keys, &nk, &dim, &err), MB_E_FORMAT);
    assert_non_null(strstr(err.msg, "f16.gguf"));
    mb_gguf_free(g);
    mb_buf_release(&b);
    mb_gguf_writer_free(w);
}

static char *dup(const char *s)
{
    char *p = mb_strdup(s);
    assert_non_null(p);
    return p;
}

static void make_fit(struct mb_router_fit *f)
{
    memset(f, 0, sizeof(*f));
    f->proj.in_dim = 3;
    f->proj.out_dim = 2;
    f->proj.w = mb_calloc(6, sizeof(float));
    f->proj.mu = mb_calloc(3, sizeof(float));
    f->keys = mb_calloc(4, sizeof(float));
    f->ids = mb_calloc(2, sizeof(char *));
    f->versions = mb_calloc(2, sizeof(char *));
    assert_true(f->proj.w && f->proj.mu && f->keys && f->ids && f->versions);
    for (int i = 0; i < 6; i++)
        f->proj.w[i] = (float)i * 0.5f;
    f->proj.mu[1] = 0.25f;
    f->keys[0] = 1;
    f->keys[3] = 1;
    f->n_packs = 2;
    f->ids[0] = dup("cooking");
    f->ids[1] = dup("python");
    f->versions[0] = dup("1.0.0");
    f->versions[1] = dup("2.1.0");
    f->base_id = dup("smollm2-135m");
    f->base_version = dup("1.0.0");
    f->n_understanding = 4;
    f->shrinkage = 0.5f;
    mb_router_params_init_fit(&f->params);
}

static void test_fit_file(void **state)
{
    (void)state;
    struct mb_err err;
    struct mb_router_fit f, g;
    make_fit(&f);
    const char *path = mb_test_tmp_path("fit.gguf");
    MB_ASSERT_OK(mb_router_fit_write(&f, path, &err), &err);
    MB_ASSERT_OK(mb_router_fit_read(path, &g, &err), &err);
    assert_int_equal(g.n_packs, 2);
    assert_string_equal(g.ids[1], "python");
    assert_string_equal(g.versions[1], "2.1.0");
    assert_string_equal(g.base_id, "smollm2-135m");
    assert_int_equal(g.n_understanding, 4);
    assert_int_equal(g.proj.in_dim, 3);
    assert_int_equal(g.proj.out_dim, 2);
    assert_memory_equal(g.proj.w, f.proj.w, 6 * sizeof(float));
    assert_memory_equal(g.proj.mu, f.proj.mu, 3 * sizeof(float));
    assert_memory_equal(g.keys, f.keys, 4 * sizeof(float));
    assert_true(g.params.tau == f.params.tau && g.params.top_k == f.params.top_k);
    assert_int_equal(mb_router_fit_find(&g, "python"), 1);
    assert_true(mb_router_fit_find(&g, "law") == SIZE_MAX);
    mb_router_fit_release(&g);

    /* Same contents, same bytes. */
    const char *path2 = mb_test_tmp_path("fit2.gguf");
    MB_ASSERT_OK(mb_router_fit_write(&f, path2, &err), &err);
    struct mb_buf a, b;
    mb_buf_init(&a, 1 << 20);
    mb_buf_init(&b, 1 << 20);
    MB_ASSERT_OK(mb_file_read_all(path, 1 << 20, &a, &err), &err);
    MB_ASSERT_OK(mb_file_read_all(path2, 1 << 20, &b, &err), &err);
    assert_int_equal(a.n, b.n);
    assert_memory_equal(a.p, b.p, a.n);

    /* Every truncation fails cleanly (no crash, no leak). */
    const char *cut = mb_test_tmp_path("cut.gguf");
    for (size_t n = 0; n < a.n; n += 37) {
        mb_test_write_file(cut, a.p, n);
        assert_true(mb_router_fit_read(cut, &g, &err) < 0);
    }
    /* Mismatched counts: more versions than packs. */
    mb_free(f.versions[1]);
    mb_free(f.ids[1]);
    f.ids[1] = NULL;
    f.versions[1] = NULL;
    f.n_packs = 1; /* keys tensor now says 1 pack, write versions for 1 too */
    MB_ASSERT_OK(mb_router_fit_write(&f, path2, &err), &err);
    MB_ASSERT_OK(mb_router_fit_read(path2, &g, &err), &err);
    assert_int_equal(g.n_packs, 1);
    mb_router_fit_release(&g);
    /* A NaN in the projection is rejected. */
    f.proj.w[2] = NAN;
    MB_ASSERT_OK(mb_router_fit_write(&f, path2, &err), &err);
    assert_int_equal(mb_router_fit_read(path2, &g, &err), MB_E_FORMAT);
    assert_non_null(strstr(err.msg, "not finite"));
    f.n_packs = 2;
    mb_buf_release(&a);
    mb_buf_release(&b);
    mb_router_fit_release(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax),   cmocka_unit_test(test_normalize_pool),
        cmocka_unit_test(test_route),     cmocka_unit_test(test_route_errors),
        cmocka_unit_test(test_format),    cmocka_unit_test(test_lda),
        cmocka_unit_test(test_keys_gguf), cmocka_unit_test(test_fit_file),

    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
