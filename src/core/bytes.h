/*
 * core/bytes.h - bounds-checked big-endian readers over untrusted bytes.
 *
 * Every decoder reads outside bytes through a cf_cursor: each read checks the
 * bytes left first and fails (returning false, cursor unchanged) instead of
 * reading past the end.  Never cast a struct over a packet.  Header-only;
 * thread safe as long as a cursor is not shared.
 */
#ifndef CF_CORE_BYTES_H
#define CF_CORE_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct cf_cursor {
    const uint8_t *p; /* next byte to read */
    size_t left;      /* bytes left from p */
} cf_cursor;

static inline cf_cursor cf_cursor_make(const void *buf, size_t len)
{
    cf_cursor c = {(const uint8_t *)buf, len};
    return c;
}

static inline uint16_t cf_be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t cf_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t cf_be64(const uint8_t *p) { return ((uint64_t)cf_be32(p) << 32) | cf_be32(p + 4); }

static inline void cf_put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void cf_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void cf_put_be64(uint8_t *p, uint64_t v)
{
    cf_put_be32(p, (uint32_t)(v >> 32));
    cf_put_be32(p + 4, (uint32_t)v);
}

static inline bool cf_read_u8(cf_cursor *c, uint8_t *v)
{
    if (c->left < 1)
        return false;
    *v = c->p[0];
    c->p++, c->left--;
    return true;
}
static inline bool cf_read_be16(cf_cursor *c, uint16_t *v)
{
    if (c->left < 2)
        return false;
    *v = cf_be16(c->p);
    c->p += 2, c->left -= 2;
    return true;
}
static inline bool cf_read_be32(cf_cursor *c, uint32_t *v)
{
    if (c->left < 4)
        return false;
    *v = cf_be32(c->p);
    c->p += 4, c->left -= 4;
    return true;
}
static inline bool cf_read_be64(cf_cursor *c, uint64_t *v)
{
    if (c->left < 8)
        return false;
    *v = cf_be64(c->p);
    c->p += 8, c->left -= 8;
    return true;
}
static inline bool cf_read_bytes(cf_cursor *c, void *dst, size_t n)
{
    if (c->left < n)
        return false;
    memcpy(dst, c->p, n);
    c->p += n, c->left -= n;
    return true;
}
static inline bool cf_skip(cf_cursor *c, size_t n)
{
    if (c->left < n)
        return false;
    c->p += n, c->left -= n;
    return true;
}
/* A sub-cursor over the next n bytes, which the parent skips. */
static inline bool cf_sub(cf_cursor *c, size_t n, cf_cursor *sub)
{
    if (c->left < n)
        return false;
    sub->p = c->p, sub->left = n;
    c->p += n, c->left -= n;
    return true;
}

#endif
