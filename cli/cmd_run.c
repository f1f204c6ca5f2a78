/*
 * cmd_run.c - `modularbase run --model FILE.gguf -p PROMPT`: one prompt, one
 * streamed answer, like llama.cpp's llama-run and Ollama's `run MODEL PROMPT`.
 * The prompt is a user message put through the model's chat template (with an
 * optional --system message), or, with --raw, text tokenized as it is (BOS
 * added when the vocabulary asks for it, special-token text recognised) for
 * plain completion. `-p -` reads the prompt from standard input.
 */
#include "llm.h"

#define PROMPT_MAX ((size_t)64 << 20)

struct out_state {
    bool any;
    char last;
};

static int emit(void *ud, const char *text, size_t n, struct mb_err *err)
{
    struct out_state *o = ud;
    if (n) {
        o->any = true;
        o->last = text[n - 1];
    }
    return llm_emit_stdout(NULL, text, n, err);
}

/* The prompt text: -p TEXT, or standard input for "-" (one trailing newline dropped). */
static int read_prompt(struct mb_ctx *ctx, const char *p, struct mb_buf *out)
{
    int rc;
    if (!strcmp(p, "-")) {
        rc = llm_read_stdin(out, PROMPT_MAX, &ctx->err);
        if (rc)
            return rc;
        if (out->n && out->p[out->n - 1] == '\n')
            out->p[--out->n] = '\0';
        if (out->n && out->p[out->n - 1] == '\r')
            out->p[--out->n] = '\0';
    } else {
        rc = mb_buf_append_cstr(out, p, &ctx->err);
        if (rc)
            return rc;
    }
    if (out->n == 0)
        return mb_usage_error(ctx, "the prompt is empty");
    if (memchr(out->p, '\0', out->n))
        return mb_usage_error(ctx, "the prompt contains a NUL byte");
    return 0;
}

static int run(struct mb_ctx *ctx, struct llm_opts *o, bool raw, const char *text, size_t n)
{
    struct mb_err *err = &ctx->err;
    struct llm l;
    int rc = llm_open(ctx, o, LLM_SAMPLER | (raw ? 0 : LLM_TEMPLATE), &l);
    if (rc)
        return rc;
    if (o->verbose)
        llm_print_info(&l);
    rc = llm_route(ctx, o, &l, text, n);
    struct mb_tokens toks;
    mb_tokens_init(&toks, PROMPT_MAX);
    if (rc) {
        /* routing failed: reported below */
    } else if (raw) {
        rc = mb_tokenizer_encode(l.tok, text, n, MB_TOK_ADD_SPECIAL | MB_TOK_PARSE_SPECIAL, &toks,
                                 err);
    } else {
        struct mb_chat_msg msgs[2];
        size_t nm = 0;
        if (o->system)
            msgs[nm++] = (struct mb_chat_msg){ "system", o->system };
        msgs[nm++] = (struct mb_chat_msg){ "user", text };
        rc = llm_chat_tokens(&l, msgs, nm, &toks, err);
    }
    if (!rc && toks.n == 0)
        rc = mb_usage_error(ctx, "the prompt has no tokens");
    if (!rc && toks.n >= mb_session_n_ctx(l.sess))
        rc = mb_fail(err, MB_E_LIMIT,
                     "the prompt is %zu tokens, which does not fit in the context of %zu tokens "
                     "(raise --ctx)",
                     toks.n, mb_session_n_ctx(l.sess));
    if (rc)
        goto out;

    if (o->n_predict == 0) { /* evaluate only */
        rc = mb_session_eval(l.sess, toks.v, toks.n, NULL, err);
        goto out;
    }
    struct mb_generator gen;
    mb_generator_init(&gen, l.sess, l.tok, l.smp);
    gen.stop_ids = l.stop_ids;
    gen.n_stop_ids = l.n_stop_ids;
    gen.ignore_eog = o->ignore_eos;
    struct out_state os = { false, 0 };
    struct mb_gen_stats st;
    rc = mb_generate(&gen, &l.stop, toks.v, toks.n, emit, &os, &st, err);
    mb_generator_release(&gen);
    if (os.any && os.last != '\n')
        llm_emit_stdout(NULL, "\n", 1, err);
    if (rc)
        goto out;
    if (o->verbose)
        llm_print_stats(&st);
    if (st.end == MB_GEN_END_CONTEXT_FULL)
        mb_cli_warn(ctx, "the context of %zu tokens is full; the answer was cut (raise --ctx)",
                    mb_session_n_ctx(l.sess));
    else if (st.end == MB_GEN_END_INTERRUPTED)
        rc = mb_fail(err, MB_E_INTERRUPTED, "interrupted");
out:
    mb_tokens_release(&toks);
    llm_close(&l);
    return rc;
}

int mb_cmd_run(struct mb_ctx *ctx, int argc, char **argv)
{
    struct llm_opts o;
    llm_opts_init(&o);
    const char *prompt = NULL;
    bool raw = false;
    const struct mb_opt opts[] = {
        LLM_OPTS_MODEL(o),
        LLM_OPTS_PACKS(o),
        { "prompt", 'p', MB_OPT_STRING, &prompt, "TEXT", "the prompt ('-' reads standard input)" },
        { "raw", 0, MB_OPT_FLAG, &raw, NULL,
          "complete the text as it is, without the chat template" },
        LLM_OPTS_SAMPLING(o),
        LLM_OPTS_CHAT(o),
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase run [--model FILE.gguf | --packs DIR] -p PROMPT|- [-n N] [--temp T] [--top-k "
        "K] [--top-p P]\n"
        "                       [--min-p P] [--repeat-penalty X] [--seed S] [--raw] [--stop "
        "STR]...\n"
        "                       [--ctx N] [--threads N] [--template NAME] [--system TEXT] "
        "[--verbose]",
        "Answer one prompt with a GGUF model, streaming the answer to standard output.\n"
        "The prompt is a user message formatted with the model's chat template (or\n"
        "--template), after an optional --system message; --raw continues the text as it\n"
        "is instead. Generation ends at the end of the answer, after -n tokens, at a --stop\n"
        "string, or when the context is full. Sampling defaults are llama.cpp's\n"
        "(temperature 0.8, top-k 40, top-p 0.95, min-p 0.05); --temp 0 is greedy and\n"
        "deterministic, --seed makes sampling reproducible.",
        "  modularbase run -m SmolLM2-135M-Instruct.Q4_1.gguf -p 'What is the capital of France?'\n"
        "  echo 'Write a haiku about the sea' | modularbase run -m model.gguf -p - --temp 0\n"
        "  modularbase run -m model.gguf --raw -p 'def fibonacci(n):' -n 64 --stop '\\n\\n'",
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc == 0)
        rc = llm_check_opts(ctx, &o);
    if (rc)
        goto out;
    if (npos > 0) {
        rc = mb_usage_error(ctx, "unexpected argument '%s' (the prompt goes after -p)", argv[0]);
        goto out;
    }
    if (o.model && (o.packs || o.pack_ids.n)) {
        rc = mb_usage_error(ctx, "--model runs one GGUF file: drop --packs/--pack");
        goto out;
    }
    if (!prompt) {
        rc = mb_usage_error(ctx, "no prompt: give -p TEXT (or -p - to read standard input)");
        goto out;
    }
    if (raw && (o.template_name || o.system)) {
        rc = mb_usage_error(ctx, "--raw does not use a chat template: drop --template/--system");
        goto out;
    }
    struct mb_buf text;
    mb_buf_init(&text, PROMPT_MAX);
    rc = read_prompt(ctx, prompt, &text);
    if (!rc)
        rc = run(ctx, &o, raw, text.p, text.n);
    mb_buf_release(&text);
out:
    llm_opts_release(&o);
    return rc == MB_CLI_HELP_SHOWN ? 0 : rc;
}
