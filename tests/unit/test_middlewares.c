/*
 * Tests of the built-in middlewares validate, filter and map, created
 * through their component types the way the config loader does. Expected
 * records and messages come from the option descriptions; the counts on
 * movies.json were computed with jq (the filter given next to each count).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agora/config.h"
#include "agora/pipeline.h"
#include "agora/value.h"
#include "connectors/connectors.h"

/* ---- Helpers ----------------------------------------------------------- */

static agora_value *parse(agora_arena *arena, const char *text)
{
    agora_error err;
    agora_value *v = agora_json_parse(arena, text, strlen(text), NULL, &err);

    if (v == NULL)
        fail_msg("bad JSON in test: %s: %s", text, err.message);
    return v;
}

static char *to_json(const agora_value *v)
{
    static char text[4096];
    agora_buf buf;

    agora_buf_init(&buf);
    assert_int_equal(agora_json_write(&buf, v), 0);
    assert_true(buf.len < sizeof(text));
    memcpy(text, buf.data, buf.len);
    text[buf.len] = '\0';
    agora_buf_free(&buf);
    return text;
}

static agora_middleware *create(const agora_component_type *type,
                                agora_arena *arena, const char *options,
                                agora_error *err)
{
    agora_component_context ctx = {
        .base_dir = ".", .pipeline_id = "test", .instance_name = type->type};

    agora_error_clear(err);
    return type->create_middleware(parse(arena, options), &ctx, err);
}

/*
 * Runs one record through mw and checks the verdict. On AGORA_KEEP the
 * output must equal expected (JSON); on AGORA_FAIL the message must contain
 * expected. The input record must come out unchanged either way.
 */
static void check(agora_middleware *mw, agora_arena *arena, const char *input,
                  agora_verdict verdict, const char *expected)
{
    agora_value *record = parse(arena, input);
    agora_value *out = record;
    agora_error err;
    char before[4096];

    agora_error_clear(&err);
    snprintf(before, sizeof(before), "%s", to_json(record));
    agora_verdict got = mw->process(mw->state, &out, arena, &err);
    if (got != verdict)
        fail_msg("%s on %s: verdict %d, expected %d (%s)", mw->name, input,
                 (int)got, (int)verdict, err.message);
    if (verdict == AGORA_KEEP && expected != NULL &&
        strcmp(to_json(out), expected) != 0)
        fail_msg("%s on %s: got %s, expected %s", mw->name, input,
                 to_json(out), expected);
    if (verdict == AGORA_FAIL && strstr(err.message, expected) == NULL)
        fail_msg("%s on %s: message \"%s\" lacks \"%s\"", mw->name, input,
                 err.message, expected);
    if (strcmp(to_json(record), before) != 0)
        fail_msg("%s changed its input %s into %s", mw->name, before,
                 to_json(record));
}

typedef struct config_error_case {
    const char *options;
    const char *key;
    const char *fragment;
} config_error_case;

static void check_config_errors(const agora_component_type *type,
                                const config_error_case *cases, size_t n)
{
    agora_arena *arena = agora_arena_new(0);

    for (size_t i = 0; i < n; i++) {
        agora_error err;
        agora_middleware *mw = create(type, arena, cases[i].options, &err);

        if (mw != NULL)
            fail_msg("%s accepted %s", type->type, cases[i].options);
        assert_int_equal(err.code, AGORA_ECONFIG);
        assert_string_equal(err.key, cases[i].key);
        if (strstr(err.message, cases[i].fragment) == NULL)
            fail_msg("%s %s: message \"%s\" lacks \"%s\"", type->type,
                     cases[i].options, err.message, cases[i].fragment);
    }
    agora_arena_free(arena);
}

/* Loads movies.json from AGORA_SHARED_DIR, or returns NULL (test skips). */
static agora_value *load_movies(agora_arena *arena)
{
    const char *dir = getenv("AGORA_SHARED_DIR");
    char path[4096];
    FILE *f;
    char *text;
    long size;
    agora_error err;
    agora_value *movies;

    if (dir == NULL) {
        printf("skipped: AGORA_SHARED_DIR is not set, movies.json not found\n");
        return NULL;
    }
    snprintf(path, sizeof(path), "%s/data/movies.json", dir);
    f = fopen(path, "rb");
    if (f == NULL) {
        printf("skipped: cannot open %s\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = malloc((size_t)size);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    movies = agora_json_parse(arena, text, (size_t)size, NULL, &err);
    free(text);
    assert_non_null(movies);
    assert_int_equal(movies->type, AGORA_ARRAY);
    return movies;
}

/* Counts the movies mw keeps and fails; they must add up to all movies. */
static void count_movies(agora_middleware *mw, const agora_value *movies,
                         agora_arena *arena, size_t *kept, size_t *failed)
{
    *kept = 0;
    *failed = 0;
    for (size_t i = 0; i < movies->u.array.len; i++) {
        agora_value *record = movies->u.array.items[i];
        agora_error err;

        switch (mw->process(mw->state, &record, arena, &err)) {
        case AGORA_KEEP:
            (*kept)++;
            break;
        case AGORA_FAIL:
            (*failed)++;
            break;
        case AGORA_DROP:
            break;
        }
    }
}

/* ---- validate ---------------------------------------------------------- */

static void validate_required(void **state)
{
    agora_arena *arena = agora_arena_new(0);
    agora_error err;
    agora_middleware *mw = create(&agora_mw_validate_type, arena,
                                  "{\"required\":[\"Title\",\"IMDB Rating\"]}",
                                  &err);

    assert_non_null(mw);
    check(mw, arena, "{\"Title\":\"A\",\"IMDB Rating\":6.1}", AGORA_KEEP,
          "{\"Title\":\"A\",\"IMDB Rating\":6.1}");
    check(mw, arena, "{\"Title\":\"A\"}", AGORA_FAIL,
          "field 'IMDB Rating' is missing");
    check(mw, arena, "{\"Title\":\"A\",\"IMDB Rating\":null}", AGORA_FAIL,
          "field 'IMDB Rating' is null");
    check(mw, arena, "{}", AGORA_FAIL,
          "field 'Title' is missing; field 'IMDB Rating' is missing");
    check(mw, arena, "[1]", AGORA_FAIL, "record must be an object, got an array");
    check(mw, arena, "\"x\"", AGORA_FAIL, "record must be an object, got \"x\"");
    agora_middleware_free(mw);
    agora_arena_free(arena);
}

static void validate_types(void **state)
{
    agora_arena *arena = agora_arena_new(0);
    agora_error err;
    agora_middleware *mw = create(
        &agora_mw_validate_type, arena,
        "{\"types\":{\"Year\":\"int\",\"r\":\"float\",\"n\":\"number\","
        "\"s\":\"string\",\"b\":\"bool\",\"a\":\"array\",\"o\":\"object\","
        "\"z\":\"null\"}}",
        &err);

    assert_non_null(mw);
    check(mw, arena,
          "{\"Year\":1998,\"r\":7.5,\"n\":3,\"s\":\"x\",\"b\":false,"
          "\"a\":[],\"o\":{},\"z\":null}",
          AGORA_KEEP, NULL);
    /* float and number accept both ints and doubles */
    check(mw, arena, "{\"r\":7,\"n\":7.5}", AGORA_KEEP, NULL);
    /* absent fields that are not required pass */
    check(mw, arena, "{}", AGORA_KEEP, "{}");
    check(mw, arena, "{\"Year\":\"1998\"}", AGORA_FAIL,
          "field 'Year' must be int, got string \"1998\"");
    check(mw, arena, "{\"Year\":7.5}", AGORA_FAIL,
          "field 'Year' must be int, got float 7.5");
    check(mw, arena, "{\"s\":12}", AGORA_FAIL, "field 's' must be string, got int 12");
    check(mw, arena, "{\"b\":\"true\"}", AGORA_FAIL,
          "field 'b' must be bool, got string \"true\"");
    check(mw, arena, "{\"a\":{}}", AGORA_FAIL, "field 'a' must be array, got an object");
    check(mw, arena, "{\"o\":[1]}", AGORA_FAIL, "field 'o' must be object, got an array");
    check(mw, arena, "{\"z\":0}", AGORA_FAIL, "field 'z' must be null, got int 0");
    /* allow_null is false: a null fails the type check */
    check(mw, arena, "{\"Year\":null}", AGORA_FAIL, "field 'Year' must be int, got null");
    check(mw, arena, "{\"Year\":\"1998\",\"s\":true}", AGORA_FAIL,
          "field 'Year' must be int, got string \"1998\"; field 's' must be "
          "string, got bool true");
    agora_middleware_free(mw);
    agora_arena_free(arena);
}

static void validate_allow_null(void **state)
{
    agora_arena *arena = agora_arena_new(0);
    agora_error err;
    agora_middleware *mw = create(&agora_mw_validate_type, arena,
                                  "{\"required\":[\"id\"],\"allow_null\":true,"
                                  "\"types\":{\"id\":\"int\",\"Year\":\"int\"}}",
                                  &err);

    assert_non_null(mw);
    check(mw, arena, "{\"id\":1,\"Year\":null}", AGORA_KEEP, NULL);
    /* allow_null does not apply to required fields */
    check(mw, arena, "{\"id\":null}", AGORA_FAIL, "field 'id' is null");
    check(mw, arena, "{\"id\":1,\"Year\":\"x\"}", AGORA_FAIL,
          "field 'Year' must be int, got string \"x\"");
    agora_middleware_free(mw);
    agora_arena_free(arena);
}

static void validate_long_string_is_cut(void **state)
{
    agora_arena *arena = agora_arena_new(0);
    agora_error err;
    agora_middleware *mw = create(&agora_mw_validate_type, arena,
                                  "{\"types\":{\"n\":\"int\"}}", &err);

    assert_non_null(mw);
    check(mw, arena,
          "{\"n\":\"0123456789012345678901234567890123456789abcdef\"}",
          AGORA_FAIL,
          "got string \"0123456789012345678901234567890123456789...\"");
    check(mw, arena, "{\"n\":\"a\\\"b\\nc\"}", AGORA_FAIL,
          "got string \"a\\\"b\\nc\"");
    agora_middleware_free(mw);
    agora_arena_free(arena);
}

static void validate_config_errors(void **state)
{
    static const config_error_case cases[] = {
        {"{\"types\":{\"Year\":\"integer\"}}", "types", "unknown type \"integer\" for field 'Year'"},
        {"{\"types\":{\"Year\":5}}", "types", "must be a type name"},
        {"{\"types\":[\"int\"]}", "types", "must be a table"},
        {"{\"required\":\"Title\"}", "required", "must be an array"},
        {"{\"required\":[\"Title\",3]}", "required", "item 2 is int"},
        {"{\"allow_null\":\"yes\"}", "allow_null", "must be true or false"},
    };
    check_config_errors(&agora_mw_validate_type, cases,
                        sizeof(cases) / sizeof(cases[0]));
}

static void validate_movies(void **state)
{
    agora_arena *arena = agora_arena_new(0);
    agora_value *movies = load_movies(arena);
    agora_error err;
    size_t kept, failed;

    if (movies == NULL) {
        agora_arena_free(arena);
        skip();
    }
    agora_middleware *mw = create(&agora_mw_validate_type, arena,
                                  "{\"required\":[\"Title\",\"IMDB Rating\"],"
                                  "\"types\":{\"Title\":\"string\"}}",
                                  &err);
    assert_non_null(mw);
    count_movies(mw, movies, arena, &kept, &failed);
    /* jq '[.[] | select(.Title == null or .["IMDB Rating"] == null or
     *     ((.Title|type) != "string"))] | length'  ->  223 of 3201 */
    assert_int_equal(failed, 223);
    assert_int_equal(kept, 3201 - 223);
    agora_middleware_free(mw);
    agora_arena_free(arena);
}

/* ---- filter ------------------------------------------------------------ */

static void filter_keeps_and_drops(void **state)
{
    agora_arena *arena = agora_arena_new(0);
    agora_error err;
    agora_middleware *mw = create(
        &agora_mw_filter_type, arena,
        "{\"expression\":\"`IMDB Rating` >= 7 and Year is not null\"}", &err);

    assert_non_null(mw);
    assert_string_equal(mw->name, "filter");
    check(mw, arena, "{\"IMDB Rating\":7.5,\"Year\":1998}", AGORA_KEEP,
          "{\"IMDB Rating\":7.5,\"Year\":1998}");
    check(mw, arena, "{\"IMDB Rating\":7,\"Year\":1998}", AGORA_KEEP, NULL);
    check(mw, arena, "{\"IMDB Rating\":6.9,\"Year\":1998}", AGORA_DROP, NULL);
    check(mw, arena, "{\"IMDB Rating\":7.5,\"Year\":null}", AGORA_DROP, NULL);
    check(mw, arena, "{\"IMDB Rating\":7.5}", AGORA_DROP, NULL);
    check(mw, arena, "{\"IMDB Rating\":\"8\",\"Year\":1998}", AGORA_DROP, NULL);
    agora_middleware_free(mw);
    agora_arena_free(arena);
}

static void filter_config_errors(void **state)
{
    static const config_error_case cases[] = {
        {"{}", "expression", "filter needs an 'expression' option"},
        {"{\"expression\":5}", "expression", "must be a string"},
        {"{\"expression\":\"Year >= \"}", "expression",
         "filter expression: column 9: expected a value after '>='"},
        {"{\"expression\":\"Title matches '[a'\"}", "expression",
         "column 15: invalid regular expression '[a'"},
        /* two bare words: the hint shows the name in backticks */
        {"{\"expression\":\"IMDB Rating >= 8\"}", "expression",
         "column 6: expected 'and', 'or' or the end of the expression, "
         "found 'Rating'. Field names with spaces or symbols must be written "
         "in backticks, e.g. `IMDB Rating`"},
        /* a quoted field name is a string, so the comparison is constant */
        {"{\"expression\":\"'IMDB Rating' >= 8\"}", "expression",
         "column 1: both sides of '>=' are constants"},
        {"{\"expression\":\"Year => 2000\"}", "expression",
         "column 6: unexpected '=>'; use '>='"},
    };
    check_config_errors(&agora_mw_filter_type, cases,
                        sizeof(cases) / sizeof(cases[0]));
}

static void filter_movies(void **state)
{
    agora_arena *arena = agora_arena_new(0);
    agora_value *movies = load_movies(arena);
    agora_error err;
    size_t kept, failed;

    if (movies == NULL) {
        agora_arena_free(arena);
        skip();
    }
    agora_middleware *mw = create(
        &agora_mw_filter_type, arena,
        "{\"expression\":\"`IMDB Rating` >= 7 and `Major Genre` is not null\"}",
        &err);
    assert_non_null(mw);
    count_movies(mw, movies, arena, &kept, &failed);
    /* jq '[.[] | select((.["IMDB Rating"] // -1) >= 7 and
     *     .["Major Genre"] != null)] | length'  ->  861 */
    assert_int_equal(kept, 861);
    assert_int_equal(failed, 0);
    agora_middleware_free(mw);

    mw = create(&agora_mw_filter_type, arena,
                "{\"expression\":\"Title matches '^The '\"}", &err);
    assert_non_null(mw);
    count_movies(mw, movies, arena, &kept, &failed);
    /* jq '[.[] | select((.Title|type) == "string" and
     *     (.Title|test("^The ")))] | length'  ->  607 */
    assert_int_equal(kept, 607);
    assert_int_equal(failed, 0);
    agora_middleware_free(mw);
    agora_arena_free(arena);
}

/* ---- map --------------------------------------------------------------- */

static void map_rename(void **state)
{
    agora_arena *arena = agora_arena_new(0);
    agora_error err;
    agora_middleware *mw = create(&agora_mw_map_type, arena,
                                  "{\"rename\":{\"a\":\"x\"}}", &err);

    assert_non_null(mw);
    check(mw, arena, "{\"a\":1,\"b\":2}", AGORA_KEEP, "{\"x\":1,\"b\":2}");
    check(mw, arena, "{\"b\":2}", AGORA_KEEP, "{\"b\":2}");
    /* the renamed field replaces one that already had the new name */
    check(mw, arena, "{\"x\":9,\"a\":1,\"b\":2}", AGORA_KEEP, "{\"x\":1,\"b\":2}");
    /* without the source field the target stays */
    check(mw, arena, "{\"x\":9}", AGORA_KEEP, "{\"x\":9}");
    agora_middleware_free(mw);

    mw = create(&agora_mw_map_type, arena,
                "{\"rename\":{\"a\":\"b\",\"b\":\"a\"}}", &err);
    assert_non_null(mw);
    check(mw, arena, "{\"a\":1,\"b\":2,\"c\":3}", AGORA_KEEP,
          "{\"b\":1,\"a\":2,\"c\":3}");
    agora_middleware_free(mw);
    agora_arena_free(arena);
}

typedef struct cast_case {
    const char *target;
    const char *input; /* JSON value of field v */
    agora_verdict verdict;
    const char *expected; /* JSON value of v, or a message fragment */
} cast_case;

static void map_cast(void **state)
{
    static const cast_case cases[] = {
        {"int", "\"123\"", AGORA_KEEP, "123"},
        {"int", "\" -42 \"", AGORA_KEEP, "-42"},
        {"int", "\"+7\"", AGORA_KEEP, "7"},
        {"int", "\"12.0\"", AGORA_KEEP, "12"},
        {"int", "\"1e3\"", AGORA_KEEP, "1000"},
        {"int", "\"\"", AGORA_KEEP, "null"},
        {"int", "\"  \"", AGORA_KEEP, "null"},
        {"int", "null", AGORA_KEEP, "null"},
        {"int", "12.0", AGORA_KEEP, "12"},
        {"int", "5", AGORA_KEEP, "5"},
        {"int", "true", AGORA_KEEP, "1"},
        {"int", "\"abc\"", AGORA_FAIL, "cannot cast field 'v' value \"abc\" to int"},
        {"int", "\"12.5\"", AGORA_FAIL, "cannot cast field 'v' value \"12.5\" to int"},
        {"int", "12.5", AGORA_FAIL, "cannot cast field 'v' value 12.5 to int"},
        {"int", "\"0x10\"", AGORA_FAIL, "value \"0x10\" to int"},
        {"int", "\"9223372036854775808\"", AGORA_FAIL, "to int"},
        {"int", "1e19", AGORA_FAIL, "to int"},
        {"int", "[1]", AGORA_FAIL, "value an array to int"},
        {"float", "\" 12.5 \"", AGORA_KEEP, "12.5"},
        {"float", "\"3\"", AGORA_KEEP, "3.0"},
        {"float", "\".5\"", AGORA_KEEP, "0.5"},
        {"float", "3", AGORA_KEEP, "3.0"},
        {"float", "2.25", AGORA_KEEP, "2.25"},
        {"float", "\"\"", AGORA_KEEP, "null"},
        {"float", "\"nan\"", AGORA_FAIL, "value \"nan\" to float"},
        {"float", "\"inf\"", AGORA_FAIL, "value \"inf\" to float"},
        {"float", "\"1e999\"", AGORA_FAIL, "value \"1e999\" to float"},
        {"float", "\"1,5\"", AGORA_FAIL, "value \"1,5\" to float"},
        {"string", "7", AGORA_KEEP, "\"7\""},
        {"string", "-7.5", AGORA_KEEP, "\"-7.5\""},
        {"string", "true", AGORA_KEEP, "\"true\""},
        {"string", "\"x\"", AGORA_KEEP, "\"x\""},
        {"string", "null", AGORA_KEEP, "null"},
        {"string", "[1,\"a\"]", AGORA_KEEP, "\"[1,\\\"a\\\"]\""},
        {"bool", "\"true\"", AGORA_KEEP, "true"},
        {"bool", "\"FALSE\"", AGORA_KEEP, "false"},
        {"bool", "\" 1 \"", AGORA_KEEP, "true"},
        {"bool", "\"0\"", AGORA_KEEP, "false"},
        {"bool", "1", AGORA_KEEP, "true"},
        {"bool", "0", AGORA_KEEP, "false"},
        {"bool", "0.0", AGORA_KEEP, "false"},
        {"bool", "\"\"", AGORA_KEEP, "null"},
        {"bool", "2", AGORA_FAIL, "cannot cast field 'v' value 2 to bool"},
        {"bool", "\"yes\"", AGORA_FAIL, "value \"yes\" to bool"},
    };
    agora_arena *arena = agora_arena_new(0);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char options[128];
        char input[128];
        char expected[128];
        agora_error err;

        snprintf(options, sizeof(options), "{\"cast\":{\"v\":\"%s\"}}",
                 cases[i].target);
        agora_middleware *mw = create(&agora_mw_map_type, arena, options, &err);
        assert_non_null(mw);
        snprintf(input, sizeof(input), "{\"k\":0,\"v\":%s}", cases[i].input);
        if (cases[i].verdict == AGORA_KEEP)
            snprintf(expected, sizeof(expected), "{\"k\":0,\"v\":%s}",
                     cases[i].expected);
        else
            snprintf(expected, sizeof(expected), "%s", cases[i].expected);
        check(mw, arena, input, cases[i].verdict, expected);
        agora_middleware_free(mw);
    }
    agora_arena_free(arena);
}

static void map_set_drop_select(void **state)
{
    agora_arena *arena = agora_arena_new(0);
    agora_error err;
    agora_middleware *mw = create(
        &agora_mw_map_type, arena,
        "{\"set\":{\"source\":\"movies\",\"b\":{\"n\":[1,2]}}}", &err);

    assert_non_null(mw);
    /* an existing field keeps its place, a new one goes last */
    check(mw, arena, "{\"a\":1,\"b\":2}", AGORA_KEEP,
          "{\"a\":1,\"b\":{\"n\":[1,2]},\"source\":\"movies\"}");
    check(mw, arena, "{}", AGORA_KEEP, "{\"source\":\"movies\",\"b\":{\"n\":[1,2]}}");
    agora_middleware_free(mw);

    mw = create(&agora_mw_map_type, arena, "{\"drop\":[\"b\",\"zz\"]}", &err);
    assert_non_null(mw);
    check(mw, arena, "{\"a\":1,\"b\":2,\"c\":3}", AGORA_KEEP, "{\"a\":1,\"c\":3}");
    agora_middleware_free(mw);

    mw = create(&agora_mw_map_type, arena, "{\"select\":[\"c\",\"missing\",\"a\"]}",
                &err);
    assert_non_null(mw);
    check(mw, arena, "{\"a\":1,\"b\":2,\"c\":3}", AGORA_KEEP, "{\"c\":3,\"a\":1}");
    check(mw, arena, "{\"b\":2}", AGORA_KEEP, "{}");
    agora_middleware_free(mw);
    agora_arena_free(arena);
}

typedef struct snake_case {
    const char *key;
    const char *expected;
} snake_case;

static void map_snake_case(void **state)
{
    static const snake_case cases[] = {
        {"IMDB Rating", "imdb_rating"},
        {"Rotten Tomatoes Rating", "rotten_tomatoes_rating"},
        {"Running Time min", "running_time_min"},
        {"US_Gross", "us_gross"},
        {"Major Genre", "major_genre"},
        {"$Cost", "cost"},
        {"Speed IAS in knots", "speed_ias_in_knots"},
        {"imdbRating", "imdb_rating"},
        {"IMDBRating", "imdb_rating"},
        {"getHTTPResponse", "get_http_response"},
        {"version2Name", "version2_name"},
        {"already_snake", "already_snake"},
        {"_id", "id"},
        {"a__b", "a_b"},
        {"  x--y  ", "x_y"},
        {"ID", "id"},
        {"$", "$"},
        {"Caf\xc3\xa9 Name", "caf\xc3\xa9_name"},
    };
    agora_arena *arena = agora_arena_new(0);
    agora_error err;
    agora_middleware *mw =
        create(&agora_mw_map_type, arena, "{\"snake_case\":true}", &err);

    assert_non_null(mw);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char input[128];
        char expected[128];

        snprintf(input, sizeof(input), "{\"%s\":1,\"z\":2}", cases[i].key);
        snprintf(expected, sizeof(expected), "{\"%s\":1,\"z\":2}",
                 cases[i].expected);
        check(mw, arena, input, AGORA_KEEP, expected);
    }
    check(mw, arena, "{\"US Gross\":1,\"US_Gross\":2}", AGORA_FAIL,
          "snake_case turns fields 'US Gross' and 'US_Gross' into the same key "
          "'us_gross'");
    /* records repeating the keys of the one before reuse its results */
    check(mw, arena, "{\"A B\":1,\"z\":2}", AGORA_KEEP, "{\"a_b\":1,\"z\":2}");
    check(mw, arena, "{\"A B\":3,\"z\":4}", AGORA_KEEP, "{\"a_b\":3,\"z\":4}");
    check(mw, arena, "{\"A B\":3,\"a_b\":4}", AGORA_FAIL,
          "fields 'A B' and 'a_b' into the same key 'a_b'");
    check(mw, arena, "{\"z\":1,\"A B\":2}", AGORA_KEEP, "{\"z\":1,\"a_b\":2}");
    check(mw, arena, "{\"z\":1,\"A B\":2,\"C\":3}", AGORA_KEEP,
          "{\"z\":1,\"a_b\":2,\"c\":3}");
    check(mw, arena, "{\"z\":1,\"A B\":2}", AGORA_KEEP, "{\"z\":1,\"a_b\":2}");
    check(mw, arena, "{\"z\":1,\"A B\":2}", AGORA_KEEP, "{\"z\":1,\"a_b\":2}");
    /* keys that were already duplicates in the input are left alone */
    check(mw, arena, "{\"a\":1,\"a\":2}", AGORA_KEEP, "{\"a\":1,\"a\":2}");
    check(mw, arena, "[]", AGORA_FAIL, "record must be an object");
    agora_middleware_free(mw);
    agora_arena_free(arena);
}

static void map_operation_order(void **state)
{
    agora_arena *arena = agora_arena_new(0);
    agora_error err;
    /* rename, cast, set, drop, select, snake_case, whatever the key order */
    agora_middleware *mw = create(
        &agora_mw_map_type, arena,
        "{\"snake_case\":true,\"select\":[\"Year\",\"IMDB Rating\",\"Tag\"],"
        "\"drop\":[\"Tag\"],\"set\":{\"Tag\":\"x\",\"Year\":\"2001\"},"
        "\"cast\":{\"Year\":\"int\"},\"rename\":{\"Release Year\":\"Year\"}}",
        &err);

    assert_non_null(mw);
    /* Cast applies to the renamed Year. Set replaces it after the cast, so
     * it stays a string. Drop removes Tag although set added it. Select
     * uses the names before snake_case. */
    check(mw, arena,
          "{\"Title\":\"A\",\"Release Year\":\"1998\",\"IMDB Rating\":6.1}",
          AGORA_KEEP, "{\"year\":\"2001\",\"imdb_rating\":6.1}");
    agora_middleware_free(mw);

    mw = create(&agora_mw_map_type, arena,
                "{\"rename\":{\"Speed\":\"speed\"},\"cast\":{\"speed\":\"int\"}}",
                &err);
    assert_non_null(mw);
    check(mw, arena, "{\"Speed\":\"120\"}", AGORA_KEEP, "{\"speed\":120}");
    check(mw, arena, "{\"Speed\":\"abc\"}", AGORA_FAIL,
          "cannot cast field 'speed' value \"abc\" to int");
    agora_middleware_free(mw);
    agora_arena_free(arena);
}

static void map_config_errors(void **state)
{
    static const config_error_case cases[] = {
        {"{\"cast\":{\"Year\":\"integer\"}}", "cast", "cast.'Year' is \"integer\""},
        {"{\"cast\":{\"Year\":1}}", "cast", "cast.'Year' is 1"},
        {"{\"cast\":[\"Year\"]}", "cast", "must be a table"},
        {"{\"rename\":{\"a\":1}}", "rename", "rename.'a' must be the new field name"},
        {"{\"rename\":{\"a\":\"\"}}", "rename", "non-empty"},
        {"{\"rename\":{\"a\":\"x\",\"b\":\"x\"}}", "rename",
         "rename gives fields 'a' and 'b' the same name 'x'"},
        {"{\"set\":5}", "set", "must be a table"},
        {"{\"drop\":\"a\"}", "drop", "must be an array"},
        {"{\"select\":[1]}", "select", "item 1 is int"},
        {"{\"snake_case\":\"yes\"}", "snake_case", "must be true or false"},
    };
    agora_arena *arena = agora_arena_new(0);
    agora_error err;

    check_config_errors(&agora_mw_map_type, cases,
                        sizeof(cases) / sizeof(cases[0]));

    assert_null(create(&agora_mw_map_type, arena, "{}", &err));
    assert_int_equal(err.code, AGORA_ECONFIG);
    assert_non_null(strstr(err.message, "map has nothing to do"));
    agora_arena_free(arena);
}

static void map_movies_snake_case(void **state)
{
    agora_arena *arena = agora_arena_new(0);
    agora_value *movies = load_movies(arena);
    agora_error err;
    size_t kept, failed;

    if (movies == NULL) {
        agora_arena_free(arena);
        skip();
    }
    agora_middleware *mw = create(&agora_mw_map_type, arena,
                                  "{\"snake_case\":true,"
                                  "\"cast\":{\"IMDB Votes\":\"string\"}}",
                                  &err);
    assert_non_null(mw);
    count_movies(mw, movies, arena, &kept, &failed);
    assert_int_equal(kept, 3201);
    assert_int_equal(failed, 0);

    agora_value *first = movies->u.array.items[0];
    assert_int_equal(mw->process(mw->state, &first, arena, &err), AGORA_KEEP);
    assert_string_equal(
        to_json(first),
        "{\"title\":\"The Land Girls\",\"us_gross\":146083,"
        "\"worldwide_gross\":146083,\"us_dvd_sales\":null,"
        "\"production_budget\":8000000,\"release_date\":\"Jun 12 1998\","
        "\"mpaa_rating\":\"R\",\"running_time_min\":null,"
        "\"distributor\":\"Gramercy\",\"source\":null,\"major_genre\":null,"
        "\"creative_type\":null,\"director\":null,"
        "\"rotten_tomatoes_rating\":null,\"imdb_rating\":6.1,"
        "\"imdb_votes\":\"1071\"}");
    agora_middleware_free(mw);
    agora_arena_free(arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(validate_required),
        cmocka_unit_test(validate_types),
        cmocka_unit_test(validate_allow_null),
        cmocka_unit_test(validate_long_string_is_cut),
        cmocka_unit_test(validate_config_errors),
        cmocka_unit_test(validate_movies),
        cmocka_unit_test(filter_keeps_and_drops),
        cmocka_unit_test(filter_config_errors),
        cmocka_unit_test(filter_movies),
        cmocka_unit_test(map_rename),
        cmocka_unit_test(map_cast),
        cmocka_unit_test(map_set_drop_select),
        cmocka_unit_test(map_snake_case),
        cmocka_unit_test(map_operation_order),
        cmocka_unit_test(map_config_errors),
        cmocka_unit_test(map_movies_snake_case),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
