/*
 * Tests of cron schedules: the parser and its error messages, field names,
 * the day-of-month/day-of-week OR rule, next fire times (hand-computed),
 * the TZif reader and the daylight saving time rules.
 *
 * UTC offsets and instants in the time zone tests were computed with
 * Python 3.11's zoneinfo module on the same tz database (Debian tzdata),
 * for example:
 *   datetime(2026,3,29,1,0,tzinfo=timezone.utc)
 *       .astimezone(ZoneInfo("Europe/Berlin")).utcoffset()
 * Tests that need the system tz database skip when it is missing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agora/runner.h"
#include "runner/tz.h"

/* ---- Helpers ------------------------------------------------------------ */

/* Parses "YYYY-MM-DDTHH:MM:SSZ" into Unix seconds. */
static int64_t utc(const char *iso)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    assert_int_equal(sscanf(iso, "%4d-%2d-%2dT%2d:%2d:%2dZ", &tm.tm_year, &tm.tm_mon,
                            &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec),
                     6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

static void format_utc(int64_t t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/*
 * Writes the next `count` fire times of expression after `from`, separated
 * by spaces, into buf. Fails the test when parsing or a search fails.
 */
static void next_times(const char *expression, const char *tz_name, const char *from,
                       int count, char *buf, size_t size)
{
    agora_error err;
    agora_cron *cron = agora_cron_parse(expression, tz_name, &err);
    int64_t t = utc(from);
    size_t used = 0;

    if (cron == NULL)
        fail_msg("parse of '%s' failed: %s", expression, err.message);
    buf[0] = '\0';
    for (int i = 0; i < count; i++) {
        char when[32];
        if (agora_cron_next(cron, t, &t, &err) != 0)
            fail_msg("next of '%s' failed: %s", expression, err.message);
        format_utc(t, when, sizeof(when));
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i > 0 ? " " : "", when);
    }
    agora_cron_free(cron);
}

static void assert_next(const char *expression, const char *from, const char *expected)
{
    char buf[512];
    int count = 1;

    for (const char *p = expected; *p != '\0'; p++)
        count += *p == ' ';
    next_times(expression, NULL, from, count, buf, sizeof(buf));
    assert_string_equal(buf, expected);
}

static void assert_next_tz(const char *expression, const char *tz_name,
                           const char *from, const char *expected)
{
    char buf[512];
    int count = 1;

    for (const char *p = expected; *p != '\0'; p++)
        count += *p == ' ';
    next_times(expression, tz_name, from, count, buf, sizeof(buf));
    assert_string_equal(buf, expected);
}

/* Parses expression, expects a failure and returns the message in err. */
static void parse_fails(const char *expression, const char *tz_name, agora_error *err)
{
    agora_cron *cron = agora_cron_parse(expression, tz_name, err);

    if (cron != NULL) {
        agora_cron_free(cron);
        fail_msg("'%s' parsed but should be rejected", expression);
    }
    assert_true(err->code < 0);
}

static bool have_zoneinfo(void)
{
    const char *dir = getenv("TZDIR");
    char path[512];

    snprintf(path, sizeof(path), "%s/Europe/Berlin",
             dir != NULL && dir[0] != '\0' ? dir : RUNNER_TZ_DEFAULT_DIR);
    if (access(path, R_OK) == 0)
        return true;
    printf("skip: %s is missing (install the tzdata package)\n", path);
    return false;
}

/* ---- Parser errors ------------------------------------------------------ */

static void cron_error_names_field_and_value(void **state)
{
    agora_error err;

    parse_fails("0 25 * * *", NULL, &err);
    assert_string_equal(err.message,
                        "cron expression '0 25 * * *': hour field: value 25 out of "
                        "range 0-23");
    assert_int_equal(err.code, AGORA_EINVAL);
}

static void cron_error_out_of_range_values(void **state)
{
    agora_error err;

    parse_fails("60 * * * *", NULL, &err);
    assert_non_null(strstr(err.message, "minute field: value 60 out of range 0-59"));
    parse_fails("* * 0 * *", NULL, &err);
    assert_non_null(strstr(err.message, "day-of-month field: value 0 out of range 1-31"));
    parse_fails("* * 32 * *", NULL, &err);
    assert_non_null(strstr(err.message, "day-of-month field: value 32 out of range 1-31"));
    parse_fails("* * * 13 *", NULL, &err);
    assert_non_null(strstr(err.message, "month field: value 13 out of range 1-12"));
    parse_fails("* * * 0 *", NULL, &err);
    assert_non_null(strstr(err.message, "month field: value 0 out of range 1-12"));
    parse_fails("* * * * 8", NULL, &err);
    assert_non_null(strstr(err.message, "day-of-week field: value 8 out of range 0-7"));
    parse_fails("1-70 * * * *", NULL, &err);
    assert_non_null(strstr(err.message, "minute field: value 70 out of range 0-59"));
}

static void cron_error_field_count(void **state)
{
    agora_error err;

    parse_fails("* * * *", NULL, &err);
    assert_non_null(strstr(err.message, "expected 5 fields"));
    assert_non_null(strstr(err.message, "got 4"));
    parse_fails("0 * * * * *", NULL, &err);
    assert_non_null(strstr(err.message, "got 6"));
    assert_non_null(strstr(err.message, "seconds or year field is not supported"));
    parse_fails("", NULL, &err);
    assert_non_null(strstr(err.message, "got 0"));
}

static void cron_error_syntax(void **state)
{
    agora_error err;

    parse_fails("1,,2 * * * *", NULL, &err);
    assert_non_null(strstr(err.message, "minute field: empty list element"));
    parse_fails("*/0 * * * *", NULL, &err);
    assert_non_null(strstr(err.message, "minute field: step 0 in '*/0' is invalid"));
    parse_fails("* 5-3 * * *", NULL, &err);
    assert_non_null(strstr(err.message, "hour field: range 5-3 is reversed"));
    parse_fails("-5 * * * *", NULL, &err);
    assert_non_null(strstr(err.message, "negative numbers are not allowed"));
    parse_fails("*/ * * * *", NULL, &err);
    assert_non_null(strstr(err.message, "minute field: invalid step"));
    parse_fails("*/x * * * *", NULL, &err);
    assert_non_null(strstr(err.message, "invalid step 'x'"));
    parse_fails("1-2-3 * * * *", NULL, &err);
    assert_non_null(strstr(err.message, "invalid range '1-2-3'"));
    parse_fails("5x * * * *", NULL, &err);
    assert_non_null(strstr(err.message, "invalid value '5x'"));
    parse_fails("? * * * *", NULL, &err);
    assert_non_null(strstr(err.message, "minute field: invalid value '?'"));
    parse_fails("* * L * *", NULL, &err);
    assert_non_null(strstr(err.message, "day-of-month field: invalid value 'L'"));
    parse_fails("* * * * 5#2", NULL, &err);
    assert_non_null(strstr(err.message, "day-of-week field: invalid value '5#2'"));
}

static void cron_error_names(void **state)
{
    agora_error err;

    parse_fails("* * * foo *", NULL, &err);
    assert_non_null(strstr(err.message, "month field: unknown name 'foo'; use jan..dec"));
    parse_fails("* * * * sunday", NULL, &err);
    assert_non_null(strstr(err.message, "day-of-week field: unknown name 'sunday'"));
    /* Names belong to the month and day-of-week fields only. */
    parse_fails("* mon * * *", NULL, &err);
    assert_non_null(strstr(err.message, "hour field: invalid value 'mon'"));
    parse_fails("* * * mon *", NULL, &err);
    assert_non_null(strstr(err.message, "month field: unknown name 'mon'"));
}

static void cron_error_macro_and_length(void **state)
{
    agora_error err;
    char long_expression[200];

    parse_fails("@reboot", NULL, &err);
    assert_non_null(strstr(err.message, "'@reboot': unknown macro"));
    parse_fails("@daily 5", NULL, &err);
    assert_non_null(strstr(err.message, "unknown macro"));

    memset(long_expression, ' ', sizeof(long_expression) - 1);
    long_expression[sizeof(long_expression) - 1] = '\0';
    memcpy(long_expression, "* * * * *", 9);
    parse_fails(long_expression, NULL, &err);
    assert_non_null(strstr(err.message, "characters long; the maximum is 127"));

    assert_null(agora_cron_parse(NULL, NULL, &err));
    assert_int_equal(err.code, AGORA_EINVAL);
}

static void cron_error_never_fires(void **state)
{
    agora_error err;

    parse_fails("0 0 30 2 *", NULL, &err);
    assert_non_null(strstr(err.message, "cron expression '0 0 30 2 *' can never fire"));
    parse_fails("0 0 31 4,6,9,11 *", NULL, &err);
    assert_non_null(strstr(err.message, "can never fire"));
    parse_fails("0 0 30,31 feb *", NULL, &err);
    assert_non_null(strstr(err.message, "can never fire"));
    /* croniter 1.3.5 raises here too although Mondays in February exist. */
    parse_fails("0 0 31 2 mon", NULL, &err);
    assert_non_null(strstr(err.message, "the day-of-week field does not change this"));
}

static void cron_leap_day_is_possible(void **state)
{
    /* 2100 is not a leap year, so 2096 is followed by 2104. */
    assert_next("0 0 29 2 *", "2096-03-01T00:00:00Z",
                "2104-02-29T00:00:00Z 2108-02-29T00:00:00Z");
    assert_next("0 12 29 feb *", "2024-02-28T23:59:59Z",
                "2024-02-29T12:00:00Z 2028-02-29T12:00:00Z");
}

static void cron_search_stops_at_year_9999(void **state)
{
    agora_error err;
    agora_cron *cron = agora_cron_parse("0 0 29 2 *", NULL, &err);
    int64_t next = 0;

    assert_non_null(cron);
    /* 9996 is a leap year, and the next one would be 10000. */
    assert_int_equal(agora_cron_next(cron, utc("9996-03-01T00:00:00Z"), &next, &err),
                     AGORA_ENOTFOUND);
    assert_non_null(strstr(err.message, "no fire time within 8 years after "
                                        "9996-03-01T00:00:00Z"));
    assert_int_equal(agora_cron_next(cron, INT64_MAX, &next, &err), AGORA_EINVAL);
    agora_cron_free(cron);
}

/* ---- Fields and rules --------------------------------------------------- */

static void cron_next_is_strictly_after(void **state)
{
    assert_next("* * * * *", "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z");
    assert_next("* * * * *", "2026-01-01T00:00:59Z", "2026-01-01T00:01:00Z");
    assert_next("0 0 * * *", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z");
    assert_next("0 */6 * * *", "2026-12-04T17:13:00Z",
                "2026-12-04T18:00:00Z 2026-12-05T00:00:00Z");
}

static void cron_year_and_month_ends(void **state)
{
    assert_next("59 23 31 12 *", "2026-12-31T23:59:00Z", "2027-12-31T23:59:00Z");
    assert_next("0 0 1 1 *", "2026-12-31T23:59:59Z", "2027-01-01T00:00:00Z");
    assert_next("0 0 31 * *", "2026-01-31T00:00:00Z",
                "2026-03-31T00:00:00Z 2026-05-31T00:00:00Z");
    /* A list with a day that February lacks must not skip March 1 (croniter
     * 1.3.5 returns March 31 here). */
    assert_next("0 0 1,31 * *", "2026-02-15T00:00:00Z", "2026-03-01T00:00:00Z");
}

static void cron_lists_ranges_steps(void **state)
{
    assert_next("5,10-12 * * * *", "2026-01-01T00:06:00Z",
                "2026-01-01T00:10:00Z 2026-01-01T00:11:00Z 2026-01-01T00:12:00Z "
                "2026-01-01T01:05:00Z");
    assert_next("10-30/10 * * * *", "2026-01-01T00:00:00Z",
                "2026-01-01T00:10:00Z 2026-01-01T00:20:00Z 2026-01-01T00:30:00Z "
                "2026-01-01T01:10:00Z");
    /* "a/n" means a-max/n, as in croniter: minutes 10, 30 and 50. */
    assert_next("10/20 * * * *", "2026-01-01T00:00:00Z",
                "2026-01-01T00:10:00Z 2026-01-01T00:30:00Z 2026-01-01T00:50:00Z "
                "2026-01-01T01:10:00Z");
    /* A step larger than the field keeps the first value only. */
    assert_next("*/100 * * * *", "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z");
    /* Months 1, 4, 7, 10 at 00:00 on the 1st. */
    assert_next("0 0 1 */3 *", "2026-01-01T00:00:00Z",
                "2026-04-01T00:00:00Z 2026-07-01T00:00:00Z");
    assert_next("  0   0\t1 1 *  ", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
}

static void cron_names_case_insensitive(void **state)
{
    /* 2026-01-05 is a Monday. */
    assert_next("0 9 * JAN-mar MON-Fri", "2026-01-09T10:00:00Z",
                "2026-01-12T09:00:00Z 2026-01-13T09:00:00Z");
    assert_next("0 9 * Dec Sat", "2026-01-01T00:00:00Z", "2026-12-05T09:00:00Z");
    /* "fri-sun" wraps to Sunday as 7: Friday, Saturday, Sunday. */
    assert_next("0 0 * * fri-sun", "2026-01-05T00:00:00Z",
                "2026-01-09T00:00:00Z 2026-01-10T00:00:00Z 2026-01-11T00:00:00Z "
                "2026-01-16T00:00:00Z");
    assert_next("0 0 * jun/3 *", "2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z");
}

static void cron_sunday_is_0_and_7(void **state)
{
    /* 2026-01-04 and 2026-01-11 are Sundays. */
    assert_next("0 0 * * 0", "2026-01-01T00:00:00Z",
                "2026-01-04T00:00:00Z 2026-01-11T00:00:00Z");
    assert_next("0 0 * * 7", "2026-01-01T00:00:00Z",
                "2026-01-04T00:00:00Z 2026-01-11T00:00:00Z");
    assert_next("0 0 * * sun", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z");
    /* "1/2" in the day-of-week field is 1-7/2 = Mon, Wed, Fri and Sunday. */
    assert_next("0 0 * * 1/2", "2026-01-03T00:00:00Z",
                "2026-01-04T00:00:00Z 2026-01-05T00:00:00Z 2026-01-07T00:00:00Z "
                "2026-01-09T00:00:00Z 2026-01-11T00:00:00Z");
}

static void cron_day_or_rule(void **state)
{
    /* The 13th or any Friday: 2026-02-06 and 2026-02-13 are Fridays,
     * 2026-03-13 is a Friday too. */
    assert_next("0 0 13 * fri", "2026-02-01T00:00:00Z",
                "2026-02-06T00:00:00Z 2026-02-13T00:00:00Z 2026-02-20T00:00:00Z "
                "2026-02-27T00:00:00Z 2026-03-06T00:00:00Z");
    /* The 1st or a Monday (2026-06-01 is a Monday, 2026-06-08 the next). */
    assert_next("0 0 1 * 1", "2026-05-25T00:00:00Z",
                "2026-06-01T00:00:00Z 2026-06-08T00:00:00Z");
    /* Only the day-of-month restricted: plain day of month. */
    assert_next("0 0 13 * *", "2026-02-01T00:00:00Z", "2026-02-13T00:00:00Z");
    /* Only the day-of-week restricted: plain weekday. */
    assert_next("0 0 * * fri", "2026-02-01T00:00:00Z", "2026-02-06T00:00:00Z");
}

static void cron_restricted_like_croniter(void **state)
{
    /* "*" + "/2" selects odd days, so the day-of-month field is restricted
     * and the OR rule applies: odd days or Mondays. 2026-03-02 is a Monday. */
    assert_next("0 0 */2 * mon", "2026-03-01T00:00:00Z",
                "2026-03-02T00:00:00Z 2026-03-03T00:00:00Z 2026-03-05T00:00:00Z");
    /* "*" + "/1" and "1-31" select every day, so they are not restricted:
     * only Mondays fire. */
    assert_next("0 0 */1 * mon", "2026-03-01T00:00:00Z",
                "2026-03-02T00:00:00Z 2026-03-09T00:00:00Z");
    assert_next("0 0 1-31 * mon", "2026-03-01T00:00:00Z",
                "2026-03-02T00:00:00Z 2026-03-09T00:00:00Z");
    /* "0-7" selects every weekday: only the 15th fires. */
    assert_next("0 0 15 * 0-7", "2026-03-01T00:00:00Z",
                "2026-03-15T00:00:00Z 2026-04-15T00:00:00Z");
}

static void cron_macros(void **state)
{
    assert_next("@yearly", "2026-05-05T00:00:00Z", "2027-01-01T00:00:00Z");
    assert_next("@ANNUALLY", "2026-05-05T00:00:00Z", "2027-01-01T00:00:00Z");
    assert_next("@monthly", "2026-05-05T00:00:00Z", "2026-06-01T00:00:00Z");
    assert_next("@weekly", "2026-05-05T00:00:00Z", "2026-05-10T00:00:00Z");
    assert_next("@daily", "2026-05-05T00:00:00Z", "2026-05-06T00:00:00Z");
    assert_next("@midnight", "2026-05-05T00:00:00Z", "2026-05-06T00:00:00Z");
    assert_next("@hourly", "2026-05-05T00:30:00Z", "2026-05-05T01:00:00Z");
}

static void cron_schedule_cron_fills_struct(void **state)
{
    agora_schedule s;
    agora_error err;
    char text[160];

    assert_int_equal(agora_schedule_cron(&s, "0 */6 * * *", NULL, &err), 0);
    assert_int_equal(s.mode, AGORA_SCHEDULE_CRON);
    assert_string_equal(s.expression, "0 */6 * * *");
    assert_string_equal(s.timezone, "");
    agora_schedule_describe(&s, text, sizeof(text));
    assert_string_equal(text, "cron('0 */6 * * *')");

    assert_int_equal(agora_schedule_cron(&s, "0 25 * * *", NULL, &err), AGORA_EINVAL);
    assert_non_null(strstr(err.message, "hour field: value 25 out of range 0-23"));
    assert_int_equal(agora_schedule_cron(&s, "0 0 * * *", "No/Such_Zone", &err),
                     AGORA_EINVAL);
    assert_non_null(strstr(err.message, "unknown time zone 'No/Such_Zone'"));
    assert_int_equal(agora_schedule_cron(NULL, "* * * * *", NULL, &err), AGORA_EINVAL);
}

/* ---- TZif reader -------------------------------------------------------- */

static void cron_tz_offsets_match_zoneinfo(void **state)
{
    static const struct {
        const char *zone;
        const char *instant;
        int32_t offset;
    } cases[] = {
        {"Europe/Berlin", "2026-01-15T12:00:00Z", 3600},
        {"Europe/Berlin", "2026-07-01T12:00:00Z", 7200},
        {"Europe/Berlin", "2026-03-29T00:59:59Z", 3600},
        {"Europe/Berlin", "2026-03-29T01:00:00Z", 7200},
        {"Europe/Berlin", "2026-10-25T00:59:59Z", 7200},
        {"Europe/Berlin", "2026-10-25T01:00:00Z", 3600},
        /* Past the transitions the file lists: the footer rule decides. */
        {"Europe/Berlin", "2050-03-27T00:59:59Z", 3600},
        {"Europe/Berlin", "2050-03-27T01:00:00Z", 7200},
        {"Europe/Berlin", "1900-01-01T00:00:00Z", 3600},
        {"America/New_York", "2026-03-08T06:59:59Z", -18000},
        {"America/New_York", "2026-03-08T07:00:00Z", -14400},
        {"America/New_York", "2026-11-01T05:59:59Z", -14400},
        {"America/New_York", "2026-11-01T06:00:00Z", -18000},
        {"America/New_York", "2060-07-01T00:00:00Z", -14400},
        /* Southern hemisphere: daylight time spans the new year. */
        {"Australia/Sydney", "2050-01-15T00:00:00Z", 39600},
        {"Australia/Sydney", "2050-07-01T00:00:00Z", 36000},
        /* A 30-minute daylight saving shift. */
        {"Australia/Lord_Howe", "2050-01-15T00:00:00Z", 39600},
        {"Australia/Lord_Howe", "2050-07-01T00:00:00Z", 37800},
        {"Asia/Tokyo", "2026-07-01T00:00:00Z", 32400},
        {"Asia/Kolkata", "2026-07-01T00:00:00Z", 19800},
    };
    agora_error err;

    if (!have_zoneinfo())
        skip();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        runner_tz *tz = runner_tz_load(cases[i].zone, &err);
        if (tz == NULL)
            fail_msg("%s: %s", cases[i].zone, err.message);
        int32_t offset = runner_tz_offset(tz, utc(cases[i].instant));
        if (offset != cases[i].offset)
            fail_msg("%s at %s: offset %d, expected %d", cases[i].zone,
                     cases[i].instant, offset, cases[i].offset);
        runner_tz_free(tz);
    }
}

static void cron_tz_next_transition(void **state)
{
    agora_error err;
    runner_tz *tz;

    if (!have_zoneinfo())
        skip();
    tz = runner_tz_load("Europe/Berlin", &err);
    assert_non_null(tz);
    assert_int_equal(runner_tz_next_transition(tz, utc("2026-03-01T00:00:00Z")),
                     utc("2026-03-29T01:00:00Z"));
    assert_int_equal(runner_tz_next_transition(tz, utc("2026-03-29T01:00:00Z")),
                     utc("2026-10-25T01:00:00Z"));
    /* From the footer rule "CET-1CEST,M3.5.0,M10.5.0/3". */
    assert_int_equal(runner_tz_next_transition(tz, utc("2049-12-01T00:00:00Z")),
                     utc("2050-03-27T01:00:00Z"));
    assert_int_equal(runner_tz_next_transition(tz, utc("2050-03-27T01:00:00Z")),
                     utc("2050-10-30T01:00:00Z"));
    runner_tz_free(tz);

    tz = runner_tz_load("Asia/Tokyo", &err);
    assert_non_null(tz);
    assert_true(runner_tz_next_transition(tz, utc("2026-01-01T00:00:00Z")) == INT64_MAX);
    runner_tz_free(tz);
}

static void cron_tz_resolve_local(void **state)
{
    agora_error err;
    runner_tz *tz;
    int64_t instant = 0;

    if (!have_zoneinfo())
        skip();
    tz = runner_tz_load("Europe/Berlin", &err);
    assert_non_null(tz);
    /* 02:30 on 2026-03-29 is skipped; the gap ends at 01:00Z. */
    assert_int_equal(runner_tz_resolve_local(tz, utc("2026-03-29T02:30:00Z"), &instant),
                     RUNNER_TZ_LOCAL_GAP);
    assert_int_equal(instant, utc("2026-03-29T01:00:00Z"));
    /* 02:30 on 2026-10-25 occurs at 00:30Z (CEST) and 01:30Z (CET). */
    assert_int_equal(runner_tz_resolve_local(tz, utc("2026-10-25T02:30:00Z"), &instant),
                     RUNNER_TZ_LOCAL_EXISTS);
    assert_int_equal(instant, utc("2026-10-25T00:30:00Z"));
    assert_int_equal(runner_tz_resolve_local(tz, utc("2026-07-01T12:00:00Z"), &instant),
                     RUNNER_TZ_LOCAL_EXISTS);
    assert_int_equal(instant, utc("2026-07-01T10:00:00Z"));
    runner_tz_free(tz);
}

static void cron_tz_builtin_utc(void **state)
{
    agora_error err;
    runner_tz *tz = runner_tz_load("UTC", &err);

    assert_non_null(tz);
    assert_int_equal(runner_tz_offset(tz, utc("2026-07-01T00:00:00Z")), 0);
    assert_true(runner_tz_next_transition(tz, 0) == INT64_MAX);
    runner_tz_free(tz);
}

static void cron_tz_rejects_bad_names(void **state)
{
    agora_error err;

    assert_null(runner_tz_load("../../etc/passwd", &err));
    assert_non_null(strstr(err.message, "invalid time zone name '../../etc/passwd'"));
    assert_null(runner_tz_load("/etc/localtime", &err));
    assert_non_null(strstr(err.message, "invalid time zone name"));
    assert_null(runner_tz_load("Europe//Berlin", &err));
    assert_non_null(strstr(err.message, "invalid time zone name"));
    assert_null(runner_tz_load("Europe/Berlin now", &err));
    assert_non_null(strstr(err.message, "invalid time zone name"));
    parse_fails("0 0 * * *", "Mars/Olympus_Mons", &err);
    assert_non_null(strstr(err.message, "unknown time zone 'Mars/Olympus_Mons'"));
}

/* ---- Hand-built TZif files ---------------------------------------------- */

typedef struct byte_buf {
    unsigned char data[512];
    size_t len;
} byte_buf;

static void put_bytes(byte_buf *b, const void *p, size_t n)
{
    assert_true(b->len + n <= sizeof(b->data));
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_be32(byte_buf *b, uint32_t v)
{
    unsigned char p[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    put_bytes(b, p, 4);
}

static void put_be64(byte_buf *b, uint64_t v)
{
    put_be32(b, (uint32_t)(v >> 32));
    put_be32(b, (uint32_t)v);
}

static void put_header(byte_buf *b, char version, uint32_t leap_count,
                       uint32_t time_count, uint32_t type_count, uint32_t char_count)
{
    unsigned char zero[15] = {0};

    put_bytes(b, "TZif", 4);
    put_bytes(b, &version, 1);
    put_bytes(b, zero, 15);
    put_be32(b, 0); /* isutcnt */
    put_be32(b, 0); /* isstdcnt */
    put_be32(b, leap_count);
    put_be32(b, time_count);
    put_be32(b, type_count);
    put_be32(b, char_count);
}

static void put_type(byte_buf *b, int32_t offset, unsigned char is_dst,
                     unsigned char abbreviation_index)
{
    put_be32(b, (uint32_t)offset);
    put_bytes(b, &is_dst, 1);
    put_bytes(b, &abbreviation_index, 1);
}

/*
 * A version 2 zone: +01:00 ("AAA") until 1000000000 (2001-09-09T01:46:40Z),
 * then +02:00 ("BBB"), and the footer given.
 */
static void build_zone(byte_buf *b, const char *footer)
{
    memset(b, 0, sizeof(*b));
    put_header(b, '2', 0, 0, 1, 4);
    put_type(b, 3600, 0, 0);
    put_bytes(b, "AAA", 4);

    put_header(b, '2', 0, 1, 2, 8);
    put_be64(b, 1000000000);
    put_bytes(b, "\x01", 1);
    put_type(b, 3600, 0, 0);
    put_type(b, 7200, 0, 4);
    put_bytes(b, "AAA\0BBB", 8);
    put_bytes(b, "\n", 1);
    put_bytes(b, footer, strlen(footer));
    put_bytes(b, "\n", 1);
}

typedef struct tzdir_fixture {
    char dir[64];
    char *old_tzdir;
} tzdir_fixture;

static int tzdir_setup(void **state)
{
    tzdir_fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/agora-tz.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    if (getenv("TZDIR") != NULL)
        f->old_tzdir = strdup(getenv("TZDIR"));
    setenv("TZDIR", f->dir, 1);
    *state = f;
    return 0;
}

static int tzdir_teardown(void **state)
{
    tzdir_fixture *f = *state;
    char path[128];

    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s/Test%d", f->dir, i);
        unlink(path);
    }
    rmdir(f->dir);
    if (f->old_tzdir != NULL)
        setenv("TZDIR", f->old_tzdir, 1);
    else
        unsetenv("TZDIR");
    free(f->old_tzdir);
    free(f);
    return 0;
}

static void write_zone(const tzdir_fixture *f, int n, const void *data, size_t len)
{
    char path[128];
    FILE *out;

    snprintf(path, sizeof(path), "%s/Test%d", f->dir, n);
    out = fopen(path, "wb");
    assert_non_null(out);
    assert_int_equal(fwrite(data, 1, len, out), len);
    fclose(out);
}

static void cron_tzif_hand_built(void **state)
{
    tzdir_fixture *f = *state;
    agora_error err;
    byte_buf b;
    runner_tz *tz;

    build_zone(&b, "BBB-2");
    write_zone(f, 0, b.data, b.len);
    tz = runner_tz_load("Test0", &err);
    if (tz == NULL)
        fail_msg("%s", err.message);
    assert_int_equal(runner_tz_offset(tz, 0), 3600);
    assert_int_equal(runner_tz_offset(tz, 999999999), 3600);
    assert_int_equal(runner_tz_offset(tz, 1000000000), 7200);
    assert_int_equal(runner_tz_offset(tz, 4000000000), 7200);
    assert_int_equal(runner_tz_next_transition(tz, 0), 1000000000);
    assert_true(runner_tz_next_transition(tz, 1000000000) == INT64_MAX);
    runner_tz_free(tz);

    /* Without a rule the footer's daylight time follows the US rule
     * M3.2.0,M11.1.0 at 02:00: in 2030 from March 10 (07:00Z under EST)
     * to November 3 (06:00Z under EDT). */
    build_zone(&b, "EST5EDT");
    write_zone(f, 1, b.data, b.len);
    tz = runner_tz_load("Test1", &err);
    if (tz == NULL)
        fail_msg("%s", err.message);
    assert_int_equal(runner_tz_offset(tz, utc("2030-03-10T06:59:59Z")), -18000);
    assert_int_equal(runner_tz_offset(tz, utc("2030-03-10T07:00:00Z")), -14400);
    assert_int_equal(runner_tz_offset(tz, utc("2030-11-03T05:59:59Z")), -14400);
    assert_int_equal(runner_tz_offset(tz, utc("2030-11-03T06:00:00Z")), -18000);
    runner_tz_free(tz);

    /* Daylight time all year: "J365/25" ends it when the next year's
     * "0/0" starts it again, so the offset stays -04:00. */
    build_zone(&b, "EST5EDT,0/0,J365/25");
    write_zone(f, 2, b.data, b.len);
    tz = runner_tz_load("Test2", &err);
    if (tz == NULL)
        fail_msg("%s", err.message);
    assert_int_equal(runner_tz_offset(tz, utc("2030-01-01T05:00:00Z")), -14400);
    assert_int_equal(runner_tz_offset(tz, utc("2030-07-01T00:00:00Z")), -14400);
    assert_int_equal(runner_tz_offset(tz, utc("2030-12-31T23:59:59Z")), -14400);
    assert_true(runner_tz_next_transition(tz, utc("2030-06-01T00:00:00Z")) == INT64_MAX);
    runner_tz_free(tz);
}

static void cron_tzif_rejects_bad_files(void **state)
{
    tzdir_fixture *f = *state;
    agora_error err;
    byte_buf b;

    const char *text = "not a zone file, only text long enough to fill a header";
    write_zone(f, 0, text, strlen(text));
    assert_null(runner_tz_load("Test0", &err));
    assert_non_null(strstr(err.message, "not a valid TZif file: the file does not "
                                        "start with a TZif header"));

    build_zone(&b, "BBB-2");
    write_zone(f, 1, b.data, b.len - 20);
    assert_null(runner_tz_load("Test1", &err));
    assert_non_null(strstr(err.message, "the file is truncated"));

    build_zone(&b, "BBB-2 trailing garbage");
    write_zone(f, 2, b.data, b.len);
    assert_null(runner_tz_load("Test2", &err));
    assert_non_null(strstr(err.message, "the footer is not a valid POSIX TZ string"));

    /* A version 1 file with one leap second record. */
    memset(&b, 0, sizeof(b));
    put_header(&b, '\0', 1, 0, 1, 4);
    put_type(&b, 0, 0, 0);
    put_bytes(&b, "UTC", 4);
    put_be32(&b, 0);
    put_be32(&b, 0);
    write_zone(f, 3, b.data, b.len);
    assert_null(runner_tz_load("Test3", &err));
    assert_non_null(strstr(err.message, "leap seconds"));

    assert_null(runner_tz_load("Missing", &err));
    assert_int_equal(err.code, AGORA_ENOTFOUND);
    assert_non_null(strstr(err.message, "unknown time zone 'Missing'"));
}

/* ---- Daylight saving time ----------------------------------------------- */

static void cron_dst_berlin_spring_gap(void **state)
{
    if (!have_zoneinfo())
        skip();
    /* 2026-03-29: 02:00 CET jumps to 03:00 CEST at 01:00Z. The fixed-time
     * job at 02:30 fires at the end of the gap, then at 02:30 CEST (00:30Z). */
    assert_next_tz("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z",
                   "2026-03-29T01:00:00Z 2026-03-30T00:30:00Z");
    assert_next_tz("0 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z",
                   "2026-03-29T01:00:00Z 2026-03-30T00:00:00Z");
    /* Several wall times in one gap fire once. */
    assert_next_tz("0,30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z",
                   "2026-03-29T01:00:00Z 2026-03-30T00:00:00Z");
    /* Wildcard jobs skip the missing times: 01:45 CET is 00:45Z, the next
     * quarter hour that exists is 03:00 CEST = 01:00Z. */
    assert_next_tz("*/15 * * * *", "Europe/Berlin", "2026-03-29T00:40:00Z",
                   "2026-03-29T00:45:00Z 2026-03-29T01:00:00Z 2026-03-29T01:15:00Z");
    assert_next_tz("*/30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z",
                   "2026-03-30T00:00:00Z");
}

static void cron_dst_berlin_fall_overlap(void **state)
{
    if (!have_zoneinfo())
        skip();
    /* 2026-10-25: 03:00 CEST falls back to 02:00 CET at 01:00Z, so 02:30
     * occurs at 00:30Z and 01:30Z. It fires at the first only; the next day
     * 02:30 CET is 01:30Z. */
    assert_next_tz("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z",
                   "2026-10-25T00:30:00Z 2026-10-26T01:30:00Z");
    /* Every half hour: 02:00 and 02:30 CEST, then 03:00 CET (02:00Z). */
    assert_next_tz("*/30 * * * *", "Europe/Berlin", "2026-10-24T23:10:00Z",
                   "2026-10-24T23:30:00Z 2026-10-25T00:00:00Z 2026-10-25T00:30:00Z "
                   "2026-10-25T02:00:00Z 2026-10-25T02:30:00Z");
    /* Starting inside the second pass (02:10 CET = 01:10Z): the repeated
     * times already fired, so the next is 03:00 CET. */
    assert_next_tz("*/30 * * * *", "Europe/Berlin", "2026-10-25T01:10:00Z",
                   "2026-10-25T02:00:00Z");
}

static void cron_dst_new_york(void **state)
{
    if (!have_zoneinfo())
        skip();
    /* 2026-03-08: 02:00 EST jumps to 03:00 EDT at 07:00Z. */
    assert_next_tz("15 2 * * *", "America/New_York", "2026-03-07T12:00:00Z",
                   "2026-03-08T07:00:00Z 2026-03-09T06:15:00Z");
    /* 2026-11-01: 02:00 EDT falls back to 01:00 EST at 06:00Z; 01:30 is
     * 05:30Z (EDT) and 06:30Z (EST), and fires at 05:30Z only. */
    assert_next_tz("30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z",
                   "2026-11-01T05:30:00Z 2026-11-02T06:30:00Z");
    /* Hourly: 01:00 EDT (05:00Z), not 01:00 EST again, then 02:00 EST. */
    assert_next_tz("0 * * * *", "America/New_York", "2026-11-01T04:30:00Z",
                   "2026-11-01T05:00:00Z 2026-11-01T07:00:00Z");
    /* Ordinary days: 09:00 EST is 14:00Z, 09:00 EDT is 13:00Z. */
    assert_next_tz("0 9 * * *", "America/New_York", "2026-03-07T00:00:00Z",
                   "2026-03-07T14:00:00Z 2026-03-08T13:00:00Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cron_error_names_field_and_value),
        cmocka_unit_test(cron_error_out_of_range_values),
        cmocka_unit_test(cron_error_field_count),
        cmocka_unit_test(cron_error_syntax),
        cmocka_unit_test(cron_error_names),
        cmocka_unit_test(cron_error_macro_and_length),
        cmocka_unit_test(cron_error_never_fires),
        cmocka_unit_test(cron_leap_day_is_possible),
        cmocka_unit_test(cron_search_stops_at_year_9999),
        cmocka_unit_test(cron_next_is_strictly_after),
        cmocka_unit_test(cron_year_and_month_ends),
        cmocka_unit_test(cron_lists_ranges_steps),
        cmocka_unit_test(cron_names_case_insensitive),
        cmocka_unit_test(cron_sunday_is_0_and_7),
        cmocka_unit_test(cron_day_or_rule),
        cmocka_unit_test(cron_restricted_like_croniter),
        cmocka_unit_test(cron_macros),
        cmocka_unit_test(cron_schedule_cron_fills_struct),
        cmocka_unit_test(cron_tz_offsets_match_zoneinfo),
        cmocka_unit_test(cron_tz_next_transition),
        cmocka_unit_test(cron_tz_resolve_local),
        cmocka_unit_test(cron_tz_builtin_utc),
        cmocka_unit_test(cron_tz_rejects_bad_names),
        cmocka_unit_test_setup_teardown(cron_tzif_hand_built, tzdir_setup, tzdir_teardown),
        cmocka_unit_test_setup_teardown(cron_tzif_rejects_bad_files, tzdir_setup,
                                        tzdir_teardown),
        cmocka_unit_test(cron_dst_berlin_spring_gap),
        cmocka_unit_test(cron_dst_berlin_fall_overlap),
        cmocka_unit_test(cron_dst_new_york),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
