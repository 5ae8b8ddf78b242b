/*
 * Dead-letter queue in SQLite.
 *
 * The table matches the Python agora-etl runtime, so a DLQ file carries over:
 *
 *   dlq_records(id INTEGER PRIMARY KEY AUTOINCREMENT, pipeline_id TEXT NOT NULL,
 *     run_id TEXT NOT NULL, stage TEXT NOT NULL, error_type TEXT NOT NULL,
 *     error_message TEXT NOT NULL, record TEXT, original_record TEXT,
 *     processed_record TEXT, source TEXT, checkpoint TEXT, middleware TEXT,
 *     sink TEXT, created_at TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 0,
 *     max_attempts INTEGER)
 */
#ifndef AGORA_DLQ_H
#define AGORA_DLQ_H

#include "agora/error.h"
#include "agora/pipeline.h"
#include "agora/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Stages written to the `stage` column. */
#define AGORA_STAGE_SOURCE "source"
#define AGORA_STAGE_MIDDLEWARE "middleware"
#define AGORA_STAGE_SINK_WRITE "sink_write"

/*
 * One failed record. Every pointer may be NULL except pipeline_id, run_id,
 * stage, error_type and error_message. Record fields are JSON text
 * (record_raw is written as is, for source-stage rows whose bytes did not
 * parse).
 */
typedef struct agora_dlq_entry {
    const char *pipeline_id;
    const char *run_id;
    const char *stage;
    const char *error_type;    /* e.g. "ValidationError", "ParseError" */
    const char *error_message;
    const agora_value *record;           /* stored as JSON in `record` */
    const char *record_raw;              /* used when record is NULL */
    size_t record_raw_len;
    const agora_value *original_record;  /* sink_write: before middlewares */
    const agora_value *processed_record; /* sink_write: what the sink got */
    const char *source;                  /* source type name */
    const char *checkpoint;              /* JSON text */
    const char *middleware;
    const char *sink;
} agora_dlq_entry;

/*
 * Opens (creating if needed, with parent directories) the DLQ database at
 * path and creates the table and its index. Returns NULL with err filled.
 */
agora_dlq *agora_dlq_open(const char *path, agora_error *err);

/* Closes the database. Accepts NULL. */
void agora_dlq_free(agora_dlq *dlq);

/*
 * Starts a transaction so a batch of writes costs one fsync; pair with
 * agora_dlq_commit. Writes outside begin/commit commit one by one.
 */
int agora_dlq_begin(agora_dlq *dlq, agora_error *err);
int agora_dlq_commit(agora_dlq *dlq, agora_error *err);

/* Inserts one row with created_at = now (UTC, ISO 8601). Returns 0 or code. */
int agora_dlq_write(agora_dlq *dlq, const agora_dlq_entry *entry,
                    agora_error *err);

/* Number of rows, optionally for one pipeline_id (NULL = all). -1 on error. */
long long agora_dlq_count(agora_dlq *dlq, const char *pipeline_id,
                          agora_error *err);

/* Path the DLQ was opened with. */
const char *agora_dlq_path(const agora_dlq *dlq);

#ifdef __cplusplus
}
#endif

#endif
