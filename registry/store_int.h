/*
 * store_int.h - internals shared by the store's files (store_*.c): the open
 * store handle, path helpers, the lock, the journal, the fault-injection
 * hook for crash tests, and small helpers for the archive head, bundles and
 * the composite resolver source. Nothing outside registry/store_*.c includes
 * this header.
 */
#ifndef MB_STORE_INT_H
#define MB_STORE_INT_H

#include "mb_archive.h"
#include "mb_store.h"

/* File and directory names inside the store. */
#define STORE_STATE   "state.json"
#define STORE_WORLD   "world"
#define STORE_JOURNAL "journal"
#define STORE_LOCK    "lock"
#define STORE_PACKS   "packs"
#define STORE_STAGING "staging"
#define STORE_CACHE   "cache"
/* Written by the store into every pack directory (not archive members). */
#define STORE_RECEIPT ".modularbase-receipt.json"

#define STORE_PATH_MAX 4096

/* The open (locked) store. */
struct mb_store {
    char *home;
    int lock_fd;
    struct mb_store_state state;
    struct mb_store_world world;
    char *world_text; /* the world file as read (for the journal's rollback copy) */
    char *recovery_note;
};

/* "HOME/a" or "HOME/a/b" into buf; false when it does not fit. */
bool mb_store_path(char *buf, size_t cap, const char *home, const char *a, const char *b);
/* HOME/packs/<id>/<version> into buf. */
bool mb_store_pack_dir(char *buf, size_t cap, const char *home, const char *id,
                       const char *version);

/* ------------------------------------------------------------ lock */

/* Take HOME/lock (flock LOCK_EX). Returns the fd in *fd. */
int mb_store_lock_take(const char *home, const struct mb_store_open_opts *opts, int *fd,
                       struct mb_err *err);
void mb_store_lock_drop(int fd);

/* ------------------------------------------------------------ state helpers */

void mb_store_pack_release(struct mb_store_pack *p);
/* Deep copy (dst zeroed first). */
int mb_store_pack_copy(struct mb_store_pack *dst, const struct mb_store_pack *src,
                       struct mb_err *err);
/* Write HOME/state.json atomically (with the fault points around the rename). */
int mb_store_state_save(const char *home, const struct mb_store_state *s, struct mb_err *err);
/* Read HOME/world (missing = empty); `text` (may be NULL) gets the raw text. */
int mb_store_world_load(const char *home, struct mb_store_world *out, char **text,
                        struct mb_err *err);
int mb_store_world_save(const char *home, const char *text, size_t n, struct mb_err *err);

/* Write a file atomically: temp + fsync + rename + fsync dir. */
int mb_store_write_atomic(const char *path, const void *data, size_t n, struct mb_err *err);

/* ------------------------------------------------------------ journal */

struct journal_pack {
    char *id;
    char *version;
};

struct mb_store_journal {
    char *txid;
    char *operation;
    long pid;
    struct journal_pack *add; /* directories that appear in packs/ */
    size_t nadd;
    struct journal_pack *del; /* directories removed once committed */
    size_t ndel;
    char *world_old; /* NULL = no world file before */
    char *world_new;
};
void mb_store_journal_release(struct mb_store_journal *j);
int mb_store_journal_write(const char *home, const struct mb_store_journal *j, struct mb_err *err);
int mb_store_journal_read(const char *home, struct mb_store_journal *j, bool *present,
                          struct mb_err *err);
int mb_store_journal_remove(const char *home, struct mb_err *err);

/*
 * Finish (committed: state.json names the journal's txid) or roll back an
 * interrupted transaction, then remove the journal and staging/. `note` gets
 * a newly allocated line describing what was done, or NULL.
 */
int mb_store_recover(struct mb_store *st, char **note, struct mb_err *err);

/* A fresh transaction id: "<UTC time>-<pid>-<random>". */
void mb_store_new_txid(char *buf, size_t cap);

/* ------------------------------------------------------------ fault injection */

/*
 * Crash tests: with MB_TEST_HOOKS, MB_FAULT="POINT[#N][,...]" makes the
 * process SIGKILL itself the Nth time (default 1st) it reaches POINT, and
 * "stop:POINT" SIGSTOPs it instead (the test then fills the disk or checks
 * the state, and sends SIGCONT). Points are listed in docs/store.md.
 */
#ifdef MB_TEST_HOOKS
void mb_store_fault(const char *point);
#else
static inline void mb_store_fault(const char *point)
{
    (void)point;
}
#endif

/* ------------------------------------------------------------ archives */

/*
 * The head of a .mbpack: MANIFEST.sha256 and pack.yaml (checked against the
 * manifest's hash), read without unpacking the rest when pack.yaml comes
 * early. Enough to plan an install from a local file.
 */
struct store_head {
    struct mb_archive_info info; /* entries and total_size */
    struct mb_manifest manifest;
    uint64_t archive_size;
};
void store_head_release(struct store_head *h);
int store_head_read(const char *path, struct store_head *h, struct mb_err *err);

/* ------------------------------------------------------------ bundles */

#define BUNDLE_JSON   "bundle.json"
#define BUNDLE_FORMAT 1

/* What a bundle's bundle.json and index/ say. */
struct store_bundle {
    char *path;       /* absolute path of the bundle file */
    char **requested; /* ids the bundle was exported for */
    size_t nrequested;
    struct mb_index_record *recs; /* one per pack id */
    size_t nrecs;
    struct bundle_size {
        char *id;
        char *version;
        uint64_t unpacked; /* from bundle.json: the sum of the pack's files */
    } * sizes;
    size_t nsizes;
};
void store_bundle_release(struct store_bundle *b);
/* The unpacked size bundle.json gives for id@version (0 = unknown). */
uint64_t store_bundle_unpacked(const struct store_bundle *b, const char *id, const char *version);
/* Whether the file starts like a tar (not a zstd .mbpack). */
bool store_is_bundle(const char *path);
/* Read bundle.json and index/<id>.json (stops before the archives). */
int store_bundle_read(const char *path, struct store_bundle *b, struct mb_err *err);
/*
 * Copy the members `members[i]` of the bundle to `dests[i]` (new files),
 * checking each against sha256[i] / size[i].
 */
int store_bundle_extract(const char *bundle, const char *const *members, const char *const *dests,
                         const char *const *sha256, const uint64_t *sizes, size_t n,
                         struct mb_err *err);

/* ------------------------------------------------------------ resolver source */

/* A candidate archive known locally (a file given on the command line or a bundle member). */
struct store_local {
    char *id;
    char *version;
    enum mb_store_source source;
    char *path;   /* the .mbpack (FILE) or the bundle (BUNDLE) */
    char *member; /* BUNDLE: member path */
    char *origin; /* FILE downloaded from a URL: the URL */
    char sha256[MB_SHA256_HEX];
    uint64_t archive_size;
    uint64_t unpacked_size;
    bool unpacked_known;
};

/*
 * The composite source the store resolves against: the installed packs
 * (their pack.yaml on disk), local candidates, and the registries. Records
 * for one id are merged (versions deduplicated, installed first).
 */
struct store_source;
int store_source_new(const char *home, const struct mb_store_state *state,
                     const struct mb_store_remote *remote, struct store_source **out,
                     struct mb_err *err);
void store_source_free(struct store_source *s);
/* Add a local candidate's index version (takes ownership of *v and *loc). */
int store_source_add_local(struct store_source *s, const char *id, enum mb_pack_kind kind,
                           struct mb_index_version *v, struct store_local *loc, struct mb_err *err);
struct mb_resolve_source store_source_get(struct store_source *s);
/* The local candidate for id@version, or NULL. */
const struct store_local *store_source_local(const struct store_source *s, const char *id,
                                             const char *version);
/* The index version the resolver saw for id@version (after a load), or NULL. */
const struct mb_index_version *store_source_version(const struct store_source *s, const char *id,
                                                    const char *version);
/* The registries' record of id@version (with its archive), or NULL; *registry gets its name. */
const struct mb_index_version *store_source_remote_version(struct store_source *s, const char *id,
                                                           const char *version,
                                                           const char **registry);
/* The installed pack's manifest (loaded from disk), or NULL. */
const struct mb_manifest *store_source_installed_manifest(struct store_source *s, const char *id,
                                                          struct mb_err *err);
void store_local_release(struct store_local *l);

#endif /* MB_STORE_INT_H */
