/*
 * Pub/sub: SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and their UN- forms, PUBLISH,
 * SPUBLISH and PUBSUB's introspection.
 *
 * Subscriptions fan in: each worker holds one pub/sub connection per
 * backend server and subscribes each channel there once, however many of
 * its clients want it; a message read from that connection goes, by
 * reference to the bytes read, to every client subscribed. So an idle
 * subscriber costs its session and a few small nodes, not a backend
 * connection.
 *
 * A channel lives on the group that owns its name's slot (hash tags
 * apply), as a key does; `__keyspace@N__:key` on the group of the key it
 * names. Patterns and `__keyevent@N__:` channels subscribe on every group.
 * Each client's own subscription set gives the counts one server would
 * give, and its confirmations are built here, in the order of the
 * arguments; a SUBSCRIBE to a channel the worker does not hold yet is
 * answered once the backend confirmed it, so a PUBLISH sent after the
 * confirmation is never missed.
 *
 * When a pub/sub connection fails, the worker reconnects with backoff and
 * subscribes everything again, logging the gap (messages published
 * meanwhile are lost, as for any Redis subscriber that reconnects). A
 * subscriber whose unsent messages pass session.pubsub_max_output (or
 * pubsub_soft_output for pubsub_soft_time) is closed, with a log line.
 */
#ifndef CORDIS_PUBSUB_H
#define CORDIS_PUBSUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cordis.h"

struct worker;
struct session;
struct req;
struct command;
struct backend_conn;

/* What one client is subscribed to (NULL in the session until it is). */
struct pubsub_client {
    void     *names[3];     /* per kind: tsearch trees of struct pubsub_name */
    unsigned  count[3];     /* names in each */
    int64_t   soft_since;   /* usec its output first passed the soft limit; 0 = below */
};

/* True for the commands this module answers. */
bool pubsub_is_command(const struct command *cmd);
/* Dispatches one of them. */
void pubsub_dispatch(struct worker *w, struct session *s, struct req *req, int argc,
                     const struct cstr *argv);
/* In subscribed mode: false (with req's error set, or PING answered) for
 * commands a subscribed client may not send. */
bool pubsub_allowed(struct worker *w, struct session *s, struct req *req, int argc,
                    const struct cstr *argv);
/* The session has a subscription of any kind. */
bool pubsub_subscribed(const struct session *s);

/*
 * A reply read on a pub/sub connection: true when it was a message (given
 * to the subscribers), false for the replies to our own requests
 * (confirmations, PONG), which go through the connection's FIFO.
 */
bool pubsub_on_push(struct worker *w, struct backend_conn *c, const char *reply, size_t len);

/* RESET: every subscription dropped. */
void pubsub_reset(struct worker *w, struct session *s);
/* The client is gone. */
void pubsub_close(struct worker *w, struct session *s);
/* Periodic: reconnects and resubscribes, frees channels nobody wants. */
void pubsub_sweep(struct worker *w, int64_t now);
/* Worker exit, once every client is closed: frees what is left. */
void pubsub_cleanup(struct worker *w);

#endif /* CORDIS_PUBSUB_H */
