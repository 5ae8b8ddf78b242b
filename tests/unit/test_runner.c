/*
 * Tests of the runner: schedules, the scheduled pipeline loop (backoff,
 * consecutive errors, stop, cancel, history, statistics) and the worker pool
 * (finishing, stop requests, signals, snapshots).
 *
 * The pipelines are real bound pipelines built with the builder API from an
 * in-test integer source and a counting sink. Waits are kept tiny (0.01 s) or
 * are ended by stop(); a fake clock checks the exact wait sequence.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agora/log.h"
#include "agora/runner.h"
#include "core/clock.h"
#include "runner/runner_internal.h"

/* ---- In-test source and sink ------------------------------------------- */

/* A gate that blocking sources wait on, so a test can hang a run in a
 * component and release it later. */
static pthread_mutex_t gate_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_open = true;

static void gate_set(bool open)
{
    pthread_mutex_lock(&gate_mutex);
    gate_open = open;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_mutex);
}

static void gate_pass(void)
{
    pthread_mutex_lock(&gate_mutex);
    while (!gate_open)
        pthread_cond_wait(&gate_cond, &gate_mutex);
    pthread_mutex_unlock(&gate_mutex);
}

typedef struct int_source {
    int64_t next;
    int64_t total;
    bool endless;   /* never reports the end of input */
    bool fail_open; /* open fails, so the run fails */
    bool blocking;  /* next_batch waits at the gate first */
} int_source;

static int int_source_open(void *state, agora_error *err)
{
    int_source *s = state;

    if (s->fail_open)
        return agora_error_set(err, AGORA_ESOURCE,
                               "test source failed to open: password=hunter2");
    return 0;
}

static int int_source_next(void *state, agora_batch *batch, agora_error *err)
{
    int_source *s = state;
    int added = 0;

    if (s->blocking)
        gate_pass();
    while (batch->count < batch->cap && (s->endless || s->next < s->total)) {
        agora_value *v = agora_value_int(batch->arena, s->next);

        if (v == NULL)
            return agora_error_set(err, AGORA_ENOMEM, "test source: no memory");
        if (agora_batch_push(batch, v) < 0)
            break;
        s->next++;
        added++;
    }
    return added;
}

static void int_source_close(void *state)
{
    (void)state;
}

static void int_source_destroy(agora_source *self)
{
    free(self->state);
    free(self);
}

static agora_source *int_source_new(int64_t total, bool endless,
                                    bool fail_open, bool blocking)
{
    agora_source *src = calloc(1, sizeof(*src));
    int_source *s = calloc(1, sizeof(*s));

    assert_non_null(src);
    assert_non_null(s);
    s->total = total;
    s->endless = endless;
    s->fail_open = fail_open;
    s->blocking = blocking;
    src->name = "test_ints";
    src->state = s;
    src->open = int_source_open;
    src->next_batch = int_source_next;
    src->close = int_source_close;
    src->destroy = int_source_destroy;
    return src;
}

static int count_sink_open(void *state, agora_error *err)
{
    (void)state;
    (void)err;
    return 0;
}

static int count_sink_write(void *state, agora_value *const *records, size_t n,
                            agora_record_result *results, agora_arena *arena,
                            agora_error *err)
{
    _Atomic uint64_t *written = state;

    (void)records;
    (void)arena;
    (void)err;
    for (size_t i = 0; i < n; i++)
        results[i].error = NULL;
    atomic_fetch_add(written, n);
    return 0;
}

static int count_sink_flush(void *state, agora_error *err)
{
    (void)state;
    (void)err;
    return 0;
}

static void count_sink_close(void *state)
{
    (void)state;
}

static void count_sink_destroy(agora_sink *self)
{
    free(self);
}

static agora_sink *count_sink_new(_Atomic uint64_t *written)
{
    agora_sink *sink = calloc(1, sizeof(*sink));

    assert_non_null(sink);
    sink->name = "test_count";
    sink->state = (void *)written;
    sink->open = count_sink_open;
    sink->write_batch = count_sink_write;
    sink->flush = count_sink_flush;
    sink->close = count_sink_close;
    sink->destroy = count_sink_destroy;
    return sink;
}

static bool keep_even(const agora_value *record, void *ctx)
{
    (void)ctx;
    return record->type == AGORA_INT && record->u.integer % 2 == 0;
}

/* ---- Fake clock ---------------------------------------------------------- */

/* Advances its time to each deadline at once and records the wait. */
typedef struct fake_clock fake_clock;
struct fake_clock {
    core_clock clock;
    double now;
    double waits[64];
    size_t wait_count;
};

static double fake_monotonic(void *ctx)
{
    return ((fake_clock *)ctx)->now;
}

static double fake_wall(void *ctx)
{
    return 1700000000.0 + ((fake_clock *)ctx)->now;
}

static void fake_wait_until(void *ctx, pthread_cond_t *cond,
                            pthread_mutex_t *mutex, double deadline)
{
    fake_clock *fc = ctx;

    (void)cond;
    (void)mutex;
    if (fc->wait_count < 64)
        fc->waits[fc->wait_count++] = deadline - fc->now;
    if (deadline > fc->now)
        fc->now = deadline;
}

static double fake_clock_now(fake_clock *fc)
{
    return fc->now;
}

static void fake_clock_advance(fake_clock *fc, double seconds)
{
    fc->now += seconds;
}

static void fake_clock_init(fake_clock *fc)
{
    memset(fc, 0, sizeof(*fc));
    fc->clock.monotonic = fake_monotonic;
    fc->clock.wall = fake_wall;
    fc->clock.wait_until = fake_wait_until;
    fc->clock.ctx = fc;
    fc->now = 1000.0;
}

/* ---- Factory that fails on demand --------------------------------------- */

/*
 * Outcome of each factory call, one character per call: 'S' builds a working
 * pipeline, 'F' makes the factory fail, 'R' builds a pipeline whose source
 * fails to open so the run fails. Past the end, the last character repeats.
 */
typedef struct test_factory {
    const char *pattern;
    int64_t records; /* per run */
    bool endless;
    bool blocking;
    bool with_filter;
    unsigned stop_at_call; /* > 0: stop() the pipeline during this call */
    agora_scheduled_pipeline *sp;
    /* With a fake clock: each call records the clock's time in call_times,
     * then advances the clock by run_seconds, as if the run took that long. */
    struct fake_clock *clock;
    double run_seconds;
    double call_times[16];
    _Atomic unsigned calls;
    _Atomic uint64_t written;
} test_factory;

static agora_bound_pipeline *test_factory_build(void *ctx, agora_error *err)
{
    test_factory *tf = ctx;
    unsigned call = atomic_fetch_add(&tf->calls, 1) + 1;
    size_t len = strlen(tf->pattern);
    char outcome = tf->pattern[call - 1 < len ? call - 1 : len - 1];
    agora_delivery delivery;
    agora_pipeline *p;

    if (tf->clock != NULL) {
        if (call <= 16)
            tf->call_times[call - 1] = fake_clock_now(tf->clock);
        fake_clock_advance(tf->clock, tf->run_seconds);
    }
    if (tf->stop_at_call > 0 && call == tf->stop_at_call)
        agora_scheduled_pipeline_stop(tf->sp);
    if (outcome == 'F') {
        agora_error_set(err, AGORA_ECONFIG,
                        "test factory failed on call %u as requested", call);
        return NULL;
    }

    p = agora_pipeline_new(int_source_new(tf->records, tf->endless,
                                          outcome == 'R', tf->blocking));
    if (p == NULL)
        return NULL;
    if (tf->with_filter && agora_pipeline_filter(p, keep_even, NULL, "evens") < 0) {
        agora_pipeline_free(p);
        return NULL;
    }
    if (agora_pipeline_add_sink(p, count_sink_new(&tf->written)) < 0) {
        agora_pipeline_free(p);
        return NULL;
    }
    memset(&delivery, 0, sizeof(delivery));
    delivery.batch_size = 4;
    snprintf(delivery.pipeline_id, sizeof(delivery.pipeline_id), "test");
    return agora_pipeline_build(p, &delivery, err);
}

static void test_factory_init(test_factory *tf, const char *pattern,
                              int64_t records)
{
    memset(tf, 0, sizeof(*tf));
    tf->pattern = pattern;
    tf->records = records;
    atomic_init(&tf->calls, 0);
    atomic_init(&tf->written, 0);
}

static agora_scheduled_pipeline *new_scheduled(const char *id,
                                               agora_schedule schedule,
                                               unsigned max_errors,
                                               test_factory *tf)
{
    agora_scheduled_options opts;
    agora_scheduled_pipeline *sp;
    agora_error err;

    memset(&opts, 0, sizeof(opts));
    opts.pipeline_id = id;
    opts.schedule = schedule;
    opts.max_consecutive_errors = max_errors;
    opts.error_backoff_seconds = 0.01;
    sp = agora_scheduled_pipeline_new(&opts, test_factory_build, tf, NULL, &err);
    if (sp == NULL)
        fail_msg("agora_scheduled_pipeline_new: %s", err.message);
    tf->sp = sp;
    return sp;
}

static agora_schedule every(double seconds)
{
    agora_schedule s;
    agora_error err;

    if (agora_schedule_every(&s, seconds, &err) < 0)
        fail_msg("agora_schedule_every: %s", err.message);
    return s;
}

/* ---- Helpers for threads ------------------------------------------------- */

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

typedef struct loop_thread {
    agora_scheduled_pipeline *sp;
    int rc;
} loop_thread;

static void *loop_thread_main(void *arg)
{
    loop_thread *lt = arg;

    lt->rc = agora_scheduled_pipeline_run(lt->sp);
    return NULL;
}

/* Waits (at most about 20 s) until sp has finished at least `runs` runs. */
static bool wait_for_runs(agora_scheduled_pipeline *sp, uint64_t runs)
{
    for (int i = 0; i < 20000; i++) {
        agora_pipeline_snapshot snap;
        uint64_t total;

        agora_scheduled_pipeline_snapshot(sp, &snap);
        total = snap.total_runs;
        free(snap.middlewares);
        if (total >= runs)
            return true;
        sleep_ms(1);
    }
    return false;
}

/* Waits (at most about 20 s) until sp has a run in progress. */
static bool wait_for_running(agora_scheduled_pipeline *sp)
{
    for (int i = 0; i < 20000; i++) {
        agora_pipeline_snapshot snap;
        bool running;

        agora_scheduled_pipeline_snapshot(sp, &snap);
        running = snap.running;
        free(snap.middlewares);
        if (running)
            return true;
        sleep_ms(1);
    }
    return false;
}

static agora_pipeline_snapshot snapshot_of(agora_scheduled_pipeline *sp)
{
    agora_pipeline_snapshot snap;

    agora_scheduled_pipeline_snapshot(sp, &snap);
    return snap;
}

/* ---- Schedules and backoff ---------------------------------------------- */

static void runner_backoff_doubles_to_cap(void **state)
{
    (void)state;
    /* 60 * 2^(n-1), capped at 600: 60, 120, 240, 480, 960 -> 600, 600. */
    assert_true(agora_backoff_seconds(60, 1) == 60.0);
    assert_true(agora_backoff_seconds(60, 2) == 120.0);
    assert_true(agora_backoff_seconds(60, 3) == 240.0);
    assert_true(agora_backoff_seconds(60, 4) == 480.0);
    assert_true(agora_backoff_seconds(60, 5) == 600.0);
    assert_true(agora_backoff_seconds(60, 6) == 600.0);
    assert_true(agora_backoff_seconds(60, 4000000000u) == 600.0);
    /* 0.01 * 2^2 = 0.04 */
    assert_true(agora_backoff_seconds(0.01, 3) == 0.04);
}

static void runner_schedule_describe_forms(void **state)
{
    char buf[AGORA_SCHEDULE_TEXT_MAX];
    agora_schedule s;

    (void)state;
    agora_schedule_describe((s = every(21600), &s), buf, sizeof(buf));
    assert_string_equal(buf, "every 21600.0s");
    agora_schedule_describe((s = every(0.01), &s), buf, sizeof(buf));
    assert_string_equal(buf, "every 0.01s");
    agora_schedule_describe((s = every(1.5), &s), buf, sizeof(buf));
    assert_string_equal(buf, "every 1.5s");
    agora_schedule_describe((s = agora_schedule_once(), &s), buf, sizeof(buf));
    assert_string_equal(buf, "once");
    agora_schedule_describe((s = agora_schedule_continuous(), &s), buf,
                            sizeof(buf));
    assert_string_equal(buf, "continuous");
    memset(&s, 0, sizeof(s));
    s.mode = AGORA_SCHEDULE_CRON;
    snprintf(s.expression, sizeof(s.expression), "0 */6 * * *");
    agora_schedule_describe(&s, buf, sizeof(buf));
    assert_string_equal(buf, "cron('0 */6 * * *')");
}

static void runner_schedule_every_rejects_nonpositive(void **state)
{
    agora_schedule s;
    agora_error err;

    (void)state;
    assert_int_equal(agora_schedule_every(&s, 0, &err), AGORA_EINVAL);
    assert_non_null(strstr(err.message, "interval"));
    assert_int_equal(agora_schedule_every(&s, -5, &err), AGORA_EINVAL);
    assert_int_equal(agora_schedule_every(&s, 0.5, &err), 0);
    assert_int_equal(s.mode, AGORA_SCHEDULE_EVERY);
    assert_true(s.interval_seconds == 0.5);
}

static agora_schedule cron(const char *expression, const char *tz)
{
    agora_schedule s;
    agora_error err;

    if (agora_schedule_cron(&s, expression, tz, &err) < 0)
        fail_msg("agora_schedule_cron: %s", err.message);
    return s;
}

static void runner_cron_rejects_bad_expression(void **state)
{
    agora_scheduled_options opts;
    agora_error err;
    test_factory tf;

    (void)state;
    test_factory_init(&tf, "S", 1);
    memset(&opts, 0, sizeof(opts));
    opts.pipeline_id = "nightly";
    opts.schedule.mode = AGORA_SCHEDULE_CRON;
    snprintf(opts.schedule.expression, sizeof(opts.schedule.expression),
             "61 3 * * *");
    assert_null(agora_scheduled_pipeline_new(&opts, test_factory_build, &tf,
                                             NULL, &err));
    assert_int_equal(err.code, AGORA_EINVAL);
    assert_non_null(strstr(err.message, "nightly"));
    assert_non_null(strstr(err.message, "61"));
    assert_int_equal(atomic_load(&tf.calls), 0);
}

static void runner_new_rejects_bad_options(void **state)
{
    agora_scheduled_options opts;
    agora_error err;
    test_factory tf;

    (void)state;
    test_factory_init(&tf, "S", 1);
    memset(&opts, 0, sizeof(opts));
    opts.schedule = agora_schedule_once();
    assert_null(agora_scheduled_pipeline_new(&opts, test_factory_build, &tf,
                                             NULL, &err));
    assert_int_equal(err.code, AGORA_EINVAL);

    opts.pipeline_id = "p";
    assert_null(agora_scheduled_pipeline_new(&opts, NULL, &tf, NULL, &err));
    assert_int_equal(err.code, AGORA_EINVAL);

    opts.schedule.mode = AGORA_SCHEDULE_EVERY;
    opts.schedule.interval_seconds = 0;
    assert_null(agora_scheduled_pipeline_new(&opts, test_factory_build, &tf,
                                             NULL, &err));
    assert_int_equal(err.code, AGORA_EINVAL);
}

/* ---- Scheduled pipeline loop -------------------------------------------- */

static void runner_once_runs_exactly_once(void **state)
{
    agora_scheduled_pipeline *sp;
    agora_pipeline_snapshot snap;
    runner_run_record rec;
    test_factory tf;

    (void)state;
    test_factory_init(&tf, "S", 10);
    sp = new_scheduled("once", agora_schedule_once(), 0, &tf);
    assert_int_equal(agora_scheduled_pipeline_run(sp), 0);

    assert_int_equal(atomic_load(&tf.calls), 1);
    assert_int_equal(atomic_load(&tf.written), 10);
    snap = snapshot_of(sp);
    assert_string_equal(snap.pipeline_id, "once");
    assert_string_equal(snap.schedule, "once");
    assert_int_equal(snap.total_runs, 1);
    assert_int_equal(snap.successful_runs, 1);
    assert_int_equal(snap.failed_runs, 0);
    assert_int_equal(snap.records_consumed, 10);
    assert_int_equal(snap.records_written, 10);
    assert_false(snap.running);
    assert_false(snap.active);
    assert_false(snap.stopped_on_errors);
    assert_true(snap.last_run_at > 0);
    assert_string_equal(snap.last_error, "");
    free(snap.middlewares);

    assert_int_equal(runner_scheduled_history_count(sp), 1);
    assert_true(runner_scheduled_history_get(sp, 0, &rec));
    assert_int_equal(rec.number, 1);
    assert_int_equal(rec.status, RUNNER_RUN_SUCCESS);
    assert_int_equal(rec.records_written, 10);
    assert_int_equal(strlen(rec.run_id), AGORA_RUN_ID_LEN);
    assert_false(runner_scheduled_history_get(sp, 1, &rec));
    agora_scheduled_pipeline_free(sp);
}

static void runner_max_errors_stops_loop(void **state)
{
    agora_scheduled_pipeline *sp;
    agora_pipeline_snapshot snap;
    test_factory tf;

    (void)state;
    test_factory_init(&tf, "F", 5);
    sp = new_scheduled("failing", every(0.01), 3, &tf);
    assert_int_equal(agora_scheduled_pipeline_run(sp), AGORA_ESTATE);

    assert_int_equal(atomic_load(&tf.calls), 3);
    snap = snapshot_of(sp);
    assert_int_equal(snap.total_runs, 3);
    assert_int_equal(snap.failed_runs, 3);
    assert_int_equal(snap.successful_runs, 0);
    assert_true(snap.stopped_on_errors);
    assert_false(snap.active);
    assert_non_null(strstr(snap.last_error, "failed on call 3"));
    free(snap.middlewares);
    agora_scheduled_pipeline_free(sp);
}

static void runner_run_error_counts_as_failure(void **state)
{
    agora_scheduled_pipeline *sp;
    agora_pipeline_snapshot snap;
    runner_run_record rec;
    test_factory tf;

    (void)state;
    test_factory_init(&tf, "R", 5);
    sp = new_scheduled("broken_source", agora_schedule_continuous(), 2, &tf);
    assert_int_equal(agora_scheduled_pipeline_run(sp), AGORA_ESTATE);

    assert_int_equal(atomic_load(&tf.calls), 2);
    snap = snapshot_of(sp);
    assert_int_equal(snap.failed_runs, 2);
    assert_non_null(strstr(snap.last_error, "failed to open"));
    /* The secret in the source's message is masked. */
    assert_null(strstr(snap.last_error, "hunter2"));
    free(snap.middlewares);
    assert_true(runner_scheduled_history_get(sp, 1, &rec));
    assert_int_equal(rec.status, RUNNER_RUN_FAILED);
    assert_int_equal(rec.number, 2);
    assert_non_null(strstr(rec.error, "failed to open"));
    assert_null(strstr(rec.error, "hunter2"));
    assert_true(runner_scheduled_history_get(sp, 0, &rec));
    assert_non_null(strstr(rec.error, "failed to open"));
    agora_scheduled_pipeline_free(sp);
}

static void runner_success_resets_failures(void **state)
{
    agora_scheduled_pipeline *sp;
    agora_pipeline_snapshot snap;
    test_factory tf;

    (void)state;
    /* Never three failures in a row; with max 3 the loop ends only by stop(),
     * which the factory requests during its 7th call. Without the reset the
     * 4th call would be the 3rd failure. */
    test_factory_init(&tf, "FFSFFSS", 3);
    tf.stop_at_call = 7;
    sp = new_scheduled("flaky", agora_schedule_continuous(), 3, &tf);
    assert_int_equal(agora_scheduled_pipeline_run(sp), 0);

    assert_int_equal(atomic_load(&tf.calls), 7);
    snap = snapshot_of(sp);
    assert_int_equal(snap.total_runs, 7);
    assert_int_equal(snap.failed_runs, 4);
    assert_int_equal(snap.successful_runs, 3);
    assert_false(snap.stopped_on_errors);
    /* last_error keeps the last failure although later runs succeeded. */
    assert_non_null(strstr(snap.last_error, "failed on call 5"));
    free(snap.middlewares);
    agora_scheduled_pipeline_free(sp);
}

static void runner_backoff_waits_follow_formula(void **state)
{
    agora_scheduled_pipeline *sp;
    agora_scheduled_options opts;
    agora_error err;
    fake_clock fc;
    test_factory tf;

    (void)state;
    fake_clock_init(&fc);
    test_factory_init(&tf, "F", 1);
    memset(&opts, 0, sizeof(opts));
    opts.pipeline_id = "backoff";
    opts.schedule = every(3600);
    opts.max_consecutive_errors = 7;
    opts.error_backoff_seconds = 60;
    sp = agora_scheduled_pipeline_new(&opts, test_factory_build, &tf, NULL, &err);
    assert_non_null(sp);
    runner_scheduled_set_clock(sp, &fc.clock);

    assert_int_equal(agora_scheduled_pipeline_run(sp), AGORA_ESTATE);
    /* Seven failures, a backoff after each of the first six, and no interval
     * wait on top of a backoff: 60 * 2^(n-1) capped at 600. */
    assert_int_equal(atomic_load(&tf.calls), 7);
    assert_int_equal(fc.wait_count, 6);
    assert_true(fc.waits[0] == 60.0);
    assert_true(fc.waits[1] == 120.0);
    assert_true(fc.waits[2] == 240.0);
    assert_true(fc.waits[3] == 480.0);
    assert_true(fc.waits[4] == 600.0);
    assert_true(fc.waits[5] == 600.0);
    agora_scheduled_pipeline_free(sp);
}

static void runner_every_waits_interval_after_success(void **state)
{
    agora_scheduled_pipeline *sp;
    agora_scheduled_options opts;
    agora_error err;
    fake_clock fc;
    test_factory tf;

    (void)state;
    fake_clock_init(&fc);
    /* success, failure, success, success (stop requested in the 4th call) */
    test_factory_init(&tf, "SFSS", 2);
    tf.stop_at_call = 4;
    memset(&opts, 0, sizeof(opts));
    opts.pipeline_id = "hourly";
    opts.schedule = every(3600);
    opts.error_backoff_seconds = 60;
    sp = agora_scheduled_pipeline_new(&opts, test_factory_build, &tf, NULL, &err);
    assert_non_null(sp);
    tf.sp = sp;
    runner_scheduled_set_clock(sp, &fc.clock);

    assert_int_equal(agora_scheduled_pipeline_run(sp), 0);
    assert_int_equal(atomic_load(&tf.calls), 4);
    /* interval, backoff (then the next run at once), interval; the stop
     * requested during the last run skips the final wait. */
    assert_int_equal(fc.wait_count, 3);
    assert_true(fc.waits[0] == 3600.0);
    assert_true(fc.waits[1] == 60.0);
    assert_true(fc.waits[2] == 3600.0);
    agora_scheduled_pipeline_free(sp);
}


/* Creates a scheduled pipeline on fake clock fc whose runs take run_seconds
 * of fake time each. */
static agora_scheduled_pipeline *new_timed(const char *id, agora_schedule schedule,
                                           double backoff, fake_clock *fc,
                                           double run_seconds, test_factory *tf)
{
    agora_scheduled_options opts;
    agora_scheduled_pipeline *sp;
    agora_error err;

    memset(&opts, 0, sizeof(opts));
    opts.pipeline_id = id;
    opts.schedule = schedule;
    opts.error_backoff_seconds = backoff;
    sp = agora_scheduled_pipeline_new(&opts, test_factory_build, tf, NULL, &err);
    if (sp == NULL)
        fail_msg("agora_scheduled_pipeline_new: %s", err.message);
    tf->sp = sp;
    tf->clock = fc;
    tf->run_seconds = run_seconds;
    runner_scheduled_set_clock(sp, &fc->clock);
    return sp;
}

static void runner_first_run_is_immediate(void **state)
{
    agora_schedule schedules[4];
    const char *names[4] = {"every", "continuous", "once", "cron"};

    (void)state;
    schedules[0] = every(3600);
    schedules[1] = agora_schedule_continuous();
    schedules[2] = agora_schedule_once();
    /* Next fire 03:00 UTC, 4.5 hours after the fake clock's 22:30. */
    schedules[3] = cron("0 3 * * *", NULL);
    for (int i = 0; i < 4; i++) {
        agora_scheduled_pipeline *sp;
        fake_clock fc;
        test_factory tf;

        fake_clock_init(&fc);
        test_factory_init(&tf, "S", 1);
        tf.stop_at_call = 1;
        sp = new_timed(names[i], schedules[i], 60, &fc, 0, &tf);
        assert_int_equal(agora_scheduled_pipeline_run(sp), 0);
        assert_int_equal(atomic_load(&tf.calls), 1);
        /* The fake clock starts at 1000 and only waits move it. */
        assert_true(tf.call_times[0] == 1000.0);
        assert_int_equal(fc.wait_count, 0);
        agora_scheduled_pipeline_free(sp);
    }
}

static void runner_every_interval_counts_from_run_end(void **state)
{
    agora_scheduled_pipeline *sp;
    runner_run_record rec;
    fake_clock fc;
    test_factory tf;

    (void)state;
    fake_clock_init(&fc);
    test_factory_init(&tf, "S", 1);
    tf.stop_at_call = 3;
    /* Runs of 7 s every 10 s: starts at 1000, 1000 + 7 + 10, 1017 + 17. */
    sp = new_timed("every10", every(10), 60, &fc, 7, &tf);
    assert_int_equal(agora_scheduled_pipeline_run(sp), 0);
    assert_int_equal(atomic_load(&tf.calls), 3);
    assert_true(tf.call_times[0] == 1000.0);
    assert_true(tf.call_times[1] == 1017.0);
    assert_true(tf.call_times[2] == 1034.0);
    assert_int_equal(fc.wait_count, 2);
    assert_true(fc.waits[0] == 10.0);
    assert_true(fc.waits[1] == 10.0);

    /* The history tells when each run was due and when it started. */
    assert_true(runner_scheduled_history_get(sp, 0, &rec));
    assert_true(rec.due_monotonic == 1000.0);
    assert_true(rec.started_monotonic == 1000.0);
    assert_true(rec.elapsed_seconds == 7.0);
    assert_true(runner_scheduled_history_get(sp, 1, &rec));
    assert_true(rec.due_monotonic == 1017.0);
    assert_true(rec.started_monotonic == 1017.0);
    agora_scheduled_pipeline_free(sp);
}

static void runner_backoff_restarts_after_success(void **state)
{
    agora_scheduled_pipeline *sp;
    fake_clock fc;
    test_factory tf;

    (void)state;
    fake_clock_init(&fc);
    /* fail, fail, succeed, fail, succeed; instant runs, every hour,
     * backoff base 60. */
    test_factory_init(&tf, "FFSFS", 1);
    tf.stop_at_call = 5;
    sp = new_timed("recovering", every(3600), 60, &fc, 0, &tf);
    assert_int_equal(agora_scheduled_pipeline_run(sp), 0);
    assert_int_equal(atomic_load(&tf.calls), 5);
    /* Backoffs 60 and 120, the interval after the success, then 60 again:
     * the success reset the failure count. */
    assert_int_equal(fc.wait_count, 4);
    assert_true(fc.waits[0] == 60.0);
    assert_true(fc.waits[1] == 120.0);
    assert_true(fc.waits[2] == 3600.0);
    assert_true(fc.waits[3] == 60.0);
    assert_true(tf.call_times[1] == 1060.0);
    assert_true(tf.call_times[2] == 1180.0);
    assert_true(tf.call_times[3] == 4780.0);
    assert_true(tf.call_times[4] == 4840.0);
    agora_scheduled_pipeline_free(sp);
}

/*
 * The fake wall clock reads 1700000000 + 1000 = 2023-11-14 22:30:00 UTC at
 * the start, on a five-minute tick. Expected fire times were checked with
 * python3-croniter: after 22:30:00 comes 22:35:00 (fake 1300), after
 * 22:42:00 comes 22:45:00 (1900), after 22:57:00 comes 23:00:00 (2800).
 */
static void runner_cron_next_tick_strictly_after_run(void **state)
{
    agora_scheduled_pipeline *sp;
    runner_run_record rec;
    fake_clock fc;
    test_factory tf;

    (void)state;
    fake_clock_init(&fc);
    test_factory_init(&tf, "S", 1);
    tf.stop_at_call = 3;
    /* Instant runs: the run at 22:30:00 ends at 22:30:00, and the tick it
     * ended on does not count again. */
    sp = new_timed("five_min", cron("*/5 * * * *", NULL), 60, &fc, 0, &tf);
    assert_int_equal(agora_scheduled_pipeline_run(sp), 0);
    assert_int_equal(atomic_load(&tf.calls), 3);
    assert_true(tf.call_times[0] == 1000.0);
    assert_true(tf.call_times[1] == 1300.0);
    assert_true(tf.call_times[2] == 1600.0);
    assert_true(runner_scheduled_history_get(sp, 1, &rec));
    assert_true(rec.due_monotonic == 1300.0);
    assert_true(rec.started_monotonic == 1300.0);
    agora_scheduled_pipeline_free(sp);
}

static void runner_cron_skips_missed_ticks(void **state)
{
    agora_scheduled_pipeline *sp;
    char text[8192];
    size_t len;
    FILE *log;
    fake_clock fc;
    test_factory tf;

    (void)state;
    fake_clock_init(&fc);
    test_factory_init(&tf, "S", 1);
    tf.stop_at_call = 3;
    /* Runs of 12 minutes on a five-minute schedule: the run from 22:30 to
     * 22:42 overruns the ticks 22:35 and 22:40, which are skipped; the next
     * run starts at 22:45, and after it ends at 22:57 the next at 23:00. */
    sp = new_timed("overrun", cron("*/5 * * * *", NULL), 60, &fc, 720, &tf);
    log = tmpfile();
    assert_non_null(log);
    agora_log_set_fd(fileno(log));
    assert_int_equal(agora_scheduled_pipeline_run(sp), 0);
    agora_log_set_fd(2);
    assert_int_equal(atomic_load(&tf.calls), 3);
    assert_true(tf.call_times[0] == 1000.0);
    assert_true(tf.call_times[1] == 1900.0);
    assert_true(tf.call_times[2] == 2800.0);

    /* The skip is logged with the first missed tick, 22:35:00 UTC. */
    rewind(log);
    len = fread(text, 1, sizeof(text) - 1, log);
    text[len] = '\0';
    fclose(log);
    assert_non_null(strstr(text, "event=cron_ticks_skipped pipeline_id=overrun"));
    assert_non_null(strstr(text, "tick at unix 1700001300"));
    agora_scheduled_pipeline_free(sp);
}

static void runner_cron_uses_timezone(void **state)
{
    agora_scheduled_pipeline *sp;
    fake_clock fc;
    test_factory tf;

    (void)state;
    if (access("/usr/share/zoneinfo/America/New_York", R_OK) != 0) {
        printf("skipped: no tz database entry for America/New_York\n");
        skip();
    }
    fake_clock_init(&fc);
    test_factory_init(&tf, "S", 1);
    tf.stop_at_call = 3;
    /* 03:00 in New York (EST, UTC-5) is 08:00 UTC: 2023-11-15 08:00 is
     * fake 35200, the next day's 121600 (python3-croniter agrees). */
    sp = new_timed("ny", cron("0 3 * * *", "America/New_York"), 60, &fc, 0, &tf);
    assert_int_equal(agora_scheduled_pipeline_run(sp), 0);
    assert_int_equal(atomic_load(&tf.calls), 3);
    assert_true(tf.call_times[0] == 1000.0);
    assert_true(tf.call_times[1] == 35200.0);
    assert_true(tf.call_times[2] == 121600.0);
    agora_scheduled_pipeline_free(sp);
}

static void runner_stop_ends_cron_wait(void **state)
{
    agora_scheduled_pipeline *sp;
    loop_thread lt;
    pthread_t thread;
    test_factory tf;

    (void)state;
    test_factory_init(&tf, "S", 3);
    /* Once a year: the loop sleeps on the real clock until stop(). */
    sp = new_scheduled("yearly", cron("0 0 1 1 *", NULL), 0, &tf);
    lt.sp = sp;
    lt.rc = -100;
    assert_int_equal(pthread_create(&thread, NULL, loop_thread_main, &lt), 0);
    assert_true(wait_for_runs(sp, 1));
    agora_scheduled_pipeline_stop(sp);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(lt.rc, 0);
    assert_int_equal(atomic_load(&tf.calls), 1);
    agora_scheduled_pipeline_free(sp);
}

static void runner_once_retries_after_failure(void **state)
{
    agora_scheduled_pipeline *sp;
    agora_pipeline_snapshot snap;
    test_factory tf;

    (void)state;
    test_factory_init(&tf, "FRS", 4);
    sp = new_scheduled("retry_once", agora_schedule_once(), 5, &tf);
    assert_int_equal(agora_scheduled_pipeline_run(sp), 0);
    assert_int_equal(atomic_load(&tf.calls), 3);
    snap = snapshot_of(sp);
    assert_int_equal(snap.successful_runs, 1);
    assert_int_equal(snap.failed_runs, 2);
    free(snap.middlewares);
    agora_scheduled_pipeline_free(sp);
}

static void runner_stop_ends_every_wait(void **state)
{
    agora_scheduled_pipeline *sp;
    loop_thread lt;
    pthread_t thread;
    test_factory tf;

    (void)state;
    test_factory_init(&tf, "S", 3);
    sp = new_scheduled("hourly", every(3600), 0, &tf);
    lt.sp = sp;
    lt.rc = -100;
    assert_int_equal(pthread_create(&thread, NULL, loop_thread_main, &lt), 0);
    assert_true(wait_for_runs(sp, 1));
    /* The loop now sleeps for an hour; stop() must end that sleep. */
    agora_scheduled_pipeline_stop(sp);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(lt.rc, 0);
    assert_int_equal(atomic_load(&tf.calls), 1);
    agora_scheduled_pipeline_free(sp);
}

static void runner_stop_ends_backoff_wait(void **state)
{
    agora_scheduled_pipeline *sp;
    agora_scheduled_options opts;
    agora_error err;
    loop_thread lt;
    pthread_t thread;
    test_factory tf;

    (void)state;
    test_factory_init(&tf, "F", 3);
    memset(&opts, 0, sizeof(opts));
    opts.pipeline_id = "slow_backoff";
    opts.schedule = agora_schedule_continuous();
    opts.error_backoff_seconds = 3600;
    sp = agora_scheduled_pipeline_new(&opts, test_factory_build, &tf, NULL, &err);
    assert_non_null(sp);
    lt.sp = sp;
    lt.rc = -100;
    assert_int_equal(pthread_create(&thread, NULL, loop_thread_main, &lt), 0);
    assert_true(wait_for_runs(sp, 1));
    agora_scheduled_pipeline_stop(sp);
    assert_int_equal(pthread_join(thread, NULL), 0);
    /* Stopped by request, not by errors. */
    assert_int_equal(lt.rc, 0);
    assert_int_equal(atomic_load(&tf.calls), 1);
    agora_scheduled_pipeline_free(sp);
}

static void runner_cancel_ends_endless_run(void **state)
{
    agora_scheduled_pipeline *sp;
    agora_pipeline_snapshot snap;
    runner_run_record rec;
    loop_thread lt;
    pthread_t thread;
    test_factory tf;

    (void)state;
    test_factory_init(&tf, "S", 0);
    tf.endless = true;
    sp = new_scheduled("endless", agora_schedule_continuous(), 0, &tf);
    lt.sp = sp;
    lt.rc = -100;
    assert_int_equal(pthread_create(&thread, NULL, loop_thread_main, &lt), 0);
    assert_true(wait_for_running(sp));
    agora_scheduled_pipeline_cancel(sp);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(lt.rc, 0);
    assert_int_equal(atomic_load(&tf.calls), 1);
    snap = snapshot_of(sp);
    assert_int_equal(snap.total_runs, 1);
    assert_false(snap.running);
    free(snap.middlewares);
    assert_true(runner_scheduled_history_get(sp, 0, &rec));
    assert_int_equal(rec.status, RUNNER_RUN_CANCELED);
    agora_scheduled_pipeline_free(sp);
}

static void runner_history_keeps_last_100(void **state)
{
    agora_scheduled_pipeline *sp;
    runner_run_record rec;
    test_factory tf;

    (void)state;
    test_factory_init(&tf, "S", 1);
    tf.stop_at_call = 105;
    sp = new_scheduled("busy", agora_schedule_continuous(), 0, &tf);
    assert_int_equal(agora_scheduled_pipeline_run(sp), 0);
    assert_int_equal(atomic_load(&tf.calls), 105);

    assert_int_equal(runner_scheduled_history_count(sp), AGORA_RUN_HISTORY);
    assert_true(runner_scheduled_history_get(sp, 0, &rec));
    assert_int_equal(rec.number, 6);
    assert_true(runner_scheduled_history_get(sp, 99, &rec));
    assert_int_equal(rec.number, 105);
    assert_false(runner_scheduled_history_get(sp, 100, &rec));
    agora_scheduled_pipeline_free(sp);
}

static void runner_middleware_stats_accumulate(void **state)
{
    agora_scheduled_pipeline *sp;
    agora_pipeline_snapshot snap;
    test_factory tf;

    (void)state;
    /* Two runs of 10 records (0..9) through a filter keeping the 5 evens. */
    test_factory_init(&tf, "S", 10);
    tf.with_filter = true;
    tf.stop_at_call = 2;
    sp = new_scheduled("filtered", agora_schedule_continuous(), 0, &tf);
    assert_int_equal(agora_scheduled_pipeline_run(sp), 0);

    snap = snapshot_of(sp);
    assert_int_equal(snap.total_runs, 2);
    assert_int_equal(snap.records_consumed, 20);
    assert_int_equal(snap.records_written, 10);
    assert_int_equal(snap.records_dropped, 10);
    assert_int_equal(snap.middleware_count, 1);
    assert_non_null(snap.middlewares);
    assert_string_equal(snap.middlewares[0].name, "evens");
    assert_int_equal(snap.middlewares[0].in, 20);
    assert_int_equal(snap.middlewares[0].out, 10);
    assert_int_equal(snap.middlewares[0].dropped, 10);
    assert_int_equal(snap.middlewares[0].errored, 0);
    free(snap.middlewares);
    agora_scheduled_pipeline_free(sp);
}

static void runner_logs_loop_events(void **state)
{
    agora_scheduled_pipeline *sp;
    test_factory tf;
    char text[16384];
    size_t len;
    FILE *log;

    (void)state;
    log = tmpfile();
    assert_non_null(log);
    agora_log_set_fd(fileno(log));
    agora_log_set_level(AGORA_LOG_INFO);
    test_factory_init(&tf, "SF", 2);
    sp = new_scheduled("logged", agora_schedule_continuous(), 1, &tf);
    assert_int_equal(agora_scheduled_pipeline_run(sp), AGORA_ESTATE);
    agora_log_set_level(AGORA_LOG_WARN);
    agora_log_set_fd(2);

    rewind(log);
    len = fread(text, 1, sizeof(text) - 1, log);
    text[len] = '\0';
    fclose(log);
    assert_non_null(strstr(text, "event=pipeline_started"));
    assert_non_null(strstr(text, "event=run_started"));
    assert_non_null(strstr(text, "event=run_finished"));
    assert_non_null(strstr(text, "event=run_failed"));
    assert_non_null(strstr(text, "event=pipeline_stopped"));
    assert_non_null(strstr(text, "pipeline_id=logged"));
    assert_non_null(strstr(text, "run_id="));
    agora_scheduled_pipeline_free(sp);
}

static void runner_run_twice_concurrently_rejected(void **state)
{
    agora_scheduled_pipeline *sp;
    loop_thread lt;
    pthread_t thread;
    test_factory tf;

    (void)state;
    test_factory_init(&tf, "S", 1);
    sp = new_scheduled("single", every(3600), 0, &tf);
    lt.sp = sp;
    lt.rc = -100;
    assert_int_equal(pthread_create(&thread, NULL, loop_thread_main, &lt), 0);
    assert_true(wait_for_runs(sp, 1));
    assert_int_equal(agora_scheduled_pipeline_run(sp), AGORA_ESTATE);
    agora_scheduled_pipeline_stop(sp);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(lt.rc, 0);
    agora_scheduled_pipeline_free(sp);
}

/* ---- Worker pool --------------------------------------------------------- */

static agora_worker_pool *new_pool(double shutdown_timeout, bool signals)
{
    agora_worker_options opts;
    agora_worker_pool *pool;
    agora_error err;

    memset(&opts, 0, sizeof(opts));
    opts.graceful_shutdown_timeout = shutdown_timeout;
    opts.handle_signals = signals;
    pool = agora_worker_pool_new(&opts, &err);
    if (pool == NULL)
        fail_msg("agora_worker_pool_new: %s", err.message);
    return pool;
}

static void register_ok(agora_worker_pool *pool, agora_scheduled_pipeline *sp)
{
    agora_error err;

    if (agora_worker_pool_register(pool, sp, &err) != 0)
        fail_msg("agora_worker_pool_register: %s", err.message);
}

static void runner_pool_rejects_duplicate_id(void **state)
{
    agora_worker_pool *pool;
    agora_scheduled_pipeline *a;
    agora_scheduled_pipeline *b;
    agora_error err;
    test_factory tf;

    (void)state;
    test_factory_init(&tf, "S", 1);
    pool = new_pool(0, false);
    a = new_scheduled("same", agora_schedule_once(), 0, &tf);
    b = new_scheduled("same", agora_schedule_once(), 0, &tf);
    register_ok(pool, a);
    assert_int_equal(agora_worker_pool_register(pool, b, &err), AGORA_EINVAL);
    assert_non_null(strstr(err.message, "duplicate pipeline id 'same'"));
    assert_int_equal(agora_worker_pool_size(pool), 1);
    assert_ptr_equal(agora_worker_pool_get(pool, 0), a);
    assert_null(agora_worker_pool_get(pool, 1));
    /* A rejected pipeline stays with the caller. */
    agora_scheduled_pipeline_free(b);
    agora_worker_pool_free(pool);
}

static void runner_pool_returns_when_all_once(void **state)
{
    agora_worker_pool *pool;
    agora_health_snapshot snap;
    agora_error err;
    test_factory tf[3];
    const char *ids[3] = {"a", "b", "c"};

    (void)state;
    pool = new_pool(0, false);
    for (int i = 0; i < 3; i++) {
        test_factory_init(&tf[i], "S", 5 + i);
        register_ok(pool, new_scheduled(ids[i], agora_schedule_once(), 0, &tf[i]));
    }
    assert_int_equal(agora_worker_pool_run(pool, &err), 0);

    for (int i = 0; i < 3; i++) {
        assert_int_equal(atomic_load(&tf[i].calls), 1);
        assert_int_equal(atomic_load(&tf[i].written), 5 + i);
    }
    assert_int_equal(agora_worker_pool_snapshot(pool, &snap), 0);
    assert_int_equal(snap.pipeline_count, 3);
    assert_int_equal(snap.pid, (long)getpid());
    assert_true(snap.started_at > 0);
    assert_true(snap.now >= snap.started_at);
    assert_string_equal(snap.pipelines[1].pipeline_id, "b");
    assert_int_equal(snap.pipelines[2].records_written, 7);
    assert_int_equal(snap.pipelines[0].total_runs, 1);
    for (size_t i = 0; i < snap.pipeline_count; i++)
        free(snap.pipelines[i].middlewares);
    free(snap.pipelines);

    /* A pool runs once. */
    assert_int_equal(agora_worker_pool_run(pool, &err), AGORA_ESTATE);
    agora_worker_pool_free(pool);
}

typedef struct pool_stopper {
    agora_worker_pool *pool;
    agora_scheduled_pipeline *wait_for[2];
    size_t wait_count;
    bool wait_running; /* wait for a run in progress instead of a finished one */
    int requests;      /* agora_worker_pool_stop calls, or SIGTERMs */
    bool use_signal;
} pool_stopper;

static void *pool_stopper_main(void *arg)
{
    pool_stopper *ps = arg;

    for (size_t i = 0; i < ps->wait_count; i++) {
        if (ps->wait_running)
            (void)wait_for_running(ps->wait_for[i]);
        else
            (void)wait_for_runs(ps->wait_for[i], 1);
    }
    for (int i = 0; i < ps->requests; i++) {
        if (ps->use_signal)
            kill(getpid(), SIGTERM);
        else
            agora_worker_pool_stop(ps->pool);
        /* Let the pool see the first request on its own. */
        if (i + 1 < ps->requests)
            sleep_ms(50);
    }
    return NULL;
}

static void runner_pool_stop_ends_every_pipelines(void **state)
{
    agora_worker_pool *pool;
    agora_error err;
    pool_stopper ps;
    pthread_t thread;
    test_factory tf[2];

    (void)state;
    pool = new_pool(0, false);
    test_factory_init(&tf[0], "S", 3);
    test_factory_init(&tf[1], "S", 4);
    memset(&ps, 0, sizeof(ps));
    ps.pool = pool;
    ps.wait_for[0] = new_scheduled("hourly1", every(3600), 0, &tf[0]);
    ps.wait_for[1] = new_scheduled("hourly2", every(3600), 0, &tf[1]);
    ps.wait_count = 2;
    ps.requests = 1;
    register_ok(pool, ps.wait_for[0]);
    register_ok(pool, ps.wait_for[1]);

    assert_int_equal(pthread_create(&thread, NULL, pool_stopper_main, &ps), 0);
    assert_int_equal(agora_worker_pool_run(pool, &err), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(atomic_load(&tf[0].calls), 1);
    assert_int_equal(atomic_load(&tf[1].calls), 1);
    agora_worker_pool_free(pool);
}

static void runner_pool_reports_stopped_on_errors(void **state)
{
    agora_health_snapshot snap;
    agora_worker_pool *pool;
    agora_error err;
    test_factory ok;
    test_factory bad;

    (void)state;
    pool = new_pool(0, false);
    test_factory_init(&ok, "S", 2);
    test_factory_init(&bad, "F", 2);
    register_ok(pool, new_scheduled("good", agora_schedule_once(), 0, &ok));
    register_ok(pool, new_scheduled("bad", every(0.01), 2, &bad));
    assert_int_equal(agora_worker_pool_run(pool, &err), AGORA_ESTATE);
    assert_non_null(strstr(err.message, "1 of 2 pipelines"));
    assert_int_equal(atomic_load(&ok.calls), 1);
    assert_int_equal(atomic_load(&bad.calls), 2);

    /* The health snapshot tells which pipeline gave up. */
    assert_int_equal(agora_worker_pool_snapshot(pool, &snap), 0);
    assert_int_equal(snap.pipeline_count, 2);
    assert_string_equal(snap.pipelines[1].pipeline_id, "bad");
    assert_true(snap.pipelines[1].stopped_on_errors);
    assert_false(snap.pipelines[1].active);
    assert_int_equal(snap.pipelines[1].failed_runs, 2);
    assert_false(snap.pipelines[0].stopped_on_errors);
    for (size_t i = 0; i < snap.pipeline_count; i++)
        free(snap.pipelines[i].middlewares);
    free(snap.pipelines);
    agora_worker_pool_free(pool);
}

static void runner_pool_timeout_cancels_runs(void **state)
{
    agora_worker_pool *pool;
    agora_error err;
    pool_stopper ps;
    pthread_t thread;
    test_factory tf;

    (void)state;
    /* The endless run ignores stop(); after the 0.05 s graceful timeout the
     * pool cancels it. */
    pool = new_pool(0.05, false);
    test_factory_init(&tf, "S", 0);
    tf.endless = true;
    memset(&ps, 0, sizeof(ps));
    ps.pool = pool;
    ps.wait_for[0] = new_scheduled("endless", agora_schedule_continuous(), 0, &tf);
    ps.wait_count = 1;
    ps.wait_running = true;
    ps.requests = 1;
    register_ok(pool, ps.wait_for[0]);

    assert_int_equal(pthread_create(&thread, NULL, pool_stopper_main, &ps), 0);
    assert_int_equal(agora_worker_pool_run(pool, &err), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(atomic_load(&tf.calls), 1);
    agora_worker_pool_free(pool);
}

static void runner_pool_second_stop_cancels_at_once(void **state)
{
    agora_worker_pool *pool;
    agora_error err;
    pool_stopper ps;
    pthread_t thread;
    test_factory tf;

    (void)state;
    /* With an hour of graceful timeout, only the second request can end the
     * endless run in time for this test to return. */
    pool = new_pool(3600, false);
    test_factory_init(&tf, "S", 0);
    tf.endless = true;
    memset(&ps, 0, sizeof(ps));
    ps.pool = pool;
    ps.wait_for[0] = new_scheduled("endless", agora_schedule_continuous(), 0, &tf);
    ps.wait_count = 1;
    ps.wait_running = true;
    ps.requests = 2;
    register_ok(pool, ps.wait_for[0]);

    assert_int_equal(pthread_create(&thread, NULL, pool_stopper_main, &ps), 0);
    assert_int_equal(agora_worker_pool_run(pool, &err), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    agora_worker_pool_free(pool);
}

static void runner_pool_abandons_blocked_run(void **state)
{
    agora_worker_pool *pool;
    agora_error err;
    pool_stopper ps;
    pthread_t thread;
    test_factory tf;

    (void)state;
    /* The source blocks inside next_batch, where neither stop() nor cancel()
     * reaches it, so the pool gives up after the timeout and the grace. */
    gate_set(false);
    pool = new_pool(0.01, false);
    runner_pool_set_shutdown_grace(pool, 0.01);
    test_factory_init(&tf, "S", 0);
    tf.endless = true;
    tf.blocking = true;
    memset(&ps, 0, sizeof(ps));
    ps.pool = pool;
    ps.wait_for[0] = new_scheduled("stuck", agora_schedule_continuous(), 0, &tf);
    ps.wait_count = 1;
    ps.wait_running = true;
    ps.requests = 1;
    register_ok(pool, ps.wait_for[0]);

    assert_int_equal(pthread_create(&thread, NULL, pool_stopper_main, &ps), 0);
    assert_int_equal(agora_worker_pool_run(pool, &err), AGORA_ECANCELED);
    assert_non_null(strstr(err.message, "probably blocked"));
    assert_int_equal(pthread_join(thread, NULL), 0);

    /* Release the source: the canceled run ends at its next batch boundary. */
    gate_set(true);
    runner_pool_join_abandoned(pool);
    assert_int_equal(atomic_load(&tf.calls), 1);
    agora_worker_pool_free(pool);
}

static void runner_pool_sigterm_shuts_down(void **state)
{
    agora_worker_pool *pool;
    agora_error err;
    pool_stopper ps;
    pthread_t thread;
    sigset_t set;
    sigset_t old;
    test_factory tf;

    (void)state;
    /* The stopper thread must not take SIGTERM itself: it inherits this
     * mask, so only the pool's sigwait thread receives the signal. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    assert_int_equal(pthread_sigmask(SIG_BLOCK, &set, &old), 0);

    pool = new_pool(0, true);
    test_factory_init(&tf, "S", 3);
    memset(&ps, 0, sizeof(ps));
    ps.pool = pool;
    ps.wait_for[0] = new_scheduled("hourly", every(3600), 0, &tf);
    ps.wait_count = 1;
    ps.requests = 1;
    ps.use_signal = true;
    register_ok(pool, ps.wait_for[0]);

    assert_int_equal(pthread_create(&thread, NULL, pool_stopper_main, &ps), 0);
    assert_int_equal(agora_worker_pool_run(pool, &err), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(atomic_load(&tf.calls), 1);
    agora_worker_pool_free(pool);
    assert_int_equal(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
}

static void runner_pool_rejects_empty_and_bad_port(void **state)
{
    agora_worker_options opts;
    agora_worker_pool *pool;
    agora_error err;

    (void)state;
    pool = new_pool(0, false);
    assert_int_equal(agora_worker_pool_run(pool, &err), AGORA_EINVAL);
    assert_non_null(strstr(err.message, "no pipelines"));
    agora_worker_pool_free(pool);

    memset(&opts, 0, sizeof(opts));
    opts.health_port = 70000;
    assert_null(agora_worker_pool_new(&opts, &err));
    assert_int_equal(err.code, AGORA_EINVAL);
    assert_non_null(strstr(err.message, "70000"));
}

/* ---- Worker pool with a health server ------------------------------------ */

/* Opens a TCP socket listening on 127.0.0.1 at a port the system picks. */
static int listen_any_port(int *port)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    *port = ntohs(addr.sin_port);
    return fd;
}

/* Sends GET path to 127.0.0.1:port and stores the whole response in buf. */
static bool http_get(int port, const char *path, char *buf, size_t size)
{
    struct sockaddr_in addr;
    char request[256];
    size_t used = 0;
    ssize_t n;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return false;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        close(fd);
        return false;
    }
    snprintf(request, sizeof(request),
             "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
             path);
    if (write(fd, request, strlen(request)) != (ssize_t)strlen(request)) {
        close(fd);
        return false;
    }
    while (used + 1 < size && (n = read(fd, buf + used, size - 1 - used)) > 0)
        used += (size_t)n;
    buf[used] = '\0';
    close(fd);
    return used > 0;
}

static void runner_pool_health_port_in_use(void **state)
{
    agora_worker_options opts;
    agora_worker_pool *pool;
    agora_error err;
    test_factory tf;
    int port;
    int fd;

    (void)state;
    fd = listen_any_port(&port);
    memset(&opts, 0, sizeof(opts));
    opts.health_port = port;
    pool = agora_worker_pool_new(&opts, &err);
    assert_non_null(pool);
    test_factory_init(&tf, "S", 1);
    register_ok(pool, new_scheduled("never", agora_schedule_once(), 0, &tf));

    assert_true(agora_worker_pool_run(pool, &err) < 0);
    assert_true(err.code < 0);
    /* Startup failed before any pipeline started. */
    assert_int_equal(atomic_load(&tf.calls), 0);
    agora_worker_pool_free(pool);
    close(fd);
}

typedef struct health_probe {
    agora_worker_pool *pool;
    agora_scheduled_pipeline *sp;
    int port;
    bool got;
    char response[8192];
} health_probe;

static void *health_probe_main(void *arg)
{
    health_probe *hp = arg;

    if (wait_for_runs(hp->sp, 1))
        hp->got = http_get(hp->port, "/health", hp->response,
                           sizeof(hp->response));
    agora_worker_pool_stop(hp->pool);
    return NULL;
}

static void runner_pool_serves_health(void **state)
{
    agora_worker_options opts;
    agora_worker_pool *pool;
    agora_error err;
    health_probe hp;
    pthread_t thread;
    test_factory tf;
    int fd;

    (void)state;
    memset(&hp, 0, sizeof(hp));
    /* Take a free port, release it, and let the health server bind it. */
    fd = listen_any_port(&hp.port);
    close(fd);
    memset(&opts, 0, sizeof(opts));
    opts.health_port = hp.port;
    pool = agora_worker_pool_new(&opts, &err);
    assert_non_null(pool);
    test_factory_init(&tf, "S", 6);
    hp.pool = pool;
    hp.sp = new_scheduled("served", every(3600), 0, &tf);
    register_ok(pool, hp.sp);

    assert_int_equal(pthread_create(&thread, NULL, health_probe_main, &hp), 0);
    assert_int_equal(agora_worker_pool_run(pool, &err), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_true(hp.got);
    assert_non_null(strstr(hp.response, " 200 "));
    assert_non_null(strstr(hp.response, "\"served\""));
    assert_non_null(strstr(hp.response, "every 3600.0s"));
    agora_worker_pool_free(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(runner_backoff_doubles_to_cap),
        cmocka_unit_test(runner_schedule_describe_forms),
        cmocka_unit_test(runner_schedule_every_rejects_nonpositive),
        cmocka_unit_test(runner_cron_rejects_bad_expression),
        cmocka_unit_test(runner_new_rejects_bad_options),
        cmocka_unit_test(runner_once_runs_exactly_once),
        cmocka_unit_test(runner_max_errors_stops_loop),
        cmocka_unit_test(runner_run_error_counts_as_failure),
        cmocka_unit_test(runner_success_resets_failures),
        cmocka_unit_test(runner_backoff_waits_follow_formula),
        cmocka_unit_test(runner_every_waits_interval_after_success),
        cmocka_unit_test(runner_first_run_is_immediate),
        cmocka_unit_test(runner_every_interval_counts_from_run_end),
        cmocka_unit_test(runner_backoff_restarts_after_success),
        cmocka_unit_test(runner_cron_next_tick_strictly_after_run),
        cmocka_unit_test(runner_cron_skips_missed_ticks),
        cmocka_unit_test(runner_cron_uses_timezone),
        cmocka_unit_test(runner_stop_ends_cron_wait),
        cmocka_unit_test(runner_once_retries_after_failure),
        cmocka_unit_test(runner_stop_ends_every_wait),
        cmocka_unit_test(runner_stop_ends_backoff_wait),
        cmocka_unit_test(runner_cancel_ends_endless_run),
        cmocka_unit_test(runner_history_keeps_last_100),
        cmocka_unit_test(runner_middleware_stats_accumulate),
        cmocka_unit_test(runner_logs_loop_events),
        cmocka_unit_test(runner_run_twice_concurrently_rejected),
        cmocka_unit_test(runner_pool_rejects_duplicate_id),
        cmocka_unit_test(runner_pool_returns_when_all_once),
        cmocka_unit_test(runner_pool_stop_ends_every_pipelines),
        cmocka_unit_test(runner_pool_reports_stopped_on_errors),
        cmocka_unit_test(runner_pool_timeout_cancels_runs),
        cmocka_unit_test(runner_pool_second_stop_cancels_at_once),
        cmocka_unit_test(runner_pool_abandons_blocked_run),
        cmocka_unit_test(runner_pool_sigterm_shuts_down),
        cmocka_unit_test(runner_pool_rejects_empty_and_bad_port),
        cmocka_unit_test(runner_pool_health_port_in_use),
        cmocka_unit_test(runner_pool_serves_health),
    };

    agora_log_set_level(AGORA_LOG_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
