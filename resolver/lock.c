/*
 * lock.c - packs.lock (docs/resolver.md "Lock file"): the resolved set as
 * deterministic JSON (entries sorted by id, fixed key order, one key per
 * line, so diffs show exactly what changed), strict parsing, and the
 * conversion of a resolution into a lock. Also requests ("id@range").
 */
#include "mb_resolver.h"

#include <jansson.h>

/* Registry names follow the pack id grammar (they become directory names too). */
static bool bad_name(const char *s)
{
    struct mb_err e;
    return mb_pack_id_check(s, &e) != 0;
}

void mb_lock_init(struct mb_lock *l)
{
    memset(l, 0, sizeof(*l));
}

void mb_lock_release(struct mb_lock *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        mb_free(l->v[i].id);
        mb_free(l->v[i].version);
        mb_free(l->v[i].registry);
    }
    mb_free(l->v);
    mb_lock_init(l);
}

const struct mb_lock_entry *mb_lock_find(const struct mb_lock *l, const char *id)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(l->v[mid].id, id);
        if (!c)
            return &l->v[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int mb_lock_put(struct mb_lock *l, const char *id, const char *version, const char *registry,
                const char *sha256, struct mb_err *err)
{
    size_t pos = 0;
    while (pos < l->n && strcmp(l->v[pos].id, id) < 0)
        pos++;
    bool replace = pos < l->n && !strcmp(l->v[pos].id, id);
    /* Everything written to the lock is validated, so emitting needs no escaping. */
    struct mb_semver sv;
    uint8_t bin[MB_SHA256_LEN];
    if (mb_pack_id_check(id, err))
        return MB_E_FORMAT;
    if (mb_semver_parse_cstr(version, &sv, err))
        return mb_err_prefix(err, "%s", id);
    if (registry && bad_name(registry))
        return mb_fail(err, MB_E_FORMAT,
                       "registry name \"%.64s\" is not valid (a-z, 0-9 and '-', like pack ids)",
                       registry);
    if (sha256 && sha256[0] && (strlen(sha256) != 64 || !mb_hex_decode(sha256, bin, sizeof(bin))))
        return mb_fail(err, MB_E_FORMAT, "%s: sha256 must be 64 hex digits", id);
    struct mb_lock_entry e;
    memset(&e, 0, sizeof(e));
    e.id = mb_strdup(id);
    e.version = mb_strdup(version);
    e.registry = registry ? mb_strdup(registry) : NULL;
    if (sha256)
        mb_strlcpy(e.sha256, sha256, sizeof(e.sha256));
    if (!e.id || !e.version || (registry && !e.registry)) {
        mb_free(e.id);
        mb_free(e.version);
        mb_free(e.registry);
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    if (replace) {
        mb_free(l->v[pos].id);
        mb_free(l->v[pos].version);
        mb_free(l->v[pos].registry);
        l->v[pos] = e;
        return 0;
    }
    struct mb_lock_entry *v = mb_reallocarray(l->v, l->n + 1, sizeof(*v));
    if (!v) {
        mb_free(e.id);
        mb_free(e.version);
        mb_free(e.registry);
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    l->v = v;
    memmove(l->v + pos + 1, l->v + pos, (l->n - pos) * sizeof(*v));
    l->v[pos] = e;
    l->n++;
    return 0;
}

int mb_lock_parse(const char *name, const char *text, size_t n, struct mb_lock *out,
                  struct mb_err *err)
{
    mb_lock_init(out);
    if (n > MB_INDEX_MAX_BYTES)
        return mb_fail(err, MB_E_LIMIT, "%s: larger than %u bytes", name, MB_INDEX_MAX_BYTES);
    json_error_t je;
    json_t *root = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return mb_fail(err, MB_E_FORMAT, "%s:%d:%d: invalid JSON: %s", name, je.line, je.column,
                       je.text);
    int rc = 0;
    json_t *ver = json_object_get(root, "lock_version");
    json_t *packs = json_object_get(root, "packs");
    if (!json_is_object(root)) {
        rc = mb_fail(err, MB_E_FORMAT, "%s: expected a JSON object", name);
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        if (strcmp(key, "lock_version") && strcmp(key, "comment") && strcmp(key, "packs")) {
            rc = mb_fail(err, MB_E_FORMAT, "%s: unknown field \"%.64s\"", name, key);
            goto out;
        }
    }
    if (!json_is_integer(ver) || json_integer_value(ver) != MB_LOCK_VERSION) {
        rc = mb_fail(err, json_is_integer(ver) ? MB_E_UNSUPPORTED : MB_E_FORMAT,
                     "%s: lock_version: expected %d", name, MB_LOCK_VERSION);
        goto out;
    }
    if (!json_is_array(packs) || json_array_size(packs) > MB_INDEX_MAX_VERSIONS) {
        rc = mb_fail(err, MB_E_FORMAT, "%s: packs: expected an array (at most %d entries)", name,
                     MB_INDEX_MAX_VERSIONS);
        goto out;
    }
    for (size_t i = 0; i < json_array_size(packs); i++) {
        json_t *e = json_array_get(packs, i);
        if (!json_is_object(e)) {
            rc = mb_fail(err, MB_E_FORMAT, "%s: packs[%zu]: expected an object", name, i);
            goto out;
        }
        json_object_foreach(e, key, val)
        {
            if (strcmp(key, "id") && strcmp(key, "version") && strcmp(key, "registry") &&
                strcmp(key, "sha256")) {
                rc = mb_fail(err, MB_E_FORMAT, "%s: packs[%zu]: unknown field \"%.64s\"", name, i,
                             key);
                goto out;
            }
        }
        const char *id = json_string_value(json_object_get(e, "id"));
        const char *v = json_string_value(json_object_get(e, "version"));
        json_t *regj = json_object_get(e, "registry"), *shaj = json_object_get(e, "sha256");
        const char *reg = json_string_value(regj), *sha = json_string_value(shaj);
        struct mb_err e2;
        struct mb_semver sv;
        if (!id || mb_pack_id_check(id, &e2)) {
            rc = mb_fail(err, MB_E_FORMAT, "%s: packs[%zu].id: %s", name, i,
                         id ? e2.msg : "expected a pack id");
            goto out;
        }
        if (!v || mb_semver_parse_cstr(v, &sv, &e2)) {
            rc = mb_fail(err, MB_E_FORMAT, "%s: packs[%zu].version: %s", name, i,
                         v ? e2.msg : "expected a version string");
            goto out;
        }
        uint8_t bin[MB_SHA256_LEN];
        if ((shaj && (!sha || strlen(sha) != 64 || !mb_hex_decode(sha, bin, sizeof(bin)))) ||
            (regj && (!reg || bad_name(reg)))) {
            rc = mb_fail(err, MB_E_FORMAT, "%s: packs[%zu] (%s): %s", name, i, id,
                         regj && (!reg || bad_name(reg)) ? "registry: expected a registry name"
                                                         : "sha256: expected 64 hex digits");
            goto out;
        }
        if (mb_lock_find(out, id)) {
            rc = mb_fail(err, MB_E_FORMAT, "%s: packs[%zu]: '%s' is listed twice", name, i, id);
            goto out;
        }
        rc = mb_lock_put(out, id, v, reg, sha, err);
        if (rc)
            goto out;
    }
out:
    json_decref(root);
    if (rc)
        mb_lock_release(out);
    return rc;
}

int mb_lock_load(const char *path, struct mb_lock *out, struct mb_err *err)
{
    struct mb_buf b;
    mb_buf_init(&b, MB_INDEX_MAX_BYTES);
    mb_lock_init(out);
    int rc = mb_file_read_all(path, MB_INDEX_MAX_BYTES, &b, err);
    if (!rc)
        rc = mb_lock_parse(path, b.p ? b.p : "", b.n, out, err);
    mb_buf_release(&b);
    return rc;
}

/* Written by hand (not json_dumps) so the layout is fixed and one field per line. */
int mb_lock_emit(const struct mb_lock *l, struct mb_buf *o, struct mb_err *err)
{
    int rc = mb_buf_appendf(o, err,
                            "{\n  \"comment\": \"generated by modularbase; do not edit\",\n"
                            "  \"lock_version\": %d,\n  \"packs\": [",
                            MB_LOCK_VERSION);
    for (size_t i = 0; i < l->n && !rc; i++) {
        const struct mb_lock_entry *e = &l->v[i];
        /* ids, versions, registry names and hex are validated: no escaping needed. */
        rc = mb_buf_appendf(o, err, "%s\n    {\n      \"id\": \"%s\",\n      \"version\": \"%s\"",
                            i ? "," : "", e->id, e->version);
        if (!rc && e->registry)
            rc = mb_buf_appendf(o, err, ",\n      \"registry\": \"%s\"", e->registry);
        if (!rc && e->sha256[0])
            rc = mb_buf_appendf(o, err, ",\n      \"sha256\": \"%s\"", e->sha256);
        if (!rc)
            rc = mb_buf_append_cstr(o, "\n    }", err);
    }
    return rc ? rc : mb_buf_append_cstr(o, l->n ? "\n  ]\n}\n" : "]\n}\n", err);
}

int mb_resolution_to_lock(const struct mb_resolution *r, struct mb_lock *out, struct mb_err *err)
{
    mb_lock_init(out);
    for (size_t i = 0; i < r->n; i++) {
        const struct mb_plan_entry *e = &r->entries[i];
        if (e->action == MB_PLAN_REMOVE)
            continue;
        int rc = mb_lock_put(out, e->id, e->version, e->registry, e->sha256, err);
        if (rc) {
            mb_lock_release(out);
            return rc;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ requests */

int mb_request_parse(const char *spec, bool include_prerelease, struct mb_request *out,
                     struct mb_err *err)
{
    memset(out, 0, sizeof(*out));
    const char *at = strchr(spec, '@');
    size_t idn = at ? (size_t)(at - spec) : strlen(spec);
    out->id = mb_strndup(spec, idn);
    out->range_text = mb_strdup(at ? at + 1 : "*");
    if (!out->id || !out->range_text) {
        mb_request_release(out);
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    int rc = mb_pack_id_check(out->id, err);
    if (rc) {
        mb_err_prefix(err, "request '%.80s'", spec);
        mb_request_release(out);
        return MB_E_USAGE;
    }
    if (at && !at[1]) {
        mb_request_release(out);
        return mb_fail(err, MB_E_USAGE, "request '%.80s': missing range after '@'", spec);
    }
    rc = mb_range_parse(out->range_text, include_prerelease, &out->range, err);
    if (rc) {
        mb_err_prefix(err, "request '%.80s'", spec);
        mb_request_release(out);
        return rc == MB_E_NOMEM ? rc : MB_E_USAGE;
    }
    return 0;
}

void mb_request_release(struct mb_request *r)
{
    if (!r)
        return;
    mb_free(r->id);
    mb_free(r->range_text);
    mb_range_release(&r->range);
    memset(r, 0, sizeof(*r));
}
