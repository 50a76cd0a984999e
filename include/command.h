/*
 * The command table: every Redis 7.0 command, declared once in the X-macro
 * list of include/commands.h. The same list gives the enum (also the stats
 * index), the names, the arity, key positions and cordis's flags.
 *
 * Container commands whose subcommands differ in keys or flags (OBJECT,
 * XINFO, MEMORY, CLIENT, SCRIPT, ...) have one entry per subcommand named
 * "container|sub" (as Redis 7 names them), besides the container's own.
 */
#ifndef CORDIS_COMMAND_H
#define CORDIS_COMMAND_H

#include <stdbool.h>
#include <stdint.h>

#include "cordis.h"

enum command_flag {
    CMD_WRITE     = 1 << 0,  /* may modify the keyspace */
    CMD_READONLY  = 1 << 1,  /* reads only */
    CMD_BLOCKING  = 1 << 2,  /* may block the connection it runs on */
    CMD_CONTAINER = 1 << 5,  /* has subcommands: look up "name|sub" next */
    CMD_NOAUTH    = 1 << 7,  /* allowed before AUTH (AUTH, HELLO, QUIT) */
};

/*
 * How a command travels: the one column session_dispatch switches on (see
 * tools/gen-commands for how each command gets its kind).
 */
enum command_dispatch {
    DISPATCH_LOCAL = 0,      /* answered by cordis */
    DISPATCH_KEYED,          /* one key: its slot's group */
    DISPATCH_SAME_GROUP,     /* several keys in one group, else -CROSSSLOT; keyless: slot 0's group */
    DISPATCH_SPLIT,          /* one sub-request per group, replies coalesced */
    DISPATCH_FANOUT,         /* every group, replies merged by the command's merge rule */
    DISPATCH_PINNED,         /* needs a private backend connection */
    DISPATCH_REFUSED,        /* "not supported by cordis: <reason>" */
};

/* How the replies of a fan-out become one (src/fanout.c). */
enum command_merge {
    MERGE_NONE = 0,
    MERGE_ALL_OK,            /* every group succeeded: the first group's reply */
    MERGE_SAME,              /* every group answered alike */
    MERGE_SUM,               /* integers added up */
    MERGE_MIN,               /* the smallest integer */
    MERGE_CONCAT,            /* arrays joined */
    MERGE_FIRST,             /* the first group (by id) that answered */
    MERGE_AND,               /* arrays of 0/1, element by element */
    MERGE_ANY_OK,            /* OK when any group said OK */
    MERGE_RANDOM,            /* a random non-nil reply */
    MERGE_SCAN,              /* one group per call, the group in the cursor */
    MERGE_MAX,               /* the largest integer */
    MERGE_NUMSUB,            /* [name, count, ...]: counts added up name by name */
    MERGE_UNION,             /* arrays joined, each element once */
};

/* How the keys of a command are found beyond first/last/step. */
enum command_keys_kind {
    CMD_KEYS_FIXED = 0,      /* first, last, step as COMMAND INFO reports */
    CMD_KEYS_NUMKEYS,        /* argv[numkeys_at] = count, keys follow it (EVAL, ZUNION, LMPOP, ...) */
    CMD_KEYS_NUMKEYS_DEST,   /* as NUMKEYS, plus argv[1] is a destination key (ZUNIONSTORE, ...) */
    CMD_KEYS_STREAMS,        /* keys after STREAMS, half of what remains (XREAD, XREADGROUP) */
    CMD_KEYS_SORT,           /* argv[1], plus the argument after STORE (SORT) */
    CMD_KEYS_GEORADIUS,      /* argv[1], plus after STORE / STOREDIST */
    CMD_KEYS_MIGRATE,        /* argv[3] or the ones after KEYS */
};

#define CMD_X(id, name, arity, first, last, step, keys_kind, numkeys_at, flags, \
              dispatch, merge, refusal, summary, since, group, complexity) \
    COMMAND_##id,
enum command_id {
#include "commands.h"
    COMMAND_COUNT
};
#undef CMD_X

struct command {
    const char  *name;        /* lower case, "container|sub" for subcommands */
    uint8_t      name_len;
    int16_t      arity;       /* Redis's: N exact, -N at least N (argv[0] counts) */
    int8_t       first_key;   /* as COMMAND INFO: 0 = no keys */
    int8_t       last_key;    /* -1 = last argument, -2 = one before, ... */
    int8_t       key_step;
    uint8_t      keys_kind;   /* enum command_keys_kind */
    int8_t       numkeys_at;  /* argv index of numkeys for CMD_KEYS_NUMKEYS* */
    uint8_t      flags;       /* enum command_flag */
    uint8_t      dispatch;    /* enum command_dispatch */
    uint8_t      merge;       /* enum command_merge (fan-out only) */
    enum command_id id;       /* index in the table and the stats rows */
    const char  *refusal;     /* why cordis refuses it (DISPATCH_REFUSED); NULL otherwise */
};

/* Where the keys of one request are: argv[first..last] by step, plus extra. */
struct command_keys {
    int first;   /* 0 when there are no keys in the range */
    int last;
    int step;
    int extra;   /* one more key outside the range (a destination); 0 = none */
};

extern const struct command command_table[COMMAND_COUNT];

/* Redis's COMMAND DOCS for each command, by id (apart from the table the
 * data path reads). */
struct command_doc {
    const char *summary;
    const char *since;
    const char *group;
    const char *complexity;
};

extern const struct command_doc command_docs[COMMAND_COUNT];

/* How cordis handles a command, in words ("sent to every group; the
 * counts are added up"), for COMMAND DOCS. */
const char *command_dispatch_text(const struct command *cmd);

/* Looks a name up, case-insensitively, without allocating. NULL if unknown. */
const struct command *command_lookup(const char *name, size_t len);

/*
 * Resolves a command to its subcommand entry when it is a container:
 * given argv (argc >= 2) returns "name|argv[1]"'s entry, or cmd itself when
 * there is no such subcommand entry.
 */
const struct command *command_resolve(const struct command *cmd, int argc,
                                      const struct cstr *argv);

/*
 * The entry for a request (argc >= 1): argv[0] looked up, then resolved to a
 * subcommand as command_resolve() does. NULL when argv[0] is unknown or
 * contains '|': command_lookup() also finds "container|sub" entries, but
 * Redis does not take "object|encoding" from a client as a command name.
 */
const struct command *command_for_request(int argc, const struct cstr *argv);

/* True when argc satisfies the command's arity. */
bool command_arity_ok(const struct command *cmd, int argc);

/*
 * Finds the keys of a request. Returns CORDIS_OK, or CORDIS_ERROR when the
 * arguments do not make sense (numkeys not a number, out of range, ...); the
 * caller then forwards the request by its first argument or lets Redis
 * answer the error.
 */
int command_get_keys(const struct command *cmd, int argc,
                     const struct cstr *argv, struct command_keys *keys);

/* Upper-case name for stats ("GET", "OBJECT|ENCODING"). */
const char *command_upper_name(const struct command *cmd);
/* Upper-case name for messages, as a client types it ("CONFIG SET"). */
const char *command_display_name(const struct command *cmd);

#endif /* CORDIS_COMMAND_H */
