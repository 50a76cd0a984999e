/*
 * Client sessions: read, parse, dispatch, write replies in order.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "backend.h"
#include "conf.h"
#include "ctl.h"
#include "dispatch.h"
#include "log.h"
#include "mbuf.h"
#include "pinned.h"
#include "pubsub.h"
#include "request.h"
#include "session.h"
#include "shm.h"
#include "stats.h"
#include "util.h"
#include "worker.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

static uint64_t session_next_id = 1;
/* Reply size assumed for a client's requests until its replies are seen. */
#define SESSION_REPLY_GUESS 4096
/* CLIENT ID = per-worker counter * stride + the worker's stats row. */
#define SESSION_ID_STRIDE 256

static void session_read_cb(struct ev_loop *loop, ev_io *io, int revents);
static void session_write_cb(struct ev_loop *loop, ev_io *io, int revents);
static void session_process(struct session *s);

/*
 * Held back when too many requests are in flight, or when their replies
 * may not fit in session.max_output: replies not yet back are counted at
 * this client's average reply size, so a client pipelining large GETs
 * without reading is stopped before the backends send them all.
 */
static bool
session_backpressured(const struct session *s)
{
    const struct conf *conf = s->worker->conf;

    return s->nreqs >= (unsigned)conf->session.max_pipeline
        || s->out_bytes + (uint64_t)(s->nreqs - s->ndone) * s->reply_avg
               >= (uint64_t)conf->session.max_output;
}

/* Reads while the client may send more: not quitting, not held back. */
static void
session_update_reading(struct session *s)
{
    bool want = !s->closing && !s->quitting && !session_backpressured(s);

    if (want && !s->reading) {
        ev_io_start(s->worker->loop, &s->rio);
        s->reading = true;
    } else if (!want && s->reading) {
        ev_io_stop(s->worker->loop, &s->rio);
        s->reading = false;
    }
}

/*
 * Places under proxy.max_clients are one count in shared memory, taken and
 * given back with atomic operations, so the limit is the proxy's however
 * SO_REUSEPORT spreads the connections over the workers. A worker's own
 * share is its stats row's sessions_alive: when a worker dies, the master
 * gives its places back.
 */
static bool
session_take_place(struct worker *w)
{
    uint32_t *clients = &w->shm->header.clients;

    if (__atomic_add_fetch(clients, 1, __ATOMIC_ACQ_REL)
        <= (uint32_t)w->conf->proxy.max_clients) {
        return true;
    }
    __atomic_sub_fetch(clients, 1, __ATOMIC_ACQ_REL);
    return false;
}

static void
session_give_place(struct worker *w)
{
    __atomic_sub_fetch(&w->shm->header.clients, 1, __ATOMIC_ACQ_REL);
}

/* True when the peer of fd has closed (or reset) and sent nothing first. */
static bool
session_fd_departed(int fd)
{
    char byte;
    ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* A session whose client has gone with nothing of it pending. */
static bool
session_departed(struct session *s)
{
    if (s->closing || s->head != NULL || (s->in != NULL && mbuf_unparsed(s->in) != 0)) {
        return false;
    }
    return session_fd_departed(s->fd);
}

/*
 * At the limit: a client that connected and left at once (a port probe,
 * say) may still hold a place because its EOF has not been read yet. Such
 * sessions are closed before anyone is refused. At most once per
 * SESSION_REAP_USEC, so a flood of connections against a full proxy does
 * not make it peek at every client each time.
 */
#define SESSION_REAP_USEC (50 * 1000)

static unsigned
session_reap_departed(struct worker *w)
{
    int64_t now = worker_now(w);
    struct session *s, *next;
    unsigned closed = 0;

    if (now < w->reap_after) {
        return 0;
    }
    w->reap_after = now + SESSION_REAP_USEC;
    for (s = w->sessions; s != NULL; s = next) {
        next = s->next;
        if (session_departed(s)) {
            session_close(s, "closed by the client");
            closed++;
        }
    }
    return closed;
}

/* A session for fd, in a place already taken. */
static struct session *
session_create(struct worker *w, int fd, const char *peer)
{
    struct session *s;
    int one = 1;

    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        log_error("out of memory accepting %s, connection closed", peer);
        session_give_place(w);
        close(fd);
        return NULL;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    s->worker = w;
    s->fd = fd;
    /* Unique across workers: the worker's row in the low bits. */
    s->id = session_next_id++ * SESSION_ID_STRIDE + (uint64_t)w->params->row;
    snprintf(s->peer, sizeof(s->peer), "%s", peer);
    resp_req_parser_init(&s->parser, w->conf->session.max_bulk_len);
    s->authed = w->conf->session.auth[0] == '\0';
    s->reply_avg = SESSION_REPLY_GUESS;
    s->last_read = worker_now(w);
    s->created = s->last_read;
    ev_io_init(&s->rio, session_read_cb, fd, EV_READ);
    ev_io_init(&s->wio, session_write_cb, fd, EV_WRITE);
    s->next = w->sessions;
    if (w->sessions != NULL) {
        w->sessions->prev = s;
    }
    w->sessions = s;
    w->nsessions++;
    w->stats->sessions_total++;
    w->stats->sessions_alive++;
    session_update_reading(s);
    log_debug("session %llu opened from %s", (unsigned long long)s->id, s->peer);
    return s;
}

struct session *
session_open(struct worker *w, int fd, const char *peer)
{
    static const char full[] = "-ERR max number of clients reached\r\n";

    if (!session_take_place(w)) {
        if (session_fd_departed(fd)) {
            close(fd);   /* connected and left already: nobody to refuse */
            return NULL;
        }
        if (session_reap_departed(w) > 0 && session_take_place(w)) {
            return session_create(w, fd, peer);
        }
        /* Best effort: the socket is fresh, the error fits its buffer. */
        if (write(fd, full, sizeof(full) - 1) < 0) {
            /* the client is gone already */
        }
        close(fd);
        w->stats->rejected++;
        return NULL;
    }
    return session_create(w, fd, peer);
}

void
session_adopt(struct worker *w, int fd, const struct ctl_handoff *h)
{
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    char peer[CORDIS_ADDR_LEN] = "?";
    struct session *s;

    if (getpeername(fd, (struct sockaddr *)&ss, &sslen) == 0) {
        util_addr_text((struct sockaddr *)&ss, peer, sizeof(peer));
    }
    /* The client was admitted when it first connected: a handover never
     * refuses it, even while the count briefly holds it twice. */
    __atomic_add_fetch(&w->shm->header.clients, 1, __ATOMIC_ACQ_REL);
    s = session_create(w, fd, peer);
    if (s == NULL) {
        return;
    }
    w->stats->sessions_total--;   /* counted when it first connected */
    s->db = h->db >= 0 && h->db < w->conf->backend.databases ? h->db : 0;
    s->authed = s->authed || h->authed;
    if (h->name[0] != '\0' && memchr(h->name, '\0', sizeof(h->name)) != NULL) {
        s->name = strdup(h->name);
    }
    log_debug("session %llu from %s adopted from a retiring worker", (unsigned long long)s->id,
              s->peer);
    /* Anything the client sent meanwhile is waiting in the socket. */
}

/*
 * A draining worker lets go of a client at a reply boundary: handed to the
 * next generation when there is one (the socket goes with whatever the
 * client sent meanwhile), else closed.
 */
static void
session_release(struct session *s)
{
    struct worker *w = s->worker;
    struct ctl_handoff h;

    if (w->handoff) {
        memset(&h, 0, sizeof(h));
        h.type = CTL_HANDOFF;
        h.authed = s->authed;
        h.db = s->db;
        if (s->name != NULL) {
            snprintf(h.name, sizeof(h.name), "%s", s->name);
        }
        if (ctl_send_handoff(w->params->ctl_fd, &h, s->fd) == CORDIS_OK) {
            session_close(s, "handed to the next worker generation");
            return;
        }
        if ((errno == EAGAIN || errno == EWOULDBLOCK) && !w->ctl_shut) {
            return;   /* the channel is full: the sweep tries again */
        }
    }
    session_close(s, "worker draining");
}

void
session_schedule(struct session *s)
{
    struct worker *w = s->worker;

    if (!s->flush_queued && !s->closing) {
        s->flush_queued = true;
        s->flush_next = w->flush_sessions;
        w->flush_sessions = s;
    }
}

void
session_close(struct session *s, const char *why)
{
    struct worker *w = s->worker;

    if (s->closing) {
        return;
    }
    log_debug("session %llu from %s closed: %s", (unsigned long long)s->id, s->peer, why);
    s->closing = true;
    if (s->pin != NULL || s->ps != NULL || s->pin_placed) {
        pinned_close(w, s);   /* private connections back or closed, subscriptions dropped */
    }
    ev_io_stop(w->loop, &s->rio);
    ev_io_stop(w->loop, &s->wio);
    s->reading = false;
    close(s->fd);
    s->fd = -1;
    if (s->prev != NULL) {
        s->prev->next = s->next;
    } else {
        w->sessions = s->next;
    }
    if (s->next != NULL) {
        s->next->prev = s->prev;
    }
    w->nsessions--;
    w->stats->sessions_alive--;
    session_give_place(w);
    /* Freed at the flush point, never inside a callback that still uses it. */
    s->prev = w->closed;
    w->closed = s;
}

static void
session_free(struct worker *w, struct session *s)
{
    struct req *req, *next;

    for (req = s->head; req != NULL; req = next) {
        next = req->next;
        if (req->done) {
            req_free(w, req);
        } else {
            /* Still at a backend: it is freed when its reply arrives. */
            req->session = NULL;
        }
    }
    resp_req_parser_free(&s->parser);
    mbuf_unref(s->in);
    free(s->name);
    free(s);
}

void
session_collect(struct worker *w)
{
    struct session *s = w->closed, *prev;

    w->closed = NULL;
    for (; s != NULL; s = prev) {
        prev = s->prev;
        session_free(w, s);
    }
}

/* Appends a request to the session's FIFO. */
static void
session_push(struct session *s, struct req *req)
{
    req->next = NULL;
    if (s->tail == NULL) {
        s->head = req;
    } else {
        s->tail->next = req;
    }
    s->tail = req;
    s->nreqs++;
}

void
session_push_reply(struct session *s, struct req *req)
{
    session_push(s, req);
}

/* Dispatches the request the parser just completed (it starts at buf). */
static void
session_dispatch(struct session *s, const char *buf)
{
    struct worker *w = s->worker;
    struct resp_req_parser *p = &s->parser;
    const char *base = p->is_inline ? p->inline_buf : buf;
    struct cstr *argv;
    struct req *req;
    int argc = (int)p->argc;

    if (w->argv_cap < (size_t)argc) {
        struct cstr *grown = realloc(w->argv, sizeof(*grown) * (size_t)argc);

        if (grown == NULL) {
            session_close(s, "out of memory");
            return;
        }
        w->argv = grown;
        w->argv_cap = (size_t)argc;
    }
    argv = w->argv;
    for (int i = 0; i < argc; i++) {
        argv[i].ptr = base + p->argv[i].off;
        argv[i].len = p->argv[i].len;
    }
    if ((util_strieq(argv[0].ptr, argv[0].len, "post")
         || util_strieq(argv[0].ptr, argv[0].len, "host:"))) {
        log_warn("client %s sent what looks like HTTP (%.*s); possible cross-protocol attack, connection closed",
                 s->peer, (int)CORDIS_MIN(argv[0].len, (size_t)16), argv[0].ptr);
        session_close(s, "HTTP request");
        return;
    }

    req = req_new(w);
    if (req == NULL) {
        session_close(s, "out of memory");
        return;
    }
    req->session = s;
    req->start_usec = worker_now(w);
    session_push(s, req);
    dispatch_request(w, s, req, argc, argv, p->is_inline ? NULL : s->in, buf, p->len);
}

/* Parses and dispatches what is buffered, as far as limits allow. */
static void
session_process(struct session *s)
{
    struct worker *w = s->worker;
    struct mbuf *in;
    const char *buf;
    int rc;

    while (!s->closing && !s->quitting && !s->pin_hold && s->migrate_holds == 0
           && !session_backpressured(s)) {
        in = s->in;
        if (in == NULL || mbuf_unparsed(in) == 0) {
            break;
        }
        buf = in->data + in->rpos;
        s->parser.unauth = !s->authed;
        s->parser.max_bulk = w->conf->session.max_bulk_len;
        rc = resp_parse_request(&s->parser, buf, mbuf_unparsed(in));
        if (rc == RESP_AGAIN) {
            break;
        }
        if (rc == RESP_OK) {
            session_dispatch(s, buf);
        } else if (rc == RESP_ERROR) {
            struct req *req = req_new(w);

            log_debug("session %llu from %s: %s", (unsigned long long)s->id, s->peer,
                      s->parser.error);
            if (req == NULL) {
                session_close(s, "out of memory");
                return;
            }
            req->session = s;
            req->quit = 1;
            session_push(s, req);
            req_set_error(req, "ERR %s", s->parser.error);
            s->quitting = true;
            in->rpos = in->wpos;
            resp_req_parser_reset(&s->parser);
            req_finish(w, req);
            break;
        } else if (rc == RESP_CLOSE) {
            session_close(s, "protocol");
            return;
        }
        in->rpos += s->parser.len;
        resp_req_parser_reset(&s->parser);
    }
    /* Hold an input buffer only while part of a request waits in it: an
     * idle client costs no buffer (requests in flight keep theirs). */
    if (s->in != NULL && mbuf_unparsed(s->in) == 0) {
        mbuf_unref(s->in);
        s->in = NULL;
    }
    session_update_reading(s);
}

static void
session_read_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    struct session *s = (struct session *)io;
    struct worker *w = s->worker;
    ssize_t n;

    if (s->parser.need > (size_t)w->conf->session.max_query
        || (s->in != NULL && mbuf_unparsed(s->in) >= (size_t)w->conf->session.max_query)) {
        /* One request may not make us hold more than session.max_query. */
        log_warn("client %s sent a request over session.max_query (%lld bytes); closed",
                 s->peer, (long long)w->conf->session.max_query);
        session_close(s, "query buffer limit");
        return;
    }
    if ((s->in == NULL && (s->in = mbuf_new(s->parser.need)) == NULL)
        || mbuf_prepare_read(&s->in, s->parser.need) != 0) {
        session_close(s, "out of memory");
        return;
    }
    n = read(s->fd, s->in->data + s->in->wpos, mbuf_room(s->in));
    if (n == 0) {
        session_close(s, "closed by the client");
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR) {
            session_close(s, strerror(errno));
        }
        return;
    }
    s->in->wpos += (size_t)n;
    s->last_read = worker_now(w);
    w->stats->bytes_in += (uint64_t)n;
    session_process(s);
}

/* Bytes read but not yet parsed into a request. */
static size_t
session_unparsed(const struct session *s)
{
    return s->in != NULL ? mbuf_unparsed(s->in) : 0;
}

/*
 * True at a reply boundary with nothing more on the way: no request in
 * flight, nothing buffered, and nothing waiting in the socket either (a
 * close with unread bytes would reset the connection and lose a request
 * the client already sent).
 */
static bool
session_at_rest(struct session *s)
{
    char byte;
    ssize_t n;

    if (s->closing || s->head != NULL || session_unparsed(s) != 0) {
        return false;
    }
    if (s->pin_placed || (s->pin != NULL && s->pin->multi)) {
        return false;   /* handed over (or closed) only once unpinned */
    }
    if (s->worker->handoff) {
        return true;   /* unread bytes travel with the socket */
    }
    n = recv(s->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

/* Pops written requests off the head; false when the session closed. */
static bool
session_advance(struct session *s, size_t written)
{
    struct worker *w = s->worker;

    while (s->head != NULL && s->head->done) {
        struct req *req = s->head;
        size_t rest = req->reply_len - s->out_off;

        if (written < rest) {
            s->out_off += written;
            return true;
        }
        written -= rest;
        s->out_off = 0;
        s->head = req->next;
        if (s->head == NULL) {
            s->tail = NULL;
        }
        s->nreqs--;
        s->ndone--;
        s->out_bytes -= req->reply_len;
        if (req->quit) {
            req_free(w, req);
            session_close(s, "quit");
            return false;
        }
        req_free(w, req);
    }
    return true;
}

/* Writes the replies that are ready, in order. */
static void
session_write(struct session *s)
{
    struct worker *w = s->worker;
    struct iovec iov[IOV_MAX];
    size_t offered;
    ssize_t n;
    int cnt;

    while (s->head != NULL && s->head->done && !s->closing) {
        struct req *req = s->head;
        size_t skip = s->out_off;

        cnt = 0;
        offered = 0;
        for (; req != NULL && req->done && cnt < IOV_MAX; req = req->next) {
            iov[cnt].iov_base = (char *)req->reply + skip;
            iov[cnt].iov_len = req->reply_len - skip;
            offered += iov[cnt].iov_len;
            skip = 0;
            cnt++;
            if (req->quit) {
                break;
            }
        }
        n = writev(s->fd, iov, cnt);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                break;
            }
            session_close(s, strerror(errno));
            return;
        }
        w->stats->bytes_out += (uint64_t)n;
        if (n > 0) {
            s->write_blocked = 0;   /* a slow reader that reads is not stuck */
        }
        if (!session_advance(s, (size_t)n)) {
            return;
        }
        if ((size_t)n < offered) {
            break;
        }
    }
    if (s->head != NULL && s->head->done) {
        if (!ev_is_active(&s->wio)) {
            ev_io_start(w->loop, &s->wio);
        }
        if (s->write_blocked == 0) {
            s->write_blocked = worker_now(w);
        }
    } else {
        ev_io_stop(w->loop, &s->wio);
        s->write_blocked = 0;
    }
    /* Requests held back by backpressure may go now. */
    session_process(s);
    if (s->head == NULL && s->quitting) {
        session_close(s, "protocol error or quit");
    } else if (w->draining && session_at_rest(s)) {
        session_release(s);
    }
}

static void
session_write_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    struct session *s = (struct session *)((char *)io - offsetof(struct session, wio));

    session_write(s);
}

void
session_flush(struct worker *w)
{
    while (w->flush_sessions != NULL) {
        struct session *s = w->flush_sessions, *next;

        w->flush_sessions = NULL;
        for (; s != NULL; s = next) {
            next = s->flush_next;
            s->flush_queued = false;
            if (!s->closing && !ev_is_active(&s->wio)) {
                session_write(s);
            }
        }
    }
}

void
session_sweep(struct worker *w, int64_t now)
{
    const struct conf *conf = w->conf;
    struct session *s, *next;

    for (s = w->sessions; s != NULL; s = next) {
        next = s->next;
        if (s->write_blocked != 0) {
            /* The kernel's send queue shrinking means the client reads,
             * however slowly (writability comes only once a third of the
             * buffer is free, so our own writes may not show it). */
            int queued = 0;

            if (ioctl(s->fd, SIOCOUTQ, &queued) == 0) {
                if ((size_t)queued < s->last_outq) {
                    s->write_blocked = now;
                }
                s->last_outq = (size_t)queued;
            }
        }
        if (s->write_blocked != 0 && conf->session.send_timeout > 0
            && now - s->write_blocked > conf->session.send_timeout * 1000) {
            session_close(s, "replies not read within session.send_timeout");
        } else if (s->head == NULL && conf->session.recv_timeout > 0
                   && now - s->last_read > conf->session.recv_timeout * 1000) {
            session_close(s, "idle past session.recv_timeout");
        }
    }
}

void
session_drain_all(struct worker *w)
{
    struct session *s, *next;

    for (s = w->sessions; s != NULL; s = next) {
        next = s->next;
        if (session_at_rest(s)) {
            session_release(s);
        }
    }
}
