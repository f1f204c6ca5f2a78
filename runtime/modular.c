/*
 * modular.c - the modular model's forward pass (docs/modular.md): the session
 * of mb_modular_new runs embedding -> understanding stack -> selected data
 * packs (each with its own KV cache, adapters and width) -> weighted sum ->
 * fusion stack -> head. The blocks in the middle plug into struct mb_session
 * through struct mb_session_blocks, so `chat`, `run` and the generation loop
 * drive a modular model exactly as they drive a plain one.
 *
 * h_u (the understanding stack's output) is stored for every position; a pack
 * whose cache is behind (selected late, or not selected for a while) first
 * runs over the stored h_u of the positions it missed - the base is never run
 * again. Fusion keys and values of earlier positions are kept as computed
 * under the selection of their time (not recomputed when it changes).
 *
 * Exactness: with one selected pack of weight 1 and no adapters, the pack's
 * blocks run in place on the understanding stack's output, so base + general
 * performs the very operations of the unsplit model, in the same order.
 */
#include "mb_modular.h"
#include "model_int.h"

#include <math.h>

#define MAX_SLOTS 32 /* packs whose caches are kept */

struct slot {
    struct mb_data_pack *p; /* borrowed */
    struct mb_stack_state *st;
    float *x; /* n_batch x pack width: the pack's hidden states */
    float *y; /* n_batch x base width: its output after adapter_out */
    uint64_t last_used;
};

struct mb_modular {
    struct mb_base *base;
    struct mb_backend *be;
    size_t n_ctx, n_batch, d;
    uint32_t kv_type;
    struct mb_stack_state *su, *sf;
    float *hu;     /* n_ctx x d: h_u of every position */
    size_t n_past; /* positions whose h_u is stored */
    struct slot slots[MAX_SLOTS];
    size_t n_slots;
    size_t sel[MB_MODULAR_MAX_PACKS]; /* slot indexes */
    float w[MB_MODULAR_MAX_PACKS];
    size_t n_sel;
    uint64_t tick;
    size_t catchup;
    struct mb_session *sess;
};

static int alloc_f32(struct mb_backend *be, size_t rows, size_t cols, float **out,
                     struct mb_err *err)
{
    size_t n;
    if (!mb_mul_ok(rows, cols, &n) || !mb_mul_ok(n, sizeof(float), &n))
        return mb_fail(err, MB_E_LIMIT, "buffer of %zu x %zu floats overflows", rows, cols);
    void *p;
    int rc = mb_backend_alloc(be, n, &p, err);
    if (!rc)
        *out = p;
    return rc;
}

static void slot_release(struct mb_modular *m, struct slot *s)
{
    mb_stack_state_free(s->st);
    if (s->x)
        mb_backend_buf_free(m->be, s->x);
    if (s->y)
        mb_backend_buf_free(m->be, s->y);
    memset(s, 0, sizeof(*s));
}

/* Run a pack over m rows of h_u at positions pos..: its output into out (m x d). */
static int pack_rows(struct mb_modular *m, struct slot *s, const float *hu, size_t rows, size_t pos,
                     float *out, struct mb_err *err)
{
    const struct mb_data_pack *p = s->p;
    const size_t pw = p->width;
    int rc;
    if (p->adapter_in.w.data) {
        struct mb_matmul_args a = { .x = hu, .m = rows, .k = m->d, .x_stride = m->d, .n_out = 1 };
        a.out[0] = (struct mb_matmul_out){ p->adapter_in.w, s->x, pw, false };
        if ((rc = mb_backend_matmul(m->be, &a, err)))
            return rc;
    } else {
        memcpy(s->x, hu, rows * m->d * sizeof(float));
    }
    if ((rc = mb_stack_forward(p->blocks, s->st, s->x, rows, pos, err)))
        return rc;
    if (p->adapter_out.w.data) {
        struct mb_matmul_args a = { .x = s->x, .m = rows, .k = pw, .x_stride = pw, .n_out = 1 };
        a.out[0] = (struct mb_matmul_out){ p->adapter_out.w, out, m->d, false };
        rc = mb_backend_matmul(m->be, &a, err);
        if (!rc)
            rc = mb_backend_sync(m->be, err);
        return rc;
    }
    if (out != s->x)
        memcpy(out, s->x, rows * m->d * sizeof(float));
    return 0;
}

/* Bring a pack's cache to position pos from the stored h_u (the catch-up). */
static int catch_up(struct mb_modular *m, struct slot *s, size_t pos, struct mb_err *err)
{
    size_t have = mb_stack_state_n_past(s->st);
    if (have > pos)
        mb_stack_state_truncate(s->st, pos);
    for (size_t p0 = have; p0 < pos; p0 += m->n_batch) {
        size_t rows = MB_MIN(m->n_batch, pos - p0);
        int rc = pack_rows(m, s, m->hu + p0 * m->d, rows, p0, s->y, err);
        if (rc)
            return rc;
        m->catchup += rows;
    }
    return 0;
}

static int forward(void *ud, float *h, size_t n, size_t pos, struct mb_err *err)
{
    struct mb_modular *m = ud;
    const size_t d = m->d;
    if (m->n_sel == 0)
        return mb_fail(err, MB_E_STATE, "no data pack is selected");
    if (pos > m->n_past)
        return mb_fail(err, MB_E_STATE, "position %zu is past the stored h_u (%zu)", pos,
                       m->n_past);
    int rc = mb_stack_forward(m->base->understanding, m->su, h, n, pos, err);
    if (!rc)
        rc = mb_backend_sync(m->be, err);
    if (rc)
        return rc;
    memcpy(m->hu + pos * d, h, n * d * sizeof(float));
    m->n_past = pos + n;
    m->tick++;
    for (size_t i = 0; i < m->n_sel; i++) {
        struct slot *s = &m->slots[m->sel[i]];
        s->last_used = m->tick;
        if ((rc = catch_up(m, s, pos, err)))
            return rc;
    }
    struct slot *s0 = &m->slots[m->sel[0]];
    if (m->n_sel == 1 && m->w[0] == 1.0f && !s0->p->adapter_in.w.data &&
        !s0->p->adapter_out.w.data) {
        /* weight 1, identity adapters: the pack runs in place (bit-exact split) */
        rc = mb_stack_forward(s0->p->blocks, s0->st, h, n, pos, err);
    } else {
        for (size_t i = 0; !rc && i < m->n_sel; i++) {
            struct slot *s = &m->slots[m->sel[i]];
            rc = pack_rows(m, s, m->hu + pos * d, n, pos, s->y, err);
        }
        if (!rc)
            rc = mb_backend_sync(m->be, err);
        if (!rc) {
            /* h = sum_i w_i y_i, starting from the first term (no 0 + x rounding) */
            const float w0 = m->w[0];
            const float *y0 = m->slots[m->sel[0]].y;
            for (size_t j = 0; j < n * d; j++)
                h[j] = w0 == 1.0f ? y0[j] : w0 * y0[j];
            for (size_t i = 1; i < m->n_sel; i++) {
                const float wi = m->w[i];
                const float *yi = m->slots[m->sel[i]].y;
                for (size_t j = 0; j < n * d; j++)
                    h[j] += wi * yi[j];
            }
        }
    }
    if (!rc)
        rc = mb_stack_forward(m->base->fusion, m->sf, h, n, pos, err);
    return rc;
}

static void truncate_all(void *ud, size_t n)
{
    struct mb_modular *m = ud;
    mb_stack_state_truncate(m->su, n);
    mb_stack_state_truncate(m->sf, n);
    for (size_t i = 0; i < m->n_slots; i++)
        mb_stack_state_truncate(m->slots[i].st, n);
    if (n < m->n_past)
        m->n_past = n;
}

static uint64_t state_kv(const struct mb_modular *m, const struct mb_stack *s)
{
    uint64_t kv = 0, scratch = 0;
    mb_stack_state_bytes(mb_stack_hparams(s), mb_stack_n_blocks(s), m->n_ctx, m->n_batch,
                         m->kv_type, &kv, &scratch);
    return kv;
}

static uint64_t kv_bytes(void *ud)
{
    struct mb_modular *m = ud;
    uint64_t n = state_kv(m, m->base->understanding) + state_kv(m, m->base->fusion);
    for (size_t i = 0; i < m->n_slots; i++)
        n += state_kv(m, m->slots[i].p->blocks);
    return n;
}

int mb_modular_new(struct mb_base *base, const struct mb_session_opts *opts,
                   struct mb_modular **out, struct mb_err *err)
{
    *out = NULL;
    struct mb_backend *be = base->model->be;
    if (!be->host_memory)
        return mb_fail(err, MB_E_UNSUPPORTED,
                       "the modular runtime runs on the CPU only for now (use --device cpu)");
    struct mb_modular *m = mb_calloc(1, sizeof(*m));
    if (!m)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    struct mb_session_opts so;
    mb_session_opts_resolve(base->model, opts, &so);
    m->base = base;
    m->be = be;
    m->n_ctx = so.n_ctx;
    m->n_batch = so.n_batch;
    m->kv_type = so.kv_type;
    m->d = mb_base_width(base);
    int rc =
        mb_stack_state_new(base->understanding, be, m->n_ctx, m->n_batch, m->kv_type, &m->su, err);
    if (!rc)
        rc = mb_stack_state_new(base->fusion, be, m->n_ctx, m->n_batch, m->kv_type, &m->sf, err);
    if (!rc)
        rc = alloc_f32(be, m->n_ctx, m->d, &m->hu, err);
    if (!rc) {
        struct mb_session_blocks blocks = { m, forward, truncate_all, kv_bytes };
        rc = mb_session_new_blocks(base->model, &blocks, &so, &m->sess, err);
    }
    if (rc) {
        mb_modular_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void mb_modular_free(struct mb_modular *m)
{
    if (!m)
        return;
    mb_session_free(m->sess);
    for (size_t i = 0; i < m->n_slots; i++)
        slot_release(m, &m->slots[i]);
    mb_stack_state_free(m->su);
    mb_stack_state_free(m->sf);
    if (m->hu)
        mb_backend_buf_free(m->be, m->hu);
    mb_free(m);
}

struct mb_session *mb_modular_session(struct mb_modular *m)
{
    return m->sess;
}

/* The slot of pack p, made (evicting the least recently used unselected slot) if needed. */
static int slot_of(struct mb_modular *m, struct mb_data_pack *p, const bool *keep, size_t *out,
                   struct mb_err *err)
{
    for (size_t i = 0; i < m->n_slots; i++)
        if (m->slots[i].p == p) {
            *out = i;
            return 0;
        }
    size_t i = m->n_slots;
    if (i == MAX_SLOTS) {
        size_t victim = SIZE_MAX;
        for (size_t j = 0; j < m->n_slots; j++)
            if (!keep[j] &&
                (victim == SIZE_MAX || m->slots[j].last_used < m->slots[victim].last_used))
                victim = j;
        if (victim == SIZE_MAX)
            return mb_fail(err, MB_E_LIMIT, "too many packs selected at once");
        slot_release(m, &m->slots[victim]);
        i = victim;
    }
    struct slot *s = &m->slots[i];
    memset(s, 0, sizeof(*s));
    s->p = p;
    int rc = mb_stack_state_new(p->blocks, m->be, m->n_ctx, m->n_batch, m->kv_type, &s->st, err);
    if (!rc)
        rc = alloc_f32(m->be, m->n_batch, MB_MAX((size_t)p->width, m->d), &s->x, err);
    if (!rc)
        rc = alloc_f32(m->be, m->n_batch, m->d, &s->y, err);
    if (rc) {
        slot_release(m, s);
        return rc;
    }
    if (i == m->n_slots)
        m->n_slots++;
    *out = i;
    return 0;
}

int mb_modular_select(struct mb_modular *m, struct mb_data_pack *const *packs, const float *w,
                      size_t n, struct mb_err *err)
{
    if (n < 1 || n > MB_MODULAR_MAX_PACKS)
        return mb_fail(err, MB_E_USAGE, "select 1 to %d packs, not %zu", MB_MODULAR_MAX_PACKS, n);
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(w[i]))
            return mb_fail(err, MB_E_USAGE, "pack '%s' has a weight that is not finite",
                           packs[i]->id);
        if (packs[i]->base_width != m->d || !packs[i]->blocks)
            return mb_fail(err, MB_E_USAGE, "pack '%s' was not opened for this base", packs[i]->id);
        any |= w[i] != 0.0f;
    }
    if (!any)
        return mb_fail(err, MB_E_USAGE, "every selected pack has weight 0");
    bool keep[MAX_SLOTS] = { false };
    size_t sel[MB_MODULAR_MAX_PACKS];
    for (size_t i = 0; i < n; i++) {
        int rc = slot_of(m, packs[i], keep, &sel[i], err);
        if (rc)
            return rc;
        keep[sel[i]] = true;
    }
    memcpy(m->sel, sel, n * sizeof(sel[0]));
    memcpy(m->w, w, n * sizeof(float));
    m->n_sel = n;
    return 0;
}

void mb_modular_forget(struct mb_modular *m, const struct mb_data_pack *p)
{
    for (size_t i = 0; i < m->n_slots; i++) {
        if (m->slots[i].p != p)
            continue;
        for (size_t j = 0; j < m->n_sel; j++)
            if (m->sel[j] == i) { /* drop it from the selection */
                memmove(&m->sel[j], &m->sel[j + 1], (m->n_sel - j - 1) * sizeof(m->sel[0]));
                memmove(&m->w[j], &m->w[j + 1], (m->n_sel - j - 1) * sizeof(float));
                m->n_sel--;
                break;
            }
        slot_release(m, &m->slots[i]);
        /* keep the slot array dense: move the last one here */
        size_t last = m->n_slots - 1;
        if (i != last) {
            m->slots[i] = m->slots[last];
            memset(&m->slots[last], 0, sizeof(m->slots[last]));
            for (size_t j = 0; j < m->n_sel; j++)
                if (m->sel[j] == last)
                    m->sel[j] = i;
        }
        m->n_slots--;
        return;
    }
}

const float *mb_modular_hu(const struct mb_modular *m, size_t *n_past)
{
    *n_past = m->n_past;
    return m->hu;
}

size_t mb_modular_catchup_count(const struct mb_modular *m)
{
    return m->catchup;
}
