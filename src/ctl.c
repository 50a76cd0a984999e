/*
 * The master/worker control channel. See ctl.h.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cordis.h"
#include "ctl.h"

/* Send buffer of each end of a control channel. */
#define CTL_BUFFER (4 * 1024 * 1024)

int
ctl_pair(int sv[2])
{
    int size = CTL_BUFFER;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0) {
        return -1;
    }
    /* A retiring worker may hand over thousands of clients at once: room
     * for many messages (past the system maximum when we may). Whatever
     * does not fit is retried. */
    for (int i = 0; i < 2; i++) {
        if (setsockopt(sv[i], SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0) {
            setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
        }
    }
    return 0;
}

int
ctl_send(int fd, enum ctl_cmd cmd)
{
    char c = (char)cmd;
    ssize_t n;

    do {
        n = send(fd, &c, 1, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n == 1 ? CORDIS_OK : CORDIS_ERROR;
}

int
ctl_send_msg(int fd, const void *msg, size_t len, int conn_fd)
{
    union {
        struct cmsghdr align;
        char           buf[CMSG_SPACE(sizeof(int))];
    } control;
    struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };
    struct msghdr msg_hdr;
    struct cmsghdr *cmsg;
    ssize_t n;

    memset(&msg_hdr, 0, sizeof(msg_hdr));
    memset(&control, 0, sizeof(control));
    msg_hdr.msg_iov = &iov;
    msg_hdr.msg_iovlen = 1;
    if (conn_fd >= 0) {
        msg_hdr.msg_control = control.buf;
        msg_hdr.msg_controllen = sizeof(control.buf);
        cmsg = CMSG_FIRSTHDR(&msg_hdr);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &conn_fd, sizeof(int));
    }
    do {
        n = sendmsg(fd, &msg_hdr, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n == (ssize_t)len ? CORDIS_OK : CORDIS_ERROR;
}

int
ctl_send_handoff(int fd, const struct ctl_handoff *h, int conn_fd)
{
    return ctl_send_msg(fd, h, sizeof(*h), conn_fd);
}

int
ctl_recv(int fd, void *buf, size_t size, int *conn_fd)
{
    union {
        struct cmsghdr align;
        char           buf[CMSG_SPACE(sizeof(int))];
    } control;
    struct iovec iov = { .iov_base = buf, .iov_len = size };
    struct msghdr msg;
    struct cmsghdr *cmsg;
    ssize_t n;

    *conn_fd = -1;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof(control.buf);
    do {
        n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return -1;
    }
    for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS
            && cmsg->cmsg_len == CMSG_LEN(sizeof(int))) {
            memcpy(conn_fd, CMSG_DATA(cmsg), sizeof(int));
        }
    }
    return (int)n;
}
