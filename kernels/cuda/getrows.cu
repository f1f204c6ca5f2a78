/*
 * getrows.cu - the embedding lookup: y[i] = dequantize(W row ids[i]), with
 * the ids read from device memory and the values bit-identical to
 * mb_dequantize_row (cuda_common.cuh). An id outside the table raises the
 * backend's error flag (MB_E_FORMAT at the next sync) and its row is skipped.
 */
#include "cuda_common.cuh"
#include "cuda_int.cuh"

/* grid (ceil(n_sub / 64), n): one thread per 32-element sub-block of a row. */
template <int T>
__global__ void get_rows_kernel(const uint8_t *__restrict__ w, size_t row_bytes, size_t rows,
                                size_t cols, const int32_t *__restrict__ ids, float *__restrict__ y,
                                size_t y_stride, struct cu_flags *flags)
{
    const size_t i = blockIdx.y;
    const int32_t id = ids[i];
    if (id < 0 || (size_t)id >= rows) {
        if (blockIdx.x == 0 && threadIdx.x == 0 && atomicCAS(&flags->code, 0, CUF_BAD_ID) == 0) {
            flags->value = id;
            flags->row = (int)i;
            flags->limit = (int)MB_MIN(rows, (size_t)INT32_MAX);
        }
        return;
    }
    const uint8_t *row = w + (size_t)id * row_bytes;
    float *out = y + i * y_stride;
    constexpr bool plain = T == MB_DTYPE_F32 || T == MB_DTYPE_F16 || T == MB_DTYPE_BF16;
    if constexpr (plain) {
        /* any width: one element per thread */
        for (size_t j = (size_t)blockIdx.x * blockDim.x + threadIdx.x; j < cols;
             j += (size_t)gridDim.x * blockDim.x) {
            if constexpr (T == MB_DTYPE_F32)
                out[j] = ((const float *)row)[j];
            else if constexpr (T == MB_DTYPE_F16)
                out[j] = f16_at(row + 2 * j);
            else
                out[j] = bf16_bits(ld_u16(row + 2 * j));
        }
    } else {
        const size_t ib = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
        if (ib >= cols / 32)
            return;
        float v[32];
        dq_sub<T>(row, (int)ib, v);
#pragma unroll
        for (int j = 0; j < 32; j++)
            out[32 * ib + j] = v[j];
    }
}

template <int T>
static void launch(const struct mb_get_rows_args *a, size_t rb, cudaStream_t st,
                   struct cu_flags *flags)
{
    constexpr bool plain = T == MB_DTYPE_F32 || T == MB_DTYPE_F16 || T == MB_DTYPE_BF16;
    const size_t work = plain ? a->w.cols : a->w.cols / 32;
    const unsigned threads = 64;
    const unsigned gx = (unsigned)MB_MIN((work + threads - 1) / threads, (size_t)65535);
    dim3 grid(gx ? gx : 1, (unsigned)a->n);
    get_rows_kernel<T><<<grid, threads, 0, st>>>((const uint8_t *)a->w.data, rb, a->w.rows,
                                                 a->w.cols, a->ids, a->y, a->y_stride, flags);
}

int cu_get_rows(struct cuda_backend *cb, const struct mb_get_rows_args *a, struct mb_err *err)
{
    int rc = mb_get_rows_check(a, err);
    if (rc < 0)
        return rc;
    if (a->n > 65535)
        return mb_fail(err, MB_E_LIMIT, "cuda: get_rows of %zu rows (at most 65535 per op)", a->n);
    uint64_t rb;
    mb_dtype_row_size(a->w.type, a->w.cols, &rb);
    switch (a->w.type) {
    case MB_DTYPE_F32:
        launch<MB_DTYPE_F32>(a, (size_t)rb, cb->stream, cb->dflags);
        break;
    case MB_DTYPE_F16:
        launch<MB_DTYPE_F16>(a, (size_t)rb, cb->stream, cb->dflags);
        break;
    case MB_DTYPE_BF16:
        launch<MB_DTYPE_BF16>(a, (size_t)rb, cb->stream, cb->dflags);
        break;
    case MB_DTYPE_Q4_0:
        launch<MB_DTYPE_Q4_0>(a, (size_t)rb, cb->stream, cb->dflags);
        break;
    case MB_DTYPE_Q4_1:
        launch<MB_DTYPE_Q4_1>(a, (size_t)rb, cb->stream, cb->dflags);
        break;
    case MB_DTYPE_Q5_0:
        launch<MB_DTYPE_Q5_0>(a, (size_t)rb, cb->stream, cb->dflags);
        break;
    case MB_DTYPE_Q5_1:
        launch<MB_DTYPE_Q5_1>(a, (size_t)rb, cb->stream, cb->dflags);
        break;
    case MB_DTYPE_Q8_0:
        launch<MB_DTYPE_Q8_0>(a, (size_t)rb, cb->stream, cb->dflags);
        break;
    case MB_DTYPE_Q4_K:
        launch<MB_DTYPE_Q4_K>(a, (size_t)rb, cb->stream, cb->dflags);
        break;
    case MB_DTYPE_Q5_K:
        launch<MB_DTYPE_Q5_K>(a, (size_t)rb, cb->stream, cb->dflags);
        break;
    case MB_DTYPE_Q6_K:
        launch<MB_DTYPE_Q6_K>(a, (size_t)rb, cb->stream, cb->dflags);
        break;
    default:
        return mb_fail(err, MB_E_UNSUPPORTED, "cuda: get_rows of %s rows",
                       mb_dtype_name(a->w.type));
    }
    CU_LAUNCHED(err);
    return 0;
}
