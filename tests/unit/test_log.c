/*
 * Tests of the logger: the logfmt and JSON line formats, the level filter,
 * the parsers of level and format names, and the repeat rule for warnings
 * and errors. A fake clock drives the repeat windows, so no test sleeps.
 * Lines go to a temporary file that each test reads back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agora/log.h"
#include "core/clock.h"
#include "core/log_internal.h"

/* ---- Fake clock and captured output ------------------------------------ */

/* 1000000000 is 2001-09-09T01:46:40Z; the fake wall clock starts a quarter
 * second later. */
#define WALL_START 1000000000.25

static double fake_now; /* monotonic seconds; wall = WALL_START + fake_now */

static double fake_monotonic(void *ctx)
{
    return fake_now;
}

static double fake_wall(void *ctx)
{
    return WALL_START + fake_now;
}

static const core_clock fake_clock = {
    .monotonic = fake_monotonic,
    .wall = fake_wall,
};

static int capture_fd = -1;
static char captured[1 << 16];

static int setup(void **state)
{
    char path[] = "/tmp/agora-test-log.XXXXXX";

    capture_fd = mkstemp(path);
    if (capture_fd < 0)
        return -1;
    unlink(path);
    fake_now = 0;
    core_log_set_clock(&fake_clock);
    agora_log_set_fd(capture_fd);
    agora_log_set_level(AGORA_LOG_INFO);
    agora_log_set_format(AGORA_LOG_FORMAT_LOGFMT);
    return 0;
}

static int teardown(void **state)
{
    /* Forget the keys this test left, without keeping their count lines. */
    agora_log_flush();
    agora_log_set_fd(2);
    agora_log_set_format(AGORA_LOG_FORMAT_LOGFMT);
    agora_log_set_level(AGORA_LOG_INFO);
    core_log_set_repeat_window(0);
    core_log_set_clock(NULL);
    close(capture_fd);
    capture_fd = -1;
    return 0;
}

/* Returns everything written so far as one NUL-terminated string. */
static const char *output(void)
{
    ssize_t n = pread(capture_fd, captured, sizeof(captured) - 1, 0);

    captured[n > 0 ? n : 0] = '\0';
    return captured;
}

static size_t count_lines(const char *text)
{
    size_t n = 0;

    for (const char *c = text; *c != '\0'; c++)
        n += *c == '\n';
    return n;
}

/* Returns line number index (from 0) of text in out, without its newline. */
static const char *line_at(const char *text, size_t index, char *out, size_t size)
{
    const char *start = text;

    for (size_t i = 0; i < index && start != NULL; i++) {
        start = strchr(start, '\n');
        if (start != NULL)
            start++;
    }
    if (start == NULL)
        return "";
    const char *end = strchr(start, '\n');
    size_t len = end != NULL ? (size_t)(end - start) : strlen(start);
    if (len >= size)
        len = size - 1;
    memcpy(out, start, len);
    out[len] = '\0';
    return out;
}

/* ---- Formats ----------------------------------------------------------- */

static void log_logfmt_has_every_field(void **state)
{
    AGORA_INFO("runner", "run_finished", "movies", "5f2c", "done");

    assert_string_equal(output(),
                        "time=2001-09-09T01:46:40.250Z level=info "
                        "component=runner event=run_finished pipeline_id=movies "
                        "run_id=5f2c msg=done\n");
}

static void log_logfmt_leaves_out_absent_ids(void **state)
{
    AGORA_INFO("worker", "worker_starting", NULL, "", "%s", "");

    assert_string_equal(output(), "time=2001-09-09T01:46:40.250Z level=info "
                                  "component=worker event=worker_starting\n");
}

static void log_logfmt_quotes_and_escapes(void **state)
{
    AGORA_WARN("sink", "close_failed", "a b", NULL, "say \"hi\"\\ now\nx=1");

    assert_string_equal(output(),
                        "time=2001-09-09T01:46:40.250Z level=warn component=sink "
                        "event=close_failed pipeline_id=\"a b\" "
                        "msg=\"say \\\"hi\\\"\\\\ now\\nx=1\"\n");
}

static void log_json_has_every_field(void **state)
{
    agora_log_set_format(AGORA_LOG_FORMAT_JSON);
    AGORA_ERROR("pipeline", "sink_write_failed", "movies", "5f2c",
                "quote \" backslash \\ newline \n tab \t");

    assert_string_equal(output(),
                        "{\"time\":\"2001-09-09T01:46:40.250Z\",\"level\":\"error\","
                        "\"component\":\"pipeline\",\"event\":\"sink_write_failed\","
                        "\"pipeline_id\":\"movies\",\"run_id\":\"5f2c\","
                        "\"msg\":\"quote \\\" backslash \\\\ newline \\n tab \\t\"}\n");
}

static void log_json_leaves_out_absent_ids(void **state)
{
    agora_log_set_format(AGORA_LOG_FORMAT_JSON);
    AGORA_INFO("worker", "worker_stopped", NULL, NULL, "clean shutdown");

    assert_string_equal(output(),
                        "{\"time\":\"2001-09-09T01:46:40.250Z\",\"level\":\"info\","
                        "\"component\":\"worker\",\"event\":\"worker_stopped\","
                        "\"msg\":\"clean shutdown\"}\n");
}

static void log_json_escapes_control_characters(void **state)
{
    agora_log_set_format(AGORA_LOG_FORMAT_JSON);
    AGORA_INFO("c", "e", NULL, NULL, "bell\x07");

    assert_non_null(strstr(output(), "\"msg\":\"bell\\u0007\"}"));
}

static void log_level_filter_hides_lower_levels(void **state)
{
    agora_log_set_level(AGORA_LOG_WARN);
    AGORA_DEBUG("c", "debug_event", NULL, NULL, "d");
    AGORA_INFO("c", "info_event", NULL, NULL, "i");
    AGORA_WARN("c", "warn_event", NULL, NULL, "w");
    AGORA_ERROR("c", "error_event", NULL, NULL, "e");

    const char *text = output();
    assert_null(strstr(text, "info_event"));
    assert_null(strstr(text, "debug_event"));
    assert_non_null(strstr(text, "event=warn_event"));
    assert_non_null(strstr(text, "event=error_event"));
}

static void log_level_off_writes_nothing(void **state)
{
    agora_log_set_level(AGORA_LOG_OFF);
    AGORA_ERROR("c", "e", NULL, NULL, "x");

    assert_string_equal(output(), "");
}

static void log_level_parse_names(void **state)
{
    assert_int_equal(agora_log_level_parse("debug"), AGORA_LOG_DEBUG);
    assert_int_equal(agora_log_level_parse("INFO"), AGORA_LOG_INFO);
    assert_int_equal(agora_log_level_parse("warning"), AGORA_LOG_WARN);
    assert_int_equal(agora_log_level_parse("error"), AGORA_LOG_ERROR);
    assert_int_equal(agora_log_level_parse("off"), AGORA_LOG_OFF);
    assert_int_equal(agora_log_level_parse("loud"), -1);
    assert_int_equal(agora_log_level_parse(""), -1);
    assert_int_equal(agora_log_level_parse(NULL), -1);
}

static void log_format_parse_names(void **state)
{
    assert_int_equal(agora_log_format_parse("logfmt"), AGORA_LOG_FORMAT_LOGFMT);
    assert_int_equal(agora_log_format_parse("JSON"), AGORA_LOG_FORMAT_JSON);
    assert_int_equal(agora_log_format_parse("xml"), -1);
    assert_int_equal(agora_log_format_parse(""), -1);
    assert_int_equal(agora_log_format_parse(NULL), -1);
}

/* ---- Repeat rule ------------------------------------------------------- */

static void log_repeat_counts_within_window(void **state)
{
    char line[512];

    for (int i = 0; i < 5; i++) {
        fake_now = i * 10.0; /* 0, 10, 20, 30, 40: all inside 60 s */
        AGORA_ERROR("runner", "run_failed", "p", "r1", "cannot open x");
    }
    assert_int_equal(count_lines(output()), 1);

    fake_now = 61.0;
    agora_log_flush_expired();

    const char *text = output();
    assert_int_equal(count_lines(text), 2);
    assert_string_equal(line_at(text, 1, line, sizeof(line)),
                        "time=2001-09-09T01:47:41.250Z level=error "
                        "component=runner event=run_failed pipeline_id=p "
                        "run_id=r1 msg=\"cannot open x (repeated 4 times in the "
                        "last 61s)\" repeated=4");
}

static void log_repeat_ignores_numbers(void **state)
{
    char line[512];

    AGORA_ERROR("runner", "run_failed", "p", "r1", "run 1 failed after 0.001s");
    AGORA_ERROR("runner", "run_failed", "p", "r2", "run 2 failed after 0.25s");
    AGORA_ERROR("runner", "run_failed", "p", "r3", "run 3 failed after 1.5e-05s");
    agora_log_flush();

    const char *text = output();
    assert_int_equal(count_lines(text), 2);
    assert_non_null(strstr(line_at(text, 0, line, sizeof(line)),
                           "run_id=r1 msg=\"run 1 failed after 0.001s\""));
    /* The count line carries the last repeat's run id and message. */
    assert_non_null(strstr(line_at(text, 1, line, sizeof(line)),
                           "run_id=r3 msg=\"run 3 failed after 1.5e-05s "
                           "(repeated 2 times in the last 1s)\" repeated=2"));
}

static void log_repeat_other_message_closes_count(void **state)
{
    char line[512];

    AGORA_WARN("runner", "backoff", "p", NULL, "disk full");
    AGORA_WARN("runner", "backoff", "p", NULL, "disk full");
    AGORA_WARN("runner", "backoff", "p", NULL, "permission denied");

    const char *text = output();
    assert_int_equal(count_lines(text), 3);
    assert_non_null(strstr(line_at(text, 0, line, sizeof(line)), "msg=\"disk full\""));
    assert_non_null(strstr(line_at(text, 1, line, sizeof(line)),
                           "msg=\"disk full (repeated 1 time in the last 1s)\" "
                           "repeated=1"));
    assert_non_null(strstr(line_at(text, 2, line, sizeof(line)),
                           "msg=\"permission denied\""));
}

static void log_repeat_window_end_writes_count_first(void **state)
{
    char line[512];

    AGORA_ERROR("c", "e", "p", NULL, "boom");
    fake_now = 30;
    AGORA_ERROR("c", "e", "p", NULL, "boom");
    fake_now = 60;
    AGORA_ERROR("c", "e", "p", NULL, "boom");

    const char *text = output();
    assert_int_equal(count_lines(text), 3);
    assert_non_null(strstr(line_at(text, 1, line, sizeof(line)), "repeated=1"));
    assert_null(strstr(line_at(text, 2, line, sizeof(line)), "repeated"));
    assert_non_null(strstr(line_at(text, 2, line, sizeof(line)), "msg=boom"));
}

static void log_repeat_any_line_closes_ended_windows(void **state)
{
    AGORA_ERROR("c", "e", "p", NULL, "boom");
    AGORA_ERROR("c", "e", "p", NULL, "boom");
    fake_now = 120;
    AGORA_INFO("c", "other", NULL, NULL, "tick");

    const char *text = output();
    assert_int_equal(count_lines(text), 3);
    const char *count = strstr(text, "repeated=1");
    const char *tick = strstr(text, "event=other");
    assert_non_null(count);
    assert_non_null(tick);
    assert_true(count < tick);
}

static void log_repeat_spares_info_lines(void **state)
{
    for (int i = 0; i < 3; i++)
        AGORA_INFO("runner", "run_started", "p", NULL, "same");

    assert_int_equal(count_lines(output()), 3);
}

static void log_repeat_key_includes_pipeline_and_level(void **state)
{
    AGORA_ERROR("c", "e", "p1", NULL, "boom");
    AGORA_ERROR("c", "e", "p2", NULL, "boom");
    AGORA_WARN("c", "e", "p1", NULL, "boom");
    AGORA_ERROR("c", "e2", "p1", NULL, "boom");
    AGORA_ERROR("c2", "e", "p1", NULL, "boom");

    assert_int_equal(count_lines(output()), 5);
}

static void log_repeat_ignores_run_id(void **state)
{
    AGORA_ERROR("c", "e", "p", "run-a", "boom");
    AGORA_ERROR("c", "e", "p", "run-b", "boom");

    assert_int_equal(count_lines(output()), 1);
}

static void log_repeat_full_table_reports_evicted_count(void **state)
{
    char event[32];

    /* Key 0 is counted once at t=1 and then seen least recently. */
    AGORA_ERROR("c", "key0", NULL, NULL, "boom");
    fake_now = 1;
    AGORA_ERROR("c", "key0", NULL, NULL, "boom");
    for (int i = 1; i < 40; i++) {
        fake_now = 1 + i;
        snprintf(event, sizeof(event), "key%d", i);
        AGORA_ERROR("c", event, NULL, NULL, "boom");
    }

    const char *text = output();
    /* 40 first lines plus key 0's count when its slot was taken. */
    assert_int_equal(count_lines(text), 41);
    const char *count = strstr(text, "event=key0 msg=\"boom (repeated 1 time");
    assert_non_null(count);
    assert_null(strstr(text, "event=key1 msg=\"boom (repeated"));
}

static void log_flush_writes_counts_and_forgets(void **state)
{
    AGORA_ERROR("c", "e", "p", NULL, "boom");
    AGORA_ERROR("c", "e", "p", NULL, "boom");
    AGORA_ERROR("c", "e", "p", NULL, "boom");
    agora_log_flush();
    assert_int_equal(count_lines(output()), 2);
    assert_non_null(strstr(output(), "repeated=2"));

    AGORA_ERROR("c", "e", "p", NULL, "boom");
    assert_int_equal(count_lines(output()), 3);
    agora_log_flush();
    assert_int_equal(count_lines(output()), 3);
}

static void log_repeat_json_count_field(void **state)
{
    agora_log_set_format(AGORA_LOG_FORMAT_JSON);
    AGORA_ERROR("c", "e", "p", "r", "boom");
    AGORA_ERROR("c", "e", "p", "r", "boom");
    agora_log_flush();

    assert_non_null(strstr(output(),
                           "\"msg\":\"boom (repeated 1 time in the last 1s)\","
                           "\"repeated\":1}\n"));
}

static void log_repeat_window_is_settable(void **state)
{
    core_log_set_repeat_window(5);
    AGORA_ERROR("c", "e", "p", NULL, "boom");
    AGORA_ERROR("c", "e", "p", NULL, "boom");
    fake_now = 4.9;
    agora_log_flush_expired();
    assert_int_equal(count_lines(output()), 1);

    fake_now = 5;
    agora_log_flush_expired();
    assert_int_equal(count_lines(output()), 2);
    assert_non_null(strstr(output(), "(repeated 1 time in the last 5s)"));
}

#define THREADS 8
#define PER_THREAD 500

static void *log_from_thread(void *arg)
{
    for (int i = 0; i < PER_THREAD; i++)
        AGORA_ERROR("c", "e", "p", NULL, "same failure %d", i);
    return NULL;
}

static void log_repeat_counts_every_thread(void **state)
{
    pthread_t threads[THREADS];

    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, log_from_thread, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    agora_log_flush();

    const char *text = output();
    /* One written line plus the count of the other 8 * 500 - 1 = 3999. */
    assert_int_equal(count_lines(text), 2);
    assert_non_null(strstr(text, "repeated=3999\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(log_logfmt_has_every_field, setup, teardown),
        cmocka_unit_test_setup_teardown(log_logfmt_leaves_out_absent_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(log_logfmt_quotes_and_escapes, setup, teardown),
        cmocka_unit_test_setup_teardown(log_json_has_every_field, setup, teardown),
        cmocka_unit_test_setup_teardown(log_json_leaves_out_absent_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(log_json_escapes_control_characters, setup, teardown),
        cmocka_unit_test_setup_teardown(log_level_filter_hides_lower_levels, setup, teardown),
        cmocka_unit_test_setup_teardown(log_level_off_writes_nothing, setup, teardown),
        cmocka_unit_test(log_level_parse_names),
        cmocka_unit_test(log_format_parse_names),
        cmocka_unit_test_setup_teardown(log_repeat_counts_within_window, setup, teardown),
        cmocka_unit_test_setup_teardown(log_repeat_ignores_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(log_repeat_other_message_closes_count, setup, teardown),
        cmocka_unit_test_setup_teardown(log_repeat_window_end_writes_count_first, setup, teardown),
        cmocka_unit_test_setup_teardown(log_repeat_any_line_closes_ended_windows, setup, teardown),
        cmocka_unit_test_setup_teardown(log_repeat_spares_info_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(log_repeat_key_includes_pipeline_and_level, setup, teardown),
        cmocka_unit_test_setup_teardown(log_repeat_ignores_run_id, setup, teardown),
        cmocka_unit_test_setup_teardown(log_repeat_full_table_reports_evicted_count, setup, teardown),
        cmocka_unit_test_setup_teardown(log_flush_writes_counts_and_forgets, setup, teardown),
        cmocka_unit_test_setup_teardown(log_repeat_json_count_field, setup, teardown),
        cmocka_unit_test_setup_teardown(log_repeat_window_is_settable, setup, teardown),
        cmocka_unit_test_setup_teardown(log_repeat_counts_every_thread, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
