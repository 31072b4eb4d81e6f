/*
 * tests/decode/decode_testlib.h - what the capture tests of every decoder
 * share: reading numbers from tshark's tsv cells, one decode_exporter per
 * (address, port) of a capture, and the malformed total.  Test-only; cmocka
 * assertions fail the calling test.
 */
#ifndef CF_DECODE_TESTLIB_H
#define CF_DECODE_TESTLIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decode/decode.h"

/* A tsv cell holding a whole number: decimal, or hexadecimal after "0x". */
uint64_t dt_num(const char *cell);

/* The exporter of exs[0..*n-1] with this address and port; a new one
 * (initialised, *created set) when there is none.  At most max. */
decode_exporter *dt_exporter_for(decode_exporter *exs, size_t *n, size_t max, const uint8_t addr[16],
                                 uint16_t port, bool *created);

/* Packets rejected for any reason. */
uint64_t dt_sum_malformed(const decode_stats *s);

#endif
