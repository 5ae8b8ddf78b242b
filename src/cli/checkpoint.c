/*
 * agora checkpoint show|reset: prints or deletes the saved checkpoint of one
 * pipeline, found through the pipeline's `checkpoint.path` in the config.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/checkpoint.h"
#include "agora/config.h"
#include "cli/cli.h"

static void print_help(void)
{
    printf("usage: agora checkpoint show|reset [PIPELINE] --config FILE\n"
           "\n"
           "show   prints the saved checkpoint of PIPELINE as one line of JSON\n"
           "       (pipeline_id, run_id, source, value, recorded_at), or\n"
           "       \"no checkpoint\" when none is saved.\n"
           "reset  deletes it, so the next run reads the input from its start.\n"
           "\n"
           "PIPELINE may be omitted when FILE defines only one pipeline. The\n"
           "pipeline must have a `checkpoint` table in FILE.\n"
           "\n"
           "options:\n"
           "  -c, --config FILE      pipelines.toml to read (default ./pipelines.toml)\n"
           "  -h, --help             show this help\n"
           "\n"
           "A checkpoint exists only after a run that failed, was killed or was\n"
           "canceled: a run that reaches the end of its input deletes it.\n"
           "Exit status: 0 success, 1 the store could not be read or written,\n"
           "2 usage or configuration error.\n");
}

/* Resolves the pipeline named in argv (or the only one) to an index, or -1. */
static long find_pipeline(const agora_config *cfg, const char *config_path,
                          const char *name)
{
    long index;

    if (name == NULL) {
        if (agora_config_pipeline_count(cfg) == 1)
            return 0;
        cli_error("%s defines %zu pipelines; name one, for example "
                  "'agora checkpoint show %s --config %s'",
                  config_path, agora_config_pipeline_count(cfg),
                  agora_config_pipeline_count(cfg) > 0
                      ? agora_config_pipeline_name(cfg, 0)
                      : "PIPELINE",
                  config_path);
        return -1;
    }
    index = agora_config_find_pipeline(cfg, name);
    if (index < 0)
        cli_error("no pipeline '%s' in %s; run 'agora worker --list --config "
                  "%s' to see the names",
                  name, config_path, config_path);
    return index;
}

/* Runs show or reset on the store at path. Returns an exit status. */
static int run_action(const char *action, const char *path,
                      const char *pipeline_id)
{
    agora_checkpoint_store *store;
    agora_error err;
    char *json = NULL;
    int rc;

    agora_error_clear(&err);
    /* A missing store contains no checkpoint, so do not create one to find out. */
    store = agora_checkpoint_store_open(path, false, &err);
    if (store == NULL) {
        if (err.code != AGORA_ENOTFOUND) {
            cli_error("%s", err.message);
            return EXIT_RUN_FAILED;
        }
        if (strcmp(action, "show") == 0)
            printf("no checkpoint\n");
        else
            printf("no checkpoint for pipeline '%s'\n", pipeline_id);
        return EXIT_OK;
    }

    if (strcmp(action, "show") == 0) {
        rc = agora_checkpoint_load(store, pipeline_id, &json, &err);
        if (rc > 0)
            printf("%s\n", json);
        else if (rc == 0)
            printf("no checkpoint\n");
    } else {
        rc = agora_checkpoint_reset(store, pipeline_id, &err);
        if (rc > 0)
            printf("deleted the checkpoint of pipeline '%s' from %s\n",
                   pipeline_id, path);
        else if (rc == 0)
            printf("no checkpoint for pipeline '%s'\n", pipeline_id);
    }
    free(json);
    agora_checkpoint_store_free(store);
    if (rc < 0) {
        cli_error("%s", err.message);
        return EXIT_RUN_FAILED;
    }
    return EXIT_OK;
}

int cli_checkpoint(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = "pipelines.toml";
    const char *action;
    agora_error err;
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'h':
            print_help();
            return EXIT_OK;
        default:
            cli_error("run 'agora checkpoint --help' for the options");
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        cli_error("agora checkpoint needs an action: show or reset");
        return EXIT_USAGE;
    }
    action = argv[optind++];
    if (strcmp(action, "show") != 0 && strcmp(action, "reset") != 0) {
        cli_error("unknown checkpoint action '%s'; use show or reset", action);
        return EXIT_USAGE;
    }
    if (argc - optind > 1) {
        cli_error("agora checkpoint %s takes at most one pipeline name, got %d",
                  action, argc - optind);
        return EXIT_USAGE;
    }

    agora_config *cfg = agora_config_load(config_path, &err);
    if (cfg == NULL) {
        cli_error("%s", err.message);
        return EXIT_USAGE;
    }
    int status = EXIT_USAGE;
    long index = find_pipeline(cfg, config_path,
                               optind < argc ? argv[optind] : NULL);
    if (index < 0)
        goto cleanup;

    const char *path = agora_config_pipeline_checkpoint_path(cfg, (size_t)index);
    const char *pipeline_id = agora_config_pipeline_id(cfg, (size_t)index);
    if (path == NULL) {
        cli_error("pipeline '%s' in %s has no checkpoint; add for example "
                  "checkpoint = { path = \".agora_checkpoint.db\" } to it",
                  agora_config_pipeline_name(cfg, (size_t)index), config_path);
        goto cleanup;
    }
    status = run_action(action, path, pipeline_id);

cleanup:
    agora_config_free(cfg);
    return status;
}
