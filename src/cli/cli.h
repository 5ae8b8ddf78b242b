/*
 * Shared pieces of the agora command: exit codes, subcommand entry points
 * and option helpers.
 */
#ifndef AGORA_CLI_H
#define AGORA_CLI_H

#include <stdbool.h>
#include <stdint.h>

#define EXIT_OK 0
#define EXIT_RUN_FAILED 1
#define EXIT_USAGE 2

int cli_run(int argc, char **argv);
int cli_worker(int argc, char **argv);
int cli_validate(int argc, char **argv);
int cli_components(int argc, char **argv);
int cli_schedule(int argc, char **argv);

/* Prints "agora: <message>" on stderr. */
void cli_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Applies --log-level (or AGORA_LOG_LEVEL when level is NULL). Returns false on a bad name. */
bool cli_set_log_level(const char *level);

/* Parses a non-negative integer option value. Returns false on bad input. */
bool cli_parse_u64(const char *text, uint64_t *out);

#endif
