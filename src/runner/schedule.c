/*
 * Schedules: constructors, the text form used in logs and /health, and the
 * error backoff formula.
 */
#include "agora/runner.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int agora_schedule_every(agora_schedule *out, double seconds, agora_error *err)
{
    if (out == NULL)
        return agora_error_set(err, AGORA_EINVAL,
                               "agora_schedule_every: out must not be NULL");
    if (!isfinite(seconds) || seconds <= 0)
        return agora_error_set(err, AGORA_EINVAL,
                               "invalid 'every' interval %g seconds: the interval "
                               "must be a finite number greater than 0",
                               seconds);

    memset(out, 0, sizeof(*out));
    out->mode = AGORA_SCHEDULE_EVERY;
    out->interval_seconds = seconds;
    return 0;
}

int agora_schedule_cron(agora_schedule *out, const char *expression,
                        const char *tz_name, agora_error *err)
{
    agora_error parse_err;
    agora_cron *cron;

    if (out == NULL)
        return agora_error_set(err, AGORA_EINVAL,
                               "agora_schedule_cron: out must not be NULL");
    if (tz_name != NULL && strlen(tz_name) >= AGORA_TIMEZONE_MAX)
        return agora_error_set(err, AGORA_EINVAL,
                               "time zone name '%.40s...' is %zu characters long; "
                               "the maximum is %d",
                               tz_name, strlen(tz_name), AGORA_TIMEZONE_MAX - 1);

    /* Parsing checks the length of expression, the fields and the zone. Any
     * failure but out-of-memory is reported as AGORA_EINVAL, an unknown zone
     * included. */
    agora_error_clear(&parse_err);
    cron = agora_cron_parse(expression, tz_name, &parse_err);
    if (cron == NULL)
        return agora_error_set(err,
                               parse_err.code == AGORA_ENOMEM ? AGORA_ENOMEM
                                                              : AGORA_EINVAL,
                               "%s", parse_err.message);
    agora_cron_free(cron);

    memset(out, 0, sizeof(*out));
    out->mode = AGORA_SCHEDULE_CRON;
    snprintf(out->expression, sizeof(out->expression), "%s", expression);
    if (tz_name != NULL)
        snprintf(out->timezone, sizeof(out->timezone), "%s", tz_name);
    return 0;
}

agora_schedule agora_schedule_once(void)
{
    agora_schedule s;

    memset(&s, 0, sizeof(s));
    s.mode = AGORA_SCHEDULE_ONCE;
    return s;
}

agora_schedule agora_schedule_continuous(void)
{
    agora_schedule s;

    memset(&s, 0, sizeof(s));
    s.mode = AGORA_SCHEDULE_CONTINUOUS;
    return s;
}

/*
 * Formats seconds the way Python 3's repr() formats a float. It writes the
 * shortest digits that read back to the same double, with at least one
 * decimal ("21600.0", "0.01", "1.5"). Below 1e-4 and from 1e16 on it uses
 * exponent notation ("1e-05", "1e+16").
 */
static void format_seconds(double v, char *buf, size_t size)
{
    char digits[40];
    int precision;
    int exponent;
    int decimals;

    if (!isfinite(v)) {
        snprintf(buf, size, "%g", v);
        return;
    }
    if (v == 0) {
        snprintf(buf, size, "0.0");
        return;
    }

    /* Shortest %e form that round-trips; precision counts the digits after
     * the first one. */
    for (precision = 0; precision < 17; precision++) {
        snprintf(digits, sizeof(digits), "%.*e", precision, v);
        if (strtod(digits, NULL) == v)
            break;
    }
    exponent = atoi(strchr(digits, 'e') + 1);

    if (exponent < -4 || exponent >= 16) {
        snprintf(buf, size, "%s", digits);
        return;
    }
    decimals = precision - exponent;
    snprintf(buf, size, "%.*f", decimals > 1 ? decimals : 1, v);
}

void agora_schedule_describe(const agora_schedule *s, char *buf, size_t size)
{
    char seconds[48];

    if (buf == NULL || size == 0)
        return;
    if (s == NULL) {
        snprintf(buf, size, "unknown");
        return;
    }

    switch (s->mode) {
    case AGORA_SCHEDULE_EVERY:
        format_seconds(s->interval_seconds, seconds, sizeof(seconds));
        snprintf(buf, size, "every %ss", seconds);
        break;
    case AGORA_SCHEDULE_CRON:
        if (s->timezone[0] != '\0')
            snprintf(buf, size, "cron('%.*s', timezone='%.*s')",
                     AGORA_CRON_EXPRESSION_MAX, s->expression,
                     AGORA_TIMEZONE_MAX, s->timezone);
        else
            snprintf(buf, size, "cron('%.*s')", AGORA_CRON_EXPRESSION_MAX,
                     s->expression);
        break;
    case AGORA_SCHEDULE_CONTINUOUS:
        snprintf(buf, size, "continuous");
        break;
    case AGORA_SCHEDULE_ONCE:
        snprintf(buf, size, "once");
        break;
    default:
        snprintf(buf, size, "unknown");
        break;
    }
}

double agora_backoff_seconds(double base_seconds, unsigned n)
{
    double seconds;

    if (n == 0 || !(base_seconds > 0))
        return 0;
    /* 2^(n-1) overflows to infinity for huge n, and min() then picks the cap. */
    seconds = base_seconds * ldexp(1.0, (int)(n > 2000 ? 2000 : n - 1));
    return seconds < AGORA_BACKOFF_MAX_SECONDS ? seconds
                                               : AGORA_BACKOFF_MAX_SECONDS;
}
