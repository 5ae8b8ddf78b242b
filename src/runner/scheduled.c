/*
 * Scheduled pipeline: the loop that builds a bound pipeline for every run,
 * runs it, records the outcome and waits according to the schedule.
 *
 * Loop rules (every schedule starts with an immediate run):
 *   - After a successful run, `once` ends the loop and `continuous` starts
 *     the next run at once. `every` waits the full interval, measured from
 *     the end of the run. `cron` waits for the first fire time strictly
 *     after the end of the run, so ticks that passed during a long run are
 *     skipped, not caught up.
 *   - A run fails when the factory returns NULL or the run returns an error.
 *     Let n be the number of consecutive failures. When n reaches
 *     max_consecutive_errors, the loop ends and the pipeline is marked
 *     stopped_on_errors. Otherwise the loop waits
 *     agora_backoff_seconds(base, n) and then starts the next run right away,
 *     whatever the schedule. So for `every` the backoff replaces the
 *     interval, and `once` retries until one run succeeds.
 *   - A successful run resets n to 0.
 *   - stop() interrupts every wait and keeps new runs from starting. cancel()
 *     does the same and also sets the cancel flag, so the run in flight ends
 *     at its next batch boundary.
 *
 * Locking: `lock` guards the statistics, the history and the running/active
 * flags, and is never held across a factory call, a run or a wait. The
 * waiter has its own mutex for stop requests.
 */
#include "agora/runner.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agora/health.h"
#include "agora/log.h"
#include "core/clock.h"
#include "runner/runner_internal.h"

#define DEFAULT_MAX_CONSECUTIVE_ERRORS 5u
/* Maximum length of one sleep in a cron wait. The wall clock is read again
 * after each sleep, so a step of the system time or a suspend delays a cron
 * run by at most this much. */
#define CRON_RESYNC_SECONDS 60.0
#define DEFAULT_ERROR_BACKOFF_SECONDS 60.0

/*
 * A run record as the history stores it. The error text, most of the size
 * of a runner_run_record, is kept on the heap and only for failed runs. So
 * the history of a pipeline takes about 14 KiB instead of 110 KiB.
 */
typedef struct history_entry {
    uint64_t number;
    char run_id[AGORA_RUN_ID_LEN + 1];
    double started_at;
    double elapsed_seconds;
    double due_monotonic;
    double started_monotonic;
    runner_run_status status;
    uint64_t records_consumed;
    uint64_t records_written;
    uint64_t records_dropped;
    uint64_t records_errored;
    char *error; /* heap, NULL when the run had no error */
} history_entry;

struct agora_scheduled_pipeline {
    char id[AGORA_NAME_MAX];
    agora_schedule schedule;
    agora_cron *cron; /* parsed expression of a cron schedule, else NULL */
    int64_t next_fire; /* cron: Unix time the current wait ends */
    char schedule_text[AGORA_SCHEDULE_TEXT_MAX];
    uint64_t max_records;
    unsigned max_consecutive_errors;
    double error_backoff_seconds;

    agora_pipeline_factory factory;
    void *factory_ctx;
    void (*ctx_free)(void *);

    const core_clock *clock;
    core_waiter waiter; /* stop requests and interruptible waits */
    _Atomic bool cancel;
    agora_live_counters live;

    pthread_mutex_t lock;
    bool loop_active;
    bool running;
    char current_run_id[AGORA_RUN_ID_LEN + 1]; /* valid while running */
    bool stopped_on_errors;
    uint64_t total_runs;
    uint64_t successful_runs;
    uint64_t failed_runs;
    uint64_t records_consumed;
    uint64_t records_written;
    uint64_t records_dropped;
    uint64_t records_errored;
    double last_run_at;
    double last_run_duration_s;
    double last_run_throughput_rps;
    char last_error[AGORA_LAST_ERROR_MAX * 4 + 1];
    agora_middleware_stats *middlewares; /* cumulative, merged by name */
    size_t middleware_count;
    size_t middleware_cap;
    history_entry history[AGORA_RUN_HISTORY]; /* ring */
    size_t history_start;                         /* index of the oldest */
    size_t history_count;
};

/* ---- Creation ---------------------------------------------------------- */

static int check_options(const agora_scheduled_options *opts,
                         agora_pipeline_factory factory, agora_error *err)
{
    size_t id_len;

    if (opts == NULL)
        return agora_error_set(err, AGORA_EINVAL,
                               "scheduled pipeline options must not be NULL");
    if (opts->pipeline_id == NULL || opts->pipeline_id[0] == '\0')
        return agora_error_set_key(err, AGORA_EINVAL, "id",
                                   "missing pipeline id: every scheduled "
                                   "pipeline needs a non-empty id");
    id_len = strlen(opts->pipeline_id);
    if (id_len >= AGORA_NAME_MAX)
        return agora_error_set_key(err, AGORA_EINVAL, "id",
                                   "pipeline id '%.40s...' is %zu bytes long; "
                                   "the maximum is %d",
                                   opts->pipeline_id, id_len,
                                   AGORA_NAME_MAX - 1);
    if (factory == NULL)
        return agora_error_set(err, AGORA_EINVAL,
                               "pipeline '%s': the pipeline factory must not "
                               "be NULL",
                               opts->pipeline_id);

    switch (opts->schedule.mode) {
    case AGORA_SCHEDULE_EVERY:
        if (!isfinite(opts->schedule.interval_seconds) ||
            opts->schedule.interval_seconds <= 0)
            return agora_error_set_key(err, AGORA_EINVAL, "schedule",
                                       "pipeline '%s': invalid 'every' interval "
                                       "%g seconds; use a finite number "
                                       "greater than 0",
                                       opts->pipeline_id,
                                       opts->schedule.interval_seconds);
        break;
    case AGORA_SCHEDULE_CRON: /* parsed in agora_scheduled_pipeline_new */
    case AGORA_SCHEDULE_CONTINUOUS:
    case AGORA_SCHEDULE_ONCE:
        break;
    default:
        return agora_error_set_key(err, AGORA_EINVAL, "schedule",
                                   "pipeline '%s': unknown schedule mode %d; "
                                   "use every, cron, continuous or once",
                                   opts->pipeline_id, (int)opts->schedule.mode);
    }

    if (isnan(opts->error_backoff_seconds) ||
        isinf(opts->error_backoff_seconds))
        return agora_error_set_key(err, AGORA_EINVAL, "error_backoff_seconds",
                                   "pipeline '%s': invalid error_backoff_seconds "
                                   "%g; use a finite number (<= 0 selects %g)",
                                   opts->pipeline_id,
                                   opts->error_backoff_seconds,
                                   DEFAULT_ERROR_BACKOFF_SECONDS);
    return 0;
}

agora_scheduled_pipeline *agora_scheduled_pipeline_new(
    const agora_scheduled_options *opts, agora_pipeline_factory factory,
    void *factory_ctx, void (*ctx_free)(void *), agora_error *err)
{
    agora_scheduled_pipeline *sp;

    agora_error_clear(err);
    if (check_options(opts, factory, err) < 0)
        return NULL;

    sp = calloc(1, sizeof(*sp));
    if (sp == NULL) {
        agora_error_set(err, AGORA_ENOMEM,
                        "out of memory creating scheduled pipeline '%s'",
                        opts->pipeline_id);
        return NULL;
    }
    if (pthread_mutex_init(&sp->lock, NULL) != 0) {
        free(sp);
        agora_error_set(err, AGORA_ENOMEM,
                        "cannot create a mutex for pipeline '%s'",
                        opts->pipeline_id);
        return NULL;
    }
    if (core_waiter_init(&sp->waiter, NULL) != 0) {
        pthread_mutex_destroy(&sp->lock);
        free(sp);
        agora_error_set(err, AGORA_ENOMEM,
                        "cannot create a condition variable for pipeline '%s'",
                        opts->pipeline_id);
        return NULL;
    }

    snprintf(sp->id, sizeof(sp->id), "%s", opts->pipeline_id);
    sp->schedule = opts->schedule;
    if (sp->schedule.mode == AGORA_SCHEDULE_CRON) {
        /* The expression is parsed once; every wait reuses it. */
        sp->cron = agora_cron_parse(sp->schedule.expression,
                                    sp->schedule.timezone, err);
        if (sp->cron == NULL) {
            agora_error_prefix(err, "pipeline '%s': invalid cron schedule",
                               opts->pipeline_id);
            core_waiter_destroy(&sp->waiter);
            pthread_mutex_destroy(&sp->lock);
            free(sp);
            return NULL;
        }
    }
    agora_schedule_describe(&sp->schedule, sp->schedule_text,
                            sizeof(sp->schedule_text));
    sp->max_records = opts->max_records;
    sp->max_consecutive_errors = opts->max_consecutive_errors > 0
                                     ? opts->max_consecutive_errors
                                     : DEFAULT_MAX_CONSECUTIVE_ERRORS;
    sp->error_backoff_seconds = opts->error_backoff_seconds > 0
                                    ? opts->error_backoff_seconds
                                    : DEFAULT_ERROR_BACKOFF_SECONDS;
    sp->factory = factory;
    sp->factory_ctx = factory_ctx;
    sp->ctx_free = ctx_free;
    sp->clock = core_clock_system();
    atomic_init(&sp->cancel, false);
    atomic_init(&sp->live.consumed, 0);
    atomic_init(&sp->live.written, 0);
    atomic_init(&sp->live.dropped, 0);
    atomic_init(&sp->live.errored, 0);
    return sp;
}

void agora_scheduled_pipeline_free(agora_scheduled_pipeline *sp)
{
    if (sp == NULL)
        return;
    if (sp->ctx_free != NULL)
        sp->ctx_free(sp->factory_ctx);
    free(sp->middlewares);
    agora_cron_free(sp->cron);
    for (size_t i = 0; i < AGORA_RUN_HISTORY; i++)
        free(sp->history[i].error);
    core_waiter_destroy(&sp->waiter);
    pthread_mutex_destroy(&sp->lock);
    free(sp);
}

const char *agora_scheduled_pipeline_id(const agora_scheduled_pipeline *sp)
{
    return sp != NULL ? sp->id : NULL;
}

void runner_scheduled_set_clock(agora_scheduled_pipeline *sp,
                                const core_clock *clock)
{
    sp->clock = clock != NULL ? clock : core_clock_system();
    core_waiter_set_clock(&sp->waiter, sp->clock);
}

/* ---- Recording runs ---------------------------------------------------- */

/* Adds one run's middleware counters to the cumulative ones, matched by name.
 * Caller holds sp->lock. A middleware that cannot be added for lack of memory
 * is left out of the cumulative counters. */
static void merge_middleware_stats(agora_scheduled_pipeline *sp,
                                   const agora_run_summary *summary)
{
    for (size_t i = 0; i < summary->middleware_count; i++) {
        const agora_middleware_stats *in = &summary->middlewares[i];
        agora_middleware_stats *acc = NULL;

        for (size_t j = 0; j < sp->middleware_count; j++) {
            if (strcmp(sp->middlewares[j].name, in->name) == 0) {
                acc = &sp->middlewares[j];
                break;
            }
        }
        if (acc == NULL) {
            if (sp->middleware_count == sp->middleware_cap) {
                size_t cap = sp->middleware_cap ? sp->middleware_cap * 2 : 4;
                agora_middleware_stats *grown =
                    realloc(sp->middlewares, cap * sizeof(*grown));
                if (grown == NULL)
                    continue;
                sp->middlewares = grown;
                sp->middleware_cap = cap;
            }
            acc = &sp->middlewares[sp->middleware_count++];
            memset(acc, 0, sizeof(*acc));
            snprintf(acc->name, sizeof(acc->name), "%s", in->name);
        }
        acc->in += in->in;
        acc->out += in->out;
        acc->dropped += in->dropped;
        acc->errored += in->errored;
        acc->total_time_ms += in->total_time_ms;
    }
}

/*
 * Stores a finished run in the statistics and the history. Caller holds
 * sp->lock. summary may be NULL when the factory failed. A canceled run
 * counts as failed when it returned an error and as successful otherwise.
 */
static void record_run(agora_scheduled_pipeline *sp, const runner_run_record *rec,
                       const agora_run_summary *summary, bool failed)
{
    history_entry *entry;
    size_t slot;

    sp->total_runs++;
    if (failed)
        sp->failed_runs++;
    else
        sp->successful_runs++;
    sp->records_consumed += rec->records_consumed;
    sp->records_written += rec->records_written;
    sp->records_dropped += rec->records_dropped;
    sp->records_errored += rec->records_errored;
    sp->last_run_at = rec->started_at;
    sp->last_run_duration_s = rec->elapsed_seconds;
    sp->last_run_throughput_rps =
        rec->elapsed_seconds > 0
            ? (double)rec->records_consumed / rec->elapsed_seconds
            : 0;
    if (failed)
        memcpy(sp->last_error, rec->error, sizeof(sp->last_error));
    if (summary != NULL)
        merge_middleware_stats(sp, summary);

    if (sp->history_count < AGORA_RUN_HISTORY) {
        slot = (sp->history_start + sp->history_count) % AGORA_RUN_HISTORY;
        sp->history_count++;
    } else {
        slot = sp->history_start;
        sp->history_start = (sp->history_start + 1) % AGORA_RUN_HISTORY;
    }
    entry = &sp->history[slot];
    free(entry->error);
    entry->number = rec->number;
    memcpy(entry->run_id, rec->run_id, sizeof(entry->run_id));
    entry->started_at = rec->started_at;
    entry->elapsed_seconds = rec->elapsed_seconds;
    entry->due_monotonic = rec->due_monotonic;
    entry->started_monotonic = rec->started_monotonic;
    entry->status = rec->status;
    entry->records_consumed = rec->records_consumed;
    entry->records_written = rec->records_written;
    entry->records_dropped = rec->records_dropped;
    entry->records_errored = rec->records_errored;
    /* Without memory the entry goes without its error text; last_error
     * still has it. */
    entry->error = rec->error[0] != '\0' ? strdup(rec->error) : NULL;
}

/*
 * Builds a bound pipeline, runs it once and records the outcome. due is the
 * monotonic time the schedule meant the run to start. Fills rec and returns
 * its status.
 */
static runner_run_status run_once(agora_scheduled_pipeline *sp,
                                  runner_run_record *rec, double due)
{
    agora_run_summary summary;
    agora_bound_pipeline *bp;
    agora_error err;
    double t0;
    int rc;

    memset(&summary, 0, sizeof(summary));
    memset(rec, 0, sizeof(*rec));
    rec->started_monotonic = core_clock_monotonic(sp->clock);
    rec->due_monotonic = due;
    agora_error_clear(&err);
    atomic_store_explicit(&sp->live.consumed, 0, memory_order_relaxed);
    atomic_store_explicit(&sp->live.written, 0, memory_order_relaxed);
    atomic_store_explicit(&sp->live.dropped, 0, memory_order_relaxed);
    atomic_store_explicit(&sp->live.errored, 0, memory_order_relaxed);

    /* The run id is chosen here and handed to the bound pipeline through
     * the summary, so every event of the run carries the same id. */
    agora_run_id_new(rec->run_id);
    pthread_mutex_lock(&sp->lock);
    sp->running = true;
    memcpy(sp->current_run_id, rec->run_id, sizeof(sp->current_run_id));
    rec->number = sp->total_runs + 1;
    pthread_mutex_unlock(&sp->lock);
    AGORA_INFO("runner", "run_started", sp->id, rec->run_id, "run %llu, schedule %s",
               (unsigned long long)rec->number, sp->schedule_text);
    rec->started_at = core_clock_wall(sp->clock);
    t0 = rec->started_monotonic;

    bp = sp->factory(sp->factory_ctx, &err);
    if (bp == NULL) {
        rc = err.code < 0 ? err.code : AGORA_EINVAL;
        if (err.message[0] == '\0')
            agora_error_set(&err, rc,
                            "the pipeline factory returned no pipeline and no "
                            "error message");
        else
            agora_error_prefix(&err, "cannot build the pipeline");
    } else {
        memcpy(summary.run_id, rec->run_id, sizeof(summary.run_id));
        rc = agora_bound_pipeline_run(bp, sp->max_records, &sp->cancel,
                                      &sp->live, &summary, &err);
        agora_bound_pipeline_free(bp);
        if (rc < 0 && err.message[0] == '\0')
            agora_error_set(&err, rc, "the run failed: %s", agora_strerror(rc));
        if (summary.started_at > 0)
            rec->started_at = summary.started_at;
        rec->records_consumed = summary.records_consumed;
        rec->records_written = summary.records_written;
        rec->records_dropped = summary.records_dropped;
        rec->records_errored = summary.records_errored;
    }
    rec->elapsed_seconds = core_clock_monotonic(sp->clock) - t0;
    if (rec->elapsed_seconds < 0)
        rec->elapsed_seconds = 0;

    if (rc == AGORA_ECANCELED && atomic_load(&sp->cancel))
        rec->status = RUNNER_RUN_CANCELED;
    else if (rc < 0)
        rec->status = RUNNER_RUN_FAILED;
    else if (atomic_load(&sp->cancel))
        rec->status = RUNNER_RUN_CANCELED;
    else
        rec->status = RUNNER_RUN_SUCCESS;
    if (rc < 0)
        agora_health_mask_error(err.message, rec->error);

    pthread_mutex_lock(&sp->lock);
    record_run(sp, rec, bp != NULL ? &summary : NULL, rc < 0);
    sp->running = false;
    pthread_mutex_unlock(&sp->lock);

    if (rec->status == RUNNER_RUN_FAILED) {
        AGORA_ERROR("runner", "run_failed", sp->id, rec->run_id,
                    "run %llu failed after %.3fs (consumed=%llu): %s",
                    (unsigned long long)rec->number, rec->elapsed_seconds,
                    (unsigned long long)rec->records_consumed, rec->error);
    } else {
        AGORA_INFO("runner", "run_finished", sp->id, rec->run_id,
                   "run %llu%s: consumed=%llu written=%llu dropped=%llu "
                   "errored=%llu elapsed=%.3fs rps=%.1f%s%s",
                   (unsigned long long)rec->number,
                   rec->status == RUNNER_RUN_CANCELED ? " canceled" : "",
                   (unsigned long long)rec->records_consumed,
                   (unsigned long long)rec->records_written,
                   (unsigned long long)rec->records_dropped,
                   (unsigned long long)rec->records_errored,
                   rec->elapsed_seconds,
                   rec->elapsed_seconds > 0
                       ? (double)rec->records_consumed / rec->elapsed_seconds
                       : 0.0,
                   rc < 0 ? ": " : "", rc < 0 ? rec->error : "");
    }
    agora_run_summary_clear(&summary);
    return rec->status;
}

/* ---- The loop ---------------------------------------------------------- */

/*
 * Cron: sets sp->next_fire to the first fire time strictly after the end of
 * the run described by rec (now), logs the ticks the run overran, and
 * stores in *due the monotonic time that fire time maps to.
 */
static int next_cron_due(agora_scheduled_pipeline *sp,
                         const runner_run_record *rec, double *due)
{
    double now = core_clock_monotonic(sp->clock);
    double wall = core_clock_wall(sp->clock);
    /* The run's start on the same clock; rec->started_at may come from the
     * bound pipeline's own clock. */
    double started_wall = wall - (now - rec->started_monotonic);
    int64_t missed;
    agora_error err;
    int rc;

    agora_error_clear(&err);
    rc = agora_cron_next(sp->cron, (int64_t)floor(wall), &sp->next_fire, &err);
    if (rc < 0) {
        AGORA_ERROR("runner", "cron_no_next_run", sp->id, rec->run_id,
                    "schedule %s: %s", sp->schedule_text, err.message);
        return rc;
    }
    /* A tick after the start of the run and not after its end was missed. */
    if (agora_cron_next(sp->cron, (int64_t)floor(started_wall), &missed,
                        &err) == 0 &&
        missed < sp->next_fire && (double)missed <= wall)
        AGORA_WARN("runner", "cron_ticks_skipped", sp->id, rec->run_id,
                   "run %llu took %.3fs and overran the tick at unix %lld; "
                   "next run at unix %lld",
                   (unsigned long long)rec->number, rec->elapsed_seconds,
                   (long long)missed, (long long)sp->next_fire);
    *due = now + ((double)sp->next_fire - wall);

    char when[32];
    time_t fire = (time_t)sp->next_fire;
    struct tm tm;
    gmtime_r(&fire, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    AGORA_INFO("runner", "next_run", sp->id, NULL, "next run at %s, schedule %s",
               when, sp->schedule_text);
    return 0;
}

/*
 * Computes in *due the monotonic time of the next run after the successful
 * run rec that has just ended: now for continuous, now + interval for every,
 * the next fire time for cron. Returns 0, or a negative code (logged) when
 * there is no next time.
 */
static int next_due(agora_scheduled_pipeline *sp, const runner_run_record *rec,
                    double *due)
{
    switch (sp->schedule.mode) {
    case AGORA_SCHEDULE_EVERY:
        *due = core_clock_monotonic(sp->clock) + sp->schedule.interval_seconds;
        return 0;
    case AGORA_SCHEDULE_CRON:
        return next_cron_due(sp, rec, due);
    default:
        *due = core_clock_monotonic(sp->clock);
        return 0;
    }
}

/*
 * Sleeps until the next run is due. Returns true when stopped. A cron wait
 * ends when the wall clock reaches the fire time, read again at least every
 * CRON_RESYNC_SECONDS; other waits end at due on the monotonic clock.
 */
static bool wait_until_due(agora_scheduled_pipeline *sp, double due)
{
    double left;

    if (sp->schedule.mode != AGORA_SCHEDULE_CRON)
        return core_waiter_sleep_until(&sp->waiter, due);
    while ((left = (double)sp->next_fire - core_clock_wall(sp->clock)) > 0) {
        if (core_waiter_sleep(&sp->waiter, fmin(left, CRON_RESYNC_SECONDS)))
            return true;
    }
    return core_waiter_is_interrupted(&sp->waiter);
}

int agora_scheduled_pipeline_run(agora_scheduled_pipeline *sp)
{
    runner_run_record *rec = NULL;
    const char *reason = "stop requested";
    unsigned failures = 0;
    bool stopped_on_errors = false;
    double due;
    int rc = 0;

    if (sp == NULL)
        return AGORA_EINVAL;
    pthread_mutex_lock(&sp->lock);
    if (sp->loop_active) {
        pthread_mutex_unlock(&sp->lock);
        AGORA_ERROR("runner", "pipeline_already_running", sp->id, NULL,
                    "agora_scheduled_pipeline_run was called while the "
                    "schedule loop of this pipeline is already running");
        return AGORA_ESTATE;
    }
    sp->loop_active = true;
    sp->stopped_on_errors = false;
    pthread_mutex_unlock(&sp->lock);

    /* The record is about 1 KiB; keep it off small thread stacks. */
    rec = malloc(sizeof(*rec));
    if (rec == NULL) {
        rc = AGORA_ENOMEM;
        reason = "out of memory";
        goto done;
    }

    AGORA_INFO("runner", "pipeline_started", sp->id, NULL,
               "schedule %s, max_records=%llu max_consecutive_errors=%u "
               "error_backoff_seconds=%g",
               sp->schedule_text, (unsigned long long)sp->max_records,
               sp->max_consecutive_errors, sp->error_backoff_seconds);

    due = core_clock_monotonic(sp->clock);
    for (;;) {
        runner_run_status status;
        double backoff;

        if (core_waiter_is_interrupted(&sp->waiter)) {
            reason = "stop requested";
            break;
        }

        status = run_once(sp, rec, due);
        if (status == RUNNER_RUN_CANCELED) {
            reason = "run canceled";
            break;
        }

        if (status == RUNNER_RUN_SUCCESS) {
            failures = 0;
            if (sp->schedule.mode == AGORA_SCHEDULE_ONCE) {
                reason = "schedule complete";
                break;
            }
            if (next_due(sp, rec, &due) < 0) {
                rc = AGORA_ESTATE;
                stopped_on_errors = true;
                reason = "no next fire time";
                break;
            }
            if (wait_until_due(sp, due)) {
                reason = "stop requested";
                break;
            }
            continue;
        }

        failures++;
        if (failures >= sp->max_consecutive_errors) {
            stopped_on_errors = true;
            reason = "max consecutive errors";
            rc = AGORA_ESTATE;
            break;
        }
        backoff = agora_backoff_seconds(sp->error_backoff_seconds, failures);
        AGORA_WARN("runner", "backoff", sp->id, rec->run_id,
                   "seconds=%g n=%u max_consecutive_errors=%u", backoff,
                   failures, sp->max_consecutive_errors);
        due = core_clock_monotonic(sp->clock) + backoff;
        if (core_waiter_sleep_until(&sp->waiter, due)) {
            reason = "stop requested";
            break;
        }
    }

done:
    pthread_mutex_lock(&sp->lock);
    sp->loop_active = false;
    sp->stopped_on_errors = stopped_on_errors;
    pthread_mutex_unlock(&sp->lock);

    if (stopped_on_errors)
        AGORA_ERROR("runner", "pipeline_stopped", sp->id, NULL,
                    "%s: %u consecutive failures", reason, failures);
    else
        AGORA_INFO("runner", "pipeline_stopped", sp->id, NULL, "%s", reason);
    free(rec);
    return rc;
}

void agora_scheduled_pipeline_stop(agora_scheduled_pipeline *sp)
{
    if (sp == NULL)
        return;
    core_waiter_interrupt(&sp->waiter);
}

void agora_scheduled_pipeline_cancel(agora_scheduled_pipeline *sp)
{
    if (sp == NULL)
        return;
    /* A cancelled pipeline must not start another run: with the flag still
     * set, that run would end at once, so cancel also stops the loop. */
    atomic_store(&sp->cancel, true);
    core_waiter_interrupt(&sp->waiter);
}

/* ---- Observing --------------------------------------------------------- */

void agora_scheduled_pipeline_snapshot(agora_scheduled_pipeline *sp,
                                       agora_pipeline_snapshot *out)
{
    if (out == NULL)
        return;
    memset(out, 0, sizeof(*out));
    if (sp == NULL)
        return;

    pthread_mutex_lock(&sp->lock);
    snprintf(out->pipeline_id, sizeof(out->pipeline_id), "%s", sp->id);
    snprintf(out->schedule, sizeof(out->schedule), "%s", sp->schedule_text);
    out->running = sp->running;
    out->active = sp->loop_active;
    out->stopped_on_errors = sp->stopped_on_errors;
    out->total_runs = sp->total_runs;
    out->successful_runs = sp->successful_runs;
    out->failed_runs = sp->failed_runs;
    out->records_consumed = sp->records_consumed;
    out->records_written = sp->records_written;
    out->records_dropped = sp->records_dropped;
    out->records_errored = sp->records_errored;
    out->last_run_at = sp->last_run_at;
    out->last_run_duration_s = sp->last_run_duration_s;
    out->last_run_throughput_rps = sp->last_run_throughput_rps;
    memcpy(out->last_error, sp->last_error, sizeof(out->last_error));
    if (sp->middleware_count > 0) {
        out->middlewares = malloc(sp->middleware_count * sizeof(*out->middlewares));
        /* Without memory the snapshot goes out without middleware counters. */
        if (out->middlewares != NULL) {
            memcpy(out->middlewares, sp->middlewares,
                   sp->middleware_count * sizeof(*out->middlewares));
            out->middleware_count = sp->middleware_count;
        }
    }
    if (sp->running) {
        out->live_consumed = atomic_load_explicit(&sp->live.consumed, memory_order_relaxed);
        out->live_written = atomic_load_explicit(&sp->live.written, memory_order_relaxed);
        out->live_dropped = atomic_load_explicit(&sp->live.dropped, memory_order_relaxed);
        out->live_errored = atomic_load_explicit(&sp->live.errored, memory_order_relaxed);
    }
    pthread_mutex_unlock(&sp->lock);
}

bool runner_scheduled_current_run(agora_scheduled_pipeline *sp,
                                  char run_id[AGORA_RUN_ID_LEN + 1])
{
    bool running;

    pthread_mutex_lock(&sp->lock);
    running = sp->running;
    if (running)
        memcpy(run_id, sp->current_run_id, AGORA_RUN_ID_LEN + 1);
    else
        run_id[0] = '\0';
    pthread_mutex_unlock(&sp->lock);
    return running;
}

size_t runner_scheduled_history_count(agora_scheduled_pipeline *sp)
{
    size_t count;

    pthread_mutex_lock(&sp->lock);
    count = sp->history_count;
    pthread_mutex_unlock(&sp->lock);
    return count;
}

bool runner_scheduled_history_get(agora_scheduled_pipeline *sp, size_t index,
                                  runner_run_record *out)
{
    bool found = false;

    pthread_mutex_lock(&sp->lock);
    if (index < sp->history_count) {
        const history_entry *entry =
            &sp->history[(sp->history_start + index) % AGORA_RUN_HISTORY];

        memset(out, 0, sizeof(*out));
        out->number = entry->number;
        memcpy(out->run_id, entry->run_id, sizeof(out->run_id));
        out->started_at = entry->started_at;
        out->elapsed_seconds = entry->elapsed_seconds;
        out->due_monotonic = entry->due_monotonic;
        out->started_monotonic = entry->started_monotonic;
        out->status = entry->status;
        out->records_consumed = entry->records_consumed;
        out->records_written = entry->records_written;
        out->records_dropped = entry->records_dropped;
        out->records_errored = entry->records_errored;
        if (entry->error != NULL)
            snprintf(out->error, sizeof(out->error), "%s", entry->error);
        found = true;
    }
    pthread_mutex_unlock(&sp->lock);
    return found;
}
