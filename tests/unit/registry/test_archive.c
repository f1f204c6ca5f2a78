/*
 * test_archive.c - unit tests of the .mbpack archive: build → verify →
 * extract round trip, byte-identical builds from inputs with other mtimes and
 * modes, MANIFEST.sha256 parsing, name rules, and hostile archives crafted
 * here with libarchive (absolute path, ../ escape, symlink then a file through
 * it, hard link, device node, FIFO, setuid, over-long name, duplicate,
 * unlisted member, a 1 GB bomb declared as 1 MB, a hash mismatch, a missing
 * member, truncation). Each must be refused with a message naming the member,
 * leave nothing outside the staging directory, and remove the staging
 * directory.
 */
#include "mb_test.h"

#include "mb_registry.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static void write_str(const char *path, const char *s)
{
    mb_test_write_file(path, s, strlen(s));
}

/* A small source tree: three files, one in a subdirectory. */
static void make_tree(const char *dir)
{
    struct mb_err err;
    mb_err_init(&err);
    char *w = mb_path_join(dir, "weights");
    MB_ASSERT_OK(mb_mkdir_p(w, 0755, &err), &err);
    char p[4096];
    snprintf(p, sizeof(p), "%s/pack.yaml", dir);
    write_str(p, "id: demo\nversion: 1.0.0\n");
    snprintf(p, sizeof(p), "%s/README.md", dir);
    write_str(p, "# demo\n");
    snprintf(p, sizeof(p), "%s/model.gguf", w);
    unsigned char blob[70000];
    for (size_t i = 0; i < sizeof(blob); i++)
        blob[i] = (unsigned char)(i * 31 + i / 7);
    mb_test_write_file(p, blob, sizeof(blob));
    mb_free(w);
}

static int build_tree(const char *dir, const char *out, struct mb_archive_info *info,
                      struct mb_err *err)
{
    char a[4096], b[4096], c[4096];
    snprintf(a, sizeof(a), "%s/pack.yaml", dir);
    snprintf(b, sizeof(b), "%s/README.md", dir);
    snprintf(c, sizeof(c), "%s/weights/model.gguf", dir);
    struct mb_archive_input in[] = {
        { "weights/model.gguf", c },
        { "pack.yaml", a },
        { "README.md", b },
    };
    return mb_archive_build(out, in, 3, NULL, info, err);
}

static bool same_file(const char *a, const char *b)
{
    struct mb_buf x, y;
    struct mb_err err;
    MB_ASSERT_OK(mb_file_read_all(a, 1 << 26, &x, &err), &err);
    MB_ASSERT_OK(mb_file_read_all(b, 1 << 26, &y, &err), &err);
    bool same = x.n == y.n && !memcmp(x.p, y.p, x.n);
    mb_buf_release(&x);
    mb_buf_release(&y);
    return same;
}

static void test_roundtrip(void **state)
{
    (void)state;
    struct mb_err err;
    mb_err_init(&err);
    const char *src = mb_test_tmp_path("rt-src");
    make_tree(src);
    const char *out = mb_test_tmp_path("rt.mbpack");
    struct mb_archive_info bi, vi, ei;
    MB_ASSERT_OK(build_tree(src, out, &bi, &err), &err);
    assert_int_equal(bi.n_entries, 3);
    assert_string_equal(bi.entries[0].path, "README.md");
    assert_string_equal(bi.entries[2].path, "weights/model.gguf");
    assert_int_equal(bi.total_size, 70000 + 7 + 24);

    MB_ASSERT_OK(mb_archive_verify(out, NULL, &vi, &err), &err);
    assert_int_equal(vi.n_entries, 3);
    assert_int_equal(vi.archive_size, bi.archive_size);
    assert_memory_equal(vi.sha256, bi.sha256, 32);
    assert_memory_equal(vi.blake2b, bi.blake2b, 64);
    uint8_t h[32];
    uint64_t sz;
    MB_ASSERT_OK(mb_sha256_file(out, h, &sz, &err), &err);
    assert_memory_equal(h, bi.sha256, 32);
    assert_true(sz == bi.archive_size);
    uint8_t b2[64];
    MB_ASSERT_OK(mb_sign_hash_file(out, b2, &err), &err);
    assert_memory_equal(b2, bi.blake2b, 64);

    const char *dest = mb_test_tmp_path("rt-dest");
    MB_ASSERT_OK(mb_archive_extract_safe(out, dest, NULL, &ei, &err), &err);
    char a[4096], b[4096];
    snprintf(a, sizeof(a), "%s/weights/model.gguf", src);
    snprintf(b, sizeof(b), "%s/weights/model.gguf", dest);
    assert_true(same_file(a, b));
    snprintf(b, sizeof(b), "%s/pack.yaml", dest);
    snprintf(a, sizeof(a), "%s/pack.yaml", src);
    assert_true(same_file(a, b));
    struct stat st;
    assert_int_equal(stat(b, &st), 0);
    assert_int_equal(st.st_mode & 07000, 0);
    /* The manifest itself is not extracted as a file; a second extraction is refused. */
    snprintf(b, sizeof(b), "%s/MANIFEST.sha256", dest);
    assert_false(mb_path_exists(b));
    struct mb_archive_info xi;
    assert_int_equal(mb_archive_extract_safe(out, dest, NULL, &xi, &err), MB_E_EXISTS);
    assert_true(mb_path_exists(dest)); /* an existing directory is never removed */
    mb_archive_info_release(&xi);
    mb_archive_info_release(&bi);
    mb_archive_info_release(&vi);
    mb_archive_info_release(&ei);
}

static void test_deterministic(void **state)
{
    (void)state;
    struct mb_err err;
    mb_err_init(&err);
    const char *s1 = mb_test_tmp_path("det-1");
    const char *s2 = mb_test_tmp_path("det-2");
    make_tree(s1);
    mode_t old = umask(077);
    make_tree(s2);
    umask(old);
    /* Other mtimes and modes in the second tree. */
    char p[4096];
    snprintf(p, sizeof(p), "%s/weights/model.gguf", s2);
    struct timespec ts[2] = { { 1000000, 0 }, { 1000000, 0 } };
    assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
    assert_int_equal(chmod(p, 0600), 0);
    snprintf(p, sizeof(p), "%s/weights", s2);
    assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
    const char *o1 = mb_test_tmp_path("det-1.mbpack");
    const char *o2 = mb_test_tmp_path("det-2.mbpack");
    const char *o3 = mb_test_tmp_path("det-3.mbpack");
    MB_ASSERT_OK(build_tree(s1, o1, NULL, &err), &err);
    sleep(1);
    MB_ASSERT_OK(build_tree(s2, o2, NULL, &err), &err);
    MB_ASSERT_OK(build_tree(s1, o3, NULL, &err), &err);
    assert_true(same_file(o1, o2));
    assert_true(same_file(o1, o3));
    /* A one-byte content change changes the bytes. */
    snprintf(p, sizeof(p), "%s/README.md", s2);
    write_str(p, "# demO\n");
    MB_ASSERT_OK(build_tree(s2, o2, NULL, &err), &err);
    assert_false(same_file(o1, o2));
}

static void test_names(void **state)
{
    (void)state;
    struct mb_err err;
    mb_err_init(&err);
    const char *good[] = { "pack.yaml", "weights/model.gguf", "a/b/c-1_2+3@x=y,z", ".hidden" };
    for (size_t i = 0; i < MB_ARRAY_LEN(good); i++)
        MB_ASSERT_OK(mb_archive_check_name(good[i], 255, &err), &err);
    const char *bad[] = {
        "",  "/etc/passwd", "../x", "a/../b", "a/./b",     "a//b",      "a/",
        ".", "..",          "a b",  "a\\b",   "tab\there", "new\nline", "\xc3\xa9"
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(bad); i++)
        assert_int_equal(mb_archive_check_name(bad[i], 255, &err), MB_E_FORMAT);
    char longname[300];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[299] = '\0';
    assert_int_equal(mb_archive_check_name(longname, 255, &err), MB_E_FORMAT);
    assert_non_null(strstr(err.msg, "over the limit"));
}

static void test_manifest_parse(void **state)
{
    (void)state;
    struct mb_err err;
    mb_err_init(&err);
    const char *h = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char ok[512];
    snprintf(ok, sizeof(ok), "%s  12  a/b\n%s  0  c\n", h, h);
    struct mb_archive_info info;
    mb_archive_info_init(&info);
    MB_ASSERT_OK(mb_archive_manifest_parse(ok, strlen(ok), NULL, &info, &err), &err);
    assert_int_equal(info.n_entries, 2);
    assert_true(info.total_size == 12);
    struct mb_buf b;
    mb_buf_init(&b, 4096);
    MB_ASSERT_OK(mb_archive_manifest_format(info.entries, info.n_entries, &b, &err), &err);
    assert_string_equal(b.p, ok);
    mb_buf_release(&b);
    mb_archive_info_release(&info);
    const char *bad[] = {
        "%s  12  a\n%s  1  a\n",            /* duplicate */
        "%s  12  b\n%s  1  a\n",            /* unsorted */
        "%s  012  a\n",                     /* leading zero */
        "%s 12 a\n",                        /* one space */
        "%s  12  /abs\n",                   /* absolute */
        "%s  12  ../x\n",                   /* escape */
        "%s  99999999999999999999999  a\n", /* overflow */
        "%s  1  a\n%s  1  a/b\n",           /* file and directory */
        "%s  1  MANIFEST.sha256\n",         /* itself */
        "%s  1  a",                         /* no final newline */
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(bad); i++) {
        /* Each "%s" in the template stands for the hash. */
        char t[512];
        size_t k = 0;
        for (const char *q = bad[i]; *q && k + 65 < sizeof(t); q++) {
            if (q[0] == '%' && q[1] == 's') {
                memcpy(t + k, h, 64);
                k += 64;
                q++;
            } else {
                t[k++] = *q;
            }
        }
        t[k] = '\0';
        mb_archive_info_init(&info);
        int rc = mb_archive_manifest_parse(t, strlen(t), NULL, &info, &err);
        if (rc == 0)
            fail_msg("manifest %zu parsed: %s", i, t);
        assert_non_null(strstr(err.msg, "MANIFEST.sha256"));
        mb_archive_info_release(&info);
    }
    char upper[512];
    snprintf(upper, sizeof(upper), "0123456789ABCDEF%s  1  a\n", h + 16);
    mb_archive_info_init(&info);
    assert_int_equal(mb_archive_manifest_parse(upper, strlen(upper), NULL, &info, &err),
                     MB_E_FORMAT);
    mb_archive_info_release(&info);
}

/* ---------------------------------------------------------- hostile archives */

/* A member to craft: the tar header as given, data of `size` bytes (zeros when data NULL). */
struct hm {
    const char *name;
    unsigned type;
    unsigned mode;
    const char *data;
    uint64_t size;
    const char *link; /* symlink target or hard link source */
};

/* sha256 hex of n zero bytes, or of data. */
static void hex_of(const char *data, uint64_t n, char out[MB_SHA256_HEX])
{
    struct mb_sha256 h;
    mb_sha256_init(&h);
    if (data) {
        mb_sha256_update(&h, data, (size_t)n);
    } else {
        static const char zero[65536];
        for (uint64_t done = 0; done < n; done += MB_MIN(n - done, sizeof(zero)))
            mb_sha256_update(&h, zero, (size_t)MB_MIN(n - done, sizeof(zero)));
    }
    uint8_t d[32];
    mb_sha256_final(&h, d);
    mb_hex_encode(d, 32, out);
}

/* Write a zstd tar: MANIFEST.sha256 (the given text) first, then the members. */
static void craft(const char *path, const char *manifest, const struct hm *m, size_t n)
{
    struct archive *a = archive_write_new();
    assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    assert_int_equal(archive_write_add_filter_zstd(a), ARCHIVE_OK);
    archive_write_set_filter_option(a, "zstd", "compression-level", "1");
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    struct archive_entry *e = archive_entry_new();
    if (manifest) {
        archive_entry_set_pathname(e, "MANIFEST.sha256");
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t)strlen(manifest));
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        archive_write_data(a, manifest, strlen(manifest));
    }
    static char zero[1 << 20];
    for (size_t i = 0; i < n; i++) {
        archive_entry_clear(e);
        archive_entry_set_pathname(e, m[i].name);
        archive_entry_set_filetype(e, m[i].type);
        archive_entry_set_perm(e, m[i].mode);
        if (m[i].type == AE_IFLNK)
            archive_entry_set_symlink(e, m[i].link);
        else if (m[i].link)
            archive_entry_set_hardlink(e, m[i].link);
        if (m[i].type == AE_IFCHR)
            archive_entry_set_rdev(e, (dev_t)makedev(1u, 3u));
        archive_entry_set_size(e, m[i].type == AE_IFREG && !m[i].link ? (la_int64_t)m[i].size : 0);
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        if (m[i].type != AE_IFREG || m[i].link)
            continue;
        if (m[i].data) {
            archive_write_data(a, m[i].data, (size_t)m[i].size);
        } else {
            for (uint64_t done = 0; done < m[i].size;) {
                size_t k = (size_t)MB_MIN(m[i].size - done, sizeof(zero));
                assert_true(archive_write_data(a, zero, k) == (la_ssize_t)k);
                done += k;
            }
        }
    }
    archive_entry_free(e);
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
}

/* Count entries of a directory (to prove nothing was written beside staging). */
static int count_dir(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(d);
    return n;
}

/*
 * Extract `archive` into <box>/stage and expect failure `code` with `needle` in
 * the message; the box must hold only the archive afterwards, and verify must
 * refuse it the same way.
 */
static void expect_refused(const char *box, const char *archive, int code, const char *needle)
{
    struct mb_err err;
    mb_err_init(&err);
    char stage[4096];
    assert_true(mb_snprintf(stage, sizeof(stage), "%s/stage", box));
    struct mb_archive_info info;
    int rc = mb_archive_extract_safe(archive, stage, NULL, &info, &err);
    mb_archive_info_release(&info);
    if (rc != code || !strstr(err.msg, needle))
        fail_msg("%s: got %d '%s', wanted %d with '%s'", archive, rc, err.msg, code, needle);
    assert_false(mb_path_exists(stage));
    assert_int_equal(count_dir(box), 1);
    mb_err_init(&err);
    rc = mb_archive_verify(archive, NULL, NULL, &err);
    if (rc != code || !strstr(err.msg, needle))
        fail_msg("verify %s: got %d '%s', wanted %d with '%s'", archive, rc, err.msg, code, needle);
}

/* A fresh box directory holding only the archive; returns the archive path. */
static const char *box_for(const char *name, char *box, size_t cap)
{
    struct mb_err err;
    snprintf(box, cap, "%s/box-%s", mb_test_tmpdir(), name);
    MB_ASSERT_OK(mb_mkdir_p(box, 0755, &err), &err);
    static char path[4096];
    assert_true(mb_snprintf(path, sizeof(path), "%s/x.mbpack", box));
    return path;
}

static void manifest_line(char *out, size_t cap, const char *name, const char *data, uint64_t n)
{
    char hex[MB_SHA256_HEX];
    hex_of(data, n, hex);
    size_t len = strlen(out);
    snprintf(out + len, cap - len, "%s  %llu  %s\n", hex, (unsigned long long)n, name);
}

static void test_hostile(void **state)
{
    (void)state;
    char box[4096], man[8192];
    const char *arch;

    /* Absolute path. */
    arch = box_for("abs", box, sizeof(box));
    man[0] = '\0';
    manifest_line(man, sizeof(man), "a", "x", 1);
    struct hm abs_m[] = { { "/tmp/mb-evil-abs", AE_IFREG, 0644, "x", 1, NULL } };
    craft(arch, man, abs_m, 1);
    expect_refused(box, arch, MB_E_FORMAT, "member '/tmp/mb-evil-abs': absolute paths");
    assert_false(mb_path_exists("/tmp/mb-evil-abs"));

    /* ../ escape. */
    arch = box_for("dotdot", box, sizeof(box));
    struct hm dd_m[] = { { "../escaped", AE_IFREG, 0644, "x", 1, NULL } };
    craft(arch, man, dd_m, 1);
    expect_refused(box, arch, MB_E_FORMAT, "member '../escaped'");

    /* A symlink, then a file through it. */
    arch = box_for("symlink", box, sizeof(box));
    man[0] = '\0';
    manifest_line(man, sizeof(man), "link/evil", "x", 1);
    struct hm sl_m[] = { { "link", AE_IFLNK, 0777, NULL, 0, "/tmp" },
                         { "link/evil", AE_IFREG, 0644, "x", 1, NULL } };
    craft(arch, man, sl_m, 2);
    expect_refused(box, arch, MB_E_FORMAT, "member 'link': symbolic links");
    assert_false(mb_path_exists("/tmp/evil"));

    /* A hard link. */
    arch = box_for("hardlink", box, sizeof(box));
    man[0] = '\0';
    manifest_line(man, sizeof(man), "a", "x", 1);
    manifest_line(man, sizeof(man), "b", "x", 1);
    struct hm hl_m[] = { { "a", AE_IFREG, 0644, "x", 1, NULL },
                         { "b", AE_IFREG, 0644, NULL, 0, "/etc/passwd" } };
    craft(arch, man, hl_m, 2);
    expect_refused(box, arch, MB_E_FORMAT, "member 'b': hard links");

    /* A device node. */
    arch = box_for("device", box, sizeof(box));
    struct hm dev_m[] = { { "a", AE_IFCHR, 0644, NULL, 0, NULL } };
    craft(arch, man, dev_m, 1);
    expect_refused(box, arch, MB_E_FORMAT, "member 'a': device files");

    /* A FIFO. */
    arch = box_for("fifo", box, sizeof(box));
    struct hm fifo_m[] = { { "a", AE_IFIFO, 0644, NULL, 0, NULL } };
    craft(arch, man, fifo_m, 1);
    expect_refused(box, arch, MB_E_FORMAT, "member 'a': FIFOs");

    /* setuid. */
    arch = box_for("setuid", box, sizeof(box));
    man[0] = '\0';
    manifest_line(man, sizeof(man), "a", "x", 1);
    struct hm suid_m[] = { { "a", AE_IFREG, 04755, "x", 1, NULL } };
    craft(arch, man, suid_m, 1);
    expect_refused(box, arch, MB_E_FORMAT, "member 'a': setuid");

    /* An over-long name. */
    arch = box_for("longname", box, sizeof(box));
    char longname[400];
    memset(longname, 'n', 300);
    longname[300] = '\0';
    struct hm long_m[] = { { longname, AE_IFREG, 0644, "x", 1, NULL } };
    craft(arch, man, long_m, 1);
    expect_refused(box, arch, MB_E_FORMAT, "name is 300 bytes, over the limit");

    /* A duplicate entry. */
    arch = box_for("dup", box, sizeof(box));
    struct hm dup_m[] = { { "a", AE_IFREG, 0644, "x", 1, NULL },
                          { "a", AE_IFREG, 0644, "x", 1, NULL } };
    craft(arch, man, dup_m, 2);
    expect_refused(box, arch, MB_E_FORMAT, "member 'a' appears twice");

    /* A member not in the manifest. */
    arch = box_for("unlisted", box, sizeof(box));
    struct hm unl_m[] = { { "a", AE_IFREG, 0644, "x", 1, NULL },
                          { "extra.sh", AE_IFREG, 0644, "y", 1, NULL } };
    craft(arch, man, unl_m, 2);
    expect_refused(box, arch, MB_E_FORMAT, "member 'extra.sh' is not listed");

    /* A listed member missing. */
    arch = box_for("missing", box, sizeof(box));
    man[0] = '\0';
    manifest_line(man, sizeof(man), "a", "x", 1);
    manifest_line(man, sizeof(man), "b", "y", 1);
    struct hm miss_m[] = { { "a", AE_IFREG, 0644, "x", 1, NULL } };
    craft(arch, man, miss_m, 1);
    expect_refused(box, arch, MB_E_FORMAT, "member 'b' is listed in MANIFEST.sha256 but missing");

    /* Content that does not match its hash. */
    arch = box_for("hash", box, sizeof(box));
    man[0] = '\0';
    manifest_line(man, sizeof(man), "a", "x", 1);
    struct hm hash_m[] = { { "a", AE_IFREG, 0644, "y", 1, NULL } };
    craft(arch, man, hash_m, 1);
    expect_refused(box, arch, MB_E_INTEGRITY, "member 'a': sha256");

    /* No manifest first. */
    arch = box_for("nomanifest", box, sizeof(box));
    craft(arch, NULL, hash_m, 1);
    expect_refused(box, arch, MB_E_FORMAT, "first member must be the file MANIFEST.sha256");

    /* The bomb: declared 1 MB, expands to 1 GB of zeros (streamed, compresses to ~30 KB). */
    arch = box_for("bomb", box, sizeof(box));
    man[0] = '\0';
    manifest_line(man, sizeof(man), "weights/bomb.bin", NULL, 1 << 20);
    struct hm bomb_m[] = { { "weights/bomb.bin", AE_IFREG, 0644, NULL, UINT64_C(1) << 30, NULL } };
    craft(arch, man, bomb_m, 1);
    struct stat st;
    assert_int_equal(stat(arch, &st), 0);
    assert_true(st.st_size < (1 << 20));
    expect_refused(box, arch, MB_E_LIMIT,
                   "member 'weights/bomb.bin' is 1073741824 bytes but "
                   "MANIFEST.sha256 declares 1048576 (zip-bomb guard)");
}

/* Truncated and corrupted archives fail cleanly (never a crash) and remove staging. */
static void test_truncated(void **state)
{
    (void)state;
    struct mb_err err;
    mb_err_init(&err);
    const char *src = mb_test_tmp_path("tr-src");
    make_tree(src);
    const char *out = mb_test_tmp_path("tr.mbpack");
    MB_ASSERT_OK(build_tree(src, out, NULL, &err), &err);
    struct mb_buf b;
    MB_ASSERT_OK(mb_file_read_all(out, 1 << 24, &b, &err), &err);
    char box[4096];
    const char *arch = box_for("trunc", box, sizeof(box));
    size_t cuts[] = { 0, 4, 100, b.n / 2, b.n - 20 };
    for (size_t i = 0; i < MB_ARRAY_LEN(cuts); i++) {
        mb_test_write_file(arch, b.p, cuts[i]);
        char stage[4096];
        assert_true(mb_snprintf(stage, sizeof(stage), "%s/stage", box));
        int rc = mb_archive_extract_safe(arch, stage, NULL, NULL, &err);
        if (rc == 0)
            fail_msg("truncated at %zu accepted", cuts[i]);
        assert_int_not_equal(rc, MB_E_INTERNAL);
        assert_false(mb_path_exists(stage));
    }
    /* One flipped byte in the middle: refused (corrupt stream or hash mismatch). */
    b.p[b.n / 2] ^= 0x20;
    mb_test_write_file(arch, b.p, b.n);
    assert_int_not_equal(mb_archive_verify(arch, NULL, NULL, &err), 0);
    mb_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_names),     cmocka_unit_test(test_manifest_parse),
        cmocka_unit_test(test_hostile),   cmocka_unit_test(test_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
