/*
 * hash.c - file hashing and hex encoding on top of the SHA-256 in sha256.c.
 */
#include "mb_common.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

int mb_sha256_file(const char *path, uint8_t out[MB_SHA256_LEN], uint64_t *size_out,
                   struct mb_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mb_fail_errno(err, errno, "cannot open '%s'", path);
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = mb_malloc(CHUNK);
    if (!buf) {
        close(fd);
        return mb_fail(err, MB_E_NOMEM, "out of memory hashing '%s'", path);
    }
    struct mb_sha256 h;
    mb_sha256_init(&h);
    uint64_t total = 0;
    int rc = 0;
    for (;;) {
        ssize_t r = read(fd, buf, CHUNK);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = mb_fail_errno(err, errno, "cannot read '%s'", path);
            break;
        }
        if (r == 0)
            break;
        mb_sha256_update(&h, buf, (size_t)r);
        total += (uint64_t)r;
    }
    mb_free(buf);
    close(fd);
    if (rc)
        return rc;
    mb_sha256_final(&h, out);
    if (size_out)
        *size_out = total;
    return 0;
}

void mb_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Value of one hex digit, or -1. */
static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool mb_hex_decode(const char *in, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(in[2 * i]);
        if (hi < 0)
            return false;
        int lo = hexval(in[2 * i + 1]);
        if (lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return in[2 * n] == '\0';
}
