/*
 * The shared-memory segment: one MAP_SHARED mapping of a memfd, made by the
 * master before the first fork, so every worker sees the same pages.
 *
 *   header      magic, layout version and size, generation counters
 *   route[2]    groups and the 1024-slot table, double-buffered
 *   conf[2]     the text of the validated config file, double-buffered
 *   rows[]      one stats row per worker (see stats.h), written only by it
 *   scripts     Lua script bodies loaded through cordis (see scripts.h)
 *
 * Only the master writes route and conf. It fills the inactive copy, then
 * publishes it by bumping the generation with a release store; the copy in
 * use is generation & 1. Workers read with shm_route_copy / shm_conf_copy,
 * which retry when the generation moved while they copied (a seqlock), so
 * the hot path takes no lock: it compares one acquire-loaded counter.
 */
#ifndef CORDIS_SHM_H
#define CORDIS_SHM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cordis.h"
#include "scripts.h"
#include "stats.h"

#define SHM_MAGIC    0x53445243u   /* "CRDS" */
#define SHM_VERSION  5u
/* Largest config file text that can be handed to workers. */
#define SHM_CONF_MAX (1024 * 1024)
/* Stats rows: twice the workers, so a retiring generation keeps its rows
 * while the next one starts. */
#define SHM_ROWS     (2 * CORDIS_MAX_WORKERS)

struct shm_group {
    uint16_t id;                                   /* group id; 0 = unused entry */
    uint8_t  nreplicas;                            /* replicas in use */
    char     primary[CORDIS_ADDR_LEN];             /* "host:port" */
    char     replicas[CORDIS_MAX_REPLICAS][CORDIS_ADDR_LEN];
};

struct shm_slot {
    uint16_t group;          /* owning group id; 0 = not served */
    uint16_t migrate_from;   /* group the slot is moving from; 0 = none */
    uint8_t  locked;         /* requests wait (Codis's slot lock) */
    uint8_t  method;         /* enum migrate_method: how migrate_from is handled */
};

struct shm_route {
    uint32_t          ngroups;                     /* entries used in groups */
    struct shm_group  groups[CORDIS_MAX_GROUPS];
    struct shm_slot   slots[CORDIS_SLOTS];
};

struct shm_conf {
    uint32_t size;                                 /* bytes used in text */
    char     path[1024];                           /* the file it came from */
    char     text[SHM_CONF_MAX];                   /* NUL-terminated */
};

struct shm_header {
    uint32_t magic;            /* SHM_MAGIC */
    uint32_t version;          /* SHM_VERSION: readers refuse another */
    uint64_t size;             /* bytes mapped */
    uint64_t route_gen;        /* route copy in use = route_gen & 1 */
    uint64_t conf_gen;         /* conf copy in use = conf_gen & 1 */
    int32_t  log_level;        /* workers' log level (config or admin API) */
    uint32_t clients;          /* client connections open in every worker: one
                                  count for proxy.max_clients (atomic) */
    int64_t  started;          /* unix time the master started (INFO uptime) */
    char     run_id[41];       /* 40 random hex digits per master (INFO run_id) */
    uint64_t ops_per_sec;      /* requests per second over the last second (admin tick) */
    uint32_t online;           /* 0 = new clients get "-ERR router is not online" and are
                                  closed (codis.enabled, before PUT /api/proxy/start) */
};

struct shm {
    struct shm_header   header;
    struct shm_route    route[2];
    struct shm_conf     conf[2];
    struct stats_row    rows[SHM_ROWS];
    struct stats_total  carried;   /* final counts of earlier masters (upgrades) */
    struct scripts_store scripts;  /* Lua script bodies by sha (scripts.h) */
};

/* Maps a new zeroed segment (a memfd: reachable only through fork/exec). */
struct shm *shm_create(void);
void        shm_destroy(struct shm *shm);
/* The segment's memfd (handed to a new binary on upgrade). */
int         shm_fd(void);
/* Maps an older master's segment (by its memfd) read-only, to read its
 * stats; NULL when the layout is not this binary's. */
const struct shm *shm_map_old(int fd);
void        shm_unmap_old(const struct shm *old);
/* Checks magic, version and size; CORDIS_OK when the layout is ours. */
int         shm_check(const struct shm *shm);

/* Master: publish a new route table / config text. */
void        shm_route_publish(struct shm *shm, const struct shm_route *route);
int         shm_conf_publish(struct shm *shm, const char *path,
                             const char *text, size_t size);

/* Readers: the current generation (acquire). */
uint64_t    shm_route_gen(const struct shm *shm);
uint64_t    shm_conf_gen(const struct shm *shm);
/* Copies a consistent route table; returns the generation it belongs to. */
uint64_t    shm_route_copy(const struct shm *shm, struct shm_route *out);
/* Copies a consistent config text (out must hold SHM_CONF_MAX bytes). */
uint64_t    shm_conf_copy(const struct shm *shm, char *path, size_t pathlen,
                          char *text, size_t *size);

/* Finds a group by id in a route table; NULL when absent. */
const struct shm_group *shm_route_group(const struct shm_route *route, int id);

#endif /* CORDIS_SHM_H */
