/*
 * store_export.c - `pack export ID... -o bundle.tar`: write an offline bundle
 * (format in store_bundle.c and docs/store.md) of installed packs and, unless
 * told otherwise, everything they need (dependencies and the base), so that
 * `pack install bundle.tar` works on a machine with no network. Each archive
 * is the original file when it is still at hand with the recorded sha256,
 * else it is rebuilt from the installed files: archives are deterministic, so
 * the rebuild has the original bytes (with the same libzstd), and building
 * re-hashes every file, so a modified installation is refused.
 */
#include "store_int.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>

struct xpack {
    const struct mb_store_pack *p;
    struct mb_manifest m;
    char archive[STORE_PATH_MAX]; /* the .mbpack to put in the bundle */
    char sig[STORE_PATH_MAX];     /* its .minisig, or "" */
    bool temp;                    /* archive is a temporary rebuild */
    char sha256[MB_SHA256_HEX];
    uint64_t size;
};

static int load_manifest(const char *home, const struct mb_store_pack *p, struct mb_manifest *m,
                         struct mb_err *err)
{
    char dir[STORE_PATH_MAX];
    if (!mb_store_pack_dir(dir, sizeof(dir), home, p->id, p->version))
        return mb_fail(err, MB_E_LIMIT, "path too long");
    char *yaml = mb_path_join(dir, "pack.yaml");
    if (!yaml)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    int rc = mb_manifest_load(yaml, m, err);
    mb_free(yaml);
    if (rc)
        return mb_err_prefix(err, "cannot export '%s' (run 'modularbase pack verify %s')", p->id,
                             p->id);
    return 0;
}

/* Add p (and, with deps, what it needs) to the selection. */
static int select_pack(const char *home, const struct mb_store_state *st,
                       const struct mb_store_pack *p, bool deps, struct xpack **sel, size_t *n,
                       struct mb_err *err)
{
    for (size_t i = 0; i < *n; i++)
        if ((*sel)[i].p == p)
            return 0;
    struct xpack *v = mb_reallocarray(*sel, *n + 1, sizeof(*v));
    if (!v)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    *sel = v;
    struct xpack *x = &v[*n];
    memset(x, 0, sizeof(*x));
    x->p = p;
    mb_manifest_init(&x->m);
    (*n)++;
    int rc = load_manifest(home, p, &x->m, err);
    if (rc || !deps)
        return rc;
    size_t ndeps = x->m.ndeps;
    for (size_t i = 0; !rc && i < ndeps; i++) {
        /* (*sel) may move while recursing: re-read the dependency each time. */
        const char *dep_id = NULL;
        for (size_t k = 0; k < *n; k++)
            if ((*sel)[k].p == p)
                dep_id = (*sel)[k].m.deps[i].id;
        const struct mb_store_pack *q = dep_id ? mb_store_state_find(st, dep_id) : NULL;
        if (!q)
            return mb_fail(err, MB_E_NOTFOUND,
                           "cannot export '%s': its dependency '%s' is not "
                           "installed",
                           p->id, dep_id ? dep_id : "?");
        rc = select_pack(home, st, q, deps, sel, n, err);
    }
    return rc;
}

/* Use the original archive if it is still there, else rebuild it from the installed files. */
static int prepare_archive(const char *home, const char *out_path, struct xpack *x,
                           struct mb_err *err)
{
    const struct mb_store_pack *p = x->p;
    if (p->origin && p->origin[0] == '/' && p->archive_sha256[0] && mb_path_exists(p->origin)) {
        uint8_t h[MB_SHA256_LEN];
        uint64_t size;
        struct mb_err e;
        if (!mb_sha256_file(p->origin, h, &size, &e)) {
            char hex[MB_SHA256_HEX];
            mb_hex_encode(h, MB_SHA256_LEN, hex);
            if (!strcmp(hex, p->archive_sha256)) {
                mb_strlcpy(x->archive, p->origin, sizeof(x->archive));
                memcpy(x->sha256, hex, MB_SHA256_HEX);
                x->size = size;
                if (mb_snprintf(x->sig, sizeof(x->sig), "%s.minisig", p->origin) &&
                    !mb_path_exists(x->sig))
                    x->sig[0] = '\0';
                return 0;
            }
        }
    }
    char dir[STORE_PATH_MAX];
    if (!mb_store_pack_dir(dir, sizeof(dir), home, p->id, p->version) ||
        !mb_snprintf(x->archive, sizeof(x->archive), "%s.%s-%s.%ld.tmp", out_path, p->id,
                     p->version, (long)getpid()))
        return mb_fail(err, MB_E_LIMIT, "path too long");
    struct mb_archive_input *in = mb_calloc(p->nfiles ? p->nfiles : 1, sizeof(*in));
    char **src = mb_calloc(p->nfiles ? p->nfiles : 1, sizeof(*src));
    int rc = in && src ? 0 : mb_fail(err, MB_E_NOMEM, "out of memory");
    for (size_t i = 0; !rc && i < p->nfiles; i++) {
        src[i] = mb_path_join(dir, p->files[i].path);
        in[i].name = p->files[i].path;
        in[i].src = src[i];
        if (!src[i])
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    struct mb_archive_info info;
    mb_archive_info_init(&info);
    struct mb_archive_build_opts bo = { { NULL, NULL }, MB_ARCHIVE_HASH_SHA256 };
    if (!rc) {
        unlink(x->archive);
        rc = mb_archive_build(x->archive, in, p->nfiles, &bo, &info, err);
        if (rc)
            mb_err_prefix(err, "cannot rebuild the archive of '%s'", p->id);
        else
            x->temp = true;
    }
    /* The build hashed every file: they must be the installed ones. */
    for (size_t i = 0; !rc && i < info.n_entries; i++) {
        char hex[MB_SHA256_HEX];
        mb_hex_encode(info.entries[i].sha256, MB_SHA256_LEN, hex);
        if (i >= p->nfiles || strcmp(info.entries[i].path, p->files[i].path) ||
            strcmp(hex, p->files[i].sha256))
            rc = mb_fail(err, MB_E_INTEGRITY,
                         "cannot export '%s': its installed file '%s' was modified (run "
                         "'modularbase pack verify %s', then reinstall it)",
                         p->id, info.entries[i].path, p->id);
    }
    if (!rc) {
        mb_hex_encode(info.sha256, MB_SHA256_LEN, x->sha256);
        x->size = info.archive_size;
    }
    mb_archive_info_release(&info);
    for (size_t i = 0; src && i < p->nfiles; i++)
        mb_free(src[i]);
    mb_free(src);
    mb_free(in);
    return rc;
}

/* ------------------------------------------------------------ writing the tar */

static int tar_fail(struct archive *a, const char *out, struct mb_err *err)
{
    int e = archive_errno(a);
    if (e > 0)
        return mb_fail_errno(err, e, "cannot write '%s' (%s)", out,
                             archive_error_string(a) ? archive_error_string(a) : "");
    return mb_fail(err, MB_E_IO, "cannot write '%s': %s", out,
                   archive_error_string(a) ? archive_error_string(a) : "libarchive error");
}

static int tar_header(struct archive *a, const char *name, uint64_t size, const char *out,
                      struct mb_err *err)
{
    struct archive_entry *e = archive_entry_new();
    if (!e)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)size);
    archive_entry_set_mtime(e, 0, 0);
    int r = archive_write_header(a, e);
    archive_entry_free(e);
    return r == ARCHIVE_OK ? 0 : tar_fail(a, out, err);
}

static int tar_bytes(struct archive *a, const char *name, const void *data, size_t n,
                     const char *out, struct mb_err *err)
{
    int rc = tar_header(a, name, n, out, err);
    if (!rc && n && archive_write_data(a, data, n) != (la_ssize_t)n)
        rc = tar_fail(a, out, err);
    return rc;
}

static int tar_file(struct archive *a, const char *name, const char *path, uint64_t size,
                    const char *out, const struct mb_progress *progress, uint64_t *done,
                    uint64_t total, struct mb_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mb_fail_errno(err, errno, "cannot open '%s'", path);
    int rc = tar_header(a, name, size, out, err);
    char *buf = rc ? NULL : mb_malloc(1 << 20);
    if (!rc && !buf)
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
    uint64_t left = size;
    while (!rc && left) {
        ssize_t r = read(fd, buf, 1 << 20);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = r < 0 ? mb_fail_errno(err, errno, "cannot read '%s'", path)
                       : mb_fail(err, MB_E_IO, "'%s' shrank while being exported", path);
            break;
        }
        size_t take = (uint64_t)r < left ? (size_t)r : (size_t)left;
        if (archive_write_data(a, buf, take) != (la_ssize_t)take)
            rc = tar_fail(a, out, err);
        left -= take;
        *done += take;
        mb_progress_report(progress, "exporting", *done, total);
        if (mb_interrupted)
            rc = mb_fail(err, MB_E_INTERRUPTED, "interrupted");
    }
    mb_free(buf);
    close(fd);
    return rc;
}

static int index_json(const struct xpack *x, struct mb_buf *out, struct mb_err *err)
{
    struct mb_index_record rec;
    mb_index_record_init(&rec);
    struct mb_index_version v;
    int rc = mb_index_version_from_manifest(&x->m, &v, err);
    if (rc)
        return rc;
    char path[STORE_PATH_MAX];
    snprintf(path, sizeof(path), "packs/%s/%s-%s.mbpack", x->p->id, x->p->id, x->p->version);
    v.archive = mb_strdup(path);
    memcpy(v.sha256, x->sha256, MB_SHA256_HEX);
    v.size = x->size;
    rec.id = mb_strdup(x->p->id);
    rec.kind = x->p->kind;
    if (!v.archive || !rec.id) {
        mb_index_version_release(&v);
        mb_index_record_release(&rec);
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    rc = mb_index_record_put(&rec, &v, err);
    if (!rc)
        rc = mb_index_emit(&rec, out, err);
    mb_index_version_release(&v);
    mb_index_record_release(&rec);
    return rc;
}

static int bundle_json(const struct xpack *sel, size_t n, const char *const *ids, size_t nids,
                       struct mb_buf *out, struct mb_err *err)
{
    char when[64];
    mb_time_format_utc(mb_unix_time(), when, sizeof(when));
    json_t *root = json_object();
    json_t *req = json_array();
    json_t *packs = json_array();
    int bad = !root || !req || !packs;
    for (size_t i = 0; !bad && i < nids; i++)
        bad |= json_array_append_new(req, json_string(ids[i]));
    for (size_t i = 0; !bad && i < n; i++) {
        char path[STORE_PATH_MAX];
        snprintf(path, sizeof(path), "packs/%s/%s-%s.mbpack", sel[i].p->id, sel[i].p->id,
                 sel[i].p->version);
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "id", sel[i].p->id, "version",
                              sel[i].p->version, "kind", mb_pack_kind_name(sel[i].p->kind),
                              "archive", path, "sha256", sel[i].sha256, "size",
                              (json_int_t)sel[i].size, "unpacked_size", (json_int_t)sel[i].p->size);
        bad |= !o || json_array_append_new(packs, o);
    }
    if (!bad) {
        bad |= json_object_set_new(root, "format", json_integer(BUNDLE_FORMAT));
        bad |=
            json_object_set_new(root, "generator", json_string("modularbase " MB_VERSION_STRING));
        bad |= json_object_set_new(root, "created", json_string(when));
        bad |= json_object_set(root, "requested", req);
        bad |= json_object_set(root, "packs", packs);
    }
    char *text = bad ? NULL : json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(req);
    json_decref(packs);
    json_decref(root);
    if (!text)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    int rc = mb_buf_append_cstr(out, text, err);
    free(text); /* jansson's allocation */
    return rc ? rc : mb_buf_append_cstr(out, "\n", err);
}

static int xpack_cmp(const void *a, const void *b)
{
    return strcmp(((const struct xpack *)a)->p->id, ((const struct xpack *)b)->p->id);
}

static int write_bundle(const char *out, const struct xpack *sel, size_t n, const char *const *ids,
                        size_t nids, const struct mb_progress *progress, uint64_t *bytes,
                        struct mb_err *err)
{
    char tmp[STORE_PATH_MAX + 32];
    if (!mb_snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", out, (long)getpid()))
        return mb_fail(err, MB_E_LIMIT, "path too long: '%s'", out);
    struct archive *a = archive_write_new();
    if (!a)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    int rc = 0;
    unlink(tmp);
    if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
        archive_write_open_filename(a, tmp) != ARCHIVE_OK)
        rc = tar_fail(a, tmp, err);
    struct mb_buf b;
    mb_buf_init(&b, 64u << 20);
    if (!rc)
        rc = bundle_json(sel, n, ids, nids, &b, err);
    if (!rc)
        rc = tar_bytes(a, BUNDLE_JSON, b.p, b.n, tmp, err);
    uint64_t total = 0, done = 0;
    for (size_t i = 0; i < n; i++)
        total += sel[i].size;
    for (size_t i = 0; !rc && i < n; i++) {
        mb_buf_reset(&b);
        char name[STORE_PATH_MAX];
        snprintf(name, sizeof(name), "index/%s.json", sel[i].p->id);
        rc = index_json(&sel[i], &b, err);
        if (!rc)
            rc = tar_bytes(a, name, b.p, b.n, tmp, err);
    }
    mb_buf_release(&b);
    for (size_t i = 0; !rc && i < n; i++) {
        char name[STORE_PATH_MAX];
        snprintf(name, sizeof(name), "packs/%s/%s-%s.mbpack", sel[i].p->id, sel[i].p->id,
                 sel[i].p->version);
        rc = tar_file(a, name, sel[i].archive, sel[i].size, tmp, progress, &done, total, err);
        struct stat st;
        if (!rc && sel[i].sig[0] && stat(sel[i].sig, &st) == 0 && st.st_size < 65536) {
            char sname[STORE_PATH_MAX + 8];
            snprintf(sname, sizeof(sname), "%s.minisig", name);
            uint64_t d2 = 0;
            rc = tar_file(a, sname, sel[i].sig, (uint64_t)st.st_size, tmp, NULL, &d2, 0, err);
        }
    }
    if (!rc && archive_write_close(a) != ARCHIVE_OK)
        rc = tar_fail(a, tmp, err);
    archive_write_free(a);
    struct stat st;
    if (!rc && stat(tmp, &st) == 0)
        *bytes = (uint64_t)st.st_size;
    /* fsync, then move into place. */
    if (!rc) {
        int fd = open(tmp, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) != 0)
            rc = mb_fail_errno(err, errno, "cannot fsync '%s'", tmp);
        if (fd >= 0)
            close(fd);
    }
    if (!rc && rename(tmp, out) != 0)
        rc = mb_fail_errno(err, errno, "cannot rename '%s' to '%s'", tmp, out);
    if (rc)
        unlink(tmp);
    return rc;
}

int mb_store_export(const char *home, const char *const *ids, size_t n, const char *out_path,
                    const struct mb_store_export_opts *opts, struct mb_store_export_result *res,
                    struct mb_err *err)
{
    memset(res, 0, sizeof(*res));
    char *h = NULL;
    int rc = 0;
    if (!home) {
        rc = mb_home_resolve(NULL, &h, err);
        if (rc)
            return rc;
        home = h;
    }
    struct mb_store_state st;
    rc = mb_store_state_load(home, &st, err);
    if (rc) {
        mb_free(h);
        return rc;
    }
    bool deps = !(opts && opts->no_deps);
    struct xpack *sel = NULL;
    size_t nsel = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        const struct mb_store_pack *p = mb_store_state_find(&st, ids[i]);
        if (!p)
            rc = mb_fail(err, MB_E_NOTFOUND, "'%s' is not installed", ids[i]);
        else
            rc = select_pack(home, &st, p, deps, &sel, &nsel, err);
    }
    /* A data or router pack needs a base: take the installed one along. */
    bool need_base = false, have_base = false;
    for (size_t i = 0; i < nsel; i++) {
        need_base |= sel[i].p->kind != MB_PACK_BASE;
        have_base |= sel[i].p->kind == MB_PACK_BASE;
    }
    for (size_t i = 0; !rc && deps && need_base && !have_base && i < st.n; i++)
        if (st.packs[i].kind == MB_PACK_BASE)
            rc = select_pack(home, &st, &st.packs[i], deps, &sel, &nsel, err);
    if (!rc)
        qsort(sel, nsel, sizeof(*sel), xpack_cmp);
    for (size_t i = 0; !rc && i < nsel; i++) {
        rc = prepare_archive(home, out_path, &sel[i], err);
        res->rebuilt += sel[i].temp;
    }
    if (!rc)
        rc = write_bundle(out_path, sel, nsel, ids, n, opts ? &opts->progress : NULL, &res->bytes,
                          err);
    if (!rc)
        res->npacks = nsel;
    for (size_t i = 0; i < nsel; i++) {
        if (sel[i].temp)
            unlink(sel[i].archive);
        mb_manifest_release(&sel[i].m);
    }
    mb_free(sel);
    mb_store_state_release(&st);
    mb_free(h);
    return rc;
}
