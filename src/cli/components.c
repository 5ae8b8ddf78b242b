/*
 * agora components: prints the built-in component types and their options,
 * straight from the option tables the config loader checks against.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "agora/config.h"
#include "cli/cli.h"

static const char *option_type_name(agora_option_type type)
{
    switch (type) {
    case AGORA_OPT_STRING:
        return "string";
    case AGORA_OPT_INT:
        return "integer";
    case AGORA_OPT_NUMBER:
        return "number";
    case AGORA_OPT_BOOL:
        return "boolean";
    case AGORA_OPT_STRING_ARRAY:
        return "array of strings";
    case AGORA_OPT_TABLE:
        return "table";
    case AGORA_OPT_ANY:
        return "any value";
    }
    return "value";
}

static void print_type(const agora_component_type *t, bool markdown)
{
    const char *kind = agora_component_kind_name(t->kind);

    if (markdown) {
        printf("### %s `%s`\n\n%s\n\n", kind, t->type, t->summary ? t->summary : "");
        printf("| option | type | required | default | meaning |\n");
        printf("|---|---|---|---|---|\n");
        for (const agora_option_spec *o = t->options; o && o->key; o++) {
            printf("| `%s` | %s | %s | %s | ", o->key, option_type_name(o->type),
                   o->required ? "yes" : "no",
                   o->default_text && o->default_text[0] ? o->default_text : "");
            /* A '|' inside a cell would end it early in Markdown. */
            for (const char *c = o->help ? o->help : ""; *c; c++) {
                if (*c == '|')
                    fputs("\\|", stdout);
                else
                    putchar(*c);
            }
            printf(" |\n");
        }
        printf("\n");
        return;
    }

    printf("%s %s: %s\n", kind, t->type, t->summary ? t->summary : "");
    for (const agora_option_spec *o = t->options; o && o->key; o++) {
        printf("  %-20s %s%s", o->key, option_type_name(o->type),
               o->required ? ", required" : "");
        if (o->default_text && o->default_text[0])
            printf(", default %s", o->default_text);
        printf("\n      %s\n", o->help ? o->help : "");
    }
    printf("\n");
}

int cli_components(int argc, char **argv)
{
    static const struct option options[] = {
        {"markdown", no_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool markdown = false;
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'm':
            markdown = true;
            break;
        case 'h':
            printf("usage: agora components [TYPE...] [--markdown]\n"
                   "\n"
                   "Prints every built-in source, middleware and sink type with its\n"
                   "options (type, whether required, default, meaning), or only the\n"
                   "named types. --markdown prints the same as Markdown tables.\n"
                   "Every component also accepts 'name' (used in metrics and DLQ rows).\n");
            return EXIT_OK;
        default:
            cli_error("run 'agora components --help' for the options");
            return EXIT_USAGE;
        }
    }

    const agora_component_type *const *all = agora_component_all();
    for (int i = optind; i < argc; i++) {
        bool found = false;
        for (size_t j = 0; all[j] != NULL; j++)
            found = found || strcmp(all[j]->type, argv[i]) == 0;
        if (!found) {
            cli_error("unknown component type '%s'; run 'agora components' for the list",
                      argv[i]);
            return EXIT_USAGE;
        }
    }
    for (size_t j = 0; all[j] != NULL; j++) {
        bool selected = optind >= argc;
        for (int i = optind; i < argc; i++)
            selected = selected || strcmp(all[j]->type, argv[i]) == 0;
        if (selected)
            print_type(all[j], markdown);
    }
    return EXIT_OK;
}
