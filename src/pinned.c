/*
 * Pinned connections: transactions and blocking commands. See pinned.h.
 */
#include "config.h"

#include <math.h>   /* isfinite */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "command.h"
#include "conf.h"
#include "dispatch.h"
#include "log.h"
#include "pinned.h"
#include "pubsub.h"
#include "request.h"
#include "resp.h"
#include "session.h"
#include "stats.h"
#include "util.h"
#include "worker.h"

static const char pinned_multi_cmd[] = "*1\r\n$5\r\nMULTI\r\n";
static const char pinned_exec_cmd[] = "*1\r\n$4\r\nEXEC\r\n";
static const char pinned_empty_array[] = "*0\r\n";
static const char pinned_null_array[] = "*-1\r\n";
static const char pinned_ok[] = "+OK\r\n";
static const char pinned_queued[] = "+QUEUED\r\n";
static const char pinned_crossslot[] = "CROSSSLOT Keys in request don't hash to the same slot";

static struct pinned *
pinned_get(struct session *s)
{
    if (s->pin == NULL) {
        s->pin = calloc(1, sizeof(*s->pin));
    }
    return s->pin;
}

/* --- places and gauges ------------------------------------------------------- */

bool
pinned_admit(struct worker *w, struct session *s, struct req *req)
{
    if (s->pin_placed) {
        return true;
    }
    if (w->npinned >= (unsigned)w->conf->session.max_pinned) {
        req_set_error(req, "ERR max number of pinned clients reached (session.max_pinned)");
        return false;
    }
    w->npinned++;
    s->pin_placed = true;
    return true;
}

void
pinned_release_place(struct worker *w, struct session *s)
{
    bool holds = (s->pin != NULL && s->pin->conn != NULL) || pubsub_subscribed(s);

    if (s->pin_placed && !holds) {
        w->npinned--;
        s->pin_placed = false;
    }
}

void
pinned_update_kinds(struct worker *w, struct session *s)
{
    uint8_t now = 0;

    if (!s->closing) {
        if (s->pin != NULL && (s->pin->multi || s->pin->watching)) {
            now |= 1u << PINNED_TRANSACTION;
        }
        if (s->pin != NULL && s->pin->blocking) {
            now |= 1u << PINNED_BLOCKING;
        }
        if (pubsub_subscribed(s)) {
            now |= 1u << PINNED_PUBSUB;
        }
    }
    for (int k = 0; k < PINNED_KINDS; k++) {
        bool was = (s->pin_kinds >> k) & 1u, is = (now >> k) & 1u;

        if (is && !was) {
            w->stats->pinned[k]++;
        } else if (was && !is) {
            w->stats->pinned[k]--;
        }
    }
    s->pin_kinds = now;
}

/*
 * A slot that is locked or migrating cannot take a private connection's
 * request: its keys may still be on the old group, and the migration
 * protocol moves them one request at a time on the shared connections.
 * The client is told to try again, as Redis Cluster does during resharding.
 */
static bool
pinned_slot_moving(struct worker *w, struct req *req, unsigned slot)
{
    if (w->slot_state[slot] == 0) {
        return false;
    }
    req_set_error(req, "TRYAGAIN slot %u is being migrated; try again", slot);
    return true;
}

/* --- the private connection ---------------------------------------------------- */

/* Takes a private connection to server for the session (its place first). */
static struct backend_conn *
pinned_take_conn(struct worker *w, struct session *s, struct backend_server *server,
                 struct req *req)
{
    struct pinned *p = s->pin;
    const char *err;

    if (p->conn != NULL) {
        return p->conn;
    }
    if (!pinned_admit(w, s, req)) {
        return NULL;
    }
    p->conn = backend_private_take(w, server, s->db, &err);
    if (p->conn == NULL) {
        req_set_error(req, "ERR backend %s unavailable: %s", server->addr, err);
        pinned_release_place(w, s);
        return NULL;
    }
    p->conn->holder = &p->conn;
    return p->conn;
}

/* Gives the private connection back (UNWATCH first if it may hold WATCHes). */
static void
pinned_give_conn(struct worker *w, struct session *s)
{
    struct pinned *p = s->pin;

    if (p == NULL) {
        return;
    }
    if (p->conn != NULL) {
        p->conn->holder = NULL;
        p->conn->dirty = p->conn->dirty || p->watching;
        backend_private_give(w, p->conn);
        p->conn = NULL;
    }
    p->watching = false;
    pinned_release_place(w, s);
}

/* Sends req on the session's private connection now. */
static void
pinned_send_now(struct worker *w, struct session *s, struct req *req)
{
    struct pinned *p = s->pin;
    int64_t recv_timeout = w->conf->backend.recv_timeout;
    const char *err;

    if (p->blocking) {
        /* Redis answers at the command's own timeout; cordis gives up only
         * backend.recv_timeout after that (never, for "block forever"). */
        req->deadline = p->block_ms < 0 || recv_timeout == 0
            ? -1 : worker_now(w) + (p->block_ms + recv_timeout) * 1000;
    }
    if (backend_conn_send(w, p->conn, req, &err) != CORDIS_OK) {
        req_set_error(req, "ERR backend %s unavailable: %s", p->conn->server->addr, err);
        req_finish(w, req);
    }
}

/*
 * Sends req on the session's private connection, in order: once every
 * earlier request of the client has its reply. Later requests wait
 * (session.c dispatches nothing while pin_hold is set).
 */
static void
pinned_send(struct worker *w, struct session *s, struct req *req)
{
    req->pinned = 1;
    s->pin->req = req;
    s->pin_hold = true;
    if (s->nreqs - s->ndone > 1) {
        s->pin_wait = req;
        return;
    }
    pinned_send_now(w, s, req);
}

void
pinned_resume(struct worker *w, struct session *s)
{
    struct req *req = s->pin_wait;

    s->pin_wait = NULL;
    if (req != NULL && s->pin != NULL) {
        pinned_send_now(w, s, req);
    }
}

void
pinned_on_finish(struct worker *w, struct req *req)
{
    struct session *s = req->session;
    struct pinned *p;

    req->pinned = 0;
    if (s == NULL || (p = s->pin) == NULL) {
        return;   /* the client left; pinned_close tidied up */
    }
    p->req = NULL;
    s->pin_hold = false;
    switch (req->cmd->id) {
    case COMMAND_WATCH:
        break;   /* held until EXEC, DISCARD, UNWATCH or RESET; a lost one fails EXEC */
    case COMMAND_EXEC:
    case COMMAND_UNWATCH:
        p->watching = false;   /* EXEC and UNWATCH both forget the WATCHes */
        if (p->conn != NULL && !req->failed) {
            p->conn->dirty = false;
        }
        pinned_give_conn(w, s);
        break;
    default:
        p->blocking = false;
        if (!p->watching) {
            pinned_give_conn(w, s);
        }
        break;
    }
    pinned_update_kinds(w, s);
}

/* --- transactions ------------------------------------------------------------ */

static void
pinned_end_multi(struct pinned *p)
{
    p->multi = false;
    p->aborted = false;
    p->nqueued = 0;
    p->queue_len = 0;
    if (p->queue_cap > 64 * 1024) {
        free(p->queue);   /* a large transaction does not keep its buffer */
        p->queue = NULL;
        p->queue_cap = 0;
    }
    if (!p->watching) {
        p->server = NULL;
    }
}

bool
pinned_runs_in_multi(const struct command *cmd)
{
    switch (cmd->id) {
    case COMMAND_EXEC:
    case COMMAND_DISCARD:
    case COMMAND_MULTI:
    case COMMAND_WATCH:
    case COMMAND_QUIT:
    case COMMAND_RESET:
        return true;
    default:
        return false;
    }
}

void
pinned_flag_error(struct session *s)
{
    if (s->pin != NULL && s->pin->multi) {
        s->pin->aborted = true;
    }
}

/* Appends argv, as RESP, to the transaction's queue. */
static int
pinned_append(struct pinned *p, int argc, const struct cstr *argv)
{
    size_t need = RESP_HEADER_MAX;
    char *q;

    for (int i = 0; i < argc; i++) {
        need += RESP_HEADER_MAX + argv[i].len + 2;
    }
    if (p->queue_len + need > p->queue_cap) {
        size_t cap = CORDIS_MAX(p->queue_cap * 2, p->queue_len + need);
        char *grown = realloc(p->queue, cap);

        if (grown == NULL) {
            return CORDIS_ERROR;
        }
        p->queue = grown;
        p->queue_cap = cap;
    }
    q = p->queue + p->queue_len;
    q += resp_write_array_header(q, argc);
    for (int i = 0; i < argc; i++) {
        q += resp_write_bulk_header(q, argv[i].len);
        memcpy(q, argv[i].ptr, argv[i].len);
        q += argv[i].len;
        memcpy(q, "\r\n", 2);
        q += 2;
    }
    p->queue_len = (size_t)(q - p->queue);
    p->nqueued++;
    return CORDIS_OK;
}

/* True when the request names keys (keyless ones go with the transaction). */
static bool
pinned_has_keys(const struct command *cmd, int argc, const struct cstr *argv)
{
    struct command_keys keys;

    if (command_get_keys(cmd, argc, argv, &keys) != CORDIS_OK) {
        return argc > 1 && cmd->first_key > 0;
    }
    return (keys.first > 0 && keys.first < argc) || (keys.extra > 0 && keys.extra < argc);
}

/* Commands cordis answers itself, or that change the client's own state,
 * cannot run inside a backend's transaction; PING and ECHO can. */
static bool
pinned_queueable(const struct command *cmd)
{
    switch (cmd->dispatch) {
    case DISPATCH_REFUSED:
        return false;
    case DISPATCH_LOCAL:
        return cmd->id == COMMAND_PING || cmd->id == COMMAND_ECHO;
    default:
        return !pubsub_is_command(cmd);
    }
}

void
pinned_queue(struct worker *w, struct session *s, struct req *req, int argc,
             const struct cstr *argv)
{
    struct pinned *p = s->pin;
    const struct command *cmd = req->cmd;

    if (!pinned_queueable(cmd)) {
        if (cmd->dispatch == DISPATCH_REFUSED) {
            req_set_error(req, "ERR command '%s' is not supported by cordis: %s",
                          command_display_name(cmd), cmd->refusal);
        } else {
            req_set_error(req, "ERR command '%s' inside MULTI is not supported by cordis",
                          command_display_name(cmd));
        }
        p->aborted = true;
        goto finish;
    }
    if (pinned_has_keys(cmd, argc, argv)) {
        unsigned seed;
        struct backend_server *server = dispatch_route(w, req, argc, argv, &seed);

        if (server == NULL || pinned_slot_moving(w, req, seed)) {
            p->aborted = true;   /* CROSSSLOT inside the command, slot not served or moving */
            goto finish;
        }
        if (p->server == NULL) {
            p->server = server;
        } else if (server != p->server) {
            req_set_error(req, "%s", pinned_crossslot);
            p->aborted = true;
            goto finish;
        }
    }
    if (pinned_append(p, argc, argv) != CORDIS_OK) {
        req_set_error(req, "ERR out of memory");
        p->aborted = true;
        goto finish;
    }
    req_set_static_reply(req, pinned_queued, sizeof(pinned_queued) - 1);

finish:
    req_finish(w, req);
}

static void
pinned_exec(struct worker *w, struct session *s, struct req *req)
{
    struct pinned *p = s->pin;
    struct backend_server *server;
    const char *err;
    size_t len;
    char *bytes;
    bool shared;

    if (!p->multi) {
        req_set_error(req, "ERR EXEC without MULTI");
        goto finish;
    }
    if (p->aborted) {
        pinned_end_multi(p);
        pinned_give_conn(w, s);
        p->watch_lost = false;
        req_set_error(req, "EXECABORT Transaction discarded because of previous errors.");
        goto finish;
    }
    if (p->watch_lost) {
        /* The connection that held the WATCHes is gone (CLIENT UNBLOCK,
         * a backend restart): nothing can say the keys are untouched, so
         * the transaction is aborted as Redis aborts it when they changed. */
        p->watch_lost = false;
        pinned_end_multi(p);
        pinned_give_conn(w, s);
        req_set_static_reply(req, pinned_null_array, sizeof(pinned_null_array) - 1);
        goto finish;
    }
    if (p->conn == NULL && p->nqueued == 0) {
        pinned_end_multi(p);
        req_set_static_reply(req, pinned_empty_array, sizeof(pinned_empty_array) - 1);
        goto finish;
    }
    server = p->server != NULL ? p->server : w->slot_server[0];
    if (server == NULL) {
        pinned_end_multi(p);
        req_set_error(req, "ERR slot 0 is not served");
        goto finish;
    }
    /* With backend.primary_parallel > 1 a later request for one of its keys
     * could take another connection and run first: then a private one, and
     * later requests wait for EXEC's reply. */
    shared = !p->watching && p->conn == NULL && server->parallel == 1;
    if (!shared && pinned_take_conn(w, s, server, req) == NULL) {
        pinned_end_multi(p);
        goto finish;
    }
    /* MULTI, the queue and EXEC in one piece; the replies before EXEC's
     * (+OK, +QUEUED or a queueing error) are let pass. */
    len = sizeof(pinned_multi_cmd) - 1 + p->queue_len + sizeof(pinned_exec_cmd) - 1;
    bytes = malloc(len);
    if (bytes == NULL) {
        pinned_end_multi(p);
        req_set_error(req, "ERR out of memory");
        goto finish;
    }
    memcpy(bytes, pinned_multi_cmd, sizeof(pinned_multi_cmd) - 1);
    if (p->queue_len > 0) {
        memcpy(bytes + sizeof(pinned_multi_cmd) - 1, p->queue, p->queue_len);
    }
    memcpy(bytes + len - (sizeof(pinned_exec_cmd) - 1), pinned_exec_cmd,
           sizeof(pinned_exec_cmd) - 1);
    free(req->gen);
    req->gen = bytes;
    req_set_bytes(req, bytes, len);
    req->skip = (unsigned)p->nqueued + 1;
    pinned_end_multi(p);
    if (shared) {
        /* Without WATCH nothing ties the transaction to a connection: the
         * piece goes on the group's shared connection, where nothing can
         * come between MULTI and EXEC, in order with the client's other
         * requests (pipelined transactions are not held up). */
        if (backend_send(w, server, s->db, 0, req, &err) != CORDIS_OK) {
            req_set_error(req, "ERR backend %s unavailable: %s", server->addr, err);
            goto finish;
        }
        pinned_update_kinds(w, s);
        return;
    }
    pinned_send(w, s, req);
    pinned_update_kinds(w, s);
    return;

finish:
    pinned_update_kinds(w, s);
    req_finish(w, req);
}

static void
pinned_watch(struct worker *w, struct session *s, struct req *req, int argc,
             const struct cstr *argv)
{
    struct pinned *p = s->pin;
    struct backend_server *server;
    unsigned seed;

    if (p->multi) {
        req_set_error(req, "ERR WATCH inside MULTI is not allowed");
        goto finish;
    }
    server = dispatch_route(w, req, argc, argv, &seed);
    if (server == NULL || pinned_slot_moving(w, req, seed)) {
        goto finish;
    }
    if (p->watching && server != p->server) {
        req_set_error(req, "%s", pinned_crossslot);
        goto finish;
    }
    if (pinned_take_conn(w, s, server, req) == NULL) {
        goto finish;
    }
    p->server = server;
    p->watching = true;
    p->conn->dirty = true;
    pinned_send(w, s, req);
    pinned_update_kinds(w, s);
    return;

finish:
    req_finish(w, req);
}

/* --- blocking commands ---------------------------------------------------------- */

/* Parses a timeout argument: seconds (a float) or milliseconds. */
static int64_t
pinned_parse_timeout(const struct cstr *arg, bool seconds)
{
    char text[64];
    char *end;
    double v;

    if (arg->len == 0 || arg->len >= sizeof(text)) {
        return 0;   /* Redis answers the error at once */
    }
    memcpy(text, arg->ptr, arg->len);
    text[arg->len] = '\0';
    v = strtod(text, &end);
    if (*end != '\0' || !isfinite(v) || v < 0) {
        return 0;
    }
    if (seconds) {
        v *= 1000.0;
    }
    if (v == 0) {
        return -1;
    }
    v = CORDIS_MIN(v, 1e15);
    return (int64_t)v + ((double)(int64_t)v < v);   /* rounded up */
}

/* The timeout of a blocking request, in ms; -1 = it may block forever. */
static int64_t
pinned_block_ms(const struct command *cmd, int argc, const struct cstr *argv)
{
    switch (cmd->id) {
    case COMMAND_BLMPOP:
    case COMMAND_BZMPOP:
        return pinned_parse_timeout(&argv[1], true);
    case COMMAND_WAIT:
        return pinned_parse_timeout(&argv[2], false);
    case COMMAND_XREAD:
    case COMMAND_XREADGROUP:
        for (int i = 1; i + 1 < argc; i++) {
            if (util_strieq(argv[i].ptr, argv[i].len, "block")) {
                return pinned_parse_timeout(&argv[i + 1], false);
            }
        }
        return 0;
    default:
        return pinned_parse_timeout(&argv[argc - 1], true);
    }
}

void
pinned_block(struct worker *w, struct session *s, struct req *req, int argc,
             const struct cstr *argv)
{
    struct pinned *p = pinned_get(s);
    struct backend_server *server;
    unsigned seed;

    if (p == NULL) {
        req_set_error(req, "ERR out of memory");
        goto finish;
    }
    if (p->multi) {
        pinned_queue(w, s, req, argc, argv);   /* inside MULTI nothing blocks */
        return;
    }
    server = dispatch_route(w, req, argc, argv, &seed);
    if (server == NULL || pinned_slot_moving(w, req, seed)) {
        goto finish;
    }
    if (p->watching && server != p->server) {
        req_set_error(req, "ERR a blocking command on another group than the WATCHed keys "
                           "is not supported by cordis");
        goto finish;
    }
    if (pinned_take_conn(w, s, server, req) == NULL) {
        goto finish;
    }
    p->block_ms = pinned_block_ms(req->cmd, argc, argv);
    p->blocking = true;
    pinned_send(w, s, req);
    pinned_update_kinds(w, s);
    return;

finish:
    req_finish(w, req);
}

/* --- dispatch ------------------------------------------------------------------- */

void
pinned_dispatch(struct worker *w, struct session *s, struct req *req, int argc,
                const struct cstr *argv)
{
    struct pinned *p;

    if (pubsub_is_command(req->cmd)) {
        pubsub_dispatch(w, s, req, argc, argv);
        return;
    }
    p = pinned_get(s);
    if (p == NULL) {
        req_set_error(req, "ERR out of memory");
        req_finish(w, req);
        return;
    }
    if (p->watching && p->conn == NULL) {
        p->watch_lost = true;   /* its connection closed since the WATCH */
        pinned_give_conn(w, s);
    }
    switch (req->cmd->id) {
    case COMMAND_MULTI:
        if (p->multi) {
            req_set_error(req, "ERR MULTI calls can not be nested");
        } else {
            p->multi = true;
            p->aborted = false;
            req_set_static_reply(req, pinned_ok, sizeof(pinned_ok) - 1);
            pinned_update_kinds(w, s);
        }
        break;
    case COMMAND_EXEC:
        pinned_exec(w, s, req);
        return;
    case COMMAND_DISCARD:
        if (!p->multi) {
            req_set_error(req, "ERR DISCARD without MULTI");
            break;
        }
        pinned_end_multi(p);
        pinned_give_conn(w, s);   /* DISCARD forgets the WATCHes too */
        p->watch_lost = false;
        p->server = NULL;
        req_set_static_reply(req, pinned_ok, sizeof(pinned_ok) - 1);
        pinned_update_kinds(w, s);
        break;
    case COMMAND_WATCH:
        pinned_watch(w, s, req, argc, argv);
        return;
    case COMMAND_UNWATCH:
        p->watch_lost = false;
        if (p->conn == NULL || !p->watching) {
            req_set_static_reply(req, pinned_ok, sizeof(pinned_ok) - 1);
            break;
        }
        pinned_send(w, s, req);
        return;
    default:
        pinned_block(w, s, req, argc, argv);
        return;
    }
    req_finish(w, req);
}

/* --- lifecycle ----------------------------------------------------------------- */

void
pinned_reset(struct worker *w, struct session *s)
{
    struct pinned *p = s->pin;

    if (p != NULL) {
        pinned_end_multi(p);
        pinned_give_conn(w, s);
        p->server = NULL;
        p->watch_lost = false;
    }
    pubsub_reset(w, s);
    pinned_update_kinds(w, s);
}

void
pinned_close(struct worker *w, struct session *s)
{
    struct pinned *p = s->pin;
    struct req *waiting = s->pin_wait;

    s->pin_wait = NULL;
    s->pin = NULL;   /* replies finishing below find no state to update */
    if (waiting != NULL) {
        waiting->pinned = 0;
        req_set_error(waiting, "ERR client closed");
        req_finish(w, waiting);
    }
    if (p != NULL) {
        if (p->conn != NULL) {
            p->conn->holder = NULL;   /* p is freed below */
            if (p->conn->inflight > 0) {
                /* Blocked, or EXEC on its way: the connection cannot be
                 * reused mid-request; closing it frees the backend too. */
                backend_conn_close(w, p->conn, "client closed");
            } else {
                p->conn->dirty = p->conn->dirty || p->watching;
                backend_private_give(w, p->conn);
            }
        }
        free(p->queue);
        free(p);
    }
    pubsub_close(w, s);
    if (s->pin_placed) {
        w->npinned--;
        s->pin_placed = false;
    }
    pinned_update_kinds(w, s);
}

bool
pinned_unblock(struct worker *w, struct session *s, bool error)
{
    static const char unblocked[] = "UNBLOCKED client unblocked via CLIENT UNBLOCK";
    static const char null_array[] = "*-1\r\n";
    static const char zero[] = ":0\r\n";
    struct pinned *p = s->pin;
    struct req *req;

    if (p == NULL || !p->blocking || p->conn == NULL || (req = p->req) == NULL
        || s->pin_wait == req) {
        return false;
    }
    if (error) {
        req_set_error(req, "%s", unblocked);
    } else if (req->cmd->id == COMMAND_WAIT) {
        req_set_static_reply(req, zero, sizeof(zero) - 1);   /* replicas that acked */
    } else {
        req_set_static_reply(req, null_array, sizeof(null_array) - 1);
    }
    req->preset = 1;
    /* Closing the connection ends the command in Redis too; the request
     * finishes with the reply set above. */
    backend_conn_close(w, p->conn, "unblocked by CLIENT UNBLOCK");
    return true;
}

void
pinned_drain_expired(struct worker *w)
{
    for (struct session *s = w->sessions; s != NULL; s = s->next) {
        struct pinned *p = s->pin;

        if (p != NULL && p->blocking && p->conn != NULL) {
            struct backend_conn *c = p->conn;

            /* Its reply finishes the request (with this error) and gives
             * the connection back, closed. */
            backend_conn_close(w, c, "cordis is shutting down (proxy.drain_timeout passed)");
        }
    }
}
