/*
 * home.c - where the local store lives: an explicit override (--home), else
 * $MODULARBASE_HOME, else ${XDG_DATA_HOME:-$HOME/.local/share}/modularbase
 * (DESIGN.md §5). Key files, config.yaml and installed packs are all found
 * below this one directory.
 */
#include "mb_common.h"

int mb_home_resolve(const char *override, char **out, struct mb_err *err)
{
    *out = NULL;
    if (override && *override) {
        *out = mb_strdup(override);
        return *out ? 0 : mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    const char *env = getenv("MODULARBASE_HOME");
    if (env && *env) {
        *out = mb_strdup(env);
        return *out ? 0 : mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    /* XDG says a relative XDG_DATA_HOME is invalid and must be ignored. */
    const char *xdg = getenv("XDG_DATA_HOME");
    if (xdg && xdg[0] == '/') {
        *out = mb_path_join(xdg, "modularbase");
        return *out ? 0 : mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    const char *home = getenv("HOME");
    if (!home || home[0] != '/')
        return mb_fail(err, MB_E_NOTFOUND,
                       "cannot find the modularbase home: set MODULARBASE_HOME or HOME, "
                       "or pass --home DIR");
    *out = mb_path_join(home, ".local/share/modularbase");
    return *out ? 0 : mb_fail(err, MB_E_NOMEM, "out of memory");
}
