/*
 * Shared objects loaded at run time: `agora worker --module NAME` and
 * `{ import = "path/lib.so:symbol" }` in pipelines.toml.
 *
 * Messages filled into agora_error name the file and symbol but no config
 * position; the config loader adds file:line:column in front.
 */
#ifndef AGORA_CONFIG_MODULE_H
#define AGORA_CONFIG_MODULE_H

#include <stdbool.h>

#include "agora/error.h"

typedef struct config_module config_module;

/*
 * Opens the shared object at path with dlopen(RTLD_NOW | RTLD_LOCAL), so an
 * undefined symbol fails here and not at the first call. A relative path is
 * used as given relative to the working directory (never searched for in the
 * library path). Returns NULL with err filled: AGORA_ENOTFOUND when no
 * regular file exists at path, AGORA_EIO with the dlerror() text when the
 * dynamic loader rejects it. Free with config_module_close.
 */
config_module *config_module_open(const char *path, agora_error *err);

/*
 * Unloads the object. Code and data it defined (component types, factories,
 * callbacks) must no longer be in use. Accepts NULL.
 */
void config_module_close(config_module *module);

/* Path the module was opened with (as passed to config_module_open). */
const char *config_module_path(const config_module *module);

/*
 * Looks up symbol. Returns its address, or NULL with err filled
 * (AGORA_ENOTFOUND) when the object does not define it or defines it as NULL.
 */
void *config_module_symbol(config_module *module, const char *symbol,
                           agora_error *err);

/*
 * Turns a --module argument into a path: a name that ends in ".so" or
 * contains '/' is a path ("./" is put in front of a bare file name so the
 * dynamic loader does not search for it), and a dotted name such as
 * "pipelines.worker" becomes "./pipelines/worker.so". Returns a heap string
 * (free with free()), or NULL with err filled when a dotted name has an
 * empty part or a character other than letters, digits, '_' and '-'.
 */
char *config_module_resolve_name(const char *name, agora_error *err);

#endif
