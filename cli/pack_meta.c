/*
 * pack_meta.c - the interim readers behind pack_meta.h: the pack.yaml fields
 * that identify a pack (libyaml document API, file:line:column messages), and
 * the GGUF key/value header (magic, version, counts, then typed values,
 * every length checked against caps and the file before use), keeping only
 * the modularbase.* keys pack build compares with the manifest.
 */
#include "pack_meta.h"

#include "mb_registry.h"

#include <errno.h>
#include <yaml.h>

void mb_pack_meta_release(struct mb_pack_meta *m)
{
    mb_free(m->id);
    mb_free(m->version);
    mb_free(m->kind);
    mb_free(m->weights_file);
    memset(m, 0, sizeof(*m));
    m->width = -1;
}

void mb_gguf_meta_release(struct mb_gguf_meta *g)
{
    mb_free(g->kind);
    mb_free(g->pack_id);
    mb_free(g->pack_version);
    memset(g, 0, sizeof(*g));
    g->pack_width = -1;
}

/* ------------------------------------------------------------ pack.yaml */

static yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, key))
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

/* A required or optional string field; *out newly allocated. */
static int get_string(const char *path, yaml_document_t *doc, yaml_node_t *map, const char *key,
                      const char *field, bool required, char **out, struct mb_err *err)
{
    yaml_node_t *n = map_get(doc, map, key);
    if (!n) {
        if (!required)
            return 0;
        return mb_fail(err, MB_E_FORMAT, "%s:%zu:%zu: missing field '%s'", path,
                       map->start_mark.line + 1, map->start_mark.column + 1, field);
    }
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.length == 0)
        return mb_fail(err, MB_E_FORMAT, "%s:%zu:%zu: field '%s' must be a non-empty string", path,
                       n->start_mark.line + 1, n->start_mark.column + 1, field);
    *out = mb_strndup((const char *)n->data.scalar.value, n->data.scalar.length);
    if (!*out)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    if (strlen(*out) != n->data.scalar.length)
        return mb_fail(err, MB_E_FORMAT, "%s:%zu:%zu: field '%s' contains a NUL byte", path,
                       n->start_mark.line + 1, n->start_mark.column + 1, field);
    return 0;
}

static bool id_ok(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
              *s == '.'))
            return false;
    return true;
}

/* MAJOR.MINOR.PATCH with optional -pre and +build (SemVer 2.0.0's shape). */
static bool version_ok(const char *s)
{
    for (int part = 0; part < 3; part++) {
        if (!(*s >= '0' && *s <= '9'))
            return false;
        if (*s == '0' && s[1] >= '0' && s[1] <= '9')
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
        if (part < 2 && *s++ != '.')
            return false;
    }
    if (*s != '\0' && *s != '-' && *s != '+')
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              *s == '.' || *s == '-' || *s == '+'))
            return false;
    return true;
}

int mb_pack_meta_load(const char *path, struct mb_pack_meta *out, struct mb_err *err)
{
    memset(out, 0, sizeof(*out));
    out->width = -1;
    struct mb_buf b;
    int rc = mb_file_read_all(path, (size_t)1 << 20, &b, err);
    if (rc)
        return rc;
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        mb_buf_release(&b);
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)b.p, b.n);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = mb_fail(err, MB_E_FORMAT, "%s:%zu:%zu: %s", path, parser.problem_mark.line + 1,
                     parser.problem_mark.column + 1,
                     parser.problem ? parser.problem : "invalid YAML");
        yaml_parser_delete(&parser);
        mb_buf_release(&b);
        return rc;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        rc = mb_fail(err, MB_E_FORMAT, "%s:1:1: the manifest must be a mapping of fields", path);
        goto out;
    }
    rc = get_string(path, &doc, root, "id", "id", true, &out->id, err);
    if (!rc && !id_ok(out->id))
        rc = mb_fail(err, MB_E_FORMAT,
                     "%s: field 'id': '%s' must be lower-case letters, digits, '-', '_' or '.'",
                     path, out->id);
    if (!rc)
        rc = get_string(path, &doc, root, "version", "version", true, &out->version, err);
    if (!rc && !version_ok(out->version))
        rc = mb_fail(err, MB_E_FORMAT, "%s: field 'version': '%s' is not a SemVer version", path,
                     out->version);
    if (!rc)
        rc = get_string(path, &doc, root, "kind", "kind", true, &out->kind, err);
    if (!rc && strcmp(out->kind, "base") && strcmp(out->kind, "router") &&
        strcmp(out->kind, "data"))
        rc = mb_fail(err, MB_E_FORMAT, "%s: field 'kind': '%s' is not one of base, router, data",
                     path, out->kind);
    yaml_node_t *w = map_get(&doc, root, "weights");
    if (!rc && (!w || w->type != YAML_MAPPING_NODE))
        rc = mb_fail(err, MB_E_FORMAT, "%s:%zu:%zu: field 'weights' must be a mapping with 'file'",
                     path, (w ? w->start_mark.line : root->start_mark.line) + 1,
                     (w ? w->start_mark.column : root->start_mark.column) + 1);
    if (!rc)
        rc = get_string(path, &doc, w, "file", "weights.file", true, &out->weights_file, err);
    if (!rc) {
        struct mb_err nerr;
        if (mb_archive_check_name(out->weights_file, 255, &nerr))
            rc = mb_fail(err, MB_E_FORMAT, "%s: field 'weights.file': %s", path, nerr.msg);
    }
    yaml_node_t *wd = map_get(&doc, root, "width");
    if (!rc && wd) {
        int64_t v;
        if (wd->type != YAML_SCALAR_NODE ||
            !mb_parse_i64((const char *)wd->data.scalar.value, &v) || v <= 0)
            rc = mb_fail(err, MB_E_FORMAT, "%s:%zu:%zu: field 'width' must be a positive integer",
                         path, wd->start_mark.line + 1, wd->start_mark.column + 1);
        else
            out->width = v;
    }
out:
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    mb_buf_release(&b);
    if (rc)
        mb_pack_meta_release(out);
    return rc;
}

/* ------------------------------------------------------------ GGUF header */

enum {
    GT_U8,
    GT_I8,
    GT_U16,
    GT_I16,
    GT_U32,
    GT_I32,
    GT_F32,
    GT_BOOL,
    GT_STRING,
    GT_ARRAY,
    GT_U64,
    GT_I64,
    GT_F64,
};
#define KEY_MAX    65536
#define STRING_MAX (UINT64_C(1) << 26)
#define KV_MAX     (UINT64_C(1) << 20)

struct rd {
    FILE *f;
    const char *path;
    uint64_t off;
    uint64_t size;
};

static int rd_bytes(struct rd *r, void *buf, size_t n, const char *what, struct mb_err *err)
{
    if (n > r->size - MB_MIN(r->off, r->size) || fread(buf, 1, n, r->f) != n)
        return mb_fail(err, MB_E_FORMAT, "%s: %s at offset %llu runs past the end of the file",
                       r->path, what, (unsigned long long)r->off);
    r->off += n;
    return 0;
}

static int rd_skip(struct rd *r, uint64_t n, const char *what, struct mb_err *err)
{
    if (n > r->size - MB_MIN(r->off, r->size))
        return mb_fail(err, MB_E_FORMAT, "%s: %s at offset %llu runs past the end of the file",
                       r->path, what, (unsigned long long)r->off);
    if (fseeko(r->f, (off_t)n, SEEK_CUR) != 0)
        return mb_fail_errno(err, errno, "%s: seek", r->path);
    r->off += n;
    return 0;
}

static int rd_u32(struct rd *r, uint32_t *v, const char *what, struct mb_err *err)
{
    uint8_t b[4];
    int rc = rd_bytes(r, b, 4, what, err);
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return rc;
}

static int rd_u64(struct rd *r, uint64_t *v, const char *what, struct mb_err *err)
{
    uint8_t b[8];
    int rc = rd_bytes(r, b, 8, what, err);
    *v = 0;
    for (int i = 7; i >= 0; i--)
        *v = *v << 8 | b[i];
    return rc;
}

static size_t scalar_size(uint32_t t)
{
    switch (t) {
    case GT_U8:
    case GT_I8:
    case GT_BOOL:
        return 1;
    case GT_U16:
    case GT_I16:
        return 2;
    case GT_U32:
    case GT_I32:
    case GT_F32:
        return 4;
    case GT_U64:
    case GT_I64:
    case GT_F64:
        return 8;
    default:
        return 0;
    }
}

/* A string value; *out allocated when `keep`, else skipped. */
static int rd_string(struct rd *r, bool keep, char **out, struct mb_err *err)
{
    uint64_t n;
    int rc = rd_u64(r, &n, "string length", err);
    if (rc)
        return rc;
    if (n > STRING_MAX)
        return mb_fail(err, MB_E_FORMAT, "%s: string of %llu bytes at offset %llu is too long",
                       r->path, (unsigned long long)n, (unsigned long long)r->off);
    if (!keep)
        return rd_skip(r, n, "string", err);
    char *s = mb_malloc((size_t)n + 1);
    if (!s)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    rc = rd_bytes(r, s, (size_t)n, "string", err);
    if (rc) {
        mb_free(s);
        return rc;
    }
    s[n] = '\0';
    *out = s;
    return 0;
}

/* Integer value of a scalar type (false for non-integers). */
static bool as_int(uint32_t t, const uint8_t *b, int64_t *v)
{
    uint64_t u = 0;
    size_t n = scalar_size(t);
    for (size_t i = n; i > 0; i--)
        u = u << 8 | b[i - 1];
    switch (t) {
    case GT_U8:
    case GT_U16:
    case GT_U32:
        *v = (int64_t)u;
        return true;
    case GT_U64:
        *v = u > INT64_MAX ? -1 : (int64_t)u;
        return true;
    case GT_I8:
        *v = (int8_t)u;
        return true;
    case GT_I16:
        *v = (int16_t)u;
        return true;
    case GT_I32:
        *v = (int32_t)u;
        return true;
    case GT_I64:
        *v = (int64_t)u;
        return true;
    default:
        return false;
    }
}

int mb_gguf_meta_load(const char *path, struct mb_gguf_meta *out, struct mb_err *err)
{
    memset(out, 0, sizeof(*out));
    out->pack_width = -1;
    FILE *f = fopen(path, "rb");
    if (!f)
        return mb_fail_errno(err, errno, "cannot open '%s'", path);
    struct rd r = { f, path, 0, 0 };
    if (fseeko(f, 0, SEEK_END) == 0) {
        off_t end = ftello(f);
        r.size = end > 0 ? (uint64_t)end : 0;
    }
    rewind(f);
    char magic[4];
    uint32_t version;
    uint64_t n_kv;
    int rc = rd_bytes(&r, magic, 4, "magic", err);
    if (!rc && memcmp(magic, "GGUF", 4) != 0)
        rc = mb_fail(err, MB_E_FORMAT, "%s: not a GGUF file (bad magic)", path);
    if (!rc)
        rc = rd_u32(&r, &version, "version", err);
    if (!rc && (version < 2 || version > 3))
        rc = mb_fail(err, MB_E_FORMAT, "%s: unsupported GGUF version %u", path, version);
    if (!rc)
        rc = rd_u64(&r, &out->n_tensors, "tensor count", err);
    if (!rc)
        rc = rd_u64(&r, &n_kv, "key/value count", err);
    if (!rc && n_kv > KV_MAX)
        rc = mb_fail(err, MB_E_FORMAT, "%s: %llu metadata keys is implausible", path,
                     (unsigned long long)n_kv);
    char *key = NULL;
    for (uint64_t i = 0; !rc && i < n_kv; i++) {
        mb_free(key);
        key = NULL;
        uint64_t klen;
        rc = rd_u64(&r, &klen, "key length", err);
        if (!rc && klen > KEY_MAX)
            rc = mb_fail(err, MB_E_FORMAT, "%s: key of %llu bytes at offset %llu", path,
                         (unsigned long long)klen, (unsigned long long)r.off);
        if (!rc) {
            key = mb_malloc((size_t)klen + 1);
            if (!key)
                rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        }
        if (!rc)
            rc = rd_bytes(&r, key, (size_t)klen, "key", err);
        if (rc)
            break;
        key[klen] = '\0';
        uint32_t type;
        rc = rd_u32(&r, &type, "value type", err);
        if (rc)
            break;
        bool mine = !strncmp(key, "modularbase.", 12);
        char **want_str = !mine                                      ? NULL
                          : !strcmp(key, "modularbase.kind")         ? &out->kind
                          : !strcmp(key, "modularbase.pack.id")      ? &out->pack_id
                          : !strcmp(key, "modularbase.pack.version") ? &out->pack_version
                                                                     : NULL;
        if (type == GT_STRING) {
            char *s = NULL;
            rc = rd_string(&r, want_str != NULL, &s, err);
            if (!rc && want_str) {
                mb_free(*want_str);
                *want_str = s;
            }
        } else if (type == GT_ARRAY) {
            uint32_t et;
            uint64_t n;
            rc = rd_u32(&r, &et, "array type", err);
            if (!rc)
                rc = rd_u64(&r, &n, "array length", err);
            if (!rc && et == GT_STRING) {
                for (uint64_t k = 0; !rc && k < n; k++)
                    rc = rd_string(&r, false, NULL, err);
            } else if (!rc) {
                size_t es = scalar_size(et);
                uint64_t bytes;
                if (!es)
                    rc = mb_fail(err, MB_E_FORMAT, "%s: key '%s': bad array element type %u", path,
                                 key, et);
                else if (!mb_mul_u64_ok(n, es, &bytes))
                    rc = mb_fail(err, MB_E_FORMAT, "%s: key '%s': array too large", path, key);
                else
                    rc = rd_skip(&r, bytes, "array", err);
            }
        } else if (scalar_size(type)) {
            uint8_t b[8];
            rc = rd_bytes(&r, b, scalar_size(type), "value", err);
            int64_t v;
            if (!rc && want_str)
                rc = mb_fail(err, MB_E_FORMAT, "%s: key '%s' must be a string", path, key);
            else if (!rc && !strcmp(key, "modularbase.pack.width")) {
                if (!as_int(type, b, &v) || v <= 0)
                    rc = mb_fail(err, MB_E_FORMAT, "%s: key '%s' must be a positive integer", path,
                                 key);
                else
                    out->pack_width = v;
            }
        } else {
            rc = mb_fail(err, MB_E_FORMAT, "%s: key '%s': unknown value type %u at offset %llu",
                         path, key, type, (unsigned long long)r.off);
        }
    }
    mb_free(key);
    fclose(f);
    if (rc)
        mb_gguf_meta_release(out);
    return rc;
}

/* ------------------------------------------------------------ agreement */

static int need(const char *gguf, const char *key, const char *have, const char *want,
                struct mb_err *err)
{
    if (!have)
        return mb_fail(err, MB_E_FORMAT,
                       "%s: GGUF key '%s' is missing (the manifest says '%s'); add the "
                       "modularbase.* keys with 'modularbase pack import', or with gguf-py "
                       "(GGUFWriter.add_string(\"%s\", \"%s\"))",
                       gguf, key, want, key, want);
    if (strcmp(have, want) != 0)
        return mb_fail(err, MB_E_FORMAT, "%s: GGUF key '%s' is '%s' but pack.yaml says '%s'", gguf,
                       key, have, want);
    return 0;
}

int mb_pack_meta_check_gguf(const struct mb_pack_meta *m, const struct mb_gguf_meta *g,
                            const char *gguf_path, struct mb_err *err)
{
    int rc = need(gguf_path, "modularbase.kind", g->kind, m->kind, err);
    if (!rc)
        rc = need(gguf_path, "modularbase.pack.id", g->pack_id, m->id, err);
    if (!rc)
        rc = need(gguf_path, "modularbase.pack.version", g->pack_version, m->version, err);
    if (!rc && m->width > 0 && g->pack_width > 0 && m->width != g->pack_width)
        rc = mb_fail(err, MB_E_FORMAT,
                     "%s: GGUF key 'modularbase.pack.width' is %lld but pack.yaml says %lld",
                     gguf_path, (long long)g->pack_width, (long long)m->width);
    return rc;
}
