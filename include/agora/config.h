/*
 * Component registry and option helpers.
 *
 * Every built-in component type is described once by an agora_component_type:
 * its kind, its type name, a table of options (key, type, required, default,
 * help) and a factory. The config loader checks a TOML component table
 * against the option table (unknown keys, missing required keys and wrong
 * types are errors with file:line:column) and then calls the factory with the
 * options as an object value. The same tables drive `--help` and the docs.
 */
#ifndef AGORA_CONFIG_H
#define AGORA_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "agora/error.h"
#include "agora/pipeline.h"
#include "agora/runner.h"
#include "agora/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum agora_option_type {
    AGORA_OPT_STRING,       /* string */
    AGORA_OPT_INT,          /* integer */
    AGORA_OPT_NUMBER,       /* integer or float */
    AGORA_OPT_BOOL,         /* boolean */
    AGORA_OPT_STRING_ARRAY, /* array of strings */
    AGORA_OPT_TABLE,        /* table (inline or not); the factory checks values */
    AGORA_OPT_ANY           /* any TOML value */
} agora_option_type;

typedef struct agora_option_spec {
    const char *key;
    agora_option_type type;
    bool required;
    const char *default_text; /* shown in help; the factory applies defaults */
    const char *help;
} agora_option_spec;

typedef enum agora_component_kind {
    AGORA_COMPONENT_SOURCE,
    AGORA_COMPONENT_MIDDLEWARE,
    AGORA_COMPONENT_SINK
} agora_component_kind;

/* What a factory gets besides its options. All strings outlive the call only. */
typedef struct agora_component_context {
    const char *base_dir;      /* directory of the config file: relative paths start here */
    const char *pipeline_id;
    const char *instance_name; /* `name` option, or the type name */
} agora_component_context;

/*
 * Factories return a heap component (freed through its destroy callback) or
 * NULL with err filled. When an option value is at fault they should use
 * agora_error_set_key so the loader can point at its position.
 */
typedef agora_source *(*agora_source_factory)(const agora_value *options,
                                              const agora_component_context *ctx,
                                              agora_error *err);
typedef agora_middleware *(*agora_middleware_factory)(
    const agora_value *options, const agora_component_context *ctx,
    agora_error *err);
typedef agora_sink *(*agora_sink_factory)(const agora_value *options,
                                          const agora_component_context *ctx,
                                          agora_error *err);

/*
 * A component type. The built-in ones are in the registry; a shared object
 * can export one as `const agora_component_type my_type = {...};` for
 * `{ import = "path/lib.so:my_type", ...options }` in pipelines.toml. Its
 * kind must match where it is used, the factory of that kind must be set,
 * and the loader checks options against `options` as for a built-in type.
 */
typedef struct agora_component_type {
    agora_component_kind kind;
    const char *type;    /* value of the `type` key */
    const char *summary; /* one line for help output */
    const agora_option_spec *options; /* ends with an entry whose key is NULL */
    agora_source_factory create_source;
    agora_middleware_factory create_middleware;
    agora_sink_factory create_sink;
} agora_component_type;

/* Looks up a built-in type. Returns NULL when there is none. */
const agora_component_type *agora_component_find(agora_component_kind kind,
                                                 const char *type);

/* All built-in types, NULL-terminated. */
const agora_component_type *const *agora_component_all(void);

/* Returns "source", "middleware" or "sink". */
const char *agora_component_kind_name(agora_component_kind kind);

/* ---- Option accessors for factories -------------------------------------
 * Each returns the option's value, or def when the key is absent. The loader
 * already checked types against the option table; these still check and fill
 * err (with the key) on a mismatch, returning def.
 */
const char *agora_opt_string(const agora_value *opts, const char *key,
                             const char *def, agora_error *err);
int64_t agora_opt_int(const agora_value *opts, const char *key, int64_t def,
                      agora_error *err);
double agora_opt_number(const agora_value *opts, const char *key, double def,
                        agora_error *err);
bool agora_opt_bool(const agora_value *opts, const char *key, bool def,
                    agora_error *err);
/* Returns the raw value (array, table, ...) or NULL when absent. */
const agora_value *agora_opt_value(const agora_value *opts, const char *key);

/*
 * Resolves path against ctx->base_dir unless it is absolute. Returns a heap
 * string (free with free()) or NULL when out of memory.
 */
char *agora_path_resolve(const agora_component_context *ctx, const char *path);

/* Creates the parent directories of path (like mkdir -p on its dirname). */
int agora_mkdir_parents(const char *path, agora_error *err);

/* ---- pipelines.toml (format agora/v1) -----------------------------------
 * Loading checks the whole file: keys, types, component options (each
 * component is created once and freed again, so option values such as a
 * filter expression are checked too). Every error names file:line:column.
 */

typedef struct agora_config agora_config;

typedef struct agora_worker_config {
    int health_port;                  /* 0 = no health server */
    char health_host[256];
    char health_auth_token[512];      /* empty = no auth */
    double graceful_shutdown_timeout; /* seconds */
} agora_worker_config;

/*
 * Loads and checks path, loading the shared objects of `import` components.
 * Returns NULL with err filled (AGORA_ECONFIG, message with file:line:column).
 * Free with agora_config_free.
 */
agora_config *agora_config_load(const char *path, agora_error *err);

/*
 * Frees cfg and unloads its imported shared objects, so every bound pipeline
 * built from it must be freed first. Accepts NULL.
 */
void agora_config_free(agora_config *cfg);

/* The accessors below return pointers into cfg, valid until agora_config_free. */
const char *agora_config_path(const agora_config *cfg);
const agora_worker_config *agora_config_worker(const agora_config *cfg);
size_t agora_config_pipeline_count(const agora_config *cfg);
/* Name of the table under [pipelines] (the pipeline_id defaults to it). */
const char *agora_config_pipeline_name(const agora_config *cfg, size_t index);
const char *agora_config_pipeline_id(const agora_config *cfg, size_t index);
/* Index of the pipeline whose name or pipeline_id is name, or -1. */
long agora_config_find_pipeline(const agora_config *cfg, const char *name);
/* Text form of the pipeline's schedule ("every 10.0s", "once", ...). */
void agora_config_pipeline_schedule(const agora_config *cfg, size_t index,
                                    char *buf, size_t size);
/* max_records of the pipeline (0 = no limit). */
uint64_t agora_config_pipeline_max_records(const agora_config *cfg,
                                           size_t index);
/* true when one of the pipeline's sinks writes to standard output. */
bool agora_config_pipeline_uses_stdout(const agora_config *cfg, size_t index);

/*
 * Fills the scheduling options of pipeline index (pipeline_id points into
 * cfg). Returns 0 or AGORA_EINVAL for a bad index.
 */
int agora_config_pipeline_schedule_options(const agora_config *cfg,
                                           size_t index,
                                           agora_scheduled_options *out);

/*
 * Builds a fresh bound pipeline (source, middlewares, sinks, DLQ) for one
 * run of pipeline index. Returns NULL with err filled. The caller owns the
 * result and frees it before cfg.
 */
agora_bound_pipeline *agora_config_build_pipeline(const agora_config *cfg,
                                                  size_t index,
                                                  agora_error *err);

/* What agora_config_build_pipeline_with builds. */
typedef struct agora_build_options {
    agora_source *source;  /* replaces the configured source (ownership moves,
                              also on failure); NULL = the configured one */
    bool with_middlewares; /* false: records go straight to the sinks */
    bool with_dlq;         /* false: no DLQ, so a sink error fails the run */
    /* NULL = every sink; else only the sink of that instance name (its
     * `name` option, or its type name), and an error when there is none. */
    const char *only_sink;
    /* true: a sink whose type has a `mode` option gets mode = "append", so a
     * replay adds to the output and never empties it first. */
    bool sinks_append;
} agora_build_options;

/*
 * Builds pipeline index like agora_config_build_pipeline, with the changes
 * in opts (used by DLQ replay). Returns NULL with err filled.
 */
agora_bound_pipeline *agora_config_build_pipeline_with(
    const agora_config *cfg, size_t index, const agora_build_options *opts,
    agora_error *err);

/* Resolved path of the pipeline's DLQ file, or NULL when it has none. */
const char *agora_config_pipeline_dlq_path(const agora_config *cfg,
                                           size_t index);

/* Resolved path of the pipeline's checkpoint store, or NULL when it has none. */
const char *agora_config_pipeline_checkpoint_path(const agora_config *cfg,
                                                  size_t index);

#ifdef __cplusplus
}
#endif

#endif
