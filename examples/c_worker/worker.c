/*
 * A worker written in C: `agora worker --module worker` loads this shared
 * object and runs the pool that get_worker() returns.
 *
 * Two pipelines share one recipe: the counter source, the enrich
 * middleware and the built-in jsonl sink.
 *   items          runs once and writes every record to out/items.jsonl;
 *   premium_hourly runs every hour, keeps premium records only and writes
 *                  them to out/premium.jsonl.
 * Paths are relative to the working directory of the agora process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <agora/agora.h>

#include "components.h"

#define ITEM_COUNT 10
#define PREMIUM_CENTS 1000

/* What a pipeline factory needs for each run. Owned by the scheduled pipeline. */
typedef struct recipe {
    char pipeline_id[AGORA_NAME_MAX];
    bool premium_only;
    agora_arena *arena;         /* holds sink_options */
    agora_value *sink_options;  /* { "path": "..." } for the jsonl sink */
} recipe;

static void recipe_free(void *ctx)
{
    recipe *r = ctx;
    if (r == NULL)
        return;
    agora_arena_free(r->arena);
    free(r);
}

static recipe *recipe_new(const char *pipeline_id, const char *out_path,
                          bool premium_only)
{
    recipe *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    snprintf(r->pipeline_id, sizeof(r->pipeline_id), "%s", pipeline_id);
    r->premium_only = premium_only;
    r->arena = agora_arena_new(0);
    if (r->arena == NULL)
        goto fail;
    r->sink_options = agora_value_object(r->arena, 1);
    agora_value *path = agora_value_string(r->arena, out_path, strlen(out_path));
    if (r->sink_options == NULL || path == NULL ||
        agora_object_push(r->arena, r->sink_options, "path", 4, path) != 0)
        goto fail;
    return r;

fail:
    recipe_free(r);
    return NULL;
}

static bool is_premium(const agora_value *record, void *ctx)
{
    (void)ctx;
    const agora_value *tier = agora_object_getz(record, "tier");
    return tier != NULL && tier->type == AGORA_STRING &&
           strcmp(tier->u.string.ptr, "premium") == 0;
}

/*
 * Builds a fresh pipeline for one run. The builder owns each component once
 * it accepted it; a component it rejected is still ours to free.
 */
static agora_bound_pipeline *build_items(void *ctx, agora_error *err)
{
    recipe *r = ctx;
    agora_pipeline *p = NULL;
    agora_middleware *mw = NULL;
    agora_sink *sink = NULL;
    agora_delivery delivery;

    agora_source *source = example_counter_new(ITEM_COUNT, err);
    if (source == NULL)
        return NULL;
    p = agora_pipeline_new(source);
    if (p == NULL) {
        agora_source_free(source);
        agora_error_set(err, AGORA_ENOMEM, "out of memory");
        return NULL;
    }

    mw = example_enrich_new("enrich", PREMIUM_CENTS, err);
    if (mw == NULL)
        goto fail;
    if (agora_pipeline_pipe(p, mw) != 0) {
        agora_middleware_free(mw);
        agora_error_set(err, AGORA_ENOMEM, "cannot add the enrich middleware");
        goto fail;
    }
    if (r->premium_only &&
        agora_pipeline_filter(p, is_premium, NULL, "premium_only") != 0) {
        agora_error_set(err, AGORA_ENOMEM, "cannot add the premium filter");
        goto fail;
    }

    /* A built-in sink, created through its registry entry like the config
     * loader does. The factory copies what it keeps from the options. */
    const agora_component_type *jsonl =
        agora_component_find(AGORA_COMPONENT_SINK, "jsonl");
    agora_component_context cctx = {
        .base_dir = ".",
        .pipeline_id = r->pipeline_id,
        .instance_name = "jsonl",
    };
    if (jsonl == NULL) {
        agora_error_set(err, AGORA_ENOTFOUND, "no built-in jsonl sink");
        goto fail;
    }
    sink = jsonl->create_sink(r->sink_options, &cctx, err);
    if (sink == NULL)
        goto fail;
    if (agora_pipeline_add_sink(p, sink) != 0) {
        agora_sink_free(sink);
        agora_error_set(err, AGORA_ENOMEM, "cannot add the jsonl sink");
        goto fail;
    }

    memset(&delivery, 0, sizeof(delivery));
    snprintf(delivery.pipeline_id, sizeof(delivery.pipeline_id), "%s",
             r->pipeline_id);
    return agora_pipeline_build(p, &delivery, err); /* consumes p */

fail:
    agora_pipeline_free(p);
    return NULL;
}

/* Creates one scheduled pipeline and hands it to pool. Returns 0 or -1. */
static int add_pipeline(agora_worker_pool *pool, const char *id,
                        const char *out_path, bool premium_only,
                        agora_schedule schedule)
{
    agora_error err;
    recipe *r = recipe_new(id, out_path, premium_only);

    if (r == NULL) {
        AGORA_ERROR("example", "setup_failed", id, NULL, "out of memory");
        return -1;
    }
    agora_scheduled_options opts = {
        .pipeline_id = id,
        .schedule = schedule,
    };
    /* On success the scheduled pipeline owns r and frees it with recipe_free. */
    agora_scheduled_pipeline *sp =
        agora_scheduled_pipeline_new(&opts, build_items, r, recipe_free, &err);
    if (sp == NULL) {
        recipe_free(r);
        AGORA_ERROR("example", "setup_failed", id, NULL, "%s", err.message);
        return -1;
    }
    if (agora_worker_pool_register(pool, sp, &err) != 0) {
        agora_scheduled_pipeline_free(sp);
        AGORA_ERROR("example", "setup_failed", id, NULL, "%s", err.message);
        return -1;
    }
    return 0;
}

/*
 * The entry point agora looks up. It returns a new pool; agora owns it from
 * then on, runs it and frees it before unloading this object. Returning NULL
 * makes `agora worker` exit with status 2.
 */
agora_worker_pool *get_worker(void)
{
    agora_schedule hourly;
    agora_error err;

    /* The pool carries the health settings: agora worker does not apply its
     * --health-* options to a module, so read what the deployment sets. */
    const char *port = getenv("EXAMPLE_HEALTH_PORT");
    const char *token = getenv("AGORA_HEALTH_AUTH_TOKEN");
    agora_worker_options wopts = {
        .health_port = port != NULL ? atoi(port) : 0,
        .health_auth_token = token != NULL && token[0] != '\0' ? token : NULL,
        .graceful_shutdown_timeout = 10.0,
        .handle_signals = true,
    };
    agora_worker_pool *pool = agora_worker_pool_new(&wopts, &err);
    if (pool == NULL) {
        AGORA_ERROR("example", "setup_failed", NULL, NULL, "%s", err.message);
        return NULL;
    }

    if (agora_schedule_every(&hourly, 3600.0, &err) != 0 ||
        add_pipeline(pool, "items", "out/items.jsonl", false,
                     agora_schedule_once()) != 0 ||
        add_pipeline(pool, "premium_hourly", "out/premium.jsonl", true,
                     hourly) != 0) {
        agora_worker_pool_free(pool);
        return NULL;
    }
    return pool;
}
