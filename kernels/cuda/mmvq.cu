/*
 * mmvq.cu - the matmul op for decode and small batches: y (+)= W x with the
 * weight read in its GGUF blocks, straight from device memory, and the input
 * quantized to 8-bit blocks (quant.cu), multiplied with dp4a (four int8
 * products per instruction) like ggml's mmvq. Large batches of F16 or
 * quantized weights go to cuBLAS instead (gemm.cu, cu_gemm_applies).
 *
 * Work split: one warp per weight row, four rows per 128-thread block; the
 * lanes walk the row's 32-element sub-blocks (lane l takes sub-blocks l,
 * l+32, ...), every weight sub-block is loaded once and multiplied with up to
 * NC (1, 2, 4 or 8) rows of x, and a warp reduction gives y. One launch
 * serves all outputs of the op that share a weight type (Q/K/V, gate/up).
 *
 * Exactness: each 32-block (or, for the K-quants, each 256-block) gives the
 * same integer sum and the same float value as the CPU's kernel
 * (kernels/cpu/mm_scalar.c); the K-quants reduce their eight sub-block
 * integer sums across lanes before the float step for that reason. Only the
 * order in which block values are added differs.
 */
#include "cuda_common.cuh"
#include "cuda_int.cuh"

#define RPB 4 /* rows (warps) per thread block */

struct mmv_out {
    const uint8_t *w;
    size_t row_bytes;
    float *y;
    size_t y_stride;
    unsigned rows;
    unsigned block0; /* first thread block of this output */
    int acc;
};

struct mmv_params {
    struct mmv_out out[MB_MATMUL_MAX_OUT];
    unsigned n_out;
    /* quantized x (row c of the launch is x row col0 + c) */
    const int8_t *qs;
    const float *d;
    const float *s;
    const int16_t *bsums;
    /* plain x */
    const float *x;
    size_t x_stride;
    size_t k;
    size_t col0;
    unsigned ncols;
};

__device__ __forceinline__ const struct mmv_out *pick_out(const struct mmv_params &p)
{
    unsigned o = 0;
    while (o + 1 < p.n_out && blockIdx.x >= p.out[o + 1].block0)
        o++;
    return &p.out[o];
}

/* Eight words of x quants of sub-block ib of launch column c. */
__device__ __forceinline__ void load_x(const struct mmv_params &p, int c, size_t ib, int *xw)
{
    const int4 *q = (const int4 *)(p.qs + (p.col0 + c) * p.k + 32 * ib);
    const int4 a = q[0], b = q[1];
    xw[0] = a.x;
    xw[1] = a.y;
    xw[2] = a.z;
    xw[3] = a.w;
    xw[4] = b.x;
    xw[5] = b.y;
    xw[6] = b.z;
    xw[7] = b.w;
}

#include "mmvq.cuh"

/* Sum the integer of lanes l, l^1, l^2, l^4 (the eight sub-blocks of a 256-block). */
__device__ __forceinline__ int sum8(int v)
{
    v += __shfl_xor_sync(FULL_MASK, v, 1);
    v += __shfl_xor_sync(FULL_MASK, v, 2);
    v += __shfl_xor_sync(FULL_MASK, v, 4);
    return v;
}

template <int T, int NC> __global__ void __launch_bounds__(RPB *WARP) mmvq_kernel(mmv_params p)
{
    const struct mmv_out *o = pick_out(p);
    const int warp = threadIdx.x / WARP, lane = threadIdx.x % WARP;
    const unsigned row = (blockIdx.x - o->block0) * RPB + (unsigned)warp;
    if (row >= o->rows)
        return; /* the whole warp */
    const uint8_t *wrow = o->w + (size_t)row * o->row_bytes;
    const size_t nsub = p.k / 32;
    constexpr bool kq = T == MB_DTYPE_Q4_K || T == MB_DTYPE_Q5_K || T == MB_DTYPE_Q6_K;
    float acc[NC];
#pragma unroll
    for (int c = 0; c < NC; c++)
        acc[c] = 0.0f;
    const size_t iters = (nsub + WARP - 1) / WARP;
    for (size_t it = 0; it < iters; it++) {
        const size_t ib = it * WARP + (size_t)lane;
        const bool ok = ib < nsub; /* uniform per group of 8 lanes for the K-quants */
        wsub w;
        if (ok)
            wload<T>(wrow, ib, w);
#pragma unroll
        for (int c = 0; c < NC; c++) {
            if (c >= (int)p.ncols) /* uniform */
                break;
            int xw[8] = { 0, 0, 0, 0, 0, 0, 0, 0 };
            if (ok)
                load_x(p, c, ib, xw);
            if constexpr (!kq) {
                if (!ok)
                    continue;
                int i0, i1;
                sub_dot(w, xw, &i0, &i1);
                const int isum = i0 + i1;
                const size_t xb = (p.col0 + c) * nsub + ib;
                float f = __fmul_rn(__fmul_rn(w.d, p.d[xb]), (float)isum);
                if constexpr (T == MB_DTYPE_Q4_1 || T == MB_DTYPE_Q5_1)
                    f = __fadd_rn(f, __fmul_rn(w.m, p.s[xb]));
                acc[c] += f;
            } else if constexpr (T == MB_DTYPE_Q6_K) {
                int sumi = 0;
                if (ok) {
                    int i0, i1;
                    sub_dot(w, xw, &i0, &i1);
                    sumi = w.sc0 * i0 + w.sc1 * i1;
                }
                sumi = sum8(sumi);
                if (ok && ib % 8 == 0) {
                    const size_t sb = (p.col0 + c) * (nsub / 8) + ib / 8;
                    acc[c] += __fmul_rn(__fmul_rn(p.d[sb], w.d), (float)sumi);
                }
            } else { /* Q4_K, Q5_K */
                int sumi = 0, summ = 0;
                if (ok) {
                    int i0, i1;
                    sub_dot(w, xw, &i0, &i1);
                    const int isum = i0 + i1;
                    const int16_t *bs = p.bsums + (p.col0 + c) * (p.k / 16) + 2 * ib;
                    sumi = w.sc0 * isum;
                    summ = w.sc1 * ((int)bs[0] + (int)bs[1]);
                }
                sumi = sum8(sumi);
                summ = sum8(summ);
                if (ok && ib % 8 == 0) {
                    const size_t sb = (p.col0 + c) * (nsub / 8) + ib / 8;
                    acc[c] += __fmul_rn(p.d[sb], __fsub_rn(__fmul_rn(w.d, (float)sumi),
                                                           __fmul_rn(w.m, (float)summ)));
                }
            }
        }
    }
#pragma unroll
    for (int c = 0; c < NC; c++) {
        if (c >= (int)p.ncols)
            break;
        const float v = warp_sum(acc[c]);
        if (lane == 0) {
            float *y = o->y + (p.col0 + c) * o->y_stride + row;
            *y = o->acc ? *y + v : v;
        }
    }
}

/* Plain weights (F32, F16, BF16) times f32 x: any k, lanes stride over elements. */
template <int T, int NC> __global__ void __launch_bounds__(RPB *WARP) mmv_plain_kernel(mmv_params p)
{
    const struct mmv_out *o = pick_out(p);
    const int warp = threadIdx.x / WARP, lane = threadIdx.x % WARP;
    const unsigned row = (blockIdx.x - o->block0) * RPB + (unsigned)warp;
    if (row >= o->rows)
        return;
    const uint8_t *wrow = o->w + (size_t)row * o->row_bytes;
    float acc[NC];
#pragma unroll
    for (int c = 0; c < NC; c++)
        acc[c] = 0.0f;
    for (size_t j = (size_t)lane; j < p.k; j += WARP) {
        float wv;
        if constexpr (T == MB_DTYPE_F32)
            wv = ((const float *)wrow)[j];
        else if constexpr (T == MB_DTYPE_F16)
            wv = f16_at(wrow + 2 * j);
        else
            wv = bf16_bits(ld_u16(wrow + 2 * j));
#pragma unroll
        for (int c = 0; c < NC; c++)
            if (c < (int)p.ncols)
                acc[c] = fmaf(wv, p.x[(p.col0 + c) * p.x_stride + j], acc[c]);
    }
#pragma unroll
    for (int c = 0; c < NC; c++) {
        if (c >= (int)p.ncols)
            break;
        const float v = warp_sum(acc[c]);
        if (lane == 0) {
            float *y = o->y + (p.col0 + c) * o->y_stride + row;
            *y = o->acc ? *y + v : v;
        }
    }
}

template <int T> static void launch_nc(const mmv_params &p, unsigned grid, cudaStream_t st)
{
    constexpr bool plain = T == MB_DTYPE_F32 || T == MB_DTYPE_F16 || T == MB_DTYPE_BF16;
    if constexpr (plain) {
        if (p.ncols <= 1)
            mmv_plain_kernel<T, 1><<<grid, RPB * WARP, 0, st>>>(p);
        else if (p.ncols <= 2)
            mmv_plain_kernel<T, 2><<<grid, RPB * WARP, 0, st>>>(p);
        else if (p.ncols <= 4)
            mmv_plain_kernel<T, 4><<<grid, RPB * WARP, 0, st>>>(p);
        else
            mmv_plain_kernel<T, 8><<<grid, RPB * WARP, 0, st>>>(p);
    } else {
        if (p.ncols <= 1)
            mmvq_kernel<T, 1><<<grid, RPB * WARP, 0, st>>>(p);
        else if (p.ncols <= 2)
            mmvq_kernel<T, 2><<<grid, RPB * WARP, 0, st>>>(p);
        else if (p.ncols <= 4)
            mmvq_kernel<T, 4><<<grid, RPB * WARP, 0, st>>>(p);
        else
            mmvq_kernel<T, 8><<<grid, RPB * WARP, 0, st>>>(p);
    }
}

static bool launch_type(uint32_t type, const mmv_params &p, unsigned grid, cudaStream_t st)
{
    switch (type) {
    case MB_DTYPE_F32:
        launch_nc<MB_DTYPE_F32>(p, grid, st);
        return true;
    case MB_DTYPE_F16:
        launch_nc<MB_DTYPE_F16>(p, grid, st);
        return true;
    case MB_DTYPE_BF16:
        launch_nc<MB_DTYPE_BF16>(p, grid, st);
        return true;
    case MB_DTYPE_Q4_0:
        launch_nc<MB_DTYPE_Q4_0>(p, grid, st);
        return true;
    case MB_DTYPE_Q4_1:
        launch_nc<MB_DTYPE_Q4_1>(p, grid, st);
        return true;
    case MB_DTYPE_Q5_0:
        launch_nc<MB_DTYPE_Q5_0>(p, grid, st);
        return true;
    case MB_DTYPE_Q5_1:
        launch_nc<MB_DTYPE_Q5_1>(p, grid, st);
        return true;
    case MB_DTYPE_Q8_0:
        launch_nc<MB_DTYPE_Q8_0>(p, grid, st);
        return true;
    case MB_DTYPE_Q4_K:
        launch_nc<MB_DTYPE_Q4_K>(p, grid, st);
        return true;
    case MB_DTYPE_Q5_K:
        launch_nc<MB_DTYPE_Q5_K>(p, grid, st);
        return true;
    case MB_DTYPE_Q6_K:
        launch_nc<MB_DTYPE_Q6_K>(p, grid, st);
        return true;
    default:
        return false;
    }
}

/* 0 = plain (f32 x), else the activation format a weight type multiplies with. */
static int act_fmt_of(uint32_t type)
{
    switch (type) {
    case MB_DTYPE_Q4_0:
    case MB_DTYPE_Q4_1:
    case MB_DTYPE_Q5_0:
    case MB_DTYPE_Q5_1:
    case MB_DTYPE_Q8_0:
        return CU_ACT_Q8_1;
    case MB_DTYPE_Q4_K:
    case MB_DTYPE_Q5_K:
    case MB_DTYPE_Q6_K:
        return CU_ACT_Q8_K;
    default:
        return 0;
    }
}

/* Whether the fused activations of the last producer are exactly this x. */
static bool fused_matches(const struct cuda_backend *cb, const struct mb_matmul_args *a)
{
    const struct cu_fused *f = &cb->fused;
    if (!f->valid || f->x != a->x || a->k % 32)
        return false;
    const bool contiguous = a->m == 1 || a->x_stride == a->k;
    if (f->m == a->m && f->k == a->k && (a->m == 1 || f->stride == a->x_stride))
        return true;
    /* a flat producer (silu_mul over m * k values) */
    return f->m == 1 && contiguous && f->k == a->m * a->k;
}

/* Does [p, p + n floats) overlap the fused x range? */
static bool overlaps_fused(const struct cu_fused *f, const float *p, size_t m, size_t n,
                           size_t stride)
{
    if (!f->valid)
        return false;
    const float *fe = f->x + (f->m - 1) * f->stride + f->k;
    const float *pe = p + (m - 1) * stride + n;
    return p < fe && f->x < pe;
}

int cu_matmul(struct cuda_backend *cb, const struct mb_matmul_args *a, struct mb_err *err)
{
    int rc = mb_matmul_check(a, err);
    if (rc < 0)
        return rc;
    bool gemm[MB_MATMUL_MAX_OUT] = { false, false, false };
    bool need[3] = { false, false, false }; /* by format: plain, Q8_1, Q8_K */
    for (unsigned o = 0; o < a->n_out; o++) {
        gemm[o] = cu_gemm_applies(cb, a, o);
        if (!gemm[o])
            need[act_fmt_of(a->out[o].w.type)] = true;
    }
    struct cu_act q81 = {}, q8k = {};
    if (need[CU_ACT_Q8_1]) {
        if (fused_matches(cb, a)) {
            cu_act_layout(&q81, CU_ACT_Q8_1, a->m, a->k, cb->scr[SCR_FUSED]);
        } else {
            size_t bytes;
            if (!cu_act_bytes(CU_ACT_Q8_1, a->m, a->k, &bytes))
                return mb_fail(err, MB_E_LIMIT, "cuda: matmul activations of %zu x %zu overflow",
                               a->m, a->k);
            void *buf = cu_scratch(cb, SCR_ACT, bytes, err);
            if (!buf)
                return err->code;
            cu_act_layout(&q81, CU_ACT_Q8_1, a->m, a->k, buf);
            if ((rc = cu_quantize(cb, a->x, a->m, a->k, a->x_stride, &q81, err)))
                return rc;
        }
    }
    if (need[CU_ACT_Q8_K]) {
        size_t bytes;
        if (!cu_act_bytes(CU_ACT_Q8_K, a->m, a->k, &bytes))
            return mb_fail(err, MB_E_LIMIT, "cuda: matmul activations of %zu x %zu overflow", a->m,
                           a->k);
        void *buf = cu_scratch(cb, SCR_ACT_K, bytes, err);
        if (!buf)
            return err->code;
        cu_act_layout(&q8k, CU_ACT_Q8_K, a->m, a->k, buf);
        if ((rc = cu_quantize(cb, a->x, a->m, a->k, a->x_stride, &q8k, err)))
            return rc;
    }

    /* One launch per weight type (outputs of one type share it), per 8 rows of x. */
    bool done[MB_MATMUL_MAX_OUT] = { false, false, false };
    for (unsigned o = 0; o < a->n_out; o++) {
        if (gemm[o] || done[o])
            continue;
        const uint32_t type = a->out[o].w.type;
        const int fmt = act_fmt_of(type);
        mmv_params p = {};
        unsigned blocks = 0;
        for (unsigned j = o; j < a->n_out; j++) {
            if (gemm[j] || done[j] || a->out[j].w.type != type)
                continue;
            done[j] = true;
            const struct mb_matmul_out *src = &a->out[j];
            struct mmv_out *dst = &p.out[p.n_out++];
            uint64_t rb;
            mb_dtype_row_size(type, src->w.cols, &rb);
            dst->w = (const uint8_t *)src->w.data;
            dst->row_bytes = (size_t)rb;
            dst->y = src->y;
            dst->y_stride = a->m > 1 ? src->y_stride : src->w.rows;
            dst->rows = (unsigned)src->w.rows;
            dst->block0 = blocks;
            dst->acc = src->accumulate;
            blocks += (unsigned)((src->w.rows + RPB - 1) / RPB);
        }
        const struct cu_act *act = fmt == CU_ACT_Q8_1 ? &q81 : fmt == CU_ACT_Q8_K ? &q8k : NULL;
        if (act) {
            p.qs = act->qs;
            p.d = act->d;
            p.s = act->s;
            p.bsums = act->bsums;
        }
        p.x = a->x;
        p.x_stride = a->m > 1 ? a->x_stride : a->k;
        p.k = a->k;
        for (size_t c0 = 0; c0 < a->m; c0 += 8) {
            p.col0 = c0;
            p.ncols = (unsigned)MB_MIN((size_t)8, a->m - c0);
            if (!launch_type(type, p, blocks, cb->stream))
                return mb_fail(err, MB_E_UNSUPPORTED, "cuda: matmul on %s weights",
                               mb_dtype_name(type));
            CU_LAUNCHED(err);
        }
    }
    bool x_ready = false;
    for (unsigned o = 0; o < a->n_out; o++) {
        if (!gemm[o])
            continue;
        if (!x_ready && (rc = cu_gemm_x(cb, a, err)))
            return rc;
        x_ready = true;
        if ((rc = cu_gemm(cb, a, o, err)))
            return rc;
    }
    for (unsigned o = 0; o < a->n_out; o++)
        if (overlaps_fused(&cb->fused, a->out[o].y, a->m, a->out[o].w.rows,
                           a->m > 1 ? a->out[o].y_stride : a->out[o].w.rows))
            cb->fused.valid = false;
    return 0;
}
