/*
 * Listening sockets. The master opens one SO_REUSEPORT socket per worker
 * slot on the proxy address and keeps them for its whole life, so a worker
 * that dies or a new worker generation never makes the kernel refuse or
 * reset a connection waiting in a queue.
 */
#ifndef CORDIS_LISTEN_H
#define CORDIS_LISTEN_H

#include <stddef.h>

#define LISTEN_BACKLOG 511

/*
 * Opens a non-blocking listening TCP socket on addr ("host:port").
 * reuseport: set SO_REUSEPORT so several sockets share the address.
 * Returns the fd, or -1 with err filled ("bind() to 0.0.0.0:19000 failed
 * (98: Address already in use)").
 */
int listen_open(const char *addr, int reuseport, char *err, size_t errlen);

#endif /* CORDIS_LISTEN_H */
