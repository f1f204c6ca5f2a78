/*
 * download.c - fetching packs (docs/registry.md "Downloads"): `jobs` archives
 * at a time through the transfer engine, each into <home>/cache/partial/ and
 * continued with a Range request when a partial file exists (also after a
 * restart of the command). Bytes are written through a 1 MiB staging buffer
 * and hashed (sha256 for the index, BLAKE2b-512 for the publisher's minisign
 * signature) on two helper threads while they arrive, so verifying costs no
 * extra pass; a partial file left by an earlier run is hashed once before its
 * transfer continues. Never more bytes than the index declares are accepted.
 * A verified archive is renamed into <home>/cache/packs/ with its .minisig and
 * a small `.verified` marker (size, mtime, inode, both hashes) that lets a
 * later run reuse it without re-reading it; the signature is still checked
 * against the current registry.json each time.
 */
#include "archive_int.h"
#include "client_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define STAGE_SIZE   (1u << 20)
#define URL_MAX_SIZE (1ull << 40) /* 1 TiB: the cap of a download without a declared size */

struct dl {
    struct mb_download *d;
    struct mb_client *c;
    struct regstate *r; /* NULL for a plain URL */
    struct xfer x;
    const char *url_base[1];
    char label[MB_PACK_ID_MAX + MB_SEMVER_MAX_LEN + 4];
    char *part_path, *final_path, *sig_final, *mark_path;
    int fd;
    uint64_t have;   /* bytes in the partial file, all hashed */
    uint64_t expect; /* declared size, 0 = unknown */
    uint64_t cap;    /* never accept more */
    struct whole_hash hs, hb;
    bool hashing;
    unsigned char *stage;
    size_t staged;
    struct mb_buf sigtext;
    struct mb_sig sig;
    const struct mb_publisher *signer;
    bool resumed;      /* this run continued a partial file from an earlier run or attempt */
    bool retried_full; /* a mismatch after resuming was fetched again from zero */
    bool active;       /* takes part in the transfer run */
    struct mb_download_file_status *st;
};

void mb_download_release(struct mb_download *d)
{
    if (!d)
        return;
    mb_free(d->path);
    mb_free(d->sig_path);
    d->path = NULL;
    d->sig_path = NULL;
}

/* ------------------------------------------------------------ hashing + partial file */

static void hash_start(struct dl *w)
{
    if (w->hashing)
        return;
    mb_archive_whole_hash_start(&w->hs, MB_ARCHIVE_HASH_SHA256);
    mb_archive_whole_hash_start(&w->hb, MB_ARCHIVE_HASH_BLAKE2B);
    w->hashing = true;
}

static void hash_finish(struct dl *w, uint8_t sha[MB_SHA256_LEN], uint8_t b2[MB_SIGN_HASH_LEN])
{
    uint8_t dummy_b2[MB_SIGN_HASH_LEN], dummy_sha[MB_SHA256_LEN];
    if (!w->hashing) {
        hash_start(w);
    }
    mb_archive_whole_hash_finish(&w->hs, sha, dummy_b2);
    mb_archive_whole_hash_finish(&w->hb, dummy_sha, b2);
    w->hashing = false;
}

static void hash_feed(struct dl *w, const void *p, size_t n)
{
    hash_start(w);
    mb_archive_whole_hash_feed(&w->hs, p, n);
    mb_archive_whole_hash_feed(&w->hb, p, n);
}

static int write_all(int fd, const void *p, size_t n, const char *path, struct mb_err *err)
{
    const char *s = p;
    while (n) {
        ssize_t k = write(fd, s, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return mb_fail_errno(err, errno, "cannot write '%s'", path);
        }
        s += k;
        n -= (size_t)k;
    }
    return 0;
}

static int flush_stage(struct dl *w, struct mb_err *err)
{
    if (!w->staged)
        return 0;
    int rc = write_all(w->fd, w->stage, w->staged, w->part_path, err);
    if (rc)
        return rc;
    hash_feed(w, w->stage, w->staged);
    w->have += w->staged;
    w->staged = 0;
    return 0;
}

/* Start the partial file over: empty, hashes reset. */
static int reset_partial(struct dl *w, struct mb_err *err)
{
    uint8_t a[MB_SHA256_LEN], b[MB_SIGN_HASH_LEN];
    if (w->hashing)
        hash_finish(w, a, b);
    w->staged = 0;
    w->have = 0;
    if (ftruncate(w->fd, 0) || lseek(w->fd, 0, SEEK_SET) < 0)
        return mb_fail_errno(err, errno, "cannot truncate '%s'", w->part_path);
    hash_start(w);
    return 0;
}

/* Open (or create) the partial file and hash what it already holds. */
static int open_partial(struct dl *w, struct mb_err *err)
{
    w->fd = open(w->part_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (w->fd < 0)
        return mb_fail_errno(err, errno, "cannot open '%s'", w->part_path);
    struct stat st;
    if (fstat(w->fd, &st))
        return mb_fail_errno(err, errno, "cannot stat '%s'", w->part_path);
    if (!S_ISREG(st.st_mode))
        return mb_fail(err, MB_E_IO, "'%s' is not a regular file", w->part_path);
    uint64_t size = (uint64_t)st.st_size;
    hash_start(w);
    if (size == 0 || size > w->cap || (w->expect && size > w->expect))
        return reset_partial(w, err);
    /* Hash the bytes an earlier run left, then append after them. */
    w->st->state = MB_DL_VERIFYING;
    uint64_t off = 0;
    while (off < size) {
        if (mb_interrupted)
            return mb_fail(err, MB_E_INTERRUPTED, "interrupted");
        size_t want = (size_t)MB_MIN((uint64_t)STAGE_SIZE, size - off);
        ssize_t k = pread(w->fd, w->stage, want, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return mb_fail_errno(err, k < 0 ? errno : EIO, "cannot read '%s'", w->part_path);
        hash_feed(w, w->stage, (size_t)k);
        off += (uint64_t)k;
        w->st->done = off;
    }
    if (lseek(w->fd, (off_t)size, SEEK_SET) < 0)
        return mb_fail_errno(err, errno, "cannot seek '%s'", w->part_path);
    w->have = size;
    w->resumed = true;
    w->st->state = MB_DL_QUEUED;
    return 0;
}

/* ------------------------------------------------------------ the cache marker */

static void hex_of(const uint8_t *p, size_t n, char *out)
{
    mb_hex_encode(p, n, out);
}

static int mark_write(struct dl *w, const uint8_t sha[MB_SHA256_LEN],
                      const uint8_t b2[MB_SIGN_HASH_LEN], struct mb_err *err)
{
    struct stat st;
    if (stat(w->final_path, &st))
        return mb_fail_errno(err, errno, "cannot stat '%s'", w->final_path);
    char hs[MB_SHA256_HEX], hb[2 * MB_SIGN_HASH_LEN + 1], line[300];
    hex_of(sha, MB_SHA256_LEN, hs);
    hex_of(b2, MB_SIGN_HASH_LEN, hb);
    snprintf(line, sizeof(line), "%llu %lld %llu %s %s\n", (unsigned long long)st.st_size,
             (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec,
             (unsigned long long)st.st_ino, hs, hb);
    return mb_file_write_atomic(w->mark_path, line, strlen(line), 0644, err);
}

/* The marker still describes the file: its hashes are trusted without re-reading. */
static bool mark_read(struct dl *w, char sha_hex[MB_SHA256_HEX], uint8_t b2[MB_SIGN_HASH_LEN])
{
    struct stat st;
    struct mb_buf b;
    mb_buf_init(&b, 512);
    bool ok = false;
    if (!stat(w->final_path, &st) && S_ISREG(st.st_mode) && mb_path_exists(w->mark_path) &&
        !mb_file_read_all(w->mark_path, 511, &b, NULL)) {
        unsigned long long size, ino;
        long long mt;
        char hs[80], hb[160];
        if (sscanf(b.p, "%llu %lld %llu %70s %150s", &size, &mt, &ino, hs, hb) == 5 &&
            size == (unsigned long long)st.st_size &&
            mt == (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec &&
            ino == (unsigned long long)st.st_ino && mb_regmeta_sha_hex_ok(hs) &&
            strlen(hb) == 2 * MB_SIGN_HASH_LEN && mb_hex_decode(hb, b2, MB_SIGN_HASH_LEN)) {
            memcpy(sha_hex, hs, MB_SHA256_HEX);
            ok = true;
        }
    }
    mb_buf_release(&b);
    return ok;
}

/* ------------------------------------------------------------ verification */

static int verify_sig(struct dl *w, const uint8_t b2[MB_SIGN_HASH_LEN], struct mb_err *err)
{
    if (!w->r)
        return 0; /* a plain URL: no registry, no publisher */
    char origin[MB_REGISTRY_URL_MAX + 300];
    snprintf(origin, sizeof(origin), "%s%s.minisig", w->r->bases[0], w->d->archive);
    struct mb_err e;
    if (mb_sign_verify_prehashed(&w->signer->key, b2, &w->sig, origin, 0, &e))
        return mb_fail(err, MB_E_SIGNATURE,
                       "%s %s: the publisher signature does not verify (%s); the pack is "
                       "refused",
                       w->d->id, w->d->version, e.msg);
    return 0;
}

/* Check the finished partial file and move it into the cache. */
static int complete(struct dl *w, struct mb_err *err)
{
    int rc = flush_stage(w, err);
    if (rc)
        return rc;
    uint8_t sha[MB_SHA256_LEN], b2[MB_SIGN_HASH_LEN];
    hash_finish(w, sha, b2);
    char hex[MB_SHA256_HEX];
    mb_hex_encode(sha, MB_SHA256_LEN, hex);
    const char *url = w->x.url ? w->x.url : w->d->url ? w->d->url : w->label;
    if (w->expect && w->have != w->expect) {
        rc = mb_fail(err, MB_E_INTEGRITY, "%s: %llu bytes, but the index declares %llu", url,
                     (unsigned long long)w->have, (unsigned long long)w->expect);
        goto bad;
    }
    if (w->d->sha256[0] && strcmp(hex, w->d->sha256)) {
        rc = mb_fail(err, MB_E_INTEGRITY,
                     "%s: sha256 %s, but the index declares %s (the pack is refused)", url, hex,
                     w->d->sha256);
        goto bad;
    }
    w->st->state = MB_DL_VERIFYING;
    rc = verify_sig(w, b2, err);
    if (rc)
        goto bad;
    if (!w->final_path) {
        /* A URL download: the name depends on what arrived. */
        char name[MB_PACK_ID_MAX + MB_SEMVER_MAX_LEN + 40];
        snprintf(name, sizeof(name), "%.40s-%.12s.mbpack", w->label, hex);
        char *dir = mb_path_join(w->c->cache, "packs");
        w->final_path = dir ? mb_path_join(dir, name) : NULL;
        mb_free(dir);
        if (w->final_path) {
            w->mark_path = mb_malloc(strlen(w->final_path) + 10);
            if (w->mark_path)
                snprintf(w->mark_path, strlen(w->final_path) + 10, "%s.verified", w->final_path);
        }
        if (!w->final_path || !w->mark_path)
            return mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    if (rename(w->part_path, w->final_path))
        return mb_fail_errno(err, errno, "cannot rename '%s' to '%s'", w->part_path, w->final_path);
    if (w->sig_final) {
        rc = mb_file_write_atomic(w->sig_final, w->sigtext.p, w->sigtext.n, 0644, err);
        if (rc)
            return rc;
    }
    rc = mark_write(w, sha, b2, err);
    if (rc)
        return rc;
    memcpy(w->d->out_sha256, hex, MB_SHA256_HEX);
    return 0;
bad:
    /* A resumed file may have started from stale bytes: fetch it once more from zero. */
    if (w->resumed && !w->retried_full && rc == MB_E_INTEGRITY) {
        w->retried_full = true;
        w->resumed = false;
        struct mb_err e;
        if (!reset_partial(w, &e)) {
            xfer_restart(&w->x);
            return rc;
        }
    }
    if (ftruncate(w->fd, 0) == 0)
        unlink(w->part_path);
    return rc;
}

/* ------------------------------------------------------------ transfer callbacks */

static int dl_start(struct xfer *x, struct mb_err *err)
{
    struct dl *w = x->ud;
    int rc = flush_stage(w, err);
    if (rc)
        return rc;
    if (x->restart_now && w->have)
        rc = reset_partial(w, err);
    if (rc)
        return rc;
    x->range_from = w->have > 0 ? (int64_t)w->have : -1;
    if (w->have)
        w->resumed = true;
    w->st->state = MB_DL_ACTIVE;
    w->st->attempt = x->attempt;
    return 0;
}

static int dl_data(struct xfer *x, const char *p, size_t n, struct mb_err *err)
{
    struct dl *w = x->ud;
    if (x->received == n && x->range_from > 0 && !x->is_file) {
        /* The first bytes of an answer to a Range request. */
        if (x->status == 206) {
            if (!x->content_range || x->content_range_start != (uint64_t)x->range_from) {
                xfer_restart(x);
                return mb_fail(err, MB_E_NETWORK,
                               "%s: the server answered bytes from another offset than "
                               "requested; starting over",
                               xfer_url(x));
            }
        } else {
            /* 200: the server ignored Range; the body is the whole file. */
            int rc = reset_partial(w, err);
            if (rc)
                return rc;
        }
    }
    if (w->have + w->staged + n > w->cap)
        return mb_fail(err, MB_E_LIMIT,
                       "%s: more bytes than the %llu the index declares (endless data refused)",
                       xfer_url(x), (unsigned long long)w->cap);
    while (n) {
        size_t k = MB_MIN(n, (size_t)STAGE_SIZE - w->staged);
        memcpy(w->stage + w->staged, p, k);
        w->staged += k;
        p += k;
        n -= k;
        if (w->staged == STAGE_SIZE) {
            int rc = flush_stage(w, err);
            if (rc)
                return rc;
        }
    }
    w->st->done = w->have + w->staged;
    return 0;
}

static int dl_finish(struct xfer *x, struct mb_err *err)
{
    struct dl *w = x->ud;
    return complete(w, err);
}

static const struct xfer_ops dl_ops = { dl_start, dl_data, dl_finish };

/* ------------------------------------------------------------ progress */

struct progress_state {
    const struct mb_download_progress *user;
    struct mb_download_file_status *files;
    size_t n;
    uint64_t start_ns, last_ns;
    uint64_t win_ns[32], win_done[32]; /* samples for the rate */
    unsigned win_n, win_head;
};

static void progress_emit(struct progress_state *ps, bool final)
{
    if (!ps->user || !ps->user->fn)
        return;
    uint64_t now = mb_now_ns();
    if (!final && now - ps->last_ns < 100000000ull)
        return;
    ps->last_ns = now;
    struct mb_download_status s;
    memset(&s, 0, sizeof(s));
    s.files = ps->files;
    s.nfiles = ps->n;
    for (size_t i = 0; i < ps->n; i++) {
        s.done += ps->files[i].done;
        s.total += ps->files[i].total;
    }
    s.elapsed_ns = now - ps->start_ns;
    /* Rate over a window of recent samples (about 3 s). */
    unsigned slot = (ps->win_head + ps->win_n) % 32;
    if (ps->win_n == 32) {
        ps->win_head = (ps->win_head + 1) % 32;
        slot = (ps->win_head + 31) % 32;
    } else {
        ps->win_n++;
    }
    ps->win_ns[slot] = now;
    ps->win_done[slot] = s.done;
    unsigned oldest = ps->win_head;
    double dt = (double)(now - ps->win_ns[oldest]) / 1e9;
    s.rate = dt > 0.05 ? (double)(s.done - MB_MIN(s.done, ps->win_done[oldest])) / dt : 0;
    s.eta_s = s.rate > 0 && s.total >= s.done ? (double)(s.total - s.done) / s.rate : -1;
    s.final = final;
    ps->user->fn(ps->user->ud, &s);
}

static void tick(void *ud)
{
    progress_emit(ud, false);
}

/* ------------------------------------------------------------ setup */

static bool version_chars_ok(const char *v)
{
    if (!*v || strlen(v) > MB_SEMVER_MAX_LEN)
        return false;
    for (const char *p = v; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              *p == '.' || *p == '-' || *p == '+'))
            return false;
    return true;
}

static char *join3(const char *a, const char *b, const char *suffix)
{
    char *p = mb_path_join(a, b);
    if (!p || !suffix)
        return p;
    size_t n = strlen(p), k = strlen(suffix);
    char *q = mb_malloc(n + k + 1);
    if (q) {
        memcpy(q, p, n);
        memcpy(q + n, suffix, k + 1);
    }
    mb_free(p);
    return q;
}

/* Validate one request and set its paths. */
static int setup(struct mb_client *c, struct dl *w, struct mb_err *err)
{
    struct mb_download *d = w->d;
    char name[MB_PACK_ID_MAX + MB_SEMVER_MAX_LEN + 40];
    if (d->registry) {
        struct mb_err e;
        if (!d->id || !d->version || !d->archive)
            return mb_fail(err, MB_E_INTERNAL, "a download without id, version or archive");
        if (mb_pack_id_check(d->id, &e))
            return mb_fail(err, MB_E_FORMAT, "%s", e.msg);
        if (!version_chars_ok(d->version))
            return mb_fail(err, MB_E_FORMAT, "'%.80s' is not a valid version of '%s'", d->version,
                           d->id);
        if (mb_archive_check_name(d->archive, 1024, &e))
            return mb_fail(err, MB_E_FORMAT,
                           "registry '%s': %s %s: archive path \"%.100s\" refused (%s)",
                           d->registry, d->id, d->version, d->archive, e.msg);
        if (!mb_regmeta_sha_hex_ok(d->sha256) || d->size == 0)
            return mb_fail(err, MB_E_FORMAT, "%s %s: no sha256 and size from the index", d->id,
                           d->version);
        w->r = mb_client_reg(c, d->registry);
        if (!w->r)
            return mb_fail(err, MB_E_NOTFOUND, "no registry named '%s' is configured", d->registry);
        int rc = mb_client_check_fresh(c, w->r, err);
        if (rc)
            return rc;
        snprintf(w->label, sizeof(w->label), "%s %s", d->id, d->version);
        snprintf(name, sizeof(name), "%s-%s-%.12s.mbpack", d->id, d->version, d->sha256);
        w->expect = d->size;
        w->cap = d->size;
        w->x.bases = w->r->bases;
        w->x.nbases = w->r->nbases;
        w->x.rel = d->archive;
    } else {
        if (!d->url || (strncmp(d->url, "http://", 7) && strncmp(d->url, "https://", 8) &&
                        strncmp(d->url, "file:///", 8)))
            return mb_fail(err, MB_E_FORMAT, "'%s' is not an http(s):// or file:// URL",
                           d->url ? d->url : "(null)");
        for (const char *p = d->url; *p; p++)
            if ((unsigned char)*p <= 0x20 || *p == 0x7f)
                return mb_fail(err, MB_E_FORMAT, "URL '%.200s': spaces or control characters",
                               d->url);
        if (d->sha256[0] && !mb_regmeta_sha_hex_ok(d->sha256))
            return mb_fail(err, MB_E_FORMAT, "'%s': not a sha256", d->sha256);
        uint8_t uh[MB_SHA256_LEN];
        char uhex[MB_SHA256_HEX];
        mb_sha256(d->url, strlen(d->url), uh);
        mb_hex_encode(uh, MB_SHA256_LEN, uhex);
        snprintf(w->label, sizeof(w->label), "url-%.16s", uhex);
        snprintf(name, sizeof(name), "%s.mbpack", w->label);
        w->expect = d->size;
        w->cap = d->size ? d->size : d->max_size ? d->max_size : URL_MAX_SIZE;
        w->url_base[0] = d->url;
        w->x.bases = w->url_base;
        w->x.nbases = 1;
        w->x.rel = NULL;
    }
    char *packs = mb_path_join(c->cache, "packs");
    char *partial = mb_path_join(c->cache, "partial");
    int rc = 0;
    if (!packs || !partial)
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
    if (!rc)
        rc = mb_mkdir_p(packs, 0755, err);
    if (!rc)
        rc = mb_mkdir_p(partial, 0755, err);
    if (!rc) {
        w->part_path = join3(partial, name, ".part");
        if (d->registry) {
            w->final_path = mb_path_join(packs, name);
            w->sig_final = join3(packs, name, ".minisig");
            w->mark_path = join3(packs, name, ".verified");
            if (!w->final_path || !w->sig_final || !w->mark_path)
                rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        }
        if (!w->part_path)
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    mb_free(packs);
    mb_free(partial);
    w->st->label = w->label;
    w->st->total = w->expect;
    return rc;
}

/* Parse the fetched signature and find its publisher (must be allowed for the id). */
static int check_signer(struct dl *w, const char *origin, struct mb_err *err)
{
    int rc =
        mb_sign_sig_parse(w->sigtext.p ? w->sigtext.p : "", w->sigtext.n, origin, &w->sig, err);
    if (rc)
        return mb_fail(err, MB_E_SIGNATURE, "%s: %s", w->label, err ? err->msg : "bad signature");
    bool listed = false;
    w->signer = mb_registry_meta_publisher(&w->r->meta, w->sig.keyid, w->d->id, &listed);
    if (!w->signer) {
        char hex[MB_SIGN_KEYID_HEX_LEN];
        mb_sign_keyid_hex(w->sig.keyid, hex);
        return mb_fail(err, MB_E_SIGNATURE,
                       "%s: signed by key %s, which the registry's registry.json %s (the pack "
                       "is refused)",
                       origin, hex,
                       listed ? "does not allow to publish this pack id"
                              : "does not list as a publisher");
    }
    return 0;
}

/* An already verified copy in the cache: reuse it (the signature is checked again). */
static bool try_cached(struct dl *w, struct mb_err *err)
{
    if (!w->final_path || !w->sig_final)
        return false;
    char sha[MB_SHA256_HEX];
    uint8_t b2[MB_SIGN_HASH_LEN];
    if (!mark_read(w, sha, b2) || strcmp(sha, w->d->sha256))
        return false;
    mb_buf_release(&w->sigtext);
    mb_buf_init(&w->sigtext, MB_SIG_MAX_BYTES);
    if (mb_file_read_all(w->sig_final, MB_SIG_MAX_BYTES, &w->sigtext, NULL))
        return false;
    struct mb_err e;
    if (check_signer(w, w->sig_final, &e) || verify_sig(w, b2, &e)) {
        /* The cached copy's signer is no longer trusted: fail, do not refetch silently. */
        *err = e;
        w->d->rc = e.code;
        return true;
    }
    memcpy(w->d->out_sha256, sha, MB_SHA256_HEX);
    return true;
}

int mb_client_download(struct mb_client *c, struct mb_download *items, size_t n,
                       const struct mb_download_progress *progress, struct mb_err *err)
{
    struct dl *ws = mb_calloc(n ? n : 1, sizeof(*ws));
    struct mb_download_file_status *sts = mb_calloc(n ? n : 1, sizeof(*sts));
    struct memfetch *sf = mb_calloc(n ? n : 1, sizeof(*sf));
    char **sig_rels = mb_calloc(n ? n : 1, sizeof(*sig_rels));
    struct xfer **xs = mb_calloc(n ? n : 1, sizeof(*xs));
    if (!ws || !sts || !sf || !sig_rels || !xs) {
        mb_free(ws);
        mb_free(sts);
        mb_free(sf);
        mb_free(sig_rels);
        mb_free(xs);
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    struct progress_state ps = { progress, sts, n, mb_now_ns(), 0, { 0 }, { 0 }, 0, 0 };
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        struct dl *w = &ws[i];
        struct mb_download *d = &items[i];
        d->path = d->sig_path = NULL;
        d->out_sha256[0] = d->signer[0] = '\0';
        d->source = NULL;
        d->cached = d->resumed = false;
        d->fetched = 0;
        d->rc = 0;
        mb_err_init(&d->err);
        w->d = d;
        w->c = c;
        w->fd = -1;
        w->st = &sts[i];
        w->st->state = MB_DL_QUEUED;
        w->st->attempt = 1;
        mb_buf_init(&w->sigtext, MB_SIG_MAX_BYTES);
        w->x.ops = &dl_ops;
        w->x.ud = w;
        w->x.range_from = -1;
        d->rc = setup(c, w, &d->err);
        if (!d->rc && try_cached(w, &d->err)) {
            d->cached = d->rc == 0;
            w->st->done = w->st->total;
            w->st->state = d->rc ? MB_DL_FAILED : MB_DL_DONE;
            continue;
        }
        if (d->rc) {
            w->st->state = MB_DL_FAILED;
            continue;
        }
        w->active = true;
    }
    /* Publisher signatures first: small, and a refusal saves the big transfer. */
    size_t nsf = 0;
    struct http *h = NULL;
    bool need_net = false;
    for (size_t i = 0; i < n; i++)
        need_net |= ws[i].active;
    if (need_net) {
        rc = mb_client_http(c, &h, err);
        if (rc) {
            for (size_t i = 0; i < n; i++)
                if (ws[i].active) {
                    ws[i].active = false;
                    items[i].rc = rc;
                    items[i].err = *err;
                    sts[i].state = MB_DL_FAILED;
                }
            rc = 0;
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct dl *w = &ws[i];
        if (!w->active || !w->r)
            continue;
        memfetch_init(&sf[nsf], MB_SIG_MAX_BYTES, false, "signature");
        size_t len = strlen(w->d->archive) + 9;
        sig_rels[nsf] = mb_malloc(len);
        if (!sig_rels[nsf]) {
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
            break;
        }
        snprintf(sig_rels[nsf], len, "%s.minisig", w->d->archive);
        sf[nsf].x.bases = w->r->bases;
        sf[nsf].x.nbases = w->r->nbases;
        sf[nsf].x.rel = sig_rels[nsf];
        xs[nsf] = &sf[nsf].x;
        sf[nsf].x.ud = &sf[nsf];
        nsf++;
    }
    if (!rc && nsf)
        rc = http_run(h, xs, nsf, NULL, err);
    for (size_t i = 0, k = 0; !rc && i < n; i++) {
        struct dl *w = &ws[i];
        if (!w->active || !w->r)
            continue;
        struct memfetch *m = &sf[k++];
        char origin[MB_REGISTRY_URL_MAX + 300];
        snprintf(origin, sizeof(origin), "%s%s.minisig", w->r->bases[0], w->d->archive);
        if (m->x.rc) {
            w->d->rc = m->x.rc == MB_E_NOTFOUND ? MB_E_SIGNATURE : m->x.rc;
            w->d->err = m->x.err;
            if (m->x.rc == MB_E_NOTFOUND)
                mb_fail(&w->d->err, MB_E_SIGNATURE, "%s: the pack has no publisher signature (%s)",
                        w->label, m->x.err.msg);
        } else {
            mb_buf_release(&w->sigtext);
            w->sigtext = m->body;
            mb_buf_init(&m->body, MB_SIG_MAX_BYTES);
            w->d->rc = check_signer(w, origin, &w->d->err);
        }
        if (w->d->rc) {
            w->active = false;
            sts[i].state = MB_DL_FAILED;
        }
    }
    /* Partial files of earlier runs: hash what they hold. */
    size_t nx = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        struct dl *w = &ws[i];
        if (!w->active)
            continue;
        w->stage = mb_malloc(STAGE_SIZE);
        if (!w->stage) {
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
            break;
        }
        int r2 = open_partial(w, &w->d->err);
        if (r2 == MB_E_INTERRUPTED) {
            rc = mb_fail(err, r2, "interrupted");
            break;
        }
        if (!r2 && w->expect && w->have == w->expect) {
            /* Complete already (killed while verifying): verify without the network. */
            r2 = complete(w, &w->d->err);
            if (r2 && w->x.restart_now) {
                w->x.restart_now = false;
                xs[nx++] = &w->x; /* fetch it again from zero */
                continue;
            }
            w->active = false;
            w->d->resumed = true;
            sts[i].state = r2 ? MB_DL_FAILED : MB_DL_DONE;
            w->d->rc = r2;
            continue;
        }
        if (r2) {
            w->d->rc = r2;
            w->active = false;
            sts[i].state = MB_DL_FAILED;
            continue;
        }
        xs[nx++] = &w->x;
    }
    if (!rc && nx) {
        struct http_tick t = { tick, &ps };
        progress_emit(&ps, false);
        rc = http_run(h, xs, nx, &t, err);
    }
    /* Results. */
    int first = rc;
    for (size_t i = 0; i < n; i++) {
        struct dl *w = &ws[i];
        struct mb_download *d = &items[i];
        if (w->active) {
            d->rc = w->x.rc;
            if (w->x.rc)
                d->err = w->x.err;
            d->fetched = w->x.total_received;
            d->resumed = w->resumed || d->resumed;
            d->source = w->x.nbases ? w->x.bases[MB_MIN(w->x.base_i, w->x.nbases - 1)] : NULL;
            sts[i].state = d->rc ? MB_DL_FAILED : MB_DL_DONE;
        }
        if (!d->rc && w->final_path) {
            d->path = w->final_path;
            w->final_path = NULL;
            if (w->r) {
                d->sig_path = w->sig_final;
                w->sig_final = NULL;
                mb_sign_keyid_hex(w->sig.keyid, d->signer);
            }
            sts[i].done = sts[i].total;
        }
        if (d->rc && !first) {
            first = d->rc;
            if (err)
                *err = d->err;
        }
        if (w->hashing) {
            uint8_t a[MB_SHA256_LEN], b[MB_SIGN_HASH_LEN];
            hash_finish(w, a, b);
        }
        if (w->fd >= 0) {
            /* Keep a partial file for a later run after a network failure or an
               interruption; drop one whose content was refused. */
            bool keep = d->rc == MB_E_NETWORK || d->rc == MB_E_INTERRUPTED ||
                        d->rc == MB_E_NOTFOUND || d->rc == MB_E_PERM;
            struct mb_err ignore;
            if (keep && w->staged)
                write_all(w->fd, w->stage, w->staged, w->part_path, &ignore);
            close(w->fd);
            struct stat st;
            if (!d->rc || !keep || (!stat(w->part_path, &st) && st.st_size == 0))
                unlink(w->part_path);
        }
        mb_free(w->stage);
        mb_free(w->part_path);
        mb_free(w->final_path);
        mb_free(w->sig_final);
        mb_free(w->mark_path);
        mb_free(w->x.url);
        mb_buf_release(&w->sigtext);
    }
    progress_emit(&ps, true);
    for (size_t i = 0; i < nsf; i++) {
        memfetch_release(&sf[i]);
        mb_free(sig_rels[i]);
    }
    mb_free(sf);
    mb_free(sig_rels);
    mb_free(xs);
    mb_free(ws);
    mb_free(sts);
    return first;
}
