/*
 * Replica reads: which replica, when not, and the ROLE probe. See replica.h.
 */
#include "config.h"

#include <ifaddrs.h>
#include <netinet/in.h>
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

        if (!s->stale) {
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
        req->mslot = (uint16_t)slot;
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
    struct backend_server *primary = w->slot_server[req->mslot];
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
    if (backend_send(w, primary, req->session->db, req->mslot, req, &err) != CORDIS_OK) {
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

        if (!s->replica || s->retired || now - s->probed_at < REPLICA_PROBE_USEC) {
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

void
replica_on_role(struct backend_server *s, const char *reply, size_t len)
{
    struct resp_reply_parser p;
    size_t at = resp_array_header_len(reply, len);
    bool stale = false;

    /* ["slave", host, port, state, offset]: the state is "connected" once
     * the replica follows its primary; a master (promoted) is fine. */
    if (reply[0] == '*' && at > 0) {
        resp_reply_parser_init(&p, INT64_MAX);
        if (resp_parse_reply(&p, reply + at, len - at) == RESP_OK && p.type == '$'
            && p.integer == 5 && memcmp(reply + at + resp_bulk_header_len(5), "slave", 5) == 0) {
            for (int i = 0; i < 3; i++) {
                at += p.len;
                resp_reply_parser_init(&p, INT64_MAX);
                if (resp_parse_reply(&p, reply + at, len - at) != RESP_OK) {
                    break;
                }
            }
            stale = !(p.type == '$' && p.integer == 9
                      && memcmp(reply + at + resp_bulk_header_len(9), "connected", 9) == 0);
        }
    }
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
