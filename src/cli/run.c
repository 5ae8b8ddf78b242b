/*
 * agora run: runs one pipeline of a pipelines.toml once and prints its
 * summary, with a progress line while it runs when stderr is a terminal.
 * SIGINT or SIGTERM ends the run at the next batch boundary; a second signal
 * ends the process at once.
 */
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agora/config.h"
#include "agora/log.h"
#include "agora/value.h"
#include "cli/cli.h"

static _Atomic bool run_cancel = false;

static void on_signal(int sig)
{
    atomic_store(&run_cancel, true);
    signal(sig, SIG_DFL); /* a second signal ends the process */
}

static void print_help(void)
{
    printf("usage: agora run [PIPELINE] --config FILE [options]\n"
           "\n"
           "Runs PIPELINE once (it may be omitted when the file defines only one)\n"
           "and prints the run summary.\n"
           "\n"
           "options:\n"
           "  -c, --config FILE      pipelines.toml to read (default ./pipelines.toml)\n"
           "  -n, --max-records N    stop after N records (overrides max_records; 0 = no limit)\n"
           "      --json             print the summary as one JSON object\n"
           "      --no-progress      do not show the progress line\n"
           "      --log-level LEVEL  debug, info, warn, error or off (default info,\n"
           "                         or AGORA_LOG_LEVEL)\n"
           "      --log-format FMT   logfmt or json (default logfmt, or\n"
           "                         AGORA_LOG_FORMAT)\n"
           "  -h, --help             show this help\n"
           "\n"
           "The summary goes to standard output, or to standard error when a sink of\n"
           "the pipeline writes records to standard output. While the run lasts, a\n"
           "line on standard error shows the records so far, rewritten in place a\n"
           "few times per second; it appears only when standard error is a\n"
           "terminal and is erased before the summary.\n"
           "\n"
           "SIGINT or SIGTERM ends the run at the next batch boundary (a second\n"
           "signal ends the process at once); the summary then says the run was\n"
           "canceled. Exit status: 0 when the run completed, 1 when it failed or\n"
           "was canceled, 2 for a usage or configuration error.\n");
}

/* Status word of a run: "success", "canceled" or "failure". */
static const char *run_status(const agora_run_summary *s, int rc)
{
    if (rc != 0)
        return "failure";
    return s->canceled ? "canceled" : "success";
}

/* Verb phrase for the text summary: "completed", "was canceled" or "failed". */
static const char *run_outcome(const agora_run_summary *s, int rc)
{
    if (rc != 0)
        return "failed";
    if (s->canceled)
        return "was canceled";
    return "completed";
}

static void print_summary(FILE *out, const agora_run_summary *s, int rc,
                          const agora_error *err, bool json)
{
    if (json) {
        agora_buf buf;
        agora_buf_init(&buf);
        agora_buf_appendz(&buf, "{\"pipeline_id\":");
        agora_json_write_string(&buf, s->pipeline_id, strlen(s->pipeline_id));
        agora_buf_printf(&buf,
                         ",\"run_id\":\"%s\",\"status\":\"%s\","
                         "\"elapsed_seconds\":%.6f,\"records_consumed\":%llu,"
                         "\"records_written\":%llu,\"records_dropped\":%llu,"
                         "\"records_errored\":%llu,\"middlewares\":{",
                         s->run_id, run_status(s, rc),
                         s->elapsed_seconds,
                         (unsigned long long)s->records_consumed,
                         (unsigned long long)s->records_written,
                         (unsigned long long)s->records_dropped,
                         (unsigned long long)s->records_errored);
        for (size_t i = 0; i < s->middleware_count; i++) {
            const agora_middleware_stats *m = &s->middlewares[i];
            if (i > 0)
                agora_buf_appendz(&buf, ",");
            agora_json_write_string(&buf, m->name, strlen(m->name));
            agora_buf_printf(&buf,
                             ":{\"in\":%llu,\"out\":%llu,\"dropped\":%llu,"
                             "\"errored\":%llu,\"total_time_ms\":%.3f}",
                             (unsigned long long)m->in,
                             (unsigned long long)m->out,
                             (unsigned long long)m->dropped,
                             (unsigned long long)m->errored, m->total_time_ms);
        }
        /* last_checkpoint is JSON text written by the run itself. */
        agora_buf_appendz(&buf, "},\"last_checkpoint\":");
        agora_buf_appendz(&buf, s->last_checkpoint != NULL ? s->last_checkpoint
                                                           : "null");
        agora_buf_appendz(&buf, ",\"error\":");
        if (rc == 0)
            agora_buf_appendz(&buf, "null");
        else
            agora_json_write_string(&buf, err->message, strlen(err->message));
        agora_buf_appendz(&buf, "}\n");
        fwrite(buf.data, 1, buf.len, out);
        agora_buf_free(&buf);
        return;
    }

    double rps = s->elapsed_seconds > 0
                     ? (double)s->records_consumed / s->elapsed_seconds
                     : 0;
    fprintf(out, "pipeline %s run %s %s in %.3f s (%.0f records/s)\n",
            s->pipeline_id, s->run_id,
            run_outcome(s, rc),
            s->elapsed_seconds, rps);
    fprintf(out, "  records: consumed %llu, written %llu, dropped %llu, errored %llu\n",
            (unsigned long long)s->records_consumed,
            (unsigned long long)s->records_written,
            (unsigned long long)s->records_dropped,
            (unsigned long long)s->records_errored);
    for (size_t i = 0; i < s->middleware_count; i++) {
        const agora_middleware_stats *m = &s->middlewares[i];
        fprintf(out,
                "  middleware %s: in %llu, out %llu, dropped %llu, errored %llu, "
                "%.1f ms\n",
                m->name, (unsigned long long)m->in, (unsigned long long)m->out,
                (unsigned long long)m->dropped, (unsigned long long)m->errored,
                m->total_time_ms);
    }
    if (s->last_checkpoint != NULL)
        fprintf(out, "  last checkpoint: %s\n", s->last_checkpoint);
    if (rc != 0)
        fprintf(out, "  error: %s\n", err->message);
}

int cli_run(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"max-records", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},
        {"log-level", required_argument, NULL, 'l'},
        {"log-format", required_argument, NULL, 'F'},
        {"no-progress", no_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = "pipelines.toml";
    const char *log_level = NULL, *log_format = NULL;
    uint64_t max_records = 0;
    bool max_records_set = false, json = false, progress = true;
    agora_error err;
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:n:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'n':
            if (!cli_parse_u64(optarg, &max_records)) {
                cli_error("invalid --max-records '%s'; give a whole number >= 0",
                          optarg);
                return EXIT_USAGE;
            }
            max_records_set = true;
            break;
        case 'j':
            json = true;
            break;
        case 'l':
            log_level = optarg;
            break;
        case 'F':
            log_format = optarg;
            break;
        case 'P':
            progress = false;
            break;
        case 'h':
            print_help();
            return EXIT_OK;
        default:
            cli_error("run 'agora run --help' for the options");
            return EXIT_USAGE;
        }
    }
    if (!cli_set_log_options(log_level, log_format))
        return EXIT_USAGE;
    if (argc - optind > 1) {
        cli_error("agora run takes at most one pipeline name, got %d",
                  argc - optind);
        return EXIT_USAGE;
    }

    agora_config *cfg = agora_config_load(config_path, &err);
    if (cfg == NULL) {
        cli_error("%s", err.message);
        return EXIT_USAGE;
    }

    long index = 0;
    if (optind < argc) {
        index = agora_config_find_pipeline(cfg, argv[optind]);
        if (index < 0) {
            cli_error("no pipeline '%s' in %s; run 'agora worker --list "
                      "--config %s' to see the names",
                      argv[optind], config_path, config_path);
            agora_config_free(cfg);
            return EXIT_USAGE;
        }
    } else if (agora_config_pipeline_count(cfg) > 1) {
        cli_error("%s defines %zu pipelines; name the one to run, for example "
                  "'agora run %s --config %s'",
                  config_path, agora_config_pipeline_count(cfg),
                  agora_config_pipeline_name(cfg, 0), config_path);
        agora_config_free(cfg);
        return EXIT_USAGE;
    }
    if (!max_records_set)
        max_records = agora_config_pipeline_max_records(cfg, (size_t)index);
    FILE *out = agora_config_pipeline_uses_stdout(cfg, (size_t)index) ? stderr
                                                                      : stdout;

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    agora_run_summary summary;
    memset(&summary, 0, sizeof(summary));
    /* The run id is chosen here so that a pipeline that cannot be built
     * still logs and reports an id. */
    agora_run_id_new(summary.run_id);
    agora_live_counters live = {0};
    int rc;
    agora_bound_pipeline *bp = agora_config_build_pipeline(cfg, (size_t)index, &err);
    if (bp == NULL) {
        rc = err.code != 0 ? err.code : AGORA_ECONFIG;
        snprintf(summary.pipeline_id, sizeof(summary.pipeline_id), "%s",
                 agora_config_pipeline_id(cfg, (size_t)index));
    } else {
        cli_progress *bar = NULL;
        if (progress)
            bar = cli_progress_start(agora_config_pipeline_id(cfg, (size_t)index),
                                     &live, STDERR_FILENO);
        rc = agora_bound_pipeline_run(bp, max_records, &run_cancel, &live,
                                      &summary, &err);
        cli_progress_stop(bar);
    }
    if (rc != 0)
        AGORA_ERROR("cli", "run_failed", summary.pipeline_id, summary.run_id,
                    "%s", err.message);
    agora_log_flush();
    print_summary(out, &summary, rc, &err, json);
    fflush(out);
    bool summary_canceled = summary.canceled;

    agora_run_summary_clear(&summary);
    agora_bound_pipeline_free(bp);
    agora_config_free(cfg);
    /* A canceled run stopped before the end of its input: report it as not
     * completed, so scripts do not take a partial run for a finished one. */
    return rc == 0 && !summary_canceled ? EXIT_OK : EXIT_RUN_FAILED;
}
