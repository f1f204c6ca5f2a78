/*
 * index_json.c - registry index records (`index/<id>.json`, DESIGN.md §4 and
 * docs/registry.md): strict parsing with jansson (size cap, duplicate keys
 * rejected, exact types, unknown fields rejected, every string checked),
 * canonical emission, and the helpers `pack build`/publish use to add a
 * version from a manifest.
 */
#include "manifests_int.h"

#include <jansson.h>

struct jctx {
    const char *name;
    struct mb_err *err;
};

static int jerr(struct jctx *c, const char *path, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int jerr(struct jctx *c, const char *path, int code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return mb_fail(c->err, code, "%s: %s: %s", c->name, path, msg);
}

const char *mb_json_type_name(const struct json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

static int check_fields(struct jctx *c, json_t *obj, const char *path, const char *const *allowed,
                        size_t n)
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
            return jerr(c, path, MB_E_FORMAT, "unknown field \"%.64s\"", key);
    }
    return 0;
}

/* A string field; `required` or NULL when absent. */
static int jstr(struct jctx *c, const json_t *obj, const char *key, const char *path, bool required,
                size_t max, bool multiline, char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v) {
        if (required)
            return jerr(c, path[0] ? path : "(top level)", MB_E_FORMAT,
                        "missing required field \"%s\"", key);
        return 0;
    }
    size_t n = json_is_string(v) ? json_string_length(v) : 0;
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    const char *why = s ? mb_check_text(s, n, max, multiline) : NULL;
    if (!s || strlen(s) != n || why) {
        char p[128]; /* the field's path, only needed for the message */
        snprintf(p, sizeof(p), "%s%s%s", path, *path ? "." : "", key);
        if (!s)
            return jerr(c, p, MB_E_FORMAT, "expected a string, got %s", mb_json_type_name(v));
        if (strlen(s) != n)
            return jerr(c, p, MB_E_FORMAT, "NUL byte in a string");
        return jerr(c, p, n > max ? MB_E_LIMIT : MB_E_FORMAT, "%s (at most %zu bytes)", why, max);
    }
    *out = mb_strndup(s, n);
    return *out ? 0 : mb_fail(c->err, MB_E_NOMEM, "%s: out of memory", c->name);
}

static int jid(struct jctx *c, const json_t *obj, const char *key, const char *path, bool required,
               char **out)
{
    int rc = jstr(c, obj, key, path, required, 256, false, out);
    struct mb_err e;
    if (!rc && *out && mb_pack_id_check(*out, &e)) {
        char p[128];
        snprintf(p, sizeof(p), "%s%s%s", path, *path ? "." : "", key);
        return jerr(c, p, MB_E_FORMAT, "%s", e.msg);
    }
    return rc;
}

static int jrange(struct jctx *c, const json_t *obj, const char *key, const char *path,
                  bool required, char **text, struct mb_range *r)
{
    int rc = jstr(c, obj, key, path, required, MB_RANGE_MAX_LEN, false, text);
    if (rc || !*text)
        return rc;
    struct mb_err e;
    rc = mb_range_parse(*text, false, r, &e);
    if (rc) {
        char p[128];
        snprintf(p, sizeof(p), "%s.%s", path, key);
        return jerr(c, p, rc == MB_E_NOMEM ? rc : MB_E_FORMAT, "%s", e.msg);
    }
    return 0;
}

static int jbool(struct jctx *c, const json_t *obj, const char *key, const char *path, bool def,
                 bool *out)
{
    json_t *v = json_object_get(obj, key);
    *out = def;
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return jerr(c, path, MB_E_FORMAT, "\"%s\": expected true or false, got %s", key,
                    mb_json_type_name(v));
    *out = json_is_true(v);
    return 0;
}

static int jarray(struct jctx *c, const json_t *obj, const char *key, const char *path, size_t max,
                  json_t **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_is_array(v))
        return jerr(c, path, MB_E_FORMAT, "\"%s\": expected an array, got %s", key,
                    mb_json_type_name(v));
    if (json_array_size(v) > max)
        return jerr(c, path, MB_E_LIMIT, "\"%s\": more than %zu entries", key, max);
    *out = v;
    return 0;
}

static int parse_version(struct jctx *c, json_t *o, const char *path, struct mb_index_version *v)
{
    static const char *const fields[] = {
        "version",
        "name",
        "domain",
        "description",
        "license",
        "base",
        "base_compatibility",
        "dependencies",
        "conflicts",
        "resident",
        "width",
        "archive",
        "sha256",
        "size",
        "yanked",
        "published",
    };
    if (!json_is_object(o))
        return jerr(c, path, MB_E_FORMAT, "expected an object, got %s", mb_json_type_name(o));
    int rc = check_fields(c, o, path, fields, MB_ARRAY_LEN(fields));
    if (!rc)
        rc = jstr(c, o, "version", path, true, MB_SEMVER_MAX_LEN, false, &v->version_text);
    if (rc)
        return rc;
    struct mb_err e;
    if (mb_semver_parse_cstr(v->version_text, &v->version, &e)) {
        char p[96];
        snprintf(p, sizeof(p), "%s.version", path);
        return jerr(c, p, MB_E_FORMAT, "%s", e.msg);
    }
    rc = jstr(c, o, "name", path, true, 128, false, &v->name);
    if (!rc)
        rc = jstr(c, o, "domain", path, false, 64, false, &v->domain);
    if (!rc)
        rc = jstr(c, o, "description", path, false, 4096, true, &v->description);
    if (!rc)
        rc = jstr(c, o, "license", path, false, 128, false, &v->license);
    if (!rc)
        rc = jid(c, o, "base", path, false, &v->base);
    if (!rc)
        rc = jbool(c, o, "resident", path, false, &v->resident);
    if (!rc)
        rc = jbool(c, o, "yanked", path, false, &v->yanked);
    if (!rc)
        rc = jstr(c, o, "archive", path, true, 1024, false, &v->archive);
    if (rc)
        return rc;
    const char *why = mb_check_rel_path(v->archive);
    if (why)
        return jerr(c, path, MB_E_FORMAT, "\"archive\": \"%.64s\": %s", v->archive, why);
    char *sha = NULL;
    rc = jstr(c, o, "sha256", path, true, 64, false, &sha);
    if (rc)
        return rc;
    uint8_t bin[MB_SHA256_LEN];
    bool lower = true;
    for (const char *p = sha; *p; p++)
        lower &= !(*p >= 'A' && *p <= 'F');
    if (strlen(sha) != 64 || !lower || !mb_hex_decode(sha, bin, sizeof(bin))) {
        mb_free(sha);
        return jerr(c, path, MB_E_FORMAT, "\"sha256\": expected 64 lower-case hex digits");
    }
    memcpy(v->sha256, sha, 65);
    mb_free(sha);
    json_t *size = json_object_get(o, "size");
    if (!size)
        return jerr(c, path, MB_E_FORMAT, "missing required field \"size\"");
    if (!json_is_integer(size) || json_integer_value(size) < 0)
        return jerr(c, path, MB_E_FORMAT, "\"size\": expected a non-negative integer, got %s",
                    mb_json_type_name(size));
    v->size = (uint64_t)json_integer_value(size);
    json_t *width = json_object_get(o, "width");
    if (width) {
        if (!json_is_integer(width) || json_integer_value(width) <= 0 ||
            json_integer_value(width) > (1 << 20))
            return jerr(c, path, MB_E_FORMAT, "\"width\": expected a positive integer");
        v->width = (uint64_t)json_integer_value(width);
    }
    rc = jstr(c, o, "published", path, false, 64, false, &v->published);
    if (rc)
        return rc;
    int64_t t;
    if (v->published && !mb_time_parse_utc(v->published, &t))
        return jerr(c, path, MB_E_FORMAT, "\"published\": \"%.40s\" is not an RFC 3339 UTC time",
                    v->published);

    json_t *arr;
    rc = jarray(c, o, "base_compatibility", path, 64, &arr);
    if (rc)
        return rc;
    size_t na = arr ? json_array_size(arr) : 0;
    v->base_compat = mb_calloc(na ? na : 1, sizeof(char *));
    v->base_compat_ranges = mb_calloc(na ? na : 1, sizeof(struct mb_range));
    if (!v->base_compat || !v->base_compat_ranges)
        return mb_fail(c->err, MB_E_NOMEM, "%s: out of memory", c->name);
    for (size_t i = 0; i < na; i++) {
        json_t *s = json_array_get(arr, i);
        char p[128];
        snprintf(p, sizeof(p), "%s.base_compatibility[%zu]", path, i);
        if (!json_is_string(s))
            return jerr(c, p, MB_E_FORMAT, "expected a string, got %s", mb_json_type_name(s));
        const char *bad =
            mb_check_text(json_string_value(s), json_string_length(s), MB_RANGE_MAX_LEN, false);
        if (bad || strlen(json_string_value(s)) != json_string_length(s))
            return jerr(c, p, MB_E_FORMAT, "%s", bad ? bad : "NUL byte in a string");
        v->base_compat[i] = mb_strdup(json_string_value(s));
        if (!v->base_compat[i])
            return mb_fail(c->err, MB_E_NOMEM, "%s: out of memory", c->name);
        struct mb_err re;
        rc = mb_range_parse(v->base_compat[i], false, &v->base_compat_ranges[i], &re);
        if (rc) {
            mb_free(v->base_compat[i]);
            v->base_compat[i] = NULL;
            return jerr(c, p, rc == MB_E_NOMEM ? rc : MB_E_FORMAT, "%s", re.msg);
        }
        v->nbase_compat++;
    }

    rc = jarray(c, o, "dependencies", path, MB_MANIFEST_MAX_LIST, &arr);
    if (rc)
        return rc;
    na = arr ? json_array_size(arr) : 0;
    v->deps = mb_calloc(na ? na : 1, sizeof(*v->deps));
    if (!v->deps)
        return mb_fail(c->err, MB_E_NOMEM, "%s: out of memory", c->name);
    static const char *const dep_fields[] = { "id", "version" };
    for (size_t i = 0; i < na; i++) {
        json_t *d = json_array_get(arr, i);
        char p[128];
        snprintf(p, sizeof(p), "%s.dependencies[%zu]", path, i);
        if (!json_is_object(d))
            return jerr(c, p, MB_E_FORMAT, "expected an object, got %s", mb_json_type_name(d));
        v->ndeps++;
        rc = check_fields(c, d, p, dep_fields, 2);
        if (!rc)
            rc = jid(c, d, "id", p, true, &v->deps[i].id);
        if (!rc)
            rc = jrange(c, d, "version", p, true, &v->deps[i].version, &v->deps[i].range);
        if (rc)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(v->deps[j].id, v->deps[i].id))
                return jerr(c, p, MB_E_FORMAT, "\"%s\" is listed twice", v->deps[i].id);
    }
    rc = jarray(c, o, "conflicts", path, MB_MANIFEST_MAX_LIST, &arr);
    if (rc)
        return rc;
    na = arr ? json_array_size(arr) : 0;
    v->conflicts = mb_calloc(na ? na : 1, sizeof(*v->conflicts));
    if (!v->conflicts)
        return mb_fail(c->err, MB_E_NOMEM, "%s: out of memory", c->name);
    for (size_t i = 0; i < na; i++) {
        json_t *d = json_array_get(arr, i);
        char p[128];
        snprintf(p, sizeof(p), "%s.conflicts[%zu]", path, i);
        if (!json_is_object(d))
            return jerr(c, p, MB_E_FORMAT, "expected an object, got %s", mb_json_type_name(d));
        v->nconflicts++;
        rc = check_fields(c, d, p, dep_fields, 2);
        if (!rc)
            rc = jid(c, d, "id", p, true, &v->conflicts[i].id);
        if (!rc)
            rc =
                jrange(c, d, "version", p, false, &v->conflicts[i].version, &v->conflicts[i].range);
        if (rc)
            return rc;
    }
    return 0;
}

void mb_index_version_release(struct mb_index_version *v)
{
    if (!v)
        return;
    mb_free(v->version_text);
    mb_free(v->name);
    mb_free(v->domain);
    mb_free(v->description);
    mb_free(v->license);
    mb_free(v->base);
    for (size_t i = 0; i < v->nbase_compat; i++) {
        mb_free(v->base_compat[i]);
        mb_range_release(&v->base_compat_ranges[i]);
    }
    mb_free(v->base_compat);
    mb_free(v->base_compat_ranges);
    for (size_t i = 0; i < v->ndeps; i++) {
        mb_free(v->deps[i].id);
        mb_free(v->deps[i].version);
        mb_range_release(&v->deps[i].range);
    }
    mb_free(v->deps);
    for (size_t i = 0; i < v->nconflicts; i++) {
        mb_free(v->conflicts[i].id);
        mb_free(v->conflicts[i].version);
        mb_range_release(&v->conflicts[i].range);
    }
    mb_free(v->conflicts);
    mb_free(v->archive);
    mb_free(v->published);
    memset(v, 0, sizeof(*v));
}

void mb_index_record_init(struct mb_index_record *r)
{
    memset(r, 0, sizeof(*r));
}

void mb_index_record_release(struct mb_index_record *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nversions; i++)
        mb_index_version_release(&r->versions[i]);
    mb_free(r->versions);
    mb_free(r->id);
    mb_index_record_init(r);
}

static int cmp_index_version(const void *a, const void *b)
{
    const struct mb_index_version *x = a, *y = b;
    return mb_semver_cmp(&x->version, &y->version);
}

int mb_index_parse(const char *name, const char *text, size_t n, const char *expect_id,
                   struct mb_index_record *out, struct mb_err *err)
{
    mb_index_record_init(out);
    struct jctx c = { name, err };
    if (n > MB_INDEX_MAX_BYTES)
        return mb_fail(err, MB_E_LIMIT, "%s: larger than %u bytes", name, MB_INDEX_MAX_BYTES);
    json_error_t je;
    json_t *root = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return mb_fail(err, MB_E_FORMAT, "%s:%d:%d: invalid JSON: %s", name, je.line, je.column,
                       je.text);
    int rc = 0;
    static const char *const fields[] = { "format", "id", "kind", "versions" };
    if (!json_is_object(root)) {
        rc = jerr(&c, "(top level)", MB_E_FORMAT, "expected an object, got %s",
                  mb_json_type_name(root));
        goto out;
    }
    rc = check_fields(&c, root, "(top level)", fields, MB_ARRAY_LEN(fields));
    if (rc)
        goto out;
    json_t *fmt = json_object_get(root, "format");
    if (!fmt || !json_is_integer(fmt)) {
        rc = jerr(&c, "format", MB_E_FORMAT, "expected the integer %d", MB_INDEX_FORMAT);
        goto out;
    }
    if (json_integer_value(fmt) != MB_INDEX_FORMAT) {
        rc = jerr(&c, "format", MB_E_UNSUPPORTED,
                  "format %lld is not supported (this modularbase reads format %d; upgrade it)",
                  (long long)json_integer_value(fmt), MB_INDEX_FORMAT);
        goto out;
    }
    rc = jid(&c, root, "id", "", true, &out->id);
    if (rc)
        goto out;
    if (expect_id && strcmp(out->id, expect_id)) {
        rc = jerr(&c, "id", MB_E_FORMAT, "the record is for \"%s\", expected \"%s\"", out->id,
                  expect_id);
        goto out;
    }
    char *kind = NULL;
    rc = jstr(&c, root, "kind", "", true, 16, false, &kind);
    if (rc)
        goto out;
    if (!mb_pack_kind_parse(kind, &out->kind)) {
        rc =
            jerr(&c, "kind", MB_E_FORMAT, "\"%s\" is not a pack kind (base, router or data)", kind);
        mb_free(kind);
        goto out;
    }
    mb_free(kind);
    json_t *vers = json_object_get(root, "versions");
    if (!vers || !json_is_array(vers)) {
        rc = jerr(&c, "versions", MB_E_FORMAT, "expected an array");
        goto out;
    }
    size_t nv = json_array_size(vers);
    if (nv > MB_INDEX_MAX_VERSIONS) {
        rc = jerr(&c, "versions", MB_E_LIMIT, "more than %d versions", MB_INDEX_MAX_VERSIONS);
        goto out;
    }
    out->versions = mb_calloc(nv ? nv : 1, sizeof(*out->versions));
    if (!out->versions) {
        rc = mb_fail(err, MB_E_NOMEM, "%s: out of memory", name);
        goto out;
    }
    for (size_t i = 0; i < nv; i++) {
        char p[48];
        snprintf(p, sizeof(p), "versions[%zu]", i);
        out->nversions++;
        rc = parse_version(&c, json_array_get(vers, i), p, &out->versions[i]);
        if (rc)
            goto out;
        struct mb_index_version *v = &out->versions[i];
        if (out->kind == MB_PACK_BASE && (v->nbase_compat || v->base)) {
            rc = jerr(&c, p, MB_E_FORMAT, "a base pack has no base_compatibility or base");
            goto out;
        }
        if (out->kind != MB_PACK_BASE && v->nbase_compat == 0) {
            rc = jerr(&c, p, MB_E_FORMAT, "a %s pack needs base_compatibility",
                      mb_pack_kind_name(out->kind));
            goto out;
        }
    }
    qsort(out->versions, out->nversions, sizeof(*out->versions), cmp_index_version);
    for (size_t i = 1; i < out->nversions; i++) {
        if (!mb_semver_cmp(&out->versions[i - 1].version, &out->versions[i].version)) {
            rc = jerr(&c, "versions", MB_E_FORMAT,
                      "versions \"%s\" and \"%s\" have the same precedence (build metadata "
                      "does not make a new version)",
                      out->versions[i - 1].version_text, out->versions[i].version_text);
            goto out;
        }
    }
out:
    json_decref(root);
    if (rc)
        mb_index_record_release(out);
    return rc;
}

int mb_index_load(const char *path, const char *expect_id, struct mb_index_record *out,
                  struct mb_err *err)
{
    struct mb_buf b;
    mb_buf_init(&b, MB_INDEX_MAX_BYTES);
    mb_index_record_init(out);
    int rc = mb_file_read_all(path, MB_INDEX_MAX_BYTES, &b, err);
    if (!rc)
        rc = mb_index_parse(path, b.p ? b.p : "", b.n, expect_id, out, err);
    else if (rc == MB_E_LIMIT)
        rc = mb_fail(err, MB_E_LIMIT, "%s: larger than %u bytes", path, MB_INDEX_MAX_BYTES);
    mb_buf_release(&b);
    return rc;
}

/* ------------------------------------------------------------ emit */

static int set_str(json_t *o, const char *k, const char *v)
{
    if (!v)
        return 0;
    json_t *s = json_string(v);
    return s && !json_object_set_new(o, k, s) ? 0 : -1;
}

static json_t *version_json(const struct mb_index_version *v)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    int bad = set_str(o, "version", v->version_text) | set_str(o, "name", v->name) |
              set_str(o, "domain", v->domain) | set_str(o, "description", v->description) |
              set_str(o, "license", v->license) | set_str(o, "base", v->base);
    if (v->nbase_compat) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < v->nbase_compat; i++)
            bad |= json_array_append_new(a, json_string(v->base_compat[i]));
        bad |= !a || json_object_set_new(o, "base_compatibility", a);
    }
    if (v->ndeps) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < v->ndeps; i++)
            bad |= json_array_append_new(
                a, json_pack("{s:s,s:s}", "id", v->deps[i].id, "version", v->deps[i].version));
        bad |= !a || json_object_set_new(o, "dependencies", a);
    }
    if (v->nconflicts) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < v->nconflicts; i++) {
            json_t *e = json_pack("{s:s}", "id", v->conflicts[i].id);
            if (e && v->conflicts[i].version)
                bad |= set_str(e, "version", v->conflicts[i].version);
            bad |= json_array_append_new(a, e);
        }
        bad |= !a || json_object_set_new(o, "conflicts", a);
    }
    bad |= json_object_set_new(o, "resident", json_boolean(v->resident));
    if (v->width)
        bad |= json_object_set_new(o, "width", json_integer((json_int_t)v->width));
    bad |= set_str(o, "archive", v->archive ? v->archive : "");
    bad |= set_str(o, "sha256", v->sha256);
    bad |= json_object_set_new(o, "size", json_integer((json_int_t)v->size));
    bad |= json_object_set_new(o, "yanked", json_boolean(v->yanked));
    bad |= set_str(o, "published", v->published);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int mb_index_emit(const struct mb_index_record *r, struct mb_buf *out, struct mb_err *err)
{
    json_t *root = json_object();
    json_t *vers = json_array();
    int bad = !root || !vers;
    if (!bad) {
        bad |= json_object_set_new(root, "format", json_integer(MB_INDEX_FORMAT));
        bad |= set_str(root, "id", r->id);
        bad |= set_str(root, "kind", mb_pack_kind_name(r->kind));
        for (size_t i = 0; i < r->nversions && !bad; i++) {
            json_t *v = version_json(&r->versions[i]);
            bad |= !v || json_array_append_new(vers, v);
        }
        bad |= json_object_set(root, "versions", vers);
    }
    char *s = bad ? NULL : json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(vers);
    json_decref(root);
    if (!s)
        return mb_fail(err, MB_E_NOMEM, "out of memory emitting an index record");
    int rc = mb_buf_append_cstr(out, s, err);
    free(s); /* allocated by jansson */
    return rc ? rc : mb_buf_append_cstr(out, "\n", err);
}

/* Deep copy of a dependency list; ranges re-parsed from their text. */
static int copy_deps(const struct mb_manifest_dep *src, size_t n, struct mb_manifest_dep **dst,
                     size_t *ndst, struct mb_err *err)
{
    *dst = mb_calloc(n ? n : 1, sizeof(**dst));
    if (!*dst)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        (*ndst)++;
        (*dst)[i].id = mb_strdup(src[i].id);
        (*dst)[i].version = mb_strdup(src[i].version);
        if (!(*dst)[i].id || !(*dst)[i].version)
            return mb_fail(err, MB_E_NOMEM, "out of memory");
        int rc = mb_range_parse(src[i].version, false, &(*dst)[i].range, err);
        if (rc)
            return rc;
    }
    return 0;
}

static char *dup_or_null(const char *s, bool *bad)
{
    if (!s)
        return NULL;
    char *d = mb_strdup(s);
    *bad |= !d;
    return d;
}

int mb_index_version_from_manifest(const struct mb_manifest *m, struct mb_index_version *v,
                                   struct mb_err *err)
{
    bool bad = false;
    memset(v, 0, sizeof(*v));
    v->version_text = dup_or_null(m->version_text, &bad);
    v->name = dup_or_null(m->name, &bad);
    v->domain = dup_or_null(m->domain, &bad);
    v->description = dup_or_null(m->description, &bad);
    v->license = dup_or_null(m->license, &bad);
    v->base = dup_or_null(m->base, &bad);
    v->resident = m->resident;
    v->width = m->width;
    if (bad) {
        mb_index_version_release(v);
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    int rc = mb_semver_parse_cstr(v->version_text, &v->version, err);
    v->base_compat = mb_calloc(m->nbase_compat ? m->nbase_compat : 1, sizeof(char *));
    v->base_compat_ranges =
        mb_calloc(m->nbase_compat ? m->nbase_compat : 1, sizeof(struct mb_range));
    if (!rc && (!v->base_compat || !v->base_compat_ranges))
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
    for (size_t i = 0; !rc && i < m->nbase_compat; i++) {
        v->nbase_compat++;
        v->base_compat[i] = mb_strdup(m->base_compat[i]);
        rc = v->base_compat[i]
                 ? mb_range_parse(m->base_compat[i], false, &v->base_compat_ranges[i], err)
                 : mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    if (!rc)
        rc = copy_deps(m->deps, m->ndeps, &v->deps, &v->ndeps, err);
    if (!rc) {
        v->conflicts = mb_calloc(m->nconflicts ? m->nconflicts : 1, sizeof(*v->conflicts));
        if (!v->conflicts)
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; !rc && i < m->nconflicts; i++) {
        struct mb_manifest_conflict *d = &v->conflicts[i];
        v->nconflicts++;
        d->id = mb_strdup(m->conflicts[i].id);
        if (!d->id)
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        if (!rc && m->conflicts[i].version) {
            d->version = mb_strdup(m->conflicts[i].version);
            rc = d->version ? mb_range_parse(d->version, false, &d->range, err)
                            : mb_fail(err, MB_E_NOMEM, "out of memory");
        }
    }
    if (rc)
        mb_index_version_release(v);
    return rc;
}

int mb_index_record_put(struct mb_index_record *r, struct mb_index_version *v, struct mb_err *err)
{
    for (size_t i = 0; i < r->nversions; i++) {
        if (!mb_semver_cmp(&r->versions[i].version, &v->version)) {
            mb_index_version_release(&r->versions[i]);
            r->versions[i] = *v;
            memset(v, 0, sizeof(*v));
            return 0;
        }
    }
    struct mb_index_version *nv =
        mb_reallocarray(r->versions, r->nversions + 1, sizeof(*r->versions));
    if (!nv)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    r->versions = nv;
    r->versions[r->nversions++] = *v;
    memset(v, 0, sizeof(*v));
    qsort(r->versions, r->nversions, sizeof(*r->versions), cmp_index_version);
    return 0;
}
