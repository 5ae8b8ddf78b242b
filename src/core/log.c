/*
 * Logging to a file descriptor (stderr by default), one line per event, as
 * logfmt or as one JSON object per line.
 *
 * Every line is formatted in memory and written with one write(2) call under
 * log_lock, so lines from several threads never interleave and a repeat count
 * is always written before the line that closed its window.
 *
 * Warn and error lines pass through a small table of recent keys that turns a
 * burst of the same event into its first line plus one line with a count
 * (the rule is spelled out above log_repeat_check and in docs/logging.md).
 */
#include "agora/log.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "agora/value.h"
#include "core/clock.h"
#include "core/log_internal.h"

#define LOG_LINE_MAX 4096
#define REPEAT_SLOTS 32
#define REPEAT_WINDOW_SECONDS 60.0
#define REPEAT_TEXT_MAX 128     /* component, event and pipeline id kept per key */
#define REPEAT_MESSAGE_MAX 1024 /* last suppressed message kept per key */

static _Atomic int log_level = AGORA_LOG_INFO;
static _Atomic int log_format = AGORA_LOG_FORMAT_LOGFMT;
static _Atomic int log_fd = 2;

/* ---- Settings ---------------------------------------------------------- */

void agora_log_set_level(agora_log_level level)
{
    atomic_store(&log_level, (int)level);
}

agora_log_level agora_log_get_level(void)
{
    return (agora_log_level)atomic_load(&log_level);
}

void agora_log_set_format(agora_log_format format)
{
    atomic_store(&log_format, (int)format);
}

agora_log_format agora_log_get_format(void)
{
    return (agora_log_format)atomic_load(&log_format);
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

int agora_log_format_parse(const char *name)
{
    if (name == NULL)
        return -1;
    if (strcasecmp(name, "logfmt") == 0)
        return AGORA_LOG_FORMAT_LOGFMT;
    if (strcasecmp(name, "json") == 0)
        return AGORA_LOG_FORMAT_JSON;
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

/* ---- Clock and repeat table -------------------------------------------- */

/*
 * One key of the repeat table. suppressed counts the lines not written since the first one; run_id and
 * message are those of the last of them.
 */
typedef struct repeat_slot {
    bool used;
    agora_log_level level;
    char component[REPEAT_TEXT_MAX];
    char event[REPEAT_TEXT_MAX];
    char pipeline_id[REPEAT_TEXT_MAX];
    uint64_t message_hash; /* of the message with its numbers masked */
    double window_start;   /* monotonic seconds of the written line */
    double last_seen;      /* monotonic seconds, for eviction */
    uint64_t suppressed;
    char run_id[64];
    char message[REPEAT_MESSAGE_MAX];
} repeat_slot;

/* log_lock guards the table, the clock and the window, and is held while a
 * line is written so the order of lines matches the order of decisions. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static repeat_slot repeat_table[REPEAT_SLOTS];
static const core_clock *log_clock; /* NULL selects the real clock */
static double repeat_window = REPEAT_WINDOW_SECONDS;
static void (*line_hook)(void *ctx);
static void *line_hook_ctx;

void core_log_lock(void)
{
    pthread_mutex_lock(&log_lock);
}

void core_log_unlock(void)
{
    pthread_mutex_unlock(&log_lock);
}

void core_log_set_line_hook(void (*hook)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&log_lock);
    line_hook = hook;
    line_hook_ctx = ctx;
    pthread_mutex_unlock(&log_lock);
}

void core_log_set_clock(const core_clock *clock)
{
    pthread_mutex_lock(&log_lock);
    log_clock = clock;
    pthread_mutex_unlock(&log_lock);
}

void core_log_set_repeat_window(double seconds)
{
    pthread_mutex_lock(&log_lock);
    repeat_window = seconds > 0 ? seconds : REPEAT_WINDOW_SECONDS;
    pthread_mutex_unlock(&log_lock);
}

/* 64-bit FNV-1a step over len bytes. */
static uint64_t hash_bytes(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;

    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/*
 * Hashes message with every number masked: a run that starts with a digit
 * and goes on over digits and '.', with an optional exponent "e-DIGITS" or
 * "e+DIGITS", counts as the single character '#'. So "run 3 failed after
 * 0.012s" and "run 4 failed after 1.5e-05s" hash alike.
 */
static uint64_t message_key_hash(const char *message)
{
    uint64_t h = 14695981039346656037ULL;
    const char *c = message;

    while (*c != '\0') {
        if (*c >= '0' && *c <= '9') {
            while ((*c >= '0' && *c <= '9') || *c == '.')
                c++;
            /* An exponent as %g writes it: e-05, e+12. */
            if ((*c == 'e' || *c == 'E') && (c[1] == '-' || c[1] == '+') &&
                c[2] >= '0' && c[2] <= '9') {
                c += 2;
                while (*c >= '0' && *c <= '9')
                    c++;
            }
            h = hash_bytes(h, "#", 1);
            continue;
        }
        h = hash_bytes(h, c, 1);
        c++;
    }
    return h;
}

/* Copies src into dst of size bytes, cut short when it does not fit. */
static void copy_text(char *dst, size_t size, const char *src)
{
    size_t len = src != NULL ? strnlen(src, size - 1) : 0;

    if (len > 0)
        memcpy(dst, src, len);
    dst[len] = '\0';
}

/* True when slot contains the key (level, component, event, pipeline_id), as
 * far as the slot's truncated copies can tell. */
static bool slot_matches(const repeat_slot *slot, agora_log_level level,
                         const char *component, const char *event,
                         const char *pipeline_id)
{
    return slot->used && slot->level == level &&
           strncmp(slot->component, component, REPEAT_TEXT_MAX - 1) == 0 &&
           strncmp(slot->event, event, REPEAT_TEXT_MAX - 1) == 0 &&
           strncmp(slot->pipeline_id, pipeline_id, REPEAT_TEXT_MAX - 1) == 0;
}

/* ---- Formatting -------------------------------------------------------- */

/* One event as the formatters see it. repeated is 0 for an ordinary line. */
typedef struct log_line {
    double wall; /* unix seconds */
    agora_log_level level;
    const char *component;
    const char *event;
    const char *pipeline_id; /* "" = absent */
    const char *run_id;      /* "" = absent */
    const char *message;     /* "" = absent */
    uint64_t repeated;
    double repeated_seconds;
} log_line;

static void format_time(double wall, char *out, size_t size)
{
    time_t seconds = (time_t)floor(wall);
    long millis = (long)((wall - floor(wall)) * 1000.0);
    struct tm tm;

    if (millis > 999)
        millis = 999;
    gmtime_r(&seconds, &tm);
    snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, millis);
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

static void write_all(const char *p, size_t len)
{
    int fd = atomic_load(&log_fd);

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        p += n;
        len -= (size_t)n;
    }
}

/* The text a repeat line carries after the message. */
static void repeat_suffix(const log_line *l, char *out, size_t size)
{
    double seconds = ceil(l->repeated_seconds);

    snprintf(out, size, "(repeated %llu time%s in the last %.0fs)",
             (unsigned long long)l->repeated, l->repeated == 1 ? "" : "s",
             seconds < 1 ? 1.0 : seconds);
}

static void write_logfmt(const log_line *l)
{
    char line[LOG_LINE_MAX];
    char stamp[64];
    char message[LOG_LINE_MAX];
    size_t pos = 0;

    format_time(l->wall, stamp, sizeof(stamp));
    append_raw(line, &pos, "time=", 5);
    append_raw(line, &pos, stamp, strlen(stamp));
    append_field(line, &pos, "level", level_name(l->level));
    append_field(line, &pos, "component", l->component);
    append_field(line, &pos, "event", l->event);
    if (l->pipeline_id[0] != '\0')
        append_field(line, &pos, "pipeline_id", l->pipeline_id);
    if (l->run_id[0] != '\0')
        append_field(line, &pos, "run_id", l->run_id);
    if (l->repeated > 0) {
        char suffix[96], count[32];
        repeat_suffix(l, suffix, sizeof(suffix));
        snprintf(message, sizeof(message), "%s%s%s", l->message,
                 l->message[0] != '\0' ? " " : "", suffix);
        append_field(line, &pos, "msg", message);
        snprintf(count, sizeof(count), "%llu", (unsigned long long)l->repeated);
        append_field(line, &pos, "repeated", count);
    } else if (l->message[0] != '\0') {
        append_field(line, &pos, "msg", l->message);
    }
    line[pos++] = '\n';
    write_all(line, pos);
}

/* Appends ,"key":"value" with JSON escapes. */
static int json_field(agora_buf *buf, const char *key, const char *value)
{
    int rc = agora_buf_printf(buf, ",\"%s\":", key);
    if (rc == 0)
        rc = agora_json_write_string(buf, value, strlen(value));
    return rc;
}

static void write_json(const log_line *l)
{
    static const char lost[] = "{\"level\":\"error\",\"component\":\"log\","
                               "\"event\":\"log_line_lost\","
                               "\"msg\":\"out of memory\"}\n";
    agora_buf buf;
    char stamp[64];
    int rc;

    agora_buf_init(&buf);
    format_time(l->wall, stamp, sizeof(stamp));
    rc = agora_buf_printf(&buf, "{\"time\":\"%s\"", stamp);
    if (rc == 0)
        rc = json_field(&buf, "level", level_name(l->level));
    if (rc == 0)
        rc = json_field(&buf, "component", l->component);
    if (rc == 0)
        rc = json_field(&buf, "event", l->event);
    if (rc == 0 && l->pipeline_id[0] != '\0')
        rc = json_field(&buf, "pipeline_id", l->pipeline_id);
    if (rc == 0 && l->run_id[0] != '\0')
        rc = json_field(&buf, "run_id", l->run_id);
    if (rc == 0 && l->repeated > 0) {
        char suffix[96];
        repeat_suffix(l, suffix, sizeof(suffix));
        char text[REPEAT_MESSAGE_MAX + 128];
        snprintf(text, sizeof(text), "%s%s%s", l->message,
                 l->message[0] != '\0' ? " " : "", suffix);
        rc = json_field(&buf, "msg", text);
        if (rc == 0)
            rc = agora_buf_printf(&buf, ",\"repeated\":%llu",
                                  (unsigned long long)l->repeated);
    } else if (rc == 0 && l->message[0] != '\0') {
        rc = json_field(&buf, "msg", l->message);
    }
    if (rc == 0)
        rc = agora_buf_appendz(&buf, "}\n");
    if (rc == 0)
        write_all(buf.data, buf.len);
    else
        write_all(lost, sizeof(lost) - 1);
    agora_buf_free(&buf);
}

/* Caller holds log_lock. */
static void emit(const log_line *l)
{
    if (line_hook != NULL)
        line_hook(line_hook_ctx);
    if (atomic_load(&log_format) == AGORA_LOG_FORMAT_JSON)
        write_json(l);
    else
        write_logfmt(l);
}

/* ---- Repeat rule ------------------------------------------------------- */

/* Writes the count line of slot, when it counted anything, and frees it.
 * Caller holds log_lock. */
static void slot_close(repeat_slot *slot, double now, double wall)
{
    if (slot->suppressed > 0) {
        log_line l = {
            .wall = wall,
            .level = slot->level,
            .component = slot->component,
            .event = slot->event,
            .pipeline_id = slot->pipeline_id,
            .run_id = slot->run_id,
            .message = slot->message,
            .repeated = slot->suppressed,
            .repeated_seconds = now - slot->window_start,
        };
        emit(&l);
    }
    slot->used = false;
    slot->suppressed = 0;
}

/* Closes every slot whose window has ended. Caller holds log_lock. */
static void close_expired(double now, double wall)
{
    for (size_t i = 0; i < REPEAT_SLOTS; i++) {
        repeat_slot *slot = &repeat_table[i];
        if (slot->used && now - slot->window_start >= repeat_window)
            slot_close(slot, now, wall);
    }
}

/*
 * The repeat rule, for warn and error lines only. The key is (level,
 * component, event, pipeline_id); each key remembers one message, compared
 * with its numbers masked (message_key_hash).
 *
 *  - No slot for the key: the line is written and opens a window of
 *    repeat_window seconds for the key.
 *  - Same key, same message, window still open: the line is counted, not
 *    written; the slot keeps its run id and message.
 *  - Same key, other message: the count line of the old message is written
 *    (when it counted anything), then the new line, which opens a new window.
 *  - A window that has ended is closed, with its count line, at the next
 *    call of any level, at agora_log_flush_expired and at agora_log_flush.
 *  - When all slots are taken, the one seen least recently is closed first.
 *
 * Returns true when the line is to be written. Caller holds log_lock.
 */
static bool log_repeat_check(const log_line *l, double now)
{
    uint64_t hash = message_key_hash(l->message);
    repeat_slot *slot = NULL, *oldest = NULL;

    for (size_t i = 0; i < REPEAT_SLOTS; i++) {
        repeat_slot *s = &repeat_table[i];
        if (slot_matches(s, l->level, l->component, l->event, l->pipeline_id)) {
            slot = s;
            break;
        }
    }
    if (slot != NULL && slot->message_hash == hash) {
        slot->suppressed++;
        slot->last_seen = now;
        copy_text(slot->run_id, sizeof(slot->run_id), l->run_id);
        copy_text(slot->message, sizeof(slot->message), l->message);
        return false;
    }
    if (slot != NULL) {
        slot_close(slot, now, l->wall);
    } else {
        for (size_t i = 0; i < REPEAT_SLOTS && slot == NULL; i++) {
            if (!repeat_table[i].used)
                slot = &repeat_table[i];
            else if (oldest == NULL || repeat_table[i].last_seen < oldest->last_seen)
                oldest = &repeat_table[i];
        }
        if (slot == NULL) {
            slot = oldest;
            slot_close(slot, now, l->wall);
        }
    }
    slot->used = true;
    slot->level = l->level;
    copy_text(slot->component, sizeof(slot->component), l->component);
    copy_text(slot->event, sizeof(slot->event), l->event);
    copy_text(slot->pipeline_id, sizeof(slot->pipeline_id), l->pipeline_id);
    slot->message_hash = hash;
    slot->window_start = now;
    slot->last_seen = now;
    slot->suppressed = 0;
    return true;
}

void agora_log_flush_expired(void)
{
    pthread_mutex_lock(&log_lock);
    close_expired(core_clock_monotonic(log_clock), core_clock_wall(log_clock));
    pthread_mutex_unlock(&log_lock);
}

void agora_log_flush(void)
{
    pthread_mutex_lock(&log_lock);
    double now = core_clock_monotonic(log_clock);
    double wall = core_clock_wall(log_clock);
    for (size_t i = 0; i < REPEAT_SLOTS; i++) {
        if (repeat_table[i].used)
            slot_close(&repeat_table[i], now, wall);
    }
    pthread_mutex_unlock(&log_lock);
}

/* ---- Entry points ------------------------------------------------------ */

void agora_log_vwrite(agora_log_level level, const char *component,
                      const char *event, const char *pipeline_id,
                      const char *run_id, const char *fmt, va_list ap)
{
    char message[LOG_LINE_MAX];
    int saved_errno = errno;

    if (level < agora_log_get_level() || level >= AGORA_LOG_OFF)
        return;

    vsnprintf(message, sizeof(message), fmt != NULL ? fmt : "", ap);
    log_line l = {
        .level = level,
        .component = component != NULL ? component : "agora",
        .event = event != NULL ? event : "log",
        .pipeline_id = pipeline_id != NULL ? pipeline_id : "",
        .run_id = run_id != NULL ? run_id : "",
        .message = message,
    };

    pthread_mutex_lock(&log_lock);
    double now = core_clock_monotonic(log_clock);
    l.wall = core_clock_wall(log_clock);
    close_expired(now, l.wall);
    if (level < AGORA_LOG_WARN || log_repeat_check(&l, now))
        emit(&l);
    pthread_mutex_unlock(&log_lock);
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
