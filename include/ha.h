/*
 * High availability in the master: a group's primary may change while
 * cordis runs, through Sentinel (sentinel.h) or an operator (admin API).
 *
 * An operator's choice (HA_SOURCE_ADMIN) is not overridden by Sentinel
 * until it is lifted.
 *
 * A change edits the live route table: the group's primary becomes the new
 * address; when that address was one of the group's replicas, the old
 * primary takes its place among them (it comes back as a replica after a
 * failover). The route is published as a new generation, and the workers
 * switch between two requests.
 *
 * What was learned is kept per group with where it came from, and a reload
 * keeps it unless the file names a new primary for the group (the file's
 * primary differs from the one it had when the change was learned).
 */
#ifndef CORDIS_HA_H
#define CORDIS_HA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct master;
struct conf;
struct shm_route;

/* Where a group's primary address came from. */
enum ha_source {
    HA_SOURCE_CONFIG = 0,   /* the config file (or a dashboard's fillslots) */
    HA_SOURCE_SENTINEL,     /* the sentinels agreed on a new one */
    HA_SOURCE_ADMIN,        /* PUT /api/proxy/primary */
};

/*
 * Makes addr the primary of group gid in the live route and publishes it.
 * epoch: the sentinels' config-epoch, or -1. CORDIS_OK (also when it is the
 * primary already), or CORDIS_ERROR with err set (no such group, bad address).
 */
int ha_set_primary(struct master *m, unsigned gid, const char *addr, enum ha_source source,
                   int64_t epoch, char *err, size_t errlen);

/* Lifts an operator's choice for group gid: the sentinels decide again
 * (asked at once), or without sentinels the file's primary is back. */
int ha_release(struct master *m, unsigned gid, char *err, size_t errlen);

/* A reload built `route` from `conf`: learned primaries stay unless the
 * file changed that group's primary. */
void ha_adjust_route(struct master *m, const struct conf *conf, struct shm_route *route);

/* {"<gid>": {"primary", "source", "since_unix", "epoch", "config_primary"}} for
 * the groups whose primary is not the file's; an empty object when none. */
json_t *ha_json(const struct master *m);

/* Source of group gid's primary now. */
enum ha_source ha_source_of(const struct master *m, unsigned gid);
const char *ha_source_name(enum ha_source source);

/* Forgets what was learned (master exit). */
void ha_free(struct master *m);

#endif /* CORDIS_HA_H */
