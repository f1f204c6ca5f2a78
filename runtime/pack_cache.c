/*
 * pack_cache.c - the LRU pack cache under a byte budget with pinned resident
 * packs and a background preload thread (mb_pack_cache.h). One mutex guards
 * all state; loads run outside it with the entry marked LOADING, and one
 * condition variable announces every state change, so a get of a pack being
 * loaded (by a preload or another caller) waits for that load rather than
 * loading it twice. Entries are allocated one by one so that a pointer to an
 * entry stays valid while the lock is dropped during its load.
 */
#include "mb_pack_cache.h"

#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct entry {
    char id[MB_PACK_CACHE_ID_MAX];
    char *path;
    uint64_t bytes;
    bool resident;
    enum mb_pack_state state;
    void *obj;
    unsigned refs;
    uint64_t seq;
    int64_t last_used;
    uint64_t hits, misses, loads, evictions, preloads;
    uint64_t queued; /* preload queue position, 0 = not queued */
};

struct mb_pack_cache {
    struct mb_pack_cache_ops ops;
    void *ud;
    struct mb_pack_cache_opts opts;
    pthread_mutex_t mu;
    pthread_cond_t changed; /* an entry's state changed, or the worker went idle */
    pthread_cond_t work;    /* the worker has something to do (or must stop) */
    struct entry **v;
    size_t n, cap;
    uint64_t clock; /* LRU clock */
    uint64_t used;  /* reserved + LOADING/LOADED/RESIDENT entries */
    uint64_t qseq;
    size_t nqueued;
    bool busy; /* the worker is running a load */
    bool stop;
    bool thread_started;
    pthread_t thread;
    uint64_t preloads_skipped;
};

void mb_pack_cache_opts_init(struct mb_pack_cache_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->budget_name = "--mem-budget";
}

const char *mb_pack_state_name(enum mb_pack_state s)
{
    switch (s) {
    case MB_PACK_ON_DISK:
        return "on disk";
    case MB_PACK_LOADING:
        return "loading";
    case MB_PACK_LOADED:
        return "loaded";
    case MB_PACK_RESIDENT:
        return "resident";
    }
    return "?";
}

int mb_pack_cache_new(const struct mb_pack_cache_ops *ops, void *ud,
                      const struct mb_pack_cache_opts *opts, struct mb_pack_cache **out,
                      struct mb_err *err)
{
    *out = NULL;
    if (!ops || !ops->load || !ops->unload)
        return mb_fail(err, MB_E_USAGE, "pack cache: load and unload callbacks are required");
    struct mb_pack_cache *c = mb_calloc(1, sizeof(*c));
    if (!c)
        return mb_fail(err, MB_E_NOMEM, "pack cache: out of memory");
    c->ops = *ops;
    c->ud = ud;
    if (opts)
        c->opts = *opts;
    else
        mb_pack_cache_opts_init(&c->opts);
    if (!c->opts.budget_name)
        c->opts.budget_name = "--mem-budget";
    c->used = c->opts.reserved;
    if (pthread_mutex_init(&c->mu, NULL)) {
        mb_free(c);
        return mb_fail(err, MB_E_INTERNAL, "pack cache: cannot create a mutex");
    }
    if (pthread_cond_init(&c->changed, NULL)) {
        pthread_mutex_destroy(&c->mu);
        mb_free(c);
        return mb_fail(err, MB_E_INTERNAL, "pack cache: cannot create a condition variable");
    }
    if (pthread_cond_init(&c->work, NULL)) {
        pthread_cond_destroy(&c->changed);
        pthread_mutex_destroy(&c->mu);
        mb_free(c);
        return mb_fail(err, MB_E_INTERNAL, "pack cache: cannot create a condition variable");
    }
    *out = c;
    return 0;
}

void mb_pack_cache_free(struct mb_pack_cache *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_broadcast(&c->work);
    pthread_mutex_unlock(&c->mu);
    if (c->thread_started)
        pthread_join(c->thread, NULL);
    for (size_t i = 0; i < c->n; i++) {
        struct entry *e = c->v[i];
        if (e->obj)
            c->ops.unload(c->ud, e->id, e->obj);
        mb_free(e->path);
        mb_free(e);
    }
    mb_free(c->v);
    pthread_cond_destroy(&c->work);
    pthread_cond_destroy(&c->changed);
    pthread_mutex_destroy(&c->mu);
    mb_free(c);
}

static struct entry *find(const struct mb_pack_cache *c, const char *id)
{
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->v[i]->id, id))
            return c->v[i];
    return NULL;
}

int mb_pack_cache_add(struct mb_pack_cache *c, const char *id, const char *path, uint64_t bytes,
                      bool resident, struct mb_err *err)
{
    if (!id || !*id || strlen(id) >= MB_PACK_CACHE_ID_MAX)
        return mb_fail(err, MB_E_USAGE, "pack cache: invalid pack id");
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    if (find(c, id)) {
        rc = mb_fail(err, MB_E_EXISTS, "pack cache: pack '%s' is already registered", id);
        goto out;
    }
    if (c->n >= MB_PACK_CACHE_MAX_PACKS) {
        rc = mb_fail(err, MB_E_LIMIT, "pack cache: more than %d packs", MB_PACK_CACHE_MAX_PACKS);
        goto out;
    }
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 8;
        struct entry **nv = mb_reallocarray(c->v, ncap, sizeof(*nv));
        if (!nv) {
            rc = mb_fail(err, MB_E_NOMEM, "pack cache: out of memory");
            goto out;
        }
        c->v = nv;
        c->cap = ncap;
    }
    struct entry *e = mb_calloc(1, sizeof(*e));
    if (!e) {
        rc = mb_fail(err, MB_E_NOMEM, "pack cache: out of memory");
        goto out;
    }
    mb_strlcpy(e->id, id, sizeof(e->id));
    if (path && !(e->path = mb_strdup(path))) {
        mb_free(e);
        rc = mb_fail(err, MB_E_NOMEM, "pack cache: out of memory");
        goto out;
    }
    e->bytes = bytes;
    e->resident = resident;
    e->state = MB_PACK_ON_DISK;
    c->v[c->n++] = e;
out:
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* Whether `extra` more bytes fit the budget now. Lock held. */
static bool fits(const struct mb_pack_cache *c, uint64_t extra)
{
    uint64_t total;
    if (!c->opts.budget)
        return true;
    return mb_add_u64_ok(c->used, extra, &total) && total <= c->opts.budget;
}

/* Unload one loaded entry and return its bytes to the budget. Lock held. */
static void evict_entry(struct mb_pack_cache *c, struct entry *e)
{
    void *obj = e->obj;
    e->obj = NULL;
    e->state = MB_PACK_ON_DISK;
    c->used -= e->bytes;
    e->evictions++;
    c->ops.unload(c->ud, e->id, obj);
    pthread_cond_broadcast(&c->changed);
}

/*
 * Evict unpinned, unused, loaded packs in LRU order until `extra` more bytes
 * fit (never `keep`). False when that is impossible; then nothing is evicted,
 * so a failed attempt does not throw away packs for nothing. Lock held.
 */
static bool make_room(struct mb_pack_cache *c, uint64_t extra, const struct entry *keep)
{
    if (fits(c, extra))
        return true;
    uint64_t freeable = 0;
    for (size_t i = 0; i < c->n; i++) {
        const struct entry *e = c->v[i];
        if (e != keep && e->state == MB_PACK_LOADED && !e->refs)
            freeable += e->bytes;
    }
    uint64_t total;
    if (!mb_add_u64_ok(c->used, extra, &total) || total - freeable > c->opts.budget)
        return false;
    while (!fits(c, extra)) {
        struct entry *lru = NULL;
        for (size_t i = 0; i < c->n; i++) {
            struct entry *e = c->v[i];
            if (e != keep && e->state == MB_PACK_LOADED && !e->refs && (!lru || e->seq < lru->seq))
                lru = e;
        }
        if (!lru)
            return false; /* cannot happen after the check above */
        evict_entry(c, lru);
    }
    return true;
}

/* The budget error for `e`, naming what holds the memory. Lock held. */
static int budget_error(const struct mb_pack_cache *c, const struct entry *e, struct mb_err *err)
{
    uint64_t resident = 0, inuse = 0;
    for (size_t i = 0; i < c->n; i++) {
        const struct entry *o = c->v[i];
        if (o->state == MB_PACK_ON_DISK)
            continue;
        if (o->resident)
            resident += o->bytes;
        else
            inuse += o->bytes;
    }
    char need[32], budget[32], res[32], pin[32], rsv[32];
    return mb_fail(err, MB_E_LIMIT,
                   "pack cache: pack '%s' needs %s but %s is %s (reserved %s, resident packs "
                   "%s, packs in use or loading %s)",
                   e->id, mb_format_size(e->bytes, need, sizeof(need)), c->opts.budget_name,
                   mb_format_size(c->opts.budget, budget, sizeof(budget)),
                   mb_format_size(c->opts.reserved, rsv, sizeof(rsv)),
                   mb_format_size(resident, res, sizeof(res)),
                   mb_format_size(inuse, pin, sizeof(pin)));
}

/*
 * Load `e` (state ON_DISK) after making room, with the lock dropped during
 * the callback. Lock held on entry and on return.
 */
static int load_entry(struct mb_pack_cache *c, struct entry *e, bool preload, struct mb_err *err)
{
    if (!make_room(c, e->bytes, e))
        return budget_error(c, e, err);
    uint64_t reserved = e->bytes;
    e->state = MB_PACK_LOADING;
    c->used += reserved;
    pthread_mutex_unlock(&c->mu);

    void *obj = NULL;
    uint64_t bytes = 0;
    struct mb_err lerr;
    mb_err_init(&lerr);
    int rc = c->ops.load(c->ud, e->id, e->path, &obj, &bytes, &lerr);

    pthread_mutex_lock(&c->mu);
    if (rc) {
        c->used -= reserved;
        e->state = MB_PACK_ON_DISK;
        pthread_cond_broadcast(&c->changed);
        if (rc > 0)
            rc = MB_E_INTERNAL;
        return mb_fail(err, rc, "pack '%s': %s", e->id, lerr.msg[0] ? lerr.msg : mb_err_desc(rc));
    }
    if (bytes && bytes != reserved) {
        c->used = c->used - reserved + bytes;
        e->bytes = bytes;
        if (c->opts.budget && c->used > c->opts.budget && !make_room(c, 0, e)) {
            /* Bigger than announced and nothing left to evict: give it back. */
            c->used -= bytes;
            e->state = MB_PACK_ON_DISK;
            c->ops.unload(c->ud, e->id, obj);
            pthread_cond_broadcast(&c->changed);
            return budget_error(c, e, err);
        }
    }
    e->obj = obj;
    e->state = e->resident ? MB_PACK_RESIDENT : MB_PACK_LOADED;
    e->loads++;
    if (preload)
        e->preloads++;
    pthread_cond_broadcast(&c->changed);
    return 0;
}

int mb_pack_cache_load_residents(struct mb_pack_cache *c, struct mb_err *err)
{
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    uint64_t need = c->opts.reserved;
    struct mb_buf detail;
    mb_buf_init(&detail, 4096);
    for (size_t i = 0; i < c->n; i++) {
        const struct entry *e = c->v[i];
        if (!e->resident)
            continue;
        char sz[32];
        mb_add_u64_ok(need, e->bytes, &need);
        mb_buf_appendf(&detail, NULL, "%s%s %s", detail.n ? ", " : "", e->id,
                       mb_format_size(e->bytes, sz, sizeof(sz)));
    }
    if (c->opts.budget && need > c->opts.budget) {
        char a[32], b[32], r[32];
        rc = mb_fail(err, MB_E_LIMIT,
                     "base and resident packs need %s (%s%sreserved %s) but %s is %s",
                     mb_format_size(need, a, sizeof(a)), detail.p ? detail.p : "",
                     detail.n ? ", " : "", mb_format_size(c->opts.reserved, r, sizeof(r)),
                     c->opts.budget_name, mb_format_size(c->opts.budget, b, sizeof(b)));
        goto out;
    }
    for (size_t i = 0; i < c->n && !rc; i++) {
        struct entry *e = c->v[i];
        while (e->resident && e->state == MB_PACK_LOADING)
            pthread_cond_wait(&c->changed, &c->mu);
        if (e->resident && e->state == MB_PACK_ON_DISK)
            rc = load_entry(c, e, false, err);
        else if (e->resident && e->state == MB_PACK_LOADED)
            e->state = MB_PACK_RESIDENT;
    }
out:
    mb_buf_release(&detail);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int mb_pack_cache_get(struct mb_pack_cache *c, const char *id, void **obj, struct mb_err *err)
{
    int rc = 0;
    *obj = NULL;
    pthread_mutex_lock(&c->mu);
    struct entry *e = find(c, id);
    if (!e) {
        rc = mb_fail(err, MB_E_NOTFOUND, "pack cache: no pack '%s'", id);
        goto out;
    }
    while (e->state == MB_PACK_LOADING) /* a preload or another caller is on it */
        pthread_cond_wait(&c->changed, &c->mu);
    if (e->state == MB_PACK_ON_DISK) {
        if (e->queued) { /* loading it now: drop it from the preload queue */
            e->queued = 0;
            c->nqueued--;
        }
        rc = load_entry(c, e, false, err);
        if (rc)
            goto out;
        e->misses++; /* failed gets count as neither hit nor miss */
    } else {
        e->hits++;
    }
    e->refs++;
    e->seq = ++c->clock;
    e->last_used = mb_unix_time();
    *obj = e->obj;
out:
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void mb_pack_cache_put(struct mb_pack_cache *c, const char *id)
{
    pthread_mutex_lock(&c->mu);
    struct entry *e = find(c, id);
    if (e && e->refs)
        e->refs--;
    pthread_mutex_unlock(&c->mu);
}

bool mb_pack_cache_evict(struct mb_pack_cache *c, const char *id)
{
    bool done = false;
    pthread_mutex_lock(&c->mu);
    struct entry *e = find(c, id);
    if (e && e->state == MB_PACK_LOADED && !e->refs) {
        evict_entry(c, e);
        done = true;
    }
    pthread_mutex_unlock(&c->mu);
    return done;
}

/* The queued entry with the smallest queue position, dequeued; NULL if none. Lock held. */
static struct entry *dequeue(struct mb_pack_cache *c)
{
    struct entry *best = NULL;
    for (size_t i = 0; i < c->n; i++) {
        struct entry *e = c->v[i];
        if (e->queued && (!best || e->queued < best->queued))
            best = e;
    }
    if (best) {
        best->queued = 0;
        c->nqueued--;
    }
    return best;
}

/* Run one queued preload. Lock held. False when the queue was empty. */
static bool preload_one(struct mb_pack_cache *c)
{
    struct entry *e = dequeue(c);
    if (!e)
        return false;
    if (e->state != MB_PACK_ON_DISK)
        return true;
    if (!make_room(c, e->bytes, e)) {
        c->preloads_skipped++;
        return true;
    }
    c->busy = true;
    /* A failed preload is forgotten: the next get loads again and reports the error. */
    if (load_entry(c, e, true, NULL))
        c->preloads_skipped++;
    c->busy = false;
    pthread_cond_broadcast(&c->changed);
    return true;
}

static void *worker(void *arg)
{
    struct mb_pack_cache *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        if (!preload_one(c)) {
            pthread_cond_broadcast(&c->changed); /* idle */
            pthread_cond_wait(&c->work, &c->mu);
        }
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int mb_pack_cache_preload(struct mb_pack_cache *c, const char *const *ids, size_t n,
                          struct mb_err *err)
{
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    size_t added = 0;
    for (size_t i = 0; i < n; i++) {
        struct entry *e = ids[i] ? find(c, ids[i]) : NULL;
        if (!e || e->state != MB_PACK_ON_DISK || e->queued)
            continue;
        e->queued = ++c->qseq;
        c->nqueued++;
        added++;
    }
    if (!added)
        goto out;
    if (c->opts.no_thread) {
        while (preload_one(c))
            ;
        goto out;
    }
    if (!c->thread_started) {
        if (pthread_create(&c->thread, NULL, worker, c)) {
            /* No thread: the gets will load on demand instead. */
            while (dequeue(c))
                ;
            rc = mb_fail(err, MB_E_INTERNAL, "pack cache: cannot start the preload thread");
            goto out;
        }
        c->thread_started = true;
    }
    pthread_cond_signal(&c->work);
out:
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void mb_pack_cache_wait_idle(struct mb_pack_cache *c)
{
    pthread_mutex_lock(&c->mu);
    while ((c->nqueued && c->thread_started) || c->busy)
        pthread_cond_wait(&c->changed, &c->mu);
    pthread_mutex_unlock(&c->mu);
}

int mb_pack_cache_stats(struct mb_pack_cache *c, struct mb_pack_cache_stat **out, size_t *n,
                        struct mb_pack_cache_totals *totals, struct mb_err *err)
{
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&c->mu);
    struct mb_pack_cache_stat *v = NULL;
    if (c->n && !(v = mb_calloc(c->n, sizeof(*v)))) {
        pthread_mutex_unlock(&c->mu);
        return mb_fail(err, MB_E_NOMEM, "pack cache: out of memory");
    }
    for (size_t i = 0; i < c->n; i++) {
        const struct entry *e = c->v[i];
        struct mb_pack_cache_stat *s = &v[i];
        mb_strlcpy(s->id, e->id, sizeof(s->id));
        s->state = e->state;
        s->resident = e->resident;
        s->bytes = e->bytes;
        s->last_used = e->last_used;
        s->last_seq = e->seq;
        s->refs = e->refs;
        s->hits = e->hits;
        s->misses = e->misses;
        s->loads = e->loads;
        s->evictions = e->evictions;
        s->preloads = e->preloads;
    }
    if (totals) {
        totals->budget = c->opts.budget;
        totals->reserved = c->opts.reserved;
        totals->used = c->used;
        totals->preloads_skipped = c->preloads_skipped;
        totals->npacks = c->n;
    }
    *out = v;
    *n = c->n;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

uint64_t mb_pack_prefault(const void *p, size_t n)
{
    if (!p || !n)
        return 0;
    long ps = sysconf(_SC_PAGESIZE);
    size_t page = ps > 0 ? (size_t)ps : 4096;
    uintptr_t start = (uintptr_t)p & ~(uintptr_t)(page - 1);
    size_t len = n + (size_t)((uintptr_t)p - start);
    /* Advice only: a refusal (not a mapping, old kernel) changes nothing but speed. */
    (void)madvise((void *)start, len, MADV_SEQUENTIAL);
    (void)madvise((void *)start, len, MADV_WILLNEED);
    const volatile uint8_t *b = p;
    uint64_t sum = 0;
    size_t first = (size_t)(page - ((uintptr_t)p & (page - 1))) % page;
    sum += b[0];
    for (size_t i = first; i < n; i += page)
        sum += b[i];
    sum += b[n - 1];
    return sum;
}
