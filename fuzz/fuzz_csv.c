/*
 * libFuzzer target for the csv source (libcsv underneath).
 *
 * The first input byte picks the options: bits 0-1 the delimiter (',', ';',
 * tab or '|'), bit 2 infer_types, bit 3 empty_as_null, bit 4 a resume from
 * a checkpoint after the first pass, bit 5 batches that collect JSON texts,
 * bit 6 texts only (the source may then give a text and no value) and bit 7
 * batches marked as prefetching. The remaining bytes are written to a file
 * in a private temporary directory and read through the real source into
 * batches of 7 records. Every record must write as JSON that parses again,
 * because the source promises valid UTF-8 strings, and every text must
 * parse into an object equal to its record.
 *
 * The same file builds into tests/unit/test_fuzz_regressions.c, which renames
 * LLVMFuzzerTestOneInput, so every static here carries the fuzz_csv_ prefix.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agora/config.h"
#include "agora/pipeline.h"
#include "connectors/connectors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CSV_BATCH_CAP 7

static char fuzz_csv_dir[64];
static char fuzz_csv_path[96];

static void fuzz_csv_fail(const char *problem, const char *detail)
{
    fprintf(stderr, "fuzz_csv: %s%s%s\n", problem, detail != NULL ? ": " : "",
            detail != NULL ? detail : "");
    abort();
}

static void fuzz_csv_remove_dir(void)
{
    unlink(fuzz_csv_path);
    rmdir(fuzz_csv_dir);
}

static bool fuzz_csv_setup(void)
{
    if (fuzz_csv_dir[0] != '\0')
        return true;
    strcpy(fuzz_csv_dir, "/tmp/agora-fuzz-csv-XXXXXX");
    if (mkdtemp(fuzz_csv_dir) == NULL) {
        fuzz_csv_dir[0] = '\0';
        return false;
    }
    snprintf(fuzz_csv_path, sizeof(fuzz_csv_path), "%s/input.csv",
             fuzz_csv_dir);
    atexit(fuzz_csv_remove_dir);
    return true;
}

static bool fuzz_csv_write_file(const uint8_t *data, size_t size)
{
    FILE *file = fopen(fuzz_csv_path, "wb");

    if (file == NULL)
        return false;
    if (fwrite(data, 1, size, file) != size) {
        fclose(file);
        return false;
    }
    return fclose(file) == 0;
}

/* Builds the options object of the source from the option byte. */
static agora_value *fuzz_csv_options(agora_arena *arena, uint8_t flags)
{
    static const char *const delimiters[] = {",", ";", "\t", "|"};
    const char *delimiter = delimiters[flags & 3];
    agora_value *options = agora_value_object(arena, 4);

    if (options == NULL ||
        agora_object_push(arena, options, "path", 4,
                          agora_value_string(arena, "input.csv", 9)) != 0 ||
        agora_object_push(arena, options, "delimiter", 9,
                          agora_value_string(arena, delimiter, 1)) != 0 ||
        agora_object_push(arena, options, "infer_types", 11,
                          agora_value_bool(arena, (flags & 4) != 0)) != 0 ||
        agora_object_push(arena, options, "empty_as_null", 13,
                          agora_value_bool(arena, (flags & 8) != 0)) != 0)
        return NULL;
    return options;
}

/* Checks a text: JSON of an object, equal to record when there is one. */
static void fuzz_csv_check_text(const agora_string *text,
                                const agora_value *record)
{
    agora_arena *arena = agora_arena_new(0);
    agora_value *parsed;
    agora_error err;

    if (arena == NULL)
        fuzz_csv_fail("out of memory", NULL);
    agora_error_clear(&err);
    parsed = agora_json_parse(arena, text->ptr, text->len, NULL, &err);
    if (parsed == NULL)
        fuzz_csv_fail("a record's text is not valid JSON", err.message);
    if (parsed->type != AGORA_OBJECT)
        fuzz_csv_fail("a record's text is not an object", NULL);
    if (record != NULL && !agora_value_equal(parsed, record))
        fuzz_csv_fail("a record's text and value differ", NULL);
    agora_arena_free(arena);
}

/* Checks that a record is an object whose JSON form parses again. */
static void fuzz_csv_check_record(const agora_value *record)
{
    agora_arena *arena = agora_arena_new(0);
    agora_buf json;
    agora_error err;

    if (record == NULL || record->type != AGORA_OBJECT)
        fuzz_csv_fail("a record is not an object", NULL);
    agora_buf_init(&json);
    if (arena == NULL || agora_json_write(&json, record) != 0)
        fuzz_csv_fail("out of memory", NULL);
    agora_error_clear(&err);
    if (agora_json_parse(arena, json.data, json.len, NULL, &err) == NULL)
        fuzz_csv_fail("a record does not write as valid JSON", err.message);
    agora_buf_free(&json);
    agora_arena_free(arena);
}

/*
 * Opens the source and reads batches until the end of the input or an
 * error. Returns the number of records and bad records read. The loop is
 * bounded: every batch but the last adds at least one item, and the input
 * has at most size rows.
 */
static uint64_t fuzz_csv_read_all(agora_source *source, size_t size,
                                  uint8_t flags)
{
    agora_batch batch;
    agora_value *records[FUZZ_CSV_BATCH_CAP];
    agora_string texts[FUZZ_CSV_BATCH_CAP];
    agora_error err;
    uint64_t items = 0;

    memset(&batch, 0, sizeof(batch));
    batch.arena = agora_arena_new(0);
    batch.records = records;
    batch.cap = FUZZ_CSV_BATCH_CAP;
    if ((flags & 32) != 0) {
        batch.texts = texts;
        batch.texts_only = (flags & 64) != 0;
    }
    batch.prefetching = (flags & 128) != 0;
    if (batch.arena == NULL)
        return 0;

    agora_error_clear(&err);
    if (source->open(source->state, &err) != 0) {
        if (err.code == 0)
            fuzz_csv_fail("open failed without an error code", NULL);
        goto cleanup;
    }
    for (size_t round = 0; round <= size + 2; round++) {
        int n;

        agora_arena_reset(batch.arena);
        batch.count = 0;
        batch.bad_count = 0;
        n = source->next_batch(source->state, &batch, &err);
        for (size_t i = 0; i < batch.count; i++) {
            if (batch.texts != NULL && batch.texts[i].ptr != NULL)
                fuzz_csv_check_text(&batch.texts[i], batch.records[i]);
            else if (batch.records[i] == NULL)
                fuzz_csv_fail("a record has neither a value nor a text", NULL);
            if (batch.records[i] != NULL)
                fuzz_csv_check_record(batch.records[i]);
        }
        for (size_t i = 0; i < batch.bad_count; i++)
            if (batch.bad[i].error == NULL || batch.bad[i].raw == NULL)
                fuzz_csv_fail("bad record without raw text or error", NULL);
        if (n < 0) {
            if (err.code == 0)
                fuzz_csv_fail("next_batch failed without an error code",
                              NULL);
            break;
        }
        if ((size_t)n != batch.count + batch.bad_count)
            fuzz_csv_fail("next_batch returned a wrong count", NULL);
        if (n == 0)
            break;
        items += (uint64_t)n;
    }

cleanup:
    source->close(source->state);
    free(batch.bad);
    agora_arena_free(batch.arena);
    return items;
}

/* Reopens the source after a checkpoint of rows data rows and reads again. */
static void fuzz_csv_resume(agora_source *source, uint64_t rows, size_t size,
                            uint8_t flags)
{
    agora_arena *arena = agora_arena_new(0);
    agora_value *checkpoint;
    agora_error err;

    if (arena == NULL)
        return;
    checkpoint = agora_value_object(arena, 1);
    if (checkpoint != NULL &&
        agora_object_push(arena, checkpoint, "row_number", 10,
                          agora_value_int(arena, (int64_t)rows)) == 0) {
        agora_error_clear(&err);
        if (source->prepare_resume(source->state, checkpoint, &err) == 0)
            fuzz_csv_read_all(source, size, flags);
    }
    agora_arena_free(arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    agora_component_context ctx;
    agora_arena *arena = NULL;
    agora_source *source = NULL;
    agora_value *options;
    agora_error err;
    uint64_t items;
    uint8_t flags;

    if (size < 1 || !fuzz_csv_setup())
        return 0;
    flags = data[0];
    if (!fuzz_csv_write_file(data + 1, size - 1))
        return 0;

    arena = agora_arena_new(0);
    if (arena == NULL)
        return 0;
    options = fuzz_csv_options(arena, flags);
    if (options == NULL)
        goto cleanup;

    ctx.base_dir = fuzz_csv_dir;
    ctx.pipeline_id = "fuzz";
    ctx.instance_name = "csv";
    agora_error_clear(&err);
    source = agora_source_csv_type.create_source(options, &ctx, &err);
    if (source == NULL)
        fuzz_csv_fail("the source rejected valid options", err.message);

    items = fuzz_csv_read_all(source, size, flags);
    if ((flags & 16) != 0)
        fuzz_csv_resume(source, items / 2, size, flags);

cleanup:
    agora_source_free(source);
    agora_arena_free(arena);
    return 0;
}
