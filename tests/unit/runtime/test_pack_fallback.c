/*
 * test_pack_fallback.c - choosing a usable pack (runtime/pack_fallback.c):
 * an installed set of real pack.yaml manifests and GGUF files written by our
 * GGUF writer, with one pack missing, one corrupt (bad GGUF, truncated GGUF,
 * unreadable manifest, a failing caller check) and several incompatible
 * (base_compatibility, base family, width without adapters, wrong adapter
 * width, not a data pack). Each falls back along its `fallback` list to the
 * general pack with a one-line warning naming the pack and the reason.
 */
#include "mb_gguf.h"
#include "mb_manifests.h"
#include "mb_pack_cache.h"
#include "mb_test.h"

#include <stdio.h>
#include <string.h>

#define BASE_W 64

/* Write a small data-pack GGUF: optional width key and adapters. */
static void write_gguf(const char *path, uint64_t width, uint64_t ain_cols, uint64_t aout_rows)
{
    struct mb_err err;
    mb_err_init(&err);
    struct mb_gguf_writer *w;
    MB_ASSERT_OK(mb_gguf_writer_new(&w, &err), &err);
    MB_ASSERT_OK(mb_gguf_writer_set_string(w, "modularbase.kind", "data", &err), &err);
    if (width)
        MB_ASSERT_OK(mb_gguf_writer_set_u32(w, "modularbase.pack.width", (uint32_t)width, &err),
                     &err);
    static float zeros[BASE_W * 128];
    uint64_t pw = width ? width : BASE_W;
    if (ain_cols) {
        uint64_t dims[2] = { ain_cols, pw };
        MB_ASSERT_OK(mb_gguf_writer_add_tensor(w, "adapter_in.weight", 0, 2, dims, zeros,
                                               ain_cols * pw * 4, &err),
                     &err);
    }
    if (aout_rows) {
        uint64_t dims[2] = { pw, aout_rows };
        MB_ASSERT_OK(mb_gguf_writer_add_tensor(w, "adapter_out.weight", 0, 2, dims, zeros,
                                               aout_rows * pw * 4, &err),
                     &err);
    }
    uint64_t d1[1] = { pw };
    MB_ASSERT_OK(
        mb_gguf_writer_add_tensor(w, "blk.0.attn_norm.weight", 0, 1, d1, zeros, pw * 4, &err),
        &err);
    MB_ASSERT_OK(mb_gguf_writer_write(w, path, NULL, &err), &err);
    mb_gguf_writer_free(w);
}

struct set {
    struct mb_manifest m[16];
    struct mb_fallback_pack p[16];
    char weights[16][512];
    size_t n;
};

/* Add a pack from pack.yaml text; `gguf` is the file name (NULL: none written). */
static void add(struct set *s, const char *id, const char *yaml, bool manifest_ok)
{
    size_t i = s->n++;
    struct mb_err err;
    mb_err_init(&err);
    s->p[i].id = id;
    if (manifest_ok) {
        MB_ASSERT_OK(mb_manifest_parse("pack.yaml", yaml, strlen(yaml), &s->m[i], &err), &err);
        s->p[i].manifest = &s->m[i];
    } else {
        int rc = mb_manifest_parse("pack.yaml", yaml, strlen(yaml), &s->m[i], &err);
        assert_int_not_equal(rc, 0);
        s->p[i].manifest_error = "pack.yaml:1:1: not a mapping";
    }
    char name[80];
    snprintf(name, sizeof(name), "%s.gguf", id);
    mb_strlcpy(s->weights[i], mb_test_tmp_path(name), sizeof(s->weights[i]));
    s->p[i].weights = s->weights[i];
}

static void set_release(struct set *s)
{
    for (size_t i = 0; i < s->n; i++)
        mb_manifest_release(&s->m[i]);
}

static char *yaml_of(const char *id, const char *kind, const char *extra)
{
    static char buf[8][1024];
    static int slot;
    char *b = buf[slot++ % 8];
    snprintf(b, 1024,
             "id: %s\nname: %s\nversion: 1.0.0\nkind: %s\n%s%s"
             "weights:\n  file: %s.gguf\n%s",
             id, id, kind, strcmp(kind, "data") ? "" : "domain: test\n",
             strcmp(kind, "base") ? "base_compatibility:\n  - \"1.0\"\n" : "", id, extra);
    return b;
}

/*
 * The installed set:
 *   general   fine
 *   code      fine
 *   python    fallback [code, general]       (made unusable per test)
 *   nofb      no fallback list               (made unusable per test)
 *   wide      width 128 with adapters        (usable)
 */
static void build_set(struct set *s)
{
    memset(s, 0, sizeof(*s));
    add(s, "general", yaml_of("general", "data", ""), true);
    add(s, "code", yaml_of("code", "data", ""), true);
    add(s, "python", yaml_of("python", "data", "fallback:\n  - code\n  - general\n"), true);
    add(s, "nofb", yaml_of("nofb", "data", ""), true);
    add(s, "wide", yaml_of("wide", "data", "width: 128\n"), true);
    write_gguf(s->weights[0], BASE_W, 0, 0);
    write_gguf(s->weights[1], 0, 0, 0);
    write_gguf(s->weights[2], BASE_W, 0, 0);
    write_gguf(s->weights[3], 0, 0, 0);
    write_gguf(s->weights[4], 128, BASE_W, BASE_W);
}

static struct mb_semver base_v;
static const struct mb_fallback_base base = { "smollm2", &base_v, BASE_W };

static void pick(struct set *s, const char *sel, const char *expect, enum mb_fallback_reason why,
                 const char *warn_part)
{
    struct mb_fallback_result res;
    struct mb_err err;
    mb_err_init(&err);
    MB_ASSERT_OK(mb_pack_fallback_pick(s->p, s->n, sel, &base, NULL, &res, &err), &err);
    if (strcmp(res.pack->id, expect))
        fail_msg("selected %s: got %s, expected %s (warning: %s)", sel, res.pack->id, expect,
                 res.warning);
    assert_int_equal(res.reason, why);
    if (why == MB_FALLBACK_OK) {
        assert_string_equal(res.warning, "");
        return;
    }
    assert_null(strchr(res.warning, '\n'));
    char head[128];
    snprintf(head, sizeof(head), "pack '%s' is %s (", sel, mb_fallback_reason_name(why));
    if (strncmp(res.warning, head, strlen(head)))
        fail_msg("warning '%s' does not start with '%s'", res.warning, head);
    if (warn_part && !strstr(res.warning, warn_part))
        fail_msg("warning '%s' lacks '%s'", res.warning, warn_part);
    char tail[128];
    snprintf(tail, sizeof(tail), "using '%s' instead", expect);
    assert_non_null(strstr(res.warning, tail));
}

static void test_usable(void **state)
{
    (void)state;
    struct set s;
    build_set(&s);
    pick(&s, "python", "python", MB_FALLBACK_OK, NULL);
    pick(&s, "wide", "wide", MB_FALLBACK_OK, NULL); /* other width, adapters fit */
    pick(&s, "general", "general", MB_FALLBACK_OK, NULL);
    set_release(&s);
}

static void test_missing(void **state)
{
    (void)state;
    struct set s;
    build_set(&s);
    pick(&s, "medical", "general", MB_FALLBACK_MISSING, "not installed");
    remove(s.weights[2]); /* python's GGUF deleted: its fallback 'code' is next */
    pick(&s, "python", "code", MB_FALLBACK_MISSING, "python.gguf is missing");
    remove(s.weights[1]); /* and code's too: general */
    pick(&s, "python", "general", MB_FALLBACK_MISSING, "other fallbacks were unusable");
    set_release(&s);
}

static void test_corrupt(void **state)
{
    (void)state;
    struct set s;
    build_set(&s);
    mb_test_write_file(s.weights[2], "this is not a GGUF file", 23);
    pick(&s, "python", "code", MB_FALLBACK_CORRUPT, "python.gguf");
    /* a truncated GGUF (header claims more than is there) */
    struct mb_buf b;
    mb_buf_init(&b, 1u << 20);
    struct mb_err err;
    mb_err_init(&err);
    MB_ASSERT_OK(mb_file_read_all(s.weights[3], 1u << 20, &b, &err), &err);
    mb_test_write_file(s.weights[3], b.p, b.n / 2);
    mb_buf_release(&b);
    pick(&s, "nofb", "general", MB_FALLBACK_CORRUPT, "nofb.gguf");
    set_release(&s);

    /* an unreadable manifest */
    build_set(&s);
    mb_manifest_release(&s.m[3]);
    s.p[3].manifest = NULL;
    s.p[3].manifest_error = "pack.yaml:3:1: kind: \"dat\" is not a pack kind";
    pick(&s, "nofb", "general", MB_FALLBACK_CORRUPT, "pack.yaml:3:1");
    set_release(&s);
}

/* The caller's check (hash verification, stack load) failing counts as corrupt. */
static int check_cb(void *ud, const struct mb_fallback_pack *p, struct mb_err *err)
{
    const char *bad = ud;
    if (!strcmp(p->id, bad))
        return mb_fail(err, MB_E_INTEGRITY, "%s.gguf: sha256 differs from state.json", p->id);
    return 0;
}

static void test_check_callback(void **state)
{
    (void)state;
    struct set s;
    build_set(&s);
    static char bad[] = "python";
    struct mb_fallback_opts o = { NULL, check_cb, bad, false };
    struct mb_fallback_result res;
    struct mb_err err;
    mb_err_init(&err);
    MB_ASSERT_OK(mb_pack_fallback_pick(s.p, s.n, "python", &base, &o, &res, &err), &err);
    assert_string_equal(res.pack->id, "code");
    assert_int_equal(res.reason, MB_FALLBACK_CORRUPT);
    assert_non_null(strstr(res.warning, "sha256 differs"));
    set_release(&s);
}

static void test_incompatible(void **state)
{
    (void)state;
    struct set s;
    memset(&s, 0, sizeof(s));
    add(&s, "general", yaml_of("general", "data", ""), true);
    add(&s, "code", yaml_of("code", "data", ""), true);
    /* base_compatibility 2.x while the base is 1.0.3 */
    add(&s, "newer",
        "id: newer\nname: n\nversion: 1.0.0\nkind: data\ndomain: t\nbase_compatibility:\n"
        "  - \"2.0\"\nfallback:\n  - code\nweights:\n  file: newer.gguf\n",
        true);
    /* built for another base family */
    add(&s, "other", yaml_of("other", "data", "base: llama-7b\n"), true);
    /* width 128 but no adapters */
    add(&s, "noadapt", yaml_of("noadapt", "data", ""), true);
    /* adapters of the wrong input width */
    add(&s, "badadapt", yaml_of("badadapt", "data", ""), true);
    /* a router pack selected as data */
    add(&s, "router", yaml_of("router", "router", ""), true);
    write_gguf(s.weights[0], 0, 0, 0);
    write_gguf(s.weights[1], 0, 0, 0);
    write_gguf(s.weights[2], 0, 0, 0);
    write_gguf(s.weights[3], 0, 0, 0);
    write_gguf(s.weights[4], 128, 0, 0);
    write_gguf(s.weights[5], 128, 32, BASE_W);
    write_gguf(s.weights[6], 0, 0, 0);
    pick(&s, "newer", "code", MB_FALLBACK_INCOMPATIBLE, "excludes base version 1.0.3");
    pick(&s, "other", "general", MB_FALLBACK_INCOMPATIBLE, "built for base 'llama-7b'");
    pick(&s, "noadapt", "general", MB_FALLBACK_INCOMPATIBLE, "no adapter_in.weight");
    pick(&s, "badadapt", "general", MB_FALLBACK_INCOMPATIBLE, "adapter_in.weight reads width 32");
    pick(&s, "router", "general", MB_FALLBACK_INCOMPATIBLE, "not a data pack");
    set_release(&s);
}

/* Fallback cycles end; nothing usable at all is MB_E_NOTFOUND listing every pack tried. */
static void test_nothing_usable(void **state)
{
    (void)state;
    struct set s;
    memset(&s, 0, sizeof(s));
    add(&s, "a", yaml_of("a", "data", "fallback:\n  - b\n"), true);
    add(&s, "b", yaml_of("b", "data", "fallback:\n  - a\n  - general\n"), true);
    add(&s, "general", yaml_of("general", "data", ""), true);
    for (size_t i = 0; i < s.n; i++) /* no GGUF files (earlier tests wrote some) */
        remove(s.weights[i]);
    struct mb_fallback_result res;
    struct mb_err err;
    mb_err_init(&err);
    int rc = mb_pack_fallback_pick(s.p, s.n, "a", &base, NULL, &res, &err);
    assert_int_equal(rc, MB_E_NOTFOUND);
    assert_null(res.pack);
    assert_non_null(strstr(err.msg, "'a' is missing"));
    assert_non_null(strstr(err.msg, "'b' is missing"));
    assert_non_null(strstr(err.msg, "'general' is missing"));
    set_release(&s);
}

int main(void)
{
    struct mb_err err;
    mb_err_init(&err);
    if (mb_semver_parse_cstr("1.0.3", &base_v, &err))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usable),       cmocka_unit_test(test_missing),
        cmocka_unit_test(test_corrupt),      cmocka_unit_test(test_check_callback),
        cmocka_unit_test(test_incompatible), cmocka_unit_test(test_nothing_usable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
