/*
 * The `counter` source and the `enrich` middleware of the C worker example.
 *
 * Memory rules shown here: records are built in the batch arena handed to
 * next_batch (or the arena handed to process), never with malloc, and the
 * middleware never changes its input record. It clones the record and adds
 * fields to the clone, so the original stays intact for the DLQ.
 */
#include "components.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- counter source ----------------------------------------------------- */

typedef struct counter_state {
    int64_t count;
    int64_t next_id; /* id of the next record to emit */
} counter_state;

static int counter_open(void *state, agora_error *err)
{
    (void)state;
    (void)err;
    return 0; /* nothing to open; prepare_resume may have set next_id */
}

static int counter_next_batch(void *state, agora_batch *batch, agora_error *err)
{
    counter_state *s = state;
    int added = 0;

    while (s->next_id <= s->count && batch->count < batch->cap) {
        char name[32];
        int len = snprintf(name, sizeof(name), "item-%lld", (long long)s->next_id);
        agora_value *record = agora_value_object(batch->arena, 3);
        agora_value *id = agora_value_int(batch->arena, s->next_id);
        agora_value *text = agora_value_string(batch->arena, name, (size_t)len);
        agora_value *cents = agora_value_int(batch->arena, s->next_id * 150);

        if (record == NULL || id == NULL || text == NULL || cents == NULL ||
            agora_object_push(batch->arena, record, "id", 2, id) != 0 ||
            agora_object_push(batch->arena, record, "name", 4, text) != 0 ||
            agora_object_push(batch->arena, record, "price_cents", 11, cents) != 0)
            return agora_error_set(err, AGORA_ENOMEM, "counter: out of memory");
        if (agora_batch_push(batch, record) != 0)
            break;
        s->next_id++;
        added++;
    }
    return added;
}

static int counter_prepare_resume(void *state, const agora_value *checkpoint,
                                  agora_error *err)
{
    counter_state *s = state;
    const agora_value *next =
        checkpoint != NULL ? agora_object_getz(checkpoint, "next_id") : NULL;

    if (next == NULL || next->type != AGORA_INT || next->u.integer < 1)
        return agora_error_set(err, AGORA_EINVAL,
                               "counter: checkpoint has no positive integer "
                               "'next_id'; delete the checkpoint to start over");
    s->next_id = next->u.integer;
    return 0;
}

static agora_value *counter_checkpoint(void *state, agora_arena *arena)
{
    counter_state *s = state;
    agora_value *cp = agora_value_object(arena, 1);
    agora_value *next = agora_value_int(arena, s->next_id);

    if (cp == NULL || next == NULL ||
        agora_object_push(arena, cp, "next_id", 7, next) != 0)
        return NULL;
    return cp;
}

static void counter_close(void *state)
{
    (void)state;
}

static void counter_destroy(agora_source *self)
{
    free(self->state);
    free(self);
}

agora_source *example_counter_new(int64_t count, agora_error *err)
{
    if (count < 0) {
        agora_error_set_key(err, AGORA_EINVAL, "count",
                            "count must be 0 or more, got %lld",
                            (long long)count);
        return NULL;
    }
    agora_source *source = calloc(1, sizeof(*source));
    counter_state *s = calloc(1, sizeof(*s));
    if (source == NULL || s == NULL) {
        free(source);
        free(s);
        agora_error_set(err, AGORA_ENOMEM, "counter: out of memory");
        return NULL;
    }
    s->count = count;
    s->next_id = 1;
    source->name = "counter";
    source->state = s;
    source->open = counter_open;
    source->next_batch = counter_next_batch;
    source->prepare_resume = counter_prepare_resume;
    source->checkpoint = counter_checkpoint;
    source->close = counter_close;
    source->destroy = counter_destroy;
    return source;
}

/* ---- enrich middleware -------------------------------------------------- */

typedef struct enrich_state {
    char name[AGORA_NAME_MAX];
    int64_t threshold_cents;
} enrich_state;

static agora_verdict enrich_process(void *state, agora_value **record,
                                    agora_arena *arena, agora_error *err)
{
    enrich_state *s = state;
    const agora_value *in = *record;
    const agora_value *cents =
        in->type == AGORA_OBJECT ? agora_object_getz(in, "price_cents") : NULL;

    if (cents == NULL || cents->type != AGORA_INT) {
        agora_error_set(err, AGORA_EINVAL,
                        "%s: record has no integer 'price_cents'", s->name);
        return AGORA_FAIL;
    }

    /* A shallow copy with room for two more members; *record is left as is. */
    agora_value *out = agora_object_clone(arena, in, 2);
    agora_value *price = agora_value_double(arena, (double)cents->u.integer / 100.0);
    const char *tier = cents->u.integer >= s->threshold_cents ? "premium" : "standard";
    agora_value *tier_value = agora_value_string_ref(arena, tier, strlen(tier));

    if (out == NULL || price == NULL || tier_value == NULL ||
        agora_object_push(arena, out, "price", 5, price) != 0 ||
        agora_object_push(arena, out, "tier", 4, tier_value) != 0) {
        agora_error_set(err, AGORA_ENOMEM, "%s: out of memory", s->name);
        return AGORA_FAIL;
    }
    *record = out;
    return AGORA_KEEP;
}

static void enrich_destroy(agora_middleware *self)
{
    free(self->state);
    free(self);
}

agora_middleware *example_enrich_new(const char *name, int64_t threshold_cents,
                                     agora_error *err)
{
    agora_middleware *mw = calloc(1, sizeof(*mw));
    enrich_state *s = calloc(1, sizeof(*s));

    if (mw == NULL || s == NULL) {
        free(mw);
        free(s);
        agora_error_set(err, AGORA_ENOMEM, "enrich: out of memory");
        return NULL;
    }
    snprintf(s->name, sizeof(s->name), "%s", name != NULL ? name : "enrich");
    s->threshold_cents = threshold_cents;
    mw->name = s->name; /* the name lives in the state, so it lives as long */
    mw->state = s;
    mw->process = enrich_process;
    mw->destroy = enrich_destroy;
    return mw;
}

/* ---- Component types for `import` --------------------------------------- */

/* The loader has checked option names and types against the tables below,
 * so the factories only apply defaults and check values. It clears err
 * before each call, so err->code tells whether an accessor failed. */

static agora_source *counter_create(const agora_value *options,
                                    const agora_component_context *ctx,
                                    agora_error *err)
{
    (void)ctx;
    int64_t count = agora_opt_int(options, "count", 10, err);
    if (err->code != 0)
        return NULL;
    return example_counter_new(count, err);
}

static agora_middleware *enrich_create(const agora_value *options,
                                       const agora_component_context *ctx,
                                       agora_error *err)
{
    int64_t threshold = agora_opt_int(options, "threshold_cents", 1000, err);
    if (err->code != 0)
        return NULL;
    return example_enrich_new(ctx->instance_name, threshold, err);
}

static const agora_option_spec counter_options[] = {
    {"count", AGORA_OPT_INT, false, "10", "number of records to generate"},
    {NULL, 0, false, NULL, NULL}};

static const agora_option_spec enrich_options[] = {
    {"threshold_cents", AGORA_OPT_INT, false, "1000",
     "price in cents from which a record is \"premium\""},
    {NULL, 0, false, NULL, NULL}};

const agora_component_type example_counter_source = {
    .kind = AGORA_COMPONENT_SOURCE,
    .type = "counter",
    .summary = "generate numbered item records",
    .options = counter_options,
    .create_source = counter_create,
};

const agora_component_type example_enrich_middleware = {
    .kind = AGORA_COMPONENT_MIDDLEWARE,
    .type = "enrich",
    .summary = "add price and tier to item records",
    .options = enrich_options,
    .create_middleware = enrich_create,
};
