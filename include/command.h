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
    CMD_FORBIDDEN = 1 << 2,  /* refused: "command 'X' is not supported by cordis" */
    CMD_PROXY     = 1 << 3,  /* answered by cordis itself (PING, AUTH, SELECT, ...) */
    CMD_SPLIT     = 1 << 4,  /* multi-key: split per group, replies coalesced */
    CMD_CONTAINER = 1 << 5,  /* has subcommands: look up "name|sub" next */
    CMD_NOKEY     = 1 << 6,  /* takes no key: routed by cordis's own rule */
    CMD_NOAUTH    = 1 << 7,  /* allowed before AUTH (AUTH, HELLO, QUIT) */
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

#define CMD_X(id, name, arity, first, last, step, keys_kind, numkeys_at, flags) \
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
    uint32_t     flags;       /* enum command_flag */
    enum command_id id;       /* index in the table and the stats rows */
};

/* Where the keys of one request are: argv[first..last] by step, plus extra. */
struct command_keys {
    int first;   /* 0 when there are no keys in the range */
    int last;
    int step;
    int extra;   /* one more key outside the range (a destination); 0 = none */
};

extern const struct command command_table[COMMAND_COUNT];

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

/* Upper-case name for messages and stats ("GET", "OBJECT|ENCODING"). */
const char *command_upper_name(const struct command *cmd);

#endif /* CORDIS_COMMAND_H */
