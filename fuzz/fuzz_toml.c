/*
 * libFuzzer target for the TOML parser and the agora/v1 config loader.
 *
 * The input goes to toml_parse. A parsed tree is walked to check the
 * positions and the lengths it reports. When the tree has no `import` key,
 * the same text is also written to pipelines.toml in a private temporary
 * directory and loaded with agora_config_load, which checks every component
 * by creating and freeing it. Inputs with `import` are skipped there because
 * it loads the named shared object with dlopen.
 *
 * The same file builds into tests/unit/test_fuzz_regressions.c, which renames
 * LLVMFuzzerTestOneInput, so every static here carries the fuzz_toml_ prefix.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agora/config.h"
#include "agora/log.h"
#include "config/toml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_toml_dir[64];
static char fuzz_toml_path[96];

static void fuzz_toml_fail(const char *problem, int line, int column)
{
    fprintf(stderr, "fuzz_toml: %s (line %d, column %d)\n", problem, line,
            column);
    abort();
}

static void fuzz_toml_remove_dir(void)
{
    unlink(fuzz_toml_path);
    rmdir(fuzz_toml_dir);
}

/* Creates the temporary directory once per process. Returns false on error. */
static bool fuzz_toml_setup(void)
{
    if (fuzz_toml_dir[0] != '\0')
        return true;
    strcpy(fuzz_toml_dir, "/tmp/agora-fuzz-toml-XXXXXX");
    if (mkdtemp(fuzz_toml_dir) == NULL) {
        fuzz_toml_dir[0] = '\0';
        return false;
    }
    snprintf(fuzz_toml_path, sizeof(fuzz_toml_path), "%s/pipelines.toml",
             fuzz_toml_dir);
    atexit(fuzz_toml_remove_dir);
    agora_log_set_level(AGORA_LOG_OFF);
    return true;
}

/*
 * Checks the positions and lengths of node and its children and returns
 * true when some table in it has a key named import. The parser's nesting
 * limit of 128 levels bounds the recursion.
 */
static bool fuzz_toml_walk(const toml_node *node)
{
    bool has_import = false;

    if (node->line < 1 || node->column < 1)
        fuzz_toml_fail("node without a position", node->line, node->column);

    switch (node->type) {
    case TOML_STRING:
    case TOML_DATETIME:
    case TOML_DATETIME_LOCAL:
    case TOML_DATE_LOCAL:
    case TOML_TIME_LOCAL:
        if (node->u.str.ptr == NULL && node->u.str.len > 0)
            fuzz_toml_fail("string with a length but no bytes", node->line,
                           node->column);
        break;
    case TOML_ARRAY:
        for (size_t i = 0; i < node->u.array.len; i++) {
            if (node->u.array.items[i] == NULL)
                fuzz_toml_fail("array with a NULL item", node->line,
                               node->column);
            has_import |= fuzz_toml_walk(node->u.array.items[i]);
        }
        break;
    case TOML_TABLE:
        for (size_t i = 0; i < node->u.table.len; i++) {
            const toml_kv *kv = &node->u.table.items[i];

            if (kv->key == NULL || kv->key[kv->key_len] != '\0')
                fuzz_toml_fail("key not NUL-terminated", kv->line,
                               kv->column);
            if (kv->line < 1 || kv->column < 1)
                fuzz_toml_fail("key without a position", kv->line,
                               kv->column);
            if (kv->value == NULL)
                fuzz_toml_fail("key without a value", kv->line, kv->column);
            if (kv->key_len == 6 && memcmp(kv->key, "import", 6) == 0)
                has_import = true;
            has_import |= fuzz_toml_walk(kv->value);
        }
        break;
    default:
        break;
    }
    return has_import;
}

/* Loads the text as a config file and reads every pipeline's settings. */
static void fuzz_toml_load_config(const uint8_t *data, size_t size)
{
    FILE *file;
    agora_config *cfg;
    agora_error err;

    if (!fuzz_toml_setup())
        return;
    file = fopen(fuzz_toml_path, "wb");
    if (file == NULL)
        return;
    if (fwrite(data, 1, size, file) != size) {
        fclose(file);
        return;
    }
    if (fclose(file) != 0)
        return;

    agora_error_clear(&err);
    cfg = agora_config_load(fuzz_toml_path, &err);
    if (cfg == NULL) {
        if (err.code == 0 || err.message[0] == '\0')
            fuzz_toml_fail("config load failed without an error message", 0,
                           0);
        return;
    }
    for (size_t i = 0; i < agora_config_pipeline_count(cfg); i++) {
        agora_scheduled_options options;
        char schedule[256];

        if (agora_config_pipeline_name(cfg, i) == NULL ||
            agora_config_pipeline_id(cfg, i) == NULL)
            fuzz_toml_fail("pipeline without a name or id", 0, 0);
        agora_config_pipeline_schedule(cfg, i, schedule, sizeof(schedule));
        if (agora_config_pipeline_schedule_options(cfg, i, &options) != 0)
            fuzz_toml_fail("no schedule options for a loaded pipeline", 0, 0);
        (void)agora_config_pipeline_max_records(cfg, i);
        (void)agora_config_pipeline_uses_stdout(cfg, i);
        (void)agora_config_pipeline_dlq_path(cfg, i);
        (void)agora_config_pipeline_checkpoint_path(cfg, i);
    }
    agora_config_free(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    toml_error err;
    toml_node *root;
    bool has_import;

    memset(&err, 0, sizeof(err));
    root = toml_parse((const char *)data, size, &err);
    if (root == NULL) {
        if (err.message[0] == '\0')
            fuzz_toml_fail("parse failed without a message", err.line,
                           err.column);
        return 0;
    }
    if (root->type != TOML_TABLE)
        fuzz_toml_fail("root is not a table", root->line, root->column);
    has_import = fuzz_toml_walk(root);
    toml_free(root);

    if (!has_import)
        fuzz_toml_load_config(data, size);
    return 0;
}
