/*
 * test_cuda.c - what only the CUDA backend has (the per-op numbers are
 * test_ops.c's): the VRAM budget and its one-line error, staged uploads and
 * bounce-buffered downloads, error flags raised by kernels and reported once
 * by sync, and graphs: a decode-like op sequence recorded once and replayed
 * with new token ids and positions gives bit-for-bit the results of running
 * the ops one by one, a graph goes stale when scratch memory moves, and
 * calls that cannot be recorded spoil the recording. Exits 77 ("skipped: no
 * CUDA device") without a device.
 */
#include "mb_test.h"
#include "mb_kernels.h"

#include <math.h>

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static float frand(void)
{
    return (float)((double)(rnd() >> 11) / 4503599627370496.0 - 1.0);
}

static struct mb_backend *cuda_new(uint64_t budget, bool graphs)
{
    struct mb_cuda_opts o;
    mb_cuda_opts_init(&o);
    o.vram_budget = budget;
    o.no_graphs = !graphs;
    struct mb_backend *be;
    struct mb_err err;
    MB_ASSERT_OK(mb_backend_cuda_new(&o, &be, &err), &err);
    return be;
}

static void *dnew(struct mb_backend *be, size_t n)
{
    struct mb_err err;
    void *p;
    MB_ASSERT_OK(mb_backend_alloc(be, n, &p, &err), &err);
    return p;
}

static void *dfrom(struct mb_backend *be, const void *h, size_t n)
{
    struct mb_err err;
    void *p = dnew(be, n);
    MB_ASSERT_OK(mb_backend_upload(be, p, h, n, &err), &err);
    return p;
}

static void dget(struct mb_backend *be, void *h, const void *d, size_t n)
{
    struct mb_err err;
    MB_ASSERT_OK(mb_backend_download(be, h, d, n, &err), &err);
    MB_ASSERT_OK(mb_backend_sync(be, &err), &err);
}

static void test_info_and_budget(void **state)
{
    (void)state;
    struct mb_err err;
    struct mb_backend *be = cuda_new((uint64_t)64 << 20, true);
    assert_true(mb_backend_is_cuda(be));
    struct mb_cuda_info ci;
    MB_ASSERT_OK(mb_backend_cuda_info(be, &ci, &err), &err);
    print_message("test_cuda: %s, cc %d.%d, %d SMs, %llu MiB free of %llu\n", ci.device_name,
                  ci.cc_major, ci.cc_minor, ci.sm_count, (unsigned long long)(ci.vram_free >> 20),
                  (unsigned long long)(ci.vram_total >> 20));
    assert_true(ci.device_name[0] && ci.sm_count > 0 && ci.budget == (uint64_t)64 << 20);
    if (mb_backend_cuda_load_cublas(be, &err) != 0)
        print_message("test_cuda: %s\n", err.msg);
    const uint64_t base = ci.used;
    void *p;
    assert_int_equal(mb_backend_alloc(be, (size_t)100 << 20, &p, &err), MB_E_NOMEM);
    print_message("test_cuda: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "VRAM budget"));
    assert_non_null(strstr(err.msg, "100 MiB"));
    p = dnew(be, (size_t)16 << 20);
    MB_ASSERT_OK(mb_backend_cuda_info(be, &ci, &err), &err);
    assert_true(ci.used == base + ((uint64_t)16 << 20) && ci.peak >= ci.used);
    mb_backend_buf_free(be, p);
    MB_ASSERT_OK(mb_backend_cuda_info(be, &ci, &err), &err);
    assert_true(ci.used == base);
    mb_backend_free(be);
    /* the default budget: free memory minus a margin */
    be = cuda_new(0, true);
    MB_ASSERT_OK(mb_backend_cuda_info(be, &ci, &err), &err);
    assert_true(ci.budget > 0 && ci.budget < ci.vram_total);
    mb_backend_free(be);
}

static void test_copies(void **state)
{
    (void)state;
    struct mb_err err;
    struct mb_backend *be = cuda_new(0, true);
    const size_t n = (size_t)24 << 20; /* staged (3 halves of 8 MiB) */
    uint8_t *h = mb_malloc(n), *back = mb_malloc(n);
    assert_true(h && back);
    for (size_t i = 0; i < n; i++)
        h[i] = (uint8_t)rnd();
    uint8_t *d = dfrom(be, h, n);
    memset(h, 0, 4096); /* upload copied src before returning */
    memset(back, 0xee, n);
    dget(be, back, d, n);
    for (size_t i = 4096; i < n; i++)
        if (back[i] != h[i])
            fail_msg("staged upload: byte %zu differs", i);
    /* several small downloads pending in the bounce buffer until one sync */
    uint32_t parts[8][16];
    for (int i = 0; i < 8; i++)
        MB_ASSERT_OK(mb_backend_download(be, parts[i], d + 4096 + 1000 * i, 64, &err), &err);
    MB_ASSERT_OK(mb_backend_sync(be, &err), &err);
    for (int i = 0; i < 8; i++)
        assert_memory_equal(parts[i], h + 4096 + 1000 * i, 64);
    /* the explicit staged entry overlaps: the compute stream waits for it */
    MB_ASSERT_OK(mb_backend_cuda_upload_staged(be, d, h + 1, n - 1, &err), &err);
    dget(be, back, d, n - 1);
    assert_memory_equal(back, h + 1, n - 1);
    mb_backend_buf_free(be, d);
    mb_free(h);
    mb_free(back);
    mb_backend_free(be);
}

static void test_flags(void **state)
{
    (void)state;
    struct mb_err err;
    struct mb_backend *be = cuda_new(0, true);
    const size_t rows = 10, cols = 64;
    float *w = mb_malloc(rows * cols * 4);
    assert_non_null(w);
    for (size_t i = 0; i < rows * cols; i++)
        w[i] = frand();
    int32_t ids[3] = { 1, 12, 3 };
    struct mb_get_rows_args a = { { dfrom(be, w, rows * cols * 4), MB_DTYPE_F32, rows, cols },
                                  dfrom(be, ids, sizeof(ids)),
                                  3,
                                  dnew(be, 3 * cols * 4),
                                  cols };
    MB_ASSERT_OK(mb_backend_get_rows(be, &a, &err), &err); /* enqueued: the op cannot know */
    assert_int_equal(mb_backend_sync(be, &err), MB_E_FORMAT);
    print_message("test_cuda: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "token id 12 of row 1"));
    MB_ASSERT_OK(mb_backend_sync(be, &err), &err); /* reported once */
    ids[1] = 2;
    MB_ASSERT_OK(mb_backend_upload(be, (void *)(uintptr_t)a.ids, ids, sizeof(ids), &err), &err);
    MB_ASSERT_OK(mb_backend_get_rows(be, &a, &err), &err);
    float got[64];
    dget(be, got, a.y + cols, sizeof(got));
    assert_memory_equal(got, w + 2 * cols, sizeof(got));
    mb_backend_buf_free(be, (void *)(uintptr_t)a.w.data);
    mb_backend_buf_free(be, (void *)(uintptr_t)a.ids);
    mb_backend_buf_free(be, a.y);
    mb_free(w);
    mb_backend_free(be);
}

/* ------------------------------------------------------------ graphs */

#define E   128 /* width */
#define NH  4
#define NKV 2
#define HD  32
#define CTX 64
#define VOC 50

struct pipe {
    struct mb_backend *be;
    void *table, *wq, *wkv, *wo;
    float *norm, *h, *xn, *q, *k, *v, *att, *o, *tv;
    int32_t *ids, *pos, *ti;
    void *kc, *vc;
};

static uint8_t table_h[VOC * (E / 32) * 34], wq_h[E * (E / 32) * 18],
    wkv_h[HD * NKV * (E / 32) * 34], wo_h[E * (E / 32) * 20];
static float norm_h[E];

static void fill_blocks(uint8_t *p, size_t n_blocks, size_t bs)
{
    for (size_t b = 0; b < n_blocks; b++) {
        uint8_t *blk = p + b * bs;
        for (size_t i = 0; i < bs; i++)
            blk[i] = (uint8_t)rnd();
        mb_f16 d = mb_f32_to_f16(0.01f + 0.01f * frand());
        memcpy(blk, &d, 2);
        if (bs == 20) { /* Q4_1: m */
            mb_f16 m = mb_f32_to_f16(-0.08f);
            memcpy(blk + 2, &m, 2);
        }
    }
}

static void pipe_init(struct pipe *p, struct mb_backend *be)
{
    memset(p, 0, sizeof(*p));
    p->be = be;
    p->table = dfrom(be, table_h, sizeof(table_h));
    p->wq = dfrom(be, wq_h, sizeof(wq_h));
    p->wkv = dfrom(be, wkv_h, sizeof(wkv_h));
    p->wo = dfrom(be, wo_h, sizeof(wo_h));
    p->norm = dfrom(be, norm_h, sizeof(norm_h));
    p->h = dnew(be, E * 4);
    p->xn = dnew(be, E * 4);
    p->q = dnew(be, E * 4);
    p->k = dnew(be, NKV * HD * 4);
    p->v = dnew(be, NKV * HD * 4);
    p->att = dnew(be, E * 4);
    p->o = dnew(be, E * 4);
    p->tv = dnew(be, 4 * 4);
    p->ti = dnew(be, 4 * 4);
    p->ids = dnew(be, 4);
    p->pos = dnew(be, 4);
    p->kc = dnew(be, NKV * CTX * HD * 2);
    p->vc = dnew(be, NKV * CTX * HD * 2);
}

static void pipe_free(struct pipe *p)
{
    void *all[] = { p->table, p->wq,  p->wkv, p->wo, p->norm, p->h,   p->xn,  p->q,  p->k,
                    p->v,     p->att, p->o,   p->tv, p->ti,   p->ids, p->pos, p->kc, p->vc };
    for (size_t i = 0; i < MB_ARRAY_LEN(all); i++)
        mb_backend_buf_free(p->be, all[i]);
}

/* The ops of one step (recordable: nothing but ops). */
static int pipe_ops(struct pipe *p, struct mb_err *err)
{
    struct mb_backend *be = p->be;
    struct mb_get_rows_args g = { { p->table, MB_DTYPE_Q8_0, VOC, E }, p->ids, 1, p->h, E };
    struct mb_rmsnorm_args n = { p->h, p->xn, p->norm, 1, E, E, E, 1e-5f };
    struct mb_matmul_args mm = { .x = p->xn, .m = 1, .k = E, .x_stride = E, .n_out = 3 };
    mm.out[0] = (struct mb_matmul_out){ { p->wq, MB_DTYPE_Q4_0, E, E }, p->q, E, false };
    mm.out[1] = (struct mb_matmul_out){ { p->wkv, MB_DTYPE_Q8_0, NKV * HD, E }, p->k, 0, false };
    mm.out[2] = (struct mb_matmul_out){ { p->wkv, MB_DTYPE_Q8_0, NKV * HD, E }, p->v, 0, false };
    struct mb_rope_args rq = { p->q, p->pos, 1, E, NH, HD, HD, MB_ROPE_NORMAL, 10000.0f, 1.0f };
    struct mb_rope_args rk = rq;
    rk.x = p->k;
    rk.n_head = NKV;
    struct mb_kv_cache c = { p->kc, p->vc, MB_DTYPE_F16, CTX, NKV, HD };
    struct mb_kv_store_args st = { c, p->k, p->v, p->pos, 1, 0, 0 };
    struct mb_attention_args at = { .cache = c,
                                    .q = p->q,
                                    .pos = p->pos,
                                    .out = p->att,
                                    .m = 1,
                                    .n_head = NH,
                                    .scale = 1.0f / sqrtf((float)HD) };
    struct mb_matmul_args wo = { .x = p->att, .m = 1, .k = E, .x_stride = E, .n_out = 1 };
    wo.out[0] = (struct mb_matmul_out){ { p->wo, MB_DTYPE_Q4_1, E, E }, p->o, E, false };
    struct mb_topk_args tk = { p->o, E, 4, p->tv, p->ti };
    int rc;
    if ((rc = mb_backend_get_rows(be, &g, err)) || (rc = mb_backend_rmsnorm(be, &n, err)) ||
        (rc = mb_backend_matmul(be, &mm, err)) || (rc = mb_backend_rope(be, &rq, err)) ||
        (rc = mb_backend_rope(be, &rk, err)) || (rc = mb_backend_kv_store(be, &st, err)) ||
        (rc = mb_backend_attention(be, &at, err)) || (rc = mb_backend_matmul(be, &wo, err)))
        return rc;
    return mb_backend_topk(be, &tk, err);
}

static void pipe_inputs(struct pipe *p, int32_t id, int32_t pos)
{
    struct mb_err err;
    MB_ASSERT_OK(mb_backend_upload(p->be, p->ids, &id, 4, &err), &err);
    MB_ASSERT_OK(mb_backend_upload(p->be, p->pos, &pos, 4, &err), &err);
}

static void pipe_result(struct pipe *p, float *o, int32_t *ti)
{
    struct mb_err err;
    MB_ASSERT_OK(mb_backend_download(p->be, o, p->o, E * 4, &err), &err);
    MB_ASSERT_OK(mb_backend_download(p->be, ti, p->ti, 4 * 4, &err), &err);
    MB_ASSERT_OK(mb_backend_sync(p->be, &err), &err);
}

static void test_graphs(void **state)
{
    (void)state;
    struct mb_err err;
    fill_blocks(table_h, sizeof(table_h) / 34, 34);
    fill_blocks(wq_h, sizeof(wq_h) / 18, 18);
    fill_blocks(wkv_h, sizeof(wkv_h) / 34, 34);
    fill_blocks(wo_h, sizeof(wo_h) / 20, 20);
    for (int i = 0; i < E; i++)
        norm_h[i] = 1.0f + 0.1f * frand();
    struct mb_backend *ea = cuda_new(0, false), *gb = cuda_new(0, true);
    assert_false(mb_backend_has_graphs(ea) && mb_backend_graph_begin(ea, &err) == 0);
    struct pipe pe, pg;
    pipe_init(&pe, ea);
    pipe_init(&pg, gb);
    struct mb_graph *g = NULL;
    for (int32_t step = 0; step < 12; step++) {
        int32_t id = (int32_t)(rnd() % VOC);
        pipe_inputs(&pe, id, step);
        MB_ASSERT_OK(pipe_ops(&pe, &err), &err);
        pipe_inputs(&pg, id, step);
        if (step == 0) { /* eager first: scratch reaches its size */
            MB_ASSERT_OK(pipe_ops(&pg, &err), &err);
        } else {
            if (!g) {
                MB_ASSERT_OK(mb_backend_graph_begin(gb, &err), &err);
                MB_ASSERT_OK(pipe_ops(&pg, &err), &err);
                MB_ASSERT_OK(mb_backend_graph_end(gb, &g, &err), &err);
            }
            MB_ASSERT_OK(mb_backend_graph_launch(gb, g, &err), &err);
        }
        float oe[E], og[E];
        int32_t te[4], tg[4];
        pipe_result(&pe, oe, te);
        pipe_result(&pg, og, tg);
        if (memcmp(oe, og, sizeof(oe)) || memcmp(te, tg, sizeof(te)))
            fail_msg("graph replay differs from the eager ops at step %d", (int)step);
        for (int i = 0; i < E; i++)
            assert_true(isfinite(og[i]));
    }
    struct mb_cuda_info ci;
    MB_ASSERT_OK(mb_backend_cuda_info(gb, &ci, &err), &err);
    assert_true(ci.graph_captures == 1 && ci.graph_launches == 11);
    /* a bad position inside a replay is still reported at sync */
    pipe_inputs(&pg, 1, CTX);
    MB_ASSERT_OK(mb_backend_graph_launch(gb, g, &err), &err);
    assert_int_equal(mb_backend_sync(gb, &err), MB_E_FORMAT);
    /* scratch growth makes the graph stale */
    const size_t m = 64, k = 4096;
    float *x = mb_malloc(m * k * 4);
    assert_non_null(x);
    for (size_t i = 0; i < m * k; i++)
        x[i] = frand();
    uint8_t *w = mb_malloc(8 * (k / 32) * 34);
    assert_non_null(w);
    fill_blocks(w, 8 * (k / 32), 34);
    struct mb_matmul_args big = {
        .x = dfrom(gb, x, m * k * 4), .m = m, .k = k, .x_stride = k, .n_out = 1
    };
    big.out[0] = (struct mb_matmul_out){
        { dfrom(gb, w, 8 * (k / 32) * 34), MB_DTYPE_Q8_0, 8, k }, dnew(gb, m * 8 * 4), 8, false
    };
    MB_ASSERT_OK(mb_backend_matmul(gb, &big, &err), &err);
    MB_ASSERT_OK(mb_backend_sync(gb, &err), &err);
    assert_int_equal(mb_backend_graph_launch(gb, g, &err), MB_E_STATE);
    assert_non_null(strstr(err.msg, "stale"));
    mb_backend_graph_free(gb, g);
    /* a call that cannot be recorded spoils the recording */
    MB_ASSERT_OK(mb_backend_graph_begin(gb, &err), &err);
    int32_t one = 1;
    assert_int_equal(mb_backend_upload(gb, pg.ids, &one, 4, &err), MB_E_STATE);
    assert_int_equal(mb_backend_graph_end(gb, &g, &err), MB_E_STATE);
    assert_null(g);
    /* and the backend works normally afterwards */
    pipe_inputs(&pg, 3, 2);
    MB_ASSERT_OK(pipe_ops(&pg, &err), &err);
    float o[E];
    int32_t t[4];
    pipe_result(&pg, o, t);
    mb_backend_buf_free(gb, (void *)(uintptr_t)big.x);
    mb_backend_buf_free(gb, (void *)(uintptr_t)big.out[0].w.data);
    mb_backend_buf_free(gb, big.out[0].y);
    mb_free(x);
    mb_free(w);
    pipe_free(&pe);
    pipe_free(&pg);
    mb_backend_free(ea);
    mb_backend_free(gb);
}

int main(void)
{
    struct mb_err err;
    int count = 0;
    if (mb_cuda_device_count(&count, &err) != 0) {
        printf("skipped: no CUDA device (%s)\n", err.msg);
        return MB_TEST_SKIP;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_info_and_budget),
        cmocka_unit_test(test_copies),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_graphs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
