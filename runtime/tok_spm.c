/*
 * tok_spm.c - SentencePiece-style tokenization (`tokenizer.ggml.model` =
 * "llama") of one fragment of text, as llama.cpp's llm_tokenizer_spm does:
 * spaces become U+2581, the text is split into UTF-8 characters (bytes are not
 * validated), adjacent symbols whose concatenation is a token are merged
 * highest score first (ties: leftmost), and a final symbol that is not a token
 * falls back to byte tokens <0xNN>.
 */
#include "tokenizer_int.h"

struct spm_sym {
    int32_t prev;
    int32_t next;
    uint32_t off;
    uint32_t len;
};

struct spm_bigram {
    int32_t left;
    int32_t right;
    float score;
    uint32_t size;
};

struct spm_work {
    const char *s;
    struct spm_sym *sym;
    struct spm_bigram *heap;
    size_t heap_n;
    size_t heap_cap;
};

static bool spm_before(const struct spm_bigram *a, const struct spm_bigram *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static int spm_push(struct spm_work *w, struct spm_bigram g, struct mb_err *err)
{
    if (w->heap_n == w->heap_cap) {
        size_t cap = w->heap_cap ? w->heap_cap * 2 : 64;
        struct spm_bigram *h = mb_reallocarray(w->heap, cap, sizeof(*h));
        if (!h)
            return mb_fail(err, MB_E_NOMEM, "tokenizer: out of memory merging");
        w->heap = h;
        w->heap_cap = cap;
    }
    size_t i = w->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!spm_before(&g, &w->heap[parent]))
            break;
        w->heap[i] = w->heap[parent];
        i = parent;
    }
    w->heap[i] = g;
    return 0;
}

static struct spm_bigram spm_pop(struct spm_work *w)
{
    struct spm_bigram top = w->heap[0];
    struct spm_bigram last = w->heap[--w->heap_n];
    size_t i = 0, n = w->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && spm_before(&w->heap[c + 1], &w->heap[c]))
            c++;
        if (!spm_before(&w->heap[c], &last))
            break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n)
        w->heap[i] = last;
    return top;
}

static int spm_try(const struct mb_tokenizer *tok, struct spm_work *w, int32_t left, int32_t right,
                   struct mb_err *err)
{
    if (left < 0 || right < 0)
        return 0;
    const struct spm_sym *l = &w->sym[left], *r = &w->sym[right];
    /* Symbols are adjacent in the text, so their concatenation is one span. */
    int64_t id = tok_map_find(&tok->vocab, tok->text, w->s + l->off, l->len + r->len, NULL, 0);
    if (id < 0)
        return 0;
    struct spm_bigram g = { left, right, tok->score[id], l->len + r->len };
    return spm_push(w, g, err);
}

/* A symbol that is no token: its bytes as byte tokens (or UNK when there are none). */
static int spm_bytes(const struct mb_tokenizer *tok, const char *s, size_t n, struct mb_tokens *out,
                     struct mb_err *err)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)s[i];
        int32_t id = tok->byte_token[b];
        if (id < 0)
            id = tok->unk;
        if (id < 0)
            return mb_fail(err, MB_E_FORMAT,
                           "tokenizer: the vocabulary has no token for byte 0x%02X and no "
                           "unknown token",
                           b);
        int rc = tok_emit(out, id, err);
        if (rc)
            return rc;
    }
    return 0;
}

int tok_spm_encode(const struct mb_tokenizer *tok, const char *text, size_t len,
                   struct mb_tokens *out, struct mb_err *err)
{
    if (len == 0)
        return 0;
    /* Escape spaces: ' ' (1 byte) becomes U+2581 (3 bytes). */
    size_t cap;
    if (!mb_mul_ok(len, 3, &cap))
        return mb_fail(err, MB_E_LIMIT, "tokenizer: text too long");
    char *s = mb_malloc(cap);
    struct spm_work w = { 0 };
    /* at most one symbol per byte of the escaped text (broken UTF-8 can cut a U+2581) */
    w.sym = mb_reallocarray(NULL, cap, sizeof(*w.sym));
    if (!s || !w.sym) {
        mb_free(s);
        mb_free(w.sym);
        return mb_fail(err, MB_E_NOMEM, "tokenizer: out of memory for %zu bytes", cap);
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(s + n, "\xe2\x96\x81", 3);
            n += 3;
        } else {
            s[n++] = text[i];
        }
    }
    w.s = s;
    size_t nsym = 0;
    for (size_t off = 0; off < n;) {
        size_t l = MB_MIN(tok_utf8_len((unsigned char)s[off]), n - off);
        w.sym[nsym] = (struct spm_sym){ (int32_t)nsym - 1, -1, (uint32_t)off, (uint32_t)l };
        off += l;
        if (off < n)
            w.sym[nsym].next = (int32_t)nsym + 1;
        nsym++;
    }
    int rc = 0;
    for (size_t i = 1; i < nsym && !rc; i++)
        rc = spm_try(tok, &w, (int32_t)i - 1, (int32_t)i, err);
    while (!rc && w.heap_n) {
        struct spm_bigram g = spm_pop(&w);
        struct spm_sym *l = &w.sym[g.left], *r = &w.sym[g.right];
        if (l->len == 0 || r->len == 0 || l->len + r->len != g.size)
            continue;
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0)
            w.sym[r->next].prev = g.left;
        rc = spm_try(tok, &w, l->prev, g.left, err);
        if (!rc)
            rc = spm_try(tok, &w, g.left, l->next, err);
    }
    for (int32_t i = 0; i >= 0 && !rc; i = w.sym[i].next) {
        const char *p = s + w.sym[i].off;
        size_t l = w.sym[i].len;
        int64_t id = tok_map_find(&tok->vocab, tok->text, p, l, NULL, 0);
        if (id >= 0)
            rc = tok_emit(out, (int32_t)id, err);
        else
            rc = spm_bytes(tok, p, l, out, err);
    }
    mb_free(s);
    mb_free(w.sym);
    mb_free(w.heap);
    return rc;
}
