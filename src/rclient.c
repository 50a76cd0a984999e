/*
 * A blocking Redis client for the master's threads. See rclient.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rclient.h"
#include "resp.h"
#include "util.h"

/* Connects within timeout ms; the socket then has send/receive timeouts. */
int
rclient_dial(const char *addr, int64_t timeout, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    struct timeval tv = { .tv_sec = timeout / 1000, .tv_usec = (timeout % 1000) * 1000 };
    struct pollfd pfd;
    int fd, soerr = 0;
    socklen_t elen = sizeof(soerr);

    if (util_parse_addr(addr, &ss, &len) != CORDIS_OK) {
        snprintf(err, errlen, "bad address");
        return -1;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&ss, len) != 0 && errno != EINPROGRESS) {
        snprintf(err, errlen, "connect: %s", strerror(errno));
        close(fd);
        return -1;
    }
    pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
    if (poll(&pfd, 1, (int)timeout) != 1
        || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &elen) != 0 || soerr != 0) {
        snprintf(err, errlen, "connect: %s", soerr != 0 ? strerror(soerr) : "timed out");
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

void
rclient_set_timeout(int fd, int64_t ms)
{
    struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

int
rclient_sendv(int fd, int argc, const struct cstr *argv)
{
    size_t n = RESP_HEADER_MAX, at;
    char *buf;
    int rc = CORDIS_OK;

    for (int i = 0; i < argc; i++) {
        n += RESP_HEADER_MAX + argv[i].len + 2;
    }
    buf = malloc(n);
    if (buf == NULL) {
        return CORDIS_ERROR;
    }
    at = resp_write_array_header(buf, argc);
    for (int i = 0; i < argc; i++) {
        at += resp_write_bulk_header(buf + at, argv[i].len);
        memcpy(buf + at, argv[i].ptr, argv[i].len);
        at += argv[i].len;
        memcpy(buf + at, "\r\n", 2);
        at += 2;
    }
    for (size_t off = 0; off < at;) {
        ssize_t w = send(fd, buf + off, at - off, MSG_NOSIGNAL);

        if (w <= 0) {
            rc = CORDIS_ERROR;
            break;
        }
        off += (size_t)w;
    }
    free(buf);
    return rc;
}

int
rclient_send(int fd, int argc, const char *const *argv)
{
    struct cstr v[16];

    if (argc > 16) {
        return CORDIS_ERROR;
    }
    for (int i = 0; i < argc; i++) {
        v[i] = (struct cstr){ argv[i], strlen(argv[i]) };
    }
    return rclient_sendv(fd, argc, v);
}

/*
 * Parses one complete reply at the start of buf[0..len); its length, or 0
 * when more bytes are needed, or -1 when it is not RESP.
 */
ssize_t
rclient_parse(const char *buf, size_t len, struct resp_reply_parser *p)
{
    int rc;

    resp_reply_parser_init(p, RCLIENT_REPLY_MAX);
    rc = resp_parse_reply(p, buf, len);
    if (rc == RESP_OK) {
        return (ssize_t)p->len;
    }
    return rc == RESP_AGAIN ? 0 : -1;
}

/* Reads one reply into *buf (malloc'd; its length in *len). */
int
rclient_recv(int fd, char **buf, size_t *len, char *err, size_t errlen)
{
    struct resp_reply_parser p;
    size_t cap = 4096, have = 0;
    char *b = malloc(cap);

    while (b != NULL) {
        ssize_t n, whole = have > 0 ? rclient_parse(b, have, &p) : 0;

        if (whole > 0) {
            b[whole] = '\0';   /* room kept below: callers may read it as text */
            *buf = b;
            *len = (size_t)whole;
            return CORDIS_OK;
        }
        if (whole < 0 || have >= RCLIENT_REPLY_MAX) {
            snprintf(err, errlen, "bad reply");
            break;
        }
        if (have + 1 >= cap) {
            char *bigger = realloc(b, cap * 2);

            if (bigger == NULL) {
                break;
            }
            b = bigger;
            cap *= 2;
        }
        n = recv(fd, b + have, cap - have - 1, 0);
        if (n <= 0) {
            snprintf(err, errlen, "%s", n == 0 ? "connection closed" : strerror(errno));
            break;
        }
        have += (size_t)n;
    }
    free(b);
    return CORDIS_ERROR;
}

/* The elements of an array reply of scalars: pointers to each element's
 * text and its length (bulk payloads, or the line of + - :). At most max;
 * -1 when reply is not an array of scalars. */
int
rclient_elements(const char *reply, size_t len, const char **el, size_t *ellen, int max)
{
    struct resp_reply_parser p;
    size_t at = resp_array_header_len(reply, len);
    int n = 0;

    if (reply[0] != '*' || at == 0) {
        return -1;
    }
    while (at < len && n < max) {
        if (rclient_parse(reply + at, len - at, &p) <= 0 || p.type == '*') {
            return -1;
        }
        if (p.type == '$') {
            el[n] = p.integer < 0 ? NULL : reply + at + resp_bulk_header_len((size_t)p.integer);
            ellen[n] = p.integer < 0 ? 0 : (size_t)p.integer;
        } else {
            el[n] = reply + at + 1;
            ellen[n] = p.len - 3;
        }
        n++;
        at += p.len;
    }
    return n;
}

int
rclient_read(int fd, struct rclient_reader *rd, char **out, size_t *len, char *err,
             size_t errlen)
{
    struct resp_reply_parser p;

    if (rd->taken > 0) {
        memmove(rd->buf, rd->buf + rd->taken, rd->len - rd->taken);
        rd->len -= rd->taken;
        rd->taken = 0;
    }
    for (;;) {
        ssize_t n, whole = rd->len > 0 ? rclient_parse(rd->buf, rd->len, &p) : 0;

        if (whole > 0) {
            *out = malloc((size_t)whole + 1);
            if (*out == NULL) {
                snprintf(err, errlen, "out of memory");
                return CORDIS_ERROR;
            }
            memcpy(*out, rd->buf, (size_t)whole);
            (*out)[whole] = '\0';
            *len = (size_t)whole;
            rd->taken = (size_t)whole;
            return CORDIS_OK;
        }
        if (whole < 0 || rd->len >= RCLIENT_REPLY_MAX) {
            snprintf(err, errlen, "bad reply");
            return CORDIS_ERROR;
        }
        if (rd->cap - rd->len < 4096) {
            size_t cap = rd->cap == 0 ? 16384 : rd->cap * 2;
            char *b = realloc(rd->buf, cap);

            if (b == NULL) {
                snprintf(err, errlen, "out of memory");
                return CORDIS_ERROR;
            }
            rd->buf = b;
            rd->cap = cap;
        }
        n = recv(fd, rd->buf + rd->len, rd->cap - rd->len, 0);
        if (n <= 0) {
            snprintf(err, errlen, "%s", n == 0 ? "connection closed" : strerror(errno));
            return CORDIS_ERROR;
        }
        rd->len += (size_t)n;
    }
}

void
rclient_reader_free(struct rclient_reader *rd)
{
    free(rd->buf);
    memset(rd, 0, sizeof(*rd));
}

int
rclient_auth(int fd, const char *auth, char *err, size_t errlen)
{
    const char *a[] = { "AUTH", auth };
    char *r = NULL;
    size_t rl;

    if (auth[0] == '\0') {
        return CORDIS_OK;
    }
    if (rclient_send(fd, 2, a) != CORDIS_OK || rclient_recv(fd, &r, &rl, err, errlen) != CORDIS_OK) {
        return CORDIS_ERROR;
    }
    if (r[0] == '-') {
        snprintf(err, errlen, "AUTH: %.*s", (int)CORDIS_MIN(rl - 3, (size_t)100), r + 1);
        free(r);
        return CORDIS_ERROR;
    }
    free(r);
    return CORDIS_OK;
}

int
rclient_call(const char *addr, const char *auth, int64_t timeout, int argc,
             const char *const *argv, char **out, size_t *outlen, char *err, size_t errlen)
{
    int fd = rclient_dial(addr, timeout, err, errlen);
    int rc = CORDIS_ERROR;

    if (fd < 0) {
        return CORDIS_ERROR;
    }
    if (rclient_auth(fd, auth, err, errlen) != CORDIS_OK) {
        goto done;
    }
    if (rclient_send(fd, argc, argv) != CORDIS_OK) {
        snprintf(err, errlen, "send: %s", strerror(errno));
        goto done;
    }
    if (rclient_recv(fd, out, outlen, err, errlen) == CORDIS_OK) {
        if ((*out)[0] == '-') {
            snprintf(err, errlen, "%.*s", (int)CORDIS_MIN(*outlen - 3, (size_t)120), *out + 1);
            free(*out);
            *out = NULL;
        } else {
            rc = CORDIS_OK;
        }
    }
done:
    close(fd);
    return rc;
}

void
rclient_join_addr(char *out, size_t size, const char *ip, size_t iplen, const char *port,
                  size_t portlen)
{
    bool v6 = memchr(ip, ':', iplen) != NULL;

    snprintf(out, size, v6 ? "[%.*s]:%.*s" : "%.*s:%.*s", (int)iplen, ip, (int)portlen, port);
}

