/*
 * A request: one command from a client, from parsing until its reply has
 * been written back. It sits in its session's FIFO (replies go out in that
 * order) and, when forwarded, in one backend connection's FIFO (replies
 * come back in that order).
 *
 * Multi-key commands (MGET, MSET, DEL, ...) and fan-out commands (FLUSHALL,
 * DBSIZE, ...) become a parent in the session FIFO and one child per
 * backend; the parent is done when every child is, and its reply is
 * coalesced from theirs.
 */
#ifndef CORDIS_REQUEST_H
#define CORDIS_REQUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "cordis.h"

struct session;
struct mbuf;
struct command;
struct backend_conn;
struct backend_server;
struct req_wait;

/* Pieces of the bytes sent to a backend, kept inline for plain requests. */
#define REQ_INLINE_IOV 2

struct req {
    struct req          *next;        /* session FIFO, or free list */
    struct req          *bnext;       /* backend connection FIFO */
    struct session      *session;     /* owner; NULL once the client is gone */
    struct req          *parent;      /* multi-key parent of a child; NULL otherwise */
    const struct command *cmd;        /* resolved command; NULL for internal ones */
    struct backend_conn *conn;        /* connection it was sent on, while in flight */
    int64_t              start_usec;  /* when it was parsed */
    int64_t              sent_usec;   /* when its last byte was written to the backend */
    int64_t              deadline;    /* private connection: reply due by (usec); 0 = the
                                         usual recv_timeout, -1 = none (BLPOP q 0) */
    unsigned             skip;        /* replies to let pass before its own (MULTI..EXEC) */
    uint64_t             seq;         /* worker's send counter when sent (route barrier) */

    /* a request for a slot with a state, or a migration step (migrate.h):
     * allocated only then, to keep every other request small */
    struct req_wait     *wait;

    /* what goes to the backend */
    struct mbuf         *in;          /* buffer the request bytes live in (referenced) */
    char                *gen;         /* bytes we generated (re-encoded or split), owned */
    struct iovec        *iov;         /* pieces to send: iov_inline or allocated */
    int                  iovcnt;
    struct iovec         iov_inline[REQ_INLINE_IOV];
    size_t               send_len;    /* total bytes of the pieces */

    /* the reply */
    struct mbuf         *rbuf;        /* buffer the reply lives in (referenced), or NULL */
    char                *own;         /* reply we built, owned (errors, coalesced) */
    const char          *reply;       /* first byte of the reply */
    size_t               reply_len;
    char                 reply_type;  /* + - : $ * */
    int64_t              reply_int;   /* value of ':' replies */

    /* multi-key bookkeeping (parent) */
    struct req         **children;    /* nchildren entries, in backend order */
    int                  nchildren;
    int                  pending;     /* children without a reply yet */
    uint32_t            *key_child;   /* per key: index of its child */
    int                  nkeys;       /* entries in key_child */

    /* kept with the struct across reuse: a multi-key parent's children and
     * key_child arrays, or a child's pieces and header */
    void                *scratch;
    size_t               scratch_size;

    /* routing notes, for the reply's last look (dispatch_on_reply) */
    struct backend_server *server;    /* where it was sent (EVALSHA's retry) */
    uint32_t             hook_arg;    /* SCAN: group index and fingerprint; EVALSHA: seed */
    uint16_t             group;       /* fan-out child, SCAN: the group it went to */

    unsigned             internal:1;  /* cordis's own (AUTH/SELECT/PING to a backend) */
    unsigned             retried:1;   /* sent again once already (EVALSHA after NOSCRIPT) */
    unsigned             silent:1;    /* its reply is not sent (CLIENT REPLY OFF/SKIP) */
    unsigned             done:1;      /* reply attached */
    unsigned             failed:1;    /* reply is an error made by cordis */
    unsigned             quit:1;      /* QUIT: close after this reply */
    unsigned             counted:1;   /* stats recorded */
    unsigned             pinned:1;    /* a private-connection request: pinned.c finishes it */
    unsigned             pubsub:1;    /* a (P|S)(UN)SUBSCRIBE: pubsub.c builds its reply */
    unsigned             migrate:1;   /* a migration step: migrate.c reads its reply */
    unsigned             mheld:1;     /* counted in its client's migrate_holds */
    unsigned             replica:1;   /* a read sent to a replica (replica.c); hook_arg: its
                                         slot */
    unsigned             probe:1;     /* internal: ROLE asked of a replica */
    unsigned             preset:1;    /* answered already (CLIENT UNBLOCK): its connection
                                         closing does not change the reply */
};



struct worker;

/* A zeroed request from the worker's free list. */
struct req *req_new(struct worker *w);
/* Releases buffers and returns the request to the free list. */
void        req_free(struct worker *w, struct req *req);
/* What goes to the backend: len bytes at bytes, one piece. */
void        req_set_bytes(struct req *req, const void *bytes, size_t len);
/* Encodes argv as a RESP multibulk command into req->gen and sends that;
 * argv is pointed at the copies. CORDIS_OK or CORDIS_ERROR (no memory). */
int         req_encode(struct req *req, int argc, struct cstr *argv);
/* Attaches a reply made by cordis; `text` is the whole RESP reply. */
int         req_set_own_reply(struct req *req, const char *text, size_t len);
struct reply;
/* Gives the free list's requests back to malloc (worker exit). */
void        req_free_list_clear(struct worker *w);
/*
 * The request's scratch block, at least size bytes: kept with the request
 * struct when it is recycled, so steady multi-key traffic allocates
 * nothing. Its content does not survive the call. NULL when out of memory.
 */
void       *req_scratch(struct req *req, size_t size);
/* A multi-key parent's children array (nchildren entries) and key_child
 * array (nkeys entries), zeroed, in its scratch block. CORDIS_OK or
 * CORDIS_ERROR (no memory). */
int         req_alloc_children(struct req *req, int nchildren, int nkeys);
/* Attaches a reply that outlives the request (a string literal). */
void        req_set_static_reply(struct req *req, const char *text, size_t len);
/* Attaches a built reply, taking its buffer (an incomplete one becomes an
 * out-of-memory error). */
void        req_take_reply(struct req *req, struct reply *r);
/* Attaches "-<text>\r\n" (text such as "ERR ..." without the leading '-'). */
void        req_set_error(struct req *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Attaches a reply that lives in a backend's read buffer. */
void        req_set_reply_ref(struct req *req, struct mbuf *buf, const char *reply,
                              size_t len, char type, int64_t integer);
/*
 * A forwarded request (or child) got its reply: complete the parent or
 * tell the session. Frees requests whose client has gone.
 */
void        req_finish(struct worker *w, struct req *req);

#endif /* CORDIS_REQUEST_H */
