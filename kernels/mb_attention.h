/*
 * mb_attention.h - causal self-attention with grouped KV heads over a KV
 * cache, for one query position (decode) or a block of them (prefill).
 *
 * KV cache layout (one layer; the runtime allocates one per layer and pack):
 * for each KV head h, n_ctx rows of head_dim elements, position-major:
 *
 *     K(h, p) = k + (h * n_ctx + p) * head_dim      (elements of cache.type)
 *     V(h, p) = v + (h * n_ctx + p) * head_dim
 *
 * so each head's keys and values are contiguous and a decode step streams
 * them in order. The element type is F32 or F16 (half the memory; the CPU
 * converts exactly with F16C, so only the storage rounding differs).
 *
 * Per query row i (position pos[i]) and head h, with g = n_head / n_kv_head
 * query heads per KV head and kv = h / g:
 *
 *     s_j = scale * dot(q_i,h, K(kv, j))      for j = 0 .. pos[i]
 *     out_i,h = sum_j softmax(s)_j * V(kv, j)
 *
 * (with round_f16 and an F16 cache, q and softmax(s) are rounded to f16 first).
 *
 * Positions 0 .. pos[i] must already be stored (mb_kv_store for this block
 * first). Everything lives in backend memory; positions too, so a CUDA graph
 * can replay a decode step with new positions.
 */
#ifndef MB_ATTENTION_H
#define MB_ATTENTION_H

#include "mb_common.h"
#include "mb_dtype.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One layer's cache (see the layout above). */
struct mb_kv_cache {
    void *k;
    void *v;
    uint32_t type; /* MB_DTYPE_F32 or MB_DTYPE_F16 */
    size_t n_ctx;  /* positions the cache holds */
    size_t n_kv_head;
    size_t head_dim;
};

/* Store m rows of K and V (n_kv_head * head_dim floats each) at positions pos[i]. */
struct mb_kv_store_args {
    struct mb_kv_cache cache;
    const float *k;
    const float *v;
    const int32_t *pos; /* m positions, each < cache.n_ctx */
    size_t m;
    size_t k_stride, v_stride; /* elements between rows (ignored when m == 1) */
};

struct mb_attention_args {
    struct mb_kv_cache cache;
    const float *q;     /* m rows of n_head * head_dim floats */
    const int32_t *pos; /* m positions: row i attends to 0 .. pos[i] */
    float *out;         /* m rows of n_head * head_dim floats; must not overlap q */
    size_t m;
    size_t n_head; /* a multiple of cache.n_kv_head */
    size_t q_stride, out_stride;
    float scale; /* usually 1 / sqrt(head_dim) */
    /*
     * With an F16 cache: round q and the probabilities to f16 before they
     * meet K and V, as ggml's (non-flash) attention does when its F16
     * matmuls convert their f32 operand. Slightly less precise; removes a
     * systematic difference from llama.cpp (default false: f32 throughout).
     */
    bool round_f16;
};

/* Bytes of one K or V array of a cache (n_kv_head * n_ctx * head_dim elements); false on overflow.
 */
bool mb_kv_cache_bytes(uint32_t type, size_t n_ctx, size_t n_kv_head, size_t head_dim,
                       size_t *bytes);

/* Shape checks shared by every backend (MB_E_USAGE / MB_E_UNSUPPORTED). */
int mb_kv_store_check(const struct mb_kv_store_args *a, struct mb_err *err);
int mb_attention_check(const struct mb_attention_args *a, struct mb_err *err);

/* The reference oracle: plain loops, double accumulation, two-pass softmax. */
int mb_ref_kv_store(const struct mb_kv_store_args *a, struct mb_err *err);
int mb_ref_attention(const struct mb_attention_args *a, struct mb_err *err);

#ifdef __cplusplus
}
#endif

#endif /* MB_ATTENTION_H */
