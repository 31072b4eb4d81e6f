/* core/array.c - growing a malloc'ed array by doubling (contract in array.h). */
#include "core/array.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

cf_err cf_array_grow(void *arrp, size_t *cap, size_t need, size_t elem, size_t first)
{
    if (need <= *cap)
        return CF_OK;
    size_t n = *cap ? *cap : (first ? first : 1);
    while (n < need) {
        if (n > SIZE_MAX / 2)
            return CF_ERR_NOMEM;
        n *= 2;
    }
    if (elem && n > SIZE_MAX / elem)
        return CF_ERR_NOMEM;
    void *old;
    memcpy(&old, arrp, sizeof(old));
    void *p = realloc(old, n * elem);
    if (!p)
        return CF_ERR_NOMEM;
    memcpy(arrp, &p, sizeof(p));
    *cap = n;
    return CF_OK;
}
