/*
 * mb_quant.h - re-encoding the weights of a GGUF file (`gguf quantize`,
 * `pack quantize`): the per-tensor policy that decides each tensor's type, the
 * plan it produces, and the writer that streams the new file, quantizing rows
 * on a thread pool as the GGUF writer asks for the bytes.
 *
 * The policy (docs/quantization.md has the table):
 *  - weight matrices of the blocks ("expert blocks", every 2-D `*.weight` that is
 *    not one of the roles below) get the chosen type; with Q4_K and the mix on,
 *    the attn_v and ffn_down matrices of some layers get Q6_K as llama.cpp's
 *    Q4_K_M does (its use_more_bits rule);
 *  - 1-D tensors (norms, biases) and tensors whose name does not end in
 *    "weight" (routing.keys) are never touched;
 *  - adapters (adapter_in.weight, adapter_out.weight) get the adapter type, F16
 *    unless asked otherwise;
 *  - output.weight (and token_embd.weight when the head is tied to it) gets the
 *    head type: by default Q8_0 for Q8_0 and Q6_K for the 4- and 5-bit types,
 *    llama.cpp's rule; an untied token_embd.weight gets the chosen type;
 *  - the default adapter type never widens a quantized adapter (it stays as it
 *    is); a type given explicitly is obeyed (--type f16 dequantizes a model);
 *  - a row length that the target's block does not divide falls back as in
 *    llama.cpp: Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, and to F16 when even
 *    32 does not divide it. SmolLM2's width, 576, is not a multiple of 256.
 * A tensor already quantized that would get another quantized type is a
 * re-quantization: the plan marks it and mb_quant_write_file() refuses it
 * unless the policy allows it (rounding twice loses more than rounding once).
 *
 * Ownership: a plan borrows the struct mb_gguf it was made from (tensor
 * pointers); release it with mb_quant_plan_release() before freeing the file.
 * Errors: 0 or a negative MB_E_* code with err filled; messages name the file
 * and the tensor.
 */
#ifndef MB_QUANT_H
#define MB_QUANT_H

#include "mb_common.h"
#include "mb_gguf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* "Not given: use the policy's default" for the per-role types below. */
#define MB_QUANT_TYPE_DEFAULT UINT32_MAX

struct mb_quant_policy {
    uint32_t type;         /* the chosen type (enum mb_dtype), see mb_quant_type_ok() */
    bool pure;             /* no Q4_K mix and no head rule: every matrix gets `type` */
    uint32_t embd_type;    /* token_embd.weight, or MB_QUANT_TYPE_DEFAULT */
    uint32_t head_type;    /* output.weight (tied: token_embd.weight), or DEFAULT */
    uint32_t adapter_type; /* adapter_in/out.weight, or DEFAULT (F16) */
    bool allow_requantize;
};

/* type = Q8_0, everything else default, re-quantization refused. */
void mb_quant_policy_init(struct mb_quant_policy *p);

/*
 * True for the types the policy can write: F32, F16, BF16, Q8_0, Q4_0, Q4_1,
 * Q5_0, Q5_1, Q4_K, Q6_K. A comma-separated list of their names is in
 * MB_QUANT_TYPE_NAMES, for messages.
 */
bool mb_quant_type_ok(uint32_t type);
#define MB_QUANT_TYPE_NAMES "q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q6_k, f16, bf16, f32"

/*
 * llama.cpp's general.file_type value for a policy (LLAMA_FTYPE_MOSTLY_*: 7 for
 * Q8_0, 2 for Q4_0, 15 for the Q4_K mix (Q4_K_M), 14 for pure Q4_K, ...).
 */
uint32_t mb_quant_file_type(const struct mb_quant_policy *p);

/* What a tensor is to the policy. */
enum mb_quant_role {
    MB_QUANT_ROLE_VECTOR,    /* 1-D: norms, biases (kept) */
    MB_QUANT_ROLE_OTHER,     /* a name not ending in "weight", e.g. routing.keys (kept) */
    MB_QUANT_ROLE_MATRIX,    /* a block's weight matrix */
    MB_QUANT_ROLE_EMBEDDING, /* token_embd.weight */
    MB_QUANT_ROLE_HEAD,      /* output.weight, or a tied token_embd.weight */
    MB_QUANT_ROLE_ADAPTER,   /* adapter_in.weight, adapter_out.weight */
};
/* "vector", "other", "matrix", "embedding", "head", "adapter". */
const char *mb_quant_role_name(enum mb_quant_role r);

/* The decision for one tensor. */
struct mb_quant_item {
    const struct mb_gguf_tensor *t; /* borrowed from the file */
    enum mb_quant_role role;
    uint32_t want;   /* the type the policy asked for */
    uint32_t type;   /* the type written (want, or its fallback) */
    bool fallback;   /* want's block length does not divide the rows */
    bool mixed;      /* raised to Q6_K by the Q4_K mix */
    bool requant;    /* a quantized tensor re-encoded as another quantized type */
    bool kept_wide;  /* quantized adapter left as it is instead of widened to F16 */
    uint64_t nbytes; /* bytes of the tensor as written */
};

struct mb_quant_plan {
    struct mb_quant_item *items; /* one per tensor, in file order */
    size_t n;
    size_t n_convert;             /* tensors whose type changes */
    size_t n_fallback;            /* tensors that fell back to another type */
    size_t n_requant;             /* re-quantizations (see above) */
    uint64_t bytes_in, bytes_out; /* tensor data, before and after */
    bool tied_head;               /* no output.weight: token_embd.weight is the head */
};

/*
 * Decide every tensor's type. Errors: MB_E_USAGE for a policy type we cannot
 * write; MB_E_UNSUPPORTED for a tensor whose type must change but cannot be
 * read (no dequantization for it); MB_E_NOMEM. A re-quantization is not an
 * error here (see n_requant). Release with mb_quant_plan_release.
 */
int mb_quant_plan_make(const struct mb_gguf *g, const struct mb_quant_policy *p,
                       struct mb_quant_plan *plan, struct mb_err *err);
void mb_quant_plan_release(struct mb_quant_plan *plan);

/* Quantization error of one tensor, measured while it was written. */
struct mb_quant_stats {
    double sse; /* sum of (x - dequant(quant(x)))^2 */
    double ss;  /* sum of x^2 */
    double max; /* largest |x - dequant(quant(x))| */
    uint64_t n; /* elements measured (0 when the tensor was copied) */
};

struct mb_quant_write_opts {
    unsigned n_threads;                 /* 0 = one per core */
    const struct mb_progress *progress; /* bytes written; may be NULL */
    /* String keys to set in the output, as key, value pairs ending with NULL. */
    const char *const *set_str;
    /* When not NULL: plan->n entries filled with each tensor's error. */
    struct mb_quant_stats *stats;
};

/*
 * Write the quantized file to out_path atomically (temp file, fsync, rename):
 * every KV of g is copied, general.file_type and general.quantization_version
 * are set (unless the plan converts nothing) and opts->set_str applied; tensors
 * keep their order, copied when their type is unchanged, quantized row by row
 * on opts->n_threads threads otherwise. Errors: MB_E_STATE when the plan holds a
 * re-quantization the policy does not allow; MB_E_FORMAT for a row holding a
 * NaN or infinity ("model.gguf: tensor 'x' row 3: element 17 is nan"); the
 * writer's errors (MB_E_NOSPACE, MB_E_PERM, MB_E_IO, MB_E_INTERRUPTED). On any
 * error out_path is untouched.
 */
int mb_quant_write_file(const struct mb_gguf *g, const struct mb_quant_plan *plan,
                        const struct mb_quant_policy *p, const struct mb_quant_write_opts *opts,
                        const char *out_path, struct mb_err *err);

#ifdef __cplusplus
}
#endif

#endif /* MB_QUANT_H */
