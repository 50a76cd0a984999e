/*
 * Key hashing and route tables.
 */
#include "config.h"

#include <string.h>

#include <zlib.h>

#include "conf.h"
#include "cordis.h"
#include "router.h"
#include "shm.h"

void
router_hashtag(const char *key, size_t len, const char **tag, size_t *taglen)
{
    const char *open = memchr(key, '{', len), *close;

    if (open != NULL) {
        close = memchr(open + 1, '}', len - (size_t)(open + 1 - key));
        if (close != NULL) {
            *tag = open + 1;
            *taglen = (size_t)(close - open - 1);
            return;
        }
    }
    *tag = key;
    *taglen = len;
}

unsigned
router_slot(const char *key, size_t len)
{
    const char *tag;
    size_t taglen;
    uLong crc;

    router_hashtag(key, len, &tag, &taglen);
    /* 0 is crc32's initial value. zlib takes uInt lengths; keys past 4 GB
     * cannot reach us (bulk cap). */
    crc = crc32(0L, (const Bytef *)tag, (uInt)taglen);
    return (unsigned)(crc % CORDIS_SLOTS);
}

void
router_table_from_conf(const struct conf *conf, struct shm_route *route)
{
    memset(route, 0, sizeof(*route));
    route->ngroups = (uint32_t)conf->ngroups;
    for (int i = 0; i < conf->ngroups; i++) {
        const struct conf_group *g = &conf->groups[i];
        struct shm_group *sg = &route->groups[i];

        sg->id = (uint16_t)g->id;
        sg->nreplicas = (uint8_t)g->nreplicas;
        memcpy(sg->primary, g->primary, sizeof(sg->primary));
        memcpy(sg->replicas, g->replicas, sizeof(sg->replicas));
    }
    for (int s = 0; s < CORDIS_SLOTS; s++) {
        route->slots[s].group = conf->slot_group[s];
    }
}
