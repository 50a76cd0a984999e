/*
 * Reference-counted buffers with a bounded free list.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cordis.h"
#include "mbuf.h"

static struct {
    struct mbuf *items[MBUF_FREE_MAX];
    unsigned     count;
} mbuf_free_list;

/* Bytes of large buffers freed since mbuf_large_freed() was last asked. */
static size_t mbuf_large_bytes;

struct mbuf *
mbuf_new(size_t size)
{
    struct mbuf *b;

    if (size <= MBUF_SIZE && mbuf_free_list.count > 0) {
        b = mbuf_free_list.items[--mbuf_free_list.count];
    } else {
        size = CORDIS_MAX(size, (size_t)MBUF_SIZE);
        b = malloc(sizeof(*b) + size);
        if (b == NULL) {
            return NULL;
        }
        b->size = size;
    }
    b->refs = 1;
    b->rpos = 0;
    b->wpos = 0;
    return b;
}

void
mbuf_unref(struct mbuf *b)
{
    if (b == NULL || --b->refs > 0) {
        return;
    }
    if (b->size == MBUF_SIZE && mbuf_free_list.count < MBUF_FREE_MAX) {
        mbuf_free_list.items[mbuf_free_list.count++] = b;
        return;
    }
    if (b->size > MBUF_SIZE) {
        mbuf_large_bytes += b->size;
    }
    free(b);
}

size_t
mbuf_large_freed(void)
{
    size_t n = mbuf_large_bytes;

    mbuf_large_bytes = 0;
    return n;
}

void
mbuf_trim(void)
{
    while (mbuf_free_list.count > 0) {
        free(mbuf_free_list.items[--mbuf_free_list.count]);
    }
}

int
mbuf_prepare_read(struct mbuf **bp, size_t need)
{
    struct mbuf *b = *bp, *nb;
    size_t tail = mbuf_unparsed(b);
    /* Never read into a sliver: ask for at least MBUF_MIN_READ of room. */
    size_t want = CORDIS_MAX(need, tail + MBUF_MIN_READ);

    if (tail == 0 && b->refs == 1) {
        /* Nobody points into it: reuse it from the start. Large buffers go
         * back to the standard size so one big value does not pin memory. */
        if (b->size > MBUF_SIZE && want <= MBUF_SIZE) {
            nb = mbuf_new(MBUF_SIZE);
            if (nb == NULL) {
                return -1;
            }
            mbuf_unref(b);
            *bp = nb;
            return 0;
        }
        b->rpos = b->wpos = 0;
    }
    if (b->size - b->rpos >= want) {
        return 0;
    }
    if (b->refs == 1 && b->size >= want) {
        /* Only the owner holds it: slide the tail to the front. */
        memmove(b->data, b->data + b->rpos, tail);
        b->rpos = 0;
        b->wpos = tail;
        return 0;
    }
    /* Grow geometrically so a large value arriving piecemeal is linear. */
    nb = mbuf_new(CORDIS_MAX(want, tail * 2));
    if (nb == NULL) {
        return -1;
    }
    memcpy(nb->data, b->data + b->rpos, tail);
    nb->wpos = tail;
    mbuf_unref(b);
    *bp = nb;
    return 0;
}
