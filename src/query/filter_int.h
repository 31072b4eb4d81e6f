/*
 * query/filter_int.h - internals of the filter compiler (not a public API).
 *
 * Pipeline: filter_lex.c cuts the text into tokens; filter_parse.c reads the
 * nfdump grammar and builds nodes through the builders of filter_build.c;
 * filter_eval.c runs the result over columns.
 *
 * The program: the parser appends nodes to one array (fprog.nodes), children
 * before their parent, so the array is the expression in post-order and the
 * root is a single index.  Composite nodes (AND, OR, NOT) name their children
 * through a slice of fprog.kids.  Leaves are column tests (a range on one
 * integer column, a masked address, set membership, ...).  Evaluation walks
 * this small array once per chunk of rows, never once per row: each leaf is a
 * tight loop over one column.
 */
#ifndef CF_QUERY_FILTER_INT_H
#define CF_QUERY_FILTER_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "query/filter.h"

/* Deepest nesting of parentheses and `not` the parser accepts. */
#define FILTER_MAX_NESTING 64

typedef enum fnode_kind {
    FN_TRUE = 0,     /* matches every row */
    FN_FALSE = 1,    /* matches no row */
    FN_AND = 2,      /* all children */
    FN_OR = 3,       /* any child */
    FN_NOT = 4,      /* one child, negated */
    FN_RANGE = 5,    /* lo <= field <= hi (integer, time or MAC field) */
    FN_MASK_ALL = 6, /* (field & mask) == mask */
    FN_MASK_ANY = 7, /* (field & mask) != 0 */
    FN_ADDR = 8,     /* (address & m) == v, 16-byte address field */
    FN_ADDR_SET = 9, /* address within one of a set of prefixes */
    FN_UINT_SET = 10,/* integer field in a set of values */
    FN_DERIVED = 11, /* lo <= computed value <= hi (duration, pps, bps, bpp) */
} fnode_kind;

/* Values computed from several columns, as nfdump computes them. */
typedef enum fderived {
    FD_DURATION = 0, /* last - first, ms (0 when last < first) */
    FD_PPS = 1,      /* 1000 * packets / duration; 0 when duration is 0 */
    FD_BPS = 2,      /* 8000 * bytes / duration; 0 when duration is 0 */
    FD_BPP = 3,      /* bytes / packets; 0 when packets is 0 */
} fderived;

typedef struct fnode {
    uint8_t kind;     /* fnode_kind */
    uint8_t field;    /* column id of a leaf */
    uint8_t width;    /* bytes per value of that column */
    uint8_t derived;  /* fderived of FN_DERIVED */
    uint32_t kid_off; /* AND/OR/NOT: first child in fprog.kids */
    uint32_t n_kids;  /* AND/OR/NOT: number of children */
    uint32_t set;     /* FN_ADDR_SET / FN_UINT_SET: index in the set arrays */
    uint64_t lo, hi;  /* FN_RANGE / FN_DERIVED bounds (inclusive); FN_MASK_*: lo is the mask */
    uint64_t am[2];   /* FN_ADDR: mask, as two words loaded from the 16 bytes in memory order */
    uint64_t av[2];   /* FN_ADDR: value (already masked), same layout */
} fnode;

/* One prefix length of an address set: an open-addressing hash table of
 * the masked values, keys[2*i], keys[2*i+1] valid where used[i]. */
typedef struct faddr_group {
    uint64_t m[2];   /* the mask of this group (memory-order words) */
    size_t cap;      /* slots, a power of two, at least twice the entries */
    size_t n;        /* entries */
    uint64_t *keys;  /* 2 * cap words */
    uint8_t *used;   /* cap flags */
} faddr_group;

typedef struct faddr_set {
    faddr_group *groups; /* one per distinct mask */
    size_t n_groups;
} faddr_set;

/* Sorted, unique values; for fields of width <= 2 also a bitmap of 65536 bits. */
typedef struct fuint_set {
    uint64_t *vals;
    size_t n;
    uint64_t *bitmap; /* 1024 words or NULL */
} fuint_set;

/* The program under construction and, once compiled, the filter itself. */
typedef struct fprog {
    fnode *nodes;
    size_t n_nodes, cap_nodes;
    uint32_t *kids;
    size_t n_kids, cap_kids;
    faddr_set *addr_sets;
    size_t n_addr_sets;
    fuint_set *uint_sets;
    size_t n_uint_sets;
} fprog;

struct query_filter {
    fprog prog;
    uint32_t root;     /* index of the root node */
    unsigned levels;   /* depth of nested composite nodes (scratch levels) */
    uint64_t fields;   /* STORE_FIELD_BIT mask of columns read */
};

/* ---- lexer (filter_lex.c) ------------------------------------------------ */

typedef enum ftok_kind {
    FT_END = 0,
    FT_WORD = 1,   /* keyword, number, address, ... */
    FT_LPAREN = 2,
    FT_RPAREN = 3,
    FT_LBRACK = 4,
    FT_RBRACK = 5,
    FT_COMMA = 6,
    FT_BANG = 7,   /* ! (not) */
    FT_CMP = 8,    /* = == < > <= >= (cmp holds which) */
    FT_BAD = 9,    /* a character that starts no token */
} ftok_kind;

typedef enum fcmp {
    FC_EQ = 0,
    FC_LT = 1,
    FC_GT = 2,
    FC_LE = 3,
    FC_GE = 4,
} fcmp;

typedef struct ftok {
    ftok_kind kind;
    fcmp cmp;      /* FT_CMP */
    size_t pos;    /* byte offset in the text */
    size_t len;    /* bytes */
} ftok;

/* Reads the token at or after *pos (skipping blanks and # comments) and
 * moves *pos past it. */
void filter_lex_next(const char *text, size_t *pos, ftok *out);

/* Case-insensitive comparison of a word token with a keyword. */
int filter_tok_is(const char *text, const ftok *t, const char *kw);

/* Parses a number token: decimal or 0x hex, optional K/M/G/T suffix
 * (x1000 each, as nfdump).  CF_ERR_USAGE when not a number, CF_ERR_RANGE
 * when it does not fit 64 bits. */
cf_err filter_parse_number(const char *s, size_t len, uint64_t *out);

/* ---- builders (filter_build.c) ------------------------------------------- */

/* Every builder returns CF_OK or CF_ERR_NOMEM and writes the new (or folded)
 * node index into *out. */
cf_err filter_node_const(fprog *p, int value, uint32_t *out);
cf_err filter_node_range(fprog *p, unsigned field, uint64_t lo, uint64_t hi, uint32_t *out);
/* A comparison of an integer field with v: the range it means, or a
 * constant when the range is empty or the whole field. */
cf_err filter_node_cmp(fprog *p, unsigned field, fcmp cmp, uint64_t v, uint32_t *out);
cf_err filter_node_mask(fprog *p, unsigned field, uint64_t mask, int all, uint32_t *out);
cf_err filter_node_addr(fprog *p, unsigned field, const uint8_t mask[16], const uint8_t value[16],
                        uint32_t *out);
/* n prefixes given as masks[i*16], values[i*16] (values already masked). */
cf_err filter_node_addr_set(fprog *p, unsigned field, const uint8_t *masks, const uint8_t *values,
                            size_t n, uint32_t *out);
cf_err filter_node_uint_set(fprog *p, unsigned field, const uint64_t *vals, size_t n, uint32_t *out);
cf_err filter_node_derived(fprog *p, fderived d, fcmp cmp, uint64_t v, uint32_t *out);
/* AND / OR of n nodes (flattened, constants folded). */
cf_err filter_node_bool(fprog *p, fnode_kind kind, const uint32_t *kids, size_t n, uint32_t *out);
cf_err filter_node_not(fprog *p, uint32_t kid, uint32_t *out);

void filter_prog_free(fprog *p);

/* Largest value a field of this width holds. */
uint64_t filter_width_max(unsigned width);

/* ---- parser (filter_parse.c) --------------------------------------------- */

/* Parses text into p; *root the root node.  CF_ERR_USAGE with err filled. */
cf_err filter_parse(const char *text, fprog *p, uint32_t *root, query_filter_error *err);

/* ---- address sets (shared by filter_build.c and filter_eval.c) ----------- */

static inline size_t filter_addr_hash(uint64_t hi, uint64_t lo, size_t cap)
{
    uint64_t h = (hi * UINT64_C(0x9E3779B97F4A7C15)) ^ lo;
    h ^= h >> 29;
    h *= UINT64_C(0xBF58476D1CE4E5B9);
    h ^= h >> 32;
    return (size_t)h & (cap - 1);
}

/* Is the address (two memory-order words) in set s? */
static inline int filter_addr_set_has(const faddr_set *s, uint64_t hi, uint64_t lo)
{
    for (size_t g = 0; g < s->n_groups; g++) {
        const faddr_group *gr = &s->groups[g];
        uint64_t kh = hi & gr->m[0], kl = lo & gr->m[1];
        size_t i = filter_addr_hash(kh, kl, gr->cap);
        while (gr->used[i]) {
            if (gr->keys[2 * i] == kh && gr->keys[2 * i + 1] == kl)
                return 1;
            i = (i + 1) & (gr->cap - 1);
        }
    }
    return 0;
}

#endif
