/*
 * Shared pieces of the agora command: exit codes, subcommand entry points
 * and option helpers.
 */
#ifndef AGORA_CLI_H
#define AGORA_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "agora/pipeline.h"

#define EXIT_OK 0
#define EXIT_RUN_FAILED 1
#define EXIT_USAGE 2

int cli_run(int argc, char **argv);
int cli_worker(int argc, char **argv);
int cli_validate(int argc, char **argv);
int cli_components(int argc, char **argv);
int cli_schedule(int argc, char **argv);
int cli_dlq(int argc, char **argv);
int cli_checkpoint(int argc, char **argv);

/* Prints "agora: <message>" on stderr. */
void cli_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/*
 * Applies --log-level and --log-format; a NULL option falls back to
 * AGORA_LOG_LEVEL or AGORA_LOG_FORMAT. Returns false, after one error
 * message, on an unknown value.
 */
bool cli_set_log_options(const char *level, const char *format);

/* Help text lines for the two options, shared by the commands that log. */
#define CLI_LOG_OPTIONS_HELP                                                   \
    "      --log-level LEVEL        debug, info, warn, error or off (default\n" \
    "                               info, or AGORA_LOG_LEVEL)\n"               \
    "      --log-format FORMAT      logfmt or json (default logfmt, or\n"      \
    "                               AGORA_LOG_FORMAT)\n"

/* The progress line of agora run on a terminal. */
typedef struct cli_progress cli_progress;

/*
 * Starts a thread that shows live's counters on fd, rewriting one line a few
 * times per second, when fd is a terminal. Returns NULL (and shows nothing)
 * when it is not, or when the thread cannot start. live must outlive the
 * progress.
 */
cli_progress *cli_progress_start(const char *pipeline_id,
                                 const agora_live_counters *live, int fd);

/* Stops the thread and erases the line. Accepts NULL. */
void cli_progress_stop(cli_progress *p);

/* Parses a non-negative integer option value. Returns false on bad input. */
bool cli_parse_u64(const char *text, uint64_t *out);

#endif
