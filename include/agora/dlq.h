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

#include <stdbool.h>
#include <stdint.h>

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

/* ---- Reading, deleting and replaying rows -------------------------------- */

/*
 * Opens an existing DLQ file without creating it, its table or its index and
 * without changing its journal mode, so a file written by another program
 * (the Python runtime) is only read until a caller deletes or updates rows.
 * Fails with AGORA_ENOTFOUND when the file does not exist and AGORA_EDLQ when
 * it has no dlq_records table.
 */
agora_dlq *agora_dlq_open_existing(const char *path, agora_error *err);

/* One row of dlq_records. Strings are heap copies; NULL for an SQL NULL. */
typedef struct agora_dlq_row {
    int64_t id;
    char *pipeline_id;
    char *run_id;
    char *stage;
    char *error_type;
    char *error_message;
    char *record;           /* JSON text, or the raw input for stage source */
    char *original_record;  /* JSON text */
    char *processed_record; /* JSON text */
    char *source;
    char *checkpoint;
    char *middleware;
    char *sink;
    char *created_at;
    int64_t attempt;
    int64_t max_attempts;   /* -1 when the column is NULL (no limit) */
} agora_dlq_row;

/* Frees the strings of row and zeroes it. Accepts NULL. */
void agora_dlq_row_clear(agora_dlq_row *row);

/*
 * Which rows a read, count or purge applies to. A NULL string or a zero
 * number leaves that condition out, so a zeroed filter matches every row.
 */
typedef struct agora_dlq_filter {
    const char *pipeline_id;
    const char *stage;
    const char *run_id;
    /*
     * Only rows created before this time: an ISO 8601 date or date and time
     * that SQLite's julianday() reads ("2026-12-04", "2026-12-04T10:00:00",
     * with an optional "+01:00" offset; UTC without one). Rows whose
     * created_at julianday() cannot read never match.
     */
    const char *before;
    int64_t after_id; /* only rows with id > after_id */
    int64_t max_id;   /* only rows with id <= max_id; 0 = no bound */
} agora_dlq_filter;

/*
 * Reads up to max matching rows in id order into rows (which the caller
 * clears with agora_dlq_row_clear). Returns the number read (0 when none is
 * left) or a negative code. To page through many rows, set
 * filter->after_id to the last id read and call again.
 */
long agora_dlq_read(agora_dlq *dlq, const agora_dlq_filter *filter,
                    agora_dlq_row *rows, size_t max, agora_error *err);

/* Reads row id. Returns 1 when found, 0 when there is no such row, or a code. */
int agora_dlq_get(agora_dlq *dlq, int64_t id, agora_dlq_row *row,
                  agora_error *err);

/* Number of rows matching filter (NULL = all), or a negative code. */
long long agora_dlq_count_matching(agora_dlq *dlq,
                                   const agora_dlq_filter *filter,
                                   agora_error *err);

/* Largest id in the table (0 when it is empty), or a negative code. */
int64_t agora_dlq_max_id(agora_dlq *dlq, agora_error *err);

/*
 * Calls fn once per (pipeline_id, stage) group of rows matching filter
 * (NULL = all), ordered by pipeline_id then stage. Returns 0 or a code.
 */
typedef void (*agora_dlq_group_fn)(void *ctx, const char *pipeline_id,
                                   const char *stage, long long count);
int agora_dlq_count_groups(agora_dlq *dlq, const agora_dlq_filter *filter,
                           agora_dlq_group_fn fn, void *ctx, agora_error *err);

/*
 * Deletes the rows matching filter (NULL = all) in one transaction. Returns
 * the number deleted or a negative code (AGORA_EINVAL when filter->before is
 * not a date julianday() reads).
 */
long long agora_dlq_purge(agora_dlq *dlq, const agora_dlq_filter *filter,
                          agora_error *err);

/*
 * Adds one to the attempt column of row id and commits. Returns 1 when the
 * row was updated, 0 when it no longer exists, or a negative code.
 */
int agora_dlq_increment_attempt(agora_dlq *dlq, int64_t id, agora_error *err);

/* Deletes row id and commits. Returns 1 when deleted, 0 when absent, or a code. */
int agora_dlq_delete(agora_dlq *dlq, int64_t id, agora_error *err);

/* How `agora dlq replay` feeds a row back. */
typedef enum agora_replay_mode {
    AGORA_REPLAY_PIPELINE = 0, /* original_record (else record) through the
                                  whole middleware chain, then the sinks */
    AGORA_REPLAY_SINK = 1      /* processed_record (else record) straight to
                                  the sinks; stage sink_write rows only */
} agora_replay_mode;

/* What became of one row during a replay. */
typedef enum agora_replay_outcome {
    AGORA_REPLAY_SUCCEEDED = 0, /* written (or dropped by a middleware): row deleted */
    AGORA_REPLAY_FAILED = 1,    /* row kept; attempt raised unless nothing ran */
    AGORA_REPLAY_SKIPPED = 2    /* row not tried and left unchanged */
} agora_replay_outcome;

/*
 * Called after each row with its outcome and, for failed and skipped rows, a
 * one-sentence reason (NULL for succeeded rows; "dropped by middleware 'x'"
 * for a succeeded row a middleware dropped).
 */
typedef void (*agora_replay_row_fn)(void *ctx, const agora_dlq_row *row,
                                    agora_replay_outcome outcome,
                                    const char *reason);

struct agora_config;

typedef struct agora_replay_options {
    agora_replay_mode mode;
    const char *stage;  /* only rows of this stage; NULL = all */
    const char *run_id; /* only rows of this run; NULL = all */
    uint64_t limit;     /* at most this many rows tried; 0 = no limit */
    /*
     * false (the default): a sink_write row that names its sink goes to that
     * sink only, because the other sinks already accepted the record. true:
     * every sink gets it (and those sinks may then hold it twice).
     */
    bool all_sinks;
    agora_replay_row_fn on_row; /* optional */
    void *on_row_ctx;
    /* Optional: when it becomes true, the replay stops before the next row. */
    const _Atomic bool *cancel;
} agora_replay_options;

typedef struct agora_replay_report {
    uint64_t attempted; /* rows run through a one-record pipeline or found unreadable */
    uint64_t succeeded; /* rows deleted */
    uint64_t dropped;   /* of succeeded, rows a middleware dropped */
    uint64_t failed;    /* rows kept because they failed again */
    uint64_t skipped;   /* rows not tried: attempts used up, or wrong stage for the mode */
} agora_replay_report;

/*
 * Replays the DLQ rows of pipeline index of cfg (the rows whose pipeline_id
 * is the pipeline's id, in its configured DLQ file), in id order, up to the
 * largest id present when the replay starts. For each row: skip it when
 * max_attempts is set and attempt >= max_attempts; parse its payload (a
 * payload that is not JSON fails without raising attempt); raise attempt
 * and commit; run the payload through a one-record pipeline built without
 * the DLQ and with every sink in append mode; delete the row when the run
 * wrote the record, or a middleware dropped it, and nothing errored.
 *
 * Returns 0 when every row could be handled (failed rows included; see
 * report), or a negative code when the replay had to stop: the pipeline has
 * no DLQ, or the DLQ file could not be read or written.
 */
int agora_dlq_replay(const struct agora_config *cfg, size_t index,
                     const agora_replay_options *opts,
                     agora_replay_report *report, agora_error *err);

#ifdef __cplusplus
}
#endif

#endif
