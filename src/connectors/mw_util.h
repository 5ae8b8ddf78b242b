/*
 * Helpers shared by the built-in middlewares (validate, filter, map): the
 * common middleware allocation and value descriptions for error messages.
 */
#ifndef AGORA_MW_UTIL_H
#define AGORA_MW_UTIL_H

#include <stddef.h>

#include "agora/config.h"
#include "agora/pipeline.h"
#include "agora/value.h"

/* Big enough for any description mw_format_value writes. */
#define MW_VALUE_TEXT_MAX 96

/*
 * Allocates a middleware with a copy of the instance name (ctx may be NULL,
 * then type_name is used). The caller sets state and callbacks; mw_free
 * releases the struct and the name but not the state.
 */
agora_middleware *mw_alloc(const agora_component_context *ctx,
                           const char *type_name);
void mw_free(agora_middleware *mw);

/*
 * Writes v for a message: strings JSON-quoted and cut after 40 bytes with
 * "...", numbers and booleans as JSON, "null", "an array", "an object".
 * Returns buf.
 */
const char *mw_format_value(const agora_value *v, char *buf, size_t size);

/*
 * Returns the type name users write in configs: "string", "int", "float",
 * "bool", "array", "object" or "null".
 */
const char *mw_type_name(const agora_value *v);

#endif
