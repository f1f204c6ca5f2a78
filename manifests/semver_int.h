/*
 * semver_int.h - scanning helpers shared by semver.c and range.c (not part of
 * the public API). Each scan function returns the number of bytes consumed,
 * or 0 with *why set to a short reason.
 */
#ifndef MB_SEMVER_INT_H
#define MB_SEMVER_INT_H

#include "mb_semver.h"

size_t mb_semver_scan_num(const char *p, size_t n, uint64_t *out, const char **why);
size_t mb_semver_scan_idents(const char *p, size_t n, bool pre, const char **why);
/* A full MAJOR.MINOR.PATCH[-PRE][+BUILD] prefix of p; views point into p. */
size_t mb_semver_scan(const char *p, size_t n, struct mb_semver *out, const char **why);
/* Compare prerelease strings by SemVer rules (empty = release, above all prereleases). */
int mb_semver_cmp_pre(struct mb_str a, struct mb_str b);
/* Printable, length-limited copy of untrusted text for error messages. */
const char *mb_semver_quote(const char *p, size_t n, char *buf, size_t cap);

#endif /* MB_SEMVER_INT_H */
