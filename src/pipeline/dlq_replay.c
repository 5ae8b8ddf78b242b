/*
 * DLQ replay: feeds the rows of one pipeline's dead-letter queue back
 * through that pipeline, one record per run, and deletes the rows that get
 * through.
 *
 * Crash safety comes from the order of the steps for each row: the attempt
 * count is raised and committed first, the record is written by a
 * one-record run whose sinks flush and close before the run returns, and
 * only then is the row deleted. A process killed at any point therefore
 * leaves the row in the DLQ (with its attempt raised) unless its record
 * already reached the sinks, and at worst the one row in flight is written
 * twice on the next replay.
 */
#include "agora/dlq.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/config.h"

/* Rows read from the DLQ at a time; the replay holds no lock between pages. */
#define REPLAY_PAGE_ROWS 64

/* ---- A source that yields one record ----------------------------------- */

typedef struct one_record_source {
    agora_source base;
    const agora_value *record; /* owned by the caller, outlives the run */
    bool delivered;
} one_record_source;

static int one_record_next_batch(void *state, agora_batch *batch,
                                 agora_error *err)
{
    one_record_source *s = state;

    if (s->delivered)
        return 0;
    /* The batch arena outlives the run's use of the record, so copy into it
     * like any other source does. */
    agora_value *copy = agora_value_copy(batch->arena, s->record);
    if (copy == NULL)
        return agora_error_set(err, AGORA_ENOMEM, "out of memory");
    int rc = agora_batch_push(batch, copy);
    if (rc < 0)
        return agora_error_set(err, rc, "cannot add the replayed record to "
                               "the batch");
    s->delivered = true;
    return 1;
}

static void one_record_destroy(agora_source *self)
{
    free(self);
}

static agora_source *one_record_source_new(const agora_value *record)
{
    one_record_source *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->base.name = "dlq_replay";
    s->base.state = s;
    s->base.next_batch = one_record_next_batch;
    s->base.destroy = one_record_destroy;
    s->record = record;
    return &s->base;
}

/* ---- One row ----------------------------------------------------------- */

typedef struct replay_context {
    const agora_config *cfg;
    size_t index;
    const agora_replay_options *opts;
    agora_replay_report *report;
    agora_dlq *dlq;
    agora_arena *arena; /* parsed payload of the current row */
    char reason[AGORA_ERROR_MESSAGE_MAX + 128];
} replay_context;

static void report_row(replay_context *rc, const agora_dlq_row *row,
                       agora_replay_outcome outcome, const char *reason)
{
    switch (outcome) {
    case AGORA_REPLAY_SUCCEEDED:
        rc->report->succeeded++;
        break;
    case AGORA_REPLAY_FAILED:
        rc->report->failed++;
        break;
    case AGORA_REPLAY_SKIPPED:
        rc->report->skipped++;
        break;
    }
    if (rc->opts->on_row != NULL)
        rc->opts->on_row(rc->opts->on_row_ctx, row, outcome, reason);
}

/*
 * Returns the reason why row is not tried in this replay, or NULL when it
 * is tried.
 */
static const char *skip_reason(replay_context *rc, const agora_dlq_row *row)
{
    if (row->max_attempts >= 0 && row->attempt >= row->max_attempts) {
        snprintf(rc->reason, sizeof(rc->reason), "attempts used up (%lld of "
                 "max_attempts %lld)", (long long)row->attempt,
                 (long long)row->max_attempts);
        return rc->reason;
    }
    if (rc->opts->mode == AGORA_REPLAY_SINK &&
        strcmp(row->stage, AGORA_STAGE_SINK_WRITE) != 0) {
        snprintf(rc->reason, sizeof(rc->reason), "stage %s rows hold no "
                 "record a sink received; replay them with --mode pipeline",
                 row->stage);
        return rc->reason;
    }
    return NULL;
}

/* Explains a completed run that neither wrote nor dropped the record. */
static const char *explain_errored(replay_context *rc,
                                   const agora_run_summary *summary)
{
    for (size_t m = 0; m < summary->middleware_count; m++) {
        if (summary->middlewares[m].errored > 0) {
            snprintf(rc->reason, sizeof(rc->reason), "middleware '%s' "
                     "rejected the record again (its message is in the "
                     "warning logged just before)",
                     summary->middlewares[m].name);
            return rc->reason;
        }
    }
    snprintf(rc->reason, sizeof(rc->reason), "the run consumed %llu, wrote "
             "%llu, dropped %llu and errored %llu records, where one written "
             "record was expected",
             (unsigned long long)summary->records_consumed,
             (unsigned long long)summary->records_written,
             (unsigned long long)summary->records_dropped,
             (unsigned long long)summary->records_errored);
    return rc->reason;
}

/* Builds the one-record pipeline for row, or NULL with err filled. */
static agora_bound_pipeline *build_replay_pipeline(replay_context *rc,
                                                   const agora_dlq_row *row,
                                                   const agora_value *payload,
                                                   agora_error *err)
{
    agora_build_options build = {
        .with_middlewares = rc->opts->mode == AGORA_REPLAY_PIPELINE,
        .with_dlq = false,
        .sinks_append = true,
    };

    /* A sink_write row exists because that one sink rejected the record;
     * the pipeline's other sinks already have it. */
    if (!rc->opts->all_sinks && row->sink != NULL &&
        strcmp(row->stage, AGORA_STAGE_SINK_WRITE) == 0)
        build.only_sink = row->sink;
    build.source = one_record_source_new(payload);
    if (build.source == NULL) {
        agora_error_set(err, AGORA_ENOMEM, "out of memory");
        return NULL;
    }
    agora_bound_pipeline *bp =
        agora_config_build_pipeline_with(rc->cfg, rc->index, &build, err);
    if (bp == NULL && build.only_sink != NULL && err->code == AGORA_ENOTFOUND)
        agora_error_prefix(err, "the row names sink '%s' (add --all-sinks to "
                           "send it to every sink)", row->sink);
    return bp;
}

/*
 * Replays one row that is to be tried. Returns 0 when the row got an
 * outcome (failed included), or a negative code when the DLQ itself failed
 * and the replay must stop.
 */
static int replay_row(replay_context *rc, const agora_dlq_row *row,
                      agora_error *fatal)
{
    const char *payload_text;
    agora_error err;
    agora_run_summary summary;
    int rc_run;

    agora_error_clear(&err);
    rc->report->attempted++;
    payload_text = rc->opts->mode == AGORA_REPLAY_SINK ? row->processed_record
                                                        : row->original_record;
    if (payload_text == NULL)
        payload_text = row->record;
    if (payload_text == NULL) {
        report_row(rc, row, AGORA_REPLAY_FAILED, "the row has no record to "
                   "replay (record, original_record and processed_record "
                   "are NULL)");
        return 0;
    }

    agora_arena_reset(rc->arena);
    /* The source checked the record with its own limits when it was read. */
    agora_json_limits limits = agora_json_limits_widest();
    agora_value *payload = agora_json_parse(rc->arena, payload_text,
                                            strlen(payload_text), &limits,
                                            &err);
    if (payload == NULL) {
        snprintf(rc->reason, sizeof(rc->reason), "the payload is not valid "
                 "JSON (stage %s rows keep the raw input that failed to "
                 "parse), so it cannot be replayed as a record: %s",
                 row->stage, err.message);
        report_row(rc, row, AGORA_REPLAY_FAILED, rc->reason);
        return 0;
    }

    agora_bound_pipeline *bp = build_replay_pipeline(rc, row, payload, &err);
    if (bp == NULL) {
        report_row(rc, row, AGORA_REPLAY_FAILED, err.message);
        return 0;
    }

    /* Committed before the try, so a row that keeps crashing the process
     * still uses up its attempts. */
    int updated = agora_dlq_increment_attempt(rc->dlq, row->id, fatal);
    if (updated <= 0) {
        agora_bound_pipeline_free(bp);
        if (updated < 0)
            return updated;
        report_row(rc, row, AGORA_REPLAY_SKIPPED, "the row was deleted by "
                   "another process during the replay");
        return 0;
    }

    memset(&summary, 0, sizeof(summary));
    rc_run = agora_bound_pipeline_run(bp, 0, NULL, NULL, &summary, &err);
    agora_bound_pipeline_free(bp);

    const char *reason = NULL;
    bool done = false;
    if (rc_run != 0) {
        reason = err.message;
    } else if (summary.records_errored == 0 && summary.records_written == 1) {
        done = true;
    } else if (summary.records_errored == 0 && summary.records_dropped == 1) {
        /* The chain dropped the record; replaying it again would drop it
         * again, so it is handled. */
        done = true;
        rc->report->dropped++;
        for (size_t m = 0; m < summary.middleware_count; m++) {
            if (summary.middlewares[m].dropped > 0) {
                snprintf(rc->reason, sizeof(rc->reason), "dropped by "
                         "middleware '%s'", summary.middlewares[m].name);
                reason = rc->reason;
            }
        }
    } else {
        reason = explain_errored(rc, &summary);
    }
    agora_run_summary_clear(&summary);

    if (!done) {
        report_row(rc, row, AGORA_REPLAY_FAILED, reason);
        return 0;
    }
    int deleted = agora_dlq_delete(rc->dlq, row->id, fatal);
    if (deleted < 0) {
        agora_error_prefix(fatal, "row %lld was written but is still in the "
                           "DLQ (a later replay writes it again)",
                           (long long)row->id);
        return deleted;
    }
    report_row(rc, row, AGORA_REPLAY_SUCCEEDED, reason);
    return 0;
}

/* ---- The replay loop --------------------------------------------------- */

int agora_dlq_replay(const agora_config *cfg, size_t index,
                     const agora_replay_options *opts,
                     agora_replay_report *report, agora_error *err)
{
    agora_dlq_row rows[REPLAY_PAGE_ROWS];
    replay_context rc = {.cfg = cfg, .index = index, .opts = opts,
                         .report = report};
    long count = 0;
    int status = 0;

    memset(report, 0, sizeof(*report));
    memset(rows, 0, sizeof(rows));
    if (index >= agora_config_pipeline_count(cfg))
        return agora_error_set(err, AGORA_EINVAL, "no pipeline at index %zu",
                               index);
    const char *pipeline_id = agora_config_pipeline_id(cfg, index);
    const char *path = agora_config_pipeline_dlq_path(cfg, index);
    if (path == NULL)
        return agora_error_set(err, AGORA_ECONFIG, "pipeline '%s' has no "
                               "dlq in %s; there is nothing to replay",
                               pipeline_id, agora_config_path(cfg));

    rc.dlq = agora_dlq_open_existing(path, err);
    if (rc.dlq == NULL && err->code == AGORA_ENOTFOUND) {
        /* No DLQ file yet: the pipeline never dead-lettered a record. */
        agora_error_clear(err);
        return 0;
    }
    if (rc.dlq == NULL)
        return err->code;
    rc.arena = agora_arena_new(0);
    if (rc.arena == NULL) {
        status = agora_error_set(err, AGORA_ENOMEM, "out of memory");
        goto cleanup;
    }

    /* Rows added while the replay runs (by a worker) wait for the next one. */
    agora_dlq_filter filter = {
        .pipeline_id = pipeline_id,
        .stage = opts->stage,
        .run_id = opts->run_id,
    };
    filter.max_id = agora_dlq_max_id(rc.dlq, err);
    if (filter.max_id < 0) {
        status = (int)filter.max_id;
        goto cleanup;
    }
    if (filter.max_id == 0)
        goto cleanup;

    for (;;) {
        count = agora_dlq_read(rc.dlq, &filter, rows, REPLAY_PAGE_ROWS, err);
        if (count <= 0) {
            status = count < 0 ? (int)count : 0;
            count = 0;
            break;
        }
        for (long i = 0; i < count && status == 0; i++) {
            if (opts->limit > 0 && report->attempted >= opts->limit)
                goto cleanup;
            if (opts->cancel != NULL && atomic_load(opts->cancel))
                goto cleanup;
            const char *skip = skip_reason(&rc, &rows[i]);
            if (skip != NULL)
                report_row(&rc, &rows[i], AGORA_REPLAY_SKIPPED, skip);
            else
                status = replay_row(&rc, &rows[i], err);
        }
        filter.after_id = rows[count - 1].id;
        for (long i = 0; i < count; i++)
            agora_dlq_row_clear(&rows[i]);
        count = 0;
        if (status != 0)
            break;
    }

cleanup:
    for (long i = 0; i < count; i++)
        agora_dlq_row_clear(&rows[i]);
    agora_arena_free(rc.arena);
    agora_dlq_free(rc.dlq);
    return status;
}
