/*
 * bench_pack_swap.c - how long it takes to make a pack ready through the pack
 * cache's load path (scripts/bench/pack-swap.sh runs it): a get of a pack
 * that is on disk runs the load callback the modular runtime uses - open the
 * GGUF (mmap, every offset checked), read its hyper-parameters, load all its
 * blocks as a stack on the CPU backend, and prefault the mapping
 * (mb_pack_prefault) so the weights are in RAM - then the pack is put back
 * and evicted. "cold": the file's pages are dropped from the page cache
 * first (posix_fadvise DONTNEED after fsync, per file, so other processes'
 * caches are untouched; fincore in the script confirms it); "warm": the
 * pages are cached. Prints one JSON object with every repetition's seconds.
 *
 * With --raw, each repetition instead times a plain read() of the whole file
 * in 1 MiB chunks in this process (the raw-read baseline without cat's exec).
 *
 *   bench_pack_swap PACK.gguf [--reps N] [--mode cold|warm|both] [--raw]
 */
#include "mb_model.h"
#include "mb_pack_cache.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

struct loaded {
    struct mb_gguf *g;
    struct mb_stack *stack;
};

static struct mb_backend *be;
static uint64_t sink;

/* The load path: GGUF open + hparams + stack load + prefault. */
static int load_cb(void *ud, const char *id, const char *path, void **obj, uint64_t *bytes,
                   struct mb_err *err)
{
    (void)ud;
    (void)id;
    struct loaded *l = mb_calloc(1, sizeof(*l));
    if (!l)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    int rc = mb_gguf_open(&l->g, path, err);
    struct mb_llama_hparams hp;
    if (!rc)
        rc = mb_llama_hparams_read(l->g, &hp, err);
    if (!rc) {
        struct mb_stack_spec spec = { "blk.", 0, hp.n_layer, hp.block };
        rc = mb_stack_load(l->g, &spec, be, &l->stack, err);
    }
    if (rc) {
        mb_gguf_free(l->g);
        mb_free(l);
        return rc;
    }
    sink += mb_pack_prefault(mb_gguf_bytes(l->g), (size_t)mb_gguf_size(l->g));
    *bytes = mb_gguf_size(l->g);
    *obj = l;
    return 0;
}

static void unload_cb(void *ud, const char *id, void *obj)
{
    (void)ud;
    (void)id;
    struct loaded *l = obj;
    mb_stack_free(l->stack);
    mb_gguf_free(l->g);
    mb_free(l);
}

static void die(const char *what, const struct mb_err *err)
{
    fprintf(stderr, "bench_pack_swap: %s%s%s\n", what, err ? ": " : "", err ? err->msg : "");
    exit(1);
}

/* Drop the file's pages from the page cache. */
static void drop_cache(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        die("cannot open the pack", NULL);
    fdatasync(fd);
    if (posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED))
        die("posix_fadvise DONTNEED failed", NULL);
    close(fd);
}

static bool raw;

/* read() the whole file once; seconds. */
static double raw_read(const char *path)
{
    static char buf[1 << 20];
    uint64_t t0 = mb_now_ns();
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        die("cannot open the pack", NULL);
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        sink += (uint8_t)buf[0];
    if (n < 0)
        die("read failed", NULL);
    close(fd);
    return (double)(mb_now_ns() - t0) / 1e9;
}

static double one(struct mb_pack_cache *c, const char *path, bool cold)
{
    if (cold)
        drop_cache(path);
    if (raw)
        return raw_read(path);
    struct mb_err err;
    mb_err_init(&err);
    void *obj;
    uint64_t t0 = mb_now_ns();
    if (mb_pack_cache_get(c, "pack", &obj, &err))
        die("load", &err);
    uint64_t t1 = mb_now_ns();
    mb_pack_cache_put(c, "pack");
    if (!mb_pack_cache_evict(c, "pack"))
        die("evict failed", NULL);
    return (double)(t1 - t0) / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        die("usage: bench_pack_swap PACK.gguf [--reps N] [--mode cold|warm|both]", NULL);
    const char *path = argv[1];
    uint64_t reps = 5;
    const char *mode = "both";
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            if (!mb_parse_u64(argv[++i], &reps) || !reps || reps > 1000)
                die("--reps must be 1..1000", NULL);
        } else if (!strcmp(argv[i], "--raw")) {
            raw = true;
        } else if (!strcmp(argv[i], "--mode") && i + 1 < argc) {
            mode = argv[++i];
        } else {
            die("unknown option", NULL);
        }
    }
    bool do_cold = !strcmp(mode, "cold") || !strcmp(mode, "both");
    bool do_warm = !strcmp(mode, "warm") || !strcmp(mode, "both");
    struct mb_err err;
    mb_err_init(&err);
    if (mb_backend_cpu_new(NULL, &be, &err))
        die("cpu backend", &err);
    const struct mb_pack_cache_ops ops = { load_cb, unload_cb };
    struct mb_pack_cache *c;
    if (mb_pack_cache_new(&ops, NULL, NULL, &c, &err))
        die("cache", &err);
    if (mb_pack_cache_add(c, "pack", path, 0, false, &err))
        die("add", &err);
    printf("{\"file\": \"%s\", \"reps\": %llu", mb_path_basename(path), (unsigned long long)reps);
    for (int pass = 0; pass < 2; pass++) {
        bool cold = pass == 0;
        if ((cold && !do_cold) || (!cold && !do_warm))
            continue;
        if (!cold)
            one(c, path, false); /* bring the pages in once */
        printf(", \"%s_s\": [", cold ? "cold" : "warm");
        for (uint64_t r = 0; r < reps; r++)
            printf("%s%.6f", r ? ", " : "", one(c, path, cold));
        printf("]");
    }
    printf(", \"sink\": %llu}\n", (unsigned long long)(sink & 1));
    mb_pack_cache_free(c);
    mb_backend_free(be);
    return 0;
}
