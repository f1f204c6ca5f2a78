/*
 * fuzz_tokenizer.c - libFuzzer target for the tokenizer: arbitrary bytes are
 * encoded with a small byte-level BPE vocabulary (pre-tokenizer chosen by the
 * first input byte, special tokens parsed or not) and a small SentencePiece
 * one, then decoded whole and through the streaming decoder. Checks: no crash,
 * decode(encode(x)) == x for well-formed UTF-8, and the stream only ever emits
 * valid UTF-8.
 */
#include "mb_tokenizer.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const pres[] = { "smollm",      "gpt-2",   "llama-bpe",
                                    "qwen2",       "default", "deepseek-coder",
                                    "deepseek-v3", "gpt-4o",  "falcon" };

static struct mb_tokenizer *bpe[sizeof(pres) / sizeof(pres[0])];
static struct mb_tokenizer *spm;

/* GPT-2's byte map as UTF-8 (independent of the code under test). */
static size_t byte_char(int b, char out[2])
{
    unsigned cp = (unsigned)b;
    if (b <= 0x20)
        cp = 0x100u + (unsigned)b;
    else if (b >= 0x7f && b <= 0xa0)
        cp = 0x121u + (unsigned)(b - 0x7f);
    else if (b == 0xad)
        cp = 0x143u;
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xc0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
}

static void build(void)
{
    static char bytes[256][8];
    static struct mb_str tokens[256 + 8];
    static int32_t types[256 + 8];
    static const char *const extra[] = { "he",         "ll",     "hell",      "<|im_start|>",
                                         "<|im_end|>", "<tool>", "\xc4\xa0t", "\xc4\xa0th" };
    static const int32_t extra_types[] = { 1, 1, 1, 3, 3, 4, 1, 1 };
    static const char *const merges_s[] = { "h e", "l l", "he ll", "\xc4\xa0 t", "\xc4\xa0t h" };
    struct mb_str merges[5];
    for (int b = 0; b < 256; b++) {
        size_t n = byte_char(b, bytes[b]);
        tokens[b] = (struct mb_str){ bytes[b], n };
        types[b] = MB_TOK_TYPE_NORMAL;
    }
    for (size_t i = 0; i < 8; i++) {
        tokens[256 + i] = mb_str_from(extra[i]);
        types[256 + i] = extra_types[i];
    }
    for (size_t i = 0; i < 5; i++)
        merges[i] = mb_str_from(merges_s[i]);
    for (size_t p = 0; p < sizeof(pres) / sizeof(pres[0]); p++) {
        struct mb_tokenizer_spec spec;
        mb_tokenizer_spec_init(&spec);
        spec.model = "gpt2";
        spec.pre = pres[p];
        spec.tokens = tokens;
        spec.n_tokens = 264;
        spec.types = types;
        spec.merges = merges;
        spec.n_merges = 5;
        spec.bos_id = 256 + 3;
        spec.eos_id = 256 + 4;
        if (mb_tokenizer_new(&spec, &bpe[p], NULL))
            __builtin_trap();
    }
    /* SentencePiece: <unk> <s> </s>, byte tokens, a few pieces with scores */
    static struct mb_str st[3 + 256 + 5];
    static int32_t sty[3 + 256 + 5];
    static float ssc[3 + 256 + 5];
    static char sbytes[256][8];
    /* "\u2581" itself is a token, as in every real SentencePiece vocabulary */
    static const char *const sp[] = { "\xe2\x96\x81th", "\xe2\x96\x81the", "he", "\xe2\x96\x81",
                                      "<|u|>" };
    st[0] = mb_str_from("<unk>");
    st[1] = mb_str_from("<s>");
    st[2] = mb_str_from("</s>");
    sty[0] = MB_TOK_TYPE_UNKNOWN;
    sty[1] = sty[2] = MB_TOK_TYPE_CONTROL;
    for (int b = 0; b < 256; b++) {
        snprintf(sbytes[b], sizeof(sbytes[b]), "<0x%02X>", (unsigned)b);
        st[3 + b] = mb_str_from(sbytes[b]);
        sty[3 + b] = MB_TOK_TYPE_BYTE;
    }
    for (int i = 0; i < 5; i++) {
        st[259 + i] = mb_str_from(sp[i]);
        sty[259 + i] = i == 4 ? MB_TOK_TYPE_USER_DEFINED : MB_TOK_TYPE_NORMAL;
        ssc[259 + i] = -(float)i;
    }
    struct mb_tokenizer_spec spec;
    mb_tokenizer_spec_init(&spec);
    spec.model = "llama";
    spec.tokens = st;
    spec.n_tokens = 264;
    spec.types = sty;
    spec.scores = ssc;
    if (mb_tokenizer_new(&spec, &spm, NULL))
        __builtin_trap();
}

/* Strictly valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF). */
static bool valid_utf8(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint8_t c = p[i];
        size_t len;
        uint8_t lo = 0x80, hi = 0xbf;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            lo = c == 0xe0 ? 0xa0 : 0x80;
            hi = c == 0xed ? 0x9f : 0xbf;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            lo = c == 0xf0 ? 0x90 : 0x80;
            hi = c == 0xf4 ? 0x8f : 0xbf;
        } else {
            return false;
        }
        if (i + len > n || p[i + 1] < lo || p[i + 1] > hi)
            return false;
        for (size_t k = 2; k < len; k++)
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
        i += len;
    }
    return true;
}

static void run(const struct mb_tokenizer *tok, const uint8_t *text, size_t n, unsigned flags,
                bool expect_roundtrip)
{
    struct mb_tokens ids;
    mb_tokens_init(&ids, n * 3 + 16);
    if (mb_tokenizer_encode(tok, (const char *)text, n, flags, &ids, NULL)) {
        mb_tokens_release(&ids);
        return; /* only out of memory can fail here */
    }
    struct mb_buf out;
    mb_buf_init(&out, n * 16 + 64);
    size_t skip = (flags & MB_TOK_ADD_SPECIAL) && ids.n && ids.v[0] == mb_tokenizer_bos(tok) &&
                          mb_tokenizer_adds_bos(tok)
                      ? 1
                      : 0;
    unsigned df = (flags & MB_TOK_PARSE_SPECIAL) ? MB_DETOK_SPECIAL : 0;
    if (ids.n && mb_tokenizer_decode(tok, ids.v + skip, ids.n - skip, df, &out, NULL))
        __builtin_trap();
    if (expect_roundtrip && (out.n != n || (n && memcmp(out.p, text, n))))
        __builtin_trap();
    struct mb_detok_stream st;
    mb_detok_stream_init(&st, tok, df);
    mb_buf_reset(&out);
    for (size_t i = 0; i < ids.n; i++)
        if (mb_detok_stream_push(&st, ids.v[i], &out, NULL))
            __builtin_trap();
    if (mb_detok_stream_flush(&st, &out, NULL))
        __builtin_trap();
    if (!valid_utf8((const uint8_t *)out.p, out.n))
        __builtin_trap();
    mb_buf_release(&out);
    mb_tokens_release(&ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!spm)
        build();
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    const uint8_t *text = data + 1;
    size_t n = size - 1;
    unsigned flags = sel & 3u;
    bool utf8 = valid_utf8(text, n);
    const struct mb_tokenizer *tok = bpe[(sel >> 2) % (sizeof(pres) / sizeof(pres[0]))];
    run(tok, text, n, flags, utf8);
    /* SentencePiece loses a literal U+2581 (it is its space marker), and an escaped
     * space after a broken UTF-8 lead byte is cut into bytes (as in llama.cpp) */
    bool lower_block = memmem(text, n, "\xe2\x96\x81", 3) != NULL;
    run(spm, text, n, flags, utf8 && !lower_block);
    return 0;
}
