/*
 * term.c - terminal output shared by commands: the progress display (a bar
 * with rate and ETA on a terminal, sparse plain lines otherwise), warnings and
 * notes in the house format, and JSON string escaping for --json output.
 */
#include "cli.h"

#include <sys/ioctl.h>
#include <unistd.h>

void mb_cli_warn(struct mb_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "%swarning:%s ", ctx->color ? "\033[1;33m" : "", ctx->color ? "\033[0m" : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void mb_cli_note(struct mb_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    (void)ctx;
    fflush(stdout);
    fprintf(stderr, "note: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void mb_cli_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

static int term_width(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
        return ws.ws_col;
    return 80;
}

/* "1:05" / "1:02:03" */
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

static void progress_fn(void *ud, const char *label, uint64_t done, uint64_t total)
{
    struct mb_cli_progress *p = ud;
    uint64_t now = mb_now_ns();
    bool new_label = !p->active || strcmp(p->label, label ? label : "");
    if (new_label) {
        if (p->active)
            mb_cli_progress_done(p);
        mb_strlcpy(p->label, label ? label : "", sizeof(p->label));
        p->start_ns = now;
        p->last_ns = 0;
        p->last_pct = -1;
        p->active = true;
    }
    p->last_done = done;
    double elapsed = (double)(now - p->start_ns) / 1e9;
    double rate = elapsed > 0 ? (double)done / elapsed : 0;
    int pct = total ? (int)(100.0 * (double)done / (double)total) : -1;
    bool finished = total && done >= total;

    if (!p->ctx->stderr_tty) {
        /* Plain lines: the start, every 25%, and the end. */
        if (new_label) {
            char sz[32];
            fprintf(stderr, "%s: %s\n", p->label,
                    total ? mb_format_size(total, sz, sizeof(sz)) : "started");
        } else if (finished || (pct >= 0 && pct / 25 > p->last_pct / 25 && pct < 100)) {
            fprintf(stderr, "%s: %d%%\n", p->label, pct);
        }
        p->last_pct = pct;
        return;
    }
    if (!finished && p->last_ns && now - p->last_ns < 100000000ull)
        return; /* redraw at most 10 times a second */
    p->last_ns = now;
    p->last_pct = pct;

    char done_s[32], total_s[32], rate_s[32], eta[16], right[160];
    mb_format_size(done, done_s, sizeof(done_s));
    mb_format_size((uint64_t)rate, rate_s, sizeof(rate_s));
    if (total) {
        mb_format_size(total, total_s, sizeof(total_s));
        fmt_eta(rate > 0 ? (double)(total - MB_MIN(done, total)) / rate : -1, eta, sizeof(eta));
        snprintf(right, sizeof(right), " %3d%% %s/%s %s/s ETA %s", pct, done_s, total_s, rate_s,
                 eta);
    } else {
        snprintf(right, sizeof(right), " %s %s/s", done_s, rate_s);
    }
    int width = term_width();
    int label_w = MB_MIN((int)strlen(p->label), width / 3);
    int bar_w = width - label_w - (int)strlen(right) - 5;
    fprintf(stderr, "\r%.*s ", label_w, p->label);
    if (bar_w >= 10 && total) {
        int fill = (int)((double)bar_w * (double)MB_MIN(done, total) / (double)total);
        fputc('[', stderr);
        for (int k = 0; k < bar_w; k++)
            fputc(k < fill ? '=' : (k == fill ? '>' : ' '), stderr);
        fputc(']', stderr);
    }
    fputs(right, stderr);
    fputs("\033[K", stderr);
    fflush(stderr);
}

void mb_cli_progress_init(struct mb_cli_progress *p, struct mb_ctx *ctx)
{
    memset(p, 0, sizeof(*p));
    p->ctx = ctx;
}

struct mb_progress mb_cli_progress_cb(struct mb_cli_progress *p)
{
    struct mb_progress cb = { progress_fn, p };
    return cb;
}

void mb_cli_progress_done(struct mb_cli_progress *p)
{
    if (p->active && p->ctx->stderr_tty)
        fputc('\n', stderr);
    p->active = false;
}
