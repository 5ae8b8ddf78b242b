/*
 * Tests of the SQLite dead-letter queue: schema, row contents, transactions,
 * counts and error paths, checked with the sqlite3 command-line tool and the
 * SQLite C API against the column list documented in agora/dlq.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <regex.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agora/config.h"
#include "agora/dlq.h"
#include "agora/value.h"

typedef struct fixture {
    char dir[64];
    char db[128];
    agora_arena *arena;
    agora_error err;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));

    if (fx == NULL)
        return -1;
    strcpy(fx->dir, "/tmp/agora-test-dlq-XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    snprintf(fx->db, sizeof(fx->db), "%s/state/dlq.db", fx->dir);
    fx->arena = agora_arena_new(0);
    agora_error_clear(&fx->err);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", fx->dir);
    agora_arena_free(fx->arena);
    free(fx);
    return 0;
}

static agora_value *parse(fixture *fx, const char *json)
{
    agora_error err;
    agora_value *v = agora_json_parse(fx->arena, json, strlen(json), NULL, &err);

    if (v == NULL)
        fail_msg("test JSON does not parse: %s: %s", json, err.message);
    return v;
}

/* Runs a shell command and returns its standard output (heap string). */
static char *run_command(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    FILE *p;
    char *out = NULL;
    size_t len = 0, cap = 0, n;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);

    p = popen(cmd, "r");
    assert_non_null(p);
    do {
        if (cap - len < 4096) {
            cap = cap * 2 + 4096;
            out = realloc(out, cap + 1);
            assert_non_null(out);
        }
        n = fread(out + len, 1, cap - len, p);
        len += n;
    } while (n > 0);
    out[len] = '\0';
    assert_int_equal(pclose(p), 0);
    return out;
}

static bool have_sqlite3_tool(void)
{
    if (system("command -v sqlite3 >/dev/null 2>&1") == 0)
        return true;
    print_message("sqlite3 command-line tool not found: skipping\n");
    return false;
}

static agora_dlq *open_dlq(fixture *fx)
{
    agora_dlq *dlq;

    agora_error_clear(&fx->err);
    dlq = agora_dlq_open(fx->db, &fx->err);
    if (dlq == NULL)
        fail_msg("agora_dlq_open failed: %s", fx->err.message);
    return dlq;
}

static agora_dlq_entry minimal_entry(const char *pipeline_id)
{
    agora_dlq_entry e = {
        .pipeline_id = pipeline_id,
        .run_id = "0123456789abcdef0123456789abcdef",
        .stage = AGORA_STAGE_MIDDLEWARE,
        .error_type = "ValidationError",
        .error_message = "field 'year' is missing",
    };

    return e;
}

/* Every column of the documented table, in order: name|type|notnull|default|pk. */
static void dlq_schema_matches_documented_columns(void **state)
{
    fixture *fx = *state;
    agora_dlq *dlq;
    char *text;

    if (!have_sqlite3_tool())
        return;
    dlq = open_dlq(fx);
    agora_dlq_free(dlq);

    text = run_command("sqlite3 '%s' \"SELECT name, type, \\\"notnull\\\", "
                       "quote(dflt_value), pk FROM pragma_table_info('dlq_records')\"",
                       fx->db);
    assert_string_equal(text,
                        "id|INTEGER|0|NULL|1\n"
                        "pipeline_id|TEXT|1|NULL|0\n"
                        "run_id|TEXT|1|NULL|0\n"
                        "stage|TEXT|1|NULL|0\n"
                        "error_type|TEXT|1|NULL|0\n"
                        "error_message|TEXT|1|NULL|0\n"
                        "record|TEXT|0|NULL|0\n"
                        "original_record|TEXT|0|NULL|0\n"
                        "processed_record|TEXT|0|NULL|0\n"
                        "source|TEXT|0|NULL|0\n"
                        "checkpoint|TEXT|0|NULL|0\n"
                        "middleware|TEXT|0|NULL|0\n"
                        "sink|TEXT|0|NULL|0\n"
                        "created_at|TEXT|1|NULL|0\n"
                        "attempt|INTEGER|1|'0'|0\n"
                        "max_attempts|INTEGER|0|NULL|0\n");
    free(text);

    /* AUTOINCREMENT shows in the stored CREATE statement only. */
    text = run_command("sqlite3 '%s' \"SELECT sql LIKE '%%id INTEGER PRIMARY KEY "
                       "AUTOINCREMENT%%' FROM sqlite_master WHERE name = "
                       "'dlq_records'\"", fx->db);
    assert_string_equal(text, "1\n");
    free(text);

    text = run_command("sqlite3 '%s' \"SELECT group_concat(ii.name, ',') FROM "
                       "pragma_index_list('dlq_records') AS il, "
                       "pragma_index_info(il.name) AS ii WHERE il.origin = 'c'\"",
                       fx->db);
    assert_string_equal(text, "pipeline_id,stage\n");
    free(text);

    text = run_command("sqlite3 '%s' 'PRAGMA journal_mode'", fx->db);
    assert_string_equal(text, "wal\n");
    free(text);
}

static void dlq_write_stores_all_fields(void **state)
{
    fixture *fx = *state;
    agora_dlq *dlq;
    agora_dlq_entry e;
    char *text;

    if (!have_sqlite3_tool())
        return;
    dlq = open_dlq(fx);
    e = minimal_entry("movies");
    e.stage = AGORA_STAGE_SINK_WRITE;
    e.error_type = "SinkError";
    e.error_message = "table \"t\" rejected the record: UNIQUE failed";
    e.record = parse(fx, "{\"title\":\"Heat\",\"year\":1995,\"r\":7.5}");
    e.original_record = parse(fx, "{\"title\":\" Heat \",\"tags\":[\"a\",null]}");
    e.processed_record = parse(fx, "{\"title\":\"Heat\",\"ok\":true}");
    e.source = "jsonl";
    e.checkpoint = "{\"line\":42}";
    e.middleware = "validate";
    e.sink = "db";

    assert_int_equal(agora_dlq_write(dlq, &e, &fx->err), 0);
    agora_dlq_free(dlq);

    text = run_command("sqlite3 -separator ' ~ ' '%s' 'SELECT id, pipeline_id, "
                       "run_id, stage, error_type, error_message, record, "
                       "original_record, processed_record, source, checkpoint, "
                       "middleware, sink, attempt, quote(max_attempts) FROM "
                       "dlq_records'", fx->db);
    assert_string_equal(text,
                        "1 ~ movies ~ 0123456789abcdef0123456789abcdef ~ "
                        "sink_write ~ SinkError ~ table \"t\" rejected the "
                        "record: UNIQUE failed ~ "
                        "{\"title\":\"Heat\",\"year\":1995,\"r\":7.5} ~ "
                        "{\"title\":\" Heat \",\"tags\":[\"a\",null]} ~ "
                        "{\"title\":\"Heat\",\"ok\":true} ~ jsonl ~ "
                        "{\"line\":42} ~ validate ~ db ~ 0 ~ NULL\n");
    free(text);

    /* The stored record is JSON that SQLite's own parser accepts. */
    text = run_command("sqlite3 '%s' \"SELECT json_extract(record, '$.year'), "
                       "json_extract(original_record, '$.tags[0]') FROM "
                       "dlq_records\"", fx->db);
    assert_string_equal(text, "1995|a\n");
    free(text);
}

/* created_at: UTC ISO 8601 with microseconds, whatever the local time zone. */
static void dlq_created_at_is_utc_iso8601(void **state)
{
    fixture *fx = *state;
    agora_dlq *dlq;
    agora_dlq_entry e = minimal_entry("p");
    regex_t re;
    char *text;

    if (!have_sqlite3_tool())
        return;
    setenv("TZ", "XYZ+05", 1);
    tzset();
    dlq = open_dlq(fx);
    assert_int_equal(agora_dlq_write(dlq, &e, &fx->err), 0);
    agora_dlq_free(dlq);
    unsetenv("TZ");
    tzset();

    text = run_command("sqlite3 '%s' 'SELECT created_at FROM dlq_records'", fx->db);
    assert_int_equal(regcomp(&re,
                             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"
                             "[0-9]{2}\\.[0-9]{6}\\+00:00\n$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    if (regexec(&re, text, 0, NULL, 0) != 0)
        fail_msg("created_at has the wrong form: %s", text);
    regfree(&re);
    free(text);

    /* SQLite's clock agrees within an hour, which a local-time bug (5 h) breaks. */
    text = run_command("sqlite3 '%s' \"SELECT abs(julianday(created_at) - "
                       "julianday('now')) < 1.0 / 24 FROM dlq_records\"", fx->db);
    assert_string_equal(text, "1\n");
    free(text);
}

static void dlq_raw_record_stored_verbatim(void **state)
{
    fixture *fx = *state;
    agora_dlq *dlq;
    agora_dlq_entry e = minimal_entry("p");
    static const char raw[] = "{\"broken\": tru";
    sqlite3 *db;
    sqlite3_stmt *stmt;

    dlq = open_dlq(fx);
    e.stage = AGORA_STAGE_SOURCE;
    e.error_type = "ParseError";
    e.record_raw = raw;
    e.record_raw_len = sizeof(raw) - 1;
    assert_int_equal(agora_dlq_write(dlq, &e, &fx->err), 0);
    agora_dlq_free(dlq);

    assert_int_equal(sqlite3_open_v2(fx->db, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT record, original_record, "
                                            "processed_record, sink, stage "
                                            "FROM dlq_records", -1, &stmt, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(stmt, 0), raw);
    assert_int_equal(sqlite3_column_type(stmt, 1), SQLITE_NULL);
    assert_int_equal(sqlite3_column_type(stmt, 2), SQLITE_NULL);
    assert_int_equal(sqlite3_column_type(stmt, 3), SQLITE_NULL);
    assert_string_equal((const char *)sqlite3_column_text(stmt, 4), "source");
    assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
}

static void dlq_count_per_pipeline(void **state)
{
    fixture *fx = *state;
    agora_dlq *dlq = open_dlq(fx);
    agora_dlq_entry a = minimal_entry("a");
    agora_dlq_entry b = minimal_entry("b");

    assert_int_equal(agora_dlq_count(dlq, NULL, &fx->err), 0);
    assert_int_equal(agora_dlq_begin(dlq, &fx->err), 0);
    assert_int_equal(agora_dlq_write(dlq, &a, &fx->err), 0);
    assert_int_equal(agora_dlq_write(dlq, &b, &fx->err), 0);
    assert_int_equal(agora_dlq_write(dlq, &a, &fx->err), 0);
    assert_int_equal(agora_dlq_commit(dlq, &fx->err), 0);

    assert_int_equal(agora_dlq_count(dlq, NULL, &fx->err), 3);
    assert_int_equal(agora_dlq_count(dlq, "a", &fx->err), 2);
    assert_int_equal(agora_dlq_count(dlq, "b", &fx->err), 1);
    assert_int_equal(agora_dlq_count(dlq, "c", &fx->err), 0);
    assert_string_equal(agora_dlq_path(dlq), fx->db);
    agora_dlq_free(dlq);
}

/* Free drops the rows of an uncommitted transaction but keeps earlier rows. */
static void dlq_uncommitted_rows_roll_back(void **state)
{
    fixture *fx = *state;
    agora_dlq *dlq = open_dlq(fx);
    agora_dlq_entry e = minimal_entry("p");

    assert_int_equal(agora_dlq_write(dlq, &e, &fx->err), 0);
    assert_int_equal(agora_dlq_begin(dlq, &fx->err), 0);
    assert_int_equal(agora_dlq_write(dlq, &e, &fx->err), 0);
    agora_dlq_free(dlq);

    dlq = open_dlq(fx);
    assert_int_equal(agora_dlq_count(dlq, NULL, &fx->err), 1);
    agora_dlq_free(dlq);
}

static void dlq_reopen_keeps_rows(void **state)
{
    fixture *fx = *state;
    agora_dlq *dlq = open_dlq(fx);
    agora_dlq_entry e = minimal_entry("p");

    assert_int_equal(agora_dlq_write(dlq, &e, &fx->err), 0);
    agora_dlq_free(dlq);

    dlq = open_dlq(fx);
    assert_int_equal(agora_dlq_write(dlq, &e, &fx->err), 0);
    assert_int_equal(agora_dlq_count(dlq, "p", &fx->err), 2);
    agora_dlq_free(dlq);
}

/* Two handles on one file (two pipelines of a worker) both get their rows in. */
static void dlq_two_handles_share_file(void **state)
{
    fixture *fx = *state;
    agora_dlq *first = open_dlq(fx);
    agora_dlq *second = open_dlq(fx);
    agora_dlq_entry a = minimal_entry("a");
    agora_dlq_entry b = minimal_entry("b");

    assert_int_equal(agora_dlq_write(first, &a, &fx->err), 0);
    assert_int_equal(agora_dlq_write(second, &b, &fx->err), 0);
    assert_int_equal(agora_dlq_count(first, NULL, &fx->err), 2);
    agora_dlq_free(first);
    agora_dlq_free(second);
}

/* A write that the database rejects (table dropped behind the handle's back). */
static void dlq_write_failure_names_path(void **state)
{
    fixture *fx = *state;
    agora_dlq *dlq = open_dlq(fx);
    agora_dlq_entry e = minimal_entry("p");
    sqlite3 *other = NULL;

    assert_int_equal(sqlite3_open(fx->db, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "DROP TABLE dlq_records", NULL, NULL,
                                  NULL),
                     SQLITE_OK);
    sqlite3_close(other);

    assert_int_equal(agora_dlq_write(dlq, &e, &fx->err), AGORA_EDLQ);
    assert_non_null(strstr(fx->err.message, fx->db));
    assert_non_null(strstr(fx->err.message, "dlq_records"));
    assert_int_equal(agora_dlq_count(dlq, NULL, &fx->err), -1);
    assert_int_equal(fx->err.code, AGORA_EDLQ);
    agora_dlq_free(dlq);
}

static void dlq_missing_required_field_rejected(void **state)
{
    fixture *fx = *state;
    agora_dlq *dlq = open_dlq(fx);
    agora_dlq_entry e = minimal_entry("p");

    e.error_type = NULL;
    assert_int_equal(agora_dlq_write(dlq, &e, &fx->err), AGORA_EINVAL);
    assert_non_null(strstr(fx->err.message, "error_type"));
    assert_int_equal(agora_dlq_count(dlq, NULL, &fx->err), 0);
    agora_dlq_free(dlq);
}

static void dlq_commit_without_begin_fails(void **state)
{
    fixture *fx = *state;
    agora_dlq *dlq = open_dlq(fx);

    assert_int_equal(agora_dlq_commit(dlq, &fx->err), AGORA_ESTATE);
    assert_int_equal(agora_dlq_begin(dlq, &fx->err), 0);
    assert_int_equal(agora_dlq_begin(dlq, &fx->err), AGORA_ESTATE);
    assert_int_equal(agora_dlq_commit(dlq, &fx->err), 0);
    agora_dlq_free(dlq);
}

static void dlq_open_failure_names_path(void **state)
{
    fixture *fx = *state;
    char plain[128], path[160];
    FILE *f;

    /* A regular file where a directory should be fails even for root. */
    snprintf(plain, sizeof(plain), "%s/plain", fx->dir);
    f = fopen(plain, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/dlq.db", plain);

    agora_error_clear(&fx->err);
    assert_null(agora_dlq_open(path, &fx->err));
    assert_true(fx->err.code < 0);
    assert_non_null(strstr(fx->err.message, path));
}

static void dlq_not_a_database_fails(void **state)
{
    fixture *fx = *state;
    char path[160];
    FILE *f;

    snprintf(path, sizeof(path), "%s/garbage.db", fx->dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("this is not an SQLite database, just some text that is long "
          "enough to fill the header of one.................................\n",
          f);
    fclose(f);

    agora_error_clear(&fx->err);
    assert_null(agora_dlq_open(path, &fx->err));
    assert_int_equal(fx->err.code, AGORA_EDLQ);
    assert_non_null(strstr(fx->err.message, path));
}

static void dlq_free_accepts_null(void **state)
{
    agora_dlq_free(NULL);
}

/* ---- Reading, purging and replaying ------------------------------------- */

/* Runs SQL on fx->db through the sqlite3 tool, so rows come from outside agora. */
static void sql_tool(fixture *fx, const char *sql)
{
    char path[192];
    FILE *f;

    snprintf(path, sizeof(path), "%s/script.sql", fx->dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(sql, f);
    fclose(f);
    free(run_command("mkdir -p '%s/state' && sqlite3 '%s' < '%s'", fx->dir,
                     fx->db, path));
}

/* Returns the first column of the first row of query, as text (heap). */
static char *sql_value(fixture *fx, const char *query)
{
    char *out = run_command("sqlite3 '%s' \"%s\"", fx->db, query);
    size_t len = strlen(out);

    while (len > 0 && out[len - 1] == '\n')
        out[--len] = '\0';
    return out;
}

static void assert_sql(fixture *fx, const char *query, const char *expected)
{
    char *got = sql_value(fx, query);

    if (strcmp(got, expected) != 0)
        fail_msg("%s: expected '%s', got '%s'", query, expected, got);
    free(got);
}

static const char documented_table[] =
    "CREATE TABLE dlq_records (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "pipeline_id TEXT NOT NULL, run_id TEXT NOT NULL, stage TEXT NOT NULL, "
    "error_type TEXT NOT NULL, error_message TEXT NOT NULL, record TEXT, "
    "original_record TEXT, processed_record TEXT, source TEXT, checkpoint TEXT, "
    "middleware TEXT, sink TEXT, created_at TEXT NOT NULL, "
    "attempt INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER);\n";

/* Six rows of two pipelines, written by the sqlite3 tool. */
static void seed_rows(fixture *fx)
{
    char sql[4096];

    snprintf(sql, sizeof(sql), "%s"
             "INSERT INTO dlq_records (pipeline_id, run_id, stage, error_type, "
             "error_message, record, original_record, processed_record, sink, "
             "created_at, attempt, max_attempts) VALUES "
             "('p', 'r1', 'middleware', 'E', 'm1', '{\"n\": 1}', '{\"n\": 1}', NULL, NULL, '2026-01-01T00:00:00+00:00', 0, NULL),"
             "('p', 'r1', 'sink_write', 'E', 'm2', '{\"n\": 2}', '{\"n\": 2}', '{\"n\": 20}', 'b', '2026-01-02T00:00:00.5+00:00', 0, NULL),"
             "('q', 'r2', 'middleware', 'E', 'm3', '{\"n\": 3}', NULL, NULL, NULL, '2026-01-03T00:00:00+00:00', 0, NULL),"
             "('p', 'r2', 'source', 'ParseError', 'm4', '{\"n\": ', NULL, NULL, NULL, '2026-01-04T00:00:00+00:00', 0, NULL),"
             "('p', 'r2', 'middleware', 'E', 'm5', '{\"n\": 5}', NULL, NULL, NULL, '2026-01-05T00:00:00+00:00', 2, 2),"
             "('p', 'r2', 'middleware', 'E', 'm6', '{\"n\": 6}', NULL, NULL, NULL, '2026-01-06T00:00:00+00:00', 1, 5);",
             documented_table);
    sql_tool(fx, sql);
}

static agora_dlq *open_existing(fixture *fx)
{
    agora_dlq *dlq = agora_dlq_open_existing(fx->db, &fx->err);

    if (dlq == NULL)
        fail_msg("agora_dlq_open_existing failed: %s", fx->err.message);
    return dlq;
}

static void dlq_open_existing_missing_file(void **state)
{
    fixture *fx = *state;

    assert_null(agora_dlq_open_existing(fx->db, &fx->err));
    assert_int_equal(fx->err.code, AGORA_ENOTFOUND);
    assert_non_null(strstr(fx->err.message, fx->db));
    assert_int_not_equal(access(fx->db, F_OK), 0);
}

static void dlq_open_existing_without_table(void **state)
{
    fixture *fx = *state;

    if (!have_sqlite3_tool())
        skip();
    sql_tool(fx, "CREATE TABLE other (x);");
    assert_null(agora_dlq_open_existing(fx->db, &fx->err));
    assert_int_equal(fx->err.code, AGORA_EDLQ);
    assert_non_null(strstr(fx->err.message, "dlq_records"));
}

/* Another program's file keeps its journal mode and gets no index. */
static void dlq_open_existing_leaves_file_alone(void **state)
{
    fixture *fx = *state;

    if (!have_sqlite3_tool())
        skip();
    seed_rows(fx);
    agora_dlq *dlq = open_existing(fx);
    assert_int_equal(agora_dlq_count(dlq, NULL, &fx->err), 6);
    agora_dlq_free(dlq);
    assert_sql(fx, "PRAGMA journal_mode", "delete");
    assert_sql(fx, "SELECT count(*) FROM sqlite_master WHERE type = 'index' "
                   "AND name = 'idx_dlq_records_pipeline_stage'", "0");
}

static void dlq_read_returns_every_column(void **state)
{
    fixture *fx = *state;
    agora_dlq_row row;

    if (!have_sqlite3_tool())
        skip();
    seed_rows(fx);
    agora_dlq *dlq = open_existing(fx);
    assert_int_equal(agora_dlq_get(dlq, 2, &row, &fx->err), 1);
    assert_int_equal(row.id, 2);
    assert_string_equal(row.pipeline_id, "p");
    assert_string_equal(row.run_id, "r1");
    assert_string_equal(row.stage, "sink_write");
    assert_string_equal(row.error_type, "E");
    assert_string_equal(row.error_message, "m2");
    assert_string_equal(row.record, "{\"n\": 2}");
    assert_string_equal(row.original_record, "{\"n\": 2}");
    assert_string_equal(row.processed_record, "{\"n\": 20}");
    assert_null(row.source);
    assert_null(row.checkpoint);
    assert_null(row.middleware);
    assert_string_equal(row.sink, "b");
    assert_string_equal(row.created_at, "2026-01-02T00:00:00.5+00:00");
    assert_int_equal(row.attempt, 0);
    assert_int_equal(row.max_attempts, -1);
    agora_dlq_row_clear(&row);
    assert_null(row.pipeline_id);

    assert_int_equal(agora_dlq_get(dlq, 6, &row, &fx->err), 1);
    assert_int_equal(row.attempt, 1);
    assert_int_equal(row.max_attempts, 5);
    agora_dlq_row_clear(&row);
    assert_int_equal(agora_dlq_get(dlq, 99, &row, &fx->err), 0);
    agora_dlq_row_clear(NULL);
    agora_dlq_free(dlq);
}

static void dlq_read_filters_and_pages(void **state)
{
    fixture *fx = *state;
    agora_dlq_row rows[4];

    if (!have_sqlite3_tool())
        skip();
    seed_rows(fx);
    agora_dlq *dlq = open_existing(fx);
    agora_dlq_filter filter = {.pipeline_id = "p"};

    assert_int_equal(agora_dlq_read(dlq, &filter, rows, 2, &fx->err), 2);
    assert_int_equal(rows[0].id, 1);
    assert_int_equal(rows[1].id, 2);
    filter.after_id = rows[1].id;
    agora_dlq_row_clear(&rows[0]);
    agora_dlq_row_clear(&rows[1]);
    assert_int_equal(agora_dlq_read(dlq, &filter, rows, 4, &fx->err), 3);
    assert_int_equal(rows[0].id, 4);
    assert_int_equal(rows[1].id, 5);
    assert_int_equal(rows[2].id, 6);
    for (int i = 0; i < 3; i++)
        agora_dlq_row_clear(&rows[i]);
    filter.after_id = 6;
    assert_int_equal(agora_dlq_read(dlq, &filter, rows, 4, &fx->err), 0);

    agora_dlq_filter by_stage = {.pipeline_id = "p", .stage = "middleware",
                                 .run_id = "r2", .max_id = 5};
    assert_int_equal(agora_dlq_read(dlq, &by_stage, rows, 4, &fx->err), 1);
    assert_int_equal(rows[0].id, 5);
    agora_dlq_row_clear(&rows[0]);

    agora_dlq_filter all = {0};
    assert_int_equal(agora_dlq_count_matching(dlq, &all, &fx->err), 6);
    assert_int_equal(agora_dlq_count_matching(dlq, NULL, &fx->err), 6);
    assert_int_equal(agora_dlq_max_id(dlq, &fx->err), 6);
    agora_dlq_free(dlq);
}

typedef struct group_log {
    char text[256];
} group_log;

static void log_group(void *ctx, const char *pipeline_id, const char *stage,
                      long long count)
{
    group_log *log = ctx;
    size_t used = strlen(log->text);

    snprintf(log->text + used, sizeof(log->text) - used, "%s/%s=%lld ",
             pipeline_id, stage, count);
}

static void dlq_count_groups_by_pipeline_stage(void **state)
{
    fixture *fx = *state;
    group_log log = {""};

    if (!have_sqlite3_tool())
        skip();
    seed_rows(fx);
    agora_dlq *dlq = open_existing(fx);
    assert_int_equal(agora_dlq_count_groups(dlq, NULL, log_group, &log, &fx->err), 0);
    assert_string_equal(log.text, "p/middleware=3 p/sink_write=1 p/source=1 "
                                  "q/middleware=1 ");
    agora_dlq_free(dlq);
}

static void dlq_purge_before_date(void **state)
{
    fixture *fx = *state;

    if (!have_sqlite3_tool())
        skip();
    seed_rows(fx);
    agora_dlq *dlq = open_existing(fx);
    /* 2026-01-02T02:00+02:00 is midnight UTC: row 2 (00:00:00.5) is not older. */
    agora_dlq_filter filter = {.pipeline_id = "p",
                               .before = "2026-01-02T02:00:00+02:00"};
    assert_int_equal(agora_dlq_purge(dlq, &filter, &fx->err), 1);
    assert_sql(fx, "SELECT group_concat(id) FROM dlq_records", "2,3,4,5,6");

    filter.before = "2026-01-05";
    assert_int_equal(agora_dlq_purge(dlq, &filter, &fx->err), 2);
    assert_sql(fx, "SELECT group_concat(id) FROM dlq_records", "3,5,6");

    filter.before = "next tuesday";
    assert_int_equal(agora_dlq_purge(dlq, &filter, &fx->err), AGORA_EINVAL);
    assert_non_null(strstr(fx->err.message, "next tuesday"));
    assert_int_equal(agora_dlq_purge(dlq, NULL, &fx->err), 3);
    assert_sql(fx, "SELECT count(*) FROM dlq_records", "0");
    agora_dlq_free(dlq);
}

static void dlq_attempt_and_delete_commit(void **state)
{
    fixture *fx = *state;

    if (!have_sqlite3_tool())
        skip();
    seed_rows(fx);
    agora_dlq *dlq = open_existing(fx);
    assert_int_equal(agora_dlq_increment_attempt(dlq, 6, &fx->err), 1);
    /* Read by another process while the handle is still open: committed. */
    assert_sql(fx, "SELECT attempt FROM dlq_records WHERE id = 6", "2");
    assert_int_equal(agora_dlq_delete(dlq, 6, &fx->err), 1);
    assert_sql(fx, "SELECT count(*) FROM dlq_records WHERE id = 6", "0");
    assert_int_equal(agora_dlq_delete(dlq, 6, &fx->err), 0);
    assert_int_equal(agora_dlq_increment_attempt(dlq, 6, &fx->err), 0);
    agora_dlq_free(dlq);
}

/* ---- agora_dlq_replay --------------------------------------------------- */

/*
 * Writes fx->dir/p.toml: pipeline p with DLQ fx->db, a validate middleware
 * requiring n, a filter dropping n = 3, and sinks a and b writing JSONL in
 * mode overwrite (the default).
 */
static agora_config *replay_config(fixture *fx)
{
    char path[192];
    FILE *f;

    snprintf(path, sizeof(path), "%s/p.toml", fx->dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "format = \"agora/v1\"\n"
            "[pipelines.p]\n"
            "source = { type = \"jsonl\", path = \"in.jsonl\" }\n"
            "dlq = { path = \"state/dlq.db\" }\n"
            "[[pipelines.p.middlewares]]\n"
            "type = \"validate\"\n"
            "required = [\"n\"]\n"
            "[[pipelines.p.middlewares]]\n"
            "type = \"filter\"\n"
            "expression = \"n != 3\"\n"
            "[[pipelines.p.sinks]]\n"
            "type = \"jsonl\"\n"
            "name = \"a\"\n"
            "path = \"a.jsonl\"\n"
            "[[pipelines.p.sinks]]\n"
            "type = \"jsonl\"\n"
            "name = \"b\"\n"
            "path = \"b.jsonl\"\n");
    fclose(f);
    agora_config *cfg = agora_config_load(path, &fx->err);
    if (cfg == NULL)
        fail_msg("config: %s", fx->err.message);
    return cfg;
}

static char *read_output(fixture *fx, const char *name)
{
    return run_command("cat '%s/%s' 2>/dev/null || true", fx->dir, name);
}

typedef struct outcome_log {
    char text[2048];
} outcome_log;

static void log_outcome(void *ctx, const agora_dlq_row *row,
                        agora_replay_outcome outcome, const char *reason)
{
    outcome_log *log = ctx;
    static const char *const names[] = {"ok", "failed", "skipped"};
    size_t used = strlen(log->text);

    snprintf(log->text + used, sizeof(log->text) - used, "%lld:%s:%s\n",
             (long long)row->id, names[outcome], reason ? reason : "");
}

static void dlq_replay_pipeline_mode(void **state)
{
    fixture *fx = *state;
    outcome_log log = {""};
    agora_replay_report report;

    if (!have_sqlite3_tool())
        skip();
    seed_rows(fx);
    free(run_command("echo '{\"old\":1}' > '%s/a.jsonl'", fx->dir));
    agora_config *cfg = replay_config(fx);
    agora_replay_options opts = {.on_row = log_outcome, .on_row_ctx = &log};

    assert_int_equal(agora_dlq_replay(cfg, 0, &opts, &report, &fx->err), 0);
    /* Rows of p: 1 ok, 2 ok (sink b only), 4 raw text fails, 5 used up,
     * 6 ok. Row 3 belongs to q. */
    assert_int_equal(report.attempted, 4);
    assert_int_equal(report.succeeded, 3);
    assert_int_equal(report.dropped, 0);
    assert_int_equal(report.failed, 1);
    assert_int_equal(report.skipped, 1);
    assert_non_null(strstr(log.text, "4:failed:the payload is not valid JSON"));
    assert_non_null(strstr(log.text, "5:skipped:attempts used up (2 of max_attempts 2)"));

    char *a = read_output(fx, "a.jsonl");
    char *b = read_output(fx, "b.jsonl");
    assert_string_equal(a, "{\"old\":1}\n{\"n\":1}\n{\"n\":6}\n");
    assert_string_equal(b, "{\"n\":1}\n{\"n\":2}\n{\"n\":6}\n");
    free(a);
    free(b);
    assert_sql(fx, "SELECT group_concat(id || ':' || attempt) FROM dlq_records",
               "3:0,4:0,5:2");
    agora_config_free(cfg);
}

static void dlq_replay_sink_mode_and_drop(void **state)
{
    fixture *fx = *state;
    outcome_log log = {""};
    agora_replay_report report;

    if (!have_sqlite3_tool())
        skip();
    seed_rows(fx);
    sql_tool(fx, "INSERT INTO dlq_records (pipeline_id, run_id, stage, "
                 "error_type, error_message, record, created_at) VALUES "
                 "('p', 'r3', 'middleware', 'E', 'm7', '{\"n\": 3}', "
                 "'2026-01-07T00:00:00+00:00');");
    agora_config *cfg = replay_config(fx);
    agora_replay_options opts = {.mode = AGORA_REPLAY_SINK,
                                 .on_row = log_outcome, .on_row_ctx = &log};

    assert_int_equal(agora_dlq_replay(cfg, 0, &opts, &report, &fx->err), 0);
    assert_int_equal(report.attempted, 1);
    assert_int_equal(report.succeeded, 1);
    assert_int_equal(report.skipped, 5);
    char *b = read_output(fx, "b.jsonl");
    assert_string_equal(b, "{\"n\":20}\n");
    free(b);
    char *a = read_output(fx, "a.jsonl");
    assert_string_equal(a, "");
    free(a);

    /* Pipeline mode, run 'r3' only: the filter drops n = 3, which counts as done. */
    memset(&log, 0, sizeof(log));
    agora_replay_options by_run = {.run_id = "r3", .on_row = log_outcome,
                                   .on_row_ctx = &log};
    assert_int_equal(agora_dlq_replay(cfg, 0, &by_run, &report, &fx->err), 0);
    assert_int_equal(report.attempted, 1);
    assert_int_equal(report.succeeded, 1);
    assert_int_equal(report.dropped, 1);
    assert_non_null(strstr(log.text, "7:ok:dropped by middleware 'filter'"));
    assert_sql(fx, "SELECT count(*) FROM dlq_records WHERE id = 7", "0");
    agora_config_free(cfg);
}

static void dlq_replay_failure_raises_attempt(void **state)
{
    fixture *fx = *state;
    outcome_log log = {""};
    agora_replay_report report;

    if (!have_sqlite3_tool())
        skip();
    seed_rows(fx);
    sql_tool(fx, "INSERT INTO dlq_records (pipeline_id, run_id, stage, "
                 "error_type, error_message, record, created_at) VALUES "
                 "('p', 'r3', 'middleware', 'E', 'm7', '{\"k\": 1}', "
                 "'2026-01-07T00:00:00+00:00');");
    agora_config *cfg = replay_config(fx);
    agora_replay_options opts = {.stage = "middleware", .limit = 1,
                                 .run_id = "r3", .on_row = log_outcome,
                                 .on_row_ctx = &log};

    assert_int_equal(agora_dlq_replay(cfg, 0, &opts, &report, &fx->err), 0);
    assert_int_equal(report.attempted, 1);
    assert_int_equal(report.failed, 1);
    assert_non_null(strstr(log.text, "7:failed:middleware 'validate' rejected"));
    assert_sql(fx, "SELECT attempt FROM dlq_records WHERE id = 7", "1");
    assert_int_equal(agora_dlq_replay(cfg, 0, &opts, &report, &fx->err), 0);
    assert_sql(fx, "SELECT attempt FROM dlq_records WHERE id = 7", "2");

    /* --limit counts tried rows: one row of the six left is tried. */
    agora_replay_options limited = {.limit = 1};
    assert_int_equal(agora_dlq_replay(cfg, 0, &limited, &report, &fx->err), 0);
    assert_int_equal(report.attempted, 1);
    assert_sql(fx, "SELECT count(*) FROM dlq_records", "6");
    agora_config_free(cfg);
}

static void dlq_replay_without_dlq_file(void **state)
{
    fixture *fx = *state;
    agora_replay_report report;

    agora_config *cfg = replay_config(fx);
    agora_replay_options opts = {0};
    assert_int_equal(agora_dlq_replay(cfg, 0, &opts, &report, &fx->err), 0);
    assert_int_equal(report.attempted, 0);
    assert_int_not_equal(access(fx->db, F_OK), 0);
    agora_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(dlq_schema_matches_documented_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_write_stores_all_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_created_at_is_utc_iso8601, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_raw_record_stored_verbatim, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_count_per_pipeline, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_uncommitted_rows_roll_back, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_reopen_keeps_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_two_handles_share_file, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_write_failure_names_path, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_missing_required_field_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_commit_without_begin_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_open_failure_names_path, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_not_a_database_fails, setup, teardown),
        cmocka_unit_test(dlq_free_accepts_null),
        cmocka_unit_test_setup_teardown(dlq_open_existing_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_open_existing_without_table, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_open_existing_leaves_file_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_read_returns_every_column, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_read_filters_and_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_count_groups_by_pipeline_stage, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_purge_before_date, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_attempt_and_delete_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_replay_pipeline_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_replay_sink_mode_and_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_replay_failure_raises_attempt, setup, teardown),
        cmocka_unit_test_setup_teardown(dlq_replay_without_dlq_file, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
