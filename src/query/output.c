/* query/output.c - record printers in nfdump 1.7.1's formats. */
#include "query/output.h"

#include <stdio.h>
#include <string.h>

#include "query/names.h"
#include "store/store.h"

/* ---- fmt: tags ---------------------------------------------------------- */

typedef enum tag_kind {
    T_TS, T_TE, T_TD, T_TSR, T_TER, T_PR, T_SA, T_DA, T_SAP, T_DAP, T_SP, T_DP, T_PKT, T_BYT, T_FL,
    T_FLG, T_TOS, T_BPS, T_PPS, T_BPP, T_IN, T_OUT, T_SAS, T_DAS, T_NH, T_NHB, T_RA, T_SMK, T_DMK,
    T_SVLN, T_DVLN, T_ISMC, T_ODMC, T_ENG, T_FWD, T_DIR, T_SN, T_DN, T_TFS,
    /* nfdump tags added with the names (issue 3) */
    T_STOS, T_DTOS, T_IPKT, T_IBYT, T_OPKT, T_OBYT, T_IDMC, T_OSMC, T_MPLSN, T_MPLS, T_NSA, T_NDA,
    T_NSP, T_NDP, T_NSAP, T_NDAP, T_EVT, T_TR, T_TRR, T_IT, T_IC, T_NFV, T_NBID, T_NBNAM,
    T_INAM, T_ONAM,
    /* cloudflow tags */
    T_INN, T_OUTN, T_IND, T_OUTD, T_APPN, T_APPD, T_SAMP,
} tag_kind;

typedef struct tag_def {
    const char *name;   /* without % */
    tag_kind kind;
    const char *header; /* column title */
    int width;          /* data width (right-aligned unless noted) */
    uint64_t fields;    /* columns needed */
} tag_def;

#define B(x) STORE_FIELD_BIT(FLOW_FIELD_##x)
#define TIMES (B(FIRST) | B(LAST))
#define MPLS_BITS (((UINT64_C(1) << 10) - 1) << FLOW_FIELD_MPLS1)
static const tag_def tags[] = {
    {"tsr", T_TSR, "Date first seen (raw)    ", 14, B(FIRST)},
    {"ter", T_TER, "Date last seen (raw)     ", 14, B(LAST)},
    {"tfs", T_TFS, "Date first seen        ", 23, B(FIRST)},
    {"ts", T_TS, "Date first seen        ", 23, B(FIRST)},
    {"te", T_TE, "Date last seen         ", 23, B(LAST)},
    {"td", T_TD, "    Duration    ", 16, TIMES},
    {"pr", T_PR, "Proto", 5, B(PROTO)},
    {"sap", T_SAP, "Src IP Addr:Port", 16, B(SRC_ADDR) | B(SRC_PORT) | B(PROTO)},
    {"dap", T_DAP, "Dst IP Addr:Port", 16, B(DST_ADDR) | B(DST_PORT) | B(PROTO)},
    {"sas", T_SAS, "Src AS", 6, B(SRC_AS)},
    {"das", T_DAS, "Dst AS", 6, B(DST_AS)},
    {"sa", T_SA, "Src IP Addr", 16, B(SRC_ADDR)},
    {"da", T_DA, "Dst IP Addr", 16, B(DST_ADDR)},
    {"sp", T_SP, "Src Pt", 6, B(SRC_PORT)},
    {"dp", T_DP, "Dst Pt", 6, B(DST_PORT)},
    {"pkt", T_PKT, " Packets", 8, B(PACKETS)},
    {"byt", T_BYT, "   Bytes", 8, B(BYTES)},
    {"fl", T_FL, "Flows", 5, 0},
    {"flg", T_FLG, "   Flags", 8, B(TCP_FLAGS)},
    {"tos", T_TOS, "Tos", 3, B(TOS)},
    {"bps", T_BPS, "     bps", 8, B(BYTES) | TIMES},
    {"pps", T_PPS, "     pps", 8, B(PACKETS) | TIMES},
    {"bpp", T_BPP, "   Bpp", 6, B(PACKETS) | B(BYTES)},
    {"in", T_IN, " Input", 6, B(IN_IF)},
    {"out", T_OUT, "Output", 6, B(OUT_IF)},
    {"nhb", T_NHB, " BGP next-hop IP", 16, B(BGP_NEXT_HOP)},
    {"nh", T_NH, "     Next-hop IP", 16, B(NEXT_HOP)},
    {"ra", T_RA, "       Router IP", 16, B(EXPORTER)},
    {"smk", T_SMK, "SMask", 5, B(SRC_MASK)},
    {"dmk", T_DMK, "DMask", 5, B(DST_MASK)},
    {"svln", T_SVLN, "SVlan", 5, B(SRC_VLAN)},
    {"dvln", T_DVLN, "DVlan", 5, B(DST_VLAN)},
    {"ismc", T_ISMC, "  In src MAC Addr", 17, B(SRC_MAC)},
    {"odmc", T_ODMC, " Out dst MAC Addr", 17, B(DST_MAC)},
    {"eng", T_ENG, " engine", 7, B(ENGINE_TYPE) | B(ENGINE_ID)},
    {"fwd", T_FWD, "Fwd", 3, B(FWD_STATUS)},
    {"dir", T_DIR, "Dir", 3, B(DIRECTION)},
    {"sn", T_SN, "        Src Network", 19, B(SRC_ADDR) | B(SRC_MASK)},
    {"dn", T_DN, "        Dst Network", 19, B(DST_ADDR) | B(DST_MASK)},
    {"stos", T_STOS, "STos", 4, B(TOS)},
    {"dtos", T_DTOS, "DTos", 4, 0},
    {"ipkt", T_IPKT, "  In Pkt", 8, B(PACKETS)},
    {"ibyt", T_IBYT, " In Byte", 8, B(BYTES)},
    {"opkt", T_OPKT, " Out Pkt", 8, 0},
    {"obyt", T_OBYT, "Out Byte", 8, 0},
    {"idmc", T_IDMC, "  In dst MAC Addr", 17, B(DST_MAC)},
    {"osmc", T_OSMC, " Out src MAC Addr", 17, 0},
    {"mpls1", T_MPLSN, " MPLS lbl 1 ", 12, B(MPLS1)},
    {"mpls2", T_MPLSN, " MPLS lbl 2 ", 12, B(MPLS1) << 1},
    {"mpls3", T_MPLSN, " MPLS lbl 3 ", 12, B(MPLS1) << 2},
    {"mpls4", T_MPLSN, " MPLS lbl 4 ", 12, B(MPLS1) << 3},
    {"mpls5", T_MPLSN, " MPLS lbl 5 ", 12, B(MPLS1) << 4},
    {"mpls6", T_MPLSN, " MPLS lbl 6 ", 12, B(MPLS1) << 5},
    {"mpls7", T_MPLSN, " MPLS lbl 7 ", 12, B(MPLS1) << 6},
    {"mpls8", T_MPLSN, " MPLS lbl 8 ", 12, B(MPLS1) << 7},
    {"mpls9", T_MPLSN, " MPLS lbl 9 ", 12, B(MPLS1) << 8},
    {"mpls10", T_MPLSN, " MPLS lbl 10", 12, B(MPLS1) << 9},
    {"mpls", T_MPLS, "                                               MPLS labels 1-10                      "
                     "                                             ", 130, MPLS_BITS},
    {"nsa", T_NSA, "   X-late Src IP", 16, B(NAT_SRC_ADDR)},
    {"xsa", T_NSA, "   X-late Src IP", 16, B(NAT_SRC_ADDR)},
    {"nda", T_NDA, "   X-late Dst IP", 16, B(NAT_DST_ADDR)},
    {"xda", T_NDA, "   X-late Dst IP", 16, B(NAT_DST_ADDR)},
    {"nsp", T_NSP, "XsPort", 6, B(NAT_SRC_PORT)},
    {"xsp", T_NSP, "XsPort", 6, B(NAT_SRC_PORT)},
    {"ndp", T_NDP, "XdPort", 6, B(NAT_DST_PORT)},
    {"xdp", T_NDP, "XdPort", 6, B(NAT_DST_PORT)},
    {"nsap", T_NSAP, "X-Src IP Addr:Port", 16, B(NAT_SRC_ADDR) | B(NAT_SRC_PORT)},
    {"xsap", T_NSAP, "X-Src IP Addr:Port", 16, B(NAT_SRC_ADDR) | B(NAT_SRC_PORT)},
    {"ndap", T_NDAP, "X-Dst IP Addr:Port", 16, B(NAT_DST_ADDR) | B(NAT_DST_PORT)},
    {"xdap", T_NDAP, "X-Dst IP Addr:Port", 16, B(NAT_DST_ADDR) | B(NAT_DST_PORT)},
    {"evt", T_EVT, " Event", 7, B(FW_EVENT)},
    {"nevt", T_EVT, " Event", 7, B(FW_EVENT)},
    {"tr", T_TR, "Date flow received     ", 23, B(RECEIVED) | B(LAST)},
    {"trr", T_TRR, "Date flow received (raw)  ", 14, B(RECEIVED) | B(LAST)},
    {"it", T_IT, "ICMP-T", 6, B(ICMP_TYPE)},
    {"ic", T_IC, "ICMP-C", 6, B(ICMP_CODE)},
    {"nfv", T_NFV, "Ver", 3, B(EXPORTER_PROTO) | B(FW_EVENT)},
    {"nbid", T_NBID, "nbar ID", 5, B(APP_ID)},
    {"nbnam", T_NBNAM, "nbar name", 9, B(APP_ID) | B(EXPORTER)},
    {"inam", T_INAM, " Input interface name", 21, B(IN_IF) | B(EXPORTER)},
    {"onam", T_ONAM, "Output interface name", 21, B(OUT_IF) | B(EXPORTER)},
    {"inn", T_INN, "In interface    ", 16, B(IN_IF) | B(EXPORTER)},
    {"outn", T_OUTN, "Out interface   ", 16, B(OUT_IF) | B(EXPORTER)},
    {"ind", T_IND, "In interface description", 0, B(IN_IF) | B(EXPORTER)},
    {"outd", T_OUTD, "Out interface description", 0, B(OUT_IF) | B(EXPORTER)},
    {"appn", T_APPN, "Application     ", 16, B(APP_ID) | B(EXPORTER)},
    {"appd", T_APPD, "Application description", 0, B(APP_ID) | B(EXPORTER)},
    {"samp", T_SAMP, "Sampling", 8, B(SAMPLING)},
};
#define N_TAGS (sizeof(tags) / sizeof(tags[0]))

static const char *const fmt_line = "%ts %td %pr %sap -> %dap %pkt %byt %fl";
static const char *const fmt_long = "%ts %td %pr %sap -> %dap %flg %tos %pkt %byt %fl";
static const char *const fmt_extended = "%ts %td %pr %sap -> %dap %flg %tos %pkt %byt %pps %bps %bpp %fl";
static const char *const fmt_biline = "%ts %td %pr %sap <-> %dap %opkt %ipkt %obyt %ibyt %fl";
static const char *const fmt_bilong = "%ts %td %pr %sap <-> %dap %flg %tos %opkt %ipkt %obyt %ibyt %fl";
/* appended to long and extended when names are known for the data read */
static const char *const fmt_names = " %inn %outn %appn";

#define ALL_RECORD_FIELDS                                                                                \
    (TIMES | B(SRC_ADDR) | B(DST_ADDR) | B(SRC_PORT) | B(DST_PORT) | B(PROTO) | B(TCP_FLAGS) | B(TOS) | \
     B(PACKETS) | B(BYTES) | B(IN_IF) | B(OUT_IF) | B(SRC_AS) | B(DST_AS) | B(SRC_MASK) | B(DST_MASK) |   \
     B(NEXT_HOP) | B(BGP_NEXT_HOP) | B(SRC_VLAN) | B(DST_VLAN) | B(SRC_MAC) | B(DST_MAC) |               \
     B(DIRECTION) | B(EXPORTER) | B(ENGINE_TYPE) | B(ENGINE_ID) | B(FWD_STATUS) | B(ICMP_TYPE) |         \
     B(ICMP_CODE) | B(SAMPLING) | B(OBS_DOMAIN) | MPLS_BITS | B(NAT_SRC_ADDR) | B(NAT_DST_ADDR) |            \
     B(NAT_SRC_PORT) | B(NAT_DST_PORT) | B(FW_EVENT) | B(APP_ID) | B(RECEIVED))

static cf_err compile_fmt(query_printer *p, const char *fmt, char *err, size_t len)
{
    size_t n = strlen(fmt);
    if (n >= sizeof(p->text)) {
        snprintf(err, len, "format string too long");
        return CF_ERR_USAGE;
    }
    memcpy(p->text, fmt, n + 1);
    const char *s = p->text;
    while (*s) {
        if (p->n_items + 1 >= QUERY_FMT_MAX_ITEMS) {
            snprintf(err, len, "format string has too many items");
            return CF_ERR_USAGE;
        }
        query_fmt_item *it = &p->items[p->n_items];
        if (*s == '%') {
            size_t k = N_TAGS, best = 0;
            for (size_t i = 0; i < N_TAGS; i++) { /* the longest name wins: %flg, not %fl + "g" */
                size_t l = strlen(tags[i].name);
                if (l > best && strncmp(s + 1, tags[i].name, l) == 0)
                    k = i, best = l;
            }
            if (k == N_TAGS) {
                snprintf(err, len, "unknown format tag at '%.20s'", s);
                return CF_ERR_USAGE;
            }
            it->tag = (int)k;
            p->fields |= tags[k].fields;
            p->want_names |= tags[k].kind >= T_NBNAM && tags[k].kind <= T_APPD;
            s += 1 + strlen(tags[k].name);
        } else {
            const char *e = strchr(s, '%');
            size_t l = e ? (size_t)(e - s) : strlen(s);
            it->tag = -1;
            it->lit = s;
            it->lit_len = l;
            s += l;
        }
        p->n_items++;
    }
    return CF_OK;
}

cf_err query_printer_init(query_printer *p, query_format format, const char *fmt, bool plain, bool long_v6,
                          bool quiet, char *err, size_t len)
{
    memset(p, 0, sizeof(*p));
    p->format = format;
    p->plain = plain;
    p->long_v6 = long_v6;
    p->quiet = quiet;
    switch (format) {
    case QUERY_OUT_LINE: return compile_fmt(p, fmt ? fmt : fmt_line, err, len);
    case QUERY_OUT_LONG:
        p->want_names = true;
        return compile_fmt(p, fmt_long, err, len);
    case QUERY_OUT_EXTENDED:
        p->want_names = true;
        return compile_fmt(p, fmt_extended, err, len);
    case QUERY_OUT_FMT: return compile_fmt(p, fmt ? fmt : fmt_line, err, len);
    case QUERY_OUT_BILINE: return compile_fmt(p, fmt_biline, err, len);
    case QUERY_OUT_BILONG: return compile_fmt(p, fmt_bilong, err, len);
    case QUERY_OUT_CSV:
        p->fields = ALL_RECORD_FIELDS;
        return CF_OK;
    case QUERY_OUT_JSON:
    case QUERY_OUT_NDJSON:
        p->fields = ALL_RECORD_FIELDS;
        p->want_names = true;
        return CF_OK;
    case QUERY_OUT_NULL: return CF_OK;
    }
    snprintf(err, len, "unknown output format");
    return CF_ERR_USAGE;
}

void query_printer_load_names(query_printer *p, const char *const *paths, size_t n, FILE *errout)
{
    if (!p->want_names || p->names)
        return;
    if (query_names_load(paths, n, errout, &p->names) != CF_OK) {
        fprintf(errout, "cloudflow query: out of memory reading the names files; names not shown\n");
        return;
    }
    if (!p->names)
        return;
    p->fields |= B(EXPORTER) | B(IN_IF) | B(OUT_IF) | B(APP_ID);
    if (p->format == QUERY_OUT_LONG || p->format == QUERY_OUT_EXTENDED) {
        /* the names known for the data read: three more columns */
        char fmt[512], err[64];
        snprintf(fmt, sizeof(fmt), "%s%s", p->format == QUERY_OUT_LONG ? fmt_long : fmt_extended, fmt_names);
        p->n_items = 0;
        (void)compile_fmt(p, fmt, err, sizeof(err));
    }
}

void query_printer_free(query_printer *p)
{
    query_names_free(p->names);
    p->names = NULL;
}

void query_agg_format(const query_agg_key *keys, size_t n, char *out, size_t len)
{
    static const char *const tag_of[QUERY_AGG_COUNT_] = {
        [QUERY_AGG_PROTO] = "%pr", [QUERY_AGG_SRCIP] = "%sa", [QUERY_AGG_DSTIP] = "%da",
        [QUERY_AGG_SRCPORT] = "%sp", [QUERY_AGG_DSTPORT] = "%dp", [QUERY_AGG_SRCAS] = "%sas",
        [QUERY_AGG_DSTAS] = "%das", [QUERY_AGG_INIF] = "%in", [QUERY_AGG_OUTIF] = "%out",
        [QUERY_AGG_SRCMASK] = "%smk", [QUERY_AGG_DSTMASK] = "%dmk", [QUERY_AGG_SRCVLAN] = "%svln",
        [QUERY_AGG_DSTVLAN] = "%dvln", [QUERY_AGG_TOS] = "%tos", [QUERY_AGG_NEXT] = "%nh",
        [QUERY_AGG_BGPNEXT] = "%nhb", [QUERY_AGG_ROUTER] = "%ra", [QUERY_AGG_INSRCMAC] = "%ismc",
        [QUERY_AGG_OUTDSTMAC] = "%odmc", [QUERY_AGG_SRCNET] = "%sn", [QUERY_AGG_DSTNET] = "%dn",
        [QUERY_AGG_ODID] = "%eng",
    };
    size_t used = (size_t)snprintf(out, len, "%%ts %%td ");
    for (size_t i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(out + used, len - used, " %s", tag_of[keys[i].field]);
    if (used < len)
        snprintf(out + used, len - used, "  %%pkt %%byt %%bps %%bpp %%fl");
}

/* ---- tag printing ------------------------------------------------------- */

static int addr_width(const query_printer *p) { return p->long_v6 ? 39 : 16; }

static void put_addr(const query_printer *p, query_buf *b, const uint8_t *a, int width)
{
    char t[64];
    size_t n = query_fmt_addr_short(a, p->long_v6, t);
    query_buf_pad_left(b, t, n, width);
}

static void put_num(const query_printer *p, query_buf *b, uint64_t v, int width)
{
    char t[32];
    size_t n = query_fmt_num(v, p->plain, t);
    query_buf_pad_left(b, t, n, width);
}

/* Port text: ICMP destination "type.code", else the number. */
static size_t port_text(const flow_record *r, bool dst, char *t)
{
    if (dst && (r->proto == 1 || r->proto == 58)) {
        size_t n = query_fmt_u64(r->dst_port >> 8, t);
        t[n++] = '.';
        return n + query_fmt_u64(r->dst_port & 0xff, t + n);
    }
    return query_fmt_u64(dst ? r->dst_port : r->src_port, t);
}

static void put_addr_port(const query_printer *p, query_buf *b, const flow_record *r, bool dst)
{
    const uint8_t *a = dst ? r->dst_addr : r->src_addr;
    put_addr(p, b, a, addr_width(p));
    query_buf_putc(b, flow_addr_is_v4(a) ? ':' : '.');
    char t[24];
    size_t n = port_text(r, dst, t);
    query_buf_pad_right(b, t, n, 5);
}

static void put_net(const query_printer *p, query_buf *b, const uint8_t *a, uint8_t mask)
{
    uint8_t m[16];
    memcpy(m, a, 16);
    unsigned bits = flow_addr_is_v4(a) ? 96u + (mask > 32 ? 32u : mask) : (mask > 128 ? 128u : mask);
    for (unsigned i = 0; i < 128; i++)
        if (i >= bits)
            m[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
    put_addr(p, b, m, addr_width(p));
    query_buf_putc(b, '/');
    query_buf_u64(b, mask, -2);
    if (mask < 10)
        query_buf_putc(b, ' ');
}

static uint64_t rate(uint64_t v, uint64_t mul, const flow_record *r)
{
    uint64_t d = r->last_ms > r->first_ms ? r->last_ms - r->first_ms : 0;
    return d ? (uint64_t)((double)v * (double)mul / (double)d) : 0;
}

static void put_duration(const query_printer *p, query_buf *b, const flow_record *r, int width)
{
    uint64_t d = r->last_ms > r->first_ms ? r->last_ms - r->first_ms : 0;
    char t[32];
    size_t n = p->plain ? query_fmt_fixed((double)d / 1000.0, 3, t) : query_fmt_duration(d, t);
    query_buf_pad_left(b, t, n, width);
}

static void put_raw_time(query_buf *b, uint64_t ms)
{
    query_buf_u64(b, ms / 1000, 0);
    char t[4] = {'.', (char)('0' + ms % 1000 / 100), (char)('0' + ms % 100 / 10), (char)('0' + ms % 10)};
    query_buf_put(b, t, 4);
}

/* nfdump's label-exp-bos text of one MPLS entry, "%8u-%1u-%1u". */
static void put_mpls(query_buf *b, uint32_t e)
{
    char t[32];
    size_t n = query_fmt_u64(e >> 4, t);
    t[n++] = '-';
    n += query_fmt_u64((e >> 1) & 7, t + n);
    t[n++] = '-';
    n += query_fmt_u64(e & 1, t + n);
    query_buf_pad_left(b, t, n, 12);
}

/* nfdump's NAT "address:port" (port left-aligned in 5). */
static void put_nat_addr_port(const query_printer *p, query_buf *b, const uint8_t *a, uint16_t port)
{
    put_addr(p, b, a, addr_width(p));
    query_buf_putc(b, flow_addr_is_v4(a) ? ':' : '.');
    char t[8];
    size_t n = query_fmt_u64(port, t);
    query_buf_pad_right(b, t, n, 5);
}

/* nfdump 1.7.1's %evt text of a firewall event (values 0, 1, 2, 5 checked
 * against nfdump; 1 prints "ADD" there). */
static const char *event_text(uint8_t e)
{
    static const char *const names[] = {"INVALID", "ADD", "DELETE", "DENIED", "ALERT", "UPDATE"};
    return e < sizeof(names) / sizeof(names[0]) ? names[e] : "UNKNOW";
}

/* The names entry of r's exporter, or NULL; *any: the exporter has names
 * of that kind at all. */
static const flow_name *name_of(const query_printer *p, const flow_record *r, flow_name_kind kind, uint32_t key,
                                bool *any)
{
    const flow_names *t = query_names_of(p->names, r->exporter);
    if (any)
        *any = kind == FLOW_NAME_IF ? query_names_has_if(t) : t && t->n && t->e[0].kind == FLOW_NAME_APP;
    return t ? flow_names_find(t, kind, key) : NULL;
}

/* An interface's name, else its description. */
static const char *if_text(const flow_name *e) { return e && *e->name ? e->name : e ? e->desc : NULL; }

/* nfdump's %inam / %onam: nothing when the exporter named no interface,
 * else " name" or " <ingress not found>" (its text for both directions). */
static void put_nfdump_ifname(const query_printer *p, query_buf *b, const flow_record *r, uint32_t ifindex)
{
    bool any;
    const char *t = if_text(name_of(p, r, FLOW_NAME_IF, ifindex, &any));
    if (!any)
        return;
    query_buf_putc(b, ' ');
    query_buf_puts(b, t ? t : "<ingress not found>");
}

/* A cloudflow name column: text or "-", padded to width (0: not padded). */
static void put_text(query_buf *b, const char *t, int width)
{
    if (!t || !*t)
        t = "-";
    size_t n = strlen(t);
    if (width)
        query_buf_pad_right(b, t, n, width);
    else
        query_buf_put(b, t, n);
}

/* The tags beyond nfdump's first set (issue 3): MPLS, NAT, events,
 * received time, ICMP, version, application and interface names. */
static void put_tag_more(const query_printer *p, query_buf *b, const tag_def *d, const flow_record *r,
                         const uint64_t out[2])
{
    char t[64];
    const flow_name *e;
    switch (d->kind) {
    case T_STOS: query_buf_u64(b, r->tos, 4); break;
    case T_DTOS: query_buf_u64(b, 0, 4); break;
    case T_IPKT: put_num(p, b, r->packets, 8); break;
    case T_IBYT: put_num(p, b, r->bytes, 8); break;
    case T_OPKT: put_num(p, b, out[0], 8); break;
    case T_OBYT: put_num(p, b, out[1], 8); break;
    case T_IDMC: query_buf_put(b, t, query_fmt_mac(r->dst_mac, t)); break;
    case T_OSMC: query_buf_put(b, t, query_fmt_mac(0, t)); break;
    case T_MPLSN: put_mpls(b, r->mpls[(d->name[4] - '1') + (d->name[5] ? 9 : 0)]); break;
    case T_MPLS:
        for (int i = 0; i < 10; i++) {
            put_mpls(b, r->mpls[i]);
            query_buf_putc(b, ' ');
        }
        break;
    case T_NSA: put_addr(p, b, r->nat_src_addr, addr_width(p)); break;
    case T_NDA: put_addr(p, b, r->nat_dst_addr, addr_width(p)); break;
    case T_NSP: query_buf_u64(b, r->nat_src_port, 6); break;
    case T_NDP: query_buf_u64(b, r->nat_dst_port, 6); break;
    case T_NSAP: put_nat_addr_port(p, b, r->nat_src_addr, r->nat_src_port); break;
    case T_NDAP: put_nat_addr_port(p, b, r->nat_dst_addr, r->nat_dst_port); break;
    case T_EVT: query_buf_pad_left(b, event_text(r->fw_event), strlen(event_text(r->fw_event)), 7); break;
    case T_TR: query_buf_time_ms(b, r->received_ms ? r->received_ms : r->last_ms); break;
    case T_TRR: put_raw_time(b, r->received_ms ? r->received_ms : r->last_ms); break;
    case T_IT: query_buf_u64(b, r->icmp_type, 6); break;
    case T_IC: query_buf_u64(b, r->icmp_code, 6); break;
    case T_NFV: {
        unsigned v = r->exporter_proto == FLOW_PROTO_NETFLOW5 ? 5 : r->exporter_proto == FLOW_PROTO_NETFLOW9 ? 9
                   : r->exporter_proto == FLOW_PROTO_IPFIX ? 10 : 5;
        const char *kind = r->exporter_proto == FLOW_PROTO_SFLOW5 ? "Sv" : r->fw_event ? "EVT" : "Nv";
        int n = snprintf(t, sizeof(t), "%s%u", kind, v);
        query_buf_put(b, t, (size_t)n);
        break;
    }
    case T_NBID: {
        int n = snprintf(t, sizeof(t), "%2u..%u", r->app_id >> 24, r->app_id & 0xffffffu);
        query_buf_put(b, t, (size_t)n);
        break;
    }
    case T_NBNAM:
        if ((e = name_of(p, r, FLOW_NAME_APP, r->app_id, NULL)) != NULL) {
            query_buf_puts(b, e->name);
            query_buf_putc(b, '/');
            query_buf_puts(b, e->desc);
        } else {
            query_buf_puts(b, "<no info>");
        }
        break;
    case T_INAM: put_nfdump_ifname(p, b, r, r->in_if); break;
    case T_ONAM: put_nfdump_ifname(p, b, r, r->out_if); break;
    case T_INN: put_text(b, if_text(name_of(p, r, FLOW_NAME_IF, r->in_if, NULL)), d->width); break;
    case T_OUTN: put_text(b, if_text(name_of(p, r, FLOW_NAME_IF, r->out_if, NULL)), d->width); break;
    case T_IND:
        e = name_of(p, r, FLOW_NAME_IF, r->in_if, NULL);
        put_text(b, e ? e->desc : NULL, 0);
        break;
    case T_OUTD:
        e = name_of(p, r, FLOW_NAME_IF, r->out_if, NULL);
        put_text(b, e ? e->desc : NULL, 0);
        break;
    case T_APPN:
        e = name_of(p, r, FLOW_NAME_APP, r->app_id, NULL);
        put_text(b, e ? e->name : NULL, d->width);
        break;
    case T_APPD:
        e = name_of(p, r, FLOW_NAME_APP, r->app_id, NULL);
        put_text(b, e ? e->desc : NULL, 0);
        break;
    case T_SAMP: query_buf_u64(b, r->sampling, 8); break;
    default: break;
    }
}

static void put_tag(const query_printer *p, query_buf *b, const tag_def *d, const flow_record *r,
                    uint64_t flows, const uint64_t out[2])
{
    char t[64];
    size_t n;
    switch (d->kind) {
    case T_TS: case T_TFS: query_buf_time_ms(b, r->first_ms); break;
    case T_TE: query_buf_time_ms(b, r->last_ms); break;
    case T_TSR: put_raw_time(b, r->first_ms); break;
    case T_TER: put_raw_time(b, r->last_ms); break;
    case T_TD: put_duration(p, b, r, 16); break;
    case T_PR:
        n = query_fmt_proto(r->proto, p->plain, t);
        query_buf_pad_right(b, t, n, 5);
        break;
    case T_SA: put_addr(p, b, r->src_addr, addr_width(p)); break;
    case T_DA: put_addr(p, b, r->dst_addr, addr_width(p)); break;
    case T_SAP: put_addr_port(p, b, r, false); break;
    case T_DAP: put_addr_port(p, b, r, true); break;
    case T_SP: query_buf_u64(b, r->src_port, 6); break;
    case T_DP: query_buf_u64(b, r->dst_port, 6); break;
    case T_PKT: put_num(p, b, r->packets, 8); break;
    case T_BYT: put_num(p, b, r->bytes, 8); break;
    case T_FL: query_buf_u64(b, flows, 5); break;
    case T_FLG: query_fmt_flags(r->tcp_flags, t); query_buf_put(b, t, 8); break;
    case T_TOS: query_buf_u64(b, r->tos, 3); break;
    case T_BPS: put_num(p, b, rate(r->bytes, 8000, r), 8); break;
    case T_PPS: put_num(p, b, rate(r->packets, 1000, r), 8); break;
    case T_BPP: query_buf_u64(b, r->packets ? r->bytes / r->packets : 0, 6); break;
    case T_IN: query_buf_u64(b, r->in_if, 6); break;
    case T_OUT: query_buf_u64(b, r->out_if, 6); break;
    case T_SAS: query_buf_u64(b, r->src_as, 6); break;
    case T_DAS: query_buf_u64(b, r->dst_as, 6); break;
    case T_NH: put_addr(p, b, r->next_hop, addr_width(p)); break;
    case T_NHB: put_addr(p, b, r->bgp_next_hop, addr_width(p)); break;
    case T_RA: put_addr(p, b, r->exporter, addr_width(p)); break;
    case T_SMK: query_buf_u64(b, r->src_mask, 5); break;
    case T_DMK: query_buf_u64(b, r->dst_mask, 5); break;
    case T_SVLN: query_buf_u64(b, r->src_vlan, 5); break;
    case T_DVLN: query_buf_u64(b, r->dst_vlan, 5); break;
    case T_ISMC: n = query_fmt_mac(r->src_mac, t); query_buf_put(b, t, n); break;
    case T_ODMC: n = query_fmt_mac(r->dst_mac, t); query_buf_put(b, t, n); break;
    case T_ENG:
        n = query_fmt_u64(r->engine_type, t);
        t[n++] = '/';
        n += query_fmt_u64(r->engine_id, t + n);
        query_buf_pad_left(b, t, n, 7);
        break;
    case T_FWD: query_buf_u64(b, r->fwd_status, 3); break;
    case T_DIR: query_buf_puts(b, r->direction ? "  E" : "  I"); break;
    case T_SN: put_net(p, b, r->src_addr, r->src_mask); break;
    case T_DN: put_net(p, b, r->dst_addr, r->dst_mask); break;
    default: put_tag_more(p, b, d, r, out); break;
    }
}

static void put_tag_header(const query_printer *p, query_buf *b, const tag_def *d)
{
    switch (d->kind) {
    case T_SAP: case T_DAP: case T_NSAP: case T_NDAP:
        query_buf_pad_left(b, d->header, strlen(d->header), addr_width(p) + 5);
        query_buf_putc(b, ' ');
        break;
    case T_SA: case T_DA: case T_NH: case T_NHB: case T_RA: case T_NSA: case T_NDA:
        query_buf_pad_left(b, d->header, strlen(d->header), addr_width(p));
        break;
    default: query_buf_puts(b, d->header); break;
    }
}

/* ---- csv and json ------------------------------------------------------- */

/* Bytes one csv record may take at most (two IPv6 addresses, three more
 * addresses, thirty numbers, ten MPLS entries, fixed text): reserved before
 * writing. */
#define CSV_MAX_RECORD 1536

#define W_LIT(w, text) (memcpy((w), (text), sizeof(text) - 1), (w) + sizeof(text) - 1)

static void csv_record(query_buf *b, const flow_record *r, const uint64_t out[2])
{
    if (!query_buf_reserve(b, CSV_MAX_RECORD))
        return;
    char *w = b->p + b->len;
    w = query_w_date(b, w, r->first_ms);
    *w++ = ',';
    w = query_w_date(b, w, r->last_ms);
    *w++ = ',';
    uint64_t d = r->last_ms > r->first_ms ? r->last_ms - r->first_ms : 0;
    w = query_w_u64(w, d / 1000);
    *w++ = '.';
    *w++ = (char)('0' + d % 1000 / 100);
    *w++ = (char)('0' + d % 100 / 10);
    *w++ = (char)('0' + d % 10);
    *w++ = ',';
    w = query_w_addr(w, r->src_addr);
    *w++ = ',';
    w = query_w_addr(w, r->dst_addr);
    *w++ = ',';
    w = query_w_u64(w, r->src_port);
    *w++ = ',';
    w = query_w_u64(w, r->dst_port);
    *w++ = ',';
    w += query_fmt_proto(r->proto, false, w);
    *w++ = ',';
    query_fmt_flags(r->tcp_flags, w);
    w += 8;
    *w++ = ',';
    w = query_w_u64(w, r->fwd_status);
    *w++ = ',';
    w = query_w_u64(w, r->tos);
    *w++ = ',';
    w = query_w_u64(w, r->packets);
    *w++ = ',';
    w = query_w_u64(w, r->bytes);
    *w++ = ',';
    w = query_w_u64(w, out[0]);
    *w++ = ',';
    w = query_w_u64(w, out[1]);
    *w++ = ',';
    w = query_w_u64(w, r->in_if);
    *w++ = ',';
    w = query_w_u64(w, r->out_if);
    *w++ = ',';
    w = query_w_u64(w, r->src_as);
    *w++ = ',';
    w = query_w_u64(w, r->dst_as);
    *w++ = ',';
    w = query_w_u64(w, r->src_mask);
    *w++ = ',';
    w = query_w_u64(w, r->dst_mask);
    w = W_LIT(w, ",0,"); /* dtos */
    w = query_w_u64(w, r->direction);
    *w++ = ',';
    w = query_w_addr(w, r->next_hop);
    *w++ = ',';
    w = query_w_addr(w, r->bgp_next_hop);
    *w++ = ',';
    w = query_w_u64(w, r->src_vlan);
    *w++ = ',';
    w = query_w_u64(w, r->dst_vlan);
    *w++ = ',';
    w = query_w_mac(w, r->src_mac);
    *w++ = ',';
    w = query_w_mac(w, r->dst_mac);
    w = W_LIT(w, ",00:00:00:00:00:00,00:00:00:00:00:00,");
    /* MPLS label stack entries as nfdump prints them: label-exp-bos */
    for (int i = 0; i < 10; i++) {
        w = query_w_u64(w, r->mpls[i] >> 4);
        *w++ = '-';
        w = query_w_u64(w, (r->mpls[i] >> 1) & 7);
        *w++ = '-';
        w = query_w_u64(w, r->mpls[i] & 1);
        *w++ = ',';
    }
    w = W_LIT(w, "    0.000,    0.000,    0.000,");
    w = query_w_addr(w, r->exporter);
    *w++ = ',';
    w = query_w_u64(w, r->engine_type);
    *w++ = '/';
    w = query_w_u64(w, r->engine_id);
    *w++ = ',';
    w = query_w_u64(w, r->obs_domain);
    *w++ = ',';
    /* tr: when the collector received the flow (segments written before the
     * receive time was stored read it as 0: the last-seen time stands in) */
    uint64_t tr = r->received_ms ? r->received_ms : r->last_ms;
    w = query_w_date(b, w, tr);
    *w++ = '.';
    *w++ = (char)('0' + tr % 1000 / 100);
    *w++ = (char)('0' + tr % 100 / 10);
    *w++ = (char)('0' + tr % 10);
    *w++ = '\n';
    b->len = (size_t)(w - b->p);
}

static void json_key(query_buf *b, bool nd, const char *key)
{
    if (nd) {
        query_buf_putc(b, '"');
        query_buf_puts(b, key);
        query_buf_put(b, "\":", 2);
    } else {
        query_buf_put(b, "\t\"", 2);
        query_buf_puts(b, key);
        query_buf_put(b, "\" : ", 4);
    }
}

static void json_sep(query_buf *b, bool nd) { query_buf_put(b, nd ? "," : ",\n", nd ? 1 : 2); }

static void json_u(query_buf *b, bool nd, const char *key, uint64_t v)
{
    json_key(b, nd, key);
    query_buf_u64(b, v, 0);
    json_sep(b, nd);
}

static void json_s(query_buf *b, bool nd, const char *key, const char *v, size_t n)
{
    json_key(b, nd, key);
    query_buf_putc(b, '"');
    query_buf_put(b, v, n);
    query_buf_putc(b, '"');
    json_sep(b, nd);
}

static void json_time(query_buf *b, bool nd, const char *key, uint64_t ms)
{
    json_key(b, nd, key);
    query_buf_putc(b, '"');
    size_t at = b->len;
    query_buf_time_ms(b, ms);
    if (!b->failed)
        b->p[at + 10] = 'T';
    query_buf_putc(b, '"');
    json_sep(b, nd);
}

static void json_addr(query_buf *b, bool nd, const char *k4, const char *k6, const uint8_t *a)
{
    char t[64];
    json_s(b, nd, flow_addr_is_v4(a) ? k4 : k6, t, query_fmt_addr(a, t));
}

static void json_net(query_buf *b, bool nd, const char *key, const uint8_t *a, uint8_t mask)
{
    uint8_t m[16];
    memcpy(m, a, 16);
    unsigned bits = flow_addr_is_v4(a) ? 96u + (mask > 32 ? 32u : mask) : (mask > 128 ? 128u : mask);
    for (unsigned i = bits; i < 128; i++)
        m[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
    char t[64];
    json_s(b, nd, key, t, query_fmt_addr(m, t));
}

/* A JSON string of sanitised name text (printable ASCII): '"' and '\\'
 * escaped. */
static void json_text(query_buf *b, bool nd, const char *key, const char *v)
{
    json_key(b, nd, key);
    query_buf_putc(b, '"');
    for (const char *c = v; *c; c++) {
        if (*c == '"' || *c == '\\')
            query_buf_putc(b, '\\');
        query_buf_putc(b, *c);
    }
    query_buf_putc(b, '"');
    json_sep(b, nd);
}

/* The names of r's interfaces and application, when its exporter announced them. */
static void json_names(query_buf *b, bool nd, const query_names *names, const flow_record *r)
{
    const flow_names *t = query_names_of(names, r->exporter);
    if (!t)
        return;
    static const char *const keys[2][2] = {{"in_ifname", "in_ifdesc"}, {"out_ifname", "out_ifdesc"}};
    for (int dir = 0; dir < 2; dir++) {
        const flow_name *e = flow_names_find(t, FLOW_NAME_IF, dir ? r->out_if : r->in_if);
        if (e && *e->name)
            json_text(b, nd, keys[dir][0], e->name);
        if (e && *e->desc)
            json_text(b, nd, keys[dir][1], e->desc);
    }
    const flow_name *e = flow_names_find(t, FLOW_NAME_APP, r->app_id);
    if (e && *e->name)
        json_text(b, nd, "app_name", e->name);
    if (e && *e->desc)
        json_text(b, nd, "app_desc", e->desc);
}

static void json_record(query_buf *b, const flow_record *r, bool nd, const query_names *names)
{
    char t[64];
    query_buf_put(b, nd ? "{" : "{\n", nd ? 1 : 2);
    json_s(b, nd, "type", "FLOW", 4);
    json_u(b, nd, "sampled", r->sampling > 1);
    json_u(b, nd, "export_sysid", r->obs_domain);
    json_time(b, nd, "first", r->first_ms);
    json_time(b, nd, "last", r->last_ms);
    json_time(b, nd, "received", r->received_ms ? r->received_ms : r->last_ms);
    json_u(b, nd, "in_packets", r->packets);
    json_u(b, nd, "in_bytes", r->bytes);
    json_u(b, nd, "proto", r->proto);
    if (r->proto == 1 || r->proto == 58) {
        json_u(b, nd, "icmp_type", r->dst_port >> 8);
        json_u(b, nd, "icmp_code", r->dst_port & 0xff);
    } else {
        query_fmt_flags(r->tcp_flags, t);
        json_s(b, nd, "tcp_flags", t, 8);
        json_u(b, nd, "src_port", r->src_port);
        json_u(b, nd, "dst_port", r->dst_port);
    }
    json_u(b, nd, "src_tos", r->tos);
    json_addr(b, nd, "src4_addr", "src6_addr", r->src_addr);
    json_addr(b, nd, "dst4_addr", "dst6_addr", r->dst_addr);
    json_u(b, nd, "input_snmp", r->in_if);
    json_u(b, nd, "output_snmp", r->out_if);
    json_u(b, nd, "src_mask", r->src_mask);
    json_u(b, nd, "dst_mask", r->dst_mask);
    json_net(b, nd, "src_net", r->src_addr, r->src_mask);
    json_net(b, nd, "dst_net", r->dst_addr, r->dst_mask);
    json_u(b, nd, "fwd_status", r->fwd_status);
    json_u(b, nd, "direction", r->direction);
    json_u(b, nd, "dst_tos", 0);
    json_u(b, nd, "src_as", r->src_as);
    json_u(b, nd, "dst_as", r->dst_as);
    if (r->src_vlan || r->dst_vlan) {
        json_u(b, nd, "src_vlan", r->src_vlan);
        json_u(b, nd, "dst_vlan", r->dst_vlan);
    }
    if (r->src_mac || r->dst_mac) {
        json_s(b, nd, "in_src_mac", t, query_fmt_mac(r->src_mac, t));
        json_s(b, nd, "out_dst_mac", t, query_fmt_mac(r->dst_mac, t));
    }
    if (!flow_addr_is_zero(r->next_hop))
        json_addr(b, nd, "ip4_next_hop", "ip6_next_hop", r->next_hop);
    if (!flow_addr_is_zero(r->bgp_next_hop))
        json_addr(b, nd, "bgp4_next_hop", "bgp6_next_hop", r->bgp_next_hop);
    for (int i = 0; i < 10 && r->mpls[i]; i++) {
        char key[16], v[40];
        snprintf(key, sizeof(key), "mpls_%d", i + 1);
        int n = snprintf(v, sizeof(v), "%u-%u-%u", r->mpls[i] >> 4, (r->mpls[i] >> 1) & 7, r->mpls[i] & 1);
        json_s(b, nd, key, v, (size_t)n);
    }
    if (!flow_addr_is_zero(r->nat_src_addr))
        json_addr(b, nd, "src4_xlt_ip", "src6_xlt_ip", r->nat_src_addr);
    if (!flow_addr_is_zero(r->nat_dst_addr))
        json_addr(b, nd, "dst4_xlt_ip", "dst6_xlt_ip", r->nat_dst_addr);
    if (r->nat_src_port || r->nat_dst_port) {
        json_u(b, nd, "src_xlt_port", r->nat_src_port);
        json_u(b, nd, "dst_xlt_port", r->nat_dst_port);
    }
    if (r->fw_event)
        json_u(b, nd, "fw_event", r->fw_event);
    if (r->app_id) {
        json_u(b, nd, "app_engine", r->app_id >> 24);
        json_u(b, nd, "app_selector", r->app_id & 0xffffff);
    }
    if (names)
        json_names(b, nd, names, r);
    json_addr(b, nd, "ip4_router", "ip6_router", r->exporter);
    json_key(b, nd, "label");
    query_buf_puts(b, nd ? "\"<none>\"}\n" : "\"<none>\"\n}");
}

/* ---- entry points ------------------------------------------------------- */

void query_printer_header(const query_printer *p, query_buf *b)
{
    switch (p->format) {
    case QUERY_OUT_CSV:
        if (!p->quiet)
            query_buf_puts(b, "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,"
                              "dmk,dtos,dir,nh,nhb,svln,dvln,ismc,odmc,idmc,osmc,mpls1,mpls2,mpls3,mpls4,"
                              "mpls5,mpls6,mpls7,mpls8,mpls9,mpls10,cl,sl,al,ra,eng,exid,tr\n");
        return;
    case QUERY_OUT_JSON:
        if (!p->quiet)
            query_buf_puts(b, "[\n");
        return;
    case QUERY_OUT_NDJSON:
    case QUERY_OUT_NULL: return;
    default: break;
    }
    if (p->quiet)
        return;
    for (size_t i = 0; i < p->n_items; i++) {
        const query_fmt_item *it = &p->items[i];
        if (it->tag < 0)
            query_buf_spaces(b, (int)it->lit_len);
        else
            put_tag_header(p, b, &tags[it->tag]);
    }
    query_buf_putc(b, '\n');
}

void query_printer_record(const query_printer *p, query_buf *b, const flow_record *r, uint64_t flows)
{
    query_printer_record_bi(p, b, r, flows, 0, 0);
}

void query_printer_record_bi(const query_printer *p, query_buf *b, const flow_record *r, uint64_t flows,
                             uint64_t out_packets, uint64_t out_bytes)
{
    const uint64_t out[2] = {out_packets, out_bytes};
    switch (p->format) {
    case QUERY_OUT_CSV: csv_record(b, r, out); return;
    case QUERY_OUT_JSON:
        query_buf_put(b, ",\n", 2); /* the engine drops the separator of the first record */
        json_record(b, r, false, p->names);
        return;
    case QUERY_OUT_NDJSON: json_record(b, r, true, p->names); return;
    case QUERY_OUT_NULL: return;
    default: break;
    }
    for (size_t i = 0; i < p->n_items; i++) {
        const query_fmt_item *it = &p->items[i];
        if (it->tag < 0)
            query_buf_put(b, it->lit, it->lit_len);
        else
            put_tag(p, b, &tags[it->tag], r, flows, out);
    }
    query_buf_putc(b, '\n');
}

void query_printer_footer(const query_printer *p, query_buf *b, bool any_record)
{
    if (p->format != QUERY_OUT_JSON)
        return;
    if (!p->quiet)
        query_buf_puts(b, "]\n");
    else if (any_record)
        query_buf_putc(b, '\n');
}
