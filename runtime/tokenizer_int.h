/*
 * tokenizer_int.h - internals shared by the tokenizer's files (tokenizer.c: the
 * vocabulary, special tokens and decoding; tok_map.c: the string hash map;
 * tok_pretok.c: pre-tokenizer regexes; tok_bpe.c and tok_spm.c: the two merge
 * algorithms). Nothing outside runtime/tokenizer*.c and tok_*.c includes it.
 */
#ifndef MB_TOKENIZER_INT_H
#define MB_TOKENIZER_INT_H

#include "mb_tokenizer.h"

/* ------------------------------------------------------------ hash map */

/*
 * An open-addressing map from byte strings to indexes into a caller-owned key
 * array (struct mb_str keys[]): the map stores only `index + 1` per slot. A key
 * may be looked up as one string or as the pair "a b" (a, one space, b) without
 * building the pair, which is how BPE merges are keyed.
 */
struct tok_map {
    uint32_t *slots;
    size_t mask;
};

int tok_map_init(struct tok_map *m, size_t n_keys, struct mb_err *err);
void tok_map_release(struct tok_map *m);
/* Insert keys[idx]. Returns -1 when inserted, else the index already holding that key. */
int64_t tok_map_insert(struct tok_map *m, const struct mb_str *keys, uint32_t idx);
/* The index of the key equal to a (b == NULL) or to "a b"; -1 when absent. */
int64_t tok_map_find(const struct tok_map *m, const struct mb_str *keys, const char *a, size_t an,
                     const char *b, size_t bn);

/* ------------------------------------------------------------ pre-tokenizers */

#define TOK_PRE_MAX_REGEX 6

/* One named pre-tokenizer: regexes applied in sequence and flags llama.cpp ties to it. */
struct tok_pre {
    const char *const *names; /* NULL-terminated aliases; names[0] is the canonical one */
    const char *regex[TOK_PRE_MAX_REGEX];
    bool ignore_merges; /* a piece that is a whole token is emitted without merging */
    bool add_bos;       /* default for add_bos (the GGUF key overrides it) */
    bool no_bos;        /* the model has no BOS token by default (chatglm) */
};

const struct tok_pre *tok_pre_find(const char *name);

/* Compiled regexes of a pre-tokenizer (PCRE2 handles, opaque here). */
struct tok_regexes {
    void *code[TOK_PRE_MAX_REGEX];
    size_t n;
};
int tok_regexes_compile(struct tok_regexes *r, const struct tok_pre *pre, struct mb_err *err);
void tok_regexes_release(struct tok_regexes *r);

/* A piece of text: byte offset and length. */
struct tok_span {
    uint32_t off;
    uint32_t len;
};

/* A growable list of spans (scratch for one encode call). */
struct tok_spans {
    struct tok_span *v;
    size_t n;
    size_t cap;
};
void tok_spans_release(struct tok_spans *s);

/*
 * Split valid UTF-8 `text` with the regexes in sequence, as llama.cpp does: each
 * regex runs separately on every span the previous one produced, and both its
 * matches and the text between them become spans. The result replaces *out.
 */
int tok_regex_split(const struct tok_regexes *r, const char *text, size_t len,
                    struct tok_spans *out, struct mb_err *err);

/* ------------------------------------------------------------ the tokenizer */

/* Attribute bits beyond the token type (llama.cpp's token attributes). */
enum {
    TOK_ATTR_NORMAL = 1u << 0,
    TOK_ATTR_UNKNOWN = 1u << 1,
    TOK_ATTR_CONTROL = 1u << 2,
    TOK_ATTR_USER = 1u << 3,
    TOK_ATTR_UNUSED = 1u << 4,
    TOK_ATTR_BYTE = 1u << 5,
    TOK_ATTR_EOG = 1u << 6,
};

struct mb_tokenizer {
    enum mb_tok_model model;
    const struct tok_pre *pre; /* BPE only */
    struct tok_regexes re;
    size_t n;
    struct mb_str *text; /* token texts (in arena) */
    float *score;
    uint8_t *type; /* enum mb_tok_type */
    uint8_t *attr; /* TOK_ATTR_* */
    struct tok_map vocab;
    struct mb_str *merge; /* merge strings "l r" (in arena), n_merges of them */
    size_t n_merges;
    struct tok_map merges;
    /* Tokens cut out before the algorithm runs, longest text first. */
    int32_t *special;
    size_t n_special;
    /* Decoded pieces (special tokens rendered): piece i is piece_data[piece_off[i]..[i+1]). */
    char *piece_data;
    uint32_t *piece_off;
    /* BPE: the token of each byte's byte-level character; SPM: of "<0xNN>". */
    int32_t byte_token[256];
    int32_t bos, eos, eot, eom, unk, pad;
    bool add_bos, add_eos, add_space_prefix;
    bool ignore_merges;
    char model_name[8];
    char pre_name[32];
    struct mb_arena arena;
};

/* The byte-level (GPT-2) encoding of byte b as UTF-8: 1 or 2 bytes in out, returns the count. */
size_t tok_byte_encode(unsigned char b, char out[2]);
/* The byte a byte-level code point stands for, or -1. */
int tok_byte_decode(uint32_t cp);

/* Decode one UTF-8 sequence the way llama.cpp does (lenient: accepts overlong forms and
 * surrogates); returns its length and the code point, or 0 when invalid at `p`. */
size_t tok_utf8_decode(const unsigned char *p, size_t n, uint32_t *cp);
/* Encode a code point (<= 0x10FFFF) as UTF-8 into out; returns the length. */
size_t tok_utf8_encode(uint32_t cp, char out[4]);
/* The length of the UTF-8 sequence a lead byte announces (1 for continuation bytes). */
size_t tok_utf8_len(unsigned char lead);

/* Append one id, with the output cap checked. */
static inline int tok_emit(struct mb_tokens *out, int32_t id, struct mb_err *err)
{
    return mb_tokens_push(out, id, err);
}

/* The two algorithms: tokenize one raw-text fragment (no special tokens in it). */
int tok_bpe_encode(const struct mb_tokenizer *tok, const char *text, size_t len,
                   struct mb_tokens *out, struct mb_err *err);
int tok_spm_encode(const struct mb_tokenizer *tok, const char *text, size_t len,
                   struct mb_tokens *out, struct mb_err *err);

#endif /* MB_TOKENIZER_INT_H */
