/*
 * A worker process: accept, control channel, the flush point, the sweep
 * timer, and applying config and route changes from shared memory.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend.h"
#include "clients.h"
#include "conf.h"
#include "ctl.h"
#include "log.h"
#include "mbuf.h"
#include "migrate.h"
#include "pinned.h"
#include "proctitle.h"
#include "pubsub.h"
#include "request.h"
#include "session.h"
#include "shm.h"
#include "util.h"
#include "worker.h"

/* How often the sweep runs (request deadlines, retries, keepalive). */
#define WORKER_SWEEP_SEC          0.1
/* Sessions are checked for idleness every this many sweeps. */
#define WORKER_SESSION_SWEEPS     10
/* Connections taken per accept event, so one listener cannot starve the loop. */
#define WORKER_ACCEPT_BATCH       64
/* Large buffers freed in a second that make a malloc_trim worth it. */
#define WORKER_TRIM_BYTES         (4 * 1024 * 1024)
/* Pause after accept() ran out of descriptors. */
#define WORKER_ACCEPT_PAUSE_USEC  (100 * 1000)

static struct worker worker_state;

/* Rebuilds slot -> backend and the list of groups from the route table;
 * servers no longer named are retired (they finish what they hold, then
 * close). */
static void
worker_apply_route(struct worker *w)
{
    const struct shm_route *route = w->route;
    struct backend_server *by_group[CORDIS_MAX_GROUPS];
    uint32_t print = 0;

    bool reads = w->conf->backend.replica_reads && !w->conf->backend.primary_only;

    for (struct backend_server *s = w->servers; s != NULL; s = s->next) {
        s->mark = 0;
        s->replica = false;
        s->has_replicas = false;
    }
    w->ngroups = 0;
    w->replica_reads = false;
    for (uint32_t i = 0; i < route->ngroups && i < CORDIS_MAX_GROUPS; i++) {
        by_group[i] = backend_server_get(w, route->groups[i].primary);
        if (by_group[i] == NULL) {
            log_error("cannot use backend %s of group %u", route->groups[i].primary,
                      route->groups[i].id);
            continue;
        }
        by_group[i]->mark = 1;
        by_group[i]->group = route->groups[i].id;
        /* Insertion by id: a handful of groups. */
        int at = w->ngroups++;
        while (at > 0 && w->group_ids[at - 1] > route->groups[i].id) {
            w->group_ids[at] = w->group_ids[at - 1];
            w->group_server[at] = w->group_server[at - 1];
            at--;
        }
        w->group_ids[at] = route->groups[i].id;
        w->group_server[at] = by_group[i];
    }
    for (uint32_t i = 0; i < route->ngroups && i < CORDIS_MAX_GROUPS; i++) {
        w->group_replicas[i].n = 0;
        if (reads && by_group[i] != NULL) {
            replica_set_build(w, &route->groups[i], &w->group_replicas[i]);
        }
    }
    for (uint32_t i = 0; i < route->ngroups && i < CORDIS_MAX_GROUPS; i++) {
        for (int r = 0; r < w->group_replicas[i].n; r++) {
            w->group_replicas[i].s[r]->replica = true;
        }
        if (w->group_replicas[i].n > 0 && by_group[i] != NULL) {
            by_group[i]->has_replicas = true;
        }
        w->replica_reads = w->replica_reads || w->group_replicas[i].n > 0;
    }
    for (int i = 0; i < w->ngroups; i++) {
        print = print * 31 + w->group_ids[i];
    }
    w->groups_print = (uint8_t)(print ^ (print >> 8) ^ (print >> 16) ^ (print >> 24));
    for (int slot = 0; slot < CORDIS_SLOTS; slot++) {
        const struct shm_slot *e = &route->slots[slot];

        w->slot_server[slot] = NULL;
        w->slot_from[slot] = NULL;
        w->slot_replicas[slot] = NULL;
        for (uint32_t i = 0; i < route->ngroups; i++) {
            if (e->group != 0 && route->groups[i].id == e->group) {
                w->slot_server[slot] = by_group[i];
                if (reads && w->group_replicas[i].n > 0 && e->migrate_from == 0 && !e->locked) {
                    w->slot_replicas[slot] = &w->group_replicas[i];
                }
            }
            if (e->migrate_from != 0 && route->groups[i].id == e->migrate_from) {
                w->slot_from[slot] = by_group[i];
            }
        }
        w->slot_state[slot] = (uint8_t)((e->locked ? MIGRATE_LOCKED : 0)
                                        | (w->slot_from[slot] != NULL ? MIGRATE_FROM : 0)
                                        | (e->method == MIGRATE_METHOD_SEMI_ASYNC
                                           ? MIGRATE_SEMIASYNC : 0)
                                        | (e->method == MIGRATE_METHOD_VANILLA
                                           ? MIGRATE_VANILLA : 0));
    }
    for (struct backend_server *s = w->servers; s != NULL; s = s->next) {
        if (s->mark == 0) {
            s->retired = true;
        }
    }
}

/* Applies what the master published: a new config text and/or route table. */
static void
worker_update(struct worker *w)
{
    uint64_t conf_gen = shm_conf_gen(w->shm), route_gen = shm_route_gen(w->shm);
    bool conf_changed = false;

    if (conf_gen != w->conf_gen) {
        char path[1024], err[512], *text = malloc(SHM_CONF_MAX);
        struct conf *conf;
        size_t size;

        if (text == NULL) {
            log_error("out of memory reading the new config; keeping the old one");
            return;
        }
        conf_gen = shm_conf_copy(w->shm, path, sizeof(path), text, &size);
        if (conf_load_text(path, text, size, &conf, err, sizeof(err)) != CORDIS_OK) {
            /* The master validated it; this means @include changed under us. */
            log_error("new config rejected: %s; keeping the old one", err);
        } else {
            if (w->conf != NULL && strcmp(w->conf->log.file, conf->log.file) != 0) {
                log_set_file(conf->log.file);
            }
            conf_free(w->conf);
            w->conf = conf;
            conf_changed = true;
        }
        free(text);
        w->conf_gen = conf_gen;
    }
    /* The level may also change alone, through the admin API. */
    log_set_level((enum log_level)__atomic_load_n(&w->shm->header.log_level, __ATOMIC_RELAXED));
    if (route_gen != w->route_gen || conf_changed) {
        w->route_gen = shm_route_copy(w->shm, w->route);
        worker_apply_route(w);
        migrate_route_applied(w);
        log_debug("applied route generation %llu", (unsigned long long)w->route_gen);
    }
}

static void
worker_stop_accepting(struct worker *w)
{
    for (int i = 0; i < w->naccept; i++) {
        ev_io_stop(w->loop, &w->accept_io[i]);
    }
}

static void
worker_start_accepting(struct worker *w)
{
    for (int i = 0; i < w->naccept; i++) {
        ev_io_start(w->loop, &w->accept_io[i]);
    }
}

/*
 * A new client is served, unless a codis-dashboard has not started this
 * proxy yet: then it is told so in Codis's words and closed, as
 * codis-proxy does. One relaxed load per accepted connection.
 */
static void
worker_open_client(struct worker *w, int fd, const char *peer)
{
    static const char offline[] = "-ERR router is not online\r\n";
    char junk[4096];

    if (__atomic_load_n(&w->shm->header.online, __ATOMIC_RELAXED) == 0) {
        /* What it sent already is read, so the close is no reset that
         * could discard the error before the client reads it. */
        for (int i = 0; i < 16 && read(fd, junk, sizeof(junk)) > 0; i++) {
        }
        if (write(fd, offline, sizeof(offline) - 1) < 0) {
            /* the client is gone already */
        }
        close(fd);
        return;
    }
    session_open(w, fd, peer);
}

/*
 * Takes every connection already queued on our listening sockets, then
 * closes our copies. A queued connection is served, not reset; once every
 * copy is closed (the master closes its own on a stop, or keeps them for the
 * next generation) new connects are refused at once instead of waiting in a
 * queue nobody reads.
 */
static void
worker_close_listeners(struct worker *w)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    char peer[CORDIS_ADDR_LEN];
    int fd;

    for (int i = 0; i < w->naccept; i++) {
        int lfd = w->accept_io[i].fd;

        for (;;) {
            sslen = sizeof(ss);
            fd = accept4(lfd, (struct sockaddr *)&ss, &sslen, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                break;
            }
            util_addr_text((struct sockaddr *)&ss, peer, sizeof(peer));
            worker_open_client(w, fd, peer);
        }
        close(lfd);
    }
    w->naccept = 0;
}

static void
worker_drain(struct worker *w, const char *why, bool handoff)
{
    if (w->draining) {
        return;
    }
    w->handoff = handoff;
    log_info("draining (%s): %u clients, deadline %lld ms", why, w->nsessions,
             (long long)w->conf->proxy.drain_timeout);
    w->draining = true;
    w->drain_deadline = util_now_usec() + w->conf->proxy.drain_timeout * 1000;
    worker_stop_accepting(w);
    worker_close_listeners(w);
    session_drain_all(w);
}

static void
worker_accept_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    struct worker *w = ev_userdata(loop);
    struct sockaddr_storage ss;
    socklen_t sslen;
    char peer[CORDIS_ADDR_LEN];
    int fd;

    for (int i = 0; i < WORKER_ACCEPT_BATCH && !w->draining; i++) {
        sslen = sizeof(ss);
        fd = accept4(io->fd, (struct sockaddr *)&ss, &sslen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) {
                return;
            }
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                log_error("accept() failed (%d: %s), pausing accepts for %d ms", errno,
                          strerror(errno), WORKER_ACCEPT_PAUSE_USEC / 1000);
                worker_stop_accepting(w);
                w->accept_paused_until = util_now_usec() + WORKER_ACCEPT_PAUSE_USEC;
                return;
            }
            log_error("accept() failed (%d: %s)", errno, strerror(errno));
            return;
        }
        util_addr_text((struct sockaddr *)&ss, peer, sizeof(peer));
        worker_open_client(w, fd, peer);
    }
}

static void
worker_ctl_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    struct worker *w = ev_userdata(loop);
    union ctl_msg msg;
    int n, fd;

    for (;;) {
        n = ctl_recv(io->fd, &msg, sizeof(msg), &fd);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        if (n <= 0) {
            /* The master is gone: nobody will tell us to stop, so stop now,
             * gracefully, and let clients reconnect to a new cordis. */
            ev_io_stop(loop, io);
            worker_drain(w, "master exited", false);
            return;
        }
        if (msg.type == CTL_HANDOFF && n == (int)sizeof(msg.handoff) && fd >= 0) {
            session_adopt(w, fd, &msg.handoff);
            continue;
        }
        if ((msg.type == CTL_CLIENTS_ASK || msg.type == CTL_CLIENTS_EXPECT
             || msg.type == CTL_CLIENTS_ANSWER) && n == (int)sizeof(msg.clients)) {
            clients_on_ctl(w, &msg.clients, fd);   /* takes fd */
            continue;
        }
        if (fd >= 0) {
            close(fd);
        }
        switch (msg.type) {
        case CTL_QUIT:
            worker_drain(w, "asked to quit", false);
            break;
        case CTL_RETIRE:
            worker_drain(w, "a new worker generation took over", true);
            break;
        case CTL_TERMINATE:
            log_info("terminating with %u clients", w->nsessions);
            ev_break(loop, EVBREAK_ALL);
            return;
        case CTL_REOPEN:
            log_reopen();
            break;
        case CTL_UPDATE:
            worker_update(w);
            break;
        default:
            log_warn("unknown control message 0x%02x ignored", (unsigned char)msg.type);
            break;
        }
    }
}

/*
 * Before a draining worker exits: stop receiving on the control channel
 * (the master's next handoff to us then fails and goes to another worker)
 * and take what is already queued there, so no client handed to us is
 * lost with the socket. True when there was nothing left to take.
 */
static bool
worker_last_messages(struct worker *w)
{
    if (!w->ctl_shut) {
        shutdown(w->ctl_io.fd, SHUT_RD);
        w->ctl_shut = true;
    }
    if (ev_is_active(&w->ctl_io)) {
        worker_ctl_cb(w->loop, &w->ctl_io, EV_READ);
    }
    return w->nsessions == 0;
}

/* The flush point, once per loop iteration: write what the callbacks
 * queued, then free what they closed. */
static void
worker_prepare_cb(struct ev_loop *loop, ev_prepare *prepare, int revents)
{
    struct worker *w = ev_userdata(loop);

    do {
        session_flush(w);
        backend_flush(w);
    } while (w->flush_sessions != NULL || w->flush_conns != NULL);
    if (w->barrier_gen != 0) {
        migrate_sweep(w, worker_now(w));   /* the route barrier, as soon as it holds */
    }
    session_collect(w);
    backend_collect(w);
    if (w->draining && w->nsessions == 0 && worker_last_messages(w)) {
        ev_break(loop, EVBREAK_ALL);
    }
    w->now_usec = 0;   /* the next iteration reads the clock again */
}

static void
worker_sweep_cb(struct ev_loop *loop, ev_timer *timer, int revents)
{
    struct worker *w = ev_userdata(loop);
    int64_t now = worker_now(w);

    /* Cheap check of the generation counters: a fillslots that found the
     * control message lost still lands within one sweep. */
    if (shm_conf_gen(w->shm) != w->conf_gen || shm_route_gen(w->shm) != w->route_gen) {
        worker_update(w);
    }
    backend_sweep(w, now);
    replica_probe(w, now);
    migrate_sweep(w, now);
    pubsub_sweep(w, now);
    clients_sweep(w, now);
    if (++w->sweeps % WORKER_SESSION_SWEEPS == 0) {
        session_sweep(w, now);
        /* After large values went through, hand the memory back to the
         * system: malloc keeps freed heap otherwise. */
        if (mbuf_large_freed() >= WORKER_TRIM_BYTES) {
            malloc_trim(0);
        }
    }
    if (w->accept_paused_until != 0 && now >= w->accept_paused_until && !w->draining) {
        w->accept_paused_until = 0;
        worker_start_accepting(w);
    }
    if (w->draining) {
        /* Clients whose handoff found the channel full, or that came to
         * rest without an event of their own. */
        session_drain_all(w);
    }
    if (w->draining && now >= w->drain_deadline) {
        log_warn("drain deadline passed with %u clients; closing them", w->nsessions);
        /* Blocked clients are told why before they are closed. */
        pinned_drain_expired(w);
        session_flush(w);
        ev_break(loop, EVBREAK_ALL);
    }
}

static void
worker_cleanup(struct worker *w)
{
    while (w->sessions != NULL) {
        session_close(w->sessions, "worker exit");
    }
    migrate_cleanup(w);
    session_collect(w);
    pubsub_cleanup(w);
    backend_close_all(w);
    req_free_list_clear(w);
    free(w->argv);
    free(w->route);
    conf_free(w->conf);
    mbuf_trim();
}

void
worker_main(const struct worker_params *params)
{
    struct worker *w = &worker_state;

    log_set_worker(params->index);
    /* Workers fork from one master: each its own random sequence
     * (RANDOMKEY's group). */
    srandom((unsigned)getpid() ^ (unsigned)util_now_usec());
    proctitle_set("cordis: worker process %d", params->index);
    memset(w, 0, sizeof(*w));
    w->params = params;
    w->shm = params->shm;
    if (shm_check(w->shm) != CORDIS_OK) {
        log_error("shared memory layout does not match this binary; exiting");
        exit(WORKER_EXIT_FATAL);
    }
    w->stats = &w->shm->rows[params->row];
    w->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    w->route = calloc(1, sizeof(*w->route));
    if (w->loop == NULL || w->route == NULL) {
        log_error("cannot create the event loop; exiting");
        exit(WORKER_EXIT_FATAL);
    }
    ev_set_userdata(w->loop, w);
    /* The config comes from shared memory, the same text the master
     * validated (it may be newer than what we inherited). */
    worker_update(w);
    if (w->conf == NULL) {
        log_error("no usable config in shared memory; exiting");
        exit(WORKER_EXIT_FATAL);
    }

    for (int i = 0; i < params->nlisten; i++) {
        ev_io_init(&w->accept_io[i], worker_accept_cb, params->listen_fds[i], EV_READ);
    }
    w->naccept = params->nlisten;
    worker_start_accepting(w);
    ev_io_init(&w->ctl_io, worker_ctl_cb, params->ctl_fd, EV_READ);
    ev_io_start(w->loop, &w->ctl_io);
    ev_prepare_init(&w->flush_prepare, worker_prepare_cb);
    ev_prepare_start(w->loop, &w->flush_prepare);
    ev_timer_init(&w->sweep_timer, worker_sweep_cb, WORKER_SWEEP_SEC, WORKER_SWEEP_SEC);
    ev_timer_start(w->loop, &w->sweep_timer);
    ev_timer_init(&w->retry_timer, migrate_retry_cb, MIGRATE_RETRY_SEC, MIGRATE_RETRY_SEC);

    log_info("worker %d started (pid %d, generation %u, %d listening sockets)",
             params->index, (int)getpid(), params->generation, params->nlisten);
    ev_run(w->loop, 0);

    log_info("worker %d exiting", params->index);
    worker_cleanup(w);
    ev_loop_destroy(w->loop);
    log_close();
    exit(0);
}
