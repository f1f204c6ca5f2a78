/*
 * cmd_pack_init.c - `modularbase pack init [DIR]`: scaffold a new pack the way
 * `cargo new` does: a valid, commented pack.yaml, a README.md, a LICENSE chosen
 * by --license, an empty routing.examples list to fill in, and a weights/
 * folder for the GGUF. Refuses a directory that is not empty.
 */
#include "cli_keys.h"
#include "mb_manifests.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

static const char MIT[] =
    "Permission is hereby granted, free of charge, to any person obtaining a copy\n"
    "of this software and associated documentation files (the \"Software\"), to deal\n"
    "in the Software without restriction, including without limitation the rights\n"
    "to use, copy, modify, merge, publish, distribute, sublicense, and/or sell\n"
    "copies of the Software, and to permit persons to whom the Software is\n"
    "furnished to do so, subject to the following conditions:\n\n"
    "The above copyright notice and this permission notice shall be included in all\n"
    "copies or substantial portions of the Software.\n\n"
    "THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR\n"
    "IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,\n"
    "FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE\n"
    "AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER\n"
    "LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,\n"
    "OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE\n"
    "SOFTWARE.\n";

static const char APACHE[] =
    "Licensed under the Apache License, Version 2.0 (the \"License\");\n"
    "you may not use this file except in compliance with the License.\n"
    "You may obtain a copy of the License at\n\n"
    "    http://www.apache.org/licenses/LICENSE-2.0\n\n"
    "Unless required by applicable law or agreed to in writing, software\n"
    "distributed under the License is distributed on an \"AS IS\" BASIS,\n"
    "WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.\n"
    "See the License for the specific language governing permissions and\n"
    "limitations under the License.\n";

static const char CCBY[] =
    "These model weights and data are licensed under the Creative Commons\n"
    "Attribution 4.0 International License (CC BY 4.0). To view a copy of this\n"
    "license, visit https://creativecommons.org/licenses/by/4.0/\n\n"
    "You are free to share and adapt the material for any purpose, even\n"
    "commercially, as long as you give appropriate credit, provide a link to the\n"
    "license, and indicate if changes were made.\n";

static const char PROPRIETARY[] =
    "All rights reserved.\n\n"
    "TODO: this is a placeholder. State the terms under which others may use,\n"
    "copy and redistribute this pack, or choose an open license with\n"
    "'modularbase pack init --license MIT|Apache-2.0|CC-BY-4.0'.\n";

/* LICENSE = title, "Copyright (c) YEAR HOLDER", body. */
struct license {
    const char *spdx;  /* as written in pack.yaml */
    const char *title; /* first line(s), may be "" */
    const char *body;
};

static const struct license LICENSES[] = {
    { "MIT", "MIT License\n\n", MIT },
    { "Apache-2.0", "", APACHE },
    { "CC-BY-4.0", "", CCBY },
    { "proprietary", "", PROPRIETARY },
};

static const struct license *find_license(const char *name)
{
    for (size_t i = 0; i < MB_ARRAY_LEN(LICENSES); i++)
        if (!strcasecmp(LICENSES[i].spdx, name))
            return &LICENSES[i];
    return NULL;
}

static bool dir_is_empty(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return false;
    struct dirent *de;
    bool empty = true;
    while (empty && (de = readdir(d)))
        empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
    closedir(d);
    return empty;
}

/* A value safe to write as a double-quoted YAML scalar on one line. */
static bool yaml_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == '"' || *s == '\\')
            return false;
    return true;
}

static int write_file(struct mb_ctx *ctx, const char *dir, const char *name, const char *text)
{
    char *p = mb_path_join(dir, name);
    if (!p)
        return mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
    int rc = mb_file_write_atomic(p, text, strlen(text), 0644, &ctx->err);
    mb_free(p);
    return rc;
}

int mb_cmd_pack_init(struct mb_ctx *ctx, int argc, char **argv)
{
    const char *kind = "data", *id = NULL, *domain = NULL, *license = "proprietary";
    const char *name = NULL, *author = NULL;
    const struct mb_opt opts[] = {
        { "kind", 0, MB_OPT_STRING, &kind, "KIND", "base, router or data (default data)" },
        { "id", 0, MB_OPT_STRING, &id, "ID", "pack id (default: the directory's name)" },
        { "domain", 0, MB_OPT_STRING, &domain, "DOMAIN",
          "what the pack knows about (required for data packs), e.g. medicine" },
        { "license", 0, MB_OPT_STRING, &license, "LICENSE",
          "MIT, Apache-2.0, CC-BY-4.0 or proprietary (default: a proprietary placeholder)" },
        { "name", 0, MB_OPT_STRING, &name, "NAME", "human-readable name (default: the id)" },
        { "author", 0, MB_OPT_STRING, &author, "AUTHOR", "author for pack.yaml and LICENSE" },
        MB_OPT_END,
    };
    const struct mb_cmd_help help = {
        "modularbase pack init [DIR] [--kind data] --id ID --domain DOMAIN [--license LICENSE]",
        "Create a new pack in DIR (default: the current directory, which must be empty): a "
        "commented pack.yaml, README.md, LICENSE, and a weights/ folder for the GGUF. Fill in "
        "routing.examples and put the weights in place, then run 'modularbase pack build'.",
        "  modularbase pack init medicine --id medicine --domain medicine --license CC-BY-4.0",
    };
    int npos;
    int rc = mb_opts_parse(ctx, &help, opts, argc, argv, &npos);
    if (rc)
        return rc;
    if (npos > 1)
        return mb_usage_error(ctx, "'pack init' takes at most one DIR");
    const char *dir = npos ? argv[0] : ".";
    if (strcmp(kind, "data") && strcmp(kind, "base") && strcmp(kind, "router"))
        return mb_usage_error(ctx, "--kind: '%s' is not one of base, router, data", kind);
    char dirname[256];
    if (!id) {
        char abs[4096];
        const char *base = mb_path_basename(dir);
        if ((!strcmp(dir, ".") || !*base) && getcwd(abs, sizeof(abs)))
            base = mb_path_basename(abs);
        mb_strlcpy(dirname, base, sizeof(dirname));
        id = dirname;
        struct mb_err ierr;
        if (mb_pack_id_check(id, &ierr))
            return mb_usage_error(
                ctx, "the directory name is not a valid pack id (%s); pass --id ID", ierr.msg);
    } else {
        struct mb_err ierr;
        if (mb_pack_id_check(id, &ierr))
            return mb_usage_error(ctx, "--id: %s", ierr.msg);
    }
    if (!domain && !strcmp(kind, "data"))
        return mb_usage_error(ctx, "a data pack needs --domain (what it knows about)");
    const struct license *lic = find_license(license);
    if (!lic)
        return mb_usage_error(ctx,
                              "--license: '%s' is not one of MIT, Apache-2.0, CC-BY-4.0, "
                              "proprietary",
                              license);
    if (!name)
        name = id;
    if ((domain && !yaml_safe(domain)) || !yaml_safe(name) || (author && !yaml_safe(author)))
        return mb_usage_error(ctx, "--name, --domain and --author may not contain quotes, "
                                   "backslashes or control characters");
    if (mb_path_exists(dir)) {
        if (!mb_is_dir(dir))
            return mb_fail(&ctx->err, MB_E_EXISTS, "'%s' exists and is not a directory", dir);
        if (!dir_is_empty(dir))
            return mb_fail(&ctx->err, MB_E_EXISTS,
                           "'%s' is not empty; pack init only fills an empty or new directory",
                           dir);
    }
    rc = mb_mkdir_p(dir, 0755, &ctx->err);
    char *weights = rc ? NULL : mb_path_join(dir, "weights");
    if (!rc && !weights)
        rc = mb_fail(&ctx->err, MB_E_NOMEM, "out of memory");
    if (!rc)
        rc = mb_mkdir_p(weights, 0755, &ctx->err);
    mb_free(weights);
    if (rc)
        return rc;

    struct tm tm;
    time_t now = (time_t)mb_unix_time();
    int year = gmtime_r(&now, &tm) ? tm.tm_year + 1900 : 2025;
    char holder[256];
    if (author)
        mb_strlcpy(holder, author, sizeof(holder));
    else
        snprintf(holder, sizeof(holder), "the authors of %s", id);

    struct mb_buf y;
    mb_buf_init(&y, 1 << 16);
    rc = mb_buf_appendf(
        &y, &ctx->err,
        "# pack.yaml - the manifest of the %s pack (schema: docs/manifest.md).\n"
        "# Build the archive with 'modularbase pack build'; the GGUF's modularbase.*\n"
        "# keys (kind, pack.id, pack.version) must agree with the fields below.\n"
        "\n"
        "id: %s\n"
        "name: \"%s\"\n"
        "# SemVer 2.0.0: bump MAJOR for incompatible changes, MINOR for new knowledge.\n"
        "version: 0.1.0\n"
        "# base | router | data\n"
        "kind: %s\n",
        id, id, name, kind);
    if (!rc && domain)
        rc = mb_buf_appendf(&y, &ctx->err, "# What this pack knows about.\ndomain: \"%s\"\n",
                            domain);
    if (!rc)
        rc = mb_buf_appendf(
            &y, &ctx->err,
            "description: \"TODO: one sentence on what this pack adds\"\n"
            "license: %s\n"
            "authors:\n"
            "  - \"%s\"\n"
            "\n"
            "# Base model versions this pack's weights and routing keys were made for\n"
            "# (\"1.0\" means any 1.0.x; full ranges such as \">=1.0 <1.3\" work too).\n"
            "base_compatibility:\n"
            "  - \"1.0\"\n"
            "\n"
            "# Other packs this one needs ({id, version: RANGE}) or cannot coexist with.\n"
            "dependencies: []\n"
            "conflicts: []\n"
            "\n"
            "# Resident packs stay loaded; others load on demand.\n"
            "resident: false\n"
            "# Packs to fall back to, in order, when this one cannot be loaded\n"
            "# (the general pack is always the last resort).\n"
            "fallback: []\n"
            "\n"
            "weights:\n"
            "  # The GGUF inside this directory (modularbase pack import/quantize make one).\n"
            "  file: weights/%s.gguf\n"
            "  quantization: Q8_0\n"
            "\n"
            "routing:\n"
            "  # Example prompts this pack should answer; pack build turns them into\n"
            "  # routing keys. Add a few dozen, one per line, e.g.\n"
            "  #   - \"What are the side effects of ibuprofen?\"\n"
            "  examples: []\n",
            lic->spdx, author ? author : holder, id);
    if (!rc)
        rc = write_file(ctx, dir, "pack.yaml", y.p);
    mb_buf_reset(&y);
    if (!rc)
        rc = mb_buf_appendf(&y, &ctx->err,
                            "# %s\n\n"
                            "A modularbase %s pack%s%s.\n\n"
                            "## Build\n\n"
                            "1. Put the weights at `weights/%s.gguf` (see `modularbase pack "
                            "import`).\n"
                            "2. Add example prompts to `routing.examples` in `pack.yaml`.\n"
                            "3. `modularbase pack build --sign`\n\n"
                            "## License\n\n"
                            "%s, see LICENSE.\n",
                            name, kind, domain ? " for " : "", domain ? domain : "", id, lic->spdx);
    if (!rc)
        rc = write_file(ctx, dir, "README.md", y.p);
    mb_buf_reset(&y);
    if (!rc)
        rc = mb_buf_appendf(&y, &ctx->err, "%sCopyright (c) %d %s\n\n%s", lic->title, year, holder,
                            lic->body);
    if (!rc)
        rc = write_file(ctx, dir, "LICENSE", y.p);
    mb_buf_release(&y);
    if (rc)
        return rc;
    printf("created %s pack '%s' in %s\n", kind, id, dir);
    printf("  next: put the weights at %s/weights/%s.gguf, fill routing.examples, then run "
           "'modularbase pack build'\n",
           dir, id);
    if (!strcmp(lic->spdx, "proprietary"))
        mb_cli_note(ctx, "LICENSE is a placeholder; choose terms or pass --license");
    return 0;
}
