/*
 * bench_gpu.c - the runtime's speed on one model with llama-bench's
 * conventions (scripts/bench/gpu.sh runs it next to llama-bench on the same
 * files): pp = a prompt of N tokens in one batch from an empty cache, tg = M
 * single-token steps from an empty cache with pseudo-random ids, each step
 * bringing its logits back to the host; one warm-up run each, then the mean
 * of --reps runs. Also: tg with only the best candidate brought back (what
 * greedy generation does), the device's copy bandwidth (the ceiling decode
 * is compared against), a pack-sized upload against plain cudaMemcpy, and
 * the backend's peak memory for a default chat session.
 *
 *   bench_gpu MODEL.gguf [--device cuda|cpu] [--pp 512] [--tg 128] [--reps 5]
 *             [--copy-mb 100] [--threads N] [--no-graphs] [--peak-ctx 4096]
 *
 * Prints one JSON object on stdout.
 */
#include "mb_runtime.h"

#include <math.h>

static void die(const char *what, const struct mb_err *err)
{
    fprintf(stderr, "bench_gpu: %s%s%s\n", what, err ? ": " : "", err ? err->msg : "");
    exit(1);
}

static uint64_t arg_u64(const char *s, const char *name)
{
    uint64_t v;
    if (!mb_parse_u64(s, &v))
        die(name, NULL);
    return v;
}

struct stats {
    double mean, sd;
};

static struct stats summarize(const double *v, int n)
{
    struct stats s = { 0, 0 };
    for (int i = 0; i < n; i++)
        s.mean += v[i];
    s.mean /= n;
    for (int i = 0; i < n; i++)
        s.sd += (v[i] - s.mean) * (v[i] - s.mean);
    s.sd = n > 1 ? sqrt(s.sd / (n - 1)) : 0;
    return s;
}

static uint32_t lcg = 12345;
static int32_t next_id(size_t n_vocab)
{
    lcg = lcg * 1103515245u + 12345u;
    return (int32_t)((lcg >> 8) % n_vocab);
}

/* tokens/s of one prompt of n tokens from an empty cache */
static double run_pp(struct mb_session *s, const int32_t *ids, size_t n)
{
    struct mb_err err;
    mb_session_reset(s);
    uint64_t t0 = mb_now_ns();
    if (mb_session_eval(s, ids, n, NULL, &err))
        die("prompt", &err);
    return (double)n * 1e9 / (double)(mb_now_ns() - t0);
}

/* tokens/s of n single-token steps from an empty cache (top > 0: candidates only) */
static double run_tg(struct mb_session *s, size_t n, size_t top)
{
    struct mb_err err;
    mb_session_reset(s);
    const size_t n_vocab = mb_session_n_vocab(s);
    uint64_t t0 = mb_now_ns();
    for (size_t i = 0; i < n; i++) {
        int32_t id = next_id(n_vocab);
        int rc = top ? mb_session_eval_top(s, &id, 1, top, &err)
                     : mb_session_eval(s, &id, 1, NULL, &err);
        if (rc)
            die("decode", &err);
    }
    return (double)n * 1e9 / (double)(mb_now_ns() - t0);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help")) {
        fprintf(stderr, "usage: bench_gpu MODEL.gguf [--device cuda|cpu] [--pp N] [--tg N] "
                        "[--reps N] [--copy-mb N] [--threads N] [--no-graphs] [--peak-ctx N]\n");
        return 2;
    }
    const char *path = argv[1], *device = "cuda";
    size_t pp = 512, tg = 128, copy_mb = 100, peak_ctx = 4096;
    int reps = 5;
    unsigned threads = 0;
    bool graphs = true;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--no-graphs")) {
            graphs = false;
            continue;
        }
        if (!v)
            die(a, NULL);
        if (!strcmp(a, "--device"))
            device = v;
        else if (!strcmp(a, "--pp"))
            pp = (size_t)arg_u64(v, a);
        else if (!strcmp(a, "--tg"))
            tg = (size_t)arg_u64(v, a);
        else if (!strcmp(a, "--reps"))
            reps = (int)arg_u64(v, a);
        else if (!strcmp(a, "--copy-mb"))
            copy_mb = (size_t)arg_u64(v, a);
        else if (!strcmp(a, "--threads"))
            threads = (unsigned)arg_u64(v, a);
        else if (!strcmp(a, "--peak-ctx"))
            peak_ctx = (size_t)arg_u64(v, a);
        else
            die(a, NULL);
        i++;
    }
    if (reps < 1 || reps > 50 || pp == 0 || tg == 0)
        die("--reps 1..50, --pp and --tg >= 1", NULL);
    struct mb_err err;
    struct mb_backend *be = NULL;
    const bool cuda = !strcmp(device, "cuda");
    if (cuda) {
        struct mb_cuda_opts o;
        mb_cuda_opts_init(&o);
        o.no_graphs = !graphs;
        if (mb_backend_cuda_new(&o, &be, &err))
            die("cuda backend", &err);
        if (mb_backend_cuda_load_cublas(be, &err))
            fprintf(stderr, "bench_gpu: %s\n", err.msg);
    } else {
        struct mb_cpu_opts o = { 0 };
        o.n_threads = threads;
        if (mb_backend_cpu_new(&o, &be, &err))
            die("cpu backend", &err);
    }
    uint64_t t0 = mb_now_ns();
    struct mb_model *m;
    if (mb_model_load(path, be, &m, &err))
        die("load", &err);
    const double load_s = (double)(mb_now_ns() - t0) / 1e9;
    struct mb_session_opts so;
    mb_session_opts_init(&so);
    so.n_ctx = pp + tg + 16;
    so.n_batch = pp;
    struct mb_session *s;
    if (mb_session_new(m, &so, &s, &err))
        die("session", &err);
    const size_t n_vocab = mb_session_n_vocab(s);
    int32_t *ids = mb_malloc(pp * sizeof(int32_t));
    if (!ids)
        die("out of memory", NULL);
    for (size_t i = 0; i < pp; i++)
        ids[i] = next_id(n_vocab);

    double v[50];
    run_pp(s, ids, pp); /* warm-up */
    for (int r = 0; r < reps; r++)
        v[r] = run_pp(s, ids, pp);
    struct stats spp = summarize(v, reps);
    run_tg(s, 4, 0); /* warm-up: eager step, graph recorded, replayed */
    for (int r = 0; r < reps; r++)
        v[r] = run_tg(s, tg, 0);
    struct stats stg = summarize(v, reps);
    run_tg(s, 4, 1);
    for (int r = 0; r < reps; r++)
        v[r] = run_tg(s, tg, 1);
    struct stats stg1 = summarize(v, reps);
    const uint64_t wbytes = mb_model_weight_bytes(m);

    printf("{\"model\": \"%s\", \"backend\": \"%s\", \"graphs\": %s, \"load_s\": %.3f, ",
           mb_path_basename(path), be->name, cuda && graphs ? "true" : "false", load_s);
    printf("\"weight_bytes_per_token\": %llu, \"pp\": %zu, \"pp_tps\": %.2f, \"pp_tps_sd\": %.2f, ",
           (unsigned long long)wbytes, pp, spp.mean, spp.sd);
    printf("\"tg\": %zu, \"tg_tps\": %.2f, \"tg_tps_sd\": %.2f, \"tg_top1_tps\": %.2f, "
           "\"reps\": %d",
           tg, stg.mean, stg.sd, stg1.mean, reps);
    if (cuda) {
        struct mb_cuda_info ci;
        if (mb_backend_cuda_info(be, &ci, &err))
            die("info", &err);
        printf(", \"device\": \"%s\", \"sm_count\": %d, \"cublas\": %s, \"graph_launches\": %llu",
               ci.device_name, ci.sm_count, ci.cublas ? "true" : "false",
               (unsigned long long)ci.graph_launches);
        struct mb_cuda_copy_times big, pack;
        if (mb_backend_cuda_bench_copies(be, (size_t)1 << 30, 10, &big, &err))
            die("bandwidth", &err);
        const double bw = big.d2d_gbps;
        printf(", \"d2d_copy_gbps\": %.1f, \"tg_bw_fraction\": %.4f, \"tg_top1_bw_fraction\": %.4f",
               bw, (double)wbytes * stg.mean / (bw * 1e9), (double)wbytes * stg1.mean / (bw * 1e9));
        if (copy_mb) {
            const size_t n = copy_mb << 20;
            if (mb_backend_cuda_bench_copies(be, n, 10, &pack, &err))
                die("copies", &err);
            printf(", \"pack_bytes\": %zu, \"pack_upload_ms\": %.3f, \"memcpy_pageable_ms\": %.3f, "
                   "\"memcpy_pinned_ms\": %.3f, \"upload_vs_pageable\": %.3f, "
                   "\"upload_vs_pinned\": %.3f",
                   n, pack.upload_ms, pack.h2d_pageable_ms, pack.h2d_pinned_ms,
                   pack.upload_ms / pack.h2d_pageable_ms, pack.upload_ms / pack.h2d_pinned_ms);
        }
        /* peak memory of the model with a default chat session after a prompt */
        mb_session_free(s);
        s = NULL;
        mb_backend_cuda_reset_peak(be);
        so.n_ctx = peak_ctx;
        so.n_batch = 0;
        if (mb_session_new(m, &so, &s, &err))
            die("session", &err);
        if (mb_session_eval(s, ids, MB_MIN(pp, peak_ctx), NULL, &err))
            die("prompt", &err);
        for (int i = 0; i < 8; i++) {
            int32_t id = next_id(n_vocab);
            if (mb_session_eval(s, &id, 1, NULL, &err))
                die("decode", &err);
        }
        if (mb_backend_cuda_info(be, &ci, &err))
            die("info", &err);
        printf(", \"peak_ctx\": %zu, \"vram_peak_bytes\": %llu, \"vram_device_used_bytes\": %llu",
               peak_ctx, (unsigned long long)ci.peak,
               (unsigned long long)(ci.vram_total - ci.vram_free));
    }
    printf("}\n");
    mb_session_free(s);
    mb_model_free(m);
    mb_backend_free(be);
    mb_free(ids);
    return 0;
}
