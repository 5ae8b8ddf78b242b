/*
 * Scanners for the TOML scalar forms: the four kinds of string, integers in
 * four bases, floats, booleans, and the four date-time kinds. Each reads the
 * token at the parser's position and either fills a node or reports the
 * fault with its line and column.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/toml_internal.h"

static bool is_control(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

static void next_line(toml_parser *p, size_t next_pos)
{
    p->line++;
    p->line_start = next_pos;
}

static int buf_reserve(toml_parser *p, size_t extra)
{
    toml_buf *b = &p->scratch;
    size_t cap = b->cap ? b->cap : 64;
    char *grown;

    if (b->len + extra <= b->cap)
        return 0;
    while (cap < b->len + extra)
        cap *= 2;
    grown = realloc(b->data, cap);
    if (!grown)
        return toml_fail_nomem(p);
    b->data = grown;
    b->cap = cap;
    return 0;
}

static int buf_push(toml_parser *p, const char *s, size_t n)
{
    if (buf_reserve(p, n) < 0)
        return -1;
    memcpy(p->scratch.data + p->scratch.len, s, n);
    p->scratch.len += n;
    return 0;
}

static int buf_push_codepoint(toml_parser *p, uint32_t cp)
{
    char out[4];
    size_t n;

    if (cp < 0x80) {
        out[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        out[0] = (char)(0xf0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return buf_push(p, out, n);
}

/* Moves the scratch buffer into a NUL-terminated arena copy. */
static int buf_commit(toml_parser *p, char **out, size_t *out_len)
{
    char *copy = toml_arena_alloc(p->arena, p->scratch.len + 1);

    if (!copy)
        return toml_fail_nomem(p);
    if (p->scratch.len)
        memcpy(copy, p->scratch.data, p->scratch.len);
    copy[p->scratch.len] = '\0';
    *out = copy;
    *out_len = p->scratch.len;
    return 0;
}

static int fail_control(toml_parser *p, size_t pos, const char *kind_name)
{
    unsigned char c = (unsigned char)p->text[pos];

    return toml_fail(p, p->line, toml_column(p, pos),
                     "control character U+%04X is not allowed in %s; "
                     "write it as the escape \\u%04X in a basic string",
                     c, kind_name, c);
}

/* Reads the \uXXXX or \UXXXXXXXX escape whose backslash is at p->pos. */
static int scan_unicode_escape(toml_parser *p)
{
    size_t start = p->pos;
    size_t digits = p->text[start + 1] == 'u' ? 4 : 8;
    uint32_t cp = 0;

    for (size_t i = 0; i < digits; i++) {
        size_t at = start + 2 + i;
        char c = at < p->len ? p->text[at] : '\0';

        if (!isxdigit((unsigned char)c))
            return toml_fail(p, p->line, toml_column(p, start),
                             "invalid escape: \\%c needs exactly %zu "
                             "hexadecimal digits",
                             p->text[start + 1], digits);
        cp = cp * 16 + (uint32_t)(isdigit((unsigned char)c)
                                      ? c - '0'
                                      : (tolower((unsigned char)c) - 'a' + 10));
    }
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return toml_fail(p, p->line, toml_column(p, start),
                         "invalid escape: U+%04" PRIX32 " is not a Unicode "
                         "scalar value (surrogates and values above "
                         "U+10FFFF are excluded)",
                         cp);
    p->pos = start + 2 + digits;
    return buf_push_codepoint(p, cp);
}

/*
 * Skips a line-ending backslash in a multi-line basic string: the backslash,
 * spaces and tabs, the newline, then every whitespace and newline up to the
 * next other character. p->pos is on the backslash.
 */
static int skip_line_ending_backslash(toml_parser *p)
{
    size_t start = p->pos;
    size_t i = start + 1;

    while (i < p->len && (p->text[i] == ' ' || p->text[i] == '\t'))
        i++;
    if (i < p->len && p->text[i] == '\r' && i + 1 < p->len &&
        p->text[i + 1] == '\n')
        i++;
    if (i >= p->len || p->text[i] != '\n')
        return toml_fail(p, p->line, toml_column(p, start),
                         "invalid escape: a backslash followed by whitespace "
                         "must be the last thing on its line");
    for (;;) {
        char c = i < p->len ? p->text[i] : '\0';

        if (c == '\n') {
            next_line(p, i + 1);
        } else if (c == '\r' && i + 1 < p->len && p->text[i + 1] == '\n') {
            i++;
            next_line(p, i + 1);
        } else if (c != ' ' && c != '\t') {
            break;
        }
        i++;
    }
    p->pos = i;
    return 0;
}

static int scan_escape(toml_parser *p, bool multiline)
{
    size_t start = p->pos;
    char c = start + 1 < p->len ? p->text[start + 1] : '\0';
    const char *plain = NULL;

    switch (c) {
    case 'b': plain = "\b"; break;
    case 't': plain = "\t"; break;
    case 'n': plain = "\n"; break;
    case 'f': plain = "\f"; break;
    case 'r': plain = "\r"; break;
    case '"': plain = "\""; break;
    case '\\': plain = "\\"; break;
    case 'u':
    case 'U':
        return scan_unicode_escape(p);
    default:
        break;
    }
    if (plain) {
        p->pos = start + 2;
        return buf_push(p, plain, 1);
    }
    if (multiline && (c == ' ' || c == '\t' || c == '\n' || c == '\r'))
        return skip_line_ending_backslash(p);
    if (start + 1 >= p->len || is_control((unsigned char)c))
        return toml_fail(p, p->line, toml_column(p, start),
                         "invalid escape: a backslash must be followed by "
                         "one of b, t, n, f, r, \", \\, u or U");
    return toml_fail(p, p->line, toml_column(p, start),
                     "invalid escape \"\\%c\": TOML 1.0 allows only \\b, \\t, "
                     "\\n, \\f, \\r, \\\", \\\\, \\uXXXX and \\UXXXXXXXX; write "
                     "a literal backslash as \\\\",
                     c);
}

/*
 * Scans a basic ("...") or literal ('...') string, single-line or
 * multi-line. quote is the delimiter byte, is_multiline whether three of
 * them open the string.
 */
static int scan_quoted(toml_parser *p, char quote, bool is_multiline)
{
    int open_line = p->line;
    int open_column = toml_column(p, p->pos);
    bool is_basic = quote == '"';
    const char *kind_name = is_basic ? "a basic string" : "a literal string";
    const char *closing = is_basic ? (is_multiline ? "\"\"\"" : "\"")
                                   : (is_multiline ? "'''" : "'");

    p->scratch.len = 0;
    p->pos += is_multiline ? 3 : 1;

    /* A newline right after the opening delimiter is not part of the value. */
    if (is_multiline) {
        if (p->pos < p->len && p->text[p->pos] == '\n') {
            p->pos++;
            next_line(p, p->pos);
        } else if (p->pos + 1 < p->len && p->text[p->pos] == '\r' &&
                   p->text[p->pos + 1] == '\n') {
            p->pos += 2;
            next_line(p, p->pos);
        }
    }

    for (;;) {
        unsigned char c;

        if (p->pos >= p->len)
            return toml_fail(p, open_line, open_column,
                             "unterminated string: the closing %s is "
                             "missing before the end of the file",
                             closing);
        c = (unsigned char)p->text[p->pos];

        if (c == (unsigned char)quote) {
            size_t run = 1;

            if (!is_multiline) {
                p->pos++;
                return 0;
            }
            while (p->pos + run < p->len && p->text[p->pos + run] == quote)
                run++;
            if (run > 5)
                return toml_fail(p, p->line, toml_column(p, p->pos + 5),
                                 "too many quotes: a multi-line string may "
                                 "end with at most two quotes before its "
                                 "closing %s",
                                 closing);
            if (run >= 3) {
                for (size_t i = 0; i < run - 3; i++)
                    if (buf_push(p, &quote, 1) < 0)
                        return -1;
                p->pos += run;
                return 0;
            }
            for (size_t i = 0; i < run; i++)
                if (buf_push(p, &quote, 1) < 0)
                    return -1;
            p->pos += run;
        } else if (c == '\\' && is_basic) {
            if (scan_escape(p, is_multiline) < 0)
                return -1;
        } else if (c == '\n' || (c == '\r' && p->pos + 1 < p->len &&
                                 p->text[p->pos + 1] == '\n')) {
            if (!is_multiline)
                return toml_fail(p, open_line, open_column,
                                 "unterminated string: the closing %s is "
                                 "missing before the end of the line "
                                 "(use %s%s%s for a multi-line string)",
                                 closing, closing, closing, closing);
            /* Newlines in multi-line strings are stored as LF, whatever the
             * file uses. */
            if (buf_push(p, "\n", 1) < 0)
                return -1;
            p->pos += c == '\r' ? 2 : 1;
            next_line(p, p->pos);
        } else if (is_control(c)) {
            return fail_control(p, p->pos, kind_name);
        } else {
            size_t run = 1;

            /* Copy a run of ordinary bytes at once. */
            while (p->pos + run < p->len) {
                unsigned char d = (unsigned char)p->text[p->pos + run];

                if (d == (unsigned char)quote || d == '\\' || is_control(d))
                    break;
                run++;
            }
            if (buf_push(p, p->text + p->pos, run) < 0)
                return -1;
            p->pos += run;
        }
    }
}

int toml_scan_string(toml_parser *p, bool allow_multiline, char **out,
                     size_t *out_len)
{
    char quote = p->text[p->pos];
    bool is_multiline = p->pos + 2 < p->len && p->text[p->pos + 1] == quote &&
                        p->text[p->pos + 2] == quote;

    if (is_multiline && !allow_multiline)
        return toml_fail(p, p->line, toml_column(p, p->pos),
                         "a multi-line string cannot be used as a key; use "
                         "a basic (\"...\") or literal ('...') string");
    if (scan_quoted(p, quote, is_multiline) < 0)
        return -1;
    return buf_commit(p, out, out_len);
}

/* ---- numbers, booleans and date-times ---------------------------------- */

static bool is_token_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '+' || c == '-' ||
           c == '.' || c == ':';
}

static int digit_value(char c, int base)
{
    int v;

    if (c >= '0' && c <= '9')
        v = c - '0';
    else if (c >= 'a' && c <= 'f')
        v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
        v = c - 'A' + 10;
    else
        return -1;
    return v < base ? v : -1;
}

/*
 * Advances *i over digits of the given base separated by single
 * underscores. Returns false when there is no digit or an underscore is not
 * between two digits.
 */
static bool scan_digits(const char *s, size_t n, size_t *i, int base)
{
    size_t count = 0;
    bool after_digit = false;

    while (*i < n) {
        if (digit_value(s[*i], base) >= 0) {
            count++;
            after_digit = true;
        } else if (s[*i] == '_') {
            if (!after_digit)
                return false;
            after_digit = false;
        } else {
            break;
        }
        (*i)++;
    }
    return count > 0 && after_digit;
}

static int fail_number(toml_parser *p, int line, int column, const char *tok,
                       size_t n, const char *reason)
{
    char shown[96];

    toml_quote(shown, sizeof shown, tok, n);
    return toml_fail(p, line, column, "invalid number %s: %s", shown, reason);
}

static int scan_prefixed_integer(toml_parser *p, int line, int column,
                                 const char *tok, size_t n, toml_node *node)
{
    int base = 2;
    const char *name = "binary";
    uint64_t value = 0;
    size_t i = 2;

    if (tok[1] == 'x') {
        base = 16;
        name = "hexadecimal";
    } else if (tok[1] == 'o') {
        base = 8;
        name = "octal";
    }

    if (!scan_digits(tok, n, &i, base) || i != n) {
        char reason[160];

        snprintf(reason, sizeof reason,
                 "%s digits must follow 0%c, with each underscore between "
                 "two digits",
                 name, tok[1]);
        return fail_number(p, line, column, tok, n, reason);
    }
    for (i = 2; i < n; i++) {
        if (tok[i] == '_')
            continue;
        if (value > ((uint64_t)INT64_MAX - (uint64_t)digit_value(tok[i], base)) /
                        (uint64_t)base)
            return fail_number(p, line, column, tok, n,
                               "the value does not fit in a signed 64-bit "
                               "integer (maximum 0x7fffffffffffffff)");
        value = value * (uint64_t)base + (uint64_t)digit_value(tok[i], base);
    }
    node->type = TOML_INTEGER;
    node->u.integer = (int64_t)value;
    return 0;
}

static int scan_decimal_integer(toml_parser *p, int line, int column,
                                const char *tok, size_t n, toml_node *node)
{
    bool negative = tok[0] == '-';
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t value = 0;

    for (size_t i = (tok[0] == '+' || tok[0] == '-') ? 1 : 0; i < n; i++) {
        uint64_t digit;

        if (tok[i] == '_')
            continue;
        digit = (uint64_t)(tok[i] - '0');
        if (value > (limit - digit) / 10)
            return fail_number(p, line, column, tok, n,
                               "the value does not fit in a signed 64-bit "
                               "integer (range -9223372036854775808 to "
                               "9223372036854775807)");
        value = value * 10 + digit;
    }
    node->type = TOML_INTEGER;
    if (negative)
        node->u.integer = value == (uint64_t)INT64_MAX + 1
                              ? INT64_MIN
                              : -(int64_t)value;
    else
        node->u.integer = (int64_t)value;
    return 0;
}

static int scan_float_value(toml_parser *p, int line, int column,
                            const char *tok, size_t n, toml_node *node)
{
    locale_t c_locale;
    double value;
    int saved_errno;

    /* strtod reads the C locale's decimal point only through strtod_l: the
     * process locale may use a comma. */
    p->scratch.len = 0;
    for (size_t i = 0; i < n; i++)
        if (tok[i] != '_' && buf_push(p, &tok[i], 1) < 0)
            return -1;
    if (buf_push(p, "", 1) < 0)
        return -1;
    c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (!c_locale)
        return toml_fail_nomem(p);
    errno = 0;
    value = strtod_l(p->scratch.data, NULL, c_locale);
    saved_errno = errno;
    freelocale(c_locale);
    if (saved_errno == ERANGE && (value > 1.0 || value < -1.0))
        return fail_number(p, line, column, tok, n,
                           "the value is too large for a 64-bit float; "
                           "write inf if infinity is meant");
    node->type = TOML_FLOAT;
    node->u.floating = value;
    return 0;
}

/* Checks the decimal integer and float grammar, then converts. */
static int scan_number(toml_parser *p, int line, int column, const char *tok,
                       size_t n, toml_node *node)
{
    size_t i = 0;
    size_t int_start;
    bool is_float = false;
    const char *unsigned_tok = tok;
    size_t unsigned_n = n;

    if (tok[0] == '+' || tok[0] == '-') {
        unsigned_tok++;
        unsigned_n--;
        i = 1;
    }
    if (unsigned_n == 3 && (memcmp(unsigned_tok, "inf", 3) == 0 ||
                            memcmp(unsigned_tok, "nan", 3) == 0)) {
        node->type = TOML_FLOAT;
        if (unsigned_tok[0] == 'i')
            node->u.floating = tok[0] == '-' ? -HUGE_VAL : HUGE_VAL;
        else
            node->u.floating = tok[0] == '-' ? -NAN : NAN;
        return 0;
    }
    if (unsigned_n >= 2 && unsigned_tok[0] == '0' &&
        (unsigned_tok[1] == 'x' || unsigned_tok[1] == 'o' ||
         unsigned_tok[1] == 'b')) {
        if (unsigned_tok != tok)
            return fail_number(p, line, column, tok, n,
                               "hexadecimal, octal and binary integers cannot "
                               "have a sign");
        return scan_prefixed_integer(p, line, column, tok, n, node);
    }

    int_start = i;
    if (!scan_digits(tok, n, &i, 10))
        return fail_number(p, line, column, tok, n,
                           "expected decimal digits, with each underscore "
                           "between two digits");
    if (tok[int_start] == '0' && i - int_start > 1)
        return fail_number(p, line, column, tok, n,
                           "leading zeros are not allowed");
    if (i < n && tok[i] == '.') {
        i++;
        is_float = true;
        if (!scan_digits(tok, n, &i, 10))
            return fail_number(p, line, column, tok, n,
                               "a decimal point must have digits on both "
                               "sides, with each underscore between two "
                               "digits");
    }
    if (i < n && (tok[i] == 'e' || tok[i] == 'E')) {
        i++;
        is_float = true;
        if (i < n && (tok[i] == '+' || tok[i] == '-'))
            i++;
        if (!scan_digits(tok, n, &i, 10))
            return fail_number(p, line, column, tok, n,
                               "an exponent needs decimal digits, with each "
                               "underscore between two digits");
    }
    if (i != n)
        return fail_number(p, line, column, tok, n,
                           "unexpected characters after the number");
    if (is_float)
        return scan_float_value(p, line, column, tok, n, node);
    return scan_decimal_integer(p, line, column, tok, n, node);
}

static bool digits_at(const char *s, size_t n, size_t at, size_t count)
{
    if (at + count > n)
        return false;
    for (size_t i = 0; i < count; i++)
        if (!isdigit((unsigned char)s[at + i]))
            return false;
    return true;
}

static int two_digits(const char *s)
{
    return (s[0] - '0') * 10 + (s[1] - '0');
}

static int days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30,
                                  31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

    return month == 2 && leap ? 29 : days[month - 1];
}

/*
 * Validates a date, time or date-time token against RFC 3339 as TOML 1.0
 * restricts it and sets node->type. Returns NULL, or the reason it is
 * invalid.
 */
static const char *check_datetime(const char *tok, size_t n, toml_node *node)
{
    bool has_date = n >= 5 && tok[4] == '-';
    size_t i = 0;

    if (has_date) {
        int year, month, day;

        if (!digits_at(tok, n, 0, 4) || tok[4] != '-' ||
            !digits_at(tok, n, 5, 2) || n < 8 || tok[7] != '-' ||
            !digits_at(tok, n, 8, 2))
            return "a date must be written YYYY-MM-DD";
        year = (tok[0] - '0') * 1000 + two_digits(tok + 1) * 10 + (tok[3] - '0');
        month = two_digits(tok + 5);
        day = two_digits(tok + 8);
        if (month < 1 || month > 12)
            return "the month must be 01 to 12";
        if (day < 1 || day > days_in_month(year, month))
            return "the day does not exist in that month";
        i = 10;
        if (i == n) {
            node->type = TOML_DATE_LOCAL;
            return NULL;
        }
        if (tok[i] != 'T' && tok[i] != 't' && tok[i] != ' ')
            return "a date and a time must be separated by T or a space";
        i++;
        if (i == n)
            return "a time must follow the date-time separator";
    }

    if (!digits_at(tok, n, i, 2) || i + 2 >= n || tok[i + 2] != ':' ||
        !digits_at(tok, n, i + 3, 2) || i + 5 >= n || tok[i + 5] != ':' ||
        !digits_at(tok, n, i + 6, 2))
        return "a time must be written HH:MM:SS with two digits each";
    if (two_digits(tok + i) > 23)
        return "the hour must be 00 to 23";
    if (two_digits(tok + i + 3) > 59)
        return "the minute must be 00 to 59";
    if (two_digits(tok + i + 6) > 60)
        return "the second must be 00 to 60";
    i += 8;
    if (i < n && tok[i] == '.') {
        size_t fraction_start = ++i;

        while (i < n && isdigit((unsigned char)tok[i]))
            i++;
        if (i == fraction_start)
            return "a decimal point in a time must be followed by digits";
    }
    if (!has_date) {
        if (i != n)
            return "a local time cannot have a time zone offset or other "
                   "trailing characters";
        node->type = TOML_TIME_LOCAL;
        return NULL;
    }
    if (i == n) {
        node->type = TOML_DATETIME_LOCAL;
        return NULL;
    }
    if (tok[i] == 'Z' || tok[i] == 'z') {
        i++;
    } else if (tok[i] == '+' || tok[i] == '-') {
        if (!digits_at(tok, n, i + 1, 2) || i + 3 >= n || tok[i + 3] != ':' ||
            !digits_at(tok, n, i + 4, 2) || i + 6 != n)
            return "a time zone offset must be Z or +HH:MM or -HH:MM";
        if (two_digits(tok + i + 1) > 23)
            return "the offset hour must be 00 to 23";
        if (two_digits(tok + i + 4) > 59)
            return "the offset minute must be 00 to 59";
        i += 6;
    }
    if (i != n)
        return "unexpected characters after the date-time";
    node->type = TOML_DATETIME;
    return NULL;
}

static int scan_datetime(toml_parser *p, int line, int column, const char *tok,
                         size_t n, toml_node *node)
{
    const char *reason = check_datetime(tok, n, node);
    char shown[96];
    char *text;

    if (reason) {
        toml_quote(shown, sizeof shown, tok, n);
        return toml_fail(p, line, column, "invalid date-time %s: %s", shown,
                         reason);
    }
    text = toml_arena_alloc(p->arena, n + 1);
    if (!text)
        return toml_fail_nomem(p);
    memcpy(text, tok, n);

    /* Normalized to the RFC 3339 spelling: T between date and time, upper
     * case Z. */
    if (node->type == TOML_DATETIME || node->type == TOML_DATETIME_LOCAL)
        text[10] = 'T';
    if (n > 0 && text[n - 1] == 'z')
        text[n - 1] = 'Z';
    node->u.str.ptr = text;
    node->u.str.len = n;
    return 0;
}

int toml_scan_scalar(toml_parser *p, toml_node *node)
{
    const char *tok = p->text + p->pos;
    int line = p->line;
    int column = toml_column(p, p->pos);
    size_t n = 0;
    bool looks_like_date, looks_like_time;

    while (p->pos + n < p->len && is_token_char(tok[n]))
        n++;

    /* A space may separate a date from its time: "1979-05-27 07:32:00". */
    looks_like_date = n == 10 && digits_at(tok, n, 0, 4) && tok[4] == '-';
    if (looks_like_date && p->pos + n + 3 < p->len && tok[n] == ' ' &&
        digits_at(tok, n + 3, n + 1, 2) && tok[n + 3] == ':') {
        n++;
        while (p->pos + n < p->len && is_token_char(tok[n]))
            n++;
    }

    if (n == 4 && memcmp(tok, "true", 4) == 0) {
        node->type = TOML_BOOL;
        node->u.boolean = true;
    } else if (n == 5 && memcmp(tok, "false", 5) == 0) {
        node->type = TOML_BOOL;
        node->u.boolean = false;
    } else if (n == 0 ||
               !(isdigit((unsigned char)tok[0]) || tok[0] == '+' ||
                 tok[0] == '-' || (n == 3 && memcmp(tok, "inf", 3) == 0) ||
                 (n == 3 && memcmp(tok, "nan", 3) == 0))) {
        char shown[96];
        size_t shown_n = n;

        /* Show the whole offending word, not only the token characters. */
        while (p->pos + shown_n < p->len && shown_n < 64) {
            char c = tok[shown_n];

            if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' ||
                c == ']' || c == '}' || c == '#')
                break;
            shown_n++;
        }
        toml_quote(shown, sizeof shown, tok, shown_n);
        return toml_fail(p, line, column,
                         "invalid value %s: expected a string, number, "
                         "boolean, date-time, array or inline table; quote "
                         "text as \"...\"",
                         shown);
    } else {
        looks_like_date = n >= 5 && digits_at(tok, n, 0, 4) && tok[4] == '-';
        looks_like_time = n >= 3 && digits_at(tok, n, 0, 2) && tok[2] == ':';
        if (looks_like_date || looks_like_time) {
            if (scan_datetime(p, line, column, tok, n, node) < 0)
                return -1;
        } else if (scan_number(p, line, column, tok, n, node) < 0) {
            return -1;
        }
    }
    p->pos += n;
    return 0;
}
