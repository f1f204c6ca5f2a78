/*
 * store_state.c - the store's two small databases: state.json (the installed
 * packs, docs/store.md "state.json") parsed strictly with jansson and emitted
 * deterministically, and the world file (the user's requests, one "ID" or
 * "ID@RANGE" a line, like apk's world). Both are replaced atomically
 * (temp + fsync + rename + fsync dir); readers never need a lock.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <unistd.h>

const char *mb_store_source_name(enum mb_store_source s)
{
    switch (s) {
    case MB_STORE_SRC_REGISTRY:
        return "registry";
    case MB_STORE_SRC_FILE:
        return "file";
    case MB_STORE_SRC_BUNDLE:
        return "bundle";
    case MB_STORE_SRC_REPAIR:
        return "repair";
    }
    return "?";
}

static bool source_parse(const char *s, enum mb_store_source *out)
{
    for (int i = MB_STORE_SRC_REGISTRY; i <= MB_STORE_SRC_REPAIR; i++)
        if (!strcmp(s, mb_store_source_name((enum mb_store_source)i))) {
            *out = (enum mb_store_source)i;
            return true;
        }
    return false;
}

bool mb_store_path(char *buf, size_t cap, const char *home, const char *a, const char *b)
{
    if (b)
        return mb_snprintf(buf, cap, "%s/%s/%s", home, a, b);
    return mb_snprintf(buf, cap, "%s/%s", home, a);
}

bool mb_store_pack_dir(char *buf, size_t cap, const char *home, const char *id, const char *version)
{
    return mb_snprintf(buf, cap, "%s/%s/%s/%s", home, STORE_PACKS, id, version);
}

/* ------------------------------------------------------------ packs */

void mb_store_pack_release(struct mb_store_pack *p)
{
    if (!p)
        return;
    mb_free(p->id);
    mb_free(p->version);
    mb_free(p->registry);
    mb_free(p->origin);
    mb_free(p->weights);
    for (size_t i = 0; i < p->nfiles; i++)
        mb_free(p->files[i].path);
    mb_free(p->files);
    memset(p, 0, sizeof(*p));
}

static char *dup_opt(const char *s, bool *bad)
{
    if (!s)
        return NULL;
    char *d = mb_strdup(s);
    if (!d)
        *bad = true;
    return d;
}

int mb_store_pack_copy(struct mb_store_pack *dst, const struct mb_store_pack *src,
                       struct mb_err *err)
{
    bool bad = false;
    *dst = *src;
    dst->id = dup_opt(src->id, &bad);
    dst->version = dup_opt(src->version, &bad);
    dst->registry = dup_opt(src->registry, &bad);
    dst->origin = dup_opt(src->origin, &bad);
    dst->weights = dup_opt(src->weights, &bad);
    dst->files = NULL;
    dst->nfiles = 0;
    if (!bad && src->nfiles) {
        dst->files = mb_calloc(src->nfiles, sizeof(*dst->files));
        bad = !dst->files;
        for (size_t i = 0; !bad && i < src->nfiles; i++) {
            dst->files[i] = src->files[i];
            dst->files[i].path = mb_strdup(src->files[i].path);
            bad = !dst->files[i].path;
            dst->nfiles = i + 1;
        }
    }
    if (bad) {
        mb_store_pack_release(dst);
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    return 0;
}

void mb_store_state_init(struct mb_store_state *s)
{
    memset(s, 0, sizeof(*s));
}

void mb_store_state_release(struct mb_store_state *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        mb_store_pack_release(&s->packs[i]);
    mb_free(s->packs);
    mb_free(s->txid);
    mb_store_state_init(s);
}

const struct mb_store_pack *mb_store_state_find(const struct mb_store_state *s, const char *id)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->packs[mid].id, id);
        if (!c)
            return &s->packs[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ------------------------------------------------------------ parsing */

struct sctx {
    const char *name;
    struct mb_err *err;
};

static int serr(struct sctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int serr(struct sctx *c, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return mb_fail(c->err, MB_E_STATE, "%s: %s", c->name, msg);
}

static int only_fields(struct sctx *c, json_t *o, const char *where, const char *const *allowed,
                       size_t n)
{
    const char *key;
    json_t *val;
    json_object_foreach(o, key, val)
    {
        bool ok = false;
        for (size_t i = 0; i < n && !ok; i++)
            ok = !strcmp(key, allowed[i]);
        (void)val;
        if (!ok)
            return serr(c, "%s: unknown field \"%.64s\"", where, key);
    }
    return 0;
}

/* A string field: printable, no control characters, at most `max` bytes. */
static int get_str(struct sctx *c, json_t *o, const char *key, const char *where, bool required,
                   size_t max, char **out)
{
    *out = NULL;
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (required)
            return serr(c, "%s: missing field \"%s\"", where, key);
        return 0;
    }
    if (!json_is_string(v))
        return serr(c, "%s.%s: expected a string", where, key);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (strlen(s) != n || n > max)
        return serr(c, "%s.%s: a NUL byte, or longer than %zu bytes", where, key, max);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return serr(c, "%s.%s: control character at offset %zu", where, key, i);
    *out = mb_strndup(s, n);
    return *out ? 0 : mb_fail(c->err, MB_E_NOMEM, "out of memory");
}

static int get_u64(struct sctx *c, json_t *o, const char *key, const char *where, uint64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return serr(c, "%s: missing field \"%s\"", where, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return serr(c, "%s.%s: expected a non-negative integer", where, key);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int get_bool(struct sctx *c, json_t *o, const char *key, const char *where, bool *out)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return serr(c, "%s: missing field \"%s\"", where, key);
    if (!json_is_boolean(v))
        return serr(c, "%s.%s: expected true or false", where, key);
    *out = json_is_true(v);
    return 0;
}

static int get_sha(struct sctx *c, json_t *o, const char *key, const char *where, bool required,
                   char out[MB_SHA256_HEX])
{
    char *s = NULL;
    out[0] = '\0';
    int rc = get_str(c, o, key, where, required, 64, &s);
    if (rc || !s)
        return rc;
    uint8_t raw[MB_SHA256_LEN];
    bool lower = true;
    for (const char *p = s; *p; p++)
        lower &= !(*p >= 'A' && *p <= 'F');
    if (strlen(s) == 0 && !required) {
        mb_free(s);
        return 0;
    }
    if (strlen(s) != 64 || !lower || !mb_hex_decode(s, raw, MB_SHA256_LEN)) {
        mb_free(s);
        return serr(c, "%s.%s: expected 64 lower-case hex digits", where, key);
    }
    memcpy(out, s, MB_SHA256_HEX);
    mb_free(s);
    return 0;
}

static int file_cmp(const void *a, const void *b)
{
    return strcmp(((const struct mb_store_file *)a)->path, ((const struct mb_store_file *)b)->path);
}

static int parse_files(struct sctx *c, json_t *arr, const char *where, struct mb_store_pack *p)
{
    if (!json_is_array(arr))
        return serr(c, "%s.files: expected an array", where);
    size_t n = json_array_size(arr);
    if (n > MB_STORE_MAX_FILES)
        return serr(c, "%s.files: more than %d files", where, MB_STORE_MAX_FILES);
    p->files = mb_calloc(n ? n : 1, sizeof(*p->files));
    if (!p->files)
        return mb_fail(c->err, MB_E_NOMEM, "out of memory");
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        char w[160];
        snprintf(w, sizeof(w), "%s.files[%zu]", where, i);
        json_t *f = json_array_get(arr, i);
        if (!json_is_object(f))
            return serr(c, "%s: expected an object", w);
        static const char *const fields[] = { "path", "size", "sha256" };
        struct mb_store_file *sf = &p->files[i];
        int rc = only_fields(c, f, w, fields, MB_ARRAY_LEN(fields));
        if (!rc)
            rc = get_str(c, f, "path", w, true, 255, &sf->path);
        p->nfiles = i + 1;
        if (!rc)
            rc = get_u64(c, f, "size", w, &sf->size);
        if (!rc)
            rc = get_sha(c, f, "sha256", w, true, sf->sha256);
        if (rc)
            return rc;
        struct mb_err e;
        if (mb_archive_check_name(sf->path, 255, &e))
            return serr(c, "%s.path: %s", w, e.msg);
        if (!mb_add_u64_ok(total, sf->size, &total))
            return serr(c, "%s.size: the sizes overflow", w);
    }
    qsort(p->files, p->nfiles, sizeof(*p->files), file_cmp);
    for (size_t i = 1; i < p->nfiles; i++)
        if (!strcmp(p->files[i - 1].path, p->files[i].path))
            return serr(c, "%s.files: '%s' is listed twice", where, p->files[i].path);
    return 0;
}

static int parse_pack(struct sctx *c, json_t *o, size_t idx, struct mb_store_pack *p)
{
    char w[64];
    snprintf(w, sizeof(w), "packs[%zu]", idx);
    if (!json_is_object(o))
        return serr(c, "%s: expected an object", w);
    static const char *const fields[] = {
        "id",     "version",        "kind",         "automatic", "resident",  "source",  "registry",
        "origin", "archive_sha256", "archive_size", "size",      "installed", "weights", "files"
    };
    int rc = only_fields(c, o, w, fields, MB_ARRAY_LEN(fields));
    char *kind = NULL, *source = NULL, *installed = NULL;
    struct mb_err e;
    if (!rc)
        rc = get_str(c, o, "id", w, true, MB_PACK_ID_MAX, &p->id);
    if (!rc && mb_pack_id_check(p->id, &e))
        rc = serr(c, "%s.id: %s", w, e.msg);
    if (!rc)
        rc = get_str(c, o, "version", w, true, MB_SEMVER_MAX_LEN, &p->version);
    struct mb_semver sv;
    if (!rc && mb_semver_parse_cstr(p->version, &sv, &e))
        rc = serr(c, "%s.version: %s", w, e.msg);
    if (!rc)
        rc = get_str(c, o, "kind", w, true, 16, &kind);
    if (!rc && !mb_pack_kind_parse(kind, &p->kind))
        rc = serr(c, "%s.kind: unknown kind \"%s\"", w, kind);
    if (!rc)
        rc = get_bool(c, o, "automatic", w, &p->automatic);
    if (!rc)
        rc = get_bool(c, o, "resident", w, &p->resident);
    if (!rc)
        rc = get_str(c, o, "source", w, true, 16, &source);
    if (!rc && !source_parse(source, &p->source))
        rc = serr(c, "%s.source: unknown source \"%s\"", w, source);
    if (!rc)
        rc = get_str(c, o, "registry", w, p->source == MB_STORE_SRC_REGISTRY, MB_PACK_ID_MAX,
                     &p->registry);
    if (!rc)
        rc = get_str(c, o, "origin", w, false, STORE_PATH_MAX, &p->origin);
    if (!rc)
        rc = get_sha(c, o, "archive_sha256", w, false, p->archive_sha256);
    if (!rc)
        rc = get_u64(c, o, "archive_size", w, &p->archive_size);
    if (!rc)
        rc = get_u64(c, o, "size", w, &p->size);
    if (!rc)
        rc = get_str(c, o, "installed", w, true, 64, &installed);
    if (!rc && !mb_time_parse_utc(installed, &p->installed_at))
        rc = serr(c, "%s.installed: not an RFC 3339 UTC time", w);
    if (!rc)
        rc = get_str(c, o, "weights", w, false, 255, &p->weights);
    if (!rc)
        rc = parse_files(c, json_object_get(o, "files"), w, p);
    if (!rc) {
        uint64_t total = 0;
        for (size_t i = 0; i < p->nfiles; i++)
            total += p->files[i].size; /* no overflow: checked by parse_files */
        if (total != p->size)
            rc = serr(c, "%s.size: %llu, but the files add up to %llu", w,
                      (unsigned long long)p->size, (unsigned long long)total);
    }
    mb_free(kind);
    mb_free(source);
    mb_free(installed);
    return rc;
}

static int pack_cmp(const void *a, const void *b)
{
    return strcmp(((const struct mb_store_pack *)a)->id, ((const struct mb_store_pack *)b)->id);
}

int mb_store_state_parse(const char *name, const char *text, size_t n, struct mb_store_state *out,
                         struct mb_err *err)
{
    mb_store_state_init(out);
    struct sctx c = { name, err };
    if (n > MB_STORE_MAX_STATE)
        return serr(&c, "larger than %u bytes", MB_STORE_MAX_STATE);
    json_error_t je;
    json_t *root = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return mb_fail(err, MB_E_STATE, "%s:%d:%d: invalid JSON: %s", name, je.line, je.column,
                       je.text);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = serr(&c, "expected a JSON object");
        goto out;
    }
    static const char *const fields[] = { "format", "transaction", "packs" };
    rc = only_fields(&c, root, "(top level)", fields, MB_ARRAY_LEN(fields));
    if (rc)
        goto out;
    json_t *fmt = json_object_get(root, "format");
    if (!json_is_integer(fmt) || json_integer_value(fmt) != MB_STORE_STATE_FORMAT) {
        rc = serr(&c, "format: expected %d (written by a newer modularbase?)",
                  MB_STORE_STATE_FORMAT);
        goto out;
    }
    rc = get_str(&c, root, "transaction", "(top level)", false, 128, &out->txid);
    if (rc)
        goto out;
    json_t *packs = json_object_get(root, "packs");
    if (!json_is_array(packs)) {
        rc = serr(&c, "packs: expected an array");
        goto out;
    }
    size_t np = json_array_size(packs);
    if (np > MB_STORE_MAX_PACKS) {
        rc = serr(&c, "packs: more than %d entries", MB_STORE_MAX_PACKS);
        goto out;
    }
    out->packs = mb_calloc(np ? np : 1, sizeof(*out->packs));
    if (!out->packs) {
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < np && !rc; i++) {
        out->n = i + 1;
        rc = parse_pack(&c, json_array_get(packs, i), i, &out->packs[i]);
    }
    if (!rc) {
        qsort(out->packs, out->n, sizeof(*out->packs), pack_cmp);
        for (size_t i = 1; i < out->n && !rc; i++)
            if (!strcmp(out->packs[i - 1].id, out->packs[i].id))
                rc = serr(&c, "packs: '%s' is listed twice", out->packs[i].id);
    }
out:
    json_decref(root);
    if (rc)
        mb_store_state_release(out);
    return rc;
}

/* ------------------------------------------------------------ emitting */

static int set_str(json_t *o, const char *k, const char *v)
{
    return json_object_set_new(o, k, v ? json_string(v) : json_null());
}

static json_t *pack_json(const struct mb_store_pack *p)
{
    json_t *o = json_object();
    json_t *files = json_array();
    if (!o || !files) {
        json_decref(o);
        json_decref(files);
        return NULL;
    }
    char when[64];
    if (!mb_time_format_utc(p->installed_at, when, sizeof(when)))
        mb_strlcpy(when, "1970-01-01T00:00:00Z", sizeof(when));
    int bad = 0;
    bad |= set_str(o, "id", p->id);
    bad |= set_str(o, "version", p->version);
    bad |= set_str(o, "kind", mb_pack_kind_name(p->kind));
    bad |= json_object_set_new(o, "automatic", json_boolean(p->automatic));
    bad |= json_object_set_new(o, "resident", json_boolean(p->resident));
    bad |= set_str(o, "source", mb_store_source_name(p->source));
    if (p->registry)
        bad |= set_str(o, "registry", p->registry);
    if (p->origin)
        bad |= set_str(o, "origin", p->origin);
    bad |= set_str(o, "archive_sha256", p->archive_sha256);
    bad |= json_object_set_new(o, "archive_size", json_integer((json_int_t)p->archive_size));
    bad |= json_object_set_new(o, "size", json_integer((json_int_t)p->size));
    bad |= set_str(o, "installed", when);
    if (p->weights)
        bad |= set_str(o, "weights", p->weights);
    for (size_t i = 0; i < p->nfiles && !bad; i++) {
        json_t *f = json_object();
        bad |= !f;
        if (f) {
            bad |= set_str(f, "path", p->files[i].path);
            bad |= json_object_set_new(f, "size", json_integer((json_int_t)p->files[i].size));
            bad |= set_str(f, "sha256", p->files[i].sha256);
            bad |= json_array_append_new(files, f);
        }
    }
    bad |= json_object_set_new(o, "files", files);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int mb_store_state_emit(const struct mb_store_state *s, struct mb_buf *out, struct mb_err *err)
{
    json_t *root = json_object();
    json_t *packs = json_array();
    int bad = !root || !packs;
    if (!bad) {
        bad |= json_object_set_new(root, "format", json_integer(MB_STORE_STATE_FORMAT));
        if (s->txid)
            bad |= set_str(root, "transaction", s->txid);
        for (size_t i = 0; i < s->n && !bad; i++) {
            json_t *p = pack_json(&s->packs[i]);
            bad |= !p || json_array_append_new(packs, p);
        }
        bad |= json_object_set(root, "packs", packs);
    }
    char *text = bad ? NULL : json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(packs);
    json_decref(root);
    if (!text)
        return mb_fail(err, MB_E_NOMEM, "out of memory writing state.json");
    int rc = mb_buf_append_cstr(out, text, err);
    free(text); /* jansson's allocation */
    return rc ? rc : mb_buf_append_cstr(out, "\n", err);
}

/* ------------------------------------------------------------ files */

int mb_store_write_atomic(const char *path, const void *data, size_t n, struct mb_err *err)
{
    return mb_file_write_atomic(path, data, n, 0644, err);
}

int mb_store_state_load(const char *home, struct mb_store_state *out, struct mb_err *err)
{
    mb_store_state_init(out);
    char *h = NULL;
    if (!home) {
        int rc = mb_home_resolve(NULL, &h, err);
        if (rc)
            return rc;
        home = h;
    }
    char path[STORE_PATH_MAX];
    if (!mb_store_path(path, sizeof(path), home, STORE_STATE, NULL)) {
        mb_free(h);
        return mb_fail(err, MB_E_LIMIT, "path too long: '%s'", home);
    }
    struct mb_buf b;
    int rc = mb_file_read_all(path, MB_STORE_MAX_STATE, &b, err);
    if (rc == MB_E_NOTFOUND) {
        mb_err_init(err);
        mb_free(h);
        return 0; /* a fresh store */
    }
    if (!rc) {
        rc = mb_store_state_parse(path, b.p, b.n, out, err);
        if (rc == MB_E_STATE && err) {
            char msg[MB_ERR_MSG_MAX];
            mb_strlcpy(msg, err->msg, sizeof(msg));
            mb_fail(err, MB_E_STATE,
                    "%s (the installed-pack database is damaged; run 'modularbase pack verify "
                    "--repair' to rebuild it from %s/packs)",
                    msg, home);
        }
        mb_buf_release(&b);
    }
    mb_free(h);
    return rc;
}

int mb_store_state_save(const char *home, const struct mb_store_state *s, struct mb_err *err)
{
    char path[STORE_PATH_MAX], tmp[STORE_PATH_MAX + 32];
    if (!mb_store_path(path, sizeof(path), home, STORE_STATE, NULL) ||
        !mb_snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()))
        return mb_fail(err, MB_E_LIMIT, "path too long: '%s'", home);
    struct mb_buf b;
    mb_buf_init(&b, MB_STORE_MAX_STATE);
    int rc = mb_store_state_emit(s, &b, err);
    if (rc) {
        mb_buf_release(&b);
        return rc;
    }
    /* The same steps as mb_file_write_atomic, with fault points between them. */
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        mb_buf_release(&b);
        return mb_fail_errno(err, errno, "cannot create '%s'", tmp);
    }
    const char *p = b.p;
    size_t left = b.n;
    while (!rc && left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            rc = mb_fail_errno(err, errno, "cannot write '%s'", tmp);
        else {
            p += w;
            left -= (size_t)w;
        }
    }
    if (!rc && fsync(fd) != 0)
        rc = mb_fail_errno(err, errno, "cannot fsync '%s'", tmp);
    if (close(fd) != 0 && !rc)
        rc = mb_fail_errno(err, errno, "cannot close '%s'", tmp);
    mb_buf_release(&b);
    if (!rc) {
        mb_store_fault("state-written");
        if (rename(tmp, path) != 0)
            rc = mb_fail_errno(err, errno, "cannot rename '%s' to '%s'", tmp, path);
    }
    if (rc) {
        unlink(tmp);
        return rc;
    }
    mb_store_fault("state-renamed");
    return mb_fsync_dir(home, err);
}

/* ------------------------------------------------------------ world */

void mb_store_world_init(struct mb_store_world *w)
{
    memset(w, 0, sizeof(*w));
}

void mb_store_world_release(struct mb_store_world *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++)
        mb_request_release(&w->v[i]);
    mb_free(w->v);
    mb_store_world_init(w);
}

static size_t world_pos(const struct mb_store_world *w, const char *id, bool *found)
{
    size_t lo = 0, hi = w->n;
    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(w->v[mid].id, id);
        if (!c) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const struct mb_request *mb_store_world_find(const struct mb_store_world *w, const char *id)
{
    bool found;
    size_t i = world_pos(w, id, &found);
    return found ? &w->v[i] : NULL;
}

int mb_store_world_put(struct mb_store_world *w, const char *id, const char *range_text,
                       struct mb_err *err)
{
    char spec[MB_PACK_ID_MAX + MB_RANGE_MAX_LEN + 4];
    bool any = !range_text || !*range_text || !strcmp(range_text, "*");
    if (!mb_snprintf(spec, sizeof(spec), "%s%s%s", id, any ? "" : "@", any ? "" : range_text))
        return mb_fail(err, MB_E_LIMIT, "request for '%s' is too long", id);
    struct mb_request r;
    int rc = mb_request_parse(spec, false, &r, err);
    if (rc)
        return rc;
    bool found;
    size_t pos = world_pos(w, id, &found);
    if (found) {
        mb_request_release(&w->v[pos]);
        w->v[pos] = r;
        return 0;
    }
    if (w->n >= MB_STORE_MAX_PACKS) {
        mb_request_release(&r);
        return mb_fail(err, MB_E_LIMIT, "the world holds more than %d packs", MB_STORE_MAX_PACKS);
    }
    struct mb_request *v = mb_reallocarray(w->v, w->n + 1, sizeof(*v));
    if (!v) {
        mb_request_release(&r);
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    w->v = v;
    memmove(&w->v[pos + 1], &w->v[pos], (w->n - pos) * sizeof(*v));
    w->v[pos] = r;
    w->n++;
    return 0;
}

bool mb_store_world_del(struct mb_store_world *w, const char *id)
{
    bool found;
    size_t pos = world_pos(w, id, &found);
    if (!found)
        return false;
    mb_request_release(&w->v[pos]);
    memmove(&w->v[pos], &w->v[pos + 1], (w->n - pos - 1) * sizeof(*w->v));
    w->n--;
    return true;
}

int mb_store_world_parse(const char *name, const char *text, size_t n, struct mb_store_world *out,
                         struct mb_err *err)
{
    mb_store_world_init(out);
    if (n > MB_STORE_MAX_WORLD)
        return mb_fail(err, MB_E_STATE, "%s: larger than %u bytes", name, MB_STORE_MAX_WORLD);
    size_t line = 0;
    const char *p = text, *end = text + n;
    int rc = 0;
    while (!rc && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        line++;
        /* Trim spaces and a CR. */
        const char *a = p, *b = le;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r'))
            b--;
        p = nl ? nl + 1 : end;
        if (a == b || *a == '#')
            continue;
        if (memchr(a, '\0', (size_t)(b - a))) {
            rc = mb_fail(err, MB_E_STATE, "%s:%zu: NUL byte", name, line);
            break;
        }
        char spec[MB_PACK_ID_MAX + MB_RANGE_MAX_LEN + 4];
        if ((size_t)(b - a) >= sizeof(spec)) {
            rc = mb_fail(err, MB_E_STATE, "%s:%zu: line too long", name, line);
            break;
        }
        memcpy(spec, a, (size_t)(b - a));
        spec[b - a] = '\0';
        struct mb_request r;
        struct mb_err e;
        if (mb_request_parse(spec, false, &r, &e)) {
            rc = mb_fail(err, MB_E_STATE, "%s:%zu: %s", name, line, e.msg);
            break;
        }
        if (mb_store_world_find(out, r.id)) {
            rc = mb_fail(err, MB_E_STATE, "%s:%zu: '%s' is listed twice", name, line, r.id);
            mb_request_release(&r);
            break;
        }
        rc = mb_store_world_put(out, r.id, r.range_text, err);
        mb_request_release(&r);
    }
    if (rc)
        mb_store_world_release(out);
    return rc;
}

int mb_store_world_emit(const struct mb_store_world *w, struct mb_buf *out, struct mb_err *err)
{
    int rc = mb_buf_append_cstr(out,
                                "# modularbase world: the packs you asked for, one ID or "
                                "ID@RANGE a line.\n# Changed by 'pack install' and 'pack "
                                "remove'; everything else installed is a dependency.\n",
                                err);
    for (size_t i = 0; !rc && i < w->n; i++) {
        const struct mb_request *r = &w->v[i];
        bool any = !r->range_text || !strcmp(r->range_text, "*") || !*r->range_text;
        rc = any ? mb_buf_appendf(out, err, "%s\n", r->id)
                 : mb_buf_appendf(out, err, "%s@%s\n", r->id, r->range_text);
    }
    return rc;
}

int mb_store_world_load(const char *home, struct mb_store_world *out, char **text,
                        struct mb_err *err)
{
    mb_store_world_init(out);
    if (text)
        *text = NULL;
    char path[STORE_PATH_MAX];
    if (!mb_store_path(path, sizeof(path), home, STORE_WORLD, NULL))
        return mb_fail(err, MB_E_LIMIT, "path too long: '%s'", home);
    struct mb_buf b;
    int rc = mb_file_read_all(path, MB_STORE_MAX_WORLD, &b, err);
    if (rc == MB_E_NOTFOUND) {
        mb_err_init(err);
        return 0;
    }
    if (rc)
        return rc;
    rc = mb_store_world_parse(path, b.p, b.n, out, err);
    if (!rc && text)
        *text = mb_buf_detach(&b, NULL);
    mb_buf_release(&b);
    return rc;
}

int mb_store_world_save(const char *home, const char *text, size_t n, struct mb_err *err)
{
    char path[STORE_PATH_MAX];
    if (!mb_store_path(path, sizeof(path), home, STORE_WORLD, NULL))
        return mb_fail(err, MB_E_LIMIT, "path too long: '%s'", home);
    return mb_store_write_atomic(path, text, n, err);
}
