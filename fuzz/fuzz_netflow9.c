/*
 * fuzz/fuzz_netflow9.c - libFuzzer target for the NetFlow v9 decoder: a
 * sequence of v9 packets to one exporter (see fuzz_templates.h).  Seeds:
 * fuzz/corpus/netflow9, the v9 captures of ../shared/testdata (companion
 * template files first), length-prefixed.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_templates.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_templates_run(data, size, 9);
}
