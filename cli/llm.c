/*
 * llm.c - the shared part of `run`, `chat` and `eval logits` (llm.h): option
 * checks, loading (CPU backend, model, tokenizer, session, sampler, chat
 * template and its end-of-turn tokens), and the output helpers.
 */
#include "llm.h"
#include "mb_manifests.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>

void llm_opts_init(struct llm_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->temp = o->top_p = o->min_p = o->repeat_penalty = NAN;
    o->top_k = o->repeat_last_n = INT64_MIN;
    o->seed = MB_SAMPLER_SEED_RANDOM;
    o->n_predict = -1;
}

void llm_opts_release(struct llm_opts *o)
{
    mb_strvec_release(&o->stop);
    mb_strvec_release(&o->pack_ids);
}

/* The sampler parameters the options ask for (defaults: llama.cpp's). */
static void sampler_params(const struct llm_opts *o, struct mb_sampler_params *p)
{
    mb_sampler_params_init(p);
    if (!isnan(o->temp))
        p->temperature = (float)o->temp;
    if (!isnan(o->top_p))
        p->top_p = (float)o->top_p;
    if (!isnan(o->min_p))
        p->min_p = (float)o->min_p;
    if (!isnan(o->repeat_penalty))
        p->repeat_penalty = (float)o->repeat_penalty;
    if (o->top_k != INT64_MIN)
        p->top_k = (int32_t)o->top_k;
    if (o->repeat_last_n != INT64_MIN)
        p->repeat_last_n = (int32_t)o->repeat_last_n;
    p->seed = o->seed;
}

int llm_check_opts(struct mb_ctx *ctx, const struct llm_opts *o)
{
    if (o->threads > MB_POOL_MAX_THREADS)
        return mb_usage_error(ctx, "--threads must be 1 to %d (got %" PRIu64 ")",
                              MB_POOL_MAX_THREADS, o->threads);
    if (o->ctx && (o->ctx < 8 || o->ctx > ((uint64_t)1 << 24)))
        return mb_usage_error(ctx, "--ctx must be 8 to %u tokens (got %" PRIu64 ")", 1u << 24,
                              o->ctx);
    if (o->batch > 8192)
        return mb_usage_error(ctx, "--batch must be 1 to 8192 (got %" PRIu64 ")", o->batch);
    if (o->device && strcmp(o->device, "cpu") && strcmp(o->device, "cuda") &&
        strcmp(o->device, "auto"))
        return mb_usage_error(ctx, "--device must be cpu, cuda or auto (got '%s')", o->device);
    if (o->kv_type && strcmp(o->kv_type, "f16") && strcmp(o->kv_type, "f32"))
        return mb_usage_error(ctx, "--kv-type must be f16 or f32 (got '%s')", o->kv_type);
    if (o->n_predict < -1)
        return mb_usage_error(ctx, "--n-predict must be -1 (no limit) or >= 0 (got %" PRId64 ")",
                              o->n_predict);
    if (o->top_k != INT64_MIN && (o->top_k < 0 || o->top_k > INT32_MAX))
        return mb_usage_error(ctx, "--top-k must be >= 0 (got %" PRId64 ")", o->top_k);
    if (o->repeat_last_n != INT64_MIN && (o->repeat_last_n < -1 || o->repeat_last_n > INT32_MAX))
        return mb_usage_error(ctx, "--repeat-last-n must be -1 or >= 0 (got %" PRId64 ")",
                              o->repeat_last_n);
    struct mb_sampler_params p;
    sampler_params(o, &p);
    int rc = mb_sampler_params_check(&p, &ctx->err);
    if (rc) {
        /* The sampler names the parameter; say which option sets it. */
        char msg[MB_ERR_MSG_MAX];
        mb_strlcpy(msg, ctx->err.msg, sizeof(msg));
        return mb_usage_error(ctx, "invalid sampling option: %s", msg);
    }
    if (o->stop.n > MB_STOP_MAX_STRINGS)
        return mb_usage_error(ctx, "at most %d --stop strings", MB_STOP_MAX_STRINGS);
    for (size_t i = 0; i < o->stop.n; i++)
        if (!o->stop.v[i][0] || strlen(o->stop.v[i]) > 256)
            return mb_usage_error(ctx, "--stop strings must be 1 to 256 bytes long");
    return 0;
}

/* The chat format: --template, else the model's tokenizer.chat_template. */
static int pick_template(const struct llm_opts *o, const struct mb_gguf *g,
                         struct mb_chat_template *t, struct mb_err *err)
{
    if (o->template_name)
        return mb_chat_template_by_name(o->template_name, t, err);
    return mb_chat_template_from_gguf(g, t, err);
}

static char *token_text(const struct mb_tokenizer *tok, int32_t id)
{
    struct mb_str s = mb_tokenizer_text(tok, id);
    return mb_strndup(s.p ? s.p : "", s.n);
}

/* A developer's override from the environment (docs/cuda.md); `def` when unset or invalid. */
static uint64_t env_u64(const char *name, uint64_t def)
{
    const char *v = getenv(name);
    uint64_t n;
    return v && mb_parse_u64(v, &n) ? n : def;
}

/*
 * The backend --device asks for: cuda (an error when there is none), cpu, or
 * auto: CUDA when this build has it and a device is usable, else the CPU with
 * a one-line note saying why.
 */
static int open_backend(struct mb_ctx *ctx, const struct llm_opts *o, struct llm *l)
{
    struct mb_err *err = &ctx->err;
    const char *dev = o->device ? o->device : "auto";
    const bool cuda_asked = !strcmp(dev, "cuda");
    if (cuda_asked || (!strcmp(dev, "auto") && mb_cuda_compiled())) {
        struct mb_cuda_opts co;
        mb_cuda_opts_init(&co);
        co.vram_budget = o->vram_budget;
        co.gemm_min_rows = (size_t)env_u64("MB_CUDA_GEMM_ROWS", 0);
        co.no_graphs = env_u64("MB_CUDA_GRAPHS", 1) == 0;
        int rc = mb_backend_cuda_new(&co, &l->be, err);
        if (!rc) {
            struct mb_err e2;
            if (mb_backend_cuda_load_cublas(l->be, &e2))
                mb_cli_note(ctx, "%s; prompts run on the int8 kernels (slower)", e2.msg);
            return 0;
        }
        if (cuda_asked)
            return rc;
        mb_cli_note(ctx, "%s; running on the CPU", err->msg);
        mb_err_init(err);
    }
    struct mb_cpu_opts copts = { 0 };
    copts.n_threads = (unsigned)o->threads;
    return mb_backend_cpu_new(&copts, &l->be, err);
}

int llm_open(struct mb_ctx *ctx, const struct llm_opts *o, unsigned what, struct llm *l)
{
    struct mb_err *err = &ctx->err;
    memset(l, 0, sizeof(*l));
    uint64_t t0 = mb_now_ns();
    int rc = open_backend(ctx, o, l);
    if (!rc && !o->model)
        rc = llm_open_packs(ctx, o, l);
    else if (!rc)
        rc = mb_model_load(o->model, l->be, &l->model, err);
    if (!rc)
        rc = mb_tokenizer_load_gguf(mb_model_gguf(l->model), NULL, &l->tok, err);
    if (!rc && mb_tokenizer_n_tokens(l->tok) != l->model->hp.n_vocab)
        rc = mb_fail(err, MB_E_FORMAT,
                     "%s: the vocabulary has %zu tokens but the model's output has %u rows",
                     mb_gguf_name(mb_model_gguf(l->model)), mb_tokenizer_n_tokens(l->tok),
                     l->model->hp.n_vocab);
    if (!rc) {
        struct mb_session_opts so;
        mb_session_opts_init(&so);
        so.n_ctx = (size_t)o->ctx;
        so.n_batch = (size_t)o->batch;
        if (o->kv_type && !strcmp(o->kv_type, "f32"))
            so.kv_type = MB_DTYPE_F32;
        if (!l->ps)
            rc = mb_session_new(l->model, &so, &l->sess, err);
    }
    if (!rc && (what & LLM_SAMPLER)) {
        struct mb_sampler_params p;
        sampler_params(o, &p);
        rc = mb_sampler_new(&p, mb_session_n_vocab(l->sess), &l->smp, err);
        if (!rc) {
            size_t max = o->n_predict > 0 ? (size_t)o->n_predict : 0;
            rc = mb_stop_init(&l->stop, o->stop.v, o->stop.n, max, err);
            l->stop_ready = rc == 0;
        }
    }
    if (!rc && (what & LLM_TEMPLATE)) {
        rc = pick_template(o, mb_model_gguf(l->model), &l->tmpl, err);
        l->has_tmpl = rc == 0;
        if (!rc) {
            l->bos_text = token_text(l->tok, mb_tokenizer_bos(l->tok));
            l->eos_text = token_text(l->tok, mb_tokenizer_eos(l->tok));
            if (!l->bos_text || !l->eos_text)
                rc = mb_fail(err, MB_E_NOMEM, "out of memory");
            l->n_stop_ids =
                mb_chat_stop_tokens(&l->tmpl, l->tok, l->stop_ids, MB_ARRAY_LEN(l->stop_ids));
        }
    }
    l->load_ns = mb_now_ns() - t0;
    if (rc)
        llm_close(l);
    return rc;
}

void llm_close(struct llm *l)
{
    if (l->stop_ready)
        mb_stop_release(&l->stop);
    if (l->has_tmpl)
        mb_chat_template_release(&l->tmpl);
    mb_free(l->bos_text);
    mb_free(l->eos_text);
    mb_sampler_free(l->smp);
    if (l->ps) { /* the pack set owns the session and the base's model */
        l->sess = NULL;
        l->model = NULL;
        mb_packset_free(l->ps);
    }
    mb_session_free(l->sess);
    mb_tokenizer_free(l->tok);
    mb_model_free(l->model);
    mb_backend_free(l->be);
    memset(l, 0, sizeof(*l));
}

int llm_chat_tokens(struct llm *l, const struct mb_chat_msg *msgs, size_t n, struct mb_tokens *out,
                    struct mb_err *err)
{
    struct mb_buf text;
    mb_buf_init(&text, (size_t)256 << 20);
    struct mb_chat_opts co = { l->bos_text, l->eos_text, true, NULL };
    int rc = mb_chat_render(&l->tmpl, msgs, n, &co, &text, err);
    out->n = 0;
    if (!rc)
        rc = mb_chat_encode(l->tok, text.p ? text.p : "", text.n, out, err);
    mb_buf_release(&text);
    return rc;
}

int llm_read_stdin(struct mb_buf *out, size_t max, struct mb_err *err)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
        if (out->n + n > max)
            return mb_fail(err, MB_E_LIMIT, "standard input is larger than %zu MiB", max >> 20);
        int rc = mb_buf_append(out, chunk, n, err);
        if (rc)
            return rc;
    }
    if (ferror(stdin))
        return mb_fail_errno(err, errno, "cannot read standard input");
    return 0;
}

int llm_emit_stdout(void *ud, const char *text, size_t n, struct mb_err *err)
{
    (void)ud;
    if (fwrite(text, 1, n, stdout) != n || fflush(stdout) != 0)
        return mb_fail(err, MB_E_IO, "cannot write to standard output");
    return 0;
}

static double per_sec(size_t n, uint64_t ns)
{
    return ns ? (double)n * 1e9 / (double)ns : 0.0;
}

void llm_print_stats(const struct mb_gen_stats *st)
{
    fflush(stdout);
    fprintf(stderr,
            "prompt: %zu tokens (%zu evaluated) in %.3f s, %.1f tokens/s | generation: %zu "
            "tokens in %.3f s, %.1f tokens/s (%s)\n",
            st->n_prompt, st->n_prompt_eval, (double)st->prompt_ns / 1e9,
            per_sec(st->n_prompt_eval, st->prompt_ns), st->n_gen, (double)st->gen_ns / 1e9,
            per_sec(st->n_gen, st->gen_ns), mb_gen_end_name(st->end));
}

void llm_print_info(const struct llm *l)
{
    const struct mb_llama_hparams *hp = &l->model->hp;
    char wsz[32], kvsz[32], where[192];
    mb_format_size(mb_model_weight_bytes(l->model), wsz, sizeof(wsz));
    mb_format_size(mb_session_kv_bytes(l->sess), kvsz, sizeof(kvsz));
    struct mb_cuda_info ci;
    struct mb_err e2;
    if (mb_backend_is_cuda(l->be) && mb_backend_cuda_info(l->be, &ci, &e2) == 0) {
        char used[32], budget[32];
        mb_snprintf(where, sizeof(where), "%s (%s, %s of a %s VRAM budget in use%s)", l->be->name,
                    ci.device_name, mb_format_size(ci.used, used, sizeof(used)),
                    mb_format_size(ci.budget, budget, sizeof(budget)),
                    ci.cublas ? "" : ", no cuBLAS");
    } else {
        mb_snprintf(where, sizeof(where), "%s with %u threads", l->be->name,
                    mb_backend_cpu_threads(l->be));
    }
    fflush(stdout);
    fprintf(stderr,
            "model: %s (%s, %u blocks, width %u, %u/%u heads, vocabulary %u), %s of weights "
            "per token\n"
            "context: %zu tokens (KV cache %s), backend %s, loaded in %.0f ms\n",
            mb_gguf_name(mb_model_gguf(l->model)), hp->arch, hp->n_layer, hp->block.n_embd,
            hp->block.n_head, hp->block.n_head_kv, hp->n_vocab, wsz, mb_session_n_ctx(l->sess),
            kvsz, where, (double)l->load_ns / 1e6);
    if (l->ps) {
        const struct mb_base *b = l->ps->base;
        size_t n_data = 0;
        for (size_t i = 0; i < l->ps->n; i++)
            n_data += l->ps->v[i].kind == (int)MB_PACK_DATA;
        char bsz[32];
        mb_format_size(mb_stack_weight_bytes(b->understanding) + mb_stack_weight_bytes(b->fusion),
                       bsz, sizeof(bsz));
        fprintf(stderr,
                "modular: base %s %s (%u understanding + %u fusion blocks, %s more per token), "
                "%zu data pack%s\n",
                b->id, b->version, b->n_understanding, b->n_fusion, bsz, n_data,
                n_data == 1 ? "" : "s");
    }
    if (l->has_tmpl)
        fprintf(stderr, "chat template: %s\n", mb_chat_kind_name(l->tmpl.kind));
    if (l->smp)
        fprintf(stderr, "seed: %" PRIu64 "\n", mb_sampler_seed(l->smp));
}
