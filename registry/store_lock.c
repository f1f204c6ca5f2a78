/*
 * store_lock.c - the writers' lock: flock(LOCK_EX) on HOME/lock. The kernel
 * releases a flock when its holder dies, so a lock left by a killed process
 * never blocks anyone; the pid written into the file only serves the
 * "waiting for another modularbase (pid N) to finish" message. Readers never
 * touch this file.
 */
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

/* The pid the current holder wrote, or 0. */
static long read_pid(int fd)
{
    char buf[32];
    ssize_t r = pread(fd, buf, sizeof(buf) - 1, 0);
    if (r <= 0)
        return 0;
    buf[r] = '\0';
    char *nl = strchr(buf, '\n');
    if (nl)
        *nl = '\0';
    uint64_t v;
    return mb_parse_u64(buf, &v) && v < (1u << 30) ? (long)v : 0;
}

int mb_store_lock_take(const char *home, const struct mb_store_open_opts *opts, int *out,
                       struct mb_err *err)
{
    *out = -1;
    char path[STORE_PATH_MAX];
    if (!mb_store_path(path, sizeof(path), home, STORE_LOCK, NULL))
        return mb_fail(err, MB_E_LIMIT, "path too long: '%s'", home);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        int e = errno;
        if (e == EROFS || e == EACCES || e == EPERM)
            return mb_fail_errno(err, e, "cannot write to the store '%s' (opening its lock file)",
                                 home);
        return mb_fail_errno(err, e, "cannot open the store's lock file '%s'", path);
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK) {
            int rc = mb_fail_errno(err, errno, "cannot lock '%s'", path);
            close(fd);
            return rc;
        }
        long pid = read_pid(fd);
        if (opts && opts->no_wait) {
            close(fd);
            if (pid)
                return mb_fail(err, MB_E_LOCKED,
                               "the store '%s' is locked by another modularbase (pid %ld); "
                               "try again when it has finished",
                               home, pid);
            return mb_fail(err, MB_E_LOCKED,
                           "the store '%s' is locked by another modularbase; try again when "
                           "it has finished",
                           home);
        }
        if (opts && opts->on_wait)
            opts->on_wait(opts->ud, pid);
        while (flock(fd, LOCK_EX) != 0) {
            if (errno == EINTR && !mb_interrupted)
                continue;
            int rc = errno == EINTR
                         ? mb_fail(err, MB_E_INTERRUPTED, "interrupted while waiting for the lock")
                         : mb_fail_errno(err, errno, "cannot lock '%s'", path);
            close(fd);
            return rc;
        }
    }
    /* Informational: who holds it now. */
    char buf[32];
    int len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)len, 0) != (ssize_t)len) {
        int e = errno;
        close(fd);
        return mb_fail_errno(err, e, "cannot write to the store '%s' (its lock file)", home);
    }
    *out = fd;
    return 0;
}

void mb_store_lock_drop(int fd)
{
    if (fd < 0)
        return;
    /* Leave the pid: the file's content only matters while it is locked. */
    flock(fd, LOCK_UN);
    close(fd);
}
