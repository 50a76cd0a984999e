/*
 * Small parsers and helpers: durations, sizes, socket addresses, time,
 * constant-time compare and Redis-style integer parsing.
 *
 * The parsers are strict on purpose: a config value or a client argument
 * either means exactly one thing or is rejected, so "1.5s", " 30s" or "10"
 * (ten what?) never turn into a surprise.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

struct util_unit {
    const char *name;   /* suffix as written */
    int64_t     scale;  /* multiplier to the base unit */
};

/* A suffix must match the whole rest of the text, so order does not matter. */
static const struct util_unit util_duration_units[] = {
    { "ms", 1 },
    { "s",  1000 },
    { "m",  60 * 1000 },
    { "h",  60 * 60 * 1000 },
    { "d",  24 * 60 * 60 * 1000 },
};

static const struct util_unit util_size_units[] = {
    { "b",  1 },
    { "k",  1024 },
    { "kb", 1024 },
    { "m",  1024 * 1024 },
    { "mb", 1024 * 1024 },
    { "g",  1024 * 1024 * 1024 },
    { "gb", 1024 * 1024 * 1024 },
};

static bool
util_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static char
util_lower(char c)
{
    /* ASCII only: the locale must not change what a config file means. */
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/*
 * Reads the leading run of decimal digits of text into *value. Returns the
 * number of digits read, 0 when there are none or the number overflows.
 */
static size_t
util_read_digits(const char *text, int64_t *value)
{
    int64_t v = 0;
    size_t  n = 0;

    while (util_is_digit(text[n])) {
        int d = text[n] - '0';

        if (v > (INT64_MAX - d) / 10) {
            return 0;
        }
        v = v * 10 + d;
        n++;
    }
    *value = v;
    return n;
}

/*
 * Shared body of the duration and size parsers: one decimal integer and a
 * suffix that must be one of units, or nothing when bare_ok.
 */
static int
util_parse_scaled(const char *text, const struct util_unit *units,
                  size_t nunits, bool nocase, bool bare_ok, int64_t *out)
{
    int64_t     value;
    size_t      ndigits, i;
    const char *suffix;

    if (text == NULL) {
        return CORDIS_ERROR;
    }

    ndigits = util_read_digits(text, &value);
    if (ndigits == 0) {
        return CORDIS_ERROR;
    }
    suffix = text + ndigits;

    if (*suffix == '\0') {
        if (!bare_ok) {
            return CORDIS_ERROR;
        }
        *out = value;
        return CORDIS_OK;
    }

    for (i = 0; i < nunits; i++) {
        bool match = nocase ? util_strieq(suffix, strlen(suffix), units[i].name)
                            : strcmp(suffix, units[i].name) == 0;
        if (!match) {
            continue;
        }
        if (value > INT64_MAX / units[i].scale) {
            return CORDIS_ERROR;
        }
        *out = value * units[i].scale;
        return CORDIS_OK;
    }
    return CORDIS_ERROR;
}

int
util_parse_duration(const char *text, int64_t *ms)
{
    /* A bare number has no unit, so only "0" is unambiguous. */
    if (text != NULL && strcmp(text, "0") == 0) {
        *ms = 0;
        return CORDIS_OK;
    }
    /* Units are case-sensitive: "M" could be read as months. */
    return util_parse_scaled(text, util_duration_units,
                             CORDIS_ARRAY_SIZE(util_duration_units),
                             false, false, ms);
}

int
util_parse_size(const char *text, int64_t *bytes)
{
    return util_parse_scaled(text, util_size_units,
                             CORDIS_ARRAY_SIZE(util_size_units),
                             true, true, bytes);
}

/* Port: 1..65535, decimal digits only, no sign, no leading zero. */
static int
util_parse_port(const char *text, in_port_t *port)
{
    int64_t value;
    size_t  n;

    if (text[0] == '0') {
        return CORDIS_ERROR;
    }
    n = util_read_digits(text, &value);
    if (n == 0 || n > 5 || text[n] != '\0' || value < 1 || value > 65535) {
        return CORDIS_ERROR;
    }
    *port = (in_port_t)value;
    return CORDIS_OK;
}

int
util_parse_addr(const char *text, struct sockaddr_storage *ss,
                socklen_t *sslen)
{
    char        host[INET6_ADDRSTRLEN];
    const char *colon, *port_text;
    size_t      hostlen;
    in_port_t   port;
    bool        v6;

    if (text == NULL || ss == NULL) {
        return CORDIS_ERROR;
    }

    if (text[0] == '[') {
        const char *close = strchr(text, ']');

        if (close == NULL || close[1] != ':') {
            return CORDIS_ERROR;
        }
        hostlen = (size_t)(close - text - 1);
        if (hostlen == 0 || hostlen >= sizeof(host)) {
            return CORDIS_ERROR;
        }
        memcpy(host, text + 1, hostlen);
        port_text = close + 2;
        v6 = true;
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL) {
            return CORDIS_ERROR;
        }
        hostlen = (size_t)(colon - text);
        if (hostlen == 0 || hostlen >= sizeof(host)) {
            return CORDIS_ERROR;
        }
        memcpy(host, text, hostlen);
        port_text = colon + 1;
        v6 = false;
    }
    host[hostlen] = '\0';

    if (util_parse_port(port_text, &port) != CORDIS_OK) {
        return CORDIS_ERROR;
    }

    memset(ss, 0, sizeof(*ss));

    if (v6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
            return CORDIS_ERROR;
        }
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        if (sslen != NULL) {
            *sslen = sizeof(*sin6);
        }
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;

        /* The one name we know without DNS. */
        if (util_strieq(host, hostlen, "localhost")) {
            sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        } else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
            /* glibc's inet_pton wants exactly a dotted quad of decimals. */
            return CORDIS_ERROR;
        }
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        if (sslen != NULL) {
            *sslen = sizeof(*sin);
        }
    }
    return CORDIS_OK;
}

bool
util_addr_is_loopback(const struct sockaddr *sa)
{
    if (sa == NULL) {
        return false;
    }
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

        return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        const struct in6_addr     *a = &sin6->sin6_addr;

        if (IN6_IS_ADDR_LOOPBACK(a)) {
            return true;
        }
        /* A v4 loopback peer on a dual-stack socket shows up mapped. */
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return false;
}

const char *
util_addr_text(const struct sockaddr *sa, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN];

    if (buf == NULL || size == 0) {
        return buf;
    }

    if (sa != NULL && sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
        snprintf(buf, size, "%s:%u", host, (unsigned)ntohs(sin->sin_port));
    } else if (sa != NULL && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
        snprintf(buf, size, "[%s]:%u", host, (unsigned)ntohs(sin6->sin6_port));
    } else {
        snprintf(buf, size, "(unknown address)");
    }
    return buf;
}

bool
util_addr_same(const char *a, const char *b)
{
    struct sockaddr_storage sa, sb;
    socklen_t la, lb;
    char ta[CORDIS_ADDR_LEN * 2], tb[CORDIS_ADDR_LEN * 2];

    if (util_parse_addr(a, &sa, &la) != CORDIS_OK || util_parse_addr(b, &sb, &lb) != CORDIS_OK) {
        return strcmp(a, b) == 0;
    }
    util_addr_text((struct sockaddr *)&sa, ta, sizeof(ta));
    util_addr_text((struct sockaddr *)&sb, tb, sizeof(tb));
    return strcmp(ta, tb) == 0;
}

int
util_split_hostport(const char *addr, char *host, size_t size, const char **port)
{
    const char *colon = strrchr(addr, ':');
    const char *start = addr;
    size_t len;

    if (colon == NULL || colon[1] == '\0') {
        return CORDIS_ERROR;
    }
    len = (size_t)(colon - addr);
    if (addr[0] == '[' && len >= 2 && addr[len - 1] == ']') {
        start = addr + 1;   /* "[::1]:6379": the bare IPv6 address */
        len -= 2;
    }
    if (len >= size) {
        return CORDIS_ERROR;
    }
    memcpy(host, start, len);
    host[len] = '\0';
    *port = colon + 1;
    return CORDIS_OK;
}

int64_t
util_now_usec(void)
{
    struct timespec ts;

    /* Monotonic: timeouts must not jump when an operator sets the clock. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

bool
util_secret_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t        n = CORDIS_MAX(alen, blen);
    unsigned char diff = (alen != blen);
    size_t        i;

    /*
     * Walk the longer length whatever the contents, so the time tells an
     * attacker nothing about how many leading bytes were right.
     */
    for (i = 0; i < n; i++) {
        unsigned char x = i < alen ? (unsigned char)a[i] : 0;
        unsigned char y = i < blen ? (unsigned char)b[i] : 0;

        diff |= x ^ y;
    }
    return diff == 0;
}

bool
util_strieq(const char *s, size_t len, const char *word)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (word[i] == '\0' || util_lower(s[i]) != util_lower(word[i])) {
            return false;
        }
    }
    return word[len] == '\0';
}

bool
util_parse_i64(const char *s, size_t len, int64_t *out)
{
    const uint64_t max_pos = (uint64_t)INT64_MAX;
    const uint64_t max_neg = (uint64_t)INT64_MAX + 1;
    uint64_t       v;
    size_t         i = 0;
    bool           negative = false;

    if (s == NULL || len == 0) {
        return false;
    }
    if (len == 1 && s[0] == '0') {
        *out = 0;
        return true;
    }
    if (s[0] == '-') {
        negative = true;
        i++;
    }
    /* First digit 1-9: no leading zeros, no "-0", no lone "-". */
    if (i >= len || s[i] < '1' || s[i] > '9') {
        return false;
    }
    v = (uint64_t)(s[i++] - '0');

    for (; i < len; i++) {
        if (!util_is_digit(s[i])) {
            return false;
        }
        if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10) {
            return false;
        }
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > max_neg) {
            return false;
        }
    }

    if (negative) {
        /* -(2^63) is representable; compute it without signed overflow. */
        *out = v == max_neg ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > max_pos) {
            return false;
        }
        *out = (int64_t)v;
    }
    return true;
}

int
util_proc_stat(pid_t pid, double *user, double *sys, uint64_t *rss)
{
    char path[64], buf[1024], *p;
    unsigned long utime, stime;
    long pages;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return CORDIS_ERROR;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');   /* the command name may hold spaces */
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu "
                            "%*d %*d %*d %*d %*d %*d %*u %*u %ld", &utime, &stime, &pages) != 3) {
        return CORDIS_ERROR;
    }
    *user = (double)utime / (double)sysconf(_SC_CLK_TCK);
    *sys = (double)stime / (double)sysconf(_SC_CLK_TCK);
    *rss = (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE);
    return CORDIS_OK;
}

int64_t
util_wall_usec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int
util_version_cmp(const char *a, const char *b)
{
    while (*a != '\0' || *b != '\0') {
        char *ea, *eb;
        long x = strtol(a, &ea, 10), y = strtol(b, &eb, 10);

        if (x != y) {
            return x < y ? -1 : 1;
        }
        if (ea == a && eb == b) {
            break;   /* neither goes on with a number */
        }
        a = *ea == '.' ? ea + 1 : ea;
        b = *eb == '.' ? eb + 1 : eb;
    }
    return 0;
}
