/*
 * The control channel between the master and each worker: a SOCK_SEQPACKET
 * socketpair, so every message arrives whole.
 *
 * master -> worker: one-byte commands (enum ctl_cmd), and client
 *                   connections handed over from a retiring worker.
 * worker -> master: client connections it hands to the next generation.
 *
 * A handed-over connection travels as SCM_RIGHTS with the little state a
 * session carries (database, AUTH done, client name); bytes the client has
 * sent meanwhile wait in the socket and go along with it.
 */
#ifndef CORDIS_CTL_H
#define CORDIS_CTL_H

#include <stdint.h>

enum ctl_cmd {
    CTL_QUIT      = 'q',   /* stop accepting, answer what was read, close, exit 0 */
    CTL_RETIRE    = 'r',   /* as QUIT, but hand idle clients to the next generation */
    CTL_TERMINATE = 't',   /* exit now */
    CTL_REOPEN    = 'o',   /* reopen the log file */
    CTL_UPDATE    = 'u',   /* config or route changed in shared memory */
    CTL_HANDOFF   = 'h',   /* a client connection (struct ctl_handoff + fd) */
};

struct ctl_handoff {
    char     type;         /* CTL_HANDOFF */
    uint8_t  authed;       /* the client passed AUTH */
    int32_t  db;           /* its SELECTed database */
    char     name[64];     /* CLIENT SETNAME; "" = none */
};

/* Creates the socketpair: sv[0] for the master, sv[1] for the worker. */
int ctl_pair(int sv[2]);
/* Sends a one-byte command. CORDIS_OK or CORDIS_ERROR. */
int ctl_send(int fd, enum ctl_cmd cmd);
/* Sends a connection with its state. CORDIS_OK or CORDIS_ERROR. */
int ctl_send_handoff(int fd, const struct ctl_handoff *h, int conn_fd);
/*
 * Receives one message into buf. Returns its length (0 = peer closed, -1 =
 * nothing more now or an error: see errno); *conn_fd is a received
 * descriptor or -1.
 */
int ctl_recv(int fd, void *buf, size_t size, int *conn_fd);

#endif /* CORDIS_CTL_H */
