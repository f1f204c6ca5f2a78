/*
 * mb_prelude.h - force-included first into every C file of the project (see
 * cmake/MbModule.cmake): pulls in the system headers that declare banned
 * functions, then mb_banned.h, so later includes of those headers are no-ops
 * and any banned call fails to compile.
 */
#ifndef MB_PRELUDE_H
#define MB_PRELUDE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

#include "mb_banned.h"

#endif /* MB_PRELUDE_H */
