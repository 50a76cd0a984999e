/*
 * The master process: owns the config, the listening sockets, the shared
 * memory and (later) the admin server; forks, reaps and respawns workers;
 * turns signals into reloads and stops. It never touches client traffic.
 */
#ifndef CORDIS_MASTER_H
#define CORDIS_MASTER_H

#include <stdbool.h>

#include <stdint.h>
#include <sys/types.h>

#include <ev.h>

#include "cordis.h"
#include "ctl.h"
#include "shm.h"

struct conf;
struct admin;
struct codis_api;
struct ha;
struct sentinel;
struct reshard;

struct master_options {
    const char *conf_path;   /* -c */
    bool        daemonize;   /* -d */
    const char *argv0;       /* for the process title */
    const char *exe;         /* absolute path of this binary (upgrade re-executes it) */
    char      **argv;        /* the command line, for the upgrade's exec */
};

/* A control message waiting for room on a full channel. */
struct master_pending {
    struct master_pending *next;
    int                    row;     /* worker row for a command; -1 = a handoff to anyone */
    char                   cmd;     /* enum ctl_cmd */
    struct ctl_handoff     h;       /* the handoff's state */
    int                    fd;      /* the handed-over client; -1 for a command */
};

/* The master's state, also read by the admin server (admin.c). */
enum master_state {
    MASTER_RUNNING,
    MASTER_QUITTING,     /* QUIT: workers drain, then we exit 0 */
    MASTER_STOPPING,     /* TERM/INT: workers exit now */
};

struct master_worker {
    ev_timer    respawn;        /* backoff timer; first member for the cast */
    ev_io       ctl_io;         /* connections the worker hands over */
    pid_t       pid;            /* 0 = not running */
    int         ctl_fd;         /* master's end of the control socketpair; -1 = none */
    int         index;          /* worker number in its generation */
    unsigned    generation;     /* generation it belongs to */
    int64_t     started_usec;   /* monotonic start time */
    unsigned    quick_deaths;   /* consecutive deaths soon after start */
    bool        in_use;         /* row belongs to a live or pending worker */
    bool        retiring;       /* old generation: drain and exit, no respawn */
    bool        fatal;          /* exited with WORKER_EXIT_FATAL */
};

struct master {
    struct ev_loop       *loop;
    const struct master_options *opts;
    struct conf          *conf;          /* running config */
    struct shm           *shm;
    enum master_state     state;
    unsigned              generation;    /* current worker generation */
    int                   nworkers;      /* workers in the current generation */
    int                   current[CORDIS_MAX_WORKERS];   /* index -> row */
    int                   listen_fds[CORDIS_MAX_WORKERS]; /* index -> socket */
    int                   nlisten;       /* sockets open in listen_fds */
    char                 *listen_addr;   /* address they are bound to */
    struct master_worker  rows[SHM_ROWS];
    ev_signal             signals[8];
    ev_child              child;
    ev_timer              kill_timer;    /* SIGKILL backstop when stopping */
    int                   exit_status;
    struct admin         *admin;         /* admin HTTP server; NULL when not listening */
    struct codis_api     *codis;         /* what a codis-dashboard told us (codis_api.h) */
    struct ha            *ha;            /* primaries learned while running (ha.h) */
    struct sentinel      *sentinel;      /* following Redis Sentinel (sentinel.h) */
    struct reshard       *reshard;       /* cordis's own slot migration (reshard.h) */
    ev_timer              admin_move;    /* moves the admin server after a reload */
    int                   admin_move_fd; /* its new socket until then; -1 = none */
    pid_t                 upgrade_pid;   /* new master started by USR2; 0 = none */
    int                   successor_fd;  /* channel to that new master; -1 = none */
    ev_io                 predecessor_io; /* channel from the master we upgraded from */
    const struct shm     *old_shm;       /* the segment of the master we upgraded from */
    pid_t                 old_master;    /* its pid: our parent until it exits */
    unsigned              handoff_rr;    /* round robin over workers taking handed-over clients */
    struct master_pending *pending;      /* control messages to retry, oldest first */
    struct master_pending **pending_tail;
    ev_timer              pending_timer; /* retries them while any wait */
    int64_t               started;       /* unix time the master started */
    /* last reload, for the log and the admin API */
    uint64_t              reloads_ok;
    uint64_t              reloads_failed;
    char                  last_reload[640];
    int64_t               last_reload_time; /* unix time of the last reload */
};

/*
 * Runs the master until it stops. conf is the already loaded and validated
 * config (the master takes ownership); text is the file's content as loaded.
 * Returns the process exit status.
 */
int master_run(const struct master_options *opts, struct conf *conf,
               const char *text, size_t size);

/* Reloads the config file (HUP). Returns CORDIS_OK when the new config
 * runs; m->last_reload says what happened either way. */
int  master_reload(struct master *m);
/* Worker processes running now. */
int  master_live(const struct master *m);
/* Tells every current worker to re-read shared memory. */
void master_notify_workers(struct master *m);
/* Sums the stats of this master and, during an upgrade, the old one's. */
struct stats_total;
void master_stats(struct master *m, struct stats_total *out);
/* Once the old master of an upgrade exited, folds its final counts into
 * ours (then a later upgrade carries them on). */
void master_fold_old_stats(struct master *m);
/* Starts a graceful stop (QUIT). */
void master_quit(struct master *m);
/* Publishes a route table changed through the admin API. */
void master_publish_route(struct master *m, const struct shm_route *route);
/* True when every running worker has the replies of the requests it sent
 * before it applied route generation gen (the route barrier). */
bool master_route_acked(const struct master *m, uint64_t gen);

#endif /* CORDIS_MASTER_H */
