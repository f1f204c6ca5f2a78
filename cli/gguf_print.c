/*
 * gguf_print.c - JSON and one-line text renderings of GGUF metadata values,
 * shared by the `gguf` commands (see gguf_print.h). JSON is exact and
 * complete; text is for people: it escapes control characters and cuts long
 * strings and arrays so every key stays on one line.
 */
#include "gguf_print.h"

#include <inttypes.h>
#include <math.h>

void mb_fmt_f32(float v, char *buf, size_t cap)
{
    if (!buf || !cap) /* also tells GCC's format-truncation check buf is real */
        return;
    if (isnan(v) || isinf(v)) {
        snprintf(buf, cap, "%s", isnan(v) ? "nan" : v < 0 ? "-inf" : "inf");
        return;
    }
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, cap, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v)
            return;
    }
}

void mb_fmt_f64(double v, char *buf, size_t cap)
{
    if (!buf || !cap) /* also tells GCC's format-truncation check buf is real */
        return;
    if (isnan(v) || isinf(v)) {
        snprintf(buf, cap, "%s", isnan(v) ? "nan" : v < 0 ? "-inf" : "inf");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

/*
 * Length of the valid UTF-8 sequence at s[0..n), or 0 if it is not one
 * (overlong forms, surrogates and code points past U+10FFFF are invalid).
 */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* True for bytes JSON takes as they are (printable ASCII but the quote and backslash). */
static inline bool json_plain(unsigned char c)
{
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

void mb_json_str(FILE *f, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (json_plain(c)) {
            /* Write runs of plain bytes at once: vocabularies are mostly ASCII. */
            size_t j = i + 1;
            while (j < n && json_plain(p[j]))
                j++;
            fwrite(p + i, 1, j - i, f);
            i = j;
        } else if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
            i++;
        } else if (c == '\n') {
            fputs("\\n", f);
            i++;
        } else if (c == '\t') {
            fputs("\\t", f);
            i++;
        } else if (c == '\r') {
            fputs("\\r", f);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(f, "\\u%04x", c);
            i++;
        } else {
            size_t len = utf8_len(p + i, n - i);
            if (len == 0) {
                fputs("\\ufffd", f);
                i++;
            } else {
                fwrite(p + i, 1, len, f);
                i += len;
            }
        }
    }
    fputc('"', f);
}

void mb_json_f32(FILE *f, float v)
{
    char buf[48];
    mb_fmt_f32(v, buf, sizeof(buf));
    if (isnan(v) || isinf(v))
        fprintf(f, "\"%s\"", buf);
    else
        fputs(buf, f);
}

void mb_json_f64(FILE *f, double v)
{
    char buf[48];
    mb_fmt_f64(v, buf, sizeof(buf));
    if (isnan(v) || isinf(v))
        fprintf(f, "\"%s\"", buf);
    else
        fputs(buf, f);
}

static bool is_unsigned(uint32_t t)
{
    return t == MB_GGUF_TYPE_UINT8 || t == MB_GGUF_TYPE_UINT16 || t == MB_GGUF_TYPE_UINT32 ||
           t == MB_GGUF_TYPE_UINT64;
}

/* Element i of a fixed-size array as a scalar value. */
static void json_elem(FILE *f, const struct mb_gguf_array *a, size_t i)
{
    switch (a->type) {
    case MB_GGUF_TYPE_FLOAT32:
        mb_json_f32(f, mb_gguf_array_f32(a, i));
        return;
    case MB_GGUF_TYPE_FLOAT64: {
        double d = 0;
        mb_gguf_array_f64(a, i, &d);
        mb_json_f64(f, d);
        return;
    }
    case MB_GGUF_TYPE_BOOL:
        fputs(a->data[i] ? "true" : "false", f);
        return;
    default:
        break;
    }
    if (is_unsigned(a->type)) {
        uint64_t u = 0;
        mb_gguf_array_u64(a, i, &u);
        fprintf(f, "%" PRIu64, u);
    } else {
        int64_t v = 0;
        mb_gguf_array_i64(a, i, &v);
        fprintf(f, "%" PRId64, v);
    }
}

void mb_json_gguf_array(FILE *f, const struct mb_gguf_array *a)
{
    fputc('[', f);
    for (size_t i = 0; i < a->n; i++) {
        if (i)
            fputs(", ", f);
        if (a->type == MB_GGUF_TYPE_STRING) {
            struct mb_str s = mb_gguf_array_str(a, i);
            mb_json_str(f, s.p, s.n);
        } else if (a->type == MB_GGUF_TYPE_ARRAY) {
            const struct mb_gguf_array *sub = mb_gguf_array_sub(a, i);
            fprintf(f, "{\"element_type\": \"%s\", \"count\": %zu, \"value\": ",
                    mb_gguf_type_name(sub->type), sub->n);
            mb_json_gguf_array(f, sub);
            fputc('}', f);
        } else {
            json_elem(f, a, i);
        }
    }
    fputc(']', f);
}

void mb_json_gguf_value(FILE *f, const struct mb_gguf_value *v)
{
    switch (v->type) {
    case MB_GGUF_TYPE_FLOAT32:
        mb_json_f32(f, v->v.f32);
        break;
    case MB_GGUF_TYPE_FLOAT64:
        mb_json_f64(f, v->v.f64);
        break;
    case MB_GGUF_TYPE_BOOL:
        fputs(v->v.b ? "true" : "false", f);
        break;
    case MB_GGUF_TYPE_STRING:
        mb_json_str(f, v->v.s.p, v->v.s.n);
        break;
    case MB_GGUF_TYPE_ARRAY:
        mb_json_gguf_array(f, &v->v.arr);
        break;
    default:
        if (is_unsigned(v->type))
            fprintf(f, "%" PRIu64, v->v.u64);
        else
            fprintf(f, "%" PRId64, v->v.i64);
        break;
    }
}

/* ------------------------------------------------------------- text */

/*
 * Append a quoted, escaped string to buf (at most `max` bytes of the string,
 * cut at a character boundary, with "…" when cut). Returns the new length.
 */
static size_t text_str(char *buf, size_t len, size_t cap, const char *s, size_t n, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    if (len + 1 < cap)
        buf[len++] = '"';
    size_t i = 0, shown = 0;
    while (i < n && len + 8 < cap) {
        if (shown >= max) {
            len += (size_t)snprintf(buf + len, cap - len, "\xe2\x80\xa6"); /* … */
            break;
        }
        unsigned char c = p[i];
        size_t ulen = c >= 0x80 ? utf8_len(p + i, n - i) : 1;
        if (c == '"' || c == '\\') {
            buf[len++] = '\\';
            buf[len++] = (char)c;
            i++;
        } else if (c == '\n' || c == '\t' || c == '\r') {
            buf[len++] = '\\';
            buf[len++] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
            i++;
        } else if (c < 0x20 || c == 0x7f || ulen == 0) {
            len += (size_t)snprintf(buf + len, cap - len, "\\x%02x", c);
            i++;
        } else {
            memcpy(buf + len, p + i, ulen);
            len += ulen;
            i += ulen;
        }
        shown++;
    }
    if (len + 1 < cap)
        buf[len++] = '"';
    buf[len < cap ? len : cap - 1] = '\0';
    return len;
}

/* One element of an array as text into buf[len..cap). */
static size_t text_elem(char *buf, size_t len, size_t cap, const struct mb_gguf_array *a, size_t i)
{
    char num[48];
    if (a->type == MB_GGUF_TYPE_STRING) {
        struct mb_str s = mb_gguf_array_str(a, i);
        return text_str(buf, len, cap, s.p, s.n, 24);
    }
    if (a->type == MB_GGUF_TYPE_ARRAY) {
        const struct mb_gguf_array *sub = mb_gguf_array_sub(a, i);
        snprintf(num, sizeof(num), "[%zu \xc3\x97 %s]", sub->n, mb_gguf_type_name(sub->type));
    } else if (a->type == MB_GGUF_TYPE_FLOAT32) {
        mb_fmt_f32(mb_gguf_array_f32(a, i), num, sizeof(num));
    } else if (a->type == MB_GGUF_TYPE_FLOAT64) {
        double d = 0;
        mb_gguf_array_f64(a, i, &d);
        mb_fmt_f64(d, num, sizeof(num));
    } else if (a->type == MB_GGUF_TYPE_BOOL) {
        snprintf(num, sizeof(num), "%s", a->data[i] ? "true" : "false");
    } else if (is_unsigned(a->type)) {
        uint64_t u = 0;
        mb_gguf_array_u64(a, i, &u);
        snprintf(num, sizeof(num), "%" PRIu64, u);
    } else {
        int64_t v = 0;
        mb_gguf_array_i64(a, i, &v);
        snprintf(num, sizeof(num), "%" PRId64, v);
    }
    len += (size_t)snprintf(buf + len, cap - len, "%s", num);
    return len < cap ? len : cap - 1;
}

void mb_text_gguf_value(FILE *f, const struct mb_gguf_value *v, size_t width)
{
    char buf[1024];
    char num[48];
    if (width > 600)
        width = 600;
    switch (v->type) {
    case MB_GGUF_TYPE_STRING: {
        text_str(buf, 0, sizeof(buf), v->v.s.p, v->v.s.n, width > 20 ? width - 20 : 8);
        fputs(buf, f);
        if (v->v.s.n > (width > 20 ? width - 20 : 8))
            fprintf(f, " (%zu bytes)", v->v.s.n);
        return;
    }
    case MB_GGUF_TYPE_ARRAY: {
        const struct mb_gguf_array *a = &v->v.arr;
        size_t len = (size_t)snprintf(buf, sizeof(buf), "[%zu \xc3\x97 %s]", a->n,
                                      mb_gguf_type_name(a->type));
        size_t start = len;
        for (size_t i = 0; i < a->n; i++) {
            char el[256];
            size_t elen = text_elem(el, 0, sizeof(el), a, i);
            /* Keep room for ", ..." and stop at the width. */
            if (len + elen + 2 > start + width || len + elen + 8 >= sizeof(buf)) {
                len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s...", i ? ", " : " ");
                break;
            }
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", i ? ", " : " ", el);
        }
        fputs(buf, f);
        return;
    }
    case MB_GGUF_TYPE_FLOAT32:
        mb_fmt_f32(v->v.f32, num, sizeof(num));
        fputs(num, f);
        return;
    case MB_GGUF_TYPE_FLOAT64:
        mb_fmt_f64(v->v.f64, num, sizeof(num));
        fputs(num, f);
        return;
    case MB_GGUF_TYPE_BOOL:
        fputs(v->v.b ? "true" : "false", f);
        return;
    default:
        if (is_unsigned(v->type))
            fprintf(f, "%" PRIu64, v->v.u64);
        else
            fprintf(f, "%" PRId64, v->v.i64);
        return;
    }
}
