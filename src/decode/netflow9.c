/*
 * decode/netflow9.c - the NetFlow v9 decoder (RFC 3954).
 *
 * Reads and checks the 20-byte header (layout in decode.h), then hands the
 * flowsets to the template machinery (template_msg.c) and, when the packet
 * is accepted, accounts its sequence number: v9 numbers export packets per
 * source id, so the next packet is expected at sequence + 1.
 */
#include "decode/decode.h"
#include "decode/decode_int.h"
#include "decode/template.h"

#include <stdio.h>

#define V9_HEADER_LEN 20

cf_err decode_netflow9_out(decode_exporter *ex, const uint8_t *buf, size_t len, uint64_t recv_ms,
                           const decode_out *out)
{
    decode_count_packet(ex, len, recv_ms);
    cf_cursor c = cf_cursor_make(buf, len);
    uint16_t version, count;
    uint32_t uptime, secs, seq, source_id;
    if (!cf_read_be16(&c, &version) || !cf_read_be16(&c, &count) || !cf_read_be32(&c, &uptime) ||
        !cf_read_be32(&c, &secs) || !cf_read_be32(&c, &seq) || !cf_read_be32(&c, &source_id)) {
        char detail[64];
        snprintf(detail, sizeof(detail), "%zu bytes, header needs %d", len, V9_HEADER_LEN);
        return decode_reject(ex, DECODE_BAD_SHORT, CF_ERR_TRUNCATED, "NetFlow v9", detail);
    }
    if (version != 9)
        return decode_reject(ex, DECODE_BAD_VERSION, CF_ERR_VERSION, "NetFlow v9", "not version 9");
    tpl_msg m = {
        .info = {.proto = TPL_PROTO_V9, .set_id = 0, .domain = source_id, .uptime_ms = uptime,
                 .export_ms = (uint64_t)secs * 1000u, .recv_ms = recv_ms},
        .sets = c.p,
        .len = c.left,
        .v9_count = count,
        .name = "NetFlow v9",
    };
    uint64_t n_data = 0;
    bool all_counted = true;
    cf_err err = tpl_process_message(ex, &m, out, &n_data, &all_counted);
    if (err)
        return err;
    tpl_account_sequence(ex, TPL_PROTO_V9, source_id, seq, 1, true);
    return CF_OK;
}
