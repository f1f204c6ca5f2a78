/*
 * mb_common.h - the one public header of common/: errors, memory, string views,
 * capped growable buffers, checked arithmetic, files (atomic write, mmap, dirs),
 * SHA-256 and hex, arenas, time, and the progress callback that long library
 * operations report through. Everything above common/ includes this header.
 *
 * Conventions used by every module (see ../shared/STYLE.md):
 *  - A fallible function returns int: 0 on success or a negative MB_E_* code,
 *    and fills a caller-owned struct mb_err via mb_fail(). `err` may be NULL.
 *  - Library code never prints or exits. Only cli/ talks to the terminal.
 *  - Lifecycle verbs: _init (set up, no allocation of the struct), _release
 *    (free contents), _clear (release + init), _free (contents and struct).
 */
#ifndef MB_COMMON_H
#define MB_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The header is also included from CUDA (C++) translation units. */
#ifdef __cplusplus
#define MB_ALIGNAS(n) alignas(n)
#define MB_NORETURN   [[noreturn]]
extern "C" {
#else
#define MB_ALIGNAS(n) _Alignas(n)
#define MB_NORETURN   _Noreturn
#endif

/* ------------------------------------------------------------------ errors */

/*
 * Error codes, one X-macro table: X(NAME, value, exit_code, description).
 * Codes are never renumbered; new ones go at the end. The exit code column is
 * the process exit status cli/cli.c uses (documented in docs/cli.md).
 */
#define MB_ERROR_TABLE(X)                                       \
    X(OK, 0, 0, "success")                                      \
    X(NOMEM, -1, 10, "out of memory")                           \
    X(IO, -2, 9, "input/output error")                          \
    X(FORMAT, -3, 3, "invalid input format")                    \
    X(USAGE, -4, 2, "invalid command-line usage")               \
    X(NOTFOUND, -5, 4, "not found")                             \
    X(EXISTS, -6, 1, "already exists")                          \
    X(CONFLICT, -7, 7, "no solution satisfies the constraints") \
    X(SIGNATURE, -8, 5, "signature or trust check failed")      \
    X(INTEGRITY, -9, 5, "checksum or size mismatch")            \
    X(NETWORK, -10, 6, "network error")                         \
    X(CUDA, -11, 10, "CUDA error")                              \
    X(UNSUPPORTED, -12, 10, "unsupported")                      \
    X(LOCKED, -13, 8, "the store is locked by another process") \
    X(NOSPACE, -14, 9, "no space left on device")               \
    X(PERM, -15, 9, "permission denied")                        \
    X(LIMIT, -16, 3, "a size or count limit was exceeded")      \
    X(INTERRUPTED, -17, 130, "interrupted")                     \
    X(INTERNAL, -18, 10, "internal error")                      \
    X(FALSE, -19, 1, "the answer is no")                        \
    X(STATE, -20, 1, "invalid state")

enum mb_error_code {
#define MB_X_ENUM(name, val, exitc, desc) MB_E_##name = (val),
    MB_ERROR_TABLE(MB_X_ENUM)
#undef MB_X_ENUM
};

#define MB_ERR_MSG_MAX 512

/* The caller-owned error: a code and a one-line human message. */
struct mb_err {
    int code;
    char msg[MB_ERR_MSG_MAX];
};

/* Reset to "no error". */
void mb_err_init(struct mb_err *err);

/*
 * Record an error and return `code`, so call sites read
 *     return mb_fail(err, MB_E_FORMAT, "%s: tensor '%s' ends past the file", path, name);
 * Message style (git's): lower case, no trailing period, name the file, field,
 * offset or URL. `err` may be NULL. Returns `code` unchanged.
 */
int mb_fail(struct mb_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int mb_failv(struct mb_err *err, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Like mb_fail with ": strerror(errnum)" appended and the code mapped from errno. */
int mb_fail_errno(struct mb_err *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Map an errno value to an MB_E_* code (ENOSPC -> NOSPACE, ENOENT -> NOTFOUND, ...). */
int mb_errno_code(int errnum);

/*
 * Prepend context to an existing message: "CONTEXT: old message". Returns
 * err->code (or MB_E_INTERNAL when err is NULL) so it can be returned directly.
 */
int mb_err_prefix(struct mb_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Symbolic name ("FORMAT"), description and process exit status of a code. */
const char *mb_err_name(int code);
const char *mb_err_desc(int code);
int mb_err_exit_status(int code);

/* Programmer error: print and abort. Never for bad input. */
#define MB_BUG(...) mb_bug(__FILE__, __LINE__, __VA_ARGS__)
MB_NORETURN void mb_bug(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------ memory */

/*
 * All allocation goes through these. With MB_DEBUG_ALLOC, the environment
 * variable MB_ALLOC_FAIL_AT=N makes the Nth allocation fail (curl's torture
 * tests) so error paths are walked by tests. mb_free(NULL) is a no-op.
 */
void *mb_malloc(size_t n);
void *mb_calloc(size_t count, size_t size);
void *mb_realloc(void *p, size_t n);
void *mb_reallocarray(void *p, size_t count, size_t size);
char *mb_strdup(const char *s);
char *mb_strndup(const char *s, size_t n);
void mb_free(void *p);
#ifdef MB_DEBUG_ALLOC
/*
 * Debug builds: restart the count and make the nth allocation from now fail
 * (0 = none), for torture loops inside one test process. Not thread-safe
 * against concurrent allocations.
 */
void mb_alloc_fail_at(long n);
#endif

/* Checked arithmetic: return false (and leave *out unspecified) on overflow. */
static inline bool mb_mul_ok(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool mb_add_ok(size_t a, size_t b, size_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}
static inline bool mb_mul_u64_ok(uint64_t a, uint64_t b, uint64_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool mb_add_u64_ok(uint64_t a, uint64_t b, uint64_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

#define MB_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MB_MIN(a, b)    ((a) < (b) ? (a) : (b))
#define MB_MAX(a, b)    ((a) > (b) ? (a) : (b))

/* -------------------------------------------------------- string views */

/* A non-owning view of bytes (not NUL-terminated). */
struct mb_str {
    const char *p;
    size_t n;
};

#define MB_STR_LIT(s) ((struct mb_str){ (s), sizeof(s) - 1 })
struct mb_str mb_str_from(const char *cstr);
bool mb_str_eq(struct mb_str a, struct mb_str b);
bool mb_str_eq_cstr(struct mb_str a, const char *cstr);
bool mb_str_starts_with(struct mb_str s, const char *prefix);

/* Safe bounded copy: always NUL-terminates when cap > 0; returns false if truncated. */
bool mb_strlcpy(char *dst, const char *src, size_t cap);
/* snprintf that reports truncation as false instead of a count. */
bool mb_snprintf(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Parse a whole string as an integer; false on junk, sign errors or overflow. */
bool mb_parse_u64(const char *s, uint64_t *out);
bool mb_parse_i64(const char *s, int64_t *out);
bool mb_parse_double(const char *s, double *out);
/* "512", "64K", "1.5G", "2GiB", "100MB" -> bytes (binary multiples). */
bool mb_parse_size(const char *s, uint64_t *out);
/* "30s", "15m", "7d", "2h" -> seconds. */
bool mb_parse_duration(const char *s, uint64_t *out_seconds);
/* Human-readable size ("1.5 GiB") into buf. */
const char *mb_format_size(uint64_t bytes, char *buf, size_t cap);

/* Levenshtein distance (for "did you mean"); capped at 255. */
unsigned mb_edit_distance(const char *a, const char *b);

/* ------------------------------------------------- capped growable buffer */

/*
 * A growable byte buffer with a mandatory size cap (curl's dynbuf): hostile
 * input cannot make it grow without bound. p is always NUL-terminated when
 * non-NULL (the terminator is not counted in n).
 */
struct mb_buf {
    char *p;
    size_t n;
    size_t cap;
    size_t max;
};

void mb_buf_init(struct mb_buf *b, size_t max);
void mb_buf_release(struct mb_buf *b);
void mb_buf_reset(struct mb_buf *b); /* n = 0, keep memory */
int mb_buf_reserve(struct mb_buf *b, size_t extra, struct mb_err *err);
int mb_buf_append(struct mb_buf *b, const void *data, size_t n, struct mb_err *err);
int mb_buf_append_cstr(struct mb_buf *b, const char *s, struct mb_err *err);
int mb_buf_appendf(struct mb_buf *b, struct mb_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Hand the bytes to the caller (caller frees with mb_free); b is re-initialised. */
char *mb_buf_detach(struct mb_buf *b, size_t *n_out);

/* ------------------------------------------------------------------ arena */

/*
 * A bump allocator for per-run scratch (a resolution, a forward pass): many
 * allocations, one release. Memory is zeroed. Allocation fails (NULL) past `max`.
 */
struct mb_arena_block;
struct mb_arena {
    struct mb_arena_block *head;
    size_t used_total;
    size_t max;
};
void mb_arena_init(struct mb_arena *a, size_t max);
void *mb_arena_alloc(struct mb_arena *a, size_t n, size_t align);
char *mb_arena_strndup(struct mb_arena *a, const char *s, size_t n);
void mb_arena_release(struct mb_arena *a);

/* ------------------------------------------------------------------ files */

/* Read a whole file (at most `max` bytes, else MB_E_LIMIT) into buf. */
int mb_file_read_all(const char *path, size_t max, struct mb_buf *out, struct mb_err *err);

/*
 * Atomically replace `path` with `data`: write "path.tmp.<pid>" with O_EXCL,
 * fsync it, rename over `path`, fsync the directory. On failure the old file
 * is untouched and the temp file removed.
 */
int mb_file_write_atomic(const char *path, const void *data, size_t n, unsigned mode,
                         struct mb_err *err);

/*
 * The two halves of an atomic write for writers that stream: create
 * "<path>.tmp.<pid>" (its name in `tmp`, the open descriptor in *fd), then
 * commit: given the writer's status `rc`, fsync, close, rename over `path` and
 * fsync the directory — or, when anything failed, close and remove the temp
 * file and return the first error. The descriptor is always closed.
 */
int mb_file_create_tmp(const char *path, unsigned mode, char *tmp, size_t tmp_size, int *fd,
                       struct mb_err *err);
int mb_file_commit_tmp(int fd, const char *tmp, const char *path, int rc, struct mb_err *err);

/* fsync a directory (makes a rename in it durable). */
int mb_fsync_dir(const char *dir, struct mb_err *err);
/* mkdir -p with `mode`; existing directories are fine. */
int mb_mkdir_p(const char *path, unsigned mode, struct mb_err *err);
/* rm -rf; a missing path is fine. Never follows symlinks. */
int mb_rm_rf(const char *path, struct mb_err *err);
bool mb_path_exists(const char *path);
bool mb_is_dir(const char *path);
/* Join two path components into a newly allocated string (caller frees with mb_free). */
char *mb_path_join(const char *a, const char *b);
/* The final component of a path (a view into `path`). */
const char *mb_path_basename(const char *path);

/*
 * The local store's root directory (DESIGN.md §5): `override` when non-empty
 * (--home), else $MODULARBASE_HOME, else ${XDG_DATA_HOME:-$HOME/.local/share}/
 * modularbase. The directory need not exist. *out is newly allocated (caller
 * frees with mb_free). MB_E_NOTFOUND when no candidate can be derived.
 */
int mb_home_resolve(const char *override, char **out, struct mb_err *err);

/* A read-only memory map of a whole file. */
struct mb_map {
    const uint8_t *p;
    size_t n;
};
int mb_map_file(const char *path, struct mb_map *map, struct mb_err *err);
void mb_unmap(struct mb_map *map);

/* ------------------------------------------------------------------ hashing */

#define MB_SHA256_LEN 32
#define MB_SHA256_HEX 65 /* 64 hex digits + NUL */

/* Streaming SHA-256 state (SHA-NI accelerated where the CPU has it). */
struct mb_sha256 {
    uint32_t st[8];
    uint64_t len;
    uint8_t buf[64];
    size_t nbuf;
    void (*blocks)(uint32_t *st, const uint8_t *p, size_t nblocks);
};
/* "sha-ni" or "portable": which compression function this process uses. */
const char *mb_sha256_impl(void);
/* Force "portable" or "sha-ni" for later inits (tests, benchmarks); false if unavailable. */
bool mb_sha256_select(const char *impl);
void mb_sha256_init(struct mb_sha256 *h);
void mb_sha256_update(struct mb_sha256 *h, const void *data, size_t n);
void mb_sha256_final(struct mb_sha256 *h, uint8_t out[MB_SHA256_LEN]);
void mb_sha256(const void *data, size_t n, uint8_t out[MB_SHA256_LEN]);
/* Hash a file by streaming reads; size_out may be NULL. */
int mb_sha256_file(const char *path, uint8_t out[MB_SHA256_LEN], uint64_t *size_out,
                   struct mb_err *err);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void mb_hex_encode(const uint8_t *in, size_t n, char *out);
/* Exactly 2n hex digits into n bytes; false on bad input. */
bool mb_hex_decode(const char *in, uint8_t *out, size_t n);

/* ------------------------------------------------------------------ time */

uint64_t mb_now_ns(void);   /* monotonic */
int64_t mb_unix_time(void); /* wall clock, seconds */
/* RFC 3339 UTC ("2026-11-23T07:47:00Z") to/from seconds since the epoch. */
bool mb_time_format_utc(int64_t t, char *buf, size_t cap);
bool mb_time_parse_utc(const char *s, int64_t *out);

/* ------------------------------------------------------------------ progress */

/*
 * Long library operations (download, build, quantize) report progress through
 * this callback; cli/ draws it. `done`/`total` in the operation's unit (bytes
 * unless stated); total 0 = unknown. The callback may be NULL.
 */
struct mb_progress {
    void (*fn)(void *ud, const char *label, uint64_t done, uint64_t total);
    void *ud;
};
static inline void mb_progress_report(const struct mb_progress *p, const char *label, uint64_t done,
                                      uint64_t total)
{
    if (p && p->fn)
        p->fn(p->ud, label, done, total);
}

/* ------------------------------------------------------- cancellation */

/* Set by the CLI's SIGINT handler; long loops poll it and return MB_E_INTERRUPTED. */
extern volatile int mb_interrupted;

#ifdef __cplusplus
}
#endif

#endif /* MB_COMMON_H */
