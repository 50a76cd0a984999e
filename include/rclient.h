/*
 * A blocking Redis client for the master's threads (sentinel.c, reshard.c):
 * one socket, send/receive timeouts, replies read whole and walked with
 * resp.h's reply parser. Never used on the workers' data path.
 */
#ifndef CORDIS_RCLIENT_H
#define CORDIS_RCLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cordis.h"

struct resp_reply_parser;

/* Largest reply taken. */
#define RCLIENT_REPLY_MAX (4 << 20)

/* Connects within timeout ms; the socket has send/receive timeouts of
 * timeout too. -1 with err set. */
int rclient_dial(const char *addr, int64_t timeout, char *err, size_t errlen);

/* Changes the socket's send and receive timeouts (ms). */
void rclient_set_timeout(int fd, int64_t ms);

/* Sends one command (binary-safe arguments). */
int rclient_sendv(int fd, int argc, const struct cstr *argv);
/* The same with NUL-terminated arguments. */
int rclient_send(int fd, int argc, const char *const *argv);

/* Reads one whole reply into *buf (malloc'd, NUL-terminated, the caller
 * frees); its length in *len. For one reply at a time: bytes past it are
 * dropped. */
int rclient_recv(int fd, char **buf, size_t *len, char *err, size_t errlen);

/* A connection's bytes read but not yet taken, for pipelined replies. */
struct rclient_reader {
    char   *buf;
    size_t  len, cap;
    size_t  taken;   /* bytes of buf handed out already */
};

/* The next reply of a pipeline as a copy (*out malloc'd, the caller frees). */
int rclient_read(int fd, struct rclient_reader *rd, char **out, size_t *len, char *err,
                 size_t errlen);
void rclient_reader_free(struct rclient_reader *rd);

/* On a new connection to addr: AUTH (when auth is not ""), then argv; the
 * reply in *out unless it is an error (then err has its text). */
int rclient_call(const char *addr, const char *auth, int64_t timeout, int argc,
                 const char *const *argv, char **out, size_t *outlen, char *err, size_t errlen);

/* AUTH on an open connection (nothing when auth is ""). */
int rclient_auth(int fd, const char *auth, char *err, size_t errlen);

/* Length of the complete reply at buf, 0 when more is needed, -1 when it
 * is not RESP. */
ssize_t rclient_parse(const char *buf, size_t len, struct resp_reply_parser *p);

/* The scalar elements of an array reply (bulk payloads or the text of
 * + - :), at most max; a nil bulk gives NULL. -1 when reply is not an
 * array of scalars. */
int rclient_elements(const char *reply, size_t len, const char **el, size_t *ellen, int max);

/* "ip" and "port" as one address ("[ip]:port" for IPv6). */
void rclient_join_addr(char *out, size_t size, const char *ip, size_t iplen, const char *port,
                       size_t portlen);

#endif /* CORDIS_RCLIENT_H */
