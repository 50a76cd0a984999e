/*
 * The master's side of the control channels: commands to workers, and the
 * relay of client connections a retiring worker (or, during a binary
 * upgrade, the old master) hands over. Whatever a full channel refuses is
 * kept and retried, so nothing is dropped for lack of buffer space.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "ctl.h"
#include "log.h"
#include "master.h"
#include "relay.h"

/* Queues what a full control channel could not take, for the retry timer. */
static void
relay_defer(struct master *m, int row, enum ctl_cmd cmd, const struct ctl_handoff *h, int fd)
{
    struct master_pending *p = calloc(1, sizeof(*p));

    if (p == NULL) {
        if (fd >= 0) {
            close(fd);
        }
        return;
    }
    p->row = row;
    p->cmd = (char)cmd;
    p->fd = fd;
    if (h != NULL) {
        p->h = *h;
    }
    *m->pending_tail = p;
    m->pending_tail = &p->next;
    if (!ev_is_active(&m->pending_timer)) {
        ev_timer_start(m->loop, &m->pending_timer);
    }
}

void
relay_send_all(struct master *m, enum ctl_cmd cmd, bool retiring_too)
{
    for (int row = 0; row < SHM_ROWS; row++) {
        struct master_worker *w = &m->rows[row];

        if (w->pid == 0 || w->ctl_fd < 0 || (w->retiring && !retiring_too)) {
            continue;
        }
        if (ctl_send(w->ctl_fd, cmd) != CORDIS_OK) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                relay_defer(m, row, cmd, NULL, -1);   /* its channel is full: later */
            } else {
                log_warn("control message '%c' to worker %d (pid %d) failed (%d: %s)",
                         cmd, w->index, (int)w->pid, errno, strerror(errno));
            }
        }
    }
}

/* Tries to pass a client on; true when it went (our copy may be closed). */
static bool
relay_try_handoff(struct master *m, const struct ctl_handoff *h, int fd)
{
    if (m->state == MASTER_RUNNING) {
        for (int tries = 0; tries < m->nworkers; tries++) {
            struct master_worker *to = &m->rows[m->current[m->handoff_rr++ % m->nworkers]];

            if (to->pid != 0 && !to->retiring
                && ctl_send_handoff(to->ctl_fd, h, fd) == CORDIS_OK) {
                return true;
            }
        }
        return false;
    }
    return m->successor_fd >= 0 && ctl_send_handoff(m->successor_fd, h, fd) == CORDIS_OK;
}

/* Whether a client that could not be passed on yet may wait for a retry. */
static bool
relay_can_wait(const struct master *m)
{
    return m->state == MASTER_RUNNING ? m->nworkers > 0 : m->successor_fd >= 0;
}

static void
relay_forward(struct master *m, const struct ctl_handoff *h, int fd)
{
    if (relay_try_handoff(m, h, fd)) {
        close(fd);
    } else if (relay_can_wait(m)) {
        relay_defer(m, -1, CTL_HANDOFF, h, fd);   /* every channel is full: later */
    } else {
        close(fd);   /* nobody to take it: what the old worker would have done */
    }
}

/* Retries what full control channels could not take. */
void
relay_retry_cb(struct ev_loop *loop, ev_timer *timer, int revents)
{
    struct master *m = ev_userdata(loop);
    struct master_pending *p = m->pending, **pp = &m->pending;

    while ((p = *pp) != NULL) {
        bool done;

        if (p->row < 0) {
            done = relay_try_handoff(m, &p->h, p->fd);
            if (!done && !relay_can_wait(m)) {
                done = true;
            }
            if (done) {
                close(p->fd);
            }
        } else {
            struct master_worker *w = &m->rows[p->row];

            done = w->pid == 0 || w->ctl_fd < 0
                || ctl_send(w->ctl_fd, (enum ctl_cmd)p->cmd) == CORDIS_OK
                || (errno != EAGAIN && errno != EWOULDBLOCK);
        }
        if (done) {
            *pp = p->next;
            free(p);
        } else {
            pp = &p->next;
        }
    }
    m->pending_tail = pp;
    if (m->pending == NULL) {
        ev_timer_stop(loop, timer);
    }
}

/*
 * CLIENT LIST / CLIENT KILL of a worker for every worker's clients: the
 * question goes to every other worker, retiring ones too (their clients
 * are clients as well), and the asker learns how many answers to expect.
 */
static void
relay_clients_ask(struct master *m, const struct ctl_clients *ask)
{
    struct ctl_clients expect = *ask;
    int asked = 0;

    if (ask->origin < 0 || ask->origin >= SHM_ROWS) {
        return;
    }
    for (int row = 0; row < SHM_ROWS; row++) {
        const struct master_worker *w = &m->rows[row];

        if (row != ask->origin && w->pid != 0 && w->ctl_fd >= 0
            && ctl_send_msg(w->ctl_fd, ask, sizeof(*ask), -1) == CORDIS_OK) {
            asked++;
        }
    }
    expect.type = CTL_CLIENTS_EXPECT;
    expect.count = asked;
    if (m->rows[ask->origin].ctl_fd >= 0) {
        ctl_send_msg(m->rows[ask->origin].ctl_fd, &expect, sizeof(expect), -1);
    }
}

/* A worker's answer goes to the worker that asked. */
static void
relay_clients_answer(struct master *m, const struct ctl_clients *answer, int fd)
{
    if (answer->origin >= 0 && answer->origin < SHM_ROWS && m->rows[answer->origin].ctl_fd >= 0) {
        ctl_send_msg(m->rows[answer->origin].ctl_fd, answer, sizeof(*answer), fd);
    }
    if (fd >= 0) {
        close(fd);
    }
}

/* Reads a worker's (or a master's) channel: connections handed over, and
 * CLIENT questions and answers to pass on. */
void
relay_ctl_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    struct master *m = ev_userdata(loop);
    union ctl_msg msg;
    int n, fd;

    for (;;) {
        n = ctl_recv(io->fd, &msg, sizeof(msg), &fd);
        if (n <= 0) {
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                ev_io_stop(loop, io);   /* the peer is gone (a worker is reaped by ev_child) */
            }
            return;
        }
        if (msg.type == CTL_HANDOFF && n == (int)sizeof(msg.handoff) && fd >= 0) {
            relay_forward(m, &msg.handoff, fd);
        } else if (msg.type == CTL_CLIENTS_ASK && n == (int)sizeof(msg.clients)) {
            relay_clients_ask(m, &msg.clients);
            if (fd >= 0) {
                close(fd);
            }
        } else if (msg.type == CTL_CLIENTS_ANSWER && n == (int)sizeof(msg.clients)) {
            relay_clients_answer(m, &msg.clients, fd);
        } else if (fd >= 0) {
            close(fd);
        }
    }
}

void
relay_forget(struct master *m)
{
    while (m->pending != NULL) {
        struct master_pending *p = m->pending;

        m->pending = p->next;
        if (p->fd >= 0) {
            close(p->fd);
        }
        free(p);
    }
    m->pending_tail = &m->pending;
}
