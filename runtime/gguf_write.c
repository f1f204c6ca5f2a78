/*
 * gguf_write.c - the GGUF v3 writer. KVs are kept in their encoded form (the
 * bytes that follow the type field in a file), so copying a KV from a reader
 * is a verbatim copy of any type, nested arrays included, and every setter is
 * an encoder. Tensors are borrowed pointers or fill callbacks: their data is
 * streamed to the file in chunks at write time and never held in memory
 * whole. The layout is gguf-py's: header, KVs and tensor infos in insertion
 * order, zero padding to the alignment, then each tensor's data followed by
 * zero padding to the alignment (tensor offsets are the running sum of the
 * padded sizes). Same inputs, same bytes. Files are written atomically.
 */
#include "gguf_int.h"
#include "mb_kernels.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the GGUF writer assumes a little-endian host (set_array copies elements as they are)"
#endif

#define GGUF_CHUNK    ((size_t)4 << 20) /* bytes per write of tensor data */
#define GGUF_META_MAX ((size_t)1 << 30) /* header + KVs + tensor infos */

struct wkv {
    char *key;
    size_t key_len;
    uint32_t type;
    uint8_t *raw; /* the encoded value */
    size_t raw_n;
};

struct wtensor {
    char *name;
    uint32_t type;
    uint32_t n_dims;
    uint64_t dims[MB_GGUF_MAX_DIMS];
    uint64_t nbytes;
    const uint8_t *data; /* borrowed, or NULL when fill is set */
    mb_gguf_fill_fn fill;
    void *ud;
};

struct mb_gguf_writer {
    struct wkv *kvs;
    size_t n_kv, cap_kv;
    struct wtensor *ts;
    size_t n_t, cap_t;
};

int mb_gguf_writer_new(struct mb_gguf_writer **out, struct mb_err *err)
{
    *out = mb_calloc(1, sizeof(**out));
    if (!*out)
        return mb_fail(err, MB_E_NOMEM, "out of memory for a GGUF writer");
    return 0;
}

void mb_gguf_writer_free(struct mb_gguf_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_kv; i++) {
        mb_free(w->kvs[i].key);
        mb_free(w->kvs[i].raw);
    }
    for (size_t i = 0; i < w->n_t; i++)
        mb_free(w->ts[i].name);
    mb_free(w->kvs);
    mb_free(w->ts);
    mb_free(w);
}

size_t mb_gguf_writer_kv_count(const struct mb_gguf_writer *w)
{
    return w->n_kv;
}

size_t mb_gguf_writer_tensor_count(const struct mb_gguf_writer *w)
{
    return w->n_t;
}

/* ------------------------------------------------------------- KVs */

static struct wkv *find_kv(const struct mb_gguf_writer *w, const char *key, size_t len)
{
    for (size_t i = 0; i < w->n_kv; i++)
        if (w->kvs[i].key_len == len && !memcmp(w->kvs[i].key, key, len))
            return &w->kvs[i];
    return NULL;
}

static int check_key(const char *key, size_t *len, struct mb_err *err)
{
    *len = key ? strlen(key) : 0;
    if (*len == 0)
        return mb_fail(err, MB_E_USAGE, "a GGUF key cannot be empty");
    if (*len > MB_GGUF_MAX_KEY)
        return mb_fail(err, MB_E_USAGE, "GGUF key of %zu bytes is longer than %d", *len,
                       MB_GGUF_MAX_KEY);
    return 0;
}

/* Store key = (type, raw[0..n)), replacing an existing value in place. Copies raw. */
static int put_kv(struct mb_gguf_writer *w, const char *key, uint32_t type, const void *raw,
                  size_t n, struct mb_err *err)
{
    size_t len;
    int rc = check_key(key, &len, err);
    if (rc)
        return rc;
    if (!strcmp(key, "general.alignment")) {
        uint32_t a = 0;
        if (type == MB_GGUF_TYPE_UINT32 && n == 4)
            memcpy(&a, raw, 4);
        if (type != MB_GGUF_TYPE_UINT32 || a == 0 || (a & (a - 1)))
            return mb_fail(err, MB_E_USAGE,
                           "'general.alignment' must be a uint32 power of two (got %s %" PRIu32 ")",
                           mb_gguf_type_name(type), a);
    }
    uint8_t *copy = mb_malloc(n);
    if (!copy)
        return mb_fail(err, MB_E_NOMEM, "out of memory for GGUF key '%s'", key);
    memcpy(copy, raw, n);
    struct wkv *kv = find_kv(w, key, len);
    if (kv) {
        mb_free(kv->raw);
        kv->type = type;
        kv->raw = copy;
        kv->raw_n = n;
        return 0;
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? w->cap_kv * 2 : 16;
        struct wkv *kvs = mb_reallocarray(w->kvs, cap, sizeof(*kvs));
        if (!kvs) {
            mb_free(copy);
            return mb_fail(err, MB_E_NOMEM, "out of memory for GGUF key '%s'", key);
        }
        w->kvs = kvs;
        w->cap_kv = cap;
    }
    char *k = mb_strdup(key);
    if (!k) {
        mb_free(copy);
        return mb_fail(err, MB_E_NOMEM, "out of memory for GGUF key '%s'", key);
    }
    w->kvs[w->n_kv++] = (struct wkv){ k, len, type, copy, n };
    return 0;
}

static int put_scalar(struct mb_gguf_writer *w, const char *key, uint32_t type, uint64_t bits,
                      struct mb_err *err)
{
    uint8_t raw[8];
    size_t n = mb_gguf_type_size(type);
    for (size_t i = 0; i < n; i++)
        raw[i] = (uint8_t)(bits >> (8 * i));
    return put_kv(w, key, type, raw, n, err);
}

int mb_gguf_writer_set_u8(struct mb_gguf_writer *w, const char *key, uint8_t v, struct mb_err *err)
{
    return put_scalar(w, key, MB_GGUF_TYPE_UINT8, v, err);
}

int mb_gguf_writer_set_i8(struct mb_gguf_writer *w, const char *key, int8_t v, struct mb_err *err)
{
    return put_scalar(w, key, MB_GGUF_TYPE_INT8, (uint8_t)v, err);
}

int mb_gguf_writer_set_u16(struct mb_gguf_writer *w, const char *key, uint16_t v,
                           struct mb_err *err)
{
    return put_scalar(w, key, MB_GGUF_TYPE_UINT16, v, err);
}

int mb_gguf_writer_set_i16(struct mb_gguf_writer *w, const char *key, int16_t v, struct mb_err *err)
{
    return put_scalar(w, key, MB_GGUF_TYPE_INT16, (uint16_t)v, err);
}

int mb_gguf_writer_set_u32(struct mb_gguf_writer *w, const char *key, uint32_t v,
                           struct mb_err *err)
{
    return put_scalar(w, key, MB_GGUF_TYPE_UINT32, v, err);
}

int mb_gguf_writer_set_i32(struct mb_gguf_writer *w, const char *key, int32_t v, struct mb_err *err)
{
    return put_scalar(w, key, MB_GGUF_TYPE_INT32, (uint32_t)v, err);
}

int mb_gguf_writer_set_u64(struct mb_gguf_writer *w, const char *key, uint64_t v,
                           struct mb_err *err)
{
    return put_scalar(w, key, MB_GGUF_TYPE_UINT64, v, err);
}

int mb_gguf_writer_set_i64(struct mb_gguf_writer *w, const char *key, int64_t v, struct mb_err *err)
{
    return put_scalar(w, key, MB_GGUF_TYPE_INT64, (uint64_t)v, err);
}

int mb_gguf_writer_set_f32(struct mb_gguf_writer *w, const char *key, float v, struct mb_err *err)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    return put_scalar(w, key, MB_GGUF_TYPE_FLOAT32, u, err);
}

int mb_gguf_writer_set_f64(struct mb_gguf_writer *w, const char *key, double v, struct mb_err *err)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    return put_scalar(w, key, MB_GGUF_TYPE_FLOAT64, u, err);
}

int mb_gguf_writer_set_bool(struct mb_gguf_writer *w, const char *key, bool v, struct mb_err *err)
{
    return put_scalar(w, key, MB_GGUF_TYPE_BOOL, v ? 1 : 0, err);
}

static void put_le(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

int mb_gguf_writer_set_str(struct mb_gguf_writer *w, const char *key, const char *s, size_t n,
                           struct mb_err *err)
{
    size_t total;
    if (!mb_add_ok(n, 8, &total))
        return mb_fail(err, MB_E_LIMIT, "string for GGUF key '%s' is too long", key);
    uint8_t *raw = mb_malloc(total);
    if (!raw)
        return mb_fail(err, MB_E_NOMEM, "out of memory for GGUF key '%s'", key);
    put_le(raw, n, 8);
    if (n)
        memcpy(raw + 8, s, n);
    int rc = put_kv(w, key, MB_GGUF_TYPE_STRING, raw, total, err);
    mb_free(raw);
    return rc;
}

int mb_gguf_writer_set_string(struct mb_gguf_writer *w, const char *key, const char *s,
                              struct mb_err *err)
{
    return mb_gguf_writer_set_str(w, key, s, strlen(s), err);
}

int mb_gguf_writer_set_array(struct mb_gguf_writer *w, const char *key, uint32_t elem_type,
                             const void *elems, size_t n, struct mb_err *err)
{
    size_t esize = mb_gguf_type_size(elem_type);
    if (!esize)
        return mb_fail(err, MB_E_USAGE,
                       "GGUF key '%s': set_array takes fixed-size elements, not %s", key,
                       mb_gguf_type_name(elem_type));
    if (elem_type == MB_GGUF_TYPE_BOOL) {
        for (size_t i = 0; i < n; i++)
            if (((const uint8_t *)elems)[i] > 1)
                return mb_fail(err, MB_E_USAGE, "GGUF key '%s': bool element %zu is not 0 or 1",
                               key, i);
    }
    size_t bytes, total;
    if (!mb_mul_ok(n, esize, &bytes) || !mb_add_ok(bytes, 12, &total))
        return mb_fail(err, MB_E_LIMIT, "array for GGUF key '%s' is too large", key);
    uint8_t *raw = mb_malloc(total);
    if (!raw)
        return mb_fail(err, MB_E_NOMEM, "out of memory for GGUF key '%s'", key);
    put_le(raw, elem_type, 4);
    put_le(raw + 4, n, 8);
    if (bytes)
        memcpy(raw + 12, elems, bytes);
    int rc = put_kv(w, key, MB_GGUF_TYPE_ARRAY, raw, total, err);
    mb_free(raw);
    return rc;
}

int mb_gguf_writer_set_str_array(struct mb_gguf_writer *w, const char *key, const char *const *strs,
                                 size_t n, struct mb_err *err)
{
    size_t total = 12;
    for (size_t i = 0; i < n; i++)
        if (!mb_add_ok(total, 8, &total) || !mb_add_ok(total, strlen(strs[i]), &total))
            return mb_fail(err, MB_E_LIMIT, "array for GGUF key '%s' is too large", key);
    uint8_t *raw = mb_malloc(total);
    if (!raw)
        return mb_fail(err, MB_E_NOMEM, "out of memory for GGUF key '%s'", key);
    put_le(raw, MB_GGUF_TYPE_STRING, 4);
    put_le(raw + 4, n, 8);
    size_t o = 12;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(strs[i]);
        put_le(raw + o, len, 8);
        memcpy(raw + o + 8, strs[i], len);
        o += 8 + len;
    }
    int rc = put_kv(w, key, MB_GGUF_TYPE_ARRAY, raw, total, err);
    mb_free(raw);
    return rc;
}

int mb_gguf_writer_set_raw(struct mb_gguf_writer *w, const char *key, uint32_t type,
                           const void *raw, size_t n, struct mb_err *err)
{
    size_t len;
    int rc = check_key(key, &len, err);
    if (rc)
        return rc;
    /* Validate with the reader's own parser: exactly n bytes of one valid value. */
    char name[128];
    char q[100];
    mb_gguf_quote(q, sizeof(q), key, len);
    snprintf(name, sizeof(name), "value for key '%s'", q);
    struct mb_arena arena;
    mb_arena_init(&arena, SIZE_MAX);
    struct gguf_cursor c;
    memset(&c, 0, sizeof(c));
    c.p = raw;
    c.n = n;
    c.name = name;
    c.arena = &arena;
    c.err = err;
    struct mb_gguf_value v;
    rc = mb_gguf_parse_value(&c, type, 0, "value", &v);
    if (!rc && c.pos != n)
        rc = mb_fail(err, MB_E_FORMAT, "%s: %zu bytes left over after the value", name, n - c.pos);
    mb_arena_release(&arena);
    if (rc)
        return rc;
    return put_kv(w, key, type, raw, n, err);
}

int mb_gguf_writer_copy_kv(struct mb_gguf_writer *w, const struct mb_gguf_kv *kv,
                           struct mb_err *err)
{
    return put_kv(w, kv->key, kv->value.type, kv->value.raw, kv->value.raw_size, err);
}

int mb_gguf_writer_copy_kvs(struct mb_gguf_writer *w, const struct mb_gguf *g, const char *prefix,
                            struct mb_err *err)
{
    size_t plen = prefix ? strlen(prefix) : 0;
    for (size_t i = 0; i < mb_gguf_kv_count(g); i++) {
        const struct mb_gguf_kv *kv = mb_gguf_kv_at(g, i);
        if (plen && strncmp(kv->key, prefix, plen))
            continue;
        int rc = mb_gguf_writer_copy_kv(w, kv, err);
        if (rc)
            return rc;
    }
    return 0;
}

bool mb_gguf_writer_remove(struct mb_gguf_writer *w, const char *key)
{
    struct wkv *kv = find_kv(w, key, strlen(key));
    if (!kv)
        return false;
    mb_free(kv->key);
    mb_free(kv->raw);
    size_t i = (size_t)(kv - w->kvs);
    memmove(kv, kv + 1, (w->n_kv - i - 1) * sizeof(*kv));
    w->n_kv--;
    return true;
}

/* ------------------------------------------------------------- tensors */

static int add_tensor(struct mb_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                      const uint64_t *dims, struct wtensor **out, struct mb_err *err)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > MB_GGUF_MAX_NAME)
        return mb_fail(err, MB_E_USAGE, "tensor name '%s' must be 1 to %d bytes long",
                       name ? name : "", MB_GGUF_MAX_NAME);
    if (n_dims < 1 || n_dims > MB_GGUF_MAX_DIMS)
        return mb_fail(err, MB_E_USAGE, "tensor '%s': n_dims %" PRIu32 " is not 1 to %d", name,
                       n_dims, MB_GGUF_MAX_DIMS);
    const struct mb_dtype_traits *tr = mb_dtype_traits(type);
    if (!tr)
        return mb_fail(err, MB_E_USAGE, "tensor '%s': unknown type %" PRIu32, name, type);
    for (size_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->ts[i].name, name))
            return mb_fail(err, MB_E_EXISTS, "tensor '%s' is already added", name);
    struct wtensor t;
    memset(&t, 0, sizeof(t));
    t.type = type;
    t.n_dims = n_dims;
    uint64_t n_el = 1;
    for (uint32_t d = 0; d < MB_GGUF_MAX_DIMS; d++) {
        t.dims[d] = d < n_dims ? dims[d] : 1;
        if (t.dims[d] == 0)
            return mb_fail(err, MB_E_USAGE, "tensor '%s': dims[%" PRIu32 "] is 0", name, d);
        if (!mb_mul_u64_ok(n_el, t.dims[d], &n_el) || n_el > (uint64_t)INT64_MAX)
            return mb_fail(err, MB_E_LIMIT, "tensor '%s': the element count overflows", name);
    }
    uint64_t row;
    if (!mb_dtype_row_size(type, t.dims[0], &row))
        return mb_fail(err, MB_E_USAGE,
                       "tensor '%s': dims[0] = %" PRIu64 " is not a multiple of the %s block "
                       "length %" PRIu32,
                       name, t.dims[0], tr->name, tr->block_len);
    if (!mb_mul_u64_ok(row, n_el / t.dims[0], &t.nbytes) || t.nbytes > (uint64_t)INT64_MAX)
        return mb_fail(err, MB_E_LIMIT, "tensor '%s': the data size overflows", name);
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? w->cap_t * 2 : 16;
        struct wtensor *ts = mb_reallocarray(w->ts, cap, sizeof(*ts));
        if (!ts)
            return mb_fail(err, MB_E_NOMEM, "out of memory for tensor '%s'", name);
        w->ts = ts;
        w->cap_t = cap;
    }
    t.name = mb_strdup(name);
    if (!t.name)
        return mb_fail(err, MB_E_NOMEM, "out of memory for tensor '%s'", name);
    w->ts[w->n_t] = t;
    *out = &w->ts[w->n_t++];
    return 0;
}

int mb_gguf_writer_add_tensor(struct mb_gguf_writer *w, const char *name, uint32_t type,
                              uint32_t n_dims, const uint64_t *dims, const void *data,
                              uint64_t nbytes, struct mb_err *err)
{
    struct wtensor *t;
    int rc = add_tensor(w, name, type, n_dims, dims, &t, err);
    if (rc)
        return rc;
    if (nbytes != t->nbytes || !data) {
        uint64_t want = t->nbytes;
        mb_free(t->name);
        w->n_t--;
        if (!data)
            return mb_fail(err, MB_E_USAGE, "tensor '%s': no data", name);
        return mb_fail(err, MB_E_USAGE,
                       "tensor '%s': %" PRIu64
                       " bytes of data given, its type and shape need %" PRIu64,
                       name, nbytes, want);
    }
    t->data = data;
    return 0;
}

int mb_gguf_writer_add_tensor_fn(struct mb_gguf_writer *w, const char *name, uint32_t type,
                                 uint32_t n_dims, const uint64_t *dims, mb_gguf_fill_fn fill,
                                 void *ud, struct mb_err *err)
{
    if (!fill)
        return mb_fail(err, MB_E_USAGE, "tensor '%s': no fill function", name ? name : "");
    struct wtensor *t;
    int rc = add_tensor(w, name, type, n_dims, dims, &t, err);
    if (rc)
        return rc;
    t->fill = fill;
    t->ud = ud;
    return 0;
}

int mb_gguf_writer_copy_tensor(struct mb_gguf_writer *w, const struct mb_gguf_tensor *t,
                               struct mb_err *err)
{
    return mb_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->dims, t->data, t->nbytes,
                                     err);
}

/* ------------------------------------------------------------- output */

/* Where bytes go: a file descriptor or a capped buffer. */
struct sink {
    int fd;
    struct mb_buf *buf;
    const char *path;
    uint64_t done; /* tensor bytes written, for progress */
    uint64_t total;
    const struct mb_progress *progress;
    const char *label;
};

static int sink_write(struct sink *s, const void *data, size_t n, struct mb_err *err)
{
    if (s->buf)
        return mb_buf_append(s->buf, data, n, err);
    const uint8_t *p = data;
    while (n) {
        ssize_t r = write(s->fd, p, n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return mb_fail_errno(err, errno, "cannot write '%s'", s->path);
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int sink_zeros(struct sink *s, size_t n, struct mb_err *err)
{
    static const uint8_t zeros[256];
    while (n) {
        size_t k = MB_MIN(n, sizeof(zeros));
        int rc = sink_write(s, zeros, k, err);
        if (rc)
            return rc;
        n -= k;
    }
    return 0;
}

static uint32_t writer_alignment(const struct mb_gguf_writer *w)
{
    const struct wkv *kv = find_kv(w, "general.alignment", 17);
    uint32_t a = MB_GGUF_DEFAULT_ALIGNMENT;
    if (kv)
        memcpy(&a, kv->raw, 4); /* validated by put_kv */
    return a;
}

static int meta_u32(struct mb_buf *b, uint32_t v, struct mb_err *err)
{
    uint8_t p[4];
    put_le(p, v, 4);
    return mb_buf_append(b, p, 4, err);
}

static int meta_u64(struct mb_buf *b, uint64_t v, struct mb_err *err)
{
    uint8_t p[8];
    put_le(p, v, 8);
    return mb_buf_append(b, p, 8, err);
}

/* Header, KVs and tensor infos, padded to the alignment. */
static int build_meta(const struct mb_gguf_writer *w, uint32_t align, struct mb_buf *b,
                      struct mb_err *err)
{
    int rc = mb_buf_append(b, "GGUF", 4, err);
    rc = rc ? rc : meta_u32(b, 3, err);
    rc = rc ? rc : meta_u64(b, w->n_t, err);
    rc = rc ? rc : meta_u64(b, w->n_kv, err);
    for (size_t i = 0; !rc && i < w->n_kv; i++) {
        const struct wkv *kv = &w->kvs[i];
        rc = meta_u64(b, kv->key_len, err);
        rc = rc ? rc : mb_buf_append(b, kv->key, kv->key_len, err);
        rc = rc ? rc : meta_u32(b, kv->type, err);
        rc = rc ? rc : mb_buf_append(b, kv->raw, kv->raw_n, err);
    }
    uint64_t offset = 0;
    for (size_t i = 0; !rc && i < w->n_t; i++) {
        const struct wtensor *t = &w->ts[i];
        size_t len = strlen(t->name);
        rc = meta_u64(b, len, err);
        rc = rc ? rc : mb_buf_append(b, t->name, len, err);
        rc = rc ? rc : meta_u32(b, t->n_dims, err);
        for (uint32_t d = 0; !rc && d < t->n_dims; d++)
            rc = meta_u64(b, t->dims[d], err);
        rc = rc ? rc : meta_u32(b, t->type, err);
        rc = rc ? rc : meta_u64(b, offset, err);
        uint64_t padded = (t->nbytes + align - 1) / align * align; /* nbytes <= INT64_MAX */
        if (!rc && !mb_add_u64_ok(offset, padded, &offset))
            rc = mb_fail(err, MB_E_LIMIT, "the tensor data of the GGUF file is too large");
    }
    while (!rc && b->n % align)
        rc = mb_buf_append(b, "", 1, err);
    if (rc == MB_E_LIMIT)
        mb_err_prefix(err, "GGUF metadata (keys, values and tensor infos)");
    return rc;
}

/* Stream one tensor's data, then its padding. */
static int write_tensor(struct sink *s, const struct wtensor *t, uint32_t align, uint8_t *chunk,
                        struct mb_err *err)
{
    uint64_t off = 0;
    while (off < t->nbytes) {
        if (mb_interrupted)
            return mb_fail(err, MB_E_INTERRUPTED, "interrupted while writing '%s'",
                           s->label ? s->label : "a GGUF file");
        size_t n = (size_t)MB_MIN((uint64_t)GGUF_CHUNK, t->nbytes - off);
        const void *src = t->data ? t->data + off : chunk;
        if (!t->data) {
            int rc = t->fill(t->ud, off, chunk, n, err);
            if (rc)
                return rc;
        }
        int rc = sink_write(s, src, n, err);
        if (rc)
            return rc;
        off += n;
        s->done += n;
        mb_progress_report(s->progress, s->label, s->done, s->total);
    }
    uint64_t padded = (t->nbytes + align - 1) / align * align;
    return sink_zeros(s, (size_t)(padded - t->nbytes), err);
}

static int write_all(struct mb_gguf_writer *w, struct sink *s, struct mb_err *err)
{
    uint32_t align = writer_alignment(w);
    struct mb_buf meta;
    mb_buf_init(&meta, GGUF_META_MAX);
    int rc = build_meta(w, align, &meta, err);
    if (!rc)
        rc = sink_write(s, meta.p, meta.n, err);
    mb_buf_release(&meta);
    if (rc)
        return rc;
    s->total = 0;
    bool need_chunk = false;
    for (size_t i = 0; i < w->n_t; i++) {
        s->total += w->ts[i].nbytes;
        need_chunk |= w->ts[i].fill != NULL;
    }
    uint8_t *chunk = NULL;
    if (need_chunk) {
        chunk = mb_malloc(GGUF_CHUNK);
        if (!chunk)
            return mb_fail(err, MB_E_NOMEM, "out of memory for a write buffer");
    }
    mb_progress_report(s->progress, s->label, 0, s->total);
    for (size_t i = 0; !rc && i < w->n_t; i++)
        rc = write_tensor(s, &w->ts[i], align, chunk, err);
    mb_free(chunk);
    return rc;
}

int mb_gguf_writer_write_buf(struct mb_gguf_writer *w, struct mb_buf *out, struct mb_err *err)
{
    struct sink s;
    memset(&s, 0, sizeof(s));
    s.fd = -1;
    s.buf = out;
    return write_all(w, &s, err);
}

int mb_gguf_writer_write(struct mb_gguf_writer *w, const char *path,
                         const struct mb_progress *progress, struct mb_err *err)
{
    char tmp[4096];
    int fd = -1;
    int rc = mb_file_create_tmp(path, 0644, tmp, sizeof(tmp), &fd, err);
    if (rc)
        return rc;
    struct sink s;
    memset(&s, 0, sizeof(s));
    s.fd = fd;
    s.path = tmp;
    s.progress = progress;
    s.label = mb_path_basename(path);
    return mb_file_commit_tmp(fd, tmp, path, write_all(w, &s, err), err);
}
