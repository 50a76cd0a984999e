/*
 * The control channel between the master and each worker: a SOCK_SEQPACKET
 * socketpair, so every message arrives whole.
 *
 * master -> worker: one-byte commands (enum ctl_cmd), and client
 *                   connections handed over from a retiring worker.
 * worker -> master: client connections it hands to the next generation.
 * worker -> master -> workers: CLIENT LIST and CLIENT KILL over every
 *                   worker's clients (struct ctl_clients; a listing
 *                   travels as a memfd).
 *
 * A handed-over connection travels as SCM_RIGHTS with the little state a
 * session carries (database, AUTH done, client name); bytes the client has
 * sent meanwhile wait in the socket and go along with it.
 */
#ifndef CORDIS_CTL_H
#define CORDIS_CTL_H

#include <stddef.h>
#include <stdint.h>

enum ctl_cmd {
    CTL_QUIT      = 'q',   /* stop accepting, answer what was read, close, exit 0 */
    CTL_RETIRE    = 'r',   /* as QUIT, but hand idle clients to the next generation */
    CTL_TERMINATE = 't',   /* exit now */
    CTL_REOPEN    = 'o',   /* reopen the log file */
    CTL_UPDATE    = 'u',   /* config or route changed in shared memory */
    CTL_HANDOFF   = 'h',   /* a client connection (struct ctl_handoff + fd) */
    CTL_CLIENTS_ASK    = 'c',  /* CLIENT LIST/KILL for every worker (struct ctl_clients) */
    CTL_CLIENTS_EXPECT = 'e',  /* master -> asker: how many answers will come */
    CTL_CLIENTS_ANSWER = 'a',  /* a worker's answer (+ a memfd with its CLIENT LIST) */
};

enum ctl_clients_op {
    CTL_CLIENTS_LIST = 0,
    CTL_CLIENTS_KILL,
    CTL_CLIENTS_UNBLOCK,   /* CLIENT UNBLOCK: the ID filter, unblock_error */
};

/* What CLIENT KILL's filters select (bits of ctl_clients.filters). */
enum ctl_clients_filter {
    CTL_KILL_ID    = 1 << 0,
    CTL_KILL_TYPE  = 1 << 1,
    CTL_KILL_ADDR  = 1 << 2,
    CTL_KILL_LADDR = 1 << 3,
    CTL_KILL_USER  = 1 << 4,
};

struct ctl_clients {
    char     type;          /* CTL_CLIENTS_ASK, _EXPECT or _ANSWER */
    uint8_t  op;            /* enum ctl_clients_op */
    uint8_t  kill_type;     /* TYPE filter: 0 normal, 1 pubsub, 2 master, 3 replica */
    uint8_t  unblock_error; /* UNBLOCK: answer the blocked client an error, not a timeout */
    int16_t  origin;        /* stats row of the worker that asked */
    uint32_t query;         /* the asker's number for the query */
    int32_t  count;         /* EXPECT: answers to wait for; ANSWER: clients killed */
    uint32_t filters;       /* enum ctl_clients_filter */
    uint64_t id;            /* ID filter */
    uint64_t skip_id;       /* SKIPME yes: the asker's own client; 0 = none */
    char     addr[64];      /* ADDR filter "ip:port" */
    char     laddr[64];     /* LADDR filter */
    char     user[64];      /* USER filter */
};

struct ctl_handoff {
    char     type;         /* CTL_HANDOFF */
    uint8_t  authed;       /* the client passed AUTH */
    int32_t  db;           /* its SELECTed database */
    char     name[64];     /* CLIENT SETNAME; "" = none */
};

/* Any message of the channel, for receiving. */
union ctl_msg {
    char               type;
    struct ctl_handoff handoff;
    struct ctl_clients clients;
};

/* Creates the socketpair: sv[0] for the master, sv[1] for the worker. */
int ctl_pair(int sv[2]);
/* Sends a one-byte command. CORDIS_OK or CORDIS_ERROR. */
int ctl_send(int fd, enum ctl_cmd cmd);
/* Sends a connection with its state. CORDIS_OK or CORDIS_ERROR. */
int ctl_send_handoff(int fd, const struct ctl_handoff *h, int conn_fd);
/* Sends a message of len bytes, with a descriptor unless conn_fd < 0.
 * CORDIS_OK or CORDIS_ERROR. */
int ctl_send_msg(int fd, const void *msg, size_t len, int conn_fd);
/*
 * Receives one message into buf. Returns its length (0 = peer closed, -1 =
 * nothing more now or an error: see errno); *conn_fd is a received
 * descriptor or -1.
 */
int ctl_recv(int fd, void *buf, size_t size, int *conn_fd);

#endif /* CORDIS_CTL_H */
