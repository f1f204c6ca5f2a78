/*
 * test_quant.c - the quantization policy and writer (runtime/mb_quant.h) on
 * GGUF files built in memory:
 *  - roles and types: matrices, norms, routing keys, adapters (F16, kept when
 *    already quantized), untied and tied embeddings and the head rule, --pure;
 *  - llama.cpp's fallbacks (576-wide rows: q4_K -> q5_0, q6_K -> q8_0; rows
 *    that 32 does not divide -> f16) and its Q4_K_M mix (use_more_bits over
 *    attn_v and ffn_down, in layer order);
 *  - re-quantization marked and refused unless allowed; explicit float types
 *    dequantize; unknown policy types and unreadable sources refused;
 *  - the written file: every converted tensor equals mb_quantize_row() of the
 *    source (across slab and write-chunk boundaries, mid-row), copies are
 *    verbatim, KVs copied plus general.file_type and the requested strings,
 *    the same bytes with 1 or 3 threads, error statistics, and a NaN row
 *    refused by name and row with no file left behind.
 */
#include "mb_test.h"
#include "mb_kernels.h"
#include "mb_runtime.h"

#include <math.h>

static struct mb_err err;
static uint64_t rng = 88172645463325252ull;

static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* One tensor of a test file. */
struct tspec {
    const char *name;
    uint32_t type; /* F32, F16 or a quantized type (filled by quantizing random data) */
    uint32_t n_dims;
    uint64_t d0, d1;
};

/* Files built here keep their tensor data alive until the test frees them. */
struct built {
    struct mb_buf file;
    void *data[64];
    size_t n;
    struct mb_gguf *g;
};

static void build(struct built *b, const struct tspec *ts, size_t n, const char *extra_key)
{
    memset(b, 0, sizeof(*b));
    struct mb_gguf_writer *w = NULL;
    mb_err_init(&err);
    MB_ASSERT_OK(mb_gguf_writer_new(&w, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_string(w, "general.architecture", "llama", &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_u32(w, "general.file_type", 0, &err), &err);
    if (extra_key)
        MB_ASSERT_OK(mb_gguf_writer_set_string(w, extra_key, "old", &err), &err);
    for (size_t i = 0; i < n; i++) {
        uint64_t ne = ts[i].d0 * (ts[i].n_dims > 1 ? ts[i].d1 : 1), bytes;
        assert_true(mb_dtype_row_size(ts[i].type, ne, &bytes));
        float *x = mb_malloc(ne * sizeof(float));
        for (uint64_t k = 0; k < ne; k++)
            x[k] = frand() * 0.1f;
        void *d = mb_malloc(bytes ? bytes : 1);
        if (ts[i].type == MB_DTYPE_Q2_K)
            memset(d, 0, bytes);
        else
            assert_true(mb_quantize_row(ts[i].type, x, d, ne));
        mb_free(x);
        b->data[b->n++] = d;
        uint64_t dims[2] = { ts[i].d0, ts[i].d1 };
        MB_ASSERT_OK(mb_gguf_writer_add_tensor(w, ts[i].name, ts[i].type, ts[i].n_dims, dims, d,
                                               bytes, &err),
                     &err);
    }
    mb_buf_init(&b->file, (size_t)1 << 30);
    MB_ASSERT_OK(mb_gguf_writer_write_buf(w, &b->file, &err), &err);
    mb_gguf_writer_free(w);
    MB_ASSERT_OK(mb_gguf_open_memory(&b->g, b->file.p, b->file.n, "t.gguf", &err), &err);
}

static void built_free(struct built *b)
{
    mb_gguf_free(b->g);
    for (size_t i = 0; i < b->n; i++)
        mb_free(b->data[i]);
    mb_buf_release(&b->file);
}

static const struct mb_quant_item *item(const struct mb_quant_plan *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->items[i].t->name, name))
            return &p->items[i];
    fail_msg("no tensor '%s' in the plan", name);
    return NULL;
}

static void plan(const struct built *b, const struct mb_quant_policy *p, struct mb_quant_plan *pl)
{
    mb_err_init(&err);
    MB_ASSERT_OK(mb_quant_plan_make(b->g, p, pl, &err), &err);
}

static const struct tspec small_model[] = {
    { "token_embd.weight", MB_DTYPE_F32, 2, 576, 40 },
    { "blk.0.attn_norm.weight", MB_DTYPE_F32, 1, 576, 1 },
    { "blk.0.attn_q.weight", MB_DTYPE_F32, 2, 576, 64 },
    { "blk.0.ffn_down.weight", MB_DTYPE_F16, 2, 512, 24 },
    { "adapter_in.weight", MB_DTYPE_F32, 2, 576, 32 },
    { "routing.keys", MB_DTYPE_F32, 2, 576, 3 },
    { "blk.0.odd.weight", MB_DTYPE_F32, 2, 48, 8 },
};

static void test_roles_and_fallbacks(void **state)
{
    (void)state;
    struct built b;
    build(&b, small_model, MB_ARRAY_LEN(small_model), NULL);
    struct mb_quant_policy p;
    mb_quant_policy_init(&p);
    p.type = MB_DTYPE_Q4_0;
    struct mb_quant_plan pl;
    plan(&b, &p, &pl);
    assert_true(pl.tied_head);
    const struct mb_quant_item *it = item(&pl, "token_embd.weight");
    assert_int_equal(it->role, MB_QUANT_ROLE_HEAD); /* no output.weight: tied */
    assert_int_equal(it->want, MB_DTYPE_Q6_K);      /* llama.cpp's head rule */
    assert_int_equal(it->type, MB_DTYPE_Q8_0);      /* 576 is not a multiple of 256 */
    assert_true(it->fallback);
    it = item(&pl, "blk.0.attn_norm.weight");
    assert_int_equal(it->role, MB_QUANT_ROLE_VECTOR);
    assert_int_equal(it->type, MB_DTYPE_F32);
    it = item(&pl, "blk.0.attn_q.weight");
    assert_int_equal(it->role, MB_QUANT_ROLE_MATRIX);
    assert_int_equal(it->type, MB_DTYPE_Q4_0);
    assert_false(it->fallback);
    assert_int_equal(item(&pl, "blk.0.ffn_down.weight")->type, MB_DTYPE_Q4_0);
    it = item(&pl, "adapter_in.weight");
    assert_int_equal(it->role, MB_QUANT_ROLE_ADAPTER);
    assert_int_equal(it->type, MB_DTYPE_F16);
    it = item(&pl, "routing.keys");
    assert_int_equal(it->role, MB_QUANT_ROLE_OTHER);
    assert_int_equal(it->type, MB_DTYPE_F32);
    it = item(&pl, "blk.0.odd.weight"); /* 48: not a multiple of 32 */
    assert_int_equal(it->type, MB_DTYPE_F16);
    assert_true(it->fallback);
    assert_int_equal(pl.n_convert, 5);
    assert_int_equal(pl.n_fallback, 2);
    assert_int_equal(pl.n_requant, 0);
    mb_quant_plan_release(&pl);

    /* q4_k: 576-wide rows fall back to q5_0, 512-wide ones stay q4_K */
    p.type = MB_DTYPE_Q4_K;
    p.pure = true;
    plan(&b, &p, &pl);
    assert_int_equal(item(&pl, "blk.0.attn_q.weight")->type, MB_DTYPE_Q5_0);
    assert_int_equal(item(&pl, "blk.0.ffn_down.weight")->type, MB_DTYPE_Q4_K);
    /* pure: the head gets the type too (and falls back like any matrix) */
    assert_int_equal(item(&pl, "token_embd.weight")->want, MB_DTYPE_Q4_K);
    assert_int_equal(item(&pl, "token_embd.weight")->type, MB_DTYPE_Q5_0);
    assert_int_equal(mb_quant_file_type(&p), 14);
    mb_quant_plan_release(&pl);

    /* q8_0: the head stays q8_0; flags override the embedding and adapters */
    mb_quant_policy_init(&p);
    p.type = MB_DTYPE_Q8_0;
    p.embd_type = MB_DTYPE_F16;
    p.adapter_type = MB_DTYPE_Q8_0;
    plan(&b, &p, &pl);
    assert_int_equal(item(&pl, "token_embd.weight")->type, MB_DTYPE_F16); /* --embeddings */
    assert_int_equal(item(&pl, "adapter_in.weight")->type, MB_DTYPE_Q8_0);
    assert_int_equal(mb_quant_file_type(&p), 7);
    mb_quant_plan_release(&pl);
    built_free(&b);
}

static void test_untied_head(void **state)
{
    (void)state;
    static const struct tspec ts[] = {
        { "token_embd.weight", MB_DTYPE_F32, 2, 512, 40 },
        { "output.weight", MB_DTYPE_F32, 2, 512, 40 },
        { "blk.0.attn_q.weight", MB_DTYPE_F32, 2, 512, 64 },
    };
    struct built b;
    build(&b, ts, MB_ARRAY_LEN(ts), NULL);
    struct mb_quant_policy p;
    mb_quant_policy_init(&p);
    p.type = MB_DTYPE_Q4_1;
    struct mb_quant_plan pl;
    plan(&b, &p, &pl);
    assert_false(pl.tied_head);
    assert_int_equal(item(&pl, "token_embd.weight")->role, MB_QUANT_ROLE_EMBEDDING);
    assert_int_equal(item(&pl, "token_embd.weight")->type, MB_DTYPE_Q4_1);
    assert_int_equal(item(&pl, "output.weight")->role, MB_QUANT_ROLE_HEAD);
    assert_int_equal(item(&pl, "output.weight")->type, MB_DTYPE_Q6_K); /* 512 divides */
    mb_quant_plan_release(&pl);
    p.head_type = MB_DTYPE_Q8_0;
    plan(&b, &p, &pl);
    assert_int_equal(item(&pl, "output.weight")->type, MB_DTYPE_Q8_0);
    mb_quant_plan_release(&pl);
    p.type = MB_DTYPE_F16; /* float types: the head follows the type */
    p.head_type = MB_QUANT_TYPE_DEFAULT;
    plan(&b, &p, &pl);
    assert_int_equal(item(&pl, "output.weight")->type, MB_DTYPE_F16);
    mb_quant_plan_release(&pl);
    built_free(&b);
}

static void test_q4_k_mix(void **state)
{
    (void)state;
    /* 8 layers, listed out of order (blk.10 sorts before blk.2 as text) */
    static const char *const layers[] = { "0", "1", "10", "2", "3", "4", "5", "6" };
    struct tspec ts[16];
    char names[16][40];
    for (int i = 0; i < 8; i++) {
        snprintf(names[2 * i], 40, "blk.%s.attn_v.weight", layers[i]);
        snprintf(names[2 * i + 1], 40, "blk.%s.ffn_down.weight", layers[i]);
        ts[2 * i] = (struct tspec){ names[2 * i], MB_DTYPE_F32, 2, 256, 8 };
        ts[2 * i + 1] = (struct tspec){ names[2 * i + 1], MB_DTYPE_F32, 2, 512, 8 };
    }
    struct built b;
    build(&b, ts, 16, NULL);
    struct mb_quant_policy p;
    mb_quant_policy_init(&p);
    p.type = MB_DTYPE_Q4_K;
    struct mb_quant_plan pl;
    plan(&b, &p, &pl);
    /* ranks by layer number: 0,1,2,3,4,5,6,10; use_more_bits(i, 8): i = 0, 3, 6, 7 */
    static const char *const more[] = { "0", "3", "6", "10" };
    for (int i = 0; i < 8; i++) {
        bool want_more = false;
        for (size_t k = 0; k < MB_ARRAY_LEN(more); k++)
            want_more |= !strcmp(layers[i], more[k]);
        for (int c = 0; c < 2; c++) {
            const struct mb_quant_item *it = item(&pl, names[2 * i + c]);
            assert_int_equal(it->type, want_more ? MB_DTYPE_Q6_K : MB_DTYPE_Q4_K);
            assert_int_equal(it->mixed, want_more);
        }
    }
    assert_int_equal(mb_quant_file_type(&p), 15);
    mb_quant_plan_release(&pl);
    built_free(&b);
}

static void test_requant_and_widening(void **state)
{
    (void)state;
    static const struct tspec ts[] = {
        { "blk.0.attn_q.weight", MB_DTYPE_Q8_0, 2, 256, 16 },
        { "adapter_out.weight", MB_DTYPE_Q8_0, 2, 256, 16 },
        { "blk.0.attn_k.weight", MB_DTYPE_F16, 2, 256, 16 },
    };
    struct built b;
    build(&b, ts, MB_ARRAY_LEN(ts), NULL);
    struct mb_quant_policy p;
    mb_quant_policy_init(&p);
    p.type = MB_DTYPE_Q4_0;
    struct mb_quant_plan pl;
    plan(&b, &p, &pl);
    assert_true(item(&pl, "blk.0.attn_q.weight")->requant);
    assert_false(item(&pl, "blk.0.attn_k.weight")->requant);
    const struct mb_quant_item *ad = item(&pl, "adapter_out.weight");
    assert_true(ad->kept_wide); /* the default f16 would only widen it */
    assert_int_equal(ad->type, MB_DTYPE_Q8_0);
    assert_int_equal(pl.n_requant, 1);
    const char *out = mb_test_tmp_path("requant.gguf");
    mb_err_init(&err);
    assert_int_equal(mb_quant_write_file(b.g, &pl, &p, NULL, out, &err), MB_E_STATE);
    assert_non_null(strstr(err.msg, "'blk.0.attn_q.weight' is already q8_0"));
    assert_false(mb_path_exists(out));
    p.allow_requantize = true;
    MB_ASSERT_OK(mb_quant_write_file(b.g, &pl, &p, NULL, out, &err), &err);
    assert_true(mb_path_exists(out));
    mb_quant_plan_release(&pl);

    /* explicit f16: dequantizes, which is not a re-quantization */
    mb_quant_policy_init(&p);
    p.type = MB_DTYPE_F16;
    p.adapter_type = MB_DTYPE_F16;
    plan(&b, &p, &pl);
    assert_int_equal(item(&pl, "blk.0.attn_q.weight")->type, MB_DTYPE_F16);
    assert_int_equal(item(&pl, "adapter_out.weight")->type, MB_DTYPE_F16);
    assert_int_equal(pl.n_requant, 0);
    assert_int_equal(pl.n_convert, 2);
    mb_quant_plan_release(&pl);
    built_free(&b);
}

static void test_refusals(void **state)
{
    (void)state;
    static const struct tspec ts[] = {
        { "blk.0.attn_q.weight", MB_DTYPE_Q2_K, 2, 256, 2 },
    };
    struct built b;
    build(&b, ts, MB_ARRAY_LEN(ts), NULL);
    struct mb_quant_policy p;
    mb_quant_policy_init(&p);
    struct mb_quant_plan pl;
    p.type = MB_DTYPE_Q5_K; /* read, but not written */
    assert_int_equal(mb_quant_plan_make(b.g, &p, &pl, &err), MB_E_USAGE);
    p.type = MB_DTYPE_Q8_0;
    p.head_type = 999;
    assert_int_equal(mb_quant_plan_make(b.g, &p, &pl, &err), MB_E_USAGE);
    p.head_type = MB_QUANT_TYPE_DEFAULT;
    assert_int_equal(mb_quant_plan_make(b.g, &p, &pl, &err), MB_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "'blk.0.attn_q.weight' has type q2_K"));
    p.type = MB_DTYPE_Q2_K;
    assert_int_equal(mb_quant_plan_make(b.g, &p, &pl, &err), MB_E_USAGE);
    built_free(&b);
}

/* Open a GGUF file (asserting). */
static struct mb_gguf *open_file(const char *path)
{
    struct mb_gguf *g = NULL;
    MB_ASSERT_OK(mb_gguf_open(&g, path, &err), &err);
    return g;
}

static void test_write(void **state)
{
    (void)state;
    /* a big tensor: 10 MB of q8_0 output in 612-byte rows, so slabs (8 MiB) and the
     * writer's 4 MiB chunks both end in the middle of rows */
    static const struct tspec ts[] = {
        { "blk.0.ffn_up.weight", MB_DTYPE_F16, 2, 576, 16384 },
        { "blk.0.ffn_norm.weight", MB_DTYPE_F32, 1, 576, 1 },
        { "blk.0.attn_q.weight", MB_DTYPE_F32, 2, 576, 100 },
        { "output.weight", MB_DTYPE_F32, 2, 512, 33 },
    };
    struct built b;
    build(&b, ts, MB_ARRAY_LEN(ts), "modularbase.pack.version");
    struct mb_quant_policy p;
    mb_quant_policy_init(&p);
    p.type = MB_DTYPE_Q8_0;
    p.head_type = MB_DTYPE_Q6_K;
    struct mb_quant_plan pl;
    plan(&b, &p, &pl);
    struct mb_quant_stats stats[4];
    const char *set[] = { "modularbase.pack.version", "1.2.0+q8-0", "x.new", "v", NULL };
    struct mb_quant_write_opts o = { 1, NULL, set, stats };
    const char *out1 = mb_test_tmp_path("w1.gguf"), *out3 = mb_test_tmp_path("w3.gguf");
    MB_ASSERT_OK(mb_quant_write_file(b.g, &pl, &p, &o, out1, &err), &err);
    o.n_threads = 3;
    o.stats = NULL;
    MB_ASSERT_OK(mb_quant_write_file(b.g, &pl, &p, &o, out3, &err), &err);

    struct mb_gguf *g1 = open_file(out1), *g3 = open_file(out3);
    assert_int_equal(mb_gguf_size(g1), mb_gguf_size(g3));
    assert_memory_equal(mb_gguf_bytes(g1), mb_gguf_bytes(g3), mb_gguf_size(g1));
    uint32_t ft;
    MB_ASSERT_OK(mb_gguf_get_u32(g1, "general.file_type", &ft, &err), &err);
    assert_int_equal(ft, 7);
    MB_ASSERT_OK(mb_gguf_get_u32(g1, "general.quantization_version", &ft, &err), &err);
    assert_int_equal(ft, 2);
    struct mb_str s;
    MB_ASSERT_OK(mb_gguf_get_str(g1, "modularbase.pack.version", &s, &err), &err);
    assert_true(mb_str_eq_cstr(s, "1.2.0+q8-0"));
    MB_ASSERT_OK(mb_gguf_get_str(g1, "general.architecture", &s, &err), &err);
    assert_true(mb_str_eq_cstr(s, "llama"));
    assert_non_null(mb_gguf_find_kv(g1, "x.new"));
    assert_int_equal(mb_gguf_tensor_count(g1), 4);
    for (size_t i = 0; i < 4; i++) {
        const struct mb_gguf_tensor *src = mb_gguf_tensor_at(b.g, i);
        const struct mb_gguf_tensor *dst = mb_gguf_tensor_at(g1, i);
        assert_string_equal(src->name, dst->name);
        assert_int_equal(dst->type, pl.items[i].type);
        assert_int_equal(dst->nbytes, pl.items[i].nbytes);
        if (dst->type == src->type) {
            assert_memory_equal(dst->data, src->data, src->nbytes);
            assert_int_equal(stats[i].n, 0);
            continue;
        }
        float *x = mb_malloc(src->n_elements * sizeof(float));
        uint8_t *want = mb_malloc(dst->nbytes);
        float *back = mb_malloc(src->n_elements * sizeof(float));
        assert_true(mb_dequantize_row(src->type, src->data, x, src->n_elements));
        assert_true(mb_quantize_row(dst->type, x, want, src->n_elements));
        assert_memory_equal(dst->data, want, dst->nbytes);
        /* the statistics measured while writing */
        assert_true(mb_dequantize_row(dst->type, want, back, src->n_elements));
        double sse = 0, mx = 0;
        for (uint64_t k = 0; k < src->n_elements; k++) {
            double e = (double)x[k] - back[k];
            sse += e * e;
            mx = fmax(mx, fabs(e));
        }
        assert_int_equal(stats[i].n, src->n_elements);
        assert_true(fabs(stats[i].sse - sse) <= 1e-9 * sse + 1e-30);
        assert_true(stats[i].max == mx);
        mb_free(x);
        mb_free(want);
        mb_free(back);
    }
    mb_gguf_free(g1);
    mb_gguf_free(g3);
    mb_quant_plan_release(&pl);
    built_free(&b);
}

static void test_nan_row(void **state)
{
    (void)state;
    static const struct tspec ts[] = {
        { "blk.0.attn_q.weight", MB_DTYPE_F32, 2, 64, 8 },
    };
    struct built b;
    build(&b, ts, MB_ARRAY_LEN(ts), NULL);
    /* poison row 5, element 3, in the reader's view of the (in-memory) file */
    const struct mb_gguf_tensor *t = mb_gguf_tensor_at(b.g, 0);
    float nan = NAN;
    memcpy((uint8_t *)b.file.p + t->file_offset + (5 * 64 + 3) * 4, &nan, 4);
    struct mb_quant_policy p;
    mb_quant_policy_init(&p);
    p.type = MB_DTYPE_Q4_0;
    struct mb_quant_plan pl;
    plan(&b, &p, &pl);
    const char *out = mb_test_tmp_path("nan.gguf");
    assert_int_equal(mb_quant_write_file(b.g, &pl, &p, NULL, out, &err), MB_E_FORMAT);
    assert_non_null(strstr(err.msg, "tensor 'blk.0.attn_q.weight' row 5: element 3 is nan"));
    assert_false(mb_path_exists(out));
    mb_quant_plan_release(&pl);
    built_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roles_and_fallbacks),
        cmocka_unit_test(test_untied_head),
        cmocka_unit_test(test_q4_k_mix),
        cmocka_unit_test(test_requant_and_widening),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_write),
        cmocka_unit_test(test_nan_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
