/*
 * mb_gguf.h - GGUF files (llama.cpp's weight format): a bounds-checked reader
 * over a memory map, and a deterministic streaming writer.
 *
 * Reading. mb_gguf_open() maps a GGUF v2 or v3 little-endian file and parses
 * the header, every metadata key/value (all 13 value types, nested arrays)
 * and every tensor info, checking each count, length, offset, dimension and
 * type before using it (docs/gguf.md lists the checks). Nothing is copied but
 * keys, tensor names and small indexes: string values, arrays and tensor data
 * are views into the mapping, valid until mb_gguf_free(). Errors name the
 * file, the field and the byte offset:
 *     model.gguf: tensor 12 'blk.0.attn_q.weight': data ends at 123456789,
 *     past the end of the file (98362432)
 * A parsed struct mb_gguf is immutable: any number of threads may read it.
 *
 *     struct mb_gguf *g;
 *     if (mb_gguf_open(&g, path, err)) return err->code;
 *     uint32_t n_layer;
 *     int rc = mb_gguf_get_u32(g, "llama.block_count", &n_layer, err);
 *     const struct mb_gguf_tensor *t = mb_gguf_find_tensor(g, "token_embd.weight");
 *     ...
 *     mb_gguf_free(g);
 *
 * Writing. A struct mb_gguf_writer collects KVs (setters, or copies from a
 * reader) and tensors (borrowed pointers, or a callback that produces the
 * bytes), then writes a GGUF v3 file atomically: temp file, fsync, rename.
 * Same inputs give the same bytes; the layout is gguf-py's (KVs and tensors
 * in insertion order, each tensor's data aligned and zero-padded).
 */
#ifndef MB_GGUF_H
#define MB_GGUF_H

#include "mb_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- values */

/* Metadata value types, as stored in the file (never renumber). */
enum mb_gguf_type {
    MB_GGUF_TYPE_UINT8 = 0,
    MB_GGUF_TYPE_INT8 = 1,
    MB_GGUF_TYPE_UINT16 = 2,
    MB_GGUF_TYPE_INT16 = 3,
    MB_GGUF_TYPE_UINT32 = 4,
    MB_GGUF_TYPE_INT32 = 5,
    MB_GGUF_TYPE_FLOAT32 = 6,
    MB_GGUF_TYPE_BOOL = 7,
    MB_GGUF_TYPE_STRING = 8,
    MB_GGUF_TYPE_ARRAY = 9,
    MB_GGUF_TYPE_UINT64 = 10,
    MB_GGUF_TYPE_INT64 = 11,
    MB_GGUF_TYPE_FLOAT64 = 12,
    MB_GGUF_TYPE_COUNT
};

#define MB_GGUF_DEFAULT_ALIGNMENT 32
#define MB_GGUF_MAX_DIMS          4
#define MB_GGUF_MAX_NAME          64    /* bytes in a tensor name (the GGUF spec's limit) */
#define MB_GGUF_MAX_KEY           65535 /* bytes in a key */
#define MB_GGUF_MAX_DEPTH         8     /* nesting of arrays in arrays */

/* "uint8" ... "float64" (gguf-py's GGUFValueType names, lower case), or "unknown". */
const char *mb_gguf_type_name(uint32_t type);
/* Bytes of one element of a fixed-size type (1, 2, 4 or 8); 0 for STRING, ARRAY, unknown. */
size_t mb_gguf_type_size(uint32_t type);
/* True for the eight integer types (not BOOL). */
bool mb_gguf_type_is_int(uint32_t type);

struct mb_gguf_value;

/*
 * An array value. Elements of fixed-size types are `n` little-endian values
 * at `data` (a view into the file, possibly unaligned: use the accessors
 * below); STRING elements are views in `strs`; ARRAY elements (nested
 * arrays) are values of type ARRAY in `items`.
 */
struct mb_gguf_array {
    uint32_t type; /* element type */
    size_t n;
    const uint8_t *data;               /* fixed-size element types */
    const struct mb_str *strs;         /* type == STRING */
    const struct mb_gguf_value *items; /* type == ARRAY */
};

/* A decoded value. Strings and arrays are views into the file. */
struct mb_gguf_value {
    uint32_t type;   /* enum mb_gguf_type */
    uint64_t offset; /* file offset of the encoded value */
    /* The encoded value (what follows the type field), for copying verbatim. */
    const uint8_t *raw;
    size_t raw_size;
    union {
        uint64_t u64;    /* UINT8, UINT16, UINT32, UINT64 */
        int64_t i64;     /* INT8, INT16, INT32, INT64 */
        float f32;       /* FLOAT32 */
        double f64;      /* FLOAT64 */
        bool b;          /* BOOL */
        struct mb_str s; /* STRING (not NUL-terminated; may contain NUL bytes) */
        struct mb_gguf_array arr;
    } v;
};

/*
 * Scalar conversions that accept whatever a writer chose: an integer of any
 * width or signedness whose value fits, a float of either width (f64 -> f32
 * rounds), an integer as a float. False when the value is not a number of
 * that kind or does not fit; *out is untouched then.
 */
bool mb_gguf_value_i64(const struct mb_gguf_value *v, int64_t *out);
bool mb_gguf_value_u64(const struct mb_gguf_value *v, uint64_t *out);
bool mb_gguf_value_f64(const struct mb_gguf_value *v, double *out);

/* Element i of an array (i < a->n is the caller's duty: MB_BUG otherwise). */
struct mb_str mb_gguf_array_str(const struct mb_gguf_array *a, size_t i); /* STRING arrays */
float mb_gguf_array_f32(const struct mb_gguf_array *a, size_t i);         /* FLOAT32 arrays */
int32_t mb_gguf_array_i32(const struct mb_gguf_array *a, size_t i);       /* INT32 arrays */
const struct mb_gguf_array *mb_gguf_array_sub(const struct mb_gguf_array *a, size_t i); /* ARRAY */
/* Any numeric element (integer, float or bool) converted as mb_gguf_value_*() does. */
bool mb_gguf_array_i64(const struct mb_gguf_array *a, size_t i, int64_t *out);
bool mb_gguf_array_u64(const struct mb_gguf_array *a, size_t i, uint64_t *out);
bool mb_gguf_array_f64(const struct mb_gguf_array *a, size_t i, double *out);

/* ------------------------------------------------------------- reader */

struct mb_gguf;

/* One metadata entry. */
struct mb_gguf_kv {
    const char *key; /* NUL-terminated, owned by the struct mb_gguf */
    size_t key_len;
    uint64_t offset; /* file offset where the entry (its key length) starts */
    struct mb_gguf_value value;
};

/* One tensor. dims are in ggml order: dims[0] is the row length (contiguous). */
struct mb_gguf_tensor {
    const char *name;                /* NUL-terminated, owned by the struct mb_gguf */
    uint32_t index;                  /* position in the file's tensor list */
    uint32_t type;                   /* enum mb_dtype */
    uint32_t n_dims;                 /* 1..4 */
    uint64_t dims[MB_GGUF_MAX_DIMS]; /* dims past n_dims are 1 */
    uint64_t n_elements;
    uint64_t nbytes;
    uint64_t offset;      /* relative to the data section, as stored */
    uint64_t file_offset; /* absolute: data section start + offset */
    uint64_t info_offset; /* file offset of its tensor info */
    const void *data;     /* nbytes at file_offset, inside the mapping */
};

/*
 * Map and parse the GGUF file at `path`. On success *out owns the mapping;
 * free with mb_gguf_free(). Errors: MB_E_NOTFOUND / MB_E_IO / MB_E_PERM
 * (cannot open or map), MB_E_FORMAT (not GGUF, malformed: the message names
 * the field and offset), MB_E_UNSUPPORTED (GGUF version other than 2 or 3,
 * big-endian), MB_E_LIMIT (a count or size past our limits), MB_E_NOMEM.
 */
int mb_gguf_open(struct mb_gguf **out, const char *path, struct mb_err *err);

/*
 * Parse n bytes already in memory. Borrows `data`, which must stay valid and
 * unchanged until mb_gguf_free(); `name` (copied) is used in messages.
 * Same errors as mb_gguf_open().
 */
int mb_gguf_open_memory(struct mb_gguf **out, const void *data, size_t n, const char *name,
                        struct mb_err *err);

/* Free everything, unmapping the file if mb_gguf_open() mapped it. NULL is fine. */
void mb_gguf_free(struct mb_gguf *g);

const char *mb_gguf_name(const struct mb_gguf *g); /* the path or name given */
uint32_t mb_gguf_version(const struct mb_gguf *g); /* 2 or 3 */
uint64_t mb_gguf_size(const struct mb_gguf *g);    /* bytes in the file */
uint32_t mb_gguf_alignment(const struct mb_gguf *g);
uint64_t mb_gguf_data_offset(const struct mb_gguf *g); /* start of the data section */
const uint8_t *mb_gguf_bytes(const struct mb_gguf *g); /* the whole file */

/* KVs in file order. */
size_t mb_gguf_kv_count(const struct mb_gguf *g);
const struct mb_gguf_kv *mb_gguf_kv_at(const struct mb_gguf *g, size_t i);
/* The entry with this key, or NULL. */
const struct mb_gguf_kv *mb_gguf_find_kv(const struct mb_gguf *g, const char *key);

/*
 * Typed getters. MB_E_NOTFOUND ("model.gguf: no key 'llama.block_count'")
 * when the key is absent, MB_E_FORMAT when it has another type or its value
 * does not fit ("model.gguf: key 'x' at offset 120: expected an unsigned
 * 32-bit integer, found string"). Integer getters accept any integer type
 * whose value fits; get_f32/get_f64 accept either float width and integers.
 * get_str returns a view into the file (not NUL-terminated).
 */
int mb_gguf_get_u32(const struct mb_gguf *g, const char *key, uint32_t *out, struct mb_err *err);
int mb_gguf_get_i32(const struct mb_gguf *g, const char *key, int32_t *out, struct mb_err *err);
int mb_gguf_get_u64(const struct mb_gguf *g, const char *key, uint64_t *out, struct mb_err *err);
int mb_gguf_get_i64(const struct mb_gguf *g, const char *key, int64_t *out, struct mb_err *err);
int mb_gguf_get_f32(const struct mb_gguf *g, const char *key, float *out, struct mb_err *err);
int mb_gguf_get_f64(const struct mb_gguf *g, const char *key, double *out, struct mb_err *err);
int mb_gguf_get_bool(const struct mb_gguf *g, const char *key, bool *out, struct mb_err *err);
int mb_gguf_get_str(const struct mb_gguf *g, const char *key, struct mb_str *out,
                    struct mb_err *err);
/*
 * An array whose elements have type `elem_type`, or any element type when
 * elem_type is MB_GGUF_TYPE_COUNT. The array is a view owned by g.
 */
int mb_gguf_get_array(const struct mb_gguf *g, const char *key, uint32_t elem_type,
                      const struct mb_gguf_array **out, struct mb_err *err);

/* Tensors in file order. */
size_t mb_gguf_tensor_count(const struct mb_gguf *g);
const struct mb_gguf_tensor *mb_gguf_tensor_at(const struct mb_gguf *g, size_t i);
/* The tensor with this name, or NULL. */
const struct mb_gguf_tensor *mb_gguf_find_tensor(const struct mb_gguf *g, const char *name);
/* Like find, but MB_E_NOTFOUND with "model.gguf: no tensor 'name'" when absent. */
int mb_gguf_get_tensor(const struct mb_gguf *g, const char *name, const struct mb_gguf_tensor **out,
                       struct mb_err *err);

/* ------------------------------------------------------------- writer */

struct mb_gguf_writer;

/*
 * Produces bytes [offset, offset + n) of a tensor's data into buf (the writer
 * asks in order, in chunks of at most a few MiB). Return 0 or an MB_E_* code
 * with err filled.
 */
typedef int (*mb_gguf_fill_fn)(void *ud, uint64_t offset, void *buf, size_t n, struct mb_err *err);

/* A new, empty writer; free with mb_gguf_writer_free(). */
int mb_gguf_writer_new(struct mb_gguf_writer **out, struct mb_err *err);
void mb_gguf_writer_free(struct mb_gguf_writer *w);

/*
 * Setters copy key and value. Setting a key that is already set replaces its
 * value and keeps its position (as gguf-py does). Keys must be 1..65535 bytes
 * without NUL (MB_E_USAGE otherwise). "general.alignment" must be a UINT32
 * power of two; it sets the alignment of the data the writer lays out.
 */
int mb_gguf_writer_set_u8(struct mb_gguf_writer *w, const char *key, uint8_t v, struct mb_err *err);
int mb_gguf_writer_set_i8(struct mb_gguf_writer *w, const char *key, int8_t v, struct mb_err *err);
int mb_gguf_writer_set_u16(struct mb_gguf_writer *w, const char *key, uint16_t v,
                           struct mb_err *err);
int mb_gguf_writer_set_i16(struct mb_gguf_writer *w, const char *key, int16_t v,
                           struct mb_err *err);
int mb_gguf_writer_set_u32(struct mb_gguf_writer *w, const char *key, uint32_t v,
                           struct mb_err *err);
int mb_gguf_writer_set_i32(struct mb_gguf_writer *w, const char *key, int32_t v,
                           struct mb_err *err);
int mb_gguf_writer_set_u64(struct mb_gguf_writer *w, const char *key, uint64_t v,
                           struct mb_err *err);
int mb_gguf_writer_set_i64(struct mb_gguf_writer *w, const char *key, int64_t v,
                           struct mb_err *err);
int mb_gguf_writer_set_f32(struct mb_gguf_writer *w, const char *key, float v, struct mb_err *err);
int mb_gguf_writer_set_f64(struct mb_gguf_writer *w, const char *key, double v, struct mb_err *err);
int mb_gguf_writer_set_bool(struct mb_gguf_writer *w, const char *key, bool v, struct mb_err *err);
/* A string of n bytes (may contain any bytes). */
int mb_gguf_writer_set_str(struct mb_gguf_writer *w, const char *key, const char *s, size_t n,
                           struct mb_err *err);
int mb_gguf_writer_set_string(struct mb_gguf_writer *w, const char *key, const char *s,
                              struct mb_err *err);
/*
 * An array of n fixed-size elements of elem_type (not STRING or ARRAY), in
 * host (little-endian) layout at `elems`; BOOL elements must be 0 or 1.
 */
int mb_gguf_writer_set_array(struct mb_gguf_writer *w, const char *key, uint32_t elem_type,
                             const void *elems, size_t n, struct mb_err *err);
/* An array of n NUL-terminated strings. */
int mb_gguf_writer_set_str_array(struct mb_gguf_writer *w, const char *key, const char *const *strs,
                                 size_t n, struct mb_err *err);
/*
 * A value of any type given in its encoded form (what follows the type field
 * in a file, e.g. a nested array). It is parsed and must be exactly `n`
 * valid bytes (MB_E_FORMAT otherwise).
 */
int mb_gguf_writer_set_raw(struct mb_gguf_writer *w, const char *key, uint32_t type,
                           const void *raw, size_t n, struct mb_err *err);
/* Copy one KV of a reader (any type, nested arrays included), verbatim. */
int mb_gguf_writer_copy_kv(struct mb_gguf_writer *w, const struct mb_gguf_kv *kv,
                           struct mb_err *err);
/* Copy every KV of g whose key starts with `prefix` (NULL or "" = all), in file order. */
int mb_gguf_writer_copy_kvs(struct mb_gguf_writer *w, const struct mb_gguf *g, const char *prefix,
                            struct mb_err *err);
/* Remove a key; false if it was not set. */
bool mb_gguf_writer_remove(struct mb_gguf_writer *w, const char *key);
size_t mb_gguf_writer_kv_count(const struct mb_gguf_writer *w);

/*
 * Add a tensor whose nbytes bytes of data are at `data`, borrowed until the
 * write is done (for example a view into another file's mapping). nbytes must
 * be the size the type and dims give. Errors: MB_E_USAGE for a bad name
 * (empty, > 64 bytes, NUL), n_dims outside 1..4, a zero dim, an unknown type,
 * a row length that is not a whole number of blocks, a size mismatch;
 * MB_E_EXISTS for a name added twice; MB_E_LIMIT for sizes that overflow.
 */
int mb_gguf_writer_add_tensor(struct mb_gguf_writer *w, const char *name, uint32_t type,
                              uint32_t n_dims, const uint64_t *dims, const void *data,
                              uint64_t nbytes, struct mb_err *err);
/* Same, with the bytes produced at write time by fill(ud, ...). */
int mb_gguf_writer_add_tensor_fn(struct mb_gguf_writer *w, const char *name, uint32_t type,
                                 uint32_t n_dims, const uint64_t *dims, mb_gguf_fill_fn fill,
                                 void *ud, struct mb_err *err);
/* Add a reader's tensor (name, type, dims, and its data borrowed from the reader's map). */
int mb_gguf_writer_copy_tensor(struct mb_gguf_writer *w, const struct mb_gguf_tensor *t,
                               struct mb_err *err);
size_t mb_gguf_writer_tensor_count(const struct mb_gguf_writer *w);

/*
 * Write the file atomically: "<path>.tmp.<pid>" is written, fsynced and
 * renamed over `path` (mode 0644), then the directory is fsynced. Tensor data
 * is streamed in chunks, reporting bytes through `progress` (may be NULL);
 * Ctrl-C (mb_interrupted) stops with MB_E_INTERRUPTED. On any error `path` is
 * untouched and the temp file removed. The writer may be written again.
 */
int mb_gguf_writer_write(struct mb_gguf_writer *w, const char *path,
                         const struct mb_progress *progress, struct mb_err *err);
/* Append the same bytes to a buffer instead (tests, fuzz seeds); out's cap applies. */
int mb_gguf_writer_write_buf(struct mb_gguf_writer *w, struct mb_buf *out, struct mb_err *err);

#ifdef __cplusplus
}
#endif

#endif /* MB_GGUF_H */
