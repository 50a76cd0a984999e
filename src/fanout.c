/*
 * Fan-out to every group and the merge rules. See fanout.h.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "command.h"
#include "fanout.h"
#include "reply.h"
#include "request.h"
#include "resp.h"
#include "scripts.h"
#include "session.h"
#include "util.h"
#include "worker.h"

/* CONFIG SET parameters that belong to one server, not to the fleet:
 * addresses, files, replication, and the password cordis itself uses. */
static const char *const fanout_per_server_params[] = {
    "port", "tls-port", "bind", "bind-source-addr", "unixsocket", "unixsocketperm",
    "dir", "dbfilename", "appendfilename", "appenddirname", "logfile", "pidfile",
    "replicaof", "slaveof", "masterauth", "masteruser", "requirepass",
    "replica-announce-ip", "replica-announce-port", "slave-announce-ip",
    "slave-announce-port", "cluster-config-file", "cluster-announce-ip",
    "cluster-announce-port", "cluster-announce-bus-port", "cluster-announce-tls-port",
    "cluster-port", "daemonize", "supervised", "syslog-ident",
};

/* "-ERR ... per server" for CONFIG SET of such a parameter, else OK. */
static int
fanout_config_set_check(struct req *req, int argc, const struct cstr *argv)
{
    for (int i = 2; i < argc; i += 2) {
        for (size_t j = 0; j < CORDIS_ARRAY_SIZE(fanout_per_server_params); j++) {
            if (util_strieq(argv[i].ptr, argv[i].len, fanout_per_server_params[j])) {
                req_set_error(req, "ERR CONFIG SET '%s' is per server: set it on each Redis "
                                   "server, not through cordis", fanout_per_server_params[j]);
                return CORDIS_ERROR;
            }
        }
    }
    return CORDIS_OK;
}

/* The decimal unsigned 64-bit number Redis accepts as a cursor. */
static bool
fanout_parse_cursor(const struct cstr *arg, uint64_t *out)
{
    uint64_t v = 0;

    if (arg->len == 0 || arg->len > 20) {
        return false;
    }
    for (size_t i = 0; i < arg->len; i++) {
        unsigned d = (unsigned char)arg->ptr[i] - '0';

        if (d > 9 || v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/*
 * SCAN: one group per call. The request is re-encoded with the group's
 * own cursor; the reply's cursor is made cordis's again in
 * fanout_scan_reply.
 */
static int
fanout_scan(struct worker *w, struct session *s, struct req *req, int argc,
            const struct cstr *argv)
{
    struct cstr *args;
    char number[24];
    uint64_t cursor, backend;
    unsigned index = 0;
    const char *err;

    if (w->ngroups == 1) {
        /* One group is one Redis: its cursor as it is, checked by it. */
        req->hook_arg = UINT32_MAX;
    } else if (!fanout_parse_cursor(&argv[1], &cursor)) {
        req_set_error(req, "ERR invalid cursor");
        return CORDIS_ERROR;
    } else {
        index = (unsigned)(cursor >> 56);
        backend = cursor & FANOUT_CURSOR_MASK;
        if (cursor != 0 && (index >= (unsigned)w->ngroups
                            || (uint8_t)(cursor >> FANOUT_CURSOR_BITS) != w->groups_print)) {
            req_set_error(req, "ERR invalid cursor: it was made for another set of groups "
                               "(groups were added or removed since); start the SCAN again from 0");
            return CORDIS_ERROR;
        }
        req->hook_arg = index | (uint32_t)w->groups_print << 8;
        args = malloc(sizeof(*args) * (size_t)argc);
        if (args == NULL) {
            req_set_error(req, "ERR out of memory");
            return CORDIS_ERROR;
        }
        memcpy(args, argv, sizeof(*args) * (size_t)argc);
        args[1].ptr = number;
        args[1].len = (size_t)snprintf(number, sizeof(number), "%llu", (unsigned long long)backend);
        free(req->gen);
        req->gen = NULL;
        if (req_encode(req, argc, args) != CORDIS_OK) {
            free(args);
            req_set_error(req, "ERR out of memory");
            return CORDIS_ERROR;
        }
        free(args);
    }
    req->group = w->group_ids[index];
    if (backend_send(w, w->group_server[index], s->db, 0, req, &err) != CORDIS_OK) {
        req_set_error(req, "ERR backend %s unavailable: %s", w->group_server[index]->addr, err);
        return CORDIS_ERROR;
    }
    return CORDIS_OK;
}

void
fanout_scan_reply(struct worker *w, struct req *req)
{
    struct resp_reply_parser p;
    unsigned index = req->hook_arg & 0xff;
    uint8_t print = (uint8_t)(req->hook_arg >> 8);
    uint64_t backend, next;
    struct cstr cur;
    struct reply r;
    size_t at, hdr;

    if (req->reply_type != '*' || req->hook_arg == UINT32_MAX) {
        return;   /* an error, or one group: as it came */
    }
    at = resp_array_header_len(req->reply, req->reply_len);
    resp_reply_parser_init(&p, INT64_MAX);
    if (req->reply_int != 2 || at == 0
        || resp_parse_reply(&p, req->reply + at, req->reply_len - at) != RESP_OK
        || p.type != '$' || p.integer < 0) {
        req_set_error(req, "ERR unexpected reply from a backend to SCAN");
        return;
    }
    hdr = resp_bulk_header_len((size_t)p.integer);
    cur.ptr = req->reply + at + hdr;
    cur.len = (size_t)p.integer;
    if (!fanout_parse_cursor(&cur, &backend)) {
        req_set_error(req, "ERR unexpected reply from a backend to SCAN");
        return;
    }
    if (backend > FANOUT_CURSOR_MASK) {
        req_set_error(req, "ERR group %u's SCAN cursor does not fit in 48 bits", req->group);
        return;
    }
    if (backend != 0) {
        next = fanout_cursor_encode(index, print, backend);
    } else if (index + 1 < (unsigned)w->ngroups && print == w->groups_print) {
        next = fanout_cursor_encode(index + 1, print, 0);   /* on to the next group */
    } else {
        next = 0;   /* every group is done */
    }
    reply_init(&r);
    reply_array(&r, 2);
    reply_printf(&r, "$%d\r\n%llu\r\n",
                 snprintf(NULL, 0, "%llu", (unsigned long long)next), (unsigned long long)next);
    reply_raw(&r, req->reply + at + p.len, req->reply_len - at - p.len);
    req_take_reply(req, &r);
}

int
fanout_dispatch(struct worker *w, struct session *s, struct req *req, int argc,
                const struct cstr *argv)
{
    int n = w->ngroups;
    const char *err;

    if (n == 0) {
        req_set_error(req, "ERR no group is configured");
        return CORDIS_ERROR;
    }
    if (req->cmd->merge == MERGE_SCAN) {
        return fanout_scan(w, s, req, argc, argv);
    }
    if (req->cmd->id == COMMAND_CONFIG_SET
        && fanout_config_set_check(req, argc, argv) != CORDIS_OK) {
        return CORDIS_ERROR;
    }
    if (scripts_before_fanout(w, req, argc, argv) != CORDIS_OK) {
        return CORDIS_ERROR;
    }
    if (req_alloc_children(req, n, 0) != CORDIS_OK) {
        req_set_error(req, "ERR out of memory");
        return CORDIS_ERROR;
    }
    for (int i = 0; i < n; i++) {
        struct req *child = req_new(w);

        if (child == NULL) {
            for (int j = 0; j < req->nchildren; j++) {
                req_free(w, req->children[j]);
            }
            req->nchildren = 0;
            req->children = NULL;
            req_set_error(req, "ERR out of memory");
            return CORDIS_ERROR;
        }
        child->parent = req;
        child->cmd = req->cmd;
        child->start_usec = req->start_usec;
        child->group = w->group_ids[i];
        /* The parent's bytes: it outlives its children. */
        req_set_bytes(child, req->iov[0].iov_base, req->send_len);
        req->children[req->nchildren++] = child;
    }
    req->pending = n;
    for (int i = 0; i < n; i++) {
        struct req *child = req->children[i];

        if (backend_send(w, w->group_server[i], s->db, 0, child, &err) != CORDIS_OK) {
            req_set_error(child, "ERR backend %s unavailable: %s", w->group_server[i]->addr, err);
            req_finish(w, child);
        }
    }
    return CORDIS_OK;
}

/* --- merging ---------------------------------------------------------------- */

/* The parent takes a child's reply as it is. */
static void
fanout_take(struct req *parent, const struct req *child)
{
    if (child->rbuf != NULL) {
        req_set_reply_ref(parent, child->rbuf, child->reply, child->reply_len,
                          child->reply_type, child->reply_int);
        return;
    }
    if (req_set_own_reply(parent, child->reply, child->reply_len) != CORDIS_OK) {
        req_set_error(parent, "ERR out of memory");
        return;
    }
    parent->reply_int = child->reply_int;
    parent->failed = child->failed;
}

static bool
fanout_is_error(const struct req *child)
{
    return child->reply_type == '-';
}

/* True when every child failed with the same error text. */
static bool
fanout_same_error(const struct req *parent)
{
    const struct req *first = parent->children[0];

    for (int j = 0; j < parent->nchildren; j++) {
        const struct req *c = parent->children[j];

        if (!fanout_is_error(c) || c->reply_len != first->reply_len
            || memcmp(c->reply, first->reply, c->reply_len) != 0) {
            return false;
        }
    }
    return true;
}

/*
 * The reply when some groups failed: the error every group gave, or one
 * that names the groups that failed with their errors and, for anything
 * but a read, the groups that applied it.
 */
static void
fanout_fail(struct req *parent)
{
    struct reply r;
    int failed = 0, applied = 0, nfailed = 0;

    if (fanout_same_error(parent)) {
        fanout_take(parent, parent->children[0]);
        return;
    }
    for (int j = 0; j < parent->nchildren; j++) {
        nfailed += fanout_is_error(parent->children[j]);
    }
    reply_init(&r);
    reply_printf(&r, "-ERR %s failed on group%s", command_display_name(parent->cmd),
                 nfailed > 1 ? "s" : "");
    for (int j = 0; j < parent->nchildren; j++) {
        const struct req *c = parent->children[j];

        if (fanout_is_error(c)) {
            /* The error's text, without '-' and CRLF, on one line. */
            size_t len = CORDIS_MIN(c->reply_len - 3, (size_t)200);

            reply_printf(&r, "%s %u (%.*s)", failed++ > 0 ? "," : "", c->group,
                         (int)len, c->reply + 1);
        }
    }
    if (!(parent->cmd->flags & CMD_READONLY) && nfailed < parent->nchildren) {
        reply_printf(&r, "; applied on group%s", parent->nchildren - nfailed > 1 ? "s" : "");
        for (int j = 0; j < parent->nchildren; j++) {
            const struct req *c = parent->children[j];

            if (!fanout_is_error(c)) {
                reply_printf(&r, "%s %u", applied++ > 0 ? "," : "", c->group);
            }
        }
    }
    reply_raw(&r, "\r\n", 2);
    req_take_reply(parent, &r);
    parent->failed = 1;
}

/* Every child answered, and none with an error? Else the parent fails. */
static bool
fanout_all_succeeded(struct req *parent)
{
    for (int j = 0; j < parent->nchildren; j++) {
        if (fanout_is_error(parent->children[j])) {
            fanout_fail(parent);
            return false;
        }
    }
    return true;
}

/* Every child answered with this reply type? Else "unexpected reply". */
static bool
fanout_all_of_type(struct req *parent, char type)
{
    for (int j = 0; j < parent->nchildren; j++) {
        const struct req *c = parent->children[j];

        if (c->reply_type != type || (type == '*' && c->reply_int < 0)) {
            req_set_error(parent, "ERR unexpected reply from group %u to %s", c->group,
                          command_display_name(parent->cmd));
            return false;
        }
    }
    return true;
}

static void
fanout_merge_same(struct req *parent)
{
    const struct req *first = parent->children[0];

    for (int j = 1; j < parent->nchildren; j++) {
        const struct req *c = parent->children[j];

        if (c->reply_len != first->reply_len || memcmp(c->reply, first->reply, c->reply_len) != 0) {
            req_set_error(parent, "ERR %s answered differently on group %u and group %u",
                          command_display_name(parent->cmd), first->group, c->group);
            return;
        }
    }
    fanout_take(parent, first);
}

static void
fanout_merge_sum(struct req *parent, enum command_merge rule)
{
    int64_t v = parent->children[0]->reply_int;
    struct reply r;

    if (!fanout_all_of_type(parent, ':')) {
        return;
    }
    for (int j = 1; j < parent->nchildren; j++) {
        int64_t x = parent->children[j]->reply_int;

        v = rule == MERGE_MIN ? CORDIS_MIN(v, x) : rule == MERGE_MAX ? CORDIS_MAX(v, x) : v + x;
    }
    reply_init(&r);
    reply_int(&r, v);
    req_take_reply(parent, &r);
}

static void
fanout_merge_concat(struct req *parent)
{
    struct reply r;
    int64_t total = 0;

    if (!fanout_all_of_type(parent, '*')) {
        return;
    }
    for (int j = 0; j < parent->nchildren; j++) {
        total += parent->children[j]->reply_int;
    }
    reply_init(&r);
    reply_array(&r, total);
    for (int j = 0; j < parent->nchildren; j++) {
        const struct req *c = parent->children[j];
        size_t at = resp_array_header_len(c->reply, c->reply_len);

        reply_raw(&r, c->reply + at, c->reply_len - at);
    }
    req_take_reply(parent, &r);
}

/*
 * PUBSUB NUMSUB / SHARDNUMSUB: [name, count, ...] in the order asked, from
 * every group; the counts are added up (a channel's subscribers are on its
 * own group, a keyevent channel's on each).
 */
static void
fanout_merge_numsub(struct req *parent)
{
    int64_t n = parent->children[0]->reply_int;
    size_t at[CORDIS_MAX_GROUPS];
    struct resp_reply_parser p;
    struct reply r;

    if (!fanout_all_of_type(parent, '*')) {
        return;
    }
    for (int j = 0; j < parent->nchildren; j++) {
        if (parent->children[j]->reply_int != n || n % 2 != 0) {
            req_set_error(parent, "ERR unexpected reply from group %u to %s",
                          parent->children[j]->group, command_display_name(parent->cmd));
            return;
        }
        at[j] = resp_array_header_len(parent->children[j]->reply, parent->children[j]->reply_len);
    }
    reply_init(&r);
    reply_array(&r, n);
    for (int64_t i = 0; i < n; i += 2) {
        static const char keyevent[] = "__keyevent@";
        int64_t sum = 0;
        bool everywhere = false;   /* cordis subscribes it on every group: count once */

        for (int j = 0; j < parent->nchildren; j++) {
            const struct req *c = parent->children[j];
            const char *name = c->reply + at[j];
            size_t name_len;

            resp_reply_parser_init(&p, INT64_MAX);
            if (resp_parse_reply(&p, name, c->reply_len - at[j]) != RESP_OK || p.type != '$') {
                goto bad;
            }
            name_len = p.len;
            resp_reply_parser_init(&p, INT64_MAX);
            if (resp_parse_reply(&p, name + name_len, c->reply_len - at[j] - name_len) != RESP_OK
                || p.type != ':') {
                goto bad;
            }
            if (j == 0) {
                reply_raw(&r, name, name_len);
                const char *text = memchr(name, '\n', name_len);   /* after "$<len>\r\n" */

                everywhere = text != NULL
                             && (size_t)(name + name_len - text) > sizeof(keyevent)
                             && memcmp(text + 1, keyevent, sizeof(keyevent) - 1) == 0;
            }
            sum = everywhere ? CORDIS_MAX(sum, p.integer) : sum + p.integer;
            at[j] += name_len + p.len;
        }
        reply_int(&r, sum);
    }
    req_take_reply(parent, &r);
    return;

bad:
    reply_free(&r);
    req_set_error(parent, "ERR unexpected reply from a group to %s",
                  command_display_name(parent->cmd));
}

/* PUBSUB CHANNELS: the groups' lists joined, each name once (a keyevent
 * channel is subscribed on every group). */
static void
fanout_merge_union(struct req *parent)
{
    struct resp_reply_parser p;
    struct reply body, r;
    const char **seen = NULL;
    size_t *seen_len = NULL;
    int64_t total = 0, n = 0;

    if (!fanout_all_of_type(parent, '*')) {
        return;
    }
    for (int j = 0; j < parent->nchildren; j++) {
        total += parent->children[j]->reply_int;
    }
    if (total > 0 && ((seen = malloc(sizeof(*seen) * (size_t)total)) == NULL
                      || (seen_len = malloc(sizeof(*seen_len) * (size_t)total)) == NULL)) {
        free(seen);
        req_set_error(parent, "ERR out of memory");
        return;
    }
    reply_init(&body);
    for (int j = 0; j < parent->nchildren; j++) {
        const struct req *c = parent->children[j];
        size_t at = resp_array_header_len(c->reply, c->reply_len);

        for (int64_t i = 0; i < c->reply_int; i++) {
            bool dup = false;

            resp_reply_parser_init(&p, INT64_MAX);
            if (resp_parse_reply(&p, c->reply + at, c->reply_len - at) != RESP_OK) {
                break;
            }
            for (int64_t k = 0; k < n && !dup; k++) {
                dup = seen_len[k] == p.len && memcmp(seen[k], c->reply + at, p.len) == 0;
            }
            if (!dup) {
                seen[n] = c->reply + at;
                seen_len[n++] = p.len;
                reply_raw(&body, c->reply + at, p.len);
            }
            at += p.len;
        }
    }
    reply_init(&r);
    reply_array(&r, n);
    reply_raw(&r, body.buf != NULL ? body.buf : "", body.len);
    r.failed = r.failed || body.failed;
    reply_free(&body);
    free(seen);
    free(seen_len);
    req_take_reply(parent, &r);
}

/* SCRIPT EXISTS: arrays of :0/:1, one per sha, and-ed across groups. */
static void
fanout_merge_and(struct req *parent)
{
    int64_t n = parent->children[0]->reply_int;
    size_t at[CORDIS_MAX_GROUPS];
    struct resp_reply_parser p;
    struct reply r;
    bool *known = NULL;

    if (!fanout_all_of_type(parent, '*')) {
        return;
    }
    if (parent->cmd->id == COMMAND_SCRIPT_EXISTS && n > 0
        && (known = calloc((size_t)n, sizeof(*known))) != NULL) {
        scripts_known_in_request(parent, known, (size_t)n);
    }
    for (int j = 0; j < parent->nchildren; j++) {
        if (parent->children[j]->reply_int != n) {
            req_set_error(parent, "ERR unexpected reply from group %u to %s",
                          parent->children[j]->group, command_display_name(parent->cmd));
            return;
        }
        at[j] = resp_array_header_len(parent->children[j]->reply, parent->children[j]->reply_len);
    }
    reply_init(&r);
    reply_array(&r, n);
    for (int64_t i = 0; i < n; i++) {
        int64_t all = 1;

        for (int j = 0; j < parent->nchildren; j++) {
            const struct req *c = parent->children[j];

            resp_reply_parser_init(&p, INT64_MAX);
            if (resp_parse_reply(&p, c->reply + at[j], c->reply_len - at[j]) != RESP_OK
                || p.type != ':') {
                reply_free(&r);
                free(known);
                req_set_error(parent, "ERR unexpected reply from group %u to %s", c->group,
                              command_display_name(parent->cmd));
                return;
            }
            all = all && p.integer != 0;
            at[j] += p.len;
        }
        if (!all && parent->cmd->id == COMMAND_SCRIPT_EXISTS && known != NULL) {
            /* Missing on a group, but cordis has the body: an EVALSHA
             * there loads it (scripts.c), so it exists for the client. */
            all = known[i];
        }
        reply_int(&r, all);
    }
    free(known);
    req_take_reply(parent, &r);
}

/* The first group (by id) that answered without an error. */
static void
fanout_merge_first(struct req *parent)
{
    for (int j = 0; j < parent->nchildren; j++) {
        if (!fanout_is_error(parent->children[j])) {
            fanout_take(parent, parent->children[j]);
            return;
        }
    }
    fanout_fail(parent);
}

/* SCRIPT KILL, FUNCTION KILL: done when any group did it. When none did,
 * the most telling error: one other than "nothing is running". */
static void
fanout_merge_any_ok(struct req *parent)
{
    const struct req *pick = NULL;

    for (int j = 0; j < parent->nchildren; j++) {
        const struct req *c = parent->children[j];

        if (!fanout_is_error(c)) {
            fanout_take(parent, c);
            return;
        }
        if (pick == NULL || (c->reply_len >= 8 && memcmp(c->reply, "-NOTBUSY", 8) != 0)) {
            pick = c;
        }
    }
    fanout_take(parent, pick);
}

/* RANDOMKEY: a random group's random key; nil only when every group is
 * empty. */
static void
fanout_merge_random(struct req *parent)
{
    int found[CORDIS_MAX_GROUPS], n = 0;

    for (int j = 0; j < parent->nchildren; j++) {
        const struct req *c = parent->children[j];

        if (c->reply_type == '$' && c->reply_int >= 0) {
            found[n++] = j;
        }
    }
    if (n > 0) {
        fanout_take(parent, parent->children[found[random() % n]]);
        return;
    }
    if (!fanout_all_succeeded(parent)) {
        return;
    }
    fanout_take(parent, parent->children[0]);   /* nil */
}

void
fanout_merge(struct req *parent)
{
    if (parent->nchildren == 1) {
        fanout_take(parent, parent->children[0]);   /* one group: one Redis */
        return;
    }
    switch ((enum command_merge)parent->cmd->merge) {
    case MERGE_ALL_OK:
        if (fanout_all_succeeded(parent)) {
            fanout_take(parent, parent->children[0]);
        }
        return;
    case MERGE_SAME:
        if (fanout_all_succeeded(parent)) {
            fanout_merge_same(parent);
        }
        return;
    case MERGE_SUM:
    case MERGE_MIN:
    case MERGE_MAX:
        if (fanout_all_succeeded(parent)) {
            fanout_merge_sum(parent, (enum command_merge)parent->cmd->merge);
        }
        return;
    case MERGE_NUMSUB:
        if (fanout_all_succeeded(parent)) {
            fanout_merge_numsub(parent);
        }
        return;
    case MERGE_UNION:
        if (fanout_all_succeeded(parent)) {
            fanout_merge_union(parent);
        }
        return;
    case MERGE_CONCAT:
        if (fanout_all_succeeded(parent)) {
            fanout_merge_concat(parent);
        }
        return;
    case MERGE_AND:
        if (fanout_all_succeeded(parent)) {
            fanout_merge_and(parent);
        }
        return;
    case MERGE_FIRST:
        fanout_merge_first(parent);
        return;
    case MERGE_ANY_OK:
        fanout_merge_any_ok(parent);
        return;
    case MERGE_RANDOM:
        fanout_merge_random(parent);
        return;
    case MERGE_NONE:
    case MERGE_SCAN:
        break;
    }
    req_set_error(parent, "ERR %s: no merge rule", command_display_name(parent->cmd));
}
