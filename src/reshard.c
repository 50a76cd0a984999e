/*
 * Resharding on stock Redis: the steps, the bulk mover thread, the state
 * file. See reshard.h.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "conf.h"
#include "cordis.h"
#include "log.h"
#include "master.h"
#include "migrate.h"
#include "rclient.h"
#include "reply.h"
#include "reshard.h"
#include "resp.h"
#include "router.h"
#include "shm.h"
#include "util.h"

/* Keys asked of SCAN per call. */
#define RESHARD_SCAN_COUNT   "512"
/* Pause after a backend could not be reached. */
#define RESHARD_PAUSE_SEC    1
/* MIGRATE's answer is waited for twice its timeout plus this. */
#define RESHARD_MIGRATE_GRACE_MS 5000
/* The barrier is looked at this often while a step starts. */
#define RESHARD_BARRIER_SEC  0.002

enum reshard_slot_state {
    RESHARD_NONE = 0,     /* not part of the migration */
    RESHARD_PENDING,      /* still the old group's */
    RESHARD_MOVING,       /* the step in flight: migrate_from set */
    RESHARD_DONE,         /* the new group's */
};

/* What the mover asks of the master's loop. */
enum reshard_ask {
    RESHARD_ASK_NONE = 0,
    RESHARD_ASK_BEGIN,    /* the MOVING slots get migrate_from; wait for the barrier */
    RESHARD_ASK_END,      /* the DONE slots are the new group's alone */
};

struct reshard {
    struct master   *m;
    pthread_mutex_t  lock;          /* guards everything below but m and the watchers */
    pthread_cond_t   cond;          /* the master answered, or stop */
    pthread_t        thread;
    bool             thread_running;
    ev_async         ask_async;     /* the mover wants a route change */
    ev_timer         barrier;       /* polls the workers' acknowledgements */
    uint64_t         barrier_gen;

    /* the migration (active or finished) */
    bool             active;
    bool             cancelled;
    bool             stop;          /* the mover ends between two calls */
    uint16_t         from, to;
    uint8_t          slot[CORDIS_SLOTS];   /* enum reshard_slot_state */
    int64_t          started, finished;    /* unix time */
    char             requested[64];        /* the slots as asked */

    /* settings the mover uses: copied when it starts and at each reload
     * (auth and state_file only at start; timeout, rate and batch under lock) */
    char            *auth;
    char            *state_file;
    int64_t          timeout;
    int              rate, batch;

    /* progress */
    uint64_t         keys, bytes, errors, passes;
    char             status[320];
    char             last_error[256];
    double           rate_now;             /* keys/s over the last step */

    int              busy_fd;              /* the mover's connection to the old group while
                                              it walks it (-1 = none): a stop shuts it
                                              down so that a long MIGRATE does not hold
                                              the master up */

    /* the request to the master */
    enum reshard_ask ask;
    bool             ask_pending;

    /* moves that finished: slot s is group moved_to[s]'s while the file
     * still gives it to moved_file[s] (0 = no such move) */
    uint16_t         moved_to[CORDIS_SLOTS];
    uint16_t         moved_file[CORDIS_SLOTS];
    uint16_t         file_owner[CORDIS_SLOTS];  /* the file's group of each slot of the
                                                  running migration, when it started */
};

static struct reshard *
reshard_get(struct master *m)
{
    if (m->reshard == NULL) {
        struct reshard *r = calloc(1, sizeof(*r));

        if (r == NULL) {
            return NULL;
        }
        r->m = m;
        r->busy_fd = -1;
        pthread_mutex_init(&r->lock, NULL);
        pthread_cond_init(&r->cond, NULL);
        snprintf(r->status, sizeof(r->status), "idle");
        m->reshard = r;
    }
    return m->reshard;
}

static void
reshard_set_status(struct reshard *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
reshard_set_status(struct reshard *r, const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&r->lock);
    va_start(ap, fmt);
    vsnprintf(r->status, sizeof(r->status), fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&r->lock);
}

/* --- slot lists ------------------------------------------------------------------ */

/* "0-63,100" from the slots whose state is `want` (or any state but NONE). */
static void
reshard_slots_text(const uint8_t *slot, int want, char *out, size_t size)
{
    size_t at = 0;

    out[0] = '\0';
    for (int s = 0; s < CORDIS_SLOTS && at + 12 < size; s++) {
        int e;

        if (want >= 0 ? slot[s] != want : slot[s] == RESHARD_NONE) {
            continue;
        }
        for (e = s; e + 1 < CORDIS_SLOTS && (want >= 0 ? slot[e + 1] == want
                                                       : slot[e + 1] != RESHARD_NONE); e++) {
        }
        at += (size_t)snprintf(out + at, size - at, e > s ? "%s%d-%d" : "%s%d", at ? "," : "",
                               s, e);
        s = e;
    }
}

/* Marks the slots of "0-511,600" with `value`; false on a bad list. */
static bool
reshard_slots_parse(const char *text, uint8_t *slot, uint8_t value)
{
    const char *p = text;
    bool any = false;

    while (*p != '\0') {
        char *end;
        long a, b;

        while (*p == ' ' || *p == ',') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        errno = 0;
        a = strtol(p, &end, 10);
        if (end == p || errno != 0) {
            return false;
        }
        b = a;
        p = end;
        if (*p == '-') {
            p++;
            b = strtol(p, &end, 10);
            if (end == p || errno != 0) {
                return false;
            }
            p = end;
        }
        if (a < 0 || b >= CORDIS_SLOTS || a > b || (*p != '\0' && *p != ',' && *p != ' ')) {
            return false;
        }
        for (long s = a; s <= b; s++) {
            slot[s] = value;
        }
        any = true;
    }
    return any;
}

/* --- the state file ---------------------------------------------------------------- */

/* The finished moves as [{"slots", "to", "file_group"}], one entry per
 * (to, file_group) pair (lock held). */
static json_t *
reshard_moved_json(const struct reshard *r)
{
    json_t *list = json_array();
    uint8_t seen[CORDIS_SLOTS] = { 0 };

    for (int s = 0; s < CORDIS_SLOTS; s++) {
        uint8_t part[CORDIS_SLOTS] = { 0 };
        char text[4096];

        if (r->moved_to[s] == 0 || seen[s]) {
            continue;
        }
        for (int t = s; t < CORDIS_SLOTS; t++) {
            if (r->moved_to[t] == r->moved_to[s] && r->moved_file[t] == r->moved_file[s]) {
                part[t] = seen[t] = 1;
            }
        }
        reshard_slots_text(part, 1, text, sizeof(text));
        json_array_append_new(list, json_pack("{s:s, s:i, s:i}", "slots", text, "to",
                                              r->moved_to[s], "file_group", r->moved_file[s]));
    }
    return list;
}

/* Writes the state (lock held), atomically: a temporary file, then rename. */
static void
reshard_save(struct reshard *r)
{
    char tmp[4096], pending[4096], moving[4096], done[4096];
    json_t *o, *moved;
    FILE *f;

    if (r->state_file == NULL || r->state_file[0] == '\0') {
        return;
    }
    moved = reshard_moved_json(r);
    reshard_slots_text(r->slot, RESHARD_PENDING, pending, sizeof(pending));
    reshard_slots_text(r->slot, RESHARD_MOVING, moving, sizeof(moving));
    reshard_slots_text(r->slot, RESHARD_DONE, done, sizeof(done));
    o = json_pack("{s:i, s:o}", "version", 1, "moved", moved);
    if (r->active) {
        json_object_set_new(o, "migration", json_pack(
            "{s:i, s:i, s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:I}", "from", r->from,
            "to", r->to, "slots", r->requested, "pending", pending, "moving", moving,
            "done", done, "cancelled", r->cancelled, "started_unix", (json_int_t)r->started,
            "keys", (json_int_t)r->keys, "bytes", (json_int_t)r->bytes,
            "errors", (json_int_t)r->errors));
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp", r->state_file);
    f = fopen(tmp, "w");
    if (f == NULL || json_dumpf(o, f, JSON_INDENT(2) | JSON_SORT_KEYS) != 0 || fflush(f) != 0
        || fsync(fileno(f)) != 0) {
        log_error("migration: cannot write %s: %s", tmp, strerror(errno));
        if (f != NULL) {
            fclose(f);
        }
        json_decref(o);
        return;
    }
    fclose(f);
    json_decref(o);
    if (rename(tmp, r->state_file) != 0) {
        log_error("migration: cannot rename %s to %s: %s", tmp, r->state_file, strerror(errno));
    }
}

void
reshard_load(struct master *m)
{
    const char *path = m->conf->migrate.state_file;
    json_error_t jerr;
    json_t *o, *mig, *moved, *v;
    struct reshard *r;
    size_t i;

    if (path[0] == '\0' || access(path, F_OK) != 0) {
        return;
    }
    o = json_load_file(path, 0, &jerr);
    if (o == NULL) {
        log_error("migration: %s:%d: %s; the state is not used", path, jerr.line, jerr.text);
        return;
    }
    r = reshard_get(m);
    if (r == NULL) {
        json_decref(o);
        return;
    }
    pthread_mutex_lock(&r->lock);
    moved = json_object_get(o, "moved");
    json_array_foreach(moved, i, v) {
        uint8_t part[CORDIS_SLOTS] = { 0 };
        json_int_t to = json_integer_value(json_object_get(v, "to"));
        json_int_t file = json_integer_value(json_object_get(v, "file_group"));

        if (to <= 0 || to > 65535 || file < 0 || file > 65535
            || !reshard_slots_parse(json_string_value(json_object_get(v, "slots")) ?: "", part,
                                    1)) {
            continue;
        }
        for (int s = 0; s < CORDIS_SLOTS; s++) {
            if (part[s]) {
                r->moved_to[s] = (uint16_t)to;
                r->moved_file[s] = (uint16_t)file;
            }
        }
    }
    mig = json_object_get(o, "migration");
    if (json_is_object(mig)) {
        const char *req = json_string_value(json_object_get(mig, "slots"));

        r->from = (uint16_t)json_integer_value(json_object_get(mig, "from"));
        r->to = (uint16_t)json_integer_value(json_object_get(mig, "to"));
        snprintf(r->requested, sizeof(r->requested), "%s", req != NULL ? req : "");
        memset(r->slot, 0, sizeof(r->slot));
        reshard_slots_parse(json_string_value(json_object_get(mig, "pending")) ?: "", r->slot,
                            RESHARD_PENDING);
        reshard_slots_parse(json_string_value(json_object_get(mig, "moving")) ?: "", r->slot,
                            RESHARD_MOVING);
        reshard_slots_parse(json_string_value(json_object_get(mig, "done")) ?: "", r->slot,
                            RESHARD_DONE);
        r->cancelled = json_is_true(json_object_get(mig, "cancelled"));
        r->started = json_integer_value(json_object_get(mig, "started_unix"));
        r->keys = (uint64_t)json_integer_value(json_object_get(mig, "keys"));
        r->bytes = (uint64_t)json_integer_value(json_object_get(mig, "bytes"));
        r->errors = (uint64_t)json_integer_value(json_object_get(mig, "errors"));
        r->active = r->from != 0 && r->to != 0;
        for (int s = 0; s < CORDIS_SLOTS; s++) {
            r->file_owner[s] = m->conf->slot_group[s];
        }
        if (r->active) {
            snprintf(r->status, sizeof(r->status), "resuming");
            log_info("migration: slots %s from group %u to group %u resume from %s",
                     r->requested, (unsigned)r->from, (unsigned)r->to, path);
        }
    }
    pthread_mutex_unlock(&r->lock);
    json_decref(o);
}

/* --- the route ----------------------------------------------------------------------- */

/* The migration's view of the slots on a route (lock held). */
static void
reshard_overlay(const struct reshard *r, struct shm_route *route)
{
    for (int s = 0; r->active && s < CORDIS_SLOTS; s++) {
        struct shm_slot *e = &route->slots[s];

        if (r->slot[s] == RESHARD_MOVING) {
            e->group = r->to;
            e->migrate_from = r->from;
            e->method = MIGRATE_METHOD_VANILLA;
            e->locked = 0;
        } else if (r->slot[s] == RESHARD_DONE) {
            e->group = r->to;
            e->migrate_from = 0;
            e->method = 0;
        }
    }
}

/* migrate.timeout, rate and batch from the config (lock held, or no mover). */
static void
reshard_take_knobs(struct reshard *r, const struct conf *conf)
{
    r->timeout = conf->migrate.timeout;
    r->rate = conf->migrate.rate;
    r->batch = conf->migrate.batch;
}

void
reshard_adjust_route(struct master *m, const struct conf *conf, struct shm_route *route)
{
    struct reshard *r = m->reshard;

    if (r == NULL) {
        return;
    }
    uint8_t kept[CORDIS_SLOTS] = { 0 };
    int nkept = 0, nother = 0;

    pthread_mutex_lock(&r->lock);
    for (int s = 0; s < CORDIS_SLOTS; s++) {
        if (r->moved_to[s] == 0) {
            continue;
        }
        if (conf->slot_group[s] == r->moved_file[s] && r->moved_to[s] != r->moved_file[s]) {
            route->slots[s].group = r->moved_to[s];   /* the file is behind: the move holds */
            kept[s] = 1;
            nkept++;
            continue;
        }
        /* The file names the new owner now (or another group: it is followed). */
        nother += conf->slot_group[s] != r->moved_to[s];
        r->moved_to[s] = r->moved_file[s] = 0;
    }
    if (nother > 0) {
        log_warn("migration: the file gives %d moved slots to a group other than the one they "
                 "moved to; the file is followed", nother);
    }
    if (nkept > 0) {
        char text[4096];

        reshard_slots_text(kept, 1, text, sizeof(text));
        log_warn("migration: the file still gives slots %s to the groups they moved away from; "
                 "they stay where they moved (update the file's slots)", text);
    }
    reshard_take_knobs(r, conf);   /* a running mover uses them from its next call */
    reshard_overlay(r, route);
    reshard_save(r);
    pthread_mutex_unlock(&r->lock);
}

/* In the master's loop: a step's route change. */
static void
reshard_apply_ask(struct reshard *r)
{
    struct master *m = r->m;
    struct shm_route *route = malloc(sizeof(*route));
    enum reshard_ask ask;

    if (route == NULL) {
        return;   /* asked again at the next wake-up */
    }
    pthread_mutex_lock(&r->lock);
    ask = r->ask;
    shm_route_copy(m->shm, route);
    reshard_overlay(r, route);
    reshard_save(r);
    pthread_mutex_unlock(&r->lock);
    master_publish_route(m, route);
    free(route);
    if (ask == RESHARD_ASK_BEGIN) {
        r->barrier_gen = shm_route_gen(m->shm);
        ev_timer_again(m->loop, &r->barrier);
        return;
    }
    pthread_mutex_lock(&r->lock);
    r->ask_pending = false;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

static void
reshard_ask_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    struct master *m = ev_userdata(loop);
    struct reshard *r = m->reshard;
    bool pending;

    (void)w;
    (void)revents;
    if (r == NULL) {
        return;
    }
    pthread_mutex_lock(&r->lock);
    pending = r->ask_pending && !ev_is_active(&r->barrier);
    pthread_mutex_unlock(&r->lock);
    if (pending) {
        reshard_apply_ask(r);
    }
}

static void
reshard_barrier_cb(struct ev_loop *loop, ev_timer *timer, int revents)
{
    struct reshard *r = (struct reshard *)((char *)timer - offsetof(struct reshard, barrier));

    (void)revents;
    if (!master_route_acked(r->m, r->barrier_gen)) {
        return;
    }
    ev_timer_stop(loop, timer);
    pthread_mutex_lock(&r->lock);
    r->ask_pending = false;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

/* In the mover: has the master make a route change and waits for it;
 * false when told to stop meanwhile. */
static bool
reshard_ask_master(struct reshard *r, enum reshard_ask ask)
{
    bool ok;

    pthread_mutex_lock(&r->lock);
    r->ask = ask;
    r->ask_pending = true;
    pthread_mutex_unlock(&r->lock);
    ev_async_send(r->m->loop, &r->ask_async);
    pthread_mutex_lock(&r->lock);
    while (r->ask_pending && !r->stop) {
        pthread_cond_wait(&r->cond, &r->lock);
    }
    ok = !r->ask_pending;
    pthread_mutex_unlock(&r->lock);
    return ok;
}

/* --- the mover ------------------------------------------------------------------------ */

/* Sleeps up to ms (woken by stop); false when told to stop. */
static bool
reshard_sleep(struct reshard *r, int64_t ms)
{
    struct timespec until;
    bool go;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&r->lock);
    if (!r->stop) {
        pthread_cond_timedwait(&r->cond, &r->lock, &until);
    }
    go = !r->stop;
    pthread_mutex_unlock(&r->lock);
    return go;
}

/* The settings a reload may change, read once per call. */
struct reshard_knobs {
    int64_t timeout;   /* ms */
    int     rate;      /* keys/s */
    int     batch;     /* keys a MIGRATE */
};

static struct reshard_knobs
reshard_knobs(struct reshard *r)
{
    struct reshard_knobs k;

    pthread_mutex_lock(&r->lock);
    k.timeout = r->timeout;
    k.rate = r->rate;
    k.batch = r->batch;
    pthread_mutex_unlock(&r->lock);
    return k;
}

static bool
reshard_stopping(struct reshard *r)
{
    bool stop;

    pthread_mutex_lock(&r->lock);
    stop = r->stop;
    pthread_mutex_unlock(&r->lock);
    return stop;
}

/* The primaries of the two groups now (a failover may change them). */
static bool
reshard_addrs(struct reshard *r, char *from, char *to)
{
    struct shm_route *route = malloc(sizeof(*route));
    const struct shm_group *gf, *gt;
    bool ok;

    if (route == NULL) {
        return false;
    }
    shm_route_copy(r->m->shm, route);
    gf = shm_route_group(route, r->from);
    gt = shm_route_group(route, r->to);
    ok = gf != NULL && gt != NULL;
    if (ok) {
        memcpy(from, gf->primary, CORDIS_ADDR_LEN);
        memcpy(to, gt->primary, CORDIS_ADDR_LEN);
    }
    free(route);
    return ok;
}

/* One command on fd; its reply in *out (the caller frees). */
static int
reshard_cmd(int fd, struct rclient_reader *rd, int argc, const struct cstr *argv, char **out,
            size_t *len, char *err, size_t errlen)
{
    if (rclient_sendv(fd, argc, argv) != CORDIS_OK) {
        snprintf(err, errlen, "send: %s", strerror(errno));
        return CORDIS_ERROR;
    }
    return rclient_read(fd, rd, out, len, err, errlen);
}

/* The databases with keys on addr (INFO keyspace), as a bit per db. */
static int
reshard_dbs(struct reshard *r, const char *addr, bool *dbs, int ndb, char *err, size_t errlen)
{
    static const char *const info[] = { "INFO", "keyspace" };
    char *reply = NULL, why[200];
    size_t len;
    int n = 0;

    if (rclient_call(addr, r->auth, reshard_knobs(r).timeout, 2, info, &reply, &len, why,
                     sizeof(why)) != CORDIS_OK) {
        snprintf(err, errlen, "INFO keyspace on %s: %.160s", addr, why);
        return -1;
    }
    for (const char *p = reply; (p = strstr(p, "\ndb")) != NULL; p++) {
        int db = atoi(p + 3);

        if (db >= 0 && db < ndb) {
            dbs[db] = true;
            n++;
        }
    }
    free(reply);
    return n;
}

/* Sums MEMORY USAGE of keys (pipelined) into *total; CORDIS_ERROR when the
 * connection failed (its replies may be out of step: it must be closed). */
static int
reshard_bytes(int fd, struct rclient_reader *rd, const struct cstr *keys, int n,
              uint64_t *total, char *err, size_t errlen)
{
    for (int i = 0; i < n; i++) {
        struct cstr a[5] = { { "MEMORY", 6 }, { "USAGE", 5 }, keys[i], { "SAMPLES", 7 },
                             { "0", 1 } };

        if (rclient_sendv(fd, 5, a) != CORDIS_OK) {
            snprintf(err, errlen, "MEMORY USAGE: send: %s", strerror(errno));
            return CORDIS_ERROR;
        }
    }
    for (int i = 0; i < n; i++) {
        char *reply = NULL, why[160];
        size_t len;
        int64_t v;

        if (rclient_read(fd, rd, &reply, &len, why, sizeof(why)) != CORDIS_OK) {
            snprintf(err, errlen, "MEMORY USAGE: %.160s", why);
            return CORDIS_ERROR;
        }
        if (reply[0] == ':' && util_parse_i64(reply + 1, len - 3, &v) && v > 0) {
            *total += (uint64_t)v;
        }
        free(reply);
    }
    return CORDIS_OK;
}

/* MIGRATE of n keys of db from the connection fd (the old group) to `to`. */
static int
reshard_migrate(struct reshard *r, int fd, struct rclient_reader *rd, const char *to, int db,
                const struct cstr *keys, int n, int64_t ms, char *err, size_t errlen)
{
    char *reply = NULL, why[200];
    struct migrate_head h;
    struct cstr *argv = malloc(sizeof(*argv) * (size_t)(n + MIGRATE_HEAD_MAX));
    size_t len;
    int argc, rc;

    if (argv == NULL || (argc = migrate_head(argv, &h, to, db, ms, r->auth)) < 0) {
        free(argv);
        snprintf(err, errlen, "MIGRATE to %s: out of memory or no port", to);
        return CORDIS_ERROR;
    }
    memcpy(&argv[argc], keys, sizeof(*keys) * (size_t)n);
    argc += n;
    /* Redis times each read and write of the transfer, not the whole of
     * it: a big key may take longer than `ms` to answer. */
    rclient_set_timeout(fd, 2 * ms + RESHARD_MIGRATE_GRACE_MS);
    rc = reshard_cmd(fd, rd, argc, argv, &reply, &len, why, sizeof(why));
    rclient_set_timeout(fd, ms);
    free(argv);
    if (rc != CORDIS_OK) {
        snprintf(err, errlen, "MIGRATE to %s: %.160s", to, why);
        return CORDIS_ERROR;
    }
    if (reply[0] != '+') {
        snprintf(err, errlen, "MIGRATE to %s: %.*s", to,
                 (int)CORDIS_MIN(len > 3 ? len - 3 : 0, (size_t)150), reply + 1);
        rc = CORDIS_ERROR;
    }
    free(reply);
    return rc;
}

/*
 * One SCAN pass over db of the old group: the keys of MOVING slots go.
 * Adds how many it found to *found. CORDIS_ERROR with err set when a
 * backend failed (the pass is done again after a pause).
 */
static int
reshard_pass_db(struct reshard *r, const char *from, const char *to, int db, uint64_t *found,
                int64_t t0, uint64_t *moved_now, char *err, size_t errlen)
{
    char cursor[32] = "0", dbtext[16], why[200];
    struct reshard_knobs k = reshard_knobs(r);
    int fd = rclient_dial(from, k.timeout, why, sizeof(why));
    struct rclient_reader rd = { 0 };
    int rc = CORDIS_ERROR;

    if (fd < 0) {
        snprintf(err, errlen, "%s: %.160s", from, why);
        return CORDIS_ERROR;
    }
    pthread_mutex_lock(&r->lock);
    r->busy_fd = fd;
    pthread_mutex_unlock(&r->lock);
    snprintf(dbtext, sizeof(dbtext), "%d", db);
    {
        struct cstr sel[2] = { { "SELECT", 6 }, { dbtext, strlen(dbtext) } };
        char *reply = NULL;
        size_t len;

        if (rclient_auth(fd, r->auth, why, sizeof(why)) != CORDIS_OK
            || reshard_cmd(fd, &rd, 2, sel, &reply, &len, why, sizeof(why)) != CORDIS_OK) {
            snprintf(err, errlen, "SELECT %d on %s: %.160s", db, from, why);
            goto done;
        }
        free(reply);
    }
    do {
        struct cstr scan[4] = { { "SCAN", 4 }, { cursor, strlen(cursor) }, { "COUNT", 5 },
                                { RESHARD_SCAN_COUNT, sizeof(RESHARD_SCAN_COUNT) - 1 } };
        struct resp_reply_parser p;
        char *reply = NULL;
        size_t len, at;
        const char *el[1024];
        size_t ellen[1024];
        struct cstr keys[1024];
        int n, nkeys = 0;

        if (reshard_stopping(r)) {
            rc = CORDIS_OK;
            goto done;
        }
        k = reshard_knobs(r);   /* a reload applies from the next batch */
        if (reshard_cmd(fd, &rd, 4, scan, &reply, &len, why, sizeof(why)) != CORDIS_OK) {
            snprintf(err, errlen, "SCAN on %s: %.160s", from, why);
            goto done;
        }
        /* [cursor, [key, ...]] */
        at = resp_array_header_len(reply, len);
        if (reply[0] != '*' || at == 0 || rclient_parse(reply + at, len - at, &p) <= 0
            || p.type != '$' || p.integer < 0 || (size_t)p.integer >= sizeof(cursor)) {
            snprintf(err, errlen, "SCAN on %s: unexpected reply", from);
            free(reply);
            goto done;
        }
        memcpy(cursor, reply + at + resp_bulk_header_len((size_t)p.integer), (size_t)p.integer);
        cursor[p.integer] = '\0';
        at += p.len;
        n = rclient_elements(reply + at, len - at, el, ellen, 1024);
        for (int i = 0; i < n; i++) {
            if (el[i] != NULL
                && r->slot[router_slot(el[i], ellen[i])] == RESHARD_MOVING) {
                keys[nkeys++] = (struct cstr){ el[i], ellen[i] };
            }
        }
        *found += (uint64_t)nkeys;
        for (int i = 0; i < nkeys; i += k.batch) {
            int chunk = CORDIS_MIN(k.batch, nkeys - i);
            uint64_t bytes = 0;
            int64_t elapsed, due;

            if (reshard_bytes(fd, &rd, &keys[i], chunk, &bytes, err, errlen) != CORDIS_OK
                || reshard_migrate(r, fd, &rd, to, db, &keys[i], chunk, k.timeout, err, errlen)
                   != CORDIS_OK) {
                pthread_mutex_lock(&r->lock);
                r->errors++;
                snprintf(r->last_error, sizeof(r->last_error), "%s", err);
                pthread_mutex_unlock(&r->lock);
                free(reply);
                goto done;
            }
            pthread_mutex_lock(&r->lock);
            r->keys += (uint64_t)chunk;
            r->bytes += bytes;
            pthread_mutex_unlock(&r->lock);
            /* migrate.rate: the keys moved so far may not have come sooner. */
            *moved_now += (uint64_t)chunk;
            elapsed = util_now_usec() / 1000 - t0;
            due = (int64_t)(*moved_now * 1000 / (uint64_t)k.rate);
            if (due > elapsed && !reshard_sleep(r, due - elapsed)) {
                free(reply);
                rc = CORDIS_OK;
                goto done;
            }
        }
        free(reply);
    } while (strcmp(cursor, "0") != 0);
    rc = CORDIS_OK;
done:
    rclient_reader_free(&rd);
    pthread_mutex_lock(&r->lock);
    r->busy_fd = -1;
    pthread_mutex_unlock(&r->lock);
    close(fd);
    return rc;
}

/* Passes over the old group until one finds no key of the step's slots. */
static bool
reshard_move_step(struct reshard *r)
{
    int ndb = r->m->conf->backend.databases;
    int64_t step_t0 = util_now_usec() / 1000;
    uint64_t step_keys = 0;

    for (;;) {
        char from[CORDIS_ADDR_LEN], to[CORDIS_ADDR_LEN], err[256];
        bool dbs[1024] = { false };
        uint64_t found = 0, moved_now = 0;
        int64_t t0 = util_now_usec() / 1000;
        int rc = CORDIS_OK;

        if (reshard_stopping(r)) {
            return false;
        }
        if (!reshard_addrs(r, from, to)) {
            reshard_set_status(r, "paused: group %u or %u is gone from the route",
                               (unsigned)r->from, (unsigned)r->to);
            if (!reshard_sleep(r, RESHARD_PAUSE_SEC * 1000)) {
                return false;
            }
            continue;
        }
        if (reshard_dbs(r, from, dbs, CORDIS_MIN(ndb, 1024), err, sizeof(err)) < 0) {
            rc = CORDIS_ERROR;
        }
        reshard_set_status(r, "moving");
        for (int db = 0; rc == CORDIS_OK && db < CORDIS_MIN(ndb, 1024); db++) {
            if (dbs[db]) {
                rc = reshard_pass_db(r, from, to, db, &found, t0, &moved_now, err, sizeof(err));
            }
        }
        if (reshard_stopping(r)) {
            return false;
        }
        if (rc != CORDIS_OK) {
            log_warn("migration: paused: %s (group %u %s -> group %u %s); trying again",
                     err, (unsigned)r->from, from, (unsigned)r->to, to);
            reshard_set_status(r, "paused: %s", err);
            pthread_mutex_lock(&r->lock);
            snprintf(r->last_error, sizeof(r->last_error), "%s", err);
            pthread_mutex_unlock(&r->lock);
            if (!reshard_sleep(r, RESHARD_PAUSE_SEC * 1000)) {
                return false;
            }
            continue;
        }
        step_keys += moved_now;
        pthread_mutex_lock(&r->lock);
        r->passes++;
        r->rate_now = step_keys * 1000.0
                      / (double)CORDIS_MAX(util_now_usec() / 1000 - step_t0, 1);
        pthread_mutex_unlock(&r->lock);
        if (found == 0) {
            return true;
        }
    }
}

/* Checks that the new group can take MIGRATE's keys (and the old can send). */
static bool
reshard_check(struct reshard *r)
{
    static const char *const info[] = { "INFO", "keyspace" };
    static const char *const cmd[] = { "COMMAND", "INFO", "MIGRATE" };
    char from[CORDIS_ADDR_LEN], to[CORDIS_ADDR_LEN], err[256], *reply = NULL;
    size_t len;

    while (!reshard_stopping(r)) {
        if (!reshard_addrs(r, from, to)) {
            snprintf(err, sizeof(err), "group %u or %u is gone from the route",
                     (unsigned)r->from, (unsigned)r->to);
        } else if (rclient_call(to, r->auth, reshard_knobs(r).timeout, 2, info, &reply, &len,
                                err, sizeof(err)) != CORDIS_OK) {
            /* err says why */
        } else if (free(reply), reply = NULL,
                   rclient_call(from, r->auth, reshard_knobs(r).timeout, 3, cmd, &reply, &len,
                                err, sizeof(err)) != CORDIS_OK) {
            /* err says why */
        } else if (len < 5 || memcmp(reply, "*1\r\n*", 5) != 0) {
            snprintf(err, sizeof(err), "%s has no MIGRATE command", from);
            free(reply);
            reply = NULL;
        } else {
            free(reply);
            return true;
        }
        reshard_set_status(r, "paused: checking: %s", err);
        if (!reshard_sleep(r, RESHARD_PAUSE_SEC * 1000)) {
            break;
        }
    }
    return false;
}

static void *
reshard_main(void *arg)
{
    struct reshard *r = arg;

    reshard_set_status(r, "checking");
    if (!reshard_check(r)) {
        return NULL;
    }
    for (;;) {
        int n = 0;

        /* A step that was in flight (a resumed migration) goes on first. */
        pthread_mutex_lock(&r->lock);
        for (int s = 0; s < CORDIS_SLOTS; s++) {
            n += r->slot[s] == RESHARD_MOVING;
        }
        for (int s = 0; n == 0 && !r->cancelled && s < CORDIS_SLOTS; s++) {
            int k = 0;

            for (int t = s; t < CORDIS_SLOTS && k < RESHARD_STEP_SLOTS; t++) {
                if (r->slot[t] == RESHARD_PENDING) {
                    r->slot[t] = RESHARD_MOVING;
                    k++;
                }
            }
            n = k;
            break;
        }
        pthread_mutex_unlock(&r->lock);
        if (n == 0) {
            break;   /* every slot done (or cancelled) */
        }
        reshard_set_status(r, "waiting for every worker to take the route");
        if (!reshard_ask_master(r, RESHARD_ASK_BEGIN) || !reshard_move_step(r)) {
            return NULL;   /* stopped: the state file has the step in flight */
        }
        pthread_mutex_lock(&r->lock);
        for (int s = 0; s < CORDIS_SLOTS; s++) {
            if (r->slot[s] == RESHARD_MOVING) {
                r->slot[s] = RESHARD_DONE;
            }
        }
        pthread_mutex_unlock(&r->lock);
        if (!reshard_ask_master(r, RESHARD_ASK_END)) {
            return NULL;
        }
    }
    pthread_mutex_lock(&r->lock);
    r->finished = (int64_t)time(NULL);
    snprintf(r->status, sizeof(r->status), r->cancelled ? "cancelled" : "done");
    for (int s = 0; s < CORDIS_SLOTS; s++) {
        if (r->slot[s] != RESHARD_DONE) {
            continue;
        }
        if (r->moved_to[s] == 0) {
            r->moved_file[s] = r->file_owner[s];
        }
        r->moved_to[s] = r->to;
        if (r->moved_to[s] == r->moved_file[s]) {
            r->moved_to[s] = r->moved_file[s] = 0;   /* back where the file has it */
        }
    }
    r->active = false;
    reshard_save(r);
    pthread_mutex_unlock(&r->lock);
    log_info("migration: slots %s from group %u to group %u %s: %llu keys, %llu bytes in %lld s",
             r->requested, (unsigned)r->from, (unsigned)r->to,
             r->cancelled ? "cancelled (the steps started are done)" : "done",
             (unsigned long long)r->keys, (unsigned long long)r->bytes,
             (long long)(r->finished - r->started));
    return NULL;
}

/* Starts the mover thread for the migration in r. */
static int
reshard_run(struct master *m, struct reshard *r)
{
    const struct conf *conf = m->conf;

    free(r->auth);
    free(r->state_file);
    r->auth = strdup(conf->backend.auth);
    r->state_file = strdup(conf->migrate.state_file);
    reshard_take_knobs(r, conf);
    r->stop = false;
    if (r->auth == NULL || r->state_file == NULL) {
        return CORDIS_ERROR;
    }
    if (!ev_is_active(&r->ask_async)) {
        ev_async_init(&r->ask_async, reshard_ask_cb);
        ev_async_start(m->loop, &r->ask_async);
        ev_init(&r->barrier, reshard_barrier_cb);
        r->barrier.repeat = RESHARD_BARRIER_SEC;
    }
    if (pthread_create(&r->thread, NULL, reshard_main, r) != 0) {
        return CORDIS_ERROR;
    }
    r->thread_running = true;
    return CORDIS_OK;
}

/* --- the master's side ---------------------------------------------------------------- */

int
reshard_start(struct master *m, const char *slots, unsigned to, bool *conflict, char *err,
              size_t errlen)
{
    const struct conf *conf = m->conf;
    struct shm_route *route;
    uint8_t want[CORDIS_SLOTS] = { 0 };
    struct reshard *r;
    unsigned from = 0;

    *conflict = false;
    if (conf->codis.enabled) {
        *conflict = true;
        snprintf(err, errlen, "a codis-dashboard owns the slots (codis.enabled): migrate with it");
        return CORDIS_ERROR;
    }
    if (conf->migrate.state_file[0] == '\0') {
        snprintf(err, errlen, "migrate.state_file is not set: a migration must survive a restart");
        return CORDIS_ERROR;
    }
    if (slots == NULL || strlen(slots) >= sizeof(r->requested)
        || !reshard_slots_parse(slots, want, 1)) {
        snprintf(err, errlen, "slots: expected a list such as \"0-511\" or \"1,5,9-12\" (0..1023)");
        return CORDIS_ERROR;
    }
    r = m->reshard;
    route = malloc(sizeof(*route));
    if (route == NULL) {
        snprintf(err, errlen, "out of memory");
        return CORDIS_ERROR;
    }
    if (r != NULL && !r->active && r->thread_running) {
        pthread_join(r->thread, NULL);   /* the last migration's mover, finished */
        r->thread_running = false;
    }
    if (r != NULL && (r->active || r->thread_running)) {
        free(route);
        *conflict = true;
        snprintf(err, errlen, "a migration is running (slots %s to group %u): wait or cancel it",
                 r->requested, (unsigned)r->to);
        return CORDIS_ERROR;
    }
    shm_route_copy(m->shm, route);
    if (shm_route_group(route, (int)to) == NULL) {
        free(route);
        snprintf(err, errlen, "no group with id %u", to);
        return CORDIS_ERROR;
    }
    for (int s = 0; s < CORDIS_SLOTS; s++) {
        const struct shm_slot *e = &route->slots[s];

        if (!want[s]) {
            continue;
        }
        if (e->group == 0 || e->migrate_from != 0 || e->locked) {
            snprintf(err, errlen, "slot %d is %s", s, e->group == 0 ? "not served"
                     : e->locked ? "locked" : "migrating already");
            free(route);
            return CORDIS_ERROR;
        }
        if (from != 0 && e->group != from) {
            snprintf(err, errlen, "the slots belong to groups %u and %u: one source group at a "
                     "time", from, (unsigned)e->group);
            free(route);
            return CORDIS_ERROR;
        }
        from = e->group;
    }
    free(route);
    if (from == to) {
        snprintf(err, errlen, "the slots are group %u's already", to);
        return CORDIS_ERROR;
    }
    r = reshard_get(m);   /* the state exists once a migration was accepted */
    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return CORDIS_ERROR;
    }
    pthread_mutex_lock(&r->lock);
    r->active = true;
    r->cancelled = false;
    r->from = (uint16_t)from;
    r->to = (uint16_t)to;
    for (int s = 0; s < CORDIS_SLOTS; s++) {
        r->slot[s] = want[s] ? RESHARD_PENDING : RESHARD_NONE;
    }
    snprintf(r->requested, sizeof(r->requested), "%s", slots);
    snprintf(r->status, sizeof(r->status), "starting");
    for (int s = 0; s < CORDIS_SLOTS; s++) {
        r->file_owner[s] = conf->slot_group[s];
    }
    r->started = (int64_t)time(NULL);
    r->finished = 0;
    r->keys = r->bytes = r->errors = r->passes = 0;
    r->last_error[0] = '\0';
    r->rate_now = 0;
    free(r->state_file);
    r->state_file = strdup(conf->migrate.state_file);
    reshard_save(r);
    pthread_mutex_unlock(&r->lock);
    if (reshard_run(m, r) != CORDIS_OK) {
        r->active = false;
        snprintf(err, errlen, "cannot start the mover");
        return CORDIS_ERROR;
    }
    log_info("migration: slots %s from group %u to group %u started (%d keys/s, %d a call)",
             slots, from, to, conf->migrate.rate, conf->migrate.batch);
    return CORDIS_OK;
}

int
reshard_cancel(struct master *m, char *err, size_t errlen)
{
    struct reshard *r = m->reshard;

    if (r == NULL || !r->active) {
        snprintf(err, errlen, "no migration is running");
        return CORDIS_ERROR;
    }
    pthread_mutex_lock(&r->lock);
    r->cancelled = true;
    reshard_save(r);
    pthread_mutex_unlock(&r->lock);
    log_info("migration: cancel asked: the step in flight finishes, the rest stays");
    return CORDIS_OK;
}

bool
reshard_controls(const struct master *m, unsigned slot)
{
    const struct reshard *r = m->reshard;

    return r != NULL && r->active && slot < CORDIS_SLOTS && r->slot[slot] != RESHARD_NONE
           && r->slot[slot] != RESHARD_DONE;
}

void
reshard_resume(struct master *m)
{
    struct reshard *r = m->reshard;

    if (r == NULL || !r->active || r->thread_running) {
        return;
    }
    if (m->conf->codis.enabled) {
        log_error("migration: not resumed: a codis-dashboard owns the slots (codis.enabled)");
        return;
    }
    if (reshard_run(m, r) != CORDIS_OK) {
        log_error("migration: cannot start the mover; the migration stays where it is");
    }
}

void
reshard_stop(struct master *m)
{
    struct reshard *r = m->reshard;

    if (r == NULL || !r->thread_running) {
        return;
    }
    pthread_mutex_lock(&r->lock);
    r->stop = true;
    if (r->busy_fd >= 0) {
        shutdown(r->busy_fd, SHUT_RDWR);   /* no waiting for a MIGRATE in flight (Redis
                                              * finishes it either way; REPLACE makes a
                                              * redo safe) */
    }
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    r->thread_running = false;
    ev_timer_stop(m->loop, &r->barrier);
    pthread_mutex_lock(&r->lock);
    if (r->active) {
        snprintf(r->status, sizeof(r->status), "stopped (resumes at the next start)");
    }
    reshard_save(r);
    pthread_mutex_unlock(&r->lock);
}

void
reshard_free(struct master *m)
{
    struct reshard *r = m->reshard;

    if (r == NULL) {
        return;
    }
    reshard_stop(m);
    if (ev_is_active(&r->ask_async)) {
        ev_async_stop(m->loop, &r->ask_async);
    }
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->cond);
    free(r->auth);
    free(r->state_file);
    free(r);
    m->reshard = NULL;
}

json_t *
reshard_json(struct master *m)
{
    struct reshard *r = m->reshard;
    char pending[4096], moving[4096], done[4096];
    int npending = 0, nmoving = 0, ndone = 0;
    json_t *o, *moved;

    if (r == NULL) {
        return json_null();
    }
    pthread_mutex_lock(&r->lock);
    for (int s = 0; s < CORDIS_SLOTS; s++) {
        npending += r->slot[s] == RESHARD_PENDING;
        nmoving += r->slot[s] == RESHARD_MOVING;
        ndone += r->slot[s] == RESHARD_DONE;
    }
    reshard_slots_text(r->slot, RESHARD_PENDING, pending, sizeof(pending));
    reshard_slots_text(r->slot, RESHARD_MOVING, moving, sizeof(moving));
    reshard_slots_text(r->slot, RESHARD_DONE, done, sizeof(done));
    moved = reshard_moved_json(r);
    o = json_pack("{s:b, s:s, s:s, s:i, s:i, s:b, s:{s:i, s:i, s:i, s:s, s:s, s:s}, "
                  "s:I, s:I, s:I, s:I, s:f, s:s, s:I, s:I, s:o}",
                  "active", r->active, "status", r->status, "slots", r->requested,
                  "from", r->from, "to", r->to, "cancelled", r->cancelled,
                  "progress", "pending", npending, "moving", nmoving, "done", ndone,
                  "pending_slots", pending, "moving_slots", moving, "done_slots", done,
                  "keys_moved", (json_int_t)r->keys, "bytes_moved", (json_int_t)r->bytes,
                  "errors", (json_int_t)r->errors, "passes", (json_int_t)r->passes,
                  "rate_keys_per_sec", r->rate_now, "last_error", r->last_error,
                  "started_unix", (json_int_t)r->started, "finished_unix",
                  (json_int_t)r->finished, "moved", moved);
    pthread_mutex_unlock(&r->lock);
    return o;
}

void
reshard_metrics(struct master *m, struct reply *out)
{
    struct reshard *r = m->reshard;
    int n[4] = { 0 };

    if (r == NULL) {
        return;
    }
    pthread_mutex_lock(&r->lock);
    for (int s = 0; s < CORDIS_SLOTS; s++) {
        n[r->slot[s]]++;
    }
    reply_printf(out, "# HELP cordis_migration_active 1 while a migration runs.\n"
                 "# TYPE cordis_migration_active gauge\ncordis_migration_active %d\n",
                 r->active ? 1 : 0);
    reply_printf(out, "# HELP cordis_migration_slots Slots of the migration by state.\n"
                 "# TYPE cordis_migration_slots gauge\n"
                 "cordis_migration_slots{state=\"pending\"} %d\n"
                 "cordis_migration_slots{state=\"moving\"} %d\n"
                 "cordis_migration_slots{state=\"done\"} %d\n",
                 n[RESHARD_PENDING], n[RESHARD_MOVING], n[RESHARD_DONE]);
    reply_printf(out, "# HELP cordis_migration_keys_moved_total Keys the bulk mover moved.\n"
                 "# TYPE cordis_migration_keys_moved_total counter\n"
                 "cordis_migration_keys_moved_total %llu\n", (unsigned long long)r->keys);
    reply_printf(out, "# HELP cordis_migration_bytes_moved_total Bytes (MEMORY USAGE) of the "
                 "keys the bulk mover moved.\n# TYPE cordis_migration_bytes_moved_total counter\n"
                 "cordis_migration_bytes_moved_total %llu\n", (unsigned long long)r->bytes);
    reply_printf(out, "# HELP cordis_migration_errors_total Failed MIGRATE calls of the bulk "
                 "mover.\n# TYPE cordis_migration_errors_total counter\n"
                 "cordis_migration_errors_total %llu\n", (unsigned long long)r->errors);
    pthread_mutex_unlock(&r->lock);
}
