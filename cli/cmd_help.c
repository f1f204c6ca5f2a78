/*
 * cmd_help.c - `modularbase help [COMMAND [SUBCOMMAND]]`: the command list, or a
 * command's own --help. `help --list` prints every command name, one per line,
 * for scripts and for the test that checks every command answers --help.
 */
#include "cli.h"

#include <unistd.h>

int mb_cmd_help(struct mb_ctx *ctx, int argc, char **argv)
{
    bool list = false;
    const struct mb_opt opts[] = {
        { "list", 0, MB_OPT_FLAG, &list, NULL, "print every command name, one per line" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase help [--list] [COMMAND [SUBCOMMAND]]",
        "Show the list of commands, or the help of one command (the same as "
        "'modularbase COMMAND --help').",
        NULL,
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        return rc;
    if (list) {
        for (size_t i = 0; i < mb_commands_count; i++)
            printf("%s\n", mb_commands[i].name);
        return 0;
    }
    if (npos == 0) {
        printf("usage: modularbase <command> [<args>]\n\nCommands:\n");
        for (size_t i = 0; i < mb_commands_count; i++)
            if (!(mb_commands[i].flags & MB_CMD_HIDDEN))
                printf("   %-22s %s\n", mb_commands[i].name, mb_commands[i].summary);
        return 0;
    }
    char name[128];
    if (npos >= 2)
        snprintf(name, sizeof(name), "%s %s", argv[0], argv[1]);
    else
        mb_strlcpy(name, argv[0], sizeof(name));
    for (size_t i = 0; i < mb_commands_count; i++) {
        if (!strcmp(mb_commands[i].name, name)) {
            char hopt[] = "--help";
            char *hargv[] = { name, hopt, NULL };
            return mb_commands[i].fn(ctx, 2, hargv);
        }
    }
    /* A group name alone: list its subcommands. */
    size_t n = strlen(name);
    bool any = false;
    for (size_t i = 0; i < mb_commands_count; i++) {
        if (!strncmp(mb_commands[i].name, name, n) && mb_commands[i].name[n] == ' ') {
            if (!any)
                printf("usage: modularbase %s <subcommand> [<args>]\n\nSubcommands:\n", name);
            any = true;
            printf("   %-22s %s\n", mb_commands[i].name, mb_commands[i].summary);
        }
    }
    if (any)
        return 0;
    return mb_usage_error(ctx, "no such command '%s' (see 'modularbase help')", name);
}
