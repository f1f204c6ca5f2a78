/*
 * mb_model.h - model assembly and the forward pass, built from pieces that the
 * modular runtime (base + data packs, DESIGN.md §2) recombines:
 *
 *   struct mb_stack        a run of llama blocks sharing one shape (width, heads,
 *                          FFN width, RoPE, epsilon), loaded from any GGUF given a
 *                          tensor-name prefix and a block index range: blk.3..26 of
 *                          a full model and blk.0.. of a pack file load alike.
 *                          Immutable after loading; any number of states may use it.
 *   struct mb_stack_state  one stack's KV cache and scratch for one conversation:
 *                          mb_stack_forward() maps hidden states [n x width] at
 *                          positions [pos, pos + n) to hidden states, in place.
 *   struct mb_embedding    the token embedding lookup (token_embd.weight).
 *   struct mb_lm_head      final RMSNorm + output matrix (tied to the embedding when
 *                          output.weight is absent).
 *   struct mb_model        a plain llama GGUF: embedding + one stack + head.
 *   struct mb_session      tokens -> logits over a model with its own state: KV
 *                          positions, token history, truncation, batched prefill.
 *
 * Weights stay in their GGUF type. With a host-memory backend (the CPU) they are
 * used in place from the file's mapping - nothing is copied or dequantized at load
 * (a tensor whose data is not 32-byte aligned is the one exception: it is copied
 * into an aligned buffer). Other backends (CUDA) get the bytes uploaded once.
 * Every op of the forward pass goes through the backend table (mb_backend.h), so
 * swapping the backend swaps every kernel.
 *
 * Ownership: a stack, embedding or head borrows the struct mb_gguf it was loaded
 * from (its mapping holds the weights) and the backend; both must outlive it.
 * A model owns its GGUF (mb_model_load opens it) and borrows the backend.
 * A session borrows its model. None of these are thread-safe: one thread drives
 * one session (the backend's thread pool parallelises each op).
 *
 * Errors: 0 or a negative MB_E_* code with err filled; messages name the file,
 * key or tensor ("model.gguf: tensor 'blk.3.attn_q.weight' has shape 576 x 512,
 * expected 576 x 576"). MB_E_FORMAT for malformed or inconsistent files,
 * MB_E_NOTFOUND for a missing key or tensor, MB_E_UNSUPPORTED for an architecture,
 * tensor type or feature we do not run, MB_E_LIMIT when a context is full,
 * MB_E_NOMEM, and the backend's errors.
 */
#ifndef MB_MODEL_H
#define MB_MODEL_H

#include "mb_common.h"
#include "mb_gguf.h"
#include "mb_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ hparams */

/* The shape every block of one stack shares. */
struct mb_block_hparams {
    uint32_t n_embd;    /* width of the hidden states */
    uint32_t n_head;    /* query heads */
    uint32_t n_head_kv; /* key/value heads (grouped-query attention); divides n_head */
    uint32_t head_dim;  /* per head; n_embd / n_head unless attention.key_length says */
    uint32_t n_ff;      /* FFN width (SwiGLU) */
    uint32_t n_rot;     /* rotated dimensions per head (rope.dimension_count) */
    enum mb_rope_mode rope_mode;
    float rope_freq_base;
    float rope_freq_scale; /* 1 / rope.scaling.factor for linear scaling, else 1 */
    float norm_eps;        /* RMSNorm epsilon */
};

/* Everything the `<arch>.*` keys of a llama-family GGUF say. */
struct mb_llama_hparams {
    char arch[32]; /* general.architecture ("llama") */
    uint32_t n_layer;
    uint32_t n_ctx_train; /* context_length */
    uint32_t n_vocab;     /* vocab_size, else the token_embd.weight rows */
    struct mb_block_hparams block;
};

/*
 * Read and validate the hyper-parameters of a llama-family GGUF: general.
 * architecture must be "llama" (MB_E_UNSUPPORTED otherwise, naming it); then
 * llama.block_count, embedding_length, feed_forward_length, attention.head_count,
 * attention.head_count_kv (default head_count), attention.key_length (default
 * width / heads), rope.freq_base (default 10000), rope.dimension_count (default
 * head_dim), rope.scaling.type/factor (none or linear), attention.
 * layer_norm_rms_epsilon, context_length and vocab_size (default: the embedding's
 * rows). Missing required keys are MB_E_NOTFOUND, values out of range or
 * inconsistent (heads not dividing, odd rotation, absurd sizes) MB_E_FORMAT.
 */
int mb_llama_hparams_read(const struct mb_gguf *g, struct mb_llama_hparams *hp, struct mb_err *err);

/* Check a block shape (as above) for a stack built by other means (packs). */
int mb_block_hparams_check(const struct mb_block_hparams *hp, const char *what, struct mb_err *err);

/* ------------------------------------------------------------ stacks */

/* Which blocks of a GGUF make a stack. */
struct mb_stack_spec {
    const char *prefix; /* tensor name prefix, "blk." ("blk.N.attn_q.weight") */
    uint32_t first;     /* index N of the first block */
    uint32_t n_blocks;  /* at least 1 */
    struct mb_block_hparams hp;
};

struct mb_stack;

/*
 * Load blocks first .. first + n_blocks - 1 of `g`: for each, attn_norm, attn_q,
 * attn_k, attn_v, attn_output, ffn_norm, ffn_gate, ffn_up and ffn_down, shapes
 * checked against spec->hp, matrix types checked against the backend (norms may be
 * F32, F16 or BF16). Tensors we would have to ignore (attention biases) are
 * MB_E_UNSUPPORTED rather than silently wrong. Borrows g and be (see above); free
 * with mb_stack_free.
 */
int mb_stack_load(const struct mb_gguf *g, const struct mb_stack_spec *spec, struct mb_backend *be,
                  struct mb_stack **out, struct mb_err *err);
void mb_stack_free(struct mb_stack *s);

const struct mb_block_hparams *mb_stack_hparams(const struct mb_stack *s);
uint32_t mb_stack_n_blocks(const struct mb_stack *s);
/* Bytes of weights the stack reads per token (for budgets and bandwidth figures). */
uint64_t mb_stack_weight_bytes(const struct mb_stack *s);

struct mb_stack_state;

/*
 * A KV cache of n_ctx positions (kv_type MB_DTYPE_F16, as llama.cpp's default,
 * or MB_DTYPE_F32) for every block of `s`, and scratch for up to n_batch rows per
 * op, in backend memory, allocated once: forward passes allocate nothing.
 * Bytes: mb_stack_state_bytes(). Free with mb_stack_state_free.
 */
int mb_stack_state_new(const struct mb_stack *s, struct mb_backend *be, size_t n_ctx,
                       size_t n_batch, uint32_t kv_type, struct mb_stack_state **out,
                       struct mb_err *err);
void mb_stack_state_free(struct mb_stack_state *st);
/* What mb_stack_state_new would allocate (KV cache + scratch); false on overflow. */
bool mb_stack_state_bytes(const struct mb_block_hparams *hp, uint32_t n_blocks, size_t n_ctx,
                          size_t n_batch, uint32_t kv_type, uint64_t *kv_bytes,
                          uint64_t *scratch_bytes);

size_t mb_stack_state_n_ctx(const struct mb_stack_state *st);
/* Positions 0 .. n_past-1 hold keys and values. */
size_t mb_stack_state_n_past(const struct mb_stack_state *st);
/* Forget positions n .. n_past-1 (n >= n_past is a no-op). O(1): nothing is cleared. */
void mb_stack_state_truncate(struct mb_stack_state *st, size_t n);

/*
 * Run the blocks over n rows of hidden states h (backend memory, rows of
 * hp.n_embd floats, contiguous) at positions pos .. pos + n - 1, in place: each
 * block adds its attention and FFN outputs to h (h = h + attn(norm(h)); h = h +
 * ffn(norm(h))). Keys and values of those positions are stored; rows attend
 * causally to 0 .. their own position. Rows are processed n_batch at a time.
 * pos must be <= n_past (a smaller pos overwrites, i.e. truncates) and pos + n
 * <= n_ctx (MB_E_LIMIT otherwise). Afterwards n_past = pos + n.
 */
int mb_stack_forward(const struct mb_stack *s, struct mb_stack_state *st, float *h, size_t n,
                     size_t pos, struct mb_err *err);

/*
 * mb_stack_forward in three steps, for one chunk of n <= n_batch rows, so
 * that the middle one can be recorded as a backend graph (mb_backend.h) and
 * replayed: _begin checks like mb_stack_forward, drops positions >= pos and
 * uploads the rows' positions; _ops issues the blocks' ops and nothing else
 * (no upload, no host value that changes between steps); _end records the n
 * positions as cached. A decode step replayed from a graph calls _begin,
 * launches the graph, then _end.
 */
int mb_stack_forward_begin(const struct mb_stack *s, struct mb_stack_state *st, size_t n,
                           size_t pos, struct mb_err *err);
int mb_stack_forward_ops(const struct mb_stack *s, struct mb_stack_state *st, float *h, size_t n,
                         struct mb_err *err);
void mb_stack_forward_end(struct mb_stack_state *st, size_t n);

/* ------------------------------------------------------------ embedding and head */

/* A weight tensor in backend memory (borrowed from the mapping, or owned). */
struct mb_tensor_ref {
    struct mb_weight w;
    void *owned; /* backend buffer to free, or NULL when borrowed */
};

struct mb_embedding {
    struct mb_tensor_ref table; /* n_vocab rows of n_embd */
    struct mb_backend *be;
};

/* token_embd.weight as [n_vocab x n_embd] (shape checked). Release with mb_embedding_release. */
int mb_embedding_load(const struct mb_gguf *g, const char *name, uint32_t n_embd, uint32_t n_vocab,
                      struct mb_backend *be, struct mb_embedding *out, struct mb_err *err);
void mb_embedding_release(struct mb_embedding *e);
/* h[i] = row ids[i] (ids: n ids in backend memory; h: n rows of n_embd). */
int mb_embedding_lookup(const struct mb_embedding *e, const int32_t *ids, size_t n, float *h,
                        struct mb_err *err);

struct mb_lm_head {
    const float *norm; /* n_embd RMSNorm weights, backend memory */
    void *norm_owned;
    struct mb_tensor_ref out; /* n_vocab rows of n_embd */
    bool tied;                /* out is the embedding table */
    float eps;
    struct mb_backend *be;
};

/*
 * output_norm.weight and output.weight, or the embedding table when output.weight
 * is absent (tied; `embd` must then be given). Release with mb_lm_head_release.
 */
int mb_lm_head_load(const struct mb_gguf *g, uint32_t n_embd, uint32_t n_vocab, float eps,
                    const struct mb_embedding *embd, struct mb_backend *be, struct mb_lm_head *out,
                    struct mb_err *err);
void mb_lm_head_release(struct mb_lm_head *h);
/*
 * logits[i] = out * rmsnorm(h[i]) for n rows (all backend memory): h rows of
 * n_embd floats h_stride apart, xn scratch of n x n_embd floats, logits rows of
 * n_vocab floats.
 */
int mb_lm_head_forward(const struct mb_lm_head *head, const float *h, size_t h_stride, size_t n,
                       float *xn, float *logits, struct mb_err *err);

/* ------------------------------------------------------------ model */

struct mb_model {
    struct mb_gguf *gguf; /* owned */
    struct mb_backend *be;
    struct mb_llama_hparams hp;
    struct mb_embedding embd;
    struct mb_stack *blocks; /* blk.0 .. blk.n_layer-1 */
    struct mb_lm_head head;
};

/*
 * Open a llama-family GGUF and assemble it on `be` (borrowed): hparams, embedding,
 * every block, head. Free with mb_model_free. The tokenizer and chat template are
 * read from mb_model_gguf() by the caller (mb_tokenizer_load_gguf).
 */
int mb_model_load(const char *path, struct mb_backend *be, struct mb_model **out,
                  struct mb_err *err);
/* Same over an already open GGUF, taking ownership of it (freed even on failure). */
int mb_model_load_gguf(struct mb_gguf *g, struct mb_backend *be, struct mb_model **out,
                       struct mb_err *err);
void mb_model_free(struct mb_model *m);
const struct mb_gguf *mb_model_gguf(const struct mb_model *m);
/* Bytes of weights one token reads (blocks + head; the embedding reads one row). */
uint64_t mb_model_weight_bytes(const struct mb_model *m);

/* ------------------------------------------------------------ session */

/* Default context: the training context capped at this (KV memory grows with it). */
#define MB_SESSION_DEFAULT_CTX_CAP 4096
#define MB_SESSION_DEFAULT_BATCH   512

struct mb_session_opts {
    size_t n_ctx;     /* 0 = min(training context, MB_SESSION_DEFAULT_CTX_CAP) */
    size_t n_batch;   /* rows per forward op in prefill; 0 = MB_SESSION_DEFAULT_BATCH */
    uint32_t kv_type; /* MB_DTYPE_F16 (the default) or MB_DTYPE_F32 */
};

/* The defaults (NULL opts mean the same). */
void mb_session_opts_init(struct mb_session_opts *o);

struct mb_session;

/* A session over `m` (borrowed). n_ctx above the training context is allowed. */
int mb_session_new(struct mb_model *m, const struct mb_session_opts *opts, struct mb_session **out,
                   struct mb_err *err);

/* opts (NULL = defaults) with n_ctx and n_batch resolved for `m` as mb_session_new does. */
void mb_session_opts_resolve(const struct mb_model *m, const struct mb_session_opts *opts,
                             struct mb_session_opts *out);

/*
 * What replaces a model's block stack in a session (the modular runtime,
 * mb_modular.h): forward maps n rows of hidden states (backend memory, rows of
 * hp.block.n_embd floats) at positions pos .. pos + n - 1 in place, like
 * mb_stack_forward; truncate forgets positions >= n; kv_bytes (may be NULL)
 * reports the KV cache held. Decode steps then run eagerly (no graphs).
 */
struct mb_session_blocks {
    void *ud;
    int (*forward)(void *ud, float *h, size_t n, size_t pos, struct mb_err *err);
    void (*truncate)(void *ud, size_t n);
    uint64_t (*kv_bytes)(void *ud);
};

/*
 * A session over the embedding and head of `m` (borrowed; m->blocks may be
 * NULL) whose blocks are `blocks` (copied; NULL = m->blocks as mb_session_new).
 * The caller sizes its states with mb_session_opts_resolve's n_ctx / n_batch.
 */
int mb_session_new_blocks(struct mb_model *m, const struct mb_session_blocks *blocks,
                          const struct mb_session_opts *opts, struct mb_session **out,
                          struct mb_err *err);
void mb_session_free(struct mb_session *s);

size_t mb_session_n_ctx(const struct mb_session *s);
size_t mb_session_n_past(const struct mb_session *s);
size_t mb_session_n_vocab(const struct mb_session *s);
/* The tokens whose keys and values are cached, in order (n_past of them). */
const int32_t *mb_session_tokens(const struct mb_session *s);
/* Bytes of KV cache and of scratch the session holds. */
uint64_t mb_session_kv_bytes(const struct mb_session *s);

/*
 * Run n tokens at positions n_past .. n_past + n - 1 (prefill in n_batch chunks,
 * or one decode step when n == 1). Afterwards mb_session_logits() is the last
 * token's logits. When `all_logits` is not NULL it receives n x n_vocab floats,
 * one row per token (for tests and perplexity; slower). MB_E_LIMIT when the
 * tokens do not fit in the context (nothing is run: the caller decides what to
 * drop), MB_E_FORMAT for an id outside the vocabulary, MB_E_USAGE for n == 0.
 * On any other error the cached positions are unspecified: truncate or reset.
 * Polls mb_interrupted between chunks (MB_E_INTERRUPTED).
 */
int mb_session_eval(struct mb_session *s, const int32_t *ids, size_t n, float *all_logits,
                    struct mb_err *err);
/* The last evaluated token's n_vocab logits (host memory, owned by the session). */
const float *mb_session_logits(const struct mb_session *s);

/*
 * Like mb_session_eval, but the last token's logits stay on the backend and
 * only their k best (1 .. min(MB_TOPK_MAX, n_vocab)) come back, best first
 * with ties by lower id (mb_topk.h): what a sampler needs for greedy (k = 1)
 * or top-k sampling, without copying the vocabulary from a device after every
 * token. mb_session_logits() is stale afterwards; mb_session_top() gives the
 * candidates.
 */
int mb_session_eval_top(struct mb_session *s, const int32_t *ids, size_t n, size_t k,
                        struct mb_err *err);
/* The candidates of the last mb_session_eval_top (owned by the session); returns k, 0 if none. */
size_t mb_session_top(const struct mb_session *s, const int32_t **ids, const float **vals);
/* True when the session's backend keeps its memory off the host (CUDA). */
bool mb_session_on_device(const struct mb_session *s);
/* Forget positions n .. n_past-1 (n >= n_past: no-op). The logits become stale. */
void mb_session_truncate(struct mb_session *s, size_t n);
void mb_session_reset(struct mb_session *s);

#ifdef __cplusplus
}
#endif

#endif /* MB_MODEL_H */
