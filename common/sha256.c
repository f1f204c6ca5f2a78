/*
 * sha256.c - SHA-256 (FIPS 180-4) behind mb_sha256_*: a portable C compression
 * function and, on x86-64 CPUs with the SHA extensions (SHA-NI), a hardware
 * path chosen once at first use. Every integrity check in the project (pack
 * members, downloads, installed files) hashes through here, so its speed sets
 * the speed of build, verify and install.
 */
#include "mb_common.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t ror32(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

static inline uint32_t load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* The portable compression function over whole 64-byte blocks. */
static void blocks_portable(uint32_t st[8], const uint8_t *p, size_t nblocks)
{
    uint32_t w[64];
    while (nblocks--) {
        for (int i = 0; i < 16; i++)
            w[i] = load_be32(p + 4 * i);
        for (int i = 16; i < 64; i++) {
            uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
            uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        uint32_t a = st[0], b = st[1], c = st[2], d = st[3];
        uint32_t e = st[4], f = st[5], g = st[6], h = st[7];
        for (int i = 0; i < 64; i++) {
            uint32_t t1 = h + (ror32(e, 6) ^ ror32(e, 11) ^ ror32(e, 25)) + ((e & f) ^ (~e & g)) +
                          K256[i] + w[i];
            uint32_t t2 =
                (ror32(a, 2) ^ ror32(a, 13) ^ ror32(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            h = g;
            g = f;
            f = e;
            e = d + t1;
            d = c;
            c = b;
            b = a;
            a = t1 + t2;
        }
        st[0] += a;
        st[1] += b;
        st[2] += c;
        st[3] += d;
        st[4] += e;
        st[5] += f;
        st[6] += g;
        st[7] += h;
        p += 64;
    }
}

#if defined(__x86_64__)
/*
 * SHA-NI: the state lives in two registers, ABEF and CDGH; each
 * sha256rnds2 does two rounds, and msg1/msg2 compute the message schedule
 * four words at a time: W[t] = msg2(msg1(W[t-4], W[t-3]) + W[t-7..t-4], W[t-1]).
 */
__attribute__((target("sha,sse4.1,ssse3"))) static void
blocks_shani(uint32_t st[8], const uint8_t *p, size_t nblocks)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bll, 0x0405060700010203ll);
    __m128i dcba = _mm_loadu_si128((const __m128i *)(const void *)&st[0]);
    __m128i hgfe = _mm_loadu_si128((const __m128i *)(const void *)&st[4]);
    __m128i badc = _mm_shuffle_epi32(dcba, 0xB1);
    __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);
    __m128i abef = _mm_alignr_epi8(badc, efgh, 8);
    __m128i cdgh = _mm_blend_epi16(efgh, badc, 0xF0);

    while (nblocks--) {
        __m128i save_abef = abef, save_cdgh = cdgh;
        __m128i w[4];
        for (int i = 0; i < 4; i++)
            w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 16 * i)),
                                    bswap);
        for (int g = 0; g < 16; g++) {
            __m128i wg = w[g & 3];
            __m128i wk =
                _mm_add_epi32(wg, _mm_loadu_si128((const __m128i *)(const void *)&K256[4 * g]));
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
            abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));
            if (g < 12) {
                /* Schedule group g+4 from groups g..g+3. */
                __m128i x = _mm_sha256msg1_epu32(w[g & 3], w[(g + 1) & 3]);
                x = _mm_add_epi32(x, _mm_alignr_epi8(w[(g + 3) & 3], w[(g + 2) & 3], 4));
                w[g & 3] = _mm_sha256msg2_epu32(x, w[(g + 3) & 3]);
            }
        }
        abef = _mm_add_epi32(abef, save_abef);
        cdgh = _mm_add_epi32(cdgh, save_cdgh);
        p += 64;
    }

    __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
    __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
    dcba = _mm_blend_epi16(feba, dchg, 0xF0);
    hgfe = _mm_alignr_epi8(dchg, feba, 8);
    _mm_storeu_si128((__m128i *)(void *)&st[0], dcba);
    _mm_storeu_si128((__m128i *)(void *)&st[4], hgfe);
}

/* True when the CPU has the SHA extensions (CPUID.7.0:EBX bit 29) and SSE4.1. */
static bool cpu_has_shani(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 19)) || !(c & (1u << 9)))
        return false;
    if (__get_cpuid_max(0, NULL) < 7)
        return false;
    __cpuid_count(7, 0, a, b, c, d);
    return (b >> 29) & 1u;
}
#endif

typedef void (*blocks_fn)(uint32_t st[8], const uint8_t *p, size_t nblocks);
static blocks_fn blocks_impl;

/* Pick the compression function once (MB_SHA256_PORTABLE=1 forces the C one). */
static blocks_fn pick_blocks(void)
{
    blocks_fn fn = __atomic_load_n(&blocks_impl, __ATOMIC_ACQUIRE);
    if (fn)
        return fn;
    fn = blocks_portable;
#if defined(__x86_64__)
    const char *force = getenv("MB_SHA256_PORTABLE");
    if (!(force && !strcmp(force, "1")) && cpu_has_shani())
        fn = blocks_shani;
#endif
    __atomic_store_n(&blocks_impl, fn, __ATOMIC_RELEASE);
    return fn;
}

const char *mb_sha256_impl(void)
{
    return pick_blocks() == blocks_portable ? "portable" : "sha-ni";
}

bool mb_sha256_select(const char *impl)
{
    blocks_fn fn = NULL;
    if (!strcmp(impl, "portable"))
        fn = blocks_portable;
#if defined(__x86_64__)
    else if (!strcmp(impl, "sha-ni") && cpu_has_shani())
        fn = blocks_shani;
#endif
    if (!fn)
        return false;
    __atomic_store_n(&blocks_impl, fn, __ATOMIC_RELEASE);
    return true;
}

void mb_sha256_init(struct mb_sha256 *h)
{
    static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    memcpy(h->st, iv, sizeof(iv));
    h->len = 0;
    h->nbuf = 0;
    h->blocks = pick_blocks();
}

void mb_sha256_update(struct mb_sha256 *h, const void *data, size_t n)
{
    const uint8_t *p = data;
    h->len += n;
    if (h->nbuf) {
        size_t take = MB_MIN(n, 64 - h->nbuf);
        memcpy(h->buf + h->nbuf, p, take);
        h->nbuf += take;
        p += take;
        n -= take;
        if (h->nbuf < 64)
            return;
        h->blocks(h->st, h->buf, 1);
        h->nbuf = 0;
    }
    if (n >= 64) {
        h->blocks(h->st, p, n / 64);
        p += n & ~(size_t)63;
        n &= 63;
    }
    if (n) {
        memcpy(h->buf, p, n);
        h->nbuf = n;
    }
}

void mb_sha256_final(struct mb_sha256 *h, uint8_t out[MB_SHA256_LEN])
{
    uint64_t bits = h->len * 8;
    uint8_t pad[72] = { 0x80 };
    size_t padlen = (h->nbuf < 56 ? 56 : 120) - h->nbuf;
    for (int i = 0; i < 8; i++)
        pad[padlen + (size_t)i] = (uint8_t)(bits >> (56 - 8 * i));
    mb_sha256_update(h, pad, padlen + 8);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(h->st[i] >> 24);
        out[4 * i + 1] = (uint8_t)(h->st[i] >> 16);
        out[4 * i + 2] = (uint8_t)(h->st[i] >> 8);
        out[4 * i + 3] = (uint8_t)h->st[i];
    }
}

void mb_sha256(const void *data, size_t n, uint8_t out[MB_SHA256_LEN])
{
    struct mb_sha256 h;
    mb_sha256_init(&h);
    mb_sha256_update(&h, data, n);
    mb_sha256_final(&h, out);
}
