/*
 * gguf_int.h - internals shared by the GGUF reader (gguf_read.c), the value
 * accessors (gguf_value.c) and the writer (gguf_write.c): the parsed file
 * struct, the bounds-checked cursor, and the value parser the writer reuses
 * to validate encoded values it is given. Not for use outside runtime/gguf*.
 */
#ifndef MB_GGUF_INT_H
#define MB_GGUF_INT_H

#include "mb_gguf.h"

/* A name -> index table (open addressing, linear probing); slots hold index + 1. */
struct gguf_index {
    uint32_t *slots;
    size_t cap; /* a power of two, or 0 */
};

struct mb_gguf {
    char *name;        /* for messages (mb_malloc'ed) */
    struct mb_map map; /* set when mb_gguf_open() mapped the file */
    const uint8_t *p;
    size_t n;
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;
    size_t n_kv;
    struct mb_gguf_kv *kvs;
    size_t n_tensors;
    struct mb_gguf_tensor *tensors;
    struct gguf_index kv_index;
    struct gguf_index tensor_index;
    struct mb_arena arena; /* keys, names, arrays of views, indexes */
};

/* The cursor every read goes through: no byte is read before `need` allowed it. */
struct gguf_cursor {
    const uint8_t *p;
    size_t n;         /* bytes in the buffer */
    size_t pos;       /* next byte to read */
    const char *name; /* file name for messages */
    char where[160];  /* context: "kv 3 'general.name'" or "tensor 5 'x'" */
    struct mb_arena *arena;
    struct mb_err *err;
};

/*
 * Fail with "<name>: <where>: <field> at offset <off>: <what>" (the where
 * part left out when empty). Returns `code`.
 */
int mb_gguf_fail_at(const struct gguf_cursor *c, int code, size_t off, const char *field,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * Parse one value of `type` at the cursor (depth = array nesting so far),
 * filling *out with views into the buffer and arrays of views allocated from
 * c->arena. Every length and count is checked against the bytes left first.
 */
int mb_gguf_parse_value(struct gguf_cursor *c, uint32_t type, unsigned depth, const char *field,
                        struct mb_gguf_value *out);

/* Quote a name for a one-line message: printable ASCII kept, the rest \xNN, long names cut. */
void mb_gguf_quote(char *dst, size_t cap, const char *s, size_t n);

#endif /* MB_GGUF_INT_H */
