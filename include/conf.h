/*
 * Configuration: one libconfig file loaded through one schema table into one
 * struct conf. A reload builds a whole new struct conf; on any error it is
 * freed and the running one stays.
 *
 * Every scalar option has a default, a range and a flag saying whether a
 * reload can apply it in place (CONF_LIVE) or needs a new worker generation
 * (CONF_RESTART). Errors name file, line and option:
 *
 *   cordis.conf:12: slots[1].group: no group with id 7
 */
#ifndef CORDIS_CONF_H
#define CORDIS_CONF_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cordis.h"

/* Default config path when -c is not given. */
#ifndef CORDIS_DEFAULT_CONF
#define CORDIS_DEFAULT_CONF "/etc/cordis/cordis.conf"
#endif

/* Addresses in codis.dashboard. */
#define CONF_DASHBOARD_MAX 16

/* Sentinels in sentinel.addrs. */
#define CONF_SENTINELS_MAX 16
/* Longest name a sentinel monitors a group under, and the NUL. */
#define CONF_SENTINEL_NAME_LEN 128

struct conf_group {
    int   id;                                  /* 1..65535, unique */
    char  primary[CORDIS_ADDR_LEN];            /* "host:port" */
    int   nreplicas;                           /* entries used in replicas */
    char  replicas[CORDIS_MAX_REPLICAS][CORDIS_ADDR_LEN];
    char  sentinel[CONF_SENTINEL_NAME_LEN];    /* the sentinels' name for it; default
                                                  "<product_name>-<id>", as Codis's */
};

struct conf {
    char    *path;              /* file this was loaded from */

    char    *product_name;      /* shown by the admin API */
    char    *pid_file;          /* "" = none */

    struct {
        char    *file;          /* "" = stderr */
        int      level;         /* enum log_level */
    } log;

    struct {
        char    *listen;        /* "host:port" for clients */
        int      workers;       /* resolved: 0 in the file becomes nproc */
        int      workers_conf;  /* as written in the file (0 = one per CPU) */
        int      max_clients;   /* for the whole proxy, one count for all workers */
        int64_t  drain_timeout; /* ms an old worker may take to drain */
    } proxy;

    struct {
        char    *listen;        /* "host:port" of the admin HTTP server */
        char    *token;         /* bearer token for PUT routes; "" = loopback only */
    } admin;

    struct {
        char    *auth;          /* password clients must AUTH with; "" = none */
        int      max_pipeline;  /* requests in flight per client before we stop reading */
        int64_t  max_output;    /* reply bytes queued per client before we stop reading */
        int64_t  max_bulk_len;  /* largest bulk string a client may send (bytes) */
        int64_t  max_query;     /* largest request a client may send (bytes, all bulks) */
        int64_t  recv_timeout;  /* ms idle before a client is closed; 0 = never */
        int64_t  send_timeout;  /* ms a client may leave replies unread; 0 = never */
        int      max_pinned;    /* clients per worker holding a private backend connection */
        int64_t  pubsub_max_output;  /* a subscriber's unsent bytes past this: closed */
        int64_t  pubsub_soft_output; /* ... or past this for pubsub_soft_time */
        int64_t  pubsub_soft_time;   /* ms; 0 = the soft limit is off */
    } session;

    struct {
        char    *auth;          /* password sent with AUTH on connect; "" = none */
        int      databases;     /* SELECT range is 0..databases-1 */
        int      primary_parallel; /* connections per primary, per db, per worker */
        int      replica_parallel; /* connections per replica, per db, per worker */
        bool     primary_only;  /* never read from replicas (Codis's switch) */
        bool     replica_reads; /* read-only commands may go to a replica */
        int64_t  ping_period;   /* ms between keepalive PINGs; 0 = off */
        int64_t  connect_timeout; /* ms */
        int64_t  recv_timeout;  /* ms a request may wait for its reply */
        int64_t  send_timeout;  /* ms a backend may leave our writes unread */
    } backend;

    struct {
        bool     enabled;       /* slots come from a codis-dashboard: not online until
                                   PUT /api/proxy/start, and a reload keeps the slots */
        char    *product_auth;  /* Codis's product_auth: part of the xauth; the backend
                                   AUTH too when backend.auth is "" */
        char    *datacenter;    /* Codis's proxy_datacenter, shown in the model */
        char    *dashboard;     /* addresses allowed to call Codis's state-changing
                                   routes, as written ("a, b") */
        char    *host_admin;    /* admin_addr advertised in the model; "" = derived */
        char    *host_proxy;    /* proxy_addr advertised in the model; "" = derived */
        char    *jodis_name;    /* coordinator kind: "zookeeper" (etcd is not supported) */
        char    *jodis_addr;    /* ZooKeeper servers "host:port,..."; "" = no jodis */
        char    *jodis_auth;    /* "user:password": digest auth and ACL; "" = none */
        int64_t  jodis_timeout; /* ms: the ZooKeeper session timeout */
        bool     jodis_compatible; /* Codis 2's node path */
        int      ndashboard;    /* entries used in dashboard_addrs */
        struct sockaddr_storage dashboard_addrs[CONF_DASHBOARD_MAX]; /* parsed, port 0 */
    } codis;

    struct {
        int64_t  timeout;       /* ms: MIGRATE's timeout (a key on access, a batch) */
        int      rate;          /* keys per second the bulk mover may move */
        int      batch;         /* keys per MIGRATE of the bulk mover */
        char    *state_file;    /* where a migration's progress is kept; "" = none */
    } migrate;

    struct {
        char    *addrs;         /* "host:port, host:port" as written */
        char    *auth;          /* the sentinels' requirepass; "" = none */
        int64_t  timeout;       /* ms for one exchange with a sentinel or server */
        int      naddrs;        /* entries used in addr */
        char     addr[CONF_SENTINELS_MAX][CORDIS_ADDR_LEN];
    } sentinel;

    int                 ngroups;
    struct conf_group  *groups;             /* ngroups entries, file order */
    uint16_t            slot_group[CORDIS_SLOTS]; /* group id per slot; 0 = none */
};

/*
 * Loads and validates path. On success *out is a new struct conf and
 * CORDIS_OK is returned. On failure err holds one line naming file, line and
 * option, and CORDIS_ERROR is returned.
 */
int  conf_load(const char *path, struct conf **out, char *err, size_t errlen);
void conf_free(struct conf *conf);

/* Largest config file accepted (it is handed to workers in shared memory). */
#define CONF_TEXT_MAX (1024 * 1024 - 1)

/* Reads a whole config file into a new NUL-terminated buffer. */
int  conf_read_file(const char *path, char **text, size_t *size, char *err,
                    size_t errlen);
/* As conf_load, from text already read; path is used in messages and to
 * resolve @include. */
int  conf_load_text(const char *path, const char *text, size_t size,
                    struct conf **out, char *err, size_t errlen);

/* True when sa (a client's address) is one of codis.dashboard's. */
bool conf_dashboard_allows(const struct conf *conf, const struct sockaddr *sa);

/* Finds a group by id; NULL when the config has none. */
const struct conf_group *conf_group_find(const struct conf *conf, int id);

/*
 * True when going from old to new needs a new worker generation (an option
 * flagged CONF_RESTART changed, such as proxy.listen or proxy.workers).
 * When it returns true and what is not NULL, *what names the first option.
 */
bool conf_needs_restart(const struct conf *old, const struct conf *new,
                        const char **what);

#endif /* CORDIS_CONF_H */
