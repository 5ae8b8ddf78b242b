/*
 * agora worker: runs every pipeline of a pipelines.toml, or the worker pool
 * of a shared object compiled against libagora (--module), on its schedule
 * in one process, with the health server, until SIGINT/SIGTERM or until
 * every pipeline has ended.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agora/config.h"
#include "agora/log.h"
#include "agora/runner.h"
#include "cli/cli.h"
#include "config/module.h"
#include "core/clock.h"

/* Entry point a module exports: returns a new pool that the caller owns. */
typedef agora_worker_pool *(*get_worker_fn)(void);

#define MODULE_ENTRY_POINT "get_worker"
#define DEFAULT_MODULE "./worker.so"
#define DEFAULT_CONFIG "pipelines.toml"

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
    printf("usage: agora worker [--config FILE | --module NAME] [options]\n"
           "\n"
           "Runs every pipeline of FILE, or of the worker pool that the shared\n"
           "object NAME builds, on its schedule until SIGINT or SIGTERM, then shuts\n"
           "down gracefully (runs in flight get the graceful shutdown timeout to\n"
           "finish). With neither option it loads ./worker.so when that file\n"
           "exists, else ./pipelines.toml.\n"
           "\n"
           "options:\n"
           "  -c, --config FILE            pipelines.toml to read\n"
           "  -m, --module NAME            shared object exporting\n"
           "                               'agora_worker_pool *get_worker(void)';\n"
           "                               pipelines.worker loads ./pipelines/worker.so,\n"
           "                               a NAME ending in .so or containing '/' is a path\n"
           "      --list                   print each pipeline id and schedule, run nothing\n"
           "      --health-port N          serve /health, /ready and /metrics on port N\n"
           "                               (overrides worker.health_port; 0 = off)\n"
           "      --health-host HOST       address to bind (default 127.0.0.1)\n"
           "      --health-auth-token T    require 'Authorization: Bearer T'\n"
           "                               (AGORA_HEALTH_AUTH_TOKEN wins over both this\n"
           "                               and worker.health_auth_token)\n"
           CLI_LOG_OPTIONS_HELP
           "  -h, --help                   show this help\n"
           "\n"
           "A module's pool carries its own health settings (agora_worker_options),\n"
           "so the --health-* options are rejected with a module.\n"
           "\n"
           "Exit status: 0 after a clean shutdown, 1 when a pipeline stopped after\n"
           "too many consecutive errors or the worker could not start (for example\n"
           "when the health port is in use), 2 for a usage or configuration error.\n");
}

/* Maps the result of agora_worker_pool_run to an exit status, and logs it. */
static int finish_run(int rc, const agora_error *err)
{
    if (rc == AGORA_ECANCELED) {
        /* Pipeline threads are still blocked in a component and may use the
         * config or the module, so nothing is freed: the process ends here. */
        AGORA_ERROR("worker", "worker_stopped", NULL, NULL, "%s", err->message);
        agora_log_flush();
        fflush(NULL);
        _exit(EXIT_RUN_FAILED);
    }
    if (rc == AGORA_ESTATE) {
        AGORA_ERROR("worker", "worker_stopped", NULL, NULL, "%s",
                    err->message[0] ? err->message
                                    : "a pipeline stopped after too many "
                                      "consecutive errors");
        return EXIT_RUN_FAILED;
    }
    if (rc != 0) {
        cli_error("%s", err->message);
        return EXIT_RUN_FAILED;
    }
    AGORA_INFO("worker", "worker_stopped", NULL, NULL, "clean shutdown");
    return EXIT_OK;
}

/* ---- Repeat counts ----------------------------------------------------- */

/*
 * A thread that writes the count lines of repeated warnings and errors once
 * their window has ended, within about a second, even while nothing else is
 * logged (a pipeline that failed and waits in a long backoff, say).
 */
typedef struct log_ticker {
    core_waiter waiter;
    pthread_t thread;
    bool running;
} log_ticker;

static void *log_ticker_main(void *arg)
{
    log_ticker *t = arg;

    while (!core_waiter_sleep(&t->waiter, 1.0))
        agora_log_flush_expired();
    return NULL;
}

/*
 * Starts the ticker; without it counts still come out at the next log line.
 * The thread blocks every signal, so SIGINT and SIGTERM keep reaching the
 * pool's own handling and never end the process from this thread.
 */
static void log_ticker_start(log_ticker *t)
{
    sigset_t all, old;

    t->running = false;
    if (core_waiter_init(&t->waiter, NULL) != 0)
        return;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&t->thread, NULL, log_ticker_main, t);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        core_waiter_destroy(&t->waiter);
        return;
    }
    t->running = true;
}

static void log_ticker_stop(log_ticker *t)
{
    if (!t->running)
        return;
    core_waiter_interrupt(&t->waiter);
    pthread_join(t->thread, NULL);
    core_waiter_destroy(&t->waiter);
    t->running = false;
}

/* ---- Pipelines from a pipelines.toml ----------------------------------- */

typedef struct health_flags {
    long port; /* -1 = not given */
    const char *host;
    const char *token;
} health_flags;

static int run_config(const char *config_path, bool list,
                      const health_flags *flags)
{
    agora_worker_pool *pool = NULL;
    const char *token = flags->token;
    log_ticker ticker;
    agora_error err;
    int status = EXIT_OK;

    agora_config *cfg = agora_config_load(config_path, &err);
    if (cfg == NULL) {
        cli_error("%s", err.message);
        return EXIT_USAGE;
    }
    size_t count = agora_config_pipeline_count(cfg);

    if (list) {
        for (size_t i = 0; i < count; i++) {
            char schedule[AGORA_SCHEDULE_TEXT_MAX];
            agora_config_pipeline_schedule(cfg, i, schedule, sizeof(schedule));
            printf("%s\t%s\n", agora_config_pipeline_id(cfg, i), schedule);
        }
        goto cleanup;
    }

    const agora_worker_config *wc = agora_config_worker(cfg);
    const char *env_token = getenv("AGORA_HEALTH_AUTH_TOKEN");
    if (env_token != NULL && env_token[0] != '\0')
        token = env_token;
    else if (token == NULL && wc->health_auth_token[0] != '\0')
        token = wc->health_auth_token;

    agora_worker_options wopts = {
        .health_port = flags->port >= 0 ? (int)flags->port : wc->health_port,
        .health_host = flags->host != NULL ? flags->host : wc->health_host,
        .health_auth_token = token,
        .graceful_shutdown_timeout = wc->graceful_shutdown_timeout,
        .handle_signals = true,
    };
    pool = agora_worker_pool_new(&wopts, &err);
    if (pool == NULL) {
        cli_error("%s", err.message);
        status = EXIT_USAGE;
        goto cleanup;
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
    log_ticker_start(&ticker);
    int rc = agora_worker_pool_run(pool, &err);
    log_ticker_stop(&ticker);
    status = finish_run(rc, &err);

cleanup:
    agora_worker_pool_free(pool);
    agora_config_free(cfg);
    return status;
}

/* ---- Pipelines from a module ------------------------------------------- */

/* Pool that SIGINT/SIGTERM stop while a module's pool runs. */
static agora_worker_pool *volatile signal_pool;

static void on_stop_signal(int sig)
{
    (void)sig;
    agora_worker_pool_stop(signal_pool); /* signal-safe, accepts NULL */
}

/*
 * Runs pool with SIGINT/SIGTERM stopping it gracefully even when the module
 * created it without handle_signals. With handle_signals the pool blocks both
 * signals and takes them with sigwait, so this handler never runs.
 */
static int run_module_pool(agora_worker_pool *pool, agora_error *err)
{
    struct sigaction action, old_int, old_term;

    memset(&action, 0, sizeof(action));
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    signal_pool = pool;
    sigaction(SIGINT, &action, &old_int);
    sigaction(SIGTERM, &action, &old_term);

    int rc = agora_worker_pool_run(pool, err);

    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    signal_pool = NULL;
    return rc;
}

static void list_module_pool(agora_worker_pool *pool)
{
    size_t count = agora_worker_pool_size(pool);

    for (size_t i = 0; i < count; i++) {
        agora_pipeline_snapshot snap;
        agora_scheduled_pipeline_snapshot(agora_worker_pool_get(pool, i), &snap);
        printf("%s\t%s\n", snap.pipeline_id, snap.schedule);
        free(snap.middlewares);
    }
}

/*
 * Loads the shared object at path, calls its get_worker() and runs (or
 * lists) the pool it returns. The pool is freed before the object is
 * unloaded, because its pipeline factories and components live there.
 */
static int run_module(const char *path, bool list)
{
    config_module *module = NULL;
    agora_worker_pool *pool = NULL;
    get_worker_fn get_worker;
    log_ticker ticker;
    agora_error err;
    int status = EXIT_USAGE;

    module = config_module_open(path, &err);
    if (module == NULL) {
        cli_error("%s", err.message);
        goto cleanup;
    }
    void *symbol = config_module_symbol(module, MODULE_ENTRY_POINT, &err);
    if (symbol == NULL) {
        cli_error("%s; a worker module must export "
                  "'agora_worker_pool *get_worker(void)'",
                  err.message);
        goto cleanup;
    }
    /* dlsym returns an object pointer: copy it into the function pointer
     * without a cast that ISO C leaves undefined. */
    memcpy(&get_worker, &symbol, sizeof(get_worker));

    pool = get_worker();
    if (pool == NULL) {
        cli_error("get_worker() in '%s' returned NULL; it must return a pool "
                  "made with agora_worker_pool_new (the log lines above may "
                  "say why it failed)",
                  path);
        goto cleanup;
    }
    size_t count = agora_worker_pool_size(pool);
    if (count == 0) {
        cli_error("get_worker() in '%s' returned a pool without pipelines; "
                  "register at least one with agora_worker_pool_register",
                  path);
        goto cleanup;
    }

    if (list) {
        list_module_pool(pool);
        status = EXIT_OK;
        goto cleanup;
    }
    AGORA_INFO("worker", "worker_starting", NULL, NULL,
               "module=%s pipelines=%zu", path, count);
    log_ticker_start(&ticker);
    int rc = run_module_pool(pool, &err);
    log_ticker_stop(&ticker);
    status = finish_run(rc, &err);

cleanup:
    agora_worker_pool_free(pool);
    config_module_close(module);
    return status;
}

/* ---- Entry point ------------------------------------------------------- */

static bool is_regular_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int cli_worker(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"module", required_argument, NULL, 'm'},
        {"list", no_argument, NULL, 'L'},
        {"health-port", required_argument, NULL, 'p'},
        {"health-host", required_argument, NULL, 'H'},
        {"health-auth-token", required_argument, NULL, 't'},
        {"log-level", required_argument, NULL, 'l'},
        {"log-format", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *module_name = NULL, *log_level = NULL;
    const char *log_format = NULL;
    health_flags flags = {.port = -1};
    agora_error err;
    bool list = false;
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:m:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'm':
            module_name = optarg;
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
            flags.port = (long)v;
            break;
        }
        case 'H':
            flags.host = optarg;
            break;
        case 't':
            flags.token = optarg;
            break;
        case 'l':
            log_level = optarg;
            break;
        case 'F':
            log_format = optarg;
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
    if (!cli_set_log_options(log_level, log_format))
        return EXIT_USAGE;
    if (config_path != NULL && module_name != NULL) {
        cli_error("--config and --module exclude each other; give one");
        return EXIT_USAGE;
    }

    char *module_path = NULL;
    if (module_name != NULL) {
        module_path = config_module_resolve_name(module_name, &err);
        if (module_path == NULL) {
            cli_error("%s", err.message);
            return EXIT_USAGE;
        }
    } else if (config_path == NULL && is_regular_file(DEFAULT_MODULE)) {
        module_path = strdup(DEFAULT_MODULE);
        if (module_path == NULL) {
            cli_error("out of memory");
            return EXIT_USAGE;
        }
    }
    if (module_path == NULL)
        return run_config(config_path != NULL ? config_path : DEFAULT_CONFIG,
                          list, &flags);

    if (flags.port >= 0 || flags.host != NULL || flags.token != NULL) {
        cli_error("--health-port, --health-host and --health-auth-token do not "
                  "apply to the module '%s': its get_worker() sets them in "
                  "agora_worker_options; drop these options",
                  module_path);
        free(module_path);
        return EXIT_USAGE;
    }
    int status = run_module(module_path, list);
    free(module_path);
    return status;
}
