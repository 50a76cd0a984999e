/*
 * Pub/sub with fan-in subscriptions. See pubsub.h.
 */
#include "config.h"

#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "command.h"
#include "conf.h"
#include "log.h"
#include "mbuf.h"
#include "pinned.h"
#include "pubsub.h"
#include "reply.h"
#include "request.h"
#include "resp.h"
#include "router.h"
#include "session.h"
#include "util.h"
#include "worker.h"

enum pubsub_kind {
    PUBSUB_CHANNEL = 0,
    PUBSUB_PATTERN,
    PUBSUB_SHARD,
};

/* Per kind: the backend commands and the confirmations' names. */
static const struct {
    const char *subscribe, *unsubscribe;
} pubsub_words[3] = {
    { "subscribe", "unsubscribe" },
    { "psubscribe", "punsubscribe" },
    { "ssubscribe", "sunsubscribe" },
};

struct pubsub_sub;

/* One name subscribed by the worker on one server. */
struct pubsub_entry {
    struct pubsub_sub   *subs;        /* the clients that want it */
    unsigned             nsubs;
    bool                 confirmed;   /* the backend confirmed it (since the last connect) */
    bool                 listed;      /* on the worker's list of entries to look at */
    struct pubsub_entry *list_next;
    struct backend_server *server;
    uint8_t              kind;        /* enum pubsub_kind */
    size_t               len;
    char                 name[];
};

/* One client's subscription to one entry. */
struct pubsub_sub {
    struct pubsub_entry *entry;
    struct session      *session;
    struct pubsub_sub   *prev, *next;  /* the entry's list */
    struct pubsub_sub   *sibling;      /* the same name on the next server */
};

/* A name in a client's own set (its subs: one per server it lives on). */
struct pubsub_name {
    struct pubsub_sub *subs;
    size_t             len;
    char               name[];
};

/* tsearch keys: entries compare by kind, then name; names by name. */
static int
pubsub_entry_cmp(const void *a, const void *b)
{
    const struct pubsub_entry *x = a, *y = b;
    int c;

    if (x->kind != y->kind) {
        return (int)x->kind - (int)y->kind;
    }
    c = memcmp(x->name, y->name, CORDIS_MIN(x->len, y->len));
    return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

static int
pubsub_name_cmp(const void *a, const void *b)
{
    const struct pubsub_name *x = a, *y = b;
    int c = memcmp(x->name, y->name, CORDIS_MIN(x->len, y->len));

    return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

static const char pubsub_not_allowed[] =
    "ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
    "are allowed in this context";

bool
pubsub_is_command(const struct command *cmd)
{
    switch (cmd->id) {
    case COMMAND_SUBSCRIBE:
    case COMMAND_UNSUBSCRIBE:
    case COMMAND_PSUBSCRIBE:
    case COMMAND_PUNSUBSCRIBE:
    case COMMAND_SSUBSCRIBE:
    case COMMAND_SUNSUBSCRIBE:
    case COMMAND_PUBLISH:
    case COMMAND_SPUBLISH:
        return true;
    default:
        return false;
    }
}

bool
pubsub_subscribed(const struct session *s)
{
    const struct pubsub_client *c = s->ps;

    return c != NULL && c->count[0] + c->count[1] + c->count[2] > 0;
}

/* --- where a name lives ---------------------------------------------------------- */

/*
 * The server a channel lives on, or NULL when it lives on every group
 * (patterns, keyevent channels). *unserved is set when its slot has no
 * group.
 */
static struct backend_server *
pubsub_home(struct worker *w, enum pubsub_kind kind, const char *name, size_t len,
            bool *unserved)
{
    static const char keyspace[] = "__keyspace@";
    static const char keyevent[] = "__keyevent@";
    unsigned slot;

    *unserved = false;
    if (kind == PUBSUB_PATTERN
        || (kind == PUBSUB_CHANNEL && len >= sizeof(keyevent) - 1
            && memcmp(name, keyevent, sizeof(keyevent) - 1) == 0)) {
        return NULL;
    }
    if (kind == PUBSUB_CHANNEL && len >= sizeof(keyspace) - 1
        && memcmp(name, keyspace, sizeof(keyspace) - 1) == 0) {
        /* __keyspace@<db>__:<key>: where the key lives */
        const char *colon = memchr(name, ':', len);

        if (colon != NULL) {
            size_t off = (size_t)(colon + 1 - name);

            name += off;
            len -= off;
        }
    }
    slot = router_slot(name, len);
    if (w->slot_server[slot] == NULL) {
        *unserved = true;
    }
    return w->slot_server[slot];
}

/* --- entries (the worker's side) ---------------------------------------------------- */

/* Puts an entry on the list the sweep looks at (unsubscribe when unwanted). */
static void
pubsub_list(struct worker *w, struct pubsub_entry *e)
{
    if (!e->listed) {
        e->listed = true;
        e->list_next = w->pubsub_list;
        w->pubsub_list = e;
    }
}

static struct pubsub_entry *
pubsub_entry_find(struct backend_server *server, enum pubsub_kind kind, const char *name,
                  size_t len)
{
    struct {
        struct pubsub_entry e;
        char buf[64];
    } probe_small;
    struct pubsub_entry *probe, **found;

    probe = len <= sizeof(probe_small.buf) ? &probe_small.e : malloc(sizeof(*probe) + len);
    if (probe == NULL) {
        return NULL;
    }
    probe->kind = (uint8_t)kind;
    probe->len = len;
    memcpy(probe->name, name, len);
    found = tfind(probe, &server->subs, pubsub_entry_cmp);
    if (probe != &probe_small.e) {
        free(probe);
    }
    return found != NULL ? *found : NULL;
}

/* Sends "<SUBSCRIBE|UNSUBSCRIBE> name" on the server's pub/sub connection;
 * as a child of parent when one waits for it, else on our own account. */
static int
pubsub_send(struct worker *w, struct backend_server *server, struct req *child,
            const char *verb, const struct pubsub_entry *e)
{
    struct backend_conn *c = backend_pubsub_conn(w, server);
    struct cstr argv[2] = { { verb, strlen(verb) }, { e->name, e->len } };
    const char *err;

    if (c == NULL || req_encode(child, 2, argv) != CORDIS_OK) {
        return CORDIS_ERROR;
    }
    if (c->state == BACKEND_DOWN) {
        return CORDIS_ERROR;   /* the sweep resubscribes everything once it is back */
    }
    return backend_conn_send(w, c, child, &err);
}

/* An internal request (its reply is dropped) for the verb on e. */
static void
pubsub_send_internal(struct worker *w, struct pubsub_entry *e, const char *verb)
{
    struct req *req = req_new(w);

    if (req == NULL) {
        return;
    }
    req->internal = 1;
    if (pubsub_send(w, e->server, req, verb, e) != CORDIS_OK) {
        req_free(w, req);
    }
}

/*
 * Adds s's subscription to name on server: the entry is made when new. A
 * child request is returned when the client must wait for the backend's
 * confirmation (a name the worker does not hold confirmed yet).
 */
static struct pubsub_sub *
pubsub_join(struct worker *w, struct session *s, struct backend_server *server,
            enum pubsub_kind kind, const char *name, size_t len, bool *wait)
{
    struct pubsub_entry *e = pubsub_entry_find(server, kind, name, len);
    struct pubsub_sub *sub;

    if (e == NULL) {
        e = calloc(1, sizeof(*e) + len);
        if (e == NULL) {
            return NULL;
        }
        e->server = server;
        e->kind = (uint8_t)kind;
        e->len = len;
        memcpy(e->name, name, len);
        if (tsearch(e, &server->subs, pubsub_entry_cmp) == NULL) {
            free(e);
            return NULL;
        }
    }
    sub = calloc(1, sizeof(*sub));
    if (sub == NULL) {
        pubsub_list(w, e);   /* dropped by the sweep if nobody wants it */
        return NULL;
    }
    sub->entry = e;
    sub->session = s;
    sub->next = e->subs;
    if (e->subs != NULL) {
        e->subs->prev = sub;
    }
    e->subs = sub;
    e->nsubs++;
    *wait = !e->confirmed;
    return sub;
}

/* Removes one subscription. An entry nobody wants is unsubscribed at once
 * (so PUBLISH counts as Redis would) but freed by the sweep: a message
 * being handed out may be walking it. */
static void
pubsub_leave(struct worker *w, struct pubsub_sub *sub)
{
    struct pubsub_entry *e = sub->entry;

    if (sub->prev != NULL) {
        sub->prev->next = sub->next;
    } else {
        e->subs = sub->next;
    }
    if (sub->next != NULL) {
        sub->next->prev = sub->prev;
    }
    if (--e->nsubs == 0) {
        pubsub_send_internal(w, e, pubsub_words[e->kind].unsubscribe);
        e->confirmed = false;   /* a new subscriber subscribes it again */
        pubsub_list(w, e);
    }
    free(sub);
}

/* --- a client's own set -------------------------------------------------------------- */

static struct pubsub_name *
pubsub_name_find(struct pubsub_client *c, enum pubsub_kind kind, const char *name, size_t len)
{
    struct {
        struct pubsub_name n;
        char buf[64];
    } probe_small;
    struct pubsub_name *probe, **found;

    probe = len <= sizeof(probe_small.buf) ? &probe_small.n : malloc(sizeof(*probe) + len);
    if (probe == NULL) {
        return NULL;
    }
    probe->len = len;
    memcpy(probe->name, name, len);
    found = tfind(probe, &c->names[kind], pubsub_name_cmp);
    if (probe != &probe_small.n) {
        free(probe);
    }
    return found != NULL ? *found : NULL;
}

/* Drops one name of the client's set, with its subscriptions. */
static void
pubsub_drop_name(struct worker *w, struct pubsub_client *c, enum pubsub_kind kind,
                 struct pubsub_name *n)
{
    struct pubsub_sub *sub, *next;

    for (sub = n->subs; sub != NULL; sub = next) {
        next = sub->sibling;
        pubsub_leave(w, sub);
    }
    tdelete(n, &c->names[kind], pubsub_name_cmp);
    c->count[kind]--;
    free(n);
}

/* The count a confirmation shows: channels and patterns, or shard channels. */
static unsigned
pubsub_count(const struct pubsub_client *c, enum pubsub_kind kind)
{
    return kind == PUBSUB_SHARD ? c->count[PUBSUB_SHARD]
                                : c->count[PUBSUB_CHANNEL] + c->count[PUBSUB_PATTERN];
}

static void
pubsub_confirm(struct reply *r, const char *word, const char *name, size_t len, unsigned count)
{
    reply_array(r, 3);
    reply_cstr(r, word);
    if (name != NULL) {
        reply_bulk(r, name, len);
    } else {
        reply_nil(r);
    }
    reply_int(r, count);
}

/* --- SUBSCRIBE and UNSUBSCRIBE ------------------------------------------------------- */

static enum pubsub_kind
pubsub_kind_of(const struct command *cmd)
{
    switch (cmd->id) {
    case COMMAND_PSUBSCRIBE:
    case COMMAND_PUNSUBSCRIBE:
        return PUBSUB_PATTERN;
    case COMMAND_SSUBSCRIBE:
    case COMMAND_SUNSUBSCRIBE:
        return PUBSUB_SHARD;
    default:
        return PUBSUB_CHANNEL;
    }
}

/* Children (backend SUBSCRIBEs the client waits for), gathered while the
 * names are added, then made the request's children. */
struct pubsub_waits {
    struct req *list[CORDIS_MAX_GROUPS * 4];
    int         n;
    bool        overflow;
};

static void
pubsub_subscribe(struct worker *w, struct session *s, struct req *req, int argc,
                 const struct cstr *argv)
{
    enum pubsub_kind kind = pubsub_kind_of(req->cmd);
    struct pubsub_client *c = s->ps;
    struct pubsub_waits waits;
    struct reply r;
    bool was = pubsub_subscribed(s);

    if (!was && !pinned_admit(w, s, req)) {
        req_finish(w, req);
        return;
    }
    if (c == NULL && (c = s->ps = calloc(1, sizeof(*c))) == NULL) {
        req_set_error(req, "ERR out of memory");
        pinned_release_place(w, s);
        req_finish(w, req);
        return;
    }
    waits.n = 0;
    waits.overflow = false;
    reply_init(&r);
    for (int i = 1; i < argc; i++) {
        const char *name = argv[i].ptr;
        size_t len = argv[i].len;
        struct pubsub_name *n = pubsub_name_find(c, kind, name, len);
        struct backend_server *home;
        bool unserved;

        if (n == NULL) {
            home = pubsub_home(w, kind, name, len, &unserved);
            n = calloc(1, sizeof(*n) + len);
            if (n != NULL) {
                n->len = len;
                memcpy(n->name, name, len);
            }
            if (n == NULL || unserved || tsearch(n, &c->names[kind], pubsub_name_cmp) == NULL) {
                free(n);
                reply_free(&r);
                req_set_error(req, unserved ? "ERR slot of channel '%.*s' is not served"
                                            : "ERR out of memory",
                              (int)CORDIS_MIN(len, (size_t)128), name);
                break;
            }
            c->count[kind]++;
            for (int g = 0; g < w->ngroups; g++) {
                struct backend_server *server = home != NULL ? home : w->group_server[g];
                struct pubsub_sub *sub;
                bool wait = false;

                if (server == NULL) {
                    continue;
                }
                sub = pubsub_join(w, s, server, kind, name, len, &wait);
                if (sub != NULL) {
                    sub->sibling = n->subs;
                    n->subs = sub;
                }
                if (sub != NULL && wait) {
                    struct req *child = waits.n < (int)(sizeof(waits.list) / sizeof(waits.list[0]))
                                      ? req_new(w) : NULL;

                    if (child == NULL) {
                        waits.overflow = true;   /* answered without waiting */
                    } else if (pubsub_send(w, server, child, pubsub_words[kind].subscribe,
                                           sub->entry) != CORDIS_OK) {
                        req_free(w, child);
                    } else {
                        child->parent = req;
                        waits.list[waits.n++] = child;
                    }
                }
                if (home != NULL) {
                    break;
                }
            }
        }
        pubsub_confirm(&r, pubsub_words[kind].subscribe, name, len, pubsub_count(c, kind));
    }
    if (!req->failed) {
        req_take_reply(req, &r);
    }
    pinned_update_kinds(w, s);
    if (!pubsub_subscribed(s)) {
        pinned_release_place(w, s);
    }
    if (waits.n == 0 || req_alloc_children(req, waits.n, 0) != CORDIS_OK) {
        /* Nothing to wait for (or no memory to wait): the children, if
         * any, finish on their own. */
        for (int i = 0; i < waits.n; i++) {
            waits.list[i]->parent = NULL;
            waits.list[i]->internal = 1;
        }
        req_finish(w, req);
        return;
    }
    for (int i = 0; i < waits.n; i++) {
        req->children[i] = waits.list[i];
    }
    req->nchildren = waits.n;
    req->pending = waits.n;
    req->pubsub = 1;
}

/* Collects the names of one kind of a client's set (UNSUBSCRIBE with no
 * arguments). */
static struct pubsub_name **pubsub_walk_out;
static size_t pubsub_walk_n;

static void
pubsub_walk_collect(const void *node, VISIT which, int depth)
{
    (void)depth;
    if (which == postorder || which == leaf) {
        pubsub_walk_out[pubsub_walk_n++] = *(struct pubsub_name *const *)node;
    }
}

/* Unsubscribes s from the names (all of the kind when argc is 1) into r. */
static int
pubsub_unsubscribe_into(struct worker *w, struct session *s, enum pubsub_kind kind,
                        int argc, const struct cstr *argv, struct reply *r)
{
    struct pubsub_client *c = s->ps;
    const char *word = pubsub_words[kind].unsubscribe;

    if (argc > 1) {
        for (int i = 1; i < argc; i++) {
            struct pubsub_name *n = c != NULL ? pubsub_name_find(c, kind, argv[i].ptr, argv[i].len)
                                              : NULL;

            if (n != NULL) {
                pubsub_drop_name(w, c, kind, n);
            }
            pubsub_confirm(r, word, argv[i].ptr, argv[i].len,
                           c != NULL ? pubsub_count(c, kind) : 0);
        }
        return CORDIS_OK;
    }
    if (c == NULL || c->count[kind] == 0) {
        pubsub_confirm(r, word, NULL, 0, c != NULL ? pubsub_count(c, kind) : 0);
        return CORDIS_OK;
    }
    pubsub_walk_out = malloc(sizeof(*pubsub_walk_out) * c->count[kind]);
    if (pubsub_walk_out == NULL) {
        return CORDIS_ERROR;
    }
    pubsub_walk_n = 0;
    twalk(c->names[kind], pubsub_walk_collect);
    for (size_t i = 0; i < pubsub_walk_n; i++) {
        struct pubsub_name *n = pubsub_walk_out[i];

        /* the name goes with n: confirm first, with the count after */
        c->count[kind]--;
        pubsub_confirm(r, word, n->name, n->len, pubsub_count(c, kind));
        c->count[kind]++;
        pubsub_drop_name(w, c, kind, n);
    }
    free(pubsub_walk_out);
    pubsub_walk_out = NULL;
    return CORDIS_OK;
}

static void
pubsub_after_change(struct worker *w, struct session *s)
{
    pinned_update_kinds(w, s);
    if (!pubsub_subscribed(s)) {
        pinned_release_place(w, s);
    }
}

static void
pubsub_unsubscribe(struct worker *w, struct session *s, struct req *req, int argc,
                   const struct cstr *argv)
{
    struct reply r;

    reply_init(&r);
    if (pubsub_unsubscribe_into(w, s, pubsub_kind_of(req->cmd), argc, argv, &r) != CORDIS_OK) {
        reply_free(&r);
        req_set_error(req, "ERR out of memory");
    } else {
        req_take_reply(req, &r);
    }
    pubsub_after_change(w, s);
    req_finish(w, req);
}

/* PUBLISH / SPUBLISH: to the group of the channel, on the shared connection. */
static void
pubsub_publish(struct worker *w, struct session *s, struct req *req, const struct cstr *argv)
{
    unsigned slot = router_slot(argv[1].ptr, argv[1].len);
    struct backend_server *server = w->slot_server[slot];
    const char *err;

    if (server == NULL) {
        req_set_error(req, "ERR slot %u is not served", slot);
    } else if (backend_send(w, server, 0, slot, req, &err) != CORDIS_OK) {
        req_set_error(req, "ERR backend %s unavailable: %s", server->addr, err);
    } else {
        return;
    }
    req_finish(w, req);
}

void
pubsub_dispatch(struct worker *w, struct session *s, struct req *req, int argc,
                const struct cstr *argv)
{
    switch (req->cmd->id) {
    case COMMAND_PUBLISH:
    case COMMAND_SPUBLISH:
        pubsub_publish(w, s, req, argv);
        return;
    case COMMAND_SUBSCRIBE:
    case COMMAND_PSUBSCRIBE:
    case COMMAND_SSUBSCRIBE:
        pubsub_subscribe(w, s, req, argc, argv);
        return;
    default:
        pubsub_unsubscribe(w, s, req, argc, argv);
        return;
    }
}

bool
pubsub_allowed(struct worker *w, struct session *s, struct req *req, int argc,
               const struct cstr *argv)
{
    struct reply r;

    switch (req->cmd->id) {
    case COMMAND_SUBSCRIBE:
    case COMMAND_UNSUBSCRIBE:
    case COMMAND_PSUBSCRIBE:
    case COMMAND_PUNSUBSCRIBE:
    case COMMAND_SSUBSCRIBE:
    case COMMAND_SUNSUBSCRIBE:
    case COMMAND_QUIT:
    case COMMAND_RESET:
        return true;
    case COMMAND_PING:
        if (argc > 2) {
            break;   /* the arity error, as usual */
        }
        reply_init(&r);
        reply_array(&r, 2);
        reply_cstr(&r, "pong");
        reply_bulk(&r, argc == 2 ? argv[1].ptr : "", argc == 2 ? argv[1].len : 0);
        req_take_reply(req, &r);
        return false;
    default:
        req_set_error(req, pubsub_not_allowed, req->cmd->name);
        return false;
    }
    return true;
}

/* --- messages -------------------------------------------------------------------------- */

/* Reads the bulk string at *p (inside a complete reply): its bytes and length. */
static bool
pubsub_bulk(const char **p, const char *end, const char **data, size_t *len)
{
    const char *q = *p;
    size_t n = 0;

    if (q >= end || *q != '$') {
        return false;
    }
    for (q++; q < end && *q >= '0' && *q <= '9'; q++) {
        n = n * 10 + (size_t)(*q - '0');
    }
    if (q + 2 > end || q[0] != '\r' || (size_t)(end - q - 2) < n + 2) {
        return false;
    }
    *data = q + 2;
    *len = n;
    *p = q + 2 + n + 2;
    return true;
}

/* Hands one message to a subscriber: a done request at the end of its FIFO. */
static void
pubsub_deliver(struct worker *w, struct session *s, struct mbuf *buf, const char *reply,
               size_t len)
{
    const struct conf *conf = w->conf;
    struct req *req;

    if (s->closing) {
        return;
    }
    req = req_new(w);
    if (req == NULL) {
        session_close(s, "out of memory");
        return;
    }
    req->session = s;
    req_set_reply_ref(req, buf, reply, len, '*', 0);
    session_push_reply(s, req);
    req_finish(w, req);
    if (s->out_bytes > (uint64_t)conf->session.pubsub_max_output) {
        log_warn("subscriber %s closed: %zu bytes of messages unsent, over "
                 "session.pubsub_max_output (%lld)", s->peer, s->out_bytes,
                 (long long)conf->session.pubsub_max_output);
        session_close(s, "pubsub output limit");
    } else if (s->out_bytes > (uint64_t)conf->session.pubsub_soft_output
               && conf->session.pubsub_soft_time > 0 && s->ps != NULL) {
        if (s->ps->soft_since == 0) {
            s->ps->soft_since = worker_now(w);
        } else if (worker_now(w) - s->ps->soft_since > conf->session.pubsub_soft_time * 1000) {
            log_warn("subscriber %s closed: over session.pubsub_soft_output (%lld) for "
                     "session.pubsub_soft_time (%lld ms)", s->peer,
                     (long long)conf->session.pubsub_soft_output,
                     (long long)conf->session.pubsub_soft_time);
            session_close(s, "pubsub soft output limit");
        }
    } else if (s->ps != NULL) {
        s->ps->soft_since = 0;
    }
}

bool
pubsub_on_push(struct worker *w, struct backend_conn *c, const char *reply, size_t len)
{
    const char *p = reply, *end = reply + len, *word, *name;
    size_t hlen = resp_array_header_len(reply, len), wlen, nlen;
    enum pubsub_kind kind;
    struct pubsub_entry *e;
    struct pubsub_sub *sub, *next;

    if (reply[0] != '*' || hlen == 0) {
        return false;
    }
    p += hlen;
    if (!pubsub_bulk(&p, end, &word, &wlen)) {
        return false;
    }
    if (wlen == 7 && memcmp(word, "message", 7) == 0) {
        kind = PUBSUB_CHANNEL;
    } else if (wlen == 8 && memcmp(word, "pmessage", 8) == 0) {
        kind = PUBSUB_PATTERN;
    } else if (wlen == 8 && memcmp(word, "smessage", 8) == 0) {
        kind = PUBSUB_SHARD;
    } else {
        /* A confirmation of ours: the name is held from now on. */
        for (int k = 0; k < 3; k++) {
            if (wlen == strlen(pubsub_words[k].subscribe)
                && memcmp(word, pubsub_words[k].subscribe, wlen) == 0
                && pubsub_bulk(&p, end, &name, &nlen)
                && (e = pubsub_entry_find(c->server, (enum pubsub_kind)k, name, nlen)) != NULL) {
                e->confirmed = true;
            }
        }
        return false;
    }
    if (!pubsub_bulk(&p, end, &name, &nlen)) {
        return true;   /* malformed message: dropped */
    }
    e = pubsub_entry_find(c->server, kind, name, nlen);
    if (e == NULL) {
        return true;   /* nobody wants it any more */
    }
    for (sub = e->subs; sub != NULL; sub = next) {
        next = sub->next;
        pubsub_deliver(w, sub->session, c->rbuf, reply, len);
    }
    return true;
}

/* --- lifecycle ---------------------------------------------------------------------------- */

static void
pubsub_drop_all(struct worker *w, struct session *s)
{
    struct pubsub_client *c = s->ps;

    if (c == NULL) {
        return;
    }
    for (int k = 0; k < 3; k++) {
        if (c->count[k] == 0) {
            continue;
        }
        pubsub_walk_out = malloc(sizeof(*pubsub_walk_out) * c->count[k]);
        if (pubsub_walk_out == NULL) {
            continue;   /* the names stay; freed with nothing else to do on exit */
        }
        pubsub_walk_n = 0;
        twalk(c->names[k], pubsub_walk_collect);
        for (size_t i = 0; i < pubsub_walk_n; i++) {
            pubsub_drop_name(w, c, (enum pubsub_kind)k, pubsub_walk_out[i]);
        }
        free(pubsub_walk_out);
        pubsub_walk_out = NULL;
    }
}

void
pubsub_reset(struct worker *w, struct session *s)
{
    pubsub_drop_all(w, s);
    pubsub_after_change(w, s);
}

void
pubsub_close(struct worker *w, struct session *s)
{
    pubsub_drop_all(w, s);
    free(s->ps);
    s->ps = NULL;
}

void
pubsub_cleanup(struct worker *w)
{
    pubsub_sweep(w, 0);   /* nobody is subscribed any more: every entry goes */
    for (struct backend_server *s = w->servers; s != NULL; s = s->next) {
        tdestroy(s->subs, free);
        s->subs = NULL;
    }
}

/* Resubscribing after a reconnect: every entry of the server again. */
static struct worker *pubsub_walk_worker;

static void
pubsub_walk_resubscribe(const void *node, VISIT which, int depth)
{
    struct pubsub_entry *e = *(struct pubsub_entry *const *)node;

    (void)depth;
    if (which == postorder || which == leaf) {
        e->confirmed = false;
        if (e->nsubs > 0) {
            pubsub_send_internal(pubsub_walk_worker, e, pubsub_words[e->kind].subscribe);
        }
    }
}

/*
 * A pub/sub connection that failed: connect again when due and subscribe
 * everything on the new connection (queued while it connects). The gap is
 * logged when it is lost and when it is back.
 */
static void
pubsub_reconnect(struct worker *w, struct backend_server *server, int64_t now)
{
    struct backend_conn *c = server->pubsub;

    if (c == NULL) {
        return;
    }
    if (c->state == BACKEND_UP && server->pubsub_lost != 0) {
        log_warn("pub/sub connection to %s back after %lld ms: messages published in "
                 "between were not delivered", server->addr,
                 (long long)((now - server->pubsub_lost) / 1000));
        server->pubsub_lost = 0;
    }
    if (c->state != BACKEND_DOWN || now < c->retry_at) {
        return;
    }
    if (server->pubsub_lost == 0) {
        server->pubsub_lost = c->state_since;
        log_warn("pub/sub connection to %s lost (%s): subscribing again as soon as it "
                 "is back", server->addr, c->last_error);
    }
    backend_conn_connect(w, c);
    if (c->state == BACKEND_DOWN) {
        return;
    }
    pubsub_walk_worker = w;
    twalk(server->subs, pubsub_walk_resubscribe);
}

void
pubsub_sweep(struct worker *w, int64_t now)
{
    struct pubsub_entry *e = w->pubsub_list, *next;

    /* Entries nobody wants any more (unsubscribed already): freed. */
    w->pubsub_list = NULL;
    for (; e != NULL; e = next) {
        next = e->list_next;
        e->listed = false;
        if (e->nsubs > 0) {
            continue;
        }
        tdelete(e, &e->server->subs, pubsub_entry_cmp);
        free(e);
    }
    for (struct backend_server *s = w->servers; s != NULL; s = s->next) {
        if (s->subs != NULL) {
            pubsub_reconnect(w, s, now);
        }
    }
}
