/*
 * CLIENT: cordis's own clients, described and acted on as Redis does for
 * its own (the backends' clients are cordis's connections, which no client
 * should see or kill).
 *
 *   SETNAME GETNAME ID SETINFO INFO   this client, answered at once
 *   LIST [TYPE t] [ID id ...]         every worker's clients
 *   KILL addr | KILL <filters>        by ID, TYPE, ADDR, LADDR, USER, SKIPME,
 *                                     in every worker
 *   REPLY ON|OFF|SKIP                 replies dropped by cordis
 *   NO-EVICT, NO-TOUCH ON|OFF         accepted; nothing to do in a proxy
 *   UNBLOCK id                        0: no client is blocked
 *
 * LIST and KILL reach the other workers through the master: the asking
 * worker sends the question on its control channel, the master passes it
 * to every other worker (and says how many), each answers (a listing as a
 * memfd), and the asker answers the client once all have, or after
 * CLIENTS_DEADLINE_USEC with what it has.
 */
#ifndef CORDIS_CLIENTS_H
#define CORDIS_CLIENTS_H

#include "cordis.h"

struct worker;
struct session;
struct req;
struct ctl_clients;

/* How long an asking worker waits for the others' answers. */
#define CLIENTS_DEADLINE_USEC (1000 * 1000)

/* Answers a CLIENT subcommand: CORDIS_OK when the reply is attached,
 * CORDIS_EAGAIN when it waits for the other workers. */
int  clients_dispatch(struct worker *w, struct session *s, struct req *req, int argc,
                      const struct cstr *argv);

/* A CLIENT question or answer from the control channel (takes fd). */
void clients_on_ctl(struct worker *w, const struct ctl_clients *msg, int fd);

/* Answers questions whose deadline passed, with what came. */
void clients_sweep(struct worker *w, int64_t now);

/* Sets the client's name (CLIENT SETNAME, HELLO SETNAME): printable ASCII
 * without spaces, as Redis requires. CORDIS_OK or CORDIS_ERROR. */
int  clients_setname(struct session *s, const struct cstr *name);

#endif /* CORDIS_CLIENTS_H */
