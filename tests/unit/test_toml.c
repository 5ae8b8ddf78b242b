/*
 * Tests of the TOML parser. The TOML 1.0 cases of the toml-test suite come
 * first: every valid document must parse to the tree its JSON file
 * describes, and every invalid one must be rejected. Then come the positions
 * and error messages that the config loader shows to users, with the
 * expected positions counted by hand.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/toml.h"

/* ---- a small JSON reader for the expected results ------------------------ */

typedef enum json_kind {
    JSON_NULL,
    JSON_BOOL,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT
} json_kind;

typedef struct json_node json_node;

struct json_node {
    json_kind kind;
    char *str; /* string value (may contain NUL), or number text */
    size_t len;
    char **keys; /* object member names */
    size_t *key_lens;
    json_node **items; /* array elements or object member values */
    size_t count;
};

typedef struct json_reader {
    const char *s;
    size_t len, pos;
    int depth;
} json_reader;

#define JSON_MAX_DEPTH 256

static void json_free(json_node *node)
{
    if (!node)
        return;
    for (size_t i = 0; i < node->count; i++) {
        json_free(node->items[i]);
        if (node->keys)
            free(node->keys[i]);
    }
    free(node->items);
    free(node->keys);
    free(node->key_lens);
    free(node->str);
    free(node);
}

static void json_skip_ws(json_reader *r)
{
    while (r->pos < r->len && strchr(" \t\r\n", r->s[r->pos]) && r->s[r->pos])
        r->pos++;
}

static void put_utf8(char *out, size_t *n, unsigned long cp)
{
    if (cp < 0x80) {
        out[(*n)++] = (char)cp;
    } else if (cp < 0x800) {
        out[(*n)++] = (char)(0xc0 | (cp >> 6));
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out[(*n)++] = (char)(0xe0 | (cp >> 12));
        out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    } else {
        out[(*n)++] = (char)(0xf0 | (cp >> 18));
        out[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
        out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    }
}

static bool json_hex4(json_reader *r, unsigned long *out)
{
    char digits[5];
    char *end;

    if (r->pos + 4 > r->len)
        return false;
    memcpy(digits, r->s + r->pos, 4);
    digits[4] = '\0';
    *out = strtoul(digits, &end, 16);
    if (end != digits + 4)
        return false;
    r->pos += 4;
    return true;
}

/* Reads a JSON string at r->pos (on the quote) into a malloc'd buffer. */
static char *json_read_string(json_reader *r, size_t *out_len)
{
    /* Decoded text is never longer than the escaped source. */
    char *out = malloc(r->len - r->pos + 1);
    size_t n = 0;

    if (!out)
        return NULL;
    r->pos++;
    while (r->pos < r->len && r->s[r->pos] != '"') {
        char c = r->s[r->pos++];
        unsigned long cp, low;

        if (c != '\\') {
            out[n++] = c;
            continue;
        }
        if (r->pos >= r->len)
            goto fail;
        c = r->s[r->pos++];
        switch (c) {
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'n': out[n++] = '\n'; break;
        case 'r': out[n++] = '\r'; break;
        case 't': out[n++] = '\t'; break;
        case '"':
        case '\\':
        case '/': out[n++] = c; break;
        case 'u':
            if (!json_hex4(r, &cp))
                goto fail;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (r->pos + 2 > r->len || r->s[r->pos] != '\\' ||
                    r->s[r->pos + 1] != 'u')
                    goto fail;
                r->pos += 2;
                if (!json_hex4(r, &low) || low < 0xdc00 || low > 0xdfff)
                    goto fail;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
            }
            put_utf8(out, &n, cp);
            break;
        default: goto fail;
        }
    }
    if (r->pos >= r->len)
        goto fail;
    r->pos++;
    out[n] = '\0';
    *out_len = n;
    return out;

fail:
    free(out);
    return NULL;
}

static json_node *json_read_value(json_reader *r);

static bool json_push(json_node *node, char *key, size_t key_len,
                      json_node *item)
{
    json_node **items = realloc(node->items, (node->count + 1) * sizeof *items);

    if (!items)
        return false;
    node->items = items;
    if (node->kind == JSON_OBJECT) {
        char **keys = realloc(node->keys, (node->count + 1) * sizeof *keys);
        size_t *lens;

        if (!keys)
            return false;
        node->keys = keys;
        lens = realloc(node->key_lens, (node->count + 1) * sizeof *lens);
        if (!lens)
            return false;
        node->key_lens = lens;
        node->keys[node->count] = key;
        node->key_lens[node->count] = key_len;
    }
    node->items[node->count++] = item;
    return true;
}

static json_node *json_read_container(json_reader *r, json_node *node,
                                      char close)
{
    r->pos++;
    json_skip_ws(r);
    if (r->pos < r->len && r->s[r->pos] == close) {
        r->pos++;
        return node;
    }
    for (;;) {
        char *key = NULL;
        size_t key_len = 0;
        json_node *item;

        json_skip_ws(r);
        if (close == '}') {
            if (r->pos >= r->len || r->s[r->pos] != '"')
                goto fail;
            key = json_read_string(r, &key_len);
            if (!key)
                goto fail;
            json_skip_ws(r);
            if (r->pos >= r->len || r->s[r->pos] != ':') {
                free(key);
                goto fail;
            }
            r->pos++;
        }
        item = json_read_value(r);
        if (!item || !json_push(node, key, key_len, item)) {
            free(key);
            json_free(item);
            goto fail;
        }
        json_skip_ws(r);
        if (r->pos < r->len && r->s[r->pos] == ',') {
            r->pos++;
            continue;
        }
        if (r->pos < r->len && r->s[r->pos] == close) {
            r->pos++;
            return node;
        }
        goto fail;
    }

fail:
    json_free(node);
    return NULL;
}

static json_node *json_read_value(json_reader *r)
{
    json_node *node;
    json_node *result;

    json_skip_ws(r);
    if (r->pos >= r->len || r->depth >= JSON_MAX_DEPTH)
        return NULL;
    node = calloc(1, sizeof *node);
    if (!node)
        return NULL;

    switch (r->s[r->pos]) {
    case '{':
        node->kind = JSON_OBJECT;
        r->depth++;
        result = json_read_container(r, node, '}');
        r->depth--;
        return result;
    case '[':
        node->kind = JSON_ARRAY;
        r->depth++;
        result = json_read_container(r, node, ']');
        r->depth--;
        return result;
    case '"':
        node->kind = JSON_STRING;
        node->str = json_read_string(r, &node->len);
        if (!node->str) {
            free(node);
            return NULL;
        }
        return node;
    default: break;
    }

    /* true, false, null or a number: keep the text. */
    {
        size_t start = r->pos;

        while (r->pos < r->len &&
               strchr("truefalsn0123456789+-.eE", r->s[r->pos]) && r->s[r->pos])
            r->pos++;
        node->len = r->pos - start;
        node->str = strndup(r->s + start, node->len);
        if (node->len == 0 || !node->str) {
            json_free(node);
            return NULL;
        }
        if (strcmp(node->str, "true") == 0 || strcmp(node->str, "false") == 0)
            node->kind = JSON_BOOL;
        else if (strcmp(node->str, "null") == 0)
            node->kind = JSON_NULL;
        else
            node->kind = JSON_NUMBER;
    }
    return node;
}

static char *read_file(const char *path, size_t *out_len)
{
    FILE *file = fopen(path, "rb");
    char *text = NULL;
    long size;

    if (!file)
        return NULL;
    if (fseek(file, 0, SEEK_END) != 0 || (size = ftell(file)) < 0 ||
        fseek(file, 0, SEEK_SET) != 0)
        goto done;
    text = malloc((size_t)size + 1);
    if (!text)
        goto done;
    if (fread(text, 1, (size_t)size, file) != (size_t)size) {
        free(text);
        text = NULL;
        goto done;
    }
    text[size] = '\0';
    *out_len = (size_t)size;

done:
    fclose(file);
    return text;
}

static json_node *json_read_file(const char *path)
{
    size_t len = 0;
    char *text = read_file(path, &len);
    json_reader r = {0};
    json_node *node;

    if (!text)
        return NULL;
    r.s = text;
    r.len = len;
    node = json_read_value(&r);
    json_skip_ws(&r);
    if (node && r.pos != r.len) {
        json_free(node);
        node = NULL;
    }
    free(text);
    return node;
}

/* ---- comparing a parsed tree with the expected JSON ---------------------- */

static const json_node *json_member(const json_node *object, const char *key)
{
    for (size_t i = 0; i < object->count; i++)
        if (object->key_lens[i] == strlen(key) &&
            memcmp(object->keys[i], key, object->key_lens[i]) == 0)
            return object->items[i];
    return NULL;
}

/* A scalar is written {"type": "<type>", "value": "<text>"}. */
static bool json_is_scalar(const json_node *node)
{
    const json_node *type, *value;

    if (node->kind != JSON_OBJECT || node->count != 2)
        return false;
    type = json_member(node, "type");
    value = json_member(node, "value");
    return type && value && type->kind == JSON_STRING &&
           value->kind == JSON_STRING;
}

/* Rewrites a date-time in RFC 3339 spelling: T separator, upper case T and
 * Z, so equal instants written with different separators compare equal. */
static void normalize_datetime(char *s)
{
    size_t n = strlen(s);

    if (n > 10 && s[4] == '-' && (s[10] == ' ' || s[10] == 't'))
        s[10] = 'T';
    if (n > 0 && s[n - 1] == 'z')
        s[n - 1] = 'Z';
}

static const char *expected_type_name(toml_type type)
{
    /* toml-test calls booleans "bool". */
    return type == TOML_BOOL ? "bool" : toml_type_name(type);
}

static bool compare_scalar(const toml_node *node, const json_node *expected,
                           char *reason, size_t reason_size)
{
    const char *type = json_member(expected, "type")->str;
    const json_node *value = json_member(expected, "value");

    if (strcmp(type, expected_type_name(node->type)) != 0) {
        snprintf(reason, reason_size, "type %s, expected %s",
                 expected_type_name(node->type), type);
        return false;
    }

    switch (node->type) {
    case TOML_STRING:
        if (node->u.str.len != value->len ||
            memcmp(node->u.str.ptr, value->str, value->len) != 0) {
            snprintf(reason, reason_size, "string \"%.*s\", expected \"%s\"",
                     (int)node->u.str.len, node->u.str.ptr, value->str);
            return false;
        }
        return true;
    case TOML_INTEGER: {
        char *end;
        long long expected_int = strtoll(value->str, &end, 10);

        if (*end != '\0' || expected_int != node->u.integer) {
            snprintf(reason, reason_size, "integer %lld, expected %s",
                     (long long)node->u.integer, value->str);
            return false;
        }
        return true;
    }
    case TOML_FLOAT: {
        const char *text = value->str;
        double expected_float;

        if (strcmp(text, "nan") == 0 || strcmp(text, "+nan") == 0 ||
            strcmp(text, "-nan") == 0) {
            if (!isnan(node->u.floating)) {
                snprintf(reason, reason_size, "float %g, expected nan",
                         node->u.floating);
                return false;
            }
            return true;
        }
        if (strcmp(text, "inf") == 0 || strcmp(text, "+inf") == 0)
            expected_float = HUGE_VAL;
        else if (strcmp(text, "-inf") == 0)
            expected_float = -HUGE_VAL;
        else
            expected_float = strtod(text, NULL);
        if (expected_float != node->u.floating) {
            snprintf(reason, reason_size, "float %.17g, expected %s",
                     node->u.floating, text);
            return false;
        }
        return true;
    }
    case TOML_BOOL:
        if (strcmp(value->str, node->u.boolean ? "true" : "false") != 0) {
            snprintf(reason, reason_size, "boolean %d, expected %s",
                     node->u.boolean, value->str);
            return false;
        }
        return true;
    case TOML_DATETIME:
    case TOML_DATETIME_LOCAL:
    case TOML_DATE_LOCAL:
    case TOML_TIME_LOCAL: {
        char *want = strdup(value->str);
        char *got = strndup(node->u.str.ptr, node->u.str.len);
        bool same = want && got;

        if (same) {
            normalize_datetime(want);
            normalize_datetime(got);
            same = strcmp(want, got) == 0;
            if (!same)
                snprintf(reason, reason_size, "date-time %s, expected %s", got,
                         want);
        }
        free(want);
        free(got);
        return same;
    }
    default:
        snprintf(reason, reason_size, "unexpected node type %s",
                 toml_type_name(node->type));
        return false;
    }
}

/* Compares recursively; on a mismatch writes the key path and the reason. */
static bool compare_tree(const toml_node *node, const json_node *expected,
                         char *path, size_t path_size, char *reason,
                         size_t reason_size)
{
    size_t path_len = strlen(path);

    if (json_is_scalar(expected))
        return compare_scalar(node, expected, reason, reason_size);

    if (expected->kind == JSON_ARRAY) {
        if (node->type != TOML_ARRAY) {
            snprintf(reason, reason_size, "%s, expected an array",
                     toml_type_name(node->type));
            return false;
        }
        if (node->u.array.len != expected->count) {
            snprintf(reason, reason_size, "array of %zu items, expected %zu",
                     node->u.array.len, expected->count);
            return false;
        }
        for (size_t i = 0; i < expected->count; i++) {
            snprintf(path + path_len, path_size - path_len, "[%zu]", i);
            if (!compare_tree(node->u.array.items[i], expected->items[i], path,
                              path_size, reason, reason_size))
                return false;
            path[path_len] = '\0';
        }
        return true;
    }

    if (expected->kind != JSON_OBJECT) {
        snprintf(reason, reason_size, "malformed expected JSON");
        return false;
    }
    if (node->type != TOML_TABLE) {
        snprintf(reason, reason_size, "%s, expected a table",
                 toml_type_name(node->type));
        return false;
    }
    if (node->u.table.len != expected->count) {
        snprintf(reason, reason_size, "table of %zu keys, expected %zu",
                 node->u.table.len, expected->count);
        return false;
    }
    for (size_t i = 0; i < expected->count; i++) {
        const toml_kv *kv = NULL;

        for (size_t k = 0; k < node->u.table.len; k++) {
            const toml_kv *candidate = &node->u.table.items[k];

            if (candidate->key_len == expected->key_lens[i] &&
                memcmp(candidate->key, expected->keys[i], candidate->key_len) ==
                    0)
                kv = candidate;
        }
        snprintf(path + path_len, path_size - path_len, ".%s",
                 expected->keys[i]);
        if (!kv) {
            snprintf(reason, reason_size, "key missing");
            return false;
        }
        if (!compare_tree(kv->value, expected->items[i], path, path_size,
                          reason, reason_size))
            return false;
        path[path_len] = '\0';
    }
    return true;
}

/* ---- the toml-test conformance cases ------------------------------------- */

/* Finds testdata/toml under the shared directory: AGORA_SHARED_DIR, set by
 * CTest, or the shared folder next to the source tree. */
static bool find_suite(char *out, size_t out_size)
{
    const char *shared = getenv("AGORA_SHARED_DIR");
    char list[4096];
    FILE *probe;

    if (shared && *shared) {
        snprintf(out, out_size, "%s/testdata/toml", shared);
    } else {
        const char *source = __FILE__;
        const char *cut = strstr(source, "/tests/unit/");

        if (!cut)
            return false;
        snprintf(out, out_size, "%.*s/../shared/testdata/toml",
                 (int)(cut - source), source);
    }
    if (snprintf(list, sizeof list, "%s/files-toml-1.0.0", out) >=
        (int)sizeof list)
        return false;
    probe = fopen(list, "r");
    if (!probe)
        return false;
    fclose(probe);
    return true;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool run_valid_case(const char *suite, const char *name)
{
    char toml_path[4096], json_path[4096], path[1024] = "", reason[1024] = "";
    toml_error err;
    toml_node *root;
    json_node *expected;
    bool ok;

    if (snprintf(toml_path, sizeof toml_path, "%s/%s", suite, name) >=
            (int)sizeof toml_path ||
        snprintf(json_path, sizeof json_path, "%s/%.*s.json", suite,
                 (int)(strlen(name) - 5), name) >= (int)sizeof json_path) {
        printf("FAIL %s: path too long\n", name);
        return false;
    }
    root = toml_parse_file(toml_path, &err);
    if (!root) {
        printf("FAIL %s: rejected: %s\n", name, err.message);
        return false;
    }
    expected = json_read_file(json_path);
    if (!expected) {
        printf("FAIL %s: cannot read the expected JSON %s\n", name, json_path);
        toml_free(root);
        return false;
    }
    ok = compare_tree(root, expected, path, sizeof path, reason, sizeof reason);
    if (!ok)
        printf("FAIL %s: at %s: %s\n", name, path[0] ? path : "(root)", reason);
    json_free(expected);
    toml_free(root);
    return ok;
}

static bool run_invalid_case(const char *suite, const char *name)
{
    char toml_path[4096];
    toml_error err;
    toml_node *root;

    if (snprintf(toml_path, sizeof toml_path, "%s/%s", suite, name) >=
        (int)sizeof toml_path) {
        printf("FAIL %s: path too long\n", name);
        return false;
    }
    root = toml_parse_file(toml_path, &err);
    if (root) {
        printf("FAIL %s: accepted an invalid document\n", name);
        toml_free(root);
        return false;
    }
    if (err.line == 0) {
        printf("FAIL %s: rejected without a position: %s\n", name, err.message);
        return false;
    }
    return true;
}

static void toml_conformance_suite(void **state)
{
    char suite[4096], list_path[4200], line[1024];
    FILE *list;
    int valid_pass = 0, valid_fail = 0, invalid_pass = 0, invalid_fail = 0;

    (void)state;
    if (!find_suite(suite, sizeof suite)) {
        printf("SKIP toml conformance: testdata/toml/files-toml-1.0.0 not "
               "found; set AGORA_SHARED_DIR to the "
               "shared directory that contains it\n");
        skip();
    }
    assert_true(snprintf(list_path, sizeof list_path, "%s/files-toml-1.0.0",
                         suite) < (int)sizeof list_path);
    list = fopen(list_path, "r");
    assert_non_null(list);

    /* The list names .toml inputs and .json results; each .toml is a case. */
    while (fgets(line, sizeof line, list)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!ends_with(line, ".toml"))
            continue;
        if (strncmp(line, "valid/", 6) == 0) {
            if (run_valid_case(suite, line))
                valid_pass++;
            else
                valid_fail++;
        } else if (strncmp(line, "invalid/", 8) == 0) {
            if (run_invalid_case(suite, line))
                invalid_pass++;
            else
                invalid_fail++;
        }
    }
    fclose(list);

    printf("toml conformance: valid %d passed, %d failed; invalid %d passed, "
           "%d failed\n",
           valid_pass, valid_fail, invalid_pass, invalid_fail);
    assert_true(valid_pass > 0);
    assert_true(invalid_pass > 0);
    assert_int_equal(valid_fail, 0);
    assert_int_equal(invalid_fail, 0);
}

/* ---- positions and messages ---------------------------------------------- */

static toml_node *parse_text(const char *text, toml_error *err)
{
    return toml_parse(text, strlen(text), err);
}

static const toml_node *get_value(const toml_node *table, const char *key)
{
    const toml_kv *kv = toml_table_get(table, key);

    assert_non_null(kv);
    return kv->value;
}

static void toml_duplicate_key_message(void **state)
{
    const char *text = "name = \"movies\"\n"
                       "# comment\n"
                       "[source]\n"
                       "path = \"a.json\"\n"
                       "type = \"json\"\n"
                       "  path = \"b.json\"\n";
    toml_error err;
    toml_node *root = parse_text(text, &err);

    (void)state;
    assert_null(root);
    assert_int_equal(err.line, 6);
    assert_int_equal(err.column, 3);
    assert_string_equal(err.message, "line 6, column 3: duplicate key \"path\" "
                                     "(first defined at line 4, column 1)");
}

static void toml_duplicate_dotted_key_message(void **state)
{
    const char *text = "[sink]\n"
                       "options.path = 1\n"
                       "options . \"path\" = 2\n";
    toml_error err;
    toml_node *root = parse_text(text, &err);

    (void)state;
    assert_null(root);
    assert_int_equal(err.line, 3);
    assert_int_equal(err.column, 11);
    assert_string_equal(err.message,
                        "line 3, column 11: duplicate key \"path\" (first "
                        "defined at line 2, column 9)");
}

static void toml_duplicate_table_message(void **state)
{
    const char *text = "[worker]\n"
                       "health_port = 8080\n"
                       "\n"
                       "  [worker]\n";
    toml_error err;
    toml_node *root = parse_text(text, &err);

    (void)state;
    assert_null(root);
    assert_int_equal(err.line, 4);
    assert_int_equal(err.column, 3);
    assert_string_equal(err.message,
                        "line 4, column 3: duplicate table [worker] (first "
                        "defined at line 1, column 1)");
}

static void toml_unterminated_string_position(void **state)
{
    const char *text = "a = 1\n"
                       "b = \"abc\n"
                       "c = 2\n";
    toml_error err;
    toml_node *root = parse_text(text, &err);

    (void)state;
    assert_null(root);
    assert_int_equal(err.line, 2);
    assert_int_equal(err.column, 5);
    assert_non_null(
        strstr(err.message, "line 2, column 5: unterminated string"));
}

static void toml_unterminated_multiline_position(void **state)
{
    const char *text = "x = 1\n"
                       "query = '''\n"
                       "select 1\n";
    toml_error err;
    toml_node *root = parse_text(text, &err);

    (void)state;
    assert_null(root);
    assert_int_equal(err.line, 2);
    assert_int_equal(err.column, 9);
    assert_non_null(strstr(err.message, "unterminated string"));
}

static void toml_bad_value_position(void **state)
{
    const char *text = "x = 1\n"
                       "\ty = yes\n";
    toml_error err;
    toml_node *root = parse_text(text, &err);

    (void)state;
    assert_null(root);
    assert_int_equal(err.line, 2);
    assert_int_equal(err.column, 6);
    assert_non_null(
        strstr(err.message, "line 2, column 6: invalid value \"yes\""));
}

static void toml_bad_number_position(void **state)
{
    const char *text = "[worker]\n"
                       "health_port = 80_80_\n";
    toml_error err;
    toml_node *root = parse_text(text, &err);

    (void)state;
    assert_null(root);
    assert_int_equal(err.line, 2);
    assert_int_equal(err.column, 15);
    assert_non_null(strstr(err.message, "invalid number \"80_80_\""));
}

static void toml_missing_value_position(void **state)
{
    const char *text = "key =   # nothing\n";
    toml_error err;
    toml_node *root = parse_text(text, &err);

    (void)state;
    assert_null(root);
    assert_int_equal(err.line, 1);
    assert_int_equal(err.column, 9);
    assert_non_null(strstr(err.message, "missing value"));
}

static void toml_invalid_utf8_position(void **state)
{
    const char *text = "a = 1\n"
                       "b = \"x\xff\"\n";
    toml_error err;
    toml_node *root = parse_text(text, &err);

    (void)state;
    assert_null(root);
    assert_int_equal(err.line, 2);
    assert_int_equal(err.column, 7);
    assert_non_null(strstr(err.message, "UTF-8"));
}

static void toml_node_positions(void **state)
{
    const char *text = "format = \"agora/v1\"\n"          /* line 1 */
                       "\n"                               /* line 2 */
                       "[pipelines.movies]\n"             /* line 3 */
                       "  source = { type = \"json\" }\n" /* line 4 */
                       "\n"                               /* line 5 */
                       "[[pipelines.movies.sinks]]\n"     /* line 6 */
                       "type = \"jsonl\"\n"               /* line 7 */
                       "[[pipelines.movies.sinks]]\n"     /* line 8 */
                       "type = [ 1,\n"                    /* line 9 */
                       "   2 ]\n";                        /* line 10 */
    toml_error err;
    toml_node *root = parse_text(text, &err);
    const toml_kv *kv;
    const toml_node *movies, *source, *sinks, *second;

    (void)state;
    assert_non_null(root);

    kv = toml_table_get(root, "format");
    assert_non_null(kv);
    assert_int_equal(kv->line, 1);
    assert_int_equal(kv->column, 1);
    assert_int_equal(kv->value->line, 1);
    assert_int_equal(kv->value->column, 10);

    movies = get_value(get_value(root, "pipelines"), "movies");
    assert_int_equal(movies->type, TOML_TABLE);
    assert_int_equal(movies->line, 3);
    assert_int_equal(movies->column, 1);

    kv = toml_table_get(movies, "source");
    assert_non_null(kv);
    assert_int_equal(kv->line, 4);
    assert_int_equal(kv->column, 3);
    source = kv->value;
    assert_int_equal(source->line, 4);
    assert_int_equal(source->column, 12);
    kv = toml_table_get(source, "type");
    assert_non_null(kv);
    assert_int_equal(kv->line, 4);
    assert_int_equal(kv->column, 14);

    sinks = get_value(movies, "sinks");
    assert_int_equal(sinks->type, TOML_ARRAY);
    assert_int_equal(sinks->u.array.len, 2);
    assert_int_equal(sinks->u.array.items[0]->line, 6);
    second = sinks->u.array.items[1];
    assert_int_equal(second->line, 8);
    assert_int_equal(second->column, 1);
    kv = toml_table_get(second, "type");
    assert_non_null(kv);
    assert_int_equal(kv->line, 9);
    assert_int_equal(kv->value->type, TOML_ARRAY);
    assert_int_equal(kv->value->u.array.items[1]->line, 10);
    assert_int_equal(kv->value->u.array.items[1]->column, 4);
    toml_free(root);
}

/* Columns count bytes: "é" is two bytes in UTF-8. */
static void toml_column_counts_bytes(void **state)
{
    const char *text = "\"\xc3\xa9\" = 1\n";
    toml_error err;
    toml_node *root = parse_text(text, &err);
    const toml_kv *kv;

    (void)state;
    assert_non_null(root);
    kv = toml_table_get(root, "\xc3\xa9");
    assert_non_null(kv);
    assert_int_equal(kv->column, 1);
    assert_int_equal(kv->value->column, 8);
    toml_free(root);
}

static void toml_crlf_lines(void **state)
{
    const char *text = "a = 1\r\n"
                       "s = \"\"\"\r\n"
                       "one\r\n"
                       "two\"\"\"\r\n"
                       "b = 2\r\n";
    toml_error err;
    toml_node *root = parse_text(text, &err);
    const toml_kv *kv;

    (void)state;
    assert_non_null(root);
    kv = toml_table_get(root, "s");
    assert_non_null(kv);
    assert_int_equal(kv->value->u.str.len, 7);
    assert_memory_equal(kv->value->u.str.ptr, "one\ntwo", 7);
    kv = toml_table_get(root, "b");
    assert_non_null(kv);
    assert_int_equal(kv->line, 5);
    assert_int_equal(kv->column, 1);
    toml_free(root);
}

static void toml_bare_carriage_return_rejected(void **state)
{
    const char *text = "a = 1\rb = 2\n";
    toml_error err;
    toml_node *root = parse_text(text, &err);

    (void)state;
    assert_null(root);
    assert_int_equal(err.line, 1);
    assert_int_equal(err.column, 6);
}

static void toml_integer_limits(void **state)
{
    toml_error err;
    toml_node *root = parse_text("max = 9223372036854775807\n"
                                 "min = -9223372036854775808\n"
                                 "hex = 0x7fff_ffff_ffff_ffff\n",
                                 &err);

    (void)state;
    assert_non_null(root);
    assert_true(get_value(root, "max")->u.integer == INT64_MAX);
    assert_true(get_value(root, "min")->u.integer == INT64_MIN);
    assert_true(get_value(root, "hex")->u.integer == INT64_MAX);
    toml_free(root);

    assert_null(parse_text("over = 9223372036854775808\n", &err));
    assert_int_equal(err.column, 8);
    assert_null(parse_text("under = -9223372036854775809\n", &err));
    assert_null(parse_text("hex = 0x8000000000000000\n", &err));
}

static void toml_datetime_normalized(void **state)
{
    toml_error err;
    toml_node *root = parse_text("a = 1979-05-27 07:32:00z\n"
                                 "b = 1979-05-27t07:32:00.5\n",
                                 &err);
    const toml_node *a, *b;

    (void)state;
    assert_non_null(root);
    a = get_value(root, "a");
    assert_int_equal(a->type, TOML_DATETIME);
    assert_string_equal(a->u.str.ptr, "1979-05-27T07:32:00Z");
    b = get_value(root, "b");
    assert_int_equal(b->type, TOML_DATETIME_LOCAL);
    assert_string_equal(b->u.str.ptr, "1979-05-27T07:32:00.5");
    toml_free(root);
}

static char *repeat(const char *prefix, const char *unit, int count,
                    const char *suffix)
{
    size_t unit_len = strlen(unit);
    size_t len = strlen(prefix) + unit_len * (size_t)count + strlen(suffix) + 1;
    char *text = malloc(len);
    char *end;

    assert_non_null(text);
    end = stpcpy(text, prefix);
    for (int i = 0; i < count; i++) {
        memcpy(end, unit, unit_len);
        end += unit_len;
    }
    strcpy(end, suffix);
    return text;
}

/* The root is depth 0, so a = [...] nested 128 times reaches depth 128.
 * Scalars inside the deepest array do not count. */
static void toml_nesting_limit(void **state)
{
    char *opens, *text;
    toml_error err;
    toml_node *root;

    (void)state;
    opens = repeat("a = ", "[", 128, "1");
    text = repeat(opens, "]", 128, "\n");
    root = parse_text(text, &err);
    assert_non_null(root);
    toml_free(root);
    free(opens);
    free(text);

    opens = repeat("a = ", "[", 129, "");
    text = repeat(opens, "]", 129, "\n");
    root = parse_text(text, &err);
    assert_null(root);
    assert_non_null(strstr(err.message, "nested more than 128 levels"));
    free(opens);
    free(text);

    opens = repeat("a = ", "{b=", 100000, "1");
    text = repeat(opens, "}", 100000, "\n");
    root = parse_text(text, &err);
    assert_null(root);
    assert_non_null(strstr(err.message, "nested more than 128 levels"));
    free(opens);
    free(text);

    text = repeat("a", ".a", 1000, " = 1\n");
    root = parse_text(text, &err);
    assert_null(root);
    free(text);

    text = repeat("[a", ".a", 1000, "]\n");
    root = parse_text(text, &err);
    assert_null(root);
    free(text);
}

static void toml_large_table(void **state)
{
    const int count = 100000;
    size_t cap = (size_t)count * 32;
    char *text = malloc(cap);
    size_t len = 0;
    toml_error err;
    toml_node *root;
    const toml_kv *kv;

    (void)state;
    assert_non_null(text);
    for (int i = 0; i < count; i++)
        len +=
            (size_t)snprintf(text + len, cap - len, "key%d = %d\n", i, i * 3);
    root = toml_parse(text, len, &err);
    assert_non_null(root);
    assert_int_equal(root->u.table.len, count);
    kv = toml_table_get(root, "key77777");
    assert_non_null(kv);
    assert_int_equal(kv->value->u.integer, 77777 * 3);
    assert_int_equal(kv->line, 77778);
    assert_null(toml_table_get(root, "key100000"));
    toml_free(root);

    /* A duplicate among many keys is still found. */
    len += (size_t)snprintf(text + len, cap - len, "key4242 = 0\n");
    root = toml_parse(text, len, &err);
    assert_null(root);
    assert_int_equal(err.line, count + 1);
    assert_non_null(
        strstr(err.message, "first defined at line 4243, column 1"));
    free(text);
}

static void toml_parse_file_missing(void **state)
{
    toml_error err;
    toml_node *root =
        toml_parse_file("/nonexistent/agora/pipelines.toml", &err);

    (void)state;
    assert_null(root);
    assert_int_equal(err.line, 0);
    assert_int_equal(err.column, 0);
    assert_non_null(strstr(err.message, "/nonexistent/agora/pipelines.toml"));
}

static void toml_free_accepts_null(void **state)
{
    (void)state;
    toml_free(NULL);
    assert_null(toml_table_get(NULL, "a"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(toml_conformance_suite),
        cmocka_unit_test(toml_duplicate_key_message),
        cmocka_unit_test(toml_duplicate_dotted_key_message),
        cmocka_unit_test(toml_duplicate_table_message),
        cmocka_unit_test(toml_unterminated_string_position),
        cmocka_unit_test(toml_unterminated_multiline_position),
        cmocka_unit_test(toml_bad_value_position),
        cmocka_unit_test(toml_bad_number_position),
        cmocka_unit_test(toml_missing_value_position),
        cmocka_unit_test(toml_invalid_utf8_position),
        cmocka_unit_test(toml_node_positions),
        cmocka_unit_test(toml_column_counts_bytes),
        cmocka_unit_test(toml_crlf_lines),
        cmocka_unit_test(toml_bare_carriage_return_rejected),
        cmocka_unit_test(toml_integer_limits),
        cmocka_unit_test(toml_datetime_normalized),
        cmocka_unit_test(toml_nesting_limit),
        cmocka_unit_test(toml_large_table),
        cmocka_unit_test(toml_parse_file_missing),
        cmocka_unit_test(toml_free_accepts_null),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
