/*
 * test_model_ops.c - the kernels on the real SmolLM2 weights (skipped, status
 * 77, when the model is not fetched): embedding rows of the Q8_0 token_embd,
 * RMSNorm with the model's attn_norm and epsilon, the fused Q/K/V product of
 * layer 0 (Q4_1), an FFN down projection (k = 1536) and the tied LM head
 * (49152 x 576 Q8_0), on every CPU level, against the reference oracle with
 * the bounds of test_ops.c. Real scales and activations have outliers random
 * data lacks; this is where a saturating integer path would show.
 */
#include "mb_test.h"
#include "mb_kernels.h"
#include "mb_gguf.h"

#include <math.h>

static struct mb_gguf *model;

static int setup(void **state)
{
    (void)state;
    struct mb_err err;
    const char *path = mb_test_model_path(); /* exits 77 when absent */
    if (mb_gguf_open(&model, path, &err) < 0)
        fail_msg("%s", err.msg);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mb_gguf_free(model);
    return 0;
}

static struct mb_weight weight(const char *name)
{
    struct mb_err err;
    const struct mb_gguf_tensor *t;
    if (mb_gguf_get_tensor(model, name, &t, &err) < 0)
        fail_msg("%s", err.msg);
    return (struct mb_weight){ t->data, t->type, (size_t)t->dims[1], (size_t)t->dims[0] };
}

/* Activations as the first block sees them: embedding rows through attn_norm. */
static float *activations(struct mb_backend *be, const int32_t *ids, size_t m)
{
    struct mb_err err;
    struct mb_weight emb = weight("token_embd.weight");
    struct mb_weight norm = weight("blk.0.attn_norm.weight");
    float eps;
    if (mb_gguf_get_f32(model, "llama.attention.layer_norm_rms_epsilon", &eps, &err) < 0)
        fail_msg("%s", err.msg);
    float *x = mb_malloc(m * emb.cols * sizeof(float));
    assert_non_null(x);
    struct mb_get_rows_args g = { emb, ids, m, x, emb.cols };
    MB_ASSERT_OK(mb_backend_get_rows(be, &g, &err), &err);
    for (size_t i = 0; i < m; i++) {
        float *want = mb_malloc(emb.cols * sizeof(float));
        uint64_t rb;
        mb_dtype_row_size(emb.type, emb.cols, &rb);
        assert_true(mb_dequantize_row(emb.type, (const uint8_t *)emb.data + (size_t)ids[i] * rb,
                                      want, emb.cols));
        assert_memory_equal(want, x + i * emb.cols, emb.cols * sizeof(float));
        mb_free(want);
    }
    float *y = mb_malloc(m * emb.cols * sizeof(float)), *r = mb_malloc(m * emb.cols * 4);
    assert_true(y && r);
    struct mb_rmsnorm_args n = { x, y, norm.data, m, emb.cols, emb.cols, emb.cols, eps };
    MB_ASSERT_OK(mb_backend_rmsnorm(be, &n, &err), &err);
    n.y = r;
    MB_ASSERT_OK(mb_ref_rmsnorm(&n, &err), &err);
    for (size_t i = 0; i < m * emb.cols; i++)
        assert_true(fabsf(y[i] - r[i]) <= 1e-6f * fabsf(r[i]) + 1e-7f);
    mb_free(x);
    mb_free(r);
    return y;
}

/* y (m x rows, from the backend) against the oracle, with test_ops.c's bounds. */
static double check(const char *what, const struct mb_weight *w, const float *x, size_t m,
                    const float *y)
{
    struct mb_err err;
    const size_t k = w->cols;
    uint64_t rb;
    mb_dtype_row_size(w->type, k, &rb);
    float *xq = mb_malloc(k * 4), *serr = mb_malloc(k / 32 * 4 + 4), *wr = mb_malloc(k * 4);
    assert_true(xq && serr && wr);
    double worst = 0;
    for (size_t i = 0; i < m; i++) {
        MB_ASSERT_OK(mb_ref_quantize_act(w->type, x + i * k, k, xq, serr, &err), &err);
        for (size_t r = 0; r < w->rows; r++) {
            const uint8_t *row = (const uint8_t *)w->data + r * rb;
            assert_true(mb_dequantize_row(w->type, row, wr, k));
            double exact = 0, quant = 0, mag = 0, qerr = 0, sterm = 0;
            for (size_t j = 0; j < k; j++) {
                exact += (double)wr[j] * x[i * k + j];
                quant += (double)wr[j] * xq[j];
                mag += fabs((double)wr[j] * xq[j]);
                qerr += fabs((double)wr[j]) * fabs((double)x[i * k + j] - xq[j]);
            }
            if (w->type == MB_DTYPE_Q4_1 || w->type == MB_DTYPE_Q5_1)
                for (size_t b = 0; b < k / 32; b++) {
                    mb_f16 h;
                    memcpy(&h, row + b * mb_dtype_traits(w->type)->block_size + 2, 2);
                    sterm += fabs((double)mb_f16_to_f32(h)) * serr[b];
                }
            double got = y[i * w->rows + r], tight = 2e-5 * mag + 1.0001 * sterm + 1e-30;
            if (!(fabs(got - quant) <= tight))
                fail_msg("%s [%zu][%zu]: got %.9g, quantized-input product %.9g (bound %.3g)", what,
                         i, r, got, quant, tight);
            if (!(fabs(got - exact) <= tight + qerr))
                fail_msg("%s [%zu][%zu]: got %.9g, exact %.9g (bound %.3g)", what, i, r, got, exact,
                         tight + qerr);
            worst = fmax(worst, fabs(got - exact));
        }
    }
    mb_free(xq);
    mb_free(serr);
    mb_free(wr);
    return worst;
}

static void test_real_layers(void **state)
{
    (void)state;
    struct mb_err err;
    static const int32_t ids[] = { 1, 28, 9690, 314, 49151 }; /* incl. the last id */
    const size_t m_all = MB_ARRAY_LEN(ids);
    for (int isa = 0; isa < MB_CPU_ISA_COUNT; isa++) {
        if (!mb_cpu_isa_supported((enum mb_cpu_isa)isa))
            continue;
        struct mb_backend *be;
        struct mb_cpu_opts o = { .n_threads = 2, .force_isa = true, .isa = (enum mb_cpu_isa)isa };
        MB_ASSERT_OK(mb_backend_cpu_new(&o, &be, &err), &err);
        float *x = activations(be, ids, m_all);

        /* Layer 0's Q, K, V in one op, decode (m = 1) and prefill (m = 5). */
        struct mb_weight q = weight("blk.0.attn_q.weight"), kw = weight("blk.0.attn_k.weight"),
                         v = weight("blk.0.attn_v.weight");
        for (size_t m = 1; m <= m_all; m += m_all - 1) {
            float *yq = mb_malloc(m * q.rows * 4), *yk = mb_malloc(m * kw.rows * 4),
                  *yv = mb_malloc(m * v.rows * 4);
            struct mb_matmul_args a = {
                .x = x, .m = m, .k = q.cols, .x_stride = q.cols, .n_out = 3
            };
            a.out[0] = (struct mb_matmul_out){ q, yq, q.rows, false };
            a.out[1] = (struct mb_matmul_out){ kw, yk, kw.rows, false };
            a.out[2] = (struct mb_matmul_out){ v, yv, v.rows, false };
            MB_ASSERT_OK(mb_backend_matmul(be, &a, &err), &err);
            double e = check("attn_q", &q, x, m, yq);
            e = fmax(e, check("attn_k", &kw, x, m, yk));
            e = fmax(e, check("attn_v", &v, x, m, yv));
            print_message("%s: blk.0 q/k/v (%s) m=%zu: max |y - W x| = %.3g\n", be->name,
                          mb_dtype_name(q.type), m, e);
            mb_free(yq);
            mb_free(yk);
            mb_free(yv);
        }

        /* FFN down (k = 1536): activations from an FFN-sized input. */
        struct mb_weight down = weight("blk.7.ffn_down.weight");
        float *h = mb_malloc(2 * down.cols * 4), *yd = mb_malloc(2 * down.rows * 4);
        for (size_t i = 0; i < 2 * down.cols; i++)
            h[i] = x[i % (m_all * q.cols)] * (i % 7 == 0 ? 3.0f : 0.5f);
        struct mb_matmul_args d = {
            .x = h, .m = 2, .k = down.cols, .x_stride = down.cols, .n_out = 1
        };
        d.out[0] = (struct mb_matmul_out){ down, yd, down.rows, false };
        MB_ASSERT_OK(mb_backend_matmul(be, &d, &err), &err);
        print_message("%s: blk.7 ffn_down (%s): max |y - W x| = %.3g\n", be->name,
                      mb_dtype_name(down.type), check("ffn_down", &down, h, 2, yd));
        mb_free(h);
        mb_free(yd);

        /* The tied LM head: all 49152 logits of one row. */
        struct mb_weight head = weight("token_embd.weight");
        float *logits = mb_malloc(head.rows * 4);
        struct mb_matmul_args l = { .x = x + q.cols, .m = 1, .k = head.cols, .n_out = 1 };
        l.out[0] = (struct mb_matmul_out){ head, logits, head.rows, false };
        MB_ASSERT_OK(mb_backend_matmul(be, &l, &err), &err);
        print_message("%s: LM head (%s): max |y - W x| = %.3g\n", be->name,
                      mb_dtype_name(head.type), check("lm_head", &head, x + q.cols, 1, logits));
        mb_free(logits);
        mb_free(x);
        mb_backend_free(be);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_real_layers) };
    return cmocka_run_group_tests(tests, setup, teardown);
}
