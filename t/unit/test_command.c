/*
 * Unit tests for the command table: lookup, subcommands, arity, key
 * positions and cordis's flags.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "command.h"

/* The number of CMD_X lines in commands.h, counted independently of the enum. */
#define CMD_X(id, name, arity, first, last, step, keys_kind, numkeys_at, flags, \
              dispatch, merge, refusal, summary, since, group, complexity) +1
static const int listed_commands = 0
#include "commands.h"
    ;
#undef CMD_X

#define MAX_ARGS 32

/* Builds argv from a NULL-terminated list of C strings. */
struct args {
    int         argc;
    struct cstr argv[MAX_ARGS];
};

static struct args
make_args(const char *first, ...)
{
    struct args a = { 0 };
    va_list ap;

    va_start(ap, first);
    for (const char *s = first; s != NULL; s = va_arg(ap, const char *)) {
        assert_true(a.argc < MAX_ARGS);
        a.argv[a.argc].ptr = s;
        a.argv[a.argc].len = strlen(s);
        a.argc++;
    }
    va_end(ap);
    return a;
}

#define ARGS(...) make_args(__VA_ARGS__, NULL)

static const struct command *
lookup(const char *name)
{
    return command_lookup(name, strlen(name));
}

/* Looks up argv[0], resolves, and finds the keys; asserts the result code. */
static const struct command *
keys_of(struct args a, int rc, struct command_keys *keys)
{
    const struct command *cmd = command_for_request(a.argc, a.argv);

    assert_non_null(cmd);
    assert_int_equal(command_get_keys(cmd, a.argc, a.argv, keys), rc);
    return cmd;
}

static void
assert_keys(const struct command_keys *k, int first, int last, int step, int extra)
{
    assert_int_equal(k->first, first);
    assert_int_equal(k->last, last);
    assert_int_equal(k->step, step);
    assert_int_equal(k->extra, extra);
}

/* --- the table ------------------------------------------------------------- */

static void
test_count(void **state)
{
    int top = 0;

    (void)state;
    assert_int_equal(COMMAND_COUNT, listed_commands);
    assert_int_equal(CORDIS_ARRAY_SIZE(command_table), COMMAND_COUNT);

    for (int i = 0; i < COMMAND_COUNT; i++) {
        if (strchr(command_table[i].name, '|') == NULL) {
            top++;
        }
    }
    /* Redis 7.0 has 240 top-level commands. */
    assert_true(top >= 240);
    assert_true(COMMAND_COUNT > top);
}

static void
test_table_sorted_unique(void **state)
{
    (void)state;
    for (int i = 0; i < COMMAND_COUNT; i++) {
        const struct command *c = &command_table[i];

        assert_int_equal(c->id, i);
        assert_int_equal(c->name_len, strlen(c->name));
        assert_true(c->name_len > 0);
        for (size_t j = 0; j < c->name_len; j++) {
            char ch = c->name[j];

            assert_true((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')
                        || ch == '|' || ch == '_' || ch == '-');
        }
        if (i > 0) {
            const struct command *p = &command_table[i - 1];
            size_t n = CORDIS_MIN(p->name_len, c->name_len);
            int r = memcmp(p->name, c->name, n);

            /* strictly increasing (so unique, as the lookup index needs),
             * shorter first on a common prefix: the generator's order */
            assert_true(r < 0 || (r == 0 && p->name_len < c->name_len));
        }
    }
}

static void
test_subcommands_have_containers(void **state)
{
    (void)state;
    for (int i = 0; i < COMMAND_COUNT; i++) {
        const struct command *c = &command_table[i];
        const char *bar = strchr(c->name, '|');

        if (bar != NULL) {
            const struct command *parent = command_lookup(c->name, (size_t)(bar - c->name));

            assert_non_null(parent);
            assert_true(parent->flags & CMD_CONTAINER);
            assert_null(strchr(bar + 1, '|'));
            assert_false(c->flags & CMD_CONTAINER);
        }
        if (c->flags & CMD_CONTAINER) {
            /* the entry right after a container is one of its subcommands */
            assert_true(i + 1 < COMMAND_COUNT);
            assert_memory_equal(command_table[i + 1].name, c->name, c->name_len);
            assert_int_equal(command_table[i + 1].name[c->name_len], '|');
        }
    }
}

static void
test_flags_consistent(void **state)
{
    (void)state;
    for (int i = 0; i < COMMAND_COUNT; i++) {
        const struct command *c = &command_table[i];
        uint32_t f = c->flags;

        assert_false((f & CMD_WRITE) && (f & CMD_READONLY));
        if (c->dispatch == DISPATCH_KEYED) {
            /* one key at a fixed place */
            assert_true(c->first_key > 0);
            assert_int_equal(c->last_key, c->first_key);
            assert_int_equal(c->keys_kind, CMD_KEYS_FIXED);
        }
        /* a merge rule exactly for fan-out commands */
        assert_true((c->dispatch == DISPATCH_FANOUT) == (c->merge != MERGE_NONE));
        /* a reason exactly for refused ones */
        assert_true((c->dispatch == DISPATCH_REFUSED) == (c->refusal != NULL));
        if (f & CMD_NOAUTH) {
            assert_int_equal(c->dispatch, DISPATCH_LOCAL);
        }
        if (c->keys_kind == CMD_KEYS_NUMKEYS || c->keys_kind == CMD_KEYS_NUMKEYS_DEST) {
            assert_true(c->numkeys_at > 0);
        }
        assert_true(c->arity != 0);
    }
}

/* --- lookup ---------------------------------------------------------------- */

static void
test_lookup_every_entry(void **state)
{
    char buf[64];

    (void)state;
    for (int i = 0; i < COMMAND_COUNT; i++) {
        const struct command *c = &command_table[i];

        assert_true(c->name_len < sizeof(buf));
        assert_ptr_equal(command_lookup(c->name, c->name_len), c);

        /* mixed case: every other letter upper */
        for (size_t j = 0; j < c->name_len; j++) {
            char ch = c->name[j];
            buf[j] = (j % 2 == 0 && ch >= 'a' && ch <= 'z') ? (char)(ch - 32) : ch;
        }
        assert_ptr_equal(command_lookup(buf, c->name_len), c);

        /* all upper, as command_upper_name gives it */
        assert_int_equal(strlen(command_upper_name(c)), c->name_len);
        assert_ptr_equal(command_lookup(command_upper_name(c), c->name_len), c);
    }
}

static void
test_lookup_unknown(void **state)
{
    char longname[300];

    (void)state;
    assert_null(command_lookup("", 0));
    assert_null(command_lookup("get", 0));
    assert_null(lookup("gett"));
    assert_null(lookup("ge"));
    assert_null(lookup("g"));
    assert_null(lookup("zzzzzz"));
    assert_null(lookup("aaa"));
    assert_null(lookup("get "));
    assert_null(command_lookup("get\0", 4));
    assert_null(lookup("g\xc5t"));
    assert_null(lookup("object|"));
    assert_null(lookup("object|encodingx"));
    assert_null(lookup("|encoding"));
    assert_null(lookup("client|trackinginfoo"));

    memset(longname, 'a', sizeof(longname));
    assert_null(command_lookup(longname, sizeof(longname)));
    /* a long name whose prefix is a real command */
    memcpy(longname, "cluster|count-failure-reports", 29);
    assert_null(command_lookup(longname, 40));
    assert_null(command_lookup(longname, sizeof(longname)));
    assert_non_null(command_lookup(longname, 29));
}

static void
test_lookup_known(void **state)
{
    (void)state;
    assert_int_equal(lookup("GET")->id, COMMAND_GET);
    assert_int_equal(lookup("gEt")->id, COMMAND_GET);
    assert_int_equal(lookup("GETSET")->id, COMMAND_GETSET);
    assert_int_equal(lookup("restore-asking")->id, COMMAND_RESTORE_ASKING);
    assert_int_equal(lookup("EVAL_RO")->id, COMMAND_EVAL_RO);
    assert_int_equal(lookup("Object|Encoding")->id, COMMAND_OBJECT_ENCODING);
    assert_int_equal(lookup("client|setinfo")->id, COMMAND_CLIENT_SETINFO);
}

static void
test_resolve(void **state)
{
    struct command_keys k;
    const struct command *obj = lookup("object");
    struct args a;

    (void)state;
    assert_non_null(obj);
    assert_true(obj->flags & CMD_CONTAINER);

    a = ARGS("OBJECT", "ENCODING", "k");
    assert_ptr_equal(command_resolve(obj, a.argc, a.argv), lookup("object|encoding"));

    a = ARGS("object", "Freq", "k");
    assert_int_equal(command_resolve(obj, a.argc, a.argv)->id, COMMAND_OBJECT_FREQ);

    /* no subcommand, unknown or too long: the container itself */
    a = ARGS("object");
    assert_ptr_equal(command_resolve(obj, a.argc, a.argv), obj);
    a = ARGS("object", "nosuch", "k");
    assert_ptr_equal(command_resolve(obj, a.argc, a.argv), obj);
    a = ARGS("object", "");
    assert_ptr_equal(command_resolve(obj, a.argc, a.argv), obj);
    a = ARGS("object", "encoding-and-a-very-long-tail-beyond-any-name");
    assert_ptr_equal(command_resolve(obj, a.argc, a.argv), obj);
    /* another container's subcommand is not reachable */
    a = ARGS("object", "setname");
    assert_ptr_equal(command_resolve(obj, a.argc, a.argv), obj);

    /* not a container: unchanged */
    a = ARGS("get", "encoding");
    assert_ptr_equal(command_resolve(lookup("get"), a.argc, a.argv), lookup("get"));

    /* OBJECT ENCODING k: the key is argv[2] */
    a = ARGS("OBJECT", "ENCODING", "k");
    keys_of(a, CORDIS_OK, &k);
    assert_keys(&k, 2, 2, 1, 0);

    /* OBJECT HELP has no key */
    a = ARGS("object", "help");
    assert_int_equal(keys_of(a, CORDIS_OK, &k)->id, COMMAND_OBJECT_HELP);
    assert_keys(&k, 0, 0, 0, 0);

    /* XINFO STREAM k */
    a = ARGS("xinfo", "STREAM", "s");
    keys_of(a, CORDIS_OK, &k);
    assert_keys(&k, 2, 2, 1, 0);
}

static void
test_for_request(void **state)
{
    struct args a;

    (void)state;
    a = ARGS("client", "SetName", "x");
    assert_int_equal(command_for_request(a.argc, a.argv)->id, COMMAND_CLIENT_SETNAME);
    a = ARGS("client", "kill", "x");
    assert_int_equal(command_for_request(a.argc, a.argv)->id, COMMAND_CLIENT_KILL);
    a = ARGS("client");
    assert_int_equal(command_for_request(a.argc, a.argv)->id, COMMAND_CLIENT);

    /* a subcommand's table name is not a command name for clients */
    a = ARGS("object|encoding", "k");
    assert_null(command_for_request(a.argc, a.argv));
    a = ARGS("nosuch", "k");
    assert_null(command_for_request(a.argc, a.argv));
    a = ARGS("", "k");
    assert_null(command_for_request(a.argc, a.argv));
    assert_null(command_for_request(0, a.argv));
}

/* --- arity ------------------------------------------------------------------ */

static void
test_arity(void **state)
{
    const struct command *get = lookup("get");
    const struct command *set = lookup("set");
    const struct command *enc = lookup("object|encoding");

    (void)state;
    assert_true(command_arity_ok(get, 2));
    assert_false(command_arity_ok(get, 1));
    assert_false(command_arity_ok(get, 3));

    assert_int_equal(set->arity, -3);
    assert_false(command_arity_ok(set, 2));
    assert_true(command_arity_ok(set, 3));
    assert_true(command_arity_ok(set, 6));

    assert_true(command_arity_ok(enc, 3));
    assert_false(command_arity_ok(enc, 2));
    assert_true(command_arity_ok(lookup("ping"), 1));
    assert_true(command_arity_ok(lookup("ping"), 2));
}

/* --- keys ------------------------------------------------------------------- */

static void
test_keys_fixed(void **state)
{
    struct command_keys k;

    (void)state;
    keys_of(ARGS("GET", "k"), CORDIS_OK, &k);
    assert_keys(&k, 1, 1, 1, 0);

    /* MSET: 1, -1, 2; last is the last key, not its value */
    keys_of(ARGS("MSET", "a", "1", "b", "2"), CORDIS_OK, &k);
    assert_keys(&k, 1, 3, 2, 0);
    /* an odd MSET is Redis's (or the splitter's) to refuse */
    keys_of(ARGS("MSET", "a", "1", "b"), CORDIS_OK, &k);
    assert_keys(&k, 1, 3, 2, 0);

    keys_of(ARGS("DEL", "a", "b", "c"), CORDIS_OK, &k);
    assert_keys(&k, 1, 3, 1, 0);

    /* last = -2: BLPOP a b timeout */
    keys_of(ARGS("BLPOP", "a", "b", "0"), CORDIS_OK, &k);
    assert_keys(&k, 1, 2, 1, 0);

    /* RENAME a b: both keys */
    keys_of(ARGS("RENAME", "a", "b"), CORDIS_OK, &k);
    assert_keys(&k, 1, 2, 1, 0);

    /* clamped to argc - 1 */
    keys_of(ARGS("LMOVE", "a"), CORDIS_OK, &k);
    assert_keys(&k, 1, 1, 1, 0);

    /* too few arguments for any key */
    keys_of(ARGS("GET"), CORDIS_ERROR, &k);
    assert_keys(&k, 0, 0, 0, 0);
    keys_of(ARGS("BLPOP", "a"), CORDIS_ERROR, &k);

    /* no keys at all */
    keys_of(ARGS("PING"), CORDIS_OK, &k);
    assert_keys(&k, 0, 0, 0, 0);
    keys_of(ARGS("TIME"), CORDIS_OK, &k);
    assert_keys(&k, 0, 0, 0, 0);
}

static void
test_keys_eval(void **state)
{
    struct command_keys k;

    (void)state;
    keys_of(ARGS("EVAL", "return 1", "2", "a", "b", "x"), CORDIS_OK, &k);
    assert_keys(&k, 3, 4, 1, 0);

    keys_of(ARGS("evalsha", "abc", "1", "a"), CORDIS_OK, &k);
    assert_keys(&k, 3, 3, 1, 0);

    keys_of(ARGS("FCALL_RO", "f", "1", "a", "arg"), CORDIS_OK, &k);
    assert_keys(&k, 3, 3, 1, 0);

    /* zero keys is fine for scripts */
    keys_of(ARGS("EVAL", "return 1", "0"), CORDIS_OK, &k);
    assert_keys(&k, 0, 0, 0, 0);
    keys_of(ARGS("EVAL", "return 1", "0", "arg"), CORDIS_OK, &k);
    assert_keys(&k, 0, 0, 0, 0);

    /* not a count, or more keys than arguments */
    keys_of(ARGS("EVAL", "return 1", "x", "a"), CORDIS_ERROR, &k);
    assert_keys(&k, 0, 0, 0, 0);
    keys_of(ARGS("EVAL", "return 1", "3", "a", "b"), CORDIS_ERROR, &k);
    keys_of(ARGS("EVAL", "return 1", "-1", "a"), CORDIS_ERROR, &k);
    keys_of(ARGS("EVAL", "return 1", "+1", "a"), CORDIS_ERROR, &k);
    keys_of(ARGS("EVAL", "return 1", "01", "a"), CORDIS_ERROR, &k);
    keys_of(ARGS("EVAL", "return 1", "", "a"), CORDIS_ERROR, &k);
    keys_of(ARGS("EVAL", "return 1", "1 ", "a"), CORDIS_ERROR, &k);
    keys_of(ARGS("EVAL", "return 1", "99999999999999999999999", "a"), CORDIS_ERROR, &k);
    keys_of(ARGS("EVAL", "return 1"), CORDIS_ERROR, &k);
}

static void
test_keys_numkeys(void **state)
{
    struct command_keys k;

    (void)state;
    keys_of(ARGS("ZUNION", "2", "a", "b", "WITHSCORES"), CORDIS_OK, &k);
    assert_keys(&k, 2, 3, 1, 0);

    keys_of(ARGS("SINTERCARD", "3", "a", "b", "c", "LIMIT", "5"), CORDIS_OK, &k);
    assert_keys(&k, 2, 4, 1, 0);

    keys_of(ARGS("LMPOP", "2", "a", "b", "LEFT"), CORDIS_OK, &k);
    assert_keys(&k, 2, 3, 1, 0);

    keys_of(ARGS("BLMPOP", "0", "2", "a", "b", "LEFT"), CORDIS_OK, &k);
    assert_keys(&k, 3, 4, 1, 0);

    keys_of(ARGS("BZMPOP", "1.5", "1", "z", "MIN"), CORDIS_OK, &k);
    assert_keys(&k, 3, 3, 1, 0);

    /* these need at least one key */
    keys_of(ARGS("ZUNION", "0"), CORDIS_ERROR, &k);
    keys_of(ARGS("LMPOP", "0", "LEFT"), CORDIS_ERROR, &k);
    keys_of(ARGS("ZINTER", "3", "a", "b"), CORDIS_ERROR, &k);
}

static void
test_keys_numkeys_dest(void **state)
{
    struct command_keys k;

    (void)state;
    keys_of(ARGS("ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"), CORDIS_OK, &k);
    assert_keys(&k, 3, 4, 1, 1);

    keys_of(ARGS("zdiffstore", "d", "1", "a"), CORDIS_OK, &k);
    assert_keys(&k, 3, 3, 1, 1);

    keys_of(ARGS("ZINTERSTORE", "d", "0", "a"), CORDIS_ERROR, &k);
    assert_keys(&k, 0, 0, 0, 0);
    keys_of(ARGS("ZINTERSTORE", "d", "3", "a", "b"), CORDIS_ERROR, &k);
    keys_of(ARGS("ZINTERSTORE", "d", "two", "a", "b"), CORDIS_ERROR, &k);
    keys_of(ARGS("ZINTERSTORE", "d"), CORDIS_ERROR, &k);
}

static void
test_keys_streams(void **state)
{
    struct command_keys k;

    (void)state;
    keys_of(ARGS("XREAD", "STREAMS", "a", "b", "0", "0"), CORDIS_OK, &k);
    assert_keys(&k, 2, 3, 1, 0);

    keys_of(ARGS("xread", "count", "10", "block", "0", "streams", "a", "$"), CORDIS_OK, &k);
    assert_keys(&k, 6, 6, 1, 0);

    keys_of(ARGS("XREAD", "BLOCK", "100", "STREAMS", "a", "b", "c", "0", "0", "0"),
            CORDIS_OK, &k);
    assert_keys(&k, 4, 6, 1, 0);

    keys_of(ARGS("XREADGROUP", "GROUP", "g", "c", "STREAMS", "a", "b", "0", "0"),
            CORDIS_OK, &k);
    assert_keys(&k, 5, 6, 1, 0);

    keys_of(ARGS("XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "NOACK",
                 "STREAMS", "a", ">"), CORDIS_OK, &k);
    assert_keys(&k, 8, 8, 1, 0);

    /* a group and consumer spelt like the keyword */
    keys_of(ARGS("XREADGROUP", "GROUP", "streams", "streams", "STREAMS", "a", ">"),
            CORDIS_OK, &k);
    assert_keys(&k, 5, 5, 1, 0);

    /* odd remainder, nothing after STREAMS, no STREAMS, unknown option */
    keys_of(ARGS("XREAD", "STREAMS", "a", "b", "0"), CORDIS_ERROR, &k);
    assert_keys(&k, 0, 0, 0, 0);
    keys_of(ARGS("XREAD", "COUNT", "1", "STREAMS"), CORDIS_ERROR, &k);
    keys_of(ARGS("XREAD", "COUNT", "1", "BLOCK", "0"), CORDIS_ERROR, &k);
    keys_of(ARGS("XREAD", "FOO", "STREAMS", "a", "0"), CORDIS_ERROR, &k);
    keys_of(ARGS("XREAD", "COUNT"), CORDIS_ERROR, &k);
}

static void
test_keys_sort(void **state)
{
    struct command_keys k;

    (void)state;
    keys_of(ARGS("SORT", "k"), CORDIS_OK, &k);
    assert_keys(&k, 1, 1, 1, 0);

    keys_of(ARGS("SORT", "k", "BY", "w_*", "LIMIT", "0", "10", "GET", "#",
                 "ALPHA", "STORE", "d"), CORDIS_OK, &k);
    assert_keys(&k, 1, 1, 1, 11);

    keys_of(ARGS("sort", "k", "store", "d1", "store", "d2"), CORDIS_OK, &k);
    assert_keys(&k, 1, 1, 1, 5);

    /* a GET pattern spelt "store" is not the option; STORE with no key */
    keys_of(ARGS("SORT", "k", "GET", "store", "DESC"), CORDIS_OK, &k);
    assert_keys(&k, 1, 1, 1, 0);
    keys_of(ARGS("SORT", "k", "STORE"), CORDIS_OK, &k);
    assert_keys(&k, 1, 1, 1, 0);

    keys_of(ARGS("SORT_RO", "k", "LIMIT", "0", "1"), CORDIS_OK, &k);
    assert_keys(&k, 1, 1, 1, 0);
}

static void
test_keys_georadius(void **state)
{
    struct command_keys k;

    (void)state;
    keys_of(ARGS("GEORADIUS", "g", "15", "37", "200", "km", "WITHDIST"), CORDIS_OK, &k);
    assert_keys(&k, 1, 1, 1, 0);

    keys_of(ARGS("GEORADIUS", "g", "15", "37", "200", "km", "COUNT", "5", "STORE", "d"),
            CORDIS_OK, &k);
    assert_keys(&k, 1, 1, 1, 9);

    keys_of(ARGS("GEORADIUSBYMEMBER", "g", "m", "10", "km", "STOREDIST", "d"),
            CORDIS_OK, &k);
    assert_keys(&k, 1, 1, 1, 6);
}

static void
test_keys_migrate(void **state)
{
    struct command_keys k;

    (void)state;
    keys_of(ARGS("MIGRATE", "h", "6379", "k", "0", "1000"), CORDIS_OK, &k);
    assert_keys(&k, 3, 3, 1, 0);

    keys_of(ARGS("MIGRATE", "h", "6379", "", "0", "1000", "COPY", "AUTH", "keys",
                 "KEYS", "a", "b"), CORDIS_OK, &k);
    assert_keys(&k, 10, 11, 1, 0);

    keys_of(ARGS("MIGRATE", "h", "6379", "k", "0", "1000", "KEYS", "a"), CORDIS_ERROR, &k);
    keys_of(ARGS("MIGRATE", "h", "6379", "", "0", "1000", "KEYS"), CORDIS_ERROR, &k);
}

/* --- flags ------------------------------------------------------------------ */

static void
test_flags(void **state)
{
    (void)state;
    /* the dispatch column */
    assert_int_equal(lookup("get")->dispatch, DISPATCH_KEYED);
    assert_int_equal(lookup("object|encoding")->dispatch, DISPATCH_KEYED);
    assert_int_equal(lookup("rename")->dispatch, DISPATCH_SAME_GROUP);
    assert_int_equal(lookup("bitop")->dispatch, DISPATCH_SAME_GROUP);
    assert_int_equal(lookup("eval")->dispatch, DISPATCH_SAME_GROUP);
    assert_int_equal(lookup("xread")->dispatch, DISPATCH_SAME_GROUP);
    assert_int_equal(lookup("mget")->dispatch, DISPATCH_SPLIT);
    assert_int_equal(lookup("del")->dispatch, DISPATCH_SPLIT);
    assert_int_equal(lookup("ping")->dispatch, DISPATCH_LOCAL);
    assert_int_equal(lookup("select")->dispatch, DISPATCH_LOCAL);
    assert_int_equal(lookup("command|count")->dispatch, DISPATCH_LOCAL);
    assert_int_equal(lookup("client|list")->dispatch, DISPATCH_LOCAL);
    assert_int_equal(lookup("multi")->dispatch, DISPATCH_PINNED);
    assert_int_equal(lookup("blpop")->dispatch, DISPATCH_PINNED);
    assert_int_equal(lookup("subscribe")->dispatch, DISPATCH_PINNED);
    assert_int_equal(lookup("shutdown")->dispatch, DISPATCH_REFUSED);
    assert_int_equal(lookup("cluster|info")->dispatch, DISPATCH_REFUSED);
    assert_non_null(strstr(lookup("swapdb")->refusal, "every group"));

    /* fan-out merge rules, from Redis's tips or cordis's own choice */
    assert_int_equal(lookup("flushall")->merge, MERGE_ALL_OK);
    assert_int_equal(lookup("config|set")->merge, MERGE_ALL_OK);
    assert_int_equal(lookup("dbsize")->merge, MERGE_SUM);
    assert_int_equal(lookup("slowlog|len")->merge, MERGE_SUM);
    assert_int_equal(lookup("keys")->merge, MERGE_CONCAT);
    assert_int_equal(lookup("script|load")->merge, MERGE_SAME);
    assert_int_equal(lookup("function|load")->merge, MERGE_SAME);
    assert_int_equal(lookup("script|exists")->merge, MERGE_AND);
    assert_int_equal(lookup("script|kill")->merge, MERGE_ANY_OK);
    assert_int_equal(lookup("config|get")->merge, MERGE_FIRST);
    assert_int_equal(lookup("time")->merge, MERGE_FIRST);
    assert_int_equal(lookup("scan")->merge, MERGE_SCAN);
    assert_int_equal(lookup("randomkey")->merge, MERGE_RANDOM);

    assert_true(lookup("auth")->flags & CMD_NOAUTH);
    assert_true(lookup("hello")->flags & CMD_NOAUTH);
    assert_true(lookup("quit")->flags & CMD_NOAUTH);
    assert_false(lookup("ping")->flags & CMD_NOAUTH);
    assert_true(lookup("blpop")->flags & CMD_BLOCKING);

    assert_true(lookup("get")->flags & CMD_READONLY);
    assert_true(lookup("set")->flags & CMD_WRITE);
    assert_true(lookup("object")->flags & CMD_CONTAINER);
    assert_false(lookup("get")->flags & CMD_CONTAINER);

    assert_int_equal(lookup("eval")->keys_kind, CMD_KEYS_NUMKEYS);
    assert_int_equal(lookup("eval")->numkeys_at, 2);
    assert_int_equal(lookup("xreadgroup")->keys_kind, CMD_KEYS_STREAMS);
}

static void
test_upper_name(void **state)
{
    (void)state;
    assert_string_equal(command_upper_name(lookup("get")), "GET");
    assert_string_equal(command_upper_name(lookup("object|encoding")), "OBJECT|ENCODING");
    assert_string_equal(command_upper_name(lookup("restore-asking")), "RESTORE-ASKING");
    assert_string_equal(command_upper_name(lookup("eval_ro")), "EVAL_RO");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count),
        cmocka_unit_test(test_table_sorted_unique),
        cmocka_unit_test(test_subcommands_have_containers),
        cmocka_unit_test(test_flags_consistent),
        cmocka_unit_test(test_lookup_every_entry),
        cmocka_unit_test(test_lookup_unknown),
        cmocka_unit_test(test_lookup_known),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_for_request),
        cmocka_unit_test(test_arity),
        cmocka_unit_test(test_keys_fixed),
        cmocka_unit_test(test_keys_eval),
        cmocka_unit_test(test_keys_numkeys),
        cmocka_unit_test(test_keys_numkeys_dest),
        cmocka_unit_test(test_keys_streams),
        cmocka_unit_test(test_keys_sort),
        cmocka_unit_test(test_keys_georadius),
        cmocka_unit_test(test_keys_migrate),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_upper_name),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
