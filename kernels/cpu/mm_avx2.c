/*
 * mm_avx2.c - AVX2/FMA/F16C matmul kernels for every weight type, working on
 * the GGUF blocks in place against quantized activations (cpu_int.h).
 *
 * Each type has one tile routine computing R weight rows x C activation rows
 * at once, written once as an always-inline function with R and C as
 * arguments and instantiated with constants, so the accumulators stay in
 * registers: decode uses 4x1 tiles (four independent weight streams), prefill
 * 4x2 or 2x2 (each unpacked weight block is reused by every activation row of
 * the tile, each activation block by every weight row).
 *
 * Integer dot products: _mm256_maddubs_epi16 multiplies unsigned weight codes
 * by signed activation quants into pairs of int16 (no saturation: codes are at
 * most 6 bits, or the sign trick is used for Q8_0), _mm256_madd_epi16 widens to
 * int32 lanes of four consecutive elements. Offset types (Q4_0 q-8, Q5_0 q-16)
 * start each block's lanes at the activation's precomputed -off * sum(a), so
 * the int32 block sums are exact; the K-quants multiply the int16 pairs by
 * their sub-block scales in the same madd. One float FMA per block and pair
 * applies d_w * d_a, as ggml does.
 */
#define MB_SIMD_AVX2 1
#include "cpu_int.h"
#include "simd_x86.h"

#ifdef MB_HAVE_X86
#include <immintrin.h>

MB_SIMD_BEGIN

#define MAXR 4
#define MAXC 4

#if defined(__clang__)
#define UNROLL _Pragma("unroll")
#else
#define UNROLL _Pragma("GCC unroll 16")
#endif
#define ALWAYS_INLINE inline __attribute__((always_inline))

/* An f16 at p as float, with F16C (exact, like mb_f16_to_f32). */
static inline float h2f(const void *p)
{
    unsigned short h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline void store_out(const struct mm_job *job, size_t c, size_t r, float v)
{
    float *y = job->y + c * job->y_stride + r;
    *y = job->accumulate ? *y + v : v;
}

/* 16 bytes of packed nibbles -> 32 bytes: low nibbles (elements 0-15), then high (16-31). */
static ALWAYS_INLINE __m256i nibbles32(const uint8_t *qs)
{
    __m128i t = _mm_loadu_si128((const __m128i *)qs);
    __m256i v = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}

/* 32 bits -> 32 bytes, 0x10 where the bit is set (the fifth bit of Q5 codes). */
static ALWAYS_INLINE __m256i bits32_x10(const uint8_t *qh)
{
    uint32_t h;
    memcpy(&h, qh, 4);
    const __m256i shuf = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2,
                                          2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)h), shuf);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

/* ------------------------------------------------- 32-element block types */

enum kind32 { K_Q4_0, K_Q4_1, K_Q5_0, K_Q5_1, K_Q8_0 };

/* Block b of a weight row: codes (unsigned, or signed for Q8_0), scale, min. */
static ALWAYS_INLINE void load_block32(enum kind32 k, const uint8_t *row, size_t b, __m256i *q,
                                       float *d, float *m)
{
    switch (k) {
    case K_Q4_0: {
        const uint8_t *blk = row + b * 18;
        *d = h2f(blk);
        *q = nibbles32(blk + 2);
        break;
    }
    case K_Q4_1: {
        const uint8_t *blk = row + b * 20;
        *d = h2f(blk);
        *m = h2f(blk + 2);
        *q = nibbles32(blk + 4);
        break;
    }
    case K_Q5_0: {
        const uint8_t *blk = row + b * 22;
        *d = h2f(blk);
        *q = _mm256_or_si256(nibbles32(blk + 6), bits32_x10(blk + 2));
        break;
    }
    case K_Q5_1: {
        const uint8_t *blk = row + b * 24;
        *d = h2f(blk);
        *m = h2f(blk + 2);
        *q = _mm256_or_si256(nibbles32(blk + 8), bits32_x10(blk + 4));
        break;
    }
    case K_Q8_0: {
        const uint8_t *blk = row + b * 34;
        *d = h2f(blk);
        *q = _mm256_loadu_si256((const __m256i *)(blk + 2));
        break;
    }
    }
}

static ALWAYS_INLINE size_t block_bytes32(enum kind32 k)
{
    switch (k) {
    case K_Q4_0:
        return 18;
    case K_Q4_1:
        return 20;
    case K_Q5_0:
        return 22;
    case K_Q5_1:
        return 24;
    default:
        return 34;
    }
}

/* The 32 codes of block b of a row (as load_block32, without the scales). */
static ALWAYS_INLINE __m256i codes32(enum kind32 k, const uint8_t *row, size_t b)
{
    __m256i q;
    float d, m;
    load_block32(k, row, b, &q, &d, &m);
    (void)d;
    (void)m;
    return q;
}

/*
 * The first four bytes of four consecutive blocks as eight floats: d0, m0,
 * d1, m1, ... (for types without m the odd ones are code bytes, unused).
 */
static ALWAYS_INLINE __m256 scales4(const uint8_t *blk, size_t bs)
{
    uint32_t v[4];
    for (int i = 0; i < 4; i++)
        memcpy(&v[i], blk + (size_t)i * bs, 4);
    uint64_t lo = v[0] | (uint64_t)v[1] << 32, hi = v[2] | (uint64_t)v[3] << 32;
    return _mm256_cvtph_ps(_mm_set_epi64x((long long)hi, (long long)lo));
}

static ALWAYS_INLINE void tile32(enum kind32 k, const struct mm_job *job, size_t r, size_t c,
                                 const int R, const int C)
{
    const bool has_m = k == K_Q4_1 || k == K_Q5_1;
    const bool has_off = k == K_Q4_0 || k == K_Q5_0;
    const struct act *a = job->a;
    const uint8_t *wr[MAXR];
    const int8_t *aq[MAXC];
    const float *ad[MAXC], *as[MAXC];
    const int32_t *ag[MAXC];
    UNROLL for (int i = 0; i < R; i++) wr[i] = job->w + (r + (size_t)i) * job->w_row_bytes;
    UNROLL for (int j = 0; j < C; j++)
    {
        aq[j] = act_qs(a, c + (size_t)j);
        ad[j] = act_d(a, c + (size_t)j);
        as[j] = act_s(a, c + (size_t)j);
        ag[j] = act_g4(a, c + (size_t)j);
    }
    __m256 acc[MAXR][MAXC];
    float macc[MAXR][MAXC];
    UNROLL for (int i = 0; i < R; i++) UNROLL for (int j = 0; j < C; j++)
    {
        acc[i][j] = _mm256_setzero_ps();
        macc[i][j] = 0.0f;
    }
    const __m256i ones = _mm256_set1_epi16(1);
    size_t b = 0;
    if (C == 1) {
        /*
         * Decode: scales and mins of four blocks converted at once, and the
         * products d_w * d_a, m_w * s_a (exact: f16 times f16) formed four at a
         * time; per block, one permute picks the scale. The order of the
         * float sums is unchanged, so results are identical to the loop below.
         */
        const size_t bs = block_bytes32(k), nb4 = job->nb & ~(size_t)3;
        for (; b < nb4; b += 4) {
            const __m128 da4 = _mm_load_ps(ad[0] + b);
            const __m128 sa4 = has_m ? _mm_load_ps(as[0] + b) : da4;
            const __m256 dsa =
                _mm256_set_m128(_mm_unpackhi_ps(da4, sa4), _mm_unpacklo_ps(da4, sa4));
            __m256 prod[MAXR];
            UNROLL for (int i = 0; i < R; i++) prod[i] =
                _mm256_mul_ps(scales4(wr[i] + b * bs, bs), dsa);
            for (int q = 0; q < 4; q++) {
                const size_t bb = b + (size_t)q;
                const __m256i av = _mm256_load_si256((const __m256i *)(aq[0] + bb * 32));
                __m256i g = _mm256_setzero_si256();
                if (has_off)
                    g = _mm256_load_si256((const __m256i *)(ag[0] + bb * 8));
                UNROLL for (int i = 0; i < R; i++)
                {
                    __m256i wq = codes32(k, wr[i], bb), p;
                    if (k == K_Q8_0)
                        p = _mm256_maddubs_epi16(_mm256_sign_epi8(wq, wq),
                                                 _mm256_sign_epi8(av, wq));
                    else
                        p = _mm256_maddubs_epi16(wq, av);
                    __m256i sum = _mm256_madd_epi16(p, ones);
                    if (has_off)
                        sum = _mm256_add_epi32(sum, g);
                    const __m256 scale =
                        _mm256_permutevar8x32_ps(prod[i], _mm256_set1_epi32(2 * q));
                    acc[i][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), scale, acc[i][0]);
                    if (has_m)
                        macc[i][0] += _mm256_cvtss_f32(
                            _mm256_permutevar8x32_ps(prod[i], _mm256_set1_epi32(2 * q + 1)));
                }
            }
        }
    }
    for (; b < job->nb; b++) {
        __m256i wq[MAXR];
        float dw[MAXR], mw[MAXR];
        UNROLL for (int i = 0; i < R; i++) load_block32(k, wr[i], b, &wq[i], &dw[i], &mw[i]);
        __m256i wabs[MAXR];
        if (k == K_Q8_0)
            UNROLL for (int i = 0; i < R; i++) wabs[i] = _mm256_sign_epi8(wq[i], wq[i]);
        UNROLL for (int j = 0; j < C; j++)
        {
            const __m256i av = _mm256_load_si256((const __m256i *)(aq[j] + b * 32));
            const __m256 da = _mm256_broadcast_ss(ad[j] + b);
            __m256i g = _mm256_setzero_si256();
            if (has_off)
                g = _mm256_load_si256((const __m256i *)(ag[j] + b * 8));
            UNROLL for (int i = 0; i < R; i++)
            {
                __m256i p;
                if (k == K_Q8_0)
                    p = _mm256_maddubs_epi16(wabs[i], _mm256_sign_epi8(av, wq[i]));
                else
                    p = _mm256_maddubs_epi16(wq[i], av);
                __m256i s = _mm256_madd_epi16(p, ones);
                if (has_off)
                    s = _mm256_add_epi32(s, g);
                const __m256 scale = _mm256_mul_ps(_mm256_set1_ps(dw[i]), da);
                acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), scale, acc[i][j]);
                if (has_m)
                    macc[i][j] += mw[i] * as[j][b];
            }
        }
    }
    UNROLL for (int i = 0; i < R; i++) UNROLL for (int j = 0; j < C; j++)
        store_out(job, c + (size_t)j, r + (size_t)i, hsum8(acc[i][j]) + macc[i][j]);
}

/*
 * Walk [r0, r1) x [c0, c1) in RxC tiles with smaller tiles at the edges:
 * activation rows in pairs (singles at the end), weight rows in fours.
 */
#define DEF_RUN(name, tilefn, kind)                                                              \
    static void run_##name(const struct mm_job *job, size_t r0, size_t r1, size_t c0, size_t c1) \
    {                                                                                            \
        size_t c = c0;                                                                           \
        for (; c + 2 <= c1; c += 2) {                                                            \
            size_t r = r0;                                                                       \
            for (; r + 4 <= r1; r += 4)                                                          \
                tilefn(kind, job, r, c, 4, 2);                                                   \
            for (; r < r1; r++)                                                                  \
                tilefn(kind, job, r, c, 1, 2);                                                   \
        }                                                                                        \
        for (; c < c1; c++) {                                                                    \
            size_t r = r0;                                                                       \
            for (; r + 4 <= r1; r += 4)                                                          \
                tilefn(kind, job, r, c, 4, 1);                                                   \
            for (; r < r1; r++)                                                                  \
                tilefn(kind, job, r, c, 1, 1);                                                   \
        }                                                                                        \
    }

DEF_RUN(q4_0, tile32, K_Q4_0)
DEF_RUN(q4_1, tile32, K_Q4_1)
DEF_RUN(q5_0, tile32, K_Q5_0)
DEF_RUN(q5_1, tile32, K_Q5_1)
DEF_RUN(q8_0, tile32, K_Q8_0)

/* ------------------------------------------------------------ K-quants */

enum kindk { K_Q4_K, K_Q5_K, K_Q6_K };

/* Sub-block scales and mins of a Q4_K/Q5_K super-block as int16 broadcasts per sub-block. */
static ALWAYS_INLINE void k4_scales(const uint8_t *scales, int16_t sc[8], __m256i *mins16)
{
    uint8_t s[8], m[8];
    for (int j = 0; j < 8; j++)
        k_scale_min(scales, j, &s[j], &m[j]);
    for (int j = 0; j < 8; j++)
        sc[j] = (int16_t)s[j];
    /* mins paired with the 16 bsums: m[j] against bsums 2j and 2j+1 */
    *mins16 = _mm256_setr_epi16((short)m[0], (short)m[0], (short)m[1], (short)m[1], (short)m[2],
                                (short)m[2], (short)m[3], (short)m[3], (short)m[4], (short)m[4],
                                (short)m[5], (short)m[5], (short)m[6], (short)m[6], (short)m[7],
                                (short)m[7]);
}

static ALWAYS_INLINE void tilek(enum kindk k, const struct mm_job *job, size_t r, size_t c,
                                const int R, const int C)
{
    const struct act *a = job->a;
    const uint8_t *wr[MAXR];
    const int8_t *aq[MAXC];
    const float *ad[MAXC];
    const int16_t *abs_[MAXC];
    UNROLL for (int i = 0; i < R; i++) wr[i] = job->w + (r + (size_t)i) * job->w_row_bytes;
    UNROLL for (int j = 0; j < C; j++)
    {
        aq[j] = act_qs(a, c + (size_t)j);
        ad[j] = act_d(a, c + (size_t)j);
        abs_[j] = act_bsums(a, c + (size_t)j);
    }
    __m256 acc[MAXR][MAXC];
    UNROLL for (int i = 0; i < R; i++) UNROLL for (int j = 0; j < C; j++) acc[i][j] =
        _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    const size_t bsz = k == K_Q4_K ? 144 : k == K_Q5_K ? 176 : 210;
    for (size_t b = 0; b < job->nb; b++) {
        __m256i isum[MAXR][MAXC];
        UNROLL for (int i = 0; i < R; i++) UNROLL for (int j = 0; j < C; j++) isum[i][j] =
            _mm256_setzero_si256();
        float dw[MAXR], dmw[MAXR];
        if (k == K_Q6_K) {
            /* 2 halves x 4 groups of 32 codes; scales as int16 pairs per 16 elements. */
            __m256i sc16[MAXR];
            UNROLL for (int i = 0; i < R; i++)
            {
                const uint8_t *blk = wr[i] + b * bsz;
                dw[i] = h2f(blk + 208);
                sc16[i] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(blk + 192)));
            }
            for (int h = 0; h < 2; h++) {
                /* scale shuffles: group t takes scale 2t in the low lane, 2t+1 in the high lane */
                for (int t = 0; t < 4; t++) {
                    const int s0 = 8 * h + 2 * t, s1 = s0 + 1;
                    __m256i q[MAXR], scv[MAXR];
                    UNROLL for (int i = 0; i < R; i++)
                    {
                        const uint8_t *blk = wr[i] + b * bsz;
                        const __m256i ql =
                            _mm256_loadu_si256((const __m256i *)(blk + 64 * h + 32 * (t & 1)));
                        const __m256i qh =
                            _mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * h));
                        __m256i lo = t < 2 ? _mm256_and_si256(ql, m4)
                                           : _mm256_and_si256(_mm256_srli_epi16(ql, 4), m4);
                        __m256i hi;
                        switch (t) {
                        case 0:
                            hi = _mm256_slli_epi16(qh, 4);
                            break;
                        case 1:
                            hi = _mm256_slli_epi16(qh, 2);
                            break;
                        case 2:
                            hi = qh;
                            break;
                        default:
                            hi = _mm256_srli_epi16(qh, 2);
                            break;
                        }
                        q[i] = _mm256_or_si256(lo, _mm256_and_si256(hi, _mm256_set1_epi8(0x30)));
                        int16_t v0 = (int16_t)(int8_t)blk[192 + s0];
                        int16_t v1 = (int16_t)(int8_t)blk[192 + s1];
                        scv[i] = _mm256_set_m128i(_mm_set1_epi16(v1), _mm_set1_epi16(v0));
                    }
                    UNROLL for (int j = 0; j < C; j++)
                    {
                        const __m256i av = _mm256_load_si256(
                            (const __m256i *)(aq[j] + b * 256 + 128 * h + 32 * t));
                        UNROLL for (int i = 0; i < R; i++) isum[i][j] = _mm256_add_epi32(
                            isum[i][j], _mm256_madd_epi16(_mm256_maddubs_epi16(q[i], av), scv[i]));
                    }
                }
            }
            /* codes were stored +32: subtract 32 * sum_s sc_s * bsums_s */
            UNROLL for (int j = 0; j < C; j++)
            {
                const __m256i bs = _mm256_load_si256((const __m256i *)(abs_[j] + b * 16));
                UNROLL for (int i = 0; i < R; i++)
                {
                    __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(sc16[i], bs), 5);
                    isum[i][j] = _mm256_sub_epi32(isum[i][j], off);
                    acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[i][j]),
                                                _mm256_set1_ps(dw[i] * ad[j][b]), acc[i][j]);
                }
            }
            continue;
        }
        /* Q4_K / Q5_K: 4 chunks of 64 = 2 sub-blocks of 32 each. */
        int16_t sc[MAXR][8];
        __m256i mins16[MAXR], hb[MAXR];
        UNROLL for (int i = 0; i < R; i++)
        {
            const uint8_t *blk = wr[i] + b * bsz;
            dw[i] = h2f(blk);
            dmw[i] = h2f(blk + 2);
            k4_scales(blk + 4, sc[i], &mins16[i]);
            if (k == K_Q5_K)
                hb[i] = _mm256_loadu_si256((const __m256i *)(blk + 16));
        }
        for (int ch = 0; ch < 4; ch++) {
            __m256i lo[MAXR], hi[MAXR];
            UNROLL for (int i = 0; i < R; i++)
            {
                const uint8_t *qs = wr[i] + b * bsz + (k == K_Q5_K ? 48 : 16) + 32 * ch;
                const __m256i q = _mm256_loadu_si256((const __m256i *)qs);
                lo[i] = _mm256_and_si256(q, m4);
                hi[i] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
                if (k == K_Q5_K) {
                    const __m256i one = _mm256_set1_epi8(1);
                    lo[i] =
                        _mm256_or_si256(lo[i], _mm256_slli_epi16(_mm256_and_si256(hb[i], one), 4));
                    hb[i] = _mm256_srli_epi16(hb[i], 1);
                    hi[i] =
                        _mm256_or_si256(hi[i], _mm256_slli_epi16(_mm256_and_si256(hb[i], one), 4));
                    hb[i] = _mm256_srli_epi16(hb[i], 1);
                }
            }
            UNROLL for (int j = 0; j < C; j++)
            {
                const int8_t *qa = aq[j] + b * 256 + 64 * ch;
                const __m256i a0 = _mm256_load_si256((const __m256i *)qa);
                const __m256i a1 = _mm256_load_si256((const __m256i *)(qa + 32));
                UNROLL for (int i = 0; i < R; i++)
                {
                    __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo[i], a0),
                                                   _mm256_set1_epi16(sc[i][2 * ch]));
                    __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi[i], a1),
                                                   _mm256_set1_epi16(sc[i][2 * ch + 1]));
                    isum[i][j] = _mm256_add_epi32(isum[i][j], _mm256_add_epi32(p0, p1));
                }
            }
        }
        UNROLL for (int j = 0; j < C; j++)
        {
            const __m256i bs = _mm256_load_si256((const __m256i *)(abs_[j] + b * 16));
            const float d8 = ad[j][b];
            UNROLL for (int i = 0; i < R; i++)
            {
                const __m256 mn = _mm256_cvtepi32_ps(_mm256_madd_epi16(mins16[i], bs));
                acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[i][j]),
                                            _mm256_set1_ps(dw[i] * d8), acc[i][j]);
                acc[i][j] = _mm256_fnmadd_ps(mn, _mm256_set1_ps(dmw[i] * d8), acc[i][j]);
            }
        }
    }
    UNROLL for (int i = 0; i < R; i++) UNROLL for (int j = 0; j < C; j++)
        store_out(job, c + (size_t)j, r + (size_t)i, hsum8(acc[i][j]));
}

/* K-quant tiles are smaller (more live registers per pair): 2x2, 2x1, 1x1. */
#define DEF_RUN_K(name, kind)                                                                    \
    static void run_##name(const struct mm_job *job, size_t r0, size_t r1, size_t c0, size_t c1) \
    {                                                                                            \
        size_t c = c0;                                                                           \
        for (; c + 2 <= c1; c += 2) {                                                            \
            size_t r = r0;                                                                       \
            for (; r + 2 <= r1; r += 2)                                                          \
                tilek(kind, job, r, c, 2, 2);                                                    \
            for (; r < r1; r++)                                                                  \
                tilek(kind, job, r, c, 1, 2);                                                    \
        }                                                                                        \
        for (; c < c1; c++) {                                                                    \
            size_t r = r0;                                                                       \
            for (; r + 2 <= r1; r += 2)                                                          \
                tilek(kind, job, r, c, 2, 1);                                                    \
            for (; r < r1; r++)                                                                  \
                tilek(kind, job, r, c, 1, 1);                                                    \
        }                                                                                        \
    }

DEF_RUN_K(q4_k, K_Q4_K)
DEF_RUN_K(q5_k, K_Q5_K)
DEF_RUN_K(q6_k, K_Q6_K)

/* ------------------------------------------------------ F32, F16, BF16 */

enum kindf { K_F32, K_F16, K_BF16 };

static ALWAYS_INLINE __m256 load_w8(enum kindf k, const uint8_t *row, size_t i)
{
    switch (k) {
    case K_F16:
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + 2 * i)));
    case K_BF16:
        return _mm256_castsi256_ps(_mm256_slli_epi32(
            _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(row + 2 * i))), 16));
    default:
        return _mm256_loadu_ps((const float *)(const void *)(row + 4 * i));
    }
}

static ALWAYS_INLINE float load_w1(enum kindf k, const uint8_t *row, size_t i)
{
    switch (k) {
    case K_F16:
        return h2f(row + 2 * i);
    case K_BF16: {
        mb_bf16 h;
        memcpy(&h, row + 2 * i, 2);
        return mb_bf16_to_f32(h);
    }
    default: {
        float v;
        memcpy(&v, row + 4 * i, 4);
        return v;
    }
    }
}

static ALWAYS_INLINE void tilef(enum kindf k, const struct mm_job *job, size_t r, size_t c,
                                const int R, const int C)
{
    const size_t n = job->nb, n8 = n & ~(size_t)7;
    const uint8_t *wr[MAXR];
    const float *x[MAXC];
    UNROLL for (int i = 0; i < R; i++) wr[i] = job->w + (r + (size_t)i) * job->w_row_bytes;
    UNROLL for (int j = 0; j < C; j++) x[j] = act_x(job->a, c + (size_t)j);
    __m256 acc[MAXR][MAXC];
    UNROLL for (int i = 0; i < R; i++) UNROLL for (int j = 0; j < C; j++) acc[i][j] =
        _mm256_setzero_ps();
    for (size_t e = 0; e < n8; e += 8) {
        __m256 w[MAXR];
        UNROLL for (int i = 0; i < R; i++) w[i] = load_w8(k, wr[i], e);
        UNROLL for (int j = 0; j < C; j++)
        {
            const __m256 xv = _mm256_loadu_ps(x[j] + e);
            UNROLL for (int i = 0; i < R; i++) acc[i][j] = _mm256_fmadd_ps(w[i], xv, acc[i][j]);
        }
    }
    UNROLL for (int i = 0; i < R; i++) UNROLL for (int j = 0; j < C; j++)
    {
        float s = hsum8(acc[i][j]);
        for (size_t e = n8; e < n; e++)
            s += load_w1(k, wr[i], e) * x[j][e];
        store_out(job, c + (size_t)j, r + (size_t)i, s);
    }
}

DEF_RUN(f32, tilef, K_F32)
DEF_RUN(f16, tilef, K_F16)
DEF_RUN(bf16, tilef, K_BF16)

void mm_table_avx2(struct mm_kernel tab[MB_DTYPE_COUNT])
{
    tab[MB_DTYPE_F32] = (struct mm_kernel){ ACT_F32, 0, run_f32 };
    tab[MB_DTYPE_F16] = (struct mm_kernel){ ACT_F32, 0, run_f16 };
    tab[MB_DTYPE_BF16] = (struct mm_kernel){ ACT_F32, 0, run_bf16 };
    tab[MB_DTYPE_Q4_0] = (struct mm_kernel){ ACT_Q8_0, 8, run_q4_0 };
    tab[MB_DTYPE_Q4_1] = (struct mm_kernel){ ACT_Q8_1, 0, run_q4_1 };
    tab[MB_DTYPE_Q5_0] = (struct mm_kernel){ ACT_Q8_0, 16, run_q5_0 };
    tab[MB_DTYPE_Q5_1] = (struct mm_kernel){ ACT_Q8_1, 0, run_q5_1 };
    tab[MB_DTYPE_Q8_0] = (struct mm_kernel){ ACT_Q8_0, 0, run_q8_0 };
    tab[MB_DTYPE_Q4_K] = (struct mm_kernel){ ACT_Q8_K, 0, run_q4_k };
    tab[MB_DTYPE_Q5_K] = (struct mm_kernel){ ACT_Q8_K, 0, run_q5_k };
    tab[MB_DTYPE_Q6_K] = (struct mm_kernel){ ACT_Q8_K, 0, run_q6_k };
}

MB_SIMD_END

#else /* not x86 */

void mm_table_avx2(struct mm_kernel tab[MB_DTYPE_COUNT])
{
    (void)tab;
}

#endif
