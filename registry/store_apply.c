/*
 * store_apply.c - running a planned transaction (mb_store.h has the steps):
 * fetch and verify every archive, check the disk space, write the journal,
 * unpack each pack into staging/<txid>/ (every file hashed against the
 * archive's MANIFEST.sha256), check each unpacked pack.yaml
 * against the plan, rename the directories into packs/, then commit by
 * replacing state.json, write the world, and remove what was replaced.
 * Any failure before the commit undoes everything; after it, the cleanup is
 * finished here or by the next writer's recovery.
 *
 * Durability without an fsync per file: files are written without fsync and
 * one syncfs() of the store's file system makes everything staged durable
 * before the renames, a second one makes the renames durable before the
 * commit (state.json is written with fsync + rename + fsync of the directory).
 * Installing 50 small packs so costs a few flushes instead of hundreds.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

struct staged {
    const struct mb_store_item *it;
    char *archive;               /* the .mbpack to unpack (owned copy) */
    char dir[STORE_PATH_MAX];    /* staging/<txid>/<id>@<version> */
    char target[STORE_PATH_MAX]; /* packs/<id>/<version> */
    bool extracted;
    bool renamed;
    struct mb_store_pack pack; /* the new state entry */
};

struct txn {
    struct mb_store *st;
    const struct mb_store_plan *plan;
    const struct mb_store_apply_opts *opts;
    char txid[96];
    char staging[STORE_PATH_MAX]; /* staging/<txid> */
    char packs[STORE_PATH_MAX];
    struct staged *s;
    size_t ns;
    bool journal_written;
};

static bool is_add(const struct mb_store_item *it)
{
    return it->action == MB_PLAN_INSTALL || it->action == MB_PLAN_UPGRADE ||
           it->action == MB_PLAN_DOWNGRADE || it->reinstall;
}

static void txn_release(struct txn *t)
{
    for (size_t i = 0; i < t->ns; i++) {
        mb_free(t->s[i].archive);
        mb_store_pack_release(&t->s[i].pack);
    }
    mb_free(t->s);
}

/* ------------------------------------------------------------ fetch */

static int fetch_all(struct txn *t, struct mb_err *err)
{
    size_t n = 0;
    for (size_t i = 0; i < t->ns; i++)
        n += t->s[i].it->source == MB_STORE_SRC_REGISTRY;
    for (size_t i = 0; i < t->ns; i++) {
        const struct mb_store_item *it = t->s[i].it;
        if (it->source == MB_STORE_SRC_FILE) {
            t->s[i].archive = mb_strdup(it->archive);
            if (!t->s[i].archive)
                return mb_fail(err, MB_E_NOMEM, "out of memory");
        }
    }
    if (n == 0)
        return 0;
    const struct mb_store_remote *r = t->opts ? t->opts->remote : NULL;
    if (!r || !r->fetch)
        return mb_fail(err, MB_E_INTERNAL, "the plan needs a registry, but none was given");
    struct mb_store_fetch_item *items = mb_calloc(n, sizeof(*items));
    char **paths = mb_calloc(n, sizeof(*paths));
    size_t *which = mb_calloc(n, sizeof(*which));
    int rc = items && paths && which ? 0 : mb_fail(err, MB_E_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; !rc && i < t->ns; i++) {
        const struct mb_store_item *it = t->s[i].it;
        if (it->source != MB_STORE_SRC_REGISTRY)
            continue;
        items[k] = (struct mb_store_fetch_item){ it->registry, it->id,     it->version,
                                                 it->archive,  it->sha256, it->archive_size };
        which[k++] = i;
    }
    if (!rc)
        rc = r->fetch(r->ud, items, n, paths, t->opts ? &t->opts->progress : NULL, err);
    for (size_t j = 0; j < n && paths; j++) {
        if (!rc)
            t->s[which[j]].archive = paths[j];
        else
            mb_free(paths[j]);
    }
    mb_free(items);
    mb_free(paths);
    mb_free(which);
    return rc;
}

/* ------------------------------------------------------------ space */

static int check_space(struct txn *t, struct mb_err *err)
{
    uint64_t need = 0;
    for (size_t i = 0; i < t->ns; i++) {
        const struct mb_store_item *it = t->s[i].it;
        uint64_t sz = it->unpacked_size;
        if (!it->unpacked_known && t->s[i].archive) {
            /* A downloaded archive: its MANIFEST.sha256 gives the exact size. */
            struct store_head h;
            if (!store_head_read(t->s[i].archive, &h, NULL)) {
                sz = h.info.total_size;
                store_head_release(&h);
            }
        }
        if (it->source == MB_STORE_SRC_BUNDLE)
            sz += it->archive_size; /* copied out of the bundle first */
        if (!mb_add_u64_ok(need, sz, &need))
            need = UINT64_MAX;
    }
    struct statvfs vs;
    if (statvfs(t->packs, &vs) != 0)
        return 0; /* unknown: let the writes tell */
    uint64_t avail = (uint64_t)vs.f_bavail * (uint64_t)vs.f_frsize;
    /* Leave a little room for state.json and the journal. */
    uint64_t slack = 1u << 20;
    if (need > UINT64_MAX - slack || need + slack > avail) {
        char a[32], b[32];
        return mb_fail(err, MB_E_NOSPACE,
                       "no space left on the device of '%s': the packs need %s unpacked, %s is "
                       "available; nothing was changed",
                       t->st->home, mb_format_size(need, a, sizeof(a)),
                       mb_format_size(avail, b, sizeof(b)));
    }
    return 0;
}

/* ------------------------------------------------------------ journal */

static int write_journal(struct txn *t, struct mb_err *err)
{
    struct mb_store_journal j;
    memset(&j, 0, sizeof(j));
    struct mb_buf w;
    mb_buf_init(&w, MB_STORE_MAX_WORLD);
    int rc = mb_store_world_emit(&t->plan->world, &w, err);
    if (!rc && !w.p)
        rc = mb_buf_reserve(&w, 0, err);
    size_t nadd = 0, ndel = 0;
    for (size_t i = 0; i < t->plan->n; i++) {
        const struct mb_store_item *it = &t->plan->items[i];
        nadd += is_add(it);
        ndel += it->action == MB_PLAN_REMOVE ||
                (it->from_version &&
                 (it->action == MB_PLAN_UPGRADE || it->action == MB_PLAN_DOWNGRADE));
    }
    j.add = mb_calloc(nadd ? nadd : 1, sizeof(*j.add));
    j.del = mb_calloc(ndel ? ndel : 1, sizeof(*j.del));
    if (!rc && (!j.add || !j.del))
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
    /* Borrowed strings: the journal struct is not released, only its arrays. */
    for (size_t i = 0; !rc && i < t->plan->n; i++) {
        struct mb_store_item *it = &t->plan->items[i];
        if (is_add(it))
            j.add[j.nadd++] = (struct journal_pack){ it->id, it->version };
        if (it->action == MB_PLAN_REMOVE)
            j.del[j.ndel++] = (struct journal_pack){ it->id, it->version };
        else if (it->from_version &&
                 (it->action == MB_PLAN_UPGRADE || it->action == MB_PLAN_DOWNGRADE))
            j.del[j.ndel++] = (struct journal_pack){ it->id, it->from_version };
    }
    if (!rc) {
        j.txid = t->txid;
        j.operation = t->plan->operation;
        j.pid = (long)getpid();
        j.world_old = t->st->world_text;
        j.world_new = w.p;
        rc = mb_store_journal_write(t->st->home, &j, err);
    }
    mb_free(j.add);
    mb_free(j.del);
    mb_buf_release(&w);
    if (!rc)
        t->journal_written = true;
    return rc;
}

/* ------------------------------------------------------------ durability */

/* Write a new file without fsync (the transaction flushes the file system once). */
static int write_new(const char *path, const void *data, size_t n, struct mb_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return mb_fail_errno(err, errno, "cannot create '%s'", path);
    const char *p = data;
    int rc = 0;
    while (!rc && n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            rc = mb_fail_errno(err, errno, "cannot write '%s'", path);
        else {
            p += w;
            n -= (size_t)w;
        }
    }
    if (close(fd) != 0 && !rc)
        rc = mb_fail_errno(err, errno, "cannot close '%s'", path);
    if (rc)
        unlink(path);
    return rc;
}

/* Flush every dirty page and inode of the file system holding `dir` (syncfs). */
static int flush_fs(const char *dir, struct mb_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return mb_fail_errno(err, errno, "cannot open '%s'", dir);
    int rc = 0;
    if (syscall(SYS_syncfs, fd) != 0)
        rc = mb_fail_errno(err, errno, "cannot flush the file system of '%s' (syncfs)", dir);
    close(fd);
    return rc;
}

/* ------------------------------------------------------------ unpacking */

struct unpack_progress {
    const struct mb_progress *outer;
    char label[160];
    bool fired;
};

static void unpack_progress_fn(void *ud, const char *label, uint64_t done, uint64_t total)
{
    struct unpack_progress *p = ud;
    (void)label;
    if (!p->fired && total && done * 2 >= total) {
        p->fired = true;
        mb_store_fault("during-unpack");
    }
    mb_progress_report(p->outer, p->label, done, total);
}

static int copy_bundles(struct txn *t, struct mb_err *err)
{
    for (size_t i = 0; i < t->ns; i++) {
        struct staged *s = &t->s[i];
        if (s->it->source != MB_STORE_SRC_BUNDLE || s->archive)
            continue;
        /* Every member of this bundle in one pass over it. */
        const char *members[64], *dests[64], *shas[64];
        uint64_t sizes[64];
        size_t n = 0;
        for (size_t k = i; k < t->ns && n < 64; k++) {
            struct staged *q = &t->s[k];
            if (q->it->source != MB_STORE_SRC_BUNDLE || q->archive ||
                strcmp(q->it->archive, s->it->archive))
                continue;
            char path[STORE_PATH_MAX];
            if (!mb_snprintf(path, sizeof(path), "%s/%s-%s.mbpack", t->staging, q->it->id,
                             q->it->version))
                return mb_fail(err, MB_E_LIMIT, "path too long: '%s'", t->staging);
            q->archive = mb_strdup(path);
            if (!q->archive)
                return mb_fail(err, MB_E_NOMEM, "out of memory");
            members[n] = q->it->bundle_member;
            dests[n] = q->archive;
            shas[n] = q->it->sha256;
            sizes[n] = q->it->archive_size;
            n++;
        }
        int rc = store_bundle_extract(s->it->archive, members, dests, shas, sizes, n, err);
        if (rc == MB_E_NOSPACE)
            return mb_err_prefix(err,
                                 "no space left on '%s' while copying packs out of the "
                                 "bundle; nothing was changed",
                                 t->st->home);
        if (rc)
            return rc;
    }
    mb_store_fault("after-bundle-copy");
    return 0;
}

static int write_receipt(struct staged *s, struct mb_err *err)
{
    char when[64];
    mb_time_format_utc(s->pack.installed_at, when, sizeof(when));
    json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:s?, s:s?, s:s, s:I, s:s}", "format", 1, "id",
                          s->pack.id, "version", s->pack.version, "source",
                          mb_store_source_name(s->pack.source), "registry", s->pack.registry,
                          "origin", s->pack.origin, "archive_sha256", s->pack.archive_sha256,
                          "archive_size", (json_int_t)s->pack.archive_size, "installed", when);
    char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!text)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    char *path = mb_path_join(s->dir, STORE_RECEIPT);
    int rc =
        path ? write_new(path, text, strlen(text), err) : mb_fail(err, MB_E_NOMEM, "out of memory");
    mb_free(path);
    free(text); /* jansson's allocation */
    return rc;
}

/* Check what was unpacked against the plan and build the new state entry. */
static int finish_staged(struct txn *t, struct staged *s, const struct mb_archive_info *info,
                         struct mb_err *err)
{
    const struct mb_store_item *it = s->it;
    for (size_t i = 0; i < info->n_entries; i++)
        if (!strcmp(info->entries[i].path, STORE_RECEIPT))
            return mb_fail(err, MB_E_FORMAT, "%s: member '%s' uses a name reserved for the store",
                           s->archive, STORE_RECEIPT);
    char *yaml = mb_path_join(s->dir, "pack.yaml");
    if (!yaml)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    struct mb_manifest m;
    int rc = mb_manifest_load(yaml, &m, err);
    mb_free(yaml);
    if (rc)
        return mb_err_prefix(err, "%s", s->archive);
    if (strcmp(m.id, it->id) || strcmp(m.version_text, it->version) || m.kind != it->kind)
        rc = mb_fail(err, MB_E_INTEGRITY,
                     "%s: the archive holds %s pack '%s' %s, but '%s' %s (%s) was expected",
                     s->archive, mb_pack_kind_name(m.kind), m.id, m.version_text, it->id,
                     it->version, mb_pack_kind_name(it->kind));
    bool have_weights = !m.weights_file;
    for (size_t i = 0; !rc && m.weights_file && i < info->n_entries; i++)
        have_weights |= !strcmp(info->entries[i].path, m.weights_file);
    if (!rc && !have_weights)
        rc = mb_fail(err, MB_E_FORMAT, "%s: pack.yaml names weights '%s', which the archive lacks",
                     s->archive, m.weights_file);
    struct mb_store_pack *p = &s->pack;
    if (!rc) {
        p->id = mb_strdup(it->id);
        p->version = mb_strdup(it->version);
        p->kind = it->kind;
        p->automatic = it->automatic;
        p->resident = m.resident;
        p->source = it->source;
        p->registry = it->registry ? mb_strdup(it->registry) : NULL;
        p->weights = m.weights_file ? mb_strdup(m.weights_file) : NULL;
        p->size = info->total_size;
        p->installed_at = mb_unix_time();
        p->archive_size = info->archive_size;
        bool have_sha = false;
        for (size_t i = 0; i < MB_SHA256_LEN; i++)
            have_sha |= info->sha256[i] != 0;
        if (have_sha)
            mb_hex_encode(info->sha256, MB_SHA256_LEN, p->archive_sha256);
        else
            memcpy(p->archive_sha256, it->sha256, MB_SHA256_HEX);
        if (it->source == MB_STORE_SRC_REGISTRY && t->opts->remote && t->opts->remote->url) {
            struct mb_store_fetch_item fi = { it->registry, it->id,     it->version,
                                              it->archive,  it->sha256, it->archive_size };
            p->origin = t->opts->remote->url(t->opts->remote->ud, &fi);
        } else {
            p->origin = mb_strdup(it->origin ? it->origin : it->archive);
        }
        p->files = mb_calloc(info->n_entries ? info->n_entries : 1, sizeof(*p->files));
        if (!p->id || !p->version || !p->files || !p->origin || (it->registry && !p->registry) ||
            (m.weights_file && !p->weights))
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        for (size_t i = 0; !rc && i < info->n_entries; i++) {
            p->files[i].path = mb_strdup(info->entries[i].path);
            p->files[i].size = info->entries[i].size;
            mb_hex_encode(info->entries[i].sha256, MB_SHA256_LEN, p->files[i].sha256);
            p->nfiles = i + 1;
            if (!p->files[i].path)
                rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        }
    }
    mb_manifest_release(&m);
    /* The archive's own manifest travels with the pack: `sha256sum -c` works, repair reads it. */
    struct mb_buf b;
    mb_buf_init(&b, 1u << 20);
    if (!rc)
        rc = mb_archive_manifest_format(info->entries, info->n_entries, &b, err);
    char *mpath = rc ? NULL : mb_path_join(s->dir, MB_ARCHIVE_MANIFEST);
    if (!rc && !mpath)
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
    if (!rc)
        rc = write_new(mpath, b.p ? b.p : "", b.n, err);
    mb_free(mpath);
    mb_buf_release(&b);
    if (!rc)
        rc = write_receipt(s, err);
    return rc;
}

static int unpack_all(struct txn *t, struct mb_err *err)
{
    for (size_t i = 0; i < t->ns; i++) {
        struct staged *s = &t->s[i];
        const struct mb_store_item *it = s->it;
        if (mb_interrupted)
            return mb_fail(err, MB_E_INTERRUPTED, "interrupted; nothing was changed");
        if (!mb_snprintf(s->dir, sizeof(s->dir), "%s/%s@%s", t->staging, it->id, it->version))
            return mb_fail(err, MB_E_LIMIT, "path too long: '%s'", t->staging);
        struct unpack_progress up = { t->opts ? &t->opts->progress : NULL, "", false };
        snprintf(up.label, sizeof(up.label), "unpacking %s %s", it->id, it->version);
        struct mb_archive_read_opts ro = { NULL,
                                           { unpack_progress_fn, &up },
                                           false,
                                           it->source == MB_STORE_SRC_FILE ? MB_ARCHIVE_HASH_SHA256
                                                                           : 0 };
        struct mb_archive_info info;
        int rc = mb_archive_extract_safe(s->archive, s->dir, &ro, &info, err);
        if (rc == MB_E_NOSPACE && err) {
            char msg[MB_ERR_MSG_MAX];
            mb_strlcpy(msg, err->msg, sizeof(msg));
            rc = mb_fail(err, MB_E_NOSPACE,
                         "no space left on device while unpacking '%s' %s into '%s'; nothing was "
                         "changed (%s)",
                         it->id, it->version, t->staging, msg);
        }
        if (!rc) {
            s->extracted = true;
            rc = finish_staged(t, s, &info, err);
        }
        mb_archive_info_release(&info);
        if (rc)
            return rc;
        mb_store_fault("after-unpack");
    }
    /* Everything staged is durable before anything is renamed into packs/. */
    return t->ns ? flush_fs(t->staging, err) : 0;
}

/* ------------------------------------------------------------ renames */

static int rename_all(struct txn *t, struct mb_err *err)
{
    for (size_t i = 0; i < t->ns; i++) {
        struct staged *s = &t->s[i];
        const struct mb_store_item *it = s->it;
        char parent[STORE_PATH_MAX];
        if (!mb_snprintf(parent, sizeof(parent), "%s/%s", t->packs, it->id) ||
            !mb_store_pack_dir(s->target, sizeof(s->target), t->st->home, it->id, it->version))
            return mb_fail(err, MB_E_LIMIT, "path too long: '%s'", t->packs);
        if (mkdir(parent, 0755) != 0 && errno != EEXIST)
            return mb_fail_errno(err, errno, "cannot create '%s'", parent);
        int rc = 0;
        if (it->reinstall && mb_path_exists(s->target)) {
            /* Swap atomically: readers see the old or the new copy, never neither. */
            if (renameat2(AT_FDCWD, s->dir, AT_FDCWD, s->target, RENAME_EXCHANGE) != 0)
                rc = mb_fail_errno(err, errno, "cannot exchange '%s' with '%s'", s->dir, s->target);
        } else {
            /* Not in state.json (else it would be kept): debris of an old crash. */
            if (mb_path_exists(s->target))
                rc = mb_rm_rf(s->target, err);
            if (!rc && renameat2(AT_FDCWD, s->dir, AT_FDCWD, s->target, RENAME_NOREPLACE) != 0)
                rc = mb_fail_errno(err, errno, "cannot rename '%s' to '%s'", s->dir, s->target);
        }
        if (rc)
            return rc;
        s->renamed = true;
        mb_store_fault("after-rename");
    }
    /* The renames are durable before state.json names them. */
    return t->ns ? flush_fs(t->packs, err) : 0;
}

/* ------------------------------------------------------------ commit */

static const struct mb_store_item *plan_item(const struct mb_store_plan *p, const char *id)
{
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->items[i].id, id))
            return &p->items[i];
    return NULL;
}

static int pack_cmp(const void *a, const void *b)
{
    return strcmp(((const struct mb_store_pack *)a)->id, ((const struct mb_store_pack *)b)->id);
}

/* The state after the transaction: kept packs (with new flags) and the staged ones. */
static int build_state(struct txn *t, struct mb_store_state *ns, struct mb_err *err)
{
    mb_store_state_init(ns);
    const struct mb_store_state *old = &t->st->state;
    size_t cap = old->n + t->ns;
    ns->packs = mb_calloc(cap ? cap : 1, sizeof(*ns->packs));
    ns->txid = mb_strdup(t->txid);
    if (!ns->packs || !ns->txid)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    for (size_t i = 0; i < old->n; i++) {
        const struct mb_store_item *it = plan_item(t->plan, old->packs[i].id);
        if (it && (it->action == MB_PLAN_REMOVE || is_add(it)))
            continue;
        int rc = mb_store_pack_copy(&ns->packs[ns->n], &old->packs[i], err);
        if (rc)
            return rc;
        if (it)
            ns->packs[ns->n].automatic = it->automatic;
        ns->n++;
    }
    for (size_t i = 0; i < t->ns; i++) {
        ns->packs[ns->n++] = t->s[i].pack;
        memset(&t->s[i].pack, 0, sizeof(t->s[i].pack));
    }
    qsort(ns->packs, ns->n, sizeof(*ns->packs), pack_cmp);
    return 0;
}

/* Undo everything before the commit point. */
static void rollback(struct txn *t)
{
    bool ok = true;
    for (size_t i = 0; i < t->ns; i++) {
        struct staged *s = &t->s[i];
        if (!s->renamed || s->it->reinstall)
            continue;
        ok &= mb_rm_rf(s->target, NULL) == 0;
        char *slash = strrchr(s->target, '/');
        if (slash) {
            *slash = '\0';
            rmdir(s->target);
        }
    }
    ok &= mb_rm_rf(t->staging, NULL) == 0;
    /* With the journal left, the next writer's recovery finishes the job. */
    if (ok && t->journal_written)
        mb_store_journal_remove(t->st->home, NULL);
}

/* After the commit: remove replaced versions, staging, the journal. */
static int cleanup(struct txn *t, struct mb_err *err)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < t->plan->n; i++) {
        const struct mb_store_item *it = &t->plan->items[i];
        const char *ver = it->action == MB_PLAN_REMOVE ? it->version
                          : (it->action == MB_PLAN_UPGRADE || it->action == MB_PLAN_DOWNGRADE)
                              ? it->from_version
                              : NULL;
        if (!ver)
            continue;
        char dir[STORE_PATH_MAX];
        if (!mb_store_pack_dir(dir, sizeof(dir), t->st->home, it->id, ver))
            return mb_fail(err, MB_E_LIMIT, "path too long: '%s'", t->st->home);
        rc = mb_rm_rf(dir, err);
        char *slash = strrchr(dir, '/');
        *slash = '\0';
        rmdir(dir);
        mb_store_fault("after-remove");
    }
    if (!rc)
        rc = mb_rm_rf(t->staging, err);
    if (!rc)
        rc = mb_fsync_dir(t->packs, err);
    if (!rc)
        rc = mb_store_journal_remove(t->st->home, err);
    return rc;
}

int mb_store_apply(struct mb_store *st, const struct mb_store_plan *plan,
                   const struct mb_store_apply_opts *opts, struct mb_err *err)
{
    if (!mb_store_plan_has_changes(plan))
        return 0;
    struct mb_store_apply_opts no_opts;
    memset(&no_opts, 0, sizeof(no_opts));
    struct txn t;
    memset(&t, 0, sizeof(t));
    t.st = st;
    t.plan = plan;
    t.opts = opts ? opts : &no_opts;
    mb_store_new_txid(t.txid, sizeof(t.txid));
    if (!mb_store_path(t.packs, sizeof(t.packs), st->home, STORE_PACKS, NULL) ||
        !mb_snprintf(t.staging, sizeof(t.staging), "%s/%s/%s", st->home, STORE_STAGING, t.txid))
        return mb_fail(err, MB_E_LIMIT, "path too long: '%s'", st->home);
    size_t nadd = 0;
    for (size_t i = 0; i < plan->n; i++)
        nadd += is_add(&plan->items[i]);
    t.s = mb_calloc(nadd ? nadd : 1, sizeof(*t.s));
    if (!t.s)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    for (size_t i = 0; i < plan->n; i++)
        if (is_add(&plan->items[i]))
            t.s[t.ns++].it = &plan->items[i];

    /* Download and verify everything before touching the store. */
    int rc = fetch_all(&t, err);
    if (!rc)
        mb_store_fault("after-download");
    if (!rc && mb_interrupted)
        rc = mb_fail(err, MB_E_INTERRUPTED, "interrupted; nothing was changed");
    if (!rc)
        rc = check_space(&t, err);
    if (!rc)
        rc = write_journal(&t, err);
    if (!rc) {
        mb_store_fault("after-journal");
        if (mkdir(t.staging, 0755) != 0)
            rc = mb_fail_errno(err, errno, "cannot create '%s'", t.staging);
    }
    if (!rc)
        rc = copy_bundles(&t, err);
    if (!rc)
        rc = unpack_all(&t, err);
    if (!rc)
        rc = rename_all(&t, err);
    struct mb_store_state ns;
    mb_store_state_init(&ns);
    if (!rc)
        rc = build_state(&t, &ns, err);
    if (!rc && mb_interrupted)
        rc = mb_fail(err, MB_E_INTERRUPTED, "interrupted; nothing was changed");
    if (!rc)
        rc = mb_store_state_save(st->home, &ns, err); /* the commit point */
    if (rc) {
        rollback(&t);
        mb_store_state_release(&ns);
        txn_release(&t);
        return rc;
    }
    mb_store_fault("after-commit");
    mb_store_state_release(&st->state);
    st->state = ns;

    /* Committed. From here on, failures leave the journal for the next writer. */
    struct mb_buf w;
    mb_buf_init(&w, MB_STORE_MAX_WORLD);
    if (plan->world_changed) {
        rc = mb_store_world_emit(&plan->world, &w, err);
        if (!rc)
            rc = mb_store_world_save(st->home, w.p, w.n, err);
        if (!rc) {
            mb_store_fault("after-world");
            mb_store_world_release(&st->world);
            mb_free(st->world_text);
            st->world_text = mb_buf_detach(&w, NULL);
            rc = mb_store_world_parse("world", st->world_text, strlen(st->world_text), &st->world,
                                      err);
        }
    }
    mb_buf_release(&w);
    if (!rc)
        rc = cleanup(&t, err);
    if (rc)
        mb_err_prefix(err, "the transaction was committed, but cleaning up failed (the next "
                           "run finishes it)");
    txn_release(&t);
    return rc;
}
