/*
 * regmeta_names.c - the names and URLs a registry is reached by: registry
 * names (which become cache directory names, so nothing that could escape the
 * cache is allowed), base URLs (https, http or file, no query or fragment),
 * file:// URLs to local paths and back, and `packs` patterns of publishers.
 */
#include "client_int.h"

#include <errno.h>
#include <unistd.h>

int mb_registry_name_check(const char *name, struct mb_err *err)
{
    size_t n = strlen(name);
    if (n == 0)
        return mb_fail(err, MB_E_FORMAT, "empty registry name");
    if (n > MB_REGISTRY_NAME_MAX)
        return mb_fail(err, MB_E_FORMAT, "registry name '%.64s...' is longer than %d bytes", name,
                       MB_REGISTRY_NAME_MAX);
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                  (i > 0 && (ch == '-' || ch == '_'));
        if (!ok)
            return mb_fail(err, MB_E_FORMAT,
                           "'%s' is not a valid registry name (character %zu; use lower-case "
                           "letters, digits, '-' and '_', starting with a letter or digit)",
                           name, i);
    }
    return 0;
}

static bool url_char_ok(unsigned char ch)
{
    return ch > 0x20 && ch < 0x7f && ch != '\\' && ch != '"' && ch != '<' && ch != '>' &&
           ch != '`' && ch != '{' && ch != '}' && ch != '|' && ch != '^';
}

/* Percent-encode a local path for a file:// URL (unreserved characters and '/' kept). */
static int path_to_file_url(const char *path, char **out, struct mb_err *err)
{
    struct mb_buf b;
    mb_buf_init(&b, MB_REGISTRY_URL_MAX + 1);
    int rc = mb_buf_append_cstr(&b, "file://", err);
    for (const unsigned char *p = (const unsigned char *)path; !rc && *p; p++) {
        bool keep = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || strchr("-._~/+@=,", *p);
        if (keep)
            rc = mb_buf_append(&b, p, 1, err);
        else
            rc = mb_buf_appendf(&b, err, "%%%02X", *p);
    }
    if (!rc && (b.n == 0 || b.p[b.n - 1] != '/'))
        rc = mb_buf_append_cstr(&b, "/", err);
    if (rc) {
        mb_buf_release(&b);
        return rc == MB_E_LIMIT ? mb_fail(err, MB_E_FORMAT, "path '%.80s' is too long", path) : rc;
    }
    *out = mb_buf_detach(&b, NULL);
    return 0;
}

int mb_registry_url_normalize(const char *in, char **out, struct mb_err *err)
{
    *out = NULL;
    size_t n = strlen(in);
    if (n == 0)
        return mb_fail(err, MB_E_FORMAT, "empty registry URL");
    if (n > MB_REGISTRY_URL_MAX)
        return mb_fail(err, MB_E_FORMAT, "registry URL '%.80s...' is too long", in);
    if (!strstr(in, "://")) {
        /* A directory path: make it absolute and a file:// URL. */
        char *abs = NULL;
        char *real = realpath(in, NULL); /* canonical when it exists (malloc'ed by libc) */
        if (real) {
            abs = mb_strdup(real);
            free(real);
        } else if (in[0] == '/') {
            abs = mb_strdup(in);
        } else {
            char cwd[4096];
            if (!getcwd(cwd, sizeof(cwd)))
                return mb_fail_errno(err, errno, "cannot get the current directory");
            abs = mb_path_join(cwd, in);
        }
        if (!abs)
            return mb_fail(err, MB_E_NOMEM, "out of memory");
        int rc = path_to_file_url(abs, out, err);
        mb_free(abs);
        return rc;
    }
    const char *rest;
    if (!strncmp(in, "https://", 8))
        rest = in + 8;
    else if (!strncmp(in, "http://", 7))
        rest = in + 7;
    else if (!strncmp(in, "file://", 7))
        rest = in + 7;
    else
        return mb_fail(err, MB_E_FORMAT,
                       "registry URL '%s': only https://, http:// and file:// are supported", in);
    for (const char *p = in; *p; p++) {
        if (!url_char_ok((unsigned char)*p))
            return mb_fail(err, MB_E_FORMAT,
                           "registry URL '%.200s': character %zu is not allowed (spaces, "
                           "quotes and control characters must be percent-encoded)",
                           in, (size_t)(p - in));
        if (*p == '?' || *p == '#')
            return mb_fail(err, MB_E_FORMAT,
                           "registry URL '%.200s': a base URL has no query ('?') or "
                           "fragment ('#')",
                           in);
    }
    if (!strncmp(in, "file://", 7)) {
        if (rest[0] != '/')
            return mb_fail(err, MB_E_FORMAT,
                           "registry URL '%s': a file:// URL needs an absolute path "
                           "(file:///srv/registry/)",
                           in);
    } else if (rest[0] == '/' || rest[0] == '\0') {
        return mb_fail(err, MB_E_FORMAT, "registry URL '%s' has no host", in);
    }
    /* No ".." segments: a base URL must say where it is. */
    for (const char *p = rest; (p = strstr(p, "..")); p += 2)
        if ((p[-1] == '/') && (p[2] == '/' || p[2] == '\0'))
            return mb_fail(err, MB_E_FORMAT, "registry URL '%s' has a '..' segment", in);
    bool slash = in[n - 1] == '/';
    char *s = mb_malloc(n + 2);
    if (!s)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    memcpy(s, in, n);
    if (!slash)
        s[n++] = '/';
    s[n] = '\0';
    *out = s;
    return 0;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

int mb_registry_url_to_path(const char *url, char **out, struct mb_err *err)
{
    *out = NULL;
    if (strncmp(url, "file:///", 8))
        return mb_fail(err, MB_E_FORMAT, "'%s' is not a file:// URL with an absolute path", url);
    const char *p = url + 7;
    char *s = mb_malloc(strlen(p) + 1);
    if (!s)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    size_t k = 0;
    for (; *p; p++) {
        if (*p == '%') {
            int a = hexval(p[1]), b = a >= 0 ? hexval(p[2]) : -1;
            if (a < 0 || b < 0 || (a == 0 && b == 0)) {
                mb_free(s);
                return mb_fail(err, MB_E_FORMAT, "'%s': bad percent-encoding", url);
            }
            s[k++] = (char)(a * 16 + b);
            p += 2;
        } else {
            s[k++] = *p;
        }
    }
    s[k] = '\0';
    *out = s;
    return 0;
}

bool mb_registry_pattern_match(const char *pattern, const char *id)
{
    size_t n = strlen(pattern);
    if (n && pattern[n - 1] == '*')
        return !strncmp(pattern, id, n - 1);
    return !strcmp(pattern, id);
}

/* A `packs` pattern: "*", a pack id, or a pack-id prefix followed by '*'. */
int mb_regmeta_pattern_check(const char *pattern, struct mb_err *err)
{
    size_t n = strlen(pattern);
    if (n == 0 || n > MB_PACK_ID_MAX + 1)
        return mb_fail(err, MB_E_FORMAT, "pattern \"%.80s\": empty or too long", pattern);
    if (!strcmp(pattern, "*"))
        return 0;
    size_t body = pattern[n - 1] == '*' ? n - 1 : n;
    for (size_t i = 0; i < body; i++) {
        char ch = pattern[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
            return mb_fail(err, MB_E_FORMAT,
                           "pattern \"%.80s\": character %zu is not allowed (a pack id, "
                           "optionally ending in '*')",
                           pattern, i);
    }
    if (body == n) {
        struct mb_err e;
        if (mb_pack_id_check(pattern, &e))
            return mb_fail(err, MB_E_FORMAT, "pattern: %s", e.msg);
    }
    return 0;
}

void mb_snapshot_sig_name(unsigned k, char *out, size_t cap)
{
    if (k <= 1)
        snprintf(out, cap, "snapshot.json.minisig");
    else
        snprintf(out, cap, "snapshot.json.%u.minisig", k);
}
