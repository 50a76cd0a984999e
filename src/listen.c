/*
 * Listening sockets for the proxy and the admin server.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cordis.h"
#include "listen.h"
#include "util.h"

int
listen_open(const char *addr, int reuseport, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    int fd, on = 1;
    const char *call;

    if (util_parse_addr(addr, &ss, &sslen) != CORDIS_OK) {
        snprintf(err, errlen, "bad listen address \"%s\"", addr);
        return -1;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        call = "socket()";
        goto failed;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0) {
        call = "setsockopt(SO_REUSEADDR)";
        goto failed;
    }
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) < 0) {
        call = "setsockopt(SO_REUSEPORT)";
        goto failed;
    }
    if (ss.ss_family == AF_INET6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
    }
    if (bind(fd, (struct sockaddr *)&ss, sslen) < 0) {
        call = "bind()";
        goto failed;
    }
    if (listen(fd, LISTEN_BACKLOG) < 0) {
        call = "listen()";
        goto failed;
    }
    return fd;

failed:
    snprintf(err, errlen, "%s on %s failed (%d: %s)", call, addr, errno,
             strerror(errno));
    if (fd >= 0) {
        close(fd);
    }
    return -1;
}
