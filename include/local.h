/*
 * Commands cordis answers itself: PING, ECHO, QUIT, SELECT, AUTH, HELLO,
 * RESET, ROLE, COMMAND, CLIENT, INFO (info.c). Replies follow Redis 7.0's,
 * text for text.
 */
#ifndef CORDIS_LOCAL_H
#define CORDIS_LOCAL_H

#include <stdint.h>

#include "cordis.h"

struct worker;
struct session;
struct req;

/*
 * Answers req (whose command carries CMD_PROXY). Returns CORDIS_OK when a
 * reply is attached, CORDIS_EAGAIN when it comes later (INFO asks every
 * group for its keyspace; the request finishes with its last child).
 */
int  local_dispatch(struct worker *w, struct session *s, struct req *req,
                    int argc, const struct cstr *argv);

/* HELLO's map for a client id and the groups' version (info.c asks them). */
void local_hello_reply(struct req *req, uint64_t id, const char *version);

/* CONFIG GET is answered by a backend; its reply loses the parameters that
 * hold passwords (requirepass, masterauth, ...) before the client sees it. */
void local_config_filter(struct req *req);

#endif /* CORDIS_LOCAL_H */
