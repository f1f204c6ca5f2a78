/*
 * fuzz_store.c - libFuzzer target for the store's own files: state.json and
 * the world file. The first byte picks the parser; the rest is the input.
 * Whatever parses must emit and re-parse to the same thing (emission is
 * deterministic: emitting the re-parsed value gives the same bytes).
 */
#include "mb_registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void state_case(const char *text, size_t n)
{
    struct mb_err err;
    struct mb_store_state s;
    if (mb_store_state_parse("fuzz.json", text, n, &s, &err) != 0)
        return;
    struct mb_buf a, b;
    mb_buf_init(&a, 64u << 20);
    mb_buf_init(&b, 64u << 20);
    if (mb_store_state_emit(&s, &a, &err) == 0) {
        struct mb_store_state s2;
        if (mb_store_state_parse("again", a.p, a.n, &s2, &err) != 0)
            __builtin_trap();
        if (mb_store_state_emit(&s2, &b, &err) != 0 || a.n != b.n || memcmp(a.p, b.p, a.n))
            __builtin_trap();
        mb_store_state_release(&s2);
    }
    mb_buf_release(&a);
    mb_buf_release(&b);
    mb_store_state_release(&s);
}

static void world_case(const char *text, size_t n)
{
    struct mb_err err;
    struct mb_store_world w;
    if (mb_store_world_parse("fuzz-world", text, n, &w, &err) != 0)
        return;
    struct mb_buf a;
    mb_buf_init(&a, 4u << 20);
    if (mb_store_world_emit(&w, &a, &err) == 0) {
        struct mb_store_world w2;
        if (mb_store_world_parse("again", a.p, a.n, &w2, &err) != 0 || w2.n != w.n)
            __builtin_trap();
        for (size_t i = 0; i < w.n; i++)
            if (strcmp(w.v[i].id, w2.v[i].id) || strcmp(w.v[i].range_text, w2.v[i].range_text))
                __builtin_trap();
        mb_store_world_release(&w2);
    }
    mb_buf_release(&a);
    mb_store_world_release(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *text = (const char *)data + 1;
    if (data[0] & 1)
        world_case(text, size - 1);
    else
        state_case(text, size - 1);
    return 0;
}
