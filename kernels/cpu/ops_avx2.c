/*
 * ops_avx2.c - AVX2/FMA/F16C versions of the small ops' row kernels
 * (cpu_int.h's ops_table): RMSNorm, SwiGLU, add/scale/axpy, softmax, the two
 * inner loops of attention, and f32 -> f16 rows for the KV cache. exp is a
 * vectorised Cody-Waite reduction with a degree-7 Taylor polynomial, within
 * 2 ulp of expf over the range that matters (tested against libm).
 */
#define MB_SIMD_AVX2 1
#include "cpu_int.h"
#include "simd_x86.h"

#ifdef MB_HAVE_X86
#include <immintrin.h>
#include <math.h>

MB_SIMD_BEGIN

static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float hmax8(__m256 v)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline double hsum4d(__m256d v)
{
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
    return _mm_cvtsd_f64(s);
}

/*
 * e^x: n = round(x / ln 2), r = x - n ln 2 (two-constant reduction), e^r by
 * Taylor to degree 7 (|r| <= 0.347: truncation < 1e-8 relative), times 2^n
 * applied in two halves so that both overflow to inf and gradual underflow
 * to 0 come out right. x is clamped to [-104, 89] first (beyond: 0 and inf).
 */
static inline __m256 exp8(__m256 x)
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-104.0f)), _mm256_set1_ps(89.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i n1 = _mm256_srai_epi32(ni, 1);
    __m256i n2 = _mm256_sub_epi32(ni, n1);
    __m256 s1 =
        _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
    __m256 s2 =
        _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

static void rmsnorm_row_avx2(const float *x, float *y, const float *w, size_t n, float eps)
{
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
        __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
        a0 = _mm256_fmadd_pd(lo, lo, a0);
        a1 = _mm256_fmadd_pd(hi, hi, a1);
    }
    double sum = hsum4d(_mm256_add_pd(a0, a1));
    for (; i < n; i++)
        sum += (double)x[i] * (double)x[i];
    const float mean = (float)(sum / (double)n);
    const float scale = 1.0f / sqrtf(mean + eps);
    const __m256 vs = _mm256_set1_ps(scale);
    i = 0;
    if (w) {
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vs),
                                                  _mm256_loadu_ps(w + i)));
        for (; i < n; i++)
            y[i] = (x[i] * scale) * w[i];
    } else {
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vs));
        for (; i < n; i++)
            y[i] = x[i] * scale;
    }
}

static void silu_mul_avx2(const float *g, const float *u, float *y, size_t n)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 vg = _mm256_loadu_ps(g + i);
        __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), vg));
        __m256 s = _mm256_div_ps(vg, _mm256_add_ps(one, e));
        _mm256_storeu_ps(y + i, _mm256_mul_ps(s, _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++)
        y[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static void add_avx2(const float *a, const float *b, float *y, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    for (; i < n; i++)
        y[i] = a[i] + b[i];
}

static void scale_avx2(const float *x, float *y, size_t n, float s)
{
    const __m256 vs = _mm256_set1_ps(s);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vs));
    for (; i < n; i++)
        y[i] = x[i] * s;
}

static void axpy_avx2(const float *x, float *y, size_t n, float w)
{
    const __m256 vw = _mm256_set1_ps(w);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i,
                         _mm256_fmadd_ps(vw, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += w * x[i];
}

static void softmax_row_avx2(float *x, size_t n, float scale)
{
    const __m256 vs = _mm256_set1_ps(scale);
    __m256 vmax = _mm256_set1_ps(-INFINITY);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        vmax = _mm256_max_ps(vmax, _mm256_mul_ps(_mm256_loadu_ps(x + i), vs));
    float max = hmax8(vmax);
    for (; i < n; i++)
        max = fmaxf(max, x[i] * scale);
    const __m256 vm = _mm256_set1_ps(max);
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 e = exp8(_mm256_fmsub_ps(_mm256_loadu_ps(x + i), vs, vm));
        _mm256_storeu_ps(x + i, e);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    double sum = hsum4d(_mm256_add_pd(s0, s1));
    for (; i < n; i++) {
        float e = expf(x[i] * scale - max);
        x[i] = e;
        sum += (double)e;
    }
    scale_avx2(x, x, n, (float)(1.0 / sum));
}

/* 8 elements of a cache row (f32 or f16) as f32. */
static inline __m256 load8(const void *base, uint32_t type, size_t i)
{
    if (type == MB_DTYPE_F16)
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const mb_f16 *)base + i)));
    return _mm256_loadu_ps((const float *)base + i);
}

static inline float load1(const void *base, uint32_t type, size_t i)
{
    if (type == MB_DTYPE_F16)
        return mb_f16_to_f32(((const mb_f16 *)base)[i]);
    return ((const float *)base)[i];
}

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* Scores of G query heads at once: each key row is loaded (and converted) once. */
static ALWAYS_INLINE void scores_g(const float *q, size_t q_stride, const void *k, uint32_t type,
                                   size_t n_keys, size_t d, float scale, float *scores,
                                   size_t s_stride, const int G)
{
    const size_t d8 = d & ~(size_t)7;
    for (size_t j = 0; j < n_keys; j++) {
        __m256 acc[8];
        for (int h = 0; h < G; h++)
            acc[h] = _mm256_setzero_ps();
        for (size_t i = 0; i < d8; i += 8) {
            const __m256 kv = load8(k, type, j * d + i);
            for (int h = 0; h < G; h++)
                acc[h] = _mm256_fmadd_ps(_mm256_loadu_ps(q + (size_t)h * q_stride + i), kv, acc[h]);
        }
        for (int h = 0; h < G; h++) {
            float s = hsum8(acc[h]);
            for (size_t i = d8; i < d; i++)
                s += q[(size_t)h * q_stride + i] * load1(k, type, j * d + i);
            scores[(size_t)h * s_stride + j] = s * scale;
        }
    }
}

static void attn_scores_g_avx2(const float *q, size_t q_stride, size_t g, const void *k,
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

/*
 * out_h += sum_j p_h[j] * v_j for G heads: the outputs stay in registers,
 * CH vectors of 8 at a time across all rows, each V vector serving all heads.
 */
static ALWAYS_INLINE void accum_g(const float *p, size_t p_stride, const void *v, uint32_t type,
                                  size_t n, size_t d, float *out, size_t o_stride, const int G,
                                  const int CH)
{
    const size_t step = 8 * (size_t)CH;
    size_t i = 0;
    for (; i + step <= d; i += step) {
        __m256 o[8][4];
        for (int h = 0; h < G; h++)
            for (int c = 0; c < CH; c++)
                o[h][c] = _mm256_loadu_ps(out + (size_t)h * o_stride + i + 8 * (size_t)c);
        for (size_t j = 0; j < n; j++) {
            __m256 vv[4];
            for (int c = 0; c < CH; c++)
                vv[c] = load8(v, type, j * d + i + 8 * (size_t)c);
            for (int h = 0; h < G; h++) {
                const __m256 w = _mm256_broadcast_ss(p + (size_t)h * p_stride + j);
                for (int c = 0; c < CH; c++)
                    o[h][c] = _mm256_fmadd_ps(w, vv[c], o[h][c]);
            }
        }
        for (int h = 0; h < G; h++)
            for (int c = 0; c < CH; c++)
                _mm256_storeu_ps(out + (size_t)h * o_stride + i + 8 * (size_t)c, o[h][c]);
    }
    for (; i < d; i++) /* head sizes that are not a multiple of the step */
        for (size_t j = 0; j < n; j++) {
            const float vv = load1(v, type, j * d + i);
            for (int h = 0; h < G; h++)
                out[(size_t)h * o_stride + i] += p[(size_t)h * p_stride + j] * vv;
        }
}

static void attn_accum_g_avx2(const float *p, size_t p_stride, size_t g, const void *v,
                              uint32_t type, size_t n, size_t d, float *out, size_t o_stride)
{
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
        accum_g(p, p_stride, v, type, n, d, out, o_stride, 4, 2);
        break;
    case 5:
        accum_g(p, p_stride, v, type, n, d, out, o_stride, 5, 2);
        break;
    case 6:
        accum_g(p, p_stride, v, type, n, d, out, o_stride, 6, 2);
        break;
    case 7:
        accum_g(p, p_stride, v, type, n, d, out, o_stride, 7, 1);
        break;
    case 8:
        accum_g(p, p_stride, v, type, n, d, out, o_stride, 8, 1);
        break;
    default:
        break;
    }
}

static double exp_sum_avx2(float *x, size_t n, float max)
{
    const __m256 vm = _mm256_set1_ps(max);
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        _mm256_storeu_ps(x + i, e);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    double sum = hsum4d(_mm256_add_pd(s0, s1));
    for (; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += (double)x[i];
    }
    return sum;
}

static void to_f16_avx2(const float *x, mb_f16 *y, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        y[i] = mb_f32_to_f16(x[i]);
}

void ops_table_avx2(struct ops_table *t)
{
    t->rmsnorm_row = rmsnorm_row_avx2;
    t->silu_mul = silu_mul_avx2;
    t->add = add_avx2;
    t->scale = scale_avx2;
    t->axpy = axpy_avx2;
    t->softmax_row = softmax_row_avx2;
    t->attn_scores_g = attn_scores_g_avx2;
    t->attn_accum_g = attn_accum_g_avx2;
    t->exp_sum = exp_sum_avx2;
    t->to_f16 = to_f16_avx2;
}

MB_SIMD_END

#else /* not x86 */

void ops_table_avx2(struct ops_table *t)
{
    (void)t;
}

#endif
