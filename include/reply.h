/*
 * A growable buffer for building RESP replies made by cordis (local
 * commands, coalesced multi-key replies). Allocation failures are sticky:
 * check reply_ok once at the end.
 */
#ifndef CORDIS_REPLY_H
#define CORDIS_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct reply {
    char   *buf;
    size_t  len;
    size_t  cap;
    bool    failed;   /* an allocation failed: the content is incomplete */
};

void reply_init(struct reply *r);
void reply_free(struct reply *r);
void reply_raw(struct reply *r, const char *data, size_t len);
void reply_simple(struct reply *r, const char *text);      /* +text */
void reply_error(struct reply *r, const char *text);       /* -text */
void reply_int(struct reply *r, int64_t n);                /* :n */
void reply_bulk(struct reply *r, const char *data, size_t len);
void reply_cstr(struct reply *r, const char *text);        /* bulk of a C string */
void reply_nil(struct reply *r);                           /* $-1 */
void reply_array(struct reply *r, int64_t n);              /* *n */
void reply_printf(struct reply *r, const char *fmt, ...)   /* raw text */
    __attribute__((format(printf, 2, 3)));

#endif /* CORDIS_REPLY_H */
