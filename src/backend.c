/*
 * Backend connections: connect, handshake, pipelined writes, in-order
 * replies, failure and reconnect. See backend.h.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "backend.h"
#include "replica.h"
#include "conf.h"
#include "log.h"
#include "mbuf.h"
#include "pubsub.h"
#include "request.h"
#include "resp.h"
#include "stats.h"
#include "util.h"
#include "worker.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

/* Backoff between reconnects: doubles from MIN up to MAX (or
 * backend.ping_period when that is shorter), so a restarted backend is used
 * again within a second. */
#define BACKEND_BACKOFF_MIN_USEC  (100 * 1000)
#define BACKEND_BACKOFF_MAX_USEC  (1000 * 1000)

static const char backend_ping[] = "*1\r\n$4\r\nPING\r\n";

static void backend_read_cb(struct ev_loop *loop, ev_io *io, int revents);
static void backend_write_cb(struct ev_loop *loop, ev_io *io, int revents);
static void backend_fail(struct worker *w, struct backend_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static struct backend_server *
backend_server_find(struct worker *w, const char *addr)
{
    for (struct backend_server *s = w->servers; s != NULL; s = s->next) {
        if (!s->retired && strcmp(s->addr, addr) == 0) {
            return s;
        }
    }
    return NULL;
}

/* The stats entry for addr in our row: the one it had before (a respawned
 * worker keeps counting), else a free one. */
static struct stats_backend *
backend_stats_entry(struct worker *w, const char *addr)
{
    struct stats_backend *free_entry = NULL;

    for (int i = 0; i < STATS_MAX_BACKENDS; i++) {
        struct stats_backend *e = &w->stats->backends[i];

        if (strcmp(e->addr, addr) == 0) {
            return e;
        }
        if (e->addr[0] == '\0' && free_entry == NULL) {
            free_entry = e;
        }
    }
    if (free_entry != NULL) {
        snprintf(free_entry->addr, sizeof(free_entry->addr), "%s", addr);
        free_entry->up = 1;
        free_entry->lag_bytes = -1;
    }
    return free_entry;
}

static struct backend_server *backend_server_with(struct worker *w, const char *addr,
                                                  int parallel);

struct backend_server *
backend_server_get(struct worker *w, const char *addr)
{
    return backend_server_with(w, addr, w->conf->backend.primary_parallel);
}

struct backend_server *
backend_replica_get(struct worker *w, const char *addr)
{
    return backend_server_with(w, addr, w->conf->backend.replica_parallel);
}

static struct backend_server *
backend_server_with(struct worker *w, const char *addr, int parallel)
{
    struct backend_server *s = backend_server_find(w, addr);
    int ndb = w->conf->backend.databases;

    if (s != NULL && s->parallel == parallel && s->ndb == ndb) {
        return s;
    }
    if (s != NULL) {
        /* Parallelism or database count changed: new connections for new
         * requests; the old ones finish what they hold, then close. */
        s->retired = true;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    if (util_parse_addr(addr, &s->sa, &s->salen) != CORDIS_OK) {
        free(s);
        return NULL;
    }
    snprintf(s->addr, sizeof(s->addr), "%s", addr);
    s->parallel = parallel;
    s->ndb = ndb;
    s->conns = calloc((size_t)ndb * (size_t)parallel, sizeof(*s->conns));
    if (s->conns == NULL) {
        free(s);
        return NULL;
    }
    s->stats = backend_stats_entry(w, addr);
    s->next = w->servers;
    w->servers = s;
    return s;
}

static void
backend_conn_set_state(struct worker *w, struct backend_conn *c, enum backend_state state)
{
    c->state = state;
    c->state_since = worker_now(w);
}

static void
backend_schedule(struct worker *w, struct backend_conn *c)
{
    if (!c->flush_queued) {
        c->flush_queued = true;
        c->flush_next = w->flush_conns;
        w->flush_conns = c;
    }
}

/* Appends a request to the connection's FIFO. */
static void
backend_push(struct backend_conn *c, struct req *req)
{
    req->bnext = NULL;
    req->conn = c;
    if (c->tail == NULL) {
        c->head = req;
    } else {
        c->tail->bnext = req;
    }
    c->tail = req;
    if (c->unsent == NULL) {
        c->unsent = req;
        c->unsent_off = 0;
    }
    c->unsent_bytes += req->send_len;
    c->inflight++;
}

/* Puts an internal request (AUTH/SELECT) in front of everything unsent. */
static int
backend_push_front(struct worker *w, struct backend_conn *c, const char *cmd,
                   const char *arg)
{
    struct cstr argv[2] = { { cmd, strlen(cmd) }, { arg, arg != NULL ? strlen(arg) : 0 } };
    struct req *req = req_new(w);

    if (req == NULL || req_encode(req, arg != NULL ? 2 : 1, argv) != CORDIS_OK) {
        if (req != NULL) {
            req_free(w, req);
        }
        return CORDIS_ERROR;
    }
    req->internal = 1;
    req->conn = c;
    /* Nothing has been written on a fresh connection: the FIFO head is unsent. */
    req->bnext = c->head;
    c->head = req;
    if (c->tail == NULL) {
        c->tail = req;
    }
    c->unsent = c->head;
    c->unsent_off = 0;
    c->unsent_bytes += req->send_len;
    c->inflight++;
    return CORDIS_OK;
}

static void
backend_on_connected(struct worker *w, struct backend_conn *c)
{
    char db[16];
    int one = 1;

    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    backend_conn_set_state(w, c, BACKEND_UP);
    if (c->server->stats != NULL) {
        c->server->stats->connects++;
        c->server->stats->up = 1;
        c->server->stats->loading = 0;
    }
    c->last_io = worker_now(w);
    snprintf(db, sizeof(db), "%d", c->db);
    /* Pushed to the front in reverse: AUTH goes first, then SELECT. */
    if ((c->db != 0 && backend_push_front(w, c, "SELECT", db) != CORDIS_OK)
        || (w->conf->backend.auth[0] != '\0'
            && backend_push_front(w, c, "AUTH", w->conf->backend.auth) != CORDIS_OK)) {
        backend_fail(w, c, "out of memory");
        return;
    }
    ev_io_stop(w->loop, &c->wio);
    ev_io_set(&c->rio, c->fd, EV_READ);
    ev_io_start(w->loop, &c->rio);
    if (c->unsent != NULL) {
        backend_schedule(w, c);
    }
    log_debug("connected to %s (db %d)", c->server->addr, c->db);
}

static void
backend_connect(struct worker *w, struct backend_conn *c)
{
    struct backend_server *s = c->server;

    c->fd = socket(s->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        backend_fail(w, c, "socket() failed: %s", strerror(errno));
        return;
    }
    if (connect(c->fd, (struct sockaddr *)&s->sa, s->salen) == 0) {
        backend_on_connected(w, c);
        return;
    }
    if (errno != EINPROGRESS) {
        backend_fail(w, c, "connect() failed: %s", strerror(errno));
        return;
    }
    backend_conn_set_state(w, c, BACKEND_CONNECTING);
    ev_io_set(&c->wio, c->fd, EV_WRITE);
    ev_io_start(w->loop, &c->wio);
}

static struct backend_conn *
backend_conn_new(struct backend_server *s, int db)
{
    struct backend_conn *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        return NULL;
    }
    c->server = s;
    c->db = db;
    c->fd = -1;
    ev_init(&c->rio, backend_read_cb);
    ev_init(&c->wio, backend_write_cb);
    resp_reply_parser_init(&c->parser, INT32_MAX);
    return c;
}

int
backend_send(struct worker *w, struct backend_server *s, int db, unsigned seed,
             struct req *req, const char **err)
{
    struct backend_conn **slot, *c;

    if (db < 0 || db >= s->ndb) {
        /* backend.databases shrank under a session that SELECTed more. */
        *err = "DB index is out of range";
        return CORDIS_ERROR;
    }
    slot = &s->conns[(size_t)db * (size_t)s->parallel + seed % (unsigned)s->parallel];
    if (*slot == NULL && (*slot = backend_conn_new(s, db)) == NULL) {
        *err = "out of memory";
        return CORDIS_ERROR;
    }
    c = *slot;
    if (s->stats != NULL) {
        s->stats->requests++;
    }
    if (c->state == BACKEND_DOWN) {
        if (worker_now(w) < c->retry_at) {
            *err = c->last_error;
            goto failed;
        }
        backend_connect(w, c);
        if (c->state == BACKEND_DOWN) {
            *err = c->last_error;
            goto failed;
        }
    }
    req->seq = ++w->send_seq;
    backend_push(c, req);
    if (c->state == BACKEND_UP) {
        backend_schedule(w, c);
    }
    return CORDIS_OK;

failed:
    if (s->stats != NULL) {
        s->stats->errors++;
    }
    return CORDIS_ERROR;
}

/* Answers every request held by the connection with an error, closes it,
 * and schedules the reconnect. */
static void
backend_fail(struct worker *w, struct backend_conn *c, const char *fmt, ...)
{
    struct req *req, *next;
    int64_t now = worker_now(w), backoff;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->last_error, sizeof(c->last_error), fmt, ap);
    va_end(ap);

    if (c->fd >= 0) {
        ev_io_stop(w->loop, &c->rio);
        ev_io_stop(w->loop, &c->wio);
        close(c->fd);
        c->fd = -1;
    }
    c->fails++;
    if (c->server->stats != NULL && !c->dead) {
        c->server->stats->failures++;
        c->server->stats->up = 0;
        c->server->stats->lag_bytes = -1;
    }
    if (!c->dead) {
        /* A replica back from this may be empty (restarted) or cut off:
         * no reads until ROLE on its new connection says it follows. */
        c->server->verified = false;
    }
    backoff = BACKEND_BACKOFF_MIN_USEC;
    for (unsigned i = 2; i < c->fails && backoff < BACKEND_BACKOFF_MAX_USEC; i++) {
        backoff *= 2;
    }
    if (w->conf->backend.ping_period > 0) {
        backoff = CORDIS_MIN(backoff, w->conf->backend.ping_period * 1000);
    }
    backoff = CORDIS_MAX(CORDIS_MIN(backoff, BACKEND_BACKOFF_MAX_USEC), BACKEND_BACKOFF_MIN_USEC);
    /* The first retry is immediate: a restarted backend is back at once. */
    c->retry_at = c->fails <= 1 ? now : now + backoff;
    backend_conn_set_state(w, c, BACKEND_DOWN);
    if (c->dead) {
        /* closed on purpose (its client left): not a backend failure */
    } else if (c->fails <= 2) {
        log_warn("backend %s (db %d) unavailable: %s; %d requests failed, retry %s",
                 c->server->addr, c->db, c->last_error, c->inflight,
                 c->fails <= 1 ? "now" : "with backoff");
    } else {
        log_debug("backend %s (db %d) still unavailable: %s", c->server->addr, c->db,
                  c->last_error);
    }

    req = c->head;
    c->head = c->tail = c->unsent = NULL;
    c->unsent_off = 0;
    c->unsent_bytes = 0;
    c->inflight = 0;
    if (c->rbuf != NULL) {
        mbuf_unref(c->rbuf);
        c->rbuf = NULL;
    }
    resp_reply_parser_reset(&c->parser);
    for (; req != NULL; req = next) {
        next = req->bnext;
        req->conn = NULL;
        if (req->internal) {
            req_free(w, req);
            continue;
        }
        if (!req->preset) {
            req_set_error(req, "ERR backend %s unavailable: %s", c->server->addr,
                          c->last_error);
            if (c->server->stats != NULL) {
                c->server->stats->errors++;
            }
        }
        req_finish(w, req);
    }
    if (c->kind == BACKEND_PRIVATE && !c->in_use) {
        backend_conn_close(w, c, "connection lost");   /* idle in the pool: no reconnect */
    }
}

/* True for error replies that mean "this server cannot serve right now". */
static bool
backend_reply_is_stale(const char *reply, size_t len)
{
    return (len >= 8 && memcmp(reply, "-LOADING", 8) == 0)
        || (len >= 11 && memcmp(reply, "-MASTERDOWN", 11) == 0);
}

/* Handles one complete reply for the head of the FIFO. */
static int
backend_reply(struct worker *w, struct backend_conn *c, const char *reply)
{
    struct req *req = c->head;

    if (req == NULL || req == c->unsent) {
        backend_fail(w, c, "reply without a request");
        return CORDIS_ERROR;
    }
    if (req->skip > 0) {
        req->skip--;   /* MULTI's +OK and the +QUEUED before EXEC's reply */
        return CORDIS_OK;
    }
    c->head = req->bnext;
    if (c->head == NULL) {
        c->tail = NULL;
    }
    c->inflight--;
    req->conn = NULL;
    if (req->internal) {
        if (req->probe) {
            replica_on_role(w, req->server, reply, c->parser.len);
            req_free(w, req);
            return CORDIS_OK;
        }
        if (c->parser.type == '-') {
            int n = (int)CORDIS_MIN(c->parser.len - 3, (size_t)80);

            req_free(w, req);
            backend_fail(w, c, "handshake refused: %.*s", n, reply + 1);
            return CORDIS_ERROR;
        }
        req_free(w, req);
        return CORDIS_OK;
    }
    req_set_reply_ref(req, c->rbuf, reply, c->parser.len, c->parser.type,
                      c->parser.integer);
    req_finish(w, req);
    if (c->parser.type == '-' && backend_reply_is_stale(reply, c->parser.len)) {
        /* A replica that lost its master, or a server still loading: this
         * connection is stale. Redial after a backoff step. */
        if (c->server->stats != NULL && reply[1] == 'L') {
            c->server->stats->loading = 1;
        }
        backend_fail(w, c, "backend answered %.*s",
                     (int)CORDIS_MIN(c->parser.len - 3, (size_t)60), reply + 1);
        return CORDIS_ERROR;
    }
    c->fails = 0;
    return CORDIS_OK;
}

static void
backend_read_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    struct backend_conn *c = (struct backend_conn *)io;
    struct worker *w = ev_userdata(loop);
    ssize_t n;
    int rc;

    if (c->rbuf == NULL && (c->rbuf = mbuf_new(MBUF_SIZE)) == NULL) {
        backend_fail(w, c, "out of memory");
        return;
    }
    if (mbuf_prepare_read(&c->rbuf, c->parser.need) != 0) {
        backend_fail(w, c, "out of memory");
        return;
    }
    n = read(c->fd, c->rbuf->data + c->rbuf->wpos, mbuf_room(c->rbuf));
    if (n == 0) {
        backend_fail(w, c, "connection closed by the backend");
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR) {
            backend_fail(w, c, "read() failed: %s", strerror(errno));
        }
        return;
    }
    c->rbuf->wpos += (size_t)n;
    c->last_io = worker_now(w);
    for (;;) {
        struct mbuf *b = c->rbuf;
        const char *start = b->data + b->rpos;

        rc = resp_parse_reply(&c->parser, start, mbuf_unparsed(b));
        if (rc == RESP_AGAIN) {
            if (mbuf_unparsed(b) == 0 && b->size > MBUF_SIZE) {
                /* A large reply went through: the replies still pointing
                 * into the buffer keep it; we start a standard one. */
                mbuf_unref(b);
                c->rbuf = NULL;
            }
            return;
        }
        if (rc != RESP_OK) {
            backend_fail(w, c, "bad reply: %s", c->parser.error);
            return;
        }
        b->rpos += c->parser.len;
        if (c->kind == BACKEND_PUBSUB && pubsub_on_push(w, c, start, c->parser.len)) {
            resp_reply_parser_reset(&c->parser);   /* a message: no request of ours */
            continue;
        }
        if (backend_reply(w, c, start) != CORDIS_OK) {
            return;
        }
        resp_reply_parser_reset(&c->parser);
        if (c->head == c->unsent && c->unsent != NULL) {
            /* The last reply awaited: send what gathered meanwhile. */
            backend_schedule(w, c);
        }
    }
}

/* Writes what is unsent, in one writev of up to IOV_MAX pieces at a time. */
static void
backend_write(struct worker *w, struct backend_conn *c)
{
    struct iovec iov[IOV_MAX];
    struct req *req;
    size_t skip;
    size_t offered;
    ssize_t n;
    int cnt;

    while (c->unsent != NULL) {
        cnt = 0;
        offered = 0;
        skip = c->unsent_off;
        for (req = c->unsent; req != NULL && cnt < IOV_MAX; req = req->bnext) {
            for (int i = 0; i < req->iovcnt && cnt < IOV_MAX; i++) {
                if (skip >= req->iov[i].iov_len) {
                    skip -= req->iov[i].iov_len;
                    continue;
                }
                iov[cnt].iov_base = (char *)req->iov[i].iov_base + skip;
                iov[cnt].iov_len = req->iov[i].iov_len - skip;
                offered += iov[cnt].iov_len;
                skip = 0;
                cnt++;
            }
        }
        n = writev(c->fd, iov, cnt);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                break;
            }
            backend_fail(w, c, "writev() failed: %s", strerror(errno));
            return;
        }
        c->last_io = worker_now(w);
        c->unsent_bytes -= (size_t)n;
        /* Advance over what went out; a request fully written is in flight. */
        size_t left = (size_t)n;
        while (c->unsent != NULL) {
            size_t rest = c->unsent->send_len - c->unsent_off;

            if (left < rest) {
                c->unsent_off += left;
                break;
            }
            left -= rest;
            c->unsent->sent_usec = c->last_io;
            c->unsent = c->unsent->bnext;
            c->unsent_off = 0;
        }
        if ((size_t)n < offered) {
            /* The kernel took less than we offered: wait for writability. */
            break;
        }
    }
    if (c->unsent != NULL) {
        if (!ev_is_active(&c->wio)) {
            ev_io_set(&c->wio, c->fd, EV_WRITE);
            ev_io_start(w->loop, &c->wio);
        }
    } else {
        ev_io_stop(w->loop, &c->wio);
    }
}

static void
backend_write_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    struct backend_conn *c = (struct backend_conn *)((char *)io - offsetof(struct backend_conn, wio));
    struct worker *w = ev_userdata(loop);
    int err = 0;
    socklen_t len = sizeof(err);

    if (c->state == BACKEND_CONNECTING) {
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
            err = errno;
        }
        if (err != 0) {
            backend_fail(w, c, "connect() failed: %s", strerror(err));
            return;
        }
        backend_on_connected(w, c);
        return;
    }
    backend_write(w, c);
}

/*
 * Whether to hold the unsent requests back for now. While earlier writes
 * still await replies, new requests gather until the last of those replies
 * comes in (or until they fill a batch), then go out in one write. The
 * backend would answer them after the earlier ones anyway, since a
 * connection is served in order; but under load, each write and each wakeup
 * of the backend then carries many requests instead of a few. An idle
 * connection sends at once, so a lone client waits for nothing.
 */
static bool
backend_hold(const struct backend_conn *c)
{
    return c->head != c->unsent && c->unsent_bytes < BACKEND_BATCH_BYTES;
}

void
backend_flush(struct worker *w)
{
    struct backend_conn *c = w->flush_conns, *next;

    w->flush_conns = NULL;
    for (; c != NULL; c = next) {
        next = c->flush_next;
        c->flush_queued = false;
        if (c->state == BACKEND_UP && c->unsent != NULL && !ev_is_active(&c->wio)
            && !backend_hold(c)) {
            backend_write(w, c);
        }
    }
}

/* The reply to req (written out) is late: past its own deadline (a
 * blocking command's timeout plus backend.recv_timeout) or the usual one. */
static bool
backend_overdue(const struct conf *conf, const struct req *req, int64_t now)
{
    if (req->deadline != 0) {
        return req->deadline > 0 && now > req->deadline;
    }
    return conf->backend.recv_timeout > 0
        && now - req->sent_usec > conf->backend.recv_timeout * 1000;
}

static void
backend_conn_sweep(struct worker *w, struct backend_conn *c, int64_t now)
{
    const struct conf *conf = w->conf;

    switch (c->state) {
    case BACKEND_CONNECTING:
        if (now - c->state_since > conf->backend.connect_timeout * 1000) {
            backend_fail(w, c, "connect timeout (%lld ms)",
                         (long long)conf->backend.connect_timeout);
        }
        break;
    case BACKEND_UP:
        if (c->head != NULL && c->head != c->unsent && backend_overdue(conf, c->head, now)) {
            /* Late replies would answer the wrong requests: close and redial. */
            backend_fail(w, c, "no reply within %lld ms",
                         (long long)conf->backend.recv_timeout);
        } else if (ev_is_active(&c->wio) && conf->backend.send_timeout > 0
                   && now - c->last_io > conf->backend.send_timeout * 1000) {
            backend_fail(w, c, "write blocked for %lld ms",
                         (long long)conf->backend.send_timeout);
        } else if (c->head == NULL && conf->backend.ping_period > 0
                   && now - c->last_io > conf->backend.ping_period * 1000) {
            struct req *ping = req_new(w);

            if (ping != NULL) {
                ping->internal = 1;
                req_set_bytes(ping, backend_ping, sizeof(backend_ping) - 1);
                backend_push(c, ping);
                c->last_io = now;
                backend_schedule(w, c);
            }
        }
        break;
    case BACKEND_DOWN:
        break;
    }
}

static bool
backend_server_idle(const struct backend_server *s)
{
    if (s->nprivate > s->npool) {
        return false;   /* a client holds a connection, or subscriptions live here */
    }
    for (int i = 0; i < s->ndb * s->parallel; i++) {
        if (s->conns[i] != NULL && s->conns[i]->inflight > 0) {
            return false;
        }
    }
    return true;
}

static void
backend_server_free(struct worker *w, struct backend_server *s)
{
    while (s->pool != NULL) {
        backend_conn_close(w, s->pool, "connection retired");
    }
    backend_collect(w);
    for (int i = 0; i < s->ndb * s->parallel; i++) {
        struct backend_conn *c = s->conns[i];

        if (c == NULL) {
            continue;
        }
        if (c->inflight > 0) {
            backend_fail(w, c, "connection retired");
        } else if (c->fd >= 0) {
            ev_io_stop(w->loop, &c->rio);
            ev_io_stop(w->loop, &c->wio);
            close(c->fd);
        }
        if (c->flush_queued) {
            /* Unlink it from the flush list before it goes. */
            struct backend_conn **pp = &w->flush_conns;

            while (*pp != NULL && *pp != c) {
                pp = &(*pp)->flush_next;
            }
            if (*pp == c) {
                *pp = c->flush_next;
            }
        }
        mbuf_unref(c->rbuf);
        free(c);
    }
    free(s->conns);
    free(s);
}

void
backend_servers_collect(struct worker *w, bool force)
{
    struct backend_server **pp = &w->servers, *s;

    while ((s = *pp) != NULL) {
        if ((s->retired || force) && (force || backend_server_idle(s))) {
            *pp = s->next;
            log_debug("backend %s retired", s->addr);
            backend_server_free(w, s);
            continue;
        }
        pp = &s->next;
    }
}

/* --- private and pub/sub connections ---------------------------------------- */

/* Idle private connections kept per server; more are closed. */
#define BACKEND_POOL_MAX 64

static const char backend_unwatch[] = "*1\r\n$7\r\nUNWATCH\r\n";

static struct backend_conn *
backend_private_new(struct worker *w, struct backend_server *s, int db, enum backend_kind kind)
{
    struct backend_conn *c = backend_conn_new(s, db);

    if (c == NULL) {
        return NULL;
    }
    c->kind = (uint8_t)kind;
    c->pnext = w->private_conns;
    if (w->private_conns != NULL) {
        w->private_conns->pprev = c;
    }
    w->private_conns = c;
    s->nprivate++;
    return c;
}

/* Takes c out of its server's idle pool. */
static void
backend_pool_unlink(struct backend_conn *c)
{
    struct backend_conn **pp = &c->server->pool;

    while (*pp != NULL && *pp != c) {
        pp = &(*pp)->pool_next;
    }
    if (*pp == c) {
        *pp = c->pool_next;
        c->server->npool--;
    }
    c->pool_next = NULL;
}

void
backend_conn_connect(struct worker *w, struct backend_conn *c)
{
    if (c->state == BACKEND_DOWN && !c->dead) {
        backend_connect(w, c);
    }
}

struct backend_conn *
backend_private_take(struct worker *w, struct backend_server *s, int db, const char **err)
{
    struct backend_conn **pp, *c;

    for (pp = &s->pool; (c = *pp) != NULL; pp = &c->pool_next) {
        if (c->db == db && c->state != BACKEND_DOWN) {
            *pp = c->pool_next;
            c->pool_next = NULL;
            s->npool--;
            c->in_use = true;
            return c;
        }
    }
    if (db < 0 || db >= s->ndb) {
        *err = "DB index is out of range";
        return NULL;
    }
    c = backend_private_new(w, s, db, BACKEND_PRIVATE);
    if (c == NULL) {
        *err = "out of memory";
        return NULL;
    }
    c->in_use = true;
    backend_connect(w, c);
    if (c->state == BACKEND_DOWN) {
        *err = c->last_error[0] != '\0' ? c->last_error : "cannot connect";
        /* the message lives in c until the flush point frees it */
        backend_conn_close(w, c, "cannot connect");
        return NULL;
    }
    return c;
}

int
backend_conn_send(struct worker *w, struct backend_conn *c, struct req *req, const char **err)
{
    if (c->state == BACKEND_DOWN || c->dead) {
        *err = c->last_error[0] != '\0' ? c->last_error : "connection closed";
        return CORDIS_ERROR;
    }
    if (c->server->stats != NULL) {
        c->server->stats->requests++;
    }
    req->seq = ++w->send_seq;   /* the route barrier waits for it too */
    backend_push(c, req);
    if (c->state == BACKEND_UP) {
        backend_schedule(w, c);
    }
    return CORDIS_OK;
}

void
backend_private_give(struct worker *w, struct backend_conn *c)
{
    struct backend_server *s = c->server;

    if (c->dead) {
        return;
    }
    if (c->state != BACKEND_UP || c->inflight > 0 || s->retired || s->npool >= BACKEND_POOL_MAX) {
        backend_conn_close(w, c, "connection released");
        return;
    }
    if (c->dirty) {
        struct req *unwatch = req_new(w);

        if (unwatch == NULL) {
            backend_conn_close(w, c, "out of memory");
            return;
        }
        unwatch->internal = 1;
        req_set_bytes(unwatch, backend_unwatch, sizeof(backend_unwatch) - 1);
        backend_push(c, unwatch);
        backend_schedule(w, c);
        c->dirty = false;
    }
    c->in_use = false;
    c->pool_next = s->pool;
    s->pool = c;
    s->npool++;
}

void
backend_conn_close(struct worker *w, struct backend_conn *c, const char *why)
{
    if (c->dead && c->fd < 0 && c->head == NULL) {
        return;
    }
    if (!c->in_use && c->kind == BACKEND_PRIVATE) {
        backend_pool_unlink(c);
    }
    if (c->holder != NULL) {
        *c->holder = NULL;   /* the client holding it sees it gone, not freed */
        c->holder = NULL;
    }
    c->in_use = true;
    c->dead = true;
    if (c->head != NULL) {
        backend_fail(w, c, "%s", why);   /* answers what it holds */
    } else if (c->fd >= 0) {
        ev_io_stop(w->loop, &c->rio);
        ev_io_stop(w->loop, &c->wio);
        close(c->fd);
        c->fd = -1;
        c->state = BACKEND_DOWN;
    }
    if (c->flush_queued) {
        struct backend_conn **pp = &w->flush_conns;

        while (*pp != NULL && *pp != c) {
            pp = &(*pp)->flush_next;
        }
        if (*pp == c) {
            *pp = c->flush_next;
        }
        c->flush_queued = false;
    }
    if (c->server->pubsub == c) {
        c->server->pubsub = NULL;
    }
    /* Off the worker's list, onto the dead list (freed at the flush point:
     * callers up the stack may still look at it). */
    if (c->pprev != NULL) {
        c->pprev->pnext = c->pnext;
    } else if (w->private_conns == c) {
        w->private_conns = c->pnext;
    }
    if (c->pnext != NULL) {
        c->pnext->pprev = c->pprev;
    }
    c->pprev = NULL;
    c->pnext = w->dead_conns;
    w->dead_conns = c;
}

void
backend_collect(struct worker *w)
{
    struct backend_conn *c = w->dead_conns, *next;

    w->dead_conns = NULL;
    for (; c != NULL; c = next) {
        next = c->pnext;
        c->server->nprivate--;
        mbuf_unref(c->rbuf);
        free(c);
    }
}

struct backend_conn *
backend_pubsub_conn(struct worker *w, struct backend_server *s)
{
    if (s->pubsub == NULL) {
        s->pubsub = backend_private_new(w, s, 0, BACKEND_PUBSUB);
        if (s->pubsub == NULL) {
            return NULL;
        }
        s->pubsub->in_use = true;
        backend_connect(w, s->pubsub);
    }
    return s->pubsub;
}

void
backend_sweep(struct worker *w, int64_t now)
{
    for (struct backend_conn *c = w->private_conns, *next; c != NULL; c = next) {
        next = c->pnext;
        backend_conn_sweep(w, c, now);
    }
    for (struct backend_server *s = w->servers; s != NULL; s = s->next) {
        for (int i = 0; i < s->ndb * s->parallel; i++) {
            if (s->conns[i] != NULL) {
                backend_conn_sweep(w, s->conns[i], now);
            }
        }
    }
    backend_servers_collect(w, false);
}

void
backend_close_all(struct worker *w)
{
    while (w->private_conns != NULL) {
        backend_conn_close(w, w->private_conns, "worker exit");
    }
    backend_collect(w);
    backend_servers_collect(w, true);
}
