/*
 * Configuration loader: libconfig file -> struct conf.
 *
 * One table (conf_options) describes every scalar option: its dotted path,
 * type, where it lives in struct conf, its default, its range and whether a
 * reload applies it in place. Loading is:
 *
 *   1. apply every default from the table;
 *   2. reject any setting the table (or the groups/slots readers) does not
 *      know, so a typo is an error rather than a silently ignored line;
 *   3. read each present option, checking its libconfig type and range;
 *   4. read groups, then slots (which refer to groups);
 *   5. checks that span options (codis.dashboard, product_auth as the
 *      backend AUTH, admin token, workers = 0).
 *
 * The first error stops the load; the half-built struct conf is freed and
 * the caller keeps whatever it had. This file never logs: the caller decides
 * whether an error goes to stderr (cordis -t), the log or the admin API.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libconfig.h>

#include "conf.h"
#include "log.h"   /* enum log_level only */
#include "util.h"

enum conf_type {
    CONF_T_STRING,      /* char *, any text */
    CONF_T_INT,         /* int, libconfig integer */
    CONF_T_BOOL,        /* bool, libconfig true/false */
    CONF_T_DURATION,    /* int64_t ms, string such as "30s" */
    CONF_T_SIZE,        /* int64_t bytes, string such as "64mb" */
    CONF_T_LOG_LEVEL,   /* int (enum log_level), string such as "info" */
    CONF_T_ADDRESS,     /* char *, "host:port" checked by util_parse_addr */
};

#define CONF_LIVE     0x01  /* a reload applies it in place */
#define CONF_RESTART  0x02  /* a change needs a new worker generation */

#define CONF_SEC      1000LL
#define CONF_MIN      (60 * CONF_SEC)
#define CONF_HOUR     (60 * CONF_MIN)
#define CONF_DAY      (24 * CONF_HOUR)
#define CONF_KB       1024LL
#define CONF_MB       (1024 * CONF_KB)
#define CONF_GB       (1024 * CONF_MB)

struct conf_option {
    const char     *path;   /* dotted name as written in the file */
    enum conf_type  type;   /* decides the C type at offset */
    size_t          offset; /* of the field in struct conf */
    const char     *def;    /* default, written as it would be in the file */
    int64_t         min;    /* range for int (value), duration (ms), size (bytes) */
    int64_t         max;
    unsigned        flags;  /* CONF_LIVE or CONF_RESTART */
};

#define CONF_OFF(field) offsetof(struct conf, field)

/*
 * proxy.workers is stored at proxy.workers and later resolved in place
 * (0 -> online CPUs), with the written value copied to proxy.workers_conf;
 * so conf_needs_restart compares the resolved count, as it should.
 *
 * pid_file, log.file and admin.listen live in the master only, so changing
 * them needs no new workers: the master applies them on reload.
 */
static const struct conf_option conf_options[] = {
    { "product_name", CONF_T_STRING, CONF_OFF(product_name),
      "cordis", 0, 0, CONF_LIVE },
    { "pid_file", CONF_T_STRING, CONF_OFF(pid_file),
      "", 0, 0, CONF_LIVE },

    { "log.file", CONF_T_STRING, CONF_OFF(log.file),
      "", 0, 0, CONF_LIVE },
    { "log.level", CONF_T_LOG_LEVEL, CONF_OFF(log.level),
      "info", 0, 0, CONF_LIVE },

    { "proxy.listen", CONF_T_ADDRESS, CONF_OFF(proxy.listen),
      "0.0.0.0:19000", 0, 0, CONF_RESTART },
    { "proxy.workers", CONF_T_INT, CONF_OFF(proxy.workers),
      "0", 0, CORDIS_MAX_WORKERS, CONF_RESTART },
    { "proxy.max_clients", CONF_T_INT, CONF_OFF(proxy.max_clients),
      "10000", 1, 1000000, CONF_LIVE },
    { "proxy.drain_timeout", CONF_T_DURATION, CONF_OFF(proxy.drain_timeout),
      "30s", 0, CONF_DAY, CONF_LIVE },

    { "admin.listen", CONF_T_ADDRESS, CONF_OFF(admin.listen),
      "127.0.0.1:11080", 0, 0, CONF_LIVE },
    { "admin.token", CONF_T_STRING, CONF_OFF(admin.token),
      "", 0, 0, CONF_LIVE },

    { "session.auth", CONF_T_STRING, CONF_OFF(session.auth),
      "", 0, 0, CONF_LIVE },
    { "session.max_pipeline", CONF_T_INT, CONF_OFF(session.max_pipeline),
      "10000", 1, 1000000, CONF_LIVE },
    { "session.max_output", CONF_T_SIZE, CONF_OFF(session.max_output),
      "64mb", CONF_MB, 16 * CONF_GB, CONF_LIVE },
    { "session.max_bulk_len", CONF_T_SIZE, CONF_OFF(session.max_bulk_len),
      "512mb", CONF_MB, 2 * CONF_GB, CONF_LIVE },
    { "session.max_query", CONF_T_SIZE, CONF_OFF(session.max_query),
      "1gb", CONF_MB, 4 * CONF_GB - 1, CONF_LIVE },
    { "session.recv_timeout", CONF_T_DURATION, CONF_OFF(session.recv_timeout),
      "30m", 0, 30 * CONF_DAY, CONF_LIVE },
    { "session.send_timeout", CONF_T_DURATION, CONF_OFF(session.send_timeout),
      "30s", 0, 30 * CONF_DAY, CONF_LIVE },
    { "session.max_pinned", CONF_T_INT, CONF_OFF(session.max_pinned),
      "1000", 1, 1000000, CONF_LIVE },
    { "session.pubsub_max_output", CONF_T_SIZE, CONF_OFF(session.pubsub_max_output),
      "32mb", CONF_MB, 16 * CONF_GB, CONF_LIVE },
    { "session.pubsub_soft_output", CONF_T_SIZE, CONF_OFF(session.pubsub_soft_output),
      "8mb", CONF_MB, 16 * CONF_GB, CONF_LIVE },
    { "session.pubsub_soft_time", CONF_T_DURATION, CONF_OFF(session.pubsub_soft_time),
      "60s", 0, CONF_DAY, CONF_LIVE },

    { "backend.auth", CONF_T_STRING, CONF_OFF(backend.auth),
      "", 0, 0, CONF_LIVE },
    { "backend.databases", CONF_T_INT, CONF_OFF(backend.databases),
      "16", 1, 1024, CONF_LIVE },
    { "backend.primary_parallel", CONF_T_INT, CONF_OFF(backend.primary_parallel),
      "1", 1, 64, CONF_LIVE },
    { "backend.replica_parallel", CONF_T_INT, CONF_OFF(backend.replica_parallel),
      "1", 1, 64, CONF_LIVE },
    { "backend.primary_only", CONF_T_BOOL, CONF_OFF(backend.primary_only),
      "false", 0, 0, CONF_LIVE },
    { "backend.replica_reads", CONF_T_BOOL, CONF_OFF(backend.replica_reads),
      "false", 0, 0, CONF_LIVE },
    { "backend.ping_period", CONF_T_DURATION, CONF_OFF(backend.ping_period),
      "5s", 0, CONF_HOUR, CONF_LIVE },
    { "backend.connect_timeout", CONF_T_DURATION,
      CONF_OFF(backend.connect_timeout), "5s", 10, 10 * CONF_MIN, CONF_LIVE },
    { "backend.recv_timeout", CONF_T_DURATION, CONF_OFF(backend.recv_timeout),
      "30s", 10, CONF_DAY, CONF_LIVE },
    { "backend.send_timeout", CONF_T_DURATION, CONF_OFF(backend.send_timeout),
      "30s", 10, CONF_DAY, CONF_LIVE },

    { "codis.enabled", CONF_T_BOOL, CONF_OFF(codis.enabled),
      "false", 0, 0, CONF_LIVE },
    { "codis.product_auth", CONF_T_STRING, CONF_OFF(codis.product_auth),
      "", 0, 0, CONF_LIVE },
    { "codis.datacenter", CONF_T_STRING, CONF_OFF(codis.datacenter),
      "", 0, 0, CONF_LIVE },
    { "codis.dashboard", CONF_T_STRING, CONF_OFF(codis.dashboard),
      "", 0, 0, CONF_LIVE },
    { "codis.host_admin", CONF_T_STRING, CONF_OFF(codis.host_admin),
      "", 0, 0, CONF_LIVE },
    { "codis.host_proxy", CONF_T_STRING, CONF_OFF(codis.host_proxy),
      "", 0, 0, CONF_LIVE },
    { "migrate.timeout", CONF_T_DURATION, CONF_OFF(migrate.timeout),
      "5s", 10, 10 * CONF_MIN, CONF_LIVE },
    { "migrate.rate", CONF_T_INT, CONF_OFF(migrate.rate),
      "20000", 1, 10000000, CONF_LIVE },
    { "migrate.batch", CONF_T_INT, CONF_OFF(migrate.batch),
      "100", 1, 10000, CONF_LIVE },
    { "migrate.state_file", CONF_T_STRING, CONF_OFF(migrate.state_file),
      "", 0, 0, CONF_LIVE },
    { "sentinel.addrs", CONF_T_STRING, CONF_OFF(sentinel.addrs),
      "", 0, 0, CONF_LIVE },
    { "sentinel.auth", CONF_T_STRING, CONF_OFF(sentinel.auth),
      "", 0, 0, CONF_LIVE },
    { "sentinel.timeout", CONF_T_DURATION, CONF_OFF(sentinel.timeout),
      "1s", 10, 60 * CONF_SEC, CONF_LIVE },
    { "codis.jodis_name", CONF_T_STRING, CONF_OFF(codis.jodis_name),
      "zookeeper", 0, 0, CONF_LIVE },
    { "codis.jodis_addr", CONF_T_STRING, CONF_OFF(codis.jodis_addr),
      "", 0, 0, CONF_LIVE },
    { "codis.jodis_auth", CONF_T_STRING, CONF_OFF(codis.jodis_auth),
      "", 0, 0, CONF_LIVE },
    { "codis.jodis_timeout", CONF_T_DURATION, CONF_OFF(codis.jodis_timeout),
      "20s", 1000, 10 * CONF_MIN, CONF_LIVE },
    { "codis.jodis_compatible", CONF_T_BOOL, CONF_OFF(codis.jodis_compatible),
      "false", 0, 0, CONF_LIVE },
};

/* Sections of the table: "proxy" holds proxy.listen and friends. */
static const char *const conf_sections[] = {
    "log", "proxy", "admin", "session", "backend", "codis", "sentinel", "migrate",
};
/* Top-level lists read by their own code rather than the table. */
static const char *const conf_lists[] = { "groups", "slots" };
static const char *const conf_group_members[] = { "id", "primary", "replicas", "sentinel" };
static const char *const conf_slot_members[] = { "range", "group" };

static const char *const conf_level_names[] = {
    [LOG_LEVEL_ERROR] = "error",
    [LOG_LEVEL_WARN]  = "warn",
    [LOG_LEVEL_INFO]  = "info",
    [LOG_LEVEL_DEBUG] = "debug",
};

#define CONF_DURATION_HINT "a duration such as \"30s\" or \"500ms\" " \
                           "(units ms, s, m, h, d)"
#define CONF_SIZE_HINT     "a size such as \"64mb\" or \"512kb\" " \
                           "(units b, kb, mb, gb)"
#define CONF_LEVEL_HINT    "one of \"error\", \"warn\", \"info\", \"debug\""
#define CONF_ADDRESS_HINT  "an address such as \"127.0.0.1:6379\", " \
                           "\"[::1]:6379\" or \"localhost:6379\" " \
                           "(numeric, no host names)"

/* Room for names such as "groups[255].replicas[3]". */
#define CONF_NAME_LEN  64
/* Longest piece of a bad value echoed back in a message. */
#define CONF_QUOTE_LEN 64

struct conf_ctx {
    const char  *path;      /* file name as the caller gave it */
    char        *err;       /* caller's buffer for the one-line error */
    size_t       errlen;
    struct conf *conf;      /* being built */
    config_t     cfg;       /* parsed file */
};

/* ---- error reporting ------------------------------------------------- */

/* Errors are one line, whatever a path or value contained. */
static void
conf_one_line(char *text)
{
    for (; *text != '\0'; text++) {
        if ((unsigned char)*text < 0x20 || *text == 0x7f) {
            *text = '?';
        }
    }
}

/*
 * Formats "<file>:<line>: <option>: <message>" into ctx->err. The line comes
 * from s, or from its nearest ancestor that has one. Returns CORDIS_ERROR so
 * callers can "return conf_error(...)".
 */
static int conf_error(struct conf_ctx *ctx, const config_setting_t *s,
                      const char *option, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
conf_error(struct conf_ctx *ctx, const config_setting_t *s,
           const char *option, const char *fmt, ...)
{
    const char *file = ctx->path;
    unsigned    line = 0;
    size_t      n;
    int         len;
    va_list     ap;

    for (; s != NULL; s = config_setting_parent(s)) {
        if (config_setting_source_line(s) != 0) {
            line = config_setting_source_line(s);
            /* Set only for settings that came from an @include file. */
            if (config_setting_source_file(s) != NULL) {
                file = config_setting_source_file(s);
            }
            break;
        }
    }

    if (line != 0) {
        len = snprintf(ctx->err, ctx->errlen, "%s:%u: %s: ", file, line, option);
    } else {
        len = snprintf(ctx->err, ctx->errlen, "%s: %s: ", file, option);
    }
    n = len < 0 ? 0 : CORDIS_MIN((size_t)len, ctx->errlen - 1);

    va_start(ap, fmt);
    vsnprintf(ctx->err + n, ctx->errlen - n, fmt, ap);
    va_end(ap);

    conf_one_line(ctx->err);
    return CORDIS_ERROR;
}

/* Quotes a value for a message, escaping control bytes and truncating. */
static const char *
conf_quote(const char *value, char *buf, size_t size)
{
    size_t o = 0, i;

    buf[o++] = '"';
    for (i = 0; value[i] != '\0'; i++) {
        unsigned char c = (unsigned char)value[i];

        if (o + 8 >= size || i >= CONF_QUOTE_LEN) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

/* Formats an option value for a range message: 5000 ms -> "5s". */
static const char *
conf_format(enum conf_type type, int64_t v, char *buf, size_t size)
{
    static const struct { const char *unit; int64_t scale; } durations[] = {
        { "d", CONF_DAY }, { "h", CONF_HOUR }, { "m", CONF_MIN },
        { "s", CONF_SEC }, { "ms", 1 },
    }, sizes[] = {
        { "gb", CONF_GB }, { "mb", CONF_MB }, { "kb", CONF_KB }, { "b", 1 },
    };
    size_t i;

    if (type == CONF_T_DURATION && v != 0) {
        for (i = 0; i < CORDIS_ARRAY_SIZE(durations); i++) {
            if (v % durations[i].scale == 0) {
                snprintf(buf, size, "%lld%s",
                         (long long)(v / durations[i].scale), durations[i].unit);
                return buf;
            }
        }
    }
    if (type == CONF_T_SIZE) {
        for (i = 0; i < CORDIS_ARRAY_SIZE(sizes); i++) {
            if (v % sizes[i].scale == 0 && (v != 0 || sizes[i].scale == 1)) {
                snprintf(buf, size, "%lld%s",
                         (long long)(v / sizes[i].scale), sizes[i].unit);
                return buf;
            }
        }
    }
    snprintf(buf, size, "%lld", (long long)v);
    return buf;
}

/* Levenshtein distance between two short names (SIZE_MAX when too long). */
static size_t
conf_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), i, j;
    size_t row[CONF_NAME_LEN + 1];

    if (la > CONF_NAME_LEN || lb > CONF_NAME_LEN) {
        return SIZE_MAX;
    }
    for (j = 0; j <= lb; j++) {
        row[j] = j;
    }
    for (i = 1; i <= la; i++) {
        size_t diag = row[0];

        row[0] = i;
        for (j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);

            best = CORDIS_MIN(best, up + 1);
            best = CORDIS_MIN(best, row[j - 1] + 1);
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/*
 * Reports an unknown setting, suggesting the closest of names (the known
 * names in the same scope) when one is within two edits: "proxy.lisen:
 * unknown setting (did you mean proxy.listen?)". prefix is put before the
 * suggestion ("proxy." for a member of proxy).
 */
static int
conf_unknown(struct conf_ctx *ctx, const config_setting_t *s,
             const char *option, const char *prefix,
             const char *const *names, size_t nnames)
{
    const char *leaf = config_setting_name(s);
    const char *best = NULL;
    size_t      best_d = 3, d, i;

    for (i = 0; leaf != NULL && i < nnames; i++) {
        d = conf_distance(leaf, names[i]);
        if (d < best_d) {
            best_d = d;
            best = names[i];
        }
    }
    if (best == NULL) {
        return conf_error(ctx, s, option, "unknown setting");
    }
    return conf_error(ctx, s, option, "unknown setting (did you mean %s%s?)",
                      prefix, best);
}

/* ---- scalar options -------------------------------------------------- */

static const struct conf_option *
conf_find_option(const char *path)
{
    size_t i;

    for (i = 0; i < CORDIS_ARRAY_SIZE(conf_options); i++) {
        if (strcmp(conf_options[i].path, path) == 0) {
            return &conf_options[i];
        }
    }
    return NULL;
}

static bool
conf_in(const char *name, const char *const *names, size_t nnames)
{
    size_t i;

    for (i = 0; i < nnames; i++) {
        if (strcmp(name, names[i]) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * Fills names with the known setting names directly under section ("" for
 * the top level); returns how many.
 */
static size_t
conf_scope_names(const char *section, const char **names)
{
    size_t i, n = 0, len = strlen(section);

    for (i = 0; i < CORDIS_ARRAY_SIZE(conf_options); i++) {
        const char *path = conf_options[i].path;

        if (len == 0 && strchr(path, '.') == NULL) {
            names[n++] = path;
        } else if (len > 0 && strncmp(path, section, len) == 0
                   && path[len] == '.') {
            names[n++] = path + len + 1;
        }
    }
    if (len == 0) {
        for (i = 0; i < CORDIS_ARRAY_SIZE(conf_sections); i++) {
            names[n++] = conf_sections[i];
        }
        for (i = 0; i < CORDIS_ARRAY_SIZE(conf_lists); i++) {
            names[n++] = conf_lists[i];
        }
    }
    return n;
}

static int
conf_parse_level(const char *text)
{
    size_t i;

    for (i = 0; i < CORDIS_ARRAY_SIZE(conf_level_names); i++) {
        if (util_strieq(text, strlen(text), conf_level_names[i])) {
            return (int)i;
        }
    }
    /* Redis spells it "warning"; accept that too. */
    if (util_strieq(text, strlen(text), "warning")) {
        return LOG_LEVEL_WARN;
    }
    return -1;
}

static bool
conf_is_address(const char *text)
{
    struct sockaddr_storage ss;
    socklen_t               sslen;

    return strlen(text) < CORDIS_ADDR_LEN
           && util_parse_addr(text, &ss, &sslen) == CORDIS_OK;
}

/* Replaces the string field of opt with a copy of text. */
static int
conf_set_string(struct conf_ctx *ctx, const config_setting_t *s,
                const struct conf_option *opt, const char *text)
{
    char **field = (char **)((char *)ctx->conf + opt->offset);
    char  *copy = strdup(text);

    if (copy == NULL) {
        return conf_error(ctx, s, opt->path, "out of memory");
    }
    free(*field);
    *field = copy;
    return CORDIS_OK;
}

/* Checks v against the option's range and stores it in the right C type. */
static int
conf_set_number(struct conf_ctx *ctx, const config_setting_t *s,
                const struct conf_option *opt, int64_t v, const char *text)
{
    char *field = (char *)ctx->conf + opt->offset;
    char  lo[32], hi[32], q[CONF_QUOTE_LEN + 16];

    if (v < opt->min || v > opt->max) {
        conf_format(opt->type, opt->min, lo, sizeof(lo));
        conf_format(opt->type, opt->max, hi, sizeof(hi));
        if (text != NULL) {
            return conf_error(ctx, s, opt->path, "%s is out of range (%s..%s)",
                              conf_quote(text, q, sizeof(q)), lo, hi);
        }
        return conf_error(ctx, s, opt->path, "%lld is out of range (%s..%s)",
                          (long long)v, lo, hi);
    }
    if (opt->type == CONF_T_INT) {
        *(int *)field = (int)v;
    } else {
        *(int64_t *)field = v;
    }
    return CORDIS_OK;
}

/*
 * Applies one value given as text: a default from the table (s == NULL) or a
 * string setting from the file. Integer and bool defaults come here too.
 */
static int
conf_set_text(struct conf_ctx *ctx, const config_setting_t *s,
              const struct conf_option *opt, const char *text)
{
    char    q[CONF_QUOTE_LEN + 16];
    int64_t v;
    int     level;

    switch (opt->type) {
    case CONF_T_STRING:
        return conf_set_string(ctx, s, opt, text);

    case CONF_T_ADDRESS:
        if (!conf_is_address(text)) {
            return conf_error(ctx, s, opt->path, "%s is not an address; expected "
                              CONF_ADDRESS_HINT, conf_quote(text, q, sizeof(q)));
        }
        return conf_set_string(ctx, s, opt, text);

    case CONF_T_DURATION:
        if (util_parse_duration(text, &v) != CORDIS_OK) {
            return conf_error(ctx, s, opt->path, "%s is not a duration; expected "
                              CONF_DURATION_HINT, conf_quote(text, q, sizeof(q)));
        }
        return conf_set_number(ctx, s, opt, v, text);

    case CONF_T_SIZE:
        if (util_parse_size(text, &v) != CORDIS_OK) {
            return conf_error(ctx, s, opt->path, "%s is not a size; expected "
                              CONF_SIZE_HINT, conf_quote(text, q, sizeof(q)));
        }
        return conf_set_number(ctx, s, opt, v, text);

    case CONF_T_LOG_LEVEL:
        level = conf_parse_level(text);
        if (level < 0) {
            return conf_error(ctx, s, opt->path, "%s is not a log level; expected "
                              CONF_LEVEL_HINT, conf_quote(text, q, sizeof(q)));
        }
        *(int *)((char *)ctx->conf + opt->offset) = level;
        return CORDIS_OK;

    case CONF_T_INT:
        /* Only defaults arrive here as text. */
        if (!util_parse_i64(text, strlen(text), &v)) {
            return conf_error(ctx, s, opt->path, "bad built-in default");
        }
        return conf_set_number(ctx, s, opt, v, NULL);

    case CONF_T_BOOL:
        *(bool *)((char *)ctx->conf + opt->offset) = strcmp(text, "true") == 0;
        return CORDIS_OK;
    }
    return conf_error(ctx, s, opt->path, "unknown option type");
}

/* What a setting of the wrong libconfig type should have been. */
static const char *
conf_expected(enum conf_type type)
{
    switch (type) {
    case CONF_T_STRING:    return "a string";
    case CONF_T_INT:       return "an integer";
    case CONF_T_BOOL:      return "true or false";
    case CONF_T_DURATION:  return CONF_DURATION_HINT;
    case CONF_T_SIZE:      return CONF_SIZE_HINT;
    case CONF_T_LOG_LEVEL: return CONF_LEVEL_HINT;
    case CONF_T_ADDRESS:   return CONF_ADDRESS_HINT;
    }
    return "something else";
}

static int
conf_read_option(struct conf_ctx *ctx, const config_setting_t *s,
                 const struct conf_option *opt)
{
    int type = config_setting_type(s);

    switch (opt->type) {
    case CONF_T_INT:
        /*
         * libconfig 1.5 stores an integer literal without the L suffix in
         * 32 bits and silently wraps larger ones; we can only range-check
         * what it hands us.
         */
        if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) {
            break;
        }
        return conf_set_number(ctx, s, opt, config_setting_get_int64(s), NULL);

    case CONF_T_BOOL:
        if (type != CONFIG_TYPE_BOOL) {
            break;
        }
        *(bool *)((char *)ctx->conf + opt->offset) = config_setting_get_bool(s);
        return CORDIS_OK;

    default:
        if (type != CONFIG_TYPE_STRING) {
            break;
        }
        return conf_set_text(ctx, s, opt, config_setting_get_string(s));
    }

    if (config_setting_is_number(s)
        && (opt->type == CONF_T_DURATION || opt->type == CONF_T_SIZE)) {
        /* The likely mistake: "recv_timeout = 30;" -- 30 what? */
        return conf_error(ctx, s, opt->path, "expected %s, not a bare number",
                          conf_expected(opt->type));
    }
    return conf_error(ctx, s, opt->path, "expected %s", conf_expected(opt->type));
}

static int
conf_apply_defaults(struct conf_ctx *ctx)
{
    size_t i;

    for (i = 0; i < CORDIS_ARRAY_SIZE(conf_options); i++) {
        if (conf_set_text(ctx, NULL, &conf_options[i], conf_options[i].def)
            != CORDIS_OK) {
            return CORDIS_ERROR;
        }
    }
    return CORDIS_OK;
}

/*
 * Rejects settings nobody reads: at the top level, inside each section, and
 * sections that are not groups. Members of groups/slots entries are checked
 * by their readers.
 */
static int
conf_check_names(struct conf_ctx *ctx)
{
    config_setting_t *root = config_root_setting(&ctx->cfg);
    const char       *names[CORDIS_ARRAY_SIZE(conf_options)
                            + CORDIS_ARRAY_SIZE(conf_sections)
                            + CORDIS_ARRAY_SIZE(conf_lists)];
    char              path[CONF_NAME_LEN * 2], prefix[CONF_NAME_LEN];
    size_t            nnames;
    int               i, j, n, m;

    n = config_setting_length(root);
    for (i = 0; i < n; i++) {
        config_setting_t *s = config_setting_get_elem(root, i);
        const char       *name = config_setting_name(s);

        if (conf_in(name, conf_lists, CORDIS_ARRAY_SIZE(conf_lists))
            || conf_find_option(name) != NULL) {
            continue;   /* type checked by its reader */
        }
        if (!conf_in(name, conf_sections, CORDIS_ARRAY_SIZE(conf_sections))) {
            nnames = conf_scope_names("", names);
            return conf_unknown(ctx, s, name, "", names, nnames);
        }
        if (!config_setting_is_group(s)) {
            return conf_error(ctx, s, name, "expected a group { ... }");
        }
        m = config_setting_length(s);
        for (j = 0; j < m; j++) {
            config_setting_t *c = config_setting_get_elem(s, j);

            snprintf(path, sizeof(path), "%s.%s", name, config_setting_name(c));
            if (conf_find_option(path) == NULL) {
                nnames = conf_scope_names(name, names);
                snprintf(prefix, sizeof(prefix), "%s.", name);
                return conf_unknown(ctx, c, path, prefix, names, nnames);
            }
        }
    }
    return CORDIS_OK;
}

static int
conf_read_options(struct conf_ctx *ctx)
{
    size_t i;

    for (i = 0; i < CORDIS_ARRAY_SIZE(conf_options); i++) {
        config_setting_t *s = config_lookup(&ctx->cfg, conf_options[i].path);

        if (s != NULL && conf_read_option(ctx, s, &conf_options[i]) != CORDIS_OK) {
            return CORDIS_ERROR;
        }
    }
    return CORDIS_OK;
}

/* ---- groups ----------------------------------------------------------- */

/* Checks that every member of an entry is one of names. */
static int
conf_check_members(struct conf_ctx *ctx, const config_setting_t *entry,
                   const char *entry_name, const char *const *names,
                   size_t nnames)
{
    char option[CONF_NAME_LEN * 2];
    int  i, n = config_setting_length(entry);

    for (i = 0; i < n; i++) {
        config_setting_t *m = config_setting_get_elem(entry, i);

        if (!conf_in(config_setting_name(m), names, nnames)) {
            snprintf(option, sizeof(option), "%s.%s", entry_name,
                     config_setting_name(m));
            return conf_unknown(ctx, m, option, "", names, nnames);
        }
    }
    return CORDIS_OK;
}

/* A top-level list such as groups = ( {...}, ... ); NULL when absent. */
static int
conf_get_list(struct conf_ctx *ctx, const char *name, const char *example,
              config_setting_t **out)
{
    config_setting_t *s = config_setting_get_member(
        config_root_setting(&ctx->cfg), name);

    *out = NULL;
    if (s == NULL) {
        return CORDIS_OK;
    }
    /* "[]" is how some people write an empty list; accept that too. */
    if (!config_setting_is_list(s)
        && !(config_setting_is_array(s) && config_setting_length(s) == 0)) {
        return conf_error(ctx, s, name, "expected a list such as %s", example);
    }
    *out = s;
    return CORDIS_OK;
}

/*
 * Reads an address member of a group entry into dst (CORDIS_ADDR_LEN bytes)
 * and returns its canonical form in key, for the duplicate check.
 */
static int
conf_read_addr(struct conf_ctx *ctx, const config_setting_t *s,
               const char *option, char *dst, char *key, size_t keylen)
{
    struct sockaddr_storage ss;
    socklen_t               sslen;
    const char             *text;
    char                    q[CONF_QUOTE_LEN + 16];

    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        return conf_error(ctx, s, option, "expected " CONF_ADDRESS_HINT);
    }
    text = config_setting_get_string(s);
    if (strlen(text) >= CORDIS_ADDR_LEN
        || util_parse_addr(text, &ss, &sslen) != CORDIS_OK) {
        return conf_error(ctx, s, option, "%s is not an address; expected "
                          CONF_ADDRESS_HINT, conf_quote(text, q, sizeof(q)));
    }
    memcpy(dst, text, strlen(text) + 1);
    util_addr_text((struct sockaddr *)&ss, key, keylen);
    return CORDIS_OK;
}

/*
 * One Redis server belongs to one group: "localhost:6379" in group 1 and
 * "127.0.0.1:6379" in group 2 would be the same keyspace served twice.
 * Looks for key among the addresses read so far (groups[0..ngroups-1] plus
 * the current group's first naddrs addresses, primary first).
 */
static int
conf_check_addr_unique(struct conf_ctx *ctx, const config_setting_t *s,
                       const char *option, const char *key,
                       const struct conf_group *cur, int naddrs)
{
    const struct conf *conf = ctx->conf;
    char               other[CORDIS_ADDR_LEN * 2], owner[CONF_NAME_LEN];
    int                g, r;

    for (g = 0; g <= conf->ngroups; g++) {
        const struct conf_group *grp = g < conf->ngroups ? &conf->groups[g] : cur;
        int                      count = g < conf->ngroups ? 1 + grp->nreplicas
                                                           : naddrs;

        for (r = 0; r < count; r++) {
            const char             *text = r == 0 ? grp->primary
                                                  : grp->replicas[r - 1];
            struct sockaddr_storage ss;
            socklen_t               sslen;

            util_parse_addr(text, &ss, &sslen);
            util_addr_text((struct sockaddr *)&ss, other, sizeof(other));
            if (strcmp(other, key) != 0) {
                continue;
            }
            if (r == 0) {
                snprintf(owner, sizeof(owner), "groups[%d].primary", g);
            } else {
                snprintf(owner, sizeof(owner), "groups[%d].replicas[%d]",
                         g, r - 1);
            }
            return conf_error(ctx, s, option,
                              "%s is already used by %s (group %d)",
                              key, owner, grp->id);
        }
    }
    return CORDIS_OK;
}

static int
conf_read_group(struct conf_ctx *ctx, const config_setting_t *entry, int index,
                struct conf_group *grp)
{
    config_setting_t *id, *primary, *replicas, *sentinel;
    char              name[CONF_NAME_LEN], option[CONF_NAME_LEN * 2];
    char              key[CORDIS_ADDR_LEN * 2];
    long long         v;
    int               g, r, n;

    snprintf(name, sizeof(name), "groups[%d]", index);
    if (!config_setting_is_group(entry)) {
        return conf_error(ctx, entry, name, "expected a group such as "
                          "{ id = 1; primary = \"127.0.0.1:6379\"; }");
    }
    if (conf_check_members(ctx, entry, name, conf_group_members,
                           CORDIS_ARRAY_SIZE(conf_group_members)) != CORDIS_OK) {
        return CORDIS_ERROR;
    }

    snprintf(option, sizeof(option), "%s.id", name);
    id = config_setting_get_member(entry, "id");
    if (id == NULL) {
        return conf_error(ctx, entry, option, "missing (every group needs an "
                          "id, 1..65535)");
    }
    if (config_setting_type(id) != CONFIG_TYPE_INT
        && config_setting_type(id) != CONFIG_TYPE_INT64) {
        return conf_error(ctx, id, option, "expected an integer");
    }
    v = config_setting_get_int64(id);
    if (v < 1 || v > 65535) {
        return conf_error(ctx, id, option, "%lld is out of range (1..65535)", v);
    }
    for (g = 0; g < ctx->conf->ngroups; g++) {
        if (ctx->conf->groups[g].id == v) {
            return conf_error(ctx, id, option,
                              "duplicate group id %lld (also groups[%d])", v, g);
        }
    }
    grp->id = (int)v;

    snprintf(option, sizeof(option), "%s.primary", name);
    primary = config_setting_get_member(entry, "primary");
    if (primary == NULL) {
        return conf_error(ctx, entry, option, "missing (every group needs a "
                          "primary address)");
    }
    if (conf_read_addr(ctx, primary, option, grp->primary, key, sizeof(key))
            != CORDIS_OK
        || conf_check_addr_unique(ctx, primary, option, key, grp, 0)
            != CORDIS_OK) {
        return CORDIS_ERROR;
    }

    sentinel = config_setting_get_member(entry, "sentinel");
    snprintf(option, sizeof(option), "%s.sentinel", name);
    if (sentinel != NULL) {
        const char *text = config_setting_get_string(sentinel);

        if (text == NULL || text[0] == '\0' || strlen(text) >= sizeof(grp->sentinel)
            || strpbrk(text, " \t\r\n") != NULL) {
            return conf_error(ctx, sentinel, option, "expected the name the sentinels monitor "
                              "this group's primary under (no spaces, at most %d bytes)",
                              (int)sizeof(grp->sentinel) - 1);
        }
        snprintf(grp->sentinel, sizeof(grp->sentinel), "%s", text);
    } else {
        /* Codis names its groups' masters "<product_name>-<gid>". */
        snprintf(grp->sentinel, sizeof(grp->sentinel), "%.100s-%d", ctx->conf->product_name,
                 grp->id);
    }

    replicas = config_setting_get_member(entry, "replicas");
    if (replicas == NULL) {
        return CORDIS_OK;
    }
    snprintf(option, sizeof(option), "%s.replicas", name);
    if (!config_setting_is_array(replicas) && !config_setting_is_list(replicas)) {
        return conf_error(ctx, replicas, option, "expected a list of addresses "
                          "such as [ \"127.0.0.1:6479\" ]");
    }
    n = config_setting_length(replicas);
    if (n > CORDIS_MAX_REPLICAS) {
        return conf_error(ctx, replicas, option,
                          "%d replicas, at most %d are allowed",
                          n, CORDIS_MAX_REPLICAS);
    }
    for (r = 0; r < n; r++) {
        config_setting_t *s = config_setting_get_elem(replicas, r);

        snprintf(option, sizeof(option), "%s.replicas[%d]", name, r);
        if (conf_read_addr(ctx, s, option, grp->replicas[r], key, sizeof(key))
                != CORDIS_OK
            || conf_check_addr_unique(ctx, s, option, key, grp, 1 + r)
                != CORDIS_OK) {
            return CORDIS_ERROR;
        }
        grp->nreplicas = r + 1;
    }
    return CORDIS_OK;
}

static int
conf_read_groups(struct conf_ctx *ctx)
{
    struct conf      *conf = ctx->conf;
    config_setting_t *list;
    int               i, n;

    if (conf_get_list(ctx, "groups", "( { id = 1; primary = \"127.0.0.1:6379\";"
                      " }, ... )", &list) != CORDIS_OK) {
        return CORDIS_ERROR;
    }
    if (list == NULL || config_setting_length(list) == 0) {
        return CORDIS_OK;
    }

    n = config_setting_length(list);
    if (n > CORDIS_MAX_GROUPS) {
        return conf_error(ctx, list, "groups", "%d groups, at most %d are "
                          "allowed", n, CORDIS_MAX_GROUPS);
    }
    conf->groups = calloc((size_t)n, sizeof(*conf->groups));
    if (conf->groups == NULL) {
        return conf_error(ctx, list, "groups", "out of memory");
    }
    /* ngroups counts only groups fully read, so the checks see those. */
    for (i = 0; i < n; i++) {
        if (conf_read_group(ctx, config_setting_get_elem(list, i), i,
                            &conf->groups[i]) != CORDIS_OK) {
            return CORDIS_ERROR;
        }
        conf->ngroups = i + 1;
    }
    return CORDIS_OK;
}

/* ---- slots ------------------------------------------------------------ */

/* Parses "N" or "FROM-TO" with strict decimals (no signs, no spaces). */
static bool
conf_parse_range(const char *text, int64_t *from, int64_t *to)
{
    const char *dash = strchr(text, '-');

    if (dash == NULL) {
        if (!util_parse_i64(text, strlen(text), from) || *from < 0) {
            return false;
        }
        *to = *from;
        return true;
    }
    return util_parse_i64(text, (size_t)(dash - text), from)
           && util_parse_i64(dash + 1, strlen(dash + 1), to)
           && *from >= 0 && *to >= 0;
}

static int
conf_read_slot(struct conf_ctx *ctx, const config_setting_t *list, int index,
               int owner[CORDIS_SLOTS])
{
    const config_setting_t *entry = config_setting_get_elem(list, index);
    config_setting_t       *range, *group;
    char                    name[CONF_NAME_LEN], option[CONF_NAME_LEN * 2];
    char                    q[CONF_QUOTE_LEN + 16];
    const char             *text;
    int64_t                 from, to, slot;
    long long               id;

    snprintf(name, sizeof(name), "slots[%d]", index);
    if (!config_setting_is_group(entry)) {
        return conf_error(ctx, entry, name, "expected a group such as "
                          "{ range = \"0-511\"; group = 1; }");
    }
    if (conf_check_members(ctx, entry, name, conf_slot_members,
                           CORDIS_ARRAY_SIZE(conf_slot_members)) != CORDIS_OK) {
        return CORDIS_ERROR;
    }

    snprintf(option, sizeof(option), "%s.range", name);
    range = config_setting_get_member(entry, "range");
    if (range == NULL) {
        return conf_error(ctx, entry, option, "missing (such as \"0-511\" or "
                          "\"512\")");
    }
    if (config_setting_type(range) != CONFIG_TYPE_STRING) {
        return conf_error(ctx, range, option, "expected a string such as "
                          "\"0-511\" or \"512\"");
    }
    text = config_setting_get_string(range);
    if (!conf_parse_range(text, &from, &to)) {
        return conf_error(ctx, range, option, "%s is not a slot range; expected "
                          "\"N\" or \"FROM-TO\" such as \"0-511\"",
                          conf_quote(text, q, sizeof(q)));
    }
    if (from >= CORDIS_SLOTS || to >= CORDIS_SLOTS) {
        return conf_error(ctx, range, option, "%s is out of bounds (slots are "
                          "0..%d)", conf_quote(text, q, sizeof(q)),
                          CORDIS_SLOTS - 1);
    }
    if (from > to) {
        return conf_error(ctx, range, option, "%s is reversed (FROM must not be "
                          "greater than TO)", conf_quote(text, q, sizeof(q)));
    }

    snprintf(option, sizeof(option), "%s.group", name);
    group = config_setting_get_member(entry, "group");
    if (group == NULL) {
        return conf_error(ctx, entry, option, "missing (the id of a group in "
                          "groups)");
    }
    if (config_setting_type(group) != CONFIG_TYPE_INT
        && config_setting_type(group) != CONFIG_TYPE_INT64) {
        return conf_error(ctx, group, option, "expected an integer (a group id)");
    }
    id = config_setting_get_int64(group);
    if (id < 1 || id > 65535 || conf_group_find(ctx->conf, (int)id) == NULL) {
        return conf_error(ctx, group, option, "no group with id %lld", id);
    }

    for (slot = from; slot <= to; slot++) {
        if (owner[slot] != 0) {
            int                     prev = owner[slot] - 1;
            const config_setting_t *p = config_setting_get_elem(list, prev);

            snprintf(option, sizeof(option), "%s.range", name);
            return conf_error(ctx, range, option,
                              "slot %lld is already assigned by slots[%d] "
                              "(line %u)", (long long)slot, prev,
                              config_setting_source_line(p));
        }
        owner[slot] = index + 1;
        ctx->conf->slot_group[slot] = (uint16_t)id;
    }
    return CORDIS_OK;
}

static int
conf_read_slots(struct conf_ctx *ctx)
{
    config_setting_t *list;
    int               i, n;
    int               owner[CORDIS_SLOTS] = { 0 }; /* entry index + 1 per slot */

    if (conf_get_list(ctx, "slots", "( { range = \"0-511\"; group = 1; }, ... )",
                      &list) != CORDIS_OK) {
        return CORDIS_ERROR;
    }
    n = list == NULL ? 0 : config_setting_length(list);
    for (i = 0; i < n; i++) {
        if (conf_read_slot(ctx, list, i, owner) != CORDIS_OK) {
            return CORDIS_ERROR;
        }
    }
    return CORDIS_OK;
}

/* ---- checks across options ------------------------------------------- */

static int
conf_online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    if (n < 1) {
        n = 1;
    }
    return (int)CORDIS_MIN(n, (long)CORDIS_MAX_WORKERS);
}

/*
 * codis.dashboard: IP addresses (no port: a client's port is any), split
 * by commas or spaces, parsed into conf->codis.dashboard_addrs.
 */
static int
conf_read_dashboard(struct conf_ctx *ctx)
{
    struct conf      *conf = ctx->conf;
    config_setting_t *s = config_lookup(&ctx->cfg, "codis.dashboard");
    const char       *p = conf->codis.dashboard;
    char              word[INET6_ADDRSTRLEN + 2], q[CONF_QUOTE_LEN + 16];

    conf->codis.ndashboard = 0;
    while (*p != '\0') {
        size_t len = strcspn(p, ", \t");
        struct sockaddr_storage *ss;

        if (len == 0) {
            p++;
            continue;
        }
        if (len >= sizeof(word)) {
            return conf_error(ctx, s, "codis.dashboard", "%s is not an IP address",
                              conf_quote(p, q, sizeof(q)));
        }
        memcpy(word, p, len);
        word[len] = '\0';
        p += len;
        if (conf->codis.ndashboard >= CONF_DASHBOARD_MAX) {
            return conf_error(ctx, s, "codis.dashboard", "more than %d addresses",
                              CONF_DASHBOARD_MAX);
        }
        ss = &conf->codis.dashboard_addrs[conf->codis.ndashboard];
        memset(ss, 0, sizeof(*ss));
        if (inet_pton(AF_INET, word, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
            ss->ss_family = AF_INET;
        } else if (inet_pton(AF_INET6, word, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
            ss->ss_family = AF_INET6;
        } else {
            return conf_error(ctx, s, "codis.dashboard", "%s is not an IP address; expected "
                              "addresses such as \"10.0.0.7\" or \"10.0.0.7, fd00::7\" "
                              "(no port, no host names)", conf_quote(word, q, sizeof(q)));
        }
        conf->codis.ndashboard++;
    }
    return CORDIS_OK;
}

/* sentinel.addrs: "host:port" entries split by commas or spaces. */
static int
conf_read_sentinels(struct conf_ctx *ctx)
{
    struct conf      *conf = ctx->conf;
    config_setting_t *s = config_lookup(&ctx->cfg, "sentinel.addrs");
    const char       *p = conf->sentinel.addrs;
    char              q[CONF_QUOTE_LEN + 16];

    conf->sentinel.naddrs = 0;
    while (*p != '\0') {
        size_t len = strcspn(p, ", \t");
        struct sockaddr_storage ss;
        socklen_t sslen;
        char *dst;

        if (len == 0) {
            p++;
            continue;
        }
        if (conf->sentinel.naddrs >= CONF_SENTINELS_MAX) {
            return conf_error(ctx, s, "sentinel.addrs", "more than %d sentinels",
                              CONF_SENTINELS_MAX);
        }
        dst = conf->sentinel.addr[conf->sentinel.naddrs];
        if (len >= CORDIS_ADDR_LEN) {
            return conf_error(ctx, s, "sentinel.addrs", "%s is not an address; expected "
                              CONF_ADDRESS_HINT, conf_quote(p, q, sizeof(q)));
        }
        memcpy(dst, p, len);
        dst[len] = '\0';
        p += len;
        if (util_parse_addr(dst, &ss, &sslen) != CORDIS_OK) {
            return conf_error(ctx, s, "sentinel.addrs", "%s is not an address; expected "
                              "addresses such as \"127.0.0.1:26379, 127.0.0.1:26380\"",
                              conf_quote(dst, q, sizeof(q)));
        }
        conf->sentinel.naddrs++;
    }
    return CORDIS_OK;
}

bool
conf_dashboard_allows(const struct conf *conf, const struct sockaddr *sa)
{
    struct in6_addr v4mapped;
    const struct in_addr *v4 = NULL;

    if (sa == NULL) {
        return false;
    }
    if (sa->sa_family == AF_INET) {
        v4 = &((const struct sockaddr_in *)sa)->sin_addr;
    } else if (sa->sa_family == AF_INET6) {
        v4mapped = ((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(&v4mapped)) {
            v4 = (const struct in_addr *)&v4mapped.s6_addr[12];
        }
    }
    for (int i = 0; i < conf->codis.ndashboard; i++) {
        const struct sockaddr_storage *d = &conf->codis.dashboard_addrs[i];

        if (d->ss_family == AF_INET && v4 != NULL
            && memcmp(&((const struct sockaddr_in *)d)->sin_addr, v4, sizeof(*v4)) == 0) {
            return true;
        }
        if (d->ss_family == AF_INET6 && sa->sa_family == AF_INET6
            && memcmp(&((const struct sockaddr_in6 *)d)->sin6_addr,
                      &((const struct sockaddr_in6 *)sa)->sin6_addr,
                      sizeof(struct in6_addr)) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * Codis's proxy authenticates to its servers with product_auth; so does
 * cordis when backend.auth does not say otherwise.
 */
static int
conf_apply_product_auth(struct conf_ctx *ctx)
{
    struct conf *conf = ctx->conf;
    char        *copy;

    if (conf->codis.product_auth[0] == '\0' || conf->backend.auth[0] != '\0') {
        return CORDIS_OK;
    }
    copy = strdup(conf->codis.product_auth);
    if (copy == NULL) {
        return conf_error(ctx, NULL, "codis.product_auth", "out of memory");
    }
    free(conf->backend.auth);
    conf->backend.auth = copy;
    return CORDIS_OK;
}

/* codis.jodis_*: ZooKeeper only; auth as "user:password", as Codis takes it. */
static int
conf_check_jodis(struct conf_ctx *ctx)
{
    const struct conf *conf = ctx->conf;
    const char        *auth = conf->codis.jodis_auth;

    if (strcmp(conf->codis.jodis_name, "zookeeper") != 0) {
        return conf_error(ctx, config_lookup(&ctx->cfg, "codis.jodis_name"), "codis.jodis_name",
                          "\"%s\" is not supported: cordis registers in ZooKeeper only "
                          "(\"zookeeper\")", conf->codis.jodis_name);
    }
    if (auth[0] != '\0' && (strchr(auth, ':') == NULL || auth[0] == ':')) {
        return conf_error(ctx, config_lookup(&ctx->cfg, "codis.jodis_auth"), "codis.jodis_auth",
                          "expected \"user:password\"");
    }
    if (conf->codis.jodis_addr[0] != '\0' && strchr(conf->codis.jodis_addr, '/') != NULL) {
        return conf_error(ctx, config_lookup(&ctx->cfg, "codis.jodis_addr"), "codis.jodis_addr",
                          "expected \"host:port[,host:port...]\" (no chroot path)");
    }
    return CORDIS_OK;
}

static int
conf_check_admin(struct conf_ctx *ctx)
{
    struct conf            *conf = ctx->conf;
    struct sockaddr_storage admin, proxy;
    socklen_t               len;
    char                    a[CORDIS_ADDR_LEN * 2], p[CORDIS_ADDR_LEN * 2];
    config_setting_t       *s = config_lookup(&ctx->cfg, "admin.listen");
    bool                    codis_guarded;

    /* Both were validated when read (or are the defaults). */
    util_parse_addr(conf->admin.listen, &admin, &len);
    util_parse_addr(conf->proxy.listen, &proxy, &len);

    /*
     * Off loopback, every route that changes state needs a secret or a
     * known caller: cordis's own a token (else they stay loopback-only),
     * Codis's an xauth made with product_auth or a dashboard address
     * (else loopback-only, and a dashboard elsewhere could not drive us).
     */
    codis_guarded = conf->codis.product_auth[0] != '\0' || conf->codis.ndashboard > 0;
    if (!util_addr_is_loopback((struct sockaddr *)&admin)
        && conf->admin.token[0] == '\0' && !codis_guarded) {
        return conf_error(ctx, s, "admin.listen",
                          "%s is not a loopback address, so admin.token must "
                          "be set, or codis.product_auth or codis.dashboard "
                          "(or state-changing routes would be open to the "
                          "network)", conf->admin.listen);
    }
    if (!util_addr_is_loopback((struct sockaddr *)&admin) && conf->codis.enabled
        && !codis_guarded) {
        return conf_error(ctx, s, "admin.listen",
                          "%s is not a loopback address and codis.enabled is "
                          "true, so codis.product_auth or codis.dashboard must "
                          "be set (Codis's routes would be open to the network, "
                          "or refused to a dashboard on another host)",
                          conf->admin.listen);
    }
    util_addr_text((struct sockaddr *)&admin, a, sizeof(a));
    util_addr_text((struct sockaddr *)&proxy, p, sizeof(p));
    if (strcmp(a, p) == 0) {
        /* Blame whichever of the two the file sets. */
        if (s == NULL) {
            return conf_error(ctx, config_lookup(&ctx->cfg, "proxy.listen"),
                              "proxy.listen", "%s is also admin.listen", p);
        }
        return conf_error(ctx, s, "admin.listen", "%s is also proxy.listen", a);
    }
    return CORDIS_OK;
}

/* ---- public ----------------------------------------------------------- */

/*
 * libconfig 1.5 keeps an integer without the L suffix in 32 bits and
 * silently wraps a larger one (workers = 4294967298 would read as 2).
 * Before parsing, find such literals in the text, outside strings and
 * comments, and refuse them with their line.
 */
static int
conf_check_integers(const char *path, const char *text, char *err, size_t errlen)
{
    const char *p = text;
    int line = 1;

    while (*p != '\0') {
        if (*p == '\n') {
            line++;
            p++;
        } else if (*p == '"') {
            for (p++; *p != '\0' && *p != '"'; p++) {
                if (*p == '\\' && p[1] != '\0') {
                    p++;
                } else if (*p == '\n') {
                    line++;
                }
            }
            p += *p == '"';
        } else if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
            while (*p != '\0' && *p != '\n') {
                p++;
            }
        } else if (p[0] == '/' && p[1] == '*') {
            for (p += 2; *p != '\0' && !(p[0] == '*' && p[1] == '/'); p++) {
                line += *p == '\n';
            }
            p += *p != '\0' ? 2 : 0;
        } else if (isdigit((unsigned char)*p) && (p == text || !(isalnum((unsigned char)p[-1])
                                                                || p[-1] == '_' || p[-1] == '.'))) {
            const char *start = p;
            bool negative = p > text && p[-1] == '-';
            bool hex = p[0] == '0' && (p[1] == 'x' || p[1] == 'X');
            unsigned long long v = 0;
            bool big = false;

            for (p += hex ? 2 : 0; hex ? isxdigit((unsigned char)*p) : isdigit((unsigned char)*p); p++) {
                unsigned d = isdigit((unsigned char)*p) ? (unsigned)(*p - '0')
                                                        : (unsigned)(tolower((unsigned char)*p) - 'a' + 10);

                big = big || v > (ULLONG_MAX - d) / (hex ? 16 : 10);
                v = v * (hex ? 16 : 10) + d;
            }
            if (*p == '.' || *p == 'e' || *p == 'E' || *p == 'L') {
                while (isalnum((unsigned char)*p) || *p == '.' || *p == '+' || *p == '-') {
                    p++;   /* a float, or an explicit 64-bit integer */
                }
                continue;
            }
            if (big || (hex ? v > 0xffffffffULL
                            : v > (negative ? 2147483648ULL : 2147483647ULL))) {
                snprintf(err, errlen, "%s:%d: integer %s%.*s does not fit in 32 bits "
                         "(write it with an L suffix for 64 bits)", path, line,
                         negative ? "-" : "", (int)CORDIS_MIN(p - start, 40), start);
                return CORDIS_ERROR;
            }
        } else {
            p++;
        }
    }
    return CORDIS_OK;
}

int
conf_read_file(const char *path, char **text, size_t *size, char *err,
               size_t errlen)
{
    struct stat st;
    char *buf = NULL;
    size_t used = 0, cap = 0;
    FILE *fp;

    *text = NULL;
    *size = 0;
    /* Open it ourselves: libconfig would say only "file I/O error". */
    fp = fopen(path, "r");
    if (fp == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        conf_one_line(err);
        return CORDIS_ERROR;
    }
    if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(EISDIR));
        conf_one_line(err);
        fclose(fp);
        return CORDIS_ERROR;
    }
    for (;;) {
        size_t n;

        if (cap - used < 4096) {
            char *grown;

            if (cap >= CONF_TEXT_MAX) {
                snprintf(err, errlen, "%s: larger than %d bytes", path, CONF_TEXT_MAX);
                goto failed;
            }
            cap = cap == 0 ? 16384 : cap * 2;
            grown = realloc(buf, cap + 1);
            if (grown == NULL) {
                snprintf(err, errlen, "%s: out of memory", path);
                goto failed;
            }
            buf = grown;
        }
        n = fread(buf + used, 1, cap - used, fp);
        used += n;
        if (n == 0) {
            break;
        }
    }
    if (ferror(fp)) {
        snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
        goto failed;
    }
    fclose(fp);
    buf[used] = '\0';
    *text = buf;
    *size = used;
    return CORDIS_OK;

failed:
    conf_one_line(err);
    free(buf);
    fclose(fp);
    return CORDIS_ERROR;
}

int
conf_load_text(const char *path, const char *text, size_t size,
               struct conf **out, char *err, size_t errlen)
{
    struct conf_ctx ctx;
    char            dummy[1], *dir, *slash;
    int             rc = CORDIS_ERROR;

    *out = NULL;
    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    if (memchr(text, '\0', size) != NULL) {
        snprintf(err, errlen, "%s: contains a NUL byte", path);
        return CORDIS_ERROR;
    }

    memset(&ctx, 0, sizeof(ctx));
    ctx.path = path;
    ctx.err = err;
    ctx.errlen = errlen;
    config_init(&ctx.cfg);
    /* @include paths are relative to the config file's directory. */
    dir = strdup(path);
    if (dir != NULL) {
        slash = strrchr(dir, '/');
        if (slash != NULL) {
            *slash = '\0';
            config_set_include_dir(&ctx.cfg, dir);
        }
    }

    if (conf_check_integers(path, text, err, errlen) != CORDIS_OK) {
        goto done;
    }
    if (!config_read_string(&ctx.cfg, text)) {
        /* The file is set only when the error is in an @include file. */
        snprintf(err, errlen, "%s:%d: %s",
                 config_error_file(&ctx.cfg) != NULL
                     ? config_error_file(&ctx.cfg) : path,
                 config_error_line(&ctx.cfg), config_error_text(&ctx.cfg));
        goto done;
    }

    ctx.conf = calloc(1, sizeof(*ctx.conf));
    if (ctx.conf == NULL || (ctx.conf->path = strdup(path)) == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto done;
    }

    if (conf_apply_defaults(&ctx) != CORDIS_OK
        || conf_check_names(&ctx) != CORDIS_OK
        || conf_read_options(&ctx) != CORDIS_OK
        || conf_read_groups(&ctx) != CORDIS_OK
        || conf_read_slots(&ctx) != CORDIS_OK
        || conf_read_dashboard(&ctx) != CORDIS_OK
        || conf_read_sentinels(&ctx) != CORDIS_OK
        || conf_apply_product_auth(&ctx) != CORDIS_OK
        || conf_check_jodis(&ctx) != CORDIS_OK
        || conf_check_admin(&ctx) != CORDIS_OK) {
        goto done;
    }

    /* Keep what was written; run one worker per online CPU for 0. */
    ctx.conf->proxy.workers_conf = ctx.conf->proxy.workers;
    if (ctx.conf->proxy.workers == 0) {
        ctx.conf->proxy.workers = conf_online_cpus();
    }
    rc = CORDIS_OK;

done:
    config_destroy(&ctx.cfg);
    free(dir);
    if (rc != CORDIS_OK) {
        conf_one_line(err);
        conf_free(ctx.conf);
        return CORDIS_ERROR;
    }
    *out = ctx.conf;
    return CORDIS_OK;
}

int
conf_load(const char *path, struct conf **out, char *err, size_t errlen)
{
    char *text, dummy[1];
    size_t size;
    int rc;

    *out = NULL;
    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    if (conf_read_file(path, &text, &size, err, errlen) != CORDIS_OK) {
        return CORDIS_ERROR;
    }
    rc = conf_load_text(path, text, size, out, err, errlen);
    free(text);
    return rc;
}

void
conf_free(struct conf *conf)
{
    size_t i;

    if (conf == NULL) {
        return;
    }
    for (i = 0; i < CORDIS_ARRAY_SIZE(conf_options); i++) {
        if (conf_options[i].type == CONF_T_STRING
            || conf_options[i].type == CONF_T_ADDRESS) {
            free(*(char **)((char *)conf + conf_options[i].offset));
        }
    }
    free(conf->groups);
    free(conf->path);
    free(conf);
}

const struct conf_group *
conf_group_find(const struct conf *conf, int id)
{
    int i;

    for (i = 0; conf != NULL && i < conf->ngroups; i++) {
        if (conf->groups[i].id == id) {
            return &conf->groups[i];
        }
    }
    return NULL;
}

bool
conf_needs_restart(const struct conf *old, const struct conf *new,
                   const char **what)
{
    size_t i;

    for (i = 0; i < CORDIS_ARRAY_SIZE(conf_options); i++) {
        const struct conf_option *opt = &conf_options[i];
        const char               *a = (const char *)old + opt->offset;
        const char               *b = (const char *)new + opt->offset;
        bool                      same;

        if (!(opt->flags & CONF_RESTART)) {
            continue;
        }
        switch (opt->type) {
        case CONF_T_STRING:
        case CONF_T_ADDRESS:
            same = strcmp(*(char *const *)a, *(char *const *)b) == 0;
            break;
        case CONF_T_INT:
        case CONF_T_LOG_LEVEL:
            same = *(const int *)a == *(const int *)b;
            break;
        case CONF_T_BOOL:
            same = *(const bool *)a == *(const bool *)b;
            break;
        default:
            same = *(const int64_t *)a == *(const int64_t *)b;
            break;
        }
        if (!same) {
            if (what != NULL) {
                *what = opt->path;
            }
            return true;
        }
    }
    return false;
}
