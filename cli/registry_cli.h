/*
 * registry_cli.h - what the registry commands (cmd_registry_*.c,
 * cmd_pack_publish.c) share: opening the registry client on the store home,
 * loading maintainer secret keys from repeated --key options, the options for
 * network behaviour, and the multi-file download display (per file and total,
 * bytes/s and ETA on a terminal; plain lines otherwise). `pack install` can use
 * the display too.
 */
#ifndef MB_CLI_REGISTRY_H
#define MB_CLI_REGISTRY_H

#include "cli.h"
#include "cli_keys.h"
#include "mb_registry.h"

/* Network options every registry command accepts (fill, then pass to mb_cli_client_open). */
struct mb_cli_net {
    uint64_t jobs;
    uint64_t limit_rate;
    uint64_t retries; /* UINT64_MAX = not given (MB_CLI_NET_INIT) */
    bool offline;
    const char *token;
    uint64_t timeout; /* seconds without a byte before a retry (0 = the default, 30) */
};

#define MB_CLI_NET_INIT                  \
    {                                    \
        0, 0, UINT64_MAX, false, NULL, 0 \
    }

/* Option rows for struct mb_cli_net (jobs, limit-rate, retries, timeout); splice into a table. */
#define MB_CLI_NET_OPTS(net)                                                                 \
    { "jobs", 'j', MB_OPT_UINT, &(net).jobs, "N", "parallel transfers (default 4)" },        \
        { "limit-rate",      0,      MB_OPT_SIZE,                                            \
          &(net).limit_rate, "RATE", "at most RATE bytes/s over all transfers (e.g. 10M)" }, \
        { "retries",      0,   MB_OPT_UINT,                                                  \
          &(net).retries, "N", "extra attempts on 5xx, timeouts and resets (default 3)" },   \
    {                                                                                        \
        "timeout", 0, MB_OPT_UINT, &(net).timeout, "SECONDS",                                \
            "retry a transfer after SECONDS without a byte (default 30)"                     \
    }

/*
 * Open the client on the store home (--home, $MODULARBASE_HOME, or the XDG
 * default). `net` may be NULL. The token comes from net->token, else
 * $MODULARBASE_TOKEN.
 */
int mb_cli_client_open(struct mb_ctx *ctx, const struct mb_cli_net *net, struct mb_client **out);

/*
 * Load every secret key named by `specs` (key names or secret key files; none
 * = the default key) into keys[] (free each with mb_sign_seckey_free).
 */
int mb_cli_load_seckeys(struct mb_ctx *ctx, const struct mb_strvec *specs,
                        const char *password_file, struct mb_seckey **keys, size_t *nkeys);
void mb_cli_free_seckeys(struct mb_seckey **keys, size_t n);

/* "2026-01-31 12:00 UTC (in 6 days)" */
void mb_cli_format_expiry(int64_t t, char *buf, size_t cap);

/* ----------------------------------------------------------- download display */

struct mb_cli_dlprogress {
    struct mb_ctx *ctx;
    int drawn;           /* lines drawn by the last redraw (terminal) */
    unsigned char *seen; /* plain mode: last quarter printed + 1, per file; 255 = finished */
    size_t nseen;
    bool quiet;
};
void mb_cli_dlprogress_init(struct mb_cli_dlprogress *p, struct mb_ctx *ctx, bool quiet);
struct mb_download_progress mb_cli_dlprogress_cb(struct mb_cli_dlprogress *p);
void mb_cli_dlprogress_release(struct mb_cli_dlprogress *p);

#endif /* MB_CLI_REGISTRY_H */
