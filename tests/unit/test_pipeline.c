/*
 * Tests of the bound pipeline run loop: record outcomes, DLQ routing, start
 * and stop order, max_records, cancellation and run summaries. Sources and
 * sinks here are small in-memory components; the DLQ is a real SQLite file
 * read back with the sqlite3 tool.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agora/checkpoint.h"
#include "agora/dlq.h"
#include "agora/pipeline.h"

/* ---- An in-memory source producing {"id": i} for i in [0, count) -------- */

/*
 * Set by the prefetch fixtures: sources made while it is true may be read
 * ahead on the run loop's reader thread (prefetch_safe).
 */
static bool sources_prefetch;

typedef struct int_source {
    int count;
    int next;
    int bad_at;     /* index that becomes a bad record, -1 = none */
    int fail_at;    /* next_batch fails once next reaches this, -1 = none */
    char *events;   /* shared event log */
    size_t pad_bytes; /* arena bytes each batch also takes (0 = none) */
    /* Read-ahead watch: batches produced so far, and the most batches
     * produced but not yet given to *written (a sink's counter) seen when
     * a batch starts. */
    const _Atomic size_t *written;
    size_t produced;
    size_t max_ahead;
} int_source;

static void log_event(char *events, const char *event)
{
    strcat(events, event);
    strcat(events, ";");
}

static int int_source_open(void *state, agora_error *err)
{
    log_event(((int_source *)state)->events, "source_open");
    return 0;
}

static int int_source_next(void *state, agora_batch *batch, agora_error *err)
{
    int_source *s = state;
    int added = 0;

    if (s->written != NULL) {
        size_t ahead = s->produced - atomic_load(s->written);
        if (ahead > s->max_ahead)
            s->max_ahead = ahead;
    }
    if (s->pad_bytes > 0 && s->next < s->count &&
        agora_arena_alloc(batch->arena, s->pad_bytes) == NULL)
        return agora_error_set(err, AGORA_ENOMEM, "no memory for the pad");
    while (s->next < s->count && batch->count < batch->cap) {
        if (s->fail_at >= 0 && s->next >= s->fail_at)
            return agora_error_set(err, AGORA_EIO,
                                   "disk went away at record %d", s->next);
        if (s->next == s->bad_at) {
            agora_batch_push_bad(batch, "{broken", 7, "line 3: invalid JSON");
            s->next++;
            added++;
            continue;
        }
        agora_value *obj = agora_value_object(batch->arena, 1);
        agora_object_push(batch->arena, obj, "id", 2,
                          agora_value_int(batch->arena, s->next));
        agora_batch_push(batch, obj);
        s->next++;
        added++;
    }
    if (added > 0)
        s->produced++;
    return added;
}

static void int_source_close(void *state)
{
    log_event(((int_source *)state)->events, "source_close");
}

static void int_source_destroy(agora_source *self)
{
    free(self->state);
    free(self);
}

/* Position {"next": n}, the index of the next record to produce. */
static int int_source_prepare_resume(void *state, const agora_value *checkpoint,
                                     agora_error *err)
{
    const agora_value *next = agora_object_getz(checkpoint, "next");
    if (next == NULL || next->type != AGORA_INT)
        return agora_error_set(err, AGORA_EINVAL, "no next in checkpoint");
    ((int_source *)state)->next = (int)next->u.integer;
    return 0;
}

static agora_value *int_source_checkpoint(void *state, agora_arena *arena)
{
    agora_value *obj = agora_value_object(arena, 1);
    agora_object_push(arena, obj, "next", 4,
                      agora_value_int(arena, ((int_source *)state)->next));
    return obj;
}

static agora_source *int_source_new(int count, char *events)
{
    agora_source *src = calloc(1, sizeof(*src));
    int_source *s = calloc(1, sizeof(*s));
    s->count = count;
    s->bad_at = -1;
    s->fail_at = -1;
    s->events = events;
    src->name = "ints";
    src->state = s;
    src->open = int_source_open;
    src->next_batch = int_source_next;
    src->close = int_source_close;
    src->destroy = int_source_destroy;
    src->prefetch_safe = sources_prefetch;
    return src;
}

static agora_source *resumable_source_new(int count, char *events)
{
    agora_source *src = int_source_new(count, events);
    src->prepare_resume = int_source_prepare_resume;
    src->checkpoint = int_source_checkpoint;
    return src;
}

/* ---- Middlewares --------------------------------------------------------- */

typedef struct test_mw {
    int drop_multiple;  /* drop ids divisible by this (0 = none) */
    int fail_multiple;  /* fail ids divisible by this (0 = none) */
    bool fail_start;
    const char *label;
    char *events;
    char name[32];
} test_mw;

static int64_t record_id(const agora_value *record)
{
    return agora_object_getz(record, "id")->u.integer;
}

static int test_mw_start(void *state, agora_error *err)
{
    test_mw *m = state;
    char event[64];
    snprintf(event, sizeof(event), "start_%s", m->label);
    log_event(m->events, event);
    if (m->fail_start)
        return agora_error_set(err, AGORA_EINVAL, "cannot start %s", m->label);
    return 0;
}

static void test_mw_stop(void *state)
{
    test_mw *m = state;
    char event[64];
    snprintf(event, sizeof(event), "stop_%s", m->label);
    log_event(m->events, event);
}

/* Keeps the record but adds "seen": true, built as a new value. */
static agora_verdict test_mw_process(void *state, agora_value **record,
                                     agora_arena *arena, agora_error *err)
{
    test_mw *m = state;
    int64_t id = record_id(*record);

    if (m->drop_multiple && id % m->drop_multiple == 0)
        return AGORA_DROP;
    if (m->fail_multiple && id % m->fail_multiple == 0) {
        agora_error_set(err, AGORA_EINVAL, "id %lld is not allowed",
                        (long long)id);
        return AGORA_FAIL;
    }
    agora_value *copy = agora_object_clone(arena, *record, 1);
    agora_object_push(arena, copy, "seen", 4, agora_value_bool(arena, true));
    *record = copy;
    return AGORA_KEEP;
}

static void test_mw_destroy(agora_middleware *self)
{
    free(self->state);
    free(self);
}

static agora_middleware *test_mw_new(const char *label, int drop_multiple,
                                     int fail_multiple, char *events)
{
    agora_middleware *mw = calloc(1, sizeof(*mw));
    test_mw *m = calloc(1, sizeof(*m));
    m->drop_multiple = drop_multiple;
    m->fail_multiple = fail_multiple;
    m->label = label;
    m->events = events;
    snprintf(m->name, sizeof(m->name), "%s", label);
    mw->name = m->name;
    mw->state = m;
    mw->on_start = test_mw_start;
    mw->process = test_mw_process;
    mw->on_stop = test_mw_stop;
    mw->destroy = test_mw_destroy;
    return mw;
}

/* ---- A sink that collects ids, rejects some, or fails whole batches ----- */

typedef struct test_sink {
    int64_t ids[4096];
    size_t count;
    int reject_multiple;   /* per-record error for ids divisible by this */
    bool fail_batches;     /* every write_batch fails */
    bool fail_open;
    int flushes;
    size_t max_batch;        /* largest n given to write_batch */
    int resume_calls;        /* set_resume calls so far */
    bool resuming;           /* value of the last set_resume call */
    size_t cancel_after;     /* with cancel set: raise it at this count */
    _Atomic bool *cancel;
    _Atomic size_t batches;  /* write_batch calls so far */
    unsigned slow_batches;   /* the first this many calls sleep 5 ms */
    const char *label;
    char *events;
} test_sink;

static int test_sink_open(void *state, agora_error *err)
{
    test_sink *s = state;
    char event[64];
    snprintf(event, sizeof(event), "open_%s", s->label);
    log_event(s->events, event);
    if (s->fail_open)
        return agora_error_set(err, AGORA_EIO, "cannot open %s", s->label);
    return 0;
}

static int test_sink_write(void *state, agora_value *const *records, size_t n,
                           agora_record_result *results, agora_arena *arena,
                           agora_error *err)
{
    test_sink *s = state;

    if (atomic_fetch_add(&s->batches, 1) < s->slow_batches)
        usleep(5000);
    if (n > s->max_batch)
        s->max_batch = n;
    if (s->fail_batches)
        return agora_error_set(err, AGORA_EIO, "device full");
    for (size_t i = 0; i < n; i++) {
        int64_t id = record_id(records[i]);
        if (s->reject_multiple && id % s->reject_multiple == 0) {
            results[i].error = "value out of range";
            continue;
        }
        s->ids[s->count++] = id;
    }
    if (s->cancel != NULL && s->count >= s->cancel_after)
        *s->cancel = true;
    return 0;
}

static void test_sink_set_resume(void *state, bool resuming)
{
    test_sink *s = state;
    s->resume_calls++;
    s->resuming = resuming;
}

static int test_sink_flush(void *state, agora_error *err)
{
    ((test_sink *)state)->flushes++;
    return 0;
}

static void test_sink_close(void *state)
{
    test_sink *s = state;
    char event[64];
    snprintf(event, sizeof(event), "close_%s", s->label);
    log_event(s->events, event);
}

/* The test keeps the state to inspect it, so destroy frees only the struct. */
static void test_sink_destroy(agora_sink *self)
{
    free(self);
}

static agora_sink *test_sink_wrap(test_sink *s)
{
    agora_sink *sink = calloc(1, sizeof(*sink));
    sink->name = s->label;
    sink->state = s;
    sink->open = test_sink_open;
    sink->write_batch = test_sink_write;
    sink->flush = test_sink_flush;
    sink->close = test_sink_close;
    sink->destroy = test_sink_destroy;
    sink->set_resume = test_sink_set_resume;
    return sink;
}

/* ---- Helpers ------------------------------------------------------------- */

typedef struct fixture {
    char dir[64];
    char dlq_path[128];
    char checkpoint_path[128];
    char events[2048];
    test_sink sink;
    test_sink second;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/agora-test-pipeline.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->dlq_path, sizeof(f->dlq_path), "%s/dlq.db", f->dir);
    snprintf(f->checkpoint_path, sizeof(f->checkpoint_path),
             "%s/state/checkpoint.db", f->dir);
    f->sink.label = "collect";
    f->sink.events = f->events;
    f->second.label = "second";
    f->second.events = f->events;
    *state = f;
    return 0;
}

/* The same fixture, with sources that the run loop reads ahead. */
static int setup_prefetch(void **state)
{
    sources_prefetch = true;
    return setup(state);
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[160];

    sources_prefetch = false;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static agora_bound_pipeline *build(agora_pipeline *p, fixture *f, bool with_dlq,
                                   size_t batch_size)
{
    agora_delivery delivery;
    agora_error err;

    memset(&delivery, 0, sizeof(delivery));
    snprintf(delivery.pipeline_id, sizeof(delivery.pipeline_id), "unit");
    delivery.batch_size = batch_size;
    if (with_dlq) {
        delivery.dlq = agora_dlq_open(f->dlq_path, &err);
        assert_non_null(delivery.dlq);
    }
    agora_bound_pipeline *bp = agora_pipeline_build(p, &delivery, &err);
    assert_non_null(bp);
    return bp;
}

/* Runs `sqlite3 FILE SQL` and returns its trimmed output (static buffer). */
static const char *sqlite_query(const char *path, const char *sql)
{
    static char out[4096];
    char cmd[1024];

    snprintf(cmd, sizeof(cmd), "sqlite3 '%s' \"%s\"", path, sql);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    pclose(p);
    out[n] = '\0';
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    return out;
}

/* ---- Tests --------------------------------------------------------------- */

static void pipeline_counts_every_outcome(void **state)
{
    fixture *f = *state;
    agora_run_summary summary = {0};
    agora_error err;

    /* ids 0..99: "drop" drops multiples of 5 (20 records), "check" fails
     * multiples of 7 among the rest (0 and 35, 70 are multiples of 5 too, so
     * 7,14,21,28,42,49,56,63,77,84,91,98 = 12 records). */
    agora_pipeline *p = agora_pipeline_new(int_source_new(100, f->events));
    agora_pipeline_pipe(p, test_mw_new("drop", 5, 0, f->events));
    agora_pipeline_pipe(p, test_mw_new("check", 0, 7, f->events));
    agora_pipeline_add_sink(p, test_sink_wrap(&f->sink));
    agora_bound_pipeline *bp = build(p, f, true, 16);

    assert_int_equal(agora_bound_pipeline_run(bp, 0, NULL, NULL, &summary, &err), 0);
    assert_int_equal(summary.records_consumed, 100);
    assert_int_equal(summary.records_dropped, 20);
    assert_int_equal(summary.records_errored, 12);
    assert_int_equal(summary.records_written, 68);
    assert_int_equal(f->sink.count, 68);
    assert_int_equal(summary.middleware_count, 2);
    assert_string_equal(summary.middlewares[0].name, "drop");
    assert_int_equal(summary.middlewares[0].in, 100);
    assert_int_equal(summary.middlewares[0].dropped, 20);
    assert_int_equal(summary.middlewares[1].in, 80);
    assert_int_equal(summary.middlewares[1].errored, 12);
    assert_int_equal(summary.middlewares[1].out, 68);
    assert_string_equal(summary.pipeline_id, "unit");
    assert_int_equal(strlen(summary.run_id), 32);

    agora_run_summary_clear(&summary);
    agora_bound_pipeline_free(bp);
    assert_string_equal(sqlite_query(f->dlq_path,
                                     "SELECT count(*), min(stage), min(middleware) "
                                     "FROM dlq_records"),
                        "12|middleware|check");
    assert_string_equal(sqlite_query(f->dlq_path,
                                     "SELECT record, error_message FROM dlq_records "
                                     "ORDER BY id LIMIT 1"),
                        "{\"id\":7,\"seen\":true}|id 7 is not allowed");
}

static void pipeline_sink_rejects_go_to_dlq(void **state)
{
    fixture *f = *state;
    agora_run_summary summary = {0};
    agora_error err;

    f->sink.reject_multiple = 10; /* ids 0, 10, 20 of 0..29 */
    agora_pipeline *p = agora_pipeline_new(int_source_new(30, f->events));
    agora_pipeline_pipe(p, test_mw_new("mark", 0, 0, f->events));
    agora_pipeline_add_sink(p, test_sink_wrap(&f->sink));
    agora_bound_pipeline *bp = build(p, f, true, 8);

    assert_int_equal(agora_bound_pipeline_run(bp, 0, NULL, NULL, &summary, &err), 0);
    assert_int_equal(summary.records_written, 27);
    assert_int_equal(summary.records_errored, 3);
    agora_run_summary_clear(&summary);
    agora_bound_pipeline_free(bp);

    assert_string_equal(sqlite_query(f->dlq_path,
                                     "SELECT stage, sink, original_record, "
                                     "processed_record, error_message FROM "
                                     "dlq_records WHERE id = 2"),
                        "sink_write|collect|{\"id\":10}|{\"id\":10,\"seen\":true}|"
                        "value out of range");
}

static void pipeline_sink_failure_without_dlq_fails_run(void **state)
{
    fixture *f = *state;
    agora_run_summary summary = {0};
    agora_error err;

    f->sink.fail_batches = true;
    agora_pipeline *p = agora_pipeline_new(int_source_new(10, f->events));
    agora_pipeline_add_sink(p, test_sink_wrap(&f->sink));
    agora_bound_pipeline *bp = build(p, f, false, 4);

    int rc = agora_bound_pipeline_run(bp, 0, NULL, NULL, &summary, &err);
    assert_int_equal(rc, AGORA_EIO);
    assert_non_null(strstr(err.message, "sink 'collect' failed: device full"));
    assert_int_equal(summary.records_written, 0);
    agora_run_summary_clear(&summary);
    agora_bound_pipeline_free(bp);
}

static void pipeline_sink_failure_with_dlq_keeps_records(void **state)
{
    fixture *f = *state;
    agora_run_summary summary = {0};
    agora_error err;

    f->sink.fail_batches = true;
    agora_pipeline *p = agora_pipeline_new(int_source_new(10, f->events));
    agora_pipeline_add_sink(p, test_sink_wrap(&f->sink));
    agora_bound_pipeline *bp = build(p, f, true, 4);

    assert_int_equal(agora_bound_pipeline_run(bp, 0, NULL, NULL, &summary, &err), 0);
    assert_int_equal(summary.records_errored, 10);
    agora_run_summary_clear(&summary);
    agora_bound_pipeline_free(bp);
    assert_string_equal(sqlite_query(f->dlq_path,
                                     "SELECT count(*), min(stage), min(error_message) "
                                     "FROM dlq_records"),
                        "10|sink_write|device full");
}

static void pipeline_partial_sink_reject_goes_to_dlq(void **state)
{
    fixture *f = *state;
    agora_run_summary summary = {0};
    agora_error err;

    /* "second" rejects ids 0 and 4 of 0..7; "collect" accepts all, so every
     * record counts as written, and the two rejections still reach the DLQ. */
    f->second.reject_multiple = 4;
    agora_pipeline *p = agora_pipeline_new(int_source_new(8, f->events));
    agora_pipeline_add_sink(p, test_sink_wrap(&f->sink));
    agora_pipeline_add_sink(p, test_sink_wrap(&f->second));
    agora_bound_pipeline *bp = build(p, f, true, 8);

    assert_int_equal(agora_bound_pipeline_run(bp, 0, NULL, NULL, &summary, &err), 0);
    assert_int_equal(summary.records_written, 8);
    assert_int_equal(summary.records_errored, 0);
    assert_int_equal(f->sink.count, 8);
    assert_int_equal(f->second.count, 6);
    agora_run_summary_clear(&summary);
    agora_bound_pipeline_free(bp);
    assert_string_equal(sqlite_query(f->dlq_path,
                                     "SELECT group_concat(sink || ':' || "
                                     "json_extract(record, '$.id'), ' ') FROM "
                                     "dlq_records"),
                        "second:0 second:4");
}

static void pipeline_partial_reject_without_dlq_fails(void **state)
{
    fixture *f = *state;
    agora_run_summary summary = {0};
    agora_error err;

    f->second.reject_multiple = 4;
    agora_pipeline *p = agora_pipeline_new(int_source_new(8, f->events));
    agora_pipeline_add_sink(p, test_sink_wrap(&f->sink));
    agora_pipeline_add_sink(p, test_sink_wrap(&f->second));
    agora_bound_pipeline *bp = build(p, f, false, 8);

    assert_int_equal(agora_bound_pipeline_run(bp, 0, NULL, NULL, &summary, &err),
                     AGORA_ESINK);
    assert_non_null(strstr(err.message, "sink 'second' rejected a record"));
    assert_non_null(strstr(err.message, "value out of range"));
    agora_run_summary_clear(&summary);
    agora_bound_pipeline_free(bp);
}

static void pipeline_bad_source_record_to_dlq(void **state)
{
    fixture *f = *state;
    agora_run_summary summary = {0};
    agora_error err;

    agora_source *src = int_source_new(5, f->events);
    ((int_source *)src->state)->bad_at = 2;
    agora_pipeline *p = agora_pipeline_new(src);
    agora_pipeline_add_sink(p, test_sink_wrap(&f->sink));
    agora_bound_pipeline *bp = build(p, f, true, 100);

    assert_int_equal(agora_bound_pipeline_run(bp, 0, NULL, NULL, &summary, &err), 0);
    assert_int_equal(summary.records_consumed, 5);
    assert_int_equal(summary.records_written, 4);
    assert_int_equal(summary.records_errored, 1);
    agora_run_summary_clear(&summary);
    agora_bound_pipeline_free(bp);
    assert_string_equal(sqlite_query(f->dlq_path,
                                     "SELECT stage, source, record, error_message "
                                     "FROM dlq_records"),
                        "source|ints|{broken|line 3: invalid JSON");
}

static void pipeline_max_records_stops_early(void **state)
{
    fixture *f = *state;
    agora_run_summary summary = {0};
    agora_error err;

    agora_pipeline *p = agora_pipeline_new(int_source_new(1000, f->events));
    agora_pipeline_add_sink(p, test_sink_wrap(&f->sink));
    agora_bound_pipeline *bp = build(p, f, false, 64);

    assert_int_equal(agora_bound_pipeline_run(bp, 100, NULL, NULL, &summary, &err), 0);
    assert_int_equal(summary.records_consumed, 100);
    assert_int_equal(f->sink.count, 100);
    assert_int_equal(f->sink.ids[99], 99);
    agora_run_summary_clear(&summary);
    agora_bound_pipeline_free(bp);
}

static void pipeline_cancel_stops_before_reading(void **state)
{
    fixture *f = *state;
    agora_run_summary summary = {0};
    agora_error err;
    _Atomic bool cancel = true;

    agora_pipeline *p = agora_pipeline_new(int_source_new(50, f->events));
    agora_pipeline_add_sink(p, test_sink_wrap(&f->sink));
    agora_bound_pipeline *bp = build(p, f, false, 8);

    assert_int_equal(agora_bound_pipeline_run(bp, 0, &cancel, NULL, &summary, &err), 0);
    assert_int_equal(summary.records_consumed, 0);
    assert_string_equal(f->events, "open_collect;source_open;source_close;close_collect;");
    agora_run_summary_clear(&summary);
    agora_bound_pipeline_free(bp);
}

static void pipeline_start_and_stop_order(void **state)
{
    fixture *f = *state;
    agora_run_summary summary = {0};
    agora_error err;

    agora_pipeline *p = agora_pipeline_new(int_source_new(3, f->events));
    agora_pipeline_pipe(p, test_mw_new("a", 0, 0, f->events));
    agora_pipeline_pipe(p, test_mw_new("b", 0, 0, f->events));
    agora_pipeline_add_sink(p, test_sink_wrap(&f->sink));
    agora_bound_pipeline *bp = build(p, f, false, 8);

    assert_int_equal(agora_bound_pipeline_run(bp, 0, NULL, NULL, &summary, &err), 0);
    assert_string_equal(f->events,
                        "start_a;start_b;open_collect;source_open;"
                        "source_close;stop_b;stop_a;close_collect;");
    assert_true(f->sink.flushes >= 1);
    agora_run_summary_clear(&summary);
    agora_bound_pipeline_free(bp);
}

static void pipeline_failed_start_stops_started(void **state)
{
    fixture *f = *state;
    agora_run_summary summary = {0};
    agora_error err;

    agora_middleware *b = test_mw_new("b", 0, 0, f->events);
    ((test_mw *)b->state)->fail_start = true;
    agora_pipeline *p = agora_pipeline_new(int_source_new(3, f->events));
    agora_pipeline_pipe(p, test_mw_new("a", 0, 0, f->events));
    agora_pipeline_pipe(p, b);
    agora_pipeline_add_sink(p, test_sink_wrap(&f->sink));
    agora_bound_pipeline *bp = build(p, f, false, 8);

    int rc = agora_bound_pipeline_run(bp, 0, NULL, NULL, &summary, &err);
    assert_int_equal(rc, AGORA_EINVAL);
    assert_non_null(strstr(err.message, "middleware 'b' failed to start"));
    assert_non_null(strstr(err.message, "cannot start b"));
    assert_string_equal(f->events, "start_a;start_b;stop_a;");
    agora_run_summary_clear(&summary);
    agora_bound_pipeline_free(bp);
}

static void pipeline_source_error_fails_run(void **state)
{
    fixture *f = *state;
    agora_run_summary summary = {0};
    agora_error err;

    /* The failure comes in the middle of the third batch (ids 20..29): the
     * five records read before it in that batch are still delivered. */
    agora_source *src = int_source_new(100, f->events);
    ((int_source *)src->state)->fail_at = 25;
    agora_pipeline *p = agora_pipeline_new(src);
    agora_pipeline_add_sink(p, test_sink_wrap(&f->sink));
    agora_bound_pipeline *bp = build(p, f, false, 10);

    int rc = agora_bound_pipeline_run(bp, 0, NULL, NULL, &summary, &err);
    assert_int_equal(rc, AGORA_EIO);
    assert_non_null(strstr(err.message, "source 'ints'"));
    assert_non_null(strstr(err.message, "disk went away at record 25"));
    assert_int_equal(summary.records_consumed, 25);
    assert_int_equal(summary.records_written, 25);
    assert_int_equal(f->sink.ids[24], 24);
    agora_run_summary_clear(&summary);
    agora_bound_pipeline_free(bp);
}

static void pipeline_build_needs_a_sink(void **state)
{
    fixture *f = *state;
    agora_error err;

    agora_pipeline *p = agora_pipeline_new(int_source_new(1, f->events));
    assert_null(agora_pipeline_build(p, NULL, &err));
    assert_int_equal(err.code, AGORA_EINVAL);
    assert_non_null(strstr(err.message, "no sink"));
}

static void pipeline_keeps_given_run_id(void **state)
{
    fixture *f = *state;
    agora_run_summary summary = {0};
    agora_error err;

    agora_pipeline *p = agora_pipeline_new(int_source_new(1, f->events));
    agora_pipeline_add_sink(p, test_sink_wrap(&f->sink));
    agora_bound_pipeline *bp = build(p, f, false, 8);

    memset(&summary, 0, sizeof(summary));
    strcpy(summary.run_id, "0123456789abcdef0123456789abcdef");
    assert_int_equal(agora_bound_pipeline_run(bp, 0, NULL, NULL, &summary, &err), 0);
    assert_string_equal(summary.run_id, "0123456789abcdef0123456789abcdef");
    agora_run_summary_clear(&summary);
    agora_bound_pipeline_free(bp);
}

/* ---- Checkpoints --------------------------------------------------------- */

/* Builds a pipeline of a resumable source of count records into f->sink. */
static agora_bound_pipeline *build_checkpointed(fixture *f, int count,
                                                int fail_at, size_t batch_size,
                                                uint64_t every)
{
    agora_error err;
    agora_source *src = resumable_source_new(count, f->events);
    ((int_source *)src->state)->fail_at = fail_at;
    agora_pipeline *p = agora_pipeline_new(src);
    agora_pipeline_add_sink(p, test_sink_wrap(&f->sink));
    agora_bound_pipeline *bp = build(p, f, false, batch_size);
    assert_int_equal(agora_bound_pipeline_set_checkpoint(bp, f->checkpoint_path,
                                                         every, &err),
                     0);
    return bp;
}

static void pipeline_checkpoint_kept_after_failure(void **state)
{
    fixture *f = *state;
    agora_run_summary summary = {0};
    agora_error err;

    /* Batches of 10 and a save every 20 records: saves after records 20
     * and 40. The source fails at record 45, inside the fifth batch, so the
     * records 40..44 are written but never checkpointed. */
    agora_bound_pipeline *bp = build_checkpointed(f, 100, 45, 10, 20);
    assert_int_equal(agora_bound_pipeline_run(bp, 0, NULL, NULL, &summary, &err),
                     AGORA_EIO);
    assert_int_equal(summary.records_written, 45);
    assert_non_null(summary.last_checkpoint);
    assert_non_null(strstr(summary.last_checkpoint, "\"value\":{\"next\":40}"));
    agora_run_summary_clear(&summary);
    agora_bound_pipeline_free(bp);

    assert_string_equal(sqlite_query(f->checkpoint_path,
                                     "SELECT key, json_extract(value, '$.value.next'), "
                                     "json_extract(value, '$.source') FROM state_store"),
                        "checkpoint:unit|40|ints");
}

static void pipeline_checkpoint_resume_continues(void **state)
{
    fixture *f = *state;
    agora_run_summary summary = {0};
    agora_error err;

    agora_bound_pipeline *bp = build_checkpointed(f, 100, 45, 10, 20);
    agora_bound_pipeline_run(bp, 0, NULL, NULL, &summary, &err);
    agora_run_summary_clear(&summary);
    agora_bound_pipeline_free(bp);
    assert_true(f->sink.resume_calls == 1);
    assert_false(f->sink.resuming);

    /* The second run starts after record 39 and calls set_resume(true). */
    f->sink.count = 0;
    bp = build_checkpointed(f, 100, -1, 10, 20);
    assert_int_equal(agora_bound_pipeline_run(bp, 0, NULL, NULL, &summary, &err), 0);
    assert_int_equal(f->sink.resume_calls, 2);
    assert_true(f->sink.resuming);
    assert_int_equal(summary.records_consumed, 60);
    assert_int_equal(f->sink.ids[0], 40);
    assert_int_equal(f->sink.ids[59], 99);
    assert_non_null(summary.last_checkpoint);
    assert_non_null(strstr(summary.last_checkpoint, "\"value\":{\"next\":100}"));
    agora_run_summary_clear(&summary);
    agora_bound_pipeline_free(bp);

    /* A completed run deletes the checkpoint. */
    assert_string_equal(sqlite_query(f->checkpoint_path,
                                     "SELECT count(*) FROM state_store"),
                        "0");
}

static void pipeline_checkpoint_batches_stop_at_save(void **state)
{
    fixture *f = *state;
    agora_run_summary summary = {0};
    agora_error err;

    /* every = 7 with batches of 10: no batch may cross a save point. */
    agora_bound_pipeline *bp = build_checkpointed(f, 30, -1, 10, 7);
    assert_int_equal(agora_bound_pipeline_run(bp, 0, NULL, NULL, &summary, &err), 0);
    assert_int_equal(f->sink.max_batch, 7);
    assert_int_equal(summary.records_written, 30);
    agora_run_summary_clear(&summary);
    agora_bound_pipeline_free(bp);
}

static void pipeline_checkpoint_cancel_saves_position(void **state)
{
    fixture *f = *state;
    agora_run_summary summary = {0};
    agora_error err;
    _Atomic bool cancel = false;

    /* No periodic save (every 1000); the sink cancels after 30 records. */
    f->sink.cancel = &cancel;
    f->sink.cancel_after = 30;
    agora_bound_pipeline *bp = build_checkpointed(f, 100, -1, 10, 1000);
    assert_int_equal(agora_bound_pipeline_run(bp, 0, &cancel, NULL, &summary, &err), 0);
    assert_int_equal(summary.records_written, 30);
    agora_run_summary_clear(&summary);
    agora_bound_pipeline_free(bp);

    assert_string_equal(sqlite_query(f->checkpoint_path,
                                     "SELECT json_extract(value, '$.value.next') "
                                     "FROM state_store WHERE key = 'checkpoint:unit'"),
                        "30");
}

static void pipeline_checkpoint_other_source_fails(void **state)
{
    fixture *f = *state;
    agora_run_summary summary = {0};
    agora_error err;

    agora_checkpoint_store *store =
        agora_checkpoint_store_open(f->checkpoint_path, true, &err);
    assert_non_null(store);
    assert_int_equal(agora_checkpoint_save(store, "unit",
                                           "{\"pipeline_id\":\"unit\",\"run_id\":\"r\","
                                           "\"source\":\"csv\",\"value\":{\"row_number\":5},"
                                           "\"recorded_at\":\"x\"}",
                                           &err),
                     0);
    agora_checkpoint_store_free(store);

    agora_bound_pipeline *bp = build_checkpointed(f, 10, -1, 10, 5);
    int rc = agora_bound_pipeline_run(bp, 0, NULL, NULL, &summary, &err);
    assert_int_equal(rc, AGORA_ESTATE);
    assert_non_null(strstr(err.message, "saved by a 'csv' source"));
    assert_non_null(strstr(err.message, "agora checkpoint reset unit"));
    /* Nothing started: the checkpoint is checked first. */
    assert_string_equal(f->events, "");
    agora_run_summary_clear(&summary);
    agora_bound_pipeline_free(bp);
}

static void pipeline_without_checkpoint_unchanged(void **state)
{
    fixture *f = *state;
    agora_run_summary summary = {0};
    agora_error err;

    agora_pipeline *p = agora_pipeline_new(resumable_source_new(10, f->events));
    agora_pipeline_add_sink(p, test_sink_wrap(&f->sink));
    agora_bound_pipeline *bp = build(p, f, false, 4);

    assert_int_equal(agora_bound_pipeline_run(bp, 0, NULL, NULL, &summary, &err), 0);
    assert_null(summary.last_checkpoint);
    assert_false(f->sink.resuming);
    assert_int_equal(f->sink.max_batch, 4);
    assert_int_equal(access(f->checkpoint_path, F_OK), -1);
    agora_run_summary_clear(&summary);
    agora_bound_pipeline_free(bp);
}

/* ---- Reading ahead ------------------------------------------------------- */

/*
 * A sink that is slow for its first ten batches lets the reader run ahead:
 * 300 records in batches of 7 arrive complete and in order. The ring has 8
 * batches, including the one the loop is handling, so when the reader
 * starts a batch at most 7 are produced and not yet written. With two
 * alternating batches it could never be more than 1.
 */
static void prefetch_ring_keeps_order(void **state)
{
    fixture *f = *state;
    agora_run_summary summary = {0};
    agora_error err;

    agora_source *src = int_source_new(300, f->events);
    int_source *is = src->state;
    is->written = &f->sink.batches;
    f->sink.slow_batches = 10;
    agora_pipeline *p = agora_pipeline_new(src);
    agora_pipeline_add_sink(p, test_sink_wrap(&f->sink));
    agora_bound_pipeline *bp = build(p, f, false, 7);

    assert_int_equal(agora_bound_pipeline_run(bp, 0, NULL, NULL, &summary, &err), 0);
    assert_int_equal(summary.records_written, 300);
    assert_int_equal(f->sink.count, 300);
    for (size_t i = 0; i < 300; i++)
        assert_int_equal(f->sink.ids[i], (int64_t)i);
    assert_true(is->max_ahead <= 7);
    assert_true(is->max_ahead >= 3);
    agora_run_summary_clear(&summary);
    agora_bound_pipeline_free(bp);
}

/*
 * Batches of 9 MiB each: the reader starts a batch only while the filled
 * ones take less than 16 MiB. With one filled it may start a second, and
 * with two (18 MiB) it waits, so at most 1 batch is produced and not yet
 * written when it starts one. The records still arrive complete and in
 * order.
 */
static void prefetch_ring_bounded_by_bytes(void **state)
{
    fixture *f = *state;
    agora_run_summary summary = {0};
    agora_error err;

    agora_source *src = int_source_new(40, f->events);
    int_source *is = src->state;
    is->written = &f->sink.batches;
    is->pad_bytes = (size_t)9 << 20;
    f->sink.slow_batches = 10;
    agora_pipeline *p = agora_pipeline_new(src);
    agora_pipeline_add_sink(p, test_sink_wrap(&f->sink));
    agora_bound_pipeline *bp = build(p, f, false, 4);

    assert_int_equal(agora_bound_pipeline_run(bp, 0, NULL, NULL, &summary, &err), 0);
    assert_int_equal(summary.records_written, 40);
    for (size_t i = 0; i < 40; i++)
        assert_int_equal(f->sink.ids[i], (int64_t)i);
    assert_true(is->max_ahead <= 1);
    agora_run_summary_clear(&summary);
    agora_bound_pipeline_free(bp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(pipeline_counts_every_outcome, setup, teardown),
        cmocka_unit_test_setup_teardown(pipeline_sink_rejects_go_to_dlq, setup, teardown),
        cmocka_unit_test_setup_teardown(pipeline_sink_failure_without_dlq_fails_run, setup, teardown),
        cmocka_unit_test_setup_teardown(pipeline_sink_failure_with_dlq_keeps_records, setup, teardown),
        cmocka_unit_test_setup_teardown(pipeline_partial_sink_reject_goes_to_dlq, setup, teardown),
        cmocka_unit_test_setup_teardown(pipeline_partial_reject_without_dlq_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(pipeline_bad_source_record_to_dlq, setup, teardown),
        cmocka_unit_test_setup_teardown(pipeline_max_records_stops_early, setup, teardown),
        cmocka_unit_test_setup_teardown(pipeline_cancel_stops_before_reading, setup, teardown),
        cmocka_unit_test_setup_teardown(pipeline_start_and_stop_order, setup, teardown),
        cmocka_unit_test_setup_teardown(pipeline_failed_start_stops_started, setup, teardown),
        cmocka_unit_test_setup_teardown(pipeline_source_error_fails_run, setup, teardown),
        cmocka_unit_test_setup_teardown(pipeline_build_needs_a_sink, setup, teardown),
        cmocka_unit_test_setup_teardown(pipeline_keeps_given_run_id, setup, teardown),
        cmocka_unit_test_setup_teardown(pipeline_checkpoint_kept_after_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(pipeline_checkpoint_resume_continues, setup, teardown),
        cmocka_unit_test_setup_teardown(pipeline_checkpoint_batches_stop_at_save, setup, teardown),
        cmocka_unit_test_setup_teardown(pipeline_checkpoint_cancel_saves_position, setup, teardown),
        cmocka_unit_test_setup_teardown(pipeline_checkpoint_other_source_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(pipeline_without_checkpoint_unchanged, setup, teardown),
        /* The same runs with a source that is read ahead. */
        cmocka_unit_test_setup_teardown(pipeline_counts_every_outcome, setup_prefetch, teardown),
        cmocka_unit_test_setup_teardown(pipeline_bad_source_record_to_dlq, setup_prefetch, teardown),
        cmocka_unit_test_setup_teardown(pipeline_max_records_stops_early, setup_prefetch, teardown),
        cmocka_unit_test_setup_teardown(pipeline_cancel_stops_before_reading, setup_prefetch, teardown),
        cmocka_unit_test_setup_teardown(pipeline_source_error_fails_run, setup_prefetch, teardown),
        cmocka_unit_test_setup_teardown(pipeline_checkpoint_kept_after_failure, setup_prefetch, teardown),
        cmocka_unit_test_setup_teardown(pipeline_checkpoint_resume_continues, setup_prefetch, teardown),
        cmocka_unit_test_setup_teardown(pipeline_checkpoint_batches_stop_at_save, setup_prefetch, teardown),
        cmocka_unit_test_setup_teardown(pipeline_checkpoint_cancel_saves_position, setup_prefetch, teardown),
        cmocka_unit_test_setup_teardown(prefetch_ring_keeps_order, setup_prefetch, teardown),
        cmocka_unit_test_setup_teardown(prefetch_ring_bounded_by_bytes, setup_prefetch, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
