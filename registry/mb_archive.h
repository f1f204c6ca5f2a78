/*
 * mb_archive.h - the .mbpack archive (docs/pack-format.md, "Archive"): a
 * deterministic tar compressed with zstd whose first member, MANIFEST.sha256,
 * lists every other file's sha256, size and path. Writing, streaming
 * verification and safe extraction for the store.
 *
 * Layout of an archive:
 *   MANIFEST.sha256            always first; lines "<sha256 hex>  <size>  <path>\n",
 *                              sorted by path (bytewise), one per regular file
 *   <dirs and files>           sorted by path; directories implied by file paths
 * Every tar header has mtime 0, uid/gid 0, empty uname/gname, mode 0644 (files)
 * or 0755 (directories); the tar is written as POSIX ustar, with pax extended
 * headers (never timestamps) only where ustar cannot express a size. Same
 * inputs (and the same libzstd) give the same bytes.
 *
 * Readers stream: a pack of any size is never held in memory. The member
 * rules (refused with a message naming the member): absolute paths, "." or
 * ".." components, characters outside [A-Za-z0-9._+@=,-] and "/", names over
 * the length limit, symlinks, hard links, devices, FIFOs, sockets, sparse
 * files, setuid/setgid/sticky bits, duplicates, members not listed in
 * MANIFEST.sha256, listed files missing, a size different from the declared
 * one (the zip-bomb guard: nothing past the declared total is ever read), and
 * a sha256 mismatch.
 *
 * Errors: MB_E_FORMAT (malformed or hostile archive), MB_E_LIMIT (a limit or
 * the declared size exceeded), MB_E_INTEGRITY (a member's hash), MB_E_EXISTS
 * (extraction target exists), MB_E_IO/NOSPACE/PERM (files), MB_E_INTERRUPTED.
 */
#ifndef MB_ARCHIVE_H
#define MB_ARCHIVE_H

#include "mb_common.h"
#include "mb_sign.h"

#define MB_ARCHIVE_MANIFEST   "MANIFEST.sha256"
#define MB_ARCHIVE_ZSTD_LEVEL 3 /* fixed: the level is part of the bytes */

/* One file to put in an archive. Borrowed strings. */
struct mb_archive_input {
    const char *name; /* path inside the archive ("weights/x.gguf") */
    const char *src;  /* file on disk */
};

/* One MANIFEST.sha256 line. */
struct mb_archive_entry {
    char *path;
    uint64_t size;
    uint8_t sha256[MB_SHA256_LEN];
};

/*
 * What a build or a read learned. Initialise with mb_archive_info_init, free
 * with mb_archive_info_release.
 */
struct mb_archive_info {
    struct mb_archive_entry *entries; /* MANIFEST.sha256 order (sorted by path) */
    size_t n_entries;
    uint64_t total_size;               /* sum of the entries' sizes */
    uint64_t archive_size;             /* bytes of the .mbpack file */
    uint8_t sha256[MB_SHA256_LEN];     /* of the whole .mbpack file */
    uint8_t blake2b[MB_SIGN_HASH_LEN]; /* of the whole file: minisign's prehash */
};
void mb_archive_info_init(struct mb_archive_info *info);
void mb_archive_info_release(struct mb_archive_info *info);

/* Limits on what a reader accepts. */
struct mb_archive_limits {
    size_t max_name_len; /* bytes of a member path (default 255) */
    size_t max_members;  /* files + directories (default 10,000) */
    size_t max_manifest; /* bytes of MANIFEST.sha256 (default 1 MiB) */
    uint64_t max_total;  /* declared total of the files (default 1 TiB) */
};
void mb_archive_limits_default(struct mb_archive_limits *lim);

/*
 * Whether `name` is acceptable as a member path (the rules above), with
 * `max_len` bytes at most. On failure fills err (MB_E_FORMAT, naming it).
 */
int mb_archive_check_name(const char *name, size_t max_len, struct mb_err *err);

/*
 * Which whole-archive hashes to compute (mb_archive_info.sha256 / .blake2b).
 * They are computed on a helper thread; leave out what you do not need. With
 * opts == NULL both are computed.
 */
enum {
    MB_ARCHIVE_HASH_SHA256 = 1u << 0,
    MB_ARCHIVE_HASH_BLAKE2B = 1u << 1,
    MB_ARCHIVE_HASH_ALL = MB_ARCHIVE_HASH_SHA256 | MB_ARCHIVE_HASH_BLAKE2B,
};

/* ------------------------------------------------------------ writing */

struct mb_archive_build_opts {
    struct mb_progress progress; /* "hashing" then "packing", in input bytes */
    unsigned hashes;             /* MB_ARCHIVE_HASH_*: whole-archive hashes wanted */
};

/*
 * Write `out_path` from `n` input files (any order; sorted here). The inputs
 * are read twice (hash, then pack) and never held in memory. The file appears
 * atomically (temp + rename); on failure nothing is left behind. `info` (may be
 * NULL) receives the entries and the archive's own hashes (computed while
 * writing, so signing needs no extra pass). opts may be NULL.
 */
int mb_archive_build(const char *out_path, const struct mb_archive_input *in, size_t n,
                     const struct mb_archive_build_opts *opts, struct mb_archive_info *info,
                     struct mb_err *err);

/* ------------------------------------------------------------ reading */

struct mb_archive_read_opts {
    const struct mb_archive_limits *limits; /* NULL = defaults */
    struct mb_progress progress;            /* in compressed bytes of the archive */
    bool fsync;                             /* extraction: fsync files and directories */
    unsigned hashes;                        /* MB_ARCHIVE_HASH_*: whole-file hashes wanted */
};

/*
 * Check an archive completely in one streaming pass: structure, every rule
 * above, every member's size and hash. `info` (may be NULL) gets the entries
 * and the whole file's sha256/BLAKE2b, which are computed over every byte of
 * the file even when the check fails early (so a caller can give a signature
 * failure precedence over a structural one). `info` is always initialised
 * (release it even on failure). opts may be NULL.
 */
int mb_archive_verify(const char *path, const struct mb_archive_read_opts *opts,
                      struct mb_archive_info *info, struct mb_err *err);

/*
 * Verify and extract into `dest`, which must not exist (MB_E_EXISTS) and is
 * created with mode 0755; its parent must exist. Files are written through
 * temporary names created with O_CREAT|O_EXCL|O_NOFOLLOW (never names from the
 * archive), hashed while written, and renamed into place without replacing
 * anything; directories are opened with O_NOFOLLOW and nothing is ever written
 * outside `dest`. Files get mode 0644, directories 0755. On any failure `dest`
 * is removed. `info` as for mb_archive_verify.
 */
int mb_archive_extract_safe(const char *archive, const char *dest,
                            const struct mb_archive_read_opts *opts, struct mb_archive_info *info,
                            struct mb_err *err);

/* ------------------------------------------------------------ manifest text */

/*
 * Parse MANIFEST.sha256 text (strict: lower-case hex, two spaces, a decimal
 * size without leading zeros, two spaces, a valid path, "\n"; paths strictly
 * increasing). Fills info->entries / n_entries / total_size.
 */
int mb_archive_manifest_parse(const char *text, size_t n, const struct mb_archive_limits *lim,
                              struct mb_archive_info *info, struct mb_err *err);
/* Format entries (already sorted) as MANIFEST.sha256 text, appended to out. */
int mb_archive_manifest_format(const struct mb_archive_entry *e, size_t n, struct mb_buf *out,
                               struct mb_err *err);

#endif /* MB_ARCHIVE_H */
