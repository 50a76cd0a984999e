/*
 * Lua scripts: cordis keeps the body of every script loaded through it
 * (SCRIPT LOAD, EVAL), by sha, in shared memory, so every worker knows it.
 * An EVALSHA that meets NOSCRIPT on a group (one added, restarted or
 * flushed since the script was loaded) gets the script loaded there and is
 * sent once more, on the same backend connection: the client never sees
 * the NOSCRIPT. SCRIPT FLUSH through cordis forgets them all, as Redis
 * does.
 *
 * The store holds SCRIPTS_MAX scripts and SCRIPTS_BYTES of bodies; a
 * script that does not fit is not kept (it is logged once), and EVALSHA
 * for it behaves as on one Redis server.
 */
#ifndef CORDIS_SCRIPTS_H
#define CORDIS_SCRIPTS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cordis.h"

#define SCRIPTS_MAX    4096
#define SCRIPTS_BYTES  (8 * 1024 * 1024)
/* Slots of the sha index: twice the scripts, a power of two. */
#define SCRIPTS_INDEX  (2 * SCRIPTS_MAX)

struct scripts_entry {
    uint8_t  sha[20];       /* SHA1 of the body */
    uint32_t off;           /* body at data[off] */
    uint32_t len;
};

/* The store, in the shared-memory segment. Writers take the lock (a
 * robust process-shared mutex: a worker dying with it held does not
 * block the others). */
struct scripts_store {
    pthread_mutex_t      lock;
    uint64_t             generation;  /* bumped when the store is emptied */
    uint32_t             count;       /* entries used */
    uint32_t             used;        /* bytes of data used */
    uint16_t             index[SCRIPTS_INDEX];   /* sha -> entry + 1; 0 = free */
    struct scripts_entry entries[SCRIPTS_MAX];
    char                 data[SCRIPTS_BYTES];
};

struct worker;
struct req;
struct backend_server;

/* Master, before the first fork: makes the store's lock. */
int  scripts_init(struct scripts_store *store);

/* Before a keyed or same-group request goes out: EVAL's body is kept;
 * EVALSHA notes where it goes, for a retry. CORDIS_OK. */
int  scripts_before_send(struct worker *w, struct req *req, struct backend_server *server,
                         unsigned seed, int argc, const struct cstr *argv);

/* Before a fan-out: SCRIPT LOAD's body is kept, SCRIPT FLUSH empties the
 * store. CORDIS_OK. */
int  scripts_before_fanout(struct worker *w, struct req *req, int argc,
                           const struct cstr *argv);

/* EVALSHA's reply: on NOSCRIPT for a script cordis knows, loads it on that
 * group and sends the request again (CORDIS_EAGAIN). CORDIS_OK otherwise. */
int  scripts_on_reply(struct worker *w, struct req *req);

/* Keeps a script body (its sha is computed here); CORDIS_OK, or
 * CORDIS_ERROR when the store is full. */
int  scripts_remember(struct worker *w, const char *body, size_t len);

/* "SCRIPT LOAD <body>" for a known sha (40 hex digits), in RESP, in a new
 * buffer; NULL when the script is unknown. */
char *scripts_load_command(struct worker *w, const char *sha_hex, size_t sha_len,
                           size_t *len);

/* SCRIPT EXISTS sha ...: which of the shas (request arguments 2..) cordis
 * has the body of; known[] gets n answers. */
void scripts_known_in_request(const struct req *req, bool *known, size_t n);

#endif /* CORDIS_SCRIPTS_H */
