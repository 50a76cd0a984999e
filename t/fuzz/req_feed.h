/*
 * Feeding the request parser the way src/session.c does, shared by
 * fuzz_request.c and fuzz_inline.c.
 *
 * The input is a client's byte stream. It is fed
 *   - whole: one buffer holding all of it;
 *   - byte by byte;
 *   - in chunks whose sizes come from a PRNG seeded by the input;
 * and every call gets the unparsed bytes (from the start of the current
 * request) in a fresh heap buffer of exactly that size, as when
 * mbuf_prepare_read() moves the partial request to a larger buffer: ASan
 * then catches any read past what the parser was given, and any pointer it
 * kept into an earlier buffer. After RESP_OK / RESP_SKIP the parser is reset
 * and called again at once on what is left, as session_process() does;
 * after RESP_ERROR (or RESP_CLOSE) the stream ends.
 *
 * Each feed records (status, len, is_inline, argc, each argument's bytes,
 * error text) per request, and (status, need) for the request still
 * incomplete at the end; the three records must be identical.
 *
 * Every result is also checked on its own: lengths in bounds, a multibulk
 * request is exactly the canonical encoding of its arguments, an inline one
 * ends at the first '\n', before-AUTH limits hold, errors are one line.
 */
#ifndef CORDIS_FUZZ_REQ_FEED_H
#define CORDIS_FUZZ_REQ_FEED_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "resp.h"

struct req_cfg {
    bool    unauth;
    int64_t max_bulk;
};

/*
 * Configuration from one byte of the input: bit 0 is unauth, bits 1-3 pick
 * max_bulk. '\n' (the usual last byte) gives an authenticated client with
 * the default 512mb; the others take in conf's range (1mb..2gb) and values
 * outside it, down to 0 and up to INT64_MAX, which the parser must also
 * survive.
 */
static inline struct req_cfg
req_cfg_from_byte(unsigned char c)
{
    static const int64_t bulks[8] = {
        1024 * 1024,            /* conf's least session.max_bulk_len */
        0,
        1,
        RESP_UNAUTH_MAX_BULK,
        RESP_UNAUTH_MAX_BULK + 1,
        RESP_DEFAULT_MAX_BULK,  /* '\n' lands here */
        2LL * 1024 * 1024 * 1024, /* conf's largest */
        INT64_MAX,
    };
    struct req_cfg cfg;

    cfg.unauth = (c & 1) != 0;
    cfg.max_bulk = bulks[(c >> 1) & 7];
    return cfg;
}

/* Checks one non-AGAIN result against buf[0..have) and appends it to log. */
static inline void
req_record(struct fuzz_log *log, const struct resp_req_parser *p, int rc,
           const struct req_cfg *cfg, const char *buf, size_t have)
{
    uint32_t i;

    fuzz_log_u64(log, (uint64_t)rc);
    switch (rc) {
    case RESP_OK:
    case RESP_SKIP:
        FUZZ_CHECK(p->len >= 1 && p->len <= have);
        fuzz_log_u64(log, p->len);
        break;
    case RESP_ERROR:
        FUZZ_CHECK(p->error != NULL);
        FUZZ_CHECK(!fuzz_has_crlf(p->error));
        FUZZ_CHECK(strncmp(p->error, "Protocol error: ", 16) == 0
                   || strcmp(p->error, "out of memory") == 0);
        fuzz_log_str(log, p->error);
        return;
    case RESP_CLOSE:
        return;
    default:
        fuzz_fail("resp_parse_request returned %d", rc);
    }

    if (rc == RESP_SKIP) {
        /* "*0\r\n", "*-N\r\n", or an inline line of only spaces. */
        FUZZ_CHECK(p->argc == 0);
        FUZZ_CHECK(buf[p->len - 1] == '\n');
        if (buf[0] == '*') {
            FUZZ_CHECK(p->len >= 4 && buf[p->len - 2] == '\r');
        }
        return;
    }

    FUZZ_CHECK(p->argc >= 1 && p->argv != NULL);
    FUZZ_CHECK(p->is_inline == (buf[0] != '*'));
    fuzz_log_u64(log, p->is_inline);
    fuzz_log_u64(log, p->argc);

    if (p->is_inline) {
        /* The line ends at the first '\n'; its arguments are unescaped
         * into inline_buf, never longer than the line. */
        const char *nl = memchr(buf, '\n', p->len);

        FUZZ_CHECK(nl == buf + p->len - 1);
        FUZZ_CHECK(p->inline_buf != NULL);
        for (i = 0; i < p->argc; i++) {
            const struct resp_arg *a = &p->argv[i];

            FUZZ_CHECK((uint64_t)a->off + a->len <= p->inline_cap);
            FUZZ_CHECK((uint64_t)a->off + a->len <= p->len);
            fuzz_log_u64(log, a->len);
            fuzz_log_put(log, p->inline_buf + a->off, a->len);
        }
        return;
    }

    /*
     * Multibulk: numbers are strict (no '+', no leading zero), so the
     * request must be byte for byte "*<argc>\r\n" and "$<len>\r\n<arg>\r\n"
     * per argument, each argument where argv says.
     */
    {
        char   hdr[RESP_HEADER_MAX];
        size_t at, n;

        FUZZ_CHECK(p->argc <= RESP_MAX_MULTIBULK);
        if (cfg->unauth) {
            FUZZ_CHECK(p->argc <= RESP_UNAUTH_MAX_MULTIBULK);
        }
        n = resp_write_array_header(hdr, p->argc);
        FUZZ_CHECK(n <= p->len && memcmp(buf, hdr, n) == 0);
        at = n;
        for (i = 0; i < p->argc; i++) {
            const struct resp_arg *a = &p->argv[i];

            FUZZ_CHECK((int64_t)a->len <= cfg->max_bulk);
            if (cfg->unauth) {
                FUZZ_CHECK(a->len <= RESP_UNAUTH_MAX_BULK);
            }
            n = resp_write_bulk_header(hdr, a->len);
            FUZZ_CHECK(n == resp_bulk_header_len(a->len));
            FUZZ_CHECK(at + n <= p->len && memcmp(buf + at, hdr, n) == 0);
            at += n;
            FUZZ_CHECK(a->off == at);
            FUZZ_CHECK((uint64_t)at + a->len + 2 <= p->len);
            at += a->len;
            FUZZ_CHECK(buf[at] == '\r' && buf[at + 1] == '\n');
            at += 2;
            fuzz_log_u64(log, a->len);
            fuzz_log_put(log, buf + a->off, a->len);
        }
        FUZZ_CHECK(at == p->len);
    }
}

/* Checks an AGAIN and appends it (used for the request left incomplete). */
static inline void
req_record_again(struct fuzz_log *log, const struct resp_req_parser *p,
                 size_t have)
{
    /* The session sizes its next read by need: more than it has. */
    FUZZ_CHECK(p->need > have);
    fuzz_log_u64(log, RESP_AGAIN);
    fuzz_log_u64(log, p->need);
}

enum req_feed_mode {
    REQ_FEED_WHOLE,
    REQ_FEED_BYTES,
    REQ_FEED_RANDOM,
};

/*
 * Feeds data[0..size) in the given mode, recording into log. seed drives
 * REQ_FEED_RANDOM's chunk sizes.
 */
static inline void
req_feed(const uint8_t *data, size_t size, const struct req_cfg *cfg,
         enum req_feed_mode mode, uint64_t seed, struct fuzz_log *log)
{
    struct resp_req_parser p;
    size_t start = 0;   /* first byte of the current request */
    size_t avail = 0;   /* bytes "read" so far */
    char  *whole = NULL;

    resp_req_parser_init(&p, cfg->max_bulk);
    if (mode == REQ_FEED_WHOLE) {
        whole = fuzz_dup(data, size);
        avail = size;
    }

    for (;;) {
        size_t have;
        char  *buf;
        int    rc;

        if (avail == start) {
            if (avail == size) {
                break;          /* all taken, nothing pending */
            }
            avail += mode == REQ_FEED_BYTES ? 1 : fuzz_chunk(&seed, size - avail);
        }
        have = avail - start;
        /* One buffer for a whole feed (its end is the input's end);
         * otherwise a fresh exact copy of the unparsed bytes per call. */
        buf = whole != NULL ? whole + start : fuzz_dup(data + start, have);

        p.unauth = cfg->unauth;
        p.max_bulk = cfg->max_bulk;
        rc = resp_parse_request(&p, buf, have);

        if (rc == RESP_AGAIN) {
            if (avail == size) {
                req_record_again(log, &p, have);
                if (whole == NULL) {
                    free(buf);
                }
                break;
            }
            FUZZ_CHECK(p.need > have);
            if (whole == NULL) {
                free(buf);
            }
            avail += mode == REQ_FEED_BYTES ? 1 : fuzz_chunk(&seed, size - avail);
            continue;
        }

        req_record(log, &p, rc, cfg, buf, have);
        if (whole == NULL) {
            free(buf);
        }
        if (rc != RESP_OK && rc != RESP_SKIP) {
            break;              /* the session replies with the error and quits */
        }
        start += p.len;
        resp_req_parser_reset(&p);
    }

    resp_req_parser_free(&p);
    free(whole);
}

/* Runs the three feeds and aborts unless they agree. */
static inline void
req_feed_all(const uint8_t *data, size_t size, const struct req_cfg *cfg)
{
    struct fuzz_log whole = { 0 }, bytes = { 0 }, split = { 0 };
    uint64_t seed = (size ? data[0] : 0) * 0x100000001b3ULL ^ size;

    req_feed(data, size, cfg, REQ_FEED_WHOLE, 0, &whole);
    req_feed(data, size, cfg, REQ_FEED_BYTES, 0, &bytes);
    req_feed(data, size, cfg, REQ_FEED_RANDOM, seed, &split);
    fuzz_log_same(&whole, "whole", &bytes, "byte by byte");
    fuzz_log_same(&whole, "whole", &split, "in random chunks");
    fuzz_log_free(&whole);
    fuzz_log_free(&bytes);
    fuzz_log_free(&split);
}

#endif /* CORDIS_FUZZ_REQ_FEED_H */
