/*
 * Pinned connections: transactions (MULTI, EXEC, DISCARD, WATCH, UNWATCH)
 * and blocking commands (BLPOP and the like, XREAD BLOCK, WAIT), which need
 * a backend connection of their own for a while.
 *
 * A transaction is queued in cordis: MULTI and the commands after it are
 * answered +OK / +QUEUED here (or with the error that makes EXEC answer
 * EXECABORT), and EXEC sends MULTI, the queue and EXEC in one write on a
 * private connection, whose EXEC reply goes to the client. So a client
 * holds a backend connection only while EXEC runs, or from WATCH until
 * EXEC, DISCARD or UNWATCH. Every key of a transaction, the WATCHed ones
 * included, must be in one group (else -CROSSSLOT, and EXEC aborts).
 *
 * A blocking command goes on a private connection too; its deadline is its
 * own timeout plus backend.recv_timeout. Private connections come from a
 * per-server pool and go back to it clean (UNWATCH first when needed); a
 * connection whose client left mid-request is closed, never reused.
 *
 * Order: a pinned request goes out only once every earlier request of its
 * client has its reply, and nothing after it is dispatched until it has
 * its own; so a pipeline such as SET k 5, MULTI, INCR k, EXEC runs in the
 * order it was written, over shared and private connections alike.
 */
#ifndef CORDIS_PINNED_H
#define CORDIS_PINNED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cordis.h"

struct worker;
struct session;
struct req;
struct command;
struct backend_conn;
struct backend_server;

/* A session's transaction and private-connection state (NULL until used). */
struct pinned {
    struct backend_conn   *conn;       /* private connection held, or NULL */
    struct backend_server *server;     /* the transaction's group, once known */
    char                  *queue;      /* commands queued since MULTI, as RESP */
    size_t                 queue_len;
    size_t                 queue_cap;
    int                    nqueued;
    int64_t                block_ms;   /* timeout of the blocking command on its way; -1 = none */
    struct req            *req;        /* the request on its way on conn, or NULL */
    bool                   multi;      /* between MULTI and EXEC / DISCARD */
    bool                   aborted;    /* a command failed to queue: EXEC aborts */
    bool                   watching;   /* WATCH went out on conn */
    bool                   watch_lost; /* conn closed while WATCHing: the next EXEC
                                          aborts, as if a watched key changed */
    bool                   blocking;   /* a blocking command is on conn */
};

/* Kinds of pinned clients, for the stats gauges. */
enum pinned_kind {
    PINNED_TRANSACTION = 0,            /* inside MULTI, or WATCHing */
    PINNED_BLOCKING,                   /* waiting for a blocking command */
    PINNED_PUBSUB,                     /* subscribed */
    PINNED_KINDS
};

/* Dispatches a command of the pinned kind (transactions, blocking). */
void pinned_dispatch(struct worker *w, struct session *s, struct req *req, int argc,
                     const struct cstr *argv);

/* A blocking command (BLPOP, XREAD BLOCK, ...), on a private connection. */
void pinned_block(struct worker *w, struct session *s, struct req *req, int argc,
                  const struct cstr *argv);

/* Inside MULTI, commands other than these are queued. */
bool pinned_runs_in_multi(const struct command *cmd);
/* Queues a command inside MULTI: +QUEUED, or an error that aborts EXEC. */
void pinned_queue(struct worker *w, struct session *s, struct req *req, int argc,
                  const struct cstr *argv);
/* A command failed before it could be queued (unknown, arity): EXEC aborts. */
void pinned_flag_error(struct session *s);

/* A pinned request finished (its reply, or an error): the connection
 * goes back, the client's later requests may go. */
void pinned_on_finish(struct worker *w, struct req *req);
/* Every request before the waiting pinned one is answered: send it. */
void pinned_resume(struct worker *w, struct session *s);

/*
 * Takes a place among session.max_pinned for s (kept while it holds a
 * private connection or subscriptions). False when the worker is full;
 * req then has the error.
 */
bool pinned_admit(struct worker *w, struct session *s, struct req *req);
/* Gives the place back when s holds nothing pinned any more. */
void pinned_release_place(struct worker *w, struct session *s);
/* Updates the stats gauges to what s is now. */
void pinned_update_kinds(struct worker *w, struct session *s);

/* CLIENT UNBLOCK: a blocked client is answered as at its timeout (or
 * with -UNBLOCKED) and its connection closed. False when not blocked. */
bool pinned_unblock(struct worker *w, struct session *s, bool error);

/* RESET: out of MULTI, WATCHes dropped. */
void pinned_reset(struct worker *w, struct session *s);
/* The client is gone: connections closed or returned, state freed. */
void pinned_close(struct worker *w, struct session *s);
/* Draining worker past its deadline: blocked clients get an error now. */
void pinned_drain_expired(struct worker *w);

#endif /* CORDIS_PINNED_H */
