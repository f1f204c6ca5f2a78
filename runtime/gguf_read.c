/*
 * gguf_read.c - the GGUF reader: maps a file (or borrows bytes), then parses
 * header, metadata and tensor infos with a cursor that checks every length,
 * count, offset and dimension against the bytes left before using it. Counts
 * are checked against what the remaining bytes could possibly hold before
 * anything is allocated, so a hostile count cannot make us allocate more
 * than a small multiple of the file's size. Duplicate keys and tensor names,
 * tensors outside the file, overlapping or misaligned tensor data, unknown
 * types and bad alignments are errors that name the field and its offset.
 */
#include "gguf_int.h"
#include "mb_kernels.h"

#include <inttypes.h>
#include <stdarg.h>

#define GGUF_MAGIC 0x46554747u /* "GGUF" little-endian */

/* Smallest encodings, used to bound counts before allocating. */
#define MIN_KV_BYTES (8 + 1 + 4 + 1) /* key length, 1-byte key, type, u8 */
#define MIN_TENSOR_INFO_BYTES \
    (8 + 1 + 4 + 8 + 4 + 8) /* name length, name, n_dims, 1 dim, type, offset */

/* ------------------------------------------------------------- messages */

void mb_gguf_quote(char *dst, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    const size_t limit = 80;
    for (size_t i = 0; i < n && o + 5 < cap; i++) {
        if (i == limit) {
            if (o + 4 < cap) {
                memcpy(dst + o, "...", 3);
                o += 3;
            }
            break;
        }
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '\'' && ch != '\\') {
            dst[o++] = (char)ch;
        } else {
            snprintf(dst + o, cap - o, "\\x%02x", ch);
            o += 4;
        }
    }
    if (cap)
        dst[o < cap ? o : cap - 1] = '\0';
}

int mb_gguf_fail_at(const struct gguf_cursor *c, int code, size_t off, const char *field,
                    const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (c->where[0])
        return mb_fail(c->err, code, "%s: %s: %s at offset %zu: %s", c->name, c->where, field, off,
                       what);
    return mb_fail(c->err, code, "%s: %s at offset %zu: %s", c->name, field, off, what);
}

/* ------------------------------------------------------------- cursor */

/* Fail unless n more bytes can be read. */
static int need(struct gguf_cursor *c, size_t n, const char *field)
{
    if (c->n - c->pos >= n)
        return 0;
    return mb_gguf_fail_at(c, MB_E_FORMAT, c->pos, field,
                           "the file is truncated (%zu bytes needed, %zu left)", n, c->n - c->pos);
}

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static int rd_u32(struct gguf_cursor *c, uint32_t *v, const char *field)
{
    int rc = need(c, 4, field);
    if (rc)
        return rc;
    *v = le32(c->p + c->pos);
    c->pos += 4;
    return 0;
}

static int rd_u64(struct gguf_cursor *c, uint64_t *v, const char *field)
{
    int rc = need(c, 8, field);
    if (rc)
        return rc;
    *v = le64(c->p + c->pos);
    c->pos += 8;
    return 0;
}

/*
 * A GGUF string (u64 length + bytes) as a view. `what` names it in messages,
 * followed by " <idx>" unless idx is SIZE_MAX (built only on failure: this
 * runs for every token of a vocabulary).
 */
static int rd_str(struct gguf_cursor *c, struct mb_str *s, const char *what, size_t idx)
{
    size_t off = c->pos;
    if (c->n - c->pos >= 8) {
        uint64_t len = le64(c->p + c->pos);
        if (len <= c->n - c->pos - 8) {
            s->p = (const char *)(c->p + c->pos + 8);
            s->n = (size_t)len;
            c->pos += 8 + (size_t)len;
            return 0;
        }
    }
    char field[64];
    if (idx == SIZE_MAX)
        snprintf(field, sizeof(field), "%s length", what);
    else
        snprintf(field, sizeof(field), "%s %zu length", what, idx);
    uint64_t len;
    int rc = rd_u64(c, &len, field);
    if (rc)
        return rc;
    return mb_gguf_fail_at(c, MB_E_FORMAT, off, field,
                           "%" PRIu64 " bytes run past the end of the file (%zu bytes left)", len,
                           c->n - c->pos);
}

static void *arena_array(struct gguf_cursor *c, size_t count, size_t size)
{
    size_t total;
    if (!mb_mul_ok(count, size, &total))
        return NULL;
    return mb_arena_alloc(c->arena, total ? total : 1, 16);
}

static int nomem(struct gguf_cursor *c, const char *what)
{
    return mb_fail(c->err, MB_E_NOMEM, "%s: out of memory (or past the metadata limit) for %s",
                   c->name, what);
}

/* ------------------------------------------------------------- values */

const char *mb_gguf_type_name(uint32_t type)
{
    static const char *const names[MB_GGUF_TYPE_COUNT] = {
        "uint8", "int8",   "uint16", "int16",  "uint32", "int32",   "float32",
        "bool",  "string", "array",  "uint64", "int64",  "float64",
    };
    return type < MB_GGUF_TYPE_COUNT ? names[type] : "unknown";
}

size_t mb_gguf_type_size(uint32_t type)
{
    switch (type) {
    case MB_GGUF_TYPE_UINT8:
    case MB_GGUF_TYPE_INT8:
    case MB_GGUF_TYPE_BOOL:
        return 1;
    case MB_GGUF_TYPE_UINT16:
    case MB_GGUF_TYPE_INT16:
        return 2;
    case MB_GGUF_TYPE_UINT32:
    case MB_GGUF_TYPE_INT32:
    case MB_GGUF_TYPE_FLOAT32:
        return 4;
    case MB_GGUF_TYPE_UINT64:
    case MB_GGUF_TYPE_INT64:
    case MB_GGUF_TYPE_FLOAT64:
        return 8;
    default:
        return 0;
    }
}

/* Decode a fixed-size scalar at p into out->v. */
static void decode_scalar(uint32_t type, const uint8_t *p, struct mb_gguf_value *out)
{
    switch (type) {
    case MB_GGUF_TYPE_UINT8:
        out->v.u64 = p[0];
        break;
    case MB_GGUF_TYPE_INT8:
        out->v.i64 = (int8_t)p[0];
        break;
    case MB_GGUF_TYPE_UINT16:
        out->v.u64 = le16(p);
        break;
    case MB_GGUF_TYPE_INT16:
        out->v.i64 = (int16_t)le16(p);
        break;
    case MB_GGUF_TYPE_UINT32:
        out->v.u64 = le32(p);
        break;
    case MB_GGUF_TYPE_INT32:
        out->v.i64 = (int32_t)le32(p);
        break;
    case MB_GGUF_TYPE_UINT64:
        out->v.u64 = le64(p);
        break;
    case MB_GGUF_TYPE_INT64:
        out->v.i64 = (int64_t)le64(p);
        break;
    case MB_GGUF_TYPE_FLOAT32: {
        uint32_t u = le32(p);
        memcpy(&out->v.f32, &u, 4);
        break;
    }
    case MB_GGUF_TYPE_FLOAT64: {
        uint64_t u = le64(p);
        memcpy(&out->v.f64, &u, 8);
        break;
    }
    case MB_GGUF_TYPE_BOOL:
        out->v.b = p[0] != 0;
        break;
    default:
        break;
    }
}

static int parse_array(struct gguf_cursor *c, unsigned depth, struct mb_gguf_array *a)
{
    size_t start = c->pos;
    uint32_t et;
    uint64_t count;
    int rc = rd_u32(c, &et, "array element type");
    if (rc)
        return rc;
    if (et >= MB_GGUF_TYPE_COUNT)
        return mb_gguf_fail_at(c, MB_E_FORMAT, start, "array element type",
                               "unknown value type %" PRIu32, et);
    if (et == MB_GGUF_TYPE_ARRAY && depth + 1 >= MB_GGUF_MAX_DEPTH)
        return mb_gguf_fail_at(c, MB_E_FORMAT, start, "array element type",
                               "arrays nested more than %d deep", MB_GGUF_MAX_DEPTH);
    size_t count_off = c->pos;
    rc = rd_u64(c, &count, "array length");
    if (rc)
        return rc;
    size_t left = c->n - c->pos;
    size_t esize = mb_gguf_type_size(et);
    /* The least each element takes: its fixed size, a string's length, or a
     * nested array's type and length. */
    size_t min_elem = esize ? esize : (et == MB_GGUF_TYPE_STRING ? 8 : 12);
    if (count > left / min_elem)
        return mb_gguf_fail_at(c, MB_E_FORMAT, count_off, "array length",
                               "%" PRIu64 " %s elements cannot fit in the %zu bytes left", count,
                               mb_gguf_type_name(et), left);
    a->type = et;
    a->n = (size_t)count;
    a->data = NULL;
    a->strs = NULL;
    a->items = NULL;
    if (esize) {
        a->data = c->p + c->pos;
        if (et == MB_GGUF_TYPE_BOOL) {
            for (size_t i = 0; i < a->n; i++)
                if (a->data[i] > 1)
                    return mb_gguf_fail_at(c, MB_E_FORMAT, c->pos + i, "array element",
                                           "bool %zu is %u (must be 0 or 1)", i, a->data[i]);
        }
        c->pos += a->n * esize;
        return 0;
    }
    if (et == MB_GGUF_TYPE_STRING) {
        struct mb_str *strs = arena_array(c, a->n, sizeof(*strs));
        if (!strs)
            return nomem(c, "a string array");
        for (size_t i = 0; i < a->n; i++) {
            rc = rd_str(c, &strs[i], "array element", i);
            if (rc)
                return rc;
        }
        a->strs = strs;
        return 0;
    }
    struct mb_gguf_value *items = arena_array(c, a->n, sizeof(*items));
    if (!items)
        return nomem(c, "a nested array");
    for (size_t i = 0; i < a->n; i++) {
        rc = mb_gguf_parse_value(c, MB_GGUF_TYPE_ARRAY, depth + 1, "array element", &items[i]);
        if (rc)
            return rc;
    }
    a->items = items;
    return 0;
}

int mb_gguf_parse_value(struct gguf_cursor *c, uint32_t type, unsigned depth, const char *field,
                        struct mb_gguf_value *out)
{
    memset(out, 0, sizeof(*out));
    out->type = type;
    out->offset = c->pos;
    out->raw = c->p + c->pos;
    size_t start = c->pos;
    int rc = 0;
    size_t size = mb_gguf_type_size(type);
    if (size) {
        rc = need(c, size, field);
        if (rc)
            return rc;
        if (type == MB_GGUF_TYPE_BOOL && c->p[c->pos] > 1)
            return mb_gguf_fail_at(c, MB_E_FORMAT, c->pos, field, "bool is %u (must be 0 or 1)",
                                   c->p[c->pos]);
        decode_scalar(type, c->p + c->pos, out);
        c->pos += size;
    } else if (type == MB_GGUF_TYPE_STRING) {
        rc = rd_str(c, &out->v.s, field, SIZE_MAX);
    } else if (type == MB_GGUF_TYPE_ARRAY) {
        rc = parse_array(c, depth, &out->v.arr);
    } else {
        return mb_gguf_fail_at(c, MB_E_FORMAT, start, field, "unknown value type %" PRIu32, type);
    }
    if (rc)
        return rc;
    out->raw_size = c->pos - start;
    return 0;
}

/* ------------------------------------------------------------- name index */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static int index_init(struct gguf_index *ix, size_t count, struct gguf_cursor *c)
{
    size_t cap = 16;
    while (cap < count * 2)
        cap *= 2; /* count is bounded by the file size, so this cannot overflow */
    ix->slots = arena_array(c, cap, sizeof(uint32_t));
    if (!ix->slots)
        return nomem(c, "a name index");
    ix->cap = cap;
    return 0;
}

typedef const char *(*name_at_fn)(const struct mb_gguf *g, size_t i, size_t *len);

static const char *kv_name(const struct mb_gguf *g, size_t i, size_t *len)
{
    *len = g->kvs[i].key_len;
    return g->kvs[i].key;
}

static const char *tensor_name(const struct mb_gguf *g, size_t i, size_t *len)
{
    *len = strlen(g->tensors[i].name);
    return g->tensors[i].name;
}

/*
 * Insert entry i under its name; when the name is already there, return
 * false with *dup set to the earlier entry.
 */
static bool index_insert(const struct mb_gguf *g, struct gguf_index *ix, name_at_fn name_at,
                         size_t i, size_t *dup)
{
    size_t len;
    const char *s = name_at(g, i, &len);
    size_t mask = ix->cap - 1;
    for (size_t h = (size_t)hash_bytes(s, len) & mask;; h = (h + 1) & mask) {
        if (!ix->slots[h]) {
            ix->slots[h] = (uint32_t)(i + 1);
            return true;
        }
        size_t olen;
        const char *o = name_at(g, ix->slots[h] - 1, &olen);
        if (olen == len && !memcmp(o, s, len)) {
            *dup = ix->slots[h] - 1;
            return false;
        }
    }
}

static const struct gguf_index *index_find_slot(const struct mb_gguf *g,
                                                const struct gguf_index *ix, name_at_fn name_at,
                                                const char *s, size_t *found)
{
    if (!ix->cap)
        return NULL;
    size_t len = strlen(s);
    size_t mask = ix->cap - 1;
    for (size_t h = (size_t)hash_bytes(s, len) & mask; ix->slots[h]; h = (h + 1) & mask) {
        size_t olen;
        const char *o = name_at(g, ix->slots[h] - 1, &olen);
        if (olen == len && !memcmp(o, s, len)) {
            *found = ix->slots[h] - 1;
            return ix;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------- parsing */

static int parse_header(struct mb_gguf *g, struct gguf_cursor *c, uint64_t *n_tensors,
                        uint64_t *n_kv)
{
    if (c->n < 4)
        return mb_fail(c->err, MB_E_FORMAT, "%s: not a GGUF file: only %zu bytes long", c->name,
                       c->n);
    uint32_t magic = le32(c->p);
    if (magic != GGUF_MAGIC) {
        char q[24];
        mb_gguf_quote(q, sizeof(q), (const char *)c->p, 4);
        return mb_fail(c->err, MB_E_FORMAT,
                       "%s: not a GGUF file: magic at offset 0 is '%s', not 'GGUF'", c->name, q);
    }
    c->pos = 4;
    int rc = rd_u32(c, &g->version, "version");
    if (rc)
        return rc;
    if (g->version != 2 && g->version != 3) {
        if (g->version != 0 && (g->version & 0xffffu) == 0)
            return mb_gguf_fail_at(c, MB_E_UNSUPPORTED, 4, "version",
                                   "%" PRIu32 " looks like a big-endian file; only little-endian "
                                   "GGUF is supported",
                                   g->version);
        return mb_gguf_fail_at(c, MB_E_UNSUPPORTED, 4, "version",
                               "GGUF version %" PRIu32 " is not supported (only 2 and 3)",
                               g->version);
    }
    rc = rd_u64(c, n_tensors, "tensor_count");
    if (!rc)
        rc = rd_u64(c, n_kv, "kv_count");
    if (rc)
        return rc;
    size_t left = c->n - c->pos;
    if (*n_kv > left / MIN_KV_BYTES)
        return mb_gguf_fail_at(c, MB_E_FORMAT, 16, "kv_count",
                               "%" PRIu64 " entries cannot fit in the %zu bytes left", *n_kv, left);
    if (*n_tensors > left / MIN_TENSOR_INFO_BYTES || *n_tensors > UINT32_MAX)
        return mb_gguf_fail_at(c, MB_E_FORMAT, 8, "tensor_count",
                               "%" PRIu64 " tensor infos cannot fit in the %zu bytes left",
                               *n_tensors, left);
    return 0;
}

static void set_where(struct gguf_cursor *c, const char *kind, size_t i, const char *s, size_t n)
{
    char q[100];
    if (!s) {
        snprintf(c->where, sizeof(c->where), "%s %zu", kind, i);
        return;
    }
    mb_gguf_quote(q, sizeof(q), s, n);
    snprintf(c->where, sizeof(c->where), "%s %zu '%s'", kind, i, q);
}

static int parse_kvs(struct mb_gguf *g, struct gguf_cursor *c, uint64_t n_kv)
{
    g->kvs = arena_array(c, (size_t)n_kv, sizeof(*g->kvs));
    if (!g->kvs)
        return nomem(c, "the metadata table");
    int rc = index_init(&g->kv_index, (size_t)n_kv, c);
    if (rc)
        return rc;
    for (size_t i = 0; i < n_kv; i++) {
        struct mb_gguf_kv *kv = &g->kvs[i];
        kv->offset = c->pos;
        set_where(c, "kv", i, NULL, 0);
        struct mb_str key;
        rc = rd_str(c, &key, "key", SIZE_MAX);
        if (rc)
            return rc;
        if (key.n == 0)
            return mb_gguf_fail_at(c, MB_E_FORMAT, (size_t)kv->offset, "key", "the key is empty");
        if (key.n > MB_GGUF_MAX_KEY)
            return mb_gguf_fail_at(c, MB_E_FORMAT, (size_t)kv->offset, "key",
                                   "%zu bytes long (the limit is %d)", key.n, MB_GGUF_MAX_KEY);
        if (memchr(key.p, '\0', key.n))
            return mb_gguf_fail_at(c, MB_E_FORMAT, (size_t)kv->offset + 8, "key",
                                   "contains a NUL byte");
        kv->key = mb_arena_strndup(c->arena, key.p, key.n);
        if (!kv->key)
            return nomem(c, "a key");
        kv->key_len = key.n;
        g->n_kv = i + 1;
        set_where(c, "kv", i, key.p, key.n);
        size_t dup;
        if (!index_insert(g, &g->kv_index, kv_name, i, &dup))
            return mb_gguf_fail_at(c, MB_E_FORMAT, (size_t)kv->offset, "key",
                                   "duplicate key (first defined at offset %" PRIu64 ")",
                                   g->kvs[dup].offset);
        uint32_t type;
        size_t type_off = c->pos;
        rc = rd_u32(c, &type, "value type");
        if (rc)
            return rc;
        if (type >= MB_GGUF_TYPE_COUNT)
            return mb_gguf_fail_at(c, MB_E_FORMAT, type_off, "value type",
                                   "unknown value type %" PRIu32, type);
        rc = mb_gguf_parse_value(c, type, 0, "value", &kv->value);
        if (rc)
            return rc;
    }
    c->where[0] = '\0';
    return 0;
}

/* general.alignment: optional, UINT32, a non-zero power of two (gguf-py's rule). */
static int parse_alignment(struct mb_gguf *g, struct gguf_cursor *c)
{
    g->alignment = MB_GGUF_DEFAULT_ALIGNMENT;
    const struct mb_gguf_kv *kv = mb_gguf_find_kv(g, "general.alignment");
    if (!kv)
        return 0;
    if (kv->value.type != MB_GGUF_TYPE_UINT32)
        return mb_fail(c->err, MB_E_FORMAT,
                       "%s: key 'general.alignment' at offset %" PRIu64 ": must be uint32, not %s",
                       c->name, kv->offset, mb_gguf_type_name(kv->value.type));
    uint64_t a = kv->value.v.u64;
    if (a == 0 || (a & (a - 1)))
        return mb_fail(c->err, MB_E_FORMAT,
                       "%s: key 'general.alignment' at offset %" PRIu64 ": %" PRIu64
                       " is not a power of two",
                       c->name, kv->offset, a);
    g->alignment = (uint32_t)a;
    return 0;
}

static int parse_tensor_info(struct mb_gguf *g, struct gguf_cursor *c, size_t i)
{
    struct mb_gguf_tensor *t = &g->tensors[i];
    t->index = (uint32_t)i;
    t->info_offset = c->pos;
    set_where(c, "tensor", i, NULL, 0);
    struct mb_str name;
    int rc = rd_str(c, &name, "name", SIZE_MAX);
    if (rc)
        return rc;
    if (name.n == 0)
        return mb_gguf_fail_at(c, MB_E_FORMAT, (size_t)t->info_offset, "name", "the name is empty");
    if (name.n > MB_GGUF_MAX_NAME)
        return mb_gguf_fail_at(c, MB_E_FORMAT, (size_t)t->info_offset, "name",
                               "%zu bytes long (the limit is %d)", name.n, MB_GGUF_MAX_NAME);
    if (memchr(name.p, '\0', name.n))
        return mb_gguf_fail_at(c, MB_E_FORMAT, (size_t)t->info_offset + 8, "name",
                               "contains a NUL byte");
    t->name = mb_arena_strndup(c->arena, name.p, name.n);
    if (!t->name)
        return nomem(c, "a tensor name");
    set_where(c, "tensor", i, name.p, name.n);
    g->n_tensors = i + 1;
    size_t dup;
    if (!index_insert(g, &g->tensor_index, tensor_name, i, &dup))
        return mb_gguf_fail_at(c, MB_E_FORMAT, (size_t)t->info_offset, "name",
                               "duplicate tensor name (first defined at offset %" PRIu64 ")",
                               g->tensors[dup].info_offset);

    size_t off = c->pos;
    rc = rd_u32(c, &t->n_dims, "n_dims");
    if (rc)
        return rc;
    if (t->n_dims < 1 || t->n_dims > MB_GGUF_MAX_DIMS)
        return mb_gguf_fail_at(c, MB_E_FORMAT, off, "n_dims", "%" PRIu32 " (must be 1 to %d)",
                               t->n_dims, MB_GGUF_MAX_DIMS);
    uint64_t n_el = 1;
    for (uint32_t d = 0; d < MB_GGUF_MAX_DIMS; d++) {
        t->dims[d] = 1;
        if (d >= t->n_dims)
            continue;
        char field[16];
        snprintf(field, sizeof(field), "dims[%" PRIu32 "]", d);
        off = c->pos;
        rc = rd_u64(c, &t->dims[d], field);
        if (rc)
            return rc;
        if (t->dims[d] == 0)
            return mb_gguf_fail_at(c, MB_E_FORMAT, off, field, "a dimension of 0");
        /* ggml counts elements in int64_t: the product must fit. */
        if (!mb_mul_u64_ok(n_el, t->dims[d], &n_el) || n_el > (uint64_t)INT64_MAX)
            return mb_gguf_fail_at(c, MB_E_FORMAT, off, field,
                                   "%" PRIu64 " makes the element count overflow", t->dims[d]);
    }
    t->n_elements = n_el;
    off = c->pos;
    rc = rd_u32(c, &t->type, "type");
    if (rc)
        return rc;
    const struct mb_dtype_traits *tr = mb_dtype_traits(t->type);
    if (!tr)
        return mb_gguf_fail_at(c, MB_E_FORMAT, off, "type", "unknown tensor type %" PRIu32,
                               t->type);
    uint64_t row;
    if (!mb_dtype_row_size(t->type, t->dims[0], &row))
        return mb_gguf_fail_at(c, MB_E_FORMAT, off, "type",
                               "dims[0] = %" PRIu64
                               " is not a multiple of the %s block length %" PRIu32,
                               t->dims[0], tr->name, tr->block_len);
    if (!mb_mul_u64_ok(row, n_el / t->dims[0], &t->nbytes))
        return mb_gguf_fail_at(c, MB_E_FORMAT, off, "type", "the data size overflows");
    off = c->pos;
    rc = rd_u64(c, &t->offset, "offset");
    if (rc)
        return rc;
    if (t->offset % g->alignment)
        return mb_gguf_fail_at(c, MB_E_FORMAT, off, "offset",
                               "%" PRIu64 " is not a multiple of the alignment %" PRIu32, t->offset,
                               g->alignment);
    return 0;
}

static int cmp_by_offset(const void *a, const void *b)
{
    const struct mb_gguf_tensor *x = *(const struct mb_gguf_tensor *const *)a;
    const struct mb_gguf_tensor *y = *(const struct mb_gguf_tensor *const *)b;
    if (x->file_offset != y->file_offset)
        return x->file_offset < y->file_offset ? -1 : 1;
    return x->index < y->index ? -1 : (x->index > y->index);
}

/* Place every tensor's data in the file; no tensor may leave it or overlap another. */
static int place_tensors(struct mb_gguf *g, struct gguf_cursor *c)
{
    uint64_t a = g->alignment;
    uint64_t start = c->pos;
    uint64_t data = (start + a - 1) / a * a; /* start < 2^63, a <= 2^32: no overflow */
    g->data_offset = data;
    for (size_t i = 0; i < g->n_tensors; i++) {
        struct mb_gguf_tensor *t = &g->tensors[i];
        uint64_t end = 0;
        bool overflow = !mb_add_u64_ok(data, t->offset, &t->file_offset) ||
                        !mb_add_u64_ok(t->file_offset, t->nbytes, &end);
        if (overflow || end > g->n) {
            char q[100];
            mb_gguf_quote(q, sizeof(q), t->name, strlen(t->name));
            if (overflow)
                return mb_fail(c->err, MB_E_FORMAT,
                               "%s: tensor %zu '%s': offset %" PRIu64 " plus %" PRIu64
                               " bytes of data overflows",
                               c->name, i, q, t->offset, t->nbytes);
            return mb_fail(c->err, MB_E_FORMAT,
                           "%s: tensor %zu '%s': data ends at %" PRIu64
                           ", past the end of the file (%zu)",
                           c->name, i, q, end, g->n);
        }
        t->data = g->p + t->file_offset;
    }
    if (g->n_tensors < 2)
        return 0;
    const struct mb_gguf_tensor **order = mb_malloc(g->n_tensors * sizeof(*order));
    if (!order)
        return nomem(c, "sorting tensors");
    for (size_t i = 0; i < g->n_tensors; i++)
        order[i] = &g->tensors[i];
    qsort(order, g->n_tensors, sizeof(*order), cmp_by_offset);
    int rc = 0;
    for (size_t i = 1; i < g->n_tensors; i++) {
        const struct mb_gguf_tensor *p = order[i - 1], *t = order[i];
        if (p->file_offset + p->nbytes > t->file_offset) {
            char qa[100], qb[100];
            mb_gguf_quote(qa, sizeof(qa), t->name, strlen(t->name));
            mb_gguf_quote(qb, sizeof(qb), p->name, strlen(p->name));
            rc = mb_fail(
                c->err, MB_E_FORMAT,
                "%s: tensor %" PRIu32 " '%s': data at offset %" PRIu64 " overlaps tensor %" PRIu32
                " '%s' (offset %" PRIu64 ", %" PRIu64 " bytes)",
                c->name, t->index, qa, t->file_offset, p->index, qb, p->file_offset, p->nbytes);
            break;
        }
    }
    mb_free(order);
    return rc;
}

static int parse(struct mb_gguf *g, struct mb_err *err)
{
    struct gguf_cursor c;
    memset(&c, 0, sizeof(c));
    c.p = g->p;
    c.n = g->n;
    c.name = g->name;
    c.arena = &g->arena;
    c.err = err;
    uint64_t n_tensors, n_kv;
    int rc = parse_header(g, &c, &n_tensors, &n_kv);
    if (!rc)
        rc = parse_kvs(g, &c, n_kv);
    if (!rc)
        rc = parse_alignment(g, &c);
    if (rc)
        return rc;
    /* Bound the tensor count again by what is actually left after the metadata. */
    size_t left = c.n - c.pos;
    if (n_tensors > left / MIN_TENSOR_INFO_BYTES)
        return mb_gguf_fail_at(&c, MB_E_FORMAT, 8, "tensor_count",
                               "%" PRIu64 " tensor infos cannot fit in the %zu bytes left after "
                               "the metadata",
                               n_tensors, left);
    g->tensors = arena_array(&c, (size_t)n_tensors, sizeof(*g->tensors));
    if (!g->tensors)
        return nomem(&c, "the tensor table");
    rc = index_init(&g->tensor_index, (size_t)n_tensors, &c);
    for (size_t i = 0; !rc && i < n_tensors; i++)
        rc = parse_tensor_info(g, &c, i);
    if (!rc)
        rc = place_tensors(g, &c);
    return rc;
}

/* ------------------------------------------------------------- open/free */

static int open_common(struct mb_gguf **out, struct mb_gguf *g, struct mb_err *err)
{
    /* Metadata memory is bounded by the counts checks; this is a second fence. */
    size_t extra, max;
    if (!mb_mul_ok(g->n, 32, &extra) || !mb_add_ok((size_t)64 << 20, extra, &max))
        max = SIZE_MAX;
    mb_arena_init(&g->arena, max);
    int rc = parse(g, err);
    if (rc) {
        mb_gguf_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

int mb_gguf_open_memory(struct mb_gguf **out, const void *data, size_t n, const char *name,
                        struct mb_err *err)
{
    *out = NULL;
    struct mb_gguf *g = mb_calloc(1, sizeof(*g));
    if (!g)
        return mb_fail(err, MB_E_NOMEM, "%s: out of memory", name);
    g->name = mb_strdup(name ? name : "(memory)");
    if (!g->name) {
        mb_free(g);
        return mb_fail(err, MB_E_NOMEM, "%s: out of memory", name);
    }
    g->p = data;
    g->n = n;
    return open_common(out, g, err);
}

int mb_gguf_open(struct mb_gguf **out, const char *path, struct mb_err *err)
{
    *out = NULL;
    struct mb_gguf *g = mb_calloc(1, sizeof(*g));
    if (!g)
        return mb_fail(err, MB_E_NOMEM, "%s: out of memory", path);
    g->name = mb_strdup(path);
    if (!g->name) {
        mb_free(g);
        return mb_fail(err, MB_E_NOMEM, "%s: out of memory", path);
    }
    int rc = mb_map_file(path, &g->map, err);
    if (rc) {
        mb_free(g->name);
        mb_free(g);
        return rc;
    }
    g->p = g->map.p;
    g->n = g->map.n;
    return open_common(out, g, err);
}

void mb_gguf_free(struct mb_gguf *g)
{
    if (!g)
        return;
    mb_arena_release(&g->arena);
    mb_unmap(&g->map);
    mb_free(g->name);
    mb_free(g);
}

/* ------------------------------------------------------------- accessors */

const char *mb_gguf_name(const struct mb_gguf *g)
{
    return g->name;
}

uint32_t mb_gguf_version(const struct mb_gguf *g)
{
    return g->version;
}

uint64_t mb_gguf_size(const struct mb_gguf *g)
{
    return g->n;
}

uint32_t mb_gguf_alignment(const struct mb_gguf *g)
{
    return g->alignment;
}

uint64_t mb_gguf_data_offset(const struct mb_gguf *g)
{
    return g->data_offset;
}

const uint8_t *mb_gguf_bytes(const struct mb_gguf *g)
{
    return g->p;
}

size_t mb_gguf_kv_count(const struct mb_gguf *g)
{
    return g->n_kv;
}

const struct mb_gguf_kv *mb_gguf_kv_at(const struct mb_gguf *g, size_t i)
{
    if (i >= g->n_kv)
        MB_BUG("kv index %zu out of range (%zu)", i, g->n_kv);
    return &g->kvs[i];
}

const struct mb_gguf_kv *mb_gguf_find_kv(const struct mb_gguf *g, const char *key)
{
    size_t i;
    if (!index_find_slot(g, &g->kv_index, kv_name, key, &i))
        return NULL;
    return &g->kvs[i];
}

size_t mb_gguf_tensor_count(const struct mb_gguf *g)
{
    return g->n_tensors;
}

const struct mb_gguf_tensor *mb_gguf_tensor_at(const struct mb_gguf *g, size_t i)
{
    if (i >= g->n_tensors)
        MB_BUG("tensor index %zu out of range (%zu)", i, g->n_tensors);
    return &g->tensors[i];
}

const struct mb_gguf_tensor *mb_gguf_find_tensor(const struct mb_gguf *g, const char *name)
{
    size_t i;
    if (!index_find_slot(g, &g->tensor_index, tensor_name, name, &i))
        return NULL;
    return &g->tensors[i];
}

int mb_gguf_get_tensor(const struct mb_gguf *g, const char *name, const struct mb_gguf_tensor **out,
                       struct mb_err *err)
{
    *out = mb_gguf_find_tensor(g, name);
    if (!*out) {
        char q[100];
        mb_gguf_quote(q, sizeof(q), name, strlen(name));
        return mb_fail(err, MB_E_NOTFOUND, "%s: no tensor '%s'", g->name, q);
    }
    return 0;
}
