/*
 * keys.c - shared key handling for the key and pack commands (cli_keys.h):
 * key file locations under the home directory, password input without echo
 * (termios on /dev/tty, like minisign and ssh-keygen) or from the environment
 * or a file for scripts, and loading keys by name, path or base64 string.
 */
#include "cli_keys.h"

#include <errno.h>
#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

bool mb_cli_key_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64 || name[0] == '.' || name[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

int mb_cli_keys_dir(struct mb_ctx *ctx, char **out)
{
    char *home;
    int rc = mb_home_resolve(ctx->home, &home, &ctx->err);
    if (rc)
        return rc;
    *out = mb_path_join(home, "keys");
    mb_free(home);
    return *out ? 0 : mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
}

int mb_cli_key_paths(struct mb_ctx *ctx, const char *name, char **sk_path, char **pk_path)
{
    *sk_path = *pk_path = NULL;
    if (!mb_cli_key_name_ok(name))
        return mb_usage_error(
            ctx, "invalid key name '%s' (use 1-64 letters, digits, '.', '_' or '-')", name);
    char *dir;
    int rc = mb_cli_keys_dir(ctx, &dir);
    if (rc)
        return rc;
    char file[96];
    snprintf(file, sizeof(file), "%s.key", name);
    *sk_path = mb_path_join(dir, file);
    snprintf(file, sizeof(file), "%s.pub", name);
    *pk_path = mb_path_join(dir, file);
    mb_free(dir);
    if (!*sk_path || !*pk_path) {
        mb_free(*sk_path);
        mb_free(*pk_path);
        *sk_path = *pk_path = NULL;
        return mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
    }
    return 0;
}

/* Strip one trailing "\n" or "\r\n". */
static void chomp(char *s)
{
    size_t n = strlen(s);
    if (n && s[n - 1] == '\n')
        s[--n] = '\0';
    if (n && s[n - 1] == '\r')
        s[--n] = '\0';
}

/* Read one line from the terminal with echo off. */
static int tty_read(struct mb_ctx *ctx, int fd, const char *prompt, char *buf, size_t cap)
{
    struct termios old, quiet;
    bool have_term = tcgetattr(fd, &old) == 0;
    if (have_term) {
        quiet = old;
        quiet.c_lflag &= (tcflag_t) ~(ECHO | ECHONL);
        quiet.c_lflag |= ICANON;
        tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    if (write(fd, prompt, strlen(prompt)) < 0) {
        /* the prompt is cosmetic; reading still works */
    }
    size_t n = 0;
    int rc = 0;
    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR && !mb_interrupted)
            continue;
        if (r <= 0) {
            rc = mb_interrupted ? mb_fail(&ctx->err, MB_E_INTERRUPTED, "interrupted")
                                : mb_fail(&ctx->err, MB_E_IO,
                                          "cannot read a password from the "
                                          "terminal");
            break;
        }
        if (c == '\n')
            break;
        if (n + 1 >= cap) {
            rc = mb_fail(&ctx->err, MB_E_LIMIT, "password longer than %zu bytes", cap - 1);
            break;
        }
        buf[n++] = c;
    }
    buf[n] = '\0';
    if (have_term)
        tcsetattr(fd, TCSAFLUSH, &old);
    if (write(fd, "\n", 1) < 0) {
        /* cosmetic */
    }
    return rc;
}

int mb_cli_password_read(struct mb_ctx *ctx, const char *password_file, const char *prompt,
                         bool confirm, char **out)
{
    *out = NULL;
    char *pw = mb_sign_secure_alloc(MB_SIGN_PASSWORD_MAX);
    if (!pw)
        return mb_fail(&ctx->err, MB_E_NOMEM, "out of secure memory");
    pw[0] = '\0';
    int rc = 0;
    const char *env = getenv("MODULARBASE_PASSWORD");
    if (password_file) {
        int fd = open(password_file, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            rc = mb_fail_errno(&ctx->err, errno, "cannot open password file '%s'", password_file);
        } else {
            ssize_t r = read(fd, pw, MB_SIGN_PASSWORD_MAX - 1);
            if (r < 0)
                rc = mb_fail_errno(&ctx->err, errno, "cannot read '%s'", password_file);
            else
                pw[r] = '\0';
            close(fd);
            char *nl = strchr(pw, '\n');
            if (nl)
                nl[1] = '\0';
            chomp(pw);
        }
    } else if (env) {
        if (!mb_strlcpy(pw, env, MB_SIGN_PASSWORD_MAX))
            rc = mb_fail(&ctx->err, MB_E_LIMIT, "MODULARBASE_PASSWORD is too long");
    } else {
        int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
            rc = mb_usage_error(ctx, "no terminal to read a password from: set "
                                     "MODULARBASE_PASSWORD, pass --password-file FILE, or use an "
                                     "unencrypted key (--no-password)");
        } else {
            rc = tty_read(ctx, fd, prompt, pw, MB_SIGN_PASSWORD_MAX);
            if (!rc && confirm) {
                char *again = mb_sign_secure_alloc(MB_SIGN_PASSWORD_MAX);
                if (!again)
                    rc = mb_fail(&ctx->err, MB_E_NOMEM, "out of secure memory");
                if (!rc)
                    rc = tty_read(ctx, fd, "Password (again): ", again, MB_SIGN_PASSWORD_MAX);
                if (!rc && strcmp(pw, again) != 0)
                    rc = mb_fail(&ctx->err, MB_E_USAGE, "the passwords do not match");
                mb_sign_secure_free(again);
            }
            close(fd);
        }
    }
    if (!rc && confirm && pw[0] == '\0')
        rc = mb_usage_error(ctx, "empty password; use --no-password for an unencrypted key");
    if (rc) {
        mb_sign_secure_free(pw);
        return rc;
    }
    *out = pw;
    return 0;
}

int mb_cli_seckey_load(struct mb_ctx *ctx, const char *name, const char *file,
                       const char *password_file, struct mb_seckey **out)
{
    *out = NULL;
    char *sk_path = NULL, *pk_path = NULL;
    int rc = 0;
    if (file) {
        sk_path = mb_strdup(file);
        if (!sk_path)
            return mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
    } else {
        rc = mb_cli_key_paths(ctx, name ? name : MB_CLI_DEFAULT_KEY, &sk_path, &pk_path);
        if (rc)
            return rc;
        if (!mb_path_exists(sk_path)) {
            rc = mb_fail(&ctx->err, MB_E_NOTFOUND,
                         "no secret key '%s' (%s); create it with 'modularbase key generate "
                         "--name %s'",
                         name ? name : MB_CLI_DEFAULT_KEY, sk_path,
                         name ? name : MB_CLI_DEFAULT_KEY);
            goto out;
        }
    }
    bool encrypted = false;
    rc = mb_sign_seckey_is_encrypted(sk_path, &encrypted, &ctx->err);
    if (rc)
        goto out;
    char *pw = NULL;
    if (encrypted) {
        char prompt[256];
        snprintf(prompt, sizeof(prompt), "Password for %s: ", mb_path_basename(sk_path));
        rc = mb_cli_password_read(ctx, password_file, prompt, false, &pw);
        if (rc)
            goto out;
        if (ctx->stderr_tty)
            mb_cli_note(ctx, "deriving the key from the password (scrypt, a few seconds)");
    }
    rc = mb_sign_seckey_load(sk_path, pw, out, &ctx->err);
    mb_sign_secure_free(pw);
out:
    mb_free(sk_path);
    mb_free(pk_path);
    return rc;
}

int mb_cli_pubkey_load(struct mb_ctx *ctx, const char *spec, struct mb_pubkey *out)
{
    if (mb_path_exists(spec))
        return mb_sign_pubkey_load(spec, out, &ctx->err);
    if (mb_cli_key_name_ok(spec) && strlen(spec) < 50) {
        char *sk_path, *pk_path;
        int rc = mb_cli_key_paths(ctx, spec, &sk_path, &pk_path);
        if (rc)
            return rc;
        if (mb_path_exists(pk_path))
            rc = mb_sign_pubkey_load(pk_path, out, &ctx->err);
        else
            rc =
                mb_fail(&ctx->err, MB_E_NOTFOUND,
                        "no public key file '%s' and no key named '%s' in %s", spec, spec, pk_path);
        mb_free(sk_path);
        mb_free(pk_path);
        return rc;
    }
    /* A base64 key on the command line (minisign -P style). */
    return mb_sign_pubkey_parse(spec, strlen(spec), "--key", out, &ctx->err);
}
