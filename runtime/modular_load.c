/*
 * modular_load.c - opening the packs of the modular runtime: a base pack
 * (embedding, understanding and fusion stacks, head, tokenizer) and data
 * packs (their own blocks and optional adapters), from a pack folder (its
 * pack.yaml names the GGUF) or a GGUF file. Shapes come from each file's
 * `llama.*` keys and are checked against the `modularbase.*` keys that
 * `pack import` (or a pack author) wrote, so a pack meant for another base
 * width is refused with a message instead of computing garbage.
 */
#include "mb_manifests.h"
#include "mb_modular.h"
#include "model_int.h"

int mb_pack_weights_path(const char *path, char **gguf_path, struct mb_err *err)
{
    *gguf_path = NULL;
    if (!mb_is_dir(path)) {
        if (!mb_path_exists(path))
            return mb_fail(err, MB_E_NOTFOUND, "%s: no such pack folder or GGUF file", path);
        *gguf_path = mb_strdup(path);
        return *gguf_path ? 0 : mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    char *yaml = mb_path_join(path, "pack.yaml");
    if (!yaml)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    struct mb_manifest m;
    mb_manifest_init(&m);
    int rc = mb_manifest_load(yaml, &m, err);
    if (!rc && !(*gguf_path = mb_path_join(path, m.weights_file)))
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
    mb_manifest_release(&m);
    mb_free(yaml);
    return rc;
}

/* modularbase.kind must be `want`; id and version copied (both required). */
static int read_identity(const struct mb_gguf *g, const char *want, char *id, size_t id_cap,
                         char *ver, size_t ver_cap, struct mb_err *err)
{
    struct mb_str kind, sid, sver;
    int rc = mb_gguf_get_str(g, MB_MOD_KEY_KIND, &kind, err);
    if (!rc && !mb_str_eq_cstr(kind, want))
        rc = mb_fail(err, MB_E_FORMAT, "%s: key '%s' is \"%.*s\", expected \"%s\"", mb_gguf_name(g),
                     MB_MOD_KEY_KIND, (int)MB_MIN(kind.n, 32), kind.p, want);
    if (!rc)
        rc = mb_gguf_get_str(g, MB_MOD_KEY_PACK_ID, &sid, err);
    if (!rc)
        rc = mb_gguf_get_str(g, MB_MOD_KEY_PACK_VERSION, &sver, err);
    if (!rc && (sid.n == 0 || sid.n >= id_cap || sver.n == 0 || sver.n >= ver_cap ||
                memchr(sid.p, 0, sid.n) || memchr(sver.p, 0, sver.n)))
        rc = mb_fail(err, MB_E_FORMAT, "%s: key '%s' or '%s' is empty or too long", mb_gguf_name(g),
                     MB_MOD_KEY_PACK_ID, MB_MOD_KEY_PACK_VERSION);
    if (!rc) {
        memcpy(id, sid.p, sid.n);
        id[sid.n] = '\0';
        memcpy(ver, sver.p, sver.n);
        ver[sver.n] = '\0';
    }
    return rc;
}

/* ------------------------------------------------------------ base */

int mb_base_open(const char *path, struct mb_backend *be, struct mb_base **out, struct mb_err *err)
{
    *out = NULL;
    if (!be->host_memory)
        return mb_fail(err, MB_E_UNSUPPORTED,
                       "the modular runtime runs on the CPU only for now (use --device cpu)");
    struct mb_base *b = mb_calloc(1, sizeof(*b));
    if (!b)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    struct mb_gguf *g = NULL;
    int rc = mb_pack_weights_path(path, &b->path, err);
    if (!rc)
        rc = mb_gguf_open(&g, b->path, err);
    struct mb_model *m = NULL;
    if (!rc && !(m = mb_calloc(1, sizeof(*m)))) {
        mb_gguf_free(g);
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    if (rc) {
        mb_base_free(b);
        return rc;
    }
    b->model = m;
    m->gguf = g;
    m->be = be;
    rc = read_identity(g, "base", b->id, sizeof(b->id), b->version, sizeof(b->version), err);
    if (!rc)
        rc = mb_llama_hparams_read(g, &m->hp, err);
    if (!rc)
        rc = mb_gguf_get_u32(g, MB_MOD_KEY_U, &b->n_understanding, err);
    if (!rc)
        rc = mb_gguf_get_u32(g, MB_MOD_KEY_F, &b->n_fusion, err);
    if (!rc)
        rc = mb_gguf_get_u32(g, MB_MOD_KEY_FUSION_FIRST, &b->fusion_first, err);
    if (!rc && (b->n_understanding < 1 || b->n_fusion < 1 || b->fusion_first < b->n_understanding ||
                (uint64_t)b->fusion_first + b->n_fusion > m->hp.n_layer))
        rc = mb_fail(err, MB_E_FORMAT,
                     "%s: inconsistent split: %u understanding blocks, %u fusion blocks from "
                     "block %u, %u blocks in all",
                     b->path, b->n_understanding, b->n_fusion, b->fusion_first, m->hp.n_layer);
    if (!rc)
        rc = mb_embedding_load(g, "token_embd.weight", m->hp.block.n_embd, m->hp.n_vocab, be,
                               &m->embd, err);
    if (!rc) {
        struct mb_stack_spec su = { "blk.", 0, b->n_understanding, m->hp.block };
        rc = mb_stack_load(g, &su, be, &b->understanding, err);
    }
    if (!rc) {
        struct mb_stack_spec sf = { "blk.", b->fusion_first, b->n_fusion, m->hp.block };
        rc = mb_stack_load(g, &sf, be, &b->fusion, err);
    }
    if (!rc)
        rc = mb_lm_head_load(g, m->hp.block.n_embd, m->hp.n_vocab, m->hp.block.norm_eps, &m->embd,
                             be, &m->head, err);
    if (!rc)
        rc = mb_tokenizer_load_gguf(g, NULL, &b->tok, err);
    if (!rc && mb_tokenizer_n_tokens(b->tok) != m->hp.n_vocab)
        rc = mb_fail(err, MB_E_FORMAT, "%s: the vocabulary has %zu tokens but the head has %u rows",
                     b->path, mb_tokenizer_n_tokens(b->tok), m->hp.n_vocab);
    if (rc) {
        mb_base_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

void mb_base_free(struct mb_base *b)
{
    if (!b)
        return;
    mb_tokenizer_free(b->tok);
    mb_stack_free(b->understanding);
    mb_stack_free(b->fusion);
    mb_model_free(b->model); /* head, embedding, GGUF (blocks are NULL) */
    mb_free(b->path);
    mb_free(b);
}

const struct mb_gguf *mb_base_gguf(const struct mb_base *b)
{
    return b->model->gguf;
}

uint32_t mb_base_width(const struct mb_base *b)
{
    return b->model->hp.block.n_embd;
}

/* ------------------------------------------------------------ data packs */

/* An optional adapter of rows x cols; absent leaves t zeroed. */
static int adapter_load(const struct mb_data_pack *p, const char *name, size_t rows, size_t cols,
                        struct mb_tensor_ref *t, struct mb_err *err)
{
    memset(t, 0, sizeof(*t));
    if (!mb_gguf_find_tensor(p->gguf, name)) {
        if (rows != cols)
            return mb_fail(err, MB_E_FORMAT,
                           "%s: pack width %u differs from the base width %u but there is no "
                           "tensor '%s'",
                           p->path, p->width, p->base_width, name);
        return 0;
    }
    return model_matrix_load(p->gguf, p->be, name, rows, cols, t, err);
}

int mb_data_pack_open(const char *path, const struct mb_base *base, struct mb_backend *be,
                      struct mb_data_pack **out, struct mb_err *err)
{
    *out = NULL;
    struct mb_data_pack *p = mb_calloc(1, sizeof(*p));
    if (!p)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    p->be = be;
    int rc = mb_pack_weights_path(path, &p->path, err);
    if (!rc)
        rc = mb_gguf_open(&p->gguf, p->path, err);
    if (!rc)
        rc = read_identity(p->gguf, "data", p->id, sizeof(p->id), p->version, sizeof(p->version),
                           err);
    struct mb_llama_hparams hp;
    if (!rc)
        rc = mb_llama_hparams_read(p->gguf, &hp, err);
    if (!rc) {
        p->hp = hp.block;
        p->n_blocks = hp.n_layer;
        p->width = hp.block.n_embd;
        p->base_width = mb_base_width(base);
        uint32_t w;
        struct mb_err e2;
        if (mb_gguf_get_u32(p->gguf, MB_MOD_KEY_PACK_WIDTH, &w, &e2) == 0 && w != p->width)
            rc = mb_fail(err, MB_E_FORMAT, "%s: key '%s' is %u but llama.embedding_length is %u",
                         p->path, MB_MOD_KEY_PACK_WIDTH, w, p->width);
        if (!rc && mb_gguf_get_u32(p->gguf, MB_MOD_KEY_BASE_WIDTH, &w, &e2) == 0 &&
            w != p->base_width)
            rc = mb_fail(err, MB_E_FORMAT, "%s: the pack is for a base of width %u, not %u",
                         p->path, w, p->base_width);
    }
    if (!rc) {
        struct mb_stack_spec spec = { "blk.", 0, p->n_blocks, p->hp };
        rc = mb_stack_load(p->gguf, &spec, be, &p->blocks, err);
    }
    if (!rc)
        rc = adapter_load(p, MB_MOD_ADAPTER_IN, p->width, p->base_width, &p->adapter_in, err);
    if (!rc)
        rc = adapter_load(p, MB_MOD_ADAPTER_OUT, p->base_width, p->width, &p->adapter_out, err);
    if (rc) {
        mb_data_pack_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void mb_data_pack_free(struct mb_data_pack *p)
{
    if (!p)
        return;
    model_tensor_release(p->be, &p->adapter_in);
    model_tensor_release(p->be, &p->adapter_out);
    mb_stack_free(p->blocks);
    mb_gguf_free(p->gguf);
    mb_free(p->path);
    mb_free(p);
}

uint64_t mb_data_pack_bytes(const struct mb_data_pack *p)
{
    uint64_t n = p->blocks ? mb_stack_weight_bytes(p->blocks) : 0;
    if (p->adapter_in.w.data)
        n += model_matrix_bytes(&p->adapter_in.w);
    if (p->adapter_out.w.data)
        n += model_matrix_bytes(&p->adapter_out.w);
    return n;
}
