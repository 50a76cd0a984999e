/*
 * The admin HTTP server, in the master: libmicrohttpd driven from the
 * master's libev loop (external polling on MHD's epoll fd, MHD's timeout as
 * an ev_timer), so the master has no threads and fork stays safe.
 *
 *   GET  /                        the dashboard (one page built into the binary)
 *   GET  /api/proxy/model         version, addresses, workers, last reload
 *   GET  /api/proxy/stats         Codis's stats shape plus cordis's additions
 *   GET  /api/proxy/slots         1024 slot entries
 *   GET  /metrics                 Prometheus text format
 *   PUT  /api/proxy/fillslots     JSON array of slots (Codis's or {id, group})
 *   PUT  /api/proxy/stats/reset   zero the counters the API reports
 *   PUT  /api/proxy/loglevel/L    error | warn | info | debug
 *   PUT  /api/proxy/reload        as SIGHUP; returns the result
 *   PUT  /api/proxy/shutdown      graceful stop
 *
 * PUT routes need "Authorization: Bearer <admin.token>" when a token is
 * set, else a loopback client; a browser Origin header on a PUT is refused.
 */
#ifndef CORDIS_ADMIN_H
#define CORDIS_ADMIN_H

struct master;
struct admin;

/* Starts the server on m->conf->admin.listen; NULL (logged) on failure.
 * inherited_fd: a listening socket from an upgrade (-1 = none), used when
 * it is bound to that address, closed otherwise. */
struct admin *admin_start(struct master *m, int inherited_fd);
void          admin_stop(struct admin *a);
/* Descriptors a forked child must close (listen socket, epoll fd). */
int           admin_fds(const struct admin *a, int *fds, int max);

#endif /* CORDIS_ADMIN_H */
