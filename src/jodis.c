/*
 * Jodis registration in ZooKeeper, in a thread of the master. See jodis.h.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
/* The synchronous calls exist in the multi-threaded client only. */
#define THREADED
#include <zookeeper/zookeeper.h>

#include "cordis.h"
#include "jodis.h"
#include "log.h"

/* Pause after a failure: doubles from 1 s up to 30 s, as codis-proxy's. */
#define JODIS_BACKOFF_MIN 1
#define JODIS_BACKOFF_MAX 30

/* ACL permissions: the node as codis-proxy makes it, and its parents. */
#define JODIS_NODE_PERMS (ZOO_PERM_ADMIN | ZOO_PERM_READ | ZOO_PERM_WRITE)
#define JODIS_DIR_PERMS  ZOO_PERM_ALL

struct jodis {
    pthread_t        thread;
    pthread_mutex_t  lock;
    pthread_cond_t   cond;       /* signalled on every ZooKeeper event and on stop */
    bool             stop;
    bool             session_ok; /* connected (set by the watcher) */
    bool             expired;    /* the session is gone: a new handle is needed */
    unsigned         events;     /* counts node events (a watched node changed) */
    enum jodis_state state;

    char            *addrs;
    char            *user;       /* digest auth: "" when none */
    char            *auth;       /* "user:password" */
    char            *acl_id;     /* "user:base64(sha1(user:password))" */
    char            *path;
    char            *data;
    int              timeout_ms;
    zhandle_t       *zh;         /* owned by the thread */
};

/* The library's own log lines would go to stderr: ours say what matters. */
static void
jodis_library_log(const char *message)
{
    log_debug("zookeeper: %s", message);
}

/* Called by the library's event thread: connection states and watches. */
static void
jodis_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    struct jodis *j = ctx;

    (void)zh;
    (void)path;
    pthread_mutex_lock(&j->lock);
    if (type == ZOO_SESSION_EVENT) {
        if (state == ZOO_CONNECTED_STATE) {
            j->session_ok = true;
        } else if (state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE) {
            j->session_ok = false;
            j->expired = true;
        } else {
            j->session_ok = false;   /* connecting again, within the session */
        }
    } else {
        j->events++;   /* created, deleted, changed: look again */
    }
    pthread_cond_broadcast(&j->cond);
    pthread_mutex_unlock(&j->lock);
}

/* Waits (lock held) until woken or `sec` seconds pass; false on stop. */
static bool
jodis_wait(struct jodis *j, int sec)
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += sec;
    if (!j->stop) {
        pthread_cond_timedwait(&j->cond, &j->lock, &until);
    }
    return !j->stop;
}

static void
jodis_set_state(struct jodis *j, enum jodis_state state)
{
    pthread_mutex_lock(&j->lock);
    j->state = state;
    pthread_mutex_unlock(&j->lock);
}

/* "user:password" -> "user:base64(sha1(user:password))", ZooKeeper's
 * digest ACL id. */
static char *
jodis_digest_id(const char *auth)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    const char *colon = strchr(auth, ':');
    size_t ulen = colon != NULL ? (size_t)(colon - auth) : 0;
    char *id;

    if (colon == NULL || !EVP_Digest(auth, strlen(auth), md, &mdlen, EVP_sha1(), NULL)) {
        return NULL;
    }
    id = malloc(ulen + 1 + 4 * ((mdlen + 2) / 3) + 1);
    if (id == NULL) {
        return NULL;
    }
    memcpy(id, auth, ulen);
    id[ulen] = ':';
    EVP_EncodeBlock((unsigned char *)id + ulen + 1, md, (int)mdlen);
    return id;
}

static struct ACL_vector
jodis_acl(struct jodis *j, struct ACL *one, int perms)
{
    one->perms = perms;
    one->id.scheme = j->acl_id != NULL ? "digest" : "world";
    one->id.id = j->acl_id != NULL ? j->acl_id : "anyone";
    return (struct ACL_vector){ .count = 1, .data = one };
}

/* The parents of j->path, as plain znodes (ZNODEEXISTS is fine). */
static int
jodis_mkdirs(struct jodis *j)
{
    struct ACL one;
    struct ACL_vector acl = jodis_acl(j, &one, JODIS_DIR_PERMS);
    char *p = strdup(j->path);
    int rc = ZOK;

    if (p == NULL) {
        return ZSYSTEMERROR;
    }
    for (char *slash = strchr(p + 1, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        rc = zoo_create(j->zh, p, "", 0, &acl, 0, NULL, 0);
        *slash = '/';
        if (rc != ZOK && rc != ZNODEEXISTS) {
            break;
        }
        rc = ZOK;
    }
    free(p);
    return rc;
}

/* Opens a session and waits for it; ZOK, or why not. */
static int
jodis_connect(struct jodis *j)
{
    struct timespec until;
    int rc;

    pthread_mutex_lock(&j->lock);
    j->session_ok = false;
    j->expired = false;
    pthread_mutex_unlock(&j->lock);
    j->zh = zookeeper_init2(j->addrs, jodis_watcher, j->timeout_ms, NULL, j, 0,
                            jodis_library_log);
    if (j->zh == NULL) {
        return errno == EINVAL ? ZBADARGUMENTS : ZSYSTEMERROR;
    }
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (j->timeout_ms + 999) / 1000;
    pthread_mutex_lock(&j->lock);
    while (!j->stop && !j->session_ok && !j->expired
           && pthread_cond_timedwait(&j->cond, &j->lock, &until) != ETIMEDOUT) {
        /* woken by another event: keep waiting */
    }
    rc = j->session_ok ? ZOK : j->expired ? ZSESSIONEXPIRED
         : j->stop ? ZCLOSING : ZOPERATIONTIMEOUT;
    pthread_mutex_unlock(&j->lock);
    if (rc == ZOK && j->acl_id != NULL) {
        /* Sent ahead of our requests on the connection; a refusal ends
         * the session (ZOO_AUTH_FAILED_STATE). */
        rc = zoo_add_auth(j->zh, "digest", j->auth, (int)strlen(j->auth), NULL, NULL);
    }
    if (rc != ZOK) {
        zookeeper_close(j->zh);
        j->zh = NULL;
    }
    return rc;
}

/* Whether the node at j->path belongs to our session. */
static bool
jodis_is_ours(struct jodis *j, const struct Stat *st)
{
    const clientid_t *id = zoo_client_id(j->zh);

    return id != NULL && st->ephemeralOwner == id->client_id;
}

/*
 * Makes sure the node is ours, then sets a watch on it. Returns ZOK with
 * the state set, or an error (the caller starts over after a pause).
 */
static int
jodis_register(struct jodis *j)
{
    struct ACL one;
    struct ACL_vector acl = jodis_acl(j, &one, JODIS_NODE_PERMS);
    struct Stat st;
    int rc;

    rc = jodis_mkdirs(j);
    if (rc != ZOK) {
        return rc;
    }
    rc = zoo_create(j->zh, j->path, j->data, (int)strlen(j->data), &acl, ZOO_EPHEMERAL,
                    NULL, 0);
    if (rc == ZOK && jodis_state(j) == JODIS_REGISTERED) {
        log_warn("jodis: %s had gone (deleted by someone); made again", j->path);
    } else if (rc != ZOK && rc != ZNODEEXISTS) {
        return rc;
    }
    /* The watch fires when the node goes (or comes): then we look again. */
    rc = zoo_exists(j->zh, j->path, 1, &st);
    if (rc == ZNONODE) {
        return ZOK;   /* gone already; the watch brings us back at once */
    }
    if (rc != ZOK) {
        return rc;
    }
    if (jodis_is_ours(j, &st)) {
        if (jodis_state(j) != JODIS_REGISTERED) {
            log_info("jodis: registered %s", j->path);
        }
        jodis_set_state(j, JODIS_REGISTERED);
    } else {
        if (jodis_state(j) != JODIS_WAITING) {
            log_warn("jodis: %s is held by another ZooKeeper session (0x%llx); waiting for it "
                     "to go", j->path, (unsigned long long)st.ephemeralOwner);
        }
        jodis_set_state(j, JODIS_WAITING);
    }
    return ZOK;
}

static void
jodis_unregister(struct jodis *j)
{
    struct Stat st;
    int rc;

    if (j->zh == NULL || zoo_state(j->zh) != ZOO_CONNECTED_STATE) {
        return;
    }
    rc = zoo_exists(j->zh, j->path, 0, &st);
    if (rc != ZOK || !jodis_is_ours(j, &st)) {
        return;   /* not ours to delete (a successor's, say) */
    }
    rc = zoo_delete(j->zh, j->path, st.version);
    if (rc == ZOK) {
        log_info("jodis: removed %s", j->path);
    } else {
        log_warn("jodis: removing %s failed: %s", j->path, zerror(rc));
    }
}

static void *
jodis_main(void *arg)
{
    struct jodis *j = arg;
    int backoff = JODIS_BACKOFF_MIN;
    unsigned seen = 0;
    bool failing = false;

    for (;;) {
        int rc = ZOK;

        pthread_mutex_lock(&j->lock);
        if (j->stop) {
            pthread_mutex_unlock(&j->lock);
            break;
        }
        if (j->expired && j->zh != NULL) {
            pthread_mutex_unlock(&j->lock);
            log_warn("jodis: ZooKeeper session expired; %s is made again", j->path);
            zookeeper_close(j->zh);
            j->zh = NULL;
            jodis_set_state(j, JODIS_CONNECTING);
            pthread_mutex_lock(&j->lock);
        }
        seen = j->events;
        pthread_mutex_unlock(&j->lock);

        if (j->zh == NULL) {
            rc = jodis_connect(j);
        }
        if (rc == ZOK) {
            rc = jodis_register(j);
        }
        pthread_mutex_lock(&j->lock);
        if (rc == ZOK) {
            failing = false;
            backoff = JODIS_BACKOFF_MIN;
            /* Until the watch fires, the session ends, or we stop. A lost
             * connection within the session keeps the node and the watch. */
            while (!j->stop && j->events == seen && !j->expired) {
                jodis_wait(j, JODIS_BACKOFF_MAX);
            }
        } else if (!j->stop) {
            pthread_mutex_unlock(&j->lock);
            if (!failing) {
                log_warn("jodis: cannot register %s at %s: %s; trying again", j->path, j->addrs,
                         zerror(rc));
                failing = true;
            }
            if (rc == ZSESSIONEXPIRED || rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT
                || rc == ZAUTHFAILED || rc == ZINVALIDSTATE) {
                if (j->zh != NULL) {
                    zookeeper_close(j->zh);
                    j->zh = NULL;
                }
                jodis_set_state(j, JODIS_CONNECTING);
            }
            pthread_mutex_lock(&j->lock);
            jodis_wait(j, backoff);
            backoff = CORDIS_MIN(backoff * 2, JODIS_BACKOFF_MAX);
        }
        pthread_mutex_unlock(&j->lock);
    }
    jodis_unregister(j);
    if (j->zh != NULL) {
        zookeeper_close(j->zh);
        j->zh = NULL;
    }
    jodis_set_state(j, JODIS_STOPPED);
    return NULL;
}

static void
jodis_free(struct jodis *j)
{
    pthread_mutex_destroy(&j->lock);
    pthread_cond_destroy(&j->cond);
    free(j->addrs);
    free(j->auth);
    free(j->acl_id);
    free(j->path);
    free(j->data);
    free(j);
}

struct jodis *
jodis_start(const char *addrs, const char *auth, int timeout_ms, const char *path,
            const char *data)
{
    struct jodis *j = calloc(1, sizeof(*j));

    if (j == NULL) {
        return NULL;
    }
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->cond, NULL);
    j->addrs = strdup(addrs);
    j->auth = strdup(auth);
    j->path = strdup(path);
    j->data = strdup(data);
    j->timeout_ms = timeout_ms;
    j->state = JODIS_CONNECTING;
    if (j->addrs == NULL || j->auth == NULL || j->path == NULL || j->data == NULL
        || (auth[0] != '\0' && (j->acl_id = jodis_digest_id(auth)) == NULL)) {
        jodis_free(j);
        return NULL;
    }
    zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
    if (pthread_create(&j->thread, NULL, jodis_main, j) != 0) {
        jodis_free(j);
        return NULL;
    }
    return j;
}

void
jodis_stop(struct jodis *j)
{
    if (j == NULL) {
        return;
    }
    pthread_mutex_lock(&j->lock);
    j->stop = true;
    pthread_cond_broadcast(&j->cond);
    pthread_mutex_unlock(&j->lock);
    pthread_join(j->thread, NULL);
    jodis_free(j);
}

enum jodis_state
jodis_state(struct jodis *j)
{
    enum jodis_state state;

    pthread_mutex_lock(&j->lock);
    state = j->state;
    pthread_mutex_unlock(&j->lock);
    return state;
}

const char *
jodis_state_name(enum jodis_state state)
{
    switch (state) {
    case JODIS_CONNECTING:
        return "connecting";
    case JODIS_WAITING:
        return "waiting";
    case JODIS_REGISTERED:
        return "registered";
    case JODIS_STOPPED:
        return "stopped";
    }
    return "unknown";
}

bool
jodis_path(char *out, size_t size, const char *product, const char *token, bool compatible)
{
    int n = compatible ? snprintf(out, size, "/zk/codis/db_%s/proxy/%s", product, token)
                       : snprintf(out, size, "/jodis/%s/proxy-%s", product, token);

    return n > 0 && (size_t)n < size;
}
