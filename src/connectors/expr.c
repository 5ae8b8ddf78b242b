/*
 * Filter expressions: a hand-written lexer and recursive-descent parser that
 * build a tree in an arena, and an evaluator that walks the tree.
 *
 * Precedence, lowest first: or, and, not, then one predicate (comparison,
 * is [not] null, [not] in, [not] contains, [not] matches) over operands
 * (literals, field paths, parenthesised expressions). Everything the tree
 * needs is allocated at compile time, so evaluation never allocates.
 */
#include "connectors/expr.h"

#define PCRE2_CODE_UNIT_WIDTH 8

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- Tree -------------------------------------------------------------- */

typedef enum tok_kind {
    T_END,
    T_IDENT,
    T_QUOTED_NAME,
    T_INT,
    T_FLOAT,
    T_STRING,
    T_LPAREN,
    T_RPAREN,
    T_LBRACKET,
    T_RBRACKET,
    T_COMMA,
    T_DOT,
    T_EQ,
    T_NE,
    T_LT,
    T_LE,
    T_GT,
    T_GE,
    /* keywords, in the order of keyword_names */
    T_AND,
    T_OR,
    T_NOT,
    T_IS,
    T_NULL,
    T_TRUE,
    T_FALSE,
    T_IN,
    T_CONTAINS,
    T_MATCHES
} tok_kind;

static const char *const keyword_names[] = {
    "and", "or", "not", "is", "null", "true", "false", "in", "contains",
    "matches",
};

typedef enum node_kind {
    N_VALUE, /* literal, or a list literal as an array value */
    N_FIELD,
    N_OR,  /* n-ary */
    N_AND, /* n-ary */
    N_NOT,
    N_CMP,
    N_IS_NULL,
    N_IN,
    N_CONTAINS,
    N_MATCHES
} node_kind;

typedef struct expr_regex {
    pcre2_code *code;
    pcre2_match_data *match; /* one per node, reused by every match */
    const char *pattern;     /* for error messages, in the arena */
    struct expr_regex *next;
} expr_regex;

typedef struct expr_node expr_node;
struct expr_node {
    node_kind kind;
    tok_kind op;  /* N_CMP: T_EQ .. T_GE */
    bool negate;  /* is not null, not in, not contains, not matches */
    expr_node *left;
    expr_node *right;
    expr_node **items;   /* N_AND, N_OR: operands in order */
    size_t item_count;
    agora_value value;   /* N_VALUE */
    agora_string *path;  /* N_FIELD: keys from the record root */
    size_t path_len;
    expr_regex *regex;   /* N_MATCHES */
};

struct expr {
    agora_arena *arena; /* every node, string and list of the tree */
    expr_node *root;
    expr_regex *regexes;
};

static const agora_value value_null = {.type = AGORA_NULL};
static const agora_value value_true = {.type = AGORA_BOOL, .u.boolean = true};
static const agora_value value_false = {.type = AGORA_BOOL,
                                        .u.boolean = false};

/* ---- Lexer ------------------------------------------------------------- */

typedef struct token {
    tok_kind kind;
    size_t start; /* byte offset in the text */
    size_t len;   /* bytes of source text */
    char *str;    /* T_STRING, T_QUOTED_NAME, T_IDENT: decoded, in the arena */
    size_t str_len;
    int64_t integer;
    double number;
} token;

typedef struct parser {
    const char *text;
    size_t len;
    size_t pos; /* next byte for the lexer */
    token tok;  /* lookahead */
    token prev; /* token consumed last, for "after '>='" messages */
    bool has_prev;
    int depth;
    bool failed;
    expr *e;
    agora_error *err;
} parser;

static int column_of(const parser *p, size_t offset)
{
    int column = 1;

    for (size_t i = 0; i < offset && i < p->len; i++) {
        if (((unsigned char)p->text[i] & 0xC0) != 0x80)
            column++;
    }
    return column;
}

/* Records the first error only: later ones are consequences of it. */
static void fail_at(parser *p, size_t offset, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static void fail_at(parser *p, size_t offset, int code, const char *fmt, ...)
{
    char detail[AGORA_ERROR_MESSAGE_MAX];
    va_list ap;

    if (p->failed)
        return;
    p->failed = true;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    agora_error_set_key(p->err, code, "expression",
                        "filter expression: column %d: %s",
                        column_of(p, offset), detail);
}

static void fail_nomem(parser *p)
{
    if (p->failed)
        return;
    p->failed = true;
    agora_error_set(p->err, AGORA_ENOMEM,
                    "filter expression: out of memory while compiling");
}

/* Writes a short quoted form of t for messages into buf. */
static const char *describe(const parser *p, const token *t, char *buf,
                            size_t size)
{
    if (t->kind == T_END)
        return "the end of the expression";
    if (t->len > 40)
        snprintf(buf, size, "'%.40s...'", p->text + t->start);
    else
        snprintf(buf, size, "'%.*s'", (int)t->len, p->text + t->start);
    return buf;
}

static bool is_ident_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_ident_char(char c)
{
    return is_ident_start(c) || is_digit(c);
}

static int lex_number(parser *p, token *t)
{
    const char *s = p->text;
    size_t i = p->pos;
    bool is_float = false;
    char buf[128];

    if (s[i] == '-')
        i++;
    while (i < p->len && is_digit(s[i]))
        i++;
    if (i < p->len && s[i] == '.') {
        i++;
        if (i >= p->len || !is_digit(s[i])) {
            fail_at(p, i, AGORA_ECONFIG, "expected a digit after '.' in a number");
            return -1;
        }
        while (i < p->len && is_digit(s[i]))
            i++;
        is_float = true;
    }
    if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < p->len && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= p->len || !is_digit(s[i])) {
            fail_at(p, i, AGORA_ECONFIG, "expected a digit in the exponent of a number");
            return -1;
        }
        while (i < p->len && is_digit(s[i]))
            i++;
        is_float = true;
    }
    if (i < p->len && (is_ident_char(s[i]) || s[i] == '.')) {
        size_t end = i;
        while (end < p->len && (is_ident_char(s[end]) || s[end] == '.'))
            end++;
        fail_at(p, p->pos, AGORA_ECONFIG,
                "invalid number '%.*s'; quote field names that start with a "
                "digit in backticks",
                (int)(end - p->pos), s + p->pos);
        return -1;
    }
    if (i - p->pos >= sizeof(buf)) {
        fail_at(p, p->pos, AGORA_ECONFIG, "number is too long (over %zu characters)",
                sizeof(buf) - 1);
        return -1;
    }
    memcpy(buf, s + p->pos, i - p->pos);
    buf[i - p->pos] = '\0';

    errno = 0;
    if (is_float) {
        t->kind = T_FLOAT;
        t->number = strtod(buf, NULL);
        if (errno == ERANGE && isinf(t->number)) {
            fail_at(p, p->pos, AGORA_ECONFIG, "number %s is too large", buf);
            return -1;
        }
    } else {
        t->kind = T_INT;
        t->integer = strtoll(buf, NULL, 10);
        if (errno == ERANGE) {
            fail_at(p, p->pos, AGORA_ECONFIG,
                    "integer %s is out of the 64-bit range", buf);
            return -1;
        }
    }
    t->len = i - p->pos;
    return 0;
}

/*
 * Lexes a quoted string or a backtick name starting at p->pos. In strings a
 * backslash escapes the quote character and itself; any other backslash is
 * kept, so regular expressions such as '^\d+$' need no doubling. In backtick
 * names, two backticks are read as one.
 */
static int lex_quoted(parser *p, token *t)
{
    const char *s = p->text;
    char quote = s[p->pos];
    size_t i = p->pos + 1;
    size_t out = 0;
    char *buf;

    buf = agora_arena_alloc(p->e->arena, p->len - p->pos + 1);
    if (buf == NULL) {
        fail_nomem(p);
        return -1;
    }
    for (;;) {
        if (i >= p->len) {
            fail_at(p, p->pos, AGORA_ECONFIG,
                    "%s starting here is not closed with a %s",
                    quote == '`' ? "field name" : "string",
                    quote == '`'    ? "backtick"
                    : quote == '\'' ? "single quote"
                                    : "double quote");
            return -1;
        }
        if (quote == '`' && s[i] == '`') {
            if (i + 1 < p->len && s[i + 1] == '`') {
                buf[out++] = '`';
                i += 2;
                continue;
            }
            break;
        }
        if (quote != '`' && s[i] == quote)
            break;
        if (quote != '`' && s[i] == '\\' && i + 1 < p->len &&
            (s[i + 1] == quote || s[i + 1] == '\\')) {
            buf[out++] = s[i + 1];
            i += 2;
            continue;
        }
        buf[out++] = s[i++];
    }
    buf[out] = '\0';

    t->kind = quote == '`' ? T_QUOTED_NAME : T_STRING;
    t->str = buf;
    t->str_len = out;
    t->len = i + 1 - p->pos;
    if (t->kind == T_QUOTED_NAME && out == 0) {
        fail_at(p, p->pos, AGORA_ECONFIG, "empty field name between backticks");
        return -1;
    }
    return 0;
}

static int lex_word(parser *p, token *t)
{
    size_t i = p->pos;

    while (i < p->len && is_ident_char(p->text[i]))
        i++;
    t->len = i - p->pos;
    t->kind = T_IDENT;
    for (size_t k = 0; k < sizeof(keyword_names) / sizeof(keyword_names[0]);
         k++) {
        if (strlen(keyword_names[k]) == t->len &&
            memcmp(keyword_names[k], p->text + p->pos, t->len) == 0) {
            t->kind = (tok_kind)(T_AND + k);
            break;
        }
    }
    t->str = agora_arena_strndup(p->e->arena, p->text + p->pos, t->len);
    if (t->str == NULL) {
        fail_nomem(p);
        return -1;
    }
    t->str_len = t->len;
    return 0;
}

static int lex_operator(parser *p, token *t)
{
    const char *s = p->text + p->pos;
    char next = p->pos + 1 < p->len ? s[1] : '\0';

    t->len = 1;
    switch (s[0]) {
    case '(': t->kind = T_LPAREN; return 0;
    case ')': t->kind = T_RPAREN; return 0;
    case '[': t->kind = T_LBRACKET; return 0;
    case ']': t->kind = T_RBRACKET; return 0;
    case ',': t->kind = T_COMMA; return 0;
    case '.': t->kind = T_DOT; return 0;
    case '<':
    case '>':
        t->kind = s[0] == '<' ? T_LT : T_GT;
        if (next == '=') {
            t->kind = s[0] == '<' ? T_LE : T_GE;
            t->len = 2;
        }
        return 0;
    case '=':
        if (next == '=') {
            t->kind = T_EQ;
            t->len = 2;
            return 0;
        }
        /* "=>" and "=<" are ">=" and "<=" typed in the wrong order. */
        if (next == '>' || next == '<') {
            fail_at(p, p->pos, AGORA_ECONFIG,
                    "unexpected '=%c'; use '%c=' to test %s than or equal to",
                    next, next, next == '>' ? "greater" : "less");
            return -1;
        }
        fail_at(p, p->pos, AGORA_ECONFIG, "unexpected '='; use '==' to test equality");
        return -1;
    case '!':
        if (next == '=') {
            t->kind = T_NE;
            t->len = 2;
            return 0;
        }
        fail_at(p, p->pos, AGORA_ECONFIG, "unexpected '!'; use 'not' to negate");
        return -1;
    case '&':
        fail_at(p, p->pos, AGORA_ECONFIG, "unexpected '&'; use 'and'");
        return -1;
    case '|':
        fail_at(p, p->pos, AGORA_ECONFIG, "unexpected '|'; use 'or'");
        return -1;
    default:
        break;
    }

    /* Print a whole UTF-8 sequence rather than its first byte. */
    size_t n = 1;
    while (p->pos + n < p->len && n < 4 &&
           ((unsigned char)s[n] & 0xC0) == 0x80)
        n++;
    fail_at(p, p->pos, AGORA_ECONFIG, "unexpected character '%.*s'", (int)n, s);
    return -1;
}

/* Reads the next token into p->tok. Returns 0, or -1 with the error set. */
static int advance(parser *p)
{
    token *t = &p->tok;
    const char *s = p->text;

    if (p->tok.kind != T_END || p->has_prev) {
        p->prev = p->tok;
        p->has_prev = true;
    }
    while (p->pos < p->len &&
           (s[p->pos] == ' ' || s[p->pos] == '\t' || s[p->pos] == '\n' ||
            s[p->pos] == '\r'))
        p->pos++;

    memset(t, 0, sizeof(*t));
    t->start = p->pos;
    if (p->pos >= p->len) {
        t->kind = T_END;
        return 0;
    }

    char c = s[p->pos];
    int rc;
    if (is_digit(c) || (c == '-' && p->pos + 1 < p->len && is_digit(s[p->pos + 1])))
        rc = lex_number(p, t);
    else if (c == '\'' || c == '"' || c == '`')
        rc = lex_quoted(p, t);
    else if (is_ident_start(c))
        rc = lex_word(p, t);
    else
        rc = lex_operator(p, t);
    if (rc != 0)
        return -1;
    p->pos += t->len;
    return 0;
}

/* ---- Parser ------------------------------------------------------------ */

static expr_node *node_new(parser *p, node_kind kind)
{
    expr_node *n = agora_arena_alloc(p->e->arena, sizeof(*n));

    if (n == NULL) {
        fail_nomem(p);
        return NULL;
    }
    memset(n, 0, sizeof(*n));
    n->kind = kind;
    return n;
}

static bool enter(parser *p)
{
    if (++p->depth > EXPR_MAX_DEPTH) {
        fail_at(p, p->tok.start, AGORA_ECONFIG,
                "expression nests deeper than %d levels", EXPR_MAX_DEPTH);
        return false;
    }
    return true;
}

static bool is_literal(tok_kind k)
{
    return k == T_INT || k == T_FLOAT || k == T_STRING || k == T_TRUE ||
           k == T_FALSE || k == T_NULL;
}

static void literal_value(const token *t, agora_value *v)
{
    memset(v, 0, sizeof(*v));
    switch (t->kind) {
    case T_INT:
        v->type = AGORA_INT;
        v->u.integer = t->integer;
        break;
    case T_FLOAT:
        v->type = AGORA_DOUBLE;
        v->u.number = t->number;
        break;
    case T_STRING:
        v->type = AGORA_STRING;
        v->u.string.ptr = t->str;
        v->u.string.len = t->str_len;
        break;
    case T_TRUE:
    case T_FALSE:
        v->type = AGORA_BOOL;
        v->u.boolean = t->kind == T_TRUE;
        break;
    default:
        v->type = AGORA_NULL;
        break;
    }
}

static void fail_expected(parser *p, const char *what)
{
    char found[64];
    char after[64];

    if (p->has_prev)
        fail_at(p, p->tok.start, AGORA_ECONFIG, "expected %s after %s, found %s", what,
                describe(p, &p->prev, after, sizeof(after)),
                describe(p, &p->tok, found, sizeof(found)));
    else
        fail_at(p, p->tok.start, AGORA_ECONFIG, "expected %s, found %s", what,
                describe(p, &p->tok, found, sizeof(found)));
}

static bool is_keyword(const char *word, size_t len, bool ignore_case)
{
    for (size_t k = 0; k < sizeof(keyword_names) / sizeof(keyword_names[0]);
         k++) {
        if (strlen(keyword_names[k]) != len)
            continue;
        if (ignore_case ? strncasecmp(keyword_names[k], word, len) == 0
                        : memcmp(keyword_names[k], word, len) == 0)
            return true;
    }
    return false;
}

/*
 * Writes into buf a sentence to append to "expected ..., found X" when X is
 * an unexpected bare word, or "" when no hint fits. A keyword in the wrong
 * case ("AND") gets the lower-case spelling. A bare word right after another
 * bare word ("IMDB Rating >= 8") most likely continues a field name with a
 * space in it. The hint shows that name in backticks, taking the words from
 * the previous one up to the next operator, keyword or symbol.
 */
static const char *word_hint(const parser *p, char *buf, size_t size)
{
    const char *s = p->text;
    size_t end;

    buf[0] = '\0';
    if (p->tok.kind != T_IDENT)
        return buf;
    if (is_keyword(s + p->tok.start, p->tok.len, true)) {
        char lower[16]; /* keywords have at most 8 letters ("contains") */

        for (size_t i = 0; i < p->tok.len && i < sizeof(lower) - 1; i++)
            lower[i] = (char)tolower((unsigned char)p->tok.str[i]);
        lower[p->tok.len < sizeof(lower) ? p->tok.len : sizeof(lower) - 1] =
            '\0';
        snprintf(buf, size, ". Keywords are lower case, so write '%s'", lower);
        return buf;
    }
    if (!p->has_prev || p->prev.kind != T_IDENT)
        return buf;

    end = p->tok.start + p->tok.len;
    for (;;) {
        size_t word = end;
        size_t word_end;

        while (word < p->len && s[word] == ' ')
            word++;
        if (word == end || word >= p->len || !is_ident_start(s[word]))
            break;
        word_end = word;
        while (word_end < p->len && is_ident_char(s[word_end]))
            word_end++;
        if (is_keyword(s + word, word_end - word, false))
            break;
        end = word_end;
    }
    if (end - p->prev.start > 60)
        snprintf(buf, size,
                 ". Field names with spaces or symbols must be written in "
                 "backticks, e.g. `IMDB Rating`");
    else
        snprintf(buf, size,
                 ". Field names with spaces or symbols must be written in "
                 "backticks, e.g. `%.*s`",
                 (int)(end - p->prev.start), s + p->prev.start);
    return buf;
}

static expr_node *parse_or(parser *p);

/* field := name ('.' name)*, where a name is an identifier or `quoted`. */
static expr_node *parse_field(parser *p)
{
    expr_node *n = node_new(p, N_FIELD);
    size_t cap = 4;

    if (n == NULL)
        return NULL;
    n->path = agora_arena_alloc(p->e->arena, cap * sizeof(agora_string));
    if (n->path == NULL) {
        fail_nomem(p);
        return NULL;
    }
    for (;;) {
        if (n->path_len == cap) {
            agora_string *bigger =
                agora_arena_alloc(p->e->arena, 2 * cap * sizeof(agora_string));
            if (bigger == NULL) {
                fail_nomem(p);
                return NULL;
            }
            memcpy(bigger, n->path, cap * sizeof(agora_string));
            n->path = bigger;
            cap *= 2;
        }
        n->path[n->path_len].ptr = p->tok.str;
        n->path[n->path_len].len = p->tok.str_len;
        n->path_len++;
        if (advance(p) != 0)
            return NULL;
        if (p->tok.kind != T_DOT)
            return n;
        if (advance(p) != 0)
            return NULL;
        /* After a dot a keyword is just a key: a.in is unambiguous. */
        if (p->tok.kind != T_IDENT && p->tok.kind != T_QUOTED_NAME &&
            p->tok.kind < T_AND) {
            fail_expected(p, "a field name");
            return NULL;
        }
    }
}

/* operand := literal | field | '(' expr ')' */
static expr_node *parse_operand(parser *p)
{
    expr_node *n;

    if (is_literal(p->tok.kind)) {
        n = node_new(p, N_VALUE);
        if (n == NULL)
            return NULL;
        literal_value(&p->tok, &n->value);
        if (advance(p) != 0)
            return NULL;
        return n;
    }
    if (p->tok.kind == T_IDENT || p->tok.kind == T_QUOTED_NAME)
        return parse_field(p);
    if (p->tok.kind == T_LPAREN) {
        size_t open = p->tok.start;
        char found[64];
        char hint[160];

        if (!enter(p) || advance(p) != 0)
            return NULL;
        n = parse_or(p);
        if (n == NULL)
            return NULL;
        if (p->tok.kind != T_RPAREN) {
            fail_at(p, p->tok.start, AGORA_ECONFIG,
                    "expected ')' to close the '(' at column %d, found %s%s",
                    column_of(p, open),
                    describe(p, &p->tok, found, sizeof(found)),
                    word_hint(p, hint, sizeof(hint)));
            return NULL;
        }
        p->depth--;
        if (advance(p) != 0)
            return NULL;
        return n;
    }
    fail_expected(p, "a value");
    return NULL;
}

/* list := '[' (literal (',' literal)* ','?)? ']', built as an array value. */
static expr_node *parse_list(parser *p)
{
    expr_node *n = node_new(p, N_VALUE);
    agora_value *array;

    if (n == NULL)
        return NULL;
    array = agora_value_array(p->e->arena, 4);
    if (array == NULL) {
        fail_nomem(p);
        return NULL;
    }
    if (advance(p) != 0)
        return NULL;
    while (p->tok.kind != T_RBRACKET) {
        agora_value *item;

        if (!is_literal(p->tok.kind)) {
            fail_expected(p, "a literal value or ']'");
            return NULL;
        }
        item = agora_arena_alloc(p->e->arena, sizeof(*item));
        if (item == NULL || agora_array_push(p->e->arena, array, item) != 0) {
            fail_nomem(p);
            return NULL;
        }
        literal_value(&p->tok, item);
        if (advance(p) != 0)
            return NULL;
        if (p->tok.kind == T_COMMA) {
            if (advance(p) != 0)
                return NULL;
        } else if (p->tok.kind != T_RBRACKET) {
            fail_expected(p, "',' or ']'");
            return NULL;
        }
    }
    if (advance(p) != 0)
        return NULL;
    n->value = *array;
    return n;
}

static expr_regex *compile_regex(parser *p, const token *t)
{
    expr_regex *re = agora_arena_alloc(p->e->arena, sizeof(*re));
    int code;
    PCRE2_SIZE offset;

    if (re == NULL) {
        fail_nomem(p);
        return NULL;
    }
    memset(re, 0, sizeof(*re));
    re->pattern = t->str;
    re->code = pcre2_compile((PCRE2_SPTR)t->str, t->str_len, PCRE2_UTF, &code,
                             &offset, NULL);
    if (re->code == NULL) {
        PCRE2_UCHAR message[256];

        pcre2_get_error_message(code, message, sizeof(message));
        fail_at(p, t->start, AGORA_ECONFIG,
                "invalid regular expression '%s': %s at offset %zu of the "
                "pattern",
                t->str, (const char *)message, (size_t)offset);
        return NULL;
    }
    /* Link before anything else can fail so expr_free releases it. */
    re->next = p->e->regexes;
    p->e->regexes = re;
    /* JIT is an optimisation: when it is unavailable pcre2_match interprets. */
    (void)pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);
    re->match = pcre2_match_data_create(1, NULL);
    if (re->match == NULL) {
        fail_nomem(p);
        return NULL;
    }
    return re;
}

/* Parses a predicate (grammar at parse_predicate) without judging it. */
static expr_node *build_predicate(parser *p)
{
    expr_node *left = parse_operand(p);
    expr_node *n;
    bool negate = false;

    if (left == NULL)
        return NULL;

    switch (p->tok.kind) {
    case T_EQ:
    case T_NE:
    case T_LT:
    case T_LE:
    case T_GT:
    case T_GE:
        n = node_new(p, N_CMP);
        if (n == NULL)
            return NULL;
        n->op = p->tok.kind;
        n->left = left;
        if (advance(p) != 0)
            return NULL;
        n->right = parse_operand(p);
        return n->right != NULL ? n : NULL;
    case T_IS:
        n = node_new(p, N_IS_NULL);
        if (n == NULL || advance(p) != 0)
            return NULL;
        n->left = left;
        if (p->tok.kind == T_NOT) {
            n->negate = true;
            if (advance(p) != 0)
                return NULL;
        }
        if (p->tok.kind != T_NULL) {
            fail_expected(p, "'null'");
            return NULL;
        }
        if (advance(p) != 0)
            return NULL;
        return n;
    case T_NOT:
        negate = true;
        if (advance(p) != 0)
            return NULL;
        if (p->tok.kind != T_IN && p->tok.kind != T_CONTAINS &&
            p->tok.kind != T_MATCHES) {
            fail_expected(p, "'in', 'contains' or 'matches'");
            return NULL;
        }
        break;
    case T_IN:
    case T_CONTAINS:
    case T_MATCHES:
        break;
    default:
        return left; /* a bare operand: true only when it is boolean true */
    }

    tok_kind op = p->tok.kind;
    node_kind kind = N_MATCHES;
    if (op == T_IN)
        kind = N_IN;
    else if (op == T_CONTAINS)
        kind = N_CONTAINS;
    n = node_new(p, kind);
    if (n == NULL || advance(p) != 0)
        return NULL;
    n->left = left;
    n->negate = negate;
    if (op == T_MATCHES) {
        if (p->tok.kind != T_STRING) {
            fail_expected(p, "a quoted regular expression");
            return NULL;
        }
        n->regex = compile_regex(p, &p->tok);
        if (n->regex == NULL || advance(p) != 0)
            return NULL;
        return n;
    }
    if (op == T_IN && p->tok.kind == T_LBRACKET)
        n->right = parse_list(p);
    else
        n->right = parse_operand(p);
    return n->right != NULL ? n : NULL;
}

static const char *predicate_name(const expr_node *n)
{
    switch (n->kind) {
    case N_CMP:
        switch (n->op) {
        case T_EQ: return "==";
        case T_NE: return "!=";
        case T_LT: return "<";
        case T_LE: return "<=";
        case T_GT: return ">";
        default: return ">=";
        }
    case N_IS_NULL: return n->negate ? "is not null" : "is null";
    case N_IN: return n->negate ? "not in" : "in";
    case N_CONTAINS: return n->negate ? "not contains" : "contains";
    default: return n->negate ? "not matches" : "matches";
    }
}

/*
 * Writes the field name for the "backticks, not quotes" hint: the text of
 * the string literal among the operands, with backticks doubled, or a
 * generic name when there is none or it would not print well.
 */
static void backtick_example(const expr_node *n, char *buf, size_t size)
{
    const agora_value *v = NULL;
    size_t out = 0;

    if (n->left->kind == N_VALUE && n->left->value.type == AGORA_STRING)
        v = &n->left->value;
    else if (n->kind != N_IS_NULL && n->kind != N_MATCHES &&
             n->right->kind == N_VALUE && n->right->value.type == AGORA_STRING)
        v = &n->right->value;
    if (v != NULL && v->u.string.len > 0 && v->u.string.len <= 40) {
        for (size_t i = 0; i < v->u.string.len && out + 3 < size; i++) {
            char c = v->u.string.ptr[i];

            if ((unsigned char)c < 0x20 || c == 0x7F) {
                out = 0;
                break;
            }
            if (c == '`')
                buf[out++] = '`';
            buf[out++] = c;
        }
    }
    if (out == 0) {
        snprintf(buf, size, "IMDB Rating");
        return;
    }
    buf[out] = '\0';
}

/*
 * Sets the error and returns true when every operand of predicate n is a
 * literal, as in 'IMDB Rating' >= 8. Such a predicate has the same result
 * for every record, and the usual cause is a field name written in quotes,
 * which makes it a string.
 */
static bool reject_constant(parser *p, size_t start, const expr_node *n)
{
    char example[128];
    bool constant = false;

    switch (n->kind) {
    case N_CMP:
    case N_IN:
    case N_CONTAINS:
        constant = n->left->kind == N_VALUE && n->right->kind == N_VALUE;
        break;
    case N_IS_NULL:
    case N_MATCHES: /* the pattern is always a literal */
        constant = n->left->kind == N_VALUE;
        break;
    default:
        break;
    }
    if (!constant)
        return false;

    backtick_example(n, example, sizeof(example));
    if (n->kind == N_IS_NULL)
        fail_at(p, start, AGORA_ECONFIG,
                "the value tested by '%s' is a constant, so the result is "
                "the same for every record. A field name with spaces is "
                "written in backticks (`%s`), not in quotes",
                predicate_name(n), example);
    else
        fail_at(p, start, AGORA_ECONFIG,
                "both sides of '%s' are constants, so the result is the same "
                "for every record. A field name with spaces is written in "
                "backticks (`%s`), not in quotes",
                predicate_name(n), example);
    return true;
}

/*
 * predicate := operand ( cmp operand | 'is' 'not'? 'null'
 *              | 'not'? ('in' (list | operand) | 'contains' operand
 *                        | 'matches' string) )?
 */
static expr_node *parse_predicate(parser *p)
{
    size_t start = p->tok.start;
    expr_node *n = build_predicate(p);

    if (n == NULL || reject_constant(p, start, n))
        return NULL;
    return n;
}

/* not := 'not' not | predicate */
static expr_node *parse_not(parser *p)
{
    if (p->tok.kind != T_NOT)
        return parse_predicate(p);

    expr_node *n = node_new(p, N_NOT);
    if (n == NULL || !enter(p) || advance(p) != 0)
        return NULL;
    n->left = parse_not(p);
    p->depth--;
    return n->left != NULL ? n : NULL;
}

/*
 * Builds an n-ary N_AND or N_OR node from first and the operands that follow
 * each `op` token. A chain is one node so that evaluating a long chain does
 * not recurse once per operand.
 */
static expr_node *parse_chain(parser *p, node_kind kind, tok_kind op,
                              expr_node *(*operand)(parser *),
                              expr_node *first)
{
    expr_node *n;
    size_t cap = 4;

    if (first == NULL || p->tok.kind != op)
        return first;
    n = node_new(p, kind);
    if (n == NULL)
        return NULL;
    n->items = agora_arena_alloc(p->e->arena, cap * sizeof(expr_node *));
    if (n->items == NULL) {
        fail_nomem(p);
        return NULL;
    }
    n->items[n->item_count++] = first;
    while (p->tok.kind == op) {
        expr_node *next;

        if (advance(p) != 0 || (next = operand(p)) == NULL)
            return NULL;
        if (n->item_count == cap) {
            expr_node **bigger =
                agora_arena_alloc(p->e->arena, 2 * cap * sizeof(expr_node *));
            if (bigger == NULL) {
                fail_nomem(p);
                return NULL;
            }
            memcpy(bigger, n->items, cap * sizeof(expr_node *));
            n->items = bigger;
            cap *= 2;
        }
        n->items[n->item_count++] = next;
    }
    return n;
}

/* and := not ('and' not)* */
static expr_node *parse_and(parser *p)
{
    return parse_chain(p, N_AND, T_AND, parse_not, parse_not(p));
}

/* or := and ('or' and)* */
static expr_node *parse_or(parser *p)
{
    return parse_chain(p, N_OR, T_OR, parse_and, parse_and(p));
}

expr *expr_compile(const char *text, agora_error *err)
{
    parser p;
    expr *e;

    e = calloc(1, sizeof(*e));
    if (e == NULL)
        goto nomem;
    /* 4 KiB blocks: the expressions in docs/filter.md each fit in one. */
    e->arena = agora_arena_new(4096);
    if (e->arena == NULL)
        goto nomem;

    memset(&p, 0, sizeof(p));
    p.text = text != NULL ? text : "";
    p.len = strlen(p.text);
    p.e = e;
    p.err = err;

    if (advance(&p) != 0)
        goto fail;
    if (p.tok.kind == T_END) {
        fail_at(&p, 0, AGORA_ECONFIG, "the expression is empty");
        goto fail;
    }
    e->root = parse_or(&p);
    if (e->root == NULL)
        goto fail;
    if (p.tok.kind != T_END) {
        char found[64];
        char hint[160];

        fail_at(&p, p.tok.start, AGORA_ECONFIG,
                "expected 'and', 'or' or the end of the expression, found %s%s",
                describe(&p, &p.tok, found, sizeof(found)),
                word_hint(&p, hint, sizeof(hint)));
        goto fail;
    }
    /* A lone literal other than true or false is never true, so such a
     * filter would drop every record without a word. */
    if (e->root->kind == N_VALUE && e->root->value.type != AGORA_BOOL) {
        fail_at(&p, 0, AGORA_ECONFIG,
                "the expression is a constant that is never true, so the "
                "filter would drop every record. A field name with spaces is "
                "written in backticks (`IMDB Rating`), not in quotes");
        goto fail;
    }
    return e;

nomem:
    agora_error_set(err, AGORA_ENOMEM,
                    "filter expression: out of memory while compiling");
fail:
    expr_free(e);
    return NULL;
}

void expr_free(expr *e)
{
    if (e == NULL)
        return;
    for (expr_regex *re = e->regexes; re != NULL; re = re->next) {
        pcre2_match_data_free(re->match);
        pcre2_code_free(re->code);
    }
    agora_arena_free(e->arena);
    free(e);
}

/* ---- Evaluation -------------------------------------------------------- */

enum { ORDER_NONE = 2 }; /* result of comparing with NaN */

static int compare_int_double(int64_t i, double d)
{
    double whole;
    int64_t whole_int;

    if (isnan(d))
        return ORDER_NONE;
    /* 2^63 is exact as a double; beyond it every int64 is smaller. */
    if (d >= 9223372036854775808.0)
        return -1;
    if (d < -9223372036854775808.0)
        return 1;
    whole = trunc(d);
    whole_int = (int64_t)whole;
    if (i != whole_int)
        return i < whole_int ? -1 : 1;
    if (d > whole)
        return -1;
    if (d < whole)
        return 1;
    return 0;
}

static int compare_numbers(const agora_value *a, const agora_value *b)
{
    if (a->type == AGORA_INT && b->type == AGORA_INT)
        return (a->u.integer > b->u.integer) - (a->u.integer < b->u.integer);
    if (a->type == AGORA_INT)
        return compare_int_double(a->u.integer, b->u.number);
    if (b->type == AGORA_INT) {
        int c = compare_int_double(b->u.integer, a->u.number);
        return c == ORDER_NONE ? c : -c;
    }
    if (isnan(a->u.number) || isnan(b->u.number))
        return ORDER_NONE;
    return (a->u.number > b->u.number) - (a->u.number < b->u.number);
}

static int compare_strings(const agora_string *a, const agora_string *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = n > 0 ? memcmp(a->ptr, b->ptr, n) : 0;

    if (c != 0)
        return c < 0 ? -1 : 1;
    return (a->len > b->len) - (a->len < b->len);
}

static bool is_number(const agora_value *v)
{
    return v->type == AGORA_INT || v->type == AGORA_DOUBLE;
}

static bool order_matches(tok_kind op, int order)
{
    if (order == ORDER_NONE)
        return op == T_NE;
    switch (op) {
    case T_EQ: return order == 0;
    case T_NE: return order != 0;
    case T_LT: return order < 0;
    case T_LE: return order <= 0;
    case T_GT: return order > 0;
    case T_GE: return order >= 0;
    default: return false;
    }
}

/*
 * Numbers compare by value across int and double, strings by bytes. Other
 * values of one type support only == and != (structural). Values of
 * different types are unequal and unordered.
 */
static bool compare(tok_kind op, const agora_value *a, const agora_value *b)
{
    bool equal;

    if (is_number(a) && is_number(b))
        return order_matches(op, compare_numbers(a, b));
    if (a->type != b->type)
        return op == T_NE;
    if (a->type == AGORA_STRING)
        return order_matches(op, compare_strings(&a->u.string, &b->u.string));
    if (op != T_EQ && op != T_NE)
        return false;
    equal = agora_value_equal(a, b);
    return op == T_EQ ? equal : !equal;
}

static const agora_value *lookup(const expr_node *n, const agora_value *record)
{
    const agora_value *v = record;

    for (size_t i = 0; i < n->path_len; i++) {
        if (v == NULL || v->type != AGORA_OBJECT)
            return &value_null;
        v = agora_object_get(v, n->path[i].ptr, n->path[i].len);
    }
    return v != NULL ? v : &value_null;
}

static int eval_truth(const expr_node *n, const agora_value *record,
                      agora_error *err);

static int eval_value(const expr_node *n, const agora_value *record,
                      const agora_value **out, agora_error *err)
{
    int rc;

    if (n->kind == N_VALUE) {
        *out = &n->value;
        return 0;
    }
    if (n->kind == N_FIELD) {
        *out = lookup(n, record);
        return 0;
    }
    rc = eval_truth(n, record, err);
    if (rc < 0)
        return rc;
    *out = rc ? &value_true : &value_false;
    return 0;
}

static bool contains(const agora_value *haystack, const agora_value *needle)
{
    if (haystack->type == AGORA_STRING) {
        if (needle->type != AGORA_STRING)
            return false;
        if (needle->u.string.len == 0)
            return true;
        return memmem(haystack->u.string.ptr, haystack->u.string.len,
                      needle->u.string.ptr, needle->u.string.len) != NULL;
    }
    if (haystack->type == AGORA_ARRAY) {
        for (size_t i = 0; i < haystack->u.array.len; i++) {
            if (compare(T_EQ, haystack->u.array.items[i], needle))
                return true;
        }
    }
    return false;
}

static int match_regex(const expr_regex *re, const agora_value *subject,
                       agora_error *err)
{
    int rc;

    if (subject->type != AGORA_STRING)
        return 0;
    rc = pcre2_match(re->code, (PCRE2_SPTR)subject->u.string.ptr,
                     subject->u.string.len, 0, 0, re->match, NULL);
    if (rc >= 0)
        return 1;
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;

    PCRE2_UCHAR message[256];
    pcre2_get_error_message(rc, message, sizeof(message));
    return agora_error_set(err, AGORA_EMIDDLEWARE,
                           "filter: matching '%s' failed: %s", re->pattern,
                           (const char *)message);
}

static int eval_truth(const expr_node *n, const agora_value *record,
                      agora_error *err)
{
    const agora_value *a;
    const agora_value *b;
    int rc;

    switch (n->kind) {
    case N_OR:
        for (size_t i = 0; i < n->item_count; i++) {
            if ((rc = eval_truth(n->items[i], record, err)) != 0)
                return rc; /* true, or an error */
        }
        return 0;
    case N_AND:
        for (size_t i = 0; i < n->item_count; i++) {
            if ((rc = eval_truth(n->items[i], record, err)) <= 0)
                return rc; /* false, or an error */
        }
        return 1;
    case N_NOT:
        rc = eval_truth(n->left, record, err);
        return rc < 0 ? rc : !rc;
    case N_VALUE:
    case N_FIELD:
        if ((rc = eval_value(n, record, &a, err)) < 0)
            return rc;
        return a->type == AGORA_BOOL && a->u.boolean;
    case N_IS_NULL:
        if ((rc = eval_value(n->left, record, &a, err)) < 0)
            return rc;
        return (a->type == AGORA_NULL) != n->negate;
    case N_MATCHES:
        if ((rc = eval_value(n->left, record, &a, err)) < 0)
            return rc;
        rc = match_regex(n->regex, a, err);
        return rc < 0 ? rc : rc != n->negate;
    default:
        break;
    }

    if ((rc = eval_value(n->left, record, &a, err)) < 0 ||
        (rc = eval_value(n->right, record, &b, err)) < 0)
        return rc;
    switch (n->kind) {
    case N_CMP:
        return compare(n->op, a, b);
    case N_IN:
        return (b->type == AGORA_ARRAY && contains(b, a)) != n->negate;
    case N_CONTAINS:
        return contains(a, b) != n->negate;
    default:
        return 0;
    }
}

int expr_eval(const expr *e, const agora_value *record, agora_error *err)
{
    if (e == NULL || e->root == NULL)
        return agora_error_set(err, AGORA_EINVAL,
                               "filter: no compiled expression");
    return eval_truth(e->root, record, err);
}
