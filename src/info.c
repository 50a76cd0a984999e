/*
 * INFO: cordis's own sections and the groups' merged. See info.h.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "command.h"
#include "conf.h"
#include "info.h"
#include "pinned.h"
#include "local.h"
#include "reply.h"
#include "request.h"
#include "resp.h"
#include "session.h"
#include "shm.h"
#include "stats.h"
#include "stats_view.h"
#include "util.h"
#include "worker.h"

/* What cordis says it is when no backend told it its version. */
#define INFO_DEFAULT_VERSION "7.0.0"

enum info_section {
    INFO_SERVER       = 1 << 0,
    INFO_CLIENTS      = 1 << 1,
    INFO_MEMORY       = 1 << 2,
    INFO_PERSISTENCE  = 1 << 3,
    INFO_STATS        = 1 << 4,
    INFO_REPLICATION  = 1 << 5,
    INFO_CPU          = 1 << 6,
    INFO_MODULES      = 1 << 7,
    INFO_COMMANDSTATS = 1 << 8,
    INFO_ERRORSTATS   = 1 << 9,
    INFO_LATENCYSTATS = 1 << 10,
    INFO_CLUSTER      = 1 << 11,
    INFO_KEYSPACE     = 1 << 12,
    INFO_CORDIS       = 1 << 13,
};

/* Redis 7's sections, in its order; "default" is all but the statistics
 * per command. */
static const struct {
    const char *name;     /* as requested */
    const char *title;    /* as printed: "# Server" */
    unsigned    bit;
    bool        in_default;
} info_sections[] = {
    { "server",       "Server",       INFO_SERVER,       true },
    { "clients",      "Clients",      INFO_CLIENTS,      true },
    { "memory",       "Memory",       INFO_MEMORY,       true },
    { "persistence",  "Persistence",  INFO_PERSISTENCE,  true },
    { "stats",        "Stats",        INFO_STATS,        true },
    { "replication",  "Replication",  INFO_REPLICATION,  true },
    { "cpu",          "CPU",          INFO_CPU,          true },
    { "modules",      "Modules",      INFO_MODULES,      true },
    { "commandstats", "Commandstats", INFO_COMMANDSTATS, false },
    { "errorstats",   "Errorstats",   INFO_ERRORSTATS,   true },
    { "latencystats", "Latencystats", INFO_LATENCYSTATS, false },
    { "cluster",      "Cluster",      INFO_CLUSTER,      true },
    { "keyspace",     "Keyspace",     INFO_KEYSPACE,     true },
    { "cordis",       "Cordis",       INFO_CORDIS,       true },
};

/* Sections made from the groups' replies. */
#define INFO_FROM_GROUPS (INFO_SERVER | INFO_MEMORY | INFO_PERSISTENCE | INFO_STATS \
                          | INFO_MODULES | INFO_ERRORSTATS | INFO_KEYSPACE | INFO_CORDIS)

static unsigned
info_wanted(int argc, const struct cstr *argv)
{
    unsigned all = 0, def = 0, want = 0;

    for (size_t i = 0; i < CORDIS_ARRAY_SIZE(info_sections); i++) {
        all |= info_sections[i].bit;
        def |= info_sections[i].in_default ? info_sections[i].bit : 0;
    }
    if (argc < 2) {
        return def;
    }
    for (int i = 1; i < argc; i++) {
        if (util_strieq(argv[i].ptr, argv[i].len, "all")
            || util_strieq(argv[i].ptr, argv[i].len, "everything")) {
            want |= all;
        } else if (util_strieq(argv[i].ptr, argv[i].len, "default")) {
            want |= def;
        }
        for (size_t j = 0; j < CORDIS_ARRAY_SIZE(info_sections); j++) {
            if (util_strieq(argv[i].ptr, argv[i].len, info_sections[j].name)) {
                want |= info_sections[j].bit;
            }
        }
    }
    return want;
}

/* --- the groups' replies, parsed ------------------------------------------- */

struct info_field {
    char section[24];     /* lower case: "memory" */
    char key[64];
    char value[256];
};

/* One group's INFO reply as fields; n = 0 when the group did not answer. */
struct info_doc {
    struct info_field *fields;
    int                n;
    uint16_t           group;
    const char        *addr;
    const char        *error;     /* its error reply (without '-'), or NULL */
    size_t             error_len;
};

static void
info_parse(struct info_doc *doc, const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    char section[24] = "";
    int cap = 0;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *stop = eol != NULL ? eol : end, *colon;
        size_t n = (size_t)(stop - p);

        if (n > 0 && p[n - 1] == '\r') {
            n--;
        }
        if (n > 2 && p[0] == '#' && p[1] == ' ') {
            size_t k = CORDIS_MIN(n - 2, sizeof(section) - 1);

            for (size_t i = 0; i < k; i++) {
                char c = p[2 + i];

                section[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
            }
            section[k] = '\0';
        } else if (n > 0 && (colon = memchr(p, ':', n)) != NULL) {
            struct info_field *f;

            if (doc->n == cap) {
                int grown = cap == 0 ? 128 : cap * 2;
                struct info_field *more = realloc(doc->fields, sizeof(*more) * (size_t)grown);

                if (more == NULL) {
                    return;
                }
                doc->fields = more;
                cap = grown;
            }
            f = &doc->fields[doc->n++];
            snprintf(f->section, sizeof(f->section), "%s", section);
            snprintf(f->key, sizeof(f->key), "%.*s", (int)(colon - p), p);
            snprintf(f->value, sizeof(f->value), "%.*s", (int)(p + n - colon - 1), colon + 1);
        }
        p = stop + 1;
    }
}

static const char *
info_get(const struct info_doc *doc, const char *section, const char *key)
{
    for (int i = 0; i < doc->n; i++) {
        if (strcmp(doc->fields[i].key, key) == 0 && strcmp(doc->fields[i].section, section) == 0) {
            return doc->fields[i].value;
        }
    }
    return NULL;
}

/* --- merging one field ---------------------------------------------------------- */

enum info_how {
    INFO_SUM,       /* counters and sizes: the fleet's total */
    INFO_MAX,       /* flags, in-progress markers, durations of the last run */
    INFO_MIN,       /* the earliest time */
    INFO_AVG,       /* ratios and percentages */
    INFO_STATUS,    /* "ok" unless a group says otherwise */
    INFO_HUMAN,     /* "1.50M": from the merged field it spells */
    INFO_FIRST,     /* text: the value when all agree, else "mixed" */
};

static bool
info_has(const char *key, const char *part)
{
    return strstr(key, part) != NULL;
}

static enum info_how
info_how(const char *key)
{
    size_t len = strlen(key);

    if (len > 6 && strcmp(key + len - 6, "_human") == 0) {
        return INFO_HUMAN;
    }
    if (info_has(key, "_status")) {
        return INFO_STATUS;
    }
    if (info_has(key, "last_save_time")) {
        return INFO_MIN;
    }
    if (strcmp(key, "loading") == 0 || strcmp(key, "async_loading") == 0
        || info_has(key, "_in_progress") || info_has(key, "_enabled")
        || info_has(key, "_scheduled") || info_has(key, "_time_sec")
        || info_has(key, "instantaneous_eventloop") || info_has(key, "latest_fork_usec")
        || strcmp(key, "number_of_cached_scripts") == 0 || strcmp(key, "pubsub_patterns") == 0
        || strcmp(key, "lru_clock") == 0 || strcmp(key, "maxmemory") == 0) {
        return INFO_MAX;
    }
    if (info_has(key, "ratio") || info_has(key, "_perc") || info_has(key, "_per_call")) {
        return INFO_AVG;
    }
    return INFO_SUM;
}

/* A number, maybe a percentage ("99.41%"). */
static bool
info_number(const char *text, double *out, bool *integral)
{
    char *end;

    if (text[0] == '\0') {
        return false;
    }
    *out = strtod(text, &end);
    *integral = strchr(text, '.') == NULL && strchr(text, 'e') == NULL;
    return *end == '\0' || (end[0] == '%' && end[1] == '\0');
}

/* Redis's bytesToHuman: "999B", "1.50K", "2.00M", ... */
static void
info_human(double bytes, char *out, size_t size)
{
    static const char units[] = "BKMGTP";
    int u = 0;

    while (bytes >= 1024 && u < 5) {
        bytes /= 1024;
        u++;
    }
    if (u == 0) {
        snprintf(out, size, "%.0fB", bytes);
    } else {
        snprintf(out, size, "%.2f%c", bytes, units[u]);
    }
}

/*
 * The merged value of section:key over the documents that have it; false
 * when none has it. HUMAN fields are merged from the field they spell.
 */
static bool
info_merged(const struct info_doc *docs, int ndocs, const char *section, const char *key,
            char *out, size_t size)
{
    enum info_how how = info_how(key);
    const char *first = NULL;
    bool integral = true, numeric = true, mixed = false;
    double acc = 0;
    int seen = 0;

    if (how == INFO_HUMAN) {
        char base[64], merged[64];
        double v;
        bool i;

        snprintf(base, sizeof(base), "%.*s", (int)(strlen(key) - 6), key);
        if (info_merged(docs, ndocs, section, base, merged, sizeof(merged))
            && info_number(merged, &v, &i)) {
            info_human(v, out, size);
            return true;
        }
        how = INFO_FIRST;
    }
    if (strcmp(key, "mem_fragmentation_ratio") == 0) {
        char rss[64], used[64];
        double r, u;
        bool i;

        if (info_merged(docs, ndocs, section, "used_memory_rss", rss, sizeof(rss))
            && info_merged(docs, ndocs, section, "used_memory", used, sizeof(used))
            && info_number(rss, &r, &i) && info_number(used, &u, &i) && u > 0) {
            snprintf(out, size, "%.2f", r / u);
            return true;
        }
    }
    for (int d = 0; d < ndocs; d++) {
        const char *v = info_get(&docs[d], section, key);
        double x;
        bool i;

        if (v == NULL) {
            continue;
        }
        if (first == NULL) {
            first = v;
        } else if (strcmp(first, v) != 0) {
            mixed = true;
        }
        if (!info_number(v, &x, &i)) {
            numeric = false;
            continue;
        }
        integral = integral && i;
        switch (how) {
        case INFO_MAX:
            acc = seen == 0 || x > acc ? x : acc;
            break;
        case INFO_MIN:
            acc = seen == 0 || x < acc ? x : acc;
            break;
        default:
            acc += x;
            break;
        }
        seen++;
    }
    if (first == NULL) {
        return false;
    }
    if (how == INFO_STATUS || how == INFO_FIRST || !numeric) {
        /* Text: one value when every group agrees; a status is "ok" only
         * when every group's is. */
        if (!mixed) {
            snprintf(out, size, "%s", first);
        } else if (how == INFO_STATUS) {
            snprintf(out, size, "err");
        } else {
            snprintf(out, size, "mixed");
        }
        return true;
    }
    if (how == INFO_AVG && seen > 0) {
        acc /= seen;
        integral = false;
    }
    snprintf(out, size, integral ? "%.0f%s" : "%.2f%s", acc,
             first[strlen(first) - 1] == '%' ? "%" : "");
    return true;
}

/* Every key of a section, merged, in the order the groups list them. */
static void
info_merge_section(struct reply *r, const struct info_doc *docs, int ndocs,
                   const char *section, const char *const *own)
{
    char value[256];

    for (int d = 0; d < ndocs; d++) {
        for (int i = 0; i < docs[d].n; i++) {
            const struct info_field *f = &docs[d].fields[i];
            bool earlier = false, skip = false;

            if (strcmp(f->section, section) != 0) {
                continue;
            }
            for (int e = 0; e < d && !earlier; e++) {
                earlier = info_get(&docs[e], section, f->key) != NULL;
            }
            for (int k = 0; own != NULL && own[k] != NULL && !skip; k++) {
                skip = strcmp(own[k], f->key) == 0;   /* cordis's own figure */
            }
            if (!earlier && !skip && info_merged(docs, ndocs, section, f->key, value, sizeof(value))) {
                reply_printf(r, "%s:%s\r\n", f->key, value);
            }
        }
    }
}

/* The lowest redis_version among the groups that answered. */
static void
info_min_version(const struct info_doc *docs, int ndocs, char *out, size_t size)
{
    const char *min = NULL;

    for (int d = 0; d < ndocs; d++) {
        const char *v = info_get(&docs[d], "server", "redis_version");

        if (v != NULL && (min == NULL || util_version_cmp(v, min) < 0)) {
            min = v;
        }
    }
    const char *v = min != NULL ? min : INFO_DEFAULT_VERSION;
    size_t len = strnlen(v, size - 1);            /* a version never fills it; cut, not overrun */

    memcpy(out, v, len);
    out[len] = '\0';
}

/* --- cordis's own sections ------------------------------------------------------ */

static void
info_server(struct worker *w, struct reply *r, const char *version)
{
    const struct shm_header *h = &w->shm->header;
    int64_t now = (int64_t)time(NULL), up = now - h->started;
    char exe[512];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    struct utsname un;

    exe[n > 0 ? n : 0] = '\0';
    uname(&un);
    reply_printf(r, "redis_version:%s\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\n"
                 "redis_build_id:0\r\nredis_mode:standalone\r\nos:%s %s %s\r\narch_bits:%d\r\n"
                 "monotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\n"
                 "process_id:%d\r\nprocess_supervised:no\r\nrun_id:%s\r\ntcp_port:%s\r\n"
                 "server_time_usec:%lld\r\nuptime_in_seconds:%lld\r\nuptime_in_days:%lld\r\n"
                 "hz:10\r\nconfigured_hz:10\r\nexecutable:%s\r\nconfig_file:%s\r\n"
                 "io_threads_active:0\r\ncordis_version:%s\r\n",
                 version, un.sysname, un.release, un.machine, (int)(sizeof(void *) * 8),
                 (int)getppid(), h->run_id, strrchr(w->conf->proxy.listen, ':') + 1,
                 (long long)util_wall_usec(), (long long)up, (long long)(up / 86400), exe,
                 w->conf->path, PACKAGE_VERSION);
}

static void
info_clients(struct worker *w, struct reply *r)
{
    uint64_t blocked = 0;

    /* Clients waiting in a blocking command, in every worker. */
    for (int row = 0; row < SHM_ROWS; row++) {
        if (w->shm->rows[row].in_use) {
            blocked += __atomic_load_n(&w->shm->rows[row].pinned[PINNED_BLOCKING],
                                       __ATOMIC_RELAXED);
        }
    }
    reply_printf(r, "connected_clients:%u\r\ncluster_connections:0\r\nmaxclients:%d\r\n"
                 "client_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\n"
                 "blocked_clients:%llu\r\ntracking_clients:0\r\nclients_in_timeout_table:0\r\n",
                 __atomic_load_n(&w->shm->header.clients, __ATOMIC_RELAXED),
                 w->conf->proxy.max_clients, (unsigned long long)blocked);
}

/* The stats cordis keeps itself, in place of the groups' (the groups saw
 * cordis's connections, not the clients'). */
static const char *const info_own_stats[] = {
    "total_connections_received", "total_commands_processed", "instantaneous_ops_per_sec",
    "total_net_input_bytes", "total_net_output_bytes", "rejected_connections",
    "auth_failures", NULL,
};

static void
info_stats_own(struct worker *w, struct reply *r, const struct stats_total *t)
{
    reply_printf(r, "total_connections_received:%llu\r\ntotal_commands_processed:%llu\r\n"
                 "instantaneous_ops_per_sec:%llu\r\ntotal_net_input_bytes:%llu\r\n"
                 "total_net_output_bytes:%llu\r\nrejected_connections:%llu\r\n"
                 "auth_failures:%llu\r\n",
                 (unsigned long long)t->sessions_total, (unsigned long long)t->calls,
                 (unsigned long long)__atomic_load_n(&w->shm->header.ops_per_sec, __ATOMIC_RELAXED),
                 (unsigned long long)t->bytes_in, (unsigned long long)t->bytes_out,
                 (unsigned long long)t->rejected, (unsigned long long)t->auth_failures);
}

static void
info_replication(struct worker *w, struct reply *r)
{
    reply_printf(r, "role:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\n"
                 "master_replid:%s\r\nmaster_replid2:0000000000000000000000000000000000000000\r\n"
                 "master_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\n"
                 "repl_backlog_size:0\r\nrepl_backlog_first_byte_offset:0\r\n"
                 "repl_backlog_histlen:0\r\n", w->shm->header.run_id);
}

/* CPU of every cordis process: the master and the workers. */
static void
info_cpu(struct worker *w, struct reply *r)
{
    double user = 0, sys = 0, u, s;
    uint64_t rss;

    if (util_proc_stat(getppid(), &u, &s, &rss) == CORDIS_OK) {
        user += u;
        sys += s;
    }
    for (int row = 0; row < SHM_ROWS; row++) {
        pid_t pid = w->shm->rows[row].pid;

        if (pid != 0 && util_proc_stat(pid, &u, &s, &rss) == CORDIS_OK) {
            user += u;
            sys += s;
        }
    }
    reply_printf(r, "used_cpu_sys:%.6f\r\nused_cpu_user:%.6f\r\nused_cpu_sys_children:0.000000\r\n"
                 "used_cpu_user_children:0.000000\r\n", sys, user);
}

static void
info_commandstats(struct reply *r, const struct stats_total *t)
{
    for (int i = 0; i < COMMAND_COUNT; i++) {
        const struct stats_cmd *c = &t->cmd[i];

        if (c->calls > 0) {
            reply_printf(r, "cmdstat_%s:calls=%llu,usec=%llu,usec_per_call=%.2f,"
                         "rejected_calls=%llu,failed_calls=%llu\r\n", command_table[i].name,
                         (unsigned long long)c->calls, (unsigned long long)c->usecs,
                         (double)c->usecs / (double)c->calls, (unsigned long long)c->fails,
                         (unsigned long long)c->redis_errors);
        }
    }
}

static void
info_latencystats(struct reply *r, const struct stats_total *t)
{
    for (int i = 0; i < COMMAND_COUNT; i++) {
        const struct stats_cmd *c = &t->cmd[i];

        if (c->calls > 0) {
            reply_printf(r, "latency_percentiles_usec_%s:p50=%.3f,p99=%.3f,p99.9=%.3f\r\n",
                         command_table[i].name, (double)stats_quantile(c->hist, 0.5),
                         (double)stats_quantile(c->hist, 0.99),
                         (double)stats_quantile(c->hist, 0.999));
        }
    }
}

/* errorstat_ERR:count=3 lines summed per error over the groups. */
static void
info_errorstats(struct reply *r, const struct info_doc *docs, int ndocs)
{
    for (int d = 0; d < ndocs; d++) {
        for (int i = 0; i < docs[d].n; i++) {
            const struct info_field *f = &docs[d].fields[i];
            bool earlier = false;
            long long total = 0;

            if (strcmp(f->section, "errorstats") != 0) {
                continue;
            }
            for (int e = 0; e < d && !earlier; e++) {
                earlier = info_get(&docs[e], "errorstats", f->key) != NULL;
            }
            if (earlier) {
                continue;
            }
            for (int e = d; e < ndocs; e++) {
                const char *v = info_get(&docs[e], "errorstats", f->key);
                long long n;

                if (v != NULL && sscanf(v, "count=%lld", &n) == 1) {
                    total += n;
                }
            }
            reply_printf(r, "%s:count=%lld\r\n", f->key, total);
        }
    }
}

struct info_db {
    long long keys;
    long long expires;
    double    ttl_sum;    /* avg_ttl weighted by expires */
};

#define INFO_MAX_DB 1024

/* db3:keys=10,expires=2,avg_ttl=100 lines summed per database. */
static void
info_keyspace(struct reply *r, const struct info_doc *docs, int ndocs)
{
    struct info_db *dbs = calloc(INFO_MAX_DB, sizeof(*dbs));

    if (dbs == NULL) {
        r->failed = true;
        return;
    }
    for (int d = 0; d < ndocs; d++) {
        for (int i = 0; i < docs[d].n; i++) {
            const struct info_field *f = &docs[d].fields[i];
            long long keys, expires, ttl;
            int db;

            if (strcmp(f->section, "keyspace") == 0 && sscanf(f->key, "db%d", &db) == 1
                && db >= 0 && db < INFO_MAX_DB
                && sscanf(f->value, "keys=%lld,expires=%lld,avg_ttl=%lld", &keys, &expires,
                          &ttl) == 3) {
                dbs[db].keys += keys;
                dbs[db].expires += expires;
                dbs[db].ttl_sum += (double)ttl * (double)expires;
            }
        }
    }
    for (int db = 0; db < INFO_MAX_DB; db++) {
        if (dbs[db].keys > 0) {
            reply_printf(r, "db%d:keys=%lld,expires=%lld,avg_ttl=%lld\r\n", db, dbs[db].keys,
                         dbs[db].expires,
                         dbs[db].expires > 0 ? (long long)(dbs[db].ttl_sum / (double)dbs[db].expires)
                                             : 0LL);
        }
    }
    free(dbs);
}

/* Keys of one group, over its databases. */
static long long
info_group_keys(const struct info_doc *doc)
{
    long long total = 0, keys;

    for (int i = 0; i < doc->n; i++) {
        if (strcmp(doc->fields[i].section, "keyspace") == 0
            && sscanf(doc->fields[i].value, "keys=%lld", &keys) == 1) {
            total += keys;
        }
    }
    return total;
}

static void
info_cordis(struct worker *w, struct reply *r, const struct info_doc *docs, int ndocs)
{
    int live = 0;

    for (int row = 0; row < SHM_ROWS; row++) {
        live += w->shm->rows[row].pid != 0;
    }
    reply_printf(r, "cordis_version:%s\r\nproduct_name:%s\r\nworkers:%d\r\nworker:%d\r\n"
                 "route_generation:%llu\r\ngroups:%d\r\n", PACKAGE_VERSION,
                 w->conf->product_name, live, w->params->index,
                 (unsigned long long)w->route_gen, w->ngroups);
    for (int d = 0; d < ndocs; d++) {
        const struct info_doc *doc = &docs[d];

        if (doc->error != NULL) {
            reply_printf(r, "group_%u:addr=%s,status=down,error=%.*s\r\n", doc->group, doc->addr,
                         (int)CORDIS_MIN(doc->error_len, (size_t)160), doc->error);
            continue;
        }
#define INFO_OR(v) ((v) != NULL ? (v) : "?")
        reply_printf(r, "group_%u:addr=%s,status=up,redis_version=%s,keys=%lld,"
                     "used_memory=%s,connected_clients=%s,role=%s\r\n", doc->group, doc->addr,
                     INFO_OR(info_get(doc, "server", "redis_version")), info_group_keys(doc),
                     INFO_OR(info_get(doc, "memory", "used_memory")),
                     INFO_OR(info_get(doc, "clients", "connected_clients")),
                     INFO_OR(info_get(doc, "replication", "role")));
#undef INFO_OR
    }
}

/* --- the reply ------------------------------------------------------------------ */

static void
info_build(struct worker *w, unsigned want, const struct info_doc *docs, int ndocs,
           struct reply *text)
{
    struct stats_total *t = NULL;
    char version[64];
    bool first = true;

    if (want & (INFO_STATS | INFO_COMMANDSTATS | INFO_LATENCYSTATS)) {
        t = malloc(sizeof(*t));
        if (t == NULL) {
            text->failed = true;
            return;
        }
        stats_sum(w->shm, t);
    }
    info_min_version(docs, ndocs, version, sizeof(version));
    for (size_t i = 0; i < CORDIS_ARRAY_SIZE(info_sections); i++) {
        unsigned bit = info_sections[i].bit;

        if (!(want & bit)) {
            continue;
        }
        reply_printf(text, "%s# %s\r\n", first ? "" : "\r\n", info_sections[i].title);
        first = false;
        switch (bit) {
        case INFO_SERVER:
            info_server(w, text, version);
            break;
        case INFO_CLIENTS:
            info_clients(w, text);
            break;
        case INFO_STATS:
            info_stats_own(w, text, t);
            info_merge_section(text, docs, ndocs, "stats", info_own_stats);
            break;
        case INFO_REPLICATION:
            info_replication(w, text);
            break;
        case INFO_CPU:
            info_cpu(w, text);
            break;
        case INFO_COMMANDSTATS:
            info_commandstats(text, t);
            break;
        case INFO_LATENCYSTATS:
            info_latencystats(text, t);
            break;
        case INFO_ERRORSTATS:
            info_errorstats(text, docs, ndocs);
            break;
        case INFO_CLUSTER:
            reply_printf(text, "cluster_enabled:0\r\n");
            break;
        case INFO_KEYSPACE:
            info_keyspace(text, docs, ndocs);
            break;
        case INFO_CORDIS:
            info_cordis(w, text, docs, ndocs);
            break;
        default:   /* memory, persistence, modules: the groups' */
            info_merge_section(text, docs, ndocs, info_sections[i].name, NULL);
            break;
        }
    }
    free(t);
}

static void
info_reply(struct req *req, struct reply *text)
{
    struct reply r;

    reply_init(&r);
    if (text->failed) {
        r.failed = true;
    } else {
        reply_bulk(&r, text->buf != NULL ? text->buf : "", text->len);
    }
    reply_free(text);
    req_take_reply(req, &r);
}

static const char info_command[] = "*1\r\n$4\r\nINFO\r\n";
static const char info_server_command[] = "*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n";

/* Sends the command to every group as children of req; CORDIS_OK when
 * they went out (req finishes with the last reply). */
static int
info_ask_groups(struct worker *w, struct req *req, const char *command, size_t len)
{
    const char *err;

    if (w->ngroups == 0 || req_alloc_children(req, w->ngroups, 0) != CORDIS_OK) {
        return CORDIS_ERROR;
    }
    for (int i = 0; i < w->ngroups; i++) {
        struct req *child = req_new(w);

        if (child == NULL) {
            break;
        }
        child->parent = req;
        child->cmd = req->cmd;
        child->group = w->group_ids[i];
        child->server = w->group_server[i];
        req_set_bytes(child, command, len);
        req->children[req->nchildren++] = child;
    }
    if (req->nchildren < w->ngroups) {
        for (int i = 0; i < req->nchildren; i++) {
            req_free(w, req->children[i]);
        }
        req->nchildren = 0;
        req->children = NULL;
        return CORDIS_ERROR;
    }
    req->pending = req->nchildren;
    for (int i = 0; i < req->nchildren; i++) {
        struct req *child = req->children[i];

        if (backend_send(w, child->server, 0, 0, child, &err) != CORDIS_OK) {
            req_set_error(child, "ERR backend %s unavailable: %s", child->server->addr, err);
            req_finish(w, child);
        }
    }
    return CORDIS_OK;
}

int
info_hello(struct worker *w, struct session *s, struct req *req)
{
    if (info_ask_groups(w, req, info_server_command, sizeof(info_server_command) - 1)
        == CORDIS_OK) {
        return CORDIS_EAGAIN;
    }
    local_hello_reply(req, s->id, INFO_DEFAULT_VERSION);
    return CORDIS_OK;
}

int
info_dispatch(struct worker *w, struct session *s, struct req *req, int argc,
              const struct cstr *argv)
{
    unsigned want = info_wanted(argc, argv);
    struct reply text;

    req->hook_arg = want;
    if ((want & INFO_FROM_GROUPS)
        && info_ask_groups(w, req, info_command, sizeof(info_command) - 1) == CORDIS_OK) {
        return CORDIS_EAGAIN;
    }
    /* Nothing to ask the groups, or no memory to ask them: what cordis knows. */
    reply_init(&text);
    info_build(w, want, NULL, 0, &text);
    info_reply(req, &text);
    return CORDIS_OK;
}

void
info_merge(struct req *parent)
{
    struct worker *w = parent->session != NULL ? parent->session->worker : NULL;
    struct info_doc docs[CORDIS_MAX_GROUPS];
    int ndocs = 0;
    struct reply text;

    if (w == NULL) {
        return;   /* the client left: nobody reads it */
    }
    memset(docs, 0, sizeof(docs));
    for (int j = 0; j < parent->nchildren; j++) {
        const struct req *c = parent->children[j];
        struct info_doc *doc = &docs[ndocs++];

        doc->group = c->group;
        doc->addr = "?";
        for (int i = 0; i < w->ngroups; i++) {
            if (w->group_ids[i] == c->group) {
                doc->addr = w->group_server[i]->addr;   /* the child's may be retired */
            }
        }
        if (c->reply_type == '$' && c->reply_int >= 0) {
            info_parse(doc, c->reply + resp_bulk_header_len((size_t)c->reply_int),
                       (size_t)c->reply_int);
        } else if (c->reply_type == '-') {
            doc->error = c->reply + 1;
            doc->error_len = c->reply_len - 3;
        } else {
            doc->error = "unexpected reply to INFO";
            doc->error_len = strlen(doc->error);
        }
    }
    if (parent->cmd->id == COMMAND_HELLO) {
        char version[64];

        info_min_version(docs, ndocs, version, sizeof(version));
        local_hello_reply(parent, parent->session->id, version);
    } else {
        reply_init(&text);
        info_build(w, parent->hook_arg, docs, ndocs, &text);
        info_reply(parent, &text);
    }
    for (int d = 0; d < ndocs; d++) {
        free(docs[d].fields);
    }
}
