/*
 * archive_read.c - streaming verification and safe extraction of .mbpack
 * archives (mb_archive.h). One pass: libarchive pulls compressed bytes through
 * our read callback (which also hashes the whole file for the signature and
 * the registry index), MANIFEST.sha256 comes first and declares every file,
 * then each member is checked against the rules before a single byte of it is
 * used, and its content is hashed while it is copied (or only hashed, when
 * verifying). Extraction writes below a directory fd it created itself, with
 * O_EXCL|O_NOFOLLOW temp files renamed into place, and removes everything on
 * any failure.
 */
#include "archive_int.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

enum { IN_CHUNK = 1 << 20 };

/* The input side: the raw file, hashed as libarchive reads it. */
struct in_ctx {
    int fd;
    unsigned char *buf;
    uint64_t consumed;
    uint64_t file_size;
    struct whole_hash wh;
    const struct mb_progress *progress;
};

static la_ssize_t read_cb(struct archive *a, void *ud, const void **out)
{
    struct in_ctx *in = ud;
    for (;;) {
        ssize_t r = read(in->fd, in->buf, IN_CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            archive_set_error(a, errno, "read error");
            return -1;
        }
        mb_archive_whole_hash_feed(&in->wh, in->buf, (size_t)r);
        in->consumed += (uint64_t)r;
        mb_progress_report(in->progress, "verifying", in->consumed, in->file_size);
        *out = in->buf;
        return r;
    }
}

/* Hash whatever libarchive did not read (trailing bytes, or after a failure). */
static int drain(struct in_ctx *in, const char *path, struct mb_err *err)
{
    for (;;) {
        ssize_t r = read(in->fd, in->buf, IN_CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return mb_fail_errno(err, errno, "cannot read '%s'", path);
        if (r == 0)
            return 0;
        mb_archive_whole_hash_feed(&in->wh, in->buf, (size_t)r);
        in->consumed += (uint64_t)r;
    }
}

/* The walk's state. */
struct walk {
    const char *path; /* the archive, for messages */
    const struct mb_archive_limits *lim;
    struct archive *a;
    struct mb_archive_info *info;
    bool *seen; /* per manifest entry */
    int destfd; /* -1 when only verifying */
    bool fsync;
    unsigned tmp_seq;
    size_t members;
    uint64_t extracted;
};

static int entry_index(const struct mb_archive_info *info, const char *name)
{
    size_t lo = 0, hi = info->n_entries;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(info->entries[mid].path, name);
        if (c == 0)
            return (int)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Whether `dir` is a parent directory of some listed file. */
static bool is_listed_dir(const struct mb_archive_info *info, const char *dir)
{
    size_t len = strlen(dir);
    for (size_t i = 0; i < info->n_entries; i++)
        if (!strncmp(info->entries[i].path, dir, len) && info->entries[i].path[len] == '/')
            return true;
    return false;
}

static int la_fail(struct walk *w, const char *member, struct mb_err *err)
{
    const char *msg = archive_error_string(w->a);
    /* Read errors of the file itself keep their errno; all else is bad data. */
    int ae = archive_errno(w->a);
    int code = ae == EIO ? MB_E_IO : ae == ENOMEM ? MB_E_NOMEM : MB_E_FORMAT;
    if (member)
        return mb_fail(err, code, "%s: member '%s': %s (truncated or corrupt archive)", w->path,
                       member, msg ? msg : "read error");
    return mb_fail(err, code, "%s: %s (truncated or corrupt archive)", w->path,
                   msg ? msg : "read error");
}

/*
 * Open (creating as needed) the directory holding `rel` below destfd, with
 * O_NOFOLLOW on every component. Returns an fd, or -1 with err filled.
 */
static int open_parent(struct walk *w, const char *rel, const char **base, struct mb_err *err)
{
    int fd = dup(w->destfd);
    if (fd < 0) {
        mb_fail_errno(err, errno, "%s: dup", w->path);
        return -1;
    }
    char comp[256];
    const char *p = rel;
    for (;;) {
        const char *slash = strchr(p, '/');
        if (!slash)
            break;
        size_t n = (size_t)(slash - p);
        if (n >= sizeof(comp)) {
            close(fd);
            mb_fail(err, MB_E_FORMAT, "%s: member '%s': path component too long", w->path, rel);
            return -1;
        }
        memcpy(comp, p, n);
        comp[n] = '\0';
        if (mkdirat(fd, comp, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            close(fd);
            mb_fail_errno(err, e, "%s: cannot create directory for '%s'", w->path, rel);
            return -1;
        }
        int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        close(fd);
        if (next < 0) {
            mb_fail_errno(err, e, "%s: cannot open directory for '%s'", w->path, rel);
            return -1;
        }
        fd = next;
        p = slash + 1;
    }
    *base = p;
    return fd;
}

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t r = write(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return errno;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Stream one regular member's content: hash it, and write it when extracting. */
static int read_file(struct walk *w, const char *name, size_t idx, struct mb_err *err)
{
    const struct mb_archive_entry *want = &w->info->entries[idx];
    int dirfd = -1, fd = -1, rc = 0;
    const char *base = NULL;
    char tmp[64];
    if (w->destfd >= 0) {
        dirfd = open_parent(w, name, &base, err);
        if (dirfd < 0)
            return err ? err->code : MB_E_IO;
        snprintf(tmp, sizeof(tmp), ".mb-extract-%u.tmp", w->tmp_seq++);
        fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0) {
            rc = mb_fail_errno(err, errno, "%s: member '%s': cannot create a temporary file",
                               w->path, name);
            close(dirfd);
            return rc;
        }
    }
    struct mb_sha256 sha;
    mb_sha256_init(&sha);
    uint64_t got = 0;
    for (;;) {
        const void *block;
        size_t len;
        la_int64_t off;
        int r = archive_read_data_block(w->a, &block, &len, &off);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK) {
            rc = la_fail(w, name, err);
            break;
        }
        if (mb_interrupted) {
            rc = mb_fail(err, MB_E_INTERRUPTED, "interrupted");
            break;
        }
        if (off < 0 || (uint64_t)off != got) {
            rc = mb_fail(err, MB_E_FORMAT, "%s: member '%s': holes (sparse data) are not allowed",
                         w->path, name);
            break;
        }
        if (len > want->size - got) {
            rc = mb_fail(err, MB_E_LIMIT,
                         "%s: member '%s': more data than the %llu bytes MANIFEST.sha256 "
                         "declares (zip-bomb guard)",
                         w->path, name, (unsigned long long)want->size);
            break;
        }
        got += len;
        mb_sha256_update(&sha, block, len);
        if (fd >= 0) {
            int e = write_all(fd, block, len);
            if (e) {
                rc = mb_fail_errno(err, e, "%s: member '%s': cannot write", w->path, name);
                break;
            }
        }
    }
    if (!rc && got != want->size)
        rc = mb_fail(err, MB_E_FORMAT, "%s: member '%s': %llu bytes, MANIFEST.sha256 declares %llu",
                     w->path, name, (unsigned long long)got, (unsigned long long)want->size);
    if (!rc) {
        uint8_t h[MB_SHA256_LEN];
        mb_sha256_final(&sha, h);
        if (memcmp(h, want->sha256, MB_SHA256_LEN) != 0) {
            char hex[MB_SHA256_HEX], exp[MB_SHA256_HEX];
            mb_hex_encode(h, MB_SHA256_LEN, hex);
            mb_hex_encode(want->sha256, MB_SHA256_LEN, exp);
            rc = mb_fail(err, MB_E_INTEGRITY,
                         "%s: member '%s': sha256 %s does not match MANIFEST.sha256 (%s)", w->path,
                         name, hex, exp);
        }
    }
    if (fd >= 0) {
        if (!rc && w->fsync && fsync(fd) != 0)
            rc = mb_fail_errno(err, errno, "%s: member '%s': cannot fsync", w->path, name);
        if (close(fd) != 0 && !rc)
            rc = mb_fail_errno(err, errno, "%s: member '%s': cannot close", w->path, name);
        /* Never replace anything: duplicates were refused, this is a second guard. */
        if (!rc && renameat2(dirfd, tmp, dirfd, base, RENAME_NOREPLACE) != 0)
            rc =
                mb_fail_errno(err, errno, "%s: member '%s': cannot move into place", w->path, name);
        if (rc)
            unlinkat(dirfd, tmp, 0);
    }
    if (dirfd >= 0)
        close(dirfd);
    if (!rc)
        w->extracted += got;
    return rc;
}

/* Check and handle one member after the manifest. */
static int member(struct walk *w, struct archive_entry *e, struct mb_err *err)
{
    const char *raw = archive_entry_pathname(e);
    if (!raw)
        return mb_fail(err, MB_E_FORMAT, "%s: member %zu has no (or an unreadable) name", w->path,
                       w->members);
    if (++w->members > w->lim->max_members)
        return mb_fail(err, MB_E_LIMIT, "%s: more than %zu members", w->path, w->lim->max_members);
    /* Directories may carry one trailing '/'. */
    char name[4096];
    size_t len = strlen(raw);
    if (len >= sizeof(name))
        return mb_fail(err, MB_E_FORMAT,
                       "%s: member '%.64s...': name is %zu bytes, over the "
                       "limit of %zu",
                       w->path, raw, len, w->lim->max_name_len);
    memcpy(name, raw, len + 1);
    mode_t type = archive_entry_filetype(e);
    if (type == AE_IFDIR && len > 1 && name[len - 1] == '/')
        name[--len] = '\0';
    int rc = mb_archive_check_name(name, w->lim->max_name_len, err);
    if (rc)
        return mb_err_prefix(err, "%s", w->path);
    if (archive_entry_hardlink(e))
        return mb_fail(err, MB_E_FORMAT, "%s: member '%s': hard links are not allowed in a pack",
                       w->path, name);
    switch (type) {
    case AE_IFREG:
    case AE_IFDIR:
        break;
    case AE_IFLNK:
        return mb_fail(err, MB_E_FORMAT,
                       "%s: member '%s': symbolic links are not allowed in a "
                       "pack",
                       w->path, name);
    case AE_IFCHR:
    case AE_IFBLK:
        return mb_fail(err, MB_E_FORMAT,
                       "%s: member '%s': device files are not allowed in a "
                       "pack",
                       w->path, name);
    case AE_IFIFO:
        return mb_fail(err, MB_E_FORMAT, "%s: member '%s': FIFOs are not allowed in a pack",
                       w->path, name);
    case AE_IFSOCK:
        return mb_fail(err, MB_E_FORMAT, "%s: member '%s': sockets are not allowed in a pack",
                       w->path, name);
    default:
        return mb_fail(err, MB_E_FORMAT, "%s: member '%s': unsupported file type 0%o", w->path,
                       name, (unsigned)type);
    }
    if (archive_entry_perm(e) & 07000)
        return mb_fail(err, MB_E_FORMAT,
                       "%s: member '%s': setuid, setgid or sticky bits are not allowed (mode %04o)",
                       w->path, name, (unsigned)archive_entry_perm(e));
    if (archive_entry_sparse_count(e) > 0)
        return mb_fail(err, MB_E_FORMAT, "%s: member '%s': sparse files are not allowed", w->path,
                       name);
    if (!strcmp(name, MB_ARCHIVE_MANIFEST))
        return mb_fail(err, MB_E_FORMAT, "%s: member '%s' appears twice", w->path, name);
    if (type == AE_IFDIR) {
        if (!is_listed_dir(w->info, name))
            return mb_fail(err, MB_E_FORMAT,
                           "%s: member '%s/': directory not implied by MANIFEST.sha256", w->path,
                           name);
        if (archive_entry_size_is_set(e) && archive_entry_size(e) != 0)
            return mb_fail(err, MB_E_FORMAT, "%s: member '%s/': a directory with data", w->path,
                           name);
        if (w->destfd >= 0) {
            /* Create it (and its parents) now; a repeated directory is harmless. */
            char probe[4096 + 4];
            snprintf(probe, sizeof(probe), "%s/x", name);
            const char *base;
            int fd = open_parent(w, probe, &base, err);
            if (fd < 0)
                return err ? err->code : MB_E_IO;
            close(fd);
        }
        return 0;
    }
    int idx = entry_index(w->info, name);
    if (idx < 0)
        return mb_fail(err, MB_E_FORMAT, "%s: member '%s' is not listed in MANIFEST.sha256",
                       w->path, name);
    if (w->seen[idx])
        return mb_fail(err, MB_E_FORMAT, "%s: member '%s' appears twice (duplicate entry)", w->path,
                       name);
    w->seen[idx] = true;
    const struct mb_archive_entry *want = &w->info->entries[idx];
    if (!archive_entry_size_is_set(e) || archive_entry_size(e) < 0)
        return mb_fail(err, MB_E_FORMAT, "%s: member '%s': no size in its header", w->path, name);
    uint64_t size = (uint64_t)archive_entry_size(e);
    if (size != want->size)
        return mb_fail(err, size > want->size ? MB_E_LIMIT : MB_E_FORMAT,
                       "%s: member '%s' is %llu bytes but MANIFEST.sha256 declares %llu%s", w->path,
                       name, (unsigned long long)size, (unsigned long long)want->size,
                       size > want->size ? " (zip-bomb guard)" : "");
    uint64_t after;
    if (!mb_add_u64_ok(w->extracted, size, &after) || after > w->info->total_size)
        return mb_fail(err, MB_E_LIMIT,
                       "%s: member '%s': unpacked size would exceed the declared total of %llu "
                       "bytes (zip-bomb guard)",
                       w->path, name, (unsigned long long)w->info->total_size);
    return read_file(w, name, (size_t)idx, err);
}

/* The first member must be MANIFEST.sha256; read and parse it. */
static int read_manifest(struct walk *w, struct archive_entry *e, struct mb_err *err)
{
    const char *name = archive_entry_pathname(e);
    if (!name || strcmp(name, MB_ARCHIVE_MANIFEST) != 0 || archive_entry_filetype(e) != AE_IFREG)
        return mb_fail(err, MB_E_FORMAT,
                       "%s: the first member must be the file %s (got '%.64s'); not a "
                       "modularbase pack",
                       w->path, MB_ARCHIVE_MANIFEST, name ? name : "");
    if (!archive_entry_size_is_set(e) || archive_entry_size(e) < 0 ||
        (uint64_t)archive_entry_size(e) > w->lim->max_manifest)
        return mb_fail(err, MB_E_LIMIT, "%s: %s is larger than %zu bytes", w->path,
                       MB_ARCHIVE_MANIFEST, w->lim->max_manifest);
    size_t size = (size_t)archive_entry_size(e);
    struct mb_buf b;
    mb_buf_init(&b, w->lim->max_manifest + 1);
    int rc = mb_buf_reserve(&b, size + 1, err);
    while (!rc) {
        la_ssize_t r = archive_read_data(w->a, b.p + b.n, b.cap - 1 - b.n);
        if (r < 0)
            rc = la_fail(w, MB_ARCHIVE_MANIFEST, err);
        else if (r == 0)
            break;
        else
            b.n += (size_t)r;
        if (!rc && b.n > size)
            rc = mb_fail(err, MB_E_FORMAT, "%s: %s longer than its header says", w->path,
                         MB_ARCHIVE_MANIFEST);
    }
    if (!rc && b.n != size)
        rc = mb_fail(err, MB_E_FORMAT, "%s: %s is truncated", w->path, MB_ARCHIVE_MANIFEST);
    if (!rc) {
        rc = mb_archive_manifest_parse(b.p, b.n, w->lim, w->info, err);
        if (rc)
            mb_err_prefix(err, "%s", w->path);
    }
    mb_buf_release(&b);
    return rc;
}

static int walk_archive(struct walk *w, struct mb_err *err)
{
    struct archive_entry *e;
    int r = archive_read_next_header(w->a, &e);
    if (r == ARCHIVE_EOF)
        return mb_fail(err, MB_E_FORMAT, "%s: empty archive", w->path);
    if (r != ARCHIVE_OK)
        return la_fail(w, NULL, err);
    int rc = read_manifest(w, e, err);
    if (rc)
        return rc;
    w->seen = mb_calloc(w->info->n_entries ? w->info->n_entries : 1, sizeof(bool));
    if (!w->seen)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    for (;;) {
        r = archive_read_next_header(w->a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK)
            return la_fail(w, NULL, err);
        rc = member(w, e, err);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < w->info->n_entries; i++)
        if (!w->seen[i])
            return mb_fail(err, MB_E_FORMAT,
                           "%s: member '%s' is listed in MANIFEST.sha256 but missing", w->path,
                           w->info->entries[i].path);
    if (w->destfd >= 0 && w->fsync && fsync(w->destfd) != 0)
        return mb_fail_errno(err, errno, "%s: cannot fsync the destination", w->path);
    return 0;
}

/* Shared by verify and extract: destfd < 0 means verify only. */
static int run(const char *path, int destfd, const struct mb_archive_read_opts *opts,
               struct mb_archive_info *info_out, struct mb_err *err)
{
    if (info_out)
        mb_archive_info_init(info_out);
    struct mb_archive_limits lim;
    if (opts && opts->limits)
        lim = *opts->limits;
    else
        mb_archive_limits_default(&lim);
    struct mb_archive_info info;
    mb_archive_info_init(&info);
    struct in_ctx in = { .fd = -1, .progress = opts ? &opts->progress : NULL };
    in.fd = open(path, O_RDONLY | O_CLOEXEC);
    if (in.fd < 0)
        return mb_fail_errno(err, errno, "cannot open '%s'", path);
    struct stat st;
    if (fstat(in.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(in.fd);
        return mb_fail(err, MB_E_FORMAT, "'%s' is not a regular file", path);
    }
    in.file_size = (uint64_t)st.st_size;
    in.buf = mb_malloc(IN_CHUNK);
    struct archive *a = archive_read_new();
    if (!in.buf || !a) {
        mb_free(in.buf);
        if (a)
            archive_read_free(a);
        close(in.fd);
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    mb_archive_whole_hash_start(&in.wh, opts ? opts->hashes : MB_ARCHIVE_HASH_ALL);
    struct walk w = { .path = path,
                      .lim = &lim,
                      .a = a,
                      .info = &info,
                      .destfd = destfd,
                      .fsync = opts && opts->fsync };
    int rc = 0;
    /* Only tar inside zstd: nothing else is a pack. */
    if (archive_read_support_filter_zstd(a) != ARCHIVE_OK ||
        archive_read_support_format_tar(a) != ARCHIVE_OK)
        rc = mb_fail(err, MB_E_UNSUPPORTED, "libarchive lacks zstd or tar support");
    if (!rc && archive_read_open2(a, &in, NULL, read_cb, NULL, NULL) != ARCHIVE_OK)
        rc = mb_fail(err, MB_E_FORMAT, "%s: not a zstd-compressed tar archive, or truncated (%s)",
                     path, archive_error_string(a) ? archive_error_string(a) : "unrecognised data");
    if (!rc && archive_filter_code(a, 0) != ARCHIVE_FILTER_ZSTD)
        rc = mb_fail(err, MB_E_FORMAT, "%s: not zstd-compressed; not a modularbase pack", path);
    if (!rc)
        rc = walk_archive(&w, err);
    archive_read_free(a);
    /* Hash to the end of the file in every case (see mb_archive_verify). */
    struct mb_err derr;
    mb_err_init(&derr);
    int drc = drain(&in, path, &derr);
    if (!rc && drc)
        rc = mb_fail(err, drc, "%s", derr.msg);
    mb_archive_whole_hash_finish(&in.wh, info.sha256, info.blake2b);
    mb_free(in.buf);
    close(in.fd);
    mb_free(w.seen);
    if (info_out) {
        info.archive_size = in.consumed;
        *info_out = info;
    } else {
        mb_archive_info_release(&info);
    }
    return rc;
}

int mb_archive_verify(const char *path, const struct mb_archive_read_opts *opts,
                      struct mb_archive_info *info, struct mb_err *err)
{
    return run(path, -1, opts, info, err);
}

int mb_archive_extract_safe(const char *archive, const char *dest,
                            const struct mb_archive_read_opts *opts, struct mb_archive_info *info,
                            struct mb_err *err)
{
    if (info)
        mb_archive_info_init(info);
    if (mkdir(dest, 0755) != 0) {
        if (errno == EEXIST)
            return mb_fail(err, MB_E_EXISTS,
                           "cannot extract into '%s': it already exists (extraction needs a "
                           "fresh directory)",
                           dest);
        return mb_fail_errno(err, errno, "cannot create '%s'", dest);
    }
    int destfd = open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (destfd < 0) {
        int rc = mb_fail_errno(err, errno, "cannot open '%s'", dest);
        rmdir(dest);
        return rc;
    }
    int rc = run(archive, destfd, opts, info, err);
    close(destfd);
    if (rc)
        mb_rm_rf(dest, NULL); /* staging is removed on any failure */
    return rc;
}
