/*
 * sim/sim_template.h - the template-based export encoders (NetFlow v9 in
 * sim_v9.c, IPFIX in sim_ipfix.c), internal to src/sim.
 *
 * Both share one encoder (sim_v9.c) that differs only in header, set ids
 * and time elements.  State: sequence number and packets sent, so that
 * templates are resent every SIM_TPL_REFRESH packets (and in the first).
 */
#ifndef CF_SIM_SIM_TEMPLATE_H
#define CF_SIM_SIM_TEMPLATE_H

#include "sim/sim.h"

#define SIM_TPL_REFRESH 20   /* templates and sampling options every N packets */
#define SIM_TPL_MAX_RECORDS 10 /* records per packet: fits 1500 bytes with templates */

cf_err sim_tpl_open(const sim_encoder_options *o, int ipfix, void **state);
size_t sim_tpl_max_records(const void *state);
cf_err sim_tpl_encode(void *state, const flow_record *recs, size_t n, uint64_t export_ms, uint8_t *buf,
                      size_t cap, size_t *len, size_t *n_used);
void sim_tpl_close(void *state);

#endif
