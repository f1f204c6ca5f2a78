/*
 * chat.c - chat template recognition and rendering (see mb_chat.h). Each format
 * is rendered by a function that follows its reference Jinja template line by
 * line: the same loops, the same whitespace handling (Jinja's `trim` filter and
 * Python's str.strip() remove Python's whitespace set), the same errors.
 */
#include "mb_chat.h"
#include "mb_gguf.h"

static const char *const kind_names[] = { "chatml", "llama3", "llama2", "mistral", NULL };

const char *const *mb_chat_template_names(void)
{
    return kind_names;
}

const char *mb_chat_kind_name(enum mb_chat_kind kind)
{
    if (kind >= MB_CHAT_CHATML && kind <= MB_CHAT_MISTRAL)
        return kind_names[kind - 1];
    return "unknown";
}

void mb_chat_template_release(struct mb_chat_template *t)
{
    mb_free(t->default_system);
    memset(t, 0, sizeof(*t));
}

/* ------------------------------------------------------------ recognition */

/*
 * The template without whitespace and with double quotes turned into single
 * ones, and `message.content` / `message.role` spelled with brackets, so that
 * feature tests do not depend on formatting. Caller frees.
 */
static char *squash(const char *text)
{
    size_t n = strlen(text);
    char *s = mb_malloc(n * 2 + 1);
    if (!s)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = text[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            continue;
        if (c == '"')
            c = '\'';
        if (!strncmp(text + i, "message.content", 15)) {
            memcpy(s + o, "message['content']", 18);
            o += 18;
            i += 14;
            continue;
        }
        if (!strncmp(text + i, "message.role", 12)) {
            memcpy(s + o, "message['role']", 15);
            o += 15;
            i += 11;
            continue;
        }
        s[o++] = c;
    }
    s[o] = '\0';
    return s;
}

/* Undo Jinja string-literal escapes (\n, \t, \\, \', \") of n bytes. Caller frees. */
static char *unescape(const char *p, size_t n)
{
    char *s = mb_malloc(n + 1);
    if (!s)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\\' && i + 1 < n) {
            char e = p[++i];
            s[o++] = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
            continue;
        }
        s[o++] = p[i];
    }
    s[o] = '\0';
    return s;
}

/*
 * A system prompt written literally in the template:
 * '<|im_start|>system\n' LITERAL '<|im_end|>' inside one string literal.
 */
static int find_default_system(const char *text, char **out, struct mb_err *err)
{
    static const char marker[] = "<|im_start|>system";
    *out = NULL;
    for (const char *p = strstr(text, marker); p; p = strstr(p + 1, marker)) {
        const char *q = p + sizeof(marker) - 1;
        if (*q == '\n')
            q++;
        else if (q[0] == '\\' && q[1] == 'n')
            q += 2;
        else
            continue;
        const char *end = strstr(q, "<|im_end|>");
        if (!end || end == q)
            continue;
        /* Only a literal: no quote, concatenation or Jinja expression inside. */
        if (memchr(q, '\'', (size_t)(end - q)) || memchr(q, '"', (size_t)(end - q)) ||
            memchr(q, '{', (size_t)(end - q)) || memchr(q, '+', (size_t)(end - q)))
            continue;
        *out = unescape(q, (size_t)(end - q));
        if (!*out)
            return mb_fail(err, MB_E_NOMEM, "chat template: out of memory");
        return 0;
    }
    return 0;
}

int mb_chat_template_detect(const char *text, struct mb_chat_template *out, struct mb_err *err)
{
    memset(out, 0, sizeof(*out));
    char *sq = squash(text);
    if (!sq)
        return mb_fail(err, MB_E_NOMEM, "chat template: out of memory");
    int rc = 0;
    if (strstr(text, "<|im_start|>") && strstr(text, "<|im_end|>") &&
        strstr(sq, "message['role']")) {
        out->kind = MB_CHAT_CHATML;
        rc = find_default_system(text, &out->default_system, err);
    } else if (strstr(text, "<|start_header_id|>") && strstr(text, "<|end_header_id|>") &&
               strstr(text, "<|eot_id|>")) {
        out->kind = MB_CHAT_LLAMA3;
        out->llama3_preamble = strstr(text, "Cutting Knowledge Date") != NULL;
        out->llama3_today = out->llama3_preamble && strstr(text, "strftime_now") != NULL;
    } else if (strstr(text, "[INST]") && strstr(text, "<<SYS>>")) {
        out->kind = MB_CHAT_LLAMA2;
    } else if (strstr(sq, "'[INST]'+message['content']+'[/INST]'") &&
               (strstr(text, "' [/INST]'") || strstr(text, "\" [/INST]\"")) &&
               strstr(sq, "message['content']+eos_token")) {
        out->kind = MB_CHAT_MISTRAL;
        out->mistral_after_eos = strstr(sq, "message['content']+eos_token+''") ? " " : "";
    } else {
        rc = mb_fail(err, MB_E_UNSUPPORTED,
                     "chat template not recognised (this build knows chatml, llama3, "
                     "llama2, mistral); choose one with --template chatml|llama3|llama2|mistral");
    }
    mb_free(sq);
    if (rc)
        mb_chat_template_release(out);
    return rc;
}

int mb_chat_template_from_gguf(const struct mb_gguf *g, struct mb_chat_template *out,
                               struct mb_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!mb_gguf_find_kv(g, "tokenizer.chat_template"))
        return mb_fail(err, MB_E_NOTFOUND,
                       "%s has no chat template (tokenizer.chat_template); choose one with "
                       "--template chatml|llama3|llama2|mistral",
                       mb_gguf_name(g));
    struct mb_str s;
    int rc = mb_gguf_get_str(g, "tokenizer.chat_template", &s, err);
    if (rc)
        return rc;
    char *text = mb_strndup(s.p, s.n);
    if (!text)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    rc = mb_chat_template_detect(text, out, err);
    mb_free(text);
    if (rc)
        mb_err_prefix(err, "%s", mb_gguf_name(g));
    return rc;
}

int mb_chat_template_by_name(const char *name, struct mb_chat_template *out, struct mb_err *err)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; kind_names[i]; i++) {
        if (!strcmp(name, kind_names[i])) {
            out->kind = (enum mb_chat_kind)(i + 1);
            out->mistral_after_eos = "";
            return 0;
        }
    }
    return mb_fail(err, MB_E_USAGE,
                   "unknown chat template '%s' (known: chatml, llama3, llama2, mistral)", name);
}

/* ------------------------------------------------------------ rendering */

/* Python's str.isspace() for one code point (what Jinja's trim and .strip() remove). */
static bool py_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
           c == 0x202f || c == 0x205f || c == 0x3000;
}

/* Decode the UTF-8 character at p (n bytes left); length 1 and U+FFFD when invalid. */
static size_t next_cp(const unsigned char *p, size_t n, uint32_t *cp)
{
    unsigned char c = p[0];
    size_t len = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
    if (len == 0 || len > n) {
        *cp = 0xfffd;
        return 1;
    }
    uint32_t v = len == 1 ? c : (uint32_t)(c & (0x7f >> len));
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            *cp = 0xfffd;
            return 1;
        }
        v = (v << 6) | (p[i] & 0x3fu);
    }
    *cp = v;
    return len;
}

/* The view of s with Python whitespace removed at both ends. */
static struct mb_str strip(const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)p), start = 0, end = n;
    while (start < end) {
        uint32_t cp;
        size_t l = next_cp(p + start, end - start, &cp);
        if (!py_space(cp))
            break;
        start += l;
    }
    while (end > start) {
        /* step back to the start of the last character */
        size_t k = end - 1;
        while (k > start && (p[k] & 0xc0) == 0x80 && end - k < 4)
            k--;
        uint32_t cp;
        size_t l = next_cp(p + k, end - k, &cp);
        if (k + l != end || !py_space(cp))
            break;
        end = k;
    }
    return (struct mb_str){ (const char *)p + start, end - start };
}

struct out {
    struct mb_buf *b;
    struct mb_err *err;
    int rc;
};

static void put(struct out *o, const char *s)
{
    if (!o->rc && s)
        o->rc = mb_buf_append_cstr(o->b, s, o->err);
}

static void put_str(struct out *o, struct mb_str s)
{
    if (!o->rc)
        o->rc = mb_buf_append(o->b, s.p, s.n, o->err);
}

static bool role_is(const struct mb_chat_msg *m, const char *role)
{
    return m->role && !strcmp(m->role, role);
}

static const char *str_or_empty(const char *s)
{
    return s ? s : "";
}

static void render_chatml(const struct mb_chat_template *t, const struct mb_chat_msg *m, size_t n,
                          const struct mb_chat_opts *opts, struct out *o)
{
    for (size_t i = 0; i < n; i++) {
        if (i == 0 && t->default_system && !role_is(&m[0], "system")) {
            put(o, "<|im_start|>system\n");
            put(o, t->default_system);
            put(o, "<|im_end|>\n");
        }
        put(o, "<|im_start|>");
        put(o, str_or_empty(m[i].role));
        put(o, "\n");
        put(o, str_or_empty(m[i].content));
        put(o, "<|im_end|>\n");
    }
    if (opts->add_generation_prompt)
        put(o, "<|im_start|>assistant\n");
}

static void llama3_turn(struct out *o, const char *role, struct mb_str content)
{
    put(o, "<|start_header_id|>");
    put(o, role);
    put(o, "<|end_header_id|>\n\n");
    put_str(o, content);
    put(o, "<|eot_id|>");
}

static void render_llama3(const struct mb_chat_template *t, const struct mb_chat_msg *m, size_t n,
                          const struct mb_chat_opts *opts, struct out *o)
{
    if (t->llama3_preamble) {
        /* Llama 3.1+: BOS, then always a system turn with the date preamble. */
        char today[32] = "26 Jul 2024";
        const char *date = opts->date_string;
        if (!date && t->llama3_today) {
            time_t now = time(NULL);
            struct tm tm;
            if (localtime_r(&now, &tm) && strftime(today, sizeof(today), "%d %b %Y", &tm) == 0)
                mb_strlcpy(today, "26 Jul 2024", sizeof(today));
        }
        if (!date)
            date = today;
        put(o, str_or_empty(opts->bos_token));
        size_t first = 0;
        struct mb_str sys = { "", 0 };
        if (n && role_is(&m[0], "system")) {
            sys = strip(m[0].content);
            first = 1;
        }
        put(o, "<|start_header_id|>system<|end_header_id|>\n\n");
        put(o, "Cutting Knowledge Date: December 2023\n");
        put(o, "Today Date: ");
        put(o, date);
        put(o, "\n\n");
        put_str(o, sys);
        put(o, "<|eot_id|>");
        for (size_t i = first; i < n; i++)
            llama3_turn(o, str_or_empty(m[i].role), strip(m[i].content));
    } else {
        /* Llama 3: BOS in front of the first turn only. */
        for (size_t i = 0; i < n; i++) {
            if (i == 0)
                put(o, str_or_empty(opts->bos_token));
            llama3_turn(o, str_or_empty(m[i].role), strip(m[i].content));
        }
    }
    if (opts->add_generation_prompt)
        put(o, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

static int alternation_error(struct mb_err *err, const char *name)
{
    return mb_fail(err, MB_E_USAGE,
                   "chat template '%s': conversation roles must alternate "
                   "user/assistant/user/assistant/... after an optional system message",
                   name);
}

static void render_llama2(const struct mb_chat_msg *m, size_t n, const struct mb_chat_opts *opts,
                          struct out *o)
{
    size_t first = 0;
    const char *system = NULL;
    if (n && role_is(&m[0], "system")) {
        system = str_or_empty(m[0].content);
        first = 1;
    }
    for (size_t i = first; i < n && !o->rc; i++) {
        size_t k = i - first;
        if (role_is(&m[i], "user") != (k % 2 == 0)) {
            o->rc = alternation_error(o->err, "llama2");
            return;
        }
        /* content = '<<SYS>>\n' + system + '\n<</SYS>>\n\n' + content on the first turn */
        struct mb_buf c;
        mb_buf_init(&c, (size_t)1 << 30);
        int rc = 0;
        if (k == 0 && system) {
            rc = mb_buf_appendf(&c, o->err, "<<SYS>>\n%s\n<</SYS>>\n\n", system);
        }
        if (!rc)
            rc = mb_buf_append_cstr(&c, str_or_empty(m[i].content), o->err);
        if (rc) {
            o->rc = rc;
            mb_buf_release(&c);
            return;
        }
        struct mb_str s = strip(c.p ? c.p : "");
        if (role_is(&m[i], "user")) {
            put(o, str_or_empty(opts->bos_token));
            put(o, "[INST] ");
            put_str(o, s);
            put(o, " [/INST]");
        } else if (role_is(&m[i], "assistant")) {
            put(o, " ");
            put_str(o, s);
            put(o, " ");
            put(o, str_or_empty(opts->eos_token));
        }
        mb_buf_release(&c);
    }
}

static void render_mistral(const struct mb_chat_template *t, const struct mb_chat_msg *m, size_t n,
                           const struct mb_chat_opts *opts, struct out *o)
{
    size_t first = 0;
    const char *system = NULL;
    if (n && role_is(&m[0], "system")) {
        system = str_or_empty(m[0].content);
        first = 1;
    }
    put(o, str_or_empty(opts->bos_token));
    for (size_t i = first; i < n && !o->rc; i++) {
        size_t k = i - first;
        if (role_is(&m[i], "user") != (k % 2 == 0)) {
            o->rc = alternation_error(o->err, "mistral");
            return;
        }
        if (role_is(&m[i], "user")) {
            put(o, "[INST] ");
            if (k == 0 && system) {
                put(o, system);
                put(o, "\n\n");
            }
            put(o, str_or_empty(m[i].content));
            put(o, " [/INST]");
        } else if (role_is(&m[i], "assistant")) {
            put(o, str_or_empty(m[i].content));
            put(o, str_or_empty(opts->eos_token));
            put(o, t->mistral_after_eos ? t->mistral_after_eos : "");
        } else {
            o->rc = mb_fail(o->err, MB_E_USAGE,
                            "chat template 'mistral': only user and assistant roles are "
                            "supported (got '%s')",
                            str_or_empty(m[i].role));
        }
    }
}

int mb_chat_render(const struct mb_chat_template *t, const struct mb_chat_msg *msgs, size_t n,
                   const struct mb_chat_opts *opts, struct mb_buf *out, struct mb_err *err)
{
    static const struct mb_chat_opts none = { NULL, NULL, false, NULL };
    if (!opts)
        opts = &none;
    struct out o = { out, err, 0 };
    /* These templates read messages[0] unconditionally: Jinja fails on an empty list. */
    if (n == 0 && (t->kind == MB_CHAT_LLAMA2 || (t->kind == MB_CHAT_LLAMA3 && t->llama3_preamble)))
        return mb_fail(err, MB_E_USAGE, "chat template '%s': the conversation is empty",
                       mb_chat_kind_name(t->kind));
    switch (t->kind) {
    case MB_CHAT_CHATML:
        render_chatml(t, msgs, n, opts, &o);
        break;
    case MB_CHAT_LLAMA3:
        render_llama3(t, msgs, n, opts, &o);
        break;
    case MB_CHAT_LLAMA2:
        render_llama2(msgs, n, opts, &o);
        break;
    case MB_CHAT_MISTRAL:
        render_mistral(t, msgs, n, opts, &o);
        break;
    default:
        return mb_fail(err, MB_E_INTERNAL, "chat template: no format selected");
    }
    return o.rc;
}

/* ------------------------------------------------------------ tokens */

const char *const *mb_chat_end_of_turn(const struct mb_chat_template *t)
{
    static const char *const chatml[] = { "<|im_end|>", NULL };
    static const char *const llama3[] = { "<|eot_id|>", "<|eom_id|>", NULL };
    static const char *const inst[] = { "</s>", NULL };
    switch (t->kind) {
    case MB_CHAT_CHATML:
        return chatml;
    case MB_CHAT_LLAMA3:
        return llama3;
    default:
        return inst;
    }
}

size_t mb_chat_stop_tokens(const struct mb_chat_template *t, const struct mb_tokenizer *tok,
                           int32_t *ids, size_t cap)
{
    size_t n = 0;
    int32_t cand[8];
    size_t nc = 0;
    for (const char *const *s = mb_chat_end_of_turn(t); *s && nc < 7; s++) {
        int32_t id = mb_tokenizer_find(tok, *s, strlen(*s));
        if (id >= 0)
            cand[nc++] = id;
    }
    cand[nc++] = mb_tokenizer_eos(tok);
    for (size_t i = 0; i < nc; i++) {
        bool dup = cand[i] < 0;
        for (size_t j = 0; j < n && !dup; j++)
            dup = ids[j] == cand[i];
        if (!dup && n < cap)
            ids[n++] = cand[i];
    }
    return n;
}

int mb_chat_encode(const struct mb_tokenizer *tok, const char *text, size_t len,
                   struct mb_tokens *out, struct mb_err *err)
{
    size_t start = out->n;
    int rc = mb_tokenizer_encode(tok, text, len, MB_TOK_PARSE_SPECIAL, out, err);
    if (rc)
        return rc;
    int32_t bos = mb_tokenizer_bos(tok);
    if (!mb_tokenizer_adds_bos(tok) || (out->n > start && out->v[start] == bos))
        return 0;
    rc = mb_tokens_push(out, bos, err);
    if (rc)
        return rc;
    memmove(out->v + start + 1, out->v + start, (out->n - 1 - start) * sizeof(*out->v));
    out->v[start] = bos;
    return 0;
}
