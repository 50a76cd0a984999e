/*
 * Stats rows in shared memory. Each worker writes only its own row, with
 * plain stores (no locks, no atomics on the hot path: one writer per row).
 * Readers (the master's admin API) sum the rows; a torn read of a 64-bit
 * counter cannot happen on the 64-bit targets we build for.
 *
 * Rows outlive the worker that wrote them: a respawned worker takes the same
 * row and keeps counting, so totals never go backwards except on a reset.
 */
#ifndef CORDIS_STATS_H
#define CORDIS_STATS_H

#include <stdint.h>
#include <sys/types.h>

#include "command.h"
#include "cordis.h"

/* Latency histogram: bucket i counts requests that took < 2^i microseconds
 * (bucket 0: < 1 us ... bucket 24: < 16.7 s); the last one is everything
 * slower. */
#define STATS_HIST_BUCKETS 26

struct stats_cmd {
    uint64_t calls;                      /* requests answered */
    uint64_t usecs;                      /* total time, parsed to reply queued */
    uint64_t fails;                      /* errors made by cordis */
    uint64_t redis_errors;               /* error replies from Redis */
    uint64_t hist[STATS_HIST_BUCKETS];   /* latency buckets */
};

/* Backends one worker talks to; a worker with more records only these. */
#define STATS_MAX_BACKENDS CORDIS_MAX_GROUPS

struct stats_backend {
    char     addr[CORDIS_ADDR_LEN];  /* "host:port"; "" = unused entry */
    uint64_t requests;               /* client requests sent to it */
    uint64_t errors;                 /* requests answered with a backend error */
    uint64_t connects;               /* successful connects */
    uint64_t failures;               /* connection failures (refused, reset, timeout) */
    uint32_t up;                     /* 1 while the last connection attempt worked */
    uint8_t  loading;                /* it answered -LOADING since it last connected */
    uint8_t  stale;                  /* a replica whose link to its primary is down */
    int64_t  lag_bytes;              /* a replica: its primary's offset minus its own, as its
                                        primary's ROLE says; -1 = not known */
};

struct stats_row {
    /* written by the master */
    uint32_t in_use;            /* 1 once a worker has had this row */
    int32_t  pid;               /* worker now in the row; 0 = none */
    uint32_t generation;        /* worker generation of that process */
    uint32_t respawns;          /* times a worker was started in this row */
    int64_t  started;           /* unix time the current worker started */

    /* written by the worker */
    uint64_t sessions_total;    /* client connections accepted */
    uint64_t sessions_alive;    /* client connections open now */
    uint64_t bytes_in;          /* bytes read from clients */
    uint64_t bytes_out;         /* bytes written to clients */
    uint64_t auth_failures;     /* failed AUTH attempts */
    uint64_t rejected;          /* connections refused (max_clients) */
    uint64_t pinned[3];         /* clients pinned now, by enum pinned_kind (gauges) */
    uint64_t route_ack;         /* route generation whose earlier requests are all answered */
    struct stats_cmd cmd[COMMAND_COUNT];
    struct stats_backend backends[STATS_MAX_BACKENDS];
} __attribute__((aligned(64)));

/* The sum of every row (and, for a view, minus the reset baseline). */
struct stats_total {
    uint64_t sessions_total;
    uint64_t sessions_alive;
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t auth_failures;
    uint64_t rejected;
    uint64_t pinned[3];      /* by enum pinned_kind */
    uint64_t calls;          /* all commands */
    uint64_t fails;
    uint64_t redis_errors;
    struct stats_cmd cmd[COMMAND_COUNT];
};

/* Histogram bucket for a duration in microseconds. */
static inline unsigned
stats_hist_bucket(uint64_t usec)
{
    unsigned b = usec == 0 ? 0 : 64 - (unsigned)__builtin_clzll(usec);
    return b < STATS_HIST_BUCKETS ? b : STATS_HIST_BUCKETS - 1;
}

/* Records one answered request in a row. */
static inline void
stats_record(struct stats_row *row, enum command_id id, uint64_t usec,
             int failed, int redis_error)
{
    struct stats_cmd *c = &row->cmd[id];

    c->calls++;
    c->usecs += usec;
    c->fails += (uint64_t)failed;
    c->redis_errors += (uint64_t)redis_error;
    c->hist[stats_hist_bucket(usec)]++;
}

#endif /* CORDIS_STATS_H */
