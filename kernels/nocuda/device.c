/*
 * device.c - the CUDA entry points of a build without the CUDA backend
 * (MB_CUDA=OFF): every one reports MB_E_UNSUPPORTED, so callers need no #ifdef.
 */
#include "mb_cuda.h"

bool mb_cuda_compiled(void)
{
    return false;
}

int mb_cuda_device_count(int *count, struct mb_err *err)
{
    *count = 0;
    return mb_fail(err, MB_E_UNSUPPORTED, "this build of modularbase has no CUDA backend");
}
