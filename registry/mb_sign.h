/*
 * mb_sign.h - Ed25519 keys and signatures in minisign's exact file formats
 * (https://jedisct1.github.io/minisign/, docs/signing.md), so that a publisher
 * can use either tool and `minisign -V` verifies what we sign.
 *
 *   public key   "untrusted comment: ...\n" + base64("Ed" || keyid[8] || pk[32])
 *   secret key   "untrusted comment: ...\n" + base64(sig_alg "Ed", kdf_alg "Sc" or
 *                "\0\0", chk_alg "B2", salt[32], opslimit LE64, memlimit LE64,
 *                keyid[8] || sk[64] || BLAKE2b-256 checksum[32]), the last 104
 *                bytes XORed with scrypt(password) when kdf_alg is "Sc"
 *   signature    "untrusted comment: ...\n" + base64("ED" || keyid[8] || sig[64])
 *                + "\ntrusted comment: TEXT\n" + base64(global_sig[64]) + "\n",
 *                sig over BLAKE2b-512(file) ("ED", prehashed) or the raw file
 *                ("Ed", legacy), global_sig over sig || TEXT
 *
 * We always sign with the prehashed "ED" algorithm. Verification follows
 * minisign's order: algorithm, key id, signature, then the global signature
 * over the trusted comment; legacy "Ed" signatures are refused unless the
 * caller passes MB_SIGN_ALLOW_LEGACY.
 *
 * Secret keys live in sodium_malloc'ed memory (guard pages, mlock) and are
 * wiped on release. Errors: MB_E_FORMAT for malformed key files,
 * MB_E_SIGNATURE for every signature problem (malformed, wrong key, forged),
 * MB_E_SIGNATURE for a wrong password, MB_E_IO/MB_E_NOTFOUND for file access.
 * Nothing here prints; all functions are thread-compatible (no global state
 * beyond sodium_init(), which they call).
 */
#ifndef MB_SIGN_H
#define MB_SIGN_H

#include "mb_common.h"

#define MB_SIGN_KEYID_LEN     8
#define MB_SIGN_PK_LEN        32
#define MB_SIGN_SIG_LEN       64
#define MB_SIGN_HASH_LEN      64   /* BLAKE2b-512 of the signed file */
#define MB_SIGN_COMMENT_MAX   1024 /* untrusted comment line, minisign's COMMENTMAXBYTES */
#define MB_SIGN_TRUSTED_MAX   8192 /* trusted comment line, minisign's TRUSTEDCOMMENTMAXBYTES */
#define MB_SIGN_PASSWORD_MAX  1024
#define MB_SIGN_KEYID_HEX_LEN 17 /* 16 upper-case hex digits + NUL */

/* A public key: minisign's 8-byte key id and the Ed25519 public key. */
struct mb_pubkey {
    uint8_t keyid[MB_SIGN_KEYID_LEN];
    uint8_t pk[MB_SIGN_PK_LEN];
};

/* A secret key (opaque, in sodium_malloc'ed memory). */
struct mb_seckey;

/* A parsed .minisig file. */
struct mb_sig {
    bool prehashed; /* "ED" (true) or legacy "Ed" (false) */
    uint8_t keyid[MB_SIGN_KEYID_LEN];
    uint8_t sig[MB_SIGN_SIG_LEN];
    uint8_t global_sig[MB_SIGN_SIG_LEN];
    char untrusted_comment[MB_SIGN_COMMENT_MAX]; /* without the "untrusted comment: " prefix */
    char trusted_comment[MB_SIGN_TRUSTED_MAX];   /* without the "trusted comment: " prefix */
};

/* Flags for the verify functions. */
enum {
    MB_SIGN_ALLOW_LEGACY = 1u << 0, /* accept non-prehashed "Ed" signatures */
};

/*
 * Key id as minisign prints it: the 8 bytes read as a little-endian integer,
 * printed as 16 upper-case hex digits ("minisign public key 5F...").
 */
void mb_sign_keyid_hex(const uint8_t keyid[MB_SIGN_KEYID_LEN], char out[MB_SIGN_KEYID_HEX_LEN]);

/*
 * Secure memory for passwords and key text (sodium_malloc: guard pages, no
 * swap); mb_sign_secure_free wipes before freeing (NULL is fine).
 * mb_sign_wipe zeroes memory in a way the compiler cannot drop.
 */
void *mb_sign_secure_alloc(size_t n);
void mb_sign_secure_free(void *p);
void mb_sign_wipe(void *p, size_t n);

/* ------------------------------------------------------------ public keys */

/*
 * Parse a public key: either a whole .pub file (comment line + base64 line) or
 * just the base64 string (minisign -P). `origin` names the input in messages.
 * MB_E_FORMAT on anything malformed, including an algorithm other than "Ed".
 */
int mb_sign_pubkey_parse(const char *text, size_t n, const char *origin, struct mb_pubkey *out,
                         struct mb_err *err);
/* Read and parse a .pub file (at most 4 KiB). */
int mb_sign_pubkey_load(const char *path, struct mb_pubkey *out, struct mb_err *err);
/*
 * The two-line .pub text minisign writes ("untrusted comment: minisign public
 * key <KEYID>\n<base64>\n"), appended to `out`.
 */
int mb_sign_pubkey_format(const struct mb_pubkey *pk, struct mb_buf *out, struct mb_err *err);
/* Just the base64 string (for minisign -P and registry.json), NUL-terminated. */
#define MB_SIGN_PUBKEY_B64_LEN 57 /* 56 characters + NUL */
void mb_sign_pubkey_base64(const struct mb_pubkey *pk, char out[MB_SIGN_PUBKEY_B64_LEN]);

/* ------------------------------------------------------------ secret keys */

/* Make a fresh key pair. *out is freed with mb_sign_seckey_free. */
int mb_sign_seckey_generate(struct mb_seckey **out, struct mb_err *err);

/*
 * Parse a secret key file's text. When the key is encrypted ("Sc") the
 * password is required: with password == NULL this fails with MB_E_STATE so
 * callers can ask for one (see mb_sign_seckey_is_encrypted); a wrong password
 * fails with MB_E_SIGNATURE ("wrong password"). KDF limits read from the file are
 * capped (opslimit <= 2^32, memlimit <= 4 GiB) so a hostile key file cannot make
 * us allocate without bound.
 */
int mb_sign_seckey_parse(const char *text, size_t n, const char *origin, const char *password,
                         struct mb_seckey **out, struct mb_err *err);
int mb_sign_seckey_load(const char *path, const char *password, struct mb_seckey **out,
                        struct mb_err *err);
/* Whether the secret key file at `path` is password-protected. */
int mb_sign_seckey_is_encrypted(const char *path, bool *encrypted, struct mb_err *err);

/*
 * Serialise a secret key in minisign's format, appended to `out` (which the
 * caller should release with mb_buf_release after sodium_memzero'ing it; the
 * text holds the key, encrypted or not). password == NULL writes an
 * unencrypted key (minisign -W); otherwise the key is encrypted with
 * scrypt(password) at minisign's "sensitive" limits (1 GiB, a few seconds),
 * or at `opslimit`/`memlimit` when both are non-zero.
 */
int mb_sign_seckey_format(const struct mb_seckey *sk, const char *password, uint64_t opslimit,
                          uint64_t memlimit, struct mb_buf *out, struct mb_err *err);

/* The public half of a secret key. */
void mb_sign_seckey_public(const struct mb_seckey *sk, struct mb_pubkey *out);
/* Wipe and free. NULL is fine. */
void mb_sign_seckey_free(struct mb_seckey *sk);

/* ------------------------------------------------------------ hashing */

/* Streaming BLAKE2b-512, the prehash of the "ED" algorithm. */
struct mb_sign_hasher {
    MB_ALIGNAS(64) unsigned char state[384]; /* libsodium's crypto_generichash_state */
};
void mb_sign_hasher_init(struct mb_sign_hasher *h);
void mb_sign_hasher_update(struct mb_sign_hasher *h, const void *data, size_t n);
void mb_sign_hasher_final(struct mb_sign_hasher *h, uint8_t out[MB_SIGN_HASH_LEN]);
/* BLAKE2b-512 of a whole file, streamed. */
int mb_sign_hash_file(const char *path, uint8_t out[MB_SIGN_HASH_LEN], struct mb_err *err);

/* ------------------------------------------------------------ signatures */

/*
 * The default trusted comment, as minisign writes it:
 * "timestamp:<unix seconds>\tfile:<basename>\thashed".
 */
int mb_sign_default_trusted_comment(const char *file_name, int64_t timestamp, char *out, size_t cap,
                                    struct mb_err *err);

/*
 * Sign a BLAKE2b-512 prehash ("ED"). `trusted_comment` must be printable, one
 * line and shorter than MB_SIGN_TRUSTED_MAX; `untrusted_comment` NULL gives
 * minisign's default. Fills *out (ready for mb_sign_sig_format).
 */
int mb_sign_prehashed(const struct mb_seckey *sk, const uint8_t hash[MB_SIGN_HASH_LEN],
                      const char *trusted_comment, const char *untrusted_comment,
                      struct mb_sig *out, struct mb_err *err);
/* Sign bytes in memory / a file (streamed); trusted_comment NULL = the default for `name`. */
int mb_sign_buffer(const struct mb_seckey *sk, const void *data, size_t n, const char *name,
                   const char *trusted_comment, struct mb_sig *out, struct mb_err *err);
int mb_sign_file(const struct mb_seckey *sk, const char *path, const char *trusted_comment,
                 struct mb_sig *out, struct mb_err *err);

/* Parse .minisig text (4 lines; \r\n tolerated). MB_E_SIGNATURE when malformed. */
int mb_sign_sig_parse(const char *text, size_t n, const char *origin, struct mb_sig *out,
                      struct mb_err *err);
/* Read and parse a .minisig file (at most 16 KiB). */
int mb_sign_sig_load(const char *path, struct mb_sig *out, struct mb_err *err);
/* The .minisig text, appended to `out`. */
int mb_sign_sig_format(const struct mb_sig *sig, struct mb_buf *out, struct mb_err *err);

/*
 * Verify in minisign's order: algorithm (legacy refused without
 * MB_SIGN_ALLOW_LEGACY), key id, the signature over the file, the global
 * signature over sig || trusted comment. `origin` names the signature in
 * messages. Every failure is MB_E_SIGNATURE with a message saying which step.
 *
 * _prehashed takes the file's BLAKE2b-512 (only "ED" signatures can match it;
 * a legacy signature fails as unsupported for prehashed input). _buffer and
 * _file hash (or, for legacy, read) the data themselves.
 */
int mb_sign_verify_prehashed(const struct mb_pubkey *pk, const uint8_t hash[MB_SIGN_HASH_LEN],
                             const struct mb_sig *sig, const char *origin, unsigned flags,
                             struct mb_err *err);
int mb_sign_verify_buffer(const struct mb_pubkey *pk, const void *data, size_t n,
                          const struct mb_sig *sig, const char *origin, unsigned flags,
                          struct mb_err *err);
int mb_sign_verify_file(const struct mb_pubkey *pk, const char *path, const struct mb_sig *sig,
                        const char *origin, unsigned flags, struct mb_err *err);

#endif /* MB_SIGN_H */
