/*
 * Tests of the agora/v1 loader: accepted files, and one error per kind of
 * mistake with the file:line:column counted by hand from the test text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agora/config.h"

static char tmpdir[64];

static int setup_dir(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/agora-test-config.XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int teardown_dir(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Writes text to <tmpdir>/pipelines.toml (plus an empty in.jsonl) and loads it. */
static agora_config *load_text(const char *text, agora_error *err)
{
    char path[128], input[128];

    snprintf(input, sizeof(input), "%s/in.jsonl", tmpdir);
    FILE *f = fopen(input, "w");
    assert_non_null(f);
    fclose(f);

    snprintf(path, sizeof(path), "%s/pipelines.toml", tmpdir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    memset(err, 0, sizeof(*err));
    return agora_config_load(path, err);
}

/* Asserts that loading fails with a message that contains each needle. */
static void expect_error(const char *text, const char *position,
                         const char *detail)
{
    agora_error err;
    char expected_position[160];

    agora_config *cfg = load_text(text, &err);
    if (cfg != NULL)
        agora_config_free(cfg);
    assert_null(cfg);
    assert_int_equal(err.code, AGORA_ECONFIG);
    snprintf(expected_position, sizeof(expected_position),
             "/pipelines.toml:%s: ", position);
    if (strstr(err.message, expected_position) == NULL)
        fail_msg("expected position '%s' in: %s", expected_position, err.message);
    if (strstr(err.message, detail) == NULL)
        fail_msg("expected '%s' in: %s", detail, err.message);
}

#define HEAD "format = \"agora/v1\"\n"
#define SINK "sinks = [{ type = \"stdout\" }]\n"

static void config_loads_valid_file(void **state)
{
    agora_error err;
    char schedule[64];
    agora_scheduled_options opts;

    agora_config *cfg = load_text(
        HEAD
        "[worker]\n"
        "health_port = 9100\n"
        "graceful_shutdown_timeout = 5\n"
        "[pipelines.first]\n"
        "source = { type = \"jsonl\", path = \"in.jsonl\" }\n"
        "schedule = { mode = \"every\", minutes = 1, seconds = 30 }\n"
        "max_records = 10\n"
        "max_consecutive_errors = 3\n"
        "error_backoff_seconds = 2.5\n"
        SINK
        "[pipelines.second]\n"
        "pipeline_id = \"second-id\"\n"
        "source = { type = \"jsonl\", path = \"in.jsonl\" }\n"
        "schedule = { mode = \"continuous\" }\n"
        SINK,
        &err);
    if (cfg == NULL)
        fail_msg("%s", err.message);

    assert_int_equal(agora_config_pipeline_count(cfg), 2);
    assert_int_equal(agora_config_worker(cfg)->health_port, 9100);
    assert_string_equal(agora_config_worker(cfg)->health_host, "127.0.0.1");
    assert_true(agora_config_worker(cfg)->graceful_shutdown_timeout == 5.0);
    assert_string_equal(agora_config_pipeline_id(cfg, 0), "first");
    assert_string_equal(agora_config_pipeline_id(cfg, 1), "second-id");
    assert_int_equal(agora_config_find_pipeline(cfg, "second"), 1);
    assert_int_equal(agora_config_find_pipeline(cfg, "second-id"), 1);
    assert_int_equal(agora_config_find_pipeline(cfg, "third"), -1);

    agora_config_pipeline_schedule(cfg, 0, schedule, sizeof(schedule));
    assert_string_equal(schedule, "every 90.0s");
    agora_config_pipeline_schedule(cfg, 1, schedule, sizeof(schedule));
    assert_string_equal(schedule, "continuous");

    assert_int_equal(agora_config_pipeline_schedule_options(cfg, 0, &opts), 0);
    assert_int_equal(opts.max_records, 10);
    assert_int_equal(opts.max_consecutive_errors, 3);
    assert_true(opts.error_backoff_seconds == 2.5);
    assert_true(agora_config_pipeline_uses_stdout(cfg, 0));

    agora_bound_pipeline *bp = agora_config_build_pipeline(cfg, 0, &err);
    assert_non_null(bp);
    agora_bound_pipeline_free(bp);
    agora_config_free(cfg);
}

static void config_default_schedule_is_once(void **state)
{
    agora_error err;
    char schedule[64];

    agora_config *cfg = load_text(HEAD "[pipelines.p]\n"
                                       "source = { type = \"jsonl\", path = \"in.jsonl\" }\n" SINK,
                                  &err);
    assert_non_null(cfg);
    agora_config_pipeline_schedule(cfg, 0, schedule, sizeof(schedule));
    assert_string_equal(schedule, "once");
    agora_config_free(cfg);
}

static void config_rejects_missing_format(void **state)
{
    expect_error("[pipelines.p]\n", "1:1", "missing 'format'");
    expect_error("# a comment\nfromat = \"agora/v1\"\n[pipelines.p]\n", "2:1",
                 "unknown top-level key 'fromat' and no 'format'");
}

static void config_rejects_other_format(void **state)
{
    expect_error("format = \"agora/v2\"\n", "1:10", "unsupported format 'agora/v2'");
}

static void config_rejects_unknown_worker_key(void **state)
{
    expect_error(HEAD "[worker]\nhealth_prot = 1\n", "3:1", "unknown key 'worker.health_prot'");
}

static void config_rejects_bad_port(void **state)
{
    expect_error(HEAD "[worker]\nhealth_port = 70000\n", "3:15", "between 0");
}

static void config_rejects_missing_source(void **state)
{
    expect_error(HEAD "[pipelines.p]\n" SINK, "2:1", "has no source");
}

static void config_rejects_missing_sinks(void **state)
{
    expect_error(HEAD "[pipelines.p]\nsource = { type = \"jsonl\", path = \"in.jsonl\" }\n",
                 "2:1", "has no sinks");
}

static void config_rejects_empty_sinks(void **state)
{
    expect_error(HEAD "[pipelines.p]\nsource = { type = \"jsonl\", path = \"in.jsonl\" }\n"
                      "sinks = []\n",
                 "4:9", "sinks is empty");
}

static void config_rejects_missing_required_option(void **state)
{
    expect_error(HEAD "[pipelines.p]\nsource = { type = \"jsonl\" }\n" SINK, "3:10",
                 "missing the required option 'path'");
}

static void config_rejects_unknown_option(void **state)
{
    expect_error(HEAD "[pipelines.p]\nsource = { type = \"jsonl\", path = \"in.jsonl\", paht = \"x\" }\n" SINK,
                 "3:47", "unknown option 'paht' for source type 'jsonl'");
}

static void config_rejects_unknown_middleware_type(void **state)
{
    expect_error(HEAD "[pipelines.p]\nsource = { type = \"jsonl\", path = \"in.jsonl\" }\n" SINK
                      "[[pipelines.p.middlewares]]\ntype = \"dedupe\"\n",
                 "6:8", "unknown middleware type 'dedupe'");
}

static void config_points_at_bad_filter_expression(void **state)
{
    /* The factory reports the key "expression"; the loader adds its position. */
    expect_error(HEAD "[pipelines.p]\nsource = { type = \"jsonl\", path = \"in.jsonl\" }\n" SINK
                      "[[pipelines.p.middlewares]]\ntype = \"filter\"\nexpression = \"a >= \"\n",
                 "7:14", "expected a value after '>='");
}

static void config_rejects_zero_interval(void **state)
{
    expect_error(HEAD "[pipelines.p]\nsource = { type = \"jsonl\", path = \"in.jsonl\" }\n" SINK
                      "schedule = { mode = \"every\", seconds = 0 }\n",
                 "5:12", "greater than 0 seconds");
}

static void config_accepts_cron_schedule(void **state)
{
    agora_error err;
    char schedule[64];

    agora_config *cfg = load_text(HEAD "[pipelines.p]\n"
                                       "source = { type = \"jsonl\", path = \"in.jsonl\" }\n" SINK
                                       "schedule = { mode = \"cron\", expression = \"0 */6 * * *\" }\n",
                                  &err);
    if (cfg == NULL)
        fail_msg("%s", err.message);
    agora_config_pipeline_schedule(cfg, 0, schedule, sizeof(schedule));
    assert_string_equal(schedule, "cron('0 */6 * * *')");
    agora_config_free(cfg);
}

static void config_rejects_bad_cron_expression(void **state)
{
    expect_error(HEAD "[pipelines.p]\nsource = { type = \"jsonl\", path = \"in.jsonl\" }\n" SINK
                      "schedule = { mode = \"cron\", expression = \"0 25 * * *\" }\n",
                 "5:42", "hour");
}

static void config_rejects_cron_without_expression(void **state)
{
    expect_error(HEAD "[pipelines.p]\nsource = { type = \"jsonl\", path = \"in.jsonl\" }\n" SINK
                      "schedule = { mode = \"cron\" }\n",
                 "5:12", "needs an expression");
}

static void config_rejects_unknown_timezone(void **state)
{
    expect_error(HEAD "[pipelines.p]\nsource = { type = \"jsonl\", path = \"in.jsonl\" }\n" SINK
                      "schedule = { mode = \"cron\", expression = \"0 * * * *\", timezone = \"Mars/Olympus\" }\n",
                 "5:66", "Mars/Olympus");
}

static void config_rejects_expression_outside_cron(void **state)
{
    expect_error(HEAD "[pipelines.p]\nsource = { type = \"jsonl\", path = \"in.jsonl\" }\n" SINK
                      "schedule = { mode = \"every\", minutes = 5, expression = \"0 9 * * *\" }\n",
                 "5:43", "'expression' applies only to mode \"cron\", not \"every\"");
}

static void config_rejects_timezone_outside_cron(void **state)
{
    expect_error(HEAD "[pipelines.p]\nsource = { type = \"jsonl\", path = \"in.jsonl\" }\n" SINK
                      "schedule = { mode = \"once\", timezone = \"Mars/Base\" }\n",
                 "5:29", "'timezone' applies only to mode \"cron\", not \"once\"");
}

static void config_reports_first_error_in_file(void **state)
{
    /* The source on line 3 and the middleware on line 6 are both wrong: the
     * error of line 3 comes first in the file, so it is the one reported. */
    expect_error(HEAD "[pipelines.p]\nsource = { type = \"jsonl\", pth = \"in.jsonl\" }\n" SINK
                      "[[pipelines.p.middlewares]]\ntype = \"nosuch\"\n",
                 "3:28", "unknown option 'pth'");
}

static void config_rejects_unknown_schedule_mode(void **state)
{
    expect_error(HEAD "[pipelines.p]\nsource = { type = \"jsonl\", path = \"in.jsonl\" }\n" SINK
                      "schedule = { mode = \"hourly\" }\n",
                 "5:21", "unknown schedule mode 'hourly'");
}

static void config_rejects_dlq_without_path(void **state)
{
    expect_error(HEAD "[pipelines.p]\nsource = { type = \"jsonl\", path = \"in.jsonl\" }\n" SINK
                      "dlq = { on_error = \"log\" }\n",
                 "5:7", "dlq needs a 'path'");
}

static void config_rejects_duplicate_pipeline_id(void **state)
{
    expect_error(HEAD "[pipelines.a]\npipeline_id = \"x\"\nsource = { type = \"jsonl\", path = \"in.jsonl\" }\n" SINK
                      "[pipelines.b]\npipeline_id = \"x\"\nsource = { type = \"jsonl\", path = \"in.jsonl\" }\n" SINK,
                 "7:15", "share the pipeline_id 'x'");
}

static void config_rejects_wrong_value_type(void **state)
{
    expect_error(HEAD "[pipelines.p]\nsource = { type = \"jsonl\", path = \"in.jsonl\" }\n" SINK
                      "max_records = \"ten\"\n",
                 "5:15", "pipeline 'p': 'max_records' must be an integer, got a string");
}

static void config_reports_toml_syntax_position(void **state)
{
    expect_error(HEAD "[pipelines.p]\nsource = { type = \"jsonl\", path = \"in.jsonl\"\n",
                 "3:45", "an inline table must be on a single line");
}

static void config_reports_missing_file(void **state)
{
    agora_error err;
    memset(&err, 0, sizeof(err));
    assert_null(agora_config_load("/nonexistent/agora/pipelines.toml", &err));
    assert_int_equal(err.code, AGORA_ECONFIG);
    assert_non_null(strstr(err.message, "/nonexistent/agora/pipelines.toml"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_loads_valid_file),
        cmocka_unit_test(config_default_schedule_is_once),
        cmocka_unit_test(config_rejects_missing_format),
        cmocka_unit_test(config_rejects_other_format),
        cmocka_unit_test(config_rejects_unknown_worker_key),
        cmocka_unit_test(config_rejects_bad_port),
        cmocka_unit_test(config_rejects_missing_source),
        cmocka_unit_test(config_rejects_missing_sinks),
        cmocka_unit_test(config_rejects_empty_sinks),
        cmocka_unit_test(config_rejects_missing_required_option),
        cmocka_unit_test(config_rejects_unknown_option),
        cmocka_unit_test(config_rejects_unknown_middleware_type),
        cmocka_unit_test(config_points_at_bad_filter_expression),
        cmocka_unit_test(config_rejects_zero_interval),
        cmocka_unit_test(config_accepts_cron_schedule),
        cmocka_unit_test(config_rejects_bad_cron_expression),
        cmocka_unit_test(config_rejects_cron_without_expression),
        cmocka_unit_test(config_rejects_unknown_timezone),
        cmocka_unit_test(config_rejects_expression_outside_cron),
        cmocka_unit_test(config_rejects_timezone_outside_cron),
        cmocka_unit_test(config_reports_first_error_in_file),
        cmocka_unit_test(config_rejects_unknown_schedule_mode),
        cmocka_unit_test(config_rejects_dlq_without_path),
        cmocka_unit_test(config_rejects_duplicate_pipeline_id),
        cmocka_unit_test(config_rejects_wrong_value_type),
        cmocka_unit_test(config_reports_toml_syntax_position),
        cmocka_unit_test(config_reports_missing_file),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
