/*
 * registry_cli.c - helpers of the registry commands (registry_cli.h): opening
 * the client on the store home, loading maintainer keys, expiry formatting,
 * and the multi-file download display: on a terminal a block of lines (one
 * per transfer in progress, then a total with bytes/s and ETA) redrawn at most
 * ten times a second; otherwise plain lines when a file starts, at each
 * quarter, and when it ends.
 */
#include "registry_cli.h"

#include <sys/ioctl.h>
#include <unistd.h>

int mb_cli_client_open(struct mb_ctx *ctx, const struct mb_cli_net *net, struct mb_client **out)
{
    char *home = NULL;
    int rc = mb_home_resolve(ctx->home, &home, &ctx->err);
    if (rc)
        return rc;
    const char *tok = net && net->token ? net->token : getenv("MODULARBASE_TOKEN");
    struct mb_client_opts o;
    memset(&o, 0, sizeof(o));
    o.home = home;
    if (net) {
        if (net->jobs > 64)
            rc = mb_usage_error(ctx, "--jobs: at most 64");
        o.jobs = (unsigned)net->jobs;
        o.limit_rate = net->limit_rate;
        if (net->retries != UINT64_MAX)
            o.retries = net->retries == 0 ? MB_RETRIES_NONE : (unsigned)MB_MIN(net->retries, 20u);
        o.offline = net->offline;
        if (net->timeout > 3600)
            rc = mb_usage_error(ctx, "--timeout: at most 3600 seconds");
        o.stall_timeout = (unsigned)net->timeout;
    }
    o.token = tok && *tok ? tok : NULL;
    if (!rc)
        rc = mb_client_open(&o, out, &ctx->err);
    mb_free(home);
    return rc;
}

int mb_cli_load_seckeys(struct mb_ctx *ctx, const struct mb_strvec *specs,
                        const char *password_file, struct mb_seckey **keys, size_t *nkeys)
{
    *nkeys = 0;
    size_t n = specs->n ? specs->n : 1;
    if (n > MB_REGISTRY_MAX_KEYS)
        return mb_usage_error(ctx, "at most %d --key options", MB_REGISTRY_MAX_KEYS);
    for (size_t i = 0; i < n; i++) {
        const char *k = specs->n ? specs->v[i] : NULL;
        bool is_file = k && (strchr(k, '/') || mb_path_exists(k));
        int rc = mb_cli_seckey_load(ctx, is_file ? NULL : k, is_file ? k : NULL, password_file,
                                    &keys[i]);
        if (rc) {
            mb_cli_free_seckeys(keys, *nkeys);
            *nkeys = 0;
            return rc;
        }
        (*nkeys)++;
    }
    return 0;
}

void mb_cli_free_seckeys(struct mb_seckey **keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        mb_sign_seckey_free(keys[i]);
        keys[i] = NULL;
    }
}

void mb_cli_format_expiry(int64_t t, char *buf, size_t cap)
{
    char ts[32];
    if (!mb_time_format_utc(t, ts, sizeof(ts))) {
        snprintf(buf, cap, "?");
        return;
    }
    int64_t d = t - mb_unix_time();
    if (d < 0)
        snprintf(buf, cap, "%s (expired)", ts);
    else if (d < 3600)
        snprintf(buf, cap, "%s (in %lld min)", ts, (long long)(d / 60));
    else if (d < 2 * 86400)
        snprintf(buf, cap, "%s (in %lld h)", ts, (long long)(d / 3600));
    else
        snprintf(buf, cap, "%s (in %lld days)", ts, (long long)((d + 43200) / 86400));
}

/* ----------------------------------------------------------- download display */

static int term_cols(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
        return ws.ws_col;
    return 80;
}

static void fmt_eta(double secs, char *buf, size_t cap)
{
    if (secs < 0 || secs > 360000) {
        snprintf(buf, cap, "--:--");
        return;
    }
    unsigned s = (unsigned)(secs + 0.5);
    if (s >= 3600)
        snprintf(buf, cap, "%u:%02u:%02u", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, cap, "%u:%02u", s / 60, s % 60);
}

static const char *state_word(enum mb_download_state s)
{
    switch (s) {
    case MB_DL_QUEUED:
        return "queued";
    case MB_DL_ACTIVE:
        return "";
    case MB_DL_RETRYING:
        return "retrying";
    case MB_DL_VERIFYING:
        return "verifying";
    case MB_DL_DONE:
        return "done";
    case MB_DL_FAILED:
        return "failed";
    }
    return "";
}

static void draw_tty(struct mb_cli_dlprogress *p, const struct mb_download_status *st)
{
    int cols = term_cols();
    if (p->drawn)
        fprintf(stderr, "\033[%dA", p->drawn);
    int lines = 0;
    size_t ndone = 0, shown = 0;
    for (size_t i = 0; i < st->nfiles; i++) {
        const struct mb_download_file_status *f = &st->files[i];
        if (f->state == MB_DL_DONE || f->state == MB_DL_FAILED) {
            ndone++;
            continue;
        }
        if (f->state == MB_DL_QUEUED || shown >= 8 || st->final)
            continue;
        shown++;
        char a[32], b[32], right[96];
        mb_format_size(f->done, a, sizeof(a));
        mb_format_size(f->total, b, sizeof(b));
        int pct = f->total ? (int)(100.0 * (double)f->done / (double)f->total) : 0;
        snprintf(right, sizeof(right), " %3d%% %s/%s %s", pct, a, b, state_word(f->state));
        int label_w = MB_MIN((int)strlen(f->label), cols / 3);
        int bar_w = cols - label_w - (int)strlen(right) - 6;
        fprintf(stderr, "\r  %-*.*s ", label_w, label_w, f->label);
        if (bar_w >= 10 && f->total) {
            int fill = (int)((double)bar_w * (double)MB_MIN(f->done, f->total) / (double)f->total);
            fputc('[', stderr);
            for (int k = 0; k < bar_w; k++)
                fputc(k < fill ? '=' : (k == fill ? '>' : ' '), stderr);
            fputc(']', stderr);
        }
        fputs(right, stderr);
        fputs("\033[K\n", stderr);
        lines++;
    }
    char a[32], b[32], r[32], eta[16];
    mb_format_size(st->done, a, sizeof(a));
    mb_format_size(st->total, b, sizeof(b));
    mb_format_size((uint64_t)st->rate, r, sizeof(r));
    fmt_eta(st->eta_s, eta, sizeof(eta));
    fprintf(stderr, "\r  total: %zu/%zu files, %s/%s, %s/s, ETA %s\033[K\n", ndone, st->nfiles, a,
            b, r, st->final ? "0:00" : eta);
    lines++;
    fputs("\033[J", stderr); /* clear what a taller previous block left */
    fflush(stderr);
    p->drawn = st->final ? 0 : lines;
}

static void draw_plain(struct mb_cli_dlprogress *p, const struct mb_download_status *st)
{
    if (p->nseen < st->nfiles) {
        unsigned char *v = mb_reallocarray(p->seen, st->nfiles, 1);
        if (!v)
            return;
        memset(v + p->nseen, 0, st->nfiles - p->nseen);
        p->seen = v;
        p->nseen = st->nfiles;
    }
    for (size_t i = 0; i < st->nfiles; i++) {
        const struct mb_download_file_status *f = &st->files[i];
        char sz[32];
        mb_format_size(f->total, sz, sizeof(sz));
        if (p->seen[i] == 255)
            continue;
        if (f->state == MB_DL_DONE || f->state == MB_DL_FAILED) {
            fprintf(stderr, "%s %s (%s)\n", f->state == MB_DL_DONE ? "fetched" : "failed", f->label,
                    sz);
            p->seen[i] = 255;
            continue;
        }
        if (f->state == MB_DL_QUEUED)
            continue;
        if (p->seen[i] == 0) {
            fprintf(stderr, "fetching %s (%s)\n", f->label, sz);
            p->seen[i] = 1;
        }
        unsigned q = f->total ? (unsigned)(4.0 * (double)f->done / (double)f->total) : 0;
        if (q >= 1 && q <= 3 && q + 1 > p->seen[i]) {
            fprintf(stderr, "  %s: %u%%\n", f->label, q * 25);
            p->seen[i] = (unsigned char)(q + 1);
        }
    }
    if (st->final && st->nfiles > 1) {
        char a[32], r[32];
        mb_format_size(st->done, a, sizeof(a));
        double secs = (double)st->elapsed_ns / 1e9;
        mb_format_size(secs > 0 ? (uint64_t)((double)st->done / secs) : 0, r, sizeof(r));
        fprintf(stderr, "total: %s in %.1f s (%s/s)\n", a, secs, r);
    }
}

static void dl_fn(void *ud, const struct mb_download_status *st)
{
    struct mb_cli_dlprogress *p = ud;
    if (p->quiet)
        return;
    if (p->ctx->stderr_tty)
        draw_tty(p, st);
    else
        draw_plain(p, st);
}

void mb_cli_dlprogress_init(struct mb_cli_dlprogress *p, struct mb_ctx *ctx, bool quiet)
{
    memset(p, 0, sizeof(*p));
    p->ctx = ctx;
    p->quiet = quiet;
}

struct mb_download_progress mb_cli_dlprogress_cb(struct mb_cli_dlprogress *p)
{
    struct mb_download_progress cb = { dl_fn, p };
    return cb;
}

void mb_cli_dlprogress_release(struct mb_cli_dlprogress *p)
{
    mb_free(p->seen);
    p->seen = NULL;
    p->nseen = 0;
}
