/*
 * Time zones from the system tz database: a TZif reader (RFC 8536, versions
 * 1 to 4), the POSIX TZ rule of the file footer for instants after the last
 * recorded transition, and the mapping of wall-clock times to instants.
 *
 * A loaded zone is immutable, which is what makes concurrent reads safe.
 */
#include "runner/tz.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agora/runner.h"

/*
 * RFC 8536 bounds for a UTC offset: -89999..93599 seconds. The window that
 * runner_tz_resolve_local scans around a wall time follows from them.
 */
#define TZ_OFFSET_MIN (-89999)
#define TZ_OFFSET_MAX 93599
#define TZ_TYPE_MAX 256
#define TZ_FOOTER_MAX 256
#define SECONDS_PER_DAY 86400

/* ---- Calendar ----------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

int runner_is_leap_year(int64_t year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

unsigned runner_days_in_month(int64_t year, unsigned month)
{
    static const unsigned days[12] = {31, 28, 31, 30, 31, 30,
                                      31, 31, 30, 31, 30, 31};

    if (month < 1 || month > 12)
        return 0;
    if (month == 2 && runner_is_leap_year(year))
        return 29;
    return days[month - 1];
}

/*
 * Counts days in 400-year eras of 146097 days, with the year starting on
 * March 1 so that the leap day falls at the end of a year.
 */
int64_t runner_days_from_civil(int64_t year, unsigned month, unsigned day)
{
    int64_t y = year - (month <= 2 ? 1 : 0);
    int64_t era = floor_div(y, 400);
    int64_t year_of_era = y - era * 400;
    int64_t month_from_march = month > 2 ? (int64_t)month - 3 : (int64_t)month + 9;
    int64_t day_of_year = (153 * month_from_march + 2) / 5 + (int64_t)day - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 -
                         year_of_era / 100 + day_of_year;

    return era * 146097 + day_of_era - 719468;
}

void runner_civil_from_days(int64_t days, int64_t *year, unsigned *month,
                            unsigned *day)
{
    int64_t z = days + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t day_of_era = z - era * 146097;
    int64_t year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 -
                           day_of_era / 146096) /
                          365;
    int64_t day_of_year = day_of_era -
                          (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    int64_t month_from_march = (5 * day_of_year + 2) / 153;
    unsigned m = (unsigned)(month_from_march < 10 ? month_from_march + 3
                                                  : month_from_march - 9);

    *day = (unsigned)(day_of_year - (153 * month_from_march + 2) / 5 + 1);
    *month = m;
    *year = year_of_era + era * 400 + (m <= 2 ? 1 : 0);
}

unsigned runner_weekday_from_days(int64_t days)
{
    /* 1970-01-01 was a Thursday. */
    int64_t w = (days + 4) % 7;

    return (unsigned)(w < 0 ? w + 7 : w);
}

/* ---- Zone data ---------------------------------------------------------- */

typedef enum rule_date_kind {
    RULE_JULIAN_NO_LEAP, /* "Jn": 1..365, February 29 is never counted */
    RULE_ZERO_BASED,     /* "n": 0..365, February 29 counts in leap years */
    RULE_MONTH_WEEK_DAY  /* "Mm.w.d": day d (0 = Sunday) of week w (5 = last) */
} rule_date_kind;

typedef struct rule_date {
    rule_date_kind kind;
    int day;     /* Jn and n forms */
    int month;   /* M form: 1-12 */
    int week;    /* M form: 1-5 */
    int weekday; /* M form: 0-6 */
    int32_t time; /* local seconds after midnight, -167h..167h */
} rule_date;

/* The POSIX TZ string of a TZif footer, such as "CET-1CEST,M3.5.0,M10.5.0/3". */
typedef struct posix_rule {
    int32_t std_offset; /* seconds east of UTC */
    int32_t dst_offset;
    bool has_dst;
    rule_date start; /* daylight saving time begins, in standard time */
    rule_date end;   /* daylight saving time ends, in daylight time */
} posix_rule;

struct runner_tz {
    char name[AGORA_TIMEZONE_MAX];
    size_t transition_count;
    int64_t *transitions;  /* strictly ascending instants */
    uint8_t *transition_types; /* index into type_offsets, per transition */
    size_t type_count;
    int32_t type_offsets[TZ_TYPE_MAX];
    bool has_rule;
    posix_rule rule;
};

/* ---- POSIX TZ rule ------------------------------------------------------ */

static bool parse_rule_name(const char **p)
{
    const char *s = *p;
    size_t n = 0;

    if (*s == '<') {
        s++;
        while (*s != '\0' && *s != '>') {
            if (!(isalnum((unsigned char)*s) || *s == '+' || *s == '-'))
                return false;
            s++;
            n++;
        }
        if (*s != '>' || n < 3)
            return false;
        *p = s + 1;
        return true;
    }
    while (isalpha((unsigned char)*s)) {
        s++;
        n++;
    }
    if (n < 3)
        return false;
    *p = s;
    return true;
}

/* Parses [+-]hh[:mm[:ss]] into seconds; hours up to max_hours. */
static bool parse_rule_time(const char **p, int max_hours, int32_t *out)
{
    const char *s = *p;
    int sign = 1;
    long parts[3] = {0, 0, 0};
    int count = 0;

    if (*s == '+' || *s == '-') {
        sign = *s == '-' ? -1 : 1;
        s++;
    }
    while (count < 3) {
        if (!isdigit((unsigned char)*s))
            return false;
        long v = 0;
        int digits = 0;
        while (isdigit((unsigned char)*s) && digits < 4) {
            v = v * 10 + (*s - '0');
            s++;
            digits++;
        }
        parts[count++] = v;
        if (*s != ':')
            break;
        s++;
    }
    if (parts[0] > max_hours || parts[1] > 59 || parts[2] > 59)
        return false;
    *out = (int32_t)(sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]));
    *p = s;
    return true;
}

static bool parse_rule_number(const char **p, int min, int max, int *out)
{
    const char *s = *p;
    int v = 0;

    if (!isdigit((unsigned char)*s))
        return false;
    while (isdigit((unsigned char)*s)) {
        v = v * 10 + (*s - '0');
        if (v > max)
            return false;
        s++;
    }
    if (v < min)
        return false;
    *out = v;
    *p = s;
    return true;
}

static bool parse_rule_date(const char **p, rule_date *out)
{
    const char *s = *p;

    memset(out, 0, sizeof(*out));
    if (*s == 'J') {
        s++;
        out->kind = RULE_JULIAN_NO_LEAP;
        if (!parse_rule_number(&s, 1, 365, &out->day))
            return false;
    } else if (*s == 'M') {
        s++;
        out->kind = RULE_MONTH_WEEK_DAY;
        if (!parse_rule_number(&s, 1, 12, &out->month) || *s++ != '.' ||
            !parse_rule_number(&s, 1, 5, &out->week) || *s++ != '.' ||
            !parse_rule_number(&s, 0, 6, &out->weekday))
            return false;
    } else {
        out->kind = RULE_ZERO_BASED;
        if (!parse_rule_number(&s, 0, 365, &out->day))
            return false;
    }

    out->time = 2 * 3600;
    if (*s == '/') {
        s++;
        /* RFC 8536 section 3.3.1 extends the POSIX time to -167..167 hours. */
        if (!parse_rule_time(&s, 167, &out->time))
            return false;
    }
    *p = s;
    return true;
}

/* Parses a TZif footer. A POSIX offset counts west of UTC, so it is negated. */
static bool parse_posix_rule(const char *text, posix_rule *out)
{
    const char *p = text;
    int32_t west;

    memset(out, 0, sizeof(*out));
    if (!parse_rule_name(&p) || !parse_rule_time(&p, 24, &west))
        return false;
    out->std_offset = -west;
    out->dst_offset = out->std_offset;
    if (*p == '\0')
        return true;

    if (!parse_rule_name(&p))
        return false;
    out->has_dst = true;
    out->dst_offset = out->std_offset + 3600;
    if (*p != ',' && *p != '\0') {
        if (!parse_rule_time(&p, 24, &west))
            return false;
        out->dst_offset = -west;
    }
    if (*p == '\0') {
        /* No rule: the United States rule, as the reference tzcode does. */
        const char *fallback = "M3.2.0,M11.1.0";
        const char *f = fallback;
        parse_rule_date(&f, &out->start);
        f++;
        parse_rule_date(&f, &out->end);
        return true;
    }
    if (*p++ != ',' || !parse_rule_date(&p, &out->start) || *p++ != ',' ||
        !parse_rule_date(&p, &out->end))
        return false;
    return *p == '\0';
}

/* Instant at which date's local time occurs in year, under offset_before. */
static int64_t rule_transition(const rule_date *date, int64_t year,
                               int32_t offset_before)
{
    int64_t jan1 = runner_days_from_civil(year, 1, 1);
    int64_t day;

    switch (date->kind) {
    case RULE_JULIAN_NO_LEAP:
        day = jan1 + date->day - 1 +
              (runner_is_leap_year(year) && date->day >= 60 ? 1 : 0);
        break;
    case RULE_ZERO_BASED:
        day = jan1 + date->day;
        break;
    case RULE_MONTH_WEEK_DAY:
    default: {
        int64_t first = runner_days_from_civil(year, (unsigned)date->month, 1);
        unsigned month_days = runner_days_in_month(year, (unsigned)date->month);
        int64_t offset = (date->weekday - (int)runner_weekday_from_days(first) + 7) % 7 +
                         7 * (date->week - 1);
        while (offset >= (int64_t)month_days)
            offset -= 7;
        day = first + offset;
        break;
    }
    }
    return day * SECONDS_PER_DAY + date->time - offset_before;
}

typedef struct rule_event {
    int64_t at;
    bool starts_dst;
} rule_event;

/*
 * Fills events with the rule's transitions of years first..first+years-1,
 * plus the start of the year after, sorted by instant. At equal instants an
 * end sorts before a start. So a zone whose daylight time ends exactly when
 * the next one begins (all-year daylight time, "J365/25" rules) stays on
 * daylight time. The extra start keeps the last end from looking like a
 * change. Returns the count, at most 2 * years + 1.
 */
static size_t rule_events(const posix_rule *rule, int64_t first, int years,
                          rule_event *events)
{
    size_t n = 0;

    for (int i = 0; i < years; i++) {
        events[n].at = rule_transition(&rule->start, first + i, rule->std_offset);
        events[n++].starts_dst = true;
        events[n].at = rule_transition(&rule->end, first + i, rule->dst_offset);
        events[n++].starts_dst = false;
    }
    events[n].at = rule_transition(&rule->start, first + years, rule->std_offset);
    events[n++].starts_dst = true;
    /* Insertion sort: at most nine events. */
    for (size_t i = 1; i < n; i++) {
        rule_event e = events[i];
        size_t j = i;
        while (j > 0 && (events[j - 1].at > e.at ||
                         (events[j - 1].at == e.at && events[j - 1].starts_dst &&
                          !e.starts_dst))) {
            events[j] = events[j - 1];
            j--;
        }
        events[j] = e;
    }
    return n;
}

static int64_t year_of_instant(int64_t t)
{
    int64_t year;
    unsigned month;
    unsigned day;

    runner_civil_from_days(floor_div(t, SECONDS_PER_DAY), &year, &month, &day);
    return year;
}

static int32_t rule_offset(const posix_rule *rule, int64_t t)
{
    rule_event events[7];
    bool dst;
    size_t n;

    if (!rule->has_dst)
        return rule->std_offset;
    n = rule_events(rule, year_of_instant(t) - 1, 3, events);
    dst = !events[0].starts_dst;
    for (size_t i = 0; i < n && events[i].at <= t; i++)
        dst = events[i].starts_dst;
    return dst ? rule->dst_offset : rule->std_offset;
}

static int64_t rule_next_transition(const posix_rule *rule, int64_t t)
{
    rule_event events[9];
    bool dst;
    size_t n;
    size_t i = 0;

    if (!rule->has_dst || rule->std_offset == rule->dst_offset)
        return INT64_MAX;
    n = rule_events(rule, year_of_instant(t) - 1, 4, events);
    dst = !events[0].starts_dst;
    while (i < n) {
        /* Events at one instant act together: only the final state counts. */
        size_t j = i;
        while (j < n && events[j].at == events[i].at)
            j++;
        bool after = events[j - 1].starts_dst;
        if (after != dst && events[i].at > t)
            return events[i].at;
        dst = after;
        i = j;
    }
    return INT64_MAX;
}

/* ---- TZif reader -------------------------------------------------------- */

typedef struct tzif_header {
    char version;
    uint32_t isut_count;
    uint32_t isstd_count;
    uint32_t leap_count;
    uint32_t time_count;
    uint32_t type_count;
    uint32_t char_count;
} tzif_header;

static uint32_t read_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static uint64_t read_be64(const uint8_t *p)
{
    return ((uint64_t)read_be32(p) << 32) | read_be32(p + 4);
}

static bool read_header(const uint8_t *data, size_t size, tzif_header *h)
{
    if (size < 44 || memcmp(data, "TZif", 4) != 0)
        return false;
    h->version = (char)data[4];
    h->isut_count = read_be32(data + 20);
    h->isstd_count = read_be32(data + 24);
    h->leap_count = read_be32(data + 28);
    h->time_count = read_be32(data + 32);
    h->type_count = read_be32(data + 36);
    h->char_count = read_be32(data + 40);
    return true;
}

/* Size of the data block after a header, for 4- or 8-byte times. */
static uint64_t block_size(const tzif_header *h, unsigned time_size)
{
    return (uint64_t)h->time_count * time_size + h->time_count +
           (uint64_t)h->type_count * 6 + h->char_count +
           (uint64_t)h->leap_count * (time_size + 4) + h->isstd_count +
           h->isut_count;
}

/*
 * Reads one header and data block at data (time_size 4 for version 1, 8 for
 * the second block of version 2+). Stores the cause of a rejection in *reason.
 */
static bool read_block(runner_tz *tz, const uint8_t *data, size_t size,
                       unsigned time_size, size_t *consumed, const char **reason)
{
    tzif_header h;
    const uint8_t *p;

    if (!read_header(data, size, &h)) {
        *reason = "the file does not start with a TZif header";
        return false;
    }
    if (h.type_count == 0 || h.type_count > TZ_TYPE_MAX || h.char_count == 0 ||
        (h.isstd_count != 0 && h.isstd_count != h.type_count) ||
        (h.isut_count != 0 && h.isut_count != h.type_count)) {
        *reason = "the header counts are inconsistent";
        return false;
    }
    if (h.leap_count != 0) {
        *reason = "it records leap seconds ('right/' zones); use the zone without "
               "the 'right/' prefix";
        return false;
    }
    if (block_size(&h, time_size) > size - 44) {
        *reason = "the file is truncated";
        return false;
    }

    free(tz->transitions);
    free(tz->transition_types);
    tz->transitions = NULL;
    tz->transition_types = NULL;
    tz->transition_count = 0;
    if (h.time_count > 0) {
        tz->transitions = malloc(sizeof(int64_t) * h.time_count);
        tz->transition_types = malloc(h.time_count);
        if (tz->transitions == NULL || tz->transition_types == NULL) {
            *reason = "out of memory";
            return false;
        }
    }

    p = data + 44;
    for (uint32_t i = 0; i < h.time_count; i++) {
        int64_t t = time_size == 8 ? (int64_t)read_be64(p) : (int32_t)read_be32(p);
        if (i > 0 && t <= tz->transitions[i - 1]) {
            *reason = "the transition times are not in ascending order";
            return false;
        }
        tz->transitions[i] = t;
        p += time_size;
    }
    for (uint32_t i = 0; i < h.time_count; i++) {
        if (p[i] >= h.type_count) {
            *reason = "a transition refers to a missing local time type";
            return false;
        }
        tz->transition_types[i] = p[i];
    }
    p += h.time_count;
    for (uint32_t i = 0; i < h.type_count; i++) {
        int32_t offset = (int32_t)read_be32(p);
        if (offset < TZ_OFFSET_MIN || offset > TZ_OFFSET_MAX) {
            *reason = "a UTC offset is outside -24:59:59..+25:59:59";
            return false;
        }
        tz->type_offsets[i] = offset;
        p += 6;
    }
    tz->transition_count = h.time_count;
    tz->type_count = h.type_count;
    *consumed = 44 + (size_t)block_size(&h, time_size);
    return true;
}

static bool parse_tzif(runner_tz *tz, const uint8_t *data, size_t size,
                       const char **reason)
{
    size_t consumed = 0;
    size_t second = 0;
    char footer[TZ_FOOTER_MAX];
    const uint8_t *p;
    size_t rest;

    tzif_header h;

    if (!read_header(data, size, &h)) {
        *reason = "the file does not start with a TZif header";
        return false;
    }
    if (h.version == '\0') /* version 1: 32-bit times, no footer */
        return read_block(tz, data, size, 4, &consumed, reason);

    /* Version 2+ repeats the data with 64-bit times: skip the 32-bit block. */
    if (block_size(&h, 4) > size - 44) {
        *reason = "the file is truncated";
        return false;
    }
    consumed = 44 + (size_t)block_size(&h, 4);

    if (!read_block(tz, data + consumed, size - consumed, 8, &second, reason))
        return false;
    p = data + consumed + second;
    rest = size - consumed - second;
    if (rest < 2 || p[0] != '\n') {
        *reason = "the footer is missing";
        return false;
    }
    const uint8_t *nl = memchr(p + 1, '\n', rest - 1);
    size_t len = nl == NULL ? 0 : (size_t)(nl - p - 1);
    if (nl == NULL || len >= sizeof(footer)) {
        *reason = "the footer is not terminated by a newline";
        return false;
    }
    if (len == 0)
        return true;
    memcpy(footer, p + 1, len);
    footer[len] = '\0';
    if (!parse_posix_rule(footer, &tz->rule)) {
        *reason = "the footer is not a valid POSIX TZ string";
        return false;
    }
    tz->has_rule = true;
    return true;
}

/* ---- Loading ------------------------------------------------------------ */

/* Accepts IANA-style names: no absolute paths, no "." or ".." components. */
static bool valid_zone_name(const char *name)
{
    const char *component = name;

    if (name[0] == '\0' || name[0] == '/')
        return false;
    for (const char *p = name;; p++) {
        if (*p == '/' || *p == '\0') {
            if (p == component || component[0] == '.')
                return false;
            if (*p == '\0')
                return true;
            component = p + 1;
        } else if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '-' ||
                     *p == '+' || *p == '.')) {
            return false;
        }
    }
}

/* Reads a whole regular file of at most RUNNER_TZ_FILE_MAX bytes. */
static int read_zone_file(const char *path, uint8_t **data, size_t *size)
{
    struct stat st;
    uint8_t *buf = NULL;
    size_t done = 0;
    int rc = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR ? AGORA_ENOTFOUND : AGORA_EIO;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
        st.st_size > RUNNER_TZ_FILE_MAX) {
        rc = AGORA_EPARSE;
        goto cleanup;
    }
    buf = malloc((size_t)st.st_size);
    if (buf == NULL) {
        rc = AGORA_ENOMEM;
        goto cleanup;
    }
    while (done < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = AGORA_EIO;
            goto cleanup;
        }
        done += (size_t)n;
    }
    *data = buf;
    *size = done;
    buf = NULL;

cleanup:
    free(buf);
    close(fd);
    return rc;
}

runner_tz *runner_tz_load(const char *name, agora_error *err)
{
    runner_tz *tz = NULL;
    uint8_t *data = NULL;
    size_t size = 0;
    char path[4096];
    const char *reason = NULL;
    const char *dir = getenv("TZDIR");
    int rc;

    if (name == NULL || strlen(name) >= AGORA_TIMEZONE_MAX || !valid_zone_name(name)) {
        agora_error_set(err, AGORA_EINVAL,
                        "invalid time zone name '%.*s'; use an IANA name such as "
                        "'Europe/Berlin' or 'UTC'",
                        AGORA_TIMEZONE_MAX, name == NULL ? "(null)" : name);
        return NULL;
    }

    tz = calloc(1, sizeof(*tz));
    if (tz == NULL) {
        agora_error_set(err, AGORA_ENOMEM, "out of memory loading time zone '%s'", name);
        return NULL;
    }
    snprintf(tz->name, sizeof(tz->name), "%s", name);
    tz->type_count = 1;
    if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0)
        return tz;

    if (dir == NULL || dir[0] == '\0')
        dir = RUNNER_TZ_DEFAULT_DIR;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    rc = read_zone_file(path, &data, &size);
    if (rc == AGORA_ENOTFOUND) {
        agora_error_set(err, AGORA_ENOTFOUND,
                        "unknown time zone '%s': %s does not exist; use an IANA "
                        "name such as 'Europe/Berlin' (the files come from the "
                        "tzdata package; TZDIR selects another directory)",
                        name, path);
        goto fail;
    }
    if (rc == AGORA_EPARSE) {
        agora_error_set(err, AGORA_EINVAL,
                        "unknown time zone '%s': %s is not a zone file", name, path);
        goto fail;
    }
    if (rc != 0) {
        agora_error_set(err, rc, "time zone '%s': cannot read %s: %s", name, path,
                        agora_strerror(rc));
        goto fail;
    }
    if (!parse_tzif(tz, data, size, &reason)) {
        agora_error_set(err, AGORA_EINVAL,
                        "time zone '%s': %s is not a valid TZif file: %s", name,
                        path, reason);
        goto fail;
    }
    free(data);
    return tz;

fail:
    free(data);
    runner_tz_free(tz);
    return NULL;
}

void runner_tz_free(runner_tz *tz)
{
    if (tz == NULL)
        return;
    free(tz->transitions);
    free(tz->transition_types);
    free(tz);
}

const char *runner_tz_name(const runner_tz *tz)
{
    return tz->name;
}

/* ---- Queries ------------------------------------------------------------ */

/* Index of the last transition at or before t, or -1 when t precedes them all. */
static long last_transition_at(const runner_tz *tz, int64_t t)
{
    size_t lo = 0;
    size_t hi = tz->transition_count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->transitions[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (long)lo - 1;
}

int32_t runner_tz_offset(const runner_tz *tz, int64_t t)
{
    long i;

    /* RFC 8536 section 3.2: the footer covers instants after the last
     * transition, and all instants when there is none. */
    if (tz->has_rule && (tz->transition_count == 0 ||
                         t >= tz->transitions[tz->transition_count - 1]))
        return rule_offset(&tz->rule, t);
    i = last_transition_at(tz, t);
    if (i < 0)
        return tz->type_offsets[0];
    return tz->type_offsets[tz->transition_types[i]];
}

int64_t runner_tz_next_transition(const runner_tz *tz, int64_t t)
{
    long i = last_transition_at(tz, t);

    if ((size_t)(i + 1) < tz->transition_count)
        return tz->transitions[i + 1];
    if (tz->has_rule)
        return rule_next_transition(&tz->rule, t);
    return INT64_MAX;
}

/*
 * Walks the periods of constant offset that touch [wall - max offset,
 * wall - min offset], the only instants whose wall time can be `wall`. The
 * first period containing wall - offset gives the earlier occurrence. A
 * period whose first wall time already lies past `wall`, with no occurrence
 * before it, means `wall` was skipped and the period's start ends the gap.
 */
runner_tz_local_kind runner_tz_resolve_local(const runner_tz *tz, int64_t wall,
                                             int64_t *instant)
{
    int64_t start = wall - TZ_OFFSET_MAX - 1;
    int64_t last = wall - TZ_OFFSET_MIN;
    bool at_transition = false;

    /* Real zones have a handful of transitions in a 52-hour window. */
    for (int i = 0; i < 64 && start <= last; i++) {
        int32_t offset = runner_tz_offset(tz, start);
        int64_t end = runner_tz_next_transition(tz, start);
        int64_t candidate = wall - offset;

        if (at_transition && start + offset > wall) {
            *instant = start;
            return RUNNER_TZ_LOCAL_GAP;
        }
        if (candidate >= start && candidate < end) {
            *instant = candidate;
            return RUNNER_TZ_LOCAL_EXISTS;
        }
        if (end == INT64_MAX)
            break;
        start = end;
        at_transition = true;
    }
    /* Not reached for valid zone data: fall back to the offset at wall. */
    *instant = wall - runner_tz_offset(tz, wall);
    return RUNNER_TZ_LOCAL_EXISTS;
}
