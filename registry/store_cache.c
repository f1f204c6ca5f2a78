/*
 * store_cache.c - `cache clean`: delete downloaded archives (cache/packs/)
 * and partial downloads (cache/partial/), like `apt-get clean`. The registry
 * index cache is left alone (it is registry state, not a download cache).
 * Runs under the store lock so no transaction is downloading meanwhile.
 */
#include "store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const clean_dirs[] = { "packs", "partial" };

/* Count (and unless dry_run, delete) everything below dir; the directory itself stays. */
static int clean_tree(int parent, const char *name, const char *display, bool dry_run, bool top,
                      struct mb_store_clean_result *res, int depth, struct mb_err *err)
{
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : mb_fail_errno(err, errno, "cannot open '%s'", display);
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return mb_fail_errno(err, errno, "cannot read '%s'", display);
    }
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth < 32)
                rc = clean_tree(dirfd(d), de->d_name, display, dry_run, false, res, depth + 1, err);
            continue;
        }
        res->files++;
        res->bytes += (uint64_t)st.st_size;
        if (!dry_run && unlinkat(dirfd(d), de->d_name, 0) != 0 && errno != ENOENT)
            rc = mb_fail_errno(err, errno, "cannot remove '%s/%s'", display, de->d_name);
    }
    closedir(d);
    if (!rc && !top && !dry_run && unlinkat(parent, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
        rc = mb_fail_errno(err, errno, "cannot remove a directory in '%s'", display);
    return rc;
}

int mb_store_cache_clean(struct mb_store *st, bool dry_run, struct mb_store_clean_result *res,
                         struct mb_err *err)
{
    memset(res, 0, sizeof(*res));
    for (size_t i = 0; i < MB_ARRAY_LEN(clean_dirs); i++) {
        char path[STORE_PATH_MAX];
        if (!mb_snprintf(path, sizeof(path), "%s/%s/%s", st->home, STORE_CACHE, clean_dirs[i]))
            return mb_fail(err, MB_E_LIMIT, "path too long: '%s'", st->home);
        int rc = clean_tree(AT_FDCWD, path, path, dry_run, true, res, 0, err);
        if (rc)
            return rc;
    }
    return 0;
}
