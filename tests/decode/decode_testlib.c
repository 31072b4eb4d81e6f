/* tests/decode/decode_testlib.c - helpers shared by the capture tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "decode_testlib.h"

uint64_t dt_num(const char *cell)
{
    int hex = cell[0] == '0' && (cell[1] == 'x' || cell[1] == 'X');
    const char *digits = hex ? cell + 2 : cell;
    char *end;
    unsigned long long v = strtoull(digits, &end, hex ? 16 : 10);
    assert_true(end != digits && *end == '\0');
    return v;
}

decode_exporter *dt_exporter_for(decode_exporter *exs, size_t *n, size_t max, const uint8_t addr[16],
                                 uint16_t port, bool *created)
{
    *created = false;
    for (size_t i = 0; i < *n; i++)
        if (exs[i].port == port && memcmp(exs[i].addr, addr, 16) == 0)
            return &exs[i];
    assert_true(*n < max);
    decode_exporter_init(&exs[*n], addr, port);
    *created = true;
    return &exs[(*n)++];
}

uint64_t dt_sum_malformed(const decode_stats *s)
{
    uint64_t n = 0;
    for (size_t i = 0; i < DECODE_N_REASONS; i++)
        n += s->malformed[i];
    return n;
}
