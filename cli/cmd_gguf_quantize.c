/*
 * cmd_gguf_quantize.c - `modularbase gguf quantize IN OUT --type TYPE`:
 * re-encode the weights of a plain GGUF file (a llama.cpp model, or one pack's
 * weights) with the per-tensor policy of runtime/mb_quant.h, bit-compatible
 * with ggml's quantizers. OUT is written atomically and must not be IN;
 * general.file_type is updated. The options are shared with `pack quantize`
 * (quant_cli.h).
 */
#include "quant_cli.h"

#include <sys/stat.h>

/* True when both paths name the same existing file. */
static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

int mb_cmd_gguf_quantize(struct mb_ctx *ctx, int argc, char **argv)
{
    struct quant_args a;
    memset(&a, 0, sizeof(a));
    const struct mb_opt opts[] = { QUANT_OPTS(a), MB_OPT_END };
    const struct mb_cmd_help help = {
        "modularbase gguf quantize [options] --type TYPE IN OUT",
        "Re-encode the weight matrices of the GGUF file IN as TYPE and write OUT (atomically). "
        "The blocks are byte-identical to ggml's (llama.cpp's quantizer without an importance "
        "matrix, gguf-py's gguf.quants). Norms and other vectors keep their type; the head "
        "(output.weight, or a tied token_embd.weight) gets q8_0 or q6_k as in llama.cpp; "
        "adapters stay f16. K-quants need rows that are a multiple of 256: other tensors fall "
        "back to q5_0 (q4_k) or q8_0 (q6_k), and the output says so. Tensors that are already "
        "quantized are only re-quantized with --allow-requantize. See docs/quantization.md.",
        "  modularbase gguf quantize --type q8_0 model-f16.gguf model-q8_0.gguf\n"
        "  modularbase gguf quantize --type q4_k --dry-run model-f16.gguf out.gguf\n"
        "  modularbase gguf quantize --type q4_0 --head q8_0 --stats in.gguf out.gguf",
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        return rc;
    if (npos != 2)
        return mb_usage_error(ctx, "'gguf quantize' takes IN and OUT");
    struct mb_quant_policy policy;
    rc = quant_cli_policy(ctx, &a, &policy);
    if (rc)
        return rc;
    if (!strcmp(argv[0], argv[1]) || same_file(argv[0], argv[1]))
        return mb_usage_error(ctx, "OUT '%s' is the input file; write to a new file", argv[1]);

    struct mb_gguf *g = NULL;
    struct mb_quant_plan plan;
    memset(&plan, 0, sizeof(plan));
    rc = mb_gguf_open(&g, argv[0], &ctx->err);
    if (!rc)
        rc = quant_cli_plan(ctx, &a, g, &policy, &plan);
    if (!rc)
        rc = quant_cli_write(ctx, &a, g, &plan, &policy, argv[1], NULL, NULL);
    mb_quant_plan_release(&plan);
    mb_gguf_free(g);
    return rc;
}
