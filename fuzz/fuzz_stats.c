/*
 * fuzz/fuzz_stats.c - libFuzzer target for the collector's statistics file reader (collect_stats_read, used by `cloudflow stats`).
 *
 * The input is written to a memfd and read through /proc/self/fd/N like any
 * file.  Seeds: fuzz/corpus/stats/.
 */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "collect/config.h"
#include "collect/stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("stats", 0);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64], err[512];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    collect_snapshot s;
    if (collect_stats_read(path, &s, err, sizeof(err)) == CF_OK) {
        FILE *out = fopen("/dev/null", "w");
        if (out) {
            collect_stats_print(&s, out);
            fclose(out);
        }
        collect_snapshot_free(&s);
    }
    close(fd);
    return 0;
}
