/*
 * store_cli.c - the terminal side of store transactions: the waiting message
 * for the lock, the plan display (what is added, upgraded, removed, the
 * download and the disk delta, as apt shows it), the confirmation prompt
 * (only on a terminal, skipped with --yes), progress while unpacking, the
 * summary, and the same plan as JSON for scripts.
 */
#include "store_cli.h"
#include "registry_cli.h"

#include <unistd.h>

int mb_cli_store_home(struct mb_ctx *ctx, char **home)
{
    return mb_home_resolve(ctx->home, home, &ctx->err);
}

static void on_wait(void *ud, long pid)
{
    struct mb_ctx *ctx = ud;
    (void)ctx;
    fflush(stdout);
    if (pid > 0)
        fprintf(stderr, "waiting for another modularbase (pid %ld) to finish...\n", pid);
    else
        fprintf(stderr, "waiting for another modularbase to finish...\n");
}

int mb_cli_store_open(struct mb_ctx *ctx, bool no_wait, struct mb_store **out)
{
    char *home = NULL;
    int rc = mb_cli_store_home(ctx, &home);
    if (rc)
        return rc;
    struct mb_store_open_opts oo = { no_wait, on_wait, ctx };
    rc = mb_store_open(home, &oo, out, &ctx->err);
    mb_free(home);
    if (!rc && mb_store_recovery_note(*out))
        mb_cli_note(ctx, "%s", mb_store_recovery_note(*out));
    return rc;
}

/* ------------------------------------------------------------ plan display */

static const char *verb(const struct mb_store_item *it)
{
    if (it->reinstall)
        return "reinstall";
    switch (it->action) {
    case MB_PLAN_INSTALL:
        return "install";
    case MB_PLAN_UPGRADE:
        return "upgrade";
    case MB_PLAN_DOWNGRADE:
        return "downgrade";
    case MB_PLAN_REMOVE:
        return "remove";
    case MB_PLAN_KEEP:
        return "keep";
    }
    return "?";
}

static void print_section(const struct mb_store_plan *p, const char *title,
                          bool (*pick)(const struct mb_store_item *))
{
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++)
        n += pick(&p->items[i]);
    if (!n)
        return;
    printf("%s\n", title);
    for (size_t i = 0; i < p->n; i++) {
        const struct mb_store_item *it = &p->items[i];
        if (!pick(it))
            continue;
        char ver[160], size[32], extra[96] = "";
        if (it->from_version && (it->action == MB_PLAN_UPGRADE || it->action == MB_PLAN_DOWNGRADE))
            snprintf(ver, sizeof(ver), "%s -> %s", it->from_version, it->version);
        else
            snprintf(ver, sizeof(ver), "%s", it->version);
        if (it->action == MB_PLAN_REMOVE)
            snprintf(extra, sizeof(extra), "%s", it->requested ? "" : ", no longer needed");
        else if (it->automatic && it->action != MB_PLAN_KEEP)
            snprintf(extra, sizeof(extra), ", dependency");
        else if (it->action == MB_PLAN_KEEP && it->automatic != it->was_automatic)
            snprintf(extra, sizeof(extra), ", now %s", it->automatic ? "automatic" : "explicit");
        mb_format_size(it->unpacked_size, size, sizeof(size));
        printf("  %-24s %-20s (%s%s) %s%s", it->id, ver, mb_pack_kind_name(it->kind), extra,
               it->unpacked_known ? "" : "~", size);
        if (it->action != MB_PLAN_REMOVE && (it->action != MB_PLAN_KEEP || it->reinstall))
            printf("  from %s %s", mb_store_source_name(it->source),
                   it->source == MB_STORE_SRC_REGISTRY ? it->registry : it->archive);
        printf("\n");
    }
}

static bool pick_install(const struct mb_store_item *it)
{
    return it->action == MB_PLAN_INSTALL;
}
static bool pick_upgrade(const struct mb_store_item *it)
{
    return it->action == MB_PLAN_UPGRADE;
}
static bool pick_downgrade(const struct mb_store_item *it)
{
    return it->action == MB_PLAN_DOWNGRADE;
}
static bool pick_reinstall(const struct mb_store_item *it)
{
    return it->reinstall;
}
static bool pick_remove(const struct mb_store_item *it)
{
    return it->action == MB_PLAN_REMOVE;
}
static bool pick_flag(const struct mb_store_item *it)
{
    return it->action == MB_PLAN_KEEP && !it->reinstall && it->automatic != it->was_automatic;
}

static void print_plan(const struct mb_store_plan *p)
{
    print_section(p, "The following packs will be installed:", pick_install);
    print_section(p, "The following packs will be upgraded:", pick_upgrade);
    print_section(p, "The following packs will be DOWNGRADED:", pick_downgrade);
    print_section(p, "The following packs will be reinstalled:", pick_reinstall);
    print_section(p, "The following packs will be REMOVED:", pick_remove);
    print_section(p, "The following packs change their install reason:", pick_flag);
    size_t ni = 0, nu = 0, nd = 0, nr = 0, nre = 0;
    for (size_t i = 0; i < p->n; i++) {
        ni += p->items[i].action == MB_PLAN_INSTALL;
        nre += p->items[i].reinstall;
        nu += p->items[i].action == MB_PLAN_UPGRADE;
        nd += p->items[i].action == MB_PLAN_DOWNGRADE;
        nr += p->items[i].action == MB_PLAN_REMOVE;
    }
    char dl[32], disk[32];
    mb_format_size(p->download_bytes, dl, sizeof(dl));
    uint64_t mag = p->disk_delta < 0 ? (uint64_t)(-p->disk_delta) : (uint64_t)p->disk_delta;
    mb_format_size(mag, disk, sizeof(disk));
    printf("%zu to install, %zu to upgrade, %zu to downgrade, %zu to remove", ni, nu, nd, nr);
    if (nre)
        printf(", %zu to reinstall", nre);
    printf(". Download: %s. Disk: %s%s%s.\n", dl, p->disk_delta < 0 ? "-" : "+", disk,
           p->disk_exact ? "" : " (estimated)");
}

static void print_json(const struct mb_store_plan *p, bool applied, bool dry_run)
{
    printf("{\"operation\": \"%s\", \"changes\": %s, \"applied\": %s, \"dry_run\": %s,\n",
           p->operation ? p->operation : "", mb_store_plan_has_changes(p) ? "true" : "false",
           applied ? "true" : "false", dry_run ? "true" : "false");
    printf(" \"download_bytes\": %llu, \"disk_delta\": %lld, \"disk_exact\": %s,\n",
           (unsigned long long)p->download_bytes, (long long)p->disk_delta,
           p->disk_exact ? "true" : "false");
    printf(" \"packs\": [");
    for (size_t i = 0; i < p->n; i++) {
        const struct mb_store_item *it = &p->items[i];
        printf("%s\n  {\"id\": ", i ? "," : "");
        mb_cli_json_string(stdout, it->id);
        printf(", \"version\": ");
        mb_cli_json_string(stdout, it->version);
        if (it->from_version) {
            printf(", \"from\": ");
            mb_cli_json_string(stdout, it->from_version);
        }
        printf(", \"action\": \"%s\", \"kind\": \"%s\", \"automatic\": %s, \"requested\": %s",
               verb(it), mb_pack_kind_name(it->kind), it->automatic ? "true" : "false",
               it->requested ? "true" : "false");
        if (it->action != MB_PLAN_REMOVE && (it->action != MB_PLAN_KEEP || it->reinstall)) {
            printf(", \"source\": \"%s\", \"archive\": ", mb_store_source_name(it->source));
            mb_cli_json_string(stdout, it->archive ? it->archive : "");
            if (it->registry) {
                printf(", \"registry\": ");
                mb_cli_json_string(stdout, it->registry);
            }
            printf(", \"download\": %llu", (unsigned long long)it->download);
        }
        printf(", \"size\": %llu, \"size_exact\": %s}", (unsigned long long)it->unpacked_size,
               it->unpacked_known ? "true" : "false");
    }
    printf("%s],\n \"world\": [", p->n ? "\n " : "");
    for (size_t i = 0; i < p->world.n; i++) {
        const struct mb_request *r = &p->world.v[i];
        char spec[MB_PACK_ID_MAX + MB_RANGE_MAX_LEN + 4];
        bool any = !strcmp(r->range_text, "*");
        snprintf(spec, sizeof(spec), "%s%s%s", r->id, any ? "" : "@", any ? "" : r->range_text);
        printf("%s", i ? ", " : "");
        mb_cli_json_string(stdout, spec);
    }
    printf("]}\n");
}

/* Ask on the terminal; true to go on. */
static bool confirm(struct mb_ctx *ctx)
{
    (void)ctx;
    fflush(stdout);
    fprintf(stderr, "Continue? [Y/n] ");
    fflush(stderr);
    char line[64];
    if (!fgets(line, sizeof(line), stdin))
        return false;
    char *p = line;
    while (*p == ' ' || *p == '\t')
        p++;
    return *p == '\n' || *p == '\0' || *p == 'y' || *p == 'Y';
}

static void print_done(const struct mb_store_plan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        const struct mb_store_item *it = &p->items[i];
        if (it->action == MB_PLAN_KEEP && !it->reinstall && it->automatic == it->was_automatic)
            continue;
        switch (it->action) {
        case MB_PLAN_UPGRADE:
        case MB_PLAN_DOWNGRADE:
            printf("%-11s %s %s -> %s\n", it->action == MB_PLAN_UPGRADE ? "upgraded" : "downgraded",
                   it->id, it->from_version ? it->from_version : "?", it->version);
            break;
        case MB_PLAN_REMOVE:
            printf("%-11s %s %s\n", "removed", it->id, it->version);
            break;
        case MB_PLAN_INSTALL:
            printf("%-11s %s %s\n", "installed", it->id, it->version);
            break;
        case MB_PLAN_KEEP:
            if (it->reinstall)
                printf("%-11s %s %s\n", "reinstalled", it->id, it->version);
            else
                printf("%-11s %s %s (%s)\n", "marked", it->id, it->version,
                       it->automatic ? "automatic" : "explicit");
            break;
        }
    }
}

int mb_cli_run_plan(struct mb_ctx *ctx, struct mb_store *st, struct mb_store_plan *plan, int rc,
                    const struct mb_cli_txn_opts *o, const struct mb_store_remote *remote)
{
    if (rc == MB_E_CONFLICT && plan->explanation) {
        fflush(stdout);
        fprintf(stderr, "%s\n", plan->explanation);
    }
    if (rc)
        return rc;
    bool changes = mb_store_plan_has_changes(plan);
    if (!changes) {
        if (o->json)
            print_json(plan, false, o->dry_run);
        else
            printf("Nothing to do: the installed packs already satisfy the request.\n");
        return 0;
    }
    if (!o->json)
        print_plan(plan);
    if (o->dry_run) {
        if (o->json)
            print_json(plan, false, true);
        else
            printf("Dry run: nothing was changed.\n");
        return 0;
    }
    if (ctx->stdin_tty && !o->yes && !o->json && !confirm(ctx))
        return mb_fail(&ctx->err, MB_E_FALSE, "aborted; nothing was changed");
    struct mb_cli_progress prog;
    mb_cli_progress_init(&prog, ctx);
    struct mb_store_apply_opts ao;
    memset(&ao, 0, sizeof(ao));
    ao.remote = remote;
    if (!o->json && ctx->stderr_tty)
        ao.progress = mb_cli_progress_cb(&prog);
    rc = mb_store_apply(st, plan, &ao, &ctx->err);
    mb_cli_progress_done(&prog);
    if (rc)
        return rc;
    if (o->json)
        print_json(plan, true, false);
    else
        print_done(plan);
    return 0;
}

/* ------------------------------------------------------------ registries */

struct mb_cli_remote {
    struct mb_client *client;
    struct mb_store_client_remote cr;
    struct mb_cli_dlprogress dl;
    struct mb_download_progress dlcb;
};

int mb_cli_remote_open(struct mb_ctx *ctx, const char *home, bool offline, bool quiet,
                       struct mb_cli_remote **out)
{
    *out = NULL;
    struct mb_cli_remote *r = mb_calloc(1, sizeof(*r));
    if (!r)
        return mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
    struct mb_cli_net net = MB_CLI_NET_INIT;
    net.offline = offline;
    int rc = mb_cli_client_open(ctx, &net, &r->client);
    if (!rc)
        rc = mb_store_client_remote_init(&r->cr, r->client, home, &ctx->err);
    if (rc) {
        mb_cli_remote_free(r);
        return rc;
    }
    mb_cli_dlprogress_init(&r->dl, ctx, quiet);
    r->dlcb = mb_cli_dlprogress_cb(&r->dl);
    r->cr.dlprogress = &r->dlcb;
    *out = r;
    return 0;
}

const struct mb_store_remote *mb_cli_remote_get(const struct mb_cli_remote *r)
{
    return r ? &r->cr.remote : NULL;
}

bool mb_cli_remote_has_registries(const struct mb_cli_remote *r)
{
    return r && r->cr.remote.src.load;
}

void mb_cli_remote_free(struct mb_cli_remote *r)
{
    if (!r)
        return;
    if (r->cr.dlprogress)
        mb_cli_dlprogress_release(&r->dl);
    mb_store_client_remote_release(&r->cr);
    mb_client_free(r->client);
    mb_free(r);
}
