/*
 * attention.cu - the KV-cache store and causal attention with grouped KV
 * heads (layout in mb_attention.h), positions read from device memory so a
 * decode step can be replayed in a CUDA graph.
 *
 * One kernel for decode and prefill, flash-attention style: a thread block
 * owns one KV head, up to 8 of its query heads and R query rows (one warp per
 * (row, head) pair, R * heads <= 8 warps), and walks a range of keys in tiles
 * of 32 (16 for heads wider than 128) staged in shared memory, so each K and
 * V row is read once for all the warps. Each warp keeps an online softmax
 * (running max, running sum, output rescaled when the max grows): lane j
 * scores key j of the tile, then every lane accumulates its own dimensions.
 *
 * Decode has one row and few KV heads, so the keys are split over blocks
 * (flash-decoding): split s takes keys [s*chunk, (s+1)*chunk), leaves its max,
 * sum and unnormalised output, and a second kernel merges the splits. The
 * number of splits depends on the cache size and the shapes only, never on
 * the positions, so a captured decode step stays valid as the context grows;
 * splits past a row's position exit at once.
 *
 * round_f16 (llama.cpp's non-flash numerics): q is rounded to f16 before the
 * dots, and the normalised probabilities are rounded to f16 before they meet
 * V; that needs the full softmax first, so it runs unsplit in two passes.
 *
 * When head_dim is a multiple of 32, the final output is also quantized for
 * the output projection (cu_fused_begin).
 */
#include "cuda_common.cuh"
#include "cuda_int.cuh"

#define DMAX   256 /* widest head */
#define WMAX   8   /* warps per block */
#define DSLOTS (DMAX / WARP)

struct attn_params {
    const float *q;
    size_t q_stride;
    float *out;
    size_t out_stride;
    const int32_t *pos;
    size_t m;
    const void *k, *v;
    size_t n_ctx, hd;
    unsigned n_head, g, gb, n_hc, rows_per_block, kt;
    unsigned n_splits;
    size_t chunk;
    float scale;
    float *part;
    int8_t *qs;
    float *qd, *qsum;
    struct cu_flags *flags;
};

template <typename KT> __device__ __forceinline__ float ld_kv(const KT *p)
{
    if constexpr (sizeof(KT) == 2)
        return __half2float(*(const __half *)p);
    else
        return *(const float *)p;
}

/* The final output of one (row, head) pair held by a warp: write it, maybe quantize it. */
__device__ __forceinline__ void write_out(const attn_params &p, size_t row, unsigned head,
                                          const float *o, int lane)
{
    float *dst = p.out + row * p.out_stride + (size_t)head * p.hd;
#pragma unroll
    for (int i = 0; i < DSLOTS; i++) {
        const size_t d = (size_t)lane + WARP * i;
        if (d < p.hd)
            dst[d] = o[i];
    }
    if (p.qs) { /* hd % 32 == 0: slot i is one 32-block */
        const size_t width = (size_t)p.n_head * p.hd, nb = width / 32;
#pragma unroll
        for (int i = 0; i < DSLOTS; i++) {
            if ((size_t)WARP * i >= p.hd)
                break;
            const size_t b = row * nb + ((size_t)head * p.hd) / 32 + i;
            q8_1_warp(o[i], lane, p.qs + b * 32, p.qd + b, p.qsum + b);
        }
    }
}

template <typename KT, bool ROUND> __global__ void attn_kernel(const attn_params p)
{
    extern __shared__ float smem[];
    __shared__ int s_maxpos;
    const unsigned nwarps = blockDim.x / WARP;
    const int tid = threadIdx.x, warp = tid / WARP, lane = tid % WARP;
    const size_t hd = p.hd;
    float *sq = smem;                 /* nwarps x hd */
    float *sk = sq + nwarps * hd;     /* kt x (hd + 1) */
    float *sv = sk + p.kt * (hd + 1); /* kt x hd */
    const unsigned kvh = blockIdx.y / p.n_hc, hc = blockIdx.y % p.n_hc;
    const unsigned lr = warp / p.gb, lh = warp % p.gb;
    const size_t row = (size_t)blockIdx.z * p.rows_per_block + lr;
    const unsigned hg = hc * p.gb + lh; /* head within the group */
    const unsigned head = kvh * p.g + hg;
    bool active = row < p.m && hg < p.g;
    int P = -1;
    if (tid == 0)
        s_maxpos = -1;
    __syncthreads();
    if (active) {
        P = p.pos[row];
        if (P < 0 || (size_t)P >= p.n_ctx) {
            if (lane == 0 && atomicCAS(&p.flags->code, 0, CUF_BAD_POS) == 0) {
                p.flags->value = P;
                p.flags->row = (int)row;
                p.flags->limit = (int)MB_MIN(p.n_ctx, (size_t)INT32_MAX);
            }
            active = false;
        } else if (lane == 0) {
            atomicMax(&s_maxpos, P);
        }
    }
    __syncthreads();
    const int maxpos = s_maxpos;
    const size_t ks = (size_t)blockIdx.x * p.chunk;
    const size_t ke = maxpos < 0 ? 0 : MB_MIN(ks + p.chunk, (size_t)maxpos + 1);
    if (ks >= ke) { /* nothing in this split for any row of the block */
        if (p.n_splits > 1 && active && lane == 0) {
            float *pp = p.part + ((blockIdx.x * p.m + row) * p.n_head + head) * (hd + 2);
            pp[0] = -INFINITY;
            pp[1] = 0.0f;
        }
        return; /* uniform for the block */
    }
    if (active) {
        const float *q = p.q + row * p.q_stride + (size_t)head * hd;
        for (size_t d = lane; d < hd; d += WARP)
            sq[warp * hd + d] = ROUND ? f16_round(q[d]) : q[d];
    }
    const KT *kbase = (const KT *)p.k + (size_t)kvh * p.n_ctx * hd;
    const KT *vbase = (const KT *)p.v + (size_t)kvh * p.n_ctx * hd;
    float mi = -INFINITY, li = 0.0f, acc[DSLOTS];
#pragma unroll
    for (int i = 0; i < DSLOTS; i++)
        acc[i] = 0.0f;
    float inv = 0.0f;
    /* ROUND: pass 0 finds the max and the sum, pass 1 accumulates; else one pass */
    for (int pass = ROUND ? 0 : 1; pass < 2; pass++) {
        for (size_t t0 = ks; t0 < ke; t0 += p.kt) {
            const size_t nk = MB_MIN((size_t)p.kt, ke - t0);
            __syncthreads();
            for (size_t idx = tid; idx < (size_t)p.kt * hd; idx += blockDim.x) {
                const size_t j = idx / hd, d = idx % hd;
                float kv = 0.0f, vv = 0.0f;
                if (j < nk) {
                    kv = ld_kv(kbase + (t0 + j) * hd + d);
                    if (pass == 1)
                        vv = ld_kv(vbase + (t0 + j) * hd + d);
                }
                sk[j * (hd + 1) + d] = kv;
                sv[j * hd + d] = vv;
            }
            __syncthreads();
            if (!active)
                continue;
            const size_t key = t0 + (size_t)lane;
            const bool valid = (size_t)lane < nk && key <= (size_t)P;
            float s = -INFINITY;
            if (valid) {
                float dot = 0.0f;
                const float *qq = sq + warp * hd, *kk = sk + (size_t)lane * (hd + 1);
                for (size_t d = 0; d < hd; d++)
                    dot = fmaf(qq[d], kk[d], dot);
                s = dot * p.scale;
            }
            const float mt = warp_max(s);
            if (mt == -INFINITY) /* uniform: no valid key in this tile */
                continue;
            float pr;
            if (ROUND && pass == 1) {
                pr = valid ? f16_round(__fmul_rn(expf(s - mi), inv)) : 0.0f;
            } else {
                const float mn = fmaxf(mi, mt);
                pr = valid ? expf(s - mn) : 0.0f;
                const float corr = expf(mi - mn); /* 0 when mi is -inf */
                li = li * corr + warp_sum(pr);
                mi = mn;
                if constexpr (ROUND) {
                    continue; /* pass 0: statistics only */
                } else {
#pragma unroll
                    for (int i = 0; i < DSLOTS; i++)
                        acc[i] *= corr;
                }
            }
            for (unsigned jj = 0; jj < nk; jj++) {
                const float pj = __shfl_sync(FULL_MASK, pr, jj);
#pragma unroll
                for (int i = 0; i < DSLOTS; i++) {
                    const size_t d = (size_t)lane + WARP * i;
                    if (d < hd)
                        acc[i] = fmaf(pj, sv[jj * hd + d], acc[i]);
                }
            }
        }
        if (ROUND && pass == 0)
            inv = (float)(1.0 / (double)li);
    }
    if (!active)
        return;
    if (p.n_splits == 1) {
        float o[DSLOTS];
#pragma unroll
        for (int i = 0; i < DSLOTS; i++)
            o[i] = ROUND ? acc[i] : acc[i] / li;
        write_out(p, row, head, o, lane);
    } else {
        float *pp = p.part + ((blockIdx.x * p.m + row) * p.n_head + head) * (hd + 2);
        if (lane == 0) {
            pp[0] = mi;
            pp[1] = li;
        }
#pragma unroll
        for (int i = 0; i < DSLOTS; i++) {
            const size_t d = (size_t)lane + WARP * i;
            if (d < hd)
                pp[2 + d] = acc[i];
        }
    }
}

/* One warp per (row, head): merge the splits' partial softmaxes. */
__global__ void attn_merge_kernel(const attn_params p)
{
    const size_t pair = blockIdx.x, row = pair / p.n_head;
    const unsigned head = (unsigned)(pair % p.n_head);
    const int lane = threadIdx.x;
    const size_t hd = p.hd, stride = (size_t)p.m * p.n_head * (hd + 2);
    if (p.pos[row] < 0 || (size_t)p.pos[row] >= p.n_ctx)
        return; /* flagged by the main kernel */
    const float *base = p.part + pair * (hd + 2);
    float mx = -INFINITY;
    for (unsigned s = 0; s < p.n_splits; s++)
        if (base[s * stride + 1] != 0.0f)
            mx = fmaxf(mx, base[s * stride]);
    float o[DSLOTS];
#pragma unroll
    for (int i = 0; i < DSLOTS; i++)
        o[i] = 0.0f;
    float total = 0.0f;
    for (unsigned s = 0; s < p.n_splits; s++) {
        const float *ps = base + s * stride;
        if (ps[1] == 0.0f)
            continue;
        const float w = expf(ps[0] - mx);
        total += w * ps[1];
#pragma unroll
        for (int i = 0; i < DSLOTS; i++) {
            const size_t d = (size_t)lane + WARP * i;
            if (d < hd)
                o[i] = fmaf(w, ps[2 + d], o[i]);
        }
    }
    const float inv = 1.0f / total;
#pragma unroll
    for (int i = 0; i < DSLOTS; i++)
        o[i] *= inv;
    write_out(p, row, head, o, lane);
}

__global__ void kv_store_kernel(void *kc, void *vc, int f16, size_t n_ctx, size_t n_kv, size_t hd,
                                const float *k, size_t k_stride, const float *v, size_t v_stride,
                                const int32_t *__restrict__ pos, struct cu_flags *flags)
{
    const size_t r = blockIdx.x;
    const int32_t p = pos[r];
    if (p < 0 || (size_t)p >= n_ctx) {
        if (threadIdx.x == 0 && atomicCAS(&flags->code, 0, CUF_BAD_POS) == 0) {
            flags->value = p;
            flags->row = (int)r;
            flags->limit = (int)MB_MIN(n_ctx, (size_t)INT32_MAX);
        }
        return;
    }
    for (size_t idx = threadIdx.x; idx < n_kv * hd; idx += blockDim.x) {
        const size_t h = idx / hd, d = idx % hd, at = (h * n_ctx + (size_t)p) * hd + d;
        const float kv = k[r * k_stride + idx], vv = v[r * v_stride + idx];
        if (f16) {
            ((__half *)kc)[at] = __float2half_rn(kv);
            ((__half *)vc)[at] = __float2half_rn(vv);
        } else {
            ((float *)kc)[at] = kv;
            ((float *)vc)[at] = vv;
        }
    }
}

int cu_kv_store(struct cuda_backend *cb, const struct mb_kv_store_args *a, struct mb_err *err)
{
    int rc = mb_kv_store_check(a, err);
    if (rc < 0)
        return rc;
    if (a->m > INT32_MAX)
        return mb_fail(err, MB_E_LIMIT, "cuda: kv_store of %zu rows", a->m);
    const struct mb_kv_cache *c = &a->cache;
    const size_t w = c->n_kv_head * c->head_dim;
    kv_store_kernel<<<(unsigned)a->m, 256, 0, cb->stream>>>(
        c->k, c->v, c->type == MB_DTYPE_F16, c->n_ctx, c->n_kv_head, c->head_dim, a->k,
        a->m > 1 ? a->k_stride : w, a->v, a->m > 1 ? a->v_stride : w, a->pos, cb->dflags);
    CU_LAUNCHED(err);
    return 0;
}

template <typename KT, bool ROUND>
static void launch(const attn_params &p, dim3 grid, unsigned threads, size_t smem, cudaStream_t st)
{
    attn_kernel<KT, ROUND><<<grid, threads, smem, st>>>(p);
}

int cu_attention(struct cuda_backend *cb, const struct mb_attention_args *a, struct mb_err *err)
{
    int rc = mb_attention_check(a, err);
    if (rc < 0)
        return rc;
    const struct mb_kv_cache *c = &a->cache;
    const size_t hd = c->head_dim, n_kv = c->n_kv_head;
    if (hd > DMAX)
        return mb_fail(err, MB_E_UNSUPPORTED, "cuda: attention heads of %zu (at most %d)", hd,
                       DMAX);
    if (a->m > 65535 || a->n_head > 65535)
        return mb_fail(err, MB_E_LIMIT, "cuda: attention of %zu rows x %zu heads", a->m, a->n_head);
    const bool round = a->round_f16 && c->type == MB_DTYPE_F16;
    attn_params p = {};
    p.q = a->q;
    p.q_stride = a->m > 1 ? a->q_stride : a->n_head * hd;
    p.out = a->out;
    p.out_stride = a->m > 1 ? a->out_stride : a->n_head * hd;
    p.pos = a->pos;
    p.m = a->m;
    p.k = c->k;
    p.v = c->v;
    p.n_ctx = c->n_ctx;
    p.hd = hd;
    p.n_head = (unsigned)a->n_head;
    p.g = (unsigned)(a->n_head / n_kv);
    p.gb = MB_MIN(p.g, (unsigned)WMAX);
    p.n_hc = (p.g + p.gb - 1) / p.gb;
    p.rows_per_block = MB_MAX(1u, (unsigned)WMAX / p.gb);
    if (p.rows_per_block > a->m)
        p.rows_per_block = (unsigned)a->m;
    p.kt = hd > 128 ? 16 : 32;
    p.scale = a->scale;
    p.flags = cb->dflags;
    const unsigned nwarps = p.rows_per_block * p.gb;
    const size_t row_blocks = (a->m + p.rows_per_block - 1) / p.rows_per_block;
    const size_t base_blocks = n_kv * p.n_hc * row_blocks;
    /* splits from the shapes only (graph-stable), enough blocks for the device */
    size_t splits = 1;
    const size_t want = 2 * (size_t)cb->sm_count;
    if (!round && base_blocks < want)
        splits = MB_MIN(MB_MIN((c->n_ctx + 63) / 64, (want + base_blocks - 1) / base_blocks),
                        (size_t)64);
    splits = MB_MAX(splits, (size_t)1);
    size_t chunk = (c->n_ctx + splits - 1) / splits;
    chunk = (chunk + p.kt - 1) / p.kt * p.kt;
    splits = (c->n_ctx + chunk - 1) / chunk;
    p.n_splits = (unsigned)splits;
    p.chunk = chunk;
    if (splits > 1) {
        size_t floats = splits * a->m * a->n_head * (hd + 2);
        p.part = (float *)cu_scratch(cb, SCR_ATTN, floats * sizeof(float), err);
        if (!p.part)
            return err->code;
    }
    struct cu_act q = {};
    if (hd % 32 == 0 && cu_fused_begin(cb, a->out, a->m, a->n_head * hd, p.out_stride, &q)) {
        p.qs = q.qs;
        p.qd = q.d;
        p.qsum = q.s;
    }
    const size_t smem = (nwarps * hd + (size_t)p.kt * (hd + 1) + (size_t)p.kt * hd) * sizeof(float);
    dim3 grid((unsigned)splits, (unsigned)(n_kv * p.n_hc), (unsigned)row_blocks);
    const unsigned threads = nwarps * WARP;
    if (c->type == MB_DTYPE_F16) {
        if (round)
            launch<__half, true>(p, grid, threads, smem, cb->stream);
        else
            launch<__half, false>(p, grid, threads, smem, cb->stream);
    } else {
        launch<float, false>(p, grid, threads, smem, cb->stream);
    }
    CU_LAUNCHED(err);
    if (splits > 1) {
        attn_merge_kernel<<<(unsigned)(a->m * a->n_head), WARP, 0, cb->stream>>>(p);
        CU_LAUNCHED(err);
    }
    return 0;
}
