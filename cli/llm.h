/*
 * llm.h - what `run`, `chat` and `eval logits` share: their common options
 * (model, threads, context, sampling, chat template), loading a model with its
 * tokenizer, chat template, session and sampler from those options, and
 * printing streamed text and timings. CLI-only (it prints).
 */
#ifndef MB_CLI_LLM_H
#define MB_CLI_LLM_H

#include "cli.h"
#include "mb_runtime.h"

/* Options as the tables below store them; llm_opts_init() sets "not given". */
struct llm_opts {
    const char *model;
    const char *packs;            /* --packs DIR: a folder of pack folders (modular runtime) */
    struct mb_strvec pack_ids;    /* --pack ID[:WEIGHT]: forced data packs */
    uint64_t mem_budget;          /* --mem-budget: bytes for base, KV and loaded packs; 0 = none */
    uint64_t threads, ctx, batch; /* 0 = default */
    const char *kv_type;          /* "f16" (default) or "f32" */
    const char *device;           /* "cpu", "cuda" or "auto" (default) */
    uint64_t vram_budget;         /* bytes; 0 = free VRAM minus a margin */
    /* sampling: NAN / INT64_MIN mean "not given" (the sampler's defaults) */
    double temp, top_p, min_p, repeat_penalty;
    int64_t top_k, repeat_last_n;
    uint64_t seed;     /* MB_SAMPLER_SEED_RANDOM = not given */
    int64_t n_predict; /* -1 = until the end of the turn or a full context */
    struct mb_strvec stop;
    bool ignore_eos;
    /* chat */
    const char *template_name, *system;
    bool verbose;
};

void llm_opts_init(struct llm_opts *o);
void llm_opts_release(struct llm_opts *o);

#define LLM_OPTS_MODEL(o)                                                                               \
    { "model", 'm', MB_OPT_STRING, &(o).model, "FILE", "the GGUF model to run" },                       \
        { "threads", 't', MB_OPT_UINT, &(o).threads, "N", "CPU threads (default: one per core)" },      \
        { "ctx",    'c', MB_OPT_UINT,                                                                   \
          &(o).ctx, "N", "context size in tokens (default: the model's, at most 4096)" },               \
        { "batch", 'b', MB_OPT_UINT, &(o).batch, "N", "prompt tokens per forward step (default 512)" }, \
        { "kv-type",    0,         MB_OPT_STRING,                                                       \
          &(o).kv_type, "f16|f32", "KV cache element type (default f16)" },                             \
        { "device",        0,                                                                           \
          MB_OPT_STRING,   &(o).device,                                                                 \
          "cpu|cuda|auto", "where to run (default auto: a CUDA GPU when there is one)" },               \
    {                                                                                                   \
        "vram-budget", 0, MB_OPT_SIZE, &(o).vram_budget, "SIZE",                                        \
            "GPU memory the model may use (default: free memory minus a margin)"                        \
    }

#define LLM_OPTS_SAMPLING(o)                                                                        \
    {                                                                                               \
        "n-predict",    'n', MB_OPT_INT,                                                            \
        &(o).n_predict, "N", "generate at most N tokens (default -1: until the end of the answer)"  \
    },                                                                                              \
        { "temp", 0, MB_OPT_DOUBLE, &(o).temp, "T", "temperature, 0 = greedy (default 0.8)" },      \
        { "top-k",    0,   MB_OPT_INT,                                                              \
          &(o).top_k, "K", "keep the K most likely tokens, 0 = off (default 40)" },                 \
        { "top-p", 0, MB_OPT_DOUBLE, &(o).top_p, "P", "nucleus sampling, 1 = off (default 0.95)" }, \
        { "min-p",    0,   MB_OPT_DOUBLE,                                                           \
          &(o).min_p, "P", "drop tokens below P x the most likely, 0 = off (default 0.05)" },       \
        { "repeat-penalty",    0,   MB_OPT_DOUBLE,                                                  \
          &(o).repeat_penalty, "X", "penalise repeated tokens, 1 = off (default 1.0)" },            \
        { "repeat-last-n",    0,   MB_OPT_INT,                                                      \
          &(o).repeat_last_n, "N", "tokens the penalty looks back, -1 = all (default 64)" },        \
        { "seed", 's', MB_OPT_UINT, &(o).seed, "S", "random seed (default: random)" },              \
        { "stop", 0, MB_OPT_LIST, &(o).stop, "STR", "stop when STR appears (repeatable)" },         \
    {                                                                                               \
        "ignore-eos", 0, MB_OPT_FLAG, &(o).ignore_eos, NULL,                                        \
            "never end at an end-of-turn token (for benchmarks)"                                    \
    }

#define LLM_OPTS_CHAT(o)                                                                      \
    { "template",    0,                                                                       \
      MB_OPT_STRING, &(o).template_name,                                                      \
      "NAME",        "chat format instead of the model's: chatml, llama3, llama2, mistral" }, \
        { "system", 0, MB_OPT_STRING, &(o).system, "TEXT", "a system message" },              \
    {                                                                                         \
        "verbose", 'v', MB_OPT_FLAG, &(o).verbose, NULL,                                      \
            "print model details and, after each answer, prompt and generation speed"         \
    }

#define LLM_OPTS_PACKS(o)                                                                            \
    {                                                                                                \
        "packs",    0,     MB_OPT_STRING,                                                            \
        &(o).packs, "DIR", "run the modular model of the pack folders in DIR (base, router, data)"   \
    },                                                                                               \
        { "pack",      0,                                                                            \
          MB_OPT_LIST, &(o).pack_ids,                                                                \
          "ID[:W]",    "use this data pack (weight W, default 1) instead of routing (repeatable)" }, \
    {                                                                                                \
        "mem-budget", 0, MB_OPT_SIZE, &(o).mem_budget, "SIZE",                                       \
            "memory for base, KV caches and loaded packs (default: no limit)"                        \
    }

/* What llm_open loads besides the model and session. */
enum {
    LLM_SAMPLER = 1u << 0,  /* sampler, stop conditions, stop tokens */
    LLM_TEMPLATE = 1u << 1, /* the chat template (the model's or --template) */
};

struct llm {
    struct mb_backend *be;
    struct mb_model *model;
    struct mb_tokenizer *tok;
    struct mb_session *sess;
    struct mb_sampler *smp;
    struct mb_stop stop;
    bool stop_ready;
    struct mb_chat_template tmpl;
    bool has_tmpl;
    char *bos_text, *eos_text; /* for the templates */
    int32_t stop_ids[16];      /* the template's end-of-turn tokens */
    size_t n_stop_ids;
    uint64_t load_ns;
    /* the modular runtime (no --model): owns base, packs and the session */
    struct mb_packset *ps;
    bool forced; /* --pack given: no routing */
};

/* Check the numeric options (usage errors name the option). */
int llm_check_opts(struct mb_ctx *ctx, const struct llm_opts *o);

/* Load backend, model, tokenizer and session (plus `what`); on error everything is released. */
int llm_open(struct mb_ctx *ctx, const struct llm_opts *o, unsigned what, struct llm *l);
void llm_close(struct llm *l);

/* llm_open's modular path (cli/llm_packs.c): --packs DIR, else the installed packs. */
int llm_open_packs(struct mb_ctx *ctx, const struct llm_opts *o, struct llm *l);

/*
 * Choose the data packs for a turn whose user text is `text` (modular runtime
 * only; a no-op for a plain model or when --pack forced the packs). With
 * --verbose the decision goes to stderr ("packs: general 0.71, python 0.29").
 */
int llm_route(struct mb_ctx *ctx, const struct llm_opts *o, struct llm *l, const char *text,
              size_t n);

/* Render messages with the chat template (generation prompt added) and tokenize. */
int llm_chat_tokens(struct llm *l, const struct mb_chat_msg *msgs, size_t n, struct mb_tokens *out,
                    struct mb_err *err);

/* Read all of standard input (at most `max` bytes). */
int llm_read_stdin(struct mb_buf *out, size_t max, struct mb_err *err);

/* An mb_gen_emit_fn writing to stdout and flushing (ud unused). */
int llm_emit_stdout(void *ud, const char *text, size_t n, struct mb_err *err);

/* "prompt: N tokens, X tokens/s | generation: ..." on stderr (--verbose). */
void llm_print_stats(const struct mb_gen_stats *st);

/* Model details on stderr (--verbose). */
void llm_print_info(const struct llm *l);

#endif /* MB_CLI_LLM_H */
