/*
 * The `map` middleware: reshapes each record with up to six operations,
 * always applied in this order: rename, cast, set, drop, select, snake_case.
 *
 * The record is cloned once (a new member array sharing the unchanged
 * values) and every operation then edits that clone, so the input record
 * stays intact for the DLQ. New keys and values are built in the record's
 * arena; nothing in an output record points into the middleware's state.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/connectors.h"
#include "connectors/mw_util.h"

typedef enum cast_target { CAST_INT, CAST_FLOAT, CAST_STRING, CAST_BOOL } cast_target;

static const char *const cast_names[] = {"int", "float", "string", "bool"};

typedef struct rename_rule {
    agora_string from;
    agora_string to;
} rename_rule;

typedef struct cast_rule {
    agora_string field;
    cast_target target;
} cast_rule;

typedef struct set_rule {
    agora_string field;
    const agora_value *value; /* in map_state.config, copied per record */
} set_rule;

typedef struct name_list {
    agora_string *names;
    size_t count;
} name_list;

typedef struct map_state {
    agora_arena *config; /* every string and value of the rules below */
    rename_rule *renames;
    size_t rename_count;
    cast_rule *casts;
    size_t cast_count;
    set_rule *sets;
    size_t set_count;
    name_list drop;
    name_list select;
    bool snake_case;

    /*
     * Scratch space reused by every record, so a steady stream of records
     * allocates nothing here after the first. This is why one map instance
     * must not process records on two threads at once.
     */
    agora_string *scratch_keys; /* original key of each member */
    unsigned char *scratch_flags;
    size_t scratch_cap;
    uint32_t *slots; /* open-addressing table: member index + 1, 0 = empty */
    size_t slot_cap;
    agora_buf json; /* casting arrays and objects to string */

    /*
     * snake_case results of the last record whose keys needed a full pass.
     * Records of one source mostly repeat the same keys in the same order.
     * So a key equal to the cached key at its position reuses the cached
     * result. A record whose keys all match skips the collision check,
     * because the cached keys already passed it. to.ptr is NULL for a key
     * that stays as it is.
     */
    agora_arena *cache_arena;
    agora_string *cache_from;
    agora_string *cache_to;
    size_t cache_len;
    size_t cache_cap;
} map_state;

/* ---- Helpers ----------------------------------------------------------- */

static bool key_equal(const agora_string *a, const agora_string *b)
{
    return a->len == b->len && memcmp(a->ptr, b->ptr, a->len) == 0;
}

static bool list_has(const name_list *list, const agora_string *key)
{
    for (size_t i = 0; i < list->count; i++) {
        if (key_equal(&list->names[i], key))
            return true;
    }
    return false;
}

static int reserve_scratch(map_state *st, size_t members)
{
    if (members > st->scratch_cap) {
        size_t cap = members < 32 ? 32 : members * 2;
        agora_string *keys = realloc(st->scratch_keys, cap * sizeof(*keys));
        if (keys == NULL)
            return AGORA_ENOMEM;
        st->scratch_keys = keys;
        unsigned char *flags = realloc(st->scratch_flags, cap);
        if (flags == NULL)
            return AGORA_ENOMEM;
        st->scratch_flags = flags;
        st->scratch_cap = cap;
    }
    if (members * 2 > st->slot_cap) {
        size_t cap = 64;
        while (cap < members * 2)
            cap *= 2;
        uint32_t *slots = realloc(st->slots, cap * sizeof(*slots));
        if (slots == NULL)
            return AGORA_ENOMEM;
        st->slots = slots;
        st->slot_cap = cap;
    }
    return 0;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/*
 * Returns true when s is a decimal number: optional sign, digits with an
 * optional fraction (at least one digit overall), optional exponent.
 * Rejects what strtod would also take: hex, "inf", "nan".
 */
static bool is_decimal(const char *s, size_t len)
{
    size_t i = 0;
    size_t digits = 0;

    if (i < len && (s[i] == '+' || s[i] == '-'))
        i++;
    while (i < len && is_digit(s[i])) {
        i++;
        digits++;
    }
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && is_digit(s[i])) {
            i++;
            digits++;
        }
    }
    if (digits == 0)
        return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t exp_digits = 0;

        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        while (i < len && is_digit(s[i])) {
            i++;
            exp_digits++;
        }
        if (exp_digits == 0)
            return false;
    }
    return i == len;
}

static bool is_integer_text(const char *s, size_t len)
{
    size_t i = 0;

    if (i < len && (s[i] == '+' || s[i] == '-'))
        i++;
    if (i == len)
        return false;
    for (; i < len; i++) {
        if (!is_digit(s[i]))
            return false;
    }
    return true;
}

/* Converts d to int64 when it is a whole number in range. */
static bool double_to_int(double d, int64_t *out)
{
    /* -2^63 is representable and in range; 2^63 is not. */
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) ||
        trunc(d) != d)
        return false;
    *out = (int64_t)d;
    return true;
}

/* ---- Cast -------------------------------------------------------------- */

typedef enum cast_result { CAST_OK = 0, CAST_INVALID = 1, CAST_NOMEM = -1 } cast_result;

static cast_result make(agora_value **out, agora_value *v)
{
    *out = v;
    return v != NULL ? CAST_OK : CAST_NOMEM;
}

static cast_result cast_string_to(agora_arena *arena, const agora_string *s,
                                  cast_target target, agora_value **out)
{
    const char *p = s->ptr;
    size_t len = s->len;
    char buf[128];
    int64_t i;
    double d;

    while (len > 0 && is_space(p[0])) {
        p++;
        len--;
    }
    while (len > 0 && is_space(p[len - 1]))
        len--;
    if (len == 0)
        return make(out, agora_value_null(arena));

    if (target == CAST_BOOL) {
        if ((len == 4 && strncasecmp(p, "true", 4) == 0) || (len == 1 && p[0] == '1'))
            return make(out, agora_value_bool(arena, true));
        if ((len == 5 && strncasecmp(p, "false", 5) == 0) || (len == 1 && p[0] == '0'))
            return make(out, agora_value_bool(arena, false));
        return CAST_INVALID;
    }

    /* Numbers: strtoll/strtod need a NUL-terminated copy. */
    if (len >= sizeof(buf) || !is_decimal(p, len))
        return CAST_INVALID;
    memcpy(buf, p, len);
    buf[len] = '\0';
    errno = 0;
    if (target == CAST_INT && is_integer_text(p, len)) {
        i = strtoll(buf, NULL, 10);
        if (errno == ERANGE)
            return CAST_INVALID;
        return make(out, agora_value_int(arena, i));
    }
    d = strtod(buf, NULL);
    if (errno == ERANGE && isinf(d))
        return CAST_INVALID;
    if (target == CAST_FLOAT)
        return make(out, agora_value_double(arena, d));
    if (!double_to_int(d, &i))
        return CAST_INVALID;
    return make(out, agora_value_int(arena, i));
}

static cast_result cast_to_string(map_state *st, agora_arena *arena,
                                  const agora_value *in, agora_value **out)
{
    char text[40];
    int n;

    switch (in->type) {
    case AGORA_BOOL:
        return make(out, agora_value_string_ref(arena, in->u.boolean ? "true" : "false",
                                                in->u.boolean ? 4 : 5));
    case AGORA_INT:
        n = snprintf(text, sizeof(text), "%" PRId64, in->u.integer);
        return make(out, agora_value_string(arena, text, (size_t)n));
    case AGORA_DOUBLE:
        return make(out, agora_value_string(arena, text,
                                            agora_format_double(in->u.number, text)));
    default:
        /* Arrays and objects become their JSON text. */
        st->json.len = 0;
        if (agora_json_write(&st->json, in) != 0)
            return CAST_NOMEM;
        return make(out, agora_value_string(arena, st->json.data, st->json.len));
    }
}

/*
 * Converts in to target. Null stays null, a value already of the target
 * type is kept. Returns CAST_INVALID when the value has no faithful
 * conversion (text that is not a number, 12.5 to int, 7 to bool).
 */
static cast_result cast_value(map_state *st, agora_arena *arena,
                              const agora_value *in, cast_target target,
                              agora_value **out)
{
    int64_t i;

    if (in->type == AGORA_NULL) {
        *out = (agora_value *)in;
        return CAST_OK;
    }
    if (in->type == AGORA_STRING && target != CAST_STRING)
        return cast_string_to(arena, &in->u.string, target, out);

    switch (target) {
    case CAST_INT:
        if (in->type == AGORA_INT) {
            *out = (agora_value *)in;
            return CAST_OK;
        }
        if (in->type == AGORA_BOOL)
            return make(out, agora_value_int(arena, in->u.boolean ? 1 : 0));
        if (in->type == AGORA_DOUBLE && double_to_int(in->u.number, &i))
            return make(out, agora_value_int(arena, i));
        return CAST_INVALID;
    case CAST_FLOAT:
        if (in->type == AGORA_DOUBLE) {
            *out = (agora_value *)in;
            return CAST_OK;
        }
        if (in->type == AGORA_INT)
            return make(out, agora_value_double(arena, (double)in->u.integer));
        if (in->type == AGORA_BOOL)
            return make(out, agora_value_double(arena, in->u.boolean ? 1.0 : 0.0));
        return CAST_INVALID;
    case CAST_BOOL:
        if (in->type == AGORA_BOOL) {
            *out = (agora_value *)in;
            return CAST_OK;
        }
        if ((in->type == AGORA_INT && in->u.integer == 1) ||
            (in->type == AGORA_DOUBLE && in->u.number == 1.0))
            return make(out, agora_value_bool(arena, true));
        if ((in->type == AGORA_INT && in->u.integer == 0) ||
            (in->type == AGORA_DOUBLE && in->u.number == 0.0))
            return make(out, agora_value_bool(arena, false));
        return CAST_INVALID;
    case CAST_STRING:
        if (in->type == AGORA_STRING) {
            *out = (agora_value *)in;
            return CAST_OK;
        }
        return cast_to_string(st, arena, in, out);
    }
    return CAST_INVALID;
}

/* ---- snake_case -------------------------------------------------------- */

static bool is_upper(unsigned char c)
{
    return c >= 'A' && c <= 'Z';
}

static bool is_lower(unsigned char c)
{
    return c >= 'a' && c <= 'z';
}

/* Letters, digits and every byte of a non-ASCII UTF-8 character. */
static bool is_word(unsigned char c)
{
    return is_upper(c) || is_lower(c) || is_digit((char)c) || c >= 0x80;
}

static bool is_snake(const agora_string *key)
{
    const unsigned char *s = (const unsigned char *)key->ptr;

    if (key->len == 0 || s[0] == '_' || s[key->len - 1] == '_')
        return false;
    for (size_t i = 0; i < key->len; i++) {
        if (s[i] == '_') {
            if (s[i + 1] == '_')
                return false;
        } else if (!is_word(s[i]) || is_upper(s[i])) {
            return false;
        }
    }
    return true;
}

/*
 * Writes the snake_case form of key into out (room for 2 * len bytes) and
 * returns its length, 0 when the key has no letter or digit. Runs of other
 * characters become one '_'; an upper-case letter starts a new word after a
 * lower-case letter or digit, or before a lower-case letter when it ends a
 * run of capitals ("IMDBRating" -> "imdb_rating"); ASCII letters are
 * lowered; leading and trailing separators are dropped.
 */
static size_t snake_write(const agora_string *key, char *out)
{
    const unsigned char *s = (const unsigned char *)key->ptr;
    size_t n = 0;
    bool separate = false;

    for (size_t i = 0; i < key->len; i++) {
        unsigned char c = s[i];

        if (!is_word(c)) {
            separate = true;
            continue;
        }
        if (is_upper(c) && i > 0) {
            unsigned char prev = s[i - 1];
            bool next_lower = i + 1 < key->len && is_lower(s[i + 1]);

            if (is_lower(prev) || is_digit((char)prev) ||
                (is_upper(prev) && next_lower))
                separate = true;
        }
        if (separate && n > 0)
            out[n++] = '_';
        separate = false;
        out[n++] = is_upper(c) ? (char)(c - 'A' + 'a') : (char)c;
    }
    return n;
}

static uint32_t key_hash(const agora_string *key)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (size_t i = 0; i < key->len; i++) {
        h ^= (unsigned char)key->ptr[i];
        h *= 16777619u;
    }
    return h;
}

/* Remembers the keys of obj (before: orig, after: obj) for the next record. */
static void snake_cache_store(map_state *st, const agora_value *obj,
                              const agora_string *orig)
{
    const agora_member *m = obj->u.object.members;
    size_t len = obj->u.object.len;

    st->cache_len = 0;
    agora_arena_reset(st->cache_arena);
    if (len > st->cache_cap) {
        agora_string *from = realloc(st->cache_from, len * sizeof(*from));
        if (from == NULL)
            return;
        st->cache_from = from;
        agora_string *to = realloc(st->cache_to, len * sizeof(*to));
        if (to == NULL)
            return;
        st->cache_to = to;
        st->cache_cap = len;
    }
    for (size_t i = 0; i < len; i++) {
        char *from = agora_arena_strndup(st->cache_arena, orig[i].ptr, orig[i].len);
        char *to = NULL;

        if (m[i].key.ptr != orig[i].ptr)
            to = agora_arena_strndup(st->cache_arena, m[i].key.ptr, m[i].key.len);
        if (from == NULL || (m[i].key.ptr != orig[i].ptr && to == NULL))
            return; /* out of memory: the cache stays empty */
        st->cache_from[i] = (agora_string){from, orig[i].len};
        st->cache_to[i] = (agora_string){to, m[i].key.len};
    }
    st->cache_len = len;
}

/*
 * Renames every key of obj to snake_case. Fails when two keys end up equal
 * and at least one of them was changed. Keys that were already duplicates
 * in the input stay as they were.
 */
static agora_verdict apply_snake_case(map_state *st, agora_value *obj,
                                      agora_arena *arena, agora_error *err)
{
    agora_member *m = obj->u.object.members;
    size_t len = obj->u.object.len;
    bool all_cached = len == st->cache_len;
    size_t mask;

    if (reserve_scratch(st, len) != 0)
        goto nomem;
    for (size_t i = 0; i < len; i++) {
        st->scratch_keys[i] = m[i].key;
        if (i < st->cache_len && key_equal(&m[i].key, &st->cache_from[i])) {
            const agora_string *to = &st->cache_to[i];

            if (to->ptr == NULL)
                continue;
            char *copy = agora_arena_strndup(arena, to->ptr, to->len);
            if (copy == NULL)
                goto nomem;
            m[i].key.ptr = copy;
            m[i].key.len = to->len;
            continue;
        }
        all_cached = false;
        if (is_snake(&m[i].key))
            continue;

        char *out = agora_arena_alloc(arena, 2 * m[i].key.len + 1);
        if (out == NULL)
            goto nomem;
        size_t n = snake_write(&m[i].key, out);
        if (n == 0)
            continue; /* no letter or digit: keep the key as it is */
        out[n] = '\0';
        m[i].key.ptr = out;
        m[i].key.len = n;
    }
    if (all_cached)
        return AGORA_KEEP;

    mask = st->slot_cap - 1;
    memset(st->slots, 0, st->slot_cap * sizeof(uint32_t));
    for (size_t i = 0; i < len; i++) {
        size_t slot = key_hash(&m[i].key) & mask;

        while (st->slots[slot] != 0) {
            size_t j = st->slots[slot] - 1;

            if (key_equal(&m[j].key, &m[i].key) &&
                (m[i].key.ptr != st->scratch_keys[i].ptr ||
                 m[j].key.ptr != st->scratch_keys[j].ptr)) {
                agora_error_set(err, AGORA_EMIDDLEWARE,
                                "snake_case turns fields '%s' and '%s' into "
                                "the same key '%s'; rename or drop one of "
                                "them first",
                                st->scratch_keys[j].ptr, st->scratch_keys[i].ptr,
                                m[i].key.ptr);
                return AGORA_FAIL;
            }
            slot = (slot + 1) & mask;
        }
        st->slots[slot] = (uint32_t)(i + 1);
    }
    snake_cache_store(st, obj, st->scratch_keys);
    return AGORA_KEEP;

nomem:
    agora_error_set(err, AGORA_ENOMEM, "map: out of memory");
    return AGORA_FAIL;
}

/* ---- Operations -------------------------------------------------------- */

/*
 * Renames keys. Every rule matches the keys as they were before renaming, so
 * {a = "b", b = "a"} swaps two fields. A renamed field replaces a field that
 * already had the new name.
 */
static agora_verdict apply_rename(map_state *st, agora_value *obj,
                                  agora_arena *arena, agora_error *err)
{
    agora_member *m = obj->u.object.members;
    size_t len = obj->u.object.len;
    size_t kept = 0;

    if (reserve_scratch(st, len) != 0)
        goto nomem;
    size_t renamed = 0;

    for (size_t i = 0; i < len; i++) {
        st->scratch_flags[i] = 0;
        for (size_t r = 0; r < st->rename_count; r++) {
            if (!key_equal(&m[i].key, &st->renames[r].from))
                continue;
            char *key = agora_arena_strndup(arena, st->renames[r].to.ptr,
                                            st->renames[r].to.len);
            if (key == NULL)
                goto nomem;
            m[i].key.ptr = key;
            m[i].key.len = st->renames[r].to.len;
            st->scratch_flags[i] = 1;
            st->slots[renamed++] = (uint32_t)i;
            break;
        }
    }
    if (renamed == 0)
        return AGORA_KEEP;

    /* slots[0..renamed) lists the renamed members. */
    for (size_t i = 0; i < len; i++) {
        bool replaced = false;

        for (size_t r = 0; r < renamed && !st->scratch_flags[i]; r++) {
            if (key_equal(&m[st->slots[r]].key, &m[i].key)) {
                replaced = true;
                break;
            }
        }
        if (!replaced)
            m[kept++] = m[i];
    }
    obj->u.object.len = kept;
    return AGORA_KEEP;

nomem:
    agora_error_set(err, AGORA_ENOMEM, "map: out of memory");
    return AGORA_FAIL;
}

static agora_verdict apply_cast(map_state *st, agora_value *obj,
                                agora_arena *arena, agora_error *err)
{
    agora_member *m = obj->u.object.members;

    for (size_t c = 0; c < st->cast_count; c++) {
        const cast_rule *rule = &st->casts[c];

        for (size_t i = 0; i < obj->u.object.len; i++) {
            agora_value *out;
            cast_result rc;
            char text[MW_VALUE_TEXT_MAX];

            if (!key_equal(&m[i].key, &rule->field))
                continue;
            rc = cast_value(st, arena, m[i].value, rule->target, &out);
            if (rc == CAST_NOMEM) {
                agora_error_set(err, AGORA_ENOMEM, "map: out of memory");
                return AGORA_FAIL;
            }
            if (rc == CAST_INVALID) {
                agora_error_set(err, AGORA_EMIDDLEWARE,
                                "cannot cast field '%s' value %s to %s",
                                rule->field.ptr,
                                mw_format_value(m[i].value, text, sizeof(text)),
                                cast_names[rule->target]);
                return AGORA_FAIL;
            }
            m[i].value = out;
        }
    }
    return AGORA_KEEP;
}

static agora_verdict apply_set(map_state *st, agora_value *obj,
                               agora_arena *arena, agora_error *err)
{
    for (size_t s = 0; s < st->set_count; s++) {
        const set_rule *rule = &st->sets[s];
        agora_value *value = agora_value_copy(arena, rule->value);
        bool found = false;

        if (value == NULL)
            goto nomem;
        for (size_t i = 0; i < obj->u.object.len; i++) {
            if (key_equal(&obj->u.object.members[i].key, &rule->field)) {
                obj->u.object.members[i].value = value;
                found = true;
            }
        }
        if (!found && agora_object_push(arena, obj, rule->field.ptr,
                                        rule->field.len, value) != 0)
            goto nomem;
    }
    return AGORA_KEEP;

nomem:
    agora_error_set(err, AGORA_ENOMEM, "map: out of memory");
    return AGORA_FAIL;
}

static void apply_drop(const map_state *st, agora_value *obj)
{
    agora_member *m = obj->u.object.members;
    size_t kept = 0;

    for (size_t i = 0; i < obj->u.object.len; i++) {
        if (!list_has(&st->drop, &m[i].key))
            m[kept++] = m[i];
    }
    obj->u.object.len = kept;
}

/* Keeps the selected fields in select order; absent ones are skipped. */
static agora_verdict apply_select(const map_state *st, agora_value *obj,
                                  agora_arena *arena, agora_error *err)
{
    const agora_member *m = obj->u.object.members;
    agora_member *out;
    size_t n = 0;

    out = agora_arena_alloc(arena, (st->select.count + 1) * sizeof(*out));
    if (out == NULL) {
        agora_error_set(err, AGORA_ENOMEM, "map: out of memory");
        return AGORA_FAIL;
    }
    for (size_t s = 0; s < st->select.count; s++) {
        /* The last member wins, as agora_object_get does for duplicates. */
        for (size_t i = obj->u.object.len; i-- > 0;) {
            if (key_equal(&m[i].key, &st->select.names[s])) {
                out[n++] = m[i];
                break;
            }
        }
    }
    obj->u.object.members = out;
    obj->u.object.len = n;
    obj->u.object.cap = st->select.count + 1;
    return AGORA_KEEP;
}

static agora_verdict map_process(void *state, agora_value **record,
                                 agora_arena *arena, agora_error *err)
{
    map_state *st = state;
    agora_value *obj;
    char text[MW_VALUE_TEXT_MAX];

    if (*record == NULL || (*record)->type != AGORA_OBJECT) {
        agora_error_set(err, AGORA_EMIDDLEWARE,
                        "record must be an object, got %s",
                        mw_format_value(*record, text, sizeof(text)));
        return AGORA_FAIL;
    }
    obj = agora_object_clone(arena, *record, st->set_count);
    if (obj == NULL) {
        agora_error_set(err, AGORA_ENOMEM, "map: out of memory");
        return AGORA_FAIL;
    }

    if (st->rename_count > 0 && apply_rename(st, obj, arena, err) != AGORA_KEEP)
        return AGORA_FAIL;
    if (st->cast_count > 0 && apply_cast(st, obj, arena, err) != AGORA_KEEP)
        return AGORA_FAIL;
    if (st->set_count > 0 && apply_set(st, obj, arena, err) != AGORA_KEEP)
        return AGORA_FAIL;
    if (st->drop.count > 0)
        apply_drop(st, obj);
    if (st->select.count > 0 && apply_select(st, obj, arena, err) != AGORA_KEEP)
        return AGORA_FAIL;
    if (st->snake_case && apply_snake_case(st, obj, arena, err) != AGORA_KEEP)
        return AGORA_FAIL;

    *record = obj;
    return AGORA_KEEP;
}

/* ---- Configuration ----------------------------------------------------- */

static void map_state_free(map_state *st)
{
    if (st == NULL)
        return;
    agora_arena_free(st->config);
    free(st->renames);
    free(st->casts);
    free(st->sets);
    free(st->drop.names);
    free(st->select.names);
    free(st->scratch_keys);
    free(st->scratch_flags);
    free(st->slots);
    agora_buf_free(&st->json);
    agora_arena_free(st->cache_arena);
    free(st->cache_from);
    free(st->cache_to);
    free(st);
}

static int copy_string(map_state *st, const agora_string *in, agora_string *out)
{
    char *copy = agora_arena_strndup(st->config, in->ptr, in->len);

    if (copy == NULL)
        return AGORA_ENOMEM;
    out->ptr = copy;
    out->len = in->len;
    return 0;
}

/* Stores the table option key in *table (NULL when absent). Returns 0 or
 * AGORA_ECONFIG when the option is not a table. */
static int table_option(const agora_value *opts, const char *key,
                        const char *example, const agora_value **table,
                        agora_error *err)
{
    *table = agora_opt_value(opts, key);
    if (*table != NULL && (*table)->type != AGORA_OBJECT)
        return agora_error_set_key(err, AGORA_ECONFIG, key,
                                   "option '%s' must be a table such as %s, "
                                   "got %s",
                                   key, example, mw_type_name(*table));
    return 0;
}

static int load_names(map_state *st, const agora_value *opts, const char *key,
                      name_list *list, agora_error *err)
{
    const agora_value *array = agora_opt_value(opts, key);

    if (array == NULL)
        return 0;
    if (array->type != AGORA_ARRAY)
        return agora_error_set_key(err, AGORA_ECONFIG, key,
                                   "option '%s' must be an array of field "
                                   "names, got %s",
                                   key, mw_type_name(array));
    list->names = calloc(array->u.array.len + 1, sizeof(agora_string));
    if (list->names == NULL)
        return agora_error_set(err, AGORA_ENOMEM, "map: out of memory");
    for (size_t i = 0; i < array->u.array.len; i++) {
        const agora_value *item = array->u.array.items[i];

        if (item->type != AGORA_STRING)
            return agora_error_set_key(err, AGORA_ECONFIG, key,
                                       "option '%s' must list field names as "
                                       "strings; item %zu is %s",
                                       key, i + 1, mw_type_name(item));
        if (copy_string(st, &item->u.string, &list->names[list->count]) != 0)
            return agora_error_set(err, AGORA_ENOMEM, "map: out of memory");
        list->count++;
    }
    return 0;
}

static int load_renames(map_state *st, const agora_value *opts, agora_error *err)
{
    const agora_value *table;
    int rc = table_option(opts, "rename", "{ \"IMDB Rating\" = \"rating\" }", &table, err);

    if (rc != 0 || table == NULL)
        return rc;
    st->renames = calloc(table->u.object.len + 1, sizeof(rename_rule));
    if (st->renames == NULL)
        return agora_error_set(err, AGORA_ENOMEM, "map: out of memory");
    for (size_t i = 0; i < table->u.object.len; i++) {
        const agora_member *m = &table->u.object.members[i];
        rename_rule *rule = &st->renames[st->rename_count];

        if (m->value->type != AGORA_STRING || m->value->u.string.len == 0)
            return agora_error_set_key(err, AGORA_ECONFIG, "rename",
                                       "rename.'%s' must be the new field "
                                       "name as a non-empty string",
                                       m->key.ptr);
        for (size_t r = 0; r < st->rename_count; r++) {
            if (key_equal(&st->renames[r].to, &m->value->u.string))
                return agora_error_set_key(
                    err, AGORA_ECONFIG, "rename",
                    "rename gives fields '%s' and '%s' the same name '%s'",
                    st->renames[r].from.ptr, m->key.ptr,
                    m->value->u.string.ptr);
        }
        if (copy_string(st, &m->key, &rule->from) != 0 ||
            copy_string(st, &m->value->u.string, &rule->to) != 0)
            return agora_error_set(err, AGORA_ENOMEM, "map: out of memory");
        st->rename_count++;
    }
    return 0;
}

static int load_casts(map_state *st, const agora_value *opts, agora_error *err)
{
    const agora_value *table;
    int rc = table_option(opts, "cast", "{ Year = \"int\" }", &table, err);

    if (rc != 0 || table == NULL)
        return rc;
    st->casts = calloc(table->u.object.len + 1, sizeof(cast_rule));
    if (st->casts == NULL)
        return agora_error_set(err, AGORA_ENOMEM, "map: out of memory");
    for (size_t i = 0; i < table->u.object.len; i++) {
        const agora_member *m = &table->u.object.members[i];
        cast_rule *rule = &st->casts[st->cast_count];
        size_t t;

        for (t = 0; t < sizeof(cast_names) / sizeof(cast_names[0]); t++) {
            if (m->value->type == AGORA_STRING &&
                strcmp(m->value->u.string.ptr, cast_names[t]) == 0)
                break;
        }
        if (t == sizeof(cast_names) / sizeof(cast_names[0])) {
            char text[MW_VALUE_TEXT_MAX];
            return agora_error_set_key(
                err, AGORA_ECONFIG, "cast",
                "cast.'%s' is %s; use \"int\", \"float\", \"string\" or "
                "\"bool\"",
                m->key.ptr, mw_format_value(m->value, text, sizeof(text)));
        }
        if (copy_string(st, &m->key, &rule->field) != 0)
            return agora_error_set(err, AGORA_ENOMEM, "map: out of memory");
        rule->target = (cast_target)t;
        st->cast_count++;
    }
    return 0;
}

static int load_sets(map_state *st, const agora_value *opts, agora_error *err)
{
    const agora_value *table;
    int rc = table_option(opts, "set", "{ source = \"movies\" }", &table, err);

    if (rc != 0 || table == NULL)
        return rc;
    st->sets = calloc(table->u.object.len + 1, sizeof(set_rule));
    if (st->sets == NULL)
        return agora_error_set(err, AGORA_ENOMEM, "map: out of memory");
    for (size_t i = 0; i < table->u.object.len; i++) {
        const agora_member *m = &table->u.object.members[i];
        set_rule *rule = &st->sets[st->set_count];

        rule->value = agora_value_copy(st->config, m->value);
        if (rule->value == NULL || copy_string(st, &m->key, &rule->field) != 0)
            return agora_error_set(err, AGORA_ENOMEM, "map: out of memory");
        st->set_count++;
    }
    return 0;
}

static void map_destroy(agora_middleware *mw)
{
    if (mw == NULL)
        return;
    map_state_free(mw->state);
    mw_free(mw);
}

static agora_middleware *map_create(const agora_value *options,
                                    const agora_component_context *ctx,
                                    agora_error *err)
{
    map_state *st;
    agora_middleware *mw;

    agora_error_clear(err);
    st = calloc(1, sizeof(*st));
    if (st == NULL || (st->config = agora_arena_new(4096)) == NULL) {
        agora_error_set(err, AGORA_ENOMEM, "map: out of memory");
        goto fail;
    }
    agora_buf_init(&st->json);

    if (load_renames(st, options, err) != 0 || load_casts(st, options, err) != 0 ||
        load_sets(st, options, err) != 0 ||
        load_names(st, options, "drop", &st->drop, err) != 0 ||
        load_names(st, options, "select", &st->select, err) != 0)
        goto fail;
    st->snake_case = agora_opt_bool(options, "snake_case", false, err);
    if (err != NULL && err->code != 0)
        goto fail;
    if (st->snake_case && (st->cache_arena = agora_arena_new(4096)) == NULL) {
        agora_error_set(err, AGORA_ENOMEM, "map: out of memory");
        goto fail;
    }
    if (st->rename_count + st->cast_count + st->set_count + st->drop.count +
                st->select.count ==
            0 &&
        !st->snake_case) {
        agora_error_set(err, AGORA_ECONFIG,
                        "map has nothing to do: set at least one of rename, "
                        "cast, set, drop, select or snake_case");
        goto fail;
    }

    mw = mw_alloc(ctx, "map");
    if (mw == NULL) {
        agora_error_set(err, AGORA_ENOMEM, "map: out of memory");
        goto fail;
    }
    mw->state = st;
    mw->process = map_process;
    mw->destroy = map_destroy;
    return mw;

fail:
    map_state_free(st);
    return NULL;
}

static const agora_option_spec map_options[] = {
    {"rename", AGORA_OPT_TABLE, false, "{}",
     "old field name = new field name; applied first"},
    {"cast", AGORA_OPT_TABLE, false, "{}",
     "field = \"int\", \"float\", \"string\" or \"bool\"; empty strings "
     "become null, values that do not convert send the record to the DLQ"},
    {"set", AGORA_OPT_TABLE, false, "{}",
     "field = constant value (any TOML value), added or replaced"},
    {"drop", AGORA_OPT_STRING_ARRAY, false, "[]", "fields to remove"},
    {"select", AGORA_OPT_STRING_ARRAY, false, "[]",
     "keep only these fields, in this order (after rename, cast, set, drop)"},
    {"snake_case", AGORA_OPT_BOOL, false, "false",
     "convert every top-level key to snake_case, applied last "
     "(\"IMDB Rating\" becomes \"imdb_rating\")"},
    {NULL, 0, false, NULL, NULL},
};

const agora_component_type agora_mw_map_type = {
    .kind = AGORA_COMPONENT_MIDDLEWARE,
    .type = "map",
    .summary = "rename, cast, set, drop and select fields, or convert keys to "
               "snake_case",
    .options = map_options,
    .create_middleware = map_create,
};
