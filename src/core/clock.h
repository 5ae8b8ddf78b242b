/*
 * Clocks and interruptible waits.
 *
 * Code that measures time or sleeps goes through a core_clock, a table of
 * function pointers, so tests can hand in a fake clock that advances time
 * without sleeping. core_clock_system() is the real one: CLOCK_MONOTONIC for
 * deadlines, CLOCK_REALTIME for timestamps, and pthread condition variables
 * bound to CLOCK_MONOTONIC so a change of the system time never stretches or
 * cuts a wait.
 */
#ifndef AGORA_CORE_CLOCK_H
#define AGORA_CORE_CLOCK_H

#include <pthread.h>
#include <stdbool.h>

typedef struct core_clock {
    /* Seconds since an arbitrary fixed point; never goes backwards. */
    double (*monotonic)(void *ctx);
    /* Unix time in seconds. */
    double (*wall)(void *ctx);
    /*
     * Blocks on cond, whose mutex the caller holds, until the condition is
     * signalled or monotonic time reaches deadline (seconds, same scale as
     * monotonic). May return early for no reason: callers recheck their
     * condition and the time in a loop. A fake clock may advance its time to
     * deadline and return at once.
     */
    void (*wait_until)(void *ctx, pthread_cond_t *cond, pthread_mutex_t *mutex,
                       double deadline);
    void *ctx;
} core_clock;

/* Returns the process-wide real clock (static storage, never freed). */
const core_clock *core_clock_system(void);

/* Reads the monotonic or wall time of clock; NULL selects the real clock. */
double core_clock_monotonic(const core_clock *clock);
double core_clock_wall(const core_clock *clock);

/* Initializes cond to measure timed waits on CLOCK_MONOTONIC. Returns 0 or errno. */
int core_cond_init_monotonic(pthread_cond_t *cond);

/*
 * A sleep that another thread can cut short. Once interrupted, a waiter stays
 * interrupted: every later sleep returns at once. This is what a stop request
 * needs, because a stop that arrives between two sleeps must not be lost.
 */
typedef struct core_waiter {
    pthread_mutex_t mutex;
    pthread_cond_t cond; /* on CLOCK_MONOTONIC */
    const core_clock *clock;
    bool interrupted; /* guarded by mutex */
} core_waiter;

/* Initializes w with clock (NULL selects the real clock). Returns 0 or errno. */
int core_waiter_init(core_waiter *w, const core_clock *clock);
void core_waiter_destroy(core_waiter *w);

/* Replaces the clock. Only while no thread sleeps on w. */
void core_waiter_set_clock(core_waiter *w, const core_clock *clock);

/*
 * Sleeps for seconds (<= 0 does not sleep) on the waiter's clock. Returns true
 * when the waiter was interrupted before or during the sleep, false when the
 * full time passed.
 */
bool core_waiter_sleep(core_waiter *w, double seconds);

/*
 * Sleeps until the waiter's monotonic clock reaches deadline (seconds, the
 * scale of core_clock_monotonic); a deadline in the past does not sleep.
 * Returns as core_waiter_sleep does. Sleeping to a fixed deadline instead of
 * for a duration keeps the time spent between computing the deadline and
 * starting to wait from adding up.
 */
bool core_waiter_sleep_until(core_waiter *w, double deadline);

/* Interrupts current and future sleeps and wakes every sleeper at once. */
void core_waiter_interrupt(core_waiter *w);

bool core_waiter_is_interrupted(core_waiter *w);

#endif
