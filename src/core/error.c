/*
 * Error codes, their names and messages, and the agora_error helpers.
 */
#include "agora/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *agora_err_name(int code)
{
    switch (code) {
    case AGORA_OK:
        return "AGORA_OK";
#define AGORA_ERRNO_NAME(name, value, msg)                                     \
    case value:                                                                \
        return "AGORA_E" #name;
        AGORA_ERRNO_MAP(AGORA_ERRNO_NAME)
#undef AGORA_ERRNO_NAME
    default:
        return "AGORA_EUNKNOWN";
    }
}

const char *agora_strerror(int code)
{
    switch (code) {
    case AGORA_OK:
        return "success";
#define AGORA_ERRNO_MESSAGE(name, value, msg)                                  \
    case value:                                                                \
        return msg;
        AGORA_ERRNO_MAP(AGORA_ERRNO_MESSAGE)
#undef AGORA_ERRNO_MESSAGE
    default:
        return "unknown error";
    }
}

void agora_error_clear(agora_error *err)
{
    if (err == NULL)
        return;
    err->code = 0;
    err->message[0] = '\0';
    err->key[0] = '\0';
}

static void error_vset(agora_error *err, int code, const char *key,
                       const char *fmt, va_list ap)
{
    err->code = code;
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    if (key != NULL)
        snprintf(err->key, sizeof(err->key), "%s", key);
    else
        err->key[0] = '\0';
}

int agora_error_set(agora_error *err, int code, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return code;
    va_start(ap, fmt);
    error_vset(err, code, NULL, fmt, ap);
    va_end(ap);
    return code;
}

int agora_error_set_key(agora_error *err, int code, const char *key,
                        const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return code;
    va_start(ap, fmt);
    error_vset(err, code, key, fmt, ap);
    va_end(ap);
    return code;
}

void agora_error_prefix(agora_error *err, const char *fmt, ...)
{
    char joined[AGORA_ERROR_MESSAGE_MAX];
    va_list ap;

    if (err == NULL)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(joined, sizeof(joined), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;

    /* Truncation is acceptable: the message stays readable from the start. */
    size_t pos = (size_t)n < sizeof(joined) ? (size_t)n : sizeof(joined) - 1;
    const char *sep = ": ";
    for (const char *c = sep; *c != '\0' && pos + 1 < sizeof(joined); c++)
        joined[pos++] = *c;
    size_t rest = strlen(err->message);
    if (rest > sizeof(joined) - 1 - pos)
        rest = sizeof(joined) - 1 - pos;
    memcpy(joined + pos, err->message, rest);
    joined[pos + rest] = '\0';
    memcpy(err->message, joined, sizeof(err->message));
}
