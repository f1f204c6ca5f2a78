/*
 * topk.cu - the k best logits with their ids on the device (mb_topk.h), so
 * that sampling copies k candidates back instead of the whole vocabulary.
 *
 * k = 1 (greedy): one 1024-thread block scans the row and reduces (value,
 * lower id on ties). k > 1: every value becomes a 64-bit key that sorts in
 * the sampler's order (order-preserving bits of the value above the
 * complemented id); passes of blocks each bitonic-sort 2048 keys in shared
 * memory and keep their best kp (k rounded up to a power of two), until one
 * block is left. Launch shapes depend on n and k only (graph-stable).
 */
#include "cuda_common.cuh"
#include "cuda_int.cuh"

#define SORT_N 2048

__device__ __forceinline__ uint64_t make_key(float v, uint32_t id)
{
    if (isnan(v))
        v = -INFINITY;
    uint32_t u = __float_as_uint(v);
    if ((u & 0x7fffffffu) == 0)
        u = 0; /* -0 and +0 are equal to the sampler: the lower id decides */
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return ((uint64_t)u << 32) | (uint64_t)(0xffffffffu - id);
}

__device__ __forceinline__ void split_key(uint64_t key, float *v, int32_t *id)
{
    uint32_t u = (uint32_t)(key >> 32);
    u = (u & 0x80000000u) ? (u & 0x7fffffffu) : ~u;
    *v = __uint_as_float(u);
    *id = (int32_t)(0xffffffffu - (uint32_t)key);
}

/* Greedy: the best (value, lowest id) of x[0..n). */
__global__ void __launch_bounds__(1024)
    argmax_kernel(const float *__restrict__ x, size_t n, float *vals, int32_t *ids)
{
    __shared__ uint64_t part[32];
    uint64_t best = 0;
    for (size_t i = threadIdx.x; i < n; i += blockDim.x) {
        const uint64_t k = make_key(x[i], (uint32_t)i);
        best = k > best ? k : best;
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const uint64_t other = __shfl_xor_sync(FULL_MASK, best, o);
        best = other > best ? other : best;
    }
    if (threadIdx.x % WARP == 0)
        part[threadIdx.x / WARP] = best;
    __syncthreads();
    if (threadIdx.x == 0) {
        for (unsigned i = 1; i < blockDim.x / WARP; i++)
            best = part[i] > best ? part[i] : best;
        split_key(best, vals, ids);
    }
}

/*
 * One pass: block b sorts keys [b*SORT_N, (b+1)*SORT_N) of the input (floats
 * on the first pass, keys after) descending and writes its best kp to out.
 * The last pass (one block) writes k values and ids instead.
 */
__global__ void __launch_bounds__(SORT_N / 2)
    topk_pass_kernel(const float *__restrict__ x, const uint64_t *__restrict__ in, size_t n,
                     unsigned kp, uint64_t *__restrict__ out, unsigned k, float *vals, int32_t *ids)
{
    __shared__ uint64_t s[SORT_N];
    const size_t base = (size_t)blockIdx.x * SORT_N;
    for (unsigned i = threadIdx.x; i < SORT_N; i += blockDim.x) {
        const size_t g = base + i;
        uint64_t key = 0; /* below every real key: never chosen while k <= n */
        if (g < n)
            key = x ? make_key(x[g], (uint32_t)g) : in[g];
        s[i] = key;
    }
    for (unsigned size = 2; size <= SORT_N; size <<= 1) {
        for (unsigned stride = size / 2; stride > 0; stride >>= 1) {
            __syncthreads();
            const unsigned t = threadIdx.x;
            const unsigned i = 2 * t - (t & (stride - 1)), j = i + stride;
            const bool up = (i & size) == 0;
            const uint64_t a = s[i], b = s[j];
            if ((a < b) == up) {
                s[i] = b;
                s[j] = a;
            }
        }
    }
    __syncthreads();
    if (out) {
        for (unsigned i = threadIdx.x; i < kp; i += blockDim.x)
            out[(size_t)blockIdx.x * kp + i] = s[i];
    } else {
        for (unsigned i = threadIdx.x; i < k; i += blockDim.x)
            split_key(s[i], vals + i, ids + i);
    }
}

int cu_topk(struct cuda_backend *cb, const struct mb_topk_args *a, struct mb_err *err)
{
    int rc = mb_topk_check(a, err);
    if (rc < 0)
        return rc;
    if (a->k == 1) {
        argmax_kernel<<<1, 1024, 0, cb->stream>>>(a->x, a->n, a->vals, a->ids);
        CU_LAUNCHED(err);
        return 0;
    }
    unsigned kp = 1;
    while (kp < a->k)
        kp <<= 1;
    /* ping-pong key buffers: the first pass's output is the largest */
    const size_t blocks0 = (a->n + SORT_N - 1) / SORT_N;
    const size_t half = blocks0 * kp;
    uint64_t *buf = (uint64_t *)cu_scratch(cb, SCR_TOPK, 2 * half * sizeof(uint64_t), err);
    if (!buf)
        return err->code;
    const float *x = a->x;
    const uint64_t *in = NULL;
    size_t n = a->n;
    int side = 0;
    for (;;) {
        const size_t blocks = (n + SORT_N - 1) / SORT_N;
        if (blocks == 1) {
            topk_pass_kernel<<<1, SORT_N / 2, 0, cb->stream>>>(x, in, n, kp, NULL, (unsigned)a->k,
                                                               a->vals, a->ids);
            CU_LAUNCHED(err);
            return 0;
        }
        uint64_t *out = buf + (size_t)side * half;
        topk_pass_kernel<<<(unsigned)blocks, SORT_N / 2, 0, cb->stream>>>(x, in, n, kp, out, 0,
                                                                          NULL, NULL);
        CU_LAUNCHED(err);
        x = NULL;
        in = out;
        n = blocks * kp;
        side ^= 1;
    }
}
