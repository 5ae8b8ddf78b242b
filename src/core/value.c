/*
 * Record values: constructors, array and object building, lookup, copying
 * and structural equality. All memory comes from the caller's arena.
 */
#include <math.h>
#include <string.h>

#include "core/arena_impl.h"

static agora_value *value_new(agora_arena *arena, agora_type type)
{
    agora_value *value = core_arena_alloc(arena, sizeof(*value));

    if (value != NULL) {
        memset(value, 0, sizeof(*value));
        value->type = type;
    }
    return value;
}

agora_value *agora_value_null(agora_arena *arena)
{
    return value_new(arena, AGORA_NULL);
}

agora_value *agora_value_bool(agora_arena *arena, bool b)
{
    agora_value *value = value_new(arena, AGORA_BOOL);

    if (value != NULL)
        value->u.boolean = b;
    return value;
}

agora_value *agora_value_int(agora_arena *arena, int64_t i)
{
    agora_value *value = value_new(arena, AGORA_INT);

    if (value != NULL)
        value->u.integer = i;
    return value;
}

agora_value *agora_value_double(agora_arena *arena, double d)
{
    agora_value *value = value_new(arena, AGORA_DOUBLE);

    if (value != NULL)
        value->u.number = d;
    return value;
}

agora_value *agora_value_string(agora_arena *arena, const char *s, size_t len)
{
    char *copy = agora_arena_strndup(arena, s, len);

    if (copy == NULL)
        return NULL;
    return agora_value_string_ref(arena, copy, len);
}

agora_value *agora_value_string_ref(agora_arena *arena, const char *s,
                                    size_t len)
{
    agora_value *value = value_new(arena, AGORA_STRING);

    if (value != NULL) {
        value->u.string.ptr = s;
        value->u.string.len = len;
    }
    return value;
}

agora_value *agora_value_array(agora_arena *arena, size_t cap_hint)
{
    agora_value *value = value_new(arena, AGORA_ARRAY);

    if (value == NULL)
        return NULL;
    if (cap_hint > 0) {
        if (cap_hint > SIZE_MAX / sizeof(agora_value *))
            return NULL;
        value->u.array.items =
            core_arena_alloc(arena, cap_hint * sizeof(agora_value *));
        if (value->u.array.items == NULL)
            return NULL;
        value->u.array.cap = cap_hint;
    }
    return value;
}

agora_value *agora_value_object(agora_arena *arena, size_t cap_hint)
{
    agora_value *value = value_new(arena, AGORA_OBJECT);

    if (value == NULL)
        return NULL;
    if (cap_hint > 0) {
        if (cap_hint > SIZE_MAX / sizeof(agora_member))
            return NULL;
        value->u.object.members =
            core_arena_alloc(arena, cap_hint * sizeof(agora_member));
        if (value->u.object.members == NULL)
            return NULL;
        value->u.object.cap = cap_hint;
    }
    return value;
}

/*
 * Doubles the capacity of an item or member array. The old storage stays in
 * the arena unused until the arena is reset.
 */
static void *grow(agora_arena *arena, void *items, size_t len, size_t *cap,
                  size_t item_size)
{
    size_t new_cap = *cap < 4 ? 4 : *cap * 2;
    void *new_items;

    if (new_cap > SIZE_MAX / item_size)
        return NULL;
    new_items = core_arena_alloc(arena, new_cap * item_size);
    if (new_items == NULL)
        return NULL;
    if (len > 0)
        memcpy(new_items, items, len * item_size);
    *cap = new_cap;
    return new_items;
}

int agora_array_push(agora_arena *arena, agora_value *array,
                     agora_value *item)
{
    if (array == NULL || array->type != AGORA_ARRAY || item == NULL)
        return AGORA_EINVAL;

    if (array->u.array.len == array->u.array.cap) {
        agora_value **items =
            grow(arena, array->u.array.items, array->u.array.len,
                 &array->u.array.cap, sizeof(agora_value *));
        if (items == NULL)
            return AGORA_ENOMEM;
        array->u.array.items = items;
    }
    array->u.array.items[array->u.array.len++] = item;
    return 0;
}

int agora_object_push(agora_arena *arena, agora_value *object,
                      const char *key, size_t key_len, agora_value *value)
{
    agora_member *member;
    char *key_copy;

    if (object == NULL || object->type != AGORA_OBJECT || value == NULL ||
        (key == NULL && key_len > 0))
        return AGORA_EINVAL;

    key_copy = agora_arena_strndup(arena, key == NULL ? "" : key, key_len);
    if (key_copy == NULL)
        return AGORA_ENOMEM;
    if (object->u.object.len == object->u.object.cap) {
        agora_member *members =
            grow(arena, object->u.object.members, object->u.object.len,
                 &object->u.object.cap, sizeof(agora_member));
        if (members == NULL)
            return AGORA_ENOMEM;
        object->u.object.members = members;
    }

    member = &object->u.object.members[object->u.object.len++];
    member->key.ptr = key_copy;
    member->key.len = key_len;
    member->value = value;
    return 0;
}

agora_value *agora_object_get(const agora_value *object, const char *key,
                              size_t key_len)
{
    size_t i;

    if (object == NULL || object->type != AGORA_OBJECT)
        return NULL;

    /* Scanning backwards makes the last of duplicate keys win. */
    for (i = object->u.object.len; i > 0; i--) {
        const agora_member *member = &object->u.object.members[i - 1];

        if (member->key.len == key_len &&
            (key_len == 0 || memcmp(member->key.ptr, key, key_len) == 0))
            return member->value;
    }
    return NULL;
}

int agora_object_set(agora_arena *arena, agora_value *object,
                     const char *key, size_t key_len, agora_value *value)
{
    size_t i;

    if (object == NULL || object->type != AGORA_OBJECT || value == NULL ||
        (key == NULL && key_len > 0))
        return AGORA_EINVAL;

    /* Same backward scan as agora_object_get, so the member that lookups
     * return is the one replaced; earlier duplicates stay as they are. */
    for (i = object->u.object.len; i > 0; i--) {
        agora_member *member = &object->u.object.members[i - 1];

        if (member->key.len == key_len &&
            (key_len == 0 || memcmp(member->key.ptr, key, key_len) == 0)) {
            member->value = value;
            return 0;
        }
    }
    return agora_object_push(arena, object, key, key_len, value);
}

agora_value *agora_object_getz(const agora_value *object, const char *key)
{
    if (key == NULL)
        return NULL;
    return agora_object_get(object, key, strlen(key));
}

agora_value *agora_object_clone(agora_arena *arena, const agora_value *object,
                                size_t extra)
{
    agora_value *clone;
    size_t len;

    if (object == NULL || object->type != AGORA_OBJECT)
        return NULL;

    len = object->u.object.len;
    if (extra > SIZE_MAX - len)
        return NULL;
    clone = agora_value_object(arena, len + extra);
    if (clone == NULL)
        return NULL;
    if (len > 0)
        memcpy(clone->u.object.members, object->u.object.members,
               len * sizeof(agora_member));
    clone->u.object.len = len;
    return clone;
}

/* NOTE: recursion depth equals the nesting depth of value; parsed values are
 * bounded by agora_json_limits.max_depth, hand-built ones are not. */
agora_value *agora_value_copy(agora_arena *arena, const agora_value *value)
{
    agora_value *copy;
    size_t i;

    if (value == NULL)
        return NULL;

    switch (value->type) {
    case AGORA_NULL:
        return agora_value_null(arena);
    case AGORA_BOOL:
        return agora_value_bool(arena, value->u.boolean);
    case AGORA_INT:
        return agora_value_int(arena, value->u.integer);
    case AGORA_DOUBLE:
        return agora_value_double(arena, value->u.number);
    case AGORA_STRING:
        return agora_value_string(arena, value->u.string.ptr,
                                  value->u.string.len);
    case AGORA_ARRAY:
        copy = agora_value_array(arena, value->u.array.len);
        if (copy == NULL)
            return NULL;
        for (i = 0; i < value->u.array.len; i++) {
            agora_value *item = agora_value_copy(arena, value->u.array.items[i]);
            if (item == NULL)
                return NULL;
            copy->u.array.items[i] = item;
        }
        copy->u.array.len = value->u.array.len;
        return copy;
    case AGORA_OBJECT:
        copy = agora_value_object(arena, value->u.object.len);
        if (copy == NULL)
            return NULL;
        for (i = 0; i < value->u.object.len; i++) {
            const agora_member *from = &value->u.object.members[i];
            agora_member *to = &copy->u.object.members[i];

            to->key.ptr = agora_arena_strndup(arena, from->key.ptr, from->key.len);
            to->key.len = from->key.len;
            to->value = agora_value_copy(arena, from->value);
            if (to->key.ptr == NULL || to->value == NULL)
                return NULL;
        }
        copy->u.object.len = value->u.object.len;
        return copy;
    }
    return NULL;
}

/* True when d is exactly the integer i (no rounding on either side). */
static bool int_equals_double(int64_t i, double d)
{
    /* [-2^63, 2^63) is the range where converting d to int64 is defined. */
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
        return false;
    if (d != trunc(d))
        return false;
    return (int64_t)d == i;
}

static bool string_equal(const agora_string *a, const agora_string *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->ptr, b->ptr, a->len) == 0);
}

/* NOTE: recursive like agora_value_copy. Two NaNs compare equal here, since
 * this is structural equality, and 0.0 equals -0.0. */
bool agora_value_equal(const agora_value *a, const agora_value *b)
{
    size_t i;

    if (a == NULL || b == NULL)
        return a == b;
    if (a->type == AGORA_INT && b->type == AGORA_DOUBLE)
        return int_equals_double(a->u.integer, b->u.number);
    if (a->type == AGORA_DOUBLE && b->type == AGORA_INT)
        return int_equals_double(b->u.integer, a->u.number);
    if (a->type != b->type)
        return false;

    switch (a->type) {
    case AGORA_NULL:
        return true;
    case AGORA_BOOL:
        return a->u.boolean == b->u.boolean;
    case AGORA_INT:
        return a->u.integer == b->u.integer;
    case AGORA_DOUBLE:
        if (isnan(a->u.number) && isnan(b->u.number))
            return true;
        return a->u.number == b->u.number;
    case AGORA_STRING:
        return string_equal(&a->u.string, &b->u.string);
    case AGORA_ARRAY:
        if (a->u.array.len != b->u.array.len)
            return false;
        for (i = 0; i < a->u.array.len; i++) {
            if (!agora_value_equal(a->u.array.items[i], b->u.array.items[i]))
                return false;
        }
        return true;
    case AGORA_OBJECT:
        if (a->u.object.len != b->u.object.len)
            return false;
        for (i = 0; i < a->u.object.len; i++) {
            const agora_member *ma = &a->u.object.members[i];
            const agora_member *mb = &b->u.object.members[i];

            if (!string_equal(&ma->key, &mb->key))
                return false;
            if (!agora_value_equal(ma->value, mb->value))
                return false;
        }
        return true;
    }
    return false;
}

const char *agora_type_name(agora_type type)
{
    switch (type) {
    case AGORA_NULL:
        return "null";
    case AGORA_BOOL:
        return "bool";
    case AGORA_INT:
        return "int";
    case AGORA_DOUBLE:
        return "double";
    case AGORA_STRING:
        return "string";
    case AGORA_ARRAY:
        return "array";
    case AGORA_OBJECT:
        return "object";
    }
    return "unknown";
}
