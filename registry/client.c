/*
 * client.c - the registry client's trusted state (docs/registry.md "Client
 * checks"): opening the client, loading and re-verifying each registry's
 * cached snapshot, and `registry add / remove / update`. An update fetches
 * snapshot.json (If-None-Match), checks its signatures against the pinned
 * keys, its expiry (freeze), its version (rollback), then registry.json and the
 * cached index files whose hash changed, all from one source (the URL or a
 * mirror, each verified alike), and only then replaces the trusted files. A
 * refusal leaves the cache as it was.
 */
#include "client_int.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <unistd.h>

/* ------------------------------------------------------------ open / free */

static void regstate_release(struct regstate *r)
{
    mb_free(r->dir);
    mb_snapshot_release(&r->snap);
    mb_registry_meta_release(&r->meta);
    mb_free(r->bases);
    memset(r, 0, sizeof(*r));
}

static void drop_records(struct mb_client *c)
{
    for (size_t i = 0; i < c->nrecs; i++) {
        mb_free(c->recs[i]->id);
        mb_index_record_release(&c->recs[i]->rec);
        mb_free(c->recs[i]);
    }
    mb_free(c->recs);
    c->recs = NULL;
    c->nrecs = c->caprecs = 0;
}

static void drop_regs(struct mb_client *c)
{
    drop_records(c);
    for (size_t i = 0; i < c->nregs; i++)
        regstate_release(&c->regs[i]);
    mb_free(c->regs);
    c->regs = NULL;
    c->nregs = 0;
}

static int regstate_setup(struct mb_client *c, struct regstate *r, struct mb_registry_conf *conf,
                          struct mb_err *err)
{
    memset(r, 0, sizeof(*r));
    r->conf = conf;
    char sub[MB_REGISTRY_NAME_MAX + 16];
    snprintf(sub, sizeof(sub), "registries/%s", conf->name);
    r->dir = mb_path_join(c->cache, sub);
    r->nbases = 1 + conf->nmirrors;
    r->bases = mb_calloc(r->nbases, sizeof(char *));
    if (!r->dir || !r->bases)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    r->bases[0] = conf->url;
    for (size_t i = 0; i < conf->nmirrors; i++)
        r->bases[1 + i] = conf->mirrors[i];
    return 0;
}

/* (Re)build the per-registry states from the configuration. */
static int build_regs(struct mb_client *c, struct mb_err *err)
{
    drop_regs(c);
    c->regs = mb_calloc(c->cfg.nregistries ? c->cfg.nregistries : 1, sizeof(*c->regs));
    if (!c->regs)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    for (size_t i = 0; i < c->cfg.nregistries; i++) {
        int rc = regstate_setup(c, &c->regs[i], &c->cfg.registries[i], err);
        c->nregs++;
        if (rc)
            return rc;
    }
    return 0;
}

int mb_client_open(const struct mb_client_opts *opts, struct mb_client **out, struct mb_err *err)
{
    *out = NULL;
    if (!opts || !opts->home || !*opts->home)
        return mb_fail(err, MB_E_INTERNAL, "mb_client_open: no home directory");
    struct mb_client *c = mb_calloc(1, sizeof(*c));
    if (!c)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    c->opts = *opts;
    c->home = mb_strdup(opts->home);
    c->cache = mb_path_join(opts->home, "cache");
    c->token = opts->token ? mb_strdup(opts->token) : NULL;
    c->opts.home = c->home;
    c->opts.token = c->token;
    mb_config_init(&c->cfg);
    int rc = 0;
    if (!c->home || !c->cache || (opts->token && !c->token))
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
    if (!rc)
        rc = mb_config_load(c->home, &c->cfg, err);
    if (!rc)
        rc = build_regs(c, err);
    if (rc) {
        mb_client_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void mb_client_free(struct mb_client *c)
{
    if (!c)
        return;
    drop_regs(c);
    http_free(c->http);
    mb_config_release(&c->cfg);
    mb_free(c->home);
    mb_free(c->cache);
    if (c->token) {
        mb_sign_wipe(c->token, strlen(c->token));
        mb_free(c->token);
    }
    mb_free(c);
}

const struct mb_config *mb_client_config(const struct mb_client *c)
{
    return &c->cfg;
}

struct regstate *mb_client_reg(struct mb_client *c, const char *name)
{
    for (size_t i = 0; i < c->nregs; i++)
        if (!strcmp(c->regs[i].conf->name, name))
            return &c->regs[i];
    return NULL;
}

int mb_client_http(struct mb_client *c, struct http **out, struct mb_err *err)
{
    if (!c->http) {
        if (c->opts.offline)
            return mb_fail(err, MB_E_NETWORK, "offline: the network is not used (--offline)");
        struct http_opts o = {
            c->opts.jobs,
            c->opts.retries ? c->opts.retries : 3,
            c->opts.connect_timeout,
            c->opts.stall_timeout,
            c->opts.retry_base_ms,
            c->opts.limit_rate,
            c->token,
        };
        int rc = http_new(&o, &c->http, err);
        if (rc)
            return rc;
    }
    *out = c->http;
    return 0;
}

char *mb_client_index_path(const struct regstate *r, const char *id)
{
    char name[MB_PACK_ID_MAX + 16];
    snprintf(name, sizeof(name), "index/%s.json", id);
    return mb_path_join(r->dir, name);
}

int mb_client_check_entry(const char *origin, const void *p, size_t n, const char *sha256_hex,
                          uint64_t size, const char *what, struct mb_err *err)
{
    if ((uint64_t)n != size)
        return mb_fail(err, MB_E_INTEGRITY,
                       "%s: %zu bytes, but the snapshot declares %llu for this %s (mix-and-match "
                       "refused)",
                       origin, n, (unsigned long long)size, what);
    uint8_t h[MB_SHA256_LEN];
    char hex[MB_SHA256_HEX];
    mb_sha256(p, n, h);
    mb_hex_encode(h, MB_SHA256_LEN, hex);
    if (strcmp(hex, sha256_hex))
        return mb_fail(err, MB_E_INTEGRITY,
                       "%s: sha256 %s, but the snapshot declares %s for this %s (mix-and-match "
                       "refused)",
                       origin, hex, sha256_hex, what);
    return 0;
}

/* ------------------------------------------------------------ state.json */

static int state_load(struct regstate *r, struct mb_err *err)
{
    char *path = mb_path_join(r->dir, "state.json");
    if (!path)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    r->seen_version = 0;
    r->etag_snapshot[0] = '\0';
    struct mb_buf b;
    mb_buf_init(&b, 65536);
    int rc = 0;
    if (mb_path_exists(path) && !mb_file_read_all(path, 65536, &b, NULL)) {
        json_error_t je;
        json_t *root = json_loadb(b.p, b.n, JSON_REJECT_DUPLICATES, &je);
        json_t *v = root ? json_object_get(root, "seen_version") : NULL;
        if (v && json_is_integer(v) && json_integer_value(v) > 0)
            r->seen_version = (uint64_t)json_integer_value(v);
        v = root ? json_object_get(root, "etag") : NULL;
        if (v && json_is_string(v))
            mb_strlcpy(r->etag_snapshot, json_string_value(v), sizeof(r->etag_snapshot));
        json_decref(root);
    }
    mb_buf_release(&b);
    mb_free(path);
    return rc;
}

static int state_save(struct regstate *r, const char *etag, struct mb_err *err)
{
    struct mb_buf b;
    mb_buf_init(&b, 65536);
    int rc = mb_buf_appendf(&b, err, "{\n  \"format\": 1,\n  \"seen_version\": %llu,\n  \"etag\": ",
                            (unsigned long long)r->seen_version);
    if (!rc)
        rc = mb_regmeta_json_str(&b, etag ? etag : "", err);
    if (!rc)
        rc = mb_buf_append_cstr(&b, "\n}\n", err);
    char *path = mb_path_join(r->dir, "state.json");
    if (!rc && !path)
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
    if (!rc)
        rc = mb_file_write_atomic(path, b.p, b.n, 0644, err);
    if (!rc)
        mb_strlcpy(r->etag_snapshot, etag ? etag : "", sizeof(r->etag_snapshot));
    mb_free(path);
    mb_buf_release(&b);
    return rc;
}

/* ------------------------------------------------------------ trusted state */

/* Signature texts of the cached snapshot: sigs[k] for k < *nsig (buffers released by caller). */
static int read_cached_sigs(struct regstate *r, struct mb_buf *sigs, size_t *nsig)
{
    *nsig = 0;
    for (unsigned k = 1; k <= MB_REGISTRY_MAX_KEYS; k++) {
        char name[48];
        mb_snapshot_sig_name(k, name, sizeof(name));
        char *p = mb_path_join(r->dir, name);
        if (!p)
            return MB_E_NOMEM;
        mb_buf_init(&sigs[k - 1], MB_SIG_MAX_BYTES);
        bool ok = mb_path_exists(p) && !mb_file_read_all(p, MB_SIG_MAX_BYTES, &sigs[k - 1], NULL);
        mb_free(p);
        if (!ok)
            break;
        (*nsig)++;
    }
    return 0;
}

static void sig_views(const struct mb_buf *sigs, size_t n, struct mb_str *out)
{
    for (size_t i = 0; i < n; i++) {
        out[i].p = sigs[i].p ? sigs[i].p : "";
        out[i].n = sigs[i].n;
    }
}

static unsigned eff_threshold(const struct regstate *r, const struct mb_registry_meta *m)
{
    unsigned t = r->conf->threshold ? r->conf->threshold : 1;
    if (m && m->threshold > t)
        t = m->threshold;
    return t;
}

int mb_client_load_trusted(struct mb_client *c, struct regstate *r, struct mb_err *err)
{
    (void)c;
    if (r->loaded)
        return 0;
    r->loaded = true;
    r->have = false;
    mb_snapshot_release(&r->snap);
    mb_registry_meta_release(&r->meta);
    int rc = state_load(r, err);
    if (rc)
        return rc;
    char *snap_path = mb_path_join(r->dir, "snapshot.json");
    char *reg_path = mb_path_join(r->dir, "registry.json");
    struct mb_buf snap, reg, sigs[MB_REGISTRY_MAX_KEYS];
    size_t nsig = 0;
    mb_buf_init(&snap, MB_SNAPSHOT_MAX_BYTES);
    mb_buf_init(&reg, MB_REGISTRY_JSON_MAX_BYTES);
    memset(sigs, 0, sizeof(sigs));
    if (!snap_path || !reg_path) {
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        goto out;
    }
    if (!mb_path_exists(snap_path))
        goto out; /* nothing trusted yet */
    rc = mb_file_read_all(snap_path, MB_SNAPSHOT_MAX_BYTES, &snap, err);
    if (!rc)
        rc = mb_file_read_all(reg_path, MB_REGISTRY_JSON_MAX_BYTES, &reg, err);
    if (!rc)
        rc = read_cached_sigs(r, sigs, &nsig);
    if (rc)
        goto bad;
    struct mb_str views[MB_REGISTRY_MAX_KEYS];
    sig_views(sigs, nsig, views);
    rc = mb_snapshot_verify_sigs(snap_path, snap.p, snap.n, views, nsig, r->conf->keys,
                                 r->conf->nkeys, eff_threshold(r, NULL), err);
    if (!rc)
        rc = mb_snapshot_parse(snap_path, snap.p, snap.n, &r->snap, err);
    if (!rc)
        rc = mb_client_check_entry(reg_path, reg.p, reg.n, r->snap.registry_sha256,
                                   r->snap.registry_size, "registry.json", err);
    if (!rc)
        rc = mb_registry_meta_parse(reg_path, reg.p, reg.n, &r->meta, err);
    if (!rc && r->meta.threshold > eff_threshold(r, NULL))
        rc = mb_snapshot_verify_sigs(snap_path, snap.p, snap.n, views, nsig, r->conf->keys,
                                     r->conf->nkeys, eff_threshold(r, &r->meta), err);
    if (rc)
        goto bad;
    r->have = true;
    if (r->snap.version > r->seen_version)
        r->seen_version = r->snap.version;
    goto out;
bad:
    /* The cache no longer verifies (edited, or the pinned keys changed): trust nothing. */
    mb_snapshot_release(&r->snap);
    mb_registry_meta_release(&r->meta);
    mb_err_prefix(err,
                  "registry '%s': the cached trusted state does not verify (run "
                  "'modularbase registry update %s')",
                  r->conf->name, r->conf->name);
    rc = MB_E_SIGNATURE;
    if (err)
        err->code = rc;
out:
    for (size_t i = 0; i < MB_REGISTRY_MAX_KEYS; i++)
        mb_buf_release(&sigs[i]);
    mb_buf_release(&snap);
    mb_buf_release(&reg);
    mb_free(snap_path);
    mb_free(reg_path);
    if (rc)
        r->loaded = false;
    return rc;
}

int mb_client_check_fresh(struct mb_client *c, struct regstate *r, struct mb_err *err)
{
    int rc = mb_client_load_trusted(c, r, err);
    if (rc)
        return rc;
    if (!r->have)
        return mb_fail(err, MB_E_STATE,
                       "registry '%s' has no trusted snapshot yet; run 'modularbase registry "
                       "update %s'",
                       r->conf->name, r->conf->name);
    if (mb_unix_time() >= r->snap.expires && !c->opts.allow_expired) {
        char t[32];
        mb_time_format_utc(r->snap.expires, t, sizeof(t));
        return mb_fail(err, MB_E_STATE,
                       "registry '%s': the trusted snapshot (version %llu) expired at %s; run "
                       "'modularbase registry update %s' (if the server still serves an expired "
                       "snapshot, its maintainer must run 'registry refresh')",
                       r->conf->name, (unsigned long long)r->snap.version, t, r->conf->name);
    }
    return 0;
}

/* ------------------------------------------------------------ update */

struct fetched {
    struct mb_buf snap;
    struct mb_buf sigs[MB_REGISTRY_MAX_KEYS];
    size_t nsig;
    struct mb_buf reg; /* empty when unchanged */
    struct mb_snapshot s;
    struct mb_registry_meta meta;
    bool meta_set;
    char etag[192];
    /* index files to replace and to drop */
    char **fetch_ids;
    struct mb_buf *fetch_bodies;
    size_t nfetch;
    char **drop_ids;
    size_t ndrop;
};

static void fetched_init(struct fetched *f)
{
    memset(f, 0, sizeof(*f));
    mb_buf_init(&f->snap, MB_SNAPSHOT_MAX_BYTES);
    mb_buf_init(&f->reg, MB_REGISTRY_JSON_MAX_BYTES);
    mb_snapshot_init(&f->s);
    mb_registry_meta_init(&f->meta);
}

static void fetched_release(struct fetched *f)
{
    mb_buf_release(&f->snap);
    for (size_t i = 0; i < MB_REGISTRY_MAX_KEYS; i++)
        mb_buf_release(&f->sigs[i]);
    mb_buf_release(&f->reg);
    mb_snapshot_release(&f->s);
    mb_registry_meta_release(&f->meta);
    for (size_t i = 0; i < f->nfetch; i++) {
        mb_free(f->fetch_ids[i]);
        mb_buf_release(&f->fetch_bodies[i]);
    }
    mb_free(f->fetch_ids);
    mb_free(f->fetch_bodies);
    for (size_t i = 0; i < f->ndrop; i++)
        mb_free(f->drop_ids[i]);
    mb_free(f->drop_ids);
    memset(f, 0, sizeof(*f));
}

/* Ids of the index files in the cache directory (newly allocated). */
static int cached_ids(struct regstate *r, char ***ids, size_t *n, struct mb_err *err)
{
    *ids = NULL;
    *n = 0;
    char *dir = mb_path_join(r->dir, "index");
    if (!dir)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    DIR *d = opendir(dir);
    mb_free(dir);
    if (!d)
        return 0;
    size_t cap = 0;
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 6 || len - 5 > MB_PACK_ID_MAX || strcmp(de->d_name + len - 5, ".json"))
            continue;
        char id[MB_PACK_ID_MAX + 1];
        memcpy(id, de->d_name, len - 5);
        id[len - 5] = '\0';
        if (mb_pack_id_check(id, NULL))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            char **v = mb_reallocarray(*ids, cap, sizeof(*v));
            if (!v) {
                rc = mb_fail(err, MB_E_NOMEM, "out of memory");
                break;
            }
            *ids = v;
        }
        if (!((*ids)[*n] = mb_strdup(id)))
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        else
            (*n)++;
    }
    closedir(d);
    return rc;
}

static int push_id(char ***v, size_t *n, const char *id, struct mb_err *err)
{
    char **nv = mb_reallocarray(*v, *n + 1, sizeof(**v));
    if (!nv)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    *v = nv;
    if (!(nv[*n] = mb_strdup(id)))
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    (*n)++;
    return 0;
}

static int checked_finish(struct xfer *x, struct mb_err *err)
{
    struct checked_fetch *cf = (struct checked_fetch *)x->ud;
    if (x->status == 304)
        return mb_fail(err, MB_E_NETWORK, "%s: unexpected 304", xfer_url(x));
    if (cf->m.body.n != cf->size)
        return mb_fail(err, MB_E_INTEGRITY,
                       "%s: %zu bytes, but the snapshot declares %llu for this %s (mix-and-match "
                       "refused)",
                       xfer_url(x), cf->m.body.n, (unsigned long long)cf->size, cf->m.what);
    return mb_client_check_entry(xfer_url(x), cf->m.body.p ? cf->m.body.p : "", cf->m.body.n,
                                 cf->sha, cf->size, cf->m.what, err);
}

static int checked_start(struct xfer *x, struct mb_err *err)
{
    struct checked_fetch *cf = (struct checked_fetch *)x->ud;
    (void)err;
    mb_buf_reset(&cf->m.body);
    return 0;
}

static int checked_data(struct xfer *x, const char *p, size_t n, struct mb_err *err)
{
    struct checked_fetch *cf = (struct checked_fetch *)x->ud;
    if (cf->m.body.n + n > cf->size)
        return mb_fail(err, MB_E_LIMIT,
                       "%s: more bytes than the %llu the snapshot declares for this %s (endless "
                       "data refused)",
                       xfer_url(x), (unsigned long long)cf->size, cf->m.what);
    return mb_buf_append(&cf->m.body, p, n, err);
}

static const struct xfer_ops checked_ops = { checked_start, checked_data, checked_finish };

void mb_client_checked_fetch_init(struct checked_fetch *cf, const char *sha, uint64_t size,
                                  const char *what)
{
    memfetch_init(&cf->m, (size_t)size, true, what);
    cf->m.x.ops = &checked_ops;
    cf->m.x.ud = cf;
    cf->sha = sha;
    cf->size = size;
}

/*
 * Fetch and verify everything an update needs from one source (a base URL).
 * On success *f holds it all (or f->s.version == 0 with *not_modified).
 */
static int fetch_from(struct mb_client *c, struct regstate *r, const char *base, bool primary,
                      struct fetched *f, bool *not_modified, struct mb_update_report *rep,
                      struct mb_err *err)
{
    struct http *h = NULL;
    int rc = mb_client_http(c, &h, err);
    if (rc)
        return rc;
    *not_modified = false;
    const char *bases[1] = { base };
    unsigned want_sigs = eff_threshold(r, r->have ? &r->meta : NULL);
    if (want_sigs < 1)
        want_sigs = 1;
    /* snapshot.json and its first signature together. */
    struct memfetch ms, msig[MB_REGISTRY_MAX_KEYS];
    memfetch_init(&ms, MB_SNAPSHOT_MAX_BYTES, false, "snapshot");
    ms.x.bases = bases;
    ms.x.nbases = 1;
    ms.x.rel = "snapshot.json";
    ms.x.compressed = true;
    if (primary && r->have && r->etag_snapshot[0])
        ms.x.if_none_match = r->etag_snapshot;
    /* Pass the etag through start (the engine resets if_none_match per attempt). */
    size_t nsig_req = MB_MIN((size_t)MB_REGISTRY_MAX_KEYS, (size_t)want_sigs);
    char sig_names[MB_REGISTRY_MAX_KEYS][48];
    for (size_t k = 0; k < MB_REGISTRY_MAX_KEYS; k++) {
        memfetch_init(&msig[k], MB_SIG_MAX_BYTES, false, "signature");
        mb_snapshot_sig_name((unsigned)k + 1, sig_names[k], sizeof(sig_names[k]));
        msig[k].x.bases = bases;
        msig[k].x.nbases = 1;
        msig[k].x.rel = sig_names[k];
    }
    struct xfer *xs[1 + MB_REGISTRY_MAX_KEYS];
    xs[0] = &ms.x;
    for (size_t k = 0; k < nsig_req; k++)
        xs[1 + k] = &msig[k].x;
    rc = http_run(h, xs, 1 + nsig_req, NULL, err);
    for (size_t k = 0; k < 1 + nsig_req; k++)
        rep->requests += xs[k]->requests, rep->bytes += xs[k]->total_received;
    if (rc)
        goto out;
    if (ms.x.rc) {
        rc = ms.x.rc;
        *err = ms.x.err;
        goto out;
    }
    if (ms.x.status == 304) {
        *not_modified = true;
        goto out;
    }
    mb_strlcpy(f->etag, ms.x.etag, sizeof(f->etag));
    /* Signature 1 is required; the others only up to the threshold. */
    f->nsig = 0;
    for (size_t k = 0; k < nsig_req; k++) {
        if (msig[k].x.rc) {
            if (msig[k].x.rc == MB_E_NOTFOUND && k == 0) {
                rc = mb_fail(err, MB_E_SIGNATURE,
                             "%ssnapshot.json: the snapshot is not signed (no %s: %s)", base,
                             sig_names[0], msig[0].x.err.msg);
                goto out;
            }
            if (msig[k].x.rc != MB_E_NOTFOUND) {
                rc = msig[k].x.rc;
                *err = msig[k].x.err;
                goto out;
            }
            break;
        }
        f->sigs[k] = msig[k].body;
        mb_buf_init(&msig[k].body, MB_SIG_MAX_BYTES);
        f->nsig++;
    }
    f->snap = ms.body;
    mb_buf_init(&ms.body, MB_SNAPSHOT_MAX_BYTES);

    char origin[MB_REGISTRY_URL_MAX + 32];
    snprintf(origin, sizeof(origin), "%ssnapshot.json", base);
    struct mb_str views[MB_REGISTRY_MAX_KEYS];
    sig_views(f->sigs, f->nsig, views);
    rc = mb_snapshot_verify_sigs(origin, f->snap.p ? f->snap.p : "", f->snap.n, views, f->nsig,
                                 r->conf->keys, r->conf->nkeys, want_sigs, err);
    if (!rc)
        rc = mb_snapshot_parse(origin, f->snap.p ? f->snap.p : "", f->snap.n, &f->s, err);
    if (rc)
        goto out;
    int64_t now = mb_unix_time();
    if (now >= f->s.expires) {
        char t[32];
        mb_time_format_utc(f->s.expires, t, sizeof(t));
        rc = mb_fail(err, MB_E_SIGNATURE,
                     "%s: field 'expires': the snapshot (version %llu) expired at %s (freeze "
                     "refused; the maintainer must run 'registry refresh')",
                     origin, (unsigned long long)f->s.version, t);
        goto out;
    }
    if (f->s.version < r->seen_version) {
        rc = mb_fail(err, MB_E_SIGNATURE,
                     "%s: field 'version': %llu is lower than version %llu seen before (rollback "
                     "refused)",
                     origin, (unsigned long long)f->s.version, (unsigned long long)r->seen_version);
        goto out;
    }
    if (r->have && strcmp(f->s.name, r->snap.name)) {
        rc = mb_fail(err, MB_E_SIGNATURE,
                     "%s: field 'name': \"%s\", but this registry is \"%s\" (another registry's "
                     "snapshot refused)",
                     origin, f->s.name, r->snap.name);
        goto out;
    }
    if (r->have && f->s.version == r->snap.version) {
        /* The same version must be the same bytes. */
        char *cur = mb_path_join(r->dir, "snapshot.json");
        struct mb_buf cb;
        mb_buf_init(&cb, MB_SNAPSHOT_MAX_BYTES);
        bool same = cur && !mb_file_read_all(cur, MB_SNAPSHOT_MAX_BYTES, &cb, NULL) &&
                    cb.n == f->snap.n && !memcmp(cb.p, f->snap.p, cb.n);
        mb_buf_release(&cb);
        mb_free(cur);
        if (!same) {
            rc = mb_fail(err, MB_E_SIGNATURE,
                         "%s: field 'version': version %llu again but with other content "
                         "(refused)",
                         origin, (unsigned long long)f->s.version);
            goto out;
        }
    }
    /* registry.json: reuse the trusted copy when its hash did not change. */
    if (r->have && !strcmp(f->s.registry_sha256, r->snap.registry_sha256) &&
        f->s.registry_size == r->snap.registry_size) {
        f->meta_set = false;
    } else {
        struct checked_fetch cr;
        mb_client_checked_fetch_init(&cr, f->s.registry_sha256, f->s.registry_size,
                                     "registry.json");
        cr.m.x.bases = bases;
        cr.m.x.nbases = 1;
        cr.m.x.rel = "registry.json";
        struct xfer *one = &cr.m.x;
        rc = http_run(h, &one, 1, NULL, err);
        rep->requests += cr.m.x.requests;
        rep->bytes += cr.m.x.total_received;
        if (!rc && cr.m.x.rc) {
            rc = cr.m.x.rc;
            *err = cr.m.x.err;
        }
        if (!rc) {
            char rorigin[MB_REGISTRY_URL_MAX + 32];
            snprintf(rorigin, sizeof(rorigin), "%sregistry.json", base);
            rc = mb_registry_meta_parse(rorigin, cr.m.body.p, cr.m.body.n, &f->meta, err);
            if (!rc && strcmp(f->meta.name, f->s.name))
                rc = mb_fail(err, MB_E_SIGNATURE,
                             "%s: field 'name': \"%s\", but the snapshot is for \"%s\"", rorigin,
                             f->meta.name, f->s.name);
            if (!rc) {
                f->reg = cr.m.body;
                mb_buf_init(&cr.m.body, MB_REGISTRY_JSON_MAX_BYTES);
                f->meta_set = true;
            }
        }
        memfetch_release(&cr.m);
        if (rc)
            goto out;
    }
    /* The registry's own threshold, now that registry.json is trusted. */
    const struct mb_registry_meta *m = f->meta_set ? &f->meta : &r->meta;
    if (m->threshold > want_sigs) {
        for (size_t k = f->nsig; k < MB_MIN((size_t)m->threshold, (size_t)MB_REGISTRY_MAX_KEYS);
             k++) {
            struct memfetch *mk = &msig[k];
            struct xfer *one = &mk->x;
            rc = http_run(h, &one, 1, NULL, err);
            rep->requests += mk->x.requests;
            if (!rc && mk->x.rc == 0) {
                f->sigs[k] = mk->body;
                mb_buf_init(&mk->body, MB_SIG_MAX_BYTES);
                f->nsig++;
            } else
                break;
        }
        sig_views(f->sigs, f->nsig, views);
        rc = mb_snapshot_verify_sigs(origin, f->snap.p, f->snap.n, views, f->nsig, r->conf->keys,
                                     r->conf->nkeys, m->threshold, err);
        if (rc)
            goto out;
    }
    /* Cached index files that changed: fetch them now; those gone: drop them. */
    char **ids = NULL;
    size_t nids = 0;
    rc = cached_ids(r, &ids, &nids, err);
    for (size_t i = 0; !rc && i < nids; i++) {
        const struct mb_snapshot_entry *ne = mb_snapshot_find(&f->s, ids[i]);
        const struct mb_snapshot_entry *oe = r->have ? mb_snapshot_find(&r->snap, ids[i]) : NULL;
        if (!ne)
            rc = push_id(&f->drop_ids, &f->ndrop, ids[i], err);
        else if (!oe || strcmp(oe->sha256, ne->sha256) || oe->size != ne->size)
            rc = push_id(&f->fetch_ids, &f->nfetch, ids[i], err);
    }
    for (size_t i = 0; i < nids; i++)
        mb_free(ids[i]);
    mb_free(ids);
    if (rc || f->nfetch == 0)
        goto out;
    f->fetch_bodies = mb_calloc(f->nfetch, sizeof(*f->fetch_bodies));
    struct checked_fetch *cfs = mb_calloc(f->nfetch, sizeof(*cfs));
    struct xfer **fx = mb_calloc(f->nfetch, sizeof(*fx));
    char **rels = mb_calloc(f->nfetch, sizeof(*rels));
    if (!f->fetch_bodies || !cfs || !fx || !rels) {
        mb_free(cfs);
        mb_free(fx);
        mb_free(rels);
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < f->nfetch; i++) {
        const struct mb_snapshot_entry *ne = mb_snapshot_find(&f->s, f->fetch_ids[i]);
        mb_client_checked_fetch_init(&cfs[i], ne->sha256, ne->size, "index file");
        rels[i] = mb_malloc(strlen(ne->id) + 12);
        if (rels[i])
            snprintf(rels[i], strlen(ne->id) + 12, "index/%s.json", ne->id);
        cfs[i].m.x.bases = bases;
        cfs[i].m.x.nbases = 1;
        cfs[i].m.x.rel = rels[i];
        cfs[i].m.x.compressed = true;
        fx[i] = &cfs[i].m.x;
        mb_buf_init(&f->fetch_bodies[i], MB_INDEX_MAX_BYTES);
        if (!rels[i])
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    if (!rc)
        rc = http_run(h, fx, f->nfetch, NULL, err);
    for (size_t i = 0; i < f->nfetch; i++) {
        rep->requests += cfs[i].m.x.requests;
        rep->bytes += cfs[i].m.x.total_received;
        if (!rc && cfs[i].m.x.rc) {
            rc = cfs[i].m.x.rc;
            *err = cfs[i].m.x.err;
        }
        if (!rc) {
            f->fetch_bodies[i] = cfs[i].m.body;
            mb_buf_init(&cfs[i].m.body, MB_INDEX_MAX_BYTES);
        }
        memfetch_release(&cfs[i].m);
        mb_free(rels[i]);
    }
    mb_free(cfs);
    mb_free(fx);
    mb_free(rels);
out:
    memfetch_release(&ms);
    for (size_t k = 0; k < MB_REGISTRY_MAX_KEYS; k++)
        memfetch_release(&msig[k]);
    return rc;
}

static int write_in(const char *dir, const char *name, const void *p, size_t n, struct mb_err *err)
{
    char *path = mb_path_join(dir, name);
    if (!path)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    int rc = mb_file_write_atomic(path, p ? p : "", n, 0644, err);
    mb_free(path);
    return rc;
}

/* Replace the trusted files with what `f` holds: index files first, the snapshot last. */
static int commit(struct regstate *r, struct fetched *f, struct mb_err *err)
{
    char *idx = mb_path_join(r->dir, "index");
    if (!idx)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    int rc = mb_mkdir_p(idx, 0755, err);
    for (size_t i = 0; !rc && i < f->nfetch; i++) {
        char name[MB_PACK_ID_MAX + 8];
        snprintf(name, sizeof(name), "%s.json", f->fetch_ids[i]);
        rc = write_in(idx, name, f->fetch_bodies[i].p, f->fetch_bodies[i].n, err);
    }
    for (size_t i = 0; !rc && i < f->ndrop; i++) {
        char name[MB_PACK_ID_MAX + 8];
        snprintf(name, sizeof(name), "%s.json", f->drop_ids[i]);
        char *p = mb_path_join(idx, name);
        if (p && unlink(p) && errno != ENOENT)
            rc = mb_fail_errno(err, errno, "cannot remove '%s'", p);
        mb_free(p);
    }
    mb_free(idx);
    if (!rc && f->meta_set)
        rc = write_in(r->dir, "registry.json", f->reg.p, f->reg.n, err);
    for (unsigned k = 1; !rc && k <= MB_REGISTRY_MAX_KEYS; k++) {
        char name[48];
        mb_snapshot_sig_name(k, name, sizeof(name));
        if (k <= f->nsig) {
            rc = write_in(r->dir, name, f->sigs[k - 1].p, f->sigs[k - 1].n, err);
        } else {
            char *p = mb_path_join(r->dir, name);
            if (p)
                unlink(p);
            mb_free(p);
        }
    }
    if (!rc)
        rc = write_in(r->dir, "snapshot.json", f->snap.p, f->snap.n, err);
    if (!rc) {
        if (f->s.version > r->seen_version)
            r->seen_version = f->s.version;
        rc = state_save(r, f->etag, err);
    }
    return rc;
}

/* Update one registry from its URL, falling back to mirrors. */
static int update_one(struct mb_client *c, struct regstate *r, struct mb_update_report *rep,
                      struct mb_err *err)
{
    memset(rep, 0, sizeof(*rep));
    mb_strlcpy(rep->name, r->conf->name, sizeof(rep->name));
    mb_err_init(&rep->err);
    struct mb_err lerr;
    mb_err_init(&lerr);
    int rc = mb_client_load_trusted(c, r, &lerr);
    if (rc) {
        /* An unverifiable cache: start over, but keep the rollback floor of state.json. */
        r->loaded = true;
        r->have = false;
        rc = 0;
    }
    rep->old_version = r->have ? r->snap.version : 0;
    rc = mb_mkdir_p(r->dir, 0755, err);
    if (rc)
        return rep->rc = rc;
    struct mb_err first;
    mb_err_init(&first);
    int first_rc = 0;
    for (size_t s = 0; s < r->nbases; s++) {
        struct fetched f;
        fetched_init(&f);
        bool nm = false;
        struct mb_err e;
        mb_err_init(&e);
        rc = fetch_from(c, r, r->bases[s], s == 0, &f, &nm, rep, &e);
        if (!rc && nm) {
            /* 304: nothing new; the trusted snapshot must still be fresh (freeze). */
            fetched_release(&f);
            rep->not_modified = true;
            rep->new_version = r->snap.version;
            rep->expires = r->snap.expires;
            rep->npacks = r->snap.npacks;
            rep->source = r->bases[s];
            if (mb_unix_time() >= r->snap.expires) {
                char t[32];
                mb_time_format_utc(r->snap.expires, t, sizeof(t));
                rc = mb_fail(&e, MB_E_SIGNATURE,
                             "%ssnapshot.json: not modified, but the trusted snapshot (version "
                             "%llu) expired at %s (freeze refused)",
                             r->bases[s], (unsigned long long)r->snap.version, t);
            } else {
                return 0;
            }
        }
        if (!rc) {
            rc = commit(r, &f, &e);
            if (!rc) {
                rep->new_version = f.s.version;
                rep->expires = f.s.expires;
                rep->npacks = f.s.npacks;
                rep->index_fetched = f.nfetch;
                rep->index_dropped = f.ndrop;
                rep->source = r->bases[s];
                fetched_release(&f);
                /* Reload the trusted state from what was just written. */
                r->loaded = false;
                drop_records(c);
                rc = mb_client_load_trusted(c, r, &e);
                if (rc) {
                    *err = e;
                    rep->err = e;
                    rep->rc = rc;
                    return rc;
                }
                if (s > 0)
                    mb_strlcpy(rep->err.msg, first.msg, sizeof(rep->err.msg));
                return 0;
            }
        }
        fetched_release(&f);
        if (rc == MB_E_INTERRUPTED || rc == MB_E_NOMEM) {
            first = e;
            first_rc = rc;
            break;
        }
        if (!first_rc) {
            first = e;
            first_rc = rc;
        }
    }
    if (r->nbases > 1 && first_rc != MB_E_INTERRUPTED) {
        size_t len = strlen(first.msg);
        snprintf(first.msg + len, sizeof(first.msg) - len, " (and %zu mirror%s failed)",
                 r->nbases - 1, r->nbases > 2 ? "s" : "");
    }
    first.code = first_rc;
    *err = first;
    rep->rc = first_rc;
    rep->err = first;
    /* The previous trusted state stays: reload it as it was. */
    r->loaded = false;
    mb_err_init(&lerr);
    mb_client_load_trusted(c, r, &lerr);
    return first_rc;
}

int mb_client_update(struct mb_client *c, const char *const *names, size_t n,
                     struct mb_update_report *reps, struct mb_err *err)
{
    int first = 0;
    size_t count = n ? n : c->nregs;
    for (size_t i = 0; i < count; i++) {
        struct regstate *r = n ? mb_client_reg(c, names[i]) : &c->regs[i];
        if (!r) {
            memset(&reps[i], 0, sizeof(reps[i]));
            mb_strlcpy(reps[i].name, names[i], sizeof(reps[i].name));
            reps[i].rc = mb_fail(&reps[i].err, MB_E_NOTFOUND,
                                 "no registry named '%s' is configured (see 'modularbase "
                                 "registry list')",
                                 names[i]);
        } else {
            struct mb_err e;
            mb_err_init(&e);
            update_one(c, r, &reps[i], &e);
        }
        if (reps[i].rc && !first) {
            first = reps[i].rc;
            if (err)
                *err = reps[i].err;
        }
        if (reps[i].rc == MB_E_INTERRUPTED)
            break;
    }
    return first;
}

/* ------------------------------------------------------------ add / remove */

int mb_client_add(struct mb_client *c, const struct mb_registry_conf *in,
                  struct mb_update_report *rep, struct mb_err *err)
{
    struct mb_update_report local;
    if (!rep)
        rep = &local;
    memset(rep, 0, sizeof(*rep));
    int rc = mb_registry_name_check(in->name, err);
    if (rc)
        return rc;
    if (in->nkeys == 0)
        return mb_fail(err, MB_E_USAGE,
                       "registry '%s': no public key given (no key, no registry: pin the "
                       "maintainer's key with --key or --key-file)",
                       in->name);
    if (in->nkeys > MB_REGISTRY_MAX_KEYS || in->nmirrors > MB_REGISTRY_MAX_MIRRORS)
        return mb_fail(err, MB_E_LIMIT, "registry '%s': too many keys or mirrors", in->name);
    if (mb_config_find(&c->cfg, in->name))
        return mb_fail(err, MB_E_EXISTS,
                       "a registry named '%s' is already configured (remove it first)", in->name);
    /* A private copy with normalised URLs. */
    struct mb_registry_conf conf;
    memset(&conf, 0, sizeof(conf));
    conf.name = mb_strdup(in->name);
    conf.mirrors = mb_calloc(in->nmirrors ? in->nmirrors : 1, sizeof(char *));
    if (!conf.name || !conf.mirrors) {
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        goto out;
    }
    rc = mb_registry_url_normalize(in->url, &conf.url, err);
    for (size_t i = 0; !rc && i < in->nmirrors; i++) {
        rc = mb_registry_url_normalize(in->mirrors[i], &conf.mirrors[i], err);
        conf.nmirrors += !rc;
    }
    if (rc)
        goto out;
    memcpy(conf.keys, in->keys, sizeof(conf.keys));
    conf.nkeys = in->nkeys;
    conf.threshold = in->threshold ? in->threshold : 1;
    conf.priority = in->priority;
    if (conf.threshold > conf.nkeys) {
        rc = mb_fail(err, MB_E_USAGE, "threshold %u is more than the %zu pinned key(s)",
                     conf.threshold, conf.nkeys);
        goto out;
    }
    struct regstate r;
    rc = regstate_setup(c, &r, &conf, err);
    if (!rc) {
        /* A leftover cache of an earlier registry by this name is not trusted. */
        rc = mb_rm_rf(r.dir, err);
    }
    if (!rc) {
        r.loaded = true;
        rc = update_one(c, &r, rep, err);
    }
    if (!rc) {
        rc = mb_config_add(&c->cfg, &conf, err);
        if (!rc)
            rc = mb_config_save(c->home, &c->cfg, err);
        if (rc) {
            mb_config_remove(&c->cfg, conf.name, NULL);
            mb_rm_rf(r.dir, NULL);
        }
    } else if (r.dir) {
        struct mb_err ignore;
        mb_rm_rf(r.dir, &ignore);
    }
    rep->source = NULL; /* it pointed into `conf` */
    regstate_release(&r);
    if (!rc)
        rc = build_regs(c, err);
out:
    mb_registry_conf_release(&conf);
    return rc;
}

int mb_client_remove(struct mb_client *c, const char *name, struct mb_err *err)
{
    struct regstate *r = mb_client_reg(c, name);
    if (!r)
        return mb_fail(err, MB_E_NOTFOUND,
                       "no registry named '%s' is configured (see 'modularbase registry list')",
                       name);
    char *dir = mb_strdup(r->dir);
    if (!dir)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    int rc = mb_config_remove(&c->cfg, name, err);
    if (!rc)
        rc = mb_config_save(c->home, &c->cfg, err);
    if (!rc)
        rc = mb_rm_rf(dir, err);
    mb_free(dir);
    if (!rc)
        rc = build_regs(c, err);
    return rc;
}

int mb_client_status(struct mb_client *c, const char *name, struct mb_registry_status *out,
                     struct mb_err *err)
{
    memset(out, 0, sizeof(*out));
    struct regstate *r = mb_client_reg(c, name);
    if (!r)
        return mb_fail(err, MB_E_NOTFOUND, "no registry named '%s' is configured", name);
    int rc = mb_client_load_trusted(c, r, err);
    if (rc)
        return rc;
    if (!r->have)
        return 0;
    out->have_snapshot = true;
    out->version = r->snap.version;
    out->timestamp = r->snap.timestamp;
    out->expires = r->snap.expires;
    out->npacks = r->snap.npacks;
    out->npublishers = r->meta.npublishers;
    mb_strlcpy(out->remote_name, r->snap.name, sizeof(out->remote_name));
    char **ids = NULL;
    size_t n = 0;
    rc = cached_ids(r, &ids, &n, err);
    for (size_t i = 0; i < n; i++)
        mb_free(ids[i]);
    mb_free(ids);
    out->index_cached = n;
    return rc;
}
