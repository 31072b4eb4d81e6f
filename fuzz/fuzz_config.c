/*
 * fuzz/fuzz_config.c - libFuzzer target for the collector's configuration file parser (collect_config_load).
 *
 * The input is written to a memfd and read through /proc/self/fd/N like any
 * file.  Seeds: fuzz/corpus/config/.
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
    int fd = memfd_create("config", 0);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64], err[512];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    collect_config c;
    collect_config_default(&c);
    if (collect_config_load(&c, path, err, sizeof(err)) == CF_OK) {
        FILE *out = fopen("/dev/null", "w");
        if (out) {
            collect_config_dump(&c, out);
            fclose(out);
        }
    }
    close(fd);
    return 0;
}
