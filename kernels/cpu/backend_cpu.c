/*
 * backend_cpu.c - the CPU backend: the mb_backend_ops table over host memory,
 * the thread pool, the SIMD level's kernel tables, and the scratch memory the
 * ops share (grown on demand, capped, kept between ops).
 */
#include "cpu_int.h"

#define DEFAULT_MAX_SCRATCH ((size_t)1 << 30)

static struct cpu_backend *cpu_of(struct mb_backend *be)
{
    return (struct cpu_backend *)be;
}

/* 64-byte aligned allocation through mb_malloc: the raw pointer sits just before. */
static void *aligned_new(size_t n)
{
    size_t total;
    if (!mb_add_ok(n, 64 + sizeof(void *), &total))
        return NULL;
    uint8_t *raw = mb_malloc(total);
    if (!raw)
        return NULL;
    uintptr_t p = ((uintptr_t)raw + sizeof(void *) + 63) & ~(uintptr_t)63;
    memcpy((void *)(p - sizeof(void *)), &raw, sizeof(void *));
    return (void *)p;
}

static void aligned_free(void *p)
{
    if (!p)
        return;
    void *raw;
    memcpy(&raw, (uint8_t *)p - sizeof(void *), sizeof(void *));
    mb_free(raw);
}

void *cpu_scratch(struct cpu_backend *cpu, size_t n, struct mb_err *err)
{
    if (n <= cpu->scratch_size)
        return cpu->scratch;
    if (n > cpu->max_scratch) {
        mb_fail(err, MB_E_LIMIT, "cpu backend: %zu bytes of scratch memory exceed the cap of %zu",
                n, cpu->max_scratch);
        return NULL;
    }
    /* Grow geometrically so a slowly growing context does not reallocate per token. */
    size_t want = MB_MAX(n, MB_MIN(cpu->scratch_size * 2, cpu->max_scratch));
    void *p = aligned_new(want);
    if (!p) {
        mb_fail(err, MB_E_NOMEM, "cpu backend: out of memory for %zu bytes of scratch", want);
        return NULL;
    }
    aligned_free(cpu->scratch);
    cpu->scratch = p;
    cpu->scratch_size = want;
    return p;
}

static bool cpu_supports(const struct mb_backend *be, enum mb_op op, uint32_t type)
{
    const struct cpu_backend *cpu = (const struct cpu_backend *)be;
    switch (op) {
    case MB_OP_MATMUL:
    case MB_OP_GET_ROWS:
        return type < MB_DTYPE_COUNT && mb_matmul_type_supported(type) && cpu->mm[type].run;
    case MB_OP_KV_STORE:
    case MB_OP_ATTENTION:
        return type == MB_DTYPE_F32 || type == MB_DTYPE_F16;
    case MB_OP_RMSNORM:
    case MB_OP_ROPE:
    case MB_OP_SOFTMAX:
    case MB_OP_SILU_MUL:
    case MB_OP_ADD:
    case MB_OP_SCALE:
    case MB_OP_AXPY:
    case MB_OP_TOPK:
        return true;
    default:
        return false;
    }
}

static int cpu_alloc(struct mb_backend *be, size_t n, void **out, struct mb_err *err)
{
    (void)be;
    *out = aligned_new(n ? n : 1);
    if (!*out)
        return mb_fail(err, MB_E_NOMEM, "cpu backend: out of memory allocating %zu bytes", n);
    return 0;
}

static void cpu_free(struct mb_backend *be, void *p)
{
    (void)be;
    aligned_free(p);
}

static int cpu_copy(struct mb_backend *be, void *dst, const void *src, size_t n, struct mb_err *err)
{
    (void)be;
    if (n && (!dst || !src))
        return mb_fail(err, MB_E_USAGE, "cpu backend: copy of %zu bytes with a NULL pointer", n);
    if (n)
        memmove(dst, src, n);
    return 0;
}

static int cpu_sync(struct mb_backend *be, struct mb_err *err)
{
    (void)be;
    (void)err;
    return 0;
}

#define WRAP(op, args_t)                                                                 \
    static int w_##op(struct mb_backend *be, const struct args_t *a, struct mb_err *err) \
    {                                                                                    \
        return cpu_##op(cpu_of(be), a, err);                                             \
    }
WRAP(matmul, mb_matmul_args)
WRAP(get_rows, mb_get_rows_args)
WRAP(rmsnorm, mb_rmsnorm_args)
WRAP(rope, mb_rope_args)
WRAP(kv_store, mb_kv_store_args)
WRAP(attention, mb_attention_args)
WRAP(softmax, mb_softmax_args)
WRAP(silu_mul, mb_silu_mul_args)
WRAP(add, mb_add_args)
WRAP(scale, mb_scale_args)
WRAP(axpy, mb_axpy_args)
WRAP(topk, mb_topk_args)

static void cpu_destroy(struct mb_backend *be)
{
    struct cpu_backend *cpu = cpu_of(be);
    mb_pool_free(cpu->pool);
    aligned_free(cpu->scratch);
    mb_free(cpu);
}

static const struct mb_backend_ops cpu_ops = {
    .supports = cpu_supports,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_copy,
    .download = cpu_copy,
    .sync = cpu_sync,
    .matmul = w_matmul,
    .get_rows = w_get_rows,
    .rmsnorm = w_rmsnorm,
    .rope = w_rope,
    .kv_store = w_kv_store,
    .attention = w_attention,
    .softmax = w_softmax,
    .silu_mul = w_silu_mul,
    .add = w_add,
    .scale = w_scale,
    .axpy = w_axpy,
    .topk = w_topk,
    .destroy = cpu_destroy,
};

int mb_backend_cpu_new(const struct mb_cpu_opts *opts, struct mb_backend **out, struct mb_err *err)
{
    *out = NULL;
    struct mb_cpu_opts def = { 0 };
    if (!opts)
        opts = &def;
    enum mb_cpu_isa isa = mb_cpu_isa_default();
    if (opts->force_isa) {
        if (!mb_cpu_isa_supported(opts->isa))
            return mb_fail(err, MB_E_UNSUPPORTED, "cpu backend: this CPU cannot run %s code",
                           mb_cpu_isa_name(opts->isa));
        isa = opts->isa;
    }
    struct cpu_backend *cpu = mb_calloc(1, sizeof(*cpu));
    if (!cpu)
        return mb_fail(err, MB_E_NOMEM, "out of memory creating the cpu backend");
    int rc = mb_pool_new(opts->n_threads, &cpu->pool, err);
    if (rc < 0) {
        mb_free(cpu);
        return rc;
    }
    cpu->base.ops = &cpu_ops;
    cpu->base.host_memory = true;
    mb_snprintf(cpu->base.name, sizeof(cpu->base.name), "cpu-%s", mb_cpu_isa_name(isa));
    cpu->n_threads = mb_pool_size(cpu->pool);
    cpu->isa = isa;
    cpu->max_scratch = opts->max_scratch ? opts->max_scratch : DEFAULT_MAX_SCRATCH;

    /* Each level starts from the one below and overrides what it does better. */
    mm_table_scalar(cpu->mm);
    ops_table_scalar(&cpu->ops);
    cpu->act_quant = act_quant_scalar;
    if (isa >= MB_CPU_ISA_AVX2) {
        mm_table_avx2(cpu->mm);
        ops_table_avx2(&cpu->ops);
        cpu->act_quant = act_quant_avx2;
    }
    if (isa >= MB_CPU_ISA_AVX512) {
        mm_table_avx512(cpu->mm);
        ops_table_avx512(&cpu->ops);
    }
    *out = &cpu->base;
    return 0;
}

enum mb_cpu_isa mb_backend_cpu_isa(const struct mb_backend *be)
{
    return ((const struct cpu_backend *)be)->isa;
}

unsigned mb_backend_cpu_threads(const struct mb_backend *be)
{
    return ((const struct cpu_backend *)be)->n_threads;
}

void mb_backend_free(struct mb_backend *be)
{
    if (be)
        be->ops->destroy(be);
}
