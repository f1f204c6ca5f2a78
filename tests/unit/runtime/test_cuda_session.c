/*
 * test_cuda_session.c - the model runtime on the CUDA backend against the CPU
 * backend, on small random llama models written with the GGUF writer (Q4_0,
 * Q4_K and Q8_0 blocks, grouped-query attention): prompt logits agree (int8
 * path: to float rounding; cuBLAS prefill: to its f16 error), greedy decoding
 * picks the same tokens (a different pick is allowed only where the CPU's
 * two best logits are within the error of a tie), decode steps replayed from
 * a CUDA graph give bit-for-bit the logits of eager steps, top-k from the
 * device equals top-k of the downloaded logits, and long contexts (split
 * attention) agree too. Exits 77 ("skipped: no CUDA device") without one.
 */
#include "mb_test.h"
#include "mb_runtime.h"

#include <math.h>

#define VOCAB 300
#define EMBD  256
#define HEADS 4
#define KVH   2
#define FF    512
#define LAYER 2

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static float frand(void)
{
    return (float)((double)(rnd() >> 11) / 4503599627370496.0 - 1.0);
}

struct model_file {
    struct mb_buf bytes;
    void *keep[64];
    size_t n_keep;
};

static void *keep(struct model_file *f, size_t n)
{
    void *p = mb_malloc(n);
    assert_non_null(p);
    f->keep[f->n_keep++] = p;
    return p;
}

/* Random blocks of `type` with scales giving an RMS of about `rms`. */
static void add_matrix(struct model_file *f, struct mb_gguf_writer *w, const char *name,
                       uint32_t type, size_t rows, size_t cols, float rms)
{
    struct mb_err err;
    uint64_t rb;
    assert_true(mb_dtype_row_size(type, cols, &rb));
    const size_t n = (size_t)rb * rows;
    uint8_t *p = keep(f, n);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rnd();
    const struct mb_dtype_traits *t = mb_dtype_traits(type);
    for (size_t b = 0; b < n / t->block_size; b++) {
        uint8_t *blk = p + b * t->block_size;
        float d = type == MB_DTYPE_Q8_0   ? rms / 73.9f
                  : type == MB_DTYPE_Q4_0 ? rms / 4.64f
                                          : rms / 150.0f;
        mb_f16 h = mb_f32_to_f16(d * (1.0f + 0.2f * frand()));
        memcpy(blk, &h, 2);
        if (type == MB_DTYPE_Q4_K) { /* dmin */
            mb_f16 m = mb_f32_to_f16(d * 0.5f);
            memcpy(blk + 2, &m, 2);
        }
    }
    uint64_t dims[2] = { cols, rows };
    MB_ASSERT_OK(mb_gguf_writer_add_tensor(w, name, type, 2, dims, p, n, &err), &err);
}

static void add_ones(struct model_file *f, struct mb_gguf_writer *w, const char *name)
{
    struct mb_err err;
    float *v = keep(f, EMBD * sizeof(float));
    for (int i = 0; i < EMBD; i++)
        v[i] = 1.0f + 0.1f * frand();
    uint64_t dims[1] = { EMBD };
    MB_ASSERT_OK(mb_gguf_writer_add_tensor(w, name, MB_DTYPE_F32, 1, dims, v, EMBD * 4, &err),
                 &err);
}

static void model_build(struct model_file *f, uint32_t type)
{
    struct mb_err err;
    memset(f, 0, sizeof(*f));
    struct mb_gguf_writer *w;
    MB_ASSERT_OK(mb_gguf_writer_new(&w, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_string(w, "general.architecture", "llama", &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_u32(w, "llama.block_count", LAYER, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_u32(w, "llama.context_length", 2048, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_u32(w, "llama.embedding_length", EMBD, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_u32(w, "llama.feed_forward_length", FF, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_u32(w, "llama.attention.head_count", HEADS, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_u32(w, "llama.attention.head_count_kv", KVH, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f, &err),
                 &err);
    MB_ASSERT_OK(mb_gguf_writer_set_u32(w, "llama.vocab_size", VOCAB, &err), &err);
    const float rd = 1.0f / sqrtf(EMBD), rf = 1.0f / sqrtf(FF);
    add_matrix(f, w, "token_embd.weight", MB_DTYPE_Q8_0, VOCAB, EMBD, 1.0f);
    add_ones(f, w, "output_norm.weight");
    for (int l = 0; l < LAYER; l++) {
        char n[64];
#define N(what) (mb_snprintf(n, sizeof(n), "blk.%d.%s", l, what), n)
        add_ones(f, w, N("attn_norm.weight"));
        add_matrix(f, w, N("attn_q.weight"), type, EMBD, EMBD, rd);
        add_matrix(f, w, N("attn_k.weight"), type, EMBD / HEADS * KVH, EMBD, rd);
        add_matrix(f, w, N("attn_v.weight"), type, EMBD / HEADS * KVH, EMBD, rd);
        add_matrix(f, w, N("attn_output.weight"), type, EMBD, EMBD, rd);
        add_ones(f, w, N("ffn_norm.weight"));
        add_matrix(f, w, N("ffn_gate.weight"), type, FF, EMBD, rd);
        add_matrix(f, w, N("ffn_up.weight"), type, FF, EMBD, rd);
        add_matrix(f, w, N("ffn_down.weight"), type, EMBD, FF, rf);
#undef N
    }
    mb_buf_init(&f->bytes, (size_t)64 << 20);
    MB_ASSERT_OK(mb_gguf_writer_write_buf(w, &f->bytes, &err), &err);
    mb_gguf_writer_free(w);
}

static void model_file_free(struct model_file *f)
{
    for (size_t i = 0; i < f->n_keep; i++)
        mb_free(f->keep[i]);
    mb_buf_release(&f->bytes);
}

static struct mb_model *load(struct model_file *f, struct mb_backend *be)
{
    struct mb_err err;
    struct mb_gguf *g;
    MB_ASSERT_OK(mb_gguf_open_memory(&g, f->bytes.p, f->bytes.n, "tiny.gguf", &err), &err);
    struct mb_model *m;
    MB_ASSERT_OK(mb_model_load_gguf(g, be, &m, &err), &err);
    return m;
}

static struct mb_session *session(struct mb_model *m, size_t n_ctx)
{
    struct mb_session_opts o;
    mb_session_opts_init(&o);
    o.n_ctx = n_ctx;
    struct mb_session *s;
    struct mb_err err;
    MB_ASSERT_OK(mb_session_new(m, &o, &s, &err), &err);
    return s;
}

static struct mb_backend *cuda(bool graphs)
{
    struct mb_cuda_opts o;
    mb_cuda_opts_init(&o);
    o.no_graphs = !graphs;
    struct mb_backend *be;
    struct mb_err err;
    MB_ASSERT_OK(mb_backend_cuda_new(&o, &be, &err), &err);
    return be;
}

static struct mb_backend *cpu(void)
{
    struct mb_backend *be;
    struct mb_err err;
    MB_ASSERT_OK(mb_backend_cpu_new(NULL, &be, &err), &err);
    return be;
}

static size_t argmax(const float *v, size_t n)
{
    size_t b = 0;
    for (size_t i = 1; i < n; i++)
        if (v[i] > v[b])
            b = i;
    return b;
}

/* max |a - b| / max |a| */
static double rel_diff(const float *a, const float *b, size_t n)
{
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        s = fmax(s, fabs((double)a[i]));
    }
    return d / s;
}

/*
 * Prompt, then `steps` greedy tokens on both sessions. Logits must agree to
 * `tol` (relative to the largest); a different choice is only allowed where
 * the CPU's two candidates are within 4 tol of each other (then the runs
 * diverge and the comparison ends). Returns the steps that matched.
 */
static size_t compare_greedy(struct mb_session *a, struct mb_session *b, const int32_t *prompt,
                             size_t n, size_t steps, double tol, const char *what)
{
    struct mb_err err;
    MB_ASSERT_OK(mb_session_eval(a, prompt, n, NULL, &err), &err);
    MB_ASSERT_OK(mb_session_eval(b, prompt, n, NULL, &err), &err);
    size_t i = 0;
    double worst = 0;
    for (; i < steps; i++) {
        const float *la = mb_session_logits(a), *lb = mb_session_logits(b);
        double r = rel_diff(la, lb, VOCAB);
        worst = fmax(worst, r);
        if (!(r <= tol))
            fail_msg("%s: step %zu: logits differ by %.3g of the largest (bound %.3g)", what, i, r,
                     tol);
        int32_t ta = (int32_t)argmax(la, VOCAB), tb = (int32_t)argmax(lb, VOCAB);
        if (ta != tb) {
            double scale = fabs((double)la[ta]);
            if (fabs((double)la[ta] - la[tb]) > 4 * tol * fmax(scale, 1.0))
                fail_msg("%s: step %zu: token %d vs %d with a margin of %.3g", what, i, ta, tb,
                         (double)(la[ta] - la[tb]));
            print_message("%s: a near-tie at step %zu (%d vs %d): runs diverge\n", what, i, ta, tb);
            break;
        }
        MB_ASSERT_OK(mb_session_eval(a, &ta, 1, NULL, &err), &err);
        MB_ASSERT_OK(mb_session_eval(b, &ta, 1, NULL, &err), &err);
    }
    print_message("%s: %zu of %zu greedy steps identical, logits within %.3g\n", what, i, steps,
                  worst);
    return i;
}

static void prompt_of(int32_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (int32_t)(rnd() % VOCAB);
}

static void test_against_cpu(void **state)
{
    (void)state;
    static const uint32_t types[] = { MB_DTYPE_Q4_0, MB_DTYPE_Q4_K, MB_DTYPE_Q8_0 };
    struct mb_backend *bc = cpu(), *bg = cuda(true);
    for (size_t t = 0; t < MB_ARRAY_LEN(types); t++) {
        struct model_file f;
        model_build(&f, types[t]);
        struct mb_model *mc = load(&f, bc), *mg = load(&f, bg);
        char what[64];
        int32_t prompt[300];
        /* a short prompt: the int8 path everywhere, so float rounding only */
        struct mb_session *sc = session(mc, 256), *sg = session(mg, 256);
        prompt_of(prompt, 11);
        mb_snprintf(what, sizeof(what), "%s short", mb_dtype_name(types[t]));
        assert_true(compare_greedy(sc, sg, prompt, 11, 48, 1e-3, what) >= 1);
        mb_session_free(sc);
        mb_session_free(sg);
        /* a long prompt (cuBLAS prefill, f16) in a larger context (split attention) */
        sc = session(mc, 1024);
        sg = session(mg, 1024);
        prompt_of(prompt, 300);
        mb_snprintf(what, sizeof(what), "%s long", mb_dtype_name(types[t]));
        compare_greedy(sc, sg, prompt, 300, 24, 2e-2, what);
        mb_session_free(sc);
        mb_session_free(sg);
        mb_model_free(mc);
        mb_model_free(mg);
        model_file_free(&f);
    }
    mb_backend_free(bc);
    mb_backend_free(bg);
}

static void test_graphs_and_top(void **state)
{
    (void)state;
    struct mb_err err;
    struct model_file f;
    model_build(&f, MB_DTYPE_Q4_0);
    struct mb_backend *be = cuda(false), *bg = cuda(true);
    struct mb_model *me = load(&f, be), *mg = load(&f, bg), *mt = load(&f, bg);
    struct mb_session *se = session(me, 512), *sg = session(mg, 512), *st = session(mt, 512);
    int32_t prompt[20];
    prompt_of(prompt, 20);
    MB_ASSERT_OK(mb_session_eval(se, prompt, 20, NULL, &err), &err);
    MB_ASSERT_OK(mb_session_eval(sg, prompt, 20, NULL, &err), &err);
    MB_ASSERT_OK(mb_session_eval_top(st, prompt, 20, 40, &err), &err);
    for (int step = 0; step < 40; step++) {
        const float *le = mb_session_logits(se), *lg = mb_session_logits(sg);
        if (memcmp(le, lg, VOCAB * sizeof(float)) != 0)
            fail_msg("step %d: logits from a graph replay differ from eager ones", step);
        /* the device's top-k equals top-k of the same logits */
        const int32_t *ids;
        const float *vals;
        size_t k = mb_session_top(st, &ids, &vals);
        assert_int_equal(k, step % 2 ? 1 : 40);
        float wv[40];
        int32_t wi[40];
        struct mb_topk_args r = { le, VOCAB, k, wv, wi };
        MB_ASSERT_OK(mb_ref_topk(&r, &err), &err);
        for (size_t i = 0; i < k; i++)
            if (ids[i] != wi[i] || vals[i] != wv[i])
                fail_msg("step %d: device candidate %zu is (%d, %g), want (%d, %g)", step, i,
                         ids[i], (double)vals[i], wi[i], (double)wv[i]);
        int32_t next = (int32_t)argmax(le, VOCAB);
        assert_int_equal(next, wi[0]);
        MB_ASSERT_OK(mb_session_eval(se, &next, 1, NULL, &err), &err);
        MB_ASSERT_OK(mb_session_eval(sg, &next, 1, NULL, &err), &err);
        MB_ASSERT_OK(mb_session_eval_top(st, &next, 1, step % 2 ? 40 : 1, &err), &err);
    }
    struct mb_cuda_info ci;
    MB_ASSERT_OK(mb_backend_cuda_info(bg, &ci, &err), &err);
    print_message("graphs: %llu recorded, %llu launches\n", (unsigned long long)ci.graph_captures,
                  (unsigned long long)ci.graph_launches);
    assert_true(ci.graph_captures >= 3 && ci.graph_launches >= 70);
    /* truncation and a new prompt: graphs keep working (positions live on the device) */
    mb_session_truncate(se, 5);
    mb_session_truncate(sg, 5);
    MB_ASSERT_OK(mb_session_eval(se, prompt, 10, NULL, &err), &err);
    MB_ASSERT_OK(mb_session_eval(sg, prompt, 10, NULL, &err), &err);
    for (int step = 0; step < 5; step++) {
        assert_memory_equal(mb_session_logits(se), mb_session_logits(sg), VOCAB * sizeof(float));
        int32_t next = (int32_t)argmax(mb_session_logits(se), VOCAB);
        MB_ASSERT_OK(mb_session_eval(se, &next, 1, NULL, &err), &err);
        MB_ASSERT_OK(mb_session_eval(sg, &next, 1, NULL, &err), &err);
    }
    mb_session_free(se);
    mb_session_free(sg);
    mb_session_free(st);
    mb_model_free(me);
    mb_model_free(mg);
    mb_model_free(mt);
    mb_backend_free(be);
    mb_backend_free(bg);
    model_file_free(&f);
}

int main(void)
{
    struct mb_err err;
    int count = 0;
    if (mb_cuda_device_count(&count, &err) != 0) {
        printf("skipped: no CUDA device (%s)\n", err.msg);
        return MB_TEST_SKIP;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_cpu),
        cmocka_unit_test(test_graphs_and_top),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
