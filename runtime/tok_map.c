/*
 * tok_map.c - the tokenizer's string hash map: open addressing with linear
 * probing over a power-of-two table at most half full, FNV-1a hashing. Keys live
 * in the caller's array; slots hold `index + 1` (0 = empty). Pair lookups hash
 * "a" + " " + "b" incrementally so BPE merges need no temporary string.
 */
#include "tokenizer_int.h"

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME  0x100000001b3ull

static uint64_t fnv_add(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= FNV_PRIME;
    }
    return h;
}

static uint64_t hash_key(const char *a, size_t an, const char *b, size_t bn)
{
    uint64_t h = fnv_add(FNV_OFFSET, a, an);
    if (b) {
        h = fnv_add(h, " ", 1);
        h = fnv_add(h, b, bn);
    }
    /* Mix the high bits down: the table index uses the low ones. */
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return h;
}

static bool key_equal(struct mb_str key, const char *a, size_t an, const char *b, size_t bn)
{
    if (!b)
        return key.n == an && memcmp(key.p, a, an) == 0;
    return key.n == an + 1 + bn && memcmp(key.p, a, an) == 0 && key.p[an] == ' ' &&
           memcmp(key.p + an + 1, b, bn) == 0;
}

int tok_map_init(struct tok_map *m, size_t n_keys, struct mb_err *err)
{
    size_t cap = 16;
    while (cap < n_keys * 2) {
        if (cap > SIZE_MAX / 4)
            return mb_fail(err, MB_E_LIMIT, "tokenizer: too many entries for a hash map (%zu)",
                           n_keys);
        cap *= 2;
    }
    m->slots = mb_calloc(cap, sizeof(*m->slots));
    if (!m->slots)
        return mb_fail(err, MB_E_NOMEM, "tokenizer: out of memory for a %zu-entry map", n_keys);
    m->mask = cap - 1;
    return 0;
}

void tok_map_release(struct tok_map *m)
{
    mb_free(m->slots);
    m->slots = NULL;
    m->mask = 0;
}

int64_t tok_map_insert(struct tok_map *m, const struct mb_str *keys, uint32_t idx)
{
    struct mb_str k = keys[idx];
    size_t i = (size_t)hash_key(k.p, k.n, NULL, 0) & m->mask;
    for (;;) {
        uint32_t s = m->slots[i];
        if (s == 0) {
            m->slots[i] = idx + 1;
            return -1;
        }
        if (key_equal(keys[s - 1], k.p, k.n, NULL, 0))
            return (int64_t)(s - 1);
        i = (i + 1) & m->mask;
    }
}

int64_t tok_map_find(const struct tok_map *m, const struct mb_str *keys, const char *a, size_t an,
                     const char *b, size_t bn)
{
    if (!m->slots)
        return -1;
    size_t i = (size_t)hash_key(a, an, b, bn) & m->mask;
    for (;;) {
        uint32_t s = m->slots[i];
        if (s == 0)
            return -1;
        if (key_equal(keys[s - 1], a, an, b, bn))
            return (int64_t)(s - 1);
        i = (i + 1) & m->mask;
    }
}
