/*
 * index_dir.c - a resolver source over a local directory of index files
 * (DIR/index/<id>.json, or DIR/<id>.json), the stand-in for registries used
 * by `modularbase resolve --index-dir` and the resolver tests. Records are
 * loaded on demand, checked against the requested id, and kept until the
 * handle is freed.
 */
#include "mb_resolver.h"

#include <dirent.h>
#include <errno.h>

struct mb_index_dir {
    char *dir; /* the directory holding <id>.json files */
    char *registry;
    struct mb_index_record **recs;
    size_t n, cap;
};

int mb_index_dir_open(const char *dir, const char *registry_name, struct mb_index_dir **out,
                      struct mb_err *err)
{
    *out = NULL;
    if (!mb_is_dir(dir))
        return mb_fail(err, MB_E_NOTFOUND, "%s: not a directory", dir);
    if (registry_name && mb_pack_id_check(registry_name, err))
        return mb_err_prefix(err, "registry name");
    struct mb_index_dir *d = mb_calloc(1, sizeof(*d));
    if (!d)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    char *sub = mb_path_join(dir, "index");
    if (sub && mb_is_dir(sub))
        d->dir = sub;
    else {
        mb_free(sub);
        d->dir = mb_strdup(dir);
    }
    d->registry = mb_strdup(registry_name ? registry_name : "local");
    if (!d->dir || !d->registry) {
        mb_index_dir_free(d);
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    *out = d;
    return 0;
}

void mb_index_dir_free(struct mb_index_dir *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++) {
        mb_index_record_release(d->recs[i]);
        mb_free(d->recs[i]);
    }
    mb_free(d->recs);
    mb_free(d->dir);
    mb_free(d->registry);
    mb_free(d);
}

static int dir_load(void *ud, const char *id, const struct mb_index_record **rec,
                    const char **registry, struct mb_err *err)
{
    struct mb_index_dir *d = ud;
    for (size_t i = 0; i < d->n; i++)
        if (!strcmp(d->recs[i]->id, id)) {
            *rec = d->recs[i];
            *registry = d->registry;
            return 0;
        }
    if (mb_pack_id_check(id, err))
        return MB_E_FORMAT;
    char name[MB_PACK_ID_MAX + 8];
    snprintf(name, sizeof(name), "%s.json", id);
    char *path = mb_path_join(d->dir, name);
    if (!path)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    if (!mb_path_exists(path)) {
        mb_free(path);
        return mb_fail(err, MB_E_NOTFOUND, "no index file for '%s'", id);
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        struct mb_index_record **v = mb_reallocarray(d->recs, cap, sizeof(*v));
        if (!v) {
            mb_free(path);
            return mb_fail(err, MB_E_NOMEM, "out of memory");
        }
        d->recs = v;
        d->cap = cap;
    }
    struct mb_index_record *r = mb_calloc(1, sizeof(*r));
    if (!r) {
        mb_free(path);
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    int rc = mb_index_load(path, id, r, err);
    mb_free(path);
    if (rc) {
        mb_free(r);
        return rc;
    }
    d->recs[d->n++] = r;
    *rec = r;
    *registry = d->registry;
    return 0;
}

/* Every *.json whose record is of kind base (each file is parsed once and cached). */
static int dir_list_bases(void *ud, char ***ids, size_t *n, struct mb_err *err)
{
    struct mb_index_dir *d = ud;
    *ids = NULL;
    *n = 0;
    DIR *dh = opendir(d->dir);
    if (!dh)
        return mb_fail_errno(err, errno, "%s", d->dir);
    int rc = 0;
    size_t cap = 0;
    struct dirent *de;
    while (!rc && (de = readdir(dh))) {
        size_t len = strlen(de->d_name);
        if (len < 6 || len - 5 > MB_PACK_ID_MAX || strcmp(de->d_name + len - 5, ".json"))
            continue;
        char id[MB_PACK_ID_MAX + 1];
        memcpy(id, de->d_name, len - 5);
        id[len - 5] = '\0';
        struct mb_err tmp;
        if (mb_pack_id_check(id, &tmp))
            continue;
        const struct mb_index_record *rec;
        const char *reg;
        rc = dir_load(d, id, &rec, &reg, err);
        if (rc)
            break;
        if (rec->kind != MB_PACK_BASE)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            char **v = mb_reallocarray(*ids, cap, sizeof(*v));
            if (!v) {
                rc = mb_fail(err, MB_E_NOMEM, "out of memory");
                break;
            }
            *ids = v;
        }
        (*ids)[*n] = mb_strdup(id);
        if (!(*ids)[*n])
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        else
            (*n)++;
    }
    closedir(dh);
    if (rc) {
        for (size_t i = 0; i < *n; i++)
            mb_free((*ids)[i]);
        mb_free(*ids);
        *ids = NULL;
        *n = 0;
    }
    return rc;
}

struct mb_resolve_source mb_index_dir_source(struct mb_index_dir *d)
{
    struct mb_resolve_source s = { dir_load, dir_list_bases, d };
    return s;
}
