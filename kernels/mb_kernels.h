/*
 * mb_kernels.h - the only interface of kernels/: element types and block
 * layouts, dequantization, the CPU's SIMD level and thread pool, one header
 * per op family (matmul, norm, rope, attention, element-wise) and the backend
 * table the runtime calls them through. The runtime includes this header and
 * nothing below it; no CUDA type leaks above kernels/.
 */
#ifndef MB_KERNELS_H
#define MB_KERNELS_H

#include "mb_dtype.h"
#include "mb_dequant.h"
#include "mb_quantize.h"
#include "mb_cpu.h"
#include "mb_threadpool.h"
#include "mb_matmul.h"
#include "mb_norm.h"
#include "mb_rope.h"
#include "mb_attention.h"
#include "mb_elementwise.h"
#include "mb_topk.h"
#include "mb_backend.h"
#include "mb_cuda.h"

#endif /* MB_KERNELS_H */
