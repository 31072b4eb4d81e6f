/*
 * store/retention.c - removes the oldest segments of a source by age and by
 * total size (store.h: store_retention_apply).
 *
 * Only sealed segments are removed: a segment without trailer is being
 * written (or waits for its writer to seal it after a crash), and unlinking
 * it would lose what the writer still appends.  Segments go oldest window
 * first; the day directories they leave empty are removed too.
 */
#include "store/store.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

static bool segment_sealed(const char *path)
{
    store_reader *r;
    if (store_reader_open(path, &r) != CF_OK)
        return false; /* unreadable: leave it to a human, never guess */
    bool sealed = !store_reader_unsealed(r);
    store_reader_close(r);
    return sealed;
}

/* Removes the YYYY/MM/DD directories above path while they are empty, up to
 * (not including) source_dir. */
static void remove_empty_parents(const char *source_dir, const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    size_t base_len = strlen(source_dir);
    for (int depth = 0; depth < 3; depth++) {
        char *slash = strrchr(dir, '/');
        if (!slash || (size_t)(slash - dir) <= base_len)
            return;
        *slash = '\0';
        if (rmdir(dir) != 0)
            return; /* not empty (or gone): stop */
    }
}

static cf_err remove_segment(const char *source_dir, const store_segment *s, uint64_t size,
                             store_retention_stats *st)
{
    if (unlink(s->path) != 0) {
        if (errno == ENOENT)
            return CF_OK;
        CF_ERROR("retention: cannot remove %s: %s", s->path, strerror(errno));
        st->errors++;
        return CF_ERR_IO;
    }
    st->segments_removed++;
    st->bytes_removed += size;
    remove_empty_parents(source_dir, s->path);
    return CF_OK;
}

cf_err store_retention_apply(const char *source_dir, uint64_t now_ms, uint64_t max_age_ms, uint64_t max_bytes,
                             store_retention_stats *st)
{
    store_retention_stats local = {0};
    if (max_age_ms == 0 && max_bytes == 0) {
        *st = local;
        return CF_OK;
    }
    store_segment *segs = NULL;
    size_t n = 0;
    cf_err err = store_list(source_dir, 0, UINT64_MAX, &segs, &n);
    if (err == CF_ERR_NOT_FOUND) {
        *st = local;
        return CF_OK;
    }
    if (err)
        return err;
    uint64_t *sizes = calloc(n ? n : 1, sizeof(*sizes));
    if (!sizes) {
        store_segments_free(segs, n);
        return CF_ERR_NOMEM;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat sb;
        sizes[i] = stat(segs[i].path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
        total += sizes[i];
    }
    /* store_list sorts by window start: oldest first */
    for (size_t i = 0; i < n; i++) {
        bool too_old = max_age_ms && now_ms > max_age_ms && segs[i].window_end_ms <= now_ms - max_age_ms;
        bool too_big = max_bytes && total > max_bytes;
        if (!too_old && !too_big)
            break;
        if (!segment_sealed(segs[i].path)) {
            local.skipped_open++;
            continue;
        }
        if (remove_segment(source_dir, &segs[i], sizes[i], &local) == CF_OK)
            total -= sizes[i];
    }
    local.bytes_kept = total;
    free(sizes);
    store_segments_free(segs, n);
    *st = local;
    return local.errors ? CF_ERR_IO : CF_OK;
}
