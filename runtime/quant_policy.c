/*
 * quant_policy.c - the per-tensor quantization policy (mb_quant.h): which role
 * a tensor plays (from its name and shape), which type that role gets, the
 * Q4_K mix and the head rule borrowed from llama.cpp's llama-quant.cpp, and the
 * fallback for rows a block length does not divide. The result is a plan that
 * the writer (quant_write.c) executes and the CLI prints.
 */
#include "mb_dequant.h"
#include "mb_dtype.h"
#include "mb_quant.h"

#include <stdio.h>

void mb_quant_policy_init(struct mb_quant_policy *p)
{
    memset(p, 0, sizeof(*p));
    p->type = MB_DTYPE_Q8_0;
    p->embd_type = MB_QUANT_TYPE_DEFAULT;
    p->head_type = MB_QUANT_TYPE_DEFAULT;
    p->adapter_type = MB_QUANT_TYPE_DEFAULT;
}

bool mb_quant_type_ok(uint32_t type)
{
    switch (type) {
    case MB_DTYPE_F32:
    case MB_DTYPE_F16:
    case MB_DTYPE_BF16:
    case MB_DTYPE_Q8_0:
    case MB_DTYPE_Q4_0:
    case MB_DTYPE_Q4_1:
    case MB_DTYPE_Q5_0:
    case MB_DTYPE_Q5_1:
    case MB_DTYPE_Q4_K:
    case MB_DTYPE_Q6_K:
        return true;
    default:
        return false;
    }
}

uint32_t mb_quant_file_type(const struct mb_quant_policy *p)
{
    switch (p->type) {
    case MB_DTYPE_F32:
        return 0;
    case MB_DTYPE_F16:
        return 1;
    case MB_DTYPE_Q4_0:
        return 2;
    case MB_DTYPE_Q4_1:
        return 3;
    case MB_DTYPE_Q8_0:
        return 7;
    case MB_DTYPE_Q5_0:
        return 8;
    case MB_DTYPE_Q5_1:
        return 9;
    case MB_DTYPE_Q4_K:
        return p->pure ? 14 : 15;
    case MB_DTYPE_Q6_K:
        return 18;
    case MB_DTYPE_BF16:
        return 32;
    default:
        return 0;
    }
}

const char *mb_quant_role_name(enum mb_quant_role r)
{
    switch (r) {
    case MB_QUANT_ROLE_VECTOR:
        return "vector";
    case MB_QUANT_ROLE_OTHER:
        return "other";
    case MB_QUANT_ROLE_MATRIX:
        return "matrix";
    case MB_QUANT_ROLE_EMBEDDING:
        return "embedding";
    case MB_QUANT_ROLE_HEAD:
        return "head";
    case MB_QUANT_ROLE_ADAPTER:
        return "adapter";
    }
    return "unknown";
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !memcmp(s + n - m, suffix, m);
}

static bool is_float_type(uint32_t t)
{
    return t == MB_DTYPE_F32 || t == MB_DTYPE_F16 || t == MB_DTYPE_BF16;
}

static bool is_quantized(uint32_t t)
{
    const struct mb_dtype_traits *tr = mb_dtype_traits(t);
    return tr && tr->quantized;
}

static enum mb_quant_role role_of(const struct mb_gguf_tensor *t, bool tied)
{
    const char *name = t->name;
    if (t->n_dims < 2)
        return MB_QUANT_ROLE_VECTOR;
    if (!ends_with(name, "weight") || strstr(name, "_norm.weight"))
        return MB_QUANT_ROLE_OTHER;
    if (!strcmp(name, "token_embd.weight"))
        return tied ? MB_QUANT_ROLE_HEAD : MB_QUANT_ROLE_EMBEDDING;
    if (!strcmp(name, "output.weight"))
        return MB_QUANT_ROLE_HEAD;
    if (!strncmp(name, "adapter_", 8) || strstr(name, ".adapter_"))
        return MB_QUANT_ROLE_ADAPTER;
    return MB_QUANT_ROLE_MATRIX;
}

/* The layer number of "blk.N.rest", or -1. */
static long layer_of(const char *name)
{
    if (strncmp(name, "blk.", 4))
        return -1;
    const char *p = name + 4;
    long v = 0;
    if (*p < '0' || *p > '9')
        return -1;
    while (*p >= '0' && *p <= '9' && v < 1000000)
        v = v * 10 + (*p++ - '0');
    return *p == '.' ? v : -1;
}

/* llama.cpp's use_more_bits(): the first and last eighth of the layers and every third between. */
static bool use_more_bits(size_t i, size_t n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* The tensors that the Q4_K mix may raise: attn_v (and fused qkv) and ffn_down. */
enum mix_cat { MIX_NONE, MIX_ATTN_V, MIX_FFN_DOWN };

static enum mix_cat mix_category(const char *name)
{
    if (strstr(name, "attn_v.weight") || strstr(name, "attn_qkv.weight"))
        return MIX_ATTN_V;
    if (strstr(name, "ffn_down"))
        return MIX_FFN_DOWN;
    return MIX_NONE;
}

/*
 * The index of tensor `k` among the matrices of its mix category, in llama.cpp's
 * order (by layer number, then by name), and the count of that category.
 */
static void mix_rank(const struct mb_gguf *g, const struct mb_quant_item *items, size_t k,
                     size_t *rank, size_t *count)
{
    const struct mb_gguf_tensor *t = items[k].t;
    enum mix_cat cat = mix_category(t->name);
    long lk = layer_of(t->name);
    *rank = 0;
    *count = 0;
    for (size_t i = 0; i < mb_gguf_tensor_count(g); i++) {
        const struct mb_gguf_tensor *u = items[i].t;
        if (items[i].role != MB_QUANT_ROLE_MATRIX || mix_category(u->name) != cat)
            continue;
        (*count)++;
        long li = layer_of(u->name);
        if (li < lk || (li == lk && strcmp(u->name, t->name) < 0))
            (*rank)++;
    }
}

/* llama.cpp's tensor_type_fallback(): a type whose block divides the row length. */
static uint32_t fallback_type(uint32_t want, uint64_t row)
{
    const struct mb_dtype_traits *tr = mb_dtype_traits(want);
    if (!tr || row % tr->block_len == 0)
        return want;
    uint32_t t = want;
    switch (want) {
    case MB_DTYPE_Q4_K:
        t = MB_DTYPE_Q5_0;
        break;
    case MB_DTYPE_Q5_K:
        t = MB_DTYPE_Q5_1;
        break;
    case MB_DTYPE_Q6_K:
        t = MB_DTYPE_Q8_0;
        break;
    default:
        break;
    }
    tr = mb_dtype_traits(t);
    if (!tr || row % tr->block_len)
        t = MB_DTYPE_F16;
    return t;
}

/* The head's type: the flag, else Q8_0 for Q8_0, Q6_K for quantized types, the type for floats. */
static uint32_t head_type(const struct mb_quant_policy *p)
{
    if (p->head_type != MB_QUANT_TYPE_DEFAULT)
        return p->head_type;
    if (p->pure || !is_quantized(p->type) || p->type == MB_DTYPE_Q8_0)
        return p->type;
    return MB_DTYPE_Q6_K;
}

static uint32_t wanted_type(const struct mb_gguf *g, const struct mb_quant_policy *p,
                            struct mb_quant_item *items, size_t k)
{
    struct mb_quant_item *it = &items[k];
    switch (it->role) {
    case MB_QUANT_ROLE_VECTOR:
    case MB_QUANT_ROLE_OTHER:
        return it->t->type;
    case MB_QUANT_ROLE_EMBEDDING:
        return p->embd_type != MB_QUANT_TYPE_DEFAULT ? p->embd_type : p->type;
    case MB_QUANT_ROLE_HEAD:
        /* a tied embedding is the head: --embeddings still names it first */
        if (!strcmp(it->t->name, "token_embd.weight") && p->embd_type != MB_QUANT_TYPE_DEFAULT)
            return p->embd_type;
        return head_type(p);
    case MB_QUANT_ROLE_ADAPTER:
        return p->adapter_type != MB_QUANT_TYPE_DEFAULT ? p->adapter_type : MB_DTYPE_F16;
    case MB_QUANT_ROLE_MATRIX:
        break;
    }
    if (p->type == MB_DTYPE_Q4_K && !p->pure && mix_category(it->t->name) != MIX_NONE) {
        size_t rank, count;
        mix_rank(g, items, k, &rank, &count);
        if (use_more_bits(rank, count)) {
            it->mixed = true;
            return MB_DTYPE_Q6_K;
        }
    }
    return p->type;
}

static int check_type(uint32_t t, const char *what, struct mb_err *err)
{
    if (t == MB_QUANT_TYPE_DEFAULT || mb_quant_type_ok(t))
        return 0;
    return mb_fail(err, MB_E_USAGE, "%s: cannot write type '%s' (supported: %s)", what,
                   mb_dtype_name(t), MB_QUANT_TYPE_NAMES);
}

int mb_quant_plan_make(const struct mb_gguf *g, const struct mb_quant_policy *p,
                       struct mb_quant_plan *plan, struct mb_err *err)
{
    memset(plan, 0, sizeof(*plan));
    int rc = check_type(p->type, "quantization type", err);
    rc = rc ? rc : check_type(p->embd_type, "embedding type", err);
    rc = rc ? rc : check_type(p->head_type, "head type", err);
    rc = rc ? rc : check_type(p->adapter_type, "adapter type", err);
    if (rc)
        return rc;
    if (p->type == MB_QUANT_TYPE_DEFAULT)
        return mb_fail(err, MB_E_USAGE, "no quantization type given");

    size_t n = mb_gguf_tensor_count(g);
    plan->items = mb_calloc(n ? n : 1, sizeof(*plan->items));
    if (!plan->items)
        return mb_fail(err, MB_E_NOMEM, "out of memory for the quantization plan");
    plan->n = n;
    plan->tied_head = mb_gguf_find_tensor(g, "output.weight") == NULL;
    for (size_t i = 0; i < n; i++) {
        plan->items[i].t = mb_gguf_tensor_at(g, i);
        plan->items[i].role = role_of(plan->items[i].t, plan->tied_head);
    }

    for (size_t i = 0; i < n; i++) {
        struct mb_quant_item *it = &plan->items[i];
        const struct mb_gguf_tensor *t = it->t;
        uint32_t want = wanted_type(g, p, plan->items, i);
        it->want = want;
        it->type = want;
        if (want != t->type && it->role == MB_QUANT_ROLE_ADAPTER &&
            p->adapter_type == MB_QUANT_TYPE_DEFAULT && !is_float_type(t->type)) {
            /* the default F16 would widen a quantized adapter, which gains nothing */
            it->type = t->type;
            it->kept_wide = true;
        } else if (want != t->type) {
            it->type = fallback_type(want, t->dims[0]);
            it->fallback = it->type != want;
        }
        if (it->type != t->type) {
            if (!mb_dequantize_supported(t->type)) {
                /* the message first: the plan (and `it`) is released below */
                mb_fail(err, MB_E_UNSUPPORTED,
                        "%s: tensor '%s' has type %s, which cannot be read to convert it to %s",
                        mb_gguf_name(g), t->name, mb_dtype_name(t->type), mb_dtype_name(it->type));
                mb_quant_plan_release(plan);
                return MB_E_UNSUPPORTED;
            }
            it->requant = is_quantized(t->type) && is_quantized(it->type);
            plan->n_convert++;
            plan->n_fallback += it->fallback;
            plan->n_requant += it->requant;
        }
        uint64_t row_bytes, nbytes;
        if (!mb_dtype_row_size(it->type, t->dims[0], &row_bytes) ||
            !mb_mul_u64_ok(row_bytes, t->n_elements / t->dims[0], &nbytes)) {
            mb_fail(err, MB_E_LIMIT, "%s: tensor '%s' is too large as %s", mb_gguf_name(g), t->name,
                    mb_dtype_name(it->type));
            mb_quant_plan_release(plan);
            return MB_E_LIMIT;
        }
        it->nbytes = nbytes;
        plan->bytes_in += t->nbytes;
        plan->bytes_out += nbytes;
    }
    return 0;
}

void mb_quant_plan_release(struct mb_quant_plan *plan)
{
    mb_free(plan->items);
    memset(plan, 0, sizeof(*plan));
}
