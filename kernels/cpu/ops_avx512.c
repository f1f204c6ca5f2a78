/*
 * ops_avx512.c - AVX-512 versions of attention's two inner loops (the other
 * small ops stay on their AVX2 versions: they are memory-bound). Scores: each
 * key row is converted once for the G query heads of its KV head, 16 lanes
 * per FMA, and four keys' accumulators are reduced together with cross-lane
 * shuffles instead of one horizontal sum each. Weighted sum of V: the outputs
 * of all G heads stay in registers, 16 floats per FMA.
 */
#define MB_SIMD_AVX512 1
#include "cpu_int.h"
#include "simd_x86.h"

#ifdef MB_HAVE_X86
#include <immintrin.h>

MB_SIMD_BEGIN

#define ALWAYS_INLINE inline __attribute__((always_inline))

static ALWAYS_INLINE __m512 load16(const void *base, uint32_t type, size_t i)
{
    if (type == MB_DTYPE_F16)
        return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const mb_f16 *)base + i)));
    return _mm512_loadu_ps((const float *)base + i);
}

static ALWAYS_INLINE float load1(const void *base, uint32_t type, size_t i)
{
    if (type == MB_DTYPE_F16)
        return _cvtsh_ss(((const mb_f16 *)base)[i]);
    return ((const float *)base)[i];
}

/* The sums of four vectors' lanes, as four floats. */
static ALWAYS_INLINE __m128 reduce4(__m512 a, __m512 b, __m512 c, __m512 d)
{
    /* 128-bit lanes: ab = [a0+a2, a1+a3, b0+b2, b1+b3], likewise cd */
    __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xee));
    __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, 0x44), _mm512_shuffle_f32x4(c, d, 0xee));
    /* lane k holds four partial sums of vector k (a, b, c, d) */
    __m512 s =
        _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, 0x88), _mm512_shuffle_f32x4(ab, cd, 0xdd));
    s = _mm512_add_ps(s, _mm512_permute_ps(s, 0xb1));
    s = _mm512_add_ps(s, _mm512_permute_ps(s, 0x4e));
    return _mm512_castps512_ps128(_mm512_permutexvar_ps(
        _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), s));
}

static ALWAYS_INLINE void scores_g(const float *q, size_t q_stride, const void *k, uint32_t type,
                                   size_t n_keys, size_t d, float scale, float *scores,
                                   size_t s_stride, const int G)
{
    const size_t d16 = d & ~(size_t)15;
    size_t j = 0;
    /* four keys at a time: G x 4 accumulators, reduced together */
    for (; j + 4 <= n_keys; j += 4) {
        __m512 acc[8][4];
        for (int h = 0; h < G; h++)
            for (int t = 0; t < 4; t++)
                acc[h][t] = _mm512_setzero_ps();
        for (size_t i = 0; i < d16; i += 16) {
            __m512 kv[4];
            for (int t = 0; t < 4; t++)
                kv[t] = load16(k, type, (j + (size_t)t) * d + i);
            for (int h = 0; h < G; h++) {
                const __m512 qv = _mm512_loadu_ps(q + (size_t)h * q_stride + i);
                for (int t = 0; t < 4; t++)
                    acc[h][t] = _mm512_fmadd_ps(qv, kv[t], acc[h][t]);
            }
        }
        for (int h = 0; h < G; h++) {
            float s[4];
            _mm_storeu_ps(s, reduce4(acc[h][0], acc[h][1], acc[h][2], acc[h][3]));
            for (int t = 0; t < 4; t++) {
                for (size_t i = d16; i < d; i++)
                    s[t] += q[(size_t)h * q_stride + i] * load1(k, type, (j + (size_t)t) * d + i);
                scores[(size_t)h * s_stride + j + (size_t)t] = s[t] * scale;
            }
        }
    }
    for (; j < n_keys; j++)
        for (int h = 0; h < G; h++) {
            __m512 acc = _mm512_setzero_ps();
            for (size_t i = 0; i < d16; i += 16)
                acc = _mm512_fmadd_ps(_mm512_loadu_ps(q + (size_t)h * q_stride + i),
                                      load16(k, type, j * d + i), acc);
            float s = _mm512_reduce_add_ps(acc);
            for (size_t i = d16; i < d; i++)
                s += q[(size_t)h * q_stride + i] * load1(k, type, j * d + i);
            scores[(size_t)h * s_stride + j] = s * scale;
        }
}

static void attn_scores_g_avx512(const float *q, size_t q_stride, size_t g, const void *k,
                                 uint32_t type, size_t n_keys, size_t d, float scale, float *scores,
                                 size_t s_stride)
{
    switch (g) {
#define CASE(G)                                                                \
    case G:                                                                    \
        scores_g(q, q_stride, k, type, n_keys, d, scale, scores, s_stride, G); \
        break;
        CASE(1)
        CASE(2)
        CASE(3)
        CASE(4)
        CASE(5)
        CASE(6)
        CASE(7)
        CASE(8)
#undef CASE
    default:
        break;
    }
}

/* out_h += sum_j p_h[j] v_j: G heads x CH vectors of 16 outputs in registers. */
static ALWAYS_INLINE void accum_g(const float *p, size_t p_stride, const void *v, uint32_t type,
                                  size_t n, size_t d, float *out, size_t o_stride, const int G,
                                  const int CH)
{
    const size_t step = 16 * (size_t)CH;
    size_t i = 0;
    for (; i + step <= d; i += step) {
        __m512 o[8][4];
        for (int h = 0; h < G; h++)
            for (int c = 0; c < CH; c++)
                o[h][c] = _mm512_loadu_ps(out + (size_t)h * o_stride + i + 16 * (size_t)c);
        for (size_t j = 0; j < n; j++) {
            __m512 vv[4];
            for (int c = 0; c < CH; c++)
                vv[c] = load16(v, type, j * d + i + 16 * (size_t)c);
            for (int h = 0; h < G; h++) {
                const __m512 w = _mm512_set1_ps(p[(size_t)h * p_stride + j]);
                for (int c = 0; c < CH; c++)
                    o[h][c] = _mm512_fmadd_ps(w, vv[c], o[h][c]);
            }
        }
        for (int h = 0; h < G; h++)
            for (int c = 0; c < CH; c++)
                _mm512_storeu_ps(out + (size_t)h * o_stride + i + 16 * (size_t)c, o[h][c]);
    }
    for (; i < d; i++)
        for (size_t j = 0; j < n; j++) {
            const float vv = load1(v, type, j * d + i);
            for (int h = 0; h < G; h++)
                out[(size_t)h * o_stride + i] += p[(size_t)h * p_stride + j] * vv;
        }
}

static void attn_accum_g_avx512(const float *p, size_t p_stride, size_t g, const void *v,
                                uint32_t type, size_t n, size_t d, float *out, size_t o_stride)
{
    /* 64-wide chunks (a llama head) for up to 6 heads; narrower beyond (32 registers). */
    switch (g) {
    case 1:
        accum_g(p, p_stride, v, type, n, d, out, o_stride, 1, 4);
        break;
    case 2:
        accum_g(p, p_stride, v, type, n, d, out, o_stride, 2, 4);
        break;
    case 3:
        accum_g(p, p_stride, v, type, n, d, out, o_stride, 3, 4);
        break;
    case 4:
        accum_g(p, p_stride, v, type, n, d, out, o_stride, 4, 4);
        break;
    case 5:
        accum_g(p, p_stride, v, type, n, d, out, o_stride, 5, 4);
        break;
    case 6:
        accum_g(p, p_stride, v, type, n, d, out, o_stride, 6, 2);
        break;
    case 7:
        accum_g(p, p_stride, v, type, n, d, out, o_stride, 7, 2);
        break;
    case 8:
        accum_g(p, p_stride, v, type, n, d, out, o_stride, 8, 2);
        break;
    default:
        break;
    }
}

void ops_table_avx512(struct ops_table *t)
{
    t->attn_scores_g = attn_scores_g_avx512;
    t->attn_accum_g = attn_accum_g_avx512;
}

MB_SIMD_END

#else /* not x86 */

void ops_table_avx512(struct ops_table *t)
{
    (void)t;
}

#endif
