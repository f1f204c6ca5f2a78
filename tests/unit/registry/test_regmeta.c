/*
 * test_regmeta.c - unit tests of registry/regmeta*.c: registry names, base
 * URLs and file:// paths, publisher patterns, registry.json and snapshot.json
 * (round trips through the canonical emitters, every refusal of the strict
 * parsers with the field named), and the threshold check of snapshot
 * signatures against pinned keys (unsigned, unpinned key, a key counted
 * twice, too few, tampered bytes).
 */
#include "mb_test.h"

#include "mb_registry.h"

static struct mb_seckey *new_key(void)
{
    struct mb_seckey *sk;
    struct mb_err err;
    mb_err_init(&err);
    MB_ASSERT_OK(mb_sign_seckey_generate(&sk, &err), &err);
    return sk;
}

static void test_names(void **state)
{
    (void)state;
    struct mb_err err;
    mb_err_init(&err);
    MB_ASSERT_OK(mb_registry_name_check("community", &err), &err);
    MB_ASSERT_OK(mb_registry_name_check("a1_b-2", &err), &err);
    const char *bad[] = { "", "..", "a/b", "a?b", "a#b", "A", "-a", "_a", ".a", "a b", "a.b" };
    for (size_t i = 0; i < MB_ARRAY_LEN(bad); i++) {
        assert_int_equal(mb_registry_name_check(bad[i], &err), MB_E_FORMAT);
        assert_true(err.msg[0] != '\0');
    }
    char longname[80];
    memset(longname, 'a', 65);
    longname[65] = '\0';
    assert_int_equal(mb_registry_name_check(longname, &err), MB_E_FORMAT);
}

static void test_urls(void **state)
{
    (void)state;
    struct mb_err err;
    mb_err_init(&err);
    char *u = NULL;
    MB_ASSERT_OK(mb_registry_url_normalize("https://packs.example.org", &u, &err), &err);
    assert_string_equal(u, "https://packs.example.org/");
    mb_free(u);
    MB_ASSERT_OK(mb_registry_url_normalize("http://h:8080/a/b/", &u, &err), &err);
    assert_string_equal(u, "http://h:8080/a/b/");
    mb_free(u);
    MB_ASSERT_OK(mb_registry_url_normalize("/srv/my reg", &u, &err), &err);
    assert_string_equal(u, "file:///srv/my%20reg/");
    char *p = NULL;
    MB_ASSERT_OK(mb_registry_url_to_path(u, &p, &err), &err);
    assert_string_equal(p, "/srv/my reg/");
    mb_free(p);
    mb_free(u);
    const char *bad[] = { "ftp://h/",
                          "https://h/?q=1",
                          "https://h/#x",
                          "https://",
                          "http:///path",
                          "file://relative/x",
                          "https://h/a b",
                          "https://h/../x",
                          "https://h/\"x",
                          "javascript:alert",
                          "" };
    for (size_t i = 0; i < MB_ARRAY_LEN(bad); i++) {
        u = NULL;
        int rc = mb_registry_url_normalize(bad[i], &u, &err);
        if (!strstr(bad[i], "://") && bad[i][0]) {
            /* "javascript:alert" has no "://": it is a relative directory path. */
            MB_ASSERT_OK(rc, &err);
            assert_true(!strncmp(u, "file:///", 8));
            mb_free(u);
            continue;
        }
        assert_int_equal(rc, MB_E_FORMAT);
        assert_null(u);
    }
    assert_int_equal(mb_registry_url_to_path("https://h/", &p, &err), MB_E_FORMAT);
    assert_int_equal(mb_registry_url_to_path("file:///a%zz", &p, &err), MB_E_FORMAT);
    assert_int_equal(mb_registry_url_to_path("file:///a%00b", &p, &err), MB_E_FORMAT);
}

static void test_patterns(void **state)
{
    (void)state;
    assert_true(mb_registry_pattern_match("*", "anything"));
    assert_true(mb_registry_pattern_match("med-*", "med-en"));
    assert_false(mb_registry_pattern_match("med-*", "medx"));
    assert_true(mb_registry_pattern_match("med", "med"));
    assert_false(mb_registry_pattern_match("med", "med-en"));
    char name[64];
    mb_snapshot_sig_name(1, name, sizeof(name));
    assert_string_equal(name, "snapshot.json.minisig");
    mb_snapshot_sig_name(3, name, sizeof(name));
    assert_string_equal(name, "snapshot.json.3.minisig");
}

/* A registry.json with two maintainer keys, threshold 2 and one restricted publisher. */
static void make_meta(struct mb_registry_meta *m, struct mb_seckey **k, struct mb_publisher *p)
{
    static char name[] = "community", pname[] = "alice", pat[] = "med-*";
    static char *pats[] = { pat };
    mb_registry_meta_init(m);
    m->name = name;
    m->nkeys = 2;
    mb_sign_seckey_public(k[0], &m->keys[0]);
    mb_sign_seckey_public(k[1], &m->keys[1]);
    m->threshold = 2;
    p->name = pname;
    mb_sign_seckey_public(k[2], &p->key);
    p->packs = pats;
    p->npacks = 1;
    m->publishers = p;
    m->npublishers = 1;
}

static void test_registry_json(void **state)
{
    (void)state;
    struct mb_err err;
    mb_err_init(&err);
    struct mb_seckey *k[3] = { new_key(), new_key(), new_key() };
    struct mb_registry_meta m, back;
    struct mb_publisher pub;
    make_meta(&m, k, &pub);
    struct mb_buf b, b2;
    mb_buf_init(&b, 1 << 20);
    mb_buf_init(&b2, 1 << 20);
    MB_ASSERT_OK(mb_registry_meta_emit(&m, &b, &err), &err);
    MB_ASSERT_OK(mb_registry_meta_parse("registry.json", b.p, b.n, &back, &err), &err);
    assert_string_equal(back.name, "community");
    assert_int_equal(back.nkeys, 2);
    assert_int_equal(back.threshold, 2);
    assert_int_equal(back.npublishers, 1);
    assert_memory_equal(&back.publishers[0].key, &pub.key, sizeof(pub.key));
    MB_ASSERT_OK(mb_registry_meta_emit(&back, &b2, &err), &err);
    assert_int_equal(b.n, b2.n);
    assert_memory_equal(b.p, b2.p, b.n);
    bool listed;
    assert_non_null(mb_registry_meta_publisher(&back, pub.key.keyid, "med-en", &listed));
    assert_null(mb_registry_meta_publisher(&back, pub.key.keyid, "code", &listed));
    assert_true(listed);
    assert_null(mb_registry_meta_publisher(&back, back.keys[0].keyid, "med-en", &listed));
    assert_false(listed);
    mb_registry_meta_release(&back);

    /* Refusals, each naming the field. */
    struct {
        const char *from, *to, *want;
    } cases[] = {
        { "\"threshold\": 2", "\"threshold\": 3", "threshold" },
        { "\"threshold\": 2", "\"threshold\": 0", "threshold" },
        { "\"format\": 1", "\"format\": 2", "format 2 is not supported" },
        { "\"name\": \"community\"", "\"name\": \"Comm/unity\"", "name" },
        { "\"packs\": [\"med-*\"]", "\"packs\": [\"../*\"]", "packs[0]" },
        { "\"packs\": [\"med-*\"]", "\"packs\": []", "packs" },
        { "\"threshold\": 2", "\"threshold\": 2, \"extra\": 1", "unknown field \"extra\"" },
        { "\"key_id\": \"", "\"key_id\": \"0", "key_id" },
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(cases); i++) {
        char *s = mb_strndup(b.p, b.n);
        char *at = strstr(s, cases[i].from);
        assert_non_null(at);
        struct mb_buf t;
        mb_buf_init(&t, 1 << 20);
        MB_ASSERT_OK(mb_buf_append(&t, s, (size_t)(at - s), &err), &err);
        MB_ASSERT_OK(mb_buf_append_cstr(&t, cases[i].to, &err), &err);
        MB_ASSERT_OK(mb_buf_append_cstr(&t, at + strlen(cases[i].from), &err), &err);
        int rc = mb_registry_meta_parse("registry.json", t.p, t.n, &back, &err);
        assert_true(rc == MB_E_FORMAT || rc == MB_E_UNSUPPORTED || rc == MB_E_LIMIT);
        if (!strstr(err.msg, cases[i].want))
            fail_msg("case %zu: '%s' not in '%s'", i, cases[i].want, err.msg);
        assert_non_null(strstr(err.msg, "registry.json"));
        mb_buf_release(&t);
        mb_free(s);
    }
    const char *junk[] = { "",     "[]",
                           "{",    "{\"format\": 1}",
                           "null", "{\"format\": 1, \"format\": 1}" };
    for (size_t i = 0; i < MB_ARRAY_LEN(junk); i++)
        assert_int_not_equal(mb_registry_meta_parse("r", junk[i], strlen(junk[i]), &back, &err), 0);
    mb_buf_release(&b);
    mb_buf_release(&b2);
    for (size_t i = 0; i < 3; i++)
        mb_sign_seckey_free(k[i]);
}

static void make_snapshot(struct mb_snapshot *s)
{
    mb_snapshot_init(s);
    s->name = mb_strdup("community");
    s->version = 42;
    s->timestamp = 1767225600; /* 2026-01-01T00:00:00Z */
    s->expires = s->timestamp + 7 * 86400;
    memset(s->registry_sha256, 'a', 64);
    s->registry_sha256[64] = '\0';
    s->registry_size = 300;
    s->npacks = 3;
    s->packs = mb_calloc(3, sizeof(*s->packs));
    const char *ids[] = { "anatomy", "base", "med-en" };
    enum mb_pack_kind kinds[] = { MB_PACK_DATA, MB_PACK_BASE, MB_PACK_DATA };
    for (size_t i = 0; i < 3; i++) {
        s->packs[i].id = mb_strdup(ids[i]);
        s->packs[i].kind = kinds[i];
        memset(s->packs[i].sha256, (int)('b' + i), 64);
        s->packs[i].sha256[64] = '\0';
        s->packs[i].size = 100 + i;
    }
}

static void test_snapshot_json(void **state)
{
    (void)state;
    struct mb_err err;
    mb_err_init(&err);
    struct mb_snapshot s, back;
    make_snapshot(&s);
    struct mb_buf b, b2;
    mb_buf_init(&b, 1 << 20);
    mb_buf_init(&b2, 1 << 20);
    MB_ASSERT_OK(mb_snapshot_emit(&s, &b, &err), &err);
    assert_non_null(strstr(b.p, "\"expires\": \"2026-01-08T00:00:00Z\""));
    MB_ASSERT_OK(mb_snapshot_parse("snapshot.json", b.p, b.n, &back, &err), &err);
    assert_int_equal(back.version, 42);
    assert_int_equal(back.expires, s.expires);
    assert_int_equal(back.npacks, 3);
    const struct mb_snapshot_entry *e = mb_snapshot_find(&back, "base");
    assert_non_null(e);
    assert_int_equal(e->kind, MB_PACK_BASE);
    assert_int_equal(e->size, 101);
    assert_null(mb_snapshot_find(&back, "nope"));
    assert_null(mb_snapshot_find(&back, "aaa"));
    assert_null(mb_snapshot_find(&back, "zzz"));
    MB_ASSERT_OK(mb_snapshot_emit(&back, &b2, &err), &err);
    assert_int_equal(b.n, b2.n);
    assert_memory_equal(b.p, b2.p, b.n);
    mb_snapshot_release(&back);

    struct {
        const char *from, *to, *want;
    } cases[] = {
        { "\"version\": 42", "\"version\": 0", "version" },
        { "\"version\": 42", "\"version\": 9007199254740992", "version" },
        { "\"version\": 42", "\"version\": \"42\"", "version" },
        { "\"version\": 42", "\"version\": 4.2", "version" },
        { "2026-01-08T00:00:00Z", "2026-01-08 00:00:00", "expires" },
        { "\"med-en\": {", "\"Med/en\": {", "not a valid pack id" },
        { "\"med-en\": {", "\"..\": {", "not a valid pack id" },
        { "\"kind\": \"base\"", "\"kind\": \"tool\"", "kind" },
        { "\"size\": 101", "\"size\": 16777217", "size" },
        { "\"size\": 101", "\"size\": -1", "size" },
        { "\"size\": 300", "\"size\": 0", "registry.size" },
        { "\"name\": \"community\"", "\"name\": \"a?b\"", "name" },
        { "\"format\": 1", "\"format\": 1, \"extra\": true", "unknown field \"extra\"" },
        { "\"size\": 102}", "\"size\": 102, \"x\": 1}", "unknown field \"x\"" },
        { "\"med-en\": {", "\"base\": {", "duplicate" },
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(cases); i++) {
        char *s2 = mb_strndup(b.p, b.n);
        char *at = strstr(s2, cases[i].from);
        if (!at)
            fail_msg("case %zu: '%s' not in the snapshot", i, cases[i].from);
        struct mb_buf t;
        mb_buf_init(&t, 1 << 20);
        MB_ASSERT_OK(mb_buf_append(&t, s2, (size_t)(at - s2), &err), &err);
        MB_ASSERT_OK(mb_buf_append_cstr(&t, cases[i].to, &err), &err);
        MB_ASSERT_OK(mb_buf_append_cstr(&t, at + strlen(cases[i].from), &err), &err);
        int rc = mb_snapshot_parse("snapshot.json", t.p, t.n, &back, &err);
        assert_true(rc == MB_E_FORMAT || rc == MB_E_LIMIT);
        if (!strstr(err.msg, cases[i].want))
            fail_msg("case %zu: '%s' not in '%s'", i, cases[i].want, err.msg);
        mb_buf_release(&t);
        mb_free(s2);
    }
    mb_snapshot_release(&s);
    mb_buf_release(&b);
    mb_buf_release(&b2);
}

static void sign_text(struct mb_seckey *k, const struct mb_buf *data, struct mb_buf *out)
{
    struct mb_err err;
    mb_err_init(&err);
    struct mb_sig sig;
    MB_ASSERT_OK(mb_sign_buffer(k, data->p, data->n, "snapshot.json", NULL, &sig, &err), &err);
    mb_buf_init(out, 16384);
    MB_ASSERT_OK(mb_sign_sig_format(&sig, out, &err), &err);
}

static void test_threshold(void **state)
{
    (void)state;
    struct mb_err err;
    mb_err_init(&err);
    struct mb_seckey *k[3] = { new_key(), new_key(), new_key() };
    struct mb_pubkey pins[2];
    mb_sign_seckey_public(k[0], &pins[0]);
    mb_sign_seckey_public(k[1], &pins[1]);
    struct mb_snapshot s;
    make_snapshot(&s);
    struct mb_buf b;
    mb_buf_init(&b, 1 << 20);
    MB_ASSERT_OK(mb_snapshot_emit(&s, &b, &err), &err);
    struct mb_buf s0, s1, s2;
    sign_text(k[0], &b, &s0);
    sign_text(k[1], &b, &s1);
    sign_text(k[2], &b, &s2);
    struct mb_str v[3] = { { s0.p, s0.n }, { s1.p, s1.n }, { s2.p, s2.n } };
    const char *o = "https://h/snapshot.json";
    MB_ASSERT_OK(mb_snapshot_verify_sigs(o, b.p, b.n, v, 1, pins, 2, 1, &err), &err);
    MB_ASSERT_OK(mb_snapshot_verify_sigs(o, b.p, b.n, v, 2, pins, 2, 2, &err), &err);
    /* Unsigned. */
    assert_int_equal(mb_snapshot_verify_sigs(o, b.p, b.n, v, 0, pins, 2, 1, &err), MB_E_SIGNATURE);
    assert_non_null(strstr(err.msg, "not signed"));
    /* Signed by a key that is not pinned. */
    assert_int_equal(mb_snapshot_verify_sigs(o, b.p, b.n, &v[2], 1, pins, 2, 1, &err),
                     MB_E_SIGNATURE);
    assert_non_null(strstr(err.msg, "not pinned"));
    assert_non_null(strstr(err.msg, o));
    /* One pinned key twice does not make two signatures. */
    struct mb_str twice[2] = { v[0], v[0] };
    assert_int_equal(mb_snapshot_verify_sigs(o, b.p, b.n, twice, 2, pins, 2, 2, &err),
                     MB_E_SIGNATURE);
    assert_non_null(strstr(err.msg, "1 valid signature by pinned keys, the registry needs 2"));
    /* A pinned and an unpinned key: 1 of 2. */
    struct mb_str mixed[2] = { v[0], v[2] };
    assert_int_equal(mb_snapshot_verify_sigs(o, b.p, b.n, mixed, 2, pins, 2, 2, &err),
                     MB_E_SIGNATURE);
    /* Tampered bytes. */
    b.p[10] ^= 1;
    assert_int_equal(mb_snapshot_verify_sigs(o, b.p, b.n, v, 1, pins, 2, 1, &err), MB_E_SIGNATURE);
    assert_non_null(strstr(err.msg, "verification failed"));
    /* Garbage signature text. */
    struct mb_str junk = { "hello", 5 };
    b.p[10] ^= 1;
    assert_int_equal(mb_snapshot_verify_sigs(o, b.p, b.n, &junk, 1, pins, 2, 1, &err),
                     MB_E_SIGNATURE);
    mb_buf_release(&s0);
    mb_buf_release(&s1);
    mb_buf_release(&s2);
    mb_buf_release(&b);
    mb_snapshot_release(&s);
    for (size_t i = 0; i < 3; i++)
        mb_sign_seckey_free(k[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),         cmocka_unit_test(test_urls),
        cmocka_unit_test(test_patterns),      cmocka_unit_test(test_registry_json),
        cmocka_unit_test(test_snapshot_json), cmocka_unit_test(test_threshold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
