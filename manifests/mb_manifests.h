/*
 * mb_manifests.h - the one public header of manifests/: pack manifests
 * (`pack.yaml`, parsed with libyaml) and registry index records
 * (`index/<id>.json`, parsed with jansson): parse, validate, emit. It also
 * brings in SemVer versions and node-semver ranges (mb_semver.h), which the
 * validators need.
 *
 * Formats are specified in docs/manifest.md and docs/registry.md. Both parsers
 * treat their input as hostile: sizes, counts, depth and string lengths are
 * capped, unknown fields are errors (except `x-` extension keys at the top
 * level of pack.yaml), duplicate keys are errors, YAML anchors, aliases and tags
 * are refused. Errors name the place: `pack.yaml:12:5: dependencies[1].version:
 * "^1.x.y" is not a valid range (...)` or `index/foo.json: versions[3].sha256:
 * ...`.
 *
 * Ownership: every parsed structure owns all its strings and ranges; release
 * with the matching _release function (safe on a zeroed or failed struct).
 * Nothing here prints; errors go to struct mb_err (MB_E_FORMAT for bad input,
 * MB_E_LIMIT for a cap exceeded, MB_E_IO/NOTFOUND for files, MB_E_NOMEM).
 */
#ifndef MB_MANIFESTS_H
#define MB_MANIFESTS_H

#include "mb_common.h"
#include "mb_semver.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ limits */

#define MB_MANIFEST_MAX_BYTES    (1u << 20)  /* pack.yaml file size */
#define MB_INDEX_MAX_BYTES       (16u << 20) /* one index/<id>.json */
#define MB_PACK_ID_MAX           64          /* bytes in a pack id */
#define MB_MANIFEST_MAX_LIST     1024        /* entries in most lists */
#define MB_MANIFEST_MAX_EXAMPLES 10000       /* routing.examples entries */
#define MB_INDEX_MAX_VERSIONS    10000       /* versions in one index record */

/* ------------------------------------------------------------ pack ids */

/*
 * Pack ids: ^[a-z0-9][a-z0-9-]{0,63}$, not ending in '-', without "--". They
 * become file names and URL path segments, so nothing else is allowed (no '/',
 * '.', '..', '?', '#', upper case, spaces). Returns 0, or MB_E_FORMAT with a
 * message `"Foo" is not a valid pack id (upper case letter at offset 0; ...)`.
 */
int mb_pack_id_check(const char *id, struct mb_err *err);

enum mb_pack_kind {
    MB_PACK_BASE,
    MB_PACK_ROUTER,
    MB_PACK_DATA,
};
/* "base", "router", "data". */
const char *mb_pack_kind_name(enum mb_pack_kind k);
/* Parse a kind name; false when unknown. */
bool mb_pack_kind_parse(const char *s, enum mb_pack_kind *out);

/* Weight quantization names accepted in `weights.quantization` (DESIGN.md §3). */
bool mb_quant_name_valid(const char *s);

/* ------------------------------------------------------------ pack.yaml */

/* A dependency `{id, version: RANGE}` (version defaults to "*"). */
struct mb_manifest_dep {
    char *id;
    char *version;         /* the range text as written */
    struct mb_range range; /* parsed with include_prerelease = false */
};

/* A conflict: an id alone (every version) or `{id, version: RANGE}`. */
struct mb_manifest_conflict {
    char *id;
    char *version; /* NULL = every version */
    struct mb_range range;
};

/* A top-level `x-...` field, kept as canonical YAML text for re-emitting. */
struct mb_manifest_ext {
    char *key;
    char *yaml; /* the value, emitted as a YAML document fragment */
};

struct mb_manifest {
    char *id;
    char *name;
    char *version_text; /* as written; `version` views into it */
    struct mb_semver version;
    enum mb_pack_kind kind;
    char *domain;      /* NULL when absent (required for kind data) */
    char *description; /* NULL when absent */
    char *license;     /* NULL when absent */
    char *homepage;    /* NULL when absent */
    char *repository;  /* NULL when absent */
    char **authors;
    size_t nauthors;
    /* The base family (a base pack id) this pack was built against; NULL = any base. */
    char *base;
    /* base_compatibility: ranges over base versions, OR'ed ("1.0" = any 1.0.x). */
    char **base_compat;
    struct mb_range *base_compat_ranges;
    size_t nbase_compat;
    struct mb_manifest_dep *deps;
    size_t ndeps;
    struct mb_manifest_conflict *conflicts;
    size_t nconflicts;
    bool resident; /* default: true for base and router, false for data */
    char **fallback;
    size_t nfallback;
    char *weights_file;  /* relative path inside the pack directory */
    char *weights_quant; /* NULL when absent; otherwise an upper-case type name */
    uint64_t width;      /* 0 when absent */
    char **examples;     /* routing.examples */
    size_t nexamples;
    struct mb_manifest_ext *ext;
    size_t next;
};

/* Zero the struct (nothing allocated). */
void mb_manifest_init(struct mb_manifest *m);
/* Free everything the manifest owns and re-initialise it. */
void mb_manifest_release(struct mb_manifest *m);

/*
 * Parse and validate pack.yaml text. `name` is used in messages ("pack.yaml").
 * On success `out` owns its contents; on failure it is left released.
 */
int mb_manifest_parse(const char *name, const char *text, size_t n, struct mb_manifest *out,
                      struct mb_err *err);
/* Read (at most MB_MANIFEST_MAX_BYTES) and parse a file. */
int mb_manifest_load(const char *path, struct mb_manifest *out, struct mb_err *err);

/*
 * Emit canonical YAML: fixed key order (that of docs/manifest.md), defaults
 * written out, strings quoted when YAML would read them as something else.
 * Parsing the output yields an equal manifest, and emitting it again yields
 * the same bytes. Appends to `out`.
 */
int mb_manifest_emit(const struct mb_manifest *m, struct mb_buf *out, struct mb_err *err);

/* ------------------------------------------------------------ index records */

#define MB_INDEX_FORMAT 1

/* One version of a pack in a registry index: manifest summary + archive facts. */
struct mb_index_version {
    char *version_text;
    struct mb_semver version;
    char *name;
    char *domain;      /* NULL when absent */
    char *description; /* NULL when absent */
    char *license;     /* NULL when absent */
    char *base;        /* base family id or NULL */
    char **base_compat;
    struct mb_range *base_compat_ranges;
    size_t nbase_compat;
    struct mb_manifest_dep *deps;
    size_t ndeps;
    struct mb_manifest_conflict *conflicts;
    size_t nconflicts;
    bool resident;
    uint64_t width;             /* 0 when absent */
    char *archive;              /* path relative to the registry base URL */
    char sha256[MB_SHA256_HEX]; /* lower-case hex of the archive */
    uint64_t size;              /* archive size in bytes */
    bool yanked;
    char *published; /* RFC 3339 UTC or NULL */
};

/* Everything a registry says about one pack id. Versions are sorted ascending. */
struct mb_index_record {
    char *id;
    enum mb_pack_kind kind;
    struct mb_index_version *versions;
    size_t nversions;
};

void mb_index_record_init(struct mb_index_record *r);
void mb_index_record_release(struct mb_index_record *r);

/*
 * Parse an index file. `name` is used in messages ("index/foo.json"). When
 * `expect_id` is not NULL the record's id must equal it (a registry must not
 * serve foo's record as bar's). Versions are sorted ascending on success;
 * duplicate versions (equal precedence) are errors.
 */
int mb_index_parse(const char *name, const char *text, size_t n, const char *expect_id,
                   struct mb_index_record *out, struct mb_err *err);
int mb_index_load(const char *path, const char *expect_id, struct mb_index_record *out,
                  struct mb_err *err);
/* Emit canonical JSON (2-space indent, fixed key order, versions ascending, trailing LF). */
int mb_index_emit(const struct mb_index_record *r, struct mb_buf *out, struct mb_err *err);

/*
 * Fill one index version from a manifest (for `pack build`/publish): copies the
 * summary fields; archive, sha256, size, yanked and published are set by the
 * caller afterwards. `out` must be zeroed; the caller adds it to a record.
 */
int mb_index_version_from_manifest(const struct mb_manifest *m, struct mb_index_version *out,
                                   struct mb_err *err);
void mb_index_version_release(struct mb_index_version *v);

/*
 * Add or replace (same precedence) a version in a record, keeping it sorted.
 * Takes ownership of *v's contents (and zeroes *v).
 */
int mb_index_record_put(struct mb_index_record *r, struct mb_index_version *v, struct mb_err *err);

/* "an object", "a string", ... for error messages about a JSON value (jansson's json_t). */
struct json_t;
const char *mb_json_type_name(const struct json_t *j);

#ifdef __cplusplus
}
#endif

#endif /* MB_MANIFESTS_H */
