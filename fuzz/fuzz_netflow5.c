/*
 * fuzz/fuzz_netflow5.c - libFuzzer target for decode_packet() (NetFlow v5
 * and protocol recognition).
 *
 * Each input is one export packet, decoded by a fresh exporter; the input is
 * decoded a second time by the same exporter so that sequence accounting
 * runs against state.  Invariants checked: a failed decode emits nothing,
 * every packet is counted once, and a successful one emits what it counts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fuzz_sink {
    size_t n;
    uint64_t checksum; /* reads every record so that sanitizers see them */
} fuzz_sink;

static void fuzz_emit(void *ctx, const flow_record *rec)
{
    fuzz_sink *s = ctx;
    s->n++;
    s->checksum += rec->packets + rec->bytes + rec->first_ms + rec->last_ms + rec->src_port +
                   rec->dst_port + rec->proto + rec->sampling + rec->src_addr[15];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t addr[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
    decode_exporter ex;
    decode_exporter_init(&ex, addr, 2055);
    cf_log_set_level(CF_LOG_ERROR);
    /* A heap copy of exactly size bytes, so that ASan catches any over-read. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    if (size)
        memcpy(buf, data, size);
    for (int round = 0; round < 2; round++) {
        fuzz_sink s = {0, 0};
        decode_stats before, after;
        decode_stats_snapshot(&ex, &before);
        cf_err err = decode_packet(&ex, buf, size, 1700000000000ull, fuzz_emit, &s);
        decode_stats_snapshot(&ex, &after);
        if (after.packets != before.packets + 1)
            abort();
        if (err != CF_OK && s.n != 0)
            abort();
        if (after.records - before.records != s.n)
            abort();
    }
    free(buf);
    decode_exporter_free(&ex); /* v9/IPFIX inputs allocate template state */
    return 0;
}
