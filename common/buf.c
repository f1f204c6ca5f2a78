/*
 * buf.c - capped growable byte buffers (curl's dynbuf) and the arena
 * allocator used for per-run scratch.
 */
#include "mb_common.h"

void mb_buf_init(struct mb_buf *b, size_t max)
{
    b->p = NULL;
    b->n = 0;
    b->cap = 0;
    b->max = max;
}

void mb_buf_release(struct mb_buf *b)
{
    mb_free(b->p);
    mb_buf_init(b, b->max);
}

void mb_buf_reset(struct mb_buf *b)
{
    b->n = 0;
    if (b->p)
        b->p[0] = '\0';
}

int mb_buf_reserve(struct mb_buf *b, size_t extra, struct mb_err *err)
{
    size_t need;
    if (!mb_add_ok(b->n, extra, &need) || need > b->max)
        return mb_fail(err, MB_E_LIMIT, "buffer would exceed its limit of %zu bytes", b->max);
    if (need + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need + 1)
        cap = cap > SIZE_MAX / 2 ? need + 1 : cap * 2;
    char *p = mb_realloc(b->p, cap);
    if (!p)
        return mb_fail(err, MB_E_NOMEM, "out of memory growing a buffer to %zu bytes", cap);
    b->p = p;
    b->cap = cap;
    return 0;
}

int mb_buf_append(struct mb_buf *b, const void *data, size_t n, struct mb_err *err)
{
    int rc = mb_buf_reserve(b, n, err);
    if (rc)
        return rc;
    if (n)
        memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

int mb_buf_append_cstr(struct mb_buf *b, const char *s, struct mb_err *err)
{
    return mb_buf_append(b, s, strlen(s), err);
}

int mb_buf_appendf(struct mb_buf *b, struct mb_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0)
        return mb_fail(err, MB_E_INTERNAL, "bad format string");
    int rc = mb_buf_reserve(b, (size_t)len, err);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)len + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)len;
    return 0;
}

char *mb_buf_detach(struct mb_buf *b, size_t *n_out)
{
    char *p = b->p;
    if (n_out)
        *n_out = b->n;
    if (!p)
        p = mb_calloc(1, 1);
    mb_buf_init(b, b->max);
    return p;
}

/* ------------------------------------------------------------------ arena */

struct mb_arena_block {
    struct mb_arena_block *next;
    size_t size;
    size_t used;
    _Alignas(16) unsigned char data[];
};

void mb_arena_init(struct mb_arena *a, size_t max)
{
    a->head = NULL;
    a->used_total = 0;
    a->max = max;
}

void *mb_arena_alloc(struct mb_arena *a, size_t n, size_t align)
{
    if (align == 0 || (align & (align - 1)) || align > 16)
        align = 16;
    struct mb_arena_block *b = a->head;
    if (b) {
        size_t off = (b->used + align - 1) & ~(align - 1);
        if (off <= b->size && n <= b->size - off) {
            b->used = off + n;
            return b->data + off;
        }
    }
    size_t size = n > 65536 ? n : 65536, total;
    if (!mb_add_ok(a->used_total, size, &total) || total > a->max)
        return NULL;
    b = mb_calloc(1, sizeof(*b) + size);
    if (!b)
        return NULL;
    b->size = size;
    b->used = n;
    b->next = a->head;
    a->head = b;
    a->used_total = total;
    return b->data;
}

char *mb_arena_strndup(struct mb_arena *a, const char *s, size_t n)
{
    char *p = mb_arena_alloc(a, n + 1, 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void mb_arena_release(struct mb_arena *a)
{
    struct mb_arena_block *b = a->head;
    while (b) {
        struct mb_arena_block *next = b->next;
        mb_free(b);
        b = next;
    }
    mb_arena_init(a, a->max);
}
