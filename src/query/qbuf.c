/* query/qbuf.c - output buffer and fast text formatting for the printers. */
#include "query/qbuf.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>

#include "flow/flow.h"

bool query_buf_reserve(query_buf *b, size_t n)
{
    if (b->failed)
        return false;
    if (b->cap - b->len >= n)
        return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void query_buf_free(query_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

void query_buf_spaces(query_buf *b, int n)
{
    if (n <= 0 || !query_buf_reserve(b, (size_t)n))
        return;
    memset(b->p + b->len, ' ', (size_t)n);
    b->len += (size_t)n;
}

void query_buf_pad_left(query_buf *b, const char *s, size_t n, int width)
{
    if ((int)n < width)
        query_buf_spaces(b, width - (int)n);
    query_buf_put(b, s, n);
}

void query_buf_pad_right(query_buf *b, const char *s, size_t n, int width)
{
    query_buf_put(b, s, n);
    if ((int)n < width)
        query_buf_spaces(b, width - (int)n);
}

size_t query_fmt_u64(uint64_t v, char *out)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return n;
}

void query_buf_u64(query_buf *b, uint64_t v, int width)
{
    char tmp[24];
    size_t n = query_fmt_u64(v, tmp);
    query_buf_pad_left(b, tmp, n, width);
}

size_t query_fmt_fixed(double v, int decimals, char *out)
{
    static const double scale[] = {1, 10, 100, 1000};
    if (v < 0)
        v = 0;
    if (decimals < 0)
        decimals = 0;
    if (decimals > 3)
        decimals = 3;
    if (v > 1e15) {
        int n = snprintf(out, 32, "%.*f", decimals, v);
        return n > 0 ? (size_t)n : 0;
    }
    uint64_t scaled = (uint64_t)(v * scale[decimals] + 0.5);
    uint64_t ip = scaled / (uint64_t)scale[decimals];
    uint64_t fp = scaled % (uint64_t)scale[decimals];
    size_t n = query_fmt_u64(ip, out);
    if (decimals) {
        out[n++] = '.';
        for (int i = decimals - 1; i >= 0; i--) {
            out[n + (size_t)i] = (char)('0' + fp % 10);
            fp /= 10;
        }
        n += (size_t)decimals;
    }
    out[n] = '\0';
    return n;
}

size_t query_fmt_num(uint64_t v, bool plain, char *out)
{
    const double d = (double)v;
    const char *unit = NULL;
    double div = 1;
    if (!plain) {
        if (d >= 1e12)
            unit = "T", div = 1e12;
        else if (d >= 1e9)
            unit = "G", div = 1e9;
        else if (d >= 1e6)
            unit = "M", div = 1e6;
    }
    if (!unit)
        return query_fmt_u64(v, out);
    int n = snprintf(out, 32, "%.1f %s", d / div, unit);
    return n > 0 ? (size_t)n : 0;
}

/* "0." .. "255." as text, with lengths. */
static const char *octet_text(uint8_t o, size_t *len)
{
    static char table[256][4];
    static unsigned char lens[256];
    static int ready; /* benign: every thread writes the same bytes */
    if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
        for (int i = 0; i < 256; i++)
            lens[i] = (unsigned char)query_fmt_u64((uint64_t)i, table[i]);
        __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    }
    *len = lens[o];
    return table[o];
}

size_t query_fmt_addr(const uint8_t addr[16], char *out)
{
    if (flow_addr_is_v4(addr) || flow_addr_is_zero(addr)) { /* absent prints as nfdump's 0.0.0.0 */
        size_t n = 0;
        for (int i = 12; i < 16; i++) {
            size_t l;
            const char *t = octet_text(addr[i], &l);
            memcpy(out + n, t, l);
            n += l;
            out[n++] = '.';
        }
        out[--n] = '\0';
        return n;
    }
    if (!inet_ntop(AF_INET6, addr, out, 46)) {
        out[0] = '\0';
        return 0;
    }
    return strlen(out);
}

size_t query_fmt_addr_short(const uint8_t addr[16], bool long_v6, char *out)
{
    size_t n = query_fmt_addr(addr, out);
    if (long_v6 || n <= 16 || flow_addr_is_v4(addr))
        return n;
    /* first 7 characters, "..", last 7 characters */
    memmove(out + 9, out + n - 7, 7);
    out[7] = '.';
    out[8] = '.';
    out[16] = '\0';
    return 16;
}

size_t query_fmt_mac(uint64_t mac, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    for (int i = 5; i >= 0; i--) {
        uint8_t o = (uint8_t)(mac >> (i * 8));
        out[n++] = hex[o >> 4];
        out[n++] = hex[o & 15];
        if (i)
            out[n++] = ':';
    }
    out[n] = '\0';
    return n;
}

void query_fmt_flags(uint8_t flags, char out[9])
{
    static const char names[] = "CEUAPRSF";
    for (int i = 0; i < 8; i++)
        out[i] = (flags & (0x80 >> i)) ? names[i] : '.';
    out[8] = '\0';
}

size_t query_fmt_proto(uint8_t proto, bool numeric, char *out)
{
    const char *name = NULL;
    if (!numeric) {
        switch (proto) {
        case 1: name = "ICMP"; break;
        case 2: name = "IGMP"; break;
        case 4: name = "IPIP"; break;
        case 6: name = "TCP"; break;
        case 17: name = "UDP"; break;
        case 41: name = "IPv6"; break;
        case 47: name = "GRE"; break;
        case 50: name = "ESP"; break;
        case 51: name = "AH"; break;
        case 58: name = "ICMP6"; break;
        case 89: name = "OSPF"; break;
        case 103: name = "PIM"; break;
        case 112: name = "VRRP"; break;
        case 132: name = "SCTP"; break;
        default: break;
        }
    }
    if (!name)
        return query_fmt_u64(proto, out);
    size_t n = strlen(name);
    memcpy(out, name, n + 1);
    return n;
}

/* Days since 1970-01-01 to a civil date (proleptic Gregorian). */
static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yoe + (unsigned)era * 400 + (*m <= 2));
}

static void two(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
}

void query_buf_date(query_buf *b, uint64_t ms)
{
    uint64_t s = ms / 1000;
    if (b->day_s != s + 1) {
        int y;
        unsigned m, d;
        civil_from_days((int64_t)(s / 86400), &y, &m, &d);
        unsigned sod = (unsigned)(s % 86400);
        char *t = b->day_txt;
        two(t, (unsigned)y / 100);
        two(t + 2, (unsigned)y % 100);
        t[4] = '-';
        two(t + 5, m);
        t[7] = '-';
        two(t + 8, d);
        t[10] = ' ';
        two(t + 11, sod / 3600);
        t[13] = ':';
        two(t + 14, sod / 60 % 60);
        t[16] = ':';
        two(t + 17, sod % 60);
        b->day_s = s + 1;
    }
    query_buf_put(b, b->day_txt, 19);
}

void query_buf_time_ms(query_buf *b, uint64_t ms)
{
    query_buf_date(b, ms);
    unsigned r = (unsigned)(ms % 1000);
    char t[4] = {'.', (char)('0' + r / 100), (char)('0' + r / 10 % 10), (char)('0' + r % 10)};
    query_buf_put(b, t, 4);
}

size_t query_fmt_duration(uint64_t ms, char *out)
{
    uint64_t s = ms / 1000;
    uint64_t h = s / 3600;
    size_t n;
    if (h < 100) {
        two(out, (unsigned)h);
        n = 2;
    } else {
        n = query_fmt_u64(h, out);
    }
    out[n++] = ':';
    two(out + n, (unsigned)(s / 60 % 60));
    n += 2;
    out[n++] = ':';
    two(out + n, (unsigned)(s % 60));
    n += 2;
    out[n++] = '.';
    unsigned r = (unsigned)(ms % 1000);
    out[n++] = (char)('0' + r / 100);
    two(out + n, r % 100);
    n += 2;
    out[n] = '\0';
    return n;
}
