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
 *
 * Codis's routes (/api/proxy/.../:xauth, /proxy...) are codis_api.c's; it
 * uses the pieces below.
 */
#ifndef CORDIS_ADMIN_H
#define CORDIS_ADMIN_H

#include <stdbool.h>

#include <jansson.h>
#include <microhttpd.h>

struct master;
struct admin;
struct admin_request;

/* Starts the server on m->conf->admin.listen; NULL (logged) on failure.
 * inherited_fd: a listening socket from an upgrade (-1 = none), used when
 * it is bound to that address, closed otherwise. */
struct admin *admin_start(struct master *m, int inherited_fd);
void          admin_stop(struct admin *a);
/* Descriptors a forked child must close (listen socket, epoll fd). */
int           admin_fds(const struct admin *a, int *fds, int max);

/* --- shared with codis_api.c ---------------------------------------------- */

struct master  *admin_master(struct admin *a);
/* Sends value (taking the reference) as JSON with status. */
enum MHD_Result admin_reply_json(struct MHD_Connection *conn, unsigned status, json_t *value);
/* The same with jansson's dump flags (Codis's routes indent as Go does). */
enum MHD_Result admin_reply_json_as(struct MHD_Connection *conn, unsigned status, json_t *value,
                                    size_t flags);
/* GET /api/proxy/model's and /api/proxy/stats's objects (new references);
 * cmd: with ops.cmd, the per-command figures. */
json_t         *admin_model_json(struct admin *a);
/* unix_time as "2026-12-07T16:49:08Z". */
void            admin_iso_time(int64_t unix_time, char *buf, size_t size);
json_t         *admin_stats_json(struct admin *a, bool cmd);
/* Counters the API reports start again from zero. */
void            admin_stats_reset(struct admin *a);
/* A graceful stop (as SIGQUIT) once this reply has left. */
void            admin_shutdown_soon(struct admin *a);
/* Sets the log level (enum log_level) of the master and every worker. */
void            admin_set_log_level(struct admin *a, int level);
/*
 * Applies a JSON array of slot objects (validated as a whole, then
 * published) and answers once every worker has the replies of what it sent
 * before (the fillslots barrier). codis: Codis's reply shapes ("OK", HTTP
 * 800 errors) and Codis's replica_groups.
 */
enum MHD_Result admin_fillslots(struct admin *a, struct MHD_Connection *conn,
                                struct admin_request *req, json_t *list, bool codis);

#endif /* CORDIS_ADMIN_H */
