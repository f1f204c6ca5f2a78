/*
 * store_bundle.c - offline bundles (docs/store.md "Bundles"): a plain tar
 * that is a small registry in one file:
 *
 *   bundle.json                            format, creation time, the requested ids,
 *                                          and every pack's id, version, archive, sha256, size
 *   index/<id>.json                        the registry index format (docs/registry.md)
 *   packs/<id>/<id>-<version>.mbpack       the archives (+ .minisig when known)
 *
 * bundle.json and the index files come first, so planning reads only the head
 * of the tar; installing then copies the chosen archives out (checking each
 * one's size and sha256 against the index) and unpacks them like local files.
 */
#include "store_int.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <unistd.h>

#define BUNDLE_MAX_JSON  (4u << 20)
#define BUNDLE_MAX_PACKS 10000

void store_bundle_release(struct store_bundle *b)
{
    if (!b)
        return;
    mb_free(b->path);
    for (size_t i = 0; i < b->nrequested; i++)
        mb_free(b->requested[i]);
    mb_free(b->requested);
    for (size_t i = 0; i < b->nrecs; i++)
        mb_index_record_release(&b->recs[i]);
    mb_free(b->recs);
    for (size_t i = 0; i < b->nsizes; i++) {
        mb_free(b->sizes[i].id);
        mb_free(b->sizes[i].version);
    }
    mb_free(b->sizes);
    memset(b, 0, sizeof(*b));
}

uint64_t store_bundle_unpacked(const struct store_bundle *b, const char *id, const char *version)
{
    for (size_t i = 0; i < b->nsizes; i++)
        if (!strcmp(b->sizes[i].id, id) && !strcmp(b->sizes[i].version, version))
            return b->sizes[i].unpacked;
    return 0;
}

bool store_is_bundle(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[512];
    ssize_t r = pread(fd, buf, sizeof(buf), 0);
    close(fd);
    return r == (ssize_t)sizeof(buf) && !memcmp(buf + 257, "ustar", 5);
}

static struct archive *open_tar(const char *path, struct mb_err *err)
{
    struct archive *a = archive_read_new();
    if (!a) {
        mb_fail(err, MB_E_NOMEM, "out of memory");
        return NULL;
    }
    if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
        archive_read_open_filename(a, path, 1 << 20) != ARCHIVE_OK) {
        mb_fail(err, MB_E_FORMAT, "%s: not a bundle (not a tar file: %s)", path,
                archive_error_string(a) ? archive_error_string(a) : "unreadable");
        archive_read_free(a);
        return NULL;
    }
    return a;
}

static int read_data(struct archive *a, const char *path, const char *member, size_t max,
                     struct mb_buf *b, struct mb_err *err)
{
    mb_buf_init(b, max + 1);
    char chunk[16384];
    for (;;) {
        la_ssize_t r = archive_read_data(a, chunk, sizeof(chunk));
        if (r < 0)
            return mb_fail(err, MB_E_FORMAT, "%s: member '%s': %s", path, member,
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
    return b->p ? 0 : mb_buf_reserve(b, 0, err);
}

/* bundle.json: the requested ids (the rest is cross-checked against index/). */
static int parse_bundle_json(const char *path, const char *text, size_t n, struct store_bundle *b,
                             size_t *npacks, struct mb_err *err)
{
    json_error_t je;
    json_t *root = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
    int rc = 0;
    json_t *fmt = root ? json_object_get(root, "format") : NULL;
    json_t *req = root ? json_object_get(root, "requested") : NULL;
    json_t *packs = root ? json_object_get(root, "packs") : NULL;
    if (!root)
        rc = mb_fail(err, MB_E_FORMAT, "%s: %s:%d:%d: invalid JSON: %s", path, BUNDLE_JSON, je.line,
                     je.column, je.text);
    else if (!json_is_integer(fmt) || json_integer_value(fmt) != BUNDLE_FORMAT)
        rc = mb_fail(err, MB_E_FORMAT, "%s: %s: format: expected %d", path, BUNDLE_JSON,
                     BUNDLE_FORMAT);
    else if (!json_is_array(req) || json_array_size(req) > BUNDLE_MAX_PACKS ||
             !json_is_array(packs) || json_array_size(packs) > BUNDLE_MAX_PACKS)
        rc = mb_fail(err, MB_E_FORMAT, "%s: %s: 'requested' and 'packs' must be arrays", path,
                     BUNDLE_JSON);
    if (!rc) {
        *npacks = json_array_size(packs);
        size_t nr = json_array_size(req);
        b->requested = mb_calloc(nr ? nr : 1, sizeof(char *));
        if (!b->requested)
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        for (size_t i = 0; !rc && i < nr; i++) {
            const char *id = json_string_value(json_array_get(req, i));
            struct mb_err e;
            if (!id || mb_pack_id_check(id, &e)) {
                rc = mb_fail(err, MB_E_FORMAT, "%s: %s: requested[%zu] is not a pack id", path,
                             BUNDLE_JSON, i);
                break;
            }
            b->requested[i] = mb_strdup(id);
            if (!b->requested[i])
                rc = mb_fail(err, MB_E_NOMEM, "out of memory");
            else
                b->nrequested = i + 1;
        }
    }
    /* Unpacked sizes are informative (the plan's disk figure): skip what is odd. */
    b->sizes = rc ? NULL : mb_calloc(*npacks ? *npacks : 1, sizeof(*b->sizes));
    if (!rc && !b->sizes)
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
    for (size_t i = 0; !rc && i < *npacks; i++) {
        json_t *e = json_array_get(packs, i);
        const char *id = json_string_value(json_object_get(e, "id"));
        const char *ver = json_string_value(json_object_get(e, "version"));
        json_t *u = json_object_get(e, "unpacked_size");
        if (!id || !ver || !json_is_integer(u) || json_integer_value(u) <= 0)
            continue;
        struct bundle_size *z = &b->sizes[b->nsizes];
        z->id = mb_strdup(id);
        z->version = mb_strdup(ver);
        z->unpacked = (uint64_t)json_integer_value(u);
        b->nsizes++;
        if (!z->id || !z->version)
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    json_decref(root);
    return rc;
}

int store_bundle_read(const char *path, struct store_bundle *b, struct mb_err *err)
{
    memset(b, 0, sizeof(*b));
    b->path = mb_strdup(path);
    if (!b->path)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    struct archive *a = open_tar(path, err);
    if (!a) {
        store_bundle_release(b);
        return err ? err->code : MB_E_FORMAT;
    }
    struct archive_entry *e;
    struct mb_buf buf;
    mb_buf_init(&buf, 0);
    size_t npacks = 0, nversions = 0;
    int rc = 0;
    int r = archive_read_next_header(a, &e);
    const char *name = r == ARCHIVE_OK ? archive_entry_pathname(e) : NULL;
    if (!name || strcmp(name, BUNDLE_JSON))
        rc = mb_fail(err, MB_E_FORMAT, "%s: not a modularbase bundle (the first member must be %s)",
                     path, BUNDLE_JSON);
    if (!rc)
        rc = read_data(a, path, BUNDLE_JSON, BUNDLE_MAX_JSON, &buf, err);
    if (!rc)
        rc = parse_bundle_json(path, buf.p, buf.n, b, &npacks, err);
    mb_buf_release(&buf);
    /* index/<id>.json members until the first archive. */
    while (!rc) {
        r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK) {
            rc = mb_fail(err, MB_E_FORMAT, "%s: %s (truncated or corrupt bundle)", path,
                         archive_error_string(a) ? archive_error_string(a) : "read error");
            break;
        }
        name = archive_entry_pathname(e);
        if (!name || !strncmp(name, "packs/", 6))
            break;
        if (archive_entry_filetype(e) == AE_IFDIR)
            continue;
        size_t len = strlen(name);
        if (strncmp(name, "index/", 6) || len < 12 || strcmp(name + len - 5, ".json") ||
            len - 11 > MB_PACK_ID_MAX) {
            rc = mb_fail(err, MB_E_FORMAT, "%s: unexpected member '%.64s'", path, name);
            break;
        }
        char id[MB_PACK_ID_MAX + 1];
        memcpy(id, name + 6, len - 11);
        id[len - 11] = '\0';
        if (b->nrecs >= BUNDLE_MAX_PACKS) {
            rc = mb_fail(err, MB_E_LIMIT, "%s: more than %d index files", path, BUNDLE_MAX_PACKS);
            break;
        }
        struct mb_index_record *v = mb_reallocarray(b->recs, b->nrecs + 1, sizeof(*v));
        if (!v) {
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
            break;
        }
        b->recs = v;
        char mname[STORE_PATH_MAX];
        snprintf(mname, sizeof(mname), "%s:%s", path, name);
        rc = read_data(a, path, name, MB_INDEX_MAX_BYTES, &buf, err);
        if (!rc)
            rc = mb_index_parse(mname, buf.p, buf.n, id, &b->recs[b->nrecs], err);
        mb_buf_release(&buf);
        if (rc)
            break;
        b->nrecs++;
        /* Each archive must sit at the canonical, safe path. */
        const struct mb_index_record *rec = &b->recs[b->nrecs - 1];
        for (size_t i = 0; !rc && i < rec->nversions; i++) {
            char want[STORE_PATH_MAX];
            snprintf(want, sizeof(want), "packs/%s/%s-%s.mbpack", rec->id, rec->id,
                     rec->versions[i].version_text);
            if (!rec->versions[i].archive || strcmp(rec->versions[i].archive, want))
                rc = mb_fail(err, MB_E_FORMAT, "%s: %s: version %s: archive must be '%s'", path,
                             name, rec->versions[i].version_text, want);
            nversions++;
        }
    }
    archive_read_free(a);
    if (!rc && nversions != npacks)
        rc = mb_fail(err, MB_E_FORMAT,
                     "%s: %s lists %zu packs but the index files describe %zu versions", path,
                     BUNDLE_JSON, npacks, nversions);
    for (size_t i = 0; !rc && i < b->nrequested; i++) {
        bool found = false;
        for (size_t j = 0; j < b->nrecs; j++)
            found |= !strcmp(b->recs[j].id, b->requested[i]);
        if (!found)
            rc = mb_fail(err, MB_E_FORMAT, "%s: requested pack '%s' is not in the bundle", path,
                         b->requested[i]);
    }
    if (!rc && b->nrecs == 0)
        rc = mb_fail(err, MB_E_FORMAT, "%s: the bundle holds no packs", path);
    if (rc)
        store_bundle_release(b);
    return rc;
}

/* Copy the current member to `dest` (a new file), checking its size and sha256. */
static int copy_member(struct archive *a, const char *bundle, const char *member, const char *dest,
                       const char *sha_hex, uint64_t size, struct mb_err *err)
{
    int fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return mb_fail_errno(err, errno, "cannot create '%s'", dest);
    struct mb_sha256 h;
    mb_sha256_init(&h);
    uint64_t got = 0;
    int rc = 0;
    for (;;) {
        const void *blk;
        size_t len;
        la_int64_t off;
        int r = archive_read_data_block(a, &blk, &len, &off);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK) {
            rc = mb_fail(err, MB_E_FORMAT, "%s: member '%s': %s", bundle, member,
                         archive_error_string(a) ? archive_error_string(a) : "read error");
            break;
        }
        if (mb_interrupted) {
            rc = mb_fail(err, MB_E_INTERRUPTED, "interrupted");
            break;
        }
        if (len > size - got || (uint64_t)off != got) {
            rc = mb_fail(err, MB_E_INTEGRITY,
                         "%s: member '%s' is not the %llu bytes its index "
                         "declares",
                         bundle, member, (unsigned long long)size);
            break;
        }
        mb_sha256_update(&h, blk, len);
        const char *p = blk;
        size_t left = len;
        while (!rc && left) {
            ssize_t w = write(fd, p, left);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                rc = mb_fail_errno(err, errno, "cannot write '%s'", dest);
            else {
                p += w;
                left -= (size_t)w;
            }
        }
        if (rc)
            break;
        got += len;
    }
    if (!rc && got != size)
        rc = mb_fail(err, MB_E_INTEGRITY, "%s: member '%s' is %llu bytes; its index declares %llu",
                     bundle, member, (unsigned long long)got, (unsigned long long)size);
    if (!rc) {
        uint8_t d[MB_SHA256_LEN];
        char hex[MB_SHA256_HEX];
        mb_sha256_final(&h, d);
        mb_hex_encode(d, MB_SHA256_LEN, hex);
        if (strcmp(hex, sha_hex))
            rc = mb_fail(err, MB_E_INTEGRITY,
                         "%s: member '%s': sha256 %s does not match its index (%s)", bundle, member,
                         hex, sha_hex);
    }
    if (!rc && fsync(fd) != 0)
        rc = mb_fail_errno(err, errno, "cannot fsync '%s'", dest);
    if (close(fd) != 0 && !rc)
        rc = mb_fail_errno(err, errno, "cannot close '%s'", dest);
    if (rc)
        unlink(dest);
    return rc;
}

int store_bundle_extract(const char *bundle, const char *const *members, const char *const *dests,
                         const char *const *sha256, const uint64_t *sizes, size_t n,
                         struct mb_err *err)
{
    if (n == 0)
        return 0;
    bool *done = mb_calloc(n, sizeof(bool));
    if (!done)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    struct archive *a = open_tar(bundle, err);
    if (!a) {
        mb_free(done);
        return err ? err->code : MB_E_FORMAT;
    }
    size_t left = n;
    int rc = 0;
    while (!rc && left) {
        struct archive_entry *e;
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK) {
            rc = mb_fail(err, MB_E_FORMAT, "%s: %s (truncated or corrupt bundle)", bundle,
                         archive_error_string(a) ? archive_error_string(a) : "read error");
            break;
        }
        const char *name = archive_entry_pathname(e);
        if (!name || archive_entry_filetype(e) != AE_IFREG)
            continue;
        for (size_t i = 0; i < n; i++) {
            if (done[i] || strcmp(name, members[i]))
                continue;
            rc = copy_member(a, bundle, members[i], dests[i], sha256[i], sizes[i], err);
            done[i] = true;
            left--;
            break;
        }
    }
    archive_read_free(a);
    for (size_t i = 0; !rc && i < n; i++)
        if (!done[i])
            rc = mb_fail(err, MB_E_FORMAT, "%s: member '%s' is missing", bundle, members[i]);
    mb_free(done);
    return rc;
}
