/*
 * err.c - the error idiom shared by every module: mb_fail() fills a caller-owned
 * struct mb_err and returns the code; the X-macro table in mb_common.h maps
 * codes to names, descriptions and process exit statuses.
 */
#include "mb_common.h"

#include <errno.h>

volatile int mb_interrupted;

void mb_err_init(struct mb_err *err)
{
    if (!err)
        return;
    err->code = MB_E_OK;
    err->msg[0] = '\0';
}

int mb_failv(struct mb_err *err, int code, const char *fmt, va_list ap)
{
    if (err) {
        err->code = code;
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    }
    return code;
}

int mb_fail(struct mb_err *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mb_failv(err, code, fmt, ap);
    va_end(ap);
    return code;
}

int mb_errno_code(int errnum)
{
    switch (errnum) {
    case ENOMEM:
        return MB_E_NOMEM;
    case ENOENT:
    case ENOTDIR:
        return MB_E_NOTFOUND;
    case EEXIST:
    case ENOTEMPTY:
        return MB_E_EXISTS;
    case ENOSPC:
    case EDQUOT:
        return MB_E_NOSPACE;
    case EACCES:
    case EPERM:
    case EROFS:
        return MB_E_PERM;
    case EINTR:
        return MB_E_INTERRUPTED;
    case EWOULDBLOCK:
        return MB_E_LOCKED;
    default:
        return MB_E_IO;
    }
}

int mb_fail_errno(struct mb_err *err, int errnum, const char *fmt, ...)
{
    int code = mb_errno_code(errnum);
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        mb_failv(err, code, fmt, ap);
        va_end(ap);
        size_t len = strlen(err->msg);
        char ebuf[128];
        const char *es = strerror_r(errnum, ebuf, sizeof(ebuf));
        snprintf(err->msg + len, sizeof(err->msg) - len, ": %s", es);
    }
    return code;
}

int mb_err_prefix(struct mb_err *err, const char *fmt, ...)
{
    if (!err)
        return MB_E_INTERNAL;
    char prefix[MB_ERR_MSG_MAX];
    char old[MB_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    size_t np = strlen(prefix), no = strlen(old);
    if (np > sizeof(err->msg) - 3)
        np = sizeof(err->msg) - 3;
    memcpy(err->msg, prefix, np);
    memcpy(err->msg + np, ": ", 2);
    if (no > sizeof(err->msg) - np - 3)
        no = sizeof(err->msg) - np - 3;
    memcpy(err->msg + np + 2, old, no);
    err->msg[np + 2 + no] = '\0';
    return err->code ? err->code : MB_E_INTERNAL;
}

const char *mb_err_name(int code)
{
    switch (code) {
#define MB_X_NAME(name, val, exitc, desc) \
    case (val):                           \
        return #name;
        MB_ERROR_TABLE(MB_X_NAME)
#undef MB_X_NAME
    default:
        return "UNKNOWN";
    }
}

const char *mb_err_desc(int code)
{
    switch (code) {
#define MB_X_DESC(name, val, exitc, desc) \
    case (val):                           \
        return desc;
        MB_ERROR_TABLE(MB_X_DESC)
#undef MB_X_DESC
    default:
        return "unknown error";
    }
}

int mb_err_exit_status(int code)
{
    switch (code) {
#define MB_X_EXIT(name, val, exitc, desc) \
    case (val):                           \
        return (exitc);
        MB_ERROR_TABLE(MB_X_EXIT)
#undef MB_X_EXIT
    default:
        return 10;
    }
}

void mb_bug(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "BUG: %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}
