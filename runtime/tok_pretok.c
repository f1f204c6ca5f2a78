/*
 * tok_pretok.c - the pre-tokenizers of byte-level BPE vocabularies: the table of
 * names (`tokenizer.ggml.pre`) and the PCRE2 regexes each one applies in
 * sequence, and the splitting itself.
 *
 * The regexes are those llama.cpp uses (llama-vocab.cpp), rewritten in PCRE2
 * syntax so that PCRE2 (UTF + UCP) gives the same pieces as llama.cpp's
 * hand-written matchers and its std::regex fallback:
 *  - `\s` is spelled out as the Unicode White_Space set, which is llama.cpp's
 *    whitespace table (PCRE2's own \s also matches U+180E);
 *  - the GPT-2 regex gets its final `|\s+` alternative back, which llama.cpp's
 *    custom matcher implements although its regex string omits it;
 * Each regex runs on each span separately (a span end is a subject end, so
 * lookaheads stop there), as llama.cpp's unicode_regex_split() does.
 */
#include "tokenizer_int.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>

/* Unicode White_Space, as the inside of a character class. */
#define WS                                                                                    \
    "\\t\\n\\x0B\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}" \
    "\\x{205F}\\x{3000}"

#define CONTRACTIONS_CI "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
#define RE_GPT2                                                                              \
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS "\\p{L}\\p{N}]+|[" WS "]+(?![^" WS \
    "])|[" WS "]+"

/* The tail shared by the llama3 / qwen2 family after the digit rule. */
#define RE_TAIL_NL \
    "| ?[^" WS "\\p{L}\\p{N}]+[\\r\\n]*|[" WS "]*[\\r\\n]+|[" WS "]+(?![^" WS "])|[" WS "]+"

#define RE_LLAMA3 CONTRACTIONS_CI "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}" RE_TAIL_NL
#define RE_QWEN2  CONTRACTIONS_CI "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}" RE_TAIL_NL

/* GPT-4o / Llama-4 / Tekken: case-aware words ([^a-z] / [^A-Z] trick kept from llama.cpp). */
#define RE_UPPER_LOWER_WORDS(contr)                                              \
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+" contr \
    "|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*" contr
#define RE_GPT4O                                                                           \
    RE_UPPER_LOWER_WORDS(CONTRACTIONS_CI "?")                                              \
    "|\\p{N}{1,3}| ?[^" WS "\\p{L}\\p{N}]+[\\r\\n/]*|[" WS "]*[\\r\\n]+|[" WS "]+(?![^" WS \
    "])|[" WS "]+"
#define RE_TEKKEN            \
    RE_UPPER_LOWER_WORDS("") \
    "|\\p{N}| ?[^" WS "\\p{L}\\p{N}]+[\\r\\n/]*|[" WS "]*[\\r\\n]+|[" WS "]+(?![^" WS "])|[" WS "]+"

#define RE_DEEPSEEK3_MAIN                                                                        \
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+"                                      \
    "|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|[" WS "]*[\\r\\n]+" \
    "|[" WS "]+(?![^" WS "])|[" WS "]+"

static const char *const names_default[] = { "default", NULL };
static const char *const names_gpt2[] = {
    "gpt-2",      "phi-2",      "jina-es",      "jina-de",     "gigachat", "jina-v2-es",
    "jina-v2-de", "jina-v1-en", "jina-v2-code", "roberta-bpe", "mpt",      "olmo",
    "jais",       "exaone4",    "a.x-4.0",      "mellum",      NULL,
};
static const char *const names_llama3[] = {
    "llama3", "llama-bpe", "llama-v3", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", NULL,
};
static const char *const names_dbrx[] = { "dbrx", "smaug-bpe", NULL };
static const char *const names_chatglm[] = { "chatglm-bpe", "glm4", NULL };
static const char *const names_smollm[] = {
    "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b", NULL,
};
static const char *const names_qwen2[] = {
    "qwen2", "deepseek-r1-qwen", "stablelm2", "megrez", "hunyuan", NULL,
};
static const char *const names_falcon[] = { "falcon", NULL };
static const char *const names_deepseek_coder[] = { "deepseek-coder", NULL };
static const char *const names_deepseek3[] = { "deepseek-v3", NULL };
static const char *const names_gpt4o[] = { "gpt-4o", "llama4", NULL };
static const char *const names_tekken[] = { "tekken", NULL };

static const struct tok_pre pre_table[] = {
    {
        names_default,
        { "[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]" },
        false,
        false,
        false,
    },
    { names_gpt2, { RE_GPT2 }, false, false, false },
    { names_llama3, { RE_LLAMA3 }, true, true, false },
    { names_dbrx, { RE_LLAMA3 }, false, false, false },
    { names_chatglm, { RE_LLAMA3 }, false, false, true },
    { names_smollm, { "\\p{N}", RE_GPT2 }, false, false, false },
    { names_qwen2, { RE_QWEN2 }, false, false, false },
    {
        names_falcon,
        { "[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]" },
        false,
        false,
        false,
    },
    {
        names_deepseek_coder,
        { "[\\r\\n]", "[" WS "]?\\p{L}+", "[" WS "]?\\p{P}+",
          "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+", "\\p{N}" },
        false,
        false,
        false,
    },
    {
        names_deepseek3,
        { "\\p{N}{1,3}", "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
          RE_DEEPSEEK3_MAIN },
        false,
        false,
        false,
    },
    { names_gpt4o, { RE_GPT4O }, false, false, false },
    { names_tekken, { RE_TEKKEN }, true, true, false },
};

const struct tok_pre *tok_pre_find(const char *name)
{
    if (!name || !*name)
        name = "default";
    for (size_t i = 0; i < MB_ARRAY_LEN(pre_table); i++)
        for (const char *const *n = pre_table[i].names; *n; n++)
            if (!strcmp(*n, name))
                return &pre_table[i];
    return NULL;
}

static const char *all_names[96];
static pthread_once_t all_names_once = PTHREAD_ONCE_INIT;

static void collect_names(void)
{
    size_t k = 0;
    for (size_t i = 0; i < MB_ARRAY_LEN(pre_table); i++)
        for (const char *const *n = pre_table[i].names; *n && k + 1 < MB_ARRAY_LEN(all_names); n++)
            all_names[k++] = *n;
    all_names[k] = NULL;
}

const char *const *mb_tokenizer_pre_names(void)
{
    pthread_once(&all_names_once, collect_names);
    return all_names;
}

/* PCRE2 allocates through the project's allocator (fault injection reaches it). */
static void *re_malloc(PCRE2_SIZE n, void *ud)
{
    (void)ud;
    return mb_malloc(n);
}

static void re_free(void *p, void *ud)
{
    (void)ud;
    mb_free(p);
}

int tok_regexes_compile(struct tok_regexes *r, const struct tok_pre *pre, struct mb_err *err)
{
    memset(r, 0, sizeof(*r));
    pcre2_general_context *gc = pcre2_general_context_create(re_malloc, re_free, NULL);
    if (!gc)
        return mb_fail(err, MB_E_NOMEM, "tokenizer: out of memory compiling regexes");
    pcre2_compile_context *cc = pcre2_compile_context_create(gc);
    if (!cc) {
        pcre2_general_context_free(gc);
        return mb_fail(err, MB_E_NOMEM, "tokenizer: out of memory compiling regexes");
    }
    int rc = 0;
    for (size_t i = 0; i < TOK_PRE_MAX_REGEX && pre->regex[i]; i++) {
        int ecode;
        PCRE2_SIZE eoff;
        pcre2_code *code =
            pcre2_compile((PCRE2_SPTR)pre->regex[i], PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &ecode, &eoff, cc);
        if (!code && (ecode == PCRE2_ERROR_HEAP_FAILED || ecode == PCRE2_ERROR_NOMEMORY)) {
            rc = mb_fail(err, MB_E_NOMEM, "tokenizer: out of memory compiling regexes");
            break;
        }
        if (!code) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(ecode, msg, sizeof(msg));
            rc = mb_fail(err, MB_E_INTERNAL,
                         "tokenizer: pre-tokenizer '%s' regex %zu at offset %zu: %s", pre->names[0],
                         i, (size_t)eoff, (const char *)msg);
            break;
        }
        /* JIT makes matching several times faster; without it the interpreter is used. */
        (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
        r->code[r->n++] = code;
    }
    pcre2_compile_context_free(cc);
    pcre2_general_context_free(gc);
    if (rc)
        tok_regexes_release(r);
    return rc;
}

void tok_regexes_release(struct tok_regexes *r)
{
    for (size_t i = 0; i < r->n; i++)
        pcre2_code_free(r->code[i]);
    r->n = 0;
}

void tok_spans_release(struct tok_spans *s)
{
    mb_free(s->v);
    memset(s, 0, sizeof(*s));
}

static int spans_push(struct tok_spans *s, size_t off, size_t len, struct mb_err *err)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct tok_span *v = mb_reallocarray(s->v, cap, sizeof(*v));
        if (!v)
            return mb_fail(err, MB_E_NOMEM, "tokenizer: out of memory splitting text");
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n].off = (uint32_t)off;
    s->v[s->n].len = (uint32_t)len;
    s->n++;
    return 0;
}

/* The length of the UTF-8 character at p (text is valid UTF-8 here). */
static size_t char_len(const char *p)
{
    return tok_utf8_len((unsigned char)*p);
}

/* Split each span of `in` with one regex, appending the pieces to `out`. */
static int split_one(const pcre2_code *code, pcre2_match_data *md, const char *text,
                     const struct tok_spans *in, struct tok_spans *out, struct mb_err *err)
{
    for (size_t s = 0; s < in->n; s++) {
        const char *subj = text + in->v[s].off;
        size_t n = in->v[s].len;
        size_t pos = 0, last = 0;
        while (pos < n) {
            int m = pcre2_match(code, (PCRE2_SPTR)subj, n, pos, PCRE2_NO_UTF_CHECK, md, NULL);
            if (m == PCRE2_ERROR_NOMATCH)
                break;
            if (m == PCRE2_ERROR_NOMEMORY || m == PCRE2_ERROR_HEAP_FAILED)
                return mb_fail(err, MB_E_NOMEM, "tokenizer: out of memory matching a regex");
            if (m < 0) {
                PCRE2_UCHAR msg[160];
                pcre2_get_error_message(m, msg, sizeof(msg));
                return mb_fail(err, MB_E_INTERNAL, "tokenizer: regex match failed: %s",
                               (const char *)msg);
            }
            const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            size_t ms = ov[0], me = ov[1];
            if (me == ms) { /* an empty match: step over one character */
                pos = ms + char_len(subj + ms);
                continue;
            }
            int rc = 0;
            if (ms > last)
                rc = spans_push(out, in->v[s].off + last, ms - last, err);
            if (!rc)
                rc = spans_push(out, in->v[s].off + ms, me - ms, err);
            if (rc)
                return rc;
            last = pos = me;
        }
        if (last < n) {
            int rc = spans_push(out, in->v[s].off + last, n - last, err);
            if (rc)
                return rc;
        }
    }
    return 0;
}

int tok_regex_split(const struct tok_regexes *r, const char *text, size_t len,
                    struct tok_spans *out, struct mb_err *err)
{
    if (len > UINT32_MAX)
        return mb_fail(err, MB_E_LIMIT, "tokenizer: text of %zu bytes is too long", len);
    out->n = 0;
    if (len == 0)
        return 0;
    int rc = spans_push(out, 0, len, err);
    if (rc)
        return rc;
    if (r->n == 0)
        return 0;
    pcre2_general_context *gc = pcre2_general_context_create(re_malloc, re_free, NULL);
    if (!gc)
        return mb_fail(err, MB_E_NOMEM, "tokenizer: out of memory splitting text");
    pcre2_match_data *md = pcre2_match_data_create(4, gc);
    struct tok_spans tmp = { 0 };
    if (!md) {
        rc = mb_fail(err, MB_E_NOMEM, "tokenizer: out of memory splitting text");
        goto done;
    }
    for (size_t i = 0; i < r->n && !rc; i++) {
        tmp.n = 0;
        rc = split_one(r->code[i], md, text, out, &tmp, err);
        if (!rc) {
            struct tok_spans swap = *out;
            *out = tmp;
            tmp = swap;
        }
    }
done:
    pcre2_match_data_free(md);
    pcre2_general_context_free(gc);
    tok_spans_release(&tmp);
    return rc;
}
