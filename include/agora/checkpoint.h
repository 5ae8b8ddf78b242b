/*
 * Checkpoint store: where a pipeline's source stopped, kept in SQLite so a
 * crashed or failed run resumes there instead of at the start of its input.
 *
 * The table is shared with other keyed state:
 *
 *   state_store(key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL)
 *
 * A checkpoint is the row with key "checkpoint:<pipeline_id>" and a JSON
 * value {"pipeline_id", "run_id", "source", "value", "recorded_at"}, where
 * "source" is the source type name, "value" the source's own position (for
 * example {"line_number": 1200}) and "recorded_at" a UTC ISO 8601 time.
 *
 * A store handle is used by one thread at a time. Several processes may open
 * the same file: it runs in WAL mode with a busy timeout.
 */
#ifndef AGORA_CHECKPOINT_H
#define AGORA_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "agora/error.h"
#include "agora/pipeline.h"
#include "agora/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Records between two saves when the config sets no `every`. */
#define AGORA_CHECKPOINT_DEFAULT_EVERY 1000

typedef struct agora_checkpoint_store agora_checkpoint_store;

/*
 * Opens the store at path and creates the table when it is missing. With
 * create true a missing file is created, with its parent directories. With
 * create false a missing file fails with AGORA_ENOTFOUND, so a read-only
 * command leaves no empty database behind. Returns NULL with err naming the
 * path. Free with agora_checkpoint_store_free.
 */
agora_checkpoint_store *agora_checkpoint_store_open(const char *path,
                                                    bool create,
                                                    agora_error *err);

/* Closes the database. Accepts NULL. */
void agora_checkpoint_store_free(agora_checkpoint_store *store);

/* Path the store was opened with. */
const char *agora_checkpoint_store_path(const agora_checkpoint_store *store);

/*
 * Loads the checkpoint of pipeline_id. Returns 1 and stores its JSON text in
 * *json (heap, the caller frees it with free()), 0 when there is none (*json
 * is then NULL), or a negative code with err filled.
 */
int agora_checkpoint_load(agora_checkpoint_store *store,
                          const char *pipeline_id, char **json,
                          agora_error *err);

/*
 * Builds the JSON document of a checkpoint, {"pipeline_id", "run_id",
 * "source", "value", "recorded_at"} with recorded_at = now in UTC. Returns
 * heap text (free with free()), or NULL when value is NULL or memory runs
 * out.
 */
char *agora_checkpoint_document_new(const char *pipeline_id,
                                    const char *run_id, const char *source,
                                    const agora_value *value);

/*
 * Replaces the checkpoint of pipeline_id with document (JSON text, normally
 * from agora_checkpoint_document_new). The write is one transaction and is
 * on disk when the call returns. Returns 0, or a negative code with err
 * filled and the previous checkpoint left in place.
 */
int agora_checkpoint_save(agora_checkpoint_store *store,
                          const char *pipeline_id, const char *document,
                          agora_error *err);

/*
 * Deletes the checkpoint of pipeline_id. Returns 1 when one was deleted, 0
 * when there was none, or a negative code with err filled.
 */
int agora_checkpoint_reset(agora_checkpoint_store *store,
                           const char *pipeline_id, agora_error *err);

/*
 * Makes every run of bp load and save checkpoints in the store at path
 * (copied), saving after at least `every` records (>= 1) were handled since
 * the previous save. path NULL turns checkpoints off again. The store is
 * opened at the start of each run and closed at its end. Returns 0,
 * AGORA_EINVAL (bp NULL, every 0) or AGORA_ENOMEM.
 */
int agora_bound_pipeline_set_checkpoint(agora_bound_pipeline *bp,
                                        const char *path, uint64_t every,
                                        agora_error *err);

#ifdef __cplusplus
}
#endif

#endif
