/*
 * Helpers shared by the SQLite users (DLQ, sqlite sink, checkpoint store).
 */
#include "core/sqlite_util.h"

#include <time.h>

int core_sqlite_enable_wal(sqlite3 *db, int timeout_ms)
{
    const struct timespec step = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};
    int waited_ms = 0;
    int rc;

    for (;;) {
        rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
        int primary = rc & 0xff;
        if ((primary != SQLITE_BUSY && primary != SQLITE_LOCKED) ||
            waited_ms >= timeout_ms)
            return rc;
        nanosleep(&step, NULL);
        waited_ms += 10;
    }
}
