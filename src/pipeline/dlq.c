/*
 * Dead-letter queue: failed records as rows of dlq_records in an SQLite file.
 *
 * The file runs in WAL mode with a busy timeout, so several pipelines (each
 * with its own handle) and a reader such as `agora dlq list` can share it.
 * One handle must be used by one thread at a time.
 */
#include "agora/dlq.h"
#include "core/sqlite_util.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
