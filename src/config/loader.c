/*
 * Loader for pipelines.toml, format agora/v1.
 *
 * The TOML tree is kept for the lifetime of the config so that errors found
 * later (a component factory rejecting an option value) can still point at
 * the file position of the key at fault. Component options are converted to
 * agora values once, in an arena owned by the config, and handed to the
 * factories on every run.
 */
#include "agora/config.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/checkpoint.h"
#include "agora/dlq.h"
#include "agora/runner.h"
#include "config/module.h"
#include "config/toml.h"

#define MAX_BATCH_SIZE 1000000

typedef struct component_def {
    const agora_component_type *type;
    const toml_node *table; /* for error positions */
    agora_value *options;   /* object without `type` and `name` */
    char name[AGORA_NAME_MAX];
} component_def;

typedef struct pipeline_def {
    char name[AGORA_NAME_MAX];
    char pipeline_id[AGORA_NAME_MAX];
    const toml_node *table;
    component_def source;
    component_def *middlewares;
    size_t middleware_count;
    component_def *sinks;
    size_t sink_count;
    char *dlq_path; /* resolved; NULL = no DLQ */
    agora_dlq_policy dlq_policy;
    char *checkpoint_path;     /* resolved; NULL = no checkpoints */
    uint64_t checkpoint_every; /* records between saves */
    agora_schedule schedule;
    uint64_t max_records;
    unsigned max_consecutive_errors;
    double error_backoff_seconds;
    size_t batch_size;
} pipeline_def;

struct agora_config {
    char *path;
    char *base_dir;
    toml_node *root;
    agora_arena *arena;
    agora_worker_config worker;
    pipeline_def *pipelines;
    size_t pipeline_count;
    const char *current_pipeline; /* while parsing one, for messages */
    /* Shared objects of `import` components. They stay loaded until
     * agora_config_free, because component types, factories and the
     * callbacks of every component built from them live there. */
    config_module **modules;
    size_t module_count;
};

/* ---- Errors with positions --------------------------------------------- */

static int config_error(const agora_config *cfg, agora_error *err, int line,
                        int column, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

static int config_error(const agora_config *cfg, agora_error *err, int line,
                        int column, const char *fmt, ...)
{
    char message[AGORA_ERROR_MESSAGE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (line > 0)
        return agora_error_set(err, AGORA_ECONFIG, "%s:%d:%d: %s", cfg->path,
                               line, column, message);
    return agora_error_set(err, AGORA_ECONFIG, "%s: %s", cfg->path, message);
}

static const char *toml_type_article(toml_type type)
{
    switch (type) {
    case TOML_INTEGER:
        return "an integer";
    case TOML_ARRAY:
        return "an array";
    default:
        return "a";
    }
}

/* "got a string", "got an integer", ... for type mismatch messages. */
static void describe_type(const toml_node *node, char *buf, size_t size)
{
    const char *article = toml_type_article(node->type);
    if (strcmp(article, "a") == 0)
        snprintf(buf, size, "a %s", toml_type_name(node->type));
    else
        snprintf(buf, size, "%s", article);
}

/* ---- TOML to values ---------------------------------------------------- */

static agora_value *toml_to_value(agora_arena *arena, const toml_node *node)
{
    agora_value *v = NULL;

    switch (node->type) {
    case TOML_STRING:
    case TOML_DATETIME:
    case TOML_DATETIME_LOCAL:
    case TOML_DATE_LOCAL:
    case TOML_TIME_LOCAL:
        return agora_value_string(arena, node->u.str.ptr, node->u.str.len);
    case TOML_INTEGER:
        return agora_value_int(arena, node->u.integer);
    case TOML_FLOAT:
        return agora_value_double(arena, node->u.floating);
    case TOML_BOOL:
        return agora_value_bool(arena, node->u.boolean);
    case TOML_ARRAY:
        v = agora_value_array(arena, node->u.array.len);
        if (v == NULL)
            return NULL;
        for (size_t i = 0; i < node->u.array.len; i++) {
            agora_value *item = toml_to_value(arena, node->u.array.items[i]);
            if (item == NULL || agora_array_push(arena, v, item) != 0)
                return NULL;
        }
        return v;
    case TOML_TABLE:
        v = agora_value_object(arena, node->u.table.len);
        if (v == NULL)
            return NULL;
        for (size_t i = 0; i < node->u.table.len; i++) {
            const toml_kv *kv = &node->u.table.items[i];
            agora_value *item = toml_to_value(arena, kv->value);
            if (item == NULL ||
                agora_object_push(arena, v, kv->key, kv->key_len, item) != 0)
                return NULL;
        }
        return v;
    }
    return NULL;
}

/* ---- Typed getters on TOML tables -------------------------------------- */

/* Checks that kv has the expected TOML type and fills err when it does not. */
static int expect_type(const agora_config *cfg, const toml_kv *kv,
                       toml_type type, const char *what, agora_error *err)
{
    char got[64];

    if (kv->value->type == type)
        return 0;
    if (type == TOML_FLOAT && kv->value->type == TOML_INTEGER)
        return 0;
    describe_type(kv->value, got, sizeof(got));
    if (cfg->current_pipeline != NULL)
        return config_error(cfg, err, kv->value->line, kv->value->column,
                            "pipeline '%s': '%s' must be %s, got %s",
                            cfg->current_pipeline, kv->key, what, got);
    return config_error(cfg, err, kv->value->line, kv->value->column,
                        "'%s' must be %s, got %s", kv->key, what, got);
}

static double number_of(const toml_node *node)
{
    return node->type == TOML_INTEGER ? (double)node->u.integer
                                      : node->u.floating;
}

/* ---- Components -------------------------------------------------------- */

static const agora_option_spec *find_option(const agora_component_type *type,
                                            const char *key)
{
    for (const agora_option_spec *o = type->options; o != NULL && o->key != NULL;
         o++) {
        if (strcmp(o->key, key) == 0)
            return o;
    }
    return NULL;
}

static bool option_type_matches(agora_option_type type, const toml_node *node)
{
    switch (type) {
    case AGORA_OPT_STRING:
        return node->type == TOML_STRING;
    case AGORA_OPT_INT:
        return node->type == TOML_INTEGER;
    case AGORA_OPT_NUMBER:
        return node->type == TOML_INTEGER || node->type == TOML_FLOAT;
    case AGORA_OPT_BOOL:
        return node->type == TOML_BOOL;
    case AGORA_OPT_STRING_ARRAY:
        if (node->type != TOML_ARRAY)
            return false;
        for (size_t i = 0; i < node->u.array.len; i++) {
            if (node->u.array.items[i]->type != TOML_STRING)
                return false;
        }
        return true;
    case AGORA_OPT_TABLE:
        return node->type == TOML_TABLE;
    case AGORA_OPT_ANY:
        return true;
    }
    return false;
}

static const char *option_type_text(agora_option_type type)
{
    switch (type) {
    case AGORA_OPT_STRING:
        return "a string";
    case AGORA_OPT_INT:
        return "an integer";
    case AGORA_OPT_NUMBER:
        return "a number";
    case AGORA_OPT_BOOL:
        return "true or false";
    case AGORA_OPT_STRING_ARRAY:
        return "an array of strings";
    case AGORA_OPT_TABLE:
        return "a table";
    case AGORA_OPT_ANY:
        return "a value";
    }
    return "a value";
}

/* Lists the option keys of a type, for "valid options are ..." hints. */
static void list_options(const agora_component_type *type, char *buf,
                         size_t size)
{
    size_t pos = 0;

    buf[0] = '\0';
    for (const agora_option_spec *o = type->options; o != NULL && o->key != NULL;
         o++) {
        int n = snprintf(buf + pos, size - pos, "%s%s", pos ? ", " : "", o->key);
        if (n < 0 || (size_t)n >= size - pos)
            break;
        pos += (size_t)n;
    }
}

/* Lists the built-in type names of a kind, for "unknown type" hints. */
static void list_types(agora_component_kind kind, char *buf, size_t size)
{
    const agora_component_type *const *all = agora_component_all();
    size_t pos = 0;

    buf[0] = '\0';
    for (size_t i = 0; all[i] != NULL; i++) {
        if (all[i]->kind != kind)
            continue;
        int n = snprintf(buf + pos, size - pos, "%s%s", pos ? ", " : "",
                         all[i]->type);
        if (n < 0 || (size_t)n >= size - pos)
            break;
        pos += (size_t)n;
    }
}

/*
 * Turns a factory error into a config error pointing at the option the
 * factory named in err->key (or at the component table).
 */
static int component_factory_error(const agora_config *cfg,
                                   const component_def *def,
                                   const char *pipeline, agora_error *err)
{
    const toml_kv *kv = err->key[0] ? toml_table_get(def->table, err->key) : NULL;
    char message[AGORA_ERROR_MESSAGE_MAX];
    const char *kind = agora_component_kind_name(def->type->kind);

    snprintf(message, sizeof(message), "%s", err->message);
    if (kv != NULL)
        return config_error(cfg, err, kv->value->line, kv->value->column,
                            "pipeline '%s', %s '%s': %s", pipeline, kind,
                            def->name, message);
    return config_error(cfg, err, def->table->line, def->table->column,
                        "pipeline '%s', %s '%s': %s", pipeline, kind,
                        def->name, message);
}

/* Creates the component once and frees it, so option values are checked at load. */
static int instantiate(const agora_config *cfg, const pipeline_def *pd,
                       const component_def *def, void **out, agora_error *err)
{
    agora_component_context ctx = {
        .base_dir = cfg->base_dir,
        .pipeline_id = pd->pipeline_id,
        .instance_name = def->name,
    };
    void *component = NULL;

    agora_error_clear(err);
    switch (def->type->kind) {
    case AGORA_COMPONENT_SOURCE:
        component = def->type->create_source(def->options, &ctx, err);
        break;
    case AGORA_COMPONENT_MIDDLEWARE:
        component = def->type->create_middleware(def->options, &ctx, err);
        break;
    case AGORA_COMPONENT_SINK:
        component = def->type->create_sink(def->options, &ctx, err);
        break;
    }
    if (component == NULL) {
        if (err->message[0] == '\0')
            agora_error_set(err, AGORA_ECONFIG, "could not be created");
        return component_factory_error(cfg, def, pd->name, err);
    }
    *out = component;
    return 0;
}

static void free_component(const component_def *def, void *component)
{
    switch (def->type->kind) {
    case AGORA_COMPONENT_SOURCE:
        agora_source_free(component);
        break;
    case AGORA_COMPONENT_MIDDLEWARE:
        agora_middleware_free(component);
        break;
    case AGORA_COMPONENT_SINK:
        agora_sink_free(component);
        break;
    }
}

/* Keeps module open until agora_config_free. Closes it when out of memory. */
static int keep_module(agora_config *cfg, config_module *module,
                       agora_error *err)
{
    config_module **grown = realloc(cfg->modules, (cfg->module_count + 1) *
                                                      sizeof(*cfg->modules));
    if (grown == NULL) {
        config_module_close(module);
        return agora_error_set(err, AGORA_ENOMEM, "out of memory");
    }
    cfg->modules = grown;
    cfg->modules[cfg->module_count++] = module;
    return 0;
}

/*
 * Loads the component type named by `import = "path/lib.so:symbol"`: the
 * symbol must be a `const agora_component_type` of the kind expected at this
 * place, with the matching factory set. A relative path starts at the
 * directory of the config file. Every error points at the import value.
 */
static int import_component(agora_config *cfg, const char *pipeline,
                            const toml_kv *import, agora_component_kind kind,
                            const char *where, component_def *def,
                            agora_error *err)
{
    const toml_node *value = import->value;
    const char *kind_name = agora_component_kind_name(kind);
    char *file = NULL, *path = NULL;
    config_module *module = NULL;
    const agora_component_type *type;
    int rc = AGORA_ECONFIG;

    if (expect_type(cfg, import, TOML_STRING, "a string such as "
                    "\"lib/my_components.so:my_source\"", err) != 0)
        return AGORA_ECONFIG;
    const char *text = value->u.str.ptr;
    const char *colon = strrchr(text, ':');
    if (colon == NULL || colon == text || colon[1] == '\0' ||
        memchr(text, '\0', value->u.str.len) != NULL) {
        return config_error(cfg, err, value->line, value->column,
                            "pipeline '%s': %s import '%s' must be "
                            "\"path/lib.so:symbol\", the path of a shared "
                            "object and the name of the agora_component_type "
                            "it exports",
                            pipeline, where, text);
    }
    const char *symbol = colon + 1;

    file = strndup(text, (size_t)(colon - text));
    if (file == NULL) {
        rc = agora_error_set(err, AGORA_ENOMEM, "out of memory");
        goto cleanup;
    }
    if (file[0] == '/')
        path = strdup(file);
    else if (asprintf(&path, "%s/%s", cfg->base_dir, file) < 0)
        path = NULL;
    if (path == NULL) {
        rc = agora_error_set(err, AGORA_ENOMEM, "out of memory");
        goto cleanup;
    }

    module = config_module_open(path, err);
    if (module == NULL) {
        config_error(cfg, err, value->line, value->column,
                     "pipeline '%s': %s import: %s", pipeline, where,
                     err->message);
        goto cleanup;
    }
    type = config_module_symbol(module, symbol, err);
    if (type == NULL) {
        config_error(cfg, err, value->line, value->column,
                     "pipeline '%s': %s import: %s", pipeline, where,
                     err->message);
        goto cleanup;
    }
    if (type->kind != kind) {
        bool known = type->kind == AGORA_COMPONENT_SOURCE ||
                     type->kind == AGORA_COMPONENT_MIDDLEWARE ||
                     type->kind == AGORA_COMPONENT_SINK;
        config_error(cfg, err, value->line, value->column,
                     "pipeline '%s': %s imports '%s' from '%s', which is %s%s, "
                     "not a %s; import it where a %s belongs",
                     pipeline, where, symbol, path,
                     known ? "a " : "of unknown kind ",
                     known ? agora_component_kind_name(type->kind) : "",
                     kind_name,
                     known ? agora_component_kind_name(type->kind) : kind_name);
        goto cleanup;
    }
    bool has_factory = (kind == AGORA_COMPONENT_SOURCE && type->create_source) ||
                       (kind == AGORA_COMPONENT_MIDDLEWARE &&
                        type->create_middleware) ||
                       (kind == AGORA_COMPONENT_SINK && type->create_sink);
    if (!has_factory || type->type == NULL || type->type[0] == '\0') {
        config_error(cfg, err, value->line, value->column,
                     "pipeline '%s': %s import '%s' from '%s' has %s; set "
                     "its `type` name and its create_%s function",
                     pipeline, where, symbol, path,
                     has_factory ? "an empty type name" : "no factory",
                     kind_name);
        goto cleanup;
    }

    rc = keep_module(cfg, module, err);
    module = NULL;
    if (rc != 0)
        goto cleanup;
    def->type = type;

cleanup:
    config_module_close(module);
    free(path);
    free(file);
    return rc;
}

/*
 * Parses `{ type = "...", name = "...", ...options }` for one component.
 * where describes the place for messages ("source", "sinks[1]").
 */
static int parse_component(agora_config *cfg, const char *pipeline,
                           const toml_node *node, agora_component_kind kind,
                           const char *where, component_def *def,
                           agora_error *err)
{
    char got[64], hint[512];

    memset(def, 0, sizeof(*def));
    if (node->type != TOML_TABLE) {
        describe_type(node, got, sizeof(got));
        return config_error(cfg, err, node->line, node->column,
                            "pipeline '%s': %s must be a table such as "
                            "{ type = \"...\" }, got %s",
                            pipeline, where, got);
    }
    def->table = node;

    const toml_kv *import = toml_table_get(node, "import");
    const toml_kv *type_kv = toml_table_get(node, "type");
    if (import != NULL) {
        if (type_kv != NULL)
            return config_error(cfg, err, type_kv->line, type_kv->column,
                                "pipeline '%s': %s has both 'type' and "
                                "'import'; keep one of them",
                                pipeline, where);
        if (import_component(cfg, pipeline, import, kind, where, def, err) != 0)
            return AGORA_ECONFIG;
    } else {
        list_types(kind, hint, sizeof(hint));
        if (type_kv == NULL)
            return config_error(cfg, err, node->line, node->column,
                                "pipeline '%s': %s has no 'type'; set type to "
                                "one of: %s, or load a C component with "
                                "import = \"path/lib.so:symbol\"",
                                pipeline, where, hint);
        if (expect_type(cfg, type_kv, TOML_STRING, "a string", err) != 0)
            return AGORA_ECONFIG;
        def->type = agora_component_find(kind, type_kv->value->u.str.ptr);
        if (def->type == NULL)
            return config_error(cfg, err, type_kv->value->line,
                                type_kv->value->column,
                                "pipeline '%s': unknown %s type '%s'; valid "
                                "types are: %s",
                                pipeline, agora_component_kind_name(kind),
                                type_kv->value->u.str.ptr, hint);
    }

    snprintf(def->name, sizeof(def->name), "%s", def->type->type);
    const toml_kv *name_kv = toml_table_get(node, "name");
    if (name_kv != NULL) {
        if (expect_type(cfg, name_kv, TOML_STRING, "a string", err) != 0)
            return AGORA_ECONFIG;
        snprintf(def->name, sizeof(def->name), "%s", name_kv->value->u.str.ptr);
    }

    def->options = agora_value_object(cfg->arena, node->u.table.len);
    if (def->options == NULL)
        return agora_error_set(err, AGORA_ENOMEM, "out of memory");

    for (size_t i = 0; i < node->u.table.len; i++) {
        const toml_kv *kv = &node->u.table.items[i];
        if (strcmp(kv->key, "type") == 0 || strcmp(kv->key, "name") == 0 ||
            strcmp(kv->key, "import") == 0)
            continue;
        const agora_option_spec *spec = find_option(def->type, kv->key);
        if (spec == NULL) {
            list_options(def->type, hint, sizeof(hint));
            return config_error(cfg, err, kv->line, kv->column,
                                "pipeline '%s': unknown option '%s' for %s "
                                "type '%s'; valid options are: %s",
                                pipeline, kv->key,
                                agora_component_kind_name(kind),
                                def->type->type, hint[0] ? hint : "(none)");
        }
        if (!option_type_matches(spec->type, kv->value)) {
            describe_type(kv->value, got, sizeof(got));
            return config_error(cfg, err, kv->value->line, kv->value->column,
                                "pipeline '%s': option '%s' of %s type '%s' "
                                "must be %s, got %s",
                                pipeline, kv->key,
                                agora_component_kind_name(kind),
                                def->type->type, option_type_text(spec->type),
                                got);
        }
        agora_value *value = toml_to_value(cfg->arena, kv->value);
        if (value == NULL ||
            agora_object_push(cfg->arena, def->options, kv->key, kv->key_len,
                              value) != 0)
            return agora_error_set(err, AGORA_ENOMEM, "out of memory");
    }

    for (const agora_option_spec *o = def->type->options;
         o != NULL && o->key != NULL; o++) {
        if (o->required && toml_table_get(node, o->key) == NULL)
            return config_error(cfg, err, node->line, node->column,
                                "pipeline '%s': %s type '%s' is missing the "
                                "required option '%s' (%s)",
                                pipeline, agora_component_kind_name(kind),
                                def->type->type, o->key,
                                o->help ? o->help : option_type_text(o->type));
    }
    return 0;
}

static int parse_component_array(agora_config *cfg, pipeline_def *pd,
                                 const toml_kv *kv, agora_component_kind kind,
                                 component_def **out, size_t *count,
                                 agora_error *err)
{
    char where[64];

    if (expect_type(cfg, kv, TOML_ARRAY, "an array of tables", err) != 0)
        return AGORA_ECONFIG;
    size_t n = kv->value->u.array.len;
    *out = calloc(n ? n : 1, sizeof(component_def));
    if (*out == NULL)
        return agora_error_set(err, AGORA_ENOMEM, "out of memory");
    *count = n;
    for (size_t i = 0; i < n; i++) {
        snprintf(where, sizeof(where), "%s[%zu]", kv->key, i);
        int rc = parse_component(cfg, pd->name, kv->value->u.array.items[i],
                                 kind, where, &(*out)[i], err);
        if (rc != 0)
            return rc;
    }

    /* Middleware names label metrics, so give repeated types distinct names. */
    for (size_t i = 0; i < n; i++) {
        unsigned copies = 1;
        for (size_t j = 0; j < i; j++) {
            if (strcmp((*out)[j].name, (*out)[i].name) == 0)
                copies++;
        }
        if (copies > 1) {
            char renamed[AGORA_NAME_MAX];
            snprintf(renamed, sizeof(renamed), "%.100s_%u", (*out)[i].name,
                     copies);
            memcpy((*out)[i].name, renamed, sizeof(renamed));
        }
    }
    return 0;
}

/* ---- Schedule ---------------------------------------------------------- */

/* Reads expression and timezone of a cron schedule table and checks both. */
static int parse_cron_schedule(agora_config *cfg, pipeline_def *pd,
                               const toml_node *node, agora_error *err)
{
    const toml_kv *expression = toml_table_get(node, "expression");
    const toml_kv *timezone = toml_table_get(node, "timezone");
    agora_error cron_err;

    if (expression == NULL)
        return config_error(cfg, err, node->line, node->column,
                            "pipeline '%s': a 'cron' schedule needs an "
                            "expression such as \"0 */6 * * *\" (minute hour "
                            "day-of-month month day-of-week)",
                            pd->name);
    if (expect_type(cfg, expression, TOML_STRING, "a string", err) != 0)
        return AGORA_ECONFIG;
    if (timezone != NULL &&
        expect_type(cfg, timezone, TOML_STRING, "a string such as \"Europe/Berlin\"",
                    err) != 0)
        return AGORA_ECONFIG;

    agora_error_clear(&cron_err);
    const char *tz = timezone != NULL ? timezone->value->u.str.ptr : NULL;
    if (agora_schedule_cron(&pd->schedule, expression->value->u.str.ptr, tz,
                            &cron_err) != 0) {
        /* Point at the timezone when the zone is what failed. */
        const toml_node *at = expression->value;
        if (timezone != NULL && strstr(cron_err.message, "zone") != NULL)
            at = timezone->value;
        return config_error(cfg, err, at->line, at->column, "pipeline '%s': %s",
                            pd->name, cron_err.message);
    }
    return 0;
}

static int parse_schedule(agora_config *cfg, pipeline_def *pd,
                          const toml_kv *kv, agora_error *err)
{
    const toml_node *node = kv->value;
    static const struct {
        const char *key;
        double seconds;
    } units[] = {{"seconds", 1}, {"minutes", 60}, {"hours", 3600}, {"days", 86400}};

    if (expect_type(cfg, kv, TOML_TABLE,
                    "a table such as { mode = \"every\", minutes = 5 }", err) != 0)
        return AGORA_ECONFIG;

    const toml_kv *mode = toml_table_get(node, "mode");
    if (mode == NULL)
        return config_error(cfg, err, node->line, node->column,
                            "pipeline '%s': schedule has no 'mode'; set mode to "
                            "\"every\", \"cron\", \"continuous\" or \"once\"",
                            pd->name);
    if (expect_type(cfg, mode, TOML_STRING, "a string", err) != 0)
        return AGORA_ECONFIG;
    const char *m = mode->value->u.str.ptr;

    double total = 0;
    bool any_unit = false;
    for (size_t i = 0; i < node->u.table.len; i++) {
        const toml_kv *item = &node->u.table.items[i];
        bool known = strcmp(item->key, "mode") == 0 ||
                     strcmp(item->key, "expression") == 0 ||
                     strcmp(item->key, "timezone") == 0;
        for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
            if (strcmp(item->key, units[u].key) != 0)
                continue;
            known = true;
            if (expect_type(cfg, item, TOML_FLOAT, "a number", err) != 0)
                return AGORA_ECONFIG;
            total += number_of(item->value) * units[u].seconds;
            any_unit = true;
        }
        if (!known)
            return config_error(cfg, err, item->line, item->column,
                                "pipeline '%s': unknown schedule key '%s'; "
                                "valid keys are: mode, seconds, minutes, hours, "
                                "days, expression, timezone",
                                pd->name, item->key);
    }

    if (strcmp(m, "every") == 0) {
        const toml_kv *cron_only = toml_table_get(node, "expression");
        if (cron_only == NULL)
            cron_only = toml_table_get(node, "timezone");
        if (cron_only != NULL)
            return config_error(cfg, err, cron_only->line, cron_only->column,
                                "pipeline '%s': '%s' applies only to mode "
                                "\"cron\", not \"every\"",
                                pd->name, cron_only->key);
        if (!any_unit)
            return config_error(cfg, err, node->line, node->column,
                                "pipeline '%s': an 'every' schedule needs "
                                "seconds, minutes, hours or days",
                                pd->name);
        if (!(total > 0) || !isfinite(total))
            return config_error(cfg, err, node->line, node->column,
                                "pipeline '%s': the interval of an 'every' "
                                "schedule must be greater than 0 seconds, got "
                                "%g",
                                pd->name, total);
        agora_error tmp;
        if (agora_schedule_every(&pd->schedule, total, &tmp) != 0)
            return config_error(cfg, err, node->line, node->column,
                                "pipeline '%s': %s", pd->name, tmp.message);
        return 0;
    }
    if (any_unit)
        return config_error(cfg, err, node->line, node->column,
                            "pipeline '%s': seconds/minutes/hours/days apply "
                            "only to mode \"every\", not \"%s\"",
                            pd->name, m);
    if (strcmp(m, "cron") != 0) {
        const toml_kv *cron_only = toml_table_get(node, "expression");
        if (cron_only == NULL)
            cron_only = toml_table_get(node, "timezone");
        if (cron_only != NULL)
            return config_error(cfg, err, cron_only->line, cron_only->column,
                                "pipeline '%s': '%s' applies only to mode "
                                "\"cron\", not \"%s\"",
                                pd->name, cron_only->key, m);
    }
    if (strcmp(m, "cron") == 0)
        return parse_cron_schedule(cfg, pd, node, err);
    if (strcmp(m, "continuous") == 0) {
        pd->schedule = agora_schedule_continuous();
        return 0;
    }
    if (strcmp(m, "once") == 0) {
        pd->schedule = agora_schedule_once();
        return 0;
    }
    return config_error(cfg, err, mode->value->line, mode->value->column,
                        "pipeline '%s': unknown schedule mode '%s'; use "
                        "\"every\", \"cron\", \"continuous\" or \"once\"",
                        pd->name, m);
}

/* ---- DLQ --------------------------------------------------------------- */

static int parse_dlq(agora_config *cfg, pipeline_def *pd, const toml_kv *kv,
                     agora_error *err)
{
    const toml_node *node = kv->value;

    if (expect_type(cfg, kv, TOML_TABLE,
                    "a table such as { path = \".agora_dlq.db\" }", err) != 0)
        return AGORA_ECONFIG;

    const char *path = NULL;
    for (size_t i = 0; i < node->u.table.len; i++) {
        const toml_kv *item = &node->u.table.items[i];
        if (strcmp(item->key, "type") == 0) {
            if (expect_type(cfg, item, TOML_STRING, "a string", err) != 0)
                return AGORA_ECONFIG;
            if (strcmp(item->value->u.str.ptr, "sqlite") != 0 &&
                strcmp(item->value->u.str.ptr, "sqlite_dlq") != 0)
                return config_error(cfg, err, item->value->line,
                                    item->value->column,
                                    "pipeline '%s': unknown dlq type '%s'; the "
                                    "only DLQ type is \"sqlite\"",
                                    pd->name, item->value->u.str.ptr);
        } else if (strcmp(item->key, "path") == 0) {
            if (expect_type(cfg, item, TOML_STRING, "a string", err) != 0)
                return AGORA_ECONFIG;
            path = item->value->u.str.ptr;
        } else if (strcmp(item->key, "on_error") == 0) {
            if (expect_type(cfg, item, TOML_STRING, "a string", err) != 0)
                return AGORA_ECONFIG;
            const char *policy = item->value->u.str.ptr;
            if (strcmp(policy, "fail") == 0)
                pd->dlq_policy = AGORA_DLQ_FAIL_RUN;
            else if (strcmp(policy, "log") == 0)
                pd->dlq_policy = AGORA_DLQ_LOG_ONLY;
            else
                return config_error(cfg, err, item->value->line,
                                    item->value->column,
                                    "pipeline '%s': unknown dlq on_error '%s'; "
                                    "use \"fail\" (stop the run when the DLQ "
                                    "cannot be written) or \"log\"",
                                    pd->name, policy);
        } else {
            return config_error(cfg, err, item->line, item->column,
                                "pipeline '%s': unknown dlq key '%s'; valid "
                                "keys are: type, path, on_error",
                                pd->name, item->key);
        }
    }
    if (path == NULL || path[0] == '\0')
        return config_error(cfg, err, node->line, node->column,
                            "pipeline '%s': dlq needs a 'path' to its SQLite "
                            "file",
                            pd->name);

    agora_component_context ctx = {.base_dir = cfg->base_dir};
    pd->dlq_path = agora_path_resolve(&ctx, path);
    if (pd->dlq_path == NULL)
        return agora_error_set(err, AGORA_ENOMEM, "out of memory");
    return 0;
}

/* ---- Checkpoints ------------------------------------------------------- */

static int parse_checkpoint(agora_config *cfg, pipeline_def *pd,
                            const toml_kv *kv, agora_error *err)
{
    const toml_node *node = kv->value;
    const char *path = NULL;

    if (expect_type(cfg, kv, TOML_TABLE,
                    "a table such as { path = \".agora_checkpoint.db\", "
                    "every = 1000 }",
                    err) != 0)
        return AGORA_ECONFIG;

    pd->checkpoint_every = AGORA_CHECKPOINT_DEFAULT_EVERY;
    for (size_t i = 0; i < node->u.table.len; i++) {
        const toml_kv *item = &node->u.table.items[i];
        if (strcmp(item->key, "path") == 0) {
            if (expect_type(cfg, item, TOML_STRING, "a string", err) != 0)
                return AGORA_ECONFIG;
            path = item->value->u.str.ptr;
        } else if (strcmp(item->key, "every") == 0) {
            if (expect_type(cfg, item, TOML_INTEGER, "an integer", err) != 0)
                return AGORA_ECONFIG;
            int64_t every = item->value->u.integer;
            if (every < 1)
                return config_error(cfg, err, item->value->line,
                                    item->value->column,
                                    "pipeline '%s': checkpoint every must be "
                                    "at least 1 record, got %lld",
                                    pd->name, (long long)every);
            pd->checkpoint_every = (uint64_t)every;
        } else {
            return config_error(cfg, err, item->line, item->column,
                                "pipeline '%s': unknown checkpoint key '%s'; "
                                "valid keys are: path, every",
                                pd->name, item->key);
        }
    }
    if (path == NULL || path[0] == '\0')
        return config_error(cfg, err, node->line, node->column,
                            "pipeline '%s': checkpoint needs a 'path' to its "
                            "SQLite file",
                            pd->name);

    agora_component_context ctx = {.base_dir = cfg->base_dir};
    free(pd->checkpoint_path);
    pd->checkpoint_path = agora_path_resolve(&ctx, path);
    if (pd->checkpoint_path == NULL)
        return agora_error_set(err, AGORA_ENOMEM, "out of memory");
    return 0;
}

/* ---- Pipelines --------------------------------------------------------- */

static int parse_int_range(agora_config *cfg, const pipeline_def *pd,
                           const toml_kv *kv, int64_t min, int64_t max,
                           int64_t *out, agora_error *err)
{
    if (expect_type(cfg, kv, TOML_INTEGER, "an integer", err) != 0)
        return AGORA_ECONFIG;
    int64_t v = kv->value->u.integer;
    if (v < min || v > max)
        return config_error(cfg, err, kv->value->line, kv->value->column,
                            "pipeline '%s': '%s' must be between %lld and "
                            "%lld, got %lld",
                            pd->name, kv->key, (long long)min, (long long)max,
                            (long long)v);
    *out = v;
    return 0;
}

static int parse_pipeline(agora_config *cfg, const toml_kv *entry,
                          pipeline_def *pd, agora_error *err)
{
    const toml_node *node = entry->value;
    const toml_kv *sinks = NULL, *source = NULL;
    int64_t n;
    int rc;

    snprintf(pd->name, sizeof(pd->name), "%s", entry->key);
    snprintf(pd->pipeline_id, sizeof(pd->pipeline_id), "%s", entry->key);
    pd->table = node;
    pd->schedule = agora_schedule_once();
    pd->max_consecutive_errors = 5;
    pd->error_backoff_seconds = 60;
    if (node->type != TOML_TABLE)
        return config_error(cfg, err, node->line, node->column,
                            "pipelines.%s must be a table", entry->key);

    for (size_t i = 0; i < node->u.table.len; i++) {
        const toml_kv *kv = &node->u.table.items[i];
        const char *key = kv->key;

        if (strcmp(key, "pipeline_id") == 0) {
            if (expect_type(cfg, kv, TOML_STRING, "a string", err) != 0)
                return AGORA_ECONFIG;
            if (kv->value->u.str.len == 0 ||
                kv->value->u.str.len >= AGORA_NAME_MAX)
                return config_error(cfg, err, kv->value->line,
                                    kv->value->column,
                                    "pipeline '%s': pipeline_id must have 1 to "
                                    "%d characters",
                                    pd->name, AGORA_NAME_MAX - 1);
            snprintf(pd->pipeline_id, sizeof(pd->pipeline_id), "%s",
                     kv->value->u.str.ptr);
        } else if (strcmp(key, "source") == 0) {
            /* Components are parsed where they appear, so the first error in
             * the file is the one reported. */
            source = kv;
            rc = parse_component(cfg, pd->name, kv->value,
                                 AGORA_COMPONENT_SOURCE, "source", &pd->source,
                                 err);
            if (rc != 0)
                return rc;
        } else if (strcmp(key, "middlewares") == 0) {
            rc = parse_component_array(cfg, pd, kv, AGORA_COMPONENT_MIDDLEWARE,
                                       &pd->middlewares, &pd->middleware_count,
                                       err);
            if (rc != 0)
                return rc;
        } else if (strcmp(key, "sinks") == 0) {
            sinks = kv;
            rc = parse_component_array(cfg, pd, kv, AGORA_COMPONENT_SINK,
                                       &pd->sinks, &pd->sink_count, err);
            if (rc != 0)
                return rc;
        } else if (strcmp(key, "dlq") == 0) {
            if ((rc = parse_dlq(cfg, pd, kv, err)) != 0)
                return rc;
        } else if (strcmp(key, "checkpoint") == 0) {
            if ((rc = parse_checkpoint(cfg, pd, kv, err)) != 0)
                return rc;
        } else if (strcmp(key, "schedule") == 0) {
            if ((rc = parse_schedule(cfg, pd, kv, err)) != 0)
                return rc;
        } else if (strcmp(key, "max_records") == 0) {
            if ((rc = parse_int_range(cfg, pd, kv, 0, INT64_MAX, &n, err)) != 0)
                return rc;
            pd->max_records = (uint64_t)n;
        } else if (strcmp(key, "max_consecutive_errors") == 0) {
            if ((rc = parse_int_range(cfg, pd, kv, 1, 1000000, &n, err)) != 0)
                return rc;
            pd->max_consecutive_errors = (unsigned)n;
        } else if (strcmp(key, "batch_size") == 0) {
            if ((rc = parse_int_range(cfg, pd, kv, 1, MAX_BATCH_SIZE, &n, err)) != 0)
                return rc;
            pd->batch_size = (size_t)n;
        } else if (strcmp(key, "error_backoff_seconds") == 0) {
            if (expect_type(cfg, kv, TOML_FLOAT, "a number", err) != 0)
                return AGORA_ECONFIG;
            double v = number_of(kv->value);
            if (!(v > 0) || !isfinite(v))
                return config_error(cfg, err, kv->value->line,
                                    kv->value->column,
                                    "pipeline '%s': error_backoff_seconds must "
                                    "be greater than 0, got %g",
                                    pd->name, v);
            pd->error_backoff_seconds = v;
        } else {
            return config_error(cfg, err, kv->line, kv->column,
                                "pipeline '%s': unknown key '%s'; valid keys "
                                "are: pipeline_id, source, middlewares, sinks, "
                                "dlq, checkpoint, schedule, max_records, "
                                "max_consecutive_errors, error_backoff_seconds, "
                                "batch_size",
                                pd->name, key);
        }
    }

    if (source == NULL)
        return config_error(cfg, err, node->line, node->column,
                            "pipeline '%s' has no source; add for example "
                            "source = { type = \"jsonl\", path = \"in.jsonl\" }",
                            pd->name);
    if (sinks == NULL)
        return config_error(cfg, err, node->line, node->column,
                            "pipeline '%s' has no sinks; add at least one "
                            "[[pipelines.%s.sinks]] table",
                            pd->name, pd->name);
    if (pd->sink_count == 0)
        return config_error(cfg, err, sinks->value->line, sinks->value->column,
                            "pipeline '%s': sinks is empty; add at least one "
                            "sink",
                            pd->name);
    return 0;
}

/* Creates every component of pd once so bad option values fail at load. */
static int check_components(const agora_config *cfg, const pipeline_def *pd,
                            agora_error *err)
{
    void *component;

    if (instantiate(cfg, pd, &pd->source, &component, err) != 0)
        return AGORA_ECONFIG;
    free_component(&pd->source, component);
    for (size_t i = 0; i < pd->middleware_count; i++) {
        if (instantiate(cfg, pd, &pd->middlewares[i], &component, err) != 0)
            return AGORA_ECONFIG;
        free_component(&pd->middlewares[i], component);
    }
    for (size_t i = 0; i < pd->sink_count; i++) {
        if (instantiate(cfg, pd, &pd->sinks[i], &component, err) != 0)
            return AGORA_ECONFIG;
        free_component(&pd->sinks[i], component);
    }
    return 0;
}

/* ---- Worker ------------------------------------------------------------ */

static int parse_worker(agora_config *cfg, const toml_kv *entry,
                        agora_error *err)
{
    const toml_node *node = entry->value;

    if (expect_type(cfg, entry, TOML_TABLE, "a table", err) != 0)
        return AGORA_ECONFIG;
    for (size_t i = 0; i < node->u.table.len; i++) {
        const toml_kv *kv = &node->u.table.items[i];
        const toml_node *v = kv->value;

        if (strcmp(kv->key, "health_port") == 0) {
            if (expect_type(cfg, kv, TOML_INTEGER, "an integer", err) != 0)
                return AGORA_ECONFIG;
            if (v->u.integer < 0 || v->u.integer > 65535)
                return config_error(cfg, err, v->line, v->column,
                                    "worker.health_port must be between 0 (no "
                                    "health server) and 65535, got %lld",
                                    (long long)v->u.integer);
            cfg->worker.health_port = (int)v->u.integer;
        } else if (strcmp(kv->key, "health_host") == 0) {
            if (expect_type(cfg, kv, TOML_STRING, "a string", err) != 0)
                return AGORA_ECONFIG;
            if (v->u.str.len == 0 || v->u.str.len >= sizeof(cfg->worker.health_host))
                return config_error(cfg, err, v->line, v->column,
                                    "worker.health_host must be a host name or "
                                    "address such as \"127.0.0.1\"");
            snprintf(cfg->worker.health_host, sizeof(cfg->worker.health_host),
                     "%s", v->u.str.ptr);
        } else if (strcmp(kv->key, "health_auth_token") == 0) {
            if (expect_type(cfg, kv, TOML_STRING, "a string", err) != 0)
                return AGORA_ECONFIG;
            if (v->u.str.len >= sizeof(cfg->worker.health_auth_token))
                return config_error(cfg, err, v->line, v->column,
                                    "worker.health_auth_token is longer than "
                                    "%zu bytes",
                                    sizeof(cfg->worker.health_auth_token) - 1);
            snprintf(cfg->worker.health_auth_token,
                     sizeof(cfg->worker.health_auth_token), "%s", v->u.str.ptr);
        } else if (strcmp(kv->key, "graceful_shutdown_timeout") == 0) {
            if (expect_type(cfg, kv, TOML_FLOAT, "a number of seconds", err) != 0)
                return AGORA_ECONFIG;
            double t = number_of(v);
            if (!(t > 0) || !isfinite(t))
                return config_error(cfg, err, v->line, v->column,
                                    "worker.graceful_shutdown_timeout must be "
                                    "greater than 0 seconds, got %g",
                                    t);
            cfg->worker.graceful_shutdown_timeout = t;
        } else {
            return config_error(cfg, err, kv->line, kv->column,
                                "unknown key 'worker.%s'; valid keys are: "
                                "health_port, health_host, health_auth_token, "
                                "graceful_shutdown_timeout",
                                kv->key);
        }
    }
    return 0;
}

/* ---- Top level --------------------------------------------------------- */

static int parse_root(agora_config *cfg, agora_error *err)
{
    const toml_node *root = cfg->root;
    const toml_kv *format = toml_table_get(root, "format");
    const toml_kv *pipelines = NULL;
    int rc;

    if (format == NULL) {
        /* A key that belongs nowhere is most likely a misspelled format:
         * point at it rather than at line 1. */
        for (size_t i = 0; i < root->u.table.len; i++) {
            const toml_kv *kv = &root->u.table.items[i];

            if (strcmp(kv->key, "worker") != 0 &&
                strcmp(kv->key, "pipelines") != 0)
                return config_error(cfg, err, kv->line, kv->column,
                                    "unknown top-level key '%s' and no "
                                    "'format'; the first line should be "
                                    "format = \"agora/v1\"",
                                    kv->key);
        }
        return config_error(cfg, err, 1, 1,
                            "missing 'format'; the first line should be "
                            "format = \"agora/v1\"");
    }
    if (expect_type(cfg, format, TOML_STRING, "a string", err) != 0)
        return AGORA_ECONFIG;
    if (strcmp(format->value->u.str.ptr, "agora/v1") != 0)
        return config_error(cfg, err, format->value->line,
                            format->value->column,
                            "unsupported format '%s'; this version reads "
                            "\"agora/v1\"",
                            format->value->u.str.ptr);

    for (size_t i = 0; i < root->u.table.len; i++) {
        const toml_kv *kv = &root->u.table.items[i];
        if (strcmp(kv->key, "format") == 0)
            continue;
        if (strcmp(kv->key, "worker") == 0) {
            if ((rc = parse_worker(cfg, kv, err)) != 0)
                return rc;
        } else if (strcmp(kv->key, "pipelines") == 0) {
            pipelines = kv;
        } else if (strcmp(kv->key, "defaults") == 0 ||
                   strcmp(kv->key, "profiles") == 0 ||
                   strcmp(kv->key, "environments") == 0) {
            return config_error(cfg, err, kv->line, kv->column,
                                "'%s' is not supported yet; write the "
                                "settings into each [pipelines.<name>] table",
                                kv->key);
        } else {
            return config_error(cfg, err, kv->line, kv->column,
                                "unknown top-level key '%s'; valid keys are: "
                                "format, worker, pipelines",
                                kv->key);
        }
    }

    if (pipelines == NULL)
        return config_error(cfg, err, 0, 0,
                            "no pipelines defined; add a [pipelines.<name>] "
                            "table");
    if (expect_type(cfg, pipelines, TOML_TABLE, "a table", err) != 0)
        return AGORA_ECONFIG;

    size_t count = pipelines->value->u.table.len;
    if (count == 0)
        return config_error(cfg, err, pipelines->line, pipelines->column,
                            "no pipelines defined; add a [pipelines.<name>] "
                            "table");
    cfg->pipelines = calloc(count, sizeof(pipeline_def));
    if (cfg->pipelines == NULL)
        return agora_error_set(err, AGORA_ENOMEM, "out of memory");
    for (size_t i = 0; i < count; i++) {
        cfg->pipeline_count = i + 1;
        cfg->current_pipeline = pipelines->value->u.table.items[i].key;
        rc = parse_pipeline(cfg, &pipelines->value->u.table.items[i],
                            &cfg->pipelines[i], err);
        cfg->current_pipeline = NULL;
        if (rc != 0)
            return rc;
    }
    for (size_t i = 0; i < count; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(cfg->pipelines[i].pipeline_id,
                       cfg->pipelines[j].pipeline_id) != 0)
                continue;
            const toml_kv *id = toml_table_get(cfg->pipelines[i].table, "pipeline_id");
            const toml_node *at = id != NULL ? id->value : cfg->pipelines[i].table;
            return config_error(cfg, err, at->line, at->column,
                                "pipelines '%s' and '%s' share the "
                                "pipeline_id '%s'; ids must be unique",
                                cfg->pipelines[j].name, cfg->pipelines[i].name,
                                cfg->pipelines[i].pipeline_id);
        }
    }
    for (size_t i = 0; i < count; i++) {
        if ((rc = check_components(cfg, &cfg->pipelines[i], err)) != 0)
            return rc;
    }
    return 0;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* Skips the "line L, column C: " prefix of TOML parser messages, since the
 * loader puts the position in file:line:column form in front. */
static const char *without_position(const char *message)
{
    int consumed = 0;
    int line, column;

    if (sscanf(message, "line %d, column %d: %n", &line, &column, &consumed) == 2 &&
        consumed > 0)
        return message + consumed;
    return message;
}

agora_config *agora_config_load(const char *path, agora_error *err)
{
    toml_error terr;
    agora_config *cfg = calloc(1, sizeof(*cfg));

    if (cfg == NULL) {
        agora_error_set(err, AGORA_ENOMEM, "out of memory");
        return NULL;
    }
    cfg->path = strdup(path);
    cfg->base_dir = dir_of(path);
    cfg->arena = agora_arena_new(0);
    snprintf(cfg->worker.health_host, sizeof(cfg->worker.health_host),
             "127.0.0.1");
    cfg->worker.graceful_shutdown_timeout = 30.0;
    if (cfg->path == NULL || cfg->base_dir == NULL || cfg->arena == NULL) {
        agora_error_set(err, AGORA_ENOMEM, "out of memory");
        goto fail;
    }

    memset(&terr, 0, sizeof(terr));
    cfg->root = toml_parse_file(path, &terr);
    if (cfg->root == NULL) {
        if (terr.line > 0)
            agora_error_set(err, AGORA_ECONFIG, "%s:%d:%d: %s", path, terr.line,
                            terr.column, without_position(terr.message));
        else
            agora_error_set(err, AGORA_ECONFIG, "%s: %s", path, terr.message);
        goto fail;
    }
    if (parse_root(cfg, err) != 0)
        goto fail;
    return cfg;

fail:
    agora_config_free(cfg);
    return NULL;
}

void agora_config_free(agora_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->pipeline_count; i++) {
        free(cfg->pipelines[i].middlewares);
        free(cfg->pipelines[i].sinks);
        free(cfg->pipelines[i].dlq_path);
        free(cfg->pipelines[i].checkpoint_path);
    }
    free(cfg->pipelines);
    /* Last, since component types of the config point into these objects. */
    for (size_t i = 0; i < cfg->module_count; i++)
        config_module_close(cfg->modules[i]);
    free(cfg->modules);
    toml_free(cfg->root);
    agora_arena_free(cfg->arena);
    free(cfg->path);
    free(cfg->base_dir);
    free(cfg);
}

/* ---- Accessors --------------------------------------------------------- */

const char *agora_config_path(const agora_config *cfg)
{
    return cfg->path;
}

const agora_worker_config *agora_config_worker(const agora_config *cfg)
{
    return &cfg->worker;
}

size_t agora_config_pipeline_count(const agora_config *cfg)
{
    return cfg->pipeline_count;
}

const char *agora_config_pipeline_name(const agora_config *cfg, size_t index)
{
    return index < cfg->pipeline_count ? cfg->pipelines[index].name : NULL;
}

const char *agora_config_pipeline_id(const agora_config *cfg, size_t index)
{
    return index < cfg->pipeline_count ? cfg->pipelines[index].pipeline_id
                                       : NULL;
}

long agora_config_find_pipeline(const agora_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->pipeline_count; i++) {
        if (strcmp(cfg->pipelines[i].name, name) == 0 ||
            strcmp(cfg->pipelines[i].pipeline_id, name) == 0)
            return (long)i;
    }
    return -1;
}

void agora_config_pipeline_schedule(const agora_config *cfg, size_t index,
                                    char *buf, size_t size)
{
    if (index >= cfg->pipeline_count) {
        snprintf(buf, size, "?");
        return;
    }
    agora_schedule_describe(&cfg->pipelines[index].schedule, buf, size);
}

uint64_t agora_config_pipeline_max_records(const agora_config *cfg,
                                           size_t index)
{
    return index < cfg->pipeline_count ? cfg->pipelines[index].max_records : 0;
}

bool agora_config_pipeline_uses_stdout(const agora_config *cfg, size_t index)
{
    if (index >= cfg->pipeline_count)
        return false;
    const pipeline_def *pd = &cfg->pipelines[index];
    for (size_t i = 0; i < pd->sink_count; i++) {
        if (strcmp(pd->sinks[i].type->type, "stdout") == 0)
            return true;
    }
    return false;
}

int agora_config_pipeline_schedule_options(const agora_config *cfg,
                                           size_t index,
                                           agora_scheduled_options *out)
{
    if (index >= cfg->pipeline_count)
        return AGORA_EINVAL;
    const pipeline_def *pd = &cfg->pipelines[index];
    memset(out, 0, sizeof(*out));
    out->pipeline_id = pd->pipeline_id;
    out->schedule = pd->schedule;
    out->max_records = pd->max_records;
    out->max_consecutive_errors = pd->max_consecutive_errors;
    out->error_backoff_seconds = pd->error_backoff_seconds;
    return 0;
}

agora_bound_pipeline *agora_config_build_pipeline(const agora_config *cfg,
                                                  size_t index,
                                                  agora_error *err)
{
    agora_build_options opts = {.with_middlewares = true, .with_dlq = true};
    return agora_config_build_pipeline_with(cfg, index, &opts, err);
}

agora_bound_pipeline *agora_config_build_pipeline_with(
    const agora_config *cfg, size_t index, const agora_build_options *opts,
    agora_error *err)
{
    agora_pipeline *p = NULL;
    void *component = NULL;
    agora_delivery delivery;
    agora_source *source = opts->source;
    agora_arena *replay_options = NULL; /* sink options with mode = "append" */
    size_t sinks_added = 0;

    if (index >= cfg->pipeline_count) {
        agora_source_free(source);
        agora_error_set(err, AGORA_EINVAL, "no pipeline at index %zu", index);
        return NULL;
    }
    const pipeline_def *pd = &cfg->pipelines[index];
    memset(&delivery, 0, sizeof(delivery));

    if (source == NULL) {
        if (instantiate(cfg, pd, &pd->source, &component, err) != 0)
            return NULL;
        source = component;
    }
    p = agora_pipeline_new(source);
    if (p == NULL) {
        agora_source_free(source);
        agora_error_set(err, AGORA_ENOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; opts->with_middlewares && i < pd->middleware_count; i++) {
        if (instantiate(cfg, pd, &pd->middlewares[i], &component, err) != 0)
            goto fail;
        if (agora_pipeline_pipe(p, component) != 0) {
            agora_middleware_free(component);
            agora_error_set(err, AGORA_ENOMEM, "out of memory");
            goto fail;
        }
    }
    for (size_t i = 0; i < pd->sink_count; i++) {
        component_def def = pd->sinks[i];

        if (opts->only_sink != NULL && strcmp(def.name, opts->only_sink) != 0)
            continue;
        bool has_mode = false;
        for (const agora_option_spec *o = def.type->options;
             o != NULL && o->key != NULL; o++)
            has_mode = has_mode || strcmp(o->key, "mode") == 0;
        if (opts->sinks_append && has_mode) {
            if (replay_options == NULL)
                replay_options = agora_arena_new(0);
            agora_value *mode = NULL;
            def.options = NULL;
            if (replay_options != NULL) {
                mode = agora_value_string(replay_options, "append", 6);
                def.options = pd->sinks[i].options != NULL
                                  ? agora_object_clone(replay_options,
                                                       pd->sinks[i].options, 1)
                                  : agora_value_object(replay_options, 1);
            }
            if (mode == NULL || def.options == NULL ||
                agora_object_set(replay_options, def.options, "mode", 4,
                                 mode) != 0) {
                agora_error_set(err, AGORA_ENOMEM, "out of memory");
                goto fail;
            }
        }
        if (instantiate(cfg, pd, &def, &component, err) != 0)
            goto fail;
        if (agora_pipeline_add_sink(p, component) != 0) {
            agora_sink_free(component);
            agora_error_set(err, AGORA_ENOMEM, "out of memory");
            goto fail;
        }
        sinks_added++;
    }
    if (opts->only_sink != NULL && sinks_added == 0) {
        char names[512] = "";
        size_t used = 0;
        for (size_t i = 0; i < pd->sink_count && used < sizeof(names); i++)
            used += (size_t)snprintf(names + used, sizeof(names) - used,
                                     "%s'%s'", i > 0 ? ", " : "",
                                     pd->sinks[i].name);
        agora_error_set(err, AGORA_ENOTFOUND, "pipeline '%s' has no sink "
                        "named '%s'; its sinks are %s", pd->name,
                        opts->only_sink, names);
        goto fail;
    }

    snprintf(delivery.pipeline_id, sizeof(delivery.pipeline_id), "%s",
             pd->pipeline_id);
    delivery.batch_size = pd->batch_size;
    delivery.dlq_policy = pd->dlq_policy;
    if (opts->with_dlq && pd->dlq_path != NULL) {
        delivery.dlq = agora_dlq_open(pd->dlq_path, err);
        if (delivery.dlq == NULL)
            goto fail;
    }
    /* NOTE: built-in sinks copy what they keep of their options; a sink from
     * an imported module must do the same, because these copies end here. */
    agora_arena_free(replay_options);
    agora_bound_pipeline *bp = agora_pipeline_build(p, &delivery, err);
    /* Checkpoints follow the configured source only: a run with another
     * source (DLQ replay) has no position in the configured input. */
    if (bp != NULL && pd->checkpoint_path != NULL && opts->source == NULL &&
        agora_bound_pipeline_set_checkpoint(bp, pd->checkpoint_path,
                                            pd->checkpoint_every, err) != 0) {
        agora_bound_pipeline_free(bp);
        return NULL;
    }
    return bp;

fail:
    agora_arena_free(replay_options);
    agora_pipeline_free(p);
    return NULL;
}

const char *agora_config_pipeline_dlq_path(const agora_config *cfg,
                                           size_t index)
{
    return index < cfg->pipeline_count ? cfg->pipelines[index].dlq_path : NULL;
}

const char *agora_config_pipeline_checkpoint_path(const agora_config *cfg,
                                                  size_t index)
{
    return index < cfg->pipeline_count ? cfg->pipelines[index].checkpoint_path
                                       : NULL;
}
