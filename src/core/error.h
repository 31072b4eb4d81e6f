/*
 * core/error.h - the one error type of cloudflow.
 *
 * Every function that can fail returns a cf_err.  CF_OK is zero so that
 * `if (err) goto out;` reads naturally.  The numeric values are stable: they
 * may appear in logs and in the stats file, so a value is never reused.
 * Outputs go through pointer parameters, which are left untouched on failure.
 */
#ifndef CF_CORE_ERROR_H
#define CF_CORE_ERROR_H

typedef enum cf_err {
    CF_OK = 0,
    CF_ERR_NOMEM = 1,      /* an allocation failed */
    CF_ERR_IO = 2,         /* a system call on a file or socket failed (see errno) */
    CF_ERR_TRUNCATED = 3,  /* input ends before a length it announced */
    CF_ERR_VERSION = 4,    /* unknown protocol or format version */
    CF_ERR_MALFORMED = 5,  /* input violates its format in another way */
    CF_ERR_CORRUPT = 6,    /* stored data fails its checksum or layout checks */
    CF_ERR_USAGE = 7,      /* bad option, argument or filter */
    CF_ERR_CONFIG = 8,     /* bad configuration file */
    CF_ERR_FULL = 9,       /* a bounded queue, table or buffer is full */
    CF_ERR_NOT_FOUND = 10, /* a named file, field or entry does not exist */
    CF_ERR_EOF = 11,       /* no more data (not an error for iterators) */
    CF_ERR_NOSPACE = 12,   /* the disk is full */
    CF_ERR_RANGE = 13,     /* a value is outside its allowed range */
} cf_err;

/* A short, static, human-readable description of err; never NULL. */
const char *cf_err_str(cf_err err);

#endif
