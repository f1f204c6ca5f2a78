/*
 * sign.c - minisign-compatible keys and signatures on top of libsodium
 * (mb_sign.h, docs/signing.md). Parsing is strict about sizes and algorithm
 * bytes and tolerant of what minisign itself tolerates (\r\n line ends, a bare
 * base64 public key). Secret material only ever sits in sodium_malloc'ed
 * memory and is wiped before it is freed.
 */
#include "mb_sign.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

_Static_assert(sizeof(crypto_generichash_state) <= sizeof(((struct mb_sign_hasher *)0)->state),
               "mb_sign_hasher state too small for libsodium");
_Static_assert(crypto_sign_PUBLICKEYBYTES == MB_SIGN_PK_LEN, "Ed25519 public key size");
_Static_assert(crypto_sign_BYTES == MB_SIGN_SIG_LEN, "Ed25519 signature size");
_Static_assert(crypto_generichash_BYTES_MAX == MB_SIGN_HASH_LEN, "BLAKE2b-512 size");

#define COMMENT_PREFIX   "untrusted comment: "
#define TRUSTED_PREFIX   "trusted comment: "
#define SIG_DEFAULT_NOTE "signature from modularbase secret key"
#define SK_LEN           (crypto_sign_SECRETKEYBYTES)
#define CHK_LEN          (crypto_generichash_BYTES) /* 32: BLAKE2b-256 */
#define SALT_LEN         (crypto_pwhash_scryptsalsa208sha256_SALTBYTES)

/* Byte layout of the binary structures (minisign.h), as offsets. */
enum {
    PUB_BIN_LEN = 2 + MB_SIGN_KEYID_LEN + MB_SIGN_PK_LEN,  /* 42 */
    SIG_BIN_LEN = 2 + MB_SIGN_KEYID_LEN + MB_SIGN_SIG_LEN, /* 74 */
    SEC_OFF_SIG_ALG = 0,
    SEC_OFF_KDF_ALG = 2,
    SEC_OFF_CHK_ALG = 4,
    SEC_OFF_SALT = 6,
    SEC_OFF_OPS = SEC_OFF_SALT + 32,
    SEC_OFF_MEM = SEC_OFF_OPS + 8,
    SEC_OFF_KEYNUM = SEC_OFF_MEM + 8,              /* 54: keyid || sk || chk */
    SEC_KEYNUM_LEN = MB_SIGN_KEYID_LEN + 64 + 32,  /* 104, the encrypted part */
    SEC_BIN_LEN = SEC_OFF_KEYNUM + SEC_KEYNUM_LEN, /* 158 */
};

/* Caps on KDF parameters read from a key file (minisign writes 2^25 and 2^30). */
#define KDF_OPSLIMIT_CAP (UINT64_C(1) << 32)
#define KDF_MEMLIMIT_CAP (UINT64_C(1) << 31)

struct mb_seckey {
    uint8_t keyid[MB_SIGN_KEYID_LEN];
    uint8_t sk[SK_LEN]; /* Ed25519 seed || public key, libsodium's layout */
};

static int sodium_ready(struct mb_err *err)
{
    if (sodium_init() < 0)
        return mb_fail(err, MB_E_INTERNAL, "libsodium failed to initialise");
    return 0;
}

static uint64_t le64_load(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void le64_store(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void mb_sign_keyid_hex(const uint8_t keyid[MB_SIGN_KEYID_LEN], char out[MB_SIGN_KEYID_HEX_LEN])
{
    snprintf(out, MB_SIGN_KEYID_HEX_LEN, "%016llX", (unsigned long long)le64_load(keyid));
}

/*
 * The next line of text[*pos..n): a view without "\n" and one trailing "\r".
 * Returns false at the end of the text.
 */
static bool next_line(const char *text, size_t n, size_t *pos, struct mb_str *line)
{
    if (*pos >= n)
        return false;
    const char *start = text + *pos;
    const char *nl = memchr(start, '\n', n - *pos);
    size_t len = nl ? (size_t)(nl - start) : n - *pos;
    *pos += len + (nl ? 1 : 0);
    if (len > 0 && start[len - 1] == '\r')
        len--;
    line->p = start;
    line->n = len;
    return true;
}

/* Strict base64 (original alphabet, padded) of exactly `want` bytes. */
static bool b64_decode_exact(struct mb_str s, uint8_t *out, size_t want)
{
    size_t got = 0;
    if (s.n == 0 || s.n > 4 * ((want + 2) / 3))
        return false;
    if (sodium_base642bin(out, want, s.p, s.n, NULL, &got, NULL, sodium_base64_VARIANT_ORIGINAL) !=
        0)
        return false;
    return got == want;
}

/* Append base64 of bin plus "\n" to out. */
static int b64_append_line(struct mb_buf *out, const uint8_t *bin, size_t n, struct mb_err *err)
{
    char b64[512];
    size_t need = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    if (need > sizeof(b64))
        return mb_fail(err, MB_E_INTERNAL, "base64 buffer too small");
    sodium_bin2base64(b64, sizeof(b64), bin, n, sodium_base64_VARIANT_ORIGINAL);
    int rc = mb_buf_append_cstr(out, b64, err);
    if (!rc)
        rc = mb_buf_append(out, "\n", 1, err);
    sodium_memzero(b64, sizeof(b64));
    return rc;
}

/* Printable as minisign requires of a trusted comment: tabs and bytes >= 0x20 except DEL. */
static bool is_printable(struct mb_str s)
{
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c != '\t' && (c < 0x20 || c == 0x7f))
            return false;
    }
    return true;
}

void *mb_sign_secure_alloc(size_t n)
{
    if (sodium_init() < 0)
        return NULL;
    return sodium_malloc(n);
}

void mb_sign_secure_free(void *p)
{
    if (p)
        sodium_free(p);
}

void mb_sign_wipe(void *p, size_t n)
{
    if (p && n)
        sodium_memzero(p, n);
}

/* ------------------------------------------------------------ public keys */

int mb_sign_pubkey_parse(const char *text, size_t n, const char *origin, struct mb_pubkey *out,
                         struct mb_err *err)
{
    int rc = sodium_ready(err);
    if (rc)
        return rc;
    size_t pos = 0;
    struct mb_str first = { NULL, 0 }, b64 = { NULL, 0 };
    if (!next_line(text, n, &pos, &first) || first.n == 0)
        return mb_fail(err, MB_E_FORMAT, "%s: empty public key", origin);
    if (mb_str_starts_with(first, "untrusted comment:")) {
        if (first.n >= MB_SIGN_COMMENT_MAX)
            return mb_fail(err, MB_E_FORMAT, "%s: line 1: comment longer than %d bytes", origin,
                           MB_SIGN_COMMENT_MAX - 1);
        if (!next_line(text, n, &pos, &b64) || b64.n == 0)
            return mb_fail(err, MB_E_FORMAT, "%s: line 2: the base64 public key is missing",
                           origin);
    } else {
        b64 = first; /* a bare key, as `minisign -P` takes it */
    }
    uint8_t bin[PUB_BIN_LEN];
    if (!b64_decode_exact(b64, bin, sizeof(bin)))
        return mb_fail(err, MB_E_FORMAT,
                       "%s: not a minisign public key (the key line must be base64 of %d bytes)",
                       origin, PUB_BIN_LEN);
    if (memcmp(bin, "Ed", 2) != 0)
        return mb_fail(err, MB_E_FORMAT,
                       "%s: unsupported public key algorithm 0x%02x%02x (expected \"Ed\")", origin,
                       bin[0], bin[1]);
    memcpy(out->keyid, bin + 2, MB_SIGN_KEYID_LEN);
    memcpy(out->pk, bin + 2 + MB_SIGN_KEYID_LEN, MB_SIGN_PK_LEN);
    return 0;
}

int mb_sign_pubkey_load(const char *path, struct mb_pubkey *out, struct mb_err *err)
{
    struct mb_buf b;
    int rc = mb_file_read_all(path, 4096, &b, err);
    if (rc)
        return rc;
    rc = mb_sign_pubkey_parse(b.p, b.n, path, out, err);
    mb_buf_release(&b);
    return rc;
}

static void pubkey_bin(const struct mb_pubkey *pk, uint8_t bin[PUB_BIN_LEN])
{
    memcpy(bin, "Ed", 2);
    memcpy(bin + 2, pk->keyid, MB_SIGN_KEYID_LEN);
    memcpy(bin + 2 + MB_SIGN_KEYID_LEN, pk->pk, MB_SIGN_PK_LEN);
}

void mb_sign_pubkey_base64(const struct mb_pubkey *pk, char out[MB_SIGN_PUBKEY_B64_LEN])
{
    uint8_t bin[PUB_BIN_LEN];
    pubkey_bin(pk, bin);
    sodium_bin2base64(out, MB_SIGN_PUBKEY_B64_LEN, bin, sizeof(bin),
                      sodium_base64_VARIANT_ORIGINAL);
}

int mb_sign_pubkey_format(const struct mb_pubkey *pk, struct mb_buf *out, struct mb_err *err)
{
    char id[MB_SIGN_KEYID_HEX_LEN];
    mb_sign_keyid_hex(pk->keyid, id);
    int rc = mb_buf_appendf(out, err, COMMENT_PREFIX "minisign public key %s\n", id);
    if (rc)
        return rc;
    uint8_t bin[PUB_BIN_LEN];
    pubkey_bin(pk, bin);
    return b64_append_line(out, bin, sizeof(bin), err);
}

/* ------------------------------------------------------------ secret keys */

static struct mb_seckey *seckey_alloc(void)
{
    struct mb_seckey *sk = sodium_malloc(sizeof(*sk));
    if (sk)
        sodium_memzero(sk, sizeof(*sk));
    return sk;
}

void mb_sign_seckey_free(struct mb_seckey *sk)
{
    if (sk)
        sodium_free(sk); /* sodium_free wipes the memory first */
}

int mb_sign_seckey_generate(struct mb_seckey **out, struct mb_err *err)
{
    *out = NULL;
    int rc = sodium_ready(err);
    if (rc)
        return rc;
    struct mb_seckey *sk = seckey_alloc();
    if (!sk)
        return mb_fail(err, MB_E_NOMEM, "out of secure memory for a secret key");
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    randombytes_buf(sk->keyid, sizeof(sk->keyid));
    crypto_sign_keypair(pk, sk->sk);
    *out = sk;
    return 0;
}

void mb_sign_seckey_public(const struct mb_seckey *sk, struct mb_pubkey *out)
{
    memcpy(out->keyid, sk->keyid, MB_SIGN_KEYID_LEN);
    /* libsodium's secret key is seed || public key. */
    memcpy(out->pk, sk->sk + SK_LEN - MB_SIGN_PK_LEN, MB_SIGN_PK_LEN);
}

/* minisign's checksum: BLAKE2b-256(sig_alg || keyid || sk). */
static void seckey_chk(const uint8_t *keynum, uint8_t chk[CHK_LEN])
{
    crypto_generichash_state hs;
    crypto_generichash_init(&hs, NULL, 0, CHK_LEN);
    crypto_generichash_update(&hs, (const unsigned char *)"Ed", 2);
    crypto_generichash_update(&hs, keynum, MB_SIGN_KEYID_LEN + SK_LEN);
    crypto_generichash_final(&hs, chk, CHK_LEN);
    sodium_memzero(&hs, sizeof(hs));
}

/* XOR the 104-byte keynum part with scrypt(password, salt, limits). */
static int kdf_xor(uint8_t *bin, const char *password, struct mb_err *err, const char *origin)
{
    uint64_t ops = le64_load(bin + SEC_OFF_OPS), mem = le64_load(bin + SEC_OFF_MEM);
    if (ops > KDF_OPSLIMIT_CAP || mem > KDF_MEMLIMIT_CAP)
        return mb_fail(err, MB_E_FORMAT,
                       "%s: key derivation limits too large (opslimit %llu, memlimit %llu)", origin,
                       (unsigned long long)ops, (unsigned long long)mem);
    unsigned char *stream = sodium_malloc(SEC_KEYNUM_LEN);
    if (!stream)
        return mb_fail(err, MB_E_NOMEM, "out of secure memory");
    int rc = 0;
    if (crypto_pwhash_scryptsalsa208sha256(stream, SEC_KEYNUM_LEN, password, strlen(password),
                                           bin + SEC_OFF_SALT, (unsigned long long)ops,
                                           (size_t)mem) != 0)
        rc = mb_fail(err, MB_E_NOMEM,
                     "%s: key derivation failed (scrypt needs %llu bytes of memory)", origin,
                     (unsigned long long)mem);
    else
        for (size_t i = 0; i < SEC_KEYNUM_LEN; i++)
            bin[SEC_OFF_KEYNUM + i] ^= stream[i];
    sodium_free(stream);
    return rc;
}

/* Decode the base64 secret key line into bin (secure memory) and check algorithms. */
static int seckey_decode(const char *text, size_t n, const char *origin, uint8_t *bin,
                         bool *encrypted, struct mb_err *err)
{
    size_t pos = 0;
    struct mb_str comment, b64;
    if (!next_line(text, n, &pos, &comment) || !mb_str_starts_with(comment, "untrusted comment:"))
        return mb_fail(err, MB_E_FORMAT,
                       "%s: line 1: not a minisign secret key (no 'untrusted comment:' line)",
                       origin);
    if (!next_line(text, n, &pos, &b64) || b64.n == 0)
        return mb_fail(err, MB_E_FORMAT, "%s: line 2: the base64 secret key is missing", origin);
    if (!b64_decode_exact(b64, bin, SEC_BIN_LEN))
        return mb_fail(err, MB_E_FORMAT,
                       "%s: line 2: not a minisign secret key (must be base64 of %d bytes)", origin,
                       SEC_BIN_LEN);
    if (memcmp(bin + SEC_OFF_SIG_ALG, "Ed", 2) != 0)
        return mb_fail(err, MB_E_FORMAT, "%s: unsupported signature algorithm 0x%02x%02x", origin,
                       bin[0], bin[1]);
    if (memcmp(bin + SEC_OFF_CHK_ALG, "B2", 2) != 0)
        return mb_fail(err, MB_E_FORMAT, "%s: unsupported checksum algorithm 0x%02x%02x", origin,
                       bin[SEC_OFF_CHK_ALG], bin[SEC_OFF_CHK_ALG + 1]);
    if (!memcmp(bin + SEC_OFF_KDF_ALG, "Sc", 2))
        *encrypted = true;
    else if (!memcmp(bin + SEC_OFF_KDF_ALG, "\0\0", 2))
        *encrypted = false;
    else
        return mb_fail(err, MB_E_FORMAT, "%s: unsupported key derivation function 0x%02x%02x",
                       origin, bin[SEC_OFF_KDF_ALG], bin[SEC_OFF_KDF_ALG + 1]);
    return 0;
}

int mb_sign_seckey_parse(const char *text, size_t n, const char *origin, const char *password,
                         struct mb_seckey **out, struct mb_err *err)
{
    *out = NULL;
    int rc = sodium_ready(err);
    if (rc)
        return rc;
    uint8_t *bin = sodium_malloc(SEC_BIN_LEN);
    if (!bin)
        return mb_fail(err, MB_E_NOMEM, "out of secure memory");
    bool encrypted = false;
    rc = seckey_decode(text, n, origin, bin, &encrypted, err);
    if (!rc && encrypted && !password)
        rc = mb_fail(err, MB_E_STATE, "%s: the secret key is encrypted; a password is needed",
                     origin);
    if (!rc && encrypted)
        rc = kdf_xor(bin, password, err, origin);
    if (!rc) {
        uint8_t chk[CHK_LEN];
        static const uint8_t zero[CHK_LEN];
        seckey_chk(bin + SEC_OFF_KEYNUM, chk);
        const uint8_t *stored = bin + SEC_OFF_KEYNUM + MB_SIGN_KEYID_LEN + SK_LEN;
        /* minisign leaves the checksum of an unencrypted key (-W) all zero. */
        bool ok = !sodium_memcmp(chk, stored, CHK_LEN) ||
                  (!encrypted && !sodium_memcmp(zero, stored, CHK_LEN));
        sodium_memzero(chk, sizeof(chk));
        if (!ok)
            rc = encrypted ? mb_fail(err, MB_E_SIGNATURE, "%s: wrong password for this key", origin)
                           : mb_fail(err, MB_E_FORMAT, "%s: secret key checksum mismatch", origin);
    }
    if (!rc) {
        struct mb_seckey *sk = seckey_alloc();
        if (!sk) {
            rc = mb_fail(err, MB_E_NOMEM, "out of secure memory for a secret key");
        } else {
            memcpy(sk->keyid, bin + SEC_OFF_KEYNUM, MB_SIGN_KEYID_LEN);
            memcpy(sk->sk, bin + SEC_OFF_KEYNUM + MB_SIGN_KEYID_LEN, SK_LEN);
            *out = sk;
        }
    }
    sodium_free(bin);
    return rc;
}

/* Read a key file into secure memory (it is small: at most 4 KiB). */
static int read_secret_file(const char *path, char **text, size_t *n, struct mb_err *err)
{
    enum { CAP = 4096 };
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mb_fail_errno(err, errno, "cannot open secret key '%s'", path);
    char *buf = sodium_malloc(CAP + 1);
    if (!buf) {
        close(fd);
        return mb_fail(err, MB_E_NOMEM, "out of secure memory");
    }
    size_t got = 0;
    int rc = 0;
    for (;;) {
        ssize_t r = read(fd, buf + got, CAP + 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = mb_fail_errno(err, errno, "cannot read secret key '%s'", path);
            break;
        }
        if (r == 0)
            break;
        got += (size_t)r;
        if (got > CAP) {
            rc = mb_fail(err, MB_E_FORMAT, "%s: too large for a secret key file", path);
            break;
        }
    }
    close(fd);
    if (rc) {
        sodium_free(buf);
        return rc;
    }
    buf[got] = '\0';
    *text = buf;
    *n = got;
    return 0;
}

int mb_sign_seckey_load(const char *path, const char *password, struct mb_seckey **out,
                        struct mb_err *err)
{
    *out = NULL;
    char *text;
    size_t n;
    int rc = read_secret_file(path, &text, &n, err);
    if (rc)
        return rc;
    rc = mb_sign_seckey_parse(text, n, path, password, out, err);
    sodium_free(text);
    return rc;
}

int mb_sign_seckey_is_encrypted(const char *path, bool *encrypted, struct mb_err *err)
{
    int rc = sodium_ready(err);
    if (rc)
        return rc;
    char *text;
    size_t n;
    rc = read_secret_file(path, &text, &n, err);
    if (rc)
        return rc;
    uint8_t *bin = sodium_malloc(SEC_BIN_LEN);
    if (!bin)
        rc = mb_fail(err, MB_E_NOMEM, "out of secure memory");
    else
        rc = seckey_decode(text, n, path, bin, encrypted, err);
    if (bin)
        sodium_free(bin);
    sodium_free(text);
    return rc;
}

int mb_sign_seckey_format(const struct mb_seckey *sk, const char *password, uint64_t opslimit,
                          uint64_t memlimit, struct mb_buf *out, struct mb_err *err)
{
    int rc = sodium_ready(err);
    if (rc)
        return rc;
    uint8_t *bin = sodium_malloc(SEC_BIN_LEN);
    if (!bin)
        return mb_fail(err, MB_E_NOMEM, "out of secure memory");
    memset(bin, 0, SEC_BIN_LEN);
    memcpy(bin + SEC_OFF_SIG_ALG, "Ed", 2);
    memcpy(bin + SEC_OFF_KDF_ALG, password ? "Sc" : "\0\0", 2);
    memcpy(bin + SEC_OFF_CHK_ALG, "B2", 2);
    memcpy(bin + SEC_OFF_KEYNUM, sk->keyid, MB_SIGN_KEYID_LEN);
    memcpy(bin + SEC_OFF_KEYNUM + MB_SIGN_KEYID_LEN, sk->sk, SK_LEN);
    seckey_chk(bin + SEC_OFF_KEYNUM, bin + SEC_OFF_KEYNUM + MB_SIGN_KEYID_LEN + SK_LEN);
    if (password) {
        if (!opslimit || !memlimit) {
            opslimit = crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_SENSITIVE;
            memlimit = crypto_pwhash_scryptsalsa208sha256_MEMLIMIT_SENSITIVE;
        }
        randombytes_buf(bin + SEC_OFF_SALT, SALT_LEN);
        le64_store(bin + SEC_OFF_OPS, opslimit);
        le64_store(bin + SEC_OFF_MEM, memlimit);
        rc = kdf_xor(bin, password, err, "new secret key");
    }
    if (!rc)
        rc = mb_buf_appendf(out, err, COMMENT_PREFIX "minisign %ssecret key\n",
                            password ? "encrypted " : "");
    if (!rc)
        rc = b64_append_line(out, bin, SEC_BIN_LEN, err);
    sodium_free(bin);
    return rc;
}

/* ------------------------------------------------------------ hashing */

void mb_sign_hasher_init(struct mb_sign_hasher *h)
{
    crypto_generichash_init((crypto_generichash_state *)(void *)h->state, NULL, 0,
                            MB_SIGN_HASH_LEN);
}

void mb_sign_hasher_update(struct mb_sign_hasher *h, const void *data, size_t n)
{
    crypto_generichash_update((crypto_generichash_state *)(void *)h->state, data, n);
}

void mb_sign_hasher_final(struct mb_sign_hasher *h, uint8_t out[MB_SIGN_HASH_LEN])
{
    crypto_generichash_final((crypto_generichash_state *)(void *)h->state, out, MB_SIGN_HASH_LEN);
}

int mb_sign_hash_file(const char *path, uint8_t out[MB_SIGN_HASH_LEN], struct mb_err *err)
{
    int rc = sodium_ready(err);
    if (rc)
        return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mb_fail_errno(err, errno, "cannot open '%s'", path);
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = mb_malloc(CHUNK);
    if (!buf) {
        close(fd);
        return mb_fail(err, MB_E_NOMEM, "out of memory hashing '%s'", path);
    }
    struct mb_sign_hasher h;
    mb_sign_hasher_init(&h);
    for (;;) {
        ssize_t r = read(fd, buf, CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = mb_fail_errno(err, errno, "cannot read '%s'", path);
            break;
        }
        if (r == 0)
            break;
        if (mb_interrupted) {
            rc = mb_fail(err, MB_E_INTERRUPTED, "interrupted while hashing '%s'", path);
            break;
        }
        mb_sign_hasher_update(&h, buf, (size_t)r);
    }
    mb_free(buf);
    close(fd);
    if (!rc)
        mb_sign_hasher_final(&h, out);
    return rc;
}

/* ------------------------------------------------------------ signatures */

int mb_sign_default_trusted_comment(const char *file_name, int64_t timestamp, char *out, size_t cap,
                                    struct mb_err *err)
{
    if (!mb_snprintf(out, cap, "timestamp:%lld\tfile:%s\thashed", (long long)timestamp,
                     mb_path_basename(file_name)))
        return mb_fail(err, MB_E_LIMIT, "file name too long for a trusted comment: '%s'",
                       file_name);
    return 0;
}

/* Check a comment line we are about to write: one printable line that fits. */
static int check_comment(const char *what, const char *s, size_t max, struct mb_err *err)
{
    struct mb_str v = mb_str_from(s);
    if (v.n >= max)
        return mb_fail(err, MB_E_LIMIT, "%s is longer than %zu bytes", what, max - 1);
    if (!is_printable(v))
        return mb_fail(err, MB_E_FORMAT, "%s contains control characters or line breaks", what);
    return 0;
}

/* Verify or compute the global signature's message: sig || trusted comment. */
static uint8_t *global_message(const uint8_t sig[MB_SIGN_SIG_LEN], const char *tc, size_t *len)
{
    size_t tlen = strlen(tc);
    uint8_t *m = mb_malloc(MB_SIGN_SIG_LEN + tlen);
    if (!m)
        return NULL;
    memcpy(m, sig, MB_SIGN_SIG_LEN);
    memcpy(m + MB_SIGN_SIG_LEN, tc, tlen);
    *len = MB_SIGN_SIG_LEN + tlen;
    return m;
}

int mb_sign_prehashed(const struct mb_seckey *sk, const uint8_t hash[MB_SIGN_HASH_LEN],
                      const char *trusted_comment, const char *untrusted_comment,
                      struct mb_sig *out, struct mb_err *err)
{
    int rc = sodium_ready(err);
    if (rc)
        return rc;
    if (!untrusted_comment)
        untrusted_comment = SIG_DEFAULT_NOTE;
    rc = check_comment("the trusted comment", trusted_comment, MB_SIGN_TRUSTED_MAX, err);
    if (!rc)
        rc = check_comment("the untrusted comment", untrusted_comment, MB_SIGN_COMMENT_MAX, err);
    if (rc)
        return rc;
    memset(out, 0, sizeof(*out));
    out->prehashed = true;
    memcpy(out->keyid, sk->keyid, MB_SIGN_KEYID_LEN);
    mb_strlcpy(out->trusted_comment, trusted_comment, sizeof(out->trusted_comment));
    mb_strlcpy(out->untrusted_comment, untrusted_comment, sizeof(out->untrusted_comment));
    crypto_sign_detached(out->sig, NULL, hash, MB_SIGN_HASH_LEN, sk->sk);
    size_t mlen;
    uint8_t *m = global_message(out->sig, out->trusted_comment, &mlen);
    if (!m)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    crypto_sign_detached(out->global_sig, NULL, m, mlen, sk->sk);
    mb_free(m);
    return 0;
}

int mb_sign_buffer(const struct mb_seckey *sk, const void *data, size_t n, const char *name,
                   const char *trusted_comment, struct mb_sig *out, struct mb_err *err)
{
    int rc = sodium_ready(err);
    if (rc)
        return rc;
    char tc[MB_SIGN_TRUSTED_MAX];
    if (!trusted_comment) {
        rc =
            mb_sign_default_trusted_comment(name ? name : "-", mb_unix_time(), tc, sizeof(tc), err);
        if (rc)
            return rc;
        trusted_comment = tc;
    }
    uint8_t hash[MB_SIGN_HASH_LEN];
    crypto_generichash(hash, sizeof(hash), data, n, NULL, 0);
    return mb_sign_prehashed(sk, hash, trusted_comment, NULL, out, err);
}

int mb_sign_file(const struct mb_seckey *sk, const char *path, const char *trusted_comment,
                 struct mb_sig *out, struct mb_err *err)
{
    char tc[MB_SIGN_TRUSTED_MAX];
    int rc;
    if (!trusted_comment) {
        rc = mb_sign_default_trusted_comment(path, mb_unix_time(), tc, sizeof(tc), err);
        if (rc)
            return rc;
        trusted_comment = tc;
    }
    uint8_t hash[MB_SIGN_HASH_LEN];
    rc = mb_sign_hash_file(path, hash, err);
    if (rc)
        return rc;
    return mb_sign_prehashed(sk, hash, trusted_comment, NULL, out, err);
}

int mb_sign_sig_parse(const char *text, size_t n, const char *origin, struct mb_sig *out,
                      struct mb_err *err)
{
    int rc = sodium_ready(err);
    if (rc)
        return rc;
    memset(out, 0, sizeof(*out));
    size_t pos = 0;
    struct mb_str l1, l2, l3, l4;
    if (!next_line(text, n, &pos, &l1) || l1.n == 0)
        return mb_fail(err, MB_E_SIGNATURE, "%s: empty signature file", origin);
    if (!mb_str_starts_with(l1, COMMENT_PREFIX))
        return mb_fail(err, MB_E_SIGNATURE, "%s: line 1: must start with \"" COMMENT_PREFIX "\"",
                       origin);
    if (l1.n >= MB_SIGN_COMMENT_MAX)
        return mb_fail(err, MB_E_SIGNATURE, "%s: line 1: untrusted comment too long", origin);
    if (!next_line(text, n, &pos, &l2) || l2.n == 0)
        return mb_fail(err, MB_E_SIGNATURE, "%s: truncated: the signature line is missing", origin);
    uint8_t bin[SIG_BIN_LEN];
    if (!b64_decode_exact(l2, bin, sizeof(bin)))
        return mb_fail(err, MB_E_SIGNATURE,
                       "%s: line 2: not a signature (must be base64 of %d bytes)", origin,
                       SIG_BIN_LEN);
    if (!memcmp(bin, "ED", 2))
        out->prehashed = true;
    else if (!memcmp(bin, "Ed", 2))
        out->prehashed = false;
    else
        return mb_fail(err, MB_E_SIGNATURE,
                       "%s: unknown signature algorithm 0x%02x%02x (expected \"ED\")", origin,
                       bin[0], bin[1]);
    memcpy(out->keyid, bin + 2, MB_SIGN_KEYID_LEN);
    memcpy(out->sig, bin + 2 + MB_SIGN_KEYID_LEN, MB_SIGN_SIG_LEN);
    if (!next_line(text, n, &pos, &l3))
        return mb_fail(err, MB_E_SIGNATURE, "%s: truncated: the trusted comment is missing",
                       origin);
    if (!mb_str_starts_with(l3, TRUSTED_PREFIX))
        return mb_fail(err, MB_E_SIGNATURE, "%s: line 3: must start with \"" TRUSTED_PREFIX "\"",
                       origin);
    struct mb_str tc = { l3.p + strlen(TRUSTED_PREFIX), l3.n - strlen(TRUSTED_PREFIX) };
    if (tc.n >= MB_SIGN_TRUSTED_MAX)
        return mb_fail(err, MB_E_SIGNATURE, "%s: line 3: trusted comment too long", origin);
    if (!is_printable(tc) || memchr(tc.p, '\r', tc.n))
        return mb_fail(err, MB_E_SIGNATURE,
                       "%s: line 3: the trusted comment contains unprintable characters", origin);
    if (!next_line(text, n, &pos, &l4) || l4.n == 0)
        return mb_fail(err, MB_E_SIGNATURE, "%s: truncated: the global signature line is missing",
                       origin);
    if (!b64_decode_exact(l4, out->global_sig, MB_SIGN_SIG_LEN))
        return mb_fail(err, MB_E_SIGNATURE,
                       "%s: line 4: not a global signature (must be base64 of %d bytes)", origin,
                       MB_SIGN_SIG_LEN);
    memcpy(out->trusted_comment, tc.p, tc.n);
    out->trusted_comment[tc.n] = '\0';
    size_t cn = l1.n - strlen(COMMENT_PREFIX);
    memcpy(out->untrusted_comment, l1.p + strlen(COMMENT_PREFIX), cn);
    out->untrusted_comment[cn] = '\0';
    return 0;
}

int mb_sign_sig_load(const char *path, struct mb_sig *out, struct mb_err *err)
{
    struct mb_buf b;
    int rc = mb_file_read_all(path, 16384, &b, err);
    if (rc == MB_E_LIMIT)
        return mb_fail(err, MB_E_SIGNATURE, "%s: too large for a signature file", path);
    if (rc)
        return rc;
    rc = mb_sign_sig_parse(b.p, b.n, path, out, err);
    mb_buf_release(&b);
    return rc;
}

int mb_sign_sig_format(const struct mb_sig *sig, struct mb_buf *out, struct mb_err *err)
{
    uint8_t bin[SIG_BIN_LEN];
    memcpy(bin, sig->prehashed ? "ED" : "Ed", 2);
    memcpy(bin + 2, sig->keyid, MB_SIGN_KEYID_LEN);
    memcpy(bin + 2 + MB_SIGN_KEYID_LEN, sig->sig, MB_SIGN_SIG_LEN);
    int rc = mb_buf_appendf(out, err, COMMENT_PREFIX "%s\n", sig->untrusted_comment);
    if (!rc)
        rc = b64_append_line(out, bin, sizeof(bin), err);
    if (!rc)
        rc = mb_buf_appendf(out, err, TRUSTED_PREFIX "%s\n", sig->trusted_comment);
    if (!rc)
        rc = b64_append_line(out, sig->global_sig, MB_SIGN_SIG_LEN, err);
    return rc;
}

/* Steps 2 and 4 of the verification: the key id, and the global signature. */
static int check_keyid(const struct mb_pubkey *pk, const struct mb_sig *sig, const char *origin,
                       struct mb_err *err)
{
    if (memcmp(sig->keyid, pk->keyid, MB_SIGN_KEYID_LEN) != 0) {
        char a[MB_SIGN_KEYID_HEX_LEN], b[MB_SIGN_KEYID_HEX_LEN];
        mb_sign_keyid_hex(sig->keyid, a);
        mb_sign_keyid_hex(pk->keyid, b);
        return mb_fail(err, MB_E_SIGNATURE,
                       "%s: signed by key %s, but the trusted key is %s (key id mismatch)", origin,
                       a, b);
    }
    return 0;
}

static int check_global(const struct mb_pubkey *pk, const struct mb_sig *sig, const char *origin,
                        struct mb_err *err)
{
    size_t mlen;
    uint8_t *m = global_message(sig->sig, sig->trusted_comment, &mlen);
    if (!m)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    int bad = crypto_sign_verify_detached(sig->global_sig, m, mlen, pk->pk);
    mb_free(m);
    if (bad)
        return mb_fail(err, MB_E_SIGNATURE,
                       "%s: the trusted comment's signature is invalid (comment tampered with)",
                       origin);
    return 0;
}

static int check_alg(const struct mb_sig *sig, const char *origin, unsigned flags,
                     struct mb_err *err)
{
    if (!sig->prehashed && !(flags & MB_SIGN_ALLOW_LEGACY))
        return mb_fail(err, MB_E_SIGNATURE,
                       "%s: legacy (non-prehashed \"Ed\") signature refused; re-sign with a "
                       "current minisign or modularbase",
                       origin);
    return 0;
}

int mb_sign_verify_prehashed(const struct mb_pubkey *pk, const uint8_t hash[MB_SIGN_HASH_LEN],
                             const struct mb_sig *sig, const char *origin, unsigned flags,
                             struct mb_err *err)
{
    int rc = sodium_ready(err);
    if (!rc)
        rc = check_alg(sig, origin, flags, err);
    if (!rc && !sig->prehashed)
        rc = mb_fail(err, MB_E_SIGNATURE,
                     "%s: a legacy signature cannot be checked against a prehash", origin);
    if (!rc)
        rc = check_keyid(pk, sig, origin, err);
    if (rc)
        return rc;
    if (crypto_sign_verify_detached(sig->sig, hash, MB_SIGN_HASH_LEN, pk->pk) != 0)
        return mb_fail(err, MB_E_SIGNATURE,
                       "%s: signature verification failed (the file or the signature was "
                       "modified, or it was signed by another key)",
                       origin);
    return check_global(pk, sig, origin, err);
}

int mb_sign_verify_buffer(const struct mb_pubkey *pk, const void *data, size_t n,
                          const struct mb_sig *sig, const char *origin, unsigned flags,
                          struct mb_err *err)
{
    int rc = sodium_ready(err);
    if (rc)
        return rc;
    if (sig->prehashed) {
        uint8_t hash[MB_SIGN_HASH_LEN];
        crypto_generichash(hash, sizeof(hash), data, n, NULL, 0);
        return mb_sign_verify_prehashed(pk, hash, sig, origin, flags, err);
    }
    rc = check_alg(sig, origin, flags, err);
    if (!rc)
        rc = check_keyid(pk, sig, origin, err);
    if (rc)
        return rc;
    if (crypto_sign_verify_detached(sig->sig, data, n, pk->pk) != 0)
        return mb_fail(err, MB_E_SIGNATURE, "%s: signature verification failed", origin);
    return check_global(pk, sig, origin, err);
}

int mb_sign_verify_file(const struct mb_pubkey *pk, const char *path, const struct mb_sig *sig,
                        const char *origin, unsigned flags, struct mb_err *err)
{
    if (sig->prehashed) {
        uint8_t hash[MB_SIGN_HASH_LEN];
        int rc = mb_sign_hash_file(path, hash, err);
        if (rc)
            return rc;
        return mb_sign_verify_prehashed(pk, hash, sig, origin, flags, err);
    }
    int rc = check_alg(sig, origin, flags, err);
    if (rc)
        return rc;
    /* Legacy signatures cover the raw bytes; minisign caps them at 1 GiB. */
    struct mb_buf b;
    rc = mb_file_read_all(path, (size_t)1 << 30, &b, err);
    if (rc)
        return rc;
    rc = mb_sign_verify_buffer(pk, b.p, b.n, sig, origin, flags, err);
    mb_buf_release(&b);
    return rc;
}
