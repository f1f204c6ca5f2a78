/*
 * cli_keys.h - what the key and pack commands share: where named keys live
 * (<home>/keys/<name>.key and <name>.pub), reading a password (terminal
 * without echo, $MODULARBASE_PASSWORD, or --password-file), and loading the
 * secret or public key a command was pointed at.
 */
#ifndef MB_CLI_KEYS_H
#define MB_CLI_KEYS_H

#include "cli.h"
#include "mb_registry.h"

#define MB_CLI_DEFAULT_KEY "default"

/* Key names: 1-64 of [A-Za-z0-9._-], not starting with '.' or '-'. */
bool mb_cli_key_name_ok(const char *name);

/* <home>/keys (newly allocated; caller frees with mb_free). */
int mb_cli_keys_dir(struct mb_ctx *ctx, char **out);

/* <home>/keys/<name>.key and .pub (newly allocated). Validates the name (MB_E_USAGE). */
int mb_cli_key_paths(struct mb_ctx *ctx, const char *name, char **sk_path, char **pk_path);

/*
 * Read a password into secure memory (*out, free with mb_sign_secure_free):
 * from `password_file` (its first line) when given, else $MODULARBASE_PASSWORD,
 * else the terminal (/dev/tty, echo off), asked twice when `confirm`. Fails with
 * MB_E_USAGE when there is no terminal and no other source.
 */
int mb_cli_password_read(struct mb_ctx *ctx, const char *password_file, const char *prompt,
                         bool confirm, char **out);

/*
 * Load a secret key from `file`, or else the named key (default "default"),
 * asking for its password when it is encrypted.
 */
int mb_cli_seckey_load(struct mb_ctx *ctx, const char *name, const char *file,
                       const char *password_file, struct mb_seckey **out);

/*
 * Load a public key from `spec`: a path to a .pub file, the name of a key in
 * <home>/keys, or a base64 public key (as minisign -P takes it).
 */
int mb_cli_pubkey_load(struct mb_ctx *ctx, const char *spec, struct mb_pubkey *out);

#endif /* MB_CLI_KEYS_H */
