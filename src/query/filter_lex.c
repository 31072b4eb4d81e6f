/*
 * query/filter_lex.c - tokens and numbers of the filter language.
 *
 * A token is one of ( ) [ ] , ! a comparator (= == < > <= >=), or a word: a
 * run of any other non-blank characters, which covers keywords, numbers,
 * addresses, prefixes (10.1.0.0/16, 2001:db8::/32), MAC addresses and names
 * like icmp-type.  '#' starts a comment that runs to the end of the line.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "query/filter_int.h"

static int is_word_char(unsigned char c)
{
    if (c == '\0' || isspace(c))
        return 0;
    return strchr("()[],!=<>#", c) == NULL;
}

void filter_lex_next(const char *text, size_t *pos, ftok *out)
{
    size_t i = *pos;
    for (;;) {
        while (text[i] && isspace((unsigned char)text[i]))
            i++;
        if (text[i] != '#')
            break;
        while (text[i] && text[i] != '\n')
            i++;
    }
    ftok t = {FT_END, FC_EQ, i, 0};
    char c = text[i];
    char c1 = c ? text[i + 1] : '\0';
    switch (c) {
    case '\0': break;
    case '(': t.kind = FT_LPAREN, t.len = 1; break;
    case ')': t.kind = FT_RPAREN, t.len = 1; break;
    case '[': t.kind = FT_LBRACK, t.len = 1; break;
    case ']': t.kind = FT_RBRACK, t.len = 1; break;
    case ',': t.kind = FT_COMMA, t.len = 1; break;
    case '!': t.kind = FT_BANG, t.len = 1; break;
    case '=':
        t.kind = FT_CMP, t.cmp = FC_EQ, t.len = c1 == '=' ? 2 : 1;
        break;
    case '<':
        t.kind = FT_CMP, t.cmp = c1 == '=' ? FC_LE : FC_LT, t.len = c1 == '=' ? 2 : 1;
        break;
    case '>':
        t.kind = FT_CMP, t.cmp = c1 == '=' ? FC_GE : FC_GT, t.len = c1 == '=' ? 2 : 1;
        break;
    default:
        if (is_word_char((unsigned char)c)) {
            size_t j = i;
            while (is_word_char((unsigned char)text[j]))
                j++;
            t.kind = FT_WORD, t.len = j - i;
        } else {
            t.kind = FT_BAD, t.len = 1;
        }
        break;
    }
    *pos = t.pos + t.len;
    *out = t;
}

int filter_tok_is(const char *text, const ftok *t, const char *kw)
{
    size_t n = strlen(kw);
    return t->kind == FT_WORD && t->len == n && strncasecmp(text + t->pos, kw, n) == 0;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

cf_err filter_parse_number(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    unsigned base = 10;
    if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        base = 16, i = 2;
    size_t first = i;
    int overflow = 0;
    for (; i < len; i++) {
        int d = base == 16 ? hex_digit(s[i]) : (s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : -1);
        if (d < 0)
            break;
        if (v > (UINT64_MAX - (uint64_t)d) / base)
            overflow = 1;
        else
            v = v * base + (uint64_t)d;
    }
    if (i == first)
        return CF_ERR_USAGE;
    uint64_t scale = 1;
    if (i < len && base == 10) {
        switch (tolower((unsigned char)s[i])) {
        case 'k': scale = UINT64_C(1000); break;
        case 'm': scale = UINT64_C(1000000); break;
        case 'g': scale = UINT64_C(1000000000); break;
        case 't': scale = UINT64_C(1000000000000); break;
        default: return CF_ERR_USAGE;
        }
        i++;
    }
    if (i != len)
        return CF_ERR_USAGE;
    if (overflow || v > UINT64_MAX / scale)
        return CF_ERR_RANGE;
    *out = v * scale;
    return CF_OK;
}
