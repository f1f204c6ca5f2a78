/*
 * cmd_gguf_copy.c - `modularbase gguf copy IN OUT`: rewrite a GGUF file
 * through our reader and writer. The input is checked completely, every KV
 * (any type, nested arrays included) and every tensor is copied in order,
 * and the output is written atomically as GGUF v3 in gguf-py's layout,
 * streamed from the input's mapping with a progress display. --alignment
 * changes the data alignment; --drop-key removes keys. A file gguf-py wrote
 * comes out byte for byte the same, which the tests use.
 */
#include "cli.h"
#include "mb_runtime.h"

int mb_cmd_gguf_copy(struct mb_ctx *ctx, int argc, char **argv)
{
    uint64_t alignment = 0;
    struct mb_strvec drop = { 0 };
    const struct mb_opt opts[] = {
        { "alignment", 0, MB_OPT_UINT, &alignment, "N",
          "align tensor data to N bytes (a power of two; sets general.alignment)" },
        { "drop-key", 0, MB_OPT_LIST, &drop, "KEY", "leave out this metadata key (repeatable)" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase gguf copy [--alignment N] [--drop-key KEY]... IN OUT",
        "Check IN completely and write its metadata and tensors to OUT as GGUF v3 (atomically: "
        "OUT appears complete or not at all). Tensor data is streamed, not loaded.",
        "  modularbase gguf copy model.gguf copy.gguf\n"
        "  modularbase gguf copy --alignment 64 model.gguf aligned.gguf",
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc) {
        mb_strvec_release(&drop);
        return rc;
    }
    if (npos != 2) {
        mb_strvec_release(&drop);
        return mb_usage_error(ctx, "'gguf copy' takes IN and OUT");
    }
    struct mb_gguf *g = NULL;
    struct mb_gguf_writer *w = NULL;
    rc = mb_gguf_open(&g, argv[0], &ctx->err);
    if (!rc)
        rc = mb_gguf_writer_new(&w, &ctx->err);
    if (!rc)
        rc = mb_gguf_writer_copy_kvs(w, g, NULL, &ctx->err);
    for (size_t i = 0; !rc && i < drop.n; i++)
        if (!mb_gguf_writer_remove(w, drop.v[i]))
            rc = mb_fail(&ctx->err, MB_E_NOTFOUND, "%s: no key '%s' to drop", argv[0], drop.v[i]);
    if (!rc && alignment) {
        if (alignment > UINT32_MAX)
            rc =
                mb_usage_error(ctx, "--alignment %llu is too large", (unsigned long long)alignment);
        else
            rc = mb_gguf_writer_set_u32(w, "general.alignment", (uint32_t)alignment, &ctx->err);
        if (rc == MB_E_USAGE && !strstr(ctx->err.msg, "--alignment"))
            mb_err_prefix(&ctx->err, "--alignment %llu", (unsigned long long)alignment);
    }
    for (size_t i = 0; !rc && i < mb_gguf_tensor_count(g); i++)
        rc = mb_gguf_writer_copy_tensor(w, mb_gguf_tensor_at(g, i), &ctx->err);
    if (!rc) {
        struct mb_cli_progress bar;
        mb_cli_progress_init(&bar, ctx);
        struct mb_progress p = mb_cli_progress_cb(&bar);
        rc = mb_gguf_writer_write(w, argv[1], &p, &ctx->err);
        mb_cli_progress_done(&bar);
    }
    mb_gguf_writer_free(w);
    mb_gguf_free(g);
    mb_strvec_release(&drop);
    return rc;
}
