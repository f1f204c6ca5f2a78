/*
 * quant_cli.h - what `gguf quantize` and `pack quantize` share: their options
 * (type, per-role types, --pure, --allow-requantize, threads, --dry-run,
 * --stats, --json), turning them into a policy, printing the plan's notes
 * (fallbacks, re-quantization) and running the write with a progress bar and a
 * summary. CLI-only (it prints).
 */
#ifndef MB_CLI_QUANT_CLI_H
#define MB_CLI_QUANT_CLI_H

#include "cli.h"
#include "mb_runtime.h"

struct quant_args {
    const char *type, *embeddings, *head, *adapters;
    bool pure, allow_requantize, dry_run, stats, json, verbose;
    uint64_t threads;
    const char *display_out; /* name printed for the output (default: the path written) */
};

#define QUANT_OPTS(a)                                                                                \
    { "type",                                                                                        \
      't',                                                                                           \
      MB_OPT_STRING,                                                                                 \
      &(a).type,                                                                                     \
      "TYPE",                                                                                        \
      "q8_0, q4_0, q4_1, q5_0, q5_1, q4_k (llama.cpp's Q4_K_M mix), q6_k, f16, bf16 or f32" },       \
        { "embeddings",  0,                                                                          \
          MB_OPT_STRING, &(a).embeddings,                                                            \
          "TYPE",        "type of token_embd.weight (default: the head's when tied, else TYPE)" },   \
        { "head",        0,                                                                          \
          MB_OPT_STRING, &(a).head,                                                                  \
          "TYPE",        "type of output.weight (default: q8_0 for q8_0, q6_k for 4/5-bit types)" }, \
        { "keep-adapters", 0,      MB_OPT_STRING,                                                    \
          &(a).adapters,   "TYPE", "type of adapter_in/adapter_out (default f16)" },                 \
        { "pure",    0,    MB_OPT_FLAG,                                                              \
          &(a).pure, NULL, "every weight matrix gets TYPE: no q4_k mix, no head rule" },             \
        { "allow-requantize",                                                                        \
          0,                                                                                         \
          MB_OPT_FLAG,                                                                               \
          &(a).allow_requantize,                                                                     \
          NULL,                                                                                      \
          "allow re-quantizing tensors that are already quantized (the error adds up)" },            \
        { "threads", 'j', MB_OPT_UINT, &(a).threads, "N", "threads (default: one per core)" },       \
        { "dry-run", 'n', MB_OPT_FLAG, &(a).dry_run, NULL, "print the plan, write nothing" },        \
        { "stats",    0,    MB_OPT_FLAG,                                                             \
          &(a).stats, NULL, "measure each tensor's quantization error (RMSE, largest error)" },      \
        { "json", 0, MB_OPT_FLAG, &(a).json, NULL, "print the plan and result as JSON" },            \
    {                                                                                                \
        "verbose", 'v', MB_OPT_FLAG, &(a).verbose, NULL, "print every tensor's decision"             \
    }

/* Fill a policy from the options (usage errors name the option). */
int quant_cli_policy(struct mb_ctx *ctx, const struct quant_args *a, struct mb_quant_policy *p);

/*
 * Make the plan, print its notes (fallbacks) on stderr, and refuse a
 * re-quantization without --allow-requantize (MB_E_USAGE) or warn about it.
 */
int quant_cli_plan(struct mb_ctx *ctx, const struct quant_args *a, const struct mb_gguf *g,
                   const struct mb_quant_policy *p, struct mb_quant_plan *plan);

/*
 * Write out_path (unless --dry-run) with a progress bar, then print the summary
 * (text or --json). `set_str` as in struct mb_quant_write_opts; `json_extra`,
 * when not NULL, is printed as more members of the --json object
 * ("\"pack\": {...}", no trailing comma).
 */
int quant_cli_write(struct mb_ctx *ctx, const struct quant_args *a, const struct mb_gguf *g,
                    const struct mb_quant_plan *plan, const struct mb_quant_policy *p,
                    const char *out_path, const char *const *set_str, const char *json_extra);

/* The lower-case name users type: "q4_K" -> "q4_k". */
const char *quant_cli_type_name(uint32_t type, char *buf, size_t cap);

#endif /* MB_CLI_QUANT_CLI_H */
