/*
 * fuzz/fuzz_time.c - libFuzzer target for the time and duration parsers of
 * the command line and configuration (-t windows, rotate, retention-age):
 * cf_time_parse, cf_time_parse_window, cf_duration_parse.  A parsed time is
 * formatted back and must parse to the same value.  Seeds: fuzz/corpus/time/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256)
        return 0;
    char text[257];
    memcpy(text, data, size);
    text[size] = '\0';
    uint64_t ms, from, to, secs;
    if (cf_time_parse(text, &ms) == CF_OK && ms < UINT64_C(253402300800000)) { /* before year 10000 */
        char iso[64];
        uint64_t again;
        cf_time_format_iso(ms, iso, sizeof(iso));
        if (cf_time_parse(iso, &again) != CF_OK || again != ms)
            abort();
    }
    if (cf_time_parse_window(text, &from, &to) == CF_OK && to < from)
        abort();
    (void)cf_duration_parse(text, &secs);
    return 0;
}
