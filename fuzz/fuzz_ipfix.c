/*
 * fuzz/fuzz_ipfix.c - libFuzzer target for the IPFIX decoder: a sequence
 * of IPFIX messages to one exporter (see fuzz_templates.h).  Seeds:
 * fuzz/corpus/ipfix, the IPFIX captures of ../shared/testdata (companion
 * template files first), length-prefixed.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_templates.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_templates_run(data, size, 10);
}
