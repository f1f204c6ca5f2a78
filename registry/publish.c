/*
 * publish.c - `pack publish` (docs/registry.md "Publishing"): check the
 * archive and its publisher signature against the registry's registry.json,
 * refuse an existing version (versions are immutable), then either write the
 * files into a file:// registry (and refresh it when the maintainer keys are
 * given) or upload them with HTTP PUT to a WebDAV-capable server with a bearer
 * token. Over HTTP with the maintainer keys, the current snapshot and the
 * pack's index file are fetched and verified with those keys, the version is
 * added, and the index, the signatures and the snapshot are uploaded in that
 * order; without them the maintainer runs `registry refresh` on the server.
 */
#include "client_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

void mb_publish_report_release(struct mb_publish_report *r)
{
    if (!r)
        return;
    mb_free(r->pack_url);
    r->pack_url = NULL;
}

/* Copy a file to `dst` without ever replacing an existing file (link(2) refuses). */
static int copy_new(const char *src, const char *dst, struct mb_err *err)
{
    size_t n = strlen(dst);
    char *tmp = mb_malloc(n + 32);
    if (!tmp)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    snprintf(tmp, n + 32, "%s.tmp.%ld", dst, (long)getpid());
    int in = open(src, O_RDONLY | O_CLOEXEC);
    int out = in < 0 ? -1 : open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    int rc = 0;
    if (in < 0)
        rc = mb_fail_errno(err, errno, "cannot open '%s'", src);
    else if (out < 0)
        rc = mb_fail_errno(err, errno, "cannot create '%s'", tmp);
    char *buf = rc ? NULL : mb_malloc(1u << 20);
    if (!rc && !buf)
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
    while (!rc) {
        ssize_t k = read(in, buf, 1u << 20);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            rc = mb_fail_errno(err, errno, "cannot read '%s'", src);
            break;
        }
        if (k == 0)
            break;
        for (ssize_t off = 0; off < k && !rc;) {
            ssize_t w = write(out, buf + off, (size_t)(k - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                rc = mb_fail_errno(err, errno, "cannot write '%s'", tmp);
            else
                off += w;
        }
    }
    mb_free(buf);
    if (!rc && fsync(out))
        rc = mb_fail_errno(err, errno, "cannot fsync '%s'", tmp);
    if (in >= 0)
        close(in);
    if (out >= 0 && close(out) && !rc)
        rc = mb_fail_errno(err, errno, "cannot write '%s'", tmp);
    if (!rc && link(tmp, dst)) {
        int e = errno;
        rc = e == EEXIST
                 ? mb_fail(err, MB_E_EXISTS,
                           "'%s' exists: versions are immutable (publish a new version)", dst)
                 : mb_fail_errno(err, e, "cannot create '%s'", dst);
    }
    if (out >= 0)
        unlink(tmp);
    mb_free(tmp);
    return rc;
}

/* What we know about the pack being published. */
struct pubpack {
    struct mb_manifest m;
    struct mb_archive_info info;
    struct mb_buf sigtext;
    struct mb_sig sig;
    char rel[MB_PACK_ID_MAX * 2 + MB_SEMVER_MAX_LEN + 32];
    char sig_rel[MB_PACK_ID_MAX * 2 + MB_SEMVER_MAX_LEN + 40];
    char sha[MB_SHA256_HEX];
    const char *sig_path;
};

static void pubpack_release(struct pubpack *p)
{
    mb_manifest_release(&p->m);
    mb_archive_info_release(&p->info);
    mb_buf_release(&p->sigtext);
}

static int check_publisher(const struct pubpack *p, const struct mb_registry_meta *meta,
                           const char *where, struct mb_err *err)
{
    bool listed = false;
    const struct mb_publisher *pub =
        mb_registry_meta_publisher(meta, p->sig.keyid, p->m.id, &listed);
    char hex[MB_SIGN_KEYID_HEX_LEN];
    mb_sign_keyid_hex(p->sig.keyid, hex);
    if (!pub)
        return mb_fail(err, MB_E_SIGNATURE,
                       "%s: the pack is signed by key %s, which %s registry.json %s (ask the "
                       "maintainer to add the key to 'publishers')",
                       p->sig_path, hex, where,
                       listed ? "does not allow to publish this pack id"
                              : "does not list as a publisher");
    return mb_sign_verify_prehashed(&pub->key, p->info.blake2b, &p->sig, p->sig_path, 0, err);
}

/* A new index version for the pack (the same entry `registry refresh` derives). */
static int make_version(const struct pubpack *p, const struct mb_index_record *prev,
                        struct mb_index_version *v, struct mb_err *err)
{
    int rc = mb_index_version_from_manifest(&p->m, v, err);
    if (rc)
        return rc;
    v->archive = mb_strdup(p->rel);
    memcpy(v->sha256, p->sha, MB_SHA256_HEX);
    v->size = p->info.archive_size;
    v->yanked = false;
    const char *t = strstr(p->sig.trusted_comment, "timestamp:");
    int64_t ts;
    char num[24] = "", buf[32];
    size_t k = 0;
    for (t = t ? t + 10 : ""; *t >= '0' && *t <= '9' && k < sizeof(num) - 1; t++)
        num[k++] = *t;
    num[k] = '\0';
    if (k && mb_parse_i64(num, &ts) && mb_time_format_utc(ts, buf, sizeof(buf)))
        v->published = mb_strdup(buf);
    if (!v->archive)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    for (size_t i = 0; prev && i < prev->nversions; i++)
        if (!mb_semver_cmp(&prev->versions[i].version, &v->version))
            return mb_fail(err, MB_E_EXISTS,
                           "%s %s is already in the registry's index: versions are immutable "
                           "(publish a new version)",
                           p->m.id, p->m.version_text);
    return 0;
}

/* ------------------------------------------------------------ file:// */

static int publish_dir(const char *dir, const struct mb_publish_opts *o, struct pubpack *p,
                       struct mb_publish_report *rep, struct mb_err *err)
{
    struct mb_buf reg;
    mb_buf_init(&reg, MB_REGISTRY_JSON_MAX_BYTES);
    struct mb_registry_meta meta;
    mb_registry_meta_init(&meta);
    char *reg_path = mb_path_join(dir, "registry.json");
    char *dst = mb_path_join(dir, p->rel), *sig_dst = mb_path_join(dir, p->sig_rel);
    char *sub = NULL;
    struct mb_index_record prev;
    mb_index_record_init(&prev);
    int rc = reg_path && dst && sig_dst ? 0 : mb_fail(err, MB_E_NOMEM, "out of memory");
    if (!rc && !mb_path_exists(reg_path))
        rc = mb_fail(err, MB_E_NOTFOUND, "'%s' is not a registry (no registry.json)", dir);
    if (!rc)
        rc = mb_file_read_all(reg_path, MB_REGISTRY_JSON_MAX_BYTES, &reg, err);
    if (!rc)
        rc = mb_registry_meta_parse(reg_path, reg.p, reg.n, &meta, err);
    if (!rc)
        rc = check_publisher(p, &meta, "the", err);
    if (rc)
        goto out;
    char idx[MB_PACK_ID_MAX + 16];
    snprintf(idx, sizeof(idx), "index/%s.json", p->m.id);
    char *ip = mb_path_join(dir, idx);
    if (ip && mb_path_exists(ip) && !mb_index_load(ip, p->m.id, &prev, NULL)) {
        struct mb_index_version v;
        memset(&v, 0, sizeof(v));
        rc = make_version(p, &prev, &v, err);
        mb_index_version_release(&v);
    }
    mb_free(ip);
    if (rc)
        goto out;
    if (mb_path_exists(dst)) {
        rc = mb_fail(err, MB_E_EXISTS,
                     "'%s' exists: versions are immutable (publish a new version)", dst);
        goto out;
    }
    char sd[MB_PACK_ID_MAX + 8];
    snprintf(sd, sizeof(sd), "packs/%s", p->m.id);
    sub = mb_path_join(dir, sd);
    rc = sub ? mb_mkdir_p(sub, 0755, err) : mb_fail(err, MB_E_NOMEM, "out of memory");
    if (!rc)
        rc = mb_file_write_atomic(sig_dst, p->sigtext.p, p->sigtext.n, 0644, err);
    if (!rc)
        rc = copy_new(o->archive, dst, err);
    if (rc == MB_E_EXISTS)
        goto out;
    if (!rc)
        rc = mb_fsync_dir(sub, err);
    rep->uploads = 2;
    if (!rc && o->nkeys) {
        struct mb_regdir_refresh_opts ro = { o->keys, o->nkeys, o->expires_in, false, { 0, 0 } };
        struct mb_regdir_refresh_report rr;
        rc = mb_regdir_refresh(dir, &ro, &rr, err);
        if (!rc) {
            rep->indexed = true;
            rep->snapshot_version = rr.new_version;
            for (size_t i = 0; i < rr.nskipped; i++)
                if (!strcmp(rr.skipped[i].path, p->rel))
                    rc = mb_fail(err, MB_E_FORMAT, "%s: the refresh left it out: %s", p->rel,
                                 rr.skipped[i].why);
        }
        mb_regdir_refresh_report_release(&rr);
    }
out:
    mb_index_record_release(&prev);
    mb_registry_meta_release(&meta);
    mb_buf_release(&reg);
    mb_free(reg_path);
    mb_free(dst);
    mb_free(sig_dst);
    mb_free(sub);
    return rc;
}

/* ------------------------------------------------------------ HTTP */

struct upload_tick {
    struct xfer *x;
    const struct mb_progress *p;
    uint64_t total;
};

static void up_tick(void *ud)
{
    struct upload_tick *t = ud;
    mb_progress_report(t->p, "uploading", t->x->upload_off, t->total);
}

static int put_one(struct http *h, const char *base, const char *rel, const void *data, size_t n,
                   const char *file, uint64_t total, const struct mb_progress *prog,
                   struct mb_err *err)
{
    const char *bases[1] = { base };
    struct xfer x;
    memset(&x, 0, sizeof(x));
    x.bases = bases;
    x.nbases = 1;
    x.rel = rel;
    x.method = XFER_PUT;
    x.upload = data;
    x.upload_n = n;
    x.upload_path = file;
    x.range_from = -1;
    struct xfer *one = &x;
    struct upload_tick t = { &x, prog, total };
    struct http_tick tk = { up_tick, &t };
    int rc = http_run(h, &one, 1, prog && prog->fn ? &tk : NULL, err);
    if (!rc && x.rc) {
        rc = x.rc;
        *err = x.err;
    }
    return rc;
}

/* HEAD: MB_E_EXISTS when the URL answers 2xx, 0 when 404. */
static int must_not_exist(struct http *h, const char *base, const char *rel, struct mb_err *err)
{
    const char *bases[1] = { base };
    struct xfer x;
    memset(&x, 0, sizeof(x));
    x.bases = bases;
    x.nbases = 1;
    x.rel = rel;
    x.method = XFER_HEAD;
    x.range_from = -1;
    struct xfer *one = &x;
    int rc = http_run(h, &one, 1, NULL, err);
    if (rc)
        return rc;
    if (x.rc == 0)
        return mb_fail(err, MB_E_EXISTS,
                       "%s%s exists: versions are immutable (publish a new version)", base, rel);
    if (x.rc == MB_E_NOTFOUND)
        return 0;
    *err = x.err;
    return x.rc;
}

static int fetch_checked(struct http *h, const char *base, const char *rel, const char *sha,
                         uint64_t size, const char *what, struct mb_buf *out, struct mb_err *err)
{
    const char *bases[1] = { base };
    struct checked_fetch cf;
    mb_client_checked_fetch_init(&cf, sha, size, what);
    cf.m.x.bases = bases;
    cf.m.x.nbases = 1;
    cf.m.x.rel = rel;
    struct xfer *one = &cf.m.x;
    int rc = http_run(h, &one, 1, NULL, err);
    if (!rc && cf.m.x.rc) {
        rc = cf.m.x.rc;
        *err = cf.m.x.err;
    }
    if (!rc) {
        size_t keep = out->max;
        mb_buf_release(out);
        *out = cf.m.body;
        out->max = keep;
        mb_buf_init(&cf.m.body, 16);
    }
    memfetch_release(&cf.m);
    return rc;
}

static int fetch_plain(struct http *h, const char *base, const char *rel, size_t max,
                       struct mb_buf *out, int *status_rc, struct mb_err *err)
{
    const char *bases[1] = { base };
    struct memfetch m;
    memfetch_init(&m, max, false, rel);
    m.x.bases = bases;
    m.x.nbases = 1;
    m.x.rel = rel;
    struct xfer *one = &m.x;
    int rc = http_run(h, &one, 1, NULL, err);
    *status_rc = m.x.rc;
    if (!rc && m.x.rc && err)
        *err = m.x.err;
    if (!rc && !m.x.rc) {
        size_t keep = out->max;
        mb_buf_release(out);
        *out = m.body;
        out->max = keep;
        mb_buf_init(&m.body, 16);
    }
    memfetch_release(&m);
    return rc;
}

static int publish_http(struct mb_client *c, const char *base, const struct mb_publish_opts *o,
                        struct pubpack *p, struct mb_publish_report *rep, struct mb_err *err)
{
    struct http *h = NULL;
    int rc = mb_client_http(c, &h, err);
    if (rc)
        return rc;
    struct mb_buf snap, reg, idx, out;
    mb_buf_init(&snap, MB_SNAPSHOT_MAX_BYTES);
    mb_buf_init(&reg, MB_REGISTRY_JSON_MAX_BYTES);
    mb_buf_init(&idx, MB_INDEX_MAX_BYTES);
    mb_buf_init(&out, MB_SNAPSHOT_MAX_BYTES);
    struct mb_buf sigs[MB_REGISTRY_MAX_KEYS];
    for (size_t k = 0; k < MB_REGISTRY_MAX_KEYS; k++)
        mb_buf_init(&sigs[k], MB_SIG_MAX_BYTES);
    struct mb_snapshot s;
    mb_snapshot_init(&s);
    struct mb_registry_meta meta;
    mb_registry_meta_init(&meta);
    struct mb_index_record rec;
    mb_index_record_init(&rec);
    struct mb_index_version v;
    memset(&v, 0, sizeof(v));
    const struct mb_registry_meta *mp = &meta;
    struct regstate *trusted = NULL;
    for (size_t i = 0; i < c->nregs; i++)
        if (!strcmp(c->regs[i].conf->url, base))
            trusted = &c->regs[i];
    int st = 0;
    char origin[MB_REGISTRY_URL_MAX + 32];
    snprintf(origin, sizeof(origin), "%ssnapshot.json", base);
    if (o->nkeys) {
        /* The current state, verified with the maintainer keys we hold. */
        struct mb_pubkey pins[MB_REGISTRY_MAX_KEYS];
        size_t np = MB_MIN(o->nkeys, (size_t)MB_REGISTRY_MAX_KEYS);
        for (size_t k = 0; k < np; k++)
            mb_sign_seckey_public(o->keys[k], &pins[k]);
        rc = fetch_plain(h, base, "snapshot.json", MB_SNAPSHOT_MAX_BYTES, &snap, &st, err);
        if (!rc && st)
            rc = st;
        struct mb_buf s1;
        mb_buf_init(&s1, MB_SIG_MAX_BYTES);
        if (!rc)
            rc = fetch_plain(h, base, "snapshot.json.minisig", MB_SIG_MAX_BYTES, &s1, &st, err);
        if (!rc && st)
            rc = st == MB_E_NOTFOUND
                     ? mb_fail(err, MB_E_SIGNATURE, "%s: the snapshot is not signed", origin)
                     : st;
        struct mb_str view = { s1.p ? s1.p : "", s1.n };
        if (!rc)
            rc = mb_snapshot_verify_sigs(origin, snap.p, snap.n, &view, 1, pins, np, 1, err);
        mb_buf_release(&s1);
        if (!rc)
            rc = mb_snapshot_parse(origin, snap.p, snap.n, &s, err);
        if (!rc)
            rc = fetch_checked(h, base, "registry.json", s.registry_sha256, s.registry_size,
                               "registry.json", &reg, err);
        if (!rc)
            rc = mb_registry_meta_parse("registry.json", reg.p, reg.n, &meta, err);
        const struct mb_snapshot_entry *e = rc ? NULL : mb_snapshot_find(&s, p->m.id);
        char irel[MB_PACK_ID_MAX + 16];
        snprintf(irel, sizeof(irel), "index/%s.json", p->m.id);
        if (e) {
            rc = fetch_checked(h, base, irel, e->sha256, e->size, "index file", &idx, err);
            if (!rc)
                rc = mb_index_parse(irel, idx.p, idx.n, p->m.id, &rec, err);
            if (!rc && rec.kind != p->m.kind)
                rc = mb_fail(err, MB_E_FORMAT, "%s is a %s pack, the registry lists '%s' as %s",
                             o->archive, mb_pack_kind_name(p->m.kind), p->m.id,
                             mb_pack_kind_name(rec.kind));
        } else if (!rc) {
            rec.id = mb_strdup(p->m.id);
            rec.kind = p->m.kind;
            if (!rec.id)
                rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        }
        if (!rc)
            rc = make_version(p, &rec, &v, err);
    } else if (trusted && !mb_client_load_trusted(c, trusted, NULL) && trusted->have) {
        mp = &trusted->meta; /* the trusted copy of a configured registry */
    } else {
        rc = fetch_plain(h, base, "registry.json", MB_REGISTRY_JSON_MAX_BYTES, &reg, &st, err);
        if (!rc && st)
            rc = st;
        if (!rc)
            rc = mb_registry_meta_parse("registry.json", reg.p, reg.n, &meta, err);
    }
    if (!rc)
        rc = check_publisher(p, mp, "the registry's", err);
    if (!rc)
        rc = must_not_exist(h, base, p->rel, err);
    if (rc)
        goto out;
    /* The archive, then its signature. */
    rc = put_one(h, base, p->rel, NULL, 0, o->archive, p->info.archive_size, &o->progress, err);
    if (!rc)
        rc = put_one(h, base, p->sig_rel, p->sigtext.p, p->sigtext.n, NULL, 0, NULL, err);
    if (rc)
        goto out;
    rep->uploads = 2;
    if (!o->nkeys)
        goto out;
    /* The index, a new snapshot and its signatures (the snapshot last). */
    rc = mb_index_record_put(&rec, &v, err);
    mb_buf_reset(&idx);
    if (!rc)
        rc = mb_index_emit(&rec, &idx, err);
    if (rc)
        goto out;
    struct mb_snapshot_entry *e =
        (struct mb_snapshot_entry *)(uintptr_t)mb_snapshot_find(&s, p->m.id);
    if (!e) {
        struct mb_snapshot_entry *nv = mb_reallocarray(s.packs, s.npacks + 1, sizeof(*nv));
        if (!nv) {
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
            goto out;
        }
        s.packs = nv;
        size_t at = 0;
        while (at < s.npacks && strcmp(s.packs[at].id, p->m.id) < 0)
            at++;
        memmove(&s.packs[at + 1], &s.packs[at], (s.npacks - at) * sizeof(*s.packs));
        e = &s.packs[at];
        memset(e, 0, sizeof(*e));
        e->id = mb_strdup(p->m.id);
        e->kind = p->m.kind;
        s.npacks++;
        if (!e->id) {
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
            goto out;
        }
    }
    uint8_t hh[MB_SHA256_LEN];
    mb_sha256(idx.p, idx.n, hh);
    mb_hex_encode(hh, MB_SHA256_LEN, e->sha256);
    e->size = idx.n;
    if (s.version >= MB_SNAPSHOT_VERSION_MAX) {
        rc = mb_fail(err, MB_E_LIMIT, "%s: the version cannot grow any more", origin);
        goto out;
    }
    s.version++;
    s.timestamp = mb_unix_time();
    s.expires = s.timestamp + (o->expires_in > 0 ? o->expires_in : MB_REGISTRY_DEFAULT_EXPIRES);
    if (o->nkeys < meta.threshold) {
        rc = mb_fail(err, MB_E_SIGNATURE, "the registry needs %u maintainer signatures, %zu given",
                     meta.threshold, o->nkeys);
        goto out;
    }
    rc = mb_snapshot_emit(&s, &out, err);
    if (!rc)
        rc = mb_regdir_sign_snapshot(out.p, out.n, o->keys, o->nkeys, sigs, err);
    char irel[MB_PACK_ID_MAX + 16];
    snprintf(irel, sizeof(irel), "index/%s.json", p->m.id);
    if (!rc)
        rc = put_one(h, base, irel, idx.p, idx.n, NULL, 0, NULL, err);
    for (size_t k = 0; !rc && k < o->nkeys; k++) {
        char name[48];
        mb_snapshot_sig_name((unsigned)k + 1, name, sizeof(name));
        rc = put_one(h, base, name, sigs[k].p, sigs[k].n, NULL, 0, NULL, err);
    }
    if (!rc)
        rc = put_one(h, base, "snapshot.json", out.p, out.n, NULL, 0, NULL, err);
    if (!rc) {
        rep->uploads += 2 + o->nkeys;
        rep->indexed = true;
        rep->snapshot_version = s.version;
    }
out:
    mb_registry_meta_release(&meta);
    mb_snapshot_release(&s);
    mb_index_record_release(&rec);
    mb_index_version_release(&v);
    mb_buf_release(&snap);
    mb_buf_release(&reg);
    mb_buf_release(&idx);
    mb_buf_release(&out);
    for (size_t k = 0; k < MB_REGISTRY_MAX_KEYS; k++)
        mb_buf_release(&sigs[k]);
    return rc;
}

int mb_client_publish(struct mb_client *c, const struct mb_publish_opts *o,
                      struct mb_publish_report *rep, struct mb_err *err)
{
    memset(rep, 0, sizeof(*rep));
    struct pubpack p;
    memset(&p, 0, sizeof(p));
    mb_manifest_init(&p.m);
    mb_archive_info_init(&p.info);
    mb_buf_init(&p.sigtext, MB_SIG_MAX_BYTES);
    char *base = NULL, *sig_default = NULL;
    int rc = 0;
    if (!o->archive || !o->target)
        return mb_fail(err, MB_E_USAGE, "publish needs an archive and a registry");
    /* Where to: a configured name, else a URL or a directory. */
    const struct mb_registry_conf *conf = mb_config_find(&c->cfg, o->target);
    if (conf)
        base = mb_strdup(conf->url);
    else if (!strstr(o->target, "://") && !strchr(o->target, '/') && o->target[0] != '.')
        return mb_fail(err, MB_E_NOTFOUND,
                       "no registry named '%s' is configured (give a name from 'registry list', "
                       "a URL or a directory)",
                       o->target);
    else if ((rc = mb_registry_url_normalize(o->target, &base, err)))
        return rc;
    if (!base)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    /* The archive: whole-file hashes and every member checked. */
    struct mb_archive_read_opts ro = { NULL, { NULL, NULL }, false, MB_ARCHIVE_HASH_ALL };
    rc = mb_archive_verify(o->archive, &ro, &p.info, err);
    if (!rc)
        rc = mb_regdir_read_manifest(o->archive, &p.m, err);
    if (rc)
        goto out;
    mb_hex_encode(p.info.sha256, MB_SHA256_LEN, p.sha);
    snprintf(p.rel, sizeof(p.rel), "packs/%s/%s-%s.mbpack", p.m.id, p.m.id, p.m.version_text);
    snprintf(p.sig_rel, sizeof(p.sig_rel), "%s.minisig", p.rel);
    mb_strlcpy(rep->id, p.m.id, sizeof(rep->id));
    mb_strlcpy(rep->version, p.m.version_text, sizeof(rep->version));
    if (mb_archive_check_name(p.rel, 1024, err)) {
        rc = MB_E_FORMAT;
        goto out;
    }
    if (o->sig) {
        p.sig_path = o->sig;
    } else {
        size_t n = strlen(o->archive);
        sig_default = mb_malloc(n + 9);
        if (!sig_default) {
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
            goto out;
        }
        snprintf(sig_default, n + 9, "%s.minisig", o->archive);
        p.sig_path = sig_default;
    }
    if (!mb_path_exists(p.sig_path)) {
        rc = mb_fail(err, MB_E_SIGNATURE,
                     "%s: no publisher signature (build with 'modularbase pack build --sign')",
                     p.sig_path);
        goto out;
    }
    rc = mb_file_read_all(p.sig_path, MB_SIG_MAX_BYTES, &p.sigtext, err);
    if (!rc)
        rc = mb_sign_sig_parse(p.sigtext.p, p.sigtext.n, p.sig_path, &p.sig, err);
    if (rc)
        goto out;
    rep->pack_url = mb_malloc(strlen(base) + strlen(p.rel) + 1);
    if (!rep->pack_url) {
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        goto out;
    }
    memcpy(rep->pack_url, base, strlen(base));
    memcpy(rep->pack_url + strlen(base), p.rel, strlen(p.rel) + 1);
    if (!strncmp(base, "file://", 7)) {
        char *dir = NULL;
        rc = mb_registry_url_to_path(base, &dir, err);
        if (!rc)
            rc = publish_dir(dir, o, &p, rep, err);
        mb_free(dir);
    } else {
        rc = publish_http(c, base, o, &p, rep, err);
    }
out:
    pubpack_release(&p);
    mb_free(base);
    mb_free(sig_default);
    return rc;
}
