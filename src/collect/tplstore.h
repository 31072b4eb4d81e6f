/*
 * collect/tplstore.h - v9/IPFIX exporter state saved in the data directory:
 * templates, so a restarted collector decodes an exporter's first data
 * packets without waiting for its next template refresh, and the names of
 * applications and interfaces the exporter announced in options data, so
 * that they survive a restart and `cloudflow query` can print them.
 *
 * Where it sits: inside the pipeline (collect/pipeline.c).  Files:
 *   DATADIR/.templates/templates.state  every exporter's templates
 *                                       (decode_templates_save() format,
 *                                       decode/decode.h), see below
 *   DATADIR/.templates/templates.state.tmp  only while it is replaced
 *   DATADIR/.names/<exporter>.names     names file (flow/names.h, version 1;
 *                                       docs/FORMAT.md), one per exporter
 *   DATADIR/.names/<exporter>.names.tmp only while one is replaced
 * where <exporter> is the address with ':' written as '-', '_', the UDP
 * source port ("192.0.2.1_2055", "2001-db8--1_4739"), as the template cache
 * is kept per address + source port.
 *
 * Names files follow the same life cycle as template files: checked at open
 * (flow_names_parse; a bad file is logged as "names file
 * PATH: line N: what; ignored", counted in load_errors), restored into the
 * exporter's table at first_seen (decode_names_restore: beyond max-names
 * the rest are refused and counted in refused_names), saved when the
 * table's generation changed, at most every COLLECT_TPL_SAVE_MS.  Template
 * and names files share the counters below.
 *
 * Life cycle:
 *   - open: reads the state file and every *.tpl file of earlier versions
 *     (at most max_files exporters, each at most COLLECT_TPL_MAX_FILE bytes)
 *     and checks each exporter's templates with decode_templates_load()
 *     on a scratch exporter with the pipeline's limits; an unreadable,
 *     truncated or corrupt file is logged with its path, counted in
 *     load_errors and ignored (never fatal);
 *   - first_seen (producer thread, when an exporter is created): loads that
 *     exporter's file, if any, into its decode_exporter (loaded += 1);
 *   - check (producer thread, after packets): when the exporter's templates
 *     changed (added, replaced, withdrawn) and the last save is at least
 *     COLLECT_TPL_SAVE_MS old (or force), serialises them and queues the
 *     bytes for the writer thread; never touches the disk;
 *   - write_pending (saver thread): writes queued names files atomically
 *     (tmp, fsync, rename) and the state file when due; failures are logged
 *     and counted (save_errors);
 *   - close: writes what is still queued, frees.
 *
 * Threads: first_seen and check are called by the pipeline's one producer
 * thread (they touch the exporter's decode state); write_pending by one
 * other thread; counts by any thread.  The queue is under a mutex.
 */
#ifndef CF_COLLECT_TPLSTORE_H
#define CF_COLLECT_TPLSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "decode/decode.h"

#define COLLECT_TPL_DIR ".templates"
#define COLLECT_NAMES_DIR ".names"
#define COLLECT_TPL_SAVE_MS 5000u                  /* at most one save per exporter this often */
#define COLLECT_TPL_MAX_FILE (16u * 1024u * 1024u) /* larger files are refused (counted) */

/* Per-exporter save state, kept by the pipeline beside the decode_exporter
 * (zero-initialised). */
typedef struct collect_tpl_mark {
    uint64_t saved_gen;     /* template generation last saved or loaded */
    uint64_t saved_mono_ms; /* when (CLOCK_MONOTONIC) */
    uint64_t names_gen;     /* names table generation last saved or loaded */
    uint64_t names_saved_mono_ms;
} collect_tpl_mark;

typedef struct collect_tplstore collect_tplstore;

/* Creates DATADIR/.templates if missing and reads the files in it (see
 * above).  CF_OK; CF_ERR_IO (cannot create the directory; errbuf), CF_ERR_NOMEM.
 * cfg: limits applied when checking the files (NULL: defaults). */
cf_err collect_tplstore_open(const char *data_dir, size_t max_files, const decode_config *cfg,
                             collect_tplstore **out, char *errbuf, size_t errlen);

/* Loads the saved templates of the new exporter dx (its limits already set)
 * and sets *m.  Producer thread. */
void collect_tplstore_first_seen(collect_tplstore *ts, decode_exporter *dx, collect_tpl_mark *m);

/* True when dx's templates changed since *m (a save is due or waiting). */
int collect_tplstore_dirty(const decode_exporter *dx, const collect_tpl_mark *m);

/* Queues a save of dx's templates when they changed since *m and the last
 * save is at least COLLECT_TPL_SAVE_MS before now_mono_ms, or force (and
 * they changed).  Producer thread. */
void collect_tplstore_check(collect_tplstore *ts, decode_exporter *dx, collect_tpl_mark *m, uint64_t now_mono_ms,
                            int force);

/* Writes the queued names files, and the state file when it changed and
 * its last write is COLLECT_TPL_STATE_MS old.  One thread besides the
 * producer. */
void collect_tplstore_write_pending(collect_tplstore *ts);

/* The same, writing the state file now if it changed (at close; by the
 * thread that calls write_pending, or after it stopped). */
void collect_tplstore_flush(collect_tplstore *ts);

/*
 * The templates state file, DATADIR/.templates/templates.state: every
 * exporter's newest saved templates in one file, rewritten whole
 * (atomically: tmp, fsync, rename) when some changed, at most every
 * COLLECT_TPL_STATE_MS and at close.  One file for all exporters: a
 * collector that meets 1,000 new exporters writes one file a second, not
 * 1,000 (creating a file costs the file system far more than its bytes).
 *
 *   cloudflow-templates 1\n
 *   <exporter>.tpl <length>\n  <length bytes: decode_templates_save()>\n   (per exporter)
 *   end <number of sections>\n
 *
 * At most max_files exporters are kept: beyond, the one updated least
 * recently is dropped (sections are written least recently updated first).
 * Per-exporter files <exporter>.tpl of earlier versions are still read at
 * open (the state file wins for an exporter in both) and removed once the
 * state file has been written (and its directory synced); one that cannot
 * be read now (I/O error, beyond max_files) is left alone.  A bad section is logged with the exporter
 * and counted (load_errors); a malformed file is logged with the byte where
 * it goes wrong, the sections before are kept, and it is rewritten.
 */
#define COLLECT_TPL_STATE "templates.state"
#define COLLECT_TPL_STATE_MS 1000u

/* Called for each section of a state file: name "<exporter>.tpl", the
 * saved templates buf[0 .. len). */
typedef int (*collect_tpl_section_fn)(void *ctx, const char *name, const uint8_t *buf, size_t len);

/* Parses a state file: fn (may be NULL) for each section in order.  CF_OK
 * for a whole, well-formed file; CF_ERR_CORRUPT with the byte offset and
 * what is wrong in why (the sections before it were passed to fn).  Any
 * thread; used by the fuzzer and the tests. */
cf_err collect_tplstore_parse_state(const uint8_t *buf, size_t len, collect_tpl_section_fn fn, void *ctx,
                                    char *why, size_t why_len);

/* Counters (any thread): template files, and names files apart. */
typedef struct collect_tpl_counts {
    uint64_t loaded;      /* saved templates loaded into an exporter */
    uint64_t load_errors; /* template files unreadable, too large, truncated or corrupt */
    uint64_t saved;       /* template files written */
    uint64_t save_errors; /* template files that could not be written or serialised */
    uint64_t names_loaded, names_load_errors, names_saved, names_save_errors; /* the same for names files */
} collect_tpl_counts;
void collect_tplstore_counts(collect_tplstore *ts, collect_tpl_counts *out);

/* Writes what is queued and frees ts.  NULL is a no-op. */
void collect_tplstore_close(collect_tplstore *ts);

#endif
