/*
 * Logging. Each line is formatted into one buffer and written with a single
 * write(2) to a file opened O_APPEND, so lines from the master and every
 * worker interleave whole.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cordis.h"
#include "log.h"

#define LOG_LINE_MAX 2048

static struct {
    int             fd;        /* STDERR_FILENO or the opened file */
    char           *path;      /* NULL when logging to stderr */
    enum log_level  level;
    int             worker;    /* -1 = master */
} log_state = { STDERR_FILENO, NULL, LOG_LEVEL_INFO, -1 };

static const char *const log_level_names[] = { "error", "warn", "info", "debug" };

static int
log_open(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

int
log_init(const char *path, enum log_level level)
{
    log_state.level = level;
    if (path == NULL || path[0] == '\0') {
        return CORDIS_OK;
    }
    return log_set_file(path);
}

int
log_set_file(const char *path)
{
    int fd;
    char *copy;

    if (path == NULL || path[0] == '\0') {
        if (log_state.fd != STDERR_FILENO) {
            close(log_state.fd);
        }
        free(log_state.path);
        log_state.path = NULL;
        log_state.fd = STDERR_FILENO;
        return CORDIS_OK;
    }
    if (log_state.path != NULL && strcmp(log_state.path, path) == 0) {
        return CORDIS_OK;
    }
    fd = log_open(path);
    if (fd < 0) {
        log_error("open(\"%s\") failed (%d: %s), logging stays where it was",
                  path, errno, strerror(errno));
        return CORDIS_ERROR;
    }
    copy = strdup(path);
    if (copy == NULL) {
        close(fd);
        return CORDIS_ERROR;
    }
    if (log_state.fd != STDERR_FILENO) {
        close(log_state.fd);
    }
    free(log_state.path);
    log_state.path = copy;
    log_state.fd = fd;
    return CORDIS_OK;
}

int
log_reopen(void)
{
    int fd;

    if (log_state.path == NULL) {
        return CORDIS_OK;
    }
    fd = log_open(log_state.path);
    if (fd < 0) {
        log_error("reopen of \"%s\" failed (%d: %s), still writing to the old file",
                  log_state.path, errno, strerror(errno));
        return CORDIS_ERROR;
    }
    close(log_state.fd);
    log_state.fd = fd;
    return CORDIS_OK;
}

void
log_close(void)
{
    if (log_state.fd != STDERR_FILENO) {
        close(log_state.fd);
    }
    log_state.fd = STDERR_FILENO;
    free(log_state.path);
    log_state.path = NULL;
}

int
log_fd(void)
{
    return log_state.fd;
}

void
log_set_level(enum log_level level)
{
    log_state.level = level;
}

enum log_level
log_get_level(void)
{
    return log_state.level;
}

void
log_set_worker(int worker)
{
    log_state.worker = worker;
}

int
log_level_parse(const char *name)
{
    for (size_t i = 0; i < CORDIS_ARRAY_SIZE(log_level_names); i++) {
        if (strcmp(name, log_level_names[i]) == 0) {
            return (int)i;
        }
    }
    return -1;
}

const char *
log_level_name(enum log_level level)
{
    if ((unsigned)level >= CORDIS_ARRAY_SIZE(log_level_names)) {
        return "unknown";
    }
    return log_level_names[level];
}

void
log_write(enum log_level level, const char *fmt, ...)
{
    char line[LOG_LINE_MAX];
    struct timeval tv;
    struct tm tm;
    size_t n;
    int rc, saved_errno = errno;
    va_list ap;

    if (level > log_state.level) {
        return;
    }
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &tm);
    if (log_state.worker < 0) {
        rc = snprintf(line + n, sizeof(line) - n, ".%03d [%s] %d master: ",
                      (int)(tv.tv_usec / 1000), log_level_names[level], (int)getpid());
    } else {
        rc = snprintf(line + n, sizeof(line) - n, ".%03d [%s] %d worker %d: ",
                      (int)(tv.tv_usec / 1000), log_level_names[level], (int)getpid(),
                      log_state.worker);
    }
    n += (size_t)rc;
    va_start(ap, fmt);
    rc = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (rc < 0) {
        rc = 0;
    }
    n += CORDIS_MIN((size_t)rc, sizeof(line) - n - 2);
    line[n++] = '\n';
    /* One write per line; a short write to a log is not worth retrying. */
    if (write(log_state.fd, line, n) < 0) {
        /* nowhere left to report it */
    }
    errno = saved_errno;
}
