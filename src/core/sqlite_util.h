/*
 * Helpers shared by the SQLite users (DLQ, sqlite sink, checkpoint store).
 */
#ifndef AGORA_CORE_SQLITE_UTIL_H
#define AGORA_CORE_SQLITE_UTIL_H

#include <sqlite3.h>

/*
 * Switches db to WAL journal mode. Switching needs an exclusive lock, and
 * SQLite returns SQLITE_BUSY at once (without calling the busy handler) when
 * another connection is creating the same file, so this retries every 10 ms
 * for up to timeout_ms. Returns the last SQLite result code.
 */
int core_sqlite_enable_wal(sqlite3 *db, int timeout_ms);

#endif
