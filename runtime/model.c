/*
 * model.c - the pieces around the blocks (embedding lookup, final norm and LM
 * head, tied to the embedding when output.weight is absent) and the assembly
 * of a plain llama GGUF: hparams, embedding, one stack of every block, head.
 */
#include "model_int.h"

/* ------------------------------------------------------------ embedding */

int mb_embedding_load(const struct mb_gguf *g, const char *name, uint32_t n_embd, uint32_t n_vocab,
                      struct mb_backend *be, struct mb_embedding *out, struct mb_err *err)
{
    memset(out, 0, sizeof(*out));
    out->be = be;
    int rc = model_matrix_load(g, be, name, n_vocab, n_embd, &out->table, err);
    if (rc == 0 && !mb_backend_supports(be, MB_OP_GET_ROWS, out->table.w.type)) {
        rc =
            mb_fail(err, MB_E_UNSUPPORTED, "%s: tensor '%s': the %s backend cannot look up %s rows",
                    mb_gguf_name(g), name, be->name, mb_dtype_name(out->table.w.type));
        mb_embedding_release(out);
    }
    return rc;
}

void mb_embedding_release(struct mb_embedding *e)
{
    if (e->be)
        model_tensor_release(e->be, &e->table);
    memset(e, 0, sizeof(*e));
}

int mb_embedding_lookup(const struct mb_embedding *e, const int32_t *ids, size_t n, float *h,
                        struct mb_err *err)
{
    struct mb_get_rows_args a = {
        .w = e->table.w,
        .ids = ids,
        .n = n,
        .y = h,
        .y_stride = e->table.w.cols,
    };
    return mb_backend_get_rows(e->be, &a, err);
}

/* ------------------------------------------------------------ head */

int mb_lm_head_load(const struct mb_gguf *g, uint32_t n_embd, uint32_t n_vocab, float eps,
                    const struct mb_embedding *embd, struct mb_backend *be, struct mb_lm_head *out,
                    struct mb_err *err)
{
    memset(out, 0, sizeof(*out));
    out->be = be;
    out->eps = eps;
    int rc =
        model_vector_load(g, be, "output_norm.weight", n_embd, &out->norm, &out->norm_owned, err);
    if (rc)
        return rc;
    if (mb_gguf_find_tensor(g, "output.weight")) {
        rc = model_matrix_load(g, be, "output.weight", n_vocab, n_embd, &out->out, err);
    } else if (embd && embd->table.w.rows == n_vocab && embd->table.w.cols == n_embd) {
        out->out.w = embd->table.w; /* tied: borrow the embedding's table */
        out->tied = true;
    } else {
        rc = mb_fail(err, MB_E_NOTFOUND,
                     "%s: missing tensor 'output.weight' (and no embedding to tie it to)",
                     mb_gguf_name(g));
    }
    if (rc)
        mb_lm_head_release(out);
    return rc;
}

void mb_lm_head_release(struct mb_lm_head *h)
{
    if (h->be) {
        if (h->norm_owned)
            mb_backend_buf_free(h->be, h->norm_owned);
        if (!h->tied)
            model_tensor_release(h->be, &h->out);
    }
    memset(h, 0, sizeof(*h));
}

int mb_lm_head_forward(const struct mb_lm_head *head, const float *h, size_t h_stride, size_t n,
                       float *xn, float *logits, struct mb_err *err)
{
    const size_t d = head->out.w.cols;
    struct mb_rmsnorm_args norm = {
        .x = h,
        .y = xn,
        .w = head->norm,
        .m = n,
        .n = d,
        .x_stride = h_stride,
        .y_stride = d,
        .eps = head->eps,
    };
    int rc = mb_backend_rmsnorm(head->be, &norm, err);
    if (rc)
        return rc;
    struct mb_matmul_args mm = { .x = xn, .m = n, .k = d, .x_stride = d, .n_out = 1 };
    mm.out[0] = (struct mb_matmul_out){ head->out.w, logits, head->out.w.rows, false };
    return mb_backend_matmul(head->be, &mm, err);
}

/* ------------------------------------------------------------ model */

int mb_model_load(const char *path, struct mb_backend *be, struct mb_model **out,
                  struct mb_err *err)
{
    *out = NULL;
    struct mb_gguf *g;
    int rc = mb_gguf_open(&g, path, err);
    if (rc)
        return rc;
    return mb_model_load_gguf(g, be, out, err);
}

int mb_model_load_gguf(struct mb_gguf *g, struct mb_backend *be, struct mb_model **out,
                       struct mb_err *err)
{
    *out = NULL;
    struct mb_model *m = mb_calloc(1, sizeof(*m));
    if (!m) {
        mb_gguf_free(g);
        return mb_fail(err, MB_E_NOMEM, "out of memory loading a model");
    }
    m->gguf = g;
    m->be = be;
    int rc = mb_llama_hparams_read(g, &m->hp, err);
    if (rc)
        goto fail;
    if (mb_gguf_find_tensor(g, "rope_freqs.weight")) {
        rc = mb_fail(err, MB_E_UNSUPPORTED,
                     "%s: tensor 'rope_freqs.weight' (Llama 3.1 RoPE frequency scaling) is not "
                     "supported",
                     mb_gguf_name(g));
        goto fail;
    }
    const struct mb_llama_hparams *hp = &m->hp;
    if ((rc = mb_embedding_load(g, "token_embd.weight", hp->block.n_embd, hp->n_vocab, be, &m->embd,
                                err)))
        goto fail;
    struct mb_stack_spec spec = { "blk.", 0, hp->n_layer, hp->block };
    if ((rc = mb_stack_load(g, &spec, be, &m->blocks, err)))
        goto fail;
    /* A block past block_count means the file and its keys disagree. */
    char extra[64];
    mb_snprintf(extra, sizeof(extra), "blk.%u.attn_norm.weight", hp->n_layer);
    if (mb_gguf_find_tensor(g, extra)) {
        rc = mb_fail(err, MB_E_FORMAT, "%s: tensor '%s' is past llama.block_count (%u)",
                     mb_gguf_name(g), extra, hp->n_layer);
        goto fail;
    }
    if ((rc = mb_lm_head_load(g, hp->block.n_embd, hp->n_vocab, hp->block.norm_eps, &m->embd, be,
                              &m->head, err)))
        goto fail;
    *out = m;
    return 0;
fail:
    mb_model_free(m);
    return rc;
}

void mb_model_free(struct mb_model *m)
{
    if (!m)
        return;
    mb_lm_head_release(&m->head);
    mb_stack_free(m->blocks);
    mb_embedding_release(&m->embd);
    mb_gguf_free(m->gguf);
    mb_free(m);
}

const struct mb_gguf *mb_model_gguf(const struct mb_model *m)
{
    return m->gguf;
}

uint64_t mb_model_weight_bytes(const struct mb_model *m)
{
    uint64_t embd_row = model_matrix_bytes(&m->embd.table.w) / MB_MAX(m->embd.table.w.rows, 1);
    return (m->blocks ? mb_stack_weight_bytes(m->blocks) : 0) + model_matrix_bytes(&m->head.out.w) +
           embd_row + (uint64_t)m->hp.block.n_embd * sizeof(float);
}
