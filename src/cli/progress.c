/*
 * The progress line of agora run: a thread that reads the run's live
 * counters a few times per second and rewrites one line of the terminal on
 * stderr in place with '\r'. Log lines share that terminal: the logger's
 * line hook erases the progress line before each log line, and the next
 * update draws it again below.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/clock.h"
#include "core/log_internal.h"

#define PROGRESS_FIRST_SECONDS 0.5    /* runs shorter than this show nothing */
#define PROGRESS_INTERVAL_SECONDS 0.25 /* at most four updates per second */
#define PROGRESS_LINE_MAX 256

struct cli_progress {
    const agora_live_counters *live;
    char pipeline_id[AGORA_NAME_MAX];
    int fd;
    double started; /* monotonic seconds */
    core_waiter waiter;
    pthread_t thread;
    size_t shown_chars; /* characters of the line now on screen, guarded by the log lock */
};

/* Writes all of text to fd, giving up on an error: progress is best effort. */
static void write_text(int fd, const char *text, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, text, len);
        if (n <= 0)
            return;
        text += n;
        len -= (size_t)n;
    }
}

/* Erases the line on screen. Caller holds the log lock. */
static void erase_line(cli_progress *p)
{
    char blank[PROGRESS_LINE_MAX + 2];

    if (p->shown_chars == 0)
        return;
    blank[0] = '\r';
    memset(blank + 1, ' ', p->shown_chars);
    blank[p->shown_chars + 1] = '\r';
    write_text(p->fd, blank, p->shown_chars + 2);
    p->shown_chars = 0;
}

static void on_log_line(void *ctx)
{
    erase_line(ctx);
}

/* Formats v with a comma between groups of three digits. */
static void format_count(char *out, size_t size, uint64_t v)
{
    char digits[32];
    size_t len = (size_t)snprintf(digits, sizeof(digits), "%llu",
                                  (unsigned long long)v);
    size_t pos = 0;

    for (size_t i = 0; i < len && pos + 2 < size; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            out[pos++] = ',';
        out[pos++] = digits[i];
    }
    out[pos] = '\0';
}

/* Draws the current counters over the line on screen. */
static void draw(cli_progress *p)
{
    char line[PROGRESS_LINE_MAX + 1];
    char consumed[32], rate[32], written[32], dropped[32], errored[32];
    uint64_t n = atomic_load_explicit(&p->live->consumed, memory_order_relaxed);
    double elapsed = core_clock_monotonic(NULL) - p->started;

    format_count(consumed, sizeof(consumed), n);
    format_count(rate, sizeof(rate),
                 elapsed > 0 ? (uint64_t)((double)n / elapsed) : 0);
    format_count(written, sizeof(written),
                 atomic_load_explicit(&p->live->written, memory_order_relaxed));
    format_count(dropped, sizeof(dropped),
                 atomic_load_explicit(&p->live->dropped, memory_order_relaxed));
    format_count(errored, sizeof(errored),
                 atomic_load_explicit(&p->live->errored, memory_order_relaxed));
    int len = snprintf(line, sizeof(line),
                       "\r%s: %s records, %s records/s, written %s, dropped %s, "
                       "errored %s",
                       p->pipeline_id, consumed, rate, written, dropped, errored);
    if (len < 0)
        return;
    size_t text_len = (size_t)len < sizeof(line) ? (size_t)len : sizeof(line) - 1;

    core_log_lock();
    /* Pad with spaces over a longer previous line instead of relying on
     * terminal escape codes. */
    size_t visible = text_len - 1;
    write_text(p->fd, line, text_len);
    if (p->shown_chars > visible) {
        char pad[PROGRESS_LINE_MAX];
        memset(pad, ' ', p->shown_chars - visible);
        write_text(p->fd, pad, p->shown_chars - visible);
    }
    if (visible > p->shown_chars)
        p->shown_chars = visible;
    core_log_unlock();
}

static void *progress_main(void *arg)
{
    cli_progress *p = arg;
    double next = p->started + PROGRESS_FIRST_SECONDS;

    while (!core_waiter_sleep_until(&p->waiter, next)) {
        draw(p);
        next += PROGRESS_INTERVAL_SECONDS;
        double now = core_clock_monotonic(NULL);
        if (next < now) /* the thread fell behind: do not catch up in a burst */
            next = now + PROGRESS_INTERVAL_SECONDS;
    }
    return NULL;
}

cli_progress *cli_progress_start(const char *pipeline_id,
                                 const agora_live_counters *live, int fd)
{
    cli_progress *p;

    if (!isatty(fd))
        return NULL;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->live = live;
    p->fd = fd;
    snprintf(p->pipeline_id, sizeof(p->pipeline_id), "%s", pipeline_id);
    p->started = core_clock_monotonic(NULL);
    if (core_waiter_init(&p->waiter, NULL) != 0) {
        free(p);
        return NULL;
    }
    core_log_set_line_hook(on_log_line, p);
    /* Signals stay with the main thread, whose handler cancels the run. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&p->thread, NULL, progress_main, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        core_log_set_line_hook(NULL, NULL);
        core_waiter_destroy(&p->waiter);
        free(p);
        return NULL;
    }
    return p;
}

void cli_progress_stop(cli_progress *p)
{
    if (p == NULL)
        return;
    core_waiter_interrupt(&p->waiter);
    pthread_join(p->thread, NULL);
    core_log_lock();
    erase_line(p);
    core_log_unlock();
    core_log_set_line_hook(NULL, NULL);
    core_waiter_destroy(&p->waiter);
    free(p);
}
