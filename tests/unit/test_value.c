/*
 * Tests of the arena allocator and the record value API.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agora/value.h"
#include "core/arena_impl.h"

static void arena_alloc_aligned(void **state)
{
    agora_arena *arena = agora_arena_new(0);
    size_t sizes[] = {1, 3, 5, 8, 13, 24, 7};
    size_t i;

    assert_non_null(arena);
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        void *p = agora_arena_alloc(arena, sizes[i]);

        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 8, 0);
    }
    agora_arena_free(arena);
}

static void arena_used_counts_rounded_sizes(void **state)
{
    agora_arena *arena = agora_arena_new(0);

    assert_int_equal(agora_arena_used(arena), 0);
    assert_non_null(agora_arena_alloc(arena, 1));
    assert_int_equal(agora_arena_used(arena), 8);
    assert_non_null(agora_arena_alloc(arena, 9));
    assert_int_equal(agora_arena_used(arena), 24);
    agora_arena_free(arena);
}

static void arena_large_allocation_own_block(void **state)
{
    agora_arena *arena = agora_arena_new(1024);
    unsigned char *small_before;
    unsigned char *large;
    unsigned char *small_after;

    small_before = agora_arena_alloc(arena, 16);
    large = agora_arena_alloc(arena, 100000);
    small_after = agora_arena_alloc(arena, 16);
    assert_non_null(small_before);
    assert_non_null(large);
    assert_non_null(small_after);
    memset(large, 0xAB, 100000);
    assert_int_equal(large[99999], 0xAB);
    /* The large request did not end the current block. */
    assert_ptr_equal(small_after, small_before + 16);
    assert_int_equal(agora_arena_used(arena), 16 + 100000 + 16);
    agora_arena_free(arena);
}

/*
 * After a reset the same sequence of allocations lands in the same blocks.
 * 40 bytes is at most a quarter block, so no allocation gets a block of its
 * own. 100 of them fill blocks of 256 bytes six at a time, and the 17 blocks
 * of the first round are reused.
 */
static void arena_reset_reuses_standard_blocks(void **state)
{
    agora_arena *arena = agora_arena_new(256);
    void *first_round[100];
    int i;

    for (i = 0; i < 100; i++) {
        first_round[i] = agora_arena_alloc(arena, 40);
        assert_non_null(first_round[i]);
    }
    agora_arena_reset(arena);
    for (i = 0; i < 100; i++)
        assert_ptr_equal(agora_arena_alloc(arena, 40), first_round[i]);
    agora_arena_free(arena);
}

/*
 * core_arena_set_keep caps what a reset keeps: with blocks of 256 bytes and
 * a cap of 1,024 bytes, 17 blocks become 4 (the first and three more).
 */
static void arena_reset_keeps_at_most_the_cap(void **state)
{
    agora_arena *arena = agora_arena_new(256);
    size_t blocks = 0;

    core_arena_set_keep(arena, 1024);
    for (int i = 0; i < 100; i++)
        assert_non_null(agora_arena_alloc(arena, 40));
    agora_arena_reset(arena);
    for (core_arena_block *b = arena->first; b != NULL; b = b->next)
        blocks++;
    assert_int_equal(blocks, 4);
    agora_arena_free(arena);
}

/*
 * core_arena_shrink gives back the end of the latest allocation (sizes are
 * rounded up to 8 bytes), and leaves any other allocation alone.
 */
static void arena_shrink_latest_allocation(void **state)
{
    agora_arena *arena = agora_arena_new(4096);
    char *a = agora_arena_alloc(arena, 100);
    char *b;

    core_arena_shrink(arena, a, 100, 20);
    assert_int_equal(agora_arena_used(arena), 24);
    b = agora_arena_alloc(arena, 8);
    assert_ptr_equal(b, a + 24);
    core_arena_shrink(arena, a, 24, 8); /* no longer the latest */
    assert_ptr_equal(agora_arena_alloc(arena, 8), b + 8);
    assert_int_equal(agora_arena_used(arena), 40);
    agora_arena_free(arena);
}

static void arena_reset_keeps_first_block(void **state)
{
    agora_arena *arena = agora_arena_new(256);
    void *first = agora_arena_alloc(arena, 32);
    void *again;
    int i;

    assert_non_null(first);
    for (i = 0; i < 100; i++)
        assert_non_null(agora_arena_alloc(arena, 100));
    assert_non_null(agora_arena_alloc(arena, 5000));

    agora_arena_reset(arena);
    assert_int_equal(agora_arena_used(arena), 0);
    again = agora_arena_alloc(arena, 32);
    assert_ptr_equal(again, first);
    agora_arena_free(arena);
}

static void arena_many_blocks_keep_data(void **state)
{
    agora_arena *arena = agora_arena_new(1024);
    unsigned char *chunks[500];
    int i;

    for (i = 0; i < 500; i++) {
        chunks[i] = agora_arena_alloc(arena, 100);
        assert_non_null(chunks[i]);
        memset(chunks[i], i & 0xFF, 100);
    }
    for (i = 0; i < 500; i++) {
        assert_int_equal(chunks[i][0], i & 0xFF);
        assert_int_equal(chunks[i][99], i & 0xFF);
    }
    agora_arena_free(arena);
}

static void arena_strndup_terminates(void **state)
{
    agora_arena *arena = agora_arena_new(0);
    char *copy = agora_arena_strndup(arena, "ab\0cdef", 4);

    assert_non_null(copy);
    assert_memory_equal(copy, "ab\0c", 4);
    assert_int_equal(copy[4], '\0');
    agora_arena_free(arena);
}

static void arena_free_accepts_null(void **state)
{
    agora_arena_free(NULL);
    agora_arena_reset(NULL);
    assert_int_equal(agora_arena_used(NULL), 0);
}

static void value_constructors_set_payload(void **state)
{
    agora_arena *arena = agora_arena_new(0);
    agora_value *v;

    v = agora_value_null(arena);
    assert_int_equal(v->type, AGORA_NULL);
    v = agora_value_bool(arena, true);
    assert_int_equal(v->type, AGORA_BOOL);
    assert_true(v->u.boolean);
    v = agora_value_int(arena, INT64_MIN);
    assert_int_equal(v->type, AGORA_INT);
    assert_true(v->u.integer == INT64_MIN);
    v = agora_value_double(arena, 2.5);
    assert_int_equal(v->type, AGORA_DOUBLE);
    assert_true(v->u.number == 2.5);
    v = agora_value_string(arena, "hi\0x", 4);
    assert_int_equal(v->type, AGORA_STRING);
    assert_int_equal(v->u.string.len, 4);
    assert_memory_equal(v->u.string.ptr, "hi\0x", 4);
    assert_int_equal(v->u.string.ptr[4], '\0');
    v = agora_value_array(arena, 3);
    assert_int_equal(v->type, AGORA_ARRAY);
    assert_int_equal(v->u.array.len, 0);
    assert_int_equal(v->u.array.cap, 3);
    v = agora_value_object(arena, 0);
    assert_int_equal(v->type, AGORA_OBJECT);
    assert_int_equal(v->u.object.len, 0);
    agora_arena_free(arena);
}

static void value_string_copies_but_ref_does_not(void **state)
{
    agora_arena *arena = agora_arena_new(0);
    static const char text[] = "static";
    char source[] = "mutable";
    agora_value *copy = agora_value_string(arena, source, 7);
    agora_value *ref = agora_value_string_ref(arena, text, 6);

    source[0] = 'X';
    assert_memory_equal(copy->u.string.ptr, "mutable", 7);
    assert_ptr_equal(ref->u.string.ptr, text);
    assert_int_equal(ref->u.string.len, 6);
    agora_arena_free(arena);
}

static void array_push_grows(void **state)
{
    agora_arena *arena = agora_arena_new(0);
    agora_value *array = agora_value_array(arena, 0);
    int64_t i;

    for (i = 0; i < 100; i++)
        assert_int_equal(agora_array_push(arena, array, agora_value_int(arena, i)), 0);
    assert_int_equal(array->u.array.len, 100);
    for (i = 0; i < 100; i++)
        assert_true(array->u.array.items[i]->u.integer == i);
    assert_int_equal(agora_array_push(arena, agora_value_null(arena),
                                      agora_value_null(arena)),
                     AGORA_EINVAL);
    agora_arena_free(arena);
}

static void object_get_last_duplicate_wins(void **state)
{
    agora_arena *arena = agora_arena_new(0);
    agora_value *object = agora_value_object(arena, 1);
    char key[] = "name";

    assert_int_equal(agora_object_push(arena, object, key, 4, agora_value_int(arena, 1)), 0);
    assert_int_equal(agora_object_push(arena, object, "other", 5, agora_value_int(arena, 2)), 0);
    assert_int_equal(agora_object_push(arena, object, "name", 4, agora_value_int(arena, 3)), 0);
    key[0] = 'X'; /* the object keeps its own copy of the key */

    assert_int_equal(object->u.object.len, 3);
    assert_true(agora_object_get(object, "name", 4)->u.integer == 3);
    assert_true(agora_object_getz(object, "other")->u.integer == 2);
    assert_string_equal(object->u.object.members[0].key.ptr, "name");
    assert_null(agora_object_getz(object, "missing"));
    assert_null(agora_object_getz(object, "nam"));
    assert_null(agora_object_getz(agora_value_array(arena, 0), "name"));
    agora_arena_free(arena);
}

static void object_key_with_nul(void **state)
{
    agora_arena *arena = agora_arena_new(0);
    agora_value *object = agora_value_object(arena, 0);

    assert_int_equal(agora_object_push(arena, object, "a\0b", 3, agora_value_int(arena, 7)), 0);
    assert_null(agora_object_get(object, "a", 1));
    assert_true(agora_object_get(object, "a\0b", 3)->u.integer == 7);
    agora_arena_free(arena);
}

static void object_clone_is_shallow(void **state)
{
    agora_arena *arena = agora_arena_new(0);
    agora_value *object = agora_value_object(arena, 0);
    agora_value *inner = agora_value_int(arena, 5);
    agora_value *clone;

    agora_object_push(arena, object, "a", 1, inner);
    agora_object_push(arena, object, "b", 1, agora_value_bool(arena, false));
    clone = agora_object_clone(arena, object, 2);
    assert_non_null(clone);
    assert_int_equal(clone->u.object.len, 2);
    assert_true(clone->u.object.cap >= 4);
    assert_ptr_equal(agora_object_getz(clone, "a"), inner);

    assert_int_equal(agora_object_push(arena, clone, "c", 1, agora_value_null(arena)), 0);
    assert_int_equal(clone->u.object.len, 3);
    assert_int_equal(object->u.object.len, 2);
    assert_null(agora_object_getz(object, "c"));
    assert_null(agora_object_clone(arena, inner, 0));
    agora_arena_free(arena);
}

/* Asserts that value, written as compact JSON, equals expected. */
static void assert_json(const agora_value *value, const char *expected)
{
    agora_buf buf;

    agora_buf_init(&buf);
    assert_int_equal(agora_json_write(&buf, value), 0);
    assert_int_equal(agora_buf_append(&buf, "", 1), 0);
    assert_string_equal(buf.data, expected);
    agora_buf_free(&buf);
}

static void object_set_replaces_in_place(void **state)
{
    agora_arena *arena = agora_arena_new(0);
    agora_value *object = agora_value_object(arena, 2);
    agora_value *upper;
    const char *key_before;
    size_t used_before;

    agora_object_push(arena, object, "id", 2, agora_value_int(arena, 1));
    agora_object_push(arena, object, "city", 4, agora_value_string(arena, "bonn", 4));
    upper = agora_value_string_ref(arena, "BONN", 4);
    key_before = object->u.object.members[1].key.ptr;
    used_before = agora_arena_used(arena);

    assert_int_equal(agora_object_set(arena, object, "city", 4, upper), 0);
    assert_int_equal(object->u.object.len, 2);
    assert_ptr_equal(object->u.object.members[1].key.ptr, key_before);
    assert_ptr_equal(object->u.object.members[1].value, upper);
    /* Replacing allocates nothing: the key is not copied again. */
    assert_int_equal(agora_arena_used(arena), used_before);
    assert_json(object, "{\"id\":1,\"city\":\"BONN\"}");
    agora_arena_free(arena);
}

static void object_set_appends_absent_key(void **state)
{
    agora_arena *arena = agora_arena_new(0);
    agora_value *object = agora_value_object(arena, 0);
    char key[] = "zip";

    agora_object_push(arena, object, "id", 2, agora_value_int(arena, 1));
    assert_int_equal(agora_object_set(arena, object, key, 3, agora_value_string(arena, "53111", 5)), 0);
    key[0] = 'X'; /* an appended member keeps its own copy of the key */

    assert_int_equal(object->u.object.len, 2);
    assert_string_equal(object->u.object.members[1].key.ptr, "zip");
    assert_json(object, "{\"id\":1,\"zip\":\"53111\"}");
    assert_int_equal(agora_object_set(arena, object, "", 0, agora_value_null(arena)), 0);
    assert_json(object, "{\"id\":1,\"zip\":\"53111\",\"\":null}");
    agora_arena_free(arena);
}

static void object_set_replaces_last_duplicate(void **state)
{
    agora_arena *arena = agora_arena_new(0);
    agora_value *object = agora_value_object(arena, 0);

    agora_object_push(arena, object, "a", 1, agora_value_int(arena, 1));
    agora_object_push(arena, object, "b", 1, agora_value_int(arena, 2));
    agora_object_push(arena, object, "a", 1, agora_value_int(arena, 3));

    assert_int_equal(agora_object_set(arena, object, "a", 1, agora_value_int(arena, 9)), 0);
    assert_int_equal(object->u.object.len, 3);
    assert_json(object, "{\"a\":1,\"b\":2,\"a\":9}");
    assert_true(agora_object_getz(object, "a")->u.integer == 9);
    agora_arena_free(arena);
}

static void object_set_on_clone_keeps_original(void **state)
{
    agora_arena *arena = agora_arena_new(0);
    agora_value *record = agora_value_object(arena, 0);
    agora_value *out;

    agora_object_push(arena, record, "city", 4, agora_value_string(arena, "bonn", 4));
    agora_object_push(arena, record, "n", 1, agora_value_int(arena, 5));
    out = agora_object_clone(arena, record, 0);
    assert_non_null(out);

    assert_int_equal(agora_object_set(arena, out, "city", 4, agora_value_string(arena, "BONN", 4)), 0);
    assert_int_equal(agora_object_set(arena, out, "new", 3, agora_value_bool(arena, true)), 0);
    assert_json(out, "{\"city\":\"BONN\",\"n\":5,\"new\":true}");
    assert_json(record, "{\"city\":\"bonn\",\"n\":5}");
    agora_arena_free(arena);
}

static void object_set_rejects_invalid(void **state)
{
    agora_arena *arena = agora_arena_new(0);
    agora_value *object = agora_value_object(arena, 0);
    agora_value *array = agora_value_array(arena, 0);
    agora_value *one = agora_value_int(arena, 1);

    assert_int_equal(agora_object_set(arena, NULL, "a", 1, one), AGORA_EINVAL);
    assert_int_equal(agora_object_set(arena, array, "a", 1, one), AGORA_EINVAL);
    assert_int_equal(agora_object_set(arena, object, "a", 1, NULL), AGORA_EINVAL);
    assert_int_equal(agora_object_set(arena, object, NULL, 1, one), AGORA_EINVAL);
    assert_int_equal(object->u.object.len, 0);
    agora_arena_free(arena);
}

static agora_value *build_sample(agora_arena *arena)
{
    agora_value *root = agora_value_object(arena, 0);
    agora_value *list = agora_value_array(arena, 0);

    agora_array_push(arena, list, agora_value_int(arena, 1));
    agora_array_push(arena, list, agora_value_string(arena, "two", 3));
    agora_array_push(arena, list, agora_value_null(arena));
    agora_object_push(arena, root, "title", 5, agora_value_string(arena, "Up", 2));
    agora_object_push(arena, root, "list", 4, list);
    agora_object_push(arena, root, "rating", 6, agora_value_double(arena, 8.25));
    return root;
}

static void value_copy_outlives_source_arena(void **state)
{
    agora_arena *source = agora_arena_new(0);
    agora_arena *target = agora_arena_new(0);
    agora_arena *expected_arena = agora_arena_new(0);
    agora_value *copy = agora_value_copy(target, build_sample(source));

    /* Freeing the source arena must not affect the copy. */
    agora_arena_free(source);
    assert_non_null(copy);
    assert_true(agora_value_equal(copy, build_sample(expected_arena)));
    assert_string_equal(agora_object_getz(copy, "title")->u.string.ptr, "Up");
    agora_arena_free(target);
    agora_arena_free(expected_arena);
}

static void value_equal_int_and_double(void **state)
{
    agora_arena *arena = agora_arena_new(0);

    assert_true(agora_value_equal(agora_value_int(arena, 1), agora_value_double(arena, 1.0)));
    assert_true(agora_value_equal(agora_value_double(arena, -3.0), agora_value_int(arena, -3)));
    assert_false(agora_value_equal(agora_value_int(arena, 1), agora_value_double(arena, 1.5)));
    /* 2^53 + 1 has no double; the nearest double is 2^53. */
    assert_false(agora_value_equal(agora_value_int(arena, 9007199254740993LL),
                                   agora_value_double(arena, 9007199254740992.0)));
    /* 2^63 is outside int64, so no int equals it. */
    assert_false(agora_value_equal(agora_value_int(arena, INT64_MAX),
                                   agora_value_double(arena, 9223372036854775808.0)));
    assert_true(agora_value_equal(agora_value_int(arena, INT64_MIN),
                                  agora_value_double(arena, -9223372036854775808.0)));
    assert_false(agora_value_equal(agora_value_int(arena, 0), agora_value_bool(arena, false)));
    assert_false(agora_value_equal(agora_value_null(arena), NULL));
    agora_arena_free(arena);
}

static void value_equal_objects_in_order(void **state)
{
    agora_arena *arena = agora_arena_new(0);
    agora_value *ab = agora_value_object(arena, 0);
    agora_value *ba = agora_value_object(arena, 0);
    agora_value *ab2 = agora_value_object(arena, 0);

    agora_object_push(arena, ab, "a", 1, agora_value_int(arena, 1));
    agora_object_push(arena, ab, "b", 1, agora_value_int(arena, 2));
    agora_object_push(arena, ba, "b", 1, agora_value_int(arena, 2));
    agora_object_push(arena, ba, "a", 1, agora_value_int(arena, 1));
    agora_object_push(arena, ab2, "a", 1, agora_value_double(arena, 1.0));
    agora_object_push(arena, ab2, "b", 1, agora_value_int(arena, 2));

    assert_true(agora_value_equal(ab, ab2));
    assert_false(agora_value_equal(ab, ba));
    assert_false(agora_value_equal(agora_value_string(arena, "a\0b", 3),
                                   agora_value_string(arena, "a\0c", 3)));
    assert_false(agora_value_equal(agora_value_string(arena, "ab", 2),
                                   agora_value_string(arena, "abc", 3)));
    agora_arena_free(arena);
}

static void value_type_names(void **state)
{
    assert_string_equal(agora_type_name(AGORA_NULL), "null");
    assert_string_equal(agora_type_name(AGORA_BOOL), "bool");
    assert_string_equal(agora_type_name(AGORA_INT), "int");
    assert_string_equal(agora_type_name(AGORA_DOUBLE), "double");
    assert_string_equal(agora_type_name(AGORA_STRING), "string");
    assert_string_equal(agora_type_name(AGORA_ARRAY), "array");
    assert_string_equal(agora_type_name(AGORA_OBJECT), "object");
}

static void buf_append_and_printf(void **state)
{
    agora_buf buf;
    int i;

    agora_buf_init(&buf);
    assert_int_equal(agora_buf_appendz(&buf, "id="), 0);
    assert_int_equal(agora_buf_printf(&buf, "%d/%s", 42, "x"), 0);
    assert_string_equal(buf.data, "id=42/x");
    assert_int_equal(buf.len, 7);
    for (i = 0; i < 1000; i++)
        assert_int_equal(agora_buf_append(&buf, "0123456789", 10), 0);
    assert_int_equal(buf.len, 10007);
    assert_int_equal(buf.data[buf.len], '\0');
    agora_buf_free(&buf);
    assert_null(buf.data);
    agora_buf_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(arena_alloc_aligned),
        cmocka_unit_test(arena_used_counts_rounded_sizes),
        cmocka_unit_test(arena_large_allocation_own_block),
        cmocka_unit_test(arena_reset_keeps_first_block),
        cmocka_unit_test(arena_reset_keeps_at_most_the_cap),
        cmocka_unit_test(arena_shrink_latest_allocation),
        cmocka_unit_test(arena_reset_reuses_standard_blocks),
        cmocka_unit_test(arena_many_blocks_keep_data),
        cmocka_unit_test(arena_strndup_terminates),
        cmocka_unit_test(arena_free_accepts_null),
        cmocka_unit_test(value_constructors_set_payload),
        cmocka_unit_test(value_string_copies_but_ref_does_not),
        cmocka_unit_test(array_push_grows),
        cmocka_unit_test(object_get_last_duplicate_wins),
        cmocka_unit_test(object_key_with_nul),
        cmocka_unit_test(object_clone_is_shallow),
        cmocka_unit_test(object_set_replaces_in_place),
        cmocka_unit_test(object_set_appends_absent_key),
        cmocka_unit_test(object_set_replaces_last_duplicate),
        cmocka_unit_test(object_set_on_clone_keeps_original),
        cmocka_unit_test(object_set_rejects_invalid),
        cmocka_unit_test(value_copy_outlives_source_arena),
        cmocka_unit_test(value_equal_int_and_double),
        cmocka_unit_test(value_equal_objects_in_order),
        cmocka_unit_test(value_type_names),
        cmocka_unit_test(buf_append_and_printf),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
