/*
 * A group's primary changed while running: the route edit, what was
 * learned, and what a reload keeps. See ha.h.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "conf.h"
#include "cordis.h"
#include "ha.h"
#include "log.h"
#include "master.h"
#include "sentinel.h"
#include "shm.h"
#include "util.h"

/* A group whose primary is not the file's. */
struct ha_learned {
    uint16_t gid;
    uint8_t  source;                        /* enum ha_source */
    int64_t  epoch;                         /* the sentinels' config-epoch, or -1 */
    int64_t  since;                         /* unix time of the change */
    char     primary[CORDIS_ADDR_LEN];
    char     conf_primary[CORDIS_ADDR_LEN]; /* the file's primary when it was learned */
};

struct ha {
    int               n;
    struct ha_learned groups[CORDIS_MAX_GROUPS];
};

static struct shm_group *
ha_route_group(struct shm_route *route, unsigned gid)
{
    for (uint32_t i = 0; i < route->ngroups && i < CORDIS_MAX_GROUPS; i++) {
        if (route->groups[i].id == gid) {
            return &route->groups[i];
        }
    }
    return NULL;
}

/* addr becomes g's primary; a replica promoted swaps places with the old
 * primary, which is expected back as a replica. */
static void
ha_promote(struct shm_group *g, const char *addr)
{
    for (int r = 0; r < g->nreplicas; r++) {
        if (util_addr_same(g->replicas[r], addr)) {
            memcpy(g->replicas[r], g->primary, sizeof(g->replicas[r]));
            break;
        }
    }
    snprintf(g->primary, sizeof(g->primary), "%s", addr);
}

static struct ha_learned *
ha_find(const struct master *m, unsigned gid)
{
    if (m->ha == NULL) {
        return NULL;
    }
    for (int i = 0; i < m->ha->n; i++) {
        if (m->ha->groups[i].gid == gid) {
            return &m->ha->groups[i];
        }
    }
    return NULL;
}

static void
ha_forget(struct master *m, struct ha_learned *l)
{
    *l = m->ha->groups[--m->ha->n];
}

static int
ha_remember(struct master *m, unsigned gid, const char *addr, enum ha_source source,
            int64_t epoch)
{
    const struct conf_group *cg = conf_group_find(m->conf, (int)gid);
    struct ha_learned *l = ha_find(m, gid);

    if (cg != NULL && util_addr_same(cg->primary, addr)) {
        if (l != NULL) {
            ha_forget(m, l);   /* back to the file's primary */
        }
        return CORDIS_OK;
    }
    if (l == NULL) {
        if (m->ha == NULL && (m->ha = calloc(1, sizeof(*m->ha))) == NULL) {
            return CORDIS_ERROR;
        }
        if (m->ha->n >= CORDIS_MAX_GROUPS) {
            return CORDIS_ERROR;
        }
        l = &m->ha->groups[m->ha->n++];
        l->gid = (uint16_t)gid;
        snprintf(l->conf_primary, sizeof(l->conf_primary), "%s", cg != NULL ? cg->primary : "");
    }
    l->source = (uint8_t)source;
    l->epoch = epoch;
    l->since = (int64_t)time(NULL);
    snprintf(l->primary, sizeof(l->primary), "%s", addr);
    return CORDIS_OK;
}

int
ha_set_primary(struct master *m, unsigned gid, const char *addr, enum ha_source source,
               int64_t epoch, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    struct shm_route *route;
    struct shm_group *g;
    char old[CORDIS_ADDR_LEN];

    if (strlen(addr) >= CORDIS_ADDR_LEN || util_parse_addr(addr, &ss, &len) != CORDIS_OK) {
        snprintf(err, errlen, "%s is not an address such as \"127.0.0.1:6379\"", addr);
        return CORDIS_ERROR;
    }
    route = malloc(sizeof(*route));
    if (route == NULL) {
        snprintf(err, errlen, "out of memory");
        return CORDIS_ERROR;
    }
    shm_route_copy(m->shm, route);
    g = ha_route_group(route, gid);
    if (g == NULL) {
        free(route);
        snprintf(err, errlen, "no group with id %u", gid);
        return CORDIS_ERROR;
    }
    if (util_addr_same(g->primary, addr)) {
        free(route);
        return CORDIS_OK;
    }
    memcpy(old, g->primary, sizeof(old));
    ha_promote(g, addr);
    if (epoch >= 0) {
        log_warn("group %u: primary %s -> %s (%s, config-epoch %lld)", gid, old, addr,
                 ha_source_name(source), (long long)epoch);
    } else {
        log_warn("group %u: primary %s -> %s (%s)", gid, old, addr, ha_source_name(source));
    }
    master_publish_route(m, route);
    free(route);
    if (ha_remember(m, gid, addr, source, epoch) != CORDIS_OK) {
        log_error("group %u: the new primary is in use but will not survive a reload "
                  "(out of memory)", gid);
    }
    return CORDIS_OK;
}

int
ha_release(struct master *m, unsigned gid, char *err, size_t errlen)
{
    const struct conf_group *cg = conf_group_find(m->conf, (int)gid);
    struct ha_learned *l = ha_find(m, gid);

    if (l == NULL || l->source != HA_SOURCE_ADMIN) {
        return CORDIS_OK;   /* nothing to lift */
    }
    if (m->sentinel != NULL) {
        /* The sentinels decide from now on: asked at once, they keep this
         * primary or move the group to theirs. */
        l->source = HA_SOURCE_SENTINEL;
        log_info("group %u: the primary set through the admin API is lifted; the sentinels "
                 "decide", gid);
        sentinel_rewatch(m);
        return CORDIS_OK;
    }
    ha_forget(m, l);
    log_info("group %u: the primary set through the admin API is lifted", gid);
    return cg != NULL ? ha_set_primary(m, gid, cg->primary, HA_SOURCE_CONFIG, -1, err, errlen)
                      : CORDIS_OK;
}

void
ha_adjust_route(struct master *m, const struct conf *conf, struct shm_route *route)
{
    for (int i = 0; m->ha != NULL && i < m->ha->n;) {
        struct ha_learned *l = &m->ha->groups[i];
        const struct conf_group *cg = conf_group_find(conf, l->gid);
        struct shm_group *g = ha_route_group(route, l->gid);

        if (cg == NULL || g == NULL || !util_addr_same(cg->primary, l->conf_primary)) {
            log_info("group %u: the file names its primary now (%s); %s from %s is dropped",
                     (unsigned)l->gid, cg != NULL ? cg->primary : "group removed", l->primary,
                     ha_source_name((enum ha_source)l->source));
            ha_forget(m, l);
            continue;
        }
        ha_promote(g, l->primary);
        i++;
    }
}

json_t *
ha_json(const struct master *m)
{
    json_t *o = json_object();

    for (int i = 0; m->ha != NULL && i < m->ha->n; i++) {
        const struct ha_learned *l = &m->ha->groups[i];
        char key[16];

        snprintf(key, sizeof(key), "%u", (unsigned)l->gid);
        json_object_set_new(o, key, json_pack(
            "{s:s, s:s, s:I, s:I, s:s}", "primary", l->primary,
            "source", ha_source_name((enum ha_source)l->source), "since_unix", (json_int_t)l->since,
            "epoch", (json_int_t)l->epoch, "config_primary", l->conf_primary));
    }
    return o;
}

enum ha_source
ha_source_of(const struct master *m, unsigned gid)
{
    const struct ha_learned *l = ha_find(m, gid);

    return l != NULL ? (enum ha_source)l->source : HA_SOURCE_CONFIG;
}

const char *
ha_source_name(enum ha_source source)
{
    switch (source) {
    case HA_SOURCE_SENTINEL:
        return "sentinel";
    case HA_SOURCE_ADMIN:
        return "admin";
    case HA_SOURCE_CONFIG:
        break;
    }
    return "config";
}

void
ha_free(struct master *m)
{
    free(m->ha);
    m->ha = NULL;
}
