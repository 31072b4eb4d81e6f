/* core/error.c - messages for cf_err values. */
#include "core/error.h"

const char *cf_err_str(cf_err err)
{
    switch (err) {
    case CF_OK: return "success";
    case CF_ERR_NOMEM: return "out of memory";
    case CF_ERR_IO: return "input/output error";
    case CF_ERR_TRUNCATED: return "truncated input";
    case CF_ERR_VERSION: return "unsupported version";
    case CF_ERR_MALFORMED: return "malformed input";
    case CF_ERR_CORRUPT: return "corrupt data";
    case CF_ERR_USAGE: return "invalid usage";
    case CF_ERR_CONFIG: return "invalid configuration";
    case CF_ERR_FULL: return "capacity exceeded";
    case CF_ERR_NOT_FOUND: return "not found";
    case CF_ERR_EOF: return "end of data";
    case CF_ERR_NOSPACE: return "no space left on device";
    case CF_ERR_RANGE: return "value out of range";
    }
    return "unknown error";
}
