/*
 * A client connection: reads RESP requests, dispatches each (answered here,
 * forwarded to one backend, or split over several), and writes the replies
 * back strictly in request order.
 *
 * Backpressure: when a client has session.max_pipeline requests in flight
 * or session.max_output reply bytes queued, it is not read until it drains.
 */
#ifndef CORDIS_SESSION_H
#define CORDIS_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>

#include "resp.h"

struct worker;
struct req;
struct mbuf;
struct command;

/* CLIENT REPLY: replies the client gets. */
enum session_reply_mode {
    SESSION_REPLY_ON = 0,
    SESSION_REPLY_OFF,         /* none */
    SESSION_REPLY_SKIP_NEXT,   /* none for the next command */
};

struct session {
    ev_io            rio;           /* readable; first member for the cast */
    ev_io            wio;           /* writable (armed only after a short write) */
    struct worker   *worker;
    struct session  *prev, *next;   /* worker's list of sessions */
    struct session  *flush_next;    /* worker's flush list, or closed list */
    int              fd;
    uint64_t         id;            /* CLIENT ID */
    char             peer[CORDIS_ADDR_LEN];

    struct mbuf     *in;            /* bytes read, parsed from in->rpos; NULL while
                                       no partial request waits */
    struct resp_req_parser parser;

    struct req      *head;          /* oldest request without its reply written */
    struct req      *tail;
    unsigned         nreqs;         /* requests in the FIFO */
    unsigned         ndone;         /* of those, with their reply */
    size_t           out_off;       /* bytes of head's reply already written */
    size_t           out_bytes;     /* reply bytes done but not yet written */
    uint32_t         reply_avg;     /* running average reply size (backpressure estimate) */

    int              db;            /* SELECTed database */
    int64_t          created;       /* monotonic usec it connected (CLIENT LIST age) */
    const struct command *last_cmd; /* the last command it sent (CLIENT LIST cmd) */
    uint8_t          reply_mode;    /* enum session_reply_mode (CLIENT REPLY) */
    bool             authed;        /* AUTH passed (or no password set) */
    bool             quitting;      /* QUIT seen: read nothing more */
    bool             closing;       /* on the closed list */
    bool             flush_queued;  /* on the flush list */
    bool             reading;       /* rio is started */
    char            *name;          /* CLIENT SETNAME */
    int64_t          last_read;     /* monotonic usec of the last byte read */
    int64_t          write_blocked; /* monotonic usec a write first could not finish; 0 = none */
    size_t           last_outq;     /* bytes in the kernel's send queue at the last sweep */

    struct pinned   *pin;           /* transaction / private connection state (pinned.c) */
    struct pubsub_client *ps;       /* subscriptions (pubsub.c) */
    struct req      *pin_wait;      /* a pinned request waiting for the earlier ones */
    bool             pin_hold;      /* a pinned request is on its way: nothing later goes */
    bool             pin_placed;    /* holds a place among session.max_pinned */
    uint8_t          pin_kinds;     /* kinds it is counted as in the gauges (pinned.c) */
    unsigned         migrate_holds; /* its requests waiting on a slot's lock or on the old
                                       group (migrate.c): nothing later goes, so one
                                       client's requests keep their order */
};

struct ctl_handoff;

/* Accepts one client on fd (non-blocking already); NULL when refused. */
struct session *session_open(struct worker *w, int fd, const char *peer);
/* Takes over a client handed from a retiring worker, with its state. */
void session_adopt(struct worker *w, int fd, const struct ctl_handoff *h);
/* Writes queued replies of every session on the flush list. */
void session_flush(struct worker *w);
/* Frees sessions closed during this iteration. */
void session_collect(struct worker *w);
/* Appends a request made by cordis (a pub/sub message) to the session's
 * FIFO; req_finish then makes it ready. */
void session_push_reply(struct session *s, struct req *req);
/* Puts a session on the flush list (a reply of its became ready). */
void session_schedule(struct session *s);
/* Closes a session at the next flush point. */
void session_close(struct session *s, const char *why);
/* Periodic work: idle clients, stuck writers, draining. */
void session_sweep(struct worker *w, int64_t now);
/* Stops reading from every client: the worker drains. */
void session_drain_all(struct worker *w);

#endif /* CORDIS_SESSION_H */
