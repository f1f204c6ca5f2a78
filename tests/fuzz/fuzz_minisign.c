/*
 * fuzz_minisign.c - libFuzzer target for the minisign parsers: the .minisig
 * signature parser, the public key parser (file and bare base64), and the
 * secret key parser (without a password, so no scrypt runs). A parsed
 * signature is also re-formatted and re-parsed, which must give the same
 * fields, and verified against a fixed key, which must fail cleanly.
 */
#include "mb_registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct mb_err err;
    mb_err_init(&err);
    struct mb_sig sig;
    if (mb_sign_sig_parse(text, size, "fuzz.minisig", &sig, &err) == 0) {
        struct mb_buf b;
        mb_buf_init(&b, 65536);
        if (mb_sign_sig_format(&sig, &b, &err) == 0) {
            struct mb_sig again;
            if (mb_sign_sig_parse(b.p, b.n, "again", &again, &err) != 0 ||
                memcmp(again.sig, sig.sig, sizeof(sig.sig)) != 0 ||
                strcmp(again.trusted_comment, sig.trusted_comment) != 0)
                __builtin_trap();
        }
        mb_buf_release(&b);
        struct mb_pubkey pk;
        memset(&pk, 0x42, sizeof(pk));
        memcpy(pk.keyid, sig.keyid, sizeof(pk.keyid));
        uint8_t hash[MB_SIGN_HASH_LEN] = { 0 };
        if (mb_sign_verify_prehashed(&pk, hash, &sig, "fuzz", MB_SIGN_ALLOW_LEGACY, &err) == 0)
            __builtin_trap(); /* a forged signature must never verify */
    }
    struct mb_pubkey pk;
    if (mb_sign_pubkey_parse(text, size, "fuzz.pub", &pk, &err) == 0) {
        struct mb_buf b;
        mb_buf_init(&b, 4096);
        struct mb_pubkey again;
        if (mb_sign_pubkey_format(&pk, &b, &err) == 0 &&
            (mb_sign_pubkey_parse(b.p, b.n, "again", &again, &err) != 0 ||
             memcmp(&again, &pk, sizeof(pk)) != 0))
            __builtin_trap();
        mb_buf_release(&b);
    }
    struct mb_seckey *sk = NULL;
    if (mb_sign_seckey_parse(text, size, "fuzz.key", NULL, &sk, &err) == 0)
        mb_sign_seckey_free(sk);
    return 0;
}
