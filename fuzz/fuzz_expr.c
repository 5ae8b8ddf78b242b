/*
 * libFuzzer target for the filter expression language.
 *
 * The input, cut at its first NUL byte, is compiled with expr_compile. A
 * compiled expression is evaluated against fixed records: typical objects,
 * nested objects, arrays, an empty object, records that are not objects and
 * a string that is not valid UTF-8 (which `matches` must report as an
 * error, not crash on). Each evaluation must return 1, 0 or a negative code
 * with a message.
 *
 * The same file builds into tests/unit/test_fuzz_regressions.c, which renames
 * LLVMFuzzerTestOneInput, so every static here carries the fuzz_expr_ prefix.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/value.h"
#include "connectors/expr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_EXPR_MAX_RECORDS 16

/* Parenthesised so a missing comma between two records cannot go unseen. */
static const char *const fuzz_expr_json_records[] = {
    ("{\"Title\":\"The Matrix\",\"Year\":1999,\"IMDB Rating\":8.7,"
     "\"Major Genre\":\"Action\",\"tags\":[\"sci-fi\",\"action\",1999],"
     "\"release\":{\"year\":1999,\"x y\":{\"z\":true}},\"a\":1,\"b\":2.5,"
     "\"s\":\"abc\",\"n\":null,\"t\":true,\"f\":false,\"in\":\"kw\"}"),
    ("{\"Title\":\"\u00catre et avoir \u65e5\u672c\",\"Year\":\"2002\","
     "\"IMDB Rating\":null,\"a\":-9223372036854775808,"
     "\"b\":9007199254740993,\"s\":\"\",\"tags\":[],\"release\":[1,2]}"),
    ("{\"a\":1e308,\"b\":-0.0,\"s\":\"a\\u0000b\","
     "\"x\":{\"y\":{\"z\":[[]]}},\"a\":\"duplicate key, the last counts\"}"),
    "{}",
    "[1,2,3]",
    "\"just a string\"",
    "42",
    "null",
};

static agora_arena *fuzz_expr_arena;
static const agora_value *fuzz_expr_records[FUZZ_EXPR_MAX_RECORDS];
static size_t fuzz_expr_record_count;

static void fuzz_expr_fail(const char *text, const char *problem)
{
    fprintf(stderr, "fuzz_expr: '%s': %s\n", text, problem);
    abort();
}

/* Builds the records once per process; they stay for its lifetime. */
static void fuzz_expr_setup(void)
{
    size_t count = sizeof(fuzz_expr_json_records) /
                   sizeof(fuzz_expr_json_records[0]);
    agora_value *bad_utf8;

    if (fuzz_expr_arena != NULL)
        return;
    fuzz_expr_arena = agora_arena_new(0);
    if (fuzz_expr_arena == NULL)
        fuzz_expr_fail("", "out of memory");
    for (size_t i = 0; i < count; i++) {
        const char *json = fuzz_expr_json_records[i];
        agora_error err;
        agora_value *record;

        agora_error_clear(&err);
        record = agora_json_parse(fuzz_expr_arena, json, strlen(json), NULL,
                                  &err);
        if (record == NULL)
            fuzz_expr_fail(json, err.message);
        fuzz_expr_records[fuzz_expr_record_count++] = record;
    }

    /* A value the JSON parser would reject, built directly. */
    bad_utf8 = agora_value_object(fuzz_expr_arena, 2);
    if (bad_utf8 == NULL ||
        agora_object_push(fuzz_expr_arena, bad_utf8, "s", 1,
                          agora_value_string(fuzz_expr_arena, "ab\xff\xc0",
                                             4)) != 0 ||
        agora_object_push(fuzz_expr_arena, bad_utf8, "Title", 5,
                          agora_value_string(fuzz_expr_arena, "\xed\xa0\x80",
                                             3)) != 0)
        fuzz_expr_fail("", "out of memory");
    fuzz_expr_records[fuzz_expr_record_count++] = bad_utf8;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text;
    expr *compiled;
    agora_error err;

    fuzz_expr_setup();
    text = malloc(size + 1);
    if (text == NULL)
        return 0;
    if (size > 0)
        memcpy(text, data, size);
    text[size] = '\0';

    agora_error_clear(&err);
    compiled = expr_compile(text, &err);
    if (compiled == NULL) {
        if (err.code == 0 || err.message[0] == '\0')
            fuzz_expr_fail(text, "compile failed without an error message");
        free(text);
        return 0;
    }
    for (size_t i = 0; i < fuzz_expr_record_count; i++) {
        int result;

        agora_error_clear(&err);
        result = expr_eval(compiled, fuzz_expr_records[i], &err);
        if (result != 0 && result != 1 &&
            (result > 0 || err.code == 0 || err.message[0] == '\0'))
            fuzz_expr_fail(text, "evaluation returned an unexpected value");
    }
    expr_free(compiled);
    free(text);
    return 0;
}
