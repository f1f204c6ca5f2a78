/*
 * store_fault.c - fault injection for the crash-safety tests, compiled only
 * with MB_TEST_HOOKS (the ASan test build). MB_FAULT is a comma-separated
 * list of "[stop:]POINT[#N]": reaching POINT for the Nth time (default the
 * first) makes the process SIGKILL itself, or SIGSTOP itself with "stop:" so
 * that a test can act (fill the disk, start a second writer) and then send
 * SIGCONT. The points are listed in docs/store.md.
 */
#include "store_int.h"

#ifdef MB_TEST_HOOKS

#include <signal.h>
#include <unistd.h>

enum { MAX_FAULTS = 16 };

static unsigned hits[MAX_FAULTS];

void mb_store_fault(const char *point)
{
    const char *spec = getenv("MB_FAULT");
    if (!spec || !*spec)
        return;
    size_t idx = 0;
    for (const char *p = spec; *p && idx < MAX_FAULTS; idx++) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[128];
        if (len < sizeof(item)) {
            memcpy(item, p, len);
            item[len] = '\0';
            bool stop = !strncmp(item, "stop:", 5);
            char *name = stop ? item + 5 : item;
            uint64_t nth = 1;
            char *hash = strchr(name, '#');
            if (hash) {
                *hash = '\0';
                if (!mb_parse_u64(hash + 1, &nth) || nth == 0)
                    nth = 1;
            }
            if (!strcmp(name, point) && ++hits[idx] == nth) {
                if (stop)
                    raise(SIGSTOP);
                else
                    kill(getpid(), SIGKILL);
            }
        }
        p = end ? end + 1 : p + len;
    }
}

#endif /* MB_TEST_HOOKS */
