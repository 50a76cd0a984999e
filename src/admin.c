/*
 * The admin HTTP server (see admin.h): routes, JSON, Prometheus text.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>
#include <microhttpd.h>

#include "admin.h"
#include "ha.h"
#include "reshard.h"
#include "codis_api.h"
#include "command.h"
#include "conf.h"
#include "listen.h"
#include "log.h"
#include "master.h"
#include "migrate.h"
#include "pinned.h"
#include "reply.h"
#include "shm.h"
#include "stats_view.h"
#include "util.h"
#include "worker.h"

/* Largest request body accepted (fillslots carries 1024 slots). */
#define ADMIN_BODY_MAX        (1024 * 1024)
#define ADMIN_CONN_LIMIT      64
#define ADMIN_PER_IP_LIMIT    16
#define ADMIN_CONN_TIMEOUT    10        /* seconds */
/* How long a shutdown waits so its own reply can leave first. */
#define ADMIN_SHUTDOWN_DELAY  0.2

extern const char cordis_dashboard_html[];

struct admin {
    ev_io              io;           /* MHD's epoll fd is readable */
    ev_timer           timer;        /* MHD's own timeout */
    ev_timer           tick;         /* once a second: QPS and CPU */
    ev_timer           shutdown;     /* PUT /api/proxy/shutdown */
    struct master     *m;
    struct MHD_Daemon *daemon;
    int                listen_fd;
    int                epoll_fd;
    struct stats_total *base;        /* counters at the last reset */
    struct stats_total *scratch;     /* a sum being built */
    uint64_t           last_calls;   /* total calls at the last tick */
    double             qps;          /* calls per second over the last tick */
    double             last_cpu;     /* CPU seconds of all processes at the last tick */
    double             utime, stime; /* ... of which user and system */
    double             cpu;          /* fraction of one core over the last tick */
    uint64_t           rss;          /* resident bytes of all processes */
    int64_t            last_tick;    /* usec */
    ev_timer           barrier;      /* polls the workers for suspended fillslots */
    struct admin_request *waiting;   /* fillslots waiting for the route barrier */
};

/* Per-request state: the body of a PUT as it arrives; a fillslots waiting
 * for the workers to acknowledge its route. */
struct admin_request {
    char   *body;
    size_t  len;
    bool    too_big;
    struct MHD_Connection *conn;
    bool    codis;                   /* a Codis route: Codis's reply shapes */
    uint64_t route_gen;              /* acknowledged by every worker, then answered */
    int64_t  deadline;               /* usec: answered with an error after it */
    int      outcome;                /* 0 waiting, 1 acknowledged, -1 timed out */
    struct admin_request *next;      /* admin's waiting list */
};

/* How often a waiting fillslots looks at the workers' acknowledgements. */
#define ADMIN_BARRIER_SEC 0.002

/* --- process figures ------------------------------------------------------ */

/* User and system CPU seconds and resident bytes of the master and every
 * worker. */
static void
admin_all_procs(const struct master *m, double *utime, double *stime, uint64_t *rss)
{
    double user, sys;
    uint64_t r;

    *utime = *stime = 0;
    *rss = 0;
    if (util_proc_stat(getpid(), &user, &sys, &r) == CORDIS_OK) {
        *utime += user;
        *stime += sys;
        *rss += r;
    }
    for (int row = 0; row < SHM_ROWS; row++) {
        if (m->rows[row].pid != 0
            && util_proc_stat(m->rows[row].pid, &user, &sys, &r) == CORDIS_OK) {
            *utime += user;
            *stime += sys;
            *rss += r;
        }
    }
}

static void
admin_tick_cb(struct ev_loop *loop, ev_timer *timer, int revents)
{
    struct admin *a = (struct admin *)((char *)timer - offsetof(struct admin, tick));
    int64_t now = util_now_usec();
    double secs = (double)(now - a->last_tick) / 1e6, cpu;

    master_stats(a->m, a->scratch);
    if (secs > 0 && a->last_tick != 0) {
        a->qps = a->scratch->calls >= a->last_calls
            ? (double)(a->scratch->calls - a->last_calls) / secs : 0;
    }
    a->last_calls = a->scratch->calls;
    /* Workers answer INFO's instantaneous_ops_per_sec from it. */
    __atomic_store_n(&a->m->shm->header.ops_per_sec, (uint64_t)(a->qps + 0.5), __ATOMIC_RELAXED);
    admin_all_procs(a->m, &a->utime, &a->stime, &a->rss);
    cpu = a->utime + a->stime;
    if (secs > 0 && a->last_tick != 0 && cpu >= a->last_cpu) {
        a->cpu = (cpu - a->last_cpu) / secs;
    }
    a->last_cpu = cpu;
    a->last_tick = now;
}

/* --- responses ------------------------------------------------------------- */

static enum MHD_Result
admin_send(struct MHD_Connection *conn, unsigned status, const char *type,
           char *body, size_t len)
{
    struct MHD_Response *resp;
    enum MHD_Result rc;

    resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* Sends a JSON value (taking the reference). */
static enum MHD_Result
admin_json(struct MHD_Connection *conn, unsigned status, json_t *value)
{
    return admin_reply_json(conn, status, value);
}

enum MHD_Result
admin_reply_json(struct MHD_Connection *conn, unsigned status, json_t *value)
{
    return admin_reply_json_as(conn, status, value, JSON_COMPACT);
}

enum MHD_Result
admin_reply_json_as(struct MHD_Connection *conn, unsigned status, json_t *value, size_t flags)
{
    char *text = json_dumps(value, flags | JSON_ENCODE_ANY);
    size_t len;

    json_decref(value);
    if (text == NULL) {
        return MHD_NO;
    }
    len = strlen(text);
    return admin_send(conn, status, "application/json", text, len);
}

static enum MHD_Result
admin_error(struct MHD_Connection *conn, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum MHD_Result
admin_error(struct MHD_Connection *conn, unsigned status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return admin_json(conn, status, json_pack("{s:s}", "error", msg));
}

void
admin_iso_time(int64_t unix_time, char *buf, size_t size)
{
    time_t t = (time_t)unix_time;
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* --- GET routes -------------------------------------------------------------- */

static const char *
admin_worker_state(const struct master_worker *w)
{
    if (w->pid != 0) {
        return w->retiring ? "draining" : "running";
    }
    if (w->fatal) {
        return "failed";
    }
    return ev_is_active(&w->respawn) ? "backoff" : "starting";
}

static json_t *
admin_workers_model(const struct master *m)
{
    json_t *list = json_array();

    for (int row = 0; row < SHM_ROWS; row++) {
        const struct master_worker *w = &m->rows[row];
        const struct stats_row *s = &m->shm->rows[row];

        if (!w->in_use) {
            continue;
        }
        json_array_append_new(list, json_pack(
            "{s:i, s:i, s:i, s:i, s:I, s:I, s:s}",
            "index", w->index, "row", row, "pid", (int)w->pid,
            "generation", (int)w->generation, "started_unix", (json_int_t)s->started,
            "respawns", (json_int_t)s->respawns, "state", admin_worker_state(w)));
    }
    return list;
}

json_t *
admin_model_json(struct admin *a)
{
    const struct master *m = a->m;
    char started[32], hostname[256] = "";
    json_t *model;

    admin_iso_time(m->started, started, sizeof(started));
    gethostname(hostname, sizeof(hostname) - 1);
    model = json_pack("{s:s, s:s, s:i, s:s, s:I, s:s, s:s, s:s, s:s, s:i, s:i, s:o}",
                      "version", PACKAGE_VERSION, "product_name", m->conf->product_name,
                      "pid", (int)getpid(), "start_time", started,
                      "start_unix", (json_int_t)m->started,
                      "proxy_addr", m->conf->proxy.listen, "admin_addr", m->conf->admin.listen,
                      "config_file", m->opts->conf_path, "hostname", hostname,
                      "generation", (int)m->generation, "nworkers", m->nworkers,
                      "workers", admin_workers_model(m));
    json_object_set_new(model, "reload", json_pack(
        "{s:I, s:I, s:s, s:I}", "ok", (json_int_t)m->reloads_ok,
        "failed", (json_int_t)m->reloads_failed,
        "last", m->last_reload[0] != '\0' ? m->last_reload : "none",
        "last_unix", (json_int_t)m->last_reload_time));
    json_object_set_new(model, "route_generation",
                        json_integer((json_int_t)shm_route_gen(m->shm)));
    /* Codis's fields (token, datacenter, ...), so a dashboard can add us. */
    codis_api_model(a->m, model);
    return model;
}

static enum MHD_Result
admin_get_model(struct admin *a, struct MHD_Connection *conn)
{
    return admin_json(conn, MHD_HTTP_OK, admin_model_json(a));
}

/* Backends listed: every group's primary and replicas. */
#define ADMIN_BACKENDS_MAX (CORDIS_MAX_GROUPS * (1 + CORDIS_MAX_REPLICAS))

/* One backend (a group's primary or replica) summed over the workers' rows. */
struct admin_backend {
    char     addr[CORDIS_ADDR_LEN];
    int      group;
    bool     replica;
    bool     up;            /* false as soon as one worker cannot reach it */
    bool     loading;       /* a worker saw -LOADING since it connected */
    bool     stale;         /* a worker's ROLE says its link to the primary is down */
    int64_t  lag_bytes;     /* a replica: the largest lag a worker saw; -1 = not known */
    uint64_t requests;
    uint64_t errors;
    uint64_t reconnects;    /* connects past each worker's first */
    uint64_t failures;
};

/* One backend's figures from every worker row. */
static void
admin_backend_sum(const struct master *m, struct admin_backend *b)
{
    b->up = true;
    b->lag_bytes = -1;
    for (int r = 0; r < SHM_ROWS; r++) {
        const struct stats_row *row = &m->shm->rows[r];

        for (int i = 0; row->in_use && i < STATS_MAX_BACKENDS && row->backends[i].addr[0] != '\0';
             i++) {
            const struct stats_backend *e = &row->backends[i];

            if (strcmp(e->addr, b->addr) != 0) {
                continue;
            }
            b->requests += e->requests;
            b->errors += e->errors;
            b->reconnects += e->connects > 0 ? e->connects - 1 : 0;
            b->failures += e->failures;
            b->up = b->up && e->up;
            b->loading = b->loading || e->loading;
            b->stale = b->stale || e->stale;
            b->lag_bytes = CORDIS_MAX(b->lag_bytes, e->lag_bytes);
        }
    }
}

/* Fills out (ADMIN_BACKENDS_MAX entries) with the route table's primaries
 * and replicas; returns how many. */
static int
admin_backend_sums(const struct master *m, struct admin_backend *out)
{
    struct shm_route *route = malloc(sizeof(*route));
    int n = 0;

    if (route == NULL) {
        return 0;
    }
    shm_route_copy(m->shm, route);
    for (uint32_t g = 0; g < route->ngroups && g < CORDIS_MAX_GROUPS; g++) {
        const struct shm_group *sg = &route->groups[g];

        for (int k = -1; k < sg->nreplicas && n < ADMIN_BACKENDS_MAX; k++, n++) {
            struct admin_backend *b = &out[n];

            memset(b, 0, sizeof(*b));
            memcpy(b->addr, k < 0 ? sg->primary : sg->replicas[k], sizeof(b->addr));
            b->group = sg->id;
            b->replica = k >= 0;
            admin_backend_sum(m, b);
        }
    }
    free(route);
    return n;
}

/* up, down, loading or stale. */
static const char *
admin_backend_state(const struct admin_backend *b)
{
    return !b->up ? "down" : b->loading ? "loading" : b->stale ? "stale" : "up";
}

static json_t *
admin_backends(const struct master *m)
{
    struct admin_backend *sums = calloc(ADMIN_BACKENDS_MAX, sizeof(*sums));
    json_t *list = json_array();
    int n = sums != NULL ? admin_backend_sums(m, sums) : 0;

    for (int i = 0; i < n; i++) {
        json_t *o = json_pack(
            "{s:s, s:i, s:s, s:b, s:s, s:I, s:I, s:I, s:I}",
            "addr", sums[i].addr, "group", sums[i].group,
            "role", sums[i].replica ? "replica" : "primary", "up", (int)sums[i].up,
            "state", admin_backend_state(&sums[i]), "requests", (json_int_t)sums[i].requests,
            "errors", (json_int_t)sums[i].errors,
            "reconnects", (json_int_t)sums[i].reconnects,
            "failures", (json_int_t)sums[i].failures);

        if (sums[i].replica && sums[i].lag_bytes >= 0) {
            json_object_set_new(o, "lag_bytes", json_integer(sums[i].lag_bytes));
        }
        if (!sums[i].replica) {
            /* where the primary's address came from: config, sentinel, admin */
            json_object_set_new(o, "source", json_string(
                ha_source_name(ha_source_of(m, (unsigned)sums[i].group))));
        }
        json_array_append_new(list, o);
    }
    free(sums);
    return list;
}

static json_t *
admin_workers_stats(const struct master *m)
{
    json_t *list = json_array();

    for (int row = 0; row < SHM_ROWS; row++) {
        const struct master_worker *w = &m->rows[row];
        const struct stats_row *s = &m->shm->rows[row];
        uint64_t ops = 0;

        if (!w->in_use) {
            continue;
        }
        for (int i = 0; i < COMMAND_COUNT; i++) {
            ops += s->cmd[i].calls;
        }
        json_array_append_new(list, json_pack(
            "{s:i, s:i, s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:s}",
            "index", w->index, "row", row, "pid", (int)w->pid, "generation", (int)w->generation,
            "sessions_alive", (json_int_t)s->sessions_alive,
            "sessions_total", (json_int_t)s->sessions_total, "ops", (json_int_t)ops,
            "bytes_in", (json_int_t)s->bytes_in, "bytes_out", (json_int_t)s->bytes_out,
            "state", admin_worker_state(w)));
    }
    return list;
}

json_t *
admin_stats_json(struct admin *a, bool cmd)
{
    struct stats_total *t = a->scratch;
    json_t *cmds = json_array(), *stats;
    char now[32];

    master_stats(a->m, t);
    stats_sub(t, a->base);
    /* Commands in table order, which is alphabetical. */
    for (int i = 0; cmd && i < COMMAND_COUNT; i++) {
        const struct stats_cmd *c = &t->cmd[i];

        if (c->calls == 0) {
            continue;
        }
        json_array_append_new(cmds, json_pack(
            "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
            "opstr", command_upper_name(&command_table[i]), "calls", (json_int_t)c->calls,
            "usecs", (json_int_t)c->usecs, "usecs_percall", (json_int_t)(c->usecs / c->calls),
            "fails", (json_int_t)c->fails, "redis_errtype", (json_int_t)c->redis_errors,
            "p50_usecs", (json_int_t)stats_quantile(c->hist, 0.5),
            "p99_usecs", (json_int_t)stats_quantile(c->hist, 0.99),
            "p999_usecs", (json_int_t)stats_quantile(c->hist, 0.999)));
    }
    admin_iso_time((int64_t)time(NULL), now, sizeof(now));
    stats = json_pack("{s:b, s:b}", "online", (int)codis_api_online(a->m),
                      "closed", a->m->state != MASTER_RUNNING);
    json_object_set_new(stats, "ops", json_pack(
        "{s:I, s:I, s:{s:I}, s:I}", "total", (json_int_t)t->calls,
        "fails", (json_int_t)t->fails, "redis", "errors", (json_int_t)t->redis_errors,
        "qps", (json_int_t)(a->qps + 0.5)));
    if (cmd) {
        json_object_set_new(json_object_get(stats, "ops"), "cmd", cmds);
    } else {
        json_decref(cmds);
    }
    json_object_set_new(stats, "sessions", json_pack(
        "{s:I, s:I, s:{s:I, s:I, s:I}}", "total", (json_int_t)t->sessions_total,
        "alive", (json_int_t)t->sessions_alive, "pinned",
        "transaction", (json_int_t)t->pinned[PINNED_TRANSACTION],
        "blocking", (json_int_t)t->pinned[PINNED_BLOCKING],
        "pubsub", (json_int_t)t->pinned[PINNED_PUBSUB]));
    json_object_set_new(stats, "rusage", json_pack(
        "{s:s, s:f, s:I, s:{s:f, s:I, s:i, s:I, s:I, s:i, s:i, s:I}}", "now", now,
        "cpu", a->cpu, "mem", (json_int_t)a->rss, "raw", "cpu_seconds", a->last_cpu,
        "max_rss", (json_int_t)a->rss, "num_processes", master_live(a->m) + 1,
        /* Codis's fields: durations in nanoseconds, as Go's time.Duration */
        "utime", (json_int_t)(a->utime * 1e9), "stime", (json_int_t)(a->stime * 1e9),
        "cutime", 0, "cstime", 0, "vm_rss", (json_int_t)a->rss));
    json_object_set_new(stats, "backend", json_pack(
        "{s:b}", "primary_only", a->m->conf->backend.primary_only));
    json_object_set_new(stats, "net", json_pack(
        "{s:I, s:I, s:I, s:I}", "bytes_in", (json_int_t)t->bytes_in,
        "bytes_out", (json_int_t)t->bytes_out, "auth_failures", (json_int_t)t->auth_failures,
        "rejected", (json_int_t)t->rejected));
    json_object_set_new(stats, "workers", admin_workers_stats(a->m));
    json_object_set_new(stats, "backends", admin_backends(a->m));
    /* Codis's sentinels object, as a dashboard told us. */
    codis_api_stats(a->m, stats);
    json_object_set_new(stats, "migration", reshard_json(a->m));
    return stats;
}

static enum MHD_Result
admin_get_stats(struct admin *a, struct MHD_Connection *conn)
{
    return admin_json(conn, MHD_HTTP_OK, admin_stats_json(a, true));
}

void
admin_stats_reset(struct admin *a)
{
    master_stats(a->m, a->base);
    log_info("admin: stats reset");
}

void
admin_shutdown_soon(struct admin *a)
{
    log_info("admin: shutdown requested");
    if (!ev_is_active(&a->shutdown)) {
        ev_timer_set(&a->shutdown, ADMIN_SHUTDOWN_DELAY, 0.0);
        ev_timer_start(a->m->loop, &a->shutdown);
    }
}

void
admin_set_log_level(struct admin *a, int level)
{
    log_set_level((enum log_level)level);
    __atomic_store_n(&a->m->shm->header.log_level, level, __ATOMIC_RELAXED);
    master_notify_workers(a->m);
    log_info("admin: log level set to %s", log_level_name((enum log_level)level));
}

struct master *
admin_master(struct admin *a)
{
    return a->m;
}

static enum MHD_Result
admin_get_slots(struct admin *a, struct MHD_Connection *conn)
{
    struct shm_route *route = malloc(sizeof(*route));
    json_t *list;

    if (route == NULL) {
        return admin_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    shm_route_copy(a->m->shm, route);
    list = json_array();
    for (int s = 0; s < CORDIS_SLOTS; s++) {
        const struct shm_slot *slot = &route->slots[s];
        const struct shm_group *g = shm_route_group(route, slot->group);
        const struct shm_group *from = shm_route_group(route, slot->migrate_from);
        json_t *replicas = json_array();

        if (g != NULL && g->nreplicas > 0) {
            json_t *set = json_array();

            for (int r = 0; r < g->nreplicas; r++) {
                json_array_append_new(set, json_string(g->replicas[r]));
            }
            json_array_append_new(replicas, set);
        }
        json_array_append_new(list, json_pack(
            "{s:i, s:i, s:s, s:i, s:s, s:i, s:b, s:i, s:o}",
            "id", s, "group", g != NULL ? (int)g->id : 0,
            "backend_addr", g != NULL ? g->primary : "",
            "backend_addr_group_id", g != NULL ? (int)g->id : 0,
            "migrate_from", from != NULL ? from->primary : "",
            "migrate_from_group_id", from != NULL ? (int)from->id : 0,
            "locked", (int)slot->locked, "forward_method", (int)slot->method,
            "replica_groups", replicas));
    }
    free(route);
    return admin_json(conn, MHD_HTTP_OK, list);
}

/* --- Prometheus -------------------------------------------------------------- */

static void
admin_metric_head(struct reply *r, const char *name, const char *type, const char *help)
{
    reply_printf(r, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static enum MHD_Result
admin_get_metrics(struct admin *a, struct MHD_Connection *conn)
{
    struct stats_total *t = a->scratch;
    struct master *m = a->m;
    struct admin_backend *sums;
    struct reply r;
    int nsums;

    master_stats(a->m, t);   /* Prometheus wants raw counters: no reset baseline. */
    reply_init(&r);

    admin_metric_head(&r, "cordis_commands_total", "counter", "Commands answered, by command.");
    for (int c = 0; c < COMMAND_COUNT; c++) {
        if (t->cmd[c].calls > 0) {
            reply_printf(&r, "cordis_commands_total{command=\"%s\"} %llu\n",
                         command_upper_name(&command_table[c]),
                         (unsigned long long)t->cmd[c].calls);
        }
    }
    admin_metric_head(&r, "cordis_command_errors_total", "counter",
                      "Error replies, by command and by who made them (proxy or redis).");
    for (int c = 0; c < COMMAND_COUNT; c++) {
        if (t->cmd[c].calls > 0) {
            const char *name = command_upper_name(&command_table[c]);

            reply_printf(&r, "cordis_command_errors_total{command=\"%s\",kind=\"proxy\"} %llu\n"
                         "cordis_command_errors_total{command=\"%s\",kind=\"redis\"} %llu\n",
                         name, (unsigned long long)t->cmd[c].fails,
                         name, (unsigned long long)t->cmd[c].redis_errors);
        }
    }
    admin_metric_head(&r, "cordis_command_duration_seconds", "histogram",
                      "Time from a request parsed to its reply queued, by command.");
    for (int c = 0; c < COMMAND_COUNT; c++) {
        const struct stats_cmd *s = &t->cmd[c];
        const char *name = command_upper_name(&command_table[c]);
        uint64_t cumulative = 0;

        if (s->calls == 0) {
            continue;
        }
        for (unsigned k = 0; k + 1 < STATS_HIST_BUCKETS; k++) {
            cumulative += s->hist[k];
            reply_printf(&r, "cordis_command_duration_seconds_bucket{command=\"%s\",le=\"%g\"} %llu\n",
                         name, (double)stats_bucket_le(k) / 1e6,
                         (unsigned long long)cumulative);
        }
        cumulative += s->hist[STATS_HIST_BUCKETS - 1];
        reply_printf(&r, "cordis_command_duration_seconds_bucket{command=\"%s\",le=\"+Inf\"} %llu\n"
                     "cordis_command_duration_seconds_sum{command=\"%s\"} %.6f\n"
                     "cordis_command_duration_seconds_count{command=\"%s\"} %llu\n",
                     name, (unsigned long long)cumulative, name, (double)s->usecs / 1e6,
                     name, (unsigned long long)cumulative);
    }
    admin_metric_head(&r, "cordis_sessions_alive", "gauge", "Client connections open now.");
    reply_printf(&r, "cordis_sessions_alive %llu\n", (unsigned long long)t->sessions_alive);
    admin_metric_head(&r, "cordis_sessions_total", "counter", "Client connections accepted.");
    reply_printf(&r, "cordis_sessions_total %llu\n", (unsigned long long)t->sessions_total);
    admin_metric_head(&r, "cordis_pinned_sessions", "gauge",
                      "Clients holding a private backend connection or subscriptions, by kind.");
    reply_printf(&r, "cordis_pinned_sessions{kind=\"transaction\"} %llu\n"
                     "cordis_pinned_sessions{kind=\"blocking\"} %llu\n"
                     "cordis_pinned_sessions{kind=\"pubsub\"} %llu\n",
                 (unsigned long long)t->pinned[PINNED_TRANSACTION],
                 (unsigned long long)t->pinned[PINNED_BLOCKING],
                 (unsigned long long)t->pinned[PINNED_PUBSUB]);
    admin_metric_head(&r, "cordis_rejected_connections_total", "counter",
                      "Client connections refused by proxy.max_clients.");
    reply_printf(&r, "cordis_rejected_connections_total %llu\n", (unsigned long long)t->rejected);
    admin_metric_head(&r, "cordis_auth_failures_total", "counter", "Failed AUTH attempts.");
    reply_printf(&r, "cordis_auth_failures_total %llu\n", (unsigned long long)t->auth_failures);
    admin_metric_head(&r, "cordis_client_bytes_received_total", "counter", "Bytes read from clients.");
    reply_printf(&r, "cordis_client_bytes_received_total %llu\n", (unsigned long long)t->bytes_in);
    admin_metric_head(&r, "cordis_client_bytes_sent_total", "counter", "Bytes written to clients.");
    reply_printf(&r, "cordis_client_bytes_sent_total %llu\n", (unsigned long long)t->bytes_out);

    sums = calloc(ADMIN_BACKENDS_MAX, sizeof(*sums));
    nsums = sums != NULL ? admin_backend_sums(m, sums) : 0;
    admin_metric_head(&r, "cordis_backend_up", "gauge",
                      "1 when every worker reaches the backend, else 0.");
    for (int i = 0; i < nsums; i++) {
        reply_printf(&r, "cordis_backend_up{addr=\"%s\",group=\"%d\",role=\"%s\"} %d\n",
                     sums[i].addr, sums[i].group, sums[i].replica ? "replica" : "primary",
                     sums[i].up ? 1 : 0);
    }
    admin_metric_head(&r, "cordis_backend_state", "gauge",
                      "1 for the backend's state: up, down, loading, stale (a replica cut "
                      "off from its primary).");
    for (int i = 0; i < nsums; i++) {
        static const char *const states[] = { "up", "down", "loading", "stale" };

        for (size_t k = 0; k < CORDIS_ARRAY_SIZE(states); k++) {
            reply_printf(&r, "cordis_backend_state{addr=\"%s\",group=\"%d\",role=\"%s\","
                         "state=\"%s\"} %d\n", sums[i].addr, sums[i].group,
                         sums[i].replica ? "replica" : "primary", states[k],
                         strcmp(states[k], admin_backend_state(&sums[i])) == 0);
        }
    }
    admin_metric_head(&r, "cordis_backend_replica_lag_bytes", "gauge",
                      "A replica's replication lag in bytes, from its primary's ROLE (when "
                      "replica reads are on).");
    for (int i = 0; i < nsums; i++) {
        if (sums[i].replica && sums[i].lag_bytes >= 0) {
            reply_printf(&r, "cordis_backend_replica_lag_bytes{addr=\"%s\",group=\"%d\"} %lld\n",
                         sums[i].addr, sums[i].group, (long long)sums[i].lag_bytes);
        }
    }
    admin_metric_head(&r, "cordis_backend_requests_total", "counter", "Requests sent to a backend.");
    for (int i = 0; i < nsums; i++) {
        reply_printf(&r, "cordis_backend_requests_total{addr=\"%s\",group=\"%d\",role=\"%s\"} "
                     "%llu\n", sums[i].addr, sums[i].group,
                     sums[i].replica ? "replica" : "primary", (unsigned long long)sums[i].requests);
    }
    admin_metric_head(&r, "cordis_backend_errors_total", "counter",
                      "Requests answered with an error because a backend was unavailable.");
    for (int i = 0; i < nsums; i++) {
        reply_printf(&r, "cordis_backend_errors_total{addr=\"%s\",group=\"%d\",role=\"%s\"} "
                     "%llu\n", sums[i].addr, sums[i].group,
                     sums[i].replica ? "replica" : "primary", (unsigned long long)sums[i].errors);
    }
    free(sums);

    reshard_metrics(m, &r);
    admin_metric_head(&r, "cordis_workers", "gauge", "Worker processes running.");
    reply_printf(&r, "cordis_workers %d\n", master_live(m));
    admin_metric_head(&r, "cordis_worker_generation", "gauge", "Current worker generation.");
    reply_printf(&r, "cordis_worker_generation %u\n", m->generation);
    admin_metric_head(&r, "cordis_reloads_total", "counter", "Config reloads, by result.");
    reply_printf(&r, "cordis_reloads_total{result=\"ok\"} %llu\n"
                 "cordis_reloads_total{result=\"failed\"} %llu\n",
                 (unsigned long long)m->reloads_ok, (unsigned long long)m->reloads_failed);
    admin_metric_head(&r, "cordis_slot_table_generation", "gauge",
                      "Generation of the slot table in shared memory.");
    reply_printf(&r, "cordis_slot_table_generation %llu\n",
                 (unsigned long long)shm_route_gen(m->shm));
    admin_metric_head(&r, "process_cpu_seconds_total", "counter",
                      "CPU time of the master and its workers.");
    reply_printf(&r, "process_cpu_seconds_total %.2f\n", a->last_cpu);
    admin_metric_head(&r, "process_resident_memory_bytes", "gauge",
                      "Resident memory of the master and its workers.");
    reply_printf(&r, "process_resident_memory_bytes %llu\n", (unsigned long long)a->rss);
    admin_metric_head(&r, "process_start_time_seconds", "gauge",
                      "Start time of the master since the epoch.");
    reply_printf(&r, "process_start_time_seconds %lld\n", (long long)m->started);

    if (r.failed) {
        reply_free(&r);
        return admin_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    return admin_send(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                      r.buf, r.len);
}

/* --- PUT routes ------------------------------------------------------------- */

/* Finds the group whose primary is addr, adding one when none has it:
 * with id want (Codis's group id) when that id is free, else the next. */
static int
admin_group_for_addr(struct shm_route *route, const char *addr, int want,
                     char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    int next_id = 1;
    struct shm_group *g;

    if (addr[0] == '\0') {
        return 0;
    }
    for (uint32_t i = 0; i < route->ngroups; i++) {
        if (strcmp(route->groups[i].primary, addr) == 0) {
            return route->groups[i].id;
        }
        next_id = CORDIS_MAX(next_id, route->groups[i].id + 1);
    }
    if (util_parse_addr(addr, &ss, &sslen) != CORDIS_OK
        || strlen(addr) >= CORDIS_ADDR_LEN) {
        snprintf(err, errlen, "\"%.64s\" is not an address such as \"127.0.0.1:6379\"", addr);
        return -1;
    }
    if (route->ngroups >= CORDIS_MAX_GROUPS || next_id > 65535) {
        snprintf(err, errlen, "too many groups");
        return -1;
    }
    if (want > 0 && want <= 65535 && shm_route_group(route, want) == NULL) {
        next_id = want;
    }
    g = &route->groups[route->ngroups++];
    memset(g, 0, sizeof(*g));
    g->id = (uint16_t)next_id;
    snprintf(g->primary, sizeof(g->primary), "%s", addr);
    return g->id;
}

/* The group id a Codis slot object gives for key (0 when absent). */
static int
admin_codis_gid(json_t *item, const char *key)
{
    json_t *v = json_object_get(item, key);

    return json_is_integer(v) ? (int)json_integer_value(v) : 0;
}

/*
 * Codis's replica_groups of a slot that is not migrating become the
 * replicas of its group (cordis keeps replicas per group; a dashboard
 * sends the same lists for every slot of a group). Absent: none.
 */
static int
admin_fill_replicas(struct shm_route *route, int gid, json_t *groups, char *err,
                    size_t errlen)
{
    struct shm_group *g = (struct shm_group *)shm_route_group(route, gid);
    char list[CORDIS_MAX_REPLICAS][CORDIS_ADDR_LEN];
    int n = 0;
    size_t i, j;
    json_t *set, *addr;

    if (groups != NULL && !json_is_null(groups) && !json_is_array(groups)) {
        snprintf(err, errlen, "replica_groups: expected an array of arrays of addresses");
        return CORDIS_ERROR;
    }
    json_array_foreach(groups, i, set) {
        if (!json_is_array(set)) {
            snprintf(err, errlen, "replica_groups[%zu]: expected an array of addresses", i);
            return CORDIS_ERROR;
        }
        json_array_foreach(set, j, addr) {
            struct sockaddr_storage ss;
            socklen_t sslen;
            const char *text = json_string_value(addr);

            if (text == NULL || strlen(text) >= CORDIS_ADDR_LEN
                || util_parse_addr(text, &ss, &sslen) != CORDIS_OK) {
                snprintf(err, errlen, "replica_groups[%zu][%zu]: not an address such as "
                         "\"127.0.0.1:6379\"", i, j);
                return CORDIS_ERROR;
            }
            if (n < CORDIS_MAX_REPLICAS && (g == NULL || strcmp(text, g->primary) != 0)) {
                snprintf(list[n++], CORDIS_ADDR_LEN, "%s", text);
            }
        }
    }
    if (g != NULL) {
        memcpy(g->replicas, list, sizeof(list[0]) * (size_t)n);
        g->nreplicas = (uint8_t)n;
    }
    return CORDIS_OK;
}

/* Applies one slot object of fillslots to route; CORDIS_ERROR with err.
 * codis: the object came through Codis's route (replica_groups apply). */
static int
admin_fill_one(struct shm_route *route, json_t *item, bool codis, char *err, size_t errlen)
{
    json_t *id = json_object_get(item, "id"), *group = json_object_get(item, "group");
    json_t *addr = json_object_get(item, "backend_addr");
    json_t *from = json_object_get(item, "migrate_from");
    json_t *from_group = json_object_get(item, "migrate_from_group");
    json_t *method = json_object_get(item, "forward_method");
    json_t *locked = json_object_get(item, "locked");
    struct shm_slot *slot;
    int gid = 0, fid = 0;

    if (!json_is_object(item)) {
        snprintf(err, errlen, "not an object");
        return CORDIS_ERROR;
    }
    if (!json_is_integer(id) || json_integer_value(id) < 0
        || json_integer_value(id) >= CORDIS_SLOTS) {
        snprintf(err, errlen, "id: expected a slot number 0..%d", CORDIS_SLOTS - 1);
        return CORDIS_ERROR;
    }
    if (group != NULL) {
        if (!json_is_integer(group) || json_integer_value(group) < 0
            || json_integer_value(group) > 65535) {
            snprintf(err, errlen, "group: expected a group id");
            return CORDIS_ERROR;
        }
        gid = (int)json_integer_value(group);
        if (gid != 0 && shm_route_group(route, gid) == NULL) {
            snprintf(err, errlen, "group: no group with id %d", gid);
            return CORDIS_ERROR;
        }
    } else if (addr != NULL) {
        if (!json_is_string(addr)) {
            snprintf(err, errlen, "backend_addr: expected a string");
            return CORDIS_ERROR;
        }
        gid = admin_group_for_addr(route, json_string_value(addr),
                                   admin_codis_gid(item, "backend_addr_group_id"), err, errlen);
        if (gid < 0) {
            return CORDIS_ERROR;
        }
    } else {
        snprintf(err, errlen, "needs \"group\" or \"backend_addr\"");
        return CORDIS_ERROR;
    }
    if (from_group != NULL && !json_is_null(from_group)) {
        if (!json_is_integer(from_group) || json_integer_value(from_group) < 0
            || json_integer_value(from_group) > 65535) {
            snprintf(err, errlen, "migrate_from_group: expected a group id");
            return CORDIS_ERROR;
        }
        fid = (int)json_integer_value(from_group);
        if (fid != 0 && shm_route_group(route, fid) == NULL) {
            snprintf(err, errlen, "migrate_from_group: no group with id %d", fid);
            return CORDIS_ERROR;
        }
    } else if (from != NULL && !json_is_null(from)) {
        if (!json_is_string(from)) {
            snprintf(err, errlen, "migrate_from: expected a string");
            return CORDIS_ERROR;
        }
        if (json_string_value(from)[0] != '\0') {
            fid = admin_group_for_addr(route, json_string_value(from),
                                       admin_codis_gid(item, "migrate_from_group_id"),
                                       err, errlen);
            if (fid < 0) {
                return CORDIS_ERROR;
            }
        }
    }
    if (method != NULL && (!json_is_integer(method) || json_integer_value(method) < 0
                           || json_integer_value(method)
                              > (codis ? MIGRATE_METHOD_SEMI_ASYNC : MIGRATE_METHOD_VANILLA))) {
        snprintf(err, errlen, codis ? "forward_method: expected 0 (sync) or 1 (semi-async)"
                                    : "forward_method: expected 0 (sync), 1 (semi-async) or 2 "
                                      "(MIGRATE, stock Redis)");
        return CORDIS_ERROR;
    }
    if (locked != NULL && !json_is_boolean(locked)) {
        snprintf(err, errlen, "locked: expected true or false");
        return CORDIS_ERROR;
    }
    slot = &route->slots[json_integer_value(id)];
    slot->group = (uint16_t)gid;
    slot->migrate_from = (uint16_t)(fid != gid ? fid : 0);
    slot->method = (uint8_t)(method != NULL ? json_integer_value(method) : MIGRATE_METHOD_SYNC);
    slot->locked = locked != NULL && json_is_true(locked);
    if (codis && gid != 0 && slot->migrate_from == 0 && !slot->locked) {
        return admin_fill_replicas(route, gid, json_object_get(item, "replica_groups"),
                                   err, errlen);
    }
    return CORDIS_OK;
}

static void admin_run(struct admin *a);

static void
admin_barrier_cb(struct ev_loop *loop, ev_timer *timer, int revents)
{
    struct admin *a = (struct admin *)((char *)timer - offsetof(struct admin, barrier));
    struct admin_request **pp = &a->waiting, *r;
    int64_t now = util_now_usec();

    while ((r = *pp) != NULL) {
        if (master_route_acked(a->m, r->route_gen) || now > r->deadline) {
            r->outcome = master_route_acked(a->m, r->route_gen) ? 1 : -1;
            *pp = r->next;
            MHD_resume_connection(r->conn);
            continue;
        }
        pp = &r->next;
    }
    if (a->waiting == NULL) {
        ev_timer_stop(loop, timer);
    }
    admin_run(a);
}

/*
 * A route change answers once every worker has the replies of what it
 * sent before (Codis's dashboard relies on it during a migration): at once
 * when they already do, else the connection is suspended until they have,
 * bounded by backend.recv_timeout.
 */
static enum MHD_Result
admin_after_route(struct admin *a, struct MHD_Connection *conn, struct admin_request *req)
{
    uint64_t gen = shm_route_gen(a->m->shm);

    if (req->outcome == 0 && !master_route_acked(a->m, gen)) {
        req->conn = conn;
        req->route_gen = gen;
        req->deadline = util_now_usec() + (a->m->conf->backend.recv_timeout + 1000) * 1000;
        req->next = a->waiting;
        a->waiting = req;
        MHD_suspend_connection(conn);
        if (!ev_is_active(&a->barrier)) {
            ev_timer_again(a->m->loop, &a->barrier);
        }
        return MHD_YES;
    }
    if (req->outcome < 0) {
        if (req->codis) {
            return codis_api_error(conn, "slots filled (route generation %llu), but the "
                                   "requests sent before were not all answered within "
                                   "backend.recv_timeout", (unsigned long long)req->route_gen);
        }
        return admin_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                           "route generation %llu published, but the workers' requests sent "
                           "before it were not all answered within backend.recv_timeout",
                           (unsigned long long)req->route_gen);
    }
    if (req->codis) {
        return admin_json(conn, MHD_HTTP_OK, json_string("OK"));
    }
    return admin_json(conn, MHD_HTTP_OK, json_pack(
        "{s:b, s:I}", "ok", 1, "route_generation", (json_int_t)gen));
}

enum MHD_Result
admin_fillslots(struct admin *a, struct MHD_Connection *conn, struct admin_request *req,
                json_t *list, bool codis)
{
    struct shm_route *route;
    json_t *item;
    char err[256];
    size_t i;

    req->codis = codis;
    route = malloc(sizeof(*route));
    if (route == NULL) {
        return codis ? codis_api_error(conn, "out of memory")
                     : admin_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    /* Validate the whole array against a copy; publish only if all is well. */
    shm_route_copy(a->m->shm, route);
    json_array_foreach(list, i, item) {
        json_t *id = json_object_get(item, "id");

        if (json_is_integer(id) && reshard_controls(a->m, (unsigned)json_integer_value(id))) {
            free(route);
            return codis ? codis_api_error(conn, "slot %lld is being moved by cordis's migration",
                                           (long long)json_integer_value(id))
                         : admin_error(conn, MHD_HTTP_CONFLICT, "slots[%zu]: slot %lld is being "
                                       "moved by a migration (GET /api/proxy/migrate)", i,
                                       (long long)json_integer_value(id));
        }
        if (admin_fill_one(route, item, codis, err, sizeof(err)) != CORDIS_OK) {
            free(route);
            return codis ? codis_api_error(conn, "slots[%zu].%s", i, err)
                         : admin_error(conn, MHD_HTTP_BAD_REQUEST, "slots[%zu].%s", i, err);
        }
    }
    master_publish_route(a->m, route);
    log_info("admin: fillslots changed %zu slots, route generation %llu",
             json_array_size(list), (unsigned long long)shm_route_gen(a->m->shm));
    free(route);
    return admin_after_route(a, conn, req);
}

static enum MHD_Result
admin_put_fillslots(struct admin *a, struct MHD_Connection *conn,
                    struct admin_request *req)
{
    json_error_t jerr;
    json_t *list;
    enum MHD_Result rc;

    list = json_loadb(req->body != NULL ? req->body : "", req->len, 0, &jerr);
    if (list == NULL) {
        return admin_error(conn, MHD_HTTP_BAD_REQUEST, "bad JSON at line %d column %d: %s",
                           jerr.line, jerr.column, jerr.text);
    }
    if (!json_is_array(list)) {
        json_decref(list);
        return admin_error(conn, MHD_HTTP_BAD_REQUEST, "expected a JSON array of slots");
    }
    rc = admin_fillslots(a, conn, req, list, false);
    json_decref(list);
    return rc;
}

static void
admin_shutdown_cb(struct ev_loop *loop, ev_timer *timer, int revents)
{
    struct admin *a = (struct admin *)((char *)timer - offsetof(struct admin, shutdown));

    master_quit(a->m);
}

/* PUT is for operators: a token, or a loopback client when there is none;
 * never a browser page from another origin. */
static enum MHD_Result
admin_authorize(struct admin *a, struct MHD_Connection *conn, bool *ok)
{
    const char *token = a->m->conf->admin.token;
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                   MHD_HTTP_HEADER_AUTHORIZATION);
    const union MHD_ConnectionInfo *info;

    *ok = false;
    if (origin != NULL) {
        return admin_error(conn, MHD_HTTP_FORBIDDEN, "cross-origin requests are refused");
    }
    if (token[0] != '\0') {
        if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0
            || !util_secret_equal(auth + 7, strlen(auth + 7), token, strlen(token))) {
            return admin_error(conn, MHD_HTTP_UNAUTHORIZED, "a valid admin token is required");
        }
        *ok = true;
        return MHD_YES;
    }
    info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (info == NULL || info->client_addr == NULL || !util_addr_is_loopback(info->client_addr)) {
        return admin_error(conn, MHD_HTTP_UNAUTHORIZED,
                           "no admin token is set: changes are accepted from loopback only");
    }
    *ok = true;
    return MHD_YES;
}

/* PUT /api/proxy/primary {"group": 1, "primary": "host:port"}: an
 * operator's choice of a group's primary (as a failover would), which
 * Sentinel leaves alone; "primary": "" lifts it (the file's primary, then
 * whatever the sentinels say). */
static enum MHD_Result
admin_put_primary(struct admin *a, struct MHD_Connection *conn, struct admin_request *req)
{
    json_error_t jerr;
    json_t *body = json_loadb(req->body != NULL ? req->body : "", req->len, 0, &jerr);
    json_t *gid = json_object_get(body, "group");
    const char *addr = json_string_value(json_object_get(body, "primary"));
    char err[200];
    int rc;

    if (!json_is_integer(gid) || addr == NULL || json_integer_value(gid) < 1
        || json_integer_value(gid) > 65535) {
        json_decref(body);
        return admin_error(conn, MHD_HTTP_BAD_REQUEST, "expected {\"group\": <id>, "
                           "\"primary\": \"host:port\"}");
    }
    rc = addr[0] == '\0'
         ? ha_release(a->m, (unsigned)json_integer_value(gid), err, sizeof(err))
         : ha_set_primary(a->m, (unsigned)json_integer_value(gid), addr, HA_SOURCE_ADMIN, -1,
                          err, sizeof(err));
    json_decref(body);
    if (rc != CORDIS_OK) {
        return admin_error(conn, MHD_HTTP_BAD_REQUEST, "%s", err);
    }
    return admin_json(conn, MHD_HTTP_OK, json_pack("{s:b}", "ok", 1));
}

/* PUT /api/proxy/migrate {"slots": "0-511", "to": 3}: cordis moves the
 * slots to group 3 on stock Redis (reshard.h). */
static enum MHD_Result
admin_put_migrate(struct admin *a, struct MHD_Connection *conn, struct admin_request *req)
{
    json_error_t jerr;
    json_t *body = json_loadb(req->body != NULL ? req->body : "", req->len, 0, &jerr);
    json_t *to = json_object_get(body, "to");
    const char *slots = json_string_value(json_object_get(body, "slots"));
    char err[256];
    bool conflict;
    int rc;

    if (!json_is_integer(to) || slots == NULL || json_integer_value(to) < 1
        || json_integer_value(to) > 65535) {
        json_decref(body);
        return admin_error(conn, MHD_HTTP_BAD_REQUEST,
                           "expected {\"slots\": \"0-511\", \"to\": <group id>}");
    }
    rc = reshard_start(a->m, slots, (unsigned)json_integer_value(to), &conflict, err,
                       sizeof(err));
    json_decref(body);
    if (rc != CORDIS_OK) {
        return admin_error(conn, conflict ? MHD_HTTP_CONFLICT : MHD_HTTP_BAD_REQUEST, "%s", err);
    }
    return admin_json(conn, MHD_HTTP_OK, json_pack("{s:b, s:o}", "ok", 1, "migration",
                                                   reshard_json(a->m)));
}

static enum MHD_Result
admin_put(struct admin *a, struct MHD_Connection *conn, const char *url,
          struct admin_request *req)
{
    struct master *m = a->m;
    enum MHD_Result rc;
    bool ok;
    int level;

    rc = admin_authorize(a, conn, &ok);
    if (!ok) {
        return rc;
    }
    if (req->too_big) {
        return admin_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body over %d bytes",
                           ADMIN_BODY_MAX);
    }
    if (strcmp(url, "/api/proxy/fillslots") == 0) {
        return admin_put_fillslots(a, conn, req);
    }
    if (strcmp(url, "/api/proxy/primary") == 0) {
        return admin_put_primary(a, conn, req);
    }
    if (strcmp(url, "/api/proxy/migrate") == 0) {
        return admin_put_migrate(a, conn, req);
    }
    if (strcmp(url, "/api/proxy/migrate/cancel") == 0) {
        char err[200];

        if (reshard_cancel(m, err, sizeof(err)) != CORDIS_OK) {
            return admin_error(conn, MHD_HTTP_CONFLICT, "%s", err);
        }
        return admin_json(conn, MHD_HTTP_OK, json_pack("{s:b, s:o}", "ok", 1, "migration",
                                                       reshard_json(m)));
    }
    if (strcmp(url, "/api/proxy/stats/reset") == 0) {
        admin_stats_reset(a);
        return admin_json(conn, MHD_HTTP_OK, json_pack("{s:b}", "ok", 1));
    }
    if (strncmp(url, "/api/proxy/loglevel/", 20) == 0) {
        level = log_level_parse(url + 20);
        if (level < 0) {
            return admin_error(conn, MHD_HTTP_BAD_REQUEST,
                               "unknown log level \"%.32s\" (error, warn, info, debug)", url + 20);
        }
        admin_set_log_level(a, level);
        return admin_json(conn, MHD_HTTP_OK, json_pack("{s:b, s:s}", "ok", 1, "level",
                                                       log_level_name((enum log_level)level)));
    }
    if (strcmp(url, "/api/proxy/reload") == 0) {
        if (m->state != MASTER_RUNNING) {
            return admin_error(conn, MHD_HTTP_CONFLICT, "cordis is stopping");
        }
        if (master_reload(m) != CORDIS_OK) {
            return admin_json(conn, MHD_HTTP_BAD_REQUEST, json_pack(
                "{s:s, s:s}", "error", m->last_reload, "result", m->last_reload));
        }
        return admin_json(conn, MHD_HTTP_OK, json_pack("{s:b, s:s}", "ok", 1, "result",
                                                       m->last_reload));
    }
    if (strcmp(url, "/api/proxy/shutdown") == 0) {
        admin_shutdown_soon(a);
        return admin_json(conn, MHD_HTTP_OK, json_pack("{s:b}", "ok", 1));
    }
    return admin_error(conn, MHD_HTTP_NOT_FOUND, "no such route: PUT %.128s", url);
}

static enum MHD_Result
admin_get(struct admin *a, struct MHD_Connection *conn, const char *url)
{
    if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0) {
        char *page = strdup(cordis_dashboard_html);

        if (page == NULL) {
            return MHD_NO;
        }
        return admin_send(conn, MHD_HTTP_OK, "text/html; charset=utf-8", page, strlen(page));
    }
    if (strcmp(url, "/api/proxy/model") == 0) {
        return admin_get_model(a, conn);
    }
    if (strcmp(url, "/api/proxy/stats") == 0) {
        return admin_get_stats(a, conn);
    }
    if (strcmp(url, "/api/proxy/slots") == 0) {
        return admin_get_slots(a, conn);
    }
    if (strcmp(url, "/api/proxy/migrate") == 0) {
        return admin_json(conn, MHD_HTTP_OK, reshard_json(a->m));
    }
    if (strcmp(url, "/metrics") == 0) {
        return admin_get_metrics(a, conn);
    }
    return admin_error(conn, MHD_HTTP_NOT_FOUND, "no such route: GET %.128s", url);
}

static enum MHD_Result
admin_handler(void *cls, struct MHD_Connection *conn, const char *url,
              const char *method, const char *version, const char *upload_data,
              size_t *upload_data_size, void **con_cls)
{
    struct admin *a = cls;
    struct admin_request *req = *con_cls;
    enum MHD_Result rc;

    if (req == NULL) {
        /* First call: headers only. Keep state for the body. */
        req = calloc(1, sizeof(*req));
        if (req == NULL) {
            return MHD_NO;
        }
        *con_cls = req;
        return MHD_YES;
    }
    if (req->outcome != 0) {
        return admin_after_route(a, conn, req);   /* resumed: the barrier held, or not */
    }
    if (*upload_data_size > 0) {
        if (!req->too_big && req->len + *upload_data_size <= ADMIN_BODY_MAX) {
            char *grown = realloc(req->body, req->len + *upload_data_size + 1);

            if (grown == NULL) {
                return MHD_NO;
            }
            req->body = grown;
            memcpy(req->body + req->len, upload_data, *upload_data_size);
            req->len += *upload_data_size;
            req->body[req->len] = '\0';
        } else {
            req->too_big = true;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    /* Codis's routes (codis_api.h), beside ours. */
    if (codis_api_route(a, conn, method, url, req, req->body, req->len, req->too_big, &rc)) {
        return rc;
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0) {
        return admin_get(a, conn, url);
    }
    if (strcmp(method, MHD_HTTP_METHOD_PUT) == 0 || strcmp(method, MHD_HTTP_METHOD_POST) == 0) {
        return admin_put(a, conn, url, req);
    }
    return admin_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method %.16s not allowed", method);
}

static void
admin_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                enum MHD_RequestTerminationCode toe)
{
    struct admin_request *req = *con_cls;

    if (req != NULL) {
        free(req->body);
        free(req);
        *con_cls = NULL;
    }
}

/* --- the loop glue ------------------------------------------------------------ */

static void
admin_run(struct admin *a)
{
    MHD_UNSIGNED_LONG_LONG timeout;

    MHD_run(a->daemon);
    ev_timer_stop(a->m->loop, &a->timer);
    if (MHD_get_timeout(a->daemon, &timeout) == MHD_YES) {
        ev_timer_set(&a->timer, (double)timeout / 1000.0, 0.0);
        ev_timer_start(a->m->loop, &a->timer);
    }
}

static void
admin_io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    admin_run((struct admin *)io);
}

static void
admin_timer_cb(struct ev_loop *loop, ev_timer *timer, int revents)
{
    admin_run((struct admin *)((char *)timer - offsetof(struct admin, timer)));
}

int
admin_fds(const struct admin *a, int *fds, int max)
{
    int n = 0;

    if (a == NULL) {
        return 0;
    }
    if (n < max) {
        fds[n++] = a->listen_fd;
    }
    if (n < max) {
        fds[n++] = a->epoll_fd;
    }
    return n;
}

/* True when fd is a socket bound to addr ("host:port"). */
static bool
admin_bound_to(int fd, const char *addr)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char text[CORDIS_ADDR_LEN];

    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        return false;
    }
    util_addr_text((struct sockaddr *)&ss, text, sizeof(text));
    return strcmp(text, addr) == 0
        || (strncmp(addr, "localhost:", 10) == 0 && strncmp(text, "127.0.0.1:", 10) == 0
            && strcmp(text + 10, addr + 10) == 0);
}

struct admin *
admin_start(struct master *m, int inherited_fd)
{
    struct admin *a = calloc(1, sizeof(*a));
    const union MHD_DaemonInfo *info;
    char err[256];

    if (a == NULL) {
        return NULL;
    }
    a->m = m;
    a->listen_fd = -1;
    a->base = calloc(1, sizeof(*a->base));
    a->scratch = calloc(1, sizeof(*a->scratch));
    if (a->base == NULL || a->scratch == NULL) {
        goto failed;
    }
    if (inherited_fd >= 0 && admin_bound_to(inherited_fd, m->conf->admin.listen)) {
        a->listen_fd = inherited_fd;
    } else {
        if (inherited_fd >= 0) {
            close(inherited_fd);
        }
        a->listen_fd = listen_open(m->conf->admin.listen, 0, err, sizeof(err));
    }
    if (a->listen_fd < 0) {
        log_error("admin server: %s", err);
        goto failed;
    }
    a->daemon = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL,
        admin_handler, a,
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket)a->listen_fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)ADMIN_CONN_LIMIT,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)ADMIN_PER_IP_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)ADMIN_CONN_TIMEOUT,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
        MHD_OPTION_NOTIFY_COMPLETED, admin_completed, a,
        MHD_OPTION_END);
    if (a->daemon == NULL) {
        log_error("admin server: MHD_start_daemon() on %s failed", m->conf->admin.listen);
        goto failed;
    }
    info = MHD_get_daemon_info(a->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    if (info == NULL) {
        log_error("admin server: libmicrohttpd has no epoll support");
        goto failed;
    }
    a->epoll_fd = info->epoll_fd;
    ev_io_init(&a->io, admin_io_cb, a->epoll_fd, EV_READ);
    ev_io_start(m->loop, &a->io);
    ev_init(&a->timer, admin_timer_cb);
    ev_init(&a->shutdown, admin_shutdown_cb);
    ev_timer_init(&a->tick, admin_tick_cb, 0.0, 1.0);
    ev_init(&a->barrier, admin_barrier_cb);
    a->barrier.repeat = ADMIN_BARRIER_SEC;
    ev_timer_start(m->loop, &a->tick);
    admin_run(a);
    log_info("admin server listening on %s", m->conf->admin.listen);
    return a;

failed:
    if (a->daemon != NULL) {
        MHD_stop_daemon(a->daemon);
    }
    if (a->listen_fd >= 0) {
        close(a->listen_fd);
    }
    free(a->base);
    free(a->scratch);
    free(a);
    return NULL;
}

void
admin_stop(struct admin *a)
{
    if (a == NULL) {
        return;
    }
    ev_io_stop(a->m->loop, &a->io);
    ev_timer_stop(a->m->loop, &a->timer);
    ev_timer_stop(a->m->loop, &a->tick);
    ev_timer_stop(a->m->loop, &a->shutdown);
    ev_timer_stop(a->m->loop, &a->barrier);
    for (struct admin_request *r = a->waiting; r != NULL; r = r->next) {
        MHD_resume_connection(r->conn);   /* MHD stops only with none suspended */
    }
    a->waiting = NULL;
    /* MHD closes the listening socket it was given. */
    MHD_stop_daemon(a->daemon);
    free(a->base);
    free(a->scratch);
    free(a);
}
