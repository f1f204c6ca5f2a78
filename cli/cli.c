/*
 * cli.c - main(): global options, the sorted command table, dispatch of
 * "command" and "group subcommand" names with "did you mean" for typos, and the
 * one place where errors become messages and exit statuses (docs/cli.md).
 */
#include "cli.h"

#include <signal.h>
#include <unistd.h>

/* Keep sorted by name; `help` lists them in this order. */
const struct mb_command mb_commands[] = {
    { "cache clean", mb_cmd_cache_clean, MB_CMD_STORE | MB_CMD_LOCK,
      "delete downloaded archives and partial downloads" },
    { "chat", mb_cmd_chat, 0, "chat with a model: multi-turn, streamed answers" },
    { "eval logits", mb_cmd_eval_logits, 0, "print a model's logits for a token sequence" },
    { "eval perplexity", mb_cmd_eval_perplexity, 0,
      "the perplexity of a text, as llama.cpp computes it" },
    { "gguf copy", mb_cmd_gguf_copy, 0, "check a GGUF file and rewrite it (atomically, as v3)" },
    { "gguf dump-tensor", mb_cmd_gguf_dump_tensor, 0, "print the dequantized values of tensors" },
    { "gguf inspect", mb_cmd_gguf_inspect, 0, "show the metadata and tensors of a GGUF file" },
    { "gguf quantize", mb_cmd_gguf_quantize, 0,
      "re-encode a GGUF's weights as q8_0, q4_0, q4_k, ..." },
    { "gguf synth", mb_cmd_gguf_synth, MB_CMD_HIDDEN,
      "write a random-weight llama GGUF of a known shape (benchmarks)" },
    { "help", mb_cmd_help, 0, "show help for a command" },
    { "key export-public", mb_cmd_key_export_public, 0, "print a public key (minisign format)" },
    { "key generate", mb_cmd_key_generate, 0, "create a signing key pair (minisign format)" },
    { "key list", mb_cmd_key_list, 0, "list signing keys" },
    { "pack build", mb_cmd_pack_build, 0, "build a deterministic, optionally signed .mbpack" },
    { "pack export", mb_cmd_pack_export, MB_CMD_STORE,
      "write installed packs and their dependencies to an offline bundle" },
    { "pack import", mb_cmd_pack_import, 0,
      "split a llama GGUF into base, general and router pack folders" },
    { "pack info", mb_cmd_pack_info, MB_CMD_STORE, "show an installed or available pack" },
    { "pack init", mb_cmd_pack_init, 0, "create a new pack directory (pack.yaml, docs, weights/)" },
    { "pack install", mb_cmd_pack_install, MB_CMD_STORE | MB_CMD_LOCK | MB_CMD_NETWORK,
      "install packs (ids, ranges, .mbpack files, bundles) with their dependencies" },
    { "pack list", mb_cmd_pack_list, MB_CMD_STORE, "list the installed packs" },
    { "pack publish", mb_cmd_pack_publish, MB_CMD_NETWORK,
      "upload a signed pack to a registry (file:// or HTTP PUT)" },
    { "pack quantize", mb_cmd_pack_quantize, 0,
      "write a quantized copy of a pack (q8_0, q4_0, q4_k, ...)" },
    { "pack remove", mb_cmd_pack_remove, MB_CMD_STORE | MB_CMD_LOCK,
      "remove packs and the dependencies nothing needs any more" },
    { "pack upgrade", mb_cmd_pack_upgrade, MB_CMD_STORE | MB_CMD_LOCK | MB_CMD_NETWORK,
      "upgrade installed packs to the newest allowed versions" },
    { "pack verify", mb_cmd_pack_verify, 0,
      "check a .mbpack, or re-hash installed packs (--repair: rebuild state.json)" },
    { "registry add", mb_cmd_registry_add, MB_CMD_STORE | MB_CMD_LOCK | MB_CMD_NETWORK,
      "add a registry, pinning its maintainer key" },
    { "registry download", mb_cmd_registry_download, MB_CMD_STORE | MB_CMD_NETWORK,
      "fetch and verify packs into the cache without installing" },
    { "registry init", mb_cmd_registry_init, 0, "create a registry directory (maintainers)" },
    { "registry list", mb_cmd_registry_list, MB_CMD_STORE, "list the configured registries" },
    { "registry refresh", mb_cmd_registry_refresh, 0,
      "re-index a registry directory and re-sign its snapshot (maintainers)" },
    { "registry remove", mb_cmd_registry_remove, MB_CMD_STORE | MB_CMD_LOCK,
      "remove a registry and its cache" },
    { "registry unyank", mb_cmd_registry_unyank, 0, "clear the yanked flag of a version" },
    { "registry update", mb_cmd_registry_update, MB_CMD_STORE | MB_CMD_LOCK | MB_CMD_NETWORK,
      "fetch and verify the registries' signed snapshots" },
    { "registry yank", mb_cmd_registry_yank, 0, "mark a version yanked (maintainers)" },
    { "resolve", mb_cmd_resolve, 0, "resolve packs against index files and print the plan" },
    { "router explain", mb_cmd_router_explain, 0,
      "show which packs the router selects for a prompt, and their weights" },
    { "router fit", mb_cmd_router_fit, 0,
      "learn the router's projection from the installed packs' routing examples" },
    { "run", mb_cmd_run, 0, "answer one prompt with a model, streaming the answer" },
    { "semver", mb_cmd_semver, 0, "print the versions that satisfy SemVer ranges" },
    { "status", mb_cmd_status, MB_CMD_STORE,
      "show the memory picture of the installed packs (resident, loaded, on disk)" },
    { "tokenize", mb_cmd_tokenize, 0, "show the tokens of a text under a model's vocabulary" },
    { "version", mb_cmd_version, 0, "print the version and build features" },
};
const size_t mb_commands_count = MB_ARRAY_LEN(mb_commands);

/* Length of the first word of a table name ("pack" in "pack install"). */
static size_t group_len(const char *name)
{
    const char *sp = strchr(name, ' ');
    return sp ? (size_t)(sp - name) : strlen(name);
}

/* True when `word` names a group of subcommands ("pack"). */
static bool is_group(const char *word)
{
    size_t n = strlen(word);
    for (size_t i = 0; i < mb_commands_count; i++)
        if (!strncmp(mb_commands[i].name, word, n) && mb_commands[i].name[n] == ' ')
            return true;
    return false;
}

/* Exact lookup of "word" or "group sub". */
static const struct mb_command *find_command(const char *group, const char *sub)
{
    char name[128];
    if (sub)
        snprintf(name, sizeof(name), "%s %s", group, sub);
    else
        mb_strlcpy(name, group, sizeof(name));
    for (size_t i = 0; i < mb_commands_count; i++)
        if (!strcmp(mb_commands[i].name, name))
            return &mb_commands[i];
    return NULL;
}

/* Print the subcommands of a group (or every command when group is NULL). */
static void list_commands(FILE *f, const char *group)
{
    size_t glen = group ? strlen(group) : 0;
    for (size_t i = 0; i < mb_commands_count; i++) {
        const struct mb_command *c = &mb_commands[i];
        if (c->flags & MB_CMD_HIDDEN)
            continue;
        if (group && (strncmp(c->name, group, glen) || c->name[glen] != ' '))
            continue;
        fprintf(f, "   %-22s %s\n", c->name, c->summary);
    }
}

static void print_main_usage(FILE *f)
{
    fprintf(f, "usage: modularbase [--home DIR] [--version] [--help] <command> [<args>]\n\n"
               "A package manager and inference runtime for modular language models:\n"
               "a small resident base, a router, and pluggable data packs.\n\n"
               "Commands:\n");
    list_commands(f, NULL);
    fprintf(f, "\nRun 'modularbase <command> --help' for a command's options.\n"
               "Documentation: docs/cli.md, docs/manifest.md, docs/registry.md.\n");
}

/* "did you mean" over first words (sub == NULL) or over a group's subcommands. */
static void suggest(struct mb_ctx *ctx, const char *group, const char *word)
{
    const char *best[8];
    size_t nbest = 0;
    unsigned best_d = 255;
    size_t glen = group ? strlen(group) : 0;
    for (size_t i = 0; i < mb_commands_count; i++) {
        const struct mb_command *c = &mb_commands[i];
        if (c->flags & MB_CMD_HIDDEN)
            continue;
        char cand[64];
        if (group) {
            if (strncmp(c->name, group, glen) || c->name[glen] != ' ')
                continue;
            mb_strlcpy(cand, c->name + glen + 1, sizeof(cand));
        } else {
            size_t n = group_len(c->name);
            if (n >= sizeof(cand))
                continue;
            memcpy(cand, c->name, n);
            cand[n] = '\0';
        }
        unsigned d = mb_edit_distance(word, cand);
        /* Prefix matches count as close too ("inst" -> "install"). */
        if (!strncmp(cand, word, strlen(word)) && strlen(word) >= 2)
            d = MB_MIN(d, 1u);
        if (d < best_d) {
            best_d = d;
            nbest = 0;
        }
        if (d == best_d && nbest < MB_ARRAY_LEN(best)) {
            bool dup = false;
            for (size_t j = 0; j < nbest; j++)
                dup |= !strcmp(best[j], c->name + (group ? glen + 1 : 0)) ||
                       !strncmp(best[j], cand, strlen(cand) + 1);
            if (!dup)
                best[nbest++] = c->name + (group ? glen + 1 : 0);
        }
    }
    unsigned limit = (unsigned)MB_MAX(2, strlen(word) / 3);
    if (nbest == 0 || best_d > limit)
        return;
    fprintf(stderr, "\nThe most similar command%s:\n", nbest > 1 ? "s are" : " is");
    for (size_t i = 0; i < nbest; i++) {
        size_t n = group ? strlen(best[i]) : group_len(best[i]);
        fprintf(stderr, "\t%s%s%.*s\n", group ? group : "", group ? " " : "", (int)n, best[i]);
    }
    (void)ctx;
}

static void on_sigint(int sig)
{
    (void)sig;
    if (mb_interrupted) {
        /* Second Ctrl-C: give up immediately, as users expect. */
        signal(SIGINT, SIG_DFL);
        raise(SIGINT);
    }
    mb_interrupted = 1;
}

/* Print ctx->err (if any) and map the code to the process exit status. */
static int finish(struct mb_ctx *ctx, int rc)
{
    if (rc == 0 || rc == MB_CLI_HELP_SHOWN)
        return 0;
    if (rc > 0) /* a command returned an exit status directly */
        return rc;
    if (ctx->err.code == 0)
        ctx->err.code = rc;
    if (ctx->err.msg[0]) {
        fflush(stdout);
        fprintf(stderr, "%serror:%s %s\n", ctx->color ? "\033[1;31m" : "",
                ctx->color ? "\033[0m" : "", ctx->err.msg);
        if (rc == MB_E_USAGE && !strstr(ctx->err.msg, "--help"))
            fprintf(stderr, "(see 'modularbase %s%s--help')\n", ctx->cmd_name ? ctx->cmd_name : "",
                    ctx->cmd_name ? " " : "");
    }
    return mb_err_exit_status(rc);
}

int main(int argc, char **argv)
{
    struct mb_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    mb_err_init(&ctx.err);
    ctx.argv0 = argv[0];
    ctx.stdout_tty = isatty(STDOUT_FILENO);
    ctx.stderr_tty = isatty(STDERR_FILENO);
    ctx.stdin_tty = isatty(STDIN_FILENO);
    const char *no_color = getenv("NO_COLOR");
    const char *term = getenv("TERM");
    ctx.color = ctx.stderr_tty && !(no_color && *no_color) && !(term && !strcmp(term, "dumb"));
    ctx.home = getenv("MODULARBASE_HOME");
    if (ctx.home && !*ctx.home)
        ctx.home = NULL;

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* Global options come before the command. */
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_main_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--version") || !strcmp(a, "-V")) {
            char vname[] = "version";
            char *vargv[] = { vname, NULL };
            return finish(&ctx, mb_cmd_version(&ctx, 1, vargv));
        } else if (!strcmp(a, "--home") && i + 1 < argc) {
            ctx.home = argv[++i];
        } else if (!strncmp(a, "--home=", 7)) {
            ctx.home = a + 7;
        } else if (!strcmp(a, "--no-color")) {
            ctx.color = false;
        } else {
            mb_fail(&ctx.err, MB_E_USAGE,
                    "unknown option '%s' (options after the command "
                    "belong to it; see 'modularbase --help')",
                    a);
            return finish(&ctx, MB_E_USAGE);
        }
    }
    if (i >= argc) {
        print_main_usage(stderr);
        return mb_err_exit_status(MB_E_USAGE);
    }

    const char *word = argv[i];
    const struct mb_command *cmd = NULL;
    int consumed = 1;
    if (is_group(word)) {
        if (i + 1 >= argc || !strcmp(argv[i + 1], "--help") || !strcmp(argv[i + 1], "-h")) {
            bool asked = i + 1 < argc;
            FILE *f = asked ? stdout : stderr;
            fprintf(f, "usage: modularbase %s <subcommand> [<args>]\n\nSubcommands:\n", word);
            list_commands(f, word);
            fprintf(f, "\nRun 'modularbase %s <subcommand> --help' for details.\n", word);
            return asked ? 0 : mb_err_exit_status(MB_E_USAGE);
        }
        cmd = find_command(word, argv[i + 1]);
        if (!cmd) {
            fprintf(stderr, "error: '%s' is not a 'modularbase %s' subcommand\n", argv[i + 1],
                    word);
            suggest(&ctx, word, argv[i + 1]);
            fprintf(stderr, "(see 'modularbase %s --help')\n", word);
            return mb_err_exit_status(MB_E_USAGE);
        }
        consumed = 2;
    } else {
        cmd = find_command(word, NULL);
        if (!cmd) {
            fprintf(stderr, "error: '%s' is not a modularbase command\n", word);
            suggest(&ctx, NULL, word);
            fprintf(stderr, "(see 'modularbase --help')\n");
            return mb_err_exit_status(MB_E_USAGE);
        }
    }

    /* The command sees argv[0] = its own name, then its arguments. */
    int cargc = argc - i - consumed + 1;
    char **cargv = argv + i + consumed - 1;
    ctx.cmd_name = cmd->name;
    int rc = cmd->fn(&ctx, cargc, cargv);
    fflush(stdout);
    if (ferror(stdout) && rc == 0) {
        mb_fail(&ctx.err, MB_E_IO, "cannot write to standard output");
        rc = MB_E_IO;
    }
    return finish(&ctx, rc);
}
