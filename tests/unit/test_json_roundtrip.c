/*
 * Round-trip property tests of the JSON codec: random values written with
 * agora_json_write and read back with agora_json_parse must be the same
 * value, and reference parsers must read our output as the same document.
 *
 * Values come from a fixed-seed generator (splitmix64), so a failure repeats
 * on every run and the message names the seed and the value's index. The
 * values cover null, bools and int64 over its whole range. Doubles include
 * subnormals, -0.0, extreme exponents and integral values, but never NaN or
 * infinity, which JSON cannot represent. Strings mix every byte class: ASCII,
 * control characters, quotes, backslashes, NUL and UTF-8 sequences of 2 to 4
 * bytes. Arrays and objects nest up to 4 levels, and objects have distinct
 * keys in a fixed order.
 *
 * Equality here is this file's own and stricter than agora_value_equal:
 * types must match exactly (an int never equals a double), int64 compares
 * exactly, doubles compare bit for bit, strings byte for byte, object
 * members in order. The written text of a double must also be the shortest
 * that reads back: its count of significant digits must equal the smallest
 * printf %.*g precision whose output strtod reads back to the same bits.
 *
 * A round trip through our own parser cannot catch a writer and a parser
 * that agree on something wrong. So json_roundtrip_reference_parsers writes
 * a few hundred values as JSONL and, beside it, a plain token description of
 * the same values that never passes through agora's JSON code (ints through
 * printf, doubles as their bit patterns, strings as hex bytes).
 * tests/unit/json_roundtrip_check.py rebuilds each value from the
 * description and compares it with what Python's json module reads from our
 * line (ints exact, doubles by bits, shortest digits against Python's repr),
 * and has jq 1.6 parse every line and list its paths, node types and
 * strings. jq reads every number as a double, so numbers are compared only
 * through Python.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agora/value.h"

#define MAX_DEPTH 4
#define MAX_CHILDREN 6
#define MAX_STRING_CHARS 24

/* ---- Random values --------------------------------------------------- */

typedef struct rng {
    uint64_t state;
} rng;

/* splitmix64: a full-period 64-bit generator with well-mixed output. */
static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->state += UINT64_C(0x9E3779B97F4A7C15));

    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Returns a number in [0, n). The modulo bias is irrelevant here. */
static uint64_t rng_below(rng *r, uint64_t n)
{
    return rng_next(r) % n;
}

static const int64_t special_ints[] = {
    0, 1, -1, INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1,
    INT32_MAX, INT32_MIN, (int64_t)1 << 53, ((int64_t)1 << 53) + 1,
    -((int64_t)1 << 53) - 1, 999999999999999999, -1000000000000000000,
    9007199254740993, 1000000000000000000,
};

static int64_t random_int(rng *r)
{
    int bits;

    switch (rng_below(r, 4)) {
    case 0:
        return special_ints[rng_below(r, sizeof(special_ints) / sizeof(special_ints[0]))];
    case 1:
        return (int64_t)rng_next(r); /* the whole range, both signs */
    case 2:
        return (int64_t)rng_below(r, 2001) - 1000;
    default:
        /* A random magnitude, so every digit count shows up. */
        bits = 1 + (int)rng_below(r, 63);
        return (int64_t)(rng_next(r) >> (64 - bits)) * (rng_below(r, 2) ? 1 : -1);
    }
}

static double double_from_bits(uint64_t bits)
{
    double d;

    memcpy(&d, &bits, sizeof(d));
    return d;
}

static uint64_t double_bits(double d)
{
    uint64_t bits;

    memcpy(&bits, &d, sizeof(bits));
    return bits;
}

static const double special_doubles[] = {
    0.0, -0.0, 1.0, -1.0, 0.1, 0.5, 1.5, 1e15, 1e16, 1e17, 1e21, 1e22, 1e23,
    9007199254740992.0, 9007199254740994.0, 123456789012345.0,
    1e300, -1e300, 1e-300, 5e-324, -5e-324, 2.2250738585072009e-308,
    DBL_MIN, DBL_MAX, -DBL_MAX, DBL_EPSILON, 1.0 / 3.0, 2.0 / 3.0,
    9.2233720368547758e18, -9.2233720368547758e18, 1.8446744073709552e19,
    0.30000000000000004, 100.0, 1e-7, 123.456, 4.35, 5e-310,
};

static double random_double(rng *r)
{
    uint64_t bits;
    double d;

    switch (rng_below(r, 6)) {
    case 0:
        return special_doubles[rng_below(r, sizeof(special_doubles) / sizeof(special_doubles[0]))];
    case 1:
        /* Subnormal: exponent field zero, random sign and fraction. */
        bits = rng_next(r) & UINT64_C(0x800FFFFFFFFFFFFF);
        return double_from_bits(bits);
    case 2:
        /* A short decimal such as 12.34 or -0.005. */
        return (double)((int64_t)rng_below(r, 200001) - 100000) /
               pow(10.0, (double)rng_below(r, 8));
    case 3:
        /* Integral, some above 2^53 and above 1e15. */
        return ldexp((double)(int64_t)(rng_next(r) >> 11), (int)rng_below(r, 40)) *
               (rng_below(r, 2) ? 1 : -1);
    default:
        /* Any finite bit pattern: huge and tiny exponents alike. */
        do {
            d = double_from_bits(rng_next(r));
        } while (!isfinite(d));
        return d;
    }
}

/* Appends one UTF-8 encoded code point of a random byte class to out. */
static size_t random_char(rng *r, char *out)
{
    static const char specials[] = "\"\\/\b\f\n\r\t";
    uint32_t cp;

    switch (rng_below(r, 8)) {
    case 0:
        out[0] = (char)(0x20 + rng_below(r, 0x5F)); /* printable ASCII */
        return 1;
    case 1:
        out[0] = (char)rng_below(r, 0x20); /* control, NUL included */
        return 1;
    case 2:
        out[0] = specials[rng_below(r, sizeof(specials) - 1)];
        return 1;
    case 3:
        out[0] = 0x7F;
        return 1;
    case 4:
        cp = 0x80 + (uint32_t)rng_below(r, 0x800 - 0x80);
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    case 5:
    case 6:
        /* U+0800 to U+FFFF without the surrogates U+D800 to U+DFFF. */
        do {
            cp = 0x800 + (uint32_t)rng_below(r, 0x10000 - 0x800);
        } while (cp >= 0xD800 && cp <= 0xDFFF);
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    default:
        cp = 0x10000 + (uint32_t)rng_below(r, 0x110000 - 0x10000);
        out[0] = (char)(0xF0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        return 4;
    }
}

/* Fills out (room for 4 * MAX_STRING_CHARS bytes) and returns the length. */
static size_t random_string(rng *r, char *out)
{
    size_t chars = (size_t)rng_below(r, MAX_STRING_CHARS + 1);
    size_t len = 0;

    for (size_t i = 0; i < chars; i++)
        len += random_char(r, out + len);
    return len;
}

static agora_value *random_value(rng *r, agora_arena *arena, int depth)
{
    char text[4 * MAX_STRING_CHARS];
    size_t len;
    uint64_t kind = rng_below(r, depth < MAX_DEPTH ? 8 : 6);
    agora_value *value = NULL;

    switch (kind) {
    case 0:
        return agora_value_null(arena);
    case 1:
        return agora_value_bool(arena, rng_below(r, 2) == 1);
    case 2:
        return agora_value_int(arena, random_int(r));
    case 3:
        return agora_value_double(arena, random_double(r));
    case 4:
    case 5:
        len = random_string(r, text);
        return agora_value_string(arena, text, len);
    case 6:
        value = agora_value_array(arena, 0);
        assert_non_null(value);
        for (uint64_t n = rng_below(r, MAX_CHILDREN + 1); n > 0; n--) {
            agora_value *item = random_value(r, arena, depth + 1);

            assert_non_null(item);
            assert_int_equal(agora_array_push(arena, value, item), 0);
        }
        return value;
    default:
        value = agora_value_object(arena, 0);
        assert_non_null(value);
        for (uint64_t n = rng_below(r, MAX_CHILDREN + 1); n > 0; n--) {
            agora_value *member;

            /* Keys stay distinct: a repeated key is drawn again. */
            do {
                len = random_string(r, text);
            } while (agora_object_get(value, text, len) != NULL);
            member = random_value(r, arena, depth + 1);
            assert_non_null(member);
            assert_int_equal(agora_object_push(arena, value, text, len, member), 0);
        }
        return value;
    }
}

/* ---- Strict equality ------------------------------------------------- */

/*
 * Returns NULL when a and b are the same value under this file's strict
 * rules, else a description of the first difference (static storage).
 */
static const char *strict_difference(const agora_value *a, const agora_value *b)
{
    static char message[160];

    if (a->type != b->type) {
        snprintf(message, sizeof(message), "type %s became %s",
                 agora_type_name(a->type), agora_type_name(b->type));
        return message;
    }
    switch (a->type) {
    case AGORA_NULL:
        return NULL;
    case AGORA_BOOL:
        return a->u.boolean == b->u.boolean ? NULL : "bool changed";
    case AGORA_INT:
        if (a->u.integer == b->u.integer)
            return NULL;
        snprintf(message, sizeof(message), "int %" PRId64 " became %" PRId64,
                 a->u.integer, b->u.integer);
        return message;
    case AGORA_DOUBLE:
        if (double_bits(a->u.number) == double_bits(b->u.number))
            return NULL;
        snprintf(message, sizeof(message), "double %.17g (bits %016" PRIx64
                 ") became %.17g (bits %016" PRIx64 ")", a->u.number,
                 double_bits(a->u.number), b->u.number, double_bits(b->u.number));
        return message;
    case AGORA_STRING:
        if (a->u.string.len == b->u.string.len &&
            memcmp(a->u.string.ptr, b->u.string.ptr, a->u.string.len) == 0)
            return NULL;
        return "string bytes changed";
    case AGORA_ARRAY:
        if (a->u.array.len != b->u.array.len)
            return "array length changed";
        for (size_t i = 0; i < a->u.array.len; i++) {
            const char *diff = strict_difference(a->u.array.items[i], b->u.array.items[i]);

            if (diff != NULL)
                return diff;
        }
        return NULL;
    case AGORA_OBJECT:
        if (a->u.object.len != b->u.object.len)
            return "member count changed";
        for (size_t i = 0; i < a->u.object.len; i++) {
            const agora_member *ma = &a->u.object.members[i];
            const agora_member *mb = &b->u.object.members[i];
            const char *diff;

            if (ma->key.len != mb->key.len ||
                memcmp(ma->key.ptr, mb->key.ptr, ma->key.len) != 0)
                return "key bytes or key order changed";
            diff = strict_difference(ma->value, mb->value);
            if (diff != NULL)
                return diff;
        }
        return NULL;
    }
    return "unknown type";
}

/* ---- Shortest double text -------------------------------------------- */

/* Number of significant digits in a JSON number's text. */
static int significant_digits(const char *text, size_t len)
{
    const char *first = NULL;
    const char *last = NULL;

    for (size_t i = 0; i < len && text[i] != 'e' && text[i] != 'E'; i++) {
        if (text[i] >= '1' && text[i] <= '9') {
            if (first == NULL)
                first = text + i;
            last = text + i;
        }
    }
    if (first == NULL)
        return 1; /* zero */

    int count = 0;
    for (const char *p = first; p <= last; p++)
        count += *p >= '0' && *p <= '9';
    return count;
}

/* Smallest %.*g precision that strtod reads back to the same bits as d. */
static int shortest_precision(double d)
{
    char text[64];

    for (int precision = 1; precision < 17; precision++) {
        snprintf(text, sizeof(text), "%.*g", precision, d);
        if (double_bits(strtod(text, NULL)) == double_bits(d))
            return precision;
    }
    return 17;
}

/* ---- Tests ----------------------------------------------------------- */

#define RANDOM_VALUES 4000

/* Writes value, parses the text back and fails on any difference. */
static void round_trip(const agora_value *value, uint64_t seed, int index)
{
    agora_arena *arena = agora_arena_new(0);
    agora_buf out;
    agora_error err;
    agora_value *parsed;
    const char *diff;

    assert_non_null(arena);
    agora_buf_init(&out);
    memset(&err, 0, sizeof(err));

    assert_int_equal(agora_json_write(&out, value), 0);
    parsed = agora_json_parse(arena, out.data, out.len, NULL, &err);
    if (parsed == NULL)
        fail_msg("seed %" PRIu64 " value %d: the parser rejects the writer's output: "
                 "%s\ntext: %.400s", seed, index, err.message, out.data);
    diff = strict_difference(value, parsed);
    if (diff != NULL)
        fail_msg("seed %" PRIu64 " value %d: %s\ntext: %.400s", seed, index, diff,
                 out.data);

    agora_buf_free(&out);
    agora_arena_free(arena);
}

static void json_roundtrip_random_values(void **state)
{
    const uint64_t seed = 20260101;
    rng r = {seed};
    agora_arena *arena = agora_arena_new(0);

    (void)state;
    assert_non_null(arena);
    for (int i = 0; i < RANDOM_VALUES; i++) {
        agora_value *value = random_value(&r, arena, 0);

        assert_non_null(value);
        round_trip(value, seed, i);
        agora_arena_reset(arena);
    }
    agora_arena_free(arena);
}

#define RANDOM_DOUBLES 20000

static void json_roundtrip_double_text_shortest(void **state)
{
    const uint64_t seed = 4242;
    rng r = {seed};
    agora_arena *arena = agora_arena_new(0);
    agora_buf out;

    (void)state;
    assert_non_null(arena);
    agora_buf_init(&out);
    for (int i = 0; i < RANDOM_DOUBLES; i++) {
        double d = random_double(&r);
        agora_value *value = agora_value_double(arena, d);
        int digits;
        int expected;

        assert_non_null(value);
        out.len = 0;
        assert_int_equal(agora_json_write(&out, value), 0);
        round_trip(value, seed, i);

        digits = significant_digits(out.data, out.len);
        expected = shortest_precision(d);
        if (digits != expected)
            fail_msg("seed %" PRIu64 " double %d: %.17g is written as %s with %d "
                     "significant digits, but %%.%dg reads back already",
                     seed, i, d, out.data, digits, expected);
        agora_arena_reset(arena);
    }
    agora_buf_free(&out);
    agora_arena_free(arena);
}

/* ---- Reference parsers ------------------------------------------------ */

#define REFERENCE_VALUES 300

static void describe_hex(FILE *file, char kind, const char *bytes, size_t len)
{
    fprintf(file, "%c:", kind);
    for (size_t i = 0; i < len; i++)
        fprintf(file, "%02x", (unsigned char)bytes[i]);
}

/* Writes value in the token form that json_roundtrip_check.py reads. */
static void describe(FILE *file, const agora_value *value)
{
    switch (value->type) {
    case AGORA_NULL:
        fputs("n", file);
        break;
    case AGORA_BOOL:
        fputs(value->u.boolean ? "t" : "f", file);
        break;
    case AGORA_INT:
        fprintf(file, "i:%" PRId64, value->u.integer);
        break;
    case AGORA_DOUBLE:
        fprintf(file, "d:%016" PRIx64, double_bits(value->u.number));
        break;
    case AGORA_STRING:
        describe_hex(file, 's', value->u.string.ptr, value->u.string.len);
        break;
    case AGORA_ARRAY:
        fprintf(file, "a:%zu", value->u.array.len);
        for (size_t i = 0; i < value->u.array.len; i++) {
            fputc(' ', file);
            describe(file, value->u.array.items[i]);
        }
        break;
    case AGORA_OBJECT:
        fprintf(file, "o:%zu", value->u.object.len);
        for (size_t i = 0; i < value->u.object.len; i++) {
            const agora_member *member = &value->u.object.members[i];

            fputc(' ', file);
            describe_hex(file, 'k', member->key.ptr, member->key.len);
            fputc(' ', file);
            describe(file, member->value);
        }
        break;
    }
}

/* Writes value to jsonl with agora_json_write and its description beside it. */
static void write_reference_line(FILE *jsonl, FILE *description, agora_buf *out,
                                 const agora_value *value)
{
    assert_non_null(value);
    out->len = 0;
    assert_int_equal(agora_json_write(out, value), 0);
    assert_int_equal(fwrite(out->data, 1, out->len, jsonl), out->len);
    fputc('\n', jsonl);
    describe(description, value);
    fputc('\n', description);
}

/* Returns true when the shell finds command on PATH. */
static bool have_command(const char *command)
{
    char line[256];

    snprintf(line, sizeof(line), "command -v %s >/dev/null 2>&1", command);
    return system(line) == 0;
}

static void json_roundtrip_reference_parsers(void **state)
{
    const uint64_t seed = 777;
    rng r = {seed};
    const char *source_dir = getenv("AGORA_SOURCE_DIR");
    /* Debian's interpreter first: the python3 first on PATH may be another. */
    const char *python = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    char dir[] = "/tmp/agora-json-roundtrip.XXXXXX";
    char jsonl_path[128];
    char description_path[128];
    char checker[1024];
    char command[2048];
    agora_arena *arena = NULL;
    agora_buf out;
    FILE *jsonl = NULL;
    FILE *description = NULL;
    int status;

    (void)state;
    if (source_dir == NULL) {
        print_message("skipped: AGORA_SOURCE_DIR is not set, so the checker script "
                      "cannot be found\n");
        skip();
    }
    snprintf(checker, sizeof(checker), "%s/tests/unit/json_roundtrip_check.py", source_dir);
    if (access(checker, R_OK) != 0) {
        print_message("skipped: %s is not readable\n", checker);
        skip();
    }
    if (!have_command(python) || !have_command("jq")) {
        print_message("skipped: python3 or jq is not installed\n");
        skip();
    }

    assert_non_null(mkdtemp(dir));
    snprintf(jsonl_path, sizeof(jsonl_path), "%s/values.jsonl", dir);
    snprintf(description_path, sizeof(description_path), "%s/values.txt", dir);
    jsonl = fopen(jsonl_path, "wb");
    description = fopen(description_path, "w");
    assert_non_null(jsonl);
    assert_non_null(description);
    arena = agora_arena_new(0);
    assert_non_null(arena);
    agora_buf_init(&out);

    /* Every special number on its own line first, then random values. */
    for (size_t i = 0; i < sizeof(special_ints) / sizeof(special_ints[0]); i++)
        write_reference_line(jsonl, description, &out,
                             agora_value_int(arena, special_ints[i]));
    for (size_t i = 0; i < sizeof(special_doubles) / sizeof(special_doubles[0]); i++)
        write_reference_line(jsonl, description, &out,
                             agora_value_double(arena, special_doubles[i]));
    for (int i = 0; i < REFERENCE_VALUES; i++) {
        write_reference_line(jsonl, description, &out, random_value(&r, arena, 0));
        agora_arena_reset(arena);
    }
    assert_int_equal(fclose(jsonl), 0);
    assert_int_equal(fclose(description), 0);
    agora_buf_free(&out);
    agora_arena_free(arena);

    snprintf(command, sizeof(command), "'%s' '%s' '%s' '%s'", python, checker,
             jsonl_path, description_path);
    status = system(command);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("seed %" PRIu64 ": the reference parsers disagree with our output "
                 "(%s printed why); files kept in %s", seed, checker, dir);

    unlink(jsonl_path);
    unlink(description_path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_roundtrip_random_values),
        cmocka_unit_test(json_roundtrip_double_text_shortest),
        cmocka_unit_test(json_roundtrip_reference_parsers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
