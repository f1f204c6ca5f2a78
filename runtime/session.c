/*
 * session.c - tokens -> logits over a plain model (mb_model.h): the token
 * history whose keys and values are cached, batched prefill (n_batch rows per
 * op, so the matmul kernels reuse each weight block across rows) and one-token
 * decode steps. Every buffer is allocated in mb_session_new; eval allocates
 * nothing. Only the rows whose logits are wanted go through the LM head (the
 * last one, or all of them in groups of HEAD_ROWS for tests and perplexity).
 *
 * On a device backend (CUDA) two things keep a decode step cheap: the step's
 * ops (embedding, blocks, head, and top-k when asked) are recorded once as a
 * backend graph and replayed after uploading the new token id and position
 * (the first decode step runs eagerly so scratch memory reaches its size),
 * and mb_session_eval_top brings back only the k best logits instead of the
 * whole vocabulary.
 */
#include "model_int.h"

#define HEAD_ROWS 16

struct mb_session {
    struct mb_model *m;
    struct mb_backend *be;
    struct mb_stack_state *st;
    struct mb_session_blocks blocks; /* forward != NULL: replaces m->blocks and st */
    size_t n_ctx, n_batch, n_vocab, n_past;
    uint32_t kv_type;
    int32_t *tokens;    /* n_ctx, host: the cached history */
    int32_t *ids;       /* n_batch, backend */
    float *h;           /* n_batch x n_embd, backend */
    float *xn;          /* HEAD_ROWS x n_embd, backend */
    float *logits_dev;  /* HEAD_ROWS x n_vocab, backend */
    float *logits_host; /* n_vocab, host (used unless the backend is host memory) */
    const float *logits;
    /* decode-step graphs: [0] ends with the logits, [1] with the top graph_k */
    struct mb_graph *graph[2];
    size_t graph_k;
    unsigned eager_steps, graph_failures;
    /* top-k candidates of the last token (mb_session_eval_top) */
    float *top_vals_dev;
    int32_t *top_ids_dev;
    float top_vals[MB_TOPK_MAX];
    int32_t top_ids[MB_TOPK_MAX];
    size_t top_k;
};

/* Graphs are tried this many times before the session stops asking. */
#define GRAPH_MAX_FAILURES 3

static int alloc_be(struct mb_backend *be, size_t count, size_t size, void **out,
                    struct mb_err *err)
{
    size_t n;
    if (!mb_mul_ok(count, size, &n))
        return mb_fail(err, MB_E_LIMIT, "session buffer of %zu x %zu bytes overflows", count, size);
    return mb_backend_alloc(be, n, out, err);
}

void mb_session_opts_init(struct mb_session_opts *o)
{
    o->n_ctx = 0;
    o->n_batch = 0;
    o->kv_type = MB_DTYPE_F16;
}

void mb_session_opts_resolve(const struct mb_model *m, const struct mb_session_opts *opts,
                             struct mb_session_opts *out)
{
    mb_session_opts_init(out);
    if (opts)
        *out = *opts;
    if (out->n_ctx == 0)
        out->n_ctx = MB_MIN((size_t)m->hp.n_ctx_train, (size_t)MB_SESSION_DEFAULT_CTX_CAP);
    if (out->n_batch == 0)
        out->n_batch = MB_SESSION_DEFAULT_BATCH;
    out->n_batch = MB_MIN(out->n_batch, out->n_ctx);
}

int mb_session_new(struct mb_model *m, const struct mb_session_opts *opts, struct mb_session **out,
                   struct mb_err *err)
{
    return mb_session_new_blocks(m, NULL, opts, out, err);
}

int mb_session_new_blocks(struct mb_model *m, const struct mb_session_blocks *blocks,
                          const struct mb_session_opts *opts, struct mb_session **out,
                          struct mb_err *err)
{
    *out = NULL;
    struct mb_session_opts def;
    mb_session_opts_init(&def);
    if (!opts)
        opts = &def;
    size_t n_ctx = opts->n_ctx;
    if (n_ctx == 0)
        n_ctx = MB_MIN((size_t)m->hp.n_ctx_train, (size_t)MB_SESSION_DEFAULT_CTX_CAP);
    size_t n_batch = opts->n_batch ? opts->n_batch : MB_SESSION_DEFAULT_BATCH;
    n_batch = MB_MIN(n_batch, n_ctx);
    uint32_t kv_type = opts->kv_type;
    if (n_ctx > INT32_MAX)
        return mb_fail(err, MB_E_USAGE, "context size %zu is too large", n_ctx);

    struct mb_session *s = mb_calloc(1, sizeof(*s));
    if (!s)
        return mb_fail(err, MB_E_NOMEM, "out of memory for a session");
    s->m = m;
    s->be = m->be;
    s->n_ctx = n_ctx;
    s->n_batch = n_batch;
    s->n_vocab = m->hp.n_vocab;
    s->kv_type = kv_type;
    const size_t d = m->hp.block.n_embd;
    int rc = 0;
    if (blocks && blocks->forward)
        s->blocks = *blocks;
    else
        rc = mb_stack_state_new(m->blocks, m->be, n_ctx, n_batch, kv_type, &s->st, err);
    void *p;
    if (!rc) {
        s->tokens = mb_calloc(n_ctx, sizeof(int32_t));
        s->logits_host = mb_calloc(s->n_vocab, sizeof(float));
        if (!s->tokens || !s->logits_host)
            rc = mb_fail(err, MB_E_NOMEM, "out of memory for a session of %zu tokens", n_ctx);
    }
    if (!rc && !(rc = alloc_be(s->be, n_batch, sizeof(int32_t), &p, err)))
        s->ids = p;
    if (!rc && !(rc = alloc_be(s->be, n_batch * d, sizeof(float), &p, err)))
        s->h = p;
    if (!rc && !(rc = alloc_be(s->be, (size_t)HEAD_ROWS * d, sizeof(float), &p, err)))
        s->xn = p;
    if (!rc && !(rc = alloc_be(s->be, (size_t)HEAD_ROWS * s->n_vocab, sizeof(float), &p, err)))
        s->logits_dev = p;
    if (!rc && !(rc = alloc_be(s->be, MB_TOPK_MAX, sizeof(float), &p, err)))
        s->top_vals_dev = p;
    if (!rc && !(rc = alloc_be(s->be, MB_TOPK_MAX, sizeof(int32_t), &p, err)))
        s->top_ids_dev = p;
    if (rc) {
        mb_session_free(s);
        return rc;
    }
    s->logits = s->logits_host;
    *out = s;
    return 0;
}

void mb_session_free(struct mb_session *s)
{
    if (!s)
        return;
    for (int i = 0; i < 2; i++)
        mb_backend_graph_free(s->be, s->graph[i]);
    mb_stack_state_free(s->st);
    if (s->ids)
        mb_backend_buf_free(s->be, s->ids);
    if (s->h)
        mb_backend_buf_free(s->be, s->h);
    if (s->xn)
        mb_backend_buf_free(s->be, s->xn);
    if (s->logits_dev)
        mb_backend_buf_free(s->be, s->logits_dev);
    if (s->top_vals_dev)
        mb_backend_buf_free(s->be, s->top_vals_dev);
    if (s->top_ids_dev)
        mb_backend_buf_free(s->be, s->top_ids_dev);
    mb_free(s->tokens);
    mb_free(s->logits_host);
    mb_free(s);
}

size_t mb_session_n_ctx(const struct mb_session *s)
{
    return s->n_ctx;
}

size_t mb_session_n_past(const struct mb_session *s)
{
    return s->n_past;
}

size_t mb_session_n_vocab(const struct mb_session *s)
{
    return s->n_vocab;
}

const int32_t *mb_session_tokens(const struct mb_session *s)
{
    return s->tokens;
}

uint64_t mb_session_kv_bytes(const struct mb_session *s)
{
    uint64_t kv = 0, scratch = 0;
    if (s->blocks.forward)
        return s->blocks.kv_bytes ? s->blocks.kv_bytes(s->blocks.ud) : 0;
    mb_stack_state_bytes(&s->m->hp.block, s->m->hp.n_layer, s->n_ctx, s->n_batch, s->kv_type, &kv,
                         &scratch);
    return kv;
}

const float *mb_session_logits(const struct mb_session *s)
{
    return s->logits;
}

void mb_session_truncate(struct mb_session *s, size_t n)
{
    if (n < s->n_past) {
        s->n_past = n;
        if (s->blocks.forward)
            s->blocks.truncate(s->blocks.ud, n);
        else
            mb_stack_state_truncate(s->st, n);
    }
}

void mb_session_reset(struct mb_session *s)
{
    mb_session_truncate(s, 0);
}

/* Logits of rows [r0, r0 + n) of h into all_logits (host), HEAD_ROWS at a time. */
static int head_rows(struct mb_session *s, size_t r0, size_t n, float *all_logits,
                     struct mb_err *err)
{
    const size_t d = s->m->hp.block.n_embd;
    for (size_t i = 0; i < n; i += HEAD_ROWS) {
        size_t k = MB_MIN((size_t)HEAD_ROWS, n - i);
        int rc =
            mb_lm_head_forward(&s->m->head, s->h + (r0 + i) * d, d, k, s->xn, s->logits_dev, err);
        if (!rc)
            rc = mb_backend_download(s->be, all_logits + i * s->n_vocab, s->logits_dev,
                                     k * s->n_vocab * sizeof(float), err);
        if (rc)
            return rc;
    }
    return 0;
}

/* The ops of one decode step after its id and position are uploaded (recordable). */
static int step_ops(struct mb_session *s, size_t k, struct mb_err *err)
{
    int rc = mb_embedding_lookup(&s->m->embd, s->ids, 1, s->h, err);
    if (!rc)
        rc = mb_stack_forward_ops(s->m->blocks, s->st, s->h, 1, err);
    if (!rc)
        rc = mb_lm_head_forward(&s->m->head, s->h, s->m->hp.block.n_embd, 1, s->xn, s->logits_dev,
                                err);
    if (!rc && k) {
        struct mb_topk_args t = { s->logits_dev, s->n_vocab, k, s->top_vals_dev, s->top_ids_dev };
        rc = mb_backend_topk(s->be, &t, err);
    }
    return rc;
}

/*
 * One decode step's ops through a graph when the backend has them: replay
 * the recorded step, or record it now (from the second step on), else run
 * the ops eagerly. A graph that cannot be used is dropped, and after a few
 * failures the session stops recording; the step itself always runs.
 */
static int decode_step(struct mb_session *s, size_t k, struct mb_err *err)
{
    const int slot = k ? 1 : 0;
    if (s->graph[slot] && slot == 1 && s->graph_k != k) {
        mb_backend_graph_free(s->be, s->graph[slot]);
        s->graph[slot] = NULL;
    }
    if (s->graph[slot]) {
        int rc = mb_backend_graph_launch(s->be, s->graph[slot], err);
        if (rc != MB_E_STATE)
            return rc;
        mb_backend_graph_free(s->be, s->graph[slot]); /* stale: record again next time */
        s->graph[slot] = NULL;
        s->eager_steps = 0;
    } else if (mb_backend_has_graphs(s->be) && s->eager_steps > 0 &&
               s->graph_failures < GRAPH_MAX_FAILURES) {
        struct mb_err gerr;
        if (mb_backend_graph_begin(s->be, &gerr) == 0) {
            struct mb_graph *g = NULL;
            int rc = step_ops(s, k, &gerr);
            int rc2 = mb_backend_graph_end(s->be, &g, &gerr);
            if (rc == 0 && rc2 == 0) {
                s->graph[slot] = g;
                s->graph_k = slot ? k : s->graph_k;
                return mb_backend_graph_launch(s->be, g, err);
            }
        }
        s->graph_failures++;
    }
    s->eager_steps++;
    return step_ops(s, k, err);
}

/* Evaluate; with k > 0 finish with the top-k candidates instead of the logits. */
static int eval(struct mb_session *s, const int32_t *ids, size_t n, float *all_logits, size_t k,
                struct mb_err *err)
{
    if (n == 0 || !ids)
        return mb_fail(err, MB_E_USAGE, "no tokens to evaluate");
    if (n > s->n_ctx || s->n_past > s->n_ctx - n)
        return mb_fail(err, MB_E_LIMIT,
                       "the context is full: %zu cached + %zu new tokens do not fit in %zu "
                       "(--ctx)",
                       s->n_past, n, s->n_ctx);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (size_t)ids[i] >= s->n_vocab)
            return mb_fail(err, MB_E_FORMAT, "token id %d is outside the vocabulary of %zu",
                           (int)ids[i], s->n_vocab);
    if (k > MB_MIN((size_t)MB_TOPK_MAX, s->n_vocab))
        return mb_fail(err, MB_E_USAGE, "top-k of %zu candidates (at most %d)", k, MB_TOPK_MAX);
    const size_t d = s->m->hp.block.n_embd;
    s->logits = s->logits_host; /* stale until the end */
    s->top_k = 0;
    if (n == 1 && !all_logits && !s->blocks.forward) {
        /* a decode step: id and position uploaded, then the (recorded) ops */
        int rc = mb_backend_upload(s->be, s->ids, ids, sizeof(int32_t), err);
        if (!rc)
            rc = mb_stack_forward_begin(s->m->blocks, s->st, 1, s->n_past, err);
        if (!rc)
            rc = decode_step(s, k, err);
        if (rc) {
            mb_stack_state_truncate(s->st, s->n_past);
            return rc;
        }
        mb_stack_forward_end(s->st, 1);
        s->tokens[s->n_past++] = ids[0];
    } else {
        for (size_t c0 = 0; c0 < n; c0 += s->n_batch) {
            if (c0 && mb_interrupted)
                return mb_fail(err, MB_E_INTERRUPTED, "interrupted");
            const size_t m = MB_MIN(s->n_batch, n - c0);
            int rc = mb_backend_upload(s->be, s->ids, ids + c0, m * sizeof(int32_t), err);
            if (!rc)
                rc = mb_embedding_lookup(&s->m->embd, s->ids, m, s->h, err);
            if (!rc && s->blocks.forward)
                rc = s->blocks.forward(s->blocks.ud, s->h, m, s->n_past, err);
            else if (!rc)
                rc = mb_stack_forward(s->m->blocks, s->st, s->h, m, s->n_past, err);
            if (!rc && all_logits)
                rc = head_rows(s, 0, m, all_logits + c0 * s->n_vocab, err);
            else if (!rc && c0 + m == n)
                rc = mb_lm_head_forward(&s->m->head, s->h + (m - 1) * d, d, 1, s->xn, s->logits_dev,
                                        err);
            if (!rc && k && c0 + m == n) {
                struct mb_topk_args t = { s->logits_dev, s->n_vocab, k, s->top_vals_dev,
                                          s->top_ids_dev };
                rc = mb_backend_topk(s->be, &t, err);
            }
            if (rc) {
                /* Positions up to the failed chunk are intact; the chunk's are not. */
                if (s->blocks.forward)
                    s->blocks.truncate(s->blocks.ud, s->n_past);
                else
                    mb_stack_state_truncate(s->st, s->n_past);
                return rc;
            }
            memcpy(s->tokens + s->n_past, ids + c0, m * sizeof(int32_t));
            s->n_past += m;
        }
    }
    int rc = 0;
    if (all_logits) {
        rc = mb_backend_sync(s->be, err);
        if (!rc)
            memcpy(s->logits_host, all_logits + (n - 1) * s->n_vocab, s->n_vocab * sizeof(float));
    } else if (k) {
        rc = mb_backend_download(s->be, s->top_vals, s->top_vals_dev, k * sizeof(float), err);
        if (!rc)
            rc = mb_backend_download(s->be, s->top_ids, s->top_ids_dev, k * sizeof(int32_t), err);
        if (!rc)
            rc = mb_backend_sync(s->be, err);
        if (!rc)
            s->top_k = k;
    } else if (s->be->host_memory) {
        rc = mb_backend_sync(s->be, err);
        s->logits = s->logits_dev;
    } else {
        rc = mb_backend_download(s->be, s->logits_host, s->logits_dev, s->n_vocab * sizeof(float),
                                 err);
        if (!rc)
            rc = mb_backend_sync(s->be, err);
    }
    if (rc) /* a kernel found bad data, or the device failed: the new positions are suspect */
        mb_session_truncate(s, s->n_past - MB_MIN(n, s->n_past));
    return rc;
}

int mb_session_eval(struct mb_session *s, const int32_t *ids, size_t n, float *all_logits,
                    struct mb_err *err)
{
    return eval(s, ids, n, all_logits, 0, err);
}

int mb_session_eval_top(struct mb_session *s, const int32_t *ids, size_t n, size_t k,
                        struct mb_err *err)
{
    if (k == 0)
        return mb_fail(err, MB_E_USAGE, "top-k of 0 candidates");
    return eval(s, ids, n, NULL, k, err);
}

size_t mb_session_top(const struct mb_session *s, const int32_t **ids, const float **vals)
{
    *ids = s->top_ids;
    *vals = s->top_vals;
    return s->top_k;
}

bool mb_session_on_device(const struct mb_session *s)
{
    return !s->be->host_memory;
}
