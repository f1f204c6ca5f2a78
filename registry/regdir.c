/*
 * regdir.c - what a registry maintainer runs on the registry's directory
 * (docs/registry.md "Maintaining a registry"): `registry init` writes
 * registry.json and a first signed snapshot; `registry refresh` re-derives
 * every index/<id>.json from the archives under packs/ and their publisher
 * signatures, keeps yanked flags, and signs a new snapshot (version + 1, new
 * expiry); `registry yank` flips a flag and refreshes. Index files are emitted
 * canonically, so a refresh over the same inputs writes the same bytes.
 * Archives unchanged since the last refresh (size, mtime, signature) are not
 * re-read: their hashes come from DIR/.refresh-cache.json.
 */
#include "client_int.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>

#define REFRESH_CACHE ".refresh-cache.json"

/* ------------------------------------------------------------ pack.yaml from an archive */

int mb_regdir_read_manifest(const char *archive, struct mb_manifest *out, struct mb_err *err)
{
    mb_manifest_init(out);
    struct archive *a = archive_read_new();
    if (!a)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    archive_read_support_filter_zstd(a);
    archive_read_support_format_tar(a);
    int rc = 0;
    if (archive_read_open_filename(a, archive, 65536) != ARCHIVE_OK) {
        rc = mb_fail(err, MB_E_FORMAT, "%s: %s", archive, archive_error_string(a));
        goto out;
    }
    struct archive_entry *e;
    for (unsigned count = 0;; count++) {
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF) {
            rc = mb_fail(err, MB_E_FORMAT, "%s: no pack.yaml in the archive", archive);
            break;
        }
        if (r != ARCHIVE_OK) {
            rc = mb_fail(err, MB_E_FORMAT, "%s: %s", archive, archive_error_string(a));
            break;
        }
        if (count > 10000) {
            rc = mb_fail(err, MB_E_LIMIT, "%s: too many members before pack.yaml", archive);
            break;
        }
        const char *name = archive_entry_pathname(e);
        if (!name || strcmp(name, "pack.yaml"))
            continue;
        int64_t size = archive_entry_size(e);
        if (size < 0 || size > (int64_t)MB_MANIFEST_MAX_BYTES) {
            rc = mb_fail(err, MB_E_LIMIT, "%s: pack.yaml is larger than %u bytes", archive,
                         MB_MANIFEST_MAX_BYTES);
            break;
        }
        char *buf = mb_malloc((size_t)size + 1);
        if (!buf) {
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
            break;
        }
        la_ssize_t got = archive_read_data(a, buf, (size_t)size);
        if (got != (la_ssize_t)size) {
            mb_free(buf);
            rc = mb_fail(err, MB_E_FORMAT, "%s: pack.yaml is truncated", archive);
            break;
        }
        char origin[1100];
        snprintf(origin, sizeof(origin), "%.1000s:pack.yaml", archive);
        rc = mb_manifest_parse(origin, buf, (size_t)size, out, err);
        mb_free(buf);
        break;
    }
out:
    archive_read_free(a);
    return rc;
}

/* ------------------------------------------------------------ signing */

int mb_regdir_sign_snapshot(const void *data, size_t n, const struct mb_seckey *const *keys,
                            size_t nkeys, struct mb_buf *sigs, struct mb_err *err)
{
    for (size_t k = 0; k < nkeys; k++) {
        struct mb_sig sig;
        int rc = mb_sign_buffer(keys[k], data, n, "snapshot.json", NULL, &sig, err);
        if (!rc)
            rc = mb_sign_sig_format(&sig, &sigs[k], err);
        if (rc)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------ small file helpers */

static int read_in(const char *dir, const char *name, size_t max, struct mb_buf *b,
                   struct mb_err *err)
{
    char *p = mb_path_join(dir, name);
    if (!p)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    int rc = mb_file_read_all(p, max, b, err);
    mb_free(p);
    return rc;
}

static int write_in(const char *dir, const char *name, const void *data, size_t n,
                    struct mb_err *err)
{
    char *p = mb_path_join(dir, name);
    if (!p)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    int rc = mb_file_write_atomic(p, data ? data : "", n, 0644, err);
    mb_free(p);
    return rc;
}

static void sha_hex(const void *p, size_t n, char out[MB_SHA256_HEX])
{
    uint8_t h[MB_SHA256_LEN];
    mb_sha256(p, n, h);
    mb_hex_encode(h, MB_SHA256_LEN, out);
}

/* ------------------------------------------------------------ refresh cache */

struct rcache_entry {
    char *path;
    uint64_t size;
    int64_t mtime_ns;
    char sig_sha[MB_SHA256_HEX];
    char sha[MB_SHA256_HEX];
    char b2[2 * MB_SIGN_HASH_LEN + 1];
};

struct rcache {
    struct rcache_entry *v;
    size_t n, cap;
};

static void rcache_release(struct rcache *c)
{
    for (size_t i = 0; i < c->n; i++)
        mb_free(c->v[i].path);
    mb_free(c->v);
    memset(c, 0, sizeof(*c));
}

static int rcache_put(struct rcache *c, const struct rcache_entry *e, struct mb_err *err)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        struct rcache_entry *v = mb_reallocarray(c->v, cap, sizeof(*v));
        if (!v)
            return mb_fail(err, MB_E_NOMEM, "out of memory");
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n] = *e;
    if (!(c->v[c->n].path = mb_strdup(e->path)))
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    c->n++;
    return 0;
}

static const struct rcache_entry *rcache_find(const struct rcache *c, const char *path)
{
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->v[i].path, path))
            return &c->v[i];
    return NULL;
}

/* The cache is advisory: anything malformed is ignored (the archives are re-read). */
static void rcache_load(const char *dir, struct rcache *c)
{
    struct mb_buf b;
    mb_buf_init(&b, 64u << 20);
    if (read_in(dir, REFRESH_CACHE, 64u << 20, &b, NULL)) {
        mb_buf_release(&b);
        return;
    }
    json_t *root = json_loadb(b.p, b.n, JSON_REJECT_DUPLICATES, NULL);
    mb_buf_release(&b);
    json_t *files = root ? json_object_get(root, "files") : NULL;
    const char *k;
    json_t *v;
    if (files && json_is_object(files)) {
        json_object_foreach(files, k, v)
        {
            struct rcache_entry e;
            memset(&e, 0, sizeof(e));
            json_t *sz = json_object_get(v, "size"), *mt = json_object_get(v, "mtime_ns");
            const char *sig = json_string_value(json_object_get(v, "sig_sha256"));
            const char *sha = json_string_value(json_object_get(v, "sha256"));
            const char *b2 = json_string_value(json_object_get(v, "blake2b"));
            if (!json_is_integer(sz) || !json_is_integer(mt) || !sig || !sha || !b2 ||
                !mb_regmeta_sha_hex_ok(sig) || !mb_regmeta_sha_hex_ok(sha) ||
                strlen(b2) != 2 * MB_SIGN_HASH_LEN)
                continue;
            e.path = (char *)(uintptr_t)k;
            e.size = (uint64_t)json_integer_value(sz);
            e.mtime_ns = (int64_t)json_integer_value(mt);
            memcpy(e.sig_sha, sig, MB_SHA256_HEX);
            memcpy(e.sha, sha, MB_SHA256_HEX);
            memcpy(e.b2, b2, sizeof(e.b2));
            if (rcache_put(c, &e, NULL))
                break;
        }
    }
    json_decref(root);
}

static int rcache_save(const char *dir, const struct rcache *c, struct mb_err *err)
{
    struct mb_buf b;
    mb_buf_init(&b, 64u << 20);
    int rc = mb_buf_append_cstr(&b,
                                "{\n  \"comment\": \"modularbase registry refresh cache: hashes of "
                                "archives already indexed; safe to delete\",\n  \"files\": {",
                                err);
    for (size_t i = 0; !rc && i < c->n; i++) {
        const struct rcache_entry *e = &c->v[i];
        rc = mb_buf_append_cstr(&b, i ? ",\n    " : "\n    ", err);
        if (!rc)
            rc = mb_regmeta_json_str(&b, e->path, err);
        if (!rc)
            rc = mb_buf_appendf(&b, err,
                                ": {\"size\": %llu, \"mtime_ns\": %lld, \"sig_sha256\": \"%s\", "
                                "\"sha256\": \"%s\", \"blake2b\": \"%s\"}",
                                (unsigned long long)e->size, (long long)e->mtime_ns, e->sig_sha,
                                e->sha, e->b2);
    }
    if (!rc)
        rc = mb_buf_append_cstr(&b, c->n ? "\n  }\n}\n" : "}\n}\n", err);
    if (!rc)
        rc = write_in(dir, REFRESH_CACHE, b.p, b.n, err);
    mb_buf_release(&b);
    return rc;
}

/* ------------------------------------------------------------ the scan */

struct found {
    char *id;
    char *version; /* from the file name */
    char *rel;     /* packs/<id>/<file> */
};

struct scan {
    struct found *v;
    size_t n, cap;
};

static void scan_release(struct scan *s)
{
    for (size_t i = 0; i < s->n; i++) {
        mb_free(s->v[i].id);
        mb_free(s->v[i].version);
        mb_free(s->v[i].rel);
    }
    mb_free(s->v);
    memset(s, 0, sizeof(*s));
}

static int cmp_found(const void *a, const void *b)
{
    return strcmp(((const struct found *)a)->rel, ((const struct found *)b)->rel);
}

static int note(struct mb_regdir_refresh_report *rep, const char *path, const char *why,
                struct mb_err *err)
{
    struct mb_regdir_note *v =
        mb_reallocarray(rep->skipped, rep->nskipped + 1, sizeof(*rep->skipped));
    if (!v)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    rep->skipped = v;
    v[rep->nskipped].path = mb_strdup(path);
    v[rep->nskipped].why = mb_strdup(why);
    if (!v[rep->nskipped].path || !v[rep->nskipped].why) {
        mb_free(v[rep->nskipped].path);
        mb_free(v[rep->nskipped].why);
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    rep->nskipped++;
    return 0;
}

/* packs/<id>/<id>-<version>.mbpack, sorted by path. Other files are noted and ignored. */
static int scan_packs(const char *dir, struct scan *s, struct mb_regdir_refresh_report *rep,
                      struct mb_err *err)
{
    char *packs = mb_path_join(dir, "packs");
    if (!packs)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    DIR *d = opendir(packs);
    if (!d) {
        int e = errno;
        mb_free(packs);
        if (e == ENOENT)
            return 0;
        return mb_fail_errno(err, e, "cannot read '%s/packs'", dir);
    }
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char rel[600];
        snprintf(rel, sizeof(rel), "packs/%.255s", de->d_name);
        if (mb_pack_id_check(de->d_name, NULL)) {
            rc = note(rep, rel, "not a pack id directory", err);
            continue;
        }
        char *sub = mb_path_join(packs, de->d_name);
        DIR *sd = sub ? opendir(sub) : NULL;
        if (!sd) {
            mb_free(sub);
            continue;
        }
        size_t idlen = strlen(de->d_name);
        struct dirent *fe;
        while (!rc && (fe = readdir(sd))) {
            const char *f = fe->d_name;
            size_t len = strlen(f);
            if (f[0] == '.' || (len > 8 && !strcmp(f + len - 8, ".minisig")))
                continue;
            snprintf(rel, sizeof(rel), "packs/%s/%.255s", de->d_name, f);
            if (len < 8 || strcmp(f + len - 7, ".mbpack")) {
                rc = note(rep, rel, "not an .mbpack archive", err);
                continue;
            }
            if (len <= idlen + 8 || strncmp(f, de->d_name, idlen) || f[idlen] != '-') {
                rc = note(rep, rel, "the file name is not <id>-<version>.mbpack", err);
                continue;
            }
            char *ver = mb_strndup(f + idlen + 1, len - idlen - 8);
            struct mb_semver sv;
            struct mb_err e;
            if (!ver) {
                rc = mb_fail(err, MB_E_NOMEM, "out of memory");
                break;
            }
            if (mb_semver_parse_cstr(ver, &sv, &e)) {
                mb_free(ver);
                rc = note(rep, rel, "the file name has no valid version", err);
                continue;
            }
            if (s->n == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 64;
                struct found *v = mb_reallocarray(s->v, cap, sizeof(*v));
                if (!v) {
                    mb_free(ver);
                    rc = mb_fail(err, MB_E_NOMEM, "out of memory");
                    break;
                }
                s->v = v;
                s->cap = cap;
            }
            struct found *fo = &s->v[s->n];
            fo->id = mb_strdup(de->d_name);
            fo->version = ver;
            fo->rel = mb_strdup(rel);
            s->n++;
            if (!fo->id || !fo->rel)
                rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        }
        closedir(sd);
        mb_free(sub);
    }
    closedir(d);
    mb_free(packs);
    if (!rc)
        qsort(s->v, s->n, sizeof(*s->v), cmp_found);
    return rc;
}

/* ------------------------------------------------------------ records being built */

struct build {
    struct mb_index_record *recs; /* by id */
    size_t n, cap;
};

static void build_release(struct build *b)
{
    for (size_t i = 0; i < b->n; i++)
        mb_index_record_release(&b->recs[i]);
    mb_free(b->recs);
    memset(b, 0, sizeof(*b));
}

static struct mb_index_record *build_get(struct build *b, const char *id, enum mb_pack_kind kind,
                                         struct mb_err *err)
{
    for (size_t i = 0; i < b->n; i++)
        if (!strcmp(b->recs[i].id, id))
            return &b->recs[i];
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        struct mb_index_record *v = mb_reallocarray(b->recs, cap, sizeof(*v));
        if (!v) {
            mb_fail(err, MB_E_NOMEM, "out of memory");
            return NULL;
        }
        b->recs = v;
        b->cap = cap;
    }
    struct mb_index_record *r = &b->recs[b->n];
    mb_index_record_init(r);
    r->id = mb_strdup(id);
    r->kind = kind;
    if (!r->id) {
        mb_fail(err, MB_E_NOMEM, "out of memory");
        return NULL;
    }
    b->n++;
    return r;
}

static int cmp_rec(const void *a, const void *b)
{
    return strcmp(((const struct mb_index_record *)a)->id, ((const struct mb_index_record *)b)->id);
}

/* The previous index/<id>.json (NULL when absent or unreadable). */
static struct mb_index_record *prev_load(const char *dir, const char *id)
{
    char name[MB_PACK_ID_MAX + 16];
    snprintf(name, sizeof(name), "index/%s.json", id);
    char *p = mb_path_join(dir, name);
    struct mb_index_record *r = mb_calloc(1, sizeof(*r));
    if (!p || !r || !mb_path_exists(p) || mb_index_load(p, id, r, NULL)) {
        mb_free(p);
        mb_free(r);
        return NULL;
    }
    mb_free(p);
    return r;
}

static const struct mb_index_version *rec_find(const struct mb_index_record *r,
                                               const struct mb_semver *v)
{
    for (size_t i = 0; r && i < r->nversions; i++)
        if (!mb_semver_cmp(&r->versions[i].version, v))
            return &r->versions[i];
    return NULL;
}

/* A deep copy of an index version (re-derived from its emitted JSON: simple and exact). */
static int version_copy(const char *id, enum mb_pack_kind kind, const struct mb_index_version *src,
                        struct mb_index_version *dst, struct mb_err *err)
{
    struct mb_index_record tmp;
    mb_index_record_init(&tmp);
    tmp.id = (char *)(uintptr_t)id;
    tmp.kind = kind;
    tmp.versions = (struct mb_index_version *)(uintptr_t)src;
    tmp.nversions = 1;
    struct mb_buf b;
    mb_buf_init(&b, MB_INDEX_MAX_BYTES);
    int rc = mb_index_emit(&tmp, &b, err);
    struct mb_index_record parsed;
    mb_index_record_init(&parsed);
    if (!rc)
        rc = mb_index_parse("index", b.p, b.n, id, &parsed, err);
    mb_buf_release(&b);
    if (!rc) {
        *dst = parsed.versions[0];
        memset(&parsed.versions[0], 0, sizeof(parsed.versions[0]));
    }
    mb_index_record_release(&parsed);
    return rc;
}

/* "timestamp:<unix seconds>" in a minisign trusted comment -> RFC 3339, or NULL. */
static char *published_from(const struct mb_sig *sig)
{
    const char *t = strstr(sig->trusted_comment, "timestamp:");
    if (!t)
        return NULL;
    char num[24];
    size_t k = 0;
    for (t += 10; *t >= '0' && *t <= '9' && k < sizeof(num) - 1; t++)
        num[k++] = *t;
    num[k] = '\0';
    int64_t v;
    char buf[32];
    if (!k || !mb_parse_i64(num, &v) || !mb_time_format_utc(v, buf, sizeof(buf)))
        return NULL;
    return mb_strdup(buf);
}

struct refresh_ctx {
    const char *dir;
    const struct mb_registry_meta *meta;
    const struct mb_regdir_refresh_opts *o;
    struct mb_regdir_refresh_report *rep;
    struct rcache old, fresh;
    struct build b;
    struct mb_index_record **prev; /* cache of previous records, parallel to prev_ids */
    char **prev_ids;
    size_t nprev;
};

static struct mb_index_record *prev_get(struct refresh_ctx *c, const char *id)
{
    for (size_t i = 0; i < c->nprev; i++)
        if (!strcmp(c->prev_ids[i], id))
            return c->prev[i];
    struct mb_index_record *r = prev_load(c->dir, id);
    struct mb_index_record **v = mb_reallocarray(c->prev, c->nprev + 1, sizeof(*v));
    char **ids = v ? mb_reallocarray(c->prev_ids, c->nprev + 1, sizeof(*ids)) : NULL;
    if (v)
        c->prev = v;
    if (ids)
        c->prev_ids = ids;
    char *dup = ids ? mb_strdup(id) : NULL;
    if (!dup) {
        if (r) {
            mb_index_record_release(r);
            mb_free(r);
        }
        return NULL;
    }
    c->prev[c->nprev] = r;
    c->prev_ids[c->nprev] = dup;
    c->nprev++;
    return r;
}

/* Index one archive (or reuse what the last refresh learned); a refusal becomes a note. */
static int index_one(struct refresh_ctx *c, const struct found *f)
{
    struct mb_err *err = NULL;
    char *path = mb_path_join(c->dir, f->rel);
    size_t rl = strlen(f->rel);
    char *sig_rel = mb_malloc(rl + 9);
    if (!path || !sig_rel) {
        mb_free(path);
        mb_free(sig_rel);
        return MB_E_NOMEM;
    }
    snprintf(sig_rel, rl + 9, "%s.minisig", f->rel);
    char *sig_path = mb_path_join(c->dir, sig_rel);
    struct mb_buf sigb;
    mb_buf_init(&sigb, MB_SIG_MAX_BYTES);
    struct mb_manifest m;
    mb_manifest_init(&m);
    struct mb_archive_info info;
    mb_archive_info_init(&info);
    struct mb_index_version v;
    memset(&v, 0, sizeof(v));
    char why[MB_ERR_MSG_MAX + 64];
    why[0] = '\0';
    int rc = 0;
    struct stat st;
    struct mb_sig sig;
    struct mb_err e;
    mb_err_init(&e);
    if (!sig_path) {
        rc = MB_E_NOMEM;
        goto out;
    }
    if (stat(path, &st) || !S_ISREG(st.st_mode)) {
        snprintf(why, sizeof(why), "not a regular file");
        goto out;
    }
    if (!mb_path_exists(sig_path) || mb_file_read_all(sig_path, MB_SIG_MAX_BYTES, &sigb, &e)) {
        snprintf(why, sizeof(why), "no publisher signature (%s.minisig)", mb_path_basename(path));
        goto out;
    }
    if (mb_sign_sig_parse(sigb.p, sigb.n, sig_rel, &sig, &e)) {
        snprintf(why, sizeof(why), "%s", e.msg);
        goto out;
    }
    bool listed = false;
    const struct mb_publisher *pub = mb_registry_meta_publisher(c->meta, sig.keyid, f->id, &listed);
    if (!pub) {
        char hex[MB_SIGN_KEYID_HEX_LEN];
        mb_sign_keyid_hex(sig.keyid, hex);
        snprintf(why, sizeof(why), "signed by key %s, which registry.json %s", hex,
                 listed ? "does not allow to publish this pack id"
                        : "does not list as a publisher");
        goto out;
    }
    struct rcache_entry ce;
    memset(&ce, 0, sizeof(ce));
    ce.path = f->rel;
    ce.size = (uint64_t)st.st_size;
    ce.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    sha_hex(sigb.p, sigb.n, ce.sig_sha);
    uint8_t b2[MB_SIGN_HASH_LEN];
    struct mb_semver fv;
    mb_semver_parse_cstr(f->version, &fv, NULL);
    struct mb_index_record *prev = prev_get(c, f->id);
    const struct mb_index_version *pv = rec_find(prev, &fv);
    const struct rcache_entry *old = c->o->verify_all ? NULL : rcache_find(&c->old, f->rel);
    bool reuse = old && pv && old->size == ce.size && old->mtime_ns == ce.mtime_ns &&
                 !strcmp(old->sig_sha, ce.sig_sha) && !strcmp(old->sha, pv->sha256) &&
                 pv->size == ce.size && pv->archive && !strcmp(pv->archive, f->rel) &&
                 mb_hex_decode(old->b2, b2, sizeof(b2));
    enum mb_pack_kind kind = prev ? prev->kind : MB_PACK_DATA;
    if (reuse) {
        memcpy(ce.sha, old->sha, MB_SHA256_HEX);
        memcpy(ce.b2, old->b2, sizeof(ce.b2));
        if ((rc = version_copy(f->id, kind, pv, &v, err)))
            goto out;
        c->rep->reused++;
    } else {
        struct mb_archive_read_opts ro = { NULL, { NULL, NULL }, false, MB_ARCHIVE_HASH_ALL };
        if (mb_archive_verify(path, &ro, &info, &e)) {
            snprintf(why, sizeof(why), "%s", e.msg);
            goto out;
        }
        memcpy(b2, info.blake2b, sizeof(b2));
        mb_hex_encode(info.sha256, MB_SHA256_LEN, ce.sha);
        mb_hex_encode(info.blake2b, MB_SIGN_HASH_LEN, ce.b2);
        if (mb_regdir_read_manifest(path, &m, &e)) {
            snprintf(why, sizeof(why), "%s", e.msg);
            goto out;
        }
        if (strcmp(m.id, f->id) || mb_semver_cmp(&m.version, &fv) ||
            strcmp(m.version_text, f->version)) {
            snprintf(why, sizeof(why), "its pack.yaml says %s %s, not %s %s", m.id, m.version_text,
                     f->id, f->version);
            goto out;
        }
        kind = m.kind;
        if ((rc = mb_index_version_from_manifest(&m, &v, err)))
            goto out;
        v.archive = mb_strdup(f->rel);
        v.published = published_from(&sig);
        memcpy(v.sha256, ce.sha, MB_SHA256_HEX);
        v.size = ce.size;
        v.yanked = pv ? pv->yanked : false;
        if (!v.archive) {
            rc = MB_E_NOMEM;
            goto out;
        }
        c->rep->hashed++;
    }
    if (mb_sign_verify_prehashed(&pub->key, b2, &sig, sig_rel, 0, &e)) {
        snprintf(why, sizeof(why), "%s", e.msg);
        goto out;
    }
    struct mb_index_record *r = build_get(&c->b, f->id, kind, err);
    if (!r) {
        rc = MB_E_NOMEM;
        goto out;
    }
    if (r->kind != kind) {
        snprintf(why, sizeof(why), "kind %s, but other versions of '%s' are %s",
                 mb_pack_kind_name(kind), f->id, mb_pack_kind_name(r->kind));
        goto out;
    }
    if (!pv)
        c->rep->added++;
    if ((rc = mb_index_record_put(r, &v, err)))
        goto out;
    rc = rcache_put(&c->fresh, &ce, err);
out:
    if (!rc && why[0])
        rc = note(c->rep, f->rel, why, NULL);
    mb_index_version_release(&v);
    mb_manifest_release(&m);
    mb_archive_info_release(&info);
    mb_buf_release(&sigb);
    mb_free(path);
    mb_free(sig_rel);
    mb_free(sig_path);
    return rc;
}

void mb_regdir_refresh_report_release(struct mb_regdir_refresh_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nskipped; i++) {
        mb_free(r->skipped[i].path);
        mb_free(r->skipped[i].why);
    }
    mb_free(r->skipped);
    memset(r, 0, sizeof(*r));
}

/* The maintainer keys given must be listed in registry.json, and reach its threshold. */
static int check_keys(const char *dir, const struct mb_registry_meta *meta,
                      const struct mb_seckey *const *keys, size_t nkeys, struct mb_err *err)
{
    if (nkeys == 0)
        return mb_fail(err, MB_E_USAGE, "%s: no maintainer key given (--key)", dir);
    if (nkeys > MB_REGISTRY_MAX_KEYS)
        return mb_fail(err, MB_E_USAGE, "more than %d keys", MB_REGISTRY_MAX_KEYS);
    for (size_t k = 0; k < nkeys; k++) {
        struct mb_pubkey pk;
        mb_sign_seckey_public(keys[k], &pk);
        size_t j = 0;
        while (j < meta->nkeys && memcmp(meta->keys[j].keyid, pk.keyid, MB_SIGN_KEYID_LEN))
            j++;
        if (j == meta->nkeys || memcmp(meta->keys[j].pk, pk.pk, MB_SIGN_PK_LEN)) {
            char hex[MB_SIGN_KEYID_HEX_LEN];
            mb_sign_keyid_hex(pk.keyid, hex);
            return mb_fail(err, MB_E_SIGNATURE,
                           "%s/registry.json: key %s is not a maintainer key of this registry "
                           "(field 'keys')",
                           dir, hex);
        }
        for (size_t i = 0; i < k; i++) {
            struct mb_pubkey q;
            mb_sign_seckey_public(keys[i], &q);
            if (!memcmp(q.keyid, pk.keyid, MB_SIGN_KEYID_LEN))
                return mb_fail(err, MB_E_USAGE, "the same key is given twice");
        }
    }
    if (nkeys < meta->threshold)
        return mb_fail(err, MB_E_SIGNATURE,
                       "%s/registry.json: the registry needs %u signatures (field 'threshold'), "
                       "%zu key%s given",
                       dir, meta->threshold, nkeys, nkeys == 1 ? "" : "s");
    return 0;
}

/* Write the new snapshot and its signatures; old extra signature files are removed. */
static int write_snapshot(const char *dir, const struct mb_snapshot *s,
                          const struct mb_seckey *const *keys, size_t nkeys, struct mb_err *err)
{
    struct mb_buf b, sigs[MB_REGISTRY_MAX_KEYS];
    mb_buf_init(&b, MB_SNAPSHOT_MAX_BYTES);
    for (size_t k = 0; k < MB_REGISTRY_MAX_KEYS; k++)
        mb_buf_init(&sigs[k], MB_SIG_MAX_BYTES);
    int rc = mb_snapshot_emit(s, &b, err);
    if (!rc)
        rc = mb_regdir_sign_snapshot(b.p, b.n, keys, nkeys, sigs, err);
    /* Signatures first, then the snapshot: a reader between the two sees a mismatch and
       keeps its previous state (and retries later), never a half-written file. */
    for (unsigned k = 1; !rc && k <= MB_REGISTRY_MAX_KEYS; k++) {
        char name[48];
        mb_snapshot_sig_name(k, name, sizeof(name));
        if (k <= nkeys)
            rc = write_in(dir, name, sigs[k - 1].p, sigs[k - 1].n, err);
        else {
            char *p = mb_path_join(dir, name);
            if (p)
                unlink(p);
            mb_free(p);
        }
    }
    if (!rc)
        rc = write_in(dir, "snapshot.json", b.p, b.n, err);
    mb_buf_release(&b);
    for (size_t k = 0; k < MB_REGISTRY_MAX_KEYS; k++)
        mb_buf_release(&sigs[k]);
    return rc;
}

/* Remove index/<id>.json files whose ids are not in `b` (no archive left). */
static int drop_stale(const char *dir, const struct build *b, struct mb_regdir_refresh_report *rep,
                      struct mb_err *err)
{
    char *idx = mb_path_join(dir, "index");
    if (!idx)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    DIR *d = opendir(idx);
    int rc = 0;
    struct dirent *de;
    while (d && !rc && (de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".json") || len - 5 > MB_PACK_ID_MAX)
            continue;
        char id[MB_PACK_ID_MAX + 1];
        memcpy(id, de->d_name, len - 5);
        id[len - 5] = '\0';
        bool keep = false;
        for (size_t i = 0; i < b->n && !keep; i++)
            keep = !strcmp(b->recs[i].id, id);
        if (keep)
            continue;
        struct mb_index_record old;
        char *p = mb_path_join(idx, de->d_name);
        if (p && !mb_index_load(p, NULL, &old, NULL)) {
            rep->removed += old.nversions;
            mb_index_record_release(&old);
        }
        if (p && unlink(p))
            rc = mb_fail_errno(err, errno, "cannot remove '%s'", p);
        rep->changed = true;
        mb_free(p);
    }
    if (d)
        closedir(d);
    mb_free(idx);
    return rc;
}

int mb_regdir_refresh(const char *dir, const struct mb_regdir_refresh_opts *o,
                      struct mb_regdir_refresh_report *rep, struct mb_err *err)
{
    memset(rep, 0, sizeof(*rep));
    struct mb_registry_meta meta;
    struct mb_snapshot prev_snap, s;
    mb_registry_meta_init(&meta);
    mb_snapshot_init(&prev_snap);
    mb_snapshot_init(&s);
    struct mb_buf reg, b;
    mb_buf_init(&reg, MB_REGISTRY_JSON_MAX_BYTES);
    mb_buf_init(&b, MB_SNAPSHOT_MAX_BYTES);
    struct scan sc;
    memset(&sc, 0, sizeof(sc));
    struct refresh_ctx c;
    memset(&c, 0, sizeof(c));
    c.dir = dir;
    c.meta = &meta;
    c.o = o;
    c.rep = rep;
    char *reg_path = mb_path_join(dir, "registry.json");
    int rc = reg_path ? 0 : mb_fail(err, MB_E_NOMEM, "out of memory");
    if (!rc && !mb_path_exists(reg_path))
        rc = mb_fail(err, MB_E_NOTFOUND,
                     "'%s' is not a registry (no registry.json; create one with 'modularbase "
                     "registry init')",
                     dir);
    if (!rc)
        rc = mb_file_read_all(reg_path, MB_REGISTRY_JSON_MAX_BYTES, &reg, err);
    if (!rc)
        rc = mb_registry_meta_parse(reg_path, reg.p, reg.n, &meta, err);
    if (!rc)
        rc = check_keys(dir, &meta, o->keys, o->nkeys, err);
    if (rc)
        goto out;
    if (!read_in(dir, "snapshot.json", MB_SNAPSHOT_MAX_BYTES, &b, NULL)) {
        char *sp = mb_path_join(dir, "snapshot.json");
        rc = mb_snapshot_parse(sp ? sp : "snapshot.json", b.p, b.n, &prev_snap, err);
        mb_free(sp);
        if (rc)
            goto out;
        if (strcmp(prev_snap.name, meta.name)) {
            rc = mb_fail(err, MB_E_FORMAT,
                         "%s: snapshot.json is for registry \"%s\", registry.json for \"%s\"", dir,
                         prev_snap.name, meta.name);
            goto out;
        }
        rep->old_version = prev_snap.version;
    }
    mb_buf_reset(&b);
    char *idx = mb_path_join(dir, "index");
    rc = idx ? mb_mkdir_p(idx, 0755, err) : mb_fail(err, MB_E_NOMEM, "out of memory");
    mb_free(idx);
    if (rc)
        goto out;
    rcache_load(dir, &c.old);
    rc = scan_packs(dir, &sc, rep, err);
    for (size_t i = 0; !rc && i < sc.n; i++) {
        if (mb_interrupted) {
            rc = mb_fail(err, MB_E_INTERRUPTED, "interrupted");
            break;
        }
        mb_progress_report(&o->progress, "indexing", i, sc.n);
        rc = index_one(&c, &sc.v[i]);
        if (rc && err && !err->code)
            mb_fail(err, rc, "%s: %s", dir, sc.v[i].rel);
    }
    mb_progress_report(&o->progress, "indexing", sc.n, sc.n);
    if (rc)
        goto out;
    /* Versions gone since the previous index files. */
    qsort(c.b.recs, c.b.n, sizeof(*c.b.recs), cmp_rec);
    for (size_t i = 0; i < c.nprev; i++) {
        if (!c.prev[i])
            continue;
        const struct mb_index_record *now = NULL;
        for (size_t j = 0; j < c.b.n && !now; j++)
            if (!strcmp(c.b.recs[j].id, c.prev_ids[i]))
                now = &c.b.recs[j];
        for (size_t k = 0; k < c.prev[i]->nversions; k++)
            if (!now || !rec_find(now, &c.prev[i]->versions[k].version))
                rep->removed++;
    }
    /* Write index files (only those whose bytes change) and build the snapshot. */
    s.packs = mb_calloc(c.b.n ? c.b.n : 1, sizeof(*s.packs));
    s.name = mb_strdup(meta.name);
    if (!s.packs || !s.name) {
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; !rc && i < c.b.n; i++) {
        struct mb_index_record *r = &c.b.recs[i];
        mb_buf_reset(&b);
        rc = mb_index_emit(r, &b, err);
        if (rc)
            break;
        if (b.n > MB_INDEX_MAX_BYTES) {
            rc = mb_fail(err, MB_E_LIMIT, "index/%s.json would be larger than %u bytes", r->id,
                         MB_INDEX_MAX_BYTES);
            break;
        }
        char name[MB_PACK_ID_MAX + 16];
        snprintf(name, sizeof(name), "index/%s.json", r->id);
        struct mb_buf cur;
        mb_buf_init(&cur, MB_INDEX_MAX_BYTES);
        bool same = !read_in(dir, name, MB_INDEX_MAX_BYTES, &cur, NULL) && cur.n == b.n &&
                    !memcmp(cur.p, b.p, b.n);
        mb_buf_release(&cur);
        if (!same) {
            rc = write_in(dir, name, b.p, b.n, err);
            rep->changed = true;
        }
        struct mb_snapshot_entry *e = &s.packs[s.npacks];
        e->id = mb_strdup(r->id);
        if (!e->id) {
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
            break;
        }
        e->kind = r->kind;
        sha_hex(b.p, b.n, e->sha256);
        e->size = b.n;
        s.npacks++;
        rep->nversions += r->nversions;
    }
    if (!rc)
        rc = drop_stale(dir, &c.b, rep, err);
    if (rc)
        goto out;
    if (prev_snap.version >= MB_SNAPSHOT_VERSION_MAX) {
        rc = mb_fail(err, MB_E_LIMIT, "%s: the snapshot version cannot grow any more", dir);
        goto out;
    }
    s.version = prev_snap.version + 1;
    s.timestamp = mb_unix_time();
    int64_t life = o->expires_in > 0 ? o->expires_in : MB_REGISTRY_DEFAULT_EXPIRES;
    s.expires = s.timestamp + life;
    sha_hex(reg.p, reg.n, s.registry_sha256);
    s.registry_size = reg.n;
    if (strcmp(s.registry_sha256, prev_snap.registry_sha256))
        rep->changed = true;
    rc = write_snapshot(dir, &s, o->keys, o->nkeys, err);
    if (!rc)
        rc = rcache_save(dir, &c.fresh, err);
    if (!rc) {
        rep->new_version = s.version;
        rep->expires = s.expires;
        rep->npacks = s.npacks;
    }
out:
    for (size_t i = 0; i < c.nprev; i++) {
        if (c.prev[i]) {
            mb_index_record_release(c.prev[i]);
            mb_free(c.prev[i]);
        }
        mb_free(c.prev_ids[i]);
    }
    mb_free(c.prev);
    mb_free(c.prev_ids);
    rcache_release(&c.old);
    rcache_release(&c.fresh);
    build_release(&c.b);
    scan_release(&sc);
    mb_registry_meta_release(&meta);
    mb_snapshot_release(&prev_snap);
    mb_snapshot_release(&s);
    mb_buf_release(&reg);
    mb_buf_release(&b);
    mb_free(reg_path);
    return rc;
}

/* ------------------------------------------------------------ init */

int mb_regdir_init(const char *dir, const struct mb_regdir_init_opts *o, struct mb_err *err)
{
    int rc = mb_registry_name_check(o->name, err);
    if (rc)
        return rc;
    unsigned th = o->threshold ? o->threshold : 1;
    if (o->nkeys == 0)
        return mb_fail(err, MB_E_USAGE, "registry init needs the maintainer's secret key (--key)");
    if (o->nkeys > MB_REGISTRY_MAX_KEYS)
        return mb_fail(err, MB_E_USAGE, "more than %d maintainer keys", MB_REGISTRY_MAX_KEYS);
    if (th > o->nkeys)
        return mb_fail(err, MB_E_USAGE, "a threshold of %u needs at least %u keys", th, th);
    rc = mb_mkdir_p(dir, 0755, err);
    if (rc)
        return rc;
    char *reg_path = mb_path_join(dir, "registry.json");
    if (!reg_path)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    if (mb_path_exists(reg_path)) {
        mb_free(reg_path);
        return mb_fail(err, MB_E_EXISTS, "'%s' is already a registry (it has registry.json)", dir);
    }
    struct mb_registry_meta m;
    mb_registry_meta_init(&m);
    m.name = (char *)(uintptr_t)o->name;
    m.description = (char *)(uintptr_t)o->description;
    m.threshold = th;
    m.nkeys = o->nkeys;
    for (size_t k = 0; k < o->nkeys; k++) {
        mb_sign_seckey_public(o->keys[k], &m.keys[k]);
        for (size_t j = 0; j < k; j++)
            if (!memcmp(m.keys[j].keyid, m.keys[k].keyid, MB_SIGN_KEYID_LEN)) {
                mb_free(reg_path);
                return mb_fail(err, MB_E_USAGE, "the same key is given twice");
            }
    }
    /* Publishers: the given ones, else every maintainer key for every pack. */
    struct mb_publisher defaults[MB_REGISTRY_MAX_KEYS];
    static char star[] = "*";
    static char *star_list[] = { star };
    static char maint[] = "maintainer";
    if (o->npublishers) {
        m.publishers = (struct mb_publisher *)(uintptr_t)o->publishers;
        m.npublishers = o->npublishers;
    } else {
        for (size_t k = 0; k < o->nkeys; k++) {
            defaults[k].name = maint;
            defaults[k].key = m.keys[k];
            defaults[k].packs = star_list;
            defaults[k].npacks = 1;
        }
        m.publishers = defaults;
        m.npublishers = o->nkeys;
    }
    struct mb_buf b;
    mb_buf_init(&b, MB_REGISTRY_JSON_MAX_BYTES);
    rc = mb_registry_meta_emit(&m, &b, err);
    /* Check what we wrote reads back (names, patterns, duplicate publishers). */
    struct mb_registry_meta check;
    if (!rc) {
        rc = mb_registry_meta_parse("registry.json", b.p, b.n, &check, err);
        mb_registry_meta_release(&check);
    }
    char *sub1 = mb_path_join(dir, "index"), *sub2 = mb_path_join(dir, "packs");
    if (!rc && (!sub1 || !sub2))
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
    if (!rc)
        rc = mb_mkdir_p(sub1, 0755, err);
    if (!rc)
        rc = mb_mkdir_p(sub2, 0755, err);
    if (!rc)
        rc = mb_file_write_atomic(reg_path, b.p, b.n, 0644, err);
    mb_free(sub1);
    mb_free(sub2);
    mb_buf_release(&b);
    if (!rc) {
        struct mb_regdir_refresh_opts ro = { o->keys, o->nkeys, o->expires_in, false, { 0, 0 } };
        struct mb_regdir_refresh_report rep;
        rc = mb_regdir_refresh(dir, &ro, &rep, err);
        mb_regdir_refresh_report_release(&rep);
        if (rc)
            unlink(reg_path);
    }
    mb_free(reg_path);
    return rc;
}

/* ------------------------------------------------------------ yank */

int mb_regdir_yank(const char *dir, const char *id, const char *version, bool yank,
                   const struct mb_regdir_refresh_opts *o, struct mb_regdir_refresh_report *rep,
                   struct mb_err *err)
{
    memset(rep, 0, sizeof(*rep));
    int rc = mb_pack_id_check(id, err);
    if (rc)
        return rc;
    struct mb_semver v;
    if ((rc = mb_semver_parse_cstr(version, &v, err)))
        return rc;
    /* Check the keys before touching anything: a yank without a new snapshot would break
       the registry for every client (the index would not match the snapshot). */
    {
        struct mb_registry_meta meta;
        struct mb_buf reg;
        mb_buf_init(&reg, MB_REGISTRY_JSON_MAX_BYTES);
        char *rp = mb_path_join(dir, "registry.json");
        rc = rp ? mb_file_read_all(rp, MB_REGISTRY_JSON_MAX_BYTES, &reg, err)
                : mb_fail(err, MB_E_NOMEM, "out of memory");
        if (!rc)
            rc = mb_registry_meta_parse(rp, reg.p, reg.n, &meta, err);
        if (!rc) {
            rc = check_keys(dir, &meta, o->keys, o->nkeys, err);
            mb_registry_meta_release(&meta);
        }
        mb_buf_release(&reg);
        mb_free(rp);
        if (rc)
            return rc;
    }
    char name[MB_PACK_ID_MAX + 16];
    snprintf(name, sizeof(name), "index/%s.json", id);
    char *path = mb_path_join(dir, name);
    if (!path)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    struct mb_index_record r;
    mb_index_record_init(&r);
    if (!mb_path_exists(path)) {
        rc = mb_fail(err, MB_E_NOTFOUND, "%s: no index file for '%s'", dir, id);
        goto out;
    }
    rc = mb_index_load(path, id, &r, err);
    if (rc)
        goto out;
    struct mb_index_version *iv = NULL;
    for (size_t i = 0; i < r.nversions && !iv; i++)
        if (!mb_semver_cmp(&r.versions[i].version, &v))
            iv = &r.versions[i];
    if (!iv) {
        rc = mb_fail(err, MB_E_NOTFOUND, "%s: '%s' has no version %s", path, id, version);
        goto out;
    }
    if (iv->yanked != yank) {
        iv->yanked = yank;
        struct mb_buf b;
        mb_buf_init(&b, MB_INDEX_MAX_BYTES);
        rc = mb_index_emit(&r, &b, err);
        if (!rc)
            rc = mb_file_write_atomic(path, b.p, b.n, 0644, err);
        mb_buf_release(&b);
        if (rc)
            goto out;
    }
    rc = mb_regdir_refresh(dir, o, rep, err);
out:
    mb_index_record_release(&r);
    mb_free(path);
    return rc;
}
