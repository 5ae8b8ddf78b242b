/*
 * Compact JSON writer for agora values, and the shortest round-trip
 * formatting of doubles shared with the CSV writer.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "agora/value.h"
#include "core/json_impl.h"
#include "core/json_keys.h"

/* Appends len bytes; the NUL terminator is written once at the end. */
static inline int put(agora_buf *buf, const void *data, size_t len)
{
    if (buf->cap - buf->len <= len) {
        int rc = agora_buf_reserve(buf, len);
        if (rc != 0)
            return rc;
    }
    memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    return 0;
}

static inline int put_char(agora_buf *buf, char c)
{
    if (buf->cap - buf->len <= 1) {
        int rc = agora_buf_reserve(buf, 1);
        if (rc != 0)
            return rc;
    }
    buf->data[buf->len++] = c;
    return 0;
}

static const char digit_pairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* Writes the decimal digits of i into out (at least 21 bytes), no NUL. */
static size_t format_int(int64_t i, char *out)
{
    char digits[20];
    size_t n = sizeof(digits);
    size_t len = 0;
    uint64_t u = i < 0 ? 0 - (uint64_t)i : (uint64_t)i;

    while (u >= 100) {
        unsigned pair = (unsigned)(u % 100) * 2;

        u /= 100;
        digits[--n] = digit_pairs[pair + 1];
        digits[--n] = digit_pairs[pair];
    }
    if (u >= 10) {
        digits[--n] = digit_pairs[u * 2 + 1];
        digits[--n] = digit_pairs[u * 2];
    } else {
        digits[--n] = (char)('0' + u);
    }
    if (i < 0)
        out[len++] = '-';
    memcpy(out + len, digits + n, sizeof(digits) - n);
    return len + sizeof(digits) - n;
}

/* ---- Doubles ----------------------------------------------------------- */

static const double powers_of_ten[] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
};

/*
 * Fast path for doubles that are a short decimal fraction such as 6.1 or
 * 0.25, with 1e-4 <= |d| < 1e15. It finds the smallest k for which
 * m = d * 10^k is an integer below 1e15 and m / 10^k gives d back. Both m and
 * 10^k are exact doubles, so that division rounds exactly as strtod would
 * read the digits back. Such an m has at most 15 significant digits and is
 * what "%.15g" prints, so the result is identical to the slow path's.
 * Returns 0 when the fast path does not apply.
 */
static size_t format_short_fraction(double d, char *out)
{
    double magnitude = fabs(d);
    int k;

    if (!(magnitude >= 1e-4 && magnitude < 1e15))
        return 0;

    for (k = 1; k <= 10; k++) {
        double m = magnitude * powers_of_ten[k];
        uint64_t digits;
        char text[24];
        size_t n;
        size_t len = 0;

        if (m >= 1e15)
            return 0;
        if (m != floor(m) || m / powers_of_ten[k] != magnitude)
            continue;

        digits = (uint64_t)m;
        if (digits % 10 == 0)
            return 0; /* a shorter k should have matched; let %g decide */
        n = format_int((int64_t)digits, text);
        if (d < 0)
            out[len++] = '-';
        if (n <= (size_t)k) {
            /* 0.0ddd: pad with zeros after the point */
            out[len++] = '0';
            out[len++] = '.';
            memset(out + len, '0', (size_t)k - n);
            len += (size_t)k - n;
            memcpy(out + len, text, n);
            len += n;
        } else {
            memcpy(out + len, text, n - (size_t)k);
            len += n - (size_t)k;
            out[len++] = '.';
            memcpy(out + len, text + n - k, (size_t)k);
            len += (size_t)k;
        }
        out[len] = '\0';
        return len;
    }
    return 0;
}

/*
 * printf follows LC_NUMERIC, so a locale may print the point as ',' or as a
 * longer string. Rewrites that separator to '.' in place.
 */
static size_t fix_decimal_point(char *text, size_t len)
{
    size_t i = text[0] == '-' ? 1 : 0;
    size_t sep_end;

    while (i < len && text[i] >= '0' && text[i] <= '9')
        i++;
    if (i == len || text[i] == '.' || text[i] == 'e')
        return len;
    sep_end = i;
    while (sep_end < len && !(text[sep_end] >= '0' && text[sep_end] <= '9') &&
           text[sep_end] != 'e')
        sep_end++;
    text[i] = '.';
    memmove(text + i + 1, text + sep_end, len - sep_end + 1);
    return len - (sep_end - i - 1);
}

size_t agora_format_double(double d, char *out)
{
    int precision;
    size_t len;

    if (isnan(d)) {
        memcpy(out, "nan", 4);
        return 3;
    }
    if (isinf(d)) {
        memcpy(out, d < 0 ? "-inf" : "inf", d < 0 ? 5 : 4);
        return d < 0 ? 4 : 3;
    }

    /* Integral values below 1e15 print in full under %.15g too. */
    if (d == floor(d) && fabs(d) < 1e15) {
        len = 0;
        if (d == 0 && signbit(d))
            out[len++] = '-';
        len += format_int((int64_t)d, out + len);
        memcpy(out + len, ".0", 3);
        return len + 2;
    }

    len = format_short_fraction(d, out);
    if (len > 0)
        return len;

    /*
     * For a normal double, a representation with fewer than 15 significant
     * digits that reads back is also what %.15g prints, so the first
     * precision that reads back is the shortest. Subnormals have fewer
     * significant bits and may need fewer digits, so start lower for them.
     */
    precision = fpclassify(d) == FP_SUBNORMAL ? 1 : 15;
    for (; precision <= 17; precision++) {
        len = (size_t)snprintf(out, 32, "%.*g", precision, d);
        len = fix_decimal_point(out, len);
        if (precision == 17 || core_strtod_c(out) == d)
            break;
    }

    if (strpbrk(out, ".en") == NULL) {
        memcpy(out + len, ".0", 3);
        len += 2;
    }
    return len;
}

/* ---- Strings ----------------------------------------------------------- */

/* Escapes of the control characters U+0000 to U+001F. */
static const char *const control_escapes[32] = {
    "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005",
    "\\u0006", "\\u0007", "\\b",     "\\t",     "\\n",     "\\u000b",
    "\\f",     "\\r",     "\\u000e", "\\u000f", "\\u0010", "\\u0011",
    "\\u0012", "\\u0013", "\\u0014", "\\u0015", "\\u0016", "\\u0017",
    "\\u0018", "\\u0019", "\\u001a", "\\u001b", "\\u001c", "\\u001d",
    "\\u001e", "\\u001f",
};

/*
 * Writes the escaped form of the bytes from *pp up to stop into d, with the
 * plain runs between escapes copied as they are, and returns the end of
 * what it wrote; *pp moves past the bytes taken. A UTF-8 sequence that
 * starts before stop is checked against end and may run up to 3 bytes past
 * stop. Each input byte becomes at most 6
 * output bytes, so d needs 6 * (stop - p) + 3 bytes of room. Values built
 * by the parser contain valid UTF-8, but values built by hand may not: an
 * invalid byte is written as \ufffd (the replacement character) so the
 * output stays valid JSON.
 */
static char *escape_into(char *d, const unsigned char **pp,
                         const unsigned char *stop, const unsigned char *end)
{
    const unsigned char *p = *pp;

    while (p < stop) {
        const unsigned char *run = core_json_skip_plain(p, stop);
        const char *escape;
        size_t n;

        memcpy(d, p, (size_t)(run - p));
        d += run - p;
        p = run;
        if (p >= stop)
            break;
        if (*p == '"' || *p == '\\') {
            d[0] = '\\';
            d[1] = (char)*p;
            d += 2;
            p++;
        } else if (*p < 0x20) {
            escape = control_escapes[*p];
            n = strlen(escape);
            memcpy(d, escape, n);
            d += n;
            p++;
        } else {
            n = core_utf8_sequence(p, end);
            if (n == 0) {
                memcpy(d, "\\ufffd", 6);
                d += 6;
                p++;
            } else {
                memcpy(d, p, n);
                d += n;
                p += n;
            }
        }
    }
    *pp = p;
    return d;
}

/* Input bytes escape_into takes per capacity check in write_string_slow. */
#define ESCAPE_CHUNK 4096

/* Appends the escaped form of [p, end), a chunk at a time. */
static int write_string_slow(agora_buf *buf, const unsigned char *p,
                             const unsigned char *end)
{
    while (p < end) {
        size_t chunk = (size_t)(end - p);
        const unsigned char *stop;
        char *d;
        int rc;

        if (chunk > ESCAPE_CHUNK)
            chunk = ESCAPE_CHUNK;
        rc = agora_buf_reserve(buf, 6 * chunk + 3);
        if (rc != 0)
            return rc;
        stop = p + chunk;
        d = escape_into(buf->data + buf->len, &p, stop, end);
        buf->len = (size_t)(d - buf->data);
    }
    return 0;
}

/*
 * 1 for each byte a JSON string contains unescaped: ASCII from space on,
 * except '"' and '\\'.
 */
static const unsigned char plain_byte[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/*
 * Copies plain bytes 16 (SSE2) or 8 at a time while checking them, and stops
 * at the first byte that needs the slow path. A block is stored before it is
 * checked, but only blocks that lie inside the string are read or stored, so
 * the destination needs len bytes of room. A string
 * of 8 bytes or more ends with one overlapping word instead of a byte loop.
 */
/* core_json_special_bytes on 4 bytes. */
static inline uint32_t special_bytes32(uint32_t v)
{
    const uint32_t ones = 0x01010101u;
    uint32_t quote = v ^ (ones * '"');
    uint32_t backslash = v ^ (ones * '\\');
    uint32_t flags = ((quote - ones) & ~quote) |
                     ((backslash - ones) & ~backslash) |
                     ((v - ones * 0x20) & ~v) | v;

    return flags & 0x80808080u;
}

static inline __attribute__((always_inline)) size_t
copy_plain(char *dest, const unsigned char *src, size_t len)
{
    size_t done = 0;

    /* 4 to 7 bytes, common for short values: two overlapping words. */
    if (len >= 4 && len < 8) {
        uint32_t head, tail;

        memcpy(&head, src, 4);
        memcpy(&tail, src + len - 4, 4);
        if (special_bytes32(head) == 0 && special_bytes32(tail) == 0) {
            memcpy(dest, &head, 4);
            memcpy(dest + len - 4, &tail, 4);
            return len;
        }
    }

#if defined(__SSE2__)
    while (len - done >= 16) {
        int hits = core_json_special_mask16(src + done);

        _mm_storeu_si128((__m128i *)(void *)(dest + done),
                         _mm_loadu_si128((const __m128i *)(const void *)(src + done)));
        if (hits != 0)
            return done + (size_t)__builtin_ctz((unsigned)hits);
        done += 16;
    }
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v;
    uint64_t mask;

    while (len - done >= 8) {
        memcpy(&v, src + done, 8);
        memcpy(dest + done, &v, 8);
        mask = core_json_special_bytes(v);
        if (mask != 0)
            return done + (size_t)(__builtin_ctzll(mask) >> 3);
        done += 8;
    }
    if (done < len && len >= 8) {
        memcpy(&v, src + len - 8, 8);
        if (core_json_special_bytes(v) == 0) {
            memcpy(dest + len - 8, &v, 8);
            return len;
        }
    }
#endif
    while (done < len && plain_byte[src[done]]) {
        dest[done] = (char)src[done];
        done++;
    }
    return done;
}

/*
 * Appends s as a quoted string. The common case (nothing to escape) is one
 * capacity check and one copy; other strings take write_string_slow from
 * the first byte that needs it.
 */
static inline __attribute__((always_inline)) int
write_string(agora_buf *buf, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t plain;
    int rc;

    /* The string, its quotes and the final NUL, with a little slack. */
    if (len > SIZE_MAX - 16)
        return AGORA_ENOMEM;
    if (buf->cap - buf->len < len + 11) {
        rc = agora_buf_reserve(buf, len + 10);
        if (rc != 0)
            return rc;
    }
    buf->data[buf->len++] = '"';

    plain = copy_plain(buf->data + buf->len, p, len);
    buf->len += plain;
    if (plain < len) {
        rc = write_string_slow(buf, p + plain, p + len);
        if (rc != 0)
            return rc;
        return put_char(buf, '"');
    }
    /* The reserve above left room for the quote and a spare byte. */
    buf->data[buf->len++] = '"';
    return 0;
}

int agora_json_write_string(agora_buf *buf, const char *s, size_t len)
{
    int rc = write_string(buf, s, len);

    if (rc == 0)
        buf->data[buf->len] = '\0';
    return rc;
}

/* ---- Values ------------------------------------------------------------ */

/*
 * Fast path for the most common member: a plain key and a plain string
 * value, written through a local cursor after one capacity check. Returns
 * false, having written nothing, when the member needs the general path
 * (escapes, non-ASCII, another value type) or memory cannot be reserved.
 */
static inline bool write_plain_member(agora_buf *buf,
                                      const agora_member *member, bool comma)
{
    const agora_value *value = member->value;
    size_t key_len = member->key.len;
    size_t value_len;
    char *d;

    if (value == NULL || value->type != AGORA_STRING)
        return false;
    value_len = value->u.string.len;
    if (key_len > SIZE_MAX / 4 || value_len > SIZE_MAX / 4)
        return false;
    /* ,"key":"value" and a spare byte, with a little slack. */
    if (buf->cap - buf->len < key_len + value_len + 16 &&
        agora_buf_reserve(buf, key_len + value_len + 15) != 0)
        return false;
    d = buf->data + buf->len;
    if (comma)
        *d++ = ',';
    *d++ = '"';
    if (copy_plain(d, (const unsigned char *)member->key.ptr, key_len) !=
        key_len)
        return false;
    d += key_len;
    *d++ = '"';
    *d++ = ':';
    *d++ = '"';
    if (copy_plain(d, (const unsigned char *)value->u.string.ptr,
                   value_len) != value_len)
        return false;
    d += value_len;
    *d++ = '"';
    buf->len = (size_t)(d - buf->data);
    return true;
}

/*
 * Out-of-line copies of the inlined fast paths, for write_value: it recurses
 * once per nesting level, so its frame must stay small (a 1,024-deep record
 * on a 256 KiB worker stack, also in a sanitizer build with its larger
 * frames).
 */
static __attribute__((noinline)) int write_string_out(agora_buf *buf,
                                                      const char *s,
                                                      size_t len)
{
    return write_string(buf, s, len);
}

static __attribute__((noinline)) bool
write_plain_member_out(agora_buf *buf, const agora_member *member, bool comma)
{
    return write_plain_member(buf, member, comma);
}

/* NOTE: recursion depth equals the nesting depth of value; parsed values are
 * bounded by agora_json_limits.max_depth, hand-built ones are not. */
static int write_value(agora_buf *buf, const agora_value *value)
{
    char number[40];
    size_t len;
    size_t i;
    int rc = 0;

    if (value == NULL)
        return put(buf, "null", 4);

    switch (value->type) {
    case AGORA_NULL:
        return put(buf, "null", 4);
    case AGORA_BOOL:
        return value->u.boolean ? put(buf, "true", 4) : put(buf, "false", 5);
    case AGORA_INT:
        len = format_int(value->u.integer, number);
        return put(buf, number, len);
    case AGORA_DOUBLE:
        if (!isfinite(value->u.number))
            return put(buf, "null", 4);
        len = agora_format_double(value->u.number, number);
        return put(buf, number, len);
    case AGORA_STRING:
        return write_string_out(buf, value->u.string.ptr, value->u.string.len);
    case AGORA_ARRAY:
        rc = put_char(buf, '[');
        for (i = 0; rc == 0 && i < value->u.array.len; i++) {
            if (i > 0)
                rc = put_char(buf, ',');
            if (rc == 0)
                rc = write_value(buf, value->u.array.items[i]);
        }
        return rc != 0 ? rc : put_char(buf, ']');
    case AGORA_OBJECT:
        rc = put_char(buf, '{');
        for (i = 0; rc == 0 && i < value->u.object.len; i++) {
            const agora_member *member = &value->u.object.members[i];

            if (write_plain_member_out(buf, member, i > 0))
                continue;
            if (i > 0)
                rc = put_char(buf, ',');
            if (rc == 0)
                rc = write_string_out(buf, member->key.ptr, member->key.len);
            if (rc == 0)
                rc = put_char(buf, ':');
            if (rc == 0)
                rc = write_value(buf, member->value);
        }
        return rc != 0 ? rc : put_char(buf, '}');
    }
    return AGORA_EINVAL;
}

int agora_json_write(agora_buf *buf, const agora_value *value)
{
    int rc;

    if (buf == NULL)
        return AGORA_EINVAL;
    rc = write_value(buf, value);
    if (rc != 0)
        return rc;
    /* put() reserves one spare byte, except when nothing was ever written. */
    if (buf->data != NULL)
        buf->data[buf->len] = '\0';
    return 0;
}

/* ---- Records with cached keys ------------------------------------------ */

void core_json_keys_clear(core_json_keys *keys)
{
    for (size_t i = 0; i < CORE_KEY_SLOTS; i++)
        keys->slots[i].ptr = NULL;
}

/* Renders `"key":` into slot when the key is plain and short enough. */
static void remember_key(core_key_slot *slot, const agora_string *key)
{
    slot->ptr = NULL;
    if (key->len + 3 > CORE_KEY_TEXT)
        return;
    slot->text[0] = '"';
    if (copy_plain(slot->text + 1, (const unsigned char *)key->ptr, key->len) !=
        key->len)
        return;
    slot->text[key->len + 1] = '"';
    slot->text[key->len + 2] = ':';
    slot->text_len = (unsigned char)(key->len + 3);
    slot->ptr = key->ptr;
    slot->len = key->len;
}

/*
 * The slot of member i with the rendered text of name, refreshed when it
 * held another key, or NULL when the key cannot be cached (past the slots,
 * too long, or in need of escapes).
 */
static inline core_key_slot *cached_key(core_json_keys *keys, size_t i,
                                        const agora_string *name)
{
    core_key_slot *slot;

    if (i >= CORE_KEY_SLOTS)
        return NULL;
    slot = &keys->slots[i];
    if (slot->ptr != name->ptr || slot->len != name->len)
        remember_key(slot, name);
    return slot->ptr != NULL ? slot : NULL;
}

/*
 * Appends an optional comma and the slot's `"key":`. The whole slot is
 * copied at a fixed size, which compiles to a few register moves; only
 * text_len bytes count. Returns 0 or AGORA_ENOMEM.
 */
static inline int put_cached_key(agora_buf *buf, const core_key_slot *slot,
                                 bool comma)
{
    if (buf->cap - buf->len < CORE_KEY_TEXT + 2) {
        int rc = agora_buf_reserve(buf, CORE_KEY_TEXT + 1);
        if (rc != 0)
            return rc;
    }
    if (comma)
        buf->data[buf->len++] = ',';
    memcpy(buf->data + buf->len, slot->text, CORE_KEY_TEXT);
    buf->len += slot->text_len;
    return 0;
}

int core_json_write_record(agora_buf *buf, const agora_value *value,
                           core_json_keys *keys)
{
    int rc;

    if (value == NULL || value->type != AGORA_OBJECT)
        return agora_json_write(buf, value);

    rc = put_char(buf, '{');
    for (size_t i = 0; rc == 0 && i < value->u.object.len; i++) {
        const agora_member *member = &value->u.object.members[i];
        const core_key_slot *slot = cached_key(keys, i, &member->key);

        if (slot == NULL) {
            /* Not cacheable: the general path. */
            if (!write_plain_member(buf, member, i > 0)) {
                if (i > 0)
                    rc = put_char(buf, ',');
                if (rc == 0)
                    rc = write_string(buf, member->key.ptr, member->key.len);
                if (rc == 0)
                    rc = put_char(buf, ':');
                if (rc == 0)
                    rc = write_value(buf, member->value);
            }
            continue;
        }
        rc = put_cached_key(buf, slot, i > 0);
        if (rc != 0)
            break;
        if (member->value != NULL && member->value->type == AGORA_STRING)
            rc = write_string(buf, member->value->u.string.ptr,
                              member->value->u.string.len);
        else
            rc = write_value(buf, member->value);
    }
    if (rc == 0)
        rc = put_char(buf, '}');
    if (rc == 0)
        buf->data[buf->len] = '\0';
    return rc;
}

size_t core_json_string_row_names_bound(const agora_string *names,
                                        size_t count)
{
    size_t bound = 0;

    /* A comma, the cached slot or the escaped name with its quotes and
     * colon (whichever the row takes), and the quotes of the value. */
    for (size_t i = 0; i < count; i++)
        bound += 1 + CORE_KEY_TEXT + 6 * names[i].len + 3 + 2;
    return bound;
}

size_t core_json_string_row_bound(size_t names_bound, size_t text_bytes)
{
    /* Braces, the values escaped, the last 16-byte store past its value,
     * and the caller's extra byte. */
    return 2 + names_bound + 6 * text_bytes + 16 + 1;
}

/*
 * Writes the value [p, p + len) with its quotes at d. A value of up to 16
 * bytes whose 16 bytes from p are readable is checked and stored as one
 * block, and what follows overwrites the bytes past the value. The common
 * short value then costs a single branch.
 */
static inline __attribute__((always_inline)) char *
render_row_value(char *d, const unsigned char *p, size_t len, bool readable16)
{
    const unsigned char *end = p + len;
    size_t plain;

    *d++ = '"';
#if defined(__SSE2__)
    if (len <= 16 && readable16) {
        unsigned hits = (unsigned)core_json_special_mask16(p) &
                        ((1u << len) - 1u);

        _mm_storeu_si128((__m128i *)(void *)d,
                         _mm_loadu_si128((const __m128i *)(const void *)p));
        if (hits == 0) {
            d[len] = '"';
            return d + len + 1;
        }
        plain = (size_t)__builtin_ctz(hits);
    } else
#endif
    {
        (void)readable16;
        plain = copy_plain(d, p, len);
    }
    d += plain;
    p += plain;
    if (p < end)
        d = escape_into(d, &p, end, end);
    *d++ = '"';
    return d;
}

size_t core_json_render_string_row(char *dest, core_json_keys *keys,
                                   const agora_string *names,
                                   const char *text, size_t text_len,
                                   size_t first_start, const size_t *ends,
                                   size_t count)
{
    char *d = dest;

    *d++ = '{';
    for (size_t i = 0; i < count; i++) {
        const core_key_slot *slot = cached_key(keys, i, &names[i]);
        size_t start = i == 0 ? first_start : ends[i - 1] + 1;

        *d = ',';
        d += i > 0;
        if (slot != NULL) {
            memcpy(d, slot->text, CORE_KEY_TEXT);
            d += slot->text_len;
        } else {
            const unsigned char *k = (const unsigned char *)names[i].ptr;

            *d++ = '"';
            d = escape_into(d, &k, k + names[i].len, k + names[i].len);
            *d++ = '"';
            *d++ = ':';
        }
        d = render_row_value(d, (const unsigned char *)text + start,
                             ends[i] - start, text_len - start >= 16);
    }
    *d++ = '}';
    return (size_t)(d - dest);
}

int core_json_write_string_row(agora_buf *buf, core_json_keys *keys,
                               const agora_string *names, const char *text,
                               size_t text_len, size_t first_start,
                               const size_t *ends, size_t count)
{
    size_t text_bytes = count > 0 ? ends[count - 1] - first_start : 0;
    size_t bound = core_json_string_row_bound(
        core_json_string_row_names_bound(names, count), text_bytes);
    int rc = agora_buf_reserve(buf, bound);

    if (rc != 0)
        return rc;
    buf->len += core_json_render_string_row(buf->data + buf->len, keys, names,
                                            text, text_len, first_start, ends,
                                            count);
    buf->data[buf->len] = '\0';
    return 0;
}
