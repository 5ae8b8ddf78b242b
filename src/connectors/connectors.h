/*
 * Built-in component types, registered in src/config/registry.c.
 */
#ifndef AGORA_CONNECTORS_H
#define AGORA_CONNECTORS_H

#include "agora/config.h"

extern const agora_component_type agora_source_json_type;
extern const agora_component_type agora_source_jsonl_type;
extern const agora_component_type agora_source_csv_type;

extern const agora_component_type agora_mw_validate_type;
extern const agora_component_type agora_mw_filter_type;
extern const agora_component_type agora_mw_map_type;

extern const agora_component_type agora_sink_jsonl_type;
extern const agora_component_type agora_sink_csv_type;
extern const agora_component_type agora_sink_stdout_type;
extern const agora_component_type agora_sink_sqlite_type;

#endif
