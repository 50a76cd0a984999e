/*
 * Binary upgrade (SIGUSR2), as nginx does it: the running master starts the
 * binary found at its own path (the new one, once the package replaced it)
 * as a second master that inherits the listening sockets, the admin socket
 * and the shared-memory segment (for the stats). Both serve until the
 * operator sends QUIT to the old master (its pid is then in PID_FILE.oldbin);
 * if the new master fails, the old one takes its pid file back.
 *
 * The descriptors travel in one environment variable:
 *
 *   CORDIS_INHERIT=listen=ADDR;fds=5,6;admin=7;shm=8;peer=9
 *
 * peer is a control channel (ctl.h) between the two masters: when the old
 * one retires, its workers hand their clients over it to the new one.
 */
#ifndef CORDIS_UPGRADE_H
#define CORDIS_UPGRADE_H

#include <stdbool.h>
#include <sys/types.h>

#include "cordis.h"

#define UPGRADE_ENV "CORDIS_INHERIT"

struct master;

/* What a new master found in its environment; fds -1 when absent. */
struct upgrade_inherit {
    char addr[CORDIS_ADDR_LEN];          /* proxy.listen of the old master */
    int  nlisten;
    int  listen_fds[CORDIS_MAX_WORKERS];
    int  admin_fd;
    int  shm_fd;
    int  peer_fd;                        /* control channel to the old master */
};

/* Old master: start the new binary. CORDIS_OK when it was started. */
int  upgrade_start(struct master *m);
/* Old master: the new master exited (its pid was m->upgrade_pid). */
void upgrade_child_exited(struct master *m, int status);
/* New master: read and clear the environment; false when not upgrading. */
bool upgrade_inherited(struct upgrade_inherit *in);

#endif /* CORDIS_UPGRADE_H */
