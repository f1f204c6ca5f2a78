/*
 * test_pack_cache.c - the LRU pack cache (runtime/mb_pack_cache.h): a budget
 * that fits two of four packs gives LRU eviction order, resident packs and
 * packs in use stay pinned, evicted packs reload with the right content (each
 * pack is a file of its own bytes, loaded by reading it), residents that
 * exceed the budget are refused, and background preloads race correctly with
 * gets from several threads (no pack loaded twice at once, a get of a pack
 * being preloaded waits for it).
 */
#include "mb_pack_cache.h"
#include "mb_test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define PACK_BYTES 4096u
#define NPACKS     4

static const char *ids[NPACKS] = { "alpha", "beta", "gamma", "delta" };

/* What the load callback returns: the file's bytes. */
struct loaded {
    char id[32];
    uint8_t *data;
    size_t n;
};

struct fixture {
    atomic_int loads[NPACKS];
    atomic_int unloads[NPACKS];
    atomic_int loading[NPACKS]; /* loads running now for that pack (must stay <= 1) */
    atomic_int overlap;         /* set when two loads of one pack ran at once */
    long delay_us;              /* sleep inside each load (to widen races) */
    bool fail_next;
    uint64_t report_bytes; /* bytes the load reports (0 = keep) */
    char paths[NPACKS][512];
};

static int idx_of(const char *id)
{
    for (int i = 0; i < NPACKS; i++)
        if (!strcmp(ids[i], id))
            return i;
    return -1;
}

static uint8_t pattern(int pack, size_t i)
{
    return (uint8_t)((size_t)pack * 37u + i * 11u + 5u);
}

static void sleep_us(long us)
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    nanosleep(&ts, NULL);
}

static int load_cb(void *ud, const char *id, const char *path, void **obj, uint64_t *bytes,
                   struct mb_err *err)
{
    struct fixture *f = ud;
    int k = idx_of(id);
    if (k < 0)
        return mb_fail(err, MB_E_NOTFOUND, "unknown id '%s'", id);
    if (atomic_fetch_add(&f->loading[k], 1) != 0)
        atomic_store(&f->overlap, 1);
    if (f->delay_us)
        sleep_us(f->delay_us);
    int rc = 0;
    if (f->fail_next) {
        f->fail_next = false;
        rc = mb_fail(err, MB_E_FORMAT, "%s: bad magic", path);
        goto out;
    }
    struct mb_buf b;
    mb_buf_init(&b, 1u << 20);
    rc = mb_file_read_all(path, 1u << 20, &b, err);
    if (rc) {
        mb_buf_release(&b);
        goto out;
    }
    struct loaded *l = mb_calloc(1, sizeof(*l));
    assert_non_null(l);
    mb_strlcpy(l->id, id, sizeof(l->id));
    l->data = (uint8_t *)mb_buf_detach(&b, &l->n);
    *obj = l;
    *bytes = f->report_bytes;
    atomic_fetch_add(&f->loads[k], 1);
out:
    atomic_fetch_sub(&f->loading[k], 1);
    return rc;
}

static void unload_cb(void *ud, const char *id, void *obj)
{
    struct fixture *f = ud;
    struct loaded *l = obj;
    assert_string_equal(l->id, id);
    atomic_fetch_add(&f->unloads[idx_of(id)], 1);
    mb_free(l->data);
    mb_free(l);
}

static const struct mb_pack_cache_ops ops = { load_cb, unload_cb };

static void fixture_init(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    for (int k = 0; k < NPACKS; k++) {
        uint8_t buf[PACK_BYTES];
        for (size_t i = 0; i < sizeof(buf); i++)
            buf[i] = pattern(k, i);
        char name[64];
        snprintf(name, sizeof(name), "%s.pack", ids[k]);
        mb_strlcpy(f->paths[k], mb_test_tmp_path(name), sizeof(f->paths[k]));
        mb_test_write_file(f->paths[k], buf, sizeof(buf));
    }
}

static struct mb_pack_cache *new_cache(struct fixture *f, uint64_t budget, uint64_t reserved,
                                       bool resident0, bool no_thread)
{
    struct mb_pack_cache_opts o;
    mb_pack_cache_opts_init(&o);
    o.budget = budget;
    o.reserved = reserved;
    o.no_thread = no_thread;
    struct mb_pack_cache *c;
    struct mb_err err;
    mb_err_init(&err);
    MB_ASSERT_OK(mb_pack_cache_new(&ops, f, &o, &c, &err), &err);
    for (int k = 0; k < NPACKS; k++)
        MB_ASSERT_OK(
            mb_pack_cache_add(c, ids[k], f->paths[k], PACK_BYTES, resident0 && k == 0, &err), &err);
    return c;
}

/* Get a pack, check every byte of what was loaded, and put it back. */
static void use(struct mb_pack_cache *c, int k)
{
    struct mb_err err;
    mb_err_init(&err);
    void *obj;
    MB_ASSERT_OK(mb_pack_cache_get(c, ids[k], &obj, &err), &err);
    const struct loaded *l = obj;
    assert_string_equal(l->id, ids[k]);
    assert_int_equal(l->n, PACK_BYTES);
    for (size_t i = 0; i < l->n; i++)
        if (l->data[i] != pattern(k, i))
            fail_msg("pack %s: byte %zu is %u, expected %u", ids[k], i, l->data[i], pattern(k, i));
    mb_pack_cache_put(c, ids[k]);
}

static enum mb_pack_state state_of(struct mb_pack_cache *c, int k, struct mb_pack_cache_stat *out)
{
    struct mb_pack_cache_stat *v;
    size_t n;
    struct mb_err err;
    mb_err_init(&err);
    MB_ASSERT_OK(mb_pack_cache_stats(c, &v, &n, NULL, &err), &err);
    assert_int_equal(n, NPACKS);
    assert_string_equal(v[k].id, ids[k]);
    enum mb_pack_state s = v[k].state;
    if (out)
        *out = v[k];
    mb_free(v);
    return s;
}

static void assert_states(struct mb_pack_cache *c, const char *expect)
{
    /* expect: one letter per pack, D on disk, L loaded, R resident */
    for (int k = 0; k < NPACKS; k++) {
        enum mb_pack_state s = state_of(c, k, NULL);
        char got = s == MB_PACK_ON_DISK    ? 'D'
                   : s == MB_PACK_LOADED   ? 'L'
                   : s == MB_PACK_RESIDENT ? 'R'
                                           : '?';
        if (got != expect[k])
            fail_msg("pack %s is %s, expected '%c' (all: %s)", ids[k], mb_pack_state_name(s),
                     expect[k], expect);
    }
}

/* Budget for two of four packs: least recently used goes first; evicted packs reload intact. */
static void test_lru_order(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    struct mb_pack_cache *c = new_cache(&f, 2 * PACK_BYTES, 0, false, true);
    assert_states(c, "DDDD");
    use(c, 0);
    use(c, 1);
    assert_states(c, "LLDD");
    use(c, 2); /* evicts alpha, the least recently used */
    assert_states(c, "DLLD");
    use(c, 1); /* beta is now the most recent */
    use(c, 3); /* evicts gamma, not beta */
    assert_states(c, "DLDL");
    use(c, 0); /* alpha reloads with its own bytes; beta is now LRU */
    assert_states(c, "LDDL");
    use(c, 2);
    assert_states(c, "LDLD");

    struct mb_pack_cache_stat st;
    state_of(c, 0, &st);
    assert_int_equal(st.misses, 2);
    assert_int_equal(st.loads, 2);
    assert_int_equal(st.evictions, 1);
    state_of(c, 1, &st);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.evictions, 1);
    assert_true(st.last_used > 0);
    assert_int_equal(atomic_load(&f.loads[0]), 2);
    assert_int_equal(atomic_load(&f.unloads[0]), 1);

    struct mb_pack_cache_stat *v;
    size_t n;
    struct mb_pack_cache_totals t;
    struct mb_err err;
    mb_err_init(&err);
    MB_ASSERT_OK(mb_pack_cache_stats(c, &v, &n, &t, &err), &err);
    assert_int_equal(t.used, 2 * PACK_BYTES);
    assert_int_equal(t.budget, 2 * PACK_BYTES);
    mb_free(v);
    mb_pack_cache_free(c);
    for (int k = 0; k < NPACKS; k++)
        assert_int_equal(atomic_load(&f.loads[k]), atomic_load(&f.unloads[k]));
}

/* Residents are never evicted; packs in use are not either; no room at all is MB_E_LIMIT. */
static void test_pinning(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    /* alpha resident; room for it and two more */
    struct mb_pack_cache *c = new_cache(&f, 3 * PACK_BYTES, 0, true, true);
    struct mb_err err;
    mb_err_init(&err);
    MB_ASSERT_OK(mb_pack_cache_load_residents(c, &err), &err);
    assert_states(c, "RDDD");
    use(c, 1);
    use(c, 2);
    use(c, 3); /* evicts beta; alpha is older but pinned */
    assert_states(c, "RDLL");
    use(c, 0);
    use(c, 1); /* evicts gamma */
    assert_states(c, "RLDL");
    assert_false(mb_pack_cache_evict(c, "alpha"));

    /* Hold delta and beta: gamma has no room. */
    void *o1, *o2, *o3;
    MB_ASSERT_OK(mb_pack_cache_get(c, "delta", &o1, &err), &err);
    MB_ASSERT_OK(mb_pack_cache_get(c, "beta", &o2, &err), &err);
    int rc = mb_pack_cache_get(c, "gamma", &o3, &err);
    assert_int_equal(rc, MB_E_LIMIT);
    assert_non_null(strstr(err.msg, "'gamma'"));
    assert_non_null(strstr(err.msg, "--mem-budget"));
    assert_states(c, "RLDL"); /* nothing was evicted in vain */
    mb_pack_cache_put(c, "beta");
    MB_ASSERT_OK(mb_pack_cache_get(c, "gamma", &o3, &err), &err); /* now beta goes */
    assert_states(c, "RDLL");
    mb_pack_cache_put(c, "gamma");
    mb_pack_cache_put(c, "delta");
    mb_pack_cache_free(c);
}

/* Base + residents above the budget: a clear error before anything loads. */
static void test_residents_exceed_budget(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    struct mb_pack_cache *c = new_cache(&f, PACK_BYTES + 100, 200, true, true);
    struct mb_err err;
    mb_err_init(&err);
    int rc = mb_pack_cache_load_residents(c, &err);
    assert_int_equal(rc, MB_E_LIMIT);
    assert_non_null(strstr(err.msg, "alpha"));
    assert_non_null(strstr(err.msg, "reserved"));
    assert_non_null(strstr(err.msg, "--mem-budget"));
    assert_int_equal(atomic_load(&f.loads[0]), 0);
    mb_pack_cache_free(c);
}

/* A failing load reports the pack, leaves it on disk and returns its bytes; the next get works. */
static void test_load_failure(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    struct mb_pack_cache *c = new_cache(&f, 2 * PACK_BYTES, 0, false, true);
    struct mb_err err;
    mb_err_init(&err);
    f.fail_next = true;
    void *obj;
    int rc = mb_pack_cache_get(c, "beta", &obj, &err);
    assert_int_equal(rc, MB_E_FORMAT);
    assert_non_null(strstr(err.msg, "pack 'beta'"));
    assert_non_null(strstr(err.msg, "bad magic"));
    assert_states(c, "DDDD");
    rc = mb_pack_cache_get(c, "nosuch", &obj, &err);
    assert_int_equal(rc, MB_E_NOTFOUND);
    use(c, 1);
    use(c, 0);
    assert_states(c, "LLDD");
    mb_pack_cache_free(c);
}

/* A load that reports more bytes than registered is accounted at its real size. */
static void test_actual_size(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    struct mb_pack_cache *c = new_cache(&f, 3 * PACK_BYTES, 0, false, true);
    f.report_bytes = 2 * PACK_BYTES;
    use(c, 0);
    use(c, 1); /* 2 + 2 > 3: alpha goes */
    assert_states(c, "DLDD");
    struct mb_pack_cache_stat st;
    state_of(c, 1, &st);
    assert_int_equal(st.bytes, 2 * PACK_BYTES);
    f.report_bytes = 4 * PACK_BYTES; /* bigger than the whole budget: refused */
    struct mb_err err;
    mb_err_init(&err);
    void *obj;
    assert_int_equal(mb_pack_cache_get(c, "gamma", &obj, &err), MB_E_LIMIT);
    assert_int_equal(state_of(c, 2, NULL), MB_PACK_ON_DISK);
    mb_pack_cache_free(c);
}

/* A get of a pack being preloaded waits for that load instead of loading it again. */
static void test_preload_then_get(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    f.delay_us = 30000;
    struct mb_pack_cache *c = new_cache(&f, 2 * PACK_BYTES, 0, false, false);
    struct mb_err err;
    mb_err_init(&err);
    const char *want[] = { "gamma", "delta", "nosuch" };
    MB_ASSERT_OK(mb_pack_cache_preload(c, want, 3, &err), &err);
    use(c, 2); /* waits for the preload in flight (or finds it loaded) */
    use(c, 3);
    mb_pack_cache_wait_idle(c);
    assert_int_equal(atomic_load(&f.loads[2]), 1);
    assert_int_equal(atomic_load(&f.loads[3]), 1);
    assert_int_equal(atomic_load(&f.overlap), 0);
    struct mb_pack_cache_stat st;
    state_of(c, 2, &st);
    assert_int_equal(st.loads, 1);
    assert_int_equal(st.hits + st.misses, 1);
    /* A preload that finished before the get makes the get a hit. */
    const char *one[] = { "alpha" };
    MB_ASSERT_OK(mb_pack_cache_preload(c, one, 1, &err), &err);
    mb_pack_cache_wait_idle(c);
    state_of(c, 0, &st);
    assert_int_equal(st.state, MB_PACK_LOADED);
    assert_int_equal(st.preloads, 1);
    use(c, 0);
    state_of(c, 0, &st);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.misses, 0);
    mb_pack_cache_free(c);
}

struct racer {
    struct mb_pack_cache *c;
    atomic_int *bad; /* cmocka must not fail from another thread: count here */
    unsigned seed;
    int rounds;
};

static void *race_thread(void *arg)
{
    struct racer *r = arg;
    for (int i = 0; i < r->rounds; i++) {
        r->seed = r->seed * 1103515245u + 12345u;
        int k = (int)((r->seed >> 16) % NPACKS);
        if ((r->seed >> 8) % 3 == 0) {
            const char *p[] = { ids[(k + 1) % NPACKS], ids[(k + 2) % NPACKS] };
            mb_pack_cache_preload(r->c, p, 2, NULL);
        }
        /* two threads holding a pack each leaves room for nothing else: retry */
        struct mb_err err;
        mb_err_init(&err);
        void *obj;
        int rc;
        while ((rc = mb_pack_cache_get(r->c, ids[k], &obj, &err)) == MB_E_LIMIT)
            sleep_us(100);
        if (rc) {
            fprintf(stderr, "get %s: %s\n", ids[k], err.msg);
            atomic_fetch_add(r->bad, 1);
            continue;
        }
        const struct loaded *l = obj;
        for (size_t j = 0; j < l->n; j += 97)
            if (l->data[j] != pattern(k, j))
                atomic_fetch_add(r->bad, 1);
        mb_pack_cache_put(r->c, ids[k]);
    }
    return NULL;
}

/* Several threads get, put and preload at once under a two-of-four budget. */
static void test_preload_races(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    f.delay_us = 200;
    struct mb_pack_cache *c = new_cache(&f, 3 * PACK_BYTES, 0, false, false);
    pthread_t th[4];
    struct racer r[4];
    atomic_int bad = 0;
    for (int i = 0; i < 4; i++) {
        r[i] = (struct racer){ c, &bad, (unsigned)(i * 7919 + 1), 300 };
        assert_int_equal(pthread_create(&th[i], NULL, race_thread, &r[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    mb_pack_cache_wait_idle(c);
    assert_int_equal(atomic_load(&bad), 0);
    assert_int_equal(atomic_load(&f.overlap), 0);
    struct mb_pack_cache_stat *v;
    size_t n;
    struct mb_pack_cache_totals t;
    struct mb_err err;
    mb_err_init(&err);
    MB_ASSERT_OK(mb_pack_cache_stats(c, &v, &n, &t, &err), &err);
    uint64_t loaded_bytes = 0, gets = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(v[i].refs, 0);
        gets += v[i].hits + v[i].misses;
        uint64_t in_mem = v[i].state == MB_PACK_LOADED ? 1 : 0;
        assert_int_equal(v[i].loads - v[i].evictions, in_mem);
        loaded_bytes += in_mem * v[i].bytes;
    }
    assert_int_equal(gets, 4 * 300);
    assert_int_equal(t.used, loaded_bytes);
    assert_true(t.used <= 3 * PACK_BYTES);
    mb_free(v);
    mb_pack_cache_free(c);
    for (int k = 0; k < NPACKS; k++)
        assert_int_equal(atomic_load(&f.loads[k]), atomic_load(&f.unloads[k]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lru_order),
        cmocka_unit_test(test_pinning),
        cmocka_unit_test(test_residents_exceed_budget),
        cmocka_unit_test(test_load_failure),
        cmocka_unit_test(test_actual_size),
        cmocka_unit_test(test_preload_then_get),
        cmocka_unit_test(test_preload_races),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
