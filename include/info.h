/*
 * INFO: one server's answer for the whole proxy.
 *
 * Sections whose figures are the fleet's are asked of every group (one
 * "INFO" each) and merged: memory and counters summed, flags and
 * in-progress markers the largest, last-save times the earliest, the
 * keyspace summed per database, error counts summed per error, ratios
 * recomputed or averaged, redis_version the lowest of the backends' (so
 * clients pick only commands every group has). Sections about the server
 * the client talks to are cordis's own: server, clients, replication, cpu,
 * commandstats, latencystats, cluster, and in stats the connections,
 * commands and bytes cordis handled. A "cordis" section gives the workers
 * and each group's address, state, version, keys and memory.
 *
 * Section names as in Redis 7: none or "default", "all", "everything", or
 * any list of names.
 */
#ifndef CORDIS_INFO_H
#define CORDIS_INFO_H

#include "cordis.h"

struct worker;
struct session;
struct req;

/* Answers INFO: at once (CORDIS_OK) when no section needs the groups, or
 * once every group has answered (CORDIS_EAGAIN). */
int  info_dispatch(struct worker *w, struct session *s, struct req *req, int argc,
                   const struct cstr *argv);

/* HELLO (checks passed): asks every group for INFO server and answers
 * with their lowest version. CORDIS_EAGAIN, or CORDIS_OK when answered at
 * once (no group). */
int  info_hello(struct worker *w, struct session *s, struct req *req);

/* Builds the reply from the groups' INFO replies. */
void info_merge(struct req *parent);

#endif /* CORDIS_INFO_H */
