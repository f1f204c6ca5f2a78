/*
 * test_store.c - unit tests of the local store's library API (mb_store.h):
 * state.json and world parsing (round trips, every refusal names the field),
 * and whole transactions driven through the API on archives built here with
 * mb_archive_build: install from local files with a dependency and a base,
 * the runtime's read view (mb_store_installed_load), upgrade, a reverse-
 * dependency refusal, cascade removal, verify finding a modified file,
 * repair, export and a bundle install, and allocation failures at every step
 * of a transaction (MB_DEBUG_ALLOC builds): an error, never a crash or a
 * half-changed store.
 */
#include "mb_test.h"

#include "mb_registry.h"

#include <sys/stat.h>
#include <unistd.h>

static const char *state_ok =
    "{\"format\": 1, \"transaction\": \"t1\", \"packs\": [\n"
    " {\"id\": \"med\", \"version\": \"1.0.0\", \"kind\": \"data\", \"automatic\": false,\n"
    "  \"resident\": false, \"source\": \"registry\", \"registry\": \"main\",\n"
    "  \"origin\": \"http://x/med.mbpack\", \"archive_sha256\": "
    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\n"
    "  \"archive_size\": 10, \"size\": 5, \"installed\": \"2026-01-02T03:04:05Z\",\n"
    "  \"weights\": \"w/m.gguf\", \"files\": [\n"
    "   {\"path\": \"w/m.gguf\", \"size\": 3, \"sha256\": "
    "\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"},\n"
    "   {\"path\": \"pack.yaml\", \"size\": 2, \"sha256\": "
    "\"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\"}]},\n"
    " {\"id\": \"base\", \"version\": \"1.0.0\", \"kind\": \"base\", \"automatic\": true,\n"
    "  \"resident\": true, \"source\": \"file\", \"archive_sha256\": \"\", \"archive_size\": 0,\n"
    "  \"size\": 0, \"installed\": \"2026-01-02T03:04:05Z\", \"files\": []}]}\n";

static void test_state_round_trip(void **unused)
{
    (void)unused;
    struct mb_err err;
    struct mb_store_state s;
    MB_ASSERT_OK(mb_store_state_parse("state.json", state_ok, strlen(state_ok), &s, &err), &err);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.packs[0].id, "base"); /* sorted by id */
    const struct mb_store_pack *m = mb_store_state_find(&s, "med");
    assert_non_null(m);
    assert_string_equal(m->registry, "main");
    assert_string_equal(m->files[0].path, "pack.yaml"); /* sorted by path */
    assert_int_equal(m->installed_at, 1767323045);
    assert_null(mb_store_state_find(&s, "nope"));
    struct mb_buf b;
    mb_buf_init(&b, 1 << 20);
    MB_ASSERT_OK(mb_store_state_emit(&s, &b, &err), &err);
    struct mb_store_state s2;
    MB_ASSERT_OK(mb_store_state_parse("again", b.p, b.n, &s2, &err), &err);
    struct mb_buf b2;
    mb_buf_init(&b2, 1 << 20);
    MB_ASSERT_OK(mb_store_state_emit(&s2, &b2, &err), &err);
    assert_int_equal(b.n, b2.n);
    assert_memory_equal(b.p, b2.p, b.n); /* deterministic */
    mb_buf_release(&b);
    mb_buf_release(&b2);
    mb_store_state_release(&s);
    mb_store_state_release(&s2);
}

/* Each mutation of the good document must be refused with a message containing `want`. */
static void test_state_refusals(void **unused)
{
    (void)unused;
    static const struct {
        const char *from, *to, *want;
    } cases[] = {
        { "\"format\": 1", "\"format\": 2", "format" },
        { "\"kind\": \"data\"", "\"kind\": \"model\"", "packs[" },
        { "\"id\": \"med\"", "\"id\": \"Med\"", ".id" },
        { "\"id\": \"base\"", "\"id\": \"med\"", "listed twice" },
        { "\"version\": \"1.0.0\", \"kind\": \"data\"", "\"version\": \"1.0\", \"kind\": \"data\"",
          ".version" },
        { "\"size\": 5", "\"size\": 6", "add up" },
        { "\"size\": 3", "\"size\": -3", "size" },
        { "\"path\": \"w/m.gguf\"", "\"path\": \"../m.gguf\"", "path" },
        { "\"sha256\": \"bbbb", "\"sha256\": \"BBBB", "hex" },
        { "\"registry\": \"main\",", "", "registry" },
        { "\"automatic\": false", "\"automatic\": 0", "automatic" },
        { "\"installed\": \"2026-01-02T03:04:05Z\",\n  \"weights\"",
          "\"installed\": \"yesterday\",\n  \"weights\"", "installed" },
        { "\"transaction\": \"t1\"", "\"transaction\": \"t1\", \"extra\": 1", "unknown field" },
        { "{\"format\"", "[{\"format\"", "invalid JSON" },
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(cases); i++) {
        char doc[4096];
        const char *at = strstr(state_ok, cases[i].from);
        assert_non_null(at);
        size_t pre = (size_t)(at - state_ok);
        snprintf(doc, sizeof(doc), "%.*s%s%s", (int)pre, state_ok, cases[i].to,
                 at + strlen(cases[i].from));
        struct mb_err err;
        struct mb_store_state s;
        int rc = mb_store_state_parse("state.json", doc, strlen(doc), &s, &err);
        if (rc != MB_E_STATE || !strstr(err.msg, cases[i].want))
            fail_msg("case %zu: rc %d, message '%s' (wanted '%s')", i, rc, err.msg, cases[i].want);
        assert_int_equal(s.n, 0); /* released on failure */
    }
}

static void test_world(void **unused)
{
    (void)unused;
    struct mb_err err;
    struct mb_store_world w;
    const char *text = "# comment\n\nzeta@^1.2\r\n  alpha  \nmid@>=1 <2\n";
    MB_ASSERT_OK(mb_store_world_parse("world", text, strlen(text), &w, &err), &err);
    assert_int_equal(w.n, 3);
    assert_string_equal(w.v[0].id, "alpha");
    assert_string_equal(w.v[2].range_text, "^1.2");
    MB_ASSERT_OK(mb_store_world_put(&w, "beta", "~2", &err), &err);
    MB_ASSERT_OK(mb_store_world_put(&w, "zeta", NULL, &err), &err);
    assert_true(mb_store_world_del(&w, "mid"));
    assert_false(mb_store_world_del(&w, "mid"));
    struct mb_buf b;
    mb_buf_init(&b, 4096);
    MB_ASSERT_OK(mb_store_world_emit(&w, &b, &err), &err);
    assert_non_null(strstr(b.p, "\nalpha\nbeta@~2\nzeta\n"));
    struct mb_store_world w2;
    MB_ASSERT_OK(mb_store_world_parse("world", b.p, b.n, &w2, &err), &err);
    assert_int_equal(w2.n, 3);
    mb_buf_release(&b);
    mb_store_world_release(&w);
    mb_store_world_release(&w2);
    const char *bad[] = { "a\na@^1\n", "Bad\n", "a@^1.x.y\n", "a\0b\n" };
    size_t badn[] = { 6, 4, 9, 4 };
    const char *want[] = { "world:2: 'a' is listed twice", "world:1:", "world:1:", "NUL" };
    for (size_t i = 0; i < MB_ARRAY_LEN(bad); i++) {
        int rc = mb_store_world_parse("world", bad[i], badn[i], &w, &err);
        assert_int_equal(rc, MB_E_STATE);
        if (!strstr(err.msg, want[i]))
            fail_msg("case %zu: '%s'", i, err.msg);
    }
}

/* ------------------------------------------------------------ transactions */

/* Build ID-VERSION.mbpack in the temp dir from a pack.yaml body and a weights blob. */
static const char *make_pack(const char *id, const char *version, const char *yaml_extra,
                             size_t weight_bytes)
{
    char dir[4096], path[4200], yaml[2048];
    snprintf(dir, sizeof(dir), "%s/src-%s-%s", mb_test_tmpdir(), id, version);
    struct mb_err err;
    char *w = mb_path_join(dir, "weights");
    MB_ASSERT_OK(mb_mkdir_p(w, 0755, &err), &err);
    mb_free(w);
    snprintf(yaml, sizeof(yaml),
             "id: %s\nname: test\nversion: %s\n%s\nweights:\n  file: weights/%s.gguf\n", id,
             version, yaml_extra, id);
    snprintf(path, sizeof(path), "%s/pack.yaml", dir);
    mb_test_write_file(path, yaml, strlen(yaml));
    unsigned char *blob = malloc(weight_bytes);
    assert_non_null(blob);
    for (size_t i = 0; i < weight_bytes; i++)
        blob[i] = (unsigned char)(i * 131 + (unsigned char)id[0] + (unsigned char)version[2]);
    char gguf[4200];
    snprintf(gguf, sizeof(gguf), "%s/weights/%s.gguf", dir, id);
    mb_test_write_file(gguf, blob, weight_bytes);
    free(blob);
    char name[256], wname[256];
    snprintf(name, sizeof(name), "%s-%s.mbpack", id, version);
    const char *out = mb_test_tmp_path(name);
    snprintf(wname, sizeof(wname), "weights/%s.gguf", id);
    struct mb_archive_input in[2] = { { "pack.yaml", path }, { wname, gguf } };
    MB_ASSERT_OK(mb_archive_build(out, in, 2, NULL, NULL, &err), &err);
    return out;
}

struct fixture {
    char home[4096];
    char base[4096], anat[4096], med1[4096], med2[4096];
};

static void make_fixture(struct fixture *f, const char *name)
{
    snprintf(f->home, sizeof(f->home), "%s/%s", mb_test_tmpdir(), name);
    mb_strlcpy(f->base, make_pack("base", "1.0.0", "kind: base", 5000), sizeof(f->base));
    mb_strlcpy(
        f->anat,
        make_pack("anatomy", "1.0.0", "kind: data\ndomain: d\nbase_compatibility: ['1.0']", 3000),
        sizeof(f->anat));
    mb_strlcpy(f->med1,
               make_pack("medical", "1.0.0",
                         "kind: data\ndomain: d\nbase_compatibility: ['1.0']\ndependencies:\n"
                         "  - id: anatomy\n    version: ^1",
                         4000),
               sizeof(f->med1));
    mb_strlcpy(f->med2,
               make_pack("medical", "1.1.0",
                         "kind: data\ndomain: d\nbase_compatibility: ['1.0']\ndependencies:\n"
                         "  - id: anatomy\n    version: ^1",
                         4100),
               sizeof(f->med2));
}

static int install(const char *home, const char *const *specs, size_t n, bool cascade_remove,
                   bool remove, struct mb_err *err)
{
    struct mb_store *st;
    int rc = mb_store_open(home, NULL, &st, err);
    if (rc)
        return rc;
    struct mb_store_request req;
    memset(&req, 0, sizeof(req));
    req.specs = specs;
    req.nspecs = n;
    req.cascade = cascade_remove;
    struct mb_store_plan plan;
    rc = remove ? mb_store_plan_remove(st, &req, &plan, err)
                : mb_store_plan_install(st, &req, &plan, err);
    if (!rc)
        rc = mb_store_apply(st, &plan, NULL, err);
    mb_store_plan_release(&plan);
    mb_store_close(st);
    return rc;
}

static void test_transactions(void **unused)
{
    (void)unused;
    struct fixture f;
    make_fixture(&f, "home-tx");
    struct mb_err err;
    const char *specs[] = { f.base, f.anat, f.med1 };
    MB_ASSERT_OK(install(f.home, specs, 3, false, false, &err), &err);

    /* The runtime's view. */
    struct mb_installed in;
    MB_ASSERT_OK(mb_store_installed_load(f.home, &in, &err), &err);
    assert_int_equal(in.n, 3);
    const struct mb_installed_pack *b = mb_installed_find(&in, "base");
    assert_non_null(b);
    assert_int_equal(b->kind, MB_PACK_BASE);
    assert_true(b->resident); /* bases default to resident */
    const struct mb_installed_pack *m = mb_installed_find(&in, "medical");
    assert_non_null(m);
    assert_false(m->resident);
    assert_false(m->automatic);
    struct stat st;
    assert_int_equal(stat(m->manifest, &st), 0);
    assert_int_equal(stat(m->weights, &st), 0);
    assert_int_equal(st.st_size, 4000);
    assert_non_null(strstr(m->dir, "/packs/medical/1.0.0"));
    mb_installed_release(&in);

    /* Upgrade by file; the old directory goes. */
    const char *up[] = { f.med2 };
    MB_ASSERT_OK(install(f.home, up, 1, false, false, &err), &err);
    char old[4300];
    snprintf(old, sizeof(old), "%s/packs/medical/1.0.0", f.home);
    assert_false(mb_path_exists(old));

    /* Reverse dependency: refused, then cascade. */
    const char *rm[] = { "anatomy" };
    assert_int_equal(install(f.home, rm, 1, false, true, &err), MB_E_CONFLICT);
    assert_non_null(strstr(err.msg, "'medical' 1.1.0 depends on it"));
    MB_ASSERT_OK(install(f.home, rm, 1, true, true, &err), &err);
    struct mb_store_state s;
    MB_ASSERT_OK(mb_store_state_load(f.home, &s, &err), &err);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.packs[0].id, "base");
    mb_store_state_release(&s);
}

static void test_verify_repair_export(void **unused)
{
    (void)unused;
    struct fixture f;
    make_fixture(&f, "home-vre");
    struct mb_err err;
    const char *specs[] = { f.base, f.anat, f.med1 };
    MB_ASSERT_OK(install(f.home, specs, 3, false, false, &err), &err);
    struct mb_store_verify_result r;
    MB_ASSERT_OK(mb_store_verify(f.home, NULL, 0, NULL, &r, &err), &err);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.packs_checked, 3);
    mb_store_verify_result_release(&r);
    char p[4300];
    snprintf(p, sizeof(p), "%s/packs/anatomy/1.0.0/weights/anatomy.gguf", f.home);
    mb_test_write_file(p, "x", 1);
    const char *one[] = { "anatomy" };
    MB_ASSERT_OK(mb_store_verify(f.home, one, 1, NULL, &r, &err), &err);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.v[0].kind, MB_STORE_MODIFIED);
    assert_string_equal(r.v[0].path, "weights/anatomy.gguf");
    mb_store_verify_result_release(&r);
    const char *nope[] = { "nope" };
    assert_int_equal(mb_store_verify(f.home, nope, 1, NULL, &r, &err), MB_E_NOTFOUND);

    /*
     * Export takes the original archive while it exists; without it the
     * archive is rebuilt from the installed files, and the modified one is refused.
     */
    const char *out = mb_test_tmp_path("b.tar");
    struct mb_store_export_result xr;
    const char *med[] = { "medical" };
    MB_ASSERT_OK(mb_store_export(f.home, med, 1, out, NULL, &xr, &err), &err);
    assert_int_equal(xr.npacks, 3);
    assert_int_equal(xr.rebuilt, 0);
    char moved[4200];
    snprintf(moved, sizeof(moved), "%s.moved", f.anat);
    assert_int_equal(rename(f.anat, moved), 0);
    unlink(out);
    assert_int_equal(mb_store_export(f.home, med, 1, out, NULL, &xr, &err), MB_E_INTEGRITY);
    assert_non_null(strstr(err.msg, "'weights/anatomy.gguf' was modified"));
    assert_false(mb_path_exists(out));
    assert_int_equal(rename(moved, f.anat), 0);
    struct mb_store_export_opts xo = { true, { NULL, NULL } };
    MB_ASSERT_OK(mb_store_export(f.home, med, 1, out, &xo, &xr, &err), &err);
    assert_int_equal(xr.npacks, 1);

    /* Repair: a damaged state.json is rebuilt from packs/. */
    snprintf(p, sizeof(p), "%s/state.json", f.home);
    mb_test_write_file(p, "{", 1);
    struct mb_store_state s;
    assert_int_equal(mb_store_state_load(f.home, &s, &err), MB_E_STATE);
    assert_non_null(strstr(err.msg, "--repair"));
    struct mb_store *st;
    assert_int_equal(mb_store_open(f.home, NULL, &st, &err), MB_E_STATE);
    char *note = NULL;
    MB_ASSERT_OK(mb_store_repair(f.home, NULL, &note, &err), &err);
    assert_non_null(strstr(note, "3 packs"));
    mb_free(note);
    MB_ASSERT_OK(mb_store_state_load(f.home, &s, &err), &err);
    assert_int_equal(s.n, 3);
    /* Repair recorded the archive's hashes: the modified file is still reported. */
    MB_ASSERT_OK(mb_store_verify(f.home, one, 1, NULL, &r, &err), &err);
    assert_int_equal(r.n, 1);
    mb_store_verify_result_release(&r);
    mb_store_state_release(&s);

    /* The bundle installs on a fresh store; medical needs anatomy and a base, not in it. */
    char home2[4200];
    snprintf(home2, sizeof(home2), "%s/home-b", mb_test_tmpdir());
    const char *bs[] = { out };
    assert_int_equal(install(home2, bs, 1, false, false, &err), MB_E_CONFLICT);
    const char *bs2[] = { out, f.anat, f.base };
    MB_ASSERT_OK(install(home2, bs2, 3, false, false, &err), &err);
    MB_ASSERT_OK(mb_store_verify(home2, NULL, 0, NULL, &r, &err), &err);
    assert_int_equal(r.n, 0);
    mb_store_verify_result_release(&r);
}

#ifdef MB_DEBUG_ALLOC
/* Every allocation of an install transaction fails in turn: never a crash or a torn store. */
static void test_alloc_failures(void **unused)
{
    (void)unused;
    struct fixture f;
    make_fixture(&f, "home-alloc");
    const char *specs[] = { f.base, f.anat, f.med1 };
    struct mb_err err;
    int failures = 0;
    for (long n = 1; n < 100000; n++) {
        mb_alloc_fail_at(n);
        int rc = install(f.home, specs, 3, false, false, &err);
        mb_alloc_fail_at(0);
        struct mb_store_state s;
        MB_ASSERT_OK(mb_store_state_load(f.home, &s, &err), &err);
        size_t np = s.n;
        mb_store_state_release(&s);
        if (rc == 0) {
            assert_int_equal(np, 3);
            break;
        }
        failures++;
        assert_int_equal(np, 0); /* all or nothing */
    }
    assert_true(failures > 50);
    struct mb_store_verify_result r;
    MB_ASSERT_OK(mb_store_verify(f.home, NULL, 0, NULL, &r, &err), &err);
    assert_int_equal(r.n, 0);
    mb_store_verify_result_release(&r);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_round_trip),
        cmocka_unit_test(test_state_refusals),
        cmocka_unit_test(test_world),
        cmocka_unit_test(test_transactions),
        cmocka_unit_test(test_verify_repair_export),
#ifdef MB_DEBUG_ALLOC
        cmocka_unit_test(test_alloc_failures),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
