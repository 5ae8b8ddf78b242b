/*
 * Tests of the shared SQLite helpers: several connections switching one new
 * database file to WAL mode at the same time all succeed, as happens when
 * the pipelines of one worker share a DLQ file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agora/dlq.h"

#define OPENERS 8
#define ROUNDS 40

typedef struct opener {
    const char *path;
    pthread_barrier_t *start;
    int rc;
    char message[AGORA_ERROR_MESSAGE_MAX];
} opener;

static void *open_dlq(void *arg)
{
    opener *o = arg;
    agora_error err;

    memset(&err, 0, sizeof(err));
    pthread_barrier_wait(o->start);
    agora_dlq *dlq = agora_dlq_open(o->path, &err);
    o->rc = dlq != NULL ? 0 : err.code;
    snprintf(o->message, sizeof(o->message), "%s", err.message);
    agora_dlq_free(dlq);
    return NULL;
}

static void sqlite_concurrent_dlq_open(void **state)
{
    char dir[] = "/tmp/agora-test-sqlite.XXXXXX";
    char path[128];
    pthread_t threads[OPENERS];
    opener openers[OPENERS];
    pthread_barrier_t start;

    assert_non_null(mkdtemp(dir));
    for (int round = 0; round < ROUNDS; round++) {
        snprintf(path, sizeof(path), "%s/dlq-%d.db", dir, round);
        pthread_barrier_init(&start, NULL, OPENERS);
        for (int i = 0; i < OPENERS; i++) {
            openers[i] = (opener){.path = path, .start = &start};
            assert_int_equal(pthread_create(&threads[i], NULL, open_dlq, &openers[i]), 0);
        }
        for (int i = 0; i < OPENERS; i++) {
            pthread_join(threads[i], NULL);
            if (openers[i].rc != 0)
                fail_msg("round %d, opener %d: %s", round, i, openers[i].message);
        }
        pthread_barrier_destroy(&start);
    }

    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sqlite_concurrent_dlq_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
