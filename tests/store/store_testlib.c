/* tests/store/store_testlib.c - helpers shared by the store tests. */
#include "store_testlib.h"

#include <stdlib.h>
#include <string.h>

uint64_t st_rand(st_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t pick(st_rng *r, unsigned width)
{
    uint64_t mask = width >= 8 ? UINT64_MAX : (UINT64_C(1) << (8 * width)) - 1;
    switch (st_rand(r) % 6) {
    case 0: return 0;
    case 1: return mask;
    case 2: return 1;
    case 3: return st_rand(r) & 0xff;
    default: return st_rand(r) & mask;
    }
}

void st_random_record(st_rng *r, uint64_t last, flow_record *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < flow_n_fields; i++) {
        const flow_field *f = &flow_fields[i];
        uint8_t *p = (uint8_t *)out + f->offset;
        if (f->width == 16) {
            if (st_rand(r) % 2) {
                flow_addr_from_v4(p, (uint32_t)st_rand(r));
            } else {
                for (int b = 0; b < 16; b++)
                    p[b] = (uint8_t)st_rand(r);
            }
            if (st_rand(r) % 8 == 0)
                memset(p, st_rand(r) % 2 ? 0xff : 0, 16);
        } else if (f->type == FLOW_T_MAC) {
            flow_set_uint(out, f, pick(r, 8) & 0xffffffffffffull);
        } else {
            flow_set_uint(out, f, pick(r, f->width));
        }
    }
    out->last_ms = last;
    out->first_ms = st_rand(r) % 3 ? last - st_rand(r) % 100000 : pick(r, 8);
    out->family = flow_addr_is_v4(out->src_addr) ? 4 : 6;
}

void st_random_records(st_rng *r, uint64_t from, uint64_t to, flow_record *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        st_random_record(r, from + st_rand(r) % (to - from), &out[i]);
}

cf_err st_read_all(const char *path, flow_record **out, size_t *n, size_t *n_corrupt, bool *torn)
{
    store_reader *rd;
    cf_err err = store_reader_open(path, &rd);
    if (err)
        return err;
    flow_record *all = NULL;
    size_t len = 0, bad = 0;
    store_block_info info;
    for (;;) {
        err = store_reader_next(rd, &info);
        if (err == CF_ERR_CORRUPT) {
            bad++;
            continue;
        }
        if (err)
            break;
        flow_record *nv = realloc(all, (len + info.n_records) * sizeof(*nv));
        if (!nv) {
            err = CF_ERR_NOMEM;
            break;
        }
        all = nv;
        err = store_reader_records(rd, all + len);
        if (err)
            break;
        len += info.n_records;
    }
    if (torn)
        *torn = store_reader_torn(rd);
    store_reader_close(rd);
    if (err != CF_ERR_EOF) {
        free(all);
        return err;
    }
    *out = all;
    *n = len;
    if (n_corrupt)
        *n_corrupt = bad;
    return CF_OK;
}

size_t st_list(const char *dir, store_segment **segs)
{
    size_t n = 0;
    *segs = NULL;
    if (store_list(dir, 0, UINT64_MAX, segs, &n) != CF_OK)
        return 0;
    return n;
}

size_t st_count_dir(const char *dir, size_t *n_segments)
{
    store_segment *segs;
    size_t n = st_list(dir, &segs), total = 0;
    for (size_t i = 0; i < n; i++) {
        flow_record *recs = NULL;
        size_t k = 0;
        if (st_read_all(segs[i].path, &recs, &k, NULL, NULL) == CF_OK)
            total += k;
        free(recs);
    }
    store_segments_free(segs, n);
    if (n_segments)
        *n_segments = n;
    return total;
}

void st_options(store_options *o, store_codec codec, uint32_t block_records)
{
    store_options_default(o);
    o->codec = codec;
    o->block_records = block_records;
}
