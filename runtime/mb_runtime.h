/*
 * mb_runtime.h - the umbrella header of runtime/: what cli/ and other folders
 * include to load models, tokenize, apply chat templates and sample. Each
 * included header documents its own part.
 */
#ifndef MB_RUNTIME_H
#define MB_RUNTIME_H

#include "mb_chat.h"
#include "mb_sampler.h"
#include "mb_tokenizer.h"

#endif /* MB_RUNTIME_H */
