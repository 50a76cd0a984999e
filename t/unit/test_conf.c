/*
 * Unit tests for conf.c: each test writes a config file to /tmp, loads it
 * and checks either the values or the exact one-line error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"
#include "log.h"

#define ERRLEN 512

#define PATHLEN 64

/* Writes text to a new temp file named in path; the caller unlinks it. */
static void
write_conf(const char *text, char path[PATHLEN])
{
    size_t len = strlen(text);
    int    fd;

    snprintf(path, PATHLEN, "/tmp/cordis-test-conf-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

static struct conf *
load_ok(const char *text)
{
    struct conf *conf = NULL;
    char         err[ERRLEN] = "", path[PATHLEN];
    int          rc;

    write_conf(text, path);
    rc = conf_load(path, &conf, err, sizeof(err));
    unlink(path);
    if (rc != CORDIS_OK) {
        fail_msg("load failed: %s", err);
    }
    assert_non_null(conf);
    assert_string_equal(conf->path, path);
    return conf;
}

/*
 * Loads text expecting failure; err must be "<path>" followed by exactly
 * expected (such as ":3: proxy.workers: ..."), on one line.
 */
static void
load_err(const char *text, const char *expected)
{
    struct conf *conf = (struct conf *)&conf;   /* must be reset to NULL */
    char         err[ERRLEN] = "", path[PATHLEN];
    int          rc;

    write_conf(text, path);
    rc = conf_load(path, &conf, err, sizeof(err));
    unlink(path);
    if (rc != CORDIS_ERROR) {
        conf_free(conf);
        fail_msg("loaded, expected error \"%s\"", expected);
    }
    assert_null(conf);
    assert_null(strchr(err, '\n'));
    assert_memory_equal(err, path, strlen(path));
    assert_string_equal(err + strlen(path), expected);
}

/* Like load_err, but only checks that err contains needle. */
static void
load_err_has(const char *text, const char *needle)
{
    struct conf *conf = NULL;
    char         err[ERRLEN] = "", path[PATHLEN];
    int          rc;

    write_conf(text, path);
    rc = conf_load(path, &conf, err, sizeof(err));
    unlink(path);
    if (rc != CORDIS_ERROR) {
        conf_free(conf);
        fail_msg("loaded, expected an error containing \"%s\"", needle);
    }
    assert_null(strchr(err, '\n'));
    if (strstr(err, needle) == NULL) {
        fail_msg("error \"%s\" does not contain \"%s\"", err, needle);
    }
}

static int
expected_workers(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    if (n < 1) {
        n = 1;
    }
    return n > CORDIS_MAX_WORKERS ? CORDIS_MAX_WORKERS : (int)n;
}

/* ---- good files ------------------------------------------------------- */

static const char full_conf[] =
    "product_name = \"prod\";\n"
    "pid_file = \"/tmp/cordis.pid\";\n"
    "log = { file = \"/tmp/cordis.log\"; level = \"debug\"; };\n"
    "proxy = {\n"
    "  listen = \"127.0.0.1:7000\";\n"
    "  workers = 3;\n"
    "  max_clients = 500;\n"
    "  drain_timeout = \"2m\";\n"
    "};\n"
    "admin = { listen = \"0.0.0.0:7001\"; token = \"tok\"; };\n"
    "session = {\n"
    "  auth = \"pw\";\n"
    "  max_pipeline = 100;\n"
    "  max_output = \"8mb\";\n"
    "  max_bulk_len = \"1gb\";\n"
    "  recv_timeout = \"0\";\n"
    "  send_timeout = \"1h\";\n"
    "};\n"
    "backend = {\n"
    "  auth = \"bpw\";\n"
    "  databases = 1;\n"
    "  primary_parallel = 4;\n"
    "  replica_parallel = 2;\n"
    "  primary_only = true;\n"
    "  ping_period = \"0\";\n"
    "  connect_timeout = \"250ms\";\n"
    "  recv_timeout = \"10s\";\n"
    "  send_timeout = \"1d\";\n"
    "};\n"
    "groups = (\n"
    "  { id = 1; primary = \"127.0.0.1:6379\"; replicas = [ \"127.0.0.1:6479\" ]; },\n"
    "  { id = 70; primary = \"[::1]:6380\";\n"
    "    replicas = [ \"localhost:6480\", \"10.0.0.1:6480\",\n"
    "                 \"10.0.0.2:6480\", \"10.0.0.3:6480\" ]; }\n"
    ");\n"
    "slots = (\n"
    "  { range = \"0-511\"; group = 1; },\n"
    "  { range = \"512\"; group = 70; },\n"
    "  { range = \"600-1023\"; group = 70; }\n"
    ");\n";

static void
test_full_file(void **state)
{
    struct conf             *c = load_ok(full_conf);
    const struct conf_group *g;
    int                      i;

    assert_string_equal(c->product_name, "prod");
    assert_string_equal(c->pid_file, "/tmp/cordis.pid");
    assert_string_equal(c->log.file, "/tmp/cordis.log");
    assert_int_equal(c->log.level, LOG_LEVEL_DEBUG);
    assert_string_equal(c->proxy.listen, "127.0.0.1:7000");
    assert_int_equal(c->proxy.workers, 3);
    assert_int_equal(c->proxy.workers_conf, 3);
    assert_int_equal(c->proxy.max_clients, 500);
    assert_int_equal(c->proxy.drain_timeout, 120000);
    assert_string_equal(c->admin.listen, "0.0.0.0:7001");
    assert_string_equal(c->admin.token, "tok");
    assert_string_equal(c->session.auth, "pw");
    assert_int_equal(c->session.max_pipeline, 100);
    assert_int_equal(c->session.max_output, 8 * 1024 * 1024);
    assert_int_equal(c->session.max_bulk_len, 1024 * 1024 * 1024);
    assert_int_equal(c->session.recv_timeout, 0);
    assert_int_equal(c->session.send_timeout, 3600 * 1000);
    assert_string_equal(c->backend.auth, "bpw");
    assert_int_equal(c->backend.databases, 1);
    assert_int_equal(c->backend.primary_parallel, 4);
    assert_int_equal(c->backend.replica_parallel, 2);
    assert_true(c->backend.primary_only);
    assert_int_equal(c->backend.ping_period, 0);
    assert_int_equal(c->backend.connect_timeout, 250);
    assert_int_equal(c->backend.recv_timeout, 10000);
    assert_int_equal(c->backend.send_timeout, 86400 * 1000);

    assert_int_equal(c->ngroups, 2);
    assert_int_equal(c->groups[0].id, 1);
    assert_string_equal(c->groups[0].primary, "127.0.0.1:6379");
    assert_int_equal(c->groups[0].nreplicas, 1);
    assert_string_equal(c->groups[0].replicas[0], "127.0.0.1:6479");
    assert_int_equal(c->groups[1].id, 70);
    assert_string_equal(c->groups[1].primary, "[::1]:6380");
    assert_int_equal(c->groups[1].nreplicas, 4);
    /* Stored as written, not resolved. */
    assert_string_equal(c->groups[1].replicas[0], "localhost:6480");
    assert_string_equal(c->groups[1].replicas[3], "10.0.0.3:6480");

    g = conf_group_find(c, 70);
    assert_ptr_equal(g, &c->groups[1]);
    assert_null(conf_group_find(c, 2));
    assert_null(conf_group_find(NULL, 1));

    for (i = 0; i < CORDIS_SLOTS; i++) {
        int want = i <= 511 ? 1 : i == 512 ? 70 : i < 600 ? 0 : 70;

        if (c->slot_group[i] != want) {
            fail_msg("slot %d: group %d, expected %d", i, c->slot_group[i], want);
        }
    }
    conf_free(c);
}

static void
test_defaults(void **state)
{
    struct conf *c = load_ok("# nothing set\n");
    int          i;

    assert_string_equal(c->product_name, "cordis");
    assert_string_equal(c->pid_file, "");
    assert_string_equal(c->log.file, "");
    assert_int_equal(c->log.level, LOG_LEVEL_INFO);
    assert_string_equal(c->proxy.listen, "0.0.0.0:19000");
    assert_int_equal(c->proxy.workers_conf, 0);
    assert_int_equal(c->proxy.workers, expected_workers());
    assert_int_equal(c->proxy.max_clients, 10000);
    assert_int_equal(c->proxy.drain_timeout, 30000);
    assert_string_equal(c->admin.listen, "127.0.0.1:11080");
    assert_string_equal(c->admin.token, "");
    assert_string_equal(c->session.auth, "");
    assert_int_equal(c->session.max_pipeline, 10000);
    assert_int_equal(c->session.max_output, 64 * 1024 * 1024);
    assert_int_equal(c->session.max_bulk_len, 512 * 1024 * 1024);
    assert_int_equal(c->session.recv_timeout, 30 * 60 * 1000);
    assert_int_equal(c->session.send_timeout, 30000);
    assert_string_equal(c->backend.auth, "");
    assert_int_equal(c->backend.databases, 16);
    assert_int_equal(c->backend.primary_parallel, 1);
    assert_int_equal(c->backend.replica_parallel, 1);
    assert_false(c->backend.primary_only);
    assert_int_equal(c->backend.ping_period, 5000);
    assert_int_equal(c->backend.connect_timeout, 5000);
    assert_int_equal(c->backend.recv_timeout, 30000);
    assert_int_equal(c->backend.send_timeout, 30000);
    assert_int_equal(c->ngroups, 0);
    assert_null(c->groups);
    for (i = 0; i < CORDIS_SLOTS; i++) {
        assert_int_equal(c->slot_group[i], 0);
    }
    conf_free(c);

    /* Empty sections and lists are the defaults too. */
    c = load_ok("proxy = { };\ngroups = ( );\nslots = [ ];\n");
    assert_int_equal(c->proxy.max_clients, 10000);
    assert_int_equal(c->ngroups, 0);
    conf_free(c);
}

static void
test_example_file(void **state)
{
    const char  *srcdir = getenv("CORDIS_SRCDIR");
    char         path[4096], err[ERRLEN] = "";
    struct conf *c = NULL;

    snprintf(path, sizeof(path), "%s%sconf/cordis.conf",
             srcdir != NULL ? srcdir : "", srcdir != NULL ? "/" : "");
    if (conf_load(path, &c, err, sizeof(err)) != CORDIS_OK) {
        fail_msg("%s", err);
    }
    assert_string_equal(c->product_name, "cordis-demo");
    assert_string_equal(c->pid_file, "/run/cordis/cordis.pid");
    assert_string_equal(c->log.file, "/var/log/cordis/cordis.log");
    assert_int_equal(c->log.level, LOG_LEVEL_INFO);
    assert_string_equal(c->proxy.listen, "0.0.0.0:19000");
    assert_int_equal(c->proxy.workers_conf, 0);
    assert_string_equal(c->admin.listen, "127.0.0.1:11080");
    assert_int_equal(c->ngroups, 2);
    assert_int_equal(c->groups[0].id, 1);
    assert_string_equal(c->groups[0].primary, "127.0.0.1:6379");
    assert_int_equal(c->groups[1].id, 2);
    assert_string_equal(c->groups[1].primary, "127.0.0.1:6380");
    assert_int_equal(c->slot_group[0], 1);
    assert_int_equal(c->slot_group[511], 1);
    assert_int_equal(c->slot_group[512], 2);
    assert_int_equal(c->slot_group[1023], 2);
    conf_free(c);
}

static void
test_log_levels(void **state)
{
    static const struct { const char *text; int level; } cases[] = {
        { "error", LOG_LEVEL_ERROR }, { "warn", LOG_LEVEL_WARN },
        { "warning", LOG_LEVEL_WARN }, { "info", LOG_LEVEL_INFO },
        { "debug", LOG_LEVEL_DEBUG }, { "DEBUG", LOG_LEVEL_DEBUG },
    };
    char   text[128];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct conf *c;

        snprintf(text, sizeof(text), "log = { level = \"%s\"; };\n",
                 cases[i].text);
        c = load_ok(text);
        assert_int_equal(c->log.level, cases[i].level);
        conf_free(c);
    }
    load_err("log = {\n  level = \"verbose\";\n};\n",
             ":2: log.level: \"verbose\" is not a log level; expected one of "
             "\"error\", \"warn\", \"info\", \"debug\"");
}

/* ---- file and syntax errors ------------------------------------------ */

static void
test_missing_file(void **state)
{
    struct conf *c = (struct conf *)&c;
    char         err[ERRLEN];

    assert_int_equal(conf_load("/tmp/cordis-test-no-such-file.conf", &c, err,
                               sizeof(err)), CORDIS_ERROR);
    assert_null(c);
    assert_string_equal(err, "/tmp/cordis-test-no-such-file.conf: cannot open: "
                        "No such file or directory");

    assert_int_equal(conf_load("/tmp", &c, err, sizeof(err)), CORDIS_ERROR);
    assert_string_equal(err, "/tmp: cannot open: Is a directory");

    /* No buffer, or a tiny one, is not a crash. */
    assert_int_equal(conf_load("/tmp/cordis-test-no-such-file.conf", &c, NULL,
                               0), CORDIS_ERROR);
    assert_int_equal(conf_load("/tmp/cordis-test-no-such-file.conf", &c, err,
                               5), CORDIS_ERROR);
    assert_string_equal(err, "/tmp");
}

static void
test_syntax_error(void **state)
{
    load_err("product_name = \"x\";\nproxy = {\n  listen = ;\n};\n",
             ":3: syntax error");
    load_err("proxy = {\n  listen = \"0.0.0.0:1\";\n", ":3: syntax error");
    load_err("a = 1;\nproduct_name = \"x\";\nproduct_name = \"y\";\n",
             ":3: duplicate setting name");
}

/* ---- unknown settings and types --------------------------------------- */

static void
test_unknown_setting(void **state)
{
    load_err("proxy = {\n  lisen = \"0.0.0.0:19000\";\n};\n",
             ":2: proxy.lisen: unknown setting (did you mean proxy.listen?)");
    load_err("\n\nfrobnicate = 1;\n", ":3: frobnicate: unknown setting");
    load_err("prxy = { workers = 1; };\n",
             ":1: prxy: unknown setting (did you mean proxy?)");
    load_err("session = { max_pipelines = 5; };\n",
             ":1: session.max_pipelines: unknown setting "
             "(did you mean session.max_pipeline?)");
    load_err("proxy = { nested = { listen = \"0.0.0.0:1\"; }; };\n",
             ":1: proxy.nested: unknown setting");
    load_err("groups = (\n  { id = 1; primary = \"127.0.0.1:1\"; weight = 3; }\n);\n",
             ":2: groups[0].weight: unknown setting");
    load_err("groups = (\n  { id = 1; primry = \"127.0.0.1:1\"; }\n);\n",
             ":2: groups[0].primry: unknown setting (did you mean primary?)");
    load_err("groups = ( { id = 1; primary = \"127.0.0.1:1\"; } );\n"
             "slots = (\n  { range = \"0\"; group = 1; },\n"
             "  { ranges = \"1\"; group = 1; }\n);\n",
             ":4: slots[1].ranges: unknown setting (did you mean range?)");
    load_err("proxy = \"0.0.0.0:1\";\n", ":1: proxy: expected a group { ... }");
}

static void
test_wrong_type(void **state)
{
    load_err("proxy = { max_clients = \"100\"; };\n",
             ":1: proxy.max_clients: expected an integer");
    load_err("proxy = { workers = 1.5; };\n",
             ":1: proxy.workers: expected an integer");
    load_err("proxy = { listen = 19000; };\n",
             ":1: proxy.listen: expected an address such as \"127.0.0.1:6379\", "
             "\"[::1]:6379\" or \"localhost:6379\" (numeric, no host names)");
    load_err("product_name = 5;\n", ":1: product_name: expected a string");
    load_err("log = { file = [ \"a\" ]; };\n", ":1: log.file: expected a string");
    load_err("backend = { primary_only = 1; };\n",
             ":1: backend.primary_only: expected true or false");
    load_err("backend = { primary_only = \"yes\"; };\n",
             ":1: backend.primary_only: expected true or false");
    load_err("log = { level = 3; };\n",
             ":1: log.level: expected one of \"error\", \"warn\", \"info\", "
             "\"debug\"");
    load_err("groups = { id = 1; };\n",
             ":1: groups: expected a list such as ( { id = 1; primary = "
             "\"127.0.0.1:6379\"; }, ... )");
    load_err("groups = ( \"127.0.0.1:1\" );\n",
             ":1: groups[0]: expected a group such as { id = 1; primary = "
             "\"127.0.0.1:6379\"; }");
    load_err("groups = (\n  { id = \"1\"; primary = \"127.0.0.1:1\"; }\n);\n",
             ":2: groups[0].id: expected an integer");
    load_err("groups = (\n  { id = 1; primary = \"127.0.0.1:1\";\n"
             "    replicas = \"127.0.0.1:2\"; }\n);\n",
             ":3: groups[0].replicas: expected a list of addresses such as "
             "[ \"127.0.0.1:6479\" ]");
    load_err("groups = ( { id = 1; primary = \"127.0.0.1:1\"; } );\n"
             "slots = ( { range = 5; group = 1; } );\n",
             ":2: slots[0].range: expected a string such as \"0-511\" or \"512\"");
    load_err("groups = ( { id = 1; primary = \"127.0.0.1:1\"; } );\n"
             "slots = ( { range = \"5\"; group = \"1\"; } );\n",
             ":2: slots[0].group: expected an integer (a group id)");
    load_err("slots = { range = \"5\"; group = 1; };\n",
             ":1: slots: expected a list such as ( { range = \"0-511\"; "
             "group = 1; }, ... )");
}

static void
test_out_of_range(void **state)
{
    char expected[128];

    snprintf(expected, sizeof(expected),
             ":4: proxy.workers: 500 is out of range (0..%d)", CORDIS_MAX_WORKERS);
    load_err("# workers\n\nproxy = {\n    workers = 500;\n};\n", expected);
    snprintf(expected, sizeof(expected),
             ":1: proxy.workers: -1 is out of range (0..%d)", CORDIS_MAX_WORKERS);
    load_err("proxy = { workers = -1; };\n", expected);
    load_err("proxy = { max_clients = 0; };\n",
             ":1: proxy.max_clients: 0 is out of range (1..1000000)");
    load_err("proxy = { max_clients = 1000001; };\n",
             ":1: proxy.max_clients: 1000001 is out of range (1..1000000)");
    load_err("proxy = { max_clients = 5000000000L; };\n",
             ":1: proxy.max_clients: 5000000000 is out of range (1..1000000)");
    load_err("session = { max_pipeline = 0; };\n",
             ":1: session.max_pipeline: 0 is out of range (1..1000000)");
    load_err("backend = { databases = 1025; };\n",
             ":1: backend.databases: 1025 is out of range (1..1024)");
    load_err("backend = { primary_parallel = 65; };\n",
             ":1: backend.primary_parallel: 65 is out of range (1..64)");
    load_err("backend = { replica_parallel = 0; };\n",
             ":1: backend.replica_parallel: 0 is out of range (1..64)");
    load_err("groups = ( { id = 0; primary = \"127.0.0.1:1\"; } );\n",
             ":1: groups[0].id: 0 is out of range (1..65535)");
    load_err("groups = ( { id = 65536; primary = \"127.0.0.1:1\"; } );\n",
             ":1: groups[0].id: 65536 is out of range (1..65535)");
}

static void
test_bad_duration_and_size(void **state)
{
    load_err("session = {\n  recv_timeout = 30;\n};\n",
             ":2: session.recv_timeout: expected a duration such as \"30s\" or "
             "\"500ms\" (units ms, s, m, h, d), not a bare number");
    load_err("session = { recv_timeout = \"1.5s\"; };\n",
             ":1: session.recv_timeout: \"1.5s\" is not a duration; expected a "
             "duration such as \"30s\" or \"500ms\" (units ms, s, m, h, d)");
    load_err("proxy = { drain_timeout = \"30\"; };\n",
             ":1: proxy.drain_timeout: \"30\" is not a duration; expected a "
             "duration such as \"30s\" or \"500ms\" (units ms, s, m, h, d)");
    load_err("backend = { connect_timeout = \"5ms\"; };\n",
             ":1: backend.connect_timeout: \"5ms\" is out of range (10ms..10m)");
    load_err("backend = { connect_timeout = \"0\"; };\n",
             ":1: backend.connect_timeout: \"0\" is out of range (10ms..10m)");
    load_err("backend = { ping_period = \"2h\"; };\n",
             ":1: backend.ping_period: \"2h\" is out of range (0..1h)");
    load_err("session = { max_output = 1048576; };\n",
             ":1: session.max_output: expected a size such as \"64mb\" or "
             "\"512kb\" (units b, kb, mb, gb), not a bare number");
    load_err("session = { max_output = \"64 mb\"; };\n",
             ":1: session.max_output: \"64 mb\" is not a size; expected a size "
             "such as \"64mb\" or \"512kb\" (units b, kb, mb, gb)");
    load_err("session = { max_output = \"512kb\"; };\n",
             ":1: session.max_output: \"512kb\" is out of range (1mb..16gb)");
    load_err("session = { max_bulk_len = \"4gb\"; };\n",
             ":1: session.max_bulk_len: \"4gb\" is out of range (1mb..2gb)");
}

static void
test_bad_address(void **state)
{
    load_err("proxy = { listen = \"0.0.0.0\"; };\n",
             ":1: proxy.listen: \"0.0.0.0\" is not an address; expected an "
             "address such as \"127.0.0.1:6379\", \"[::1]:6379\" or "
             "\"localhost:6379\" (numeric, no host names)");
    load_err_has("admin = { listen = \"localhost:0\"; };\n",
                 ":1: admin.listen: \"localhost:0\" is not an address");
    load_err_has("groups = (\n  { id = 1; primary = \"redis1:6379\"; }\n);\n",
                 ":2: groups[0].primary: \"redis1:6379\" is not an address");
    load_err_has("groups = (\n  { id = 1; primary = \"127.0.0.1:1\";\n"
                 "    replicas = [ \"127.0.0.1:2\",\n"
                 "                 \"::1:6379\" ]; }\n);\n",
                 ":4: groups[0].replicas[1]: \"::1:6379\" is not an address");
    load_err_has("groups = ( { id = 1; primary = 6379; } );\n",
                 ":1: groups[0].primary: expected an address");
    /* A control byte in a value is escaped: the error stays on one line. */
    load_err_has("proxy = { listen = \"1.2.3.4:5\\n6\"; };\n",
                 "\"1.2.3.4:5\\x0a6\" is not an address");
}

/* ---- groups ----------------------------------------------------------- */

static void
test_duplicate_group_id(void **state)
{
    load_err("groups = (\n"
             "  { id = 1; primary = \"127.0.0.1:6379\"; },\n"
             "  { id = 2; primary = \"127.0.0.1:6380\"; },\n"
             "  { id = 1; primary = \"127.0.0.1:6381\"; }\n"
             ");\n",
             ":4: groups[2].id: duplicate group id 1 (also groups[0])");
}

static void
test_duplicate_address(void **state)
{
    load_err("groups = (\n"
             "  { id = 1; primary = \"127.0.0.1:6379\"; },\n"
             "  { id = 2; primary = \"localhost:6379\"; }\n"
             ");\n",
             ":3: groups[1].primary: 127.0.0.1:6379 is already used by "
             "groups[0].primary (group 1)");
    load_err("groups = (\n"
             "  { id = 1; primary = \"127.0.0.1:6379\";\n"
             "    replicas = [ \"127.0.0.1:6479\", \"127.0.0.1:6479\" ]; }\n"
             ");\n",
             ":3: groups[0].replicas[1]: 127.0.0.1:6479 is already used by "
             "groups[0].replicas[0] (group 1)");
    load_err("groups = (\n"
             "  { id = 1; primary = \"127.0.0.1:6379\";\n"
             "    replicas = [ \"127.0.0.1:6379\" ]; }\n"
             ");\n",
             ":3: groups[0].replicas[0]: 127.0.0.1:6379 is already used by "
             "groups[0].primary (group 1)");
}

static void
test_missing_members(void **state)
{
    /* A missing member is reported at the line of its entry. */
    load_err("groups = (\n"
             "  { id = 1; primary = \"127.0.0.1:6379\"; },\n"
             "  {\n"
             "    id = 2;\n"
             "    replicas = [ \"127.0.0.1:6479\" ];\n"
             "  }\n"
             ");\n",
             ":3: groups[1].primary: missing (every group needs a primary "
             "address)");
    load_err("groups = (\n  { primary = \"127.0.0.1:6379\"; }\n);\n",
             ":2: groups[0].id: missing (every group needs an id, 1..65535)");
    load_err("groups = ( { id = 1; primary = \"127.0.0.1:1\"; } );\n"
             "slots = (\n  { group = 1; }\n);\n",
             ":3: slots[0].range: missing (such as \"0-511\" or \"512\")");
    load_err("groups = ( { id = 1; primary = \"127.0.0.1:1\"; } );\n"
             "slots = (\n  { range = \"0-9\"; }\n);\n",
             ":3: slots[0].group: missing (the id of a group in groups)");
}

static void
test_too_many_replicas(void **state)
{
    char expected[128];

    snprintf(expected, sizeof(expected),
             ":2: groups[0].replicas: 5 replicas, at most %d are allowed",
             CORDIS_MAX_REPLICAS);
    load_err("groups = (\n"
             "  { id = 1; primary = \"127.0.0.1:6379\"; replicas = [\n"
             "    \"127.0.0.1:1\", \"127.0.0.1:2\", \"127.0.0.1:3\",\n"
             "    \"127.0.0.1:4\", \"127.0.0.1:5\" ]; }\n"
             ");\n", expected);
}

static void
test_too_many_groups(void **state)
{
    size_t       size = (CORDIS_MAX_GROUPS + 1) * 64 + 64;
    char        *text = malloc(size);
    char         expected[128];
    struct conf *c;
    size_t       len;
    int          i;

    assert_non_null(text);
    /* Exactly the limit loads. */
    len = (size_t)snprintf(text, size, "groups = (\n");
    for (i = 1; i <= CORDIS_MAX_GROUPS; i++) {
        len += (size_t)snprintf(text + len, size - len,
                                "%s{ id = %d; primary = \"10.0.%d.%d:6379\"; }\n",
                                i > 1 ? "," : "", i, i / 256, i % 256);
    }
    snprintf(text + len, size - len, ");\n");
    c = load_ok(text);
    assert_int_equal(c->ngroups, CORDIS_MAX_GROUPS);
    assert_non_null(conf_group_find(c, CORDIS_MAX_GROUPS));
    conf_free(c);

    /* One more does not. */
    snprintf(text + len, size - len, ",{ id = %d; primary = \"10.1.0.1:6379\"; }\n);\n",
             CORDIS_MAX_GROUPS + 1);
    snprintf(expected, sizeof(expected), ":1: groups: %d groups, at most %d are "
             "allowed", CORDIS_MAX_GROUPS + 1, CORDIS_MAX_GROUPS);
    load_err(text, expected);
    free(text);
}

/* ---- slots ------------------------------------------------------------ */

static const char two_groups[] =
    "groups = (\n"                                          /* 1 */
    "  { id = 1; primary = \"127.0.0.1:6379\"; },\n"        /* 2 */
    "  { id = 2; primary = \"127.0.0.1:6380\"; }\n"         /* 3 */
    ");\n";                                                 /* 4 */

/* libconfig 1.5 would wrap integers past 32 bits: they are refused. */
static void
test_integers_past_32_bits(void **state)
{
    load_err("proxy = {\n  workers = 4294967298;\n};\n",
             ":2: integer 4294967298 does not fit in 32 bits (write it with an L suffix for 64 bits)");
    load_err("proxy = { max_clients = 2147483648; };\n",
             ":1: integer 2147483648 does not fit in 32 bits (write it with an L suffix for 64 bits)");
    load_err("proxy = { max_clients = -2147483649; };\n",
             ":1: integer -2147483649 does not fit in 32 bits (write it with an L suffix for 64 bits)");
    load_err("# a comment\nproxy = { max_clients = 0x100000000; };\n",
             ":2: integer 0x100000000 does not fit in 32 bits (write it with an L suffix for 64 bits)");
    /* Inside strings and comments, and with the L suffix, numbers are fine
     * for this check (the schema then judges the values). */
    load_err_has("product_name = \"4294967298\"; # 99999999999\n/* 88888888888 */\n"
                 "proxy = { max_clients = 4294967298L; };\n", "max_clients");
}

static void
test_slot_unknown_group(void **state)
{
    char text[1024];

    snprintf(text, sizeof(text),
             "# cordis test\n"                              /* 1 */
             "proxy = { listen = \"0.0.0.0:19000\"; };\n"   /* 2 */
             "\n"                                           /* 3 */
             "%s"                                           /* 4-7 */
             "\n"                                           /* 8 */
             "slots = (\n"                                  /* 9 */
             "  { range = \"0-511\"; group = 1; },\n"       /* 10 */
             "  { range = \"512-1023\";\n"                  /* 11 */
             "    group = 7; }\n"                           /* 12 */
             ");\n", two_groups);
    load_err(text, ":12: slots[1].group: no group with id 7");

    snprintf(text, sizeof(text), "%sslots = ( { range = \"1\"; group = 0; } );\n",
             two_groups);
    load_err(text, ":5: slots[0].group: no group with id 0");

    /* Slots before groups in the file work all the same. */
    snprintf(text, sizeof(text), "slots = ( { range = \"1\"; group = 2; } );\n%s",
             two_groups);
    {
        struct conf *c = load_ok(text);

        assert_int_equal(c->slot_group[1], 2);
        assert_int_equal(c->slot_group[0], 0);
        conf_free(c);
    }
}

static void
test_slot_overlap(void **state)
{
    char text[1024];

    snprintf(text, sizeof(text),
             "%s"                                           /* 1-4 */
             "slots = (\n"                                  /* 5 */
             "  { range = \"0-511\"; group = 1; },\n"       /* 6 */
             "  { range = \"600-700\"; group = 2; },\n"     /* 7 */
             "  { range = \"500-599\"; group = 2; }\n"      /* 8 */
             ");\n", two_groups);
    load_err(text, ":8: slots[2].range: slot 500 is already assigned by "
             "slots[0] (line 6)");

    snprintf(text, sizeof(text),
             "%sslots = (\n  { range = \"7\"; group = 1; },\n"
             "  { range = \"7\"; group = 1; }\n);\n", two_groups);
    load_err(text, ":7: slots[1].range: slot 7 is already assigned by "
             "slots[0] (line 6)");
}

static void
test_slot_range_errors(void **state)
{
    static const struct { const char *range; const char *expected; } cases[] = {
        { "0-1024", ":5: slots[0].range: \"0-1024\" is out of bounds "
                    "(slots are 0..1023)" },
        { "1024", ":5: slots[0].range: \"1024\" is out of bounds "
                  "(slots are 0..1023)" },
        { "9-3", ":5: slots[0].range: \"9-3\" is reversed "
                 "(FROM must not be greater than TO)" },
        { "-1", NULL }, { "", NULL }, { "a-b", NULL }, { "1-", NULL },
        { "-5-3", NULL }, { "1--3", NULL }, { " 1", NULL }, { "1 ", NULL },
        { "1 - 3", NULL }, { "01", NULL }, { "+1", NULL }, { "1-2-3", NULL },
        { "0x10", NULL },
    };
    char   text[1024], expected[256];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(text, sizeof(text), "%sslots = ( { range = \"%s\"; group = 1; } );\n",
                 two_groups, cases[i].range);
        if (cases[i].expected != NULL) {
            load_err(text, cases[i].expected);
            continue;
        }
        snprintf(expected, sizeof(expected), ":5: slots[0].range: \"%s\" is not "
                 "a slot range; expected \"N\" or \"FROM-TO\" such as \"0-511\"",
                 cases[i].range);
        load_err(text, expected);
    }
}

static void
test_slot_edges(void **state)
{
    char         text[1024];
    struct conf *c;

    snprintf(text, sizeof(text),
             "%sslots = (\n  { range = \"0\"; group = 1; },\n"
             "  { range = \"1023\"; group = 2; },\n"
             "  { range = \"1-1\"; group = 2; }\n);\n", two_groups);
    c = load_ok(text);
    assert_int_equal(c->slot_group[0], 1);
    assert_int_equal(c->slot_group[1], 2);
    assert_int_equal(c->slot_group[2], 0);      /* unassigned is fine */
    assert_int_equal(c->slot_group[1023], 2);
    conf_free(c);
}

/* ---- cross-option checks ---------------------------------------------- */

static void
test_admin_token(void **state)
{
    struct conf *c;

    load_err("admin = {\n  listen = \"0.0.0.0:11080\";\n};\n",
             ":2: admin.listen: 0.0.0.0:11080 is not a loopback address, so "
             "admin.token must be set, or codis.product_auth or codis.dashboard "
             "(or state-changing routes would be open to the network)");
    load_err("admin = { listen = \"[::]:11080\"; token = \"\"; };\n",
             ":1: admin.listen: [::]:11080 is not a loopback address, so "
             "admin.token must be set, or codis.product_auth or codis.dashboard "
             "(or state-changing routes would be open to the network)");

    load_err("admin = { listen = \"0.0.0.0:11080\"; token = \"t0k\"; };\n"
             "codis = { enabled = true; };\n",
             ":1: admin.listen: 0.0.0.0:11080 is not a loopback address and "
             "codis.enabled is true, so codis.product_auth or codis.dashboard "
             "must be set (Codis's routes would be open to the network, or "
             "refused to a dashboard on another host)");
    c = load_ok("admin = { listen = \"0.0.0.0:11080\"; };\n"
                "codis = { enabled = true; product_auth = \"pa\"; };\n");
    conf_free(c);
    c = load_ok("admin = { listen = \"0.0.0.0:11080\"; token = \"t0k\"; };\n");
    assert_string_equal(c->admin.token, "t0k");
    conf_free(c);
    c = load_ok("admin = { listen = \"[::1]:11080\"; };\n");
    conf_free(c);
    c = load_ok("admin = { listen = \"localhost:11080\"; };\n");
    conf_free(c);
    c = load_ok("admin = { listen = \"127.0.0.2:11080\"; };\n");
    conf_free(c);

    load_err("proxy = { listen = \"127.0.0.1:11080\"; };\n",
             ":1: proxy.listen: 127.0.0.1:11080 is also admin.listen");
    load_err("proxy = { listen = \"127.0.0.1:9\"; };\n"
             "admin = { listen = \"localhost:9\"; };\n",
             ":2: admin.listen: 127.0.0.1:9 is also proxy.listen");
}

static void
test_secrets_not_echoed(void **state)
{
    /* Wrong types of secret options name the option, never the value. */
    load_err("session = { auth = 1234567; };\n",
             ":1: session.auth: expected a string");
    load_err("backend = { auth = [ \"hunter2\" ]; };\n",
             ":1: backend.auth: expected a string");
    load_err("admin = { token = 98765; };\n", ":1: admin.token: expected a string");
    /* Errors elsewhere in a file with secrets do not carry them. */
    load_err("admin = { token = \"s3cr3t\"; listen = \"bad\"; };\n",
             ":1: admin.listen: \"bad\" is not an address; expected an address "
             "such as \"127.0.0.1:6379\", \"[::1]:6379\" or \"localhost:6379\" "
             "(numeric, no host names)");
}

static void
test_needs_restart(void **state)
{
    struct conf *base, *other;
    const char  *what;
    char         text[256];

    base = load_ok("proxy = { listen = \"0.0.0.0:19000\"; workers = 0; };\n");

    /* The same values, one written out, one by default. */
    other = load_ok("proxy = { listen = \"0.0.0.0:19000\"; };\n");
    what = "untouched";
    assert_false(conf_needs_restart(base, other, &what));
    assert_string_equal(what, "untouched");
    conf_free(other);

    /* Live options may change freely. */
    other = load_ok("proxy = { max_clients = 5; drain_timeout = \"1s\"; };\n"
                    "session = { auth = \"x\"; };\nlog = { level = \"debug\"; };\n"
                    "backend = { databases = 1; };\n"
                    "groups = ( { id = 9; primary = \"127.0.0.1:1\"; } );\n"
                    "slots = ( { range = \"0-1023\"; group = 9; } );\n"
                    "admin = { listen = \"127.0.0.1:1\"; };\n");
    assert_false(conf_needs_restart(base, other, &what));
    assert_false(conf_needs_restart(base, other, NULL));
    conf_free(other);

    other = load_ok("proxy = { listen = \"0.0.0.0:19001\"; };\n");
    assert_true(conf_needs_restart(base, other, &what));
    assert_string_equal(what, "proxy.listen");
    assert_true(conf_needs_restart(base, other, NULL));
    conf_free(other);

    /* Workers compare resolved: 0 and the CPU count are the same. */
    snprintf(text, sizeof(text), "proxy = { workers = %d; };\n",
             expected_workers());
    other = load_ok(text);
    assert_int_equal(other->proxy.workers_conf, expected_workers());
    assert_false(conf_needs_restart(base, other, &what));
    conf_free(other);

    snprintf(text, sizeof(text), "proxy = { workers = %d; };\n",
             expected_workers() == 1 ? 2 : 1);
    other = load_ok(text);
    assert_true(conf_needs_restart(base, other, &what));
    assert_string_equal(what, "proxy.workers");
    conf_free(other);

    conf_free(base);
}

static void
test_free_null(void **state)
{
    conf_free(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_file),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_example_file),
        cmocka_unit_test(test_log_levels),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_syntax_error),
        cmocka_unit_test(test_unknown_setting),
        cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_bad_duration_and_size),
        cmocka_unit_test(test_bad_address),
        cmocka_unit_test(test_duplicate_group_id),
        cmocka_unit_test(test_duplicate_address),
        cmocka_unit_test(test_missing_members),
        cmocka_unit_test(test_too_many_replicas),
        cmocka_unit_test(test_too_many_groups),
        cmocka_unit_test(test_integers_past_32_bits),
        cmocka_unit_test(test_slot_unknown_group),
        cmocka_unit_test(test_slot_overlap),
        cmocka_unit_test(test_slot_range_errors),
        cmocka_unit_test(test_slot_edges),
        cmocka_unit_test(test_admin_token),
        cmocka_unit_test(test_secrets_not_echoed),
        cmocka_unit_test(test_needs_restart),
        cmocka_unit_test(test_free_null),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
