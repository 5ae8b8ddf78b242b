/*
 * Runner internals shared between the runner files and the tests: the run
 * history of a scheduled pipeline, clock injection and shutdown controls.
 */
#ifndef AGORA_RUNNER_INTERNAL_H
#define AGORA_RUNNER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agora/runner.h"
#include "core/clock.h"

typedef enum runner_run_status {
    RUNNER_RUN_SUCCESS = 0,
    RUNNER_RUN_FAILED = 1,   /* the factory returned NULL or the run an error */
    RUNNER_RUN_CANCELED = 2  /* the run ended with AGORA_ECANCELED after cancel() */
} runner_run_status;

/* One entry of the run history of a scheduled pipeline. */
typedef struct runner_run_record {
    uint64_t number; /* 1 for the first run of the scheduled pipeline */
    char run_id[AGORA_RUN_ID_LEN + 1];
    double started_at;      /* Unix time, seconds */
    double elapsed_seconds; /* factory call included */
    /*
     * Monotonic seconds (the pipeline's clock): when the schedule meant the
     * run to start (the end of the wait before it; for the first run, the
     * start of the loop) and when it did start. Their difference is how late
     * the run started.
     */
    double due_monotonic;
    double started_monotonic;
    runner_run_status status;
    uint64_t records_consumed;
    uint64_t records_written;
    uint64_t records_dropped;
    uint64_t records_errored;
    char error[AGORA_LAST_ERROR_MAX * 4 + 1]; /* masked; empty on success */
} runner_run_record;

/* Number of runs kept, at most AGORA_RUN_HISTORY. Thread-safe. */
size_t runner_scheduled_history_count(agora_scheduled_pipeline *sp);

/*
 * Copies the history entry at index (0 = oldest kept) into out. Returns false
 * when index is out of range. Thread-safe.
 */
bool runner_scheduled_history_get(agora_scheduled_pipeline *sp, size_t index,
                                  runner_run_record *out);

/*
 * Copies the run id of the run in flight into run_id and returns true, or
 * returns false when no run is in flight. Thread-safe.
 */
bool runner_scheduled_current_run(agora_scheduled_pipeline *sp,
                                  char run_id[AGORA_RUN_ID_LEN + 1]);

/*
 * Makes sp measure time and wait on clock (NULL selects the real clock). The
 * clock must outlive sp. Call only while agora_scheduled_pipeline_run is not
 * running.
 */
void runner_scheduled_set_clock(agora_scheduled_pipeline *sp,
                                const core_clock *clock);

/*
 * Sets the stack size of the pipeline threads (bytes, 0 = the built-in
 * default). Call before agora_worker_pool_run.
 */
void runner_pool_set_thread_stack(agora_worker_pool *pool, size_t bytes);

/*
 * Sets the time given to canceled runs during shutdown before the pool gives
 * up on them (default 5 s). Call before agora_worker_pool_run.
 */
void runner_pool_set_shutdown_grace(agora_worker_pool *pool, double seconds);

/*
 * Joins the pipeline threads that agora_worker_pool_run left running, so the
 * pool can be freed afterwards. Blocks until they end. For tests.
 */
void runner_pool_join_abandoned(agora_worker_pool *pool);

#endif
