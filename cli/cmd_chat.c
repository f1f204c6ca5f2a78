/*
 * cmd_chat.c - `modularbase chat --model FILE.gguf`: a multi-turn conversation
 * with streamed answers, like llama.cpp's llama-cli in conversation mode and
 * Ollama's interactive `run`. The whole history is re-rendered with the chat
 * template each turn, but only the new part is evaluated (the session keeps
 * the cached prefix). When the history outgrows the context, the oldest turns
 * are dropped (the system message stays). Commands: /help, /reset, /bye;
 * Ctrl-D ends, Ctrl-C stops the current answer and keeps the session.
 *
 * From a pipe (stdin not a terminal) every line is one user turn and nothing
 * but the answers is printed, one after another, each ending with a newline.
 */
#include "llm.h"

#include <errno.h>

#define LINE_MAX_BYTES   ((size_t)1 << 20)
#define ANSWER_MAX_BYTES ((size_t)16 << 20)
#define HISTORY_MAX      4096 /* messages kept (older ones are dropped) */

struct history {
    struct mb_chat_msg *msgs; /* contents point into texts */
    char **texts;             /* owned copies of the contents */
    size_t n, cap;
    bool has_system; /* msgs[0] is the system message */
};

/* Forget messages [from, to). */
static void history_cut(struct history *h, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        mb_free(h->texts[i]);
    memmove(h->msgs + from, h->msgs + to, (h->n - to) * sizeof(*h->msgs));
    memmove(h->texts + from, h->texts + to, (h->n - to) * sizeof(*h->texts));
    h->n -= to - from;
}

static void history_clear(struct history *h, bool keep_system)
{
    size_t keep = keep_system && h->has_system ? 1 : 0;
    history_cut(h, keep, h->n);
    if (!keep)
        h->has_system = false;
}

static void history_release(struct history *h)
{
    history_clear(h, false);
    mb_free(h->msgs);
    mb_free(h->texts);
    memset(h, 0, sizeof(*h));
}

static int history_push(struct history *h, const char *role, const char *text, size_t n,
                        struct mb_err *err)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        struct mb_chat_msg *m = mb_reallocarray(h->msgs, cap, sizeof(*m));
        if (m)
            h->msgs = m;
        char **t = m ? mb_reallocarray(h->texts, cap, sizeof(*t)) : NULL;
        if (!t)
            return mb_fail(err, MB_E_NOMEM, "out of memory for the conversation");
        h->texts = t;
        h->cap = cap;
    }
    char *copy = mb_strndup(text, n);
    if (!copy)
        return mb_fail(err, MB_E_NOMEM, "out of memory for the conversation");
    h->texts[h->n] = copy;
    h->msgs[h->n++] = (struct mb_chat_msg){ role, copy };
    return 0;
}

/* Drop the oldest turn after the system message (a user message and what follows it
 * up to the next user message). False when only the last message is left. */
static bool history_drop_oldest(struct history *h)
{
    size_t first = h->has_system ? 1 : 0;
    if (h->n <= first + 1)
        return false;
    size_t end = first + 1;
    while (end < h->n - 1 && strcmp(h->msgs[end].role, "user"))
        end++;
    history_cut(h, first, end);
    return true;
}

struct chat {
    struct mb_ctx *ctx;
    struct llm_opts *o;
    struct llm l;
    struct mb_generator gen;
    struct history hist;
    struct mb_buf answer;
    struct mb_tokens toks;
    bool interactive;
    int failed; /* the first turn error (reported at the end in pipe mode) */
};

static int emit(void *ud, const char *text, size_t n, struct mb_err *err)
{
    struct chat *c = ud;
    int rc = mb_buf_append(&c->answer, text, n, err);
    if (rc)
        return rc;
    return llm_emit_stdout(NULL, text, n, err);
}

static void print_help(FILE *f)
{
    fprintf(f, "Commands:\n"
               "  /help, /?            this help\n"
               "  /reset, /clear       forget the conversation (the system message stays)\n"
               "  /bye, /exit, /quit   end the chat (Ctrl-D too)\n"
               "A line ending with '\\' continues on the next line; '//' sends a line that\n"
               "starts with '/'. Ctrl-C stops the current answer.\n");
}

/*
 * Render the history and make it fit: drop the oldest turns while the prompt
 * leaves less than a quarter of the context (or -n tokens, if fewer) for the
 * answer. A lone message only has to leave room for one token.
 */
static int fit_history(struct chat *c, struct mb_err *err)
{
    const size_t n_ctx = mb_session_n_ctx(c->l.sess);
    size_t reserve = n_ctx / 4;
    if (c->o->n_predict > 0)
        reserve = MB_MIN(reserve, (size_t)c->o->n_predict);
    size_t dropped = 0;
    for (;;) {
        int rc = llm_chat_tokens(&c->l, c->hist.msgs, c->hist.n, &c->toks, err);
        if (rc)
            return rc;
        if (c->toks.n + MB_MAX(reserve, (size_t)1) <= n_ctx)
            break;
        if (!history_drop_oldest(&c->hist)) {
            if (c->toks.n + 1 < n_ctx)
                break;
            return mb_fail(err, MB_E_LIMIT,
                           "the message makes a prompt of %zu tokens, which does not fit in the "
                           "context of %zu tokens (raise --ctx)",
                           c->toks.n, n_ctx);
        }
        dropped++;
    }
    if (dropped)
        mb_cli_note(c->ctx,
                    "the conversation outgrew the context of %zu tokens: dropped the %zu "
                    "oldest turn%s",
                    n_ctx, dropped, dropped > 1 ? "s" : "");
    return 0;
}

static int turn(struct chat *c, const char *text, size_t n)
{
    struct mb_err *err = &c->ctx->err;
    int rc = llm_route(c->ctx, c->o, &c->l, text, n);
    if (!rc)
        rc = history_push(&c->hist, "user", text, n, err);
    if (rc)
        return rc;
    if ((rc = fit_history(c, err))) {
        /* The message is not part of the conversation. */
        history_cut(&c->hist, c->hist.n - 1, c->hist.n);
        return rc;
    }
    mb_buf_reset(&c->answer);
    struct mb_gen_stats st;
    rc = mb_generate(&c->gen, &c->l.stop, c->toks.v, c->toks.n, emit, c, &st, err);
    if (c->answer.n && c->answer.p[c->answer.n - 1] != '\n')
        llm_emit_stdout(NULL, "\n", 1, NULL);
    if (c->interactive)
        llm_emit_stdout(NULL, "\n", 1, NULL);
    if (rc == MB_E_INTERRUPTED) { /* Ctrl-C during the prompt: nothing was answered */
        mb_interrupted = 0;
        history_cut(&c->hist, c->hist.n - 1, c->hist.n);
        mb_cli_note(c->ctx, "interrupted");
        return 0;
    }
    if (rc)
        return rc;
    /* Keep what was shown, even a cut answer: the model sees what the user saw. */
    rc = history_push(&c->hist, "assistant", c->answer.p ? c->answer.p : "", c->answer.n, err);
    if (rc)
        return rc;
    if (c->hist.n > HISTORY_MAX)
        history_drop_oldest(&c->hist);
    if (c->o->verbose)
        llm_print_stats(&st);
    if (st.end == MB_GEN_END_CONTEXT_FULL)
        mb_cli_warn(c->ctx, "the context of %zu tokens is full; the answer was cut",
                    mb_session_n_ctx(c->l.sess));
    else if (st.end == MB_GEN_END_INTERRUPTED) {
        mb_interrupted = 0;
        if (c->interactive)
            mb_cli_note(c->ctx, "answer stopped");
    }
    return 0;
}

/*
 * One input line (continued over lines ending with '\') into `line`. Returns 0,
 * MB_E_INTERRUPTED when Ctrl-C came while reading, MB_E_FALSE at end of input.
 */
static int read_line(struct chat *c, struct mb_buf *line, struct mb_err *err)
{
    mb_buf_reset(line);
    char chunk[4096];
    bool got_any = false;
    for (;;) {
        if (!fgets(chunk, sizeof(chunk), stdin)) {
            if (ferror(stdin) && (errno == EINTR || mb_interrupted)) {
                clearerr(stdin);
                return MB_E_INTERRUPTED;
            }
            if (ferror(stdin))
                return mb_fail_errno(err, errno, "cannot read standard input");
            return got_any ? 0 : MB_E_FALSE;
        }
        got_any = true;
        size_t n = strlen(chunk);
        if (line->n + n > LINE_MAX_BYTES)
            return mb_fail(err, MB_E_LIMIT, "an input line is longer than %zu KiB",
                           LINE_MAX_BYTES >> 10);
        int rc = mb_buf_append(line, chunk, n, err);
        if (rc)
            return rc;
        if (!line->n || line->p[line->n - 1] != '\n')
            continue; /* a long line, or the last line without a newline */
        line->p[--line->n] = '\0';
        if (line->n && line->p[line->n - 1] == '\r')
            line->p[--line->n] = '\0';
        if (line->n && line->p[line->n - 1] == '\\') { /* continuation */
            line->p[line->n - 1] = '\n';
            if (c->interactive) {
                fflush(stdout);
                fputs("... ", stderr);
            }
            continue;
        }
        return 0;
    }
}

/* A '/' command; true when the chat should end. */
static bool command(struct chat *c, const char *cmd)
{
    if (!strcmp(cmd, "/bye") || !strcmp(cmd, "/exit") || !strcmp(cmd, "/quit"))
        return true;
    if (!strcmp(cmd, "/help") || !strcmp(cmd, "/?")) {
        print_help(c->interactive ? stderr : stdout);
    } else if (!strcmp(cmd, "/reset") || !strcmp(cmd, "/clear")) {
        history_clear(&c->hist, true);
        mb_session_reset(c->l.sess);
        mb_sampler_reset(c->l.smp);
        if (c->interactive)
            mb_cli_note(c->ctx, "conversation reset");
    } else {
        mb_cli_warn(c->ctx, "unknown command '%s' (type /help)", cmd);
    }
    return false;
}

static int chat_loop(struct chat *c)
{
    struct mb_err *err = &c->ctx->err;
    struct mb_buf line;
    mb_buf_init(&line, LINE_MAX_BYTES + 4096);
    int rc = 0;
    if (c->interactive) {
        fflush(stdout);
        fprintf(stderr, "Chatting with %s. Type /help for commands, /bye or Ctrl-D to quit.\n",
                mb_path_basename(c->o->model));
    }
    for (;;) {
        mb_interrupted = 0;
        if (c->interactive) {
            fflush(stdout);
            fputs(">>> ", stderr);
        }
        rc = read_line(c, &line, err);
        if (rc == MB_E_FALSE) { /* end of input */
            if (c->interactive)
                fputc('\n', stderr);
            rc = 0;
            break;
        }
        if (rc == MB_E_INTERRUPTED) {
            fputs("\n", stderr);
            mb_cli_note(c->ctx, "use Ctrl-D or /bye to quit");
            continue;
        }
        if (rc == MB_E_LIMIT) { /* skip the rest of an overlong line */
            mb_cli_warn(c->ctx, "%s", err->msg);
            int ch;
            while ((ch = getchar()) != EOF && ch != '\n')
                ;
            if (!c->failed)
                c->failed = rc;
            rc = 0;
            continue;
        }
        if (rc)
            break;
        const char *text = line.p ? line.p : "";
        if (line.n == 0)
            continue;
        if (memchr(text, '\0', line.n)) {
            mb_cli_warn(c->ctx, "the message contains a NUL byte; skipped");
            continue;
        }
        if (text[0] == '/' && text[1] != '/') {
            if (command(c, text))
                break;
            continue;
        }
        if (text[0] == '/')
            text++; /* "//x" sends "/x" */
        rc = turn(c, text, strlen(text));
        if (rc == MB_E_IO || rc == MB_E_NOMEM)
            break;
        if (rc) {
            /* A turn that failed (too long for the context, ...): say so, keep chatting. */
            fflush(stdout);
            fprintf(stderr, "%serror:%s %s\n", c->ctx->color ? "\033[1;31m" : "",
                    c->ctx->color ? "\033[0m" : "", err->msg);
            if (!c->failed)
                c->failed = rc;
            mb_err_init(err);
            rc = 0;
        }
    }
    mb_buf_release(&line);
    if (!rc && c->failed && !c->interactive) /* scripts learn that a turn failed */
        return mb_fail(err, c->failed, "a turn failed (see above)");
    return rc;
}

int mb_cmd_chat(struct mb_ctx *ctx, int argc, char **argv)
{
    struct llm_opts o;
    llm_opts_init(&o);
    const struct mb_opt opts[] = {
        LLM_OPTS_MODEL(o), LLM_OPTS_PACKS(o), LLM_OPTS_SAMPLING(o), LLM_OPTS_CHAT(o), MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase chat [--model FILE.gguf | --packs DIR] [--pack ID[:W]]... [-n N] [--temp T] "
        "[--top-k K] [--top-p P] [--min-p P]\n"
        "                        [--repeat-penalty X] [--seed S] [--stop STR]... [--ctx N]\n"
        "                        [--threads N] [--template NAME] [--system TEXT] [--verbose]",
        "Chat with a GGUF model, or with no --model with the modular model of the installed\n"
        "packs (or of the pack folders in --packs DIR): type a message, read the streamed\n"
        "answer, continue. The data packs are chosen per message (--pack forces them;\n"
        "--verbose prints the choice).\n"
        "The conversation is kept (formatted with the model's chat template or --template)\n"
        "until /reset; when it outgrows the context the oldest turns are dropped.\n"
        "Commands: /help, /reset, /bye. Ctrl-C stops an answer, Ctrl-D quits.\n"
        "When standard input is not a terminal, each line is one message and only the\n"
        "answers are printed. Sampling options are those of 'modularbase run'.",
        "  modularbase chat -m SmolLM2-135M-Instruct.Q4_1.gguf\n"
        "  printf 'Hi!\\nWhat can you do?\\n' | modularbase chat -m model.gguf --temp 0",
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc == 0)
        rc = llm_check_opts(ctx, &o);
    if (rc)
        goto out;
    if (npos > 0) {
        rc = mb_usage_error(ctx, "unexpected argument '%s' (messages are read from standard input)",
                            argv[0]);
        goto out;
    }
    if (o.model && (o.packs || o.pack_ids.n)) {
        rc = mb_usage_error(ctx, "--model runs one GGUF file: drop --packs/--pack");
        goto out;
    }
    struct chat c;
    memset(&c, 0, sizeof(c));
    c.ctx = ctx;
    c.o = &o;
    c.interactive = ctx->stdin_tty;
    mb_buf_init(&c.answer, ANSWER_MAX_BYTES);
    mb_tokens_init(&c.toks, (size_t)1 << 26);
    rc = llm_open(ctx, &o, LLM_SAMPLER | LLM_TEMPLATE, &c.l);
    if (!rc) {
        if (o.verbose)
            llm_print_info(&c.l);
        mb_generator_init(&c.gen, c.l.sess, c.l.tok, c.l.smp);
        c.gen.stop_ids = c.l.stop_ids;
        c.gen.n_stop_ids = c.l.n_stop_ids;
        c.gen.ignore_eog = o.ignore_eos;
        if (o.system) {
            rc = history_push(&c.hist, "system", o.system, strlen(o.system), &ctx->err);
            c.hist.has_system = rc == 0;
        }
        if (!rc)
            rc = chat_loop(&c);
        mb_generator_release(&c.gen);
        llm_close(&c.l);
    }
    history_release(&c.hist);
    mb_tokens_release(&c.toks);
    mb_buf_release(&c.answer);
out:
    llm_opts_release(&o);
    return rc == MB_CLI_HELP_SHOWN ? 0 : rc;
}
