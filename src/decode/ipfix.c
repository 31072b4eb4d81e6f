/*
 * decode/ipfix.c - the IPFIX decoder (RFC 7011).
 *
 * Reads and checks the 16-byte message header (layout in decode.h): the
 * message length must be at least the header and at most the datagram
 * (bytes after it are ignored).  The sets go to the template machinery
 * (template_msg.c); an accepted message then accounts its sequence number,
 * which counts data records per observation domain.
 */
#include "decode/decode.h"
#include "decode/decode_int.h"
#include "decode/template.h"

#include <stdio.h>

#define IPFIX_HEADER_LEN 16

cf_err decode_ipfix_out(decode_exporter *ex, const uint8_t *buf, size_t len, uint64_t recv_ms,
                        const decode_out *out)
{
    decode_count_packet(ex, len, recv_ms);
    cf_cursor c = cf_cursor_make(buf, len);
    uint16_t version, msg_len;
    uint32_t export_s, seq, domain;
    char detail[80];
    if (!cf_read_be16(&c, &version) || !cf_read_be16(&c, &msg_len) || !cf_read_be32(&c, &export_s) ||
        !cf_read_be32(&c, &seq) || !cf_read_be32(&c, &domain)) {
        snprintf(detail, sizeof(detail), "%zu bytes, header needs %d", len, IPFIX_HEADER_LEN);
        return decode_reject(ex, DECODE_BAD_SHORT, CF_ERR_TRUNCATED, "IPFIX", detail);
    }
    if (version != 10)
        return decode_reject(ex, DECODE_BAD_VERSION, CF_ERR_VERSION, "IPFIX", "not version 10");
    if (msg_len < IPFIX_HEADER_LEN) {
        snprintf(detail, sizeof(detail), "message length %u < header", (unsigned)msg_len);
        return decode_reject(ex, DECODE_BAD_LENGTH, CF_ERR_MALFORMED, "IPFIX", detail);
    }
    if (msg_len > len) {
        snprintf(detail, sizeof(detail), "message length %u, datagram %zu bytes", (unsigned)msg_len, len);
        return decode_reject(ex, DECODE_BAD_LENGTH, CF_ERR_TRUNCATED, "IPFIX", detail);
    }
    tpl_msg m = {
        .info = {.proto = TPL_PROTO_IPFIX, .set_id = 0, .domain = domain, .uptime_ms = 0,
                 .export_ms = (uint64_t)export_s * 1000u, .recv_ms = recv_ms},
        .sets = c.p,
        .len = (size_t)msg_len - IPFIX_HEADER_LEN,
        .v9_count = 0,
        .name = "IPFIX",
    };
    uint64_t n_data = 0;
    bool all_counted = true;
    cf_err err = tpl_process_message(ex, &m, out, &n_data, &all_counted);
    if (err)
        return err;
    tpl_account_sequence(ex, TPL_PROTO_IPFIX, domain, seq, (uint32_t)n_data, all_counted);
    return CF_OK;
}
