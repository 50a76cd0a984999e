/*
 * CLIENT over cordis's own clients, across workers. See clients.h.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clients.h"
#include "command.h"
#include "ctl.h"
#include "log.h"
#include "mbuf.h"
#include "pinned.h"
#include "reply.h"
#include "request.h"
#include "session.h"
#include "util.h"
#include "worker.h"

/* A LIST or KILL waiting for the other workers' answers. */
struct clients_query {
    struct clients_query *next;
    uint32_t              id;
    struct req           *req;        /* answered when the query is done */
    uint8_t               op;         /* enum ctl_clients_op */
    bool                  old_kill;   /* CLIENT KILL addr: +OK or "No such client" */
    int                   expected;   /* answers to wait for; -1 until the master says */
    int                   answered;
    int64_t               killed;
    int64_t               deadline;   /* monotonic usec */
    struct reply          text;       /* LIST: every worker's lines */
    int                   list_type;  /* LIST TYPE filter; -1 = none */
    uint64_t             *ids;        /* LIST ID filter; NULL = none */
    int                   nids;
};

/* Client types, as CLIENT LIST/KILL TYPE name them. */
enum clients_type {
    CLIENTS_NORMAL = 0,
    CLIENTS_PUBSUB,
    CLIENTS_MASTER,
    CLIENTS_REPLICA,
};

static int
clients_type_by_name(const struct cstr *name)
{
    if (util_strieq(name->ptr, name->len, "normal")) {
        return CLIENTS_NORMAL;
    }
    if (util_strieq(name->ptr, name->len, "pubsub")) {
        return CLIENTS_PUBSUB;
    }
    if (util_strieq(name->ptr, name->len, "master")) {
        return CLIENTS_MASTER;
    }
    if (util_strieq(name->ptr, name->len, "replica") || util_strieq(name->ptr, name->len, "slave")) {
        return CLIENTS_REPLICA;
    }
    return -1;
}

/* cordis's clients are normal ones (replicas and masters talk to the
 * backends directly). */
static int
clients_type_of(const struct session *s)
{
    CORDIS_UNUSED(s);
    return CLIENTS_NORMAL;
}

static void
clients_local_addr(const struct session *s, char *out, size_t size)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (s->fd < 0 || getsockname(s->fd, (struct sockaddr *)&ss, &len) != 0) {
        snprintf(out, size, "?");
        return;
    }
    util_addr_text((struct sockaddr *)&ss, out, size);
}

/* One line of CLIENT LIST, in Redis 7.0's format and field order. */
static void
clients_line(struct worker *w, const struct session *s, struct reply *r)
{
    int64_t now = worker_now(w);
    size_t qbuf = s->in != NULL ? mbuf_unparsed(s->in) : 0;
    size_t qfree = s->in != NULL ? mbuf_room(s->in) : 0;
    char laddr[CORDIS_ADDR_LEN];

    clients_local_addr(s, laddr, sizeof(laddr));
    reply_printf(r, "id=%llu addr=%s laddr=%s fd=%d name=%s age=%lld idle=%lld flags=N db=%d "
                 "sub=0 psub=0 ssub=0 multi=-1 qbuf=%zu qbuf-free=%zu argv-mem=0 multi-mem=0 "
                 "rbs=%zu rbp=0 obl=0 oll=%u omem=%zu tot-mem=%zu events=%s%s cmd=%s "
                 "user=default redir=-1 resp=2\n",
                 (unsigned long long)s->id, s->peer, laddr, s->fd, s->name != NULL ? s->name : "",
                 (long long)((now - s->created) / 1000000), (long long)((now - s->last_read) / 1000000),
                 s->db, qbuf, qfree, s->in != NULL ? s->in->size : 0, s->ndone, s->out_bytes,
                 sizeof(*s) + (s->in != NULL ? s->in->size : 0) + s->out_bytes,
                 s->reading ? "r" : "", ev_is_active(&s->wio) ? "w" : "",
                 s->last_cmd != NULL ? s->last_cmd->name : "NULL");
}

/* --- KILL filters --------------------------------------------------------------- */

static bool
clients_kill_matches(struct worker *w, const struct session *s, const struct ctl_clients *k)
{
    char laddr[CORDIS_ADDR_LEN];

    if (s->closing || (k->skip_id != 0 && s->id == k->skip_id)) {
        return false;
    }
    if ((k->filters & CTL_KILL_ID) && s->id != k->id) {
        return false;
    }
    if ((k->filters & CTL_KILL_TYPE) && clients_type_of(s) != k->kill_type) {
        return false;
    }
    if ((k->filters & CTL_KILL_ADDR) && strcmp(s->peer, k->addr) != 0) {
        return false;
    }
    if (k->filters & CTL_KILL_LADDR) {
        clients_local_addr(s, laddr, sizeof(laddr));
        if (strcmp(laddr, k->laddr) != 0) {
            return false;
        }
    }
    /* USER: every cordis client is the default user (checked when asked). */
    return true;
}

/* Kills this worker's matching clients; the asker's own session (when it
 * matches) is closed after its reply. Returns how many. */
static int64_t
clients_kill_here(struct worker *w, const struct ctl_clients *k, struct req *asker)
{
    struct session *s, *next;
    int64_t killed = 0;

    for (s = w->sessions; s != NULL; s = next) {
        next = s->next;
        if (!clients_kill_matches(w, s, k)) {
            continue;
        }
        killed++;
        if (asker != NULL && s == asker->session) {
            asker->quit = 1;   /* Redis closes the killer after its reply */
            s->quitting = true;
        } else {
            session_close(s, "killed by CLIENT KILL");
        }
    }
    return killed;
}

/* Unblocks this worker's client with the ID, when it is blocked. */
static int64_t
clients_unblock_here(struct worker *w, const struct ctl_clients *k)
{
    for (struct session *s = w->sessions; s != NULL; s = s->next) {
        if (!s->closing && s->id == k->id) {
            return pinned_unblock(w, s, k->unblock_error) ? 1 : 0;
        }
    }
    return 0;
}

/* The name of a query's operation, for log lines. */
static const char *
clients_op_name(int op)
{
    return op == CTL_CLIENTS_KILL ? "KILL" : op == CTL_CLIENTS_UNBLOCK ? "UNBLOCK" : "LIST";
}

/* --- queries across workers --------------------------------------------------- */

static void
clients_query_free(struct clients_query *q)
{
    reply_free(&q->text);
    free(q->ids);
    free(q);
}

/* A LIST line passes the TYPE and ID filters? */
static bool
clients_line_wanted(const struct clients_query *q, const char *line, size_t len)
{
    unsigned long long id;

    if (q->list_type >= 0) {
        /* Every client is normal (see clients_type_of). */
        if (q->list_type != CLIENTS_NORMAL) {
            return false;
        }
    }
    if (q->ids != NULL) {
        if (len < 4 || sscanf(line, "id=%llu", &id) != 1) {
            return false;
        }
        for (int i = 0; i < q->nids; i++) {
            if (q->ids[i] == id) {
                return true;
            }
        }
        return false;
    }
    return true;
}

/* Answers the query's request and forgets the query. */
static void
clients_query_done(struct worker *w, struct clients_query *q)
{
    struct clients_query **pp = &w->client_queries;
    struct req *req = q->req;
    struct reply r;

    while (*pp != NULL && *pp != q) {
        pp = &(*pp)->next;
    }
    if (*pp == q) {
        *pp = q->next;
    }
    reply_init(&r);
    if (q->op == CTL_CLIENTS_UNBLOCK) {
        reply_int(&r, q->killed > 0);
    } else if (q->op == CTL_CLIENTS_KILL) {
        if (!q->old_kill) {
            reply_int(&r, q->killed);
        } else if (q->killed > 0) {
            reply_simple(&r, "OK");
        } else {
            reply_error(&r, "ERR No such client");
        }
    } else {
        struct reply lines;
        const char *p = q->text.buf, *end = p + q->text.len;

        reply_init(&lines);
        while (p != NULL && p < end) {
            const char *eol = memchr(p, '\n', (size_t)(end - p));
            size_t len = eol != NULL ? (size_t)(eol + 1 - p) : (size_t)(end - p);

            if (clients_line_wanted(q, p, len)) {
                reply_raw(&lines, p, len);
            }
            p += len;
        }
        if (lines.failed) {
            r.failed = true;
        } else {
            reply_bulk(&r, lines.buf != NULL ? lines.buf : "", lines.len);
        }
        reply_free(&lines);
    }
    req_take_reply(req, &r);
    clients_query_free(q);
    req_finish(w, req);
}

static struct clients_query *
clients_query_find(struct worker *w, uint32_t id)
{
    for (struct clients_query *q = w->client_queries; q != NULL; q = q->next) {
        if (q->id == id) {
            return q;
        }
    }
    return NULL;
}

/* Starts a query: this worker's part at once, the others' through the
 * master. CORDIS_EAGAIN when waiting; CORDIS_OK when req was answered. */
static int
clients_query_start(struct worker *w, struct session *s, struct req *req,
                    struct clients_query *q, struct ctl_clients *ask)
{
    q->id = ++w->client_query_seq;
    q->req = req;
    q->expected = -1;
    q->deadline = worker_now(w) + CLIENTS_DEADLINE_USEC;
    if (q->op == CTL_CLIENTS_KILL) {
        q->killed = clients_kill_here(w, ask, req);
    } else if (q->op == CTL_CLIENTS_UNBLOCK) {
        q->killed = clients_unblock_here(w, ask);
    } else {
        for (struct session *o = w->sessions; o != NULL; o = o->next) {
            if (!o->closing) {
                clients_line(w, o, &q->text);
            }
        }
    }
    ask->type = CTL_CLIENTS_ASK;
    ask->op = q->op;
    ask->origin = (int16_t)w->params->row;
    ask->query = q->id;
    q->next = w->client_queries;
    w->client_queries = q;
    if (ctl_send_msg(w->params->ctl_fd, ask, sizeof(*ask), -1) != CORDIS_OK) {
        /* No master to ask: this worker's part is all there is. */
        log_warn("CLIENT %s could not ask the other workers (%s); answering with this worker's clients",
                 clients_op_name(q->op), strerror(errno));
        clients_query_done(w, q);
        return CORDIS_OK;
    }
    return CORDIS_EAGAIN;
}

/* This worker's answer to another's question. */
static void
clients_answer(struct worker *w, const struct ctl_clients *ask)
{
    struct ctl_clients answer = *ask;
    struct reply text;
    int fd = -1;

    answer.type = CTL_CLIENTS_ANSWER;
    answer.count = 0;
    if (ask->op == CTL_CLIENTS_KILL) {
        answer.count = (int32_t)clients_kill_here(w, ask, NULL);
    } else if (ask->op == CTL_CLIENTS_UNBLOCK) {
        answer.count = (int32_t)clients_unblock_here(w, ask);
    } else {
        reply_init(&text);
        for (struct session *s = w->sessions; s != NULL; s = s->next) {
            if (!s->closing) {
                clients_line(w, s, &text);
            }
        }
        /* A listing may be megabytes: it travels as a memfd. */
        fd = memfd_create("cordis-clients", MFD_CLOEXEC);
        if (fd >= 0 && text.len > 0 && !text.failed
            && write(fd, text.buf, text.len) != (ssize_t)text.len) {
            close(fd);
            fd = -1;
        }
        reply_free(&text);
    }
    if (ctl_send_msg(w->params->ctl_fd, &answer, sizeof(answer), fd) != CORDIS_OK) {
        log_warn("could not answer another worker's CLIENT %s (%s)",
                 clients_op_name(ask->op), strerror(errno));
    }
    if (fd >= 0) {
        close(fd);
    }
}

/* Appends what a memfd holds to the query's text. */
static void
clients_read_listing(struct clients_query *q, int fd)
{
    char buf[16384];
    off_t at = 0;
    ssize_t n;

    while ((n = pread(fd, buf, sizeof(buf), at)) > 0) {
        reply_raw(&q->text, buf, (size_t)n);
        at += n;
    }
}

void
clients_on_ctl(struct worker *w, const struct ctl_clients *msg, int fd)
{
    struct clients_query *q;

    switch (msg->type) {
    case CTL_CLIENTS_ASK:
        clients_answer(w, msg);
        break;
    case CTL_CLIENTS_EXPECT:
        if ((q = clients_query_find(w, msg->query)) != NULL) {
            q->expected = msg->count;
            if (q->answered >= q->expected) {
                clients_query_done(w, q);
            }
        }
        break;
    case CTL_CLIENTS_ANSWER:
        if ((q = clients_query_find(w, msg->query)) != NULL) {
            q->answered++;
            q->killed += msg->count;
            if (fd >= 0) {
                clients_read_listing(q, fd);
            }
            if (q->expected >= 0 && q->answered >= q->expected) {
                clients_query_done(w, q);
            }
        }
        break;
    default:
        break;
    }
    if (fd >= 0) {
        close(fd);
    }
}

void
clients_sweep(struct worker *w, int64_t now)
{
    struct clients_query *q = w->client_queries, *next;

    for (; q != NULL; q = next) {
        next = q->next;
        if (now >= q->deadline) {
            log_warn("CLIENT %s: %d of %d workers answered within %d ms; answering with theirs",
                     clients_op_name(q->op), q->answered,
                     q->expected, CLIENTS_DEADLINE_USEC / 1000);
            clients_query_done(w, q);
        }
    }
}

/* --- the subcommands ------------------------------------------------------------- */

static bool
clients_eq(const struct cstr *arg, const char *word)
{
    return util_strieq(arg->ptr, arg->len, word);
}

static void
clients_reply_ok(struct req *req)
{
    static const char ok[] = "+OK\r\n";

    req_set_static_reply(req, ok, sizeof(ok) - 1);
}

static void
clients_reply_bulk(struct req *req, const char *data, size_t len)
{
    struct reply r;

    reply_init(&r);
    reply_bulk(&r, data, len);
    req_take_reply(req, &r);
}

static void
clients_reply_int(struct req *req, int64_t n)
{
    struct reply r;

    reply_init(&r);
    reply_int(&r, n);
    req_take_reply(req, &r);
}

int
clients_setname(struct session *s, const struct cstr *name)
{
    char *copy = NULL;

    for (size_t i = 0; i < name->len; i++) {
        if (name->ptr[i] < '!' || name->ptr[i] > '~') {
            return CORDIS_ERROR;
        }
    }
    if (name->len > 0 && (copy = strndup(name->ptr, name->len)) == NULL) {
        return CORDIS_ERROR;
    }
    free(s->name);
    s->name = copy;
    return CORDIS_OK;
}

/* A whole positive decimal, as Redis reads client ids. */
static bool
clients_parse_id(const struct cstr *arg, uint64_t *id)
{
    int64_t v;

    if (!util_parse_i64(arg->ptr, arg->len, &v) || v <= 0) {
        return false;
    }
    *id = (uint64_t)v;
    return true;
}

static int
clients_list(struct worker *w, struct session *s, struct req *req, int argc,
             const struct cstr *argv)
{
    struct clients_query *q = calloc(1, sizeof(*q));
    struct ctl_clients ask;

    if (q == NULL) {
        req_set_error(req, "ERR out of memory");
        return CORDIS_OK;
    }
    reply_init(&q->text);
    q->op = CTL_CLIENTS_LIST;
    q->list_type = -1;
    if (argc == 4 && clients_eq(&argv[2], "type")) {
        q->list_type = clients_type_by_name(&argv[3]);
        if (q->list_type < 0) {
            req_set_error(req, "ERR Unknown client type '%.*s'",
                          (int)CORDIS_MIN(argv[3].len, (size_t)64), argv[3].ptr);
            clients_query_free(q);
            return CORDIS_OK;
        }
    } else if (argc > 3 && clients_eq(&argv[2], "id")) {
        q->ids = malloc(sizeof(*q->ids) * (size_t)(argc - 3));
        if (q->ids == NULL) {
            clients_query_free(q);
            req_set_error(req, "ERR out of memory");
            return CORDIS_OK;
        }
        for (int i = 3; i < argc; i++) {
            int64_t id;

            /* Any integer will do; one that is no client's matches none. */
            if (!util_parse_i64(argv[i].ptr, argv[i].len, &id)) {
                req_set_error(req, "ERR Invalid client ID");
                clients_query_free(q);
                return CORDIS_OK;
            }
            q->ids[q->nids++] = (uint64_t)id;
        }
    } else if (argc != 2) {
        req_set_error(req, "ERR syntax error");
        clients_query_free(q);
        return CORDIS_OK;
    }
    memset(&ask, 0, sizeof(ask));
    return clients_query_start(w, s, req, q, &ask);
}

static int
clients_kill(struct worker *w, struct session *s, struct req *req, int argc,
             const struct cstr *argv)
{
    struct clients_query *q;
    struct ctl_clients ask;
    bool skipme = true, old = argc == 3;

    memset(&ask, 0, sizeof(ask));
    if (old) {
        /* CLIENT KILL addr: any client at that address, even this one. */
        ask.filters = CTL_KILL_ADDR;
        snprintf(ask.addr, sizeof(ask.addr), "%.*s", (int)CORDIS_MIN(argv[2].len, (size_t)63),
                 argv[2].ptr);
        skipme = false;
    } else if (argc % 2 != 0 || argc < 4) {
        req_set_error(req, "ERR syntax error");
        return CORDIS_OK;
    }
    for (int i = 2; !old && i + 1 < argc; i += 2) {
        const struct cstr *opt = &argv[i], *val = &argv[i + 1];
        int type;

        if (clients_eq(opt, "id")) {
            if (!clients_parse_id(val, &ask.id)) {
                req_set_error(req, "ERR client-id should be greater than 0");
                return CORDIS_OK;
            }
            ask.filters |= CTL_KILL_ID;
        } else if (clients_eq(opt, "type")) {
            if ((type = clients_type_by_name(val)) < 0) {
                req_set_error(req, "ERR Unknown client type '%.*s'",
                              (int)CORDIS_MIN(val->len, (size_t)64), val->ptr);
                return CORDIS_OK;
            }
            ask.kill_type = (uint8_t)type;
            ask.filters |= CTL_KILL_TYPE;
        } else if (clients_eq(opt, "addr") || clients_eq(opt, "laddr")) {
            bool local = clients_eq(opt, "laddr");

            snprintf(local ? ask.laddr : ask.addr, sizeof(ask.addr), "%.*s",
                     (int)CORDIS_MIN(val->len, (size_t)63), val->ptr);
            ask.filters |= local ? CTL_KILL_LADDR : CTL_KILL_ADDR;
        } else if (clients_eq(opt, "user")) {
            if (!clients_eq(val, "default")) {
                /* cordis's clients are all the default user. */
                req_set_error(req, "ERR No such user '%.*s'",
                              (int)CORDIS_MIN(val->len, (size_t)64), val->ptr);
                return CORDIS_OK;
            }
            ask.filters |= CTL_KILL_USER;
        } else if (clients_eq(opt, "skipme")) {
            if (clients_eq(val, "yes")) {
                skipme = true;
            } else if (clients_eq(val, "no")) {
                skipme = false;
            } else {
                req_set_error(req, "ERR syntax error");
                return CORDIS_OK;
            }
        } else {
            req_set_error(req, "ERR syntax error");
            return CORDIS_OK;
        }
    }
    ask.skip_id = skipme ? s->id : 0;
    if ((q = calloc(1, sizeof(*q))) == NULL) {
        req_set_error(req, "ERR out of memory");
        return CORDIS_OK;
    }
    reply_init(&q->text);
    q->op = CTL_CLIENTS_KILL;
    q->old_kill = old;
    q->list_type = -1;
    return clients_query_start(w, s, req, q, &ask);
}

/* CLIENT UNBLOCK id [TIMEOUT|ERROR]: in whichever worker holds the client. */
static int
clients_unblock(struct worker *w, struct session *s, struct req *req, int64_t id, bool error)
{
    struct clients_query *q;
    struct ctl_clients ask;

    memset(&ask, 0, sizeof(ask));
    ask.filters = CTL_KILL_ID;
    ask.id = (uint64_t)id;
    ask.unblock_error = error;
    if (id <= 0) {
        clients_reply_int(req, 0);
        return CORDIS_OK;
    }
    if ((q = calloc(1, sizeof(*q))) == NULL) {
        req_set_error(req, "ERR out of memory");
        return CORDIS_OK;
    }
    reply_init(&q->text);
    q->op = CTL_CLIENTS_UNBLOCK;
    q->list_type = -1;
    return clients_query_start(w, s, req, q, &ask);
}

static void
clients_reply_mode(struct session *s, struct req *req, const struct cstr *mode)
{
    if (clients_eq(mode, "on")) {
        s->reply_mode = SESSION_REPLY_ON;
        req->silent = 0;   /* ON answers, even after OFF */
        clients_reply_ok(req);
    } else if (clients_eq(mode, "off")) {
        s->reply_mode = SESSION_REPLY_OFF;
        req->silent = 1;
        clients_reply_ok(req);
    } else if (clients_eq(mode, "skip")) {
        if (s->reply_mode != SESSION_REPLY_OFF) {
            s->reply_mode = SESSION_REPLY_SKIP_NEXT;
        }
        req->silent = 1;
        clients_reply_ok(req);
    } else {
        req_set_error(req, "ERR syntax error");
    }
}

static const char *const clients_help[] = {
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GETNAME", "    Return the name of the current connection.",
    "ID", "    Return the ID of the current connection.",
    "INFO", "    Return information about the current client connection.",
    "KILL <ip:port>", "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)", "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)", "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)", "      Kill connections by type.",
    "    * USER <username>", "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)", "      Skip killing current connection (default: yes).",
    "    * ID <client-id>", "      Kill connections by client id.",
    "LIST [options ...]", "    Return information about client connections of every cordis worker. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)", "      Return clients of specified type.",
    "    * ID <client-id> [<client-id> ...]", "      Return clients of specified IDs only.",
    "NO-EVICT (ON|OFF)", "    Accepted; cordis's clients are not evicted by a backend.",
    "NO-TOUCH (ON|OFF)", "    Accepted; cordis's clients do not touch keys by themselves.",
    "REPLY (ON|OFF|SKIP)", "    Control the replies sent to the current connection.",
    "SETNAME <name>", "    Assign the name <name> to the current connection.",
    "SETINFO <LIB-NAME|LIB-VER> <value>", "    Set client meta attr.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]", "    Unblock the specified blocked client.",
    "HELP", "    Print this help.",
};

int
clients_dispatch(struct worker *w, struct session *s, struct req *req, int argc,
                 const struct cstr *argv)
{
    struct reply r;

    switch (req->cmd->id) {
    case COMMAND_CLIENT_SETNAME:
        if (clients_setname(s, &argv[2]) != CORDIS_OK) {
            req_set_error(req, "ERR Client names cannot contain spaces, newlines or special characters.");
            return CORDIS_OK;
        }
        clients_reply_ok(req);
        return CORDIS_OK;
    case COMMAND_CLIENT_GETNAME:
        if (s->name == NULL) {
            static const char nil[] = "$-1\r\n";

            req_set_static_reply(req, nil, sizeof(nil) - 1);
            return CORDIS_OK;
        }
        clients_reply_bulk(req, s->name, strlen(s->name));
        return CORDIS_OK;
    case COMMAND_CLIENT_ID:
        clients_reply_int(req, (int64_t)s->id);
        return CORDIS_OK;
    case COMMAND_CLIENT_SETINFO:
        if (!clients_eq(&argv[2], "lib-name") && !clients_eq(&argv[2], "lib-ver")) {
            req_set_error(req, "ERR Unrecognized option '%.*s'",
                          (int)CORDIS_MIN(argv[2].len, (size_t)64), argv[2].ptr);
            return CORDIS_OK;
        }
        for (size_t i = 0; i < argv[3].len; i++) {
            if (argv[3].ptr[i] < '!' || argv[3].ptr[i] > '~') {
                req_set_error(req, "ERR lib-name and lib-ver cannot contain spaces, newlines "
                                   "or special characters.");
                return CORDIS_OK;
            }
        }
        clients_reply_ok(req);
        return CORDIS_OK;
    case COMMAND_CLIENT_INFO:
        reply_init(&r);
        clients_line(w, s, &r);
        clients_reply_bulk(req, r.buf != NULL ? r.buf : "", r.len);
        reply_free(&r);
        return CORDIS_OK;
    case COMMAND_CLIENT_LIST:
        return clients_list(w, s, req, argc, argv);
    case COMMAND_CLIENT_KILL:
        return clients_kill(w, s, req, argc, argv);
    case COMMAND_CLIENT_REPLY:
        clients_reply_mode(s, req, &argv[2]);
        return CORDIS_OK;
    case COMMAND_CLIENT_NO_EVICT:
    case COMMAND_CLIENT_NO_TOUCH:
        if (clients_eq(&argv[2], "on") || clients_eq(&argv[2], "off")) {
            clients_reply_ok(req);
        } else {
            req_set_error(req, "ERR syntax error");
        }
        return CORDIS_OK;
    case COMMAND_CLIENT_UNBLOCK: {
        int64_t id;

        if (!util_parse_i64(argv[2].ptr, argv[2].len, &id)) {
            req_set_error(req, "ERR value is not an integer or out of range");
        } else if (argc == 4 && !clients_eq(&argv[3], "timeout") && !clients_eq(&argv[3], "error")) {
            req_set_error(req, "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
        } else if (argc > 4) {
            req_set_error(req, "ERR syntax error");
        } else {
            return clients_unblock(w, s, req, id, argc == 4 && clients_eq(&argv[3], "error"));
        }
        return CORDIS_OK;
    }
    case COMMAND_CLIENT_HELP:
        reply_init(&r);
        reply_array(&r, (int64_t)CORDIS_ARRAY_SIZE(clients_help));
        for (size_t i = 0; i < CORDIS_ARRAY_SIZE(clients_help); i++) {
            reply_simple(&r, clients_help[i]);
        }
        req_take_reply(req, &r);
        return CORDIS_OK;
    default:
        req_set_error(req, "ERR command '%s' is not supported by cordis",
                      command_display_name(req->cmd));
        return CORDIS_OK;
    }
}
