/*
 * Multi-key commands split by backend: MGET, MSET, DEL, EXISTS, TOUCH,
 * UNLINK. One child request per backend carries all of that backend's keys
 * (not one per key); the children go out in parallel and the parent's reply
 * is coalesced in key order: MGET an array, MSET +OK, the others a sum. An
 * error from any child becomes the whole reply.
 */
#ifndef CORDIS_MULTIKEY_H
#define CORDIS_MULTIKEY_H

#include "cordis.h"

struct worker;
struct session;
struct req;

/*
 * Splits req (argc arguments, argv pointing into the request bytes, which
 * are RESP multibulk) over the backends of its keys and sends the children.
 * Returns CORDIS_OK when children were sent, CORDIS_EAGAIN when every key
 * is on one backend (the caller forwards req whole), or CORDIS_ERROR when
 * req got an error reply.
 */
int  multikey_dispatch(struct worker *w, struct session *s, struct req *req,
                       int argc, const struct cstr *argv);

/* Builds the parent's reply once every child has one. */
void multikey_coalesce(struct req *parent);

#endif /* CORDIS_MULTIKEY_H */
