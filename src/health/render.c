/*
 * Renderers for the health server: pipeline and overall status rules, the
 * /health JSON document and the /metrics Prometheus text (format 0.0.4).
 *
 * Both renderers only read the snapshot; the caller owns it and frees its
 * heap parts with agora_health_snapshot_clear.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agora/health.h"

#ifndef AGORA_VERSION
#define AGORA_VERSION "unknown"
#endif

/* Shorthand for the append-or-return chain that every renderer uses. */
#define TRY(expr)                                                              \
    do {                                                                       \
        int try_rc_ = (expr);                                                  \
        if (try_rc_ < 0)                                                       \
            return try_rc_;                                                    \
    } while (0)

void agora_health_snapshot_clear(agora_health_snapshot *snap)
{
    if (snap == NULL)
        return;
    for (size_t i = 0; i < snap->pipeline_count; i++)
        free(snap->pipelines[i].middlewares);
    free(snap->pipelines);
    snap->pipelines = NULL;
    snap->pipeline_count = 0;
}

/* ---- Status rules -------------------------------------------------------- */

/* Computes successful over total runs. Before the first run it is 1.0, so
 * the value is always a number and "no runs" never reads as "all failed". */
static double success_rate(const agora_pipeline_snapshot *p)
{
    if (p->total_runs == 0)
        return 1.0;
    return (double)p->successful_runs / (double)p->total_runs;
}

const char *agora_pipeline_status(const agora_pipeline_snapshot *p)
{
    if (p->running)
        return "running";
    if (p->total_runs == 0)
        return "idle";
    if (p->failed_runs == 0)
        return "ok";
    if (success_rate(p) >= 0.5)
        return "degraded";
    return "failing";
}

/* Severity order of the overall status: higher is worse. */
static int status_rank(const char *status)
{
    static const char *const order[] = {"ok", "idle", "running", "degraded",
                                        "failing"};

    for (int i = 0; i < 5; i++) {
        if (strcmp(status, order[i]) == 0)
            return i;
    }
    return 0;
}

const char *agora_overall_status(const agora_health_snapshot *snap)
{
    const char *worst = "ok";

    for (size_t i = 0; i < snap->pipeline_count; i++) {
        const char *s = agora_pipeline_status(&snap->pipelines[i]);

        if (status_rank(s) > status_rank(worst))
            worst = s;
    }
    return worst;
}

bool agora_pipeline_stopped(const agora_pipeline_snapshot *p)
{
    /* The loop marks itself active before its first run and inactive when it
     * returns, so an inactive loop with a finished run (or a stop on errors)
     * has ended. Before the loop starts, active is false with no runs. */
    return !p->active && (p->total_runs > 0 || p->stopped_on_errors);
}

bool agora_health_is_ready(const agora_health_snapshot *snap)
{
    if (snap->pool_state != AGORA_POOL_RUNNING)
        return false;
    for (size_t i = 0; i < snap->pipeline_count; i++) {
        if (!snap->pipelines[i].active)
            return false;
    }
    return true;
}

/* ---- JSON ---------------------------------------------------------------- */

/*
 * Writes v in decimal into out, which has room for the 20 digits of
 * UINT64_MAX, and returns the number of digits. The renderers avoid the
 * printf family, which took about 31 % of the server's time under HTTP load
 * (BENCHMARKS.md, health_wrk).
 */
static size_t format_u64(uint64_t v, char *out)
{
    char reversed[20];
    size_t n = 0;

    do {
        reversed[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        out[i] = reversed[n - 1 - i];
    return n;
}

static int write_u64(agora_buf *buf, uint64_t v)
{
    char text[20];

    return agora_buf_append(buf, text, format_u64(v, text));
}

/* Appends a signed value, such as a process id. */
static int write_i64(agora_buf *buf, int64_t v)
{
    char text[21];
    size_t n = 0;

    if (v < 0)
        text[n++] = '-';
    /* The magnitude of INT64_MIN does not fit in int64_t, so negate in
     * uint64_t arithmetic. */
    n += format_u64(v < 0 ? 0 - (uint64_t)v : (uint64_t)v, text + n);
    return agora_buf_append(buf, text, n);
}

/* Writes v as exactly width digits with leading zeros (v < 10^width). */
static void put_digits(char *out, unsigned v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* Appends an ISO 8601 UTC time with milliseconds, "2026-12-04T19:50:00.123Z"
 * in quotes, or null when the year is outside 0 to 9999. */
static int write_iso_time(agora_buf *buf, double unix_seconds)
{
    double whole = floor(unix_seconds);
    long ms = lround((unix_seconds - whole) * 1000.0);
    char text[26];
    time_t t;
    struct tm tm;

    if (ms >= 1000) {
        whole += 1.0;
        ms -= 1000;
    }
    t = (time_t)whole;
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year < -1900 ||
        tm.tm_year > 9999 - 1900)
        return agora_buf_appendz(buf, "null");

    memcpy(text, "\"0000-00-00T00:00:00.000Z\"", 26);
    put_digits(text + 1, (unsigned)(tm.tm_year + 1900), 4);
    put_digits(text + 6, (unsigned)(tm.tm_mon + 1), 2);
    put_digits(text + 9, (unsigned)tm.tm_mday, 2);
    put_digits(text + 12, (unsigned)tm.tm_hour, 2);
    put_digits(text + 15, (unsigned)tm.tm_min, 2);
    put_digits(text + 18, (unsigned)tm.tm_sec, 2);
    put_digits(text + 21, (unsigned)ms, 3);
    return agora_buf_append(buf, text, sizeof text);
}

/* Appends a double in its shortest exact form. JSON has no NaN or infinity,
 * so those become null. */
static int write_json_double(agora_buf *buf, double d)
{
    char text[40];
    size_t n;

    if (!isfinite(d))
        return agora_buf_appendz(buf, "null");
    n = agora_format_double(d, text);
    return agora_buf_append(buf, text, n);
}

/* Seconds and durations are shown rounded to the millisecond, so that
 * differences of Unix times do not print as 12.300000000000182. */
static double round_ms(double seconds)
{
    return round(seconds * 1000.0) / 1000.0;
}

static int write_key(agora_buf *buf, const char *key)
{
    TRY(agora_json_write_string(buf, key, strlen(key)));
    return agora_buf_append(buf, ":", 1);
}

static int write_u64_member(agora_buf *buf, const char *key, uint64_t v,
                            bool comma)
{
    TRY(write_key(buf, key));
    TRY(write_u64(buf, v));
    return comma ? agora_buf_append(buf, ",", 1) : 0;
}

static int write_middlewares(agora_buf *buf, const agora_pipeline_snapshot *p)
{
    TRY(agora_buf_appendz(buf, "{"));
    for (size_t i = 0; i < p->middleware_count; i++) {
        const agora_middleware_stats *m = &p->middlewares[i];

        if (i > 0)
            TRY(agora_buf_appendz(buf, ","));
        TRY(write_key(buf, m->name));
        TRY(agora_buf_appendz(buf, "{"));
        TRY(write_u64_member(buf, "in", m->in, true));
        TRY(write_u64_member(buf, "out", m->out, true));
        TRY(write_u64_member(buf, "dropped", m->dropped, true));
        TRY(write_u64_member(buf, "errored", m->errored, true));
        TRY(write_key(buf, "total_time_ms"));
        TRY(write_json_double(buf, round_ms(m->total_time_ms)));
        TRY(agora_buf_appendz(buf, "}"));
    }
    return agora_buf_appendz(buf, "}");
}

static int write_pipeline_json(agora_buf *buf, const agora_pipeline_snapshot *p)
{
    bool has_run = p->last_run_at > 0.0;

    TRY(agora_buf_appendz(buf, "{"));
    TRY(write_key(buf, "pipeline_id"));
    TRY(agora_json_write_string(buf, p->pipeline_id, strlen(p->pipeline_id)));
    TRY(agora_buf_appendz(buf, ","));
    TRY(write_key(buf, "status"));
    TRY(agora_buf_append(buf, "\"", 1));
    TRY(agora_buf_appendz(buf, agora_pipeline_status(p)));
    TRY(agora_buf_append(buf, "\",", 2));
    TRY(write_key(buf, "schedule"));
    TRY(agora_json_write_string(buf, p->schedule, strlen(p->schedule)));
    TRY(agora_buf_appendz(buf, ","));

    TRY(write_u64_member(buf, "total_runs", p->total_runs, true));
    TRY(write_u64_member(buf, "successful_runs", p->successful_runs, true));
    TRY(write_u64_member(buf, "failed_runs", p->failed_runs, true));
    TRY(write_key(buf, "success_rate"));
    TRY(write_json_double(buf, success_rate(p)));
    TRY(agora_buf_appendz(buf, ","));
    TRY(write_u64_member(buf, "total_records_consumed", p->records_consumed,
                         true));
    TRY(write_u64_member(buf, "total_records_written", p->records_written,
                         true));
    TRY(write_u64_member(buf, "total_records_dropped", p->records_dropped,
                         true));
    TRY(write_u64_member(buf, "total_records_errored", p->records_errored,
                         true));

    /* Before the first run there is no last run to describe. */
    TRY(write_key(buf, "last_run_at"));
    TRY(has_run ? write_iso_time(buf, p->last_run_at)
                : agora_buf_appendz(buf, "null"));
    TRY(agora_buf_appendz(buf, ","));
    TRY(write_key(buf, "last_run_duration_s"));
    TRY(has_run ? write_json_double(buf, round_ms(p->last_run_duration_s))
                : agora_buf_appendz(buf, "null"));
    TRY(agora_buf_appendz(buf, ","));
    TRY(write_key(buf, "last_run_throughput_rps"));
    TRY(has_run ? write_json_double(buf, round_ms(p->last_run_throughput_rps))
                : agora_buf_appendz(buf, "null"));
    TRY(agora_buf_appendz(buf, ","));
    TRY(write_key(buf, "last_error"));
    if (p->last_error[0] == '\0')
        TRY(agora_buf_appendz(buf, "null"));
    else
        TRY(agora_json_write_string(buf, p->last_error, strlen(p->last_error)));
    TRY(agora_buf_appendz(buf, ","));

    TRY(write_key(buf, "stopped"));
    TRY(agora_buf_appendz(buf, agora_pipeline_stopped(p) ? "true," : "false,"));
    TRY(write_key(buf, "stopped_on_errors"));
    TRY(agora_buf_appendz(buf, p->stopped_on_errors ? "true," : "false,"));

    TRY(write_key(buf, "middlewares"));
    TRY(write_middlewares(buf, p));
    if (p->running) {
        TRY(agora_buf_appendz(buf, ","));
        TRY(write_key(buf, "live"));
        TRY(agora_buf_appendz(buf, "{"));
        TRY(write_u64_member(buf, "consumed", p->live_consumed, true));
        TRY(write_u64_member(buf, "written", p->live_written, true));
        TRY(write_u64_member(buf, "dropped", p->live_dropped, true));
        TRY(write_u64_member(buf, "errored", p->live_errored, false));
        TRY(agora_buf_appendz(buf, "}"));
    }
    return agora_buf_appendz(buf, "}");
}

int agora_health_render_json(const agora_health_snapshot *snap, agora_buf *buf,
                             int *http_status)
{
    const char *status = agora_overall_status(snap);
    double uptime = snap->now - snap->started_at;

    if (uptime < 0.0)
        uptime = 0.0;
    *http_status = strcmp(status, "failing") == 0 ? 503 : 200;

    TRY(agora_buf_appendz(buf, "{\"status\":\""));
    TRY(agora_buf_appendz(buf, status));
    TRY(agora_buf_appendz(buf, "\",\"process\":{\"pid\":"));
    TRY(write_i64(buf, snap->pid));
    TRY(agora_buf_appendz(buf, ",\"name\":\"agora\",\"version\":"));
    TRY(agora_json_write_string(buf, AGORA_VERSION, strlen(AGORA_VERSION)));
    TRY(agora_buf_appendz(buf, "},"));
    TRY(write_key(buf, "uptime_seconds"));
    TRY(write_json_double(buf, round_ms(uptime)));
    TRY(agora_buf_appendz(buf, ","));
    TRY(write_key(buf, "started_at"));
    TRY(write_iso_time(buf, snap->started_at));
    TRY(agora_buf_appendz(buf, ","));
    TRY(write_key(buf, "timestamp"));
    TRY(write_iso_time(buf, snap->now));
    TRY(agora_buf_appendz(buf, ","));

    TRY(write_key(buf, "pipelines"));
    TRY(agora_buf_appendz(buf, "{"));
    for (size_t i = 0; i < snap->pipeline_count; i++) {
        const agora_pipeline_snapshot *p = &snap->pipelines[i];

        if (i > 0)
            TRY(agora_buf_appendz(buf, ","));
        TRY(write_key(buf, p->pipeline_id));
        TRY(write_pipeline_json(buf, p));
    }
    return agora_buf_appendz(buf, "}}");
}

/* ---- Prometheus text ----------------------------------------------------- */

/* Appends a label value with the escapes of the text format: \\, \" and \n. */
static int write_label_value(agora_buf *buf, const char *s)
{
    TRY(agora_buf_append(buf, "\"", 1));
    for (const char *c = s; *c != '\0';) {
        /* Copies the run up to the next character that needs an escape. */
        size_t plain = strcspn(c, "\\\"\n");

        TRY(agora_buf_append(buf, c, plain));
        c += plain;
        if (*c == '\\')
            TRY(agora_buf_append(buf, "\\\\", 2));
        else if (*c == '"')
            TRY(agora_buf_append(buf, "\\\"", 2));
        else if (*c == '\n')
            TRY(agora_buf_append(buf, "\\n", 2));
        else
            break;
        c++;
    }
    return agora_buf_append(buf, "\"", 1);
}

static int write_family_header(agora_buf *buf, const char *name,
                               const char *type, const char *help)
{
    TRY(agora_buf_appendz(buf, "# HELP "));
    TRY(agora_buf_appendz(buf, name));
    TRY(agora_buf_append(buf, " ", 1));
    TRY(agora_buf_appendz(buf, help));
    TRY(agora_buf_appendz(buf, "\n# TYPE "));
    TRY(agora_buf_appendz(buf, name));
    TRY(agora_buf_append(buf, " ", 1));
    TRY(agora_buf_appendz(buf, type));
    return agora_buf_append(buf, "\n", 1);
}

/*
 * Starts a sample line: name{pipeline_id="..." and, when extra_key is not
 * NULL, ,extra_key="extra_value". The caller adds more labels or closes it
 * with finish_sample_*.
 */
static int begin_sample(agora_buf *buf, const char *name,
                        const agora_pipeline_snapshot *p, const char *extra_key,
                        const char *extra_value)
{
    TRY(agora_buf_appendz(buf, name));
    TRY(agora_buf_appendz(buf, "{pipeline_id="));
    TRY(write_label_value(buf, p->pipeline_id));
    if (extra_key != NULL) {
        TRY(agora_buf_append(buf, ",", 1));
        TRY(agora_buf_appendz(buf, extra_key));
        TRY(agora_buf_append(buf, "=", 1));
        TRY(write_label_value(buf, extra_value));
    }
    return 0;
}

static int finish_sample_u64(agora_buf *buf, uint64_t v)
{
    TRY(agora_buf_append(buf, "} ", 2));
    TRY(write_u64(buf, v));
    return agora_buf_append(buf, "\n", 1);
}

/* Appends a sample value and the line end. Prometheus spells non-finite
 * values NaN, +Inf and -Inf. */
static int write_sample_double(agora_buf *buf, double d)
{
    char text[40];

    if (isnan(d))
        return agora_buf_appendz(buf, "NaN\n");
    if (isinf(d))
        return agora_buf_appendz(buf, d > 0 ? "+Inf\n" : "-Inf\n");
    TRY(agora_buf_append(buf, text, agora_format_double(d, text)));
    return agora_buf_append(buf, "\n", 1);
}

static int finish_sample_double(agora_buf *buf, double d)
{
    TRY(agora_buf_append(buf, "} ", 2));
    return write_sample_double(buf, d);
}

static int write_outcome_samples(agora_buf *buf, const char *name,
                                 const agora_pipeline_snapshot *p,
                                 const uint64_t values[4])
{
    static const char *const outcomes[4] = {"consumed", "written", "dropped",
                                            "errored"};

    for (int k = 0; k < 4; k++) {
        TRY(begin_sample(buf, name, p, "outcome", outcomes[k]));
        TRY(finish_sample_u64(buf, values[k]));
    }
    return 0;
}

static int write_pipeline_families(agora_buf *buf,
                                   const agora_health_snapshot *snap)
{
    const char *name;

    name = "agora_pipeline_registered";
    TRY(write_family_header(buf, name, "gauge",
                            "Registered pipeline (always 1), with its schedule."));
    for (size_t i = 0; i < snap->pipeline_count; i++) {
        TRY(begin_sample(buf, name, &snap->pipelines[i], "schedule",
                         snap->pipelines[i].schedule));
        TRY(finish_sample_u64(buf, 1));
    }

    name = "agora_pipeline_running";
    TRY(write_family_header(buf, name, "gauge",
                            "1 while a run of the pipeline is in progress, else 0."));
    for (size_t i = 0; i < snap->pipeline_count; i++) {
        TRY(begin_sample(buf, name, &snap->pipelines[i], NULL, NULL));
        TRY(finish_sample_u64(buf, snap->pipelines[i].running ? 1 : 0));
    }

    name = "agora_pipeline_runs_total";
    TRY(write_family_header(buf, name, "counter",
                            "Finished runs by result (success or failure)."));
    for (size_t i = 0; i < snap->pipeline_count; i++) {
        const agora_pipeline_snapshot *p = &snap->pipelines[i];

        TRY(begin_sample(buf, name, p, "status", "success"));
        TRY(finish_sample_u64(buf, p->successful_runs));
        TRY(begin_sample(buf, name, p, "status", "failure"));
        TRY(finish_sample_u64(buf, p->failed_runs));
    }

    name = "agora_pipeline_records_total";
    TRY(write_family_header(buf, name, "counter",
                            "Records of finished runs by outcome."));
    for (size_t i = 0; i < snap->pipeline_count; i++) {
        const agora_pipeline_snapshot *p = &snap->pipelines[i];
        const uint64_t values[4] = {p->records_consumed, p->records_written,
                                    p->records_dropped, p->records_errored};

        TRY(write_outcome_samples(buf, name, p, values));
    }

    name = "agora_pipeline_success_rate";
    TRY(write_family_header(buf, name, "gauge",
                            "Successful runs over all runs (1 before the first run)."));
    for (size_t i = 0; i < snap->pipeline_count; i++) {
        TRY(begin_sample(buf, name, &snap->pipelines[i], NULL, NULL));
        TRY(finish_sample_double(buf, success_rate(&snap->pipelines[i])));
    }

    name = "agora_pipeline_last_run_duration_seconds";
    TRY(write_family_header(buf, name, "gauge",
                            "Duration of the last finished run in seconds (0 before the first run)."));
    for (size_t i = 0; i < snap->pipeline_count; i++) {
        TRY(begin_sample(buf, name, &snap->pipelines[i], NULL, NULL));
        TRY(finish_sample_double(buf, snap->pipelines[i].last_run_duration_s));
    }

    name = "agora_pipeline_last_run_throughput_rps";
    TRY(write_family_header(buf, name, "gauge",
                            "Records consumed per second in the last finished run (0 before the first run)."));
    for (size_t i = 0; i < snap->pipeline_count; i++) {
        TRY(begin_sample(buf, name, &snap->pipelines[i], NULL, NULL));
        TRY(finish_sample_double(buf,
                                 snap->pipelines[i].last_run_throughput_rps));
    }

    name = "agora_pipeline_live_records";
    TRY(write_family_header(buf, name, "gauge",
                            "Records of the run in progress by outcome (0 when no run is active)."));
    for (size_t i = 0; i < snap->pipeline_count; i++) {
        const agora_pipeline_snapshot *p = &snap->pipelines[i];
        uint64_t values[4] = {0, 0, 0, 0};

        if (p->running) {
            values[0] = p->live_consumed;
            values[1] = p->live_written;
            values[2] = p->live_dropped;
            values[3] = p->live_errored;
        }
        TRY(write_outcome_samples(buf, name, p, values));
    }
    return 0;
}

static int write_middleware_families(agora_buf *buf,
                                     const agora_health_snapshot *snap)
{
    static const char *const outcomes[4] = {"in", "out", "dropped", "errored"};
    const char *name;

    name = "agora_pipeline_middleware_records_total";
    TRY(write_family_header(buf, name, "counter",
                            "Records seen by each middleware by outcome (in, out, dropped, errored)."));
    for (size_t i = 0; i < snap->pipeline_count; i++) {
        const agora_pipeline_snapshot *p = &snap->pipelines[i];

        for (size_t j = 0; j < p->middleware_count; j++) {
            const agora_middleware_stats *m = &p->middlewares[j];
            const uint64_t values[4] = {m->in, m->out, m->dropped, m->errored};

            for (int k = 0; k < 4; k++) {
                TRY(begin_sample(buf, name, p, "middleware", m->name));
                TRY(agora_buf_appendz(buf, ",outcome="));
                TRY(write_label_value(buf, outcomes[k]));
                TRY(finish_sample_u64(buf, values[k]));
            }
        }
    }

    /* Seconds, the Prometheus base unit: promtool's lint rejects "_ms_" in a
     * name as an abbreviated unit. The value is total_time_ms / 1000. */
    name = "agora_pipeline_middleware_time_seconds_total";
    TRY(write_family_header(buf, name, "counter",
                            "Seconds spent in each middleware."));
    for (size_t i = 0; i < snap->pipeline_count; i++) {
        const agora_pipeline_snapshot *p = &snap->pipelines[i];

        for (size_t j = 0; j < p->middleware_count; j++) {
            TRY(begin_sample(buf, name, p, "middleware", p->middlewares[j].name));
            TRY(finish_sample_double(buf,
                                     p->middlewares[j].total_time_ms / 1000.0));
        }
    }
    return 0;
}

int agora_health_render_metrics(const agora_health_snapshot *snap,
                                agora_buf *buf)
{
    double uptime = snap->now - snap->started_at;

    if (uptime < 0.0)
        uptime = 0.0;
    TRY(write_family_header(buf, "agora_process_uptime_seconds", "gauge",
                            "Seconds since the worker pool started."));
    TRY(agora_buf_appendz(buf, "agora_process_uptime_seconds "));
    TRY(write_sample_double(buf, round_ms(uptime)));
    TRY(write_pipeline_families(buf, snap));
    return write_middleware_families(buf, snap);
}
