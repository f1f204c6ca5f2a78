/*
 * cmd_status.c - `modularbase status [--json]`: the memory picture of the
 * installed modular setup, like the monitor of the seed's optimisation
 * guide. Per installed pack: kind, whether the runtime pins it (resident),
 * its state (resident / loaded / on disk: live when a running chat or run
 * has written HOME/run/status and is still alive, else "on disk"), the
 * bytes of its weights (the GGUF's tensor data), the bytes of its KV cache
 * at the default context (F16 keys and values for every attention block, as
 * the session allocates them), and when it was last used (HOME/usage). Then
 * the budget: what the base and resident packs need, what the packs loaded
 * on demand need, against --mem-budget (and --vram-budget, the same policy
 * over device memory). Reads only; never takes the store lock.
 */
#include "mb_pack_cache.h"
#include "mb_runtime.h"
#include "store_cli.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

struct row {
    const struct mb_installed_pack *p;
    bool gguf_ok;
    uint64_t weight_bytes;
    uint64_t kv_bytes;
    uint32_t kv_blocks;
    uint64_t ctx_train; /* <arch>.context_length, 0 when absent */
    enum mb_pack_state state;
    bool live;
    const struct mb_pack_cache_stat *stat; /* the live entry, or NULL */
    int64_t last_used;
    uint64_t uses;
    char problem[160]; /* why the GGUF could not be read */
};

/* Weights and per-position KV width of one pack's GGUF. */
static void measure(struct row *r)
{
    if (!r->p->weights) {
        mb_strlcpy(r->problem, "no weights file", sizeof(r->problem));
        return;
    }
    struct mb_gguf *g = NULL;
    struct mb_err err;
    mb_err_init(&err);
    if (mb_gguf_open(&g, r->p->weights, &err)) {
        mb_strlcpy(r->problem, err.msg, sizeof(r->problem));
        return;
    }
    r->gguf_ok = true;
    uint64_t kv_row = 0; /* key elements per position, summed over blocks */
    for (size_t i = 0; i < mb_gguf_tensor_count(g); i++) {
        const struct mb_gguf_tensor *t = mb_gguf_tensor_at(g, i);
        r->weight_bytes += t->nbytes;
        size_t len = strlen(t->name);
        static const char suffix[] = "attn_k.weight";
        if (len >= sizeof(suffix) - 1 && !strcmp(t->name + len - (sizeof(suffix) - 1), suffix) &&
            t->n_dims == 2) {
            kv_row += t->dims[1];
            r->kv_blocks++;
        }
    }
    r->kv_bytes = kv_row; /* scaled by the context later */
    struct mb_str arch;
    if (!mb_gguf_get_str(g, "general.architecture", &arch, NULL) && arch.n < 64) {
        char key[96];
        mb_snprintf(key, sizeof(key), "%.*s.context_length", (int)arch.n, arch.p);
        uint64_t v = 0;
        if (!mb_gguf_get_u64(g, key, &v, NULL))
            r->ctx_train = v;
    }
    mb_gguf_free(g);
}

static bool pid_alive(int64_t pid)
{
    if (pid <= 0 || pid > 0x7fffffff)
        return false;
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

static const char *state_text(const struct row *r)
{
    return mb_pack_state_name(r->state);
}

static void print_json_u64_or_null(bool have, uint64_t v)
{
    if (have)
        printf("%llu", (unsigned long long)v);
    else
        printf("null");
}

static void print_time_json(int64_t t)
{
    char buf[40];
    if (t > 0 && mb_time_format_utc(t, buf, sizeof(buf)))
        printf("\"%s\"", buf);
    else
        printf("null");
}

/* "3 min ago" style for the table. */
static const char *ago(int64_t t, char *buf, size_t cap)
{
    if (t <= 0)
        return "never";
    int64_t d = mb_unix_time() - t;
    if (d < 0)
        d = 0;
    if (d < 120)
        mb_snprintf(buf, cap, "%llds ago", (long long)d);
    else if (d < 7200)
        mb_snprintf(buf, cap, "%lld min ago", (long long)(d / 60));
    else if (d < 172800)
        mb_snprintf(buf, cap, "%lld h ago", (long long)(d / 3600));
    else
        mb_snprintf(buf, cap, "%lld days ago", (long long)(d / 86400));
    return buf;
}

int mb_cmd_status(struct mb_ctx *ctx, int argc, char **argv)
{
    bool json = false;
    uint64_t mem_budget = 0, vram_budget = 0, n_ctx_opt = 0;
    const struct mb_opt opts[] = {
        { "json", 0, MB_OPT_FLAG, &json, NULL, "print as JSON" },
        { "mem-budget", 0, MB_OPT_SIZE, &mem_budget, "BYTES",
          "check the picture against this host memory budget (512M, 2G)" },
        { "vram-budget", 0, MB_OPT_SIZE, &vram_budget, "BYTES",
          "check it against this device memory budget too" },
        { "ctx", 0, MB_OPT_UINT, &n_ctx_opt, "N",
          "context for the KV figures (default: the base's, capped at 4096)" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase status [--json] [--mem-budget BYTES] [--vram-budget BYTES] [--ctx N]",
        "Show the memory picture of the installed modular setup: for every installed pack its "
        "kind, whether the runtime keeps it resident, its state (resident, loaded or on disk; "
        "live while a chat is running), the bytes of its weights and of its KV cache at the "
        "default context, and when it was last used; then what the base and resident packs "
        "need against the memory budget. Reads only; never waits for a running install.",
        "modularbase status\nmodularbase status --mem-budget 512M --json",
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        return rc;
    if (npos)
        return mb_usage_error(ctx, "'status' takes no arguments");
    if (n_ctx_opt > (1u << 24))
        return mb_usage_error(ctx, "--ctx %llu is too large", (unsigned long long)n_ctx_opt);

    char *home = NULL;
    rc = mb_cli_store_home(ctx, &home);
    if (rc)
        return rc;
    struct mb_installed in;
    memset(&in, 0, sizeof(in));
    struct mb_pack_usage *usage = NULL;
    size_t nusage = 0;
    struct mb_pack_status live;
    memset(&live, 0, sizeof(live));
    struct row *rows = NULL;
    rc = mb_store_installed_load(home, &in, &ctx->err);
    if (rc)
        goto out;
    struct mb_err uerr;
    mb_err_init(&uerr);
    if (mb_pack_usage_load(home, &usage, &nusage, &uerr))
        mb_cli_warn(ctx, "%s", uerr.msg);
    bool running = false;
    struct mb_err serr;
    mb_err_init(&serr);
    int src = mb_pack_status_read(home, &live, &serr);
    if (src == 0)
        running = pid_alive(live.pid);
    else if (src != MB_E_NOTFOUND)
        mb_cli_warn(ctx, "%s", serr.msg);

    rows = mb_calloc(in.n ? in.n : 1, sizeof(*rows));
    if (!rows) {
        rc = mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
        goto out;
    }
    uint64_t n_ctx = n_ctx_opt;
    const struct mb_installed_pack *base = NULL;
    for (size_t i = 0; i < in.n; i++) {
        struct row *r = &rows[i];
        r->p = &in.v[i];
        measure(r);
        if (r->p->kind == MB_PACK_BASE && !base) {
            base = r->p;
            if (!n_ctx && r->ctx_train)
                n_ctx = MB_MIN(r->ctx_train, (uint64_t)MB_SESSION_DEFAULT_CTX_CAP);
        }
        for (size_t j = 0; j < nusage; j++)
            if (!strcmp(usage[j].id, r->p->id)) {
                r->last_used = usage[j].last_used;
                r->uses = usage[j].uses;
            }
        r->state = MB_PACK_ON_DISK;
        if (running)
            for (size_t j = 0; j < live.n; j++)
                if (!strcmp(live.packs[j].id, r->p->id)) {
                    r->stat = &live.packs[j];
                    r->state = live.packs[j].state;
                    r->live = true;
                    if (live.packs[j].last_used > r->last_used)
                        r->last_used = live.packs[j].last_used;
                }
    }
    if (!n_ctx)
        n_ctx = MB_SESSION_DEFAULT_CTX_CAP;

    /* KV: keys and values, F16, n_ctx positions; and the budget picture. */
    uint64_t res_w = 0, res_kv = 0, dem_w = 0, dem_kv = 0, dem_max = 0;
    size_t ndemand = 0;
    for (size_t i = 0; i < in.n; i++) {
        struct row *r = &rows[i];
        uint64_t kv;
        if (!mb_mul_u64_ok(r->kv_bytes, n_ctx * 2u * 2u, &kv))
            kv = UINT64_MAX;
        r->kv_bytes = kv;
        if (r->p->resident) {
            res_w += r->weight_bytes;
            res_kv += r->kv_bytes;
        } else {
            ndemand++;
            dem_w += r->weight_bytes;
            dem_kv += r->kv_bytes;
            dem_max = MB_MAX(dem_max, r->weight_bytes + r->kv_bytes);
        }
    }
    uint64_t res_total = res_w + res_kv;
    uint64_t budget = mem_budget ? mem_budget : (running ? live.totals.budget : 0);

    if (json) {
        printf("{\"home\": ");
        mb_cli_json_string(stdout, home);
        printf(", \"running\": ");
        if (running) {
            printf("{\"pid\": %lld, \"updated\": ", (long long)live.pid);
            print_time_json(live.updated);
            printf(", \"used\": %llu, \"budget\": %llu, \"preloads_skipped\": %llu}",
                   (unsigned long long)live.totals.used, (unsigned long long)live.totals.budget,
                   (unsigned long long)live.totals.preloads_skipped);
        } else {
            printf("null");
        }
        printf(", \"n_ctx\": %llu, \"kv_type\": \"f16\", \"base\": ", (unsigned long long)n_ctx);
        if (base)
            mb_cli_json_string(stdout, base->id);
        else
            printf("null");
        printf(",\n \"memory\": {\"resident_weights\": %llu, \"resident_kv\": %llu, "
               "\"resident_total\": %llu, \"on_demand_packs\": %zu, \"on_demand_weights\": %llu, "
               "\"on_demand_kv\": %llu, \"largest_on_demand\": %llu, \"mem_budget\": ",
               (unsigned long long)res_w, (unsigned long long)res_kv, (unsigned long long)res_total,
               ndemand, (unsigned long long)dem_w, (unsigned long long)dem_kv,
               (unsigned long long)dem_max);
        print_json_u64_or_null(budget != 0, budget);
        printf(", \"vram_budget\": ");
        print_json_u64_or_null(vram_budget != 0, vram_budget);
        printf(", \"fits\": ");
        if (budget)
            printf("%s", res_total + dem_max <= budget ? "true" : "false");
        else
            printf("null");
        printf("},\n \"packs\": [");
        for (size_t i = 0; i < in.n; i++) {
            const struct row *r = &rows[i];
            printf("%s\n  {\"id\": ", i ? "," : "");
            mb_cli_json_string(stdout, r->p->id);
            printf(", \"version\": ");
            mb_cli_json_string(stdout, r->p->version);
            printf(", \"kind\": \"%s\", \"resident\": %s, \"state\": \"%s\", \"live\": %s, "
                   "\"file_bytes\": %llu, \"weights_bytes\": ",
                   mb_pack_kind_name(r->p->kind), r->p->resident ? "true" : "false", state_text(r),
                   r->live ? "true" : "false", (unsigned long long)r->p->size);
            print_json_u64_or_null(r->gguf_ok, r->weight_bytes);
            printf(", \"kv_bytes\": ");
            print_json_u64_or_null(r->gguf_ok, r->kv_bytes);
            printf(", \"attention_blocks\": %u, \"last_used\": ", r->kv_blocks);
            print_time_json(r->last_used);
            printf(", \"uses\": %llu", (unsigned long long)r->uses);
            if (r->stat)
                printf(", \"hits\": %llu, \"misses\": %llu, \"loads\": %llu, \"evictions\": "
                       "%llu, \"preloads\": %llu",
                       (unsigned long long)r->stat->hits, (unsigned long long)r->stat->misses,
                       (unsigned long long)r->stat->loads, (unsigned long long)r->stat->evictions,
                       (unsigned long long)r->stat->preloads);
            if (!r->gguf_ok) {
                printf(", \"problem\": ");
                mb_cli_json_string(stdout, r->problem);
            }
            printf("}");
        }
        printf("%s]}\n", in.n ? "\n" : "");
        goto out;
    }

    if (in.n == 0) {
        printf("No packs installed. Try 'modularbase pack install general'.\n");
        goto out;
    }
    char a[32], b[32], c[32], d[32];
    if (running)
        printf("Runtime: running (pid %lld, %s): states are live\n", (long long)live.pid,
               ago(live.updated, a, sizeof(a)));
    else
        printf("Runtime: not running: every pack is on disk; resident packs load at start\n");
    printf("%-20s %-10s %-6s %-3s %-9s %10s %12s  %s\n", "ID", "VERSION", "KIND", "RES", "STATE",
           "WEIGHTS", "KV", "LAST USED");
    for (size_t i = 0; i < in.n; i++) {
        const struct row *r = &rows[i];
        char kvcol[40];
        if (r->gguf_ok && r->kv_blocks)
            mb_format_size(r->kv_bytes, kvcol, sizeof(kvcol));
        else
            mb_strlcpy(kvcol, r->gguf_ok ? "-" : "?", sizeof(kvcol));
        printf("%-20s %-10s %-6s %-3s %-9s %10s %12s  %s\n", r->p->id, r->p->version,
               mb_pack_kind_name(r->p->kind), r->p->resident ? "yes" : "no", state_text(r),
               r->gguf_ok ? mb_format_size(r->weight_bytes, a, sizeof(a)) : "?", kvcol,
               ago(r->last_used, b, sizeof(b)));
    }
    for (size_t i = 0; i < in.n; i++)
        if (!rows[i].gguf_ok)
            mb_cli_warn(ctx, "pack '%s': %s", rows[i].p->id, rows[i].problem);
    printf("\nKV cache: F16 at %llu positions\n", (unsigned long long)n_ctx);
    printf("Resident: %s (weights %s + KV %s)\n", mb_format_size(res_total, a, sizeof(a)),
           mb_format_size(res_w, b, sizeof(b)), mb_format_size(res_kv, c, sizeof(c)));
    printf("On demand: %zu pack%s, %s in all, the largest %s\n", ndemand, ndemand == 1 ? "" : "s",
           mb_format_size(dem_w + dem_kv, a, sizeof(a)), mb_format_size(dem_max, b, sizeof(b)));
    if (running)
        printf("Cache now: %s used of %s\n", mb_format_size(live.totals.used, a, sizeof(a)),
               live.totals.budget ? mb_format_size(live.totals.budget, b, sizeof(b)) : "no budget");
    if (budget) {
        if (res_total > budget)
            printf("Budget %s: too small: the base and resident packs alone need %s\n",
                   mb_format_size(budget, a, sizeof(a)), mb_format_size(res_total, b, sizeof(b)));
        else
            printf("Budget %s: %s left for packs on demand (%s)\n",
                   mb_format_size(budget, a, sizeof(a)),
                   mb_format_size(budget - res_total, b, sizeof(b)),
                   res_total + dem_max <= budget ? "the largest fits" : "the largest does not fit");
    } else {
        printf("Budget: none (set one with --mem-budget)\n");
    }
    if (vram_budget)
        printf("VRAM budget %s: %s\n", mb_format_size(vram_budget, c, sizeof(c)),
               res_total <= vram_budget ? mb_format_size(vram_budget - res_total, d, sizeof(d))
                                        : "too small for the base and resident packs");
out:
    mb_free(rows);
    mb_pack_status_release(&live);
    mb_free(usage);
    mb_installed_release(&in);
    mb_free(home);
    return rc;
}
