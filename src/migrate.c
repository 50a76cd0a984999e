/*
 * Slot states in the data path: locks, sync and semi-async migration, the
 * route barrier. See migrate.h.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "command.h"
#include "conf.h"
#include "log.h"
#include "migrate.h"
#include "request.h"
#include "resp.h"
#include "router.h"
#include "session.h"
#include "shm.h"
#include "stats.h"
#include "util.h"
#include "worker.h"

/* Semi-async "being moved" answers: retried at once this many times, then
 * every millisecond up to MIGRATE_SHORT_RETRIES, then every 10 ms (a big
 * key may take a while to move), bounded by backend.recv_timeout. */
#define MIGRATE_FAST_RETRIES  5
#define MIGRATE_SHORT_RETRIES 20
#define MIGRATE_RETRY_SHORT   1000     /* usec */
#define MIGRATE_RETRY_LONG    10000    /* usec */
/* SLOTSMGRTTAGONE's timeout argument (ms), as codis-proxy sends it. */
#define MIGRATE_TAGONE_TIMEOUT "3000"

static const char migrate_wrapper[] = "SLOTSMGRT-EXEC-WRAPPER";

/* req->wait, made on first use; NULL when out of memory. */
static struct req_wait *
migrate_wait_get(struct req *req)
{
    if (req->wait == NULL) {
        req->wait = calloc(1, sizeof(*req->wait));
    }
    return req->wait;
}

void
migrate_wait_free(struct req *req)
{
    free(req->wait->keys);
    free(req->wait);
    req->wait = NULL;
}

/* The client a request (or a multi-key child) belongs to; NULL once gone. */
static struct session *
migrate_owner(const struct req *req)
{
    return req->parent != NULL ? req->parent->session : req->session;
}

/*
 * req waits on its slot's state: its client sends nothing more until req
 * is on the new group's connection or answered, as codis-proxy's session
 * does. Otherwise a later request for the same key (SET k b after SET k a
 * retried) could overtake it.
 */
static void
migrate_hold(struct req *req)
{
    struct session *s = migrate_owner(req);

    if (!req->mheld && s != NULL) {
        req->mheld = 1;
        s->migrate_holds++;
    }
}

static void
migrate_unhold(struct req *req)
{
    struct session *s;

    if (!req->mheld) {
        return;
    }
    req->mheld = 0;
    s = migrate_owner(req);
    if (s != NULL && --s->migrate_holds == 0) {
        session_schedule(s);   /* its later requests may go now */
    }
}

/* req is answered without reaching the new group. */
static void
migrate_finish(struct worker *w, struct req *req)
{
    migrate_unhold(req);
    req_finish(w, req);
}

/* Appends req to a list linked through bnext (not on a connection now). */
static void
migrate_list_push(struct req **head, struct req **tail, struct req *req)
{
    req->bnext = NULL;
    if (*tail == NULL) {
        *head = req;
    } else {
        (*tail)->bnext = req;
    }
    *tail = req;
}

/* Sends req to the slot's group now. */
static void
migrate_forward(struct worker *w, struct req *req)
{
    struct backend_server *server = w->slot_server[req->wait->slot];
    const char *err;

    migrate_unhold(req);   /* in order on the connection from here on */
    if (server == NULL) {
        req_set_error(req, "ERR slot %u is not served", (unsigned)req->wait->slot);
    } else if (backend_send(w, server, req->wait->db, req->wait->slot, req, &err) != CORDIS_OK) {
        req_set_error(req, "ERR backend %s unavailable: %s", server->addr, err);
    } else {
        return;
    }
    req_finish(w, req);
}

/* SLOTSMGRTTAGONE <host> <port> 3000 <key>, for the new group's address. */
static int
migrate_tagone(struct req *step, const struct backend_server *target, const char *key,
               size_t keylen)
{
    char host[CORDIS_ADDR_LEN];
    const char *port;
    struct cstr argv[5];

    if (util_split_hostport(target->addr, host, sizeof(host), &port) != CORDIS_OK) {
        return CORDIS_ERROR;
    }
    argv[0] = (struct cstr){ "SLOTSMGRTTAGONE", 15 };
    argv[1] = (struct cstr){ host, strlen(host) };
    argv[2] = (struct cstr){ port, strlen(port) };
    argv[3] = (struct cstr){ MIGRATE_TAGONE_TIMEOUT, sizeof(MIGRATE_TAGONE_TIMEOUT) - 1 };
    argv[4] = (struct cstr){ key, keylen };
    return req_encode(step, 5, argv);
}

int
migrate_head(struct cstr *argv, struct migrate_head *h, const char *target, int db,
             int64_t timeout_ms, const char *auth)
{
    const char *port;
    int argc = 0;

    if (util_split_hostport(target, h->host, sizeof(h->host), &port) != CORDIS_OK) {
        return -1;
    }
    snprintf(h->db, sizeof(h->db), "%d", db);
    snprintf(h->timeout, sizeof(h->timeout), "%lld", (long long)timeout_ms);
    argv[argc++] = (struct cstr){ "MIGRATE", 7 };
    argv[argc++] = (struct cstr){ h->host, strlen(h->host) };
    argv[argc++] = (struct cstr){ port, strlen(port) };
    argv[argc++] = (struct cstr){ "", 0 };
    argv[argc++] = (struct cstr){ h->db, strlen(h->db) };
    argv[argc++] = (struct cstr){ h->timeout, strlen(h->timeout) };
    if (auth[0] != '\0') {
        argv[argc++] = (struct cstr){ "AUTH", 4 };
        argv[argc++] = (struct cstr){ auth, strlen(auth) };
    }
    argv[argc++] = (struct cstr){ "REPLACE", 7 };
    argv[argc++] = (struct cstr){ "KEYS", 4 };
    return argc;
}

/* MIGRATE ... KEYS <every key of req in such slots>: the old group hands
 * them to the new one. */
static int
migrate_vanilla(struct worker *w, struct req *step, const struct backend_server *target,
                const struct req *req)
{
    struct migrate_head h;
    int nkeys = req->wait->nkeys > 0 ? req->wait->nkeys : 1;
    struct cstr *argv = malloc(sizeof(*argv) * (size_t)(MIGRATE_HEAD_MAX + nkeys));
    int argc, rc;

    if (argv == NULL || (argc = migrate_head(argv, &h, target->addr, req->wait->db,
                                             w->conf->migrate.timeout,
                                             w->conf->backend.auth)) < 0) {
        free(argv);
        return CORDIS_ERROR;
    }
    if (req->wait->nkeys > 0) {
        memcpy(&argv[argc], req->wait->keys, sizeof(*argv) * req->wait->nkeys);
        argc += req->wait->nkeys;
    } else {
        argv[argc++] = (struct cstr){ req->wait->key, req->wait->key_len };
    }
    rc = req_encode(step, argc, argv);
    free(argv);
    return rc;
}

int
migrate_set_keys(struct worker *w, struct req *req, int argc, const struct cstr *argv)
{
    struct command_keys keys = { 0, 0, 0, 0 };
    int n = 0, cap;

    if (command_get_keys(req->cmd, argc, argv, &keys) != CORDIS_OK) {
        return CORDIS_OK;
    }
    cap = (keys.first > 0 ? (keys.last - keys.first) / CORDIS_MAX(keys.step, 1) + 1 : 0)
          + (keys.extra > 0 ? 1 : 0);
    if (cap <= 1) {
        return CORDIS_OK;   /* one key: wait->key says it */
    }
    if (migrate_wait_get(req) == NULL) {
        return CORDIS_ERROR;
    }
    req->wait->keys = malloc(sizeof(*req->wait->keys) * (size_t)cap);
    if (req->wait->keys == NULL) {
        return CORDIS_ERROR;
    }
    for (int i = keys.first; keys.first > 0 && i <= keys.last && i < argc;
         i += CORDIS_MAX(keys.step, 1)) {
        if (w->slot_state[router_slot(argv[i].ptr, argv[i].len)] & MIGRATE_FROM) {
            req->wait->keys[n++] = argv[i];
        }
    }
    if (keys.extra > 0 && keys.extra < argc
        && (w->slot_state[router_slot(argv[keys.extra].ptr, argv[keys.extra].len)]
            & MIGRATE_FROM)) {
        req->wait->keys[n++] = argv[keys.extra];
    }
    req->wait->nkeys = (uint16_t)CORDIS_MIN(n, UINT16_MAX);
    return CORDIS_OK;
}

/* SLOTSMGRT-EXEC-WRAPPER <key> <the request's own arguments>. */
static int
migrate_wrap(struct req *step, const struct req *req)
{
    size_t total = 0, at = 0, hlen;
    char *flat, *p;
    int64_t argc = 0;

    for (int i = 0; i < req->iovcnt; i++) {
        total += req->iov[i].iov_len;
    }
    flat = malloc(total + 2 * RESP_HEADER_MAX + sizeof(migrate_wrapper) + req->wait->key_len + 8);
    if (flat == NULL) {
        return CORDIS_ERROR;
    }
    /* The request's bytes in one piece: "*<argc>\r\n" then its arguments. */
    p = flat + 2 * RESP_HEADER_MAX + sizeof(migrate_wrapper) + req->wait->key_len + 8;
    for (int i = 0; i < req->iovcnt; i++) {
        memcpy(p + at, req->iov[i].iov_base, req->iov[i].iov_len);
        at += req->iov[i].iov_len;
    }
    hlen = resp_array_header_len(p, total);
    if (hlen == 0 || p[0] != '*' || !util_parse_i64(p + 1, hlen - 3, &argc)) {
        free(flat);
        return CORDIS_ERROR;
    }
    /* Our header and two arguments in front of the request's arguments. */
    {
        char head[2 * RESP_HEADER_MAX + sizeof(migrate_wrapper) + 8];
        size_t n = resp_write_array_header(head, argc + 2);

        n += resp_write_bulk_header(head + n, sizeof(migrate_wrapper) - 1);
        memcpy(head + n, migrate_wrapper, sizeof(migrate_wrapper) - 1);
        n += sizeof(migrate_wrapper) - 1;
        memcpy(head + n, "\r\n", 2);
        n += 2;
        n += resp_write_bulk_header(head + n, req->wait->key_len);
        /* head, key and CRLF go right before the request's arguments */
        p += hlen;
        p -= 2;
        memcpy(p, "\r\n", 2);
        p -= req->wait->key_len;
        memcpy(p, req->wait->key, req->wait->key_len);
        p -= n;
        memcpy(p, head, n);
    }
    step->gen = flat;
    req_set_bytes(step, p, (size_t)(flat + 2 * RESP_HEADER_MAX + sizeof(migrate_wrapper)
                                    + req->wait->key_len + 8 + total - p));
    return CORDIS_OK;
}

/* Sends the step that takes care of req's key on the old group. */
static void
migrate_step(struct worker *w, struct req *req)
{
    struct backend_server *from = w->slot_from[req->wait->slot];
    struct backend_server *target = w->slot_server[req->wait->slot];
    uint8_t state = w->slot_state[req->wait->slot];
    enum migrate_method method = (state & MIGRATE_VANILLA) ? MIGRATE_METHOD_VANILLA
                                 : (state & MIGRATE_SEMIASYNC) ? MIGRATE_METHOD_SEMI_ASYNC
                                 : MIGRATE_METHOD_SYNC;
    struct req *step;
    const char *err;
    int rc;

    if (from == NULL || target == NULL || from == target) {
        migrate_forward(w, req);
        return;
    }
    step = req_new(w);
    if (step == NULL || migrate_wait_get(step) == NULL) {
        if (step != NULL) {
            req_free(w, step);
        }
        req_set_error(req, "ERR out of memory");
        migrate_finish(w, req);
        return;
    }
    rc = method == MIGRATE_METHOD_VANILLA ? migrate_vanilla(w, step, target, req)
         : method == MIGRATE_METHOD_SEMI_ASYNC ? migrate_wrap(step, req)
         : migrate_tagone(step, target, req->wait->key, req->wait->key_len);
    if (rc != CORDIS_OK) {
        req_free(w, step);
        req_set_error(req, "ERR out of memory");
        migrate_finish(w, req);
        return;
    }
    step->migrate = 1;
    step->wait->waiter = req;
    step->server = from;
    step->hook_arg = method;   /* how to read its reply */
    if (backend_send(w, from, req->wait->db, req->wait->slot, step, &err) != CORDIS_OK) {
        req_set_error(req, "ERR handle request, %s: backend %s unavailable: %s",
                      method == MIGRATE_METHOD_VANILLA ? "MIGRATE failed" : "bad slotsmgrt resp",
                      from->addr, err);
        req_free(w, step);
        migrate_finish(w, req);
    }
}

void
migrate_send(struct worker *w, struct req *req, unsigned slot, int db, const char *key,
             size_t keylen)
{
    if (migrate_wait_get(req) == NULL) {
        req_set_error(req, "ERR out of memory");
        req_finish(w, req);
        return;
    }
    req->wait->slot = (uint16_t)slot;
    req->wait->db = (int16_t)db;
    req->wait->key = key;
    req->wait->key_len = (uint32_t)keylen;
    if (w->slot_state[slot] & MIGRATE_LOCKED) {
        req->wait->parked_at = worker_now(w);
        migrate_hold(req);
        migrate_list_push(&w->parked, &w->parked_tail, req);
        return;
    }
    if ((w->slot_state[slot] & MIGRATE_FROM) && key != NULL) {
        migrate_hold(req);
        migrate_step(w, req);
        return;
    }
    migrate_forward(w, req);   /* keyless: the new group */
}

/* A semi-async "being moved" answer: the step goes again, at once for
 * the first few, then from the retry timer; bounded by recv_timeout. */
static void
migrate_retry(struct worker *w, struct req *req)
{
    int64_t now = worker_now(w);
    int64_t bound = w->conf->backend.recv_timeout * 1000;

    if (req->wait->tries < UINT8_MAX) {
        req->wait->tries++;
    }
    if (req->wait->tries == 1) {
        req->wait->parked_at = now;
    }
    if (bound > 0 && now - req->wait->parked_at > bound) {
        req_set_error(req, "ERR handle request, key is being migrated for longer than "
                      "backend.recv_timeout; try again");
        migrate_finish(w, req);
        return;
    }
    if (req->wait->tries <= MIGRATE_FAST_RETRIES) {
        migrate_step(w, req);
        return;
    }
    req->wait->retry_at = now + (req->wait->tries <= MIGRATE_SHORT_RETRIES ? MIGRATE_RETRY_SHORT
                                                                  : MIGRATE_RETRY_LONG);
    migrate_list_push(&w->retrying, &w->retrying_tail, req);
    if (!ev_is_active(&w->retry_timer)) {
        ev_timer_start(w->loop, &w->retry_timer);
    }
}

/* The payload of a [code, payload] reply: code and the payload's bytes. */
static bool
migrate_wrapper_reply(const struct req *step, int64_t *code, const char **payload,
                      size_t *len, int64_t *integer)
{
    struct resp_reply_parser p;
    size_t at = resp_array_header_len(step->reply, step->reply_len);

    if (step->reply_type != '*' || step->reply_int != 2 || at == 0) {
        return false;
    }
    resp_reply_parser_init(&p, INT64_MAX);
    if (resp_parse_reply(&p, step->reply + at, step->reply_len - at) != RESP_OK || p.type != ':') {
        return false;
    }
    *code = p.integer;
    at += p.len;
    resp_reply_parser_init(&p, INT64_MAX);
    if (resp_parse_reply(&p, step->reply + at, step->reply_len - at) != RESP_OK) {
        return false;
    }
    *payload = step->reply + at;
    *len = p.len;
    *integer = p.integer;   /* what a multi-key parent reads (count, length) */
    return true;
}

void
migrate_on_reply(struct worker *w, struct req *step)
{
    struct req *req = step->wait->waiter;
    const char *payload;
    size_t len;
    int64_t code, integer;

    if (step->hook_arg == MIGRATE_METHOD_VANILLA) {
        if (step->reply_type == '+') {
            req_free(w, step);
            migrate_forward(w, req);   /* OK, or NOKEY: the keys are the new group's */
            return;
        }
        /* A key too big for migrate.timeout (IOERR) stays on the old group,
         * whole (MIGRATE deletes only once the new group has it). */
        req_set_error(req, "ERR handle request, MIGRATE to %s failed: %.*s",
                      w->slot_server[req->wait->slot] != NULL ? w->slot_server[req->wait->slot]->addr : "?",
                      (int)CORDIS_MIN(step->reply_len > 3 ? step->reply_len - 3 : 0, (size_t)200),
                      step->reply + 1);
        req_free(w, step);
        migrate_finish(w, req);
        return;
    }
    if (step->reply_type == '-') {
        req_set_error(req, "ERR handle request, bad %s resp: %.*s",
                      step->hook_arg ? "slotsmgrt-exec-wrapper" : "slotsmgrt",
                      (int)CORDIS_MIN(step->reply_len - 3, (size_t)200), step->reply + 1);
        req_free(w, step);
        migrate_finish(w, req);
        return;
    }
    if (step->hook_arg == 0) {
        if (step->reply_type == ':') {
            req_free(w, step);
            migrate_forward(w, req);   /* moved (or never there): the new group has it */
            return;
        }
        req_set_error(req, "ERR handle request, bad slotsmgrt resp: %.*s",
                      (int)CORDIS_MIN(step->reply_len, (size_t)80), step->reply);
        req_free(w, step);
        migrate_finish(w, req);
        return;
    }
    if (!migrate_wrapper_reply(step, &code, &payload, &len, &integer)) {
        req_set_error(req, "ERR handle request, bad slotsmgrt-exec-wrapper resp: %.*s",
                      (int)CORDIS_MIN(step->reply_len, (size_t)80), step->reply);
        req_free(w, step);
        migrate_finish(w, req);
        return;
    }
    switch (code) {
    case 0:   /* not on the old group */
        req_free(w, step);
        migrate_forward(w, req);
        return;
    case 1:   /* being moved right now: again, soon */
        req_free(w, step);
        migrate_retry(w, req);
        return;
    case 2:   /* the old group ran it: its reply is the client's */
        if (req_set_own_reply(req, payload, len) != CORDIS_OK) {
            req_set_error(req, "ERR out of memory");
        } else {
            req->reply_int = integer;
        }
        req_free(w, step);
        migrate_finish(w, req);
        return;
    default:
        req_set_error(req, "ERR handle request, bad slotsmgrt-exec-wrapper resp: code %lld",
                      (long long)code);
        req_free(w, step);
        migrate_finish(w, req);
        return;
    }
}

/* Takes the parked requests whose slot is no longer locked (in order). */
static void
migrate_release_parked(struct worker *w, int64_t now)
{
    struct req *req = w->parked, *next, *keep = NULL, *keep_tail = NULL;
    int64_t bound = w->conf->backend.recv_timeout * 1000;

    w->parked = w->parked_tail = NULL;
    for (; req != NULL; req = next) {
        next = req->bnext;
        if (w->slot_state[req->wait->slot] & MIGRATE_LOCKED) {
            if (bound > 0 && now - req->wait->parked_at > bound) {
                req_set_error(req, "ERR slot %u is locked (waited backend.recv_timeout)",
                              (unsigned)req->wait->slot);
                migrate_finish(w, req);
                continue;
            }
            migrate_list_push(&keep, &keep_tail, req);
            continue;
        }
        if ((w->slot_state[req->wait->slot] & MIGRATE_FROM) && req->wait->key != NULL) {
            migrate_step(w, req);
        } else {
            migrate_forward(w, req);
        }
    }
    /* Sends above may have parked more (a slot locked again): keep order. */
    if (keep != NULL) {
        keep_tail->bnext = w->parked;
        w->parked = keep;
        if (w->parked_tail == NULL) {
            w->parked_tail = keep_tail;
        }
    }
}

/* Whether a connection holds a client's request sent at or before seq.
 * cordis's own requests (PING, AUTH, ROLE: seq 0) may stand in front. */
static bool
migrate_conn_holds(const struct backend_conn *c, uint64_t seq)
{
    for (const struct req *r = c != NULL ? c->head : NULL; r != NULL; r = r->bnext) {
        if (r->seq != 0) {
            return r->seq <= seq;   /* the FIFO's client requests go in send order */
        }
    }
    return false;
}

/* A request sent at or before seq is still in flight: the barrier waits.
 * Private connections count too (an EXEC on its way), but not a blocking
 * command, which may wait forever (its slot cannot migrate under it:
 * TRYAGAIN). */
static bool
migrate_inflight_before(struct worker *w, uint64_t seq)
{
    for (struct backend_server *s = w->servers; s != NULL; s = s->next) {
        for (int i = 0; i < s->ndb * s->parallel; i++) {
            if (migrate_conn_holds(s->conns[i], seq)) {
                return true;
            }
        }
    }
    for (const struct backend_conn *c = w->private_conns; c != NULL; c = c->pnext) {
        if (c->head != NULL && c->head->deadline == 0 && migrate_conn_holds(c, seq)) {
            return true;
        }
    }
    return false;
}

/* Sends again the semi-async steps whose pause is over, in order. */
static void
migrate_retry_due(struct worker *w, int64_t now)
{
    struct req *req = w->retrying, *next, *keep = NULL, *keep_tail = NULL;

    w->retrying = w->retrying_tail = NULL;
    for (; req != NULL; req = next) {
        next = req->bnext;
        if (req->wait->retry_at > now) {
            migrate_list_push(&keep, &keep_tail, req);
        } else {
            migrate_step(w, req);
        }
    }
    if (keep != NULL) {
        /* Steps answered at once may have queued more: those go after. */
        keep_tail->bnext = w->retrying;
        w->retrying = keep;
        if (w->retrying_tail == NULL) {
            w->retrying_tail = keep_tail;
        }
    }
}

void
migrate_retry_cb(struct ev_loop *loop, ev_timer *timer, int revents)
{
    struct worker *w = ev_userdata(loop);

    (void)timer;
    (void)revents;
    migrate_retry_due(w, worker_now(w));
    if (w->retrying == NULL) {
        ev_timer_stop(loop, &w->retry_timer);
    }
}

void
migrate_route_applied(struct worker *w)
{
    /* The barrier: requests sent so far must be answered before the
     * master may tell the dashboard the new route is in force. */
    w->barrier_seq = w->send_seq;
    w->barrier_gen = w->route_gen;
    migrate_sweep(w, worker_now(w));
}

void
migrate_sweep(struct worker *w, int64_t now)
{
    if (w->parked != NULL) {
        migrate_release_parked(w, now);
    }
    if (w->retrying != NULL) {
        migrate_retry_due(w, now);
    }
    if (w->barrier_gen != 0 && !migrate_inflight_before(w, w->barrier_seq)) {
        __atomic_store_n(&w->stats->route_ack, w->barrier_gen, __ATOMIC_RELEASE);
        w->barrier_gen = 0;
    }
}

void
migrate_cleanup(struct worker *w)
{
    struct req *lists[2] = { w->parked, w->retrying };

    w->parked = w->parked_tail = w->retrying = w->retrying_tail = NULL;
    ev_timer_stop(w->loop, &w->retry_timer);
    for (int i = 0; i < 2; i++) {
        for (struct req *req = lists[i], *next; req != NULL; req = next) {
            next = req->bnext;
            req_set_error(req, "ERR cordis is shutting down");
            migrate_finish(w, req);
        }
    }
}
