/*
 * fuzz/fuzz_segment.c - libFuzzer target for the segment reader.
 *
 * The input is a segment file: it is put into a memfd and read through
 * /proc/self/fd/N like any file: open, every block, every column, records.
 * Seeds: fuzz/corpus/segment/ (made by tests/store/mkcorpus.c).
 *
 * Checksums would stop almost every mutation at the first check, so when
 * the input's size is odd the harness first recomputes the file header,
 * block header and column checksums wherever the layout lets it find them:
 * then the mutations reach the directory checks and the column decoders.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "store/segment_format.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void read_segment(const char *path)
{
    store_reader *r;
    if (store_reader_open(path, &r) != CF_OK)
        return;
    store_block_info info;
    flow_record *recs = NULL;
    for (int guard = 0; guard < 100000; guard++) {
        cf_err err = store_reader_next(r, &info);
        if (err == CF_ERR_CORRUPT)
            continue;
        if (err)
            break;
        const void *cols[FLOW_FIELD_MAX_ID + 1] = {0};
        for (unsigned id = 1; id <= FLOW_FIELD_MAX_ID; id++)
            store_reader_columns(r, STORE_FIELD_BIT(id), cols); /* one at a time: each path alone */
        flow_record *nr = realloc(recs, (info.n_records ? info.n_records : 1) * sizeof(*nr));
        if (!nr)
            break;
        recs = nr;
        store_reader_records(r, recs);
    }
    (void)store_reader_torn(r);
    (void)store_reader_unsealed(r);
    free(recs);
    store_reader_close(r);
}

/* Recomputes the checksums of a segment image in place (see above). */
static void fix_checksums(uint8_t *p, size_t len)
{
    if (len < STORE_FILE_HEADER_LEN)
        return;
    store_put_le64(p + 56, store_hash(p, 56));
    size_t off = STORE_FILE_HEADER_LEN;
    while (len - off >= STORE_BLOCK_FIXED_LEN && store_le32(p + off) == STORE_BLOCK_MAGIC) {
        uint32_t n_cols = store_le32(p + off + 8), payload = store_le32(p + off + 12);
        if (n_cols > STORE_MAX_COLUMNS)
            return;
        size_t hlen = STORE_BLOCK_FIXED_LEN + (size_t)n_cols * STORE_DIR_ENTRY_LEN + 8;
        if (len - off < hlen)
            return;
        size_t col = off + hlen;
        for (uint32_t i = 0; i < n_cols; i++) {
            uint8_t *e = p + off + STORE_BLOCK_FIXED_LEN + (size_t)i * STORE_DIR_ENTRY_LEN;
            uint32_t stored = store_le32(e + 8);
            if (stored > len - col)
                break;
            store_put_le64(e + 40, store_hash(p + col, stored));
            col += stored;
        }
        store_put_le64(p + off + hlen - 8, store_hash(p + off, hlen - 8));
        if (payload > len - off - hlen)
            return;
        off += hlen + payload;
    }
    if (len - off == STORE_TRAILER_LEN && store_le32(p + off) == STORE_TRAILER_MAGIC)
        store_put_le64(p + off + 40, store_hash(p + off, 40));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = NULL;
    if (size % 2 == 1 && (copy = malloc(size)) != NULL) {
        memcpy(copy, data, size);
        fix_checksums(copy, size);
        data = copy;
    }
    int fd = memfd_create("segment", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, data + done, size - done);
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    if (done == size) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        read_segment(path);
    }
    close(fd);
    free(copy);
    return 0;
}
