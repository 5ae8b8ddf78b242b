/*
 * agora schedule next: prints the next fire times of a cron expression, so a
 * schedule can be checked before it goes into pipelines.toml.
 *
 * The hidden option --batch FILE evaluates many expressions in one process
 * for the differential test against croniter. Each line of FILE is
 * "EXPRESSION<TAB>FROM<TAB>COUNT[<TAB>TIMEZONE]". Each output line contains
 * the fire times separated by spaces, or "error: MESSAGE".
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agora/runner.h"
#include "cli/cli.h"

#define COUNT_DEFAULT 5
#define COUNT_MAX 1000

static void print_help(void)
{
    printf("usage: agora schedule next EXPRESSION [--from TIME] [--count N]\n"
           "                          [--timezone ZONE]\n"
           "\n"
           "Prints the next N fire times of a five-field cron expression\n"
           "(\"minute hour day-of-month month day-of-week\"), one ISO 8601 UTC time\n"
           "per line, such as 2026-12-04T18:00:00Z.\n"
           "\n"
           "options:\n"
           "  --from TIME        start after this time instead of now, written\n"
           "                     2026-12-04T17:13:00Z or 2026-12-04T18:13:00+01:00\n"
           "  --count N          number of fire times, 1 to %d (default %d)\n"
           "  --timezone ZONE    evaluate the expression on the wall clock of an\n"
           "                     IANA zone such as Europe/Berlin (default UTC)\n"
           "\n"
           "Exit status: 0 success, 2 invalid expression, zone or option.\n",
           COUNT_MAX, COUNT_DEFAULT);
}

/* Reads exactly `digits` decimal digits at *p. */
static bool read_digits(const char **p, int digits, int *out)
{
    int v = 0;

    for (int i = 0; i < digits; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += digits;
    *out = v;
    return true;
}

typedef enum iso_time_status {
    ISO_TIME_OK,
    ISO_TIME_INVALID,
    ISO_TIME_NO_OFFSET /* a valid local time with nothing after it */
} iso_time_status;

/*
 * Parses "YYYY-MM-DDTHH:MM[:SS[.fraction]]" followed by "Z" or an offset
 * "+HH:MM" / "-HH:MM" / "+HHMM" into Unix seconds. A fraction is dropped:
 * the next fire time after t and after t plus a fraction of a second is
 * the same whole minute. A time without an offset is rejected instead of
 * being read as UTC or as local time, because either guess can shift every
 * fire time by hours.
 */
static iso_time_status parse_iso_time(const char *text, int64_t *out)
{
    static const int month_days[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *p = text;
    int year, month, day, hour, minute, second = 0;
    int offset = 0;
    struct tm tm;

    if (!read_digits(&p, 4, &year) || *p++ != '-' || !read_digits(&p, 2, &month) ||
        *p++ != '-' || !read_digits(&p, 2, &day) || (*p != 'T' && *p != 't' && *p != ' '))
        return ISO_TIME_INVALID;
    p++;
    if (!read_digits(&p, 2, &hour) || *p++ != ':' || !read_digits(&p, 2, &minute))
        return ISO_TIME_INVALID;
    if (*p == ':') {
        p++;
        if (!read_digits(&p, 2, &second))
            return ISO_TIME_INVALID;
        if (*p == '.' || *p == ',') {
            p++;
            if (*p < '0' || *p > '9')
                return ISO_TIME_INVALID;
            while (*p >= '0' && *p <= '9')
                p++;
        }
    }
    if (year < 1 || month < 1 || month > 12 || day < 1 || day > month_days[month - 1] ||
        (month == 2 && day == 29 &&
         !((year % 4 == 0 && year % 100 != 0) || year % 400 == 0)) ||
        hour > 23 || minute > 59 || second > 59)
        return ISO_TIME_INVALID;

    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        int offset_hours, offset_minutes;
        p++;
        if (!read_digits(&p, 2, &offset_hours))
            return ISO_TIME_INVALID;
        if (*p == ':')
            p++;
        if (!read_digits(&p, 2, &offset_minutes) || offset_hours > 23 ||
            offset_minutes > 59)
            return ISO_TIME_INVALID;
        offset = sign * (offset_hours * 3600 + offset_minutes * 60);
    } else {
        return *p == '\0' ? ISO_TIME_NO_OFFSET : ISO_TIME_INVALID;
    }
    if (*p != '\0')
        return ISO_TIME_INVALID;

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    *out = (int64_t)timegm(&tm) - offset;
    return ISO_TIME_OK;
}

static void format_utc(int64_t t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/*
 * Writes count fire times after `from` to out, separated by `separator`.
 * Returns 0, or a negative code with err filled and nothing written.
 */
static int write_fire_times(FILE *out, const char *expression, const char *tz_name,
                            int64_t from, unsigned count, char separator,
                            agora_error *err)
{
    int64_t times[COUNT_MAX];
    agora_cron *cron = agora_cron_parse(expression, tz_name, err);
    int64_t t = from;
    char when[40];
    int rc = 0;

    if (cron == NULL)
        return err->code;
    for (unsigned i = 0; i < count && rc == 0; i++) {
        rc = agora_cron_next(cron, t, &t, err);
        times[i] = t;
    }
    agora_cron_free(cron);
    if (rc != 0)
        return rc;

    for (unsigned i = 0; i < count; i++) {
        format_utc(times[i], when, sizeof(when));
        if (i > 0)
            fputc(separator, out);
        fputs(when, out);
    }
    return 0;
}

static bool parse_count(const char *text, unsigned *count)
{
    uint64_t v;

    if (!cli_parse_u64(text, &v) || v < 1 || v > COUNT_MAX)
        return false;
    *count = (unsigned)v;
    return true;
}

/* Runs every line of path; see the file comment for the format. */
static int run_batch(const char *path)
{
    FILE *in = fopen(path, "r");
    char *line = NULL;
    size_t capacity = 0;
    ssize_t len;
    unsigned long line_number = 0;
    int status = EXIT_OK;

    if (in == NULL) {
        cli_error("cannot open batch file '%s': %s", path, strerror(errno));
        return EXIT_USAGE;
    }
    while ((len = getline(&line, &capacity, in)) >= 0) {
        char *fields[4] = {NULL, NULL, NULL, NULL};
        size_t field_count = 0;
        char *save = NULL;
        int64_t from;
        unsigned count;
        agora_error err;

        line_number++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        for (char *f = strtok_r(line, "\t", &save); f != NULL && field_count < 4;
             f = strtok_r(NULL, "\t", &save))
            fields[field_count++] = f;
        if (field_count < 3 || parse_iso_time(fields[1], &from) != ISO_TIME_OK ||
            !parse_count(fields[2], &count)) {
            cli_error("%s:%lu: expected EXPRESSION<TAB>FROM<TAB>COUNT[<TAB>TIMEZONE] "
                      "with an ISO 8601 FROM and a COUNT from 1 to %d",
                      path, line_number, COUNT_MAX);
            status = EXIT_USAGE;
            break;
        }
        agora_error_clear(&err);
        if (write_fire_times(stdout, fields[0], fields[3], from, count, ' ', &err) != 0)
            printf("error: %s", err.message);
        putchar('\n');
    }
    free(line);
    fclose(in);
    return status;
}

/* True when name starts or ends with a space or tab (a quoting slip). */
static bool has_outer_space(const char *name)
{
    size_t len = strlen(name);

    return len > 0 && (name[0] == ' ' || name[0] == '\t' || name[len - 1] == ' ' ||
                       name[len - 1] == '\t');
}

/*
 * Reports the option getopt_long rejected with '?'. argument is
 * argv[optind - 1]. For a long option, optopt is 0 when the name is unknown
 * and the option's value when it was given "=VALUE" but takes none. For a
 * short option, optopt is the letter, and argument may be a cluster such as
 * "-xv", so only the letter is printed.
 */
static void report_rejected_option(const char *argument)
{
    if (strncmp(argument, "--", 2) == 0) {
        int name_len = (int)strcspn(argument, "=");

        if (optopt == 0)
            cli_error("unknown option '%.*s' (see 'agora schedule --help')",
                      name_len, argument);
        else
            cli_error("option '%.*s' does not take an argument", name_len, argument);
    } else {
        cli_error("unknown option '-%c' (see 'agora schedule --help')", optopt);
    }
}

int cli_schedule(int argc, char **argv)
{
    static const struct option options[] = {
        {"from", required_argument, NULL, 'f'},
        {"count", required_argument, NULL, 'n'},
        {"timezone", required_argument, NULL, 'z'},
        {"batch", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *from_text = NULL;
    const char *tz_name = NULL;
    const char *batch_path = NULL;
    unsigned count = COUNT_DEFAULT;
    int64_t from;
    iso_time_status from_status;
    agora_error err;
    int opt;

    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        print_help();
        return EXIT_OK;
    }
    if (argc < 2 || strcmp(argv[1], "next") != 0) {
        cli_error(argc < 2 ? "agora schedule needs a subcommand; use 'agora schedule "
                             "next EXPRESSION' (see 'agora schedule --help')%s"
                           : "unknown schedule subcommand '%s'; use 'agora schedule "
                             "next EXPRESSION' (see 'agora schedule --help')",
                  argc < 2 ? "" : argv[1]);
        return EXIT_USAGE;
    }

    /* getopt_long permutes, so options may also follow the expression. */
    argc--;
    argv++;
    optind = 1;
    /* getopt's own messages would start with argv[0], which is "next" here. */
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":f:n:z:h", options, NULL)) != -1) {
        switch (opt) {
        case 'f':
            from_text = optarg;
            break;
        case 'n':
            if (!parse_count(optarg, &count)) {
                cli_error("invalid --count '%s'; use a whole number from 1 to %d",
                          optarg, COUNT_MAX);
                return EXIT_USAGE;
            }
            break;
        case 'z':
            tz_name = optarg;
            break;
        case 'b':
            batch_path = optarg;
            break;
        case 'h':
            print_help();
            return EXIT_OK;
        case ':':
            cli_error("option '%s' requires an argument (see 'agora schedule --help')",
                      argv[optind - 1]);
            return EXIT_USAGE;
        default:
            report_rejected_option(argv[optind - 1]);
            return EXIT_USAGE;
        }
    }
    if (batch_path != NULL)
        return run_batch(batch_path);

    if (optind >= argc) {
        cli_error("missing cron expression; quote it as one argument, for example "
                  "agora schedule next '0 */6 * * *'");
        return EXIT_USAGE;
    }
    if (optind + 1 < argc) {
        cli_error("unexpected argument '%s'; quote the cron expression as one "
                  "argument, for example '0 */6 * * *'",
                  argv[optind + 1]);
        return EXIT_USAGE;
    }

    if (from_text == NULL) {
        from = (int64_t)time(NULL);
    } else if ((from_status = parse_iso_time(from_text, &from)) == ISO_TIME_NO_OFFSET) {
        cli_error("invalid --from time '%s': the UTC offset is missing; write "
                  "%sZ for UTC or add an offset such as %s+01:00",
                  from_text, from_text, from_text);
        return EXIT_USAGE;
    } else if (from_status != ISO_TIME_OK) {
        cli_error("invalid --from time '%s'; use an ISO 8601 time such as "
                  "2026-12-04T17:13:00Z or 2026-12-04T18:13:00+01:00",
                  from_text);
        return EXIT_USAGE;
    }
    if (tz_name != NULL && has_outer_space(tz_name)) {
        cli_error("invalid --timezone '%s': the name has leading or trailing "
                  "spaces; remove them, for example --timezone 'Europe/Berlin'",
                  tz_name);
        return EXIT_USAGE;
    }

    agora_error_clear(&err);
    if (write_fire_times(stdout, argv[optind], tz_name, from, count, '\n', &err) != 0) {
        fflush(stdout);
        cli_error("%s", err.message);
        return EXIT_USAGE;
    }
    putchar('\n');
    return EXIT_OK;
}
