/*
 * Binary upgrade: handing sockets and shared memory to a new master.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "admin.h"
#include "conf.h"
#include "ctl.h"
#include "log.h"
#include "master.h"
#include "shm.h"
#include "upgrade.h"
#include "notify.h"

static void
upgrade_pid_names(const struct master *m, char *oldbin, size_t size)
{
    snprintf(oldbin, size, "%s.oldbin", m->conf->pid_file);
}

/* Lets fd survive exec. */
static int
upgrade_keep_open(int fd)
{
    int flags = fcntl(fd, F_GETFD);

    return flags < 0 ? -1 : fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
}

int
upgrade_start(struct master *m)
{
    char env[64 + CORDIS_ADDR_LEN + CORDIS_MAX_WORKERS * 12], oldbin[1100];
    int admin_fd = -1, n, pair[2];
    size_t used;
    pid_t pid;

    if (m->upgrade_pid != 0) {
        log_warn("binary upgrade: a new master (pid %d) is already running; "
                 "send it QUIT first or QUIT this one", (int)m->upgrade_pid);
        return CORDIS_ERROR;
    }
    if (m->opts->exe == NULL) {
        log_error("binary upgrade: the path of this binary is unknown");
        return CORDIS_ERROR;
    }
    admin_fds(m->admin, &admin_fd, 1);
    if (ctl_pair(pair) < 0) {
        log_error("binary upgrade: socketpair() failed (%d: %s)", errno, strerror(errno));
        return CORDIS_ERROR;
    }
    n = snprintf(env, sizeof(env), "listen=%s;fds=", m->listen_addr);
    used = (size_t)n;
    for (int i = 0; i < m->nlisten && used < sizeof(env); i++) {
        used += (size_t)snprintf(env + used, sizeof(env) - used, "%s%d", i > 0 ? "," : "",
                                 m->listen_fds[i]);
    }
    if (used < sizeof(env)) {
        snprintf(env + used, sizeof(env) - used, ";admin=%d;shm=%d;peer=%d", admin_fd,
                 shm_fd(), pair[1]);
    }
    if (m->conf->pid_file[0] != '\0') {
        upgrade_pid_names(m, oldbin, sizeof(oldbin));
        if (rename(m->conf->pid_file, oldbin) < 0) {
            log_error("binary upgrade: rename(\"%s\", \"%s\") failed (%d: %s)",
                      m->conf->pid_file, oldbin, errno, strerror(errno));
            close(pair[0]);
            close(pair[1]);
            return CORDIS_ERROR;
        }
    }
    pid = fork();
    if (pid < 0) {
        log_error("binary upgrade: fork() failed (%d: %s)", errno, strerror(errno));
        if (m->conf->pid_file[0] != '\0') {
            rename(oldbin, m->conf->pid_file);
        }
        close(pair[0]);
        close(pair[1]);
        return CORDIS_ERROR;
    }
    if (pid == 0) {
        for (int i = 0; i < m->nlisten; i++) {
            upgrade_keep_open(m->listen_fds[i]);
        }
        if (admin_fd >= 0) {
            upgrade_keep_open(admin_fd);
        }
        upgrade_keep_open(shm_fd());
        upgrade_keep_open(pair[1]);
        setenv(UPGRADE_ENV, env, 1);
        execv(m->opts->exe, m->opts->argv);
        log_error("binary upgrade: execv(\"%s\") failed (%d: %s)", m->opts->exe, errno,
                  strerror(errno));
        _exit(1);
    }
    close(pair[1]);
    m->successor_fd = pair[0];
    m->upgrade_pid = pid;
    log_info("binary upgrade: started %s as pid %d; QUIT this master (pid %d) once it serves",
             m->opts->exe, (int)pid, (int)getpid());
    return CORDIS_OK;
}

void
upgrade_child_exited(struct master *m, int status)
{
    char oldbin[1100];

    log_error("binary upgrade: the new master (pid %d) exited with status %d; "
              "this master keeps serving", (int)m->upgrade_pid,
              WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    m->upgrade_pid = 0;
    notify_mainpid(getpid());
    notify_ready();
    if (m->successor_fd >= 0) {
        close(m->successor_fd);
        m->successor_fd = -1;
    }
    if (m->conf->pid_file[0] != '\0') {
        upgrade_pid_names(m, oldbin, sizeof(oldbin));
        if (rename(oldbin, m->conf->pid_file) < 0 && errno != ENOENT) {
            log_error("rename(\"%s\", \"%s\") failed (%d: %s)", oldbin, m->conf->pid_file,
                      errno, strerror(errno));
        }
    }
}

/* Parses "5,6,7" into fds; returns the count or -1. */
static int
upgrade_parse_fds(const char *text, int *fds, int max)
{
    int n = 0;

    while (*text != '\0' && *text != ';') {
        char *end;
        long fd = strtol(text, &end, 10);

        if (end == text || fd < 0 || fd > 65535 || n == max) {
            return -1;
        }
        fds[n++] = (int)fd;
        text = *end == ',' ? end + 1 : end;
    }
    return n;
}

bool
upgrade_inherited(struct upgrade_inherit *in)
{
    const char *env = getenv(UPGRADE_ENV), *p;
    char copy[64 + CORDIS_ADDR_LEN + CORDIS_MAX_WORKERS * 12], *field, *save;

    memset(in, 0, sizeof(*in));
    in->admin_fd = -1;
    in->shm_fd = -1;
    in->peer_fd = -1;
    if (env == NULL || strlen(env) >= sizeof(copy)) {
        return false;
    }
    strcpy(copy, env);
    unsetenv(UPGRADE_ENV);
    for (field = strtok_r(copy, ";", &save); field != NULL; field = strtok_r(NULL, ";", &save)) {
        if (strncmp(field, "listen=", 7) == 0) {
            snprintf(in->addr, sizeof(in->addr), "%s", field + 7);
        } else if (strncmp(field, "fds=", 4) == 0) {
            in->nlisten = upgrade_parse_fds(field + 4, in->listen_fds, CORDIS_MAX_WORKERS);
        } else if ((p = field, strncmp(p, "admin=", 6) == 0)) {
            in->admin_fd = atoi(p + 6);
        } else if (strncmp(field, "shm=", 4) == 0) {
            in->shm_fd = atoi(field + 4);
        } else if (strncmp(field, "peer=", 5) == 0) {
            in->peer_fd = atoi(field + 5);
        }
    }
    if (in->nlisten < 0) {
        in->nlisten = 0;
    }
    /* From here on they are ours: close them on any later exec. */
    for (int i = 0; i < in->nlisten; i++) {
        fcntl(in->listen_fds[i], F_SETFD, FD_CLOEXEC);
    }
    if (in->admin_fd >= 0) {
        fcntl(in->admin_fd, F_SETFD, FD_CLOEXEC);
    }
    if (in->shm_fd >= 0) {
        fcntl(in->shm_fd, F_SETFD, FD_CLOEXEC);
    }
    if (in->peer_fd >= 0) {
        fcntl(in->peer_fd, F_SETFD, FD_CLOEXEC);
    }
    return true;
}
