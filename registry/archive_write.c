/*
 * archive_write.c - the deterministic .mbpack writer. Pass 1 hashes every
 * input (sha256 and size, for MANIFEST.sha256); pass 2 streams the manifest
 * and the inputs through libarchive (POSIX ustar/pax-restricted + zstd at a
 * fixed level) into a temporary file, hashing the compressed bytes on the way
 * out (sha256 for the registry index, BLAKE2b-512 for the signature), then
 * renames it into place. Only names, sizes and contents reach the archive:
 * every header gets mtime 0, uid/gid 0, no user/group names and fixed modes,
 * so checkouts with other mtimes, owners or umasks give the same bytes.
 */
#include "archive_int.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

enum { CHUNK = 1 << 20 };

/* The output side: the temp file and the running hashes of what was written. */
struct out_ctx {
    int fd;
    const char *path;
    uint64_t written;
    struct whole_hash wh;
    int saved_errno;
};

static la_ssize_t write_cb(struct archive *a, void *ud, const void *buf, size_t n)
{
    struct out_ctx *o = ud;
    const char *p = buf;
    size_t left = n;
    while (left) {
        ssize_t w = write(o->fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            o->saved_errno = errno;
            archive_set_error(a, errno, "write failed");
            return -1;
        }
        p += w;
        left -= (size_t)w;
    }
    mb_archive_whole_hash_feed(&o->wh, buf, n);
    o->written += n;
    return (la_ssize_t)n;
}

/* One tar member to write: a directory or a file (index into the sorted inputs). */
struct member {
    const char *name;
    bool dir;
    size_t input; /* for files */
};

static int cmp_input(const void *a, const void *b)
{
    return strcmp(((const struct mb_archive_input *)a)->name,
                  ((const struct mb_archive_input *)b)->name);
}

static int cmp_member(const void *a, const void *b)
{
    return strcmp(((const struct member *)a)->name, ((const struct member *)b)->name);
}

/* Read a whole file in chunks, calling fn on each; checks the size stays `expect`. */
typedef int (*chunk_fn)(void *ud, const void *buf, size_t n, struct mb_err *err);
static int stream_file(const char *src, uint64_t expect, bool check, unsigned char *buf,
                       chunk_fn fn, void *ud, uint64_t *size_out, struct mb_err *err)
{
    int fd = open(src, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mb_fail_errno(err, errno, "cannot open '%s'", src);
    uint64_t total = 0;
    int rc = 0;
    for (;;) {
        ssize_t r = read(fd, buf, CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = mb_fail_errno(err, errno, "cannot read '%s'", src);
            break;
        }
        if (r == 0)
            break;
        if (mb_interrupted) {
            rc = mb_fail(err, MB_E_INTERRUPTED, "interrupted");
            break;
        }
        total += (uint64_t)r;
        if (check && total > expect) {
            rc = mb_fail(err, MB_E_STATE, "'%s' grew while the pack was being built", src);
            break;
        }
        rc = fn(ud, buf, (size_t)r, err);
        if (rc)
            break;
    }
    close(fd);
    if (!rc && check && total != expect)
        rc = mb_fail(err, MB_E_STATE, "'%s' shrank while the pack was being built", src);
    if (size_out)
        *size_out = total;
    return rc;
}

struct hash_ud {
    struct mb_sha256 sha;
    const struct mb_progress *progress;
    uint64_t *done;
    uint64_t total;
};

static int hash_chunk(void *ud, const void *buf, size_t n, struct mb_err *err)
{
    (void)err;
    struct hash_ud *h = ud;
    mb_sha256_update(&h->sha, buf, n);
    *h->done += n;
    mb_progress_report(h->progress, "hashing", *h->done, h->total);
    return 0;
}

struct pack_ud {
    struct archive *a;
    struct out_ctx *o;
    const struct mb_progress *progress;
    uint64_t *done;
    uint64_t total;
};

static int archive_fail(struct archive *a, struct out_ctx *o, struct mb_err *err)
{
    if (o->saved_errno)
        return mb_fail_errno(err, o->saved_errno, "cannot write '%s'", o->path);
    return mb_fail(err, MB_E_IO, "%s: %s", o->path,
                   archive_error_string(a) ? archive_error_string(a) : "archive write failed");
}

static int pack_chunk(void *ud, const void *buf, size_t n, struct mb_err *err)
{
    struct pack_ud *p = ud;
    if (archive_write_data(p->a, buf, n) != (la_ssize_t)n)
        return archive_fail(p->a, p->o, err);
    *p->done += n;
    mb_progress_report(p->progress, "packing", *p->done, p->total);
    return 0;
}

/* Write one header with the fixed metadata. */
static int write_header(struct archive *a, struct out_ctx *o, const char *name, bool dir,
                        uint64_t size, struct mb_err *err)
{
    struct archive_entry *e = archive_entry_new();
    if (!e)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(e, dir ? 0755 : 0644);
    archive_entry_set_size(e, dir ? 0 : (la_int64_t)size);
    archive_entry_set_mtime(e, 0, 0);
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    int r = archive_write_header(a, e);
    archive_entry_free(e);
    if (r != ARCHIVE_OK)
        return archive_fail(a, o, err);
    return 0;
}

/* Collect the sorted member list: every file plus every parent directory once. */
static int plan_members(const struct mb_archive_input *in, size_t n, struct member **out,
                        size_t *nout, char ***dirnames, size_t *ndirs, struct mb_err *err)
{
    size_t cap_dirs = 0;
    for (size_t i = 0; i < n; i++)
        for (const char *p = in[i].name; *p; p++)
            cap_dirs += *p == '/';
    char **dirs = mb_calloc(cap_dirs ? cap_dirs : 1, sizeof(*dirs));
    struct member *m = mb_calloc(n + cap_dirs, sizeof(*m));
    if (!dirs || !m) {
        mb_free(dirs);
        mb_free(m);
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    size_t nd = 0, nm = 0;
    for (size_t i = 0; i < n; i++) {
        m[nm].name = in[i].name;
        m[nm].dir = false;
        m[nm].input = i;
        nm++;
        for (const char *p = strchr(in[i].name, '/'); p; p = strchr(p + 1, '/')) {
            size_t len = (size_t)(p - in[i].name);
            bool seen = false;
            for (size_t k = 0; k < nd && !seen; k++)
                seen = strlen(dirs[k]) == len && !strncmp(dirs[k], in[i].name, len);
            if (seen)
                continue;
            dirs[nd] = mb_strndup(in[i].name, len);
            if (!dirs[nd]) {
                for (size_t k = 0; k < nd; k++)
                    mb_free(dirs[k]);
                mb_free(dirs);
                mb_free(m);
                return mb_fail(err, MB_E_NOMEM, "out of memory");
            }
            m[nm].name = dirs[nd];
            m[nm].dir = true;
            nm++;
            nd++;
        }
    }
    qsort(m, nm, sizeof(*m), cmp_member);
    for (size_t i = 0; i + 1 < nm; i++)
        if (!strcmp(m[i].name, m[i + 1].name)) {
            int rc = mb_fail(err, MB_E_FORMAT, "'%s' is both a file and a directory", m[i].name);
            for (size_t k = 0; k < nd; k++)
                mb_free(dirs[k]);
            mb_free(dirs);
            mb_free(m);
            return rc;
        }
    *out = m;
    *nout = nm;
    *dirnames = dirs;
    *ndirs = nd;
    return 0;
}

/*
 * zstd workers for the archive. zstd's multi-threaded mode frames its output
 * the same way for any number of workers >= 1 (and differently from its
 * single-threaded mode), so always asking for at least one worker keeps the
 * bytes identical on every machine while using the cores that are there.
 * MB_ARCHIVE_THREADS=N overrides the count (tests compare N=1 and N=4).
 */
static unsigned zstd_workers(void)
{
    const char *env = getenv("MB_ARCHIVE_THREADS");
    uint64_t n = 0;
    if (env && *env && mb_parse_u64(env, &n) && n >= 1 && n <= 64)
        return (unsigned)n;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus < 1 ? 1u : cpus > 8 ? 8u : (unsigned)cpus;
}

/* Pass 2: the archive itself. */
static int write_archive(struct out_ctx *o, const struct mb_archive_input *in,
                         const struct member *m, size_t nm, const struct mb_buf *manifest,
                         const struct mb_archive_entry *ent, const struct mb_progress *progress,
                         uint64_t total, unsigned char *buf, struct mb_err *err)
{
    struct archive *a = archive_write_new();
    if (!a)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    int rc = 0;
    char level[16], threads[16];
    snprintf(level, sizeof(level), "%d", MB_ARCHIVE_ZSTD_LEVEL);
    snprintf(threads, sizeof(threads), "%u", zstd_workers());
    if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_add_filter_zstd(a) != ARCHIVE_OK ||
        archive_write_set_filter_option(a, "zstd", "compression-level", level) != ARCHIVE_OK ||
        archive_write_set_filter_option(a, "zstd", "threads", threads) != ARCHIVE_OK ||
        archive_write_set_bytes_per_block(a, 10240) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK) {
        rc = mb_fail(err, MB_E_UNSUPPORTED, "libarchive cannot write zstd-compressed tar: %s",
                     archive_error_string(a) ? archive_error_string(a) : "unknown error");
        archive_write_free(a);
        return rc;
    }
    if (archive_write_open2(a, o, NULL, write_cb, NULL, NULL) != ARCHIVE_OK) {
        rc = archive_fail(a, o, err);
        archive_write_free(a);
        return rc;
    }
    rc = write_header(a, o, MB_ARCHIVE_MANIFEST, false, manifest->n, err);
    if (!rc && archive_write_data(a, manifest->p, manifest->n) != (la_ssize_t)manifest->n)
        rc = archive_fail(a, o, err);
    uint64_t done = 0;
    for (size_t i = 0; !rc && i < nm; i++) {
        if (m[i].dir) {
            rc = write_header(a, o, m[i].name, true, 0, err);
            continue;
        }
        const struct mb_archive_entry *e = &ent[m[i].input];
        rc = write_header(a, o, m[i].name, false, e->size, err);
        struct pack_ud ud = { a, o, progress, &done, total };
        if (!rc)
            rc = stream_file(in[m[i].input].src, e->size, true, buf, pack_chunk, &ud, NULL, err);
    }
    if (!rc && archive_write_close(a) != ARCHIVE_OK)
        rc = archive_fail(a, o, err);
    archive_write_free(a);
    return rc;
}

int mb_archive_build(const char *out_path, const struct mb_archive_input *in_unsorted, size_t n,
                     const struct mb_archive_build_opts *opts, struct mb_archive_info *info,
                     struct mb_err *err)
{
    const struct mb_progress *progress = opts ? &opts->progress : NULL;
    struct mb_archive_limits lim;
    mb_archive_limits_default(&lim);
    if (n == 0)
        return mb_fail(err, MB_E_USAGE, "%s: an archive needs at least one file", out_path);
    if (n >= lim.max_members)
        return mb_fail(err, MB_E_LIMIT, "%s: %zu files, over the limit of %zu", out_path, n,
                       lim.max_members);
    /* Sort a copy of the inputs by name; validate names; refuse duplicates. */
    struct mb_archive_input *in = mb_calloc(n, sizeof(*in));
    struct mb_archive_entry *ent = mb_calloc(n, sizeof(*ent));
    unsigned char *buf = mb_malloc(CHUNK);
    struct member *m = NULL;
    char **dirs = NULL;
    size_t nm = 0, nd = 0;
    struct mb_buf manifest;
    mb_buf_init(&manifest, lim.max_manifest);
    char tmp[4096];
    bool tmp_made = false;
    struct out_ctx o = { .fd = -1, .path = out_path };
    bool hashing = false;
    int rc = 0;
    if (!in || !ent || !buf) {
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        goto out;
    }
    memcpy(in, in_unsorted, n * sizeof(*in));
    qsort(in, n, sizeof(*in), cmp_input);
    for (size_t i = 0; !rc && i < n; i++) {
        rc = mb_archive_check_name(in[i].name, lim.max_name_len, err);
        if (!rc && !strcmp(in[i].name, MB_ARCHIVE_MANIFEST))
            rc = mb_fail(err, MB_E_FORMAT, "'%s' is reserved for the archive's own manifest",
                         MB_ARCHIVE_MANIFEST);
        if (!rc && i > 0 && !strcmp(in[i].name, in[i - 1].name))
            rc = mb_fail(err, MB_E_FORMAT, "'%s' is given twice", in[i].name);
    }
    if (rc)
        goto out;
    rc = plan_members(in, n, &m, &nm, &dirs, &nd, err);
    if (rc)
        goto out;

    /* Pass 1: sizes and hashes. */
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(in[i].src, &st) != 0) {
            rc = mb_fail_errno(err, errno, "cannot stat '%s'", in[i].src);
            goto out;
        }
        if (!S_ISREG(st.st_mode)) {
            rc = mb_fail(err, MB_E_FORMAT, "'%s' is not a regular file", in[i].src);
            goto out;
        }
        if (!mb_add_u64_ok(total, (uint64_t)st.st_size, &total)) {
            rc = mb_fail(err, MB_E_LIMIT, "inputs too large");
            goto out;
        }
    }
    uint64_t done = 0;
    for (size_t i = 0; i < n; i++) {
        struct hash_ud h = { .progress = progress, .done = &done, .total = total };
        mb_sha256_init(&h.sha);
        rc = stream_file(in[i].src, 0, false, buf, hash_chunk, &h, &ent[i].size, err);
        if (rc)
            goto out;
        mb_sha256_final(&h.sha, ent[i].sha256);
        ent[i].path = (char *)(uintptr_t)in[i].name; /* borrowed until `out` */
    }
    total = 0;
    for (size_t i = 0; i < n; i++)
        total += ent[i].size;
    rc = mb_archive_manifest_format(ent, n, &manifest, err);
    if (rc)
        goto out;

    /* Pass 2: into a temp file beside the output, then rename. */
    if (!mb_snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", out_path, (long)getpid())) {
        rc = mb_fail(err, MB_E_LIMIT, "path too long: '%s'", out_path);
        goto out;
    }
    unlink(tmp);
    o.fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (o.fd < 0) {
        rc = mb_fail_errno(err, errno, "cannot create '%s'", tmp);
        goto out;
    }
    tmp_made = true;
    mb_archive_whole_hash_start(&o.wh, opts ? opts->hashes : MB_ARCHIVE_HASH_ALL);
    hashing = true;
    rc = write_archive(&o, in, m, nm, &manifest, ent, progress, total, buf, err);
    if (!rc && fsync(o.fd) != 0)
        rc = mb_fail_errno(err, errno, "cannot fsync '%s'", tmp);
    if (close(o.fd) != 0 && !rc)
        rc = mb_fail_errno(err, errno, "cannot close '%s'", tmp);
    o.fd = -1;
    if (!rc && rename(tmp, out_path) != 0)
        rc = mb_fail_errno(err, errno, "cannot rename '%s' to '%s'", tmp, out_path);
    if (!rc)
        tmp_made = false;
    if (!rc && info) {
        mb_archive_info_init(info);
        info->entries = mb_calloc(n, sizeof(*info->entries));
        if (!info->entries) {
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            info->entries[i] = ent[i];
            info->entries[i].path = mb_strdup(in[i].name);
            info->n_entries = i + 1;
            if (!info->entries[i].path) {
                rc = mb_fail(err, MB_E_NOMEM, "out of memory");
                mb_archive_info_release(info);
                goto out;
            }
        }
        info->total_size = total;
        info->archive_size = o.written;
        mb_archive_whole_hash_finish(&o.wh, info->sha256, info->blake2b);
        hashing = false;
    }
out:
    if (hashing) {
        uint8_t s1[MB_SHA256_LEN], s2[MB_SIGN_HASH_LEN];
        mb_archive_whole_hash_finish(&o.wh, s1, s2);
    }
    if (o.fd >= 0)
        close(o.fd);
    if (tmp_made)
        unlink(tmp);
    for (size_t k = 0; k < nd; k++)
        mb_free(dirs[k]);
    mb_free(dirs);
    mb_free(m);
    mb_buf_release(&manifest);
    mb_free(buf);
    mb_free(ent);
    mb_free(in);
    return rc;
}
