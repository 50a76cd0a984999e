/*
 * Sentinel: the master follows Redis Sentinel for each group's primary, as
 * codis-proxy does. The workers never talk to sentinels.
 *
 * The sentinels are sentinel.addrs from the config, or, when that is empty,
 * the list a codis-dashboard sent (PUT /api/proxy/sentinels). Each group is
 * known to them by its `sentinel` name (default "<product_name>-<gid>").
 *
 *   - At start each sentinel is asked SENTINEL get-master-addr-by-name for
 *     each group; an address named by a majority of the sentinels (of all
 *     configured, not of those that answered) is taken.
 *   - Every sentinel's +switch-master channel is subscribed. A message for
 *     one of our names is only a trigger: every sentinel is then asked
 *     SENTINEL MASTERS; with answers from a majority, each group takes the
 *     address with the highest config-epoch among them. The same check runs
 *     every 30 s, in case a message was missed while a sentinel was away.
 *   - Before an address is used, ROLE on it must say "master". Then the
 *     master publishes it (ha.h): a new route generation, logged old -> new.
 *
 * The talking is done by a thread of the master with blocking sockets and
 * sentinel.timeout on each exchange; what it decides reaches the master's
 * loop through an ev_async, so the route is only ever edited there.
 * Sentinels that cannot be reached are retried 1 s to 30 s apart.
 */
#ifndef CORDIS_SENTINEL_H
#define CORDIS_SENTINEL_H

#include <jansson.h>

struct master;

/* Starts, restarts (new sentinels, names or auth) or stops following the
 * sentinels to match the config and the dashboard's list. */
void sentinel_update(struct master *m);

/* Asks the sentinels again now (PUT /api/proxy/sentinels/.../rewatch). */
void sentinel_rewatch(struct master *m);

/* Stops the thread (master exit). */
void sentinel_stop(struct master *m);

/* {"servers": [{"addr", "state", "error"}], "checked_unix", "switches",
 *  "answered"} for the admin API; null when not following. */
json_t *sentinel_json(struct master *m);

#endif /* CORDIS_SENTINEL_H */
