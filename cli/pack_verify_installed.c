/*
 * pack_verify_installed.c - the installed-pack half of `pack verify`: with
 * pack ids (or none: every pack) instead of a .mbpack file, re-hash every
 * installed file against state.json and report modified, missing and
 * unexpected files; with --repair, rebuild a damaged state.json from packs/.
 * Exit 0 when everything matches, 5 when something differs.
 */
#include "store_cli.h"

int mb_cli_pack_verify_installed(struct mb_ctx *ctx, char **ids, int n, bool json, bool repair)
{
    char *home = NULL;
    int rc = mb_cli_store_home(ctx, &home);
    if (rc)
        return rc;
    if (repair) {
        char *note = NULL;
        struct mb_store_open_opts oo = { false, NULL, NULL };
        rc = mb_store_repair(home, &oo, &note, &ctx->err);
        if (!rc && note)
            printf("%s\n", note);
        mb_free(note);
        if (rc) {
            mb_free(home);
            return rc;
        }
    }
    struct mb_cli_progress prog;
    mb_cli_progress_init(&prog, ctx);
    struct mb_progress cb = { NULL, NULL };
    if (!json && ctx->stderr_tty)
        cb = mb_cli_progress_cb(&prog);
    struct mb_store_verify_result r;
    rc = mb_store_verify(home, (const char *const *)ids, (size_t)n, &cb, &r, &ctx->err);
    mb_cli_progress_done(&prog);
    mb_free(home);
    if (rc)
        return rc;
    if (json) {
        printf("{\"ok\": %s, \"packs\": %zu, \"files\": %zu, \"bytes\": %llu, \"problems\": [",
               r.n ? "false" : "true", r.packs_checked, r.files_checked,
               (unsigned long long)r.bytes_hashed);
        for (size_t i = 0; i < r.n; i++) {
            printf("%s\n  {\"id\": ", i ? "," : "");
            mb_cli_json_string(stdout, r.v[i].id);
            printf(", \"version\": ");
            mb_cli_json_string(stdout, r.v[i].version);
            printf(", \"path\": ");
            mb_cli_json_string(stdout, r.v[i].path);
            printf(", \"problem\": \"%s\"}", mb_store_problem_name(r.v[i].kind));
        }
        printf("%s]}\n", r.n ? "\n" : "");
    } else {
        for (size_t i = 0; i < r.n; i++)
            printf("%s %s: %s%s%s\n", r.v[i].id, r.v[i].version, mb_store_problem_name(r.v[i].kind),
                   r.v[i].path[0] ? ": " : "", r.v[i].path);
        char size[32];
        printf("%zu pack%s, %zu files, %s checked: %s\n", r.packs_checked,
               r.packs_checked == 1 ? "" : "s", r.files_checked,
               mb_format_size(r.bytes_hashed, size, sizeof(size)), r.n ? "PROBLEMS FOUND" : "ok");
    }
    if (r.n) {
        rc = mb_fail(&ctx->err, MB_E_INTEGRITY,
                     "%zu problem%s in installed packs (reinstall with 'modularbase pack install "
                     "--reinstall ID')",
                     r.n, r.n == 1 ? "" : "s");
    }
    mb_store_verify_result_release(&r);
    return rc;
}
