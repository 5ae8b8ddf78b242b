/*
 * The real clock and interruptible waits on pthread condition variables.
 *
 * Times are doubles in seconds: a double keeps microsecond precision for
 * monotonic readings of centuries, which is more than any wait here needs.
 */
#include "core/clock.h"

#include <math.h>
#include <time.h>

static double timespec_seconds(const struct timespec *ts)
{
    return (double)ts->tv_sec + (double)ts->tv_nsec / 1e9;
}

static double system_monotonic(void *ctx)
{
    struct timespec ts;

    (void)ctx;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return timespec_seconds(&ts);
}

static double system_wall(void *ctx)
{
    struct timespec ts;

    (void)ctx;
    clock_gettime(CLOCK_REALTIME, &ts);
    return timespec_seconds(&ts);
}

static void system_wait_until(void *ctx, pthread_cond_t *cond,
                              pthread_mutex_t *mutex, double deadline)
{
    struct timespec ts;
    double whole;
    double frac;

    (void)ctx;
    /* An infinite or huge deadline is capped at 2^31 - 1 s (about 68 years
     * of uptime) so that the conversion to time_t stays defined. */
    if (!(deadline < 2147483647.0))
        deadline = 2147483647.0;
    if (deadline < 0)
        deadline = 0;
    frac = modf(deadline, &whole);
    ts.tv_sec = (time_t)whole;
    ts.tv_nsec = (long)(frac * 1e9);
    if (ts.tv_nsec >= 1000000000L)
        ts.tv_nsec = 999999999L;

    /* ETIMEDOUT and spurious wake-ups look the same to the caller, which
     * rechecks the time. */
    (void)pthread_cond_timedwait(cond, mutex, &ts);
}

static const core_clock system_clock = {
    .monotonic = system_monotonic,
    .wall = system_wall,
    .wait_until = system_wait_until,
    .ctx = NULL,
};

const core_clock *core_clock_system(void)
{
    return &system_clock;
}

double core_clock_monotonic(const core_clock *clock)
{
    if (clock == NULL)
        clock = &system_clock;
    return clock->monotonic(clock->ctx);
}

double core_clock_wall(const core_clock *clock)
{
    if (clock == NULL)
        clock = &system_clock;
    return clock->wall(clock->ctx);
}

int core_cond_init_monotonic(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    int rc;

    rc = pthread_condattr_init(&attr);
    if (rc != 0)
        return rc;
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
    return rc;
}

int core_waiter_init(core_waiter *w, const core_clock *clock)
{
    int rc;

    w->clock = clock != NULL ? clock : &system_clock;
    w->interrupted = false;
    rc = pthread_mutex_init(&w->mutex, NULL);
    if (rc != 0)
        return rc;
    rc = core_cond_init_monotonic(&w->cond);
    if (rc != 0)
        pthread_mutex_destroy(&w->mutex);
    return rc;
}

void core_waiter_destroy(core_waiter *w)
{
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mutex);
}

void core_waiter_set_clock(core_waiter *w, const core_clock *clock)
{
    pthread_mutex_lock(&w->mutex);
    w->clock = clock != NULL ? clock : &system_clock;
    pthread_mutex_unlock(&w->mutex);
}

bool core_waiter_sleep(core_waiter *w, double seconds)
{
    double deadline;

    pthread_mutex_lock(&w->mutex);
    deadline = w->clock->monotonic(w->clock->ctx) + (seconds > 0 ? seconds : 0);
    pthread_mutex_unlock(&w->mutex);
    return core_waiter_sleep_until(w, deadline);
}

bool core_waiter_sleep_until(core_waiter *w, double deadline)
{
    const core_clock *clock;
    bool interrupted;

    pthread_mutex_lock(&w->mutex);
    clock = w->clock;
    while (!w->interrupted && clock->monotonic(clock->ctx) < deadline)
        clock->wait_until(clock->ctx, &w->cond, &w->mutex, deadline);
    interrupted = w->interrupted;
    pthread_mutex_unlock(&w->mutex);
    return interrupted;
}

void core_waiter_interrupt(core_waiter *w)
{
    pthread_mutex_lock(&w->mutex);
    w->interrupted = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mutex);
}

bool core_waiter_is_interrupted(core_waiter *w)
{
    bool interrupted;

    pthread_mutex_lock(&w->mutex);
    interrupted = w->interrupted;
    pthread_mutex_unlock(&w->mutex);
    return interrupted;
}
