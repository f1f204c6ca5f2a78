/*
 * store_cli.h - what the store commands (pack install/remove/upgrade/list/
 * info/export/verify, cache clean) share: opening the store with the
 * "waiting for another modularbase" message, the registries as a store
 * remote, printing and confirming a plan, and running it with progress.
 */
#ifndef MB_CLI_STORE_H
#define MB_CLI_STORE_H

#include "cli.h"
#include "mb_registry.h"

/* The store directory of this invocation (newly allocated; mb_free). */
int mb_cli_store_home(struct mb_ctx *ctx, char **home);

/*
 * Open the store for writing: prints "waiting for another modularbase (pid
 * N) to finish..." before blocking (or fails with exit 8 under no_wait), and
 * a note when an interrupted transaction was finished or rolled back.
 */
int mb_cli_store_open(struct mb_ctx *ctx, bool no_wait, struct mb_store **out);

/*
 * The registry client on `home` as a store remote: the configured registries
 * (if any) and URL downloads, with the multi-file download display (none when
 * quiet). offline: cached files only.
 */
struct mb_cli_remote;
int mb_cli_remote_open(struct mb_ctx *ctx, const char *home, bool offline, bool quiet,
                       struct mb_cli_remote **out);
const struct mb_store_remote *mb_cli_remote_get(const struct mb_cli_remote *r);
/* Whether at least one registry is configured. */
bool mb_cli_remote_has_registries(const struct mb_cli_remote *r);
void mb_cli_remote_free(struct mb_cli_remote *r);

/* Options shared by install, remove and upgrade. */
struct mb_cli_txn_opts {
    bool yes;
    bool dry_run;
    bool json;
    bool no_wait;
    bool offline;
};

/*
 * Print the plan (or, on MB_E_CONFLICT, the explanation), ask for
 * confirmation on a terminal unless --yes, apply it, and print what changed.
 * `rc` is the planner's result. Returns the command's result.
 */
int mb_cli_run_plan(struct mb_ctx *ctx, struct mb_store *st, struct mb_store_plan *plan, int rc,
                    const struct mb_cli_txn_opts *o, const struct mb_store_remote *remote);

/* `pack verify [--repair] [ID...]` (the installed-pack mode of cmd_pack_verify.c). */
int mb_cli_pack_verify_installed(struct mb_ctx *ctx, char **ids, int n, bool json, bool repair);

#endif /* MB_CLI_STORE_H */
