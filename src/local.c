/*
 * Commands answered by cordis itself.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "clients.h"
#include "command.h"
#include "conf.h"
#include "info.h"
#include "local.h"
#include "pinned.h"
#include "reply.h"
#include "resp.h"
#include "request.h"
#include "session.h"
#include "shm.h"
#include "stats.h"
#include "util.h"
#include "worker.h"


static bool
local_eq(const struct cstr *arg, const char *word)
{
    return util_strieq(arg->ptr, arg->len, word);
}

static void
local_error(struct req *req, const char *text)
{
    req_set_error(req, "%s", text);
}

static void
local_ok(struct req *req, const char *text)
{
    struct reply r;

    reply_init(&r);
    reply_simple(&r, text);
    req_take_reply(req, &r);
}

static void
local_bulk(struct req *req, const char *data, size_t len)
{
    struct reply r;

    reply_init(&r);
    reply_bulk(&r, data, len);
    req_take_reply(req, &r);
}

/* Checks a password against session.auth; true when it matches. */
static bool
local_check_password(struct worker *w, struct session *s, const struct cstr *user,
                     const struct cstr *pass)
{
    const char *want = w->conf->session.auth;
    bool ok = util_secret_equal(pass->ptr, pass->len, want, strlen(want));

    if (user != NULL && !local_eq(user, "default")) {
        ok = false;
    }
    if (!ok) {
        w->stats->auth_failures++;
    }
    return ok;
}

static void
local_auth(struct worker *w, struct session *s, struct req *req, int argc,
           const struct cstr *argv)
{
    if (argc > 3) {
        local_error(req, "ERR syntax error");
        return;
    }
    if (w->conf->session.auth[0] == '\0') {
        /* The default user has no password: Redis refuses the one-argument
         * form as a likely mistake and accepts "AUTH default anything". */
        if (argc == 3 && local_eq(&argv[1], "default")) {
            local_ok(req, "OK");
            return;
        }
        if (argc == 3) {
            local_error(req, "WRONGPASS invalid username-password pair or user is disabled.");
            return;
        }
        local_error(req, "ERR AUTH <password> called without any password configured "
                         "for the default user. Are you sure your configuration is correct?");
        return;
    }
    if (!local_check_password(w, s, argc == 3 ? &argv[1] : NULL, &argv[argc - 1])) {
        local_error(req, "WRONGPASS invalid username-password pair or user is disabled.");
        return;
    }
    s->authed = true;
    local_ok(req, "OK");
}

static void
local_select(struct worker *w, struct session *s, struct req *req,
             const struct cstr *argv)
{
    int64_t db;

    if (!util_parse_i64(argv[1].ptr, argv[1].len, &db) || db < INT32_MIN || db > INT32_MAX) {
        local_error(req, "ERR value is not an integer or out of range");
        return;
    }
    if (db < 0 || db >= w->conf->backend.databases) {
        local_error(req, "ERR DB index is out of range");
        return;
    }
    s->db = (int)db;
    local_ok(req, "OK");
}

/* ROLE: cordis is a primary with no replicas of its own. */
static void
local_role(struct req *req)
{
    struct reply r;

    reply_init(&r);
    reply_array(&r, 3);
    reply_cstr(&r, "master");
    reply_int(&r, 0);
    reply_array(&r, 0);
    req_take_reply(req, &r);
}

static int
local_hello(struct worker *w, struct session *s, struct req *req, int argc,
            const struct cstr *argv)
{
    const struct cstr *user = NULL, *pass = NULL, *name = NULL;
    int64_t proto = 2;

    if (argc >= 2) {
        if (!util_parse_i64(argv[1].ptr, argv[1].len, &proto)) {
            local_error(req, "ERR Protocol version is not an integer or out of range");
            return CORDIS_OK;
        }
        for (int i = 2; i < argc; i++) {
            if (local_eq(&argv[i], "auth") && i + 2 < argc) {
                user = &argv[i + 1];
                pass = &argv[i + 2];
                i += 2;
            } else if (local_eq(&argv[i], "setname") && i + 1 < argc) {
                name = &argv[i + 1];
                i += 1;
            } else {
                req_set_error(req, "ERR Syntax error in HELLO option '%.*s'",
                              (int)CORDIS_MIN(argv[i].len, (size_t)64), argv[i].ptr);
                return CORDIS_OK;
            }
        }
    }
    if (proto < 2 || proto > 3) {
        local_error(req, "NOPROTO unsupported protocol version");
        return CORDIS_OK;
    }
    if (proto == 3) {
        /* RESP3 replies are not converted yet. */
        local_error(req, "NOPROTO sorry, this protocol version is not supported.");
        return CORDIS_OK;
    }
    if (pass != NULL && w->conf->session.auth[0] == '\0') {
        /* No password: the default user takes any, as in Redis. */
        if (!local_eq(user, "default")) {
            local_error(req, "WRONGPASS invalid username-password pair or user is disabled.");
            return CORDIS_OK;
        }
    } else if (pass != NULL) {
        if (!local_check_password(w, s, user, pass)) {
            local_error(req, "WRONGPASS invalid username-password pair or user is disabled.");
            return CORDIS_OK;
        }
        s->authed = true;
    }
    if (!s->authed) {
        local_error(req, "NOAUTH HELLO must be called with the client already authenticated, "
                         "otherwise the HELLO AUTH <user> <pass> option can be used "
                         "to authenticate the client and select the RESP protocol version "
                         "at the same time");
        return CORDIS_OK;
    }
    if (name != NULL && clients_setname(s, name) != CORDIS_OK) {
        local_error(req, "ERR Client names cannot contain spaces, newlines or special characters.");
        return CORDIS_OK;
    }
    /* The version is the groups' lowest: asked of them, as INFO does. */
    return info_hello(w, s, req);
}

void
local_hello_reply(struct req *req, uint64_t id, const char *version)
{
    struct reply r;

    reply_init(&r);
    reply_array(&r, 14);
    reply_cstr(&r, "server");
    reply_cstr(&r, "redis");
    reply_cstr(&r, "version");
    reply_cstr(&r, version);
    reply_cstr(&r, "proto");
    reply_int(&r, 2);
    reply_cstr(&r, "id");
    reply_int(&r, (int64_t)id);
    reply_cstr(&r, "mode");
    reply_cstr(&r, "standalone");
    reply_cstr(&r, "role");
    reply_cstr(&r, "master");
    reply_cstr(&r, "modules");
    reply_array(&r, 0);
    req_take_reply(req, &r);
}

/* --- COMMAND ------------------------------------------------------------ */

static bool
local_is_sub(const struct command *c)
{
    return strchr(c->name, '|') != NULL;
}

static void
local_command_entry(struct reply *r, const struct command *c)
{
    int nflags = 0, nsubs = 0;
    size_t prefix;

    reply_array(r, 10);
    reply_cstr(r, c->name);
    reply_int(r, c->arity);
    nflags += (c->flags & CMD_WRITE) != 0;
    nflags += (c->flags & CMD_READONLY) != 0;
    nflags += c->keys_kind != CMD_KEYS_FIXED;
    reply_array(r, nflags);
    if (c->flags & CMD_WRITE) {
        reply_simple(r, "write");
    }
    if (c->flags & CMD_READONLY) {
        reply_simple(r, "readonly");
    }
    if (c->keys_kind != CMD_KEYS_FIXED) {
        reply_simple(r, "movablekeys");
    }
    reply_int(r, c->first_key);
    reply_int(r, c->last_key);
    reply_int(r, c->key_step);
    reply_array(r, 0);   /* ACL categories */
    reply_array(r, 0);   /* tips */
    reply_array(r, 0);   /* key specs */
    if (!(c->flags & CMD_CONTAINER)) {
        reply_array(r, 0);
        return;
    }
    prefix = c->name_len;
    for (int i = 0; i < COMMAND_COUNT; i++) {
        const struct command *sub = &command_table[i];

        nsubs += strncmp(sub->name, c->name, prefix) == 0 && sub->name[prefix] == '|';
    }
    reply_array(r, nsubs);
    for (int i = 0; i < COMMAND_COUNT; i++) {
        const struct command *sub = &command_table[i];

        if (strncmp(sub->name, c->name, prefix) == 0 && sub->name[prefix] == '|') {
            local_command_entry(r, sub);
        }
    }
}

/* One command's COMMAND DOCS map (RESP2: a flat array): Redis's summary,
 * since, group and complexity, and how cordis handles it. */
static void
local_command_doc(struct reply *r, const struct command *c)
{
    const struct command_doc *d = &command_docs[c->id];
    size_t prefix = c->name_len;
    int nsubs = 0;

    if (c->flags & CMD_CONTAINER) {
        for (int i = 0; i < COMMAND_COUNT; i++) {
            nsubs += strncmp(command_table[i].name, c->name, prefix) == 0
                     && command_table[i].name[prefix] == '|';
        }
    }
    reply_cstr(r, c->name);
    reply_array(r, 10 + (nsubs > 0 ? 2 : 0));
    reply_cstr(r, "summary");
    reply_cstr(r, d->summary);
    reply_cstr(r, "since");
    reply_cstr(r, d->since);
    reply_cstr(r, "group");
    reply_cstr(r, d->group);
    reply_cstr(r, "complexity");
    reply_cstr(r, d->complexity);
    reply_cstr(r, "cordis");
    if (c->dispatch == DISPATCH_REFUSED) {
        reply_printf(r, "$%zu\r\nrefused: %s\r\n", strlen("refused: ") + strlen(c->refusal),
                     c->refusal);
    } else {
        reply_cstr(r, command_dispatch_text(c));
    }
    if (nsubs > 0) {
        reply_cstr(r, "subcommands");
        reply_array(r, 2 * nsubs);
        for (int i = 0; i < COMMAND_COUNT; i++) {
            if (strncmp(command_table[i].name, c->name, prefix) == 0
                && command_table[i].name[prefix] == '|') {
                local_command_doc(r, &command_table[i]);
            }
        }
    }
}

/* COMMAND DOCS [name ...]: every command's, or the named ones' (unknown
 * names are left out, as Redis does). */
static void
local_command_docs(struct reply *r, int argc, const struct cstr *argv)
{
    int n = 0;

    if (argc == 2) {
        for (int i = 0; i < COMMAND_COUNT; i++) {
            n += strchr(command_table[i].name, '|') == NULL;
        }
        reply_array(r, 2 * n);
        for (int i = 0; i < COMMAND_COUNT; i++) {
            if (strchr(command_table[i].name, '|') == NULL) {
                local_command_doc(r, &command_table[i]);
            }
        }
        return;
    }
    for (int i = 2; i < argc; i++) {
        n += command_lookup(argv[i].ptr, argv[i].len) != NULL;
    }
    reply_array(r, 2 * n);
    for (int i = 2; i < argc; i++) {
        const struct command *c = command_lookup(argv[i].ptr, argv[i].len);

        if (c != NULL) {
            local_command_doc(r, c);
        }
    }
}

static int
local_top_level_count(void)
{
    int n = 0;

    for (int i = 0; i < COMMAND_COUNT; i++) {
        n += !local_is_sub(&command_table[i]);
    }
    return n;
}

static void
local_command(struct worker *w, struct session *s, struct req *req, int argc,
              const struct cstr *argv)
{
    struct reply r;

    reply_init(&r);
    switch (req->cmd->id) {
    case COMMAND_COMMAND:
        reply_array(&r, local_top_level_count());
        for (int i = 0; i < COMMAND_COUNT; i++) {
            if (!local_is_sub(&command_table[i])) {
                local_command_entry(&r, &command_table[i]);
            }
        }
        break;
    case COMMAND_COMMAND_COUNT:
        reply_int(&r, local_top_level_count());
        break;
    case COMMAND_COMMAND_LIST:
        reply_array(&r, local_top_level_count());
        for (int i = 0; i < COMMAND_COUNT; i++) {
            if (!local_is_sub(&command_table[i])) {
                reply_cstr(&r, command_table[i].name);
            }
        }
        break;
    case COMMAND_COMMAND_INFO:
        if (argc == 2) {
            reply_array(&r, local_top_level_count());
            for (int i = 0; i < COMMAND_COUNT; i++) {
                if (!local_is_sub(&command_table[i])) {
                    local_command_entry(&r, &command_table[i]);
                }
            }
            break;
        }
        reply_array(&r, argc - 2);
        for (int i = 2; i < argc; i++) {
            const struct command *c = command_lookup(argv[i].ptr, argv[i].len);

            if (c == NULL) {
                reply_raw(&r, "*-1\r\n", 5);
            } else {
                local_command_entry(&r, c);
            }
        }
        break;
    case COMMAND_COMMAND_DOCS:
        local_command_docs(&r, argc, argv);
        break;
    case COMMAND_COMMAND_GETKEYS: {
        const struct command *c = command_for_request(argc - 2, argv + 2);
        struct command_keys keys;
        int n = 0;

        if (c == NULL) {
            reply_error(&r, "ERR Invalid command specified");
            break;
        }
        if (!command_arity_ok(c, argc - 2)) {
            reply_error(&r, "ERR Invalid number of arguments specified for command");
            break;
        }
        if (command_get_keys(c, argc - 2, argv + 2, &keys) != CORDIS_OK) {
            reply_error(&r, "ERR Invalid arguments specified for command");
            break;
        }
        for (int i = keys.first; keys.first > 0 && i <= keys.last; i += keys.step) {
            n++;
            if (keys.step <= 0) {
                break;
            }
        }
        n += keys.extra > 0;
        if (n == 0) {
            reply_error(&r, "ERR The command has no key arguments");
            break;
        }
        reply_array(&r, n);
        for (int i = keys.first; keys.first > 0 && i <= keys.last; i += keys.step) {
            reply_bulk(&r, argv[2 + i].ptr, argv[2 + i].len);
            if (keys.step <= 0) {
                break;
            }
        }
        if (keys.extra > 0) {
            reply_bulk(&r, argv[2 + keys.extra].ptr, argv[2 + keys.extra].len);
        }
        break;
    }
    case COMMAND_COMMAND_HELP:
        reply_array(&r, 1);
        reply_simple(&r, "COMMAND [<subcommand> [<arg> ...]]: COUNT, DOCS, INFO, LIST, GETKEYS (answered by cordis)");
        break;
    default:
        reply_printf(&r, "-ERR command '%s' is not supported by cordis\r\n",
                     command_display_name(req->cmd));
        break;
    }
    req_take_reply(req, &r);
}

int
local_dispatch(struct worker *w, struct session *s, struct req *req, int argc,
               const struct cstr *argv)
{
    switch (req->cmd->id) {
    case COMMAND_PING:
        if (argc > 2) {
            local_error(req, "ERR wrong number of arguments for 'ping' command");
        } else if (argc == 1) {
            local_ok(req, "PONG");
        } else {
            local_bulk(req, argv[1].ptr, argv[1].len);
        }
        return CORDIS_OK;
    case COMMAND_ECHO:
        local_bulk(req, argv[1].ptr, argv[1].len);
        return CORDIS_OK;
    case COMMAND_QUIT:
        req->quit = 1;
        s->quitting = true;
        local_ok(req, "OK");
        return CORDIS_OK;
    case COMMAND_SELECT:
        local_select(w, s, req, argv);
        return CORDIS_OK;
    case COMMAND_AUTH:
        local_auth(w, s, req, argc, argv);
        return CORDIS_OK;
    case COMMAND_HELLO:
        return local_hello(w, s, req, argc, argv);
    case COMMAND_RESET:
        pinned_reset(w, s);   /* out of MULTI, WATCHes and subscriptions dropped */
        s->db = 0;
        s->reply_mode = SESSION_REPLY_ON;
        req->silent = 0;   /* RESET answers, even after CLIENT REPLY OFF */
        s->authed = w->conf->session.auth[0] == '\0';
        free(s->name);
        s->name = NULL;
        local_ok(req, "RESET");
        return CORDIS_OK;
    case COMMAND_INFO:
        return info_dispatch(w, s, req, argc, argv);
    case COMMAND_ROLE:
        local_role(req);
        return CORDIS_OK;
    default:
        break;
    }
    if (strncmp(req->cmd->name, "client|", 7) == 0) {
        return clients_dispatch(w, s, req, argc, argv);
    }
    if (strncmp(req->cmd->name, "command", 7) == 0) {
        local_command(w, s, req, argc, argv);
    } else {
        req_set_error(req, "ERR command '%s' is not supported by cordis",
                      command_display_name(req->cmd));
    }
    return CORDIS_OK;
}

/* --- CONFIG GET's reply ----------------------------------------------------- */

/* Parameters whose values are secrets. */
static bool
local_secret_param(const char *name, size_t len)
{
    static const char *const secrets[] = {
        "requirepass", "masterauth", "masteruser", "tls-key-file-pass",
        "tls-client-key-file-pass",
    };

    for (size_t i = 0; i < CORDIS_ARRAY_SIZE(secrets); i++) {
        if (len == strlen(secrets[i]) && memcmp(name, secrets[i], len) == 0) {
            return true;
        }
    }
    return false;
}

/* Walks a CONFIG GET reply (name, value, name, value, ...); with out set,
 * copies the pairs that hold no secret. Returns the pairs kept, -1 when the
 * reply is not such an array. */
static int64_t
local_config_pairs(const struct req *req, struct reply *out)
{
    const char *r = req->reply;
    size_t at = resp_array_header_len(r, req->reply_len);
    struct resp_reply_parser p;
    int64_t kept = 0;

    if (at == 0 || req->reply_int < 0 || req->reply_int % 2 != 0) {
        return -1;
    }
    for (int64_t i = 0; i < req->reply_int; i += 2) {
        size_t name_at = at, name_len, pair_len;

        resp_reply_parser_init(&p, INT64_MAX);
        if (resp_parse_reply(&p, r + at, req->reply_len - at) != RESP_OK || p.type != '$'
            || p.integer < 0) {
            return -1;
        }
        name_len = (size_t)p.integer;
        at += p.len;
        resp_reply_parser_init(&p, INT64_MAX);
        if (at >= req->reply_len
            || resp_parse_reply(&p, r + at, req->reply_len - at) != RESP_OK) {
            return -1;
        }
        at += p.len;
        pair_len = at - name_at;
        if (!local_secret_param(r + name_at + resp_bulk_header_len(name_len), name_len)) {
            kept++;
            if (out != NULL) {
                reply_raw(out, r + name_at, pair_len);
            }
        }
    }
    return kept;
}

void
local_config_filter(struct req *req)
{
    struct reply out;
    int64_t kept;

    if (req->reply_type != '*') {
        return;
    }
    kept = local_config_pairs(req, NULL);
    if (kept < 0 || kept * 2 == req->reply_int) {
        return;   /* not the shape we know, or nothing to hide */
    }
    reply_init(&out);
    reply_array(&out, kept * 2);
    local_config_pairs(req, &out);
    req_take_reply(req, &out);
}
