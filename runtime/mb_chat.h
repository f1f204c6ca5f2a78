/*
 * mb_chat.h - chat templates: turn a list of messages into the prompt text a
 * chat model was trained on, exactly as the model's Jinja template
 * (`tokenizer.chat_template`) renders it - without a Jinja interpreter. The
 * template text is recognised as one of the formats in common use and rendered
 * by C code written for that format:
 *
 *   chatml   <|im_start|>role\n...<|im_end|>\n   (SmolLM2, Qwen, ...; a default system
 *            prompt written in the template, such as SmolLM2's, is picked up)
 *   llama3   <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>   (Llama 3; the
 *            3.1+ form with its "Cutting Knowledge Date" system preamble too)
 *   llama2   <s>[INST] <<SYS>>\n...\n<</SYS>>\n\n... [/INST] ... </s>
 *   mistral  <s>[INST] ... [/INST]...</s>   (Mistral 7B Instruct v0.1/v0.2)
 *
 * An unrecognised template is an error (MB_E_UNSUPPORTED) whose message suggests
 * `--template chatml|llama3|llama2|mistral`; mb_chat_template_by_name() is that
 * override. tests/integration/t2031-tokenize-chat.py compares the rendering with
 * Python's jinja2 on the real templates.
 */
#ifndef MB_CHAT_H
#define MB_CHAT_H

#include "mb_common.h"
#include "mb_tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

enum mb_chat_kind {
    MB_CHAT_CHATML = 1,
    MB_CHAT_LLAMA3 = 2,
    MB_CHAT_LLAMA2 = 3,
    MB_CHAT_MISTRAL = 4,
};

/* A recognised format and the details read from the template text. */
struct mb_chat_template {
    enum mb_chat_kind kind;
    /* chatml: the system prompt the template inserts when the first message is not
     * a system message (owned, NUL-terminated), or NULL. */
    char *default_system;
    /* llama3: the 3.1+ system preamble ("Cutting Knowledge Date: ...\nToday Date: ...") */
    bool llama3_preamble;
    /* llama3 preamble: the template asks for today's date (strftime_now) */
    bool llama3_today;
    /* mistral: the text after an assistant message's eos token (" " in v0.1, else "") */
    const char *mistral_after_eos;
};

/* One message; both strings are borrowed. Roles: "system", "user", "assistant". */
struct mb_chat_msg {
    const char *role;
    const char *content;
};

/* Rendering options. Strings are borrowed; NULL means "". */
struct mb_chat_opts {
    const char *bos_token;      /* the tokenizer's BOS text ("<s>"); the templates print it */
    const char *eos_token;      /* the tokenizer's EOS text ("</s>") */
    bool add_generation_prompt; /* end with the header of an assistant turn */
    const char *date_string;    /* llama3 preamble date; NULL = the template's default */
};

/* The format names, NULL-terminated: "chatml", "llama3", "llama2", "mistral". */
const char *const *mb_chat_template_names(void);
const char *mb_chat_kind_name(enum mb_chat_kind kind);

/*
 * Recognise the Jinja template `text`. Fills *out (release with
 * mb_chat_template_release). MB_E_UNSUPPORTED when no format matches, with a
 * message suggesting --template.
 */
int mb_chat_template_detect(const char *text, struct mb_chat_template *out, struct mb_err *err);

struct mb_gguf;
/*
 * Recognise the template of a GGUF file (`tokenizer.chat_template`). MB_E_NOTFOUND when
 * the file has none (the message suggests --template), else as mb_chat_template_detect();
 * messages name the file.
 */
int mb_chat_template_from_gguf(const struct mb_gguf *gguf, struct mb_chat_template *out,
                               struct mb_err *err);

/* The plain format called `name` (no default system prompt); MB_E_USAGE for an unknown name. */
int mb_chat_template_by_name(const char *name, struct mb_chat_template *out, struct mb_err *err);

void mb_chat_template_release(struct mb_chat_template *t);

/*
 * Render `n` messages into `out` (appended). Fails with MB_E_USAGE when the
 * conversation breaks the format's rules in the way its template raises an
 * error (llama2/mistral: roles must alternate user/assistant after an optional
 * leading system message). mistral's template has no system role; a leading
 * system message is put in front of the first user message, separated by a blank
 * line (the template itself would refuse it).
 */
int mb_chat_render(const struct mb_chat_template *t, const struct mb_chat_msg *msgs, size_t n,
                   const struct mb_chat_opts *opts, struct mb_buf *out, struct mb_err *err);

/* The end-of-turn texts of the format ("<|im_end|>" for chatml), NULL-terminated. */
const char *const *mb_chat_end_of_turn(const struct mb_chat_template *t);

/*
 * The token ids that end an assistant turn with this format and tokenizer: its
 * end-of-turn texts that are single tokens, plus the tokenizer's EOS. Writes at
 * most `cap` ids and returns how many it found.
 */
size_t mb_chat_stop_tokens(const struct mb_chat_template *t, const struct mb_tokenizer *tok,
                           int32_t *ids, size_t cap);

/*
 * Tokenize a rendered prompt: special-token text is parsed, and BOS is added
 * only when the vocabulary adds one and the text does not already begin with
 * it (templates that print bos_token would otherwise give two).
 */
int mb_chat_encode(const struct mb_tokenizer *tok, const char *text, size_t len,
                   struct mb_tokens *out, struct mb_err *err);

#ifdef __cplusplus
}
#endif

#endif /* MB_CHAT_H */
