/*
 * mb_router.h - the router of the modular runtime (DESIGN.md §2, docs/routing.md):
 * which data packs should answer a prompt, and with what weights.
 *
 *   routing embedding  tokens -> embedding -> the base's U "understanding" blocks
 *                      -> each token's h_u L2-normalised -> mean over the tokens ->
 *                      L2-normalised: a unit vector of the base's width (h_u space).
 *                      (Normalising each token first keeps the few tokens with
 *                      massive activations from dominating the mean; it raised
 *                      top-1 accuracy without fit from 0.85 to 0.97 at U=4.) mb_router_embedder
 * computes it; a caller that already has the h_u rows of a prompt uses mb_router_pool() instead.
 *   projection         optional: z = W (x - mu), then L2-normalised. `router fit`
 *                      learns W and mu (regularised LDA, mb_router_fit_lda) from the
 *                      installed packs' routing examples.
 *   routing keys       one unit vector per data pack: the normalised mean of the
 *                      routing embeddings of its routing.examples (mb_router_keys_mean),
 *                      in the same space as the query (raw h_u, or projected).
 *                      Stored in the pack's GGUF as tensor "routing.keys" (F32,
 *                      [dim] x n_keys; n_keys = 1 today, the reader accepts more and a
 *                      pack's similarity is then the best of its keys).
 *   decision           mb_router_route(): cosine similarity of the query to each
 *                      candidate's keys; the top-k data packs with similarity >= the
 *                      threshold are selected; the general pack is always selected
 *                      (its score is its own similarity when it has keys, else the
 *                      threshold); weights = softmax(score / tau) over the selection.
 *                      mb_route_decision_format() prints "general 0.71, python 0.29".
 *
 * Ownership: the embedder borrows what it is given (embedding, stack, tokenizer,
 * backend) unless it opened them itself (mb_router_embedder_open_gguf). Arrays
 * passed in are borrowed for the call. Not thread-safe per embedder.
 *
 * Errors: 0 or a negative MB_E_* code with err filled: MB_E_USAGE for bad
 * parameters (tau <= 0, dimension mismatch), MB_E_FORMAT for a malformed keys
 * tensor, MB_E_NOMEM.
 */
#ifndef MB_ROUTER_H
#define MB_ROUTER_H

#include "mb_common.h"
#include "mb_gguf.h"
#include "mb_model.h"
#include "mb_tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* GGUF names of what pack build / router fit write. */
#define MB_ROUTER_KEYS_TENSOR    "routing.keys"                /* F32 [dim] x n_keys */
#define MB_ROUTER_KEY_BASE_ID    "modularbase.routing.base.id" /* string */
#define MB_ROUTER_KEY_BASE_VER   "modularbase.routing.base.version"
#define MB_ROUTER_KEY_U          "modularbase.routing.understanding" /* u32: blocks run */
#define MB_ROUTER_KEY_DIM        "modularbase.routing.dim"           /* u32 */
#define MB_ROUTER_KEY_N_EXAMPLES "modularbase.routing.examples"      /* u32 */

/*
 * Defaults for routing in the raw h_u space with the packs' own routing.keys
 * (the router pack may override them) and in the projected space of a fit
 * (stored in fit.gguf). Raw cosine similarities of SmolLM2 routing embeddings
 * sit near 0.97 for the right pack and 0.96 for the best wrong one; projected
 * ones near 0.9 and 0.1 (docs/routing.md): hence the different scales.
 */
#define MB_ROUTER_DEFAULT_TAU           0.01f
#define MB_ROUTER_DEFAULT_TOP_K         1u
#define MB_ROUTER_DEFAULT_THRESHOLD     0.95f
#define MB_ROUTER_FIT_DEFAULT_TAU       0.2f
#define MB_ROUTER_FIT_DEFAULT_TOP_K     2u
#define MB_ROUTER_FIT_DEFAULT_THRESHOLD 0.5f
#define MB_ROUTER_MAX_K                 16u
#define MB_ROUTER_MAX_TOKENS            4096u /* tokens of one text the embedder takes */

/* ------------------------------------------------------------ embedding */

struct mb_router_embedder;

/* What an embedder runs; all borrowed, must outlive it. */
struct mb_router_embedder_src {
    const struct mb_embedding *embd;
    const struct mb_stack *stack; /* the understanding blocks 0..U-1 */
    const struct mb_tokenizer *tok;
    struct mb_backend *be;
};

/* An embedder over borrowed parts (stack state of MB_ROUTER_MAX_TOKENS positions). */
int mb_router_embedder_new(const struct mb_router_embedder_src *src,
                           struct mb_router_embedder **out, struct mb_err *err);

/*
 * An embedder over an open GGUF (borrowed, must outlive it): a plain llama model
 * or a base pack, both with blocks "blk.0." .. "blk.<U-1>." as the understanding
 * stack. n_understanding 0 means: read MB_ROUTER_BASE_U_KEYS from the file
 * (MB_E_NOTFOUND when none is there). Owns the stack, embedding and tokenizer.
 */
int mb_router_embedder_open_gguf(const struct mb_gguf *g, uint32_t n_understanding,
                                 struct mb_backend *be, struct mb_router_embedder **out,
                                 struct mb_err *err);
void mb_router_embedder_free(struct mb_router_embedder *e);

uint32_t mb_router_embedder_dim(const struct mb_router_embedder *e);
uint32_t mb_router_embedder_n_blocks(const struct mb_router_embedder *e);

/*
 * The routing embedding of `len` bytes of text (tokenized as plain text, no
 * BOS/chat template; a text longer than MB_ROUTER_MAX_TOKENS tokens is routed by
 * its first MB_ROUTER_MAX_TOKENS): out gets dim floats, a unit vector (all zero
 * for a text without tokens). Deterministic (the same on any thread count).
 */
int mb_router_embed(struct mb_router_embedder *e, const char *text, size_t len, float *out,
                    struct mb_err *err);

/*
 * Pool n rows of h_u (dim floats each, host memory) into the routing embedding:
 * each row L2-normalised (zero rows skipped), summed, the sum L2-normalised.
 */
void mb_router_pool(const float *h, size_t n, uint32_t dim, float *out);

/* Scale v to unit length (left as is when it is zero). */
void mb_router_normalize(float *v, uint32_t dim);

/* ------------------------------------------------------------ projection */

/* z = W (x - mu), normalised. W: out_dim rows of in_dim floats. */
struct mb_router_proj {
    uint32_t in_dim, out_dim;
    float *w;  /* out_dim * in_dim, owned */
    float *mu; /* in_dim, owned */
};
void mb_router_proj_release(struct mb_router_proj *p);
/* out: p->out_dim floats, unit length. */
void mb_router_proj_apply(const struct mb_router_proj *p, const float *x, float *out);

/*
 * Regularised LDA: n examples x (rows of dim floats) with labels in 0..n_classes-1
 * (every class needs one example at least, n_classes >= 2). Within-class scatter
 * Sw is shrunk toward a multiple of the identity: (1 - gamma) Sw + gamma tr(Sw)/dim I
 * (gamma in (0, 1]); the n_classes-1 discriminant directions are scaled to unit
 * within-class variance. Fills *out (release with mb_router_proj_release).
 */
int mb_router_fit_lda(const float *x, const uint32_t *labels, size_t n, uint32_t dim,
                      uint32_t n_classes, double gamma, struct mb_router_proj *out,
                      struct mb_err *err);

/* ------------------------------------------------------------ keys and decisions */

/* key = normalised mean of n unit vectors (rows of dim floats). */
void mb_router_keys_mean(const float *x, size_t n, uint32_t dim, float *key);

/* One candidate pack of a decision. */
struct mb_router_cand {
    const char *id;
    const float *keys; /* n_keys rows of dim floats (unit vectors), borrowed */
    uint32_t n_keys;   /* 0: no keys (only sensible for the general pack) */
    bool general;      /* always eligible */
};

struct mb_router_params {
    float tau;       /* softmax temperature, > 0 */
    uint32_t top_k;  /* data packs selected at most (general not counted), <= MAX_K */
    float threshold; /* minimum similarity of a data pack */
};
void mb_router_params_init(struct mb_router_params *p);     /* the raw-space defaults */
void mb_router_params_init_fit(struct mb_router_params *p); /* the projected-space ones */

struct mb_route_choice {
    size_t cand; /* index into the candidates */
    float sim;   /* score: best cosine similarity (general without keys: threshold) */
    float weight;
};

/* The selection, highest weight first; weights sum to 1. */
struct mb_route_decision {
    size_t n;
    struct mb_route_choice v[MB_ROUTER_MAX_K + 1];
    size_t best;    /* the data pack with the highest similarity (even if not selected) */
    float best_sim; /* its similarity; -2 when there is no data pack with keys */
};

/* Best cosine similarity of unit vector q to the keys of c (-2 when it has none). */
float mb_router_similarity(const struct mb_router_cand *c, const float *q, uint32_t dim);

/*
 * Decide for query q (a unit vector of dim floats, in the keys' space). The
 * general pack (at most one candidate with general set) is always selected;
 * MB_E_USAGE for bad params or two general candidates. A decision with no
 * general candidate and nothing above the threshold is empty (n = 0).
 */
int mb_router_route(const struct mb_router_params *p, const struct mb_router_cand *cands,
                    size_t n_cands, const float *q, uint32_t dim, struct mb_route_decision *out,
                    struct mb_err *err);

/* "general 0.71, python 0.29" into buf (truncated to fit; always NUL-terminated). */
void mb_route_decision_format(const struct mb_route_decision *d, const struct mb_router_cand *cands,
                              char *buf, size_t size);

/* Numerically stable softmax of s[i] / tau over n values, into w. */
void mb_router_softmax(const float *s, size_t n, float tau, float *w);

/* ------------------------------------------------------------ keys in GGUF files */

/*
 * Read the routing keys of a pack GGUF: tensor MB_ROUTER_KEYS_TENSOR, F32,
 * [dim] x n_keys (n_keys 1..MB_ROUTER_MAX_KEYS). *keys gets a copy (mb_free);
 * MB_E_NOTFOUND when the file has none, MB_E_FORMAT for a wrong type/shape or a
 * non-finite value (the message names the file and the tensor).
 */
#define MB_ROUTER_MAX_KEYS 1024u
int mb_router_keys_read(const struct mb_gguf *g, float **keys, uint32_t *n_keys, uint32_t *dim,
                        struct mb_err *err);

/* Where the understanding depth U of a base GGUF may be recorded, in order. */
#define MB_ROUTER_BASE_U_KEYS                                                                      \
    {                                                                                              \
        "modularbase.base.understanding_blocks", "modularbase.base.understanding", MB_ROUTER_KEY_U \
    }

/* ------------------------------------------------------------ the fitted router */

/*
 * What `router fit` stores in $MODULARBASE_HOME/router/fit.gguf (never in the
 * installed packs): the projection and, for each pack it was fitted on, its key
 * in the projected space. The runtime uses it when the packs it routes over
 * (id and version) are all in it and the base matches; otherwise it falls back
 * to the packs' own routing.keys (raw h_u space).
 *   tensors  router.proj.weight  F32 [in_dim] x out_dim
 *            router.proj.mean    F32 [in_dim]
 *            routing.keys        F32 [out_dim] x n_packs (row i: pack i)
 *   keys     modularbase.router.packs / .pack_versions (string arrays),
 *            MB_ROUTER_KEY_BASE_ID / _BASE_VER / _U, modularbase.router.shrinkage (f32),
 *            modularbase.router.tau / .top_k / .threshold (f32 / u32 / f32)
 */
struct mb_router_fit {
    struct mb_router_proj proj;
    size_t n_packs;
    char **ids;      /* n_packs, owned */
    char **versions; /* n_packs, owned ("" when unknown) */
    float *keys;     /* n_packs x proj.out_dim, owned */
    char *base_id;   /* owned, "" when unknown */
    char *base_version;
    uint32_t n_understanding;
    float shrinkage;
    struct mb_router_params params; /* for the projected space (modularbase.router.tau, ...) */
};
#define MB_ROUTER_FIT_FILE "fit.gguf" /* under $MODULARBASE_HOME/router/ */
void mb_router_fit_release(struct mb_router_fit *f);
/* Write atomically (mb_gguf_writer_write); deterministic bytes for equal contents. */
int mb_router_fit_write(const struct mb_router_fit *f, const char *path, struct mb_err *err);
/* Read and validate (MB_E_FORMAT naming the file and field for anything inconsistent). */
int mb_router_fit_read(const char *path, struct mb_router_fit *out, struct mb_err *err);
/* Same over an open GGUF (borrowed; a fit read from memory, fuzzing). */
int mb_router_fit_read_gguf(const struct mb_gguf *g, struct mb_router_fit *out, struct mb_err *err);
/* Index of pack `id` in f, or SIZE_MAX. */
size_t mb_router_fit_find(const struct mb_router_fit *f, const char *id);

#ifdef __cplusplus
}
#endif

#endif /* MB_ROUTER_H */
