/*
 * A worker process: a whole proxy in its own libev loop, accepting on its
 * own SO_REUSEPORT socket. It talks to the master over a socketpair and
 * shares nothing else but the shared-memory segment.
 */
#ifndef CORDIS_WORKER_H
#define CORDIS_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>

#include "cordis.h"
#include "replica.h"
#include "util.h"

struct conf;
struct shm;

/* Exit status of a worker that cannot start: the master will not respawn it. */
#define WORKER_EXIT_FATAL 2

struct worker_params {
    int             index;       /* worker number in its generation (0..n-1) */
    int             row;         /* stats row in shared memory */
    unsigned        generation;  /* worker generation (bumped by restarts) */
    int             nlisten;     /* listening sockets this worker accepts on */
    int             listen_fds[CORDIS_MAX_WORKERS];
    int             ctl_fd;      /* worker's end of the control socketpair */
    struct shm     *shm;
    const struct conf *conf;     /* config at fork time (the worker copies what it needs) */
};

struct session;
struct req;
struct clients_query;
struct backend_server;
struct backend_conn;
struct pubsub_entry;
struct shm_route;
struct stats_row;

/* The state of a worker process (one per process). */
struct worker {
    struct ev_loop        *loop;
    const struct worker_params *params;
    struct shm            *shm;
    struct stats_row      *stats;        /* our row in shared memory */
    struct conf           *conf;         /* live config (from shared memory) */
    uint64_t               conf_gen;     /* generation of conf */
    uint64_t               route_gen;    /* generation of route */
    struct shm_route      *route;        /* local copy of the route table */
    struct backend_server *slot_server[CORDIS_SLOTS]; /* primary per slot; NULL = not served */
    uint8_t                slot_state[CORDIS_SLOTS];  /* enum migrate_slot_state bits; 0 = plain */
    struct backend_server *slot_from[CORDIS_SLOTS];   /* migrate_from's primary, or NULL */
    struct replica_set    *slot_replicas[CORDIS_SLOTS]; /* where reads may go; NULL = the
                                                           primary (replica.h) */
    struct replica_set     group_replicas[CORDIS_MAX_GROUPS]; /* by route group index */
    bool                   replica_reads; /* some slot has replicas to read from: only then
                                             is slot_replicas looked at */
    struct req            *parked, *parked_tail;      /* waiting for a locked slot (migrate.c) */
    struct req            *retrying, *retrying_tail;  /* semi-async steps to send again */
    uint64_t               send_seq;     /* requests sent to backends so far */
    uint64_t               barrier_seq;  /* requests up to this one must be answered ... */
    uint64_t               barrier_gen;  /* ... to acknowledge this route generation; 0 = none */
    int                    ngroups;      /* groups of the route table, by id: */
    uint16_t               group_ids[CORDIS_MAX_GROUPS];          /* ascending */
    struct backend_server *group_server[CORDIS_MAX_GROUPS];       /* their primaries */
    uint8_t                groups_print; /* fingerprint of group_ids (SCAN cursors) */
    struct backend_server *servers;      /* every backend server in use */
    struct backend_conn   *private_conns;/* private and pub/sub connections (backend.c) */
    struct backend_conn   *dead_conns;   /* closed ones, freed at the flush point */
    unsigned               npinned;      /* sessions holding a private connection */
    struct pubsub_entry   *pubsub_list;  /* subscriptions to look at (pubsub.c) */

    struct session        *sessions;     /* open client connections */
    unsigned               nsessions;
    int64_t                reap_after;   /* earliest next look for departed clients (usec) */
    struct session        *flush_sessions;  /* sessions with replies to write */
    struct backend_conn   *flush_conns;  /* backend connections with bytes to send */
    struct session        *closed;       /* sessions to free at the flush point */

    struct clients_query  *client_queries;   /* CLIENT LIST/KILL waiting for other workers */
    uint32_t               client_query_seq; /* last query number */
    struct cstr           *argv;         /* scratch: arguments of the request being dispatched */
    size_t                 argv_cap;
    struct req            *free_reqs;    /* recycled requests */
    unsigned               nfree_reqs;

    ev_io                  accept_io[CORDIS_MAX_WORKERS];
    int                    naccept;
    ev_io                  ctl_io;
    ev_prepare             flush_prepare;   /* the once-per-iteration flush point */
    ev_timer               sweep_timer;     /* deadlines, retries, keepalive */
    ev_timer               retry_timer;     /* semi-async migration retries (migrate.c) */
    unsigned               sweeps;          /* sweep timer ticks */
    int64_t                now_usec;        /* monotonic time cached for this loop iteration; 0 = stale */
    int64_t                accept_paused_until; /* out of fds: resume then (usec); 0 = not paused */
    bool                   draining;        /* QUIT or RETIRE received */
    bool                   handoff;         /* RETIRE: idle clients go to the next generation */
    bool                   ctl_shut;        /* about to exit: the control channel takes no more */
    int64_t                drain_deadline;  /* monotonic usec */
};

/* The monotonic time in microseconds, read once per loop iteration: the
 * data path stamps many requests and connections per iteration. */
static inline int64_t
worker_now(struct worker *w)
{
    if (w->now_usec == 0) {
        w->now_usec = util_now_usec();
    }
    return w->now_usec;
}

/* Runs the worker; never returns. */
void worker_main(const struct worker_params *params) __attribute__((noreturn));


#endif /* CORDIS_WORKER_H */
