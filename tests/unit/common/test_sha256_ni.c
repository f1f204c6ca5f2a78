/*
 * test_sha256_ni.c - the SHA-NI SHA-256 (common/sha256_ni.c) against
 * libsodium's portable one: the FIPS 180-4 examples, every length from 0 to
 * 300 bytes, and long random messages fed in random pieces (so every path of
 * the block buffer is taken). Skipped (77) on CPUs without SHA-NI.
 */
#include "mb_test.h"

#include "sha256_ni.h"

#include <sodium.h>

static void ref(const unsigned char *p, size_t n, uint8_t out[32])
{
    crypto_hash_sha256(out, p, n);
}

static void ni_once(const unsigned char *p, size_t n, uint8_t out[32])
{
    struct mb_sha256_ni s;
    mb_sha256_ni_init(&s);
    mb_sha256_ni_update(&s, p, n);
    mb_sha256_ni_final(&s, out);
}

static void test_known_answers(void **unused)
{
    (void)unused;
    uint8_t h[32];
    char hex[65];
    ni_once((const unsigned char *)"abc", 3, h);
    mb_hex_encode(h, 32, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    ni_once((const unsigned char *)"", 0, h);
    mb_hex_encode(h, 32, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    ni_once((const unsigned char *)two, strlen(two), h);
    mb_hex_encode(h, 32, hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_all_lengths(void **unused)
{
    (void)unused;
    unsigned char buf[300];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)(i * 7 + 3);
    for (size_t n = 0; n <= sizeof(buf); n++) {
        uint8_t a[32], b[32];
        ref(buf, n, a);
        ni_once(buf, n, b);
        if (memcmp(a, b, 32))
            fail_msg("length %zu differs", n);
    }
}

static void test_random_pieces(void **unused)
{
    (void)unused;
    size_t n = 3u << 20;
    unsigned char *buf = malloc(n);
    assert_non_null(buf);
    randombytes_buf(buf, n);
    for (int round = 0; round < 8; round++) {
        size_t len = n - (size_t)randombytes_uniform(4096);
        struct mb_sha256_ni s;
        mb_sha256_ni_init(&s);
        for (size_t off = 0; off < len;) {
            size_t r = randombytes_uniform(round < 4 ? 200 : 70000); /* once: MB_MIN is a macro */
            size_t k = MB_MIN(len - off, r);
            mb_sha256_ni_update(&s, buf + off, k);
            off += k;
        }
        uint8_t a[32], b[32];
        mb_sha256_ni_final(&s, b);
        ref(buf, len, a);
        assert_memory_equal(a, b, 32);
        /* And through the public API, whichever implementation it picked. */
        mb_sha256(buf, len, b);
        assert_memory_equal(a, b, 32);
    }
    free(buf);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    if (!mb_sha256_ni_available()) {
        printf("skipped: this CPU has no SHA-NI\n");
        return MB_TEST_SKIP;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_all_lengths),
        cmocka_unit_test(test_random_pieces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
