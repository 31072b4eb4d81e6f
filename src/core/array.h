/*
 * core/array.h - growing a malloc'ed array by doubling.
 *
 * cf_array_grow(&v, &cap, need, sizeof(*v), first) makes room for at least
 * `need` elements in the array v (any T *, passed by address) whose capacity
 * is *cap: nothing when *cap >= need, else the capacity doubles (from `first`
 * when it is 0) until it holds need, and v is realloc'ed.  On failure
 * (CF_ERR_NOMEM, also when the size would overflow) v and *cap are as they
 * were.  The caller owns v and frees it.
 */
#ifndef CF_CORE_ARRAY_H
#define CF_CORE_ARRAY_H

#include <stddef.h>

#include "core/error.h"

cf_err cf_array_grow(void *arrp, size_t *cap, size_t need, size_t elem, size_t first);

#endif
