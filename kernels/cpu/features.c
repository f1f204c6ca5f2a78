/*
 * features.c - CPU feature detection for the kernels' SIMD dispatch. GCC and
 * clang's __builtin_cpu_supports reads cpuid and checks that the OS saves the
 * wider registers (XGETBV), which is what we need before running AVX code;
 * F16C and VNNI are read from cpuid directly (their register state is the
 * one AVX/AVX-512F already checked).
 */
#include "mb_cpu.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <sched.h>
#include <stdatomic.h>
#include <strings.h>
#include <unistd.h>

static const char *const isa_names[MB_CPU_ISA_COUNT] = { "scalar", "avx2", "avx512" };

#if defined(__x86_64__) || defined(__i386__)
/*
 * Features not every compiler's __builtin_cpu_supports knows (clang 14 lacks
 * both): F16C is CPUID.1:ECX bit 29, AVX512-VNNI CPUID.(7,0):ECX bit 11.
 */
static bool has_f16c(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && ((c >> 29) & 1u);
}

static bool has_avx512_vnni(void)
{
    unsigned a, b, c, d;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && ((c >> 11) & 1u);
}
#endif

bool mb_cpu_isa_supported(enum mb_cpu_isa isa)
{
    switch (isa) {
    case MB_CPU_ISA_SCALAR:
        return true;
#if defined(__x86_64__) || defined(__i386__)
    case MB_CPU_ISA_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c();
    case MB_CPU_ISA_AVX512:
        return mb_cpu_isa_supported(MB_CPU_ISA_AVX2) && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512dq") && has_avx512_vnni();
#endif
    default:
        return false;
    }
}

const char *mb_cpu_isa_name(enum mb_cpu_isa isa)
{
    if ((unsigned)isa >= MB_CPU_ISA_COUNT)
        return "?";
    return isa_names[isa];
}

bool mb_cpu_isa_from_name(const char *name, enum mb_cpu_isa *out)
{
    for (unsigned i = 0; i < MB_CPU_ISA_COUNT; i++) {
        if (!strcasecmp(name, isa_names[i])) {
            *out = (enum mb_cpu_isa)i;
            return true;
        }
    }
    return false;
}

enum mb_cpu_isa mb_cpu_isa_default(void)
{
    static atomic_int cached = -1;
    int v = atomic_load_explicit(&cached, memory_order_acquire);
    if (v >= 0)
        return (enum mb_cpu_isa)v;
    enum mb_cpu_isa best = MB_CPU_ISA_SCALAR;
    for (int i = MB_CPU_ISA_COUNT - 1; i > 0; i--) {
        if (mb_cpu_isa_supported((enum mb_cpu_isa)i)) {
            best = (enum mb_cpu_isa)i;
            break;
        }
    }
    const char *env = getenv("MB_CPU_ISA");
    enum mb_cpu_isa want;
    if (env && *env && mb_cpu_isa_from_name(env, &want) && want < best)
        best = want;
    atomic_store_explicit(&cached, (int)best, memory_order_release);
    return best;
}

unsigned mb_cpu_count(void)
{
#ifdef CPU_COUNT
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return (unsigned)n;
    }
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1u;
}
