/*
 * Unit tests for the master/worker control channel (ctl.c): commands and
 * client connections handed over with SCM_RIGHTS, and a full channel.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "cordis.h"
#include "ctl.h"

static void
test_command_round_trip(void **state)
{
    int sv[2], fd = 12345;
    char buf[sizeof(struct ctl_handoff)];

    assert_int_equal(ctl_pair(sv), 0);
    assert_int_equal(ctl_send(sv[0], CTL_RETIRE), CORDIS_OK);
    assert_int_equal(ctl_send(sv[0], CTL_UPDATE), CORDIS_OK);
    /* Messages keep their boundaries: one byte each, in order. */
    assert_int_equal(ctl_recv(sv[1], buf, sizeof(buf), &fd), 1);
    assert_int_equal(buf[0], CTL_RETIRE);
    assert_int_equal(fd, -1);
    assert_int_equal(ctl_recv(sv[1], buf, sizeof(buf), &fd), 1);
    assert_int_equal(buf[0], CTL_UPDATE);
    /* Nothing more: non-blocking. */
    assert_int_equal(ctl_recv(sv[1], buf, sizeof(buf), &fd), -1);
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
    close(sv[0]);
    /* The peer gone: end of stream. */
    assert_int_equal(ctl_recv(sv[1], buf, sizeof(buf), &fd), 0);
    close(sv[1]);
}

static void
test_handoff_carries_the_socket_and_its_bytes(void **state)
{
    int sv[2], client[2], got = -1;
    struct ctl_handoff h, r;
    char bytes[16];

    assert_int_equal(ctl_pair(sv), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, client), 0);
    memset(&h, 0, sizeof(h));
    h.type = CTL_HANDOFF;
    h.authed = 1;
    h.db = 3;
    strcpy(h.name, "app-7");
    /* The client already sent a request that nobody read yet. */
    assert_int_equal(write(client[1], "PING\r\n", 6), 6);
    assert_int_equal(ctl_send_handoff(sv[0], &h, client[0]), CORDIS_OK);
    close(client[0]);   /* the sender's copy goes; the message holds one */

    assert_int_equal(ctl_recv(sv[1], &r, sizeof(r), &got), (int)sizeof(r));
    assert_true(got >= 0);
    assert_int_equal(r.type, CTL_HANDOFF);
    assert_int_equal(r.authed, 1);
    assert_int_equal(r.db, 3);
    assert_string_equal(r.name, "app-7");
    /* Close-on-exec is set on what we receive. */
    assert_true(fcntl(got, F_GETFD) & FD_CLOEXEC);
    /* The unread request travelled with the socket. */
    assert_int_equal(read(got, bytes, sizeof(bytes)), 6);
    assert_memory_equal(bytes, "PING\r\n", 6);
    /* And the connection still works both ways. */
    assert_int_equal(write(got, "+PONG\r\n", 7), 7);
    assert_int_equal(read(client[1], bytes, sizeof(bytes)), 7);
    assert_memory_equal(bytes, "+PONG\r\n", 7);
    close(got);
    close(client[1]);
    close(sv[0]);
    close(sv[1]);
}

static void
test_full_channel_says_eagain(void **state)
{
    int sv[2], sent = 0, pipefd[2];
    struct ctl_handoff h;

    assert_int_equal(ctl_pair(sv), 0);
    assert_int_equal(pipe(pipefd), 0);
    memset(&h, 0, sizeof(h));
    h.type = CTL_HANDOFF;
    /* Nobody reads: sooner or later the channel refuses, without blocking. */
    while (sent < 1000000 && ctl_send_handoff(sv[0], &h, pipefd[0]) == CORDIS_OK) {
        sent++;
    }
    assert_true(sent > 100);   /* room for a crowd of clients at once */
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK || errno == ETOOMANYREFS);
    close(sv[0]);
    close(sv[1]);   /* in-flight descriptors are released with the channel */
    close(pipefd[0]);
    close(pipefd[1]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_round_trip),
        cmocka_unit_test(test_handoff_carries_the_socket_and_its_bytes),
        cmocka_unit_test(test_full_channel_says_eagain),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
