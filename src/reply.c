/*
 * Reply builder.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reply.h"
#include "resp.h"

void
reply_init(struct reply *r)
{
    memset(r, 0, sizeof(*r));
}

void
reply_free(struct reply *r)
{
    free(r->buf);
    reply_init(r);
}

static bool
reply_reserve(struct reply *r, size_t more)
{
    size_t cap;
    char *grown;

    if (r->failed) {
        return false;
    }
    if (r->cap - r->len >= more) {
        return true;
    }
    cap = r->cap == 0 ? 256 : r->cap;
    while (cap - r->len < more) {
        cap *= 2;
    }
    grown = realloc(r->buf, cap);
    if (grown == NULL) {
        r->failed = true;
        return false;
    }
    r->buf = grown;
    r->cap = cap;
    return true;
}

void
reply_raw(struct reply *r, const char *data, size_t len)
{
    if (len > 0 && reply_reserve(r, len)) {
        memcpy(r->buf + r->len, data, len);
        r->len += len;
    }
}

void
reply_simple(struct reply *r, const char *text)
{
    reply_raw(r, "+", 1);
    reply_raw(r, text, strlen(text));
    reply_raw(r, "\r\n", 2);
}

void
reply_error(struct reply *r, const char *text)
{
    reply_raw(r, "-", 1);
    reply_raw(r, text, strlen(text));
    reply_raw(r, "\r\n", 2);
}

void
reply_int(struct reply *r, int64_t n)
{
    if (reply_reserve(r, RESP_HEADER_MAX)) {
        r->len += resp_write_integer(r->buf + r->len, n);
    }
}

void
reply_bulk(struct reply *r, const char *data, size_t len)
{
    if (reply_reserve(r, RESP_HEADER_MAX + len + 2)) {
        r->len += resp_write_bulk_header(r->buf + r->len, len);
        memcpy(r->buf + r->len, data, len);
        memcpy(r->buf + r->len + len, "\r\n", 2);
        r->len += len + 2;
    }
}

void
reply_cstr(struct reply *r, const char *text)
{
    reply_bulk(r, text, strlen(text));
}

void
reply_nil(struct reply *r)
{
    reply_raw(r, "$-1\r\n", 5);
}

void
reply_array(struct reply *r, int64_t n)
{
    if (reply_reserve(r, RESP_HEADER_MAX)) {
        r->len += resp_write_array_header(r->buf + r->len, n);
    }
}

void
reply_printf(struct reply *r, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reply_reserve(r, (size_t)n + 1)) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(r->buf + r->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    r->len += (size_t)n;
}
