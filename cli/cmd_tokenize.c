/*
 * cmd_tokenize.c - `modularbase tokenize --model FILE.gguf TEXT|-`: the token
 * ids and pieces of a text under a model's vocabulary, like llama.cpp's
 * llama-tokenize (same defaults: BOS added when the vocabulary asks for it,
 * special-token text parsed). Also: one result per input line (--per-line,
 * for scripts and benchmarks), and the chat prompt a conversation becomes
 * (--chat / --messages: rendered with the model's chat template, then
 * tokenized; --render prints the prompt text itself).
 */
#include "cli.h"
#include "gguf_print.h"
#include "mb_runtime.h"

#include <errno.h>
#include <jansson.h>

#define INPUT_MAX ((size_t)64 << 20) /* bytes of text or messages read */

struct tok_args {
    const char *model;
    const char *file;
    const char *pre;
    bool ids, pieces, count, json, no_bos, no_parse_special, per_line, stats;
    /* --stats totals */
    size_t n_texts, n_bytes, n_tokens;
    uint64_t encode_ns;
    /* chat */
    bool chat, render, no_gen_prompt;
    const char *system, *messages, *template_name, *template_file, *date;
};

/* Read all of stdin (capped). */
static int read_stdin(struct mb_buf *out, struct mb_err *err)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
        int rc = mb_buf_append(out, chunk, n, err);
        if (rc)
            return rc == MB_E_LIMIT ? mb_fail(err, MB_E_LIMIT,
                                              "standard input is larger than "
                                              "%zu MiB",
                                              INPUT_MAX >> 20)
                                    : rc;
    }
    if (ferror(stdin))
        return mb_fail_errno(err, errno, "cannot read standard input");
    return 0;
}

static int read_input(const char *path, struct mb_buf *out, struct mb_err *err)
{
    if (!strcmp(path, "-"))
        return read_stdin(out, err);
    return mb_file_read_all(path, INPUT_MAX, out, err);
}

/* A piece for text output: printable bytes as they are, the rest escaped. */
static void print_escaped(FILE *f, struct mb_str p)
{
    for (size_t i = 0; i < p.n; i++) {
        unsigned char c = (unsigned char)p.p[i];
        if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c == '\r')
            fputs("\\r", f);
        else if (c == '\\')
            fputs("\\\\", f);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
}

static void print_result(const struct tok_args *a, const struct mb_tokenizer *tok,
                         const struct mb_tokens *t)
{
    FILE *f = stdout;
    if (a->json) {
        fprintf(f, "{\"n_tokens\": %zu", t->n);
        if (!a->count) {
            fputs(", \"ids\": [", f);
            for (size_t i = 0; i < t->n; i++)
                fprintf(f, "%s%d", i ? ", " : "", t->v[i]);
            fputs("], \"pieces\": [", f);
            for (size_t i = 0; i < t->n; i++) {
                struct mb_str p = mb_tokenizer_piece(tok, t->v[i], true);
                if (i)
                    fputs(", ", f);
                mb_json_str(f, p.p, p.n);
            }
            fputc(']', f);
        }
        fputs("}\n", f);
        return;
    }
    if (a->count) {
        fprintf(f, "%zu\n", t->n);
        return;
    }
    if (a->ids) {
        fputc('[', f);
        for (size_t i = 0; i < t->n; i++)
            fprintf(f, "%s%d", i ? ", " : "", t->v[i]);
        fputs("]\n", f);
        return;
    }
    for (size_t i = 0; i < t->n; i++) {
        struct mb_str p = mb_tokenizer_piece(tok, t->v[i], true);
        if (!a->pieces)
            fprintf(f, "%6d -> '", t->v[i]);
        print_escaped(f, p);
        fputs(a->pieces ? "\n" : "'\n", f);
    }
}

/* ------------------------------------------------------------ chat input */

/* Parse a JSON array of {"role": ..., "content": ...} (strings borrowed from root). */
static int parse_messages(const char *name, const char *text, size_t n, json_t **root,
                          struct mb_chat_msg **msgs, size_t *nmsgs, struct mb_err *err)
{
    json_error_t je;
    *root = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
    if (!*root)
        return mb_fail(err, MB_E_FORMAT, "%s:%d:%d: %s", name, je.line, je.column, je.text);
    if (!json_is_array(*root))
        return mb_fail(err, MB_E_FORMAT, "%s: expected a JSON array of messages", name);
    size_t count = json_array_size(*root);
    *msgs = mb_calloc(count ? count : 1, sizeof(**msgs));
    if (!*msgs)
        return mb_fail(err, MB_E_NOMEM, "out of memory for %zu messages", count);
    for (size_t i = 0; i < count; i++) {
        json_t *m = json_array_get(*root, i);
        json_t *role = json_object_get(m, "role"), *content = json_object_get(m, "content");
        if (!json_is_string(role) || !json_is_string(content))
            return mb_fail(err, MB_E_FORMAT,
                           "%s: message %zu: expected string fields 'role' "
                           "and 'content'",
                           name, i);
        if (strlen(json_string_value(content)) != json_string_length(content))
            return mb_fail(err, MB_E_FORMAT, "%s: message %zu: 'content' contains a NUL", name, i);
        (*msgs)[i].role = json_string_value(role);
        (*msgs)[i].content = json_string_value(content);
    }
    *nmsgs = count;
    return 0;
}

/* The chat format: --template, --template-file, or the model's own template. */
static int pick_template(const struct tok_args *a, const struct mb_gguf *g,
                         struct mb_chat_template *t, struct mb_err *err)
{
    if (a->template_name)
        return mb_chat_template_by_name(a->template_name, t, err);
    if (a->template_file) {
        struct mb_buf b;
        mb_buf_init(&b, (size_t)1 << 20);
        int rc = mb_file_read_all(a->template_file, (size_t)1 << 20, &b, err);
        if (!rc && (rc = mb_chat_template_detect(b.p ? b.p : "", t, err)) != 0)
            mb_err_prefix(err, "%s", a->template_file);
        mb_buf_release(&b);
        return rc;
    }
    return mb_chat_template_from_gguf(g, t, err);
}

/* A token's text as a C string for the templates (bos_token, eos_token). */
static char *token_text(const struct mb_tokenizer *tok, int32_t id)
{
    struct mb_str s = mb_tokenizer_text(tok, id);
    return mb_strndup(s.p, s.n);
}

static int run_chat(struct mb_ctx *ctx, const struct tok_args *a, const struct mb_gguf *g,
                    const struct mb_tokenizer *tok, const char *text, size_t text_len)
{
    struct mb_err *err = &ctx->err;
    struct mb_chat_template t;
    memset(&t, 0, sizeof(t));
    struct mb_buf in, prompt;
    mb_buf_init(&in, INPUT_MAX);
    mb_buf_init(&prompt, INPUT_MAX);
    json_t *root = NULL;
    struct mb_chat_msg *msgs = NULL, one[2];
    size_t n = 0;
    char *bos = NULL, *eos = NULL;
    struct mb_tokens ids;
    mb_tokens_init(&ids, INPUT_MAX);

    int rc = pick_template(a, g, &t, err);
    if (rc)
        goto out;
    if (a->messages) {
        rc = read_input(a->messages, &in, err);
        if (!rc)
            rc = parse_messages(a->messages, in.p ? in.p : "", in.n, &root, &msgs, &n, err);
    } else {
        if (memchr(text, '\0', text_len)) {
            rc = mb_usage_error(ctx, "the message contains a NUL byte");
            goto out;
        }
        if (a->system)
            one[n++] = (struct mb_chat_msg){ "system", a->system };
        one[n++] = (struct mb_chat_msg){ "user", text };
    }
    if (rc)
        goto out;
    bos = token_text(tok, mb_tokenizer_bos(tok));
    eos = token_text(tok, mb_tokenizer_eos(tok));
    if (!bos || !eos) {
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        goto out;
    }
    struct mb_chat_opts opts = { bos, eos, !a->no_gen_prompt, a->date };
    rc = mb_chat_render(&t, msgs ? msgs : one, n, &opts, &prompt, err);
    if (rc)
        goto out;
    if (a->render) {
        if (a->json) {
            fputs("{\"template\": ", stdout);
            mb_json_str(stdout, mb_chat_kind_name(t.kind), strlen(mb_chat_kind_name(t.kind)));
            fputs(", \"prompt\": ", stdout);
            mb_json_str(stdout, prompt.p ? prompt.p : "", prompt.n);
            fputs("}\n", stdout);
        } else if (prompt.n) {
            fwrite(prompt.p, 1, prompt.n, stdout);
        }
        goto out;
    }
    if (a->no_bos)
        rc = mb_tokenizer_encode(tok, prompt.p ? prompt.p : "", prompt.n, MB_TOK_PARSE_SPECIAL,
                                 &ids, err);
    else
        rc = mb_chat_encode(tok, prompt.p ? prompt.p : "", prompt.n, &ids, err);
    if (!rc)
        print_result(a, tok, &ids);
out:
    mb_tokens_release(&ids);
    mb_free(bos);
    mb_free(eos);
    mb_free(msgs);
    json_decref(root);
    mb_buf_release(&in);
    mb_buf_release(&prompt);
    mb_chat_template_release(&t);
    return rc;
}

/* ------------------------------------------------------------ plain text */

static int tokenize_one(struct tok_args *a, const struct mb_tokenizer *tok, const char *p, size_t n,
                        struct mb_err *err)
{
    unsigned flags =
        (a->no_bos ? 0 : MB_TOK_ADD_SPECIAL) | (a->no_parse_special ? 0 : MB_TOK_PARSE_SPECIAL);
    struct mb_tokens t;
    size_t cap;
    /* at most three tokens per byte (an invalid byte becomes U+FFFD) plus BOS/EOS */
    if (!mb_mul_ok(n, 3, &cap) || !mb_add_ok(cap, 8, &cap))
        return mb_fail(err, MB_E_LIMIT, "input too long");
    mb_tokens_init(&t, cap);
    uint64_t t0 = mb_now_ns();
    int rc = mb_tokenizer_encode(tok, p, n, flags, &t, err);
    a->encode_ns += mb_now_ns() - t0;
    a->n_texts++;
    a->n_bytes += n;
    a->n_tokens += t.n;
    if (!rc)
        print_result(a, tok, &t);
    mb_tokens_release(&t);
    return rc;
}

static int run_text(struct mb_ctx *ctx, struct tok_args *a, const struct mb_tokenizer *tok,
                    const char *text, size_t n)
{
    if (!a->per_line)
        return tokenize_one(a, tok, text, n, &ctx->err);
    size_t start = 0;
    bool first = true;
    while (start < n) {
        if (mb_interrupted)
            return mb_fail(&ctx->err, MB_E_INTERRUPTED, "interrupted");
        const char *nl = memchr(text + start, '\n', n - start);
        size_t end = nl ? (size_t)(nl - text) : n;
        if (!first && !a->json && !a->ids && !a->count)
            fputc('\n', stdout); /* a blank line between blocks of token lines */
        first = false;
        int rc = tokenize_one(a, tok, text + start, end - start, &ctx->err);
        if (rc)
            return rc;
        start = end + 1;
    }
    return 0;
}

int mb_cmd_tokenize(struct mb_ctx *ctx, int argc, char **argv)
{
    struct tok_args a;
    memset(&a, 0, sizeof(a));
    const struct mb_opt opts[] = {
        { "model", 'm', MB_OPT_STRING, &a.model, "FILE", "the GGUF file whose vocabulary to use" },
        { "file", 'f', MB_OPT_STRING, &a.file, "FILE", "read the text from FILE" },
        { "ids", 0, MB_OPT_FLAG, &a.ids, NULL, "print only the ids, as [1, 2, 3]" },
        { "pieces", 0, MB_OPT_FLAG, &a.pieces, NULL, "print only the pieces, one per line" },
        { "count", 0, MB_OPT_FLAG, &a.count, NULL, "print only the number of tokens" },
        { "json", 0, MB_OPT_FLAG, &a.json, NULL, "print {\"n_tokens\", \"ids\", \"pieces\"}" },
        { "no-bos", 0, MB_OPT_FLAG, &a.no_bos, NULL,
          "do not add BOS/EOS even if the vocabulary asks for them" },
        { "no-parse-special", 0, MB_OPT_FLAG, &a.no_parse_special, NULL,
          "tokenize special-token text such as <|im_start|> as plain text" },
        { "per-line", 0, MB_OPT_FLAG, &a.per_line, NULL,
          "tokenize each line separately, one result per line" },
        { "stats", 0, MB_OPT_FLAG, &a.stats, NULL,
          "print load and encoding times to standard error (for benchmarks)" },
        { "pre", 0, MB_OPT_STRING, &a.pre, "NAME",
          "use pre-tokenizer NAME instead of the model's tokenizer.ggml.pre" },
        { "chat", 0, MB_OPT_FLAG, &a.chat, NULL,
          "TEXT is a user message: apply the chat template, then tokenize" },
        { "system", 0, MB_OPT_STRING, &a.system, "TEXT", "with --chat: a system message" },
        { "messages", 0, MB_OPT_STRING, &a.messages, "FILE",
          "a JSON array of {\"role\", \"content\"} to render (- for stdin)" },
        { "template", 0, MB_OPT_STRING, &a.template_name, "NAME",
          "chat format instead of the model's: chatml, llama3, llama2, mistral" },
        { "template-file", 0, MB_OPT_STRING, &a.template_file, "FILE",
          "recognise the chat format from this Jinja template" },
        { "no-gen-prompt", 0, MB_OPT_FLAG, &a.no_gen_prompt, NULL,
          "do not end the prompt with the assistant's turn header" },
        { "date", 0, MB_OPT_STRING, &a.date, "TEXT",
          "the date Llama 3.1+ templates print (default: the template's)" },
        { "render", 0, MB_OPT_FLAG, &a.render, NULL,
          "print the rendered chat prompt instead of its tokens" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase tokenize --model FILE.gguf [--ids|--pieces|--count] [--json] [--no-bos]\n"
        "                            [--no-parse-special] [--per-line] TEXT|-\n"
        "       modularbase tokenize --model FILE.gguf --chat [--system TEXT] "
        "[--template NAME] [--render] TEXT|-\n"
        "       modularbase tokenize --model FILE.gguf --messages FILE.json [--render]",
        "Print the tokens of TEXT (or of standard input with '-', or of --file) under the\n"
        "vocabulary of a GGUF model, as llama.cpp's llama-tokenize does: one 'ID -> 'piece''\n"
        "line per token by default. BOS is added when the vocabulary asks for it and\n"
        "special-token text is recognised, unless --no-bos / --no-parse-special.\n"
        "With --chat or --messages the conversation is first rendered with the model's chat\n"
        "template (or --template); --render prints that prompt instead of its tokens.",
        "  modularbase tokenize -m SmolLM2-135M-Instruct.Q4_1.gguf 'Hello world'\n"
        "  echo 'one line' | modularbase tokenize -m model.gguf --ids -\n"
        "  modularbase tokenize -m model.gguf --chat --render 'What is 2+2?'",
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        return rc;
    if (!a.model)
        return mb_usage_error(ctx, "--model FILE.gguf is required");
    if ((int)a.ids + (int)a.pieces + (int)a.count > 1)
        return mb_usage_error(ctx, "--ids, --pieces and --count exclude each other");
    bool chat = a.chat || a.messages || a.render;
    if (!chat && (a.system || a.template_name || a.template_file || a.no_gen_prompt || a.date))
        return mb_usage_error(ctx, "--system, --template, --template-file, --no-gen-prompt and "
                                   "--date need --chat or --messages");
    if (a.template_name && a.template_file)
        return mb_usage_error(ctx, "--template and --template-file exclude each other");
    if (chat && a.per_line)
        return mb_usage_error(ctx, "--per-line does not combine with --chat or --messages");
    int sources = npos + (a.file ? 1 : 0) + (a.messages ? 1 : 0);
    if (sources == 0)
        return mb_usage_error(ctx, "no text given (TEXT, '-' for standard input, --file or "
                                   "--messages)");
    if (sources > 1)
        return mb_usage_error(ctx, "give exactly one text: TEXT, '-', --file or --messages");
    if (a.messages && a.system)
        return mb_usage_error(ctx, "--system does not combine with --messages (put the system "
                                   "message in the file)");

    struct mb_buf text;
    mb_buf_init(&text, INPUT_MAX);
    struct mb_gguf *g = NULL;
    struct mb_tokenizer *tok = NULL;
    if (a.file)
        rc = read_input(a.file, &text, &ctx->err);
    else if (npos == 1 && !strcmp(argv[0], "-"))
        rc = read_stdin(&text, &ctx->err);
    else if (npos == 1)
        rc = mb_buf_append_cstr(&text, argv[0], &ctx->err);
    uint64_t t0 = mb_now_ns();
    if (!rc)
        rc = mb_gguf_open(&g, a.model, &ctx->err);
    if (!rc)
        rc = mb_tokenizer_load_gguf(g, a.pre, &tok, &ctx->err);
    uint64_t t_load = mb_now_ns() - t0;
    if (!rc) {
        const char *p = text.p ? text.p : "";
        if (chat)
            rc = run_chat(ctx, &a, g, tok, p, text.n);
        else
            rc = run_text(ctx, &a, tok, p, text.n);
    }
    if (!rc && a.stats) {
        fflush(stdout);
        fprintf(stderr,
                "stats: load_ms=%.3f texts=%zu bytes=%zu tokens=%zu encode_ms=%.3f "
                "bytes_per_s=%.0f\n",
                (double)t_load / 1e6, a.n_texts, a.n_bytes, a.n_tokens, (double)a.encode_ns / 1e6,
                a.encode_ns ? (double)a.n_bytes * 1e9 / (double)a.encode_ns : 0.0);
    }
    mb_tokenizer_free(tok);
    mb_gguf_free(g);
    mb_buf_release(&text);
    return rc;
}
