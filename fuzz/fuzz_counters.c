/*
 * fuzz/fuzz_counters.c - libFuzzer target for the interface counter file
 * reader (store/counters.h).
 *
 * The input is a counter file.  It is read twice: from memory
 * (counters_reader_open_mem) and as a real file through a memfd and
 * /proc/self/fd/N (counters_reader_open, the chunked pread path); every
 * record is read, and consecutive good records are fed to the rate
 * computation.  Both readers must agree on every result.
 *
 * Record checksums would stop almost every mutation, so when the first
 * input byte is odd the harness first recomputes the header CRC and the CRC
 * of every whole record, so that mutations reach the field decoding and the
 * rates.  Seeds: fuzz/corpus/counters/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "store/counters.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* CRC-32 (IEEE), as the format uses; the harness's own copy. */
static uint32_t crc32_ieee(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* Makes the header CRC and the CRC of every whole record match. */
static void fix_checksums(uint8_t *buf, size_t size)
{
    if (size < COUNTERS_HEADER_LEN)
        return;
    put_be32(buf + 12, crc32_ieee(buf, 12));
    for (size_t off = COUNTERS_HEADER_LEN; off + COUNTERS_RECORD_LEN <= size; off += COUNTERS_RECORD_LEN)
        put_be32(buf + off + 132, crc32_ieee(buf + off, 132));
}

/* Reads every record of r into the callback-free checks; returns a digest. */
static uint64_t read_all(counters_reader *r)
{
    uint64_t digest = 0;
    counters_record prev, cur;
    int have_prev = 0;
    for (int i = 0; i < 100000; i++) {
        cf_err err = counters_reader_next(r, &cur);
        if (err == CF_ERR_EOF || err == CF_ERR_IO)
            break;
        digest = digest * 31 + (uint64_t)err + counters_reader_offset(r);
        if (err)
            continue;
        digest += cur.time_ms ^ cur.in_octets ^ cur.if_index;
        if (have_prev) {
            counters_rate rt;
            digest += (uint64_t)counters_rate_compute(&prev, &cur, &rt) + rt.interval_ms;
        }
        prev = cur;
        have_prev = 1;
    }
    return digest + counters_reader_torn(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    if (size > 0 && (data[0] & 1))
        fix_checksums(buf, size);
    counters_reader *m = NULL, *f = NULL;
    cf_err em = counters_reader_open_mem(buf, size, &m);
    uint64_t dm = em ? 0 : read_all(m);
    counters_reader_close(m);
    int fd = memfd_create("fuzz_counters", 0);
    if (fd >= 0) {
        if (write(fd, buf, size) == (ssize_t)size) {
            char path[64];
            snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
            cf_err ef = counters_reader_open(path, &f);
            uint64_t df = ef ? 0 : read_all(f);
            counters_reader_close(f);
            if (ef != em || df != dm)
                abort(); /* the two readers disagree */
        }
        close(fd);
    }
    free(buf);
    return 0;
}
