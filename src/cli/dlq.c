/*
 * agora dlq: inspects, replays and purges dead-letter queues.
 *
 *   replay  feeds a pipeline's DLQ rows back through it (agora_dlq_replay)
 *   list    one line (or one JSON object) per row
 *   show    every column of one row
 *   count   rows per pipeline and stage
 *   purge   deletes rows, after a confirmation on a terminal
 *
 * The DLQ files come from a pipelines.toml (--config, each pipeline's
 * dlq.path, rows of that pipeline_id only) or, for everything but replay,
 * from a file named directly with --dlq (every row in it).
 */
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "agora/config.h"
#include "agora/dlq.h"
#include "agora/value.h"
#include "cli/cli.h"

/* Width of the list table when standard output is no terminal and COLUMNS is unset. */
#define LIST_DEFAULT_WIDTH 120
/* Rows read from the database at a time by list. */
#define LIST_PAGE_ROWS 256

/* ---- Options shared by the subcommands ---------------------------------- */

typedef struct dlq_args {
    const char *config_path;
    const char *dlq_path;
    const char *pipeline; /* positional PIPELINE, or NULL */
    const char *stage;
    const char *run_id;
    const char *before;
    const char *mode;
    const char *log_level;
    const char *log_format;
    uint64_t limit;
    bool json;
    bool yes;
    bool all_sinks;
    bool quiet;
} dlq_args;

/* One DLQ file and the pipeline whose rows are wanted (NULL = all rows). */
typedef struct dlq_target {
    const char *path;
    const char *pipeline_id;
    bool path_given; /* --dlq: a missing file is an error, not an empty DLQ */
} dlq_target;

/* The files a command works on, from --dlq or from the config's pipelines. */
typedef struct dlq_targets {
    agora_config *cfg;
    dlq_target *items;
    size_t count;
} dlq_targets;

static void targets_free(dlq_targets *t)
{
    free(t->items);
    agora_config_free(t->cfg);
    memset(t, 0, sizeof(*t));
}

enum {
    OPT_CONFIG = 'c',
    OPT_HELP = 'h',
    OPT_LIMIT = 'n',
    OPT_STAGE = 's',
    OPT_YES = 'y',
    OPT_DLQ = 256,
    OPT_MODE,
    OPT_RUN_ID,
    OPT_BEFORE,
    OPT_JSON,
    OPT_ALL_SINKS,
    OPT_QUIET,
    OPT_LOG_LEVEL,
    OPT_LOG_FORMAT,
};

static const struct option all_options[] = {
    {"config", required_argument, NULL, OPT_CONFIG},
    {"dlq", required_argument, NULL, OPT_DLQ},
    {"stage", required_argument, NULL, OPT_STAGE},
    {"mode", required_argument, NULL, OPT_MODE},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"run-id", required_argument, NULL, OPT_RUN_ID},
    {"before", required_argument, NULL, OPT_BEFORE},
    {"json", no_argument, NULL, OPT_JSON},
    {"yes", no_argument, NULL, OPT_YES},
    {"all-sinks", no_argument, NULL, OPT_ALL_SINKS},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/*
 * Parses argv (argv[0] is the subcommand name) into args, accepting only the
 * options whose ids are in allowed (a list that ends with 0). Returns -1 when done, EXIT_OK after
 * --help was printed by help(), or EXIT_USAGE.
 */
static int parse_args(int argc, char **argv, const int *allowed,
                      void (*help)(void), dlq_args *args)
{
    int opt;

    memset(args, 0, sizeof(*args));
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:s:n:yh", all_options, NULL)) != -1) {
        bool known = false;
        for (const int *a = allowed; *a != 0; a++)
            known = known || *a == opt;
        if (!known) {
            if (opt != '?' && opt != ':')
                cli_error("agora dlq %s does not take the option %s", argv[0],
                          argv[optind - 1]);
            cli_error("run 'agora dlq %s --help' for the options", argv[0]);
            return EXIT_USAGE;
        }
        switch (opt) {
        case OPT_CONFIG:
            args->config_path = optarg;
            break;
        case OPT_DLQ:
            args->dlq_path = optarg;
            break;
        case OPT_STAGE:
            args->stage = optarg;
            break;
        case OPT_MODE:
            args->mode = optarg;
            break;
        case OPT_LIMIT:
            if (!cli_parse_u64(optarg, &args->limit)) {
                cli_error("invalid --limit '%s'; give a whole number >= 0 "
                          "(0 = no limit)", optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_RUN_ID:
            args->run_id = optarg;
            break;
        case OPT_BEFORE:
            args->before = optarg;
            break;
        case OPT_JSON:
            args->json = true;
            break;
        case OPT_YES:
            args->yes = true;
            break;
        case OPT_ALL_SINKS:
            args->all_sinks = true;
            break;
        case OPT_QUIET:
            args->quiet = true;
            break;
        case OPT_LOG_LEVEL:
            args->log_level = optarg;
            break;
        case OPT_LOG_FORMAT:
            args->log_format = optarg;
            break;
        case OPT_HELP:
            help();
            return EXIT_OK;
        }
    }
    if (args->config_path != NULL && args->dlq_path != NULL) {
        cli_error("give either --config or --dlq, not both");
        return EXIT_USAGE;
    }
    if (args->stage != NULL && strcmp(args->stage, AGORA_STAGE_SOURCE) != 0 &&
        strcmp(args->stage, AGORA_STAGE_MIDDLEWARE) != 0 &&
        strcmp(args->stage, AGORA_STAGE_SINK_WRITE) != 0) {
        cli_error("invalid --stage '%s'; use source, middleware or sink_write",
                  args->stage);
        return EXIT_USAGE;
    }
    if (!cli_set_log_options(args->log_level, args->log_format))
        return EXIT_USAGE;
    return -1;
}

/* Takes at most one positional argument into *out. Returns false after an error. */
static bool take_positional(int argc, char **argv, const char *what,
                            const char **out)
{
    if (argc - optind > 1) {
        cli_error("agora dlq %s takes at most one %s, got %d arguments",
                  argv[0], what, argc - optind);
        return false;
    }
    *out = optind < argc ? argv[optind] : NULL;
    return true;
}

/*
 * Fills targets from --dlq, or from the config: the named pipeline, or every
 * pipeline that has a DLQ. Returns -1 on success or an exit status.
 */
static int resolve_targets(const dlq_args *args, dlq_targets *t)
{
    agora_error err;

    memset(t, 0, sizeof(*t));
    if (args->dlq_path != NULL) {
        t->items = calloc(1, sizeof(*t->items));
        if (t->items == NULL) {
            cli_error("out of memory");
            return EXIT_RUN_FAILED;
        }
        t->items[0] = (dlq_target){args->dlq_path, args->pipeline, true};
        t->count = 1;
        return -1;
    }

    const char *config_path = args->config_path != NULL ? args->config_path
                                                        : "pipelines.toml";
    t->cfg = agora_config_load(config_path, &err);
    if (t->cfg == NULL) {
        cli_error("%s", err.message);
        return EXIT_USAGE;
    }
    size_t n = agora_config_pipeline_count(t->cfg);
    t->items = calloc(n > 0 ? n : 1, sizeof(*t->items));
    if (t->items == NULL) {
        cli_error("out of memory");
        return EXIT_RUN_FAILED;
    }
    for (size_t i = 0; i < n; i++) {
        const char *path = agora_config_pipeline_dlq_path(t->cfg, i);
        const char *id = agora_config_pipeline_id(t->cfg, i);
        if (args->pipeline != NULL &&
            agora_config_find_pipeline(t->cfg, args->pipeline) != (long)i)
            continue;
        if (path == NULL) {
            if (args->pipeline != NULL) {
                cli_error("pipeline '%s' in %s has no dlq; add dlq = { path = "
                          "\"...\" } to it, or name a DLQ file with --dlq",
                          args->pipeline, config_path);
                return EXIT_USAGE;
            }
            continue;
        }
        t->items[t->count++] = (dlq_target){path, id, false};
    }
    if (args->pipeline != NULL && agora_config_find_pipeline(t->cfg, args->pipeline) < 0) {
        cli_error("no pipeline '%s' in %s; run 'agora worker --list --config "
                  "%s' to see the names", args->pipeline, config_path,
                  config_path);
        return EXIT_USAGE;
    }
    return -1;
}

/*
 * Opens the file of target. Returns NULL with *status set: EXIT_OK for a
 * config's DLQ file that does not exist yet (no rows), otherwise an error
 * status after a message.
 */
static agora_dlq *open_target(const dlq_target *target, int *status)
{
    agora_error err;
    agora_dlq *dlq = agora_dlq_open_existing(target->path, &err);

    if (dlq != NULL)
        return dlq;
    if (err.code == AGORA_ENOTFOUND && !target->path_given) {
        *status = EXIT_OK;
        return NULL;
    }
    cli_error("%s", err.message);
    *status = err.code == AGORA_ENOTFOUND || err.code == AGORA_EDLQ
                  ? EXIT_USAGE
                  : EXIT_RUN_FAILED;
    return NULL;
}

/* ---- JSON output ---------------------------------------------------------- */

/*
 * Appends a column that contains JSON text as a JSON value, re-serialized on
 * one line; text that is not JSON (the raw input of a stage source row)
 * becomes a JSON string, and NULL becomes null.
 */
static void append_json_column(agora_buf *buf, agora_arena *arena,
                               const char *text)
{
    agora_error err;

    if (text == NULL) {
        agora_buf_appendz(buf, "null");
        return;
    }
    agora_json_limits limits = agora_json_limits_widest();
    agora_value *v = agora_json_parse(arena, text, strlen(text), &limits, &err);
    if (v != NULL)
        agora_json_write(buf, v);
    else
        agora_json_write_string(buf, text, strlen(text));
}

static void append_string_member(agora_buf *buf, const char *key,
                                 const char *text)
{
    agora_buf_printf(buf, ",\"%s\":", key);
    if (text == NULL)
        agora_buf_appendz(buf, "null");
    else
        agora_json_write_string(buf, text, strlen(text));
}

/* Writes row as one JSON object with every column, then a newline. */
static void print_row_json(FILE *out, const agora_dlq_row *row,
                           agora_arena *arena)
{
    agora_buf buf;

    agora_buf_init(&buf);
    agora_arena_reset(arena);
    agora_buf_printf(&buf, "{\"id\":%lld", (long long)row->id);
    append_string_member(&buf, "pipeline_id", row->pipeline_id);
    append_string_member(&buf, "run_id", row->run_id);
    append_string_member(&buf, "stage", row->stage);
    append_string_member(&buf, "error_type", row->error_type);
    append_string_member(&buf, "error_message", row->error_message);
    agora_buf_appendz(&buf, ",\"record\":");
    append_json_column(&buf, arena, row->record);
    agora_buf_appendz(&buf, ",\"original_record\":");
    append_json_column(&buf, arena, row->original_record);
    agora_buf_appendz(&buf, ",\"processed_record\":");
    append_json_column(&buf, arena, row->processed_record);
    append_string_member(&buf, "source", row->source);
    agora_buf_appendz(&buf, ",\"checkpoint\":");
    append_json_column(&buf, arena, row->checkpoint);
    append_string_member(&buf, "middleware", row->middleware);
    append_string_member(&buf, "sink", row->sink);
    append_string_member(&buf, "created_at", row->created_at);
    agora_buf_printf(&buf, ",\"attempt\":%lld,\"max_attempts\":",
                     (long long)row->attempt);
    if (row->max_attempts < 0)
        agora_buf_appendz(&buf, "null");
    else
        agora_buf_printf(&buf, "%lld", (long long)row->max_attempts);
    agora_buf_appendz(&buf, "}\n");
    if (buf.data != NULL)
        fwrite(buf.data, 1, buf.len, out);
    agora_buf_free(&buf);
}

/* Appends v as indented JSON (two spaces a level), for show. */
static void append_pretty(agora_buf *buf, const agora_value *v, int depth)
{
    if (v->type == AGORA_ARRAY && v->u.array.len > 0) {
        agora_buf_appendz(buf, "[\n");
        for (size_t i = 0; i < v->u.array.len; i++) {
            agora_buf_printf(buf, "%*s", (depth + 1) * 2, "");
            append_pretty(buf, v->u.array.items[i], depth + 1);
            agora_buf_appendz(buf, i + 1 < v->u.array.len ? ",\n" : "\n");
        }
        agora_buf_printf(buf, "%*s]", depth * 2, "");
    } else if (v->type == AGORA_OBJECT && v->u.object.len > 0) {
        agora_buf_appendz(buf, "{\n");
        for (size_t i = 0; i < v->u.object.len; i++) {
            const agora_member *m = &v->u.object.members[i];
            agora_buf_printf(buf, "%*s", (depth + 1) * 2, "");
            agora_json_write_string(buf, m->key.ptr, m->key.len);
            agora_buf_appendz(buf, ": ");
            append_pretty(buf, m->value, depth + 1);
            agora_buf_appendz(buf, i + 1 < v->u.object.len ? ",\n" : "\n");
        }
        agora_buf_printf(buf, "%*s}", depth * 2, "");
    } else {
        agora_json_write(buf, v);
    }
}

/* ---- Table output --------------------------------------------------------- */

static size_t output_width(void)
{
    struct winsize ws;
    const char *columns = getenv("COLUMNS");

    if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 &&
        ws.ws_col > 0)
        return ws.ws_col;
    if (columns != NULL && atoi(columns) > 0)
        return (size_t)atoi(columns);
    return LIST_DEFAULT_WIDTH;
}

/*
 * Copies text into out (size bytes) on one line: control characters become
 * spaces, and text longer than max bytes is cut at a UTF-8 character
 * boundary and ends with "...".
 */
static void fit_text(const char *text, size_t max, char *out, size_t size)
{
    size_t len = text != NULL ? strlen(text) : 0;
    size_t keep = len;

    if (max + 1 > size)
        max = size - 1;
    if (len > max) {
        keep = max >= 3 ? max - 3 : 0;
        while (keep > 0 && ((unsigned char)text[keep] & 0xC0) == 0x80)
            keep--;
    }
    for (size_t i = 0; i < keep; i++)
        out[i] = (unsigned char)text[i] < 0x20 ? ' ' : text[i];
    if (keep < len) {
        size_t dots = max >= 3 ? 3 : max;
        memcpy(out + keep, "...", dots);
        keep += dots;
    }
    out[keep] = '\0';
}

#define LIST_HEADER_FORMAT "%-8s %-16s %-10s %-16s %-7s %-19s %s\n"
/* Characters taken by the columns before the message and their spaces. */
#define LIST_FIXED_WIDTH (8 + 16 + 10 + 16 + 7 + 19 + 6)

static void print_row_line(FILE *out, const agora_dlq_row *row, size_t width)
{
    char id[24], pipeline[64], stage[32], type[64], attempt[48], created[32];
    char message[1024];
    size_t room = width > LIST_FIXED_WIDTH + 20 ? width - LIST_FIXED_WIDTH : 20;

    snprintf(id, sizeof(id), "%lld", (long long)row->id);
    fit_text(row->pipeline_id, 16, pipeline, sizeof(pipeline));
    fit_text(row->stage, 10, stage, sizeof(stage));
    fit_text(row->error_type, 16, type, sizeof(type));
    if (row->max_attempts >= 0)
        snprintf(attempt, sizeof(attempt), "%lld/%lld",
                 (long long)row->attempt, (long long)row->max_attempts);
    else
        snprintf(attempt, sizeof(attempt), "%lld", (long long)row->attempt);
    /* Seconds are enough in a table; show and --json give the full value. */
    snprintf(created, sizeof(created), "%.19s",
             row->created_at != NULL ? row->created_at : "");
    fit_text(row->error_message, room, message, sizeof(message));
    fprintf(out, LIST_HEADER_FORMAT, id, pipeline, stage, type, attempt,
            created, message);
}

/* ---- list ----------------------------------------------------------------- */

static void print_list_help(void)
{
    printf("usage: agora dlq list [PIPELINE] (--config FILE | --dlq PATH) [options]\n"
           "\n"
           "Lists DLQ rows in id order: id, pipeline, stage, error type, attempt\n"
           "(attempt/max_attempts when a maximum is set), created_at to the second\n"
           "and the error message cut to the width of the terminal. Without\n"
           "PIPELINE, lists the rows of every pipeline of the config, or every row\n"
           "of the --dlq file.\n"
           "\n"
           "options:\n"
           "  -c, --config FILE   pipelines.toml whose pipelines' DLQ files to read\n"
           "                      (default ./pipelines.toml)\n"
           "      --dlq PATH      read this DLQ file instead of a config's\n"
           "  -s, --stage STAGE   only rows of stage source, middleware or sink_write\n"
           "  -n, --limit N       print at most N rows (0 = all, the default)\n"
           "      --json          one JSON object per row with every column; record,\n"
           "                      original_record, processed_record and checkpoint\n"
           "                      are JSON values (a string when the column is not\n"
           "                      valid JSON)\n"
           "  -h, --help          show this help\n");
}

static int list_target(const dlq_target *target, const dlq_args *args,
                       uint64_t *printed, size_t width, agora_arena *arena,
                       bool *header_done)
{
    agora_dlq_row rows[LIST_PAGE_ROWS];
    agora_dlq_filter filter = {.pipeline_id = target->pipeline_id,
                               .stage = args->stage};
    agora_error err;
    int status = EXIT_OK;
    agora_dlq *dlq = open_target(target, &status);

    if (dlq == NULL)
        return status;
    for (;;) {
        long n = agora_dlq_read(dlq, &filter, rows, LIST_PAGE_ROWS, &err);
        if (n < 0) {
            cli_error("%s", err.message);
            status = EXIT_RUN_FAILED;
            break;
        }
        /* The header waits for the first successful read, so a file that
         * is not a DLQ leaves standard output empty. */
        if (!args->json && !*header_done) {
            printf(LIST_HEADER_FORMAT, "ID", "PIPELINE", "STAGE", "ERROR_TYPE",
                   "ATTEMPT", "CREATED_AT", "ERROR");
            *header_done = true;
        }
        if (n == 0)
            break;
        for (long i = 0; i < n; i++) {
            if (args->limit == 0 || *printed < args->limit) {
                if (args->json)
                    print_row_json(stdout, &rows[i], arena);
                else
                    print_row_line(stdout, &rows[i], width);
                (*printed)++;
            }
        }
        filter.after_id = rows[n - 1].id;
        for (long i = 0; i < n; i++)
            agora_dlq_row_clear(&rows[i]);
        if (args->limit > 0 && *printed >= args->limit)
            break;
    }
    agora_dlq_free(dlq);
    return status;
}

static int dlq_list(int argc, char **argv)
{
    static const int allowed[] = {OPT_CONFIG, OPT_DLQ, OPT_STAGE, OPT_LIMIT,
                                   OPT_JSON, OPT_HELP, 0};
    dlq_args args;
    dlq_targets targets;
    uint64_t printed = 0;
    int status = parse_args(argc, argv, allowed, print_list_help, &args);

    if (status >= 0)
        return status;
    if (!take_positional(argc, argv, "pipeline name", &args.pipeline))
        return EXIT_USAGE;
    status = resolve_targets(&args, &targets);
    if (status >= 0) {
        targets_free(&targets);
        return status;
    }

    size_t width = output_width();
    agora_arena *arena = agora_arena_new(0);
    status = EXIT_OK;
    bool header_done = false;
    for (size_t i = 0; i < targets.count && status == EXIT_OK; i++) {
        if (args.limit > 0 && printed >= args.limit)
            break;
        status = list_target(&targets.items[i], &args, &printed, width, arena,
                             &header_done);
    }
    agora_arena_free(arena);
    targets_free(&targets);
    return status;
}

/* ---- show ----------------------------------------------------------------- */

static void print_show_help(void)
{
    printf("usage: agora dlq show ID (--config FILE | --dlq PATH) [--json]\n"
           "\n"
           "Prints every column of DLQ row ID, with the record columns as indented\n"
           "JSON. With --config, looks for the row in the DLQ file of every\n"
           "pipeline of the config (its pipeline_id must be one of them).\n"
           "\n"
           "options:\n"
           "  -c, --config FILE   pipelines.toml whose pipelines' DLQ files to read\n"
           "                      (default ./pipelines.toml)\n"
           "      --dlq PATH      read this DLQ file instead of a config's\n"
           "      --json          print the row as one JSON object, as list --json does\n"
           "  -h, --help          show this help\n");
}

static void print_show_field(agora_buf *buf, agora_arena *arena,
                             const char *name, const char *text, bool json)
{
    agora_error err;

    agora_buf_printf(buf, "%-17s", name);
    if (text == NULL) {
        agora_buf_appendz(buf, "NULL\n");
        return;
    }
    agora_json_limits limits = agora_json_limits_widest();
    agora_value *v = json ? agora_json_parse(arena, text, strlen(text),
                                             &limits, &err)
                          : NULL;
    if (v != NULL)
        append_pretty(buf, v, 0);
    else
        agora_buf_appendz(buf, text);
    agora_buf_appendz(buf, "\n");
}

static void print_row_show(const agora_dlq_row *row, const char *path,
                           agora_arena *arena)
{
    agora_buf buf;
    char number[48];

    agora_buf_init(&buf);
    agora_arena_reset(arena);
    snprintf(number, sizeof(number), "%lld", (long long)row->id);
    print_show_field(&buf, arena, "id", number, false);
    print_show_field(&buf, arena, "dlq", path, false);
    print_show_field(&buf, arena, "pipeline_id", row->pipeline_id, false);
    print_show_field(&buf, arena, "run_id", row->run_id, false);
    print_show_field(&buf, arena, "stage", row->stage, false);
    print_show_field(&buf, arena, "error_type", row->error_type, false);
    print_show_field(&buf, arena, "error_message", row->error_message, false);
    print_show_field(&buf, arena, "source", row->source, false);
    print_show_field(&buf, arena, "middleware", row->middleware, false);
    print_show_field(&buf, arena, "sink", row->sink, false);
    print_show_field(&buf, arena, "created_at", row->created_at, false);
    snprintf(number, sizeof(number), "%lld", (long long)row->attempt);
    print_show_field(&buf, arena, "attempt", number, false);
    snprintf(number, sizeof(number), "%lld", (long long)row->max_attempts);
    print_show_field(&buf, arena, "max_attempts",
                     row->max_attempts >= 0 ? number : NULL, false);
    print_show_field(&buf, arena, "checkpoint", row->checkpoint, true);
    print_show_field(&buf, arena, "record", row->record, true);
    print_show_field(&buf, arena, "original_record", row->original_record, true);
    print_show_field(&buf, arena, "processed_record", row->processed_record, true);
    if (buf.data != NULL)
        fwrite(buf.data, 1, buf.len, stdout);
    agora_buf_free(&buf);
}

static int dlq_show(int argc, char **argv)
{
    static const int allowed[] = {OPT_CONFIG, OPT_DLQ, OPT_JSON, OPT_HELP, 0};
    dlq_args args;
    dlq_targets targets;
    const char *id_text = NULL;
    uint64_t id = 0;
    int status = parse_args(argc, argv, allowed, print_show_help, &args);

    if (status >= 0)
        return status;
    if (!take_positional(argc, argv, "row id", &id_text))
        return EXIT_USAGE;
    if (id_text == NULL || !cli_parse_u64(id_text, &id) || id == 0 ||
        id > INT64_MAX) {
        cli_error("agora dlq show needs the id of a row (a whole number > 0, "
                  "as 'agora dlq list' prints it)%s%s%s",
                  id_text != NULL ? ", got '" : "", id_text != NULL ? id_text : "",
                  id_text != NULL ? "'" : "");
        return EXIT_USAGE;
    }
    status = resolve_targets(&args, &targets);
    if (status >= 0) {
        targets_free(&targets);
        return status;
    }

    agora_arena *arena = agora_arena_new(0);
    size_t found = 0;
    status = EXIT_OK;
    for (size_t i = 0; i < targets.count && status == EXIT_OK; i++) {
        /* Pipelines sharing one file would show the same row twice. */
        bool seen = false;
        for (size_t j = 0; j < i; j++)
            seen = seen || strcmp(targets.items[j].path, targets.items[i].path) == 0;
        if (seen)
            continue;
        agora_dlq *dlq = open_target(&targets.items[i], &status);
        if (dlq == NULL)
            continue;
        agora_dlq_row row;
        agora_error err;
        int rc = agora_dlq_get(dlq, (int64_t)id, &row, &err);
        if (rc < 0) {
            cli_error("%s", err.message);
            status = EXIT_RUN_FAILED;
        } else if (rc == 1 && targets.cfg != NULL &&
                   agora_config_find_pipeline(targets.cfg, row.pipeline_id) < 0) {
            agora_dlq_row_clear(&row); /* another config's pipeline */
        } else if (rc == 1) {
            if (found > 0 && !args.json)
                printf("\n");
            if (args.json)
                print_row_json(stdout, &row, arena);
            else
                print_row_show(&row, targets.items[i].path, arena);
            found++;
            agora_dlq_row_clear(&row);
        }
        agora_dlq_free(dlq);
    }
    if (status == EXIT_OK && found == 0) {
        cli_error("no DLQ row with id %llu; run 'agora dlq list' to see the ids",
                  (unsigned long long)id);
        status = EXIT_RUN_FAILED;
    }
    agora_arena_free(arena);
    targets_free(&targets);
    return status;
}

/* ---- count ---------------------------------------------------------------- */

static void print_count_help(void)
{
    printf("usage: agora dlq count [PIPELINE] (--config FILE | --dlq PATH) [--json]\n"
           "\n"
           "Prints the number of DLQ rows per pipeline and stage, and the total.\n"
           "\n"
           "options:\n"
           "  -c, --config FILE   pipelines.toml whose pipelines' DLQ files to read\n"
           "                      (default ./pipelines.toml)\n"
           "      --dlq PATH      read this DLQ file instead of a config's\n"
           "  -s, --stage STAGE   only rows of stage source, middleware or sink_write\n"
           "      --json          one JSON object per group: pipeline_id, stage, count\n"
           "  -h, --help          show this help\n");
}

typedef struct count_state {
    bool json;
    bool header_done; /* the table header is printed before the first row */
    long long total;
} count_state;

static void print_count_header(count_state *cs)
{
    if (cs->json || cs->header_done)
        return;
    printf("%-24s %-12s %10s\n", "PIPELINE", "STAGE", "ROWS");
    cs->header_done = true;
}

static void print_count_group(void *ctx, const char *pipeline_id,
                              const char *stage, long long count)
{
    count_state *cs = ctx;

    cs->total += count;
    if (cs->json) {
        agora_buf buf;
        agora_buf_init(&buf);
        agora_buf_appendz(&buf, "{\"pipeline_id\":");
        agora_json_write_string(&buf, pipeline_id, strlen(pipeline_id));
        agora_buf_appendz(&buf, ",\"stage\":");
        agora_json_write_string(&buf, stage, strlen(stage));
        agora_buf_printf(&buf, ",\"count\":%lld}\n", count);
        if (buf.data != NULL)
            fwrite(buf.data, 1, buf.len, stdout);
        agora_buf_free(&buf);
        return;
    }
    print_count_header(cs);
    printf("%-24s %-12s %10lld\n", pipeline_id, stage, count);
}

static int dlq_count(int argc, char **argv)
{
    static const int allowed[] = {OPT_CONFIG, OPT_DLQ, OPT_STAGE, OPT_JSON,
                                   OPT_HELP, 0};
    dlq_args args;
    dlq_targets targets;
    int status = parse_args(argc, argv, allowed, print_count_help, &args);

    if (status >= 0)
        return status;
    if (!take_positional(argc, argv, "pipeline name", &args.pipeline))
        return EXIT_USAGE;
    status = resolve_targets(&args, &targets);
    if (status >= 0) {
        targets_free(&targets);
        return status;
    }

    count_state cs = {.json = args.json};
    status = EXIT_OK;
    for (size_t i = 0; i < targets.count && status == EXIT_OK; i++) {
        agora_dlq *dlq = open_target(&targets.items[i], &status);
        if (dlq == NULL)
            continue;
        agora_dlq_filter filter = {.pipeline_id = targets.items[i].pipeline_id,
                                   .stage = args.stage};
        agora_error err;
        if (agora_dlq_count_groups(dlq, &filter, print_count_group, &cs,
                                   &err) < 0) {
            cli_error("%s", err.message);
            status = EXIT_RUN_FAILED;
        }
        agora_dlq_free(dlq);
    }
    /* Nothing goes to standard output when a DLQ could not be read. */
    if (status == EXIT_OK && !args.json) {
        print_count_header(&cs);
        printf("%-24s %-12s %10lld\n", "total", "", cs.total);
    }
    targets_free(&targets);
    return status;
}

/* ---- purge ---------------------------------------------------------------- */

static void print_purge_help(void)
{
    printf("usage: agora dlq purge [PIPELINE] (--config FILE | --dlq PATH) [options]\n"
           "\n"
           "Deletes DLQ rows for good: those of PIPELINE (or of every pipeline of\n"
           "the config, or every row of the --dlq file), narrowed by the options.\n"
           "Asks for confirmation when standard input is a terminal; otherwise\n"
           "--yes is required.\n"
           "\n"
           "options:\n"
           "  -c, --config FILE   pipelines.toml whose pipelines' DLQ files to purge\n"
           "                      (default ./pipelines.toml)\n"
           "      --dlq PATH      purge this DLQ file instead of a config's\n"
           "  -s, --stage STAGE   only rows of stage source, middleware or sink_write\n"
           "      --before DATE   only rows created before DATE: YYYY-MM-DD or\n"
           "                      YYYY-MM-DDTHH:MM:SS, UTC unless an offset such as\n"
           "                      +02:00 follows\n"
           "  -y, --yes           delete without asking\n"
           "  -h, --help          show this help\n");
}

/* Checks that text starts with YYYY-MM-DD; SQLite checks the rest. */
static bool looks_like_date(const char *text)
{
    static const char pattern[] = "dddd-dd-dd";

    if (strlen(text) < sizeof(pattern) - 1)
        return false;
    for (size_t i = 0; i < sizeof(pattern) - 1; i++) {
        bool ok = pattern[i] == 'd' ? text[i] >= '0' && text[i] <= '9'
                                    : text[i] == pattern[i];
        if (!ok)
            return false;
    }
    return true;
}

/* Prompts on the terminal and returns true when the reply starts with y or Y. */
static bool confirm(long long rows, const dlq_args *args)
{
    char answer[16];

    fprintf(stderr, "delete %lld DLQ row%s%s%s%s%s%s%s for good? [y/N] ", rows,
            rows == 1 ? "" : "s", args->pipeline ? " of pipeline " : "",
            args->pipeline ? args->pipeline : "",
            args->stage ? " at stage " : "", args->stage ? args->stage : "",
            args->before ? " created before " : "",
            args->before ? args->before : "");
    fflush(stderr);
    if (fgets(answer, sizeof(answer), stdin) == NULL)
        return false;
    return answer[0] == 'y' || answer[0] == 'Y';
}

static int dlq_purge(int argc, char **argv)
{
    static const int allowed[] = {OPT_CONFIG, OPT_DLQ, OPT_STAGE, OPT_BEFORE,
                                   OPT_YES, OPT_HELP, 0};
    dlq_args args;
    dlq_targets targets;
    agora_error err;
    long long matching = 0, deleted = 0;
    int status = parse_args(argc, argv, allowed, print_purge_help, &args);

    if (status >= 0)
        return status;
    if (!take_positional(argc, argv, "pipeline name", &args.pipeline))
        return EXIT_USAGE;
    if (args.before != NULL && !looks_like_date(args.before)) {
        cli_error("invalid --before '%s'; use YYYY-MM-DD or "
                  "YYYY-MM-DDTHH:MM:SS", args.before);
        return EXIT_USAGE;
    }
    if (!args.yes && !isatty(STDIN_FILENO)) {
        cli_error("purge deletes rows for good and standard input is not a "
                  "terminal to confirm it; add --yes");
        return EXIT_USAGE;
    }
    status = resolve_targets(&args, &targets);
    if (status >= 0) {
        targets_free(&targets);
        return status;
    }

    /* Count first so the question states what would go. */
    status = EXIT_OK;
    for (size_t i = 0; i < targets.count && status == EXIT_OK; i++) {
        agora_dlq *dlq = open_target(&targets.items[i], &status);
        if (dlq == NULL)
            continue;
        agora_dlq_filter filter = {.pipeline_id = targets.items[i].pipeline_id,
                                   .stage = args.stage, .before = args.before};
        long long n = agora_dlq_count_matching(dlq, &filter, &err);
        if (n < 0) {
            cli_error("%s", err.message);
            status = err.code == AGORA_EINVAL ? EXIT_USAGE : EXIT_RUN_FAILED;
        } else {
            matching += n;
        }
        agora_dlq_free(dlq);
    }
    if (status != EXIT_OK || matching == 0) {
        if (status == EXIT_OK)
            printf("no DLQ rows match; deleted 0 rows\n");
        targets_free(&targets);
        return status;
    }
    if (!args.yes && !confirm(matching, &args)) {
        fprintf(stderr, "purge canceled; no rows deleted\n");
        targets_free(&targets);
        return EXIT_RUN_FAILED;
    }

    for (size_t i = 0; i < targets.count && status == EXIT_OK; i++) {
        agora_dlq *dlq = open_target(&targets.items[i], &status);
        if (dlq == NULL)
            continue;
        agora_dlq_filter filter = {.pipeline_id = targets.items[i].pipeline_id,
                                   .stage = args.stage, .before = args.before};
        long long n = agora_dlq_purge(dlq, &filter, &err);
        if (n < 0) {
            cli_error("%s", err.message);
            status = EXIT_RUN_FAILED;
        } else {
            deleted += n;
        }
        agora_dlq_free(dlq);
    }
    printf("deleted %lld DLQ row%s\n", deleted, deleted == 1 ? "" : "s");
    targets_free(&targets);
    return status;
}

/* ---- replay --------------------------------------------------------------- */

static _Atomic bool replay_cancel = false;

static void on_replay_signal(int sig)
{
    atomic_store(&replay_cancel, true);
    signal(sig, SIG_DFL); /* a second signal ends the process */
}

static void print_replay_help(void)
{
    printf("usage: agora dlq replay [PIPELINE] --config FILE [options]\n"
           "\n"
           "Feeds the DLQ rows of PIPELINE (it may be omitted when the file defines\n"
           "only one) back through it, in id order, one record per run, and\n"
           "deletes each row whose record was written (or dropped by a\n"
           "middleware). Rows that fail again stay, with attempt raised by one.\n"
           "Rows with max_attempts set and attempt >= max_attempts are skipped.\n"
           "Sinks are opened in append mode, and the DLQ is off while replaying.\n"
           "\n"
           "options:\n"
           "  -c, --config FILE   pipelines.toml with the pipeline (default\n"
           "                      ./pipelines.toml); its dlq.path is the DLQ read\n"
           "  -s, --stage STAGE   only rows of stage source, middleware or sink_write\n"
           "      --mode MODE     pipeline (default): original_record (else record)\n"
           "                      through every middleware, then the sinks;\n"
           "                      sink: processed_record (else record) straight to\n"
           "                      the sinks, for stage sink_write rows only (rows of\n"
           "                      other stages are skipped)\n"
           "  -n, --limit N       try at most N rows (0 = all, the default)\n"
           "      --run-id ID     only rows of the run with this id\n"
           "      --all-sinks     send sink_write rows to every sink, not only the\n"
           "                      sink named in the row (the others may then hold\n"
           "                      the record twice)\n"
           "      --quiet         print only the counts, not each failed or\n"
           "                      skipped row\n"
           CLI_LOG_OPTIONS_HELP
           "  -h, --help          show this help\n"
           "\n"
           "Prints the rows attempted, succeeded, failed and skipped. Exit status 1\n"
           "when a row failed or the DLQ could not be read or written.\n");
}

typedef struct replay_print {
    FILE *out;
    bool quiet;
} replay_print;

static void print_replay_row(void *ctx, const agora_dlq_row *row,
                             agora_replay_outcome outcome, const char *reason)
{
    replay_print *rp = ctx;

    if (rp->quiet || outcome == AGORA_REPLAY_SUCCEEDED)
        return;
    fprintf(rp->out, "row %lld (stage %s): %s: %s\n", (long long)row->id,
            row->stage, outcome == AGORA_REPLAY_FAILED ? "failed" : "skipped",
            reason != NULL ? reason : "no reason given");
}

static int dlq_replay(int argc, char **argv)
{
    static const int allowed[] = {OPT_CONFIG, OPT_STAGE, OPT_MODE, OPT_LIMIT,
                                   OPT_RUN_ID, OPT_ALL_SINKS, OPT_QUIET,
                                   OPT_LOG_LEVEL, OPT_LOG_FORMAT, OPT_HELP, 0};
    dlq_args args;
    agora_error err;
    agora_replay_options opts;
    agora_replay_report report;
    int status = parse_args(argc, argv, allowed, print_replay_help, &args);

    if (status >= 0)
        return status;
    if (!take_positional(argc, argv, "pipeline name", &args.pipeline))
        return EXIT_USAGE;
    memset(&opts, 0, sizeof(opts));
    if (args.mode == NULL || strcmp(args.mode, "pipeline") == 0) {
        opts.mode = AGORA_REPLAY_PIPELINE;
    } else if (strcmp(args.mode, "sink") == 0) {
        opts.mode = AGORA_REPLAY_SINK;
    } else {
        cli_error("invalid --mode '%s'; use pipeline or sink", args.mode);
        return EXIT_USAGE;
    }
    if (opts.mode == AGORA_REPLAY_SINK && args.stage != NULL &&
        strcmp(args.stage, AGORA_STAGE_SINK_WRITE) != 0) {
        cli_error("--mode sink replays stage sink_write rows only, but --stage "
                  "is %s; use --mode pipeline for them", args.stage);
        return EXIT_USAGE;
    }

    const char *config_path = args.config_path != NULL ? args.config_path
                                                        : "pipelines.toml";
    agora_config *cfg = agora_config_load(config_path, &err);
    if (cfg == NULL) {
        cli_error("%s", err.message);
        return EXIT_USAGE;
    }
    long index = 0;
    if (args.pipeline != NULL) {
        index = agora_config_find_pipeline(cfg, args.pipeline);
        if (index < 0) {
            cli_error("no pipeline '%s' in %s; run 'agora worker --list "
                      "--config %s' to see the names", args.pipeline,
                      config_path, config_path);
            agora_config_free(cfg);
            return EXIT_USAGE;
        }
    } else if (agora_config_pipeline_count(cfg) > 1) {
        cli_error("%s defines %zu pipelines; name the one to replay, for "
                  "example 'agora dlq replay %s --config %s'", config_path,
                  agora_config_pipeline_count(cfg),
                  agora_config_pipeline_name(cfg, 0), config_path);
        agora_config_free(cfg);
        return EXIT_USAGE;
    }
    const char *pipeline_id = agora_config_pipeline_id(cfg, (size_t)index);
    const char *dlq_path = agora_config_pipeline_dlq_path(cfg, (size_t)index);
    if (dlq_path == NULL) {
        cli_error("pipeline '%s' in %s has no dlq, so there is nothing to "
                  "replay", pipeline_id, config_path);
        agora_config_free(cfg);
        return EXIT_USAGE;
    }

    /* Records a sink prints must not mix with the report. */
    replay_print rp = {
        .out = agora_config_pipeline_uses_stdout(cfg, (size_t)index) ? stderr
                                                                     : stdout,
        .quiet = args.quiet,
    };
    opts.stage = args.stage;
    opts.run_id = args.run_id;
    opts.limit = args.limit;
    opts.all_sinks = args.all_sinks;
    opts.on_row = print_replay_row;
    opts.on_row_ctx = &rp;
    opts.cancel = &replay_cancel;
    signal(SIGINT, on_replay_signal);
    signal(SIGTERM, on_replay_signal);

    int rc = agora_dlq_replay(cfg, (size_t)index, &opts, &report, &err);
    fprintf(rp.out, "replay of pipeline %s from %s: attempted %llu, succeeded "
            "%llu (%llu dropped by a middleware), failed %llu, skipped %llu\n",
            pipeline_id, dlq_path, (unsigned long long)report.attempted,
            (unsigned long long)report.succeeded,
            (unsigned long long)report.dropped,
            (unsigned long long)report.failed,
            (unsigned long long)report.skipped);
    if (atomic_load(&replay_cancel))
        fprintf(rp.out, "replay stopped by a signal; the rows not yet tried "
                "are still in the DLQ\n");
    if (rc < 0)
        cli_error("replay stopped: %s", err.message);
    fflush(rp.out);
    agora_config_free(cfg);
    if (rc == AGORA_ECONFIG)
        return EXIT_USAGE;
    return rc < 0 || report.failed > 0 ? EXIT_RUN_FAILED : EXIT_OK;
}

/* ---- Dispatch ------------------------------------------------------------- */

static void print_dlq_help(FILE *out)
{
    fprintf(out,
            "usage: agora dlq <command> [options]\n"
            "\n"
            "commands:\n"
            "  replay [PIPELINE] --config FILE   feed a pipeline's DLQ rows back through it\n"
            "  list [PIPELINE] (--config FILE | --dlq PATH)\n"
            "                                    one line or JSON object per row\n"
            "  show ID (--config FILE | --dlq PATH)\n"
            "                                    every column of one row\n"
            "  count [PIPELINE] (--config FILE | --dlq PATH)\n"
            "                                    rows per pipeline and stage\n"
            "  purge [PIPELINE] (--config FILE | --dlq PATH) [--stage S] [--before DATE] [--yes]\n"
            "                                    delete rows for good\n"
            "\n"
            "Run 'agora dlq <command> --help' for the options of a command.\n");
}

int cli_dlq(int argc, char **argv)
{
    if (argc < 2) {
        print_dlq_help(stderr);
        return EXIT_USAGE;
    }
    const char *command = argv[1];
    if (strcmp(command, "replay") == 0)
        return dlq_replay(argc - 1, argv + 1);
    if (strcmp(command, "list") == 0)
        return dlq_list(argc - 1, argv + 1);
    if (strcmp(command, "show") == 0)
        return dlq_show(argc - 1, argv + 1);
    if (strcmp(command, "count") == 0)
        return dlq_count(argc - 1, argv + 1);
    if (strcmp(command, "purge") == 0)
        return dlq_purge(argc - 1, argv + 1);
    if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0 ||
        strcmp(command, "help") == 0) {
        print_dlq_help(stdout);
        return EXIT_OK;
    }
    cli_error("unknown dlq command '%s'; use replay, list, show, count or "
              "purge", command);
    return EXIT_USAGE;
}
