/*
 * Tests for the RESP parsers and writers.
 *
 * Most cases go through a driver that plays the session: it feeds a byte
 * stream to the parser whole, a byte at a time, or at random split points,
 * moves the unparsed bytes to a fresh buffer before every call, overwrites
 * the bytes before `pos` (which the parser promised not to read again), and
 * writes down what came out as one string. The three ways must give the
 * same string, and for most cases the string is also spelled out here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resp.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define TEST_POISON(p, n)   ASAN_POISON_MEMORY_REGION((p), (n))
#define TEST_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define TEST_POISON(p, n)   ((void)(p), (void)(n))
#define TEST_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* A string literal and its length, NULs included. */
#define S(lit) (lit), (sizeof(lit) - 1)

/* Random splits tried per case (fewer for the 64 KB ones). */
#define SEEDS_SMALL 200
#define SEEDS_BIG   8
/* Past this size a byte-at-a-time feed grows one buffer instead of copying. */
#define BIG_INPUT 8192

static const char M_MBULK_LINE[]   = "Protocol error: too big mbulk count string";
static const char M_MBULK_LEN[]    = "Protocol error: invalid multibulk length";
static const char M_MBULK_UNAUTH[] = "Protocol error: unauthenticated multibulk length";
static const char M_BULK_LINE[]    = "Protocol error: too big bulk count string";
static const char M_BULK_LEN[]     = "Protocol error: invalid bulk length";
static const char M_BULK_UNAUTH[]  = "Protocol error: unauthenticated bulk length";
static const char M_INLINE_LINE[]  = "Protocol error: too big inline request";
static const char M_QUOTES[]       = "Protocol error: unbalanced quotes in request";
static const char M_REQ_SIZE[]     = "Protocol error: too big request";

/* ---- small helpers ------------------------------------------------------ */

struct sb {
    char  *p;    /* NUL-terminated text */
    size_t len;  /* bytes used */
    size_t cap;  /* bytes allocated */
};

static void sb_add(struct sb *s, const char *d, size_t n)
{
    if (s->len + n + 1 > s->cap) {
        s->cap = (s->len + n + 1) * 2;
        s->p = realloc(s->p, s->cap);
        assert_non_null(s->p);
    }
    memcpy(s->p + s->len, d, n);
    s->len += n;
    s->p[s->len] = '\0';
}

static void sb_printf(struct sb *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sb *s, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof(tmp));
    sb_add(s, tmp, (size_t)n);
}

/* Printable bytes as they are, others (and the separators) as \xHH. */
static void sb_escaped(struct sb *s, const char *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)d[i];

        if (c >= 0x20 && c < 0x7f && c != '|' && c != ';' && c != '\\')
            sb_add(s, (const char *)&c, 1);
        else
            sb_printf(s, "\\x%02x", c);
    }
}

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64* */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

enum feed_mode {
    FEED_WHOLE,
    FEED_BYTES,
    FEED_RANDOM,
};

static size_t feed_chunk(enum feed_mode mode, uint64_t *rng, size_t n,
                         size_t left)
{
    size_t most, k;

    switch (mode) {
    case FEED_WHOLE:
        return left;
    case FEED_BYTES:
        return 1;
    default:
        if (n > BIG_INPUT)
            most = n / 8;
        else
            most = (rng_next(rng) & 1) ? 4 : 64;
        k = 1 + (size_t)(rng_next(rng) % most);
        return k < left ? k : left;
    }
}

/*
 * The caller's input buffer. `fresh`: every change moves the bytes to a new
 * allocation of exactly the size held, so a parser that kept a pointer or read
 * past `have` is caught by ASan. Otherwise one buffer grows, and the part past
 * `have` is poisoned for ASan.
 */
struct feedbuf {
    char  *p;
    size_t have;
    size_t cap;
    bool   fresh;
};

static void fb_append(struct feedbuf *b, const char *d, size_t k)
{
    if (b->fresh) {
        char *np = malloc(b->have + k);

        assert_non_null(np);
        if (b->have > 0)
            memcpy(np, b->p, b->have);
        memcpy(np + b->have, d, k);
        free(b->p);
        b->p = np;
        b->have += k;
        b->cap = b->have;
        return;
    }
    if (b->p != NULL)
        TEST_UNPOISON(b->p, b->cap);
    if (b->have + k > b->cap) {
        b->cap = (b->have + k) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->have, d, k);
    b->have += k;
    TEST_POISON(b->p + b->have, b->cap - b->have);
}

static void fb_consume(struct feedbuf *b, size_t n)
{
    size_t rest = b->have - n;

    if (b->fresh) {
        char *np = malloc(rest > 0 ? rest : 1);

        assert_non_null(np);
        memcpy(np, b->p + n, rest);
        free(b->p);
        b->p = np;
        b->have = b->cap = rest;
        return;
    }
    TEST_UNPOISON(b->p, b->cap);
    memmove(b->p, b->p + n, rest);
    b->have = rest;
    TEST_POISON(b->p + b->have, b->cap - b->have);
}

static void fb_free(struct feedbuf *b)
{
    if (b->p != NULL)
        TEST_UNPOISON(b->p, b->cap);
    free(b->p);
    b->p = NULL;
}

/* ---- request driver ----------------------------------------------------- */

struct req_opts {
    bool    unauth;
    int64_t max_bulk;   /* 0: RESP_DEFAULT_MAX_BULK */
};

static const struct req_opts REQ_DEFAULT = { false, 0 };
static const struct req_opts REQ_UNAUTH = { true, 0 };

/*
 * Feeds a stream and describes what came out, one token per request:
 *   OK<len>:<arg>|<arg>;   OKi... for inline;   SKIP<len>;
 *   ERR:<message>;  (and nothing after it: the connection would close)
 *   AGAIN<need>;    (bytes left over at the end of the stream)
 */
static char *req_run(const char *data, size_t n, const struct req_opts *o,
                     enum feed_mode mode, uint64_t seed)
{
    struct resp_req_parser p;
    struct feedbuf b = { NULL, 0, 0, mode != FEED_BYTES || n <= BIG_INPUT };
    struct sb out = { NULL, 0, 0 };
    size_t off = 0, start = 0, max_need = 0;
    uint64_t rng = seed * 0x9E3779B97F4A7C15ULL + 1;
    bool failed = false;

    resp_req_parser_init(&p, o->max_bulk ? o->max_bulk : RESP_DEFAULT_MAX_BULK);
    p.unauth = o->unauth;
    sb_add(&out, "", 0);

    while (off < n && !failed) {
        size_t k = feed_chunk(mode, &rng, n, n - off);

        fb_append(&b, data + off, k);
        off += k;
        for (;;) {
            int st;

            /* Bytes before pos are never looked at again: spoil them. */
            assert_true(p.pos <= b.have);
            memset(b.p, 0xEE, p.pos);
            st = resp_parse_request(&p, b.p, b.have);
            if (st == RESP_AGAIN) {
                assert_true(p.need > b.have);
                if (p.need > max_need)
                    max_need = p.need;
                break;
            }
            if (st == RESP_ERROR) {
                assert_non_null(p.error);
                sb_printf(&out, "ERR:%s;", p.error);
                failed = true;
                break;
            }
            assert_true(p.len > 0 && p.len <= b.have);
            /* `need` never asked for more than the request turned out to be */
            assert_true(max_need <= p.len);
            if (st == RESP_OK) {
                const char *base = p.is_inline ? p.inline_buf : data + start;

                assert_true(p.argc > 0);
                sb_printf(&out, "OK%s%zu:", p.is_inline ? "i" : "", p.len);
                for (uint32_t i = 0; i < p.argc; i++) {
                    if (!p.is_inline)
                        assert_true((size_t)p.argv[i].off + p.argv[i].len <= p.len);
                    else
                        assert_true((size_t)p.argv[i].off + p.argv[i].len <=
                                    p.inline_cap);
                    if (i > 0)
                        sb_add(&out, "|", 1);
                    sb_escaped(&out, base + p.argv[i].off, p.argv[i].len);
                }
                sb_add(&out, ";", 1);
            } else {
                assert_int_equal(st, RESP_SKIP);
                sb_printf(&out, "SKIP%zu;", p.len);
            }
            start += p.len;
            fb_consume(&b, p.len);
            resp_req_parser_reset(&p);
            max_need = 0;
            if (b.have == 0)
                break;
        }
    }
    if (!failed && b.have > 0)
        sb_printf(&out, "AGAIN%zu;", p.need);
    fb_free(&b);
    resp_req_parser_free(&p);
    return out.p;
}

/* Whole, bytewise and random feeds agree, and (if given) match `expect`. */
static void check_req(const char *data, size_t n, const struct req_opts *o,
                      const char *expect)
{
    char *whole = req_run(data, n, o, FEED_WHOLE, 0);
    char *bytes = req_run(data, n, o, FEED_BYTES, 0);
    unsigned seeds = n > BIG_INPUT ? SEEDS_BIG : SEEDS_SMALL;

    if (expect != NULL)
        assert_string_equal(whole, expect);
    assert_string_equal(bytes, whole);
    for (unsigned seed = 1; seed <= seeds; seed++) {
        char *r = req_run(data, n, o, FEED_RANDOM, seed);

        if (strcmp(r, whole) != 0)
            print_error("seed %u: got %s\n", seed, r);
        assert_string_equal(r, whole);
        free(r);
    }
    free(whole);
    free(bytes);
}

struct req_case {
    const char *data;
    size_t      len;
    const char *expect;
};

static void check_req_cases(const struct req_case *c, size_t n,
                            const struct req_opts *o)
{
    for (size_t i = 0; i < n; i++)
        check_req(c[i].data, c[i].len, o, c[i].expect);
}

/* Runs one request through a fresh parser, whole; returns the status. */
static int parse_one(struct resp_req_parser *p, const char *d, size_t n,
                     bool unauth, int64_t max_bulk)
{
    resp_req_parser_init(p, max_bulk);
    p->unauth = unauth;
    return resp_parse_request(p, d, n);
}

static char *str_cat3(const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *s = malloc(la + lb + lc + 1);

    assert_non_null(s);
    memcpy(s, a, la);
    memcpy(s + la, b, lb);
    memcpy(s + la + lb, c, lc + 1);
    return s;
}

static void check_req_error(const char *d, size_t n, const struct req_opts *o,
                            const char *msg)
{
    char *want = str_cat3("ERR:", msg, ";");

    check_req(d, n, o, want);
    free(want);
}

/* ---- request tests ------------------------------------------------------ */

static void test_req_multibulk(void **state)
{
    static const struct req_case cases[] = {
        { S("*1\r\n$4\r\nPING\r\n"), "OK14:PING;" },
        { S("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n"), "OK31:SET|k|hello;" },
        { S("*2\r\n$4\r\nECHO\r\n$4\r\n\r\n\r\n\r\n"), "OK24:ECHO|\\x0d\\x0a\\x0d\\x0a;" },
        { S("*2\r\n$4\r\nECHO\r\n$0\r\n\r\n"), "OK20:ECHO|;" },
        { S("*1\r\n$0\r\n\r\n"), "OK10:;" },
        { S("*2\r\n$4\r\nECHO\r\n$3\r\n\0\xff|\r\n"), "OK23:ECHO|\\x00\\xff\\x7c;" },
        /* a '$' line where a request starts is an inline command */
        { S("*1\r\n$3\r\nfoo\r\n$3\r\n"), "OK13:foo;OKi4:$3;" },
    };

    check_req_cases(cases, CORDIS_ARRAY_SIZE(cases), &REQ_DEFAULT);
}

static void test_req_incomplete(void **state)
{
    static const struct req_case cases[] = {
        { S("*"), "AGAIN2;" },
        { S("*3"), "AGAIN3;" },
        { S("*3\r"), "AGAIN4;" },
        { S("*2\r\n$3\r\nGET\r\n$1\r\nk"), "AGAIN20;" },
        /* the bulk length is known: need covers the whole bulk and CRLF */
        { S("*2\r\n$100\r\nab"), "AGAIN112;" },
        { S("*1\r\n$3\r\nabc\r"), "AGAIN13;" },
        { S("*2000000000\r\n"), "AGAIN14;" },
        { S("*2147483647\r\n"), "AGAIN14;" },
        { S("GET k"), "AGAIN6;" },
        { S("GET k\r"), "AGAIN7;" },
    };

    check_req_cases(cases, CORDIS_ARRAY_SIZE(cases), &REQ_DEFAULT);
}

static void test_req_pipeline(void **state)
{
    static const char stream[] =
        "*1\r\n$4\r\nPING\r\n"
        "*0\r\n"
        "*-1\r\n"
        "PING\r\n"
        "\r\n"
        "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
        "  \n"
        "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n"
        "GET \"a b\"\n"
        "*2\r\n$3\r\nGET\r\n$1\r\n";

    check_req(stream, sizeof(stream) - 1, &REQ_DEFAULT,
              "OK14:PING;SKIP4;SKIP5;OKi6:PING;SKIP2;OK20:GET|k;SKIP3;"
              "OK31:SET|k|hello;OKi10:GET|a b;AGAIN20;");
}

static void test_req_pipeline_many(void **state)
{
    /* 300 requests of growing size back to back, some inline */
    struct sb in = { NULL, 0, 0 }, want = { NULL, 0, 0 };
    char val[400];

    sb_add(&want, "", 0);
    for (int i = 0; i < 300; i++) {
        size_t before = in.len;

        memset(val, 'a' + i % 26, (size_t)i + 1);
        if (i % 7 == 3) {
            sb_add(&in, "ECHO ", 5);
            sb_add(&in, val, (size_t)i + 1);
            sb_add(&in, "\r\n", 2);
            sb_printf(&want, "OKi%zu:ECHO|", in.len - before);
        } else {
            sb_printf(&in, "*3\r\n$3\r\nSET\r\n$%d\r\nk%d\r\n$%d\r\n",
                      snprintf(NULL, 0, "k%d", i), i, i + 1);
            sb_add(&in, val, (size_t)i + 1);
            sb_add(&in, "\r\n", 2);
            sb_printf(&want, "OK%zu:SET|k%d|", in.len - before, i);
        }
        sb_add(&want, val, (size_t)i + 1);
        sb_add(&want, ";", 1);
    }
    check_req(in.p, in.len, &REQ_DEFAULT, want.p);
    free(in.p);
    free(want.p);
}

static void test_req_skip(void **state)
{
    static const struct req_case cases[] = {
        { S("\r\n"), "SKIP2;" },
        { S("\n"), "SKIP1;" },
        { S("   \t \r\n"), "SKIP7;" },
        { S("\v\f\n"), "SKIP3;" },
        { S("*0\r\n"), "SKIP4;" },
        { S("*-1\r\n"), "SKIP5;" },
        { S("*-100\r\n"), "SKIP7;" },
        { S("*-1\r\n*0\r\n\r\n*1\r\n$1\r\nx\r\n"), "SKIP5;SKIP4;SKIP2;OK11:x;" },
    };

    check_req_cases(cases, CORDIS_ARRAY_SIZE(cases), &REQ_DEFAULT);
}

static void test_req_inline(void **state)
{
    static const struct req_case cases[] = {
        { S("PING\r\n"), "OKi6:PING;" },
        { S("PING\n"), "OKi5:PING;" },
        { S(" \t GET   k \r\n"), "OKi13:GET|k;" },
        { S("set \"a b\" 'c\\'d' \"\\x41\\n\"\r\n"), "OKi27:set|a b|c'd|A\\x0a;" },
        { S("ECHO \"\"\n"), "OKi8:ECHO|;" },
        { S("ECHO ''\n"), "OKi8:ECHO|;" },
        /* \x needs two hex digits, else it is an ordinary escape of 'x' */
        { S("ECHO \"\\x4\"\n"), "OKi11:ECHO|x4;" },
        { S("ECHO \"\\xZZ\"\n"), "OKi12:ECHO|xZZ;" },
        { S("ECHO \"\\x4a\\x4B\\t\\r\\b\\a\\\\\"\n"),
          "OKi26:ECHO|JK\\x09\\x0d\\x08\\x07\\x5c;" },
        { S("ECHO \"a\\qb\"\n"), "OKi12:ECHO|aqb;" },
        { S("ECHO \"\\\"q\\\"\"\n"), "OKi13:ECHO|\"q\";" },
        /* single quotes only know \' */
        { S("ECHO 'a\\nb'\n"), "OKi12:ECHO|a\\x5cnb;" },
        { S("ECHO 'a\"b'\n"), "OKi11:ECHO|a\"b;" },
        /* a quote may open inside a word */
        { S("a\"b c\"\n"), "OKi7:ab c;" },
        { S("ECHO \"a\" \"b\"\n"), "OKi13:ECHO|a|b;" },
        /* \v and \f separate words only where blanks are skipped */
        { S("ECHO a\vb\n"), "OKi9:ECHO|a\\x0bb;" },
        { S("\vPING\n"), "OKi6:PING;" },
        { S("ECHO \"a\"\v\n"), "OKi10:ECHO|a;" },
        { S("ECHO a\rb\r\n"), "OKi10:ECHO|a|b;" },
        { S("ECHO a\r\r\n"), "OKi9:ECHO|a;" },
        /* a NUL is an ordinary byte here (see resp_split_inline) */
        { S("ECHO a\0b\n"), "OKi9:ECHO|a\\x00b;" },
        /* a '*' inside a line is just a byte */
        { S("ECHO *1\n"), "OKi8:ECHO|*1;" },
    };

    check_req_cases(cases, CORDIS_ARRAY_SIZE(cases), &REQ_DEFAULT);
}

static void test_req_inline_unbalanced(void **state)
{
    static const struct req_case cases[] = {
        { S("ECHO \"abc\r\n"), NULL },
        { S("\"abc\n"), NULL },
        { S("ECHO \"a\"b\n"), NULL },
        { S("\"a\"b\n"), NULL },
        { S("ECHO 'a'x\n"), NULL },
        { S("ECHO 'abc\n"), NULL },
        { S("ECHO \"a\\\n"), NULL },
        { S("ECHO 'a\\'\n"), NULL },
        { S("ECHO \"a\\\"\n"), NULL },
        /* the error ends the stream: the next request is never seen */
        { S("ECHO \"\nPING\r\n"), NULL },
    };

    for (size_t i = 0; i < CORDIS_ARRAY_SIZE(cases); i++)
        check_req_error(cases[i].data, cases[i].len, &REQ_DEFAULT, M_QUOTES);
}

static void test_req_errors(void **state)
{
    static const struct {
        const char *data;
        size_t      len;
        const char *msg;
    } cases[] = {
        { S("*abc\r\n"), M_MBULK_LEN },
        { S("*\r\n"), M_MBULK_LEN },
        { S("*2147483648\r\n"), M_MBULK_LEN },
        { S("*9223372036854775808\r\n"), M_MBULK_LEN },
        { S("*01\r\n"), M_MBULK_LEN },
        { S("*+1\r\n"), M_MBULK_LEN },
        { S("*-0\r\n"), M_MBULK_LEN },
        { S("* 1\r\n"), M_MBULK_LEN },
        { S("*1 \r\n"), M_MBULK_LEN },
        /* CR must be followed by LF (Redis does not look; we do) */
        { S("*1\rX$1\r\nx\r\n"), M_MBULK_LEN },
        { S("*1\r\nfoo\r\n"), "Protocol error: expected '$', got 'f'" },
        { S("*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n"),
          "Protocol error: expected '$', got 'f'" },
        { S("*1\r\n*1\r\n"), "Protocol error: expected '$', got '*'" },
        { S("*1\r\n$-1\r\n"), M_BULK_LEN },
        { S("*1\r\n$abc\r\n"), M_BULK_LEN },
        { S("*1\r\n$\r\n"), M_BULK_LEN },
        { S("*1\r\n$01\r\n"), M_BULK_LEN },
        { S("*1\r\n$9223372036854775808\r\n"), M_BULK_LEN },
        /* 18 digits: the longest a plain header read in one pass may be */
        { S("*1\r\n$999999999999999999\r\n"), M_BULK_LEN },
        { S("*999999999999999999\r\n"), M_MBULK_LEN },
        { S("*1\r\n$536870913\r\n"), M_BULK_LEN },
        { S("*1\r\n$3\rXabc\r\n"), M_BULK_LEN },
        /* the two bytes after a bulk must be CRLF */
        { S("*1\r\n$3\r\nabcXY"), M_BULK_LEN },
        { S("*1\r\n$3\r\nabc\rX"), M_BULK_LEN },
        { S("*1\r\n$3\r\nabcd\r\n"), M_BULK_LEN },
        { S("*2\r\n$3\r\nGET\r\n$1\r\nk\n\r"), M_BULK_LEN },
    };

    for (size_t i = 0; i < CORDIS_ARRAY_SIZE(cases); i++)
        check_req_error(cases[i].data, cases[i].len, &REQ_DEFAULT, cases[i].msg);
    /* an error ends the stream, after the good requests before it */
    check_req(S("PING\r\n*1\r\n$x\r\n*1\r\n$4\r\nPING\r\n"), &REQ_DEFAULT,
              "OKi6:PING;ERR:Protocol error: invalid bulk length;");
}

static void test_req_expected_dollar_every_byte(void **state)
{
    for (int c = 0; c < 256; c++) {
        char in[8] = "*1\r\n";
        char msg[64];
        char shown = (c == '\r' || c == '\n' || c == '\0') ? ' ' : (char)c;

        if (c == '$')
            continue;
        in[4] = (char)c;
        in[5] = '\r';
        in[6] = '\n';
        snprintf(msg, sizeof(msg), "Protocol error: expected '$', got '%c'",
                 shown);
        if (c != '\0') {
            check_req_error(in, 7, &REQ_DEFAULT, msg);
        } else {
            /* the message holds the NUL as a space; compare directly */
            struct resp_req_parser p;

            assert_int_equal(parse_one(&p, in, 7, false, RESP_DEFAULT_MAX_BULK),
                             RESP_ERROR);
            assert_string_equal(p.error, msg);
            resp_req_parser_free(&p);
        }
    }
}

/* A stream of `prefix`, then n copies of `fill`, then `suffix`. */
static char *make_line(const char *prefix, char fill, size_t n,
                       const char *suffix, size_t *len)
{
    size_t lp = strlen(prefix), ls = strlen(suffix);
    char *s = malloc(lp + n + ls + 1);

    assert_non_null(s);
    memcpy(s, prefix, lp);
    memset(s + lp, fill, n);
    memcpy(s + lp + n, suffix, ls + 1);
    *len = lp + n + ls;
    return s;
}

static void test_req_long_lines(void **state)
{
    char want[64];
    size_t n;
    char *s;

    /* 64 KB after the line start without CR is fine, one more is not */
    s = make_line("*", '1', 65535, "", &n);
    snprintf(want, sizeof(want), "AGAIN%zu;", n + 1);
    check_req(s, n, &REQ_DEFAULT, want);
    free(s);
    s = make_line("*", '1', 65536, "", &n);
    check_req_error(s, n, &REQ_DEFAULT, M_MBULK_LINE);
    free(s);
    /* CR as the 65537th byte is still found; the number is not valid */
    s = make_line("*", '0', 65535, "\r", &n);
    snprintf(want, sizeof(want), "AGAIN%zu;", n + 1);
    check_req(s, n, &REQ_DEFAULT, want);
    free(s);
    s = make_line("*", '0', 65535, "\r\n", &n);
    check_req_error(s, n, &REQ_DEFAULT, M_MBULK_LEN);
    free(s);

    /* the same for a bulk count line, counted from its own start */
    s = make_line("*1\r\n$", '1', 65535, "", &n);
    snprintf(want, sizeof(want), "AGAIN%zu;", n + 1);
    check_req(s, n, &REQ_DEFAULT, want);
    free(s);
    s = make_line("*1\r\n$", '1', 65536, "", &n);
    check_req_error(s, n, &REQ_DEFAULT, M_BULK_LINE);
    free(s);
    s = make_line("*1\r\n$", '0', 65535, "\r\n", &n);
    check_req_error(s, n, &REQ_DEFAULT, M_BULK_LEN);
    free(s);
    /* a line without '$' that is too long is reported as too long */
    s = make_line("*1\r\n", 'f', 65537, "", &n);
    check_req_error(s, n, &REQ_DEFAULT, M_BULK_LINE);
    free(s);

    /* inline: up to 64 KB before the newline */
    s = make_line("", 'x', 65536, "", &n);
    snprintf(want, sizeof(want), "AGAIN%zu;", n + 1);
    check_req(s, n, &REQ_DEFAULT, want);
    free(s);
    s = make_line("", 'x', 65537, "", &n);
    check_req_error(s, n, &REQ_DEFAULT, M_INLINE_LINE);
    free(s);
    s = make_line("", 'x', 65537, "\n", &n);
    check_req_error(s, n, &REQ_DEFAULT, M_INLINE_LINE);
    free(s);
    s = make_line("", 'x', 65536, "\n", &n);
    {
        struct resp_req_parser p;

        assert_int_equal(parse_one(&p, s, n, false, RESP_DEFAULT_MAX_BULK),
                         RESP_OK);
        assert_true(p.is_inline);
        assert_int_equal(p.argc, 1);
        assert_int_equal(p.argv[0].len, 65536);
        assert_int_equal(p.len, n);
        resp_req_parser_free(&p);
    }
    free(s);
    /* many words in one long line */
    {
        struct sb in = { NULL, 0, 0 };
        struct resp_req_parser p;

        for (int i = 0; i < 20000; i++)
            sb_add(&in, "a ", 2);
        sb_add(&in, "\r\n", 2);
        assert_int_equal(parse_one(&p, in.p, in.len, false, RESP_DEFAULT_MAX_BULK),
                         RESP_OK);
        assert_int_equal(p.argc, 20000);
        assert_int_equal(p.argv[19999].off, 19999);
        resp_req_parser_free(&p);
        free(in.p);
    }
}

static void test_req_unauth(void **state)
{
    static const struct {
        const char *data;
        size_t      len;
        const char *expect;
    } cases[] = {
        { S("*10\r\n"), "AGAIN6;" },
        { S("*11\r\n"), "ERR:Protocol error: unauthenticated multibulk length;" },
        { S("*1000000\r\n"), "ERR:Protocol error: unauthenticated multibulk length;" },
        /* an invalid count is reported as such first */
        { S("*2147483648\r\n"), "ERR:Protocol error: invalid multibulk length;" },
        { S("*-5\r\n"), "SKIP5;" },
        { S("*1\r\n$16384\r\n"), "AGAIN16398;" },
        { S("*1\r\n$16385\r\n"), "ERR:Protocol error: unauthenticated bulk length;" },
        { S("*1\r\n$100000000\r\n"), "ERR:Protocol error: unauthenticated bulk length;" },
        { S("*1\r\n$-1\r\n"), "ERR:Protocol error: invalid bulk length;" },
        { S("*1\r\n$536870913\r\n"), "ERR:Protocol error: invalid bulk length;" },
        { S("*2\r\n$4\r\nAUTH\r\n$6\r\nsecret\r\n"), "OK26:AUTH|secret;" },
    };

    for (size_t i = 0; i < CORDIS_ARRAY_SIZE(cases); i++)
        check_req(cases[i].data, cases[i].len, &REQ_UNAUTH, cases[i].expect);

    /* the same inputs once authenticated */
    check_req(S("*11\r\n"), &REQ_DEFAULT, "AGAIN6;");
    check_req(S("*1\r\n$16385\r\n"), &REQ_DEFAULT, "AGAIN16399;");

    /* an invalid length (over max_bulk) wins over the unauth limit */
    {
        const struct req_opts o = { true, 100 };

        check_req(S("*1\r\n$200\r\n"), &o, "ERR:Protocol error: invalid bulk length;");
    }
    /* inline requests have no unauth limits beyond the line length */
    {
        struct sb in = { NULL, 0, 0 };
        struct resp_req_parser p;

        for (int i = 0; i < 30; i++)
            sb_add(&in, "x ", 2);
        sb_add(&in, "\n", 1);
        assert_int_equal(parse_one(&p, in.p, in.len, true, RESP_DEFAULT_MAX_BULK),
                         RESP_OK);
        assert_int_equal(p.argc, 30);
        resp_req_parser_free(&p);
        free(in.p);
    }
}

static void test_req_unauth_toggle(void **state)
{
    static const char auth[] = "*2\r\n$4\r\nAUTH\r\n$1\r\np\r\n";
    struct sb big = { NULL, 0, 0 };
    struct resp_req_parser p;

    resp_req_parser_init(&p, RESP_DEFAULT_MAX_BULK);
    p.unauth = true;
    assert_int_equal(resp_parse_request(&p, auth, sizeof(auth) - 1), RESP_OK);
    assert_int_equal(p.argc, 2);
    resp_req_parser_reset(&p);

    sb_add(&big, "*11\r\n", 5);
    for (int i = 0; i < 11; i++)
        sb_add(&big, "$1\r\nx\r\n", 7);

    /* still unauthenticated: refused */
    assert_int_equal(resp_parse_request(&p, big.p, big.len), RESP_ERROR);
    assert_string_equal(p.error, M_MBULK_UNAUTH);
    resp_req_parser_reset(&p);
    assert_int_equal(resp_parse_request(&p, S("*1\r\n$16385\r\n")), RESP_ERROR);
    assert_string_equal(p.error, M_BULK_UNAUTH);
    resp_req_parser_reset(&p);

    /* the session saw AUTH succeed and lifts the limits */
    p.unauth = false;
    assert_int_equal(resp_parse_request(&p, big.p, big.len), RESP_OK);
    assert_int_equal(p.argc, 11);
    assert_int_equal(p.len, big.len);
    resp_req_parser_reset(&p);

    /* and may set them again (e.g. after AUTH fails on a reload) */
    p.unauth = true;
    assert_int_equal(resp_parse_request(&p, big.p, big.len), RESP_ERROR);
    resp_req_parser_free(&p);
    free(big.p);
}

static void test_req_max_bulk(void **state)
{
    const struct req_opts o10 = { false, 10 };

    check_req(S("*1\r\n$10\r\n0123456789\r\n"), &o10, "OK21:0123456789;");
    check_req(S("*1\r\n$11\r\n"), &o10, "ERR:Protocol error: invalid bulk length;");
    check_req(S("*1\r\n$11\r\n01234567890\r\n"), &o10,
              "ERR:Protocol error: invalid bulk length;");
    /* the default is Redis's 512 MB */
    check_req(S("*1\r\n$536870912\r\n"), &REQ_DEFAULT, "AGAIN536870930;");
    check_req(S("*1\r\n$536870913\r\n"), &REQ_DEFAULT,
              "ERR:Protocol error: invalid bulk length;");
    /* max_bulk 0 (the driver reads 0 as "default"): only empty bulks */
    {
        struct resp_req_parser p;

        assert_int_equal(parse_one(&p, S("*1\r\n$0\r\n\r\n"), false, 0), RESP_OK);
        resp_req_parser_free(&p);
        assert_int_equal(parse_one(&p, S("*1\r\n$1\r\n"), false, 0), RESP_ERROR);
        assert_string_equal(p.error, M_BULK_LEN);
        resp_req_parser_free(&p);
    }
}

static void test_req_offsets_fit(void **state)
{
    /* argv offsets are 32-bit: a request that would pass 4 GB is refused */
    const struct req_opts huge = { false, INT64_MAX };

    check_req(S("*1\r\n$4294967278\r\n"), &huge, "AGAIN4294967297;");
    check_req_error(S("*1\r\n$4294967279\r\n"), &huge, M_REQ_SIZE);
    check_req(S("*2\r\n$1\r\nx\r\n$4294967271\r\n"), &huge, "AGAIN4294967297;");
    check_req_error(S("*2\r\n$1\r\nx\r\n$4294967272\r\n"), &huge, M_REQ_SIZE);
}

static void test_req_no_alloc_by_count(void **state)
{
    struct resp_req_parser p;
    struct sb in = { NULL, 0, 0 };

    resp_req_parser_init(&p, RESP_DEFAULT_MAX_BULK);
    sb_add(&in, "*2000000000\r\n", 13);
    assert_int_equal(resp_parse_request(&p, in.p, in.len), RESP_AGAIN);
    assert_int_equal(p.argv_cap, 0);
    assert_null(p.argv);
    assert_int_equal(p.need, in.len + 1);

    /* argv grows by doubling as arguments arrive, not by the count */
    for (int i = 1; i <= 100; i++) {
        sb_add(&in, "$1\r\nx\r\n", 7);
        assert_int_equal(resp_parse_request(&p, in.p, in.len), RESP_AGAIN);
        assert_int_equal(p.argc, i);
        assert_true(p.argv_cap >= (uint32_t)i && p.argv_cap <= 2u * (uint32_t)i + 8);
    }
    assert_int_equal(p.argv_cap, 128);

    /* a big declared bulk allocates nothing either */
    sb_add(&in, "$500000000\r\nabc", 15);
    assert_int_equal(resp_parse_request(&p, in.p, in.len), RESP_AGAIN);
    assert_int_equal(p.argv_cap, 128);
    assert_int_equal(p.need, in.len - 3 + 500000000 + 2);
    resp_req_parser_free(&p);
    free(in.p);

    /* a small count is not rounded up past itself */
    assert_int_equal(parse_one(&p, S("*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"),
                               false, RESP_DEFAULT_MAX_BULK), RESP_OK);
    assert_int_equal(p.argv_cap, 3);
    resp_req_parser_free(&p);
}

static void test_req_reset_shrinks(void **state)
{
    struct resp_req_parser p;
    struct sb in = { NULL, 0, 0 };
    const struct resp_arg *kept;

    sb_add(&in, "*10000\r\n", 8);
    for (int i = 0; i < 10000; i++)
        sb_add(&in, "$1\r\nx\r\n", 7);

    resp_req_parser_init(&p, RESP_DEFAULT_MAX_BULK);
    assert_int_equal(resp_parse_request(&p, in.p, in.len), RESP_OK);
    assert_int_equal(p.argc, 10000);
    assert_true(p.argv_cap >= 10000);
    resp_req_parser_reset(&p);
    assert_int_equal(p.argv_cap, 0);
    assert_null(p.argv);
    assert_int_equal(p.argc, 0);

    /* small ones keep their arrays for the next request */
    assert_int_equal(resp_parse_request(&p, S("*2\r\n$1\r\na\r\n$1\r\nb\r\n")), RESP_OK);
    kept = p.argv;
    assert_non_null(kept);
    resp_req_parser_reset(&p);
    assert_ptr_equal(p.argv, kept);
    assert_int_equal(resp_parse_request(&p, S("GET \"k\"\n")), RESP_OK);
    assert_non_null(p.inline_buf);
    assert_ptr_equal(p.argv, kept);
    {
        char *ib = p.inline_buf;

        resp_req_parser_reset(&p);
        assert_ptr_equal(p.inline_buf, ib);
    }
    resp_req_parser_free(&p);
    resp_req_parser_free(&p);  /* twice is harmless */
    free(in.p);
}

static void test_req_big_bulk_linear(void **state)
{
    /* An 8 MB value in 16 KB reads: the buffer is sized once from `need`,
     * and no call goes back over what an earlier one parsed. */
    const size_t body = 8u << 20, chunk = 16384;
    static const char head[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$8388608\r\n";
    const size_t hlen = sizeof(head) - 1, total = hlen + body + 2;
    char *src = malloc(total), *buf = NULL;
    struct resp_req_parser p;
    size_t have = 0, cap = 0, calls = 0, grows = 0;
    int st = RESP_AGAIN;

    assert_non_null(src);
    memcpy(src, head, hlen);
    for (size_t i = 0; i < body; i++)
        src[hlen + i] = "\r\n$*x"[i % 5];
    memcpy(src + hlen + body, "\r\n", 2);

    resp_req_parser_init(&p, RESP_DEFAULT_MAX_BULK);
    while (have < total) {
        size_t k = CORDIS_MIN(chunk, total - have);

        if (have + k > cap) {
            /* the session: grow to what the parser said it needs */
            cap = CORDIS_MAX(have + k, p.need);
            buf = realloc(buf, cap);
            assert_non_null(buf);
            grows++;
        }
        memcpy(buf + have, src + have, k);
        have += k;
        /* spoil everything already parsed */
        memset(buf, 0xEE, p.pos);
        st = resp_parse_request(&p, buf, have);
        calls++;
        if (have < total) {
            assert_int_equal(st, RESP_AGAIN);
            /* waiting on the bulk: position and length stay put */
            assert_int_equal(p.pos, hlen);
            assert_int_equal(p.bulk_len, (int64_t)body);
            assert_int_equal(p.argc, 2);
            assert_int_equal(p.need, total);
        }
    }
    assert_int_equal(st, RESP_OK);
    assert_int_equal(p.len, total);
    assert_int_equal(p.argc, 3);
    assert_int_equal(p.argv[2].off, hlen);
    assert_int_equal(p.argv[2].len, body);
    assert_memory_equal(buf + p.argv[2].off, src + hlen, body);
    assert_int_equal(calls, (total + chunk - 1) / chunk);
    assert_int_equal(grows, 2);  /* the first read, then once to `need` */
    resp_req_parser_free(&p);
    free(buf);
    free(src);
}

static void test_req_trickle_linear(void **state)
{
    /* A long line arriving a byte at a time is searched once, not once per
     * byte: line_scan keeps up with what has arrived. */
    size_t n;
    char *s = make_line("", 'x', 60000, "\r\n", &n);
    struct resp_req_parser p;
    int st = RESP_AGAIN;

    resp_req_parser_init(&p, RESP_DEFAULT_MAX_BULK);
    for (size_t have = 1; have <= n; have++) {
        st = resp_parse_request(&p, s, have);
        if (have < n) {
            assert_int_equal(st, RESP_AGAIN);
            /* everything that arrived is known to hold no newline */
            assert_int_equal(p.line_scan, have);
        }
    }
    assert_int_equal(st, RESP_OK);
    assert_int_equal(p.argv[0].len, 60000);
    resp_req_parser_free(&p);
    free(s);

    /* the same for a bulk count line in the middle of a multibulk */
    s = make_line("*1\r\n$", '0', 60000, "\r\n", &n);
    resp_req_parser_init(&p, RESP_DEFAULT_MAX_BULK);
    for (size_t have = 1; have <= n; have++) {
        st = resp_parse_request(&p, s, have);
        if (have < n) {
            assert_int_equal(st, RESP_AGAIN);
            if (have > 4 && s[have - 1] != '\r')
                assert_int_equal(p.pos + p.line_scan, have);
        }
    }
    assert_int_equal(st, RESP_ERROR);
    assert_string_equal(p.error, M_BULK_LEN);
    resp_req_parser_free(&p);
    free(s);
}

static void test_req_resume_contract(void **state)
{
    struct resp_req_parser p;
    static const char req[] = "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
    char moved[sizeof(req)];

    resp_req_parser_init(&p, RESP_DEFAULT_MAX_BULK);
    assert_int_equal(resp_parse_request(&p, req, 0), RESP_AGAIN);
    assert_int_equal(p.need, 1);
    assert_int_equal(resp_parse_request(&p, req, 15), RESP_AGAIN);
    assert_int_equal(p.pos, 13);   /* after "GET\r\n" */
    assert_int_equal(p.argc, 1);
    /* called again with no more bytes: still AGAIN, nothing lost */
    assert_int_equal(resp_parse_request(&p, req, 15), RESP_AGAIN);
    assert_int_equal(p.argc, 1);
    /* called with fewer bytes than parsed (a caller bug): no read past len */
    assert_int_equal(resp_parse_request(&p, req, 3), RESP_AGAIN);
    /* moved elsewhere, with the rest */
    memcpy(moved, req, sizeof(req));
    assert_int_equal(resp_parse_request(&p, moved, sizeof(req) - 1), RESP_OK);
    assert_int_equal(p.argc, 2);
    assert_int_equal(p.argv[1].off, 17);
    assert_int_equal(p.argv[1].len, 3);
    assert_false(p.is_inline);
    assert_null(p.error);
    resp_req_parser_free(&p);
}

/* ---- reply driver ------------------------------------------------------- */

/*
 * Like req_run, one token per reply: OK(<type>,<integer>,<len>); ERR:<msg>;
 * AGAIN<need>;
 */
static char *reply_run(const char *data, size_t n, int64_t max_bulk,
                       enum feed_mode mode, uint64_t seed)
{
    struct resp_reply_parser p;
    struct feedbuf b = { NULL, 0, 0, mode != FEED_BYTES || n <= BIG_INPUT };
    struct sb out = { NULL, 0, 0 };
    size_t off = 0, max_need = 0;
    uint64_t rng = seed * 0x9E3779B97F4A7C15ULL + 7;
    bool failed = false;

    resp_reply_parser_init(&p, max_bulk);
    sb_add(&out, "", 0);
    while (off < n && !failed) {
        size_t k = feed_chunk(mode, &rng, n, n - off);

        fb_append(&b, data + off, k);
        off += k;
        for (;;) {
            int st;

            assert_true(p.pos <= b.have);
            memset(b.p, '?', p.pos);  /* a bad type byte if read again */
            st = resp_parse_reply(&p, b.p, b.have);
            if (st == RESP_AGAIN) {
                assert_true(p.need > b.have);
                if (p.need > max_need)
                    max_need = p.need;
                break;
            }
            if (st == RESP_ERROR) {
                assert_non_null(p.error);
                sb_printf(&out, "ERR:%s;", p.error);
                failed = true;
                break;
            }
            assert_int_equal(st, RESP_OK);
            assert_true(p.len > 0 && p.len <= b.have);
            assert_true(max_need <= p.len);
            sb_printf(&out, "OK(%c,%" PRId64 ",%zu);", p.type, p.integer, p.len);
            fb_consume(&b, p.len);
            max_need = 0;
            if (b.have == 0)
                break;
        }
    }
    if (!failed && b.have > 0)
        sb_printf(&out, "AGAIN%zu;", p.need);
    fb_free(&b);
    return out.p;
}

static void check_reply_mb(const char *data, size_t n, int64_t max_bulk,
                           const char *expect)
{
    char *whole = reply_run(data, n, max_bulk, FEED_WHOLE, 0);
    char *bytes = reply_run(data, n, max_bulk, FEED_BYTES, 0);
    unsigned seeds = n > BIG_INPUT ? SEEDS_BIG : SEEDS_SMALL;

    if (expect != NULL)
        assert_string_equal(whole, expect);
    assert_string_equal(bytes, whole);
    for (unsigned seed = 1; seed <= seeds; seed++) {
        char *r = reply_run(data, n, max_bulk, FEED_RANDOM, seed);

        if (strcmp(r, whole) != 0)
            print_error("seed %u: got %s\n", seed, r);
        assert_string_equal(r, whole);
        free(r);
    }
    free(whole);
    free(bytes);
}

static void check_reply(const char *data, size_t n, const char *expect)
{
    check_reply_mb(data, n, RESP_DEFAULT_MAX_BULK, expect);
}

/* ---- reply tests -------------------------------------------------------- */

static void test_reply_resp2(void **state)
{
    static const struct {
        const char *data;
        size_t      len;
        const char *expect;
    } cases[] = {
        { S("+OK\r\n"), "OK(+,0,5);" },
        { S("+\r\n"), "OK(+,0,3);" },
        { S("-ERR x\r\n"), "OK(-,0,8);" },
        { S("-MOVED 1 1.2.3.4:5\r\n"), "OK(-,0,20);" },
        { S(":123\r\n"), "OK(:,123,6);" },
        { S(":0\r\n"), "OK(:,0,4);" },
        { S(":-9223372036854775808\r\n"), "OK(:,-9223372036854775808,23);" },
        { S(":9223372036854775807\r\n"), "OK(:,9223372036854775807,22);" },
        { S("$5\r\nhello\r\n"), "OK($,5,11);" },
        { S("$0\r\n\r\n"), "OK($,0,6);" },
        { S("$4\r\n\r\n\r\n\r\n"), "OK($,4,10);" },
        { S("$-1\r\n"), "OK($,-1,5);" },
        { S("*-1\r\n"), "OK(*,-1,5);" },
        { S("*0\r\n"), "OK(*,0,4);" },
        { S("*2\r\n$1\r\na\r\n:1\r\n"), "OK(*,2,15);" },
        { S("*2\r\n*1\r\n+a\r\n*0\r\n"), "OK(*,2,16);" },
        { S("*3\r\n$-1\r\n*-1\r\n*2\r\n:1\r\n:2\r\n"), "OK(*,3,26);" },
        { S("*2\r\n-ERR a\r\n-ERR b\r\n"), "OK(*,2,20);" },
        { S("+OK\r\n:1\r\n$1\r\na\r\n*0\r\n-E\r\n"),
          "OK(+,0,5);OK(:,1,4);OK($,1,7);OK(*,0,4);OK(-,0,4);" },
        /* incomplete */
        { S("+OK"), "AGAIN4;" },
        { S("+OK\r"), "AGAIN5;" },
        { S("$3\r\nabc\r"), "AGAIN9;" },
        { S("$100\r\n"), "AGAIN108;" },
        { S("*2\r\n:1\r\n"), "AGAIN9;" },
        { S("*2\r\n$10\r\nab"), "AGAIN21;" },
        { S("*2147483647\r\n"), "AGAIN14;" },
    };

    for (size_t i = 0; i < CORDIS_ARRAY_SIZE(cases); i++)
        check_reply(cases[i].data, cases[i].len, cases[i].expect);
}

static void test_reply_resp3(void **state)
{
    static const struct {
        const char *data;
        size_t      len;
        const char *expect;
    } cases[] = {
        { S("_\r\n"), "OK(_,0,3);" },
        { S(",3.14\r\n"), "OK(,,0,7);" },
        { S(",-inf\r\n"), "OK(,,0,7);" },
        { S("#t\r\n"), "OK(#,0,4);" },
        { S("#f\r\n"), "OK(#,0,4);" },
        { S("!3\r\nerr\r\n"), "OK(!,3,9);" },
        { S("=7\r\ntxt:abc\r\n"), "OK(=,7,13);" },
        { S("(123456789012345678901234567890\r\n"), "OK((,0,33);" },
        { S("%1\r\n+a\r\n:1\r\n"), "OK(%,1,12);" },
        { S("%0\r\n"), "OK(%,0,4);" },
        { S("~2\r\n+a\r\n+b\r\n"), "OK(~,2,12);" },
        { S(">2\r\n+a\r\n+b\r\n"), "OK(>,2,12);" },
        /* an attribute and the value it describes are one reply */
        { S("|1\r\n+a\r\n+b\r\n:5\r\n"), "OK(|,1,16);" },
        { S("*2\r\n|1\r\n+k\r\n+v\r\n:1\r\n:2\r\n"), "OK(*,2,24);" },
        { S("%1\r\n*1\r\n_\r\n~0\r\n"), "OK(%,1,15);" },
        { S("_x\r\n"), "ERR:Protocol error: invalid value in reply;" },
        { S("#x\r\n"), "ERR:Protocol error: invalid value in reply;" },
        { S("#tt\r\n"), "ERR:Protocol error: invalid value in reply;" },
        { S("~-1\r\n"), "ERR:Protocol error: invalid multibulk length in reply;" },
        { S("!-1\r\n"), "ERR:Protocol error: invalid bulk length in reply;" },
    };

    for (size_t i = 0; i < CORDIS_ARRAY_SIZE(cases); i++)
        check_reply(cases[i].data, cases[i].len, cases[i].expect);
}

static void test_reply_errors(void **state)
{
    static const struct {
        const char *data;
        size_t      len;
        const char *msg;
    } cases[] = {
        { S(":abc\r\n"), "Protocol error: invalid integer in reply" },
        { S(":\r\n"), "Protocol error: invalid integer in reply" },
        { S(":9223372036854775808\r\n"), "Protocol error: invalid integer in reply" },
        { S("$-2\r\n"), "Protocol error: invalid bulk length in reply" },
        { S("$x\r\n"), "Protocol error: invalid bulk length in reply" },
        { S("$536870913\r\n"), "Protocol error: invalid bulk length in reply" },
        { S("$999999999999999999\r\n"), "Protocol error: invalid bulk length in reply" },
        { S("$01\r\n"), "Protocol error: invalid bulk length in reply" },
        { S("*999999999999999999\r\n"), "Protocol error: invalid multibulk length in reply" },
        { S("$3\r\nabcXY"), "Protocol error: bulk in reply not followed by CRLF" },
        { S("$3\r\nabc\rX"), "Protocol error: bulk in reply not followed by CRLF" },
        { S("*1\r\n$1\r\nab\r\n"), "Protocol error: bulk in reply not followed by CRLF" },
        { S("*4294967296\r\n"), "Protocol error: invalid multibulk length in reply" },
        { S("*2147483648\r\n"), "Protocol error: invalid multibulk length in reply" },
        { S("*-2\r\n"), "Protocol error: invalid multibulk length in reply" },
        { S("*x\r\n"), "Protocol error: invalid multibulk length in reply" },
        { S("+OK\rX"), "Protocol error: reply line not ended by CRLF" },
        { S("?\r\n"), "Protocol error: bad reply type byte 0x3f" },
        { S("OK\r\n"), "Protocol error: bad reply type byte 0x4f" },
        { S("\r\n"), "Protocol error: bad reply type byte 0x0d" },
        { S("\0"), "Protocol error: bad reply type byte 0x00" },
        { S("*2\r\n:1\r\n?"), "Protocol error: bad reply type byte 0x3f" },
        { S("*1\r\n*1\r\n\xff"), "Protocol error: bad reply type byte 0xff" },
    };

    for (size_t i = 0; i < CORDIS_ARRAY_SIZE(cases); i++) {
        char *want = str_cat3("ERR:", cases[i].msg, ";");

        check_reply(cases[i].data, cases[i].len, want);
        free(want);
    }
    check_reply(S(":1\r\n:x\r\n"),
                "OK(:,1,4);ERR:Protocol error: invalid integer in reply;");

    /* max_bulk is the parser's own */
    check_reply_mb(S("$10\r\n0123456789\r\n"), 10, "OK($,10,17);");
    check_reply_mb(S("$11\r\n"), 10, "ERR:Protocol error: invalid bulk length in reply;");
}

static void test_reply_depth(void **state)
{
    struct sb in = { NULL, 0, 0 };
    char want[64];

    for (int i = 0; i < RESP_REPLY_MAX_DEPTH; i++)
        sb_add(&in, "*1\r\n", 4);
    sb_add(&in, ":1\r\n", 4);
    snprintf(want, sizeof(want), "OK(*,1,%zu);", in.len);
    check_reply(in.p, in.len, want);

    /* one level more is refused, whatever follows */
    free(in.p);
    in.p = NULL;
    in.len = in.cap = 0;
    for (int i = 0; i < RESP_REPLY_MAX_DEPTH + 1; i++)
        sb_add(&in, "*1\r\n", 4);
    check_reply(in.p, in.len, "ERR:Protocol error: reply nested too deeply;");

    /* depth is about arrays open at once, not arrays seen */
    free(in.p);
    in.p = NULL;
    in.len = in.cap = 0;
    sb_add(&in, "*200\r\n", 6);
    for (int i = 0; i < 200; i++)
        sb_add(&in, "*1\r\n*1\r\n:1\r\n", 12);
    snprintf(want, sizeof(want), "OK(*,200,%zu);", in.len);
    check_reply(in.p, in.len, want);
    free(in.p);
}

static void test_reply_long_line(void **state)
{
    char want[64];
    size_t n;
    char *s;

    s = make_line("+", 'a', 65535, "", &n);
    snprintf(want, sizeof(want), "AGAIN%zu;", n + 1);
    check_reply(s, n, want);
    free(s);
    s = make_line("+", 'a', 65536, "", &n);
    check_reply(s, n, "ERR:Protocol error: too big reply line;");
    free(s);
    s = make_line("*1\r\n-", 'a', 65536, "", &n);
    check_reply(s, n, "ERR:Protocol error: too big reply line;");
    free(s);
    s = make_line("+", 'a', 65535, "\r\n", &n);
    snprintf(want, sizeof(want), "OK(+,0,%zu);", n);
    check_reply(s, n, want);
    free(s);
}

static void test_reply_big_array_linear(void **state)
{
    /* A 1M-element array arriving in 16 KB pieces: each call starts where
     * the last stopped (the parsed part is spoiled with bad type bytes). */
    const size_t count = 1000000, chunk = 16384;
    struct sb in = { NULL, 0, 0 };
    struct resp_reply_parser p;
    char *buf;
    size_t have = 0, last_pos = 0, calls = 0;
    int st = RESP_AGAIN;

    sb_printf(&in, "*%zu\r\n", count);
    for (size_t i = 0; i < count; i++)
        sb_add(&in, i % 2 ? ":1\r\n" : "$1\r\nx\r\n", i % 2 ? 4 : 7);
    buf = malloc(in.len);
    assert_non_null(buf);

    resp_reply_parser_init(&p, RESP_DEFAULT_MAX_BULK);
    while (have < in.len) {
        size_t k = CORDIS_MIN(chunk, in.len - have);

        memcpy(buf + have, in.p + have, k);
        have += k;
        memset(buf, '?', p.pos);
        st = resp_parse_reply(&p, buf, have);
        calls++;
        if (have < in.len) {
            assert_int_equal(st, RESP_AGAIN);
            /* it went through every complete element it was given */
            assert_true(p.pos > last_pos);
            assert_true(have - p.pos < 7);
            assert_int_equal(p.depth, 1);
            last_pos = p.pos;
        }
    }
    assert_int_equal(st, RESP_OK);
    assert_int_equal(p.len, in.len);
    assert_int_equal(p.type, '*');
    assert_int_equal(p.integer, (int64_t)count);
    assert_int_equal(calls, (in.len + chunk - 1) / chunk);
    free(buf);
    free(in.p);
}

static void test_reply_walk_array(void **state)
{
    static const char r[] = "*4\r\n$3\r\nfoo\r\n*2\r\n:1\r\n:2\r\n$-1\r\n+OK\r\n";
    static const size_t lens[] = { 9, 12, 5, 5 };
    static const char types[] = { '$', '*', '$', '+' };
    static const int64_t ints[] = { 3, 2, -1, 0 };
    struct resp_reply_parser p;
    size_t off;

    resp_reply_parser_init(&p, RESP_DEFAULT_MAX_BULK);
    assert_int_equal(resp_parse_reply(&p, r, sizeof(r) - 1), RESP_OK);
    assert_int_equal(p.len, sizeof(r) - 1);
    assert_int_equal(p.integer, 4);

    off = resp_array_header_len(r, sizeof(r) - 1);
    assert_int_equal(off, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(resp_parse_reply(&p, r + off, sizeof(r) - 1 - off), RESP_OK);
        assert_int_equal(p.len, lens[i]);
        assert_int_equal(p.type, types[i]);
        assert_int_equal(p.integer, ints[i]);
        off += p.len;
    }
    assert_int_equal(off, sizeof(r) - 1);

    assert_int_equal(resp_array_header_len(S("*12\r\n")), 5);
    assert_int_equal(resp_array_header_len(S("*12\r")), 0);
    assert_int_equal(resp_array_header_len(S("")), 0);

    /* after an error the parser starts over on the next call */
    assert_int_equal(resp_parse_reply(&p, S("*1\r\n?")), RESP_ERROR);
    assert_int_equal(resp_parse_reply(&p, S(":7\r\n")), RESP_OK);
    assert_int_equal(p.integer, 7);
    resp_reply_parser_reset(&p);
    assert_int_equal(p.pos, 0);
    assert_null(p.error);
}

/* ---- writers ------------------------------------------------------------ */

static void check_writers(int64_t v)
{
    char got[RESP_HEADER_MAX + 8], want[64];
    size_t n;
    struct resp_reply_parser p;

    memset(got, 'Z', sizeof(got));
    n = resp_write_integer(got, v);
    snprintf(want, sizeof(want), ":%" PRId64 "\r\n", v);
    assert_int_equal(n, strlen(want));
    assert_true(n <= RESP_HEADER_MAX);
    assert_memory_equal(got, want, n);
    assert_int_equal(got[n], 'Z');  /* no NUL or more written past it */

    /* what we write, we read back */
    resp_reply_parser_init(&p, RESP_DEFAULT_MAX_BULK);
    assert_int_equal(resp_parse_reply(&p, got, n), RESP_OK);
    assert_int_equal(p.integer, v);

    memset(got, 'Z', sizeof(got));
    n = resp_write_array_header(got, v);
    snprintf(want, sizeof(want), "*%" PRId64 "\r\n", v);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(got, want, n);
    assert_int_equal(got[n], 'Z');

    if (v >= 0) {
        memset(got, 'Z', sizeof(got));
        n = resp_write_bulk_header(got, (size_t)v);
        snprintf(want, sizeof(want), "$%" PRIu64 "\r\n", (uint64_t)v);
        assert_int_equal(n, strlen(want));
        assert_int_equal(resp_bulk_header_len((size_t)v), n);
        assert_memory_equal(got, want, n);
        assert_int_equal(got[n], 'Z');
    }
}

static void test_writers(void **state)
{
    char got[RESP_HEADER_MAX + 8];
    uint64_t rng = 42;
    int64_t p10 = 1;

    for (int64_t v = -1100; v <= 1100; v++)
        check_writers(v);
    for (int i = 0; i < 19; i++) {
        check_writers(p10 - 1);
        check_writers(p10);
        check_writers(p10 + 1);
        check_writers(-p10);
        check_writers(-p10 + 1);
        if (i < 18)
            p10 *= 10;
    }
    check_writers(INT64_MAX);
    check_writers(INT64_MAX - 1);
    check_writers(INT64_MIN);
    check_writers(INT64_MIN + 1);
    for (int i = 0; i < 20000; i++) {
        uint64_t r = rng_next(&rng);

        check_writers((int64_t)(r >> (r % 64)));
        check_writers(-(int64_t)(r >> (1 + r % 63)));
    }

    /* the widest bulk header */
    assert_int_equal(resp_write_bulk_header(got, SIZE_MAX), resp_bulk_header_len(SIZE_MAX));
    assert_true(resp_bulk_header_len(SIZE_MAX) <= RESP_HEADER_MAX);
    assert_memory_equal(got, "$18446744073709551615\r\n", 23);
    assert_int_equal(resp_bulk_header_len(0), 4);
    assert_int_equal(resp_bulk_header_len(9), 4);
    assert_int_equal(resp_bulk_header_len(10), 5);
    assert_int_equal(resp_write_array_header(got, -1), 5);
    assert_memory_equal(got, "*-1\r\n", 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_req_multibulk),
        cmocka_unit_test(test_req_incomplete),
        cmocka_unit_test(test_req_pipeline),
        cmocka_unit_test(test_req_pipeline_many),
        cmocka_unit_test(test_req_skip),
        cmocka_unit_test(test_req_inline),
        cmocka_unit_test(test_req_inline_unbalanced),
        cmocka_unit_test(test_req_errors),
        cmocka_unit_test(test_req_expected_dollar_every_byte),
        cmocka_unit_test(test_req_long_lines),
        cmocka_unit_test(test_req_unauth),
        cmocka_unit_test(test_req_unauth_toggle),
        cmocka_unit_test(test_req_max_bulk),
        cmocka_unit_test(test_req_offsets_fit),
        cmocka_unit_test(test_req_no_alloc_by_count),
        cmocka_unit_test(test_req_reset_shrinks),
        cmocka_unit_test(test_req_big_bulk_linear),
        cmocka_unit_test(test_req_trickle_linear),
        cmocka_unit_test(test_req_resume_contract),
        cmocka_unit_test(test_reply_resp2),
        cmocka_unit_test(test_reply_resp3),
        cmocka_unit_test(test_reply_errors),
        cmocka_unit_test(test_reply_depth),
        cmocka_unit_test(test_reply_long_line),
        cmocka_unit_test(test_reply_big_array_linear),
        cmocka_unit_test(test_reply_walk_array),
        cmocka_unit_test(test_writers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
