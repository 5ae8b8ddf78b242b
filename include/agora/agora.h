/*
 * libagora: every public header at once.
 *
 * Pipelines (pipeline.h) move records (value.h) from a source through
 * middlewares to sinks, a worker pool runs them on schedules (runner.h) with
 * a health server (health.h), a dead-letter queue (dlq.h) and a checkpoint
 * store for resuming after a crash (checkpoint.h); config.h loads
 * pipelines.toml and holds the component registry. Build against it with
 *   cc $(pkg-config --cflags agora) ... $(pkg-config --libs agora)
 */
#ifndef AGORA_AGORA_H
#define AGORA_AGORA_H

#include "agora/error.h"
#include "agora/log.h"
#include "agora/value.h"
#include "agora/pipeline.h"
#include "agora/dlq.h"
#include "agora/checkpoint.h"
#include "agora/health.h"
#include "agora/runner.h"
#include "agora/config.h"

#endif
