/*
 * mb_client.h - community registries (DESIGN.md §4, docs/registry.md): the
 * registry metadata formats (registry.json, snapshot.json), config.yaml, the
 * client that keeps a trusted copy of each registry's snapshot and fetches
 * index files and packs from it, the maintainer's operations on a registry
 * directory, and publishing.
 *
 * A registry is a directory of static files served from anywhere (https://,
 * http://, or file:// without a server):
 *
 *   registry.json                       name, format, maintainer keys, threshold, publishers
 *   snapshot.json (+ .minisig)          version, expiry, sha256+size of registry.json and
 *                                       of every index/<id>.json; signed by the maintainers
 *   index/<id>.json                     every version of a pack (manifests/mb_manifests.h)
 *   packs/<id>/<id>-<version>.mbpack    (+ .minisig signed by a listed publisher)
 *
 * Trust model, in one paragraph: the user pins the maintainer key(s) at
 * `registry add` (config.yaml); nothing is trusted that does not chain to a
 * pinned key. snapshot.json must carry `threshold` valid signatures by
 * distinct pinned keys, must not be expired, and its version must not be lower
 * than the last one seen (nor equal with other bytes). registry.json and every
 * index file must have exactly the sha256 and size the snapshot lists, and are
 * never read past that size. A pack must have the sha256 and size of its index
 * entry, and its .minisig must verify with a publisher key that registry.json
 * allows for that pack id. Any refusal leaves the previous trusted state as it
 * was. Mirrors serve the same files and are verified the same way.
 *
 * Client cache ($MODULARBASE_HOME/cache/):
 *   registries/<name>/snapshot.json, snapshot.json.minisig [, snapshot.json.N.minisig]
 *   registries/<name>/registry.json       the trusted copies
 *   registries/<name>/state.json          last seen version, ETags
 *   registries/<name>/index/<id>.json     index files fetched so far (sparse)
 *   packs/<id>-<version>-<sha256:12>.mbpack (+ .minisig)  verified downloads
 *   partial/<same name>.part               resumable partial downloads
 *
 * Conventions: functions return 0 or a negative MB_E_* code and fill `err`
 * (messages name the URL or file and the field). Nothing here prints. The
 * client is not thread-safe (one thread uses a struct mb_client at a time); it
 * runs its transfers with libcurl's multi interface on the calling thread plus
 * hashing helper threads. Callers that modify the store serialise on the store
 * lock; the client itself only replaces files atomically.
 */
#ifndef MB_CLIENT_H
#define MB_CLIENT_H

#include "mb_common.h"
#include "mb_manifests.h"
#include "mb_resolver.h"
#include "mb_sign.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ================================================================ limits */

#define MB_REGISTRY_FORMAT          1
#define MB_REGISTRY_NAME_MAX        64          /* bytes in a registry name */
#define MB_REGISTRY_MAX_KEYS        8           /* maintainer keys in registry.json / pinned */
#define MB_REGISTRY_MAX_PUBLISHERS  256         /* publishers in registry.json */
#define MB_REGISTRY_MAX_PATTERNS    64          /* `packs` patterns per publisher */
#define MB_REGISTRY_MAX_MIRRORS     16          /* mirrors per registry in config.yaml */
#define MB_REGISTRY_JSON_MAX_BYTES  (1u << 20)  /* registry.json */
#define MB_SNAPSHOT_MAX_BYTES       (64u << 20) /* snapshot.json (it has no declared size) */
#define MB_SNAPSHOT_MAX_PACKS       1000000
#define MB_SIG_MAX_BYTES            16384      /* a .minisig file */
#define MB_CONFIG_MAX_BYTES         (1u << 20) /* config.yaml */
#define MB_REGISTRY_URL_MAX         2048
#define MB_SNAPSHOT_VERSION_MAX     9007199254740991ull /* 2^53 - 1: exact in every JSON reader */
#define MB_REGISTRY_DEFAULT_EXPIRES (7 * 86400)         /* snapshot lifetime when not given */

/*
 * Registry names (config.yaml, registry.json): ^[a-z0-9][a-z0-9_-]{0,63}$. They
 * become cache directory names, so '/', '.', '..', '?', '#' and everything
 * else are refused. MB_E_FORMAT with the reason.
 */
int mb_registry_name_check(const char *name, struct mb_err *err);

/*
 * Normalise a registry base URL: https://, http:// or file:// (absolute path),
 * no query or fragment, no spaces or control characters, at most
 * MB_REGISTRY_URL_MAX bytes; a plain absolute or relative directory path is
 * turned into a file:// URL. The result always ends in '/'. *out newly
 * allocated (mb_free). MB_E_FORMAT when not acceptable.
 */
int mb_registry_url_normalize(const char *in, char **out, struct mb_err *err);

/* The local directory of a file:// URL (percent-decoded), newly allocated; MB_E_FORMAT otherwise.
 */
int mb_registry_url_to_path(const char *url, char **out, struct mb_err *err);

/* ================================================================ registry.json */

/* A publisher: a key allowed to sign packs whose ids match one of `packs`. */
struct mb_publisher {
    char *name; /* free text (who), for messages */
    struct mb_pubkey key;
    char **packs; /* "*", an exact id, or a prefix ending in '*' ("medical-*") */
    size_t npacks;
};

struct mb_registry_meta {
    char *name;                                  /* the registry's own name */
    char *description;                           /* NULL when absent */
    struct mb_pubkey keys[MB_REGISTRY_MAX_KEYS]; /* maintainer keys (sign snapshot.json) */
    size_t nkeys;
    unsigned threshold; /* signatures by distinct maintainer keys a snapshot needs (1..nkeys) */
    struct mb_publisher *publishers;
    size_t npublishers;
};

void mb_registry_meta_init(struct mb_registry_meta *m);
void mb_registry_meta_release(struct mb_registry_meta *m);
/* Strict parse (unknown fields, duplicate keys, bad keys or ids are errors). `origin` names it. */
int mb_registry_meta_parse(const char *origin, const char *text, size_t n,
                           struct mb_registry_meta *out, struct mb_err *err);
/* Canonical JSON (fixed key order, 2-space indent, trailing LF), appended to out. */
int mb_registry_meta_emit(const struct mb_registry_meta *m, struct mb_buf *out, struct mb_err *err);
/*
 * The publisher whose key id equals `keyid` and whose patterns match pack `id`,
 * or NULL. When the key is listed but not for this id, *listed is set (may be NULL).
 */
const struct mb_publisher *mb_registry_meta_publisher(const struct mb_registry_meta *m,
                                                      const uint8_t keyid[MB_SIGN_KEYID_LEN],
                                                      const char *id, bool *listed);
/* Whether a `packs` pattern matches a pack id. */
bool mb_registry_pattern_match(const char *pattern, const char *id);

/* ================================================================ snapshot.json */

/* What the snapshot says about one index file. */
struct mb_snapshot_entry {
    char *id;
    enum mb_pack_kind kind;
    char sha256[MB_SHA256_HEX]; /* of index/<id>.json */
    uint64_t size;              /* bytes of index/<id>.json (<= MB_INDEX_MAX_BYTES) */
};

struct mb_snapshot {
    char *name;                          /* the registry's name (equals registry.json's) */
    uint64_t version;                    /* 1 .. MB_SNAPSHOT_VERSION_MAX, strictly increasing */
    int64_t timestamp;                   /* when it was signed (seconds since the epoch) */
    int64_t expires;                     /* clients refuse it from this time on */
    char registry_sha256[MB_SHA256_HEX]; /* of registry.json */
    uint64_t registry_size;
    struct mb_snapshot_entry *packs; /* sorted by id (bytewise), unique */
    size_t npacks;
};

void mb_snapshot_init(struct mb_snapshot *s);
void mb_snapshot_release(struct mb_snapshot *s);
int mb_snapshot_parse(const char *origin, const char *text, size_t n, struct mb_snapshot *out,
                      struct mb_err *err);
/* Canonical JSON: fixed key order, one pack per line, sorted by id, trailing LF. */
int mb_snapshot_emit(const struct mb_snapshot *s, struct mb_buf *out, struct mb_err *err);
/* Binary search by id; NULL when absent. */
const struct mb_snapshot_entry *mb_snapshot_find(const struct mb_snapshot *s, const char *id);

/*
 * The name of the k-th signature file of snapshot.json (k from 1): 1 is
 * "snapshot.json.minisig", k >= 2 is "snapshot.json.<k>.minisig". Each is a
 * plain minisign signature file.
 */
void mb_snapshot_sig_name(unsigned k, char *out, size_t cap);

/*
 * Check snapshot bytes against pinned keys: parse each signature text
 * (sigs[i], nsig of them), count distinct pinned keys whose signature verifies,
 * and require at least `threshold`. `origin` (a URL) names the snapshot in
 * messages. MB_E_SIGNATURE for an unsigned snapshot, a signature by a key that
 * is not pinned, a bad signature, or too few signatures.
 */
int mb_snapshot_verify_sigs(const char *origin, const void *snap, size_t snap_n,
                            const struct mb_str *sigs, size_t nsig, const struct mb_pubkey *pinned,
                            size_t npinned, unsigned threshold, struct mb_err *err);

/* ================================================================ config.yaml */

/*
 * $MODULARBASE_HOME/config.yaml (docs/registry.md "config.yaml"):
 *
 *   format: 1
 *   registries:
 *     - name: community                       # local name, mb_registry_name_check
 *       url: https://packs.example.org/       # base URL (mb_registry_url_normalize)
 *       mirrors: [https://mirror.example.net/community/]
 *       keys: [RWQ...]                        # pinned maintainer keys (base64, minisign -P)
 *       threshold: 1                          # pinned minimum of signatures
 *       priority: 0                           # higher wins when several list a pack id
 *   defaults:                                 # scalar settings for the store and runtime
 *     jobs: "4"
 *
 * Unknown keys are errors (file:line:column), except inside `defaults`, which
 * holds any scalar key: value pairs in order (the store and runtime document
 * theirs). A missing file is an empty configuration.
 */
struct mb_registry_conf {
    char *name;
    char *url;      /* normalised, ends in '/' */
    char **mirrors; /* normalised */
    size_t nmirrors;
    struct mb_pubkey keys[MB_REGISTRY_MAX_KEYS]; /* pinned */
    size_t nkeys;
    unsigned threshold; /* >= 1 */
    int64_t priority;
};

struct mb_config_kv {
    char *key;
    char *value;
};

struct mb_config {
    struct mb_registry_conf *registries; /* in file order */
    size_t nregistries;
    struct mb_config_kv *defaults;
    size_t ndefaults;
};

void mb_config_init(struct mb_config *c);
void mb_config_release(struct mb_config *c);
int mb_config_parse(const char *origin, const char *text, size_t n, struct mb_config *out,
                    struct mb_err *err);
/* Canonical YAML with a header comment; parse(emit(c)) == c. */
int mb_config_emit(const struct mb_config *c, struct mb_buf *out, struct mb_err *err);
/* <home>/config.yaml; a missing file gives an empty config. */
int mb_config_load(const char *home, struct mb_config *out, struct mb_err *err);
/* Atomic replace of <home>/config.yaml (mode 0644), creating <home> when needed. */
int mb_config_save(const char *home, const struct mb_config *c, struct mb_err *err);

struct mb_registry_conf *mb_config_find(const struct mb_config *c, const char *name);
/* Deep copy `r` in (MB_E_EXISTS when the name is taken). */
int mb_config_add(struct mb_config *c, const struct mb_registry_conf *r, struct mb_err *err);
/* MB_E_NOTFOUND when absent. */
int mb_config_remove(struct mb_config *c, const char *name, struct mb_err *err);
void mb_registry_conf_release(struct mb_registry_conf *r);
/* Registries ordered for lookups: priority descending, then file order (borrowed pointers). */
int mb_config_by_priority(const struct mb_config *c, const struct mb_registry_conf ***out,
                          struct mb_err *err);
/* `defaults` access: NULL when unset; set replaces or appends (copies). */
const char *mb_config_default_get(const struct mb_config *c, const char *key);
int mb_config_default_set(struct mb_config *c, const char *key, const char *value,
                          struct mb_err *err);

/* ================================================================ the client */

struct mb_client;

#define MB_RETRIES_NONE 0xffffffffu

struct mb_client_opts {
    const char *home;         /* the store root (required; see mb_home_resolve) */
    unsigned jobs;            /* parallel transfers (0 = 4) */
    uint64_t limit_rate;      /* bytes/s over all transfers together (0 = unlimited) */
    unsigned retries;         /* extra attempts on 5xx / timeouts / resets (0 = 3;
                                 MB_RETRIES_NONE = none) */
    unsigned connect_timeout; /* seconds (0 = 15) */
    unsigned stall_timeout;   /* seconds without a byte before a retry (0 = 30) */
    unsigned retry_base_ms;   /* first backoff (0 = 500), doubled per attempt, capped at 8 s */
    bool offline;             /* never use the network: cached files only */
    bool allow_expired;       /* use an expired *trusted* snapshot (offline work); an
                                 expired snapshot is still never accepted from a server */
    const char *token;        /* bearer token for uploads (publish), NULL for none */
};

/*
 * Open the client: loads <home>/config.yaml (mb_client_config gives it) and
 * nothing else; trusted snapshots are loaded (and re-verified against the
 * pinned keys) on first use. *out freed with mb_client_free.
 */
int mb_client_open(const struct mb_client_opts *opts, struct mb_client **out, struct mb_err *err);
void mb_client_free(struct mb_client *c);
/* The configuration the client was opened with (borrowed; edit it with mb_client_add/remove). */
const struct mb_config *mb_client_config(const struct mb_client *c);

/* What an update (or add) did, per registry. */
struct mb_update_report {
    char name[MB_REGISTRY_NAME_MAX + 1];
    int rc;               /* 0, or the MB_E_* code of the refusal */
    struct mb_err err;    /* the refusal (previous trusted state kept) */
    uint64_t old_version; /* 0 when there was none */
    uint64_t new_version;
    int64_t expires;
    bool not_modified;    /* the server answered 304 to If-None-Match */
    const char *source;   /* the URL the snapshot came from (primary or a mirror); borrowed */
    size_t index_fetched; /* cached index files that changed and were re-fetched */
    size_t index_dropped; /* cached index files no longer listed, removed */
    size_t npacks;        /* pack ids in the snapshot */
    uint64_t bytes;       /* bytes received (bodies) */
    size_t requests;      /* HTTP requests made */
};

/*
 * `registry add`: check `r` (name, URL, at least one pinned key), fetch and
 * verify the snapshot and registry.json once (from the URL or a mirror), save
 * the trusted state, then append `r` to config.yaml (atomically). MB_E_EXISTS
 * when the name is taken; any trust failure leaves config.yaml unchanged.
 * `rep` (may be NULL) says what was fetched.
 */
int mb_client_add(struct mb_client *c, const struct mb_registry_conf *r,
                  struct mb_update_report *rep, struct mb_err *err);
/* `registry remove`: drop it from config.yaml and delete its cache directory. */
int mb_client_remove(struct mb_client *c, const char *name, struct mb_err *err);

/*
 * `registry update`: for each named registry (all when n == 0), fetch
 * snapshot.json with If-None-Match, verify it (signatures, expiry, rollback),
 * fetch registry.json when its hash changed, and re-fetch the cached index
 * files whose hash changed (index files never fetched stay unfetched); then
 * commit the new trusted state. Registries are independent: reps[i] (n
 * entries, or one per configured registry when n == 0; allocate
 * mb_client_config(c)->nregistries) gets each outcome. Returns 0 when all
 * succeeded, else the first failure's code (err describes it).
 */
int mb_client_update(struct mb_client *c, const char *const *names, size_t n,
                     struct mb_update_report *reps, struct mb_err *err);

/* Trusted facts about one registry (after add/update), for `registry list`. */
struct mb_registry_status {
    bool have_snapshot;
    uint64_t version;
    int64_t timestamp, expires;
    size_t npacks;
    size_t index_cached;
    char remote_name[MB_REGISTRY_NAME_MAX + 1];
    size_t npublishers;
};
/* MB_E_NOTFOUND for an unknown name; have_snapshot false when nothing is trusted yet. */
int mb_client_status(struct mb_client *c, const char *name, struct mb_registry_status *out,
                     struct mb_err *err);

/* ---------------------------------------------------------------- index records */

/*
 * The index records of `n` pack ids, fetched on demand (in parallel, verified
 * against the trusted snapshot's sha256 and size, never more bytes than
 * declared) or taken from the cache when the cached file still matches. Each
 * id is served by the registry of highest priority whose snapshot lists it
 * (others are ignored for that id: no mixing, no dependency confusion).
 * out[i] (borrowed, valid until mb_client_free) is NULL and registry[i] NULL
 * when no registry lists ids[i]; `registry` may be NULL. Errors: MB_E_FORMAT
 * for an invalid id; MB_E_STATE when a registry has no trusted snapshot or it
 * expired (and !allow_expired); trust and network errors.
 */
int mb_client_get_index(struct mb_client *c, const char *const *ids, size_t n,
                        const struct mb_index_record **out, const char **registry,
                        struct mb_err *err);

/*
 * A resolver source over the configured registries (mb_resolver.h): `load`
 * fetches one id and prefetches its dependencies' index files in parallel;
 * `list_bases` lists base packs from the snapshots' `kind` fields without
 * fetching. Valid while the client lives.
 */
struct mb_resolve_source mb_client_source(struct mb_client *c);

/* ---------------------------------------------------------------- downloads */

enum mb_download_state {
    MB_DL_QUEUED,
    MB_DL_ACTIVE,    /* transferring */
    MB_DL_RETRYING,  /* waiting for the next attempt */
    MB_DL_VERIFYING, /* hashing a partial file or checking the signature */
    MB_DL_DONE,
    MB_DL_FAILED,
};

/*
 * One pack to fetch. Fill the inputs from a resolver plan entry (registry, id,
 * version, archive, sha256, size) or from an index version. With registry ==
 * NULL, `url` names any archive (pack install URL): no index facts, no
 * signature check; `sha256` may be "" (then out_sha256 reports what arrived)
 * and size 0 (unknown, bounded by max_size).
 */
struct mb_download {
    /* in */
    const char *registry;
    const char *id;
    const char *version;
    const char *archive;        /* path relative to the registry base URL */
    char sha256[MB_SHA256_HEX]; /* expected, lower-case hex ("" = unknown, URL only) */
    uint64_t size;              /* expected bytes (0 = unknown, URL only) */
    const char *url;            /* only with registry == NULL */
    uint64_t max_size;          /* URL only: cap when size is 0 (0 = 1 TiB) */
    /* out (owned by the struct; mb_download_release) */
    char *path;                         /* the verified archive in <home>/cache/packs/ */
    char *sig_path;                     /* its publisher signature, next to it (NULL for URLs) */
    char out_sha256[MB_SHA256_HEX];     /* what was verified */
    char signer[MB_SIGN_KEYID_HEX_LEN]; /* publisher key id */
    const char *source;                 /* base URL it came from (borrowed) */
    bool cached;                        /* already verified in the cache: nothing fetched */
    bool resumed;                       /* continued a partial file with a Range request */
    uint64_t fetched;                   /* body bytes received by this call */
    int rc;                             /* 0 or the MB_E_* code of this file */
    struct mb_err err;
};
void mb_download_release(struct mb_download *d);

/* A snapshot of every file's progress, for a per-file + total display. */
struct mb_download_file_status {
    const char *label; /* "id version" */
    enum mb_download_state state;
    uint64_t done, total;
    unsigned attempt; /* 1-based */
};
struct mb_download_status {
    const struct mb_download_file_status *files;
    size_t nfiles;
    uint64_t done, total; /* over every file (total counts known sizes) */
    uint64_t elapsed_ns;
    double rate;  /* bytes/s over the last few seconds */
    double eta_s; /* < 0 when unknown */
    bool final;   /* the last call */
};
struct mb_download_progress {
    void (*fn)(void *ud, const struct mb_download_status *st);
    void *ud;
};

/*
 * Fetch and verify `n` packs, `jobs` at a time. Each file: an already verified
 * cached copy is reused; otherwise the publisher's .minisig is fetched first
 * (its key must be a publisher of that id in the trusted registry.json), then
 * the archive is fetched into cache/partial/ (continued with a Range request
 * when a partial exists, also after a restart; a server that ignores Range
 * restarts it), hashed (sha256 and BLAKE2b on helper threads) while it
 * arrives, never past the declared size, retried with backoff on 5xx,
 * timeouts and resets (mirrors next), refused on 4xx; then sha256 and size are
 * compared with the index and the signature is verified, and the file is
 * renamed into cache/packs/. A resumed file that fails its hash is fetched
 * again from the start once. Results per file in items[i].rc/err/path.
 * Returns 0 when all succeeded, else the first failure's code (err names the
 * file). MB_E_INTERRUPTED when mb_interrupted is set (partials kept).
 * The progress callback (may be NULL) is called at most 10 times a second and
 * once with final = true.
 */
int mb_client_download(struct mb_client *c, struct mb_download *items, size_t n,
                       const struct mb_download_progress *progress, struct mb_err *err);

/* ================================================================ maintainers */

/*
 * Operations on a registry directory (the server's files, or any local
 * directory served later). Signing keys are borrowed. Expiry: `expires_in`
 * seconds from now (0 = MB_REGISTRY_DEFAULT_EXPIRES).
 */

/*
 * `registry init`: create DIR (may exist, must not hold registry.json) with
 * registry.json (the public halves of `keys`, threshold, publishers: the
 * given ones, else the maintainer keys for every pack), empty index/ and
 * packs/, and snapshot.json version 1 signed by `keys` (nkeys >= threshold).
 */
struct mb_regdir_init_opts {
    const char *name;
    const char *description; /* NULL for none */
    const struct mb_seckey *const *keys;
    size_t nkeys;
    unsigned threshold;                    /* 0 = 1 */
    const struct mb_publisher *publishers; /* copied; NULL/0 = the maintainer keys, "*" */
    size_t npublishers;
    int64_t expires_in;
};
int mb_regdir_init(const char *dir, const struct mb_regdir_init_opts *o, struct mb_err *err);

/* One note from a refresh: a pack file left out and why. */
struct mb_regdir_note {
    char *path; /* relative to DIR */
    char *why;
};

struct mb_regdir_refresh_report {
    uint64_t old_version, new_version;
    int64_t expires;
    size_t npacks;                  /* ids in the new snapshot */
    size_t nversions;               /* versions over all index files */
    size_t hashed;                  /* archives read and verified in this run */
    size_t reused;                  /* archives unchanged since the last refresh (not re-read) */
    size_t added, removed;          /* versions compared with the previous index files */
    bool changed;                   /* index or registry.json content changed */
    struct mb_regdir_note *skipped; /* packs left out (bad signature, unreadable, ...) */
    size_t nskipped;
};
void mb_regdir_refresh_report_release(struct mb_regdir_refresh_report *r);

struct mb_regdir_refresh_opts {
    const struct mb_seckey *const *keys; /* maintainer keys listed in registry.json */
    size_t nkeys;
    int64_t expires_in;
    bool verify_all;             /* re-read every archive, ignoring .refresh-cache.json */
    struct mb_progress progress; /* "indexing", in archives */
};

/*
 * `registry refresh`: re-derive every index/<id>.json from the archives under
 * packs/ and their .minisig files (a pack is indexed only when its archive
 * verifies, its file name matches its pack.yaml, and its signature verifies
 * with a publisher key allowed for its id), keep yanked flags, remove index
 * files of ids with no archive left, and write a new snapshot (version + 1,
 * new expiry) signed by `keys`. Archives unchanged since the last run (same
 * size, mtime and signature, recorded in DIR/.refresh-cache.json) are not
 * re-read. Index files are byte-identical between runs on the same inputs.
 * MB_E_SIGNATURE when a key is not a maintainer key of registry.json or fewer
 * than the threshold are given.
 */
int mb_regdir_refresh(const char *dir, const struct mb_regdir_refresh_opts *o,
                      struct mb_regdir_refresh_report *rep, struct mb_err *err);

/* `registry yank` / `unyank`: set the flag in index/<id>.json, then refresh with `o`. */
int mb_regdir_yank(const char *dir, const char *id, const char *version, bool yank,
                   const struct mb_regdir_refresh_opts *o, struct mb_regdir_refresh_report *rep,
                   struct mb_err *err);

/*
 * Read pack.yaml out of an .mbpack (streaming; only the first members are
 * decompressed) and parse it. For refresh and publish.
 */
int mb_regdir_read_manifest(const char *archive, struct mb_manifest *out, struct mb_err *err);

/* ================================================================ publishing */

struct mb_publish_opts {
    const char *archive; /* the .mbpack; its signature is archive + ".minisig" */
    const char *sig;     /* another signature path, or NULL */
    const char *target;  /* a configured registry name, or a URL (file://, http(s)://) or dir */
    /* With maintainer keys the index and a re-signed snapshot are published too;
       without, only the pack and its signature (the maintainer runs refresh). */
    const struct mb_seckey *const *keys;
    size_t nkeys;
    int64_t expires_in;
    struct mb_progress progress; /* upload bytes */
};

struct mb_publish_report {
    char id[MB_PACK_ID_MAX + 1];
    char version[MB_SEMVER_MAX_LEN + 1];
    char *pack_url; /* where the archive went */
    bool indexed;   /* the index and snapshot were updated (maintainer keys given) */
    uint64_t snapshot_version;
    size_t uploads; /* files written or PUT */
};
void mb_publish_report_release(struct mb_publish_report *r);

/*
 * `pack publish`: verify the archive (structure, hashes) and its signature
 * (the signer must be a publisher of the id in the registry's registry.json),
 * refuse when the version exists (versions are immutable: MB_E_EXISTS), then
 * write (file://) or HTTP PUT (with the client's bearer token) the archive
 * and its .minisig to packs/<id>/<id>-<version>.mbpack. With maintainer keys:
 * for file://, run a refresh; over HTTP, fetch and verify the current snapshot
 * and index/<id>.json, add the version, and PUT the index, then snapshot.json,
 * then its signatures. `c` supplies the configuration, network options and token.
 */
int mb_client_publish(struct mb_client *c, const struct mb_publish_opts *o,
                      struct mb_publish_report *rep, struct mb_err *err);

#ifdef __cplusplus
}
#endif

#endif /* MB_CLIENT_H */
