/*
 * store_verify.c - checking installed packs against state.json (`pack verify
 * [ID...]`: every recorded file re-hashed, missing and unexpected files
 * reported) and rebuilding state.json from packs/ when it is damaged or lost
 * (`pack verify --repair`), from each pack directory's pack.yaml, its copy of
 * the archive's MANIFEST.sha256 and its install receipt.
 */
#include "store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>

const char *mb_store_problem_name(enum mb_store_problem_kind k)
{
    switch (k) {
    case MB_STORE_MODIFIED:
        return "modified";
    case MB_STORE_MISSING:
        return "missing";
    case MB_STORE_EXTRA:
        return "extra";
    case MB_STORE_NODIR:
        return "missing directory";
    }
    return "?";
}

void mb_store_verify_result_release(struct mb_store_verify_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        mb_free(r->v[i].id);
        mb_free(r->v[i].version);
        mb_free(r->v[i].path);
    }
    mb_free(r->v);
    memset(r, 0, sizeof(*r));
}

static int add_problem(struct mb_store_verify_result *r, const struct mb_store_pack *p,
                       const char *path, enum mb_store_problem_kind k, struct mb_err *err)
{
    if (r->n >= 1000000)
        return mb_fail(err, MB_E_LIMIT, "more than a million problems");
    struct mb_store_problem *v = mb_reallocarray(r->v, r->n + 1, sizeof(*v));
    if (!v)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    r->v = v;
    struct mb_store_problem *q = &v[r->n];
    q->id = mb_strdup(p->id);
    q->version = mb_strdup(p->version);
    q->path = mb_strdup(path);
    q->kind = k;
    if (!q->id || !q->version || !q->path) {
        mb_free(q->id);
        mb_free(q->version);
        mb_free(q->path);
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    r->n++;
    return 0;
}

static bool listed(const struct mb_store_pack *p, const char *rel, bool *is_parent)
{
    size_t len = strlen(rel);
    *is_parent = false;
    for (size_t i = 0; i < p->nfiles; i++) {
        if (!strcmp(p->files[i].path, rel))
            return true;
        if (!strncmp(p->files[i].path, rel, len) && p->files[i].path[len] == '/')
            *is_parent = true;
    }
    return false;
}

/* Report files under dir/rel that the pack did not install. */
static int find_extra(const char *dir, const char *rel, const struct mb_store_pack *p,
                      struct mb_store_verify_result *r, int depth, struct mb_err *err)
{
    char path[STORE_PATH_MAX];
    if (!mb_snprintf(path, sizeof(path), "%s%s%s", dir, *rel ? "/" : "", rel))
        return mb_fail(err, MB_E_LIMIT, "path too long: '%s'", dir);
    DIR *d = opendir(path);
    if (!d)
        return 0; /* gone meanwhile: reported as missing files */
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char sub[STORE_PATH_MAX];
        if (!mb_snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", de->d_name)) {
            rc = mb_fail(err, MB_E_LIMIT, "path too long under '%s'", path);
            break;
        }
        if (!*rel &&
            (!strcmp(de->d_name, MB_ARCHIVE_MANIFEST) || !strcmp(de->d_name, STORE_RECEIPT)))
            continue;
        bool parent;
        bool is_file = listed(p, sub, &parent);
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (S_ISDIR(st.st_mode) && parent && depth < 64)
            rc = find_extra(dir, sub, p, r, depth + 1, err);
        else if (!is_file)
            rc = add_problem(r, p, sub, MB_STORE_EXTRA, err);
    }
    closedir(d);
    return rc;
}

static int verify_pack(const char *home, const struct mb_store_pack *p,
                       const struct mb_progress *progress, struct mb_store_verify_result *r,
                       struct mb_err *err)
{
    char dir[STORE_PATH_MAX];
    if (!mb_store_pack_dir(dir, sizeof(dir), home, p->id, p->version))
        return mb_fail(err, MB_E_LIMIT, "path too long: '%s'", home);
    r->packs_checked++;
    if (!mb_is_dir(dir))
        return add_problem(r, p, "", MB_STORE_NODIR, err);
    char label[160];
    snprintf(label, sizeof(label), "verifying %s %s", p->id, p->version);
    uint64_t done = 0;
    for (size_t i = 0; i < p->nfiles; i++) {
        if (mb_interrupted)
            return mb_fail(err, MB_E_INTERRUPTED, "interrupted");
        const struct mb_store_file *f = &p->files[i];
        char path[STORE_PATH_MAX];
        if (!mb_snprintf(path, sizeof(path), "%s/%s", dir, f->path))
            return mb_fail(err, MB_E_LIMIT, "path too long: '%s'", dir);
        r->files_checked++;
        struct stat st;
        int rc = 0;
        if (lstat(path, &st) != 0)
            rc = add_problem(r, p, f->path, MB_STORE_MISSING, err);
        else if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != f->size)
            rc = add_problem(r, p, f->path, MB_STORE_MODIFIED, err);
        else {
            uint8_t h[MB_SHA256_LEN];
            char hex[MB_SHA256_HEX];
            struct mb_err e;
            if (mb_sha256_file(path, h, NULL, &e)) {
                rc = add_problem(r, p, f->path, MB_STORE_MODIFIED, err);
            } else {
                mb_hex_encode(h, MB_SHA256_LEN, hex);
                r->bytes_hashed += f->size;
                if (strcmp(hex, f->sha256))
                    rc = add_problem(r, p, f->path, MB_STORE_MODIFIED, err);
            }
        }
        if (rc)
            return rc;
        done += f->size;
        mb_progress_report(progress, label, done, p->size);
    }
    return find_extra(dir, "", p, r, 0, err);
}

int mb_store_verify(const char *home, const char *const *ids, size_t n,
                    const struct mb_progress *progress, struct mb_store_verify_result *r,
                    struct mb_err *err)
{
    memset(r, 0, sizeof(*r));
    struct mb_store_state st;
    int rc = mb_store_state_load(home, &st, err);
    if (rc)
        return rc;
    for (size_t i = 0; !rc && i < n; i++)
        if (!mb_store_state_find(&st, ids[i]))
            rc = mb_fail(err, MB_E_NOTFOUND, "'%s' is not installed", ids[i]);
    for (size_t i = 0; !rc && i < st.n; i++) {
        bool want = n == 0;
        for (size_t j = 0; j < n; j++)
            want |= !strcmp(ids[j], st.packs[i].id);
        if (want)
            rc = verify_pack(home, &st.packs[i], progress, r, err);
    }
    mb_store_state_release(&st);
    return rc;
}

/* ------------------------------------------------------------ repair */

/* What the receipt says (all optional). */
static void read_receipt(const char *dir, struct mb_store_pack *p)
{
    char *path = mb_path_join(dir, STORE_RECEIPT);
    struct mb_buf b;
    if (!path || mb_file_read_all(path, 65536, &b, NULL)) {
        mb_free(path);
        return;
    }
    mb_free(path);
    json_t *o = json_loadb(b.p, b.n, JSON_REJECT_DUPLICATES, NULL);
    mb_buf_release(&b);
    if (!json_is_object(o)) {
        json_decref(o);
        return;
    }
    enum mb_store_source src;
    const char *s = json_string_value(json_object_get(o, "source"));
    const char *reg = json_string_value(json_object_get(o, "registry"));
    const char *origin = json_string_value(json_object_get(o, "origin"));
    const char *sha = json_string_value(json_object_get(o, "archive_sha256"));
    const char *when = json_string_value(json_object_get(o, "installed"));
    json_t *size = json_object_get(o, "archive_size");
    struct mb_err e;
    bool src_ok = false;
    for (int i = MB_STORE_SRC_REGISTRY; s && i <= MB_STORE_SRC_BUNDLE; i++)
        if (!strcmp(s, mb_store_source_name((enum mb_store_source)i))) {
            src = (enum mb_store_source)i;
            src_ok = true;
        }
    if (src_ok && (src != MB_STORE_SRC_REGISTRY || (reg && !mb_pack_id_check(reg, &e)))) {
        p->source = src;
        p->registry = src == MB_STORE_SRC_REGISTRY ? mb_strdup(reg) : NULL;
    }
    if (origin && strlen(origin) < STORE_PATH_MAX)
        p->origin = mb_strdup(origin);
    uint8_t raw[MB_SHA256_LEN];
    if (sha && strlen(sha) == 64 && mb_hex_decode(sha, raw, MB_SHA256_LEN))
        mb_hex_encode(raw, MB_SHA256_LEN, p->archive_sha256);
    if (json_is_integer(size) && json_integer_value(size) >= 0)
        p->archive_size = (uint64_t)json_integer_value(size);
    int64_t t;
    if (when && mb_time_parse_utc(when, &t))
        p->installed_at = t;
    json_decref(o);
}

/* Build a state entry from packs/<id>/<version>; MB_E_FORMAT with a reason when it is not a pack.
 */
static int scan_pack(const char *home, const char *id, const char *version, struct mb_store_pack *p,
                     struct mb_err *err)
{
    memset(p, 0, sizeof(*p));
    char dir[STORE_PATH_MAX];
    if (!mb_store_pack_dir(dir, sizeof(dir), home, id, version))
        return mb_fail(err, MB_E_LIMIT, "path too long");
    char *yaml = mb_path_join(dir, "pack.yaml");
    char *man = mb_path_join(dir, MB_ARCHIVE_MANIFEST);
    struct mb_manifest m;
    mb_manifest_init(&m);
    struct mb_buf b;
    mb_buf_init(&b, 0);
    struct mb_archive_info info;
    mb_archive_info_init(&info);
    struct mb_archive_limits lim;
    mb_archive_limits_default(&lim);
    int rc = yaml && man ? 0 : mb_fail(err, MB_E_NOMEM, "out of memory");
    if (!rc)
        rc = mb_manifest_load(yaml, &m, err);
    if (!rc && (strcmp(m.id, id) || strcmp(m.version_text, version)))
        rc = mb_fail(err, MB_E_FORMAT, "%s names '%s' %s, not '%s' %s", yaml, m.id, m.version_text,
                     id, version);
    if (!rc)
        rc = mb_file_read_all(man, lim.max_manifest, &b, err);
    if (!rc)
        rc = mb_archive_manifest_parse(b.p, b.n, &lim, &info, err);
    if (!rc) {
        p->id = mb_strdup(id);
        p->version = mb_strdup(version);
        p->kind = m.kind;
        p->resident = m.resident;
        p->automatic = false;
        p->source = MB_STORE_SRC_REPAIR;
        p->weights = m.weights_file ? mb_strdup(m.weights_file) : NULL;
        p->size = info.total_size;
        p->files = mb_calloc(info.n_entries ? info.n_entries : 1, sizeof(*p->files));
        if (!p->id || !p->version || !p->files || (m.weights_file && !p->weights))
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        for (size_t i = 0; !rc && i < info.n_entries; i++) {
            p->files[i].path = mb_strdup(info.entries[i].path);
            p->files[i].size = info.entries[i].size;
            mb_hex_encode(info.entries[i].sha256, MB_SHA256_LEN, p->files[i].sha256);
            p->nfiles = i + 1;
            if (!p->files[i].path)
                rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        }
        if (!rc)
            read_receipt(dir, p);
        if (!rc && !p->installed_at) {
            struct stat st;
            p->installed_at = stat(dir, &st) == 0 ? (int64_t)st.st_mtime : mb_unix_time();
        }
    }
    mb_free(yaml);
    mb_free(man);
    mb_manifest_release(&m);
    mb_buf_release(&b);
    mb_archive_info_release(&info);
    if (rc)
        mb_store_pack_release(p);
    return rc;
}

static int pack_cmp(const void *a, const void *b)
{
    return strcmp(((const struct mb_store_pack *)a)->id, ((const struct mb_store_pack *)b)->id);
}

struct repair_log {
    struct mb_buf b;
    size_t packs, leftovers, ignored;
};

/* Scan packs/<id>/: the newest valid version is kept, older valid ones are crash debris. */
static int scan_id(const char *home, const char *id, struct mb_store_state *ns,
                   struct repair_log *log, struct mb_err *err)
{
    char idir[STORE_PATH_MAX];
    if (!mb_store_path(idir, sizeof(idir), home, STORE_PACKS, id))
        return mb_fail(err, MB_E_LIMIT, "path too long");
    DIR *d = opendir(idir);
    if (!d)
        return 0;
    struct mb_store_pack best;
    memset(&best, 0, sizeof(best));
    struct mb_semver bestv;
    int rc = 0;
    struct dirent *de;
    char **older = NULL;
    size_t nolder = 0;
    while (!rc && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        struct mb_semver v;
        struct mb_err e;
        struct mb_store_pack p;
        if (mb_semver_parse_cstr(de->d_name, &v, &e) || scan_pack(home, id, de->d_name, &p, &e)) {
            log->ignored++;
            mb_buf_appendf(&log->b, NULL, "\n  ignored packs/%s/%s: %s", id, de->d_name,
                           e.code ? e.msg : "not a version");
            continue;
        }
        struct mb_semver pv;
        mb_semver_parse_cstr(p.version, &pv, NULL);
        char *loser = NULL;
        if (!best.id || mb_semver_cmp(&pv, &bestv) > 0) {
            if (best.id)
                loser = mb_strdup(best.version);
            mb_store_pack_release(&best);
            best = p;
            mb_semver_parse_cstr(best.version, &bestv, NULL);
        } else {
            loser = mb_strdup(p.version);
            mb_store_pack_release(&p);
        }
        if (loser) {
            char **nv = mb_reallocarray(older, nolder + 1, sizeof(*nv));
            if (!nv) {
                mb_free(loser);
                rc = mb_fail(err, MB_E_NOMEM, "out of memory");
            } else {
                older = nv;
                older[nolder++] = loser;
            }
        }
    }
    closedir(d);
    for (size_t i = 0; i < nolder; i++) {
        char dir[STORE_PATH_MAX];
        if (!rc && mb_store_pack_dir(dir, sizeof(dir), home, id, older[i])) {
            rc = mb_rm_rf(dir, err);
            log->leftovers++;
            mb_buf_appendf(&log->b, NULL, "\n  removed packs/%s/%s (an older copy)", id, older[i]);
        }
        mb_free(older[i]);
    }
    mb_free(older);
    if (!rc && best.id) {
        ns->packs[ns->n++] = best;
        log->packs++;
    } else {
        mb_store_pack_release(&best);
    }
    return rc;
}

int mb_store_repair(const char *home, const struct mb_store_open_opts *opts, char **note,
                    struct mb_err *err)
{
    if (note)
        *note = NULL;
    char *h = NULL;
    int rc = 0;
    if (!home) {
        rc = mb_home_resolve(NULL, &h, err);
        if (rc)
            return rc;
        home = h;
    }
    int fd = -1;
    char packs[STORE_PATH_MAX], staging[STORE_PATH_MAX], spath[STORE_PATH_MAX],
        bak[STORE_PATH_MAX + 8];
    if (!mb_store_path(packs, sizeof(packs), home, STORE_PACKS, NULL) ||
        !mb_store_path(staging, sizeof(staging), home, STORE_STAGING, NULL) ||
        !mb_store_path(spath, sizeof(spath), home, STORE_STATE, NULL) ||
        !mb_snprintf(bak, sizeof(bak), "%s.bak", spath))
        rc = mb_fail(err, MB_E_LIMIT, "path too long: '%s'", home);
    if (!rc)
        rc = mb_mkdir_p(packs, 0755, err);
    if (!rc)
        rc = mb_store_lock_take(home, opts, &fd, err);
    struct mb_store_world world;
    mb_store_world_init(&world);
    struct mb_err werr;
    mb_err_init(&werr);
    bool have_world = false;
    char wpath[STORE_PATH_MAX];
    if (!rc && mb_store_path(wpath, sizeof(wpath), home, STORE_WORLD, NULL))
        have_world = mb_path_exists(wpath) && !mb_store_world_load(home, &world, NULL, &werr);
    struct repair_log log;
    memset(&log, 0, sizeof(log));
    mb_buf_init(&log.b, 1u << 20);
    struct mb_store_state ns;
    mb_store_state_init(&ns);
    size_t cap = 0;
    DIR *d = rc ? NULL : opendir(packs);
    if (!rc && !d)
        rc = mb_fail_errno(err, errno, "cannot read '%s'", packs);
    struct dirent *de;
    while (!rc && d && (de = readdir(d))) {
        struct mb_err e;
        if (de->d_name[0] == '.' || mb_pack_id_check(de->d_name, &e))
            continue;
        if (ns.n == cap) {
            cap = cap ? cap * 2 : 16;
            struct mb_store_pack *v = mb_reallocarray(ns.packs, cap, sizeof(*v));
            if (!v) {
                rc = mb_fail(err, MB_E_NOMEM, "out of memory");
                break;
            }
            ns.packs = v;
        }
        rc = scan_id(home, de->d_name, &ns, &log, err);
    }
    if (d)
        closedir(d);
    char txid[96];
    mb_store_new_txid(txid, sizeof(txid));
    if (!rc) {
        qsort(ns.packs, ns.n, sizeof(*ns.packs), pack_cmp);
        ns.txid = mb_strdup(txid);
        for (size_t i = 0; i < ns.n; i++)
            ns.packs[i].automatic = have_world && !mb_store_world_find(&world, ns.packs[i].id);
        /* Keep the old file for inspection, then commit the rebuilt one. */
        if (mb_path_exists(spath) && rename(spath, bak) != 0)
            rc = mb_fail_errno(err, errno, "cannot rename '%s'", spath);
    }
    if (!rc)
        rc = mb_store_state_save(home, &ns, err);
    /* Without a world, every pack is one the user wanted: write that down. */
    if (!rc && !have_world) {
        struct mb_store_world w;
        mb_store_world_init(&w);
        struct mb_buf wb;
        mb_buf_init(&wb, MB_STORE_MAX_WORLD);
        for (size_t i = 0; !rc && i < ns.n; i++)
            rc = mb_store_world_put(&w, ns.packs[i].id, NULL, err);
        if (!rc)
            rc = mb_store_world_emit(&w, &wb, err);
        if (!rc)
            rc = mb_store_world_save(home, wb.p, wb.n, err);
        mb_buf_release(&wb);
        mb_store_world_release(&w);
    }
    if (!rc) {
        mb_rm_rf(staging, NULL);
        rc = mb_store_journal_remove(home, err);
    }
    if (!rc && note) {
        struct mb_buf b;
        mb_buf_init(&b, 2u << 20);
        mb_buf_appendf(&b, NULL, "rebuilt %s from %s: %zu pack%s%s (old file kept as %s.bak)%s%s",
                       STORE_STATE, packs, log.packs, log.packs == 1 ? "" : "s",
                       have_world ? "" : ", all marked as explicitly installed", STORE_STATE,
                       werr.code ? "; the world file is damaged and was ignored: " : "",
                       werr.code ? werr.msg : "");
        if (log.b.p)
            mb_buf_append(&b, log.b.p, log.b.n, NULL);
        *note = mb_buf_detach(&b, NULL);
    }
    mb_buf_release(&log.b);
    mb_store_state_release(&ns);
    mb_store_world_release(&world);
    mb_store_lock_drop(fd);
    mb_free(h);
    return rc;
}
