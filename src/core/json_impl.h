/*
 * Helpers shared by the JSON parser and writer: UTF-8 validation, the
 * word-at-a-time scan over plain string bytes, and locale-independent strtod.
 */
#ifndef AGORA_CORE_JSON_IMPL_H
#define AGORA_CORE_JSON_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * Returns the length of the well-formed UTF-8 sequence at p (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF), or 0. p < end.
 */
static inline size_t core_utf8_sequence(const unsigned char *p,
                                        const unsigned char *end)
{
    unsigned char c = p[0];
    size_t avail = (size_t)(end - p);
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    size_t n;
    size_t i;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* below is overlong */
        else if (c == 0xED)
            hi = 0x9F; /* above is a UTF-16 surrogate */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90; /* below is overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above is past U+10FFFF */
    } else {
        return 0;
    }

    if (avail < n)
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (i = 2; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    }
    return n;
}

#define CORE_ONES 0x0101010101010101ULL
#define CORE_HIGHS 0x8080808080808080ULL

/*
 * Returns a mask with the high bit set in each byte of v that needs a closer
 * look inside a string: '"', '\\', a control character or a non-ASCII byte.
 * The lowest flagged byte is always a real hit, because the borrows of the
 * subtractions only travel towards higher bytes.
 */
static inline uint64_t core_json_special_bytes(uint64_t v)
{
    uint64_t quote = v ^ (CORE_ONES * '"');
    uint64_t backslash = v ^ (CORE_ONES * '\\');
    uint64_t flags = ((quote - CORE_ONES) & ~quote) |
                     ((backslash - CORE_ONES) & ~backslash) |
                     ((v - CORE_ONES * 0x20) & ~v) | v;

    return flags & CORE_HIGHS;
}

#if defined(__SSE2__)
#include <emmintrin.h>

/*
 * The 16 bytes at p as a bit mask (bit i for byte i) of the bytes that
 * core_json_special_bytes flags. A signed compare with 0x20 catches both the
 * control characters and the non-ASCII bytes, which are negative as signed.
 * SSE2 is part of every x86-64 CPU.
 */
static inline int core_json_special_mask16(const unsigned char *p)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i hits = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                     _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
        _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));

    return _mm_movemask_epi8(hits);
}
#endif

/*
 * Returns the first byte in [p, end) that is '"', '\\', a control character
 * or non-ASCII, or end. Reads 8 bytes at a time on little-endian machines.
 */
static inline const unsigned char *core_json_skip_plain(const unsigned char *p,
                                                        const unsigned char *end)
{
#if defined(__SSE2__)
    while (end - p >= 16) {
        int mask = core_json_special_mask16(p);
        if (mask != 0)
            return p + __builtin_ctz((unsigned)mask);
        p += 16;
    }
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (end - p >= 8) {
        uint64_t v;
        uint64_t mask;

        memcpy(&v, p, 8);
        mask = core_json_special_bytes(v);
        if (mask != 0)
            return p + (__builtin_ctzll(mask) >> 3);
        p += 8;
    }
#endif
    while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
        p++;
    return p;
}

/* strtod that ignores the process locale, so '.' is always the point. */
double core_strtod_c(const char *s);

#endif
