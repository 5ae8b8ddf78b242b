/*
 * Logging: one line per event on stderr, in logfmt.
 *
 *   time=2026-12-04T19:50:00.123Z level=info component=runner
 *   event=run_finished pipeline_id=movies run_id=5f2c... msg="..."
 *
 * Values that contain spaces, quotes or '=' are quoted with backslash
 * escapes. The line is written with one write(2) call, so lines from several
 * threads do not interleave. Never pass secrets to these functions.
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
