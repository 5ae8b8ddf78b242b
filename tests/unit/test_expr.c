/*
 * Tests of the filter expression language: precedence, null and type rules,
 * field references, regular expressions and parse error positions. Expected
 * results follow docs/filter.md and were worked out by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agora/value.h"
#include "connectors/expr.h"

typedef struct eval_case {
    const char *expression;
    const char *record; /* JSON */
    int expected;       /* 1 true, 0 false */
} eval_case;

static void run_cases(const eval_case *cases, size_t n)
{
    agora_arena *arena = agora_arena_new(0);

    assert_non_null(arena);
    for (size_t i = 0; i < n; i++) {
        agora_error err;
        agora_value *record;
        expr *e;
        int got;

        agora_error_clear(&err);
        record = agora_json_parse(arena, cases[i].record,
                                  strlen(cases[i].record), NULL, &err);
        if (record == NULL)
            fail_msg("case %zu: bad test record %s: %s", i, cases[i].record,
                     err.message);
        e = expr_compile(cases[i].expression, &err);
        if (e == NULL)
            fail_msg("case %zu: '%s' did not compile: %s", i,
                     cases[i].expression, err.message);
        got = expr_eval(e, record, &err);
        if (got != cases[i].expected)
            fail_msg("case %zu: '%s' on %s gave %d, expected %d", i,
                     cases[i].expression, cases[i].record, got,
                     cases[i].expected);
        expr_free(e);
    }
    agora_arena_free(arena);
}

#define RUN(cases) run_cases(cases, sizeof(cases) / sizeof(cases[0]))

static void expr_precedence(void **state)
{
    static const eval_case cases[] = {
        /* and binds tighter than or: true or (false and false) */
        {"true or false and false", "{}", 1},
        {"false and false or true", "{}", 1},
        {"(true or false) and false", "{}", 0},
        /* not binds tighter than and: (not false) and false */
        {"not false and false", "{}", 0},
        {"not (false and false)", "{}", 1},
        {"not true or true", "{}", 1},
        {"not not true", "{}", 1},
        /* not applies to the whole comparison */
        {"not a == 1", "{\"a\":1}", 0},
        {"not a == 1", "{\"a\":2}", 1},
        {"a == 1 or b == 2 and c == 3", "{\"a\":1,\"b\":0,\"c\":0}", 1},
        {"a == 1 or b == 2 and c == 3", "{\"a\":0,\"b\":2,\"c\":0}", 0},
        {"(a == 1 or b == 2) and c == 3", "{\"a\":1,\"b\":0,\"c\":0}", 0},
        {"(x > 1) == true", "{\"x\":2}", 1},
        {"(x > 1) == false", "{\"x\":2}", 0},
    };
    RUN(cases);
}

static void expr_null_semantics(void **state)
{
    static const eval_case cases[] = {
        {"x is null", "{}", 1},
        {"x is null", "{\"x\":null}", 1},
        {"x is null", "{\"x\":0}", 0},
        {"x is not null", "{}", 0},
        {"x is not null", "{\"x\":false}", 1},
        {"x == null", "{}", 1},
        {"x != null", "{\"x\":1}", 1},
        /* ordering with null is false either way round */
        {"x > 1", "{\"x\":null}", 0},
        {"x < 1", "{\"x\":null}", 0},
        {"x <= 1", "{}", 0},
        {"x == 1", "{}", 0},
        {"x != 1", "{}", 1},
        {"not (x > 1)", "{}", 1},
        /* two missing fields: null >= null is false */
        {"x >= y", "{}", 0},
    };
    RUN(cases);
}

static void expr_type_rules(void **state)
{
    static const eval_case cases[] = {
        /* numbers compare by value across int and double */
        {"x == 7", "{\"x\":7.0}", 1},
        {"x > 6.9", "{\"x\":7}", 1},
        {"x < 7.5", "{\"x\":7}", 1},
        {"x >= 7", "{\"x\":6.99}", 0},
        {"x == -3", "{\"x\":-3}", 1},
        {"x == 1e3", "{\"x\":1000}", 1},
        {"x == 2.5e-1", "{\"x\":0.25}", 1},
        /* 2^53 + 1 has no exact double, so comparing as doubles would give equal */
        {"x > 9007199254740992.0", "{\"x\":9007199254740993}", 1},
        {"x == 9007199254740993", "{\"x\":9007199254740993}", 1},
        {"x < 9223372036854775807", "{\"x\":1e300}", 0},
        /* different types: == false, != true, ordering false */
        {"x == 0", "{\"x\":false}", 0},
        {"x != 0", "{\"x\":false}", 1},
        {"x == '1'", "{\"x\":1}", 0},
        {"x != '1'", "{\"x\":1}", 1},
        {"x < 'b'", "{\"x\":1}", 0},
        {"x >= 'b'", "{\"x\":1}", 0},
        /* strings compare by bytes */
        {"s == 'abc'", "{\"s\":\"abc\"}", 1},
        {"s == \"abc\"", "{\"s\":\"abc\"}", 1},
        {"s < 'abd'", "{\"s\":\"abc\"}", 1},
        {"s > 'ab'", "{\"s\":\"abc\"}", 1},
        {"s <= 'abc'", "{\"s\":\"abc\"}", 1},
        {"s == 'it\\'s'", "{\"s\":\"it's\"}", 1},
        {"s == \"say \\\"hi\\\"\"", "{\"s\":\"say \\\"hi\\\"\"}", 1},
        {"s == 'a\\\\b'", "{\"s\":\"a\\\\b\"}", 1},
        /* booleans support only == and != */
        {"b == true", "{\"b\":true}", 1},
        {"b > false", "{\"b\":true}", 0},
        /* a bare operand is true only when it is boolean true */
        {"flag", "{\"flag\":true}", 1},
        {"flag", "{\"flag\":1}", 0},
        {"flag", "{\"flag\":\"true\"}", 0},
        {"not flag", "{}", 1},
    };
    RUN(cases);
}

static void expr_in_and_contains(void **state)
{
    static const eval_case cases[] = {
        {"x in [1, 2, 'a']", "{\"x\":2}", 1},
        {"x in [1, 2, 'a']", "{\"x\":\"a\"}", 1},
        {"x in [1, 2, 'a']", "{\"x\":3}", 0},
        {"x in [1, 2, 'a']", "{\"x\":2.0}", 1},
        {"x in [1, 2, 'a']", "{\"x\":\"2\"}", 0},
        {"x not in [1, 2]", "{\"x\":3}", 1},
        {"x not in [1, 2]", "{\"x\":1}", 0},
        {"x in [null]", "{}", 1},
        {"x in []", "{\"x\":1}", 0},
        {"x in [1, 2,]", "{\"x\":2}", 1},
        {"'b' in tags", "{\"tags\":[\"a\",\"b\"]}", 1},
        {"'c' in tags", "{\"tags\":[\"a\",\"b\"]}", 0},
        {"'b' in tags", "{\"tags\":\"abc\"}", 0},
        /* a literal on the left is fine when the right side is a field */
        {"'ell' not in tags", "{\"tags\":[\"hello\"]}", 1},
        {"8 <= x", "{\"x\":9}", 1},
        {"8 <= x", "{\"x\":7}", 0},
        {"s contains 'ell'", "{\"s\":\"hello\"}", 1},
        {"s contains 'xyz'", "{\"s\":\"hello\"}", 0},
        {"s contains ''", "{\"s\":\"hello\"}", 1},
        {"s not contains 'xyz'", "{\"s\":\"hello\"}", 1},
        {"tags contains 'b'", "{\"tags\":[\"a\",\"b\"]}", 1},
        {"n contains 1", "{\"n\":10}", 0},
        {"s contains 'a'", "{}", 0},
    };
    RUN(cases);
}

static void expr_field_references(void **state)
{
    static const eval_case cases[] = {
        {"`IMDB Rating` >= 7", "{\"IMDB Rating\":7.2}", 1},
        {"`IMDB Rating` >= 7", "{\"IMDB Rating\":6.9}", 0},
        {"`a``b` == 1", "{\"a`b\":1}", 1},
        {"`$Cost` == 5", "{\"$Cost\":5}", 1},
        {"a.b.c == 1", "{\"a\":{\"b\":{\"c\":1}}}", 1},
        {"a.b.c is null", "{\"a\":{\"b\":5}}", 1},
        {"a.b.c is null", "{\"a\":null}", 1},
        {"a.`x y` == 2", "{\"a\":{\"x y\":2}}", 1},
        {"`a.b` == 3", "{\"a.b\":3,\"a\":{\"b\":4}}", 1},
        {"a.b == 4", "{\"a.b\":3,\"a\":{\"b\":4}}", 1},
        {"a.in == 1", "{\"a\":{\"in\":1}}", 1},
        {"_x1 == 1", "{\"_x1\":1}", 1},
        /* duplicate keys: the last one counts, as in agora_object_get */
        {"d == 2", "{\"d\":1,\"d\":2}", 1},
        /* a record that is not an object has only null fields */
        {"x is null", "[1,2]", 1},
    };
    RUN(cases);
}

static void expr_regex(void **state)
{
    static const eval_case cases[] = {
        {"t matches '^The '", "{\"t\":\"The Land Girls\"}", 1},
        {"t matches '^The '", "{\"t\":\"Into The Wild\"}", 0},
        /* a backslash before anything but a quote stays in the pattern */
        {"t matches '^\\d+$'", "{\"t\":\"123\"}", 1},
        {"t matches '^\\d+$'", "{\"t\":\"12a\"}", 0},
        {"t matches '(?i)^the'", "{\"t\":\"THE END\"}", 1},
        {"t not matches 'x'", "{\"t\":\"abc\"}", 1},
        /* UTF-8 mode: '.' is one character, not one byte */
        {"t matches '^.$'", "{\"t\":\"\\u00e9\"}", 1},
        {"n matches '1'", "{\"n\":1}", 0},
        {"n matches '1'", "{}", 0},
    };
    RUN(cases);
}

static void expr_long_chain(void **state)
{
    /* 5000 operands in one or-chain: no recursion per operand */
    size_t n = 5000;
    char *text = malloc(n * 16);
    size_t len = 0;
    agora_arena *arena = agora_arena_new(0);
    agora_error err;

    assert_non_null(text);
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(text + len, "%sx == %zu", i ? " or " : "", i);
    expr *e = expr_compile(text, &err);
    assert_non_null(e);

    agora_value *hit = agora_json_parse(arena, "{\"x\":4999}", 10, NULL, &err);
    agora_value *miss = agora_json_parse(arena, "{\"x\":5000}", 10, NULL, &err);
    assert_int_equal(expr_eval(e, hit, &err), 1);
    assert_int_equal(expr_eval(e, miss, &err), 0);

    expr_free(e);
    agora_arena_free(arena);
    free(text);
}

typedef struct error_case {
    const char *expression;
    int column;
    const char *fragment;
} error_case;

static void expr_parse_errors(void **state)
{
    static const error_case cases[] = {
        {"Year >= ", 9, "expected a value after '>='"},
        /* a lone literal other than true/false: column 1, whole expression */
        {"'IMDB Rating'", 1, "the expression is a constant that is never true"},
        {"42", 1, "the expression is a constant that is never true"},
        {"null", 1, "the expression is a constant that is never true"},
        {"`IMDB Rating` >= 7 and and", 24, "expected a value after 'and'"},
        {"(a == 1", 8, "expected ')' to close the '(' at column 1"},
        {"a == 'abc", 6, "string starting here is not closed with a single quote"},
        {"a == \"abc", 6, "string starting here is not closed with a double quote"},
        {"`abc == 1", 1, "field name starting here is not closed with a backtick"},
        {"a = 1", 3, "unexpected '='; use '==' to test equality"},
        {"a = >1", 3, "unexpected '='; use '==' to test equality"},
        {"a => 1", 3, "unexpected '=>'; use '>=' to test greater than or equal to"},
        {"a =< 1", 3, "unexpected '=<'; use '<=' to test less than or equal to"},
        {"a && b", 3, "use 'and'"},
        {"!a", 1, "use 'not'"},
        {"a == 1 b", 8, "expected 'and', 'or' or the end of the expression"},
        {"x AND y", 3, "found 'AND'. Keywords are lower case, so write 'and'"},
        {"x == 1 Or y == 2", 8, "found 'Or'. Keywords are lower case, so write 'or'"},
        /* a bare word right after another: the hint quotes the whole name */
        {"IMDB Rating >= 8", 6, "found 'Rating'. Field names with spaces or "
         "symbols must be written in backticks, e.g. `IMDB Rating`"},
        {"Running Time min >= 90", 9, "e.g. `Running Time min`"},
        {"Major Genre is not null", 7, "e.g. `Major Genre`"},
        {"(Major Genre in ['Drama'])", 8,
         "expected ')' to close the '(' at column 1, found 'Genre'. Field "
         "names with spaces or symbols must be written in backticks, e.g. "
         "`Major Genre`"},
        {"x == Major Genre", 12, "e.g. `Major Genre`"},
        /* both sides literal: the same result for every record */
        {"'IMDB Rating' >= 8", 1, "both sides of '>=' are constants"},
        {"x == 1 and 'IMDB Rating' >= 8", 12, "both sides of '>=' are constants"},
        {"8 <= 'IMDB Rating'", 1, "in backticks (`IMDB Rating`), not in quotes"},
        {"1 == 1", 1, "in backticks (`IMDB Rating`), not in quotes"},
        {"'a`b' == 1", 1, "in backticks (`a``b`), not in quotes"},
        {"a == 1 or (2 < 3)", 12, "both sides of '<' are constants"},
        {"(5) != 5", 1, "both sides of '!=' are constants"},
        {"'a' in ['a', 'b']", 1, "both sides of 'in' are constants"},
        {"'a' not in 'abc'", 1, "both sides of 'not in' are constants"},
        {"'Title' contains 'The'", 1, "both sides of 'contains' are constants"},
        {"'Title' matches '^The'", 1, "both sides of 'matches' are constants"},
        {"'Title' not matches '^The'", 1, "both sides of 'not matches' are constants"},
        {"'Year' is null", 1, "the value tested by 'is null' is a constant"},
        {"null is not null", 1, "the value tested by 'is not null' is a constant"},
        /* 'é' is two bytes but one column */
        {"`\xc3\xa9` == 1 or '\xc3\xa9' is null", 13, "(`\xc3\xa9`)"},
        {"", 1, "the expression is empty"},
        {"   ", 1, "the expression is empty"},
        {"a is 5", 6, "expected 'null' after 'is'"},
        {"a not 5", 7, "expected 'in', 'contains' or 'matches' after 'not'"},
        {"a matches 5", 11, "expected a quoted regular expression"},
        {"a matches '(x'", 11, "invalid regular expression '(x'"},
        {"a in [1, b]", 10, "expected a literal value or ']'"},
        {"a in [1 2]", 9, "expected ',' or ']'"},
        {"a. == 1", 4, "expected a field name after '.'"},
        {"12abc == 1", 1, "invalid number '12abc'"},
        {"a == 1.", 8, "expected a digit after '.'"},
        {"a == 99999999999999999999", 6, "out of the 64-bit range"},
        {"a == 1 #", 8, "unexpected character '#'"},
        {"``", 1, "empty field name"},
        /* columns count characters, not bytes: 'é' is two bytes */
        {"`\xc3\xa9` == )", 8, "expected a value after '=='"},
        {"\xc3\xa9 == 1", 1, "unexpected character '\xc3\xa9'"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        agora_error err;
        char prefix[64];

        agora_error_clear(&err);
        expr *e = expr_compile(cases[i].expression, &err);
        if (e != NULL)
            fail_msg("case %zu: '%s' compiled", i, cases[i].expression);
        assert_int_equal(err.code, AGORA_ECONFIG);
        assert_string_equal(err.key, "expression");
        snprintf(prefix, sizeof(prefix), "filter expression: column %d: ",
                 cases[i].column);
        if (strncmp(err.message, prefix, strlen(prefix)) != 0)
            fail_msg("case %zu: '%s': expected column %d, got: %s", i,
                     cases[i].expression, cases[i].column, err.message);
        if (strstr(err.message, cases[i].fragment) == NULL)
            fail_msg("case %zu: '%s': expected '%s' in: %s", i,
                     cases[i].expression, cases[i].fragment, err.message);
    }
}

static void expr_error_message_whole(void **state)
{
    static const struct {
        const char *expression;
        const char *message;
    } cases[] = {
        {"Year >= ",
         "filter expression: column 9: expected a value after '>=', found "
         "the end of the expression"},
        /* no hint: the word before 'b' is a number, not a name */
        {"a == 1 b",
         "filter expression: column 8: expected 'and', 'or' or the end of "
         "the expression, found 'b'"},
        {"IMDB Rating >= 8",
         "filter expression: column 6: expected 'and', 'or' or the end of "
         "the expression, found 'Rating'. Field names with spaces or symbols "
         "must be written in backticks, e.g. `IMDB Rating`"},
        {"'IMDB Rating' >= 8",
         "filter expression: column 1: both sides of '>=' are constants, so "
         "the result is the same for every record. A field name with spaces "
         "is written in backticks (`IMDB Rating`), not in quotes"},
        {"'Major Genre' is not null",
         "filter expression: column 1: the value tested by 'is not null' is "
         "a constant, so the result is the same for every record. A field "
         "name with spaces is written in backticks (`Major Genre`), not in "
         "quotes"},
        {"Year => 2000",
         "filter expression: column 6: unexpected '=>'; use '>=' to test "
         "greater than or equal to"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        agora_error err;

        agora_error_clear(&err);
        assert_null(expr_compile(cases[i].expression, &err));
        assert_string_equal(err.message, cases[i].message);
    }
}

static void expr_nesting_limit(void **state)
{
    size_t levels = EXPR_MAX_DEPTH + 1;
    char *text = malloc(2 * levels + 2);
    agora_error err;

    assert_non_null(text);
    memset(text, '(', levels);
    text[levels] = 'a';
    memset(text + levels + 1, ')', levels);
    text[2 * levels + 1] = '\0';
    assert_null(expr_compile(text, &err));
    assert_non_null(strstr(err.message, "nests deeper than"));

    /* one level less compiles */
    text[levels - 1] = ' ';
    text[2 * levels] = '\0';
    expr *e = expr_compile(text + 0, &err);
    assert_non_null(e);
    expr_free(e);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(expr_precedence),
        cmocka_unit_test(expr_null_semantics),
        cmocka_unit_test(expr_type_rules),
        cmocka_unit_test(expr_in_and_contains),
        cmocka_unit_test(expr_field_references),
        cmocka_unit_test(expr_regex),
        cmocka_unit_test(expr_long_chain),
        cmocka_unit_test(expr_parse_errors),
        cmocka_unit_test(expr_error_message_whole),
        cmocka_unit_test(expr_nesting_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
