/*
 * store_remote.c - the registry client (mb_client.h) seen from the store:
 * index records for the resolver, verified parallel downloads of the planned
 * archives into <home>/cache/packs/ (resumable partials in cache/partial/),
 * whether an archive is already cached (for the plan's download figure), the
 * archive's URL (state.json's origin), and plain URL downloads for `pack
 * install https://...`.
 */
#include "mb_client.h"
#include "store_int.h"

#include <sys/stat.h>

struct progress_bridge {
    const struct mb_progress *progress;
};

static void bridge_fn(void *ud, const struct mb_download_status *st)
{
    struct progress_bridge *b = ud;
    mb_progress_report(b->progress, "downloading", st->done, st->total);
}

static int remote_fetch(void *ud, const struct mb_store_fetch_item *items, size_t n, char **paths,
                        const struct mb_progress *progress, struct mb_err *err)
{
    struct mb_store_client_remote *r = ud;
    struct mb_download *dl = mb_calloc(n ? n : 1, sizeof(*dl));
    if (!dl)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        dl[i].registry = items[i].registry;
        dl[i].id = items[i].id;
        dl[i].version = items[i].version;
        dl[i].archive = items[i].archive;
        mb_strlcpy(dl[i].sha256, items[i].sha256, sizeof(dl[i].sha256));
        dl[i].size = items[i].size;
    }
    struct progress_bridge bridge = { progress };
    struct mb_download_progress generic = { bridge_fn, &bridge };
    const struct mb_download_progress *p =
        r->dlprogress ? (const struct mb_download_progress *)r->dlprogress : &generic;
    int rc = mb_client_download(r->client, dl, n, p, err);
    for (size_t i = 0; i < n; i++) {
        if (!rc && !(paths[i] = mb_strdup(dl[i].path)))
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        mb_download_release(&dl[i]);
    }
    if (rc)
        for (size_t i = 0; i < n; i++) {
            mb_free(paths[i]);
            paths[i] = NULL;
        }
    mb_free(dl);
    return rc;
}

/* The client's cache name: packs/<id>-<version>-<sha256:12>.mbpack with the right size. */
static bool remote_cached(void *ud, const struct mb_store_fetch_item *it)
{
    struct mb_store_client_remote *r = ud;
    char path[STORE_PATH_MAX];
    if (!mb_snprintf(path, sizeof(path), "%s/%s/packs/%s-%s-%.12s.mbpack", r->home, STORE_CACHE,
                     it->id, it->version, it->sha256))
        return false;
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == it->size;
}

static char *remote_url(void *ud, const struct mb_store_fetch_item *it)
{
    struct mb_store_client_remote *r = ud;
    const struct mb_registry_conf *rc = mb_config_find(mb_client_config(r->client), it->registry);
    if (!rc)
        return mb_strdup(it->archive);
    struct mb_buf b;
    mb_buf_init(&b, STORE_PATH_MAX * 2);
    if (mb_buf_appendf(&b, NULL, "%s%s", rc->url, it->archive)) {
        mb_buf_release(&b);
        return NULL;
    }
    return mb_buf_detach(&b, NULL);
}

static int remote_fetch_url(void *ud, const char *url, char **path, struct mb_err *err)
{
    struct mb_store_client_remote *r = ud;
    *path = NULL;
    struct mb_download d;
    memset(&d, 0, sizeof(d));
    d.url = url;
    int rc = mb_client_download(r->client, &d, 1,
                                (const struct mb_download_progress *)r->dlprogress, err);
    if (!rc && !(*path = mb_strdup(d.path)))
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
    mb_download_release(&d);
    return rc;
}

int mb_store_client_remote_init(struct mb_store_client_remote *r, struct mb_client *c,
                                const char *home, struct mb_err *err)
{
    memset(r, 0, sizeof(*r));
    r->client = c;
    r->home = mb_strdup(home);
    if (!r->home)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    if (mb_client_config(c)->nregistries)
        r->remote.src = mb_client_source(c);
    r->remote.fetch = remote_fetch;
    r->remote.cached = remote_cached;
    r->remote.url = remote_url;
    r->remote.fetch_url = remote_fetch_url;
    r->remote.ud = r;
    return 0;
}

void mb_store_client_remote_release(struct mb_store_client_remote *r)
{
    if (!r)
        return;
    mb_free(r->home);
    memset(r, 0, sizeof(*r));
}
