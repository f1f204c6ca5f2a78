/*
 * mb_modular.h - the modular model of DESIGN.md §2 (docs/modular.md): a base
 * (embedding, U "understanding" blocks, F "fusion" blocks, final norm and LM
 * head, tokenizer) and data packs (their own blocks, width and adapters) run
 * as
 *
 *     h_u = understanding(embed(tokens))            stored for every position
 *     h   = sum_i w_i * adapter_out_i(pack_i(adapter_in_i(h_u)))
 *     logits = head(fusion(h))
 *
 * and `pack import`, which splits a llama-family GGUF into base, general and
 * router pack folders such that base + general with weight 1 is the original
 * model, bit for bit (same kernels, same order of operations).
 *
 * Ownership: mb_base_open / mb_data_pack_open open their GGUF and own it; both
 * borrow the backend. A struct mb_modular borrows its base and the data packs
 * given to mb_modular_select (they must outlive it or be deselected first).
 * Nothing here is thread-safe: one thread drives one modular model.
 *
 * Errors: 0 or a negative MB_E_* code with err filled; messages name the file
 * and key or tensor. MB_E_FORMAT for inconsistent files, MB_E_NOTFOUND for a
 * missing key or tensor, MB_E_UNSUPPORTED for a backend without host memory
 * (the CUDA path of the modular model is not written yet), MB_E_EXISTS when
 * `pack import` would overwrite a folder.
 */
#ifndef MB_MODULAR_H
#define MB_MODULAR_H

#include "mb_common.h"
#include "mb_gguf.h"
#include "mb_model.h"
#include "mb_router.h"
#include "mb_tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ GGUF keys */

/* Keys `pack import` writes (docs/pack-format.md, "modularbase.* keys"). */
#define MB_MOD_KEY_KIND         "modularbase.kind"             /* "base" | "data" | "router" */
#define MB_MOD_KEY_PACK_ID      "modularbase.pack.id"          /* string */
#define MB_MOD_KEY_PACK_VERSION "modularbase.pack.version"     /* string, SemVer */
#define MB_MOD_KEY_PACK_WIDTH   "modularbase.pack.width"       /* u32: hidden width of the pack */
#define MB_MOD_KEY_PACK_BLOCKS  "modularbase.pack.block_count" /* u32 */
#define MB_MOD_KEY_BASE_ID      "modularbase.base.id"          /* string */
#define MB_MOD_KEY_BASE_VERSION "modularbase.base.version"     /* string */
#define MB_MOD_KEY_BASE_WIDTH   "modularbase.base.width"       /* u32 */
#define MB_MOD_KEY_U            "modularbase.base.understanding_blocks" /* u32 */
#define MB_MOD_KEY_F            "modularbase.base.fusion_blocks"        /* u32 */
#define MB_MOD_KEY_FUSION_FIRST "modularbase.base.fusion_first_block"   /* u32 */
#define MB_MOD_KEY_SRC_SHA256   "modularbase.source.sha256"             /* string, hex */
#define MB_MOD_KEY_SRC_BLOCKS   "modularbase.source.block_count"        /* u32 */
#define MB_MOD_KEY_SRC_FIRST    "modularbase.source.first_block"        /* u32 (data packs) */
#define MB_MOD_KEY_ROUTER_TAU   "modularbase.router.tau"                /* f32 */
#define MB_MOD_KEY_ROUTER_TOPK  "modularbase.router.top_k"              /* u32 */
#define MB_MOD_KEY_ROUTER_THR   "modularbase.router.threshold"          /* f32 */

#define MB_MOD_ADAPTER_IN  "adapter_in.weight"  /* [base width] x pack width */
#define MB_MOD_ADAPTER_OUT "adapter_out.weight" /* [pack width] x base width */

/* The split `pack import` uses unless told (docs/modular.md says why). */
#define MB_MOD_DEFAULT_U 4u
#define MB_MOD_DEFAULT_F 2u

/* Router defaults written into the router pack: the raw h_u space's (docs/routing.md). */
#define MB_MOD_DEFAULT_TAU       MB_ROUTER_DEFAULT_TAU
#define MB_MOD_DEFAULT_TOP_K     MB_ROUTER_DEFAULT_TOP_K
#define MB_MOD_DEFAULT_THRESHOLD MB_ROUTER_DEFAULT_THRESHOLD

/* ------------------------------------------------------------ pack import */

struct mb_pack_import_opts {
    const char *model;        /* the llama-family GGUF to split */
    const char *out_dir;      /* receives base/, general/, router/ (created) */
    uint32_t n_understanding; /* U >= 1 */
    uint32_t n_fusion;        /* F >= 1; U + F < block_count */
    const char *base_id;      /* NULL: derived from general.name ("smollm2-135m-instruct") */
    const char *version;      /* NULL: "1.0.0" (all three packs) */
    const char *general_id;   /* NULL: "general" */
    const char *router_id;    /* NULL: "router" */
    bool force;               /* replace existing pack folders */
};

void mb_pack_import_opts_init(struct mb_pack_import_opts *o);

/* What an import wrote (for the CLI's summary). */
struct mb_pack_import_result {
    char base_id[65], general_id[65], router_id[65], version[64];
    uint32_t n_layer, n_understanding, n_fusion, width;
    uint64_t bytes[3]; /* GGUF sizes: base, general, router */
};

/*
 * Split o->model into o->out_dir/{base,general,router}/, each with pack.yaml
 * and its GGUF (base.gguf, general.gguf, router.gguf), weights copied in their
 * own types. Folders are written under temporary names and renamed into place;
 * an existing folder is MB_E_EXISTS unless o->force. progress may be NULL.
 */
int mb_pack_import(const struct mb_pack_import_opts *o, const struct mb_progress *progress,
                   struct mb_pack_import_result *res, struct mb_err *err);

/* ------------------------------------------------------------ packs on disk */

/*
 * The GGUF of a pack: `path` is a GGUF file, or a pack folder whose pack.yaml
 * names it (weights.file). *gguf_path is allocated (mb_free).
 */
int mb_pack_weights_path(const char *path, char **gguf_path, struct mb_err *err);

/* ------------------------------------------------------------ base */

struct mb_base {
    struct mb_model *model; /* embedding, head, hparams and the GGUF (blocks NULL), owned */
    struct mb_tokenizer *tok;
    struct mb_stack *understanding; /* blk.0 .. blk.U-1 */
    struct mb_stack *fusion;        /* blk.fusion_first .. + F-1 */
    uint32_t n_understanding, n_fusion, fusion_first;
    char id[65], version[64];
    char *path; /* the GGUF */
};

/*
 * Open a base pack (folder or GGUF; kind "base") on `be` (borrowed). The
 * tokenizer and chat template come from the same file (mb_base_gguf).
 * Free with mb_base_free.
 */
int mb_base_open(const char *path, struct mb_backend *be, struct mb_base **out, struct mb_err *err);
void mb_base_free(struct mb_base *b);
const struct mb_gguf *mb_base_gguf(const struct mb_base *b);
uint32_t mb_base_width(const struct mb_base *b);

/* ------------------------------------------------------------ data packs */

struct mb_data_pack {
    struct mb_gguf *gguf; /* owned */
    char id[65], version[64];
    char *path;
    struct mb_block_hparams hp; /* the pack's own block shape */
    uint32_t n_blocks, width, base_width;
    struct mb_stack *blocks;
    struct mb_tensor_ref adapter_in, adapter_out; /* w.data NULL when absent (identity) */
    struct mb_backend *be;
};

/*
 * Open a data pack (folder or GGUF; kind "data") for `base` (borrowed): blocks
 * blk.0 .. from the pack's `llama.*` keys, adapters checked against the widths
 * (absent adapters need equal widths). MB_E_FORMAT when the pack does not fit
 * the base (width, missing adapter). Free with mb_data_pack_free.
 */
int mb_data_pack_open(const char *path, const struct mb_base *base, struct mb_backend *be,
                      struct mb_data_pack **out, struct mb_err *err);
void mb_data_pack_free(struct mb_data_pack *p);
/* Bytes of weights the pack holds (blocks + adapters). */
uint64_t mb_data_pack_bytes(const struct mb_data_pack *p);

/* ------------------------------------------------------------ the modular model */

struct mb_modular;

/*
 * A modular model over `base` (borrowed) with a session (mb_modular_session)
 * whose blocks are: understanding -> selected packs -> fusion. opts as for
 * mb_session_new. No pack is selected at first (mb_modular_select).
 */
int mb_modular_new(struct mb_base *base, const struct mb_session_opts *opts,
                   struct mb_modular **out, struct mb_err *err);
void mb_modular_free(struct mb_modular *m);

/* The session (owned by m) that runs tokens through the modular model. */
struct mb_session *mb_modular_session(struct mb_modular *m);

/*
 * Select n packs (borrowed; 1 .. MB_MODULAR_MAX_PACKS) with weights w (finite,
 * not all zero; they are used as given, not renormalised). Takes effect for
 * the tokens evaluated next. A pack seen before keeps its KV cache; a pack
 * whose cache is behind catches up from the stored h_u when it next runs
 * (docs/modular.md). With one pack of weight 1 the pack's output is used as
 * is (bit-exact with the unsplit model).
 */
#define MB_MODULAR_MAX_PACKS 16
int mb_modular_select(struct mb_modular *m, struct mb_data_pack *const *packs, const float *w,
                      size_t n, struct mb_err *err);
/* Forget a pack's state (before freeing a pack that is not selected). */
void mb_modular_forget(struct mb_modular *m, const struct mb_data_pack *p);

/* h_u of positions 0 .. n_past-1 (n_past x base width floats, host memory). */
const float *mb_modular_hu(const struct mb_modular *m, size_t *n_past);
/* Positions of the stored h_u that the pack caught up on since it was created (tests). */
size_t mb_modular_catchup_count(const struct mb_modular *m);

/* ------------------------------------------------------------ a set of pack folders */

/*
 * The packs a `chat` runs over: pack folders (a directory of them with
 * --packs, or the store's installed packs), one base among them, the router
 * pack's parameters, and the data packs, opened when first selected. Owns
 * the base, the modular model and the opened packs.
 */
struct mb_manifest;
struct mb_pack_cache;

struct mb_packset_entry {
    char *dir;
    char id[65], version[64];
    int kind;                     /* enum mb_pack_kind */
    char *domain;                 /* NULL when absent */
    struct mb_manifest *manifest; /* owned; NULL when pack.yaml could not be read */
    char *manifest_error;         /* why, then */
    char *weights;                /* the GGUF's path, NULL when unknown */
    struct mb_data_pack *pack;    /* the loaded data pack while selected (held from the cache) */
    bool held;                    /* a cache get not yet put */
};

struct mb_packset_router {
    struct mb_router_embedder *emb;
    struct mb_router_cand *cands; /* routed data packs */
    size_t *entry;                /* cands[i] is ps->v[entry[i]] */
    float **keys;                 /* owned key copies, per candidate (NULL: none) */
    size_t n;
    struct mb_router_fit fit;
    bool use_fit; /* route in the fitted projection (fit matches the packs and base) */
    struct mb_router_params params;
    uint32_t dim;
    float *q, *qp;             /* query scratch: base width, projected width */
    char note[MB_ERR_MSG_MAX]; /* why the fit or a pack's keys were not used ("" = all used) */
};

struct mb_packset {
    struct mb_backend *be; /* borrowed */
    struct mb_packset_router route;
    struct mb_base *base;
    struct mb_modular *mod;
    struct mb_packset_entry *v;
    size_t n;
    struct mb_pack_cache *cache; /* data packs: loaded on demand, LRU under the budget */
    void *grave;                 /* packs the cache evicted, freed by the driving thread */
    char warn[1024];             /* fallback warnings of the last select, one per line */
    size_t general; /* index of the general data pack (domain or id "general"), SIZE_MAX if none */
    size_t router;  /* index of the router pack, SIZE_MAX if none */
    float tau, threshold; /* from the router pack, else the defaults */
    uint32_t top_k;
};

/* Sub-folders of dir that hold a pack.yaml, sorted (*dirs: mb_free each and the array). */
int mb_packset_list_dir(const char *dir, char ***dirs, size_t *n, struct mb_err *err);

/*
 * Open the packs in dirs[0..n): exactly one base (MB_E_NOTFOUND without one,
 * MB_E_USAGE for several), the router's parameters, a modular model (opts as
 * for mb_session_new), and a pack cache (runtime/mb_pack_cache.h) over the
 * data packs with `mem_budget` bytes (0 = unlimited) for base + KV caches +
 * loaded packs: resident data packs are loaded now (MB_E_LIMIT when they do
 * not fit), the others when selected. A pack whose pack.yaml cannot be read is
 * kept (the fallback walk reports it). Free with mb_packset_free.
 */
int mb_packset_open(const char *const *dirs, size_t n, struct mb_backend *be,
                    const struct mb_session_opts *opts, uint64_t mem_budget,
                    struct mb_packset **out, struct mb_err *err);
void mb_packset_free(struct mb_packset *ps);

/* Start loading these packs in the background (a hint; errors are ignored). */
void mb_packset_preload(struct mb_packset *ps, const size_t *idx, size_t n);

/* Index of the pack with this id, or SIZE_MAX. */
size_t mb_packset_find(const struct mb_packset *ps, const char *id);

/*
 * Select data packs by index with weights, through the pack cache: a pack that
 * is missing, corrupt or incompatible (docs/modular.md) is replaced along its
 * manifest's `fallback` list, ending at the general pack, with a one-line
 * warning in ps->warn (weights of packs that end up the same are added). The
 * packs the previous selection held are released to the cache (evictable).
 * MB_E_NOTFOUND when not even the general pack can be used.
 */
int mb_packset_select(struct mb_packset *ps, const size_t *idx, const float *w, size_t n,
                      struct mb_err *err);

/*
 * Set up routing (runtime/modular_route.c): an embedder over the base's
 * understanding blocks, every data pack's routing.keys (packs without keys are
 * not routed to, except the general pack, always eligible), and the fitted
 * projection in `fit_path` (may be NULL or absent) when it names exactly the
 * base and the routed packs (id and version); else the packs' own keys with
 * the router pack's tau/top_k/threshold. ps->route.note says what was left out.
 */
int mb_packset_router_init(struct mb_packset *ps, const char *fit_path, struct mb_err *err);
/* Free what mb_packset_router_init set up (mb_packset_free does it too). */
void mb_packset_router_release(struct mb_packset *ps);

/*
 * Route `len` bytes of user text: the decision (indexes are router candidates:
 * ps->route.entry[d->v[i].cand] is the pack) and its description ("general
 * 0.71, python 0.29") into desc. Does not select.
 */
int mb_packset_route(struct mb_packset *ps, const char *text, size_t len,
                     struct mb_route_decision *d, char *desc, size_t desc_cap, struct mb_err *err);

#ifdef __cplusplus
}
#endif

#endif /* MB_MODULAR_H */
