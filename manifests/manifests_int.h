/*
 * manifests_int.h - internals shared by the files of manifests/: a small YAML
 * node tree built from libyaml events (with positions, duplicate-key checks and
 * no anchors, aliases or tags), a YAML scalar writer for canonical output, and
 * validation helpers shared by the pack.yaml and index parsers.
 */
#ifndef MB_MANIFESTS_INT_H
#define MB_MANIFESTS_INT_H

#include "mb_manifests.h"

/* Caps on the YAML tree (on top of the file size cap). */
#define MB_YAML_MAX_DEPTH    32
#define MB_YAML_MAX_NODES    200000
#define MB_YAML_MAX_MAP_KEYS 1024

enum ynode_type {
    YN_SCALAR,
    YN_SEQ,
    YN_MAP,
};

struct ynode {
    enum ynode_type type;
    unsigned line, col; /* 1-based */
    bool plain;         /* scalar written without quotes or block style */
    char *s;            /* scalar bytes (NUL-terminated), NULL for containers */
    size_t len;
    struct ynode **kids; /* seq: items; map: key0, value0, key1, value1, ... */
    size_t n;            /* number of kids (2 per map entry) */
};

struct ydoc {
    struct mb_arena arena;
    struct ynode *root; /* NULL for an empty document */
};

/*
 * Parse one YAML document into a tree allocated in doc->arena. Errors read
 * "NAME:LINE:COL: what is wrong". Release with mb_ydoc_release().
 */
int mb_ydoc_parse(const char *name, const char *text, size_t n, struct ydoc *doc,
                  struct mb_err *err);
void mb_ydoc_release(struct ydoc *doc);

/* Scalar helpers: plain null (~, null, empty), plain booleans, plain decimal integers. */
bool mb_ynode_is_null(const struct ynode *n);
bool mb_ynode_bool(const struct ynode *n, bool *out);
bool mb_ynode_uint(const struct ynode *n, uint64_t *out);
const char *mb_ynode_type_name(const struct ynode *n);

/*
 * Append a YAML scalar for `s` to `out`: plain when it is safe to read back as
 * the same string, otherwise double-quoted with escapes.
 */
int mb_yaml_put_scalar(struct mb_buf *out, const char *s, size_t n, struct mb_err *err);
/* Append a subtree in block style at `indent` (used for x- extension values). */
int mb_yaml_put_node(struct mb_buf *out, const struct ynode *node, int indent, bool in_seq,
                     struct mb_err *err);

/* Validation helpers. Each returns NULL when fine, else a short reason. */
const char *mb_check_text(const char *s, size_t n, size_t max, bool multiline);
const char *mb_check_url(const char *s);
const char *mb_check_rel_path(const char *s);

#endif /* MB_MANIFESTS_INT_H */
