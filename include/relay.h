/*
 * Control messages from the master: commands to workers and client
 * connections relayed between worker generations (and masters during a
 * binary upgrade), with retries when a channel is full.
 */
#ifndef CORDIS_RELAY_H
#define CORDIS_RELAY_H

#include <stdbool.h>

#include <ev.h>

#include "ctl.h"

struct master;

/* Sends a command to every worker (retiring ones too when asked). */
void relay_send_all(struct master *m, enum ctl_cmd cmd, bool retiring_too);
/* ev_io callback on a worker's (or the old master's) channel: clients
 * handed over are passed to a current worker, or to the new master. */
void relay_ctl_cb(struct ev_loop *loop, ev_io *io, int revents);
/* ev_timer callback: retries what full channels refused. */
void relay_retry_cb(struct ev_loop *loop, ev_timer *timer, int revents);
/* Drops everything still waiting (the master exits). */
void relay_forget(struct master *m);

#endif /* CORDIS_RELAY_H */
