/*
 * test_sha256.c - our SHA-256 (portable and SHA-NI) against libsodium's on
 * the FIPS vectors, random lengths 0..1100, and random streaming splits.
 */
#include "mb_test.h"

#include <sodium.h>

static void check_impl(const char *impl)
{
    if (!mb_sha256_select(impl)) {
        print_message("skipped: %s SHA-256 not available on this CPU\n", impl);
        return;
    }
    assert_string_equal(mb_sha256_impl(), impl);
    uint8_t want[32], got[32];
    char hex[65];
    mb_sha256("abc", 3, got);
    mb_hex_encode(got, 32, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    mb_sha256(two, strlen(two), got);
    mb_hex_encode(got, 32, hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

    static uint8_t data[1100];
    randombytes_buf(data, sizeof(data));
    for (size_t n = 0; n <= sizeof(data); n++) {
        crypto_hash_sha256(want, data, n);
        mb_sha256(data, n, got);
        if (memcmp(want, got, 32))
            fail_msg("%s: one-shot hash of %zu bytes differs", impl, n);
    }
    for (int trial = 0; trial < 300; trial++) {
        size_t n = randombytes_uniform(sizeof(data) + 1);
        struct mb_sha256 h;
        mb_sha256_init(&h);
        size_t off = 0;
        while (off < n) {
            size_t want_step = randombytes_uniform(200); /* MB_MIN evaluates twice */
            size_t step = MB_MIN(n - off, want_step);
            mb_sha256_update(&h, data + off, step);
            off += step;
        }
        mb_sha256_final(&h, got);
        crypto_hash_sha256(want, data, n);
        if (memcmp(want, got, 32))
            fail_msg("%s: streamed hash of %zu bytes differs", impl, n);
    }
}

static void test_portable(void **state)
{
    (void)state;
    check_impl("portable");
}

static void test_shani(void **state)
{
    (void)state;
    check_impl("sha-ni");
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_portable),
        cmocka_unit_test(test_shani),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
