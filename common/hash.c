/*
 * hash.c - SHA-256 (libsodium's implementation behind our own small API, or
 * the SHA-NI one of sha256_ni.c when the CPU has the extensions; chosen once)
 * and hex encoding. Every integrity check in the project goes through here.
 */
#include "mb_common.h"
#include "sha256_ni.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

_Static_assert(sizeof(crypto_hash_sha256_state) <= sizeof(((struct mb_sha256 *)0)->state),
               "mb_sha256 state too small for libsodium");

_Static_assert(sizeof(struct mb_sha256_ni) <= sizeof(((struct mb_sha256 *)0)->state),
               "mb_sha256 state too small for the SHA-NI state");

/*
 * Which implementation this process uses, decided on first use and never
 * changed (a state started by one is finished by the same one). A race on
 * the first call only computes the same answer twice. MB_SHA256_PORTABLE=1
 * forces libsodium's code (for comparisons).
 */
static int use_ni = -1;

static bool ni(void)
{
    if (use_ni < 0) {
        const char *force = getenv("MB_SHA256_PORTABLE");
        use_ni = !(force && *force && strcmp(force, "0")) && mb_sha256_ni_available();
    }
    return use_ni;
}

void mb_sha256_init(struct mb_sha256 *h)
{
    if (ni())
        mb_sha256_ni_init((struct mb_sha256_ni *)(void *)h->state);
    else
        crypto_hash_sha256_init((crypto_hash_sha256_state *)(void *)h->state);
}

void mb_sha256_update(struct mb_sha256 *h, const void *data, size_t n)
{
    if (ni())
        mb_sha256_ni_update((struct mb_sha256_ni *)(void *)h->state, data, n);
    else
        crypto_hash_sha256_update((crypto_hash_sha256_state *)(void *)h->state, data, n);
}

void mb_sha256_final(struct mb_sha256 *h, uint8_t out[MB_SHA256_LEN])
{
    if (ni())
        mb_sha256_ni_final((struct mb_sha256_ni *)(void *)h->state, out);
    else
        crypto_hash_sha256_final((crypto_hash_sha256_state *)(void *)h->state, out);
}

void mb_sha256(const void *data, size_t n, uint8_t out[MB_SHA256_LEN])
{
    if (!ni()) {
        crypto_hash_sha256(out, data, n);
        return;
    }
    struct mb_sha256 h;
    mb_sha256_init(&h);
    mb_sha256_update(&h, data, n);
    mb_sha256_final(&h, out);
}

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
