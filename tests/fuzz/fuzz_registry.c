/*
 * fuzz_registry.c - libFuzzer target for the registry metadata parsers: the
 * first byte picks snapshot.json, registry.json or config.yaml, the rest is
 * the file. Whatever parses must emit canonically and parse back to the same
 * bytes (emit(parse(emit(x))) == emit(x)), and a snapshot must never verify
 * under a made-up key.
 */
#include "mb_registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_or_trap(const struct mb_buf *a, const struct mb_buf *b)
{
    if (a->n != b->n || (a->n && memcmp(a->p, b->p, a->n)))
        __builtin_trap();
}

static void fuzz_snapshot(const char *text, size_t n)
{
    struct mb_err err;
    struct mb_snapshot s, again;
    if (mb_snapshot_parse("fuzz", text, n, &s, &err))
        return;
    struct mb_buf b1, b2;
    mb_buf_init(&b1, 128u << 20);
    mb_buf_init(&b2, 128u << 20);
    if (!mb_snapshot_emit(&s, &b1, &err)) {
        if (mb_snapshot_parse("again", b1.p, b1.n, &again, &err))
            __builtin_trap();
        for (size_t i = 0; i < s.npacks; i++)
            if (mb_snapshot_find(&again, s.packs[i].id) == NULL)
                __builtin_trap();
        if (mb_snapshot_emit(&again, &b2, &err))
            __builtin_trap();
        same_or_trap(&b1, &b2);
        mb_snapshot_release(&again);
    }
    struct mb_pubkey pk;
    memset(&pk, 0x42, sizeof(pk));
    struct mb_str sig = { text, n };
    if (mb_snapshot_verify_sigs("fuzz", text, n, &sig, 1, &pk, 1, 1, &err) == 0)
        __builtin_trap();
    mb_buf_release(&b1);
    mb_buf_release(&b2);
    mb_snapshot_release(&s);
}

static void fuzz_registry_json(const char *text, size_t n)
{
    struct mb_err err;
    struct mb_registry_meta m, again;
    if (mb_registry_meta_parse("fuzz", text, n, &m, &err))
        return;
    struct mb_buf b1, b2;
    mb_buf_init(&b1, 8u << 20);
    mb_buf_init(&b2, 8u << 20);
    if (!mb_registry_meta_emit(&m, &b1, &err)) {
        if (mb_registry_meta_parse("again", b1.p, b1.n, &again, &err))
            __builtin_trap();
        if (mb_registry_meta_emit(&again, &b2, &err))
            __builtin_trap();
        same_or_trap(&b1, &b2);
        for (size_t i = 0; i < m.npublishers; i++)
            for (size_t j = 0; j < m.publishers[i].npacks; j++)
                (void)mb_registry_pattern_match(m.publishers[i].packs[j], "medical-en");
        mb_registry_meta_release(&again);
    }
    mb_buf_release(&b1);
    mb_buf_release(&b2);
    mb_registry_meta_release(&m);
}

static void fuzz_config(const char *text, size_t n)
{
    struct mb_err err;
    struct mb_config c, again;
    if (mb_config_parse("fuzz", text, n, &c, &err))
        return;
    struct mb_buf b1, b2;
    mb_buf_init(&b1, 8u << 20);
    mb_buf_init(&b2, 8u << 20);
    if (!mb_config_emit(&c, &b1, &err)) {
        if (mb_config_parse("again", b1.p, b1.n, &again, &err))
            __builtin_trap();
        if (mb_config_emit(&again, &b2, &err))
            __builtin_trap();
        same_or_trap(&b1, &b2);
        mb_config_release(&again);
    }
    mb_buf_release(&b1);
    mb_buf_release(&b2);
    mb_config_release(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0] % 3) {
    case 0:
        fuzz_snapshot(text, n);
        break;
    case 1:
        fuzz_registry_json(text, n);
        break;
    default:
        fuzz_config(text, n);
        break;
    }
    return 0;
}
