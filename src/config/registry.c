/*
 * The table of built-in component types.
 */
#include "agora/config.h"

#include <string.h>

#include "connectors/connectors.h"

static const agora_component_type *const builtin_types[] = {
    &agora_source_json_type,
    &agora_source_jsonl_type,
    &agora_source_csv_type,
    &agora_mw_validate_type,
    &agora_mw_filter_type,
    &agora_mw_map_type,
    &agora_sink_jsonl_type,
    &agora_sink_csv_type,
    &agora_sink_stdout_type,
    &agora_sink_sqlite_type,
    NULL,
};

const agora_component_type *const *agora_component_all(void)
{
    return builtin_types;
}

const agora_component_type *agora_component_find(agora_component_kind kind,
                                                 const char *type)
{
    if (type == NULL)
        return NULL;
    for (size_t i = 0; builtin_types[i] != NULL; i++) {
        if (builtin_types[i]->kind == kind &&
            strcmp(builtin_types[i]->type, type) == 0)
            return builtin_types[i];
    }
    return NULL;
}

const char *agora_component_kind_name(agora_component_kind kind)
{
    switch (kind) {
    case AGORA_COMPONENT_SOURCE:
        return "source";
    case AGORA_COMPONENT_MIDDLEWARE:
        return "middleware";
    case AGORA_COMPONENT_SINK:
        return "sink";
    }
    return "component";
}
