/*
 * file.c - file helpers shared by the store, the registry and the runtime:
 * whole-file reads with a cap, atomic replace (temp + fsync + rename + fsync
 * dir), mkdir -p, rm -rf that never follows links, and read-only mmap.
 */
#include "mb_common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int mb_file_read_all(const char *path, size_t max, struct mb_buf *out, struct mb_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mb_fail_errno(err, errno, "cannot open '%s'", path);
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return mb_fail(err, MB_E_IO, "'%s' is a directory", path);
    }
    /* One byte of slack past `max` tells "exactly max" from "larger". */
    mb_buf_init(out, max < SIZE_MAX ? max + 1 : max);
    int rc = 0;
    for (;;) {
        size_t room = out->max - out->n;
        if (room == 0) {
            rc = mb_fail(err, MB_E_LIMIT, "'%s' is larger than the limit of %zu bytes", path, max);
            break;
        }
        if (mb_buf_reserve(out, room < 65536 ? room : 65536, NULL)) {
            rc = mb_fail(err, MB_E_NOMEM, "out of memory reading '%s'", path);
            break;
        }
        ssize_t r = read(fd, out->p + out->n, out->cap - 1 - out->n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = mb_fail_errno(err, errno, "cannot read '%s'", path);
            break;
        }
        if (r == 0)
            break;
        out->n += (size_t)r;
        if (out->n > max) {
            rc = mb_fail(err, MB_E_LIMIT, "'%s' is larger than the limit of %zu bytes", path, max);
            break;
        }
    }
    close(fd);
    if (rc) {
        mb_buf_release(out);
        return rc;
    }
    if (!out->p && mb_buf_reserve(out, 0, err))
        return err ? err->code : MB_E_NOMEM;
    out->p[out->n] = '\0';
    return 0;
}

/* Write all of buf to fd, retrying on short writes and EINTR. */
static int write_full(int fd, const void *data, size_t n, const char *path, struct mb_err *err)
{
    const char *p = data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return mb_fail_errno(err, errno, "cannot write '%s'", path);
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int mb_fsync_dir(const char *dir, struct mb_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return mb_fail_errno(err, errno, "cannot open directory '%s'", dir);
    int rc = 0;
    if (fsync(fd) != 0 && errno != EINVAL)
        rc = mb_fail_errno(err, errno, "cannot fsync directory '%s'", dir);
    close(fd);
    return rc;
}

int mb_file_create_tmp(const char *path, unsigned mode, char *tmp, size_t tmp_size, int *fd,
                       struct mb_err *err)
{
    if (!mb_snprintf(tmp, tmp_size, "%s.tmp.%ld", path, (long)getpid()))
        return mb_fail(err, MB_E_LIMIT, "path too long: '%s'", path);
    unlink(tmp); /* a leftover from a crashed run of the same pid */
    *fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
    if (*fd < 0)
        return mb_fail_errno(err, errno, "cannot create '%s'", tmp);
    return 0;
}

int mb_file_commit_tmp(int fd, const char *tmp, const char *path, int rc, struct mb_err *err)
{
    if (!rc && fsync(fd) != 0)
        rc = mb_fail_errno(err, errno, "cannot fsync '%s'", tmp);
    if (close(fd) != 0 && !rc)
        rc = mb_fail_errno(err, errno, "cannot close '%s'", tmp);
    if (!rc && rename(tmp, path) != 0)
        rc = mb_fail_errno(err, errno, "cannot rename '%s' to '%s'", tmp, path);
    if (rc) {
        unlink(tmp);
        return rc;
    }
    char dir[4096];
    mb_strlcpy(dir, path, sizeof(dir));
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        mb_strlcpy(dir, ".", sizeof(dir));
    return mb_fsync_dir(dir, err);
}

int mb_file_write_atomic(const char *path, const void *data, size_t n, unsigned mode,
                         struct mb_err *err)
{
    char tmp[4096];
    int fd = -1;
    int rc = mb_file_create_tmp(path, mode, tmp, sizeof(tmp), &fd, err);
    if (rc)
        return rc;
    return mb_file_commit_tmp(fd, tmp, path, write_full(fd, data, n, tmp, err), err);
}

int mb_mkdir_p(const char *path, unsigned mode, struct mb_err *err)
{
    char buf[4096];
    if (!mb_strlcpy(buf, path, sizeof(buf)))
        return mb_fail(err, MB_E_LIMIT, "path too long: '%s'", path);
    size_t len = strlen(buf);
    while (len > 1 && buf[len - 1] == '/')
        buf[--len] = '\0';
    for (char *p = buf + 1;; p++) {
        bool end = *p == '\0';
        if (*p == '/' || end) {
            *p = '\0';
            if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
                return mb_fail_errno(err, errno, "cannot create directory '%s'", buf);
            if (!end)
                *p = '/';
        }
        if (end)
            break;
    }
    if (!mb_is_dir(path))
        return mb_fail(err, MB_E_EXISTS, "'%s' exists and is not a directory", path);
    return 0;
}

/* rm -rf below an open directory fd; never follows symlinks. */
static int rm_rf_at(int parent, const char *name, const char *display, struct mb_err *err)
{
    struct stat st;
    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : mb_fail_errno(err, errno, "cannot stat '%s'", display);
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(parent, name, 0) != 0 && errno != ENOENT)
            return mb_fail_errno(err, errno, "cannot remove '%s'", display);
        return 0;
    }
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return mb_fail_errno(err, errno, "cannot open directory '%s'", display);
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return mb_fail_errno(err, errno, "cannot read directory '%s'", display);
    }
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        rc = rm_rf_at(dirfd(d), de->d_name, display, err);
    }
    closedir(d);
    if (!rc && unlinkat(parent, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
        rc = mb_fail_errno(err, errno, "cannot remove directory '%s'", display);
    return rc;
}

int mb_rm_rf(const char *path, struct mb_err *err)
{
    return rm_rf_at(AT_FDCWD, path, path, err);
}

bool mb_path_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

bool mb_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *mb_path_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    bool slash = la > 0 && a[la - 1] != '/';
    char *p = mb_malloc(la + lb + 2);
    if (!p)
        return NULL;
    memcpy(p, a, la);
    if (slash)
        p[la++] = '/';
    memcpy(p + la, b, lb + 1);
    return p;
}

const char *mb_path_basename(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

int mb_map_file(const char *path, struct mb_map *map, struct mb_err *err)
{
    map->p = NULL;
    map->n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mb_fail_errno(err, errno, "cannot open '%s'", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return mb_fail_errno(err, e, "cannot stat '%s'", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return mb_fail(err, MB_E_IO, "'%s' is not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return 0; /* an empty map; callers check the size */
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED)
        return mb_fail_errno(err, e, "cannot mmap '%s'", path);
    map->p = p;
    map->n = (size_t)st.st_size;
    return 0;
}

void mb_unmap(struct mb_map *map)
{
    if (map->p && map->n)
        munmap((void *)(uintptr_t)map->p, map->n);
    map->p = NULL;
    map->n = 0;
}
