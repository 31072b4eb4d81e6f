/*
 * fuzz/fuzz_templates.h - the body shared by the NetFlow v9 and IPFIX
 * libFuzzer targets (fuzz_netflow9.c, fuzz_ipfix.c).
 *
 * One input is several export messages for ONE exporter, so that templates,
 * options data, pending data sets and data interact: the input is read as
 * [2-byte big-endian length][that many bytes] repeated; what is left at the
 * end (or a length running past the end) is the last message.  The first
 * two bytes of every message are forced to the target's version.  Small
 * limits make the template and pending bounds reachable.
 *
 * Invariants checked (abort on violation): every message is counted once;
 * a rejected message emits nothing; emitted records are what stats count;
 * the template cache stays within its limit; saving the templates, loading
 * them into a fresh exporter and saving again gives the same bytes.
 */
#ifndef CF_FUZZ_TEMPLATES_H
#define CF_FUZZ_TEMPLATES_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"

typedef struct fuzz_sink {
    size_t n;
    uint64_t checksum; /* reads every record so that sanitizers see them */
} fuzz_sink;

static inline void fuzz_emit(void *ctx, const flow_record *rec)
{
    fuzz_sink *s = ctx;
    s->n++;
    s->checksum += rec->packets + rec->bytes + rec->first_ms + rec->last_ms + rec->src_port +
                   rec->dst_port + rec->proto + rec->sampling + rec->src_addr[15] + rec->src_mac;
}

/* The length of the next message of the input framing above; skips its
 * 2-byte prefix when there is one. */
static inline size_t fuzz_next_message(const uint8_t **data, size_t *size)
{
    const uint8_t *d = *data;
    if (*size >= 2 && (size_t)((d[0] << 8) | d[1]) <= *size - 2) {
        *data += 2, *size -= 2;
        return (size_t)((d[0] << 8) | d[1]);
    }
    return *size;
}

static inline void fuzz_check_save_load(const decode_exporter *ex)
{
    uint8_t *a = NULL, *b = NULL;
    size_t a_len = 0, b_len = 0;
    if (decode_templates_save(ex, &a, &a_len) != CF_OK)
        return;
    decode_exporter other;
    decode_exporter_init(&other, ex->addr, ex->port);
    other.cfg = ex->cfg;
    if (decode_templates_load(&other, a, a_len) != CF_OK)
        abort();
    if (decode_templates_save(&other, &b, &b_len) != CF_OK || a_len != b_len || memcmp(a, b, a_len))
        abort();
    free(a);
    free(b);
    decode_exporter_free(&other);
}

static inline int fuzz_templates_run(const uint8_t *data, size_t size, uint16_t version)
{
    static const uint8_t addr[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
    decode_exporter ex;
    decode_exporter_init(&ex, addr, 2055);
    decode_config cfg = {.max_templates = 16, .max_fields = 64, .max_domains = 4,
                         .max_samplers = 8, .pending_max_bytes = 4096, .pending_max_ms = 1000};
    decode_exporter_set_config(&ex, &cfg);
    cf_log_set_level(CF_LOG_ERROR);
    uint64_t now = 1700000000000ull;
    while (size > 0) {
        size_t len = fuzz_next_message(&data, &size);
        /* A heap copy of exactly len bytes, so that ASan catches any over-read. */
        uint8_t *buf = malloc(len ? len : 1);
        if (!buf)
            break;
        if (len)
            memcpy(buf, data, len);
        if (len >= 2) {
            buf[0] = (uint8_t)(version >> 8);
            buf[1] = (uint8_t)version;
        }
        fuzz_sink s = {0, 0};
        decode_stats before, after;
        decode_stats_snapshot(&ex, &before);
        cf_err err = decode_packet(&ex, buf, len, now, fuzz_emit, &s);
        decode_stats_snapshot(&ex, &after);
        free(buf);
        if (after.packets != before.packets + 1)
            abort();
        if (err != CF_OK && s.n != 0)
            abort();
        if (after.records - before.records != s.n)
            abort();
        if (decode_template_count(&ex) > cfg.max_templates)
            abort();
        data += len, size -= len;
        now += 300; /* pending data expires after a few messages */
    }
    fuzz_check_save_load(&ex);
    decode_exporter_free(&ex);
    return 0;
}

#endif
