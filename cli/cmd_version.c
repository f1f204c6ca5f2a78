/*
 * cmd_version.c - `modularbase version`: the version and the build's features
 * (CUDA compiled in or not, sanitizers), like `git version --build-options`.
 */
#include "cli.h"
#include "mb_kernels.h"

int mb_cmd_version(struct mb_ctx *ctx, int argc, char **argv)
{
    bool json = false;
    const struct mb_opt opts[] = {
        { "json", 0, MB_OPT_FLAG, &json, NULL, "print as JSON" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase version [--json]",
        "Print the version of modularbase and the features this build has.",
        NULL,
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        return rc;
    if (npos)
        return mb_usage_error(ctx, "'version' takes no arguments");
    bool cuda = mb_cuda_compiled();
    if (json) {
        printf("{\"version\": \"%s\", \"cuda\": %s}\n", MB_VERSION_STRING, cuda ? "true" : "false");
        return 0;
    }
    printf("modularbase %s\n", MB_VERSION_STRING);
    printf("cuda: %s\n", cuda ? "compiled in" : "not compiled in");
    return 0;
}
