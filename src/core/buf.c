/*
 * agora_buf: a growable heap byte buffer that writers append to. The data is
 * kept NUL-terminated (not counted in len) so it can be printed directly.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/value.h"

void agora_buf_init(agora_buf *buf)
{
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
}

void agora_buf_free(agora_buf *buf)
{
    if (buf == NULL)
        return;
    free(buf->data);
    agora_buf_init(buf);
}

/* Ensures room for extra bytes plus the terminating NUL. */
int agora_buf_reserve(agora_buf *buf, size_t extra)
{
    size_t need;
    size_t new_cap;
    char *data;

    if (extra > SIZE_MAX - buf->len - 1)
        return AGORA_ENOMEM;
    need = buf->len + extra + 1;
    if (need <= buf->cap)
        return 0;

    new_cap = buf->cap < 256 ? 256 : buf->cap;
    while (new_cap < need) {
        if (new_cap > SIZE_MAX / 2) {
            new_cap = need;
            break;
        }
        new_cap *= 2;
    }
    data = realloc(buf->data, new_cap);
    if (data == NULL)
        return AGORA_ENOMEM;
    buf->data = data;
    buf->cap = new_cap;
    return 0;
}

int agora_buf_append(agora_buf *buf, const void *data, size_t len)
{
    int rc = agora_buf_reserve(buf, len);

    if (rc != 0)
        return rc;
    if (len > 0)
        memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
    return 0;
}

int agora_buf_appendz(agora_buf *buf, const char *s)
{
    return agora_buf_append(buf, s, strlen(s));
}

int agora_buf_printf(agora_buf *buf, const char *fmt, ...)
{
    va_list ap;
    int n;
    int rc;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return AGORA_EINVAL;

    rc = agora_buf_reserve(buf, (size_t)n);
    if (rc != 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    buf->len += (size_t)n;
    return 0;
}
