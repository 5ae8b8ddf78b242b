/*
 * libFuzzer target for cron expressions.
 *
 * The first input line is the expression. A second line, when present,
 * selects a time zone from a fixed list (by its exact name, otherwise by its
 * first byte), so the target never reads a path taken from the input. A
 * parsed expression then computes a chain of fire times from a few fixed
 * instants. Each fire time must lie strictly after its start, and in UTC it
 * must fall on a whole minute and be the first match after its start, which
 * the target checks by asking again from one second before it.
 *
 * The same file builds into tests/unit/test_fuzz_regressions.c, which renames
 * LLVMFuzzerTestOneInput, so every static here carries the fuzz_cron_ prefix.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/runner.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Zones with daylight saving time, half-hour offsets and a half-hour DST
 * shift (Lord Howe), all present in Debian's tzdata. */
static const char *const fuzz_cron_zones[] = {
    "UTC", "Etc/UTC", "Europe/Berlin", "America/New_York",
    "Asia/Kolkata", "Australia/Lord_Howe", "America/Sao_Paulo",
};

/* Start instants, Unix seconds: the epoch, 2023-11-14T22:13:20Z, the hour
 * before the 2024 European DST change, 2024-11-03T05:30:00Z inside the New
 * York fall-back hour, and 9999-12-31T00:00:00Z near the search limit. */
static const int64_t fuzz_cron_starts[] = {
    0, 1700000000, 1711843200, 1730611800, 253402214400,
};

static void fuzz_cron_fail(const char *expression, const char *zone,
                           int64_t after, int64_t next, const char *problem)
{
    fprintf(stderr,
            "fuzz_cron: '%s' in zone '%s': after %lld got %lld: %s\n",
            expression, zone != NULL ? zone : "", (long long)after,
            (long long)next, problem);
    abort();
}

static const char *fuzz_cron_pick_zone(const char *line, size_t len)
{
    size_t count = sizeof(fuzz_cron_zones) / sizeof(fuzz_cron_zones[0]);

    if (len == 0)
        return NULL;
    for (size_t i = 0; i < count; i++)
        if (strlen(fuzz_cron_zones[i]) == len &&
            memcmp(fuzz_cron_zones[i], line, len) == 0)
            return fuzz_cron_zones[i];
    return fuzz_cron_zones[(unsigned char)line[0] % count];
}

static void fuzz_cron_chain(const agora_cron *cron, const char *expression,
                            const char *zone, int64_t start)
{
    bool utc = zone == NULL || strcmp(zone, "UTC") == 0 ||
               strcmp(zone, "Etc/UTC") == 0;
    int64_t after = start;

    for (int i = 0; i < 4; i++) {
        agora_error err;
        int64_t next = 0, again = 0;

        agora_error_clear(&err);
        if (agora_cron_next(cron, after, &next, &err) != 0) {
            if (err.code == 0 || err.message[0] == '\0')
                fuzz_cron_fail(expression, zone, after, next,
                               "failed without an error message");
            return;
        }
        if (next <= after)
            fuzz_cron_fail(expression, zone, after, next,
                           "not strictly after the start");
        if (utc && next % 60 != 0)
            fuzz_cron_fail(expression, zone, after, next,
                           "not on a whole minute");
        if (utc && (agora_cron_next(cron, next - 1, &again, &err) != 0 ||
                    again != next))
            fuzz_cron_fail(expression, zone, next - 1, again,
                           "asking again from one second before differs");
        after = next;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *newline = size > 0 ? memchr(text, '\n', size) : NULL;
    size_t expression_len = newline != NULL ? (size_t)(newline - text) : size;
    const char *zone = NULL;
    char *expression;
    agora_cron *cron;
    agora_error err;

    /* Expressions longer than AGORA_CRON_EXPRESSION_MAX are rejected early;
     * a little over it still tests that check. */
    if (expression_len > 2 * AGORA_CRON_EXPRESSION_MAX)
        return 0;
    if (newline != NULL) {
        const char *line = newline + 1;
        const char *end = memchr(line, '\n', size - expression_len - 1);
        size_t len = end != NULL ? (size_t)(end - line)
                                 : size - expression_len - 1;

        zone = fuzz_cron_pick_zone(line, len);
    }

    expression = malloc(expression_len + 1);
    if (expression == NULL)
        return 0;
    memcpy(expression, text, expression_len);
    expression[expression_len] = '\0';

    agora_error_clear(&err);
    cron = agora_cron_parse(expression, zone, &err);
    if (cron == NULL) {
        if (err.code == 0 || err.message[0] == '\0')
            fuzz_cron_fail(expression, zone, 0, 0,
                           "parse failed without an error message");
    } else {
        for (size_t i = 0;
             i < sizeof(fuzz_cron_starts) / sizeof(fuzz_cron_starts[0]); i++)
            fuzz_cron_chain(cron, expression, zone, fuzz_cron_starts[i]);
        agora_cron_free(cron);
    }
    free(expression);
    return 0;
}
