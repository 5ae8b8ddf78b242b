/*
 * Micro-benchmark of the JSON codec on one-record documents: each element of
 * a JSON array file (movies.json by default) is parsed on its own, written
 * back, or both, the way a JSONL source and sink handle records.
 *
 * Not part of the CMake build. Compile by hand from the repository root:
 *
 *   gcc -std=c11 -O2 -D_GNU_SOURCE -Iinclude -Isrc bench/json_micro.c \
 *       src/core/arena.c src/core/value.c src/core/buf.c src/core/error.c \
 *       src/core/json_parse.c src/core/json_write.c -lm -lpthread \
 *       -o /tmp/json_micro
 *   /tmp/json_micro ../shared/data/movies.json [passes]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agora/value.h"

typedef struct record_text {
    char *text;
    size_t len;
} record_text;

/* CPU time of this thread, so other load on the machine does not count. */
static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *file = fopen(path, "rb");
    char *data = NULL;
    long size;

    if (file == NULL)
        return NULL;
    if (fseek(file, 0, SEEK_END) == 0 && (size = ftell(file)) >= 0) {
        rewind(file);
        data = malloc((size_t)size + 1);
        if (data != NULL && fread(data, 1, (size_t)size, file) != (size_t)size) {
            free(data);
            data = NULL;
        }
        *len = (size_t)size;
    }
    fclose(file);
    return data;
}

/* Serializes each array element as compact JSON, so the benchmark input
 * has no spaces even where the file has them. */
static record_text *split_records(const agora_value *array, size_t *count,
                                  size_t *total_bytes)
{
    record_text *records = calloc(array->u.array.len, sizeof(*records));
    size_t i;

    *total_bytes = 0;
    for (i = 0; records != NULL && i < array->u.array.len; i++) {
        agora_buf buf;

        agora_buf_init(&buf);
        if (agora_json_write(&buf, array->u.array.items[i]) != 0) {
            fprintf(stderr, "json_micro: out of memory\n");
            exit(1);
        }
        records[i].text = buf.data;
        records[i].len = buf.len;
        *total_bytes += buf.len;
    }
    *count = array->u.array.len;
    return records;
}

/*
 * Takes each record as the file spells it when the file has one array
 * element per line (as movies.json does), spaces included. Returns NULL when
 * the lines do not match the parsed elements one to one.
 */
static record_text *split_lines(char *text, size_t len, size_t expected,
                                size_t *total_bytes)
{
    record_text *records = calloc(expected, sizeof(*records));
    size_t count = 0;
    char *p = text;
    char *end = text + len;

    *total_bytes = 0;
    while (records != NULL && p < end) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        char *line_end = eol != NULL ? eol : end;
        char *first = p;
        char *last = line_end;

        while (first < last && (*first == ' ' || *first == '\t'))
            first++;
        while (last > first && (last[-1] == '\r' || last[-1] == ',' || last[-1] == ' '))
            last--;
        if (first < last && *first == '{') {
            if (count == expected)
                break;
            records[count].text = first;
            records[count].len = (size_t)(last - first);
            *total_bytes += records[count].len;
            count++;
        }
        p = line_end + 1;
    }
    if (records != NULL && count != expected) {
        free(records);
        return NULL;
    }
    return records;
}

typedef enum bench_mode { MODE_PARSE, MODE_WRITE, MODE_BOTH } bench_mode;

static void run(const char *label, bench_mode mode, record_text *records,
                size_t count, size_t total_bytes, int passes,
                agora_arena *arena, agora_value **parsed)
{
    agora_buf out;
    agora_error err;
    double start;
    double elapsed;
    size_t checksum = 0;
    int pass;
    size_t i;

    agora_buf_init(&out);
    start = now_seconds();
    for (pass = 0; pass < passes; pass++) {
        for (i = 0; i < count; i++) {
            agora_value *value = parsed[i];

            if (mode != MODE_WRITE) {
                value = agora_json_parse(arena, records[i].text, records[i].len,
                                         NULL, &err);
                if (value == NULL) {
                    fprintf(stderr, "json_micro: %s\n", err.message);
                    exit(1);
                }
            }
            if (mode != MODE_PARSE) {
                out.len = 0;
                if (agora_json_write(&out, value) != 0)
                    exit(1);
                checksum += out.len;
            }
            if (mode != MODE_WRITE)
                agora_arena_reset(arena);
        }
    }
    elapsed = now_seconds() - start;
    printf("%-12s %10.0f records/s %8.1f MB/s  (%zu records x %d passes, "
           "%.2f s CPU, checksum %zu)\n",
           label, (double)count * passes / elapsed,
           (double)total_bytes * passes / elapsed / 1e6, count, passes,
           elapsed, checksum);
    agora_buf_free(&out);
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "../shared/data/movies.json";
    int passes = argc > 2 ? atoi(argv[2]) : 200;
    agora_arena *doc_arena = agora_arena_new(0);
    agora_arena *arena = agora_arena_new(0);
    agora_value **parsed;
    agora_value *doc;
    record_text *records;
    record_text *lines;
    agora_error err;
    size_t count;
    size_t total;
    size_t len;
    size_t i;
    char *text;

    text = read_file(path, &len);
    if (text == NULL) {
        fprintf(stderr, "json_micro: cannot read %s\n", path);
        return 1;
    }
    doc = agora_json_parse(doc_arena, text, len, NULL, &err);
    if (doc == NULL || doc->type != AGORA_ARRAY) {
        fprintf(stderr, "json_micro: %s is not a JSON array: %s\n", path,
                doc == NULL ? err.message : "other type");
        return 1;
    }
    count = doc->u.array.len;
    parsed = calloc(count, sizeof(*parsed));
    for (i = 0; i < count; i++)
        parsed[i] = doc->u.array.items[i];

    lines = split_lines(text, len, count, &total);
    if (lines != NULL) {
        printf("%zu records, %.0f bytes per record (as in the file)\n", count,
               (double)total / count);
        run("parse", MODE_PARSE, lines, count, total, passes, arena, parsed);
        run("parse+write", MODE_BOTH, lines, count, total, passes, arena, parsed);
        free(lines);
    }

    records = split_records(doc, &count, &total);
    printf("%zu records, %.0f bytes per record (compact)\n", count,
           (double)total / count);
    run("parse", MODE_PARSE, records, count, total, passes, arena, parsed);
    run("write", MODE_WRITE, records, count, total, passes, arena, parsed);
    run("parse+write", MODE_BOTH, records, count, total, passes, arena, parsed);

    for (i = 0; i < count; i++)
        free(records[i].text);
    free(records);
    free(parsed);
    free(text);
    agora_arena_free(arena);
    agora_arena_free(doc_arena);
    return 0;
}
