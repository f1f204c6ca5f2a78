/*
 * mb_kernels.h - the only interface of kernels/: element types and block
 * layouts, and one header per op family. The runtime includes this header and
 * nothing below it; no CUDA type leaks above kernels/.
 */
#ifndef MB_KERNELS_H
#define MB_KERNELS_H

#include "mb_dtype.h"
#include "mb_dequant.h"
#include "mb_cuda.h"

#endif /* MB_KERNELS_H */
