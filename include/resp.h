/*
 * RESP2 parsers, incremental and zero-copy.
 *
 * Request parser (client -> cordis): multibulk ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
 * and inline ("GET k\r\n", quotes and escapes as redis-cli and Redis's
 * sdssplitargs take them). It is called with the bytes from the start of the
 * current request; when they are not enough it returns RESP_AGAIN and
 * remembers how far it got, so the caller may move those bytes to a larger
 * buffer and call again with more. It never allocates by a declared length.
 *
 * Reply parser (backend -> cordis): finds where one complete reply ends, its
 * type, and for integers their value. Bounded depth and element counts.
 */
#ifndef CORDIS_RESP_H
#define CORDIS_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cordis.h"

enum resp_status {
    RESP_OK = 0,     /* one complete request/reply */
    RESP_AGAIN,      /* incomplete: call again with the same start and more bytes */
    RESP_SKIP,       /* nothing to run (empty line, "*0", "*-1"): drop `len` bytes */
    RESP_ERROR,      /* protocol error: `error` says which; close the connection */
    RESP_CLOSE,      /* looks like HTTP (POST / Host:): close without a reply */
};

/* Limits a client must keep to (Redis's defaults). */
#define RESP_MAX_MULTIBULK   (1024 * 1024)         /* arguments per request */
#define RESP_MAX_INLINE      (64 * 1024)           /* bytes of an inline request line */
#define RESP_DEFAULT_MAX_BULK (512LL * 1024 * 1024) /* proto_max_bulk_len */
/* Before AUTH: at most this many arguments of at most this many bytes. */
#define RESP_UNAUTH_MAX_MULTIBULK 10
#define RESP_UNAUTH_MAX_BULK      16384

/* Where an argument is: offset from the start of the request, and length. */
struct resp_arg {
    uint32_t off;
    uint32_t len;
};

struct resp_req_parser {
    /* configuration */
    int64_t          max_bulk;      /* largest bulk accepted */
    bool             unauth;        /* apply the before-AUTH limits */

    /* result of the last call */
    size_t           len;           /* RESP_OK/RESP_SKIP: bytes the request took */
    size_t           need;          /* RESP_AGAIN: total bytes known to be needed (>= what we have) */
    const char      *error;         /* RESP_ERROR: "Protocol error: ..." (static or errbuf) */
    char             errbuf[64];    /* room for errors that quote the input */
    bool             is_inline;     /* RESP_OK: args are in inline_buf, not the input */
    uint32_t         argc;          /* RESP_OK: number of arguments */
    struct resp_arg *argv;          /* RESP_OK: argc entries, relative to the request
                                       start (or to inline_buf when is_inline) */
    char            *inline_buf;    /* unescaped inline arguments */

    /* progress inside the current request */
    uint32_t         argv_cap;      /* entries allocated in argv (grown as args arrive) */
    size_t           inline_cap;    /* bytes allocated in inline_buf */
    size_t           pos;           /* bytes of the request parsed so far */
    int64_t          multibulk_left;/* arguments still to come; 0 = header not yet read */
    int64_t          bulk_len;      /* length of the bulk being read; -1 = header not yet read */
    size_t           line_scan;     /* bytes of the current line (from pos) already searched
                                       for its end, so a line trickling in is scanned once */
};

void resp_req_parser_init(struct resp_req_parser *p, int64_t max_bulk);
/* Frees argv and inline_buf. */
void resp_req_parser_free(struct resp_req_parser *p);
/* Forgets any partial request (called after RESP_OK / RESP_SKIP is taken). */
void resp_req_parser_reset(struct resp_req_parser *p);
/*
 * Parses one request from buf (the first byte of the request) and len bytes.
 * Returns an enum resp_status; see the result fields above.
 */
int  resp_parse_request(struct resp_req_parser *p, const char *buf, size_t len);

/* Caps for what a backend may send. */
#define RESP_REPLY_MAX_DEPTH     64
#define RESP_REPLY_MAX_ELEMENTS  (INT32_MAX)       /* per array */

struct resp_reply_parser {
    /* result of the last call */
    size_t      len;        /* RESP_OK: bytes of the whole reply */
    size_t      need;       /* RESP_AGAIN: total bytes known to be needed */
    char        type;       /* RESP_OK: first byte: + - : $ * */
    int64_t     integer;    /* RESP_OK: value of a ':' reply, count of a '*', length of a '$' (-1 = nil) */
    const char *error;      /* RESP_ERROR: what was wrong (static) */

    /* progress inside the current reply */
    size_t      pos;        /* bytes parsed so far */
    int         depth;      /* arrays open */
    int64_t     left[RESP_REPLY_MAX_DEPTH]; /* elements still to read per open array */
    int64_t     bulk_len;   /* bulk being read; -1 = none */
    int64_t     max_bulk;   /* largest bulk accepted */
    size_t      line_scan;  /* bytes of the current line (from pos) already searched */
    char        errbuf[48]; /* room for errors that quote the input */
};

void resp_reply_parser_init(struct resp_reply_parser *p, int64_t max_bulk);
void resp_reply_parser_reset(struct resp_reply_parser *p);
/* Parses one reply from buf (its first byte). Returns an enum resp_status
 * (never RESP_SKIP or RESP_CLOSE). */
int  resp_parse_reply(struct resp_reply_parser *p, const char *buf, size_t len);
/*
 * Length of the header line of the complete reply at buf ("*3\r\n" -> 4), so
 * the caller can walk an array: resp_parse_reply(buf + header_len, ...) gives
 * the first element, and so on. 0 if buf holds no complete line.
 */
size_t resp_array_header_len(const char *buf, size_t len);

/*
 * Writes a RESP encoding into buf (which must be large enough: the caller
 * sizes it with the matching *_len function) and returns bytes written.
 */
size_t resp_bulk_header_len(size_t len);                    /* "$<len>\r\n" */
size_t resp_write_bulk_header(char *buf, size_t len);
size_t resp_write_array_header(char *buf, int64_t n);       /* "*<n>\r\n" */
size_t resp_write_integer(char *buf, int64_t n);            /* ":<n>\r\n" */
/* Longest output of the header/integer writers above. */
#define RESP_HEADER_MAX 24

#endif /* CORDIS_RESP_H */
