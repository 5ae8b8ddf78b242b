/*
 * Error codes and the error struct that every fallible libagora call fills.
 *
 * Functions return 0 on success or a negative AGORA_E* code. When the caller
 * passes a non-NULL agora_error, the function also stores a readable message
 * there: what failed, on which value, and what to do about it.
 */
#ifndef AGORA_ERROR_H
#define AGORA_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One table drives the codes, their names and their default messages. */
#define AGORA_ERRNO_MAP(X)                                                     \
    X(INVAL, -1, "invalid argument")                                           \
    X(NOMEM, -2, "out of memory")                                              \
    X(IO, -3, "input/output error")                                            \
    X(PARSE, -4, "malformed input")                                            \
    X(NOTFOUND, -5, "not found")                                               \
    X(CONFIG, -6, "invalid configuration")                                     \
    X(CANCELED, -7, "operation canceled")                                      \
    X(DLQ, -8, "dead-letter queue write failed")                               \
    X(SINK, -9, "sink write failed")                                           \
    X(SOURCE, -10, "source read failed")                                       \
    X(MIDDLEWARE, -11, "middleware failed")                                    \
    X(DB, -12, "database error")                                               \
    X(HTTP, -13, "HTTP server error")                                          \
    X(LIMIT, -14, "limit exceeded")                                            \
    X(STATE, -15, "operation not allowed in the current state")

typedef enum agora_errno {
    AGORA_OK = 0,
#define AGORA_ERRNO_ENUM(name, code, msg) AGORA_E##name = (code),
    AGORA_ERRNO_MAP(AGORA_ERRNO_ENUM)
#undef AGORA_ERRNO_ENUM
} agora_errno;

#define AGORA_ERROR_MESSAGE_MAX 1024
#define AGORA_ERROR_KEY_MAX 128

/*
 * A failure report. `code` is a negative AGORA_E* value, `message` a full
 * sentence. `key` optionally names the configuration option at fault, so the
 * config loader can add that option's file position to the message.
 */
typedef struct agora_error {
    int code;
    char message[AGORA_ERROR_MESSAGE_MAX];
    char key[AGORA_ERROR_KEY_MAX];
} agora_error;

/* Returns the symbolic name of a code ("AGORA_EIO"), or "AGORA_EUNKNOWN". */
const char *agora_err_name(int code);

/* Returns the default message of a code ("input/output error"). */
const char *agora_strerror(int code);

/* Clears err (code 0, empty message and key). Accepts NULL. */
void agora_error_clear(agora_error *err);

/*
 * Stores code and a printf-style message in err and returns code, so a caller
 * can write `return agora_error_set(err, AGORA_EIO, "...", ...);`. Accepts a
 * NULL err and then only returns code.
 */
int agora_error_set(agora_error *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Like agora_error_set, and also records the option key at fault. */
int agora_error_set_key(agora_error *err, int code, const char *key,
                        const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Prepends "prefix: " to the message already in err. Accepts NULL. */
void agora_error_prefix(agora_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#ifdef __cplusplus
}
#endif

#endif
