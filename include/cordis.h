/*
 * cordis - a Redis sharding proxy.
 *
 * Definitions shared by every module: status codes, the slot count, a
 * borrowed byte string, and a few small macros.
 */
#ifndef CORDIS_H
#define CORDIS_H

#include <stddef.h>
#include <stdint.h>

#define CORDIS_OK       0
#define CORDIS_ERROR   -1
#define CORDIS_EAGAIN  -2

/* Codis's slot count: slot = crc32(hashtag(key)) % CORDIS_SLOTS. */
#define CORDIS_SLOTS    1024

/* Upper bound on groups a config may name (fixes the shared-memory layout). */
#define CORDIS_MAX_GROUPS    256
/* Upper bound on replicas per group. */
#define CORDIS_MAX_REPLICAS  4
/* Upper bound on worker processes. */
#define CORDIS_MAX_WORKERS   64
/* Longest "host:port" text we keep, NUL included. */
#define CORDIS_ADDR_LEN      64

#define CORDIS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define CORDIS_MIN(a, b)     ((a) < (b) ? (a) : (b))
#define CORDIS_MAX(a, b)     ((a) > (b) ? (a) : (b))
#define CORDIS_UNUSED(x)     ((void)(x))
#define CORDIS_LIKELY(x)     __builtin_expect(!!(x), 1)
#define CORDIS_UNLIKELY(x)   __builtin_expect(!!(x), 0)

/* A byte string that points into someone else's buffer. */
struct cstr {
    const char *ptr;   /* first byte, not NUL-terminated */
    size_t      len;   /* length in bytes */
};

#endif /* CORDIS_H */
