/*
 * The script store shared by every worker, and EVALSHA's retry after
 * NOSCRIPT. See scripts.h.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "backend.h"
#include "command.h"
#include "log.h"
#include "mbuf.h"
#include "request.h"
#include "resp.h"
#include "scripts.h"
#include "session.h"
#include "shm.h"
#include "util.h"
#include "worker.h"

/*
 * Which scripts this worker already put in the store (by the first 8 bytes
 * of their sha), so a steady stream of EVALs takes no lock: only the sha
 * is computed. Emptied when the store is (its generation moved).
 */
static uint64_t *scripts_known;
static uint64_t  scripts_known_gen;
#define SCRIPTS_KNOWN_SLOTS SCRIPTS_INDEX

static uint64_t
scripts_key(const uint8_t sha[20])
{
    uint64_t k;

    memcpy(&k, sha, sizeof(k));
    return k | 1;   /* never 0, the free mark */
}

static bool
scripts_known_has(struct worker *w, const uint8_t sha[20], bool add)
{
    uint64_t gen = __atomic_load_n(&w->shm->scripts.generation, __ATOMIC_ACQUIRE);
    uint64_t k = scripts_key(sha);

    if (scripts_known == NULL || gen != scripts_known_gen) {
        if (scripts_known == NULL
            && (scripts_known = calloc(SCRIPTS_KNOWN_SLOTS, sizeof(*scripts_known))) == NULL) {
            return false;
        }
        memset(scripts_known, 0, SCRIPTS_KNOWN_SLOTS * sizeof(*scripts_known));
        scripts_known_gen = gen;
    }
    for (uint32_t i = (uint32_t)(k >> 32) % SCRIPTS_KNOWN_SLOTS, n = 0; n < SCRIPTS_KNOWN_SLOTS;
         i = (i + 1) % SCRIPTS_KNOWN_SLOTS, n++) {
        if (scripts_known[i] == k) {
            return true;
        }
        if (scripts_known[i] == 0) {
            if (add) {
                scripts_known[i] = k;
            }
            return false;
        }
    }
    return false;
}

int
scripts_init(struct scripts_store *store)
{
    pthread_mutexattr_t attr;
    int rc;

    if (pthread_mutexattr_init(&attr) != 0) {
        return CORDIS_ERROR;
    }
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    rc = pthread_mutex_init(&store->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    return rc == 0 ? CORDIS_OK : CORDIS_ERROR;
}

static void
scripts_lock(struct scripts_store *store)
{
    if (pthread_mutex_lock(&store->lock) == EOWNERDEAD) {
        /* A worker died holding it. Entries are published last (count), so
         * what it was writing is simply not there. */
        pthread_mutex_consistent(&store->lock);
    }
}

static void
scripts_unlock(struct scripts_store *store)
{
    pthread_mutex_unlock(&store->lock);
}

/* The index slot of sha (its entry, or the free slot where it would go). */
static uint32_t
scripts_slot(const struct scripts_store *store, const uint8_t sha[20])
{
    uint32_t i = (uint32_t)(scripts_key(sha) >> 32) % SCRIPTS_INDEX;

    for (uint32_t n = 0; n < SCRIPTS_INDEX; n++, i = (i + 1) % SCRIPTS_INDEX) {
        uint16_t e = store->index[i];

        if (e == 0 || memcmp(store->entries[e - 1].sha, sha, 20) == 0) {
            return i;
        }
    }
    return i;   /* never full: there are twice as many slots as entries */
}

static int
scripts_put(struct worker *w, const uint8_t sha[20], const char *body, size_t len)
{
    struct scripts_store *store = &w->shm->scripts;
    static bool warned;
    int rc = CORDIS_OK;
    uint32_t slot;

    scripts_lock(store);
    slot = scripts_slot(store, sha);
    if (store->index[slot] == 0) {
        if (store->count >= SCRIPTS_MAX || len > SCRIPTS_BYTES - store->used) {
            rc = CORDIS_ERROR;
        } else {
            struct scripts_entry *e = &store->entries[store->count];

            memcpy(store->data + store->used, body, len);
            memcpy(e->sha, sha, 20);
            e->off = store->used;
            e->len = (uint32_t)len;
            store->used += (uint32_t)len;
            store->count++;
            store->index[slot] = (uint16_t)store->count;
        }
    }
    scripts_unlock(store);
    if (rc != CORDIS_OK && !warned) {
        warned = true;
        log_warn("the script store is full (%d scripts, %d MB); new scripts are not kept, "
                 "and EVALSHA of them may answer NOSCRIPT on groups that lack them",
                 SCRIPTS_MAX, SCRIPTS_BYTES >> 20);
    }
    return rc;
}

int
scripts_remember(struct worker *w, const char *body, size_t len)
{
    uint8_t sha[20];

    SHA1((const unsigned char *)body, len, sha);
    if (scripts_known_has(w, sha, false)) {
        return CORDIS_OK;
    }
    if (scripts_put(w, sha, body, len) != CORDIS_OK) {
        return CORDIS_ERROR;
    }
    scripts_known_has(w, sha, true);
    return CORDIS_OK;
}

static void
scripts_forget_all(struct worker *w)
{
    struct scripts_store *store = &w->shm->scripts;

    scripts_lock(store);
    memset(store->index, 0, sizeof(store->index));
    store->count = 0;
    store->used = 0;
    __atomic_add_fetch(&store->generation, 1, __ATOMIC_RELEASE);
    scripts_unlock(store);
}

/* 40 hex digits (either case) to 20 bytes. */
static bool
scripts_parse_sha(const char *hex, size_t len, uint8_t sha[20])
{
    if (len != 40) {
        return false;
    }
    for (size_t i = 0; i < 40; i++) {
        char c = hex[i];
        int v = c >= '0' && c <= '9' ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;

        if (v < 0) {
            return false;
        }
        sha[i / 2] = (uint8_t)(i % 2 == 0 ? v << 4 : sha[i / 2] | v);
    }
    return true;
}

char *
scripts_load_command(struct worker *w, const char *sha_hex, size_t sha_len, size_t *len)
{
    static const char head[] = "*3\r\n$6\r\nSCRIPT\r\n$4\r\nLOAD\r\n";
    struct scripts_store *store = &w->shm->scripts;
    uint8_t sha[20];
    char *out = NULL;
    uint16_t e;

    if (!scripts_parse_sha(sha_hex, sha_len, sha)) {
        return NULL;
    }
    scripts_lock(store);
    e = store->index[scripts_slot(store, sha)];
    if (e != 0) {
        const struct scripts_entry *entry = &store->entries[e - 1];

        out = malloc(sizeof(head) + RESP_HEADER_MAX + entry->len + 2);
        if (out != NULL) {
            char *p = out;

            memcpy(p, head, sizeof(head) - 1);
            p += sizeof(head) - 1;
            p += resp_write_bulk_header(p, entry->len);
            memcpy(p, store->data + entry->off, entry->len);
            p += entry->len;
            memcpy(p, "\r\n", 2);
            *len = (size_t)(p + 2 - out);
        }
    }
    scripts_unlock(store);
    return out;
}

int
scripts_before_send(struct worker *w, struct req *req, struct backend_server *server,
                    unsigned seed, int argc, const struct cstr *argv)
{
    switch (req->cmd->id) {
    case COMMAND_EVAL:
    case COMMAND_EVAL_RO:
        scripts_remember(w, argv[1].ptr, argv[1].len);
        break;
    case COMMAND_EVALSHA:
    case COMMAND_EVALSHA_RO:
        req->server = server;
        req->hook_arg = seed;
        break;
    default:
        break;
    }
    return CORDIS_OK;
}

int
scripts_before_fanout(struct worker *w, struct req *req, int argc, const struct cstr *argv)
{
    switch (req->cmd->id) {
    case COMMAND_SCRIPT_LOAD:
        scripts_remember(w, argv[2].ptr, argv[2].len);
        break;
    case COMMAND_SCRIPT_FLUSH:
        scripts_forget_all(w);
        break;
    default:
        break;
    }
    return CORDIS_OK;
}

/* The sha argument of an EVALSHA request, from its bytes (canonical RESP:
 * "*N\r\n$7\r\nEVALSHA\r\n$40\r\n<sha>\r\n..."). */
static bool
scripts_request_sha(const struct req *req, const char **sha, size_t *len)
{
    const char *p = req->iov[0].iov_base, *end = p + req->iov[0].iov_len;
    int64_t n;

    for (int arg = 0; arg < 2; arg++) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));

        if (eol == NULL) {
            return false;
        }
        p = eol + 1;                                  /* past "*N" or the name */
        if (p >= end || *p != '$') {
            return false;
        }
        eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL || !util_parse_i64(p + 1, (size_t)(eol - 1 - (p + 1)), &n)
            || n < 0 || n > end - (eol + 1)) {
            return false;
        }
        if (arg == 1) {
            *sha = eol + 1;
            *len = (size_t)n;
            return true;
        }
        p = eol + 1 + n;                              /* the name's bytes; then "\r\n" */
    }
    return false;
}

int
scripts_on_reply(struct worker *w, struct req *req)
{
    struct req *load;
    const char *sha, *err;
    size_t sha_len, len;
    char *bytes;

    if (req->reply_type != '-' || req->reply_len < 9 || memcmp(req->reply, "-NOSCRIPT", 9) != 0
        || req->retried || req->session == NULL || req->server == NULL
        || req->server->retired || req->iovcnt != 1
        || !scripts_request_sha(req, &sha, &sha_len)) {
        return CORDIS_OK;
    }
    bytes = scripts_load_command(w, sha, sha_len, &len);
    if (bytes == NULL || (load = req_new(w)) == NULL) {
        free(bytes);
        return CORDIS_OK;
    }
    /* SCRIPT LOAD, its reply dropped (no session), then the request again,
     * on the same connection: they run in that order. */
    load->gen = bytes;
    req_set_bytes(load, bytes, len);
    if (backend_send(w, req->server, req->session->db, req->hook_arg, load, &err) != CORDIS_OK) {
        req_free(w, load);
        return CORDIS_OK;
    }
    req->retried = 1;
    mbuf_unref(req->rbuf);
    req->rbuf = NULL;
    req->reply = NULL;
    req->reply_len = 0;
    if (backend_send(w, req->server, req->session->db, req->hook_arg, req, &err) != CORDIS_OK) {
        req_set_error(req, "ERR backend %s unavailable: %s", req->server->addr, err);
        return CORDIS_OK;
    }
    log_debug("EVALSHA %.*s: NOSCRIPT on group %u, loaded there and sent again",
              (int)sha_len, sha, req->server->group);
    return CORDIS_EAGAIN;
}

void
scripts_known_in_request(const struct req *req, bool *known, size_t n)
{
    const char *p = req->iov[0].iov_base, *end = p + req->iov[0].iov_len, *eol;
    struct scripts_store *store;
    struct worker *w;
    int64_t len;
    size_t arg = 0;

    if (req->session == NULL || req->iovcnt != 1) {
        return;
    }
    w = req->session->worker;
    store = &w->shm->scripts;
    /* "*N", then each argument "$len" and its bytes: SCRIPT, EXISTS, shas. */
    if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL) {
        return;
    }
    p = eol + 1;
    scripts_lock(store);
    while (p < end && *p == '$' && (eol = memchr(p, '\n', (size_t)(end - p))) != NULL
           && util_parse_i64(p + 1, (size_t)(eol - 1 - (p + 1)), &len) && len >= 0
           && len <= end - (eol + 1)) {
        uint8_t sha[20];
        const char *bytes = eol + 1;

        if (arg >= 2 && arg - 2 < n && scripts_parse_sha(bytes, (size_t)len, sha)) {
            known[arg - 2] = store->index[scripts_slot(store, sha)] != 0;
        }
        arg++;
        p = bytes + len + 2;
    }
    scripts_unlock(store);
}
