/*
 * libFuzzer harness: the reply parser (resp_parse_reply) on a backend's
 * byte stream, as src/backend.c reads it.
 *
 * The input is fed whole, byte by byte and in chunks drawn from the input,
 * each call on a fresh exactly-sized heap copy of the unparsed bytes (as
 * mbuf_prepare_read() moves them); after RESP_OK the parser is reset and
 * runs again on what is left; RESP_ERROR ends the stream. The three feeds
 * must record the same (status, len, type, integer, error) sequence and the
 * same final (AGAIN, need).
 *
 * Every complete reply is then checked on its own, in an exactly-sized copy:
 * its header is the canonical encoding of its type and number, and an
 * aggregate is walked the way multikey.c walks an MGET reply
 * (resp_array_header_len, then resp_parse_reply element after element),
 * recursively: every element must parse, stay inside the reply, and the
 * elements must end exactly where the reply does.
 *
 * The last byte of the input picks max_bulk.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int64_t
reply_max_bulk(unsigned char c)
{
    static const int64_t bulks[8] = {
        INT32_MAX,      /* backend.c; '\n' lands here */
        0, 1, 5, 16384, 1024 * 1024,
        INT64_MAX,      /* multikey.c's walk */
        INT64_MAX - 1,
    };

    return bulks[(c >> 1 ^ 5) & 7];
}

static bool
reply_is_aggregate(char t)
{
    return t == '*' || t == '%' || t == '~' || t == '>' || t == '|';
}

/* Elements that follow an aggregate's header of count n. */
static int64_t
reply_elements(char t, int64_t n)
{
    if (t == '|') {
        return 2 * n + 1;   /* its pairs, then the value it annotates ("|0" too) */
    }
    if (n <= 0) {
        return 0;
    }
    return t == '%' ? 2 * n : n;
}

/*
 * buf[0..len) is exactly one complete reply that parsed as (type, integer)
 * with max_bulk; checks it and walks into it. depth bounds the recursion
 * (the parser allows RESP_REPLY_MAX_DEPTH arrays open).
 */
static void
reply_check(const char *buf, size_t len, char type, int64_t integer,
            int64_t max_bulk, int depth)
{
    char   hdr[RESP_HEADER_MAX];
    size_t n, at;
    int64_t i, elements;

    FUZZ_CHECK(depth <= RESP_REPLY_MAX_DEPTH + 1);
    FUZZ_CHECK(len >= 3 && buf[0] == type);
    FUZZ_CHECK(buf[len - 2] == '\r' && buf[len - 1] == '\n');

    switch (type) {
    case ':':
        n = resp_write_integer(hdr, integer);
        FUZZ_CHECK(n == len && memcmp(buf, hdr, n) == 0);
        return;
    case '$': case '!': case '=':
        FUZZ_CHECK(integer >= -1 && integer <= max_bulk);
        if (integer < 0) {
            FUZZ_CHECK(len == 5 && memcmp(buf, "$-1\r\n", 5) == 0);
            return;
        }
        n = resp_write_bulk_header(hdr, (size_t)integer);
        FUZZ_CHECK(memcmp(buf + 1, hdr + 1, n - 1) == 0);
        FUZZ_CHECK((uint64_t)n + (uint64_t)integer + 2 == len);
        return;
    case '+': case '-': case ',': case '(': case '_': case '#':
        /* One line: the first CR is the end. */
        FUZZ_CHECK(memchr(buf, '\r', len) == buf + len - 2);
        return;
    default:
        break;
    }

    FUZZ_CHECK(reply_is_aggregate(type));
    FUZZ_CHECK(integer >= -1 && integer <= RESP_REPLY_MAX_ELEMENTS);
    n = resp_write_array_header(hdr, integer);
    FUZZ_CHECK(memcmp(buf + 1, hdr + 1, n - 1) == 0);
    at = resp_array_header_len(buf, len);
    FUZZ_CHECK(at == n);
    elements = reply_elements(type, integer);
    if (elements == 0) {
        FUZZ_CHECK(at == len);
        return;
    }
    for (i = 0; i < elements; i++) {
        struct resp_reply_parser p;
        int rc;

        FUZZ_CHECK(at < len);
        resp_reply_parser_init(&p, max_bulk);
        rc = resp_parse_reply(&p, buf + at, len - at);
        FUZZ_CHECK(rc == RESP_OK);
        FUZZ_CHECK(p.len >= 1 && p.len <= len - at);
        reply_check(buf + at, p.len, p.type, p.integer, max_bulk, depth + 1);
        at += p.len;
    }
    FUZZ_CHECK(at == len);
}

enum feed_mode { FEED_WHOLE, FEED_BYTES, FEED_RANDOM };

static void
reply_feed(const uint8_t *data, size_t size, int64_t max_bulk,
           enum feed_mode mode, uint64_t seed, struct fuzz_log *log)
{
    struct resp_reply_parser p;
    size_t start = 0, avail = 0;
    char  *whole = NULL;

    resp_reply_parser_init(&p, max_bulk);
    if (mode == FEED_WHOLE) {
        whole = fuzz_dup(data, size);
        avail = size;
    }

    for (;;) {
        size_t have;
        char  *buf;
        int    rc;

        if (avail == start) {
            if (avail == size) {
                break;
            }
            avail += mode == FEED_BYTES ? 1 : fuzz_chunk(&seed, size - avail);
        }
        have = avail - start;
        buf = whole != NULL ? whole + start : fuzz_dup(data + start, have);
        rc = resp_parse_reply(&p, buf, have);

        if (rc == RESP_AGAIN) {
            FUZZ_CHECK(p.need > have);
            if (whole == NULL) {
                free(buf);
            }
            if (avail == size) {
                fuzz_log_u64(log, RESP_AGAIN);
                fuzz_log_u64(log, p.need);
                break;
            }
            avail += mode == FEED_BYTES ? 1 : fuzz_chunk(&seed, size - avail);
            continue;
        }

        fuzz_log_u64(log, (uint64_t)rc);
        if (rc == RESP_OK) {
            FUZZ_CHECK(p.len >= 1 && p.len <= have);
            FUZZ_CHECK(p.type == buf[0]);
            fuzz_log_u64(log, p.len);
            fuzz_log_u64(log, (uint64_t)(unsigned char)p.type);
            fuzz_log_u64(log, (uint64_t)p.integer);
            if (mode == FEED_WHOLE) {
                /* Once per reply: walk it in a copy of exactly its size. */
                char *copy = fuzz_dup(buf, p.len);

                reply_check(copy, p.len, p.type, p.integer, max_bulk, 0);
                free(copy);
            }
            if (whole == NULL) {
                free(buf);
            }
            start += p.len;
            resp_reply_parser_reset(&p);
            continue;
        }

        if (whole == NULL) {
            free(buf);
        }
        FUZZ_CHECK(rc == RESP_ERROR);   /* never SKIP or CLOSE */
        FUZZ_CHECK(p.error != NULL);
        FUZZ_CHECK(!fuzz_has_crlf(p.error));
        FUZZ_CHECK(strncmp(p.error, "Protocol error: ", 16) == 0);
        fuzz_log_str(log, p.error);
        break;
    }
    free(whole);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_log whole = { 0 }, bytes = { 0 }, split = { 0 };
    int64_t  max_bulk = reply_max_bulk(size ? data[size - 1] : '\n');
    uint64_t seed = (size ? data[0] : 0) * 0x100000001b3ULL ^ size;

    reply_feed(data, size, max_bulk, FEED_WHOLE, 0, &whole);
    reply_feed(data, size, max_bulk, FEED_BYTES, 0, &bytes);
    reply_feed(data, size, max_bulk, FEED_RANDOM, seed, &split);
    fuzz_log_same(&whole, "whole", &bytes, "byte by byte");
    fuzz_log_same(&whole, "whole", &split, "in random chunks");
    fuzz_log_free(&whole);
    fuzz_log_free(&bytes);
    fuzz_log_free(&split);
    return 0;
}
