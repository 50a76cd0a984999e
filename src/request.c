/*
 * Requests: allocation from a bounded free list, replies, completion.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "dispatch.h"
#include "fanout.h"
#include "info.h"
#include "mbuf.h"
#include "migrate.h"
#include "multikey.h"
#include "pinned.h"
#include "reply.h"
#include "request.h"
#include "resp.h"
#include "session.h"
#include "shm.h"
#include "stats.h"
#include "util.h"
#include "worker.h"

/* Replies up to this size are copied out of the backend's buffer when
 * their client is not reading. */
#define REQ_COPY_MAX 4096
/* Requests kept for reuse at most; the rest go back to malloc. */
#define REQ_FREE_MAX 4096

/* A scratch block past this size is not kept for the next request, so the
 * free list holds at most REQ_FREE_MAX of them (4 MB) after a burst of
 * large multi-key commands. Ten keys over a few groups need under 256 B. */
#define REQ_SCRATCH_KEEP 1024

struct req *
req_new(struct worker *w)
{
    struct req *req = w->free_reqs;
    void *scratch;
    size_t scratch_size;

    if (req != NULL) {
        w->free_reqs = req->next;
        w->nfree_reqs--;
        scratch = req->scratch;
        scratch_size = req->scratch_size;
        memset(req, 0, sizeof(*req));
        req->scratch = scratch;
        req->scratch_size = scratch_size;
        return req;
    }
    return calloc(1, sizeof(*req));
}

static void
req_destroy(struct req *req)
{
    free(req->scratch);
    free(req);
}

void
req_free(struct worker *w, struct req *req)
{
    for (int i = 0; i < req->nchildren; i++) {
        req_free(w, req->children[i]);
    }
    mbuf_unref(req->in);
    mbuf_unref(req->rbuf);
    free(req->gen);
    free(req->own);
    if (req->wait != NULL) {
        migrate_wait_free(req);
    }
    if (req->iov != req->iov_inline && req->iov != req->scratch) {
        free(req->iov);
    }
    if (req->scratch_size > REQ_SCRATCH_KEEP) {
        free(req->scratch);
        req->scratch = NULL;
        req->scratch_size = 0;
    }
    if (w->nfree_reqs < REQ_FREE_MAX) {
        req->next = w->free_reqs;
        w->free_reqs = req;
        w->nfree_reqs++;
        return;
    }
    req_destroy(req);
}

void
req_free_list_clear(struct worker *w)
{
    while (w->free_reqs != NULL) {
        struct req *req = w->free_reqs;

        w->free_reqs = req->next;
        req_destroy(req);
    }
    w->nfree_reqs = 0;
}

void *
req_scratch(struct req *req, size_t size)
{
    if (size > req->scratch_size) {
        void *block = malloc(size);

        if (block == NULL) {
            return NULL;
        }
        free(req->scratch);
        req->scratch = block;
        req->scratch_size = size;
    }
    return req->scratch;
}

int
req_alloc_children(struct req *req, int nchildren, int nkeys)
{
    size_t children_size = sizeof(*req->children) * (size_t)nchildren;
    size_t size = children_size + sizeof(*req->key_child) * (size_t)nkeys;
    char *block = req_scratch(req, size);

    if (block == NULL) {
        return CORDIS_ERROR;
    }
    memset(block, 0, size);
    req->children = (struct req **)(void *)block;
    req->key_child = nkeys > 0 ? (uint32_t *)(void *)(block + children_size) : NULL;
    return CORDIS_OK;
}

void
req_set_bytes(struct req *req, const void *bytes, size_t len)
{
    req->iov = req->iov_inline;
    req->iov[0].iov_base = (void *)bytes;
    req->iov[0].iov_len = len;
    req->iovcnt = 1;
    req->send_len = len;
}

int
req_encode(struct req *req, int argc, struct cstr *argv)
{
    size_t size = RESP_HEADER_MAX;
    char *p;

    for (int i = 0; i < argc; i++) {
        size += RESP_HEADER_MAX + argv[i].len + 2;
    }
    req->gen = malloc(size);
    if (req->gen == NULL) {
        return CORDIS_ERROR;
    }
    p = req->gen;
    p += resp_write_array_header(p, argc);
    for (int i = 0; i < argc; i++) {
        p += resp_write_bulk_header(p, argv[i].len);
        memcpy(p, argv[i].ptr, argv[i].len);
        argv[i].ptr = p;
        p += argv[i].len;
        memcpy(p, "\r\n", 2);
        p += 2;
    }
    req_set_bytes(req, req->gen, (size_t)(p - req->gen));
    return CORDIS_OK;
}

int
req_set_own_reply(struct req *req, const char *text, size_t len)
{
    char *copy = malloc(len);

    if (copy == NULL) {
        return CORDIS_ERROR;
    }
    memcpy(copy, text, len);
    free(req->own);
    req->own = copy;
    req->reply = copy;
    req->reply_len = len;
    req->reply_type = text[0];
    return CORDIS_OK;
}

void
req_set_static_reply(struct req *req, const char *text, size_t len)
{
    mbuf_unref(req->rbuf);
    req->rbuf = NULL;
    free(req->own);
    req->own = NULL;
    req->reply = text;
    req->reply_len = len;
    req->reply_type = text[0];
}

void
req_take_reply(struct req *req, struct reply *r)
{
    if (r->failed || r->len == 0) {
        reply_free(r);
        req_set_error(req, "ERR out of memory");
        return;
    }
    mbuf_unref(req->rbuf);
    req->rbuf = NULL;
    free(req->own);
    req->own = r->buf;
    req->reply = r->buf;
    req->reply_len = r->len;
    req->reply_type = r->buf[0];
    reply_init(r);
}

void
req_set_error(struct req *req, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    int n;

    buf[0] = '-';
    va_start(ap, fmt);
    n = vsnprintf(buf + 1, sizeof(buf) - 3, fmt, ap);
    va_end(ap);
    if (n < 0) {
        n = 0;
    }
    n = CORDIS_MIN(n, (int)sizeof(buf) - 4);
    /* An error is one line: no CR or LF may leak in from the message. */
    for (int i = 1; i <= n; i++) {
        if (buf[i] == '\r' || buf[i] == '\n') {
            buf[i] = ' ';
        }
    }
    memcpy(buf + 1 + n, "\r\n", 2);
    mbuf_unref(req->rbuf);
    req->rbuf = NULL;
    if (req_set_own_reply(req, buf, (size_t)n + 3) != CORDIS_OK) {
        static const char oom[] = "-ERR out of memory\r\n";

        req->reply = oom;
        req->reply_len = sizeof(oom) - 1;
        req->reply_type = '-';
    }
    req->failed = 1;
}

void
req_set_reply_ref(struct req *req, struct mbuf *buf, const char *reply,
                  size_t len, char type, int64_t integer)
{
    mbuf_unref(req->rbuf);
    req->rbuf = mbuf_ref(buf);
    req->reply = reply;
    req->reply_len = len;
    req->reply_type = type;
    req->reply_int = integer;
}

/* Counts a finished client request in this worker's stats row. */
static void
req_count(struct worker *w, struct req *req)
{
    int64_t usec;

    if (req->counted || req->cmd == NULL) {
        return;
    }
    req->counted = 1;
    usec = worker_now(w) - req->start_usec;
    stats_record(w->stats, req->cmd->id, (uint64_t)CORDIS_MAX(usec, 0),
                 req->failed, req->reply_type == '-' && !req->failed);
}

/* A parent whose children all have their reply: one reply from theirs. */
static void
req_coalesce(struct req *parent)
{
    switch ((enum command_dispatch)parent->cmd->dispatch) {
    case DISPATCH_FANOUT:
        fanout_merge(parent);
        break;
    case DISPATCH_LOCAL:   /* INFO: cordis's sections and the groups' */
        info_merge(parent);
        break;
    case DISPATCH_PINNED:  /* SUBSCRIBE: its reply was made when it was sent */
        break;
    default:
        multikey_coalesce(parent);
        break;
    }
}

void
req_finish(struct worker *w, struct req *req)
{
    struct req *parent = req->parent;

    if (req->migrate) {
        migrate_on_reply(w, req);   /* a step of ours: the request it is for goes on */
        return;
    }
    if (parent != NULL) {
        req->done = 1;
        if (--parent->pending > 0) {
            return;
        }
        req_coalesce(parent);
        req = parent;
    }
    if (req->pinned) {
        pinned_on_finish(w, req);   /* before the client may go on */
    }
    if (req->replica && replica_on_reply(w, req)) {
        return;   /* the replica could not serve it: sent to the primary */
    }
    if (req->cmd != NULL && !req->failed && dispatch_on_reply(w, req) == CORDIS_EAGAIN) {
        return;   /* sent again; it finishes with its next reply */
    }
    req->done = 1;
    req_count(w, req);
    if (req->session == NULL) {
        req_free(w, req);
        return;
    }
    if (req->rbuf != NULL && req->session->write_blocked != 0
        && req->reply_len <= REQ_COPY_MAX) {
        /* The client is not reading: a small reply must not pin the whole
         * backend buffer it was read into, so it moves to its own bytes. */
        if (req_set_own_reply(req, req->reply, req->reply_len) == CORDIS_OK) {
            mbuf_unref(req->rbuf);
            req->rbuf = NULL;
        }
    }
    if (req->silent) {
        req->reply_len = 0;   /* CLIENT REPLY OFF or SKIP: nothing goes out */
    }
    req->session->out_bytes += req->reply_len;
    req->session->ndone++;
    if (req->session->pin_wait != NULL && req->session->nreqs - req->session->ndone == 1) {
        pinned_resume(w, req->session);   /* its earlier requests are all answered */
    }
    req->session->reply_avg = (uint32_t)CORDIS_MIN(
        ((uint64_t)req->session->reply_avg * 7 + req->reply_len) / 8, UINT32_MAX);
    session_schedule(req->session);
}
