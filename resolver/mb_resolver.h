/*
 * mb_resolver.h - the one public header of resolver/: version solving for
 * packs with PubGrub (dart-lang/pub doc/solver.md), readable explanations of
 * failures, requests ("id@range"), lock files (packs.lock) and a package
 * source that reads a directory of index files.
 *
 * Model (docs/resolver.md): a solution selects at most one version of each
 * pack, satisfies every request, every selected version's dependencies and
 * conflicts, and contains exactly one pack of kind base whose version
 * satisfies the base_compatibility of every selected data and router pack
 * (the base is a virtual package that base packs provide). Preferences, in
 * order: the version pinned by the lock, the installed version (unless
 * `upgrade`), then the newest non-prerelease, then the newest prerelease the
 * ranges allow. Yanked versions are candidates only when the lock or the
 * installed state names them.
 *
 * Calling sequence:
 *     struct mb_index_dir *dir;                      // or a registry client's source
 *     mb_index_dir_open("path", "local", &dir, &err);
 *     struct mb_resolve_source src = mb_index_dir_source(dir);
 *     struct mb_resolve_opts opts = { .requests = reqs, .nrequests = n };
 *     struct mb_resolution res;
 *     int rc = mb_resolve(&src, &opts, &res, &err);   // MB_E_CONFLICT: res.explanation
 *     ...
 *     mb_resolution_release(&res);
 *     mb_index_dir_free(dir);
 *
 * Nothing here prints. Not thread-safe per call (each mb_resolve uses its own
 * arena); separate calls may run concurrently if the source allows it.
 */
#ifndef MB_RESOLVER_H
#define MB_RESOLVER_H

#include "mb_common.h"
#include "mb_manifests.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ sources */

/*
 * Where the resolver gets index records. `load` is called at most once per
 * pack id and must return a record that stays valid (borrowed) until the
 * source is freed, plus the name of the registry it came from; it returns
 * MB_E_NOTFOUND when no registry has the id (the solver then explains "X
 * doesn't exist") and any other error to abort. `list_bases` (may be NULL)
 * fills a newly allocated array of newly allocated ids of every base pack the
 * source knows (free each and the array with mb_free); it is called only when
 * no requested, installed or locked pack is a base, to find base candidates.
 *
 * A source over several registries decides which registry answers for an id
 * (e.g. the first configured registry that has it, as apt's priorities or
 * cargo's single source per package do) and returns that record; merging
 * versions from several registries into one record is allowed as long as
 * versions stay unique by precedence. The registry name returned is what the
 * plan and packs.lock record.
 */
struct mb_resolve_source {
    int (*load)(void *ud, const char *id, const struct mb_index_record **rec, const char **registry,
                struct mb_err *err);
    int (*list_bases)(void *ud, char ***ids, size_t *n, struct mb_err *err);
    void *ud;
};

/*
 * A directory of index files: DIR/index/<id>.json when DIR/index exists, else
 * DIR/<id>.json. Records are cached for the life of the handle.
 */
struct mb_index_dir;
int mb_index_dir_open(const char *dir, const char *registry_name, struct mb_index_dir **out,
                      struct mb_err *err);
void mb_index_dir_free(struct mb_index_dir *d);
struct mb_resolve_source mb_index_dir_source(struct mb_index_dir *d);

/* ------------------------------------------------------------ requests */

/* "id", "id@RANGE" (e.g. "medical@^1.2", "medical@1.2.3"); RANGE defaults to "*". */
struct mb_request {
    char *id;
    char *range_text;
    struct mb_range range;
};
int mb_request_parse(const char *spec, bool include_prerelease, struct mb_request *out,
                     struct mb_err *err);
void mb_request_release(struct mb_request *r);

/* ------------------------------------------------------------ lock files */

/* One resolved pack: what packs.lock records, and the shape of installed state. */
struct mb_lock_entry {
    char *id;
    char *version;
    char *registry;             /* NULL when unknown (installed-state files may omit it) */
    char sha256[MB_SHA256_HEX]; /* "" when unknown */
};

struct mb_lock {
    struct mb_lock_entry *v; /* sorted by id, unique ids */
    size_t n;
};

#define MB_LOCK_VERSION 1

void mb_lock_init(struct mb_lock *l);
void mb_lock_release(struct mb_lock *l);
/* Parse packs.lock JSON (docs/resolver.md "Lock file"). `name` is used in messages. */
int mb_lock_parse(const char *name, const char *text, size_t n, struct mb_lock *out,
                  struct mb_err *err);
int mb_lock_load(const char *path, struct mb_lock *out, struct mb_err *err);
/* Deterministic, diff-friendly JSON: entries sorted by id, one field per line. */
int mb_lock_emit(const struct mb_lock *l, struct mb_buf *out, struct mb_err *err);
/* Add an entry (copies the strings); replaces an entry with the same id. */
int mb_lock_put(struct mb_lock *l, const char *id, const char *version, const char *registry,
                const char *sha256, struct mb_err *err);
const struct mb_lock_entry *mb_lock_find(const struct mb_lock *l, const char *id);

/* ------------------------------------------------------------ resolving */

struct mb_resolve_opts {
    const struct mb_request *requests;
    size_t nrequests;
    const struct mb_lock *installed; /* optional: what is installed (preferred, keeps yanked) */
    const struct mb_lock *lock;      /* optional: packs.lock (preferred, or exact with locked) */
    bool locked;                     /* reproduce `lock` exactly or fail (--locked) */
    bool include_prerelease;         /* ranges match prereleases (node's includePrerelease) */
    bool upgrade;                    /* ignore installed and lock preferences (not --locked) */
};

enum mb_plan_action {
    MB_PLAN_INSTALL,   /* not installed yet */
    MB_PLAN_KEEP,      /* installed at this version */
    MB_PLAN_UPGRADE,   /* installed at an older version */
    MB_PLAN_DOWNGRADE, /* installed at a newer version */
    MB_PLAN_REMOVE,    /* installed but not part of the solution */
};
const char *mb_plan_action_name(enum mb_plan_action a);

struct mb_plan_entry {
    char *id;
    char *version;      /* the selected version (the installed one for REMOVE) */
    char *from_version; /* the installed version, or NULL */
    enum mb_plan_action action;
    enum mb_pack_kind kind;
    char *registry; /* NULL for REMOVE */
    char sha256[MB_SHA256_HEX];
    uint64_t size;
    char *archive;  /* NULL for REMOVE */
    bool requested; /* named by a request */
    bool yanked;    /* selected although yanked (pinned by the lock or installed) */
};

struct mb_resolve_stats {
    uint64_t packages;          /* index records loaded */
    uint64_t decisions;         /* versions tried */
    uint64_t conflicts;         /* conflicts resolved */
    uint64_t incompatibilities; /* incompatibilities created */
    uint64_t solve_ns;          /* wall time of mb_resolve, loads included */
    uint64_t load_ns;           /* time spent in the source's load/list_bases */
};

struct mb_resolution {
    struct mb_plan_entry *entries; /* sorted by id */
    size_t n;
    char *explanation; /* on MB_E_CONFLICT: the numbered explanation, lines ending in '\n' */
    struct mb_resolve_stats stats;
};

/*
 * Solve. Returns 0 with the plan in `out`; MB_E_CONFLICT when no solution
 * exists (out->explanation says why, err->msg is a one-line summary);
 * MB_E_INTEGRITY when --locked finds a sha256 or registry that differs from
 * the index; errors from the source (MB_E_FORMAT, MB_E_IO, ...) unchanged;
 * MB_E_LIMIT past the solver's memory cap (2 GiB) or after 5,000,000 decisions
 * and conflicts; MB_E_INTERRUPTED when mb_interrupted is set. `out` must be
 * released in every case.
 */
int mb_resolve(const struct mb_resolve_source *src, const struct mb_resolve_opts *opts,
               struct mb_resolution *out, struct mb_err *err);
void mb_resolution_release(struct mb_resolution *r);

/* The lock file of a resolution (REMOVE entries left out). */
int mb_resolution_to_lock(const struct mb_resolution *r, struct mb_lock *out, struct mb_err *err);

#ifdef __cplusplus
}
#endif

#endif /* MB_RESOLVER_H */
