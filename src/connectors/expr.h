/*
 * The filter expression language: compiles a text such as
 * "`IMDB Rating` >= 7 and Year is not null" into a tree once, then evaluates
 * it against records without allocating. docs/filter.md is the reference.
 */
#ifndef AGORA_EXPR_H
#define AGORA_EXPR_H

#include <stdbool.h>

#include "agora/error.h"
#include "agora/value.h"

typedef struct expr expr;

/* Maximum nesting of parentheses, lists and `not`, so evaluation cannot
 * exhaust the stack. */
#define EXPR_MAX_DEPTH 200

/*
 * Compiles text (NUL-terminated). Regular expressions after `matches` are
 * compiled here too. Returns a heap expression freed by expr_free, or NULL
 * with err filled: AGORA_ECONFIG with key "expression" and a message that
 * starts "filter expression: column N: " (N counts characters from 1), or
 * AGORA_ENOMEM.
 */
expr *expr_compile(const char *text, agora_error *err);

/* Frees an expression. Accepts NULL. */
void expr_free(expr *e);

/*
 * Evaluates e against record and returns 1 when it is true, 0 when it is
 * false (any result other than boolean true counts as false), or a negative
 * code with err filled when a regular expression match fails (invalid UTF-8
 * in the subject, PCRE2 match limit).
 *
 * Allocates nothing. Not safe to call on one expression from two threads at
 * once, because each `matches` node reuses one PCRE2 match-data block.
 */
int expr_eval(const expr *e, const agora_value *record, agora_error *err);

#endif
