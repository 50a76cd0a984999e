/*
 * Service manager notification: thin wrappers around libsystemd's
 * sd_notify(3), or no-ops in a build without it. See include/notify.h.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "notify.h"

#ifdef HAVE_LIBSYSTEMD

#include <systemd/sd-daemon.h>

/* Longest STATUS= text passed on; the rest is cut. */
#define NOTIFY_STATUS_MAX 256

/*
 * unset_environment is 0 everywhere: the master keeps notifying for its
 * whole life, and a new master started by a binary upgrade inherits
 * $NOTIFY_SOCKET from it. Workers inherit it too but never call these.
 */
static void
notify_send(const char *state)
{
    int saved = errno;

    (void)sd_notify(0, state);
    errno = saved;
}

void
notify_ready(void)
{
    notify_send("READY=1");
}

void
notify_reloading(void)
{
    struct timespec ts;
    char            msg[64];
    int             saved = errno;

    /*
     * systemd 253 and later match RELOADING=1 to the reload request by
     * this CLOCK_MONOTONIC timestamp (Type=notify-reload); earlier ones
     * ignore the field.
     */
    if (clock_gettime(CLOCK_MONOTONIC, &ts) == 0) {
        snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
                 (unsigned long long)ts.tv_sec * 1000000ULL
                 + (unsigned long long)ts.tv_nsec / 1000ULL);
        notify_send(msg);
    } else {
        notify_send("RELOADING=1");
    }
    errno = saved;
}

void
notify_stopping(void)
{
    notify_send("STOPPING=1");
}

void
notify_mainpid(pid_t pid)
{
    char msg[32];

    snprintf(msg, sizeof(msg), "MAINPID=%ld", (long)pid);
    notify_send(msg);
}

void
notify_status(const char *fmt, ...)
{
    char    msg[sizeof("STATUS=") + NOTIFY_STATUS_MAX];
    char   *p;
    va_list ap;
    int     saved = errno;

    memcpy(msg, "STATUS=", sizeof("STATUS=") - 1);
    va_start(ap, fmt);
    vsnprintf(msg + sizeof("STATUS=") - 1, NOTIFY_STATUS_MAX + 1, fmt, ap);
    va_end(ap);
    /* One line: a newline would start another assignment. */
    for (p = msg; *p != '\0'; p++) {
        if (*p == '\n' || *p == '\r') {
            *p = ' ';
        }
    }
    notify_send(msg);
    errno = saved;
}

#else /* !HAVE_LIBSYSTEMD */

void
notify_ready(void)
{
}

void
notify_reloading(void)
{
}

void
notify_stopping(void)
{
}

void
notify_mainpid(pid_t pid)
{
    (void)pid;
}

void
notify_status(const char *fmt, ...)
{
    (void)fmt;
}

#endif /* HAVE_LIBSYSTEMD */
