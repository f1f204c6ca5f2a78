/*
 * selftest.cu - the CUDA kernels' block decoding run on the host (no GPU
 * needed): for every weight type, random blocks are dequantized with the
 * kernels' dq_sub (must equal mb_dequantize_row bit for bit) and unpacked
 * with the int8 kernels' wload/sub_dot, whose per-block sums, combined the way
 * mmvq_kernel combines them (K-quants per 256-block), must give the product
 * with 8-bit activations that the reference computes. The activations are
 * quantized with the formulas of quant.cu, checked against
 * mb_ref_quantize_act. A wrong nibble, bit or scale in any layout fails here.
 */
#include "cuda_common.cuh"
#include "cuda_int.cuh"
#include "mmvq.cuh"

#include <math.h>

#include "mb_dequant.h"

struct rng {
    uint64_t s;
};

static uint64_t next(struct rng *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return r->s;
}

static float unif(struct rng *r)
{
    return (float)((double)(next(r) >> 11) / 4503599627370496.0 - 1.0);
}

static void put_f16(uint8_t *p, float v)
{
    mb_f16 h = mb_f32_to_f16(v);
    memcpy(p, &h, 2);
}

/* Random codes with sane scales at each type's scale offsets. */
static void rand_row(struct rng *r, uint32_t type, uint8_t *w, size_t k)
{
    const struct mb_dtype_traits *t = mb_dtype_traits(type);
    if (!t->quantized) {
        for (size_t i = 0; i < k; i++) {
            float v = unif(r) * 0.3f;
            if (type == MB_DTYPE_F32)
                memcpy(w + 4 * i, &v, 4);
            else if (type == MB_DTYPE_F16)
                put_f16(w + 2 * i, v);
            else {
                uint16_t b = mb_f32_to_bf16(v);
                memcpy(w + 2 * i, &b, 2);
            }
        }
        return;
    }
    const size_t nb = k / t->block_len;
    for (size_t i = 0; i < nb * t->block_size; i++)
        w[i] = (uint8_t)next(r);
    for (size_t b = 0; b < nb; b++) {
        uint8_t *blk = w + b * t->block_size;
        if (type == MB_DTYPE_Q6_K) {
            put_f16(blk + 208, unif(r) * 0.02f);
            continue;
        }
        put_f16(blk, unif(r) * 0.02f);
        if (type == MB_DTYPE_Q4_1 || type == MB_DTYPE_Q5_1 || type == MB_DTYPE_Q4_K ||
            type == MB_DTYPE_Q5_K)
            put_f16(blk + 2, unif(r) * 0.05f);
    }
}

template <int T> static void dq_row(const uint8_t *w, size_t k, float *out)
{
    for (size_t ib = 0; ib < k / 32; ib++)
        dq_sub<T>(w, (int)ib, out + 32 * ib);
}

/* quant.cu's Q8_1 rounding on the host (amax over a block of 32). */
static void quant_q8_1(const float *x, size_t k, int8_t *q, float *d, float *s)
{
    for (size_t b = 0; b < k / 32; b++) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++)
            amax = fmaxf(amax, fabsf(x[32 * b + j]));
        const float db = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            q[32 * b + j] = (int8_t)lrintf(fmul_rn(x[32 * b + j], id));
            sum += q[32 * b + j];
        }
        d[b] = f16_round(db);
        s[b] = f16_round(fmul_rn(db, (float)sum));
    }
}

/* quant.cu's Q8_K rounding on the host. */
static void quant_q8_k(const float *x, size_t k, int8_t *q, float *d, int16_t *bsums)
{
    for (size_t b = 0; b < k / 256; b++) {
        const float *xb = x + 256 * b;
        float ax = 0.0f, max = 0.0f;
        for (int j = 0; j < 256; j++)
            if (fabsf(xb[j]) > ax) {
                ax = fabsf(xb[j]);
                max = xb[j];
            }
        if (ax == 0.0f) {
            d[b] = 0.0f;
            memset(q + 256 * b, 0, 256);
        } else {
            const float iscale = -127.0f / max;
            for (int j = 0; j < 256; j++) {
                long v = lrintf(fmul_rn(iscale, xb[j]));
                q[256 * b + j] = (int8_t)(v > 127 ? 127 : v);
            }
            d[b] = 1.0f / iscale;
        }
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int j = 0; j < 16; j++)
                sum += q[256 * b + 16 * g + j];
            bsums[16 * b + g] = (int16_t)sum;
        }
    }
}

/* mmvq_kernel's arithmetic for one row, lanes serialized (block order differs only in the sum). */
template <int T>
static double kernel_dot(const uint8_t *w, size_t k, const int8_t *q, const float *d,
                         const float *s, const int16_t *bsums)
{
    constexpr bool kq = T == MB_DTYPE_Q4_K || T == MB_DTYPE_Q5_K || T == MB_DTYPE_Q6_K;
    const size_t nsub = k / 32;
    double acc = 0.0;
    for (size_t ib0 = 0; ib0 < nsub; ib0 += kq ? 8 : 1) {
        int sumi = 0, summ = 0;
        float dw = 0.0f, mw = 0.0f;
        for (size_t ib = ib0; ib < ib0 + (kq ? 8 : 1); ib++) {
            wsub wv;
            wload<T>(w, ib, wv);
            int xw[8];
            memcpy(xw, q + 32 * ib, 32);
            int i0, i1;
            sub_dot(wv, xw, &i0, &i1);
            dw = wv.d;
            mw = wv.m;
            if constexpr (!kq) {
                float f = fmul_rn(fmul_rn(wv.d, d[ib]), (float)(i0 + i1));
                if constexpr (T == MB_DTYPE_Q4_1 || T == MB_DTYPE_Q5_1)
                    f = fadd_rn(f, fmul_rn(wv.m, s[ib]));
                acc += f;
            } else if constexpr (T == MB_DTYPE_Q6_K) {
                sumi += wv.sc0 * i0 + wv.sc1 * i1;
            } else {
                sumi += wv.sc0 * (i0 + i1);
                summ += wv.sc1 * ((int)bsums[2 * ib] + (int)bsums[2 * ib + 1]);
            }
        }
        if constexpr (T == MB_DTYPE_Q6_K)
            acc += fmul_rn(fmul_rn(d[ib0 / 8], dw), (float)sumi);
        else if constexpr (kq)
            acc += fmul_rn(d[ib0 / 8], fsub_rn(fmul_rn(dw, (float)sumi), fmul_rn(mw, (float)summ)));
    }
    return acc;
}

template <int T> static int check_type(struct rng *r, size_t k, struct mb_err *err)
{
    const uint32_t type = (uint32_t)T;
    uint64_t rb;
    mb_dtype_row_size(type, k, &rb);
    uint8_t *w = (uint8_t *)mb_malloc((size_t)rb);
    float *ref = (float *)mb_malloc(k * sizeof(float)),
          *got = (float *)mb_malloc(k * sizeof(float));
    float *x = (float *)mb_malloc(k * sizeof(float)), *xq = (float *)mb_malloc(k * sizeof(float));
    float *serr = (float *)mb_malloc((k / 32) * sizeof(float));
    int8_t *q = (int8_t *)mb_malloc(k);
    float *d = (float *)mb_malloc((k / 32) * sizeof(float)), *s = (float *)mb_malloc((k / 32) * 4);
    int16_t *bs = (int16_t *)mb_malloc((k / 16) * sizeof(int16_t));
    int rc = 0;
    if (!w || !ref || !got || !x || !xq || !serr || !q || !d || !s || !bs) {
        rc = mb_fail(err, MB_E_NOMEM, "cuda selftest: out of memory");
        goto out;
    }
    for (int rep = 0; rep < 20 && !rc; rep++) {
        rand_row(r, type, w, k);
        mb_dequantize_row(type, w, ref, k);
        dq_row<T>(w, k, got);
        if (memcmp(ref, got, k * sizeof(float)) != 0) {
            size_t j = 0;
            while (j < k && !memcmp(ref + j, got + j, 4))
                j++;
            rc = mb_fail(err, MB_E_INTERNAL,
                         "cuda selftest: %s: dq_sub element %zu is %.9g, mb_dequantize_row %.9g",
                         mb_dtype_name(type), j, (double)got[j], (double)ref[j]);
            break;
        }
        if constexpr (T == MB_DTYPE_F32 || T == MB_DTYPE_F16 || T == MB_DTYPE_BF16)
            continue;
        else {
            for (size_t j = 0; j < k; j++) {
                x[j] = (unif(r) + unif(r) + unif(r)) * 0.7f;
                if (next(r) % 61 == 0)
                    x[j] *= 10.0f;
            }
            const bool kq = T == MB_DTYPE_Q4_K || T == MB_DTYPE_Q5_K || T == MB_DTYPE_Q6_K;
            if (kq)
                quant_q8_k(x, k, q, d, bs);
            else
                quant_q8_1(x, k, q, d, s);
            if ((rc = mb_ref_quantize_act(type, x, k, xq, serr, err)))
                break;
            for (size_t j = 0; j < k; j++) {
                const float v = d[j / (kq ? 256 : 32)] * (float)q[j];
                if (v != xq[j]) {
                    rc = mb_fail(err, MB_E_INTERNAL,
                                 "cuda selftest: %s: activation %zu quantized to %.9g, the "
                                 "reference to %.9g",
                                 mb_dtype_name(type), j, (double)v, (double)xq[j]);
                    break;
                }
            }
            if (rc)
                break;
            double want = 0, mag = 0, sterm = 0;
            for (size_t j = 0; j < k; j++) {
                want += (double)ref[j] * xq[j];
                mag += fabs((double)ref[j] * xq[j]);
            }
            if (T == MB_DTYPE_Q4_1 || T == MB_DTYPE_Q5_1)
                for (size_t b = 0; b < k / 32; b++)
                    sterm += 1.0001 * fabs((double)f16_at(w + b * blk<T>::bytes + 2)) * serr[b];
            const double have = kernel_dot<T>(w, k, q, d, s, bs);
            if (!(fabs(have - want) <= 2e-5 * mag + sterm + 1e-30)) {
                rc = mb_fail(err, MB_E_INTERNAL,
                             "cuda selftest: %s: the int8 kernel's dot is %.9g, the reference "
                             "%.9g",
                             mb_dtype_name(type), have, want);
                break;
            }
        }
    }
out:
    mb_free(w);
    mb_free(ref);
    mb_free(got);
    mb_free(x);
    mb_free(xq);
    mb_free(serr);
    mb_free(q);
    mb_free(d);
    mb_free(s);
    mb_free(bs);
    return rc;
}

int mb_cuda_host_selftest(uint64_t seed, struct mb_err *err)
{
    struct rng r = { seed | 1 };
    int rc = 0;
    static const size_t ks[] = { 256, 512, 1536 };
    for (size_t i = 0; i < MB_ARRAY_LEN(ks) && !rc; i++) {
        const size_t k = ks[i];
        if (!rc)
            rc = check_type<MB_DTYPE_F32>(&r, k, err);
        if (!rc)
            rc = check_type<MB_DTYPE_F16>(&r, k, err);
        if (!rc)
            rc = check_type<MB_DTYPE_BF16>(&r, k, err);
        if (!rc)
            rc = check_type<MB_DTYPE_Q4_0>(&r, k, err);
        if (!rc)
            rc = check_type<MB_DTYPE_Q4_1>(&r, k, err);
        if (!rc)
            rc = check_type<MB_DTYPE_Q5_0>(&r, k, err);
        if (!rc)
            rc = check_type<MB_DTYPE_Q5_1>(&r, k, err);
        if (!rc)
            rc = check_type<MB_DTYPE_Q8_0>(&r, k, err);
        if (!rc)
            rc = check_type<MB_DTYPE_Q4_K>(&r, k, err);
        if (!rc)
            rc = check_type<MB_DTYPE_Q5_K>(&r, k, err);
        if (!rc)
            rc = check_type<MB_DTYPE_Q6_K>(&r, k, err);
    }
    return rc;
}
