/*
 * mb_rope.h - rotary position embedding, in place, in ggml's two layouts:
 *
 *   MB_ROPE_NORMAL (llama): rotate adjacent pairs (x[2i], x[2i+1])
 *   MB_ROPE_NEOX   (GPT-NeoX, Qwen, ...): rotate (x[i], x[i + n_rot/2])
 *
 * for i < n_rot/2 by theta_i = pos * freq_scale * freq_base^(-2i/n_rot):
 *
 *     x0' = x0 cos(theta) - x1 sin(theta),  x1' = x0 sin(theta) + x1 cos(theta)
 *
 * Dimensions n_rot .. head_dim-1 are left as they are. The CPU computes theta
 * like ggml (theta_{i+1} = theta_i * freq_base^(-2/n_rot) in float), so it
 * rounds like llama.cpp; the reference computes it in double.
 */
#ifndef MB_ROPE_H
#define MB_ROPE_H

#include "mb_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ggml's mode values (GGML_ROPE_TYPE_NEOX == 2). */
enum mb_rope_mode {
    MB_ROPE_NORMAL = 0,
    MB_ROPE_NEOX = 2,
};

struct mb_rope_args {
    float *x;           /* m rows; row i holds n_head heads of head_dim floats */
    const int32_t *pos; /* m positions (>= 0), backend memory */
    size_t m;
    size_t x_stride; /* elements between rows (>= n_head * head_dim; ignored when m == 1) */
    size_t n_head, head_dim;
    size_t n_rot; /* rotated dimensions per head: even, <= head_dim (llama: head_dim) */
    enum mb_rope_mode mode;
    float freq_base;  /* llama.rope.freq_base (10000 when absent; 100000 for SmolLM2) */
    float freq_scale; /* 1 / llama.rope.scaling.factor for linear scaling, else 1 */
};

/* MB_E_USAGE for NULL pointers, odd or too large n_rot, bad mode or frequencies. */
int mb_rope_check(const struct mb_rope_args *a, struct mb_err *err);
/* The reference oracle (double precision); a negative position is MB_E_USAGE. */
int mb_ref_rope(const struct mb_rope_args *a, struct mb_err *err);

#ifdef __cplusplus
}
#endif

#endif /* MB_ROPE_H */
