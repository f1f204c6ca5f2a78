/*
 * mb_pack_cache.h - the pack cache of the modular runtime (DESIGN.md §2): a
 * set of packs keyed by id, each with a byte size, loaded on demand through a
 * caller-supplied load callback and evicted least-recently-used under a byte
 * budget. Resident packs (base, router, general) are pinned: loaded once by
 * mb_pack_cache_load_residents() and never evicted. Packs the router predicts
 * for the next turn can be preloaded by a background thread while the caller
 * computes; a get of a pack that is being preloaded waits for that load
 * instead of starting a second one.
 *
 * The cache knows nothing about what a pack is: the load callback returns an
 * opaque object (the modular runtime's loaded pack: GGUF opened, stack
 * loaded) and its actual byte size, and the unload callback frees it. The same
 * policy therefore serves host memory (`--mem-budget`) and device memory
 * (`--vram-budget`: a second cache whose callbacks upload to the device).
 *
 * Typical use (one conversation turn):
 *
 *     struct mb_pack_cache *c;
 *     struct mb_pack_cache_opts o;
 *     mb_pack_cache_opts_init(&o);
 *     o.budget = mem_budget;            // 0 = unlimited
 *     o.reserved = base_and_kv_bytes;   // what the base needs outside the cache
 *     mb_pack_cache_new(&ops, ud, &o, &c, &err);
 *     mb_pack_cache_add(c, "general", path, bytes, true, &err);   // resident
 *     mb_pack_cache_add(c, "python", path, bytes, false, &err);
 *     mb_pack_cache_load_residents(c, &err);  // MB_E_LIMIT: residents exceed the budget
 *     ...
 *     void *obj;
 *     mb_pack_cache_get(c, "python", &obj, &err);  // load or hit; pinned until put
 *     ... run the pack ...
 *     mb_pack_cache_put(c, "python");
 *     mb_pack_cache_preload(c, predicted, n);      // next turn, in the background
 *     mb_pack_cache_free(c);                        // joins the thread, unloads all
 *
 * Budget accounting: each pack counts its registered byte size (replaced by
 * the size the load callback reports once loaded) from the moment its load
 * starts until it is evicted. `reserved` bytes count permanently. A load that
 * would exceed the budget first evicts unpinned, unused, loaded packs in LRU
 * order; if that cannot make room the get fails with MB_E_LIMIT and a message
 * naming the pack, its size, the budget and what holds the rest. A preload
 * that cannot make room is skipped (it is only a hint) and counted.
 *
 * Thread safety: every function may be called from any thread; one mutex
 * guards the cache and loads run outside it (state LOADING), so a slow load
 * blocks only the callers that want that pack. The callbacks may be called
 * from the preload thread and from callers' threads, never twice at once for
 * the same pack; they must be thread-safe with respect to each other for
 * different packs.
 *
 * The second half of this header is the fallback walk (which pack to use when
 * the selected one is missing, corrupt or incompatible), see "fallback" below.
 *
 * Errors: 0 or a negative MB_E_* code with err filled. MB_E_NOTFOUND for an
 * unknown id, MB_E_EXISTS for a duplicate add, MB_E_LIMIT for the budget,
 * MB_E_NOMEM, and whatever the load callback returns (its message prefixed
 * with the pack id).
 */
#ifndef MB_PACK_CACHE_H
#define MB_PACK_CACHE_H

#include "mb_common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MB_PACK_CACHE_MAX_PACKS 4096
#define MB_PACK_CACHE_ID_MAX    65 /* a pack id (64 bytes) + NUL */

/*
 * How packs are loaded. `load` turns (id, path) into an object and reports
 * its actual size in bytes (0 keeps the registered size); on failure it
 * returns a negative MB_E_* code with err filled and *obj untouched. `unload`
 * frees an object `load` returned. `ud` is passed through.
 */
struct mb_pack_cache_ops {
    int (*load)(void *ud, const char *id, const char *path, void **obj, uint64_t *bytes,
                struct mb_err *err);
    void (*unload)(void *ud, const char *id, void *obj);
};

struct mb_pack_cache_opts {
    uint64_t budget;         /* bytes; 0 = unlimited */
    uint64_t reserved;       /* bytes counted against the budget outside the cache (base, KV) */
    const char *budget_name; /* named in messages: "--mem-budget" (default) or "--vram-budget" */
    bool no_thread;          /* preload synchronously inside mb_pack_cache_preload (tests) */
};
void mb_pack_cache_opts_init(struct mb_pack_cache_opts *o);

struct mb_pack_cache;

/* A new, empty cache. ops and opts are copied; budget_name must outlive the cache. */
int mb_pack_cache_new(const struct mb_pack_cache_ops *ops, void *ud,
                      const struct mb_pack_cache_opts *opts, struct mb_pack_cache **out,
                      struct mb_err *err);
/* Stop and join the preload thread, unload every loaded pack, free the cache. NULL ok. */
void mb_pack_cache_free(struct mb_pack_cache *c);

/*
 * Register a pack: `id` (copied), the path handed to the load callback
 * (copied; may be NULL), its expected size in bytes and whether it is
 * resident (pinned). Nothing is loaded.
 */
int mb_pack_cache_add(struct mb_pack_cache *c, const char *id, const char *path, uint64_t bytes,
                      bool resident, struct mb_err *err);

/*
 * Load every resident pack. First checks that reserved + the residents'
 * registered sizes fit the budget: MB_E_LIMIT otherwise, with a message such
 * as "resident packs need 1.2 GiB (general 1.0 GiB, reserved 200 MiB) but
 * --mem-budget is 512 MiB". Nothing is loaded in that case.
 */
int mb_pack_cache_load_residents(struct mb_pack_cache *c, struct mb_err *err);

/*
 * The loaded object of `id`, loading it first when needed (waiting for a
 * preload in flight). A hit or a load both mark the pack most recently used.
 * The pack stays pinned until the matching mb_pack_cache_put (gets nest).
 */
int mb_pack_cache_get(struct mb_pack_cache *c, const char *id, void **obj, struct mb_err *err);
/* Release one get of `id`. */
void mb_pack_cache_put(struct mb_pack_cache *c, const char *id);

/*
 * Queue background loads of `ids` (unknown ids and packs already loaded or
 * queued are ignored) and return at once. The preload thread starts on first
 * use. With opts.no_thread the loads run before this returns.
 */
int mb_pack_cache_preload(struct mb_pack_cache *c, const char *const *ids, size_t n,
                          struct mb_err *err);
/* Block until the preload queue is empty and no preload is running. */
void mb_pack_cache_wait_idle(struct mb_pack_cache *c);

/* Evict `id` now if it is loaded, unpinned and unused (false otherwise). */
bool mb_pack_cache_evict(struct mb_pack_cache *c, const char *id);

enum mb_pack_state {
    MB_PACK_ON_DISK,  /* registered, not in memory */
    MB_PACK_LOADING,  /* a load is running */
    MB_PACK_LOADED,   /* in memory, evictable */
    MB_PACK_RESIDENT, /* in memory, pinned for the cache's lifetime */
};
/* "on disk", "loading", "loaded", "resident". */
const char *mb_pack_state_name(enum mb_pack_state s);

/* A snapshot of one pack's entry. */
struct mb_pack_cache_stat {
    char id[MB_PACK_CACHE_ID_MAX];
    enum mb_pack_state state;
    bool resident;      /* pinned (whether or not loaded yet) */
    uint64_t bytes;     /* registered, or actual once loaded */
    int64_t last_used;  /* Unix time of the last get, 0 = never */
    uint64_t last_seq;  /* LRU clock of the last get (larger = more recent), 0 = never */
    unsigned refs;      /* gets not yet put */
    uint64_t hits;      /* gets that found it loaded (or loading by a preload) */
    uint64_t misses;    /* gets that had to load it */
    uint64_t loads;     /* completed loads (gets and preloads) */
    uint64_t evictions; /* times it was evicted */
    uint64_t preloads;  /* completed preloads */
};

/* Cache-wide figures. */
struct mb_pack_cache_totals {
    uint64_t budget;   /* 0 = unlimited */
    uint64_t reserved; /* opts.reserved */
    uint64_t used;     /* reserved + loaded and loading packs */
    uint64_t preloads_skipped;
    size_t npacks;
};

/*
 * Snapshot every pack, in registration order: *out is newly allocated (caller
 * frees with mb_free), *n its length; totals may be NULL.
 */
int mb_pack_cache_stats(struct mb_pack_cache *c, struct mb_pack_cache_stat **out, size_t *n,
                        struct mb_pack_cache_totals *totals, struct mb_err *err);

/*
 * Make n bytes at p (typically a pack's GGUF mapping) resident in memory:
 * advise the kernel to read the range ahead (MADV_WILLNEED, sequential) and
 * touch one byte per page, so that a pack counted as loaded really is in
 * RAM and its first forward pass does not stall on disk reads. A load
 * callback calls this after mapping; the pack-swap benchmark measures it.
 * Returns a value derived from the bytes read (so the reads cannot be
 * optimised away); never fails (advice that is refused is only advice).
 */
uint64_t mb_pack_prefault(const void *p, size_t n);

/* ------------------------------------------------------------ fallback */

/*
 * Fallback (runtime/pack_fallback.c): the router selected a pack; is it
 * usable, and if not, which pack replaces it? The walk tries the selected
 * pack, then its manifest's `fallback` list in order (depth first: a
 * fallback's own list is followed too, each pack tried once), and ends at the
 * general pack. A pack is unusable when it is:
 *   missing       not installed, or its GGUF file is absent;
 *   corrupt       its pack.yaml cannot be read, its GGUF does not open (every
 *                 offset is checked by mb_gguf_open), or the caller's check
 *                 (hash verification, loading the stack) fails;
 *   incompatible  not a data pack, trained for another base family
 *                 (manifest `base`), no `base_compatibility` range accepts the
 *                 base version in use, or its width does not fit the base's:
 *                 adapter_in.weight must read the base width and
 *                 adapter_out.weight write it, and without adapters the pack
 *                 width (`modularbase.pack.width`, else the manifest's
 *                 `width`) must equal the base width.
 * Runtime above registry is not allowed (DESIGN.md §6), so the caller hands
 * in the installed set (e.g. from mb_store_installed_load and
 * mb_manifest_load) and optional deeper checks as a callback.
 */

struct mb_manifest;
struct mb_semver;

/* One installed pack as the fallback walk sees it (everything borrowed). */
struct mb_fallback_pack {
    const char *id;
    const struct mb_manifest *manifest; /* NULL when pack.yaml could not be read */
    const char *manifest_error;         /* why, when manifest is NULL (may be NULL) */
    const char *weights;                /* absolute GGUF path, NULL when none */
};

/* The base in use. */
struct mb_fallback_base {
    const char *id;                  /* its pack id (for manifests' `base`); NULL = skip */
    const struct mb_semver *version; /* NULL = skip the base_compatibility check */
    uint64_t width;                  /* its hidden width; 0 = skip the width check */
};

enum mb_fallback_reason {
    MB_FALLBACK_OK,
    MB_FALLBACK_MISSING,
    MB_FALLBACK_CORRUPT,
    MB_FALLBACK_INCOMPATIBLE,
};
/* "ok", "missing", "corrupt", "incompatible". */
const char *mb_fallback_reason_name(enum mb_fallback_reason r);

/*
 * An extra check of a pack that passed the built-in ones: return 0 when
 * usable, else a negative code with err filled; MB_E_INTEGRITY / MB_E_FORMAT /
 * MB_E_SIGNATURE count as corrupt, MB_E_NOTFOUND as missing, MB_E_UNSUPPORTED
 * as incompatible, anything else as corrupt.
 */
typedef int (*mb_fallback_check_fn)(void *ud, const struct mb_fallback_pack *p, struct mb_err *err);

struct mb_fallback_opts {
    const char *general_id; /* the end of every walk; NULL = "general" */
    mb_fallback_check_fn check;
    void *check_ud;
    bool skip_gguf; /* do not open GGUF files (the caller's check loads them) */
};

struct mb_fallback_result {
    const struct mb_fallback_pack *pack; /* the pack to use (an element of `packs`) */
    enum mb_fallback_reason reason;      /* why the selected pack was not used; OK if it was */
    /*
     * One line for the CLI to print as a warning, "" when the selected pack is
     * used: "pack 'python' is corrupt (python.gguf: not a GGUF file); using
     * 'general' instead".
     */
    char warning[MB_ERR_MSG_MAX];
};

/*
 * Check one pack (see above). Returns MB_FALLBACK_OK or the reason, with
 * `detail` saying what is wrong (may be NULL).
 */
enum mb_fallback_reason mb_pack_check_usable(const struct mb_fallback_pack *packs, size_t n,
                                             const char *id, const struct mb_fallback_base *base,
                                             const struct mb_fallback_opts *opts,
                                             struct mb_err *detail);

/*
 * Pick the pack to run for `selected`. Returns 0 with *res filled, or
 * MB_E_NOTFOUND when not even the general pack is usable (the message lists
 * every pack tried and why). opts may be NULL.
 */
int mb_pack_fallback_pick(const struct mb_fallback_pack *packs, size_t n, const char *selected,
                          const struct mb_fallback_base *base, const struct mb_fallback_opts *opts,
                          struct mb_fallback_result *res, struct mb_err *err);

/* ------------------------------------------------------------ status files */

/*
 * What `modularbase status` shows comes from two small text files in the
 * store directory (docs/runtime.md, "Pack cache"), written by the process
 * that runs the model (chat, run) and read by any other without a lock:
 *
 *   HOME/run/status   the live cache of the last running process: a header
 *                     ("modularbase-status 1", pid, updated, budget,
 *                     reserved, used, preloads_skipped) and one line per pack
 *                     "pack ID STATE RESIDENT BYTES LAST_USED HITS MISSES LOADS
 *                     EVICTIONS PRELOADS" (STATE: on-disk, loading, loaded,
 *                     resident). Replaced atomically after every turn.
 *   HOME/usage        "modularbase-usage 1", then "ID LAST_USED USES" per
 *                     pack: when each pack was last used by any run, kept
 *                     across runs. Concurrent runs may lose one update (last
 *                     writer wins); it is a statistic, not a transaction.
 */

#define MB_PACK_STATUS_MAX_BYTES (4u << 20)

/* Write HOME/run/status from the cache's current stats (pid = this process). */
int mb_pack_cache_status_write(struct mb_pack_cache *c, const char *home, struct mb_err *err);

struct mb_pack_status {
    int64_t pid;
    int64_t updated; /* Unix time */
    struct mb_pack_cache_totals totals;
    struct mb_pack_cache_stat *packs; /* owned */
    size_t n;
};
void mb_pack_status_release(struct mb_pack_status *s);
/*
 * Read HOME/run/status. MB_E_NOTFOUND when there is none, MB_E_FORMAT naming
 * the line when it is malformed. Whether its process still runs is the
 * caller's question (kill(pid, 0)).
 */
int mb_pack_status_read(const char *home, struct mb_pack_status *out, struct mb_err *err);

struct mb_pack_usage {
    char id[MB_PACK_CACHE_ID_MAX];
    int64_t last_used; /* Unix time */
    uint64_t uses;
};
/* Record that `ids` were used at time `when` (creates HOME/usage; HOME must exist). */
int mb_pack_usage_record(const char *home, const char *const *ids, size_t n, int64_t when,
                         struct mb_err *err);
/*
 * Read HOME/usage: *out newly allocated (mb_free), sorted as in the file. A
 * missing file is an empty list; a malformed one MB_E_FORMAT naming the line.
 */
int mb_pack_usage_load(const char *home, struct mb_pack_usage **out, size_t *n, struct mb_err *err);

#ifdef __cplusplus
}
#endif

#endif /* MB_PACK_CACHE_H */
