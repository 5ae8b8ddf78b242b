/*
 * dlopen helpers for modules and imported component types.
 *
 * Objects are opened with RTLD_NOW so a missing dependency or symbol is
 * reported at load time, and RTLD_LOCAL so two modules cannot bind to each
 * other's symbols. Their own references to agora_* functions resolve to the
 * agora executable, which exports its statically linked copy of libagora.
 */
#include "config/module.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct config_module {
    void *handle;
    char *path;
};

static bool has_so_suffix(const char *path)
{
    size_t len = strlen(path);

    return len >= 3 && strcmp(path + len - 3, ".so") == 0;
}

/*
 * Fills err for a path that stat rejected with error_number. A path without
 * ".so" gets a hint, because paths are used as given and "pipelines/worker"
 * is easily written for "pipelines/worker.so".
 */
static void report_missing(const char *path, int error_number, agora_error *err)
{
    char *with_suffix = NULL;
    struct stat st;

    if (has_so_suffix(path) || asprintf(&with_suffix, "%s.so", path) < 0) {
        agora_error_set(err, AGORA_ENOTFOUND,
                        "shared object '%s' not found (%s); check the path",
                        path, strerror(error_number));
        return;
    }
    if (stat(with_suffix, &st) == 0)
        agora_error_set(err, AGORA_ENOTFOUND,
                        "shared object '%s' not found (%s); a path is used as "
                        "given, without adding .so: did you mean '%s'?",
                        path, strerror(error_number), with_suffix);
    else
        agora_error_set(err, AGORA_ENOTFOUND,
                        "shared object '%s' not found (%s); check the path, "
                        "which is used as given (no .so suffix is added)",
                        path, strerror(error_number));
    free(with_suffix);
}

config_module *config_module_open(const char *path, agora_error *err)
{
    config_module *module = NULL;
    struct stat st;

    if (path == NULL || path[0] == '\0') {
        agora_error_set(err, AGORA_EINVAL, "empty shared object path");
        return NULL;
    }
    if (stat(path, &st) != 0) {
        report_missing(path, errno, err);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        agora_error_set(err, AGORA_ENOTFOUND,
                        "'%s' is not a regular file; give the path of a .so "
                        "file",
                        path);
        return NULL;
    }

    module = calloc(1, sizeof(*module));
    if (module == NULL || (module->path = strdup(path)) == NULL) {
        agora_error_set(err, AGORA_ENOMEM, "out of memory");
        goto fail;
    }
    module->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (module->handle == NULL) {
        const char *reason = dlerror();
        agora_error_set(err, AGORA_EIO, "cannot load shared object '%s': %s",
                        path, reason != NULL ? reason : "unknown dlopen error");
        goto fail;
    }
    return module;

fail:
    config_module_close(module);
    return NULL;
}

void config_module_close(config_module *module)
{
    if (module == NULL)
        return;
    if (module->handle != NULL)
        dlclose(module->handle);
    free(module->path);
    free(module);
}

const char *config_module_path(const config_module *module)
{
    return module->path;
}

void *config_module_symbol(config_module *module, const char *symbol,
                           agora_error *err)
{
    dlerror(); /* clears an earlier error so a NULL below is unambiguous */
    void *address = dlsym(module->handle, symbol);
    if (address != NULL)
        return address;

    const char *reason = dlerror();
    if (reason != NULL)
        agora_error_set(err, AGORA_ENOTFOUND,
                        "shared object '%s' has no symbol '%s'; check the "
                        "name and that it is not declared static",
                        module->path, symbol);
    else
        agora_error_set(err, AGORA_ENOTFOUND,
                        "symbol '%s' in shared object '%s' is NULL", symbol,
                        module->path);
    return NULL;
}

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-';
}

char *config_module_resolve_name(const char *name, agora_error *err)
{
    size_t len = name != NULL ? strlen(name) : 0;
    char *path = NULL;

    if (len == 0) {
        agora_error_set(err, AGORA_EINVAL,
                        "empty module name; give a name such as "
                        "pipelines.worker or a path such as ./worker.so");
        return NULL;
    }
    if (strchr(name, '/') != NULL ||
        (len > 3 && strcmp(name + len - 3, ".so") == 0)) {
        if (strchr(name, '/') != NULL)
            path = strdup(name);
        else if (asprintf(&path, "./%s", name) < 0)
            path = NULL;
        if (path == NULL)
            agora_error_set(err, AGORA_ENOMEM, "out of memory");
        return path;
    }

    /* A dotted name: parts separated by '.', none empty. */
    bool part_empty = true;
    for (size_t i = 0; i < len; i++) {
        if (name[i] == '.') {
            if (part_empty)
                break;
            part_empty = true;
        } else if (is_name_char(name[i])) {
            part_empty = false;
        } else {
            agora_error_set(err, AGORA_EINVAL,
                            "invalid module name '%s': '%c' is not allowed; "
                            "use letters, digits, '_' and '-' between dots, "
                            "or give a path ending in .so",
                            name, name[i]);
            return NULL;
        }
    }
    if (part_empty) {
        agora_error_set(err, AGORA_EINVAL,
                        "invalid module name '%s': a part between dots is "
                        "empty; write it like pipelines.worker",
                        name);
        return NULL;
    }

    path = malloc(len + sizeof("./.so"));
    if (path == NULL) {
        agora_error_set(err, AGORA_ENOMEM, "out of memory");
        return NULL;
    }
    memcpy(path, "./", 2);
    for (size_t i = 0; i < len; i++)
        path[2 + i] = name[i] == '.' ? '/' : name[i];
    memcpy(path + 2 + len, ".so", sizeof(".so"));
    return path;
}
