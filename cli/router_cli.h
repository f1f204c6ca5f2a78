/*
 * router_cli.h - what `pack build --base` and `router fit` share: finding and
 * opening a base (a base pack directory, an installed base by id, or a GGUF
 * file such as the unsplit model with --understanding U) as a routing embedder,
 * and collecting the routing examples of pack directories or installed packs.
 * CLI-only: messages go through ctx.
 */
#ifndef MB_CLI_ROUTER_CLI_H
#define MB_CLI_ROUTER_CLI_H

#include "cli.h"
#include "mb_runtime.h"

/* An opened base: everything owned. */
struct router_base {
    struct mb_backend *be;
    struct mb_base *base; /* a base pack (mb_modular.h), or NULL for a plain model */
    struct mb_gguf *gguf; /* a plain model's GGUF */
    struct mb_router_embedder *emb;
    char *id;      /* base pack id ("" when the GGUF does not say) */
    char *version; /* base version ("" when unknown) */
    char *path;    /* the GGUF */
};

/*
 * Open the base `spec`: NULL = the installed base pack of ctx->home; a directory
 * with a pack.yaml of kind base; an existing file (a GGUF: a base pack's, or a
 * plain llama model); else the id of an installed base. A base pack is opened
 * with mb_base_open (its understanding blocks; n_understanding, when not 0, must
 * match them); a plain model runs blocks 0..n_understanding-1 (required then).
 * threads 0 = default.
 */
int router_base_open(struct mb_ctx *ctx, const char *spec, uint32_t n_understanding,
                     uint64_t threads, struct router_base *out);
void router_base_close(struct router_base *b);

/* One pack's routing examples. */
struct router_pack {
    char *id, *version, *domain; /* domain may be NULL */
    char **examples;             /* owned */
    size_t n_examples;
};
struct router_packs {
    struct router_pack *v;
    size_t n;
};
void router_packs_release(struct router_packs *p);

/*
 * Data packs with routing examples: the pack directories directly under `dir`
 * (each with a pack.yaml), or, with dir NULL, the installed packs of ctx->home.
 * Packs without examples are skipped; sorted by id.
 */
int router_packs_collect(struct mb_ctx *ctx, const char *dir, struct router_packs *out);

/* Embed n texts into rows of out (n x dim floats). */
int router_embed_all(struct mb_ctx *ctx, struct router_base *b, char *const *texts, size_t n,
                     float *out);

#endif /* MB_CLI_ROUTER_CLI_H */
