/*
 * sha256_ni.h - internal to common/: SHA-256 with the x86 SHA extensions
 * (sha256_ni.c), used by hash.c behind mb_sha256_* when the CPU has them.
 */
#ifndef MB_SHA256_NI_H
#define MB_SHA256_NI_H

#include "mb_common.h"

struct mb_sha256_ni {
    uint32_t h[8];
    uint64_t len; /* bytes hashed so far */
    unsigned char buf[64];
    unsigned nbuf;
};

/* Whether this CPU has SHA-NI (and the SSSE3/SSE4.1 the code also uses). */
bool mb_sha256_ni_available(void);
void mb_sha256_ni_init(struct mb_sha256_ni *s);
void mb_sha256_ni_update(struct mb_sha256_ni *s, const void *data, size_t n);
void mb_sha256_ni_final(struct mb_sha256_ni *s, uint8_t out[MB_SHA256_LEN]);

#endif /* MB_SHA256_NI_H */
