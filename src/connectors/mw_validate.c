/*
 * The `validate` middleware: checks that required fields are present and
 * not null and that fields have the configured types. A record that fails
 * goes to the DLQ with a message naming every field at fault.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/connectors.h"
#include "connectors/mw_util.h"

/* A set of agora_type values as bits. */
#define TYPE_BIT(t) (1u << (t))

typedef struct type_name {
    const char *name;
    unsigned mask;
} type_name;

/* "float" accepts ints too because JSON writers often print 7.0 as 7. */
static const type_name type_names[] = {
    {"string", TYPE_BIT(AGORA_STRING)},
    {"int", TYPE_BIT(AGORA_INT)},
    {"float", TYPE_BIT(AGORA_DOUBLE) | TYPE_BIT(AGORA_INT)},
    {"number", TYPE_BIT(AGORA_DOUBLE) | TYPE_BIT(AGORA_INT)},
    {"bool", TYPE_BIT(AGORA_BOOL)},
    {"array", TYPE_BIT(AGORA_ARRAY)},
    {"object", TYPE_BIT(AGORA_OBJECT)},
    {"null", TYPE_BIT(AGORA_NULL)},
};

typedef struct type_rule {
    char *field;
    size_t field_len;
    const char *type; /* one of type_names */
    unsigned mask;
    bool required;
} type_rule;

typedef struct validate_state {
    char **required;
    size_t *required_len;
    size_t required_count;
    type_rule *rules;
    size_t rule_count;
    bool allow_null;
} validate_state;

static void validate_state_free(validate_state *st)
{
    if (st == NULL)
        return;
    for (size_t i = 0; i < st->required_count; i++)
        free(st->required[i]);
    for (size_t i = 0; i < st->rule_count; i++)
        free(st->rules[i].field);
    free(st->required);
    free(st->required_len);
    free(st->rules);
    free(st);
}

/* Appends "; " and a formatted problem to msg, which contains len bytes. */
static void add_problem(char *msg, size_t size, size_t *len, const char *fmt,
                        ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static void add_problem(char *msg, size_t size, size_t *len, const char *fmt,
                        ...)
{
    va_list ap;
    int n;

    if (*len + 3 >= size)
        return;
    if (*len > 0) {
        memcpy(msg + *len, "; ", 3);
        *len += 2;
    }
    va_start(ap, fmt);
    n = vsnprintf(msg + *len, size - *len, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len += (size_t)n < size - *len ? (size_t)n : size - *len - 1;
}

static agora_verdict validate_process(void *state, agora_value **record,
                                      agora_arena *arena, agora_error *err)
{
    const validate_state *st = state;
    const agora_value *rec = *record;
    char msg[AGORA_ERROR_MESSAGE_MAX];
    char text[MW_VALUE_TEXT_MAX];
    size_t len = 0;

    if (rec == NULL || rec->type != AGORA_OBJECT) {
        agora_error_set(err, AGORA_EMIDDLEWARE,
                        "record must be an object, got %s",
                        mw_format_value(rec, text, sizeof(text)));
        return AGORA_FAIL;
    }

    msg[0] = '\0';
    for (size_t i = 0; i < st->required_count; i++) {
        const agora_value *v =
            agora_object_get(rec, st->required[i], st->required_len[i]);

        if (v == NULL)
            add_problem(msg, sizeof(msg), &len, "field '%s' is missing",
                        st->required[i]);
        else if (v->type == AGORA_NULL)
            add_problem(msg, sizeof(msg), &len, "field '%s' is null",
                        st->required[i]);
    }
    for (size_t i = 0; i < st->rule_count; i++) {
        const type_rule *rule = &st->rules[i];
        const agora_value *v = agora_object_get(rec, rule->field, rule->field_len);

        /* Absent optional fields pass; a required one was reported above. */
        if (v == NULL || (rule->mask & TYPE_BIT(v->type)) != 0)
            continue;
        if (v->type == AGORA_NULL && (rule->required || st->allow_null))
            continue;
        if (v->type == AGORA_STRING || v->type == AGORA_INT ||
            v->type == AGORA_DOUBLE || v->type == AGORA_BOOL)
            add_problem(msg, sizeof(msg), &len, "field '%s' must be %s, got %s %s",
                        rule->field, rule->type, mw_type_name(v),
                        mw_format_value(v, text, sizeof(text)));
        else
            add_problem(msg, sizeof(msg), &len, "field '%s' must be %s, got %s",
                        rule->field, rule->type,
                        mw_format_value(v, text, sizeof(text)));
    }

    if (len == 0)
        return AGORA_KEEP;
    agora_error_set(err, AGORA_EMIDDLEWARE, "%s", msg);
    return AGORA_FAIL;
}

static int load_required(validate_state *st, const agora_value *opts,
                         agora_error *err)
{
    const agora_value *list = agora_opt_value(opts, "required");
    size_t n;

    if (list == NULL)
        return 0;
    if (list->type != AGORA_ARRAY)
        return agora_error_set_key(err, AGORA_ECONFIG, "required",
                                   "option 'required' must be an array of "
                                   "field names, got %s",
                                   mw_type_name(list));
    n = list->u.array.len;
    st->required = calloc(n + 1, sizeof(char *));
    st->required_len = calloc(n + 1, sizeof(size_t));
    if (st->required == NULL || st->required_len == NULL)
        return agora_error_set(err, AGORA_ENOMEM, "validate: out of memory");
    for (size_t i = 0; i < n; i++) {
        const agora_value *item = list->u.array.items[i];

        if (item->type != AGORA_STRING)
            return agora_error_set_key(err, AGORA_ECONFIG, "required",
                                       "option 'required' must list field "
                                       "names as strings; item %zu is %s",
                                       i + 1, mw_type_name(item));
        st->required[i] = strndup(item->u.string.ptr, item->u.string.len);
        if (st->required[i] == NULL)
            return agora_error_set(err, AGORA_ENOMEM, "validate: out of memory");
        st->required_len[i] = item->u.string.len;
        st->required_count++;
    }
    return 0;
}

static bool is_required(const validate_state *st, const char *field,
                        size_t len)
{
    for (size_t i = 0; i < st->required_count; i++) {
        if (st->required_len[i] == len && memcmp(st->required[i], field, len) == 0)
            return true;
    }
    return false;
}

static int load_types(validate_state *st, const agora_value *opts,
                      agora_error *err)
{
    const agora_value *table = agora_opt_value(opts, "types");
    size_t n;

    if (table == NULL)
        return 0;
    if (table->type != AGORA_OBJECT)
        return agora_error_set_key(err, AGORA_ECONFIG, "types",
                                   "option 'types' must be a table of field "
                                   "= \"type\", got %s",
                                   mw_type_name(table));
    n = table->u.object.len;
    st->rules = calloc(n + 1, sizeof(type_rule));
    if (st->rules == NULL)
        return agora_error_set(err, AGORA_ENOMEM, "validate: out of memory");
    for (size_t i = 0; i < n; i++) {
        const agora_member *m = &table->u.object.members[i];
        type_rule *rule = &st->rules[st->rule_count];
        size_t k;

        if (m->value->type != AGORA_STRING)
            return agora_error_set_key(err, AGORA_ECONFIG, "types",
                                       "types.'%s' must be a type name such "
                                       "as \"int\", got %s",
                                       m->key.ptr, mw_type_name(m->value));
        for (k = 0; k < sizeof(type_names) / sizeof(type_names[0]); k++) {
            if (strcmp(type_names[k].name, m->value->u.string.ptr) == 0)
                break;
        }
        if (k == sizeof(type_names) / sizeof(type_names[0]))
            return agora_error_set_key(
                err, AGORA_ECONFIG, "types",
                "unknown type \"%s\" for field '%s' in 'types'; use one of "
                "string, int, float, number, bool, array, object, null",
                m->value->u.string.ptr, m->key.ptr);
        rule->field = strndup(m->key.ptr, m->key.len);
        if (rule->field == NULL)
            return agora_error_set(err, AGORA_ENOMEM, "validate: out of memory");
        rule->field_len = m->key.len;
        rule->type = type_names[k].name;
        rule->mask = type_names[k].mask;
        rule->required = is_required(st, m->key.ptr, m->key.len);
        st->rule_count++;
    }
    return 0;
}

static void validate_destroy(agora_middleware *mw)
{
    if (mw == NULL)
        return;
    validate_state_free(mw->state);
    mw_free(mw);
}

static agora_middleware *validate_create(const agora_value *options,
                                         const agora_component_context *ctx,
                                         agora_error *err)
{
    validate_state *st;
    agora_middleware *mw = NULL;

    agora_error_clear(err);
    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        agora_error_set(err, AGORA_ENOMEM, "validate: out of memory");
        return NULL;
    }
    st->allow_null = agora_opt_bool(options, "allow_null", false, err);
    if (err != NULL && err->code != 0)
        goto fail;
    if (load_required(st, options, err) != 0 || load_types(st, options, err) != 0)
        goto fail;

    mw = mw_alloc(ctx, "validate");
    if (mw == NULL) {
        agora_error_set(err, AGORA_ENOMEM, "validate: out of memory");
        goto fail;
    }
    mw->state = st;
    mw->process = validate_process;
    mw->destroy = validate_destroy;
    return mw;

fail:
    validate_state_free(st);
    return NULL;
}

static const agora_option_spec validate_options[] = {
    {"required", AGORA_OPT_STRING_ARRAY, false, "[]",
     "fields that must be present and not null"},
    {"types", AGORA_OPT_TABLE, false, "{}",
     "field = type, where type is string, int, float, number, bool, array, "
     "object or null; float and number accept ints too"},
    {"allow_null", AGORA_OPT_BOOL, false, "false",
     "let a null value pass the type check of a field not listed in "
     "'required'"},
    {NULL, 0, false, NULL, NULL},
};

const agora_component_type agora_mw_validate_type = {
    .kind = AGORA_COMPONENT_MIDDLEWARE,
    .type = "validate",
    .summary = "reject records with missing fields or fields of the wrong type",
    .options = validate_options,
    .create_middleware = validate_create,
};
