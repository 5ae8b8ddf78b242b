/*
 * agora validate: loads a pipelines.toml with every check the worker does
 * (keys, types, component options) without running anything.
 */
#include <getopt.h>
#include <stdio.h>

#include "agora/config.h"
#include "cli/cli.h"

int cli_validate(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = "pipelines.toml";
    agora_error err;
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'h':
            printf("usage: agora validate --config FILE\n"
                   "\n"
                   "Checks FILE (default ./pipelines.toml): TOML syntax, keys, value\n"
                   "types and every component's options. Prints each pipeline and\n"
                   "exits 0 when the file is valid, or prints the first error with\n"
                   "file:line:column and exits 2. Input files are not opened, since\n"
                   "they may appear only by the time the pipeline runs.\n");
            return EXIT_OK;
        default:
            cli_error("run 'agora validate --help' for the options");
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        cli_error("unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }

    agora_config *cfg = agora_config_load(config_path, &err);
    if (cfg == NULL) {
        cli_error("%s", err.message);
        return EXIT_USAGE;
    }
    printf("%s: valid, %zu pipeline%s\n", config_path,
           agora_config_pipeline_count(cfg),
           agora_config_pipeline_count(cfg) == 1 ? "" : "s");
    for (size_t i = 0; i < agora_config_pipeline_count(cfg); i++) {
        char schedule[160];
        agora_config_pipeline_schedule(cfg, i, schedule, sizeof(schedule));
        printf("  %s  %s\n", agora_config_pipeline_id(cfg, i), schedule);
    }
    agora_config_free(cfg);
    return EXIT_OK;
}
