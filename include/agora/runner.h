/*
 * The runner: schedules, scheduled pipelines and the worker pool.
 *
 * A scheduled pipeline builds a fresh bound pipeline for every run through a
 * factory, runs it, and waits according to its schedule, backing off
 * exponentially after failures. A worker pool runs many scheduled pipelines,
 * one thread each, serves the health endpoints and shuts down gracefully on
 * SIGINT/SIGTERM.
 */
#ifndef AGORA_RUNNER_H
#define AGORA_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agora/error.h"
#include "agora/health.h"
#include "agora/pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Schedule ---------------------------------------------------------- */

typedef enum agora_schedule_mode {
    AGORA_SCHEDULE_EVERY,
    AGORA_SCHEDULE_CRON,
    AGORA_SCHEDULE_CONTINUOUS,
    AGORA_SCHEDULE_ONCE
} agora_schedule_mode;

#define AGORA_CRON_EXPRESSION_MAX 128
#define AGORA_TIMEZONE_MAX 64

typedef struct agora_schedule {
    agora_schedule_mode mode;
    double interval_seconds; /* every: > 0 */
    char expression[AGORA_CRON_EXPRESSION_MAX]; /* cron: five fields */
    char timezone[AGORA_TIMEZONE_MAX]; /* cron: IANA name, empty = UTC */
} agora_schedule;

/* Returns an `every` schedule; fills err when seconds <= 0. */
int agora_schedule_every(agora_schedule *out, double seconds, agora_error *err);

/*
 * Fills a cron schedule after checking expression (and tz_name, NULL or ""
 * for UTC) with agora_cron_parse. Returns 0, or AGORA_EINVAL with err naming
 * the field and value at fault.
 */
int agora_schedule_cron(agora_schedule *out, const char *expression,
                        const char *tz_name, agora_error *err);

/* ---- Cron -------------------------------------------------------------- */

typedef struct agora_cron agora_cron;

/*
 * Parses a five-field cron expression ("minute hour day-of-month month
 * day-of-week") with the Vixie cron/croniter rules: '*', lists, ranges,
 * steps ("*" + "/n", "a-b/n"), month and weekday names (jan..dec, sun..sat),
 * 0 and 7 both Sunday, and when both day fields are restricted a day matches
 * if either does. tz_name is an IANA zone name read from the system tz
 * database (NULL or "" = UTC). Returns NULL with err naming the field and
 * value at fault, also for expressions that can never fire ("0 0 30 2 *").
 * Free with agora_cron_free.
 */
agora_cron *agora_cron_parse(const char *expression, const char *tz_name,
                             agora_error *err);

void agora_cron_free(agora_cron *cron);

/*
 * Computes the first fire time strictly after `after` (Unix seconds). Returns
 * 0 and stores it in *next, or a negative code with err filled.
 */
int agora_cron_next(const agora_cron *cron, int64_t after, int64_t *next,
                    agora_error *err);
agora_schedule agora_schedule_once(void);
agora_schedule agora_schedule_continuous(void);

/*
 * Writes the text form used in logs, /health and metric labels:
 * "every 21600.0s", "cron('<expression>')" (with ", timezone='<name>'" before
 * the closing bracket when a zone is set), "continuous" or "once".
 */
void agora_schedule_describe(const agora_schedule *s, char *buf, size_t size);

/* ---- Scheduled pipeline ------------------------------------------------ */

typedef struct agora_scheduled_pipeline agora_scheduled_pipeline;

/*
 * Builds the bound pipeline for one run. Returns NULL with err filled when it
 * cannot (that run then counts as failed).
 */
typedef agora_bound_pipeline *(*agora_pipeline_factory)(void *ctx,
                                                        agora_error *err);

typedef struct agora_scheduled_options {
    const char *pipeline_id;          /* copied */
    agora_schedule schedule;
    uint64_t max_records;             /* per run, 0 = no limit */
    unsigned max_consecutive_errors;  /* 0 selects the default 5 */
    double error_backoff_seconds;     /* <= 0 selects the default 60 */
} agora_scheduled_options;

#define AGORA_BACKOFF_MAX_SECONDS 600.0
#define AGORA_RUN_HISTORY 100

/*
 * Creates a scheduled pipeline. factory_ctx is passed to every factory call;
 * ctx_free (may be NULL) frees it with the scheduled pipeline. Returns NULL
 * with err filled on invalid options.
 */
agora_scheduled_pipeline *agora_scheduled_pipeline_new(
    const agora_scheduled_options *opts, agora_pipeline_factory factory,
    void *factory_ctx, void (*ctx_free)(void *), agora_error *err);

void agora_scheduled_pipeline_free(agora_scheduled_pipeline *sp);

/*
 * Runs the schedule loop on the calling thread until the schedule ends
 * (once), stop() is called, or max_consecutive_errors failures in a row.
 * Returns 0, or AGORA_ESTATE when it stopped because of errors.
 */
int agora_scheduled_pipeline_run(agora_scheduled_pipeline *sp);

/* Wakes any wait at once; a run in flight finishes its work. Thread-safe. */
void agora_scheduled_pipeline_stop(agora_scheduled_pipeline *sp);

/* Asks a run in flight to end at its next batch boundary. Thread-safe. */
void agora_scheduled_pipeline_cancel(agora_scheduled_pipeline *sp);

/* Backoff before the next attempt after n consecutive failures (n >= 1). */
double agora_backoff_seconds(double base_seconds, unsigned n);

/* The pipeline_id, owned by sp. */
const char *agora_scheduled_pipeline_id(const agora_scheduled_pipeline *sp);

/*
 * Fills one pipeline's part of a health snapshot, including the schedule
 * text. Thread-safe. The caller frees out->middlewares with free().
 */
void agora_scheduled_pipeline_snapshot(agora_scheduled_pipeline *sp,
                                       agora_pipeline_snapshot *out);

/* ---- Worker pool ------------------------------------------------------- */

typedef struct agora_worker_pool agora_worker_pool;

typedef struct agora_worker_options {
    int health_port;                  /* 0 = no health server */
    const char *health_host;          /* NULL = "127.0.0.1"; copied */
    const char *health_auth_token;    /* NULL = no auth; copied */
    double graceful_shutdown_timeout; /* seconds, <= 0 selects 30 */
    bool handle_signals;              /* install SIGINT/SIGTERM handling in run() */
} agora_worker_options;

/*
 * Creates an empty pool. opts may be NULL for the defaults (no health server,
 * no signal handling); its strings are copied. Returns NULL with err filled
 * on an invalid option. A module for `agora worker --module` returns such a
 * pool from its `agora_worker_pool *get_worker(void)`, and agora then owns it.
 */
agora_worker_pool *agora_worker_pool_new(const agora_worker_options *opts,
                                         agora_error *err);

/* Frees the pool and every registered pipeline. Accepts NULL. */
void agora_worker_pool_free(agora_worker_pool *pool);

/*
 * Adds sp; ownership moves to the pool on success only. Fails with
 * AGORA_EINVAL on a duplicate pipeline_id, AGORA_ESTATE once the pool has
 * run, or AGORA_ENOMEM, and then the caller still owns sp.
 */
int agora_worker_pool_register(agora_worker_pool *pool,
                               agora_scheduled_pipeline *sp, agora_error *err);

/* Number of registered pipelines. */
size_t agora_worker_pool_size(const agora_worker_pool *pool);
/* Pipeline at index (registration order), owned by the pool; NULL past the end. */
agora_scheduled_pipeline *agora_worker_pool_get(agora_worker_pool *pool,
                                                size_t index);

/*
 * Starts the health server and one thread per pipeline and blocks until every
 * pipeline has finished or a shutdown was requested (signal or
 * agora_worker_pool_stop) and has completed. Returns 0, or AGORA_ESTATE when a
 * pipeline stopped because of errors, or another code when startup failed.
 * Returns AGORA_ECANCELED when pipeline threads were still blocked after the
 * graceful timeout, cancel and a 5 s grace: they keep running, so the caller
 * should exit the process, and agora_worker_pool_free then leaves the pool
 * allocated.
 */
int agora_worker_pool_run(agora_worker_pool *pool, agora_error *err);

/* Requests a graceful shutdown, as SIGTERM does. Thread- and signal-safe. */
void agora_worker_pool_stop(agora_worker_pool *pool);

/* Fills a snapshot of the process and every pipeline (for /health). */
int agora_worker_pool_snapshot(agora_worker_pool *pool,
                               agora_health_snapshot *out);

#ifdef __cplusplus
}
#endif

#endif
