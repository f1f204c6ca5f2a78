/*
 * store_journal.c - the transaction journal and crash recovery. Before a
 * transaction touches packs/ it writes HOME/journal (atomically): its id,
 * the pack directories it will add, the ones it will remove once committed,
 * and the world before and after. state.json records the id of the last
 * committed transaction, so after a crash the next writer knows which side
 * of the commit point it died on: before, it removes what was added
 * (rollback); after, it removes what was replaced and writes the new world
 * (roll forward). Either way staging/ is emptied and the journal deleted.
 */
#include "store_int.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <time.h>
#include <unistd.h>

#define JOURNAL_FORMAT 1

void mb_store_new_txid(char *buf, size_t cap)
{
    char when[32] = "0";
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm))
        strftime(when, sizeof(when), "%Y%m%dT%H%M%SZ", &tm);
    uint32_t rnd = 0;
    uint8_t h[MB_SHA256_LEN];
    uint64_t seed[2] = { mb_now_ns(), (uint64_t)getpid() };
    mb_sha256(seed, sizeof(seed), h);
    memcpy(&rnd, h, sizeof(rnd));
    snprintf(buf, cap, "%s-%ld-%08x", when, (long)getpid(), rnd);
}

static void packs_release(struct journal_pack *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        mb_free(v[i].id);
        mb_free(v[i].version);
    }
    mb_free(v);
}

void mb_store_journal_release(struct mb_store_journal *j)
{
    if (!j)
        return;
    mb_free(j->txid);
    mb_free(j->operation);
    packs_release(j->add, j->nadd);
    packs_release(j->del, j->ndel);
    mb_free(j->world_old);
    mb_free(j->world_new);
    memset(j, 0, sizeof(*j));
}

static json_t *packs_json(const struct journal_pack *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        json_t *o = json_pack("{s:s, s:s}", "id", v[i].id, "version", v[i].version);
        if (!o || json_array_append_new(a, o)) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

int mb_store_journal_write(const char *home, const struct mb_store_journal *j, struct mb_err *err)
{
    json_t *root = json_object();
    int bad = !root;
    if (!bad) {
        bad |= json_object_set_new(root, "format", json_integer(JOURNAL_FORMAT));
        bad |= json_object_set_new(root, "transaction", json_string(j->txid));
        bad |= json_object_set_new(root, "operation", json_string(j->operation));
        bad |= json_object_set_new(root, "pid", json_integer(j->pid));
        bad |= json_object_set_new(root, "add", packs_json(j->add, j->nadd));
        bad |= json_object_set_new(root, "remove", packs_json(j->del, j->ndel));
        bad |= json_object_set_new(root, "world_old",
                                   j->world_old ? json_string(j->world_old) : json_null());
        bad |= json_object_set_new(root, "world_new",
                                   j->world_new ? json_string(j->world_new) : json_null());
    }
    char *text = bad ? NULL : json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text)
        return mb_fail(err, MB_E_NOMEM, "out of memory writing the journal");
    char path[STORE_PATH_MAX];
    int rc;
    if (!mb_store_path(path, sizeof(path), home, STORE_JOURNAL, NULL))
        rc = mb_fail(err, MB_E_LIMIT, "path too long: '%s'", home);
    else
        rc = mb_store_write_atomic(path, text, strlen(text), err);
    free(text); /* jansson's allocation */
    return rc;
}

/* A journal is ours: anything unreadable in it is a damaged store, named as such. */
static int jbad(struct mb_err *err, const char *path, const char *what)
{
    return mb_fail(err, MB_E_STATE,
                   "%s: %s (the journal of an interrupted transaction is damaged; remove it and "
                   "run 'modularbase pack verify --repair')",
                   path, what);
}

static int read_packs(json_t *a, struct journal_pack **out, size_t *n, const char *path,
                      struct mb_err *err)
{
    *out = NULL;
    *n = 0;
    if (!json_is_array(a) || json_array_size(a) > MB_STORE_MAX_PACKS)
        return jbad(err, path, "expected an array of packs");
    size_t cnt = json_array_size(a);
    *out = mb_calloc(cnt ? cnt : 1, sizeof(**out));
    if (!*out)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    for (size_t i = 0; i < cnt; i++) {
        json_t *o = json_array_get(a, i);
        const char *id = json_string_value(json_object_get(o, "id"));
        const char *ver = json_string_value(json_object_get(o, "version"));
        struct mb_err e;
        struct mb_semver sv;
        if (!id || !ver || mb_pack_id_check(id, &e) || mb_semver_parse_cstr(ver, &sv, &e))
            return jbad(err, path, "a pack entry without a valid id and version");
        (*out)[i].id = mb_strdup(id);
        (*out)[i].version = mb_strdup(ver);
        *n = i + 1;
        if (!(*out)[i].id || !(*out)[i].version)
            return mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    return 0;
}

static int opt_text(json_t *v, char **out, const char *path, struct mb_err *err)
{
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return jbad(err, path, "a world copy is not a string");
    *out = mb_strndup(json_string_value(v), json_string_length(v));
    return *out ? 0 : mb_fail(err, MB_E_NOMEM, "out of memory");
}

int mb_store_journal_read(const char *home, struct mb_store_journal *j, bool *present,
                          struct mb_err *err)
{
    memset(j, 0, sizeof(*j));
    *present = false;
    char path[STORE_PATH_MAX];
    if (!mb_store_path(path, sizeof(path), home, STORE_JOURNAL, NULL))
        return mb_fail(err, MB_E_LIMIT, "path too long: '%s'", home);
    struct mb_buf b;
    int rc = mb_file_read_all(path, MB_STORE_MAX_STATE, &b, err);
    if (rc == MB_E_NOTFOUND) {
        mb_err_init(err);
        return 0;
    }
    if (rc)
        return rc;
    *present = true;
    json_error_t je;
    json_t *root = json_loadb(b.p, b.n, JSON_REJECT_DUPLICATES, &je);
    mb_buf_release(&b);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return jbad(err, path, "not a JSON object");
    }
    json_t *fmt = json_object_get(root, "format");
    const char *txid = json_string_value(json_object_get(root, "transaction"));
    const char *op = json_string_value(json_object_get(root, "operation"));
    json_t *pid = json_object_get(root, "pid");
    if (!json_is_integer(fmt) || json_integer_value(fmt) != JOURNAL_FORMAT || !txid || !op ||
        !json_is_integer(pid))
        rc = jbad(err, path, "missing format, transaction, operation or pid");
    if (!rc) {
        j->txid = mb_strdup(txid);
        j->operation = mb_strdup(op);
        j->pid = (long)json_integer_value(pid);
        if (!j->txid || !j->operation)
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    if (!rc)
        rc = read_packs(json_object_get(root, "add"), &j->add, &j->nadd, path, err);
    if (!rc)
        rc = read_packs(json_object_get(root, "remove"), &j->del, &j->ndel, path, err);
    if (!rc)
        rc = opt_text(json_object_get(root, "world_old"), &j->world_old, path, err);
    if (!rc)
        rc = opt_text(json_object_get(root, "world_new"), &j->world_new, path, err);
    json_decref(root);
    if (rc)
        mb_store_journal_release(j);
    return rc;
}

int mb_store_journal_remove(const char *home, struct mb_err *err)
{
    char path[STORE_PATH_MAX];
    if (!mb_store_path(path, sizeof(path), home, STORE_JOURNAL, NULL))
        return mb_fail(err, MB_E_LIMIT, "path too long: '%s'", home);
    if (unlink(path) != 0 && errno != ENOENT)
        return mb_fail_errno(err, errno, "cannot remove '%s'", path);
    return mb_fsync_dir(home, err);
}

/* Whether state names id at exactly this version. */
static bool state_has(const struct mb_store_state *s, const char *id, const char *version)
{
    const struct mb_store_pack *p = mb_store_state_find(s, id);
    return p && !strcmp(p->version, version);
}

/* Remove packs/<id>/<version> and then packs/<id> when it is empty. */
static int remove_pack_dir(const char *home, const char *id, const char *version,
                           struct mb_err *err)
{
    char dir[STORE_PATH_MAX];
    if (!mb_store_pack_dir(dir, sizeof(dir), home, id, version))
        return mb_fail(err, MB_E_LIMIT, "path too long: '%s'", home);
    int rc = mb_rm_rf(dir, err);
    if (rc)
        return rc;
    char *slash = strrchr(dir, '/');
    *slash = '\0';
    rmdir(dir); /* fails harmlessly while other versions live there */
    return 0;
}

/* Temp files of our atomic writes left by a killed writer ("state.json.tmp.123"). */
static void remove_temp_files(const char *home)
{
    DIR *d = opendir(home);
    if (!d)
        return;
    struct dirent *de;
    static const char *const names[] = { STORE_STATE ".tmp.", STORE_WORLD ".tmp.",
                                         STORE_JOURNAL ".tmp." };
    while ((de = readdir(d))) {
        for (size_t i = 0; i < MB_ARRAY_LEN(names); i++) {
            size_t l = strlen(names[i]);
            uint64_t pid;
            if (!strncmp(de->d_name, names[i], l) && mb_parse_u64(de->d_name + l, &pid))
                unlinkat(dirfd(d), de->d_name, 0);
        }
    }
    closedir(d);
}

int mb_store_recover(struct mb_store *st, char **note, struct mb_err *err)
{
    *note = NULL;
    remove_temp_files(st->home);
    struct mb_store_journal j;
    bool present;
    int rc = mb_store_journal_read(st->home, &j, &present, err);
    if (rc)
        return rc;
    char staging[STORE_PATH_MAX], packs[STORE_PATH_MAX];
    if (!mb_store_path(staging, sizeof(staging), st->home, STORE_STAGING, NULL) ||
        !mb_store_path(packs, sizeof(packs), st->home, STORE_PACKS, NULL)) {
        mb_store_journal_release(&j);
        return mb_fail(err, MB_E_LIMIT, "path too long: '%s'", st->home);
    }
    if (!present) {
        /* Staging is only ever used under a journal: anything there is debris. */
        rc = mb_rm_rf(staging, err);
        if (!rc)
            rc = mb_mkdir_p(staging, 0755, err);
        return rc;
    }
    bool committed = st->state.txid && !strcmp(st->state.txid, j.txid);
    if (committed) {
        for (size_t i = 0; !rc && i < j.ndel; i++)
            if (!state_has(&st->state, j.del[i].id, j.del[i].version))
                rc = remove_pack_dir(st->home, j.del[i].id, j.del[i].version, err);
        if (!rc && j.world_new)
            rc = mb_store_world_save(st->home, j.world_new, strlen(j.world_new), err);
    } else {
        for (size_t i = 0; !rc && i < j.nadd; i++)
            if (!state_has(&st->state, j.add[i].id, j.add[i].version))
                rc = remove_pack_dir(st->home, j.add[i].id, j.add[i].version, err);
        if (!rc) {
            if (j.world_old)
                rc = mb_store_world_save(st->home, j.world_old, strlen(j.world_old), err);
            else {
                char wpath[STORE_PATH_MAX];
                if (mb_store_path(wpath, sizeof(wpath), st->home, STORE_WORLD, NULL))
                    unlink(wpath);
            }
        }
    }
    if (!rc)
        rc = mb_rm_rf(staging, err);
    if (!rc)
        rc = mb_mkdir_p(staging, 0755, err);
    if (!rc)
        rc = mb_fsync_dir(packs, err);
    if (!rc)
        rc = mb_store_journal_remove(st->home, err);
    if (!rc) {
        struct mb_buf b;
        mb_buf_init(&b, 512);
        mb_buf_appendf(&b, NULL, "%s an interrupted '%s' (transaction %s, pid %ld)",
                       committed ? "completed" : "rolled back", j.operation, j.txid, j.pid);
        *note = mb_buf_detach(&b, NULL);
    }
    mb_store_journal_release(&j);
    return rc;
}
