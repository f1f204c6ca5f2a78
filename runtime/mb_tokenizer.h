/*
 * mb_tokenizer.h - text <-> token ids for the vocabularies GGUF files carry in
 * their `tokenizer.ggml.*` keys, bit-for-bit the way llama.cpp tokenizes them:
 *
 *  - "gpt2": GPT-2 style byte-level BPE. The text is first cut into pieces by
 *    the pre-tokenizer named in `tokenizer.ggml.pre` (a list of PCRE2 regexes
 *    applied in sequence, see docs/tokenizer.md), each piece is byte-encoded and
 *    merged by merge rank.
 *  - "llama": SentencePiece-style vocabularies: spaces become U+2581, symbols
 *    are merged by token score, unknown bytes fall back to <0xNN> tokens.
 *
 * In both, control / user-defined tokens (token types 3 and 4) are cut out of
 * the text before the model's algorithm runs (control tokens only when the
 * caller asks to parse special tokens), and BOS/EOS are added as the vocabulary
 * says (`tokenizer.ggml.add_bos_token`, `add_eos_token`).
 *
 * Lifecycle: build a tokenizer from plain arrays (mb_tokenizer_new) or from an
 * open GGUF file (mb_tokenizer_load_gguf); it copies what it needs, so the
 * arrays or the file may go away afterwards. A built tokenizer is immutable:
 * encoding and decoding are safe from several threads at once.
 *
 * Errors: every fallible call returns 0 or a negative MB_E_* code and fills
 * `err` (which may be NULL): MB_E_FORMAT for a malformed vocabulary,
 * MB_E_UNSUPPORTED for an unknown tokenizer model or pre-tokenizer,
 * MB_E_LIMIT when an output cap is reached, MB_E_NOMEM.
 */
#ifndef MB_TOKENIZER_H
#define MB_TOKENIZER_H

#include "mb_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Token types of `tokenizer.ggml.token_type` (the values llama.cpp's converters write). */
enum mb_tok_type {
    MB_TOK_TYPE_UNDEFINED = 0,
    MB_TOK_TYPE_NORMAL = 1,
    MB_TOK_TYPE_UNKNOWN = 2,
    MB_TOK_TYPE_CONTROL = 3,
    MB_TOK_TYPE_USER_DEFINED = 4,
    MB_TOK_TYPE_UNUSED = 5,
    MB_TOK_TYPE_BYTE = 6,
};

/* The tokenizer algorithm (`tokenizer.ggml.model`). */
enum mb_tok_model {
    MB_TOK_MODEL_BPE = 1, /* "gpt2" */
    MB_TOK_MODEL_SPM = 2, /* "llama" */
};

/* "No token": an absent special token, a failed lookup. */
#define MB_TOKEN_NONE (-1)
/* In struct mb_tokenizer_spec: "not given, use the model's default". */
#define MB_TOK_SPEC_DEFAULT (-2)

/* Upper bounds on what a vocabulary may hold (hostile files cannot exhaust memory). */
#define MB_TOK_MAX_TOKENS  (1u << 22) /* 4M tokens */
#define MB_TOK_MAX_MERGES  (1u << 23)
#define MB_TOK_MAX_TEXTLEN 4096 /* bytes in one token's text */

/*
 * A vocabulary as plain arrays, borrowed for the duration of mb_tokenizer_new().
 * Initialise with mb_tokenizer_spec_init() (everything "default"), then fill.
 */
struct mb_tokenizer_spec {
    const char *model;           /* "gpt2" or "llama" (required) */
    const char *pre;             /* pre-tokenizer name; NULL or "" = "default" (BPE only) */
    const struct mb_str *tokens; /* token texts, n_tokens of them (required) */
    size_t n_tokens;
    const float *scores;         /* per token, or NULL (all 0) */
    const int32_t *types;        /* enum mb_tok_type per token, or NULL (all normal) */
    const struct mb_str *merges; /* "left right" strings in rank order (BPE only) */
    size_t n_merges;
    /* Special token ids: MB_TOK_SPEC_DEFAULT = the model's default, MB_TOKEN_NONE = none.
     * Ids outside the vocabulary are ignored (the default is kept), as llama.cpp does. */
    int64_t bos_id, eos_id, eot_id, eom_id, unk_id, pad_id;
    /* Booleans: -1 = the model's default, else 0 or 1. */
    int add_bos, add_eos, add_space_prefix;
};

void mb_tokenizer_spec_init(struct mb_tokenizer_spec *spec);

struct mb_tokenizer;

/*
 * Build a tokenizer from `spec` (copied). On success *out owns a new tokenizer
 * the caller frees with mb_tokenizer_free(). Fails with MB_E_FORMAT on empty or
 * duplicate token texts, bad types, malformed merges or a BOS that must be added
 * but does not exist; MB_E_UNSUPPORTED on an unknown model or pre-tokenizer name
 * (the message lists the known ones).
 */
int mb_tokenizer_new(const struct mb_tokenizer_spec *spec, struct mb_tokenizer **out,
                     struct mb_err *err);
void mb_tokenizer_free(struct mb_tokenizer *tok);

/* The names of the pre-tokenizers this build knows, NULL-terminated (for messages and docs). */
const char *const *mb_tokenizer_pre_names(void);

/* ------------------------------------------------------------ encoding */

/* A growable list of token ids with a cap (like struct mb_buf). */
struct mb_tokens {
    int32_t *v;
    size_t n;
    size_t cap;
    size_t max; /* appending past `max` ids fails with MB_E_LIMIT */
};
void mb_tokens_init(struct mb_tokens *t, size_t max);
void mb_tokens_release(struct mb_tokens *t);
int mb_tokens_push(struct mb_tokens *t, int32_t id, struct mb_err *err);

enum {
    /* Add BOS/EOS when the vocabulary asks for them (llama.cpp's add_special). */
    MB_TOK_ADD_SPECIAL = 1u << 0,
    /* Recognise the text of control tokens ("<|im_start|>") as those tokens. Without it
     * only user-defined tokens are; control-token text is tokenized as plain text. */
    MB_TOK_PARSE_SPECIAL = 1u << 1,
};

/*
 * Tokenize `len` bytes of `text` (any bytes; invalid UTF-8 is handled as llama.cpp
 * does: each bad byte becomes U+FFFD for BPE vocabularies) and append the ids to
 * `out`. `flags` is a set of MB_TOK_*. On error `out` may hold part of the result.
 */
int mb_tokenizer_encode(const struct mb_tokenizer *tok, const char *text, size_t len,
                        unsigned flags, struct mb_tokens *out, struct mb_err *err);

/* ------------------------------------------------------------ decoding */

enum {
    /* Render control and unknown tokens as their text ("<|im_end|>"); without it they
     * decode to nothing (user-defined tokens always decode to their text). */
    MB_DETOK_SPECIAL = 1u << 0,
};

/*
 * The bytes token `id` decodes to, as a view into the tokenizer (valid until it
 * is freed): byte-level BPE text mapped back to bytes, U+2581 back to a space,
 * <0xNN> to its byte. Control/unknown tokens give their text when `special`,
 * else nothing. An id outside the vocabulary gives an empty view.
 */
struct mb_str mb_tokenizer_piece(const struct mb_tokenizer *tok, int32_t id, bool special);

/*
 * Append the text of `n` ids to `out`. For SentencePiece vocabularies that add a
 * space prefix when encoding, the space the encoder added at the start of the
 * text (and after each special token) is removed again, so decoding the ids of a
 * text gives the text back. Fails with MB_E_FORMAT on an id outside the vocabulary.
 */
int mb_tokenizer_decode(const struct mb_tokenizer *tok, const int32_t *ids, size_t n,
                        unsigned flags, struct mb_buf *out, struct mb_err *err);

/*
 * A streaming decoder for generation: push ids one at a time and it appends only
 * complete UTF-8 characters to `out`, holding back the first bytes of a character
 * whose remaining bytes have not arrived yet. Invalid bytes come out as U+FFFD.
 * mb_detok_stream_flush() ends the stream (held bytes come out as U+FFFD).
 * The struct holds no allocation; it borrows `tok`.
 */
struct mb_detok_stream {
    const struct mb_tokenizer *tok;
    unsigned flags;
    bool at_start; /* strip the SentencePiece prefix space from the next piece */
    unsigned char pend[4];
    size_t npend;
};
void mb_detok_stream_init(struct mb_detok_stream *s, const struct mb_tokenizer *tok,
                          unsigned flags);
int mb_detok_stream_push(struct mb_detok_stream *s, int32_t id, struct mb_buf *out,
                         struct mb_err *err);
int mb_detok_stream_flush(struct mb_detok_stream *s, struct mb_buf *out, struct mb_err *err);

/* ------------------------------------------------------------ vocabulary */

size_t mb_tokenizer_n_tokens(const struct mb_tokenizer *tok);
enum mb_tok_model mb_tokenizer_model(const struct mb_tokenizer *tok);
/* "gpt2" / "llama", and the pre-tokenizer name in use ("smollm"; "" for SPM). */
const char *mb_tokenizer_model_name(const struct mb_tokenizer *tok);
const char *mb_tokenizer_pre_name(const struct mb_tokenizer *tok);

/* The vocabulary text of a token (a view; empty for an id outside the vocabulary). */
struct mb_str mb_tokenizer_text(const struct mb_tokenizer *tok, int32_t id);
/* The type of a token (MB_TOK_TYPE_UNDEFINED for an id outside the vocabulary). */
enum mb_tok_type mb_tokenizer_type(const struct mb_tokenizer *tok, int32_t id);
/* The exact token whose text is `text`, or MB_TOKEN_NONE. */
int32_t mb_tokenizer_find(const struct mb_tokenizer *tok, const char *text, size_t len);

/* Special tokens (MB_TOKEN_NONE when absent). EOT is the end-of-turn token. */
int32_t mb_tokenizer_bos(const struct mb_tokenizer *tok);
int32_t mb_tokenizer_eos(const struct mb_tokenizer *tok);
int32_t mb_tokenizer_eot(const struct mb_tokenizer *tok);
int32_t mb_tokenizer_unk(const struct mb_tokenizer *tok);
bool mb_tokenizer_adds_bos(const struct mb_tokenizer *tok);
bool mb_tokenizer_adds_eos(const struct mb_tokenizer *tok);
/* True for tokens that end generation: EOS, EOT, EOM and the end-of-turn texts
 * llama.cpp recognises ("<|im_end|>", "<|eot_id|>", "<|endoftext|>", ...). */
bool mb_tokenizer_is_eog(const struct mb_tokenizer *tok, int32_t id);
/* True for control and unknown tokens (those hidden unless MB_DETOK_SPECIAL). */
bool mb_tokenizer_is_special(const struct mb_tokenizer *tok, int32_t id);

/* ------------------------------------------------------------ GGUF */

struct mb_gguf;

/*
 * Build the tokenizer of an open GGUF file from its `tokenizer.ggml.*` keys.
 * `pre_override` (may be NULL) replaces `tokenizer.ggml.pre`. Fails with
 * MB_E_NOTFOUND when the file has no vocabulary, MB_E_FORMAT when a key has the
 * wrong type or length, and as mb_tokenizer_new() otherwise; messages name the key.
 */
int mb_tokenizer_load_gguf(const struct mb_gguf *gguf, const char *pre_override,
                           struct mb_tokenizer **out, struct mb_err *err);

#ifdef __cplusplus
}
#endif

#endif /* MB_TOKENIZER_H */
