/*
 * Scheduler benchmark: many pipelines on a short `every` interval in one
 * worker pool. Each run reads one record from an in-memory source and
 * discards it, so the figures measure the scheduler, not the I/O.
 *
 * Reports, after the pool has run for the given time:
 *   - tick lateness: for every run after the first, its start minus (the end
 *     of the run before + the interval), from the run history the runner
 *     keeps (monotonic clock), as p50, p99 and max in milliseconds;
 *   - CPU time (user + system, getrusage) per second of wall time, in
 *     percent of one core;
 *   - peak RSS (ru_maxrss) of the process.
 *
 * Built by the scheduler_1000 scenario of bench/harness.py against the static
 * library; by hand from the repository root after scripts/build.sh:
 *
 *   gcc -std=c11 -O2 -D_GNU_SOURCE -Iinclude -Isrc bench/scheduler_1000.c \
 *       build/libagora.a $(pkg-config --libs libmicrohttpd sqlite3 \
 *       libpcre2-8) -lcsv -lpthread -lm -ldl -o /tmp/scheduler_1000
 *   /tmp/scheduler_1000 --pipelines 1000 --seconds 60
 *
 * Options: --pipelines N (1000), --seconds S (60), --interval S (1),
 * --stack-kib K (thread stack; 0 keeps the glibc default; default: the
 * pool's own).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "agora/log.h"
#include "agora/runner.h"
#include "runner/runner_internal.h"

/* ---- One-record source and discarding sink ------------------------------ */

static int one_open(void *state, agora_error *err)
{
    (void)err;
    *(int *)state = 0;
    return 0;
}

static int one_next(void *state, agora_batch *batch, agora_error *err)
{
    int *sent = state;
    agora_value *v;

    if (*sent)
        return 0;
    v = agora_value_int(batch->arena, 1);
    if (v == NULL || agora_batch_push(batch, v) < 0)
        return agora_error_set(err, AGORA_ENOMEM, "bench source: no memory");
    *sent = 1;
    return 1;
}

static void one_close(void *state)
{
    (void)state;
}

static void one_destroy(agora_source *self)
{
    free(self->state);
    free(self);
}

static int discard_open(void *state, agora_error *err)
{
    (void)state;
    (void)err;
    return 0;
}

static int discard_write(void *state, agora_value *const *records, size_t n,
                         agora_record_result *results, agora_arena *arena,
                         agora_error *err)
{
    (void)state;
    (void)records;
    (void)arena;
    (void)err;
    for (size_t i = 0; i < n; i++)
        results[i].error = NULL;
    return 0;
}

static int discard_flush(void *state, agora_error *err)
{
    (void)state;
    (void)err;
    return 0;
}

static void discard_close(void *state)
{
    (void)state;
}

static void discard_destroy(agora_sink *self)
{
    free(self);
}

/* factory ctx: the pipeline id, owned by the scheduled pipeline. */
static agora_bound_pipeline *build_trivial(void *ctx, agora_error *err)
{
    agora_source *src = calloc(1, sizeof(*src));
    agora_sink *sink = calloc(1, sizeof(*sink));
    int *state = calloc(1, sizeof(*state));
    agora_delivery delivery;
    agora_pipeline *p;

    if (src == NULL || sink == NULL || state == NULL) {
        free(src);
        free(sink);
        free(state);
        agora_error_set(err, AGORA_ENOMEM, "bench factory: no memory");
        return NULL;
    }
    src->name = "one";
    src->state = state;
    src->open = one_open;
    src->next_batch = one_next;
    src->close = one_close;
    src->destroy = one_destroy;
    sink->name = "discard";
    sink->open = discard_open;
    sink->write_batch = discard_write;
    sink->flush = discard_flush;
    sink->close = discard_close;
    sink->destroy = discard_destroy;

    p = agora_pipeline_new(src);
    if (p == NULL) {
        agora_source_free(src);
        agora_sink_free(sink);
        agora_error_set(err, AGORA_ENOMEM, "bench factory: no memory");
        return NULL;
    }
    if (agora_pipeline_add_sink(p, sink) < 0) {
        agora_pipeline_free(p);
        agora_error_set(err, AGORA_ENOMEM, "bench factory: no memory");
        return NULL;
    }
    memset(&delivery, 0, sizeof(delivery));
    snprintf(delivery.pipeline_id, sizeof(delivery.pipeline_id), "%s",
             (const char *)ctx);
    return agora_pipeline_build(p, &delivery, err);
}

/* ---- Timer that stops the pool ------------------------------------------ */

typedef struct stopper {
    agora_worker_pool *pool;
    double seconds;
} stopper;

static void *stopper_main(void *arg)
{
    stopper *st = arg;
    struct timespec ts;

    ts.tv_sec = (time_t)st->seconds;
    ts.tv_nsec = (long)((st->seconds - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    agora_worker_pool_stop(st->pool);
    return NULL;
}

/* ---- Measuring ---------------------------------------------------------- */

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_seconds(const struct rusage *ru)
{
    return (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 +
           (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted values (p in 0..100). */
static double percentile(const double *sorted, size_t n, double p)
{
    size_t rank;

    if (n == 0)
        return 0;
    rank = (size_t)((p / 100.0) * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

static void usage(void)
{
    fprintf(stderr, "usage: scheduler_1000 [--pipelines N] [--seconds S] "
                    "[--interval S] [--stack-kib K]\n");
}

int main(int argc, char **argv)
{
    long pipelines = 1000;
    double seconds = 60;
    double interval = 1;
    long stack_kib = -1; /* -1 = the pool's default */
    agora_worker_options wopts;
    agora_worker_pool *pool;
    struct rusage ru0;
    struct rusage ru1;
    agora_error err;
    pthread_t timer;
    stopper st;
    double *lateness = NULL;
    size_t samples = 0;
    size_t runs = 0;
    double wall0;
    double wall;
    int status = 1;
    int rc;

    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) {
            usage();
            return 2;
        }
        if (strcmp(argv[i], "--pipelines") == 0)
            pipelines = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--interval") == 0)
            interval = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--stack-kib") == 0)
            stack_kib = strtol(argv[++i], NULL, 10);
        else {
            usage();
            return 2;
        }
    }
    if (pipelines < 1 || !(seconds > 0) || !(interval > 0)) {
        usage();
        return 2;
    }

    agora_log_set_level(AGORA_LOG_WARN);
    memset(&wopts, 0, sizeof(wopts));
    wopts.graceful_shutdown_timeout = 10;
    pool = agora_worker_pool_new(&wopts, &err);
    if (pool == NULL) {
        fprintf(stderr, "scheduler_1000: %s\n", err.message);
        return 1;
    }
    if (stack_kib >= 0)
        runner_pool_set_thread_stack(pool, (size_t)stack_kib * 1024u);

    for (long i = 0; i < pipelines; i++) {
        agora_scheduled_options opts;
        agora_scheduled_pipeline *sp;
        char *id = malloc(32);

        if (id == NULL)
            goto cleanup;
        snprintf(id, 32, "p%04ld", i);
        memset(&opts, 0, sizeof(opts));
        opts.pipeline_id = id;
        if (agora_schedule_every(&opts.schedule, interval, &err) < 0) {
            free(id);
            fprintf(stderr, "scheduler_1000: %s\n", err.message);
            goto cleanup;
        }
        sp = agora_scheduled_pipeline_new(&opts, build_trivial, id, free, &err);
        if (sp == NULL) {
            free(id);
            fprintf(stderr, "scheduler_1000: %s\n", err.message);
            goto cleanup;
        }
        if (agora_worker_pool_register(pool, sp, &err) < 0) {
            agora_scheduled_pipeline_free(sp);
            fprintf(stderr, "scheduler_1000: %s\n", err.message);
            goto cleanup;
        }
    }

    st.pool = pool;
    st.seconds = seconds;
    getrusage(RUSAGE_SELF, &ru0);
    wall0 = now_seconds();
    if (pthread_create(&timer, NULL, stopper_main, &st) != 0) {
        fprintf(stderr, "scheduler_1000: cannot start the timer thread\n");
        goto cleanup;
    }
    rc = agora_worker_pool_run(pool, &err);
    wall = now_seconds() - wall0;
    getrusage(RUSAGE_SELF, &ru1);
    pthread_join(timer, NULL);
    if (rc < 0) {
        fprintf(stderr, "scheduler_1000: %s\n", err.message);
        goto cleanup;
    }

    lateness = malloc((size_t)pipelines * AGORA_RUN_HISTORY * sizeof(*lateness));
    if (lateness == NULL)
        goto cleanup;
    for (long i = 0; i < pipelines; i++) {
        agora_scheduled_pipeline *sp = agora_worker_pool_get(pool, (size_t)i);
        size_t count = runner_scheduled_history_count(sp);

        for (size_t j = 0; j < count; j++) {
            runner_run_record rec;

            if (!runner_scheduled_history_get(sp, j, &rec))
                continue;
            runs++;
            if (rec.number < 2) /* the first run has no run before it */
                continue;
            lateness[samples++] =
                (rec.started_monotonic - rec.due_monotonic) * 1000.0;
        }
    }
    qsort(lateness, samples, sizeof(*lateness), compare_doubles);

    fprintf(stderr,
            "scheduler_1000: %ld pipelines every %gs for %.1fs wall, "
            "%zu runs in the histories, %zu lateness samples, stack %s\n",
            pipelines, interval, wall, runs, samples,
            stack_kib < 0 ? "pool default" : stack_kib == 0 ? "glibc default"
                                                            : "set");
    printf("scenario=scheduler_1000 p50_ms=%.3f p99_ms=%.3f max_ms=%.3f "
           "cpu_pct=%.2f peak_rss_mb=%.1f\n",
           percentile(lateness, samples, 50), percentile(lateness, samples, 99),
           samples > 0 ? lateness[samples - 1] : 0.0,
           (cpu_seconds(&ru1) - cpu_seconds(&ru0)) / wall * 100.0,
           (double)ru1.ru_maxrss / 1024.0);
    status = samples > 0 ? 0 : 1;

cleanup:
    free(lateness);
    agora_worker_pool_free(pool);
    return status;
}
