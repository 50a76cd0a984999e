/*
 * Multi-key commands split per backend, and INFO's keyspace summed over the
 * groups. See multikey.h.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "command.h"
#include "conf.h"
#include "local.h"
#include "mbuf.h"
#include "migrate.h"
#include "multikey.h"
#include "reply.h"
#include "request.h"
#include "resp.h"
#include "router.h"
#include "session.h"
#include "util.h"
#include "worker.h"

/* argv[i] as it stands in the request: "$<len>\r\n<bytes>\r\n". Arguments
 * are either from the client's multibulk (canonical headers: the parser
 * rejects others) or re-encoded by the session. */
static void
multikey_raw_arg(const struct cstr *arg, const char **start, size_t *len)
{
    size_t hdr = resp_bulk_header_len(arg->len);

    *start = arg->ptr - hdr;
    *len = hdr + arg->len + 2;
}

/* Adds a byte range to a child's pieces, merging it with the previous one
 * when they touch (a key and its value, neighbouring keys). */
static void
multikey_add_piece(struct req *child, const char *start, size_t len)
{
    struct iovec *last = child->iovcnt > 0 ? &child->iov[child->iovcnt - 1] : NULL;

    if (last != NULL && (const char *)last->iov_base + last->iov_len == start) {
        last->iov_len += len;
    } else {
        child->iov[child->iovcnt].iov_base = (void *)start;
        child->iov[child->iovcnt].iov_len = len;
        child->iovcnt++;
    }
    child->send_len += len;
}

/* Finds (or adds) a server in the list; returns its index. */
static int
multikey_server_index(struct backend_server **servers, const struct cstr *const *keys,
                      int *nservers, struct backend_server *server)
{
    for (int j = 0; j < *nservers; j++) {
        if (servers[j] == server && keys[j] == NULL) {   /* not a one-key child */
            return j;
        }
    }
    servers[*nservers] = server;
    return (*nservers)++;
}

/* Sends the children; failures to send are answered at once. A child for
 * a slot with a state has one key (keys[j]) and goes through migrate.c. */
static void
multikey_send_children(struct worker *w, struct session *s, struct req *parent,
                       struct backend_server **servers, const unsigned *seeds,
                       const struct cstr *const *keys)
{
    int n = parent->nchildren;
    const char *err;

    parent->pending = n;
    for (int j = 0; j < n; j++) {
        struct req *child = parent->children[j];

        if (w->slot_state[seeds[j]] != 0 && keys[j] != NULL) {
            migrate_send(w, child, seeds[j], s->db, keys[j]->ptr, keys[j]->len);
            continue;
        }
        if (backend_send(w, servers[j], s->db, seeds[j], child, &err) != CORDIS_OK) {
            req_set_error(child, "ERR backend %s unavailable: %s", servers[j]->addr, err);
            req_finish(w, child);
        }
    }
}

/*
 * Working arrays of one dispatch: by server index (there are at most as
 * many servers as keys) and by key. Small commands keep them on the stack;
 * larger ones take one allocation.
 */
#define MULTIKEY_STACK_KEYS 64

struct multikey_plan {
    struct backend_server **servers;   /* the distinct servers, first use order */
    unsigned              *seeds;      /* per server: slot of its first key */
    unsigned              *counts;     /* per server: how many keys */
    const struct cstr    **keys;       /* per server: its key, when its slot has a state */
    uint32_t              *key_child;  /* per key: its server's index */
    void                  *heap;       /* the allocation, when not on the stack */
};

/* A child's pieces (the header, the command name, runs of its keys), then
 * its array header's bytes, in its scratch block. */
static int
multikey_alloc_child(struct req *child, unsigned nkeys)
{
    child->iov = req_scratch(child, sizeof(*child->iov) * ((size_t)nkeys + 2) + RESP_HEADER_MAX);
    return child->iov != NULL ? CORDIS_OK : CORDIS_ERROR;
}

static char *
multikey_child_header(struct req *child, unsigned nkeys)
{
    return (char *)(child->iov + nkeys + 2);
}

int
multikey_dispatch(struct worker *w, struct session *s, struct req *req, int argc,
                  const struct cstr *argv)
{
    int step = req->cmd->id == COMMAND_MSET ? 2 : 1;
    int nkeys = (argc - 1) / step, nservers = 0, known = 0, rc = CORDIS_ERROR;
    struct backend_server *servers_buf[MULTIKEY_STACK_KEYS];
    unsigned seeds_buf[MULTIKEY_STACK_KEYS], counts_buf[MULTIKEY_STACK_KEYS];
    uint32_t key_child_buf[MULTIKEY_STACK_KEYS];
    const struct cstr *keys_buf[MULTIKEY_STACK_KEYS];
    struct multikey_plan plan = { .servers = servers_buf, .seeds = seeds_buf,
                                  .counts = counts_buf, .keys = keys_buf,
                                  .key_child = key_child_buf, .heap = NULL };
    const char *start;
    size_t len;

    if ((argc - 1) % step != 0) {
        req_set_error(req, "ERR wrong number of arguments for '%s' command", req->cmd->name);
        return CORDIS_ERROR;
    }
    if (nkeys > MULTIKEY_STACK_KEYS) {
        size_t n = (size_t)nkeys;
        char *heap = malloc(n * (sizeof(*plan.servers) + sizeof(*plan.keys) + sizeof(*plan.seeds)
                                 + sizeof(*plan.counts) + sizeof(*plan.key_child)));

        if (heap == NULL) {
            req_set_error(req, "ERR out of memory");
            return CORDIS_ERROR;
        }
        plan.heap = heap;
        plan.servers = (struct backend_server **)(void *)heap;
        plan.keys = (const struct cstr **)(void *)(plan.servers + n);
        plan.seeds = (unsigned *)(void *)(plan.keys + n);
        plan.counts = plan.seeds + n;
        plan.key_child = (uint32_t *)(plan.counts + n);
    }
    for (int i = 0; i < nkeys; i++) {
        const struct cstr *key = &argv[1 + i * step];
        unsigned slot = router_slot(key->ptr, key->len);
        struct backend_server *server = w->slot_server[slot];
        int j;

        if (server == NULL) {
            req_set_error(req, "ERR slot %u is not served", slot);
            goto done;
        }
        if (w->slot_state[slot] != 0) {
            /* Locked or migrating: a child of its own, key by key. */
            j = nservers++;
            plan.servers[j] = server;
        } else {
            j = multikey_server_index(plan.servers, plan.keys, &nservers, server);
        }
        if (j == known) {
            /* A server seen first here: its key count starts. */
            known++;
            plan.counts[j] = 0;
            plan.seeds[j] = slot;
            plan.keys[j] = w->slot_state[slot] != 0 ? key : NULL;
        }
        plan.counts[j]++;
        plan.key_child[i] = (uint32_t)j;
    }
    if (nservers == 1) {
        rc = CORDIS_EAGAIN;   /* one backend has every key: send it whole (dispatch_forward
                                 takes care of a slot state) */
        goto done;
    }

    if (req_alloc_children(req, nservers, nkeys) != CORDIS_OK) {
        req_set_error(req, "ERR out of memory");
        goto done;
    }
    memcpy(req->key_child, plan.key_child, sizeof(*req->key_child) * (size_t)nkeys);
    for (int j = 0; j < nservers; j++) {
        struct req *child = req_new(w);
        char *header;

        if (child == NULL || multikey_alloc_child(child, plan.counts[j]) != CORDIS_OK) {
            if (child != NULL) {
                req_free(w, child);
            }
            req_set_error(req, "ERR out of memory");
            goto done;
        }
        req->children[req->nchildren++] = child;
        child->parent = req;
        child->cmd = req->cmd;
        child->start_usec = req->start_usec;
        /* "*<n>\r\n", then the command name and the keys as they came. */
        header = multikey_child_header(child, plan.counts[j]);
        len = resp_write_array_header(header, (int64_t)plan.counts[j] * step + 1);
        multikey_add_piece(child, header, len);
        multikey_raw_arg(&argv[0], &start, &len);
        multikey_add_piece(child, start, len);
    }
    for (int i = 0; i < nkeys; i++) {
        struct req *child = req->children[req->key_child[i]];

        for (int k = 0; k < step; k++) {
            multikey_raw_arg(&argv[1 + i * step + k], &start, &len);
            multikey_add_piece(child, start, len);
        }
    }
    req->nkeys = nkeys;
    multikey_send_children(w, s, req, plan.servers, plan.seeds, plan.keys);
    rc = CORDIS_OK;

done:
    if (rc != CORDIS_OK) {
        for (int j = 0; j < req->nchildren; j++) {
            req_free(w, req->children[j]);
        }
        req->children = NULL;
        req->key_child = NULL;
        req->nchildren = 0;
    }
    free(plan.heap);
    return rc;
}

/* MGET: the children's arrays interleaved back into key order. Each child
 * must answer exactly as many elements as it was asked keys. */
static void
multikey_coalesce_mget(struct req *parent, struct reply *r)
{
    int n = parent->nchildren, nkeys = parent->nkeys;
    size_t cursor_buf[MULTIKEY_STACK_KEYS];
    int64_t asked_buf[MULTIKEY_STACK_KEYS];
    bool on_heap = n > MULTIKEY_STACK_KEYS;
    size_t *cursor = on_heap ? malloc(sizeof(*cursor) * (size_t)n) : cursor_buf;
    int64_t *asked = on_heap ? calloc((size_t)n, sizeof(*asked)) : asked_buf;
    struct resp_reply_parser p;

    if (cursor == NULL || asked == NULL) {
        r->failed = true;
        goto done;
    }
    if (!on_heap) {
        memset(asked, 0, sizeof(*asked) * (size_t)n);
    }
    for (int i = 0; i < nkeys; i++) {
        asked[parent->key_child[i]]++;
    }
    for (int j = 0; j < n; j++) {
        struct req *child = parent->children[j];

        if (child->reply_type != '*' || child->reply_int != asked[j]) {
            reply_error(r, "ERR unexpected reply from a backend to MGET");
            goto done;
        }
        cursor[j] = resp_array_header_len(child->reply, child->reply_len);
    }
    reply_array(r, nkeys);
    for (int i = 0; i < nkeys; i++) {
        struct req *child = parent->children[parent->key_child[i]];
        size_t at = cursor[parent->key_child[i]];

        resp_reply_parser_init(&p, INT64_MAX);
        if (at == 0 || at >= child->reply_len
            || resp_parse_reply(&p, child->reply + at, child->reply_len - at) != RESP_OK) {
            r->len = 0;
            reply_error(r, "ERR unexpected reply from a backend to MGET");
            goto done;
        }
        reply_raw(r, child->reply + at, p.len);
        cursor[parent->key_child[i]] = at + p.len;
    }

done:
    if (on_heap) {
        free(cursor);
        free(asked);
    }
}

void
multikey_coalesce(struct req *parent)
{
    struct reply r;
    int64_t sum = 0;

    for (int j = 0; j < parent->nchildren; j++) {
        struct req *child = parent->children[j];

        if (child->reply_type == '-') {
            /* One group's error is the whole command's reply. */
            if (req_set_own_reply(parent, child->reply, child->reply_len) != CORDIS_OK) {
                req_set_error(parent, "ERR out of memory");
            }
            parent->failed = child->failed;
            return;
        }
    }
    reply_init(&r);
    switch (parent->cmd->id) {
    case COMMAND_MGET:
        multikey_coalesce_mget(parent, &r);
        break;
    case COMMAND_MSET:
        for (int j = 0; j < parent->nchildren; j++) {
            if (parent->children[j]->reply_type != '+') {
                reply_error(&r, "ERR unexpected reply from a backend to MSET");
                break;
            }
        }
        if (r.len == 0) {
            static const char ok[] = "+OK\r\n";

            req_set_static_reply(parent, ok, sizeof(ok) - 1);
            return;
        }
        break;
    default:   /* DEL, EXISTS, TOUCH, UNLINK: counts add up */
        for (int j = 0; j < parent->nchildren; j++) {
            if (parent->children[j]->reply_type != ':') {
                reply_printf(&r, "-ERR unexpected reply from a backend to %s\r\n",
                             command_upper_name(parent->cmd));
                break;
            }
            sum += parent->children[j]->reply_int;
        }
        if (r.len == 0) {
            reply_int(&r, sum);
        }
        break;
    }
    req_take_reply(parent, &r);
}
