/*
 * fuzz/fuzz_template_file.c - libFuzzer target for the template cache file
 * (decode_templates_load, the DATADIR/.templates/ files a restarted collector
 * reads).  The input is a saved template file; if it loads, the templates are
 * saved again (the round trip must load to the same bytes) and used to decode
 * a few data sets, so that a loaded template is as safe as a received one.
 * Seeds: fuzz/corpus/template_file/ (templates of shared captures, saved).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "decode/decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One IPFIX message carrying a data set for template id tid with body bytes. */
static void decode_data_set(decode_exporter *ex, uint16_t tid, uint32_t domain, const uint8_t *body,
                            size_t body_len)
{
    uint8_t msg[1024];
    if (body_len > sizeof(msg) - 20)
        body_len = sizeof(msg) - 20;
    cf_put_be16(msg, 10);
    cf_put_be16(msg + 2, (uint16_t)(20 + body_len));
    cf_put_be32(msg + 4, 1700000000u);
    cf_put_be32(msg + 8, 0);
    cf_put_be32(msg + 12, domain);
    cf_put_be16(msg + 16, tid);
    cf_put_be16(msg + 18, (uint16_t)(4 + body_len));
    memcpy(msg + 20, body, body_len);
    decode_packet(ex, msg, 20 + body_len, 1700000000000u, NULL, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t addr[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
    decode_exporter ex;
    decode_exporter_init(&ex, addr, 2055);
    if (decode_templates_load(&ex, data, size) == CF_OK) {
        uint8_t *saved = NULL;
        size_t saved_len = 0;
        if (decode_templates_save(&ex, &saved, &saved_len) == CF_OK) {
            decode_exporter again;
            decode_exporter_init(&again, addr, 2055);
            if (decode_templates_load(&again, saved, saved_len) != CF_OK)
                abort(); /* what we saved must load */
            decode_exporter_free(&again);
            free(saved);
        }
        /* data sets for the template ids 256..259 of domains 0 and 1 */
        for (uint16_t tid = 256; tid < 260; tid++)
            for (uint32_t domain = 0; domain < 2; domain++)
                decode_data_set(&ex, tid, domain, data, size);
    }
    decode_exporter_free(&ex);
    return 0;
}
