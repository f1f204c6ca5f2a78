/*
 * test_dequant.c - mb_dequantize_row() on hand-made blocks: values worked out
 * by hand for one or two elements of every type (these pin the bit layouts),
 * then random blocks of every type checked element by element against a
 * second, independent description of each format written the way gguf-py's
 * numpy code reads it (reshapes and shifts, products rounded to float32 with
 * volatile so no fused multiply-add can hide a rounding-order bug). The
 * bit-exact comparison with gguf-py itself is tests/integration/t1010.
 */
#include "mb_test.h"
#include "mb_kernels.h"

#include <math.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static void put_f16(uint8_t *p, float v)
{
    mb_f16 h = mb_f32_to_f16(v);
    p[0] = (uint8_t)(h & 0xff);
    p[1] = (uint8_t)(h >> 8);
}

static float get_f16(const uint8_t *p)
{
    return mb_f16_to_f32((mb_f16)(p[0] | p[1] << 8));
}

/* A random finite f16 scale in roughly [-4, 4], sometimes zero or subnormal. */
static float rand_scale(void)
{
    uint32_t r = rnd() % 16;
    if (r == 0)
        return 0.0f;
    if (r == 1)
        return mb_f16_to_f32((mb_f16)(rnd() % 1024)); /* subnormal */
    float v = (float)(int32_t)(rnd() % 20001 - 10000) / 2500.0f;
    return mb_f16_to_f32(mb_f32_to_f16(v));
}

static bool same_bits(float a, float b)
{
    uint32_t x, y;
    memcpy(&x, &a, 4);
    memcpy(&y, &b, 4);
    return x == y;
}

/* d * q rounded once; d * q + m and d * q - m rounded twice. */
static float mul(float a, float b)
{
    volatile float p = a * b;
    return p;
}

static float add(float a, float b)
{
    volatile float s = a + b;
    return s;
}

/* ------------------------------------------------------------ references */

/* Element e of a 32-element block whose 4-bit codes are packed "low nibbles first". */
static unsigned nib32(const uint8_t *qs, unsigned e)
{
    return e < 16 ? qs[e] & 15u : qs[e - 16] >> 4;
}

static float ref_elem(uint32_t type, const uint8_t *blk, unsigned e)
{
    switch (type) {
    case MB_DTYPE_Q4_0:
        return mul(get_f16(blk), (float)((int)nib32(blk + 2, e) - 8));
    case MB_DTYPE_Q4_1:
        return add(mul(get_f16(blk), (float)nib32(blk + 4, e)), get_f16(blk + 2));
    case MB_DTYPE_Q5_0: {
        unsigned hb = (unsigned)(blk[2 + e / 8] >> (e % 8)) & 1u;
        return mul(get_f16(blk), (float)((int)(nib32(blk + 6, e) | hb << 4) - 16));
    }
    case MB_DTYPE_Q5_1: {
        unsigned hb = (unsigned)(blk[4 + e / 8] >> (e % 8)) & 1u;
        return add(mul(get_f16(blk), (float)(nib32(blk + 8, e) | hb << 4)), get_f16(blk + 2));
    }
    case MB_DTYPE_Q8_0:
        return mul((float)(int8_t)blk[2 + e], get_f16(blk));
    case MB_DTYPE_Q4_K:
    case MB_DTYPE_Q5_K: {
        /* gguf-py's get_scale_min: scales viewed as d[4], m[4], m_d[4]. */
        const uint8_t *s = blk + 4;
        unsigned j = e / 32, sc, mn;
        if (j < 4) {
            sc = s[j] & 0x3fu;
            mn = s[4 + j] & 0x3fu;
        } else {
            sc = (s[8 + j - 4] & 0x0fu) | ((unsigned)(s[j - 4] >> 2) & 0x30u);
            mn = (unsigned)(s[8 + j - 4] >> 4) | ((unsigned)(s[4 + j - 4] >> 2) & 0x30u);
        }
        const uint8_t *qs = blk + (type == MB_DTYPE_Q4_K ? 16 : 48);
        unsigned q = (unsigned)(qs[32 * (j / 2) + e % 32] >> (4 * (j % 2))) & 15u;
        if (type == MB_DTYPE_Q5_K)
            q |= ((unsigned)(blk[16 + e % 32] >> j) & 1u) << 4;
        float dl = mul(get_f16(blk), (float)sc);
        float ml = mul(get_f16(blk + 2), (float)mn);
        return add(mul(dl, (float)q), -ml);
    }
    case MB_DTYPE_Q6_K: {
        unsigned h = e / 128, r = e % 128;
        unsigned lo = (unsigned)(blk[64 * h + r % 64] >> (4 * (r / 64))) & 15u;
        unsigned hi = (unsigned)(blk[128 + 32 * h + r % 32] >> (2 * (r / 32))) & 3u;
        int q = (int)(lo | hi << 4) - 32;
        float dl = mul(get_f16(blk + 208), (float)(int8_t)blk[192 + e / 16]);
        return mul(dl, (float)q);
    }
    default:
        fail_msg("no reference for type %u", type);
        return 0;
    }
}

/* A random block: random bytes, then finite f16 scales where the format has them. */
static void rand_block(uint32_t type, uint8_t *blk, size_t size)
{
    for (size_t i = 0; i < size; i++)
        blk[i] = (uint8_t)rnd();
    switch (type) {
    case MB_DTYPE_Q4_1:
    case MB_DTYPE_Q5_1:
    case MB_DTYPE_Q4_K:
    case MB_DTYPE_Q5_K:
        put_f16(blk + 2, rand_scale());
        put_f16(blk, rand_scale());
        break;
    case MB_DTYPE_Q6_K:
        put_f16(blk + 208, rand_scale());
        break;
    default:
        put_f16(blk, rand_scale());
        break;
    }
}

static void check_random(uint32_t type)
{
    const struct mb_dtype_traits *t = mb_dtype_traits(type);
    assert_non_null(t);
    enum { NB = 64 };
    size_t n = (size_t)t->block_len * NB;
    uint8_t *src = mb_malloc((size_t)t->block_size * NB + 1);
    float *dst = mb_malloc(n * sizeof(float));
    assert_non_null(src);
    assert_non_null(dst);
    /* Offset by one byte: the kernels must not assume alignment. */
    uint8_t *s = src + 1;
    for (size_t b = 0; b < NB; b++)
        rand_block(type, s + b * t->block_size, t->block_size);
    assert_true(mb_dequantize_row(type, s, dst, n));
    for (size_t b = 0; b < NB; b++) {
        for (unsigned e = 0; e < t->block_len; e++) {
            float want = ref_elem(type, s + b * t->block_size, e);
            float got = dst[b * t->block_len + e];
            if (!same_bits(got, want))
                fail_msg("%s block %zu element %u: got %.9g, want %.9g", t->name, b, e, (double)got,
                         (double)want);
        }
    }
    mb_free(src);
    mb_free(dst);
}

/* ------------------------------------------------------------ tests */

static void test_unsupported(void **state)
{
    (void)state;
    uint8_t src[512] = { 0 };
    float dst[256];
    dst[0] = 42.0f;
    assert_false(mb_dequantize_row(MB_DTYPE_Q2_K, src, dst, 256));
    assert_false(mb_dequantize_row(MB_DTYPE_Q8_K, src, dst, 256));
    assert_false(mb_dequantize_row(MB_DTYPE_I8, src, dst, 8));
    assert_false(mb_dequantize_row(99, src, dst, 8));
    assert_false(mb_dequantize_row(MB_DTYPE_Q4_0, src, dst, 31)); /* not whole blocks */
    assert_false(mb_dequantize_row(MB_DTYPE_Q4_K, src, dst, 32));
    assert_true(dst[0] == 42.0f); /* nothing written */
    assert_false(mb_dequantize_supported(MB_DTYPE_Q3_K));
    assert_true(mb_dequantize_supported(MB_DTYPE_BF16));
    assert_true(mb_dequantize_row(MB_DTYPE_Q4_0, src, dst, 0)); /* empty is fine */
}

static void test_plain(void **state)
{
    (void)state;
    const float f[3] = { 1.5f, -0.0f, 3.0e-39f };
    float out[3];
    assert_true(mb_dequantize_row(MB_DTYPE_F32, f, out, 3));
    for (int i = 0; i < 3; i++)
        assert_true(same_bits(out[i], f[i]));
    /* f16: 1.0, -2.0, smallest subnormal, inf */
    const uint8_t h[] = { 0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0x00, 0x7c };
    float o4[4];
    assert_true(mb_dequantize_row(MB_DTYPE_F16, h, o4, 4));
    assert_true(o4[0] == 1.0f && o4[1] == -2.0f && o4[2] == 0x1p-24f && isinf(o4[3]));
    /* bf16: 1.0 (0x3f80), -3.5 (0xc060) */
    const uint8_t bf[] = { 0x80, 0x3f, 0x60, 0xc0 };
    assert_true(mb_dequantize_row(MB_DTYPE_BF16, bf, o4, 2));
    assert_true(o4[0] == 1.0f && o4[1] == -3.5f);
}

/* Values worked out by hand from the format descriptions in mb_dtype.h. */
static void test_by_hand(void **state)
{
    (void)state;
    float y[256];

    uint8_t q40[18] = { 0x00, 0x38 }; /* d = 0.5 */
    q40[2] = 0x1f;                    /* element 0: 15, element 16: 1 */
    assert_true(mb_dequantize_row(MB_DTYPE_Q4_0, q40, y, 32));
    assert_true(y[0] == 3.5f && y[16] == -3.5f && y[1] == -4.0f);

    uint8_t q41[20] = { 0x00, 0x34, 0x00, 0xbc }; /* d = 0.25, m = -1 */
    q41[4 + 3] = 0xa5;
    assert_true(mb_dequantize_row(MB_DTYPE_Q4_1, q41, y, 32));
    assert_true(y[3] == 0.25f && y[19] == 1.5f && y[0] == -1.0f);

    uint8_t q50[22] = { 0x00, 0x3c }; /* d = 1 */
    q50[2] = 0x04;                    /* high bit of element 2 */
    q50[4] = 0x04;                    /* high bit of element 18 */
    q50[6 + 2] = 0x31;
    assert_true(mb_dequantize_row(MB_DTYPE_Q5_0, q50, y, 32));
    assert_true(y[2] == 1.0f && y[18] == 3.0f && y[0] == -16.0f);

    uint8_t q51[24] = { 0x00, 0x40, 0x00, 0x38 }; /* d = 2, m = 0.5 */
    q51[4 + 3] = 0x80;                            /* high bit of element 31 */
    q51[8 + 15] = 0xf0;
    assert_true(mb_dequantize_row(MB_DTYPE_Q5_1, q51, y, 32));
    assert_true(y[31] == 62.5f && y[15] == 0.5f);

    uint8_t q80[34] = { 0x00, 0x30 }; /* d = 0.125 */
    q80[2 + 5] = 0x80;                /* -128 */
    q80[2 + 6] = 0x7f;
    assert_true(mb_dequantize_row(MB_DTYPE_Q8_0, q80, y, 32));
    assert_true(y[5] == -16.0f && y[6] == 15.875f && y[0] == 0.0f);

    /* Q4_K: d = 1, dmin = 0.5; sub-block 1: scale 3, min 4; sub-block 6:
     * scale 2 | 1<<4 = 18, min 5 | 3<<4 = 53 (the packed high bits). */
    uint8_t q4k[144] = { 0x00, 0x3c, 0x00, 0x38 };
    uint8_t *sc = q4k + 4;
    sc[1] = 3;
    sc[5] = 4;
    sc[10] = 0x52;
    sc[2] = 0x40;
    sc[6] = 0xc0;
    q4k[16 + 7] = 0x90;      /* element 32+7 of sub-block 1 (high nibble): 9 */
    q4k[16 + 96 + 1] = 0x0b; /* element 192+1 of sub-block 6 (low nibble): 11 */
    assert_true(mb_dequantize_row(MB_DTYPE_Q4_K, q4k, y, 256));
    assert_true(y[39] == 25.0f);   /* 3*9 - 0.5*4 */
    assert_true(y[193] == 171.5f); /* 18*11 - 0.5*53 */
    assert_true(y[192] == -26.5f);
    assert_true(y[2] == 0.0f); /* sub-block 0: scale 0 (sc[0] & 63), min 0 */

    uint8_t q5k[176] = { 0x00, 0x3c, 0x00, 0x38 };
    memcpy(q5k + 4, sc, 12);
    q5k[16 + 1] = 0x40;      /* qh[1] bit 6: high bit of element 1 of sub-block 6 */
    q5k[48 + 96 + 1] = 0x0b; /* low nibble 11 */
    assert_true(mb_dequantize_row(MB_DTYPE_Q5_K, q5k, y, 256));
    assert_true(y[193] == 459.5f); /* 18*27 - 26.5 */
    assert_true(y[192] == -26.5f);

    /* Q6_K element 200: second half, third quarter, l = 8: ql[64+8] high nibble,
     * qh[32+8] bits 4..5, scale 12. */
    uint8_t q6k[210] = { 0 };
    put_f16(q6k + 208, 0.5f);
    q6k[64 + 8] = 0x70;
    q6k[128 + 32 + 8] = 0x20;
    q6k[192 + 12] = (uint8_t)(int8_t)-3;
    assert_true(mb_dequantize_row(MB_DTYPE_Q6_K, q6k, y, 256));
    assert_true(y[200] == -10.5f); /* (0.5 * -3) * (7 | 2<<4) - 32) */
    assert_true(y[0] == 0.0f);     /* scale 0 */
}

/* The largest f16 scale with the extreme codes, and the sign of zero. */
static void test_extremes(void **state)
{
    (void)state;
    float y[256];
    uint8_t q80[34] = { 0xff, 0x7b }; /* d = 65504 */
    q80[2] = 0x80;
    assert_true(mb_dequantize_row(MB_DTYPE_Q8_0, q80, y, 32));
    assert_true(y[0] == -8384512.0f);

    uint8_t q6k[210] = { 0 };
    q6k[208] = 0xff;
    q6k[209] = 0x7b;
    q6k[192] = 0x80; /* scale -128; all codes 0 - 32 = -32 */
    assert_true(mb_dequantize_row(MB_DTYPE_Q6_K, q6k, y, 256));
    assert_true(y[0] == 268304384.0f && y[15] == 268304384.0f && y[16] == 0.0f);

    uint8_t q40[18] = { 0x00, 0xb8 }; /* d = -0.5 */
    memset(q40 + 2, 0x88, 16);        /* every code 8: (8 - 8) * -0.5 = -0 */
    assert_true(mb_dequantize_row(MB_DTYPE_Q4_0, q40, y, 32));
    assert_true(y[0] == 0.0f && signbit(y[0]) && signbit(y[31]));
}

static void test_random_blocks(void **state)
{
    (void)state;
    const uint32_t types[] = { MB_DTYPE_Q4_0, MB_DTYPE_Q4_1, MB_DTYPE_Q5_0, MB_DTYPE_Q5_1,
                               MB_DTYPE_Q8_0, MB_DTYPE_Q4_K, MB_DTYPE_Q5_K, MB_DTYPE_Q6_K };
    for (size_t i = 0; i < MB_ARRAY_LEN(types); i++)
        check_random(types[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unsupported),   cmocka_unit_test(test_plain),
        cmocka_unit_test(test_by_hand),       cmocka_unit_test(test_extremes),
        cmocka_unit_test(test_random_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
