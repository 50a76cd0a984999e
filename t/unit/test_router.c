/*
 * Unit tests for router.c: Codis's slot function (crc32 IEEE of the key or
 * its hashtag, mod 1024), the hashtag rule at its edges, and the route table
 * built from a config.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "conf.h"
#include "cordis.h"
#include "router.h"
#include "shm.h"

/* A string literal and its length, NULs included. */
#define S(lit) (lit), (sizeof(lit) - 1)

/* The slot straight from zlib, for comparing with what router_slot does. */
static unsigned
crc_slot(const char *data, size_t len)
{
    uLong crc = crc32(0L, Z_NULL, 0);

    crc = crc32(crc, (const Bytef *)data, (uInt)len);
    return (unsigned)(crc % CORDIS_SLOTS);
}

/* ---- router_slot -------------------------------------------------------- */

static void
test_slot_vectors(void **state)
{
    (void)state;
    /* Slots codis-proxy gives these keys. */
    assert_int_equal(router_slot(S("foo")), 289);
    assert_int_equal(router_slot(S("a")), 579);
    assert_int_equal(router_slot(S("b")), 1017);
    assert_int_equal(router_slot(S("c")), 879);
    /* crc32("") is 0. */
    assert_int_equal(router_slot(S("")), 0);
    /* crc32("123456789") = 0xCBF43926 (the CRC-32/IEEE check value). */
    assert_int_equal(router_slot(S("123456789")), 0xCBF43926u % 1024);
    assert_int_equal(router_slot(S("user1")), 341);
}

static void
test_slot_hashtags(void **state)
{
    (void)state;
    unsigned user1 = router_slot(S("user1"));

    assert_int_equal(router_slot(S("{user1}:a")), user1);
    assert_int_equal(router_slot(S("{user1}:b")), user1);
    assert_int_equal(router_slot(S("x{user1}y")), user1);
    assert_int_equal(router_slot(S("{user1}")), user1);
    /* "{}" hashes the empty string. */
    assert_int_equal(router_slot(S("{}x")), router_slot(S("")));
    assert_int_equal(router_slot(S("x{}")), 0);
    /* An open brace without a close: the whole key. */
    assert_int_equal(router_slot(S("{a")), crc_slot(S("{a")));
    assert_int_equal(router_slot(S("a{")), crc_slot(S("a{")));
    /* A close before the open does not count: the first '{' and the next '}'. */
    assert_int_equal(router_slot(S("a}{b}")), router_slot(S("b")));
    assert_int_equal(router_slot(S("}a{")), crc_slot(S("}a{")));
    /* Only the first tag counts. */
    assert_int_equal(router_slot(S("{a}{b}")), router_slot(S("a")));
    assert_int_equal(router_slot(S("x{ab}y{cd}")), router_slot(S("ab")));
    /* Nested braces: the bytes up to the first '}' after the first '{'. */
    assert_int_equal(router_slot(S("{{a}}")), crc_slot(S("{a")));
    /* Binary keys: NULs are bytes like any other. */
    assert_int_equal(router_slot(S("a\0b")), crc_slot(S("a\0b")));
    assert_int_equal(router_slot(S("\0{\0x}")), crc_slot(S("\0x")));
    assert_int_equal(router_slot(S("{a\0}b")), crc_slot(S("a\0")));
}

static void
test_slot_matches_zlib(void **state)
{
    (void)state;
    char key[64];
    unsigned seen[CORDIS_SLOTS] = { 0 };
    int distinct = 0;

    /* Plain keys (no braces) hash whole, and land in range. */
    srand(7);
    for (int i = 0; i < 20000; i++) {
        size_t len = (size_t)(rand() % (int)sizeof(key));

        for (size_t j = 0; j < len; j++) {
            do {
                key[j] = (char)(rand() & 0xff);
            } while (key[j] == '{');
        }
        unsigned slot = router_slot(key, len);

        assert_true(slot < CORDIS_SLOTS);
        assert_int_equal(slot, crc_slot(key, len));
        if (seen[slot]++ == 0) {
            distinct++;
        }
    }
    /* 20000 keys over 1024 slots: every slot is hit. */
    assert_int_equal(distinct, CORDIS_SLOTS);
}

static void
test_slot_reads_only_len(void **state)
{
    (void)state;
    /* The key is not NUL-terminated: bytes past len must not count. */
    char *key = malloc(3);

    assert_non_null(key);
    memcpy(key, "foo", 3);
    assert_int_equal(router_slot(key, 3), 289);
    memcpy(key, "{ab", 3);
    assert_int_equal(router_slot(key, 3), crc_slot(S("{ab")));
    assert_int_equal(router_slot(key, 2), crc_slot(S("{a")));
    free(key);
}

/* ---- router_hashtag ------------------------------------------------------ */

static void
expect_tag(const char *key, size_t len, size_t off, size_t taglen)
{
    const char *tag = NULL;
    size_t got = (size_t)-1;

    router_hashtag(key, len, &tag, &got);
    assert_ptr_equal(tag, key + off);
    assert_int_equal(got, taglen);
}

static void
test_hashtag_edges(void **state)
{
    (void)state;
    expect_tag(S("plain"), 0, 5);
    expect_tag(S(""), 0, 0);
    expect_tag(S("{user1}:a"), 1, 5);
    expect_tag(S("pre{tag}post"), 4, 3);
    expect_tag(S("{}"), 1, 0);
    expect_tag(S("{}x"), 1, 0);
    expect_tag(S("x{}"), 2, 0);
    expect_tag(S("{a"), 0, 2);
    expect_tag(S("{"), 0, 1);
    expect_tag(S("}"), 0, 1);
    expect_tag(S("}{"), 0, 2);
    expect_tag(S("a}{b}"), 3, 1);
    expect_tag(S("{a}{b}"), 1, 1);
    expect_tag(S("{{a}}"), 1, 2);
    expect_tag(S("a{b\0c}d"), 2, 3);
    /* A '}' past len is not seen. */
    expect_tag("{ab}", 3, 0, 3);
    /* A '{' past len is not seen either. */
    expect_tag("ab{c}", 2, 0, 2);
}

/* ---- router_table_from_conf --------------------------------------------- */

static void
test_table_from_conf(void **state)
{
    (void)state;
    struct conf_group groups[3];
    struct conf conf;
    struct shm_route *route = malloc(sizeof(*route));

    assert_non_null(route);
    memset(&conf, 0, sizeof(conf));
    memset(groups, 0, sizeof(groups));
    groups[0].id = 7;
    strcpy(groups[0].primary, "127.0.0.1:6379");
    groups[0].nreplicas = 2;
    strcpy(groups[0].replicas[0], "127.0.0.1:6479");
    strcpy(groups[0].replicas[1], "10.0.0.2:6479");
    groups[1].id = 65535;
    strcpy(groups[1].primary, "[::1]:6380");
    groups[2].id = 1;
    strcpy(groups[2].primary, "redis.example:7000");
    groups[2].nreplicas = CORDIS_MAX_REPLICAS;
    for (int r = 0; r < CORDIS_MAX_REPLICAS; r++) {
        snprintf(groups[2].replicas[r], CORDIS_ADDR_LEN, "replica-%d:7001", r);
    }
    conf.ngroups = 3;
    conf.groups = groups;
    for (int s = 0; s < CORDIS_SLOTS; s++) {
        conf.slot_group[s] = s < 300 ? 7 : s < 600 ? 65535 : s < 1000 ? 1 : 0;
    }

    /* Whatever was in the table before is gone. */
    memset(route, 0xAB, sizeof(*route));
    router_table_from_conf(&conf, route);

    assert_int_equal(route->ngroups, 3);
    assert_int_equal(route->groups[0].id, 7);
    assert_string_equal(route->groups[0].primary, "127.0.0.1:6379");
    assert_int_equal(route->groups[0].nreplicas, 2);
    assert_string_equal(route->groups[0].replicas[0], "127.0.0.1:6479");
    assert_string_equal(route->groups[0].replicas[1], "10.0.0.2:6479");
    assert_string_equal(route->groups[0].replicas[2], "");
    assert_int_equal(route->groups[1].id, 65535);
    assert_string_equal(route->groups[1].primary, "[::1]:6380");
    assert_int_equal(route->groups[1].nreplicas, 0);
    assert_int_equal(route->groups[2].id, 1);
    assert_int_equal(route->groups[2].nreplicas, CORDIS_MAX_REPLICAS);
    assert_string_equal(route->groups[2].replicas[CORDIS_MAX_REPLICAS - 1], "replica-3:7001");
    /* Unused group entries are empty. */
    for (int g = 3; g < CORDIS_MAX_GROUPS; g++) {
        assert_int_equal(route->groups[g].id, 0);
        assert_int_equal(route->groups[g].nreplicas, 0);
        assert_string_equal(route->groups[g].primary, "");
    }
    for (int s = 0; s < CORDIS_SLOTS; s++) {
        assert_int_equal(route->slots[s].group, conf.slot_group[s]);
        assert_int_equal(route->slots[s].migrate_from, 0);
        assert_int_equal(route->slots[s].locked, 0);
    }
    /* Every group a slot names is in the table. */
    for (int s = 0; s < CORDIS_SLOTS; s++) {
        int found = route->slots[s].group == 0;

        for (uint32_t g = 0; g < route->ngroups && !found; g++) {
            found = route->groups[g].id == route->slots[s].group;
        }
        assert_true(found);
    }

    /* An empty config: nothing served. */
    memset(&conf, 0, sizeof(conf));
    router_table_from_conf(&conf, route);
    assert_int_equal(route->ngroups, 0);
    for (int s = 0; s < CORDIS_SLOTS; s++) {
        assert_int_equal(route->slots[s].group, 0);
    }
    free(route);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slot_vectors),
        cmocka_unit_test(test_slot_hashtags),
        cmocka_unit_test(test_slot_matches_zlib),
        cmocka_unit_test(test_slot_reads_only_len),
        cmocka_unit_test(test_hashtag_edges),
        cmocka_unit_test(test_table_from_conf),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
