/*
 * mb_store.h - the local store (DESIGN.md §5, docs/store.md): which packs are
 * installed under $MODULARBASE_HOME and the transactions that change that.
 *
 * Layout of the store directory ("home"):
 *   config.yaml              registries and keys (the registry client's file)
 *   world                    the packs the user asked for, one "ID" or "ID@RANGE" a line
 *   state.json               the installed packs: version, kind, source, automatic flag,
 *                            per-file sha256 (the commit point of every transaction)
 *   packs/<id>/<version>/    the unpacked packs (pack.yaml, weights, docs, MANIFEST.sha256)
 *   cache/                   downloaded archives (cache/packs/) and partial downloads
 *   staging/<txid>/          packs being unpacked by a running transaction
 *   journal                  present only while a transaction runs (or after a crash)
 *   lock                     the writers' lock (flock); holds the writer's pid, for messages
 *
 * Two sides:
 *
 * READERS (`pack list`, `pack info`, `chat`) never take the lock and never wait:
 * mb_store_state_load() / mb_store_installed_load() read state.json, which is
 * only ever replaced atomically and only names pack directories that are
 * complete and fsynced. A transaction removes an old version's directory only
 * after state.json stops naming it, so a reader holding an older snapshot may
 * find a pack directory gone: it should then load the state again.
 *
 * WRITERS open the store with mb_store_open(), which takes the lock (waiting
 * for another writer unless no_wait) and first finishes or rolls back an
 * interrupted transaction found in the journal. Then:
 *
 *     struct mb_store *st;
 *     mb_store_open(home, &oo, &st, &err);           // lock + recovery
 *     struct mb_store_plan plan;
 *     mb_store_plan_install(st, &req, &plan, &err);  // resolve against the world
 *     ... show plan, confirm ...
 *     mb_store_apply(st, &plan, &ao, &err);          // fetch, verify, stage, commit
 *     mb_store_plan_release(&plan);
 *     mb_store_close(st);                            // unlock
 *
 * A transaction: fetch every archive → verify every archive → write the
 * journal → unpack each into staging/<txid>/ (hashing every file against the
 * archive's MANIFEST.sha256), fsync → rename into packs/<id>/<version>/ →
 * replace state.json atomically (the commit point) → write the world →
 * remove replaced versions → delete the journal. A crash or kill -9 before
 * the commit leaves the previous state (the next writer removes what was
 * staged); after it, the next writer completes the cleanup.
 *
 * Nothing here prints. Errors: MB_E_LOCKED (no_wait and another writer),
 * MB_E_STATE (a corrupt state.json or world: repair with mb_store_repair),
 * MB_E_PERM (a read-only store), MB_E_NOSPACE, MB_E_NOTFOUND (unknown pack),
 * MB_E_CONFLICT (no solution; the plan's explanation says why), MB_E_FORMAT /
 * MB_E_INTEGRITY (a corrupt archive), MB_E_INTERRUPTED, and the codes of the
 * resolver and the archive reader. Not thread-safe: one store handle per
 * thread.
 */
#ifndef MB_STORE_H
#define MB_STORE_H

#include "mb_common.h"
#include "mb_manifests.h"
#include "mb_resolver.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MB_STORE_STATE_FORMAT 1
#define MB_STORE_MAX_STATE    (64u << 20) /* bytes of state.json */
#define MB_STORE_MAX_WORLD    (1u << 20)  /* bytes of the world file */
#define MB_STORE_MAX_PACKS    100000      /* installed packs */
#define MB_STORE_MAX_FILES    10000       /* files of one pack (the archive's member limit) */

/* ------------------------------------------------------------ installed state */

/* One installed file, as MANIFEST.sha256 declared it. */
struct mb_store_file {
    char *path; /* relative to the pack directory */
    uint64_t size;
    char sha256[MB_SHA256_HEX];
};

/* Where an installed pack came from. */
enum mb_store_source {
    MB_STORE_SRC_REGISTRY, /* a registry (registry names it) */
    MB_STORE_SRC_FILE,     /* a local .mbpack (origin is its absolute path) */
    MB_STORE_SRC_BUNDLE,   /* an offline bundle (origin is the bundle's absolute path) */
    MB_STORE_SRC_REPAIR,   /* rebuilt by mb_store_repair: the origin is unknown */
};
/* "registry", "file", "bundle", "repair". */
const char *mb_store_source_name(enum mb_store_source s);

/* One installed pack: an entry of state.json. */
struct mb_store_pack {
    char *id;
    char *version;
    enum mb_pack_kind kind;
    bool automatic; /* installed as a dependency (not in the world) */
    bool resident;  /* the manifest's `resident` */
    enum mb_store_source source;
    char *registry;                     /* the registry's name (SRC_REGISTRY), else NULL */
    char *origin;                       /* the archive's URL or absolute path; NULL when unknown */
    char archive_sha256[MB_SHA256_HEX]; /* "" when unknown */
    uint64_t archive_size;              /* 0 when unknown */
    uint64_t size;                      /* unpacked bytes: the sum of the files */
    int64_t installed_at;               /* Unix time */
    char *weights;                      /* the manifest's weights.file, or NULL */
    struct mb_store_file *files;        /* sorted by path */
    size_t nfiles;
};

/* The installed set (state.json). Packs sorted by id; one version per id. */
struct mb_store_state {
    struct mb_store_pack *packs;
    size_t n;
    char *txid; /* the last committed transaction, or NULL */
};

void mb_store_state_init(struct mb_store_state *s);
void mb_store_state_release(struct mb_store_state *s);
const struct mb_store_pack *mb_store_state_find(const struct mb_store_state *s, const char *id);

/*
 * Parse / emit state.json (docs/store.md). `name` is used in messages.
 * Emission is deterministic (sorted, fixed key order). Parse errors are
 * MB_E_STATE with the field named ("state.json: packs[2].files[0].sha256: ...").
 */
int mb_store_state_parse(const char *name, const char *text, size_t n, struct mb_store_state *out,
                         struct mb_err *err);
int mb_store_state_emit(const struct mb_store_state *s, struct mb_buf *out, struct mb_err *err);

/*
 * Read HOME/state.json without any lock (readers). A store that does not
 * exist yet, or has no state.json, is an empty state. A corrupt file is
 * MB_E_STATE with a message that points at `pack verify --repair`.
 */
int mb_store_state_load(const char *home, struct mb_store_state *out, struct mb_err *err);

/* ------------------------------------------------------------ the runtime's view */

/*
 * What the runtime needs to run "whatever is installed": every installed pack
 * with absolute paths. Loaded from state.json without the lock; see READERS
 * above for the one race a long-running reader must handle (reload when a
 * pack directory has gone).
 */
struct mb_installed_pack {
    char *id;
    char *version;
    enum mb_pack_kind kind;
    bool resident;
    bool automatic;
    uint64_t size;  /* unpacked bytes */
    char *dir;      /* HOME/packs/<id>/<version> */
    char *manifest; /* HOME/packs/<id>/<version>/pack.yaml */
    char *weights;  /* absolute path of the GGUF, or NULL when the pack has none */
};

struct mb_installed {
    char *home;
    struct mb_installed_pack *v; /* sorted by id */
    size_t n;
};

/* Load the installed set of `home` (NULL = mb_home_resolve's default). */
int mb_store_installed_load(const char *home, struct mb_installed *out, struct mb_err *err);
void mb_installed_release(struct mb_installed *in);
const struct mb_installed_pack *mb_installed_find(const struct mb_installed *in, const char *id);

/* ------------------------------------------------------------ the world */

/* The user's requests, sorted by id, one per id. */
struct mb_store_world {
    struct mb_request *v;
    size_t n;
};
void mb_store_world_init(struct mb_store_world *w);
void mb_store_world_release(struct mb_store_world *w);
/* Lines "ID" or "ID@RANGE"; blank lines and "#" comments ignored; a repeated id is an error. */
int mb_store_world_parse(const char *name, const char *text, size_t n, struct mb_store_world *out,
                         struct mb_err *err);
int mb_store_world_emit(const struct mb_store_world *w, struct mb_buf *out, struct mb_err *err);
/* Add or replace the request for an id (copies spec text). */
int mb_store_world_put(struct mb_store_world *w, const char *id, const char *range_text,
                       struct mb_err *err);
/* Remove the request for an id; false when there was none. */
bool mb_store_world_del(struct mb_store_world *w, const char *id);
const struct mb_request *mb_store_world_find(const struct mb_store_world *w, const char *id);

/* ------------------------------------------------------------ registries */

/*
 * Where registry packs come from: an adapter over the registry client
 * (store_remote.c). `src` gives index records; `fetch` makes archives
 * available as verified local files (downloading, in parallel, what is not
 * cached), each checked against its index sha256 and size (and publisher
 * signature where the registry requires one); `cached` says whether an
 * archive is already on disk (for the plan's download figure).
 */
struct mb_store_fetch_item {
    const char *registry;
    const char *id;
    const char *version;
    const char *archive; /* the index's path relative to the registry */
    const char *sha256;
    uint64_t size;
};
struct mb_store_remote {
    struct mb_resolve_source src;
    int (*fetch)(void *ud, const struct mb_store_fetch_item *items, size_t n, char **paths,
                 const struct mb_progress *progress, struct mb_err *err);
    bool (*cached)(void *ud, const struct mb_store_fetch_item *item);
    /* The URL of an archive, for state.json's origin (newly allocated), or NULL. */
    char *(*url)(void *ud, const struct mb_store_fetch_item *item);
    /* Download any archive by URL (pack install https://...); *path newly allocated. */
    int (*fetch_url)(void *ud, const char *url, char **path, struct mb_err *err);
    void *ud;
};

/*
 * The registry client (mb_client.h) as a store remote: index records from
 * mb_client_source (none when no registry is configured), archives with
 * mb_client_download into <home>/cache/packs/, reported through `dlprogress`
 * when set (else through the apply progress, in total bytes). Borrows the
 * client, which must outlive the remote.
 */
struct mb_client;
struct mb_store_client_remote {
    struct mb_store_remote remote;
    struct mb_client *client;
    char *home;
    const void *dlprogress; /* a struct mb_download_progress *, or NULL */
};
int mb_store_client_remote_init(struct mb_store_client_remote *r, struct mb_client *c,
                                const char *home, struct mb_err *err);
void mb_store_client_remote_release(struct mb_store_client_remote *r);

/* ------------------------------------------------------------ opening */

struct mb_store;

struct mb_store_open_opts {
    bool no_wait; /* another writer holds the lock: fail with MB_E_LOCKED */
    /* Called once before waiting for another writer (pid from the lock file, 0 if unknown). */
    void (*on_wait)(void *ud, long pid);
    void *ud;
};

/*
 * Open `home` for writing: create the layout, take the lock, finish or roll
 * back an interrupted transaction, load state.json and the world. A corrupt
 * state.json is MB_E_STATE (the store stays locked-free; run mb_store_repair).
 */
int mb_store_open(const char *home, const struct mb_store_open_opts *opts, struct mb_store **out,
                  struct mb_err *err);
/* Release the lock and free the handle (NULL is fine). */
void mb_store_close(struct mb_store *st);

const char *mb_store_home(const struct mb_store *st);
const struct mb_store_state *mb_store_get_state(const struct mb_store *st);
const struct mb_store_world *mb_store_get_world(const struct mb_store *st);
/*
 * What recovery did at open, one line ("rolled back an interrupted install
 * (transaction T)"), or NULL when there was nothing to recover.
 */
const char *mb_store_recovery_note(const struct mb_store *st);

/* ------------------------------------------------------------ plans */

/* What happens to one pack. */
struct mb_store_item {
    char *id;
    char *version;      /* the new version (the installed one for REMOVE / KEEP) */
    char *from_version; /* the installed version, or NULL */
    enum mb_plan_action action;
    enum mb_pack_kind kind;
    bool automatic;     /* after the transaction */
    bool was_automatic; /* before (meaningful when installed) */
    bool requested;     /* named on the command line */
    bool reinstall;     /* same version unpacked again (--reinstall) */
    enum mb_store_source source;
    char *registry;      /* SRC_REGISTRY */
    char *archive;       /* SRC_REGISTRY: path in the registry; FILE/BUNDLE: the local file */
    char *bundle_member; /* SRC_BUNDLE: the member path inside the bundle */
    char *origin;        /* where the archive came from when not `archive` (a URL), or NULL */
    char sha256[MB_SHA256_HEX]; /* the archive's, "" when unknown (local files) */
    uint64_t archive_size;
    uint64_t unpacked_size; /* exact when unpacked_known, else the archive size */
    bool unpacked_known;
    uint64_t download; /* bytes to download (0 when cached or local) */
};

/* A computed transaction. Release with mb_store_plan_release. */
struct mb_store_plan {
    struct mb_store_item *items; /* sorted by id; KEEP items included */
    size_t n;
    struct mb_store_world world; /* the world after the transaction */
    bool world_changed;
    uint64_t download_bytes;
    int64_t disk_delta; /* bytes: added unpacked sizes minus removed ones */
    bool disk_exact;    /* false when some unpacked sizes are estimates */
    char *explanation;  /* on MB_E_CONFLICT: the resolver's explanation */
    char *operation;    /* "install", "remove", "upgrade" */
};
void mb_store_plan_init(struct mb_store_plan *p);
void mb_store_plan_release(struct mb_store_plan *p);
/* Whether applying the plan changes anything (packs, flags or the world). */
bool mb_store_plan_has_changes(const struct mb_store_plan *p);

struct mb_store_request {
    const char *const *specs; /* install: ID, ID@RANGE, a .mbpack path, a bundle .tar,
                                 a file:// URL; remove/upgrade: IDs */
    size_t nspecs;
    const struct mb_store_remote *remote; /* registries, or NULL for none */
    const char *locked; /* install --locked FILE: reproduce a packs.lock exactly */
    bool offline; /* no downloads: registry archives must be cached (open the remote offline) */
    bool include_prerelease; /* ranges match prereleases */
    bool cascade;            /* remove: also remove what depends on the packs */
    bool reinstall;          /* install: unpack requested packs again even when installed */
};

/*
 * Resolve an install (world + specs), a removal (world - ids, refusing to
 * remove what another installed pack needs unless cascade), or an upgrade
 * (every pack, or only the ids). Fills `plan` (always initialised; release
 * it in every case). On MB_E_CONFLICT plan->explanation says why.
 */
int mb_store_plan_install(struct mb_store *st, const struct mb_store_request *req,
                          struct mb_store_plan *plan, struct mb_err *err);
int mb_store_plan_remove(struct mb_store *st, const struct mb_store_request *req,
                         struct mb_store_plan *plan, struct mb_err *err);
int mb_store_plan_upgrade(struct mb_store *st, const struct mb_store_request *req,
                          struct mb_store_plan *plan, struct mb_err *err);

/* ------------------------------------------------------------ applying */

struct mb_store_apply_opts {
    const struct mb_store_remote *remote; /* for SRC_REGISTRY items */
    struct mb_progress progress;          /* "download", then "unpack ID VERSION" per pack */
};

/*
 * Run the transaction (see the top of this file). On failure before the
 * commit everything is rolled back and the previous state is intact; on
 * MB_E_NOSPACE the message names the directory and the sizes.
 */
int mb_store_apply(struct mb_store *st, const struct mb_store_plan *plan,
                   const struct mb_store_apply_opts *opts, struct mb_err *err);

/* ------------------------------------------------------------ verify and repair */

enum mb_store_problem_kind {
    MB_STORE_MODIFIED, /* content differs from the recorded sha256 */
    MB_STORE_MISSING,  /* a recorded file is gone */
    MB_STORE_EXTRA,    /* a file the pack did not install */
    MB_STORE_NODIR,    /* the pack directory itself is gone */
};
const char *mb_store_problem_name(enum mb_store_problem_kind k);

struct mb_store_problem {
    char *id;
    char *version;
    char *path; /* relative to the pack directory ("" for NODIR) */
    enum mb_store_problem_kind kind;
};

struct mb_store_verify_result {
    struct mb_store_problem *v;
    size_t n;
    size_t packs_checked;
    size_t files_checked;
    uint64_t bytes_hashed;
};
void mb_store_verify_result_release(struct mb_store_verify_result *r);

/*
 * Re-hash the installed files of `ids` (all packs when n == 0) against
 * state.json. Reads only: no lock. Unknown ids are MB_E_NOTFOUND. Returns 0
 * whether or not problems were found (see r->n).
 */
int mb_store_verify(const char *home, const char *const *ids, size_t n,
                    const struct mb_progress *progress, struct mb_store_verify_result *r,
                    struct mb_err *err);

/*
 * Rebuild state.json from packs/ (for a corrupt or lost state.json): every
 * packs/<id>/<version>/ with a valid pack.yaml and MANIFEST.sha256 becomes an
 * entry (the newest version when several are present); the automatic flag
 * comes from the world (no world: every pack is explicit). The old file is
 * kept as state.json.corrupt. Takes the lock itself. `note` (may be NULL)
 * receives a newly allocated summary line.
 */
int mb_store_repair(const char *home, const struct mb_store_open_opts *opts, char **note,
                    struct mb_err *err);

/* ------------------------------------------------------------ export */

/*
 * Write an offline bundle: a tar holding bundle.json, index/<id>.json for
 * every pack (the registry index format) and packs/<id>/<id>-<version>.mbpack
 * (with .minisig where the cache has one), for `ids` and everything they need
 * (unless no_deps). Archives come from the cache when their sha256 matches,
 * else are rebuilt from the installed files (deterministic archives give the
 * same bytes). `pack install BUNDLE.tar` installs from it with no network.
 * Reads only: no lock.
 */
struct mb_store_export_opts {
    bool no_deps;
    struct mb_progress progress;
};
struct mb_store_export_result {
    size_t npacks;
    uint64_t bytes;
    size_t rebuilt; /* archives rebuilt from installed files */
};
int mb_store_export(const char *home, const char *const *ids, size_t n, const char *out_path,
                    const struct mb_store_export_opts *opts, struct mb_store_export_result *res,
                    struct mb_err *err);

/* ------------------------------------------------------------ cache */

struct mb_store_clean_result {
    size_t files;
    uint64_t bytes;
};
/* Remove downloaded archives and partial downloads (cache/packs, cache/partial). Needs the lock. */
int mb_store_cache_clean(struct mb_store *st, bool dry_run, struct mb_store_clean_result *res,
                         struct mb_err *err);

#ifdef __cplusplus
}
#endif

#endif /* MB_STORE_H */
