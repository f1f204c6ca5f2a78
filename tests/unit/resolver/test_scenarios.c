/*
 * test_scenarios.c - the resolver's data-driven tests (apk-tools' test/solver
 * style): every tests/data/resolver/NAME.test file is one case with a request,
 * an index, optional installed state and lock, and the expected plan or the
 * expected explanation. The format is described in tests/data/resolver/README.
 * Index records are written as JSON and read with mb_index_parse, so the cases
 * also exercise the index parser. MB_RESOLVER_CASE=name runs one case;
 * MB_RESOLVER_SHOW=1 prints every result.
 */
#include "mb_test.h"
#include "mb_resolver.h"

#include <dirent.h>

#define MAX_PACKS 64

struct tpack {
    char id[MB_PACK_ID_MAX + 1];
    char kind[8];
    struct mb_buf versions; /* JSON objects joined by commas */
    size_t nversions;
};

struct tcase {
    struct tpack packs[MAX_PACKS];
    size_t npacks;
    struct mb_index_record recs[MAX_PACKS];
    char requests[32][160];
    size_t nrequests;
    struct mb_lock installed, lock;
    bool has_installed, has_lock, locked, incpre, upgrade, auto_base;
    struct mb_buf expect;
    bool expect_error;
    char expect_code[32];
};

static int src_load(void *ud, const char *id, const struct mb_index_record **rec,
                    const char **registry, struct mb_err *err)
{
    struct tcase *t = ud;
    for (size_t i = 0; i < t->npacks; i++)
        if (!strcmp(t->recs[i].id, id)) {
            *rec = &t->recs[i];
            *registry = "test";
            return 0;
        }
    return mb_fail(err, MB_E_NOTFOUND, "no pack '%s'", id);
}

static int src_bases(void *ud, char ***ids, size_t *n, struct mb_err *err)
{
    struct tcase *t = ud;
    *ids = mb_calloc(MAX_PACKS, sizeof(char *));
    *n = 0;
    if (!*ids)
        return mb_fail(err, MB_E_NOMEM, "oom");
    for (size_t i = 0; i < t->npacks; i++)
        if (t->recs[i].kind == MB_PACK_BASE)
            (*ids)[(*n)++] = mb_strdup(t->recs[i].id);
    return 0;
}

/* "1.0.0 dep a@^1 conflict b@>=2 compat 1.0 base smol yanked" -> a JSON version object. */
static void add_version(struct tpack *p, char *line)
{
    struct mb_err err;
    struct mb_buf deps, confs, compat;
    mb_buf_init(&deps, 1 << 16);
    mb_buf_init(&confs, 1 << 16);
    mb_buf_init(&compat, 1 << 16);
    char *save = NULL;
    char *ver = strtok_r(line, " \t", &save);
    bool yanked = false;
    char base[80] = "";
    for (char *w = strtok_r(NULL, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        if (!strcmp(w, "yanked")) {
            yanked = true;
            continue;
        }
        char *arg = strtok_r(NULL, " \t", &save);
        assert_non_null(arg);
        for (char *c = arg; *c; c++)
            if (*c == '_')
                *c = ' '; /* ranges with spaces are written with '_' */
        if (!strcmp(w, "base")) {
            snprintf(base, sizeof(base), "%s", arg);
            continue;
        }
        if (!strcmp(w, "compat")) {
            mb_buf_appendf(&compat, &err, "%s\"%s\"", compat.n ? "," : "", arg);
            continue;
        }
        char *at = strchr(arg, '@');
        if (at)
            *at = '\0';
        struct mb_buf *b = !strcmp(w, "dep") ? &deps : &confs;
        assert_true(!strcmp(w, "dep") || !strcmp(w, "conflict"));
        if (b == &deps)
            mb_buf_appendf(b, &err, "%s{\"id\":\"%s\",\"version\":\"%s\"}", b->n ? "," : "", arg,
                           at ? at + 1 : "*");
        else if (at)
            mb_buf_appendf(b, &err, "%s{\"id\":\"%s\",\"version\":\"%s\"}", b->n ? "," : "", arg,
                           at + 1);
        else
            mb_buf_appendf(b, &err, "%s{\"id\":\"%s\"}", b->n ? "," : "", arg);
    }
    bool is_base = !strcmp(p->kind, "base");
    if (!is_base && compat.n == 0)
        mb_buf_append_cstr(&compat, "\"*\"", &err);
    uint8_t h[MB_SHA256_LEN];
    char hex[MB_SHA256_HEX], key[160];
    snprintf(key, sizeof(key), "%s-%s", p->id, ver);
    mb_sha256(key, strlen(key), h);
    mb_hex_encode(h, sizeof(h), hex);
    mb_buf_appendf(&p->versions, &err,
                   "%s{\"version\":\"%s\",\"name\":\"%s\",\"archive\":\"packs/%s/%s.mbpack\","
                   "\"sha256\":\"%s\",\"size\":1,\"yanked\":%s",
                   p->nversions ? "," : "", ver, p->id, p->id, key, hex, yanked ? "true" : "false");
    if (!is_base)
        mb_buf_appendf(&p->versions, &err, ",\"base_compatibility\":[%s]", compat.p);
    if (base[0])
        mb_buf_appendf(&p->versions, &err, ",\"base\":\"%s\"", base);
    if (deps.n)
        mb_buf_appendf(&p->versions, &err, ",\"dependencies\":[%s]", deps.p);
    if (confs.n)
        mb_buf_appendf(&p->versions, &err, ",\"conflicts\":[%s]", confs.p);
    mb_buf_append_cstr(&p->versions, "}", &err);
    p->nversions++;
    mb_buf_release(&deps);
    mb_buf_release(&confs);
    mb_buf_release(&compat);
}

static void load_case(const char *path, struct tcase *t)
{
    struct mb_buf b;
    struct mb_err err;
    mb_buf_init(&b, 1 << 20);
    MB_ASSERT_OK(mb_file_read_all(path, 1 << 20, &b, &err), &err);
    memset(t, 0, sizeof(*t));
    mb_buf_init(&t->expect, 1 << 20);
    enum { TOP, PACK, EXPECT } mode = TOP;
    struct tpack *cur = NULL;
    char *save = NULL;
    for (char *line = strtok_r(b.p, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (mode == EXPECT) {
            mb_buf_appendf(&t->expect, &err, "%s\n", !strcmp(line, ".") ? "" : line);
            continue;
        }
        if (line[0] == '#' || !line[0])
            continue;
        if (line[0] == ' ' && mode == PACK) {
            while (*line == ' ')
                line++;
            add_version(cur, line);
            continue;
        }
        char word[32] = "", a1[160] = "", a2[160] = "", a3[160] = "";
        sscanf(line, "%31s %159s %159s %159s", word, a1, a2, a3);
        if (!strcmp(word, "request")) {
            char *s2 = NULL;
            for (char *w = strtok_r(line + 8, " ", &s2); w; w = strtok_r(NULL, " ", &s2)) {
                for (char *c = w; *c; c++)
                    if (*c == '_')
                        *c = ' ';
                snprintf(t->requests[t->nrequests++], sizeof(t->requests[0]), "%s", w);
            }
        } else if (!strcmp(word, "option")) {
            t->incpre |= !strcmp(a1, "include-prerelease");
            t->upgrade |= !strcmp(a1, "upgrade");
            t->locked |= !strcmp(a1, "locked");
        } else if (!strcmp(word, "installed")) {
            t->has_installed = true;
            MB_ASSERT_OK(mb_lock_put(&t->installed, a1, a2, NULL, NULL, &err), &err);
        } else if (!strcmp(word, "lock")) {
            t->has_lock = true;
            char hex[MB_SHA256_HEX] = "";
            if (!strcmp(a3, "hash")) {
                uint8_t h[MB_SHA256_LEN];
                char key[400];
                snprintf(key, sizeof(key), "%s-%s", a1, a2);
                mb_sha256(key, strlen(key), h);
                mb_hex_encode(h, sizeof(h), hex);
            } else if (strlen(a3) == 64) {
                memcpy(hex, a3, 65);
            }
            MB_ASSERT_OK(mb_lock_put(&t->lock, a1, a2, "test", hex[0] ? hex : NULL, &err), &err);
        } else if (!strcmp(word, "pack")) {
            assert_true(t->npacks < MAX_PACKS);
            cur = &t->packs[t->npacks++];
            mb_strlcpy(cur->id, a1, sizeof(cur->id));
            mb_strlcpy(cur->kind, a2[0] ? a2 : "data", sizeof(cur->kind));
            mb_buf_init(&cur->versions, 1 << 20);
            mode = PACK;
        } else if (!strcmp(word, "expect")) {
            mode = EXPECT;
        } else if (!strcmp(word, "expect-error")) {
            mode = EXPECT;
            t->expect_error = true;
            mb_strlcpy(t->expect_code, a1[0] ? a1 : "CONFLICT", sizeof(t->expect_code));
        } else {
            fail_msg("%s: unknown line '%s'", path, line);
        }
    }
    /* A case without a base pack gets one, left out of the expected plan. */
    bool any_base = false;
    for (size_t i = 0; i < t->npacks; i++)
        any_base |= !strcmp(t->packs[i].kind, "base");
    if (!any_base) {
        struct tpack *p = &t->packs[t->npacks++];
        snprintf(p->id, sizeof(p->id), "test-base");
        snprintf(p->kind, sizeof(p->kind), "base");
        mb_buf_init(&p->versions, 1 << 20);
        char v[] = "1.0.0";
        add_version(p, v);
        t->auto_base = true;
    }
    for (size_t i = 0; i < t->npacks; i++) {
        struct tpack *p = &t->packs[i];
        struct mb_buf j;
        mb_buf_init(&j, 1 << 20);
        mb_buf_appendf(&j, &err, "{\"format\":1,\"id\":\"%s\",\"kind\":\"%s\",\"versions\":[%s]}",
                       p->id, p->kind, p->versions.p ? p->versions.p : "");
        if (mb_index_parse(p->id, j.p, j.n, p->id, &t->recs[i], &err))
            fail_msg("%s: pack %s: %s\n%s", path, p->id, err.msg, j.p);
        mb_buf_release(&j);
        mb_buf_release(&p->versions);
    }
    mb_buf_release(&b);
}

static void free_case(struct tcase *t)
{
    for (size_t i = 0; i < t->npacks; i++)
        mb_index_record_release(&t->recs[i]);
    mb_lock_release(&t->installed);
    mb_lock_release(&t->lock);
    mb_buf_release(&t->expect);
}

/* Returns true when the case passed. */
static bool run_case(const char *path, const char *name)
{
    struct tcase *t = mb_calloc(1, sizeof(*t));
    load_case(path, t);
    struct mb_err err;
    mb_err_init(&err);
    struct mb_request reqs[32];
    size_t nreq = 0;
    struct mb_buf got;
    mb_buf_init(&got, 1 << 20);
    int rc = 0;
    for (size_t i = 0; i < t->nrequests && !rc; i++) {
        rc = mb_request_parse(t->requests[i], t->incpre, &reqs[i], &err);
        nreq += !rc;
    }
    struct mb_resolution res;
    memset(&res, 0, sizeof(res));
    if (!rc) {
        struct mb_resolve_source src = { src_load, src_bases, t };
        struct mb_resolve_opts o = {
            .requests = reqs,
            .nrequests = nreq,
            .installed = t->has_installed ? &t->installed : NULL,
            .lock = t->has_lock ? &t->lock : NULL,
            .locked = t->locked,
            .include_prerelease = t->incpre,
            .upgrade = t->upgrade,
        };
        rc = mb_resolve(&src, &o, &res, &err);
    }
    if (rc == MB_E_CONFLICT && res.explanation)
        mb_buf_append_cstr(&got, res.explanation, &err);
    else if (rc)
        mb_buf_appendf(&got, &err, "error %s: %s\n", mb_err_name(rc), err.msg);
    else
        for (size_t i = 0; i < res.n; i++) {
            const struct mb_plan_entry *e = &res.entries[i];
            if (t->auto_base && !strcmp(e->id, "test-base"))
                continue;
            mb_buf_appendf(&got, &err, "%s %s %s%s\n", mb_plan_action_name(e->action), e->id,
                           e->version, e->yanked ? " yanked" : "");
        }
    bool want_err = t->expect_error;
    bool ok = (rc != 0) == want_err && (!want_err || !strcmp(mb_err_name(rc), t->expect_code)) &&
              !strcmp(got.p ? got.p : "", t->expect.p ? t->expect.p : "");
    if (!ok || getenv("MB_RESOLVER_SHOW"))
        print_message("%s %s (rc %s)\n--- got:\n%s--- want%s:\n%s", ok ? "ok" : "FAIL", name,
                      mb_err_name(rc), got.p ? got.p : "", want_err ? " (error)" : "",
                      t->expect.p ? t->expect.p : "");
    mb_resolution_release(&res);
    for (size_t i = 0; i < nreq; i++)
        mb_request_release(&reqs[i]);
    mb_buf_release(&got);
    free_case(t);
    mb_free(t);
    return ok;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_scenarios(void **state)
{
    (void)state;
    const char *dir = mb_test_data_path("resolver");
    DIR *d = opendir(dir);
    assert_non_null(d);
    char *names[512];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 512) {
        size_t len = strlen(de->d_name);
        if (len > 5 && !strcmp(de->d_name + len - 5, ".test"))
            names[n++] = mb_strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_names);
    const char *only = getenv("MB_RESOLVER_CASE");
    size_t failed = 0, ran = 0;
    for (size_t i = 0; i < n; i++) {
        if (!only || strstr(names[i], only)) {
            char path[1024];
            snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
            failed += !run_case(path, names[i]);
            ran++;
        }
        mb_free(names[i]);
    }
    print_message("%zu resolver cases, %zu failed\n", ran, failed);
    assert_int_equal(failed, 0);
    assert_true(ran >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scenarios),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
