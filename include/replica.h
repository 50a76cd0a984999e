/*
 * Replica reads: with backend.replica_reads on (and backend.primary_only
 * off), a read-only command whose keys are in one group goes to a replica
 * of that group, as codis-proxy reads from its replica_groups. (MGET and
 * other commands split over groups go to the primaries.)
 *
 * Replicas on this host (a loopback or local interface address) come
 * first; requests spread over them round robin, and over the others only
 * when none of them can take it. A replica is skipped while:
 *   - its connection is down (refused, timed out, in its retry backoff);
 *   - it answered -LOADING or -MASTERDOWN (its connection is then redialled
 *     after a backoff step); the request that got that answer is sent to
 *     the primary instead, so the client never sees it;
 *   - ROLE, asked every second on its shared connection, says its link to
 *     the primary is not "connected": it may hold data of any age.
 * With no replica left, reads go to the primary. Writes, scripts (EVAL_RO
 * too), MULTI, blocking commands and pub/sub always go to the primary, as
 * do requests for a slot that is locked or migrating.
 *
 * What a replica serves is as stale as its replication lag: a client may
 * not read its own write at once (Redis replication is asynchronous).
 */
#ifndef CORDIS_REPLICA_H
#define CORDIS_REPLICA_H

#include <stdbool.h>
#include <stdint.h>

#include "cordis.h"

struct worker;
struct req;
struct shm_group;
struct backend_server;

/* A group's replicas, near ones first. */
struct replica_set {
    uint8_t                n;          /* replicas in s */
    uint8_t                nnear;      /* the first nnear are on this host */
    unsigned               rr;         /* round robin */
    struct backend_server *s[CORDIS_MAX_REPLICAS];
};

/* Builds set from a route group's replicas (servers marked in use). */
void replica_set_build(struct worker *w, const struct shm_group *g, struct replica_set *set);

/*
 * A replica to send a read of `slot` to, or NULL (no replica, or none fit:
 * the primary it is). Sets req to be sent to the primary if the replica
 * answers that it cannot serve.
 */
struct backend_server *replica_pick(struct worker *w, unsigned slot, struct req *req);

/* A read sent to a replica came back: true when it must go to the primary
 * instead (the replica said -LOADING or -MASTERDOWN); then it was sent. */
bool replica_on_reply(struct worker *w, struct req *req);

/* Periodic: ROLE on each replica (its link) and on each primary with
 * replicas (their lag in bytes, for the stats), at most once a second. */
void replica_probe(struct worker *w, int64_t now);

/* ROLE's reply (an internal request of replica_probe). */
void replica_on_role(struct worker *w, struct backend_server *s, const char *reply, size_t len);

#endif /* CORDIS_REPLICA_H */
