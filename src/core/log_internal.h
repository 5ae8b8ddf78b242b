/*
 * Internal controls of the logger. Tests replace the clock that stamps lines
 * and measures the repeat windows, and the length of those windows. The lock
 * and the line hook let a progress line share the terminal with log lines.
 */
#ifndef AGORA_CORE_LOG_INTERNAL_H
#define AGORA_CORE_LOG_INTERNAL_H

#include "core/clock.h"

/* Replaces the clock (NULL restores the real one). clock must outlive its use. */
void core_log_set_clock(const core_clock *clock);

/* Sets the repeat window in seconds (60 by default; <= 0 restores 60). */
void core_log_set_repeat_window(double seconds);

/* Takes and releases the lock held while a log line is written. A caller that
 * writes to the log's terminal itself takes it so no log line cuts in. */
void core_log_lock(void);
void core_log_unlock(void);

/*
 * Sets hook, called with the log lock held just before each line is written
 * (for example to erase a progress line first); NULL removes it. hook must
 * not log.
 */
void core_log_set_line_hook(void (*hook)(void *ctx), void *ctx);

#endif
