/*
 * Following Redis Sentinel, in a thread of the master. See sentinel.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "codis_api.h"
#include "conf.h"
#include "cordis.h"
#include "ha.h"
#include "log.h"
#include "master.h"
#include "rclient.h"
#include "resp.h"
#include "sentinel.h"
#include "shm.h"
#include "util.h"

/* Pause before a sentinel that failed is tried again: doubles up to the max. */
#define SENTINEL_BACKOFF_MIN_MS 1000
#define SENTINEL_BACKOFF_MAX_MS 30000
/* The masters are checked this often even without a message. */
#define SENTINEL_CHECK_MS       30000
/* A check that could not conclude (no majority, ROLE not master yet). */
#define SENTINEL_RETRY_MS       500

static const char sentinel_channel[] = "+switch-master";

/* One sentinel, and our subscription to its +switch-master. */
struct sentinel_link {
    char     addr[CORDIS_ADDR_LEN];
    int      fd;                 /* subscribed connection; -1 = none */
    int64_t  retry_at;           /* ms (monotonic) when to dial again */
    int64_t  backoff;            /* ms */
    bool     failing;            /* logged as failing; logged again once it is back */
    char    *buf;                /* bytes read, not yet parsed */
    size_t   len, cap;
    char     error[160];         /* why it is down, for the admin API */
};

/* A group as the sentinels know it. */
struct sentinel_name {
    uint16_t gid;
    char     name[CONF_SENTINEL_NAME_LEN];
};

/* A new primary the sentinels agreed on, for the master's loop. */
struct sentinel_switch {
    uint16_t gid;
    int64_t  epoch;
    char     addr[CORDIS_ADDR_LEN];
};

struct sentinel {
    struct master        *m;
    pthread_t             thread;
    pthread_mutex_t       lock;        /* guards what is marked (locked) */
    int                   wake[2];     /* pipe: the thread's poll wakes on stop/rewatch */
    ev_async              done;        /* switches to apply, in the master's loop */
    char                 *key;         /* the settings it was started with */

    /* settings, copied: the thread never reads the master's config */
    int                   nlinks;
    struct sentinel_link  links[CONF_SENTINELS_MAX];
    char                 *auth;        /* the sentinels' password */
    char                 *backend_auth;/* the servers' (for ROLE) */
    char                 *product;
    int64_t               timeout;     /* ms per exchange */
    int                   nnames;
    struct sentinel_name  names[CORDIS_MAX_GROUPS];

    /* (locked) */
    bool                  stop;
    bool                  trigger;     /* check now */
    int                   npending;
    struct sentinel_switch pending[CORDIS_MAX_GROUPS];
    int64_t               checked;     /* unix time of the last check that concluded */
    int                   answered;    /* sentinels that answered it */
    uint64_t              switches;    /* primaries changed so far */
};

static int64_t
sentinel_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- the groups ------------------------------------------------------------------ */

/* The name the sentinels know group gid by. */
static void
sentinel_name_of(const struct sentinel *s, unsigned gid, char *out, size_t size)
{
    for (int i = 0; i < s->nnames; i++) {
        if (s->names[i].gid == gid) {
            snprintf(out, size, "%s", s->names[i].name);
            return;
        }
    }
    snprintf(out, size, "%.100s-%u", s->product, gid);   /* Codis's naming */
}

/* ROLE on addr says master. */
static bool
sentinel_is_master(struct sentinel *s, const char *addr)
{
    static const char *const role[] = { "ROLE" };
    char *r = NULL, err[160];
    size_t rl;
    bool yes;

    if (rclient_call(addr, s->backend_auth, s->timeout, 1, role, &r, &rl, err,
                      sizeof(err)) != CORDIS_OK) {
        log_warn("sentinel: ROLE on %s failed: %s; not switching yet", addr, err);
        return false;
    }
    /* ROLE's first element: "master", "slave" or "sentinel"; the rest is an
     * array, which sentinel_elements refuses: read the first one alone. */
    {
        struct resp_reply_parser p;
        size_t at = resp_array_header_len(r, rl);

        yes = r[0] == '*' && at > 0 && rclient_parse(r + at, rl - at, &p) > 0 && p.type == '$'
              && p.integer == 6
              && memcmp(r + at + resp_bulk_header_len(6), "master", 6) == 0;
    }
    if (!yes) {
        log_warn("sentinel: %s does not say it is a master yet; not switching yet", addr);
    }
    free(r);
    return yes;
}

/* A switch for the master's loop (once ROLE agrees). */
static bool
sentinel_propose(struct sentinel *s, unsigned gid, const char *addr, int64_t epoch)
{
    if (!sentinel_is_master(s, addr)) {
        return false;
    }
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->npending; i++) {
        if (s->pending[i].gid == gid) {
            s->pending[i] = s->pending[--s->npending];
            break;
        }
    }
    if (s->npending < CORDIS_MAX_GROUPS) {
        struct sentinel_switch *sw = &s->pending[s->npending++];

        sw->gid = (uint16_t)gid;
        sw->epoch = epoch;
        snprintf(sw->addr, sizeof(sw->addr), "%s", addr);
    }
    pthread_mutex_unlock(&s->lock);
    ev_async_send(s->m->loop, &s->done);
    return true;
}

/*
 * The start check: SENTINEL get-master-addr-by-name on every sentinel for
 * every group; an address named by a majority wins. False when some group
 * could not be settled (checked again soon).
 */
static bool
sentinel_check_by_name(struct sentinel *s, const struct shm_route *route)
{
    bool settled = true;
    int answered = 0;

    for (uint32_t g = 0; g < route->ngroups; g++) {
        char name[CONF_SENTINEL_NAME_LEN], votes_addr[CONF_SENTINELS_MAX][CORDIS_ADDR_LEN];
        int votes[CONF_SENTINELS_MAX] = { 0 }, ncand = 0, best = -1;
        const char *argv[3] = { "SENTINEL", "get-master-addr-by-name", name };

        sentinel_name_of(s, route->groups[g].id, name, sizeof(name));
        answered = 0;
        for (int i = 0; i < s->nlinks; i++) {
            const char *el[2];
            size_t ellen[2], rl;
            char *r = NULL, err[160], addr[CORDIS_ADDR_LEN];
            int c;

            if (rclient_call(s->links[i].addr, s->auth, s->timeout, 3, argv, &r, &rl, err,
                              sizeof(err)) != CORDIS_OK) {
                continue;
            }
            answered++;
            if (rclient_elements(r, rl, el, ellen, 2) != 2 || el[0] == NULL || el[1] == NULL) {
                free(r);
                continue;   /* nil: it does not monitor this name */
            }
            rclient_join_addr(addr, sizeof(addr), el[0], ellen[0], el[1], ellen[1]);
            free(r);
            for (c = 0; c < ncand && !util_addr_same(votes_addr[c], addr); c++) {
            }
            if (c == ncand) {
                snprintf(votes_addr[ncand++], CORDIS_ADDR_LEN, "%s", addr);
            }
            votes[c]++;
        }
        for (int c = 0; c < ncand; c++) {
            if (votes[c] * 2 > s->nlinks) {
                best = c;
            }
        }
        if (best < 0) {
            if (ncand > 0 || answered * 2 <= s->nlinks) {
                settled = false;
            }
            continue;   /* no majority (or nobody monitors it): keep what we have */
        }
        if (!util_addr_same(votes_addr[best], route->groups[g].primary)
            && !sentinel_propose(s, route->groups[g].id, votes_addr[best], -1)) {
            settled = false;
        }
    }
    pthread_mutex_lock(&s->lock);
    s->answered = answered;
    pthread_mutex_unlock(&s->lock);
    return settled;
}

/* A master as one sentinel reports it. */
struct sentinel_seen {
    char    name[CONF_SENTINEL_NAME_LEN];
    char    addr[CORDIS_ADDR_LEN];
    int64_t epoch;
};

/* Reads SENTINEL MASTERS' reply (an array of flat key/value arrays) into
 * seen[]; returns how many. */
static int
sentinel_read_masters(const char *r, size_t rl, struct sentinel_seen *seen, int max)
{
    struct resp_reply_parser p;
    size_t at = resp_array_header_len(r, rl);
    int n = 0;

    if (r[0] != '*' || at == 0) {
        return 0;
    }
    while (at < rl && n < max) {
        const char *el[64];
        size_t ellen[64];
        ssize_t whole = rclient_parse(r + at, rl - at, &p);
        int k = whole > 0 ? rclient_elements(r + at, (size_t)whole, el, ellen, 64) : -1;
        const char *ip = NULL, *port = NULL;
        size_t iplen = 0, portlen = 0;
        struct sentinel_seen *m = &seen[n];

        if (k < 0) {
            break;
        }
        at += (size_t)whole;
        m->name[0] = '\0';
        m->epoch = -1;
        for (int i = 0; i + 1 < k; i += 2) {
            if (el[i] == NULL || el[i + 1] == NULL) {
                continue;
            }
            if (util_strieq(el[i], ellen[i], "name")) {
                snprintf(m->name, sizeof(m->name), "%.*s", (int)ellen[i + 1], el[i + 1]);
            } else if (util_strieq(el[i], ellen[i], "ip")) {
                ip = el[i + 1];
                iplen = ellen[i + 1];
            } else if (util_strieq(el[i], ellen[i], "port")) {
                port = el[i + 1];
                portlen = ellen[i + 1];
            } else if (util_strieq(el[i], ellen[i], "config-epoch")) {
                util_parse_i64(el[i + 1], ellen[i + 1], &m->epoch);
            }
        }
        if (m->name[0] != '\0' && ip != NULL && port != NULL) {
            rclient_join_addr(m->addr, sizeof(m->addr), ip, iplen, port, portlen);
            n++;
        }
    }
    return n;
}

/*
 * The check after a trigger: SENTINEL MASTERS on every sentinel; with a
 * majority of answers, each group takes its highest config-epoch's address.
 * False when it could not conclude.
 */
static bool
sentinel_check_masters(struct sentinel *s, const struct shm_route *route)
{
    static const char *const argv[] = { "SENTINEL", "MASTERS" };
    enum { SEEN_MAX = 2 * CORDIS_MAX_GROUPS };
    struct sentinel_seen *seen = calloc(SEEN_MAX, sizeof(*seen));
    struct sentinel_seen best[CORDIS_MAX_GROUPS];
    bool settled = true;
    int answered = 0;

    if (seen == NULL) {
        return false;
    }
    for (uint32_t g = 0; g < route->ngroups; g++) {
        best[g].epoch = -2;
    }
    for (int i = 0; i < s->nlinks; i++) {
        char *r = NULL, err[160];
        size_t rl;
        int n;

        if (rclient_call(s->links[i].addr, s->auth, s->timeout, 2, argv, &r, &rl, err,
                          sizeof(err)) != CORDIS_OK) {
            continue;
        }
        answered++;
        n = sentinel_read_masters(r, rl, seen, SEEN_MAX);
        free(r);
        for (uint32_t g = 0; g < route->ngroups; g++) {
            char name[CONF_SENTINEL_NAME_LEN];

            sentinel_name_of(s, route->groups[g].id, name, sizeof(name));
            for (int j = 0; j < n; j++) {
                if (strcmp(seen[j].name, name) == 0 && seen[j].epoch > best[g].epoch) {
                    best[g] = seen[j];
                }
            }
        }
    }
    free(seen);
    pthread_mutex_lock(&s->lock);
    s->answered = answered;
    pthread_mutex_unlock(&s->lock);
    if (answered * 2 <= s->nlinks) {
        log_warn("sentinel: %d of %d sentinels answered SENTINEL MASTERS; no majority, "
                 "primaries unchanged", answered, s->nlinks);
        return false;
    }
    for (uint32_t g = 0; g < route->ngroups; g++) {
        if (best[g].epoch >= -1 && !util_addr_same(best[g].addr, route->groups[g].primary)
            && !sentinel_propose(s, route->groups[g].id, best[g].addr, best[g].epoch)) {
            settled = false;
        }
    }
    return settled;
}

/* --- subscriptions --------------------------------------------------------------- */

static void
sentinel_link_down(struct sentinel *s, struct sentinel_link *l, const char *why)
{
    if (l->fd >= 0) {
        close(l->fd);
        l->fd = -1;
    }
    l->len = 0;
    l->retry_at = sentinel_now_ms() + l->backoff;
    l->backoff = CORDIS_MIN(l->backoff * 2, SENTINEL_BACKOFF_MAX_MS);
    pthread_mutex_lock(&s->lock);
    snprintf(l->error, sizeof(l->error), "%s", why);
    pthread_mutex_unlock(&s->lock);
    if (!l->failing) {
        log_warn("sentinel %s: %s; trying again", l->addr, why);
        l->failing = true;
    }
}

/* Dials a sentinel and subscribes to +switch-master. */
static void
sentinel_link_up(struct sentinel *s, struct sentinel_link *l)
{
    static const char *const sub[] = { "SUBSCRIBE", sentinel_channel };
    char err[160], *r = NULL;
    size_t rl;
    int fd = rclient_dial(l->addr, s->timeout, err, sizeof(err));

    if (fd < 0) {
        sentinel_link_down(s, l, err);
        return;
    }
    if (rclient_auth(fd, s->auth, err, sizeof(err)) != CORDIS_OK) {
        close(fd);
        sentinel_link_down(s, l, err);
        return;
    }
    if (rclient_send(fd, 2, sub) != CORDIS_OK
        || rclient_recv(fd, &r, &rl, err, sizeof(err)) != CORDIS_OK || r[0] != '*') {
        close(fd);
        sentinel_link_down(s, l, r != NULL ? "SUBSCRIBE refused" : err);
        free(r);
        return;
    }
    free(r);
    l->fd = fd;
    l->backoff = SENTINEL_BACKOFF_MIN_MS;
    pthread_mutex_lock(&s->lock);
    l->error[0] = '\0';
    s->trigger = true;   /* a sentinel back: what did we miss? */
    pthread_mutex_unlock(&s->lock);
    if (l->failing) {
        log_info("sentinel %s: subscribed again", l->addr);
        l->failing = false;
    }
}

/* Messages read from a subscription: a +switch-master for one of our
 * names triggers a check. */
static void
sentinel_link_read(struct sentinel *s, struct sentinel_link *l)
{
    ssize_t n;

    if (l->cap - l->len < 4096) {
        size_t cap = l->cap == 0 ? 8192 : l->cap * 2;
        char *b = cap <= RCLIENT_REPLY_MAX ? realloc(l->buf, cap) : NULL;

        if (b == NULL) {
            sentinel_link_down(s, l, "message too large");
            return;
        }
        l->buf = b;
        l->cap = cap;
    }
    n = recv(l->fd, l->buf + l->len, l->cap - l->len, MSG_DONTWAIT);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }
        sentinel_link_down(s, l, n == 0 ? "connection closed" : strerror(errno));
        return;
    }
    l->len += (size_t)n;
    for (;;) {
        struct resp_reply_parser p;
        const char *el[3];
        size_t ellen[3];
        ssize_t whole = rclient_parse(l->buf, l->len, &p);

        if (whole == 0) {
            return;
        }
        if (whole < 0) {
            sentinel_link_down(s, l, "bad message");
            return;
        }
        if (rclient_elements(l->buf, (size_t)whole, el, ellen, 3) == 3 && el[0] != NULL
            && el[2] != NULL && util_strieq(el[0], ellen[0], "message")) {
            /* "<name> <old ip> <old port> <new ip> <new port>": any name
             * may be ours (the dashboard's groups are not known here), and
             * the message is only a trigger anyway. */
            log_info("sentinel %s: +switch-master %.*s", l->addr,
                     (int)CORDIS_MIN(ellen[2], (size_t)200), el[2]);
            pthread_mutex_lock(&s->lock);
            s->trigger = true;
            pthread_mutex_unlock(&s->lock);
        }
        memmove(l->buf, l->buf + whole, l->len - (size_t)whole);
        l->len -= (size_t)whole;
    }
}

/* --- the thread ------------------------------------------------------------------- */

static void *
sentinel_main(void *arg)
{
    struct sentinel *s = arg;
    struct shm_route *route = malloc(sizeof(*route));
    int64_t next_check = 0;
    bool started = false;

    if (route == NULL) {
        log_error("sentinel: out of memory; not following the sentinels");
        return NULL;
    }
    for (;;) {
        struct pollfd pfd[CONF_SENTINELS_MAX + 1];
        int64_t now = sentinel_now_ms(), wait = SENTINEL_CHECK_MS;
        bool trigger;
        int n = 0;

        pthread_mutex_lock(&s->lock);
        if (s->stop) {
            pthread_mutex_unlock(&s->lock);
            break;
        }
        trigger = s->trigger;
        s->trigger = false;
        pthread_mutex_unlock(&s->lock);

        for (int i = 0; i < s->nlinks; i++) {
            if (s->links[i].fd < 0 && now >= s->links[i].retry_at) {
                sentinel_link_up(s, &s->links[i]);
            }
        }
        if (trigger || now >= next_check) {
            bool settled;

            shm_route_copy(s->m->shm, route);
            settled = started ? sentinel_check_masters(s, route)
                              : sentinel_check_by_name(s, route);
            if (settled) {
                started = true;
                pthread_mutex_lock(&s->lock);
                s->checked = (int64_t)time(NULL);
                pthread_mutex_unlock(&s->lock);
            }
            now = sentinel_now_ms();
            next_check = now + (settled ? SENTINEL_CHECK_MS : SENTINEL_RETRY_MS);
        }
        wait = next_check - now;
        pfd[n++] = (struct pollfd){ .fd = s->wake[0], .events = POLLIN };
        for (int i = 0; i < s->nlinks; i++) {
            if (s->links[i].fd >= 0) {
                pfd[n++] = (struct pollfd){ .fd = s->links[i].fd, .events = POLLIN };
            } else {
                wait = CORDIS_MIN(wait, CORDIS_MAX(s->links[i].retry_at - now, 0));
            }
        }
        if (poll(pfd, (nfds_t)n, (int)CORDIS_MAX(wait, 0)) <= 0) {
            continue;
        }
        if (pfd[0].revents != 0) {
            char drain[64];

            while (read(s->wake[0], drain, sizeof(drain)) > 0) {
            }
        }
        for (int i = 1; i < n; i++) {
            if (pfd[i].revents == 0) {
                continue;
            }
            for (int j = 0; j < s->nlinks; j++) {
                if (s->links[j].fd == pfd[i].fd) {
                    sentinel_link_read(s, &s->links[j]);
                    break;
                }
            }
        }
    }
    for (int i = 0; i < s->nlinks; i++) {
        if (s->links[i].fd >= 0) {
            close(s->links[i].fd);
        }
        free(s->links[i].buf);
    }
    free(route);
    return NULL;
}

/* --- the master's side ---------------------------------------------------------------- */

/* In the master's loop: applies what the thread decided. */
static void
sentinel_done_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    struct master *m = ev_userdata(loop);
    struct sentinel *s = m->sentinel;
    struct sentinel_switch switches[CORDIS_MAX_GROUPS];
    int n;

    (void)w;
    (void)revents;
    if (s == NULL) {
        return;
    }
    pthread_mutex_lock(&s->lock);
    n = s->npending;
    memcpy(switches, s->pending, sizeof(switches[0]) * (size_t)n);
    s->npending = 0;
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < n; i++) {
        char err[160];

        if (ha_source_of(m, switches[i].gid) == HA_SOURCE_ADMIN) {
            /* An operator's choice holds until the operator lifts it. */
            log_debug("sentinel: group %u: the sentinels say %s; the primary set through the "
                      "admin API stays", (unsigned)switches[i].gid, switches[i].addr);
            continue;
        }
        if (ha_set_primary(m, switches[i].gid, switches[i].addr, HA_SOURCE_SENTINEL, switches[i].epoch,
                           err, sizeof(err)) != CORDIS_OK) {
            log_warn("sentinel: group %u: %s", (unsigned)switches[i].gid, err);
            continue;
        }
        pthread_mutex_lock(&s->lock);
        s->switches++;
        pthread_mutex_unlock(&s->lock);
    }
}

static void
sentinel_wake(struct sentinel *s)
{
    ssize_t rc = write(s->wake[1], "w", 1);

    (void)rc;   /* a full pipe has a wake-up in it already */
}

void
sentinel_stop(struct master *m)
{
    struct sentinel *s = m->sentinel;

    if (s == NULL) {
        return;
    }
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    pthread_mutex_unlock(&s->lock);
    sentinel_wake(s);
    pthread_join(s->thread, NULL);
    ev_async_stop(m->loop, &s->done);
    close(s->wake[0]);
    close(s->wake[1]);
    pthread_mutex_destroy(&s->lock);
    free(s->auth);
    free(s->backend_auth);
    free(s->product);
    free(s->key);
    free(s);
    m->sentinel = NULL;
}

void
sentinel_rewatch(struct master *m)
{
    struct sentinel *s = m->sentinel;

    if (s == NULL) {
        return;
    }
    pthread_mutex_lock(&s->lock);
    s->trigger = true;
    pthread_mutex_unlock(&s->lock);
    sentinel_wake(s);
}

/* The sentinels to follow: the file's, else the dashboard's. */
static int
sentinel_addrs(const struct master *m, char addrs[CONF_SENTINELS_MAX][CORDIS_ADDR_LEN])
{
    const struct conf *conf = m->conf;
    json_t *list, *v;
    size_t i;
    int n = 0;

    if (conf->sentinel.naddrs > 0) {
        memcpy(addrs, conf->sentinel.addr, sizeof(conf->sentinel.addr[0]) * conf->sentinel.naddrs);
        return conf->sentinel.naddrs;
    }
    list = codis_api_sentinel_list(m);
    json_array_foreach(list, i, v) {
        const char *a = json_string_value(v);

        if (a != NULL && strlen(a) < CORDIS_ADDR_LEN && n < CONF_SENTINELS_MAX) {
            snprintf(addrs[n++], CORDIS_ADDR_LEN, "%s", a);
        }
    }
    return n;
}

void
sentinel_update(struct master *m)
{
    const struct conf *conf = m->conf;
    char addrs[CONF_SENTINELS_MAX][CORDIS_ADDR_LEN];
    int naddrs = sentinel_addrs(m, addrs);
    struct sentinel *s;
    char *key = NULL;
    size_t klen = 0;
    FILE *f;

    if (naddrs == 0) {
        if (m->sentinel != NULL) {
            log_info("sentinel: no sentinels configured any more; primaries stay as they are");
        }
        sentinel_stop(m);
        return;
    }
    /* Everything the thread copies, as one text: equal means no restart. */
    f = open_memstream(&key, &klen);
    if (f == NULL) {
        return;
    }
    for (int i = 0; i < naddrs; i++) {
        fprintf(f, "%s,", addrs[i]);
    }
    fprintf(f, "\n%s\n%s\n%lld\n%s\n", conf->sentinel.auth, conf->backend.auth,
            (long long)conf->sentinel.timeout, conf->product_name);
    for (int g = 0; g < conf->ngroups; g++) {
        fprintf(f, "%d=%s,", conf->groups[g].id, conf->groups[g].sentinel);
    }
    fclose(f);
    if (m->sentinel != NULL && strcmp(m->sentinel->key, key) == 0) {
        free(key);
        return;
    }
    sentinel_stop(m);
    s = calloc(1, sizeof(*s));
    if (s == NULL || pipe2(s->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        log_error("sentinel: cannot start following the sentinels: %s", strerror(errno));
        free(s);
        free(key);
        return;
    }
    s->m = m;
    s->key = key;
    pthread_mutex_init(&s->lock, NULL);
    s->auth = strdup(conf->sentinel.auth);
    s->backend_auth = strdup(conf->backend.auth);
    s->product = strdup(conf->product_name);
    s->timeout = conf->sentinel.timeout;
    s->nlinks = naddrs;
    for (int i = 0; i < naddrs; i++) {
        memcpy(s->links[i].addr, addrs[i], CORDIS_ADDR_LEN);
        s->links[i].fd = -1;
        s->links[i].backoff = SENTINEL_BACKOFF_MIN_MS;
        snprintf(s->links[i].error, sizeof(s->links[i].error), "not connected yet");
    }
    for (int g = 0; g < conf->ngroups && g < CORDIS_MAX_GROUPS; g++) {
        s->names[g].gid = (uint16_t)conf->groups[g].id;
        memcpy(s->names[g].name, conf->groups[g].sentinel, sizeof(s->names[g].name));
        s->nnames = g + 1;
    }
    ev_async_init(&s->done, sentinel_done_cb);
    ev_async_start(m->loop, &s->done);
    m->sentinel = s;
    if (s->auth == NULL || s->backend_auth == NULL || s->product == NULL
        || pthread_create(&s->thread, NULL, sentinel_main, s) != 0) {
        log_error("sentinel: cannot start following the sentinels");
        ev_async_stop(m->loop, &s->done);
        close(s->wake[0]);
        close(s->wake[1]);
        free(s->auth);
        free(s->backend_auth);
        free(s->product);
        free(s->key);
        free(s);
        m->sentinel = NULL;
        return;
    }
    log_info("sentinel: following %d sentinels (%s%s)", naddrs, addrs[0],
             naddrs > 1 ? ", ..." : "");
}

json_t *
sentinel_json(struct master *m)
{
    struct sentinel *s = m->sentinel;
    json_t *o, *servers;

    if (s == NULL) {
        return json_null();
    }
    servers = json_array();
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->nlinks; i++) {
        const struct sentinel_link *l = &s->links[i];

        json_array_append_new(servers, json_pack("{s:s, s:s, s:s}", "addr", l->addr,
                                                 "state", l->error[0] == '\0' ? "up" : "down",
                                                 "error", l->error));
    }
    o = json_pack("{s:o, s:I, s:I, s:i}", "servers", servers, "checked_unix",
                  (json_int_t)s->checked, "switches", (json_int_t)s->switches, "answered",
                  s->answered);
    pthread_mutex_unlock(&s->lock);
    return o;
}
