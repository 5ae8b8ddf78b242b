/*
 * Dead-letter queue: failed records as rows of dlq_records in an SQLite file.
 *
 * The file runs in WAL mode with a busy timeout, so several pipelines (each
 * with its own handle) and a reader such as `agora dlq list` can share it.
 * One handle must be used by one thread at a time.
 *
 * Besides writing, a handle reads, counts and deletes rows for `agora dlq`
 * (replay itself is in dlq_replay.c). Those functions build their WHERE
 * clause from an agora_dlq_filter and bind every value as a parameter.
 */
#include "agora/dlq.h"
#include "core/sqlite_util.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "agora/config.h"

/* Milliseconds a write waits for another connection's lock. */
#define DLQ_BUSY_TIMEOUT_MS 10000

static const char dlq_schema[] =
    "CREATE TABLE IF NOT EXISTS dlq_records ("
    "id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "pipeline_id TEXT NOT NULL, "
    "run_id TEXT NOT NULL, "
    "stage TEXT NOT NULL, "
    "error_type TEXT NOT NULL, "
    "error_message TEXT NOT NULL, "
    "record TEXT, "
    "original_record TEXT, "
    "processed_record TEXT, "
    "source TEXT, "
    "checkpoint TEXT, "
    "middleware TEXT, "
    "sink TEXT, "
    "created_at TEXT NOT NULL, "
    "attempt INTEGER NOT NULL DEFAULT 0, "
    "max_attempts INTEGER);"
    "CREATE INDEX IF NOT EXISTS idx_dlq_records_pipeline_stage "
    "ON dlq_records (pipeline_id, stage);";

static const char dlq_insert_sql[] =
    "INSERT INTO dlq_records (pipeline_id, run_id, stage, error_type, "
    "error_message, record, original_record, processed_record, source, "
    "checkpoint, middleware, sink, created_at, attempt, max_attempts) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 0, NULL)";

struct agora_dlq {
    char *path;
    sqlite3 *db;
    sqlite3_stmt *insert;
    bool in_transaction;
    agora_buf json; /* serialized record fields of the current write */
};

static int dlq_db_error(agora_dlq *dlq, agora_error *err,
                        const char *operation)
{
    return agora_error_set(err, AGORA_EDLQ, "DLQ %s: %s failed: %s", dlq->path,
                           operation, sqlite3_errmsg(dlq->db));
}

agora_dlq *agora_dlq_open(const char *path, agora_error *err)
{
    agora_dlq *dlq = NULL;
    int rc;

    if (path == NULL || path[0] == '\0') {
        agora_error_set(err, AGORA_EINVAL, "DLQ path is empty; set the "
                        "pipeline's `dlq.path`");
        return NULL;
    }

    dlq = calloc(1, sizeof(*dlq));
    if (dlq == NULL || (dlq->path = strdup(path)) == NULL) {
        agora_error_set(err, AGORA_ENOMEM, "out of memory");
        goto fail;
    }
    agora_buf_init(&dlq->json);

    rc = agora_mkdir_parents(path, err);
    if (rc < 0) {
        agora_error_prefix(err, "DLQ %s", path);
        goto fail;
    }
    rc = sqlite3_open_v2(path, &dlq->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        agora_error_set(err, AGORA_EDLQ, "DLQ %s: cannot open the database: "
                        "%s; check the path and its permissions", path,
                        dlq->db != NULL ? sqlite3_errmsg(dlq->db)
                                        : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(dlq->db, 1);
    sqlite3_busy_timeout(dlq->db, DLQ_BUSY_TIMEOUT_MS);

    if (core_sqlite_enable_wal(dlq->db, DLQ_BUSY_TIMEOUT_MS) != SQLITE_OK) {
        dlq_db_error(dlq, err, "switching to WAL mode");
        goto fail;
    }
    if (sqlite3_exec(dlq->db, dlq_schema, NULL, NULL, NULL) != SQLITE_OK) {
        dlq_db_error(dlq, err, "creating the dlq_records table");
        goto fail;
    }
    if (sqlite3_prepare_v3(dlq->db, dlq_insert_sql, -1,
                           SQLITE_PREPARE_PERSISTENT, &dlq->insert,
                           NULL) != SQLITE_OK) {
        dlq_db_error(dlq, err, "preparing the insert (is dlq_records a table "
                     "with the expected columns?)");
        goto fail;
    }
    return dlq;

fail:
    agora_dlq_free(dlq);
    return NULL;
}

void agora_dlq_free(agora_dlq *dlq)
{
    if (dlq == NULL)
        return;
    sqlite3_finalize(dlq->insert);
    /* Closing with a transaction open rolls it back: rows never committed
     * were never promised to the caller. */
    if (dlq->db != NULL)
        sqlite3_close(dlq->db);
    agora_buf_free(&dlq->json);
    free(dlq->path);
    free(dlq);
}

int agora_dlq_begin(agora_dlq *dlq, agora_error *err)
{
    if (dlq->in_transaction)
        return agora_error_set(err, AGORA_ESTATE, "DLQ %s: a transaction is "
                               "already open; commit it first", dlq->path);
    if (sqlite3_exec(dlq->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return dlq_db_error(dlq, err, "starting a transaction");
    dlq->in_transaction = true;
    return 0;
}

int agora_dlq_commit(agora_dlq *dlq, agora_error *err)
{
    int rc = 0;

    if (!dlq->in_transaction)
        return agora_error_set(err, AGORA_ESTATE, "DLQ %s: commit without a "
                               "transaction; call agora_dlq_begin first",
                               dlq->path);
    if (sqlite3_exec(dlq->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = dlq_db_error(dlq, err, "committing the written records");
        /* Leave no half-open transaction behind for the next batch. */
        if (!sqlite3_get_autocommit(dlq->db))
            sqlite3_exec(dlq->db, "ROLLBACK", NULL, NULL, NULL);
    }
    dlq->in_transaction = false;
    return rc;
}

/* Formats now as "2026-12-04T19:50:00.123456+00:00" (33 bytes with NUL). */
static void format_utc_now(char out[40])
{
    struct timespec ts;
    struct tm tm;
    size_t n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%06ld+00:00", ts.tv_nsec / 1000);
}

/*
 * Serializes value into dlq->json after the text already there and binds the
 * new part to parameter index. SQLITE_TRANSIENT because the buffer moves
 * when it grows for a later field.
 */
static int bind_json(agora_dlq *dlq, int index, const agora_value *value)
{
    size_t start = dlq->json.len;

    if (value == NULL)
        return sqlite3_bind_null(dlq->insert, index) == SQLITE_OK ? 0
                                                                 : AGORA_EDLQ;
    if (agora_json_write(&dlq->json, value) < 0)
        return AGORA_ENOMEM;
    if (sqlite3_bind_text64(dlq->insert, index, dlq->json.data + start,
                            dlq->json.len - start, SQLITE_TRANSIENT,
                            SQLITE_UTF8) != SQLITE_OK)
        return AGORA_EDLQ;
    return 0;
}

static int bind_text(sqlite3_stmt *stmt, int index, const char *text)
{
    int rc = text != NULL
                 ? sqlite3_bind_text(stmt, index, text, -1, SQLITE_STATIC)
                 : sqlite3_bind_null(stmt, index);

    return rc == SQLITE_OK ? 0 : AGORA_EDLQ;
}

static int check_entry(const agora_dlq *dlq, const agora_dlq_entry *entry,
                       agora_error *err)
{
    const char *missing = NULL;

    if (entry->pipeline_id == NULL)
        missing = "pipeline_id";
    else if (entry->run_id == NULL)
        missing = "run_id";
    else if (entry->stage == NULL)
        missing = "stage";
    else if (entry->error_type == NULL)
        missing = "error_type";
    else if (entry->error_message == NULL)
        missing = "error_message";
    if (missing != NULL)
        return agora_error_set(err, AGORA_EINVAL, "DLQ %s: entry has no %s; "
                               "it is required", dlq->path, missing);
    return 0;
}

int agora_dlq_write(agora_dlq *dlq, const agora_dlq_entry *entry,
                    agora_error *err)
{
    sqlite3_stmt *stmt = dlq->insert;
    char created_at[40];
    int rc;

    rc = check_entry(dlq, entry, err);
    if (rc < 0)
        return rc;

    format_utc_now(created_at);
    dlq->json.len = 0;

    rc = bind_text(stmt, 1, entry->pipeline_id);
    if (rc == 0)
        rc = bind_text(stmt, 2, entry->run_id);
    if (rc == 0)
        rc = bind_text(stmt, 3, entry->stage);
    if (rc == 0)
        rc = bind_text(stmt, 4, entry->error_type);
    if (rc == 0)
        rc = bind_text(stmt, 5, entry->error_message);
    if (rc == 0 && entry->record == NULL && entry->record_raw != NULL)
        rc = sqlite3_bind_text64(stmt, 6, entry->record_raw,
                                 entry->record_raw_len, SQLITE_STATIC,
                                 SQLITE_UTF8) == SQLITE_OK ? 0 : AGORA_EDLQ;
    else if (rc == 0)
        rc = bind_json(dlq, 6, entry->record);
    if (rc == 0)
        rc = bind_json(dlq, 7, entry->original_record);
    if (rc == 0)
        rc = bind_json(dlq, 8, entry->processed_record);
    if (rc == 0)
        rc = bind_text(stmt, 9, entry->source);
    if (rc == 0)
        rc = bind_text(stmt, 10, entry->checkpoint);
    if (rc == 0)
        rc = bind_text(stmt, 11, entry->middleware);
    if (rc == 0)
        rc = bind_text(stmt, 12, entry->sink);
    if (rc == 0)
        rc = bind_text(stmt, 13, created_at);

    if (rc == AGORA_ENOMEM) {
        rc = agora_error_set(err, AGORA_ENOMEM, "DLQ %s: out of memory while "
                             "serializing a record", dlq->path);
    } else if (rc < 0) {
        rc = dlq_db_error(dlq, err, "binding a row");
    } else if (sqlite3_step(stmt) != SQLITE_DONE) {
        rc = dlq_db_error(dlq, err, "inserting a row");
    }

    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return rc;
}

long long agora_dlq_count(agora_dlq *dlq, const char *pipeline_id,
                          agora_error *err)
{
    const char *sql = pipeline_id != NULL
                          ? "SELECT count(*) FROM dlq_records WHERE pipeline_id = ?1"
                          : "SELECT count(*) FROM dlq_records";
    sqlite3_stmt *stmt = NULL;
    long long count = -1;

    if (sqlite3_prepare_v2(dlq->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        dlq_db_error(dlq, err, "counting rows");
        return -1;
    }
    if (pipeline_id != NULL)
        sqlite3_bind_text(stmt, 1, pipeline_id, -1, SQLITE_STATIC);
    if (sqlite3_step(stmt) == SQLITE_ROW)
        count = sqlite3_column_int64(stmt, 0);
    else
        dlq_db_error(dlq, err, "counting rows");
    sqlite3_finalize(stmt);
    return count;
}

const char *agora_dlq_path(const agora_dlq *dlq)
{
    return dlq->path;
}

/* ---- Reading, deleting and purging rows -------------------------------- */

agora_dlq *agora_dlq_open_existing(const char *path, agora_error *err)
{
    agora_dlq *dlq = NULL;
    struct stat st;

    if (path == NULL || path[0] == '\0') {
        agora_error_set(err, AGORA_EINVAL, "DLQ path is empty; give the path "
                        "of a DLQ file");
        return NULL;
    }
    /* sqlite3_open_v2 without SQLITE_OPEN_CREATE reports a missing file as
     * "unable to open", so check first and report the missing file. */
    if (stat(path, &st) != 0) {
        agora_error_set(err, AGORA_ENOTFOUND, "DLQ %s does not exist; check "
                        "the path (a pipeline creates its DLQ file on its "
                        "first run)", path);
        return NULL;
    }

    dlq = calloc(1, sizeof(*dlq));
    if (dlq == NULL || (dlq->path = strdup(path)) == NULL) {
        agora_error_set(err, AGORA_ENOMEM, "out of memory");
        goto fail;
    }
    agora_buf_init(&dlq->json);
    if (sqlite3_open_v2(path, &dlq->db, SQLITE_OPEN_READWRITE, NULL) !=
        SQLITE_OK) {
        agora_error_set(err, AGORA_EDLQ, "DLQ %s: cannot open the database: "
                        "%s; check the path and its permissions", path,
                        dlq->db != NULL ? sqlite3_errmsg(dlq->db)
                                        : "out of memory");
        goto fail;
    }
    sqlite3_extended_result_codes(dlq->db, 1);
    sqlite3_busy_timeout(dlq->db, DLQ_BUSY_TIMEOUT_MS);

    /* Preparing the insert checks that the table exists with every column. */
    if (sqlite3_prepare_v3(dlq->db, dlq_insert_sql, -1,
                           SQLITE_PREPARE_PERSISTENT, &dlq->insert,
                           NULL) != SQLITE_OK) {
        agora_error_set(err, AGORA_EDLQ, "DLQ %s: not a DLQ file: %s; it needs "
                        "a dlq_records table with the documented columns",
                        path, sqlite3_errmsg(dlq->db));
        goto fail;
    }
    return dlq;

fail:
    agora_dlq_free(dlq);
    return NULL;
}

void agora_dlq_row_clear(agora_dlq_row *row)
{
    if (row == NULL)
        return;
    free(row->pipeline_id);
    free(row->run_id);
    free(row->stage);
    free(row->error_type);
    free(row->error_message);
    free(row->record);
    free(row->original_record);
    free(row->processed_record);
    free(row->source);
    free(row->checkpoint);
    free(row->middleware);
    free(row->sink);
    free(row->created_at);
    memset(row, 0, sizeof(*row));
}

static const char dlq_select_columns[] =
    "SELECT id, pipeline_id, run_id, stage, error_type, error_message, "
    "record, original_record, processed_record, source, checkpoint, "
    "middleware, sink, created_at, attempt, max_attempts FROM dlq_records";

/*
 * Appends the WHERE clause of filter to sql. dlq_bind_filter binds the
 * parameters in the same order, so the two must list the same conditions.
 */
static int dlq_append_where(agora_buf *sql, const agora_dlq_filter *f)
{
    const char *joiner = " WHERE ";
    int rc = 0;

    if (f == NULL)
        return 0;
#define DLQ_CONDITION(present, text)                                           \
    if (rc == 0 && (present)) {                                                \
        rc = agora_buf_appendz(sql, joiner);                                   \
        if (rc == 0)                                                           \
            rc = agora_buf_appendz(sql, text);                                 \
        joiner = " AND ";                                                      \
    }
    DLQ_CONDITION(f->pipeline_id != NULL, "pipeline_id = ?")
    DLQ_CONDITION(f->stage != NULL, "stage = ?")
    DLQ_CONDITION(f->run_id != NULL, "run_id = ?")
    DLQ_CONDITION(f->before != NULL, "julianday(created_at) < julianday(?)")
    DLQ_CONDITION(f->after_id > 0, "id > ?")
    DLQ_CONDITION(f->max_id > 0, "id <= ?")
#undef DLQ_CONDITION
    return rc;
}

static int dlq_bind_filter(sqlite3_stmt *stmt, const agora_dlq_filter *f)
{
    int index = 1;
    int rc = SQLITE_OK;

    if (f == NULL)
        return 0;
    if (f->pipeline_id != NULL)
        rc = sqlite3_bind_text(stmt, index++, f->pipeline_id, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && f->stage != NULL)
        rc = sqlite3_bind_text(stmt, index++, f->stage, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && f->run_id != NULL)
        rc = sqlite3_bind_text(stmt, index++, f->run_id, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && f->before != NULL)
        rc = sqlite3_bind_text(stmt, index++, f->before, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && f->after_id > 0)
        rc = sqlite3_bind_int64(stmt, index++, f->after_id);
    if (rc == SQLITE_OK && f->max_id > 0)
        rc = sqlite3_bind_int64(stmt, index++, f->max_id);
    return rc == SQLITE_OK ? 0 : AGORA_EDLQ;
}

/* Checks that filter->before is a time julianday() reads. */
static int dlq_check_before(agora_dlq *dlq, const agora_dlq_filter *f,
                            agora_error *err)
{
    sqlite3_stmt *stmt = NULL;
    int rc = 0;

    if (f == NULL || f->before == NULL)
        return 0;
    /* julianday() accepts 2026-02-30 (as March 2), so the date part must
     * also come back unchanged through a Julian day number. */
    if (sqlite3_prepare_v2(dlq->db,
                           "SELECT julianday(?1) IS NOT NULL AND "
                           "date(julianday(substr(?1, 1, 10))) IS substr(?1, 1, 10)",
                           -1, &stmt, NULL) != SQLITE_OK)
        return dlq_db_error(dlq, err, "checking the date");
    sqlite3_bind_text(stmt, 1, f->before, -1, SQLITE_STATIC);
    if (sqlite3_step(stmt) != SQLITE_ROW)
        rc = dlq_db_error(dlq, err, "checking the date");
    else if (sqlite3_column_int(stmt, 0) == 0)
        rc = agora_error_set(err, AGORA_EINVAL, "invalid --before date '%s'; use "
                             "YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS (UTC unless "
                             "it ends with an offset such as +02:00)",
                             f->before);
    sqlite3_finalize(stmt);
    return rc;
}

/*
 * Prepares "<head><WHERE of filter><tail>" with the filter bound. Returns 0
 * or a code with err filled.
 */
static int dlq_prepare_filtered(agora_dlq *dlq, const char *head,
                                const agora_dlq_filter *filter,
                                const char *tail, sqlite3_stmt **out,
                                const char *operation, agora_error *err)
{
    agora_buf sql;
    int rc;

    *out = NULL;
    rc = dlq_check_before(dlq, filter, err);
    if (rc < 0)
        return rc;
    agora_buf_init(&sql);
    rc = agora_buf_appendz(&sql, head);
    if (rc == 0)
        rc = dlq_append_where(&sql, filter);
    if (rc == 0)
        rc = agora_buf_appendz(&sql, tail);
    if (rc == 0)
        rc = agora_buf_append(&sql, "", 1);
    if (rc < 0) {
        agora_buf_free(&sql);
        return agora_error_set(err, AGORA_ENOMEM, "out of memory");
    }
    if (sqlite3_prepare_v2(dlq->db, sql.data, -1, out, NULL) != SQLITE_OK)
        rc = dlq_db_error(dlq, err, operation);
    else if (dlq_bind_filter(*out, filter) != 0)
        rc = dlq_db_error(dlq, err, operation);
    agora_buf_free(&sql);
    if (rc < 0) {
        sqlite3_finalize(*out);
        *out = NULL;
    }
    return rc;
}

/* Heap copy of a text column, NULL for SQL NULL; sets *oom on failure. */
static char *column_text(sqlite3_stmt *stmt, int column, bool *oom)
{
    if (sqlite3_column_type(stmt, column) == SQLITE_NULL)
        return NULL;
    const unsigned char *text = sqlite3_column_text(stmt, column);
    if (text == NULL) {
        *oom = true;
        return NULL;
    }
    size_t len = (size_t)sqlite3_column_bytes(stmt, column);
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        *oom = true;
        return NULL;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    return copy;
}

/* Fills row from the current result row of a dlq_select_columns statement. */
static int read_row(sqlite3_stmt *stmt, agora_dlq_row *row, agora_error *err)
{
    bool oom = false;

    memset(row, 0, sizeof(*row));
    row->id = sqlite3_column_int64(stmt, 0);
    row->pipeline_id = column_text(stmt, 1, &oom);
    row->run_id = column_text(stmt, 2, &oom);
    row->stage = column_text(stmt, 3, &oom);
    row->error_type = column_text(stmt, 4, &oom);
    row->error_message = column_text(stmt, 5, &oom);
    row->record = column_text(stmt, 6, &oom);
    row->original_record = column_text(stmt, 7, &oom);
    row->processed_record = column_text(stmt, 8, &oom);
    row->source = column_text(stmt, 9, &oom);
    row->checkpoint = column_text(stmt, 10, &oom);
    row->middleware = column_text(stmt, 11, &oom);
    row->sink = column_text(stmt, 12, &oom);
    row->created_at = column_text(stmt, 13, &oom);
    row->attempt = sqlite3_column_int64(stmt, 14);
    row->max_attempts = sqlite3_column_type(stmt, 15) == SQLITE_NULL
                            ? -1
                            : sqlite3_column_int64(stmt, 15);
    if (oom) {
        agora_dlq_row_clear(row);
        return agora_error_set(err, AGORA_ENOMEM, "out of memory while "
                               "reading DLQ row %lld", (long long)row->id);
    }
    return 0;
}

long agora_dlq_read(agora_dlq *dlq, const agora_dlq_filter *filter,
                    agora_dlq_row *rows, size_t max, agora_error *err)
{
    sqlite3_stmt *stmt = NULL;
    char tail[64];
    long count = 0;
    int rc;

    if (max == 0)
        return 0;
    snprintf(tail, sizeof(tail), " ORDER BY id LIMIT %zu", max);
    rc = dlq_prepare_filtered(dlq, dlq_select_columns, filter, tail, &stmt,
                              "reading rows", err);
    if (rc < 0)
        return rc;
    while ((size_t)count < max && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        int read_rc = read_row(stmt, &rows[count], err);
        if (read_rc < 0) {
            rc = read_rc;
            goto cleanup;
        }
        count++;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        rc = dlq_db_error(dlq, err, "reading rows");
    else
        rc = 0;

cleanup:
    sqlite3_finalize(stmt);
    if (rc < 0) {
        for (long i = 0; i < count; i++)
            agora_dlq_row_clear(&rows[i]);
        return rc;
    }
    return count;
}

int agora_dlq_get(agora_dlq *dlq, int64_t id, agora_dlq_row *row,
                  agora_error *err)
{
    agora_dlq_filter filter = {.after_id = id - 1, .max_id = id};

    if (id <= 0)
        return 0;
    return (int)agora_dlq_read(dlq, &filter, row, 1, err);
}

long long agora_dlq_count_matching(agora_dlq *dlq,
                                   const agora_dlq_filter *filter,
                                   agora_error *err)
{
    sqlite3_stmt *stmt = NULL;
    long long count;
    int rc;

    rc = dlq_prepare_filtered(dlq, "SELECT count(*) FROM dlq_records", filter,
                              "", &stmt, "counting rows", err);
    if (rc < 0)
        return rc;
    if (sqlite3_step(stmt) == SQLITE_ROW)
        count = sqlite3_column_int64(stmt, 0);
    else
        count = dlq_db_error(dlq, err, "counting rows");
    sqlite3_finalize(stmt);
    return count;
}

int64_t agora_dlq_max_id(agora_dlq *dlq, agora_error *err)
{
    sqlite3_stmt *stmt = NULL;
    int64_t max_id;

    if (sqlite3_prepare_v2(dlq->db, "SELECT coalesce(max(id), 0) FROM "
                           "dlq_records", -1, &stmt, NULL) != SQLITE_OK)
        return dlq_db_error(dlq, err, "reading the largest id");
    if (sqlite3_step(stmt) == SQLITE_ROW)
        max_id = sqlite3_column_int64(stmt, 0);
    else
        max_id = dlq_db_error(dlq, err, "reading the largest id");
    sqlite3_finalize(stmt);
    return max_id;
}

int agora_dlq_count_groups(agora_dlq *dlq, const agora_dlq_filter *filter,
                           agora_dlq_group_fn fn, void *ctx, agora_error *err)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    rc = dlq_prepare_filtered(dlq, "SELECT pipeline_id, stage, count(*) FROM "
                              "dlq_records", filter,
                              " GROUP BY pipeline_id, stage ORDER BY "
                              "pipeline_id, stage", &stmt,
                              "counting rows", err);
    if (rc < 0)
        return rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
        fn(ctx, (const char *)sqlite3_column_text(stmt, 0),
           (const char *)sqlite3_column_text(stmt, 1),
           sqlite3_column_int64(stmt, 2));
    rc = rc == SQLITE_DONE ? 0 : dlq_db_error(dlq, err, "counting rows");
    sqlite3_finalize(stmt);
    return rc;
}

long long agora_dlq_purge(agora_dlq *dlq, const agora_dlq_filter *filter,
                          agora_error *err)
{
    sqlite3_stmt *stmt = NULL;
    long long deleted;
    int rc;

    if (dlq->in_transaction)
        return agora_error_set(err, AGORA_ESTATE, "DLQ %s: purge inside an "
                               "open transaction; commit it first", dlq->path);
    rc = dlq_prepare_filtered(dlq, "DELETE FROM dlq_records", filter, "",
                              &stmt, "deleting rows", err);
    if (rc < 0)
        return rc;
    /* One statement outside a transaction commits all its deletions at once. */
    if (sqlite3_step(stmt) == SQLITE_DONE)
        deleted = sqlite3_changes64(dlq->db);
    else
        deleted = dlq_db_error(dlq, err, "deleting rows");
    sqlite3_finalize(stmt);
    return deleted;
}

/* Runs sql (one statement with ?1 = id) outside a transaction. */
static int dlq_exec_on_id(agora_dlq *dlq, const char *sql, int64_t id,
                          const char *operation, agora_error *err)
{
    sqlite3_stmt *stmt = NULL;
    int rc;

    if (dlq->in_transaction)
        return agora_error_set(err, AGORA_ESTATE, "DLQ %s: %s inside an open "
                               "transaction; commit it first", dlq->path,
                               operation);
    if (sqlite3_prepare_v2(dlq->db, sql, -1, &stmt, NULL) != SQLITE_OK)
        return dlq_db_error(dlq, err, operation);
    sqlite3_bind_int64(stmt, 1, id);
    if (sqlite3_step(stmt) == SQLITE_DONE)
        rc = sqlite3_changes(dlq->db) > 0 ? 1 : 0;
    else
        rc = dlq_db_error(dlq, err, operation);
    sqlite3_finalize(stmt);
    return rc;
}

int agora_dlq_increment_attempt(agora_dlq *dlq, int64_t id, agora_error *err)
{
    return dlq_exec_on_id(dlq, "UPDATE dlq_records SET attempt = attempt + 1 "
                          "WHERE id = ?1", id, "raising the attempt count",
                          err);
}

int agora_dlq_delete(agora_dlq *dlq, int64_t id, agora_error *err)
{
    return dlq_exec_on_id(dlq, "DELETE FROM dlq_records WHERE id = ?1", id,
                          "deleting a replayed row", err);
}
