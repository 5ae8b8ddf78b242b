/*
 * Two example components written against libagora: the `counter` source,
 * which generates numbered item records, and the `enrich` middleware, which
 * adds a price in currency units and a tier to each of them.
 *
 * They are available both as constructors (for a worker written in C) and
 * as agora_component_type values (for `import` in pipelines.toml).
 */
#ifndef EXAMPLE_COMPONENTS_H
#define EXAMPLE_COMPONENTS_H

#include <stdint.h>

#include <agora/agora.h>

/*
 * Creates a source that emits `count` records
 *   {"id": i, "name": "item-<i>", "price_cents": i * 150}
 * for i = 1..count, and supports checkpoints ({"next_id": n}). Returns a
 * heap source (freed by the pipeline that owns it, or by agora_source_free),
 * or NULL with err filled when count is negative or memory runs out.
 */
agora_source *example_counter_new(int64_t count, agora_error *err);

/*
 * Creates a middleware named `name` (copied) that adds
 *   "price": price_cents / 100 (a double) and
 *   "tier":  "premium" when price_cents >= threshold_cents, else "standard".
 * A record without an integer price_cents fails and goes to the DLQ.
 * Returns a heap middleware or NULL with err filled.
 */
agora_middleware *example_enrich_new(const char *name, int64_t threshold_cents,
                                     agora_error *err);

/* The same two components as types for { import = "components.so:..." }. */
extern const agora_component_type example_counter_source;
extern const agora_component_type example_enrich_middleware;

#endif
