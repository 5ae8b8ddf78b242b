/*
 * Time zones read from the system tz database (TZif files, RFC 8536), for
 * cron schedules that follow a zone's wall clock.
 *
 * A zone is loaded once and is then read-only, so any number of threads may
 * query it at the same time. Nothing here touches the TZ environment variable
 * or the C library's localtime state.
 */
#ifndef AGORA_RUNNER_TZ_H
#define AGORA_RUNNER_TZ_H

#include <stdint.h>

#include "agora/error.h"

/* Directory read when TZDIR is unset or empty. */
#define RUNNER_TZ_DEFAULT_DIR "/usr/share/zoneinfo"

/* Largest TZif file accepted, in bytes (the biggest Debian 12 file is ~4 KB). */
#define RUNNER_TZ_FILE_MAX (1024 * 1024)

typedef struct runner_tz runner_tz;

/*
 * Loads the zone `name` (an IANA name such as "Europe/Berlin") from $TZDIR,
 * or from RUNNER_TZ_DEFAULT_DIR when TZDIR is unset or empty. "UTC" and
 * "Etc/UTC" need no file. Returns NULL with err naming the zone when the name
 * is invalid, the file is missing or it is not a valid TZif file. Free with
 * runner_tz_free.
 */
runner_tz *runner_tz_load(const char *name, agora_error *err);

void runner_tz_free(runner_tz *tz);

/* Returns the zone name as given to runner_tz_load. */
const char *runner_tz_name(const runner_tz *tz);

/* Returns the UTC offset in seconds (east positive) in effect at instant t. */
int32_t runner_tz_offset(const runner_tz *tz, int64_t t);

/*
 * Returns the first instant after t at which the UTC offset changes, or
 * INT64_MAX when it never changes again. Some returned instants may keep
 * the same offset (a TZif file can record a change of abbreviation only).
 */
int64_t runner_tz_next_transition(const runner_tz *tz, int64_t t);

typedef enum runner_tz_local_kind {
    RUNNER_TZ_LOCAL_EXISTS = 0, /* the wall time occurs once or twice */
    RUNNER_TZ_LOCAL_GAP = 1     /* the wall time is skipped by a forward jump */
} runner_tz_local_kind;

/*
 * Maps a wall-clock time (seconds since 1970-01-01T00:00 of the zone's local
 * calendar, as if the zone were UTC) to an instant. For a wall time that
 * occurs twice, *instant is the earlier occurrence. For a wall time inside a
 * forward jump, *instant is the instant of that jump, which is the first
 * instant after the skipped interval.
 */
runner_tz_local_kind runner_tz_resolve_local(const runner_tz *tz, int64_t wall,
                                             int64_t *instant);

/* ---- Proleptic Gregorian calendar helpers ------------------------------- */

/* Days from 1970-01-01 to year-month-day (month 1-12). */
int64_t runner_days_from_civil(int64_t year, unsigned month, unsigned day);

/* Inverse of runner_days_from_civil. */
void runner_civil_from_days(int64_t days, int64_t *year, unsigned *month,
                            unsigned *day);

/* Returns 1 for a leap year of the Gregorian calendar, else 0. */
int runner_is_leap_year(int64_t year);

/* Number of days in month (1-12) of year. */
unsigned runner_days_in_month(int64_t year, unsigned month);

/* Weekday of a day count from runner_days_from_civil, 0 = Sunday. */
unsigned runner_weekday_from_days(int64_t days);

#endif
