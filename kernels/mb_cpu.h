/*
 * mb_cpu.h - what the host CPU can do: the SIMD level the CPU kernels use
 * (chosen once at start-up from cpuid, overridable for tests and benchmarks)
 * and the number of cores (the default for --threads).
 *
 * Levels, each a superset of the one before:
 *   MB_CPU_ISA_SCALAR  portable C, always available (the fallback)
 *   MB_CPU_ISA_AVX2    AVX2 + FMA + F16C (Haswell, Zen 1 and later)
 *   MB_CPU_ISA_AVX512  AVX-512 F/BW/VL/DQ + VNNI (Ice Lake, Zen 4 and later)
 * The default build targets plain x86-64; the AVX2 and AVX-512 code is compiled
 * with per-function target attributes, so MB_NATIVE is not needed.
 */
#ifndef MB_CPU_H
#define MB_CPU_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

enum mb_cpu_isa {
    MB_CPU_ISA_SCALAR = 0,
    MB_CPU_ISA_AVX2 = 1,
    MB_CPU_ISA_AVX512 = 2,
    MB_CPU_ISA_COUNT
};

/* True when this CPU (and OS) can run code of that level. Thread-safe. */
bool mb_cpu_isa_supported(enum mb_cpu_isa isa);

/*
 * The level the kernels use by default: the best supported one, lowered by the
 * environment variable MB_CPU_ISA=scalar|avx2|avx512 when set (a level the CPU
 * lacks is ignored). Decided once; thread-safe.
 */
enum mb_cpu_isa mb_cpu_isa_default(void);

/* "scalar", "avx2", "avx512" ("?" for anything else). */
const char *mb_cpu_isa_name(enum mb_cpu_isa isa);

/* Parse a level name; false when unknown. */
bool mb_cpu_isa_from_name(const char *name, enum mb_cpu_isa *out);

/* Cores this process may run on (sched_getaffinity), at least 1. */
unsigned mb_cpu_count(void);

#ifdef __cplusplus
}
#endif

#endif /* MB_CPU_H */
