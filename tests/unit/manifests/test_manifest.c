/*
 * test_manifest.c - pack.yaml: the full example parses with every field and
 * default, canonical emission is a fixed point, and every malformed input in
 * the table (wrong types, bad versions and ranges, duplicate keys, YAML syntax
 * errors, anchors/aliases, tags, huge inputs, per-kind rules) fails with the
 * expected `pack.yaml:LINE:COL: field: ...` message and never crashes.
 */
#include "mb_test.h"
#include "mb_manifests.h"

static char *read_data(const char *name, size_t *n)
{
    struct mb_buf b;
    struct mb_err err;
    mb_buf_init(&b, 1u << 20);
    MB_ASSERT_OK(mb_file_read_all(mb_test_data_path(name), 1u << 20, &b, &err), &err);
    return mb_buf_detach(&b, n);
}

static void test_full_example(void **state)
{
    (void)state;
    size_t n;
    char *text = read_data("manifests/full.yaml", &n);
    struct mb_manifest m;
    struct mb_err err;
    MB_ASSERT_OK(mb_manifest_parse("full.yaml", text, n, &m, &err), &err);
    assert_string_equal(m.id, "medical-en");
    assert_string_equal(m.name, "Medical English");
    assert_string_equal(m.version_text, "1.2.0-rc.1+build.7");
    assert_true(m.version.major == 1 && m.version.minor == 2 && m.version.patch == 0);
    assert_int_equal(m.version.pre.n, 4);
    assert_int_equal(m.kind, MB_PACK_DATA);
    assert_string_equal(m.domain, "medical");
    assert_non_null(strstr(m.description, "\nTrained"));
    assert_string_equal(m.license, "Apache-2.0");
    assert_int_equal(m.nauthors, 2);
    assert_string_equal(m.authors[1], "ACME Health");
    assert_string_equal(m.base, "smollm2-135m");
    assert_int_equal(m.nbase_compat, 2);
    assert_string_equal(m.base_compat[0], "1.0");
    struct mb_semver v;
    MB_ASSERT_OK(mb_semver_parse_cstr("1.0.7", &v, &err), &err);
    assert_true(mb_range_satisfies(&m.base_compat_ranges[0], &v, false));
    MB_ASSERT_OK(mb_semver_parse_cstr("1.1.0", &v, &err), &err);
    assert_false(mb_range_satisfies(&m.base_compat_ranges[0], &v, false));
    assert_int_equal(m.ndeps, 2);
    assert_string_equal(m.deps[0].id, "anatomy");
    assert_string_equal(m.deps[0].version, "^2.1.0");
    assert_string_equal(m.deps[1].version, "*"); /* default */
    assert_int_equal(m.nconflicts, 2);
    assert_null(m.conflicts[0].version);
    assert_string_equal(m.conflicts[1].version, "<1.0.0");
    assert_false(m.resident);
    assert_int_equal(m.nfallback, 1);
    assert_string_equal(m.weights_file, "weights/medical-en.q8_0.gguf");
    assert_string_equal(m.weights_quant, "Q8_0"); /* normalised to upper case */
    assert_int_equal(m.width, 576);
    assert_int_equal(m.nexamples, 2);
    assert_int_equal(m.next, 1);
    assert_string_equal(m.ext[0].key, "x-training");

    /* Canonical emission is stable: emit(parse(emit(m))) == emit(m). */
    struct mb_buf a, b;
    mb_buf_init(&a, 1u << 20);
    mb_buf_init(&b, 1u << 20);
    MB_ASSERT_OK(mb_manifest_emit(&m, &a, &err), &err);
    struct mb_manifest m2;
    if (mb_manifest_parse("emitted.yaml", a.p, a.n, &m2, &err))
        fail_msg("re-parse failed: %s\n%s", err.msg, a.p);
    MB_ASSERT_OK(mb_manifest_emit(&m2, &b, &err), &err);
    assert_string_equal(a.p, b.p);
    assert_non_null(strstr(a.p, "version: \"1.2.0-rc.1+build.7\"\n"));
    assert_non_null(strstr(a.p, "base_compatibility:\n  - \"1.0\"\n"));
    assert_non_null(strstr(a.p, "x-training:\n  corpus: pubmed-abstracts\n"));
    assert_non_null(strstr(a.p, "  - id: latin-terms\n    version: \"*\"\n"));
    assert_string_equal(m2.description, m.description);
    mb_buf_release(&a);
    mb_buf_release(&b);
    mb_manifest_release(&m2);
    mb_manifest_release(&m);
    mb_free(text);
}

static void test_defaults(void **state)
{
    (void)state;
    size_t n;
    char *text = read_data("manifests/minimal-base.yaml", &n);
    struct mb_manifest m;
    struct mb_err err;
    MB_ASSERT_OK(mb_manifest_parse("pack.yaml", text, n, &m, &err), &err);
    assert_int_equal(m.kind, MB_PACK_BASE);
    assert_true(m.resident); /* base packs default to resident */
    assert_null(m.weights_quant);
    assert_int_equal(m.ndeps, 0);
    mb_manifest_release(&m);
    mb_free(text);
}

#define DATA_HEAD                                                       \
    "id: med\nname: Med\nversion: 1.0.0\nkind: data\ndomain: medical\n" \
    "base_compatibility: [\"1.0\"]\nweights:\n  file: w.gguf\n"

struct bad_case {
    const char *yaml;
    const char *want; /* substring of the error message */
};

static const struct bad_case BAD[] = {
    { "", "pack.yaml:1:1: the manifest is empty" },
    { "- a\n- b\n", "pack.yaml:1:1: (top level): expected a mapping, got a list" },
    { "id: [x\n", "pack.yaml:2:1: invalid YAML" },
    { "id: a\n  b: c\n", "pack.yaml:2:4: invalid YAML: mapping values are not allowed" },
    { "id: \"abc\n", "invalid YAML: found unexpected end of stream" },
    { "\tid: x\n", "pack.yaml:1:1: invalid YAML" },
    { "id: x\nid: y\n", "pack.yaml:2:1: duplicate key 'id' (first at line 1)" },
    { DATA_HEAD "x-a: &anchor [1, 2]\n", "anchors and aliases are not allowed (&anchor)" },
    { DATA_HEAD "x-a: 1\nx-b: *anchor\n",
      "pack.yaml:10:6: anchors and aliases are not allowed (*anchor)" },
    { "a: &x [1]\nb: *x\n", "pack.yaml:1:4: anchors and aliases are not allowed" },
    { DATA_HEAD "x-t: !!binary aGVsbG8=\n",
      "explicit tags are not allowed (tag:yaml.org,2002:binary)" },
    { "--- {id: a}\n--- {id: b}\n", "only one YAML document is allowed" },
    { "id: MedPack\n", "pack.yaml:1:5: id: \"MedPack\" is not a valid pack id (upper case letter" },
    { "id: ../etc\n", "is not a valid pack id ('.' at offset 0" },
    { "id: a/b\n", "is not a valid pack id (path separator at offset 1" },
    { "id: a b\n", "is not a valid pack id (space at offset 1" },
    { "id: a?b\n", "character not allowed at offset 1" },
    { "id: abc-\n", "ends with '-'" },
    { "id: [a]\n", "pack.yaml:1:5: id: expected a string, got a list" },
    { "id: \n", "pack.yaml:1:4: id: expected a string, got null" },
    { "id: med\nname: Med\nversion: 1.0\nkind: data\n",
      "pack.yaml:3:10: version: \"1.0\" is not a valid version (expected '.' after the minor" },
    { "id: med\nversion: v1.0.0\n", "version: \"v1.0.0\" is not a valid version" },
    { "id: med\nversion: 1.0.0-01\n",
      "numeric prerelease identifiers must not have leading zeros" },
    { "id: med\nkind: plugin\n", "pack.yaml:2:7: kind: \"plugin\" is not a pack kind" },
    { "id: med\nname: Med\nversion: 1.0.0\nkind: data\n",
      "pack.yaml:1:1: missing required field 'weights'" },
    { "id: med\nname: Med\nkind: data\nweights: {file: w}\n", "missing required field 'version'" },
    { "id: med\nname: Med\nversion: 1.0.0\nkind: data\ndomain: m\nweights: {file: w}\n",
      "pack.yaml:4:7: base_compatibility: a data pack must list the base versions" },
    { "id: med\nname: Med\nversion: 1.0.0\nkind: data\nbase_compatibility: [\"1\"]\nweights: "
      "{file: w}\n",
      "domain: required for kind data" },
    { "id: b\nname: B\nversion: 1.0.0\nkind: base\nbase_compatibility: [\"1\"]\nweights: {file: "
      "w}\n",
      "pack.yaml:5:21: base_compatibility: not allowed for kind base" },
    { DATA_HEAD "dependencies:\n  - id: a\n    version: ^1.0.0\n  - id: b\n    version: ^1.x.y\n",
      "pack.yaml:13:14: dependencies[1].version: \"^1.x.y\" is not a valid range (at \"y\"" },
    { DATA_HEAD "dependencies:\n  - id: a\n  - id: a\n", "dependencies[1]: 'a' is listed twice" },
    { DATA_HEAD "dependencies:\n  - id: med\n",
      "dependencies[0].id: a pack cannot depend on itself" },
    { DATA_HEAD "dependencies:\n  - anatomy\n",
      "pack.yaml:10:5: dependencies[0]: expected a mapping {id, version}, got a string" },
    { DATA_HEAD "dependencies:\n  - id: a\n    versoin: ^1\n",
      "pack.yaml:11:5: dependencies[0].versoin: unknown field (did you mean 'version'?)" },
    { DATA_HEAD "dependencies: {id: a}\n", "dependencies: expected a list of {id, version}" },
    { DATA_HEAD "conflicts:\n  - [a]\n", "conflicts[0]: expected a pack id or {id, version}" },
    { DATA_HEAD "conflicts:\n  - med\n", "a pack cannot conflict with itself" },
    { DATA_HEAD "resident: yes\n",
      "pack.yaml:9:11: resident: expected true or false, got a string \"yes\"" },
    { DATA_HEAD "resident: \"true\"\n", "resident: expected true or false" },
    { DATA_HEAD "width: -5\n", "width: expected a positive integer" },
    { DATA_HEAD "width: 0\n", "width: expected a positive integer" },
    { DATA_HEAD "width: 1.5\n", "width: expected a positive integer" },
    { DATA_HEAD "width: 99999999999999999999\n", "width: expected a positive integer" },
    { DATA_HEAD "fallback: [general, general]\n", "fallback[1]: 'general' is listed twice" },
    { DATA_HEAD "fallback: [med]\n", "a pack cannot fall back to itself" },
    { DATA_HEAD "homepage: ftp://x\n", "homepage: \"ftp://x\": must start with https://" },
    { DATA_HEAD "homepage: https://a b\n", "spaces or control characters in a URL" },
    { DATA_HEAD "authors: Jane\n", "authors: expected a list, got a string" },
    { DATA_HEAD "authors: [\"\"]\n", "authors[0]: must not be empty" },
    { DATA_HEAD "name2: x\n", "pack.yaml:9:1: name2: unknown field (did you mean 'name'?)" },
    { DATA_HEAD "frobnicate: x\n",
      "frobnicate: unknown field (extension fields must start with 'x-')" },
    { DATA_HEAD "routing:\n  exmples: [a]\n",
      "routing.exmples: unknown field (did you mean 'examples'?)" },
    { DATA_HEAD "routing:\n  examples: a\n", "routing.examples: expected a list, got a string" },
    { DATA_HEAD "routing: [a]\n", "routing: expected a mapping {examples}" },
    { "id: med\nname: Med\nversion: 1.0.0\nkind: data\ndomain: medical\nbase_compatibility: "
      "[\"1.0\"]\nweights:\n  file: ../w.gguf\n",
      "pack.yaml:8:9: weights.file: \"../w.gguf\": '.' and '..' components are not allowed" },
    { "id: med\nname: Med\nversion: 1.0.0\nkind: data\ndomain: medical\nbase_compatibility: "
      "[\"1.0\"]\nweights:\n  file: /etc/passwd\n",
      "weights.file: \"/etc/passwd\": absolute paths are not allowed" },
    { "id: med\nname: Med\nversion: 1.0.0\nkind: data\ndomain: medical\nbase_compatibility: "
      "[\"1.0\"]\nweights:\n  file: w.gguf\n  quantization: Q3_X\n",
      "weights.quantization: \"Q3_X\" is not a known type" },
    { "id: med\nname: Med\nversion: 1.0.0\nkind: data\ndomain: medical\nbase_compatibility: "
      "[\"1.0\"]\nweights: w.gguf\n",
      "weights: expected a mapping {file, quantization}, got a string" },
    { "id: med\nname: Med\nversion: 1.0.0\nkind: data\ndomain: medical\nbase_compatibility: "
      "[\"^1.x.y\"]\nweights: {file: w}\n",
      "pack.yaml:6:22: base_compatibility[0]: \"^1.x.y\" is not a valid range" },
    { "id: med\nname: Med\nversion: 1.0.0\nkind: data\ndomain: Medical\n",
      "domain: \"Medical\" is not a valid domain" },
    { "id: med\nname: \"a\\nb\"\n", "name: control character or line break" },
    { "id: med\nname: \"a\\0b\"\n", "NUL byte in a string" },
    { "? [a, b]\n: c\n", "mapping keys must be strings" },
    { "id: \xff\xfe\n", "invalid YAML" },
};

static void test_malformed(void **state)
{
    (void)state;
    for (size_t i = 0; i < MB_ARRAY_LEN(BAD); i++) {
        struct mb_manifest m;
        struct mb_err err;
        mb_err_init(&err);
        int rc = mb_manifest_parse("pack.yaml", BAD[i].yaml, strlen(BAD[i].yaml), &m, &err);
        if (rc == 0)
            fail_msg("case %zu parsed but should fail:\n%s", i, BAD[i].yaml);
        if (!strstr(err.msg, BAD[i].want))
            fail_msg("case %zu: message\n  %s\ndoes not contain\n  %s", i, err.msg, BAD[i].want);
        if (strncmp(err.msg, "pack.yaml:", 10))
            fail_msg("case %zu: message does not start with 'pack.yaml:': %s", i, err.msg);
        /* Every message names a line and column: "pack.yaml:L:C: ". */
        unsigned line, col;
        if (sscanf(err.msg, "pack.yaml:%u:%u:", &line, &col) != 2 || line == 0 || col == 0)
            fail_msg("case %zu: no line:col in %s", i, err.msg);
        mb_manifest_release(&m);
    }
}

/* Hostile sizes: a file over the cap, deep nesting, an alias bomb, many nodes. */
static void test_limits(void **state)
{
    (void)state;
    struct mb_manifest m;
    struct mb_err err;
    size_t big = MB_MANIFEST_MAX_BYTES + 10;
    char *text = mb_malloc(big + 1);
    memset(text, ' ', big);
    memcpy(text, "id: a\n", 6);
    text[big] = '\0';
    assert_int_equal(mb_manifest_parse("pack.yaml", text, big, &m, &err), MB_E_LIMIT);
    assert_non_null(strstr(err.msg, "pack.yaml:1:1: the file is larger than"));

    /* 100 levels of nested lists. */
    size_t o = 0;
    o += (size_t)snprintf(text + o, big - o, "x-deep: ");
    for (int i = 0; i < 100; i++)
        text[o++] = '[';
    for (int i = 0; i < 100; i++)
        text[o++] = ']';
    text[o++] = '\n';
    assert_int_equal(mb_manifest_parse("pack.yaml", text, o, &m, &err), MB_E_LIMIT);
    assert_non_null(strstr(err.msg, "nesting deeper than"));

    /* The classic "billion laughs" needs aliases: refused at the first anchor. */
    const char *bomb = "a: &a [\"lol\",\"lol\",\"lol\"]\nb: &b [*a,*a,*a,*a]\nc: [*b,*b,*b,*b]\n";
    assert_int_equal(mb_manifest_parse("pack.yaml", bomb, strlen(bomb), &m, &err), MB_E_FORMAT);
    assert_non_null(strstr(err.msg, "anchors and aliases are not allowed"));

    /* 300,000 list items in an extension field: over the node cap. */
    o = 0;
    o += (size_t)snprintf(text + o, big - o, "x-many: [");
    for (int i = 0; i < 300000 && o + 4 < big; i++) {
        text[o++] = '1';
        text[o++] = ',';
    }
    text[o++] = ']';
    assert_int_equal(mb_manifest_parse("pack.yaml", text, o, &m, &err), MB_E_LIMIT);
    assert_non_null(strstr(err.msg, "YAML nodes"));
    mb_free(text);
}

/* Emitting tricky strings quotes what YAML would otherwise misread. */
static void test_emit_quoting(void **state)
{
    (void)state;
    const char *y = "id: med\nname: \"yes\"\nversion: 1.0.0\nkind: data\ndomain: medical\n"
                    "description: \"a: b # c\\n- d\\t\\\"e\\\" \\u2028 \\u0085\"\n"
                    "license: \"null\"\nbase_compatibility: [\"1.0\", \"~1.2 || ^2\"]\n"
                    "weights: {file: \"w 1.gguf\"}\nrouting: {examples: [\"@x\", \"'q'\"]}\n";
    struct mb_manifest m, m2;
    struct mb_err err;
    MB_ASSERT_OK(mb_manifest_parse("pack.yaml", y, strlen(y), &m, &err), &err);
    struct mb_buf a;
    mb_buf_init(&a, 1u << 20);
    MB_ASSERT_OK(mb_manifest_emit(&m, &a, &err), &err);
    if (mb_manifest_parse("emitted", a.p, a.n, &m2, &err))
        fail_msg("%s\n%s", err.msg, a.p);
    assert_string_equal(m2.name, "yes");
    assert_string_equal(m2.license, "null");
    assert_string_equal(m2.description, m.description);
    assert_string_equal(m2.base_compat[1], "~1.2 || ^2");
    assert_string_equal(m2.weights_file, "w 1.gguf");
    assert_string_equal(m2.examples[0], "@x");
    assert_string_equal(m2.examples[1], "'q'");
    mb_buf_release(&a);
    mb_manifest_release(&m);
    mb_manifest_release(&m2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_example), cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_malformed),    cmocka_unit_test(test_limits),
        cmocka_unit_test(test_emit_quoting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
