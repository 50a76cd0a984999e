/*
 * Small parsers and helpers shared by the config loader, the proxy and the
 * admin server: durations, sizes, socket addresses, time.
 */
#ifndef CORDIS_UTIL_H
#define CORDIS_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "cordis.h"

/*
 * Parses a duration such as "30s", "500ms", "30m", "1h", "2d" or "0" into
 * milliseconds. Strict: one non-negative decimal integer followed by one unit
 * (ms, s, m, h, d); a bare "0" is allowed; no spaces, signs, fractions or
 * overflow. Returns CORDIS_OK or CORDIS_ERROR.
 */
int util_parse_duration(const char *text, int64_t *ms);

/*
 * Parses a size such as "128kb", "64mb", "1gb", "512b" or "512" into bytes
 * (units are powers of 1024, case-insensitive: b, kb, mb, gb, also k, m, g).
 * Strict like util_parse_duration. Returns CORDIS_OK or CORDIS_ERROR.
 */
int util_parse_size(const char *text, int64_t *bytes);

/*
 * Parses "host:port" with a numeric IPv4 host, "[v6]:port", or
 * "localhost:port" (taken as 127.0.0.1). Port 1-65535. No DNS lookups.
 * Returns CORDIS_OK or CORDIS_ERROR.
 */
int util_parse_addr(const char *text, struct sockaddr_storage *ss,
                    socklen_t *sslen);

/* True when the address is in 127.0.0.0/8 or is ::1. */
bool util_addr_is_loopback(const struct sockaddr *sa);

/* Formats an address as "host:port" ("[v6]:port"); returns buf. */
const char *util_addr_text(const struct sockaddr *sa, char *buf, size_t size);

/* Whether two "host:port" texts name the same address ("localhost:6379"
 * and "127.0.0.1:6379" do); texts that do not parse are compared as text. */
bool util_addr_same(const char *a, const char *b);

/* Splits "host:port" or "[v6]:port" into the bare host (copied to host) and
 * the port (pointing into addr). CORDIS_ERROR when there is no port or the
 * host does not fit. */
int util_split_hostport(const char *addr, char *host, size_t size, const char **port);

/* Monotonic clock in microseconds. */
int64_t util_now_usec(void);
/* Wall clock (unix time) in microseconds. */
int64_t util_wall_usec(void);

/* Compares version strings part by part as numbers ("7.0.15" < "7.2.4"):
 * <0, 0 or >0. */
int util_version_cmp(const char *a, const char *b);

/* Compares two byte strings in time that depends only on their lengths. */
bool util_secret_equal(const char *a, size_t alen, const char *b, size_t blen);

/* Case-insensitive compare of a byte string with a NUL-terminated word. */
bool util_strieq(const char *s, size_t len, const char *word);

/* Parses a whole byte string as a signed 64-bit decimal (Redis's rules). */
bool util_parse_i64(const char *s, size_t len, int64_t *out);

/* CPU seconds (user and system) and resident bytes of a process, from
 * /proc/PID/stat. CORDIS_OK or CORDIS_ERROR. */
int util_proc_stat(pid_t pid, double *user, double *sys, uint64_t *rss);

#endif /* CORDIS_UTIL_H */
