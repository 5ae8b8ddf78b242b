/*
 * Tests of the JSON parser and writer: the JSONTestSuite conformance files,
 * integer and double edge cases, escapes, limits and error positions.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agora/value.h"
#include "core/json_keys.h"

typedef struct fixture {
    agora_arena *arena;
    agora_buf out;
    agora_error err;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    f->arena = agora_arena_new(0);
    agora_buf_init(&f->out);
    *state = f;
    return f->arena == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    agora_buf_free(&f->out);
    agora_arena_free(f->arena);
    free(f);
    return 0;
}

static agora_value *parse(fixture *f, const char *text)
{
    memset(&f->err, 0, sizeof(f->err));
    return agora_json_parse(f->arena, text, strlen(text), NULL, &f->err);
}

/* Writes value into f->out (cleared first) and returns the text. */
static const char *write_json(fixture *f, const agora_value *value)
{
    f->out.len = 0;
    assert_int_equal(agora_json_write(&f->out, value), 0);
    return f->out.data;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *file = fopen(path, "rb");
    char *data;
    long size;

    if (file == NULL)
        return NULL;
    fseek(file, 0, SEEK_END);
    size = ftell(file);
    rewind(file);
    data = malloc((size_t)size + 1);
    if (data != NULL && fread(data, 1, (size_t)size, file) != (size_t)size) {
        free(data);
        data = NULL;
    }
    fclose(file);
    *len = (size_t)size;
    return data;
}

static const char *shared_dir(void)
{
    const char *dir = getenv("AGORA_SHARED_DIR");

    return dir != NULL && dir[0] != '\0' ? dir : NULL;
}

/* ---- Conformance ------------------------------------------------------- */

/*
 * JSONTestSuite names its files y_* (must accept), n_* (must reject) and
 * i_* (either is allowed, but the parser must not crash or leak).
 */
static void json_test_suite_files(void **state)
{
    fixture *f = *state;
    const char *shared = shared_dir();
    char dir_path[4096];
    struct dirent *entry;
    DIR *dir;
    int checked = 0;

    if (shared == NULL) {
        print_message("skipped: AGORA_SHARED_DIR is not set\n");
        skip();
    }
    snprintf(dir_path, sizeof(dir_path), "%s/testdata/json", shared);
    dir = opendir(dir_path);
    if (dir == NULL) {
        print_message("skipped: %s does not exist\n", dir_path);
        skip();
    }

    while ((entry = readdir(dir)) != NULL) {
        const char *name = entry->d_name;
        char path[8192];
        size_t len;
        char *text;
        agora_value *value;

        if (strlen(name) < 6 || strcmp(name + strlen(name) - 5, ".json") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir_path, name);
        text = read_file(path, &len);
        assert_non_null(text);

        agora_arena_reset(f->arena);
        value = agora_json_parse(f->arena, text, len, NULL, &f->err);
        if (name[0] == 'y' && value == NULL)
            fail_msg("%s rejected: %s", name, f->err.message);
        if (name[0] == 'n' && value != NULL)
            fail_msg("%s accepted", name);
        {
            /* The check-only parser must agree, with the same message. */
            agora_error check_err;
            bool ok;

            agora_error_clear(&check_err);
            ok = agora_json_check(f->arena, text, len, NULL, &check_err);
            if (ok != (value != NULL))
                fail_msg("%s: agora_json_check says %s, agora_json_parse %s",
                         name, ok ? "valid" : "invalid",
                         value != NULL ? "valid" : "invalid");
            if (!ok && strcmp(check_err.message, f->err.message) != 0)
                fail_msg("%s: messages differ: '%s' and '%s'", name,
                         check_err.message, f->err.message);
        }
        if (value != NULL) {
            /* Whatever is accepted must survive a write and a re-parse. */
            const char *written = write_json(f, value);
            agora_value *again =
                agora_json_parse(f->arena, written, f->out.len, NULL, &f->err);

            if (again == NULL)
                fail_msg("%s: output %s rejected: %s", name, written, f->err.message);
            if (!agora_value_equal(value, again))
                fail_msg("%s: output %s reads back different", name, written);
        }
        free(text);
        checked++;
    }
    closedir(dir);
    assert_true(checked >= 200);
}

/* ---- Types and integers ------------------------------------------------ */

static void json_parse_all_types(void **state)
{
    fixture *f = *state;
    agora_value *v = parse(f, " [null, true, false, 0, -1, 1.5, \"s\", {}, []] ");

    assert_non_null(v);
    assert_int_equal(v->type, AGORA_ARRAY);
    assert_int_equal(v->u.array.len, 9);
    assert_int_equal(v->u.array.items[0]->type, AGORA_NULL);
    assert_int_equal(v->u.array.items[1]->type, AGORA_BOOL);
    assert_true(v->u.array.items[1]->u.boolean);
    assert_false(v->u.array.items[2]->u.boolean);
    assert_int_equal(v->u.array.items[3]->type, AGORA_INT);
    assert_true(v->u.array.items[4]->u.integer == -1);
    assert_int_equal(v->u.array.items[5]->type, AGORA_DOUBLE);
    assert_true(v->u.array.items[5]->u.number == 1.5);
    assert_int_equal(v->u.array.items[6]->type, AGORA_STRING);
    assert_string_equal(v->u.array.items[6]->u.string.ptr, "s");
    assert_int_equal(v->u.array.items[7]->type, AGORA_OBJECT);
    assert_int_equal(v->u.array.items[7]->u.object.len, 0);
    assert_int_equal(v->u.array.items[8]->type, AGORA_ARRAY);
    assert_int_equal(v->u.array.items[8]->u.array.len, 0);
}

static void json_int64_edges(void **state)
{
    fixture *f = *state;
    agora_value *v;

    v = parse(f, "9223372036854775807");
    assert_int_equal(v->type, AGORA_INT);
    assert_true(v->u.integer == INT64_MAX);

    v = parse(f, "-9223372036854775808");
    assert_int_equal(v->type, AGORA_INT);
    assert_true(v->u.integer == INT64_MIN);

    v = parse(f, "9223372036854775808");
    assert_int_equal(v->type, AGORA_DOUBLE);
    assert_true(v->u.number == 9223372036854775808.0);

    v = parse(f, "-9223372036854775809");
    assert_int_equal(v->type, AGORA_DOUBLE);
    assert_true(v->u.number == -9223372036854775808.0);

    v = parse(f, "123456789012345678901234567890");
    assert_int_equal(v->type, AGORA_DOUBLE);
    assert_true(v->u.number == 1.2345678901234568e29);

    v = parse(f, "-0");
    assert_int_equal(v->type, AGORA_INT);
    assert_true(v->u.integer == 0);

    v = parse(f, "1E2");
    assert_int_equal(v->type, AGORA_DOUBLE);
    assert_true(v->u.number == 100.0);
}

static void json_int64_written_exactly(void **state)
{
    fixture *f = *state;

    assert_string_equal(write_json(f, parse(f, "[9223372036854775807,-9223372036854775808,0,-7]")),
                        "[9223372036854775807,-9223372036854775808,0,-7]");
}

/* ---- Doubles ----------------------------------------------------------- */

static uint64_t bits_of(double d)
{
    uint64_t bits;

    memcpy(&bits, &d, sizeof(bits));
    return bits;
}

static void json_doubles_round_trip_bits(void **state)
{
    fixture *f = *state;
    static const char *const inputs[] = {
        "0.1", "1e-7", "5e-324", "1.7976931348623157e308",
        "2.2250738585072014e-308", "2.225073858507201e-308", "-0.0",
        "0.30000000000000004", "123456.789", "1e300", "6.1", "-2.5",
        "9007199254740993.0", "4.35", "1e23", "8.41e21", "0.000123",
        "3.141592653589793", "1.0000000000000002", "7e-10",
    };
    size_t i;

    for (i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        /* The C library's strtod is the reference conversion. */
        double expected = strtod(inputs[i], NULL);
        agora_value *v = parse(f, inputs[i]);
        agora_value *again;
        const char *written;

        assert_non_null(v);
        assert_int_equal(v->type, AGORA_DOUBLE);
        if (bits_of(v->u.number) != bits_of(expected))
            fail_msg("%s parsed as %.17g, expected %.17g", inputs[i], v->u.number, expected);

        written = write_json(f, v);
        again = parse(f, written);
        assert_non_null(again);
        assert_int_equal(again->type, AGORA_DOUBLE);
        if (bits_of(again->u.number) != bits_of(expected))
            fail_msg("%s written as %s reads back as %.17g", inputs[i], written,
                     again->u.number);
    }
}

typedef struct double_case {
    double value;
    const char *text;
} double_case;

static void json_format_double_shortest(void **state)
{
    /* Expected forms are what Python's repr prints for the same doubles,
     * except 1e15, where C's %g switches to an exponent earlier. */
    static const double_case cases[] = {
        {0.1, "0.1"},
        {1e-7, "1e-07"},
        {5e-324, "5e-324"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
        {0.1 + 0.2, "0.30000000000000004"},
        {1e15, "1e+15"},
        {1e16, "1e+16"},
        {123456789012.5, "123456789012.5"},
        {2.2250738585072014e-308, "2.2250738585072014e-308"},
        {6.1, "6.1"},
        {0.0001, "0.0001"},
        {0.00012, "0.00012"},
        {1.5e-5, "1.5e-05"},
        {-2.5, "-2.5"},
        {100.0, "100.0"},
        {1.0, "1.0"},
        {0.0, "0.0"},
        {-0.0, "-0.0"},
        {1e300, "1e+300"},
        {3.141592653589793, "3.141592653589793"},
        {999999999999999.0, "999999999999999.0"},
    };
    char out[32];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = agora_format_double(cases[i].value, out);

        assert_string_equal(out, cases[i].text);
        assert_int_equal(len, strlen(cases[i].text));
    }
}

static void json_write_nonfinite_as_null(void **state)
{
    fixture *f = *state;
    agora_value *array = agora_value_array(f->arena, 0);
    char out[32];

    agora_array_push(f->arena, array, agora_value_double(f->arena, INFINITY));
    agora_array_push(f->arena, array, agora_value_double(f->arena, -INFINITY));
    agora_array_push(f->arena, array, agora_value_double(f->arena, NAN));
    assert_string_equal(write_json(f, array), "[null,null,null]");

    agora_format_double(INFINITY, out);
    assert_string_equal(out, "inf");
    agora_format_double(-INFINITY, out);
    assert_string_equal(out, "-inf");
}

static void json_number_overflow_rejected(void **state)
{
    fixture *f = *state;
    agora_value *v;

    assert_null(parse(f, "[1e400]"));
    assert_int_equal(f->err.code, AGORA_EPARSE);
    assert_non_null(strstr(f->err.message, "too large for a double"));
    assert_non_null(strstr(f->err.message, "column 2"));
    assert_null(parse(f, "-1e400"));

    /* Underflow rounds to zero instead of failing. */
    v = parse(f, "1e-400");
    assert_non_null(v);
    assert_int_equal(v->type, AGORA_DOUBLE);
    assert_true(v->u.number == 0.0);
}

static void json_number_syntax_rejected(void **state)
{
    fixture *f = *state;
    static const char *const bad[] = {
        "01", "-01", "1.", ".5", "-", "1e", "1e+", "+1", "0x10", "1.e5",
        "--1", "1 2", "Infinity", "NaN", "-Infinity",
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse(f, bad[i]) != NULL)
            fail_msg("%s accepted", bad[i]);
        assert_int_equal(f->err.code, AGORA_EPARSE);
    }
}

static void json_parse_reads_only_len_bytes(void **state)
{
    fixture *f = *state;
    agora_value *v;

    v = agora_json_parse(f->arena, "12345678901234567890123", 5, NULL, &f->err);
    assert_non_null(v);
    assert_true(v->u.integer == 12345);

    v = agora_json_parse(f->arena, "1.000000000000000000000001e5", 25, NULL, &f->err);
    assert_non_null(v);
    assert_true(v->u.number == 1.0);

    v = agora_json_parse(f->arena, "\"abcdefghijklmnop\"", 9, NULL, &f->err);
    assert_null(v);
    assert_non_null(strstr(f->err.message, "unterminated string"));
}

/* ---- Strings ----------------------------------------------------------- */

static void json_write_escapes(void **state)
{
    fixture *f = *state;
    agora_value *v = agora_value_string(f->arena, "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f\xc3\xa9", 16);

    assert_string_equal(write_json(f, v),
                        "\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\xc3\xa9\"");

    v = agora_value_string(f->arena, "a\0b", 3);
    assert_string_equal(write_json(f, v), "\"a\\u0000b\"");

    v = agora_value_string(f->arena, "a long plain ASCII run, then a quote\"", 37);
    assert_string_equal(write_json(f, v), "\"a long plain ASCII run, then a quote\\\"\"");
}

static void json_write_invalid_utf8_replaced(void **state)
{
    fixture *f = *state;
    agora_value *v = agora_value_string(f->arena, "a\xff" "b\xc3", 4);

    assert_string_equal(write_json(f, v), "\"a\\ufffdb\\ufffd\"");
}

static void json_parse_escapes(void **state)
{
    fixture *f = *state;
    agora_value *v;

    v = parse(f, "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20ac\"");
    assert_non_null(v);
    assert_int_equal(v->u.string.len, 14);
    assert_memory_equal(v->u.string.ptr, "\"\\/\b\f\n\r\tA\xc3\xa9\xe2\x82\xac", 14);

    /* U+1D11E as a surrogate pair becomes four UTF-8 bytes. */
    v = parse(f, "\"\\uD834\\uDD1E\"");
    assert_non_null(v);
    assert_int_equal(v->u.string.len, 4);
    assert_memory_equal(v->u.string.ptr, "\xf0\x9d\x84\x9e", 4);

    v = parse(f, "\"a\\u0000b\"");
    assert_non_null(v);
    assert_int_equal(v->u.string.len, 3);
    assert_memory_equal(v->u.string.ptr, "a\0b", 3);
}

static void json_lone_surrogates_rejected(void **state)
{
    fixture *f = *state;

    assert_null(parse(f, "\"\\uD800\""));
    assert_non_null(strstr(f->err.message, "high surrogate"));
    assert_null(parse(f, "\"\\uDC00\""));
    assert_non_null(strstr(f->err.message, "low surrogate"));
    assert_null(parse(f, "\"\\uD800\\u0041\""));
    assert_null(parse(f, "\"\\uD800\\n\""));
    assert_null(parse(f, "\"\\uD800"));
}

static void json_invalid_utf8_rejected(void **state)
{
    fixture *f = *state;
    static const char *const bad[] = {
        "\"\xc0\xaf\"",         /* overlong '/' */
        "\"\xe0\x80\xaf\"",     /* overlong, three bytes */
        "\"\xed\xa0\x80\"",     /* encoded surrogate U+D800 */
        "\"\xf4\x90\x80\x80\"", /* above U+10FFFF */
        "\"\xf5\x80\x80\x80\"", /* invalid lead byte */
        "\"\xe2\x82\"",         /* truncated sequence */
        "\"\x80\"",             /* lone continuation byte */
        "\"ok\\n\xff\"",        /* invalid byte after an escape */
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse(f, bad[i]) != NULL)
            fail_msg("case %zu accepted", i);
        assert_non_null(strstr(f->err.message, "UTF-8"));
    }
    assert_non_null(parse(f, "\"\xf4\x8f\xbf\xbf \xef\xbf\xbf\""));
}

static void json_control_characters_rejected(void **state)
{
    fixture *f = *state;

    assert_null(parse(f, "\"a\tb\""));
    assert_non_null(strstr(f->err.message, "control character U+0009"));
    assert_null(parse(f, "\"a\nb\""));
    assert_null(parse(f, "\"\\n\x01\""));
    assert_null(parse(f, "\"\\x\""));
}

static void json_duplicate_keys_kept(void **state)
{
    fixture *f = *state;
    agora_value *v = parse(f, "{\"a\": 1, \"b\": 2, \"a\": 3}");

    assert_non_null(v);
    assert_int_equal(v->u.object.len, 3);
    assert_true(agora_object_getz(v, "a")->u.integer == 3);
    assert_string_equal(write_json(f, v), "{\"a\":1,\"b\":2,\"a\":3}");
}

/* ---- Writer ------------------------------------------------------------ */

static void json_write_compact_in_order(void **state)
{
    fixture *f = *state;
    agora_value *root = agora_value_object(f->arena, 0);
    agora_value *list = agora_value_array(f->arena, 0);
    agora_value *empty = agora_value_object(f->arena, 0);

    agora_object_push(f->arena, root, "z", 1, agora_value_int(f->arena, 1));
    agora_object_push(f->arena, root, "a", 1, list);
    agora_array_push(f->arena, list, agora_value_bool(f->arena, true));
    agora_array_push(f->arena, list, agora_value_null(f->arena));
    agora_array_push(f->arena, list, agora_value_double(f->arena, 2.0));
    agora_array_push(f->arena, list, empty);
    agora_object_push(f->arena, root, "k\"ey", 4, agora_value_string(f->arena, "v", 1));

    assert_string_equal(write_json(f, root),
                        "{\"z\":1,\"a\":[true,null,2.0,{}],\"k\\\"ey\":\"v\"}");
}

static void json_write_appends(void **state)
{
    fixture *f = *state;

    f->out.len = 0;
    assert_int_equal(agora_buf_appendz(&f->out, "x="), 0);
    assert_int_equal(agora_json_write(&f->out, parse(f, "[1]")), 0);
    assert_string_equal(f->out.data, "x=[1]");
}

static void json_round_trip_sample(void **state)
{
    fixture *f = *state;
    const char *text =
        "{\"Title\": \"Am\\u00e9lie \\\"quoted\\\"\", \"US Gross\": 33225499,"
        " \"IMDB Rating\": 8.5, \"Tags\": [\"a\", [], {\"x\": null}],"
        " \"Big\": -9223372036854775808, \"Tiny\": 5e-324, \"Esc\": \"\\u0001\\t\"}";
    agora_value *v = parse(f, text);
    agora_value *again;

    assert_non_null(v);
    again = parse(f, write_json(f, v));
    assert_non_null(again);
    assert_true(agora_value_equal(v, again));
    assert_string_equal(f->out.data,
                        "{\"Title\":\"Am\xc3\xa9lie \\\"quoted\\\"\",\"US Gross\":33225499,"
                        "\"IMDB Rating\":8.5,\"Tags\":[\"a\",[],{\"x\":null}],"
                        "\"Big\":-9223372036854775808,\"Tiny\":5e-324,\"Esc\":\"\\u0001\\t\"}");
}

static void json_round_trip_movies(void **state)
{
    fixture *f = *state;
    const char *shared = shared_dir();
    char path[4096];
    agora_value *v;
    agora_value *again;
    size_t len;
    char *text;

    if (shared == NULL) {
        print_message("skipped: AGORA_SHARED_DIR is not set\n");
        skip();
    }
    snprintf(path, sizeof(path), "%s/data/movies.json", shared);
    text = read_file(path, &len);
    if (text == NULL) {
        print_message("skipped: %s does not exist\n", path);
        skip();
    }

    v = agora_json_parse(f->arena, text, len, NULL, &f->err);
    if (v == NULL)
        fail_msg("movies.json rejected: %s", f->err.message);
    assert_int_equal(v->type, AGORA_ARRAY);
    /* The file has one record per line between the brackets. */
    assert_int_equal(v->u.array.len, 3201);
    write_json(f, v);
    again = agora_json_parse(f->arena, f->out.data, f->out.len, NULL, &f->err);
    assert_non_null(again);
    assert_true(agora_value_equal(v, again));
    free(text);
}

/* ---- Errors and limits ------------------------------------------------- */

static void json_error_position_line_column(void **state)
{
    fixture *f = *state;

    /* Line 3 starts at byte 10; the stray '"' is its 17th character. */
    assert_null(parse(f, "{\n\"a\": 1,\n\"name\": \"value\" \"x\"}"));
    assert_int_equal(f->err.code, AGORA_EPARSE);
    assert_string_equal(f->err.message,
                        "invalid JSON at line 3, column 17 (byte offset 26): "
                        "expected ',' or '}' after object member, found '\"'");

    /* Columns count characters: the 2-byte 'é' is one column. */
    assert_null(parse(f, "[\"\xc3\xa9\" x]"));
    assert_string_equal(f->err.message,
                        "invalid JSON at line 1, column 6 (byte offset 6): "
                        "expected ',' or ']' after array element, found 'x'");

    assert_null(parse(f, "[1, 2"));
    assert_string_equal(f->err.message,
                        "invalid JSON at line 1, column 6 (byte offset 5): "
                        "expected ',' or ']' after array element, found end of input");

    assert_null(parse(f, "{} x"));
    assert_string_equal(f->err.message,
                        "invalid JSON at line 1, column 4 (byte offset 3): "
                        "expected end of input after the JSON document, found 'x'");

    assert_null(parse(f, "{\"a\" 1}"));
    assert_string_equal(f->err.message,
                        "invalid JSON at line 1, column 6 (byte offset 5): "
                        "expected ':' after object key, found '1'");

    assert_null(parse(f, "[1,]"));
    assert_string_equal(f->err.message,
                        "invalid JSON at line 1, column 4 (byte offset 3): "
                        "expected a value, found ']'");

    assert_null(parse(f, "{\"a\":1,}"));
    assert_string_equal(f->err.message,
                        "invalid JSON at line 1, column 8 (byte offset 7): "
                        "expected a string key in double quotes, found '}'");

    assert_null(parse(f, "[01]"));
    assert_string_equal(f->err.message,
                        "invalid JSON at line 1, column 2 (byte offset 1): "
                        "leading zeros are not allowed in numbers");

    assert_null(parse(f, ""));
    assert_string_equal(f->err.message,
                        "invalid JSON at line 1, column 1 (byte offset 0): "
                        "expected a value, found end of input");

    /* A near miss of a literal gets a suggestion, other words do not. */
    assert_null(parse(f, "[tru]"));
    assert_string_equal(f->err.message,
                        "invalid JSON at line 1, column 2 (byte offset 1): "
                        "expected a value (did you mean true?)");
    assert_null(parse(f, "not json"));
    assert_string_equal(f->err.message,
                        "invalid JSON at line 1, column 1 (byte offset 0): "
                        "expected a value, found 'n'");
}

static void json_byte_order_mark_rejected(void **state)
{
    fixture *f = *state;

    assert_null(parse(f, "\xef\xbb\xbf{}"));
    assert_non_null(strstr(f->err.message, "byte order mark"));
}

static char *nested_arrays(size_t depth)
{
    char *text = malloc(depth * 2 + 1);

    assert_non_null(text);
    memset(text, '[', depth);
    memset(text + depth, ']', depth);
    text[depth * 2] = '\0';
    return text;
}

static void json_depth_limit(void **state)
{
    fixture *f = *state;
    agora_json_limits limits = agora_json_limits_default();
    char *text;

    assert_int_equal(limits.max_depth, 512);
    assert_int_equal(limits.max_string_bytes, 16 * 1024 * 1024);

    text = nested_arrays(512);
    assert_non_null(parse(f, text));
    free(text);

    text = nested_arrays(513);
    assert_null(parse(f, text));
    assert_int_equal(f->err.code, AGORA_ELIMIT);
    assert_non_null(strstr(f->err.message, "byte offset 512"));
    assert_non_null(strstr(f->err.message, "limit of 512"));
    free(text);

    /* Deep input is rejected at the limit without deep C recursion. */
    text = nested_arrays(100000);
    assert_null(parse(f, text));
    assert_int_equal(f->err.code, AGORA_ELIMIT);
    free(text);

    limits.max_depth = 2;
    assert_non_null(agora_json_parse(f->arena, "[{}]", 4, &limits, &f->err));
    assert_null(agora_json_parse(f->arena, "[{\"a\":[]}]", 10, &limits, &f->err));
    assert_int_equal(f->err.code, AGORA_ELIMIT);
}

static void json_deep_within_limit(void **state)
{
    fixture *f = *state;
    agora_json_limits limits = {.max_depth = 20000, .max_string_bytes = 100};
    char *text = nested_arrays(10000);
    agora_value *v = agora_json_parse(f->arena, text, 20000, &limits, &f->err);
    size_t depth = 0;

    assert_non_null(v);
    while (v->u.array.len > 0) {
        v = v->u.array.items[0];
        depth++;
    }
    assert_int_equal(depth, 9999);
    free(text);
}

static void json_string_limit(void **state)
{
    fixture *f = *state;
    agora_json_limits limits = {.max_depth = 10, .max_string_bytes = 4};

    assert_non_null(agora_json_parse(f->arena, "\"abcd\"", 6, &limits, &f->err));
    assert_null(agora_json_parse(f->arena, "\"abcde\"", 7, &limits, &f->err));
    assert_int_equal(f->err.code, AGORA_ELIMIT);
    assert_non_null(strstr(f->err.message, "string of 5 bytes exceeds the limit of 4 bytes"));

    /* The limit applies to decoded bytes: 10 bytes of escapes decode to 4. */
    assert_non_null(agora_json_parse(f->arena, "\"a\\nb\\t\"", 8, &limits, &f->err));
    assert_null(agora_json_parse(f->arena, "\"a\\nb\\tc\"", 9, &limits, &f->err));
    assert_int_equal(f->err.code, AGORA_ELIMIT);
    assert_null(agora_json_parse(f->arena, "{\"abcde\":1}", 11, &limits, &f->err));
    assert_int_equal(f->err.code, AGORA_ELIMIT);
}

static void json_wide_containers(void **state)
{
    fixture *f = *state;
    agora_buf text;
    agora_value *v;
    int i;

    /* More members than the parser keeps on its own stack. */
    agora_buf_init(&text);
    agora_buf_appendz(&text, "{");
    for (i = 0; i < 5000; i++)
        agora_buf_printf(&text, "%s\"k%d\":[%d,\"s%d\"]", i > 0 ? "," : "", i, i, i);
    agora_buf_appendz(&text, "}");

    v = agora_json_parse(f->arena, text.data, text.len, NULL, &f->err);
    assert_non_null(v);
    assert_int_equal(v->u.object.len, 5000);
    assert_true(agora_object_getz(v, "k4321")->u.array.items[0]->u.integer == 4321);
    assert_string_equal(agora_object_getz(v, "k17")->u.array.items[1]->u.string.ptr, "s17");
    assert_string_equal(write_json(f, v), text.data);
    agora_buf_free(&text);
}

static void json_invalid_arguments(void **state)
{
    fixture *f = *state;

    assert_null(agora_json_parse(NULL, "1", 1, NULL, &f->err));
    assert_int_equal(f->err.code, AGORA_EINVAL);
    assert_null(agora_json_parse(f->arena, NULL, 1, NULL, &f->err));
    assert_int_equal(f->err.code, AGORA_EINVAL);
    /* A NULL error pointer is allowed. */
    assert_null(agora_json_parse(f->arena, "[", 1, NULL, NULL));
}

/*
 * agora_json_check applies the parser's rules without building values: the
 * limits, a number past the double range, and escapes in keys and values.
 */
static void json_check_matches_parse(void **state)
{
    fixture *f = *state;
    agora_json_limits limits = agora_json_limits_default();
    const char *valid[] = {
        "{\"a\":[1,2.5,-0,1e300,\"x\\u00e9\",true,false,null]}",
        "  [ {\"k\\n\" : 1 } , [] ]  ",
        "1e-400",
        "123456789012345678901234567890",
    };
    const char *invalid[] = {
        "1e400", "-1e309", "[1,]", "{\"a\" 1}", "\"\\ud800\"",
        "[[[1]]]", "\"abcdefghijk\"", "{\"a\":1} x",
    };

    limits.max_depth = 2;
    limits.max_string_bytes = 10;
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        agora_error_clear(&f->err);
        if (!agora_json_check(f->arena, valid[i], strlen(valid[i]),
                              i == 0 ? NULL : &limits, &f->err))
            fail_msg("%s rejected: %s", valid[i], f->err.message);
    }
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        agora_error parse_err;

        agora_error_clear(&f->err);
        agora_error_clear(&parse_err);
        assert_false(agora_json_check(f->arena, invalid[i], strlen(invalid[i]),
                                      &limits, &f->err));
        assert_null(agora_json_parse(f->arena, invalid[i], strlen(invalid[i]),
                                     &limits, &parse_err));
        assert_string_equal(f->err.message, parse_err.message);
        assert_int_equal(f->err.code, parse_err.code);
    }
}

/* ---- Rows of string values (the CSV source's renderer) ------------------ */

/*
 * Lays out fields one after the other, each followed by a NUL, in a buffer
 * of exactly their size (so that AddressSanitizer reports any read past it), and sets
 * ends[i] to the offset of field i's NUL.
 */
static char *layout_fields(const char *const *fields, const size_t *lens,
                           size_t count, size_t *ends, size_t *total)
{
    size_t size = 0;
    char *text;

    for (size_t i = 0; i < count; i++)
        size += lens[i] + 1;
    text = malloc(size);
    assert_non_null(text);
    size = 0;
    for (size_t i = 0; i < count; i++) {
        memcpy(text + size, fields[i], lens[i]);
        size += lens[i];
        ends[i] = size;
        text[size++] = '\0';
    }
    *total = size;
    return text;
}

/*
 * Renders one row into a buffer of exactly the bound the renderer states,
 * so that AddressSanitizer reports any write past it, and returns the text.
 */
static char *render_row(core_json_keys *keys, const agora_string *names,
                        size_t count, const char *text, size_t text_len,
                        size_t first_start, const size_t *ends)
{
    size_t bound = core_json_string_row_bound(
        core_json_string_row_names_bound(names, count),
        ends[count - 1] - first_start);
    char *dest = malloc(bound);
    char *out;
    size_t len;

    assert_non_null(dest);
    len = core_json_render_string_row(dest, keys, names, text, text_len,
                                      first_start, ends, count);
    assert_true(len < bound);
    out = malloc(len + 1);
    assert_non_null(out);
    memcpy(out, dest, len);
    out[len] = '\0';
    free(dest);
    return out;
}

/*
 * Two rows of four columns. The names cover a cached key, one that needs
 * escapes and one too long for the key cache. The values cover the edges
 * of the 16-byte path: 16 plain bytes, an escape at byte 15 and one at
 * byte 16. They also cover UTF-8 kept, an invalid byte replaced, the worst
 * case of six output bytes per input byte, and a last value with fewer
 * than 16 readable bytes after its start. The expected texts are written out by hand from the JSON
 * escaping rules.
 */
static void json_string_row_escapes_and_edges(void **state)
{
    (void)state;
    char long_name[61];
    char controls[21];
    agora_string names[4];
    const char *fields[8];
    size_t lens[8];
    size_t ends[8];
    size_t total;
    core_json_keys keys;
    char expected[512];
    char *text, *out;
    agora_buf buf;

    memset(long_name, 'k', 60);
    long_name[60] = '\0';
    memset(controls, 0x1f, 20);
    controls[20] = '\0';
    names[0] = (agora_string){"id", 2};
    names[1] = (agora_string){"say \"hi\"", 8};
    names[2] = (agora_string){long_name, 60};
    names[3] = (agora_string){"tab", 3};

    fields[0] = "";
    fields[1] = "0123456789abcdef";
    fields[2] = "0123456789abcde\"";
    fields[3] = "0123456789abcdef\x01";
    fields[4] = "caf\xc3\xa9";
    fields[5] = "\xff";
    fields[6] = controls;
    fields[7] = "x";
    for (size_t i = 0; i < 8; i++)
        lens[i] = strlen(fields[i]);
    text = layout_fields(fields, lens, 8, ends, &total);

    core_json_keys_clear(&keys);
    out = render_row(&keys, names, 4, text, total, 0, ends);
    snprintf(expected, sizeof(expected),
             "{\"id\":\"\",\"say \\\"hi\\\"\":\"0123456789abcdef\","
             "\"%s\":\"0123456789abcde\\\"\","
             "\"tab\":\"0123456789abcdef\\u0001\"}",
             long_name);
    assert_string_equal(out, expected);
    free(out);

    out = render_row(&keys, names, 4, text, total, ends[3] + 1, ends + 4);
    snprintf(expected, sizeof(expected),
             "{\"id\":\"caf\xc3\xa9\",\"say \\\"hi\\\"\":\"\\ufffd\","
             "\"%s\":\"%s\",\"tab\":\"x\"}",
             long_name,
             "\\u001f\\u001f\\u001f\\u001f\\u001f\\u001f\\u001f\\u001f"
             "\\u001f\\u001f\\u001f\\u001f\\u001f\\u001f\\u001f\\u001f"
             "\\u001f\\u001f\\u001f\\u001f");
    assert_string_equal(out, expected);

    /* The appending form gives the same text after what buf holds. */
    agora_buf_init(&buf);
    assert_int_equal(agora_buf_append(&buf, "> ", 2), 0);
    assert_int_equal(core_json_write_string_row(&buf, &keys, names, text, total,
                                                ends[3] + 1, ends + 4, 4),
                     0);
    assert_int_equal(buf.len, 2 + strlen(expected));
    assert_string_equal(buf.data + 2, expected);
    agora_buf_free(&buf);
    free(out);
    free(text);
}

/*
 * 70 columns, more than the key cache holds: columns 64 and up take the
 * path that escapes the name each time. Expected: {"c0":"v0",...,"c69":"v69"}.
 */
static void json_string_row_more_columns_than_cache(void **state)
{
    (void)state;
    char name_text[70][8];
    char value_text[70][8];
    agora_string names[70];
    const char *fields[70];
    size_t lens[70];
    size_t ends[70];
    size_t total;
    core_json_keys keys;
    char expected[2048];
    size_t used = 0;
    char *text, *out;

    for (int i = 0; i < 70; i++) {
        snprintf(name_text[i], sizeof(name_text[i]), "c%d", i);
        snprintf(value_text[i], sizeof(value_text[i]), "v%d", i);
        names[i] = (agora_string){name_text[i], strlen(name_text[i])};
        fields[i] = value_text[i];
        lens[i] = strlen(value_text[i]);
        used += (size_t)snprintf(expected + used, sizeof(expected) - used,
                                 "%s\"c%d\":\"v%d\"", i == 0 ? "{" : ",", i, i);
    }
    snprintf(expected + used, sizeof(expected) - used, "}");
    text = layout_fields(fields, lens, 70, ends, &total);

    core_json_keys_clear(&keys);
    for (int round = 0; round < 2; round++) { /* cold, then warm cache */
        out = render_row(&keys, names, 70, text, total, 0, ends);
        assert_string_equal(out, expected);
        free(out);
    }
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(json_test_suite_files, setup, teardown),
        cmocka_unit_test_setup_teardown(json_parse_all_types, setup, teardown),
        cmocka_unit_test_setup_teardown(json_check_matches_parse, setup, teardown),
        cmocka_unit_test(json_string_row_escapes_and_edges),
        cmocka_unit_test(json_string_row_more_columns_than_cache),
        cmocka_unit_test_setup_teardown(json_int64_edges, setup, teardown),
        cmocka_unit_test_setup_teardown(json_int64_written_exactly, setup, teardown),
        cmocka_unit_test_setup_teardown(json_doubles_round_trip_bits, setup, teardown),
        cmocka_unit_test_setup_teardown(json_format_double_shortest, setup, teardown),
        cmocka_unit_test_setup_teardown(json_write_nonfinite_as_null, setup, teardown),
        cmocka_unit_test_setup_teardown(json_number_overflow_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(json_number_syntax_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(json_parse_reads_only_len_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(json_write_escapes, setup, teardown),
        cmocka_unit_test_setup_teardown(json_write_invalid_utf8_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(json_parse_escapes, setup, teardown),
        cmocka_unit_test_setup_teardown(json_lone_surrogates_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(json_invalid_utf8_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(json_control_characters_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(json_duplicate_keys_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(json_write_compact_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(json_write_appends, setup, teardown),
        cmocka_unit_test_setup_teardown(json_round_trip_sample, setup, teardown),
        cmocka_unit_test_setup_teardown(json_round_trip_movies, setup, teardown),
        cmocka_unit_test_setup_teardown(json_error_position_line_column, setup, teardown),
        cmocka_unit_test_setup_teardown(json_byte_order_mark_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(json_depth_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(json_deep_within_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(json_string_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(json_wide_containers, setup, teardown),
        cmocka_unit_test_setup_teardown(json_invalid_arguments, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
