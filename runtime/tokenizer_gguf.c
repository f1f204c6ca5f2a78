/*
 * tokenizer_gguf.c - build a tokenizer from the `tokenizer.ggml.*` keys of a
 * GGUF file: the vocabulary arrays are handed to mb_tokenizer_new() as views
 * into the file (it copies them), scores and types are converted from the
 * file's little-endian arrays, special ids and flags are read when present.
 */
#include "mb_gguf.h"
#include "mb_tokenizer.h"

/* An optional scalar id key: absent keeps the default, a bad type is an error. */
static int opt_id(const struct mb_gguf *g, const char *key, int64_t *out, struct mb_err *err)
{
    if (!mb_gguf_find_kv(g, key))
        return 0;
    uint32_t v;
    int rc = mb_gguf_get_u32(g, key, &v, err);
    if (rc)
        return rc;
    *out = v;
    return 0;
}

static int opt_bool(const struct mb_gguf *g, const char *key, int *out, struct mb_err *err)
{
    if (!mb_gguf_find_kv(g, key))
        return 0;
    bool v;
    int rc = mb_gguf_get_bool(g, key, &v, err);
    if (rc)
        return rc;
    *out = v ? 1 : 0;
    return 0;
}

/* A NUL-terminated copy of a string key (at most cap-1 bytes), or "" when absent. */
static int opt_str(const struct mb_gguf *g, const char *key, char *buf, size_t cap,
                   struct mb_err *err)
{
    buf[0] = '\0';
    if (!mb_gguf_find_kv(g, key))
        return 0;
    struct mb_str s;
    int rc = mb_gguf_get_str(g, key, &s, err);
    if (rc)
        return rc;
    if (s.n >= cap || memchr(s.p, '\0', s.n))
        return mb_fail(err, MB_E_FORMAT, "%s: key '%s' has a malformed value", mb_gguf_name(g),
                       key);
    memcpy(buf, s.p, s.n);
    buf[s.n] = '\0';
    return 0;
}

int mb_tokenizer_load_gguf(const struct mb_gguf *g, const char *pre_override,
                           struct mb_tokenizer **out, struct mb_err *err)
{
    *out = NULL;
    const char *name = mb_gguf_name(g);
    if (!mb_gguf_find_kv(g, "tokenizer.ggml.model") || !mb_gguf_find_kv(g, "tokenizer.ggml.tokens"))
        return mb_fail(err, MB_E_NOTFOUND,
                       "%s: no vocabulary (keys 'tokenizer.ggml.model' and "
                       "'tokenizer.ggml.tokens')",
                       name);
    char model[32], pre[64];
    struct mb_tokenizer_spec spec;
    mb_tokenizer_spec_init(&spec);
    float *scores = NULL;
    int32_t *types = NULL;
    int rc = opt_str(g, "tokenizer.ggml.model", model, sizeof(model), err);
    if (!rc)
        rc = opt_str(g, "tokenizer.ggml.pre", pre, sizeof(pre), err);
    const struct mb_gguf_array *tokens = NULL, *merges = NULL, *a = NULL;
    if (!rc)
        rc = mb_gguf_get_array(g, "tokenizer.ggml.tokens", MB_GGUF_TYPE_STRING, &tokens, err);
    if (rc)
        return rc;
    size_t n = tokens->n;
    spec.model = model;
    spec.pre = pre_override ? pre_override : pre;
    spec.tokens = tokens->strs;
    spec.n_tokens = n;

    if (mb_gguf_find_kv(g, "tokenizer.ggml.scores")) {
        rc = mb_gguf_get_array(g, "tokenizer.ggml.scores", MB_GGUF_TYPE_COUNT, &a, err);
        if (!rc && a->type != MB_GGUF_TYPE_FLOAT32 && a->type != MB_GGUF_TYPE_INT32)
            rc = mb_fail(err, MB_E_FORMAT,
                         "%s: key 'tokenizer.ggml.scores' holds %s, not "
                         "float32 or int32",
                         name, mb_gguf_type_name(a->type));
        if (!rc && a->n < n)
            rc = mb_fail(err, MB_E_FORMAT,
                         "%s: key 'tokenizer.ggml.scores' has %zu entries "
                         "for %zu tokens",
                         name, a->n, n);
        if (!rc && !(scores = mb_calloc(n, sizeof(*scores))))
            rc = mb_fail(err, MB_E_NOMEM, "%s: out of memory for scores", name);
        for (size_t i = 0; !rc && i < n; i++)
            scores[i] = a->type == MB_GGUF_TYPE_FLOAT32 ? mb_gguf_array_f32(a, i)
                                                        : (float)mb_gguf_array_i32(a, i);
        spec.scores = scores;
    }
    if (!rc && mb_gguf_find_kv(g, "tokenizer.ggml.token_type")) {
        rc = mb_gguf_get_array(g, "tokenizer.ggml.token_type", MB_GGUF_TYPE_INT32, &a, err);
        if (!rc && a->n < n)
            rc = mb_fail(err, MB_E_FORMAT,
                         "%s: key 'tokenizer.ggml.token_type' has %zu entries "
                         "for %zu tokens",
                         name, a->n, n);
        if (!rc && !(types = mb_calloc(n, sizeof(*types))))
            rc = mb_fail(err, MB_E_NOMEM, "%s: out of memory for token types", name);
        for (size_t i = 0; !rc && i < n; i++)
            types[i] = mb_gguf_array_i32(a, i);
        spec.types = types;
    }
    if (!rc && !strcmp(model, "gpt2")) {
        if (!mb_gguf_find_kv(g, "tokenizer.ggml.merges"))
            rc = mb_fail(err, MB_E_FORMAT,
                         "%s: a gpt2 vocabulary without "
                         "'tokenizer.ggml.merges'",
                         name);
        else
            rc = mb_gguf_get_array(g, "tokenizer.ggml.merges", MB_GGUF_TYPE_STRING, &merges, err);
        if (!rc) {
            spec.merges = merges->strs;
            spec.n_merges = merges->n;
        }
    }
    if (!rc)
        rc = opt_id(g, "tokenizer.ggml.bos_token_id", &spec.bos_id, err);
    if (!rc)
        rc = opt_id(g, "tokenizer.ggml.eos_token_id", &spec.eos_id, err);
    if (!rc)
        rc = opt_id(g, "tokenizer.ggml.eot_token_id", &spec.eot_id, err);
    if (!rc)
        rc = opt_id(g, "tokenizer.ggml.eom_token_id", &spec.eom_id, err);
    if (!rc)
        rc = opt_id(g, "tokenizer.ggml.unknown_token_id", &spec.unk_id, err);
    if (!rc)
        rc = opt_id(g, "tokenizer.ggml.padding_token_id", &spec.pad_id, err);
    if (!rc)
        rc = opt_bool(g, "tokenizer.ggml.add_bos_token", &spec.add_bos, err);
    if (!rc)
        rc = opt_bool(g, "tokenizer.ggml.add_eos_token", &spec.add_eos, err);
    if (!rc)
        rc = opt_bool(g, "tokenizer.ggml.add_space_prefix", &spec.add_space_prefix, err);
    if (!rc) {
        rc = mb_tokenizer_new(&spec, out, err);
        if (rc)
            mb_err_prefix(err, "%s", name);
    }
    mb_free(scores);
    mb_free(types);
    return rc;
}
