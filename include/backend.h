/*
 * Backend connections, per worker: for each backend address (a server) and
 * each database, `parallel` connections shared by every client of the
 * worker. Requests from many clients are pipelined on them and their
 * replies matched in order (FIFO). Writes are gathered and sent with
 * writev at the end of a loop iteration; while earlier writes await their
 * replies, new requests wait for them to batch up (see backend_hold).
 *
 * A connection connects without blocking, sends AUTH and SELECT before any
 * client request, and on failure answers everything it holds with
 * "-ERR backend ADDR unavailable: REASON", then reconnects with backoff
 * (first retry at once). While it waits to retry, new requests fail at once.
 */
#ifndef CORDIS_BACKEND_H
#define CORDIS_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <ev.h>

#include "cordis.h"
#include "resp.h"

struct worker;
struct req;
struct mbuf;
struct stats_backend;

/* Who a connection serves. */
enum backend_kind {
    BACKEND_SHARED = 0,    /* every client of the worker, pipelined (server->conns) */
    BACKEND_PRIVATE,       /* one client at a time: WATCH, EXEC, blocking commands */
    BACKEND_PUBSUB,        /* the worker's subscriptions on this server (pubsub.c) */
};

enum backend_state {
    BACKEND_DOWN = 0,      /* no socket; retry_at says when to try again */
    BACKEND_CONNECTING,    /* connect() in progress */
    BACKEND_UP,            /* connected (handshake replies may still be due) */
};

struct backend_conn {
    ev_io                 rio;          /* readable; first member for the cast */
    ev_io                 wio;          /* writable (armed only after a short write) */
    struct backend_server *server;
    int                   db;           /* database it SELECTed */
    int                   fd;
    enum backend_state    state;
    int64_t               state_since;  /* monotonic usec of the last state change */
    int64_t               retry_at;     /* DOWN: earliest reconnect (usec) */
    unsigned              fails;        /* consecutive failures (backoff) */
    char                  last_error[128];

    struct req           *head;         /* oldest request in flight */
    struct req           *tail;
    struct req           *unsent;       /* first request not fully written */
    size_t                unsent_off;   /* bytes of it already written */
    size_t                unsent_bytes; /* bytes from there to the tail */
    unsigned              inflight;     /* requests in the FIFO */

    struct mbuf          *rbuf;         /* replies being read */
    struct resp_reply_parser parser;

    int64_t               last_io;      /* monotonic usec of the last read or write */
    bool                  flush_queued; /* on the worker's flush list */
    struct backend_conn  *flush_next;

    /* private and pub/sub connections only */
    uint8_t               kind;         /* enum backend_kind */
    bool                  in_use;       /* private: held by a client (else idle in the pool) */
    bool                  dirty;        /* private: may hold WATCHes (UNWATCH before reuse) */
    bool                  dead;         /* closed; freed at the flush point */
    struct backend_conn **holder;       /* private: the client's pointer to it, set to
                                           NULL when it closes (pinned.c) */
    struct backend_conn  *pool_next;    /* server's idle pool */
    struct backend_conn  *pprev, *pnext;/* worker's list of private and pub/sub connections */
};

/* Unsent bytes that go out even while earlier writes await replies. */
#define BACKEND_BATCH_BYTES (64 * 1024)

struct backend_server {
    struct backend_server *next;        /* worker's list */
    char                  addr[CORDIS_ADDR_LEN];
    struct sockaddr_storage sa;
    socklen_t             salen;
    int                   parallel;     /* connections per db */
    int                   ndb;          /* databases */
    struct backend_conn **conns;        /* ndb * parallel, created on first use */
    unsigned              rr;           /* round robin over parallel conns */
    bool                  retired;      /* no longer in the route table */
    struct stats_backend *stats;        /* its counters in our stats row; NULL if none free */
    uint16_t              group;        /* the group it is the primary of */
    bool                  replica;      /* a replica in the route (replica.c) */
    bool                  has_replicas; /* a primary whose replicas take reads (replica.c) */
    bool                  stale;        /* ROLE says its link to the primary is down */
    bool                  verified;     /* ROLE said "connected" since its last connection
                                           failure (a replica takes reads only then) */
    int64_t               probed_at;    /* usec of the last ROLE asked */
    unsigned              mark;         /* route rebuild bookkeeping */
    struct backend_conn  *pool;         /* idle private connections */
    unsigned              npool;
    unsigned              nprivate;     /* private and pub/sub connections open on it */
    struct backend_conn  *pubsub;       /* the worker's subscriptions here; NULL = none yet */
    void                 *subs;         /* pubsub.c's subscriptions on this server (tsearch root) */
    int64_t               pubsub_lost;  /* usec its pub/sub connection failed; 0 = fine */
};

/* Finds or creates the server for addr in the worker. NULL on bad address. */
struct backend_server *backend_server_get(struct worker *w, const char *addr);
/* The same for a replica (backend.replica_parallel connections per db). */
struct backend_server *backend_replica_get(struct worker *w, const char *addr);
/* Closes and frees servers marked retired once nothing is in flight on them. */
void backend_servers_collect(struct worker *w, bool force);

/*
 * Queues req on a connection of server for db; seed (the slot) picks one of
 * the parallel connections, so one key always takes the same one. On success the request is
 * owned by the connection until its reply arrives (or fails). When the
 * server is down and not yet due a retry, returns CORDIS_ERROR with the
 * reason in err (the caller answers the client with it).
 */
int  backend_send(struct worker *w, struct backend_server *server, int db,
                  unsigned seed, struct req *req, const char **err);

/*
 * A private connection to server for db, held by one client until given
 * back: an idle one from the server's pool, else a new one (connecting;
 * requests queue meanwhile). NULL with the reason in err.
 */
struct backend_conn *backend_private_take(struct worker *w, struct backend_server *server,
                                          int db, const char **err);
/*
 * Gives a private connection back: to the pool when it is up and has
 * nothing in flight (UNWATCH first when dirty), else closed.
 */
void backend_private_give(struct worker *w, struct backend_conn *c);
/* Closes a private or pub/sub connection now, whatever it holds: requests
 * in flight are answered with "-ERR <why>". */
void backend_conn_close(struct worker *w, struct backend_conn *c, const char *why);
/* The server's pub/sub connection, created (and connecting) on first use;
 * NULL when out of memory. */
struct backend_conn *backend_pubsub_conn(struct worker *w, struct backend_server *server);
/* Connects a DOWN private or pub/sub connection again. */
void backend_conn_connect(struct worker *w, struct backend_conn *c);
/* Queues req on a private or pub/sub connection (CORDIS_ERROR and err when
 * it is down). */
int  backend_conn_send(struct worker *w, struct backend_conn *c, struct req *req,
                       const char **err);
/* Frees connections closed during this iteration (the flush point). */
void backend_collect(struct worker *w);

/* Writes everything queued on the connections that have something to send. */
void backend_flush(struct worker *w);

/* Periodic work: request deadlines, connect timeouts, retries, keepalive. */
void backend_sweep(struct worker *w, int64_t now);

/* Closes every connection (worker exit). */
void backend_close_all(struct worker *w);

#endif /* CORDIS_BACKEND_H */
