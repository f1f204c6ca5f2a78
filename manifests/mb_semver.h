/*
 * mb_semver.h - SemVer 2.0.0 versions and node-semver ranges.
 *
 * These live in manifests/ rather than resolver/ because the manifest and
 * index parsers must validate versions and ranges, and the dependency arrows
 * point resolver -> manifests -> common (DESIGN.md §6). The resolver and the
 * CLI include this header through mb_manifests.h.
 *
 * Versions: strict SemVer 2.0.0 (`MAJOR.MINOR.PATCH[-PRE][+BUILD]`, no leading
 * zeros, numbers at most 2^53-1 like node-semver, at most 256 bytes). Build
 * metadata is kept but ignored by precedence (mb_semver_cmp).
 *
 * Ranges: node-semver's grammar and semantics (docs/manifest.md "Ranges"):
 * primitive comparators (<, <=, >, >=, =), comparator sets (space = AND),
 * `||` (OR), hyphen ranges, x-ranges (`1.x`, `1.2.*`, `*`, partial versions),
 * tilde and caret. A range is parsed once into desugared primitive comparators
 * (e.g. `^1.2.3` into `>=1.2.3 <2.0.0-0`), exactly as node-semver does, and the
 * prerelease rule is applied at match time: a prerelease version satisfies a
 * comparator set only if some comparator of the set names a prerelease of the
 * same MAJOR.MINOR.PATCH, unless `include_prerelease` is set.
 *
 * Ownership: a struct mb_semver holds views (struct mb_str) into the text it
 * was parsed from, or into static storage; keep that text alive. A struct
 * mb_range owns a copy of its text and its comparators: release it with
 * mb_range_release(). Nothing here prints; errors go to struct mb_err.
 */
#ifndef MB_SEMVER_H
#define MB_SEMVER_H

#include "mb_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest accepted version text (node-semver's MAX_LENGTH) and range text. */
#define MB_SEMVER_MAX_LEN 256
#define MB_RANGE_MAX_LEN  1024
/* Largest accepted numeric component (JavaScript's MAX_SAFE_INTEGER). */
#define MB_SEMVER_MAX_NUM 9007199254740991ull
/* Buffer size that always holds a formatted version. */
#define MB_SEMVER_STR_MAX 320

struct mb_semver {
    uint64_t major, minor, patch;
    struct mb_str pre;   /* prerelease identifiers without '-', n == 0 when none */
    struct mb_str build; /* build metadata without '+', n == 0 when none */
};

/*
 * Parse a strict SemVer 2.0.0 version from `s` (the whole view must be the
 * version; no surrounding spaces, no 'v'). `out` borrows from `s`.
 * Returns 0 or MB_E_FORMAT with a message naming what is wrong.
 */
int mb_semver_parse(struct mb_str s, struct mb_semver *out, struct mb_err *err);
/* Same, NUL-terminated. */
int mb_semver_parse_cstr(const char *s, struct mb_semver *out, struct mb_err *err);
/* Like node-semver's valid(): also accepts surrounding spaces and one leading 'v'. */
int mb_semver_parse_loose(const char *s, struct mb_semver *out, struct mb_err *err);

/* SemVer precedence: <0, 0, >0. Build metadata is ignored. */
int mb_semver_cmp(const struct mb_semver *a, const struct mb_semver *b);
/* Total order for sorting: precedence, then build metadata bytes. */
int mb_semver_cmp_build(const struct mb_semver *a, const struct mb_semver *b);
static inline bool mb_semver_is_prerelease(const struct mb_semver *v)
{
    return v->pre.n != 0;
}

/*
 * Format into buf (MB_SEMVER_STR_MAX is always enough). `with_build` adds
 * "+BUILD". Returns buf.
 */
const char *mb_semver_format(const struct mb_semver *v, bool with_build, char *buf, size_t cap);

/*
 * node-semver's inc(): LEVEL is major, minor, patch, premajor, preminor,
 * prepatch or prerelease; PREID (may be NULL) names the prerelease identifier
 * ("beta" makes 1.2.4-beta.0). Writes the new version, without build metadata,
 * into out (MB_SEMVER_STR_MAX is enough). MB_E_USAGE for an unknown level or a
 * bad PREID, MB_E_FORMAT when a number would overflow.
 */
int mb_semver_inc(const struct mb_semver *v, const char *level, const char *preid, char *out,
                  size_t cap, struct mb_err *err);

/* ------------------------------------------------------------------ ranges */

enum mb_cmp_op {
    MB_CMP_ANY, /* matches every version (node's ANY comparator, from "*" or "") */
    MB_CMP_EQ,
    MB_CMP_LT,
    MB_CMP_LE,
    MB_CMP_GT,
    MB_CMP_GE,
};

struct mb_comparator {
    enum mb_cmp_op op;
    struct mb_semver v; /* views into the owning range's text or static storage */
};

struct mb_range {
    char *text;                 /* owned copy of the source text */
    struct mb_comparator *cmps; /* every comparator, set after set */
    size_t ncmps;
    size_t *set_end; /* set i is cmps[i ? set_end[i-1] : 0 .. set_end[i]) */
    size_t nsets;
};

/*
 * Parse a node-semver range. On success `out` owns its memory (release with
 * mb_range_release). On failure returns MB_E_FORMAT (or MB_E_LIMIT for text
 * longer than MB_RANGE_MAX_LEN, MB_E_NOMEM) and `out` holds nothing. The
 * message reads `"^1.x.y" is not a valid range (...)`.
 *
 * `include_prerelease` only changes how x-ranges, carets and hyphen ranges
 * desugar (their lower bounds become `-0`), as in node-semver's option of the
 * same name; pass the same flag to mb_range_satisfies().
 */
int mb_range_parse(const char *text, bool include_prerelease, struct mb_range *out,
                   struct mb_err *err);
void mb_range_release(struct mb_range *r);
/* An empty range (no sets) that nothing satisfies; safe to release. */
void mb_range_init(struct mb_range *r);

/* Whether `v` satisfies `r` under node-semver's rules (see the top of this file). */
bool mb_range_satisfies(const struct mb_range *r, const struct mb_semver *v,
                        bool include_prerelease);

/* True when the range is `*` (one set holding only an ANY comparator). */
bool mb_range_is_any(const struct mb_range *r);

/*
 * The desugared form, as node-semver's validRange() prints it: sets joined by
 * "||", comparators by a space, "*" for ANY (e.g. ">=1.2.3 <2.0.0-0").
 */
int mb_range_format(const struct mb_range *r, struct mb_buf *out, struct mb_err *err);

#ifdef __cplusplus
}
#endif

#endif /* MB_SEMVER_H */
