/*
 * Dispatch: what happens to one parsed request. The command table's
 * dispatch column decides the route, in one switch (dispatch_request):
 *
 *   local       answered by cordis (local.c)
 *   keyed       slot of the key -> group -> shared backend connection
 *   same_group  every key in one group, else -CROSSSLOT; forwarded whole
 *   split       one sub-request per group (multikey.c)
 *   fanout      every group, replies merged (fanout.c)
 *   pinned      transactions and blocking commands on a private backend
 *               connection (pinned.c); pub/sub (pubsub.c)
 *   refused     "-ERR command 'X' is not supported by cordis: <reason>"
 *
 * Every request gets exactly one reply: when dispatch cannot send it, the
 * request is finished at once with an error.
 */
#ifndef CORDIS_DISPATCH_H
#define CORDIS_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "cordis.h"

struct worker;
struct session;
struct req;
struct mbuf;
struct backend_server;

/*
 * Dispatches req, already in the session's FIFO: argc arguments at argv
 * (argv[0] is the command name), the request's bytes at bytes (len of
 * them, inside in; inline requests are re-encoded, in is NULL for them).
 * argv may be rewritten.
 */
void dispatch_request(struct worker *w, struct session *s, struct req *req,
                      int argc, struct cstr *argv, struct mbuf *in,
                      const char *bytes, size_t len);

/*
 * The backend for a forwarded request: every key of it must hash to slots
 * of one group (keyless requests go where slot 0 goes). NULL with req's
 * error set when they do not, or a slot is not served; *seed is the slot
 * that picks one of the parallel connections.
 */
struct backend_server *dispatch_route(struct worker *w, struct req *req, int argc,
                                      const struct cstr *argv, unsigned *seed);

/*
 * A forwarded request got its reply, before the client sees it: the
 * command may rewrite it (SCAN's cursor, CONFIG GET's secrets) or send the
 * request again (EVALSHA after NOSCRIPT). CORDIS_EAGAIN when it went out
 * again and will finish later.
 */
int  dispatch_on_reply(struct worker *w, struct req *req);

#endif /* CORDIS_DISPATCH_H */
