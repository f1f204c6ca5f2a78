/*
 * archive_int.h - internals shared by the archive writer and reader: hashing
 * the whole .mbpack (sha256 for the registry index, BLAKE2b-512 for minisign)
 * on a helper thread, so these hashes are off the critical path of
 * compression, decompression and per-member hashing.
 */
#ifndef MB_ARCHIVE_INT_H
#define MB_ARCHIVE_INT_H

#include "mb_archive.h"

#include <pthread.h>

#define WH_SLOTS     4
#define WH_SLOT_SIZE (1u << 20)

struct whole_hash {
    unsigned which; /* MB_ARCHIVE_HASH_* */
    struct mb_sha256 sha;
    struct mb_sign_hasher b2;
    bool threaded;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned char *slot[WH_SLOTS];
    size_t len[WH_SLOTS];
    unsigned head, count;
    bool done;
};

/* Start hashing (a thread when available; inline otherwise). `which` may be 0. */
void mb_archive_whole_hash_start(struct whole_hash *w, unsigned which);
/* Feed bytes in order (copied; blocks while the helper is behind). */
void mb_archive_whole_hash_feed(struct whole_hash *w, const void *p, size_t n);
/* Wait for the helper and produce the hashes (zeros for those not asked for). */
void mb_archive_whole_hash_finish(struct whole_hash *w, uint8_t sha[MB_SHA256_LEN],
                                  uint8_t b2[MB_SIGN_HASH_LEN]);

#endif /* MB_ARCHIVE_INT_H */
