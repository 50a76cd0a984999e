/*
 * Unit tests for shm.c: the segment header, the double-buffered route table
 * and config text, and the seqlock that keeps a reader from ever seeing a
 * table half written by the master (checked with a real forked writer).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>

#include <cmocka.h>

#include "shm.h"

/* Tables the forked writer publishes in the tear test. */
#define TEAR_PUBLISHES 100000

/* Fills a route table whose every field says "k": all slots in group k,
 * migrating from k, and one group k at an address naming k. */
static void
route_fill(struct shm_route *route, uint16_t k)
{
    memset(route, 0, sizeof(*route));
    route->ngroups = 1;
    route->groups[0].id = k;
    route->groups[0].nreplicas = (uint8_t)(k % (CORDIS_MAX_REPLICAS + 1));
    snprintf(route->groups[0].primary, sizeof(route->groups[0].primary),
             "127.0.0.1:%u", (unsigned)k);
    for (int slot = 0; slot < CORDIS_SLOTS; slot++) {
        route->slots[slot].group = k;
        route->slots[slot].migrate_from = k;
        route->slots[slot].locked = (uint8_t)(k & 1);
    }
}

/* Open descriptors of this process. */
static int
count_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    assert_non_null(dir);
    while ((e = readdir(dir)) != NULL) {
        n += e->d_name[0] != '.';
    }
    closedir(dir);
    return n;
}

/* ---- header ----------------------------------------------------------- */

static void
test_create_header(void **state)
{
    int fds = count_fds();
    struct shm *shm = shm_create();

    (void)state;
    assert_non_null(shm);
    assert_int_equal(shm->header.magic, SHM_MAGIC);
    assert_int_equal(shm->header.version, SHM_VERSION);
    assert_int_equal(shm->header.size, sizeof(struct shm));
    assert_int_equal(shm_check(shm), CORDIS_OK);

    /* A fresh segment: nothing published, everything zero. */
    assert_int_equal(shm_route_gen(shm), 0);
    assert_int_equal(shm_conf_gen(shm), 0);
    assert_int_equal(shm->route[0].ngroups, 0);
    assert_int_equal(shm->route[1].ngroups, 0);
    assert_int_equal(shm->route[0].slots[CORDIS_SLOTS - 1].group, 0);
    assert_int_equal(shm->conf[0].size, 0);
    assert_int_equal(shm->rows[SHM_ROWS - 1].pid, 0);

    /* The whole mapping is writable (its size is what the header says). */
    shm->rows[SHM_ROWS - 1].sessions_total = 7;
    assert_int_equal(shm->rows[SHM_ROWS - 1].sessions_total, 7);

    shm_destroy(shm);
    /* Nothing shm_create took stays behind. */
    assert_int_equal(count_fds(), fds);
}

static void
test_check_rejects_corruption(void **state)
{
    struct shm *shm = shm_create();

    (void)state;
    assert_non_null(shm);

    shm->header.magic = SHM_MAGIC ^ 1u;
    assert_int_equal(shm_check(shm), CORDIS_ERROR);
    shm->header.magic = 0;
    assert_int_equal(shm_check(shm), CORDIS_ERROR);
    shm->header.magic = SHM_MAGIC;
    assert_int_equal(shm_check(shm), CORDIS_OK);

    shm->header.version = SHM_VERSION + 1;
    assert_int_equal(shm_check(shm), CORDIS_ERROR);
    shm->header.version = 0;
    assert_int_equal(shm_check(shm), CORDIS_ERROR);
    shm->header.version = SHM_VERSION;
    assert_int_equal(shm_check(shm), CORDIS_OK);

    shm->header.size = sizeof(struct shm) - 64;
    assert_int_equal(shm_check(shm), CORDIS_ERROR);
    shm->header.size = sizeof(struct shm);
    assert_int_equal(shm_check(shm), CORDIS_OK);

    shm_destroy(shm);
}

/* Two segments are independent mappings. */
static void
test_create_twice(void **state)
{
    struct shm *a = shm_create(), *b = shm_create();
    struct shm_route *route = calloc(1, sizeof(*route));

    (void)state;
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(route);
    assert_ptr_not_equal(a, b);
    route_fill(route, 3);
    shm_route_publish(a, route);
    assert_int_equal(shm_route_gen(a), 1);
    assert_int_equal(shm_route_gen(b), 0);
    shm_destroy(a);
    shm_destroy(b);
    free(route);
}

/* ---- route table -------------------------------------------------------- */

static void
test_route_round_trip(void **state)
{
    struct shm *shm = shm_create();
    struct shm_route *in = calloc(1, sizeof(*in));
    struct shm_route *out = calloc(1, sizeof(*out));
    const struct shm_group *g;

    (void)state;
    assert_non_null(shm);
    assert_non_null(in);
    assert_non_null(out);

    in->ngroups = 2;
    in->groups[0].id = 1;
    strcpy(in->groups[0].primary, "127.0.0.1:6379");
    in->groups[0].nreplicas = 2;
    strcpy(in->groups[0].replicas[0], "127.0.0.1:6479");
    strcpy(in->groups[0].replicas[1], "[::1]:6579");
    in->groups[1].id = 65535;
    strcpy(in->groups[1].primary, "127.0.0.1:6380");
    for (int slot = 0; slot < CORDIS_SLOTS; slot++) {
        in->slots[slot].group = slot < 512 ? 1 : 65535;
    }
    in->slots[289].migrate_from = 65535;
    in->slots[289].locked = 1;
    in->slots[1000].group = 0;          /* not served */

    shm_route_publish(shm, in);
    assert_int_equal(shm_route_gen(shm), 1);

    memset(out, 0xa5, sizeof(*out));
    assert_int_equal(shm_route_copy(shm, out), 1);
    assert_memory_equal(in, out, sizeof(*in));
    /* The reader's copy is its own: changing it leaves the segment alone. */
    out->slots[0].group = 9;
    assert_int_equal(shm->route[1].slots[0].group, 1);

    g = shm_route_group(out, 65535);
    assert_non_null(g);
    assert_string_equal(g->primary, "127.0.0.1:6380");
    g = shm_route_group(out, 1);
    assert_non_null(g);
    assert_int_equal(g->nreplicas, 2);
    assert_string_equal(g->replicas[1], "[::1]:6579");
    assert_null(shm_route_group(out, 2));
    /* An unused entry past ngroups never matches, even with id 0. */
    assert_null(shm_route_group(out, 0));

    /* Publishing the same table again still bumps the generation. */
    shm_route_publish(shm, in);
    assert_int_equal(shm_route_gen(shm), 2);
    assert_int_equal(shm_route_copy(shm, out), 2);
    assert_memory_equal(in, out, sizeof(*in));

    shm_destroy(shm);
    free(in);
    free(out);
}

/* The master writes the copy not in use, then flips: publications land in
 * route[1], route[0], route[1], ... and the previous table stays intact in
 * the other copy (a slow reader may still be reading it). */
static void
test_route_double_buffer(void **state)
{
    struct shm *shm = shm_create();
    struct shm_route *a = calloc(1, sizeof(*a));
    struct shm_route *b = calloc(1, sizeof(*b));
    struct shm_route *c = calloc(1, sizeof(*c));
    struct shm_route *out = calloc(1, sizeof(*out));

    (void)state;
    assert_non_null(shm);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_non_null(out);
    route_fill(a, 11);
    route_fill(b, 22);
    route_fill(c, 33);

    shm_route_publish(shm, a);
    assert_int_equal(shm_route_gen(shm), 1);
    assert_memory_equal(&shm->route[1], a, sizeof(*a));
    assert_int_equal(shm->route[0].ngroups, 0);       /* untouched */

    shm_route_publish(shm, b);
    assert_int_equal(shm_route_gen(shm), 2);
    assert_memory_equal(&shm->route[0], b, sizeof(*b));
    assert_memory_equal(&shm->route[1], a, sizeof(*a));   /* still the old one */
    assert_int_equal(shm_route_copy(shm, out), 2);
    assert_memory_equal(out, b, sizeof(*b));

    shm_route_publish(shm, c);
    assert_int_equal(shm_route_gen(shm), 3);
    assert_memory_equal(&shm->route[1], c, sizeof(*c));
    assert_memory_equal(&shm->route[0], b, sizeof(*b));
    assert_int_equal(shm_route_copy(shm, out), 3);
    assert_memory_equal(out, c, sizeof(*c));

    shm_destroy(shm);
    free(a);
    free(b);
    free(c);
    free(out);
}

/*
 * A forked writer (the master) publishes thousands of tables, alternating
 * between two values, while this process (a worker) copies as fast as it
 * can. Every copy must be one whole table: all 1024 slots, the group and
 * its address name the same value, and generations never go backwards.
 */
struct tear_flags {
    int reader_ready;
    int writer_done;
};

#define TEAR_TABLES 100

/* Table t holds 100 + t/2 (even t) or 200 + t/2 (odd t). */
static uint16_t
tear_value(int t)
{
    return (uint16_t)((t & 1 ? 200 : 100) + t / 2);
}

static void
tear_writer(struct shm *shm, struct tear_flags *flags)
{
    /* 100 different tables, built beforehand so that publishing is all the
     * writer does: values 100..149 and 200..249, published alternately, so
     * a copy that mixes two publications is caught even when they share
     * the low bit of the generation. */
    struct shm_route *route = malloc(sizeof(*route) * TEAR_TABLES);

    if (route == NULL) {
        _exit(3);
    }
    for (int t = 0; t < TEAR_TABLES; t++) {
        route_fill(&route[t], tear_value(t));
    }
    while (!__atomic_load_n(&flags->reader_ready, __ATOMIC_ACQUIRE)) {
        /* the reader is about to start copying */
    }
    for (int i = 0; i < TEAR_PUBLISHES; i++) {
        shm_route_publish(shm, &route[i % TEAR_TABLES]);
    }
    __atomic_store_n(&flags->writer_done, 1, __ATOMIC_RELEASE);
    free(route);
    _exit(0);
}

static void
test_route_no_torn_reads(void **state)
{
    struct shm *shm = shm_create();
    struct shm_route *out = calloc(1, sizeof(*out));
    struct tear_flags *flags;
    uint64_t gen, last_gen = 0, copies = 0, torn = 0, backwards = 0;
    uint64_t distinct_gens = 0;
    char want[CORDIS_ADDR_LEN];
    int status;
    pid_t pid;

    (void)state;
    assert_non_null(shm);
    assert_non_null(out);
    flags = mmap(NULL, sizeof(*flags), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(flags != MAP_FAILED);
    memset(flags, 0, sizeof(*flags));

    /* Start from a published table so every copy has something to check. */
    route_fill(out, 100);
    shm_route_publish(shm, out);

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        tear_writer(shm, flags);
    }
    __atomic_store_n(&flags->reader_ready, 1, __ATOMIC_RELEASE);

    for (;;) {
        int done = __atomic_load_n(&flags->writer_done, __ATOMIC_ACQUIRE);
        uint16_t k;
        bool whole = true;

        gen = shm_route_copy(shm, out);
        copies++;
        if (gen < last_gen) {
            backwards++;
        }
        if (gen != last_gen) {
            distinct_gens++;
        }
        last_gen = gen;
        k = out->slots[0].group;
        snprintf(want, sizeof(want), "127.0.0.1:%u", (unsigned)k);
        if (out->ngroups != 1 || out->groups[0].id != k
            || strcmp(out->groups[0].primary, want) != 0) {
            whole = false;
        }
        for (int slot = 0; slot < CORDIS_SLOTS && whole; slot++) {
            if (out->slots[slot].group != k || out->slots[slot].migrate_from != k) {
                whole = false;
            }
        }
        torn += !whole;
        if (done) {
            break;
        }
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    if (torn != 0) {
        fail_msg("%llu of %llu copies were torn (mixed two tables)",
                 (unsigned long long)torn, (unsigned long long)copies);
    }
    assert_int_equal(backwards, 0);
    /* The reader really ran while the writer published. */
    if (distinct_gens < 10) {
        fail_msg("the reader saw only %llu generations in %llu copies",
                 (unsigned long long)distinct_gens, (unsigned long long)copies);
    }
    /* The last copy, taken after the writer finished, is the last table. */
    assert_int_equal(shm_route_gen(shm), 1 + TEAR_PUBLISHES);
    assert_int_equal(shm_route_copy(shm, out), 1 + TEAR_PUBLISHES);
    assert_int_equal(out->slots[CORDIS_SLOTS - 1].group,
                     tear_value((TEAR_PUBLISHES - 1) % TEAR_TABLES));

    munmap(flags, sizeof(*flags));
    shm_destroy(shm);
    free(out);
}

/* ---- config text -------------------------------------------------------- */

static void
test_conf_round_trip(void **state)
{
    struct shm *shm = shm_create();
    const char *one = "proxy = { workers = 2; };\n";
    const char *two = "# second\nproxy = { workers = 3; };\nslots = ();\n";
    char *text = malloc(SHM_CONF_MAX);
    char path[1024];
    size_t size = 12345;

    (void)state;
    assert_non_null(shm);
    assert_non_null(text);

    assert_int_equal(shm_conf_publish(shm, "/etc/cordis/a.conf", one, strlen(one)),
                     CORDIS_OK);
    assert_int_equal(shm_conf_gen(shm), 1);
    assert_int_equal(shm_conf_copy(shm, path, sizeof(path), text, &size), 1);
    assert_int_equal(size, strlen(one));
    assert_string_equal(text, one);
    assert_string_equal(path, "/etc/cordis/a.conf");

    assert_int_equal(shm_conf_publish(shm, "/tmp/b.conf", two, strlen(two)),
                     CORDIS_OK);
    assert_int_equal(shm_conf_gen(shm), 2);
    assert_int_equal(shm_conf_copy(shm, path, sizeof(path), text, &size), 2);
    assert_int_equal(size, strlen(two));
    assert_memory_equal(text, two, strlen(two) + 1);   /* NUL-terminated */
    assert_string_equal(path, "/tmp/b.conf");
    /* Double-buffered like the route: the first text is still in the other copy. */
    assert_string_equal(shm->conf[1].text, one);
    assert_string_equal(shm->conf[0].text, two);

    /* Only size bytes count: a text without its own NUL is terminated. */
    assert_int_equal(shm_conf_publish(shm, "p", "abcdef", 3), CORDIS_OK);
    assert_int_equal(shm_conf_copy(shm, path, sizeof(path), text, &size), 3);
    assert_int_equal(size, 3);
    assert_string_equal(text, "abc");

    /* An empty file is a valid config. */
    assert_int_equal(shm_conf_publish(shm, "empty.conf", "", 0), CORDIS_OK);
    assert_int_equal(shm_conf_copy(shm, path, sizeof(path), text, &size), 4);
    assert_int_equal(size, 0);
    assert_string_equal(text, "");
    assert_string_equal(path, "empty.conf");

    /* A short path buffer gets a truncated, terminated path. */
    assert_int_equal(shm_conf_copy(shm, path, 6, text, &size), 4);
    assert_string_equal(path, "empty");

    /* The route generation is separate. */
    assert_int_equal(shm_route_gen(shm), 0);

    shm_destroy(shm);
    free(text);
}

static void
test_conf_oversize(void **state)
{
    struct shm *shm = shm_create();
    char *big = malloc(SHM_CONF_MAX + 1);
    char *text = malloc(SHM_CONF_MAX);
    char path[2048];
    size_t size = 0;

    (void)state;
    assert_non_null(shm);
    assert_non_null(big);
    assert_non_null(text);
    memset(big, 'x', SHM_CONF_MAX + 1);
    big[SHM_CONF_MAX] = '\0';

    assert_int_equal(shm_conf_publish(shm, "small.conf", "a = 1;", 6), CORDIS_OK);
    assert_int_equal(shm_conf_gen(shm), 1);

    /* No room for the NUL: rejected, and nothing changes. */
    assert_int_equal(shm_conf_publish(shm, "big.conf", big, SHM_CONF_MAX),
                     CORDIS_ERROR);
    assert_int_equal(shm_conf_publish(shm, "big.conf", big, SHM_CONF_MAX + 1),
                     CORDIS_ERROR);
    assert_int_equal(shm_conf_gen(shm), 1);
    assert_int_equal(shm_conf_copy(shm, path, sizeof(path), text, &size), 1);
    assert_string_equal(text, "a = 1;");
    assert_string_equal(path, "small.conf");

    /* A path that does not fit is rejected too. */
    memset(path, 'p', sizeof(path));
    path[sizeof(shm->conf[0].path)] = '\0';            /* 1024 chars: one too many */
    assert_int_equal(shm_conf_publish(shm, path, "b = 2;", 6), CORDIS_ERROR);
    assert_int_equal(shm_conf_gen(shm), 1);
    path[sizeof(shm->conf[0].path) - 1] = '\0';        /* 1023 chars fit */
    assert_int_equal(shm_conf_publish(shm, path, "b = 2;", 6), CORDIS_OK);
    assert_int_equal(shm_conf_gen(shm), 2);

    /* The largest text that fits goes through whole. */
    assert_int_equal(shm_conf_publish(shm, "max.conf", big, SHM_CONF_MAX - 1),
                     CORDIS_OK);
    assert_int_equal(shm_conf_gen(shm), 3);
    assert_int_equal(shm_conf_copy(shm, path, sizeof(path), text, &size), 3);
    assert_int_equal(size, SHM_CONF_MAX - 1);
    assert_int_equal(text[SHM_CONF_MAX - 2], 'x');
    assert_int_equal(text[SHM_CONF_MAX - 1], '\0');
    assert_int_equal(strlen(text), SHM_CONF_MAX - 1);

    shm_destroy(shm);
    free(big);
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_header),
        cmocka_unit_test(test_check_rejects_corruption),
        cmocka_unit_test(test_create_twice),
        cmocka_unit_test(test_route_round_trip),
        cmocka_unit_test(test_route_double_buffer),
        cmocka_unit_test(test_route_no_torn_reads),
        cmocka_unit_test(test_conf_round_trip),
        cmocka_unit_test(test_conf_oversize),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
