/*
 * names.c - the small vocabularies shared by pack.yaml and index records:
 * the pack id grammar, pack kinds and weight quantization names.
 */
#include "mb_manifests.h"

int mb_pack_id_check(const char *id, struct mb_err *err)
{
    size_t n = strlen(id);
    const char *rule = "ids are 1-64 characters of a-z, 0-9 and '-', starting with a letter or "
                       "digit";
    char q[80];
    size_t qn = MB_MIN(n, (size_t)64);
    for (size_t i = 0; i < qn; i++)
        q[i] = ((unsigned char)id[i] < 0x20 || id[i] == 0x7f) ? '?' : id[i];
    q[qn] = '\0';
    if (n == 0)
        return mb_fail(err, MB_E_FORMAT, "\"\" is not a valid pack id (empty; %s)", rule);
    if (n > MB_PACK_ID_MAX)
        return mb_fail(err, MB_E_FORMAT,
                       "\"%s...\" is not a valid pack id (longer than %d "
                       "characters)",
                       q, MB_PACK_ID_MAX);
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        const char *what = NULL;
        if (c >= 'A' && c <= 'Z')
            what = "upper case letter";
        else if (c == ' ' || c == '\t')
            what = "space";
        else if (c == '/' || c == '\\')
            what = "path separator";
        else if (c == '.')
            what = "'.'";
        else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            what = "character not allowed";
        if (what)
            return mb_fail(err, MB_E_FORMAT, "\"%s\" is not a valid pack id (%s at offset %zu; %s)",
                           q, what, i, rule);
    }
    if (id[0] == '-')
        return mb_fail(err, MB_E_FORMAT, "\"%s\" is not a valid pack id (starts with '-'; %s)", q,
                       rule);
    if (id[n - 1] == '-')
        return mb_fail(err, MB_E_FORMAT, "\"%s\" is not a valid pack id (ends with '-')", q);
    if (strstr(id, "--"))
        return mb_fail(err, MB_E_FORMAT, "\"%s\" is not a valid pack id (contains \"--\")", q);
    return 0;
}

const char *mb_pack_kind_name(enum mb_pack_kind k)
{
    switch (k) {
    case MB_PACK_BASE:
        return "base";
    case MB_PACK_ROUTER:
        return "router";
    case MB_PACK_DATA:
        return "data";
    }
    return "?";
}

bool mb_pack_kind_parse(const char *s, enum mb_pack_kind *out)
{
    if (!strcmp(s, "base"))
        *out = MB_PACK_BASE;
    else if (!strcmp(s, "router"))
        *out = MB_PACK_ROUTER;
    else if (!strcmp(s, "data"))
        *out = MB_PACK_DATA;
    else
        return false;
    return true;
}

bool mb_quant_name_valid(const char *s)
{
    static const char *const names[] = { "F32",  "F16",  "BF16", "Q8_0", "Q4_0", "Q4_1",
                                         "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K" };
    for (size_t i = 0; i < MB_ARRAY_LEN(names); i++)
        if (!strcmp(s, names[i]))
            return true;
    return false;
}
