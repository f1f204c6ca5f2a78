/*
 * pack_build_keys.h - the routing-keys step of `pack build --base`
 * (pack_build_keys.c).
 */
#ifndef MB_CLI_PACK_BUILD_KEYS_H
#define MB_CLI_PACK_BUILD_KEYS_H

#include "cli.h"

/*
 * When the manifest `yaml` has routing.examples: open the base `base` (as
 * router_base_open: DIR|ID|FILE, NULL = the installed base; n_understanding 0 =
 * the base's U), check it against the manifest's base and base_compatibility,
 * and write to `out` a copy of `gguf` with the pack's routing keys; *wrote says
 * whether it did (a pack without examples needs no keys).
 */
int pack_build_routing_keys(struct mb_ctx *ctx, const char *yaml, const char *gguf,
                            const char *base, uint32_t n_understanding, const char *out,
                            bool *wrote);

#endif /* MB_CLI_PACK_BUILD_KEYS_H */
