/*
 * quant_act_avx2.c - AVX2 activation quantizers: the same bytes as
 * quant_act.c (same divisions, round-half-even, same order of the integer
 * sums), eight lanes at a time. Q8_K's per-block work is dominated by the
 * scalar search for the signed maximum, so only its rounding is vectorised.
 */
#define MB_SIMD_AVX2 1
#include "cpu_int.h"
#include "simd_x86.h"

#ifdef MB_HAVE_X86
#include <immintrin.h>
#include <math.h>

MB_SIMD_BEGIN

#define ROUND_NEAREST (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

static inline float hmax8(__m256 v)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* f32 -> f16 -> f32 with F16C (round to nearest even, like f16_round). */
static inline float f16_round_hw(float x)
{
    return _cvtsh_ss(_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT));
}

static inline int hsum8i(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* Round 32 floats times id and pack them to 32 int8 in order; *sum = their sum. */
static inline __m256i round_pack32(const float *x, __m256 id, int *sum)
{
    __m256i i0 =
        _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x), id), ROUND_NEAREST));
    __m256i i1 = _mm256_cvtps_epi32(
        _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 8), id), ROUND_NEAREST));
    __m256i i2 = _mm256_cvtps_epi32(
        _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 16), id), ROUND_NEAREST));
    __m256i i3 = _mm256_cvtps_epi32(
        _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 24), id), ROUND_NEAREST));
    if (sum)
        *sum = hsum8i(_mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3)));
    /* packs work within 128-bit lanes; the permute restores element order. */
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

static void quant_q8_32_avx2(enum act_fmt fmt, const float *x, struct act *a, size_t row)
{
    int8_t *qs = (int8_t *)(a->base + row * a->row_bytes);
    float *d = (float *)(a->base + row * a->row_bytes + a->o_d);
    float *s = (float *)(a->base + row * a->row_bytes + a->o_s);
    int32_t *g4 = (int32_t *)(a->base + row * a->row_bytes + a->o_g4);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i ones8 = _mm256_set1_epi8(1);
    const __m256i ones16 = _mm256_set1_epi16(1);
    const __m256i noff = _mm256_set1_epi32(-a->off);
    for (size_t b = 0; b < a->nb; b++) {
        const float *xb = x + b * 32;
        __m256 m = _mm256_andnot_ps(sign, _mm256_loadu_ps(xb));
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(xb + 8)));
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(xb + 16)));
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(xb + 24)));
        const float amax = hmax8(m);
        const float db = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        int sum;
        __m256i q = round_pack32(xb, _mm256_set1_ps(id), fmt == ACT_Q8_1 ? &sum : NULL);
        _mm256_storeu_si256((__m256i *)(qs + b * 32), q);
        d[b] = f16_round_hw(db);
        if (fmt == ACT_Q8_1)
            s[b] = f16_round_hw(db * (float)sum);
        if (a->off) {
            /* Sums of 4: |q| <= 127 so maddubs with ones cannot saturate. */
            __m256i g = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, q), ones16);
            _mm256_storeu_si256((__m256i *)(g4 + b * 8), _mm256_mullo_epi32(g, noff));
        }
    }
}

static void quant_q8_k_avx2(const float *x, struct act *a, size_t row)
{
    int8_t *qs = (int8_t *)(a->base + row * a->row_bytes);
    float *d = (float *)(a->base + row * a->row_bytes + a->o_d);
    int16_t *bsums = (int16_t *)(a->base + row * a->row_bytes + a->o_bsums);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i q127 = _mm256_set1_epi8(127);
    for (size_t b = 0; b < a->nb; b++) {
        const float *xb = x + b * MB_QK_K;
        int8_t *qb = qs + b * MB_QK_K;
        __m256 m = _mm256_setzero_ps();
        for (int j = 0; j < MB_QK_K; j += 8)
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(xb + j)));
        const float amax = hmax8(m);
        if (amax == 0.0f) {
            d[b] = 0.0f;
            memset(qb, 0, MB_QK_K);
        } else {
            float max = 0.0f;
            for (int j = 0; j < MB_QK_K; j++)
                if (fabsf(xb[j]) == amax) { /* the first element of largest magnitude */
                    max = xb[j];
                    break;
                }
            const float iscale = -127.0f / max;
            const __m256 vi = _mm256_set1_ps(iscale);
            for (int j = 0; j < MB_QK_K; j += 32) {
                /* round_pack32 saturates at -128/127; only +127 can overflow (clamped) */
                __m256i q = _mm256_min_epi8(round_pack32(xb + j, vi, NULL), q127);
                _mm256_storeu_si256((__m256i *)(qb + j), q);
            }
            d[b] = 1.0f / iscale;
        }
        for (int g = 0; g < MB_QK_K / 16; g++) {
            int sum = 0;
            for (int j = 0; j < 16; j++)
                sum += qb[g * 16 + j];
            bsums[b * (MB_QK_K / 16) + (size_t)g] = (int16_t)sum;
        }
    }
}

void act_quant_avx2(enum act_fmt fmt, const float *x, struct act *a, size_t row)
{
    if (fmt == ACT_Q8_K)
        quant_q8_k_avx2(x, a, row);
    else
        quant_q8_32_avx2(fmt, x, a, row);
}

MB_SIMD_END

#else /* not x86 */

void act_quant_avx2(enum act_fmt fmt, const float *x, struct act *a, size_t row)
{
    act_quant_scalar(fmt, x, a, row);
}

#endif
