/*
 * archive_manifest.c - the parts of the .mbpack format that are plain text
 * and names: member path rules (shared by the writer and the readers, so we
 * never write what we would refuse to read), and MANIFEST.sha256 parsing and
 * formatting. See mb_archive.h and docs/pack-format.md.
 */
#include "mb_archive.h"

void mb_archive_info_init(struct mb_archive_info *info)
{
    memset(info, 0, sizeof(*info));
}

void mb_archive_info_release(struct mb_archive_info *info)
{
    for (size_t i = 0; i < info->n_entries; i++)
        mb_free(info->entries[i].path);
    mb_free(info->entries);
    mb_archive_info_init(info);
}

void mb_archive_limits_default(struct mb_archive_limits *lim)
{
    lim->max_name_len = 255;
    lim->max_members = 10000;
    lim->max_manifest = (size_t)1 << 20;
    lim->max_total = UINT64_C(1) << 40;
}

static bool name_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == '+' || c == '@' || c == '=' || c == ',' || c == '/';
}

/*
 * The name printed in messages: the name itself when it is short and
 * printable, else a sanitised prefix (hostile names may hold escapes).
 */
static void display_name(const char *name, char *out, size_t cap)
{
    size_t j = 0;
    for (size_t i = 0; name[i] && j + 4 < cap; i++) {
        unsigned char c = (unsigned char)name[i];
        out[j++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (name[j] && j + 4 >= cap) {
        out[j++] = '.';
        out[j++] = '.';
        out[j++] = '.';
    }
    out[j] = '\0';
}

int mb_archive_check_name(const char *name, size_t max_len, struct mb_err *err)
{
    char shown[96];
    display_name(name, shown, sizeof(shown));
    size_t len = strlen(name);
    if (len == 0)
        return mb_fail(err, MB_E_FORMAT, "member with an empty name");
    if (len > max_len)
        return mb_fail(err, MB_E_FORMAT, "member '%s': name is %zu bytes, over the limit of %zu",
                       shown, len, max_len);
    if (name[0] == '/')
        return mb_fail(err, MB_E_FORMAT, "member '%s': absolute paths are not allowed", shown);
    /* Check components: no empty, "." or ".." ones. */
    const char *p = name;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0)
            return mb_fail(err, MB_E_FORMAT, "member '%s': empty path component", shown);
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return mb_fail(err, MB_E_FORMAT,
                           "member '%s': '.' and '..' path components are not allowed", shown);
        if (!slash)
            break;
        p = slash + 1;
    }
    for (size_t i = 0; i < len; i++)
        if (!name_char_ok((unsigned char)name[i]))
            return mb_fail(err, MB_E_FORMAT,
                           "member '%s': character 0x%02x is not allowed in pack paths", shown,
                           (unsigned char)name[i]);
    return 0;
}

/* Parse a decimal without sign or leading zeros. */
static bool parse_size(struct mb_str s, uint64_t *out)
{
    if (s.n == 0 || s.n > 20 || (s.n > 1 && s.p[0] == '0'))
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return false;
        if (!mb_mul_u64_ok(v, 10, &v) || !mb_add_u64_ok(v, (uint64_t)(s.p[i] - '0'), &v))
            return false;
    }
    *out = v;
    return true;
}

static bool lower_hex(struct mb_str s)
{
    for (size_t i = 0; i < s.n; i++)
        if (!((s.p[i] >= '0' && s.p[i] <= '9') || (s.p[i] >= 'a' && s.p[i] <= 'f')))
            return false;
    return true;
}

int mb_archive_manifest_parse(const char *text, size_t n, const struct mb_archive_limits *lim,
                              struct mb_archive_info *info, struct mb_err *err)
{
    struct mb_archive_limits defaults;
    if (!lim) {
        mb_archive_limits_default(&defaults);
        lim = &defaults;
    }
    const char *M = MB_ARCHIVE_MANIFEST;
    if (n == 0)
        return mb_fail(err, MB_E_FORMAT, "%s: empty (a pack lists at least one file)", M);
    if (text[n - 1] != '\n')
        return mb_fail(err, MB_E_FORMAT, "%s: the last line does not end with a newline", M);
    size_t lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += text[i] == '\n';
    if (lines > lim->max_members)
        return mb_fail(err, MB_E_LIMIT, "%s: %zu entries, over the limit of %zu", M, lines,
                       lim->max_members);
    struct mb_archive_entry *e = mb_calloc(lines, sizeof(*e));
    if (!e)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    info->entries = e;
    info->n_entries = 0;
    info->total_size = 0;
    char path[4096];
    size_t pos = 0;
    for (size_t ln = 1; pos < n; ln++) {
        const char *s = text + pos;
        const char *nl = memchr(s, '\n', n - pos);
        size_t len = (size_t)(nl - s);
        pos += len + 1;
        /* "<64 hex>  <size>  <path>" */
        if (len < 64 + 2 + 1 + 2 + 1 || s[64] != ' ' || s[65] != ' ')
            return mb_fail(err, MB_E_FORMAT, "%s: line %zu: expected '<sha256>  <size>  <path>'", M,
                           ln);
        struct mb_str hex = { s, 64 };
        if (!lower_hex(hex))
            return mb_fail(err, MB_E_FORMAT,
                           "%s: line %zu: the sha256 is not 64 lower-case hex "
                           "digits",
                           M, ln);
        const char *sz = s + 66;
        const char *sep = NULL;
        for (const char *q = sz; q + 1 < s + len; q++)
            if (q[0] == ' ' && q[1] == ' ') {
                sep = q;
                break;
            }
        if (!sep)
            return mb_fail(err, MB_E_FORMAT, "%s: line %zu: expected two spaces before the path", M,
                           ln);
        struct mb_str size_s = { sz, (size_t)(sep - sz) };
        uint64_t size;
        if (!parse_size(size_s, &size))
            return mb_fail(err, MB_E_FORMAT, "%s: line %zu: bad size '%.*s'", M, ln,
                           (int)MB_MIN(size_s.n, 24), size_s.p);
        size_t plen = (size_t)(s + len - (sep + 2));
        if (plen >= sizeof(path))
            return mb_fail(err, MB_E_FORMAT, "%s: line %zu: path too long", M, ln);
        memcpy(path, sep + 2, plen);
        path[plen] = '\0';
        if (memchr(path, '\0', plen))
            return mb_fail(err, MB_E_FORMAT, "%s: line %zu: NUL byte in the path", M, ln);
        int rc = mb_archive_check_name(path, lim->max_name_len, err);
        if (rc)
            return mb_err_prefix(err, "%s: line %zu", M, ln);
        if (!strcmp(path, MB_ARCHIVE_MANIFEST))
            return mb_fail(err, MB_E_FORMAT, "%s: line %zu: lists itself", M, ln);
        if (info->n_entries > 0) {
            int c = strcmp(info->entries[info->n_entries - 1].path, path);
            if (c == 0)
                return mb_fail(err, MB_E_FORMAT, "%s: line %zu: '%s' is listed twice", M, ln, path);
            if (c > 0)
                return mb_fail(err, MB_E_FORMAT,
                               "%s: line %zu: '%s' is out of order (paths must be sorted)", M, ln,
                               path);
        }
        if (!mb_add_u64_ok(info->total_size, size, &info->total_size) ||
            info->total_size > lim->max_total)
            return mb_fail(err, MB_E_LIMIT,
                           "%s: line %zu: the declared total size exceeds the limit of %llu "
                           "bytes",
                           M, ln, (unsigned long long)lim->max_total);
        struct mb_archive_entry *ent = &e[info->n_entries];
        ent->path = mb_strdup(path);
        if (!ent->path)
            return mb_fail(err, MB_E_NOMEM, "out of memory");
        for (size_t i = 0; i < MB_SHA256_LEN; i++) {
            unsigned hi =
                (unsigned)(hex.p[2 * i] <= '9' ? hex.p[2 * i] - '0' : hex.p[2 * i] - 'a' + 10);
            unsigned lo = (unsigned)(hex.p[2 * i + 1] <= '9' ? hex.p[2 * i + 1] - '0'
                                                             : hex.p[2 * i + 1] - 'a' + 10);
            ent->sha256[i] = (uint8_t)(hi << 4 | lo);
        }
        ent->size = size;
        info->n_entries++;
    }
    /* A file and a directory of the same name cannot both exist. */
    for (size_t i = 0; i + 1 < info->n_entries; i++) {
        size_t l = strlen(e[i].path);
        for (size_t j = i + 1; j < info->n_entries && !strncmp(e[j].path, e[i].path, l); j++)
            if (e[j].path[l] == '/')
                return mb_fail(err, MB_E_FORMAT,
                               "%s: '%s' is listed both as a file and as a directory", M,
                               e[i].path);
    }
    return 0;
}

int mb_archive_manifest_format(const struct mb_archive_entry *e, size_t n, struct mb_buf *out,
                               struct mb_err *err)
{
    for (size_t i = 0; i < n; i++) {
        char hex[MB_SHA256_HEX];
        mb_hex_encode(e[i].sha256, MB_SHA256_LEN, hex);
        int rc = mb_buf_appendf(out, err, "%s  %llu  %s\n", hex, (unsigned long long)e[i].size,
                                e[i].path);
        if (rc)
            return rc;
    }
    return 0;
}
