/*
 * Fan-out: one request sent to every group's primary (in group id order),
 * the replies merged into one by the command's merge rule (command.h,
 * enum command_merge): all_ok, same, sum, min, concat, first, and, any_ok,
 * random. A fan-out gives exactly one reply.
 *
 * One group is exactly one Redis: its reply goes to the client as it came.
 * When every group answers the same error (a syntax error, say), that
 * error is the reply. Otherwise a failure names the groups that failed and
 * why, and, for anything but a read, the groups that did apply it:
 *
 *   -ERR FLUSHALL failed on group 2 (backend 127.0.0.1:6380 unavailable:
 *    connection refused); applied on group 1, 3
 *
 * The deadline is the backends': every group gets the request at once, and
 * each reply is due within backend.recv_timeout.
 *
 * SCAN visits one group per call, by id: the cursor carries the group's
 * index in its top 8 bits and a fingerprint of the group list in the next 8
 * (so it stays one decimal number, and a cursor from before the groups
 * changed is refused); the backend's cursor fills the 48 bits below. With
 * one group the cursor is the backend's own.
 */
#ifndef CORDIS_FANOUT_H
#define CORDIS_FANOUT_H

#include <stdint.h>

#include "cordis.h"

struct worker;
struct session;
struct req;

/* Sends req (a fan-out command, bytes set) to every group: CORDIS_OK, or
 * CORDIS_ERROR with req's error reply set. */
int  fanout_dispatch(struct worker *w, struct session *s, struct req *req, int argc,
                     const struct cstr *argv);

/* Merges the children's replies into the parent's, once all have one. */
void fanout_merge(struct req *parent);

/* SCAN's reply from one group: its cursor becomes cordis's. */
void fanout_scan_reply(struct worker *w, struct req *req);

/* SCAN cursors: group index, group-list fingerprint and backend cursor. */
#define FANOUT_CURSOR_BITS 48
#define FANOUT_CURSOR_MASK ((UINT64_C(1) << FANOUT_CURSOR_BITS) - 1)

static inline uint64_t
fanout_cursor_encode(unsigned group_index, uint8_t print, uint64_t backend)
{
    return ((uint64_t)group_index << 56) | ((uint64_t)print << FANOUT_CURSOR_BITS) | backend;
}

#endif /* CORDIS_FANOUT_H */
