/*
 * test_sampler.c - the sampler (parameter validation, greedy, each filter's
 * effect on the distribution measured over many draws, repetition penalties
 * with llama.cpp's rule, seeded reproducibility) and the stop helper (end of
 * generation, stop strings across token boundaries, token budget).
 */
#include "mb_test.h"
#include "mb_sampler.h"

#include <math.h>

static struct mb_sampler_params plain_params(void)
{
    struct mb_sampler_params p;
    mb_sampler_params_init(&p);
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = 42;
    return p;
}

static void test_params(void **state)
{
    (void)state;
    struct mb_sampler_params p;
    struct mb_err err;
    mb_sampler_params_init(&p);
    MB_ASSERT_OK(mb_sampler_params_check(&p, &err), &err);
    assert_true(p.temperature == 0.8f && p.top_k == 40 && p.top_p == 0.95f && p.min_p == 0.05f);
    p.temperature = -1;
    assert_int_equal(mb_sampler_params_check(&p, &err), MB_E_USAGE);
    assert_non_null(strstr(err.msg, "temperature must be >= 0"));
    mb_sampler_params_init(&p);
    p.temperature = NAN;
    assert_int_equal(mb_sampler_params_check(&p, &err), MB_E_USAGE);
    mb_sampler_params_init(&p);
    p.top_p = 0;
    assert_int_equal(mb_sampler_params_check(&p, &err), MB_E_USAGE);
    assert_non_null(strstr(err.msg, "top-p must be in (0, 1]"));
    p.top_p = 1.5f;
    assert_int_equal(mb_sampler_params_check(&p, &err), MB_E_USAGE);
    mb_sampler_params_init(&p);
    p.min_p = -0.1f;
    assert_int_equal(mb_sampler_params_check(&p, &err), MB_E_USAGE);
    assert_non_null(strstr(err.msg, "min-p"));
    mb_sampler_params_init(&p);
    p.top_k = -3;
    assert_int_equal(mb_sampler_params_check(&p, &err), MB_E_USAGE);
    assert_non_null(strstr(err.msg, "top-k"));
    mb_sampler_params_init(&p);
    p.repeat_penalty = 0;
    assert_int_equal(mb_sampler_params_check(&p, &err), MB_E_USAGE);
    assert_non_null(strstr(err.msg, "repeat penalty"));
    mb_sampler_params_init(&p);
    p.repeat_last_n = -2;
    assert_int_equal(mb_sampler_params_check(&p, &err), MB_E_USAGE);
    /* mb_sampler_new checks too */
    struct mb_sampler *s = NULL;
    p.repeat_last_n = 64;
    p.temperature = -0.5f;
    assert_int_equal(mb_sampler_new(&p, 10, &s, &err), MB_E_USAGE);
    assert_null(s);
}

static int32_t sample(struct mb_sampler *s, const float *logits)
{
    int32_t t = -1;
    struct mb_err err;
    MB_ASSERT_OK(mb_sampler_sample(s, logits, &t, &err), &err);
    return t;
}

static void test_greedy(void **state)
{
    (void)state;
    struct mb_sampler_params p = plain_params();
    p.temperature = 0;
    struct mb_sampler *s;
    struct mb_err err;
    MB_ASSERT_OK(mb_sampler_new(&p, 5, &s, &err), &err);
    float l1[] = { 0.1f, 2.0f, -1.0f, 2.0f, NAN };
    assert_int_equal(sample(s, l1), 1); /* ties: the lowest id */
    float l2[] = { -INFINITY, -INFINITY, -3.0f, NAN, -INFINITY };
    assert_int_equal(sample(s, l2), 2);
    float l3[] = { -INFINITY, -INFINITY, NAN, NAN, -INFINITY };
    int32_t t;
    assert_int_equal(mb_sampler_sample(s, l3, &t, &err), MB_E_FORMAT);
    mb_sampler_free(s);
}

/* Draw n tokens and return their frequencies over 4 ids. */
static void frequencies(struct mb_sampler_params p, const float *logits, double freq[4])
{
    struct mb_sampler *s;
    struct mb_err err;
    MB_ASSERT_OK(mb_sampler_new(&p, 4, &s, &err), &err);
    const int n = 40000;
    int count[4] = { 0 };
    for (int i = 0; i < n; i++)
        count[sample(s, logits)]++;
    for (int i = 0; i < 4; i++)
        freq[i] = count[i] / (double)n;
    mb_sampler_free(s);
}

static void expect_freq(const double got[4], const double want[4])
{
    for (int i = 0; i < 4; i++)
        if (fabs(got[i] - want[i]) > 0.012)
            fail_msg("token %d drawn with frequency %.4f, expected %.4f", i, got[i], want[i]);
}

static void test_distribution(void **state)
{
    (void)state;
    /* probabilities 0.1 0.2 0.3 0.4 at temperature 1 */
    const float logits[] = { logf(1), logf(2), logf(3), logf(4) };
    double f[4];
    struct mb_sampler_params p = plain_params();
    frequencies(p, logits, f);
    expect_freq(f, (double[]){ 0.1, 0.2, 0.3, 0.4 });
    /* temperature 0.5 squares the weights: 1 4 9 16 */
    p.temperature = 0.5f;
    frequencies(p, logits, f);
    expect_freq(f, (double[]){ 1 / 30.0, 4 / 30.0, 9 / 30.0, 16 / 30.0 });
    /* top-k 2: ids 3 and 2 only */
    p = plain_params();
    p.top_k = 2;
    frequencies(p, logits, f);
    expect_freq(f, (double[]){ 0, 0, 3 / 7.0, 4 / 7.0 });
    /* top-p 0.5: 0.4 < 0.5 <= 0.4 + 0.3, so ids 3 and 2 */
    p = plain_params();
    p.top_p = 0.5f;
    frequencies(p, logits, f);
    expect_freq(f, (double[]){ 0, 0, 3 / 7.0, 4 / 7.0 });
    /* min-p 0.6: p >= 0.24, so ids 3 and 2 */
    p = plain_params();
    p.min_p = 0.6f;
    frequencies(p, logits, f);
    expect_freq(f, (double[]){ 0, 0, 3 / 7.0, 4 / 7.0 });
    /* min-p 0.4: p >= 0.16, so ids 1, 2, 3 */
    p.min_p = 0.4f;
    frequencies(p, logits, f);
    expect_freq(f, (double[]){ 0, 2 / 9.0, 3 / 9.0, 4 / 9.0 });
    /* top-k 1 is greedy whatever the temperature */
    p = plain_params();
    p.top_k = 1;
    p.temperature = 5.0f;
    frequencies(p, logits, f);
    expect_freq(f, (double[]){ 0, 0, 0, 1 });
}

static void test_penalties(void **state)
{
    (void)state;
    struct mb_sampler_params p = plain_params();
    p.temperature = 0;
    p.repeat_penalty = 1.5f;
    p.repeat_last_n = 2;
    struct mb_sampler *s;
    struct mb_err err;
    MB_ASSERT_OK(mb_sampler_new(&p, 3, &s, &err), &err);
    /* positive logits are divided: 0.5 / 1.5 = 0.33 < 0.4 */
    float l1[] = { 0.5f, -0.2f, 0.4f };
    assert_int_equal(sample(s, l1), 0);
    mb_sampler_accept(s, 0);
    assert_int_equal(sample(s, l1), 2);
    /* negative logits are multiplied: -0.2 * 1.5 = -0.3 < -0.25 */
    float l2[] = { -1.0f, -0.2f, -0.25f };
    mb_sampler_accept(s, 1);
    assert_int_equal(sample(s, l2), 2);
    /* the window holds the last 2 tokens: after two more, 0 is no longer penalised */
    mb_sampler_accept(s, 2);
    mb_sampler_accept(s, 2);
    assert_int_equal(sample(s, l1), 0);
    /* reset forgets the history */
    mb_sampler_accept(s, 0);
    mb_sampler_reset(s);
    assert_int_equal(sample(s, l1), 0);
    mb_sampler_free(s);

    /* frequency and presence penalties count occurrences */
    p = plain_params();
    p.temperature = 0;
    p.frequency_penalty = 0.1f;
    MB_ASSERT_OK(mb_sampler_new(&p, 2, &s, &err), &err);
    float l3[] = { 1.0f, 0.85f };
    mb_sampler_accept(s, 0);
    assert_int_equal(sample(s, l3), 0); /* 1.0 - 0.1 = 0.9 > 0.85 */
    mb_sampler_accept(s, 0);
    assert_int_equal(sample(s, l3), 1); /* 1.0 - 0.2 = 0.8 < 0.85 */
    mb_sampler_free(s);
    p.frequency_penalty = 0;
    p.presence_penalty = 0.2f;
    MB_ASSERT_OK(mb_sampler_new(&p, 2, &s, &err), &err);
    mb_sampler_accept(s, 0);
    assert_int_equal(sample(s, l3), 1);
    mb_sampler_free(s);
}

static void test_seed(void **state)
{
    (void)state;
    float logits[100];
    for (int i = 0; i < 100; i++)
        logits[i] = sinf((float)i) * 3.0f;
    struct mb_sampler_params p;
    mb_sampler_params_init(&p);
    p.seed = 1234;
    struct mb_sampler *a, *b, *c;
    struct mb_err err;
    MB_ASSERT_OK(mb_sampler_new(&p, 100, &a, &err), &err);
    MB_ASSERT_OK(mb_sampler_new(&p, 100, &b, &err), &err);
    p.seed = 1235;
    MB_ASSERT_OK(mb_sampler_new(&p, 100, &c, &err), &err);
    int32_t first[200];
    int same_c = 0;
    for (int i = 0; i < 200; i++) {
        first[i] = sample(a, logits);
        assert_int_equal(sample(b, logits), first[i]);
        same_c += sample(c, logits) == first[i];
    }
    assert_true(same_c < 150); /* another seed gives another sequence */
    /* reset replays the sequence */
    mb_sampler_reset(a);
    for (int i = 0; i < 200; i++)
        assert_int_equal(sample(a, logits), first[i]);
    assert_int_equal(mb_sampler_seed(a), 1234);
    mb_sampler_free(a);
    mb_sampler_free(b);
    mb_sampler_free(c);
    /* a random seed is drawn and reported */
    p.seed = MB_SAMPLER_SEED_RANDOM;
    MB_ASSERT_OK(mb_sampler_new(&p, 100, &a, &err), &err);
    assert_true(mb_sampler_seed(a) != MB_SAMPLER_SEED_RANDOM);
    mb_sampler_free(a);
}

/* ------------------------------------------------------------ stop */

static enum mb_stop_reason push(struct mb_stop *s, bool eog, const char *text, struct mb_buf *out)
{
    enum mb_stop_reason r;
    struct mb_err err;
    MB_ASSERT_OK(mb_stop_push(s, eog, text, strlen(text), out, &r, &err), &err);
    return r;
}

static void test_stop(void **state)
{
    (void)state;
    struct mb_stop s;
    struct mb_buf out;
    struct mb_err err;
    mb_buf_init(&out, 1 << 20);

    /* a token budget */
    MB_ASSERT_OK(mb_stop_init(&s, NULL, 0, 3, &err), &err);
    assert_int_equal(push(&s, false, "a", &out), MB_STOP_NONE);
    assert_int_equal(push(&s, false, "b", &out), MB_STOP_NONE);
    assert_int_equal(push(&s, false, "c", &out), MB_STOP_MAX_TOKENS);
    assert_int_equal(push(&s, false, "d", &out), MB_STOP_MAX_TOKENS);
    assert_string_equal(out.p, "abc");
    mb_stop_release(&s);

    /* a stop string split over three tokens; text before it is shown, not after */
    mb_buf_reset(&out);
    const char *stops[] = { "###", "</answer>" };
    MB_ASSERT_OK(mb_stop_init(&s, stops, 2, 0, &err), &err);
    assert_int_equal(push(&s, false, "Hello #", &out), MB_STOP_NONE);
    assert_string_equal(out.p, "Hello "); /* "#" is held back */
    assert_int_equal(push(&s, false, "#", &out), MB_STOP_NONE);
    assert_string_equal(out.p, "Hello ");
    assert_int_equal(push(&s, false, "#tail", &out), MB_STOP_STRING);
    assert_string_equal(out.p, "Hello ");
    mb_stop_reset(&s);

    /* a false start is released when the next token rules it out */
    mb_buf_reset(&out);
    assert_int_equal(push(&s, false, "a</ans", &out), MB_STOP_NONE);
    assert_string_equal(out.p, "a");
    assert_int_equal(push(&s, false, "wer is 4", &out), MB_STOP_NONE);
    assert_string_equal(out.p, "a</answer is 4");
    /* the earliest of several stop strings wins */
    mb_buf_reset(&out);
    assert_int_equal(push(&s, false, "x</answer>y###", &out), MB_STOP_STRING);
    assert_string_equal(out.p, "x");
    mb_stop_reset(&s);

    /* end of generation: held text is released, the token's own text is not shown */
    mb_buf_reset(&out);
    assert_int_equal(push(&s, false, "ok #", &out), MB_STOP_NONE);
    assert_int_equal(push(&s, true, "<|im_end|>", &out), MB_STOP_EOG);
    assert_string_equal(out.p, "ok #");
    mb_stop_reset(&s);

    /* flush at an interruption */
    mb_buf_reset(&out);
    assert_int_equal(push(&s, false, "</answer", &out), MB_STOP_NONE);
    assert_int_equal(out.n, 0);
    MB_ASSERT_OK(mb_stop_flush(&s, &out, &err), &err);
    assert_string_equal(out.p, "</answer");
    mb_stop_release(&s);

    /* bad stop strings */
    const char *empty[] = { "" };
    assert_int_equal(mb_stop_init(&s, empty, 1, 0, &err), MB_E_USAGE);
    const char *many[MB_STOP_MAX_STRINGS + 1];
    for (size_t i = 0; i < MB_ARRAY_LEN(many); i++)
        many[i] = "x";
    assert_int_equal(mb_stop_init(&s, many, MB_ARRAY_LEN(many), 0, &err), MB_E_USAGE);
    mb_stop_release(&s);
    mb_buf_release(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params),       cmocka_unit_test(test_greedy),
        cmocka_unit_test(test_distribution), cmocka_unit_test(test_penalties),
        cmocka_unit_test(test_seed),         cmocka_unit_test(test_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
