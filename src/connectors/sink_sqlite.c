/*
 * sqlite sink: inserts object records as rows of one table.
 *
 * With the `columns` option the sink inserts exactly those columns: the list
 * is a deliberate selection, so record keys outside it are ignored, and an
 * existing table must have every listed column. Without the option every
 * record key is stored. A missing table is created from the first record,
 * and a key that is not yet a column of the table (created or found at open)
 * is added with ALTER TABLE ... ADD COLUMN inside the batch transaction. A
 * column's declared type comes from the value that caused its creation:
 *   int, bool                 INTEGER
 *   double                    REAL
 *   string, array, object     TEXT (arrays and objects as compact JSON)
 *   null or missing           no declared type, so later values keep theirs
 * SQLite compares column names without regard to ASCII letter case. So a
 * record key that differs from a column, or from another key of the record,
 * only in case is a per-record error instead of a silently merged field.
 *
 * Each batch is one transaction through one reused prepared statement. A
 * record the database rejects on its own (a constraint, a type mismatch, too
 * big) is a per-record error. Any other database error fails the batch and
 * rolls it back. Table and column names are always double-quoted, so any name
 * works, and the table is looked up in the main schema.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/sqlite_util.h"
#include "connectors/connectors.h"
#include "connectors/sink_common.h"

#define SQLITE_SINK_BUSY_TIMEOUT_MS 5000

typedef struct sqlite_sink {
    char *name;
    char *path;
    char *table;
    bool replace;
    bool resuming; /* set by set_resume: replace keeps the rows on this open */
    int busy_timeout_ms;
    sink_columns option_columns; /* from the option, empty when absent */
    sink_columns columns;        /* bound by the prepared insert, in order */
    sink_columns table_columns;  /* the table's columns (without `columns`) */
    bool table_known;            /* table_columns is loaded; empty = no table */
    sqlite3 *db;
    sqlite3_stmt *insert;        /* NULL until prepared for `columns` */
    agora_buf scratch;           /* SQL text and JSON of nested values */
} sqlite_sink;

static const char *const sqlite_modes[] = {"append", "replace", NULL};

/* Appends name as a double-quoted SQL identifier. */
static int append_identifier(agora_buf *buf, const char *name)
{
    int rc = agora_buf_append(buf, "\"", 1);

    for (const char *p = name; *p != '\0' && rc == 0; p++)
        rc = *p == '"' ? agora_buf_append(buf, "\"\"", 2)
                       : agora_buf_append(buf, p, 1);
    if (rc == 0)
        rc = agora_buf_append(buf, "\"", 1);
    return rc;
}

static int db_error(sqlite_sink *s, agora_error *err, const char *operation)
{
    return agora_error_set(err, AGORA_EDB, "sqlite sink: %s in %s (table "
                           "\"%s\") failed: %s", operation, s->path, s->table,
                           sqlite3_errmsg(s->db));
}

static int exec_sql(sqlite_sink *s, const char *sql, const char *operation,
                    agora_error *err)
{
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_error(s, err, operation);
    return 0;
}

/*
 * Reads the column names of the table into existing (empty when the table
 * does not exist).
 */
static int read_table_columns(sqlite_sink *s, sink_columns *existing,
                              agora_error *err)
{
    sqlite3_stmt *stmt = NULL;
    size_t cap = 0;
    int rc = 0;
    int step;

    sink_columns_clear(existing);
    if (sqlite3_prepare_v2(s->db,
                           "SELECT name FROM pragma_table_info(?1, 'main')", -1,
                           &stmt, NULL) != SQLITE_OK)
        return db_error(s, err, "reading the table's columns");
    sqlite3_bind_text(stmt, 1, s->table, -1, SQLITE_STATIC);

    while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(stmt, 0);

        if (existing->count == cap) {
            size_t new_cap = cap == 0 ? 16 : cap * 2;
            char **grown = realloc(existing->names, new_cap * sizeof(char *));
            if (grown == NULL) {
                rc = agora_error_set(err, AGORA_ENOMEM, "out of memory");
                goto cleanup;
            }
            existing->names = grown;
            cap = new_cap;
        }
        existing->names[existing->count] = strdup(name != NULL ? name : "");
        if (existing->names[existing->count] == NULL) {
            rc = agora_error_set(err, AGORA_ENOMEM, "out of memory");
            goto cleanup;
        }
        existing->count++;
    }
    if (step != SQLITE_DONE)
        rc = db_error(s, err, "reading the table's columns");

cleanup:
    sqlite3_finalize(stmt);
    if (rc < 0)
        sink_columns_clear(existing);
    return rc;
}

static const char *declared_type(const agora_value *value)
{
    if (value == NULL)
        return "";
    switch (value->type) {
    case AGORA_BOOL:
    case AGORA_INT:
        return " INTEGER";
    case AGORA_DOUBLE:
        return " REAL";
    case AGORA_STRING:
    case AGORA_ARRAY:
    case AGORA_OBJECT:
        return " TEXT";
    case AGORA_NULL:
        break;
    }
    return "";
}

static int create_table(sqlite_sink *s, const agora_value *record,
                        agora_error *err)
{
    agora_buf *sql = &s->scratch;
    int rc;

    sql->len = 0;
    rc = agora_buf_appendz(sql, "CREATE TABLE IF NOT EXISTS main.");
    if (rc == 0)
        rc = append_identifier(sql, s->table);
    if (rc == 0)
        rc = agora_buf_append(sql, " (", 2);
    for (size_t i = 0; i < s->columns.count && rc == 0; i++) {
        const agora_value *v = record != NULL
                                   ? agora_object_getz(record, s->columns.names[i])
                                   : NULL;
        if (i > 0)
            rc = agora_buf_append(sql, ", ", 2);
        if (rc == 0)
            rc = append_identifier(sql, s->columns.names[i]);
        if (rc == 0)
            rc = agora_buf_appendz(sql, declared_type(v));
    }
    if (rc == 0)
        rc = agora_buf_appendz(sql, ")");
    if (rc < 0)
        return agora_error_set(err, rc, "out of memory");
    return exec_sql(s, sql->data, "creating the table", err);
}

/* Checks that every column exists in the table (names compare like SQL's). */
static int check_columns_exist(sqlite_sink *s, const sink_columns *existing,
                               agora_error *err)
{
    for (size_t i = 0; i < s->columns.count; i++) {
        bool found = false;

        for (size_t j = 0; j < existing->count && !found; j++)
            found = strcasecmp(s->columns.names[i], existing->names[j]) == 0;
        if (!found)
            return agora_error_set(err, AGORA_EDB,
                                   "sqlite sink: table \"%s\" in %s has no "
                                   "column \"%s\"; add the column to the table "
                                   "or set the sink's `columns` option to "
                                   "columns the table has", s->table, s->path,
                                   s->columns.names[i]);
    }
    return 0;
}

static int prepare_insert(sqlite_sink *s, agora_error *err)
{
    agora_buf *sql = &s->scratch;
    int rc;

    sql->len = 0;
    rc = agora_buf_appendz(sql, "INSERT INTO main.");
    if (rc == 0)
        rc = append_identifier(sql, s->table);
    if (rc == 0 && s->columns.count == 0) {
        /* Only empty records so far, inserted as rows of column defaults. */
        rc = agora_buf_appendz(sql, " DEFAULT VALUES");
        goto prepare;
    }
    if (rc == 0)
        rc = agora_buf_append(sql, " (", 2);
    for (size_t i = 0; i < s->columns.count && rc == 0; i++) {
        if (i > 0)
            rc = agora_buf_append(sql, ", ", 2);
        if (rc == 0)
            rc = append_identifier(sql, s->columns.names[i]);
    }
    if (rc == 0)
        rc = agora_buf_appendz(sql, ") VALUES (");
    for (size_t i = 0; i < s->columns.count && rc == 0; i++)
        rc = agora_buf_appendz(sql, i == 0 ? "?" : ", ?");
    if (rc == 0)
        rc = agora_buf_appendz(sql, ")");

prepare:
    if (rc < 0)
        return agora_error_set(err, rc, "out of memory");

    if (sqlite3_prepare_v3(s->db, sql->data, -1, SQLITE_PREPARE_PERSISTENT,
                           &s->insert, NULL) != SQLITE_OK)
        return db_error(s, err, "preparing the insert");
    return 0;
}

static int copy_columns(sink_columns *dst, const sink_columns *src)
{
    sink_columns_clear(dst);
    dst->names = calloc(src->count, sizeof(char *));
    if (dst->names == NULL)
        return AGORA_ENOMEM;
    for (size_t i = 0; i < src->count; i++) {
        dst->names[i] = strdup(src->names[i]);
        if (dst->names[i] == NULL)
            return AGORA_ENOMEM;
        dst->count++;
    }
    return 0;
}

/*
 * Sets up the insert of the configured `columns`: creates the table when
 * missing and prepares the insert. record is the first object record (NULL
 * at open, where only an existing table can be set up).
 */
static int setup_selected_columns(sqlite_sink *s, const agora_value *record,
                                  agora_error *err)
{
    sink_columns existing = {0};
    int rc;

    rc = copy_columns(&s->columns, &s->option_columns);
    if (rc < 0) {
        rc = agora_error_set(err, rc, "out of memory");
        goto cleanup;
    }

    rc = read_table_columns(s, &existing, err);
    if (rc < 0)
        goto cleanup;
    if (existing.count == 0) {
        if (record == NULL)
            goto cleanup; /* created on the first record, which gives types */
        rc = create_table(s, record, err);
    } else {
        rc = check_columns_exist(s, &existing, err);
    }
    if (rc == 0)
        rc = prepare_insert(s, err);

cleanup:
    sink_columns_clear(&existing);
    return rc;
}

/* Returns the index of the column named like name (ASCII case ignored), or -1. */
static long find_column_nocase(const sink_columns *cols, const char *name,
                               size_t len)
{
    for (size_t i = 0; i < cols->count; i++)
        if (strlen(cols->names[i]) == len &&
            strncasecmp(cols->names[i], name, len) == 0)
            return (long)i;
    return -1;
}

static bool key_has_nul(const agora_string *key)
{
    return memchr(key->ptr, '\0', key->len) != NULL;
}

/*
 * Checks the keys of record that are not yet insert columns, without changing
 * anything. Returns a per-record error message, or NULL when all of them can
 * become columns.
 */
static const char *check_new_keys(const sqlite_sink *s,
                                  const agora_value *record, agora_arena *arena)
{
    const agora_member *members = record->u.object.members;

    for (size_t m = 0; m < record->u.object.len; m++) {
        const agora_string *key = &members[m].key;
        long same;

        if (sink_columns_contain(&s->columns, key->ptr, key->len))
            continue;
        if (key_has_nul(key))
            return sink_record_error(
                arena, "sqlite sink: the record has a key with a NUL byte, "
                "which cannot name a column of table \"%s\"; rename the field",
                s->table);
        same = find_column_nocase(&s->columns, key->ptr, key->len);
        if (same >= 0)
            return sink_record_error(
                arena, "sqlite sink: field '%.*s' and column '%s' of table "
                "\"%s\" differ only in letter case, which SQLite treats as the "
                "same column; rename the field", (int)key->len, key->ptr,
                s->columns.names[same], s->table);
        for (size_t e = 0; e < m; e++) {
            const agora_string *earlier = &members[e].key;

            if (earlier->len == key->len &&
                memcmp(earlier->ptr, key->ptr, key->len) != 0 &&
                strncasecmp(earlier->ptr, key->ptr, key->len) == 0)
                return sink_record_error(
                    arena, "sqlite sink: fields '%.*s' and '%.*s' differ only "
                    "in letter case, which SQLite treats as the same column of "
                    "table \"%s\"; rename one of them", (int)earlier->len,
                    earlier->ptr, (int)key->len, key->ptr, s->table);
        }
    }
    return NULL;
}

static int add_table_column(sqlite_sink *s, const char *name,
                            const agora_value *value, agora_error *err)
{
    agora_buf *sql = &s->scratch;
    int rc;

    sql->len = 0;
    rc = agora_buf_appendz(sql, "ALTER TABLE main.");
    if (rc == 0)
        rc = append_identifier(sql, s->table);
    if (rc == 0)
        rc = agora_buf_appendz(sql, " ADD COLUMN ");
    if (rc == 0)
        rc = append_identifier(sql, name);
    if (rc == 0)
        rc = agora_buf_appendz(sql, declared_type(value));
    if (rc < 0)
        return agora_error_set(err, rc, "out of memory");
    if (sqlite3_exec(s->db, sql->data, NULL, NULL, NULL) != SQLITE_OK)
        return agora_error_set(err, AGORA_EDB, "sqlite sink: adding column "
                               "\"%s\" to table \"%s\" in %s failed: %s",
                               name, s->table, s->path, sqlite3_errmsg(s->db));
    return 0;
}

/*
 * Makes every key of record an insert column (without the `columns` option):
 * creates the table from the first record, adds the columns the table lacks
 * and drops the prepared insert when the column list grew. Returns 0, 1 with
 * *record_error set for a record that cannot be stored, or a negative code
 * that fails the batch.
 */
static int sync_record_columns(sqlite_sink *s, const agora_value *record,
                               agora_arena *arena, const char **record_error,
                               agora_error *err)
{
    const agora_member *members = record->u.object.members;
    size_t n = record->u.object.len;
    size_t matched = 0, columns_before = s->columns.count;
    bool create = s->table_columns.count == 0;
    int rc;

    /* Nothing to do when every key is an insert column. */
    for (size_t c = 0; c < s->columns.count; c++)
        if (agora_object_getz(record, s->columns.names[c]) != NULL)
            matched++;
    if (matched == n && !(create && n == 0))
        return 0;

    if (create && n == 0) {
        *record_error = sink_record_error(
            arena, "sqlite sink: the record has no fields, so table \"%s\" "
            "cannot be created from it; send a record with fields first or "
            "set the `columns` option", s->table);
        return 1;
    }
    *record_error = check_new_keys(s, record, arena);
    if (*record_error != NULL)
        return 1;

    for (size_t m = 0; m < n; m++) {
        const agora_string *key = &members[m].key;
        bool in_table;

        if (sink_columns_contain(&s->columns, key->ptr, key->len))
            continue; /* a repeated key */
        in_table = find_column_nocase(&s->table_columns, key->ptr, key->len) >= 0;
        if (sink_columns_add(&s->columns, key->ptr, key->len) < 0)
            return agora_error_set(err, AGORA_ENOMEM, "out of memory");
        if (create || in_table)
            continue;
        rc = add_table_column(s, s->columns.names[s->columns.count - 1],
                              members[m].value, err);
        if (rc == 0 && sink_columns_add(&s->table_columns, key->ptr, key->len) < 0)
            rc = agora_error_set(err, AGORA_ENOMEM, "out of memory");
        if (rc < 0)
            return rc;
    }

    if (create) {
        rc = create_table(s, record, err);
        if (rc == 0)
            rc = copy_columns(&s->table_columns, &s->columns) < 0
                     ? agora_error_set(err, AGORA_ENOMEM, "out of memory")
                     : 0;
        if (rc < 0)
            return rc;
    }
    if (s->columns.count != columns_before) {
        sqlite3_finalize(s->insert);
        s->insert = NULL;
    }
    return 0;
}

/*
 * Drops the cached schema and insert after a rolled-back batch, which may
 * have undone a CREATE TABLE or ADD COLUMN of its own. The next batch reads
 * the table again.
 */
static void forget_schema(sqlite_sink *s)
{
    sqlite3_finalize(s->insert);
    s->insert = NULL;
    sink_columns_clear(&s->columns);
    sink_columns_clear(&s->table_columns);
    s->table_known = false;
}

static int sqlite_open(void *state, agora_error *err)
{
    sqlite_sink *s = state;
    sink_columns existing = {0};
    int rc;

    if (s->db != NULL)
        return agora_error_set(err, AGORA_ESTATE, "sqlite sink: %s is already "
                               "open; close it before opening it again",
                               s->path);
    rc = agora_mkdir_parents(s->path, err);
    if (rc < 0) {
        agora_error_prefix(err, "sqlite sink");
        return rc;
    }
    if (sqlite3_open_v2(s->path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        rc = agora_error_set(err, AGORA_EDB, "sqlite sink: cannot open %s: %s",
                             s->path,
                             s->db != NULL ? sqlite3_errmsg(s->db)
                                           : "out of memory");
        goto cleanup;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, s->busy_timeout_ms);

    /* WAL lets readers (the sqlite3 tool, a dashboard) work during a run. */
    if (core_sqlite_enable_wal(s->db, s->busy_timeout_ms) != SQLITE_OK) {
        rc = db_error(s, err, "switching to WAL mode");
        goto cleanup;
    }

    /* A resumed run continues the output of the run it resumes. */
    if (s->replace && !s->resuming) {
        rc = read_table_columns(s, &existing, err);
        if (rc < 0)
            goto cleanup;
        if (existing.count > 0) {
            agora_buf *sql = &s->scratch;

            sql->len = 0;
            rc = agora_buf_appendz(sql, "DELETE FROM main.");
            if (rc == 0)
                rc = append_identifier(sql, s->table);
            if (rc < 0) {
                rc = agora_error_set(err, rc, "out of memory");
                goto cleanup;
            }
            rc = exec_sql(s, sql->data,
                          "deleting the old rows (mode \"replace\")", err);
            if (rc < 0)
                goto cleanup;
        }
    }

    if (s->option_columns.count > 0)
        rc = setup_selected_columns(s, NULL, err);

cleanup:
    sink_columns_clear(&existing);
    if (rc < 0 && s->db != NULL) {
        sqlite3_finalize(s->insert);
        s->insert = NULL;
        sqlite3_close(s->db);
        s->db = NULL;
    }
    return rc;
}

static int bind_value(sqlite_sink *s, int index, const agora_value *value)
{
    int rc;

    if (value == NULL)
        return sqlite3_bind_null(s->insert, index);
    switch (value->type) {
    case AGORA_NULL:
        return sqlite3_bind_null(s->insert, index);
    case AGORA_BOOL:
        return sqlite3_bind_int(s->insert, index, value->u.boolean ? 1 : 0);
    case AGORA_INT:
        return sqlite3_bind_int64(s->insert, index, value->u.integer);
    case AGORA_DOUBLE:
        return sqlite3_bind_double(s->insert, index, value->u.number);
    case AGORA_STRING:
        /* The record outlives the step, so SQLite need not copy it. */
        return sqlite3_bind_text64(s->insert, index, value->u.string.ptr,
                                   value->u.string.len, SQLITE_STATIC,
                                   SQLITE_UTF8);
    case AGORA_ARRAY:
    case AGORA_OBJECT:
        s->scratch.len = 0;
        rc = agora_json_write(&s->scratch, value);
        if (rc < 0)
            return SQLITE_NOMEM;
        return sqlite3_bind_text64(s->insert, index, s->scratch.data,
                                   s->scratch.len, SQLITE_TRANSIENT, SQLITE_UTF8);
    }
    return sqlite3_bind_null(s->insert, index);
}

/* Binds the value of every insert column; *matched counts the keys found. */
static int bind_record(sqlite_sink *s, const agora_value *record,
                       size_t *matched)
{
    int step = SQLITE_OK;

    *matched = 0;
    for (size_t c = 0; c < s->columns.count && step == SQLITE_OK; c++) {
        const agora_value *value = agora_object_getz(record, s->columns.names[c]);

        if (value != NULL)
            (*matched)++;
        step = bind_value(s, (int)c + 1, value);
    }
    return step;
}

/*
 * Binds record for the insert without the `columns` option, first adding
 * the columns its keys need. *step receives the binding's SQLite code.
 * Returns 0, 1 with *record_error set, or a negative code that fails the
 * batch.
 */
static int bind_all_keys(sqlite_sink *s, const agora_value *record,
                         agora_arena *arena, const char **record_error,
                         int *step, agora_error *err)
{
    size_t matched;
    int rc;

    /* Common case: the prepared insert already covers every key. */
    if (s->insert != NULL) {
        *step = bind_record(s, record, &matched);
        if (*step != SQLITE_OK || matched == record->u.object.len)
            return 0;
    }

    rc = sync_record_columns(s, record, arena, record_error, err);
    if (rc != 0)
        return rc;
    if (s->insert == NULL) {
        rc = prepare_insert(s, err);
        if (rc < 0)
            return rc;
    }
    *step = bind_record(s, record, &matched);
    return 0;
}

/* True for errors that concern one record, not the database as a whole. */
static bool is_record_error(int code)
{
    switch (code & 0xff) {
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
        return true;
    default:
        return false;
    }
}

static int sqlite_write_batch(void *state, agora_value *const *records,
                              size_t n, agora_record_result *results,
                              agora_arena *arena, agora_error *err)
{
    sqlite_sink *s = state;
    int rc = 0;

    if (s->db == NULL)
        return agora_error_set(err, AGORA_ESTATE, "sqlite sink: %s is not "
                               "open; call open before writing", s->path);
    if (n == 0)
        return 0;

    rc = exec_sql(s, "BEGIN IMMEDIATE", "starting a transaction", err);
    if (rc < 0)
        return rc;

    /* Read inside the transaction, so no other connection changes the table
     * between this read and the inserts.
     * NOTE: later batches trust this cache. If another connection adds a
     * column the sink then adds too, the ALTER fails that batch, and the
     * rollback clears the cache for the next one. */
    if (s->option_columns.count == 0 && !s->table_known) {
        rc = read_table_columns(s, &s->table_columns, err);
        if (rc < 0)
            goto rollback;
        s->table_known = true;
    }

    for (size_t i = 0; i < n; i++) {
        const agora_value *record = records[i];
        int step = SQLITE_OK;

        results[i].error = NULL;
        rc = 0;
        if (record->type != AGORA_OBJECT) {
            results[i].error = sink_record_error(
                arena, "sqlite sink: record is a %s, not an object; only "
                "objects map to table columns", agora_type_name(record->type));
            continue;
        }
        if (s->option_columns.count > 0) {
            size_t matched;

            if (s->insert == NULL)
                rc = setup_selected_columns(s, record, err);
            if (rc == 0)
                step = bind_record(s, record, &matched);
        } else {
            rc = bind_all_keys(s, record, arena, &results[i].error, &step, err);
            if (rc == 1)
                continue;
        }
        if (rc < 0)
            goto rollback;

        if (step == SQLITE_OK)
            step = sqlite3_step(s->insert);
        if (step == SQLITE_DONE) {
            sqlite3_reset(s->insert);
            continue;
        }
        if (!is_record_error(step)) {
            rc = db_error(s, err, "inserting a record");
            sqlite3_reset(s->insert);
            goto rollback;
        }
        results[i].error = sink_record_error(
            arena, "sqlite sink: table \"%s\" rejected the record: %s",
            s->table, sqlite3_errmsg(s->db));
        sqlite3_reset(s->insert);

        /* A conflict clause of ROLLBACK ends the whole transaction, taking
         * the earlier records of the batch with it. */
        if (sqlite3_get_autocommit(s->db)) {
            forget_schema(s);
            return agora_error_set(err, AGORA_EDB, "sqlite sink: a conflict "
                                   "in %s rolled back the whole batch: %s",
                                   s->path, results[i].error);
        }
    }

    rc = exec_sql(s, "COMMIT", "committing the batch", err);
    if (rc < 0)
        goto rollback;
    return 0;

rollback:
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    forget_schema(s);
    return rc;
}

static int sqlite_flush(void *state, agora_error *err)
{
    /* Every batch is committed by write_batch already. */
    return 0;
}

static void sqlite_close(void *state)
{
    sqlite_sink *s = state;

    sqlite3_finalize(s->insert);
    s->insert = NULL;
    if (s->db != NULL) {
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(s->db);
        s->db = NULL;
    }
    forget_schema(s);
}

static void sqlite_set_resume(void *state, bool resuming)
{
    sqlite_sink *s = state;

    s->resuming = resuming;
}

static void sqlite_destroy(agora_sink *self)
{
    sqlite_sink *s;

    if (self == NULL)
        return;
    s = self->state;
    if (s != NULL) {
        sqlite_close(s);
        sink_columns_clear(&s->option_columns);
        agora_buf_free(&s->scratch);
        free(s->name);
        free(s->path);
        free(s->table);
        free(s);
    }
    free(self);
}

static agora_sink *sqlite_create(const agora_value *options,
                                 const agora_component_context *ctx,
                                 agora_error *err)
{
    agora_sink *sink = NULL;
    sqlite_sink *s = NULL;
    agora_error local;
    const char *table;
    int64_t timeout;
    int mode;

    agora_error_clear(&local);
    sink = calloc(1, sizeof(*sink));
    s = calloc(1, sizeof(*s));
    if (sink == NULL || s == NULL) {
        agora_error_set(&local, AGORA_ENOMEM, "out of memory");
        goto cleanup;
    }
    agora_buf_init(&s->scratch);

    s->path = sink_opt_path(options, "path", ctx, &local);
    if (s->path == NULL)
        goto cleanup;
    table = agora_opt_string(options, "table", NULL, &local);
    if (local.code != 0)
        goto cleanup;
    if (table == NULL || table[0] == '\0') {
        agora_error_set_key(&local, AGORA_ECONFIG, "table",
                            "option `table` is missing or empty; name the "
                            "table to insert into");
        goto cleanup;
    }
    mode = sink_opt_choice(options, "mode", "append", sqlite_modes, &local);
    if (mode < 0)
        goto cleanup;
    if (sink_columns_from_option(&s->option_columns, options, "columns",
                                 &local) < 0)
        goto cleanup;
    timeout = agora_opt_int(options, "busy_timeout_ms",
                            SQLITE_SINK_BUSY_TIMEOUT_MS, &local);
    if (local.code != 0)
        goto cleanup;
    if (timeout < 0 || timeout > 3600 * 1000) {
        agora_error_set_key(&local, AGORA_ECONFIG, "busy_timeout_ms",
                            "option `busy_timeout_ms` is %lld; use 0 to "
                            "3600000 milliseconds", (long long)timeout);
        goto cleanup;
    }

    s->table = strdup(table);
    s->name = sink_instance_name(ctx, "sqlite");
    if (s->table == NULL || s->name == NULL) {
        agora_error_set(&local, AGORA_ENOMEM, "out of memory");
        goto cleanup;
    }
    s->replace = mode == 1;
    s->busy_timeout_ms = (int)timeout;

    sink->name = s->name;
    sink->state = s;
    sink->open = sqlite_open;
    sink->write_batch = sqlite_write_batch;
    sink->flush = sqlite_flush;
    sink->close = sqlite_close;
    sink->destroy = sqlite_destroy;
    sink->set_resume = sqlite_set_resume;
    return sink;

cleanup:
    if (s != NULL) {
        sink_columns_clear(&s->option_columns);
        agora_buf_free(&s->scratch);
        free(s->name);
        free(s->path);
        free(s->table);
    }
    free(s);
    free(sink);
    if (err != NULL)
        *err = local;
    return NULL;
}

static const agora_option_spec sqlite_options[] = {
    {"path", AGORA_OPT_STRING, true, NULL,
     "database file; relative paths start at the config file's directory, "
     "missing parent directories are created"},
    {"table", AGORA_OPT_STRING, true, NULL,
     "table to insert into, created from the first record when missing"},
    {"columns", AGORA_OPT_STRING_ARRAY, false, "every record key",
     "columns to insert. The list is a deliberate selection: record keys not "
     "listed are ignored (not stored), and listed keys a record lacks are "
     "NULL. Without this option every record key is stored, and a key that is "
     "not yet a column of the table is added with ALTER TABLE ADD COLUMN"},
    {"mode", AGORA_OPT_STRING, false, "append",
     "\"append\" (the default) keeps the rows already in the table, so a "
     "scheduled pipeline in this mode adds its rows again on every run. "
     "\"replace\" empties the table when the sink opens, except in a run "
     "that resumes from a checkpoint"},
    {"busy_timeout_ms", AGORA_OPT_INT, false, "5000",
     "milliseconds to wait for another connection's lock before failing"},
    {NULL, 0, false, NULL, NULL}};

const agora_component_type agora_sink_sqlite_type = {
    .kind = AGORA_COMPONENT_SINK,
    .type = "sqlite",
    .summary = "insert object records as rows of an SQLite table",
    .options = sqlite_options,
    .create_sink = sqlite_create,
};
