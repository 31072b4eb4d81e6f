/*
 * sim/sim_ipfix.c - the IPFIX encoder of the simulated exporter: the
 * template encoder of sim_v9.c with the IPFIX header, set ids 2/3,
 * flowStart/EndMilliseconds and samplingPacketInterval/Space (layout in
 * sim_v9.c).  The observation domain is sim_encoder_options.engine_id.
 */
#include "sim/sim_template.h"

static cf_err ipfix_open(const sim_encoder_options *o, void **state) { return sim_tpl_open(o, 1, state); }

const sim_encoder_ops sim_encoder_ipfix = {
    .name = "ipfix",
    .open = ipfix_open,
    .max_records = sim_tpl_max_records,
    .encode = sim_tpl_encode,
    .close = sim_tpl_close,
};
