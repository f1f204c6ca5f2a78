/*
 * fuzz_model.c - libFuzzer target for model assembly: arbitrary bytes that the
 * GGUF reader accepts go through mb_model_load_gguf() (hyper-parameter checks,
 * tensor lookup, shape and type checks) and, when a model loads and is small,
 * a session evaluates a few tokens (batched, truncated, one at a time). Any
 * crash or sanitizer report is a finding; a refused file is fine. Seeds:
 * corpus/fuzz_model/ (tiny llama models made by gen_model_seeds.py).
 */
#include "mb_runtime.h"
#include "mb_kernels.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_BYTES ((uint64_t)64 << 20) /* weights or state a run may touch */

static struct mb_backend *backend(void)
{
    static struct mb_backend *be;
    if (!be) {
        struct mb_cpu_opts o = { 0 };
        o.n_threads = 1;
        struct mb_err err;
        if (mb_backend_cpu_new(&o, &be, &err))
            abort();
    }
    return be;
}

static void exercise(struct mb_model *m)
{
    struct mb_err err;
    const struct mb_llama_hparams *hp = &m->hp;
    uint64_t kv, scratch;
    if (mb_model_weight_bytes(m) > MAX_BYTES ||
        !mb_stack_state_bytes(&hp->block, hp->n_layer, 8, 4, MB_DTYPE_F16, &kv, &scratch) ||
        kv + scratch > MAX_BYTES || (uint64_t)hp->n_vocab * 4 * sizeof(float) > MAX_BYTES)
        return;
    struct mb_session_opts so;
    mb_session_opts_init(&so);
    so.n_ctx = 8;
    so.n_batch = 4;
    struct mb_session *s;
    if (mb_session_new(m, &so, &s, &err))
        return;
    const int32_t last = (int32_t)(hp->n_vocab - 1);
    int32_t ids[5] = { 0, last, last / 2, 1 % (int32_t)hp->n_vocab, 0 };
    float *logits = mb_calloc(5 * (size_t)hp->n_vocab, sizeof(float));
    if (logits && !mb_session_eval(s, ids, 5, logits, &err)) {
        mb_session_truncate(s, 2);
        (void)mb_session_eval(s, ids + 2, 1, NULL, &err);
        (void)mb_session_eval(s, ids, 4, NULL, &err);
        if (mb_session_eval(s, ids, 4, NULL, &err) != MB_E_LIMIT) /* 3 + 4 + 4 > 8 */
            abort();
    }
    mb_free(logits);
    mb_session_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A 64-byte aligned copy, so weights are borrowed in place as from a mapping. */
    void *raw = mb_malloc(size + 64);
    if (!raw)
        return 0;
    uint8_t *buf = (uint8_t *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
    if (size)
        memcpy(buf, data, size);
    struct mb_err err;
    struct mb_gguf *g;
    if (mb_gguf_open_memory(&g, buf, size, "fuzz.gguf", &err) == 0) {
        struct mb_model *m;
        if (mb_model_load_gguf(g, backend(), &m, &err) == 0) {
            exercise(m);
            mb_model_free(m);
        } else if (!err.msg[0] || strchr(err.msg, '\n')) {
            abort(); /* every refusal is one line */
        }
    }
    mb_free(raw);
    return 0;
}
