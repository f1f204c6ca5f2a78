/*
 * mm_avx512.c - AVX-512 (F/BW/VL/DQ + VNNI) matmul kernels. Same structure as
 * mm_avx2.c with twice the width and vpdpbusd:
 *
 *  - 32-element block types take two blocks per 512-bit register. Weight
 *    codes are unsigned (Q4_0/Q5_0 stored +8/+16, Q8_0 flipped to q + 128 with
 *    an xor), and vpdpbusd accumulates u8 x s8 products in int32 lanes of four
 *    elements starting from the activation's -off * sum(a) (cpu_int.h), so
 *    each lane ends exact and one FMA per pair of blocks applies the scales.
 *  - K-quants take 64 elements per register; vpmaddubsw + vpmaddwd with the
 *    sub-block scales, as in the AVX2 file.
 *  - F32/F16/BF16: 16-wide FMAs.
 * Decode walks one weight row at a time (1x1: one ascending stream for the
 * hardware prefetcher; 4x1 tiles interleave four rows and ran at a third of
 * the bandwidth from DRAM), prefill runs 4x4 tiles, which the 32 vector
 * registers hold.
 */
#define MB_SIMD_AVX512 1
#include "cpu_int.h"
#include "simd_x86.h"

#ifdef MB_HAVE_X86
#include <immintrin.h>

MB_SIMD_BEGIN

#define MAXR     4
#define MAXC     4
#define PF_TILES 1

#if defined(__clang__)
#define UNROLL _Pragma("unroll")
#else
#define UNROLL _Pragma("GCC unroll 16")
#endif
#define ALWAYS_INLINE inline __attribute__((always_inline))

static inline unsigned short u16_at(const uint8_t *p)
{
    unsigned short h;
    memcpy(&h, p, 2);
    return h;
}

static inline float h2f(const uint8_t *p)
{
    return _cvtsh_ss(u16_at(p));
}

static inline void store_out(const struct mm_job *job, size_t c, size_t r, float v)
{
    float *y = job->y + c * job->y_stride + r;
    *y = job->accumulate ? *y + v : v;
}

/* [a x8 | b x8] */
static ALWAYS_INLINE __m512 pair_ps(float a, float b)
{
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(a)), _mm256_set1_ps(b), 1);
}

/* ------------------------------------------------- 32-element block types */

enum kind32 { K_Q4_0, K_Q4_1, K_Q5_0, K_Q5_1, K_Q8_0 };

static const size_t bsize32[] = { 18, 20, 22, 24, 34 };
static const size_t qs_off32[] = { 2, 4, 6, 8, 2 };

/* Two packed-nibble blocks -> 64 codes in element order (block 0 then block 1). */
static ALWAYS_INLINE __m512i nibbles64(const uint8_t *qs0, const uint8_t *qs1)
{
    __m256i a = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs0));
    __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs1));
    __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
    /* shift the copies in 128-bit lanes 1 and 3 right by 4 (per 16-bit element) */
    const long long f = 0x0004000400040004ll;
    v = _mm512_srlv_epi16(v, _mm512_set_epi64(f, f, 0, 0, f, f, 0, 0));
    return _mm512_and_si512(v, _mm512_set1_epi8(0x0f));
}

/* The codes of blocks b and b+1 of a row, 64 unsigned bytes in element order. */
static ALWAYS_INLINE __m512i codes_pair32(enum kind32 k, const uint8_t *row, size_t b)
{
    const uint8_t *b0 = row + b * bsize32[k], *b1 = b0 + bsize32[k];
    if (k == K_Q8_0) {
        __m512i v = _mm512_inserti64x4(
            _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(b0 + 2))),
            _mm256_loadu_si256((const __m256i *)(b1 + 2)), 1);
        return _mm512_xor_si512(v, _mm512_set1_epi8((char)0x80));
    }
    __m512i q = nibbles64(b0 + qs_off32[k], b1 + qs_off32[k]);
    if (k == K_Q5_0 || k == K_Q5_1) {
        const size_t qh = k == K_Q5_0 ? 2 : 4;
        uint32_t h0, h1;
        memcpy(&h0, b0 + qh, 4);
        memcpy(&h1, b1 + qh, 4);
        __mmask64 hm = (__mmask64)h0 | ((__mmask64)h1 << 32);
        q = _mm512_mask_add_epi8(q, hm, q, _mm512_set1_epi8(0x10));
    }
    return q;
}

/* Blocks b and b+1: codes, and the scales (and mins) as scalars. */
static ALWAYS_INLINE __m512i load_pair32(enum kind32 k, const uint8_t *row, size_t b, float *d0,
                                         float *d1, float *m0, float *m1)
{
    const uint8_t *b0 = row + b * bsize32[k], *b1 = b0 + bsize32[k];
    *d0 = h2f(b0);
    *d1 = h2f(b1);
    if (k == K_Q4_1 || k == K_Q5_1) {
        *m0 = h2f(b0 + 2);
        *m1 = h2f(b1 + 2);
    }
    return codes_pair32(k, row, b);
}

/*
 * The first four bytes of eight consecutive blocks as 16 floats: d0, m0, d1,
 * m1, ... for Q4_1/Q5_1 (the odd ones are code bytes, unused, for the
 * others). The loads run on the integer ports, which the kernel leaves idle.
 */
static ALWAYS_INLINE __m512 scales8(const uint8_t *blk, size_t bs)
{
    uint64_t q[4];
    for (int p = 0; p < 4; p++) {
        uint32_t lo, hi;
        memcpy(&lo, blk + (size_t)(2 * p) * bs, 4);
        memcpy(&hi, blk + (size_t)(2 * p + 1) * bs, 4);
        q[p] = lo | (uint64_t)hi << 32;
    }
    return _mm512_cvtph_ps(
        _mm256_set_epi64x((long long)q[3], (long long)q[2], (long long)q[1], (long long)q[0]));
}

/* One trailing block (odd block count), 256-bit. */
static ALWAYS_INLINE __m256i load_one32(enum kind32 k, const uint8_t *row, size_t b, float *d,
                                        float *m)
{
    const uint8_t *b0 = row + b * bsize32[k];
    *d = h2f(b0);
    if (k == K_Q4_1 || k == K_Q5_1)
        *m = h2f(b0 + 2);
    if (k == K_Q8_0)
        return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(b0 + 2)),
                                _mm256_set1_epi8((char)0x80));
    __m128i t = _mm_loadu_si128((const __m128i *)(b0 + qs_off32[k]));
    __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0f));
    if (k == K_Q5_0 || k == K_Q5_1) {
        uint32_t h;
        memcpy(&h, b0 + (k == K_Q5_0 ? 2 : 4), 4);
        q = _mm256_mask_add_epi8(q, (__mmask32)h, q, _mm256_set1_epi8(0x10));
    }
    return q;
}

static ALWAYS_INLINE void tile32(enum kind32 k, const struct mm_job *job, size_t r, size_t c,
                                 const int R, const int C)
{
    const bool has_m = k == K_Q4_1 || k == K_Q5_1;
    const bool has_off = k != K_Q4_1 && k != K_Q5_1;
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
    __m512 acc[MAXR][MAXC];
    float macc[MAXR][MAXC];
    UNROLL for (int i = 0; i < R; i++) UNROLL for (int j = 0; j < C; j++)
    {
        acc[i][j] = _mm512_setzero_ps();
        macc[i][j] = 0.0f;
    }
    const size_t nb = job->nb, nb8 = nb & ~(size_t)7, nb2 = nb & ~(size_t)1;
    /* Groups of eight blocks: scales converted eight at a time, then spread per pair. */
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 0, 0, 0, 0, 0, 0, 0, 0);
    size_t b = 0;
    /* Decode streams weights from DRAM: prefetch the same blocks PF_TILES tiles ahead. */
    const size_t pf = (size_t)PF_TILES * (size_t)R * job->w_row_bytes;
    for (; b < nb8; b += 8) {
        __m512 d8[MAXR], da8[MAXC];
        UNROLL for (int i = 0; i < R; i++)
        {
            if (C == 1)
                for (size_t l = 0; l < 8 * bsize32[k]; l += 64)
                    _mm_prefetch((const char *)(wr[i] + b * bsize32[k] + pf + l), _MM_HINT_T0);
            const __m512 sm = scales8(wr[i] + b * bsize32[k], bsize32[k]);
            d8[i] = _mm512_permutexvar_ps(even, sm);
            if (has_m) {
                /* the "+m" terms of eight blocks: sum m_b * s_b into the low lanes */
                const __m512 m8 = _mm512_permutexvar_ps(odd, sm);
                UNROLL for (int j = 0; j < C; j++) acc[i][j] =
                    _mm512_fmadd_ps(_mm512_maskz_mov_ps(0xff, m8),
                                    _mm512_maskz_loadu_ps(0xff, as[j] + b), acc[i][j]);
            }
        }
        UNROLL for (int j = 0; j < C; j++) da8[j] =
            _mm512_castps256_ps512(_mm256_load_ps(ad[j] + b));
        for (int p = 0; p < 4; p++) {
            const __m512i pidx =
                _mm512_inserti64x4(_mm512_set1_epi32(2 * p), _mm256_set1_epi32(2 * p + 1), 1);
            __m512i wq[MAXR];
            __m512 dw[MAXR];
            UNROLL for (int i = 0; i < R; i++)
            {
                wq[i] = codes_pair32(k, wr[i], b + 2 * (size_t)p);
                dw[i] = _mm512_permutexvar_ps(pidx, d8[i]);
            }
            UNROLL for (int j = 0; j < C; j++)
            {
                const size_t bp = b + 2 * (size_t)p;
                const __m512i av = _mm512_load_si512((const void *)(aq[j] + bp * 32));
                const __m512 da = _mm512_permutexvar_ps(pidx, da8[j]);
                const __m512i init = has_off ? _mm512_load_si512((const void *)(ag[j] + bp * 8))
                                             : _mm512_setzero_si512();
                UNROLL for (int i = 0; i < R; i++)
                {
                    __m512i s = _mm512_dpbusd_epi32(init, wq[i], av);
                    acc[i][j] =
                        _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw[i], da), acc[i][j]);
                }
            }
        }
    }
    for (; b < nb2; b += 2) {
        __m512i wq[MAXR];
        __m512 dw[MAXR];
        float m0[MAXR], m1[MAXR];
        UNROLL for (int i = 0; i < R; i++)
        {
            float d0, d1;
            wq[i] = load_pair32(k, wr[i], b, &d0, &d1, &m0[i], &m1[i]);
            dw[i] = pair_ps(d0, d1);
        }
        UNROLL for (int j = 0; j < C; j++)
        {
            const __m512i av = _mm512_load_si512((const void *)(aq[j] + b * 32));
            const __m512 da = pair_ps(ad[j][b], ad[j][b + 1]);
            const __m512i init =
                has_off ? _mm512_load_si512((const void *)(ag[j] + b * 8)) : _mm512_setzero_si512();
            UNROLL for (int i = 0; i < R; i++)
            {
                __m512i s = _mm512_dpbusd_epi32(init, wq[i], av);
                acc[i][j] =
                    _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw[i], da), acc[i][j]);
                if (has_m)
                    macc[i][j] += m0[i] * as[j][b] + m1[i] * as[j][b + 1];
            }
        }
    }
    if (nb2 < nb) { /* the last, odd block */
        const size_t bl = nb2;
        UNROLL for (int i = 0; i < R; i++)
        {
            float d, m = 0.0f;
            __m256i wq = load_one32(k, wr[i], bl, &d, &m);
            UNROLL for (int j = 0; j < C; j++)
            {
                const __m256i av = _mm256_load_si256((const __m256i *)(aq[j] + bl * 32));
                const __m256i init = has_off ? _mm256_load_si256((const __m256i *)(ag[j] + bl * 8))
                                             : _mm256_setzero_si256();
                __m256i s = _mm256_dpbusd_epi32(init, wq, av);
                __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(d * ad[j][bl]));
                acc[i][j] = _mm512_add_ps(acc[i][j], _mm512_insertf32x8(_mm512_setzero_ps(), f, 0));
                if (has_m)
                    macc[i][j] += m * as[j][bl];
            }
        }
    }
    UNROLL for (int i = 0; i < R; i++) UNROLL for (int j = 0; j < C; j++)
        store_out(job, c + (size_t)j, r + (size_t)i, _mm512_reduce_add_ps(acc[i][j]) + macc[i][j]);
}

/* Decode: 1x1 tiles in row order; prefill: 4x4, edges with 1-row and 1-column tiles. */
#define DEF_RUN(name, tilefn, kind, CP)                                                          \
    static void run_##name(const struct mm_job *job, size_t r0, size_t r1, size_t c0, size_t c1) \
    {                                                                                            \
        size_t c = c0;                                                                           \
        for (; c + CP <= c1; c += CP) {                                                          \
            size_t r = r0;                                                                       \
            for (; r + 4 <= r1; r += 4)                                                          \
                tilefn(kind, job, r, c, 4, CP);                                                  \
            for (; r < r1; r++)                                                                  \
                tilefn(kind, job, r, c, 1, CP);                                                  \
        }                                                                                        \
        /* A lone activation row (decode) walks the weights one row at a time: a single          \
         * ascending stream the hardware prefetcher follows. Four interleaved rows read          \
         * memory out of order and ran at a third of the bandwidth (docs/performance.md). */     \
        for (; c < c1; c++)                                                                      \
            for (size_t r = r0; r < r1; r++)                                                     \
                tilefn(kind, job, r, c, 1, 1);                                                   \
    }

DEF_RUN(q4_0, tile32, K_Q4_0, 4)
DEF_RUN(q4_1, tile32, K_Q4_1, 4)
DEF_RUN(q5_0, tile32, K_Q5_0, 4)
DEF_RUN(q5_1, tile32, K_Q5_1, 4)
DEF_RUN(q8_0, tile32, K_Q8_0, 4)

/* ------------------------------------------------------------ K-quants */

enum kindk { K_Q4_K, K_Q5_K, K_Q6_K };

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
    __m512 acc[MAXR][MAXC];
    UNROLL for (int i = 0; i < R; i++) UNROLL for (int j = 0; j < C; j++) acc[i][j] =
        _mm512_setzero_ps();
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    const size_t bsz = k == K_Q4_K ? 144 : k == K_Q5_K ? 176 : 210;
    for (size_t b = 0; b < job->nb; b++) {
        __m512i isum[MAXR][MAXC];
        UNROLL for (int i = 0; i < R; i++) UNROLL for (int j = 0; j < C; j++) isum[i][j] =
            _mm512_setzero_si512();
        float dw[MAXR], dmw[MAXR];
        if (k == K_Q6_K) {
            __m256i sc16[MAXR];
            UNROLL for (int i = 0; i < R; i++)
            {
                const uint8_t *blk = wr[i] + b * bsz;
                dw[i] = h2f(blk + 208);
                sc16[i] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(blk + 192)));
            }
            for (int h = 0; h < 2; h++) {
                /* two registers per half: [q1 | q2] and [q3 | q4], 64 codes each */
                for (int g = 0; g < 2; g++) {
                    __m512i q[MAXR], scv[MAXR];
                    UNROLL for (int i = 0; i < R; i++)
                    {
                        const uint8_t *blk = wr[i] + b * bsz;
                        const __m512i ql = _mm512_loadu_si512((const void *)(blk + 64 * h));
                        const __m512i qh = _mm512_broadcast_i64x4(
                            _mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * h)));
                        __m512i lo, hi;
                        if (g == 0) {
                            lo = _mm512_and_si512(ql, m4);
                            hi = _mm512_sllv_epi16(qh, _mm512_inserti64x4(_mm512_set1_epi16(4),
                                                                          _mm256_set1_epi16(2), 1));
                        } else {
                            lo = _mm512_and_si512(_mm512_srli_epi16(ql, 4), m4);
                            hi = _mm512_srlv_epi16(qh, _mm512_inserti64x4(_mm512_setzero_si512(),
                                                                          _mm256_set1_epi16(2), 1));
                        }
                        q[i] = _mm512_or_si512(lo, _mm512_and_si512(hi, _mm512_set1_epi8(0x30)));
                        /* 16-bit lanes 8s..8s+7 take scale 8h + 4g + s (s = 0..3) */
                        const int base = 8 * h + 4 * g;
                        const __m512i idx = _mm512_set_epi64(
                            0x0003000300030003ll + base * 0x0001000100010001ll,
                            0x0003000300030003ll + base * 0x0001000100010001ll,
                            0x0002000200020002ll + base * 0x0001000100010001ll,
                            0x0002000200020002ll + base * 0x0001000100010001ll,
                            0x0001000100010001ll + base * 0x0001000100010001ll,
                            0x0001000100010001ll + base * 0x0001000100010001ll,
                            base * 0x0001000100010001ll, base * 0x0001000100010001ll);
                        scv[i] = _mm512_permutexvar_epi16(idx, _mm512_castsi256_si512(sc16[i]));
                    }
                    UNROLL for (int j = 0; j < C; j++)
                    {
                        const __m512i av =
                            _mm512_load_si512((const void *)(aq[j] + b * 256 + 128 * h + 64 * g));
                        UNROLL for (int i = 0; i < R; i++) isum[i][j] = _mm512_add_epi32(
                            isum[i][j], _mm512_madd_epi16(_mm512_maddubs_epi16(q[i], av), scv[i]));
                    }
                }
            }
            UNROLL for (int j = 0; j < C; j++)
            {
                const __m256i bs = _mm256_load_si256((const __m256i *)(abs_[j] + b * 16));
                UNROLL for (int i = 0; i < R; i++)
                {
                    __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(sc16[i], bs), 5);
                    __m512i tot = _mm512_sub_epi32(
                        isum[i][j], _mm512_inserti64x4(_mm512_setzero_si512(), off, 0));
                    acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(tot),
                                                _mm512_set1_ps(dw[i] * ad[j][b]), acc[i][j]);
                }
            }
            continue;
        }
        /* Q4_K / Q5_K: 4 chunks of 64 codes (2 sub-blocks each), one register per chunk. */
        __m512i scv[MAXR][4];
        __m256i mins16[MAXR];
        __m512i qhh[MAXR];
        UNROLL for (int i = 0; i < R; i++)
        {
            const uint8_t *blk = wr[i] + b * bsz;
            dw[i] = h2f(blk);
            dmw[i] = h2f(blk + 2);
            uint8_t s[8], m[8];
            for (int t = 0; t < 8; t++)
                k_scale_min(blk + 4, t, &s[t], &m[t]);
            for (int ch = 0; ch < 4; ch++)
                scv[i][ch] = _mm512_inserti64x4(_mm512_set1_epi16((short)s[2 * ch]),
                                                _mm256_set1_epi16((short)s[2 * ch + 1]), 1);
            mins16[i] = _mm256_setr_epi16((short)m[0], (short)m[0], (short)m[1], (short)m[1],
                                          (short)m[2], (short)m[2], (short)m[3], (short)m[3],
                                          (short)m[4], (short)m[4], (short)m[5], (short)m[5],
                                          (short)m[6], (short)m[6], (short)m[7], (short)m[7]);
            if (k == K_Q5_K)
                qhh[i] = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(blk + 16)));
        }
        for (int ch = 0; ch < 4; ch++) {
            __m512i q[MAXR];
            UNROLL for (int i = 0; i < R; i++)
            {
                const uint8_t *qs = wr[i] + b * bsz + (k == K_Q5_K ? 48 : 16) + 32 * ch;
                const __m256i t = _mm256_loadu_si256((const __m256i *)qs);
                q[i] = _mm512_and_si512(
                    _mm512_inserti64x4(_mm512_castsi256_si512(t), _mm256_srli_epi16(t, 4), 1), m4);
                if (k == K_Q5_K) {
                    const __m512i bit =
                        _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << (2 * ch))),
                                           _mm256_set1_epi8((char)(1 << (2 * ch + 1))), 1);
                    __mmask64 hm = _mm512_test_epi8_mask(qhh[i], bit);
                    q[i] = _mm512_mask_add_epi8(q[i], hm, q[i], _mm512_set1_epi8(0x10));
                }
            }
            UNROLL for (int j = 0; j < C; j++)
            {
                const __m512i av = _mm512_load_si512((const void *)(aq[j] + b * 256 + 64 * ch));
                UNROLL for (int i = 0; i < R; i++) isum[i][j] = _mm512_add_epi32(
                    isum[i][j], _mm512_madd_epi16(_mm512_maddubs_epi16(q[i], av), scv[i][ch]));
            }
        }
        UNROLL for (int j = 0; j < C; j++)
        {
            const __m256i bs = _mm256_load_si256((const __m256i *)(abs_[j] + b * 16));
            const float d8 = ad[j][b];
            UNROLL for (int i = 0; i < R; i++)
            {
                const __m256 mn = _mm256_cvtepi32_ps(_mm256_madd_epi16(mins16[i], bs));
                acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[i][j]),
                                            _mm512_set1_ps(dw[i] * d8), acc[i][j]);
                acc[i][j] = _mm512_sub_ps(
                    acc[i][j],
                    _mm512_insertf32x8(_mm512_setzero_ps(),
                                       _mm256_mul_ps(mn, _mm256_set1_ps(dmw[i] * d8)), 0));
            }
        }
    }
    UNROLL for (int i = 0; i < R; i++) UNROLL for (int j = 0; j < C; j++)
        store_out(job, c + (size_t)j, r + (size_t)i, _mm512_reduce_add_ps(acc[i][j]));
}

#define DEF_RUN_K(name, kind)                                                                    \
    static void run_##name(const struct mm_job *job, size_t r0, size_t r1, size_t c0, size_t c1) \
    {                                                                                            \
        size_t c = c0;                                                                           \
        for (; c + 2 <= c1; c += 2) {                                                            \
            size_t r = r0;                                                                       \
            for (; r + 4 <= r1; r += 4)                                                          \
                tilek(kind, job, r, c, 4, 2);                                                    \
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

static ALWAYS_INLINE __m512 load_w16(enum kindf k, const uint8_t *row, size_t i)
{
    switch (k) {
    case K_F16:
        return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + 2 * i)));
    case K_BF16:
        return _mm512_castsi512_ps(_mm512_slli_epi32(
            _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(row + 2 * i))), 16));
    default:
        return _mm512_loadu_ps((const void *)(row + 4 * i));
    }
}

static ALWAYS_INLINE float load_w1(enum kindf k, const uint8_t *row, size_t i)
{
    switch (k) {
    case K_F16:
        return h2f(row + 2 * i);
    case K_BF16:
        return mb_bf16_to_f32(u16_at(row + 2 * i));
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
    const size_t n = job->nb, n16 = n & ~(size_t)15;
    const uint8_t *wr[MAXR];
    const float *x[MAXC];
    UNROLL for (int i = 0; i < R; i++) wr[i] = job->w + (r + (size_t)i) * job->w_row_bytes;
    UNROLL for (int j = 0; j < C; j++) x[j] = act_x(job->a, c + (size_t)j);
    __m512 acc[MAXR][MAXC];
    UNROLL for (int i = 0; i < R; i++) UNROLL for (int j = 0; j < C; j++) acc[i][j] =
        _mm512_setzero_ps();
    for (size_t e = 0; e < n16; e += 16) {
        __m512 w[MAXR];
        UNROLL for (int i = 0; i < R; i++) w[i] = load_w16(k, wr[i], e);
        UNROLL for (int j = 0; j < C; j++)
        {
            const __m512 xv = _mm512_loadu_ps(x[j] + e);
            UNROLL for (int i = 0; i < R; i++) acc[i][j] = _mm512_fmadd_ps(w[i], xv, acc[i][j]);
        }
    }
    UNROLL for (int i = 0; i < R; i++) UNROLL for (int j = 0; j < C; j++)
    {
        float s = _mm512_reduce_add_ps(acc[i][j]);
        for (size_t e = n16; e < n; e++)
            s += load_w1(k, wr[i], e) * x[j][e];
        store_out(job, c + (size_t)j, r + (size_t)i, s);
    }
}

DEF_RUN(f32, tilef, K_F32, 4)
DEF_RUN(f16, tilef, K_F16, 4)
DEF_RUN(bf16, tilef, K_BF16, 4)

void mm_table_avx512(struct mm_kernel tab[MB_DTYPE_COUNT])
{
    tab[MB_DTYPE_F32] = (struct mm_kernel){ ACT_F32, 0, run_f32 };
    tab[MB_DTYPE_F16] = (struct mm_kernel){ ACT_F32, 0, run_f16 };
    tab[MB_DTYPE_BF16] = (struct mm_kernel){ ACT_F32, 0, run_bf16 };
    tab[MB_DTYPE_Q4_0] = (struct mm_kernel){ ACT_Q8_0, 8, run_q4_0 };
    tab[MB_DTYPE_Q4_1] = (struct mm_kernel){ ACT_Q8_1, 0, run_q4_1 };
    tab[MB_DTYPE_Q5_0] = (struct mm_kernel){ ACT_Q8_0, 16, run_q5_0 };
    tab[MB_DTYPE_Q5_1] = (struct mm_kernel){ ACT_Q8_1, 0, run_q5_1 };
    tab[MB_DTYPE_Q8_0] = (struct mm_kernel){ ACT_Q8_0, 128, run_q8_0 };
    tab[MB_DTYPE_Q4_K] = (struct mm_kernel){ ACT_Q8_K, 0, run_q4_k };
    tab[MB_DTYPE_Q5_K] = (struct mm_kernel){ ACT_Q8_K, 0, run_q5_k };
    tab[MB_DTYPE_Q6_K] = (struct mm_kernel){ ACT_Q8_K, 0, run_q6_k };
}

MB_SIMD_END

#else /* not x86 */

void mm_table_avx512(struct mm_kernel tab[MB_DTYPE_COUNT])
{
    (void)tab;
}

#endif
