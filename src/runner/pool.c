/*
 * Worker pool: runs every registered scheduled pipeline on its own thread,
 * serves the health endpoints and shuts down gracefully.
 *
 * agora_worker_pool_run is the coordinator, and it sleeps in poll(2) on a
 * self-pipe. Three kinds of writers wake it:
 *   - a pipeline thread whose schedule loop ended;
 *   - agora_worker_pool_stop, which is safe in a signal handler because it
 *     only increments an atomic counter and writes one byte;
 *   - with handle_signals, a dedicated thread that takes SIGINT/SIGTERM with
 *     sigwait and calls agora_worker_pool_stop.
 *
 * Shutdown, on the first stop request (the signal thread has logged
 * signal_received):
 *   1. log shutdown_started, state STOPPING, stop() every pipeline so that
 *      sleeping loops end at once (stop_requested per pipeline, with the
 *      run id of a run in flight), stop the health server;
 *   2. wait up to graceful_shutdown_timeout for the pipeline threads
 *      (shutdown_waiting per pipeline still running);
 *   3. if some are still running (or at once on a second stop request),
 *      log shutdown_timeout (or shutdown_canceled), cancel() every pipeline
 *      so runs end at their next batch boundary (cancel_requested per
 *      pipeline), and wait a grace of 5 s more;
 *   once every loop has ended, log shutdown_complete with elapsed_ms, the
 *   time from the first stop request to the end of the last loop;
 *   4. if threads are still stuck (a component blocks and never returns to
 *      the batch loop), log shutdown_abandoned and return AGORA_ECANCELED
 *      without joining them. The caller is expected to exit the process; the
 *      pool then refuses to free the memory those threads still use.
 */
#include "agora/runner.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agora/health.h"
#include "agora/log.h"
#include "core/clock.h"
#include "runner/runner_internal.h"

#define DEFAULT_SHUTDOWN_TIMEOUT_SECONDS 30.0
/* Default time given to canceled runs to reach a batch boundary. */
#define DEFAULT_SHUTDOWN_GRACE_SECONDS 5.0
/*
 * Stack size of each pipeline thread. The glibc default is the stack ulimit
 * (8 MiB on Debian), which costs no memory until touched but reserves 8 GiB
 * of address space for a thousand pipelines. The run path keeps large
 * objects on the heap, and its deepest use measured was 20 KiB (the
 * scheduler_1000 section of BENCHMARKS.md describes the measurement).
 */
#define DEFAULT_THREAD_STACK_BYTES (256u * 1024u)

typedef struct pool_worker {
    agora_worker_pool *pool;
    agora_scheduled_pipeline *sp;
    pthread_t thread;
    bool started;
    _Atomic bool done;
    int result; /* written before done is set */
    _Atomic long long ended_ns; /* monotonic time the loop ended */
} pool_worker;

struct agora_worker_pool {
    int health_port;
    char *health_host;
    char *health_auth_token;
    double graceful_shutdown_timeout;
    double shutdown_grace; /* seconds, after cancel */
    size_t thread_stack;   /* bytes for each pipeline thread */
    bool handle_signals;
    const core_clock *clock;

    pool_worker *workers;
    size_t count;
    size_t cap;

    bool ran;                     /* run() was called; the pool is single-use */
    _Atomic int state;            /* agora_pool_state */
    _Atomic double started_at;    /* Unix time, 0 before run() */
    _Atomic unsigned stop_requests;
    /* Monotonic time of the first stop request (the signal, for a signal),
     * 0 before. Nanoseconds in an integer: an atomic integer store is
     * lock-free and so safe in a signal handler. */
    _Atomic long long stop_requested_ns;
    _Atomic size_t workers_done;
    _Atomic bool abandoned;       /* run() returned with threads still running */
    int wake_pipe[2];             /* [0] read by the coordinator, non-blocking */

    pthread_t signal_thread;
    _Atomic bool signal_thread_exit;
};

/* ---- Creation and registration ----------------------------------------- */

static char *copy_string(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

agora_worker_pool *agora_worker_pool_new(const agora_worker_options *opts,
                                         agora_error *err)
{
    agora_worker_pool *pool;
    agora_worker_options defaults;

    agora_error_clear(err);
    if (opts == NULL) {
        memset(&defaults, 0, sizeof(defaults));
        opts = &defaults;
    }
    if (opts->health_port < 0 || opts->health_port > 65535) {
        agora_error_set_key(err, AGORA_EINVAL, "health_port",
                            "invalid health_port %d; use 1-65535, or 0 to "
                            "run without a health server",
                            opts->health_port);
        return NULL;
    }
    if (isnan(opts->graceful_shutdown_timeout) ||
        isinf(opts->graceful_shutdown_timeout)) {
        agora_error_set_key(err, AGORA_EINVAL, "graceful_shutdown_timeout",
                            "invalid graceful_shutdown_timeout %g; use a "
                            "finite number of seconds (<= 0 selects %g)",
                            opts->graceful_shutdown_timeout,
                            DEFAULT_SHUTDOWN_TIMEOUT_SECONDS);
        return NULL;
    }

    pool = calloc(1, sizeof(*pool));
    if (pool == NULL)
        goto nomem;
    pool->wake_pipe[0] = -1;
    pool->wake_pipe[1] = -1;
    pool->health_port = opts->health_port;
    pool->health_host = copy_string(opts->health_host != NULL ? opts->health_host
                                                              : "127.0.0.1");
    pool->health_auth_token = copy_string(opts->health_auth_token);
    if (pool->health_host == NULL ||
        (opts->health_auth_token != NULL && pool->health_auth_token == NULL))
        goto nomem;
    pool->graceful_shutdown_timeout = opts->graceful_shutdown_timeout > 0
                                          ? opts->graceful_shutdown_timeout
                                          : DEFAULT_SHUTDOWN_TIMEOUT_SECONDS;
    pool->shutdown_grace = DEFAULT_SHUTDOWN_GRACE_SECONDS;
    pool->thread_stack = DEFAULT_THREAD_STACK_BYTES;
    pool->handle_signals = opts->handle_signals;
    pool->clock = core_clock_system();
    atomic_init(&pool->state, AGORA_POOL_STARTING);
    atomic_init(&pool->started_at, 0.0);
    atomic_init(&pool->stop_requests, 0u);
    atomic_init(&pool->stop_requested_ns, 0);
    atomic_init(&pool->workers_done, 0);
    atomic_init(&pool->abandoned, false);
    atomic_init(&pool->signal_thread_exit, false);

    if (pipe2(pool->wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        agora_error_set(err, AGORA_EIO,
                        "cannot create the worker pool wake-up pipe: %s",
                        strerror(errno));
        agora_worker_pool_free(pool);
        return NULL;
    }
    return pool;

nomem:
    agora_worker_pool_free(pool);
    agora_error_set(err, AGORA_ENOMEM, "out of memory creating the worker pool");
    return NULL;
}

void agora_worker_pool_free(agora_worker_pool *pool)
{
    if (pool == NULL)
        return;
    if (atomic_load(&pool->abandoned)) {
        /* Threads that never ended still use the pipelines and the pipe. */
        AGORA_WARN("runner", "pool_free_skipped", NULL, NULL,
                   "the worker pool is not freed because pipeline threads "
                   "are still running after shutdown");
        return;
    }
    for (size_t i = 0; i < pool->count; i++)
        agora_scheduled_pipeline_free(pool->workers[i].sp);
    free(pool->workers);
    free(pool->health_host);
    free(pool->health_auth_token);
    if (pool->wake_pipe[0] >= 0)
        close(pool->wake_pipe[0]);
    if (pool->wake_pipe[1] >= 0)
        close(pool->wake_pipe[1]);
    free(pool);
}

int agora_worker_pool_register(agora_worker_pool *pool,
                               agora_scheduled_pipeline *sp, agora_error *err)
{
    const char *id;

    if (pool == NULL || sp == NULL)
        return agora_error_set(err, AGORA_EINVAL,
                               "agora_worker_pool_register: pool and pipeline "
                               "must not be NULL");
    if (pool->ran)
        return agora_error_set(err, AGORA_ESTATE,
                               "cannot register pipeline '%s': the worker pool "
                               "has already run",
                               agora_scheduled_pipeline_id(sp));
    id = agora_scheduled_pipeline_id(sp);
    for (size_t i = 0; i < pool->count; i++) {
        if (strcmp(agora_scheduled_pipeline_id(pool->workers[i].sp), id) == 0)
            return agora_error_set_key(err, AGORA_EINVAL, "id",
                                       "duplicate pipeline id '%s': each "
                                       "pipeline in a worker needs its own id",
                                       id);
    }
    if (pool->count == pool->cap) {
        size_t cap = pool->cap ? pool->cap * 2 : 8;
        pool_worker *grown = realloc(pool->workers, cap * sizeof(*grown));

        if (grown == NULL)
            return agora_error_set(err, AGORA_ENOMEM,
                                   "out of memory registering pipeline '%s'",
                                   id);
        pool->workers = grown;
        pool->cap = cap;
    }
    memset(&pool->workers[pool->count], 0, sizeof(pool->workers[0]));
    pool->workers[pool->count].pool = pool;
    pool->workers[pool->count].sp = sp;
    atomic_init(&pool->workers[pool->count].done, false);
    pool->count++;
    return 0;
}

size_t agora_worker_pool_size(const agora_worker_pool *pool)
{
    return pool != NULL ? pool->count : 0;
}

agora_scheduled_pipeline *agora_worker_pool_get(agora_worker_pool *pool,
                                                size_t index)
{
    if (pool == NULL || index >= pool->count)
        return NULL;
    return pool->workers[index].sp;
}

/* ---- Wake-ups and signals ---------------------------------------------- */

/* Async-signal-safe: write(2) only, errno preserved. A full pipe already
 * contains a pending wake-up, so EAGAIN is fine. */
static void pool_wake(agora_worker_pool *pool)
{
    int saved_errno = errno;
    ssize_t written = write(pool->wake_pipe[1], "x", 1);

    (void)written;
    errno = saved_errno;
}

static void drain_wake_pipe(agora_worker_pool *pool)
{
    char buf[64];

    while (read(pool->wake_pipe[0], buf, sizeof(buf)) > 0) {
    }
}

/* Monotonic time in nanoseconds; clock_gettime is async-signal-safe. */
static long long monotonic_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void agora_worker_pool_stop(agora_worker_pool *pool)
{
    long long none = 0;

    if (pool == NULL)
        return;
    (void)atomic_compare_exchange_strong(&pool->stop_requested_ns, &none,
                                         monotonic_ns());
    atomic_fetch_add(&pool->stop_requests, 1u);
    pool_wake(pool);
}

static void *signal_thread_main(void *arg)
{
    agora_worker_pool *pool = arg;
    unsigned requests;
    sigset_t set;
    int sig;

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    for (;;) {
        long long none = 0;

        if (sigwait(&set, &sig) != 0)
            continue;
        /* run() ends this thread by sending SIGTERM to it with the flag set. */
        if (atomic_load(&pool->signal_thread_exit))
            break;
        /* The shutdown time counts from the signal, so it is taken before
         * the log line that comes first in the log. */
        (void)atomic_compare_exchange_strong(&pool->stop_requested_ns, &none,
                                             monotonic_ns());
        requests = atomic_load(&pool->stop_requests) + 1;
        AGORA_INFO("runner", "signal_received", NULL, NULL,
                   "signal=%s stop_requests=%u%s",
                   sig == SIGINT ? "SIGINT" : "SIGTERM", requests,
                   requests > 1
                       ? " (a second request cancels runs in flight at once)"
                       : "");
        agora_worker_pool_stop(pool);
    }
    return NULL;
}

/* ---- Threads ----------------------------------------------------------- */

static void *worker_main(void *arg)
{
    pool_worker *worker = arg;

    worker->result = agora_scheduled_pipeline_run(worker->sp);
    atomic_store(&worker->ended_ns, monotonic_ns());
    atomic_store(&worker->done, true);
    atomic_fetch_add(&worker->pool->workers_done, 1);
    pool_wake(worker->pool);
    return NULL;
}

/*
 * Waits until every worker is done, a stop request beyond `requests` arrives,
 * or `seconds` pass (< 0 = no limit). Returns true when every worker is done.
 */
static bool wait_workers(agora_worker_pool *pool, double seconds,
                         unsigned requests)
{
    double deadline = core_clock_monotonic(pool->clock) + seconds;
    struct pollfd pfd = {.fd = pool->wake_pipe[0], .events = POLLIN};

    for (;;) {
        int timeout_ms = -1;

        drain_wake_pipe(pool);
        if (atomic_load(&pool->workers_done) == pool->count)
            return true;
        if (atomic_load(&pool->stop_requests) > requests)
            return false;
        if (seconds >= 0) {
            double left = deadline - core_clock_monotonic(pool->clock);

            if (left <= 0)
                return false;
            timeout_ms = (int)ceil(fmin(left, 3600.0) * 1000.0);
        }
        (void)poll(&pfd, 1, timeout_ms);
    }
}

static void join_done_workers(agora_worker_pool *pool)
{
    for (size_t i = 0; i < pool->count; i++) {
        pool_worker *worker = &pool->workers[i];

        if (worker->started && atomic_load(&worker->done)) {
            pthread_join(worker->thread, NULL);
            worker->started = false;
        }
    }
}

static size_t workers_left(agora_worker_pool *pool)
{
    return pool->count - atomic_load(&pool->workers_done);
}

/*
 * Logs one event per pipeline whose loop has not ended: with its run id when
 * a run is in flight. what is the event name, detail the message.
 */
static void log_pipelines_left(agora_worker_pool *pool, agora_log_level level,
                               const char *event, const char *detail)
{
    char run_id[AGORA_RUN_ID_LEN + 1];

    for (size_t i = 0; i < pool->count; i++) {
        pool_worker *worker = &pool->workers[i];
        bool running;

        if (!worker->started || atomic_load(&worker->done))
            continue;
        running = runner_scheduled_current_run(worker->sp, run_id);
        AGORA_LOG_AT(level, "runner", event, agora_scheduled_pipeline_id(worker->sp),
                  running ? run_id : NULL, "%s%s", detail,
                  running ? " (run in flight)" : "");
    }
}

/* Logs shutdown_complete with the time from the first stop request to the
 * end of the last pipeline loop. */
static void log_shutdown_complete(agora_worker_pool *pool)
{
    long long requested = atomic_load(&pool->stop_requested_ns);
    long long last = requested;

    for (size_t i = 0; i < pool->count; i++) {
        long long ended = atomic_load(&pool->workers[i].ended_ns);

        if (ended > last)
            last = ended;
    }
    AGORA_INFO("runner", "shutdown_complete", NULL, NULL,
               "elapsed_ms=%.3f pipelines=%zu", (double)(last - requested) / 1e6,
               pool->count);
}

/*
 * Stops every pipeline and waits for the threads as described at the top of
 * this file. Returns 0, or AGORA_ECANCELED when threads were abandoned.
 */
static int shut_down(agora_worker_pool *pool, agora_health_server **server,
                     agora_error *err)
{
    char detail[96];

    AGORA_INFO("runner", "shutdown_started", NULL, NULL,
               "pipeline_threads_left=%zu graceful_shutdown_timeout=%gs",
               workers_left(pool), pool->graceful_shutdown_timeout);
    atomic_store(&pool->state, AGORA_POOL_STOPPING);
    log_pipelines_left(pool, AGORA_LOG_INFO, "stop_requested",
                       "stop requested: waits end now, no new run starts");
    for (size_t i = 0; i < pool->count; i++)
        agora_scheduled_pipeline_stop(pool->workers[i].sp);
    agora_health_server_stop(*server);
    *server = NULL;

    if (workers_left(pool) > 0) {
        snprintf(detail, sizeof(detail),
                 "waiting up to %gs for the pipeline to end",
                 pool->graceful_shutdown_timeout);
        log_pipelines_left(pool, AGORA_LOG_INFO, "shutdown_waiting", detail);
    }
    if (wait_workers(pool, pool->graceful_shutdown_timeout, 1)) {
        log_shutdown_complete(pool);
        return 0;
    }

    if (atomic_load(&pool->stop_requests) > 1)
        AGORA_WARN("runner", "shutdown_canceled", NULL, NULL,
                   "second stop request: canceling now, pipeline_threads_left=%zu",
                   workers_left(pool));
    else
        AGORA_WARN("runner", "shutdown_timeout", NULL, NULL,
                   "graceful timeout of %gs passed, canceling: "
                   "pipeline_threads_left=%zu",
                   pool->graceful_shutdown_timeout, workers_left(pool));
    snprintf(detail, sizeof(detail),
             "cancel requested: the run ends at its next batch boundary, "
             "grace %gs", pool->shutdown_grace);
    log_pipelines_left(pool, AGORA_LOG_WARN, "cancel_requested", detail);
    for (size_t i = 0; i < pool->count; i++)
        agora_scheduled_pipeline_cancel(pool->workers[i].sp);

    if (wait_workers(pool, pool->shutdown_grace, UINT_MAX)) {
        log_shutdown_complete(pool);
        return 0;
    }

    atomic_store(&pool->abandoned, true);
    log_pipelines_left(pool, AGORA_LOG_ERROR, "pipeline_abandoned",
                       "did not end after cancel; left running");
    AGORA_ERROR("runner", "shutdown_abandoned", NULL, NULL,
                "pipelines did not end within %gs of being canceled, "
                "returning without them: pipeline_threads_left=%zu",
                pool->shutdown_grace, workers_left(pool));
    return agora_error_set(err, AGORA_ECANCELED,
                           "pipelines still running: %zu did not end within "
                           "%gs of the shutdown request, cancel included; a "
                           "source or sink is probably blocked. Exit the "
                           "process: checkpoints let the next start resume",
                           workers_left(pool),
                           pool->graceful_shutdown_timeout +
                               pool->shutdown_grace);
}

/* ---- Run --------------------------------------------------------------- */

static int snapshot_callback(void *ctx, agora_health_snapshot *out)
{
    return agora_worker_pool_snapshot(ctx, out);
}

int agora_worker_pool_run(agora_worker_pool *pool, agora_error *err)
{
    agora_health_server *server = NULL;
    agora_health_options health;
    sigset_t signals;
    sigset_t old_mask;
    pthread_attr_t attr;
    bool attr_ready = false;
    bool mask_changed = false;
    bool signal_thread_started = false;
    size_t started = 0;
    size_t stopped_on_errors = 0;
    int rc = 0;

    agora_error_clear(err);
    if (pool == NULL)
        return agora_error_set(err, AGORA_EINVAL,
                               "agora_worker_pool_run: pool must not be NULL");
    if (pool->ran)
        return agora_error_set(err, AGORA_ESTATE,
                               "the worker pool has already run; create a new "
                               "pool to run again");
    if (pool->count == 0)
        return agora_error_set(err, AGORA_EINVAL,
                               "the worker pool has no pipelines; register at "
                               "least one before running it");
    pool->ran = true;
    atomic_store(&pool->started_at, core_clock_wall(pool->clock));

    /* Threads inherit the mask, so blocking here before any thread starts
     * leaves the signals to sigwait alone. */
    if (pool->handle_signals) {
        sigemptyset(&signals);
        sigaddset(&signals, SIGINT);
        sigaddset(&signals, SIGTERM);
        if (pthread_sigmask(SIG_BLOCK, &signals, &old_mask) != 0) {
            rc = agora_error_set(err, AGORA_ESTATE,
                                 "cannot block SIGINT and SIGTERM");
            goto cleanup;
        }
        mask_changed = true;
        if (pthread_create(&pool->signal_thread, NULL, signal_thread_main,
                           pool) != 0) {
            rc = agora_error_set(err, AGORA_ENOMEM,
                                 "cannot start the signal handling thread");
            goto cleanup;
        }
        signal_thread_started = true;
    }

    if (pool->health_port != 0) {
        memset(&health, 0, sizeof(health));
        health.host = pool->health_host;
        health.port = pool->health_port;
        health.auth_token = pool->health_auth_token;
        server = agora_health_server_start(&health, snapshot_callback, pool,
                                           err);
        if (server == NULL) {
            if (err != NULL && err->code == 0)
                agora_error_set(err, AGORA_EHTTP,
                                "cannot start the health server on %s:%d",
                                pool->health_host, pool->health_port);
            rc = err != NULL ? err->code : AGORA_EHTTP;
            goto cleanup;
        }
    }

    if (server != NULL)
        AGORA_INFO("runner", "pool_started", NULL, NULL,
                   "pipelines=%zu health=%s:%d", pool->count, pool->health_host,
                   pool->health_port);
    else
        AGORA_INFO("runner", "pool_started", NULL, NULL,
                   "pipelines=%zu health=off", pool->count);
    if (pthread_attr_init(&attr) != 0) {
        rc = agora_error_set(err, AGORA_ENOMEM,
                             "cannot create pipeline thread attributes");
        goto cleanup;
    }
    attr_ready = true;
    if (pool->thread_stack > 0 &&
        pthread_attr_setstacksize(&attr, pool->thread_stack) != 0) {
        rc = agora_error_set(err, AGORA_EINVAL,
                             "invalid pipeline thread stack size %zu bytes",
                             pool->thread_stack);
        goto cleanup;
    }
    for (; started < pool->count; started++) {
        pool_worker *worker = &pool->workers[started];

        if (pthread_create(&worker->thread, &attr, worker_main, worker) != 0) {
            rc = agora_error_set(err, AGORA_ENOMEM,
                                 "cannot start a thread for pipeline '%s'; "
                                 "stopping the pipelines already started",
                                 agora_scheduled_pipeline_id(worker->sp));
            break;
        }
        worker->started = true;
    }
    if (rc < 0) {
        /* Pretend the threads that never started are done, then shut down
         * the ones that did. */
        atomic_fetch_add(&pool->workers_done, pool->count - started);
        agora_worker_pool_stop(pool);
    } else {
        atomic_store(&pool->state, AGORA_POOL_RUNNING);
    }

    if (!wait_workers(pool, -1, 0)) {
        int shutdown_rc = shut_down(pool, &server, err);

        if (rc == 0)
            rc = shutdown_rc;
    }
    join_done_workers(pool);

    for (size_t i = 0; i < pool->count; i++) {
        if (atomic_load(&pool->workers[i].done) &&
            pool->workers[i].result == AGORA_ESTATE)
            stopped_on_errors++;
    }
    if (rc == 0 && stopped_on_errors > 0)
        rc = agora_error_set(err, AGORA_ESTATE,
                             "%zu of %zu pipelines stopped after reaching "
                             "their max_consecutive_errors; see their "
                             "run_failed log lines",
                             stopped_on_errors, pool->count);
    AGORA_INFO("runner", "pool_stopped", NULL, NULL,
               "pipelines=%zu stopped_on_errors=%zu result=%s", pool->count,
               stopped_on_errors, rc == 0 ? "ok" : agora_err_name(rc));

cleanup:
    if (attr_ready)
        pthread_attr_destroy(&attr);
    atomic_store(&pool->state, AGORA_POOL_STOPPING);
    agora_health_server_stop(server);
    if (signal_thread_started) {
        atomic_store(&pool->signal_thread_exit, true);
        pthread_kill(pool->signal_thread, SIGTERM);
        pthread_join(pool->signal_thread, NULL);
    }
    /* NOTE: a SIGINT/SIGTERM that arrives between the end of the signal
     * thread and this point stays pending and takes its default action
     * (ending the process) once unblocked. */
    if (mask_changed)
        pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    return rc;
}

void runner_pool_set_thread_stack(agora_worker_pool *pool, size_t bytes)
{
    pool->thread_stack = bytes;
}

void runner_pool_set_shutdown_grace(agora_worker_pool *pool, double seconds)
{
    pool->shutdown_grace = seconds > 0 ? seconds : 0;
}

void runner_pool_join_abandoned(agora_worker_pool *pool)
{
    for (size_t i = 0; i < pool->count; i++) {
        pool_worker *worker = &pool->workers[i];

        if (worker->started) {
            pthread_join(worker->thread, NULL);
            worker->started = false;
        }
    }
    atomic_store(&pool->abandoned, false);
}

/* ---- Snapshot ---------------------------------------------------------- */

int agora_worker_pool_snapshot(agora_worker_pool *pool,
                               agora_health_snapshot *out)
{
    if (out == NULL)
        return AGORA_EINVAL;
    memset(out, 0, sizeof(*out));
    if (pool == NULL)
        return AGORA_EINVAL;

    out->pool_state = (agora_pool_state)atomic_load(&pool->state);
    out->started_at = atomic_load(&pool->started_at);
    out->now = core_clock_wall(pool->clock);
    out->pid = (long)getpid();
    if (pool->count == 0)
        return 0;

    out->pipelines = calloc(pool->count, sizeof(*out->pipelines));
    if (out->pipelines == NULL)
        return AGORA_ENOMEM;
    out->pipeline_count = pool->count;
    for (size_t i = 0; i < pool->count; i++)
        agora_scheduled_pipeline_snapshot(pool->workers[i].sp,
                                          &out->pipelines[i]);
    return 0;
}
