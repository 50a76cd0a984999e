/*
 * Codis's proxy API (codis-proxy 3.2, pkg/proxy/proxy_api.go), served by the
 * admin server next to cordis's own routes, so that codis-dashboard,
 * codis-admin and codis-fe drive cordis as they drive codis-proxy:
 *
 *   GET /api/proxy/model                     cordis's model with Codis's fields
 *   GET /api/proxy/xping/:xauth              "OK"
 *   GET /api/proxy/stats/:xauth[/:flags]     Codis's stats (also ?flags=N); bit 1
 *                                            adds ops.cmd
 *   GET /api/proxy/slots/:xauth              the 1024 slots as Codis's Slot objects
 *   PUT /api/proxy/fillslots/:xauth          [Slot...] -> "OK" once every worker has
 *                                            the replies of what it sent before
 *   PUT /api/proxy/start/:xauth              online: clients are served
 *   PUT /api/proxy/sentinels/:xauth          {"servers": [...], "out_of_sync": b}, kept
 *   PUT /api/proxy/sentinels/:xauth/rewatch  "OK"
 *   PUT /api/proxy/shutdown/:xauth           graceful stop (as SIGQUIT)
 *   PUT /api/proxy/stats/reset/:xauth        counters from zero
 *   PUT /api/proxy/loglevel/:xauth/:value    error | warn | info | debug (any case)
 *   PUT /api/proxy/forcegc/:xauth            nothing to do: "OK"
 *   GET /proxy, /proxy/model, /proxy/stats, /proxy/slots
 *                                            codis-fe's overview, no xauth
 *
 * Errors are Codis's: HTTP status 800, {"Cause": "...", "Stack": null}.
 *
 *   token = md5_hex("Codis-Token@[" sorted MACs joined by " " "]"
 *                   "-{" product_name "}-{" proxy listen "}-{" admin listen "}")
 *   xauth = first 32 hex digits of sha256_hex("Codis-XAuth-[" product_name
 *                   "]-[" codis.product_auth "]-[" token "]")
 *
 * Anyone who reads the model can compute an xauth made without a secret, so
 * the PUT routes also need the caller on loopback, or in codis.dashboard, or
 * a non-empty codis.product_auth.
 *
 * With codis.enabled the proxy starts not online: workers answer new
 * clients "-ERR router is not online" and close them (shm header.online)
 * until PUT /api/proxy/start.
 */
#ifndef CORDIS_CODIS_API_H
#define CORDIS_CODIS_API_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <microhttpd.h>

struct admin;
struct admin_request;
struct master;

/* Hex digits of a token or an xauth, and the NUL. */
#define CODIS_API_HEX_LEN 33

/*
 * Serves url when it is one of Codis's routes: returns true with *rc set.
 * body/len: the request body; too_big: it was cut.
 */
bool codis_api_route(struct admin *a, struct MHD_Connection *conn, const char *method,
                     const char *url, struct admin_request *req, const char *body,
                     size_t len, bool too_big, enum MHD_Result *rc);

/* Sends Codis's error: HTTP 800 {"Cause": text, "Stack": null}. */
enum MHD_Result codis_api_error(struct MHD_Connection *conn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Adds Codis's fields to a model object (token, proto_type, datacenter, ...). */
void codis_api_model(struct master *m, json_t *model);
/* Adds Codis's "sentinels" object to a stats object. */
void codis_api_stats(struct master *m, json_t *stats);
/* As codis-proxy's stats: online = started and not closed; closed = stopping. */
bool codis_api_online(const struct master *m);
bool codis_api_closed(const struct master *m);

/* After a binary upgrade: a codis-managed proxy keeps the slots and the
 * online state of the master it replaces. */
void codis_api_adopt(struct master *m);
/*
 * The jodis registration (jodis.h) follows the config and the online
 * state: the master calls update after start, PUT start and each reload,
 * and stop first thing when it stops.
 */
void codis_api_jodis_update(struct master *m);
void codis_api_jodis_stop(struct master *m);

/* The sentinels a dashboard sent (an array of "host:port"; borrowed, never
 * NULL). */
json_t *codis_api_sentinel_list(const struct master *m);

/* Frees what the master kept for the dashboard. */
void codis_api_free(struct master *m);

/* The formulas, for the master and the tests. */
void codis_api_token_of(const char *const *macs, size_t nmacs, const char *product,
                        const char *proxy_addr, const char *admin_addr,
                        char out[CODIS_API_HEX_LEN]);
void codis_api_xauth_of(const char *product, const char *auth, const char *token,
                        char out[CODIS_API_HEX_LEN]);
/* This machine's token and xauth for m's config. */
void codis_api_token(const struct master *m, char out[CODIS_API_HEX_LEN]);
void codis_api_xauth(const struct master *m, char out[CODIS_API_HEX_LEN]);

#endif /* CORDIS_CODIS_API_H */
