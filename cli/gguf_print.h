/*
 * gguf_print.h - printing GGUF metadata values for the `gguf` commands: JSON
 * (complete and exact: 64-bit integers as they are, floats in the shortest
 * form that reads back to the same bits, strings escaped as valid UTF-8) and
 * text (one line per value: long strings cut, long arrays summarised as
 * `[49152 × string] "<unk>", "<s>", ...`).
 */
#ifndef MB_CLI_GGUF_PRINT_H
#define MB_CLI_GGUF_PRINT_H

#include "mb_runtime.h"

#include <stdio.h>

/* The shortest decimal that strtof/strtod read back exactly; "nan", "inf", "-inf" otherwise. */
void mb_fmt_f32(float v, char *buf, size_t cap);
void mb_fmt_f64(double v, char *buf, size_t cap);

/*
 * A JSON string (with quotes) of n bytes. Invalid UTF-8 bytes become U+FFFD,
 * control characters are escaped.
 */
void mb_json_str(FILE *f, const char *s, size_t n);
/* A JSON number for a float: the shortest form; NaN and infinities as strings. */
void mb_json_f32(FILE *f, float v);
void mb_json_f64(FILE *f, double v);

/*
 * A value as JSON. Scalars and strings print as themselves; an array prints
 * as a JSON array of its elements, where nested arrays are objects
 * {"element_type": T, "count": N, "value": [...]}.
 */
void mb_json_gguf_value(FILE *f, const struct mb_gguf_value *v);
void mb_json_gguf_array(FILE *f, const struct mb_gguf_array *a);

/* A value as text on one line, at most about `width` columns. */
void mb_text_gguf_value(FILE *f, const struct mb_gguf_value *v, size_t width);

#endif /* MB_CLI_GGUF_PRINT_H */
