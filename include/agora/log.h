/*
 * Logging: one line per event on stderr, in logfmt (the default) or JSON.
 *
 *   time=2026-12-04T19:50:00.123Z level=info component=runner
 *   event=run_finished pipeline_id=movies run_id=5f2c... msg="..."
 *
 *   {"time":"2026-12-04T19:50:00.123Z","level":"info","component":"runner",
 *    "event":"run_finished","pipeline_id":"movies","run_id":"5f2c...","msg":"..."}
 *
 * In logfmt, values that contain spaces, quotes or '=' are quoted with
 * backslash escapes. The line is written with one write(2) call, so lines
 * from several threads do not interleave. Never pass secrets to these
 * functions.
 *
 * Warn and error lines that repeat (same level, component, event,
 * pipeline_id and message, numbers in the message aside) within 60 s are
 * written once; the later ones are counted and reported in one line with
 * the field repeated=N when the window ends, when the same key logs another
 * message, or at agora_log_flush. docs/logging.md has the full rule.
 */
#ifndef AGORA_LOG_H
#define AGORA_LOG_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum agora_log_level {
    AGORA_LOG_DEBUG = 0,
    AGORA_LOG_INFO = 1,
    AGORA_LOG_WARN = 2,
    AGORA_LOG_ERROR = 3,
    AGORA_LOG_OFF = 4
} agora_log_level;

/* Sets the minimum level written (default AGORA_LOG_INFO). Thread-safe. */
void agora_log_set_level(agora_log_level level);
agora_log_level agora_log_get_level(void);

/* Parses "debug", "info", "warn"/"warning", "error", "off". Returns -1 if unknown. */
int agora_log_level_parse(const char *name);

typedef enum agora_log_format {
    AGORA_LOG_FORMAT_LOGFMT = 0,
    AGORA_LOG_FORMAT_JSON = 1
} agora_log_format;

/* Sets the line format (default AGORA_LOG_FORMAT_LOGFMT). Thread-safe. */
void agora_log_set_format(agora_log_format format);
agora_log_format agora_log_get_format(void);

/* Parses "logfmt" or "json". Returns -1 if unknown. */
int agora_log_format_parse(const char *name);

/*
 * Writes the count line of every repeated warn or error whose 60 s window has
 * ended. Any log call does this too; a long-running program calls it from
 * time to time so a count is not held back while nothing else is logged.
 */
void agora_log_flush_expired(void);

/*
 * Writes the count line of every repeated warn or error now, ended window or
 * not, and clears every key, so the next occurrence of any message is
 * written in full. Call it before the process exits.
 */
void agora_log_flush(void);

/* Redirects output to fd (default 2). For tests. */
void agora_log_set_fd(int fd);

/*
 * Writes one line. component and event are required; pipeline_id and run_id
 * may be NULL and are then left out. fmt is the free-text message ("msg").
 */
void agora_log_write(agora_log_level level, const char *component,
                     const char *event, const char *pipeline_id,
                     const char *run_id, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;

void agora_log_vwrite(agora_log_level level, const char *component,
                      const char *event, const char *pipeline_id,
                      const char *run_id, const char *fmt, va_list ap);

#define AGORA_LOG_AT(level, component, event, pid, rid, ...)                   \
    do {                                                                       \
        if ((level) >= agora_log_get_level())                                  \
            agora_log_write((level), (component), (event), (pid), (rid),       \
                            __VA_ARGS__);                                      \
    } while (0)

#define AGORA_DEBUG(c, e, p, r, ...) AGORA_LOG_AT(AGORA_LOG_DEBUG, c, e, p, r, __VA_ARGS__)
#define AGORA_INFO(c, e, p, r, ...) AGORA_LOG_AT(AGORA_LOG_INFO, c, e, p, r, __VA_ARGS__)
#define AGORA_WARN(c, e, p, r, ...) AGORA_LOG_AT(AGORA_LOG_WARN, c, e, p, r, __VA_ARGS__)
#define AGORA_ERROR(c, e, p, r, ...) AGORA_LOG_AT(AGORA_LOG_ERROR, c, e, p, r, __VA_ARGS__)

#ifdef __cplusplus
}
#endif

#endif
