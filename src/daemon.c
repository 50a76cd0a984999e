/*
 * Running in the background (-d): the parent waits until the master says
 * it is ready, so `cordis -d` exits 0 only when cordis serves.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "cordis.h"
#include "daemon.h"
#include "log.h"

int
daemon_start(int *ready_fd)
{
    int pipefd[2], devnull;
    pid_t pid;
    char c;

    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        log_error("pipe() failed (%d: %s)", errno, strerror(errno));
        return CORDIS_ERROR;
    }
    pid = fork();
    if (pid < 0) {
        log_error("fork() failed (%d: %s)", errno, strerror(errno));
        return CORDIS_ERROR;
    }
    if (pid > 0) {
        /* The parent exits when the master says it is ready (or failed). */
        close(pipefd[1]);
        _exit(read(pipefd[0], &c, 1) == 1 && c == '0' ? 0 : 1);
    }
    close(pipefd[0]);
    setsid();
    devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDOUT_FILENO);
        close(devnull);
    }
    *ready_fd = pipefd[1];
    return CORDIS_OK;
}

void
daemon_quiet_stderr(int ready_fd)
{
    int devnull;

    if (ready_fd < 0) {
        return;
    }
    devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
        dup2(devnull, STDERR_FILENO);
        close(devnull);
    }
}

void
daemon_ready(int *ready_fd, bool ok)
{
    if (*ready_fd < 0) {
        return;
    }
    if (write(*ready_fd, ok ? "0" : "1", 1) < 0) {
        /* the parent is gone: nothing to tell */
    }
    close(*ready_fd);
    *ready_fd = -1;
    daemon_quiet_stderr(0);
}
