/*
 * fuzz_index.c - libFuzzer target for registry index records and packs.lock:
 * any bytes must parse or fail with a message naming the file; a parsed
 * record must emit canonical JSON that parses again identically.
 */
#include "mb_manifests.h"
#include "mb_resolver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mb_index_record r, r2;
    struct mb_err err;
    if (mb_index_parse("index.json", (const char *)data, size, NULL, &r, &err) == 0) {
        struct mb_buf a, b;
        mb_buf_init(&a, 64u << 20);
        mb_buf_init(&b, 64u << 20);
        if (mb_index_emit(&r, &a, &err) == 0) {
            if (mb_index_parse("emitted", a.p, a.n, r.id, &r2, &err))
                __builtin_trap();
            if (mb_index_emit(&r2, &b, &err) == 0 && (a.n != b.n || memcmp(a.p, b.p, a.n)))
                __builtin_trap();
            mb_index_record_release(&r2);
        }
        mb_buf_release(&a);
        mb_buf_release(&b);
        mb_index_record_release(&r);
    } else if (strncmp(err.msg, "index.json", 10) && err.code != MB_E_NOMEM) {
        __builtin_trap();
    }
    struct mb_lock l;
    if (mb_lock_parse("packs.lock", (const char *)data, size, &l, &err) == 0) {
        struct mb_buf a;
        struct mb_lock l2;
        mb_buf_init(&a, 64u << 20);
        if (mb_lock_emit(&l, &a, &err) == 0) {
            if (mb_lock_parse("emitted", a.p, a.n, &l2, &err) || l2.n != l.n)
                __builtin_trap();
            mb_lock_release(&l2);
        }
        mb_buf_release(&a);
        mb_lock_release(&l);
    }
    return 0;
}
