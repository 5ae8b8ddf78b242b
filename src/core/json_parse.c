/*
 * Strict RFC 8259 JSON parser that builds agora values in an arena.
 *
 * Nesting is tracked with an explicit stack, so deep input costs heap memory
 * (bounded by max_depth) and never C stack. Members and elements of open
 * containers wait on a scratch stack and are copied into the arena, sized
 * exactly, when their container closes. A document therefore costs no malloc
 * unless it is deeper or wider than the scratch space on the C stack.
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena_impl.h"
#include "core/json_impl.h"

#define JSON_DEFAULT_MAX_DEPTH 512
#define JSON_DEFAULT_MAX_STRING ((size_t)16 * 1024 * 1024)

/* Scratch entries kept on the C stack before spilling to the heap. */
#define LOCAL_ITEMS 128
#define LOCAL_FRAMES 32

typedef unsigned char uchar;

typedef struct json_frame {
    size_t start; /* index of the container's first entry in the item stack */
    bool is_object;
} json_frame;

typedef struct json_parser {
    const uchar *text;
    const uchar *p;
    const uchar *end;
    agora_arena *arena;
    agora_error *err;
    size_t max_depth;
    size_t max_string;
    /* Check the text only (agora_json_check): no values are built, and every
     * value parsed is the placeholder `checked`. */
    bool check_only;

    /* Entries of open containers. Array elements leave key empty. */
    agora_member *items;
    size_t items_len;
    size_t items_cap;
    bool items_on_heap;

    json_frame *frames;
    size_t depth;
    size_t frames_cap;
    bool frames_on_heap;
} json_parser;

/* Placeholder value returned for every value in check-only mode; never read. */
static agora_value checked;

agora_json_limits agora_json_limits_widest(void)
{
    agora_json_limits limits = {
        .max_depth = AGORA_JSON_MAX_DEPTH_LIMIT,
        .max_string_bytes = SIZE_MAX,
    };
    return limits;
}

agora_json_limits agora_json_limits_default(void)
{
    agora_json_limits limits = {
        .max_depth = JSON_DEFAULT_MAX_DEPTH,
        .max_string_bytes = JSON_DEFAULT_MAX_STRING,
    };
    return limits;
}

/* ---- Error reporting --------------------------------------------------- */

/*
 * Lines count '\n'; columns count UTF-8 characters from the start of the
 * line, both from 1.
 */
static void locate(const uchar *text, size_t offset, size_t *line,
                   size_t *column)
{
    size_t i;

    *line = 1;
    *column = 1;
    for (i = 0; i < offset; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *column = 1;
        } else if ((text[i] & 0xC0) != 0x80) {
            (*column)++;
        }
    }
}

static void describe_byte(const json_parser *ps, const uchar *at, char *out,
                          size_t out_size)
{
    if (at >= ps->end)
        snprintf(out, out_size, "end of input");
    else if (*at >= 0x20 && *at < 0x7F && *at != '\'')
        snprintf(out, out_size, "'%c'", *at);
    else
        snprintf(out, out_size, "byte 0x%02X", *at);
}

/* Stores "invalid JSON at line L, column C (byte offset O): <detail>". */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static void
fail_at(json_parser *ps, const uchar *at, int code, const char *fmt, ...)
{
    char detail[512];
    size_t offset = (size_t)(at - ps->text);
    size_t line;
    size_t column;
    va_list ap;

    if (ps->err == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    locate(ps->text, offset, &line, &column);
    agora_error_set(ps->err, code,
                    "invalid JSON at line %zu, column %zu (byte offset %zu): %s",
                    line, column, offset, detail);
}

/* Reports that the byte at `at` is not the expected token `what`. */
static void fail_expected(json_parser *ps, const uchar *at, const char *what)
{
    char found[32];

    describe_byte(ps, at, found, sizeof(found));
    fail_at(ps, at, AGORA_EPARSE, "expected %s, found %s", what, found);
}

/* ---- Scratch stacks ---------------------------------------------------- */

static bool grow_scratch(void **data, size_t *cap, bool *on_heap,
                         size_t item_size, size_t used)
{
    size_t new_cap = *cap * 2;
    void *grown;

    if (new_cap > SIZE_MAX / item_size)
        return false;
    if (*on_heap) {
        grown = realloc(*data, new_cap * item_size);
        if (grown == NULL)
            return false;
    } else {
        grown = malloc(new_cap * item_size);
        if (grown == NULL)
            return false;
        memcpy(grown, *data, used * item_size);
        *on_heap = true;
    }
    *data = grown;
    *cap = new_cap;
    return true;
}

static bool push_item(json_parser *ps, const char *key, size_t key_len,
                      agora_value *value)
{
    agora_member *item;

    if (ps->check_only)
        return true;
    if (ps->items_len == ps->items_cap &&
        !grow_scratch((void **)&ps->items, &ps->items_cap, &ps->items_on_heap,
                      sizeof(agora_member), ps->items_len)) {
        fail_at(ps, ps->p, AGORA_ENOMEM, "out of memory for open containers");
        return false;
    }
    item = &ps->items[ps->items_len++];
    item->key.ptr = key;
    item->key.len = key_len;
    item->value = value;
    return true;
}

static bool open_container(json_parser *ps, bool is_object)
{
    if (ps->depth >= ps->max_depth) {
        fail_at(ps, ps->p, AGORA_ELIMIT,
                "nesting is deeper than the limit of %zu arrays and objects; "
                "raise max_depth or flatten the document",
                ps->max_depth);
        return false;
    }
    if (ps->depth == ps->frames_cap &&
        !grow_scratch((void **)&ps->frames, &ps->frames_cap,
                      &ps->frames_on_heap, sizeof(json_frame), ps->depth)) {
        fail_at(ps, ps->p, AGORA_ENOMEM, "out of memory for nesting");
        return false;
    }
    ps->frames[ps->depth].start = ps->items_len;
    ps->frames[ps->depth].is_object = is_object;
    ps->depth++;
    return true;
}

/* Moves the entries of the innermost container into a new arena value. */
static agora_value *close_container(json_parser *ps)
{
    json_frame *frame = &ps->frames[ps->depth - 1];
    size_t n = ps->items_len - frame->start;
    agora_member *first = &ps->items[frame->start];
    agora_value *value;
    size_t i;

    if (ps->check_only) {
        ps->depth--;
        return &checked;
    }
    value = core_arena_alloc(ps->arena, sizeof(*value));
    if (value == NULL)
        goto nomem;
    memset(value, 0, sizeof(*value));

    if (frame->is_object) {
        value->type = AGORA_OBJECT;
        if (n > 0) {
            agora_member *members =
                core_arena_alloc(ps->arena, n * sizeof(agora_member));
            if (members == NULL)
                goto nomem;
            memcpy(members, first, n * sizeof(agora_member));
            value->u.object.members = members;
        }
        value->u.object.len = n;
        value->u.object.cap = n;
    } else {
        value->type = AGORA_ARRAY;
        if (n > 0) {
            agora_value **items =
                core_arena_alloc(ps->arena, n * sizeof(agora_value *));
            if (items == NULL)
                goto nomem;
            for (i = 0; i < n; i++)
                items[i] = first[i].value;
            value->u.array.items = items;
        }
        value->u.array.len = n;
        value->u.array.cap = n;
    }

    ps->items_len = frame->start;
    ps->depth--;
    return value;

nomem:
    fail_at(ps, ps->p, AGORA_ENOMEM, "out of memory in the record arena");
    return NULL;
}

/* ---- Strings ----------------------------------------------------------- */

static int hex_value(uchar c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads the four hex digits after "\u" at p; returns -1 on a bad digit. */
static long read_hex4(const json_parser *ps, const uchar *p, const uchar **bad)
{
    long code = 0;
    int i;

    for (i = 0; i < 4; i++) {
        int digit = p + i < ps->end ? hex_value(p[i]) : -1;

        if (digit < 0) {
            *bad = p + i;
            return -1;
        }
        code = code * 16 + digit;
    }
    return code;
}

static size_t utf8_encode(unsigned long code, uchar *out)
{
    if (code < 0x80) {
        out[0] = (uchar)code;
        return 1;
    }
    if (code < 0x800) {
        out[0] = (uchar)(0xC0 | (code >> 6));
        out[1] = (uchar)(0x80 | (code & 0x3F));
        return 2;
    }
    if (code < 0x10000) {
        out[0] = (uchar)(0xE0 | (code >> 12));
        out[1] = (uchar)(0x80 | ((code >> 6) & 0x3F));
        out[2] = (uchar)(0x80 | (code & 0x3F));
        return 3;
    }
    out[0] = (uchar)(0xF0 | (code >> 18));
    out[1] = (uchar)(0x80 | ((code >> 12) & 0x3F));
    out[2] = (uchar)(0x80 | ((code >> 6) & 0x3F));
    out[3] = (uchar)(0x80 | (code & 0x3F));
    return 4;
}

/*
 * Decodes the escape at p (pointing at the backslash) into out. Returns the
 * number of bytes written and advances *pp, or returns 0 after reporting.
 */
static size_t decode_escape(json_parser *ps, const uchar **pp, uchar *out)
{
    const uchar *p = *pp;
    const uchar *bad = NULL;
    long code;
    long low;

    if (p + 1 >= ps->end) {
        fail_expected(ps, p + 1, "an escape character after '\\'");
        return 0;
    }
    switch (p[1]) {
    case '"':
    case '\\':
    case '/':
        out[0] = p[1];
        *pp = p + 2;
        return 1;
    case 'b':
        out[0] = '\b';
        *pp = p + 2;
        return 1;
    case 'f':
        out[0] = '\f';
        *pp = p + 2;
        return 1;
    case 'n':
        out[0] = '\n';
        *pp = p + 2;
        return 1;
    case 'r':
        out[0] = '\r';
        *pp = p + 2;
        return 1;
    case 't':
        out[0] = '\t';
        *pp = p + 2;
        return 1;
    case 'u':
        break;
    default:
        fail_expected(ps, p + 1,
                      "one of '\"', '\\', '/', 'b', 'f', 'n', 'r', 't', 'u' "
                      "after '\\'");
        return 0;
    }

    code = read_hex4(ps, p + 2, &bad);
    if (code < 0) {
        fail_expected(ps, bad, "four hex digits after '\\u'");
        return 0;
    }
    if (code >= 0xDC00 && code <= 0xDFFF) {
        fail_at(ps, p, AGORA_EPARSE,
                "\\u%04lX is a low surrogate without a preceding high "
                "surrogate; escape characters above U+FFFF as a surrogate "
                "pair",
                code);
        return 0;
    }
    if (code >= 0xD800 && code <= 0xDBFF) {
        const uchar *next = p + 6;

        if (next + 1 >= ps->end || next[0] != '\\' || next[1] != 'u') {
            fail_at(ps, p, AGORA_EPARSE,
                    "\\u%04lX is a high surrogate that is not followed by a "
                    "\\uDC00-\\uDFFF low surrogate escape",
                    code);
            return 0;
        }
        low = read_hex4(ps, next + 2, &bad);
        if (low < 0) {
            fail_expected(ps, bad, "four hex digits after '\\u'");
            return 0;
        }
        if (low < 0xDC00 || low > 0xDFFF) {
            fail_at(ps, p, AGORA_EPARSE,
                    "\\u%04lX is a high surrogate followed by \\u%04lX, which "
                    "is not a \\uDC00-\\uDFFF low surrogate",
                    code, low);
            return 0;
        }
        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
        *pp = next + 6;
        return utf8_encode((unsigned long)code, out);
    }
    *pp = p + 6;
    return utf8_encode((unsigned long)code, out);
}

static bool check_string_limit(json_parser *ps, const uchar *open_quote,
                               size_t len)
{
    if (len <= ps->max_string)
        return true;
    fail_at(ps, open_quote, AGORA_ELIMIT,
            "string of %zu bytes exceeds the limit of %zu bytes; raise "
            "max_string_bytes to accept it",
            len, ps->max_string);
    return false;
}

static void fail_control(json_parser *ps, const uchar *at)
{
    fail_at(ps, at, AGORA_EPARSE,
            "control character U+%04X in a string must be written as an "
            "escape such as \\n or \\u%04X",
            *at, *at);
}

static void fail_utf8(json_parser *ps, const uchar *at)
{
    fail_at(ps, at, AGORA_EPARSE,
            "invalid UTF-8 byte 0x%02X in a string; the input must be "
            "encoded as UTF-8",
            *at);
}

/*
 * Slow path for a string with escapes: decodes from start (just after the
 * opening quote) knowing that [start, first_escape) is already validated.
 */
static bool parse_escaped_string(json_parser *ps, const uchar *start,
                                 const uchar *first_escape, agora_string *out)
{
    const uchar *p = first_escape;
    const uchar *close;
    uchar *buf;
    uchar *w;

    /* Find the closing quote first; the decoded text is never longer. */
    while (p < ps->end && *p != '"') {
        if (*p == '\\' && ps->end - p >= 2)
            p += 2;
        else if (*p == '\\')
            p = ps->end;
        else
            p++;
    }
    if (p >= ps->end) {
        fail_at(ps, ps->end, AGORA_EPARSE,
                "unterminated string: expected '\"' before end of input");
        return false;
    }
    close = p;

    buf = core_arena_alloc(ps->arena, (size_t)(close - start) + 1);
    if (buf == NULL) {
        fail_at(ps, start, AGORA_ENOMEM, "out of memory in the record arena");
        return false;
    }
    memcpy(buf, start, (size_t)(first_escape - start));
    w = buf + (first_escape - start);

    p = first_escape;
    while (p < close) {
        const uchar *run = core_json_skip_plain(p, close);

        if (run > p) {
            memcpy(w, p, (size_t)(run - p));
            w += run - p;
            p = run;
            continue;
        }
        if (*p == '\\') {
            size_t n = decode_escape(ps, &p, w);
            if (n == 0)
                return false;
            w += n;
        } else if (*p < 0x20) {
            fail_control(ps, p);
            return false;
        } else {
            size_t n = core_utf8_sequence(p, close);
            if (n == 0) {
                fail_utf8(ps, p);
                return false;
            }
            memcpy(w, p, n);
            w += n;
            p += n;
        }
    }

    *w = '\0';
    if (!check_string_limit(ps, start - 1, (size_t)(w - buf)))
        return false;
    out->ptr = (const char *)buf;
    out->len = (size_t)(w - buf);
    ps->p = close + 1;
    return true;
}

/*
 * Fast path for a plain ASCII string: copies it 8 bytes at a time straight
 * into the free space of the arena's current block while looking for the
 * closing quote, so the bytes are read only once. Returns false without
 * side effects when the string has escapes, control characters or non-ASCII
 * bytes, or when the block or the input runs out first.
 */
static inline bool parse_plain_string(json_parser *ps, agora_string *out)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uchar *start = ps->p + 1;
    agora_arena *arena = ps->arena;
    uchar *dest = arena->next;
    size_t room = (size_t)(arena->end - arena->next);
    size_t avail = (size_t)(ps->end - start);
    size_t limit = room < avail ? room : avail;
    size_t len = 0;
    size_t rounded;
    bool stopped = false;

    /* The NUL after the text needs one byte beyond a copied word. */
#if defined(__SSE2__)
    while (!stopped && limit - len >= 17) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(start + len));
        int mask = core_json_special_mask16(start + len);

        _mm_storeu_si128((__m128i *)(void *)(dest + len), v);
        if (mask == 0) {
            len += 16;
        } else {
            len += (size_t)__builtin_ctz((unsigned)mask);
            stopped = true;
        }
    }
#endif
    while (!stopped && limit - len >= 9) {
        uint64_t v;
        uint64_t mask;

        memcpy(&v, start + len, 8);
        memcpy(dest + len, &v, 8);
        mask = core_json_special_bytes(v);
        if (mask == 0) {
            len += 8;
        } else {
            len += (size_t)(__builtin_ctzll(mask) >> 3);
            stopped = true;
        }
    }
    if (!stopped || start[len] != '"' || len > ps->max_string)
        return false;
    dest[len] = '\0';
    rounded = (len + 1 + 7) & ~(size_t)7;
    arena->next += rounded;
    arena->used += rounded;
    out->ptr = (const char *)dest;
    out->len = len;
    ps->p = start + len + 1;
    return true;
#else
    (void)ps;
    (void)out;
    return false;
#endif
}

/* Parses the string whose opening quote is at ps->p into out. */
static bool parse_string(json_parser *ps, agora_string *out)
{
    const uchar *start = ps->p + 1;
    const uchar *p = start;
    char *copy;
    size_t len;

    if (!ps->check_only && parse_plain_string(ps, out))
        return true;

    for (;;) {
        p = core_json_skip_plain(p, ps->end);
        if (p >= ps->end) {
            fail_at(ps, ps->end, AGORA_EPARSE,
                    "unterminated string: expected '\"' before end of input");
            return false;
        }
        if (*p == '"')
            break;
        if (*p == '\\')
            return parse_escaped_string(ps, start, p, out);
        if (*p < 0x20) {
            fail_control(ps, p);
            return false;
        }
        len = core_utf8_sequence(p, ps->end);
        if (len == 0) {
            fail_utf8(ps, p);
            return false;
        }
        p += len;
    }

    len = (size_t)(p - start);
    if (!check_string_limit(ps, ps->p, len))
        return false;
    if (ps->check_only) {
        out->ptr = (const char *)start; /* not NUL-terminated; never read */
        out->len = len;
        ps->p = p + 1;
        return true;
    }
    copy = core_arena_alloc(ps->arena, len + 1);
    if (copy == NULL) {
        fail_at(ps, ps->p, AGORA_ENOMEM, "out of memory in the record arena");
        return false;
    }
    memcpy(copy, start, len);
    copy[len] = '\0';
    out->ptr = copy;
    out->len = len;
    ps->p = p + 1;
    return true;
}

/* ---- Numbers ----------------------------------------------------------- */

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

static void c_locale_init(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

double core_strtod_c(const char *s)
{
    pthread_once(&c_locale_once, c_locale_init);
    if (c_locale != (locale_t)0)
        return strtod_l(s, NULL, c_locale);
    return strtod(s, NULL);
}

/* Powers of ten that a double represents exactly. */
static const double exact_powers[] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static inline bool is_digit(uchar c)
{
    return c >= '0' && c <= '9';
}

/*
 * Converts the number text [start, end) to a double. When the significant
 * digits fit in 53 bits and the decimal exponent is within 22, both operands
 * are exact doubles and one IEEE multiplication or division rounds correctly
 * (Clinger's fast path). Everything else goes to strtod.
 */
static bool number_to_double(json_parser *ps, const uchar *start,
                             const uchar *end, uint64_t mantissa,
                             int sig_digits, long exp10, bool negative,
                             double *out)
{
    char local[64];
    char *text = local;
    size_t len = (size_t)(end - start);
    double d;

    if (sig_digits <= 19 && mantissa <= (1ULL << 53) && exp10 >= -22 &&
        exp10 <= 22) {
        d = (double)mantissa;
        if (exp10 < 0)
            d /= exact_powers[-exp10];
        else
            d *= exact_powers[exp10];
        *out = negative ? -d : d;
        return true;
    }

    if (len >= sizeof(local)) {
        text = core_arena_alloc(ps->arena, len + 1);
        if (text == NULL) {
            fail_at(ps, start, AGORA_ENOMEM, "out of memory in the record arena");
            return false;
        }
    }
    memcpy(text, start, len);
    text[len] = '\0';
    d = core_strtod_c(text);
    if (d == HUGE_VAL || d == -HUGE_VAL) {
        fail_at(ps, start, AGORA_EPARSE,
                "number %.*s is too large for a double (maximum magnitude "
                "about 1.8e308)",
                len > 40 ? 40 : (int)len, text);
        return false;
    }
    /* Underflow is accepted: strtod has rounded it to a subnormal or zero. */
    *out = d;
    return true;
}

/* Parses the number at ps->p (a '-' or a digit) into a new arena value. */
static agora_value *parse_number(json_parser *ps)
{
    const uchar *start = ps->p;
    const uchar *p = start;
    const uchar *end = ps->end;
    const uchar *int_start;
    uint64_t mantissa = 0;
    int sig_digits = 0; /* digits accumulated into mantissa, at most 19 */
    bool more_digits = false; /* digits dropped from mantissa */
    long exp10 = 0;
    size_t int_digits;
    bool negative = false;
    bool is_integer = true;
    agora_value *value;
    double d;

    if (*p == '-') {
        negative = true;
        p++;
    }
    if (p >= end || !is_digit(*p)) {
        fail_expected(ps, p, "a digit after '-'");
        return NULL;
    }

    int_start = p;
    if (*p == '0') {
        p++;
        if (p < end && is_digit(*p)) {
            fail_at(ps, p - 1, AGORA_EPARSE,
                    "leading zeros are not allowed in numbers");
            return NULL;
        }
    } else {
        while (p < end && is_digit(*p)) {
            if (sig_digits < 19) {
                mantissa = mantissa * 10 + (uint64_t)(*p - '0');
                sig_digits++;
            } else {
                more_digits = true;
                exp10++;
            }
            p++;
        }
    }
    int_digits = (size_t)(p - int_start);

    if (p < end && *p == '.') {
        p++;
        if (p >= end || !is_digit(*p)) {
            fail_expected(ps, p, "a digit after the decimal point");
            return NULL;
        }
        is_integer = false;
        while (p < end && is_digit(*p)) {
            if (sig_digits < 19) {
                mantissa = mantissa * 10 + (uint64_t)(*p - '0');
                if (mantissa != 0)
                    sig_digits++;
                exp10--;
            } else {
                more_digits = true;
            }
            p++;
        }
    }

    if (p < end && (*p == 'e' || *p == 'E')) {
        long e = 0;
        bool e_negative = false;

        p++;
        if (p < end && (*p == '+' || *p == '-')) {
            e_negative = *p == '-';
            p++;
        }
        if (p >= end || !is_digit(*p)) {
            fail_expected(ps, p, "a digit in the exponent");
            return NULL;
        }
        is_integer = false;
        while (p < end && is_digit(*p)) {
            if (e < 100000) /* saturate: the fast path needs |e| <= 22 */
                e = e * 10 + (*p - '0');
            p++;
        }
        exp10 += e_negative ? -e : e;
    }
    ps->p = p;

    if (ps->check_only) {
        /* Only a double overflow rejects a well-formed number, and it needs
         * a decimal exponent above 300 whatever the digits. */
        if (exp10 + sig_digits <= 300)
            return &checked;
        return number_to_double(ps, start, p, mantissa,
                                more_digits ? 20 : sig_digits, exp10, negative,
                                &d)
                   ? &checked
                   : NULL;
    }

    value = core_arena_alloc(ps->arena, sizeof(*value));
    if (value == NULL) {
        fail_at(ps, start, AGORA_ENOMEM, "out of memory in the record arena");
        return NULL;
    }
    memset(value, 0, sizeof(*value));

    /* 19 digits always fit uint64; int64 needs the range check below. */
    if (is_integer && int_digits <= 19 && !more_digits) {
        if (!negative && mantissa <= (uint64_t)INT64_MAX) {
            value->type = AGORA_INT;
            value->u.integer = (int64_t)mantissa;
            return value;
        }
        if (negative && mantissa <= (uint64_t)INT64_MAX + 1) {
            value->type = AGORA_INT;
            value->u.integer = mantissa == (uint64_t)INT64_MAX + 1
                                   ? INT64_MIN
                                   : -(int64_t)mantissa;
            return value;
        }
    }

    if (!number_to_double(ps, start, p, mantissa,
                          more_digits ? 20 : sig_digits, exp10, negative, &d))
        return NULL;
    value->type = AGORA_DOUBLE;
    value->u.number = d;
    return value;
}

/* ---- Documents --------------------------------------------------------- */

static inline const uchar *skip_whitespace(const uchar *p, const uchar *end)
{
    /* Compact JSON has no whitespace: one test for the common case. */
    if (p < end && *p > ' ')
        return p;
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

static agora_value *parse_literal(json_parser *ps, const char *word,
                                  size_t word_len, agora_type type, bool b)
{
    agora_value *value;

    if ((size_t)(ps->end - ps->p) < word_len ||
        memcmp(ps->p, word, word_len) != 0) {
        /* Suggest the word only for a near miss such as "nul" or "tru";
         * "not json" gets the plain message. */
        if (ps->end - ps->p >= 2 && ps->p[1] == (uchar)word[1])
            fail_at(ps, ps->p, AGORA_EPARSE,
                    "expected a value (did you mean %s?)", word);
        else
            fail_expected(ps, ps->p, "a value");
        return NULL;
    }
    if (ps->check_only) {
        ps->p += word_len;
        return &checked;
    }
    value = core_arena_alloc(ps->arena, sizeof(*value));
    if (value == NULL) {
        fail_at(ps, ps->p, AGORA_ENOMEM, "out of memory in the record arena");
        return NULL;
    }
    memset(value, 0, sizeof(*value));
    value->type = type;
    value->u.boolean = b;
    ps->p += word_len;
    return value;
}

static agora_value *parse_scalar(json_parser *ps)
{
    agora_value *value;

    switch (*ps->p) {
    case '"':
        if (ps->check_only) {
            agora_string ignored;
            return parse_string(ps, &ignored) ? &checked : NULL;
        }
        value = core_arena_alloc(ps->arena, sizeof(*value));
        if (value == NULL) {
            fail_at(ps, ps->p, AGORA_ENOMEM, "out of memory in the record arena");
            return NULL;
        }
        memset(value, 0, sizeof(*value));
        value->type = AGORA_STRING;
        if (!parse_string(ps, &value->u.string))
            return NULL;
        return value;
    case 't':
        return parse_literal(ps, "true", 4, AGORA_BOOL, true);
    case 'f':
        return parse_literal(ps, "false", 5, AGORA_BOOL, false);
    case 'n':
        return parse_literal(ps, "null", 4, AGORA_NULL, false);
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        return parse_number(ps);
    default:
        if (ps->end - ps->p >= 3 && memcmp(ps->p, "\xEF\xBB\xBF", 3) == 0 &&
            ps->p == ps->text) {
            fail_at(ps, ps->p, AGORA_EPARSE,
                    "expected a value, found a UTF-8 byte order mark; remove "
                    "it, JSON text must not start with one");
            return NULL;
        }
        fail_expected(ps, ps->p, "a value");
        return NULL;
    }
}

/* Parses an object key and the ':' after it; ps->p is at the key. */
static bool parse_key(json_parser *ps)
{
    agora_string key;

    if (ps->p >= ps->end || *ps->p != '"') {
        fail_expected(ps, ps->p, "a string key in double quotes");
        return false;
    }
    if (!parse_string(ps, &key))
        return false;
    ps->p = skip_whitespace(ps->p, ps->end);
    if (ps->p >= ps->end || *ps->p != ':') {
        fail_expected(ps, ps->p, "':' after object key");
        return false;
    }
    ps->p = skip_whitespace(ps->p + 1, ps->end);
    return ps->check_only || push_item(ps, key.ptr, key.len, NULL);
}

static agora_value *parse_document(json_parser *ps)
{
    agora_value *value;
    json_frame *frame;

next_value:
    ps->p = skip_whitespace(ps->p, ps->end);
    if (ps->p >= ps->end) {
        fail_expected(ps, ps->p, "a value");
        return NULL;
    }
    if (*ps->p == '{') {
        if (!open_container(ps, true))
            return NULL;
        ps->p = skip_whitespace(ps->p + 1, ps->end);
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            value = close_container(ps);
        } else {
            if (!parse_key(ps))
                return NULL;
            goto next_value;
        }
    } else if (*ps->p == '[') {
        if (!open_container(ps, false))
            return NULL;
        ps->p = skip_whitespace(ps->p + 1, ps->end);
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            value = close_container(ps);
        } else {
            goto next_value;
        }
    } else {
        value = parse_scalar(ps);
    }

have_value:
    if (value == NULL)
        return NULL;
    if (ps->depth == 0)
        return value;

    frame = &ps->frames[ps->depth - 1];
    if (!ps->check_only) {
        if (frame->is_object)
            ps->items[ps->items_len - 1].value = value;
        else if (!push_item(ps, NULL, 0, value))
            return NULL;
    }

    ps->p = skip_whitespace(ps->p, ps->end);
    if (ps->p < ps->end && *ps->p == ',') {
        ps->p = skip_whitespace(ps->p + 1, ps->end);
        if (frame->is_object && !parse_key(ps))
            return NULL;
        goto next_value;
    }
    if (frame->is_object) {
        if (ps->p >= ps->end || *ps->p != '}') {
            fail_expected(ps, ps->p, "',' or '}' after object member");
            return NULL;
        }
    } else if (ps->p >= ps->end || *ps->p != ']') {
        fail_expected(ps, ps->p, "',' or ']' after array element");
        return NULL;
    }
    ps->p++;
    value = close_container(ps);
    goto have_value;
}

static agora_value *parse_text(agora_arena *arena, const char *text,
                               size_t len, const agora_json_limits *limits,
                               bool check_only, agora_error *err)
{
    agora_member local_items[LOCAL_ITEMS];
    json_frame local_frames[LOCAL_FRAMES];
    json_parser ps;
    agora_value *value = NULL;

    if (arena == NULL || (text == NULL && len > 0)) {
        agora_error_set(err, AGORA_EINVAL,
                        "agora_json_parse needs an arena and a text");
        return NULL;
    }

    memset(&ps, 0, sizeof(ps));
    ps.text = (const uchar *)(text == NULL ? "" : text);
    ps.p = ps.text;
    ps.end = ps.text + len;
    ps.arena = arena;
    ps.err = err;
    ps.max_depth = limits != NULL ? limits->max_depth : JSON_DEFAULT_MAX_DEPTH;
    ps.max_string =
        limits != NULL ? limits->max_string_bytes : JSON_DEFAULT_MAX_STRING;
    ps.items = local_items;
    ps.items_cap = LOCAL_ITEMS;
    ps.frames = local_frames;
    ps.frames_cap = LOCAL_FRAMES;
    ps.check_only = check_only;

    value = parse_document(&ps);
    if (value == NULL)
        goto cleanup;

    ps.p = skip_whitespace(ps.p, ps.end);
    if (ps.p < ps.end) {
        fail_expected(&ps, ps.p, "end of input after the JSON document");
        value = NULL;
    }

cleanup:
    if (ps.items_on_heap)
        free(ps.items);
    if (ps.frames_on_heap)
        free(ps.frames);
    return value;
}

agora_value *agora_json_parse(agora_arena *arena, const char *text, size_t len,
                              const agora_json_limits *limits,
                              agora_error *err)
{
    return parse_text(arena, text, len, limits, false, err);
}

bool agora_json_check(agora_arena *scratch, const char *text, size_t len,
                      const agora_json_limits *limits, agora_error *err)
{
    return parse_text(scratch, text, len, limits, true, err) != NULL;
}
