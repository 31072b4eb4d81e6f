/*
 * fuzz/fuzz_capture.c - libFuzzer target for the capture reader.
 *
 * The input is a capture file (pcap or pcapng): it is put into a memfd and
 * read through /proc/self/fd/N, every datagram is returned and then decoded,
 * as `cloudflow import` does.  Seeds: fuzz/corpus/capture/ (small captures
 * from ../shared/testdata).
 */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "capture/capture.h"
#include "decode/decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void count_record(void *ctx, const flow_record *rec)
{
    (void)rec;
    (*(size_t *)ctx)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("capture", 0);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    capture *c;
    char err[256];
    if (capture_open(path, &c, err, sizeof(err)) == CF_OK) {
        capture_datagram d;
        size_t n_records = 0;
        for (int guard = 0; guard < 100000 && capture_next(c, &d) == CF_OK; guard++) {
            decode_exporter ex;
            decode_exporter_init(&ex, d.src_addr, d.src_port);
            decode_packet(&ex, d.payload, d.len, d.time_ms, count_record, &n_records);
            decode_exporter_free(&ex);
        }
        capture_stats st;
        capture_get_stats(c, &st);
        capture_close(c);
    }
    close(fd);
    return 0;
}
