/*
 * Checkpoint store: rows of state_store in an SQLite file, one per pipeline,
 * each holding the JSON document described in agora/checkpoint.h.
 *
 * Durability: the file runs in WAL mode with synchronous=FULL, so a save is
 * on disk when agora_checkpoint_save returns. WAL with synchronous=NORMAL
 * would already survive a killed process (the commit is in the WAL file,
 * which the next open replays), but after a power loss it may forget the
 * last commits. Forgetting a checkpoint is never a loss of records, only
 * more replay, yet FULL keeps the promise simple ("saved" means "on disk")
 * and costs one fsync per save, that is one per `every` records.
 */
#include "agora/checkpoint.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "agora/config.h"

/* Milliseconds a statement waits for another connection's lock. */
#define CHECKPOINT_BUSY_TIMEOUT_MS 10000

#define CHECKPOINT_KEY_PREFIX "checkpoint:"

static const char checkpoint_schema[] =
    "CREATE TABLE IF NOT EXISTS state_store ("
    "key TEXT PRIMARY KEY, "
    "value TEXT NOT NULL, "
    "expires_at REAL)";

struct agora_checkpoint_store {
    char *path;
    sqlite3 *db;
    sqlite3_stmt *select;
    sqlite3_stmt *upsert;
    sqlite3_stmt *delete;
};

static int store_db_error(agora_checkpoint_store *store, agora_error *err,
                          const char *operation)
{
    return agora_error_set(err, AGORA_EDB,
                           "checkpoint store %s: %s failed: %s", store->path,
                           operation, sqlite3_errmsg(store->db));
}

static int prepare(agora_checkpoint_store *store, const char *sql,
                   sqlite3_stmt **stmt, agora_error *err)
{
    if (sqlite3_prepare_v3(store->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                           stmt, NULL) != SQLITE_OK)
        return store_db_error(store, err,
                              "preparing a statement (is state_store a table "
                              "with columns key, value, expires_at?)");
    return 0;
}

agora_checkpoint_store *agora_checkpoint_store_open(const char *path,
                                                    bool create,
                                                    agora_error *err)
{
    agora_checkpoint_store *store = NULL;
    struct stat st;
    int flags = SQLITE_OPEN_READWRITE;
    int rc;

    if (path == NULL || path[0] == '\0') {
        agora_error_set(err, AGORA_EINVAL, "checkpoint store path is empty; "
                        "set the pipeline's `checkpoint.path`");
        return NULL;
    }
    if (!create && stat(path, &st) != 0) {
        agora_error_set(err, AGORA_ENOTFOUND,
                        "checkpoint store %s does not exist (%s)", path,
                        strerror(errno));
        return NULL;
    }

    store = calloc(1, sizeof(*store));
    if (store == NULL || (store->path = strdup(path)) == NULL) {
        agora_error_set(err, AGORA_ENOMEM, "out of memory");
        goto fail;
    }
    if (create) {
        flags |= SQLITE_OPEN_CREATE;
        if (agora_mkdir_parents(path, err) < 0) {
            agora_error_prefix(err, "checkpoint store %s", path);
            goto fail;
        }
    }
    rc = sqlite3_open_v2(path, &store->db, flags, NULL);
    if (rc != SQLITE_OK) {
        agora_error_set(err, AGORA_EDB,
                        "checkpoint store %s: cannot open the database: %s; "
                        "check the path and its permissions",
                        path,
                        store->db != NULL ? sqlite3_errmsg(store->db)
                                          : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(store->db, 1);
    sqlite3_busy_timeout(store->db, CHECKPOINT_BUSY_TIMEOUT_MS);

    if (sqlite3_exec(store->db, "PRAGMA journal_mode=WAL", NULL, NULL,
                     NULL) != SQLITE_OK) {
        store_db_error(store, err, "switching to WAL mode");
        goto fail;
    }
    if (sqlite3_exec(store->db, "PRAGMA synchronous=FULL", NULL, NULL,
                     NULL) != SQLITE_OK) {
        store_db_error(store, err, "setting synchronous=FULL");
        goto fail;
    }
    if (sqlite3_exec(store->db, checkpoint_schema, NULL, NULL, NULL) !=
        SQLITE_OK) {
        store_db_error(store, err, "creating the state_store table");
        goto fail;
    }
    /* An expired row counts as absent; checkpoints themselves never expire. */
    if (prepare(store,
                "SELECT value FROM state_store WHERE key = ?1 AND "
                "(expires_at IS NULL OR expires_at > ?2)",
                &store->select, err) != 0 ||
        prepare(store,
                "INSERT INTO state_store (key, value, expires_at) "
                "VALUES (?1, ?2, NULL) ON CONFLICT(key) DO UPDATE SET "
                "value = excluded.value, expires_at = NULL",
                &store->upsert, err) != 0 ||
        prepare(store, "DELETE FROM state_store WHERE key = ?1",
                &store->delete, err) != 0)
        goto fail;
    return store;

fail:
    agora_checkpoint_store_free(store);
    return NULL;
}

void agora_checkpoint_store_free(agora_checkpoint_store *store)
{
    if (store == NULL)
        return;
    sqlite3_finalize(store->select);
    sqlite3_finalize(store->upsert);
    sqlite3_finalize(store->delete);
    if (store->db != NULL)
        sqlite3_close(store->db);
    free(store->path);
    free(store);
}

const char *agora_checkpoint_store_path(const agora_checkpoint_store *store)
{
    return store->path;
}

/* Binds "checkpoint:<pipeline_id>" to parameter 1 of stmt. */
static int bind_key(agora_checkpoint_store *store, sqlite3_stmt *stmt,
                    const char *pipeline_id, agora_error *err)
{
    char key[sizeof(CHECKPOINT_KEY_PREFIX) + AGORA_NAME_MAX];

    if (pipeline_id == NULL || pipeline_id[0] == '\0')
        return agora_error_set(err, AGORA_EINVAL,
                               "checkpoint store %s: the pipeline id is empty",
                               store->path);
    snprintf(key, sizeof(key), CHECKPOINT_KEY_PREFIX "%s", pipeline_id);
    if (sqlite3_bind_text(stmt, 1, key, -1, SQLITE_TRANSIENT) != SQLITE_OK)
        return store_db_error(store, err, "binding the key");
    return 0;
}

static double unix_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int agora_checkpoint_load(agora_checkpoint_store *store,
                          const char *pipeline_id, char **json,
                          agora_error *err)
{
    sqlite3_stmt *stmt = store->select;
    int rc;

    *json = NULL;
    rc = bind_key(store, stmt, pipeline_id, err);
    if (rc != 0)
        goto cleanup;
    sqlite3_bind_double(stmt, 2, unix_now());

    int step = sqlite3_step(stmt);
    if (step == SQLITE_DONE) {
        rc = 0;
        goto cleanup;
    }
    if (step != SQLITE_ROW) {
        rc = store_db_error(store, err, "reading the checkpoint");
        goto cleanup;
    }
    const unsigned char *text = sqlite3_column_text(stmt, 0);
    *json = strdup(text != NULL ? (const char *)text : "");
    if (*json == NULL) {
        rc = agora_error_set(err, AGORA_ENOMEM, "out of memory");
        goto cleanup;
    }
    rc = 1;

cleanup:
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return rc;
}

/* Formats now as "2026-12-04T19:50:00.123456+00:00", like DLQ rows. */
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

/* Appends "key": to buf, then s as a JSON string (null when s is NULL). */
static int append_string_member(agora_buf *buf, const char *key,
                                const char *s)
{
    int rc = agora_buf_printf(buf, "\"%s\":", key);

    if (rc != 0)
        return rc;
    if (s == NULL)
        return agora_buf_appendz(buf, "null");
    return agora_json_write_string(buf, s, strlen(s));
}

char *agora_checkpoint_document_new(const char *pipeline_id,
                                    const char *run_id, const char *source,
                                    const agora_value *value)
{
    agora_buf doc;
    char recorded_at[40];
    int rc;

    if (value == NULL)
        return NULL;
    agora_buf_init(&doc);
    format_utc_now(recorded_at);
    rc = agora_buf_appendz(&doc, "{");
    if (rc == 0)
        rc = append_string_member(&doc, "pipeline_id", pipeline_id);
    if (rc == 0)
        rc = agora_buf_appendz(&doc, ",");
    if (rc == 0)
        rc = append_string_member(&doc, "run_id", run_id);
    if (rc == 0)
        rc = agora_buf_appendz(&doc, ",");
    if (rc == 0)
        rc = append_string_member(&doc, "source", source);
    if (rc == 0)
        rc = agora_buf_appendz(&doc, ",\"value\":");
    if (rc == 0)
        rc = agora_json_write(&doc, value);
    if (rc == 0)
        rc = agora_buf_appendz(&doc, ",");
    if (rc == 0)
        rc = append_string_member(&doc, "recorded_at", recorded_at);
    if (rc == 0)
        rc = agora_buf_appendz(&doc, "}");
    if (rc != 0) {
        agora_buf_free(&doc);
        return NULL;
    }
    /* The buffer's memory becomes the caller's string. */
    return doc.data;
}

int agora_checkpoint_save(agora_checkpoint_store *store,
                          const char *pipeline_id, const char *document,
                          agora_error *err)
{
    sqlite3_stmt *stmt = store->upsert;
    int rc;

    if (document == NULL)
        return agora_error_set(err, AGORA_EINVAL,
                               "checkpoint store %s: no checkpoint to save "
                               "for pipeline '%s'",
                               store->path, pipeline_id);
    rc = bind_key(store, stmt, pipeline_id, err);
    if (rc != 0)
        goto cleanup;
    if (sqlite3_bind_text(stmt, 2, document, -1, SQLITE_STATIC) != SQLITE_OK) {
        rc = store_db_error(store, err, "binding the checkpoint");
        goto cleanup;
    }
    /* One statement in autocommit mode is one transaction. */
    if (sqlite3_step(stmt) != SQLITE_DONE) {
        rc = store_db_error(store, err, "saving the checkpoint");
        goto cleanup;
    }
    rc = 0;

cleanup:
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return rc;
}

int agora_checkpoint_reset(agora_checkpoint_store *store,
                           const char *pipeline_id, agora_error *err)
{
    sqlite3_stmt *stmt = store->delete;
    int rc;

    rc = bind_key(store, stmt, pipeline_id, err);
    if (rc != 0)
        goto cleanup;
    if (sqlite3_step(stmt) != SQLITE_DONE) {
        rc = store_db_error(store, err, "deleting the checkpoint");
        goto cleanup;
    }
    rc = sqlite3_changes(store->db) > 0 ? 1 : 0;

cleanup:
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return rc;
}
