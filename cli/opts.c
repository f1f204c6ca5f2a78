/*
 * opts.c - the option parser every command uses: long (--name, --name=value)
 * and short (-n value, -nvalue, bundled flags -vv) options from a table,
 * positional arguments compacted in place, --help generated from the table,
 * and unknown options answered with "did you mean".
 */
#include "cli.h"

int mb_strvec_push(struct mb_strvec *sv, const char *s)
{
    if (sv->n == sv->cap) {
        size_t cap = sv->cap ? sv->cap * 2 : 8;
        const char **v = mb_reallocarray(sv->v, cap, sizeof(*v));
        if (!v)
            return MB_E_NOMEM;
        sv->v = v;
        sv->cap = cap;
    }
    sv->v[sv->n++] = s;
    return 0;
}

void mb_strvec_release(struct mb_strvec *sv)
{
    mb_free(sv->v);
    sv->v = NULL;
    sv->n = sv->cap = 0;
}

int mb_usage_error(struct mb_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mb_failv(&ctx->err, MB_E_USAGE, fmt, ap);
    va_end(ap);
    return MB_E_USAGE;
}

static const char *kind_default_arg(enum mb_opt_kind k)
{
    switch (k) {
    case MB_OPT_INT:
    case MB_OPT_UINT:
        return "N";
    case MB_OPT_DOUBLE:
        return "X";
    case MB_OPT_SIZE:
        return "BYTES";
    default:
        return "VALUE";
    }
}

static bool takes_arg(const struct mb_opt *o)
{
    return o->kind != MB_OPT_FLAG && o->kind != MB_OPT_COUNT;
}

void mb_opts_print_help(FILE *f, const struct mb_cmd_help *help, const struct mb_opt *opts)
{
    fprintf(f, "usage: %s\n", help->usage);
    if (help->description)
        fprintf(f, "\n%s\n", help->description);
    fprintf(f, "\nOptions:\n");
    for (const struct mb_opt *o = opts; o && o->long_name; o++) {
        char left[80];
        const char *arg = o->arg_name ? o->arg_name : kind_default_arg(o->kind);
        if (o->short_name)
            snprintf(left, sizeof(left), "-%c, --%s%s%s", o->short_name, o->long_name,
                     takes_arg(o) ? " " : "", takes_arg(o) ? arg : "");
        else
            snprintf(left, sizeof(left), "    --%s%s%s", o->long_name, takes_arg(o) ? " " : "",
                     takes_arg(o) ? arg : "");
        if (strlen(left) > 28)
            fprintf(f, "  %s\n  %-28s  %s\n", left, "", o->help ? o->help : "");
        else
            fprintf(f, "  %-28s  %s\n", left, o->help ? o->help : "");
    }
    fprintf(f, "  %-28s  %s\n", "-h, --help", "show this help");
    if (help->examples)
        fprintf(f, "\nExamples:\n%s\n", help->examples);
}

/* Store one option value; `val` is NULL for flags. */
static int store(struct mb_ctx *ctx, const struct mb_opt *o, const char *val)
{
    switch (o->kind) {
    case MB_OPT_FLAG:
        *(bool *)o->dest = true;
        return 0;
    case MB_OPT_COUNT:
        (*(int *)o->dest)++;
        return 0;
    case MB_OPT_STRING:
        *(const char **)o->dest = val;
        return 0;
    case MB_OPT_LIST:
        if (mb_strvec_push(o->dest, val))
            return mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
        return 0;
    case MB_OPT_INT:
        if (!mb_parse_i64(val, o->dest))
            return mb_usage_error(ctx, "--%s: '%s' is not an integer", o->long_name, val);
        return 0;
    case MB_OPT_UINT:
        if (!mb_parse_u64(val, o->dest))
            return mb_usage_error(ctx, "--%s: '%s' is not a non-negative integer", o->long_name,
                                  val);
        return 0;
    case MB_OPT_DOUBLE:
        if (!mb_parse_double(val, o->dest))
            return mb_usage_error(ctx, "--%s: '%s' is not a number", o->long_name, val);
        return 0;
    case MB_OPT_SIZE:
        if (!mb_parse_size(val, o->dest))
            return mb_usage_error(ctx, "--%s: '%s' is not a size (e.g. 512M, 2G)", o->long_name,
                                  val);
        return 0;
    }
    return mb_fail(&ctx->err, MB_E_INTERNAL, "bad option kind");
}

/* Unknown long option: fail with the closest known name, if any is close. */
static int unknown_long(struct mb_ctx *ctx, const struct mb_opt *opts, const char *name,
                        const struct mb_cmd_help *help)
{
    const char *best = NULL;
    unsigned best_d = 255;
    for (const struct mb_opt *o = opts; o && o->long_name; o++) {
        unsigned d = mb_edit_distance(name, o->long_name);
        if (d < best_d) {
            best_d = d;
            best = o->long_name;
        }
    }
    if (mb_edit_distance(name, "help") < best_d) {
        best_d = mb_edit_distance(name, "help");
        best = "help";
    }
    const char *cmd = help->usage;
    if (best && best_d <= MB_MAX(2u, (unsigned)strlen(name) / 3))
        return mb_usage_error(ctx, "unknown option '--%s' (did you mean '--%s'?)", name, best);
    (void)cmd;
    return mb_usage_error(ctx, "unknown option '--%s' (see --help)", name);
}

int mb_opts_parse(struct mb_ctx *ctx, const struct mb_cmd_help *help, const struct mb_opt *opts,
                  int argc, char **argv, int *npos)
{
    int np = 0;
    bool only_pos = false;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == '\0') {
            argv[np++] = a; /* "-" alone is a positional (stdin) */
            continue;
        }
        if (!strcmp(a, "--")) {
            only_pos = true;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            mb_opts_print_help(stdout, help, opts);
            return MB_CLI_HELP_SHOWN;
        }
        if (a[1] == '-') {
            char name[64];
            const char *eq = strchr(a + 2, '=');
            size_t len = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
            if (len >= sizeof(name))
                return mb_usage_error(ctx, "unknown option '%s'", a);
            memcpy(name, a + 2, len);
            name[len] = '\0';
            const struct mb_opt *o = opts;
            while (o && o->long_name && strcmp(o->long_name, name))
                o++;
            if (!o || !o->long_name)
                return unknown_long(ctx, opts, name, help);
            const char *val = NULL;
            if (takes_arg(o)) {
                if (eq)
                    val = eq + 1;
                else if (i + 1 < argc)
                    val = argv[++i];
                else
                    return mb_usage_error(ctx, "option '--%s' needs a value (%s)", name,
                                          o->arg_name ? o->arg_name : kind_default_arg(o->kind));
            } else if (eq) {
                return mb_usage_error(ctx, "option '--%s' takes no value", name);
            }
            int rc = store(ctx, o, val);
            if (rc)
                return rc;
            continue;
        }
        /* Short options, possibly bundled: -vv, -n5, -n 5. */
        for (const char *s = a + 1; *s; s++) {
            const struct mb_opt *o = opts;
            while (o && o->long_name && o->short_name != *s)
                o++;
            if (!o || !o->long_name)
                return mb_usage_error(ctx, "unknown option '-%c' (see --help)", *s);
            if (!takes_arg(o)) {
                int rc = store(ctx, o, NULL);
                if (rc)
                    return rc;
                continue;
            }
            const char *val;
            if (s[1])
                val = s + 1;
            else if (i + 1 < argc)
                val = argv[++i];
            else
                return mb_usage_error(ctx, "option '-%c' needs a value (%s)", *s,
                                      o->arg_name ? o->arg_name : kind_default_arg(o->kind));
            int rc = store(ctx, o, val);
            if (rc)
                return rc;
            break;
        }
    }
    *npos = np;
    return 0;
}
