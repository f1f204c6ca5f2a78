/*
 * test_router_embed.c - routing embeddings on the real model (skipped when it
 * is not fetched): unit length, deterministic, independent of how the parts
 * were opened (whole GGUF vs borrowed embedding/stack/tokenizer), an empty text
 * gives zeros, a text past the token cap is routed by its first tokens, U out
 * of range is an error, and related prompts are closer than unrelated ones.
 */
#include "mb_test.h"
#include "mb_runtime.h"

#include <math.h>

static double dot(const float *a, const float *b, uint32_t n)
{
    double s = 0;
    for (uint32_t i = 0; i < n; i++)
        s += (double)a[i] * (double)b[i];
    return s;
}

static void test_embed(void **state)
{
    (void)state;
    struct mb_err err;
    struct mb_gguf *g;
    struct mb_backend *be;
    MB_ASSERT_OK(mb_gguf_open(&g, mb_test_model_path(), &err), &err);
    MB_ASSERT_OK(mb_backend_cpu_new(NULL, &be, &err), &err);
    struct mb_router_embedder *e;
    assert_int_equal(mb_router_embedder_open_gguf(g, 0, be, &e, &err), MB_E_NOTFOUND);
    assert_int_equal(mb_router_embedder_open_gguf(g, 31, be, &e, &err), MB_E_USAGE);
    MB_ASSERT_OK(mb_router_embedder_open_gguf(g, 2, be, &e, &err), &err);
    uint32_t dim = mb_router_embedder_dim(e);
    assert_int_equal(dim, 576);
    assert_int_equal(mb_router_embedder_n_blocks(e), 2);
    float *a = mb_calloc(dim, sizeof(float)), *b = mb_calloc(dim, sizeof(float));
    float *c = mb_calloc(dim, sizeof(float)), *d = mb_calloc(dim, sizeof(float));
    assert_true(a && b && c && d);
    const char *t1 = "How do I reverse a list in Python?";
    MB_ASSERT_OK(mb_router_embed(e, t1, strlen(t1), a, &err), &err);
    assert_true(fabs(dot(a, a, dim) - 1.0) < 1e-5);
    MB_ASSERT_OK(mb_router_embed(e, t1, strlen(t1), b, &err), &err);
    assert_memory_equal(a, b, dim * sizeof(float));
    /* Related prompts are closer than unrelated ones. */
    const char *t2 = "How do I sort a dictionary by value in Python?";
    const char *t3 = "How long should I boil an egg for a soft yolk?";
    MB_ASSERT_OK(mb_router_embed(e, t2, strlen(t2), b, &err), &err);
    MB_ASSERT_OK(mb_router_embed(e, t3, strlen(t3), c, &err), &err);
    print_message("sim(python, python) %.4f, sim(python, cooking) %.4f\n", dot(a, b, dim),
                  dot(a, c, dim));
    assert_true(dot(a, b, dim) > dot(a, c, dim));
    /* Empty text: zeros. */
    MB_ASSERT_OK(mb_router_embed(e, "", 0, c, &err), &err);
    assert_true(dot(c, c, dim) == 0.0);
    /* Too long. */
    size_t big = 5 * MB_ROUTER_MAX_TOKENS * 2;
    char *txt = mb_malloc(big + 1);
    assert_non_null(txt);
    for (size_t i = 0; i < big; i += 2) {
        txt[i] = 'a';
        txt[i + 1] = ' ';
    }
    txt[big] = '\0';
    MB_ASSERT_OK(mb_router_embed(e, txt, big, c, &err), &err);
    assert_true(fabs(dot(c, c, dim) - 1.0) < 1e-5);
    /* ... by its first MB_ROUTER_MAX_TOKENS tokens: a longer tail changes nothing. */
    MB_ASSERT_OK(mb_router_embed(e, txt, big / 2 + 1000, d, &err), &err);
    assert_memory_equal(c, d, dim * sizeof(float));
    mb_free(txt);
    /* The embedder is reusable after a long text. */
    MB_ASSERT_OK(mb_router_embed(e, t1, strlen(t1), c, &err), &err);
    assert_memory_equal(a, c, dim * sizeof(float));

    /* Borrowed parts give the same embedding. */
    struct mb_llama_hparams hp;
    MB_ASSERT_OK(mb_llama_hparams_read(g, &hp, &err), &err);
    struct mb_embedding emb;
    struct mb_stack *st;
    struct mb_tokenizer *tok;
    struct mb_stack_spec spec = { "blk.", 0, 2, hp.block };
    MB_ASSERT_OK(
        mb_embedding_load(g, "token_embd.weight", hp.block.n_embd, hp.n_vocab, be, &emb, &err),
        &err);
    MB_ASSERT_OK(mb_stack_load(g, &spec, be, &st, &err), &err);
    MB_ASSERT_OK(mb_tokenizer_load_gguf(g, NULL, &tok, &err), &err);
    struct mb_router_embedder_src src = { &emb, st, tok, be };
    struct mb_router_embedder *e2;
    MB_ASSERT_OK(mb_router_embedder_new(&src, &e2, &err), &err);
    MB_ASSERT_OK(mb_router_embed(e2, t1, strlen(t1), d, &err), &err);
    assert_memory_equal(a, d, dim * sizeof(float));
    mb_router_embedder_free(e2);
    struct mb_router_embedder_src bad = { NULL, st, tok, be };
    assert_int_equal(mb_router_embedder_new(&bad, &e2, &err), MB_E_USAGE);
    mb_tokenizer_free(tok);
    mb_stack_free(st);
    mb_embedding_release(&emb);

    mb_free(a);
    mb_free(b);
    mb_free(c);
    mb_free(d);
    mb_router_embedder_free(e);
    mb_backend_free(be);
    mb_gguf_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
