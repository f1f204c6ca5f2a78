/*
 * test_perplexity.c - the chunked perplexity loop (runtime/mb_perplexity.h)
 * over fake logits sources whose answers are known in closed form: uniform
 * logits give a perplexity of exactly n_vocab; a source that puts a known
 * logit on the right token gives a known mean NLL and error. Also the chunk
 * layout llama.cpp uses (chunk count, BOS replacement, the scored half, the
 * tokens not modified), the per-chunk callback, and every refusal (short
 * text, bad context, ids outside the vocabulary, source errors, Ctrl-C).
 * The comparison with llama.cpp on a real model is tests/integration/t8040.
 */
#include "mb_test.h"
#include "mb_runtime.h"

#include <math.h>

static struct mb_err err;

struct fake {
    size_t n_vocab;
    int mode; /* 0 uniform, 1 the next token gets logit `hit`, others 0 */
    float hit;
    const int32_t *text; /* mode 1: to know the next token */
    size_t calls;
    int32_t first_ids[16];
    size_t last_n, last_first;
    int fail_at; /* call number that fails, 0 = never */
};

static int fake_eval(void *ud, const int32_t *ids, size_t n, size_t first, float *logits,
                     struct mb_err *e)
{
    struct fake *f = ud;
    f->calls++;
    if (f->fail_at && (int)f->calls == f->fail_at)
        return mb_fail(e, MB_E_IO, "fake source failed");
    if (f->calls <= 16)
        f->first_ids[f->calls - 1] = ids[0];
    f->last_n = n;
    f->last_first = first;
    for (size_t j = first; j < n; j++) {
        float *row = logits + (j - first) * f->n_vocab;
        for (size_t v = 0; v < f->n_vocab; v++)
            row[v] = 0.0f;
        if (f->mode == 1 && j + 1 < n) {
            /* ids[j + 1] is the next token (ids[0] may be BOS, but j >= first > 0) */
            row[ids[j + 1]] = f->hit;
        }
    }
    return 0;
}

static struct mb_ppl_source source(struct fake *f)
{
    struct mb_ppl_source s = { f, f->n_vocab, fake_eval };
    return s;
}

static int32_t *text(size_t n, size_t n_vocab)
{
    int32_t *t = mb_malloc(n * sizeof(int32_t));
    for (size_t i = 0; i < n; i++)
        t[i] = (int32_t)((i * 7 + 3) % n_vocab);
    return t;
}

static void test_uniform(void **state)
{
    (void)state;
    struct fake f = { .n_vocab = 50 };
    struct mb_ppl_source s = source(&f);
    int32_t *t = text(100, 50);
    struct mb_ppl_opts o;
    mb_ppl_opts_init(&o);
    o.n_ctx = 32;
    struct mb_ppl_result r;
    MB_ASSERT_OK(mb_perplexity(&s, t, 100, &o, NULL, NULL, &r, &err), &err);
    assert_int_equal(r.n_chunks, 3);   /* floor(100 / 32); the last 4 tokens are not used */
    assert_int_equal(r.count, 3 * 15); /* positions 16..30 predict 17..31 */
    assert_int_equal(f.calls, 3);
    assert_int_equal(f.last_n, 32);
    assert_int_equal(f.last_first, 16);
    assert_true(fabs(r.ppl - 50.0) < 1e-9);
    assert_true(r.ppl_err < 1e-6); /* every token has the same nll (up to rounding) */
    /* no BOS: the chunks start with their own tokens */
    assert_int_equal(f.first_ids[1], t[32]);
    mb_free(t);
}

static double cb_last;
static size_t cb_calls;

static int on_chunk(void *ud, const struct mb_ppl_chunk *c)
{
    (void)ud;
    cb_calls++;
    cb_last = c->ppl;
    assert_int_equal(c->index + 1, cb_calls);
    return c->index == 1 && ud ? MB_E_INTERRUPTED : 0;
}

static void test_known_nll(void **state)
{
    (void)state;
    const size_t V = 10;
    int32_t *t = text(64, V);
    struct fake f = { .n_vocab = V, .mode = 1, .hit = 3.0f, .text = t };
    struct mb_ppl_source s = source(&f);
    struct mb_ppl_opts o;
    mb_ppl_opts_init(&o);
    o.n_ctx = 16;
    o.bos = 9;
    struct mb_ppl_result r;
    cb_calls = 0;
    MB_ASSERT_OK(mb_perplexity(&s, t, 64, &o, on_chunk, NULL, &r, &err), &err);
    /* nll = -(3 - 3 - log(e^0 * 9 + e^-3)) = log(9 e^-3 + 1) */
    double want = log(9.0 * exp(-3.0) + 1.0);
    assert_true(fabs(r.nll - want) < 1e-6);
    assert_true(fabs(r.ppl - exp(want)) < 1e-5);
    assert_int_equal(r.n_chunks, 4);
    assert_int_equal(r.count, 4 * 7);
    assert_int_equal(cb_calls, 4);
    assert_true(fabs(cb_last - r.ppl) < 1e-12);
    /* BOS replaces the first token of every chunk; the caller's tokens are untouched */
    for (size_t c = 0; c < 4; c++)
        assert_int_equal(f.first_ids[c], 9);
    assert_int_equal(t[16], (16 * 7 + 3) % 10);
    /* --chunks 2 */
    o.n_chunks = 2;
    MB_ASSERT_OK(mb_perplexity(&s, t, 64, &o, NULL, NULL, &r, &err), &err);
    assert_int_equal(r.n_chunks, 2);
    assert_int_equal(r.count, 14);
    /* the callback can stop the run */
    o.n_chunks = 0;
    cb_calls = 0;
    assert_int_equal(mb_perplexity(&s, t, 64, &o, on_chunk, &f, &r, &err), MB_E_INTERRUPTED);
    assert_int_equal(cb_calls, 2);
    mb_free(t);
}

static void test_nll_formula(void **state)
{
    (void)state;
    /* the sums behind the error estimate, and one nll against a double computation */
    const size_t V = 4;
    int32_t *t = text(32, V);
    struct fake f = { .n_vocab = V, .mode = 0 };
    struct mb_ppl_source s = source(&f);
    struct mb_ppl_opts o;
    mb_ppl_opts_init(&o);
    o.n_ctx = 16;
    struct mb_ppl_result r;
    MB_ASSERT_OK(mb_perplexity(&s, t, 32, &o, NULL, NULL, &r, &err), &err);
    assert_true(fabs(r.nll - log(4.0)) < 1e-12);
    assert_true(fabs(r.nll2 - log(4.0) * log(4.0)) < 1e-12);
    mb_free(t);

    float logits[5] = { 1.0f, -2.0f, 0.5f, 3.25f, 0.0f };
    double se = 0;
    for (int i = 0; i < 5; i++)
        se += exp((double)logits[i] - 3.25);
    assert_true(fabs(mb_ppl_nll(logits, 5, 2) - (-(0.5 - 3.25) + log(se))) < 1e-6);
}

static void test_refusals(void **state)
{
    (void)state;
    struct fake f = { .n_vocab = 8 };
    struct mb_ppl_source s = source(&f);
    int32_t *t = text(40, 8);
    struct mb_ppl_opts o;
    mb_ppl_opts_init(&o);
    struct mb_ppl_result r;
    o.n_ctx = 32; /* 40 tokens < 2 x 32 */
    assert_int_equal(mb_perplexity(&s, t, 40, &o, NULL, NULL, &r, &err), MB_E_LIMIT);
    assert_non_null(strstr(err.msg, "the text has 40 tokens"));
    o.n_ctx = 17;
    assert_int_equal(mb_perplexity(&s, t, 40, &o, NULL, NULL, &r, &err), MB_E_USAGE);
    o.n_ctx = 8;
    assert_int_equal(mb_perplexity(&s, t, 40, &o, NULL, NULL, &r, &err), MB_E_USAGE);
    o.n_ctx = 16;
    o.bos = 8;
    assert_int_equal(mb_perplexity(&s, t, 40, &o, NULL, NULL, &r, &err), MB_E_USAGE);
    o.bos = -1;
    t[20] = 8;
    assert_int_equal(mb_perplexity(&s, t, 40, &o, NULL, NULL, &r, &err), MB_E_FORMAT);
    assert_non_null(strstr(err.msg, "token 20"));
    t[20] = -1;
    assert_int_equal(mb_perplexity(&s, t, 40, &o, NULL, NULL, &r, &err), MB_E_FORMAT);
    t[20] = 0;
    f.fail_at = 2;
    assert_int_equal(mb_perplexity(&s, t, 40, &o, NULL, NULL, &r, &err), MB_E_IO);
    assert_string_equal(err.msg, "fake source failed");
    f.fail_at = 0;
    mb_interrupted = 1;
    assert_int_equal(mb_perplexity(&s, t, 40, &o, NULL, NULL, &r, &err), MB_E_INTERRUPTED);
    mb_interrupted = 0;
    MB_ASSERT_OK(mb_perplexity(&s, t, 40, &o, NULL, NULL, &r, &err), &err);
    mb_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uniform),
        cmocka_unit_test(test_known_nll),
        cmocka_unit_test(test_nll_formula),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
