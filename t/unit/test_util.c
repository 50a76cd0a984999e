/*
 * Unit tests for util.c: the strict parsers, address helpers, the clock,
 * constant-time compare and Redis-style integer parsing.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "util.h"

/* ---- durations -------------------------------------------------------- */

static void
assert_duration(const char *text, int64_t expected)
{
    int64_t ms = -1;

    if (util_parse_duration(text, &ms) != CORDIS_OK) {
        fail_msg("duration \"%s\" rejected", text);
    }
    assert_int_equal(ms, expected);
}

static void
assert_bad_duration(const char *text)
{
    int64_t ms = 12345;

    if (util_parse_duration(text, &ms) != CORDIS_ERROR) {
        fail_msg("duration \"%s\" accepted", text != NULL ? text : "(null)");
    }
    assert_int_equal(ms, 12345);    /* untouched on error */
}

static void
test_duration_units(void **state)
{
    assert_duration("0", 0);
    assert_duration("0s", 0);
    assert_duration("0ms", 0);
    assert_duration("500ms", 500);
    assert_duration("1ms", 1);
    assert_duration("30s", 30000);
    assert_duration("30m", 30 * 60 * 1000);
    assert_duration("1h", 3600 * 1000);
    assert_duration("2d", 2 * 86400 * 1000LL);
    assert_duration("05s", 5000);
}

static void
test_duration_rejects(void **state)
{
    assert_bad_duration(NULL);
    assert_bad_duration("");
    assert_bad_duration("10");      /* ten what? */
    assert_bad_duration("00");
    assert_bad_duration("s");
    assert_bad_duration("ms");
    assert_bad_duration("-1s");
    assert_bad_duration("+1s");
    assert_bad_duration("1.5s");
    assert_bad_duration(" 1s");
    assert_bad_duration("1s ");
    assert_bad_duration("1 s");
    assert_bad_duration("1S");      /* units are case-sensitive */
    assert_bad_duration("1sec");
    assert_bad_duration("1w");
    assert_bad_duration("1s1");
    assert_bad_duration("1h30m");
    assert_bad_duration("0x10s");
}

static void
test_duration_overflow(void **state)
{
    /* INT64_MAX ms is fine; one more digit, or a unit that overflows, not. */
    assert_duration("9223372036854775807ms", INT64_MAX);
    assert_bad_duration("9223372036854775808ms");
    assert_bad_duration("99999999999999999999s");
    assert_bad_duration("9223372036854775807s");
    assert_bad_duration("106751991167301d");
    assert_duration("106751991167d", 106751991167LL * 86400000);
}

/* ---- sizes ------------------------------------------------------------ */

static void
assert_size(const char *text, int64_t expected)
{
    int64_t bytes = -1;

    if (util_parse_size(text, &bytes) != CORDIS_OK) {
        fail_msg("size \"%s\" rejected", text);
    }
    assert_int_equal(bytes, expected);
}

static void
assert_bad_size(const char *text)
{
    int64_t bytes = 12345;

    if (util_parse_size(text, &bytes) != CORDIS_ERROR) {
        fail_msg("size \"%s\" accepted", text != NULL ? text : "(null)");
    }
    assert_int_equal(bytes, 12345);
}

static void
test_size_units(void **state)
{
    assert_size("0", 0);
    assert_size("512", 512);
    assert_size("512b", 512);
    assert_size("128kb", 128 * 1024);
    assert_size("128k", 128 * 1024);
    assert_size("64mb", 64 * 1024 * 1024);
    assert_size("64m", 64 * 1024 * 1024);
    assert_size("1gb", 1024 * 1024 * 1024);
    assert_size("2g", 2LL * 1024 * 1024 * 1024);
    assert_size("64MB", 64 * 1024 * 1024);
    assert_size("64Mb", 64 * 1024 * 1024);
    assert_size("1KB", 1024);
    assert_size("1B", 1);
}

static void
test_size_rejects(void **state)
{
    assert_bad_size(NULL);
    assert_bad_size("");
    assert_bad_size("kb");
    assert_bad_size("b");
    assert_bad_size("-1");
    assert_bad_size("-1kb");
    assert_bad_size("+1kb");
    assert_bad_size("1.5mb");
    assert_bad_size(" 1mb");
    assert_bad_size("1mb ");
    assert_bad_size("1 mb");
    assert_bad_size("1tb");
    assert_bad_size("1kib");
    assert_bad_size("1bb");
    assert_bad_size("0x10");
    /* Overflow, in the digits or after scaling. */
    assert_size("9223372036854775807", INT64_MAX);
    assert_bad_size("9223372036854775808");
    assert_bad_size("9223372036854775807kb");
    assert_bad_size("8589934592gb");
}

/* ---- addresses -------------------------------------------------------- */

static void
assert_addr(const char *text, const char *canonical, bool loopback)
{
    struct sockaddr_storage ss;
    socklen_t               len = 0;
    char                    buf[128];

    if (util_parse_addr(text, &ss, &len) != CORDIS_OK) {
        fail_msg("address \"%s\" rejected", text);
    }
    assert_int_equal(len, ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                                  : sizeof(struct sockaddr_in6));
    assert_string_equal(util_addr_text((struct sockaddr *)&ss, buf, sizeof(buf)),
                        canonical);
    assert_int_equal(util_addr_is_loopback((struct sockaddr *)&ss), loopback);
}

static void
assert_bad_addr(const char *text)
{
    struct sockaddr_storage ss;
    socklen_t               len = 0;

    if (util_parse_addr(text, &ss, &len) != CORDIS_ERROR) {
        fail_msg("address \"%s\" accepted", text != NULL ? text : "(null)");
    }
}

static void
test_addr_good(void **state)
{
    assert_addr("127.0.0.1:6379", "127.0.0.1:6379", true);
    assert_addr("127.1.2.3:1", "127.1.2.3:1", true);
    assert_addr("0.0.0.0:19000", "0.0.0.0:19000", false);
    assert_addr("10.0.0.5:65535", "10.0.0.5:65535", false);
    assert_addr("localhost:6379", "127.0.0.1:6379", true);
    assert_addr("LocalHost:6379", "127.0.0.1:6379", true);
    assert_addr("[::1]:6379", "[::1]:6379", true);
    assert_addr("[::]:19000", "[::]:19000", false);
    assert_addr("[2001:db8::1]:80", "[2001:db8::1]:80", false);
    assert_addr("[::ffff:127.0.0.1]:80", "[::ffff:127.0.0.1]:80", true);
    assert_addr("[::ffff:10.0.0.1]:80", "[::ffff:10.0.0.1]:80", false);
}

static void
test_addr_bad(void **state)
{
    assert_bad_addr(NULL);
    assert_bad_addr("");
    assert_bad_addr(":6379");
    assert_bad_addr("127.0.0.1");
    assert_bad_addr("127.0.0.1:");
    assert_bad_addr("127.0.0.1:0");
    assert_bad_addr("127.0.0.1:65536");
    assert_bad_addr("127.0.0.1:99999999");
    assert_bad_addr("127.0.0.1:-1");
    assert_bad_addr("127.0.0.1:+80");
    assert_bad_addr("127.0.0.1:080");
    assert_bad_addr("127.0.0.1:0x50");
    assert_bad_addr("127.0.0.1:80 ");
    assert_bad_addr(" 127.0.0.1:80");
    assert_bad_addr("127.0.0.1: 80");
    assert_bad_addr("127.0.0:80");
    assert_bad_addr("127.0.0.1.1:80");
    assert_bad_addr("256.0.0.1:80");
    assert_bad_addr("redis.example.com:6379");  /* no DNS */
    assert_bad_addr("::1:6379");                /* v6 needs brackets */
    assert_bad_addr("[::1]6379");
    assert_bad_addr("[::1]:");
    assert_bad_addr("[::1:6379");
    assert_bad_addr("[]:6379");
    assert_bad_addr("[127.0.0.1]:6379");
    assert_bad_addr("[localhost]:6379");
    assert_bad_addr("localhost");
}

static void
test_addr_same(void **state)
{
    (void)state;
    assert_true(util_addr_same("127.0.0.1:6379", "127.0.0.1:6379"));
    assert_true(util_addr_same("localhost:6379", "127.0.0.1:6379"));
    assert_true(util_addr_same("[::1]:6379", "[0:0::1]:6379"));
    assert_false(util_addr_same("127.0.0.1:6379", "127.0.0.1:6380"));
    assert_false(util_addr_same("127.0.0.1:6379", "[::1]:6379"));
    assert_true(util_addr_same("not an address", "not an address"));
    assert_false(util_addr_same("not an address", "127.0.0.1:6379"));
}

static void
test_split_hostport(void **state)
{
    char host[16];
    const char *port;

    (void)state;
    assert_int_equal(util_split_hostport("10.0.0.1:6379", host, sizeof(host), &port), CORDIS_OK);
    assert_string_equal(host, "10.0.0.1");
    assert_string_equal(port, "6379");
    assert_int_equal(util_split_hostport("[fd00::7]:7000", host, sizeof(host), &port), CORDIS_OK);
    assert_string_equal(host, "fd00::7");
    assert_string_equal(port, "7000");
    assert_int_equal(util_split_hostport("10.0.0.1", host, sizeof(host), &port), CORDIS_ERROR);
    assert_int_equal(util_split_hostport("10.0.0.1:", host, sizeof(host), &port), CORDIS_ERROR);
    assert_int_equal(util_split_hostport("averyveryverylonghost:1", host, sizeof(host), &port),
                     CORDIS_ERROR);
}

static void
test_addr_text(void **state)
{
    struct sockaddr_in  sin;
    struct sockaddr_in6 sin6;
    struct sockaddr     other;
    char                buf[64], small[6];

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(6379);
    sin.sin_addr.s_addr = htonl(0x0a000005);
    assert_string_equal(util_addr_text((struct sockaddr *)&sin, buf, sizeof(buf)),
                        "10.0.0.5:6379");
    /* Truncated, but still terminated. */
    assert_string_equal(util_addr_text((struct sockaddr *)&sin, small,
                                       sizeof(small)), "10.0.");
    assert_false(util_addr_is_loopback((struct sockaddr *)&sin));

    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(1);
    sin6.sin6_addr = in6addr_loopback;
    assert_string_equal(util_addr_text((struct sockaddr *)&sin6, buf,
                                       sizeof(buf)), "[::1]:1");

    memset(&other, 0, sizeof(other));
    other.sa_family = AF_UNIX;
    assert_false(util_addr_is_loopback(&other));
    assert_false(util_addr_is_loopback(NULL));
    util_addr_text(&other, buf, sizeof(buf));
    assert_true(strlen(buf) > 0);
}

/* ---- clock ------------------------------------------------------------ */

static void
test_now_usec(void **state)
{
    struct timespec ts = { 0, 2 * 1000 * 1000 };
    int64_t         a, b;

    a = util_now_usec();
    nanosleep(&ts, NULL);
    b = util_now_usec();
    assert_true(a > 0);
    assert_true(b - a >= 2000);
    assert_true(b - a < 10 * 1000 * 1000);
}

/* ---- secrets and words ------------------------------------------------ */

static void
test_secret_equal(void **state)
{
    assert_true(util_secret_equal("secret", 6, "secret", 6));
    assert_true(util_secret_equal("", 0, "", 0));
    assert_true(util_secret_equal(NULL, 0, "", 0));
    assert_false(util_secret_equal("secret", 6, "secreT", 6));
    assert_false(util_secret_equal("secret", 6, "Secret", 6));
    assert_false(util_secret_equal("secret", 6, "secret2", 7));
    assert_false(util_secret_equal("secret2", 7, "secret", 6));
    assert_false(util_secret_equal("", 0, "x", 1));
    /* A prefix padded with NULs must not compare equal. */
    assert_false(util_secret_equal("ab\0", 3, "ab", 2));
    /* Only len bytes count. */
    assert_true(util_secret_equal("abcX", 3, "abcY", 3));
}

static void
test_strieq(void **state)
{
    assert_true(util_strieq("GET", 3, "get"));
    assert_true(util_strieq("get", 3, "GET"));
    assert_true(util_strieq("mGeT", 4, "MGET"));
    assert_true(util_strieq("GETxyz", 3, "get"));
    assert_true(util_strieq("", 0, ""));
    assert_false(util_strieq("GE", 2, "get"));
    assert_false(util_strieq("GETS", 4, "get"));
    assert_false(util_strieq("GET", 3, "set"));
    assert_false(util_strieq("", 0, "get"));
    assert_false(util_strieq("x", 1, ""));
    /* No locale games: '@' is not '`' even though they differ by 0x20. */
    assert_false(util_strieq("@", 1, "`"));
    assert_false(util_strieq("[", 1, "{"));
}

/* ---- integers --------------------------------------------------------- */

static void
assert_i64(const char *text, int64_t expected)
{
    int64_t v = -42;

    if (!util_parse_i64(text, strlen(text), &v)) {
        fail_msg("integer \"%s\" rejected", text);
    }
    assert_int_equal(v, expected);
}

static void
assert_bad_i64(const char *text)
{
    int64_t v = -42;

    if (util_parse_i64(text, strlen(text), &v)) {
        fail_msg("integer \"%s\" accepted", text);
    }
    assert_int_equal(v, -42);
}

static void
test_parse_i64(void **state)
{
    int64_t v;

    assert_i64("0", 0);
    assert_i64("1", 1);
    assert_i64("-1", -1);
    assert_i64("1234567890", 1234567890);
    assert_i64("9223372036854775807", INT64_MAX);
    assert_i64("-9223372036854775808", INT64_MIN);

    assert_bad_i64("");
    assert_bad_i64("-");
    assert_bad_i64("+1");
    assert_bad_i64("-0");
    assert_bad_i64("00");
    assert_bad_i64("01");
    assert_bad_i64("-01");
    assert_bad_i64(" 1");
    assert_bad_i64("1 ");
    assert_bad_i64("1a");
    assert_bad_i64("1.0");
    assert_bad_i64("0x10");
    assert_bad_i64("9223372036854775808");
    assert_bad_i64("-9223372036854775809");
    assert_bad_i64("18446744073709551616");
    assert_bad_i64("99999999999999999999999");

    /* The length bounds the parse: the bytes are not NUL-terminated. */
    assert_true(util_parse_i64("12345", 3, &v));
    assert_int_equal(v, 123);
    assert_false(util_parse_i64("1\0", 2, &v));
    assert_false(util_parse_i64(NULL, 0, &v));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_units),
        cmocka_unit_test(test_duration_rejects),
        cmocka_unit_test(test_duration_overflow),
        cmocka_unit_test(test_size_units),
        cmocka_unit_test(test_size_rejects),
        cmocka_unit_test(test_addr_good),
        cmocka_unit_test(test_addr_bad),
        cmocka_unit_test(test_addr_text),
        cmocka_unit_test(test_now_usec),
        cmocka_unit_test(test_secret_equal),
        cmocka_unit_test(test_strieq),
        cmocka_unit_test(test_parse_i64),
        cmocka_unit_test(test_addr_same),
        cmocka_unit_test(test_split_hostport),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
