/*
 * libFuzzer target for the JSON codec.
 *
 * Parses the input with the default limits and with tight ones. When it
 * parses, the value is written back, the output parsed again and written a
 * second time: the second parse must succeed, give an equal value and write
 * the same bytes. agora_json_check must agree with the parser on every input,
 * error message included. A failed check aborts, so libFuzzer reports it as
 * a crash.
 *
 * The same file builds into tests/unit/test_fuzz_regressions.c, which renames
 * LLVMFuzzerTestOneInput, so every static here carries the fuzz_json_ prefix.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/value.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_json_fail(const char *problem, const agora_buf *first,
                           const agora_buf *second)
{
    fprintf(stderr, "fuzz_json: %s\n", problem);
    if (first != NULL)
        fprintf(stderr, "first write:  %.*s\n", (int)first->len, first->data);
    if (second != NULL)
        fprintf(stderr, "second write: %.*s\n", (int)second->len,
                second->data);
    abort();
}

static void fuzz_json_round_trip(const agora_value *value)
{
    agora_arena *arena = agora_arena_new(0);
    agora_buf first, second;
    agora_value *reparsed;
    agora_error err;

    agora_buf_init(&first);
    agora_buf_init(&second);
    if (arena == NULL || agora_json_write(&first, value) != 0)
        fuzz_json_fail("out of memory while writing", NULL, NULL);

    /* The writer may nest exactly as deep as the parser accepted, so the
     * default limits must accept the output again. */
    agora_error_clear(&err);
    reparsed = agora_json_parse(arena, first.data, first.len, NULL, &err);
    if (reparsed == NULL) {
        fprintf(stderr, "fuzz_json: parse error: %s\n", err.message);
        fuzz_json_fail("the written JSON does not parse", &first, NULL);
    }
    if (!agora_value_equal(value, reparsed))
        fuzz_json_fail("the reparsed value differs from the first one",
                       &first, NULL);
    if (agora_json_write(&second, reparsed) != 0)
        fuzz_json_fail("out of memory while writing", NULL, NULL);
    if (first.len != second.len ||
        memcmp(first.data, second.data, first.len) != 0)
        fuzz_json_fail("the second write differs from the first", &first,
                       &second);

    agora_buf_free(&first);
    agora_buf_free(&second);
    agora_arena_free(arena);
}

/*
 * agora_json_check must accept exactly what agora_json_parse accepts, with
 * the same error, under the same limits.
 */
static void fuzz_json_check_agrees(agora_arena *arena, const uint8_t *data,
                                   size_t size,
                                   const agora_json_limits *limits,
                                   const agora_value *parsed,
                                   const agora_error *parse_err)
{
    agora_error err;
    bool ok;

    agora_error_clear(&err);
    ok = agora_json_check(arena, (const char *)data, size, limits, &err);
    if (ok != (parsed != NULL)) {
        fprintf(stderr, "fuzz_json: check %s, parse %s (%s)\n",
                ok ? "accepts" : "rejects", parsed ? "accepts" : "rejects",
                ok ? parse_err->message : err.message);
        fuzz_json_fail("agora_json_check and agora_json_parse disagree", NULL,
                       NULL);
    }
    if (!ok && (err.code != parse_err->code ||
                strcmp(err.message, parse_err->message) != 0)) {
        fprintf(stderr, "fuzz_json: check: %s\nfuzz_json: parse: %s\n",
                err.message, parse_err->message);
        fuzz_json_fail("agora_json_check and agora_json_parse report "
                       "different errors", NULL, NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const agora_json_limits tight = {.max_depth = 4, .max_string_bytes = 16};
    agora_arena *arena = agora_arena_new(0);
    agora_value *value;
    agora_error err;

    if (arena == NULL)
        return 0;

    agora_error_clear(&err);
    value = agora_json_parse(arena, (const char *)data, size, NULL, &err);
    if (value != NULL)
        fuzz_json_round_trip(value);
    else if (err.code == 0 || err.message[0] == '\0')
        fuzz_json_fail("parse failed without an error code and message",
                       NULL, NULL);
    fuzz_json_check_agrees(arena, data, size, NULL, value, &err);

    agora_arena_reset(arena);
    agora_error_clear(&err);
    value = agora_json_parse(arena, (const char *)data, size, &tight, &err);
    if (value != NULL)
        fuzz_json_round_trip(value);
    fuzz_json_check_agrees(arena, data, size, &tight, value, &err);

    agora_arena_free(arena);
    return 0;
}
