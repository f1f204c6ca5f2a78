/*
 * store_read.c - the lock-free read side for the runtime: the installed set
 * with absolute paths (pack directory, pack.yaml, the GGUF), loaded from
 * state.json. state.json only ever names complete, fsynced pack directories,
 * so whatever this returns is fully installed.
 */
#include "store_int.h"

static void ipack_release(struct mb_installed_pack *p)
{
    mb_free(p->id);
    mb_free(p->version);
    mb_free(p->dir);
    mb_free(p->manifest);
    mb_free(p->weights);
}

void mb_installed_release(struct mb_installed *in)
{
    if (!in)
        return;
    for (size_t i = 0; i < in->n; i++)
        ipack_release(&in->v[i]);
    mb_free(in->v);
    mb_free(in->home);
    memset(in, 0, sizeof(*in));
}

const struct mb_installed_pack *mb_installed_find(const struct mb_installed *in, const char *id)
{
    for (size_t i = 0; i < in->n; i++)
        if (!strcmp(in->v[i].id, id))
            return &in->v[i];
    return NULL;
}

int mb_store_installed_load(const char *home, struct mb_installed *out, struct mb_err *err)
{
    memset(out, 0, sizeof(*out));
    int rc = 0;
    if (home)
        out->home = mb_strdup(home);
    else
        rc = mb_home_resolve(NULL, &out->home, err);
    if (!rc && !out->home)
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
    struct mb_store_state st;
    mb_store_state_init(&st);
    if (!rc)
        rc = mb_store_state_load(out->home, &st, err);
    if (!rc && st.n) {
        out->v = mb_calloc(st.n, sizeof(*out->v));
        if (!out->v)
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; !rc && i < st.n; i++) {
        const struct mb_store_pack *p = &st.packs[i];
        struct mb_installed_pack *q = &out->v[i];
        out->n = i + 1;
        char dir[STORE_PATH_MAX];
        if (!mb_store_pack_dir(dir, sizeof(dir), out->home, p->id, p->version)) {
            rc = mb_fail(err, MB_E_LIMIT, "path too long: '%s'", out->home);
            break;
        }
        q->id = mb_strdup(p->id);
        q->version = mb_strdup(p->version);
        q->kind = p->kind;
        q->resident = p->resident;
        q->automatic = p->automatic;
        q->size = p->size;
        q->dir = mb_strdup(dir);
        q->manifest = mb_path_join(dir, "pack.yaml");
        q->weights = p->weights ? mb_path_join(dir, p->weights) : NULL;
        if (!q->id || !q->version || !q->dir || !q->manifest || (p->weights && !q->weights))
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    mb_store_state_release(&st);
    if (rc)
        mb_installed_release(out);
    return rc;
}
