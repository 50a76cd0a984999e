/*
 * Resharding on stock Redis, driven by cordis: a range of slots moves from
 * the group that owns it to another group, online.
 *
 * The slots go in steps of RESHARD_STEP_SLOTS. For each step the master
 *   1. publishes the step's slots as owned by the new group with
 *      migrate_from the old one and the vanilla method (migrate.h): from
 *      then on a request for one of their keys first has the old group
 *      MIGRATE the key over;
 *   2. waits until every worker has the replies of what it sent before that
 *      route (the barrier of fillslots): no request still queued for the old
 *      group can write after its key moved;
 *   3. lets the bulk mover, a thread of the master, walk the old group with
 *      SCAN (every database with keys), keep the keys of the step's slots
 *      and move them with MIGRATE ... REPLACE KEYS k1 k2 ..., at most
 *      migrate.rate keys a second, migrate.batch keys a call; a pass that
 *      finds none of them left ends the step;
 *   4. publishes the slots as the new group's alone.
 * Until every slot is done, the old group answers for nothing it no longer
 * holds, and no key is ever on both groups for a client to see.
 *
 * Progress is kept in migrate.state_file (required): the step in flight,
 * the slots done, the figures. A reload keeps it (the file's slots are
 * overlaid); QUIT stops the mover between two calls, and the next start
 * resumes where it was. A move that finished stays in force while the
 * config file still gives those slots to the old group (update the file;
 * the log says so at each reload).
 *
 * A backend that cannot be reached pauses the mover (status says which and
 * why); it goes on once the backend is back. Cancel lets the step in flight
 * finish and leaves the slots not yet started where they are.
 *
 * One cordis drives a migration. Other cordis hosts in front of the same
 * groups must get the migrating state (fillslots with forward_method 2)
 * before the first key moves, and must not run a migration of their own. A
 * migration is refused when a codis-dashboard owns the slots
 * (codis.enabled).
 */
#ifndef CORDIS_RESHARD_H
#define CORDIS_RESHARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct master;
struct conf;
struct shm_route;
struct reply;

/* Slots per step. */
#define RESHARD_STEP_SLOTS 64

/* Starts moving `slots` ("0-511", "1,5,9-12") to group `to`. CORDIS_OK, or
 * CORDIS_ERROR with err set (and *conflict for a migration running or a
 * dashboard owning the slots). */
int reshard_start(struct master *m, const char *slots, unsigned to, bool *conflict, char *err,
                  size_t errlen);

/* The step in flight finishes; the slots not started stay where they are. */
int reshard_cancel(struct master *m, char *err, size_t errlen);

/* Whether slot is part of a migration in progress (fillslots leaves it). */
bool reshard_controls(const struct master *m, unsigned slot);

/* Progress for the admin API: null when no migration was ever run. */
json_t *reshard_json(struct master *m);
/* The cordis_migration_* metrics. */
void reshard_metrics(struct master *m, struct reply *r);

/* At start, before the first route is published: reads the state file. */
void reshard_load(struct master *m);
/* At start, once workers run: goes on with a migration that was running. */
void reshard_resume(struct master *m);
/* A route built from a config file: a migration's slots are overlaid. */
void reshard_adjust_route(struct master *m, const struct conf *conf, struct shm_route *route);
/* QUIT, TERM, exit: the mover stops between two calls; the state is kept. */
void reshard_stop(struct master *m);
/* Frees what is left (master exit). */
void reshard_free(struct master *m);

#endif /* CORDIS_RESHARD_H */
