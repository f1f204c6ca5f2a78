/*
 * pack_meta.h - what `pack build` needs to know about a pack directory before
 * archiving it: the few pack.yaml fields that name the pack and its weights,
 * and the GGUF's modularbase.* metadata, so the two can be checked against each
 * other. This lives in cli/ because it joins two libraries (manifests and the
 * GGUF reader) that registry/ must not depend on (DESIGN.md §6).
 *
 * The manifest is read and fully validated by the manifests library
 * (manifests/mb_manifests.h), the GGUF by the runtime's reader (runtime/mb_gguf.h).
 */
#ifndef MB_CLI_PACK_META_H
#define MB_CLI_PACK_META_H

#include "cli.h"

/* The pack.yaml fields pack build checks (strings owned by the struct). */
struct mb_pack_meta {
    char *id;
    char *version;
    char *kind;
    char *weights_file; /* relative to the pack directory */
    int64_t width;      /* -1 when absent */
};
void mb_pack_meta_release(struct mb_pack_meta *m);

/* Read and check <dir>/pack.yaml. Messages name the file, line and column. */
int mb_pack_meta_load(const char *yaml_path, struct mb_pack_meta *out, struct mb_err *err);

/* The modularbase.* values of a GGUF file. */
struct mb_gguf_meta {
    char *kind;
    char *pack_id;
    char *pack_version;
    int64_t pack_width; /* -1 when absent */
    uint64_t n_tensors;
};
void mb_gguf_meta_release(struct mb_gguf_meta *g);

/* Read the GGUF header and its modularbase.* keys (absent keys stay NULL / -1). */
int mb_gguf_meta_load(const char *path, struct mb_gguf_meta *out, struct mb_err *err);

/*
 * Check that the GGUF agrees with the manifest: modularbase.kind,
 * modularbase.pack.id, modularbase.pack.version must be present and equal;
 * modularbase.pack.width must equal the manifest's width when both exist.
 */
int mb_pack_meta_check_gguf(const struct mb_pack_meta *m, const struct mb_gguf_meta *g,
                            const char *gguf_path, struct mb_err *err);

#endif /* MB_CLI_PACK_META_H */
