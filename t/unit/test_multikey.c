/*
 * Unit tests for multikey.c: how MGET/MSET/DEL/EXISTS/TOUCH/UNLINK are split
 * over backends (multikey_dispatch) and how the children's replies are put
 * back together (multikey_coalesce).
 *
 * backend_send and session_schedule are replaced with -Wl,--wrap: the first
 * records each child it is given (and may refuse it), the second counts the
 * times a session is told a reply is ready. The worker, session and backend
 * servers are plain structs filled here.
 *
 * Link: -Wl,--wrap=backend_send -Wl,--wrap=session_schedule
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend.h"
#include "command.h"
#include "cordis.h"
#include "multikey.h"
#include "reply.h"
#include "request.h"
#include "router.h"
#include "session.h"
#include "stats.h"
#include "worker.h"

/* ---- fakes ---------------------------------------------------------------- */

#define MAX_SENT 16

struct sent {
    struct backend_server *server;
    int                    db;
    unsigned               seed;
    struct req            *req;
};

static struct sent sent[MAX_SENT];
static int nsent;
static struct backend_server *refuse;    /* backend_send fails for this one */
static int nscheduled;

int __wrap_backend_send(struct worker *w, struct backend_server *server, int db,
                        unsigned seed, struct req *req, const char **err);
void __wrap_session_schedule(struct session *s);

int
__wrap_backend_send(struct worker *w, struct backend_server *server, int db,
                    unsigned seed, struct req *req, const char **err)
{
    (void)w;
    if (server == refuse) {
        *err = "connect() failed: Connection refused";
        return CORDIS_ERROR;
    }
    assert_true(nsent < MAX_SENT);
    sent[nsent].server = server;
    sent[nsent].db = db;
    sent[nsent].seed = seed;
    sent[nsent].req = req;
    nsent++;
    return CORDIS_OK;
}

void
__wrap_session_schedule(struct session *s)
{
    (void)s;
    nscheduled++;
}

static struct worker w;
static struct stats_row row;
static struct session sess;
static struct backend_server srv[3];

/* n backends: slots split evenly over srv[0..n-1] (n = 2: 0-511, 512-1023). */
static void
route_over(int n)
{
    for (int s = 0; s < CORDIS_SLOTS; s++) {
        w.slot_server[s] = &srv[s * n / CORDIS_SLOTS];
    }
}

static int
backend_of(const char *key, size_t len, int n)
{
    return (int)(router_slot(key, len) * (unsigned)n / CORDIS_SLOTS);
}

static int
setup(void **state)
{
    (void)state;
    memset(&w, 0, sizeof(w));
    memset(&row, 0, sizeof(row));
    memset(&sess, 0, sizeof(sess));
    memset(srv, 0, sizeof(srv));
    for (int i = 0; i < 3; i++) {
        snprintf(srv[i].addr, sizeof(srv[i].addr), "127.0.0.1:%d", 6379 + i);
    }
    w.stats = &row;
    sess.worker = &w;
    sess.db = 0;
    memset(sent, 0, sizeof(sent));
    nsent = 0;
    refuse = NULL;
    nscheduled = 0;
    route_over(2);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    /* Give the recycled requests back to malloc (LeakSanitizer). */
    req_free_list_clear(&w);
    return 0;
}

/* ---- building requests ------------------------------------------------- */

struct arg {
    const char *p;
    size_t      len;
};

#define A(lit) { (lit), sizeof(lit) - 1 }

/* A client's multibulk request and argv pointing into it, as the session
 * hands them over. */
struct request {
    char        *buf;
    size_t       len;
    int          argc;
    struct cstr  argv[64];
};

static void
encode(struct request *r, const struct arg *args, int argc)
{
    size_t cap = 32;
    char *p;

    for (int i = 0; i < argc; i++) {
        cap += args[i].len + 32;
    }
    r->buf = malloc(cap);
    assert_non_null(r->buf);
    assert_true(argc <= 64);
    p = r->buf + sprintf(r->buf, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) {
        p += sprintf(p, "$%zu\r\n", args[i].len);
        memcpy(p, args[i].p, args[i].len);
        r->argv[i].ptr = p;
        r->argv[i].len = args[i].len;
        p += args[i].len;
        memcpy(p, "\r\n", 2);
        p += 2;
    }
    r->len = (size_t)(p - r->buf);
    r->argc = argc;
}

/* The exact bytes of a RESP command, for comparing with a child's. */
static char *
encode_flat(const struct arg *args, int argc, size_t *len)
{
    struct request r;

    encode(&r, args, argc);
    *len = r.len;
    return r.buf;
}

static struct req *
new_request(const struct request *r, enum command_id id)
{
    struct req *req = req_new(&w);

    assert_non_null(req);
    req->cmd = &command_table[id];
    req->session = &sess;
    req->iov = req->iov_inline;
    req->iov[0].iov_base = r->buf;
    req->iov[0].iov_len = r->len;
    req->iovcnt = 1;
    req->send_len = r->len;
    return req;
}

/* A child's pieces, concatenated. */
static char *
child_bytes(const struct req *child, size_t *len)
{
    size_t total = 0;
    char *out;

    for (int i = 0; i < child->iovcnt; i++) {
        total += child->iov[i].iov_len;
    }
    assert_int_equal(total, child->send_len);
    out = malloc(total + 1);
    assert_non_null(out);
    *len = 0;
    for (int i = 0; i < child->iovcnt; i++) {
        memcpy(out + *len, child->iov[i].iov_base, child->iov[i].iov_len);
        *len += child->iov[i].iov_len;
    }
    return out;
}

static void
assert_bytes(const char *got, size_t got_len, const char *want, size_t want_len)
{
    if (got_len != want_len || memcmp(got, want, want_len) != 0) {
        fail_msg("bytes differ:\n  got  (%zu) %.*s\n  want (%zu) %.*s", got_len, (int)got_len,
                 got, want_len, (int)want_len, want);
    }
}

static void
assert_reply(const struct req *req, const char *want)
{
    assert_non_null(req->reply);
    assert_bytes(req->reply, req->reply_len, want, strlen(want));
    assert_int_equal(req->reply_type, want[0]);
}

/* Attaches a backend's reply to a child, as backend.c would: the text, its
 * type, and for arrays and integers the number the reply parser reads. */
static void
set_reply(struct req *child, const char *text)
{
    assert_int_equal(req_set_own_reply(child, text, strlen(text)), CORDIS_OK);
    if (text[0] == '*' || text[0] == ':') {
        child->reply_int = strtoll(text + 1, NULL, 10);
    }
}

/* A parent with n children made by hand, for coalescing. */
static struct req *
fake_parent(enum command_id id, int n, const uint32_t *key_child, int nkeys)
{
    struct req *parent = req_new(&w);

    assert_non_null(parent);
    parent->cmd = &command_table[id];
    assert_int_equal(req_alloc_children(parent, n, nkeys), CORDIS_OK);
    memcpy(parent->key_child, key_child, sizeof(*key_child) * (size_t)nkeys);
    parent->nkeys = nkeys;
    for (int j = 0; j < n; j++) {
        struct req *child = req_new(&w);

        assert_non_null(child);
        child->parent = parent;
        child->cmd = parent->cmd;
        parent->children[parent->nchildren++] = child;
    }
    parent->pending = n;
    return parent;
}

/* ---- coalescing ------------------------------------------------------------ */

static void
test_coalesce_mget_two(void **state)
{
    (void)state;
    /* keys: k0(c0) k1(c1) k2(c0) k3(c1) k4(c1) */
    const uint32_t kc[] = { 0, 1, 0, 1, 1 };
    struct req *p = fake_parent(COMMAND_MGET, 2, kc, 5);

    set_reply(p->children[0], "*2\r\n$2\r\nv0\r\n$-1\r\n");
    set_reply(p->children[1], "*3\r\n$2\r\nv1\r\n$0\r\n\r\n$4\r\nv\r\n4\r\n");
    multikey_coalesce(p);
    assert_reply(p, "*5\r\n$2\r\nv0\r\n$2\r\nv1\r\n$-1\r\n$0\r\n\r\n$4\r\nv\r\n4\r\n");
    req_free(&w, p);
}

/* More children than the coalescing keeps on its stack: each key on its own
 * backend, in reverse order. */
static void
test_coalesce_mget_many_children(void **state)
{
    enum { N = 100 };
    uint32_t kc[N];
    char text[32], want[N * 16 + 16];
    size_t at;

    (void)state;
    for (int i = 0; i < N; i++) {
        kc[i] = (uint32_t)(N - 1 - i);
    }
    struct req *p = fake_parent(COMMAND_MGET, N, kc, N);

    for (int j = 0; j < N; j++) {
        snprintf(text, sizeof(text), "*1\r\n$3\r\n%03d\r\n", j);
        set_reply(p->children[j], text);
    }
    multikey_coalesce(p);
    at = (size_t)snprintf(want, sizeof(want), "*%d\r\n", N);
    for (int i = 0; i < N; i++) {
        at += (size_t)snprintf(want + at, sizeof(want) - at, "$3\r\n%03d\r\n", N - 1 - i);
    }
    assert_reply(p, want);
    req_free(&w, p);
}

static void
test_coalesce_mget_three(void **state)
{
    (void)state;
    /* keys interleaved over three children, with nils everywhere */
    const uint32_t kc[] = { 2, 0, 1, 2, 0, 1, 0, 2 };
    struct req *p = fake_parent(COMMAND_MGET, 3, kc, 8);

    set_reply(p->children[0], "*3\r\n$1\r\nb\r\n$-1\r\n$1\r\ng\r\n");
    set_reply(p->children[1], "*2\r\n$-1\r\n$1\r\nf\r\n");
    set_reply(p->children[2], "*3\r\n$1\r\na\r\n$1\r\nd\r\n$-1\r\n");
    multikey_coalesce(p);
    assert_reply(p, "*8\r\n$1\r\na\r\n$1\r\nb\r\n$-1\r\n$1\r\nd\r\n$-1\r\n$1\r\nf\r\n$1\r\ng\r\n$-1\r\n");
    req_free(&w, p);
}

static void
test_coalesce_mget_binary(void **state)
{
    (void)state;
    const uint32_t kc[] = { 1, 0 };
    struct req *p = fake_parent(COMMAND_MGET, 2, kc, 2);
    static const char c0[] = "*1\r\n$5\r\n\r\n\0\r\n\r\n";
    static const char c1[] = "*1\r\n$3\r\n*1\r\r\n";
    static const char want[] = "*2\r\n$3\r\n*1\r\r\n$5\r\n\r\n\0\r\n\r\n";

    assert_int_equal(req_set_own_reply(p->children[0], c0, sizeof(c0) - 1), CORDIS_OK);
    p->children[0]->reply_int = 1;
    assert_int_equal(req_set_own_reply(p->children[1], c1, sizeof(c1) - 1), CORDIS_OK);
    p->children[1]->reply_int = 1;
    multikey_coalesce(p);
    assert_bytes(p->reply, p->reply_len, want, sizeof(want) - 1);
    req_free(&w, p);
}

static void
test_coalesce_mget_error(void **state)
{
    (void)state;
    const uint32_t kc[] = { 0, 1, 2 };
    struct req *p = fake_parent(COMMAND_MGET, 3, kc, 3);

    set_reply(p->children[0], "*1\r\n$1\r\na\r\n");
    req_set_error(p->children[1], "ERR backend 127.0.0.1:6380 unavailable: connection closed by the backend");
    set_reply(p->children[2], "*1\r\n$1\r\nc\r\n");
    multikey_coalesce(p);
    assert_reply(p, "-ERR backend 127.0.0.1:6380 unavailable: connection closed by the backend\r\n");
    assert_true(p->failed);
    req_free(&w, p);
}

static void
test_coalesce_mget_wrong_count(void **state)
{
    (void)state;
    /* A backend that answers more elements than it was asked for must not
     * make cordis read past the key map. */
    const uint32_t kc[] = { 0, 1 };
    struct req *p = fake_parent(COMMAND_MGET, 2, kc, 2);

    set_reply(p->children[0], "*3\r\n$1\r\na\r\n$1\r\nx\r\n$1\r\ny\r\n");
    set_reply(p->children[1], "*1\r\n$1\r\nb\r\n");
    multikey_coalesce(p);
    assert_int_equal(p->reply_type, '-');
    req_free(&w, p);

    /* Fewer elements than keys asked for. */
    p = fake_parent(COMMAND_MGET, 2, kc, 2);
    set_reply(p->children[0], "*0\r\n");
    set_reply(p->children[1], "*1\r\n$1\r\nb\r\n");
    multikey_coalesce(p);
    assert_int_equal(p->reply_type, '-');
    req_free(&w, p);

    /* Not an array at all. */
    p = fake_parent(COMMAND_MGET, 2, kc, 2);
    set_reply(p->children[0], "+OK\r\n");
    set_reply(p->children[1], "*1\r\n$1\r\nb\r\n");
    multikey_coalesce(p);
    assert_int_equal(p->reply_type, '-');
    req_free(&w, p);
}

static void
test_coalesce_mset(void **state)
{
    (void)state;
    const uint32_t kc[] = { 0, 1, 0 };
    struct req *p = fake_parent(COMMAND_MSET, 2, kc, 3);

    set_reply(p->children[0], "+OK\r\n");
    set_reply(p->children[1], "+OK\r\n");
    multikey_coalesce(p);
    assert_reply(p, "+OK\r\n");
    assert_false(p->failed);
    req_free(&w, p);

    /* One child's error is the whole reply. */
    p = fake_parent(COMMAND_MSET, 2, kc, 3);
    set_reply(p->children[0], "+OK\r\n");
    set_reply(p->children[1], "-OOM command not allowed when used memory > 'maxmemory'.\r\n");
    multikey_coalesce(p);
    assert_reply(p, "-OOM command not allowed when used memory > 'maxmemory'.\r\n");
    assert_false(p->failed);   /* Redis's error, not cordis's */
    req_free(&w, p);

    p = fake_parent(COMMAND_MSET, 2, kc, 3);
    req_set_error(p->children[0], "ERR backend 127.0.0.1:6379 unavailable: no reply within 1000 ms");
    set_reply(p->children[1], "+OK\r\n");
    multikey_coalesce(p);
    assert_reply(p, "-ERR backend 127.0.0.1:6379 unavailable: no reply within 1000 ms\r\n");
    assert_true(p->failed);
    req_free(&w, p);

    /* Something that is not +OK. */
    p = fake_parent(COMMAND_MSET, 2, kc, 3);
    set_reply(p->children[0], "+OK\r\n");
    set_reply(p->children[1], ":1\r\n");
    multikey_coalesce(p);
    assert_int_equal(p->reply_type, '-');
    req_free(&w, p);
}

static void
test_coalesce_sums(void **state)
{
    (void)state;
    const uint32_t kc[] = { 0, 1, 2, 0 };
    const enum command_id ids[] = { COMMAND_DEL, COMMAND_EXISTS, COMMAND_TOUCH, COMMAND_UNLINK };

    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        struct req *p = fake_parent(ids[i], 3, kc, 4);

        set_reply(p->children[0], ":2\r\n");
        set_reply(p->children[1], ":0\r\n");
        set_reply(p->children[2], ":1\r\n");
        multikey_coalesce(p);
        assert_reply(p, ":3\r\n");
        req_free(&w, p);
    }

    /* Big counts add up without overflow of the text. */
    struct req *p = fake_parent(COMMAND_DEL, 2, kc, 2);

    set_reply(p->children[0], ":4000000000\r\n");
    set_reply(p->children[1], ":4000000000\r\n");
    multikey_coalesce(p);
    assert_reply(p, ":8000000000\r\n");
    req_free(&w, p);

    p = fake_parent(COMMAND_DEL, 3, kc, 4);
    set_reply(p->children[0], ":2\r\n");
    set_reply(p->children[1], "-READONLY You can't write against a read only replica.\r\n");
    set_reply(p->children[2], ":1\r\n");
    multikey_coalesce(p);
    assert_reply(p, "-READONLY You can't write against a read only replica.\r\n");
    req_free(&w, p);

    p = fake_parent(COMMAND_EXISTS, 2, kc, 2);
    set_reply(p->children[0], ":2\r\n");
    set_reply(p->children[1], "$1\r\nx\r\n");
    multikey_coalesce(p);
    assert_int_equal(p->reply_type, '-');
    req_free(&w, p);
}

static void
test_finish_completes_parent_once(void **state)
{
    (void)state;
    const uint32_t kc[] = { 0, 1, 2 };
    struct req *p = fake_parent(COMMAND_EXISTS, 3, kc, 3);

    p->session = &sess;
    set_reply(p->children[1], ":1\r\n");
    req_finish(&w, p->children[1]);
    assert_false(p->done);
    assert_int_equal(nscheduled, 0);
    set_reply(p->children[0], ":1\r\n");
    req_finish(&w, p->children[0]);
    assert_false(p->done);
    set_reply(p->children[2], ":0\r\n");
    req_finish(&w, p->children[2]);
    assert_true(p->done);
    assert_int_equal(nscheduled, 1);
    assert_reply(p, ":2\r\n");
    assert_int_equal(sess.out_bytes, strlen(":2\r\n"));
    assert_int_equal(row.cmd[COMMAND_EXISTS].calls, 1);
    req_free(&w, p);
}

/* ---- dispatch ------------------------------------------------------------ */

/* The child sent to a server, or NULL. */
static struct req *
sent_to(struct backend_server *server)
{
    struct req *found = NULL;

    for (int i = 0; i < nsent; i++) {
        if (sent[i].server == server) {
            assert_null(found);   /* one child per backend */
            found = sent[i].req;
        }
    }
    return found;
}

/* Checks that the child for backend b carries exactly name + b's keys (with
 * their values for MSET) in their original order. */
static void
check_child(const struct request *r, int step, int nbackends, int b, struct req *parent)
{
    struct arg want[64];
    int n = 0;
    struct req *child = sent_to(&srv[b]);
    char *got, *flat;
    size_t got_len, flat_len;
    unsigned first_slot = CORDIS_SLOTS;

    want[n].p = r->argv[0].ptr;
    want[n++].len = r->argv[0].len;
    for (int i = 1; i < r->argc; i += step) {
        if (backend_of(r->argv[i].ptr, r->argv[i].len, nbackends) != b) {
            continue;
        }
        if (first_slot == CORDIS_SLOTS) {
            first_slot = router_slot(r->argv[i].ptr, r->argv[i].len);
        }
        for (int k = 0; k < step; k++) {
            want[n].p = r->argv[i + k].ptr;
            want[n++].len = r->argv[i + k].len;
        }
    }
    if (n == 1) {
        assert_null(child);
        return;
    }
    assert_non_null(child);
    assert_ptr_equal(child->parent, parent);
    assert_ptr_equal(child->cmd, parent->cmd);
    got = child_bytes(child, &got_len);
    flat = encode_flat(want, n, &flat_len);
    assert_bytes(got, got_len, flat, flat_len);
    free(got);
    free(flat);
    for (int i = 0; i < nsent; i++) {
        if (sent[i].req == child) {
            assert_int_equal(sent[i].db, sess.db);
            /* The seed is the slot of the backend's first key, so a key's
             * requests keep to one of the parallel connections. */
            assert_int_equal(sent[i].seed, first_slot);
        }
    }
}

static void
check_split(const struct request *r, enum command_id id, int step, int nbackends)
{
    struct req *req = new_request(r, id);
    int used = 0;

    nsent = 0;
    assert_int_equal(multikey_dispatch(&w, &sess, req, r->argc, r->argv), CORDIS_OK);
    for (int b = 0; b < nbackends; b++) {
        check_child(r, step, nbackends, b, req);
        used += sent_to(&srv[b]) != NULL;
    }
    assert_int_equal(nsent, used);
    assert_int_equal(req->nchildren, used);
    assert_int_equal(req->pending, used);
    /* key_child says which child each key went to. */
    for (int i = 0; i < (r->argc - 1) / step; i++) {
        const struct cstr *key = &r->argv[1 + i * step];
        struct req *child = req->children[req->key_child[i]];

        assert_ptr_equal(child, sent_to(&srv[backend_of(key->ptr, key->len, nbackends)]));
    }
    req_free(&w, req);
}

static void
test_dispatch_mget_two(void **state)
{
    (void)state;
    /* foo 289, a 579, b 1017, c 879, {user1}:x 341: interleaved over two */
    const struct arg args[] = { A("MGET"), A("foo"), A("a"), A("{user1}:x"), A("b"), A("c"), A("foo") };
    struct request r;

    encode(&r, args, 7);
    assert_int_equal(backend_of("foo", 3, 2), 0);
    assert_int_equal(backend_of("a", 1, 2), 1);
    check_split(&r, COMMAND_MGET, 1, 2);
    free(r.buf);
}

static void
test_dispatch_keeps_name_and_db(void **state)
{
    (void)state;
    /* The name goes as the client spelled it; the session's db is used. */
    const struct arg args[] = { A("mGeT"), A("b"), A("foo"), A("c"), A("{user1}") };
    struct request r;

    sess.db = 5;
    encode(&r, args, 5);
    check_split(&r, COMMAND_MGET, 1, 2);
    free(r.buf);
}

static void
test_dispatch_mset_pairs(void **state)
{
    (void)state;
    const struct arg args[] = {
        A("MSET"), A("foo"), A("v\r\nfoo"), A("a"), A("\0\0"), A("b"), A(""),
        A("{user1}:z"), A("$3\r\nbad\r\n"), A("c"), A("last"),
    };
    struct request r;

    encode(&r, args, 11);
    check_split(&r, COMMAND_MSET, 2, 2);
    free(r.buf);
}

static void
test_dispatch_del_three(void **state)
{
    (void)state;
    struct arg args[41];
    char keys[40][16];
    struct request r;
    int seen[3] = { 0, 0, 0 };
    static const enum command_id ids[] = {
        COMMAND_DEL, COMMAND_EXISTS, COMMAND_TOUCH, COMMAND_UNLINK, COMMAND_MGET,
    };

    route_over(3);
    args[0].p = "DEL";
    args[0].len = 3;
    for (int i = 0; i < 40; i++) {
        snprintf(keys[i], sizeof(keys[i]), "key:%d", i);
        args[i + 1].p = keys[i];
        args[i + 1].len = strlen(keys[i]);
        seen[backend_of(keys[i], strlen(keys[i]), 3)]++;
    }
    assert_true(seen[0] > 0 && seen[1] > 0 && seen[2] > 0);
    encode(&r, args, 41);
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        check_split(&r, ids[i], 1, 3);
    }
    free(r.buf);
}

static void
test_dispatch_one_backend(void **state)
{
    (void)state;
    /* a 579, b 1017, c 879: all on the second backend */
    const struct arg args[] = { A("MGET"), A("a"), A("b"), A("c"), A("a") };
    const struct arg pairs[] = { A("MSET"), A("{t}1"), A("x"), A("{t}2"), A("y") };
    struct request r;
    struct req *req;

    encode(&r, args, 5);
    req = new_request(&r, COMMAND_MGET);
    assert_int_equal(multikey_dispatch(&w, &sess, req, r.argc, r.argv), CORDIS_EAGAIN);
    assert_int_equal(nsent, 0);
    assert_int_equal(req->nchildren, 0);
    assert_null(req->children);
    assert_null(req->key_child);
    assert_null(req->reply);
    req_free(&w, req);
    free(r.buf);

    encode(&r, pairs, 5);
    req = new_request(&r, COMMAND_MSET);
    assert_int_equal(multikey_dispatch(&w, &sess, req, r.argc, r.argv), CORDIS_EAGAIN);
    assert_int_equal(nsent, 0);
    assert_null(req->reply);
    req_free(&w, req);
    free(r.buf);
}

static void
test_dispatch_unserved(void **state)
{
    (void)state;
    const struct arg args[] = { A("MGET"), A("foo"), A("a"), A("b") };
    struct request r;
    struct req *req;

    for (int s = 512; s < CORDIS_SLOTS; s++) {
        w.slot_server[s] = NULL;
    }
    encode(&r, args, 4);
    req = new_request(&r, COMMAND_MGET);
    assert_int_equal(multikey_dispatch(&w, &sess, req, r.argc, r.argv), CORDIS_ERROR);
    assert_reply(req, "-ERR slot 579 is not served\r\n");
    assert_int_equal(nsent, 0);
    assert_int_equal(req->nchildren, 0);
    req_free(&w, req);
    free(r.buf);
}

static void
test_dispatch_mset_odd(void **state)
{
    (void)state;
    const struct arg args[] = { A("MSET"), A("foo"), A("1"), A("a") };
    struct request r;
    struct req *req;

    encode(&r, args, 4);
    req = new_request(&r, COMMAND_MSET);
    assert_int_equal(multikey_dispatch(&w, &sess, req, r.argc, r.argv), CORDIS_ERROR);
    assert_reply(req, "-ERR wrong number of arguments for 'mset' command\r\n");
    assert_int_equal(nsent, 0);
    req_free(&w, req);
    free(r.buf);
}

static void
test_dispatch_send_fails(void **state)
{
    (void)state;
    const struct arg args[] = { A("MGET"), A("foo"), A("a"), A("{user1}") };
    struct request r;
    struct req *req, *child;

    encode(&r, args, 4);
    req = new_request(&r, COMMAND_MGET);
    refuse = &srv[1];
    assert_int_equal(multikey_dispatch(&w, &sess, req, r.argc, r.argv), CORDIS_OK);
    /* The refused child is answered at once; the other is in flight. */
    assert_int_equal(nsent, 1);
    child = sent_to(&srv[0]);
    assert_non_null(child);
    assert_int_equal(req->pending, 1);
    assert_false(req->done);
    assert_int_equal(nscheduled, 0);
    set_reply(child, "*2\r\n$1\r\nx\r\n$-1\r\n");
    req_finish(&w, child);
    assert_true(req->done);
    assert_int_equal(nscheduled, 1);
    assert_reply(req, "-ERR backend 127.0.0.1:6380 unavailable: connect() failed: Connection refused\r\n");
    assert_true(req->failed);
    req_free(&w, req);
    free(r.buf);
}

static void
test_dispatch_then_coalesce(void **state)
{
    (void)state;
    /* The whole round: split, answer each child as its backend would, and
     * the client gets the values in its own order. */
    const struct arg args[] = { A("MGET"), A("c"), A("foo"), A("b"), A("missing{user1}"), A("a") };
    struct request r;
    struct req *req, *c0, *c1;

    encode(&r, args, 6);
    req = new_request(&r, COMMAND_MGET);
    assert_int_equal(multikey_dispatch(&w, &sess, req, r.argc, r.argv), CORDIS_OK);
    c0 = sent_to(&srv[0]);   /* foo, missing{user1} */
    c1 = sent_to(&srv[1]);   /* c, b, a */
    assert_non_null(c0);
    assert_non_null(c1);
    set_reply(c1, "*3\r\n$2\r\nvc\r\n$2\r\nvb\r\n$2\r\nva\r\n");
    req_finish(&w, c1);
    assert_false(req->done);
    set_reply(c0, "*2\r\n$4\r\nvfoo\r\n$-1\r\n");
    req_finish(&w, c0);
    assert_true(req->done);
    assert_reply(req, "*5\r\n$2\r\nvc\r\n$4\r\nvfoo\r\n$2\r\nvb\r\n$-1\r\n$2\r\nva\r\n");
    assert_int_equal(row.cmd[COMMAND_MGET].calls, 1);
    req_free(&w, req);
    free(r.buf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_coalesce_mget_two, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coalesce_mget_three, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coalesce_mget_many_children, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coalesce_mget_binary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coalesce_mget_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coalesce_mset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coalesce_sums, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finish_completes_parent_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_mget_two, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_keeps_name_and_db, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_mset_pairs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_del_three, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_one_backend, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_unserved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_mset_odd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_send_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_then_coalesce, setup, teardown),
        /* last: a failure here is a memory error that ends the run */
        cmocka_unit_test_setup_teardown(test_coalesce_mget_wrong_count, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
