/*
 * Health server: GET /health (JSON), /metrics (Prometheus text 0.0.4) and
 * /ready, on libmicrohttpd, with optional bearer-token auth.
 *
 * The server does not know about pipelines: on every request it asks a
 * snapshot callback for the current state and renders that.
 */
#ifndef AGORA_HEALTH_H
#define AGORA_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agora/error.h"
#include "agora/pipeline.h"
#include "agora/value.h"

#ifdef __cplusplus
extern "C" {
#endif

#define AGORA_LAST_ERROR_MAX 240 /* characters kept of last_error */
#define AGORA_SCHEDULE_TEXT_MAX 160

typedef struct agora_pipeline_snapshot {
    char pipeline_id[AGORA_NAME_MAX];
    char schedule[AGORA_SCHEDULE_TEXT_MAX]; /* agora_schedule_describe text */
    bool running;           /* a run is in progress */
    bool active;            /* the schedule loop has not ended */
    bool stopped_on_errors; /* ended after max_consecutive_errors failures */
    uint64_t total_runs;
    uint64_t successful_runs;
    uint64_t failed_runs;
    uint64_t records_consumed; /* totals over finished runs */
    uint64_t records_written;
    uint64_t records_dropped;
    uint64_t records_errored;
    double last_run_at;        /* Unix time the last run started, 0 = never */
    double last_run_duration_s;
    double last_run_throughput_rps;
    /* Message of the last failed run, secrets masked, at most
     * AGORA_LAST_ERROR_MAX characters; empty when no run failed. */
    char last_error[AGORA_LAST_ERROR_MAX * 4 + 1];
    size_t middleware_count;
    agora_middleware_stats *middlewares; /* cumulative; heap */
    uint64_t live_consumed; /* counters of the run in progress */
    uint64_t live_written;
    uint64_t live_dropped;
    uint64_t live_errored;
} agora_pipeline_snapshot;

typedef enum agora_pool_state {
    AGORA_POOL_STARTING = 0,
    AGORA_POOL_RUNNING = 1,
    AGORA_POOL_STOPPING = 2
} agora_pool_state;

typedef struct agora_health_snapshot {
    agora_pool_state pool_state;
    double started_at; /* Unix time the pool started */
    double now;        /* Unix time of the snapshot */
    long pid;
    size_t pipeline_count;
    agora_pipeline_snapshot *pipelines; /* heap */
} agora_health_snapshot;

/* Frees the heap parts of a snapshot. */
void agora_health_snapshot_clear(agora_health_snapshot *snap);

/*
 * Copies message into out (AGORA_LAST_ERROR_MAX * 4 + 1 bytes) with bearer
 * tokens and passwords in URLs replaced by "***", cut to at most
 * AGORA_LAST_ERROR_MAX characters on a UTF-8 boundary.
 */
void agora_health_mask_error(const char *message, char *out);

/* Pipeline status: "running", "idle", "ok", "degraded" or "failing". */
const char *agora_pipeline_status(const agora_pipeline_snapshot *p);

/*
 * true once the schedule loop of the pipeline has ended: a once pipeline
 * after its run, or a pipeline stopped after max_consecutive_errors. A loop
 * stopped by shutdown before its first run still reads false.
 */
bool agora_pipeline_stopped(const agora_pipeline_snapshot *p);

/* Overall status: the worst pipeline status (failing > degraded > running > idle > ok). */
const char *agora_overall_status(const agora_health_snapshot *snap);

/* Renders /health JSON into buf; *http_status becomes 200 or 503 (failing). */
int agora_health_render_json(const agora_health_snapshot *snap, agora_buf *buf,
                             int *http_status);

/* Renders /metrics in Prometheus text format 0.0.4. */
int agora_health_render_metrics(const agora_health_snapshot *snap,
                                agora_buf *buf);

/* true when the pool runs and every pipeline is active (for /ready). */
bool agora_health_is_ready(const agora_health_snapshot *snap);

typedef int (*agora_snapshot_fn)(void *ctx, agora_health_snapshot *out);

typedef struct agora_health_options {
    const char *host;       /* NULL = "127.0.0.1" */
    int port;               /* 0 lets the system pick; see agora_health_server_port */
    const char *auth_token; /* NULL or "" = no auth */
} agora_health_options;

typedef struct agora_health_server agora_health_server;

/*
 * Starts serving on its own threads. snapshot is called once per request.
 * Returns NULL with err filled (for example when the port is in use).
 */
agora_health_server *agora_health_server_start(const agora_health_options *opts,
                                               agora_snapshot_fn snapshot,
                                               void *ctx, agora_error *err);

/* Port actually bound (useful with port 0). */
int agora_health_server_port(const agora_health_server *server);

/* Stops the server and frees it. Accepts NULL. */
void agora_health_server_stop(agora_health_server *server);

#ifdef __cplusplus
}
#endif

#endif
