/*
 * The master process.
 *
 * Lifecycle: load config -> shared memory -> listening sockets -> pid file
 * -> fork workers -> libev loop (signals, children, control channels).
 *
 * Workers live in shared-memory stats rows; `row` is the index of a worker
 * everywhere in the master. The current generation's worker i is in
 * current[i]; a generation being retired keeps its rows until it exits.
 *
 * Listening sockets are never closed while the address stays the same: a
 * closed SO_REUSEPORT socket resets the connections queued on it. When there
 * are more sockets than workers (the worker count shrank), worker i accepts
 * on every socket j with j % nworkers == i.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "admin.h"
#include "codis_api.h"
#include "conf.h"
#include "daemon.h"
#include "ha.h"
#include "ctl.h"
#include "cordis.h"
#include "listen.h"
#include "log.h"
#include "master.h"
#include "notify.h"
#include "pidfile.h"
#include "proctitle.h"
#include "relay.h"
#include "reshard.h"
#include "router.h"
#include "sentinel.h"
#include "shm.h"
#include "signals.h"
#include "stats_view.h"
#include "upgrade.h"
#include "util.h"
#include "worker.h"

/* A worker that dies this soon after its start counts as a quick death. */
#define MASTER_QUICK_DEATH_USEC  (1000 * 1000)
/* Backoff between respawns of a worker that keeps dying. */
#define MASTER_BACKOFF_MIN_MS    100
#define MASTER_BACKOFF_MAX_MS    10000
/* Retry period for control messages a full channel refused. */
#define MASTER_RETRY_SEC         0.02
/* How long a fast stop waits before SIGKILL. */
#define MASTER_KILL_AFTER_SEC    5.0

static void master_spawn(struct master *m, int row);

/* 40 random hex digits, as Redis's run_id. */
static void
master_make_run_id(char out[41])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[20];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, raw, sizeof(raw)) : -1;

    if (fd >= 0) {
        close(fd);
    }
    for (size_t i = 0; i < sizeof(raw); i++) {
        unsigned v = n == (ssize_t)sizeof(raw) ? raw[i] : (unsigned)random();

        out[2 * i] = hex[(v >> 4) & 15];
        out[2 * i + 1] = hex[v & 15];
    }
    out[40] = '\0';
}

static int64_t
master_backoff_ms(unsigned quick_deaths)
{
    int64_t ms = MASTER_BACKOFF_MIN_MS;

    for (unsigned i = 2; i < quick_deaths && ms < MASTER_BACKOFF_MAX_MS; i++) {
        ms *= 2;
    }
    return CORDIS_MIN(ms, MASTER_BACKOFF_MAX_MS);
}

static int
master_free_rows(const struct master *m)
{
    int n = 0;

    for (int row = 0; row < SHM_ROWS; row++) {
        n += !m->rows[row].in_use;
    }
    return n;
}

static int
master_free_row(struct master *m)
{
    for (int row = 0; row < SHM_ROWS; row++) {
        if (!m->rows[row].in_use) {
            return row;
        }
    }
    return -1;
}

int
master_live(const struct master *m)
{
    int n = 0;

    for (int row = 0; row < SHM_ROWS; row++) {
        n += m->rows[row].pid != 0;
    }
    return n;
}

/* Publishes the config text and its route table to shared memory. */
static int
master_publish(struct master *m, const struct conf *conf, const char *text,
               size_t size)
{
    struct shm_route *route = calloc(1, sizeof(*route));

    if (route == NULL) {
        return CORDIS_ERROR;
    }
    router_table_from_conf(conf, route);
    ha_adjust_route(m, conf, route);   /* primaries learned from Sentinel stay */
    reshard_adjust_route(m, conf, route);   /* so do a migration's slots */
    m->shm->header.log_level = conf->log.level;
    if (shm_conf_publish(m->shm, conf->path, text, size) != CORDIS_OK) {
        free(route);
        return CORDIS_ERROR;
    }
    /* Under a codis-dashboard the dashboard owns the slots: a reload keeps
     * them, and clients wait for its start (codis_api.h). */
    if (!conf->codis.enabled || shm_route_gen(m->shm) == 0) {
        shm_route_publish(m->shm, route);
    }
    if (!conf->codis.enabled) {
        __atomic_store_n(&m->shm->header.online, 1, __ATOMIC_RELEASE);
    }
    free(route);
    return CORDIS_OK;
}

static void
master_remove_pid_file(const struct master *m)
{
    char oldbin[1100];

    if (m->conf->pid_file[0] == '\0') {
        return;
    }
    pidfile_remove_own(m->conf->pid_file);
    /* After a binary upgrade our pid file was renamed. */
    snprintf(oldbin, sizeof(oldbin), "%s.oldbin", m->conf->pid_file);
    pidfile_remove_own(oldbin);
}

/* Opens listening sockets up to count on addr, reusing those already open. */
static int
master_open_listeners(struct master *m, const char *addr, int count)
{
    char err[256];

    if (m->listen_addr != NULL && strcmp(m->listen_addr, addr) != 0) {
        return CORDIS_ERROR;   /* caller handles address changes */
    }
    while (m->nlisten < count) {
        int fd = listen_open(addr, 1, err, sizeof(err));

        if (fd < 0) {
            log_error("%s", err);
            return CORDIS_ERROR;
        }
        m->listen_fds[m->nlisten++] = fd;
    }
    if (m->listen_addr == NULL) {
        m->listen_addr = strdup(addr);
    }
    return CORDIS_OK;
}

static void
master_close_listeners(struct master *m)
{
    for (int i = 0; i < m->nlisten; i++) {
        close(m->listen_fds[i]);
    }
    m->nlisten = 0;
    free(m->listen_addr);
    m->listen_addr = NULL;
}

/*
 * Before a new generation: sockets on a new address go to fresh (returned in
 * fresh/nfresh); on the same address, sockets are added up to the new worker
 * count. On failure everything opened here is closed again.
 */
static int
master_prepare_listeners(struct master *m, const struct conf *conf, int *fresh,
                         int *nfresh, char *err, size_t errlen)
{
    int had = m->nlisten;

    *nfresh = 0;
    if (strcmp(m->listen_addr, conf->proxy.listen) == 0) {
        while (m->nlisten < conf->proxy.workers) {
            int fd = listen_open(conf->proxy.listen, 1, err, errlen);

            if (fd < 0) {
                while (m->nlisten > had) {
                    close(m->listen_fds[--m->nlisten]);
                }
                return CORDIS_ERROR;
            }
            m->listen_fds[m->nlisten++] = fd;
        }
        return CORDIS_OK;
    }
    for (int i = 0; i < conf->proxy.workers; i++) {
        fresh[i] = listen_open(conf->proxy.listen, 1, err, errlen);
        if (fresh[i] < 0) {
            for (int j = 0; j < i; j++) {
                close(fresh[j]);
            }
            return CORDIS_ERROR;
        }
    }
    *nfresh = conf->proxy.workers;
    return CORDIS_OK;
}

/*
 * A client connection handed over by a retiring worker (or, during a
 * binary upgrade, by the old master): give it to a worker of the current
 * generation, round robin; while this master stops after an upgrade, pass
 * it on to the new master. If nobody can take it, closing it here is what
 * the old worker would have done.
 */
static void
master_admin_move_cb(struct ev_loop *loop, ev_timer *timer, int revents)
{
    struct master *m = ev_userdata(loop);

    admin_stop(m->admin);
    m->admin = admin_start(m, m->admin_move_fd);
    m->admin_move_fd = -1;
    if (m->admin == NULL) {
        log_error("the admin server could not move to %s", m->conf->admin.listen);
    } else {
        log_info("the admin server moved to %s", m->conf->admin.listen);
    }
}

static void
master_respawn_cb(struct ev_loop *loop, ev_timer *timer, int revents)
{
    struct master_worker *w = (struct master_worker *)timer;
    struct master *m = ev_userdata(loop);

    master_spawn(m, (int)(w - m->rows));
}

/*
 * In the child: drop every descriptor and handler that belongs to the
 * master. Descriptors are closed by walking /proc/self/fd, so nothing the
 * master holds (admin connections, libev's own fds, other workers'
 * channels) can leak into a worker and outlive the master's use of it.
 */
static void
master_child_cleanup(struct master *m, int row, int worker_ctl)
{
    struct sigaction sa;
    sigset_t all;
    struct dirent *e;
    DIR *dir;
    int keep[CORDIS_MAX_WORKERS + 8], nkeep = 0;

    keep[nkeep++] = STDIN_FILENO;
    keep[nkeep++] = STDOUT_FILENO;
    keep[nkeep++] = STDERR_FILENO;
    keep[nkeep++] = worker_ctl;
    keep[nkeep++] = log_fd();
    for (int i = m->rows[row].index; i < m->nlisten; i += m->nworkers) {
        keep[nkeep++] = m->listen_fds[i];
    }
    dir = opendir("/proc/self/fd");
    if (dir != NULL) {
        while ((e = readdir(dir)) != NULL) {
            int fd = atoi(e->d_name);
            bool kept = e->d_name[0] < '0' || e->d_name[0] > '9' || fd == dirfd(dir);

            for (int k = 0; k < nkeep && !kept; k++) {
                kept = keep[k] == fd;
            }
            if (!kept) {
                close(fd);
            }
        }
        closedir(dir);
    }
    /* Signals come from the master over the control channel; a Ctrl-C to
     * the terminal's process group must not kill workers behind its back. */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    for (unsigned i = 0; i < signal_table_size; i++) {
        if (signal_table[i].signo != SIGTERM) {
            sigaction(signal_table[i].signo, &sa, NULL);
        }
    }
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGCHLD, &sa, NULL);
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
}

static void
master_spawn(struct master *m, int row)
{
    struct master_worker *w = &m->rows[row];
    struct stats_row *stats = &m->shm->rows[row];
    struct worker_params params;
    int sv[2];
    pid_t pid;

    ev_timer_stop(m->loop, &w->respawn);
    if (ctl_pair(sv) < 0) {
        log_error("socketpair() failed (%d: %s), retry in %d ms", errno,
                  strerror(errno), MASTER_BACKOFF_MAX_MS);
        ev_timer_set(&w->respawn, MASTER_BACKOFF_MAX_MS / 1000.0, 0.0);
        ev_timer_start(m->loop, &w->respawn);
        return;
    }
    pid = fork();
    if (pid < 0) {
        log_error("fork() failed (%d: %s), retry in %d ms", errno, strerror(errno),
                  MASTER_BACKOFF_MAX_MS);
        close(sv[0]);
        close(sv[1]);
        ev_timer_set(&w->respawn, MASTER_BACKOFF_MAX_MS / 1000.0, 0.0);
        ev_timer_start(m->loop, &w->respawn);
        return;
    }
    if (pid == 0) {
        close(sv[0]);
        master_child_cleanup(m, row, sv[1]);
        params.index = w->index;
        params.row = row;
        params.generation = w->generation;
        params.nlisten = 0;
        for (int i = w->index; i < m->nlisten; i += m->nworkers) {
            params.listen_fds[params.nlisten++] = m->listen_fds[i];
        }
        params.ctl_fd = sv[1];
        params.shm = m->shm;
        params.conf = m->conf;
        worker_main(&params);
    }
    close(sv[1]);
    w->pid = pid;
    w->ctl_fd = sv[0];
    ev_io_set(&w->ctl_io, w->ctl_fd, EV_READ);
    ev_io_start(m->loop, &w->ctl_io);
    if (w->started_usec != 0) {
        stats->respawns++;   /* a restart, not the first start */
    }
    w->started_usec = util_now_usec();
    w->fatal = false;
    stats->in_use = 1;
    stats->pid = pid;
    stats->generation = w->generation;
    stats->started = (int64_t)time(NULL);
    stats->sessions_alive = 0;
    memset(stats->pinned, 0, sizeof(stats->pinned));
    log_info("started worker %d (pid %d, generation %u)", w->index, (int)pid,
             w->generation);
}

/* Starts generation m->generation with nworkers workers on the open sockets. */
static int
master_start_generation(struct master *m, int nworkers)
{
    for (int i = 0; i < nworkers; i++) {
        int row = master_free_row(m);
        struct master_worker *w;

        if (row < 0) {
            log_error("no free worker row for worker %d (too many retiring workers)", i);
            return CORDIS_ERROR;
        }
        w = &m->rows[row];
        memset(w, 0, sizeof(*w));
        ev_init(&w->respawn, master_respawn_cb);
        ev_init(&w->ctl_io, relay_ctl_cb);
        w->ctl_fd = -1;
        w->in_use = true;
        w->index = i;
        w->generation = m->generation;
        m->current[i] = row;
    }
    m->nworkers = nworkers;
    for (int i = 0; i < nworkers; i++) {
        master_spawn(m, m->current[i]);
    }
    return CORDIS_OK;
}

static void
master_stop(struct master *m, enum master_state state)
{
    if (m->state == MASTER_STOPPING || m->state == state) {
        return;
    }
    m->state = state;
    /* Out of ZooKeeper first: clients stop choosing us while we drain. */
    codis_api_jodis_stop(m);
    reshard_stop(m);   /* between two MIGRATE calls; resumed at the next start */
    if (m->upgrade_pid == 0) {
        notify_stopping();
    }
    for (int row = 0; row < SHM_ROWS; row++) {
        ev_timer_stop(m->loop, &m->rows[row].respawn);
    }
    if (state == MASTER_QUITTING && m->successor_fd >= 0) {
        /* Retiring after a binary upgrade: clients go to the new master. */
        log_info("graceful stop: the new master (pid %d) takes over the clients",
                 (int)m->upgrade_pid);
        relay_send_all(m, CTL_RETIRE, true);
        ev_timer_set(&m->kill_timer, m->conf->proxy.drain_timeout / 1000.0
                     + MASTER_KILL_AFTER_SEC, 0.0);
    } else if (state == MASTER_QUITTING) {
        log_info("graceful stop: workers finish their requests, then exit");
        relay_send_all(m, CTL_QUIT, true);
        ev_timer_set(&m->kill_timer, m->conf->proxy.drain_timeout / 1000.0
                     + MASTER_KILL_AFTER_SEC, 0.0);
    } else {
        log_info("fast stop: workers exit now");
        relay_send_all(m, CTL_TERMINATE, true);
        ev_timer_set(&m->kill_timer, MASTER_KILL_AFTER_SEC, 0.0);
    }
    ev_timer_stop(m->loop, &m->kill_timer);
    ev_timer_start(m->loop, &m->kill_timer);
    /* Workers take what is queued and close their copies; with ours gone
     * too, new connects are refused rather than left in a dead queue (a
     * new master from an upgrade keeps its own copies open). */
    master_close_listeners(m);
    if (master_live(m) == 0) {
        ev_break(m->loop, EVBREAK_ALL);
    }
}

static void
master_kill_cb(struct ev_loop *loop, ev_timer *timer, int revents)
{
    struct master *m = ev_userdata(loop);

    for (int row = 0; row < SHM_ROWS; row++) {
        if (m->rows[row].pid != 0) {
            log_warn("worker %d (pid %d) still running after the deadline, sending SIGKILL",
                     m->rows[row].index, (int)m->rows[row].pid);
            kill(m->rows[row].pid, SIGKILL);
        }
    }
}

/* Applies in the master what a reload changes in place. */
static void
master_apply_live(struct master *m, const struct conf *old, const struct conf *conf)
{
    log_set_level((enum log_level)conf->log.level);
    if (strcmp(old->log.file, conf->log.file) != 0) {
        log_set_file(conf->log.file);
    }
    if (strcmp(old->pid_file, conf->pid_file) != 0) {
        if (pidfile_write(conf->pid_file) == CORDIS_OK && old->pid_file[0] != '\0') {
            unlink(old->pid_file);
        }
    }
}

/* Records a failed reload; the running config stays. */
static int
master_reload_failed(struct master *m, const char *err)
{
    m->reloads_failed++;
    m->last_reload_time = (int64_t)time(NULL);
    snprintf(m->last_reload, sizeof(m->last_reload), "failed: %s", err);
    log_error("reload failed: %s; the running configuration stays", err);
    return CORDIS_ERROR;
}

/*
 * Reload: a whole new config or nothing. What can change in place goes to
 * shared memory and the workers are told; what cannot (listen address,
 * worker count) starts a new generation and retires the old one.
 */
static int
master_reload_apply(struct master *m)
{
    char err[512], *text = NULL;
    size_t size = 0;
    struct conf *conf = NULL, *old = m->conf;
    const char *what = NULL;
    int fresh_listeners[CORDIS_MAX_WORKERS];
    int nfresh = 0;   /* sockets in fresh_listeners (new address only) */
    int admin_fd = -1;
    bool restart;

    log_info("reloading %s", m->opts->conf_path);
    if (conf_read_file(m->opts->conf_path, &text, &size, err, sizeof(err)) != CORDIS_OK
        || conf_load_text(m->opts->conf_path, text, size, &conf, err, sizeof(err)) != CORDIS_OK) {
        free(text);
        return master_reload_failed(m, err);
    }
    restart = conf_needs_restart(old, conf, &what);
    if (restart && master_free_rows(m) < conf->proxy.workers) {
        /* Earlier generations still draining hold their stats rows. */
        snprintf(err, sizeof(err), "%s changed but only %d worker rows are free for %d "
                 "workers (earlier generations are still draining); try again later",
                 what, master_free_rows(m), conf->proxy.workers);
        conf_free(conf);
        free(text);
        return master_reload_failed(m, err);
    }
    if (strcmp(old->admin.listen, conf->admin.listen) != 0) {
        /* Bind the new admin address now: if that fails nothing changes. */
        admin_fd = listen_open(conf->admin.listen, 0, err, sizeof(err));
        if (admin_fd < 0) {
            conf_free(conf);
            free(text);
            return master_reload_failed(m, err);
        }
    }
    if (restart && master_prepare_listeners(m, conf, fresh_listeners, &nfresh,
                                            err, sizeof(err)) != CORDIS_OK) {
        if (admin_fd >= 0) {
            close(admin_fd);
        }
        conf_free(conf);
        free(text);
        return master_reload_failed(m, err);
    }
    if (master_publish(m, conf, text, size) != CORDIS_OK) {
        for (int j = 0; j < nfresh; j++) {
            close(fresh_listeners[j]);
        }
        if (admin_fd >= 0) {
            close(admin_fd);
        }
        conf_free(conf);
        free(text);
        return master_reload_failed(m, "cannot publish the config to shared memory");
    }
    free(text);
    master_apply_live(m, old, conf);
    m->conf = conf;
    codis_api_jodis_update(m);   /* new servers, auth or path: registered again */
    sentinel_update(m);
    sentinel_rewatch(m);         /* the file's primaries are checked with them at once */
    if (admin_fd >= 0) {
        /* The admin server moves to the socket bound above, from the loop:
         * this reload may be running inside one of its own requests. */
        if (m->admin_move_fd >= 0) {
            close(m->admin_move_fd);
        }
        m->admin_move_fd = admin_fd;
        ev_timer_set(&m->admin_move, 0.0, 0.0);
        ev_timer_start(m->loop, &m->admin_move);
    }
    m->reloads_ok++;
    m->last_reload_time = (int64_t)time(NULL);

    if (!restart) {
        relay_send_all(m, CTL_UPDATE, false);
        snprintf(m->last_reload, sizeof(m->last_reload), "ok: applied in place");
        log_info("reload done: applied in place");
        conf_free(old);
        return CORDIS_OK;
    }

    /* New generation: retire every current worker, then start the new ones. */
    log_info("reload: %s changed, starting worker generation %u", what,
             m->generation + 1);
    for (int i = 0; i < m->nworkers; i++) {
        struct master_worker *w = &m->rows[m->current[i]];

        w->retiring = true;
        ev_timer_stop(m->loop, &w->respawn);
        if (w->pid == 0) {
            w->in_use = false;
        }
    }
    relay_send_all(m, CTL_RETIRE, true);
    if (nfresh > 0) {
        /* A new address: the old sockets stay open in the retiring workers
         * until they exit; the master keeps only the new ones. */
        master_close_listeners(m);
        memcpy(m->listen_fds, fresh_listeners, sizeof(int) * (size_t)nfresh);
        m->nlisten = nfresh;
        m->listen_addr = strdup(conf->proxy.listen);
    }
    m->generation++;
    if (master_start_generation(m, conf->proxy.workers) != CORDIS_OK) {
        /* Checked above; this would be a bookkeeping bug, and the old
         * workers are already retiring: say so loudly. */
        log_error("reload: worker generation %u could not start", m->generation);
    }
    snprintf(m->last_reload, sizeof(m->last_reload),
             "ok: %s changed, new worker generation %u", what, m->generation);
    log_info("reload done: %s", m->last_reload);
    conf_free(old);
    return CORDIS_OK;
}

void
master_stats(struct master *m, struct stats_total *out)
{
    master_fold_old_stats(m);
    stats_sum(m->shm, out);
    if (m->old_shm != NULL) {
        struct stats_total *old = malloc(sizeof(*old));

        if (old != NULL) {
            stats_sum(m->old_shm, old);
            old->sessions_alive = 0;   /* its clients are its own */
            memset(old->pinned, 0, sizeof(old->pinned));
            stats_add(out, old);
            free(old);
        }
    }
}

void
master_fold_old_stats(struct master *m)
{
    struct stats_total *old;

    if (m->old_shm == NULL || getppid() == m->old_master) {
        return;
    }
    old = malloc(sizeof(*old));
    if (old == NULL) {
        return;
    }
    stats_sum(m->old_shm, old);
    old->sessions_alive = 0;
    memset(old->pinned, 0, sizeof(old->pinned));
    stats_add(&m->shm->carried, old);
    free(old);
    shm_unmap_old(m->old_shm);
    m->old_shm = NULL;
    log_info("the old master (pid %d) has exited; its counts are carried over",
             (int)m->old_master);
}

void
master_notify_workers(struct master *m)
{
    relay_send_all(m, CTL_UPDATE, false);
}

int
master_reload(struct master *m)
{
    int rc;

    notify_reloading();
    rc = master_reload_apply(m);
    notify_status("%s", m->last_reload);
    notify_ready();
    return rc;
}

void
master_quit(struct master *m)
{
    master_stop(m, MASTER_QUITTING);
}

bool
master_route_acked(const struct master *m, uint64_t gen)
{
    for (int row = 0; row < SHM_ROWS; row++) {
        if (m->rows[row].in_use && m->rows[row].pid != 0
            && __atomic_load_n(&m->shm->rows[row].route_ack, __ATOMIC_ACQUIRE) < gen) {
            return false;
        }
    }
    return true;
}

void
master_publish_route(struct master *m, const struct shm_route *route)
{
    shm_route_publish(m->shm, route);
    relay_send_all(m, CTL_UPDATE, false);
}

static void
master_signal_cb(struct ev_loop *loop, ev_signal *sig, int revents)
{
    struct master *m = ev_userdata(loop);
    const struct signal_def *def = sig->data;

    log_info("received SIG%s", def->name);
    switch (def->action) {
    case SIGNAL_RELOAD:
        if (m->state == MASTER_RUNNING) {
            master_reload(m);
        }
        break;
    case SIGNAL_QUIT:
        master_stop(m, MASTER_QUITTING);
        break;
    case SIGNAL_STOP:
        master_stop(m, MASTER_STOPPING);
        break;
    case SIGNAL_REOPEN:
        log_reopen();
        relay_send_all(m, CTL_REOPEN, true);
        log_info("log file reopened");
        break;
    case SIGNAL_UPGRADE:
        if (m->state == MASTER_RUNNING) {
            upgrade_start(m);
        }
        break;
    }
}

static struct master_worker *
master_find_pid(struct master *m, pid_t pid)
{
    for (int row = 0; row < SHM_ROWS; row++) {
        if (m->rows[row].pid == pid) {
            return &m->rows[row];
        }
    }
    return NULL;
}

static bool
master_all_fatal(const struct master *m)
{
    for (int i = 0; i < m->nworkers; i++) {
        if (!m->rows[m->current[i]].fatal) {
            return false;
        }
    }
    return m->nworkers > 0;
}

static void
master_child_cb(struct ev_loop *loop, ev_child *child, int revents)
{
    struct master *m = ev_userdata(loop);
    struct master_worker *w = master_find_pid(m, child->rpid);
    int status = child->rstatus, row;
    int64_t lived;

    if (m->upgrade_pid != 0 && child->rpid == m->upgrade_pid) {
        upgrade_child_exited(m, status);
        return;
    }
    if (w == NULL) {
        return;
    }
    row = (int)(w - m->rows);
    if (WIFEXITED(status)) {
        log_write(WEXITSTATUS(status) == 0 ? LOG_LEVEL_INFO : LOG_LEVEL_ERROR,
                  "worker %d (pid %d) exited with status %d", w->index, (int)w->pid,
                  WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        log_error("worker %d (pid %d) was killed by signal %d (%s)", w->index,
                  (int)w->pid, WTERMSIG(status), strsignal(WTERMSIG(status)));
    }
    /* Clients it handed over just before it exited are still queued on
     * its channel: pass them on before the channel closes with them. */
    if (ev_is_active(&w->ctl_io)) {
        relay_ctl_cb(loop, &w->ctl_io, EV_READ);
    }
    ev_io_stop(m->loop, &w->ctl_io);
    close(w->ctl_fd);
    w->ctl_fd = -1;
    w->pid = 0;
    m->shm->rows[row].pid = 0;
    /* Its clients' places under proxy.max_clients are free again. */
    __atomic_sub_fetch(&m->shm->header.clients,
                       (uint32_t)m->shm->rows[row].sessions_alive, __ATOMIC_ACQ_REL);
    m->shm->rows[row].sessions_alive = 0;
    memset(m->shm->rows[row].pinned, 0, sizeof(m->shm->rows[row].pinned));

    if (m->state != MASTER_RUNNING) {
        w->in_use = false;
        if (master_live(m) == 0) {
            ev_break(loop, EVBREAK_ALL);
        }
        return;
    }
    if (w->retiring) {
        w->in_use = false;
        return;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == WORKER_EXIT_FATAL) {
        w->fatal = true;
        log_error("worker %d had a fatal setup error; it is not respawned", w->index);
        if (master_all_fatal(m)) {
            log_error("no worker could start; exiting");
            m->exit_status = 1;
            master_stop(m, MASTER_STOPPING);
        }
        return;
    }
    lived = util_now_usec() - w->started_usec;
    w->quick_deaths = lived < MASTER_QUICK_DEATH_USEC ? w->quick_deaths + 1 : 0;
    if (w->quick_deaths <= 1) {
        master_spawn(m, row);
    } else {
        int64_t ms = master_backoff_ms(w->quick_deaths);

        log_warn("worker %d keeps dying, respawn in %lld ms", w->index, (long long)ms);
        ev_timer_set(&w->respawn, (double)ms / 1000.0, 0.0);
        ev_timer_start(loop, &w->respawn);
    }
}

/* A new binary started by USR2: take over the old master's sockets when
 * the address is still ours, and its stats. */
static void
master_adopt(struct master *m, struct upgrade_inherit *in)
{
    log_info("started by a binary upgrade: %d listening sockets inherited", in->nlisten);
    if (in->shm_fd >= 0) {
        m->old_shm = shm_map_old(in->shm_fd);
        m->old_master = getppid();
        if (m->old_shm == NULL) {
            log_warn("the old master's shared memory has another layout; stats start from zero");
        }
        close(in->shm_fd);
    }
    if (in->peer_fd >= 0) {
        /* The old master hands us its clients when it retires. */
        ev_io_init(&m->predecessor_io, relay_ctl_cb, in->peer_fd, EV_READ);
        ev_io_start(m->loop, &m->predecessor_io);
    }
    if (strcmp(in->addr, m->conf->proxy.listen) == 0 && in->nlisten > 0) {
        memcpy(m->listen_fds, in->listen_fds, sizeof(int) * (size_t)in->nlisten);
        m->nlisten = in->nlisten;
        m->listen_addr = strdup(in->addr);
    } else {
        for (int i = 0; i < in->nlisten; i++) {
            close(in->listen_fds[i]);
        }
    }
}

int
master_run(const struct master_options *opts, struct conf *conf,
           const char *text, size_t size)
{
    static struct master master;
    struct master *m = &master;
    struct upgrade_inherit inherit = { .admin_fd = -1, .shm_fd = -1, .peer_fd = -1 };
    int ready_fd = -1;
    unsigned nsig = 0;
    bool inherited = false;

    memset(m, 0, sizeof(*m));
    m->opts = opts;
    m->conf = conf;
    m->loop = EV_DEFAULT;
    m->successor_fd = -1;
    m->admin_move_fd = -1;
    m->pending_tail = &m->pending;
    ev_timer_init(&m->pending_timer, relay_retry_cb, MASTER_RETRY_SEC, MASTER_RETRY_SEC);
    ev_init(&m->predecessor_io, relay_ctl_cb);
    ev_init(&m->admin_move, master_admin_move_cb);
    for (int row = 0; row < SHM_ROWS; row++) {
        m->rows[row].ctl_fd = -1;
        ev_init(&m->rows[row].respawn, master_respawn_cb);
        ev_init(&m->rows[row].ctl_io, relay_ctl_cb);
    }
    ev_set_userdata(m->loop, m);
    signal(SIGPIPE, SIG_IGN);

    if (log_init(conf->log.file, (enum log_level)conf->log.level) != CORDIS_OK) {
        return 1;
    }
    /* A master started by an upgrade is already detached: no second fork. */
    if (upgrade_inherited(&inherit)) {
        inherited = true;
    } else if (opts->daemonize && daemon_start(&ready_fd) != CORDIS_OK) {
        return 1;
    }
    m->shm = shm_create();
    reshard_load(m);   /* a migration's slots go into the first route */
    if (m->shm == NULL || master_publish(m, conf, text, size) != CORDIS_OK) {
        log_error("cannot set up shared memory, exiting");
        goto failed;
    }
    m->shm->header.started = (int64_t)time(NULL);
    master_make_run_id(m->shm->header.run_id);
    if (inherited) {
        master_adopt(m, &inherit);
        codis_api_adopt(m);
    }
    if (master_open_listeners(m, conf->proxy.listen, conf->proxy.workers) != CORDIS_OK) {
        log_error("cannot listen on %s, exiting", conf->proxy.listen);
        goto failed;
    }
    if (pidfile_write(conf->pid_file) != CORDIS_OK) {
        goto failed;
    }
    m->started = (int64_t)time(NULL);
    m->admin = admin_start(m, inherit.admin_fd);
    if (m->admin == NULL) {
        log_error("cannot start the admin server on %s, exiting", conf->admin.listen);
        master_remove_pid_file(m);
        goto failed;
    }
    proctitle_set("cordis: master process %s -c %s", opts->argv0, opts->conf_path);

    for (unsigned i = 0; i < signal_table_size && nsig < CORDIS_ARRAY_SIZE(m->signals); i++) {
        ev_signal_init(&m->signals[nsig], master_signal_cb, signal_table[i].signo);
        m->signals[nsig].data = (void *)&signal_table[i];
        ev_signal_start(m->loop, &m->signals[nsig]);
        nsig++;
    }
    ev_child_init(&m->child, master_child_cb, 0, 0);
    ev_child_start(m->loop, &m->child);
    ev_init(&m->kill_timer, master_kill_cb);

    log_info("cordis %s master started (pid %d), %d workers on %s", PACKAGE_VERSION,
             (int)getpid(), conf->proxy.workers, conf->proxy.listen);
    m->generation = 1;
    daemon_quiet_stderr(ready_fd);
    if (master_start_generation(m, conf->proxy.workers) != CORDIS_OK) {
        goto failed;
    }
    daemon_ready(&ready_fd, true);
    if (inherited) {
        notify_mainpid(getpid());
    }
    notify_status("%d workers on %s", conf->proxy.workers, conf->proxy.listen);
    notify_ready();
    codis_api_jodis_update(m);   /* online already unless a dashboard starts us */
    sentinel_update(m);
    reshard_resume(m);

    ev_run(m->loop, 0);

    log_info("master exiting");
    relay_forget(m);
    admin_stop(m->admin);
    sentinel_stop(m);
    reshard_free(m);
    codis_api_free(m);
    ha_free(m);
    shm_unmap_old(m->old_shm);
    if (ev_is_active(&m->predecessor_io)) {
        ev_io_stop(m->loop, &m->predecessor_io);
        close(m->predecessor_io.fd);
    }
    if (m->successor_fd >= 0) {
        close(m->successor_fd);
    }
    master_remove_pid_file(m);
    master_close_listeners(m);
    shm_destroy(m->shm);
    conf_free(m->conf);
    log_close();
    return m->exit_status;

failed:
    daemon_ready(&ready_fd, false);
    master_close_listeners(m);
    shm_destroy(m->shm);
    conf_free(m->conf);
    log_close();
    return 1;
}

