/*
 * cmd_pack_import.c - `modularbase pack import MODEL.gguf -o DIR`: split a
 * llama-family GGUF into the base, general and router pack folders of the
 * modular runtime (runtime/pack_import.c, docs/modular.md). Each folder gets a
 * pack.yaml that `pack build` accepts and its GGUF, weights in their own types.
 */
#include "cli.h"
#include "mb_runtime.h"

int mb_cmd_pack_import(struct mb_ctx *ctx, int argc, char **argv)
{
    struct mb_pack_import_opts o;
    mb_pack_import_opts_init(&o);
    uint64_t u = o.n_understanding, f = o.n_fusion;
    const char *out = NULL;
    bool json = false;
    const struct mb_opt opts[] = {
        { "output", 'o', MB_OPT_STRING, &out, "DIR", "where to write base/, general/, router/" },
        { "understanding", 'U', MB_OPT_UINT, &u, "N",
          "blocks of the base before the packs (default 4)" },
        { "fusion", 'F', MB_OPT_UINT, &f, "N", "blocks of the base after the packs (default 2)" },
        { "base-id", 0, MB_OPT_STRING, &o.base_id, "ID",
          "id of the base pack (default: from general.name)" },
        { "general-id", 0, MB_OPT_STRING, &o.general_id, "ID",
          "id of the general pack (default general)" },
        { "router-id", 0, MB_OPT_STRING, &o.router_id, "ID",
          "id of the router pack (default router)" },
        { "version", 0, MB_OPT_STRING, &o.version, "VER", "version of all three packs (1.0.0)" },
        { "force", 'f', MB_OPT_FLAG, &o.force, NULL, "replace existing pack folders" },
        { "json", 0, MB_OPT_FLAG, &json, NULL, "print what was written as JSON" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase pack import [options] MODEL.gguf -o DIR",
        "Split a llama-family GGUF into three pack folders: DIR/base (embedding, the first U "
        "blocks, the last F blocks, final norm, head, tokenizer, chat template), DIR/general "
        "(the middle blocks; with weight 1 on the base it is the original model exactly) and "
        "DIR/router (routing parameters). Weights are copied in their own types. Build them "
        "with `modularbase pack build`.",
        "  modularbase pack import SmolLM2-135M-Instruct.Q4_1.gguf -o packs\n"
        "  modularbase pack import model.gguf -U 3 -F 3 --base-id my-base -o packs",
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        return rc == MB_CLI_HELP_SHOWN ? 0 : rc;
    if (npos != 1)
        return mb_usage_error(ctx, "'pack import' takes one MODEL.gguf");
    if (!out)
        return mb_usage_error(ctx, "'pack import' needs -o DIR");
    if (u < 1 || u > UINT32_MAX || f < 1 || f > UINT32_MAX)
        return mb_usage_error(ctx, "--understanding and --fusion must be at least 1");
    o.model = argv[0];
    o.out_dir = out;
    o.n_understanding = (uint32_t)u;
    o.n_fusion = (uint32_t)f;
    struct mb_pack_import_result r;
    struct mb_cli_progress bar;
    mb_cli_progress_init(&bar, ctx);
    struct mb_progress p = mb_cli_progress_cb(&bar);
    rc = mb_pack_import(&o, &p, &r, &ctx->err);
    mb_cli_progress_done(&bar);
    if (rc)
        return rc;
    const char *names[3] = { "base", "general", "router" };
    const char *ids[3] = { r.base_id, r.general_id, r.router_id };
    if (json) {
        printf("{\"model\": ");
        mb_cli_json_string(stdout, o.model);
        printf(", \"blocks\": %u, \"understanding\": %u, \"fusion\": %u, \"width\": %u, "
               "\"version\": ",
               r.n_layer, r.n_understanding, r.n_fusion, r.width);
        mb_cli_json_string(stdout, r.version);
        printf(", \"packs\": [");
        for (int i = 0; i < 3; i++) {
            printf("%s{\"id\": ", i ? ", " : "");
            mb_cli_json_string(stdout, ids[i]);
            printf(", \"kind\": \"%s\", \"dir\": ", i == 0 ? "base" : i == 1 ? "data" : "router");
            char dir[4096];
            mb_snprintf(dir, sizeof(dir), "%s/%s", out, names[i]);
            mb_cli_json_string(stdout, dir);
            printf(", \"gguf_bytes\": %llu}", (unsigned long long)r.bytes[i]);
        }
        printf("]}\n");
        return 0;
    }
    printf("split %u blocks: base %s = blocks 0..%u + %u..%u, general = blocks %u..%u\n", r.n_layer,
           r.base_id, r.n_understanding - 1, r.n_layer - r.n_fusion, r.n_layer - 1,
           r.n_understanding, r.n_layer - r.n_fusion - 1);
    for (int i = 0; i < 3; i++) {
        char sz[32];
        printf("  %s/%-8s %s %s (%s)\n", out, names[i], ids[i], r.version,
               mb_format_size(r.bytes[i], sz, sizeof(sz)));
    }
    return 0;
}
