/*
 * store_archive.c - reading the head of a .mbpack for planning: the
 * MANIFEST.sha256 (always the first member) and pack.yaml (checked against
 * its declared sha256), without unpacking the weights when pack.yaml comes
 * before them, which is the usual order ("pack.yaml" < "weights/"). The full
 * checks happen later, while unpacking (mb_archive_extract_safe).
 */
#include "store_int.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <sys/stat.h>

void store_head_release(struct store_head *h)
{
    mb_archive_info_release(&h->info);
    mb_manifest_release(&h->manifest);
    memset(h, 0, sizeof(*h));
}

/* Read the current member's data (at most `max` bytes) into b. */
static int read_member(struct archive *a, const char *path, const char *member, size_t max,
                       struct mb_buf *b, struct mb_err *err)
{
    mb_buf_init(b, max + 1);
    char chunk[16384];
    for (;;) {
        la_ssize_t r = archive_read_data(a, chunk, sizeof(chunk));
        if (r < 0)
            return mb_fail(err, MB_E_FORMAT, "%s: member '%s': %s (truncated or corrupt archive)",
                           path, member,
                           archive_error_string(a) ? archive_error_string(a) : "read error");
        if (r == 0)
            break;
        if (b->n + (size_t)r > max)
            return mb_fail(err, MB_E_LIMIT, "%s: member '%s' is larger than %zu bytes", path,
                           member, max);
        int rc = mb_buf_append(b, chunk, (size_t)r, err);
        if (rc)
            return rc;
    }
    if (!b->p)
        return mb_buf_reserve(b, 0, err);
    return 0;
}

int store_head_read(const char *path, struct store_head *h, struct mb_err *err)
{
    memset(h, 0, sizeof(*h));
    mb_archive_info_init(&h->info);
    mb_manifest_init(&h->manifest);
    struct stat st;
    if (stat(path, &st) != 0)
        return mb_fail_errno(err, errno, "cannot open '%s'", path);
    if (!S_ISREG(st.st_mode))
        return mb_fail(err, MB_E_FORMAT, "'%s' is not a regular file", path);
    h->archive_size = (uint64_t)st.st_size;
    struct archive *a = archive_read_new();
    if (!a)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    struct mb_archive_limits lim;
    mb_archive_limits_default(&lim);
    int rc = 0;
    if (archive_read_support_filter_zstd(a) != ARCHIVE_OK ||
        archive_read_support_format_tar(a) != ARCHIVE_OK)
        rc = mb_fail(err, MB_E_UNSUPPORTED, "libarchive lacks zstd or tar support");
    if (!rc && archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK)
        rc = mb_fail(err, MB_E_FORMAT, "%s: not a modularbase pack (not a zstd-compressed tar: %s)",
                     path, archive_error_string(a) ? archive_error_string(a) : "unreadable");
    if (!rc && archive_filter_code(a, 0) != ARCHIVE_FILTER_ZSTD)
        rc = mb_fail(err, MB_E_FORMAT, "%s: not zstd-compressed; not a modularbase pack", path);
    struct archive_entry *e;
    struct mb_buf b;
    mb_buf_init(&b, 0);
    if (!rc) {
        int r = archive_read_next_header(a, &e);
        const char *name = r == ARCHIVE_OK ? archive_entry_pathname(e) : NULL;
        if (r != ARCHIVE_OK)
            rc = mb_fail(err, MB_E_FORMAT, "%s: not a modularbase pack (%s)", path,
                         archive_error_string(a) ? archive_error_string(a) : "empty archive");
        else if (!name || strcmp(name, MB_ARCHIVE_MANIFEST))
            rc = mb_fail(err, MB_E_FORMAT,
                         "%s: the first member must be %s (got '%.64s'); not a modularbase pack",
                         path, MB_ARCHIVE_MANIFEST, name ? name : "");
    }
    if (!rc)
        rc = read_member(a, path, MB_ARCHIVE_MANIFEST, lim.max_manifest, &b, err);
    if (!rc) {
        rc = mb_archive_manifest_parse(b.p, b.n, &lim, &h->info, err);
        if (rc)
            mb_err_prefix(err, "%s", path);
    }
    mb_buf_release(&b);
    /* Find pack.yaml's declared hash, then the member itself. */
    const struct mb_archive_entry *want = NULL;
    for (size_t i = 0; !rc && i < h->info.n_entries; i++)
        if (!strcmp(h->info.entries[i].path, "pack.yaml"))
            want = &h->info.entries[i];
    if (!rc && !want)
        rc = mb_fail(err, MB_E_FORMAT, "%s: MANIFEST.sha256 lists no pack.yaml; not a pack", path);
    bool found = false;
    while (!rc && !found) {
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK) {
            rc = mb_fail(err, MB_E_FORMAT, "%s: %s (truncated or corrupt archive)", path,
                         archive_error_string(a) ? archive_error_string(a) : "read error");
            break;
        }
        const char *name = archive_entry_pathname(e);
        if (!name || strcmp(name, "pack.yaml") || archive_entry_filetype(e) != AE_IFREG)
            continue;
        found = true;
        rc = read_member(a, path, "pack.yaml", MB_MANIFEST_MAX_BYTES, &b, err);
        if (!rc) {
            uint8_t hash[MB_SHA256_LEN];
            mb_sha256(b.p, b.n, hash);
            if (b.n != want->size || memcmp(hash, want->sha256, MB_SHA256_LEN))
                rc = mb_fail(err, MB_E_INTEGRITY,
                             "%s: member 'pack.yaml' does not match its MANIFEST.sha256 entry",
                             path);
        }
        if (!rc) {
            char name_buf[STORE_PATH_MAX];
            snprintf(name_buf, sizeof(name_buf), "%s:pack.yaml", path);
            rc = mb_manifest_parse(name_buf, b.p, b.n, &h->manifest, err);
        }
        mb_buf_release(&b);
    }
    if (!rc && !found)
        rc = mb_fail(err, MB_E_FORMAT, "%s: member 'pack.yaml' is listed but missing", path);
    archive_read_free(a);
    if (rc)
        store_head_release(h);
    return rc;
}
