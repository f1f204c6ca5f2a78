/*
 * pack_fallback.c - choosing a usable pack when the selected one is missing,
 * corrupt or incompatible (mb_pack_cache.h, "fallback"): the checks of one
 * pack, and the walk along manifests' `fallback` lists that ends at the
 * general pack, producing the one-line warning the CLI prints.
 */
#include "mb_gguf.h"
#include "mb_manifests.h"
#include "mb_pack_cache.h"

#include <string.h>

#define MAX_TRIED 64 /* packs one walk may try (manifests allow 64 fallbacks) */

const char *mb_fallback_reason_name(enum mb_fallback_reason r)
{
    switch (r) {
    case MB_FALLBACK_OK:
        return "ok";
    case MB_FALLBACK_MISSING:
        return "missing";
    case MB_FALLBACK_CORRUPT:
        return "corrupt";
    case MB_FALLBACK_INCOMPATIBLE:
        return "incompatible";
    }
    return "?";
}

static const struct mb_fallback_pack *find_pack(const struct mb_fallback_pack *packs, size_t n,
                                                const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (packs[i].id && !strcmp(packs[i].id, id))
            return &packs[i];
    return NULL;
}

static enum mb_fallback_reason say(struct mb_err *detail, enum mb_fallback_reason r,
                                   const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static enum mb_fallback_reason say(struct mb_err *detail, enum mb_fallback_reason r,
                                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mb_failv(detail, MB_E_STATE, fmt, ap);
    va_end(ap);
    return r;
}

/* The width checks against the base, on an open GGUF. */
static enum mb_fallback_reason check_widths(const struct mb_gguf *g, const struct mb_manifest *m,
                                            const char *file, uint64_t base_width,
                                            struct mb_err *detail)
{
    const struct mb_gguf_tensor *ain = mb_gguf_find_tensor(g, "adapter_in.weight");
    const struct mb_gguf_tensor *aout = mb_gguf_find_tensor(g, "adapter_out.weight");
    if (ain && (ain->n_dims != 2 || ain->dims[0] != base_width))
        return say(detail, MB_FALLBACK_INCOMPATIBLE,
                   "%s: adapter_in.weight reads width %llu, the base has width %llu", file,
                   (unsigned long long)ain->dims[0], (unsigned long long)base_width);
    if (aout && (aout->n_dims != 2 || aout->dims[1] != base_width))
        return say(detail, MB_FALLBACK_INCOMPATIBLE,
                   "%s: adapter_out.weight writes width %llu, the base has width %llu", file,
                   (unsigned long long)aout->dims[1], (unsigned long long)base_width);
    uint64_t w = 0;
    const char *from = "modularbase.pack.width";
    const struct mb_gguf_kv *kv = mb_gguf_find_kv(g, "modularbase.pack.width");
    if (kv && !mb_gguf_value_u64(&kv->value, &w))
        return say(detail, MB_FALLBACK_CORRUPT, "%s: modularbase.pack.width is not an integer",
                   file);
    if (!kv && m && m->width) {
        w = m->width;
        from = "pack.yaml width";
    }
    if (w && !ain && w != base_width)
        return say(detail, MB_FALLBACK_INCOMPATIBLE,
                   "%s %llu differs from the base width %llu and there is no adapter_in.weight",
                   from, (unsigned long long)w, (unsigned long long)base_width);
    if (w && !aout && w != base_width)
        return say(detail, MB_FALLBACK_INCOMPATIBLE,
                   "%s %llu differs from the base width %llu and there is no adapter_out.weight",
                   from, (unsigned long long)w, (unsigned long long)base_width);
    return MB_FALLBACK_OK;
}

static enum mb_fallback_reason reason_of_code(int code)
{
    switch (code) {
    case MB_E_NOTFOUND:
        return MB_FALLBACK_MISSING;
    case MB_E_UNSUPPORTED:
        return MB_FALLBACK_INCOMPATIBLE;
    default:
        return MB_FALLBACK_CORRUPT;
    }
}

enum mb_fallback_reason mb_pack_check_usable(const struct mb_fallback_pack *packs, size_t n,
                                             const char *id, const struct mb_fallback_base *base,
                                             const struct mb_fallback_opts *opts,
                                             struct mb_err *detail)
{
    const struct mb_fallback_pack *p = find_pack(packs, n, id);
    if (!p)
        return say(detail, MB_FALLBACK_MISSING, "not installed");
    const struct mb_manifest *m = p->manifest;
    if (!m)
        return say(detail, MB_FALLBACK_CORRUPT, "%s",
                   p->manifest_error ? p->manifest_error : "pack.yaml cannot be read");
    if (m->kind != MB_PACK_DATA)
        return say(detail, MB_FALLBACK_INCOMPATIBLE, "a %s pack, not a data pack",
                   mb_pack_kind_name(m->kind));
    if (base && base->id && m->base && strcmp(m->base, base->id))
        return say(detail, MB_FALLBACK_INCOMPATIBLE, "built for base '%s', the base in use is '%s'",
                   m->base, base->id);
    if (base && base->version) {
        bool ok = m->nbase_compat == 0;
        for (size_t i = 0; i < m->nbase_compat && !ok; i++)
            ok = mb_range_satisfies(&m->base_compat_ranges[i], base->version, false);
        if (!ok) {
            char have[128];
            mb_semver_format(base->version, false, have, sizeof(have));
            return say(detail, MB_FALLBACK_INCOMPATIBLE,
                       "base_compatibility [%s%s] excludes base version %s",
                       m->nbase_compat ? m->base_compat[0] : "", m->nbase_compat > 1 ? ", ..." : "",
                       have);
        }
    }
    if (!p->weights)
        return say(detail, MB_FALLBACK_MISSING, "it has no weights file");
    if (!mb_path_exists(p->weights))
        return say(detail, MB_FALLBACK_MISSING, "%s is missing", mb_path_basename(p->weights));
    if (!opts || !opts->skip_gguf) {
        struct mb_gguf *g = NULL;
        struct mb_err gerr;
        mb_err_init(&gerr);
        int rc = mb_gguf_open(&g, p->weights, &gerr);
        if (rc) {
            const char *msg = gerr.msg;
            /* the path is long; name the file */
            if (!strncmp(msg, p->weights, strlen(p->weights)))
                msg += strlen(p->weights);
            return say(detail, rc == MB_E_NOTFOUND ? MB_FALLBACK_MISSING : MB_FALLBACK_CORRUPT,
                       "%s%s", mb_path_basename(p->weights), msg);
        }
        enum mb_fallback_reason r = MB_FALLBACK_OK;
        if (base && base->width)
            r = check_widths(g, m, mb_path_basename(p->weights), base->width, detail);
        mb_gguf_free(g);
        if (r != MB_FALLBACK_OK)
            return r;
    }
    if (opts && opts->check) {
        struct mb_err cerr;
        mb_err_init(&cerr);
        int rc = opts->check(opts->check_ud, p, &cerr);
        if (rc)
            return say(detail, reason_of_code(rc), "%s", cerr.msg[0] ? cerr.msg : mb_err_desc(rc));
    }
    return MB_FALLBACK_OK;
}

struct walk {
    const struct mb_fallback_pack *packs;
    size_t n;
    const struct mb_fallback_base *base;
    const struct mb_fallback_opts *opts;
    const char *tried[MAX_TRIED];
    size_t ntried;
    struct mb_buf why; /* "'a' is missing (not installed); 'b' ..." for the final error */
};

static bool tried(const struct walk *w, const char *id)
{
    for (size_t i = 0; i < w->ntried; i++)
        if (!strcmp(w->tried[i], id))
            return true;
    return false;
}

/*
 * Try `id`, then (when it is unusable) its fallback list depth first. Returns
 * the first usable pack or NULL. *first_reason/first_detail get the verdict
 * on `id` itself when they are not NULL.
 */
static const struct mb_fallback_pack *try_pack(struct walk *w, const char *id, int depth,
                                               enum mb_fallback_reason *first_reason,
                                               struct mb_err *first_detail)
{
    if (tried(w, id) || w->ntried >= MAX_TRIED || depth > MAX_TRIED)
        return NULL;
    w->tried[w->ntried++] = id;
    struct mb_err detail;
    mb_err_init(&detail);
    enum mb_fallback_reason r = mb_pack_check_usable(w->packs, w->n, id, w->base, w->opts, &detail);
    if (first_reason)
        *first_reason = r;
    if (first_detail)
        *first_detail = detail;
    if (r == MB_FALLBACK_OK)
        return find_pack(w->packs, w->n, id);
    mb_buf_appendf(&w->why, NULL, "%s'%s' is %s (%s)", w->why.n ? "; " : "", id,
                   mb_fallback_reason_name(r), detail.msg);
    const struct mb_fallback_pack *p = find_pack(w->packs, w->n, id);
    if (!p || !p->manifest)
        return NULL;
    for (size_t i = 0; i < p->manifest->nfallback; i++) {
        const struct mb_fallback_pack *q =
            try_pack(w, p->manifest->fallback[i], depth + 1, NULL, NULL);
        if (q)
            return q;
    }
    return NULL;
}

int mb_pack_fallback_pick(const struct mb_fallback_pack *packs, size_t n, const char *selected,
                          const struct mb_fallback_base *base, const struct mb_fallback_opts *opts,
                          struct mb_fallback_result *res, struct mb_err *err)
{
    memset(res, 0, sizeof(*res));
    const char *general = opts && opts->general_id ? opts->general_id : "general";
    struct walk w;
    memset(&w, 0, sizeof(w));
    w.packs = packs;
    w.n = n;
    w.base = base;
    w.opts = opts;
    mb_buf_init(&w.why, 8192);
    enum mb_fallback_reason r0 = MB_FALLBACK_OK;
    struct mb_err d0;
    mb_err_init(&d0);
    const struct mb_fallback_pack *p = try_pack(&w, selected, 0, &r0, &d0);
    if (!p)
        p = try_pack(&w, general, 0, NULL, NULL);
    int rc = 0;
    if (!p) {
        rc = mb_fail(err, MB_E_NOTFOUND, "no usable pack for '%s': %s", selected,
                     w.why.p ? w.why.p : "nothing to try");
    } else {
        res->pack = p;
        res->reason = r0;
        if (r0 != MB_FALLBACK_OK) {
            /* One line: the selected pack's problem, and what replaces it. */
            bool more = w.ntried > 2 || (w.ntried == 2 && strcmp(p->id, w.tried[1]));
            mb_snprintf(res->warning, sizeof(res->warning),
                        "pack '%s' is %s (%s); using '%s' instead%s", selected,
                        mb_fallback_reason_name(r0), d0.msg, p->id,
                        more ? " (other fallbacks were unusable too)" : "");
        }
    }
    mb_buf_release(&w.why);
    return rc;
}
