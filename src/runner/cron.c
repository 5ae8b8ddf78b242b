/*
 * Cron expressions: the five-field parser and the next fire time.
 *
 * The syntax and the matching rules follow croniter 1.3.5 (the reference the
 * tests compare against), including its reading of "a/n" as "a-max/n" and of
 * a day field as restricted when it selects fewer than all of its values.
 * Time zones come from runner/tz.h. The fire time search moves a wall-clock
 * time forward field by field (month, day, hour, minute), so it costs a few
 * dozen steps, not one step per minute.
 */
#include "agora/runner.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner/tz.h"

/*
 * The maximum gap between two fire times of an expression that passes the
 * parse check. A February 29 that follows a year divisible by 100 but not by
 * 400 (2096-02-29 to 2104-02-29) is 8 years away.
 */
#define CRON_SEARCH_YEARS 8

/* Supported range of instants: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z. */
#define CRON_INSTANT_MIN (-62135596800LL)
#define CRON_INSTANT_MAX 253402300799LL
#define CRON_YEAR_MAX 9999

#define SECONDS_PER_DAY 86400

enum { FIELD_MINUTE, FIELD_HOUR, FIELD_DAY, FIELD_MONTH, FIELD_WEEKDAY, FIELD_COUNT };

typedef struct field_spec {
    const char *name;
    int min;
    int max; /* day-of-week accepts 7, another name for Sunday */
    const char *const *names; /* 3-letter names, NULL when the field has none */
    int first_named;          /* value of names[0] */
    size_t name_count;
} field_spec;

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const weekday_names[] = {"sun", "mon", "tue", "wed",
                                            "thu", "fri", "sat"};

static const field_spec field_specs[FIELD_COUNT] = {
    {"minute", 0, 59, NULL, 0, 0},
    {"hour", 0, 23, NULL, 0, 0},
    {"day-of-month", 1, 31, NULL, 0, 0},
    {"month", 1, 12, month_names, 1, 12},
    {"day-of-week", 0, 7, weekday_names, 0, 7},
};

typedef struct cron_macro {
    const char *name;
    const char *fields;
} cron_macro;

/* The macros croniter 1.3.5 accepts, with the same meanings. */
static const cron_macro cron_macros[] = {
    {"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"},
    {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
    {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

#define DAY_ALL 0xfffffffeULL   /* bits 1..31 */
#define WEEKDAY_ALL 0x7fULL     /* bits 0..6 */

struct agora_cron {
    uint64_t minutes;  /* bit n: minute n */
    uint64_t hours;    /* bit n: hour n */
    uint64_t days;     /* bit n: day of month n (1-31) */
    uint64_t months;   /* bit n: month n (1-12) */
    uint64_t weekdays; /* bit n: weekday n (0 = Sunday), 7 folded into 0 */
    /*
     * A day field is restricted when it selects fewer than all of its days,
     * as croniter decides it ("*" + "/2" is restricted, "1-31" is not). When
     * both are, a day matches if either field does.
     */
    bool days_restricted;
    bool weekdays_restricted;
    /*
     * Vixie cron's "fixed-time job": neither the minute nor the hour field
     * begins with '*'. Only such jobs fire at the end of a daylight saving
     * gap that skipped their wall time.
     */
    bool fixed_time;
    runner_tz *tz; /* NULL = UTC */
    char expression[AGORA_CRON_EXPRESSION_MAX];
};

/* ---- Parsing ------------------------------------------------------------ */

typedef struct parse_context {
    const char *expression;
    const field_spec *spec;
    agora_error *err;
} parse_context;

static int field_error(const parse_context *ctx, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static int field_error(const parse_context *ctx, const char *fmt, ...)
{
    char detail[AGORA_ERROR_MESSAGE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    return agora_error_set(ctx->err, AGORA_EINVAL, "cron expression '%s': %s field: %s",
                           ctx->expression, ctx->spec->name, detail);
}

/* Parses a number or a name of length len at text into *value. */
static int parse_value(const parse_context *ctx, const char *text, size_t len,
                       int *value)
{
    const field_spec *spec = ctx->spec;
    int v = 0;
    size_t i;

    if (len == 0)
        return field_error(ctx, "missing value; write a number from %d to %d",
                           spec->min, spec->max);
    if (isdigit((unsigned char)text[0])) {
        for (i = 0; i < len; i++) {
            if (!isdigit((unsigned char)text[i]))
                return field_error(ctx, "invalid value '%.*s'; use a number from "
                                   "%d to %d", (int)len, text, spec->min, spec->max);
            if (v < 1000000)
                v = v * 10 + (text[i] - '0');
        }
        if (v < spec->min || v > spec->max)
            return field_error(ctx, "value %.*s out of range %d-%d", (int)len, text,
                               spec->min, spec->max);
        *value = v;
        return 0;
    }

    if (spec->names == NULL)
        return field_error(ctx, "invalid value '%.*s'; use a number from %d to %d, "
                           "'*', a list (1,5), a range (1-5) or a step (*/5)",
                           (int)len, text, spec->min, spec->max);
    if (len == 3) {
        for (i = 0; i < spec->name_count; i++) {
            if (strncasecmp(text, spec->names[i], 3) == 0) {
                *value = spec->first_named + (int)i;
                return 0;
            }
        }
    }
    return field_error(ctx, "unknown name '%.*s'; use %s..%s or a number from %d to %d",
                       (int)len, text, spec->names[0],
                       spec->names[spec->name_count - 1], spec->min, spec->max);
}

/*
 * Parses one list element: "*", "v", "a-b", each optionally followed by
 * "/step", and "a/step", which croniter 1.3.5 reads as "a-max/step".
 */
static int parse_element(const parse_context *ctx, const char *text, size_t len,
                         uint64_t *bits)
{
    const field_spec *spec = ctx->spec;
    const char *slash = memchr(text, '/', len);
    size_t base_len = slash != NULL ? (size_t)(slash - text) : len;
    const char *dash = memchr(text, '-', base_len);
    int low;
    int high;
    int step = 1;
    int rc;

    if (len == 0)
        return field_error(ctx, "empty list element; remove the extra comma");

    if (slash != NULL) {
        const char *s = slash + 1;
        size_t step_len = len - base_len - 1;
        if (step_len == 0 || memchr(s, '/', step_len) != NULL)
            return field_error(ctx, "invalid step in '%.*s'; write a number of 1 "
                               "or more after a single '/'", (int)len, text);
        step = 0;
        for (size_t i = 0; i < step_len; i++) {
            if (!isdigit((unsigned char)s[i]))
                return field_error(ctx, "invalid step '%.*s'; use a number of 1 "
                                   "or more", (int)step_len, s);
            /* Any step past the field's span selects only the first value. */
            if (step < 1000)
                step = step * 10 + (s[i] - '0');
        }
        if (step == 0)
            return field_error(ctx, "step 0 in '%.*s' is invalid; use a step of "
                               "1 or more", (int)len, text);
    }

    if (base_len == 1 && text[0] == '*') {
        low = spec->min;
        high = spec->max;
    } else if (dash != NULL) {
        if (dash == text)
            return field_error(ctx, "invalid value '%.*s'; negative numbers are "
                               "not allowed", (int)base_len, text);
        size_t high_len = base_len - (size_t)(dash - text) - 1;
        if (memchr(dash + 1, '-', high_len) != NULL)
            return field_error(ctx, "invalid range '%.*s'; write one range as a-b",
                               (int)base_len, text);
        rc = parse_value(ctx, text, (size_t)(dash - text), &low);
        if (rc == 0)
            rc = parse_value(ctx, dash + 1, high_len, &high);
        if (rc != 0)
            return rc;
        /* A day-of-week range may end on Sunday written as 0 ("fri-sun"). */
        if (spec == &field_specs[FIELD_WEEKDAY] && high == 0 && low > 0)
            high = 7;
        if (low > high)
            return field_error(ctx, "range %.*s is reversed; write the lower value "
                               "first", (int)base_len, text);
    } else {
        rc = parse_value(ctx, text, base_len, &low);
        if (rc != 0)
            return rc;
        high = slash != NULL ? spec->max : low;
    }

    for (int v = low; v <= high; v += step)
        *bits |= 1ULL << v;
    return 0;
}

static int parse_field(const parse_context *ctx, const char *text, size_t len,
                       uint64_t *bits)
{
    size_t start = 0;

    *bits = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || text[i] == ',') {
            int rc = parse_element(ctx, text + start, i - start, bits);
            if (rc != 0)
                return rc;
            start = i + 1;
        }
    }
    return 0;
}

/* True when some selected month has a selected day (February 29 counts). */
static bool days_possible(const agora_cron *cron)
{
    static const int month_max_days[13] = {0,  31, 29, 31, 30, 31, 30,
                                           31, 31, 30, 31, 30, 31};

    for (int month = 1; month <= 12; month++) {
        if (!(cron->months & (1ULL << month)))
            continue;
        for (int day = 1; day <= month_max_days[month]; day++) {
            if (cron->days & (1ULL << day))
                return true;
        }
    }
    return false;
}

/* Splits the five fields, parses each and fills cron. */
static int parse_fields(agora_cron *cron, const char *text, agora_error *err)
{
    const char *starts[FIELD_COUNT];
    size_t lengths[FIELD_COUNT];
    uint64_t *targets[FIELD_COUNT] = {&cron->minutes, &cron->hours, &cron->days,
                                      &cron->months, &cron->weekdays};
    size_t count = 0;
    const char *p = text;
    int rc;

    while (*p != '\0') {
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            break;
        const char *start = p;
        while (*p != '\0' && !isspace((unsigned char)*p))
            p++;
        if (count < FIELD_COUNT) {
            starts[count] = start;
            lengths[count] = (size_t)(p - start);
        }
        count++;
    }
    if (count != FIELD_COUNT)
        return agora_error_set(err, AGORA_EINVAL,
                               "cron expression '%s': expected 5 fields (minute hour "
                               "day-of-month month day-of-week), got %zu%s",
                               cron->expression, count,
                               count == 6 ? "; a seconds or year field is not "
                                            "supported"
                                          : "");

    for (int i = 0; i < FIELD_COUNT; i++) {
        parse_context ctx = {cron->expression, &field_specs[i], err};
        rc = parse_field(&ctx, starts[i], lengths[i], targets[i]);
        if (rc != 0)
            return rc;
    }

    if (cron->weekdays & (1ULL << 7))
        cron->weekdays = (cron->weekdays | 1ULL) & ~(1ULL << 7);
    cron->days_restricted = cron->days != DAY_ALL;
    cron->weekdays_restricted = cron->weekdays != WEEKDAY_ALL;
    cron->fixed_time = starts[FIELD_MINUTE][0] != '*' && starts[FIELD_HOUR][0] != '*';

    /*
     * Only a restricted day-of-month field can select no existing day. With
     * a restricted day-of-week field as well, the OR rule would still fire
     * on the weekdays, but croniter 1.3.5 raises an error for such an
     * expression, and agora follows croniter here.
     */
    if (cron->days_restricted && !days_possible(cron))
        return agora_error_set(err, AGORA_EINVAL,
                               "cron expression '%s' can never fire: no month in the "
                               "month field has a day listed in the day-of-month "
                               "field (February has at most 29 days; April, June, "
                               "September and November 30)%s",
                               cron->expression,
                               cron->weekdays_restricted
                                   ? "; the day-of-week field does not change "
                                     "this, as in croniter"
                                   : "");
    return 0;
}

agora_cron *agora_cron_parse(const char *expression, const char *tz_name,
                             agora_error *err)
{
    agora_cron *cron = NULL;
    const char *fields;
    size_t len;

    if (expression == NULL) {
        agora_error_set(err, AGORA_EINVAL, "cron expression must not be NULL");
        return NULL;
    }
    len = strlen(expression);
    if (len >= AGORA_CRON_EXPRESSION_MAX) {
        agora_error_set(err, AGORA_EINVAL,
                        "cron expression '%.40s...' is %zu characters long; the "
                        "maximum is %d",
                        expression, len, AGORA_CRON_EXPRESSION_MAX - 1);
        return NULL;
    }

    cron = calloc(1, sizeof(*cron));
    if (cron == NULL) {
        agora_error_set(err, AGORA_ENOMEM, "out of memory parsing cron expression '%s'",
                        expression);
        return NULL;
    }
    memcpy(cron->expression, expression, len + 1);

    fields = expression;
    while (isspace((unsigned char)*fields))
        fields++;
    if (*fields == '@') {
        size_t name_len = strcspn(fields, " \t\r\n\v\f");
        const char *rest = fields + name_len;
        bool found = false;
        while (isspace((unsigned char)*rest))
            rest++;
        for (size_t i = 0; i < sizeof(cron_macros) / sizeof(cron_macros[0]); i++) {
            if (*rest == '\0' && strlen(cron_macros[i].name) == name_len &&
                strncasecmp(fields, cron_macros[i].name, name_len) == 0) {
                fields = cron_macros[i].fields;
                found = true;
                break;
            }
        }
        if (!found) {
            agora_error_set(err, AGORA_EINVAL,
                            "cron expression '%s': unknown macro; use @yearly, "
                            "@annually, @monthly, @weekly, @daily, @midnight, "
                            "@hourly or five fields",
                            expression);
            goto fail;
        }
    }
    if (parse_fields(cron, fields, err) != 0)
        goto fail;

    if (tz_name != NULL && tz_name[0] != '\0') {
        cron->tz = runner_tz_load(tz_name, err);
        if (cron->tz == NULL)
            goto fail;
    }
    return cron;

fail:
    agora_cron_free(cron);
    return NULL;
}

void agora_cron_free(agora_cron *cron)
{
    if (cron == NULL)
        return;
    runner_tz_free(cron->tz);
    free(cron);
}

/* ---- Next fire time ----------------------------------------------------- */

/* Lowest set bit of mask at or above from, or -1. */
static int next_bit(uint64_t mask, int from)
{
    if (from > 63)
        return -1;
    mask &= ~0ULL << from;
    return mask == 0 ? -1 : __builtin_ctzll(mask);
}

static bool day_matches(const agora_cron *cron, int64_t year, unsigned month,
                        unsigned day)
{
    bool by_day = (cron->days >> day) & 1;
    bool by_weekday;

    if (!cron->weekdays_restricted)
        return by_day;
    by_weekday = (cron->weekdays >>
                  runner_weekday_from_days(runner_days_from_civil(year, month, day))) &
                 1;
    if (!cron->days_restricted)
        return by_weekday;
    return by_day || by_weekday;
}

typedef struct wall_time {
    int64_t year;
    unsigned month;
    unsigned day;
    int hour;
    int minute;
} wall_time;

static void next_month(wall_time *w)
{
    if (++w->month > 12) {
        w->month = 1;
        w->year++;
    }
    w->day = 1;
    w->hour = 0;
    w->minute = 0;
}

static void next_day(wall_time *w)
{
    if (++w->day > runner_days_in_month(w->year, w->month)) {
        next_month(w);
        return;
    }
    w->hour = 0;
    w->minute = 0;
}

/*
 * Finds the first whole minute after `after` (seconds on the wall-clock
 * scale of runner_tz_resolve_local, or Unix seconds for UTC) that matches
 * every field. Returns false when it would lie after December 31 of
 * last_year.
 */
static bool next_wall_match(const agora_cron *cron, int64_t after, int64_t last_year,
                            int64_t *out)
{
    int64_t minute_start = (after >= 0 ? after / 60 : -((-after + 59) / 60)) * 60 + 60;
    int64_t days = minute_start >= 0 ? minute_start / SECONDS_PER_DAY
                                     : -((-minute_start + SECONDS_PER_DAY - 1) /
                                         SECONDS_PER_DAY);
    int64_t second_of_day = minute_start - days * SECONDS_PER_DAY;
    wall_time w;

    runner_civil_from_days(days, &w.year, &w.month, &w.day);
    w.hour = (int)(second_of_day / 3600);
    w.minute = (int)(second_of_day % 3600 / 60);

    /* Each pass moves forward by at least one minute of the smallest unit
     * that failed, so the year bound ends the loop. */
    while (w.year <= last_year) {
        if (!((cron->months >> w.month) & 1)) {
            int month = next_bit(cron->months, (int)w.month + 1);
            if (month < 0 || month > 12) {
                w.year++;
                month = next_bit(cron->months, 1);
            }
            w.month = (unsigned)month;
            w.day = 1;
            w.hour = 0;
            w.minute = 0;
            continue;
        }

        if (!day_matches(cron, w.year, w.month, w.day)) {
            unsigned last_day = runner_days_in_month(w.year, w.month);
            unsigned day = w.day + 1;
            while (day <= last_day && !day_matches(cron, w.year, w.month, day))
                day++;
            if (day > last_day) {
                next_month(&w);
                continue;
            }
            w.day = day;
            w.hour = 0;
            w.minute = 0;
        }

        int hour = next_bit(cron->hours, w.hour);
        if (hour < 0 || hour > 23) {
            next_day(&w);
            continue;
        }
        if (hour != w.hour) {
            w.hour = hour;
            w.minute = 0;
        }

        int minute = next_bit(cron->minutes, w.minute);
        if (minute < 0 || minute > 59) {
            if (++w.hour > 23)
                next_day(&w);
            else
                w.minute = 0;
            continue;
        }

        *out = runner_days_from_civil(w.year, w.month, w.day) * SECONDS_PER_DAY +
               w.hour * 3600 + minute * 60;
        return true;
    }
    return false;
}

static void format_instant(int64_t t, char *buf, size_t size)
{
    int64_t days = t >= 0 ? t / SECONDS_PER_DAY
                          : -((-t + SECONDS_PER_DAY - 1) / SECONDS_PER_DAY);
    int64_t second_of_day = t - days * SECONDS_PER_DAY;
    int64_t year;
    unsigned month;
    unsigned day;

    runner_civil_from_days(days, &year, &month, &day);
    snprintf(buf, size, "%04lld-%02u-%02uT%02d:%02d:%02dZ", (long long)year, month,
             day, (int)(second_of_day / 3600), (int)(second_of_day % 3600 / 60),
             (int)(second_of_day % 60));
}

static int64_t year_of(int64_t t)
{
    int64_t days = t >= 0 ? t / SECONDS_PER_DAY
                          : -((-t + SECONDS_PER_DAY - 1) / SECONDS_PER_DAY);
    int64_t year;
    unsigned month;
    unsigned day;

    runner_civil_from_days(days, &year, &month, &day);
    return year;
}

/*
 * Wall times map to instants this way: a wall time that occurs twice (a
 * backward change) fires at its first occurrence only. A wall time skipped
 * by a forward change fires at the end of the gap when the job is a
 * fixed-time job, and not at all otherwise, as Vixie cron does.
 */
int agora_cron_next(const agora_cron *cron, int64_t after, int64_t *next,
                    agora_error *err)
{
    char when[32];
    int64_t wall;
    int64_t candidate;
    int64_t instant;
    int64_t last_year;

    if (cron == NULL || next == NULL)
        return agora_error_set(err, AGORA_EINVAL,
                               "agora_cron_next: cron and next must not be NULL");
    if (after < CRON_INSTANT_MIN || after > CRON_INSTANT_MAX)
        return agora_error_set(err, AGORA_EINVAL,
                               "cron expression '%s': start time %lld is outside "
                               "the supported years 0001-9999",
                               cron->expression, (long long)after);

    wall = cron->tz == NULL ? after : after + runner_tz_offset(cron->tz, after);
    last_year = year_of(wall) + CRON_SEARCH_YEARS;
    if (last_year > CRON_YEAR_MAX)
        last_year = CRON_YEAR_MAX;

    while (next_wall_match(cron, wall, last_year, &candidate)) {
        if (cron->tz == NULL) {
            *next = candidate;
            return 0;
        }
        runner_tz_local_kind kind = runner_tz_resolve_local(cron->tz, candidate, &instant);
        if (kind == RUNNER_TZ_LOCAL_GAP && !cron->fixed_time) {
            /* Resume at the first wall time after the gap. */
            int64_t gap_end_wall = instant + runner_tz_offset(cron->tz, instant);
            wall = gap_end_wall - 1 > candidate ? gap_end_wall - 1 : candidate;
            continue;
        }
        if (instant > after) {
            *next = instant;
            return 0;
        }
        /* The second pass through a repeated hour: its times already fired. */
        wall = candidate;
    }

    format_instant(after, when, sizeof(when));
    return agora_error_set(err, AGORA_ENOTFOUND,
                           "cron expression '%s': no fire time within %d years "
                           "after %s%s",
                           cron->expression, CRON_SEARCH_YEARS, when,
                           last_year == CRON_YEAR_MAX ? " (the last supported year "
                                                        "is 9999)"
                                                      : "");
}
