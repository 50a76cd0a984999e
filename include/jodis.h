/*
 * Jodis: the proxy's entry in ZooKeeper, through which Codis's clients
 * (Jodis for Java, and its ports) find the proxies of a product.
 *
 * While the proxy is online it holds an ephemeral node
 *
 *   /jodis/<product_name>/proxy-<token>          (codis.jodis_compatible false)
 *   /zk/codis/db_<product_name>/proxy/<token>    (true: Codis 2's layout)
 *
 * whose data is Codis's JSON object (4-space indented, keys sorted):
 * {"addr", "admin", "start", "state": "online", "token"}. The parent
 * znodes are made as needed. When the node goes (session expired, deleted
 * by hand) it is made again; when another session holds it (the master
 * this one replaced in an upgrade, or our own session from before a
 * crash, until ZooKeeper expires it) it is watched until it goes. A
 * graceful or fast stop deletes it first, so clients stop choosing this
 * proxy before it drains.
 *
 * ZooKeeper's C client (libzookeeper-mt) runs its own threads; cordis's
 * part runs in one more thread of the master, with the library's
 * synchronous calls, so the master's loop never waits on ZooKeeper.
 */
#ifndef CORDIS_JODIS_H
#define CORDIS_JODIS_H

#include <stdbool.h>
#include <stddef.h>

struct jodis;

/* What the registration is doing, for the admin API. */
enum jodis_state {
    JODIS_CONNECTING = 0,   /* no ZooKeeper session yet (or it was lost) */
    JODIS_WAITING,          /* another session holds the node */
    JODIS_REGISTERED,       /* the node is ours */
    JODIS_STOPPED,
};

/*
 * Starts registering `data` at `path` with the ZooKeeper servers `addrs`
 * ("host:port,host:port"); auth is "user:password" for a digest ACL, or
 * "". NULL when the thread cannot be started.
 */
struct jodis *jodis_start(const char *addrs, const char *auth, int timeout_ms,
                          const char *path, const char *data);

/* Deletes the node if it is ours, closes the session and frees j. Waits
 * at most about the session timeout. */
void jodis_stop(struct jodis *j);

enum jodis_state jodis_state(struct jodis *j);
const char *jodis_state_name(enum jodis_state state);

/* The znode path for a product and token; false when it does not fit. */
bool jodis_path(char *out, size_t size, const char *product, const char *token,
                bool compatible);

#endif /* CORDIS_JODIS_H */
