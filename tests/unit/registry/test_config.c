/*
 * test_config.c - unit tests of registry/config.c: config.yaml round trips
 * (parse -> emit -> parse gives the same bytes), defaults kept in order,
 * priorities, atomic save and load of a missing file, and every refusal with
 * its file:line:column: unknown keys, duplicates, anchors and aliases, tags,
 * missing keys (no key, no registry), bad names and URLs, out-of-range numbers.
 */
#include "mb_test.h"

#include "mb_registry.h"

static char KEY1[MB_SIGN_PUBKEY_B64_LEN], KEY2[MB_SIGN_PUBKEY_B64_LEN];

static void make_keys(void)
{
    if (KEY1[0])
        return;
    struct mb_err err;
    mb_err_init(&err);
    for (int i = 0; i < 2; i++) {
        struct mb_seckey *sk;
        struct mb_pubkey pk;
        MB_ASSERT_OK(mb_sign_seckey_generate(&sk, &err), &err);
        mb_sign_seckey_public(sk, &pk);
        mb_sign_pubkey_base64(&pk, i ? KEY2 : KEY1);
        mb_sign_seckey_free(sk);
    }
}

static char *good_yaml(void)
{
    make_keys();
    struct mb_buf b;
    struct mb_err err;
    mb_buf_init(&b, 1 << 16);
    MB_ASSERT_OK(mb_buf_appendf(&b, &err,
                                "format: 1\n"
                                "registries:\n"
                                "  - name: community\n"
                                "    url: https://packs.example.org\n"
                                "    mirrors: [\"https://m1.example.net/c/\", http://m2/]\n"
                                "    keys:\n"
                                "      - %s\n"
                                "      - %s\n"
                                "    threshold: 2\n"
                                "    priority: 5\n"
                                "  - name: local\n"
                                "    url: file:///srv/reg\n"
                                "    keys: [%s]\n"
                                "defaults:\n"
                                "  jobs: 8\n"
                                "  mem_budget: \"2 GiB\"\n",
                                KEY1, KEY2, KEY1),
                 &err);
    return mb_buf_detach(&b, NULL);
}

static void test_roundtrip(void **state)
{
    (void)state;
    struct mb_err err;
    mb_err_init(&err);
    char *y = good_yaml();
    struct mb_config c, c2;
    MB_ASSERT_OK(mb_config_parse("config.yaml", y, strlen(y), &c, &err), &err);
    assert_int_equal(c.nregistries, 2);
    struct mb_registry_conf *r = mb_config_find(&c, "community");
    assert_non_null(r);
    assert_string_equal(r->url, "https://packs.example.org/");
    assert_int_equal(r->nmirrors, 2);
    assert_string_equal(r->mirrors[1], "http://m2/");
    assert_int_equal(r->nkeys, 2);
    assert_int_equal(r->threshold, 2);
    assert_int_equal(r->priority, 5);
    r = mb_config_find(&c, "local");
    assert_int_equal(r->threshold, 1);
    assert_int_equal(r->priority, 0);
    assert_string_equal(mb_config_default_get(&c, "jobs"), "8");
    assert_string_equal(mb_config_default_get(&c, "mem_budget"), "2 GiB");
    assert_null(mb_config_default_get(&c, "nope"));
    struct mb_buf b1, b2;
    mb_buf_init(&b1, 1 << 20);
    mb_buf_init(&b2, 1 << 20);
    MB_ASSERT_OK(mb_config_emit(&c, &b1, &err), &err);
    MB_ASSERT_OK(mb_config_parse("emitted", b1.p, b1.n, &c2, &err), &err);
    MB_ASSERT_OK(mb_config_emit(&c2, &b2, &err), &err);
    assert_int_equal(b1.n, b2.n);
    assert_memory_equal(b1.p, b2.p, b1.n);
    assert_int_equal(c2.ndefaults, 2);
    assert_string_equal(c2.defaults[0].key, "jobs");

    /* Priority order: community (5) before local (0). */
    const struct mb_registry_conf **order;
    MB_ASSERT_OK(mb_config_by_priority(&c2, &order, &err), &err);
    assert_string_equal(order[0]->name, "community");
    mb_free(order);
    mb_config_find(&c2, "local")->priority = 9;
    MB_ASSERT_OK(mb_config_by_priority(&c2, &order, &err), &err);
    assert_string_equal(order[0]->name, "local");
    mb_free(order);

    /* Add, remove, defaults. */
    struct mb_registry_conf add = *mb_config_find(&c, "local");
    add.name = (char *)(uintptr_t) "third";
    MB_ASSERT_OK(mb_config_add(&c2, &add, &err), &err);
    assert_int_equal(mb_config_add(&c2, &add, &err), MB_E_EXISTS);
    MB_ASSERT_OK(mb_config_remove(&c2, "community", &err), &err);
    assert_int_equal(mb_config_remove(&c2, "community", &err), MB_E_NOTFOUND);
    assert_int_equal(c2.nregistries, 2);
    MB_ASSERT_OK(mb_config_default_set(&c2, "jobs", "2", &err), &err);
    assert_string_equal(mb_config_default_get(&c2, "jobs"), "2");

    /* Save and load (atomic write into a new home). */
    const char *home = mb_test_tmp_path("home");
    MB_ASSERT_OK(mb_config_save(home, &c2, &err), &err);
    struct mb_config c3;
    MB_ASSERT_OK(mb_config_load(home, &c3, &err), &err);
    assert_int_equal(c3.nregistries, 2);
    assert_non_null(mb_config_find(&c3, "third"));
    mb_config_release(&c3);
    MB_ASSERT_OK(mb_config_load(mb_test_tmp_path("no-such-home"), &c3, &err), &err);
    assert_int_equal(c3.nregistries, 0);
    mb_config_release(&c3);
    mb_config_release(&c);
    mb_config_release(&c2);
    mb_buf_release(&b1);
    mb_buf_release(&b2);
    mb_free(y);
}

/* Replace `from` by `to` in the good file and expect an error mentioning `want`. */
static void expect_bad(const char *from, const char *to, const char *want)
{
    struct mb_err err;
    mb_err_init(&err);
    char *y = good_yaml();
    char *at = strstr(y, from);
    if (!at)
        fail_msg("'%s' not in the file", from);
    struct mb_buf b;
    mb_buf_init(&b, 1 << 20);
    MB_ASSERT_OK(mb_buf_append(&b, y, (size_t)(at - y), &err), &err);
    MB_ASSERT_OK(mb_buf_append_cstr(&b, to, &err), &err);
    MB_ASSERT_OK(mb_buf_append_cstr(&b, at + strlen(from), &err), &err);
    struct mb_config c;
    int rc = mb_config_parse("config.yaml", b.p, b.n, &c, &err);
    if (rc == 0)
        fail_msg("accepted: %s -> %s", from, to);
    if (!strstr(err.msg, want))
        fail_msg("'%s' not in '%s'", want, err.msg);
    if (!strstr(err.msg, "config.yaml:"))
        fail_msg("no position in '%s'", err.msg);
    mb_buf_release(&b);
    mb_free(y);
}

static void test_refusals(void **state)
{
    (void)state;
    expect_bad("format: 1", "format: 2", "format 2 is not supported");
    expect_bad("format: 1", "formats: 1", "unknown key \"formats\"");
    expect_bad("    priority: 5", "    priority: 5\n    colour: red", "unknown key \"colour\"");
    expect_bad("    priority: 5", "    priority: 5\n    priority: 6", "duplicate key");
    expect_bad("  - name: local", "  - name: community", "used twice");
    expect_bad("  - name: local", "  - name: ../local", "name");
    expect_bad("  - name: local", "  - name: a?b", "name");
    expect_bad("    url: https://packs.example.org", "    url: ftp://x/", "url");
    expect_bad("    url: https://packs.example.org", "    url: https://x/?q", "url");
    expect_bad("    url: https://packs.example.org\n", "", "missing \"url\"");
    expect_bad("    keys: [", "    keyz: [", "unknown key");
    expect_bad("    threshold: 2", "    threshold: 3", "threshold");
    expect_bad("    threshold: 2", "    threshold: two", "threshold");
    expect_bad("    priority: 5", "    priority: 99999999999", "priority");
    expect_bad("http://m2/]", "http://m2/, \"file:relative\"]", "mirrors");
    expect_bad("  - name: community\n", "  - &a name: community\n", "anchors");
    expect_bad("  jobs: 8", "  jobs: !!int 8", "tags");
    expect_bad("  jobs: 8", "  jobs: *x", "alias");
    expect_bad("  jobs: 8", "  jobs: [8]", "expected a scalar");
    expect_bad("format: 1\n", "format: 1\n  bad indent: [\n", "invalid YAML");
    /* No key, no registry. */
    struct mb_err err;
    mb_err_init(&err);
    const char *nokey = "registries:\n  - name: a\n    url: https://a/\n";
    struct mb_config c;
    assert_int_equal(mb_config_parse("config.yaml", nokey, strlen(nokey), &c, &err), MB_E_FORMAT);
    assert_non_null(strstr(err.msg, "no key, no registry"));
    const char *badkey = "registries:\n  - name: a\n    url: https://a/\n    keys: [RWQnotakey]\n";
    assert_int_equal(mb_config_parse("config.yaml", badkey, strlen(badkey), &c, &err), MB_E_FORMAT);
    assert_non_null(strstr(err.msg, "config.yaml:4:"));
    const char *map = "registries: {}\n";
    assert_int_equal(mb_config_parse("config.yaml", map, strlen(map), &c, &err), MB_E_FORMAT);
    assert_non_null(strstr(err.msg, "registries: expected a list"));
    /* Empty files are an empty configuration; two documents are not. */
    MB_ASSERT_OK(mb_config_parse("config.yaml", "", 0, &c, &err), &err);
    assert_int_equal(c.nregistries, 0);
    mb_config_release(&c);
    const char *two = "format: 1\n---\nformat: 1\n";
    assert_int_equal(mb_config_parse("config.yaml", two, strlen(two), &c, &err), MB_E_FORMAT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
