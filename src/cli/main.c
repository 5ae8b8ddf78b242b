/*
 * The agora command: dispatches to the subcommands.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/log.h"
#include "cli/cli.h"

static void print_usage(FILE *out)
{
    fprintf(out,
            "usage: agora <command> [options]\n"
            "\n"
            "commands:\n"
            "  run [PIPELINE] --config FILE   run one pipeline once and print its summary\n"
            "  worker [--config FILE | --module NAME]\n"
            "                                 run every pipeline on its schedule, with the\n"
            "                                 health server, until SIGINT or SIGTERM\n"
            "  validate --config FILE         check a pipelines.toml without running it\n"
            "  dlq replay|list|show|count|purge\n"
            "                                 inspect, replay or purge dead-letter queues\n"
            "  checkpoint show|reset [PIPELINE] --config FILE\n"
            "                                 print or delete a pipeline's saved checkpoint\n"
            "  components [TYPE...]           list the built-in component types and options\n"
            "  schedule next EXPRESSION       print the next fire times of a cron expression\n"
            "  version                        print the version\n"
            "\n"
            "Run 'agora <command> --help' for the options of a command.\n"
            "Exit status: 0 success, 1 a run failed, 2 usage or configuration error.\n");
}

void cli_error(const char *fmt, ...)
{
    va_list ap;

    fputs("agora: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Applies one option: the flag when given, else the environment variable. */
static bool apply_log_option(const char *flag, const char *noun,
                             const char *value, const char *env_name,
                             const char *allowed,
                             int (*parse)(const char *), int *out)
{
    const char *name = value != NULL ? value : getenv(env_name);

    *out = -1;
    if (name == NULL || (value == NULL && name[0] == '\0'))
        return true;
    *out = parse(name);
    if (*out < 0) {
        if (value != NULL)
            cli_error("invalid %s '%s'; use %s", flag, name, allowed);
        else
            cli_error("invalid %s '%s' in %s; use %s, or unset it", noun,
                      name, env_name, allowed);
        return false;
    }
    return true;
}

bool cli_set_log_options(const char *level, const char *format)
{
    int parsed_level, parsed_format;

    if (!apply_log_option("--log-level", "log level", level, "AGORA_LOG_LEVEL",
                          "debug, info, warn, error or off",
                          agora_log_level_parse, &parsed_level))
        return false;
    if (!apply_log_option("--log-format", "log format", format, "AGORA_LOG_FORMAT",
                          "logfmt or json", agora_log_format_parse,
                          &parsed_format))
        return false;
    if (parsed_level >= 0)
        agora_log_set_level((agora_log_level)parsed_level);
    if (parsed_format >= 0)
        agora_log_set_format((agora_log_format)parsed_format);
    return true;
}

bool cli_parse_u64(const char *text, uint64_t *out)
{
    char *end = NULL;

    if (text == NULL || text[0] == '\0' || text[0] == '-')
        return false;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = (uint64_t)v;
    return true;
}

static int dispatch(int argc, char **argv)
{
    const char *command = argv[1];

    if (strcmp(command, "run") == 0)
        return cli_run(argc - 1, argv + 1);
    if (strcmp(command, "worker") == 0)
        return cli_worker(argc - 1, argv + 1);
    if (strcmp(command, "validate") == 0)
        return cli_validate(argc - 1, argv + 1);
    if (strcmp(command, "components") == 0)
        return cli_components(argc - 1, argv + 1);
    if (strcmp(command, "schedule") == 0)
        return cli_schedule(argc - 1, argv + 1);
    if (strcmp(command, "dlq") == 0)
        return cli_dlq(argc - 1, argv + 1);
    if (strcmp(command, "checkpoint") == 0)
        return cli_checkpoint(argc - 1, argv + 1);
    if (strcmp(command, "version") == 0 || strcmp(command, "--version") == 0) {
        if (argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
            printf("usage: agora version\n\nPrints the version of agora and exits.\n");
            return EXIT_OK;
        }
        if (argc > 2) {
            cli_error("agora version takes no arguments, got '%s'", argv[2]);
            return EXIT_USAGE;
        }
        printf("agora %s\n", AGORA_VERSION);
        return EXIT_OK;
    }
    if (strcmp(command, "help") == 0 || strcmp(command, "--help") == 0 ||
        strcmp(command, "-h") == 0) {
        print_usage(stdout);
        return EXIT_OK;
    }
    cli_error("unknown command '%s'; run 'agora --help' for the list", command);
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return EXIT_USAGE;
    }
    int status = dispatch(argc, argv);
    /* Repeated warnings and errors still being counted get their count line. */
    agora_log_flush();
    return status;
}
