/*
 * agora worker: runs every pipeline of a pipelines.toml on its schedule in
 * one process, with the health server, until SIGINT/SIGTERM or until every
 * pipeline has ended.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agora/config.h"
#include "agora/log.h"
#include "agora/runner.h"
#include "cli/cli.h"

/* Factory context: which pipeline of which config to build. */
typedef struct pipeline_ref {
    const agora_config *cfg;
    size_t index;
} pipeline_ref;

static agora_bound_pipeline *build_from_config(void *ctx, agora_error *err)
{
    pipeline_ref *ref = ctx;
    return agora_config_build_pipeline(ref->cfg, ref->index, err);
}

static void print_help(void)
{
    printf("usage: agora worker [--config FILE] [options]\n"
           "\n"
           "Runs every pipeline of FILE on its schedule until SIGINT or SIGTERM,\n"
           "then shuts down gracefully (runs in flight get\n"
           "worker.graceful_shutdown_timeout seconds to finish).\n"
           "\n"
           "options:\n"
           "  -c, --config FILE            pipelines.toml to read (default ./pipelines.toml)\n"
           "      --list                   print each pipeline id and schedule, run nothing\n"
           "      --health-port N          serve /health, /ready and /metrics on port N\n"
           "                               (overrides worker.health_port; 0 = off)\n"
           "      --health-host HOST       address to bind (default 127.0.0.1)\n"
           "      --health-auth-token T    require 'Authorization: Bearer T'\n"
           "                               (AGORA_HEALTH_AUTH_TOKEN wins over both this\n"
           "                               and worker.health_auth_token)\n"
           "      --log-level LEVEL        debug, info, warn, error or off\n"
           "  -h, --help                   show this help\n"
           "\n"
           "Exit status: 0 after a clean shutdown, 1 when a pipeline stopped after\n"
           "too many consecutive errors or the worker could not start (for example\n"
           "when the health port is in use), 2 for a usage or configuration error.\n");
}

int cli_worker(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"list", no_argument, NULL, 'L'},
        {"health-port", required_argument, NULL, 'p'},
        {"health-host", required_argument, NULL, 'H'},
        {"health-auth-token", required_argument, NULL, 't'},
        {"module", required_argument, NULL, 'm'},
        {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = "pipelines.toml";
    const char *log_level = NULL, *token = NULL, *host = NULL;
    bool list = false;
    long port = -1;
    agora_error err;
    int opt, status = EXIT_OK;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'L':
            list = true;
            break;
        case 'p': {
            uint64_t v;
            if (!cli_parse_u64(optarg, &v) || v > 65535) {
                cli_error("invalid --health-port '%s'; give 0 to 65535", optarg);
                return EXIT_USAGE;
            }
            port = (long)v;
            break;
        }
        case 'H':
            host = optarg;
            break;
        case 't':
            token = optarg;
            break;
        case 'm':
            cli_error("--module (workers written in C) is not supported yet; "
                      "use --config with a pipelines.toml");
            return EXIT_USAGE;
        case 'l':
            log_level = optarg;
            break;
        case 'h':
            print_help();
            return EXIT_OK;
        default:
            cli_error("run 'agora worker --help' for the options");
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        cli_error("unexpected argument '%s'", argv[optind]);
        return EXIT_USAGE;
    }
    if (!cli_set_log_level(log_level))
        return EXIT_USAGE;

    agora_config *cfg = agora_config_load(config_path, &err);
    if (cfg == NULL) {
        cli_error("%s", err.message);
        return EXIT_USAGE;
    }
    size_t count = agora_config_pipeline_count(cfg);

    if (list) {
        for (size_t i = 0; i < count; i++) {
            char schedule[160];
            agora_config_pipeline_schedule(cfg, i, schedule, sizeof(schedule));
            printf("%s\t%s\n", agora_config_pipeline_id(cfg, i), schedule);
        }
        agora_config_free(cfg);
        return EXIT_OK;
    }

    const agora_worker_config *wc = agora_config_worker(cfg);
    const char *env_token = getenv("AGORA_HEALTH_AUTH_TOKEN");
    if (env_token != NULL && env_token[0] != '\0')
        token = env_token;
    else if (token == NULL && wc->health_auth_token[0] != '\0')
        token = wc->health_auth_token;

    agora_worker_options wopts = {
        .health_port = port >= 0 ? (int)port : wc->health_port,
        .health_host = host != NULL ? host : wc->health_host,
        .health_auth_token = token,
        .graceful_shutdown_timeout = wc->graceful_shutdown_timeout,
        .handle_signals = true,
    };
    agora_worker_pool *pool = agora_worker_pool_new(&wopts, &err);
    if (pool == NULL) {
        cli_error("%s", err.message);
        agora_config_free(cfg);
        return EXIT_USAGE;
    }

    for (size_t i = 0; i < count; i++) {
        agora_scheduled_options sopts;
        agora_config_pipeline_schedule_options(cfg, i, &sopts);
        pipeline_ref *ref = malloc(sizeof(*ref));
        if (ref == NULL) {
            cli_error("out of memory");
            status = EXIT_USAGE;
            goto cleanup;
        }
        ref->cfg = cfg;
        ref->index = i;
        agora_scheduled_pipeline *sp =
            agora_scheduled_pipeline_new(&sopts, build_from_config, ref, free, &err);
        if (sp == NULL) {
            free(ref);
            cli_error("pipeline '%s': %s", sopts.pipeline_id, err.message);
            status = EXIT_USAGE;
            goto cleanup;
        }
        if (agora_worker_pool_register(pool, sp, &err) != 0) {
            agora_scheduled_pipeline_free(sp);
            cli_error("%s", err.message);
            status = EXIT_USAGE;
            goto cleanup;
        }
    }

    AGORA_INFO("worker", "worker_starting", NULL, NULL,
               "config=%s pipelines=%zu health=%s:%d", config_path, count,
               wopts.health_host, wopts.health_port);
    int rc = agora_worker_pool_run(pool, &err);
    if (rc == AGORA_ECANCELED) {
        /* Pipeline threads are still blocked in a component and may use the
         * config, so nothing is freed: the process ends here. */
        AGORA_ERROR("worker", "worker_stopped", NULL, NULL, "%s", err.message);
        fflush(NULL);
        _exit(EXIT_RUN_FAILED);
    }
    if (rc == AGORA_ESTATE) {
        AGORA_ERROR("worker", "worker_stopped", NULL, NULL, "%s",
                    err.message[0] ? err.message
                                   : "a pipeline stopped after too many "
                                     "consecutive errors");
        status = EXIT_RUN_FAILED;
    } else if (rc != 0) {
        cli_error("%s", err.message);
        status = EXIT_RUN_FAILED;
    } else {
        AGORA_INFO("worker", "worker_stopped", NULL, NULL, "clean shutdown");
    }

cleanup:
    agora_worker_pool_free(pool);
    agora_config_free(cfg);
    return status;
}
