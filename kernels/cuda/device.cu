/*
 * device.cu - CUDA device discovery. cudaGetDeviceCount is the first CUDA
 * call anywhere in the program; on a machine without a driver or GPU it
 * returns an error (statically linked cudart), which we turn into MB_E_CUDA.
 */
#include "mb_cuda.h"

#include <cuda_runtime.h>

bool mb_cuda_compiled(void)
{
    return true;
}

int mb_cuda_device_count(int *count, struct mb_err *err)
{
    *count = 0;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError(); /* clear the sticky error */
        return mb_fail(err, MB_E_CUDA, "no CUDA device available: %s", cudaGetErrorString(e));
    }
    if (n == 0)
        return mb_fail(err, MB_E_CUDA, "no CUDA device available");
    *count = n;
    return 0;
}
