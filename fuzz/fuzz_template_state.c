/*
 * fuzz/fuzz_template_state.c - libFuzzer target for the templates state file
 * (DATADIR/.templates/templates.state, collect/tplstore.h): the container
 * is parsed, and each section's templates are loaded into a scratch
 * exporter as a restarted collector does.
 * Seeds: fuzz/corpus/template_state/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collect/tplstore.h"
#include "decode/decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int load(void *ctx, const char *name, const uint8_t *buf, size_t len)
{
    (void)ctx;
    if (strlen(name) < 5)
        abort(); /* the parser passes only "<exporter>.tpl" names */
    decode_exporter ex;
    uint8_t zero[16] = {0};
    decode_exporter_init(&ex, zero, 0);
    (void)decode_templates_load(&ex, buf, len);
    decode_exporter_free(&ex);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[256];
    (void)collect_tplstore_parse_state(data, size, load, NULL, why, sizeof(why));
    return 0;
}
