/*
 * pack_yaml.c - pack.yaml: validation of the YAML tree into struct
 * mb_manifest (types, required fields, defaults, per-kind rules, cross-field
 * checks) with `file:line:col: field: what is wrong` errors, and the canonical
 * emitter. The schema is documented in docs/manifest.md; keep them in step.
 */
#include "manifests_int.h"

struct pctx {
    const char *name;
    struct mb_err *err;
    struct mb_manifest *m;
};

static int ferr(struct pctx *c, const struct ynode *n, const char *path, int code, const char *fmt,
                ...) __attribute__((format(printf, 5, 6)));

static int ferr(struct pctx *c, const struct ynode *n, const char *path, int code, const char *fmt,
                ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return mb_fail(c->err, code, "%s:%u:%u: %s: %s", c->name, n ? n->line : 1, n ? n->col : 1, path,
                   msg);
}

static int nomem(struct pctx *c)
{
    return mb_fail(c->err, MB_E_NOMEM, "%s: out of memory", c->name);
}

/* A non-null scalar as an owned string, checked for length and control characters. */
static int get_string(struct pctx *c, const struct ynode *n, const char *path, size_t max,
                      bool multiline, char **out)
{
    if (n->type != YN_SCALAR || mb_ynode_is_null(n))
        return ferr(c, n, path, MB_E_FORMAT, "expected a string, got %s", mb_ynode_type_name(n));
    const char *why = mb_check_text(n->s, n->len, max, multiline);
    if (why)
        return ferr(c, n, path, n->len > max ? MB_E_LIMIT : MB_E_FORMAT, "%s (at most %zu bytes)",
                    why, max);
    *out = mb_strndup(n->s, n->len);
    return *out ? 0 : nomem(c);
}

static int get_nonempty(struct pctx *c, const struct ynode *n, const char *path, size_t max,
                        char **out)
{
    int rc = get_string(c, n, path, max, false, out);
    if (!rc && !**out)
        return ferr(c, n, path, MB_E_FORMAT, "must not be empty");
    return rc;
}

static int get_id(struct pctx *c, const struct ynode *n, const char *path, char **out)
{
    int rc = get_string(c, n, path, 256, false, out);
    if (rc)
        return rc;
    struct mb_err e;
    if (mb_pack_id_check(*out, &e))
        return ferr(c, n, path, MB_E_FORMAT, "%s", e.msg);
    return 0;
}

static int get_range(struct pctx *c, const struct ynode *n, const char *path, char **text,
                     struct mb_range *r)
{
    int rc = get_string(c, n, path, MB_RANGE_MAX_LEN, false, text);
    if (rc)
        return rc;
    struct mb_err e;
    rc = mb_range_parse(*text, false, r, &e);
    if (rc)
        return ferr(c, n, path, rc == MB_E_NOMEM ? MB_E_NOMEM : MB_E_FORMAT, "%s", e.msg);
    return 0;
}

static int want_seq(struct pctx *c, const struct ynode *n, const char *path, size_t max,
                    const char *hint)
{
    if (n->type != YN_SEQ)
        return ferr(c, n, path, MB_E_FORMAT, "expected a list%s, got %s", hint,
                    mb_ynode_type_name(n));
    if (n->n > max)
        return ferr(c, n, path, MB_E_LIMIT, "more than %zu entries", max);
    return 0;
}

/* A list of strings (ids when `ids`). */
static int get_str_list(struct pctx *c, const struct ynode *n, const char *path, size_t max_items,
                        size_t max_len, bool ids, char ***out, size_t *nout)
{
    int rc = want_seq(c, n, path, max_items, "");
    if (rc)
        return rc;
    *out = mb_calloc(n->n ? n->n : 1, sizeof(char *));
    if (!*out)
        return nomem(c);
    for (size_t i = 0; i < n->n; i++) {
        char p[96];
        snprintf(p, sizeof(p), "%s[%zu]", path, i);
        (*nout)++; /* count first: the slot is freed even when checks fail */
        rc = ids ? get_id(c, n->kids[i], p, &(*out)[i])
                 : get_nonempty(c, n->kids[i], p, max_len, &(*out)[i]);
        if (rc)
            return rc;
    }
    return 0;
}

static const struct ynode *map_get(const struct ynode *map, const char *key)
{
    for (size_t i = 0; i + 1 < map->n; i += 2)
        if (!strcmp(map->kids[i]->s, key))
            return map->kids[i + 1];
    return NULL;
}

/* Fail on keys of a nested mapping other than `allowed`, suggesting the closest. */
static int check_keys(struct pctx *c, const struct ynode *map, const char *path,
                      const char *const *allowed, size_t nallowed)
{
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        const char *k = map->kids[i]->s;
        bool ok = false;
        const char *best = NULL;
        unsigned best_d = 255;
        for (size_t j = 0; j < nallowed && !ok; j++) {
            ok = !strcmp(k, allowed[j]);
            unsigned d = mb_edit_distance(k, allowed[j]);
            if (d < best_d) {
                best_d = d;
                best = allowed[j];
            }
        }
        if (ok)
            continue;
        char p[128];
        snprintf(p, sizeof(p), "%s%s%.48s", path, *path ? "." : "", k);
        if (best && best_d <= 2)
            return ferr(c, map->kids[i], p, MB_E_FORMAT, "unknown field (did you mean '%s'?)",
                        best);
        return ferr(c, map->kids[i], p, MB_E_FORMAT, "unknown field");
    }
    return 0;
}

static int parse_deps(struct pctx *c, const struct ynode *n)
{
    struct mb_manifest *m = c->m;
    int rc = want_seq(c, n, "dependencies", MB_MANIFEST_MAX_LIST, " of {id, version}");
    if (rc)
        return rc;
    m->deps = mb_calloc(n->n ? n->n : 1, sizeof(*m->deps));
    if (!m->deps)
        return nomem(c);
    static const char *const keys[] = { "id", "version" };
    for (size_t i = 0; i < n->n; i++) {
        const struct ynode *e = n->kids[i];
        struct mb_manifest_dep *d = &m->deps[i];
        char p[64], pk[80];
        snprintf(p, sizeof(p), "dependencies[%zu]", i);
        if (e->type != YN_MAP)
            return ferr(c, e, p, MB_E_FORMAT, "expected a mapping {id, version}, got %s",
                        mb_ynode_type_name(e));
        m->ndeps++;
        rc = check_keys(c, e, p, keys, MB_ARRAY_LEN(keys));
        if (rc)
            return rc;
        const struct ynode *id = map_get(e, "id"), *ver = map_get(e, "version");
        if (!id)
            return ferr(c, e, p, MB_E_FORMAT, "missing required field 'id'");
        snprintf(pk, sizeof(pk), "%s.id", p);
        rc = get_id(c, id, pk, &d->id);
        if (rc)
            return rc;
        if (!strcmp(d->id, m->id ? m->id : ""))
            return ferr(c, id, pk, MB_E_FORMAT, "a pack cannot depend on itself");
        snprintf(pk, sizeof(pk), "%s.version", p);
        if (ver) {
            rc = get_range(c, ver, pk, &d->version, &d->range);
        } else {
            d->version = mb_strdup("*");
            rc = d->version ? mb_range_parse("*", false, &d->range, c->err) : nomem(c);
        }
        if (rc)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(m->deps[j].id, d->id))
                return ferr(c, id, p, MB_E_FORMAT,
                            "'%s' is listed twice (combine the ranges into one, e.g. with a "
                            "space for AND)",
                            d->id);
    }
    return 0;
}

static int parse_conflicts(struct pctx *c, const struct ynode *n)
{
    struct mb_manifest *m = c->m;
    int rc = want_seq(c, n, "conflicts", MB_MANIFEST_MAX_LIST, " of ids or {id, version}");
    if (rc)
        return rc;
    m->conflicts = mb_calloc(n->n ? n->n : 1, sizeof(*m->conflicts));
    if (!m->conflicts)
        return nomem(c);
    static const char *const keys[] = { "id", "version" };
    for (size_t i = 0; i < n->n; i++) {
        const struct ynode *e = n->kids[i];
        struct mb_manifest_conflict *d = &m->conflicts[i];
        char p[64], pk[80];
        snprintf(p, sizeof(p), "conflicts[%zu]", i);
        m->nconflicts++;
        const struct ynode *id = e;
        if (e->type == YN_MAP) {
            rc = check_keys(c, e, p, keys, MB_ARRAY_LEN(keys));
            if (rc)
                return rc;
            id = map_get(e, "id");
            if (!id)
                return ferr(c, e, p, MB_E_FORMAT, "missing required field 'id'");
            const struct ynode *ver = map_get(e, "version");
            if (ver) {
                snprintf(pk, sizeof(pk), "%s.version", p);
                rc = get_range(c, ver, pk, &d->version, &d->range);
                if (rc)
                    return rc;
            }
            snprintf(pk, sizeof(pk), "%s.id", p);
        } else if (e->type != YN_SCALAR) {
            return ferr(c, e, p, MB_E_FORMAT, "expected a pack id or {id, version}, got %s",
                        mb_ynode_type_name(e));
        } else {
            snprintf(pk, sizeof(pk), "%s", p);
        }
        rc = get_id(c, id, pk, &d->id);
        if (rc)
            return rc;
        if (!strcmp(d->id, m->id ? m->id : ""))
            return ferr(c, id, pk, MB_E_FORMAT, "a pack cannot conflict with itself");
        for (size_t j = 0; j < i; j++)
            if (!strcmp(m->conflicts[j].id, d->id))
                return ferr(c, id, pk, MB_E_FORMAT, "'%s' is listed twice", d->id);
    }
    return 0;
}

static int parse_weights(struct pctx *c, const struct ynode *n)
{
    static const char *const keys[] = { "file", "quantization" };
    if (n->type != YN_MAP)
        return ferr(c, n, "weights", MB_E_FORMAT, "expected a mapping {file, quantization}, got %s",
                    mb_ynode_type_name(n));
    int rc = check_keys(c, n, "weights", keys, MB_ARRAY_LEN(keys));
    if (rc)
        return rc;
    const struct ynode *f = map_get(n, "file"), *q = map_get(n, "quantization");
    if (!f)
        return ferr(c, n, "weights", MB_E_FORMAT, "missing required field 'file'");
    rc = get_string(c, f, "weights.file", 255, false, &c->m->weights_file);
    if (rc)
        return rc;
    const char *why = mb_check_rel_path(c->m->weights_file);
    if (why)
        return ferr(c, f, "weights.file", MB_E_FORMAT, "\"%s\": %s", c->m->weights_file, why);
    if (q) {
        rc = get_string(c, q, "weights.quantization", 16, false, &c->m->weights_quant);
        if (rc)
            return rc;
        for (char *p = c->m->weights_quant; *p; p++)
            if (*p >= 'a' && *p <= 'z')
                *p = (char)(*p - 'a' + 'A');
        if (!mb_quant_name_valid(c->m->weights_quant))
            return ferr(c, q, "weights.quantization", MB_E_FORMAT,
                        "\"%s\" is not a known type (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, "
                        "Q5_1, Q4_K, Q5_K, Q6_K)",
                        c->m->weights_quant);
    }
    return 0;
}

static int parse_routing(struct pctx *c, const struct ynode *n)
{
    static const char *const keys[] = { "examples" };
    if (n->type != YN_MAP)
        return ferr(c, n, "routing", MB_E_FORMAT, "expected a mapping {examples}, got %s",
                    mb_ynode_type_name(n));
    int rc = check_keys(c, n, "routing", keys, MB_ARRAY_LEN(keys));
    if (rc)
        return rc;
    const struct ynode *e = map_get(n, "examples");
    if (!e)
        return 0;
    return get_str_list(c, e, "routing.examples", MB_MANIFEST_MAX_EXAMPLES, 4096, false,
                        &c->m->examples, &c->m->nexamples);
}

static int parse_ext(struct pctx *c, const struct ynode *k, const struct ynode *v)
{
    struct mb_manifest *m = c->m;
    if (!m->ext) {
        m->ext = mb_calloc(MB_YAML_MAX_MAP_KEYS, sizeof(*m->ext));
        if (!m->ext)
            return nomem(c);
    }
    struct mb_manifest_ext *x = &m->ext[m->next];
    x->key = mb_strndup(k->s, k->len);
    if (!x->key)
        return nomem(c);
    m->next++;
    struct mb_buf b;
    mb_buf_init(&b, MB_MANIFEST_MAX_BYTES * 4);
    int rc = mb_yaml_put_node(&b, v, 2, false, c->err);
    if (rc) {
        mb_buf_release(&b);
        return rc;
    }
    x->yaml = mb_buf_detach(&b, NULL);
    return x->yaml ? 0 : nomem(c);
}

static const char *const TOP_KEYS[] = {
    "id",           "name",      "version",  "kind",       "domain",  "description",
    "license",      "authors",   "homepage", "repository", "base",    "base_compatibility",
    "dependencies", "conflicts", "resident", "fallback",   "weights", "width",
    "routing",
};

static int parse_top(struct pctx *c, const struct ynode *root)
{
    struct mb_manifest *m = c->m;
    int rc = 0;
    bool resident_set = false;
    /* id first, so later checks (self-dependency) can use it. */
    const struct ynode *idn = map_get(root, "id");
    if (idn) {
        rc = get_id(c, idn, "id", &m->id);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i + 1 < root->n && !rc; i += 2) {
        const struct ynode *k = root->kids[i], *v = root->kids[i + 1];
        const char *key = k->s;
        if (!strcmp(key, "id")) {
            continue;
        } else if (!strcmp(key, "name")) {
            rc = get_nonempty(c, v, "name", 128, &m->name);
        } else if (!strcmp(key, "version")) {
            rc = get_string(c, v, "version", MB_SEMVER_MAX_LEN, false, &m->version_text);
            struct mb_err e;
            if (!rc && mb_semver_parse_cstr(m->version_text, &m->version, &e))
                rc = ferr(c, v, "version", MB_E_FORMAT, "%s", e.msg);
        } else if (!strcmp(key, "kind")) {
            char *s = NULL;
            rc = get_string(c, v, "kind", 32, false, &s);
            if (!rc && !mb_pack_kind_parse(s, &m->kind))
                rc = ferr(c, v, "kind", MB_E_FORMAT,
                          "\"%s\" is not a pack kind (base, router or "
                          "data)",
                          s);
            mb_free(s);
        } else if (!strcmp(key, "domain")) {
            rc = get_string(c, v, "domain", 256, false, &m->domain);
            struct mb_err e;
            if (!rc && mb_pack_id_check(m->domain, &e))
                rc = ferr(c, v, "domain", MB_E_FORMAT,
                          "\"%.64s\" is not a valid domain (the same rules as pack ids: a-z, "
                          "0-9 and '-')",
                          m->domain);
        } else if (!strcmp(key, "description")) {
            rc = get_string(c, v, "description", 4096, true, &m->description);
        } else if (!strcmp(key, "license")) {
            rc = get_nonempty(c, v, "license", 128, &m->license);
        } else if (!strcmp(key, "homepage") || !strcmp(key, "repository")) {
            char **dst = key[0] == 'h' ? &m->homepage : &m->repository;
            rc = get_string(c, v, key, 2048, false, dst);
            const char *why = rc ? NULL : mb_check_url(*dst);
            if (why)
                rc = ferr(c, v, key, MB_E_FORMAT, "\"%.64s\": %s", *dst, why);
        } else if (!strcmp(key, "authors")) {
            rc = get_str_list(c, v, "authors", 64, 256, false, &m->authors, &m->nauthors);
        } else if (!strcmp(key, "base")) {
            rc = get_id(c, v, "base", &m->base);
        } else if (!strcmp(key, "base_compatibility")) {
            rc = want_seq(c, v, "base_compatibility", 64,
                          " of base versions or ranges, e.g. "
                          "[\"1.0\"]");
            if (!rc) {
                m->base_compat = mb_calloc(v->n ? v->n : 1, sizeof(char *));
                m->base_compat_ranges = mb_calloc(v->n ? v->n : 1, sizeof(struct mb_range));
                if (!m->base_compat || !m->base_compat_ranges)
                    rc = nomem(c);
            }
            for (size_t j = 0; !rc && j < v->n; j++) {
                char p[64];
                snprintf(p, sizeof(p), "base_compatibility[%zu]", j);
                m->nbase_compat++;
                rc = get_range(c, v->kids[j], p, &m->base_compat[j], &m->base_compat_ranges[j]);
            }
        } else if (!strcmp(key, "dependencies")) {
            rc = parse_deps(c, v);
        } else if (!strcmp(key, "conflicts")) {
            rc = parse_conflicts(c, v);
        } else if (!strcmp(key, "resident")) {
            if (!mb_ynode_bool(v, &m->resident))
                rc = ferr(c, v, "resident", MB_E_FORMAT, "expected true or false, got %s%s%.20s%s",
                          mb_ynode_type_name(v), v->type == YN_SCALAR ? " \"" : "",
                          v->type == YN_SCALAR ? v->s : "", v->type == YN_SCALAR ? "\"" : "");
            resident_set = true;
        } else if (!strcmp(key, "fallback")) {
            rc = get_str_list(c, v, "fallback", 64, 0, true, &m->fallback, &m->nfallback);
        } else if (!strcmp(key, "weights")) {
            rc = parse_weights(c, v);
        } else if (!strcmp(key, "width")) {
            if (!mb_ynode_uint(v, &m->width) || m->width == 0 || m->width > (1u << 20))
                rc = ferr(c, v, "width", MB_E_FORMAT,
                          "expected a positive integer (at most 1048576), got %s%s%.20s%s",
                          mb_ynode_type_name(v), v->type == YN_SCALAR ? " \"" : "",
                          v->type == YN_SCALAR ? v->s : "", v->type == YN_SCALAR ? "\"" : "");
        } else if (!strcmp(key, "routing")) {
            rc = parse_routing(c, v);
        } else if (!strncmp(key, "x-", 2) && k->len > 2) {
            rc = parse_ext(c, k, v);
        } else {
            const char *best = NULL;
            unsigned best_d = 255;
            for (size_t j = 0; j < MB_ARRAY_LEN(TOP_KEYS); j++) {
                unsigned d = mb_edit_distance(key, TOP_KEYS[j]);
                if (d < best_d) {
                    best_d = d;
                    best = TOP_KEYS[j];
                }
            }
            char p[80];
            snprintf(p, sizeof(p), "%.64s", key);
            if (best_d <= 2)
                rc = ferr(c, k, p, MB_E_FORMAT, "unknown field (did you mean '%s'?)", best);
            else
                rc = ferr(c, k, p, MB_E_FORMAT,
                          "unknown field (extension fields must start with 'x-')");
        }
    }
    if (rc)
        return rc;

    static const char *const required[] = { "id", "name", "version", "kind", "weights" };
    for (size_t i = 0; i < MB_ARRAY_LEN(required); i++)
        if (!map_get(root, required[i]))
            return mb_fail(c->err, MB_E_FORMAT, "%s:%u:%u: missing required field '%s'", c->name,
                           root->line, root->col, required[i]);
    const struct ynode *kindn = map_get(root, "kind");
    const char *kn = mb_pack_kind_name(m->kind);
    if (m->kind == MB_PACK_BASE) {
        const struct ynode *bc = map_get(root, "base_compatibility");
        if (bc)
            return ferr(c, bc, "base_compatibility", MB_E_FORMAT,
                        "not allowed for kind base (a base pack is the base)");
        if (m->base)
            return ferr(c, map_get(root, "base"), "base", MB_E_FORMAT, "not allowed for kind base");
    } else if (m->nbase_compat == 0) {
        const struct ynode *bc = map_get(root, "base_compatibility");
        return ferr(c, bc ? bc : kindn, "base_compatibility", MB_E_FORMAT,
                    "a %s pack must list the base versions it works with, e.g. [\"1.0\"]", kn);
    }
    if (m->kind == MB_PACK_DATA && !m->domain)
        return ferr(c, kindn, "domain", MB_E_FORMAT, "required for kind data");
    if (!resident_set)
        m->resident = m->kind != MB_PACK_DATA;
    if (m->base && !strcmp(m->base, m->id))
        return ferr(c, map_get(root, "base"), "base", MB_E_FORMAT, "a pack cannot be its own base");
    for (size_t i = 0; i < m->nfallback; i++) {
        const struct ynode *fl = map_get(root, "fallback");
        char p[64];
        snprintf(p, sizeof(p), "fallback[%zu]", i);
        if (!strcmp(m->fallback[i], m->id))
            return ferr(c, fl->kids[i], p, MB_E_FORMAT, "a pack cannot fall back to itself");
        for (size_t j = 0; j < i; j++)
            if (!strcmp(m->fallback[j], m->fallback[i]))
                return ferr(c, fl->kids[i], p, MB_E_FORMAT, "'%s' is listed twice", m->fallback[i]);
    }
    return 0;
}

void mb_manifest_init(struct mb_manifest *m)
{
    memset(m, 0, sizeof(*m));
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        mb_free(v[i]);
    mb_free(v);
}

void mb_manifest_release(struct mb_manifest *m)
{
    if (!m)
        return;
    mb_free(m->id);
    mb_free(m->name);
    mb_free(m->version_text);
    mb_free(m->domain);
    mb_free(m->description);
    mb_free(m->license);
    mb_free(m->homepage);
    mb_free(m->repository);
    free_strv(m->authors, m->nauthors);
    mb_free(m->base);
    free_strv(m->base_compat, m->nbase_compat);
    for (size_t i = 0; m->base_compat_ranges && i < m->nbase_compat; i++)
        mb_range_release(&m->base_compat_ranges[i]);
    mb_free(m->base_compat_ranges);
    for (size_t i = 0; i < m->ndeps; i++) {
        mb_free(m->deps[i].id);
        mb_free(m->deps[i].version);
        mb_range_release(&m->deps[i].range);
    }
    mb_free(m->deps);
    for (size_t i = 0; i < m->nconflicts; i++) {
        mb_free(m->conflicts[i].id);
        mb_free(m->conflicts[i].version);
        mb_range_release(&m->conflicts[i].range);
    }
    mb_free(m->conflicts);
    free_strv(m->fallback, m->nfallback);
    mb_free(m->weights_file);
    mb_free(m->weights_quant);
    free_strv(m->examples, m->nexamples);
    for (size_t i = 0; i < m->next; i++) {
        mb_free(m->ext[i].key);
        mb_free(m->ext[i].yaml);
    }
    mb_free(m->ext);
    mb_manifest_init(m);
}

int mb_manifest_parse(const char *name, const char *text, size_t n, struct mb_manifest *out,
                      struct mb_err *err)
{
    mb_manifest_init(out);
    if (n > MB_MANIFEST_MAX_BYTES)
        return mb_fail(err, MB_E_LIMIT, "%s:1:1: the file is larger than %u bytes", name,
                       MB_MANIFEST_MAX_BYTES);
    struct ydoc doc;
    int rc = mb_ydoc_parse(name, text, n, &doc, err);
    if (rc)
        return rc;
    struct pctx c = { name, err, out };
    if (!doc.root || mb_ynode_is_null(doc.root))
        rc = mb_fail(err, MB_E_FORMAT,
                     "%s:1:1: the manifest is empty (expected a mapping with "
                     "id, name, version, kind, weights)",
                     name);
    else if (doc.root->type != YN_MAP)
        rc = ferr(&c, doc.root, "(top level)", MB_E_FORMAT, "expected a mapping, got %s",
                  mb_ynode_type_name(doc.root));
    else
        rc = parse_top(&c, doc.root);
    mb_ydoc_release(&doc);
    if (rc)
        mb_manifest_release(out);
    return rc;
}

int mb_manifest_load(const char *path, struct mb_manifest *out, struct mb_err *err)
{
    struct mb_buf b;
    mb_buf_init(&b, MB_MANIFEST_MAX_BYTES);
    mb_manifest_init(out);
    int rc = mb_file_read_all(path, MB_MANIFEST_MAX_BYTES, &b, err);
    if (rc) {
        mb_buf_release(&b);
        if (rc == MB_E_LIMIT)
            return mb_fail(err, MB_E_LIMIT, "%s:1:1: the file is larger than %u bytes", path,
                           MB_MANIFEST_MAX_BYTES);
        return rc;
    }
    rc = mb_manifest_parse(path, b.p ? b.p : "", b.n, out, err);
    mb_buf_release(&b);
    return rc;
}

/* ------------------------------------------------------------ emit */

static int put_kv(struct mb_buf *o, const char *indent, const char *key, const char *val,
                  struct mb_err *err)
{
    int rc = mb_buf_appendf(o, err, "%s%s: ", indent, key);
    if (!rc)
        rc = mb_yaml_put_scalar(o, val, strlen(val), err);
    return rc ? rc : mb_buf_append_cstr(o, "\n", err);
}

static int put_list(struct mb_buf *o, const char *key, char *const *v, size_t n, struct mb_err *err)
{
    if (!n)
        return 0;
    int rc = mb_buf_appendf(o, err, "%s:\n", key);
    for (size_t i = 0; i < n && !rc; i++) {
        rc = mb_buf_append_cstr(o, "  - ", err);
        if (!rc)
            rc = mb_yaml_put_scalar(o, v[i], strlen(v[i]), err);
        if (!rc)
            rc = mb_buf_append_cstr(o, "\n", err);
    }
    return rc;
}

int mb_manifest_emit(const struct mb_manifest *m, struct mb_buf *o, struct mb_err *err)
{
    int rc = put_kv(o, "", "id", m->id, err);
    if (!rc)
        rc = put_kv(o, "", "name", m->name, err);
    if (!rc)
        rc = put_kv(o, "", "version", m->version_text, err);
    if (!rc)
        rc = put_kv(o, "", "kind", mb_pack_kind_name(m->kind), err);
    if (!rc && m->domain)
        rc = put_kv(o, "", "domain", m->domain, err);
    if (!rc && m->description)
        rc = put_kv(o, "", "description", m->description, err);
    if (!rc && m->license)
        rc = put_kv(o, "", "license", m->license, err);
    if (!rc)
        rc = put_list(o, "authors", m->authors, m->nauthors, err);
    if (!rc && m->homepage)
        rc = put_kv(o, "", "homepage", m->homepage, err);
    if (!rc && m->repository)
        rc = put_kv(o, "", "repository", m->repository, err);
    if (!rc && m->base)
        rc = put_kv(o, "", "base", m->base, err);
    if (!rc)
        rc = put_list(o, "base_compatibility", m->base_compat, m->nbase_compat, err);
    if (!rc && m->ndeps)
        rc = mb_buf_append_cstr(o, "dependencies:\n", err);
    for (size_t i = 0; i < m->ndeps && !rc; i++) {
        rc = put_kv(o, "  - ", "id", m->deps[i].id, err);
        if (!rc)
            rc = put_kv(o, "    ", "version", m->deps[i].version, err);
    }
    if (!rc && m->nconflicts)
        rc = mb_buf_append_cstr(o, "conflicts:\n", err);
    for (size_t i = 0; i < m->nconflicts && !rc; i++) {
        rc = put_kv(o, "  - ", "id", m->conflicts[i].id, err);
        if (!rc && m->conflicts[i].version)
            rc = put_kv(o, "    ", "version", m->conflicts[i].version, err);
    }
    if (!rc)
        rc = mb_buf_appendf(o, err, "resident: %s\n", m->resident ? "true" : "false");
    if (!rc)
        rc = put_list(o, "fallback", m->fallback, m->nfallback, err);
    if (!rc)
        rc = mb_buf_append_cstr(o, "weights:\n", err);
    if (!rc)
        rc = put_kv(o, "  ", "file", m->weights_file, err);
    if (!rc && m->weights_quant)
        rc = put_kv(o, "  ", "quantization", m->weights_quant, err);
    if (!rc && m->width)
        rc = mb_buf_appendf(o, err, "width: %llu\n", (unsigned long long)m->width);
    if (!rc && m->nexamples) {
        rc = mb_buf_append_cstr(o, "routing:\n  examples:\n", err);
        for (size_t i = 0; i < m->nexamples && !rc; i++) {
            rc = mb_buf_append_cstr(o, "    - ", err);
            if (!rc)
                rc = mb_yaml_put_scalar(o, m->examples[i], strlen(m->examples[i]), err);
            if (!rc)
                rc = mb_buf_append_cstr(o, "\n", err);
        }
    }
    for (size_t i = 0; i < m->next && !rc; i++) {
        rc = mb_yaml_put_scalar(o, m->ext[i].key, strlen(m->ext[i].key), err);
        if (!rc)
            rc = mb_buf_append_cstr(o, ":", err);
        if (!rc && m->ext[i].yaml[0] != '\n')
            rc = mb_buf_append_cstr(o, " ", err);
        if (!rc)
            rc = mb_buf_append_cstr(o, m->ext[i].yaml, err);
    }
    return rc;
}
