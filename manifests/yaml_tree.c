/*
 * yaml_tree.c - builds a node tree from libyaml's event stream for the
 * manifest validator: every node keeps its line and column; anchors, aliases,
 * explicit tags, multiple documents and complex keys are refused; duplicate
 * keys, nesting depth, node count and map sizes are checked. Also the scalar
 * writer used to emit canonical YAML.
 */
#include "manifests_int.h"

#include <yaml.h>

/* An open container while its children are being collected. */
struct frame {
    struct ynode *node;
    struct ynode **kids;
    size_t n, cap;
};

struct builder {
    const char *name;
    struct ydoc *doc;
    struct frame stack[MB_YAML_MAX_DEPTH + 1];
    int depth;
    size_t nodes;
    int docs;
    struct mb_err *err;
    int node_rc; /* why the last new_node() returned NULL */
};

static int fail_at(struct builder *b, const yaml_mark_t *m, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_at(struct builder *b, const yaml_mark_t *m, int code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return mb_fail(b->err, code, "%s:%zu:%zu: %s", b->name, m->line + 1, m->column + 1, msg);
}

/* A new node, or NULL with the error filled (the node limit, or out of memory). */
static struct ynode *new_node(struct builder *b, enum ynode_type t, const yaml_mark_t *m)
{
    if (++b->nodes > MB_YAML_MAX_NODES) {
        b->node_rc = fail_at(b, m, MB_E_LIMIT, "more than %d YAML nodes", MB_YAML_MAX_NODES);
        return NULL;
    }
    struct ynode *n = mb_arena_alloc(&b->doc->arena, sizeof(*n), 8);
    if (!n) {
        b->node_rc = mb_fail(b->err, MB_E_NOMEM, "%s: out of memory", b->name);
        return NULL;
    }
    n->type = t;
    n->line = (unsigned)(m->line + 1);
    n->col = (unsigned)(m->column + 1);
    return n;
}

static int add_child(struct builder *b, struct ynode *child, const yaml_mark_t *m)
{
    if (b->depth == 0) {
        b->doc->root = child;
        return 0;
    }
    struct frame *f = &b->stack[b->depth - 1];
    if (f->node->type == YN_MAP && f->n % 2 == 0) {
        if (child->type != YN_SCALAR)
            return fail_at(b, m, MB_E_FORMAT, "mapping keys must be strings");
        if (f->n / 2 >= MB_YAML_MAX_MAP_KEYS)
            return fail_at(b, m, MB_E_LIMIT, "more than %d keys in one mapping",
                           MB_YAML_MAX_MAP_KEYS);
        for (size_t i = 0; i < f->n; i += 2) {
            const struct ynode *k = f->kids[i];
            if (k->len == child->len && !memcmp(k->s, child->s, k->len))
                return fail_at(b, m, MB_E_FORMAT, "duplicate key '%.64s' (first at line %u)",
                               child->s, k->line);
        }
    }
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        struct ynode **k = mb_reallocarray(f->kids, cap, sizeof(*k));
        if (!k)
            return mb_fail(b->err, MB_E_NOMEM, "%s: out of memory", b->name);
        f->kids = k;
        f->cap = cap;
    }
    f->kids[f->n++] = child;
    return 0;
}

static int open_container(struct builder *b, enum ynode_type t, const yaml_event_t *ev)
{
    if (b->depth >= MB_YAML_MAX_DEPTH)
        return fail_at(b, &ev->start_mark, MB_E_LIMIT, "nesting deeper than %d levels",
                       MB_YAML_MAX_DEPTH);
    struct ynode *n = new_node(b, t, &ev->start_mark);
    if (!n)
        return b->node_rc;
    struct frame *f = &b->stack[b->depth++];
    memset(f, 0, sizeof(*f));
    f->node = n;
    return 0;
}

static int close_container(struct builder *b, const yaml_event_t *ev)
{
    struct frame *f = &b->stack[--b->depth];
    struct ynode *n = f->node;
    if (f->n) {
        size_t bytes;
        if (!mb_mul_ok(f->n, sizeof(*f->kids), &bytes))
            return fail_at(b, &ev->start_mark, MB_E_LIMIT, "too many YAML nodes");
        n->kids = mb_arena_alloc(&b->doc->arena, bytes, 8);
        if (!n->kids) {
            mb_free(f->kids);
            return mb_fail(b->err, MB_E_NOMEM, "%s: out of memory", b->name);
        }
        memcpy(n->kids, f->kids, bytes);
    }
    n->n = f->n;
    mb_free(f->kids);
    f->kids = NULL;
    return add_child(b, n, &ev->start_mark);
}

/* Refuse anchors and explicit tags on any node. */
static int check_props(struct builder *b, const yaml_event_t *ev, const yaml_char_t *anchor,
                       const yaml_char_t *tag)
{
    if (anchor)
        return fail_at(b, &ev->start_mark, MB_E_FORMAT,
                       "anchors and aliases are not allowed (&%.32s)", (const char *)anchor);
    if (tag)
        return fail_at(b, &ev->start_mark, MB_E_FORMAT, "explicit tags are not allowed (%.32s)",
                       (const char *)tag);
    return 0;
}

static int on_event(struct builder *b, const yaml_event_t *ev)
{
    int rc;
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++b->docs > 1)
            return fail_at(b, &ev->start_mark, MB_E_FORMAT,
                           "only one YAML document is allowed (found a second '---')");
        return 0;
    case YAML_ALIAS_EVENT:
        return fail_at(b, &ev->start_mark, MB_E_FORMAT,
                       "anchors and aliases are not allowed (*%.32s)",
                       (const char *)ev->data.alias.anchor);
    case YAML_SCALAR_EVENT: {
        rc = check_props(b, ev, ev->data.scalar.anchor, ev->data.scalar.tag);
        if (rc)
            return rc;
        struct ynode *n = new_node(b, YN_SCALAR, &ev->start_mark);
        if (!n)
            return b->node_rc;
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        n->len = ev->data.scalar.length;
        n->s = mb_arena_strndup(&b->doc->arena, (const char *)ev->data.scalar.value, n->len);
        if (!n->s)
            return mb_fail(b->err, MB_E_NOMEM, "%s: out of memory", b->name);
        if (strlen(n->s) != n->len)
            return fail_at(b, &ev->start_mark, MB_E_FORMAT, "NUL byte in a string");
        return add_child(b, n, &ev->start_mark);
    }
    case YAML_SEQUENCE_START_EVENT:
        rc = check_props(b, ev, ev->data.sequence_start.anchor, ev->data.sequence_start.tag);
        return rc ? rc : open_container(b, YN_SEQ, ev);
    case YAML_MAPPING_START_EVENT:
        rc = check_props(b, ev, ev->data.mapping_start.anchor, ev->data.mapping_start.tag);
        return rc ? rc : open_container(b, YN_MAP, ev);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return close_container(b, ev);
    default:
        return 0;
    }
}

int mb_ydoc_parse(const char *name, const char *text, size_t n, struct ydoc *doc,
                  struct mb_err *err)
{
    memset(doc, 0, sizeof(*doc));
    mb_arena_init(&doc->arena, 64u << 20);
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return mb_fail(err, MB_E_NOMEM, "%s: cannot initialise the YAML parser", name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, n);
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
    struct builder b;
    memset(&b, 0, sizeof(b));
    b.name = name;
    b.doc = doc;
    b.err = err;
    int rc = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            const char *problem = parser.problem ? parser.problem : "syntax error";
            yaml_mark_t m = parser.problem_mark;
            if (parser.error == YAML_MEMORY_ERROR)
                rc = mb_fail(err, MB_E_NOMEM, "%s: out of memory", name);
            else if (parser.context)
                rc = fail_at(&b, &m, MB_E_FORMAT, "invalid YAML: %s %s", problem, parser.context);
            else
                rc = fail_at(&b, &m, MB_E_FORMAT, "invalid YAML: %s", problem);
            break;
        }
        bool end = ev.type == YAML_STREAM_END_EVENT;
        rc = on_event(&b, &ev);
        yaml_event_delete(&ev);
        if (rc || end)
            break;
    }
    for (int i = 0; i < b.depth; i++)
        mb_free(b.stack[i].kids);
    yaml_parser_delete(&parser);
    if (rc)
        mb_ydoc_release(doc);
    return rc;
}

void mb_ydoc_release(struct ydoc *doc)
{
    mb_arena_release(&doc->arena);
    doc->root = NULL;
}

bool mb_ynode_is_null(const struct ynode *n)
{
    return n->type == YN_SCALAR && n->plain &&
           (n->len == 0 || !strcmp(n->s, "~") || !strcmp(n->s, "null") || !strcmp(n->s, "Null") ||
            !strcmp(n->s, "NULL"));
}

bool mb_ynode_bool(const struct ynode *n, bool *out)
{
    if (n->type != YN_SCALAR || !n->plain)
        return false;
    if (!strcmp(n->s, "true") || !strcmp(n->s, "True") || !strcmp(n->s, "TRUE")) {
        *out = true;
        return true;
    }
    if (!strcmp(n->s, "false") || !strcmp(n->s, "False") || !strcmp(n->s, "FALSE")) {
        *out = false;
        return true;
    }
    return false;
}

bool mb_ynode_uint(const struct ynode *n, uint64_t *out)
{
    if (n->type != YN_SCALAR || !n->plain || n->len == 0 || n->len > 19)
        return false;
    if (n->len > 1 && n->s[0] == '0')
        return false;
    return mb_parse_u64(n->s, out);
}

const char *mb_ynode_type_name(const struct ynode *n)
{
    if (n->type == YN_SEQ)
        return "a list";
    if (n->type == YN_MAP)
        return "a mapping";
    if (mb_ynode_is_null(n))
        return "null";
    bool b;
    if (mb_ynode_bool(n, &b))
        return "a boolean";
    return "a string";
}

/* ------------------------------------------------------------ writing */

/* True when `s` can be written as a plain scalar and read back as the same string. */
static bool plain_safe(const char *s, size_t n)
{
    static const char *const reserved[] = { "true", "True", "TRUE", "false", "False", "FALSE",
                                            "null", "Null", "NULL", "yes",   "Yes",   "YES",
                                            "no",   "No",   "NO",   "on",    "On",    "ON",
                                            "off",  "Off",  "OFF",  "y",     "Y",     "n",
                                            "N",    "~",    ".inf", ".nan",  ".Inf",  ".NaN" };
    if (n == 0 || n > 200)
        return false;
    for (size_t i = 0; i < MB_ARRAY_LEN(reserved); i++)
        if (strlen(reserved[i]) == n && !memcmp(reserved[i], s, n))
            return false;
    /* Anything starting like a number could be read as one ("1.0", "0x1f", "1e3"). */
    if ((s[0] >= '0' && s[0] <= '9') || s[0] == '-' || s[0] == '+' || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.' || c == '/';
        if (!ok)
            return false;
    }
    return true;
}

int mb_yaml_put_scalar(struct mb_buf *out, const char *s, size_t n, struct mb_err *err)
{
    if (plain_safe(s, n))
        return mb_buf_append(out, s, n, err);
    int rc = mb_buf_append_cstr(out, "\"", err);
    for (size_t i = 0; i < n && !rc; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"')
            rc = mb_buf_append_cstr(out, "\\\"", err);
        else if (c == '\\')
            rc = mb_buf_append_cstr(out, "\\\\", err);
        else if (c == '\n')
            rc = mb_buf_append_cstr(out, "\\n", err);
        else if (c == '\t')
            rc = mb_buf_append_cstr(out, "\\t", err);
        else if (c < 0x20 || c == 0x7f)
            rc = mb_buf_appendf(out, err, "\\x%02x", c);
        else if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
                 (unsigned char)s[i + 1] <= 0xa0) {
            rc = mb_buf_appendf(out, err, "\\u%04x", (unsigned char)s[i + 1]); /* C1, NBSP */
            i++;
        } else if (c == 0xe2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
                   ((unsigned char)s[i + 2] == 0xa8 || (unsigned char)s[i + 2] == 0xa9)) {
            rc = mb_buf_appendf(out, err, "\\u%04x", 0x2000u + ((unsigned char)s[i + 2] - 0x80u));
            i += 2;
        } else if (c == 0xef && i + 2 < n && (unsigned char)s[i + 1] == 0xbb &&
                   (unsigned char)s[i + 2] == 0xbf) {
            rc = mb_buf_append_cstr(out, "\\ufeff", err);
            i += 2;
        } else
            rc = mb_buf_append(out, s + i, 1, err);
    }
    return rc ? rc : mb_buf_append_cstr(out, "\"", err);
}

static int put_indent(struct mb_buf *out, int indent, struct mb_err *err)
{
    static const char spaces[] = "                                                                ";
    return mb_buf_append(out, spaces, (size_t)MB_MIN(indent, 64), err);
}

/* A plain scalar from the input is re-emitted plain (keeping its YAML type) when safe. */
static bool plain_keep(const struct ynode *n)
{
    if (!n->plain || n->len == 0 || n->len > 200)
        return false;
    for (size_t i = 0; i < n->len; i++) {
        char c = n->s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.' || c == '+' || c == '~';
        if (!ok)
            return false;
    }
    return n->s[0] != '-' || n->len == 1 || (n->s[1] >= '0' && n->s[1] <= '9');
}

int mb_yaml_put_node(struct mb_buf *out, const struct ynode *node, int indent, bool in_seq,
                     struct mb_err *err)
{
    int rc = 0;
    if (node->type == YN_SCALAR) {
        if (plain_keep(node))
            rc = mb_buf_append(out, node->s, node->len, err);
        else
            rc = mb_yaml_put_scalar(out, node->s, node->len, err);
        return rc ? rc : mb_buf_append_cstr(out, "\n", err);
    }
    if (node->n == 0)
        return mb_buf_append_cstr(out, node->type == YN_SEQ ? "[]\n" : "{}\n", err);
    if (!in_seq)
        rc = mb_buf_append_cstr(out, "\n", err);
    if (node->type == YN_SEQ) {
        for (size_t i = 0; i < node->n && !rc; i++) {
            if (i || !in_seq)
                rc = put_indent(out, indent, err);
            if (!rc)
                rc = mb_buf_append_cstr(out, "- ", err);
            if (!rc)
                rc = mb_yaml_put_node(out, node->kids[i], indent + 2, true, err);
        }
        return rc;
    }
    for (size_t i = 0; i + 1 < node->n && !rc; i += 2) {
        if (i || !in_seq)
            rc = put_indent(out, indent, err);
        if (!rc)
            rc = mb_yaml_put_scalar(out, node->kids[i]->s, node->kids[i]->len, err);
        if (!rc)
            rc = mb_buf_append_cstr(out, ":", err);
        const struct ynode *v = node->kids[i + 1];
        if (!rc && (v->type == YN_SCALAR || v->n == 0))
            rc = mb_buf_append_cstr(out, " ", err);
        if (!rc)
            rc = mb_yaml_put_node(out, v, indent + 2, false, err);
    }
    return rc;
}

/* ------------------------------------------------------------ checks */

const char *mb_check_text(const char *s, size_t n, size_t max, bool multiline)
{
    if (n > max)
        return "too long";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n' && multiline)
            continue;
        if (c == '\t' && multiline)
            continue;
        if (c < 0x20 || c == 0x7f)
            return multiline ? "control character" : "control character or line break";
    }
    return NULL;
}

const char *mb_check_url(const char *s)
{
    if (strncmp(s, "https://", 8) && strncmp(s, "http://", 7))
        return "must start with https:// or http://";
    if (strlen(s) > 2048)
        return "too long";
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return "spaces or control characters in a URL";
    return NULL;
}

const char *mb_check_rel_path(const char *s)
{
    size_t n = strlen(s);
    if (n == 0)
        return "empty path";
    if (n > 255)
        return "longer than 255 bytes";
    if (s[0] == '/')
        return "absolute paths are not allowed";
    if (strchr(s, '\\'))
        return "backslashes are not allowed";
    const char *p = s;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0)
            return "empty path component";
        if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return "'.' and '..' components are not allowed";
        p += len;
        if (*p == '/')
            p++;
    }
    for (const char *q = s; *q; q++)
        if ((unsigned char)*q < 0x20 || *q == 0x7f)
            return "control characters are not allowed";
    return NULL;
}
