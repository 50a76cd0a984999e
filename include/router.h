/*
 * Routing: key -> slot (Codis's hash, bit for bit) and the route table that
 * maps slots to groups and groups to addresses.
 *
 *   slot = crc32(hashtag(key)) % 1024
 *
 * hashtag(key) is the bytes between the first '{' and the next '}' when
 * both are present ("{}" hashes the empty string), else the whole key.
 * crc32 is the IEEE polynomial, zlib's crc32().
 */
#ifndef CORDIS_ROUTER_H
#define CORDIS_ROUTER_H

#include <stddef.h>
#include <stdint.h>

struct conf;
struct shm_route;

/* The bytes of key that are hashed (its hashtag, or all of it). */
void     router_hashtag(const char *key, size_t len, const char **tag, size_t *taglen);
/* Slot of a key: 0..CORDIS_SLOTS-1. */
unsigned router_slot(const char *key, size_t len);

/* Fills a route table (groups and slot owners) from a config. */
void     router_table_from_conf(const struct conf *conf, struct shm_route *route);

#endif /* CORDIS_ROUTER_H */
