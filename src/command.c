/*
 * The command table and the questions asked of it per request: which command
 * is this (command_lookup, command_resolve), is its argument count right
 * (command_arity_ok), and where are its keys (command_get_keys).
 *
 * The table is include/commands.h expanded in name order. A lookup lower-cases
 * the name into a stack buffer while hashing it (FNV-1a), then probes an
 * open-addressing index built once when the program loads: no allocation,
 * usually one memcmp(). About four times faster than a binary search here.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "command.h"

/* The parameters are spelt apart from the member names they initialise. */
#define CMD_X(c_id, c_name, c_arity, c_first, c_last, c_step, c_kind, c_numkeys_at, \
              c_flags, c_dispatch, c_merge, c_refusal, c_summary, c_since, c_group,  \
              c_complexity)                            \
    [COMMAND_##c_id] = {                                                          \
        .name       = c_name,                                                     \
        .name_len   = sizeof(c_name) - 1,                                         \
        .arity      = c_arity,                                                    \
        .first_key  = c_first,                                                    \
        .last_key   = c_last,                                                     \
        .key_step   = c_step,                                                     \
        .keys_kind  = c_kind,                                                     \
        .numkeys_at = c_numkeys_at,                                               \
        .flags      = c_flags,                                                    \
        .dispatch   = c_dispatch,                                                 \
        .merge      = c_merge,                                                    \
        .id         = COMMAND_##c_id,                                             \
        .refusal    = c_refusal,                                                  \
    },
const struct command command_table[COMMAND_COUNT] = {
#include "commands.h"
};
#undef CMD_X

#define CMD_X(c_id, c_name, c_arity, c_first, c_last, c_step, c_kind, c_numkeys_at, \
              c_flags, c_dispatch, c_merge, c_refusal, c_summary, c_since, c_group,  \
              c_complexity)                                                       \
    [COMMAND_##c_id] = { c_summary, c_since, c_group, c_complexity },
const struct command_doc command_docs[COMMAND_COUNT] = {
#include "commands.h"
};
#undef CMD_X

const char *
command_dispatch_text(const struct command *cmd)
{
    static const char *const merges[] = {
        [MERGE_NONE]   = "",
        [MERGE_ALL_OK] = "sent to every group; OK when every group applied it",
        [MERGE_SAME]   = "sent to every group; every group must answer alike",
        [MERGE_SUM]    = "sent to every group; the counts are added up",
        [MERGE_MIN]    = "sent to every group; the smallest answer",
        [MERGE_CONCAT] = "sent to every group; the answers are joined",
        [MERGE_FIRST]  = "sent to every group; the first group that answers",
        [MERGE_AND]    = "sent to every group; 1 only where every group says 1",
        [MERGE_ANY_OK] = "sent to every group; OK when any group did it",
        [MERGE_RANDOM] = "sent to every group; a random group's answer",
        [MERGE_SCAN]   = "one group per call; the cursor carries the group",
        [MERGE_MAX]    = "sent to every group; the largest answer",
        [MERGE_NUMSUB] = "sent to every group; the counts are added up channel by channel",
        [MERGE_UNION]  = "sent to every group; the answers are joined, each name once",
    };

    if (cmd->flags & CMD_CONTAINER) {
        return "a container: see its subcommands";
    }
    switch ((enum command_dispatch)cmd->dispatch) {
    case DISPATCH_LOCAL:
        return "answered by cordis";
    case DISPATCH_KEYED:
        return "forwarded to the group of its key";
    case DISPATCH_SAME_GROUP:
        return "forwarded whole when its keys are in one group, else CROSSSLOT";
    case DISPATCH_SPLIT:
        return "split per group, the replies merged";
    case DISPATCH_FANOUT:
        return merges[cmd->merge];
    case DISPATCH_PINNED:
        switch (cmd->id) {
        case COMMAND_PUBLISH:
        case COMMAND_SPUBLISH:
            return "forwarded to the group of its channel";
        case COMMAND_SUBSCRIBE:
        case COMMAND_SSUBSCRIBE:
        case COMMAND_PSUBSCRIBE:
        case COMMAND_UNSUBSCRIBE:
        case COMMAND_SUNSUBSCRIBE:
        case COMMAND_PUNSUBSCRIBE:
            return "subscriptions held by cordis: a channel on the group of its name, "
                   "a pattern on every group";
        case COMMAND_MULTI:
        case COMMAND_EXEC:
        case COMMAND_DISCARD:
        case COMMAND_WATCH:
        case COMMAND_UNWATCH:
            return "a transaction: queued by cordis, run by EXEC on a private connection "
                   "to the group of its keys";
        default:
            return "on a private connection to the group of its keys while it blocks";
        }
    case DISPATCH_REFUSED:
        return "refused";
    }
    return "";
}

/* The longest name in the table: the size of a union of one array per name. */
#define CMD_X(id, name, arity, first, last, step, keys_kind, numkeys_at, flags, \
              dispatch, merge, refusal, summary, since, group, complexity)                                         \
    char name_of_##id[sizeof(name)];
union command_name_sizes {
#include "commands.h"
};
#undef CMD_X

#define COMMAND_NAME_MAX  (sizeof(union command_name_sizes) - 1)

_Static_assert(COMMAND_NAME_MAX <= UINT8_MAX, "name_len is a uint8_t");

static inline char
command_lower_char(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* FNV-1a, one byte at a time, so lower-casing and hashing share a loop. */
#define COMMAND_HASH_SEED  2166136261u

static inline uint32_t
command_hash_byte(uint32_t h, char c)
{
    return (h ^ (unsigned char)c) * 16777619u;
}

/* Index by hash of the lower-case name: table index + 1, 0 = empty slot. */
#define COMMAND_HASH_SIZE  1024
#define COMMAND_HASH_MASK  (COMMAND_HASH_SIZE - 1)

_Static_assert((COMMAND_HASH_SIZE & COMMAND_HASH_MASK) == 0, "a power of two");
_Static_assert(COMMAND_COUNT * 2 <= COMMAND_HASH_SIZE, "keep the index half empty");
_Static_assert(COMMAND_COUNT < UINT16_MAX, "the index holds uint16_t");

static uint16_t command_hash[COMMAND_HASH_SIZE];

/* Upper-case names for stats, and as a client types them for messages. */
static char command_upper[COMMAND_COUNT][COMMAND_NAME_MAX + 1];
static char command_display[COMMAND_COUNT][COMMAND_NAME_MAX + 1];

/*
 * Fills the hash index and the upper-case names before main(), so both are
 * read-only from then on: shared by forked workers, safe from any thread.
 */
__attribute__((constructor))
static void
command_init(void)
{
    for (size_t i = 0; i < COMMAND_COUNT; i++) {
        const struct command *cmd = &command_table[i];
        uint32_t h = COMMAND_HASH_SEED;
        uint32_t slot;

        for (size_t j = 0; j < cmd->name_len; j++) {
            char c = cmd->name[j];

            h = command_hash_byte(h, c);
            command_upper[i][j] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
            command_display[i][j] = c == '|' ? ' ' : command_upper[i][j];
        }

        for (slot = h & COMMAND_HASH_MASK; command_hash[slot] != 0;
             slot = (slot + 1) & COMMAND_HASH_MASK) {
            /* linear probing */
        }
        command_hash[slot] = (uint16_t)(i + 1);
    }
}

/* Probes the index for a lower-case name whose hash is h. */
static const struct command *
command_find_lower(const char *name, size_t len, uint32_t h)
{
    for (uint32_t slot = h & COMMAND_HASH_MASK; command_hash[slot] != 0;
         slot = (slot + 1) & COMMAND_HASH_MASK) {
        const struct command *cmd = &command_table[command_hash[slot] - 1];

        if (cmd->name_len == len && memcmp(cmd->name, name, len) == 0) {
            return cmd;
        }
    }
    return NULL;
}

const struct command *
command_lookup(const char *name, size_t len)
{
    char lower[COMMAND_NAME_MAX];
    uint32_t h = COMMAND_HASH_SEED;

    if (len == 0 || len > COMMAND_NAME_MAX) {
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        lower[i] = command_lower_char(name[i]);
        h = command_hash_byte(h, lower[i]);
    }
    return command_find_lower(lower, len, h);
}

const struct command *
command_resolve(const struct command *cmd, int argc, const struct cstr *argv)
{
    char full[COMMAND_NAME_MAX];
    const struct command *sub;
    uint32_t h = COMMAND_HASH_SEED;
    size_t len;

    if (!(cmd->flags & CMD_CONTAINER) || argc < 2) {
        return cmd;
    }

    len = cmd->name_len + 1 + argv[1].len;
    if (argv[1].len == 0 || len > COMMAND_NAME_MAX) {
        return cmd;
    }

    /* "container|sub", lower case, hashed as it is written */
    memcpy(full, cmd->name, cmd->name_len);
    full[cmd->name_len] = '|';
    for (size_t i = 0; i <= cmd->name_len; i++) {
        h = command_hash_byte(h, full[i]);
    }
    for (size_t i = 0; i < argv[1].len; i++) {
        char c = command_lower_char(argv[1].ptr[i]);

        full[cmd->name_len + 1 + i] = c;
        h = command_hash_byte(h, c);
    }

    sub = command_find_lower(full, len, h);
    return sub != NULL ? sub : cmd;
}

const struct command *
command_for_request(int argc, const struct cstr *argv)
{
    const struct command *cmd;

    if (argc < 1 || argv[0].len == 0) {
        return NULL;
    }
    /* Like Redis, "object|encoding" is not a name a client may send. */
    if (memchr(argv[0].ptr, '|', argv[0].len) != NULL) {
        return NULL;
    }
    cmd = command_lookup(argv[0].ptr, argv[0].len);
    return cmd != NULL ? command_resolve(cmd, argc, argv) : NULL;
}

bool
command_arity_ok(const struct command *cmd, int argc)
{
    if (cmd->arity >= 0) {
        return argc == cmd->arity;
    }
    return argc >= -cmd->arity;
}

const char *
command_upper_name(const struct command *cmd)
{
    return command_upper[cmd->id];
}

const char *
command_display_name(const struct command *cmd)
{
    return command_display[cmd->id];
}

/* --- keys ------------------------------------------------------------------ */

/* Case-insensitive: is the argument this (lower-case) word? */
static bool
command_arg_is(const struct cstr *arg, const char *word)
{
    size_t len = strlen(word);

    if (arg->len != len) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (command_lower_char(arg->ptr[i]) != word[i]) {
            return false;
        }
    }
    return true;
}

/*
 * Parses a key count: decimal digits only, no sign, no leading zero (Redis
 * rejects "01" and any count below zero). Fails above max, which also keeps
 * the value far from overflow.
 */
static int
command_parse_count(const struct cstr *arg, int max, int *out)
{
    int n = 0;

    if (arg->len == 0 || (arg->ptr[0] == '0' && arg->len > 1)) {
        return CORDIS_ERROR;
    }
    for (size_t i = 0; i < arg->len; i++) {
        char c = arg->ptr[i];

        if (c < '0' || c > '9') {
            return CORDIS_ERROR;
        }
        n = n * 10 + (c - '0');
        if (n > max) {
            return CORDIS_ERROR;
        }
    }
    *out = n;
    return CORDIS_OK;
}

/*
 * Sets keys to argv[first..last] by step, last lowered onto the step (MSET's
 * -1 on an even argc is the last key, not its value). A range with no
 * argument in it is an error.
 */
static int
command_keys_range(struct command_keys *keys, int first, int last, int step)
{
    if (step < 1 || last < first) {
        return CORDIS_ERROR;
    }
    keys->first = first;
    keys->last = first + (last - first) / step * step;
    keys->step = step;
    return CORDIS_OK;
}

/* first, last, step as COMMAND INFO reports them; last < 0 counts from argc. */
static int
command_keys_fixed(const struct command *cmd, int argc, struct command_keys *keys)
{
    int last = cmd->last_key;

    if (cmd->first_key == 0) {
        return CORDIS_OK;
    }
    if (last < 0) {
        last += argc;
    }
    last = CORDIS_MIN(last, argc - 1);
    return command_keys_range(keys, cmd->first_key, last, cmd->key_step);
}

/* Scripts and functions may name no key at all; the rest need at least one. */
static int
command_numkeys_min(const struct command *cmd)
{
    switch (cmd->id) {
    case COMMAND_EVAL:
    case COMMAND_EVALSHA:
    case COMMAND_EVAL_RO:
    case COMMAND_EVALSHA_RO:
    case COMMAND_FCALL:
    case COMMAND_FCALL_RO:
        return 0;
    default:
        return 1;
    }
}

/* argv[numkeys_at] = n, keys in the n arguments that follow. */
static int
command_keys_numkeys(const struct command *cmd, int argc,
                     const struct cstr *argv, struct command_keys *keys)
{
    int at = cmd->numkeys_at;
    int n;

    if (at <= 0 || at >= argc) {
        return CORDIS_ERROR;
    }
    if (command_parse_count(&argv[at], argc - at - 1, &n) != CORDIS_OK
        || n < command_numkeys_min(cmd)) {
        return CORDIS_ERROR;
    }
    if (n == 0) {
        return CORDIS_OK;
    }
    return command_keys_range(keys, at + 1, at + n, 1);
}

/*
 * XREAD [COUNT n] [BLOCK ms] STREAMS k1 .. kn id1 .. idn
 * XREADGROUP GROUP g c [COUNT n] [BLOCK ms] [NOACK] STREAMS ...
 * The options are skipped with their arguments, so a group or consumer
 * named "streams" is not taken for the keyword.
 */
static int
command_keys_streams(int argc, const struct cstr *argv, struct command_keys *keys)
{
    int i, rest;

    for (i = 1; i < argc; i++) {
        if (command_arg_is(&argv[i], "streams")) {
            break;
        }
        if (command_arg_is(&argv[i], "count") || command_arg_is(&argv[i], "block")) {
            i += 1;
        } else if (command_arg_is(&argv[i], "group")) {
            i += 2;
        } else if (!command_arg_is(&argv[i], "noack")) {
            return CORDIS_ERROR;
        }
    }
    if (i >= argc) {
        return CORDIS_ERROR;
    }

    rest = argc - i - 1;
    if (rest == 0 || rest % 2 != 0) {
        return CORDIS_ERROR;
    }
    return command_keys_range(keys, i + 1, i + rest / 2, 1);
}

/*
 * SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC]
 *      [ALPHA] [STORE destination]
 * The last STORE wins, as in SORT itself; patterns are skipped so one spelt
 * "store" is not taken for the option.
 */
static int
command_keys_sort(int argc, const struct cstr *argv, struct command_keys *keys)
{
    if (argc < 2) {
        return CORDIS_ERROR;
    }
    for (int i = 2; i < argc; i++) {
        if (command_arg_is(&argv[i], "limit")) {
            i += 2;
        } else if (command_arg_is(&argv[i], "by") || command_arg_is(&argv[i], "get")) {
            i += 1;
        } else if (command_arg_is(&argv[i], "store") && i + 1 < argc) {
            keys->extra = i + 1;
            i += 1;
        }
    }
    return command_keys_range(keys, 1, 1, 1);
}

/*
 * GEORADIUS key lon lat radius unit [options]
 * GEORADIUSBYMEMBER key member radius unit [options]
 * The last STORE or STOREDIST names a destination, as in the command itself.
 */
static int
command_keys_georadius(const struct command *cmd, int argc,
                       const struct cstr *argv, struct command_keys *keys)
{
    int options = (cmd->id == COMMAND_GEORADIUSBYMEMBER) ? 5 : 6;

    if (argc < 2) {
        return CORDIS_ERROR;
    }
    for (int i = options; i < argc; i++) {
        if (command_arg_is(&argv[i], "count")) {
            i += 1;
        } else if ((command_arg_is(&argv[i], "store")
                    || command_arg_is(&argv[i], "storedist")) && i + 1 < argc) {
            keys->extra = i + 1;
            i += 1;
        }
    }
    return command_keys_range(keys, 1, 1, 1);
}

/*
 * MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw]
 *         [AUTH2 user pw] [KEYS key ...]
 */
static int
command_keys_migrate(int argc, const struct cstr *argv, struct command_keys *keys)
{
    if (argc < 6) {
        return CORDIS_ERROR;
    }
    for (int i = 6; i < argc; i++) {
        if (command_arg_is(&argv[i], "auth")) {
            i += 1;
        } else if (command_arg_is(&argv[i], "auth2")) {
            i += 2;
        } else if (command_arg_is(&argv[i], "keys")) {
            if (argv[3].len != 0) {
                return CORDIS_ERROR;   /* Redis wants "" as the key then */
            }
            return command_keys_range(keys, i + 1, argc - 1, 1);
        }
    }
    return command_keys_range(keys, 3, 3, 1);
}

int
command_get_keys(const struct command *cmd, int argc, const struct cstr *argv,
                 struct command_keys *keys)
{
    int rc = CORDIS_ERROR;

    *keys = (struct command_keys) { 0 };

    switch ((enum command_keys_kind)cmd->keys_kind) {
    case CMD_KEYS_FIXED:
        rc = command_keys_fixed(cmd, argc, keys);
        break;

    case CMD_KEYS_NUMKEYS:
        rc = command_keys_numkeys(cmd, argc, argv, keys);
        break;

    case CMD_KEYS_NUMKEYS_DEST:
        rc = command_keys_numkeys(cmd, argc, argv, keys);
        keys->extra = 1;   /* numkeys_at > 1, so argv[1] exists */
        break;

    case CMD_KEYS_STREAMS:
        rc = command_keys_streams(argc, argv, keys);
        break;

    case CMD_KEYS_SORT:
        rc = command_keys_sort(argc, argv, keys);
        break;

    case CMD_KEYS_GEORADIUS:
        rc = command_keys_georadius(cmd, argc, argv, keys);
        break;

    case CMD_KEYS_MIGRATE:
        rc = command_keys_migrate(argc, argv, keys);
        break;
    }

    if (rc != CORDIS_OK) {
        *keys = (struct command_keys) { 0 };
    }
    return rc;
}
