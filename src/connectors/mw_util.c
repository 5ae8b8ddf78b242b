/*
 * Helpers shared by the built-in middlewares.
 */
#include "connectors/mw_util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

agora_middleware *mw_alloc(const agora_component_context *ctx,
                           const char *type_name)
{
    const char *name = ctx != NULL && ctx->instance_name != NULL
                           ? ctx->instance_name
                           : type_name;
    agora_middleware *mw = calloc(1, sizeof(*mw));

    if (mw == NULL)
        return NULL;
    mw->name = strdup(name);
    if (mw->name == NULL) {
        free(mw);
        return NULL;
    }
    return mw;
}

void mw_free(agora_middleware *mw)
{
    if (mw == NULL)
        return;
    free((char *)mw->name);
    free(mw);
}

/* Appends s[0..len) JSON-escaped and quoted, cut at a UTF-8 boundary. */
static void format_string(const agora_string *s, char *buf, size_t size)
{
    const size_t max_bytes = 40;
    size_t len = s->len;
    size_t out = 0;
    bool cut = false;

    if (len > max_bytes) {
        len = max_bytes;
        while (len > 0 && ((unsigned char)s->ptr[len] & 0xC0) == 0x80)
            len--;
        cut = true;
    }
    buf[out++] = '"';
    for (size_t i = 0; i < len && out + 8 < size; i++) {
        unsigned char c = (unsigned char)s->ptr[i];

        if (c == '"' || c == '\\') {
            buf[out++] = '\\';
            buf[out++] = (char)c;
        } else if (c == '\n') {
            buf[out++] = '\\';
            buf[out++] = 'n';
        } else if (c == '\t') {
            buf[out++] = '\\';
            buf[out++] = 't';
        } else if (c < 0x20) {
            out += (size_t)snprintf(buf + out, size - out, "\\u%04x", c);
        } else {
            buf[out++] = (char)c;
        }
    }
    if (cut && out + 4 < size) {
        memcpy(buf + out, "...", 3);
        out += 3;
    }
    buf[out++] = '"';
    buf[out] = '\0';
}

const char *mw_format_value(const agora_value *v, char *buf, size_t size)
{
    char number[32];

    if (size < MW_VALUE_TEXT_MAX) {
        snprintf(buf, size, "?");
        return buf;
    }
    switch (v != NULL ? v->type : AGORA_NULL) {
    case AGORA_NULL:
        snprintf(buf, size, "null");
        break;
    case AGORA_BOOL:
        snprintf(buf, size, "%s", v->u.boolean ? "true" : "false");
        break;
    case AGORA_INT:
        snprintf(buf, size, "%" PRId64, v->u.integer);
        break;
    case AGORA_DOUBLE:
        agora_format_double(v->u.number, number);
        snprintf(buf, size, "%s", number);
        break;
    case AGORA_STRING:
        format_string(&v->u.string, buf, size);
        break;
    case AGORA_ARRAY:
        snprintf(buf, size, "an array");
        break;
    case AGORA_OBJECT:
        snprintf(buf, size, "an object");
        break;
    }
    return buf;
}

const char *mw_type_name(const agora_value *v)
{
    switch (v != NULL ? v->type : AGORA_NULL) {
    case AGORA_NULL:
        return "null";
    case AGORA_BOOL:
        return "bool";
    case AGORA_INT:
        return "int";
    case AGORA_DOUBLE:
        return "float";
    case AGORA_STRING:
        return "string";
    case AGORA_ARRAY:
        return "array";
    case AGORA_OBJECT:
        return "object";
    }
    return "value";
}
