/*
 * Tests of the health renderers: status rules, /ready, the /health JSON
 * (checked with jq), the /metrics text (checked line by line and with
 * promtool when installed) and secret masking of last_error.
 *
 * Expected values are computed by hand from the snapshot built below.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agora/health.h"

/* 2023-11-14T22:13:20Z */
#define T0 1700000000.0

/* ---- Snapshot fixtures --------------------------------------------------- */

static agora_middleware_stats *new_middlewares(size_t n)
{
    agora_middleware_stats *m = calloc(n, sizeof *m);

    assert_non_null(m);
    return m;
}

/*
 * Three pipelines:
 *   orders  4 runs, 3 ok, 1 failed  -> rate 0.75, "degraded"
 *   weird   running, no finished run -> "running" (id needs escaping)
 *   nightly no run yet               -> "idle"
 */
static void build_snapshot(agora_health_snapshot *snap)
{
    agora_pipeline_snapshot *p;

    memset(snap, 0, sizeof *snap);
    snap->pool_state = AGORA_POOL_RUNNING;
    snap->started_at = T0;
    snap->now = T0 + 123.5;
    snap->pid = 4242;
    snap->pipeline_count = 3;
    snap->pipelines = calloc(3, sizeof *snap->pipelines);
    assert_non_null(snap->pipelines);

    p = &snap->pipelines[0];
    strcpy(p->pipeline_id, "orders");
    strcpy(p->schedule, "every 60.0s");
    p->active = true;
    p->total_runs = 4;
    p->successful_runs = 3;
    p->failed_runs = 1;
    p->records_consumed = 1000;
    p->records_written = 900;
    p->records_dropped = 80;
    p->records_errored = 20;
    p->last_run_at = T0 + 60.25;
    p->last_run_duration_s = 2.5;
    p->last_run_throughput_rps = 400.0;
    strcpy(p->last_error, "sink \"db\" failed: Bearer ***");
    p->middleware_count = 2;
    p->middlewares = new_middlewares(2);
    strcpy(p->middlewares[0].name, "clean");
    p->middlewares[0].in = 1000;
    p->middlewares[0].out = 950;
    p->middlewares[0].dropped = 40;
    p->middlewares[0].errored = 10;
    p->middlewares[0].total_time_ms = 12.5;
    strcpy(p->middlewares[1].name, "dedupe");
    p->middlewares[1].in = 950;
    p->middlewares[1].out = 900;
    p->middlewares[1].dropped = 40;
    p->middlewares[1].errored = 10;
    p->middlewares[1].total_time_ms = 3.25;

    p = &snap->pipelines[1];
    strcpy(p->pipeline_id, "we\"ird\\id\nx");
    strcpy(p->schedule, "cron('0 */6 * * *')");
    p->active = true;
    p->running = true;
    p->live_consumed = 10;
    p->live_written = 8;
    p->live_dropped = 1;
    p->live_errored = 1;

    p = &snap->pipelines[2];
    strcpy(p->pipeline_id, "nightly");
    strcpy(p->schedule, "once");
    p->active = true;
}

static int snapshot_setup(void **state)
{
    agora_health_snapshot *snap = malloc(sizeof *snap);

    assert_non_null(snap);
    build_snapshot(snap);
    *state = snap;
    return 0;
}

static int snapshot_teardown(void **state)
{
    agora_health_snapshot *snap = *state;

    agora_health_snapshot_clear(snap);
    free(snap);
    return 0;
}

/* ---- Helpers ------------------------------------------------------------- */

/* Writes text to a new temporary file and stores its name in path, which
 * needs room for 64 bytes. */
static void write_temp(const char *text, size_t len, char *path)
{
    FILE *f;
    int fd;

    strcpy(path, "/tmp/agora-health-render-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

static bool have_tool(const char *name)
{
    char cmd[256];

    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

/* Runs `jq -c FILTER` on the JSON file and stores its first output line. */
static void jq_query(const char *json_path, const char *filter, char *out,
                     size_t out_size)
{
    char cmd[1024];
    FILE *p;
    size_t n;

    snprintf(cmd, sizeof cmd, "jq -c '%s' %s", filter, json_path);
    p = popen(cmd, "r");
    assert_non_null(p);
    out[0] = '\0';
    if (fgets(out, (int)out_size, p) == NULL)
        out[0] = '\0';
    pclose(p);
    n = strlen(out);
    while (n > 0 && out[n - 1] == '\n')
        out[--n] = '\0';
}

#define assert_jq(path, filter, expected)                                      \
    do {                                                                       \
        char jq_out_[1024];                                                    \
        jq_query((path), (filter), jq_out_, sizeof jq_out_);                   \
        assert_string_equal(jq_out_, (expected));                              \
    } while (0)

/* Returns the value of the sample whose name and labels are exactly series
 * (for example `agora_pipeline_running{pipeline_id="orders"}`). */
static double metric_value(const char *text, const char *series)
{
    size_t n = strlen(series);
    const char *line = text;

    while (line != NULL && *line != '\0') {
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    fail_msg("series not found in metrics: %s", series);
    return -1.0;
}

static int count_lines_starting(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    int count = 0;

    for (const char *line = text; line != NULL && *line != '\0';) {
        if (strncmp(line, prefix, n) == 0)
            count++;
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    return count;
}

/* ---- Status rules -------------------------------------------------------- */

static void health_render_status_rules(void **state)
{
    agora_pipeline_snapshot p;

    memset(&p, 0, sizeof p);
    assert_string_equal(agora_pipeline_status(&p), "idle");

    p.running = true;
    assert_string_equal(agora_pipeline_status(&p), "running");

    p.running = false;
    p.total_runs = 3;
    p.successful_runs = 3;
    assert_string_equal(agora_pipeline_status(&p), "ok");

    /* 2 of 4: exactly 0.5 is still degraded. */
    p.total_runs = 4;
    p.successful_runs = 2;
    p.failed_runs = 2;
    assert_string_equal(agora_pipeline_status(&p), "degraded");

    p.successful_runs = 1;
    p.failed_runs = 3;
    assert_string_equal(agora_pipeline_status(&p), "failing");

    /* A run in progress wins over the history. */
    p.running = true;
    assert_string_equal(agora_pipeline_status(&p), "running");
}

static void health_render_overall_worst(void **state)
{
    agora_health_snapshot *snap = *state;
    agora_health_snapshot empty;

    /* degraded (orders) > running (weird) > idle (nightly) */
    assert_string_equal(agora_overall_status(snap), "degraded");

    snap->pipelines[0].successful_runs = 4;
    snap->pipelines[0].failed_runs = 0;
    assert_string_equal(agora_overall_status(snap), "running");

    snap->pipelines[1].running = false;
    assert_string_equal(agora_overall_status(snap), "idle");

    snap->pipelines[0].successful_runs = 1;
    snap->pipelines[0].failed_runs = 3;
    assert_string_equal(agora_overall_status(snap), "failing");

    memset(&empty, 0, sizeof empty);
    assert_string_equal(agora_overall_status(&empty), "ok");
}

static void health_render_ready_rules(void **state)
{
    agora_health_snapshot *snap = *state;

    assert_true(agora_health_is_ready(snap));

    snap->pipelines[2].active = false;
    assert_false(agora_health_is_ready(snap));

    snap->pipelines[2].active = true;
    snap->pool_state = AGORA_POOL_STOPPING;
    assert_false(agora_health_is_ready(snap));

    snap->pool_state = AGORA_POOL_STARTING;
    assert_false(agora_health_is_ready(snap));
}

static void health_render_stopped_rules(void **state)
{
    agora_pipeline_snapshot p;

    /* Before its loop starts: inactive, no run. */
    memset(&p, 0, sizeof p);
    assert_false(agora_pipeline_stopped(&p));

    /* Loop running, between runs. */
    p.active = true;
    p.total_runs = 2;
    p.successful_runs = 2;
    assert_false(agora_pipeline_stopped(&p));

    /* A once pipeline after its run. */
    p.active = false;
    p.total_runs = 1;
    p.successful_runs = 1;
    assert_true(agora_pipeline_stopped(&p));

    /* Stopped after max_consecutive_errors. */
    p.successful_runs = 0;
    p.failed_runs = 1;
    p.stopped_on_errors = true;
    assert_true(agora_pipeline_stopped(&p));
}

/* A finished once pipeline and a pipeline stopped on errors are not running,
 * so the worker is not ready; during start-up and shutdown it never is. */
static void health_render_ready_after_stop(void **state)
{
    agora_health_snapshot *snap = *state;

    snap->pipelines[2].active = false;
    snap->pipelines[2].total_runs = 1;
    snap->pipelines[2].successful_runs = 1;
    assert_false(agora_health_is_ready(snap));

    snap->pipelines[2].successful_runs = 0;
    snap->pipelines[2].failed_runs = 1;
    snap->pipelines[2].stopped_on_errors = true;
    assert_false(agora_health_is_ready(snap));

    snap->pipelines[2].active = true;
    snap->pipelines[2].stopped_on_errors = false;
    assert_true(agora_health_is_ready(snap));
    snap->pool_state = AGORA_POOL_STOPPING;
    assert_false(agora_health_is_ready(snap));
}

/* ---- /health JSON -------------------------------------------------------- */

static void health_render_json_fields(void **state)
{
    agora_health_snapshot *snap = *state;
    agora_buf buf;
    char path[64];
    int status = 0;

    if (!have_tool("jq")) {
        print_message("skipped: jq is not installed\n");
        skip();
    }
    agora_buf_init(&buf);
    assert_int_equal(agora_health_render_json(snap, &buf, &status), 0);
    assert_int_equal(status, 200);
    write_temp(buf.data, buf.len, path);

    assert_jq(path, "type", "\"object\"");
    assert_jq(path, ".status", "\"degraded\"");
    assert_jq(path, ".process.pid", "4242");
    assert_jq(path, ".process.name", "\"agora\"");
    assert_jq(path, ".process.version == \"" AGORA_VERSION "\"", "true");
    assert_jq(path, ".uptime_seconds", "123.5");
    assert_jq(path, ".started_at", "\"2023-11-14T22:13:20.000Z\"");
    assert_jq(path, ".timestamp", "\"2023-11-14T22:15:23.500Z\"");
    assert_jq(path, ".pipelines | keys_unsorted",
              "[\"orders\",\"we\\\"ird\\\\id\\nx\",\"nightly\"]");

    assert_jq(path, ".pipelines.orders.pipeline_id", "\"orders\"");
    assert_jq(path, ".pipelines.orders.status", "\"degraded\"");
    assert_jq(path, ".pipelines.orders.schedule", "\"every 60.0s\"");
    assert_jq(path, ".pipelines.orders.total_runs", "4");
    assert_jq(path, ".pipelines.orders.successful_runs", "3");
    assert_jq(path, ".pipelines.orders.failed_runs", "1");
    assert_jq(path, ".pipelines.orders.success_rate", "0.75");
    assert_jq(path, ".pipelines.orders.total_records_consumed", "1000");
    assert_jq(path, ".pipelines.orders.total_records_written", "900");
    assert_jq(path, ".pipelines.orders.total_records_dropped", "80");
    assert_jq(path, ".pipelines.orders.total_records_errored", "20");
    assert_jq(path, ".pipelines.orders.last_run_at",
              "\"2023-11-14T22:14:20.250Z\"");
    assert_jq(path, ".pipelines.orders.last_run_duration_s", "2.5");
    assert_jq(path, ".pipelines.orders.last_run_throughput_rps == 400", "true");
    assert_jq(path, ".pipelines.orders.last_error",
              "\"sink \\\"db\\\" failed: Bearer ***\"");
    assert_jq(path, ".pipelines.orders.middlewares | keys_unsorted",
              "[\"clean\",\"dedupe\"]");
    assert_jq(path, ".pipelines.orders.middlewares.clean",
              "{\"in\":1000,\"out\":950,\"dropped\":40,\"errored\":10,"
              "\"total_time_ms\":12.5}");
    assert_jq(path, ".pipelines.orders.middlewares.dedupe.total_time_ms",
              "3.25");
    assert_jq(path, ".pipelines.orders | has(\"live\")", "false");
    assert_jq(path, ".pipelines.orders.stopped", "false");
    assert_jq(path, ".pipelines.orders.stopped_on_errors", "false");

    assert_jq(path, ".pipelines[\"we\\\"ird\\\\id\\nx\"].status",
              "\"running\"");
    assert_jq(path, ".pipelines[\"we\\\"ird\\\\id\\nx\"].live",
              "{\"consumed\":10,\"written\":8,\"dropped\":1,\"errored\":1}");

    assert_jq(path, ".pipelines.nightly.status", "\"idle\"");
    assert_jq(path, ".pipelines.nightly.success_rate == 1", "true");
    assert_jq(path, ".pipelines.nightly.last_run_at", "null");
    assert_jq(path, ".pipelines.nightly.last_run_duration_s", "null");
    assert_jq(path, ".pipelines.nightly.last_run_throughput_rps", "null");
    assert_jq(path, ".pipelines.nightly.last_error", "null");
    assert_jq(path, ".pipelines.nightly.middlewares", "{}");

    unlink(path);
    agora_buf_free(&buf);
}

static void health_render_json_failing_503(void **state)
{
    agora_health_snapshot *snap = *state;
    agora_buf buf;
    char path[64];
    int status = 0;

    /* 1 of 4 runs succeeded: 0.25 < 0.5 */
    snap->pipelines[0].successful_runs = 1;
    snap->pipelines[0].failed_runs = 3;
    agora_buf_init(&buf);
    assert_int_equal(agora_health_render_json(snap, &buf, &status), 0);
    assert_int_equal(status, 503);
    if (have_tool("jq")) {
        write_temp(buf.data, buf.len, path);
        assert_jq(path, ".status", "\"failing\"");
        assert_jq(path, ".pipelines.orders.success_rate", "0.25");
        unlink(path);
    }
    agora_buf_free(&buf);
}

static void health_render_json_stopped_fields(void **state)
{
    agora_health_snapshot *snap = *state;
    agora_buf buf;
    char path[64];
    int status = 0;

    if (!have_tool("jq")) {
        print_message("skipped: jq is not installed\n");
        skip();
    }
    /* orders: stopped after its 5th failure in a row (3 ok of 8 runs) */
    snap->pipelines[0].active = false;
    snap->pipelines[0].stopped_on_errors = true;
    snap->pipelines[0].total_runs = 8;
    snap->pipelines[0].failed_runs = 5;
    /* nightly: a once pipeline that finished */
    snap->pipelines[2].active = false;
    snap->pipelines[2].total_runs = 1;
    snap->pipelines[2].successful_runs = 1;
    agora_buf_init(&buf);
    assert_int_equal(agora_health_render_json(snap, &buf, &status), 0);
    write_temp(buf.data, buf.len, path);

    assert_jq(path, ".pipelines.orders.stopped", "true");
    assert_jq(path, ".pipelines.orders.stopped_on_errors", "true");
    assert_jq(path, ".pipelines.orders.status", "\"failing\"");
    assert_jq(path, ".pipelines.nightly.stopped", "true");
    assert_jq(path, ".pipelines.nightly.stopped_on_errors", "false");
    assert_jq(path, ".pipelines.nightly.status", "\"ok\"");
    assert_jq(path, ".pipelines[\"we\\\"ird\\\\id\\nx\"].stopped", "false");
    /* 3 of 8 is below 0.5 */
    assert_int_equal(status, 503);

    unlink(path);
    agora_buf_free(&buf);
}

static void health_render_json_no_pipelines(void **state)
{
    agora_health_snapshot snap;
    agora_buf buf;
    char path[64];
    int status = 0;

    memset(&snap, 0, sizeof snap);
    snap.pool_state = AGORA_POOL_RUNNING;
    snap.started_at = T0;
    snap.now = T0;
    agora_buf_init(&buf);
    assert_int_equal(agora_health_render_json(&snap, &buf, &status), 0);
    assert_int_equal(status, 200);
    if (have_tool("jq")) {
        write_temp(buf.data, buf.len, path);
        assert_jq(path, ".status", "\"ok\"");
        assert_jq(path, ".pipelines", "{}");
        assert_jq(path, ".uptime_seconds", "0");
        unlink(path);
    }
    agora_buf_free(&buf);
}

/* Renders a snapshot without pipelines whose start and current time are t
 * and stores the JSON text, NUL-terminated, in buf. */
static void render_at_time(double t, agora_buf *buf)
{
    agora_health_snapshot snap;
    int status = 0;

    memset(&snap, 0, sizeof snap);
    snap.pool_state = AGORA_POOL_RUNNING;
    snap.started_at = t;
    snap.now = t;
    agora_buf_init(buf);
    assert_int_equal(agora_health_render_json(&snap, buf, &status), 0);
    assert_int_equal(agora_buf_append(buf, "", 1), 0);
}

/*
 * Times rendered in ISO 8601. Expected strings come from Python's
 * datetime.fromtimestamp(t, timezone.utc), except for the rounding case:
 * 59.9996 s rounds to the next whole second by hand calculation.
 */
static void health_render_json_iso_times(void **state)
{
    static const struct {
        double t;
        const char *member;
    } cases[] = {
        {0.0, "\"started_at\":\"1970-01-01T00:00:00.000Z\","},
        {-0.5, "\"started_at\":\"1969-12-31T23:59:59.500Z\","},
        {T0 + 59.9996, "\"started_at\":\"2023-11-14T22:14:20.000Z\","},
        {1704067199.999, "\"started_at\":\"2023-12-31T23:59:59.999Z\","},
        {1709208000.5, "\"started_at\":\"2024-02-29T12:00:00.500Z\","},
        {253402300799.0, "\"started_at\":\"9999-12-31T23:59:59.000Z\","},
        /* Year 10000 has no four-digit form. */
        {253402300800.0, "\"started_at\":null,"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        agora_buf buf;
        bool found;

        render_at_time(cases[i].t, &buf);
        found = strstr(buf.data, cases[i].member) != NULL;
        if (!found)
            print_error("case %zu: %s not in %s\n", i, cases[i].member,
                        buf.data);
        agora_buf_free(&buf);
        assert_true(found);
    }
}

/* Counters at 0 and at UINT64_MAX (18446744073709551615) print in full. The
 * text is checked directly, because jq reads numbers as doubles. */
static void health_render_json_u64_limits(void **state)
{
    agora_health_snapshot *snap = *state;
    agora_pipeline_snapshot *p = &snap->pipelines[0];
    agora_buf buf;
    int status = 0;

    p->records_consumed = UINT64_MAX;
    p->records_written = 0;
    p->middlewares[0].in = UINT64_MAX;
    snap->pid = 4194304;
    agora_buf_init(&buf);
    assert_int_equal(agora_health_render_json(snap, &buf, &status), 0);
    assert_int_equal(agora_buf_append(&buf, "", 1), 0);

    assert_non_null(strstr(buf.data, "\"total_records_consumed\":18446744073709551615,"));
    assert_non_null(strstr(buf.data, "\"total_records_written\":0,"));
    assert_non_null(strstr(buf.data, "\"clean\":{\"in\":18446744073709551615,"));
    assert_non_null(strstr(buf.data, "\"pid\":4194304,"));
    agora_buf_free(&buf);
}

static void health_render_metrics_u64_limits(void **state)
{
    agora_health_snapshot *snap = *state;
    agora_buf buf;

    snap->pipelines[0].records_consumed = UINT64_MAX;
    snap->pipelines[0].records_written = 0;
    agora_buf_init(&buf);
    assert_int_equal(agora_health_render_metrics(snap, &buf), 0);
    assert_int_equal(agora_buf_append(&buf, "", 1), 0);

    assert_non_null(strstr(buf.data, "\nagora_pipeline_records_total{pipeline_id=\"orders\",outcome=\"consumed\"} 18446744073709551615\n"));
    assert_non_null(strstr(buf.data, "\nagora_pipeline_records_total{pipeline_id=\"orders\",outcome=\"written\"} 0\n"));
    agora_buf_free(&buf);
}

/* ---- /metrics ------------------------------------------------------------ */

static const char *const metric_families[][2] = {
    {"agora_process_uptime_seconds", "gauge"},
    {"agora_pipeline_registered", "gauge"},
    {"agora_pipeline_running", "gauge"},
    {"agora_pipeline_runs_total", "counter"},
    {"agora_pipeline_records_total", "counter"},
    {"agora_pipeline_success_rate", "gauge"},
    {"agora_pipeline_last_run_duration_seconds", "gauge"},
    {"agora_pipeline_last_run_throughput_rps", "gauge"},
    {"agora_pipeline_live_records", "gauge"},
    {"agora_pipeline_middleware_records_total", "counter"},
    {"agora_pipeline_middleware_time_seconds_total", "counter"},
};

static void health_render_metrics_families(void **state)
{
    agora_health_snapshot *snap = *state;
    agora_buf buf;
    char *text;

    agora_buf_init(&buf);
    assert_int_equal(agora_health_render_metrics(snap, &buf), 0);
    assert_int_equal(agora_buf_append(&buf, "", 1), 0);
    text = buf.data;

    for (size_t i = 0; i < sizeof metric_families / sizeof metric_families[0];
         i++) {
        char prefix[160];

        snprintf(prefix, sizeof prefix, "# HELP %s ", metric_families[i][0]);
        assert_int_equal(count_lines_starting(text, prefix), 1);
        snprintf(prefix, sizeof prefix, "# TYPE %s %s\n",
                 metric_families[i][0], metric_families[i][1]);
        assert_int_equal(count_lines_starting(text, prefix), 1);
    }
    /* 11 families, two comment lines each, nothing else commented. */
    assert_int_equal(count_lines_starting(text, "#"), 22);
    agora_buf_free(&buf);
}

static void health_render_metrics_values(void **state)
{
    agora_health_snapshot *snap = *state;
    agora_buf buf;
    const char *text;

    agora_buf_init(&buf);
    assert_int_equal(agora_health_render_metrics(snap, &buf), 0);
    assert_int_equal(agora_buf_append(&buf, "", 1), 0);
    text = buf.data;

    assert_true(metric_value(text, "agora_process_uptime_seconds") == 123.5);
    assert_true(metric_value(text, "agora_pipeline_registered{pipeline_id=\"orders\",schedule=\"every 60.0s\"}") == 1.0);
    assert_true(metric_value(text, "agora_pipeline_registered{pipeline_id=\"nightly\",schedule=\"once\"}") == 1.0);
    assert_true(metric_value(text, "agora_pipeline_running{pipeline_id=\"orders\"}") == 0.0);
    assert_true(metric_value(text, "agora_pipeline_runs_total{pipeline_id=\"orders\",status=\"success\"}") == 3.0);
    assert_true(metric_value(text, "agora_pipeline_runs_total{pipeline_id=\"orders\",status=\"failure\"}") == 1.0);
    assert_true(metric_value(text, "agora_pipeline_records_total{pipeline_id=\"orders\",outcome=\"consumed\"}") == 1000.0);
    assert_true(metric_value(text, "agora_pipeline_records_total{pipeline_id=\"orders\",outcome=\"written\"}") == 900.0);
    assert_true(metric_value(text, "agora_pipeline_records_total{pipeline_id=\"orders\",outcome=\"dropped\"}") == 80.0);
    assert_true(metric_value(text, "agora_pipeline_records_total{pipeline_id=\"orders\",outcome=\"errored\"}") == 20.0);
    assert_true(metric_value(text, "agora_pipeline_success_rate{pipeline_id=\"orders\"}") == 0.75);
    assert_true(metric_value(text, "agora_pipeline_success_rate{pipeline_id=\"nightly\"}") == 1.0);
    assert_true(metric_value(text, "agora_pipeline_last_run_duration_seconds{pipeline_id=\"orders\"}") == 2.5);
    assert_true(metric_value(text, "agora_pipeline_last_run_throughput_rps{pipeline_id=\"orders\"}") == 400.0);
    assert_true(metric_value(text, "agora_pipeline_live_records{pipeline_id=\"orders\",outcome=\"consumed\"}") == 0.0);
    assert_true(metric_value(text, "agora_pipeline_middleware_records_total{pipeline_id=\"orders\",middleware=\"clean\",outcome=\"in\"}") == 1000.0);
    assert_true(metric_value(text, "agora_pipeline_middleware_records_total{pipeline_id=\"orders\",middleware=\"clean\",outcome=\"out\"}") == 950.0);
    assert_true(metric_value(text, "agora_pipeline_middleware_records_total{pipeline_id=\"orders\",middleware=\"dedupe\",outcome=\"dropped\"}") == 40.0);
    assert_true(metric_value(text, "agora_pipeline_middleware_records_total{pipeline_id=\"orders\",middleware=\"dedupe\",outcome=\"errored\"}") == 10.0);
    /* total_time_ms 12.5 and 3.25 in seconds */
    assert_true(metric_value(text, "agora_pipeline_middleware_time_seconds_total{pipeline_id=\"orders\",middleware=\"clean\"}") == 0.0125);
    assert_true(metric_value(text, "agora_pipeline_middleware_time_seconds_total{pipeline_id=\"orders\",middleware=\"dedupe\"}") == 0.00325);
    agora_buf_free(&buf);
}

static void health_render_metrics_label_escapes(void **state)
{
    agora_health_snapshot *snap = *state;
    agora_buf buf;
    const char *text;

    agora_buf_init(&buf);
    assert_int_equal(agora_health_render_metrics(snap, &buf), 0);
    assert_int_equal(agora_buf_append(&buf, "", 1), 0);
    text = buf.data;

    /* we"ird\id<newline>x becomes we\"ird\\id\nx */
    assert_true(metric_value(text, "agora_pipeline_running{pipeline_id=\"we\\\"ird\\\\id\\nx\"}") == 1.0);
    assert_true(metric_value(text, "agora_pipeline_registered{pipeline_id=\"we\\\"ird\\\\id\\nx\",schedule=\"cron('0 */6 * * *')\"}") == 1.0);
    assert_true(metric_value(text, "agora_pipeline_live_records{pipeline_id=\"we\\\"ird\\\\id\\nx\",outcome=\"consumed\"}") == 10.0);
    assert_true(metric_value(text, "agora_pipeline_live_records{pipeline_id=\"we\\\"ird\\\\id\\nx\",outcome=\"written\"}") == 8.0);
    assert_true(metric_value(text, "agora_pipeline_live_records{pipeline_id=\"we\\\"ird\\\\id\\nx\",outcome=\"dropped\"}") == 1.0);
    assert_true(metric_value(text, "agora_pipeline_live_records{pipeline_id=\"we\\\"ird\\\\id\\nx\",outcome=\"errored\"}") == 1.0);
    agora_buf_free(&buf);
}

/*
 * Runs `promtool check metrics` on the file at path. Returns the exit code
 * and stores the number of lines promtool printed. promtool exits 1 for text
 * it cannot parse and 3 for style ("lint") problems, and prints one line per
 * problem.
 */
static int run_promtool(const char *path, int *output_lines)
{
    char cmd[256], line[512];
    FILE *p;
    int status;

    snprintf(cmd, sizeof cmd, "promtool check metrics < %s 2>&1", path);
    p = popen(cmd, "r");
    assert_non_null(p);
    *output_lines = 0;
    while (fgets(line, sizeof line, p) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '\0')
            continue;
        print_message("promtool: %s\n", line);
        (*output_lines)++;
    }
    status = pclose(p);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void health_render_metrics_promtool(void **state)
{
    agora_health_snapshot *snap = *state;
    agora_buf buf;
    char path[64];
    int code, lines;

    if (!have_tool("promtool")) {
        print_message("skipped: promtool is not installed "
                      "(apt-get install prometheus provides it)\n");
        skip();
    }
    agora_buf_init(&buf);
    assert_int_equal(agora_health_render_metrics(snap, &buf), 0);
    write_temp(buf.data, buf.len, path);
    code = run_promtool(path, &lines);
    unlink(path);
    agora_buf_free(&buf);
    assert_int_equal(code, 0);
    assert_int_equal(lines, 0);
}

/* An empty pool still renders an exposition that promtool accepts. */
static void health_render_metrics_promtool_empty(void **state)
{
    agora_health_snapshot snap;
    agora_buf buf;
    char path[64];
    int code, lines;

    if (!have_tool("promtool")) {
        print_message("skipped: promtool is not installed\n");
        skip();
    }
    memset(&snap, 0, sizeof snap);
    snap.started_at = T0;
    snap.now = T0 + 1.0;
    agora_buf_init(&buf);
    assert_int_equal(agora_health_render_metrics(&snap, &buf), 0);
    write_temp(buf.data, buf.len, path);
    code = run_promtool(path, &lines);
    unlink(path);
    agora_buf_free(&buf);
    assert_int_equal(code, 0);
    assert_int_equal(lines, 0);
}

/* Guards the checks above: promtool must reject a malformed exposition and
 * lint an abbreviated unit such as the Python runtime's _time_ms_total. */
static void health_render_promtool_rejects_bad(void **state)
{
    const char *bad = "# TYPE x gauge\nx{a=\"1} 2\n";
    const char *ms_name =
        "# HELP agora_pipeline_middleware_time_ms_total Milliseconds.\n"
        "# TYPE agora_pipeline_middleware_time_ms_total counter\n"
        "agora_pipeline_middleware_time_ms_total{pipeline_id=\"a\"} 1\n";
    char path[64];
    int code, lines;

    if (!have_tool("promtool")) {
        print_message("skipped: promtool is not installed\n");
        skip();
    }
    write_temp(bad, strlen(bad), path);
    code = run_promtool(path, &lines);
    unlink(path);
    assert_int_equal(code, 1);

    write_temp(ms_name, strlen(ms_name), path);
    code = run_promtool(path, &lines);
    unlink(path);
    assert_int_equal(code, 3);
    assert_int_equal(lines, 1);
}

/* ---- Secret masking ------------------------------------------------------ */

static void check_mask(const char *input, const char *expected)
{
    char out[AGORA_LAST_ERROR_MAX * 4 + 1];

    agora_health_mask_error(input, out);
    assert_string_equal(out, expected);
}

static void health_mask_bearer_token(void **state)
{
    check_mask("401 from api: Authorization: Bearer abc.DEF-123_x== rejected",
               "401 from api: Authorization: Bearer *** rejected");
    check_mask("bearer   tok", "bearer   ***");
    check_mask("header \"Bearer xyz\" sent", "header \"Bearer ***\" sent");
}

static void health_mask_url_password(void **state)
{
    check_mask("connect postgres://app:hunter2@db:5432/prod failed",
               "connect postgres://app:***@db:5432/prod failed");
    check_mask("https://u:p@ss@host/x", "https://u:***@host/x");
    /* No password: unchanged. */
    check_mask("https://user@host/x and http://host:8080/a@b",
               "https://user@host/x and http://host:8080/a@b");
}

static void health_mask_query_secrets(void **state)
{
    check_mask("GET /v1?user=bob&password=s3cr3t&x=1 failed",
               "GET /v1?user=bob&password=***&x=1 failed");
    check_mask("url https://h/p?token=abc#frag", "url https://h/p?token=***#frag");
    check_mask("access_token=zzz api_key=k1", "access_token=*** api_key=***");
    /* Keys that only contain a secret word stay visible. */
    check_mask("mytoken=1 tokens=2", "mytoken=1 tokens=2");
}

static void health_mask_plain_unchanged(void **state)
{
    check_mask("", "");
    check_mask("csv parse error at line 3, column 7",
               "csv parse error at line 3, column 7");
    check_mask(NULL, "");
}

static void health_mask_cut_utf8_boundary(void **state)
{
    char input[1024];
    char expected[1024];
    char out[AGORA_LAST_ERROR_MAX * 4 + 1];

    /* 300 two-byte characters: 240 kept, 480 bytes. */
    input[0] = '\0';
    for (int i = 0; i < 300; i++)
        strcat(input, "\xc3\xa9");
    agora_health_mask_error(input, out);
    assert_int_equal(strlen(out), 480);
    memcpy(expected, input, 480);
    expected[480] = '\0';
    assert_string_equal(out, expected);

    /* 239 ASCII characters then a 4-byte character then more: the 4-byte
     * character is the 240th and is kept whole. */
    memset(input, 'a', 239);
    strcpy(input + 239, "\xf0\x9f\x98\x80tail");
    agora_health_mask_error(input, out);
    assert_int_equal(strlen(out), 243);
    assert_memory_equal(out + 239, "\xf0\x9f\x98\x80", 4);

    /* 500 ASCII characters: 240 kept. */
    memset(input, 'b', 500);
    input[500] = '\0';
    agora_health_mask_error(input, out);
    assert_int_equal(strlen(out), 240);
}

static void health_mask_invalid_utf8(void **state)
{
    /* Stray continuation byte, truncated sequence, overlong '/' */
    check_mask("a\x80" "b\xe2\x82" "c\xc0\xaf" "d", "a?b??c??d");
}

static void health_mask_then_cut(void **state)
{
    char input[600];
    char out[AGORA_LAST_ERROR_MAX * 4 + 1];

    /* A 400-character token is masked first, so the text after it survives
     * the cut. */
    strcpy(input, "Bearer ");
    memset(input + 7, 'k', 400);
    strcpy(input + 407, " end");
    agora_health_mask_error(input, out);
    assert_string_equal(out, "Bearer *** end");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(health_render_status_rules),
        cmocka_unit_test_setup_teardown(health_render_overall_worst,
                                        snapshot_setup, snapshot_teardown),
        cmocka_unit_test_setup_teardown(health_render_ready_rules,
                                        snapshot_setup, snapshot_teardown),
        cmocka_unit_test(health_render_stopped_rules),
        cmocka_unit_test_setup_teardown(health_render_ready_after_stop,
                                        snapshot_setup, snapshot_teardown),
        cmocka_unit_test_setup_teardown(health_render_json_fields,
                                        snapshot_setup, snapshot_teardown),
        cmocka_unit_test_setup_teardown(health_render_json_failing_503,
                                        snapshot_setup, snapshot_teardown),
        cmocka_unit_test_setup_teardown(health_render_json_stopped_fields,
                                        snapshot_setup, snapshot_teardown),
        cmocka_unit_test(health_render_json_no_pipelines),
        cmocka_unit_test(health_render_json_iso_times),
        cmocka_unit_test_setup_teardown(health_render_json_u64_limits,
                                        snapshot_setup, snapshot_teardown),
        cmocka_unit_test_setup_teardown(health_render_metrics_u64_limits,
                                        snapshot_setup, snapshot_teardown),
        cmocka_unit_test_setup_teardown(health_render_metrics_families,
                                        snapshot_setup, snapshot_teardown),
        cmocka_unit_test_setup_teardown(health_render_metrics_values,
                                        snapshot_setup, snapshot_teardown),
        cmocka_unit_test_setup_teardown(health_render_metrics_label_escapes,
                                        snapshot_setup, snapshot_teardown),
        cmocka_unit_test_setup_teardown(health_render_metrics_promtool,
                                        snapshot_setup, snapshot_teardown),
        cmocka_unit_test(health_render_metrics_promtool_empty),
        cmocka_unit_test(health_render_promtool_rejects_bad),
        cmocka_unit_test(health_mask_bearer_token),
        cmocka_unit_test(health_mask_url_password),
        cmocka_unit_test(health_mask_query_secrets),
        cmocka_unit_test(health_mask_plain_unchanged),
        cmocka_unit_test(health_mask_cut_utf8_boundary),
        cmocka_unit_test(health_mask_invalid_utf8),
        cmocka_unit_test(health_mask_then_cut),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
