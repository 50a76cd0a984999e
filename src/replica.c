/*
 * Replica reads: which replica, when not, and the ROLE probe. See replica.h.
 */
#include "config.h"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "backend.h"
#include "log.h"
#include "mbuf.h"
#include "replica.h"
#include "request.h"
#include "resp.h"
#include "session.h"
#include "shm.h"
#include "util.h"
#include "worker.h"

/* ROLE asked of each replica this often. */
#define REPLICA_PROBE_USEC (1000 * 1000)

static const char replica_role[] = "*1\r\n$4\r\nROLE\r\n";

/* Whether sa is loopback or one of this host's interface addresses. */
static bool
replica_is_near(const struct sockaddr_storage *sa)
{
    struct ifaddrs *ifs, *i;
    bool near = util_addr_is_loopback((const struct sockaddr *)sa);

    if (near || getifaddrs(&ifs) != 0) {
        return near;
    }
    for (i = ifs; i != NULL && !near; i = i->ifa_next) {
        if (i->ifa_addr == NULL || i->ifa_addr->sa_family != sa->ss_family) {
            continue;
        }
        if (sa->ss_family == AF_INET) {
            near = memcmp(&((const struct sockaddr_in *)sa)->sin_addr,
                          &((const struct sockaddr_in *)i->ifa_addr)->sin_addr,
                          sizeof(struct in_addr)) == 0;
        } else if (sa->ss_family == AF_INET6) {
            near = memcmp(&((const struct sockaddr_in6 *)sa)->sin6_addr,
                          &((const struct sockaddr_in6 *)i->ifa_addr)->sin6_addr,
                          sizeof(struct in6_addr)) == 0;
        }
    }
    freeifaddrs(ifs);
    return near;
}

void
replica_set_build(struct worker *w, const struct shm_group *g, struct replica_set *set)
{
    struct backend_server *far[CORDIS_MAX_REPLICAS];
    int nfar = 0;

    set->n = 0;
    set->nnear = 0;
    for (int r = 0; r < g->nreplicas && r < CORDIS_MAX_REPLICAS; r++) {
        struct backend_server *s = backend_replica_get(w, g->replicas[r]);

        if (s == NULL) {
            log_error("cannot use replica %s of group %u", g->replicas[r], (unsigned)g->id);
            continue;
        }
        s->mark = 1;
        if (replica_is_near(&s->sa)) {
            set->s[set->nnear++] = s;
        } else {
            far[nfar++] = s;
        }
    }
    memcpy(&set->s[set->nnear], far, sizeof(far[0]) * (size_t)nfar);
    set->n = (uint8_t)(set->nnear + nfar);
}

/* A replica of one tier, round robin from `start`, that is not stale. */
static struct backend_server *
replica_in_tier(struct replica_set *set, int lo, int hi, unsigned start)
{
    int count = hi - lo;

    for (int k = 0; k < count; k++) {
        struct backend_server *s = set->s[lo + (int)((start + (unsigned)k) % (unsigned)count)];

        if (s->verified && !s->stale) {
            return s;
        }
    }
    return NULL;
}

struct backend_server *
replica_pick(struct worker *w, unsigned slot, struct req *req)
{
    struct replica_set *set = w->slot_replicas[slot];
    struct backend_server *s;
    unsigned start;

    if (set == NULL || set->n == 0) {
        return NULL;
    }
    start = set->rr++;
    s = replica_in_tier(set, 0, set->nnear, start);
    if (s == NULL) {
        s = replica_in_tier(set, set->nnear, set->n, start);
    }
    if (s != NULL) {
        req->replica = 1;
        req->hook_arg = slot;
    }
    return s;
}

/* -LOADING (a replica reading its data) or -MASTERDOWN (link to the
 * primary down, replica-serve-stale-data no). */
static bool
replica_cannot_serve(const struct req *req)
{
    return req->reply_type == '-' && req->reply != NULL
           && ((req->reply_len >= 8 && memcmp(req->reply, "-LOADING", 8) == 0)
               || (req->reply_len >= 11 && memcmp(req->reply, "-MASTERDOWN", 11) == 0));
}

bool
replica_on_reply(struct worker *w, struct req *req)
{
    struct backend_server *primary = w->slot_server[req->hook_arg % CORDIS_SLOTS];
    const char *err;

    req->replica = 0;
    if ((!req->failed && !replica_cannot_serve(req)) || primary == NULL || req->session == NULL) {
        return false;
    }
    /* The replica could not answer (down, loading, cut off): the primary
     * does, and the client never sees the replica's trouble. */
    mbuf_unref(req->rbuf);
    req->rbuf = NULL;
    free(req->own);
    req->own = NULL;
    req->reply = NULL;
    req->reply_len = 0;
    req->failed = 0;
    if (backend_send(w, primary, req->session->db, req->hook_arg, req, &err) != CORDIS_OK) {
        req_set_error(req, "ERR backend %s unavailable: %s", primary->addr, err);
        return false;
    }
    return true;
}

void
replica_probe(struct worker *w, int64_t now)
{
    for (struct backend_server *s = w->servers; s != NULL; s = s->next) {
        struct req *probe;
        const char *err;

        /* Replicas for their link; their primaries for the offsets (lag). */
        /* An unverified replica is asked again sooner: reads wait for it. */
        if ((!s->replica && !s->has_replicas) || s->retired
            || now - s->probed_at < (s->replica && !s->verified ? REPLICA_PROBE_USEC / 5
                                                                 : REPLICA_PROBE_USEC)) {
            continue;
        }
        s->probed_at = now;
        probe = req_new(w);
        if (probe == NULL) {
            return;
        }
        probe->internal = 1;
        probe->probe = 1;
        probe->server = s;
        req_set_bytes(probe, replica_role, sizeof(replica_role) - 1);
        if (backend_send(w, s, 0, 0, probe, &err) != CORDIS_OK) {
            req_free(w, probe);   /* down: reads skip it at send time anyway */
        } else if (s->stats != NULL) {
            s->stats->requests--;   /* counted as a client request by backend_send */
        }
    }
}

/* The bulk string at reply[*at] (advancing *at); false when it is not one. */
static bool
replica_bulk(const char *reply, size_t len, size_t *at, const char **text, size_t *tlen)
{
    struct resp_reply_parser p;

    resp_reply_parser_init(&p, INT64_MAX);
    if (*at >= len || resp_parse_reply(&p, reply + *at, len - *at) != RESP_OK || p.type != '$'
        || p.integer < 0) {
        return false;
    }
    *text = reply + *at + resp_bulk_header_len((size_t)p.integer);
    *tlen = (size_t)p.integer;
    *at += p.len;
    return true;
}

/* A primary's ROLE: ["master", offset, [[ip, port, offset], ...]]. Each
 * replica listed that this worker knows gets its lag in bytes. */
static void
replica_master_role(struct worker *w, const char *reply, size_t len, size_t at)
{
    struct resp_reply_parser p;
    int64_t offset, n;

    resp_reply_parser_init(&p, INT64_MAX);
    if (resp_parse_reply(&p, reply + at, len - at) != RESP_OK || p.type != ':') {
        return;
    }
    offset = p.integer;
    at += p.len;
    n = reply[at] == '*' ? (int64_t)strtoll(reply + at + 1, NULL, 10) : 0;
    at += resp_array_header_len(reply + at, len - at);
    for (int64_t i = 0; i < n; i++) {
        const char *ip, *port, *off;
        size_t iplen, portlen, offlen;
        char addr[CORDIS_ADDR_LEN];
        int64_t acked;

        at += resp_array_header_len(reply + at, len - at);
        if (!replica_bulk(reply, len, &at, &ip, &iplen)
            || !replica_bulk(reply, len, &at, &port, &portlen)
            || !replica_bulk(reply, len, &at, &off, &offlen)
            || !util_parse_i64(off, offlen, &acked)) {
            return;
        }
        snprintf(addr, sizeof(addr), memchr(ip, ':', iplen) != NULL ? "[%.*s]:%.*s" : "%.*s:%.*s",
                 (int)iplen, ip, (int)portlen, port);
        for (struct backend_server *s = w->servers; s != NULL; s = s->next) {
            if (s->replica && s->stats != NULL && strcmp(s->addr, addr) == 0) {
                s->stats->lag_bytes = CORDIS_MAX(offset - acked, 0);
            }
        }
    }
}

void
replica_on_role(struct worker *w, struct backend_server *s, const char *reply, size_t len)
{
    struct resp_reply_parser p;
    size_t at = resp_array_header_len(reply, len);
    const char *role;
    size_t rlen;
    bool stale = false;

    if (reply[0] != '*' || at == 0 || !replica_bulk(reply, len, &at, &role, &rlen)) {
        return;
    }
    if (rlen == 6 && memcmp(role, "master", 6) == 0) {
        replica_master_role(w, reply, len, at);
        stale = false;   /* a replica promoted serves its own writes */
    } else if (rlen == 5 && memcmp(role, "slave", 5) == 0) {
        /* ["slave", host, port, state, offset]: "connected" once the replica
         * follows its primary. */
        const char *state;
        size_t slen;

        for (int i = 0; i < 2; i++) {
            resp_reply_parser_init(&p, INT64_MAX);
            if (resp_parse_reply(&p, reply + at, len - at) != RESP_OK) {
                return;
            }
            at += p.len;
        }
        stale = !replica_bulk(reply, len, &at, &state, &slen) || slen != 9
                || memcmp(state, "connected", 9) != 0;
    }
    if (!s->replica) {
        return;   /* a primary: its ROLE was for the lag */
    }
    s->verified = !stale;
    if (stale && !s->stale) {
        log_warn("replica %s: its link to the primary is down; reads go elsewhere until it "
                 "is back", s->addr);
    } else if (!stale && s->stale) {
        log_info("replica %s: following its primary again; reads resume", s->addr);
    }
    s->stale = stale;
    if (s->stats != NULL) {
        s->stats->stale = stale;
    }
}
