/*
 * fuzz_chat.c - libFuzzer target for chat templates: the input up to the
 * first NUL byte is a Jinja template text to recognise; the rest supplies the
 * contents of a short conversation rendered with the recognised format (or,
 * when none is recognised, with each built-in format). Checks: no crash, no
 * leak, and every rendering either succeeds or fails with a message.
 */
#include "mb_chat.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void render(const struct mb_chat_template *t, const char *content)
{
    static const char *const roles[] = { "system", "user", "assistant", "user" };
    struct mb_chat_msg msgs[4];
    for (size_t i = 0; i < 4; i++)
        msgs[i] = (struct mb_chat_msg){ roles[i], content };
    struct mb_chat_opts opts = { "<s>", "</s>", true, NULL };
    for (size_t n = 0; n <= 4; n++) {
        for (size_t first = 0; first < 2 && first < n + 1; first++) {
            struct mb_buf out;
            struct mb_err err;
            mb_err_init(&err);
            mb_buf_init(&out, 1 << 20);
            int rc = mb_chat_render(t, msgs + first, n - first, &opts, &out, &err);
            if (rc && !err.msg[0])
                __builtin_trap();
            mb_buf_release(&out);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t tlen = nul ? (size_t)(nul - data) : size;
    char *text = mb_strndup((const char *)data, tlen);
    char *content = nul ? mb_strndup((const char *)nul + 1, size - tlen - 1) : mb_strdup("hi");
    if (!text || !content) {
        mb_free(text);
        mb_free(content);
        return 0;
    }
    struct mb_chat_template t;
    if (mb_chat_template_detect(text, &t, NULL) == 0) {
        render(&t, content);
        mb_chat_template_release(&t);
    } else {
        for (const char *const *name = mb_chat_template_names(); *name; name++) {
            if (mb_chat_template_by_name(*name, &t, NULL))
                __builtin_trap();
            render(&t, content);
            mb_chat_template_release(&t);
        }
    }
    mb_free(text);
    mb_free(content);
    return 0;
}
