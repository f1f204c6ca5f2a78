/*
 * cli.h - the command-line layer: the dispatch table, the shared context, the
 * option parser every command uses, and terminal helpers (progress, colours).
 * cli/ is the only folder that prints or decides exit statuses.
 *
 * Adding a command, in four steps:
 *  1. Create cli/cmd_<group>_<name>.c (or cmd_<name>.c for a top-level verb)
 *     with `int mb_cmd_<group>_<name>(struct mb_ctx *ctx, int argc, char **argv)`:
 *     argv[0] is the command name; declare a `struct mb_cmd_help` (usage line,
 *     description) and an `struct mb_opt[]` table, and call mb_opts_parse() first.
 *  2. Declare the function in the list below.
 *  3. Add one row to `commands[]` in cli/cli.c, keeping the table sorted by name,
 *     with the flags the dispatcher should enforce.
 *  4. Document it in docs/cli.md. tests/integration/t0012-help.sh checks that it
 *     answers --help.
 *
 * Commands return 0 or a negative MB_E_* code with ctx->err filled; cli.c prints
 * "error: <message>" and maps the code to the exit status (docs/cli.md). A command
 * that only wants a non-zero status without a message returns MB_E_FALSE with an
 * empty message.
 */
#ifndef MB_CLI_H
#define MB_CLI_H

#include "mb_common.h"

#include <stdbool.h>
#include <stdio.h>

/* What every command receives. */
struct mb_ctx {
    const char *argv0;
    const char *cmd_name; /* "pack install", set by the dispatcher */
    const char *home;     /* --home DIR, else $MODULARBASE_HOME, else NULL (default) */
    bool stdout_tty;
    bool stderr_tty;
    bool stdin_tty;
    bool color; /* ANSI colours on stderr */
    int verbose;
    struct mb_err err;
};

/* Preconditions the dispatcher enforces (git's RUN_SETUP). */
enum {
    MB_CMD_STORE = 1u << 0,   /* opens the local store */
    MB_CMD_LOCK = 1u << 1,    /* takes the store's write lock */
    MB_CMD_NETWORK = 1u << 2, /* may use the network */
    MB_CMD_HIDDEN = 1u << 3,  /* left out of the command list */
};

typedef int (*mb_cmd_fn)(struct mb_ctx *ctx, int argc, char **argv);

struct mb_command {
    const char *name; /* "semver" or "pack install" */
    mb_cmd_fn fn;
    unsigned flags;
    const char *summary;
};

/* The table (sorted by name) and its size, for help and the --help test. */
extern const struct mb_command mb_commands[];
extern const size_t mb_commands_count;

/* ----------------------------------------------------------- options */

enum mb_opt_kind {
    MB_OPT_FLAG,   /* bool, no argument */
    MB_OPT_COUNT,  /* int, incremented per occurrence (-v -v) */
    MB_OPT_STRING, /* const char * (borrowed from argv) */
    MB_OPT_LIST,   /* struct mb_strvec, appended per occurrence */
    MB_OPT_INT,    /* int64_t */
    MB_OPT_UINT,   /* uint64_t */
    MB_OPT_DOUBLE, /* double */
    MB_OPT_SIZE,   /* uint64_t bytes, accepts "512M", "2GiB" */
};

/* A list of borrowed strings (for repeated options). Free with mb_strvec_release. */
struct mb_strvec {
    const char **v;
    size_t n;
    size_t cap;
};
int mb_strvec_push(struct mb_strvec *sv, const char *s);
void mb_strvec_release(struct mb_strvec *sv);

struct mb_opt {
    const char *long_name; /* without "--" */
    char short_name;       /* 0 for none */
    enum mb_opt_kind kind;
    void *dest;
    const char *arg_name; /* "N", "FILE"; NULL for flags */
    const char *help;
};
#define MB_OPT_END                             \
    {                                          \
        NULL, 0, MB_OPT_FLAG, NULL, NULL, NULL \
    }

struct mb_cmd_help {
    const char *usage;       /* "modularbase gguf inspect [options] FILE" (several lines ok) */
    const char *description; /* a paragraph */
    const char *examples;    /* optional, lines of examples */
};

/*
 * Parse options in argv[1..argc); positional arguments are compacted into
 * argv[0..*npos) (argv[0] dropped). "--" ends options. --help/-h prints the
 * usage to stdout and returns MB_CLI_HELP_SHOWN; callers then return 0.
 * Unknown options fail with MB_E_USAGE and a "did you mean" hint.
 */
#define MB_CLI_HELP_SHOWN 1
int mb_opts_parse(struct mb_ctx *ctx, const struct mb_cmd_help *help, const struct mb_opt *opts,
                  int argc, char **argv, int *npos);
void mb_opts_print_help(FILE *f, const struct mb_cmd_help *help, const struct mb_opt *opts);

/* A usage error: fills ctx->err and returns MB_E_USAGE, with "see --help". */
int mb_usage_error(struct mb_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ----------------------------------------------------------- terminal */

/* A progress display for struct mb_progress: a bar on a terminal, plain lines otherwise. */
struct mb_cli_progress {
    struct mb_ctx *ctx;
    uint64_t start_ns;
    uint64_t last_ns;
    uint64_t last_done;
    int last_pct;
    bool active;
    char label[128];
};
void mb_cli_progress_init(struct mb_cli_progress *p, struct mb_ctx *ctx);
struct mb_progress mb_cli_progress_cb(struct mb_cli_progress *p);
/* Finish the current line (call once the operation ends). */
void mb_cli_progress_done(struct mb_cli_progress *p);

/* Print a warning / note to stderr in the house format ("warning: ..."). */
void mb_cli_warn(struct mb_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mb_cli_note(struct mb_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Write a JSON-escaped string (with quotes) to f. */
void mb_cli_json_string(FILE *f, const char *s);

/* ----------------------------------------------------------- commands */

int mb_cmd_cache_clean(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_chat(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_eval_logits(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_eval_perplexity(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_gguf_copy(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_gguf_dump_tensor(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_gguf_inspect(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_gguf_quantize(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_gguf_synth(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_help(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_key_export_public(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_key_generate(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_key_list(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_pack_build(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_pack_export(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_pack_import(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_pack_info(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_pack_init(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_pack_install(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_pack_list(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_pack_publish(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_pack_quantize(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_pack_remove(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_pack_upgrade(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_pack_verify(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_registry_add(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_registry_download(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_registry_init(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_registry_list(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_registry_refresh(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_registry_remove(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_registry_unyank(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_registry_update(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_registry_yank(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_resolve(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_router_explain(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_router_fit(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_run(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_semver(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_status(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_tokenize(struct mb_ctx *ctx, int argc, char **argv);
int mb_cmd_version(struct mb_ctx *ctx, int argc, char **argv);

#endif /* MB_CLI_H */
