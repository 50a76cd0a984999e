/*
 * The pid file: written atomically, removed only by the process it names.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cordis.h"
#include "log.h"
#include "pidfile.h"

int
pidfile_write(const char *path)
{
    char buf[32], tmp[1024];
    int fd, n;

    if (path[0] == '\0') {
        return CORDIS_OK;
    }
    /* Write a temporary file and rename it, so `cordis -s` never reads a
     * half-written pid. */
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
        log_error("pid file path \"%s\" is too long", path);
        return CORDIS_ERROR;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        log_error("open(\"%s\") failed (%d: %s), cannot write the pid file",
                  tmp, errno, strerror(errno));
        return CORDIS_ERROR;
    }
    n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    if (write(fd, buf, (size_t)n) != n || close(fd) < 0) {
        log_error("write(\"%s\") failed (%d: %s)", tmp, errno, strerror(errno));
        unlink(tmp);
        return CORDIS_ERROR;
    }
    if (rename(tmp, path) < 0) {
        log_error("rename(\"%s\", \"%s\") failed (%d: %s)", tmp, path, errno,
                  strerror(errno));
        unlink(tmp);
        return CORDIS_ERROR;
    }
    return CORDIS_OK;
}

/* Removes path when it names this process (a newer master may own it). */
void
pidfile_remove_own(const char *path)
{
    char buf[32];
    FILE *f = fopen(path, "r");

    if (f == NULL) {
        return;
    }
    if (fgets(buf, sizeof(buf), f) != NULL && atoi(buf) == (int)getpid()) {
        unlink(path);
    }
    fclose(f);
}
