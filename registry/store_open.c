/*
 * store_open.c - opening the store for writing: create the layout, take the
 * lock, load state.json and the world, and recover an interrupted
 * transaction before anything else happens (so every writer starts from a
 * clean, committed state).
 */
#include "store_int.h"

int mb_store_open(const char *home, const struct mb_store_open_opts *opts, struct mb_store **out,
                  struct mb_err *err)
{
    *out = NULL;
    struct mb_store *st = mb_calloc(1, sizeof(*st));
    if (!st)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    st->lock_fd = -1;
    int rc = 0;
    if (home)
        st->home = mb_strdup(home);
    else
        rc = mb_home_resolve(NULL, &st->home, err);
    if (!rc && !st->home)
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
    if (!rc)
        rc = mb_mkdir_p(st->home, 0755, err);
    if (!rc)
        rc = mb_store_lock_take(st->home, opts, &st->lock_fd, err);
    static const char *const dirs[] = { STORE_PACKS, STORE_STAGING, STORE_CACHE };
    for (size_t i = 0; !rc && i < MB_ARRAY_LEN(dirs); i++) {
        char p[STORE_PATH_MAX];
        if (!mb_store_path(p, sizeof(p), st->home, dirs[i], NULL))
            rc = mb_fail(err, MB_E_LIMIT, "path too long: '%s'", st->home);
        else
            rc = mb_mkdir_p(p, 0755, err);
    }
    if (!rc)
        rc = mb_store_state_load(st->home, &st->state, err);
    if (!rc)
        rc = mb_store_recover(st, &st->recovery_note, err);
    if (!rc)
        rc = mb_store_world_load(st->home, &st->world, &st->world_text, err);
    if (rc) {
        mb_store_close(st);
        return rc;
    }
    *out = st;
    return 0;
}

void mb_store_close(struct mb_store *st)
{
    if (!st)
        return;
    mb_store_lock_drop(st->lock_fd);
    mb_store_state_release(&st->state);
    mb_store_world_release(&st->world);
    mb_free(st->world_text);
    mb_free(st->recovery_note);
    mb_free(st->home);
    mb_free(st);
}

const char *mb_store_home(const struct mb_store *st)
{
    return st->home;
}

const struct mb_store_state *mb_store_get_state(const struct mb_store *st)
{
    return &st->state;
}

const struct mb_store_world *mb_store_get_world(const struct mb_store *st)
{
    return &st->world;
}

const char *mb_store_recovery_note(const struct mb_store *st)
{
    return st->recovery_note;
}
