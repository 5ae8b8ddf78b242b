/*
 * Option accessors for component factories, and path helpers.
 */
#include "agora/config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const agora_value *agora_opt_value(const agora_value *opts, const char *key)
{
    if (opts == NULL || opts->type != AGORA_OBJECT)
        return NULL;
    return agora_object_getz(opts, key);
}

const char *agora_opt_string(const agora_value *opts, const char *key,
                             const char *def, agora_error *err)
{
    const agora_value *v = agora_opt_value(opts, key);

    if (v == NULL)
        return def;
    if (v->type != AGORA_STRING) {
        agora_error_set_key(err, AGORA_ECONFIG, key,
                            "option '%s' must be a string, got %s", key,
                            agora_type_name(v->type));
        return def;
    }
    return v->u.string.ptr;
}

int64_t agora_opt_int(const agora_value *opts, const char *key, int64_t def,
                      agora_error *err)
{
    const agora_value *v = agora_opt_value(opts, key);

    if (v == NULL)
        return def;
    if (v->type != AGORA_INT) {
        agora_error_set_key(err, AGORA_ECONFIG, key,
                            "option '%s' must be an integer, got %s", key,
                            agora_type_name(v->type));
        return def;
    }
    return v->u.integer;
}

double agora_opt_number(const agora_value *opts, const char *key, double def,
                        agora_error *err)
{
    const agora_value *v = agora_opt_value(opts, key);

    if (v == NULL)
        return def;
    if (v->type == AGORA_INT)
        return (double)v->u.integer;
    if (v->type == AGORA_DOUBLE)
        return v->u.number;
    agora_error_set_key(err, AGORA_ECONFIG, key,
                        "option '%s' must be a number, got %s", key,
                        agora_type_name(v->type));
    return def;
}

bool agora_opt_bool(const agora_value *opts, const char *key, bool def,
                    agora_error *err)
{
    const agora_value *v = agora_opt_value(opts, key);

    if (v == NULL)
        return def;
    if (v->type != AGORA_BOOL) {
        agora_error_set_key(err, AGORA_ECONFIG, key,
                            "option '%s' must be true or false, got %s", key,
                            agora_type_name(v->type));
        return def;
    }
    return v->u.boolean;
}

char *agora_path_resolve(const agora_component_context *ctx, const char *path)
{
    const char *base = ctx != NULL ? ctx->base_dir : NULL;

    if (path == NULL)
        return NULL;
    if (path[0] == '/' || base == NULL || base[0] == '\0' ||
        strcmp(base, ".") == 0)
        return strdup(path);

    size_t base_len = strlen(base);
    size_t path_len = strlen(path);
    char *out = malloc(base_len + 1 + path_len + 1);
    if (out == NULL)
        return NULL;
    memcpy(out, base, base_len);
    size_t pos = base_len;
    if (pos > 0 && out[pos - 1] != '/')
        out[pos++] = '/';
    memcpy(out + pos, path, path_len + 1);
    return out;
}

int agora_mkdir_parents(const char *path, agora_error *err)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);

    if (len >= sizeof(buf))
        return agora_error_set(err, AGORA_EINVAL, "path too long: '%s'", path);
    memcpy(buf, path, len + 1);

    char *slash = strrchr(buf, '/');
    if (slash == NULL || slash == buf)
        return 0;
    *slash = '\0';

    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return agora_error_set(err, AGORA_EIO,
                                   "cannot create directory '%s': %s", buf,
                                   strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return agora_error_set(err, AGORA_EIO,
                               "cannot create directory '%s': %s", buf,
                               strerror(errno));
    return 0;
}
