/*
 * test_tokenizer_golden.c - the tokenizer of the real SmolLM2 GGUF against
 * llama.cpp's ids (the JSON files in tests/data/tokenizer, recorded by
 * scripts/reference/tokenizer_golden.py with llama-cpp-python):
 *  - every corpus entry, with each combination of add-special / parse-special;
 *  - decode(encode(x)) == x for every entry, whole and through the streaming
 *    decoder (which must never emit part of a UTF-8 character);
 *  - the same vocabulary under twelve other pre-tokenizers (llama-bpe, qwen2,
 *    gpt-2, deepseek, ...), each on a fifth of the corpus.
 * Skipped (77) when the model is not fetched, unless MB_REQUIRE_MODEL=1.
 */
#include "mb_test.h"
#include "mb_runtime.h"

#include <jansson.h>

static const char *model_path;
static struct mb_gguf *gguf;
static json_t *corpus, *golden, *pretok;

static json_t *load_json(const char *name)
{
    json_error_t je;
    json_t *j = json_load_file(mb_test_data_path(name), 0, &je);
    if (!j)
        fail_msg("%s: %s at line %d", name, je.text, je.line);
    return j;
}

static int setup(void **state)
{
    (void)state;
    struct mb_err err;
    MB_ASSERT_OK(mb_gguf_open(&gguf, model_path, &err), &err);
    corpus = load_json("tokenizer/corpus.json");
    golden = load_json("tokenizer/smollm2.json");
    pretok = load_json("tokenizer/pretok.json");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mb_gguf_free(gguf);
    json_decref(corpus);
    json_decref(golden);
    json_decref(pretok);
    return 0;
}

static bool ids_equal(json_t *want, const struct mb_tokens *got)
{
    if (json_array_size(want) != got->n)
        return false;
    for (size_t i = 0; i < got->n; i++)
        if (json_integer_value(json_array_get(want, i)) != got->v[i])
            return false;
    return true;
}

/* The expected ids of entry i: the variant's own when it differs, else "plain". */
static json_t *expected(json_t *diff, json_t *plain, size_t i)
{
    char key[32];
    snprintf(key, sizeof(key), "%zu", i);
    json_t *w = diff ? json_object_get(diff, key) : NULL;
    return w ? w : json_array_get(plain, i);
}

static void report(const char *what, size_t i, json_t *text, json_t *want,
                   const struct mb_tokens *got)
{
    char *t = json_dumps(text, JSON_ENCODE_ANY);
    char *w = json_dumps(want, JSON_COMPACT);
    print_message("%s: entry %zu %s\n  llama.cpp: %s\n  ours:     [", what, i, t, w);
    for (size_t k = 0; k < got->n; k++)
        print_message("%s%d", k ? "," : "", got->v[k]);
    print_message("]\n");
    free(t);
    free(w);
}

static void test_model_file(void **state)
{
    (void)state;
    uint8_t sum[MB_SHA256_LEN];
    char hex[MB_SHA256_HEX];
    struct mb_err err;
    MB_ASSERT_OK(mb_sha256_file(model_path, sum, NULL, &err), &err);
    mb_hex_encode(sum, sizeof(sum), hex);
    const char *want = json_string_value(json_object_get(golden, "model_sha256"));
    if (strcmp(hex, want))
        fail_msg("%s is not the model the goldens were made with (sha256 %s, expected %s)",
                 model_path, hex, want);
    assert_int_equal(json_array_size(corpus),
                     json_integer_value(json_object_get(golden, "corpus_entries")));
    assert_true(json_array_size(corpus) >= 2000);
}

static void test_smollm2(void **state)
{
    (void)state;
    struct mb_tokenizer *tok;
    struct mb_err err;
    MB_ASSERT_OK(mb_tokenizer_load_gguf(gguf, NULL, &tok, &err), &err);
    assert_string_equal(mb_tokenizer_pre_name(tok), "smollm");
    assert_int_equal(mb_tokenizer_n_tokens(tok), 49152);
    assert_false(mb_tokenizer_adds_bos(tok));
    assert_true(mb_tokenizer_is_eog(tok, 2)); /* <|im_end|> */
    assert_true(mb_tokenizer_is_eog(tok, 0)); /* <|endoftext|> */

    json_t *plain = json_object_get(golden, "plain");
    json_t *variants = json_object_get(golden, "variants");
    static const char *const names[] = { "plain", "add", "special", "add_special" };
    static const unsigned flags[] = { 0, MB_TOK_ADD_SPECIAL, MB_TOK_PARSE_SPECIAL,
                                      MB_TOK_ADD_SPECIAL | MB_TOK_PARSE_SPECIAL };
    size_t n = json_array_size(corpus), checked = 0, bad = 0, rt_bad = 0, stream_bad = 0;
    size_t n_tokens = 0;
    uint64_t t0 = mb_now_ns();
    for (size_t v = 0; v < 4; v++) {
        json_t *diff = v ? json_object_get(variants, names[v]) : NULL;
        for (size_t i = 0; i < n; i++) {
            json_t *jt = json_array_get(corpus, i);
            const char *text = json_string_value(jt);
            size_t len = json_string_length(jt);
            struct mb_tokens out;
            mb_tokens_init(&out, 1 << 20);
            MB_ASSERT_OK(mb_tokenizer_encode(tok, text, len, flags[v], &out, &err), &err);
            checked++;
            if (v == 0)
                n_tokens += out.n;
            json_t *want = expected(diff, plain, i);
            if (!ids_equal(want, &out)) {
                if (bad++ < 10)
                    report(names[v], i, jt, want, &out);
            }
            /* decode(encode(x)) == x; with parsed special tokens they must be rendered */
            unsigned df = (flags[v] & MB_TOK_PARSE_SPECIAL) ? MB_DETOK_SPECIAL : 0;
            struct mb_buf b;
            mb_buf_init(&b, 1 << 24);
            MB_ASSERT_OK(mb_tokenizer_decode(tok, out.v, out.n, df, &b, &err), &err);
            if (b.n != len || memcmp(b.p ? b.p : "", text, len)) {
                if (rt_bad++ < 5)
                    print_message("%s: entry %zu does not decode back\n", names[v], i);
            }
            /* the stream gives the same text, in chunks of whole UTF-8 characters */
            struct mb_detok_stream st;
            mb_detok_stream_init(&st, tok, df);
            mb_buf_reset(&b);
            bool chunks_ok = true;
            for (size_t k = 0; k < out.n; k++) {
                size_t before = b.n;
                MB_ASSERT_OK(mb_detok_stream_push(&st, out.v[k], &b, &err), &err);
                /* a chunk never ends inside a character */
                if (b.n > before) {
                    size_t j = b.n;
                    size_t cont = 0;
                    while (j > before && ((unsigned char)b.p[j - 1] & 0xc0) == 0x80) {
                        j--;
                        cont++;
                    }
                    unsigned char lead = j > before ? (unsigned char)b.p[j - 1] : 0;
                    size_t need = lead >= 0xf0 ? 3 : lead >= 0xe0 ? 2 : lead >= 0xc0 ? 1 : 0;
                    if (j > before && cont != need)
                        chunks_ok = false;
                }
            }
            MB_ASSERT_OK(mb_detok_stream_flush(&st, &b, &err), &err);
            if (!chunks_ok || b.n != len || memcmp(b.p ? b.p : "", text, len)) {
                if (stream_bad++ < 5)
                    print_message("%s: entry %zu: the stream decoder differs\n", names[v], i);
            }
            mb_buf_release(&b);
            mb_tokens_release(&out);
        }
    }
    double ms = (double)(mb_now_ns() - t0) / 1e6;
    print_message("smollm2: %zu encodings of %zu entries (%zu tokens per pass) checked against "
                  "llama.cpp: %zu differ; %zu round trips and %zu streams fail (%.0f ms with "
                  "the checks)\n",
                  checked, n, n_tokens, bad, rt_bad, stream_bad, ms);
    assert_int_equal(bad, 0);
    assert_int_equal(rt_bad, 0);
    assert_int_equal(stream_bad, 0);
    mb_tokenizer_free(tok);
}

static void test_pretokenizers(void **state)
{
    (void)state;
    json_t *subset = json_object_get(pretok, "subset");
    json_t *pre = json_object_get(pretok, "pre");
    json_t *plain = json_object_get(golden, "plain");
    const char *name;
    json_t *diff;
    size_t n_pre = 0, total_bad = 0;
    json_object_foreach(pre, name, diff)
    {
        struct mb_tokenizer *tok;
        struct mb_err err;
        MB_ASSERT_OK(mb_tokenizer_load_gguf(gguf, name, &tok, &err), &err);
        size_t bad = 0, differ = 0;
        for (size_t k = 0; k < json_array_size(subset); k++) {
            size_t i = (size_t)json_integer_value(json_array_get(subset, k));
            json_t *jt = json_array_get(corpus, i);
            struct mb_tokens out;
            mb_tokens_init(&out, 1 << 20);
            MB_ASSERT_OK(mb_tokenizer_encode(tok, json_string_value(jt), json_string_length(jt), 0,
                                             &out, &err),
                         &err);
            json_t *want = expected(diff, plain, i);
            differ += want != json_array_get(plain, i);
            if (!ids_equal(want, &out) && bad++ < 3)
                report(name, i, jt, want, &out);
            mb_tokens_release(&out);
        }
        print_message("pre-tokenizer %-15s %zu entries, %zu split differently from smollm, "
                      "%zu differ from llama.cpp\n",
                      name, json_array_size(subset), differ, bad);
        total_bad += bad;
        n_pre++;
        mb_tokenizer_free(tok);
    }
    assert_true(n_pre >= 10);
    assert_int_equal(total_bad, 0);
}

static void test_gguf_errors(void **state)
{
    (void)state;
    struct mb_tokenizer *tok = NULL;
    struct mb_err err;
    /* an unknown pre-tokenizer name */
    assert_int_equal(mb_tokenizer_load_gguf(gguf, "no-such-pre", &tok, &err), MB_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "unknown pre-tokenizer 'no-such-pre'"));
    assert_non_null(strstr(err.msg, "SmolLM2"));
    assert_null(tok);
}

int main(void)
{
    model_path = mb_test_model_path();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_file),
        cmocka_unit_test(test_smollm2),
        cmocka_unit_test(test_pretokenizers),
        cmocka_unit_test(test_gguf_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
