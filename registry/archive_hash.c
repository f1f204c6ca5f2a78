/*
 * archive_hash.c - the whole-file hasher of archive_int.h: a single-producer,
 * single-consumer ring of 1 MiB slots drained by one helper thread that updates
 * sha256 and/or BLAKE2b. The producer (libarchive's read or write callback)
 * copies each chunk into a free slot, so it never waits on hashing unless the
 * ring is full. Without a thread (creation failed) hashing happens inline.
 */
#include "archive_int.h"

static void update(struct whole_hash *w, const void *p, size_t n)
{
    if (w->which & MB_ARCHIVE_HASH_SHA256)
        mb_sha256_update(&w->sha, p, n);
    if (w->which & MB_ARCHIVE_HASH_BLAKE2B)
        mb_sign_hasher_update(&w->b2, p, n);
}

static void *worker(void *arg)
{
    struct whole_hash *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->count == 0 && !w->done)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->count == 0 && w->done)
            break;
        unsigned i = w->head;
        pthread_mutex_unlock(&w->mu);
        update(w, w->slot[i], w->len[i]); /* the slot is ours until count drops */
        pthread_mutex_lock(&w->mu);
        w->head = (w->head + 1) % WH_SLOTS;
        w->count--;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

void mb_archive_whole_hash_start(struct whole_hash *w, unsigned which)
{
    memset(w, 0, sizeof(*w));
    w->which = which;
    mb_sha256_init(&w->sha);
    mb_sign_hasher_init(&w->b2);
    if (!which)
        return;
    for (unsigned i = 0; i < WH_SLOTS; i++) {
        w->slot[i] = mb_malloc(WH_SLOT_SIZE);
        if (!w->slot[i])
            return; /* inline hashing */
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->th, NULL, worker, w) == 0) {
        w->threaded = true;
    } else {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
    }
}

void mb_archive_whole_hash_feed(struct whole_hash *w, const void *p, size_t n)
{
    if (!w->which)
        return;
    if (!w->threaded) {
        update(w, p, n);
        return;
    }
    const unsigned char *s = p;
    while (n) {
        size_t k = MB_MIN(n, (size_t)WH_SLOT_SIZE);
        pthread_mutex_lock(&w->mu);
        while (w->count == WH_SLOTS)
            pthread_cond_wait(&w->cv, &w->mu);
        unsigned i = (w->head + w->count) % WH_SLOTS;
        pthread_mutex_unlock(&w->mu);
        memcpy(w->slot[i], s, k); /* a free slot: the worker does not touch it */
        w->len[i] = k;
        pthread_mutex_lock(&w->mu);
        w->count++;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        s += k;
        n -= k;
    }
}

void mb_archive_whole_hash_finish(struct whole_hash *w, uint8_t sha[MB_SHA256_LEN],
                                  uint8_t b2[MB_SIGN_HASH_LEN])
{
    if (w->threaded) {
        pthread_mutex_lock(&w->mu);
        w->done = true;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->th, NULL);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        w->threaded = false;
    }
    for (unsigned i = 0; i < WH_SLOTS; i++) {
        mb_free(w->slot[i]);
        w->slot[i] = NULL;
    }
    memset(sha, 0, MB_SHA256_LEN);
    memset(b2, 0, MB_SIGN_HASH_LEN);
    if (w->which & MB_ARCHIVE_HASH_SHA256)
        mb_sha256_final(&w->sha, sha);
    if (w->which & MB_ARCHIVE_HASH_BLAKE2B)
        mb_sign_hasher_final(&w->b2, b2);
}
