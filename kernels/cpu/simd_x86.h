/*
 * simd_x86.h - helpers shared by the x86 SIMD files: the pragmas that compile
 * a whole file for AVX2 (+FMA, F16C) or AVX-512 without -march flags, so the
 * default build runs on any x86-64 and picks the level at run time, and small
 * vector utilities (horizontal sums, a vectorised expf).
 *
 * Include after defining MB_SIMD_AVX2 or MB_SIMD_AVX512; end the file with
 * MB_SIMD_END.
 */
#ifndef MB_SIMD_X86_H
#define MB_SIMD_X86_H

#if defined(__x86_64__) || defined(__i386__)
#define MB_HAVE_X86 1

#if defined(MB_SIMD_AVX512)
#define MB_TARGET "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"
#else
#define MB_TARGET "avx2,fma,f16c"
#endif

#define MB_PRAGMA_(x) _Pragma(#x)
#define MB_PRAGMA(x)  MB_PRAGMA_(x)
#if defined(__clang__)
#define MB_SIMD_BEGIN \
    MB_PRAGMA(clang attribute push(__attribute__((target(MB_TARGET))), apply_to = function))
#define MB_SIMD_END _Pragma("clang attribute pop")
#else
#define MB_SIMD_BEGIN _Pragma("GCC push_options") MB_PRAGMA(GCC target(MB_TARGET))
#define MB_SIMD_END   _Pragma("GCC pop_options")
#endif

#endif /* x86 */
#endif /* MB_SIMD_X86_H */
