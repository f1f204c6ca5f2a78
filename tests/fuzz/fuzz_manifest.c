/*
 * fuzz_manifest.c - libFuzzer target for the pack.yaml parser: any bytes must
 * give a manifest or a `pack.yaml:L:C:` error, never a crash or a leak; a
 * parsed manifest must emit canonical YAML that parses again to the same
 * emission.
 */
#include "mb_manifests.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mb_manifest m, m2;
    struct mb_err err;
    if (mb_manifest_parse("pack.yaml", (const char *)data, size, &m, &err)) {
        if (strncmp(err.msg, "pack.yaml:", 10) && err.code != MB_E_LIMIT && err.code != MB_E_NOMEM)
            __builtin_trap();
        return 0;
    }
    struct mb_buf a, b;
    mb_buf_init(&a, 64u << 20);
    mb_buf_init(&b, 64u << 20);
    if (mb_manifest_emit(&m, &a, &err) == 0) {
        if (mb_manifest_parse("emitted", a.p, a.n, &m2, &err))
            __builtin_trap(); /* canonical output must parse */
        if (mb_manifest_emit(&m2, &b, &err) == 0 && (a.n != b.n || memcmp(a.p, b.p, a.n)))
            __builtin_trap(); /* and be a fixed point */
        mb_manifest_release(&m2);
    }
    mb_buf_release(&a);
    mb_buf_release(&b);
    mb_manifest_release(&m);
    return 0;
}
