/*
 * fuzz_router.c - libFuzzer target for the router's files: the input is read
 * as a GGUF from memory and given to mb_router_fit_read_gguf (the fit of
 * `router fit`) and mb_router_keys_read (a pack's routing.keys); a fit that
 * reads is then used to project and route a query. Checks: no crash, no leak,
 * every failure has a message, and a decision's weights sum to 1.
 */
#include "mb_router.h"

#include <math.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mb_gguf *g;
    struct mb_err err;
    mb_err_init(&err);
    if (mb_gguf_open_memory(&g, data, size, "fuzz.gguf", &err))
        return 0;
    struct mb_router_fit f;
    mb_err_init(&err);
    int rc = mb_router_fit_read_gguf(g, &f, &err);
    if (rc && !err.msg[0])
        __builtin_trap();
    if (!rc && f.proj.in_dim <= 4096 && f.n_packs <= 64) {
        float x[4096], z[4096];
        for (uint32_t i = 0; i < f.proj.in_dim; i++)
            x[i] = (float)((i * 7u) % 13u) - 6.0f;
        mb_router_proj_apply(&f.proj, x, z);
        struct mb_router_cand c[65];
        c[0] = (struct mb_router_cand){ "general", NULL, 0, true };
        for (size_t i = 0; i < f.n_packs; i++)
            c[i + 1] = (struct mb_router_cand){ f.ids[i], f.keys + i * f.proj.out_dim, 1, false };
        struct mb_route_decision d;
        if (!mb_router_route(&f.params, c, f.n_packs + 1, z, f.proj.out_dim, &d, &err)) {
            double s = 0;
            for (size_t i = 0; i < d.n; i++)
                s += (double)d.v[i].weight;
            if (d.n == 0 || !(fabs(s - 1.0) < 1e-3))
                __builtin_trap();
            char line[256];
            mb_route_decision_format(&d, c, line, sizeof(line));
        }
        mb_router_fit_release(&f);
    } else if (!rc) {
        mb_router_fit_release(&f);
    }
    float *keys;
    uint32_t nk, dim;
    mb_err_init(&err);
    rc = mb_router_keys_read(g, &keys, &nk, &dim, &err);
    if (rc && !err.msg[0])
        __builtin_trap();
    if (!rc)
        mb_free(keys);
    mb_gguf_free(g);
    return 0;
}
