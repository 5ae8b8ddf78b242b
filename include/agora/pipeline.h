/*
 * Pipelines: Source -> Middleware chain -> Sink(s), and one run of them.
 *
 * A component is a struct of callbacks plus a state pointer. Components are
 * created on the heap (by a factory in the component registry or by user
 * code) and handed to the builder, which takes ownership: the bound pipeline
 * calls `destroy` on each of them when it is freed.
 */
#ifndef AGORA_PIPELINE_H
#define AGORA_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agora/error.h"
#include "agora/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Batches ----------------------------------------------------------- */

/*
 * A record the source could not decode (a malformed JSONL line, a CSV row
 * with the wrong number of fields). It goes to the DLQ with stage "source".
 * raw and error point into the batch arena.
 */
typedef struct agora_bad_record {
    const char *raw;
    size_t raw_len;
    const char *error;
} agora_bad_record;

/*
 * Records read in one go. All memory comes from `arena`, which the run loop
 * resets before each next_batch call.
 */
typedef struct agora_batch {
    agora_arena *arena;
    agora_value **records;
    size_t count;
    size_t cap; /* next_batch adds at most cap - count records */
    agora_bad_record *bad;
    size_t bad_count;
    size_t bad_cap;
    /*
     * The JSON text each record was parsed from, for sinks that can write it
     * back unchanged: texts[i] belongs to records[i], {NULL, 0} when the
     * source gave none. NULL when the pipeline does not collect texts.
     */
    agora_string *texts;
    /*
     * Set by the run loop when nothing reads the values, only the texts (no
     * middleware, and every sink has write_batch_texts). A source that gives
     * texts may then check each text with agora_json_check instead of
     * parsing it, and push NULL as the record with agora_batch_push_text.
     */
    bool texts_only;
    /*
     * Set when the run loop reads the next batch on another thread while
     * this one is still processed (see agora_source.prefetch_safe). Every
     * text and value of the batch must then live in the batch arena, not in
     * a buffer of the source that the next call reuses.
     */
    bool prefetching;
} agora_batch;

/* Appends a record. Returns 0, or AGORA_ELIMIT when the batch is full. */
int agora_batch_push(agora_batch *batch, agora_value *record);

/*
 * Appends a record together with the JSON text it was parsed from. The text
 * is not copied: it must stay unchanged until the batch arena is reset (text
 * in the arena), or, unless batch->prefetching is set, until the next
 * next_batch call (text in the source's own read buffer). Leading and trailing
 * whitespace may be included. record may be NULL only when batch->texts_only
 * is set and the text was checked. Returns 0, or AGORA_ELIMIT when the batch
 * is full.
 */
int agora_batch_push_text(agora_batch *batch, agora_value *record,
                          const char *text, size_t len);

/*
 * Appends a bad record; raw and error are copied into the batch arena.
 * Returns 0, AGORA_ELIMIT when the batch is full or AGORA_ENOMEM.
 */
int agora_batch_push_bad(agora_batch *batch, const char *raw, size_t raw_len,
                         const char *error);

/* ---- Components -------------------------------------------------------- */

/*
 * Every string a component points to (name, error messages it returns) must
 * stay valid while the component exists: static text, or memory in state.
 */
typedef struct agora_source {
    const char *name; /* type name used in logs and DLQ rows, e.g. "jsonl" */
    void *state;
    /* Opens the input. Returns 0 or a negative code with err filled. */
    int (*open)(void *state, agora_error *err);
    /*
     * Appends up to batch->cap - batch->count records (and any bad records)
     * to batch. Returns the number of records plus bad records added, 0 at
     * the end of input, or a negative code with err filled when reading
     * cannot go on. Records added before such a failure stay in the batch
     * and are still delivered before the run fails.
     */
    int (*next_batch)(void *state, agora_batch *batch, agora_error *err);
    /* Optional: positions the source after a saved checkpoint before open. */
    int (*prepare_resume)(void *state, const agora_value *checkpoint,
                          agora_error *err);
    /* Optional: current position as a value in arena, or NULL. */
    agora_value *(*checkpoint)(void *state, agora_arena *arena);
    /* Releases the input; must be safe after a failed or missing open. */
    void (*close)(void *state);
    /* Frees state and the struct itself. */
    void (*destroy)(struct agora_source *self);
    /*
     * True when next_batch and checkpoint may run on a thread of the run
     * loop's own while the previous batch is processed, as long as the
     * source honours agora_batch.prefetching. Reading then overlaps with
     * the middlewares and sinks. False (the zero value) keeps every call on
     * the thread that runs the pipeline.
     */
    bool prefetch_safe;
} agora_source;

typedef enum agora_verdict {
    AGORA_KEEP = 0, /* pass *record (possibly replaced) on */
    AGORA_DROP = 1, /* filter the record out */
    AGORA_FAIL = 2  /* the record is invalid: err gives the reason and the record goes to the DLQ */
} agora_verdict;

typedef struct agora_middleware {
    const char *name; /* instance name used in metrics and DLQ rows */
    void *state;
    int (*on_start)(void *state, agora_error *err); /* optional */
    /*
     * Decides on one record. To change it, build a new value in arena and
     * store it in *record; never modify the input value in place.
     */
    agora_verdict (*process)(void *state, agora_value **record,
                             agora_arena *arena, agora_error *err);
    void (*on_stop)(void *state); /* optional */
    /* Frees state and the struct itself. */
    void (*destroy)(struct agora_middleware *self);
} agora_middleware;

/* Per-record outcome of a sink write: NULL message means written. */
typedef struct agora_record_result {
    const char *error; /* static or in the batch arena */
} agora_record_result;

typedef struct agora_sink {
    const char *name; /* instance name used in logs and DLQ rows */
    void *state;
    /* Opens the output. Returns 0 or a negative code with err filled. */
    int (*open)(void *state, agora_error *err);
    /*
     * Writes n records in order. Sets results[i].error for each record that
     * failed on its own (a value the sink cannot store) and returns 0; returns
     * a negative code with err filled when the whole batch failed (I/O error).
     */
    int (*write_batch)(void *state, agora_value *const *records, size_t n,
                       agora_record_result *results, agora_arena *arena,
                       agora_error *err);
    /* Makes written records durable (fflush, COMMIT). Returns 0 or a code. */
    int (*flush)(void *state, agora_error *err);
    /* Releases the output; must be safe after a failed or missing open. */
    void (*close)(void *state);
    /* Frees state and the struct itself. */
    void (*destroy)(struct agora_sink *self);
    /*
     * Optional: called before each open. resuming is true when the run
     * continues from a saved checkpoint. The sink then keeps what earlier
     * runs wrote: a file in mode overwrite is appended to, and a table in
     * mode replace keeps its rows.
     */
    void (*set_resume)(void *state, bool resuming);
    /*
     * Optional: used instead of write_batch when set. texts[i] is the JSON
     * text records[i] was read from, when a source gave one and no
     * middleware replaced the record, else {NULL, 0}. A sink that writes
     * JSON may copy the text instead of serializing the value: both denote
     * the same record, and the text keeps the input's exact bytes. Where a
     * text is given, records[i] may be NULL (see agora_batch.texts_only):
     * the sink must then use the text.
     */
    int (*write_batch_texts)(void *state, agora_value *const *records,
                             const agora_string *texts, size_t n,
                             agora_record_result *results, agora_arena *arena,
                             agora_error *err);
} agora_sink;

/* Frees a component by calling its destroy callback. Each accepts NULL. */
void agora_source_free(agora_source *source);
void agora_middleware_free(agora_middleware *mw);
void agora_sink_free(agora_sink *sink);

/* ---- Run summary ------------------------------------------------------- */

#define AGORA_NAME_MAX 128
#define AGORA_RUN_ID_LEN 32 /* hex characters */

typedef struct agora_middleware_stats {
    char name[AGORA_NAME_MAX];
    uint64_t in, out, dropped, errored;
    double total_time_ms;
} agora_middleware_stats;

typedef struct agora_run_summary {
    char pipeline_id[AGORA_NAME_MAX];
    char run_id[AGORA_RUN_ID_LEN + 1];
    double started_at; /* Unix time, seconds */
    double elapsed_seconds;
    uint64_t records_consumed;
    uint64_t records_written;
    uint64_t records_dropped;
    uint64_t records_errored;
    size_t middleware_count;
    agora_middleware_stats *middlewares; /* heap, freed by agora_run_summary_clear */
    char *last_checkpoint;               /* JSON text or NULL, heap */
    bool canceled; /* the run ended early on its cancel flag (SIGINT, SIGTERM) */
} agora_run_summary;

void agora_run_summary_clear(agora_run_summary *summary);

/*
 * Live counters of a run in progress. The run loop updates them after every
 * batch with relaxed atomic stores, so readers on other threads may see them
 * a batch late. Pass NULL to agora_bound_pipeline_run when none are needed.
 */
typedef struct agora_live_counters {
    _Atomic uint64_t consumed;
    _Atomic uint64_t written;
    _Atomic uint64_t dropped;
    _Atomic uint64_t errored;
} agora_live_counters;

/* ---- DLQ --------------------------------------------------------------- */

typedef struct agora_dlq agora_dlq;

/* What to do when a DLQ write fails. */
typedef enum agora_dlq_policy {
    AGORA_DLQ_FAIL_RUN = 0, /* default: the run stops with the error */
    AGORA_DLQ_LOG_ONLY = 1  /* log the record's error and go on */
} agora_dlq_policy;

/* ---- Builder and bound pipeline ---------------------------------------- */

typedef struct agora_pipeline agora_pipeline;
typedef struct agora_bound_pipeline agora_bound_pipeline;

/*
 * Starts a pipeline description owning source. Returns NULL when out of
 * memory, and the caller then still owns source.
 */
agora_pipeline *agora_pipeline_new(agora_source *source);

/*
 * Appends a middleware; ownership moves to the pipeline on success only.
 * Returns 0, AGORA_EINVAL (NULL argument or no process callback) or
 * AGORA_ENOMEM, and then the caller still owns mw.
 */
int agora_pipeline_pipe(agora_pipeline *p, agora_middleware *mw);

/*
 * Predicate middleware: keep the record when pred returns true. ctx is
 * passed to pred and not owned: it must outlive the pipeline. name is
 * copied (NULL = "filter"). Returns 0, AGORA_EINVAL or AGORA_ENOMEM.
 */
typedef bool (*agora_predicate)(const agora_value *record, void *ctx);
int agora_pipeline_filter(agora_pipeline *p, agora_predicate pred, void *ctx,
                          const char *name);

/*
 * Adds a sink; several sinks fan out (each record goes to every sink).
 * Ownership moves to the pipeline on success only. Returns 0, AGORA_EINVAL
 * (NULL argument or no write_batch callback) or AGORA_ENOMEM.
 */
int agora_pipeline_add_sink(agora_pipeline *p, agora_sink *sink);

typedef struct agora_delivery {
    agora_dlq *dlq;            /* owned by the bound pipeline; NULL = none */
    agora_dlq_policy dlq_policy;
    size_t batch_size;         /* records per batch, 0 = 1024 */
    char pipeline_id[AGORA_NAME_MAX];
} agora_delivery;

/*
 * Turns the description into a runnable pipeline. Consumes p (freed whether
 * or not the call succeeds) and the DLQ in delivery. Returns NULL with err
 * filled when no sink was added.
 */
agora_bound_pipeline *agora_pipeline_build(agora_pipeline *p,
                                           const agora_delivery *delivery,
                                           agora_error *err);

/* Frees a description that was never built. Accepts NULL. */
void agora_pipeline_free(agora_pipeline *p);

/* Frees the bound pipeline and every component. Accepts NULL. */
void agora_bound_pipeline_free(agora_bound_pipeline *bp);

/*
 * Runs the pipeline once: start, stream until the source ends, max_records
 * records were consumed (0 = no limit) or *cancel becomes true (checked
 * between batches; cancel may be NULL), then stop. Fills summary (always,
 * also on failure) and live (may be NULL). When summary->run_id already
 * contains a run id (32 lowercase hex digits, as from agora_run_id_new), the run
 * uses it, so a caller can log the id before the run starts; otherwise the
 * run picks a new one. summary->run_id is read, so zero the summary (or set
 * its run_id) before the call.
 *
 * Returns 0 when the run completed, or a negative code with err filled when
 * it failed. Records that failed one by one and reached the DLQ do not fail
 * the run.
 */
int agora_bound_pipeline_run(agora_bound_pipeline *bp, uint64_t max_records,
                             const _Atomic bool *cancel,
                             agora_live_counters *live,
                             agora_run_summary *summary, agora_error *err);

/* Fills buf (33 bytes) with a new random 32-hex-character run id. */
void agora_run_id_new(char *buf);

#ifdef __cplusplus
}
#endif

#endif
