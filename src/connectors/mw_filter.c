/*
 * The `filter` middleware: keeps the records for which an expression is
 * true and drops the others. The expression is compiled once when the
 * middleware is created; docs/filter.md describes the language.
 */
#include <stdlib.h>

#include "connectors/connectors.h"
#include "connectors/expr.h"
#include "connectors/mw_util.h"

static agora_verdict filter_process(void *state, agora_value **record,
                                    agora_arena *arena, agora_error *err)
{
    int rc = expr_eval(state, *record, err);

    if (rc < 0)
        return AGORA_FAIL;
    return rc ? AGORA_KEEP : AGORA_DROP;
}

static void filter_destroy(agora_middleware *mw)
{
    if (mw == NULL)
        return;
    expr_free(mw->state);
    mw_free(mw);
}

static agora_middleware *filter_create(const agora_value *options,
                                       const agora_component_context *ctx,
                                       agora_error *err)
{
    const char *text;
    agora_middleware *mw;
    expr *compiled;

    agora_error_clear(err);
    text = agora_opt_string(options, "expression", NULL, err);
    if (err != NULL && err->code != 0)
        return NULL;
    if (text == NULL) {
        agora_error_set_key(err, AGORA_ECONFIG, "expression",
                            "filter needs an 'expression' option, for "
                            "example expression = \"Year >= 2000\"");
        return NULL;
    }

    compiled = expr_compile(text, err);
    if (compiled == NULL)
        return NULL;
    mw = mw_alloc(ctx, "filter");
    if (mw == NULL) {
        expr_free(compiled);
        agora_error_set(err, AGORA_ENOMEM, "filter: out of memory");
        return NULL;
    }
    mw->state = compiled;
    mw->process = filter_process;
    mw->destroy = filter_destroy;
    return mw;
}

static const agora_option_spec filter_options[] = {
    {"expression", AGORA_OPT_STRING, true, NULL,
     "condition a record must meet to be kept, e.g. "
     "\"`IMDB Rating` >= 7 and Year is not null\"; see docs/filter.md"},
    {NULL, 0, false, NULL, NULL},
};

const agora_component_type agora_mw_filter_type = {
    .kind = AGORA_COMPONENT_MIDDLEWARE,
    .type = "filter",
    .summary = "keep records for which an expression is true, drop the rest",
    .options = filter_options,
    .create_middleware = filter_create,
};
