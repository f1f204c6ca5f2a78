/*
 * client_int.h - internals shared by the registry client's files: the HTTP
 * transfer engine (http.c: libcurl multi, retries with backoff, mirror
 * fallback, Range, bounded bodies), the per-registry trusted state
 * (client.c), and helpers of the metadata code (regmeta*.c).
 */
#ifndef MB_CLIENT_INT_H
#define MB_CLIENT_INT_H

#include "mb_archive.h"
#include "mb_client.h"

#include <curl/curl.h>

/* ------------------------------------------------------------ regmeta helpers */

bool mb_regmeta_sha_hex_ok(const char *s);
int mb_regmeta_json_str(struct mb_buf *b, const char *s, struct mb_err *err);
int mb_regmeta_pattern_check(const char *pattern, struct mb_err *err);
void mb_publisher_release(struct mb_publisher *p);

/*
 * How much a failure matters when several sources (URL, mirrors) failed: a
 * trust refusal is reported over a malformed answer, which is reported over a
 * missing file or a network error.
 */
static inline int mb_err_severity(int code)
{
    switch (code) {
    case MB_E_SIGNATURE:
    case MB_E_INTEGRITY:
        return 3;
    case MB_E_LIMIT:
    case MB_E_FORMAT:
    case MB_E_UNSUPPORTED:
        return 2;
    case MB_E_NOTFOUND:
    case MB_E_PERM:
        return 1;
    default:
        return 0;
    }
}

/* ------------------------------------------------------------ transfers */

struct http;

struct http_opts {
    unsigned jobs;
    unsigned retries;
    unsigned connect_timeout; /* s */
    unsigned stall_timeout;   /* s */
    unsigned retry_base_ms;
    uint64_t limit_rate; /* bytes/s over all transfers */
    const char *token;   /* bearer token sent with PUT/DELETE only */
};

enum xfer_method {
    XFER_GET,
    XFER_HEAD,
    XFER_PUT,
};

struct xfer;

/*
 * What a transfer does with its body. Every callback may be NULL.
 *  start   before each attempt (after a retry or when moving to a mirror):
 *          reset per-attempt state, set x->range_from / x->if_none_match.
 *          Returning an error fails the transfer without trying further.
 *  data    body bytes of a 2xx response; returning an error aborts this
 *          attempt and moves on to the next source (x->err says why).
 *  finish  after a complete 2xx/304 response: verify. An error moves on to
 *          the next source (a mirror), or ends the transfer with it.
 */
struct xfer_ops {
    int (*start)(struct xfer *x, struct mb_err *err);
    int (*data)(struct xfer *x, const char *p, size_t n, struct mb_err *err);
    int (*finish)(struct xfer *x, struct mb_err *err);
};

struct xfer {
    /* set by the caller */
    const char *const *bases; /* base URLs ending in '/': primary first, then mirrors */
    size_t nbases;
    const char *rel; /* path relative to a base ("snapshot.json"); NULL: bases[] are whole URLs */
    const struct xfer_ops *ops;
    void *ud;
    enum xfer_method method;
    /* per attempt; ops->start may change them (they persist otherwise) */
    bool compressed;    /* send Accept-Encoding (metadata only, never with Range) */
    const void *upload; /* PUT body in memory, or NULL */
    size_t upload_n;
    const char *upload_path; /* PUT body from a file, or NULL */
    /* per attempt, set by ops->start */
    int64_t range_from; /* >= 0: send "Range: bytes=N-" */
    const char *if_none_match;
    /* results of the current attempt */
    long status; /* HTTP status; 0 for file:// */
    char etag[192];
    bool content_range; /* a Content-Range header was seen */
    uint64_t content_range_start;
    int64_t content_length;  /* -1 unknown */
    uint64_t received;       /* body bytes delivered to ops->data in this attempt */
    uint64_t total_received; /* over every attempt */
    size_t base_i;           /* the source in use */
    unsigned attempt;        /* 1-based, per source */
    unsigned requests;       /* requests made */
    bool is_file;            /* file:// */
    /* outcome */
    bool done;
    int rc;
    struct mb_err err;
    /* engine state */
    CURL *h;
    struct curl_slist *hdrs;
    char *url;
    FILE *upload_f;
    size_t upload_off;
    uint64_t not_before_ns;
    bool running;
    bool discard;            /* a non-2xx body: not delivered */
    bool fatal;              /* the data callback refused: no retry on this source */
    struct mb_err first_err; /* the most severe failure over the sources (mb_err_severity) */
    size_t first_src;        /* the source it came from */
    struct mb_err last_err;
    bool restart_now; /* start the next attempt from zero, at once (seen by ops->start) */
    unsigned restarts;
    uint64_t last_byte_ns; /* when a byte last moved (header, body or upload) */
    uint64_t stall_ns;     /* abort the attempt after this long without a byte */
    bool stalled;          /* aborted by the stall check: retried like a timeout */
};

/* Progress hook: called from the engine's loop at least every 100 ms. */
struct http_tick {
    void (*fn)(void *ud);
    void *ud;
};

int http_new(const struct http_opts *o, struct http **out, struct mb_err *err);
void http_free(struct http *h);
/*
 * Run transfers, `jobs` at a time, until each is done (x->done, x->rc, x->err).
 * Returns 0, or MB_E_INTERRUPTED / MB_E_NOMEM for the whole run; per-transfer
 * failures are only in each x.
 */
int http_run(struct http *h, struct xfer *const *xs, size_t n, const struct http_tick *tick,
             struct mb_err *err);
/* The URL of the transfer's current attempt (for messages). */
const char *xfer_url(const struct xfer *x);
/* Ask the engine to retry this transfer at once from the start (e.g. the server ignored Range). */
void xfer_restart(struct xfer *x);
/* Totals over the engine's life (for reports and the benchmark). */
void http_counters(const struct http *h, uint64_t *bytes, uint64_t *requests);

/* A fetch into memory of at most `max` bytes (the "declared size" bound). */
struct memfetch {
    struct xfer x;
    struct mb_buf body;
    size_t max;
    bool exact;       /* the body must be exactly `max` bytes (a declared size) */
    const char *what; /* "index file", for messages */
};
/* Initialise a memfetch (x.ops, x.ud set; the caller sets bases/rel/etc.). */
void memfetch_init(struct memfetch *m, size_t max, bool exact, const char *what);
void memfetch_release(struct memfetch *m);

/* A memfetch whose body must match (sha256, size) of a snapshot entry (mix-and-match check). */
struct checked_fetch {
    struct memfetch m;
    const char *sha;
    uint64_t size;
};
void mb_client_checked_fetch_init(struct checked_fetch *cf, const char *sha, uint64_t size,
                                  const char *what);

/* ------------------------------------------------------------ client state */

/* One configured registry and its trusted state. */
struct regstate {
    struct mb_registry_conf *conf; /* borrowed from the client's config */
    char *dir;                     /* <home>/cache/registries/<name> */
    bool loaded;                   /* load attempted */
    bool have;                     /* a trusted snapshot is present */
    struct mb_snapshot snap;
    struct mb_registry_meta meta;
    uint64_t seen_version; /* highest version ever accepted (state.json) */
    char etag_snapshot[192];
    const char **bases; /* url + mirrors */
    size_t nbases;
};

/* A loaded index record, cached for the client's life. */
struct loaded_rec {
    char *id;
    struct regstate *reg;
    struct mb_index_record rec;
};

struct mb_client {
    struct mb_client_opts opts;
    char *home;
    char *cache; /* <home>/cache */
    struct mb_config cfg;
    struct regstate *regs;
    size_t nregs;
    struct http *http;
    struct loaded_rec **recs;
    size_t nrecs, caprecs;
    char *token;
};

/* Load (once) and re-verify the trusted state of a registry from its cache dir. */
int mb_client_load_trusted(struct mb_client *c, struct regstate *r, struct mb_err *err);
/* Find the registry state by name. */
struct regstate *mb_client_reg(struct mb_client *c, const char *name);
/* Lazily create the transfer engine. */
int mb_client_http(struct mb_client *c, struct http **out, struct mb_err *err);
/* Refuse use of an expired trusted snapshot unless allowed. */
int mb_client_check_fresh(struct mb_client *c, struct regstate *r, struct mb_err *err);
/* The cache file of an index record: <dir>/index/<id>.json (newly allocated). */
char *mb_client_index_path(const struct regstate *r, const char *id);
/*
 * Replace a cache file atomically (temp file + rename) without fsync: index
 * files are re-checked against the trusted snapshot's hash whenever they are
 * used, so a file lost or torn by a crash is simply fetched again. (The trusted
 * snapshot and state.json are written with mb_file_write_atomic, fsync'ed.)
 */
int mb_client_write_cache(const char *path, const void *data, size_t n, struct mb_err *err);
/* Verify bytes against a snapshot entry (sha256 + size), naming `origin`. */
int mb_client_check_entry(const char *origin, const void *p, size_t n, const char *sha256_hex,
                          uint64_t size, const char *what, struct mb_err *err);

/* ------------------------------------------------------------ regdir internals */

/* Sign `data` with each key, appending k-th signature text to sigs[k] (k < nkeys). */
int mb_regdir_sign_snapshot(const void *data, size_t n, const struct mb_seckey *const *keys,
                            size_t nkeys, struct mb_buf *sigs, struct mb_err *err);

#endif /* MB_CLIENT_INT_H */
