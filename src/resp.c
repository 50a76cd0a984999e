/*
 * RESP parsers and writers.
 *
 * Both parsers are resumable: they keep how far they got (pos, the arrays or
 * arguments still open, how much of an unfinished line was searched) in their
 * struct, so a caller that moves the partial bytes to a bigger buffer and
 * calls again with more does not make them start over. Bytes before `pos`
 * are never read again, and a line arriving a byte at a time is searched
 * once, so a request or reply costs time linear in its size however it is
 * split. Nothing is allocated by a declared length.
 *
 * The request parser follows Redis 7.0 (networking.c, processMultibulkBuffer
 * and processInlineBuffer; sds.c, sdssplitargs) including its error texts.
 * Where we differ, the comment at the place says why.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resp.h"

/* Longest header line (count or length) without its CRLF: PROTO_INLINE_MAX_SIZE. */
#define RESP_MAX_LINE (64 * 1024)

/* Room kept in argv / inline_buf across requests; more is freed on reset. */
#define RESP_KEEP_BYTES (64 * 1024)

/* First argv allocation; it doubles from there as arguments arrive. */
#define RESP_ARGV_MIN 8

static const char ERR_MBULK_LINE[]   = "Protocol error: too big mbulk count string";
static const char ERR_MBULK_LEN[]    = "Protocol error: invalid multibulk length";
static const char ERR_MBULK_UNAUTH[] = "Protocol error: unauthenticated multibulk length";
static const char ERR_BULK_LINE[]    = "Protocol error: too big bulk count string";
static const char ERR_BULK_LEN[]     = "Protocol error: invalid bulk length";
static const char ERR_BULK_UNAUTH[]  = "Protocol error: unauthenticated bulk length";
static const char ERR_INLINE_LINE[]  = "Protocol error: too big inline request";
static const char ERR_QUOTES[]       = "Protocol error: unbalanced quotes in request";
static const char ERR_REQ_SIZE[]     = "Protocol error: too big request";
static const char ERR_NOMEM[]        = "out of memory";

static const char ERR_R_LINE[]       = "Protocol error: too big reply line";
static const char ERR_R_CRLF[]       = "Protocol error: reply line not ended by CRLF";
static const char ERR_R_INT[]        = "Protocol error: invalid integer in reply";
static const char ERR_R_BULK_LEN[]   = "Protocol error: invalid bulk length in reply";
static const char ERR_R_BULK_CRLF[]  = "Protocol error: bulk in reply not followed by CRLF";
static const char ERR_R_COUNT[]      = "Protocol error: invalid multibulk length in reply";
static const char ERR_R_DEPTH[]      = "Protocol error: reply nested too deeply";
static const char ERR_R_VALUE[]      = "Protocol error: invalid value in reply";

/* ---- shared helpers ----------------------------------------------------- */

/*
 * Redis's string2ll: the whole of s must be an optional '-' and digits with
 * no leading zero (a lone "0" is fine, "-0" is not), no '+', no spaces, and
 * fit in int64. Our own code, same accepted set.
 */
static bool resp_string2ll(const char *s, size_t len, int64_t *out)
{
    bool neg = false;
    uint64_t v = 0;
    size_t i = 0;

    if (len == 0 || len > 20)
        return false;
    if (len == 1 && s[0] == '0') {
        *out = 0;
        return true;
    }
    if (s[0] == '-') {
        neg = true;
        i = 1;
        if (len == 1)
            return false;
    }
    if (s[i] < '1' || s[i] > '9')
        return false;
    for (; i < len; i++) {
        unsigned d = (unsigned char)s[i] - '0';

        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1)
            return false;
        *out = (int64_t)(0 - v);
    } else {
        if (v > (uint64_t)INT64_MAX)
            return false;
        *out = (int64_t)v;
    }
    return true;
}

enum resp_line {
    RESP_LINE_FOUND,
    RESP_LINE_AGAIN,
    RESP_LINE_TOO_LONG,
};

/*
 * Finds the end of the line that starts at buf[start]: the first `c` at index
 * <= limit from start, with `after` more bytes present past it (1 when the
 * caller wants to look at the '\n' of a CRLF). *scan remembers how much was
 * searched, so each byte is looked at once however the line arrives.
 *
 * Redis errors when more than `limit` bytes are buffered without the end
 * character; when it is present past `limit` in one read Redis goes on. We
 * error whenever it is past `limit`, so the outcome does not depend on how the
 * bytes were split into reads.
 */
static enum resp_line resp_find_line(const char *buf, size_t len, size_t start,
                                     size_t *scan, char c, size_t limit,
                                     size_t after, size_t *end)
{
    size_t from = start + *scan;
    size_t stop = CORDIS_MIN(len, start + limit + 1);
    const char *hit = NULL;

    if (from < stop)
        hit = memchr(buf + from, c, stop - from);
    if (hit != NULL) {
        *end = (size_t)(hit - buf);
        *scan = *end - start;  /* found again at once next time */
        return *end + after < len ? RESP_LINE_FOUND : RESP_LINE_AGAIN;
    }
    if (stop > from)
        *scan = stop - start;
    return len - start > limit ? RESP_LINE_TOO_LONG : RESP_LINE_AGAIN;
}

/*
 * The common case of a "*<n>\r\n" or "$<n>\r\n" line, read in one pass:
 * buf[start] is the prefix, then up to 18 digits with no leading zero, then
 * CRLF, all already in buf. Anything else (a sign, a leading zero, a line
 * not all here yet, a bad byte) returns false and the caller takes the
 * general path, which gives the same value or Redis's error.
 */
static bool resp_quick_len_line(const char *buf, size_t len, size_t start,
                                int64_t *value, size_t *end)
{
    size_t i = start + 1, stop = CORDIS_MIN(len, start + 1 + 18);
    uint64_t v;

    if (i >= stop || buf[i] < '1' || buf[i] > '9')
        return false;
    v = (uint64_t)(buf[i++] - '0');
    while (i < stop && buf[i] >= '0' && buf[i] <= '9')
        v = v * 10 + (uint64_t)(buf[i++] - '0');
    if (i + 1 >= len || buf[i] != '\r' || buf[i + 1] != '\n')
        return false;
    *value = (int64_t)v;
    *end = i;
    return true;
}

/* The C locale's isspace(), which sdssplitargs uses between arguments. */
static bool resp_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

static int resp_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* ---- request parser ----------------------------------------------------- */

void resp_req_parser_init(struct resp_req_parser *p, int64_t max_bulk)
{
    memset(p, 0, sizeof(*p));
    p->max_bulk = max_bulk;
    p->bulk_len = -1;
}

void resp_req_parser_free(struct resp_req_parser *p)
{
    free(p->argv);
    free(p->inline_buf);
    p->argv = NULL;
    p->inline_buf = NULL;
    p->argv_cap = 0;
    p->inline_cap = 0;
}

/* Forgets the position inside a request; the results stay readable. */
static void resp_req_clear_progress(struct resp_req_parser *p)
{
    p->pos = 0;
    p->multibulk_left = 0;
    p->bulk_len = -1;
    p->line_scan = 0;
}

void resp_req_parser_reset(struct resp_req_parser *p)
{
    resp_req_clear_progress(p);
    p->len = 0;
    p->need = 0;
    p->error = NULL;
    p->is_inline = false;
    p->argc = 0;
    /* One huge request must not pin its argv for the connection's life. */
    if ((size_t)p->argv_cap * sizeof(*p->argv) > RESP_KEEP_BYTES) {
        free(p->argv);
        p->argv = NULL;
        p->argv_cap = 0;
    }
    if (p->inline_cap > RESP_KEEP_BYTES) {
        free(p->inline_buf);
        p->inline_buf = NULL;
        p->inline_cap = 0;
    }
}

static int resp_req_fail(struct resp_req_parser *p, const char *error)
{
    p->error = error;
    resp_req_clear_progress(p);
    return RESP_ERROR;
}

/* Appends an argument, doubling argv when full but never past `most`. */
static bool resp_req_push(struct resp_req_parser *p, size_t off, size_t len,
                          uint64_t most)
{
    if (p->argc == p->argv_cap) {
        uint64_t cap = p->argv_cap ? (uint64_t)p->argv_cap * 2 : RESP_ARGV_MIN;
        struct resp_arg *argv;

        cap = CORDIS_MIN(cap, most);
        cap = CORDIS_MIN(cap, (uint64_t)UINT32_MAX);
        if (cap <= p->argc || cap > SIZE_MAX / sizeof(*argv))
            return false;
        argv = realloc(p->argv, (size_t)cap * sizeof(*argv));
        if (argv == NULL)
            return false;
        p->argv = argv;
        p->argv_cap = (uint32_t)cap;
    }
    p->argv[p->argc].off = (uint32_t)off;
    p->argv[p->argc].len = (uint32_t)len;
    p->argc++;
    return true;
}

/* Formats "expected '$', got 'x'" into errbuf. */
static const char *resp_req_expected_dollar(struct resp_req_parser *p, char got)
{
    /*
     * Redis 7 turns \r and \n in error replies into spaces so the reply stays
     * one line; our error is a C string, so a NUL becomes a space as well.
     */
    if (got == '\r' || got == '\n' || got == '\0')
        got = ' ';
    snprintf(p->errbuf, sizeof(p->errbuf),
             "Protocol error: expected '$', got '%c'", got);
    return p->errbuf;
}

static int resp_parse_multibulk(struct resp_req_parser *p, const char *buf,
                                size_t len)
{
    size_t end;
    int64_t ll;

    p->is_inline = false;
    if (p->multibulk_left == 0) {
        /* A new request: "*<count>\r\n". */
        p->argc = 0;
        if (resp_quick_len_line(buf, len, 0, &ll, &end) && ll <= INT_MAX)
            goto have_count;
        switch (resp_find_line(buf, len, 0, &p->line_scan, '\r', RESP_MAX_LINE,
                               1, &end)) {
        case RESP_LINE_AGAIN:
            p->need = len + 1;
            return RESP_AGAIN;
        case RESP_LINE_TOO_LONG:
            return resp_req_fail(p, ERR_MBULK_LINE);
        case RESP_LINE_FOUND:
            break;
        }
        /*
         * Redis takes the byte after '\r' to be '\n' without looking. We look
         * (as codis-proxy does): a client whose framing is off gets an error
         * now instead of having its next bytes taken as a command.
         */
        if (buf[end + 1] != '\n' || !resp_string2ll(buf + 1, end - 1, &ll) ||
            ll > INT_MAX)
            return resp_req_fail(p, ERR_MBULK_LEN);
have_count:
        if (p->unauth && ll > RESP_UNAUTH_MAX_MULTIBULK)
            return resp_req_fail(p, ERR_MBULK_UNAUTH);
        p->pos = end + 2;
        p->line_scan = 0;
        if (ll <= 0) {
            /* Redis runs nothing for "*0" or "*-1" and reads on. */
            p->len = p->pos;
            resp_req_clear_progress(p);
            return RESP_SKIP;
        }
        p->multibulk_left = ll;
        p->bulk_len = -1;
    }

    while (p->multibulk_left > 0) {
        size_t pos = p->pos;

        if (p->bulk_len < 0) {
            /* "$<len>\r\n" */
            if (pos < len && buf[pos] == '$' && resp_quick_len_line(buf, len, pos, &ll, &end)
                && ll <= p->max_bulk)
                goto have_len;
            switch (resp_find_line(buf, len, pos, &p->line_scan, '\r',
                                   RESP_MAX_LINE, 1, &end)) {
            case RESP_LINE_AGAIN:
                p->need = len + 1;
                return RESP_AGAIN;
            case RESP_LINE_TOO_LONG:
                return resp_req_fail(p, ERR_BULK_LINE);
            case RESP_LINE_FOUND:
                break;
            }
            /* Like Redis, the '$' is checked once the whole line is here. */
            if (buf[pos] != '$')
                return resp_req_fail(p, resp_req_expected_dollar(p, buf[pos]));
            if (buf[end + 1] != '\n' ||
                !resp_string2ll(buf + pos + 1, end - pos - 1, &ll) || ll < 0 ||
                ll > p->max_bulk)
                return resp_req_fail(p, ERR_BULK_LEN);
have_len:
            if (p->unauth && ll > RESP_UNAUTH_MAX_BULK)
                return resp_req_fail(p, ERR_BULK_UNAUTH);
            pos = end + 2;
            /* argv holds 32-bit offsets; session.max_query (under 4 GB)
             * should stop a client long before this. */
            if ((uint64_t)pos + (uint64_t)ll > UINT32_MAX)
                return resp_req_fail(p, ERR_REQ_SIZE);
            p->pos = pos;
            p->line_scan = 0;
            p->bulk_len = ll;
        }

        /* The bulk and its CRLF: nothing to look at until all are here. */
        if (len - pos < (size_t)p->bulk_len + 2) {
            p->need = pos + (size_t)p->bulk_len + 2;
            return RESP_AGAIN;
        }
        /*
         * Redis skips the two bytes after a bulk without looking at them. We
         * require CRLF (as codis-proxy does): a client that sent a wrong
         * length would otherwise have the rest of its data run as commands.
         * The length is what was wrong, hence the error text.
         */
        end = pos + (size_t)p->bulk_len;
        if (buf[end] != '\r' || buf[end + 1] != '\n')
            return resp_req_fail(p, ERR_BULK_LEN);
        if (!resp_req_push(p, pos, (size_t)p->bulk_len,
                           (uint64_t)p->argc + (uint64_t)p->multibulk_left))
            return resp_req_fail(p, ERR_NOMEM);
        p->pos = end + 2;
        p->bulk_len = -1;
        p->multibulk_left--;
    }

    p->len = p->pos;
    resp_req_clear_progress(p);
    return RESP_OK;
}

/*
 * Splits an inline line the way sdssplitargs does, unescaping into
 * inline_buf. The one difference: Redis works on C strings, so a NUL byte
 * stops it (and its strchr looking for the newline never gets past one, so
 * such a line waits until it is too long). Here a NUL is an ordinary byte.
 */
static bool resp_split_inline(struct resp_req_parser *p, const char *s, size_t n,
                              const char **error)
{
    size_t i = 0, o = 0;
    char *out = p->inline_buf;

    *error = NULL;
    for (;;) {
        size_t start;
        bool done = false;
        int quote = 0;  /* '"', '\'' or 0 */

        while (i < n && resp_is_space(s[i]))
            i++;
        if (i == n)
            return true;

        start = o;
        while (!done) {
            char c = i < n ? s[i] : '\0';

            if (quote != 0 && i == n) {
                *error = ERR_QUOTES;  /* unterminated quotes */
                return false;
            }
            if (quote == '"') {
                int hi, lo;

                if (c == '\\' && i + 3 < n && s[i + 1] == 'x' &&
                    (hi = resp_hex_value(s[i + 2])) >= 0 &&
                    (lo = resp_hex_value(s[i + 3])) >= 0) {
                    out[o++] = (char)(hi * 16 + lo);
                    i += 4;
                } else if (c == '\\' && i + 1 < n) {
                    switch (s[i + 1]) {
                    case 'n': out[o++] = '\n'; break;
                    case 'r': out[o++] = '\r'; break;
                    case 't': out[o++] = '\t'; break;
                    case 'b': out[o++] = '\b'; break;
                    case 'a': out[o++] = '\a'; break;
                    default:  out[o++] = s[i + 1]; break;
                    }
                    i += 2;
                } else if (c == '"') {
                    /* A closing quote must end the argument. */
                    if (i + 1 < n && !resp_is_space(s[i + 1])) {
                        *error = ERR_QUOTES;
                        return false;
                    }
                    i++;
                    done = true;
                } else {
                    out[o++] = c;
                    i++;
                }
            } else if (quote == '\'') {
                if (c == '\\' && i + 1 < n && s[i + 1] == '\'') {
                    out[o++] = '\'';
                    i += 2;
                } else if (c == '\'') {
                    if (i + 1 < n && !resp_is_space(s[i + 1])) {
                        *error = ERR_QUOTES;
                        return false;
                    }
                    i++;
                    done = true;
                } else {
                    out[o++] = c;
                    i++;
                }
            } else if (i == n || c == ' ' || c == '\n' || c == '\r' ||
                       c == '\t') {
                /* sdssplitargs ends an unquoted word only on these four,
                 * not on \v or \f (though it skips those between words). */
                done = true;
            } else if (c == '"' || c == '\'') {
                quote = c;
                i++;
            } else {
                out[o++] = c;
                i++;
            }
        }
        /* At most n/2+1 words in n bytes: bounded by the line. */
        if (!resp_req_push(p, start, o - start, (uint64_t)n / 2 + 1)) {
            *error = ERR_NOMEM;
            return false;
        }
    }
}

static int resp_parse_inline(struct resp_req_parser *p, const char *buf,
                             size_t len)
{
    size_t end, n;
    const char *error;

    p->is_inline = true;
    p->argc = 0;
    switch (resp_find_line(buf, len, 0, &p->line_scan, '\n', RESP_MAX_INLINE,
                           0, &end)) {
    case RESP_LINE_AGAIN:
        p->need = len + 1;
        return RESP_AGAIN;
    case RESP_LINE_TOO_LONG:
        return resp_req_fail(p, ERR_INLINE_LINE);
    case RESP_LINE_FOUND:
        break;
    }
    /* "\r\n" or a bare "\n", as Redis takes both. */
    n = end;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    /* Unescaping never makes an argument longer than its source text. */
    if (n > p->inline_cap) {
        size_t cap = CORDIS_MAX(n, 2 * p->inline_cap);
        char *nb;

        cap = CORDIS_MIN(cap, (size_t)RESP_MAX_INLINE + 1);
        nb = realloc(p->inline_buf, cap);
        if (nb == NULL)
            return resp_req_fail(p, ERR_NOMEM);
        p->inline_buf = nb;
        p->inline_cap = cap;
    }
    if (!resp_split_inline(p, buf, n, &error)) {
        p->argc = 0;
        return resp_req_fail(p, error);
    }
    p->len = end + 1;
    resp_req_clear_progress(p);
    return p->argc == 0 ? RESP_SKIP : RESP_OK;
}

int resp_parse_request(struct resp_req_parser *p, const char *buf, size_t len)
{
    p->error = NULL;
    if (len == 0) {
        p->need = 1;
        return RESP_AGAIN;
    }
    /* Fewer bytes than we already went through: the caller broke the
     * contract; wait rather than read outside buf. */
    if (len < p->pos + p->line_scan) {
        p->need = CORDIS_MAX(p->need, len + 1);
        return RESP_AGAIN;
    }
    /* Once inside a multibulk its first byte is not looked at again. */
    if (p->multibulk_left > 0 || buf[0] == '*')
        return resp_parse_multibulk(p, buf, len);
    return resp_parse_inline(p, buf, len);
}

/* ---- reply parser ------------------------------------------------------- */

void resp_reply_parser_init(struct resp_reply_parser *p, int64_t max_bulk)
{
    memset(p, 0, sizeof(*p));
    p->max_bulk = max_bulk;
    p->bulk_len = -1;
}

static void resp_reply_clear_progress(struct resp_reply_parser *p)
{
    p->pos = 0;
    p->depth = 0;
    p->bulk_len = -1;
    p->line_scan = 0;
}

void resp_reply_parser_reset(struct resp_reply_parser *p)
{
    resp_reply_clear_progress(p);
    p->len = 0;
    p->need = 0;
    p->type = 0;
    p->integer = 0;
    p->error = NULL;
}

static int resp_reply_fail(struct resp_reply_parser *p, const char *error)
{
    p->error = error;
    resp_reply_clear_progress(p);
    return RESP_ERROR;
}

/*
 * One element finished. Closes every array it completes; true when that was
 * the whole reply.
 */
static bool resp_reply_element_done(struct resp_reply_parser *p)
{
    while (p->depth > 0) {
        if (--p->left[p->depth - 1] > 0)
            return false;
        p->depth--;  /* the array is complete: one element of its parent */
    }
    return true;
}

int resp_parse_reply(struct resp_reply_parser *p, const char *buf, size_t len)
{
    p->error = NULL;
    if (len == 0) {
        p->need = 1;
        return RESP_AGAIN;
    }
    if (len < p->pos + p->line_scan) {
        p->need = CORDIS_MAX(p->need, len + 1);
        return RESP_AGAIN;
    }

    for (;;) {
        size_t pos = p->pos, end, body;
        int64_t n = 0, elements = 0;
        char t;

        if (p->bulk_len >= 0) {
            if (len - pos < (size_t)p->bulk_len + 2) {
                p->need = pos + (size_t)p->bulk_len + 2;
                return RESP_AGAIN;
            }
            end = pos + (size_t)p->bulk_len;
            if (buf[end] != '\r' || buf[end + 1] != '\n')
                return resp_reply_fail(p, ERR_R_BULK_CRLF);
            p->pos = end + 2;
            p->bulk_len = -1;
            if (resp_reply_element_done(p))
                break;
            continue;
        }

        if (pos == len) {
            p->need = len + 1;
            return RESP_AGAIN;
        }
        t = buf[pos];
        switch (t) {
        case '+': case '-': case ':': case '$': case '*':
        case '_': case ',': case '#': case '!': case '=': case '(':
        case '%': case '~': case '>': case '|':
            break;
        default:
            snprintf(p->errbuf, sizeof(p->errbuf),
                     "Protocol error: bad reply type byte 0x%02x",
                     (unsigned char)t);
            return resp_reply_fail(p, p->errbuf);
        }

        /* Most headers are a plain "$<n>" or "*<n>": one pass, no search. */
        if (t == '$' && resp_quick_len_line(buf, len, pos, &n, &end) && n <= p->max_bulk
            && (uint64_t)n <= SIZE_MAX - end - 4)
            goto have_header;
        if (t == '*' && resp_quick_len_line(buf, len, pos, &n, &end)
            && n <= RESP_REPLY_MAX_ELEMENTS) {
            elements = n;
            goto have_header;
        }
        switch (resp_find_line(buf, len, pos, &p->line_scan, '\r',
                               RESP_MAX_LINE, 1, &end)) {
        case RESP_LINE_AGAIN:
            p->need = len + 1;
            return RESP_AGAIN;
        case RESP_LINE_TOO_LONG:
            return resp_reply_fail(p, ERR_R_LINE);
        case RESP_LINE_FOUND:
            break;
        }
        /* Redis never puts a bare '\r' in a reply line (it replaces them
         * in errors and statuses), so one means the stream is broken. */
        if (buf[end + 1] != '\n')
            return resp_reply_fail(p, ERR_R_CRLF);
        body = pos + 1;

        switch (t) {
        case '+': case '-': case ',': case '(':
            break;
        case '_':
            if (end != body)
                return resp_reply_fail(p, ERR_R_VALUE);
            break;
        case '#':
            if (end != body + 1 || (buf[body] != 't' && buf[body] != 'f'))
                return resp_reply_fail(p, ERR_R_VALUE);
            break;
        case ':':
            if (!resp_string2ll(buf + body, end - body, &n))
                return resp_reply_fail(p, ERR_R_INT);
            break;
        case '$': case '!': case '=':
            if (!resp_string2ll(buf + body, end - body, &n) ||
                n < (t == '$' ? -1 : 0) || n > p->max_bulk ||
                (n > 0 && (uint64_t)n > SIZE_MAX - end - 4))
                return resp_reply_fail(p, ERR_R_BULK_LEN);
            break;
        default:  /* '*' '%' '~' '>' '|' */
            if (!resp_string2ll(buf + body, end - body, &n) ||
                n < (t == '*' ? -1 : 0) || n > RESP_REPLY_MAX_ELEMENTS)
                return resp_reply_fail(p, ERR_R_COUNT);
            /* A map has two elements per entry; an attribute is followed
             * by the value it describes, which belongs to it. */
            elements = n;
            if (t == '%' || t == '|')
                elements = 2 * n;
            if (t == '|')
                elements++;
            break;
        }

have_header:
        if (pos == 0) {
            /* The reply's own header: what the caller is told about. */
            p->type = t;
            p->integer = (t == ':' || t == '$' || t == '!' || t == '=' ||
                          t == '*' || t == '%' || t == '~' || t == '>' ||
                          t == '|') ? n : 0;
        }
        p->pos = end + 2;
        p->line_scan = 0;

        if ((t == '$' || t == '!' || t == '=') && n >= 0) {
            p->bulk_len = n;
            continue;
        }
        if (elements > 0) {
            if (p->depth == RESP_REPLY_MAX_DEPTH)
                return resp_reply_fail(p, ERR_R_DEPTH);
            p->left[p->depth++] = elements;
            continue;
        }
        if (resp_reply_element_done(p))
            break;
    }

    p->len = p->pos;
    resp_reply_clear_progress(p);
    return RESP_OK;
}

size_t resp_array_header_len(const char *buf, size_t len)
{
    const char *nl = memchr(buf, '\n', CORDIS_MIN(len, (size_t)RESP_MAX_LINE + 2));

    return nl == NULL ? 0 : (size_t)(nl - buf) + 1;
}

/* ---- writers ------------------------------------------------------------ */

static const char resp_digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

static size_t resp_u64_digits(uint64_t v)
{
    size_t n = 1;

    for (;;) {
        if (v < 10) return n;
        if (v < 100) return n + 1;
        if (v < 1000) return n + 2;
        if (v < 10000) return n + 3;
        v /= 10000;
        n += 4;
    }
}

/* Writes v in exactly `digits` characters (from resp_u64_digits). */
static void resp_write_u64(char *dst, uint64_t v, size_t digits)
{
    char *p = dst + digits;

    while (v >= 100) {
        unsigned i = (unsigned)(v % 100) * 2;

        v /= 100;
        *--p = resp_digit_pairs[i + 1];
        *--p = resp_digit_pairs[i];
    }
    if (v >= 10) {
        *--p = resp_digit_pairs[v * 2 + 1];
        *--p = resp_digit_pairs[v * 2];
    } else {
        *--p = (char)('0' + v);
    }
}

/* "<prefix><n>\r\n" for a signed n. */
static size_t resp_write_header(char *buf, char prefix, int64_t n)
{
    uint64_t v = n < 0 ? 0 - (uint64_t)n : (uint64_t)n;
    size_t i = 0, digits = resp_u64_digits(v);

    buf[i++] = prefix;
    if (n < 0)
        buf[i++] = '-';
    resp_write_u64(buf + i, v, digits);
    i += digits;
    buf[i++] = '\r';
    buf[i++] = '\n';
    return i;
}

size_t resp_bulk_header_len(size_t len)
{
    return 1 + resp_u64_digits(len) + 2;
}

size_t resp_write_bulk_header(char *buf, size_t len)
{
    size_t digits = resp_u64_digits(len);

    buf[0] = '$';
    resp_write_u64(buf + 1, len, digits);
    buf[1 + digits] = '\r';
    buf[2 + digits] = '\n';
    return 3 + digits;
}

size_t resp_write_array_header(char *buf, int64_t n)
{
    return resp_write_header(buf, '*', n);
}

size_t resp_write_integer(char *buf, int64_t n)
{
    return resp_write_header(buf, ':', n);
}
