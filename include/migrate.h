/*
 * Slot states in the data path: Codis's slot lock and migration.
 *
 * A slot entry may be `locked` (requests for it wait, in order, until it is
 * unlocked; bounded by backend.recv_timeout) and may have `migrate_from`:
 * it now belongs to its new group, but keys may still be on the old one.
 * Before a request with a key in such a slot goes to the new group, the
 * key is taken care of on the old one, on the worker's shared connection
 * to it, as codis-proxy does (forward_method):
 *
 *   sync (0)        SLOTSMGRTTAGONE <host> <port> 3000 <key>: the old group
 *                   moves the key (and its {tag}) to the new one; then the
 *                   request goes to the new group.
 *   semi-async (1)  SLOTSMGRT-EXEC-WRAPPER <key> <request>: the old group
 *                   answers [0, _] (not here: forward), [1, _] (being moved:
 *                   retry, at once 5 times, then every few ms) or
 *                   [2, reply] (it ran the request: that is the reply).
 *   vanilla (2)     cordis's own, for stock Redis: MIGRATE <host> <port> ""
 *                   <db> <migrate.timeout> [AUTH <pw>] REPLACE KEYS <keys>,
 *                   every key of the request in such slots; +OK or +NOKEY
 *                   (moved, or never there): the request goes to the new
 *                   group. REPLACE makes a try cut off by the timeout safe
 *                   to repeat: while a key is on the old group, that copy is
 *                   the one clients wrote last.
 *
 * Multi-key commands split per key in such slots (multikey.c). Keyless
 * requests go straight to the new group.
 *
 * The route barrier: after a route change, a worker publishes (in its stats
 * row) the route generation once every request it had sent before the
 * change has its reply. The master's fillslots answers only when every
 * worker has, so the dashboard can rely on no request still bypassing the
 * migration protocol.
 */
#ifndef CORDIS_MIGRATE_H
#define CORDIS_MIGRATE_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>

#include "cordis.h"

struct worker;
struct session;
struct req;
struct backend_server;

/* The retry timer's period: the shortest pause between semi-async tries. */
#define MIGRATE_RETRY_SEC 0.001

/* What a request waiting on its slot's state carries (req->wait), and a
 * step's link to the request it is for. */
struct req_wait {
    struct req  *waiter;     /* a step: the request it is for */
    const char  *key;        /* the key to take care of (in the request's bytes) */
    uint32_t     key_len;
    uint16_t     slot;
    int16_t      db;
    uint16_t     nkeys;      /* vanilla: keys to move first (keys), or 0 = key */
    uint8_t      tries;      /* semi-async "being moved" answers so far */
    int64_t      parked_at;  /* waiting for a lock or a retry since (usec) */
    int64_t      retry_at;   /* semi-async: next try due (usec) */
    struct cstr *keys;       /* owned array; the bytes are the request's */
};

/* Arguments of MIGRATE before its keys, at most: MIGRATE host port "" db
 * timeout AUTH pw REPLACE KEYS. */
#define MIGRATE_HEAD_MAX 10

/* Room for the texts migrate_head points argv at. */
struct migrate_head {
    char host[CORDIS_ADDR_LEN];
    char db[16];
    char timeout[24];
};

/*
 * MIGRATE <host> <port> "" <db> <timeout ms> [AUTH <auth>] REPLACE KEYS,
 * for the "host:port" target, into argv (MIGRATE_HEAD_MAX entries): the
 * worker's move on access and the master's mover send the same command.
 * Returns how many entries, or -1 for a target without a port.
 */
int migrate_head(struct cstr *argv, struct migrate_head *h, const char *target, int db,
                 int64_t timeout_ms, const char *auth);

/* Frees req->wait (req_free). */
void migrate_wait_free(struct req *req);

/* Bits of worker->slot_state. */
enum migrate_slot_state {
    MIGRATE_LOCKED    = 1 << 0,
    MIGRATE_FROM      = 1 << 1,   /* migrate_from set: keys may be on the old group */
    MIGRATE_SEMIASYNC = 1 << 2,   /* forward_method 1 (else sync) */
    MIGRATE_VANILLA   = 1 << 3,   /* forward_method 2: MIGRATE on stock Redis */
};

/* Codis's forward methods, as fillslots names them. */
enum migrate_method {
    MIGRATE_METHOD_SYNC = 0,
    MIGRATE_METHOD_SEMI_ASYNC = 1,
    MIGRATE_METHOD_VANILLA = 2,   /* cordis's own: MIGRATE ... KEYS (reshard.h) */
};

/*
 * Sends req (bytes set), whose key is `key` in `slot`, a slot with a state:
 * parked while it is locked, its key taken care of on the old group while
 * it migrates, then sent to the slot's group on database db. It always
 * ends with req finished or on a backend connection.
 */
void migrate_send(struct worker *w, struct req *req, unsigned slot, int db,
                  const char *key, size_t keylen);

/* The vanilla method moves every key of a request at once: the keys in
 * slots with migrate_from (pointers into the request's bytes), taken by
 * req (freed with it). Call before migrate_send. */
int migrate_set_keys(struct worker *w, struct req *req, int argc, const struct cstr *argv);

/* A request of ours (SLOTSMGRT...) got its reply: the step after it. */
void migrate_on_reply(struct worker *w, struct req *step);

/* A new route was applied: parked requests whose slot is free go. */
void migrate_route_applied(struct worker *w);

/* Periodic: parked requests past their bound, semi-async retries, the
 * route barrier. Also called at the flush point while something waits. */
void migrate_sweep(struct worker *w, int64_t now);

/* The worker's retry_timer: semi-async steps whose pause is over go again. */
void migrate_retry_cb(struct ev_loop *loop, ev_timer *timer, int revents);

/* Worker exit: parked and retrying requests are answered with an error. */
void migrate_cleanup(struct worker *w);

#endif /* CORDIS_MIGRATE_H */
