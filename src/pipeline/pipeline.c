/*
 * Pipeline builder and the run loop of a bound pipeline.
 *
 * A run streams the source in batches. Each batch goes through the
 * middleware chain one middleware at a time (so time per middleware is
 * measured once per batch, not per record), then to every sink. Every record
 * ends with exactly one outcome: written (accepted by at least one sink),
 * dropped (a middleware filtered it out) or errored (sent to the DLQ, or
 * logged when the pipeline has none).
 *
 * With a checkpoint store set, a run resumes the source where the last
 * saved checkpoint left it. It saves the source's position at a batch
 * boundary once at least `every` records were handled since the previous
 * save, after the sinks flushed and the DLQ committed. A run that completes
 * deletes the checkpoint, a canceled run saves where it stopped, and a
 * failed or killed run leaves the last save in place.
 */
#include "agora/pipeline.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agora/checkpoint.h"
#include "agora/dlq.h"
#include "agora/log.h"
#include "core/arena_impl.h"

#define DEFAULT_BATCH_SIZE 1024

struct agora_pipeline {
    agora_source *source;
    agora_middleware **middlewares;
    size_t middleware_count;
    agora_sink **sinks;
    size_t sink_count;
};

struct agora_bound_pipeline {
    agora_source *source;
    agora_middleware **middlewares;
    size_t middleware_count;
    agora_sink **sinks;
    size_t sink_count;
    agora_delivery delivery;
    char *checkpoint_path;     /* NULL = no checkpoints */
    uint64_t checkpoint_every; /* records between saves, >= 1 */
};

/* ---- Batches ----------------------------------------------------------- */

int agora_batch_push(agora_batch *batch, agora_value *record)
{
    if (batch->count >= batch->cap)
        return AGORA_ELIMIT;
    if (batch->texts != NULL) {
        batch->texts[batch->count].ptr = NULL;
        batch->texts[batch->count].len = 0;
    }
    batch->records[batch->count++] = record;
    return 0;
}

int agora_batch_push_text(agora_batch *batch, agora_value *record,
                          const char *text, size_t len)
{
    if (batch->count >= batch->cap)
        return AGORA_ELIMIT;
    if (batch->texts != NULL) {
        /* Sinks copy the text into a line: surrounding blanks go. */
        while (len > 0 && (*text == ' ' || *text == '\t' || *text == '\r' ||
                           *text == '\n')) {
            text++;
            len--;
        }
        while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t' ||
                           text[len - 1] == '\r' || text[len - 1] == '\n'))
            len--;
        batch->texts[batch->count].ptr = text;
        batch->texts[batch->count].len = len;
    }
    batch->records[batch->count++] = record;
    return 0;
}

int agora_batch_push_bad(agora_batch *batch, const char *raw, size_t raw_len,
                         const char *error)
{
    if (batch->bad_count == batch->bad_cap) {
        size_t cap = batch->bad_cap ? batch->bad_cap * 2 : 16;
        agora_bad_record *grown = realloc(batch->bad, cap * sizeof(*grown));
        if (grown == NULL)
            return AGORA_ENOMEM;
        batch->bad = grown;
        batch->bad_cap = cap;
    }

    agora_bad_record *bad = &batch->bad[batch->bad_count];
    bad->raw = agora_arena_strndup(batch->arena, raw != NULL ? raw : "",
                                   raw != NULL ? raw_len : 0);
    bad->raw_len = raw != NULL ? raw_len : 0;
    bad->error = agora_arena_strndup(batch->arena, error, strlen(error));
    if (bad->raw == NULL || bad->error == NULL)
        return AGORA_ENOMEM;
    batch->bad_count++;
    return 0;
}

/* ---- Components -------------------------------------------------------- */

void agora_source_free(agora_source *source)
{
    if (source != NULL && source->destroy != NULL)
        source->destroy(source);
}

void agora_middleware_free(agora_middleware *mw)
{
    if (mw != NULL && mw->destroy != NULL)
        mw->destroy(mw);
}

void agora_sink_free(agora_sink *sink)
{
    if (sink != NULL && sink->destroy != NULL)
        sink->destroy(sink);
}

/* A predicate wrapped as a middleware by agora_pipeline_filter. */
typedef struct predicate_state {
    agora_predicate pred;
    void *ctx;
    char name[AGORA_NAME_MAX];
} predicate_state;

static agora_verdict predicate_process(void *state, agora_value **record,
                                       agora_arena *arena, agora_error *err)
{
    predicate_state *ps = state;
    return ps->pred(*record, ps->ctx) ? AGORA_KEEP : AGORA_DROP;
}

static void predicate_destroy(agora_middleware *self)
{
    free(self->state);
    free(self);
}

/* ---- Builder ----------------------------------------------------------- */

agora_pipeline *agora_pipeline_new(agora_source *source)
{
    agora_pipeline *p = calloc(1, sizeof(*p));

    if (p == NULL)
        return NULL;
    p->source = source;
    return p;
}

static int append_pointer(void ***items, size_t *count, void *item)
{
    void **grown = realloc(*items, (*count + 1) * sizeof(void *));
    if (grown == NULL)
        return AGORA_ENOMEM;
    grown[*count] = item;
    *items = grown;
    (*count)++;
    return 0;
}

int agora_pipeline_pipe(agora_pipeline *p, agora_middleware *mw)
{
    if (p == NULL || mw == NULL || mw->process == NULL)
        return AGORA_EINVAL;
    return append_pointer((void ***)&p->middlewares, &p->middleware_count, mw);
}

int agora_pipeline_filter(agora_pipeline *p, agora_predicate pred, void *ctx,
                          const char *name)
{
    if (p == NULL || pred == NULL)
        return AGORA_EINVAL;

    agora_middleware *mw = calloc(1, sizeof(*mw));
    predicate_state *ps = calloc(1, sizeof(*ps));
    if (mw == NULL || ps == NULL) {
        free(mw);
        free(ps);
        return AGORA_ENOMEM;
    }
    ps->pred = pred;
    ps->ctx = ctx;
    snprintf(ps->name, sizeof(ps->name), "%s", name != NULL ? name : "filter");
    mw->name = ps->name;
    mw->state = ps;
    mw->process = predicate_process;
    mw->destroy = predicate_destroy;

    int rc = agora_pipeline_pipe(p, mw);
    if (rc != 0)
        predicate_destroy(mw);
    return rc;
}

int agora_pipeline_add_sink(agora_pipeline *p, agora_sink *sink)
{
    if (p == NULL || sink == NULL || sink->write_batch == NULL)
        return AGORA_EINVAL;
    return append_pointer((void ***)&p->sinks, &p->sink_count, sink);
}

void agora_pipeline_free(agora_pipeline *p)
{
    if (p == NULL)
        return;
    agora_source_free(p->source);
    for (size_t i = 0; i < p->middleware_count; i++)
        agora_middleware_free(p->middlewares[i]);
    for (size_t i = 0; i < p->sink_count; i++)
        agora_sink_free(p->sinks[i]);
    free(p->middlewares);
    free(p->sinks);
    free(p);
}

agora_bound_pipeline *agora_pipeline_build(agora_pipeline *p,
                                           const agora_delivery *delivery,
                                           agora_error *err)
{
    agora_bound_pipeline *bp = NULL;

    if (p == NULL) {
        agora_error_set(err, AGORA_EINVAL, "no pipeline to build");
        goto fail;
    }
    if (p->source == NULL) {
        agora_error_set(err, AGORA_EINVAL, "pipeline has no source");
        goto fail;
    }
    if (p->sink_count == 0) {
        agora_error_set(err, AGORA_EINVAL,
                        "pipeline has no sink: add at least one sink");
        goto fail;
    }

    bp = calloc(1, sizeof(*bp));
    if (bp == NULL) {
        agora_error_set(err, AGORA_ENOMEM, "out of memory building pipeline");
        goto fail;
    }
    bp->source = p->source;
    bp->middlewares = p->middlewares;
    bp->middleware_count = p->middleware_count;
    bp->sinks = p->sinks;
    bp->sink_count = p->sink_count;
    if (delivery != NULL)
        bp->delivery = *delivery;
    if (bp->delivery.batch_size == 0)
        bp->delivery.batch_size = DEFAULT_BATCH_SIZE;
    if (bp->delivery.pipeline_id[0] == '\0')
        snprintf(bp->delivery.pipeline_id, sizeof(bp->delivery.pipeline_id),
                 "pipeline");
    free(p);
    return bp;

fail:
    agora_pipeline_free(p);
    if (delivery != NULL)
        agora_dlq_free(delivery->dlq);
    return NULL;
}

void agora_bound_pipeline_free(agora_bound_pipeline *bp)
{
    if (bp == NULL)
        return;
    agora_source_free(bp->source);
    for (size_t i = 0; i < bp->middleware_count; i++)
        agora_middleware_free(bp->middlewares[i]);
    for (size_t i = 0; i < bp->sink_count; i++)
        agora_sink_free(bp->sinks[i]);
    free(bp->middlewares);
    free(bp->sinks);
    agora_dlq_free(bp->delivery.dlq);
    free(bp->checkpoint_path);
    free(bp);
}

int agora_bound_pipeline_set_checkpoint(agora_bound_pipeline *bp,
                                        const char *path, uint64_t every,
                                        agora_error *err)
{
    char *copy = NULL;

    if (bp == NULL)
        return agora_error_set(err, AGORA_EINVAL, "no pipeline to configure");
    if (path != NULL && every == 0)
        return agora_error_set(err, AGORA_EINVAL,
                               "pipeline '%s': checkpoint every must be at "
                               "least 1 record",
                               bp->delivery.pipeline_id);
    if (path != NULL && (copy = strdup(path)) == NULL)
        return agora_error_set(err, AGORA_ENOMEM, "out of memory");
    free(bp->checkpoint_path);
    bp->checkpoint_path = copy;
    bp->checkpoint_every = every;
    return 0;
}

/* ---- Run summary and ids ----------------------------------------------- */

void agora_run_summary_clear(agora_run_summary *summary)
{
    if (summary == NULL)
        return;
    free(summary->middlewares);
    free(summary->last_checkpoint);
    memset(summary, 0, sizeof(*summary));
}

void agora_run_id_new(char *buf)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char bytes[AGORA_RUN_ID_LEN / 2];
    size_t got = 0;

    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        while (got < sizeof(bytes)) {
            ssize_t n = read(fd, bytes + got, sizeof(bytes) - got);
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        close(fd);
    }
    if (got < sizeof(bytes)) {
        /* Fallback without /dev/urandom: unique enough for log correlation. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        unsigned long long seed = (unsigned long long)ts.tv_nsec ^
                                  ((unsigned long long)ts.tv_sec << 20) ^
                                  (unsigned long long)getpid();
        for (size_t i = 0; i < sizeof(bytes); i++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            bytes[i] = (unsigned char)(seed >> 56);
        }
    }
    for (size_t i = 0; i < sizeof(bytes); i++) {
        buf[2 * i] = hex[bytes[i] >> 4];
        buf[2 * i + 1] = hex[bytes[i] & 15];
    }
    buf[AGORA_RUN_ID_LEN] = '\0';
}

/* true when id is exactly AGORA_RUN_ID_LEN lowercase hex digits. */
static bool is_run_id(const char *id)
{
    for (size_t i = 0; i < AGORA_RUN_ID_LEN; i++) {
        char c = id[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return id[AGORA_RUN_ID_LEN] == '\0';
}

static double monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- Run loop ---------------------------------------------------------- */

/* Per-run working state, so the helpers below need few parameters. */
typedef struct run_state {
    agora_bound_pipeline *bp;
    agora_run_summary *summary;
    agora_live_counters *live;
    agora_batch batch;
    agora_value **current;   /* record as it leaves the chain so far */
    agora_value **original;  /* record as the source produced it */
    unsigned char *alive;    /* 1 while the record is still in the chain */
    agora_value **survivors; /* records handed to the sinks */
    agora_value **survivor_originals;
    agora_string *survivor_texts; /* NULL when no sink takes texts */
    agora_record_result *results;
    bool dlq_open_txn;
    uint64_t errors_logged; /* per-record errors logged without a DLQ */
    agora_checkpoint_store *store; /* NULL = no checkpoints in this run */
    bool resuming;         /* a saved checkpoint was loaded */
    bool canceled;         /* the run stopped on *cancel, not at the end */
    uint64_t since_save;   /* records handled since the last save */
    /*
     * With a prefetching source: the source's position after the last
     * batch handled (or at the start), copied into position_arena, because
     * the source itself may already be a batch further.
     */
    bool prefetch;
    agora_arena *position_arena;
    agora_value *position;
} run_state;

static int dlq_begin_once(run_state *rs, agora_error *err)
{
    agora_dlq *dlq = rs->bp->delivery.dlq;

    if (dlq == NULL || rs->dlq_open_txn)
        return 0;
    int rc = agora_dlq_begin(dlq, err);
    if (rc == 0)
        rs->dlq_open_txn = true;
    return rc;
}

/*
 * Sends one failed record to the DLQ, or logs it when the pipeline has no
 * DLQ. Returns 0, or a negative code when the DLQ write failed and the policy
 * requires the run to stop.
 */
static int dead_letter(run_state *rs, agora_dlq_entry *entry, agora_error *err)
{
    agora_delivery *d = &rs->bp->delivery;
    agora_error dlq_err;

    entry->pipeline_id = d->pipeline_id;
    entry->run_id = rs->summary->run_id;
    entry->source = rs->bp->source->name;

    if (d->dlq == NULL) {
        /* Without a DLQ the record is reported in the log, never dropped silently. */
        rs->errors_logged++;
        if (rs->errors_logged <= 100 || rs->errors_logged % 1000 == 0)
            AGORA_WARN("pipeline", "record_failed", d->pipeline_id,
                       rs->summary->run_id,
                       "record failed at stage %s and this run writes no dlq "
                       "(failures so far: %llu): %s",
                       entry->stage, (unsigned long long)rs->errors_logged,
                       entry->error_message);
        return 0;
    }

    agora_error_clear(&dlq_err);
    int rc = dlq_begin_once(rs, &dlq_err);
    if (rc == 0)
        rc = agora_dlq_write(d->dlq, entry, &dlq_err);
    if (rc == 0)
        return 0;

    if (d->dlq_policy == AGORA_DLQ_LOG_ONLY) {
        AGORA_ERROR("pipeline", "dlq_write_failed", d->pipeline_id,
                    rs->summary->run_id,
                    "%s; the record's own error was: %s", dlq_err.message,
                    entry->error_message);
        return 0;
    }
    agora_error_set(err, AGORA_EDLQ, "%s (record error: %s)", dlq_err.message,
                    entry->error_message);
    return AGORA_EDLQ;
}

static int dlq_commit_if_open(run_state *rs, agora_error *err)
{
    if (!rs->dlq_open_txn)
        return 0;
    rs->dlq_open_txn = false;

    agora_error dlq_err;
    agora_error_clear(&dlq_err);
    int rc = agora_dlq_commit(rs->bp->delivery.dlq, &dlq_err);
    if (rc == 0)
        return 0;
    if (rs->bp->delivery.dlq_policy == AGORA_DLQ_LOG_ONLY) {
        AGORA_ERROR("pipeline", "dlq_write_failed",
                    rs->bp->delivery.pipeline_id, rs->summary->run_id, "%s",
                    dlq_err.message);
        return 0;
    }
    return agora_error_set(err, AGORA_EDLQ, "%s", dlq_err.message);
}

static int handle_bad_records(run_state *rs, agora_error *err)
{
    for (size_t i = 0; i < rs->batch.bad_count; i++) {
        agora_bad_record *bad = &rs->batch.bad[i];
        agora_dlq_entry entry = {
            .stage = AGORA_STAGE_SOURCE,
            .error_type = "ParseError",
            .error_message = bad->error,
            .record_raw = bad->raw,
            .record_raw_len = bad->raw_len,
        };
        rs->summary->records_errored++;
        int rc = dead_letter(rs, &entry, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Runs the batch through every middleware, one middleware at a time. */
static int run_middlewares(run_state *rs, size_t n, agora_error *err)
{
    agora_bound_pipeline *bp = rs->bp;
    agora_arena *arena = rs->batch.arena;

    for (size_t m = 0; m < bp->middleware_count; m++) {
        agora_middleware *mw = bp->middlewares[m];
        agora_middleware_stats *stats = &rs->summary->middlewares[m];
        double t0 = monotonic_seconds();

        for (size_t i = 0; i < n; i++) {
            if (!rs->alive[i])
                continue;
            agora_error mw_err;
            mw_err.code = 0;
            mw_err.message[0] = '\0';
            mw_err.key[0] = '\0';
            agora_value *input = rs->current[i];
            agora_value *record = input;

            stats->in++;
            agora_verdict verdict = mw->process(mw->state, &record, arena, &mw_err);
            if (verdict == AGORA_KEEP && record != NULL) {
                stats->out++;
                rs->current[i] = record;
                continue;
            }
            rs->alive[i] = 0;
            if (verdict == AGORA_DROP) {
                stats->dropped++;
                rs->summary->records_dropped++;
                continue;
            }

            stats->errored++;
            rs->summary->records_errored++;
            agora_dlq_entry entry = {
                .stage = AGORA_STAGE_MIDDLEWARE,
                .error_type = "MiddlewareError",
                .error_message = mw_err.message[0] != '\0'
                                     ? mw_err.message
                                     : "middleware rejected the record",
                .record = input,
                .original_record = rs->original[i],
                .middleware = mw->name,
            };
            int rc = dead_letter(rs, &entry, err);
            if (rc != 0)
                return rc;
        }
        stats->total_time_ms += (monotonic_seconds() - t0) * 1000.0;
    }
    return 0;
}

/*
 * Builds the value of survivor i from its text, for a record that was only
 * checked (texts_only) and now needs a value for a DLQ row. The source
 * checked the text under its own limits, and these limits are the widest,
 * so parsing can fail only when memory runs out.
 */
static int materialize(run_state *rs, size_t i, agora_error *err)
{
    const agora_string *text = &rs->survivor_texts[i];
    agora_json_limits limits = agora_json_limits_widest();
    agora_value *value = agora_json_parse(rs->batch.arena, text->ptr,
                                          text->len, &limits, err);

    if (value == NULL)
        return err->code != 0 ? err->code : AGORA_ENOMEM;
    rs->survivors[i] = value;
    rs->survivor_originals[i] = value;
    return 0;
}

/*
 * Writes the survivors to every sink and settles each record's outcome. A
 * record is written when at least one sink accepted it, and errored when
 * none did. Every rejection by a sink gets its own DLQ row (stage
 * sink_write, naming that sink), also when another sink accepted the
 * record, so no sink loses a record silently. Without a DLQ any rejection
 * ends the run: sinks fail closed.
 */
static int run_sinks(run_state *rs, size_t survivors, agora_error *err)
{
    agora_bound_pipeline *bp = rs->bp;
    /* alive[] is no longer needed at this point and is reused. */
    unsigned char *accepted = rs->alive;

    memset(accepted, 0, survivors);
    for (size_t s = 0; s < bp->sink_count; s++) {
        agora_sink *sink = bp->sinks[s];
        agora_error sink_err;
        agora_error_clear(&sink_err);
        memset(rs->results, 0, survivors * sizeof(*rs->results));

        int rc;
        if (sink->write_batch_texts != NULL)
            rc = sink->write_batch_texts(sink->state, rs->survivors,
                                         rs->survivor_texts, survivors,
                                         rs->results, rs->batch.arena,
                                         &sink_err);
        else
            rc = sink->write_batch(sink->state, rs->survivors, survivors,
                                   rs->results, rs->batch.arena, &sink_err);
        if (rc < 0 && bp->delivery.dlq == NULL) {
            agora_error_set(err, rc, "sink '%s' failed: %s", sink->name,
                            sink_err.message);
            return rc;
        }
        if (rc < 0)
            AGORA_ERROR("pipeline", "sink_write_failed", bp->delivery.pipeline_id,
                        rs->summary->run_id,
                        "sink '%s' failed a batch of %zu records, sending them "
                        "to the dlq: %s",
                        sink->name, survivors, sink_err.message);

        for (size_t i = 0; i < survivors; i++) {
            const char *failure = rc < 0 ? sink_err.message : rs->results[i].error;
            if (failure == NULL) {
                accepted[i] = 1;
                continue;
            }
            if (rs->survivors[i] == NULL) {
                int parse_rc = materialize(rs, i, err);
                if (parse_rc != 0)
                    return parse_rc;
            }
            if (bp->delivery.dlq == NULL) {
                agora_error_set(err, AGORA_ESINK,
                                "sink '%s' rejected a record and this run "
                                "writes no dlq: %s",
                                sink->name, failure);
                return AGORA_ESINK;
            }
            agora_dlq_entry entry = {
                .stage = AGORA_STAGE_SINK_WRITE,
                .error_type = "SinkError",
                .error_message = failure,
                .record = rs->survivors[i],
                .original_record = rs->survivor_originals[i],
                .processed_record = rs->survivors[i],
                .sink = sink->name,
            };
            int dlq_rc = dead_letter(rs, &entry, err);
            if (dlq_rc != 0)
                return dlq_rc;
        }
    }

    for (size_t i = 0; i < survivors; i++) {
        if (accepted[i])
            rs->summary->records_written++;
        else
            rs->summary->records_errored++;
    }

    for (size_t s = 0; s < bp->sink_count; s++) {
        agora_sink *sink = bp->sinks[s];
        if (sink->flush == NULL)
            continue;
        agora_error sink_err;
        agora_error_clear(&sink_err);
        int rc = sink->flush(sink->state, &sink_err);
        if (rc < 0) {
            agora_error_set(err, rc, "sink '%s' flush failed: %s", sink->name,
                            sink_err.message);
            return rc;
        }
    }
    return 0;
}

static int process_batch(run_state *rs, agora_error *err)
{
    size_t n = rs->batch.count;
    int rc;

    rs->summary->records_consumed += n + rs->batch.bad_count;
    rc = handle_bad_records(rs, err);
    if (rc != 0)
        return rc;

    for (size_t i = 0; i < n; i++) {
        rs->current[i] = rs->batch.records[i];
        rs->original[i] = rs->batch.records[i];
        rs->alive[i] = 1;
    }
    rc = run_middlewares(rs, n, err);
    if (rc != 0)
        return rc;

    size_t survivors = 0;
    for (size_t i = 0; i < n; i++) {
        if (!rs->alive[i])
            continue;
        rs->survivors[survivors] = rs->current[i];
        rs->survivor_originals[survivors] = rs->original[i];
        if (rs->survivor_texts != NULL) {
            /* Middlewares never change a record in place, so a record that
             * is still the source's own value still matches its text. */
            if (rs->current[i] == rs->original[i]) {
                rs->survivor_texts[survivors] = rs->batch.texts[i];
            } else {
                rs->survivor_texts[survivors].ptr = NULL;
                rs->survivor_texts[survivors].len = 0;
            }
        }
        survivors++;
    }
    if (survivors > 0) {
        rc = run_sinks(rs, survivors, err);
        if (rc != 0)
            return rc;
    }
    return dlq_commit_if_open(rs, err);
}

static void publish_live(run_state *rs)
{
    if (rs->live == NULL)
        return;
    atomic_store_explicit(&rs->live->consumed, rs->summary->records_consumed,
                          memory_order_relaxed);
    atomic_store_explicit(&rs->live->written, rs->summary->records_written,
                          memory_order_relaxed);
    atomic_store_explicit(&rs->live->dropped, rs->summary->records_dropped,
                          memory_order_relaxed);
    atomic_store_explicit(&rs->live->errored, rs->summary->records_errored,
                          memory_order_relaxed);
}

static bool sinks_take_texts(const agora_bound_pipeline *bp)
{
    for (size_t s = 0; s < bp->sink_count; s++)
        if (bp->sinks[s]->write_batch_texts != NULL)
            return true;
    return false;
}

/* True when every sink takes texts, so values need not be built at all. */
static bool sinks_need_only_texts(const agora_bound_pipeline *bp)
{
    if (bp->middleware_count > 0 || bp->sink_count == 0)
        return false;
    for (size_t s = 0; s < bp->sink_count; s++)
        if (bp->sinks[s]->write_batch_texts == NULL)
            return false;
    return true;
}

static int alloc_run_state(run_state *rs, size_t batch_size)
{
    rs->batch.texts_only = sinks_need_only_texts(rs->bp);
    if (sinks_take_texts(rs->bp)) {
        rs->batch.texts = calloc(batch_size, sizeof(agora_string));
        rs->survivor_texts = calloc(batch_size, sizeof(agora_string));
        if (rs->batch.texts == NULL || rs->survivor_texts == NULL)
            return AGORA_ENOMEM;
    }
    rs->batch.arena = agora_arena_new(0);
    rs->batch.records = calloc(batch_size, sizeof(agora_value *));
    rs->current = calloc(batch_size, sizeof(agora_value *));
    rs->original = calloc(batch_size, sizeof(agora_value *));
    rs->alive = calloc(batch_size, 1);
    rs->survivors = calloc(batch_size, sizeof(agora_value *));
    rs->survivor_originals = calloc(batch_size, sizeof(agora_value *));
    rs->results = calloc(batch_size, sizeof(agora_record_result));
    if (rs->batch.arena == NULL || rs->batch.records == NULL ||
        rs->current == NULL || rs->original == NULL || rs->alive == NULL ||
        rs->survivors == NULL || rs->survivor_originals == NULL ||
        rs->results == NULL)
        return AGORA_ENOMEM;
    return 0;
}

static void free_run_state(run_state *rs)
{
    agora_arena_free(rs->batch.arena);
    free(rs->batch.records);
    free(rs->batch.bad);
    free(rs->current);
    free(rs->original);
    free(rs->alive);
    free(rs->survivors);
    free(rs->survivor_originals);
    free(rs->survivor_texts);
    free(rs->batch.texts);
    free(rs->results);
}

/* ---- Checkpoints ------------------------------------------------------- */

/* Fills err for a stored checkpoint this run cannot use, with the way out. */
static int checkpoint_unusable(run_state *rs, agora_error *err, int code,
                               const char *reason)
{
    const char *id = rs->bp->delivery.pipeline_id;

    return agora_error_set(err, code,
                           "checkpoint store %s: the checkpoint of pipeline "
                           "'%s' %s; run 'agora checkpoint reset %s --config "
                           "FILE' to start from the beginning of the input",
                           rs->bp->checkpoint_path, id, reason, id);
}

/*
 * Opens the checkpoint store and, when it contains a checkpoint of this
 * pipeline, positions the source after it with prepare_resume. Runs before
 * any other component starts. Returns 0 or a negative code with err filled.
 */
static int checkpoint_start(run_state *rs, agora_error *err)
{
    agora_bound_pipeline *bp = rs->bp;
    agora_source *source = bp->source;
    const char *path = bp->checkpoint_path;
    agora_arena *arena = NULL;
    char *json = NULL;
    char reason[AGORA_NAME_MAX * 2 + 96];
    int rc;

    rs->store = agora_checkpoint_store_open(path, true, err);
    if (rs->store == NULL)
        return err->code < 0 ? err->code : AGORA_EDB;
    if (source->checkpoint == NULL)
        AGORA_WARN("pipeline", "checkpoint_unsupported",
                   bp->delivery.pipeline_id, rs->summary->run_id,
                   "source '%s' does not report its position, so this run "
                   "saves no checkpoint",
                   source->name);

    rc = agora_checkpoint_load(rs->store, bp->delivery.pipeline_id, &json,
                               err);
    if (rc <= 0)
        goto cleanup;

    arena = agora_arena_new(0);
    if (arena == NULL) {
        rc = agora_error_set(err, AGORA_ENOMEM, "out of memory");
        goto cleanup;
    }
    agora_error parse_err;
    agora_error_clear(&parse_err);
    agora_value *doc = agora_json_parse(arena, json, strlen(json), NULL,
                                        &parse_err);
    const agora_value *value = NULL, *saved_by = NULL;
    if (doc != NULL && doc->type == AGORA_OBJECT) {
        value = agora_object_getz(doc, "value");
        saved_by = agora_object_getz(doc, "source");
    }
    if (value == NULL) {
        rc = checkpoint_unusable(rs, err, AGORA_EPARSE,
                                 "is not a JSON object with a \"value\" "
                                 "member");
        goto cleanup;
    }
    if (saved_by != NULL && saved_by->type == AGORA_STRING &&
        source->name != NULL &&
        (saved_by->u.string.len != strlen(source->name) ||
         memcmp(saved_by->u.string.ptr, source->name,
                saved_by->u.string.len) != 0)) {
        snprintf(reason, sizeof(reason),
                 "was saved by a '%.*s' source, but the pipeline's source is "
                 "'%s'",
                 (int)(saved_by->u.string.len < AGORA_NAME_MAX
                           ? saved_by->u.string.len
                           : AGORA_NAME_MAX),
                 saved_by->u.string.ptr, source->name);
        rc = checkpoint_unusable(rs, err, AGORA_ESTATE, reason);
        goto cleanup;
    }
    if (source->prepare_resume == NULL) {
        snprintf(reason, sizeof(reason),
                 "cannot be used: source '%s' cannot resume from a position",
                 source->name);
        rc = checkpoint_unusable(rs, err, AGORA_ESTATE, reason);
        goto cleanup;
    }
    rc = source->prepare_resume(source->state, value, err);
    if (rc < 0) {
        agora_error_prefix(err, "checkpoint store %s, pipeline '%s'", path,
                           bp->delivery.pipeline_id);
        goto cleanup;
    }

    AGORA_INFO("pipeline", "checkpoint_loaded", bp->delivery.pipeline_id,
               rs->summary->run_id, "resuming from the checkpoint in %s: %s",
               path, json);
    rs->resuming = true;
    rs->summary->last_checkpoint = json;
    json = NULL;
    rc = 0;

cleanup:
    free(json);
    agora_arena_free(arena);
    return rc;
}

/*
 * Returns the checkpoint document of the source's current position (heap
 * text), or NULL when the source reports none. *oom is set when memory ran
 * out. The value is built in the batch arena, so call this between batches.
 */
static char *checkpoint_document(run_state *rs, bool *oom)
{
    agora_source *source = rs->bp->source;
    agora_value *value;
    char *doc;

    *oom = false;
    if (source->checkpoint == NULL)
        return NULL;
    value = rs->prefetch ? rs->position
                         : source->checkpoint(source->state, rs->batch.arena);
    if (value == NULL)
        return NULL;
    doc = agora_checkpoint_document_new(rs->bp->delivery.pipeline_id,
                                        rs->summary->run_id, source->name,
                                        value);
    *oom = doc == NULL;
    return doc;
}

/*
 * Saves the source's position. Called only at a batch boundary, after every
 * record of the batch was handled, the sinks flushed and the DLQ committed,
 * so the checkpoint never moves past a record that could still be lost.
 */
static int checkpoint_save(run_state *rs, agora_error *err)
{
    bool oom;
    char *doc = checkpoint_document(rs, &oom);
    int rc;

    rs->since_save = 0;
    if (doc == NULL)
        return oom ? agora_error_set(err, AGORA_ENOMEM, "out of memory") : 0;
    rc = agora_checkpoint_save(rs->store, rs->bp->delivery.pipeline_id, doc,
                               err);
    if (rc < 0) {
        free(doc);
        return rc;
    }
    free(rs->summary->last_checkpoint);
    rs->summary->last_checkpoint = doc;
    return 0;
}

/*
 * Settles the stored checkpoint once the components stopped. A completed
 * run deletes it, so the next run reads the input from its start. A
 * canceled run saves final_doc, its position at the stop. A failed run
 * leaves the last save alone. final_doc is heap text or NULL and is consumed. Returns 0
 * or a negative code with err filled.
 */
static int checkpoint_finish(run_state *rs, int run_rc, char *final_doc,
                             agora_error *err)
{
    const char *id = rs->bp->delivery.pipeline_id;
    int rc = 0;

    if (run_rc != 0) {
        free(final_doc);
        return 0;
    }
    if (rs->canceled) {
        if (final_doc != NULL)
            rc = agora_checkpoint_save(rs->store, id, final_doc, err);
    } else {
        rc = agora_checkpoint_reset(rs->store, id, err);
        if (rc > 0)
            rc = 0;
    }
    if (rc < 0) {
        free(final_doc);
        return rc;
    }
    if (final_doc != NULL) {
        free(rs->summary->last_checkpoint);
        rs->summary->last_checkpoint = final_doc;
    }
    return 0;
}

/*
 * Ends the stream after next_batch failed with code (source_err its
 * error). Records read before the failure are complete: they are delivered
 * first, so a truncated input loses nothing that was readable. Returns the
 * code of the first failure, with err filled.
 */
static int source_failed(run_state *rs, int code,
                         const agora_error *source_err, agora_error *err)
{
    const char *name = rs->bp->source->name;

    if (rs->batch.count > 0 || rs->batch.bad_count > 0) {
        int rc = process_batch(rs, err);
        publish_live(rs);
        if (rc != 0)
            return rc;
    }
    *err = *source_err;
    if (err->message[0] != '\0')
        agora_error_prefix(err, "source '%s'", name);
    else
        agora_error_set(err, code, "source '%s' failed: %s", name,
                        agora_strerror(code));
    err->code = code;
    return code;
}

/* Marks and logs the run as canceled when *cancel is set. */
static bool stop_on_cancel(run_state *rs, const _Atomic bool *cancel)
{
    if (cancel == NULL || !atomic_load(cancel))
        return false;
    AGORA_WARN("pipeline", "run_canceled", rs->bp->delivery.pipeline_id,
               rs->summary->run_id, "run canceled after %llu records",
               (unsigned long long)rs->summary->records_consumed);
    rs->canceled = true;
    rs->summary->canceled = true;
    return true;
}

/* ---- Prefetching ------------------------------------------------------ */

/*
 * A prefetching run reads with a ring of batches. A reader thread fills
 * them in turn while the run loop handles them in the same order, so
 * decoding overlaps with the middlewares and sinks on a machine with more
 * than one core. The reader sizes batches exactly as the loop would
 * (max_records, checkpoint save points), takes the source's position after
 * each batch for the checkpoint, and stops after the end of input, an error
 * or a stop request.
 */
typedef struct prefetch_slot {
    agora_batch batch;
    int rc;               /* next_batch's result */
    agora_error err;      /* filled when rc < 0 */
    agora_value *position; /* source position after the batch, in its arena */
    size_t bytes;         /* arena bytes when filled (the loop adds more) */
    bool full;            /* filled and not yet handed back by the loop */
} prefetch_slot;

/*
 * Batches in the ring, and the arena bytes that filled batches may hold
 * before the reader waits (one batch is always allowed, whatever its size).
 *
 * Waking a sleeping thread cost roughly 0.1 ms per batch on a 2-vCPU
 * virtual machine, a quarter to a third of a CSV to JSONL run, when two
 * batches alternated and one thread slept after nearly every batch. A
 * longer ring absorbs the differences between batches, so that neither
 * thread reaches its end as often. A reader that does wait sleeps until
 * half of the ring (and of the bytes) is free again, so it is woken once
 * per several batches. The loop is still woken for every batch it waits
 * for, so a record that arrives alone is handled at once.
 */
#define PREFETCH_SLOTS 8
#define PREFETCH_BYTES ((size_t)16 << 20)

/*
 * Block bytes each arena of the ring keeps across resets, so that the idle
 * slots of a run with large batches do not each hold a batch's worth of
 * memory: together at most PREFETCH_BYTES.
 */
#define PREFETCH_KEEP_BYTES (PREFETCH_BYTES / PREFETCH_SLOTS)

typedef struct prefetcher {
    run_state *rs;
    uint64_t max_records;
    const _Atomic bool *cancel;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t reader_wake; /* a slot is free, or stop was set */
    pthread_cond_t loop_wake;   /* a slot was filled */
    prefetch_slot slots[PREFETCH_SLOTS];
    int fill;    /* slot the reader fills next */
    int take;    /* slot the loop handles next */
    int full;    /* slots filled and not yet handed back */
    size_t bytes; /* arena bytes of those slots */
    bool reader_waiting;
    bool loop_waiting;
    bool stop;
} prefetcher;

/* Stack of the reader thread: sources keep parser state on the heap. */
#define PREFETCH_STACK_BYTES (512u * 1024u)

/* Whether the reader must wait before filling the next slot. */
static bool prefetch_ring_full(const prefetcher *pf)
{
    return pf->slots[pf->fill].full ||
           (pf->full > 0 && pf->bytes >= PREFETCH_BYTES);
}

static void *prefetch_main(void *arg)
{
    prefetcher *pf = arg;
    run_state *rs = pf->rs;
    agora_bound_pipeline *bp = rs->bp;
    agora_source *source = bp->source;
    uint64_t produced = 0, since_save = 0;

    for (;;) {
        prefetch_slot *slot;
        size_t want = bp->delivery.batch_size;
        bool end = false;

        pthread_mutex_lock(&pf->lock);
        while (!pf->stop && prefetch_ring_full(pf)) {
            pf->reader_waiting = true;
            pthread_cond_wait(&pf->reader_wake, &pf->lock);
        }
        pf->reader_waiting = false;
        if (pf->stop) {
            pthread_mutex_unlock(&pf->lock);
            return NULL;
        }
        slot = &pf->slots[pf->fill];
        pthread_mutex_unlock(&pf->lock);

        if (pf->max_records > 0) {
            uint64_t left = pf->max_records - produced;
            if (left < want)
                want = (size_t)left;
        }
        if (rs->store != NULL && bp->checkpoint_every - since_save < want)
            want = (size_t)(bp->checkpoint_every - since_save);

        agora_arena_reset(slot->batch.arena);
        slot->batch.count = 0;
        slot->batch.cap = want;
        slot->batch.bad_count = 0;
        slot->position = NULL;
        agora_error_clear(&slot->err);
        slot->rc = want == 0 ? 0
                             : source->next_batch(source->state, &slot->batch,
                                                  &slot->err);
        if (slot->rc >= 0 && rs->store != NULL && source->checkpoint != NULL)
            slot->position = source->checkpoint(source->state,
                                                slot->batch.arena);
        produced += slot->batch.count + slot->batch.bad_count;
        since_save += slot->batch.count + slot->batch.bad_count;
        if (since_save >= bp->checkpoint_every)
            since_save = 0;
        end = slot->rc <= 0 ||
              (slot->batch.count == 0 && slot->batch.bad_count == 0) ||
              (pf->cancel != NULL && atomic_load(pf->cancel));

        pthread_mutex_lock(&pf->lock);
        slot->full = true;
        pf->full++;
        slot->bytes = agora_arena_used(slot->batch.arena);
        pf->bytes += slot->bytes;
        pf->fill = (pf->fill + 1) % PREFETCH_SLOTS;
        if (pf->loop_waiting)
            pthread_cond_signal(&pf->loop_wake);
        pthread_mutex_unlock(&pf->lock);
        if (end)
            return NULL;
    }
}

/*
 * Waits for the next filled slot. The reader stops only after filling a
 * slot that ends the stream: end of input, an error, or a batch read after
 * cancel was set (the loop then stops at its cancel check). So the loop
 * never waits for a slot that will not come.
 */
static prefetch_slot *prefetch_take(prefetcher *pf)
{
    prefetch_slot *slot;

    pthread_mutex_lock(&pf->lock);
    while (!pf->slots[pf->take].full) {
        pf->loop_waiting = true;
        pthread_cond_wait(&pf->loop_wake, &pf->lock);
    }
    pf->loop_waiting = false;
    slot = &pf->slots[pf->take];
    pthread_mutex_unlock(&pf->lock);
    return slot;
}

/*
 * Hands a handled slot back to the reader. Its arena is reset here rather
 * than when the reader comes round to it again, so that a free slot keeps
 * at most PREFETCH_KEEP_BYTES.
 */
static void prefetch_release(prefetcher *pf, prefetch_slot *slot)
{
    agora_arena_reset(slot->batch.arena);
    pthread_mutex_lock(&pf->lock);
    slot->full = false;
    pf->full--;
    pf->bytes -= slot->bytes;
    pf->take = (pf->take + 1) % PREFETCH_SLOTS;
    if (pf->reader_waiting && pf->full <= PREFETCH_SLOTS / 2 &&
        (pf->full == 0 || pf->bytes < PREFETCH_BYTES / 2))
        pthread_cond_signal(&pf->reader_wake);
    pthread_mutex_unlock(&pf->lock);
}

/* Keeps a copy of the position of the batch just handled. */
static int prefetch_keep_position(run_state *rs, const agora_value *position,
                                  agora_error *err)
{
    if (position == NULL)
        return 0;
    agora_arena_reset(rs->position_arena);
    rs->position = agora_value_copy(rs->position_arena, position);
    if (rs->position == NULL)
        return agora_error_set(err, AGORA_ENOMEM, "out of memory");
    return 0;
}

/*
 * The stream loop of a prefetching run: the same steps as stream(), with
 * the batches coming from the reader thread.
 */
static int stream_prefetch(run_state *rs, prefetcher *pf,
                           const _Atomic bool *cancel, agora_error *err)
{
    agora_bound_pipeline *bp = rs->bp;

    for (;;) {
        prefetch_slot *slot;
        int rc;

        if (stop_on_cancel(rs, cancel))
            return 0;
        slot = prefetch_take(pf);
        rs->batch = slot->batch;
        if (slot->rc < 0)
            return source_failed(rs, slot->rc, &slot->err, err);
        if (rs->batch.count == 0 && rs->batch.bad_count == 0)
            return 0;

        rc = process_batch(rs, err);
        publish_live(rs);
        if (rc == 0 && rs->store != NULL)
            rc = prefetch_keep_position(rs, slot->position, err);
        rs->since_save += rs->batch.count + rs->batch.bad_count;
        prefetch_release(pf, slot);
        if (rc != 0)
            return rc;
        if (rs->store != NULL && rs->since_save >= bp->checkpoint_every) {
            rc = checkpoint_save(rs, err);
            if (rc != 0)
                return rc;
        }
    }
}

/*
 * Runs stream_prefetch with a reader thread, which is stopped and joined
 * before returning. Fails the run with AGORA_ENOMEM when the other batches,
 * the lock or the thread cannot be created.
 */
static int stream_with_prefetch(run_state *rs, uint64_t max_records,
                                const _Atomic bool *cancel, agora_error *err)
{
    size_t batch_size = rs->bp->delivery.batch_size;
    prefetcher pf;
    pthread_attr_t attr;
    int rc;

    memset(&pf, 0, sizeof(pf));
    pf.rs = rs;
    pf.max_records = max_records;
    pf.cancel = cancel;
    /* Slot 0 takes over rs->batch's arena and arrays; the others get their
     * own. */
    pf.slots[0].batch = rs->batch;
    pf.slots[0].batch.prefetching = true;
    core_arena_set_keep(rs->batch.arena, PREFETCH_KEEP_BYTES);
    for (int i = 1; i < PREFETCH_SLOTS; i++) {
        agora_batch *batch = &pf.slots[i].batch;

        *batch = rs->batch;
        batch->prefetching = true;
        batch->bad = NULL;
        batch->bad_cap = 0;
        batch->arena = agora_arena_new(0);
        if (batch->arena != NULL)
            core_arena_set_keep(batch->arena, PREFETCH_KEEP_BYTES);
        batch->records = calloc(batch_size, sizeof(agora_value *));
        batch->texts = rs->batch.texts != NULL
                           ? calloc(batch_size, sizeof(agora_string))
                           : NULL;
        if (batch->arena == NULL || batch->records == NULL ||
            (rs->batch.texts != NULL && batch->texts == NULL)) {
            rc = agora_error_set(err, AGORA_ENOMEM,
                                 "out of memory starting run");
            goto cleanup;
        }
    }
    rs->position_arena = agora_arena_new(4096);
    if (rs->position_arena == NULL) {
        rc = agora_error_set(err, AGORA_ENOMEM, "out of memory starting run");
        goto cleanup;
    }
    rs->prefetch = true;
    if (rs->store != NULL && rs->bp->source->checkpoint != NULL) {
        /* The resume position until a first batch is handled. */
        agora_value *start = rs->bp->source->checkpoint(
            rs->bp->source->state, rs->position_arena);
        rs->position = start;
    }

    if (pthread_mutex_init(&pf.lock, NULL) != 0) {
        rc = agora_error_set(err, AGORA_ENOMEM, "cannot create a lock");
        goto cleanup;
    }
    if (pthread_cond_init(&pf.reader_wake, NULL) != 0) {
        rc = agora_error_set(err, AGORA_ENOMEM, "cannot create a lock");
        goto destroy_lock;
    }
    if (pthread_cond_init(&pf.loop_wake, NULL) != 0) {
        rc = agora_error_set(err, AGORA_ENOMEM, "cannot create a lock");
        goto destroy_reader_wake;
    }
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, PREFETCH_STACK_BYTES);
    rc = pthread_create(&pf.thread, &attr, prefetch_main, &pf);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        rc = agora_error_set(err, AGORA_ENOMEM,
                             "cannot start the reader thread: %s",
                             strerror(rc));
        goto destroy_loop_wake;
    }

    rc = stream_prefetch(rs, &pf, cancel, err);

    pthread_mutex_lock(&pf.lock);
    pf.stop = true;
    pthread_cond_signal(&pf.reader_wake);
    pthread_mutex_unlock(&pf.lock);
    pthread_join(pf.thread, NULL);

destroy_loop_wake:
    pthread_cond_destroy(&pf.loop_wake);
destroy_reader_wake:
    pthread_cond_destroy(&pf.reader_wake);
destroy_lock:
    pthread_mutex_destroy(&pf.lock);
cleanup:
    /* Slot 0 owns rs->batch's arrays (bad may have been reallocated). */
    rs->batch = pf.slots[0].batch;
    rs->batch.prefetching = false;
    core_arena_set_keep(rs->batch.arena, CORE_ARENA_KEEP_BYTES);
    for (int i = 1; i < PREFETCH_SLOTS; i++) {
        agora_arena_free(pf.slots[i].batch.arena);
        free(pf.slots[i].batch.records);
        free(pf.slots[i].batch.texts);
        free(pf.slots[i].batch.bad);
    }
    return rc;
}

/* Streams the open source through the pipeline until it ends. */
static int stream(run_state *rs, uint64_t max_records,
                  const _Atomic bool *cancel, agora_error *err)
{
    agora_bound_pipeline *bp = rs->bp;
    size_t batch_size = bp->delivery.batch_size;

    for (;;) {
        if (stop_on_cancel(rs, cancel))
            return 0;

        size_t want = batch_size;
        if (max_records > 0) {
            uint64_t left = max_records - rs->summary->records_consumed;
            if (left == 0)
                return 0;
            if (left < want)
                want = (size_t)left;
        }
        /* A batch never crosses a save point, so at most `every` records
         * reach the sinks between two saves. */
        if (rs->store != NULL && rs->since_save < bp->checkpoint_every &&
            bp->checkpoint_every - rs->since_save < want)
            want = (size_t)(bp->checkpoint_every - rs->since_save);
        agora_arena_reset(rs->batch.arena);
        rs->batch.count = 0;
        rs->batch.cap = want;
        rs->batch.bad_count = 0;

        int n = bp->source->next_batch(bp->source->state, &rs->batch, err);
        if (n < 0) {
            agora_error source_err = *err;
            return source_failed(rs, n, &source_err, err);
        }
        if (rs->batch.count == 0 && rs->batch.bad_count == 0)
            return 0;

        int rc = process_batch(rs, err);
        publish_live(rs);
        if (rc != 0)
            return rc;

        rs->since_save += rs->batch.count + rs->batch.bad_count;
        if (rs->store != NULL && rs->since_save >= bp->checkpoint_every) {
            rc = checkpoint_save(rs, err);
            if (rc != 0)
                return rc;
        }
    }
}

/* Closes whatever start() opened, in the documented stop order. */
static void stop_components(run_state *rs, size_t mw_started,
                            size_t sinks_opened, bool source_opened)
{
    agora_bound_pipeline *bp = rs->bp;
    agora_error cleanup_err;

    if (source_opened && bp->source->close != NULL)
        bp->source->close(bp->source->state);
    for (size_t i = mw_started; i > 0; i--) {
        agora_middleware *mw = bp->middlewares[i - 1];
        if (mw->on_stop != NULL)
            mw->on_stop(mw->state);
    }
    if (rs->dlq_open_txn) {
        agora_error_clear(&cleanup_err);
        if (agora_dlq_commit(bp->delivery.dlq, &cleanup_err) != 0)
            AGORA_ERROR("pipeline", "cleanup_failed", bp->delivery.pipeline_id,
                        rs->summary->run_id, "dlq commit: %s",
                        cleanup_err.message);
        rs->dlq_open_txn = false;
    }
    for (size_t i = 0; i < sinks_opened; i++) {
        agora_sink *sink = bp->sinks[i];
        if (sink->flush != NULL) {
            agora_error_clear(&cleanup_err);
            if (sink->flush(sink->state, &cleanup_err) != 0)
                AGORA_ERROR("pipeline", "cleanup_failed",
                            bp->delivery.pipeline_id, rs->summary->run_id,
                            "sink '%s' flush: %s", sink->name,
                            cleanup_err.message);
        }
        if (sink->close != NULL)
            sink->close(sink->state);
    }
}

int agora_bound_pipeline_run(agora_bound_pipeline *bp, uint64_t max_records,
                             const _Atomic bool *cancel,
                             agora_live_counters *live,
                             agora_run_summary *summary, agora_error *err)
{
    run_state rs;
    agora_error local_err;
    size_t mw_started = 0, sinks_opened = 0;
    bool source_opened = false;
    char *final_doc = NULL;
    bool oom = false;
    int rc = 0;
    double t0 = monotonic_seconds();

    char run_id[AGORA_RUN_ID_LEN + 1];
    bool run_id_given = is_run_id(summary->run_id);

    if (run_id_given)
        memcpy(run_id, summary->run_id, sizeof(run_id));
    if (err == NULL)
        err = &local_err;
    memset(&rs, 0, sizeof(rs));
    memset(summary, 0, sizeof(*summary));
    agora_error_clear(err);
    if (bp == NULL)
        return agora_error_set(err, AGORA_EINVAL, "no pipeline to run");

    rs.bp = bp;
    rs.summary = summary;
    rs.live = live;
    snprintf(summary->pipeline_id, sizeof(summary->pipeline_id), "%s",
             bp->delivery.pipeline_id);
    if (run_id_given)
        memcpy(summary->run_id, run_id, sizeof(run_id));
    else
        agora_run_id_new(summary->run_id);
    summary->started_at = wall_seconds();
    if (live != NULL)
        publish_live(&rs);

    summary->middleware_count = bp->middleware_count;
    summary->middlewares = calloc(bp->middleware_count + 1,
                                  sizeof(agora_middleware_stats));
    if (summary->middlewares == NULL ||
        alloc_run_state(&rs, bp->delivery.batch_size) != 0) {
        rc = agora_error_set(err, AGORA_ENOMEM, "out of memory starting run");
        goto cleanup;
    }
    for (size_t i = 0; i < bp->middleware_count; i++)
        snprintf(summary->middlewares[i].name, AGORA_NAME_MAX, "%s",
                 bp->middlewares[i]->name ? bp->middlewares[i]->name : "middleware");

    /* Start order: checkpoint, middlewares, sinks, then the source. */
    if (bp->checkpoint_path != NULL) {
        rc = checkpoint_start(&rs, err);
        if (rc < 0)
            goto cleanup;
    }
    for (; mw_started < bp->middleware_count; mw_started++) {
        agora_middleware *mw = bp->middlewares[mw_started];
        if (mw->on_start == NULL)
            continue;
        rc = mw->on_start(mw->state, err);
        if (rc < 0) {
            agora_error_prefix(err, "middleware '%s' failed to start", mw->name);
            goto cleanup;
        }
    }
    for (; sinks_opened < bp->sink_count; sinks_opened++) {
        agora_sink *sink = bp->sinks[sinks_opened];
        if (sink->set_resume != NULL)
            sink->set_resume(sink->state, rs.resuming);
        if (sink->open == NULL)
            continue;
        rc = sink->open(sink->state, err);
        if (rc < 0) {
            agora_error_prefix(err, "sink '%s' failed to open", sink->name);
            goto cleanup;
        }
    }
    if (bp->source->open != NULL) {
        rc = bp->source->open(bp->source->state, err);
        if (rc < 0) {
            agora_error_prefix(err, "source '%s' failed to open", bp->source->name);
            goto cleanup;
        }
    }
    source_opened = true;

    if (bp->source->prefetch_safe)
        rc = stream_with_prefetch(&rs, max_records, cancel, err);
    else
        rc = stream(&rs, max_records, cancel, err);
    if (rc == 0 && rs.store != NULL) {
        /* Taken while the source is still open; saved after the stop. */
        final_doc = checkpoint_document(&rs, &oom);
        if (oom)
            rc = agora_error_set(err, AGORA_ENOMEM, "out of memory");
    }

cleanup:
    stop_components(&rs, mw_started, sinks_opened, source_opened);
    if (rs.store != NULL) {
        int ckpt_rc = checkpoint_finish(&rs, rc, final_doc, err);
        if (ckpt_rc < 0)
            rc = ckpt_rc;
        final_doc = NULL;
        agora_checkpoint_store_free(rs.store);
        rs.store = NULL;
    }
    free(final_doc);
    agora_arena_free(rs.position_arena);
    free_run_state(&rs);
    summary->elapsed_seconds = monotonic_seconds() - t0;
    if (rs.errors_logged > 100)
        AGORA_WARN("pipeline", "record_failed", bp->delivery.pipeline_id,
                   summary->run_id,
                   "%llu records failed in this run without a dlq",
                   (unsigned long long)rs.errors_logged);
    if (rc > 0)
        rc = AGORA_EINVAL;
    if (rc < 0 && err->code == 0)
        err->code = rc;
    return rc;
}
