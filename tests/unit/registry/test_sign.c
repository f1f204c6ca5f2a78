/*
 * test_sign.c - unit tests of registry/sign.c: key and signature round trips
 * in minisign's formats, encrypted secret keys (right, wrong and missing
 * password), and every tampering case the verifier must catch with its own
 * message: data, signature, trusted comment, another key, a key id mismatch,
 * unknown algorithm bytes, a legacy signature, and truncated files. Interop
 * with the real minisign CLI is in tests/integration/t4010-key-minisign.sh.
 */
#include "mb_test.h"

#include "mb_registry.h"

#include <sodium.h>

static const char DATA[] = "the quick brown fox jumps over the lazy dog\n";

static struct mb_seckey *new_key(void)
{
    struct mb_seckey *sk;
    struct mb_err err;
    mb_err_init(&err);
    MB_ASSERT_OK(mb_sign_seckey_generate(&sk, &err), &err);
    return sk;
}

static void test_pubkey_roundtrip(void **state)
{
    (void)state;
    struct mb_err err;
    mb_err_init(&err);
    struct mb_seckey *sk = new_key();
    struct mb_pubkey pk, pk2;
    mb_sign_seckey_public(sk, &pk);
    struct mb_buf b;
    mb_buf_init(&b, 4096);
    MB_ASSERT_OK(mb_sign_pubkey_format(&pk, &b, &err), &err);
    char id[MB_SIGN_KEYID_HEX_LEN];
    mb_sign_keyid_hex(pk.keyid, id);
    assert_int_equal(strlen(id), 16);
    assert_non_null(strstr(b.p, "untrusted comment: minisign public key "));
    assert_non_null(strstr(b.p, id));
    assert_true(strstr(b.p, "\nRW") != NULL); /* base64 of "Ed" starts with RW */
    MB_ASSERT_OK(mb_sign_pubkey_parse(b.p, b.n, "k.pub", &pk2, &err), &err);
    assert_memory_equal(&pk, &pk2, sizeof(pk));
    /* A bare base64 key (minisign -P) parses too. */
    char b64[MB_SIGN_PUBKEY_B64_LEN];
    mb_sign_pubkey_base64(&pk, b64);
    MB_ASSERT_OK(mb_sign_pubkey_parse(b64, strlen(b64), "-P", &pk2, &err), &err);
    assert_memory_equal(&pk, &pk2, sizeof(pk));
    /* Bad keys. */
    assert_int_equal(mb_sign_pubkey_parse("", 0, "k.pub", &pk2, &err), MB_E_FORMAT);
    assert_int_equal(mb_sign_pubkey_parse("untrusted comment: x\n", 21, "k.pub", &pk2, &err),
                     MB_E_FORMAT);
    assert_non_null(strstr(err.msg, "k.pub"));
    assert_int_equal(mb_sign_pubkey_parse(b64, 20, "k.pub", &pk2, &err), MB_E_FORMAT);
    uint8_t bin[42];
    memcpy(bin, "Xx", 2);
    char other[80];
    sodium_bin2base64(other, sizeof(other), bin, sizeof(bin), sodium_base64_VARIANT_ORIGINAL);
    assert_int_equal(mb_sign_pubkey_parse(other, strlen(other), "k.pub", &pk2, &err), MB_E_FORMAT);
    assert_non_null(strstr(err.msg, "algorithm"));
    mb_buf_release(&b);
    mb_sign_seckey_free(sk);
}

static void test_seckey_roundtrip(void **state)
{
    (void)state;
    struct mb_err err;
    mb_err_init(&err);
    struct mb_seckey *sk = new_key(), *sk2 = NULL;
    struct mb_pubkey pk, pk2;
    mb_sign_seckey_public(sk, &pk);

    /* Unencrypted (minisign -W). */
    struct mb_buf b;
    mb_buf_init(&b, 4096);
    MB_ASSERT_OK(mb_sign_seckey_format(sk, NULL, 0, 0, &b, &err), &err);
    MB_ASSERT_OK(mb_sign_seckey_parse(b.p, b.n, "k.key", NULL, &sk2, &err), &err);
    mb_sign_seckey_public(sk2, &pk2);
    assert_memory_equal(&pk, &pk2, sizeof(pk));
    mb_sign_seckey_free(sk2);
    sk2 = NULL;

    /* Encrypted, at cheap KDF limits so the test is fast. */
    mb_buf_reset(&b);
    MB_ASSERT_OK(mb_sign_seckey_format(
                     sk, "correct horse", crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_INTERACTIVE,
                     crypto_pwhash_scryptsalsa208sha256_MEMLIMIT_INTERACTIVE, &b, &err),
                 &err);
    assert_non_null(strstr(b.p, "encrypted secret key"));
    assert_int_equal(mb_sign_seckey_parse(b.p, b.n, "k.key", NULL, &sk2, &err), MB_E_STATE);
    assert_null(sk2);
    assert_int_equal(mb_sign_seckey_parse(b.p, b.n, "k.key", "wrong", &sk2, &err), MB_E_SIGNATURE);
    assert_non_null(strstr(err.msg, "wrong password"));
    MB_ASSERT_OK(mb_sign_seckey_parse(b.p, b.n, "k.key", "correct horse", &sk2, &err), &err);
    mb_sign_seckey_public(sk2, &pk2);
    assert_memory_equal(&pk, &pk2, sizeof(pk));
    mb_sign_seckey_free(sk2);

    /* is_encrypted on files. */
    const char *path = mb_test_tmp_path("enc.key");
    mb_test_write_file(path, b.p, b.n);
    bool enc = false;
    MB_ASSERT_OK(mb_sign_seckey_is_encrypted(path, &enc, &err), &err);
    assert_true(enc);

    /* Corrupt: a truncated base64 line, an unknown KDF. */
    assert_int_equal(mb_sign_seckey_parse(b.p, b.n / 2, "k.key", "x", &sk2, &err), MB_E_FORMAT);
    assert_int_equal(mb_sign_seckey_parse("junk\n", 5, "k.key", "x", &sk2, &err), MB_E_FORMAT);
    mb_buf_release(&b);
    mb_sign_seckey_free(sk);
}

/* Sign DATA, return the .minisig text in out. */
static void sign_data(struct mb_seckey *sk, struct mb_buf *out)
{
    struct mb_err err;
    mb_err_init(&err);
    struct mb_sig sig;
    MB_ASSERT_OK(mb_sign_buffer(sk, DATA, strlen(DATA), "data.txt", NULL, &sig, &err), &err);
    assert_true(sig.prehashed);
    assert_non_null(strstr(sig.trusted_comment, "\tfile:data.txt\thashed"));
    assert_true(!strncmp(sig.trusted_comment, "timestamp:", 10));
    mb_buf_init(out, 16384);
    MB_ASSERT_OK(mb_sign_sig_format(&sig, out, &err), &err);
}

/* Parse + verify text against pk; returns the rc and leaves the message in err. */
static int verify_text(const struct mb_pubkey *pk, const char *text, size_t n, const char *data,
                       struct mb_err *err)
{
    struct mb_sig sig;
    int rc = mb_sign_sig_parse(text, n, "data.txt.minisig", &sig, err);
    if (rc)
        return rc;
    return mb_sign_verify_buffer(pk, data, strlen(data), &sig, "data.txt.minisig", 0, err);
}

static void test_sign_verify_and_tamper(void **state)
{
    (void)state;
    struct mb_err err;
    mb_err_init(&err);
    struct mb_seckey *sk = new_key();
    struct mb_pubkey pk;
    mb_sign_seckey_public(sk, &pk);
    struct mb_buf b;
    sign_data(sk, &b);
    MB_ASSERT_OK(verify_text(&pk, b.p, b.n, DATA, &err), &err);
    /* \r\n line ends are tolerated, as minisign does. */
    struct mb_buf crlf;
    mb_buf_init(&crlf, 32768);
    for (size_t i = 0; i < b.n; i++) {
        if (b.p[i] == '\n')
            assert_int_equal(mb_buf_append(&crlf, "\r", 1, &err), 0);
        assert_int_equal(mb_buf_append(&crlf, &b.p[i], 1, &err), 0);
    }
    MB_ASSERT_OK(verify_text(&pk, crlf.p, crlf.n, DATA, &err), &err);
    mb_buf_release(&crlf);

    /* 1. The data changed. */
    assert_int_equal(verify_text(&pk, b.p, b.n, "The quick brown fox", &err), MB_E_SIGNATURE);
    assert_non_null(strstr(err.msg, "signature verification failed"));

    /* 2. One flipped bit in the signature (line 2, inside the base64 of sig). */
    char *copy = mb_strndup(b.p, b.n);
    char *l2 = strchr(copy, '\n') + 1;
    l2[40] = l2[40] == 'A' ? 'B' : 'A';
    assert_int_equal(verify_text(&pk, copy, b.n, DATA, &err), MB_E_SIGNATURE);
    assert_non_null(strstr(err.msg, "signature verification failed"));
    mb_free(copy);

    /* 3. The trusted comment changed. */
    copy = mb_strndup(b.p, b.n);
    char *tc = strstr(copy, "timestamp:") + 10;
    *tc = *tc == '9' ? '8' : '9';
    assert_int_equal(verify_text(&pk, copy, b.n, DATA, &err), MB_E_SIGNATURE);
    assert_non_null(strstr(err.msg, "trusted comment"));
    mb_free(copy);

    /* 4. Another key (a different key id). */
    struct mb_seckey *sk2 = new_key();
    struct mb_pubkey pk2;
    mb_sign_seckey_public(sk2, &pk2);
    assert_int_equal(verify_text(&pk2, b.p, b.n, DATA, &err), MB_E_SIGNATURE);
    assert_non_null(strstr(err.msg, "key id mismatch"));
    /* 5. Another key that claims the same key id: the signature itself fails. */
    memcpy(pk2.keyid, pk.keyid, sizeof(pk.keyid));
    assert_int_equal(verify_text(&pk2, b.p, b.n, DATA, &err), MB_E_SIGNATURE);
    assert_non_null(strstr(err.msg, "signature verification failed"));

    /* 6. Unknown algorithm bytes. */
    struct mb_sig sig;
    MB_ASSERT_OK(mb_sign_sig_parse(b.p, b.n, "s", &sig, &err), &err);
    uint8_t bin[74];
    memcpy(bin, "XY", 2);
    memcpy(bin + 2, sig.keyid, 8);
    memcpy(bin + 10, sig.sig, 64);
    char b64[128];
    sodium_bin2base64(b64, sizeof(b64), bin, sizeof(bin), sodium_base64_VARIANT_ORIGINAL);
    struct mb_buf t;
    mb_buf_init(&t, 32768);
    assert_int_equal(mb_buf_appendf(&t, &err, "untrusted comment: x\n%s\ntrusted comment: %s\n",
                                    b64, sig.trusted_comment),
                     0);
    char g64[128];
    sodium_bin2base64(g64, sizeof(g64), sig.global_sig, 64, sodium_base64_VARIANT_ORIGINAL);
    assert_int_equal(mb_buf_appendf(&t, &err, "%s\n", g64), 0);
    assert_int_equal(verify_text(&pk, t.p, t.n, DATA, &err), MB_E_SIGNATURE);
    assert_non_null(strstr(err.msg, "unknown signature algorithm 0x5859"));
    mb_buf_release(&t);

    /* 7. Every truncation of the file fails cleanly, with "truncated" for missing lines. */
    for (size_t n = 0; n + 1 < b.n; n++) {
        int rc = verify_text(&pk, b.p, n, DATA, &err);
        assert_int_equal(rc, MB_E_SIGNATURE);
    }
    size_t first_nl = (size_t)(strchr(b.p, '\n') - b.p);
    assert_int_equal(verify_text(&pk, b.p, first_nl + 1, DATA, &err), MB_E_SIGNATURE);
    assert_non_null(strstr(err.msg, "truncated"));

    mb_buf_release(&b);
    mb_sign_seckey_free(sk);
    mb_sign_seckey_free(sk2);
}

/* A legacy "Ed" signature (made here with libsodium directly) is refused by default. */
static void test_legacy(void **state)
{
    (void)state;
    struct mb_err err;
    mb_err_init(&err);
    unsigned char pkb[32], skb[64];
    crypto_sign_keypair(pkb, skb);
    struct mb_pubkey pk;
    memset(pk.keyid, 7, 8);
    memcpy(pk.pk, pkb, 32);
    struct mb_sig sig;
    memset(&sig, 0, sizeof(sig));
    sig.prehashed = false;
    memset(sig.keyid, 7, 8);
    crypto_sign_detached(sig.sig, NULL, (const unsigned char *)DATA, strlen(DATA), skb);
    mb_strlcpy(sig.trusted_comment, "timestamp:1\tfile:data.txt", sizeof(sig.trusted_comment));
    mb_strlcpy(sig.untrusted_comment, "legacy", sizeof(sig.untrusted_comment));
    unsigned char m[64 + 64];
    memcpy(m, sig.sig, 64);
    size_t tl = strlen(sig.trusted_comment);
    memcpy(m + 64, sig.trusted_comment, tl);
    crypto_sign_detached(sig.global_sig, NULL, m, 64 + tl, skb);
    struct mb_buf b;
    mb_buf_init(&b, 16384);
    MB_ASSERT_OK(mb_sign_sig_format(&sig, &b, &err), &err);
    struct mb_sig parsed;
    MB_ASSERT_OK(mb_sign_sig_parse(b.p, b.n, "s", &parsed, &err), &err);
    assert_false(parsed.prehashed);
    assert_int_equal(mb_sign_verify_buffer(&pk, DATA, strlen(DATA), &parsed, "s", 0, &err),
                     MB_E_SIGNATURE);
    assert_non_null(strstr(err.msg, "legacy"));
    MB_ASSERT_OK(
        mb_sign_verify_buffer(&pk, DATA, strlen(DATA), &parsed, "s", MB_SIGN_ALLOW_LEGACY, &err),
        &err);
    mb_buf_release(&b);
}

/* Files: sign a file, verify it, and the prehashed path agrees with the buffer path. */
static void test_files(void **state)
{
    (void)state;
    struct mb_err err;
    mb_err_init(&err);
    struct mb_seckey *sk = new_key();
    struct mb_pubkey pk;
    mb_sign_seckey_public(sk, &pk);
    const char *path = mb_test_tmp_path("data.txt");
    mb_test_write_file(path, DATA, strlen(DATA));
    struct mb_sig sig, sig2;
    MB_ASSERT_OK(mb_sign_file(sk, path, NULL, &sig, &err), &err);
    assert_non_null(strstr(sig.trusted_comment, "file:data.txt"));
    MB_ASSERT_OK(mb_sign_verify_file(&pk, path, &sig, "data.txt.minisig", 0, &err), &err);
    struct mb_buf b;
    mb_buf_init(&b, 16384);
    MB_ASSERT_OK(mb_sign_sig_format(&sig, &b, &err), &err);
    const char *sp = mb_test_tmp_path("data.txt.minisig");
    mb_test_write_file(sp, b.p, b.n);
    MB_ASSERT_OK(mb_sign_sig_load(sp, &sig2, &err), &err);
    assert_memory_equal(sig.sig, sig2.sig, 64);
    assert_string_equal(sig.trusted_comment, sig2.trusted_comment);
    mb_test_write_file(path, "changed", 7);
    assert_int_equal(mb_sign_verify_file(&pk, path, &sig, "data.txt.minisig", 0, &err),
                     MB_E_SIGNATURE);
    /* A control character in a trusted comment is refused when signing. */
    assert_int_equal(mb_sign_file(sk, path, "a\nb", &sig, &err), MB_E_FORMAT);
    mb_buf_release(&b);
    mb_sign_seckey_free(sk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pubkey_roundtrip),
        cmocka_unit_test(test_seckey_roundtrip),
        cmocka_unit_test(test_sign_verify_and_tamper),
        cmocka_unit_test(test_legacy),
        cmocka_unit_test(test_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
