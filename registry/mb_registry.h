/*
 * mb_registry.h - the one public header of registry/: signatures (mb_sign.h),
 * pack archives (mb_archive.h), the registry client, config.yaml, maintainer
 * operations and publishing (mb_client.h), and later the local store. Other
 * folders include only this header.
 */
#ifndef MB_REGISTRY_H
#define MB_REGISTRY_H

#include "mb_common.h"

#include "mb_archive.h"
#include "mb_client.h"
#include "mb_sign.h"
#include "mb_store.h"

#endif /* MB_REGISTRY_H */
