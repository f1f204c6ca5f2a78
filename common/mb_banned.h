/*
 * mb_banned.h - functions we never call (git's banned.h): unbounded copies,
 * non-reentrant or error-swallowing parsers. Use mb_strlcpy / mb_snprintf /
 * mb_parse_* / gmtime_r instead. It is force-included (after the system
 * headers, through mb_prelude.h) into every C file we compile, so a banned call
 * is a compile error naming the ban.
 */
#ifndef MB_BANNED_H
#define MB_BANNED_H

#define MB_BANNED(func) sorry_##func##_is_banned_in_modularbase

#undef strcpy
#define strcpy(x, y) MB_BANNED(strcpy)
#undef strcat
#define strcat(x, y) MB_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) MB_BANNED(strncpy)
#undef strncat
#define strncat(x, y, n) MB_BANNED(strncat)
#undef sprintf
#define sprintf(...) MB_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) MB_BANNED(vsprintf)
#undef strtok
#define strtok(x, y) MB_BANNED(strtok)
#undef atoi
#define atoi(x) MB_BANNED(atoi)
#undef atol
#define atol(x) MB_BANNED(atol)
#undef atoll
#define atoll(x) MB_BANNED(atoll)
#undef gmtime
#define gmtime(t) MB_BANNED(gmtime)
#undef localtime
#define localtime(t) MB_BANNED(localtime)
#undef ctime
#define ctime(t) MB_BANNED(ctime)
#undef asctime
#define asctime(t) MB_BANNED(asctime)

#endif /* MB_BANNED_H */
