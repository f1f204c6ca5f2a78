/*
 * mb_cuda.h - the CUDA backend's host-side entry points that exist in every
 * build. With CUDA compiled out (MB_CUDA=OFF) they return MB_E_UNSUPPORTED
 * (kernels/nocuda/), so callers never need #ifdefs. No CUDA type appears here.
 */
#ifndef MB_CUDA_H
#define MB_CUDA_H

#include "mb_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* True when this binary was built with the CUDA backend. */
bool mb_cuda_compiled(void);

/*
 * Number of usable CUDA devices. Fails with MB_E_CUDA (driver missing, no
 * device, version mismatch; the message says which) or MB_E_UNSUPPORTED when
 * compiled out. Never crashes on a machine without a GPU or driver.
 */
int mb_cuda_device_count(int *count, struct mb_err *err);

#ifdef __cplusplus
}
#endif

#endif /* MB_CUDA_H */
