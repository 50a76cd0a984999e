/*
 * Service manager notification (systemd's sd_notify protocol).
 *
 * With a unit of Type=notify, systemd waits for READY=1 before it calls the
 * service started, shows STATUS= lines in "systemctl status", and treats
 * RELOADING=1 ... READY=1 as one reload. Only masters call these.
 *
 *   startup   workers forked, sockets listening  -> notify_ready()
 *   SIGHUP    before re-reading the file          -> notify_reloading()
 *             after the reload (ok or failed)     -> notify_ready()
 *   QUIT/TERM when the stop begins                -> notify_stopping()
 *   USR2      the new master, once it serves      -> notify_mainpid(getpid()),
 *                                                    notify_ready()
 *             the old master, if the new one died -> notify_mainpid(getpid()),
 *                                                    notify_ready()
 *
 * A binary upgrade (SIGUSR2) hands the service over to a second master, so
 * the unit has NotifyAccess=all: the new master claims MAINPID before it is
 * the main process, and the old one, which is no longer, must not say
 * STOPPING=1 when it is then told to QUIT (see doc/Makefile.snippet).
 *
 * Built with libsystemd (HAVE_LIBSYSTEMD, ./configure --with-systemd) these
 * send to $NOTIFY_SOCKET; without $NOTIFY_SOCKET (not started by systemd,
 * or started with Type=forking) they do nothing. Built without libsystemd
 * every function is a no-op. They never fail and never block, and they
 * keep errno as it was.
 */
#ifndef CORDIS_NOTIFY_H
#define CORDIS_NOTIFY_H

#include <sys/types.h>

/* READY=1: startup is done, or a reload begun with notify_reloading is. */
void notify_ready(void);
/* RELOADING=1 and MONOTONIC_USEC=<now> (systemd 253 wants the timestamp). */
void notify_reloading(void);
/* STOPPING=1. */
void notify_stopping(void);
/* MAINPID=<pid>: the process systemd treats as the service's main one. */
void notify_mainpid(pid_t pid);
/* STATUS=<text>: one line shown by "systemctl status cordis". */
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* CORDIS_NOTIFY_H */
