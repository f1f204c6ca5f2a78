/*
 * tok_bpe.c - GPT-2 byte-level BPE for one fragment of text (no special tokens
 * in it): repair invalid UTF-8 the way llama.cpp does, cut the text into pieces
 * with the pre-tokenizer's regexes, byte-encode each piece (every byte becomes
 * one printable code point) and merge adjacent symbols, lowest merge rank first
 * (ties: leftmost), with a binary heap over a linked list of symbols.
 */
#include "tokenizer_int.h"

/* ------------------------------------------------------------ byte-level map */

/*
 * GPT-2's bytes_to_unicode(): printable bytes ('!'..'~', 0xA1..0xAC,
 * 0xAE..0xFF) stand for themselves; the other 68 bytes, in order, for U+0100
 * onwards (0x00..0x20 -> U+0100.., 0x7F..0xA0 -> U+0121.., 0xAD -> U+0143).
 */
static uint32_t byte_to_cp(unsigned char b)
{
    if (b <= 0x20)
        return 0x100u + b;
    if (b >= 0x7f && b <= 0xa0)
        return 0x121u + (uint32_t)(b - 0x7f);
    if (b == 0xad)
        return 0x143u;
    return b;
}

size_t tok_byte_encode(unsigned char b, char out[2])
{
    uint32_t cp = byte_to_cp(b);
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xc0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
}

int tok_byte_decode(uint32_t cp)
{
    if ((cp >= 0x21 && cp <= 0x7e) || (cp >= 0xa1 && cp <= 0xac) || (cp >= 0xae && cp <= 0xff))
        return (int)cp;
    if (cp >= 0x100 && cp <= 0x120)
        return (int)(cp - 0x100);
    if (cp >= 0x121 && cp <= 0x142)
        return (int)(cp - 0x121 + 0x7f);
    if (cp == 0x143)
        return 0xad;
    return -1;
}

/* ------------------------------------------------------------ UTF-8 repair */

/*
 * llama.cpp decodes the text to code points leniently (overlong forms and
 * surrogates accepted, each undecodable byte becomes U+FFFD) and re-encodes
 * them. `norm` gets those bytes; `subj` the same with surrogates (which PCRE2
 * rejects) replaced by U+FFFD - both three bytes, so offsets agree. When the
 * text is already canonical both point at it and nothing is allocated.
 */
struct repaired {
    const char *norm;
    const char *subj;
    size_t n;
    char *own_norm;
    char *own_subj;
};

static bool canonical_utf8(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        size_t l = tok_utf8_decode(p + i, n - i, &cp);
        if (!l)
            return false;
        size_t want = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (l != want || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += l;
    }
    return true;
}

static int repair_utf8(const char *text, size_t n, struct repaired *r, struct mb_err *err)
{
    memset(r, 0, sizeof(*r));
    const unsigned char *p = (const unsigned char *)text;
    if (canonical_utf8(p, n)) {
        r->norm = r->subj = text;
        r->n = n;
        return 0;
    }
    /* Each input byte becomes at most 3 output bytes (U+FFFD). */
    size_t cap;
    if (!mb_mul_ok(n, 3, &cap) || !mb_add_ok(cap, 1, &cap))
        return mb_fail(err, MB_E_LIMIT, "tokenizer: text too long");
    r->own_norm = mb_malloc(cap);
    r->own_subj = mb_malloc(cap);
    if (!r->own_norm || !r->own_subj) {
        mb_free(r->own_norm);
        mb_free(r->own_subj);
        r->own_norm = r->own_subj = NULL;
        return mb_fail(err, MB_E_NOMEM, "tokenizer: out of memory for %zu bytes", cap);
    }
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = tok_utf8_decode(p + i, n - i, &cp);
        if (!l) {
            cp = 0xfffd;
            l = 1;
        }
        char enc[4];
        size_t el = tok_utf8_encode(cp, enc);
        memcpy(r->own_norm + o, enc, el);
        if (cp >= 0xd800 && cp <= 0xdfff)
            memcpy(r->own_subj + o, "\xef\xbf\xbd", 3);
        else
            memcpy(r->own_subj + o, enc, el);
        o += el;
        i += l;
    }
    r->norm = r->own_norm;
    r->subj = r->own_subj;
    r->n = o;
    return 0;
}

/* ------------------------------------------------------------ merging */

struct sym {
    int32_t prev;
    int32_t next;
    uint32_t off; /* into the encoded word */
    uint32_t len; /* 0 once merged into its left neighbour */
};

struct bigram {
    int32_t left;
    int32_t right;
    int32_t rank;
    uint32_t size;
};

/* Scratch reused across the pieces of one fragment. */
struct bpe_work {
    char *word; /* the byte-encoded piece */
    size_t word_cap;
    struct sym *sym;
    size_t sym_cap;
    struct bigram *heap;
    size_t heap_n;
    size_t heap_cap;
};

static bool bigram_before(const struct bigram *a, const struct bigram *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static int heap_push(struct bpe_work *w, struct bigram g, struct mb_err *err)
{
    if (w->heap_n == w->heap_cap) {
        size_t cap = w->heap_cap ? w->heap_cap * 2 : 64;
        struct bigram *h = mb_reallocarray(w->heap, cap, sizeof(*h));
        if (!h)
            return mb_fail(err, MB_E_NOMEM, "tokenizer: out of memory merging");
        w->heap = h;
        w->heap_cap = cap;
    }
    size_t i = w->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!bigram_before(&g, &w->heap[parent]))
            break;
        w->heap[i] = w->heap[parent];
        i = parent;
    }
    w->heap[i] = g;
    return 0;
}

static struct bigram heap_pop(struct bpe_work *w)
{
    struct bigram top = w->heap[0];
    struct bigram last = w->heap[--w->heap_n];
    size_t i = 0, n = w->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && bigram_before(&w->heap[c + 1], &w->heap[c]))
            c++;
        if (!bigram_before(&w->heap[c], &last))
            break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n)
        w->heap[i] = last;
    return top;
}

/* Queue the pair (left, right) when a merge rule exists for it. */
static int try_bigram(const struct mb_tokenizer *tok, struct bpe_work *w, int32_t left,
                      int32_t right, struct mb_err *err)
{
    if (left < 0 || right < 0)
        return 0;
    const struct sym *l = &w->sym[left], *r = &w->sym[right];
    int64_t rank =
        tok_map_find(&tok->merges, tok->merge, w->word + l->off, l->len, w->word + r->off, r->len);
    if (rank < 0)
        return 0;
    struct bigram g = { left, right, (int32_t)rank, l->len + r->len };
    return heap_push(w, g, err);
}

/* Emit the token of a final symbol, or llama.cpp's per-byte fallback. */
static int emit_symbol(const struct mb_tokenizer *tok, const char *s, size_t n,
                       struct mb_tokens *out, struct mb_err *err)
{
    int64_t id = tok_map_find(&tok->vocab, tok->text, s, n, NULL, 0);
    if (id >= 0)
        return tok_emit(out, (int32_t)id, err);
    /* Each byte of the encoded text as a one-byte token, when one exists. */
    for (size_t i = 0; i < n; i++) {
        int64_t b = tok_map_find(&tok->vocab, tok->text, s + i, 1, NULL, 0);
        if (b >= 0) {
            int rc = tok_emit(out, (int32_t)b, err);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int merge_piece(const struct mb_tokenizer *tok, struct bpe_work *w, const char *piece,
                       size_t n, struct mb_tokens *out, struct mb_err *err)
{
    /* Byte-encode: at most two UTF-8 bytes per input byte. */
    if (n * 2 > w->word_cap) {
        char *p = mb_realloc(w->word, n * 2);
        if (!p)
            return mb_fail(err, MB_E_NOMEM, "tokenizer: out of memory merging");
        w->word = p;
        w->word_cap = n * 2;
    }
    if (n > w->sym_cap) {
        struct sym *s = mb_reallocarray(w->sym, n, sizeof(*s));
        if (!s)
            return mb_fail(err, MB_E_NOMEM, "tokenizer: out of memory merging");
        w->sym = s;
        w->sym_cap = n;
    }
    size_t wl = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = tok_byte_encode((unsigned char)piece[i], w->word + wl);
        w->sym[i] = (struct sym){ (int32_t)i - 1, i + 1 < n ? (int32_t)i + 1 : -1, (uint32_t)wl,
                                  (uint32_t)l };
        wl += l;
    }
    if (tok->ignore_merges) {
        int64_t id = tok_map_find(&tok->vocab, tok->text, w->word, wl, NULL, 0);
        if (id >= 0)
            return tok_emit(out, (int32_t)id, err);
    }
    w->heap_n = 0;
    int rc = 0;
    for (size_t i = 1; i < n && !rc; i++)
        rc = try_bigram(tok, w, (int32_t)i - 1, (int32_t)i, err);
    while (!rc && w->heap_n) {
        struct bigram g = heap_pop(w);
        struct sym *l = &w->sym[g.left], *r = &w->sym[g.right];
        /* Stale entries: one side already merged away or grown. */
        if (l->len == 0 || r->len == 0 || l->len + r->len != g.size || l->next != g.right)
            continue;
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0)
            w->sym[r->next].prev = g.left;
        rc = try_bigram(tok, w, l->prev, g.left, err);
        if (!rc)
            rc = try_bigram(tok, w, g.left, l->next, err);
    }
    for (int32_t i = 0; i >= 0 && !rc; i = w->sym[i].next)
        rc = emit_symbol(tok, w->word + w->sym[i].off, w->sym[i].len, out, err);
    return rc;
}

int tok_bpe_encode(const struct mb_tokenizer *tok, const char *text, size_t len,
                   struct mb_tokens *out, struct mb_err *err)
{
    struct repaired r;
    int rc = repair_utf8(text, len, &r, err);
    if (rc)
        return rc;
    struct tok_spans spans = { 0 };
    struct bpe_work w = { 0 };
    rc = tok_regex_split(&tok->re, r.subj, r.n, &spans, err);
    for (size_t i = 0; i < spans.n && !rc; i++)
        rc = merge_piece(tok, &w, r.norm + spans.v[i].off, spans.v[i].len, out, err);
    tok_spans_release(&spans);
    mb_free(w.word);
    mb_free(w.sym);
    mb_free(w.heap);
    mb_free(r.own_norm);
    mb_free(r.own_subj);
    return rc;
}
