/*
 * mb_runtime.h - the one public header of runtime/: everything the CLI and
 * the other folders may use from the inference runtime. Each part has its own
 * header, included here (one line per part; add yours below).
 */
#ifndef MB_RUNTIME_H
#define MB_RUNTIME_H

#include "mb_common.h"
#include "mb_gguf.h"
#include "mb_chat.h"
#include "mb_sampler.h"
#include "mb_tokenizer.h"
#include "mb_model.h"
#include "mb_generate.h"
#include "mb_quant.h"
#include "mb_perplexity.h"
#include "mb_router.h"
#include "mb_modular.h"

#endif /* MB_RUNTIME_H */
