/*
 * regmeta.c - the two files that make a directory a registry (docs/registry.md):
 * registry.json (who maintains it, who may publish) and snapshot.json (the
 * signed list of every index file's sha256 and size, with a version and an
 * expiry). Strict parsing with jansson — exact types, unknown fields and
 * duplicate keys refused, every string checked — and canonical emission, so
 * the same state always gives the same bytes. Also the threshold check of the
 * snapshot's signatures against pinned keys.
 */
#include "client_int.h"

#include <jansson.h>

/* ------------------------------------------------------------ JSON helpers */

static int only_fields(const char *origin, const char *path, json_t *obj,
                       const char *const *allowed, size_t n, struct mb_err *err)
{
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val)
    {
        bool ok = false;
        for (size_t i = 0; i < n && !ok; i++)
            ok = !strcmp(key, allowed[i]);
        (void)val;
        if (!ok)
            return mb_fail(err, MB_E_FORMAT, "%s: %s: unknown field \"%.64s\"", origin, path, key);
    }
    return 0;
}

/* A printable one-line string field of at most `max` bytes; NULL when absent and optional. */
static int get_str(const char *origin, const char *path, json_t *obj, const char *key,
                   bool required, size_t max, const char **out, struct mb_err *err)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v) {
        if (required)
            return mb_fail(err, MB_E_FORMAT, "%s: %s: missing required field \"%s\"", origin, path,
                           key);
        return 0;
    }
    if (!json_is_string(v))
        return mb_fail(err, MB_E_FORMAT, "%s: %s.%s: expected a string, got %s", origin, path, key,
                       mb_json_type_name(v));
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (strlen(s) != n)
        return mb_fail(err, MB_E_FORMAT, "%s: %s.%s: NUL byte in a string", origin, path, key);
    if (n > max)
        return mb_fail(err, MB_E_LIMIT, "%s: %s.%s: longer than %zu bytes", origin, path, key, max);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return mb_fail(err, MB_E_FORMAT, "%s: %s.%s: control character at offset %zu", origin,
                           path, key, i);
    *out = s;
    return 0;
}

static int get_uint(const char *origin, const char *path, json_t *obj, const char *key,
                    uint64_t min, uint64_t max, uint64_t *out, struct mb_err *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return mb_fail(err, MB_E_FORMAT, "%s: %s: missing required field \"%s\"", origin, path,
                       key);
    if (!json_is_integer(v))
        return mb_fail(err, MB_E_FORMAT, "%s: %s.%s: expected an integer, got %s", origin, path,
                       key, mb_json_type_name(v));
    json_int_t x = json_integer_value(v);
    if (x < 0 || (uint64_t)x < min || (uint64_t)x > max)
        return mb_fail(err, MB_E_FORMAT, "%s: %s.%s: %lld is out of range (%llu..%llu)", origin,
                       path, key, (long long)x, (unsigned long long)min, (unsigned long long)max);
    *out = (uint64_t)x;
    return 0;
}

static int get_sha(const char *origin, const char *path, json_t *obj, char out[MB_SHA256_HEX],
                   struct mb_err *err)
{
    const char *s;
    int rc = get_str(origin, path, obj, "sha256", true, 64, &s, err);
    if (rc)
        return rc;
    if (!mb_regmeta_sha_hex_ok(s))
        return mb_fail(err, MB_E_FORMAT, "%s: %s.sha256: expected 64 lower-case hex digits", origin,
                       path);
    memcpy(out, s, MB_SHA256_HEX);
    return 0;
}

static int get_time(const char *origin, const char *path, json_t *obj, const char *key,
                    int64_t *out, struct mb_err *err)
{
    const char *s;
    int rc = get_str(origin, path, obj, key, true, 32, &s, err);
    if (rc)
        return rc;
    if (!mb_time_parse_utc(s, out))
        return mb_fail(err, MB_E_FORMAT,
                       "%s: %s.%s: \"%s\" is not an RFC 3339 UTC time (2026-01-31T12:00:00Z)",
                       origin, path, key, s);
    return 0;
}

static json_t *load_json(const char *origin, const char *text, size_t n, size_t max,
                         struct mb_err *err)
{
    if (n > max) {
        mb_fail(err, MB_E_LIMIT, "%s: larger than %zu bytes", origin, max);
        return NULL;
    }
    json_error_t je;
    json_t *root = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        mb_fail(err, MB_E_FORMAT, "%s:%d:%d: invalid JSON: %s", origin, je.line, je.column,
                je.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        mb_fail(err, MB_E_FORMAT, "%s: expected a JSON object, got %s", origin,
                mb_json_type_name(root));
        json_decref(root);
        return NULL;
    }
    return root;
}

static int check_format(const char *origin, json_t *root, struct mb_err *err)
{
    json_t *f = json_object_get(root, "format");
    if (!f || !json_is_integer(f))
        return mb_fail(err, MB_E_FORMAT, "%s: format: expected the integer %d", origin,
                       MB_REGISTRY_FORMAT);
    if (json_integer_value(f) != MB_REGISTRY_FORMAT)
        return mb_fail(err, MB_E_UNSUPPORTED,
                       "%s: format %lld is not supported (this modularbase reads format %d; "
                       "upgrade it)",
                       origin, (long long)json_integer_value(f), MB_REGISTRY_FORMAT);
    return 0;
}

bool mb_regmeta_sha_hex_ok(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/* Append s as a JSON string (quotes and escapes). */
int mb_regmeta_json_str(struct mb_buf *b, const char *s, struct mb_err *err)
{
    int rc = mb_buf_append_cstr(b, "\"", err);
    for (const unsigned char *p = (const unsigned char *)s; !rc && *p; p++) {
        if (*p == '"' || *p == '\\')
            rc = mb_buf_appendf(b, err, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            rc = mb_buf_appendf(b, err, "\\u%04x", *p);
        else
            rc = mb_buf_append(b, p, 1, err);
    }
    return rc ? rc : mb_buf_append_cstr(b, "\"", err);
}

/* ------------------------------------------------------------ keys */

/* {"key_id": "HEX", "public_key": "BASE64"}: the id must match the key. */
static int parse_key(const char *origin, const char *path, json_t *o, struct mb_pubkey *out,
                     struct mb_err *err)
{
    const char *id, *pk;
    int rc = get_str(origin, path, o, "public_key", true, 128, &pk, err);
    if (!rc)
        rc = get_str(origin, path, o, "key_id", true, 16, &id, err);
    if (rc)
        return rc;
    struct mb_err e;
    if (mb_sign_pubkey_parse(pk, strlen(pk), "public_key", out, &e))
        return mb_fail(err, MB_E_FORMAT, "%s: %s.public_key: %s", origin, path, e.msg);
    char hex[MB_SIGN_KEYID_HEX_LEN];
    mb_sign_keyid_hex(out->keyid, hex);
    if (strcmp(hex, id))
        return mb_fail(err, MB_E_FORMAT, "%s: %s.key_id: \"%s\" but the public key's id is %s",
                       origin, path, id, hex);
    return 0;
}

static int emit_key_fields(struct mb_buf *b, const struct mb_pubkey *k, struct mb_err *err)
{
    char hex[MB_SIGN_KEYID_HEX_LEN], b64[MB_SIGN_PUBKEY_B64_LEN];
    mb_sign_keyid_hex(k->keyid, hex);
    mb_sign_pubkey_base64(k, b64);
    return mb_buf_appendf(b, err, "\"key_id\": \"%s\", \"public_key\": \"%s\"", hex, b64);
}

/* ------------------------------------------------------------ registry.json */

void mb_registry_meta_init(struct mb_registry_meta *m)
{
    memset(m, 0, sizeof(*m));
}

void mb_publisher_release(struct mb_publisher *p)
{
    mb_free(p->name);
    for (size_t j = 0; j < p->npacks; j++)
        mb_free(p->packs[j]);
    mb_free(p->packs);
    memset(p, 0, sizeof(*p));
}

void mb_registry_meta_release(struct mb_registry_meta *m)
{
    if (!m)
        return;
    mb_free(m->name);
    mb_free(m->description);
    for (size_t i = 0; i < m->npublishers; i++)
        mb_publisher_release(&m->publishers[i]);
    mb_free(m->publishers);
    mb_registry_meta_init(m);
}

static int parse_publisher(const char *origin, const char *path, json_t *o, struct mb_publisher *p,
                           struct mb_err *err)
{
    static const char *const fields[] = { "name", "key_id", "public_key", "packs" };
    if (!json_is_object(o))
        return mb_fail(err, MB_E_FORMAT, "%s: %s: expected an object, got %s", origin, path,
                       mb_json_type_name(o));
    int rc = only_fields(origin, path, o, fields, MB_ARRAY_LEN(fields), err);
    const char *name;
    if (!rc)
        rc = get_str(origin, path, o, "name", true, 128, &name, err);
    if (!rc)
        rc = parse_key(origin, path, o, &p->key, err);
    if (rc)
        return rc;
    p->name = mb_strdup(name);
    if (!p->name)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    json_t *packs = json_object_get(o, "packs");
    size_t n = 1;
    if (packs) {
        if (!json_is_array(packs) || json_array_size(packs) == 0)
            return mb_fail(err, MB_E_FORMAT, "%s: %s.packs: expected a non-empty array of patterns",
                           origin, path);
        n = json_array_size(packs);
        if (n > MB_REGISTRY_MAX_PATTERNS)
            return mb_fail(err, MB_E_LIMIT, "%s: %s.packs: more than %d patterns", origin, path,
                           MB_REGISTRY_MAX_PATTERNS);
    }
    p->packs = mb_calloc(n, sizeof(char *));
    if (!p->packs)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *pat = "*";
        if (packs) {
            json_t *s = json_array_get(packs, i);
            if (!json_is_string(s) || strlen(json_string_value(s)) != json_string_length(s))
                return mb_fail(err, MB_E_FORMAT, "%s: %s.packs[%zu]: expected a string", origin,
                               path, i);
            pat = json_string_value(s);
            struct mb_err e;
            if (mb_regmeta_pattern_check(pat, &e))
                return mb_fail(err, MB_E_FORMAT, "%s: %s.packs[%zu]: %s", origin, path, i, e.msg);
        }
        p->packs[i] = mb_strdup(pat);
        if (!p->packs[i])
            return mb_fail(err, MB_E_NOMEM, "out of memory");
        p->npacks++;
    }
    return 0;
}

int mb_registry_meta_parse(const char *origin, const char *text, size_t n,
                           struct mb_registry_meta *out, struct mb_err *err)
{
    static const char *const fields[] = { "format", "name",      "description",
                                          "keys",   "threshold", "publishers" };
    mb_registry_meta_init(out);
    json_t *root = load_json(origin, text, n, MB_REGISTRY_JSON_MAX_BYTES, err);
    if (!root)
        return err ? err->code : MB_E_FORMAT;
    int rc = only_fields(origin, "(top level)", root, fields, MB_ARRAY_LEN(fields), err);
    if (!rc)
        rc = check_format(origin, root, err);
    const char *name = NULL, *desc = NULL;
    if (!rc)
        rc = get_str(origin, "(top level)", root, "name", true, MB_REGISTRY_NAME_MAX, &name, err);
    if (!rc) {
        struct mb_err e;
        if (mb_registry_name_check(name, &e))
            rc = mb_fail(err, MB_E_FORMAT, "%s: name: %s", origin, e.msg);
    }
    if (!rc)
        rc = get_str(origin, "(top level)", root, "description", false, 1024, &desc, err);
    if (rc)
        goto out;
    out->name = mb_strdup(name);
    out->description = desc ? mb_strdup(desc) : NULL;
    if (!out->name || (desc && !out->description)) {
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        goto out;
    }
    json_t *keys = json_object_get(root, "keys");
    if (!keys || !json_is_array(keys) || json_array_size(keys) == 0) {
        rc = mb_fail(err, MB_E_FORMAT, "%s: keys: expected a non-empty array of maintainer keys",
                     origin);
        goto out;
    }
    if (json_array_size(keys) > MB_REGISTRY_MAX_KEYS) {
        rc = mb_fail(err, MB_E_LIMIT, "%s: keys: more than %d keys", origin, MB_REGISTRY_MAX_KEYS);
        goto out;
    }
    static const char *const key_fields[] = { "key_id", "public_key" };
    for (size_t i = 0; i < json_array_size(keys); i++) {
        char path[32];
        snprintf(path, sizeof(path), "keys[%zu]", i);
        json_t *k = json_array_get(keys, i);
        if (!json_is_object(k)) {
            rc = mb_fail(err, MB_E_FORMAT, "%s: %s: expected an object, got %s", origin, path,
                         mb_json_type_name(k));
            goto out;
        }
        rc = only_fields(origin, path, k, key_fields, 2, err);
        if (!rc)
            rc = parse_key(origin, path, k, &out->keys[i], err);
        if (rc)
            goto out;
        for (size_t j = 0; j < i; j++)
            if (!memcmp(out->keys[j].keyid, out->keys[i].keyid, MB_SIGN_KEYID_LEN)) {
                rc = mb_fail(err, MB_E_FORMAT, "%s: %s: the key is listed twice", origin, path);
                goto out;
            }
        out->nkeys++;
    }
    uint64_t th;
    rc = get_uint(origin, "(top level)", root, "threshold", 1, out->nkeys, &th, err);
    if (rc)
        goto out;
    out->threshold = (unsigned)th;
    json_t *pubs = json_object_get(root, "publishers");
    if (!pubs || !json_is_array(pubs)) {
        rc = mb_fail(err, MB_E_FORMAT, "%s: publishers: expected an array", origin);
        goto out;
    }
    size_t np = json_array_size(pubs);
    if (np > MB_REGISTRY_MAX_PUBLISHERS) {
        rc = mb_fail(err, MB_E_LIMIT, "%s: publishers: more than %d", origin,
                     MB_REGISTRY_MAX_PUBLISHERS);
        goto out;
    }
    out->publishers = mb_calloc(np ? np : 1, sizeof(*out->publishers));
    if (!out->publishers) {
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < np; i++) {
        char path[32];
        snprintf(path, sizeof(path), "publishers[%zu]", i);
        out->npublishers++;
        rc = parse_publisher(origin, path, json_array_get(pubs, i), &out->publishers[i], err);
        if (rc)
            goto out;
        for (size_t j = 0; j < i; j++)
            if (!memcmp(out->publishers[j].key.keyid, out->publishers[i].key.keyid,
                        MB_SIGN_KEYID_LEN)) {
                rc = mb_fail(err, MB_E_FORMAT,
                             "%s: %s: the key is already listed for publisher \"%s\"", origin, path,
                             out->publishers[j].name);
                goto out;
            }
    }
out:
    json_decref(root);
    if (rc)
        mb_registry_meta_release(out);
    return rc;
}

int mb_registry_meta_emit(const struct mb_registry_meta *m, struct mb_buf *out, struct mb_err *err)
{
    int rc = mb_buf_appendf(out, err, "{\n  \"format\": %d,\n  \"name\": ", MB_REGISTRY_FORMAT);
    if (!rc)
        rc = mb_regmeta_json_str(out, m->name, err);
    if (!rc && m->description) {
        rc = mb_buf_append_cstr(out, ",\n  \"description\": ", err);
        if (!rc)
            rc = mb_regmeta_json_str(out, m->description, err);
    }
    if (!rc)
        rc = mb_buf_append_cstr(out, ",\n  \"keys\": [", err);
    for (size_t i = 0; !rc && i < m->nkeys; i++) {
        rc = mb_buf_append_cstr(out, i ? ",\n    {" : "\n    {", err);
        if (!rc)
            rc = emit_key_fields(out, &m->keys[i], err);
        if (!rc)
            rc = mb_buf_append_cstr(out, "}", err);
    }
    if (!rc)
        rc = mb_buf_appendf(out, err, "\n  ],\n  \"threshold\": %u,\n  \"publishers\": [",
                            m->threshold);
    for (size_t i = 0; !rc && i < m->npublishers; i++) {
        const struct mb_publisher *p = &m->publishers[i];
        rc = mb_buf_append_cstr(out, i ? ",\n    {\"name\": " : "\n    {\"name\": ", err);
        if (!rc)
            rc = mb_regmeta_json_str(out, p->name, err);
        if (!rc)
            rc = mb_buf_append_cstr(out, ", ", err);
        if (!rc)
            rc = emit_key_fields(out, &p->key, err);
        if (!rc)
            rc = mb_buf_append_cstr(out, ", \"packs\": [", err);
        for (size_t j = 0; !rc && j < p->npacks; j++) {
            if (j)
                rc = mb_buf_append_cstr(out, ", ", err);
            if (!rc)
                rc = mb_regmeta_json_str(out, p->packs[j], err);
        }
        if (!rc)
            rc = mb_buf_append_cstr(out, "]}", err);
    }
    if (!rc)
        rc = mb_buf_append_cstr(out, m->npublishers ? "\n  ]\n}\n" : "]\n}\n", err);
    return rc;
}

const struct mb_publisher *mb_registry_meta_publisher(const struct mb_registry_meta *m,
                                                      const uint8_t keyid[MB_SIGN_KEYID_LEN],
                                                      const char *id, bool *listed)
{
    if (listed)
        *listed = false;
    for (size_t i = 0; i < m->npublishers; i++) {
        const struct mb_publisher *p = &m->publishers[i];
        if (memcmp(p->key.keyid, keyid, MB_SIGN_KEYID_LEN))
            continue;
        if (listed)
            *listed = true;
        for (size_t j = 0; j < p->npacks; j++)
            if (mb_registry_pattern_match(p->packs[j], id))
                return p;
    }
    return NULL;
}

/* ------------------------------------------------------------ snapshot.json */

void mb_snapshot_init(struct mb_snapshot *s)
{
    memset(s, 0, sizeof(*s));
}

void mb_snapshot_release(struct mb_snapshot *s)
{
    if (!s)
        return;
    mb_free(s->name);
    for (size_t i = 0; i < s->npacks; i++)
        mb_free(s->packs[i].id);
    mb_free(s->packs);
    mb_snapshot_init(s);
}

static int cmp_entry(const void *a, const void *b)
{
    const struct mb_snapshot_entry *x = a, *y = b;
    return strcmp(x->id, y->id);
}

int mb_snapshot_parse(const char *origin, const char *text, size_t n, struct mb_snapshot *out,
                      struct mb_err *err)
{
    static const char *const fields[] = { "format",  "name",     "version", "timestamp",
                                          "expires", "registry", "packs" };
    static const char *const file_fields[] = { "sha256", "size" };
    static const char *const pack_fields[] = { "kind", "sha256", "size" };
    mb_snapshot_init(out);
    json_t *root = load_json(origin, text, n, MB_SNAPSHOT_MAX_BYTES, err);
    if (!root)
        return err ? err->code : MB_E_FORMAT;
    const char *top = "(top level)";
    int rc = only_fields(origin, top, root, fields, MB_ARRAY_LEN(fields), err);
    if (!rc)
        rc = check_format(origin, root, err);
    const char *name = NULL;
    if (!rc)
        rc = get_str(origin, top, root, "name", true, MB_REGISTRY_NAME_MAX, &name, err);
    if (!rc) {
        struct mb_err e;
        if (mb_registry_name_check(name, &e))
            rc = mb_fail(err, MB_E_FORMAT, "%s: name: %s", origin, e.msg);
    }
    if (!rc)
        rc = get_uint(origin, top, root, "version", 1, MB_SNAPSHOT_VERSION_MAX, &out->version, err);
    if (!rc)
        rc = get_time(origin, top, root, "timestamp", &out->timestamp, err);
    if (!rc)
        rc = get_time(origin, top, root, "expires", &out->expires, err);
    if (rc)
        goto out;
    out->name = mb_strdup(name);
    if (!out->name) {
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        goto out;
    }
    json_t *reg = json_object_get(root, "registry");
    if (!reg || !json_is_object(reg)) {
        rc = mb_fail(err, MB_E_FORMAT, "%s: registry: expected an object {sha256, size}", origin);
        goto out;
    }
    rc = only_fields(origin, "registry", reg, file_fields, 2, err);
    if (!rc)
        rc = get_sha(origin, "registry", reg, out->registry_sha256, err);
    if (!rc)
        rc = get_uint(origin, "registry", reg, "size", 1, MB_REGISTRY_JSON_MAX_BYTES,
                      &out->registry_size, err);
    if (rc)
        goto out;
    json_t *packs = json_object_get(root, "packs");
    if (!packs || !json_is_object(packs)) {
        rc = mb_fail(err, MB_E_FORMAT, "%s: packs: expected an object keyed by pack id", origin);
        goto out;
    }
    size_t np = json_object_size(packs);
    if (np > MB_SNAPSHOT_MAX_PACKS) {
        rc = mb_fail(err, MB_E_LIMIT, "%s: packs: more than %d entries", origin,
                     MB_SNAPSHOT_MAX_PACKS);
        goto out;
    }
    out->packs = mb_calloc(np ? np : 1, sizeof(*out->packs));
    if (!out->packs) {
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        goto out;
    }
    const char *id;
    json_t *e;
    json_object_foreach(packs, id, e)
    {
        char path[MB_PACK_ID_MAX + 80];
        snprintf(path, sizeof(path), "packs.%.100s", id);
        struct mb_err ie;
        if (strlen(id) > MB_PACK_ID_MAX || mb_pack_id_check(id, &ie)) {
            rc = mb_fail(err, MB_E_FORMAT, "%s: packs: \"%.80s\" is not a valid pack id", origin,
                         id);
            goto out;
        }
        if (!json_is_object(e)) {
            rc = mb_fail(err, MB_E_FORMAT, "%s: %s: expected an object {kind, sha256, size}",
                         origin, path);
            goto out;
        }
        struct mb_snapshot_entry *se = &out->packs[out->npacks];
        const char *kind;
        uint64_t size;
        rc = only_fields(origin, path, e, pack_fields, 3, err);
        if (!rc)
            rc = get_str(origin, path, e, "kind", true, 16, &kind, err);
        if (!rc && !mb_pack_kind_parse(kind, &se->kind))
            rc = mb_fail(err, MB_E_FORMAT, "%s: %s.kind: \"%s\" is not base, router or data",
                         origin, path, kind);
        if (!rc)
            rc = get_sha(origin, path, e, se->sha256, err);
        if (!rc)
            rc = get_uint(origin, path, e, "size", 1, MB_INDEX_MAX_BYTES, &size, err);
        if (rc)
            goto out;
        se->size = size;
        se->id = mb_strdup(id);
        if (!se->id) {
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
            goto out;
        }
        out->npacks++;
    }
    if (out->npacks)
        qsort(out->packs, out->npacks, sizeof(*out->packs), cmp_entry);
out:
    json_decref(root);
    if (rc)
        mb_snapshot_release(out);
    return rc;
}

int mb_snapshot_emit(const struct mb_snapshot *s, struct mb_buf *out, struct mb_err *err)
{
    char ts[32], ex[32];
    if (!mb_time_format_utc(s->timestamp, ts, sizeof(ts)) ||
        !mb_time_format_utc(s->expires, ex, sizeof(ex)))
        return mb_fail(err, MB_E_INTERNAL, "snapshot time out of range");
    int rc = mb_buf_appendf(out, err, "{\n  \"format\": %d,\n  \"name\": ", MB_REGISTRY_FORMAT);
    if (!rc)
        rc = mb_regmeta_json_str(out, s->name, err);
    if (!rc)
        rc = mb_buf_appendf(out, err,
                            ",\n  \"version\": %llu,\n  \"timestamp\": \"%s\",\n  \"expires\": "
                            "\"%s\",\n  \"registry\": {\"sha256\": \"%s\", \"size\": %llu},\n  "
                            "\"packs\": {",
                            (unsigned long long)s->version, ts, ex, s->registry_sha256,
                            (unsigned long long)s->registry_size);
    for (size_t i = 0; !rc && i < s->npacks; i++) {
        const struct mb_snapshot_entry *e = &s->packs[i];
        rc = mb_buf_appendf(
            out, err, "%s\n    \"%s\": {\"kind\": \"%s\", \"sha256\": \"%s\", \"size\": %llu}",
            i ? "," : "", e->id, mb_pack_kind_name(e->kind), e->sha256,
            (unsigned long long)e->size);
    }
    if (!rc)
        rc = mb_buf_append_cstr(out, s->npacks ? "\n  }\n}\n" : "}\n}\n", err);
    return rc;
}

const struct mb_snapshot_entry *mb_snapshot_find(const struct mb_snapshot *s, const char *id)
{
    size_t lo = 0, hi = s->npacks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->packs[mid].id, id);
        if (c == 0)
            return &s->packs[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ------------------------------------------------------------ signatures */

int mb_snapshot_verify_sigs(const char *origin, const void *snap, size_t snap_n,
                            const struct mb_str *sigs, size_t nsig, const struct mb_pubkey *pinned,
                            size_t npinned, unsigned threshold, struct mb_err *err)
{
    if (threshold == 0)
        threshold = 1;
    if (nsig == 0)
        return mb_fail(err, MB_E_SIGNATURE, "%s: the snapshot is not signed (no %s)", origin,
                       "snapshot.json.minisig");
    uint8_t hash[MB_SIGN_HASH_LEN];
    struct mb_sign_hasher h;
    mb_sign_hasher_init(&h);
    mb_sign_hasher_update(&h, snap, snap_n);
    mb_sign_hasher_final(&h, hash);
    bool used[MB_REGISTRY_MAX_KEYS] = { false };
    unsigned good = 0;
    struct mb_err first;
    mb_err_init(&first);
    for (size_t i = 0; i < nsig; i++) {
        char sname[48];
        mb_snapshot_sig_name((unsigned)i + 1, sname, sizeof(sname));
        struct mb_sig sig;
        struct mb_err e;
        mb_err_init(&e);
        if (mb_sign_sig_parse(sigs[i].p, sigs[i].n, sname, &sig, &e)) {
            if (!first.code)
                mb_fail(&first, MB_E_SIGNATURE, "%s: %s", origin, e.msg);
            continue;
        }
        size_t k = 0;
        while (k < npinned && memcmp(pinned[k].keyid, sig.keyid, MB_SIGN_KEYID_LEN))
            k++;
        if (k == npinned) {
            char hex[MB_SIGN_KEYID_HEX_LEN];
            mb_sign_keyid_hex(sig.keyid, hex);
            if (!first.code)
                mb_fail(&first, MB_E_SIGNATURE,
                        "%s: %s is signed by key %s, which is not pinned for this registry", origin,
                        sname, hex);
            continue;
        }
        if (used[k])
            continue; /* the same key twice counts once */
        if (mb_sign_verify_prehashed(&pinned[k], hash, &sig, sname, 0, &e)) {
            if (!first.code)
                mb_fail(&first, MB_E_SIGNATURE, "%s: %s", origin, e.msg);
            continue;
        }
        used[k] = true;
        good++;
    }
    if (good >= threshold)
        return 0;
    if (good == 0 && first.code)
        return mb_fail(err, MB_E_SIGNATURE, "%s", first.msg);
    return mb_fail(err, MB_E_SIGNATURE,
                   "%s: %u valid signature%s by pinned keys, the registry needs %u%s%s", origin,
                   good, good == 1 ? "" : "s", threshold, first.code ? "; " : "",
                   first.code ? first.msg : "");
}
