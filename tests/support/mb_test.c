/*
 * mb_test.c - implementation of the unit-test helpers in mb_test.h.
 */
#include "mb_test.h"

#include <unistd.h>

static char tmpdir[256];
static char slots[8][4096];
static unsigned slot;

static void cleanup(void)
{
    if (tmpdir[0] && !getenv("MB_KEEP_TMP"))
        mb_rm_rf(tmpdir, NULL);
}

const char *mb_test_tmpdir(void)
{
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof(tmpdir), "%s/mbtest.XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmpdir))
            fail_msg("mkdtemp failed");
        atexit(cleanup);
    }
    return tmpdir;
}

const char *mb_test_tmp_path(const char *name)
{
    char *s = slots[slot++ % 8];
    snprintf(s, sizeof(slots[0]), "%s/%s", mb_test_tmpdir(), name);
    return s;
}

const char *mb_test_data_path(const char *name)
{
    const char *data = getenv("MB_TEST_DATA");
    char *s = slots[slot++ % 8];
    snprintf(s, sizeof(slots[0]), "%s/%s", data ? data : "tests/data", name);
    return s;
}

const char *mb_test_model_path(void)
{
    static char path[4096];
    const char *env = getenv("MB_MODEL");
    if (env && *env) {
        mb_strlcpy(path, env, sizeof(path));
    } else {
        const char *cache = getenv("XDG_CACHE_HOME");
        const char *home = getenv("HOME");
        if (cache && *cache)
            snprintf(path, sizeof(path), "%s/modularbase/models/SmolLM2-135M-Instruct.Q4_1.gguf",
                     cache);
        else
            snprintf(path, sizeof(path),
                     "%s/.cache/modularbase/models/SmolLM2-135M-Instruct.Q4_1.gguf",
                     home ? home : "/root");
    }
    if (access(path, R_OK) != 0) {
        const char *req = getenv("MB_REQUIRE_MODEL");
        if (req && !strcmp(req, "1")) {
            fprintf(stderr,
                    "the real model is required but missing at %s "
                    "(run scripts/fetch-model.sh)\n",
                    path);
            exit(1);
        }
        fprintf(stderr, "skipped: model not fetched (%s); run scripts/fetch-model.sh\n", path);
        exit(MB_TEST_SKIP);
    }
    return path;
}

void mb_test_write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        fail_msg("cannot create %s", path);
    if (n && fwrite(data, 1, n, f) != n)
        fail_msg("cannot write %s", path);
    fclose(f);
}
