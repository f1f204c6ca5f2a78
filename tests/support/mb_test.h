/*
 * mb_test.h - helpers shared by the cmocka unit tests: a per-test temporary
 * directory removed at exit, paths into tests/data, and the real model's path
 * (skipping with status 77 when it is not fetched, unless MB_REQUIRE_MODEL=1).
 */
#ifndef MB_TEST_H
#define MB_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mb_common.h"

#define MB_TEST_SKIP 77

/* A fresh temporary directory for this process; removed at exit. */
const char *mb_test_tmpdir(void);
/* A new path "<tmpdir>/<name>" (static storage, rotating over 8 slots). */
const char *mb_test_tmp_path(const char *name);
/* "<repo>/tests/data/<name>" (static storage, rotating over 8 slots). */
const char *mb_test_data_path(const char *name);
/* The real SmolLM2 GGUF; exits 77 (skip) if absent unless MB_REQUIRE_MODEL=1 (then fails). */
const char *mb_test_model_path(void);
/* Write bytes to a file; asserts on failure. */
void mb_test_write_file(const char *path, const void *data, size_t n);

/* Assert an mb call succeeded, printing the error message when not. */
#define MB_ASSERT_OK(expr, errp)                                      \
    do {                                                              \
        int mb_rc_ = (expr);                                          \
        if (mb_rc_ != 0)                                              \
            fail_msg("%s failed: %d %s", #expr, mb_rc_, (errp)->msg); \
    } while (0)

#endif /* MB_TEST_H */
