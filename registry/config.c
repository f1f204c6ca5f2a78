/*
 * config.c - $MODULARBASE_HOME/config.yaml (docs/registry.md "config.yaml"):
 * the configured registries with their pinned keys, mirrors and priorities,
 * and a free `defaults:` map of scalar settings for the store and runtime.
 * Parsed strictly with libyaml (unknown keys, duplicates, anchors, aliases and
 * tags refused; errors say file:line:column), emitted canonically, saved
 * atomically. The file is small and written only by us or by hand.
 */
#include "client_int.h"

#include <yaml.h>

#define CONFIG_MAX_DEFAULTS 256

struct cfgp {
    const char *origin;
    yaml_document_t doc;
    struct mb_err *err;
};

static int perr(struct cfgp *p, const yaml_node_t *n, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int perr(struct cfgp *p, const yaml_node_t *n, int code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n)
        return mb_fail(p->err, code, "%s:%zu:%zu: %s", p->origin, (size_t)n->start_mark.line + 1,
                       (size_t)n->start_mark.column + 1, msg);
    return mb_fail(p->err, code, "%s: %s", p->origin, msg);
}

/* Refuse anchors, aliases and explicit tags before loading the document. */
static int prescan(const char *origin, const char *text, size_t n, struct mb_err *err)
{
    yaml_parser_t ps;
    if (!yaml_parser_initialize(&ps))
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    yaml_parser_set_input_string(&ps, (const unsigned char *)text, n);
    int rc = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&ps, &ev)) {
            rc = mb_fail(err, MB_E_FORMAT, "%s:%zu:%zu: invalid YAML: %s", origin,
                         (size_t)ps.problem_mark.line + 1, (size_t)ps.problem_mark.column + 1,
                         ps.problem ? ps.problem : "syntax error");
            break;
        }
        const char *bad = NULL;
        if (ev.type == YAML_ALIAS_EVENT)
            bad = "aliases are not allowed";
        else if (ev.type == YAML_SCALAR_EVENT && (ev.data.scalar.anchor || ev.data.scalar.tag))
            bad = ev.data.scalar.anchor ? "anchors are not allowed" : "tags are not allowed";
        else if (ev.type == YAML_SEQUENCE_START_EVENT &&
                 (ev.data.sequence_start.anchor || ev.data.sequence_start.tag))
            bad = "anchors and tags are not allowed";
        else if (ev.type == YAML_MAPPING_START_EVENT &&
                 (ev.data.mapping_start.anchor || ev.data.mapping_start.tag))
            bad = "anchors and tags are not allowed";
        else if (ev.type == YAML_DOCUMENT_START_EVENT && ev.data.document_start.version_directive)
            bad = "directives are not allowed";
        if (bad)
            rc = mb_fail(err, MB_E_FORMAT, "%s:%zu:%zu: %s", origin, (size_t)ev.start_mark.line + 1,
                         (size_t)ev.start_mark.column + 1, bad);
        bool end = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
        if (rc || end)
            break;
    }
    yaml_parser_delete(&ps);
    return rc;
}

static yaml_node_t *node(struct cfgp *p, int idx)
{
    return yaml_document_get_node(&p->doc, idx);
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static const char *type_name(const yaml_node_t *n)
{
    if (!n)
        return "nothing";
    return n->type == YAML_SCALAR_NODE     ? "a scalar"
           : n->type == YAML_SEQUENCE_NODE ? "a list"
                                           : "a mapping";
}

/* A scalar without NUL bytes or control characters (other than none at all). */
static int get_scalar(struct cfgp *p, const yaml_node_t *n, const char *field, size_t max,
                      const char **out)
{
    const char *s = scalar(n);
    if (!s)
        return perr(p, n, MB_E_FORMAT, "%s: expected a scalar, got %s", field, type_name(n));
    size_t len = n->data.scalar.length;
    if (strlen(s) != len)
        return perr(p, n, MB_E_FORMAT, "%s: NUL byte in a string", field);
    if (len > max)
        return perr(p, n, MB_E_LIMIT, "%s: longer than %zu bytes", field, max);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return perr(p, n, MB_E_FORMAT, "%s: control character", field);
    *out = s;
    return 0;
}

static int get_int(struct cfgp *p, const yaml_node_t *n, const char *field, int64_t min,
                   int64_t max, int64_t *out)
{
    const char *s = NULL;
    int rc = get_scalar(p, n, field, 32, &s);
    if (rc)
        return rc;
    int64_t v;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || !mb_parse_i64(s, &v) || v < min ||
        v > max)
        return perr(p, n, MB_E_FORMAT, "%s: expected an integer from %lld to %lld, got \"%s\"",
                    field, (long long)min, (long long)max, s);
    *out = v;
    return 0;
}

/* Check a mapping's keys against `allowed` (duplicates refused too). */
static int check_keys(struct cfgp *p, const yaml_node_t *map, const char *where,
                      const char *const *allowed, size_t n)
{
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top;
         a++) {
        const yaml_node_t *k = node(p, a->key);
        const char *ks = scalar(k);
        if (!ks)
            return perr(p, k, MB_E_FORMAT, "%s: keys must be scalars", where);
        bool ok = allowed == NULL;
        for (size_t i = 0; i < n && !ok; i++)
            ok = !strcmp(ks, allowed[i]);
        if (!ok)
            return perr(p, k, MB_E_FORMAT, "%s: unknown key \"%.64s\"", where, ks);
        for (yaml_node_pair_t *b = map->data.mapping.pairs.start; b < a; b++)
            if (!strcmp(scalar(node(p, b->key)) ? scalar(node(p, b->key)) : "", ks))
                return perr(p, k, MB_E_FORMAT, "%s: duplicate key \"%.64s\"", where, ks);
    }
    return 0;
}

static yaml_node_t *map_get(struct cfgp *p, const yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top;
         a++) {
        const char *ks = scalar(node(p, a->key));
        if (ks && !strcmp(ks, key))
            return node(p, a->value);
    }
    return NULL;
}

static bool is_null(const yaml_node_t *n)
{
    const char *s = scalar(n);
    return s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (!*s || !strcmp(s, "~") || !strcmp(s, "null"));
}

static int parse_registry(struct cfgp *p, const yaml_node_t *n, size_t idx,
                          struct mb_registry_conf *r)
{
    static const char *const keys[] = { "name", "url", "mirrors", "keys", "threshold", "priority" };
    char where[48];
    snprintf(where, sizeof(where), "registries[%zu]", idx);
    if (n->type != YAML_MAPPING_NODE)
        return perr(p, n, MB_E_FORMAT, "%s: expected a mapping, got %s", where, type_name(n));
    int rc = check_keys(p, n, where, keys, MB_ARRAY_LEN(keys));
    if (rc)
        return rc;
    const yaml_node_t *v = map_get(p, n, "name");
    const char *s;
    if (!v)
        return perr(p, n, MB_E_FORMAT, "%s: missing \"name\"", where);
    if ((rc = get_scalar(p, v, "name", MB_REGISTRY_NAME_MAX, &s)))
        return rc;
    struct mb_err e;
    if (mb_registry_name_check(s, &e))
        return perr(p, v, MB_E_FORMAT, "name: %s", e.msg);
    if (!(r->name = mb_strdup(s)))
        return mb_fail(p->err, MB_E_NOMEM, "out of memory");
    if (!(v = map_get(p, n, "url")))
        return perr(p, n, MB_E_FORMAT, "%s: missing \"url\"", where);
    if ((rc = get_scalar(p, v, "url", MB_REGISTRY_URL_MAX, &s)))
        return rc;
    if (strncmp(s, "file://", 7) && strncmp(s, "http://", 7) && strncmp(s, "https://", 8))
        return perr(p, v, MB_E_FORMAT, "url: \"%.80s\" is not an https://, http:// or file:// URL",
                    s);
    if (mb_registry_url_normalize(s, &r->url, &e))
        return perr(p, v, e.code, "url: %s", e.msg);
    if ((v = map_get(p, n, "mirrors")) && !is_null(v)) {
        if (v->type != YAML_SEQUENCE_NODE)
            return perr(p, v, MB_E_FORMAT, "mirrors: expected a list of URLs, got %s",
                        type_name(v));
        size_t cnt = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
        if (cnt > MB_REGISTRY_MAX_MIRRORS)
            return perr(p, v, MB_E_LIMIT, "mirrors: more than %d", MB_REGISTRY_MAX_MIRRORS);
        r->mirrors = mb_calloc(cnt ? cnt : 1, sizeof(char *));
        if (!r->mirrors)
            return mb_fail(p->err, MB_E_NOMEM, "out of memory");
        for (size_t i = 0; i < cnt; i++) {
            const yaml_node_t *m = node(p, v->data.sequence.items.start[i]);
            if ((rc = get_scalar(p, m, "mirrors[]", MB_REGISTRY_URL_MAX, &s)))
                return rc;
            if (strncmp(s, "file://", 7) && strncmp(s, "http://", 7) && strncmp(s, "https://", 8))
                return perr(p, m, MB_E_FORMAT, "mirrors[%zu]: \"%.80s\" is not a URL", i, s);
            if (mb_registry_url_normalize(s, &r->mirrors[i], &e))
                return perr(p, m, e.code, "mirrors[%zu]: %s", i, e.msg);
            r->nmirrors++;
        }
    }
    if (!(v = map_get(p, n, "keys")) || v->type != YAML_SEQUENCE_NODE ||
        v->data.sequence.items.top == v->data.sequence.items.start)
        return perr(p, v ? v : n, MB_E_FORMAT,
                    "%s: \"keys\" must list at least one pinned public key (no key, no registry)",
                    where);
    size_t nk = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (nk > MB_REGISTRY_MAX_KEYS)
        return perr(p, v, MB_E_LIMIT, "keys: more than %d", MB_REGISTRY_MAX_KEYS);
    for (size_t i = 0; i < nk; i++) {
        const yaml_node_t *k = node(p, v->data.sequence.items.start[i]);
        if ((rc = get_scalar(p, k, "keys[]", 256, &s)))
            return rc;
        if (mb_sign_pubkey_parse(s, strlen(s), "key", &r->keys[i], &e))
            return perr(p, k, MB_E_FORMAT, "keys[%zu]: %s", i, e.msg);
        for (size_t j = 0; j < i; j++)
            if (!memcmp(r->keys[j].keyid, r->keys[i].keyid, MB_SIGN_KEYID_LEN))
                return perr(p, k, MB_E_FORMAT, "keys[%zu]: the key is listed twice", i);
        r->nkeys++;
    }
    int64_t x = 1;
    if ((v = map_get(p, n, "threshold")) && (rc = get_int(p, v, "threshold", 1, (int64_t)nk, &x)))
        return rc;
    r->threshold = (unsigned)x;
    x = 0;
    if ((v = map_get(p, n, "priority")) && (rc = get_int(p, v, "priority", -1000000, 1000000, &x)))
        return rc;
    r->priority = x;
    return 0;
}

void mb_config_init(struct mb_config *c)
{
    memset(c, 0, sizeof(*c));
}

void mb_registry_conf_release(struct mb_registry_conf *r)
{
    if (!r)
        return;
    mb_free(r->name);
    mb_free(r->url);
    for (size_t i = 0; i < r->nmirrors; i++)
        mb_free(r->mirrors[i]);
    mb_free(r->mirrors);
    memset(r, 0, sizeof(*r));
}

void mb_config_release(struct mb_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nregistries; i++)
        mb_registry_conf_release(&c->registries[i]);
    mb_free(c->registries);
    for (size_t i = 0; i < c->ndefaults; i++) {
        mb_free(c->defaults[i].key);
        mb_free(c->defaults[i].value);
    }
    mb_free(c->defaults);
    mb_config_init(c);
}

static int parse_doc(struct cfgp *p, struct mb_config *out)
{
    static const char *const top_keys[] = { "format", "registries", "defaults" };
    yaml_node_t *root = yaml_document_get_root_node(&p->doc);
    if (!root || is_null(root))
        return 0; /* an empty file: no registries */
    if (root->type != YAML_MAPPING_NODE)
        return perr(p, root, MB_E_FORMAT, "expected a mapping at the top level, got %s",
                    type_name(root));
    int rc = check_keys(p, root, "(top level)", top_keys, MB_ARRAY_LEN(top_keys));
    if (rc)
        return rc;
    yaml_node_t *v = map_get(p, root, "format");
    int64_t fmt = 1;
    if (v && (rc = get_int(p, v, "format", 0, 1000, &fmt)))
        return rc;
    if (fmt != 1)
        return perr(p, v, MB_E_UNSUPPORTED,
                    "format %lld is not supported (this modularbase writes format 1)",
                    (long long)fmt);
    if ((v = map_get(p, root, "registries")) && !is_null(v)) {
        if (v->type != YAML_SEQUENCE_NODE)
            return perr(p, v, MB_E_FORMAT, "registries: expected a list, got %s", type_name(v));
        size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
        if (n > 1024)
            return perr(p, v, MB_E_LIMIT, "registries: more than 1024");
        out->registries = mb_calloc(n ? n : 1, sizeof(*out->registries));
        if (!out->registries)
            return mb_fail(p->err, MB_E_NOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
            out->nregistries++;
            rc =
                parse_registry(p, node(p, v->data.sequence.items.start[i]), i, &out->registries[i]);
            if (rc)
                return rc;
            for (size_t j = 0; j < i; j++)
                if (!strcmp(out->registries[j].name, out->registries[i].name))
                    return perr(p, node(p, v->data.sequence.items.start[i]), MB_E_FORMAT,
                                "registries[%zu]: the name \"%s\" is used twice", i,
                                out->registries[i].name);
        }
    }
    if ((v = map_get(p, root, "defaults")) && !is_null(v)) {
        if (v->type != YAML_MAPPING_NODE)
            return perr(p, v, MB_E_FORMAT, "defaults: expected a mapping, got %s", type_name(v));
        if ((rc = check_keys(p, v, "defaults", NULL, 0)))
            return rc;
        size_t n = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
        if (n > CONFIG_MAX_DEFAULTS)
            return perr(p, v, MB_E_LIMIT, "defaults: more than %d keys", CONFIG_MAX_DEFAULTS);
        for (size_t i = 0; i < n; i++) {
            yaml_node_pair_t *a = &v->data.mapping.pairs.start[i];
            const char *k, *val;
            if ((rc = get_scalar(p, node(p, a->key), "defaults key", 128, &k)) ||
                (rc = get_scalar(p, node(p, a->value), k, 4096, &val)))
                return rc;
            if ((rc = mb_config_default_set(out, k, val, p->err)))
                return rc;
        }
    }
    return 0;
}

int mb_config_parse(const char *origin, const char *text, size_t n, struct mb_config *out,
                    struct mb_err *err)
{
    mb_config_init(out);
    if (n > MB_CONFIG_MAX_BYTES)
        return mb_fail(err, MB_E_LIMIT, "%s: larger than %u bytes", origin, MB_CONFIG_MAX_BYTES);
    int rc = prescan(origin, text, n, err);
    if (rc)
        return rc;
    struct cfgp p;
    memset(&p, 0, sizeof(p));
    p.origin = origin;
    p.err = err;
    yaml_parser_t ps;
    if (!yaml_parser_initialize(&ps))
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    yaml_parser_set_input_string(&ps, (const unsigned char *)text, n);
    if (!yaml_parser_load(&ps, &p.doc)) {
        rc = mb_fail(err, MB_E_FORMAT, "%s:%zu:%zu: invalid YAML: %s", origin,
                     (size_t)ps.problem_mark.line + 1, (size_t)ps.problem_mark.column + 1,
                     ps.problem ? ps.problem : "syntax error");
        yaml_parser_delete(&ps);
        return rc;
    }
    rc = parse_doc(&p, out);
    /* One document only. */
    if (!rc) {
        yaml_document_t extra;
        if (yaml_parser_load(&ps, &extra)) {
            if (yaml_document_get_root_node(&extra))
                rc = mb_fail(err, MB_E_FORMAT, "%s: more than one YAML document", origin);
            yaml_document_delete(&extra);
        }
    }
    yaml_document_delete(&p.doc);
    yaml_parser_delete(&ps);
    if (rc)
        mb_config_release(out);
    return rc;
}

/* A double-quoted YAML scalar (escapes for '"', '\\' and control bytes). */
static int put_quoted(struct mb_buf *b, const char *s, struct mb_err *err)
{
    int rc = mb_buf_append_cstr(b, "\"", err);
    for (const unsigned char *p = (const unsigned char *)s; !rc && *p; p++) {
        if (*p == '"' || *p == '\\')
            rc = mb_buf_appendf(b, err, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            rc = mb_buf_appendf(b, err, "\\x%02x", *p);
        else
            rc = mb_buf_append(b, p, 1, err);
    }
    return rc ? rc : mb_buf_append_cstr(b, "\"", err);
}

int mb_config_emit(const struct mb_config *c, struct mb_buf *out, struct mb_err *err)
{
    int rc = mb_buf_append_cstr(out,
                                "# modularbase configuration (docs/registry.md, \"config.yaml\").\n"
                                "# Written by modularbase; edits by hand are kept if valid.\n"
                                "format: 1\n",
                                err);
    if (!rc)
        rc = mb_buf_append_cstr(out, c->nregistries ? "registries:\n" : "registries: []\n", err);
    for (size_t i = 0; !rc && i < c->nregistries; i++) {
        const struct mb_registry_conf *r = &c->registries[i];
        rc = mb_buf_appendf(out, err, "  - name: %s\n    url: ", r->name);
        if (!rc)
            rc = put_quoted(out, r->url, err);
        if (!rc)
            rc = mb_buf_append_cstr(out, r->nmirrors ? "\n    mirrors:\n" : "\n    mirrors: []\n",
                                    err);
        for (size_t j = 0; !rc && j < r->nmirrors; j++) {
            rc = mb_buf_append_cstr(out, "      - ", err);
            if (!rc)
                rc = put_quoted(out, r->mirrors[j], err);
            if (!rc)
                rc = mb_buf_append_cstr(out, "\n", err);
        }
        if (!rc)
            rc = mb_buf_append_cstr(out, "    keys:\n", err);
        for (size_t j = 0; !rc && j < r->nkeys; j++) {
            char b64[MB_SIGN_PUBKEY_B64_LEN], hex[MB_SIGN_KEYID_HEX_LEN];
            mb_sign_pubkey_base64(&r->keys[j], b64);
            mb_sign_keyid_hex(r->keys[j].keyid, hex);
            rc = mb_buf_appendf(out, err, "      - \"%s\"  # key id %s\n", b64, hex);
        }
        if (!rc)
            rc = mb_buf_appendf(out, err, "    threshold: %u\n    priority: %lld\n",
                                r->threshold ? r->threshold : 1, (long long)r->priority);
    }
    if (!rc && c->ndefaults) {
        rc = mb_buf_append_cstr(out, "defaults:\n", err);
        for (size_t i = 0; !rc && i < c->ndefaults; i++) {
            rc = mb_buf_append_cstr(out, "  ", err);
            if (!rc)
                rc = put_quoted(out, c->defaults[i].key, err);
            if (!rc)
                rc = mb_buf_append_cstr(out, ": ", err);
            if (!rc)
                rc = put_quoted(out, c->defaults[i].value, err);
            if (!rc)
                rc = mb_buf_append_cstr(out, "\n", err);
        }
    }
    return rc;
}

int mb_config_load(const char *home, struct mb_config *out, struct mb_err *err)
{
    mb_config_init(out);
    char *path = mb_path_join(home, "config.yaml");
    if (!path)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    struct mb_buf b;
    mb_buf_init(&b, MB_CONFIG_MAX_BYTES);
    int rc = 0;
    if (mb_path_exists(path)) {
        rc = mb_file_read_all(path, MB_CONFIG_MAX_BYTES, &b, err);
        if (!rc)
            rc = mb_config_parse(path, b.p, b.n, out, err);
    }
    mb_buf_release(&b);
    mb_free(path);
    return rc;
}

int mb_config_save(const char *home, const struct mb_config *c, struct mb_err *err)
{
    int rc = mb_mkdir_p(home, 0755, err);
    if (rc)
        return rc;
    char *path = mb_path_join(home, "config.yaml");
    if (!path)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    struct mb_buf b;
    mb_buf_init(&b, MB_CONFIG_MAX_BYTES);
    rc = mb_config_emit(c, &b, err);
    if (!rc)
        rc = mb_file_write_atomic(path, b.p, b.n, 0644, err);
    mb_buf_release(&b);
    mb_free(path);
    return rc;
}

struct mb_registry_conf *mb_config_find(const struct mb_config *c, const char *name)
{
    for (size_t i = 0; i < c->nregistries; i++)
        if (!strcmp(c->registries[i].name, name))
            return &c->registries[i];
    return NULL;
}

int mb_config_add(struct mb_config *c, const struct mb_registry_conf *r, struct mb_err *err)
{
    if (mb_config_find(c, r->name))
        return mb_fail(err, MB_E_EXISTS, "a registry named '%s' is already configured", r->name);
    struct mb_registry_conf *v =
        mb_reallocarray(c->registries, c->nregistries + 1, sizeof(*c->registries));
    if (!v)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    c->registries = v;
    struct mb_registry_conf *d = &c->registries[c->nregistries];
    memset(d, 0, sizeof(*d));
    d->name = mb_strdup(r->name);
    d->url = mb_strdup(r->url);
    d->mirrors = mb_calloc(r->nmirrors ? r->nmirrors : 1, sizeof(char *));
    bool bad = !d->name || !d->url || !d->mirrors;
    for (size_t i = 0; !bad && i < r->nmirrors; i++) {
        d->mirrors[i] = mb_strdup(r->mirrors[i]);
        bad = !d->mirrors[i];
        d->nmirrors += !bad;
    }
    memcpy(d->keys, r->keys, sizeof(d->keys));
    d->nkeys = r->nkeys;
    d->threshold = r->threshold ? r->threshold : 1;
    d->priority = r->priority;
    if (bad) {
        mb_registry_conf_release(d);
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    c->nregistries++;
    return 0;
}

int mb_config_remove(struct mb_config *c, const char *name, struct mb_err *err)
{
    for (size_t i = 0; i < c->nregistries; i++) {
        if (strcmp(c->registries[i].name, name))
            continue;
        mb_registry_conf_release(&c->registries[i]);
        memmove(&c->registries[i], &c->registries[i + 1],
                (c->nregistries - i - 1) * sizeof(*c->registries));
        c->nregistries--;
        return 0;
    }
    return mb_fail(err, MB_E_NOTFOUND, "no registry named '%s' is configured", name);
}

int mb_config_by_priority(const struct mb_config *c, const struct mb_registry_conf ***out,
                          struct mb_err *err)
{
    *out = mb_calloc(c->nregistries ? c->nregistries : 1, sizeof(**out));
    if (!*out)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    /* Insertion sort: stable, and the list is short. */
    for (size_t i = 0; i < c->nregistries; i++) {
        size_t j = i;
        while (j > 0 && (*out)[j - 1]->priority < c->registries[i].priority) {
            (*out)[j] = (*out)[j - 1];
            j--;
        }
        (*out)[j] = &c->registries[i];
    }
    return 0;
}

const char *mb_config_default_get(const struct mb_config *c, const char *key)
{
    for (size_t i = 0; i < c->ndefaults; i++)
        if (!strcmp(c->defaults[i].key, key))
            return c->defaults[i].value;
    return NULL;
}

int mb_config_default_set(struct mb_config *c, const char *key, const char *value,
                          struct mb_err *err)
{
    char *v = mb_strdup(value);
    if (!v)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    for (size_t i = 0; i < c->ndefaults; i++)
        if (!strcmp(c->defaults[i].key, key)) {
            mb_free(c->defaults[i].value);
            c->defaults[i].value = v;
            return 0;
        }
    if (c->ndefaults >= CONFIG_MAX_DEFAULTS) {
        mb_free(v);
        return mb_fail(err, MB_E_LIMIT, "config.yaml: more than %d defaults", CONFIG_MAX_DEFAULTS);
    }
    struct mb_config_kv *d = mb_reallocarray(c->defaults, c->ndefaults + 1, sizeof(*d));
    char *k = d ? mb_strdup(key) : NULL;
    if (d)
        c->defaults = d;
    if (!k) {
        mb_free(v);
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    c->defaults[c->ndefaults].key = k;
    c->defaults[c->ndefaults].value = v;
    c->ndefaults++;
    return 0;
}
