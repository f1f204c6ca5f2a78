/*
 * tokenizer.c - the tokenizer object: building it from a vocabulary (token
 * texts, types, scores, merges, special ids), the special-token rules llama.cpp
 * applies on load (end-of-generation detection by text, forced control type),
 * cutting special tokens out of the text before the BPE or SentencePiece
 * algorithm runs, and decoding (whole sequences and the UTF-8-safe stream).
 * The algorithms themselves are in tok_bpe.c and tok_spm.c.
 */
#include "tokenizer_int.h"

/* ------------------------------------------------------------ small lists */

void mb_tokens_init(struct mb_tokens *t, size_t max)
{
    memset(t, 0, sizeof(*t));
    t->max = max;
}

void mb_tokens_release(struct mb_tokens *t)
{
    mb_free(t->v);
    t->v = NULL;
    t->n = t->cap = 0;
}

int mb_tokens_push(struct mb_tokens *t, int32_t id, struct mb_err *err)
{
    if (t->n >= t->max)
        return mb_fail(err, MB_E_LIMIT, "tokenizer: more than %zu tokens", t->max);
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        if (cap > t->max)
            cap = t->max;
        int32_t *v = mb_reallocarray(t->v, cap, sizeof(*v));
        if (!v)
            return mb_fail(err, MB_E_NOMEM, "tokenizer: out of memory for %zu tokens", cap);
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n++] = id;
    return 0;
}

/* ------------------------------------------------------------ UTF-8 */

size_t tok_utf8_len(unsigned char lead)
{
    static const unsigned char len[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4 };
    return len[lead >> 4];
}

size_t tok_utf8_decode(const unsigned char *p, size_t n, uint32_t *cp)
{
    unsigned char c = p[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v;
    if ((c & 0x40) == 0)
        return 0; /* a continuation byte */
    if ((c & 0x20) == 0) {
        len = 2;
        v = c & 0x1fu;
    } else if ((c & 0x10) == 0) {
        len = 3;
        v = c & 0x0fu;
    } else if ((c & 0x08) == 0) {
        len = 4;
        v = c & 0x07u;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (p[i] & 0x3fu);
    }
    if (v > 0x10ffff)
        return 0;
    *cp = v;
    return len;
}

size_t tok_utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* ------------------------------------------------------------ building */

void mb_tokenizer_spec_init(struct mb_tokenizer_spec *spec)
{
    memset(spec, 0, sizeof(*spec));
    spec->bos_id = spec->eos_id = spec->eot_id = spec->eom_id = MB_TOK_SPEC_DEFAULT;
    spec->unk_id = spec->pad_id = MB_TOK_SPEC_DEFAULT;
    spec->add_bos = spec->add_eos = spec->add_space_prefix = -1;
}

/* Texts llama.cpp treats as end of turn (in order of preference for EOT). */
static const char *const eot_texts[] = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<\357\275\234end\342\226\201of\342\226\201sentence\357\275\234>", /* DeepSeek */
    "<end_of_utterance>",
    "<|endoftext|>",
};

/* Texts of tokens that end generation (llama.cpp's special_eog_ids by text). */
static const char *const eog_texts[] = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<\357\275\234end\342\226\201of\342\226\201sentence\357\275\234>", /* DeepSeek */
    /* fill-in-the-middle pad / repo / file separator tokens */
    "<|fim_pad|>",
    "<fim-pad>",
    "<fim_pad>",
    "<PAD>",
    "[PAD]",
    "<|fim_repo|>",
    "<|repo_name|>",
    "<fim-repo>",
    "<REPO>",
    "<reponame>",
    "<|file_sep|>",
};

/* Other texts llama.cpp forces to control type (fill-in-the-middle markers). */
static const char *const control_texts[] = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<PRE>", "\xe2\x96\x81<PRE>",
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<SUF>", "\xe2\x96\x81<SUF>",
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<MID>", "\xe2\x96\x81<MID>",
};

static int32_t find_cstr(const struct mb_tokenizer *tok, const char *s)
{
    int64_t id = tok_map_find(&tok->vocab, tok->text, s, strlen(s), NULL, 0);
    return id < 0 ? MB_TOKEN_NONE : (int32_t)id;
}

static uint8_t attr_of_type(int32_t type)
{
    switch (type) {
    case MB_TOK_TYPE_NORMAL:
        return TOK_ATTR_NORMAL;
    case MB_TOK_TYPE_UNKNOWN:
        return TOK_ATTR_UNKNOWN;
    case MB_TOK_TYPE_CONTROL:
        return TOK_ATTR_CONTROL;
    case MB_TOK_TYPE_USER_DEFINED:
        return TOK_ATTR_USER;
    case MB_TOK_TYPE_UNUSED:
        return TOK_ATTR_UNUSED;
    case MB_TOK_TYPE_BYTE:
        return TOK_ATTR_BYTE;
    default:
        return 0; /* undefined: decodes to nothing, never matched as special */
    }
}

/* Apply a spec id over a default: ids outside the vocabulary are ignored. */
static int32_t pick_id(int64_t given, int32_t dflt, size_t n)
{
    if (dflt >= 0 && (size_t)dflt >= n)
        dflt = MB_TOKEN_NONE;
    if (given == MB_TOKEN_NONE)
        return MB_TOKEN_NONE;
    if (given >= 0 && (uint64_t)given < n)
        return (int32_t)given;
    return dflt;
}

/* Parse "<0xNN>" (as written by the converters); -1 when the text is not one. */
static int parse_byte_token(struct mb_str t)
{
    if (t.n != 6 || memcmp(t.p, "<0x", 3) != 0 || t.p[5] != '>')
        return -1;
    uint8_t b;
    char hex[3] = { t.p[3], t.p[4], 0 };
    if (!mb_hex_decode(hex, &b, 1))
        return -1;
    return b;
}

/* The decoded bytes of token id with special tokens rendered (the piece cache entry). */
static int build_piece(const struct mb_tokenizer *tok, size_t id, struct mb_buf *out,
                       struct mb_err *err)
{
    struct mb_str t = tok->text[id];
    uint8_t a = tok->attr[id];
    if (a & (TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL | TOK_ATTR_USER))
        return mb_buf_append(out, t.p, t.n, err);
    if (a & TOK_ATTR_NORMAL) {
        if (tok->model == MB_TOK_MODEL_SPM) {
            for (size_t i = 0; i < t.n;) {
                if (i + 3 <= t.n && !memcmp(t.p + i, "\xe2\x96\x81", 3)) {
                    int rc = mb_buf_append(out, " ", 1, err);
                    if (rc)
                        return rc;
                    i += 3;
                    continue;
                }
                int rc = mb_buf_append(out, t.p + i, 1, err);
                if (rc)
                    return rc;
                i++;
            }
            return 0;
        }
        /* Byte-level BPE: every code point stands for one byte. */
        for (size_t i = 0; i < t.n;) {
            uint32_t cp;
            size_t l = tok_utf8_decode((const unsigned char *)t.p + i, t.n - i, &cp);
            int b = l ? tok_byte_decode(cp) : -1;
            int rc;
            if (b >= 0) {
                char c = (char)b;
                rc = mb_buf_append(out, &c, 1, err);
            } else {
                /* Not a byte-level character: keep it as it is. */
                if (!l)
                    l = 1;
                rc = mb_buf_append(out, t.p + i, l, err);
            }
            if (rc)
                return rc;
            i += l;
        }
        return 0;
    }
    if (a & TOK_ATTR_BYTE) {
        int b = parse_byte_token(t);
        if (b >= 0) {
            char c = (char)b;
            return mb_buf_append(out, &c, 1, err);
        }
    }
    return 0; /* unused / undefined tokens decode to nothing */
}

static int build_pieces(struct mb_tokenizer *tok, struct mb_err *err)
{
    struct mb_buf b;
    mb_buf_init(&b, (size_t)UINT32_MAX);
    tok->piece_off = mb_calloc(tok->n + 1, sizeof(*tok->piece_off));
    if (!tok->piece_off)
        return mb_fail(err, MB_E_NOMEM, "tokenizer: out of memory for the piece table");
    for (size_t i = 0; i < tok->n; i++) {
        tok->piece_off[i] = (uint32_t)b.n;
        int rc = build_piece(tok, i, &b, err);
        if (rc) {
            mb_buf_release(&b);
            return rc;
        }
    }
    tok->piece_off[tok->n] = (uint32_t)b.n;
    size_t n;
    tok->piece_data = mb_buf_detach(&b, &n);
    if (!tok->piece_data) {
        tok->piece_data = mb_malloc(1);
        if (!tok->piece_data)
            return mb_fail(err, MB_E_NOMEM, "tokenizer: out of memory for the piece table");
    }
    return 0;
}

static int cmp_special(const void *a, const void *b, void *ud)
{
    const struct mb_tokenizer *tok = ud;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    size_t lx = tok->text[x].n, ly = tok->text[y].n;
    if (lx != ly)
        return lx > ly ? -1 : 1;
    return x < y ? -1 : (x > y);
}

/* The special-token rules llama.cpp applies after loading a vocabulary. */
static int setup_specials(struct mb_tokenizer *tok, struct mb_err *err)
{
    /* End of turn / end of message, detected by text when the vocabulary does not say. */
    for (size_t i = 0; i < MB_ARRAY_LEN(eot_texts) && tok->eot == MB_TOKEN_NONE; i++) {
        tok->eot = find_cstr(tok, eot_texts[i]);
        if (tok->eot >= 0)
            tok->attr[tok->eot] |= TOK_ATTR_CONTROL;
    }
    if (tok->eom == MB_TOKEN_NONE) {
        tok->eom = find_cstr(tok, "<|eom_id|>");
        if (tok->eom >= 0)
            tok->attr[tok->eom] |= TOK_ATTR_CONTROL;
    }
    for (size_t i = 0; i < MB_ARRAY_LEN(control_texts); i++) {
        int32_t id = find_cstr(tok, control_texts[i]);
        if (id >= 0)
            tok->attr[id] |= TOK_ATTR_CONTROL;
    }
    for (size_t i = 0; i < MB_ARRAY_LEN(eog_texts); i++) {
        int32_t id = find_cstr(tok, eog_texts[i]);
        if (id >= 0)
            tok->attr[id] |= TOK_ATTR_EOG | TOK_ATTR_CONTROL;
    }
    /* EOS/EOT/EOM given by id end generation too, without a change of type. */
    const int32_t ends[] = { tok->eos, tok->eot, tok->eom };
    for (size_t i = 0; i < MB_ARRAY_LEN(ends); i++)
        if (ends[i] >= 0)
            tok->attr[ends[i]] |= TOK_ATTR_EOG;

    size_t ns = 0;
    for (size_t i = 0; i < tok->n; i++)
        if (tok->attr[i] & (TOK_ATTR_CONTROL | TOK_ATTR_USER | TOK_ATTR_UNKNOWN))
            ns++;
    tok->special = mb_calloc(ns ? ns : 1, sizeof(*tok->special));
    if (!tok->special)
        return mb_fail(err, MB_E_NOMEM, "tokenizer: out of memory for special tokens");
    for (size_t i = 0; i < tok->n; i++)
        if (tok->attr[i] & (TOK_ATTR_CONTROL | TOK_ATTR_USER | TOK_ATTR_UNKNOWN))
            tok->special[tok->n_special++] = (int32_t)i;
    qsort_r(tok->special, tok->n_special, sizeof(*tok->special), cmp_special, tok);
    return 0;
}

static void setup_byte_tokens(struct mb_tokenizer *tok)
{
    for (int b = 0; b < 256; b++) {
        char buf[8];
        int32_t id;
        if (tok->model == MB_TOK_MODEL_BPE) {
            size_t l = tok_byte_encode((unsigned char)b, buf);
            int64_t f = tok_map_find(&tok->vocab, tok->text, buf, l, NULL, 0);
            id = f < 0 ? MB_TOKEN_NONE : (int32_t)f;
        } else {
            snprintf(buf, sizeof(buf), "<0x%02X>", (unsigned)b);
            id = find_cstr(tok, buf);
            if (id < 0) {
                buf[0] = (char)b;
                int64_t f = tok_map_find(&tok->vocab, tok->text, buf, 1, NULL, 0);
                id = f < 0 ? MB_TOKEN_NONE : (int32_t)f;
            }
        }
        tok->byte_token[b] = id;
    }
}

static int copy_vocab(struct mb_tokenizer *tok, const struct mb_tokenizer_spec *spec,
                      struct mb_err *err)
{
    size_t n = spec->n_tokens;
    tok->text = mb_calloc(n, sizeof(*tok->text));
    tok->score = mb_calloc(n, sizeof(*tok->score));
    tok->type = mb_calloc(n, sizeof(*tok->type));
    tok->attr = mb_calloc(n, sizeof(*tok->attr));
    if (!tok->text || !tok->score || !tok->type || !tok->attr)
        return mb_fail(err, MB_E_NOMEM, "tokenizer: out of memory for %zu tokens", n);
    int rc = tok_map_init(&tok->vocab, n, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        struct mb_str t = spec->tokens[i];
        char empty[32];
        if (t.n == 0) {
            /* llama.cpp's placeholder, so the map stays one-to-one */
            snprintf(empty, sizeof(empty), "[EMPTY_%zu]", i);
            t = mb_str_from(empty);
        } else if (!t.p) {
            return mb_fail(err, MB_E_FORMAT, "tokenizer: token %zu has no text", i);
        }
        if (t.n > MB_TOK_MAX_TEXTLEN)
            return mb_fail(err, MB_E_FORMAT, "tokenizer: token %zu is %zu bytes long (limit %d)", i,
                           t.n, MB_TOK_MAX_TEXTLEN);
        char *p = mb_arena_strndup(&tok->arena, t.p, t.n);
        if (!p)
            return mb_fail(err, MB_E_NOMEM, "tokenizer: out of memory for token texts");
        tok->text[i] = (struct mb_str){ p, t.n };
        int64_t dup = tok_map_insert(&tok->vocab, tok->text, (uint32_t)i);
        if (dup >= 0)
            return mb_fail(err, MB_E_FORMAT, "tokenizer: token %zu ('%.*s') duplicates token %lld",
                           i, (int)MB_MIN(t.n, 40), t.p, (long long)dup);
        tok->score[i] = spec->scores ? spec->scores[i] : 0.0f;
        int32_t ty = spec->types ? spec->types[i] : MB_TOK_TYPE_NORMAL;
        if (ty < 0 || ty > MB_TOK_TYPE_BYTE)
            ty = MB_TOK_TYPE_UNDEFINED;
        tok->type[i] = (uint8_t)ty;
        tok->attr[i] = attr_of_type(ty);
    }
    return 0;
}

static int copy_merges(struct mb_tokenizer *tok, const struct mb_tokenizer_spec *spec,
                       struct mb_err *err)
{
    size_t n = spec->n_merges;
    if (n > MB_TOK_MAX_MERGES)
        return mb_fail(err, MB_E_LIMIT, "tokenizer: %zu merges (limit %u)", n, MB_TOK_MAX_MERGES);
    if (n && !spec->merges)
        return mb_fail(err, MB_E_FORMAT, "tokenizer: %zu merges announced but none given", n);
    tok->merge = mb_calloc(n ? n : 1, sizeof(*tok->merge));
    if (!tok->merge)
        return mb_fail(err, MB_E_NOMEM, "tokenizer: out of memory for %zu merges", n);
    int rc = tok_map_init(&tok->merges, n, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        struct mb_str m = spec->merges[i];
        if (m.n > 2 * MB_TOK_MAX_TEXTLEN + 1 || (m.n && !m.p))
            return mb_fail(err, MB_E_FORMAT, "tokenizer: merge %zu is malformed", i);
        char *p = mb_arena_strndup(&tok->arena, m.n ? m.p : "", m.n);
        if (!p)
            return mb_fail(err, MB_E_NOMEM, "tokenizer: out of memory for merges");
        tok->merge[i] = (struct mb_str){ p, m.n };
        /* A duplicate keeps its first (lowest) rank, as llama.cpp does. */
        (void)tok_map_insert(&tok->merges, tok->merge, (uint32_t)i);
        tok->n_merges = i + 1;
    }
    return 0;
}

int mb_tokenizer_new(const struct mb_tokenizer_spec *spec, struct mb_tokenizer **out,
                     struct mb_err *err)
{
    *out = NULL;
    enum mb_tok_model model;
    if (spec->model && !strcmp(spec->model, "gpt2"))
        model = MB_TOK_MODEL_BPE;
    else if (spec->model && !strcmp(spec->model, "llama"))
        model = MB_TOK_MODEL_SPM;
    else
        return mb_fail(err, MB_E_UNSUPPORTED,
                       "tokenizer: model '%s' is not supported (supported: gpt2, llama)",
                       spec->model ? spec->model : "");
    const struct tok_pre *pre = NULL;
    if (model == MB_TOK_MODEL_BPE) {
        pre = tok_pre_find(spec->pre);
        if (!pre) {
            char list[1024] = "";
            size_t used = 0;
            for (const char *const *n = mb_tokenizer_pre_names(); *n; n++) {
                int k = snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "", *n);
                if (k < 0 || (size_t)k >= sizeof(list) - used)
                    break;
                used += (size_t)k;
            }
            return mb_fail(err, MB_E_UNSUPPORTED,
                           "tokenizer: unknown pre-tokenizer '%s' (known: %s)", spec->pre, list);
        }
    }
    if (spec->n_tokens == 0 || !spec->tokens)
        return mb_fail(err, MB_E_FORMAT, "tokenizer: the vocabulary is empty");
    if (spec->n_tokens > MB_TOK_MAX_TOKENS)
        return mb_fail(err, MB_E_LIMIT, "tokenizer: %zu tokens (limit %u)", spec->n_tokens,
                       MB_TOK_MAX_TOKENS);

    struct mb_tokenizer *tok = mb_calloc(1, sizeof(*tok));
    if (!tok)
        return mb_fail(err, MB_E_NOMEM, "tokenizer: out of memory");
    mb_arena_init(&tok->arena, (size_t)1 << 32);
    tok->model = model;
    tok->pre = pre;
    tok->n = spec->n_tokens;
    mb_strlcpy(tok->model_name, spec->model, sizeof(tok->model_name));
    mb_strlcpy(tok->pre_name, pre ? pre->names[0] : "", sizeof(tok->pre_name));
    if (pre && spec->pre && *spec->pre)
        mb_strlcpy(tok->pre_name, spec->pre, sizeof(tok->pre_name));

    int rc = copy_vocab(tok, spec, err);
    if (!rc && model == MB_TOK_MODEL_BPE)
        rc = copy_merges(tok, spec, err);
    if (rc)
        goto fail;

    /* Defaults by model (llama.cpp's), then the vocabulary's own values. */
    size_t n = tok->n;
    if (model == MB_TOK_MODEL_SPM) {
        tok->bos = pick_id(spec->bos_id, 1, n);
        tok->eos = pick_id(spec->eos_id, 2, n);
        tok->unk = pick_id(spec->unk_id, 0, n);
        tok->add_bos = true;
        tok->add_space_prefix = true;
    } else {
        tok->bos = pick_id(spec->bos_id, pre->no_bos ? MB_TOKEN_NONE : 11, n);
        tok->eos = pick_id(spec->eos_id, 11, n);
        tok->unk = pick_id(spec->unk_id, MB_TOKEN_NONE, n);
        tok->add_bos = pre->add_bos;
        tok->ignore_merges = pre->ignore_merges;
    }
    tok->eot = pick_id(spec->eot_id, MB_TOKEN_NONE, n);
    tok->eom = pick_id(spec->eom_id, MB_TOKEN_NONE, n);
    tok->pad = pick_id(spec->pad_id, MB_TOKEN_NONE, n);
    if (spec->add_bos >= 0)
        tok->add_bos = spec->add_bos != 0;
    if (spec->add_eos >= 0)
        tok->add_eos = spec->add_eos != 0;
    if (spec->add_space_prefix >= 0)
        tok->add_space_prefix = spec->add_space_prefix != 0;
    if (tok->add_bos && tok->bos == MB_TOKEN_NONE) {
        rc = mb_fail(err, MB_E_FORMAT, "tokenizer: BOS must be added but the vocabulary has none");
        goto fail;
    }
    if (tok->add_eos && tok->eos == MB_TOKEN_NONE) {
        rc = mb_fail(err, MB_E_FORMAT, "tokenizer: EOS must be added but the vocabulary has none");
        goto fail;
    }

    rc = setup_specials(tok, err);
    if (!rc)
        rc = build_pieces(tok, err);
    if (!rc && model == MB_TOK_MODEL_BPE)
        rc = tok_regexes_compile(&tok->re, pre, err);
    if (rc)
        goto fail;
    setup_byte_tokens(tok);
    *out = tok;
    return 0;
fail:
    mb_tokenizer_free(tok);
    return rc;
}

void mb_tokenizer_free(struct mb_tokenizer *tok)
{
    if (!tok)
        return;
    tok_regexes_release(&tok->re);
    tok_map_release(&tok->vocab);
    tok_map_release(&tok->merges);
    mb_free(tok->text);
    mb_free(tok->score);
    mb_free(tok->type);
    mb_free(tok->attr);
    mb_free(tok->merge);
    mb_free(tok->special);
    mb_free(tok->piece_data);
    mb_free(tok->piece_off);
    mb_arena_release(&tok->arena);
    mb_free(tok);
}

/* ------------------------------------------------------------ encoding */

/* A fragment of the input: a special token (id >= 0) or raw text (id < 0). */
struct frag {
    int32_t id;
    uint32_t off;
    uint32_t len;
};

struct frags {
    struct frag *v;
    size_t n;
    size_t cap;
};

static int frags_push(struct frags *f, int32_t id, size_t off, size_t len, struct mb_err *err)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        struct frag *v = mb_reallocarray(f->v, cap, sizeof(*v));
        if (!v)
            return mb_fail(err, MB_E_NOMEM, "tokenizer: out of memory splitting special tokens");
        f->v = v;
        f->cap = cap;
    }
    f->v[f->n++] = (struct frag){ id, (uint32_t)off, (uint32_t)len };
    return 0;
}

/*
 * Cut special tokens out of the raw fragments, longest token text first, every
 * occurrence left to right (llama.cpp's tokenizer_st_partition). Control and
 * unknown tokens only when parse_special.
 */
static int partition(const struct mb_tokenizer *tok, const char *text, bool parse_special,
                     struct frags *cur, struct frags *next, struct mb_err *err)
{
    for (size_t s = 0; s < tok->n_special; s++) {
        int32_t id = tok->special[s];
        if (!parse_special && (tok->attr[id] & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN)))
            continue;
        struct mb_str t = tok->text[id];
        bool any = false;
        next->n = 0;
        for (size_t i = 0; i < cur->n; i++) {
            struct frag f = cur->v[i];
            int rc = 0;
            if (f.id >= 0 || f.len < t.n) {
                rc = frags_push(next, f.id, f.off, f.len, err);
                if (rc)
                    return rc;
                continue;
            }
            size_t pos = f.off, end = (size_t)f.off + f.len;
            while (pos < end) {
                const char *m = memmem(text + pos, end - pos, t.p, t.n);
                if (!m)
                    break;
                size_t at = (size_t)(m - text);
                any = true;
                if (at > pos)
                    rc = frags_push(next, -1, pos, at - pos, err);
                if (!rc)
                    rc = frags_push(next, id, 0, 0, err);
                if (rc)
                    return rc;
                pos = at + t.n;
            }
            if (pos < end) {
                rc = frags_push(next, -1, pos, end - pos, err);
                if (rc)
                    return rc;
            }
        }
        if (any) {
            struct frags swap = *cur;
            *cur = *next;
            *next = swap;
        }
    }
    return 0;
}

/* SentencePiece: the fragment with a space in front when it follows a special token. */
static int encode_spm_fragment(const struct mb_tokenizer *tok, const char *p, size_t n, bool prefix,
                               struct mb_tokens *out, struct mb_err *err)
{
    if (!(prefix && tok->add_space_prefix))
        return tok_spm_encode(tok, p, n, out, err);
    size_t total;
    if (!mb_add_ok(n, 1, &total))
        return mb_fail(err, MB_E_LIMIT, "tokenizer: text too long");
    char *s = mb_malloc(total);
    if (!s)
        return mb_fail(err, MB_E_NOMEM, "tokenizer: out of memory for %zu bytes", total);
    s[0] = ' ';
    memcpy(s + 1, p, n);
    int rc = tok_spm_encode(tok, s, total, out, err);
    mb_free(s);
    return rc;
}

int mb_tokenizer_encode(const struct mb_tokenizer *tok, const char *text, size_t len,
                        unsigned flags, struct mb_tokens *out, struct mb_err *err)
{
    if (len > (size_t)UINT32_MAX / 2)
        return mb_fail(err, MB_E_LIMIT, "tokenizer: text of %zu bytes is too long", len);
    bool add_special = (flags & MB_TOK_ADD_SPECIAL) != 0;
    struct frags cur = { 0 }, next = { 0 };
    int rc = 0;
    if (len) {
        rc = frags_push(&cur, -1, 0, len, err);
        if (!rc)
            rc = partition(tok, text, (flags & MB_TOK_PARSE_SPECIAL) != 0, &cur, &next, err);
    }
    if (!rc && add_special && tok->add_bos)
        rc = tok_emit(out, tok->bos, err);
    bool prev_special = true;
    for (size_t i = 0; i < cur.n && !rc; i++) {
        struct frag f = cur.v[i];
        if (f.id >= 0) {
            rc = tok_emit(out, f.id, err);
            prev_special = true;
        } else if (tok->model == MB_TOK_MODEL_BPE) {
            rc = tok_bpe_encode(tok, text + f.off, f.len, out, err);
        } else {
            rc = encode_spm_fragment(tok, text + f.off, f.len, prev_special, out, err);
            prev_special = false;
        }
    }
    if (!rc && add_special && tok->add_eos)
        rc = tok_emit(out, tok->eos, err);
    mb_free(cur.v);
    mb_free(next.v);
    return rc;
}

/* ------------------------------------------------------------ decoding */

struct mb_str mb_tokenizer_piece(const struct mb_tokenizer *tok, int32_t id, bool special)
{
    if (id < 0 || (size_t)id >= tok->n)
        return (struct mb_str){ "", 0 };
    if (!special && (tok->attr[id] & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN)))
        return (struct mb_str){ "", 0 };
    uint32_t a = tok->piece_off[id], b = tok->piece_off[id + 1];
    return (struct mb_str){ tok->piece_data + a, b - a };
}

/* Tokens after which the SentencePiece encoder starts a new text with a space. */
static bool is_boundary(const struct mb_tokenizer *tok, int32_t id)
{
    return (tok->attr[id] & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN | TOK_ATTR_USER)) != 0;
}

/* The piece of id for decoding, with the encoder's prefix space removed when due. */
static struct mb_str decode_piece(const struct mb_tokenizer *tok, int32_t id, unsigned flags,
                                  bool *at_start)
{
    struct mb_str p = mb_tokenizer_piece(tok, id, (flags & MB_DETOK_SPECIAL) != 0);
    if (tok->model != MB_TOK_MODEL_SPM || !tok->add_space_prefix)
        return p;
    if (is_boundary(tok, id)) {
        *at_start = true;
        return p;
    }
    if (*at_start && p.n && p.p[0] == ' ') {
        p.p++;
        p.n--;
    }
    *at_start = false;
    return p;
}

int mb_tokenizer_decode(const struct mb_tokenizer *tok, const int32_t *ids, size_t n,
                        unsigned flags, struct mb_buf *out, struct mb_err *err)
{
    bool at_start = true;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || (size_t)ids[i] >= tok->n)
            return mb_fail(err, MB_E_FORMAT,
                           "tokenizer: token id %d at position %zu is outside "
                           "the vocabulary of %zu",
                           ids[i], i, tok->n);
        struct mb_str p = decode_piece(tok, ids[i], flags, &at_start);
        int rc = mb_buf_append(out, p.p, p.n, err);
        if (rc)
            return rc;
    }
    return 0;
}

void mb_detok_stream_init(struct mb_detok_stream *s, const struct mb_tokenizer *tok, unsigned flags)
{
    memset(s, 0, sizeof(*s));
    s->tok = tok;
    s->flags = flags;
    s->at_start = true;
}

/*
 * How many bytes the UTF-8 sequence led by `c` has (0 = c cannot start one), and
 * the allowed range of its second byte (strict UTF-8: no overlong forms, no
 * surrogates, nothing past U+10FFFF).
 */
static size_t utf8_lead(unsigned char c, unsigned char *lo, unsigned char *hi)
{
    *lo = 0x80;
    *hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        return 2;
    if (c >= 0xe0 && c <= 0xef) {
        if (c == 0xe0)
            *lo = 0xa0;
        if (c == 0xed)
            *hi = 0x9f;
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (c == 0xf0)
            *lo = 0x90;
        if (c == 0xf4)
            *hi = 0x8f;
        return 4;
    }
    return 0;
}

static const char replacement[] = "\xef\xbf\xbd";

/* Emit the complete characters of pend + piece, keep an incomplete tail in pend. */
static int stream_feed(struct mb_detok_stream *s, const char *piece, size_t n, struct mb_buf *out,
                       struct mb_err *err)
{
    size_t total = s->npend + n;
#define AT(k) ((k) < s->npend ? s->pend[(k)] : (unsigned char)piece[(k)-s->npend])
    size_t i = 0;
    int rc = 0;
    while (i < total && !rc) {
        unsigned char c = AT(i);
        if (c < 0x80) {
            /* a run of ASCII inside the piece goes out in one append */
            size_t j = i;
            while (j < total && j >= s->npend && AT(j) < 0x80)
                j++;
            if (j > i) {
                rc = mb_buf_append(out, piece + (i - s->npend), j - i, err);
                i = j;
            } else {
                char ch = (char)c;
                rc = mb_buf_append(out, &ch, 1, err);
                i++;
            }
            continue;
        }
        unsigned char lo, hi;
        size_t len = utf8_lead(c, &lo, &hi);
        size_t j = 1;
        bool bad = len == 0;
        while (!bad && j < len && i + j < total) {
            unsigned char cc = AT(i + j);
            if (cc < (j == 1 ? lo : 0x80) || cc > (j == 1 ? hi : 0xbf))
                bad = true;
            else
                j++;
        }
        if (bad) {
            rc = mb_buf_append(out, replacement, 3, err);
            i++;
            continue;
        }
        if (j < len) { /* incomplete: hold it back until the next piece */
            unsigned char keep[4];
            size_t k = 0;
            for (; i + k < total; k++)
                keep[k] = AT(i + k);
            memcpy(s->pend, keep, k);
            s->npend = k;
#undef AT
            return 0;
        }
        char seq[4];
        for (size_t k = 0; k < len; k++)
            seq[k] = (char)(i + k < s->npend ? s->pend[i + k] : piece[i + k - s->npend]);
        rc = mb_buf_append(out, seq, len, err);
        i += len;
    }
    s->npend = 0;
    return rc;
}

int mb_detok_stream_push(struct mb_detok_stream *s, int32_t id, struct mb_buf *out,
                         struct mb_err *err)
{
    if (id < 0 || (size_t)id >= s->tok->n)
        return mb_fail(err, MB_E_FORMAT, "tokenizer: token id %d is outside the vocabulary of %zu",
                       id, s->tok->n);
    struct mb_str p = decode_piece(s->tok, id, s->flags, &s->at_start);
    return stream_feed(s, p.p, p.n, out, err);
}

int mb_detok_stream_flush(struct mb_detok_stream *s, struct mb_buf *out, struct mb_err *err)
{
    int rc = 0;
    for (size_t i = 0; i < s->npend && !rc; i++)
        rc = mb_buf_append(out, replacement, 3, err);
    s->npend = 0;
    s->at_start = true;
    return rc;
}

/* ------------------------------------------------------------ accessors */

size_t mb_tokenizer_n_tokens(const struct mb_tokenizer *tok)
{
    return tok->n;
}

enum mb_tok_model mb_tokenizer_model(const struct mb_tokenizer *tok)
{
    return tok->model;
}

const char *mb_tokenizer_model_name(const struct mb_tokenizer *tok)
{
    return tok->model_name;
}

const char *mb_tokenizer_pre_name(const struct mb_tokenizer *tok)
{
    return tok->pre_name;
}

struct mb_str mb_tokenizer_text(const struct mb_tokenizer *tok, int32_t id)
{
    if (id < 0 || (size_t)id >= tok->n)
        return (struct mb_str){ "", 0 };
    return tok->text[id];
}

enum mb_tok_type mb_tokenizer_type(const struct mb_tokenizer *tok, int32_t id)
{
    if (id < 0 || (size_t)id >= tok->n)
        return MB_TOK_TYPE_UNDEFINED;
    return (enum mb_tok_type)tok->type[id];
}

int32_t mb_tokenizer_find(const struct mb_tokenizer *tok, const char *text, size_t len)
{
    int64_t id = tok_map_find(&tok->vocab, tok->text, text, len, NULL, 0);
    return id < 0 ? MB_TOKEN_NONE : (int32_t)id;
}

int32_t mb_tokenizer_bos(const struct mb_tokenizer *tok)
{
    return tok->bos;
}

int32_t mb_tokenizer_eos(const struct mb_tokenizer *tok)
{
    return tok->eos;
}

int32_t mb_tokenizer_eot(const struct mb_tokenizer *tok)
{
    return tok->eot;
}

int32_t mb_tokenizer_unk(const struct mb_tokenizer *tok)
{
    return tok->unk;
}

bool mb_tokenizer_adds_bos(const struct mb_tokenizer *tok)
{
    return tok->add_bos;
}

bool mb_tokenizer_adds_eos(const struct mb_tokenizer *tok)
{
    return tok->add_eos;
}

bool mb_tokenizer_is_eog(const struct mb_tokenizer *tok, int32_t id)
{
    return id >= 0 && (size_t)id < tok->n && (tok->attr[id] & TOK_ATTR_EOG);
}

bool mb_tokenizer_is_special(const struct mb_tokenizer *tok, int32_t id)
{
    return id >= 0 && (size_t)id < tok->n &&
           (tok->attr[id] & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN));
}
