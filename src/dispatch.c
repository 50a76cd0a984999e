/*
 * Dispatch: the command table's dispatch column decides each request's
 * route. See dispatch.h.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "command.h"
#include "dispatch.h"
#include "fanout.h"
#include "local.h"
#include "mbuf.h"
#include "migrate.h"
#include "multikey.h"
#include "pinned.h"
#include "pubsub.h"
#include "request.h"
#include "router.h"
#include "scripts.h"
#include "session.h"
#include "util.h"
#include "worker.h"

/* Redis's text for an unknown command: the name and the first arguments. */
static void
dispatch_unknown_command(struct req *req, int argc, const struct cstr *argv)
{
    char args[512];
    size_t used = 0;

    args[0] = '\0';
    for (int i = 1; i < argc && used < sizeof(args) - 1; i++) {
        int n = snprintf(args + used, sizeof(args) - used, "'%.*s' ",
                         (int)CORDIS_MIN(argv[i].len, (size_t)128), argv[i].ptr);
        if (n < 0) {
            break;
        }
        used += CORDIS_MIN((size_t)n, sizeof(args) - 1 - used);
    }
    req_set_error(req, "ERR unknown command '%.*s', with args beginning with: %s",
                  (int)CORDIS_MIN(argv[0].len, (size_t)128), argv[0].ptr, args);
}

/* The backend a request's keys lead to, built key by key. */
struct dispatch_pick {
    struct backend_server *server;     /* backend of the first key */
    unsigned               first_slot; /* slot of the first key */
    unsigned               slot;       /* slot of the last key looked at */
    bool                   any;        /* a key was seen */
};

/* Adds a key; false when it belongs to another backend than the first. */
static bool
dispatch_pick_key(struct worker *w, struct dispatch_pick *pick, const char *key, size_t len)
{
    pick->slot = router_slot(key, len);
    if (!pick->any) {
        pick->any = true;
        pick->first_slot = pick->slot;
        pick->server = w->slot_server[pick->slot];
        return true;
    }
    return w->slot_server[pick->slot] == pick->server;
}

/*
 * SORT ... BY pattern / GET pattern reads keys made from the pattern. They
 * are in the sorted key's group only when the pattern carries a hash tag
 * ({...}, without the '*' inside) of that group; "#" (the element itself)
 * and "nosort" read nothing. True when every pattern is safe.
 */
static bool
dispatch_sort_patterns_ok(struct worker *w, struct dispatch_pick *pick, int argc,
                          const struct cstr *argv)
{
    for (int i = 2; i + 1 < argc; i++) {
        const struct cstr *opt = &argv[i], *pat = &argv[i + 1];
        const char *tag;
        size_t taglen;

        if (util_strieq(opt->ptr, opt->len, "limit")) {
            i += 2;
            continue;
        }
        if (!util_strieq(opt->ptr, opt->len, "by") && !util_strieq(opt->ptr, opt->len, "get")) {
            continue;
        }
        i++;
        if ((pat->len == 1 && pat->ptr[0] == '#') || util_strieq(pat->ptr, pat->len, "nosort")) {
            continue;
        }
        /* The keys read: the pattern with '*' replaced by each element.
         * They share the pattern's hash tag when it holds no '*'. */
        router_hashtag(pat->ptr, pat->len, &tag, &taglen);
        if (memchr(pat->ptr, '*', pat->len) != NULL
            && ((tag == pat->ptr && taglen == pat->len) || memchr(tag, '*', taglen) != NULL)) {
            return false;
        }
        if (!dispatch_pick_key(w, pick, pat->ptr, pat->len)) {
            return false;
        }
    }
    return true;
}

struct backend_server *
dispatch_route(struct worker *w, struct req *req, int argc, const struct cstr *argv,
               unsigned *seed)
{
    struct command_keys keys;
    struct dispatch_pick pick = { NULL, 0, 0, false };
    bool same = true;

    if (command_get_keys(req->cmd, argc, argv, &keys) != CORDIS_OK) {
        /* Malformed key arguments: the backend of the first argument
         * answers Redis's own error. */
        keys.first = keys.last = argc > 1 ? 1 : 0;
        keys.step = 1;
        keys.extra = 0;
    } else if (keys.step > 1 && req->cmd->last_key < 0 && (argc - keys.first) % keys.step != 0) {
        /* MSETNX k v k: Redis's arity error comes before any key rule. */
        req_set_error(req, "ERR wrong number of arguments for '%s' command", req->cmd->name);
        return NULL;
    }
    for (int i = keys.first; same && keys.first > 0 && i <= keys.last && i < argc;
         i += CORDIS_MAX(keys.step, 1)) {
        same = dispatch_pick_key(w, &pick, argv[i].ptr, argv[i].len);
    }
    if (same && keys.extra > 0 && keys.extra < argc) {
        same = dispatch_pick_key(w, &pick, argv[keys.extra].ptr, argv[keys.extra].len);
    }
    if (!pick.any) {
        pick.server = w->slot_server[0];
    }
    if (pick.server == NULL) {
        req_set_error(req, "ERR slot %u is not served", pick.first_slot);
        return NULL;
    }
    if (same && (req->cmd->id == COMMAND_SORT || req->cmd->id == COMMAND_SORT_RO)
        && w->ngroups > 1 && !dispatch_sort_patterns_ok(w, &pick, argc, argv)) {
        req_set_error(req, "CROSSSLOT SORT's BY and GET patterns must name keys of the "
                           "sorted key's group: put a {hash tag} of that group in them");
        return NULL;
    }
    if (!same) {
        if (w->slot_server[pick.slot] == NULL) {
            req_set_error(req, "ERR slot %u is not served", pick.slot);
        } else {
            req_set_error(req, "CROSSSLOT Keys in request don't hash to the same slot");
        }
        return NULL;
    }
    *seed = pick.first_slot;
    return pick.server;
}

/* True when XREAD/XREADGROUP carries the BLOCK option (option values,
 * such as a group named "block", are skipped). */
static bool
dispatch_has_block_option(int argc, const struct cstr *argv)
{
    int i = 1;

    while (i < argc) {
        const struct cstr *a = &argv[i];

        if (util_strieq(a->ptr, a->len, "streams")) {
            return false;
        }
        if (util_strieq(a->ptr, a->len, "block")) {
            return true;
        }
        if (util_strieq(a->ptr, a->len, "group")) {
            i += 3;            /* GROUP group consumer */
        } else if (util_strieq(a->ptr, a->len, "count")) {
            i += 2;            /* COUNT n */
        } else {
            i += 1;            /* NOACK, or something Redis will refuse */
        }
    }
    return false;
}

/*
 * A request for a slot that is locked or migrating: migrate.c parks it or
 * takes care of its first key on the old group (keyless ones, and the
 * default slot 0 of keyless commands, go straight on).
 */
static void
dispatch_slot_state(struct worker *w, struct session *s, struct req *req, unsigned slot,
                    int argc, const struct cstr *argv)
{
    struct command_keys keys = { 0, 0, 0, 0 };
    const struct cstr *key = NULL;

    if (command_get_keys(req->cmd, argc, argv, &keys) == CORDIS_OK && keys.first > 0
        && keys.first < argc) {
        key = &argv[keys.first];
    } else if (keys.extra > 0 && keys.extra < argc) {
        key = &argv[keys.extra];
    }
    if (key == NULL || router_slot(key->ptr, key->len) != slot) {
        /* keyless: the new group */
        migrate_send(w, req, slot, s->db, NULL, 0);
        return;
    }
    if ((w->slot_state[slot] & MIGRATE_VANILLA) && migrate_set_keys(w, req, argc, argv) != CORDIS_OK) {
        req_set_error(req, "ERR out of memory");
        req_finish(w, req);
        return;
    }
    migrate_send(w, req, slot, s->db, key->ptr, key->len);
}

/* EVAL_RO and friends stay on the primary: scripts are loaded there. */
static bool
dispatch_is_script(const struct command *cmd)
{
    return cmd->id == COMMAND_EVAL_RO || cmd->id == COMMAND_EVALSHA_RO
           || cmd->id == COMMAND_FCALL_RO;
}

/* Sends a request to the backend its keys lead to. */
static void
dispatch_forward(struct worker *w, struct session *s, struct req *req, int argc,
                 const struct cstr *argv)
{
    struct backend_server *server;
    const char *err;
    unsigned seed = 0;

    if (req->cmd->dispatch == DISPATCH_KEYED && argc > req->cmd->first_key) {
        /* One key at a known place: no key walk. */
        const struct cstr *key = &argv[req->cmd->first_key];

        seed = router_slot(key->ptr, key->len);
        server = w->slot_server[seed];
        if (server == NULL) {
            req_set_error(req, "ERR slot %u is not served", seed);
            goto finish;
        }
    } else if ((server = dispatch_route(w, req, argc, argv, &seed)) == NULL) {
        goto finish;
    }
    if (scripts_before_send(w, req, server, seed, argc, argv) != CORDIS_OK) {
        goto finish;
    }
    if (w->slot_state[seed] != 0) {
        dispatch_slot_state(w, s, req, seed, argc, argv);
        return;
    }
    if (w->replica_reads && (req->cmd->flags & CMD_READONLY) && w->slot_replicas[seed] != NULL
        && !dispatch_is_script(req->cmd)) {
        struct backend_server *replica = replica_pick(w, seed, req);

        if (replica != NULL && backend_send(w, replica, s->db, seed, req, &err) == CORDIS_OK) {
            return;
        }
        req->replica = 0;   /* none fit, or it is down: the primary */
    }
    if (backend_send(w, server, s->db, seed, req, &err) != CORDIS_OK) {
        req_set_error(req, "ERR backend %s unavailable: %s", server->addr, err);
        goto finish;
    }
    return;

finish:
    req_finish(w, req);
}

void
dispatch_request(struct worker *w, struct session *s, struct req *req, int argc,
                 struct cstr *argv, struct mbuf *in, const char *bytes, size_t len)
{
    const struct command *cmd;

    if (s->reply_mode != SESSION_REPLY_ON) {
        /* CLIENT REPLY OFF, or SKIP for this one command (errors too). */
        req->silent = 1;
        if (s->reply_mode == SESSION_REPLY_SKIP_NEXT) {
            s->reply_mode = SESSION_REPLY_ON;
        }
    }
    /* "object|encoding" names a subcommand inside cordis, not for clients. */
    cmd = memchr(argv[0].ptr, '|', argv[0].len) == NULL
        ? command_lookup(argv[0].ptr, argv[0].len) : NULL;
    if (cmd == NULL) {
        dispatch_unknown_command(req, argc, argv);
        goto finish;
    }
    if ((cmd->flags & CMD_CONTAINER) && argc >= 2) {
        const struct command *sub = command_resolve(cmd, argc, argv);

        if (sub == cmd) {
            req->cmd = cmd;
            req_set_error(req, "ERR unknown subcommand '%.*s'. Try %s HELP.",
                          (int)CORDIS_MIN(argv[1].len, (size_t)128), argv[1].ptr,
                          command_upper_name(cmd));
            goto finish;
        }
        cmd = sub;
    }
    req->cmd = cmd;
    s->last_cmd = cmd;
    if (!command_arity_ok(cmd, argc)) {
        req_set_error(req, "ERR wrong number of arguments for '%s' command", cmd->name);
        goto finish;
    }
    if (!s->authed && !(cmd->flags & CMD_NOAUTH)) {
        req_set_error(req, "NOAUTH Authentication required.");
        goto finish;
    }
    if (s->pin != NULL && s->pin->multi && !pinned_runs_in_multi(cmd)) {
        pinned_queue(w, s, req, argc, argv);   /* +QUEUED, sent with EXEC */
        return;
    }
    if (s->ps != NULL && pubsub_subscribed(s) && !pubsub_allowed(w, s, req, argc, argv)) {
        goto finish;
    }

    /* Forwarded commands go to the backends as they came: inline ones are
     * re-encoded (backends get RESP only). */
    if (cmd->dispatch != DISPATCH_LOCAL && cmd->dispatch != DISPATCH_REFUSED) {
        if (in == NULL) {
            if (req_encode(req, argc, argv) != CORDIS_OK) {
                req_set_error(req, "ERR out of memory");
                goto finish;
            }
        } else {
            req->in = mbuf_ref(in);
            req_set_bytes(req, bytes, len);
        }
    }

    switch ((enum command_dispatch)cmd->dispatch) {
    case DISPATCH_LOCAL:
        if (local_dispatch(w, s, req, argc, argv) == CORDIS_EAGAIN) {
            return;
        }
        goto finish;

    case DISPATCH_KEYED:
        dispatch_forward(w, s, req, argc, argv);
        return;

    case DISPATCH_SAME_GROUP:
        if ((cmd->id == COMMAND_XREAD || cmd->id == COMMAND_XREADGROUP)
            && dispatch_has_block_option(argc, argv)) {
            /* It would hold the backend connection every client shares. */
            pinned_block(w, s, req, argc, argv);
            return;
        }
        dispatch_forward(w, s, req, argc, argv);
        return;

    case DISPATCH_SPLIT:
        if (argc > 2) {
            int rc = multikey_dispatch(w, s, req, argc, argv);

            if (rc == CORDIS_OK) {
                return;
            }
            if (rc == CORDIS_ERROR) {
                goto finish;
            }
        }
        dispatch_forward(w, s, req, argc, argv);   /* one group has every key */
        return;

    case DISPATCH_FANOUT:
        if (fanout_dispatch(w, s, req, argc, argv) == CORDIS_OK) {
            return;
        }
        goto finish;

    case DISPATCH_PINNED:
        pinned_dispatch(w, s, req, argc, argv);
        return;

    case DISPATCH_REFUSED:
        req_set_error(req, "ERR command '%s' is not supported by cordis: %s",
                      command_display_name(cmd), cmd->refusal);
        goto finish;
    }

finish:
    if (req->failed && s->pin != NULL) {
        pinned_flag_error(s);   /* unknown or malformed inside MULTI: EXEC aborts */
    }
    req_finish(w, req);
}

int
dispatch_on_reply(struct worker *w, struct req *req)
{
    switch (req->cmd->id) {
    case COMMAND_CONFIG_GET:
        local_config_filter(req);
        return CORDIS_OK;
    case COMMAND_SCAN:
        fanout_scan_reply(w, req);
        return CORDIS_OK;
    case COMMAND_EVALSHA:
    case COMMAND_EVALSHA_RO:
        return scripts_on_reply(w, req);
    default:
        return CORDIS_OK;
    }
}
