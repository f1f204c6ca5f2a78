/*
 * pack_status.c - the two small text files through which a running model
 * tells `modularbase status` what its pack cache holds (HOME/run/status) and
 * when each pack was last used (HOME/usage); see mb_pack_cache.h. Both are
 * written atomically (write a temp file, rename) so a reader never sees half
 * a file, and both are parsed as hostile input: capped size, every field
 * checked, errors naming the file and line.
 */
#include "mb_pack_cache.h"

#include <string.h>
#include <unistd.h>

#define MAX_FIELDS 12
#define MAX_USAGE  MB_PACK_CACHE_MAX_PACKS

/* Split a line (modified in place) at spaces into at most MAX_FIELDS fields; returns the count. */
static size_t split(char *line, char **f)
{
    size_t n = 0;
    char *p = line;
    while (*p) {
        while (*p == ' ')
            *p++ = '\0';
        if (!*p)
            break;
        if (n == MAX_FIELDS)
            return MAX_FIELDS + 1;
        f[n++] = p;
        while (*p && *p != ' ')
            p++;
    }
    return n;
}

static const char *state_word(enum mb_pack_state s)
{
    switch (s) {
    case MB_PACK_ON_DISK:
        return "on-disk";
    case MB_PACK_LOADING:
        return "loading";
    case MB_PACK_LOADED:
        return "loaded";
    case MB_PACK_RESIDENT:
        return "resident";
    }
    return "on-disk";
}

static bool parse_state(const char *w, enum mb_pack_state *s)
{
    static const enum mb_pack_state all[] = { MB_PACK_ON_DISK, MB_PACK_LOADING, MB_PACK_LOADED,
                                              MB_PACK_RESIDENT };
    for (size_t i = 0; i < MB_ARRAY_LEN(all); i++)
        if (!strcmp(w, state_word(all[i]))) {
            *s = all[i];
            return true;
        }
    return false;
}

static bool parse_i64_nonneg(const char *s, int64_t *out)
{
    return mb_parse_i64(s, out) && *out >= 0;
}

/* HOME/<a>/<b> or HOME/<a> (b NULL); NULL on allocation failure. */
static char *home_path(const char *home, const char *a, const char *b)
{
    char *p = mb_path_join(home, a);
    if (!p || !b)
        return p;
    char *q = mb_path_join(p, b);
    mb_free(p);
    return q;
}

int mb_pack_cache_status_write(struct mb_pack_cache *c, const char *home, struct mb_err *err)
{
    struct mb_pack_cache_stat *v = NULL;
    size_t n = 0;
    struct mb_pack_cache_totals t;
    int rc = mb_pack_cache_stats(c, &v, &n, &t, err);
    if (rc)
        return rc;
    char *dir = home_path(home, "run", NULL);
    char *path = home_path(home, "run", "status");
    struct mb_buf b;
    mb_buf_init(&b, MB_PACK_STATUS_MAX_BYTES);
    if (!dir || !path) {
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        goto out;
    }
    rc = mb_buf_appendf(&b, err,
                        "modularbase-status 1\npid %ld\nupdated %lld\nbudget %llu\nreserved "
                        "%llu\nused %llu\npreloads_skipped %llu\n",
                        (long)getpid(), (long long)mb_unix_time(), (unsigned long long)t.budget,
                        (unsigned long long)t.reserved, (unsigned long long)t.used,
                        (unsigned long long)t.preloads_skipped);
    for (size_t i = 0; i < n && !rc; i++) {
        const struct mb_pack_cache_stat *s = &v[i];
        rc = mb_buf_appendf(&b, err, "pack %s %s %d %llu %lld %llu %llu %llu %llu %llu\n", s->id,
                            state_word(s->state), s->resident ? 1 : 0, (unsigned long long)s->bytes,
                            (long long)s->last_used, (unsigned long long)s->hits,
                            (unsigned long long)s->misses, (unsigned long long)s->loads,
                            (unsigned long long)s->evictions, (unsigned long long)s->preloads);
    }
    if (rc)
        goto out;
    rc = mb_mkdir_p(dir, 0755, err);
    if (!rc)
        rc = mb_file_write_atomic(path, b.p, b.n, 0644, err);
out:
    mb_buf_release(&b);
    mb_free(dir);
    mb_free(path);
    mb_free(v);
    return rc;
}

void mb_pack_status_release(struct mb_pack_status *s)
{
    mb_free(s->packs);
    memset(s, 0, sizeof(*s));
}

/* The header fields of the status file, in order. */
static const char *const status_keys[] = { "pid",      "updated", "budget",
                                           "reserved", "used",    "preloads_skipped" };

int mb_pack_status_read(const char *home, struct mb_pack_status *out, struct mb_err *err)
{
    memset(out, 0, sizeof(*out));
    char *path = home_path(home, "run", "status");
    if (!path)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    struct mb_buf b;
    mb_buf_init(&b, MB_PACK_STATUS_MAX_BYTES);
    int rc = 0;
    if (!mb_path_exists(path)) {
        rc = mb_fail(err, MB_E_NOTFOUND, "%s: no running model has written a status", path);
        goto out;
    }
    rc = mb_file_read_all(path, MB_PACK_STATUS_MAX_BYTES, &b, err);
    if (rc)
        goto out;
    if (memchr(b.p, '\0', b.n)) {
        rc = mb_fail(err, MB_E_FORMAT, "%s: holds a NUL byte", path);
        goto out;
    }
    size_t cap = 0;
    char *line = b.p;
    for (size_t lineno = 1; line && *line; lineno++) {
        char *nl = strchr(line, '\n');
        if (!nl) {
            rc = mb_fail(err, MB_E_FORMAT, "%s:%zu: the last line has no newline", path, lineno);
            goto out;
        }
        *nl = '\0';
        char *f[MAX_FIELDS];
        size_t nf = split(line, f);
        line = nl + 1;
        if (lineno == 1) {
            if (nf != 2 || strcmp(f[0], "modularbase-status") || strcmp(f[1], "1")) {
                rc = mb_fail(err, MB_E_FORMAT, "%s:1: not a modularbase-status 1 file", path);
                goto out;
            }
            continue;
        }
        if (lineno - 2 < MB_ARRAY_LEN(status_keys)) {
            const char *key = status_keys[lineno - 2];
            uint64_t u = 0;
            int64_t i = 0;
            bool ok = nf == 2 && !strcmp(f[0], key);
            if (ok && lineno <= 3)
                ok = parse_i64_nonneg(f[1], &i);
            else if (ok)
                ok = mb_parse_u64(f[1], &u);
            if (!ok) {
                rc = mb_fail(err, MB_E_FORMAT, "%s:%zu: expected '%s <number>'", path, lineno, key);
                goto out;
            }
            switch (lineno) {
            case 2:
                out->pid = i;
                break;
            case 3:
                out->updated = i;
                break;
            case 4:
                out->totals.budget = u;
                break;
            case 5:
                out->totals.reserved = u;
                break;
            case 6:
                out->totals.used = u;
                break;
            default:
                out->totals.preloads_skipped = u;
                break;
            }
            continue;
        }
        struct mb_pack_cache_stat s;
        memset(&s, 0, sizeof(s));
        int64_t lu = 0;
        bool ok = nf == 11 && !strcmp(f[0], "pack") && strlen(f[1]) < sizeof(s.id) &&
                  parse_state(f[2], &s.state) && (!strcmp(f[3], "0") || !strcmp(f[3], "1")) &&
                  mb_parse_u64(f[4], &s.bytes) && parse_i64_nonneg(f[5], &lu) &&
                  mb_parse_u64(f[6], &s.hits) && mb_parse_u64(f[7], &s.misses) &&
                  mb_parse_u64(f[8], &s.loads) && mb_parse_u64(f[9], &s.evictions) &&
                  mb_parse_u64(f[10], &s.preloads);
        if (!ok) {
            rc = mb_fail(err, MB_E_FORMAT,
                         "%s:%zu: expected 'pack ID STATE RESIDENT BYTES LAST_USED HITS MISSES "
                         "LOADS EVICTIONS PRELOADS'",
                         path, lineno);
            goto out;
        }
        mb_strlcpy(s.id, f[1], sizeof(s.id));
        s.resident = f[3][0] == '1';
        s.last_used = lu;
        if (out->n == cap) {
            if (cap >= MB_PACK_CACHE_MAX_PACKS) {
                rc = mb_fail(err, MB_E_LIMIT, "%s: more than %d packs", path,
                             MB_PACK_CACHE_MAX_PACKS);
                goto out;
            }
            size_t ncap = cap ? cap * 2 : 16;
            struct mb_pack_cache_stat *nv = mb_reallocarray(out->packs, ncap, sizeof(*nv));
            if (!nv) {
                rc = mb_fail(err, MB_E_NOMEM, "out of memory");
                goto out;
            }
            out->packs = nv;
            cap = ncap;
        }
        out->packs[out->n++] = s;
    }
    if (!out->pid) {
        rc = mb_fail(err, MB_E_FORMAT, "%s: the header is incomplete", path);
        goto out;
    }
    out->totals.npacks = out->n;
out:
    if (rc)
        mb_pack_status_release(out);
    mb_buf_release(&b);
    mb_free(path);
    return rc;
}

int mb_pack_usage_load(const char *home, struct mb_pack_usage **out, size_t *n, struct mb_err *err)
{
    *out = NULL;
    *n = 0;
    char *path = home_path(home, "usage", NULL);
    if (!path)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    struct mb_buf b;
    mb_buf_init(&b, MB_PACK_STATUS_MAX_BYTES);
    struct mb_pack_usage *v = NULL;
    size_t nv = 0, cap = 0;
    int rc = 0;
    if (!mb_path_exists(path))
        goto out;
    rc = mb_file_read_all(path, MB_PACK_STATUS_MAX_BYTES, &b, err);
    if (rc)
        goto out;
    if (memchr(b.p, '\0', b.n)) {
        rc = mb_fail(err, MB_E_FORMAT, "%s: holds a NUL byte", path);
        goto out;
    }
    char *line = b.p;
    for (size_t lineno = 1; line && *line; lineno++) {
        char *nl = strchr(line, '\n');
        if (!nl) {
            rc = mb_fail(err, MB_E_FORMAT, "%s:%zu: the last line has no newline", path, lineno);
            goto out;
        }
        *nl = '\0';
        char *f[MAX_FIELDS];
        size_t nf = split(line, f);
        line = nl + 1;
        if (lineno == 1) {
            if (nf != 2 || strcmp(f[0], "modularbase-usage") || strcmp(f[1], "1")) {
                rc = mb_fail(err, MB_E_FORMAT, "%s:1: not a modularbase-usage 1 file", path);
                goto out;
            }
            continue;
        }
        struct mb_pack_usage u;
        memset(&u, 0, sizeof(u));
        if (nf != 3 || strlen(f[0]) >= sizeof(u.id) || !parse_i64_nonneg(f[1], &u.last_used) ||
            !mb_parse_u64(f[2], &u.uses)) {
            rc = mb_fail(err, MB_E_FORMAT, "%s:%zu: expected 'ID LAST_USED USES'", path, lineno);
            goto out;
        }
        mb_strlcpy(u.id, f[0], sizeof(u.id));
        if (nv == cap) {
            if (cap >= MAX_USAGE) {
                rc = mb_fail(err, MB_E_LIMIT, "%s: more than %d packs", path, MAX_USAGE);
                goto out;
            }
            size_t ncap = cap ? cap * 2 : 16;
            struct mb_pack_usage *nvv = mb_reallocarray(v, ncap, sizeof(*nvv));
            if (!nvv) {
                rc = mb_fail(err, MB_E_NOMEM, "out of memory");
                goto out;
            }
            v = nvv;
            cap = ncap;
        }
        v[nv++] = u;
    }
out:
    if (rc) {
        mb_free(v);
        v = NULL;
        nv = 0;
    }
    *out = v;
    *n = nv;
    mb_buf_release(&b);
    mb_free(path);
    return rc;
}

int mb_pack_usage_record(const char *home, const char *const *ids, size_t n, int64_t when,
                         struct mb_err *err)
{
    struct mb_pack_usage *v = NULL;
    size_t nv = 0;
    /* A damaged usage file only loses statistics: start again rather than fail the run. */
    if (mb_pack_usage_load(home, &v, &nv, NULL)) {
        v = NULL;
        nv = 0;
    }
    int rc = 0;
    struct mb_pack_usage *all = mb_calloc(nv + n + 1, sizeof(*all));
    char *path = home_path(home, "usage", NULL);
    struct mb_buf b;
    mb_buf_init(&b, MB_PACK_STATUS_MAX_BYTES);
    if (!all || !path) {
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        goto out;
    }
    if (nv)
        memcpy(all, v, nv * sizeof(*v));
    size_t na = nv;
    for (size_t i = 0; i < n; i++) {
        if (!ids[i] || !*ids[i] || strlen(ids[i]) >= sizeof(all->id) || strchr(ids[i], ' ') ||
            strchr(ids[i], '\n')) {
            rc = mb_fail(err, MB_E_USAGE, "pack usage: invalid pack id");
            goto out;
        }
        size_t j = 0;
        while (j < na && strcmp(all[j].id, ids[i]))
            j++;
        if (j == na) {
            if (na >= MAX_USAGE)
                continue;
            mb_strlcpy(all[na++].id, ids[i], sizeof(all->id));
        }
        all[j].last_used = when;
        all[j].uses++;
    }
    rc = mb_buf_append_cstr(&b, "modularbase-usage 1\n", err);
    for (size_t i = 0; i < na && !rc; i++)
        rc = mb_buf_appendf(&b, err, "%s %lld %llu\n", all[i].id, (long long)all[i].last_used,
                            (unsigned long long)all[i].uses);
    if (!rc)
        rc = mb_file_write_atomic(path, b.p, b.n, 0644, err);
out:
    mb_buf_release(&b);
    mb_free(path);
    mb_free(all);
    mb_free(v);
    return rc;
}
