/*
 * store_plan.c - turning a user's command into a transaction plan. Install
 * adds the specs to a copy of the world (ids and ranges as given; a local
 * .mbpack or a bundle adds its id and pins its version for this resolution),
 * remove takes ids out of it (refusing, or with cascade following, reverse
 * dependencies), upgrade drops the installed-version preference. Then the
 * PubGrub resolver solves the world against the installed packs, the local
 * candidates and the registries, and each resolved entry is given its source
 * (local file, bundle member or registry archive), its download and its disk
 * figures. Nothing is changed on disk here.
 */
#include "store_int.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

void mb_store_plan_init(struct mb_store_plan *p)
{
    memset(p, 0, sizeof(*p));
    mb_store_world_init(&p->world);
}

static void item_release(struct mb_store_item *it)
{
    mb_free(it->id);
    mb_free(it->version);
    mb_free(it->from_version);
    mb_free(it->registry);
    mb_free(it->archive);
    mb_free(it->bundle_member);
    mb_free(it->origin);
}

void mb_store_plan_release(struct mb_store_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        item_release(&p->items[i]);
    mb_free(p->items);
    mb_store_world_release(&p->world);
    mb_free(p->explanation);
    mb_free(p->operation);
    mb_store_plan_init(p);
}

bool mb_store_plan_has_changes(const struct mb_store_plan *p)
{
    if (p->world_changed)
        return true;
    for (size_t i = 0; i < p->n; i++) {
        const struct mb_store_item *it = &p->items[i];
        if (it->action != MB_PLAN_KEEP || it->reinstall || it->automatic != it->was_automatic)
            return true;
    }
    return false;
}

/* ------------------------------------------------------------ helpers */

/* A copy of a world (requests re-parsed from their text). */
static int world_copy(struct mb_store_world *dst, const struct mb_store_world *src,
                      struct mb_err *err)
{
    mb_store_world_init(dst);
    for (size_t i = 0; i < src->n; i++) {
        int rc = mb_store_world_put(dst, src->v[i].id, src->v[i].range_text, err);
        if (rc)
            return rc;
    }
    return 0;
}

static bool world_equal(const struct mb_store_world *a, const struct mb_store_world *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i].id, b->v[i].id) || strcmp(a->v[i].range_text, b->v[i].range_text))
            return false;
    return true;
}

/* A pin: for this resolution only, `id` must match `range` (a local file's exact version). */
struct pin {
    char *id;
    char *range;
};

struct planner {
    struct mb_store *st;
    const struct mb_store_request *req;
    struct store_source *src;
    struct pin *pins;
    size_t npins;
    char **named; /* ids named on the command line */
    size_t nnamed;
    struct mb_lock prefer; /* bundle versions (preferred), or --locked */
    bool have_prefer;
    struct store_bundle *bundles;
    size_t nbundles;
};

static void planner_release(struct planner *pl)
{
    store_source_free(pl->src);
    for (size_t i = 0; i < pl->npins; i++) {
        mb_free(pl->pins[i].id);
        mb_free(pl->pins[i].range);
    }
    mb_free(pl->pins);
    for (size_t i = 0; i < pl->nnamed; i++)
        mb_free(pl->named[i]);
    mb_free(pl->named);
    mb_lock_release(&pl->prefer);
    for (size_t i = 0; i < pl->nbundles; i++)
        store_bundle_release(&pl->bundles[i]);
    mb_free(pl->bundles);
}

static int add_named(struct planner *pl, const char *id, struct mb_err *err)
{
    for (size_t i = 0; i < pl->nnamed; i++)
        if (!strcmp(pl->named[i], id))
            return 0;
    char **v = mb_reallocarray(pl->named, pl->nnamed + 1, sizeof(*v));
    if (!v)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    pl->named = v;
    v[pl->nnamed] = mb_strdup(id);
    if (!v[pl->nnamed])
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    pl->nnamed++;
    return 0;
}

static bool is_named(const struct planner *pl, const char *id)
{
    for (size_t i = 0; i < pl->nnamed; i++)
        if (!strcmp(pl->named[i], id))
            return true;
    return false;
}

static int add_pin(struct planner *pl, const char *id, const char *range, struct mb_err *err)
{
    for (size_t i = 0; i < pl->npins; i++)
        if (!strcmp(pl->pins[i].id, id)) {
            if (strcmp(pl->pins[i].range, range))
                return mb_fail(err, MB_E_USAGE, "'%s' is given twice, as %s and as %s", id,
                               pl->pins[i].range, range);
            return 0;
        }
    struct pin *v = mb_reallocarray(pl->pins, pl->npins + 1, sizeof(*v));
    if (!v)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    pl->pins = v;
    v[pl->npins].id = mb_strdup(id);
    v[pl->npins].range = mb_strdup(range);
    if (!v[pl->npins].id || !v[pl->npins].range) {
        mb_free(v[pl->npins].id);
        mb_free(v[pl->npins].range);
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    }
    pl->npins++;
    return 0;
}

/* The resolver's requests: the world, with pins taking precedence. */
static int build_requests(struct planner *pl, const struct mb_store_world *w,
                          struct mb_request **out, size_t *nout, struct mb_err *err)
{
    *out = NULL;
    *nout = 0;
    size_t cap = w->n + pl->npins;
    struct mb_request *r = mb_calloc(cap ? cap : 1, sizeof(*r));
    if (!r)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    int rc = 0;
    size_t n = 0;
    char spec[MB_PACK_ID_MAX + MB_RANGE_MAX_LEN + 4];
    for (size_t i = 0; !rc && i < w->n; i++) {
        const char *range = w->v[i].range_text;
        for (size_t j = 0; j < pl->npins; j++)
            if (!strcmp(pl->pins[j].id, w->v[i].id))
                range = pl->pins[j].range;
        if (!mb_snprintf(spec, sizeof(spec), "%s@%s", w->v[i].id, range))
            rc = mb_fail(err, MB_E_LIMIT, "request for '%s' is too long", w->v[i].id);
        if (!rc)
            rc = mb_request_parse(spec, pl->req->include_prerelease, &r[n], err);
        if (!rc)
            n++;
    }
    if (rc) {
        for (size_t i = 0; i < n; i++)
            mb_request_release(&r[i]);
        mb_free(r);
        return rc;
    }
    *out = r;
    *nout = n;
    return 0;
}

static void requests_free(struct mb_request *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        mb_request_release(&r[i]);
    mb_free(r);
}

/* The installed set as a lock (the resolver's `installed`), leaving out `skip` ids. */
static int installed_lock(const struct mb_store_state *s, const char *const *skip, size_t nskip,
                          struct mb_lock *out, struct mb_err *err)
{
    mb_lock_init(out);
    for (size_t i = 0; i < s->n; i++) {
        bool skipped = false;
        for (size_t j = 0; j < nskip; j++)
            skipped |= !strcmp(skip[j], s->packs[i].id);
        if (skipped)
            continue;
        int rc = mb_lock_put(out, s->packs[i].id, s->packs[i].version,
                             s->packs[i].registry ? s->packs[i].registry : "local",
                             s->packs[i].archive_sha256, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------ specs */

static bool looks_like_path(const char *spec)
{
    size_t n = strlen(spec);
    if (strchr(spec, '/'))
        return true;
    if ((n > 7 && !strcmp(spec + n - 7, ".mbpack")) || (n > 4 && !strcmp(spec + n - 4, ".tar")))
        return true;
    struct stat st;
    return !strchr(spec, '@') && stat(spec, &st) == 0 && S_ISREG(st.st_mode);
}

/* A local .mbpack: read its head, add it as a candidate, pin its version. */
static int add_file_spec(struct planner *pl, struct mb_store_world *w, const char *path,
                         const char *url, struct mb_err *err)
{
    char abs[PATH_MAX];
    if (!realpath(path, abs))
        return mb_fail(err, MB_E_NOTFOUND, "'%s' does not exist", path);
    struct store_head h;
    int rc = store_head_read(abs, &h, err);
    if (rc)
        return rc;
    struct mb_index_version v;
    struct store_local loc;
    memset(&loc, 0, sizeof(loc));
    rc = mb_index_version_from_manifest(&h.manifest, &v, err);
    if (!rc) {
        v.size = h.archive_size;
        loc.id = mb_strdup(h.manifest.id);
        loc.version = mb_strdup(h.manifest.version_text);
        loc.path = mb_strdup(abs);
        loc.origin = url ? mb_strdup(url) : NULL;
        loc.source = MB_STORE_SRC_FILE;
        loc.archive_size = h.archive_size;
        loc.unpacked_size = h.info.total_size;
        loc.unpacked_known = true;
        if (!loc.id || !loc.version || !loc.path || (url && !loc.origin))
            rc = mb_fail(err, MB_E_NOMEM, "out of memory");
        if (!rc)
            rc = store_source_add_local(pl->src, h.manifest.id, h.manifest.kind, &v, &loc, err);
        mb_index_version_release(&v);
        store_local_release(&loc);
    }
    char exact[MB_SEMVER_STR_MAX + 2];
    if (!rc) {
        snprintf(exact, sizeof(exact), "=%s", h.manifest.version_text);
        rc = add_pin(pl, h.manifest.id, exact, err);
    }
    if (!rc)
        rc = mb_store_world_put(w, h.manifest.id, NULL, err);
    if (!rc)
        rc = add_named(pl, h.manifest.id, err);
    store_head_release(&h);
    return rc;
}

/* A bundle: every pack in it is a candidate; the packs it was made for are requested. */
static int add_bundle_spec(struct planner *pl, struct mb_store_world *w, const char *path,
                           struct mb_err *err)
{
    char abs[PATH_MAX];
    if (!realpath(path, abs))
        return mb_fail(err, MB_E_NOTFOUND, "'%s' does not exist", path);
    struct store_bundle *v = mb_reallocarray(pl->bundles, pl->nbundles + 1, sizeof(*v));
    if (!v)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    pl->bundles = v;
    struct store_bundle *b = &pl->bundles[pl->nbundles];
    int rc = store_bundle_read(abs, b, err);
    if (rc)
        return rc;
    pl->nbundles++;
    pl->have_prefer = true;
    for (size_t i = 0; !rc && i < b->nrecs; i++) {
        struct mb_index_record *r = &b->recs[i];
        for (size_t j = 0; !rc && j < r->nversions; j++) {
            struct mb_index_version *iv = &r->versions[j];
            struct store_local loc;
            memset(&loc, 0, sizeof(loc));
            loc.id = mb_strdup(r->id);
            loc.version = mb_strdup(iv->version_text);
            loc.path = mb_strdup(abs);
            loc.member = mb_strdup(iv->archive);
            loc.source = MB_STORE_SRC_BUNDLE;
            memcpy(loc.sha256, iv->sha256, MB_SHA256_HEX);
            loc.archive_size = iv->size;
            loc.unpacked_size = store_bundle_unpacked(b, r->id, iv->version_text);
            loc.unpacked_known = loc.unpacked_size != 0;
            if (!loc.unpacked_known)
                loc.unpacked_size = iv->size;
            if (!loc.id || !loc.version || !loc.path || !loc.member)
                rc = mb_fail(err, MB_E_NOMEM, "out of memory");
            if (!rc)
                rc = mb_lock_put(&pl->prefer, r->id, iv->version_text, "local", iv->sha256, err);
            /* The source takes the version; the bundle keeps an empty slot. */
            struct mb_index_version moved = *iv;
            memset(iv, 0, sizeof(*iv));
            if (!rc)
                rc = store_source_add_local(pl->src, r->id, r->kind, &moved, &loc, err);
            mb_index_version_release(&moved);
            store_local_release(&loc);
        }
    }
    for (size_t i = 0; !rc && i < b->nrequested; i++) {
        rc = mb_store_world_put(w, b->requested[i], NULL, err);
        if (!rc)
            rc = add_named(pl, b->requested[i], err);
        const struct mb_lock_entry *le = mb_lock_find(&pl->prefer, b->requested[i]);
        char exact[MB_SEMVER_STR_MAX + 2];
        if (!rc && le) {
            snprintf(exact, sizeof(exact), "=%s", le->version);
            rc = add_pin(pl, b->requested[i], exact, err);
        }
    }
    return rc;
}

static int add_spec(struct planner *pl, struct mb_store_world *w, const char *spec,
                    struct mb_err *err)
{
    if (!strncmp(spec, "file://", 7)) {
        spec += 7;
        if (strchr(spec, '%'))
            return mb_fail(err, MB_E_USAGE, "'file://%s': percent-encoded URLs are not supported",
                           spec);
    } else if (!strncmp(spec, "http://", 7) || !strncmp(spec, "https://", 8)) {
        const struct mb_store_remote *r = pl->req->remote;
        if (pl->req->offline)
            return mb_fail(err, MB_E_NETWORK, "'%s': --offline forbids downloading", spec);
        if (!r || !r->fetch_url)
            return mb_fail(err, MB_E_UNSUPPORTED, "'%s': no downloader available", spec);
        char *path = NULL;
        int rc = r->fetch_url(r->ud, spec, &path, err);
        if (!rc && store_is_bundle(path))
            rc = add_bundle_spec(pl, w, path, err);
        else if (!rc)
            rc = add_file_spec(pl, w, path, spec, err);
        mb_free(path);
        return rc;
    } else if (strstr(spec, "://")) {
        return mb_fail(err, MB_E_USAGE, "'%s': only http://, https:// and file:// URLs", spec);
    } else if (!looks_like_path(spec)) {
        struct mb_request r;
        int rc = mb_request_parse(spec, pl->req->include_prerelease, &r, err);
        if (rc)
            return rc;
        rc = mb_store_world_put(w, r.id, r.range_text, err);
        if (!rc)
            rc = add_named(pl, r.id, err);
        mb_request_release(&r);
        return rc;
    }
    if (store_is_bundle(spec))
        return add_bundle_spec(pl, w, spec, err);
    return add_file_spec(pl, w, spec, NULL, err);
}

/* ------------------------------------------------------------ items */

static int fill_source(struct planner *pl, struct mb_store_item *it, const struct mb_plan_entry *e,
                       struct mb_err *err)
{
    const struct store_local *loc = store_source_local(pl->src, it->id, it->version);
    if (loc) {
        it->source = loc->source;
        it->archive = mb_strdup(loc->path);
        it->bundle_member = loc->member ? mb_strdup(loc->member) : NULL;
        it->origin = loc->origin ? mb_strdup(loc->origin) : NULL;
        if (loc->origin && !it->origin)
            return mb_fail(err, MB_E_NOMEM, "out of memory");
        memcpy(it->sha256, loc->sha256, MB_SHA256_HEX);
        it->archive_size = loc->archive_size;
        it->unpacked_size = loc->unpacked_size;
        it->unpacked_known = loc->unpacked_known;
        if (!it->archive || (loc->member && !it->bundle_member))
            return mb_fail(err, MB_E_NOMEM, "out of memory");
        return 0;
    }
    const struct mb_index_version *iv = store_source_version(pl->src, it->id, it->version);
    const char *registry = e->registry;
    if (iv && (!iv->archive || !*iv->archive)) {
        /* The installed version's record (a reinstall): ask the registries for its archive. */
        iv = store_source_remote_version(pl->src, it->id, it->version, &registry);
    }
    if (!pl->req->remote || !registry || !strcmp(registry, "local") || !iv || !iv->archive ||
        !*iv->archive) {
        /* A reinstall of a pack that came from a file: use that file if it still exists. */
        const struct mb_store_pack *p = mb_store_state_find(&pl->st->state, it->id);
        if (p && !strcmp(p->version, it->version) && p->origin && p->source == MB_STORE_SRC_FILE &&
            mb_path_exists(p->origin)) {
            it->source = MB_STORE_SRC_FILE;
            it->archive = mb_strdup(p->origin);
            it->unpacked_size = p->size;
            it->unpacked_known = true;
            it->archive_size = p->archive_size;
            return it->archive ? 0 : mb_fail(err, MB_E_NOMEM, "out of memory");
        }
        return mb_fail(err, MB_E_NOTFOUND,
                       "no archive for '%s' %s: it is not in a configured registry%s; give its "
                       ".mbpack file",
                       it->id, it->version, pl->req->offline ? " (--offline)" : "");
    }
    it->source = MB_STORE_SRC_REGISTRY;
    it->registry = mb_strdup(registry);
    it->archive = mb_strdup(iv->archive);
    memcpy(it->sha256, iv->sha256, MB_SHA256_HEX);
    it->archive_size = iv->size;
    it->unpacked_size = iv->size;
    it->unpacked_known = false;
    if (!it->registry || !it->archive)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    struct mb_store_fetch_item fi = { it->registry, it->id,     it->version,
                                      it->archive,  it->sha256, it->archive_size };
    bool cached = pl->req->remote->cached && pl->req->remote->cached(pl->req->remote->ud, &fi);
    if (!cached && pl->req->offline)
        return mb_fail(err, MB_E_NOTFOUND,
                       "'%s' %s is not in the download cache, and --offline forbids downloading "
                       "it",
                       it->id, it->version);
    it->download = cached ? 0 : iv->size;
    return 0;
}

/* Turn the resolution into plan items with sources and sizes. */
static int build_items(struct planner *pl, const struct mb_resolution *res,
                       struct mb_store_plan *plan, struct mb_err *err)
{
    plan->items = mb_calloc(res->n ? res->n : 1, sizeof(*plan->items));
    if (!plan->items)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    plan->disk_exact = true;
    for (size_t i = 0; i < res->n; i++) {
        const struct mb_plan_entry *e = &res->entries[i];
        struct mb_store_item *it = &plan->items[plan->n++];
        const struct mb_store_pack *old = mb_store_state_find(&pl->st->state, e->id);
        it->id = mb_strdup(e->id);
        it->version = mb_strdup(e->version);
        it->from_version = e->from_version ? mb_strdup(e->from_version) : NULL;
        if (!it->id || !it->version || (e->from_version && !it->from_version))
            return mb_fail(err, MB_E_NOMEM, "out of memory");
        it->action = e->action;
        /*
         * The action is relative to what the resolver was told is installed;
         * an upgrade of chosen packs hides them from it: compare with the state.
         */
        if (old && e->action != MB_PLAN_REMOVE) {
            struct mb_semver nv, ov;
            if (mb_semver_parse_cstr(e->version, &nv, err) ||
                mb_semver_parse_cstr(old->version, &ov, err))
                return err ? err->code : MB_E_FORMAT;
            int c = mb_semver_cmp(&nv, &ov);
            it->action = c > 0 ? MB_PLAN_UPGRADE : c < 0 ? MB_PLAN_DOWNGRADE : MB_PLAN_KEEP;
            if (c && !it->from_version && !(it->from_version = mb_strdup(old->version)))
                return mb_fail(err, MB_E_NOMEM, "out of memory");
        }
        it->kind = e->kind;
        it->requested = is_named(pl, e->id);
        it->was_automatic = old ? old->automatic : true;
        it->automatic = !mb_store_world_find(&plan->world, e->id);
        if (e->action == MB_PLAN_REMOVE) {
            it->automatic = it->was_automatic;
            it->unpacked_size = old ? old->size : 0;
            it->unpacked_known = true;
            plan->disk_delta -= (int64_t)it->unpacked_size;
            continue;
        }
        it->reinstall = it->action == MB_PLAN_KEEP && pl->req->reinstall && it->requested;
        if (it->action == MB_PLAN_KEEP && !it->reinstall) {
            if (old) {
                it->unpacked_size = old->size;
                it->unpacked_known = true;
            }
            continue;
        }
        int rc = fill_source(pl, it, e, err);
        if (rc)
            return rc;
        plan->download_bytes += it->download;
        plan->disk_exact &= it->unpacked_known;
        plan->disk_delta += (int64_t)it->unpacked_size;
        if (old)
            plan->disk_delta -= (int64_t)old->size;
    }
    return 0;
}

/* Solve `world` and fill the plan. */
static int solve(struct planner *pl, struct mb_store_plan *plan, const struct mb_lock *installed,
                 bool upgrade, struct mb_err *err)
{
    struct mb_request *reqs = NULL;
    size_t nreq = 0;
    int rc = build_requests(pl, &plan->world, &reqs, &nreq, err);
    if (rc)
        return rc;
    if (nreq == 0) {
        /* Nothing requested: every installed pack goes (no base is needed either). */
        requests_free(reqs, nreq);
        const struct mb_store_state *s = &pl->st->state;
        plan->items = mb_calloc(s->n ? s->n : 1, sizeof(*plan->items));
        if (!plan->items)
            return mb_fail(err, MB_E_NOMEM, "out of memory");
        plan->disk_exact = true;
        for (size_t i = 0; i < s->n; i++) {
            struct mb_store_item *it = &plan->items[plan->n++];
            it->id = mb_strdup(s->packs[i].id);
            it->version = mb_strdup(s->packs[i].version);
            if (!it->id || !it->version)
                return mb_fail(err, MB_E_NOMEM, "out of memory");
            it->action = MB_PLAN_REMOVE;
            it->kind = s->packs[i].kind;
            it->automatic = it->was_automatic = s->packs[i].automatic;
            it->requested = is_named(pl, it->id);
            it->unpacked_size = s->packs[i].size;
            it->unpacked_known = true;
            plan->disk_delta -= (int64_t)s->packs[i].size;
        }
        return 0;
    }
    /* An unknown pack named by the user is "not found", not a conflict. */
    struct mb_resolve_source src = store_source_get(pl->src);
    for (size_t i = 0; i < nreq; i++) {
        if (!is_named(pl, reqs[i].id))
            continue;
        const struct mb_index_record *rec;
        const char *reg;
        rc = src.load(src.ud, reqs[i].id, &rec, &reg, err);
        if (rc) {
            requests_free(reqs, nreq);
            return rc;
        }
    }
    struct mb_lock locked;
    mb_lock_init(&locked);
    if (pl->req->locked && (rc = mb_lock_load(pl->req->locked, &locked, err))) {
        requests_free(reqs, nreq);
        return rc;
    }
    struct mb_resolve_opts ro = {
        .requests = reqs,
        .nrequests = nreq,
        .installed = installed,
        .lock = pl->req->locked ? &locked : (pl->have_prefer ? &pl->prefer : NULL),
        .locked = pl->req->locked != NULL,
        .include_prerelease = pl->req->include_prerelease,
        .upgrade = upgrade,
    };
    struct mb_resolution res;
    memset(&res, 0, sizeof(res));
    rc = mb_resolve(&src, &ro, &res, err);
    if (rc == MB_E_CONFLICT && res.explanation)
        plan->explanation = mb_strdup(res.explanation);
    if (!rc)
        rc = build_items(pl, &res, plan, err);
    mb_resolution_release(&res);
    mb_lock_release(&locked);
    requests_free(reqs, nreq);
    return rc;
}

static int plan_start(struct mb_store *st, const struct mb_store_request *req, const char *op,
                      struct planner *pl, struct mb_store_plan *plan, bool use_remote,
                      struct mb_err *err)
{
    mb_store_plan_init(plan);
    memset(pl, 0, sizeof(*pl));
    mb_lock_init(&pl->prefer);
    pl->st = st;
    pl->req = req;
    plan->operation = mb_strdup(op);
    if (!plan->operation)
        return mb_fail(err, MB_E_NOMEM, "out of memory");
    int rc = world_copy(&plan->world, &st->world, err);
    if (!rc)
        rc = store_source_new(st->home, &st->state, use_remote ? req->remote : NULL, &pl->src, err);
    return rc;
}

/* ------------------------------------------------------------ install */

int mb_store_plan_install(struct mb_store *st, const struct mb_store_request *req,
                          struct mb_store_plan *plan, struct mb_err *err)
{
    struct planner pl;
    int rc = plan_start(st, req, "install", &pl, plan, true, err);
    for (size_t i = 0; !rc && i < req->nspecs; i++)
        rc = add_spec(&pl, &plan->world, req->specs[i], err);
    struct mb_lock inst;
    mb_lock_init(&inst);
    if (!rc)
        rc = installed_lock(&st->state, NULL, 0, &inst, err);
    if (!rc)
        rc = solve(&pl, plan, &inst, false, err);
    if (!rc)
        plan->world_changed = !world_equal(&plan->world, &st->world);
    mb_lock_release(&inst);
    planner_release(&pl);
    return rc;
}

/* ------------------------------------------------------------ remove */

/* Whether installed pack `p` needs `target` (a dependency, or the only base). */
static bool needs(struct planner *pl, const struct mb_store_pack *p,
                  const struct mb_store_pack *target, size_t nbases)
{
    if (target->kind == MB_PACK_BASE && p->kind != MB_PACK_BASE && nbases == 1)
        return true;
    struct mb_err e;
    const struct mb_manifest *m = store_source_installed_manifest(pl->src, p->id, &e);
    if (!m)
        return false;
    for (size_t i = 0; i < m->ndeps; i++)
        if (!strcmp(m->deps[i].id, target->id))
            return true;
    return false;
}

int mb_store_plan_remove(struct mb_store *st, const struct mb_store_request *req,
                         struct mb_store_plan *plan, struct mb_err *err)
{
    struct planner pl;
    int rc = plan_start(st, req, "remove", &pl, plan, false, err);
    const struct mb_store_state *s = &st->state;
    bool *gone = rc ? NULL : mb_calloc(s->n ? s->n : 1, sizeof(bool));
    if (!rc && !gone)
        rc = mb_fail(err, MB_E_NOMEM, "out of memory");
    size_t nbases = 0;
    for (size_t i = 0; i < s->n; i++)
        nbases += s->packs[i].kind == MB_PACK_BASE;
    for (size_t i = 0; !rc && i < req->nspecs; i++) {
        const char *id = req->specs[i];
        struct mb_err e;
        if (mb_pack_id_check(id, &e)) {
            rc = mb_fail(err, MB_E_USAGE, "'pack remove' takes pack ids: %s", e.msg);
            break;
        }
        const struct mb_store_pack *p = mb_store_state_find(s, id);
        if (!p) {
            rc = mb_fail(err, MB_E_NOTFOUND, "'%s' is not installed", id);
            break;
        }
        gone[p - s->packs] = true;
        rc = add_named(&pl, id, err);
    }
    /* Reverse dependencies: refuse, or (cascade) remove them too, to a fixpoint. */
    for (bool grew = true; !rc && grew;) {
        grew = false;
        for (size_t i = 0; !rc && i < s->n; i++) {
            if (gone[i])
                continue;
            for (size_t t = 0; t < s->n; t++) {
                if (!gone[t] || !needs(&pl, &s->packs[i], &s->packs[t], nbases))
                    continue;
                if (!req->cascade) {
                    bool base = s->packs[t].kind == MB_PACK_BASE;
                    rc = mb_fail(err, MB_E_CONFLICT,
                                 "cannot remove '%s': '%s' %s %s (remove that too, or use "
                                 "--cascade)",
                                 s->packs[t].id, s->packs[i].id, s->packs[i].version,
                                 base ? "runs on it, the only installed base" : "depends on it");
                    break;
                }
                gone[i] = true;
                grew = true;
                rc = add_named(&pl, s->packs[i].id, err);
                break;
            }
        }
    }
    for (size_t i = 0; !rc && i < s->n; i++)
        if (gone[i])
            mb_store_world_del(&plan->world, s->packs[i].id);
    struct mb_lock inst;
    mb_lock_init(&inst);
    if (!rc)
        rc = installed_lock(s, NULL, 0, &inst, err);
    if (!rc)
        rc = solve(&pl, plan, &inst, false, err);
    /* The solution must not keep what was asked to go. */
    for (size_t i = 0; !rc && i < plan->n; i++)
        if (plan->items[i].action != MB_PLAN_REMOVE && is_named(&pl, plan->items[i].id))
            rc = mb_fail(err, MB_E_CONFLICT,
                         "cannot remove '%s': the remaining packs still need it (use --cascade "
                         "to remove what depends on it)",
                         plan->items[i].id);
    if (!rc)
        plan->world_changed = !world_equal(&plan->world, &st->world);
    mb_lock_release(&inst);
    mb_free(gone);
    planner_release(&pl);
    return rc;
}

/* ------------------------------------------------------------ upgrade */

int mb_store_plan_upgrade(struct mb_store *st, const struct mb_store_request *req,
                          struct mb_store_plan *plan, struct mb_err *err)
{
    struct planner pl;
    int rc = plan_start(st, req, "upgrade", &pl, plan, true, err);
    for (size_t i = 0; !rc && i < req->nspecs; i++) {
        struct mb_err e;
        if (mb_pack_id_check(req->specs[i], &e))
            rc = mb_fail(err, MB_E_USAGE, "'pack upgrade' takes pack ids: %s", e.msg);
        else if (!mb_store_state_find(&st->state, req->specs[i]))
            rc = mb_fail(err, MB_E_NOTFOUND, "'%s' is not installed", req->specs[i]);
        else
            rc = add_named(&pl, req->specs[i], err);
    }
    struct mb_lock inst;
    mb_lock_init(&inst);
    if (!rc)
        rc = installed_lock(&st->state, req->specs, req->nspecs, &inst, err);
    /* Every pack: no preference at all; some: only theirs dropped. */
    if (!rc)
        rc = solve(&pl, plan, &inst, req->nspecs == 0, err);
    mb_lock_release(&inst);
    planner_release(&pl);
    return rc;
}
