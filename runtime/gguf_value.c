/*
 * gguf_value.c - typed access to GGUF metadata: scalar conversions that
 * accept whatever integer or float width a writer chose (when the value
 * fits), element access to arrays that stay views into the file, and the
 * mb_gguf_get_*() getters with their "expected X, found Y" messages.
 */
#include "gguf_int.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>

bool mb_gguf_type_is_int(uint32_t type)
{
    switch (type) {
    case MB_GGUF_TYPE_UINT8:
    case MB_GGUF_TYPE_INT8:
    case MB_GGUF_TYPE_UINT16:
    case MB_GGUF_TYPE_INT16:
    case MB_GGUF_TYPE_UINT32:
    case MB_GGUF_TYPE_INT32:
    case MB_GGUF_TYPE_UINT64:
    case MB_GGUF_TYPE_INT64:
        return true;
    default:
        return false;
    }
}

static bool is_unsigned(uint32_t type)
{
    return type == MB_GGUF_TYPE_UINT8 || type == MB_GGUF_TYPE_UINT16 ||
           type == MB_GGUF_TYPE_UINT32 || type == MB_GGUF_TYPE_UINT64;
}

bool mb_gguf_value_i64(const struct mb_gguf_value *v, int64_t *out)
{
    if (!mb_gguf_type_is_int(v->type))
        return false;
    if (is_unsigned(v->type)) {
        if (v->v.u64 > (uint64_t)INT64_MAX)
            return false;
        *out = (int64_t)v->v.u64;
    } else {
        *out = v->v.i64;
    }
    return true;
}

bool mb_gguf_value_u64(const struct mb_gguf_value *v, uint64_t *out)
{
    if (!mb_gguf_type_is_int(v->type))
        return false;
    if (is_unsigned(v->type)) {
        *out = v->v.u64;
    } else {
        if (v->v.i64 < 0)
            return false;
        *out = (uint64_t)v->v.i64;
    }
    return true;
}

bool mb_gguf_value_f64(const struct mb_gguf_value *v, double *out)
{
    if (v->type == MB_GGUF_TYPE_FLOAT32)
        *out = (double)v->v.f32;
    else if (v->type == MB_GGUF_TYPE_FLOAT64)
        *out = v->v.f64;
    else if (is_unsigned(v->type))
        *out = (double)v->v.u64;
    else if (mb_gguf_type_is_int(v->type))
        *out = (double)v->v.i64;
    else
        return false;
    return true;
}

/* ------------------------------------------------------------- arrays */

static void check_elem(const struct mb_gguf_array *a, size_t i, uint32_t type)
{
    if (i >= a->n)
        MB_BUG("array element %zu out of range (%zu)", i, a->n);
    if (type != MB_GGUF_TYPE_COUNT && a->type != type)
        MB_BUG("array of %s read as %s", mb_gguf_type_name(a->type), mb_gguf_type_name(type));
}

/* Element i of a fixed-size array as a decoded scalar value. */
static struct mb_gguf_value elem_value(const struct mb_gguf_array *a, size_t i)
{
    struct mb_gguf_value v;
    memset(&v, 0, sizeof(v));
    v.type = a->type;
    size_t size = mb_gguf_type_size(a->type);
    if (!size)
        return v; /* strings and arrays are not numbers: the converters say no */
    const uint8_t *p = a->data + i * size;
    uint64_t bits = 0;
    for (size_t k = 0; k < size; k++)
        bits |= (uint64_t)p[k] << (8 * k);
    switch (a->type) {
    case MB_GGUF_TYPE_INT8:
        v.v.i64 = (int8_t)(uint8_t)bits;
        break;
    case MB_GGUF_TYPE_INT16:
        v.v.i64 = (int16_t)(uint16_t)bits;
        break;
    case MB_GGUF_TYPE_INT32:
        v.v.i64 = (int32_t)(uint32_t)bits;
        break;
    case MB_GGUF_TYPE_INT64:
        v.v.i64 = (int64_t)bits;
        break;
    case MB_GGUF_TYPE_FLOAT32: {
        uint32_t u = (uint32_t)bits;
        memcpy(&v.v.f32, &u, 4);
        break;
    }
    case MB_GGUF_TYPE_FLOAT64:
        memcpy(&v.v.f64, &bits, 8);
        break;
    case MB_GGUF_TYPE_BOOL:
        v.v.b = bits != 0;
        break;
    default:
        v.v.u64 = bits;
        break;
    }
    return v;
}

struct mb_str mb_gguf_array_str(const struct mb_gguf_array *a, size_t i)
{
    check_elem(a, i, MB_GGUF_TYPE_STRING);
    return a->strs[i];
}

float mb_gguf_array_f32(const struct mb_gguf_array *a, size_t i)
{
    check_elem(a, i, MB_GGUF_TYPE_FLOAT32);
    return elem_value(a, i).v.f32;
}

int32_t mb_gguf_array_i32(const struct mb_gguf_array *a, size_t i)
{
    check_elem(a, i, MB_GGUF_TYPE_INT32);
    return (int32_t)elem_value(a, i).v.i64;
}

const struct mb_gguf_array *mb_gguf_array_sub(const struct mb_gguf_array *a, size_t i)
{
    check_elem(a, i, MB_GGUF_TYPE_ARRAY);
    return &a->items[i].v.arr;
}

bool mb_gguf_array_i64(const struct mb_gguf_array *a, size_t i, int64_t *out)
{
    check_elem(a, i, MB_GGUF_TYPE_COUNT);
    struct mb_gguf_value v = elem_value(a, i);
    return mb_gguf_value_i64(&v, out);
}

bool mb_gguf_array_u64(const struct mb_gguf_array *a, size_t i, uint64_t *out)
{
    check_elem(a, i, MB_GGUF_TYPE_COUNT);
    struct mb_gguf_value v = elem_value(a, i);
    return mb_gguf_value_u64(&v, out);
}

bool mb_gguf_array_f64(const struct mb_gguf_array *a, size_t i, double *out)
{
    check_elem(a, i, MB_GGUF_TYPE_COUNT);
    struct mb_gguf_value v = elem_value(a, i);
    return mb_gguf_value_f64(&v, out);
}

/* ------------------------------------------------------------- getters */

/* Look the key up; MB_E_NOTFOUND with a message when absent. */
static int lookup(const struct mb_gguf *g, const char *key, const struct mb_gguf_kv **kv,
                  struct mb_err *err)
{
    *kv = mb_gguf_find_kv(g, key);
    if (*kv)
        return 0;
    char q[100];
    mb_gguf_quote(q, sizeof(q), key, strlen(key));
    return mb_fail(err, MB_E_NOTFOUND, "%s: no key '%s'", g->name, q);
}

/* "expected <what>, found <type> <value>" for a KV that has the wrong type or range. */
static int mismatch(const struct mb_gguf *g, const struct mb_gguf_kv *kv, const char *what,
                    struct mb_err *err)
{
    char q[100], val[64] = "";
    mb_gguf_quote(q, sizeof(q), kv->key, kv->key_len);
    const struct mb_gguf_value *v = &kv->value;
    if (is_unsigned(v->type))
        snprintf(val, sizeof(val), " %" PRIu64, v->v.u64);
    else if (mb_gguf_type_is_int(v->type))
        snprintf(val, sizeof(val), " %" PRId64, v->v.i64);
    else if (v->type == MB_GGUF_TYPE_ARRAY)
        snprintf(val, sizeof(val), " of %zu %s", v->v.arr.n, mb_gguf_type_name(v->v.arr.type));
    return mb_fail(err, MB_E_FORMAT, "%s: key '%s' at offset %" PRIu64 ": expected %s, found %s%s",
                   g->name, q, kv->offset, what, mb_gguf_type_name(v->type), val);
}

/* An integer KV in [lo, hi] (signed view) or [0, uhi] (unsigned view). */
static int get_int(const struct mb_gguf *g, const char *key, bool sign, int64_t lo, int64_t hi,
                   uint64_t uhi, const char *what, int64_t *is, uint64_t *us, struct mb_err *err)
{
    const struct mb_gguf_kv *kv;
    int rc = lookup(g, key, &kv, err);
    if (rc)
        return rc;
    if (sign) {
        int64_t v;
        if (!mb_gguf_value_i64(&kv->value, &v) || v < lo || v > hi)
            return mismatch(g, kv, what, err);
        *is = v;
    } else {
        uint64_t v;
        if (!mb_gguf_value_u64(&kv->value, &v) || v > uhi)
            return mismatch(g, kv, what, err);
        *us = v;
    }
    return 0;
}

int mb_gguf_get_u32(const struct mb_gguf *g, const char *key, uint32_t *out, struct mb_err *err)
{
    uint64_t v = 0;
    int rc = get_int(g, key, false, 0, 0, UINT32_MAX, "an unsigned 32-bit integer", NULL, &v, err);
    if (!rc)
        *out = (uint32_t)v;
    return rc;
}

int mb_gguf_get_u64(const struct mb_gguf *g, const char *key, uint64_t *out, struct mb_err *err)
{
    return get_int(g, key, false, 0, 0, UINT64_MAX, "an unsigned integer", NULL, out, err);
}

int mb_gguf_get_i32(const struct mb_gguf *g, const char *key, int32_t *out, struct mb_err *err)
{
    int64_t v = 0;
    int rc =
        get_int(g, key, true, INT32_MIN, INT32_MAX, 0, "a signed 32-bit integer", &v, NULL, err);
    if (!rc)
        *out = (int32_t)v;
    return rc;
}

int mb_gguf_get_i64(const struct mb_gguf *g, const char *key, int64_t *out, struct mb_err *err)
{
    return get_int(g, key, true, INT64_MIN, INT64_MAX, 0, "an integer", out, NULL, err);
}

int mb_gguf_get_f64(const struct mb_gguf *g, const char *key, double *out, struct mb_err *err)
{
    const struct mb_gguf_kv *kv;
    int rc = lookup(g, key, &kv, err);
    if (rc)
        return rc;
    if (!mb_gguf_value_f64(&kv->value, out))
        return mismatch(g, kv, "a number", err);
    return 0;
}

int mb_gguf_get_f32(const struct mb_gguf *g, const char *key, float *out, struct mb_err *err)
{
    const struct mb_gguf_kv *kv;
    int rc = lookup(g, key, &kv, err);
    if (rc)
        return rc;
    if (kv->value.type == MB_GGUF_TYPE_FLOAT32) {
        *out = kv->value.v.f32;
        return 0;
    }
    double d;
    if (!mb_gguf_value_f64(&kv->value, &d))
        return mismatch(g, kv, "a number", err);
    if (isfinite(d) && fabs(d) > (double)FLT_MAX)
        return mismatch(g, kv, "a number that fits a 32-bit float", err);
    *out = (float)d;
    return 0;
}

int mb_gguf_get_bool(const struct mb_gguf *g, const char *key, bool *out, struct mb_err *err)
{
    const struct mb_gguf_kv *kv;
    int rc = lookup(g, key, &kv, err);
    if (rc)
        return rc;
    if (kv->value.type != MB_GGUF_TYPE_BOOL)
        return mismatch(g, kv, "a bool", err);
    *out = kv->value.v.b;
    return 0;
}

int mb_gguf_get_str(const struct mb_gguf *g, const char *key, struct mb_str *out,
                    struct mb_err *err)
{
    const struct mb_gguf_kv *kv;
    int rc = lookup(g, key, &kv, err);
    if (rc)
        return rc;
    if (kv->value.type != MB_GGUF_TYPE_STRING)
        return mismatch(g, kv, "a string", err);
    *out = kv->value.v.s;
    return 0;
}

int mb_gguf_get_array(const struct mb_gguf *g, const char *key, uint32_t elem_type,
                      const struct mb_gguf_array **out, struct mb_err *err)
{
    const struct mb_gguf_kv *kv;
    int rc = lookup(g, key, &kv, err);
    if (rc)
        return rc;
    if (kv->value.type != MB_GGUF_TYPE_ARRAY ||
        (elem_type != MB_GGUF_TYPE_COUNT && kv->value.v.arr.type != elem_type)) {
        char what[48];
        if (elem_type == MB_GGUF_TYPE_COUNT)
            mb_strlcpy(what, "an array", sizeof(what));
        else
            snprintf(what, sizeof(what), "an array of %s", mb_gguf_type_name(elem_type));
        return mismatch(g, kv, what, err);
    }
    *out = &kv->value.v.arr;
    return 0;
}
