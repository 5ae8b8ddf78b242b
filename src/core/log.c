/*
 * logfmt logging to a file descriptor (stderr by default).
 *
 * Each line is formatted into a local buffer and written with one write(2)
 * call, so concurrent threads never interleave within a line.
 */
#include "agora/log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

static _Atomic int log_level = AGORA_LOG_INFO;
static _Atomic int log_fd = 2;

void agora_log_set_level(agora_log_level level)
{
    atomic_store(&log_level, (int)level);
}

agora_log_level agora_log_get_level(void)
{
    return (agora_log_level)atomic_load(&log_level);
}

void agora_log_set_fd(int fd)
{
    atomic_store(&log_fd, fd);
}

int agora_log_level_parse(const char *name)
{
    static const struct {
        const char *name;
        agora_log_level level;
    } levels[] = {
        {"debug", AGORA_LOG_DEBUG}, {"info", AGORA_LOG_INFO},
        {"warn", AGORA_LOG_WARN},   {"warning", AGORA_LOG_WARN},
        {"error", AGORA_LOG_ERROR}, {"off", AGORA_LOG_OFF},
    };

    if (name == NULL)
        return -1;
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        if (strcasecmp(name, levels[i].name) == 0)
            return (int)levels[i].level;
    }
    return -1;
}

static const char *level_name(agora_log_level level)
{
    switch (level) {
    case AGORA_LOG_DEBUG:
        return "debug";
    case AGORA_LOG_INFO:
        return "info";
    case AGORA_LOG_WARN:
        return "warn";
    case AGORA_LOG_ERROR:
        return "error";
    default:
        return "off";
    }
}

/* Appends text to line at *pos, never past LOG_LINE_MAX - 2 (room for "\n"). */
static void append_raw(char *line, size_t *pos, const char *text, size_t len)
{
    size_t room = LOG_LINE_MAX - 2 - *pos;

    if (len > room)
        len = room;
    memcpy(line + *pos, text, len);
    *pos += len;
}

static bool needs_quotes(const char *value)
{
    if (*value == '\0')
        return true;
    for (const char *c = value; *c != '\0'; c++) {
        if (*c == ' ' || *c == '"' || *c == '=' || *c == '\\' ||
            (unsigned char)*c < 0x20)
            return true;
    }
    return false;
}

/* Appends ` key=value`, quoting and escaping value when logfmt requires it. */
static void append_field(char *line, size_t *pos, const char *key,
                         const char *value)
{
    append_raw(line, pos, " ", 1);
    append_raw(line, pos, key, strlen(key));
    append_raw(line, pos, "=", 1);
    if (!needs_quotes(value)) {
        append_raw(line, pos, value, strlen(value));
        return;
    }
    append_raw(line, pos, "\"", 1);
    for (const char *c = value; *c != '\0'; c++) {
        char escaped[8];
        switch (*c) {
        case '"':
            append_raw(line, pos, "\\\"", 2);
            break;
        case '\\':
            append_raw(line, pos, "\\\\", 2);
            break;
        case '\n':
            append_raw(line, pos, "\\n", 2);
            break;
        case '\t':
            append_raw(line, pos, "\\t", 2);
            break;
        case '\r':
            append_raw(line, pos, "\\r", 2);
            break;
        default:
            if ((unsigned char)*c < 0x20) {
                snprintf(escaped, sizeof(escaped), "\\x%02x", (unsigned char)*c);
                append_raw(line, pos, escaped, strlen(escaped));
            } else {
                append_raw(line, pos, c, 1);
            }
        }
    }
    append_raw(line, pos, "\"", 1);
}

void agora_log_vwrite(agora_log_level level, const char *component,
                      const char *event, const char *pipeline_id,
                      const char *run_id, const char *fmt, va_list ap)
{
    char line[LOG_LINE_MAX];
    char stamp[64];
    char message[LOG_LINE_MAX];
    struct timeval tv;
    struct tm tm;
    size_t pos = 0;
    int saved_errno = errno;

    if (level < agora_log_get_level() || level >= AGORA_LOG_OFF)
        return;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (long)(tv.tv_usec / 1000));
    vsnprintf(message, sizeof(message), fmt != NULL ? fmt : "", ap);

    append_raw(line, &pos, "time=", 5);
    append_raw(line, &pos, stamp, strlen(stamp));
    append_field(line, &pos, "level", level_name(level));
    append_field(line, &pos, "component", component != NULL ? component : "agora");
    append_field(line, &pos, "event", event != NULL ? event : "log");
    if (pipeline_id != NULL && pipeline_id[0] != '\0')
        append_field(line, &pos, "pipeline_id", pipeline_id);
    if (run_id != NULL && run_id[0] != '\0')
        append_field(line, &pos, "run_id", run_id);
    if (message[0] != '\0')
        append_field(line, &pos, "msg", message);
    line[pos++] = '\n';

    int fd = atomic_load(&log_fd);
    const char *p = line;
    while (pos > 0) {
        ssize_t n = write(fd, p, pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        p += n;
        pos -= (size_t)n;
    }
    errno = saved_errno;
}

void agora_log_write(agora_log_level level, const char *component,
                     const char *event, const char *pipeline_id,
                     const char *run_id, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    agora_log_vwrite(level, component, event, pipeline_id, run_id, fmt, ap);
    va_end(ap);
}
