/*
 * semver.c - SemVer 2.0.0 versions: strict parsing (the grammar of semver.org
 * with node-semver's limits), precedence comparison and formatting. Ranges
 * live in range.c and reuse the helpers declared in semver_int.h.
 */
#include "mb_semver.h"
#include "semver_int.h"

#include <ctype.h>

/* Parse a numeric component: "0" or [1-9][0-9]*, at most MB_SEMVER_MAX_NUM. */
size_t mb_semver_scan_num(const char *p, size_t n, uint64_t *out, const char **why)
{
    if (n == 0 || !isdigit((unsigned char)p[0])) {
        *why = "expected a number";
        return 0;
    }
    size_t i = 0;
    uint64_t v = 0;
    while (i < n && isdigit((unsigned char)p[i])) {
        v = v * 10 + (uint64_t)(p[i] - '0');
        if (v > MB_SEMVER_MAX_NUM) {
            *why = "number too large (the limit is 2^53-1)";
            return 0;
        }
        i++;
    }
    if (i > 1 && p[0] == '0') {
        *why = "numbers must not have leading zeros";
        return 0;
    }
    *out = v;
    return i;
}

static bool ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '-';
}

/*
 * Scan dot-separated identifiers ([0-9A-Za-z-]+); for prerelease identifiers
 * (`pre`), numeric ones must not have leading zeros. Returns the length
 * consumed (0 with *why set on error).
 */
size_t mb_semver_scan_idents(const char *p, size_t n, bool pre, const char **why)
{
    size_t i = 0;
    for (;;) {
        size_t start = i;
        bool numeric = true;
        while (i < n && ident_char(p[i])) {
            if (!isdigit((unsigned char)p[i]))
                numeric = false;
            i++;
        }
        if (i == start) {
            *why = pre ? "empty prerelease identifier" : "empty build identifier";
            return 0;
        }
        if (pre && numeric && i - start > 1 && p[start] == '0') {
            *why = "numeric prerelease identifiers must not have leading zeros";
            return 0;
        }
        if (i < n && p[i] == '.') {
            i++;
            continue;
        }
        return i;
    }
}

size_t mb_semver_scan(const char *p, size_t n, struct mb_semver *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    size_t i = 0, k;
    uint64_t *parts[3] = { &out->major, &out->minor, &out->patch };
    for (int j = 0; j < 3; j++) {
        if (j > 0) {
            if (i >= n || p[i] != '.') {
                *why = j == 1 ? "expected '.' after the major version"
                              : "expected '.' after the minor version";
                return 0;
            }
            i++;
        }
        k = mb_semver_scan_num(p + i, n - i, parts[j], why);
        if (!k)
            return 0;
        i += k;
    }
    if (i < n && p[i] == '-') {
        i++;
        k = mb_semver_scan_idents(p + i, n - i, true, why);
        if (!k)
            return 0;
        out->pre.p = p + i;
        out->pre.n = k;
        i += k;
    }
    if (i < n && p[i] == '+') {
        i++;
        k = mb_semver_scan_idents(p + i, n - i, false, why);
        if (!k)
            return 0;
        out->build.p = p + i;
        out->build.n = k;
        i += k;
    }
    return i;
}

/* Quote at most 64 bytes of untrusted text for a message, replacing control bytes. */
const char *mb_semver_quote(const char *p, size_t n, char *buf, size_t cap)
{
    size_t o = 0;
    size_t lim = n > 64 ? 64 : n;
    for (size_t i = 0; i < lim && o + 5 < cap; i++) {
        unsigned char c = (unsigned char)p[i];
        buf[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (n > lim && o + 4 < cap) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

int mb_semver_parse(struct mb_str s, struct mb_semver *out, struct mb_err *err)
{
    char q[80];
    if (s.n > MB_SEMVER_MAX_LEN)
        return mb_fail(err, MB_E_FORMAT, "\"%s\" is not a valid version (longer than %d bytes)",
                       mb_semver_quote(s.p, s.n, q, sizeof(q)), MB_SEMVER_MAX_LEN);
    const char *why = NULL;
    size_t k = mb_semver_scan(s.p, s.n, out, &why);
    if (k && k != s.n)
        why = "unexpected characters after the version";
    if (!k || k != s.n)
        return mb_fail(err, MB_E_FORMAT,
                       "\"%s\" is not a valid version (%s; expected MAJOR.MINOR.PATCH as in "
                       "SemVer 2.0.0)",
                       mb_semver_quote(s.p, s.n, q, sizeof(q)), why);
    return 0;
}

int mb_semver_parse_cstr(const char *s, struct mb_semver *out, struct mb_err *err)
{
    return mb_semver_parse(mb_str_from(s), out, err);
}

int mb_semver_parse_loose(const char *s, struct mb_semver *out, struct mb_err *err)
{
    struct mb_str v = mb_str_from(s);
    while (v.n && isspace((unsigned char)v.p[0])) {
        v.p++;
        v.n--;
    }
    while (v.n && isspace((unsigned char)v.p[v.n - 1]))
        v.n--;
    if (v.n && v.p[0] == 'v') {
        v.p++;
        v.n--;
    }
    return mb_semver_parse(v, out, err);
}

/* Compare one prerelease identifier: numeric < alphanumeric; numbers by value. */
static int cmp_ident(const char *a, size_t an, const char *b, size_t bn)
{
    bool anum = true, bnum = true;
    for (size_t i = 0; i < an; i++)
        anum &= isdigit((unsigned char)a[i]) != 0;
    for (size_t i = 0; i < bn; i++)
        bnum &= isdigit((unsigned char)b[i]) != 0;
    if (anum && bnum) {
        /* No leading zeros, so a longer number is a larger one. */
        if (an != bn)
            return an < bn ? -1 : 1;
        int c = memcmp(a, b, an);
        return c < 0 ? -1 : c > 0;
    }
    if (anum != bnum)
        return anum ? -1 : 1;
    int c = memcmp(a, b, MB_MIN(an, bn));
    if (c)
        return c < 0 ? -1 : 1;
    return an == bn ? 0 : an < bn ? -1 : 1;
}

int mb_semver_cmp_pre(struct mb_str a, struct mb_str b)
{
    if (a.n == 0 || b.n == 0)
        return a.n == b.n ? 0 : a.n == 0 ? 1 : -1; /* a release is above its prereleases */
    size_t i = 0, j = 0;
    for (;;) {
        size_t is = i, js = j;
        while (i < a.n && a.p[i] != '.')
            i++;
        while (j < b.n && b.p[j] != '.')
            j++;
        int c = cmp_ident(a.p + is, i - is, b.p + js, j - js);
        if (c)
            return c;
        bool aend = i >= a.n, bend = j >= b.n;
        if (aend || bend)
            return aend && bend ? 0 : aend ? -1 : 1;
        i++;
        j++;
    }
}

int mb_semver_cmp(const struct mb_semver *a, const struct mb_semver *b)
{
    if (a->major != b->major)
        return a->major < b->major ? -1 : 1;
    if (a->minor != b->minor)
        return a->minor < b->minor ? -1 : 1;
    if (a->patch != b->patch)
        return a->patch < b->patch ? -1 : 1;
    return mb_semver_cmp_pre(a->pre, b->pre);
}

int mb_semver_cmp_build(const struct mb_semver *a, const struct mb_semver *b)
{
    int c = mb_semver_cmp(a, b);
    if (c)
        return c;
    c = memcmp(a->build.p ? a->build.p : "", b->build.p ? b->build.p : "",
               MB_MIN(a->build.n, b->build.n));
    if (c)
        return c < 0 ? -1 : 1;
    return a->build.n == b->build.n ? 0 : a->build.n < b->build.n ? -1 : 1;
}

const char *mb_semver_format(const struct mb_semver *v, bool with_build, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%llu.%llu.%llu", (unsigned long long)v->major,
                     (unsigned long long)v->minor, (unsigned long long)v->patch);
    size_t o = n > 0 ? (size_t)n : 0;
    if (o < cap && v->pre.n)
        o += (size_t)snprintf(buf + o, cap - o, "-%.*s", (int)v->pre.n, v->pre.p);
    if (o < cap && with_build && v->build.n)
        snprintf(buf + o, cap - o, "+%.*s", (int)v->build.n, v->build.p);
    return buf;
}
