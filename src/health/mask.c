/*
 * Secret masking for the last_error text shown on /health.
 *
 * Error messages often quote a URL, a header or a query string taken from
 * the configuration. Before such a message leaves the process it goes
 * through agora_health_mask_error, which replaces bearer tokens, URL
 * passwords and secret-looking query values with "***", replaces invalid
 * UTF-8 with '?', and cuts the text to AGORA_LAST_ERROR_MAX characters.
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "agora/health.h"

#define MASK_TEXT "***"
#define OUT_BYTES_MAX (AGORA_LAST_ERROR_MAX * 4)

/* Output with a cap in characters and in bytes; extra input is dropped. */
typedef struct mask_writer {
    char *out;
    size_t len;
    size_t chars;
    bool full;
} mask_writer;

/* Appends one complete UTF-8 character (1 to 4 bytes). */
static void writer_put_char(mask_writer *w, const char *bytes, size_t n)
{
    if (w->full)
        return;
    if (w->chars == AGORA_LAST_ERROR_MAX || w->len + n > OUT_BYTES_MAX) {
        w->full = true;
        return;
    }
    memcpy(w->out + w->len, bytes, n);
    w->len += n;
    w->chars++;
}

static void writer_put_ascii(mask_writer *w, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        writer_put_char(w, s + i, 1);
}

/*
 * Returns the length of the valid UTF-8 sequence at s (at most avail bytes),
 * or 0 when the bytes there are not valid UTF-8 (overlong forms, surrogates
 * and code points above U+10FFFF included).
 */
static size_t utf8_sequence_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (n > avail)
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    }
    return n;
}

static bool is_word_byte(unsigned char c)
{
    return isalnum(c) || c >= 0x80;
}

/* Bytes that end a token, a password or a query value. */
static bool ends_secret(unsigned char c)
{
    return c == '\0' || isspace(c) || c == '"' || c == '\'' || c == ',' ||
           c == ';' || c == '&' || c == '#' || c == ')' || c == '>';
}

/*
 * Matches "Bearer" (any case) at s[i], not preceded by a letter or digit and
 * followed by blanks and a token. Returns the offset where the token starts,
 * or 0 for no match.
 */
static size_t match_bearer(const char *s, size_t i)
{
    size_t j;

    if (strncasecmp(s + i, "bearer", 6) != 0)
        return 0;
    if (i > 0 && is_word_byte((unsigned char)s[i - 1]))
        return 0;
    j = i + 6;
    if (s[j] != ' ' && s[j] != '\t')
        return 0;
    while (s[j] == ' ' || s[j] == '\t')
        j++;
    if (ends_secret((unsigned char)s[j]))
        return 0;
    return j;
}

/* Query and form keys whose values are masked, matched case-insensitively. */
static const char *const secret_keys[] = {
    "password", "passwd", "pwd", "token", "secret", "api_key", "apikey",
};

/*
 * Matches a secret key followed by '=' at s[i]; the key must not follow a
 * letter or digit, so "access_token=" matches through "token" while
 * "tokens=" and "mytoken=" do not. Returns the offset of the value, or 0.
 */
static size_t match_secret_key(const char *s, size_t i)
{
    if (i > 0 && is_word_byte((unsigned char)s[i - 1]))
        return 0;
    for (size_t k = 0; k < sizeof secret_keys / sizeof secret_keys[0]; k++) {
        size_t n = strlen(secret_keys[k]);

        if (strncasecmp(s + i, secret_keys[k], n) == 0 && s[i + n] == '=')
            return i + n + 1;
    }
    return 0;
}

/*
 * Matches "://user:password@" at s[i]. Returns the offset of the password
 * and stores the offset of the '@' that ends the user info in *at, or
 * returns 0. The user info ends at the last '@' before the end of the
 * authority ('/', '?', '#' or a blank), because passwords may contain '@'.
 */
static size_t match_url_password(const char *s, size_t i, size_t *at)
{
    size_t j, colon = 0, last_at = 0;

    if (strncmp(s + i, "://", 3) != 0)
        return 0;
    for (j = i + 3; s[j] != '\0'; j++) {
        unsigned char c = (unsigned char)s[j];

        if (c == '/' || c == '?' || c == '#' || isspace(c) || c == '"' ||
            c == '\'')
            break;
        if (c == ':' && colon == 0 && last_at == 0)
            colon = j;
        if (c == '@')
            last_at = j;
    }
    if (colon == 0 || last_at == 0 || colon > last_at)
        return 0;
    *at = last_at;
    return colon + 1;
}

static size_t skip_secret(const char *s, size_t j)
{
    while (!ends_secret((unsigned char)s[j]))
        j++;
    return j;
}

void agora_health_mask_error(const char *message, char *out)
{
    mask_writer w = {.out = out};
    size_t i = 0, len;

    if (message == NULL) {
        out[0] = '\0';
        return;
    }
    len = strlen(message);
    while (message[i] != '\0' && !w.full) {
        size_t start, at, n;

        if ((start = match_bearer(message, i)) != 0) {
            writer_put_ascii(&w, message + i, start - i);
            writer_put_ascii(&w, MASK_TEXT, 3);
            i = skip_secret(message, start);
            continue;
        }
        if ((start = match_secret_key(message, i)) != 0) {
            writer_put_ascii(&w, message + i, start - i);
            if (!ends_secret((unsigned char)message[start]))
                writer_put_ascii(&w, MASK_TEXT, 3);
            i = skip_secret(message, start);
            continue;
        }
        if ((start = match_url_password(message, i, &at)) != 0) {
            /* Scheme separator and user name pass through unchanged. */
            for (size_t k = i; k < start && !w.full;) {
                n = utf8_sequence_len((const unsigned char *)message + k,
                                      start - k);
                if (n == 0) {
                    writer_put_char(&w, "?", 1);
                    k++;
                } else {
                    writer_put_char(&w, message + k, n);
                    k += n;
                }
            }
            writer_put_ascii(&w, MASK_TEXT, 3);
            writer_put_char(&w, "@", 1);
            i = at + 1;
            continue;
        }

        n = utf8_sequence_len((const unsigned char *)message + i, len - i);
        if (n == 0) {
            writer_put_char(&w, "?", 1);
            i++;
        } else {
            writer_put_char(&w, message + i, n);
            i += n;
        }
    }
    out[w.len] = '\0';
}
