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

/* "0" .. "255" as text, 4 bytes a row (NUL padded), and their lengths. */
static const char octet_tab[256][4] = {
    "0\0\0\0", "1\0\0\0", "2\0\0\0", "3\0\0\0", "4\0\0\0", "5\0\0\0", "6\0\0\0", "7\0\0\0", "8\0\0\0",
    "9\0\0\0", "10\0\0", "11\0\0", "12\0\0", "13\0\0", "14\0\0", "15\0\0", "16\0\0", "17\0\0", "18\0\0",
    "19\0\0", "20\0\0", "21\0\0", "22\0\0", "23\0\0", "24\0\0", "25\0\0", "26\0\0", "27\0\0", "28\0\0",
    "29\0\0", "30\0\0", "31\0\0", "32\0\0", "33\0\0", "34\0\0", "35\0\0", "36\0\0", "37\0\0", "38\0\0",
    "39\0\0", "40\0\0", "41\0\0", "42\0\0", "43\0\0", "44\0\0", "45\0\0", "46\0\0", "47\0\0", "48\0\0",
    "49\0\0", "50\0\0", "51\0\0", "52\0\0", "53\0\0", "54\0\0", "55\0\0", "56\0\0", "57\0\0", "58\0\0",
    "59\0\0", "60\0\0", "61\0\0", "62\0\0", "63\0\0", "64\0\0", "65\0\0", "66\0\0", "67\0\0", "68\0\0",
    "69\0\0", "70\0\0", "71\0\0", "72\0\0", "73\0\0", "74\0\0", "75\0\0", "76\0\0", "77\0\0", "78\0\0",
    "79\0\0", "80\0\0", "81\0\0", "82\0\0", "83\0\0", "84\0\0", "85\0\0", "86\0\0", "87\0\0", "88\0\0",
    "89\0\0", "90\0\0", "91\0\0", "92\0\0", "93\0\0", "94\0\0", "95\0\0", "96\0\0", "97\0\0", "98\0\0",
    "99\0\0", "100\0", "101\0", "102\0", "103\0", "104\0", "105\0", "106\0", "107\0", "108\0", "109\0",
    "110\0", "111\0", "112\0", "113\0", "114\0", "115\0", "116\0", "117\0", "118\0", "119\0", "120\0",
    "121\0", "122\0", "123\0", "124\0", "125\0", "126\0", "127\0", "128\0", "129\0", "130\0", "131\0",
    "132\0", "133\0", "134\0", "135\0", "136\0", "137\0", "138\0", "139\0", "140\0", "141\0", "142\0",
    "143\0", "144\0", "145\0", "146\0", "147\0", "148\0", "149\0", "150\0", "151\0", "152\0", "153\0",
    "154\0", "155\0", "156\0", "157\0", "158\0", "159\0", "160\0", "161\0", "162\0", "163\0", "164\0",
    "165\0", "166\0", "167\0", "168\0", "169\0", "170\0", "171\0", "172\0", "173\0", "174\0", "175\0",
    "176\0", "177\0", "178\0", "179\0", "180\0", "181\0", "182\0", "183\0", "184\0", "185\0", "186\0",
    "187\0", "188\0", "189\0", "190\0", "191\0", "192\0", "193\0", "194\0", "195\0", "196\0", "197\0",
    "198\0", "199\0", "200\0", "201\0", "202\0", "203\0", "204\0", "205\0", "206\0", "207\0", "208\0",
    "209\0", "210\0", "211\0", "212\0", "213\0", "214\0", "215\0", "216\0", "217\0", "218\0", "219\0",
    "220\0", "221\0", "222\0", "223\0", "224\0", "225\0", "226\0", "227\0", "228\0", "229\0", "230\0",
    "231\0", "232\0", "233\0", "234\0", "235\0", "236\0", "237\0", "238\0", "239\0", "240\0", "241\0",
    "242\0", "243\0", "244\0", "245\0", "246\0", "247\0", "248\0", "249\0", "250\0", "251\0", "252\0",
    "253\0", "254\0", "255\0",
};

static const char *octet_text(uint8_t o, size_t *len)
{
    *len = o >= 100 ? 3 : o >= 10 ? 2 : 1;
    return octet_tab[o];
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

static const char digits2[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                  "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                  "8081828384858687888990919293949596979899";

char *query_w_u64(char *w, uint64_t v)
{
    static const uint64_t pow10[] = {UINT64_C(10), UINT64_C(100), UINT64_C(1000), UINT64_C(10000),
                                     UINT64_C(100000), UINT64_C(1000000), UINT64_C(10000000),
                                     UINT64_C(100000000), UINT64_C(1000000000), UINT64_C(10000000000),
                                     UINT64_C(100000000000), UINT64_C(1000000000000),
                                     UINT64_C(10000000000000), UINT64_C(100000000000000),
                                     UINT64_C(1000000000000000), UINT64_C(10000000000000000),
                                     UINT64_C(100000000000000000), UINT64_C(1000000000000000000),
                                     UINT64_C(10000000000000000000)};
    unsigned n = 1;
    while (n < 20 && v >= pow10[n - 1])
        n++;
    char *end = w + n, *p = end;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        p -= 2;
        memcpy(p, digits2 + 2 * r, 2);
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, digits2 + 2 * v, 2);
    } else {
        *--p = (char)('0' + v);
    }
    return end;
}

char *query_w_addr(char *w, const uint8_t addr[16])
{
    if (flow_addr_is_v4(addr) || flow_addr_is_zero(addr)) {
        for (int i = 12; i < 16; i++) {
            size_t l;
            const char *t = octet_text(addr[i], &l);
            memcpy(w, t, 4); /* the table rows are 4 bytes; only l of them count */
            w += l;
            *w++ = '.';
        }
        return w - 1;
    }
    if (!inet_ntop(AF_INET6, addr, w, 46))
        return w;
    return w + strlen(w);
}

char *query_w_mac(char *w, uint64_t mac)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 5; i >= 0; i--) {
        uint8_t o = (uint8_t)(mac >> (i * 8));
        *w++ = hex[o >> 4];
        *w++ = hex[o & 15];
        if (i)
            *w++ = ':';
    }
    return w;
}

char *query_w_date(query_buf *b, char *w, uint64_t ms)
{
    uint64_t s = ms / 1000;
    uint64_t day = s / 86400;
    if (b->day != day + 1) {
        int y;
        unsigned m, d;
        civil_from_days((int64_t)day, &y, &m, &d);
        char *t = b->day_txt;
        two(t, (unsigned)y / 100);
        two(t + 2, (unsigned)y % 100);
        t[4] = '-';
        two(t + 5, m);
        t[7] = '-';
        two(t + 8, d);
        t[10] = ' ';
        b->day = day + 1;
    }
    memcpy(w, b->day_txt, 11);
    unsigned sod = (unsigned)(s % 86400);
    memcpy(w + 11, digits2 + 2 * (sod / 3600), 2);
    w[13] = ':';
    memcpy(w + 14, digits2 + 2 * (sod / 60 % 60), 2);
    w[16] = ':';
    memcpy(w + 17, digits2 + 2 * (sod % 60), 2);
    return w + 19;
}

void query_buf_date(query_buf *b, uint64_t ms)
{
    if (!query_buf_reserve(b, 19))
        return;
    b->len = (size_t)(query_w_date(b, b->p + b->len, ms) - b->p);
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
