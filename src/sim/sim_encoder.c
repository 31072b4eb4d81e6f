/* sim/sim_encoder.c - the registry of export encoders and their common handle. */
#include "sim/sim.h"

#include <stdlib.h>
#include <string.h>

/* The sFlow v5 encoder (sim_sflow.c); its declaration belongs in sim.h. */
extern const sim_encoder_ops sim_encoder_sflow;
/* The NetFlow v9 and IPFIX encoders (sim_v9.c, sim_ipfix.c); likewise. */
extern const sim_encoder_ops sim_encoder_v9;
extern const sim_encoder_ops sim_encoder_ipfix;

/* Every encoder, by protocol name.  Add v9/IPFIX/sFlow here. */
static const sim_encoder_ops *const sim_encoders[] = {
    &sim_encoder_v5,
    &sim_encoder_sflow,
    &sim_encoder_v9,
    &sim_encoder_ipfix,
};
#define SIM_N_ENCODERS (sizeof(sim_encoders) / sizeof(sim_encoders[0]))

struct sim_encoder {
    const sim_encoder_ops *ops;
    void *state; /* owned by ops */
};

const sim_encoder_ops *sim_encoder_find(const char *name)
{
    for (size_t i = 0; name && i < SIM_N_ENCODERS; i++)
        if (strcmp(sim_encoders[i]->name, name) == 0)
            return sim_encoders[i];
    return NULL;
}

const char *sim_encoder_names(void) { return "v5, sflow, v9, ipfix"; }

cf_err sim_encoder_open(const char *name, const sim_encoder_options *o, sim_encoder **out)
{
    const sim_encoder_ops *ops = sim_encoder_find(name);
    if (!ops)
        return CF_ERR_USAGE;
    sim_encoder *e = calloc(1, sizeof(*e));
    if (!e)
        return CF_ERR_NOMEM;
    cf_err err = ops->open(o, &e->state);
    if (err) {
        free(e);
        return err;
    }
    e->ops = ops;
    *out = e;
    return CF_OK;
}

size_t sim_encoder_max_records(const sim_encoder *e) { return e->ops->max_records(e->state); }

cf_err sim_encoder_encode(sim_encoder *e, const flow_record *recs, size_t n, uint64_t export_ms, uint8_t *buf,
                          size_t cap, size_t *len, size_t *n_used)
{
    return e->ops->encode(e->state, recs, n, export_ms, buf, cap, len, n_used);
}

void sim_encoder_close(sim_encoder *e)
{
    if (!e)
        return;
    e->ops->close(e->state);
    free(e);
}
